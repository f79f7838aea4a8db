"""Locks that keep loads and runs from mixing data, and find what killed ones left behind.

Three advisory file locks (``flock``; the kernel releases them when the holder dies, so a lock
that can be taken proves that nobody alive owns what it guards):

- the **warehouse lock** ``.locks/<warehouse name>.lock`` beside the warehouse: every ``userops run`` (and ``userops triggers``)
  holds it *shared* from choosing the month to publishing, so all its notebooks read one
  warehouse; ``userops load`` takes it *exclusive* only for the final rename over the warehouse,
  waiting up to ``USEROPS_LOCK_WAIT`` seconds (default 600) for runs to finish, then refusing;
- the **load lock** ``.locks/<warehouse name>.load.lock``: held exclusive for a whole load. Its holder owns
  the warehouse's temp files (``<warehouse>.*.tmp``, ``.tmp.wal``, ``.tmp.rejects.csv``); whoever
  can take it knows that any such file is left over from a killed load and removes it;
- the **month lock** ``<out_root>/.locks/<month>.lock``: held exclusive by a run of that month,
  so a second run of the same month refuses at once (or waits ``USEROPS_LOCK_WAIT`` seconds when
  set); runs of different months go side by side. Its holder removes the month's stale
  ``.tmp-<month>-*`` build folders and recovers a ``.old-<month>-*`` backup left by a run killed
  while publishing.

``checkpoint(name)`` is a test hook: with ``USEROPS_TEST_BLOCK_AT`` naming the point, the process
writes ``<USEROPS_TEST_BLOCK_DIR>/<name>.reached`` and blocks until ``<name>.go`` appears, so a
test can kill it (or act beside it) at exactly that point. Without the variable it does nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

WAIT_ENV = "USEROPS_LOCK_WAIT"
LOAD_WAIT_S = 600.0  # a load waits this long for runs reading the warehouse, then refuses
READ_WAIT_S = 60.0  # a run waits this long for a load's rename (a moment) or another load
MONTH_WAIT_S = 0.0  # a second run of the same month refuses at once
POLL_S = 0.05
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class LockBusy(RuntimeError):
    """A lock is held by another live process; the message says who and what to do."""


def wait_seconds(default: float) -> float:
    """``USEROPS_LOCK_WAIT`` (seconds) when set, else ``default``."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{WAIT_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{WAIT_ENV} must not be negative, got {raw!r}")
    return value


def _holder(path: Path) -> str:
    """What the holder wrote into an exclusive lock file: "pid N since HH:MM:SS UTC (what)"."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def acquire(path: Path, exclusive: bool, wait_s: float, what: str) -> int | None:
    """Open ``path`` and lock it (waiting up to ``wait_s``); the fd, or None when still busy.

    The holder of an exclusive lock writes its pid, start time and ``what`` into the file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + wait_s
    while not _try(fd, mode):
        if time.monotonic() >= deadline:
            os.close(fd)
            return None
        time.sleep(POLL_S)
    if exclusive:
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {since}: {what}\n".encode(), 0)
    return fd


def release(fd: int | None, path: Path | None = None) -> None:
    """Unlock and close; an exclusive holder first empties the file (no stale holder text)."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        if path is not None:
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


LOCK_DIR = ".locks"  # beside the warehouse and in the outputs folder


def warehouse_lock_path(warehouse: str | Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.parent / LOCK_DIR / f"{warehouse.name}.lock"


def load_lock_path(warehouse: str | Path) -> Path:
    warehouse = Path(warehouse)
    return warehouse.parent / LOCK_DIR / f"{warehouse.name}.load.lock"


def month_lock_path(out_root: str | Path, month: str) -> Path:
    return Path(out_root) / LOCK_DIR / f"{month}.lock"


@contextlib.contextmanager
def _holding(path: Path, exclusive: bool, wait: float, what: str, busy: str, unlink: bool) -> Iterator[None]:
    """Hold the lock at ``path`` (shared or exclusive) for the block; LockBusy(busy) after ``wait``."""
    fd = acquire(path, exclusive=exclusive, wait_s=wait, what=what)
    if fd is None:
        raise LockBusy(busy)
    try:
        yield
    finally:
        if unlink:
            release(fd, path)
        else:
            release(fd)


def reading(warehouse: str | Path, wait_s: float | None = None):
    """Hold the warehouse lock shared: no load replaces the warehouse meanwhile."""
    wait = wait_seconds(READ_WAIT_S) if wait_s is None else wait_s
    busy = (
        f"{warehouse} is being replaced by a `userops load` (waited {wait:g} s); "
        f"try again when the load has finished (or set {WAIT_ENV} to wait longer)"
    )
    return _holding(warehouse_lock_path(warehouse), False, wait, "read", busy, unlink=False)


def replacing(warehouse: str | Path, wait_s: float | None = None):
    """Hold the warehouse lock exclusive for the rename over the warehouse (no run is reading it)."""
    wait = wait_seconds(LOAD_WAIT_S) if wait_s is None else wait_s
    busy = (
        f"{warehouse} is in use by a running `userops run` or `userops triggers` "
        f"(waited {wait:g} s for it to finish); the warehouse is unchanged. Load again when the "
        f"run has finished (or set {WAIT_ENV} to wait longer)"
    )
    what = "userops load: replacing the warehouse"
    return _holding(warehouse_lock_path(warehouse), True, wait, what, busy, unlink=True)


def warehouse_temp_files(warehouse: str | Path) -> list[Path]:
    """Temp files of loads of this warehouse: ``<name>.*.tmp`` and its ``.wal`` / ``.rejects.csv`` /
    ``.stage`` (the staged inputs, userops.load.STAGE) / ``.stage.wal``."""
    warehouse = Path(warehouse)
    if not warehouse.parent.is_dir():
        return []
    found = []
    for pattern in (".*.tmp", ".*.tmp.wal", ".*.tmp.rejects.csv", ".*.tmp.stage", ".*.tmp.stage.wal"):
        found += warehouse.parent.glob(warehouse.name + pattern)
    return sorted(set(found))


def _remove_warehouse_temp_files(warehouse: Path) -> list[Path]:
    removed = []
    for path in warehouse_temp_files(warehouse):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


@contextlib.contextmanager
def loading(warehouse: str | Path, wait_s: float | None = None) -> Iterator[list[Path]]:
    """Hold the load lock for a whole load; yields the stale temp files it removed first."""
    warehouse = Path(warehouse)
    path = load_lock_path(warehouse)
    wait = wait_seconds(READ_WAIT_S) if wait_s is None else wait_s
    fd = acquire(path, exclusive=True, wait_s=wait, what="userops load")
    if fd is None:
        raise LockBusy(
            f"another `userops load` is building {warehouse}{_holder(path)} (waited {wait:g} s); "
            "nothing loaded: the warehouse is unchanged"
        )
    try:
        yield _remove_warehouse_temp_files(warehouse)
    finally:
        release(fd, path)


def clean_stale_warehouse_files(warehouse: str | Path) -> list[Path]:
    """Remove temp files of killed loads, unless a load is running now (its lock is held)."""
    warehouse = Path(warehouse)
    if not warehouse_temp_files(warehouse):
        return []
    fd = acquire(load_lock_path(warehouse), exclusive=True, wait_s=0, what="cleaning temp files")
    if fd is None:
        return []  # a live load owns them
    try:
        return _remove_warehouse_temp_files(warehouse)
    finally:
        release(fd, load_lock_path(warehouse))


@contextlib.contextmanager
def running_month(out_root: str | Path, month: str, wait_s: float | None = None) -> Iterator[list[Path]]:
    """Hold the month lock for one run; yields what it cleaned or recovered of killed runs first."""
    out_root = Path(out_root)
    path = month_lock_path(out_root, month)
    wait = wait_seconds(MONTH_WAIT_S) if wait_s is None else wait_s
    fd = acquire(path, exclusive=True, wait_s=wait, what=f"userops run --month {month}")
    if fd is None:
        raise LockBusy(
            f"another `userops run` of {month} is in progress{_holder(path)}; it will publish "
            f"{out_root / month}. Nothing was run: wait for it to finish (or set {WAIT_ENV} "
            "to wait for it)"
        )
    try:
        yield clean_month(out_root, month)
    finally:
        release(fd, path)


def stale_month_folders(out_root: Path, month: str) -> tuple[list[Path], list[Path]]:
    """(``.tmp-<month>-*`` build folders, ``.old-<month>-*`` publish backups) in ``out_root``."""
    if not out_root.is_dir():
        return [], []
    return sorted(out_root.glob(f".tmp-{month}-*")), sorted(out_root.glob(f".old-{month}-*"))


def clean_month(out_root: Path, month: str) -> list[Path]:
    """With the month lock held: recover a publish backup if the month folder is missing, then
    remove the build folders and backups that killed runs left. Returns the paths handled."""
    tmps, olds = stale_month_folders(out_root, month)
    final = out_root / month
    if olds and not final.exists():
        newest = max(olds, key=lambda p: p.stat().st_mtime)
        os.rename(newest, final)  # killed between the two renames of a publish: the old run is back
    for folder in tmps + olds:
        shutil.rmtree(folder, ignore_errors=True)
    return tmps + olds


def clean_other_months(out_root: Path, skip: str) -> list[Path]:
    """Clean killed runs' folders of other months whose lock is free (no run of them is alive)."""
    if not out_root.is_dir():
        return []
    names = [p.name.split("-", 1)[1][:7] for p in [*out_root.glob(".tmp-*"), *out_root.glob(".old-*")]]
    months = {m for m in names if MONTH_RE.match(m)}
    handled: list[Path] = []
    for month in sorted(months - {skip}):
        path = month_lock_path(out_root, month)
        fd = acquire(path, exclusive=True, wait_s=0, what=f"cleaning {month}")
        if fd is None:
            continue  # that month is being run now
        try:
            handled += clean_month(out_root, month)
        finally:
            release(fd, path)
    return handled


BLOCK_AT_ENV = "USEROPS_TEST_BLOCK_AT"
BLOCK_DIR_ENV = "USEROPS_TEST_BLOCK_DIR"
BLOCK_MAX_S = 120.0


def checkpoint(name: str) -> None:
    """Test hook: block at ``name`` when ``USEROPS_TEST_BLOCK_AT`` lists it (see module doc)."""
    wanted = os.environ.get(BLOCK_AT_ENV, "")
    if name not in [w.strip() for w in wanted.split(",")]:
        return
    folder = Path(os.environ[BLOCK_DIR_ENV])
    # written then renamed: a test polling for the flag never reads it empty (a half-written flag)
    flag = folder / f"{name}.reached"
    part = folder / f".{name}.reached.{os.getpid()}"
    part.write_text(str(os.getpid()), encoding="utf-8")
    os.replace(part, flag)
    deadline = time.monotonic() + BLOCK_MAX_S
    while not (folder / f"{name}.go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"test hook {name}: no {name}.go within {BLOCK_MAX_S:g} s")
        time.sleep(POLL_S)
