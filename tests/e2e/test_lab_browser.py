"""A real browser runs a notebook in JupyterLab (issue 15): what an analyst does when they open it.

JupyterLab is started headless with the project kernel on a notebook of the 50-user `tiny` shape;
Debian's Chromium (driven by Playwright, with `executable_path`) opens it and runs all cells through
Lab's own command. Then: every code cell executed, no error or stderr output, and no formula
rendered anywhere (Lab's MathJax takes text between two `$` for math, which garbled the definitions
appendix: `$from_date` … `$to_date`). About 30 s on a quiet 2-core machine (Lab start, Chromium,
the notebook on 50 users): the one browser test of the suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

from userops.load import load_dir
from userops.shapes import build_shape

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "02_new_user_retention"
TOKEN = "userops-test"

pytestmark = pytest.mark.e2e

# Lab's Run All, then wait for the kernel to be idle again; count the executed code cells
RUN_ALL = """async () => {
  const app = window.jupyterapp; const nb = app.shell.currentWidget; const sc = nb.sessionContext;
  const pause = () => new Promise(r => setTimeout(r, 200));
  await sc.ready;
  while (!sc.session || !sc.session.kernel || sc.session.kernel.status !== 'idle') await pause();
  const ran = await app.commands.execute('notebook:run-all-cells');
  while (sc.session.kernel.status !== 'idle') await pause();
  const code = nb.content.widgets.filter(c => c.model.type === 'code');
  return {ran, cells: code.length, executed: code.filter(c => c.model.executionCount !== null).length};
}"""


def _chromium_binary() -> str:
    """The browser itself: Debian's /usr/bin/chromium is a shell wrapper Playwright cannot drive."""
    for path in ("/usr/lib/chromium/chromium", shutil.which("chromium-browser") or ""):
        if path and os.access(path, os.X_OK):
            return path
    pytest.fail("Chromium is not installed (make installs Debian's chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_notebook(folder: Path, warehouse: Path, params: Path) -> None:
    """The play's notebook with its parameters pointing at the test warehouse, outputs cleared."""
    nb = nbformat.read(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = (
                f'month = ""\nwarehouse = "{warehouse}"\nparams_file = "{params}"\noutput_dir = ""\n'
            )
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, folder / "lab.ipynb")


def _start_lab(folder: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={TOKEN}",
        f"--notebook-dir={folder}",
        "--allow-root",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    lab = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if lab.poll() is not None:
            pytest.fail(f"JupyterLab exited with {lab.returncode}:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=2)
            return lab
        except OSError:
            time.sleep(0.5)
    lab.terminate()
    pytest.fail(f"JupyterLab did not answer within 180 s:\n{log.read_text()[-2000:]}")


def test_notebook_runs_in_jupyterlab_in_a_real_browser(shapes_demo, tmp_path):
    data = build_shape("tiny", shapes_demo, tmp_path / "data")
    warehouse = tmp_path / "warehouse.duckdb"
    load_dir(data, warehouse)
    folder = tmp_path / "lab"
    folder.mkdir()
    _lab_notebook(folder, warehouse, data / "params.yaml")
    port = _free_port()
    lab = _start_lab(folder, port, tmp_path / "lab.log")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium_binary(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(f"http://127.0.0.1:{port}/lab/tree/lab.ipynb?token={TOKEN}")
            page.wait_for_selector(".jp-Notebook")
            result = page.evaluate(RUN_ALL)
            errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]').all_inner_texts()
            stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
            formulas = page.locator("mjx-container, .MathJax").count()
            tables = page.locator(".jp-OutputArea-output table").count()
            browser.close()
    finally:
        lab.terminate()
        lab.wait(30)
    assert result["ran"] is True
    assert result["cells"] >= 10 and result["executed"] == result["cells"], result
    assert not errors, errors[0][:2000]
    assert not stderr, stderr[0][:2000]
    assert tables >= 3  # the sections and the definitions appendix rendered their tables
    assert formulas == 0, f"{formulas} formula(s) rendered: text between two '$' taken for math"
