"""Notebook → PDF, offline: HTML template, Chromium print, PDF content checks with poppler."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from userops import export

HEADING = "月度用户运营简报"
SECTION = "渠道质量"

needs_pdf_tools = pytest.mark.skipif(
    not (shutil.which("pdfinfo") and shutil.which("chromium")),
    reason="needs Debian packages chromium and poppler-utils",
)


def build_report_notebook(path: Path) -> Path:
    """A tiny report: parameters cell, Chinese headings, a house-style chart, a printed number, a table."""
    params = new_code_cell(
        'month: str = ""  # report month YYYY-MM\noutput_dir: str = ""  # where outputs go'
    )
    params.metadata["tags"] = ["parameters"]
    hidden = new_code_cell('print("SECRET-REMOVE-CELL")')
    hidden.metadata["tags"] = ["remove-cell"]
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# {HEADING}\n\n本月新客 **7日留存** 为 31.2%。"),
            params,
            new_code_cell(
                "import warnings\n"
                "import matplotlib.pyplot as plt\n"
                "import pandas as pd\n"
                "from userops import charts\n"
                "charts.use_house_style()\n"
                "warnings.warn('STDERR-NOISE should not reach the PDF')"
            ),
            hidden,
            new_markdown_cell(f"## {SECTION}\n\n下图为各渠道的 D7 留存。"),
            new_code_cell(
                "def helper():\n    return 1\n\n"
                "fig, ax = plt.subplots()\n"
                "ax.bar(['小程序', '门店', '社群'], [0.31, 0.22, 0.40])\n"
                "charts.percent_axis(ax)\n"
                "charts.title(ax, '社群渠道留存最高', f'{month} 新客')\n"
                "plt.show()"
            ),
            new_code_cell("print(f'{month} 新客数 {12345:,}')"),
            new_code_cell(
                "charts.table_html(pd.DataFrame({'渠道': ['小程序', '门店'], '客单价': [45.6, 1234.5]}),"
                " {'客单价': 'yuan'})"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def execute(src: Path, dst: Path, **parameters) -> Path:
    import papermill as pm

    pm.execute_notebook(
        str(src),
        str(dst),
        parameters=parameters,
        kernel_name="python3",  # the venv's own kernel (jupyter_client maps "python" to sys.executable)
        progress_bar=False,
        cwd=str(src.parent),
    )
    return dst


def pdftotext(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode("utf-8")


@pytest.fixture(scope="module")
def executed_nb(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("export")
    src = build_report_notebook(d / "report.ipynb")
    return execute(src, d / "executed.ipynb", month="2026-10")


@pytest.fixture(scope="module")
def report_pdf(executed_nb) -> Path:
    return export.notebook_to_pdf(
        executed_nb, executed_nb.parent / "out" / "report.pdf", title="月报 2026-10"
    )


def test_python3_kernel_is_this_venv():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    # "python" is replaced by sys.executable at launch; an absolute path must be this interpreter
    assert spec.argv[0] in {"python", "python3", sys.executable}


@pytest.mark.e2e
def test_html_has_no_code_no_prompts_no_cdn(executed_nb, tmp_path):
    html = export.notebook_to_html(executed_nb, tmp_path / "r.html").read_text(encoding="utf-8")
    assert HEADING in html
    assert "<script src=" not in html  # requirejs / mathjax / mermaid blocks emptied
    assert "cdnjs" not in html and "jsdelivr" not in html
    assert not re.search(r">\s*(In|Out)(&nbsp;|\s)*\[", html)  # no prompts
    assert 'class="jp-CodeMirrorEditor' not in html  # no code inputs at all
    assert "charts.use_house_style" not in html
    assert "month: str" not in html  # parameters cell removed
    assert "2026-10" in html  # ...but its value reaches the output
    assert "SECRET-REMOVE-CELL" not in html
    assert "STDERR-NOISE" not in html
    assert "@page" in html and "A4" in html
    assert "Noto Sans CJK SC" in html
    assert "data:image/png;base64," in html


@needs_pdf_tools
@pytest.mark.e2e
def test_pdf_is_a4(report_pdf):
    info = subprocess.run(["pdfinfo", str(report_pdf)], capture_output=True, text=True, check=True).stdout
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    assert size, info
    assert round(float(size.group(1))) == 595 and round(float(size.group(2))) == 842
    assert re.search(r"Title:\s+月报 2026-10", info)


@needs_pdf_tools
@pytest.mark.e2e
def test_pdf_text_is_chinese_and_has_no_code(report_pdf):
    text = pdftotext(report_pdf)
    assert HEADING in text
    assert SECTION in text
    assert "2026-10" in text  # the injected month reached the output
    assert "新客数 12,345" in text
    assert "¥1,234.5" in text
    assert "\ufffd" not in text
    for code in ("import ", "def ", "In [", "Out[", "month: str", "STDERR-NOISE", "SECRET-REMOVE-CELL"):
        assert code not in text, code


@needs_pdf_tools
@pytest.mark.e2e
def test_pdf_has_the_chart_image(report_pdf):
    listing = subprocess.run(
        ["pdfimages", "-list", str(report_pdf)], capture_output=True, text=True, check=True
    ).stdout
    rows = [ln for ln in listing.splitlines()[2:] if ln.strip()]
    assert len(rows) >= 1
    width = int(rows[0].split()[3])
    assert width >= 1200  # rendered at 2x for a sharp print


@needs_pdf_tools
@pytest.mark.e2e
def test_pdf_export_is_atomic_on_browser_failure(executed_nb, tmp_path, monkeypatch):
    target = tmp_path / "pdf" / "r.pdf"
    target.parent.mkdir()
    target.write_bytes(b"previous")
    monkeypatch.setenv("USEROPS_CHROMIUM", shutil.which("false") or "/bin/false")
    with pytest.raises(export.ExportError, match="failed to print"):
        export.notebook_to_pdf(executed_nb, target)
    assert target.read_bytes() == b"previous"
    assert os.listdir(target.parent) == ["r.pdf"]


def test_missing_browser_error_names_the_package(monkeypatch, tmp_path):
    monkeypatch.delenv("USEROPS_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(export.ExportError, match="apt-get install chromium"):
        export.find_browser()


def test_cover_goes_first_and_is_escaped():
    cover = export.Cover(
        chain_name="鲜邻<便利>",
        title="月度用户运营简报 · Monthly user-operations brief",
        month_label="October 2026 (2026-10)",
        run_date="2026-11-02",
        notes=["Data as of 2026-10-31"],
        contents=["02 · 新客7日留存 (pdf/02_new_user_retention.pdf)"],
    )
    html = export._with_cover(
        '<html><head></head><body class="jp-Notebook"><main>report</main></body></html>', cover
    )
    body = html.split('<body class="jp-Notebook">', 1)[1]
    assert body.index('class="uo-cover"') < body.index("<main>")  # the cover comes before the report
    assert "鲜邻&lt;便利&gt;" in body and "<便利>" not in body
    assert "Run date 2026-11-02" in body and "Data as of 2026-10-31" in body
    assert "@page :first" in body  # no page number on the cover
    with pytest.raises(export.ExportError, match="body"):
        export._with_cover("<html>no body</html>", cover)


INJECT = '<img src=x onerror="document.title=1"><script>alert(1)</script><b onclick="x()">bold</b>'


def _injected_notebook(path: Path) -> Path:
    """Outputs that carry data values holding markup, in markdown and in an HTML table."""
    out_md = nbformat.v4.new_output(
        "display_data",
        data={"text/markdown": f"> The channel **{INJECT}** grew.\n\n| a |\n|---|\n| {INJECT} |"},
    )
    out_html = nbformat.v4.new_output(
        "display_data", data={"text/html": f"<table><tr><td>{INJECT}</td></tr></table>", "text/plain": "t"}
    )
    cell = new_code_cell("pass")
    cell.outputs = [out_md, out_html]
    nb = new_notebook(cells=[new_markdown_cell("# Report"), cell])
    nbformat.write(nb, path)
    return path


def test_markup_from_data_is_text_never_rendered(tmp_path):
    html = export.render_html(_injected_notebook(tmp_path / "inj.ipynb"))
    body = html[html.index("<body") :]
    assert not re.search(r"<(img|script)\b", body, re.I)
    assert "onerror" not in re.sub(r"&lt;.*?&gt;", "", body)  # only inside escaped text
    assert body.count("&lt;img src") >= 3  # shown as text in the quote, the md table and the HTML table
    assert "<blockquote>" in body and "<strong>" in body  # markdown structure still renders
    assert "<b>bold</b>" in body  # harmless tags stay, their event handlers go


@needs_pdf_tools
def test_markup_from_data_reads_as_text_in_the_pdf(tmp_path):
    pdf = export.notebook_to_pdf(_injected_notebook(tmp_path / "inj.ipynb"), tmp_path / "inj.pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "<img src" in text and "<script>alert(1)</script>" in text


def test_summary_cell_comes_first_in_the_pdf_html(tmp_path):
    """The cell tagged 'summary' (last in the notebook) is printed right after the title, then a page break."""
    from userops import i18n, sections

    i18n.set_language("zh")
    shown = sections.summary(["新客 1,234 人", "", "复购率 12.0%", "x", "第四条不显示"], [])
    text = shown.data
    assert "1. 新客 1,234 人" in text and "2. 复购率 12.0%" in text and "3. x" in text  # empty one skipped
    assert "第四条不显示" not in text  # three at most
    assert i18n.t("common.summary.no_actions") in text  # nothing to do says so
    summary = new_code_cell("")
    summary.metadata["tags"] = ["summary"]
    summary.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": text})]
    body = new_code_cell("")
    body.outputs = [nbformat.v4.new_output("stream", name="stdout", text="BODY-SECTION")]
    nb = new_notebook(cells=[new_markdown_cell("# 标题 TITLE"), body, summary])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    html = export.render_html(path)
    assert (
        html.index("TITLE")
        < html.index("本月要点")
        < html.index("break-after: page")
        < html.index("BODY-SECTION")
    )


def _layout_notebook(path: Path) -> Path:
    """Five kinds of page in one small PDF (no kernel: outputs are written directly).

    p1: the title and one line, then a page break; the next page opens a section, so p1 may be short.
    p2: section 1 with one line, then a page break; the next page opens no section: p2 is a sparse page.
    p3..: one line that cannot wrap (runs past the right margin), a 12-column table of long texts and
    a table with one very long word (both must fit the width), and an 80-row table (must break across
    pages with its header repeated).
    """
    import pandas as pd

    from userops import charts

    def html_output(html: str):
        cell = new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html, "text/plain": "t"})]
        return cell

    wide = pd.DataFrame(
        {
            f"很长的列名第{i}列 column {i}": ["一段相当长的说明文字 with some English words"] * 3
            for i in range(12)
        }
    )
    long = pd.DataFrame({"长表列甲": [f"第{i}行" for i in range(80)], "长表列乙": range(80)})
    token = "a_very_long_identifier_without_any_space_" * 4  # a definitions table's file names and ids
    ids = pd.DataFrame({"metric": ["activity/active_days"], "grain": ["one row"], "definition": [token]})
    nowrap = '<div style="white-space: nowrap">' + " ".join(f"OVERFLOW{i}" for i in range(40)) + "</div>"
    cells = [
        new_markdown_cell("# 版式检查 LAYOUT\n\n第一页只有一行。"),
        new_markdown_cell(export.PAGE_BREAK),
        new_markdown_cell("## 1 · 第一节\n\n这一节只有一行，后面是分页。"),
        new_markdown_cell(export.PAGE_BREAK),
        new_markdown_cell("正文继续，没有新的小节标题。"),
        html_output(nowrap),
        html_output(charts.table_html(wide).to_html()),
        html_output(charts.table_html(ids).to_html()),
        html_output(charts.table_html(long, max_rows=None).to_html()),
    ]
    nbformat.write(new_notebook(cells=cells), path)
    return path


@pytest.fixture(scope="module")
def layout_pdf(tmp_path_factory) -> Path:
    # one Chromium print (~3 s) shared by the layout checks below
    d = tmp_path_factory.mktemp("layout")
    return export.notebook_to_pdf(_layout_notebook(d / "layout.ipynb"), d / "layout.pdf")


@needs_pdf_tools
def test_beyond_margin_finds_only_the_line_that_cannot_wrap(layout_pdf):
    found = export.beyond_margin(layout_pdf)
    assert found, "the no-wrap line runs past the right margin"
    # Chromium cuts the line at the page's edge: the word across the margin is found (as far as it is
    # printed), nothing of the two tables is (they fit), and the line's start is inside the page
    assert all(f.startswith("p3: OVER") for f in found), found
    assert "p3: OVERFLOW0" not in found


@needs_pdf_tools
def test_long_table_breaks_with_its_header_repeated(layout_pdf):
    pages = export.pdf_pages(layout_pdf)
    assert pages >= 4  # title, section 1, then the tables over at least two pages
    last = export.pdf_text(layout_pdf, pages, pages)
    assert "长表列甲" in last and "第79行" in last  # the header row repeats on the table's last page
    assert export.pdf_text(layout_pdf).count("第40行") == 1  # no row printed twice


@needs_pdf_tools
def test_sparse_pages_skips_section_ends_and_the_last_page(layout_pdf):
    fills = export.page_fill(layout_pdf)
    assert fills[0] < 0.2 and fills[1] < 0.2  # one line each
    assert fills[2] > 0.9  # the tables fill the page they start on
    # p1 is short but p2 opens section "1 · 第一节"; p2 is short and p3 opens no section
    assert export.sparse_pages(layout_pdf) == [2]


def test_summary_follows_a_title_printed_by_code(tmp_path):
    """A play whose title cell is code (the title follows the report language) keeps it first."""

    def shows(markdown: str, tags=()):
        cell = new_code_cell("")
        cell.metadata["tags"] = list(tags)
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": markdown})]
        return cell

    hidden = new_markdown_cell("# Analyst's title")
    hidden.metadata["tags"] = ["remove-cell"]
    cells = [hidden, shows("# 拉新 TITLE\n\n首行"), shows("## 1 · BODY"), shows("SUMMARY-TEXT", ["summary"])]
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=cells), path)
    html = export.render_html(path)
    assert "Analyst's title" not in html
    assert (
        html.index("TITLE")
        < html.index("SUMMARY-TEXT")
        < html.index("break-after: page")
        < html.index("BODY")
    )


def test_glossary_heading_keeps_with_its_table_in_the_pdf_html(tmp_path):
    """The brief's glossary cell (heading, then the terms table): the table is kept whole and the heading
    may not be followed by a page break, so a page never ends with the heading alone (checked at the HTML
    and CSS level; the PDF itself is looked at by hand)."""
    import re

    from userops import brief, i18n

    i18n.set_language("en")
    try:
        cell = new_code_cell("")
        cell.outputs = [
            nbformat.v4.new_output("display_data", data={"text/markdown": brief.section("glossary")}),
            nbformat.v4.new_output("display_data", data={"text/html": brief.glossary_html().to_html()}),
        ]
        nbformat.write(new_notebook(cells=[new_markdown_cell("# Brief"), cell]), tmp_path / "nb.ipynb")
        html = export.render_html(tmp_path / "nb.ipynb")
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
    css = re.sub(r"\s+", " ", html)
    # the heading's output may not break after it; a kept table does not break inside
    assert ".jp-OutputArea-child:has(h1, h2, h3) { break-after: avoid; page-break-after: avoid; }" in css
    assert ".jp-RenderedHTMLCommon :is(h1, h2, h3) { break-after: avoid; page-break-after: avoid; }" in css
    assert ".jp-RenderedHTMLCommon table.uo-keep { break-inside: avoid; page-break-inside: avoid; }" in css
    heading = html.index(">Glossary<")
    table = re.search(r'<table[^>]*class="[^"]*\buo-keep\b', html)
    assert table and heading < table.start()
    # nothing between the heading and the table: the table's output is the next one of the same cell
    between = html[heading : table.start()]
    assert between.count('class="jp-OutputArea-child') == 1 and "jp-Cell " not in between
    assert "average order value = GMV ÷ orders." in html  # the English glossary itself
