"""Run a month's notebooks side by side: lanes, the order plays must keep, each kernel's DuckDB share.

A notebook's kernel spends much of its time in Python (start-up imports, pandas, model fits, charts)
with one core busy; on a machine with two or more cores the runner executes up to ``lanes`` plays at
once (:func:`run_lanes`), each starting when the plays it reads have finished (:func:`play_order`).

**Lanes** (:func:`resolve_lanes`): ``userops run --lanes N``, else ``USEROPS_RUN_LANES``, else params
``run.lanes``, else the machine's cores, at most :data:`MAX_DEFAULT_LANES` (1 = one notebook at a time).

**DuckDB budget** (:func:`kernel_budget`): the run's DuckDB memory limit and threads (params
``duckdb``, ``USEROPS_DUCKDB_*`` winning; unset: DuckDB's own defaults, 80% of the RAM and every core)
are the machine's budget for all kernels together: each of ``lanes`` concurrent kernels gets
``memory_limit / lanes``, ``max(1, threads // lanes)`` and, when set, ``max_temp_directory_size /
lanes`` (given to the kernels through the
``USEROPS_DUCKDB_*`` environment, :func:`kernel_env`). The summary notebooks, which run alone after
every play, get the whole budget.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from userops.db import RESOURCE_ENV, duckdb_config

LANES_ENV = "USEROPS_RUN_LANES"
MAX_DEFAULT_LANES = 4
DUCKDB_DEFAULT_MEMORY_SHARE = 0.8  # DuckDB's default memory_limit: 80% of the RAM
_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
_UNITS["TIB"] = 2**40


def machine_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def resolve_lanes(
    given: int | None = None, params_lanes: int | None = None, default: int | None = None
) -> int:
    """``given`` (``--lanes``), else ``USEROPS_RUN_LANES``, else params ``run.lanes``, else ``default``,
    else the cores (at most :data:`MAX_DEFAULT_LANES`)."""
    if given is not None and given < 1:
        raise ValueError(f"lanes must be >= 1, got {given}")
    raw = os.environ.get(LANES_ENV, "").strip()
    if given is None and raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{LANES_ENV} must be a whole number of lanes >= 1, got {raw!r}")
        given = int(raw)
    return given or params_lanes or default or min(machine_cores(), MAX_DEFAULT_LANES)


def memory_bytes(text: str) -> int:
    """'2GB' -> 2_000_000_000, '1.5 GiB' -> 1_610_612_736 (DuckDB's units: KB = 1000, KiB = 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a memory size: {text!r} (e.g. 2GB, 1.5GiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def kernel_budget(settings: dict | None, lanes: int) -> dict[str, str]:
    """The DuckDB settings of each of ``lanes`` kernels running at once (see the module docstring).

    ``settings``: params ``duckdb`` (memory_limit, threads, temp_directory); the environment wins.
    One lane: the settings as they are."""
    cfg = duckdb_config(settings)
    if lanes == 1:
        return cfg
    if cfg.get("memory_limit"):
        total = memory_bytes(cfg["memory_limit"])
    else:
        total = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * DUCKDB_DEFAULT_MEMORY_SHARE)
    threads = int(cfg.get("threads") or machine_cores())
    out = {**cfg, "memory_limit": f"{total // lanes // 10**6}MB", "threads": str(max(1, threads // lanes))}
    if cfg.get("max_temp_directory_size"):  # the spill cap is a disk budget shared the same way
        out["max_temp_directory_size"] = f"{memory_bytes(cfg['max_temp_directory_size']) // lanes // 10**6}MB"
    return out


@contextlib.contextmanager
def kernel_env(budget: dict[str, str]) -> Iterator[None]:
    """The kernels started inside get ``budget`` (``USEROPS_DUCKDB_*``); restored after."""
    before = {env: os.environ.get(env) for env in RESOURCE_ENV.values()}
    os.environ.update({RESOURCE_ENV[k]: v for k, v in budget.items()})
    try:
        yield
    finally:
        for env, value in before.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


def play_order(stems: list[str], first_alone: bool = False) -> dict[str, set[str]]:
    """Which plays each play of ``stems`` waits for: a play whose monthly list comes after another
    list in the one contact plan (``triggers.MONTHLY_LISTS``: it leaves out the users on the lists of
    higher priority written in this run) starts after the plays writing those. With ``first_alone``
    (the Spark engine: the run's first kernel builds the derived tables the others read) every play
    also waits for the first."""
    from userops.triggers import MONTHLY_LIST_PLAYS, MONTHLY_LISTS

    def lists_of(stem: str) -> list[int]:
        return [MONTHLY_LISTS[name] for name, play in MONTHLY_LIST_PLAYS.items() if play == stem]

    after: dict[str, set[str]] = {}
    for stem in stems:
        mine = lists_of(stem)
        after[stem] = {
            other
            for other in stems
            if other != stem and mine and lists_of(other) and min(lists_of(other)) < min(mine)
        }
        if first_alone and stem != stems[0]:
            after[stem].add(stems[0])
    return after


def run_lanes(
    items: list[Hashable],
    work: Callable[[Hashable], object],
    lanes: int,
    after: dict | None = None,
    stop: Callable[[], bool] = lambda: False,
    on_abort: Callable[[], None] | None = None,
) -> dict:
    """``work(item)`` for each item, at most ``lanes`` at once, in ``items`` order among those ready:
    an item starts once every item of ``after[item]`` that is in ``items`` has finished (succeeded or
    raised). Once ``stop()`` is true no further item starts (the running ones finish). Interrupted
    (Ctrl-C), ``on_abort()`` is called before waiting for the running items (it should end them).

    Returns {item: its result or the exception it raised}, for the items that ran."""
    after = {i: set(after.get(i, ())) & set(items) if after else set() for i in items}
    pending, running, done = list(items), {}, {}
    with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="userops-lane") as pool:
        try:
            while pending or running:
                if not stop():
                    for item in [i for i in pending if after[i] <= done.keys()][: lanes - len(running)]:
                        pending.remove(item)
                        running[pool.submit(work, item)] = item
                if not running:
                    if pending and not stop():
                        raise ValueError(f"the plays wait for each other in a circle: {pending}")
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    done[running.pop(future)] = _outcome(future)
        except BaseException:
            if on_abort is not None:
                on_abort()
            raise
    return done


def end_children() -> None:
    """SIGTERM to this process's child processes (the kernels the lanes started, the PDF browser):
    an interrupted run does not wait for them. Without psutil (ipykernel's), nothing."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - ipykernel brings psutil
        return
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            child.terminate()


def _outcome(future: Future):
    exc = future.exception()
    return exc if exc is not None else future.result()
