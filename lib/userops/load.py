"""Validate input files against the data contract and build the warehouse atomically.

`check_dir(dir)` reads every contract table found in `dir` (`<table>.csv` or
`<table>.parquet`) and returns every rule violation of every file in one pass.
`load_dir(dir, warehouse)` does the same checks while building a new DuckDB
file beside `warehouse`; only when everything passes and the row counts verify
is it renamed over the old warehouse. On any error the old warehouse is
untouched and the temporary file removed.

Each `Problem` names the file, the column, the rule, how many rows break it and
the first offending rows (CSV line numbers, or row numbers for Parquet, with
the key and the offending value).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from userops.contract import LOAD_ORDER, MAX_TS, MIN_TS, REQUIRED_TABLES, TABLES, Column, Table
from userops.sql_files import read_sql, sql_names

EXAMPLES = 5  # offending rows shown per problem
EXTENSIONS = (".csv", ".parquet")


@dataclass(frozen=True)
class Problem:
    """One broken rule in one input file."""

    file: str
    column: str
    rule: str
    n_rows: int
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        rows = "row" if self.n_rows == 1 else "rows"
        head = f"{self.file}: column {self.column!r}: {self.rule}: {self.n_rows:,} {rows}"
        if self.examples:
            head += "; first: " + "; ".join(self.examples)
        return head


class ContractError(Exception):
    """Input data breaks the contract; `problems` lists every violation."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [f"{len(problems)} data contract problem(s):"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass
class LoadReport:
    warehouse: Path
    rows: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    fingerprint: str = ""


def find_files(data_dir: Path) -> tuple[dict[str, Path], list[Problem]]:
    """Map each contract table to its input file; problems for missing/ambiguous ones."""
    data_dir = Path(data_dir)
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    if not data_dir.is_dir():
        return files, [Problem(str(data_dir), "-", "input directory exists", 1)]
    for name in TABLES:
        found = [data_dir / f"{name}{ext}" for ext in EXTENSIONS if (data_dir / f"{name}{ext}").is_file()]
        if len(found) > 1:
            problems.append(
                Problem(
                    str(found[0]),
                    "-",
                    "one file per table (found both .csv and .parquet)",
                    len(found),
                    tuple(p.name for p in found),
                )
            )
        elif found:
            files[name] = found[0]
        elif name in REQUIRED_TABLES:
            problems.append(
                Problem(str(data_dir / f"{name}.csv"), "-", "required table present (.csv or .parquet)", 1)
            )
    return files, problems


def fingerprint(files: dict[str, Path]) -> str:
    """sha256 over the table names and file contents, in load order."""
    h = hashlib.sha256()
    for name in LOAD_ORDER:
        if name in files:
            h.update(name.encode())
            with open(files[name], "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_source(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> list[str]:
    """Stage the raw file as temp table src_<table> with a _line column; return its columns."""
    src = f"src_{table.name}"
    if path.suffix == ".csv":
        # Header is line 1, so data row n is line n + 1.
        con.execute(
            f"create or replace temp table {src} as "
            "select row_number() over () + 1 as _line, * "
            "from read_csv($path, all_varchar = true, header = true)",
            {"path": str(path)},
        )
    else:
        con.execute(
            f"create or replace temp table {src} as "
            "select row_number() over () as _line, * from read_parquet($path)",
            {"path": str(path)},
        )
    return [r[0] for r in con.execute(f"describe {src}").fetchall() if r[0] != "_line"]


def _where_label(path: Path) -> str:
    return "line" if path.suffix == ".csv" else "row"


def _examples(
    con: duckdb.DuckDBPyConnection, sql_from_where: str, params: dict, label: str, show: list[str]
) -> tuple[str, ...]:
    cols = ", ".join(f"cast({_q(c)} as varchar)" for c in show)
    rows = con.execute(
        f"select _line, {cols} {sql_from_where} order by _line limit {EXAMPLES}", params
    ).fetchall()
    out = []
    for r in rows:
        vals = ", ".join(f"{c}={v if v is not None else 'NULL'}" for c, v in zip(show, r[1:], strict=True))
        out.append(f"{label} {r[0]} ({vals})")
    return tuple(out)


def _column_checks(col: Column) -> list[tuple[str, str, dict]]:
    """(rule text, SQL predicate that is TRUE for a bad row, params) for one column."""
    v = _q(col.name)
    typed = f"try_cast({v} as {col.type})"
    present = f"{v} is not null and trim(cast({v} as varchar)) <> ''"
    checks: list[tuple[str, str, dict]] = []
    if not col.nullable:
        checks.append(("not null", f"not ({present})", {}))
    checks.append((f"type {col.type}", f"{present} and {typed} is null", {}))
    if col.enum is not None:
        checks.append(
            (
                "one of " + ", ".join(col.enum),
                f"{typed} is not null and not list_contains($enum, {typed})",
                {"enum": list(col.enum)},
            )
        )
    if col.min_value is not None:
        checks.append((f">= {col.min_value:g}", f"{typed} < $lo", {"lo": col.min_value}))
    if col.max_value is not None:
        checks.append((f"<= {col.max_value:g}", f"{typed} > $hi", {"hi": col.max_value}))
    if col.nonzero:
        checks.append(("not zero", f"{typed} = 0", {}))
    if col.is_timestamp:
        checks.append(
            (
                f"timestamp between {MIN_TS} and {MAX_TS}",
                f"{typed} is not null and ({typed} < cast($min_ts as timestamp) or {typed} >= cast($max_ts as timestamp))",
                {"min_ts": MIN_TS, "max_ts": MAX_TS},
            )
        )
    return checks


def _check_table(con: duckdb.DuckDBPyConnection, table: Table, path: Path, staged: set[str]) -> list[Problem]:
    """Check one file, leaving temp table typed_<table> for its children's foreign keys.

    Creates the final table <table> only when the file has no problems.
    """
    label = _where_label(path)
    fname = str(path)
    src = f"src_{table.name}"
    cols = _read_source(con, table, path)
    problems: list[Problem] = []
    # Nullable columns may be left out of a file (read as all NULL); the others must be there.
    missing = [c.name for c in table.columns if c.name not in cols]
    for c in missing:
        if not table.column(c).nullable:
            problems.append(Problem(fname, c, "column present", 1, (f"columns found: {', '.join(cols)}",)))
    key_show = [c for c in table.key if c not in missing]

    for col in table.columns:
        if col.name in missing:
            continue
        for rule, bad, params in _column_checks(col):
            n = con.execute(f"select count(*) from {src} where {bad}", params).fetchone()[0]
            if n:
                show = list(dict.fromkeys(key_show + [col.name]))
                ex = _examples(con, f"from {src} where {bad}", params, label, show)
                problems.append(Problem(fname, col.name, rule, n, ex))
    # Typed copy (values that fail their type become NULL and are already reported), then
    # keys, foreign keys and row rules, so that one pass reports every problem of the file.
    select = ", ".join(
        f"try_cast(nullif(trim(cast({_q(c.name)} as varchar)), '') as {c.type}) as {_q(c.name)}"
        if c.name not in missing
        else f"cast(null as {c.type}) as {_q(c.name)}"
        for c in table.columns
    )
    con.execute(f"create or replace temp table typed_{table.name} as select _line, {select} from {src}")
    typed = f"typed_{table.name}"

    if table.key and not any(k in missing for k in table.key):
        keys = ", ".join(_q(k) for k in table.key)
        dup = (
            f"from {typed} where ({keys}) in (select ({keys}) from {typed} group by all having count(*) > 1)"
        )
        n = con.execute(f"select count(*) {dup}").fetchone()[0]
        if n:
            problems.append(
                Problem(
                    fname,
                    ", ".join(table.key),
                    "unique key",
                    n,
                    _examples(con, dup, {}, label, list(table.key)),
                )
            )
    for fk in table.foreign_keys:
        if fk.ref_table not in staged or fk.column in missing:
            continue  # optional parent absent (or unreadable: reported on its own file)
        orphan = (
            f"from {typed} c where c.{_q(fk.column)} is not null and not exists "
            f"(select 1 from typed_{fk.ref_table} p where p.{_q(fk.ref_column)} = c.{_q(fk.column)})"
        )
        n = con.execute(f"select count(*) {orphan}").fetchone()[0]
        if n:
            show = list(dict.fromkeys(key_show + [fk.column]))
            problems.append(
                Problem(
                    fname,
                    fk.column,
                    f"references {fk.ref_table}.{fk.ref_column}",
                    n,
                    _examples(con, orphan, {}, label, show),
                )
            )
    for rule in table.rules:
        if any(c in missing for c in rule.columns):
            continue
        bad = f"from {typed} where not ({rule.sql})"
        n = con.execute(f"select count(*) {bad}").fetchone()[0]
        if n:
            show = list(dict.fromkeys(key_show + list(rule.columns)))
            problems.append(
                Problem(fname, ", ".join(rule.columns), rule.name, n, _examples(con, bad, {}, label, show))
            )
    con.execute(f"drop table {src}")
    if problems:
        return problems

    order = ", ".join(_q(k) for k in table.key) if table.key else "_line"
    names = ", ".join(_q(c) for c in table.column_names)
    con.execute(f"create table {_q(table.name)} as select {names} from {typed} order by {order}")
    return []


def _create_empty(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    cols = ", ".join(f"{_q(c.name)} {c.type}" for c in table.columns)
    con.execute(f"create table {_q(table.name)} ({cols})")


def _validate_into(con: duckdb.DuckDBPyConnection, data_dir: Path) -> tuple[list[Problem], dict[str, Path]]:
    files, problems = find_files(data_dir)
    staged: set[str] = set()
    for name in LOAD_ORDER:
        if name not in files:
            continue
        try:
            problems.extend(_check_table(con, TABLES[name], files[name], staged))
            staged.add(name)
        except duckdb.Error as e:  # unreadable file, bad CSV quoting, ...
            first = str(e).splitlines()[0]
            problems.append(Problem(str(files[name]), "-", "readable " + files[name].suffix[1:], 1, (first,)))
    for name in staged:
        con.execute(f"drop table if exists typed_{name}")
    return problems, files


def check_dir(data_dir: str | Path) -> list[Problem]:
    """Validate every contract file in data_dir; return all problems (empty = valid)."""
    con = duckdb.connect()
    try:
        problems, _ = _validate_into(con, Path(data_dir))
    finally:
        con.close()
    return problems


def build_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Create the derived fact tables (sql/warehouse/*.sql, in name order)."""
    for name in sql_names("warehouse"):
        con.execute(read_sql(name))


def load_dir(data_dir: str | Path, warehouse: str | Path) -> LoadReport:
    """Validate data_dir and atomically (re)build the DuckDB warehouse file.

    Raises ContractError listing every problem; the existing warehouse is then unchanged.
    """
    data_dir, warehouse = Path(data_dir), Path(warehouse)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=warehouse.name + ".", suffix=".tmp", dir=warehouse.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # duckdb wants to create the file itself
    try:
        con = duckdb.connect(str(tmp))
        try:
            problems, files = _validate_into(con, data_dir)
            if problems:
                raise ContractError(problems)
            report = LoadReport(warehouse=warehouse, fingerprint=fingerprint(files))
            for name in LOAD_ORDER:
                if name not in files:
                    _create_empty(con, TABLES[name])
                    report.absent.append(name)
            report.rows = {
                name: con.execute(f"select count(*) from {_q(name)}").fetchone()[0] for name in LOAD_ORDER
            }
            # Verify: every staged file made it in whole.
            for name, path in files.items():
                reader = (
                    "read_csv($p, all_varchar = true, header = true)"
                    if path.suffix == ".csv"
                    else "read_parquet($p)"
                )
                n_src = con.execute(f"select count(*) from {reader}", {"p": str(path)}).fetchone()[0]
                if n_src != report.rows[name]:
                    raise ContractError(
                        [Problem(str(path), "-", "all rows loaded", abs(n_src - report.rows[name]))]
                    )
            build_derived(con)
            con.execute(
                "create table _load_meta as select * from (values "
                + ", ".join(["(?, ?, ?, ?)"] * len(LOAD_ORDER))
                + ") t(table_name, present, n_rows, source_file)",
                [
                    v
                    for name in LOAD_ORDER
                    for v in (name, name in files, report.rows[name], str(files.get(name, "")))
                ],
            )
            con.execute(
                "create table _load_info as select ?::varchar as fingerprint, ?::timestamp as loaded_at, ?::varchar as data_dir",
                [report.fingerprint, datetime.now(UTC).replace(tzinfo=None), str(data_dir.resolve())],
            )
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp, warehouse)
        return report
    finally:
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            if leftover.exists():
                leftover.unlink()
