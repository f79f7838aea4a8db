"""Sentence pieces format numbers like the charts and tables do."""

import math

import pytest

from userops import i18n
from userops import narrative as nv


@pytest.fixture
def english():
    i18n.set_language("en")
    yield
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_formats(english):
    assert nv.pct(0.234) == "23.4%"
    assert nv.pct(0.1) == "10.0%"
    assert nv.pp(0.021) == "+2.1 pp" and nv.pp(-0.021, signed=False) == "2.1 pp"
    assert nv.yuan(1234.5, 2) == "¥1,234.50" and nv.yuan(-1691) == "-¥1,691"
    assert nv.num(12345) == "12,345"
    # "About -0 extra users came back" (play 04, a pooled lift of -0.1 pp on 220 users): never "-0"
    assert nv.num(-0.22) == nv.num(-0.0) == "0" and nv.num(-0.004, 2) == "0.00"
    assert nv.num(-0.6) == "-1" and nv.num(-1234.5, 1) == "-1,234.5"
    assert nv.pct(math.nan) == nv.yuan(None) == nv.num(float("nan")) == "n/a"


def test_missing_and_interval_in_chinese():
    i18n.set_language("zh")
    assert nv.pct(math.nan) == nv.num(None) == "无数据"
    assert nv.compare(0.234, 0.255, "9月") == "比9月低 2.1 pp"
    assert nv.significance(0.012) == "在95%水平上显著（p = 0.012）"
    # one line in a PDF: no-break spaces, no break between the minus and the currency
    text = nv.ci(-519, 876, nv.yuan)
    # ... nor beside a Chinese character: the printed PDF broke "95%" from "置信区间" at a line end
    assert text == "95%\u2060置\u2060信\u2060区\u2060间\u00a0-\u2060¥519\u2060–\u2060¥876"
    assert nv.plain(text) == "95%置信区间 -¥519–¥876"


def test_compare_and_significance(english):
    assert nv.compare(0.234, 0.255, "Sep 2026") == "2.1 pp below Sep 2026"
    assert nv.compare(0.25, 0.2502, "Sep") == "level with Sep"
    assert nv.compare(0.25, None, "Sep") == "no comparison with Sep (no data)"
    assert nv.significance(0.012) == "significant at the 95% level (p = 0.012)"
    assert nv.significance(0.2).startswith("not significant")


def test_money_follows_the_currency_setting(english):
    from userops import charts

    assert nv.yuan(1234) == "¥1,234" and nv.currency() == "CNY"  # default: params data.currency_*
    charts.set_currency("$", "USD")
    try:
        assert nv.yuan(1234) == "$1,234" and nv.yuan(-1234.5, 2) == "-$1,234.50"
        assert nv.yuan(2.5, None) == "$2.5" and nv.currency() == "USD"
        assert nv.yuan(None) == "n/a"
    finally:
        charts.set_currency()
    assert nv.yuan(1234) == "¥1,234"


def test_open_play_sets_the_currency_from_params(make_warehouse, tmp_path):
    from userops import charts
    from userops.context import open_play
    from userops.testing import order_row

    wh = make_warehouse(
        {
            "users": [dict(user_id=1, registered_at="2026-09-01 09:00:00", channel="app")],
            "orders": [
                order_row(o, 1, f"2026-{m}-05 10:00:00", store_id=None) for o, m in [(1, "10"), (2, "11")]
            ],
        }
    )
    params = tmp_path / "usd.yaml"
    params.write_text("data:\n  currency_symbol: $\n  currency_code: USD\n", encoding="utf-8")
    try:
        ctx = open_play("99_test", "2026-10", str(wh), str(params))
        ctx.con.close()
        assert nv.yuan(1234) == "$1,234" and nv.currency() == "USD"
    finally:
        charts.set_currency()
