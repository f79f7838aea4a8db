"""Sentences filled from computed numbers: the findings of a report.

The number formats are those of the charts and tables (`userops.charts.fmt_*`), so that
23.4%, +2.1 pp, ¥1,234 and 12,345 read the same in a sentence, a chart and a table. Money is
shown with the currency of params ``data.currency_symbol`` (set by ``open_play`` through
``charts.set_currency``). Missing values read "n/a" in a sentence.
"""

from __future__ import annotations

import math
import re

from userops import i18n
from userops.charts import currency_code, currency_symbol, fmt_pct, fmt_pp, fmt_yuan

NA = "n/a"  # the English word; sentences use :func:`na` (the report language's)
NBSP = "\u00a0"
WORD_JOINER = "\u2060"  # no line break between a minus sign and the currency symbol
# a Chinese character and its neighbour ("95%置信区间": no break after "%" nor inside the term)
_CJK_PAIR = re.compile(r"(?<=[\u3400-\u9fff])(?=\S)|(?<=\S)(?=[\u3400-\u9fff])")


def na() -> str:
    """'无数据' / 'n/a': a missing value in a sentence, in the report language."""
    return i18n.t("common.na")


def _missing(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def pct(x: float | None, digits: int = 1) -> str:
    """0.234 -> '23.4%'."""
    return na() if _missing(x) else fmt_pct(x, digits)


def pp(x: float | None, digits: int = 1, signed: bool = True) -> str:
    """A difference of proportions in percentage points: 0.021 -> '+2.1 pp' ('2.1 pp' unsigned)."""
    if _missing(x):
        return na()
    return fmt_pp(x, digits) if signed else fmt_pp(abs(x), digits).lstrip("+")


def yuan(x: float | None, digits: int | None = 0) -> str:
    """Money: 1234.5 -> '¥1,235' (digits=0) or '¥1,234.50' (digits=2); negatives '-¥1,235'.

    The symbol is the run's currency (``data.currency_symbol``: '$1,235' for "$");
    ``digits=None`` shows as few decimals as needed (5 -> '¥5', 2.5 -> '¥2.5').
    """
    return na() if _missing(x) else fmt_yuan(x, digits)


def currency() -> str:
    """The ISO code of the run's money ('CNY'), for ratios such as '1.5 CNY of margin per CNY spent'."""
    return currency_code()


def num(x: float | None, digits: int = 0) -> str:
    """Thousands separators: 12345 -> '12,345'; a value that rounds to zero never reads '-0'."""
    if _missing(x):
        return na()
    text = f"{float(x):,.{digits}f}"
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def ci(low: float | None, high: float | None, fmt=pct, level: float = 0.95) -> str:
    """'95% CI 1.2%–3.4%' ('95%置信区间 1.2%–3.4%'): one line in a PDF (no break inside)."""
    text = i18n.t("common.ci", level=f"{level:.0%}", low=fmt(low), high=fmt(high))
    return unbreakable(text)


def unbreakable(text: str) -> str:
    """``text`` kept on one line: spaces become no-break spaces, no break between '-' and the currency."""
    sym = currency_symbol()
    text = text.replace(" ", NBSP).replace(f"-{sym}", f"-{WORD_JOINER}{sym}")
    text = text.replace("–", f"{WORD_JOINER}–{WORD_JOINER}")  # no break at the interval's dash
    return _CJK_PAIR.sub(WORD_JOINER, text)  # nor beside a Chinese character ("95%置信区间")


def plain(text: str) -> str:
    """``text`` without the line-keeping marks of :func:`unbreakable` (for comparisons and checks)."""
    return text.replace(NBSP, " ").replace(WORD_JOINER, "")


def compare(curr: float | None, prev: float | None, prev_label: str) -> str:
    """Proportion vs a reference: '2.1 pp below September' / 'level with September' (report language)."""
    if _missing(curr) or _missing(prev):
        return i18n.t("common.no_comparison", ref=prev_label)
    d = curr - prev
    if abs(d) < 0.0005:
        return i18n.t("common.level_with", ref=prev_label)
    return i18n.t("common.above" if d > 0 else "common.below", diff=pp(d, signed=False), ref=prev_label)


def significance(p_value: float | None, level: float = 0.95) -> str:
    """'significant at the 95% level (p = 0.012)' or 'not significant ...' (report language)."""
    if _missing(p_value):
        return i18n.t("common.not_testable")
    key = "common.significant" if p_value < 1 - level else "common.not_significant"
    return i18n.t(key, level=f"{level:.0%}", p=f"{p_value:.3f}")


def margin_basis(basis: str) -> str:
    """The basis of a margin figure (``userops.money.margin_basis``'s words) in the report language."""
    import re

    from userops import money

    if basis == money.GROSS_MARGIN:
        return i18n.t("money.gross_margin")
    pattern = re.escape(money.MIXED_MARGIN).replace(r"\{rate:\.0%\}", "(?P<rate>[\\d.]+%)")
    pattern = pattern.replace(r"\{share:\.0%\}", "(?P<share>[\\d.]+%)")
    if m := re.fullmatch(pattern, basis):
        return i18n.t("money.mixed_margin", rate=m["rate"], share=m["share"])
    pattern = re.escape(money.ASSUMED_MARGIN).replace(r"\{rate:\.0%\}", "(?P<rate>[\\d.]+%)")
    if m := re.fullmatch(pattern, basis):
        return i18n.t("money.assumed_margin", rate=m["rate"])
    return basis
