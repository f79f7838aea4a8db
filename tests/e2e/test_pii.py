"""No individual user or referrer id reaches a PDF (issue 14, case 19); reuses the session's run."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser

import nbformat

from userops.db import connect
from userops.outputs import MASK, PERSONAL_ID_COLUMNS


def _id_headers() -> set[str]:
    """The headers of the columns that hold a person's id, in every report language."""
    from userops import i18n

    heads = {*PERSONAL_ID_COLUMNS, "referrer", "user"}
    for lang in i18n.LANGUAGES:
        text = i18n.catalog(lang)["text"]
        heads |= {text["recall_report"]["top_table"]["user"], text["acquisition"]["col"]["ref_referrer_id"]}
    return heads


ID_HEADERS = _id_headers()
HIDDEN = {"remove-cell", "remove-output", "remove-input"}


class _Tables(HTMLParser):
    """Every <table> of an HTML output as a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _visible_html(folder) -> list[tuple[str, str]]:
    """(notebook, html) of every output the PDF shows (cells without a remove tag)."""
    found = []
    for path in sorted((folder / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or HIDDEN & set(cell.metadata.get("tags", [])):
                continue
            for out in cell.get("outputs", []):
                html = out.get("data", {}).get("text/html")
                if html:
                    found.append((path.stem, "".join(html)))
    return found


def test_report_tables_show_no_individual_id(run):
    folder, _ = run
    id_columns = 0
    for notebook, html in _visible_html(folder):
        parser = _Tables()
        parser.feed(html)
        for table in parser.tables:
            header = next((row for row in table if row), [])
            for i, name in enumerate(header):
                if name not in ID_HEADERS:
                    continue
                id_columns += 1
                values = [row[i] for row in table[1:] if len(row) == len(header)]
                assert values and all(v == "" or v.startswith(MASK) for v in values), (notebook, name, values)
    assert id_columns >= 1  # 04's at-risk buyers (and 01's referrers when the data has them)


def test_no_referrer_id_in_any_pdf(run, demo_warehouse):
    folder, _ = run
    with connect(demo_warehouse) as con:
        ids = {r[0] for r in con.execute("select referrer_id from referrers").fetchall()}
    assert len(ids) > 100
    for pdf in sorted((folder / "pdf").glob("*.pdf")):
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9_-]*", text))
        assert not ids & tokens, (pdf.name, sorted(ids & tokens)[:5])
