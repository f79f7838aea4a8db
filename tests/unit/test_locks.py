"""Loads and runs that a chain can trust (issue 14, cases 1, 15, 16): one snapshot per run, one run
per month, nothing left behind by killed processes, no month without outputs.

The in-process tests take the locks on separate file descriptors (flock treats them like two
processes). The subprocess tests start a real `userops load` / `userops run`, stop it at a named
point with the test hook (USEROPS_TEST_BLOCK_AT, userops.locks.checkpoint: no sleep races), then
kill it or act beside it. They use a 3-user warehouse and stop before any notebook runs, except
the publish test, which runs one two-cell notebook (python3 kernel, ~3 s: publishing needs a run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from userops import cli, locks
from userops.load import load_dir
from userops.testing import order_row, write_tables

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params" / "default.yaml"


# --------------------------------------------------------------------------- in-process


def test_a_load_cannot_replace_a_warehouse_a_run_is_reading(tmp_path):
    wh = tmp_path / "wh.duckdb"
    # two runs share the warehouse; a load's replace waits for them, then refuses
    with (
        locks.reading(wh),
        locks.reading(wh),
        pytest.raises(locks.LockBusy) as info,
        locks.replacing(wh, 0.2),
    ):
        pass
    msg = str(info.value)
    assert "in use by a running `userops run`" in msg and "waited 0.2 s" in msg
    assert "the warehouse is unchanged" in msg and "USEROPS_LOCK_WAIT" in msg
    busy = pytest.raises(locks.LockBusy, match="being replaced by a `userops load`")
    with locks.replacing(wh, wait_s=0), busy, locks.reading(wh, 0):  # free once the runs are done
        pass


def test_a_second_run_of_the_same_month_is_refused_other_months_go_ahead(tmp_path):
    out = tmp_path / "outputs"
    with locks.running_month(out, "2026-03"):
        with pytest.raises(locks.LockBusy) as info, locks.running_month(out, "2026-03"):
            pass
        with locks.running_month(out, "2026-02"):
            pass
    msg = str(info.value)
    assert f"another `userops run` of 2026-03 is in progress (pid {os.getpid()} since " in msg
    assert "userops run --month 2026-03)" in msg and "Nothing was run" in msg
    assert (out / ".locks" / "2026-03.lock").read_text() == ""  # the holder's line is cleared on release


def test_the_month_lock_recovers_a_publish_backup_and_removes_build_folders(tmp_path):
    out = tmp_path / "outputs"
    old = out / ".old-2026-03-1a2b3c4d"  # a run killed between the two renames of its publish
    (old / "pdf").mkdir(parents=True)
    (old / "pdf" / "01.pdf").write_bytes(b"%PDF previous")
    (out / ".tmp-2026-03-99999999" / "targets").mkdir(parents=True)
    (out / ".tmp-2026-03-99999999" / "targets" / "remind.csv").write_text("user_id\n7\n")
    (out / ".tmp-2026-02-5e5e5e5e").mkdir()  # another month's killed run
    with locks.running_month(out, "2026-03") as handled:
        assert (out / "2026-03" / "pdf" / "01.pdf").read_bytes() == b"%PDF previous"
        assert sorted(p.name for p in handled) == [".old-2026-03-1a2b3c4d", ".tmp-2026-03-99999999"]
        with locks.running_month(out, "2026-01"):  # 2026-01 is being run: its folders stay
            (out / ".tmp-2026-01-77777777").mkdir()
            assert [p.name for p in locks.clean_other_months(out, skip="2026-03")] == [
                ".tmp-2026-02-5e5e5e5e"
            ]
    assert sorted(p.name for p in out.iterdir()) == [".locks", ".tmp-2026-01-77777777", "2026-03"]
    # a backup beside a published month is the previous run's: removed, the month is kept
    (out / ".old-2026-03-0f0f0f0f").mkdir()
    with locks.running_month(out, "2026-03"):
        pass
    assert sorted(p.name for p in out.iterdir()) == [".locks", ".tmp-2026-01-77777777", "2026-03"]
    assert (out / "2026-03" / "pdf" / "01.pdf").is_file()


def test_stale_warehouse_temp_files_are_removed_only_when_no_load_owns_them(tmp_path):
    wh = tmp_path / "wh.duckdb"
    wh.write_bytes(b"warehouse")
    stale = [
        tmp_path / n
        for n in (
            "wh.duckdb.k3j2.tmp",
            "wh.duckdb.k3j2.tmp.wal",
            "wh.duckdb.k3j2.tmp.rejects.csv",
            "wh.duckdb.k3j2.tmp.stage",
            "wh.duckdb.k3j2.tmp.stage.wal",
        )
    ]
    for p in stale:
        p.write_bytes(b"x")
    (tmp_path / "other.duckdb.k3j2.tmp").write_bytes(b"x")  # another warehouse's: not ours
    live = locks.acquire(locks.load_lock_path(wh), exclusive=True, wait_s=0, what="userops load")
    try:  # a live load (holding the load lock) owns them
        assert locks.clean_stale_warehouse_files(wh) == []
        with pytest.raises(locks.LockBusy, match="another `userops load` is building"), locks.loading(wh, 0):
            pass
    finally:
        locks.release(live)
    assert all(p.exists() for p in stale)
    assert sorted(locks.clean_stale_warehouse_files(wh)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["other.duckdb.k3j2.tmp", "wh.duckdb"]


def test_lock_wait_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(locks.WAIT_ENV, raising=False)
    assert locks.wait_seconds(600.0) == 600.0
    monkeypatch.setenv(locks.WAIT_ENV, "2.5")
    assert locks.wait_seconds(600.0) == 2.5
    monkeypatch.setenv(locks.WAIT_ENV, "soon")
    with pytest.raises(ValueError, match="USEROPS_LOCK_WAIT must be a number of seconds, got 'soon'"):
        locks.wait_seconds(0)


# --------------------------------------------------------------------------- real processes


def _tiny_data(folder: Path, gmv: int = 20) -> Path:
    """3 users ordering from January to March 2026 (every month has a month before it)."""
    return write_tables(
        folder,
        {
            "users": [
                {"user_id": u, "registered_at": "2025-12-01 09:00:00", "channel": "app"} for u in (1, 2, 3)
            ],
            "orders": [
                order_row(1, 1, "2025-12-02 10:00:00", gmv=gmv),
                order_row(2, 1, "2026-01-05 10:00:00", gmv=gmv),
                order_row(3, 2, "2026-02-10 10:00:00", gmv=gmv),
                order_row(4, 3, "2026-03-31 18:00:00", gmv=gmv),
            ],
        },
    )


@pytest.fixture
def chain(tmp_path):
    """A loaded 3-user warehouse, outputs/, the block folder and one two-cell notebook."""
    wh = tmp_path / "data" / "warehouse.duckdb"
    load_dir(_tiny_data(tmp_path / "in"), wh)
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    params = new_code_cell('month = ""\nwarehouse = ""\nparams_file = ""\noutput_dir = ""')
    params.metadata["tags"] = ["parameters"]
    work = new_code_cell(
        "from pathlib import Path\n(Path(output_dir) / 'targets' / 'a.csv').write_text(month)"
    )
    nb = new_notebook(cells=[params, work])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbs / "01_tiny.ipynb")
    block = tmp_path / "block"
    block.mkdir()
    return {"root": tmp_path, "wh": wh, "out": tmp_path / "outputs", "nbs": nbs, "block": block}


def _start(chain, block_at: str, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), os.environ.get("PYTHONPATH", "")]),
        locks.BLOCK_AT_ENV: block_at,
        locks.BLOCK_DIR_ENV: str(chain["block"]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "userops.cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _start_run(chain, month: str, block_at: str) -> subprocess.Popen:
    return _start(
        chain,
        block_at,
        "run",
        "--month",
        month,
        "--warehouse",
        str(chain["wh"]),
        "--params",
        str(PARAMS),
        "--out",
        str(chain["out"]),
        "--notebooks",
        str(chain["nbs"]),
        "--no-pdf",
    )


def _reached(chain, proc: subprocess.Popen, point: str) -> None:
    """Wait (polling, bounded) until the process stands blocked at ``point``."""
    flag = chain["block"] / f"{point}.reached"
    deadline = time.monotonic() + 120
    while not flag.exists():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {point}: {proc.stderr.read().decode()}")
        assert time.monotonic() < deadline, f"{point} not reached"
        time.sleep(0.05)
    assert flag.read_text() == str(proc.pid)
    flag.unlink()


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


def test_killed_load_leaves_the_warehouse_and_the_next_load_removes_its_temp_files(chain):
    # a real `userops load` killed mid-build (~3 s of interpreter start-up): case 15 needs a process
    before = chain["wh"].read_bytes()
    load = _start(
        chain,
        "load:built",
        "load",
        str(_tiny_data(chain["root"] / "new", gmv=30)),
        "--warehouse",
        str(chain["wh"]),
    )
    _reached(chain, load, "load:built")
    _kill(load)
    left = [p.name for p in locks.warehouse_temp_files(chain["wh"])]
    assert left and all(n.startswith("warehouse.duckdb.") for n in left)  # the killed build
    assert chain["wh"].read_bytes() == before
    load_dir(_tiny_data(chain["root"] / "new"), chain["wh"])
    assert locks.warehouse_temp_files(chain["wh"]) == []


def test_load_during_a_run_is_refused_and_runs_of_one_month_do_not_overlap(chain, monkeypatch, capsys):
    # two real `userops run` processes (~3 s start-up each, no notebook): cases 1 and 16 need them
    run = _start_run(chain, "2026-03", "run:building")
    _reached(chain, run, "run:building")
    try:
        # case 1: the run reads one snapshot; a load that would replace it waits, then refuses
        before = chain["wh"].read_bytes()
        monkeypatch.setenv(locks.WAIT_ENV, "0.3")
        new = _tiny_data(chain["root"] / "new", gmv=30)
        assert cli.main(["load", str(new), "--warehouse", str(chain["wh"]), "--params", str(PARAMS)]) == 4
        err = capsys.readouterr().err
        assert f"userops load: {chain['wh']} is in use by a running `userops run`" in err
        assert "waited 0.3 s" in err and "the warehouse is unchanged" in err
        assert chain["wh"].read_bytes() == before and locks.warehouse_temp_files(chain["wh"]) == []
        # case 16: a second run of the month is refused before it runs anything
        monkeypatch.setenv(locks.WAIT_ENV, "0")
        args = ["run", "--month", "2026-03", "--warehouse", str(chain["wh"]), "--params", str(PARAMS)]
        args += ["--out", str(chain["out"]), "--notebooks", str(chain["nbs"]), "--no-pdf"]
        assert cli.main(args) == 4
        err = capsys.readouterr().err
        assert f"userops run: another `userops run` of 2026-03 is in progress (pid {run.pid} since " in err
        assert f"it will publish {chain['out'].resolve() / '2026-03'}" in err
        # ... while another month runs beside it
        other = _start_run(chain, "2026-02", "run:building")
        _reached(chain, other, "run:building")
        building = sorted(p.name[:12] for p in chain["out"].glob(".tmp-*"))
        assert building == [".tmp-2026-02", ".tmp-2026-03"]
        _kill(other)
    finally:
        _kill(run)
    # case 15: killed runs leave their build folders (the next run of each month removes them:
    # test_a_run_killed_while_publishing_... shows it for a real run, the month-lock test for both)
    assert sorted(p.name[:12] for p in chain["out"].glob(".tmp-*")) == [".tmp-2026-02", ".tmp-2026-03"]
    assert [p.name for p in locks.clean_other_months(chain["out"], skip="")] != []
    assert not list(chain["out"].glob(".tmp-*"))


def test_a_run_killed_while_publishing_leaves_a_backup_the_next_run_restores(chain):
    # a real run of a two-cell notebook (~5 s: publishing needs a finished run) and a second run
    previous = chain["out"] / "2026-03"
    (previous / "targets").mkdir(parents=True)
    (previous / "targets" / "a.csv").write_text("previous run")
    run = _start_run(chain, "2026-03", "run:between-renames")  # runs the two-cell notebook
    _reached(chain, run, "run:between-renames")
    # the new run is complete beside it; run.json names the warehouse snapshot every notebook read
    (built,) = chain["out"].glob(".tmp-2026-03-*")
    doc = json.loads((built / "run.json").read_text())
    con = duckdb.connect(str(chain["wh"]), read_only=True)
    fp, loaded_at = con.execute("select fingerprint, loaded_at from _load_info").fetchone()
    con.close()
    assert (doc["warehouse"]["data_fingerprint"], doc["warehouse"]["data_loaded_at"]) == (
        fp,
        loaded_at.isoformat(),
    )
    assert (built / "targets" / "a.csv").read_text() == "2026-03"
    _kill(run)
    assert not previous.exists()  # killed between the renames: the month has no folder ...
    backup = list(chain["out"].glob(".old-2026-03-*"))
    assert [p.name[:12] for p in backup] == [".old-2026-03"]  # ... but its backup is there
    again = _start_run(chain, "2026-03", "run:building")
    _reached(chain, again, "run:building")
    _kill(again)
    assert (previous / "targets" / "a.csv").read_text() == "previous run"  # restored first
    assert not list(chain["out"].glob(".old-*")) and not (chain["out"] / built.name).exists()
