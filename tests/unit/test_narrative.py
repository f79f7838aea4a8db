"""Sentence pieces format numbers like the charts and tables do."""

import math

from userops import narrative as nv


def test_formats():
    assert nv.pct(0.234) == "23.4%"
    assert nv.pct(0.1) == "10.0%"
    assert nv.pp(0.021) == "+2.1 pp" and nv.pp(-0.021, signed=False) == "2.1 pp"
    assert nv.yuan(1234.5, 2) == "¥1,234.50" and nv.yuan(-1691) == "-¥1,691"
    assert nv.num(12345) == "12,345"
    assert nv.pct(math.nan) == nv.yuan(None) == nv.num(float("nan")) == "n/a"


def test_compare_and_significance():
    assert nv.compare(0.234, 0.255, "Sep 2026") == "2.1 pp below Sep 2026"
    assert nv.compare(0.25, 0.2502, "Sep") == "level with Sep"
    assert nv.compare(0.25, None, "Sep") == "no comparison with Sep (no data)"
    assert nv.significance(0.012) == "significant at the 95% level (p = 0.012)"
    assert nv.significance(0.2).startswith("not significant")
