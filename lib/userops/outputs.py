"""Atomic writers for what a run leaves behind: metrics.json and target CSVs.

A notebook builds one `Report` and adds every headline number with its
definition, unit and period; `Report.write()` merges its section into
`<output_dir>/metrics.json` (build a temp file, then rename). Target lists go
to `<output_dir>/targets/<name>.csv`, sorted, written the same way.

With an empty output_dir (an analyst running the notebook in JupyterLab)
nothing is written and `Report.write()` says so.

Personal ids: the PDFs show no individual user or referrer id (`mask_ids` before a table is
displayed; the full ids are in the target lists). With `userops run --pseudonymise` the target
lists carry salted hashes instead of user and referrer ids (`pseudonym`); the salt and, per month
and list, the mapping back to the ids stay beside the warehouse (`pseudonym_dir`), never in outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import math
import os
import secrets
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from userops import __version__


def atomic_write_text(path: Path, text: str) -> Path:
    """Write text to path via a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` itself (no lock file is left in it): writers of
    the folder's shared files (metrics.json) take turns, across threads and processes."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def update_json(path: Path, change: Callable[[dict], dict | None]) -> None:
    """Read-modify-write the JSON file ``path`` atomically and serialised: under :func:`folder_lock`
    of its folder, ``change(doc)`` ({} when there is no file) gives the new document, written to a
    temp file and renamed over ``path`` (None: the file is removed). Two writers never lose each
    other's update; a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(path.parent):
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        new = change(doc)
        if new is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write_text(path, json.dumps(new, ensure_ascii=False, indent=2) + "\n")


def git_commit(repo: Path | None = None) -> str:
    """The code version: git HEAD (+ '-dirty' when tracked files changed), or 'unknown'."""
    cwd = repo or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _clean(value):
    """JSON-safe scalars: numpy/decimal -> float/int, NaN -> None, dates -> ISO."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, float):
        # 12 significant digits: identical reruns give identical files (no 16th-digit noise
        # from summation order), far beyond any precision a report shows.
        return float(f"{value:.12g}")
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, int | float | str | bool):
        return value
    try:
        return float(value)  # Decimal
    except (TypeError, ValueError):
        return str(value)


@dataclass
class Report:
    """Collects the headline numbers of one notebook run."""

    play: str  # notebook stem, e.g. "02_new_user_retention"
    month: str
    output_dir: str | Path | None = None
    provenance: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    con: object = field(default=None, repr=False)  # the warehouse: target lists carry original ids
    # (salt, share) of the persistent global holdout: its users are left out of every target list
    global_holdout: tuple[str, float] | None = None
    _written: bool = field(default=False, repr=False)

    def add(
        self,
        key: str,
        value,
        unit: str,
        definition: str,
        period: str | None = None,
        ci: tuple[float, float] | None = None,
    ) -> None:
        """Record one headline number with its definition, unit, period and optional CI."""
        if key in self.metrics:
            raise KeyError(f"metric {key!r} recorded twice in {self.play}")
        entry = {
            "value": _clean(value),
            "unit": unit,
            "definition": definition,
            "period": period or self.month,
        }
        if ci is not None:
            entry["ci_low"], entry["ci_high"] = _clean(ci[0]), _clean(ci[1])
        self.metrics[key] = entry

    @property
    def enabled(self) -> bool:
        return bool(self.output_dir)

    def write(self) -> None:
        """Merge this play's section into metrics.json atomically (nothing when disabled)."""
        if not self.enabled:
            print("output_dir is empty: metrics.json and target lists are not written (interactive run).")
            return
        commit = git_commit()

        def merge(doc: dict) -> dict:
            doc["month"] = self.month
            doc.setdefault("provenance", {}).update({k: _clean_tree(v) for k, v in self.provenance.items()})
            doc["provenance"].setdefault("userops_version", __version__)
            doc["provenance"].setdefault("git_commit", commit)
            plays = doc.setdefault("plays", {})
            # No timings or clock times here (run.json has them): identical reruns write identical
            # files. Each play keeps the parameters and data it was computed with: a later --only run
            # that recomputes other plays never relabels this one.
            own = {k: _clean_tree(self.provenance[k]) for k in PLAY_PROVENANCE if k in self.provenance}
            plays[self.play] = {"provenance": own, "metrics": dict(sorted(self.metrics.items()))}
            doc["plays"] = dict(sorted(plays.items()))
            return doc

        # two notebooks writing into one folder (an analyst's, or a run's) never lose a section
        update_json(Path(self.output_dir) / "metrics.json", merge)
        self._written = True

    def write_target(self, name: str, df: pd.DataFrame, sort_by: list[str]) -> None:
        """Write targets/<name>.csv sorted by sort_by, ids as in the export (nothing when disabled)."""
        if self.enabled:
            path = Path(self.output_dir) / "targets" / f"{name}.csv"
            df = self._without_global_holdout(name, df)
            ordered = original_ids(self.con, df.sort_values(sort_by, kind="stable"))
            atomic_write_text(path, pseudonymise(ordered, self.month, name).to_csv(index=False))


PLAY_PROVENANCE = ("params_file", "params", "warehouse", "data_fingerprint", "data_loaded_at")


def global_holdout_users(con, salt: str, share: float, user_ids) -> set[int]:
    """Which of user_ids (warehouse keys) are in the persistent global holdout (sql/experiments)."""
    from userops.db import distinct_ids, id_table
    from userops.sql_files import read_sql

    keys = distinct_ids(user_ids)
    if not len(keys) or share <= 0:
        return set()
    with id_table(con, "_holdout_keys", keys):  # joined in, not a literal array: any number of ids
        rows = con.execute(
            f"select user_id from ({read_sql('experiments/global_holdout')}) "
            "where in_global_holdout and user_id in (select user_id from _holdout_keys)",
            {"salt": salt, "share": share},
        ).fetchall()
    return {r[0] for r in rows}


def original_ids(con, df: pd.DataFrame) -> pd.DataFrame:
    """df with user_id, order_id, coupon_id, campaign_id translated back to the export's ids.

    The loader maps text ids to BIGINT surrogate keys (map_<id> tables); ids that were integers
    in the export are their own keys and stay as they are.
    """
    if con is None:
        return df
    try:
        text_ids = {r[0] for r in con.execute("select id_name from _id_maps where mode = 'text'").fetchall()}
    except duckdb.Error:  # a warehouse built before id maps: ids are the export's own
        return df
    from userops.db import id_table

    out = df.copy()
    for col in text_ids & set(df.columns):  # col: one of the loader's id names, never data
        with id_table(con, "_id_keys", out[col], column=col):  # joined in: any number of ids
            m = con.execute(
                f"select {col}, source_id from map_{col} where {col} in (select {col} from _id_keys)"
            ).fetchall()
        out[col] = out[col].map(dict(m))
    return out


def _report_without_global_holdout(self: Report, name: str, df: pd.DataFrame) -> pd.DataFrame:
    """df without the global holdout's users; the count left out is recorded as a metric."""
    if self.con is None or self.global_holdout is None or "user_id" not in df.columns:
        return df
    salt, share = self.global_holdout
    held = global_holdout_users(self.con, salt, share, df["user_id"])
    key = f"targets.{name}.global_holdout_left_out"
    self.metrics[key] = {
        "value": len(held),
        "unit": "users",
        "definition": "users of the persistent global holdout (params experiments) left out of this list",
        "period": self.month,
    }
    if self._written:
        self.write()
    return df[~df["user_id"].isin(held)] if held else df


Report._without_global_holdout = _report_without_global_holdout


def _report_plan_target(self: Report, name: str, df: pd.DataFrame, params) -> pd.DataFrame:
    """A monthly list after the one contact plan shared with the daily trigger lists
    (triggers.monthly_plan: no user on two monthly lists, none held out of one list and touched by
    another); the users left out are recorded as a metric. Call it before counting the list."""
    from userops.triggers import monthly_plan

    if self.con is None or "user_id" not in df.columns:
        return df
    send_day = dt.date.fromisoformat(self.month + "-01")
    send_day = (send_day + dt.timedelta(days=32)).replace(day=1)  # the lists go out the next month
    kept, left = monthly_plan(self.con, params, name, df, send_day, self.output_dir)
    self.metrics[f"targets.{name}.contact_plan_left_out"] = {
        "value": len(left),
        "unit": "users",
        "definition": "users left out of this list by the one contact plan: on a list of higher priority "
        "this month, or held out of a daily trigger list or a running campaign",
        "period": self.month,
    }
    return kept


Report.plan_target = _report_plan_target


def _clean_tree(value):
    if isinstance(value, dict):
        return {str(k): _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_tree(v) for v in value]
    return _clean(value)


# --------------------------------------------------------------------------- personal ids

PERSONAL_ID_COLUMNS = ("user_id", "referrer_id")
MASK = "•"
PSEUDONYMS_ENV = "USEROPS_PSEUDONYMS"  # set by the runner for `userops run --pseudonymise`


def _id_text(value) -> str:
    """An id as text: 12345, 12345.0 (an integer column with nulls) and "12345" are all "12345"."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def masked_id(value) -> str:
    """An id as a report shows it: at most its last third (up to 2 characters) after at least 3
    dots ("12345" -> "••••5", "L01-03" -> "••••03", "7" -> "•••")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = _id_text(value)
    keep = min(2, len(text) // 3)
    return MASK * max(len(text) - keep, 3) + (text[-keep:] if keep else "")


def mask_ids(df: pd.DataFrame, columns=PERSONAL_ID_COLUMNS) -> pd.DataFrame:
    """df with its personal id columns masked (:func:`masked_id`), for a table that reaches a PDF."""
    out = df.copy()
    for col in set(columns) & set(df.columns):
        out[col] = out[col].map(masked_id)
    return out


def pseudonym_dir(warehouse: str | Path) -> Path:
    """Where the salt and the pseudonym mappings live: beside the warehouse, never in outputs."""
    warehouse = Path(warehouse)
    return warehouse.parent / f"{warehouse.name}.pseudonyms"


def ensure_salt(folder: Path) -> str:
    """The folder's salt (32 random hex digits, made once, readable by the owner only)."""
    path = folder / "salt"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(16) + "\n")
    return path.read_text(encoding="utf-8").strip()


def pseudonym(salt: str, column: str, value) -> str:
    """A stable pseudonym: "u_" (user) or "r_" (referrer) + 16 hex digits of sha256(salt:column:id)."""
    digest = hashlib.sha256(f"{salt}:{column}:{_id_text(value)}".encode()).hexdigest()[:16]
    return f"{column[0]}_{digest}"


PSEUDONYM_PATTERN = r"^[ur]_[0-9a-f]{16}$"


def pseudonymise(df: pd.DataFrame, month: str, name: str, folder: str | Path | None = None) -> pd.DataFrame:
    """With a pseudonym folder (``folder``, else ``USEROPS_PSEUDONYMS``): df with user and referrer
    ids replaced by pseudonyms, and the mapping written to ``<folder>/<month>/<name>.csv`` (column,
    pseudonym, id). Without one: df as it is."""
    folder = folder or os.environ.get(PSEUDONYMS_ENV)
    cols = [c for c in PERSONAL_ID_COLUMNS if c in df.columns]
    if not folder or not cols:
        return df
    salt = ensure_salt(Path(folder))
    out, maps = df.copy(), []
    for col in cols:
        ids = df[col].dropna().drop_duplicates()
        m = pd.DataFrame(
            {"column": col, "pseudonym": [pseudonym(salt, col, v) for v in ids], "id": ids.to_numpy()}
        )
        out[col] = df[col].map(dict(zip(m["id"], m["pseudonym"], strict=True)))
        m["id"] = m["id"].map(_id_text)
        maps.append(m)
    mapping = pd.concat(maps).sort_values(["column", "pseudonym"])
    atomic_write_text(Path(folder) / month / f"{name}.csv", mapping.to_csv(index=False))
    return out


def listed_user_ids(path: Path, month: str, folder: str | Path | None = None) -> pd.Series:
    """The user ids (export ids, as text) of a written list ``path`` (``<...>/<name>.csv``).

    A list written with pseudonyms is read back through its mapping ``<folder>/<month>/<name>.csv``
    (``folder``, else ``USEROPS_PSEUDONYMS``), so that the contact plan compares real ids with real
    ids. A pseudonym without a mapping is an error naming the file, never a silent mismatch.
    """
    path = Path(path)
    ids = pd.read_csv(path, dtype={"user_id": str}, usecols=["user_id"]).user_id
    pseudo = ids.str.fullmatch(PSEUDONYM_PATTERN).fillna(False)
    if not pseudo.any():
        return ids
    folder = folder or os.environ.get(PSEUDONYMS_ENV)
    mapping_file = Path(folder) / month / path.name if folder else None
    if mapping_file is None or not mapping_file.is_file():
        raise ValueError(
            f"{path}: {int(pseudo.sum())} user ids are pseudonyms and no mapping {mapping_file or '(no folder)'} "
            "is there to read them back (run with the warehouse whose .pseudonyms folder wrote them)"
        )
    m = pd.read_csv(mapping_file, dtype=str)
    back = dict(zip(m.pseudonym[m.column == "user_id"], m["id"][m.column == "user_id"], strict=True))
    real = ids.map(back).where(pseudo, ids)
    unknown = pseudo & real.isna()
    if unknown.any():
        raise ValueError(
            f"{path}: {int(unknown.sum())} pseudonyms are not in {mapping_file}, "
            f"e.g. {', '.join(ids[unknown].head(3))}"
        )
    return real
