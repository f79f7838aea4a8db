"""The data-shape matrix: every notebook on every shape of data (issue 11).

Each shape (userops.shapes) is derived from one small demo export, loaded, and run through
`userops run` like a chain would; the published notebooks are then audited: no error output, no
rendered nan / inf / None (markdown, tables, printed text and chart text), all six published.
No PDFs here (the demo's monthly run builds them), to keep `make test` inside its budget.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from userops.cli import main
from userops.db import connect, last_complete_month
from userops.load import load_dir
from userops.shapes import TEST_SHAPES, audit_notebook, build_shape

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PDF_SHAPE = None  # PDFs are built by the demo run (tests/e2e); none here, for the time budget

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
    if shape != PDF_SHAPE:
        args.append("--no-pdf")
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
