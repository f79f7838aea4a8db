"""A report section as the reader sees it: figures, tables and sentences, in order.

The plays' report modules (``persona_report``, ``recall_report``) build one :class:`Section` per
notebook section, so that a notebook cell is one call and ``.show()`` (issue 15: thin notebooks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt


def markdown(text: str):
    """A Markdown display object (IPython is imported only when a section is built)."""
    from IPython.display import Markdown

    return Markdown(text)


@dataclass
class Section:
    """What one report section shows, in order: matplotlib figures, tables (Stylers), Markdown text."""

    items: list = field(default_factory=list)

    def say(self, text: str) -> None:
        """Append a sentence or paragraph (nothing when empty)."""
        if text:
            self.items.append(markdown(text))

    def note(self, text: str) -> None:
        """Append a block-quoted note (a section that cannot compute says why)."""
        if text:
            self.items.append(markdown(f"> {text}"))

    def add(self, item) -> None:
        self.items.append(item)

    def show(self) -> None:
        """Display the items in order; figures are closed once shown (no second copy at cell end)."""
        from IPython.display import display

        for item in self.items:
            display(item)
            if isinstance(item, plt.Figure):
                plt.close(item)


def summary(findings: list[str], actions: list[str]):
    """A play's one-page summary: at most three findings and three actions, in the report language.

    The notebook shows it in its last cell, tagged ``summary``; the PDF export moves that cell to the
    front (``export._SummaryFirst``). Empty sentences are skipped; a play that measured nothing says so.
    """
    from userops import i18n

    found = [f for f in findings if f][:3]
    todo = [a for a in actions if a][:3]
    lines = [f"## {i18n.t('common.summary.title')}", "", f"**{i18n.t('common.summary.findings')}**", ""]
    lines += [f"{i}. {f}" for i, f in enumerate(found, 1)] or [i18n.t("common.summary.no_findings")]
    lines += ["", f"**{i18n.t('common.summary.actions')}**", ""]
    lines += [f"{i}. {a}" for i, a in enumerate(todo, 1)] or [i18n.t("common.summary.no_actions")]
    return markdown("\n".join(lines))
