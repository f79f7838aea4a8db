"""Sentences filled from computed numbers: the findings of a report.

The number formats are those of the charts and tables (`userops.charts.fmt_*`), so that
23.4%, +2.1 pp, ¥1,234 and 12,345 read the same in a sentence, a chart and a table. Money is
shown with the currency of params ``data.currency_symbol`` (set by ``open_play`` through
``charts.set_currency``). Missing values read "n/a" in a sentence.
"""

from __future__ import annotations

import math

from userops.charts import currency_code, fmt_pct, fmt_pp, fmt_yuan

NA = "n/a"


def _missing(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def pct(x: float | None, digits: int = 1) -> str:
    """0.234 -> '23.4%'."""
    return NA if _missing(x) else fmt_pct(x, digits)


def pp(x: float | None, digits: int = 1, signed: bool = True) -> str:
    """A difference of proportions in percentage points: 0.021 -> '+2.1 pp' ('2.1 pp' unsigned)."""
    if _missing(x):
        return NA
    return fmt_pp(x, digits) if signed else fmt_pp(abs(x), digits).lstrip("+")


def yuan(x: float | None, digits: int | None = 0) -> str:
    """Money: 1234.5 -> '¥1,235' (digits=0) or '¥1,234.50' (digits=2); negatives '-¥1,235'.

    The symbol is the run's currency (``data.currency_symbol``: '$1,235' for "$");
    ``digits=None`` shows as few decimals as needed (5 -> '¥5', 2.5 -> '¥2.5').
    """
    return NA if _missing(x) else fmt_yuan(x, digits)


def currency() -> str:
    """The ISO code of the run's money ('CNY'), for ratios such as '1.5 CNY of margin per CNY spent'."""
    return currency_code()


def num(x: float | None, digits: int = 0) -> str:
    """Thousands separators: 12345 -> '12,345'."""
    return NA if _missing(x) else f"{float(x):,.{digits}f}"


def ci(low: float | None, high: float | None, fmt=pct) -> str:
    """'1.2% to 3.4%' style interval text (the level is stated by the caller)."""
    return f"{fmt(low)} to {fmt(high)}"


def compare(curr: float | None, prev: float | None, prev_label: str) -> str:
    """Proportion vs a reference: '2.1 pp below September' / 'level with September'."""
    if _missing(curr) or _missing(prev):
        return f"no comparison with {prev_label} (no data)"
    d = curr - prev
    if abs(d) < 0.0005:
        return f"level with {prev_label}"
    return f"{pp(d, signed=False)} {'above' if d > 0 else 'below'} {prev_label}"


def significance(p_value: float | None, level: float = 0.95) -> str:
    """'significant at the 95% level (p = 0.012)' or 'not significant ...'."""
    if _missing(p_value):
        return "not testable (too little data)"
    verdict = "significant" if p_value < 1 - level else "not significant"
    return f"{verdict} at the {level:.0%} level (p = {p_value:.3f})"
