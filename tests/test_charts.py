"""House chart style and display helpers (fast, no kernel, no browser)."""

from __future__ import annotations

import io
import math
import warnings

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import seaborn as sns  # noqa: E402

from userops import charts  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_rc():
    """Every test starts from the house style; global rcParams are restored afterwards."""
    with mpl.rc_context():
        charts.use_house_style()
        yield
    plt.close("all")


def _draw_chinese_figure() -> bytes:
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [-0.05, 0.12, 0.31], label="新客")
    charts.title(ax, "社群渠道的新客7日留存最高", "2026-10 新客 · 对照组 − 实验组")
    ax.set_xlabel("日期（天）")
    ax.set_ylabel("留存率")
    ax.legend()
    charts.percent_axis(ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    fig.savefig(io.BytesIO(), format="pdf")
    return buf.getvalue()


def test_house_style_sets_cjk_font_and_dpi():
    rc = mpl.rcParams
    assert rc["font.sans-serif"][0] == "Noto Sans CJK SC"
    assert rc["axes.unicode_minus"] is False
    assert 90 <= rc["figure.dpi"] <= 150
    assert rc["savefig.dpi"] >= 200


def test_chinese_labels_draw_without_missing_glyph_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph NNNN missing from font" becomes a failure
        png = _draw_chinese_figure()
    assert png.startswith(b"\x89PNG")


def test_without_house_style_the_glyph_check_does_fail():
    """Guards the test above: the default seaborn theme (DejaVu Sans) has no Chinese glyphs."""
    sns.set_theme()
    with warnings.catch_warnings(), pytest.raises(UserWarning, match="missing from font"):
        warnings.simplefilter("error")
        _draw_chinese_figure()


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (charts.fmt_pct, 0.1234, "12.3%"),
        (charts.fmt_pct, 1, "100.0%"),
        (charts.fmt_pct, float("nan"), "–"),
        (charts.fmt_pct, None, "–"),
        (charts.fmt_yuan, 1234.5, "¥1,234.5"),
        (charts.fmt_yuan, -1234.56, "-¥1,234.6"),
        (charts.fmt_yuan, pd.NA, "–"),
        (charts.fmt_int, 1234567, "1,234,567"),
        (charts.fmt_int, 12.6, "13"),
        (charts.fmt_int, np.nan, "–"),
        (charts.fmt_float1, 1234.56, "1,234.6"),
        (charts.fmt_pp, 0.021, "+2.1 pp"),
    ],
)
def test_formatters(func, value, expected):
    assert func(value) == expected


def test_signed_percent():
    assert charts.fmt_pct(0.05, signed=True) == "+5.0%"
    assert charts.fmt_pct(-0.05, signed=True) == "-5.0%"


def test_axis_formatters():
    fig, ax = plt.subplots()
    charts.percent_axis(ax, "y")
    charts.yuan_axis(ax, "x")
    assert ax.yaxis.get_major_formatter()(0.25, 0) == "25%"
    assert ax.xaxis.get_major_formatter()(1200, 0) == "¥1,200"
    with pytest.raises(ValueError):
        charts.percent_axis(ax, "z")


def test_title_states_finding_and_subtitle():
    fig, ax = plt.subplots()
    charts.title(ax, "复购率上升", "2026-10, 全部门店")
    assert ax.get_title(loc="left") == "复购率上升"
    assert "2026-10, 全部门店" in [t.get_text() for t in ax.texts]


def _triangle():
    # cohort x day; cohort 2026-03 is only 2 days old: D3, D4 immature
    df = pd.DataFrame(
        [[0.40, 0.30, 0.25, 0.20], [0.38, 0.31, 0.0, np.nan], [0.35, 0.29, np.nan, np.nan]],
        index=["2026-01", "2026-02", "2026-03"],
        columns=["D1", "D2", "D3", "D4"],
    )
    mask = pd.DataFrame(False, index=df.index, columns=df.columns)
    mask.loc["2026-02", "D4"] = True
    mask.loc["2026-03", ["D3", "D4"]] = True
    return df, mask


def test_heatmap_masked_cells_are_blank_and_hatched_never_zero():
    df, mask = _triangle()
    fig, ax = plt.subplots()
    charts.heatmap_masked(df, mask, ax=ax, fmt="pct")
    labels = [t.get_text() for t in ax.texts if t.get_text()]
    # 12 cells - 3 masked = 9 shown; the real 0 of 2026-02 D3 is shown as 0.0% (it is not masked)
    assert len(labels) == 9
    assert labels.count("0.0%") == 1
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png")


def test_heatmap_nan_is_masked_even_without_mask():
    df, _ = _triangle()
    fig, ax = plt.subplots()
    charts.heatmap_masked(df, None, ax=ax, fmt="pct")
    assert len([t for t in ax.texts if t.get_text()]) == 9  # the 3 NaN cells are blank
    assert len([p for p in ax.patches if p.get_hatch()]) == 3


def test_heatmap_rejects_mismatched_mask():
    df, _ = _triangle()
    with pytest.raises(ValueError, match="shape"):
        charts.heatmap_masked(df, np.zeros((2, 2), dtype=bool))


def test_bar_with_ci_marks_effects_whose_interval_excludes_zero():
    effects = pd.DataFrame(
        {
            "arm": ["短信", "微信通知", "线下"],
            "diff": [0.03, -0.01, 0.05],
            "lo": [0.01, -0.03, -0.01],
            "hi": [0.05, 0.01, 0.11],
        }
    )
    fig, ax = plt.subplots()
    charts.bar_with_ci(effects, "arm", "diff", "lo", "hi", ax=ax)
    colors = [mpl.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colors[0] == charts.ACCENT.lower()
    assert colors[1] == colors[2] == charts.MUTED.lower()
    assert {"3.0%", "-1.0%", "5.0%"} <= {t.get_text() for t in ax.texts}
    bad = effects.assign(lo=[0.04, -0.03, -0.01])
    with pytest.raises(ValueError, match="interval"):
        charts.bar_with_ci(bad, "arm", "diff", "lo", "hi")


def test_table_html_formats_numbers_and_hides_index():
    df = pd.DataFrame(
        {
            "渠道": ["小程序", "门店"],
            "新客": [12345, 678],
            "留存": [0.3124, math.nan],
            "客单价": [45.6, 1234.5],
        },
        index=[10, 11],
    )
    html = charts.table_html(df, {"新客": "int", "留存": "pct", "客单价": "yuan"}).to_html()
    for text in ("12,345", "31.2%", "¥1,234.5", "–", "小程序"):
        assert text in html
    assert "row_heading" not in html  # no index column
    assert ">10<" not in html
    with pytest.raises(KeyError, match="nope"):
        charts.table_html(df, {"nope": "int"})
    with pytest.raises(ValueError, match="unknown format"):
        charts.table_html(df, {"新客": "percent"})


def test_table_html_caps_rows_and_says_so():
    df = pd.DataFrame({"n": range(120)})
    html = charts.table_html(df, {"n": "int"}, max_rows=50).to_html()
    assert "前 50 行（共 120 行）" in html  # the caption in the report language (zh by default)
    assert ">119<" not in html


def test_missing_table_note():
    note = charts.missing_table_note("campaigns", "recall effect against the holdout group.")
    text = note.data  # the report language (zh by default); the table by its business name, no code
    assert "「营销活动」" in text and "本节跳过" in text and "`" not in text
    assert "有了它，本节会展示recall effect against the holdout group。" in text


@pytest.fixture
def dollars():
    """Money in US dollars for one test, then back to the default (the setting is module-wide)."""
    charts.set_currency("$", "USD")
    yield
    charts.set_currency()


def test_money_shows_the_params_currency(dollars):
    assert (charts.currency_symbol(), charts.currency_code()) == ("$", "USD")
    assert charts.fmt_yuan(1234, 0) == "$1,234" and charts.fmt_yuan(-1234.56) == "-$1,234.6"
    assert charts.FORMATTERS["yuan"](1234.5) == "$1,234.5"  # table cells use the same setting
    fig, ax = plt.subplots()
    charts.yuan_axis(ax)
    assert ax.yaxis.get_major_formatter()(1200, 0) == "$1,200"
    plt.close(fig)
    html = charts.table_html(pd.DataFrame({"GMV": [1234.5]}), {"GMV": "yuan"}).to_html()
    assert "$1,234.5" in html and "¥" not in html


def test_money_default_currency_and_shortest_decimals():
    assert charts.fmt_yuan(1234, 0) == "¥1,234" and charts.currency_code() == "CNY"
    # digits=None: as few decimals as the value needs (params such as a commission or a points rate)
    assert [charts.fmt_yuan(v, None) for v in (5, 2.5, 0.01, 1234.0)] == ["¥5", "¥2.5", "¥0.01", "¥1,234"]
    assert charts.fmt_yuan(-0.3, 0) == "¥0" and charts.fmt_yuan(-0.3) == "-¥0.3"  # no "-¥0"
    with pytest.raises(ValueError):
        charts.set_currency("", "USD")
