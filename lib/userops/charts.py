"""The house chart style and small display helpers shared by every play.

Call :func:`use_house_style` once at the top of a notebook. Charts then use a
CJK-capable font (Chinese labels render, no "Glyph missing" warnings), a calm
palette and sizes that stay readable when the notebook becomes an A4 PDF.

Formatting convention: rates are fractions (0.123 → "12.3%"), money is in the data's
currency (1234.5 → "¥1,234.5" by default; :func:`set_currency` — called by ``open_play`` from
params ``data.currency_symbol`` / ``data.currency_code`` — makes it "$1,234.5"), counts are
integers ("12,345"). Missing values are shown as an en dash, never as 0. The money helpers keep
their historical names (``fmt_yuan``, ``yuan_axis``, format key ``"yuan"``) whatever the currency.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, PercentFormatter

FONT = "Noto Sans CJK SC"
#: calm, colour-blind-friendly-ish palette: blue, orange, green, rose, grey, sand, plum
PALETTE = ["#3E6D8E", "#E0904A", "#5E9E78", "#C2707A", "#8A8F98", "#CDB079", "#7A6FA8"]
ACCENT = PALETTE[0]
MUTED = "#B8BEC6"
MISSING = "–"  # shown for NaN / masked values

#: the currency money is shown in (set per notebook by :func:`set_currency`)
DEFAULT_CURRENCY = ("¥", "CNY")
_currency = {"symbol": DEFAULT_CURRENCY[0], "code": DEFAULT_CURRENCY[1]}

FIGURE_DPI = 110
SAVE_DPI = 220

_RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT, "DejaVu Sans"],
    "axes.unicode_minus": False,  # CJK fonts lack U+2212; use ASCII hyphen
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": SAVE_DPI,
    "savefig.bbox": "tight",
    "figure.figsize": (8.0, 4.2),
    "figure.autolayout": False,
    "figure.constrained_layout.use": True,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 11,
    "axes.labelcolor": "#333333",
    "axes.edgecolor": "#999999",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.frameon": False,
    "grid.color": "#E6E6E6",
    "text.color": "#222222",
    "hatch.color": "#C8C8C8",
}


def use_house_style() -> None:
    """Apply the house style to matplotlib/seaborn (and the inline backend if in IPython).

    ``sns.set_theme`` resets ``font.sans-serif``, so the font is passed through
    ``font=`` and ``rc=`` here rather than set beforehand.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font=FONT, rc=_RC)
    mpl.rcParams.update(_RC)  # set_theme's context scaling may touch sizes; ours win
    _configure_inline()
    if os.environ.get(AUDIT_ENV):
        _audit_chart_text()


AUDIT_ENV = "USEROPS_AUDIT_CHARTS"  # tests: print every chart's text so that it can be checked
AUDIT_PREFIX = "[chart text] "


def _audit_chart_text() -> None:
    """Print each figure's titles, labels and texts when it is drawn (for the data-shape tests).

    Chart text is only pixels in the rendered notebook; printing it on drawing lets a test read
    it. Enabled by the environment variable ``USEROPS_AUDIT_CHARTS`` only. Printed to stderr: the
    executed notebook keeps it for the audit, the PDF drops it like any diagnostic (a test run's PDFs
    read as a chain's would).
    """
    from matplotlib.backend_bases import FigureCanvasBase

    if getattr(FigureCanvasBase.print_figure, "_userops_audit", False):
        return
    original = FigureCanvasBase.print_figure

    def print_figure(self, *args, **kwargs):
        fig = self.figure
        texts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
        for ax in fig.axes:
            texts += [ax.get_title(loc) for loc in ("left", "center", "right")]
            texts += [ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
            texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
            legend = ax.get_legend()
            if legend is not None:
                texts += [t.get_text() for t in legend.get_texts()]
        print(AUDIT_PREFIX + " | ".join(t for t in texts if t), file=sys.stderr)
        return original(self, *args, **kwargs)

    print_figure._userops_audit = True
    FigureCanvasBase.print_figure = print_figure


def _configure_inline() -> None:
    """Inline figures as PNG at 2x resolution (sharp in PDF, same displayed size)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return
    if get_ipython() is None:
        return
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # pragma: no cover
        return
    # "retina" = PNG rendered at 2 x figure.dpi, displayed at 1x size (width metadata).
    set_matplotlib_formats("retina")


# --------------------------------------------------------------------------- formatters


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(math.isnan(x))
    except (TypeError, ValueError):
        return False


def fmt_pct(x: Any, digits: int = 1, signed: bool = False) -> str:
    """Fraction → percent text: 0.1234 → "12.3%". ``signed`` adds "+" to positives (for effects)."""
    if _is_missing(x):
        return MISSING
    s = f"{float(x) * 100:+,.{digits}f}%" if signed else f"{float(x) * 100:,.{digits}f}%"
    return s


def fmt_pp(x: Any, digits: int = 1) -> str:
    """Difference of two fractions → percentage points: 0.021 → "+2.1 pp"."""
    if _is_missing(x):
        return MISSING
    return f"{float(x) * 100:+,.{digits}f} pp"


def set_currency(symbol: str = DEFAULT_CURRENCY[0], code: str = DEFAULT_CURRENCY[1]) -> None:
    """Show money with ``symbol`` ("$") from now on; ``code`` ("USD") names it in text."""
    if not symbol or not code:
        raise ValueError("currency symbol and code must not be empty")
    _currency.update(symbol=symbol, code=code)


def currency_symbol() -> str:
    """The symbol money is shown with ("¥" unless :func:`set_currency` said otherwise)."""
    return _currency["symbol"]


def currency_code() -> str:
    """The ISO 4217 code of the money shown ("CNY" unless :func:`set_currency` said otherwise)."""
    return _currency["code"]


def fmt_yuan(x: Any, digits: int | None = 1) -> str:
    """Money → "¥1,234.5" (negative: "-¥1,234.5"), with the current currency symbol.

    ``digits=None``: as few decimals as the value needs, up to 4 (5 → "¥5", 2.5 → "¥2.5", 0.01 → "¥0.01").
    """
    if _is_missing(x):
        return MISSING
    v = float(x)
    text = f"{abs(v):,.4f}".rstrip("0").rstrip(".") if digits is None else f"{abs(v):,.{digits}f}"
    sign = "-" if v < 0 and text.strip("0.,") else ""  # -0.3 shown with no decimals is "¥0", not "-¥0"
    return f"{sign}{_currency['symbol']}{text}"


def fmt_int(x: Any) -> str:
    """Count → "12,345" (rounded)."""
    if _is_missing(x):
        return MISSING
    return f"{round(float(x)):,d}"


def fmt_float1(x: Any) -> str:
    """Number → "1,234.5"."""
    if _is_missing(x):
        return MISSING
    return f"{float(x):,.1f}"


FORMATTERS: dict[str, Callable[[Any], str]] = {
    "pct": fmt_pct,
    "pp": fmt_pp,
    "yuan": fmt_yuan,
    "int": fmt_int,
    "float1": fmt_float1,
}

Fmt = str | Callable[[Any], str]


def _formatter(fmt: Fmt) -> Callable[[Any], str]:
    if callable(fmt):
        return fmt
    try:
        return FORMATTERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(FORMATTERS)} or a callable") from None


def _axis(ax: Axes, axis: str):
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', not {axis!r}")
    return ax.yaxis if axis == "y" else ax.xaxis


def percent_axis(ax: Axes, axis: str = "y", digits: int = 0) -> Axes:
    """Tick labels of a fraction axis as percents (0.25 → "25%")."""
    _axis(ax, axis).set_major_formatter(PercentFormatter(xmax=1.0, decimals=digits))
    return ax


def yuan_axis(ax: Axes, axis: str = "y", digits: int = 0) -> Axes:
    """Tick labels of a money axis in the current currency ("¥1,200")."""
    _axis(ax, axis).set_major_formatter(FuncFormatter(lambda v, _pos: fmt_yuan(v, digits)))
    return ax


def int_axis(ax: Axes, axis: str = "y") -> Axes:
    """Tick labels of a count axis with thousands separators."""
    _axis(ax, axis).set_major_formatter(FuncFormatter(lambda v, _pos: fmt_int(v)))
    return ax


# --------------------------------------------------------------------------- chart helpers


def title(ax: Axes, finding: str, subtitle: str | None = None) -> Axes:
    """Title the chart with its finding (a sentence), optionally a grey subtitle (what/where/when)."""
    ax.set_title(finding, loc="left", fontsize=13, fontweight="bold", pad=24 if subtitle else 10)
    if subtitle:
        ax.annotate(
            subtitle,
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(0, 6),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontsize=10,
            color="#666666",
        )
    return ax


def heatmap_masked(
    df: pd.DataFrame,
    mask: pd.DataFrame | np.ndarray | None = None,
    ax: Axes | None = None,
    fmt: Fmt = "pct",
    cmap: str = "Blues",
    vmin: float | None = None,
    vmax: float | None = None,
    annot: bool = True,
    hatch: str = "///",
) -> Axes:
    """Cohort / triangle heatmap where masked cells are drawn hatched and blank, never as 0.

    ``df``: rows × columns of values (e.g. cohort × day). ``mask``: same shape,
    True where the value must not be shown (immature cohort-days). NaN cells are
    treated as masked too. Annotations use ``fmt`` ("pct", "yuan", "int",
    "float1" or a callable).
    """
    if ax is None:
        _, ax = plt.subplots()
    values = df.astype(float)
    if mask is None:
        hidden = values.isna().to_numpy()
    else:
        m = (
            mask.reindex(index=values.index, columns=values.columns).fillna(True).to_numpy()
            if isinstance(mask, pd.DataFrame)
            else np.asarray(mask)
        )
        if m.shape != values.shape:
            raise ValueError(f"mask shape {m.shape} differs from data shape {values.shape}")
        hidden = m.astype(bool) | values.isna().to_numpy()
    f = _formatter(fmt)
    labels = np.where(hidden, "", np.vectorize(f, otypes=[object])(values.to_numpy()))
    sns.heatmap(
        values,
        mask=hidden,
        ax=ax,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        annot=labels if annot else False,
        fmt="",
        cbar=False,
        linewidths=0.5,
        linecolor="white",
        annot_kws={"fontsize": 9},
    )
    for i, j in zip(*np.nonzero(hidden), strict=True):
        ax.add_patch(
            Rectangle((j, i), 1, 1, fill=False, hatch=hatch, edgecolor=mpl.rcParams["hatch.color"], lw=0)
        )
    ax.set_xlabel(ax.get_xlabel() or "")
    ax.set_ylabel(ax.get_ylabel() or "")
    ax.tick_params(axis="both", length=0)
    ax.tick_params(axis="y", labelrotation=0)
    ax.grid(False)
    return ax


def bar_with_ci(
    df: pd.DataFrame,
    label: str,
    estimate: str,
    lower: str,
    upper: str,
    ax: Axes | None = None,
    fmt: Fmt = "pct",
    horizontal: bool = True,
    null_value: float = 0.0,
) -> Axes:
    """Effects with confidence intervals, one bar per row of ``df``.

    Bars whose interval excludes ``null_value`` are drawn in the accent colour,
    the others muted, so "not distinguishable from no effect" is visible at a
    glance. Each bar is labelled with its estimate (``fmt``).
    """
    if ax is None:
        _, ax = plt.subplots()
    d = df.reset_index(drop=True)
    est = d[estimate].astype(float).to_numpy()
    lo = d[lower].astype(float).to_numpy()
    hi = d[upper].astype(float).to_numpy()
    if np.any(lo > est + 1e-12) or np.any(hi < est - 1e-12):
        raise ValueError("each interval must contain its estimate (lower ≤ estimate ≤ upper)")
    significant = (lo > null_value) | (hi < null_value)
    colors = [ACCENT if s else MUTED for s in significant]
    err = np.vstack([est - lo, hi - est])
    pos = np.arange(len(d))
    f = _formatter(fmt)
    if horizontal:
        ax.barh(pos, est, color=colors, xerr=err, capsize=4, error_kw={"ecolor": "#555555", "lw": 1.2})
        ax.set_yticks(pos, d[label].astype(str))
        ax.invert_yaxis()
        ax.axvline(null_value, color="#555555", lw=0.8)
        for p, e, h in zip(pos, est, hi, strict=True):
            ax.annotate(
                f(e), xy=(max(e, h), p), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9
            )
        if fmt == "pct":
            percent_axis(ax, "x")
        elif fmt == "yuan":
            yuan_axis(ax, "x")
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.12)  # room for the value labels
    else:
        ax.bar(pos, est, color=colors, yerr=err, capsize=4, error_kw={"ecolor": "#555555", "lw": 1.2})
        ax.set_xticks(pos, d[label].astype(str))
        ax.axhline(null_value, color="#555555", lw=0.8)
        for p, e, h in zip(pos, est, hi, strict=True):
            ax.annotate(
                f(e), xy=(p, max(e, h)), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=9
            )
        if fmt == "pct":
            percent_axis(ax, "y")
        elif fmt == "yuan":
            yuan_axis(ax, "y")
        ax.grid(axis="x", visible=False)
        ax.margins(y=0.12)
    return ax


# --------------------------------------------------------------------------- tables and notes

#: HTML class MathJax skips (JupyterLab's mathjax_ignore, classic tex2jax_ignore)
NO_MATH_CLASS = "tex2jax_ignore mathjax_ignore"
#: HTML class of a table with many columns: the PDF template prints it in smaller type to fit the page
WIDE_CLASS = "uo-wide"
WIDE_COLUMNS = 8
#: HTML class of a text (not numeric) table cell: the PDF template lets it break inside long words
TEXT_CLASS = "uo-text"
#: a short table printed whole: never split across two pages, its caption stays on top of it (the PDF template)
KEEP_CLASS = "uo-keep"

_TABLE_STYLES = [
    {"selector": "", "props": [("border-collapse", "collapse"), ("font-size", "10pt"), ("margin", "4px 0")]},
    {
        "selector": "th",
        "props": [
            ("background-color", "#EEF2F6"),
            ("color", "#222"),
            ("font-weight", "600"),
            ("padding", "4px 8px"),
            ("border-bottom", "1px solid #999"),
            ("text-align", "left"),
        ],
    },
    {"selector": "td", "props": [("padding", "3px 8px"), ("border-bottom", "1px solid #E3E3E3")]},
    {"selector": "caption", "props": [("caption-side", "top"), ("text-align", "left"), ("color", "#555")]},
]


def table_html(
    df: pd.DataFrame,
    formats: Mapping[str, Fmt] | None = None,
    caption: str | None = None,
    max_rows: int | None = 50,
    keep_together: bool = False,
):
    """A readable table for notebooks and PDFs: formatted numbers, no index.

    ``formats`` maps column → "pct" | "pp" | "yuan" | "int" | "float1" | callable.
    Numeric columns are right-aligned. Shows at most ``max_rows`` rows (None = all).
    ``keep_together``: a short table the PDF never splits across pages (long tables break between
    rows, their header repeated).
    Returns a pandas ``Styler`` (displays as HTML; ``.to_html()`` for a string).
    """
    formats = dict(formats or {})
    unknown = set(formats) - set(df.columns)
    if unknown:
        raise KeyError(f"formats name columns not in the table: {sorted(unknown)}")
    shown = df.head(max_rows) if max_rows is not None else df
    shown = shown.reset_index(drop=True)
    fmt_map = {c: _formatter(f) for c, f in formats.items()}
    styler = shown.style.format(fmt_map, na_rep=MISSING).hide(axis="index")
    numeric = [c for c in shown.columns if c in fmt_map or pd.api.types.is_numeric_dtype(shown[c])]
    text = [c for c in shown.columns if c not in numeric]
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
        # text cells may break inside a long word (a file name, an id) so the table fits the page;
        # numbers never do (the PDF template: td.uo-text)
        classes = pd.DataFrame("", index=shown.index, columns=shown.columns)
        classes[text] = TEXT_CLASS
        styler = styler.set_td_classes(classes)
    styler = styler.set_table_styles(_TABLE_STYLES)
    if numeric:
        right = {c: [{"selector": "th", "props": [("text-align", "right")]}] for c in numeric}
        styler = styler.set_table_styles(right, overwrite=False)
    if caption is None and max_rows is not None and len(df) > max_rows:
        from userops import i18n

        caption = i18n.t("common.first_rows", shown=f"{max_rows:,}", total=f"{len(df):,}")
    if caption:
        styler = styler.set_caption(caption)
    # JupyterLab typesets text between two "$" as a formula (definitions name $parameters, and a
    # chain may count money in dollars): tables are never math.
    wide = f" {WIDE_CLASS}" if len(shown.columns) >= WIDE_COLUMNS else ""  # smaller type in the PDF
    keep = f" {KEEP_CLASS}" if keep_together else ""
    return styler.set_table_attributes(f'class="{NO_MATH_CLASS}{wide}{keep}"')


def missing_table_note(table: str, would_show: str | None = None):
    """Markdown note for a section that needs an optional table the warehouse lacks.

    ``would_show``: what the section shows when the table is present.
    """
    from IPython.display import Markdown

    from userops import i18n

    name = i18n.name("table", table)
    text = i18n.t("common.missing_table", table=name)
    if would_show:
        text += i18n.t("common.missing_table_would", would=would_show.rstrip(".。"))
    text += i18n.t("common.missing_table_add", table=name)
    return Markdown(text)
