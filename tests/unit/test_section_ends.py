"""Which page of a play's PDF is the last of a section (issue 15: no page more than a third empty, except
the last of a section).

The rule (export.sparse_pages): a page is the last of its section when the next page opens with a section
heading, export.SECTION_START: a numbered section "<n> · ..." or the appendix "附录 · ..." / "Appendix · ...";
the PDF's last page always is. The play summary needs no rule of its own: it shares page 1 with the title
and the intro (export._SummaryFirst puts a page break after it), and page 2 opens with section 1.
These tests hold the rule to the headings the plays really print, in both report languages.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from userops import export, i18n

I18N = Path(i18n.__file__).parent
PLAYS = ("acquisition", "retention", "activity", "recall", "persona")


def _headings(tree) -> list[str]:
    """The section headings of a play's catalog: its level-2 markdown headings ('## 3 · ...') and the
    section titles it prints as headings itself ('title: 3 · ...' under a section of play 03)."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if isinstance(value, str) and value.startswith("## "):
                found.append(value[3:])
            elif key == "title" and isinstance(value, str) and " · " in value and value[0] in "0123456789附A":
                found.append(value)
            else:
                found += _headings(value)
    return found


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("play", PLAYS)
def test_every_section_heading_of_a_play_opens_a_section(play, lang):
    headings = _headings(yaml.safe_load((I18N / lang / f"{play}.yaml").read_text(encoding="utf-8")))
    numbered = [h for h in headings if h[0].isdigit()]
    # every play has at least its sections 1..6, the actions among them, and the appendix
    assert len(numbered) >= 6 and len(headings) == len(numbered) + 1, headings
    assert [int(h.split(" ")[0]) for h in numbered] == list(range(1, len(numbered) + 1)), headings
    for heading in headings:
        assert export.SECTION_START.match(heading), heading


@pytest.mark.parametrize(
    "first_line",
    [
        "鲜邻便利 · 报告月份 2026年10月 · 数据截至 2026-10-31",  # an opening line: the chain's name, then " · "
        "渠道 新客 次日留存 7日留存",  # a long table's header repeated on the next page
        "2026-10 流失召回（短信）：触达组 332 人中 10.2% 在 30 天内下单",  # a paragraph that goes on
        "3 × 3 经营矩阵",  # a number that is no section number
        "10-21 周三 0.0% 0.0% 14.3%",  # a row of the daily cohort table
        "",
    ],
)
def test_a_page_that_goes_on_with_its_section_opens_none(first_line):
    assert not export.SECTION_START.match(first_line)
