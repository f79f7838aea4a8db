"""The runner's lanes: scheduling (bounded, in order, after the plays a play reads), the DuckDB
budget the kernels share, and the lanes setting. No notebook runs here: fake work items."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from userops import lanes
from userops.triggers import MONTHLY_LIST_PLAYS, MONTHLY_LISTS

ROOT = Path(__file__).resolve().parents[2]
PLAYS = sorted(p.stem for p in (ROOT / "notebooks").glob("0[1-9]_*.ipynb"))


def _recorder():
    """work(item) that logs 'start x' / 'end x'; items named in `together` meet at a barrier (each
    waits until the other is running too: a scheduler running them one after the other breaks it)."""
    log, lock = [], threading.Lock()
    barrier = threading.Barrier(2, timeout=30)

    def work(item, together=()):
        with lock:
            log.append(f"start {item}")
        if item in together:
            barrier.wait()
        if item == "boom":
            raise ValueError("planted")
        with lock:
            log.append(f"end {item}")
        return item.upper()

    return log, work


def test_two_lanes_run_two_items_at_once_and_a_play_waits_for_what_it_reads():
    log, work = _recorder()
    out = lanes.run_lanes(["a", "b", "c"], lambda i: work(i, together={"a", "b"}), 2, {"c": {"a", "b"}})
    assert out == {"a": "A", "b": "B", "c": "C"}
    assert log[:2] == ["start a", "start b"]  # in the given order, both at once (the barrier)
    assert log.index("start c") > max(log.index("end a"), log.index("end b"))  # c after both


def test_one_lane_is_one_after_the_other_in_order():
    log, work = _recorder()
    assert lanes.run_lanes(["b", "a", "c"], work, 1) == {"b": "B", "a": "A", "c": "C"}
    assert log == ["start b", "end b", "start a", "end a", "start c", "end c"]


def test_a_failure_is_returned_and_stop_keeps_further_items_from_starting():
    log, work = _recorder()
    out = lanes.run_lanes(["boom", "x", "y"], work, 1, stop=lambda: "start boom" in log)
    assert list(out) == ["boom"] and isinstance(out["boom"], ValueError)
    assert log == ["start boom"]
    # without stop, the others still run (keep_going); a dependency outside the items is ignored
    log2, work2 = _recorder()
    out2 = lanes.run_lanes(["boom", "x"], work2, 2, {"x": {"boom", "not-run"}})
    assert out2["x"] == "X" and log2.index("start x") > log2.index("start boom")


def test_plays_waiting_for_each_other_in_a_circle_is_an_error():
    with pytest.raises(ValueError, match="circle"):
        lanes.run_lanes(["a", "b"], str, 2, {"a": {"b"}, "b": {"a"}})


def test_play_order_follows_the_contact_plan():
    # 02 writes expiring_coupons (priority 1), 03 category_reminders (4), 04 recall (6): a list leaves
    # out the users of the lists before it, so 03 waits for 02 and 04 for 02 and 03; 01 and 05 write
    # no monthly list and wait for nobody.
    assert lanes.play_order(PLAYS) == {
        "01_acquisition": set(),
        "02_new_user_retention": set(),
        "03_active_incentives": {"02_new_user_retention"},
        "04_churn_recall": {"02_new_user_retention", "03_active_incentives"},
        "05_personas": set(),
    }
    assert lanes.play_order(["04_churn_recall", "05_personas"]) == {
        "04_churn_recall": set(),
        "05_personas": set(),
    }
    spark = lanes.play_order(PLAYS, first_alone=True)  # the first kernel builds the derived tables
    assert spark["05_personas"] == {"01_acquisition"} and spark["01_acquisition"] == set()
    assert spark["04_churn_recall"] == {"01_acquisition", "02_new_user_retention", "03_active_incentives"}


def test_each_monthly_list_is_written_by_the_play_the_runner_thinks():
    """The notebook MONTHLY_LIST_PLAYS names imports the report module that plans that list."""
    assert set(MONTHLY_LIST_PLAYS) == set(MONTHLY_LISTS)
    for name, play in MONTHLY_LIST_PLAYS.items():
        modules = [
            p.stem
            for p in (ROOT / "lib" / "userops").glob("*_report.py")
            if re.search(rf"plan_target\(\s*\"{name}\"", p.read_text(encoding="utf-8"))
        ]
        assert len(modules) == 1, (name, modules)
        cells = json.loads((ROOT / "notebooks" / f"{play}.ipynb").read_text(encoding="utf-8"))["cells"]
        source = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert f"import {modules[0]}" in source, (name, play, modules[0])


def test_kernel_budget_splits_memory_and_threads(monkeypatch):
    for env in lanes.RESOURCE_ENV.values():
        monkeypatch.delenv(env, raising=False)
    settings = {"memory_limit": "2GB", "threads": 2, "temp_directory": "/spill"}
    assert lanes.kernel_budget(settings, 2) == {
        "memory_limit": "1000MB",
        "threads": "1",
        "temp_directory": "/spill",
    }
    assert lanes.kernel_budget(settings, 1) == {
        "memory_limit": "2GB",
        "threads": "2",
        "temp_directory": "/spill",
    }
    assert lanes.kernel_budget({"memory_limit": "3GiB", "threads": 8}, 3) == {
        "memory_limit": "1073MB",  # 3 * 2**30 / 3 = 1,073,741,824 bytes
        "threads": "2",  # 8 // 3
    }
    assert lanes.kernel_budget({"memory_limit": "1GB", "threads": 1}, 2)["threads"] == "1"  # never 0
    capped = lanes.kernel_budget({"memory_limit": "2GB", "max_temp_directory_size": "10GB"}, 2)
    assert capped["max_temp_directory_size"] == "5000MB"  # the spill cap shared too
    monkeypatch.setenv("USEROPS_DUCKDB_MEMORY_LIMIT", "3GB")  # the environment wins over params
    assert lanes.kernel_budget(settings, 2)["memory_limit"] == "1500MB"
    monkeypatch.delenv("USEROPS_DUCKDB_MEMORY_LIMIT")
    monkeypatch.setattr(lanes, "machine_cores", lambda: 4)
    unset = lanes.kernel_budget({}, 2)  # DuckDB's defaults shared: 80% of the RAM, every core
    ram = Path("/proc/meminfo").read_text().split()[1]  # MemTotal in kB
    assert abs(int(unset["memory_limit"][:-2]) - int(ram) * 1024 * 0.8 / 2 / 10**6) < 1
    assert unset["threads"] == "2"
    with pytest.raises(ValueError, match="not a memory size"):
        lanes.memory_bytes("lots")


def test_kernel_env_gives_the_budget_to_kernels_and_restores(monkeypatch):
    monkeypatch.setenv("USEROPS_DUCKDB_MEMORY_LIMIT", "2GB")
    monkeypatch.delenv("USEROPS_DUCKDB_THREADS", raising=False)
    with lanes.kernel_env({"memory_limit": "1000MB", "threads": "1"}):
        import os

        assert (os.environ["USEROPS_DUCKDB_MEMORY_LIMIT"], os.environ["USEROPS_DUCKDB_THREADS"]) == (
            "1000MB",
            "1",
        )
    assert os.environ["USEROPS_DUCKDB_MEMORY_LIMIT"] == "2GB" and "USEROPS_DUCKDB_THREADS" not in os.environ


def test_resolve_lanes_flag_then_environment_then_params_then_cores(monkeypatch):
    monkeypatch.delenv(lanes.LANES_ENV, raising=False)
    monkeypatch.setattr(lanes, "machine_cores", lambda: 2)
    assert lanes.resolve_lanes() == 2
    monkeypatch.setattr(lanes, "machine_cores", lambda: 16)
    assert lanes.resolve_lanes() == lanes.MAX_DEFAULT_LANES == 4
    assert lanes.resolve_lanes(None, 3) == 3
    assert lanes.resolve_lanes(None, None, 1) == 1  # the Spark engine's default
    monkeypatch.setenv(lanes.LANES_ENV, "1")
    assert lanes.resolve_lanes(None, 3) == 1
    assert lanes.resolve_lanes(2, 3) == 2
    monkeypatch.setenv(lanes.LANES_ENV, "two")
    with pytest.raises(ValueError, match="USEROPS_RUN_LANES"):
        lanes.resolve_lanes()
    with pytest.raises(ValueError, match=">= 1"):
        lanes.resolve_lanes(0)


def test_an_interrupted_run_ends_the_running_work_before_waiting_for_it():
    aborted, calls = [], []

    def stop():  # Ctrl-C reaches the main thread while it schedules
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        lanes.run_lanes(["a", "b"], str.upper, 1, stop=stop, on_abort=lambda: aborted.append(True))
    assert aborted == [True]
