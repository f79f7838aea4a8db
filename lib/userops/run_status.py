"""run_status.json: which plays of a run succeeded, failed, were skipped or carried over.

The runner writes ``<output_dir>/run_status.json`` before the summary notebooks (``00_*``)
execute, so the brief can say which plays are missing from it, and once more at the end of the
run with the summaries' own outcome::

    {
      "month": "2026-10",
      "failed": [{"notebook": "03_active_incentives", "title": "促活 · Active-user incentives",
                  "cell": 12, "error": "ValueError: ..."}],
      "skipped": [{"notebook": "05_personas", "title": "用户画像 · Persona analysis"}],
      "succeeded": [{"notebook": "01_acquisition", "title": "拉新 · Acquisition"}],
      "carried_over": ["02_new_user_retention"]
    }

``failed`` plays raised (their outputs are left out of the run folder); ``skipped`` plays were
not run this time and have no result from an earlier run of the month; with ``--only``, plays not
re-run keep the status of the previous run of the month and are named in ``carried_over``.
"""

from __future__ import annotations

import json
from pathlib import Path

from userops.outputs import atomic_write_text

FILE = "run_status.json"
KEYS = ("failed", "skipped", "succeeded")


def empty(month: str = "") -> dict:
    return {"month": month, "failed": [], "skipped": [], "succeeded": [], "carried_over": []}


def read(output_dir: str | Path | None) -> dict:
    """The run's status; every list empty when there is no run folder or no run_status.json."""
    path = Path(output_dir) / FILE if output_dir else None
    if path is None or not path.is_file():
        return empty()
    doc = json.loads(path.read_text(encoding="utf-8"))
    status = empty(doc.get("month", ""))
    status.update({k: list(doc.get(k, [])) for k in (*KEYS, "carried_over")})
    return status


def write(output_dir: str | Path, status: dict) -> Path:
    """Write ``<output_dir>/run_status.json`` atomically."""
    text = json.dumps(status, ensure_ascii=False, indent=2) + "\n"
    return atomic_write_text(Path(output_dir) / FILE, text)


def _previous_outcome(previous: dict, previous_dir: Path | None, stem: str) -> tuple[str, dict] | None:
    """(status key, entry) of ``stem`` in the previous run, or None when it has no result there."""
    for key in KEYS:
        for entry in previous.get(key, []):
            if entry.get("notebook") == stem:
                return None if key == "skipped" else (key, entry)
    # a run published before run_status.json existed: every executed notebook succeeded
    if previous_dir is not None and (previous_dir / "notebooks" / f"{stem}.ipynb").is_file():
        return "succeeded", {"notebook": stem}
    return None


def build(
    month: str,
    plays: dict[str, str],
    ran: list[str],
    failures: list[dict],
    previous_dir: Path | None = None,
) -> dict:
    """The status of every play: ``plays`` maps notebook stem -> title, in run order.

    ``ran`` are the stems executed in this run, ``failures`` their failure records
    (``notebook``, ``cell``, ``error``). A play not run takes its status from the previous
    run of the month in ``previous_dir`` (carried over) or, without one, is skipped.
    """
    status = empty(month)
    previous = read(previous_dir)
    failed = {f["notebook"]: f for f in failures}
    for stem, title in plays.items():
        if stem in ran:
            if stem in failed:
                f = failed[stem]
                status["failed"].append(
                    {"notebook": stem, "title": title, "cell": f["cell"], "error": f["error"]}
                )
            else:
                status["succeeded"].append({"notebook": stem, "title": title})
            continue
        outcome = _previous_outcome(previous, previous_dir, stem)
        if outcome is None:
            status["skipped"].append({"notebook": stem, "title": title})
            continue
        key, entry = outcome
        status[key].append({**entry, "notebook": stem, "title": title})
        status["carried_over"].append(stem)
    return status
