"""The monthly run: execute every playbook notebook with papermill, export PDFs, publish atomically.

Layout of a finished run (``out_root/<month>/``)::

    notebooks/<name>.ipynb   executed copies
    notebooks/<name>.failed.ipynb  executed copy of a notebook that failed (``keep_going`` only)
    pdf/<name>.pdf           leadership PDFs (no code)
    pdf/monthly_brief.pdf    the combined brief: cover + the 00 brief (when 00_*.ipynb ran)
    targets/                 CSV lists written by the notebooks (via ``output_dir``)
    metrics.json             written by the notebooks (via ``output_dir``)
    run_status.json          plays succeeded / failed / skipped / carried over (userops.run_status)
    run.json                 provenance: month, inputs, kernel, code version, timings, failures

The plays run in lanes (``--lanes``, :mod:`userops.lanes`; two on a two-core machine), up to that
many at once, in name order among those ready: a play starts after the plays whose target lists it
reads (the one contact plan, ``triggers.MONTHLY_LIST_PLAYS``). Their kernels share the DuckDB budget
(memory limit and threads split between the lanes). Each notebook writes into its own scratch copy
of the run folder (``.tmp-<month>-*.<notebook>``); when it finishes, what it wrote is moved into the
run folder (its outputs in run.json) and its metrics.json changes are merged (under a lock): two
lanes never mix or lose each other's outputs. Summary notebooks (``00_*``, the monthly brief) run
last, alone, because they read the plays' metrics.json and target lists. The PDFs are exported
in a PDF lane (one browser for the run) while later notebooks execute. run.json lists the
notebooks in execution order, never in the order they finished.

Everything is built in ``out_root/.tmp-<month>-<random>/`` and only renamed to
``out_root/<month>/`` at the end (the old folder is renamed to a backup first and deleted after;
a run killed in between leaves the backup, which the next run of the month puts back). By default
a failure stops the run, removes the temp folder and leaves any previous ``out_root/<month>/`` as
it was. A run holds two locks (userops.locks): the warehouse lock, shared, so no load replaces the
data under it, and the month lock, so a second run of the same month refuses.

With ``keep_going`` (``userops run --keep-going``, ``make``) a failing notebook does not stop the
run: what it wrote is rolled back (its targets and metrics.json section are left out, its PDF is
not made; run.json records the files each notebook wrote, so an ``only`` re-run first removes
what the notebook left last time), its executed copy is kept as ``notebooks/<name>.failed.ipynb`` (the traceback for the
analyst; never listed as a report), the other notebooks run and are published, the failures go to
run.json and run_status.json, and :class:`RunIncomplete` is raised after publishing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from userops import lanes as _lanes
from userops import locks, run_status
from userops.engine import RUN_ID_ENV
from userops.export import Cover, ExportError, PdfBrowser, notebook_to_pdf
from userops.outputs import PSEUDONYMS_ENV, ensure_salt, git_commit, pseudonym_dir, update_json

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
FAILED_SUFFIX = ".failed.ipynb"  # executed copy of a notebook that failed (keep_going)
PREFERRED_KERNEL = "userops"
FALLBACK_KERNEL = "python3"
SUMMARY_PREFIX = "00_"  # notebooks that summarise the plays: executed after them
COMBINED_PDF = "monthly_brief.pdf"
COMBINED_TITLE = "月度用户运营简报 · Monthly user-operations brief"


class NotebookFailed(RuntimeError):
    """A playbook notebook raised while executing (or could not be executed / exported)."""

    def __init__(
        self,
        notebook: str,
        message: str,
        cell_index: int | None = None,
        source_line: str | None = None,
        ename: str | None = None,
        evalue: str | None = None,
        traceback: list[str] | None = None,
    ):
        self.notebook = notebook
        self.cell_index = cell_index
        self.source_line = source_line
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback or []
        super().__init__(message)


class SnapshotChanged(RuntimeError):
    """A notebook read other data than the run's snapshot (the warehouse was replaced bypassing
    `userops load`, e.g. copied over): nothing is published."""


class RunIncomplete(RuntimeError):
    """A ``keep_going`` run published what succeeded, but some notebooks failed."""

    def __init__(self, final: Path, failures: list[NotebookFailed]):
        self.final = final
        self.failures = failures
        lines = [f"{len(failures)} notebook(s) failed; the others are published in {final}:"]
        lines += [f"  - {f}".replace("\n", "\n    ") for f in failures]
        super().__init__("\n".join(lines))


@dataclass
class _Step:
    name: str
    execute_s: float
    pdf_s: float
    outputs: list[str]


def _failure_record(err: NotebookFailed) -> dict:
    """A failure as stored in run.json: notebook, cell, the cell's first line, error name and value."""
    return {
        "notebook": Path(err.notebook).stem,
        "cell": err.cell_index,
        "source_line": err.source_line,
        "ename": err.ename,
        "evalue": err.evalue,
        "error": f"{err.ename}: {err.evalue}" if err.ename else str(err),
    }


def discover_notebooks(notebooks_dir: Path, only: list[str] | None = None) -> list[Path]:
    """Playbook notebooks (``NN_name.ipynb``) in name order, optionally filtered by ``only``.

    ``only`` entries may be a file name ("01_acquisition.ipynb"), a stem
    ("01_acquisition"), the number ("01") or the play name ("acquisition").
    """
    notebooks_dir = Path(notebooks_dir)
    found = sorted(notebooks_dir.glob(NOTEBOOK_GLOB))
    if not found:
        raise FileNotFoundError(f"no playbook notebooks ({NOTEBOOK_GLOB}) in {notebooks_dir}")
    if not only:
        return found
    chosen: list[Path] = []
    for want in only:
        key = want.removesuffix(".ipynb")
        hits = [p for p in found if key in (p.stem, p.stem[:2], p.stem[3:])]
        if not hits:
            names = ", ".join(p.stem for p in found)
            raise ValueError(f"no notebook matches {want!r}; available: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def execution_order(notebooks: list[Path]) -> list[Path]:
    """Plays in name order, then the summary notebooks (``00_*``) that read their results."""
    plays = sorted(p for p in notebooks if not p.name.startswith(SUMMARY_PREFIX))
    return plays + sorted(p for p in notebooks if p.name.startswith(SUMMARY_PREFIX))


def notebook_title(ipynb: Path) -> str:
    """The first line of the notebook's first markdown cell, without the leading '#'."""
    try:
        nb = nbformat.read(ipynb, as_version=4)
    except Exception:
        return ipynb.stem
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            return cell.source.strip().splitlines()[0].lstrip("#").strip()
    return ipynb.stem


def _chain_name(params_file: Path) -> str:
    from userops.params import load_params

    return load_params(params_file).chain_name


def brief_cover(run_dir: Path, month: str, params_file: Path, run_date: str) -> Cover:
    """Cover of the combined brief in the report language: chain name, month, run date, the run's reports."""
    from userops import i18n
    from userops.params import load_params
    from userops.period import Period

    params = load_params(params_file)
    i18n.set_language(params.report.language, params.report.display_names)
    p = Period(month)
    contents = []
    for nb in sorted((run_dir / "notebooks").glob(NOTEBOOK_GLOB)):
        if nb.name.endswith(FAILED_SUFFIX):
            continue
        name = i18n.name("play", nb.stem) if i18n.known("play", nb.stem) else notebook_title(nb)
        here = i18n.t("cover.this_document") if nb.name.startswith(SUMMARY_PREFIX) else ""
        contents.append(f"{nb.stem[:2]} · {name}{here}")  # no file names (code) on the cover
    return Cover(
        chain_name=params.chain_name,
        title=i18n.t("cover.title"),
        month_label=i18n.t("common.month_code", label=i18n.month(p), code=month),
        run_date=run_date,
        notes=[i18n.t("cover.data_as_of", as_of=p.as_of, prev=i18n.month(p.prev)), *_status_notes(run_dir)],
        contents=contents,
        labels={"run_date": i18n.t("cover.run_date", date=run_date), "contents": i18n.t("cover.contents")},
    )


def _status_notes(run_dir: Path) -> list[str]:
    """Cover lines naming the plays that failed or did not run (from run_status.json)."""
    from userops import i18n

    status = run_status.read(run_dir)
    notes = []
    for key in ("failed", "skipped"):
        if status[key]:
            names = [
                i18n.name("play", e["notebook"])
                if i18n.known("play", e["notebook"])
                else (e.get("title") or e["notebook"])
                for e in status[key]
            ]
            notes.append(i18n.t(f"cover.{key}", plays=i18n.t("common.list_sep").join(names)))
    return notes


def choose_kernel(kernel_name: str | None = None) -> str:
    """``kernel_name`` if given, else the "userops" kernel if installed, else "python3"."""
    if kernel_name:
        return kernel_name
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().find_kernel_specs()
    except Exception:  # pragma: no cover - broken jupyter install: let papermill report it
        specs = {}
    return PREFERRED_KERNEL if PREFERRED_KERNEL in specs else FALLBACK_KERNEL


def _source_cell_index(executed: Path, cell_index: int) -> int:
    """Map a cell index of the executed notebook to the source notebook (papermill inserts one cell)."""
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:
        return cell_index
    for i, cell in enumerate(nb.cells):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            return cell_index - 1 if cell_index > i else cell_index
    return cell_index


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _execution_failure(nb_path: Path, executed: Path, exc: Exception) -> NotebookFailed:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        idx = _source_cell_index(executed, exc.cell_index)
        first = next((ln.strip() for ln in (exc.source or "").splitlines() if ln.strip()), "")
        msg = (
            f"{nb_path.name} failed at cell {idx} (the {_ordinal(idx + 1)} cell): `{first}`\n"
            f"  {exc.ename}: {exc.evalue}"
        )
        return NotebookFailed(nb_path.name, msg, idx, first, exc.ename, exc.evalue, list(exc.traceback or []))
    msg = f"{nb_path.name} could not be executed: {type(exc).__name__}: {exc}"
    return NotebookFailed(nb_path.name, msg, ename=type(exc).__name__, evalue=str(exc))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_provenance(
    run_dir: Path,
    job: _Job,
    steps: list[_Step],
    failures: list[NotebookFailed],
    started: float,
) -> None:
    stat = job.warehouse.stat()
    info = {
        "month": job.month,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "kernel": job.kernel,
        "python": sys.version.split()[0],
        "code_version": git_commit(),
        "warehouse": {
            "path": str(job.warehouse),
            "bytes": stat.st_size,
            "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(timespec="seconds"),
            # the one snapshot every notebook read (the warehouse lock kept loads out meanwhile)
            **job.data,
        },
        "params_file": {"path": str(job.params_file), "sha256": _sha256(job.params_file)},
        "keep_going": job.keep_going,
        "lanes": job.lanes,
        # what each play's DuckDB got (the lanes' share of the budget; {}: DuckDB's own defaults)
        "duckdb_per_play_kernel": job.kernel_budget,
        "notebooks": [
            {
                "name": s.name,
                "execute_s": round(s.execute_s, 2),
                "pdf_s": round(s.pdf_s, 2),
                "outputs": s.outputs,
            }
            for s in steps
        ],
        "failures": [_failure_record(f) for f in failures],
    }
    (run_dir / "run.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _publish(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp``: rename the old folder to a backup, rename the new one in, delete
    the backup. A run killed between the two renames leaves the backup ``.old-<month>-*``, which the
    next run of the month (holding the month lock) renames back before anything else."""
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{secrets.token_hex(4)}")
        os.rename(final, old)
        locks.checkpoint("run:between-renames")
    try:
        os.rename(tmp, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class _Job:
    """What every notebook of one run is given."""

    month: str
    warehouse: Path
    params_file: Path
    notebooks_dir: Path
    kernel: str
    pdf: bool
    progress: bool
    keep_going: bool
    data: dict  # fingerprint and load time of the warehouse snapshot the run reads
    lanes: int = 1  # plays executed at once (userops.lanes)
    duckdb: dict = field(default_factory=dict)  # params duckdb: the budget the lanes' kernels share
    first_alone: bool = False  # the first play runs alone (Spark: it builds the shared derived tables)
    kernel_budget: dict = field(default_factory=dict)  # the DuckDB settings each play's kernel got


def _snapshot_info(warehouse: Path) -> dict:
    """Fingerprint and load time of the warehouse (what every notebook of the run reads)."""
    import duckdb

    from userops.db import load_info

    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return {"data_fingerprint": None, "data_loaded_at": None}
    try:
        info = load_info(con)
    except duckdb.Error:  # not built by `userops load` (no _load_info table)
        return {"data_fingerprint": None, "data_loaded_at": None}
    finally:
        con.close()
    return {"data_fingerprint": info["fingerprint"], "data_loaded_at": info["loaded_at"]}


# files and folders the runner itself writes; everything else in the run folder came from a notebook
RUNNER_OWNED = {"notebooks", "pdf", "metrics.json", "run.json", run_status.FILE}


def _output_state(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file the notebooks wrote into the run folder (targets/ ...)."""
    state = {}
    for path in run_dir.rglob("*"):
        rel = path.relative_to(run_dir)
        if rel.parts[0] not in RUNNER_OWNED and path.is_file():
            st = path.stat()
            state[rel.as_posix()] = (st.st_size, st.st_mtime_ns)
    return state


def _written_since(run_dir: Path, before: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(k for k, v in _output_state(run_dir).items() if before.get(k) != v)


def _drop_metrics_section(run_dir: Path, play: str) -> None:
    """metrics.json without ``play``'s section (removed when no play is left in it)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return

    def drop(doc: dict) -> dict | None:
        doc.get("plays", {}).pop(play, None)
        return doc if doc.get("plays") else None

    update_json(path, drop)


def _drop_play_outputs(run_dir: Path, nb_path: Path, previous_outputs: list[str]) -> None:
    """Remove what an earlier run of this notebook left (``only`` carries the month folder over)."""
    stem = nb_path.stem
    own = [f"notebooks/{nb_path.name}", f"notebooks/{stem}{FAILED_SUFFIX}", f"pdf/{stem}.pdf"]
    for rel in own + [r for r in previous_outputs if ".." not in Path(r).parts]:
        (run_dir / rel).unlink(missing_ok=True)
    _drop_metrics_section(run_dir, stem)


def _keep_failed_copy(run_dir: Path, nb_path: Path) -> None:
    """The executed copy of a failed notebook becomes ``<stem>.failed.ipynb``; it has no PDF."""
    (run_dir / "pdf" / f"{nb_path.stem}.pdf").unlink(missing_ok=True)
    executed = run_dir / "notebooks" / nb_path.name
    if executed.exists():
        os.replace(executed, executed.with_name(nb_path.stem + FAILED_SUFFIX))


def _roll_back(run_dir: Path, nb_path: Path, outputs: list[str]) -> None:
    """Leave out what a notebook wrote (its files, its metrics.json section) after its PDF failed."""
    for rel in outputs:
        (run_dir / rel).unlink(missing_ok=True)
    _drop_metrics_section(run_dir, nb_path.stem)
    _keep_failed_copy(run_dir, nb_path)


# --------------------------------------------------------------------------- one notebook, in a lane


def _open_scratch(run_dir: Path, nb_path: Path) -> Path:
    """The folder a notebook writes into (its ``output_dir``): a copy of the run folder beside it
    (``.tmp-<month>-*``: removed with the run's temp folder, also when a run is killed), without
    the PDFs, and without the executed notebooks unless it is a summary notebook (which reads
    them). What the notebook changes there is its own: nothing another lane writes meanwhile."""
    scratch = run_dir.with_name(f"{run_dir.name}.{nb_path.stem}")
    shutil.rmtree(scratch, ignore_errors=True)
    skip = {"pdf"} if nb_path.name.startswith(SUMMARY_PREFIX) else {"pdf", "notebooks"}
    shutil.copytree(
        run_dir,
        scratch,
        symlinks=True,
        ignore=lambda d, names: skip & set(names) if Path(d) == run_dir else [],
    )
    return scratch


_MISSING = object()


def merged_json(doc: dict, start: dict, mine: dict, depth: int = 2) -> dict:
    """``doc`` with the changes one writer made from ``start`` to ``mine`` (keys it set, changed or
    removed), ``depth`` levels down: a metrics.json section another lane merged meanwhile stays."""
    out = dict(doc)
    for key in [*mine, *(k for k in start if k not in mine)]:
        old, new = start.get(key, _MISSING), mine.get(key, _MISSING)
        if old == new:
            continue
        if new is _MISSING:
            out.pop(key, None)
        elif depth > 1 and isinstance(new, dict) and isinstance(out.get(key), dict):
            out[key] = merged_json(out[key], old if isinstance(old, dict) else {}, new, depth - 1)
        else:
            out[key] = new
    if isinstance(out.get("plays"), dict):
        out["plays"] = dict(sorted(out["plays"].items()))
    return out


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _merge_scratch(run_dir: Path, scratch: Path, before: dict, metrics_start: dict) -> list[str]:
    """Move what the notebook wrote in ``scratch`` into the run folder and merge its metrics.json
    changes; returns the files it wrote (its outputs in run.json). Called under the run's lock."""
    now = _output_state(scratch)
    written = sorted(k for k, v in now.items() if before.get(k) != v)
    for rel in before.keys() - now.keys():  # removed by the notebook
        (run_dir / rel).unlink(missing_ok=True)
    for rel in written:
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch / rel, run_dir / rel)
    mine = _read_json(scratch / "metrics.json")
    if mine != metrics_start:
        update_json(run_dir / "metrics.json", lambda doc: merged_json(doc, metrics_start, mine))
    return written


def _execute(job: _Job, nb_path: Path, run_dir: Path, scratch: Path) -> float:
    """Execute one notebook (its copy into ``run_dir/notebooks``, ``output_dir`` = ``scratch``);
    returns its seconds; raises :class:`NotebookFailed`."""
    import papermill as pm

    executed = run_dir / "notebooks" / nb_path.name
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(
            str(nb_path),
            str(executed),
            parameters={
                "month": job.month,
                "warehouse": str(job.warehouse),
                "params_file": str(job.params_file),
                "output_dir": str(scratch),
            },
            kernel_name=job.kernel,
            # the kernel starts in the notebooks' folder (nbclient's resources path); papermill's own
            # cwd= changes the whole process's folder, which lanes running at once would leave wrong
            resources={"metadata": {"path": str(job.notebooks_dir)}},
            progress_bar=False,
            log_output=False,
        )
    except Exception as exc:
        if job.progress:
            print(f"  {nb_path.stem:<32} FAILED after {time.perf_counter() - t0:.1f} s", flush=True)
        raise _execution_failure(nb_path, executed, exc) from exc
    t_exec = time.perf_counter() - t0
    if job.progress:
        print(f"  {nb_path.stem:<32} {t_exec:6.1f} s", flush=True)
    return t_exec


@dataclass
class _Build:
    """One run's build, shared by its lanes and its PDF lane (``lock`` guards the run folder)."""

    job: _Job
    tmp: Path
    previous_outputs: dict[str, list[str]]
    lock: threading.Lock = field(default_factory=threading.Lock)
    steps: dict[str, _Step] = field(default_factory=dict)
    failures: dict[str, NotebookFailed] = field(default_factory=dict)
    pdfs: list[Future] = field(default_factory=list)
    pdf_pool: ThreadPoolExecutor | None = None
    browser: PdfBrowser | ExportError | None = None

    def stopped(self) -> bool:
        """A failure without ``keep_going``: no further notebook starts."""
        return bool(self.failures) and not self.job.keep_going

    def ordered(self, notebooks: list[Path]) -> tuple[list[_Step], list[NotebookFailed]]:
        """Steps and failures in execution order (never the order they finished in)."""
        names = [p.stem for p in notebooks] + [COMBINED_PDF]
        return (
            [self.steps[n] for n in names if n in self.steps],
            [self.failures[n] for n in names if n in self.failures],
        )


def _run_one(build: _Build, nb_path: Path) -> None:
    """Execute one notebook in its scratch folder, merge what it wrote, queue its PDF. A failure is
    recorded (with ``keep_going`` nothing it wrote is kept, its executed copy is ``.failed``)."""
    job, tmp = build.job, build.tmp
    with build.lock:
        _drop_play_outputs(tmp, nb_path, build.previous_outputs.get(nb_path.stem, []))
        scratch = _open_scratch(tmp, nb_path)
    try:
        before, metrics_start = _output_state(scratch), _read_json(scratch / "metrics.json")
        t_exec = _execute(job, nb_path, tmp, scratch)
        with build.lock:
            step = _Step(nb_path.stem, t_exec, 0.0, _merge_scratch(tmp, scratch, before, metrics_start))
            build.steps[step.name] = step
    except NotebookFailed as err:
        with build.lock:
            if job.keep_going:
                _keep_failed_copy(tmp, nb_path)
            build.failures[nb_path.stem] = err
        return
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if job.pdf:
        build.pdfs.append(build.pdf_pool.submit(_export_pdf, build, nb_path, step))


def _export_pdf(build: _Build, nb_path: Path, step: _Step) -> None:
    """The notebook's PDF (the PDF lane: one at a time, one browser); a failure fails the notebook
    (with ``keep_going`` what it wrote is rolled back)."""
    job, tmp = build.job, build.tmp
    t1 = time.perf_counter()
    try:
        if isinstance(build.browser, ExportError):
            raise build.browser
        notebook_to_pdf(
            tmp / "notebooks" / nb_path.name,
            tmp / "pdf" / f"{nb_path.stem}.pdf",
            title=f"{nb_path.stem} {job.month}",
            browser=build.browser,
        )
    except Exception as exc:
        err = NotebookFailed(
            nb_path.name,
            f"{nb_path.name} ran, but its PDF export failed: {exc}",
            ename=type(exc).__name__,
            evalue=str(exc),
        )
        with build.lock:
            if job.keep_going:
                _roll_back(tmp, nb_path, step.outputs)
            build.steps.pop(step.name, None)
            build.failures[step.name] = err
        return
    step.pdf_s = time.perf_counter() - t1
    if job.progress:
        print(f"  {nb_path.stem:<32} {'':>6}    pdf {step.pdf_s:5.1f} s", flush=True)


def _wait_pdfs(build: _Build) -> None:
    """Wait for the PDFs queued so far (none is left queued after a failure without keep_going)."""
    if build.stopped():
        for future in build.pdfs:
            future.cancel()
    for future in list(build.pdfs):
        if not future.cancelled():
            future.result()


@contextlib.contextmanager
def _pdf_lane(build: _Build):
    """One thread exporting the run's PDFs while the lanes execute, and one browser for all of them
    (started now: it boots while the first notebooks run)."""
    if not build.job.pdf:
        yield
        return
    try:
        build.browser = PdfBrowser()
    except ExportError as exc:  # no browser: each notebook's PDF fails with this error
        build.browser = exc
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="userops-pdf") as pool:
            build.pdf_pool = pool
            try:
                yield
            finally:
                _wait_pdfs(build)
    finally:
        if isinstance(build.browser, PdfBrowser):
            build.browser.close()


def _combined_pdf(build: _Build, brief: Path, started: float) -> None:
    """pdf/monthly_brief.pdf: cover + the executed summary notebook (a failure is recorded)."""
    job, run_dir = build.job, build.tmp
    t1 = time.perf_counter()
    brief_nb = run_dir / "notebooks" / brief.name
    run_date = datetime.fromtimestamp(started).date().isoformat()
    try:
        if isinstance(build.browser, ExportError):
            raise build.browser
        notebook_to_pdf(
            brief_nb,
            run_dir / "pdf" / COMBINED_PDF,
            title=f"{COMBINED_TITLE} {job.month}",
            cover=brief_cover(run_dir, job.month, job.params_file, run_date),
            browser=build.browser,
        )
    except Exception as exc:
        (run_dir / "pdf" / COMBINED_PDF).unlink(missing_ok=True)
        build.failures[COMBINED_PDF] = NotebookFailed(
            brief_nb.name,
            f"the combined brief PDF ({COMBINED_PDF}) failed: {exc}",
            ename=type(exc).__name__,
            evalue=str(exc),
        )
        return
    if job.progress:
        print(f"  {COMBINED_PDF:<32} {'':>6}    pdf {time.perf_counter() - t1:5.1f} s", flush=True)


def _write_status(
    run_dir: Path, job: _Job, titles: dict, ran: list[str], failures: list, previous: Path | None
) -> None:
    records = [_failure_record(f) for f in failures]
    run_status.write(run_dir, run_status.build(job.month, titles, ran, records, previous))


def _previous_outputs(final: Path) -> dict[str, list[str]]:
    """Files each notebook wrote in the previous run of the month (its run.json), by notebook stem."""
    try:
        doc = json.loads((final / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {n["name"]: list(n.get("outputs", [])) for n in doc.get("notebooks", [])}


def selected_notebooks(
    notebooks_dir: Path, only: list[str] | None = None, summary: bool = True
) -> list[Path]:
    """The notebooks a run executes, in execution order: every one, or those ``only`` names plus
    (unless ``summary`` is False) the summary notebooks, which must reflect the plays re-run."""
    notebooks = discover_notebooks(notebooks_dir, only)
    if only and summary:
        notebooks += [p for p in discover_notebooks(notebooks_dir) if p.name.startswith(SUMMARY_PREFIX)]
    return execution_order(list(dict.fromkeys(notebooks)))


def run_playbook(
    month: str,
    warehouse: Path,
    params_file: Path,
    out_root: Path = Path("outputs"),
    notebooks_dir: Path = Path("notebooks"),
    pdf: bool = True,
    kernel_name: str | None = None,
    progress: bool = True,
    only: list[str] | None = None,
    keep_going: bool = False,
    pseudonymise: bool = False,
    summary: bool = True,
    lanes: int | None = None,
    duckdb_settings: dict | None = None,
    first_alone: bool = False,
) -> Path:
    """Execute the playbook for ``month`` and publish ``out_root/<month>/``. Returns that folder.

    Each ``notebooks/NN_*.ipynb`` runs in name order (cwd = ``notebooks_dir``)
    with the parameters ``month``, ``warehouse``, ``params_file`` and
    ``output_dir`` (absolute paths; ``output_dir`` is the run folder being built).
    With ``pdf``, every executed notebook is exported to ``pdf/<name>.pdf``.

    The plays run in name order, then the summary notebooks (``00_*``), which read the plays'
    metrics.json, targets/ and run_status.json (written just before them); when one ran,
    ``pdf/monthly_brief.pdf`` (cover + brief) is written.

    With ``only``, just those notebooks run (plus the summary notebooks, which must reflect
    them, unless ``summary`` is False: then the previous brief is carried over as it was, for
    timing one notebook alone); the rest of a previous ``out_root/<month>/`` is carried over into the new folder, and
    the plays not re-run keep their previous status in run_status.json.

    Raises :class:`NotebookFailed` naming the notebook, the cell and the error;
    the previous ``out_root/<month>/`` is then left untouched. With ``keep_going``, every
    notebook runs, the ones that succeeded are published, and :class:`RunIncomplete` (listing
    the failures) is raised after publishing when any failed.

    The run holds the warehouse lock shared (a load waits to replace the warehouse until the run
    is published, so every notebook reads one snapshot, named in run.json) and the month lock
    (:class:`userops.locks.LockBusy` when another run of the month is in progress). Holding them,
    it first removes what killed loads and runs left (``userops.locks``).

    ``lanes`` plays execute at once (``None``: ``USEROPS_RUN_LANES``, else the machine's cores, at
    most 4; :mod:`userops.lanes`), a play starting after the plays whose target lists it reads; their
    kernels share the DuckDB budget of ``duckdb_settings`` (params ``duckdb``, the environment
    winning). Each notebook writes into a scratch copy of the run folder, and what it wrote is then
    moved in (its outputs in run.json; metrics.json sections merged), so lanes never mix outputs.
    PDFs are exported in a PDF lane (one browser) while later notebooks run. ``first_alone``: the
    first play runs before the others start (Spark: it builds the derived tables they share).

    With ``pseudonymise``, the target lists carry salted hashes instead of user and referrer ids;
    the salt and the mappings stay beside the warehouse (``userops.outputs.pseudonym_dir``).
    """
    if not MONTH_RE.match(month or ""):
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    warehouse = Path(warehouse).resolve()
    params_file = Path(params_file).resolve()
    notebooks_dir = Path(notebooks_dir).resolve()
    out_root = Path(out_root).resolve()
    if not warehouse.exists():
        raise FileNotFoundError(
            f"warehouse not found: {warehouse} (run `userops load` or `userops demo` first)"
        )
    if not params_file.is_file():
        raise FileNotFoundError(f"params file not found: {params_file}")
    every = execution_order(discover_notebooks(notebooks_dir))
    notebooks = selected_notebooks(notebooks_dir, only, summary)
    job = _Job(
        month,
        warehouse,
        params_file,
        notebooks_dir,
        choose_kernel(kernel_name),
        pdf,
        progress,
        keep_going,
        {},
        lanes=_lanes.resolve_lanes(lanes),
        duckdb=dict(duckdb_settings or {}),
        first_alone=first_alone,
    )
    titles = {p.stem: notebook_title(p) for p in every}
    out_root.mkdir(parents=True, exist_ok=True)
    started = time.time()
    # One snapshot (no load replaces the warehouse until the run is published) and one run per month.
    with locks.reading(warehouse), locks.running_month(out_root, month) as cleaned:
        cleaned += locks.clean_other_months(out_root, skip=month)
        cleaned += locks.clean_stale_warehouse_files(warehouse)
        if progress and cleaned:
            print(f"removed what killed loads/runs left: {', '.join(p.name for p in cleaned)}", flush=True)
        job.data = _snapshot_info(warehouse)
        final = out_root / month
        with _pseudonyms(warehouse if pseudonymise else None) as where:
            job.data["pseudonym_mappings"] = where
            failures = _build_and_publish(job, notebooks, titles, final, only, started)
    if progress:
        print(f"done in {time.time() - started:.1f} s → {final}", flush=True)
    if failures:
        raise RunIncomplete(final, failures)
    return final


def _check_snapshot(run_dir: Path, job: _Job, ran: list[str]) -> None:
    """Every play run now computed on the run's snapshot (its metrics.json data_fingerprint)."""
    want = job.data.get("data_fingerprint")
    path = run_dir / "metrics.json"
    if want is None or not path.is_file():
        return
    plays = json.loads(path.read_text(encoding="utf-8")).get("plays", {})
    other = {
        stem: fp
        for stem in ran
        if (fp := plays.get(stem, {}).get("provenance", {}).get("data_fingerprint")) not in (None, want)
    }
    if other:
        raise SnapshotChanged(
            f"the warehouse {job.warehouse} changed during the run (replaced without `userops load`?): "
            f"{', '.join(sorted(other))} read data {', '.join(sorted(set(other.values())))[:80]}, "
            f"the run started on {want}; nothing published, run again"
        )


@contextlib.contextmanager
def _pseudonyms(warehouse: Path | None):
    """Tell the notebooks' kernels (environment) where the salt and mappings are; None: ids as is."""
    if warehouse is None:
        yield None
        return
    folder = pseudonym_dir(warehouse)
    ensure_salt(folder)
    before = os.environ.get(PSEUDONYMS_ENV)
    os.environ[PSEUDONYMS_ENV] = str(folder)
    try:
        yield str(folder)
    finally:
        if before is None:
            del os.environ[PSEUDONYMS_ENV]
        else:
            os.environ[PSEUDONYMS_ENV] = before


def _build_and_publish(
    job: _Job, notebooks: list[Path], titles: dict, final: Path, only: list[str] | None, started: float
) -> list[NotebookFailed]:
    """Build the month in a temp folder beside ``final``, then publish it; the failures (keep_going)."""
    previous = final if only and final.is_dir() else None
    tmp = final.with_name(f".tmp-{job.month}-{secrets.token_hex(4)}")
    build = _Build(job, tmp, _previous_outputs(final) if previous else {})
    run_id_before = os.environ.get(RUN_ID_ENV)
    os.environ[RUN_ID_ENV] = tmp.name  # the kernels of this run share its derived tables (Spark)
    try:
        if previous:
            shutil.copytree(final, tmp, symlinks=True)
            (tmp / "run.json").unlink(missing_ok=True)
        for sub in ("notebooks", "targets", "pdf"):
            (tmp / sub).mkdir(parents=True, exist_ok=True)
        locks.checkpoint("run:building")
        if job.progress:
            print(
                f"userops run {job.month}: {len(notebooks)} notebook(s), kernel {job.kernel}, "
                f"{job.lanes} lane(s)",
                flush=True,
            )
        with _pdf_lane(build):
            _run_notebooks(build, notebooks, titles, previous, started)
        steps, failures = build.ordered(notebooks)
        if failures and not job.keep_going:
            raise failures[0]
        _check_snapshot(tmp, job, [s.name for s in steps])
        _write_status(tmp, job, titles, [p.stem for p in notebooks], failures, previous)
        _write_provenance(tmp, job, steps, failures, started)
        locks.checkpoint("run:before-publish")
        _publish(tmp, final)
    finally:
        if run_id_before is None:
            os.environ.pop(RUN_ID_ENV, None)
        else:
            os.environ[RUN_ID_ENV] = run_id_before
        for folder in (tmp, *tmp.parent.glob(f"{tmp.name}.*")):  # the notebooks' scratch folders too
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
    return failures


def _run_notebooks(build: _Build, notebooks: list[Path], titles: dict, previous: Path | None, started: float):
    """The plays in lanes (each after the plays it reads), then the summary notebooks, alone, with
    the run_status.json they read; the PDFs meanwhile in the PDF lane, the combined brief last."""
    job = build.job
    summaries = [p for p in notebooks if p.name.startswith(SUMMARY_PREFIX)]
    plays = [p for p in notebooks if p not in summaries]
    stems = [p.stem for p in plays]
    order = _lanes.play_order(stems, job.first_alone)
    after = {p: {q for q in plays if q.stem in order[p.stem]} for p in plays}
    lanes_now = max(1, min(job.lanes, len(plays)))
    budget = _lanes.kernel_budget(job.duckdb, lanes_now) if lanes_now > 1 else {}
    job.kernel_budget = budget or _lanes.kernel_budget(job.duckdb, 1)
    with _lanes.kernel_env(budget):  # the kernels running at once share the DuckDB budget
        outcomes = _lanes.run_lanes(
            plays, lambda p: _run_one(build, p), lanes_now, after, build.stopped, _lanes.end_children
        )
    _raise_unexpected(outcomes)
    if build.stopped() or not summaries:
        return
    if job.keep_going:  # a play whose PDF fails is left out: the brief must not read it
        _wait_pdfs(build)
    play_titles = {k: v for k, v in titles.items() if not k.startswith(SUMMARY_PREFIX)}
    _, failures = build.ordered(notebooks)
    _write_status(build.tmp, job, play_titles, [p.stem for p in notebooks], failures, previous)
    _raise_unexpected(_lanes.run_lanes(summaries, lambda p: _run_one(build, p), 1, None, build.stopped))
    _wait_pdfs(build)
    if job.pdf and not build.stopped() and (build.tmp / "notebooks" / summaries[0].name).is_file():
        _combined_pdf(build, summaries[0], started)


def _raise_unexpected(outcomes: dict) -> None:
    """A lane that raised something else than a notebook's failure (those are recorded, not
    raised): a bug or the disk, never hidden."""
    for outcome in outcomes.values():
        if isinstance(outcome, BaseException):
            raise outcome
