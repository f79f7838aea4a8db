"""The monthly run: papermill execution, PDFs, atomic publish, loud failures."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from userops import run_status, runner
from userops.lanes import machine_cores
from userops.runner import NotebookFailed, discover_notebooks, run_playbook

MONTH = "2026-10"
PARAMS = (
    'month: str = ""  # report month YYYY-MM\n'
    'warehouse: str = "../data/warehouse.duckdb"\n'
    'params_file: str = "../params/default.yaml"\n'
    'output_dir: str = ""  # where metrics.json and targets/ go'
)


def _notebook(path: Path, cells: list) -> Path:
    params = new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def good_notebook(path: Path) -> Path:
    """Writes a target list into output_dir and records what it was given."""
    return _notebook(
        path,
        [
            new_markdown_cell("# 新客留存\n\n本月报告。"),
            new_code_cell(
                "import json, os\n"
                "from pathlib import Path\n"
                "out = Path(output_dir)\n"
                "(out / 'targets' / 'remind.csv').write_text('user_id\\nu1\\n')\n"
                "(out / 'seen.json').write_text(json.dumps({'month': month, 'cwd': os.getcwd(),\n"
                "    'warehouse': warehouse, 'params_file': params_file, 'output_dir': output_dir}))\n"
                "print('新客数', f'{1234:,}')"
            ),
        ],
    )


def failing_notebook(path: Path) -> Path:
    """Raises in its 3rd cell (index 2)."""
    nb = new_notebook(
        cells=[
            new_markdown_cell("# 会失败的笔记本"),
            new_code_cell("x = 1"),
            new_code_cell("y = x + 1\nraise ValueError('planted failure 计划失败')"),
            new_code_cell("print('never')"),
        ]
    )
    params = new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells.insert(1, params)  # parameters as the 2nd cell: failing cell is now the 4th (index 3)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path):
    """notebooks/, a stand-in warehouse and params file, outputs/."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    (tmp_path / "data").mkdir()
    wh = tmp_path / "data" / "warehouse.duckdb"
    wh.write_bytes(b"")  # the synthetic notebooks never open it
    params = tmp_path / "params.yaml"
    params.write_text("retention_days: 7\n")
    return {"root": tmp_path, "nbs": nbs, "wh": wh, "params": params, "out": tmp_path / "outputs"}


def _previous_run(out: Path) -> dict[str, bytes]:
    prev = out / MONTH
    (prev / "pdf").mkdir(parents=True)
    (prev / "metrics.json").write_text('{"previous": true}')
    (prev / "pdf" / "old.pdf").write_bytes(b"%PDF old")
    return _snapshot(prev)


def _run(project, **kw):
    """run_playbook on the test project's warehouse, params, notebooks and outputs (kernel python3)."""
    return run_playbook(
        MONTH,
        project["wh"],
        project["params"],
        out_root=project["out"],
        notebooks_dir=project["nbs"],
        kernel_name="python3",
        **kw,
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(out: Path) -> list[str]:
    """Hidden build folders and backups left in outputs/ (the month locks' folder aside)."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".locks")


# --------------------------------------------------------------------------- fast unit tests


def test_discover_orders_and_filters(tmp_path):
    for name in (
        "02_retention.ipynb",
        "00_brief.ipynb",
        "01_acquisition.ipynb",
        "scratch.ipynb",
        "1_x.ipynb",
    ):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in discover_notebooks(tmp_path)] == [
        "00_brief.ipynb",
        "01_acquisition.ipynb",
        "02_retention.ipynb",
    ]
    picked = discover_notebooks(tmp_path, only=["retention", "00", "01_acquisition.ipynb"])
    assert [p.stem for p in picked] == ["00_brief", "01_acquisition", "02_retention"]
    with pytest.raises(ValueError, match="available: 00_brief"):
        discover_notebooks(tmp_path, only=["persona"])
    with pytest.raises(FileNotFoundError):
        discover_notebooks(tmp_path / "nothing-here")


def test_an_only_run_adds_the_brief_unless_told_not_to(tmp_path):
    for name in ("00_brief.ipynb", "01_acquisition.ipynb", "02_retention.ipynb"):
        (tmp_path / name).write_text("{}")
    # the whole run: plays first, the brief (00) last
    every = [p.name for p in runner.selected_notebooks(tmp_path)]
    assert every == ["01_acquisition.ipynb", "02_retention.ipynb", "00_brief.ipynb"]
    # --only 02: the brief summarises the play re-run, so it runs too
    assert [p.name for p in runner.selected_notebooks(tmp_path, ["02"])] == [
        "02_retention.ipynb",
        "00_brief.ipynb",
    ]
    # --only 02 --no-summary (make bench times one notebook): 02 alone
    assert [p.name for p in runner.selected_notebooks(tmp_path, ["02"], summary=False)] == [
        "02_retention.ipynb"
    ]
    # --only 00 --no-summary: the brief alone, once
    assert [p.name for p in runner.selected_notebooks(tmp_path, ["00"], summary=False)] == ["00_brief.ipynb"]


def test_choose_kernel(monkeypatch):
    assert runner.choose_kernel("mykernel") == "mykernel"
    from jupyter_client import kernelspec

    monkeypatch.setattr(kernelspec.KernelSpecManager, "find_kernel_specs", lambda self: {"python3": "/x"})
    assert runner.choose_kernel() == "python3"
    monkeypatch.setattr(
        kernelspec.KernelSpecManager, "find_kernel_specs", lambda self: {"python3": "/x", "userops": "/y"}
    )
    assert runner.choose_kernel() == "userops"


def test_bad_inputs_fail_before_running(project):
    good_notebook(project["nbs"] / "01_good.ipynb")
    kw = {"out_root": project["out"], "notebooks_dir": project["nbs"], "pdf": False, "progress": False}
    with pytest.raises(ValueError, match="YYYY-MM"):
        run_playbook("2026-13", project["wh"], project["params"], **kw)
    with pytest.raises(FileNotFoundError, match="warehouse"):
        run_playbook(MONTH, project["root"] / "missing.duckdb", project["params"], **kw)
    with pytest.raises(FileNotFoundError, match="params"):
        run_playbook(MONTH, project["wh"], project["root"] / "missing.yaml", **kw)
    assert not project["out"].exists() or not any(project["out"].iterdir())


def test_ids_are_masked_for_reports_and_pseudonymised_in_target_lists(tmp_path, monkeypatch):
    from userops import outputs

    df = pd.DataFrame({"user_id": [12345, 7, None], "referrer_id": ["L01-03", "P010-2", "P010-2"]})
    shown = outputs.mask_ids(df)
    assert shown.user_id.tolist() == ["••••5", "•••", ""]  # at most a third of an id shows
    assert shown.referrer_id.tolist() == ["••••03", "••••-2", "••••-2"]
    monkeypatch.delenv(outputs.PSEUDONYMS_ENV, raising=False)
    assert outputs.pseudonymise(df, MONTH, "recall") is df  # without --pseudonymise: the ids as exported
    folder = tmp_path / "wh.duckdb.pseudonyms"
    salt = outputs.ensure_salt(folder)
    assert re.fullmatch(r"[0-9a-f]{32}", salt) and (folder / "salt").stat().st_mode & 0o777 == 0o600
    assert outputs.ensure_salt(folder) == salt  # made once
    monkeypatch.setenv(outputs.PSEUDONYMS_ENV, str(folder))
    out = outputs.pseudonymise(df, MONTH, "recall")
    # u_ / r_ + the first 16 hex digits of sha256("<salt>:user_id:12345")
    expected = "u_" + hashlib.sha256(f"{salt}:user_id:12345".encode()).hexdigest()[:16]
    assert out.user_id[0] == expected and pd.isna(out.user_id[2])
    assert out.referrer_id[1] == out.referrer_id[2] != out.referrer_id[0]
    assert out.referrer_id[0].startswith("r_") and "L01-03" not in out.to_csv()
    mapping = pd.read_csv(folder / MONTH / "recall.csv")
    assert len(mapping) == 4  # 2 users (the null is not mapped) + 2 referrers
    back = dict(zip(mapping.pseudonym, mapping["id"].astype(str), strict=True))
    assert back[expected] == "12345"  # the export id, not the float of a column with nulls
    assert back[out.referrer_id[0]] == "L01-03"


def test_the_runner_tells_the_kernels_where_the_pseudonyms_are_only_for_the_run(tmp_path, monkeypatch):
    from userops.outputs import PSEUDONYMS_ENV

    monkeypatch.delenv(PSEUDONYMS_ENV, raising=False)
    with runner._pseudonyms(tmp_path / "wh.duckdb") as where:
        assert os.environ[PSEUDONYMS_ENV] == where == str(tmp_path / "wh.duckdb.pseudonyms")
        assert (tmp_path / "wh.duckdb.pseudonyms" / "salt").is_file()
    assert PSEUDONYMS_ENV not in os.environ
    with runner._pseudonyms(None) as where:
        assert where is None and PSEUDONYMS_ENV not in os.environ


def test_cli_takes_the_warehouse_from_userops_warehouse(tmp_path, monkeypatch, capsys):
    from userops import cli

    monkeypatch.setenv("USEROPS_WAREHOUSE", str(tmp_path / "chain" / "wh.duckdb"))
    assert cli.main(["run", "--month", MONTH]) == 2
    err = capsys.readouterr().err
    assert f"userops run: warehouse {tmp_path / 'chain' / 'wh.duckdb'} not found" in err
    assert not (tmp_path / "chain").exists()  # no lock folder made beside a missing warehouse
    assert cli.main(["triggers", "--date", "2026-10-15", "--warehouse", str(tmp_path / "x.duckdb")]) == 2
    assert f"warehouse {tmp_path / 'x.duckdb'} not found" in capsys.readouterr().err  # the flag wins
    for command in ("run", "triggers", "load"):
        sub = cli.build_parser()._subparsers._group_actions[0].choices[command]
        assert "$USEROPS_WAREHOUSE" in sub.format_help()


def test_a_play_computed_on_other_data_than_the_run_snapshot_stops_the_publish(tmp_path):
    job = runner._Job(
        MONTH, tmp_path / "wh.duckdb", tmp_path / "p.yaml", tmp_path, "python3", False, False, False, {}
    )
    job.data = {"data_fingerprint": "aaa111"}
    plays = {
        "01_acquisition": {"provenance": {"data_fingerprint": "aaa111"}},
        "02_retention": {"provenance": {"data_fingerprint": "bbb222"}},  # the warehouse was copied over
        "03_active": {"provenance": {"data_fingerprint": "ccc333"}},  # carried over by --only: not re-run
    }
    (tmp_path / "metrics.json").write_text(json.dumps({"plays": plays}))
    runner._check_snapshot(tmp_path, job, ["01_acquisition"])  # the plays run now read the snapshot
    with pytest.raises(runner.SnapshotChanged) as info:
        runner._check_snapshot(tmp_path, job, ["01_acquisition", "02_retention"])
    assert str(info.value) == (
        f"the warehouse {tmp_path / 'wh.duckdb'} changed during the run (replaced without `userops load`?): "
        "02_retention read data bbb222, the run started on aaa111; nothing published, run again"
    )


# --------------------------------------------------------------------------- end to end


@pytest.mark.e2e
def test_good_run_replaces_the_month_folder(project, capsys):
    good_notebook(project["nbs"] / "01_good.ipynb")
    _previous_run(project["out"])
    final = _run(project)
    assert final == (project["out"] / MONTH).resolve()
    files = set(_snapshot(final))
    assert "metrics.json" not in files and "pdf/old.pdf" not in files  # old run fully replaced
    assert {"notebooks/01_good.ipynb", "pdf/01_good.pdf", "targets/remind.csv", "run.json"} <= files
    assert _leftovers(project["out"]) == []

    seen = json.loads((final / "seen.json").read_text())
    assert seen["month"] == MONTH
    assert Path(seen["cwd"]) == project["nbs"].resolve()
    assert Path(seen["warehouse"]).is_absolute() and Path(seen["warehouse"]) == project["wh"].resolve()
    assert Path(seen["params_file"]) == project["params"].resolve()
    assert Path(seen["output_dir"]).name.startswith(f".tmp-{MONTH}-")  # built aside, then renamed

    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(final / "pdf" / "01_good.pdf"), "-"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "新客留存" in text and "1,234" in text and "output_dir" not in text

    run = json.loads((final / "run.json").read_text())
    assert run["month"] == MONTH and run["kernel"] == "python3"
    assert [n["name"] for n in run["notebooks"]] == ["01_good"]

    out = capsys.readouterr().out
    assert "01_good" in out and " s" in out


@pytest.mark.e2e
def test_failing_notebook_raises_and_leaves_previous_run_untouched(project):
    good_notebook(project["nbs"] / "01_good.ipynb")
    failing_notebook(project["nbs"] / "02_fail.ipynb")
    before = _previous_run(project["out"])
    with pytest.raises(NotebookFailed) as info:
        _run(project, pdf=False, progress=False)
    err = info.value
    msg = str(err)
    assert "02_fail.ipynb" in msg
    assert "cell 3" in msg  # index in the source notebook, not papermill's shifted one
    assert "raise ValueError(" not in msg  # the first source line identifies the cell, not the whole cell
    assert "y = x + 1" in msg
    assert "ValueError: planted failure 计划失败" in msg
    assert (err.notebook, err.cell_index, err.ename) == ("02_fail.ipynb", 3, "ValueError")
    assert _snapshot(project["out"] / MONTH) == before
    assert _leftovers(project["out"]) == []


@pytest.mark.e2e
def test_only_reruns_one_notebook_and_keeps_the_rest(project):
    good_notebook(project["nbs"] / "01_good.ipynb")
    failing_notebook(project["nbs"] / "02_fail.ipynb")
    prev = _previous_run(project["out"])
    final = _run(project, pdf=False, progress=False, only=["good"])
    files = _snapshot(final)
    assert files["pdf/old.pdf"] == prev["pdf/old.pdf"]  # carried over
    assert "notebooks/01_good.ipynb" in files and "notebooks/02_fail.ipynb" not in files
    assert _leftovers(project["out"]) == []


def test_execution_order_puts_summaries_last(tmp_path):
    paths = [tmp_path / n for n in ("00_monthly_brief.ipynb", "02_b.ipynb", "01_a.ipynb")]
    assert [p.name for p in runner.execution_order(paths)] == [
        "01_a.ipynb",
        "02_b.ipynb",
        "00_monthly_brief.ipynb",
    ]


def summary_notebook(path: Path) -> Path:
    """Records which play outputs already exist when it runs (it must run after the plays)."""
    return _notebook(
        path,
        [
            new_markdown_cell("# 月度经营简报 · Monthly brief"),
            new_code_cell(
                "import json\n"
                "from pathlib import Path\n"
                "out = Path(output_dir)\n"
                "seen = sorted(p.name for p in (out / 'targets').iterdir())\n"
                "(out / 'summary_saw.json').write_text(json.dumps(seen))\n"
                "print('简报', len(seen))"
            ),
        ],
    )


@pytest.mark.e2e
def test_summary_runs_after_the_plays_and_gets_a_combined_pdf(project):
    summary_notebook(project["nbs"] / "00_brief.ipynb")
    good_notebook(project["nbs"] / "01_good.ipynb")
    project["params"].write_text("chain_name: 测试便利店\n", encoding="utf-8")
    final = _run(project, progress=False)
    run = json.loads((final / "run.json").read_text())
    assert [n["name"] for n in run["notebooks"]] == ["01_good", "00_brief"]
    assert json.loads((final / "summary_saw.json").read_text()) == ["remind.csv"]  # 01 ran first
    combined = final / "pdf" / runner.COMBINED_PDF
    cover = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-f", "1", "-l", "1", str(combined), "-"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "测试便利店" in cover and "2026年10月（2026-10）" in cover
    assert "01 · 新客留存" in cover and "（本文件）" in cover and "01_good" not in cover  # no code names
    rest = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-f", "2", str(combined), "-"], capture_output=True, check=True
    ).stdout.decode()
    assert "月度经营简报" in rest and "简报 1" in rest

    # --only 01 re-runs the summary too, so it never describes stale play results
    again = _run(project, pdf=False, progress=False, only=["01"])
    assert [n["name"] for n in json.loads((again / "run.json").read_text())["notebooks"]] == [
        "01_good",
        "00_brief",
    ]


# --------------------------------------------------------------------------- --keep-going


def partial_failing_notebook(path: Path) -> Path:
    """Writes a target list and a metrics.json section, then raises in its 3rd cell (index 2)."""
    return _notebook(
        path,
        [
            new_code_cell(
                "import json\n"
                "from pathlib import Path\n"
                "out = Path(output_dir)\n"
                "(out / 'targets' / 'partial.csv').write_text('user_id\\nu9\\n')\n"
                "(out / 'metrics.json').write_text(json.dumps({'plays': {'03_partial': {}}}))"
            ),
            new_code_cell("total = 0\nraise ZeroDivisionError('no buyers 没有买家')"),
        ],
    )


def status_reading_summary(path: Path) -> Path:
    """Copies the run_status.json it finds when it runs (the runner writes it before the 00_*)."""
    return _notebook(
        path,
        [
            new_markdown_cell("# 月度经营简报 · Monthly brief"),
            new_code_cell(
                "import shutil\n"
                "from pathlib import Path\n"
                "out = Path(output_dir)\n"
                "shutil.copy(out / 'run_status.json', out / 'summary_saw_status.json')"
            ),
        ],
    )


def _keep_going_project(project) -> None:
    status_reading_summary(project["nbs"] / "00_brief.ipynb")
    good_notebook(project["nbs"] / "01_good.ipynb")
    failing_notebook(project["nbs"] / "02_fail.ipynb")
    partial_failing_notebook(project["nbs"] / "03_partial.ipynb")


FAIL_02 = {
    "notebook": "02_fail",
    "cell": 3,  # source index: the parameters cell is the 2nd, the failing cell the 4th
    "source_line": "y = x + 1",
    "ename": "ValueError",
    "evalue": "planted failure 计划失败",
    "error": "ValueError: planted failure 计划失败",
}
FAIL_03 = {
    "notebook": "03_partial",
    "cell": 2,  # parameters (0), the writing cell (1), the raising cell (2)
    "source_line": "total = 0",
    "ename": "ZeroDivisionError",
    "evalue": "no buyers 没有买家",
    "error": "ZeroDivisionError: no buyers 没有买家",
}


def _status_entry(f: dict, title: str) -> dict:
    return {"notebook": f["notebook"], "title": title, "cell": f["cell"], "error": f["error"]}


@pytest.mark.e2e
def test_keep_going_publishes_what_succeeded(project):
    _keep_going_project(project)
    # without the flag the first failure stops the run and nothing is published
    with pytest.raises(NotebookFailed, match="02_fail"):
        _run(project, pdf=False, progress=False)
    assert not (project["out"] / MONTH).exists() and _leftovers(project["out"]) == []

    with pytest.raises(runner.RunIncomplete) as info:
        _run(project, pdf=False, progress=False, keep_going=True)
    final = info.value.final
    assert final == (project["out"] / MONTH).resolve()
    assert [f.notebook for f in info.value.failures] == ["02_fail.ipynb", "03_partial.ipynb"]
    assert "2 notebook(s) failed" in str(info.value) and "ZeroDivisionError: no buyers" in str(info.value)
    files = set(_snapshot(final))
    assert files == {
        "notebooks/00_brief.ipynb",
        "notebooks/01_good.ipynb",
        "notebooks/02_fail.failed.ipynb",  # executed copies of the failures, with the traceback
        "notebooks/03_partial.failed.ipynb",
        "targets/remind.csv",  # 01's list; 03's partial.csv and metrics.json are left out
        "seen.json",
        "summary_saw_status.json",
        "run_status.json",
        "run.json",
    }
    assert _leftovers(project["out"]) == []

    run = json.loads((final / "run.json").read_text())
    assert run["keep_going"] is True
    assert run["failures"] == [FAIL_02, FAIL_03]
    assert [(n["name"], n["outputs"]) for n in run["notebooks"]] == [
        ("01_good", ["seen.json", "targets/remind.csv"]),
        ("00_brief", ["summary_saw_status.json"]),
    ]

    plays_status = {
        "month": MONTH,
        "failed": [_status_entry(FAIL_02, "会失败的笔记本"), _status_entry(FAIL_03, "03_partial")],
        "skipped": [],
        "succeeded": [{"notebook": "01_good", "title": "新客留存"}],
        "carried_over": [],
    }
    assert json.loads((final / "summary_saw_status.json").read_text()) == plays_status  # before 00 ran
    final_status = run_status.read(final)
    assert final_status["succeeded"] == [  # in run order, with the summary's own outcome at the end
        {"notebook": "01_good", "title": "新客留存"},
        {"notebook": "00_brief", "title": "月度经营简报 · Monthly brief"},
    ]
    assert final_status["failed"] == plays_status["failed"]


@pytest.mark.e2e
def test_keep_going_only_carries_the_other_plays_status_over(project):
    _keep_going_project(project)
    (project["nbs"] / "02_fail.ipynb").unlink()
    (project["nbs"] / "03_partial.ipynb").unlink()
    good_notebook(project["nbs"] / "02_good.ipynb")
    partial_failing_notebook(project["nbs"] / "03_partial.ipynb")
    # first run of the month: only 01 and 03 (which fails); 02 has no result -> skipped
    with pytest.raises(runner.RunIncomplete):
        _run(project, pdf=False, progress=False, only=["01", "03"], keep_going=True)
    first = run_status.read(project["out"] / MONTH)
    assert [e["notebook"] for e in first["skipped"]] == ["02_good"]
    assert [e["notebook"] for e in first["failed"]] == ["03_partial"]

    # re-run 02 only: it succeeds, 01 (succeeded) and 03 (failed) keep their status
    final = _run(project, pdf=False, progress=False, only=["02"], keep_going=True)
    status = run_status.read(final)
    assert status["carried_over"] == ["01_good", "03_partial"]
    assert status["failed"] == [_status_entry(FAIL_03, "03_partial")]
    assert [e["notebook"] for e in status["succeeded"]] == ["01_good", "02_good", "00_brief"]
    assert status["skipped"] == []
    assert (final / "notebooks" / "03_partial.failed.ipynb").is_file()
    assert json.loads((final / "run.json").read_text())["failures"] == []


def test_run_status_build_carries_over_and_reads_older_runs(tmp_path):
    titles = {"01_a": "A", "02_b": "B", "03_c": "C", "04_d": "D"}
    prev = tmp_path / "prev"
    (prev / "notebooks").mkdir(parents=True)
    run_status.write(
        prev,
        {
            "failed": [{"notebook": "02_b", "title": "B", "cell": 4, "error": "KeyError: 'x'"}],
            "skipped": [{"notebook": "03_c", "title": "C"}],
            "succeeded": [],
        },
    )
    failure = {"notebook": "01_a", "cell": 1, "error": "ValueError: v"}
    got = run_status.build(MONTH, titles, ["01_a"], [failure], prev)
    assert got == {
        "month": MONTH,
        "failed": [
            {"notebook": "01_a", "title": "A", "cell": 1, "error": "ValueError: v"},
            {"notebook": "02_b", "title": "B", "cell": 4, "error": "KeyError: 'x'"},
        ],
        "skipped": [{"notebook": "03_c", "title": "C"}, {"notebook": "04_d", "title": "D"}],
        "succeeded": [],
        "carried_over": ["02_b"],
    }
    # a run published before run_status.json existed: its executed notebooks succeeded
    (prev / run_status.FILE).unlink()
    (prev / "notebooks" / "04_d.ipynb").write_text("{}")
    older = run_status.build(MONTH, titles, [], [], prev)
    assert older["succeeded"] == [{"notebook": "04_d", "title": "D"}] and older["carried_over"] == ["04_d"]
    assert run_status.read(tmp_path / "nothing") == run_status.empty()


def test_cli_keep_going_exits_3_listing_the_failures(project, monkeypatch, capsys):
    import contextlib

    from userops import cli, db, params, vocabulary

    seen = {}

    def fake_run(month, warehouse, params_file, **kw):
        seen.update(kw, month=month)
        err = NotebookFailed(
            "03_x.ipynb", "03_x.ipynb failed at cell 2 (the 3rd cell): `y = 1`\n  ValueError: v"
        )
        raise runner.RunIncomplete(project["out"] / MONTH, [err])

    monkeypatch.setattr(params, "load_params", lambda path: params.Params())
    monkeypatch.setattr(db, "connect", lambda path: contextlib.nullcontext())
    monkeypatch.setattr(db, "resolve_month", lambda con, month: MONTH)
    monkeypatch.setattr(db, "require_derived_tables", lambda con: None)  # no warehouse here
    monkeypatch.setattr(vocabulary, "require", lambda con, p: [])  # the stand-in has no data to check
    monkeypatch.setattr(runner, "run_playbook", fake_run)
    code = cli.main(
        ["run", "--keep-going", "--warehouse", str(project["wh"]), "--params", str(project["params"])]
    )
    assert code == 3
    assert seen["keep_going"] is True and seen["month"] == MONTH
    assert seen["pseudonymise"] is False  # neither the flag nor params privacy.pseudonymise_lists
    err = capsys.readouterr().err
    assert "1 notebook(s) failed" in err and "03_x.ipynb failed at cell 2" in err and "ValueError: v" in err
    assert cli.build_parser().parse_args(["run"]).keep_going is False
    private = params.Params(privacy={"pseudonymise_lists": True})
    monkeypatch.setattr(params, "load_params", lambda path: private)
    cli.main(["run", "--keep-going", "--warehouse", str(project["wh"]), "--params", str(project["params"])])
    assert seen["pseudonymise"] is True  # the params switch is the flag's twin
    assert seen["summary"] is True  # an --only run adds the brief by default
    cli.main(
        [
            "run",
            "--only",
            "03",
            "--no-summary",
            "--warehouse",
            str(project["wh"]),
            "--params",
            str(project["params"]),
        ]
    )
    assert seen["summary"] is False and seen["only"] == ["03"]  # make bench: the notebook alone


def test_cover_names_failed_and_skipped_plays(tmp_path):
    assert runner._status_notes(tmp_path) == []  # no run_status.json: nothing to say
    status = run_status.empty(MONTH)
    status["failed"] = [
        {"notebook": "03_a", "title": "促活 · Active-user incentives", "cell": 2, "error": "E: x"}
    ]
    status["skipped"] = [{"notebook": "05_b", "title": ""}]  # no title: the notebook name
    run_status.write(tmp_path, status)
    assert runner._status_notes(tmp_path) == [
        "未能完成，未纳入本期：促活 · Active-user incentives",
        "本期未运行：05_b",
    ]


def test_cli_only_run_names_plays_still_failed_from_an_earlier_run(project, monkeypatch, capsys):
    import contextlib

    from userops import cli, db, params, vocabulary

    run_dir = project["out"] / MONTH
    status = run_status.empty(MONTH)
    status["failed"] = [{"notebook": "03_x", "title": "X", "cell": 2, "error": "E: e"}]
    status["succeeded"] = [{"notebook": "04_y", "title": "Y"}]
    status["carried_over"] = ["03_x"]
    run_status.write(run_dir, status)
    monkeypatch.setattr(params, "load_params", lambda path: params.Params())
    monkeypatch.setattr(db, "connect", lambda path: contextlib.nullcontext())
    monkeypatch.setattr(db, "resolve_month", lambda con, month: MONTH)
    monkeypatch.setattr(db, "require_derived_tables", lambda con: None)  # no warehouse here
    monkeypatch.setattr(runner, "run_playbook", lambda *a, **kw: run_dir)
    monkeypatch.setattr(vocabulary, "require", lambda con, p: [])  # the stand-in has no data to check
    args = ["run", "--keep-going", "--only", "04", "--warehouse", str(project["wh"])]
    assert cli.main([*args, "--params", str(project["params"])]) == 0  # 04 ran fine this time
    assert "still failed from an earlier run of the month (not re-run): 03_x" in capsys.readouterr().err


# --------------------------------------------------------------------------- lanes: scratch folders, metrics.json


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _section(play: str, value: int) -> dict:
    return {"provenance": {"data_fingerprint": "f1"}, "metrics": {"users": {"value": value}}}


def test_two_lanes_writing_at_once_keep_their_own_outputs_and_both_metrics_sections(tmp_path):
    """Two plays started from the same run folder write targets and metrics.json sections at the
    same time, each in its scratch copy; merged one after the other, each file is the one play's
    output and no metrics.json section is lost (the second merge keeps the first's section)."""
    run_dir = tmp_path / f".tmp-{MONTH}-abcd"
    _write(run_dir / "targets" / "old.csv", "user_id\n1\n")  # an earlier play's list
    start = {"month": MONTH, "provenance": {"git_commit": "c"}, "plays": {"02_b": _section("02_b", 2)}}
    _write(run_dir / "metrics.json", json.dumps(start))
    _write(run_dir / "notebooks" / "02_b.ipynb", "{}")
    _write(run_dir / "pdf" / "02_b.pdf", "%PDF")
    nb_a, nb_c = Path("03_a.ipynb"), Path("05_c.ipynb")
    a, c = runner._open_scratch(run_dir, nb_a), runner._open_scratch(run_dir, nb_c)
    assert a.name == f".tmp-{MONTH}-abcd.03_a" and a.parent == run_dir.parent  # cleaned as .tmp-<month>-*
    assert sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()) == [
        "metrics.json",
        "targets/old.csv",  # a play reads the lists written before it; no PDFs or executed notebooks
    ]
    before_a, before_c = runner._output_state(a), runner._output_state(c)
    for scratch, play, value in ((a, "03_a", 3), (c, "05_c", 5)):  # each kernel's own Report.write
        doc = json.loads((scratch / "metrics.json").read_text())
        doc["plays"][play] = _section(play, value)
        doc["provenance"]["data_fingerprint"] = "f1"
        _write(scratch / "metrics.json", json.dumps(doc))
        _write(scratch / "targets" / f"{play}.csv", f"user_id\n{value}\n")
    (c / "targets" / "old.csv").write_text("user_id\n1\n9\n")  # 05 rewrites a list: it is its output
    assert runner._merge_scratch(run_dir, a, before_a, start) == ["targets/03_a.csv"]
    assert runner._merge_scratch(run_dir, c, before_c, start) == ["targets/05_c.csv", "targets/old.csv"]
    merged = json.loads((run_dir / "metrics.json").read_text())
    assert list(merged["plays"]) == ["02_b", "03_a", "05_c"]  # sorted, none lost
    assert merged["plays"]["03_a"]["metrics"]["users"]["value"] == 3
    assert merged["provenance"] == {"git_commit": "c", "data_fingerprint": "f1"}
    assert (run_dir / "targets" / "old.csv").read_text() == "user_id\n1\n9\n"
    summary = runner._open_scratch(run_dir, Path("00_brief.ipynb"))  # the brief reads the notebooks
    assert (summary / "notebooks" / "02_b.ipynb").is_file() and not (summary / "pdf").exists()


def test_merged_json_applies_one_writers_changes_only():
    doc = {"month": MONTH, "plays": {"01_a": {"v": 1}, "02_b": {"v": 2}}, "provenance": {"x": 1, "y": 2}}
    start = {"month": MONTH, "plays": {"01_a": {"v": 1}}, "provenance": {"x": 1}}
    mine = {"month": MONTH, "plays": {"01_a": {"v": 1}, "03_c": {"v": 3}}, "provenance": {"x": 5}}
    assert runner.merged_json(doc, start, mine) == {
        "month": MONTH,
        "plays": {"01_a": {"v": 1}, "02_b": {"v": 2}, "03_c": {"v": 3}},  # 02_b came from another lane
        "provenance": {"x": 5, "y": 2},
    }
    gone = runner.merged_json(doc, start, {"month": MONTH, "plays": {}, "provenance": {"x": 1}})
    assert gone["plays"] == {"02_b": {"v": 2}}  # the writer removed 01_a; 02_b is not its to remove
    fresh = runner.merged_json(doc, {}, {"plays": {"04_d": {"v": 4}}})  # a first metrics.json of its own
    assert list(fresh["plays"]) == ["01_a", "02_b", "04_d"]


def test_metrics_json_updates_are_serialised(tmp_path):
    """update_json holds a flock on the folder: another writer (here a second open of the folder,
    as another kernel or lane would have) cannot take it meanwhile; 8 threads x 25 updates lose none."""
    import fcntl

    from userops.outputs import folder_lock, update_json

    path = tmp_path / "metrics.json"
    with folder_lock(tmp_path):
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)

    def bump(i: int) -> None:
        for _ in range(25):
            update_json(
                path,
                lambda doc: {
                    **doc,
                    "plays": {**doc.get("plays", {}), f"p{i}": doc.get("plays", {}).get(f"p{i}", 0) + 1},
                },
            )

    import threading

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert json.loads(path.read_text()) == {"plays": {f"p{i}": 25 for i in range(8)}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no lock or temp file left
    update_json(path, lambda doc: None)
    assert not path.exists()


def metrics_notebook(path: Path) -> Path:
    """Writes its own target list and its metrics.json section (userops.outputs.Report)."""
    return _notebook(
        path,
        [
            new_markdown_cell("# 指标"),
            new_code_cell(
                "import pandas as pd\n"
                "from userops.outputs import Report\n"
                "rep = Report(play='02_metrics', month=month, output_dir=output_dir)\n"
                "rep.add('buyers', 7, 'users', 'buyers in the month')\n"
                "rep.write_target('metrics_list', pd.DataFrame({'user_id': [2, 1]}), ['user_id'])\n"
                "rep.write()\n"
                "print('买家', 7)"
            ),
        ],
    )


@pytest.mark.e2e
def test_two_lanes_attribute_outputs_and_roll_back_a_failed_pdf(project, monkeypatch):
    good_notebook(project["nbs"] / "01_good.ipynb")
    metrics_notebook(project["nbs"] / "02_metrics.ipynb")
    cwd = os.getcwd()
    final = _run(project, pdf=False, progress=False, lanes=2)
    assert os.getcwd() == cwd  # two kernels at once never move the runner's own folder
    assert Path(json.loads((final / "seen.json").read_text())["cwd"]) == project["nbs"].resolve()
    run = json.loads((final / "run.json").read_text())
    assert run["lanes"] == 2
    budget = run["duckdb_per_play_kernel"]  # half the memory limit each (2GB in make test, or 80% of RAM)
    limit = os.environ.get("USEROPS_DUCKDB_MEMORY_LIMIT")
    if limit == "2GB":
        assert budget["memory_limit"] == "1000MB"
    assert int(budget["threads"]) == max(
        1, int(os.environ.get("USEROPS_DUCKDB_THREADS") or machine_cores()) // 2
    )
    assert [(n["name"], n["outputs"]) for n in run["notebooks"]] == [  # each its own files, name order
        ("01_good", ["seen.json", "targets/remind.csv"]),
        ("02_metrics", ["targets/metrics_list.csv"]),
    ]
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["plays"]["02_metrics"]["metrics"]["buyers"]["value"] == 7
    assert (final / "targets" / "metrics_list.csv").read_text() == "user_id\n1\n2\n"
    assert _leftovers(project["out"]) == []  # no scratch folder left

    # every PDF fails (no browser): with keep_going each notebook's own outputs are rolled back
    monkeypatch.setenv("USEROPS_CHROMIUM", shutil.which("false") or "/bin/false")
    with pytest.raises(runner.RunIncomplete) as info:
        _run(project, progress=False, keep_going=True, lanes=2)
    assert [f.notebook for f in info.value.failures] == ["01_good.ipynb", "02_metrics.ipynb"]
    assert all("ran, but its PDF export failed" in str(f) for f in info.value.failures)
    assert set(_snapshot(info.value.final)) == {
        "notebooks/01_good.failed.ipynb",
        "notebooks/02_metrics.failed.ipynb",
        "run.json",
        "run_status.json",
    }
    assert _leftovers(project["out"]) == []
