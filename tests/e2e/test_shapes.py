"""The data-shape matrix: every notebook on every shape of data (issue 11).

Each shape (userops.shapes) is derived from one small demo export, loaded, and run through
`userops run` like a chain would; the published notebooks are then audited: no error output, no
rendered nan / inf / None (markdown, tables, printed text and chart text), all six published.
One shape (PDF_SHAPE) also builds its PDFs, in English: the session demo's run is Chinese, so this is
the one run where every play's and the brief's English PDF is checked (no Chinese outside the names the
chain gave, no code, nothing beyond the margin, page counts within limits, the brief's headings and page
fill). The other shapes skip the PDFs, for the
time budget.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from userops import export
from userops.cli import main
from userops.db import connect, last_complete_month
from userops.load import load_dir
from userops.shapes import TEST_SHAPES, audit_notebook, build_shape

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: the shape whose run builds its PDFs, in English: the richest of the four (every play computes most of
#: its sections on it; store and campaign names the chain gave; odd coupons and campaigns)
PDF_SHAPE = "online_odd"
PDF_LANG = "en"
#: a play's English PDF (one-page summary, sections, actions, definitions) has at most PLAY_MAX_PAGES pages
#: (the plays measured 8-12 pages in English on the 3,000-user demo, 2026-12-05)
PLAY_MAX_PAGES = 14
#: cover + the brief: "at most ~6 pages" (as test_brief_pdf.py asserts for the Chinese brief)
BRIEF_MAX_PAGES = 6

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _audit_charts(monkeypatch):
    from userops import charts

    monkeypatch.setenv(charts.AUDIT_ENV, "1")


@pytest.mark.parametrize("shape", TEST_SHAPES)
def test_every_notebook_publishes_on_shape(shape, shapes_demo, tmp_path):
    data = build_shape(shape, shapes_demo, tmp_path / "data")
    wh = tmp_path / "warehouse.duckdb"
    load_dir(data, wh)
    with connect(wh) as con:
        month = last_complete_month(con)
    args = [
        "run",
        "--warehouse",
        str(wh),
        "--params",
        str(data / "params.yaml"),
        "--out",
        str(tmp_path / "out"),
    ]
    args += ["--notebooks", str(ROOT / "notebooks")]
    args += ["--lang", PDF_LANG] if shape == PDF_SHAPE else ["--no-pdf"]
    assert main(args) == 0
    run = tmp_path / "out" / month
    published = sorted(p.stem for p in (run / "notebooks").glob("*.ipynb"))
    assert published == NOTEBOOKS
    problems = []
    for nb in sorted((run / "notebooks").glob("*.ipynb")):
        audit = audit_notebook(nb)
        if not audit.ok:
            problems.append(f"{nb.stem}: error {audit.error}")
        problems += [f"{nb.stem}: renders {line!r}" for line in audit.bad]
    assert not problems, "\n".join(problems)
    if shape == PDF_SHAPE:
        assert sorted(p.stem for p in (run / "pdf").glob("*.pdf")) == sorted(NOTEBOOKS + ["monthly_brief"])
        english = _english_pdf_problems(run / "pdf", chain_names(wh, data / "params.yaml"))
        assert not english, "\n".join(english)
        _assert_english_brief(run / "pdf")


#: the English brief's section titles (the combined brief holds them all, in this order of reading)
ENGLISH_BRIEF_HEADINGS = (
    "Key findings",
    "KPI tiles",
    "operating matrix",
    "What moved GMV",
    "Key path",
    "Glossary",
)


def _assert_english_brief(pdf_dir: Path) -> None:
    """The brief in English on request (`userops run --lang en`): its headings, the run date on the cover,
    at most MAX_PAGES pages, no page more than a third empty except a section's last (issue 15), and
    --lang held for that run only (the process's environment is left as it was)."""
    import os

    from userops import brief as br
    from userops import i18n

    assert i18n.ENV_LANGUAGE not in os.environ
    combined = pdf_dir / "monthly_brief.pdf"
    text = export.pdf_text(combined)
    for h in ENGLISH_BRIEF_HEADINGS:
        assert h in text, h
    assert "Run date" in export.pdf_text(combined, 1, 1)
    i18n.set_language(PDF_LANG)
    for pdf in (combined, pdf_dir / "00_monthly_brief.pdf"):
        assert export.pdf_pages(pdf) <= BRIEF_MAX_PAGES, pdf.stem
        assert br.layout_problems(pdf) == [], pdf.stem


def _english_pdf_problems(pdf_dir: Path, names: tuple[str, ...]) -> list[str]:
    """What is wrong with the English PDFs of a run: Chinese outside the names the chain gave, code,
    words beyond the right margin, a play's page count out of its limits ([] when every PDF passes).
    The brief's page limit is test_brief_pdf.py's (on the session demo)."""
    from userops import i18n

    i18n.set_language(PDF_LANG)  # the summary's title in the run's language (conftest resets it)
    problems = []
    for pdf in sorted(pdf_dir.glob("*.pdf")):
        text = export.pdf_text(pdf)
        problems += [f"{pdf.stem}: Chinese {c!r}" for c in export.chinese_outside(text, names)]
        problems += [f"{pdf.stem}: code {c}" for c in export.code_on_page(text, names)]
        problems += [f"{pdf.stem}: beyond the margin {w}" for w in export.beyond_margin(pdf)]
        if pdf.stem in ("00_monthly_brief", "monthly_brief"):
            continue
        pages = export.pdf_pages(pdf)
        if not 2 <= pages <= PLAY_MAX_PAGES:
            problems.append(f"{pdf.stem}: {pages} pages")
        if i18n.t("common.summary.title") not in export.pdf_text(pdf, 1, 1):
            problems.append(f"{pdf.stem}: page 1 holds no English summary")
    return problems


_TEMPLATE_GAPS = re.compile(r"\{[^}]*\}|\s+")
#: the chain's own name columns: shown as written in either report language
NAME_COLUMNS = (("stores", "name"), ("stores", "city"), ("products", "name"), ("campaigns", "name"))
#: open vocabularies (kind of names, table, column): a value the catalog does not name is shown as written
VOCABULARY_COLUMNS = (
    ("channel", "users", "channel"),
    ("channel", "channel_spend", "channel"),
    ("order_channel", "orders", "order_channel"),
    ("campaign_channel", "campaigns", "channel"),
    ("coupon_kind", "coupons", "kind"),
    ("category", "products", "category"),
)


def chain_names(warehouse: Path, params_file: Path, language: str = PDF_LANG) -> tuple[str, ...]:
    """The words the chain gave, which a report shows as written: every text of its params (the chain's
    name, the recall coupons' scenes and messages, display names), the names of its stores, cities,
    products and campaigns (cut at the templates' {placeholders} and at spaces), and the values of its
    open vocabularies that the catalog of ``language`` does not name (e.g. a channel 'search_ads')."""
    from userops import i18n

    texts: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            texts.extend(_TEMPLATE_GAPS.split(value))

    walk(yaml.safe_load(params_file.read_text(encoding="utf-8")))
    i18n.set_language(language)
    own: set[str] = set()
    with connect(warehouse) as con:
        have = set(con.execute("select table_name, column_name from information_schema.columns").fetchall())
        for table, column in NAME_COLUMNS:
            if (table, column) in have:
                sql = f"select distinct {column} from {table} where {column} is not null"
                for (name,) in con.execute(sql).fetchall():  # a table cell may wrap a name at a space
                    texts.extend(_TEMPLATE_GAPS.split(str(name)))
        for kind, table, column in VOCABULARY_COLUMNS:
            if (table, column) in have:
                sql = f"select distinct {column} from {table} where {column} is not null"
                own |= {str(v) for (v,) in con.execute(sql).fetchall() if not i18n.known(kind, v)}
    return tuple(sorted({t for t in texts if export.chinese_outside(t)} | own))


def test_chain_names_split_templates_and_read_the_data(tmp_path):
    """The names of an English report's Chinese check: params texts and data names cut at placeholders and
    spaces (a wrapped table cell breaks '幼儿成长奶粉 3段 900g' at a space)."""
    import duckdb

    params = tmp_path / "params.yaml"
    msg = "{scene}：送您 {currency}{face} 券，14 天内有效"
    params.write_text(yaml.safe_dump({"chain_name": "鲜邻", "recall": {"c": {"scene": "饮品", "message": msg}},
                                      "report": {"language": "en"}}, allow_unicode=True), "utf-8")  # fmt: skip
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute(
            "create table stores as select * from (values ('门店 1', 'Shanghai'), ('North', '杭州')) t(name, city)"
        )
        con.execute("create table campaigns as select 'Spring sale' as name, 'sms' as channel")
        con.execute("create table users as select * from (values ('paid_ads'), ('search_ads')) t(channel)")
    # 'en', 'Shanghai', 'North', 'Spring sale' and '14' hold no Chinese; products is absent; the catalog
    # names the channels 'paid_ads' and 'sms', not 'search_ads' (shown as written)
    names = ("search_ads", "券，14", "天内有效", "杭州", "门店", "饮品", "鲜邻", "：送您")
    assert chain_names(wh, params) == names
    text = "Recall 鲜邻 campaign: 饮品：送您 ¥8 券，14 天内有效 at 门店 1 (杭州); 新客 not named"
    assert export.chinese_outside(text, names) == ["客", "新"]
    assert export.code_on_page("channel search_ads, paid_ads", names) == ["snake_case paid_ads"]
