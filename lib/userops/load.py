"""Validate input files against the data contract and build the warehouse atomically.

`check_data(dir)` reads every contract table found in `dir` (`<table>.csv` or `<table>.parquet`,
or the file a mapping names) and returns every rule violation of every file in one pass, plus
notices (values of the chain's own vocabularies the params give no role). `load_dir(dir,
warehouse)` does the same checks while building a new DuckDB file beside `warehouse`; only when
everything passes and the row counts verify is it renamed over the old warehouse. On any error the
old warehouse is untouched and the temporary file removed.

Checks run on the original values (ids as text). Ids of users, orders, coupons and campaigns are
then mapped to BIGINT surrogate keys so every metric keeps integer joins: when every value of an
id is a plain integer the surrogate is that integer, otherwise the dense rank of the original text
(1, 2, ... in text order). `map_<id>(<id> BIGINT, source_id VARCHAR)` keeps the original for every
list a person reads (`outputs.Report.write_target`).

Severity: type, key and required-column problems stop the load. Row-level problems a chain can
live with (an order line for an unknown order or product, a zero-quantity line, an event, points
row or campaign member for an unknown user, or later than the last order day) stop it too, unless
`quarantine=True`: those rows are then set aside into `<warehouse>.rejects.csv` (table, file,
line, reason, the row as JSON), counted in `_load_rejects`, and the rest is loaded.

Each `Problem` names the file, the column, the rule, how many rows break it and the first offending
rows (CSV line numbers, counting the lines of quoted values that span several, or row numbers for
Parquet, with the key and the offending value: a real null shows as (empty), a null token quoted).

Reading (load_input.py): CSV files are UTF-8 unless `encoding` says otherwise (another encoding is
detected and named); empty files, header-only required tables and misspelt headers ("did you mean
city?") are problems. Every column treats an empty or blank field and params `data.null_tokens` as
missing; timestamps with an offset or a timezone are converted to params `data.timezone`; money
has at most 2 decimals. DuckDB running out of memory raises `OutOfMemory` (not a data problem);
Ctrl-C interrupts the running query; either way the old warehouse stays.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from userops import locks, parquet_tables
from userops.contract import LOAD_ORDER, MAPPED_IDS, MAX_TS, MONEY, REQUIRED_TABLES, TABLES, Column, Table
from userops.db import duckdb_config, logged
from userops.load_input import FileProblem, near_contract, utf8_source
from userops.load_notices import vocabulary_notices
from userops.mapping import TableMapping
from userops.params import Params
from userops.sql_files import read_sql, sql_names

EXAMPLES = 5  # offending rows shown per problem
# The database that holds the staged inputs (src_<table>, typed_<table>): a file beside the new
# warehouse (`<warehouse>.<random>.tmp.stage`, on the disk that is meant to hold the data, not /tmp),
# in the scratch folder for `userops check`. Its tables are compressed and written out as they are
# built, so staging is bounded by the disk, not by memory (temp tables stay in memory and spill
# uncompressed: 41 GB at 10M users).
STAGE = "_stage"
EXTENSIONS = (".csv", ".parquet")
FRACTIONAL = r"[+-]?[0-9]*\.[0-9]*[1-9][0-9]*"  # an id like 1.7: neither integer nor text id
WHOLE_DOT_ZERO = r"^([+-]?[0-9]+)\.0*$"  # 12.0 (a float column's integer) is the id 12
# A time followed by a UTC offset or Z: 2026-10-01T02:00:00Z, 2026-10-01 10:00:00+08:00, ...+08
OFFSET = r"[T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"
CENTS_BEYOND = r"\.[0-9]{2}[0-9]*[1-9]"  # money with a non-zero third decimal: 33.999
PAUSE_ENV = "USEROPS_LOAD_PAUSE_FILE"  # tests: the load writes this file, then waits for a signal


@dataclass(frozen=True)
class Problem:
    """One broken rule in one input file (severity error), or a notice about its values."""

    file: str
    column: str
    rule: str
    n_rows: int
    examples: tuple[str, ...] = ()
    severity: str = "error"  # error | notice
    table: str = ""
    reject_sql: str = field(default="", compare=False, repr=False)  # row-level: rows to set aside
    reject_params: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def quarantinable(self) -> bool:
        return bool(self.reject_sql)

    def __str__(self) -> str:
        if self.severity == "notice":
            return f"{self.table}.{self.column}: {self.rule}"
        rows = "row" if self.n_rows == 1 else "rows"
        head = f"{self.file}: column {self.column!r}: {self.rule}: {self.n_rows:,} {rows}"
        if self.examples:
            head += "; first: " + "; ".join(self.examples)
        if self.quarantinable:
            head += " (row-level: `userops load --quarantine` sets these rows aside)"
        return head


class ContractError(Exception):
    """Input data breaks the contract; `problems` lists every violation."""

    def __init__(self, problems: list[Problem], notices: list[Problem] | None = None):
        self.problems = problems
        self.notices = notices or []
        lines = [f"{len(problems)} data contract problem(s):"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class LoadOptions:
    """How to read an export: params (timestamp_min, roles, hero), a column mapping, quarantine."""

    params: Params = field(default_factory=Params)
    mapping: dict[str, TableMapping] = field(default_factory=dict)
    quarantine: bool = False
    encoding: str | None = None  # of the CSV files; None = UTF-8 (others are detected and named)
    parquet_out: Path | None = None  # also write the loaded tables as Parquet there (parquet_tables)


class OutOfMemory(Exception):
    """DuckDB ran out of memory: not a data problem; the message names the setting to change."""

    def __init__(self, doing: str, limit: str):
        super().__init__(
            f"out of memory while {doing} (DuckDB memory limit {limit}): raise duckdb.memory_limit in "
            "the params (or USEROPS_DUCKDB_MEMORY_LIMIT), or set duckdb.temp_directory to a disk with room "
            "(and duckdb.max_temp_directory_size, if the spill hit that cap)"
        )


class OutOfDisk(Exception):
    """A file DuckDB writes (the new warehouse, its staged inputs or the spill) hit a full disk."""

    def __init__(self, doing: str, detail: str, warehouse: Path, temp_directory: str):
        super().__init__(
            f"out of disk space while {doing}: {detail}. A load writes the new warehouse and its staged "
            f"inputs beside the warehouse ({warehouse.parent}) and spills to duckdb.temp_directory "
            f"({temp_directory}): free space there, or set duckdb.temp_directory "
            "(USEROPS_DUCKDB_TEMP_DIRECTORY) to a disk with room"
        )


def _no_space(exc: Exception) -> bool:
    return "No space left on device" in str(exc)


@dataclass
class Validation:
    errors: list[Problem] = field(default_factory=list)
    notices: list[Problem] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    sources: dict[str, list[Path]] = field(default_factory=dict)  # what DuckDB reads (UTF-8 copies of CSVs)


@dataclass
class LoadReport:
    warehouse: Path
    rows: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    fingerprint: str = ""
    notices: list[Problem] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)  # table -> rows set aside
    rejects_file: Path | None = None


def find_files(
    data_dir: Path, mapping: dict[str, TableMapping] | None = None
) -> tuple[dict[str, Path], list[Problem]]:
    """Map each contract table to its input: `<table>.csv`, `<table>.parquet` or a folder `<table>/`
    of .csv or .parquet files (sub-folders too: hive partitions `orders/month=2026-10/*.parquet`);
    problems for missing/ambiguous ones."""
    data_dir = Path(data_dir)
    mapping = mapping or {}
    files: dict[str, Path] = {}
    problems: list[Problem] = []
    if not data_dir.is_dir():
        return files, [Problem(str(data_dir), "-", "input directory exists", 1)]
    for name in TABLES:
        named = mapping.get(name, TableMapping()).file
        candidates = [data_dir / named] if named else [data_dir / f"{name}{ext}" for ext in ("", *EXTENSIONS)]
        found = [p for p in candidates if p.is_file() or (p.is_dir() and input_files(p))]
        if named and not found:
            problems.append(
                Problem(str(data_dir / named), "-", f"file named by the mapping for {name} exists", 1)
            )
        elif len(found) > 1:
            problems.append(
                Problem(
                    str(found[0]),
                    "-",
                    "one file per table (found both .csv and .parquet)"
                    if not any(p.is_dir() for p in found)
                    else "one input per table (found a folder and a file)",
                    len(found),
                    tuple(p.name for p in found),
                )
            )
        elif found and len({p.suffix for p in input_files(found[0])}) > 1:
            problems.append(
                Problem(str(found[0]), "-", "one format per folder (.csv or .parquet files)", 1,
                        tuple(sorted({p.suffix for p in input_files(found[0])})))
            )  # fmt: skip
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
            for path in input_files(files[name]):
                if path != files[name]:
                    h.update(str(path.relative_to(files[name])).encode())
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
    return h.hexdigest()[:16]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def input_files(path: Path) -> list[Path]:
    """The data files of a table's input: the file itself, or every .csv / .parquet file under the
    folder (sub-folders too), in path order (hidden files skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix in EXTENSIONS
        and p.is_file()
        and not any(x.startswith(".") for x in p.relative_to(path).parts)
    )


def _fmt(path: Path) -> str:
    """.csv or .parquet: of the file, or of the files in the folder."""
    files = input_files(path)
    return files[0].suffix if files else path.suffix


def _hive(path: Path) -> bool:
    """A folder of hive partitions (`month=2026-10/`): their keys are columns too."""
    return any("=" in part for f in input_files(path) for part in f.relative_to(path).parts[:-1])


def _reader(fmt: str, hive: bool = False, files: str = "$files") -> str:
    """A DuckDB reader over the list `files` (SQL: a bound $files or a variable); the file each
    row comes from in column _src_file (and its row number in file_row_number for Parquet)."""
    opts = f"filename = '_src_file', hive_partitioning = {'true' if hive else 'false'}, union_by_name = true"
    if fmt == ".parquet":
        return f"read_parquet({files}, file_row_number = true, {opts})"
    return f"read_csv({files}, all_varchar = true, header = true, {opts})"


def _newlines(col: str) -> str:
    v = _q(col)
    return f"coalesce(length({v}) - length(replace({v}, chr(10), '')), 0)"


@contextmanager
def _insertion_order(con, keep: bool):
    """Keep the rows' order in the statements inside (when `keep`); the load's default is not to."""
    if not keep:
        yield
        return
    con.execute("set preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute("set preserve_insertion_order = false")


def _read_in_place(path: Path, tm: TableMapping) -> bool:
    """Whether src_<table> is a view over the input's Parquet files (no column mapping): its rows
    come in file order (_file, _line) when the query keeps insertion order."""
    return _fmt(path) == ".parquet" and not tm.columns and not tm.values


def _read_source(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, sources: list[Path], tm: TableMapping
) -> tuple[list[str], list[Problem]]:
    """Stage the raw files (read from `sources`, reported as `path`) as table src_<table> (in STAGE) with
    _file (1-based index into the files) and _line columns, renamed and value-mapped by the mapping;
    return its columns and the mapping's problems. Rows stream from the files into DuckDB."""
    src, fmt = f"src_{table.name}", _fmt(path)
    files = {"files": [str(f) for f in sources]}
    pos = "cast(list_position($files, _src_file) as INTEGER) as _file"
    if _read_in_place(path, tm):
        # A view: each check reads the files again, which beats a copy in memory (a read keeps
        # Parquet's dictionaries, so text is cleaned once per distinct value, not once per row).
        con.execute(f"set variable files_{table.name} = $files", files)  # a view takes no $params
        var = f"getvariable('files_{table.name}')"
        con.execute(
            f"create or replace temp view {src} as select cast(list_position({var}, _src_file) as INTEGER) "
            f"as _file, file_row_number + 1 as _line, * exclude (_src_file, file_row_number) "
            f"from {_reader(fmt, _hive(path), var)}"
        )
    elif fmt == ".parquet":  # row numbers from the files: no order to keep while reading
        con.execute(
            f"create or replace table {STAGE}.{src} as select {pos}, file_row_number + 1 as _line, "
            f"* exclude (_src_file, file_row_number) from {_reader(fmt, _hive(path))}",
            files,
        )
    else:  # a CSV row's number is its place in the file: read in order
        con.execute("set preserve_insertion_order = true")
        con.execute(
            f"create or replace table {STAGE}.{src} as select {pos}, row_number() over () as _line, "
            f"* exclude (_src_file) from {_reader(fmt, _hive(path))}",
            files,
        )
        con.execute("set preserve_insertion_order = false")
    cols = [r[0] for r in con.execute(f"describe {src}").fetchall() if r[0] not in ("_line", "_file")]
    if fmt == ".csv":
        _csv_lines(con, src, cols, len(sources))
    problems = []
    for old, new in tm.columns.items():
        if old not in cols:
            problems.append(Problem(str(path), old, f"column named by the mapping (-> {new}) present", 1))
        elif new in cols and new != old:
            problems.append(
                Problem(str(path), new, f"mapping renames {old} to a column the file already has", 1)
            )
        elif new != old:
            con.execute(f"alter table {src} rename column {_q(old)} to {_q(new)}")
            cols[cols.index(old)] = new
    for col, vmap in tm.values.items():
        if col in cols and vmap:
            con.execute(f"alter table {src} alter column {_q(col)} type varchar")
            con.execute(
                f"update {src} set {_q(col)} = m.t from (select unnest($f) as f, unnest($t) as t) m "
                f"where {src}.{_q(col)} = m.f",
                {"f": list(vmap), "t": list(vmap.values())},
            )
    return cols, problems


def _csv_lines(con, src: str, cols: list[str], n_files: int) -> None:
    """Turn src's row numbers into CSV line numbers within each file: the header is line 1; a row
    starts one line after the previous row ends, and a quoted value holding line breaks makes its
    row span several lines (a running sum, only computed when some value holds a line break)."""
    nl = " + ".join(_newlines(c) for c in cols) if cols else "0"
    multiline = con.execute(f"select count(*) from {src} where {nl} > 0").fetchone()[0]
    if multiline:
        w = "partition by _file order by _line"
        con.execute(
            f"create or replace table {STAGE}.{src} as select _file, _line - min(_line) over (partition by _file) "
            f"+ 2 + coalesce(sum({nl}) over ({w} rows between unbounded preceding and 1 preceding), 0) as _line, "
            f"* exclude (_file, _line) from {src}"
        )
    elif n_files == 1:
        con.execute(f"update {src} set _line = _line + 1")
    else:
        con.execute(
            f"create or replace table {STAGE}.{src} as select s._file, s._line - f.first + 2 as _line, "
            f"s.* exclude (_file, _line) from {src} s join (select _file, min(_line) as first from {src} "
            "group by _file) f using (_file)"
        )


def _label(path: Path) -> str:
    return "line" if _fmt(path) == ".csv" else "row"


def _shown(value, label: str, tokens: set[str]) -> str:
    """A value in an example: a real null as (empty) / (null); a null token or blank quoted."""
    if value is None:
        return "(empty)" if label == "line" else "(null)"
    if value.strip() in tokens or value != value.strip() or not value:
        return repr(value)
    return value


def _examples(con, sql_from_where: str, params: dict, path: Path, show: list[str]) -> tuple[str, ...]:
    """The first offending rows: `line 12 (key=..., column=...)`; in a folder, `part-1.csv line 12 (...)`."""
    label = _label(path)
    cols = ", ".join(f"cast({_q(c)} as varchar)" for c in show)
    rows = con.execute(
        f"select _file, _line, {cols} {sql_from_where} order by _file, _line limit {EXAMPLES}", params
    ).fetchall()
    tokens = set(con.execute("select getvariable('null_tokens')").fetchone()[0] or [])
    names = [str(f.relative_to(path)) for f in input_files(path)] if Path(path).is_dir() else []
    out = []
    for r in rows:
        vals = ", ".join(f"{c}={_shown(v, label, tokens)}" for c, v in zip(show, r[2:], strict=True))
        where = f"{names[r[0] - 1]} " if names else ""
        out.append(f"{where}{label} {r[1]} ({vals})")
    return tuple(out)


def _missing(col: str) -> str:
    """SQL: TRUE when the source value is missing: null, blank, or a null token (params)."""
    raw = f"trim(cast({_q(col)} as varchar))"
    return f"({_q(col)} is null or {raw} = '' or list_contains(getvariable('null_tokens'), {raw}))"


def _clean(name: str) -> str:
    """SQL: the trimmed text of a source value, NULL when missing."""
    return f"case when {_missing(name)} then null else trim(cast({_q(name)} as varchar)) end"


def _fractional(raw: str) -> str:
    """SQL: TRUE when the id text `raw` is a fraction (1.7). Only a text with a dot can be one: the
    regular expression runs on those alone (a CASE evaluates its branch for its rows only)."""
    return f"case when contains({raw}, '.') then regexp_full_match({raw}, '{FRACTIONAL}') else false end"


def _typed_expr(col: Column, raw: str | None = None) -> str:
    """The typed value of a source column (NULL when missing or unparseable; ids as whole text;
    timestamps with an offset converted to the chain's timezone, params data.timezone). `raw`:
    SQL for the column's already cleaned text (default: clean it here)."""
    raw = raw or _clean(col.name)
    if col.is_id:
        whole = f"case when contains({raw}, '.') then regexp_replace({raw}, '{WHOLE_DOT_ZERO}', '\\1') else {raw} end"
        return f"case when {_fractional(raw)} then null else {whole} end"
    if col.type.upper() == "TIMESTAMP":
        aware = f"timezone(getvariable('timezone'), try_cast({raw} as TIMESTAMPTZ))"
        return (
            f"case when regexp_matches({raw}, '{OFFSET}') then {aware} else try_cast({raw} as TIMESTAMP) end"
        )
    return raw if col.type.upper() == "VARCHAR" else f"try_cast({raw} as {col.type})"


def _as_is(col: Column, src_type: str) -> bool:
    """A non-text column whose source already has the contract type (typed Parquet): no trim,
    text round trip or parse (null tokens are text; a typed value is a value)."""
    return not col.is_id and col.type.upper() != "VARCHAR" and src_type.upper() == col.type.upper()


def _typed_checks(col: Column) -> list[tuple[str, str]]:
    """The source checks of a column already of its contract type: only presence."""
    return [] if col.nullable else [("not null", f"{_q(col.name)} is null")]


WHOLE_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
INT_TOKEN = r"-?(0|[1-9][0-9]*)"  # a null token an integer's text can equal (cast(-1 as varchar) = '-1')


def _whole_id(col: Column, src_type: str) -> bool:
    """An id whose source is a whole-number type (typed Parquet): its text, cast(x as varchar), is
    never blank, padded, fractional or x.0, so the text path's trim and regular expressions would
    change nothing; only a null token equal to an integer's text ('-1') can make it missing."""
    return col.is_id and src_type.upper() in WHOLE_TYPES


def _int_tokens(con) -> bool:
    """Whether some null token (params data.null_tokens) is the text of an integer."""
    tokens = con.execute("select getvariable('null_tokens')").fetchone()[0] or []
    return any(re.fullmatch(INT_TOKEN, t) for t in tokens)


BIGINT_FIT = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}


def _whole_id_text(col: Column, int_tokens: bool, as_bigint: bool = False) -> str:
    """SQL: the id text of a whole-number source value, NULL when missing (= the text path's value);
    with `as_bigint`, that value as BIGINT (its text is cast(x as varchar), see _harmonize_ids)."""
    text = f"cast({_q(col.name)} as varchar)"
    value = f"cast({_q(col.name)} as bigint)" if as_bigint else text
    return (
        f"case when list_contains(getvariable('null_tokens'), {text}) then null else {value} end"
        if int_tokens
        else value
    )


def _whole_id_checks(col: Column, int_tokens: bool) -> list[tuple[str, str]]:
    """The source checks of a whole-number id (the text path's rules that such a value can break)."""
    if col.nullable:
        return []
    checks = [("not null", f"{_q(col.name)} is null")]
    if int_tokens:
        token = f"list_contains(getvariable('null_tokens'), cast({_q(col.name)} as varchar))"
        checks.append(("not a null token (params data.null_tokens)", token))
    return checks


def _source_checks(col: Column) -> list[tuple[str, str]]:
    """(rule text, SQL predicate TRUE for a bad raw row): presence and type, on the source."""
    v = _q(col.name)
    raw = f"trim(cast({v} as varchar))"
    present = f"not {_missing(col.name)}"
    checks = []
    if not col.nullable:
        checks.append(("not null", f"({v} is null or {raw} = '')"))
        checks.append(
            (
                "not a null token (params data.null_tokens)",
                f"{raw} <> '' and list_contains(getvariable('null_tokens'), {raw})",
            )
        )
    if col.is_id:
        bad = _fractional(raw)
        checks.append(("type id: whole (integer or text, not a fraction)", f"{present} and {bad}"))
    elif col.type.upper() != "VARCHAR":  # any text is a VARCHAR: that rule never fails
        checks.append((f"type {col.type}", f"{present} and {_typed_expr(col)} is null"))
    if col.type == MONEY:
        bad = f"{_typed_expr(col)} is not null and regexp_matches({raw}, '{CENTS_BEYOND}')"
        checks.append(("money: at most 2 decimals (not rounded)", f"{present} and {bad}"))
    return checks


def _value_checks(col: Column, ts_min: str) -> list[tuple[str, str, dict, bool]]:
    """(rule, predicate TRUE for a bad typed row, params, row-level) for one typed column."""
    v = _q(col.name)
    checks: list[tuple[str, str, dict, bool]] = []
    if col.enum is not None:
        checks.append(
            (
                "one of " + ", ".join(col.enum),
                f"not list_contains($enum, {v})",
                {"enum": list(col.enum)},
                False,
            )
        )
    if col.min_value is not None:
        checks.append((f">= {col.min_value:g}", f"{v} < $lo", {"lo": col.min_value}, col.quarantine))
    if col.max_value is not None:
        checks.append((f"<= {col.max_value:g}", f"{v} > $hi", {"hi": col.max_value}, col.quarantine))
    if col.nonzero:
        checks.append(("not zero", f"{v} = 0", {}, False))
    if col.is_timestamp:
        checks.append(
            (
                f"timestamp between {ts_min} and {MAX_TS} (params data.timestamp_min)",
                f"({v} < cast($min_ts as timestamp) or {v} >= cast($max_ts as timestamp))",
                {"min_ts": ts_min, "max_ts": MAX_TS},
                False,
            )
        )
    return checks


def _misspelt_headers(con, table: Table, path: Path, cols: list[str]) -> tuple[list[Problem], list[Problem]]:
    """Headers one edit from a contract column: an error when that column is absent (its values
    would be dropped), a notice when the file has it too."""
    errors, notices, src = [], [], f"src_{table.name}"
    lower = {c.lower(): c for c in cols}
    for header in cols:
        stem = re.sub(r"_[0-9]+$", "", header)  # DuckDB reads a repeated header h as h_1
        if stem != header and lower.get(stem.lower(), header) != header and header not in table.column_names:
            rule = f"column {header!r} is a second {stem} column and is not read (the file has {lower[stem.lower()]})"
            notices.append(Problem(str(path), header, rule, 0, severity="notice", table=table.name))
            continue
        name = None if header in table.column_names else near_contract(header, table.column_names)
        if name is None:
            continue
        if name in cols:
            rule = f"column {header!r} is not read: the file also has {name} (did you mean {name}?)"
            notices.append(Problem(str(path), header, rule, 0, severity="notice", table=table.name))
            continue
        bad = f"from {src} where not {_missing(header)}"
        n = con.execute(f"select count(*) {bad}").fetchone()[0]
        show = list(dict.fromkeys([k for k in table.key if k in cols] + [header]))
        ex = _examples(con, bad, {}, path, show) or (f"line 1 (header: {', '.join(cols)})",)
        rule = f"header is a contract column (did you mean {name}?): its values would be dropped"
        errors.append(Problem(str(path), header, rule, n, ex, table=table.name))
    return errors, notices


def _stage_table(
    con, table: Table, path: Path, sources: list[Path], tm: TableMapping
) -> tuple[list[Problem], list[Problem], list[str]]:
    """Read one file into typed_<table> (original ids as text); presence and type problems,
    header notices, and the contract columns the file lacks."""
    fname, src = str(path), f"src_{table.name}"
    cols, problems = _read_source(con, table, path, sources, tm)
    misspelt, notices = _misspelt_headers(con, table, path, cols)
    problems += misspelt
    near = {near_contract(p.column, table.column_names) for p in misspelt}
    # Nullable and defaulted columns may be left out of a file; the others must be there.
    missing = [c for c in table.columns if c.name not in cols]
    for c in missing:
        if not c.nullable and c.default_sql is None and c.name not in near:
            problems.append(
                Problem(fname, c.name, "column present", 1, (f"columns found: {', '.join(cols)}",))
            )
    types = dict(con.execute(f"select column_name, column_type from (describe {src})").fetchall())
    typed = {c.name for c in table.columns if c.name in cols and _as_is(c, types[c.name])}
    whole = {c.name for c in table.columns if c.name in cols and _whole_id(c, types[c.name])}
    # a mapped id whose source fits BIGINT stays BIGINT (no text round trip; _harmonize_ids)
    as_int = {
        c.name for c in table.columns if c.name in whole and c.id_map and types[c.name].upper() in BIGINT_FIT
    }
    int_tokens = bool(whole) and _int_tokens(con)

    def source_checks(c: Column) -> list[tuple[str, str]]:
        if c.name in typed:
            return _typed_checks(c)
        return _whole_id_checks(c, int_tokens) if c.name in whole else _source_checks(c)

    checks = [(c.name, rule, bad) for c in table.columns if c.name in cols for rule, bad in source_checks(c)]
    counts = con.execute(  # one pass over the file for every check
        f"select count(*){''.join(f', count_if({bad})' for _, _, bad in checks)} from {src}"
    ).fetchone()
    if table.required and counts[0] == 0:
        ex = (f"line 1 (header only: {', '.join(cols)})",)
        problems.append(Problem(fname, "-", f"required table {table.name} has rows", 0, ex, table=table.name))
    key_show = [k for k in table.key if k in cols]
    for (column, rule, bad), n in zip(checks, counts[1:], strict=True):
        if n:
            show = list(dict.fromkeys(key_show + [column]))
            ex = _examples(con, f"from {src} where {bad}", {}, path, show)
            problems.append(Problem(fname, column, rule, n, ex, table=table.name))
    present = [c for c in table.columns if c.name in cols]

    def clean(c: Column) -> str:  # once per value; a column already of the contract type as it is
        if c.name in typed:
            return _q(c.name)
        return _whole_id_text(c, int_tokens, c.name in as_int) if c.name in whole else _clean(c.name)

    cleaned = "".join(f", {clean(c)} as {_q(c.name)}" for c in present)
    select = ", ".join(
        f"{_q(c.name) if c.name in typed | whole else _typed_expr(c, _q(c.name))} as {_q(c.name)}"
        if c.name in cols
        else f"cast(null as {c.source_type}) as {_q(c.name)}"
        for c in table.columns
    )
    in_order = _read_in_place(path, tm)  # typed_<table> then keeps the files' order (_finalize_table)
    with _insertion_order(con, in_order):
        con.execute(
            f"create or replace table {STAGE}.typed_{table.name} as select _file, _line, {select} "
            f"from (select _file, _line{cleaned} from {src})"
        )
    kind = con.execute("select table_type from information_schema.tables where table_name = $t", {"t": src})
    con.execute(f"drop {'view' if kind.fetchone()[0] == 'VIEW' else 'table'} {src}")
    return problems, notices, [c.name for c in missing]


@contextmanager
def _staging(con, stage: Path):
    """Attach the database file `stage` as STAGE and look names up there after the warehouse's own,
    so that typed_<table> and src_<table> are found unqualified; detach it at the end (the caller
    removes the file)."""
    path = str(stage).replace("'", "''")
    con.execute(f"attach '{path}' as {STAGE}")
    default = con.execute("select current_database()").fetchone()[0].replace('"', '""')
    con.execute("set search_path = $p", {"p": f'"{default}".main,{STAGE}.main'})
    try:
        yield
    finally:
        con.execute("reset search_path")
        con.execute(f"detach {STAGE}")


def _harmonize_ids(con) -> None:
    """One type per mapped id across the typed tables. Staging keeps a mapped id BIGINT when its
    source is a whole-number type that fits; when every column holding that id is such (or holds no
    value), all are BIGINT, else the BIGINT ones become their text, cast(x as varchar): exactly the
    text path's value, so checks, maps and examples see what they always saw."""
    types = dict(
        ((t, c), typ)
        for t, c, typ in con.execute(
            "select table_name, column_name, data_type from duckdb_columns() where table_name like 'typed_%'"
        ).fetchall()
    )
    for idn in MAPPED_IDS:
        cols = [(f"typed_{t.name}", c.name) for t in TABLES.values() for c in t.columns if c.id_map == idn]
        ints = [tc for tc in cols if types[tc] == "BIGINT"]
        if not ints:
            continue
        rest = [tc for tc in cols if tc not in ints]
        text = any(
            con.execute(f"select 1 from {t} where {_q(c)} is not null limit 1").fetchone() for t, c in rest
        )
        for t, c in ints if text else rest:
            con.execute(f"alter table {t} alter column {_q(c)} type {'varchar' if text else 'bigint'}")


def _create_empty_typed(con, table: Table) -> None:
    cols = ", ".join(f"{_q(c.name)} {c.source_type}" for c in table.columns)
    con.execute(f"create or replace table {STAGE}.typed_{table.name} (_file INTEGER, _line BIGINT, {cols})")


def _bind(sql: str, params: dict) -> dict:
    """The params a SQL text references ($name), so DuckDB gets exactly those."""
    return {k: v for k, v in params.items() if re.search(rf"\$\b{k}\b", sql)}


def _apply_defaults(con, table: Table, path: Path, absent: list[str], params: Params) -> list[Problem]:
    """Fill absent defaulted columns (contract default_sql); a default that stays NULL is a problem."""
    typed, problems = f"typed_{table.name}", []
    values = {"hero_price_max": params.data.hero_price_max, "hero_top_n": params.data.hero_top_n}
    for c in table.columns:
        if c.name not in absent or c.default_sql is None:
            continue
        con.execute(f"update {typed} set {_q(c.name)} = {c.default_sql}", _bind(c.default_sql, values))
        bad = f"from {typed} where {_q(c.name)} is null"
        n = con.execute(f"select count(*) {bad}").fetchone()[0]
        if n:
            show = list(dict.fromkeys(list(table.key) + [c.name]))
            rule = f"not null (column absent, default {c.default_doc})"
            problems.append(
                Problem(str(path), c.name, rule, n, _examples(con, bad, {}, path, show), table=table.name)
            )
    return problems


def _check_values(
    con, table: Table, path: Path, staged: set[str], opts: LoadOptions, last_day
) -> list[Problem]:
    """Value, key, foreign-key and row rules over typed_<table>, on the original values. The
    row-by-row rules are counted in one pass over the table; keys and references each need a join."""
    typed = f"typed_{table.name}"
    checks: list[
        tuple[str, str, str, dict, list[str], bool]
    ] = []  # column, rule, bad, params, show, row-level
    for col in table.columns:
        for rule, bad, params, row_level in _value_checks(col, opts.params.data.timestamp_min):
            checks.append(
                (col.name, rule, f"{_q(col.name)} is not null and {bad}", params, [col.name], row_level)
            )
        if col.not_after_last_order and last_day is not None:
            rule = f"not after the export's last day ({last_day}, the last orders.ordered_at)"
            bad = f"{_q(col.name)} >= cast($last_day as date) + interval 1 day"
            checks.append((col.name, rule, bad, {"last_day": last_day}, [col.name], True))
    joined = len(checks)  # from here to the row rules: checks joining a table
    counted: dict[int, str] = {}  # a check's own count query
    if table.key:
        keys = ", ".join(_q(k) for k in table.key)
        not_null = " and ".join(f"{_q(k)} is not null" for k in table.key)  # NULL keys: a type error
        dup = f"{not_null} and ({keys}) in (select ({keys}) from {typed} group by all having count(*) > 1)"
        # its rows counted without the semi-join: the sizes of the keys held by more than one row
        counted[len(checks)] = (
            f"select coalesce(sum(n), 0) from (select count(*) as n from {typed} where {not_null} "
            f"group by {keys} having count(*) > 1)"
        )
        checks.append((", ".join(table.key), "unique key", dup, {}, list(table.key), False))
    for fk in table.foreign_keys:
        if fk.ref_table not in staged:
            continue  # optional parent absent (or unreadable: reported on its own file)
        c = f"{typed}.{_q(fk.column)}"
        orphan = f"{c} is not null and not exists (select 1 from typed_{fk.ref_table} p where p.{_q(fk.ref_column)} = {c})"
        checks.append(
            (fk.column, f"references {fk.ref_table}.{fk.ref_column}", orphan, {}, [fk.column], fk.quarantine)
        )
    rules = len(checks)
    for rule in table.rules:
        checks.append(
            (", ".join(rule.columns), rule.name, f"not ({rule.sql})", {}, list(rule.columns), False)
        )
    by_row = [i for i in range(len(checks)) if not joined <= i < rules]
    counts = dict(zip(by_row, _count_rows(con, typed, [checks[i][2:4] for i in by_row]), strict=True))
    for i in range(joined, rules):
        sql = counted.get(i, f"select count(*) from {typed} where {checks[i][2]}")
        counts[i] = con.execute(sql, checks[i][3]).fetchone()[0]
    problems = []
    for i, (column, rule, bad, params, show, row_level) in enumerate(checks):
        if counts[i]:
            show = list(dict.fromkeys(list(table.key) + show))
            ex = _examples(con, f"from {typed} where {bad}", params, path, show)
            reject = bad if row_level else ""
            problems.append(
                Problem(
                    str(path),
                    column,
                    rule,
                    counts[i],
                    ex,
                    table=table.name,
                    reject_sql=reject,
                    reject_params=params,
                )
            )
    return problems


def _count_rows(con, typed: str, checks: list[tuple[str, dict]]) -> list[int]:
    """How many rows of `typed` each (predicate, params) holds for, in one pass (each check's
    $params renamed apart: two columns' $enum differ)."""
    if not checks:
        return []
    exprs, bound = [], {}
    for i, (bad, params) in enumerate(checks):
        exprs.append("count_if(" + re.sub(r"\$(\w+)\b", lambda m, i=i: f"${m.group(1)}_{i}", bad) + ")")
        bound.update({f"{k}_{i}": v for k, v in params.items()})
    return list(con.execute(f"select {', '.join(exprs)} from {typed}", bound).fetchone())


def _utf8_sources(path: Path, encoding: str | None, scratch: Path) -> list[Path]:
    """The UTF-8 files DuckDB reads for a table's input (each file, or its converted copy)."""
    out = []
    for i, f in enumerate(input_files(path)):
        try:
            out.append(utf8_source(f, encoding, scratch / str(i) if f != path else scratch))
        except FileProblem as e:
            e.file = str(f) if f != path else ""
            raise
    return out


def _stage_file(
    con, name: str, path: Path, opts: LoadOptions, scratch: Path, v: Validation
) -> list[str] | None:
    """Stage one input file into typed_<name>: the contract columns it lacks, or None when it
    could not be read (the problem is in v.errors; typed_<name> is then empty)."""
    table = TABLES[name]
    try:
        v.sources[name] = _utf8_sources(path, opts.encoding, scratch)
        found, notices, absent = _stage_table(
            con, table, path, v.sources[name], opts.mapping.get(name, TableMapping())
        )
    except FileProblem as e:  # empty, or not in its encoding: 0 rows read, or the first bad line
        ex = (e.example,) if e.example else ()
        v.errors.append(Problem(e.file or str(path), "-", e.rule, len(ex), ex))
    except duckdb.OutOfMemoryException:
        raise
    except duckdb.Error as e:  # unreadable file, bad CSV quoting, ...
        first = str(e).splitlines()[0]
        v.errors.append(Problem(str(path), "-", "readable " + _fmt(path)[1:], 1, (first,)))
    else:
        v.errors.extend(found)
        v.notices.extend(notices)
        return absent
    _create_empty_typed(con, table)
    return None


def _validate_into(con, data_dir: Path, opts: LoadOptions, scratch: Path) -> Validation:
    """Stage, default and check every file; typed_<table> stay for the load (in STAGE: _staging)."""
    files, problems = find_files(data_dir, opts.mapping)
    v = Validation(files=files, errors=problems)
    absent_cols: dict[str, list[str]] = {}
    for name in LOAD_ORDER:
        if name not in files:
            _create_empty_typed(con, TABLES[name])
            continue
        absent = _stage_file(con, name, files[name], opts, scratch, v)
        if absent is not None:
            absent_cols[name] = absent
    staged = set(absent_cols)
    _harmonize_ids(con)
    for name in LOAD_ORDER:
        if name in staged:
            v.errors.extend(_apply_defaults(con, TABLES[name], files[name], absent_cols[name], opts.params))
    last_day = con.execute("select cast(max(ordered_at) as date) from typed_orders").fetchone()[0]
    for name in LOAD_ORDER:
        if name in staged:
            v.errors.extend(_check_values(con, TABLES[name], files[name], staged, opts, last_day))
    v.notices.extend(vocabulary_notices(con, staged, files, opts.params))
    return v


@contextmanager
def _interruptible(con):
    """Ctrl-C stops a running DuckDB query at once (it would otherwise finish first): the signal's
    wake-up byte reaches a watcher thread that interrupts the connection; KeyboardInterrupt follows."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    old = signal.set_wakeup_fd(w)

    def watch() -> None:
        while data := os.read(r, 64):
            if signal.SIGINT in data:
                con.interrupt()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(old)
        os.close(w)  # the watcher reads end-of-file and ends
        watcher.join()
        os.close(r)


def _memory_limit(params: Params) -> str:
    return duckdb_config(params.duckdb.model_dump()).get("memory_limit", "the default, 80% of RAM")


def _prepare(con, params: Params) -> None:
    """Bind the load's settings on the connection: DuckDB resources, null tokens, timezone."""
    cfg = duckdb_config(params.duckdb.model_dump())
    for key, value in cfg.items():  # keys are known names; values are bound
        con.execute(f"set {key} = $v", {"v": value})
    # Every query that needs an order says so (order by): results need not keep the input's order,
    # so large inserts and derived tables stream and spill instead of buffering rows to keep it.
    con.execute("set preserve_insertion_order = false")
    con.execute("set variable null_tokens = $t", {"t": list(params.data.null_tokens)})
    con.execute("set variable timezone = $tz", {"tz": params.data.timezone})


def check_data(data_dir: str | Path, opts: LoadOptions | None = None) -> Validation:
    """Validate every contract file in data_dir: errors (empty = valid) and notices."""
    opts = opts or LoadOptions()
    con = duckdb.connect()
    try:
        _prepare(con, opts.params)
        with (
            _interruptible(con),
            tempfile.TemporaryDirectory(prefix="userops-check-") as scratch,
            _staging(con, Path(scratch) / "stage.duckdb"),
        ):
            return _validate_into(con, Path(data_dir), opts, Path(scratch))
    except duckdb.OutOfMemoryException:
        raise OutOfMemory(f"checking {data_dir}", _memory_limit(opts.params)) from None
    finally:
        con.close()


def check_dir(data_dir: str | Path, opts: LoadOptions | None = None) -> list[Problem]:
    """Validate every contract file in data_dir; return all errors (empty = valid)."""
    return check_data(data_dir, opts).errors


def _set_aside(con, problems: list[Problem]) -> None:
    """Move the rows of row-level problems from typed_<table> into temp table _rejects."""
    con.execute(
        "create or replace temp table _rejects (table_name VARCHAR, source_file VARCHAR, "
        "source_line BIGINT, reason VARCHAR, row_json VARCHAR)"
    )
    for p in problems:
        typed = f"typed_{p.table}"
        cols = [c for c in TABLES[p.table].column_names]
        ids = {
            c.name for c in TABLES[p.table].columns if c.is_id
        }  # ids as their text (BIGINT: _harmonize_ids)
        row = (
            "to_json({"
            + ", ".join(f"'{c}': " + (f"cast({_q(c)} as varchar)" if c in ids else _q(c)) for c in cols)
            + "})"
        )
        reason = f"{p.column}: {p.rule}"
        files = [str(f) for f in input_files(Path(p.file))]
        con.execute(
            f"insert into _rejects select $t, $files[_file], _line, $r, {row} from {typed} where {p.reject_sql}",
            {"t": p.table, "files": files, "r": reason, **p.reject_params},
        )
    for p in problems:
        con.execute(f"delete from typed_{p.table} where {p.reject_sql}", p.reject_params)


def _build_id_maps(con) -> dict[str, str]:
    """map_<id>(<id> BIGINT, source_id VARCHAR) for every mapped id, over all tables' values;
    returns each id's mode.

    Integer mode when every value is a plain integer (the surrogate is the value itself), else
    text mode (the surrogate is the dense rank of the original text).
    """
    modes = []
    for idn in MAPPED_IDS:
        parts = [
            f"select {_q(c.name)} as v from typed_{t.name}"
            for t in TABLES.values()
            for c in t.columns
            if c.id_map == idn
        ]
        con.execute(
            f"create or replace temp table _ids as select distinct v from ({' union all '.join(parts)}) where v is not null"
        )
        # v is the id's text, or BIGINT when every source of the id is a whole number (_harmonize_ids)
        n_text = con.execute(
            "select count(*) from _ids where not regexp_full_match(cast(v as varchar), '-?(0|[1-9][0-9]{0,17})')"
        ).fetchone()[0]
        surrogate = "cast(v as bigint)" if n_text == 0 else "dense_rank() over (order by cast(v as varchar))"
        con.execute(
            f"create table map_{idn} as select cast({surrogate} as bigint) as {idn}, cast(v as varchar) as source_id "
            f"from _ids order by {idn}"
        )
        n = con.execute(f"select count(*) from map_{idn}").fetchone()[0]
        modes.append((idn, "integer" if n_text == 0 else "text", n))
    con.execute("drop table _ids")
    con.execute("create table _id_maps (id_name VARCHAR, mode VARCHAR, n_ids BIGINT)")
    con.executemany("insert into _id_maps values (?, ?, ?)", modes)
    return {idn: mode for idn, mode, _ in modes}


def _finalize_table(con, table: Table, modes: dict[str, str], in_file_order: bool = False) -> None:
    """Create <table> from typed_<table>: contract types, mapped ids as surrogate keys (in integer
    mode the surrogate is the id's own value: a cast, no join with the map), in key order, or in
    the files' order (_file, _line) for a table without a key: when typed_<table> already holds its
    rows in that order (`in_file_order`) and no map is joined, they are copied in order, not sorted."""
    exprs, joins = [], []
    for i, c in enumerate(table.columns):
        if c.id_map and modes[c.id_map] == "integer":
            exprs.append(f"cast(t.{_q(c.name)} as bigint) as {_q(c.name)}")
        elif c.id_map:
            joins.append(f"left join map_{c.id_map} m{i} on m{i}.source_id = cast(t.{_q(c.name)} as varchar)")
            exprs.append(f"m{i}.{_q(c.id_map)} as {_q(c.name)}")
        else:
            exprs.append(f"cast(t.{_q(c.name)} as {c.type}) as {_q(c.name)}")
    in_order = in_file_order and not table.key and not joins
    order = ", ".join(_q(k) for k in table.key) if table.key else "_file, _line"
    with _insertion_order(con, in_order):
        con.execute(
            f"create table {_q(table.name)} as select {', '.join(_q(c) for c in table.column_names)} "
            f"from (select t._file, t._line, {', '.join(exprs)} from typed_{table.name} t {' '.join(joins)})"
            + ("" if in_order else f" order by {order}")
        )


def build_derived(con: duckdb.DuckDBPyConnection, params: Params | None = None) -> None:
    """Create the derived fact tables (sql/warehouse/*.sql, in name order)."""
    p = params or Params()
    values = {"new_user_kinds": list(p.data.new_user_coupon_kinds)}
    for name in sql_names("warehouse"):
        sql = read_sql(name)
        with logged(name, {}):
            con.execute(sql, _bind(sql, values))


def _write_meta(con, report: LoadReport, files: dict[str, Path], data_dir: Path) -> None:
    con.execute(
        "create table _load_meta as select * from (values "
        + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(LOAD_ORDER))
        + ") t(load_order, table_name, present, n_rows, n_rejected, source_file)",
        [
            v
            for i, name in enumerate(LOAD_ORDER, start=1)
            for v in (
                i,
                name,
                name in files,
                report.rows[name],
                report.rejected.get(name, 0),
                str(files.get(name, "")),
            )
        ],
    )
    con.execute(
        "create table _load_rejects as select table_name, reason, count(*) as n_rows "
        "from _rejects group by all order by table_name, reason"
    )
    con.execute("create table _load_notices (table_name VARCHAR, column_name VARCHAR, message VARCHAR)")
    if report.notices:
        con.executemany(
            "insert into _load_notices values (?, ?, ?)",
            [(n.table, n.column, n.rule) for n in report.notices],
        )
    con.execute(
        "create table _load_info as select ?::varchar as fingerprint, ?::timestamp as loaded_at, ?::varchar as data_dir",
        [report.fingerprint, datetime.now(UTC).replace(tzinfo=None), str(data_dir.resolve())],
    )


def rejects_path(warehouse: str | Path) -> Path:
    """The rejects file beside the warehouse: data/warehouse.duckdb -> data/warehouse.rejects.csv."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.stem + ".rejects.csv")


def _build(
    con, data_dir: Path, warehouse: Path, opts: LoadOptions, rejects_tmp: Path, scratch: Path
) -> LoadReport:
    v = _validate_into(con, data_dir, opts, scratch)
    row_level = [p for p in v.errors if p.quarantinable]
    errors = [p for p in v.errors if not (opts.quarantine and p.quarantinable)]
    if errors:
        raise ContractError(errors, v.notices)
    _set_aside(con, row_level if opts.quarantine else [])
    report = LoadReport(warehouse=warehouse, fingerprint=fingerprint(v.files), notices=v.notices)
    counts = dict(
        con.execute(
            "select table_name, count(distinct (source_file, source_line)) from _rejects group by all"
        ).fetchall()
    )
    report.rejected = {name: counts[name] for name in LOAD_ORDER if name in counts}  # stable order
    modes = _build_id_maps(con)
    for name in LOAD_ORDER:
        path, tm = v.files.get(name), opts.mapping.get(name, TableMapping())
        _finalize_table(con, TABLES[name], modes, path is not None and _read_in_place(path, tm))
        con.execute(f"drop table typed_{name}")
    report.absent = [name for name in LOAD_ORDER if name not in v.files]
    report.rows = {name: con.execute(f"select count(*) from {_q(name)}").fetchone()[0] for name in LOAD_ORDER}
    # Verify: every row of every file is loaded or set aside.
    for name, path in v.files.items():
        sources = {"files": [str(f) for f in v.sources[name]]}
        n_src = con.execute(f"select count(*) from {_reader(_fmt(path))}", sources).fetchone()[0]
        n_in = report.rows[name] + report.rejected.get(name, 0)
        if n_src != n_in:
            raise ContractError([Problem(str(path), "-", "all rows loaded or set aside", abs(n_src - n_in))])
    build_derived(con, opts.params)
    _write_meta(con, report, v.files, data_dir)
    if report.rejected:
        target = str(rejects_tmp).replace("'", "''")
        con.execute(
            "copy (select * from _rejects order by table_name, source_line, reason) "
            f"to '{target}' (header, delimiter ',')"
        )
    return report


def _pause_for_tests() -> None:
    """With USEROPS_LOAD_PAUSE_FILE set, write that file and wait for a signal (a test sends
    Ctrl-C at this controlled point: the new warehouse is built but not yet in place)."""
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()))
        while True:  # not signal.pause(): a signal landing just before the pause would never wake it
            time.sleep(0.05)


def load_dir(data_dir: str | Path, warehouse: str | Path, opts: LoadOptions | None = None) -> LoadReport:
    """Validate data_dir and atomically (re)build the DuckDB warehouse file.

    Raises ContractError listing every problem, or OutOfMemory; the existing warehouse is then
    unchanged (also when the load is interrupted). Holds the load lock throughout (removing temp
    files of killed loads first) and the warehouse lock exclusive for the final rename, which
    waits for running runs (userops.locks; raises LockBusy after the wait, the warehouse unchanged).
    """
    data_dir, warehouse, opts = Path(data_dir), Path(warehouse), opts or LoadOptions()
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with locks.loading(warehouse):
        return _load_locked(data_dir, warehouse, opts)


def _load_locked(data_dir: Path, warehouse: Path, opts: LoadOptions) -> LoadReport:
    fd, tmp_name = tempfile.mkstemp(prefix=warehouse.name + ".", suffix=".tmp", dir=warehouse.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # duckdb wants to create the file itself
    rejects_tmp = Path(str(tmp) + ".rejects.csv")
    stage = Path(str(tmp) + ".stage")
    parquet_tmp = parquet_tables.staging(Path(opts.parquet_out)) if opts.parquet_out else None
    try:
        con = duckdb.connect(str(tmp))
        try:
            _prepare(con, opts.params)
            with _interruptible(con), tempfile.TemporaryDirectory(prefix="userops-load-") as scratch:
                with _staging(con, stage):
                    report = _build(con, data_dir, warehouse, opts, rejects_tmp, Path(scratch))
                if parquet_tmp is not None:
                    parquet_tables.write(con, parquet_tmp)
                locks.checkpoint("load:built")
                con.execute("checkpoint")
        except duckdb.OutOfMemoryException:
            raise OutOfMemory(f"loading {data_dir}", _memory_limit(opts.params)) from None
        except duckdb.IOException as e:
            if not _no_space(e):
                raise
            spill = duckdb_config(opts.params.duckdb.model_dump()).get(
                "temp_directory", f"{tmp}.tmp (DuckDB's default)"
            )
            raise OutOfDisk(f"loading {data_dir}", str(e).splitlines()[0], warehouse, spill) from None
        finally:
            con.close()
        _pause_for_tests()
        with locks.replacing(warehouse):  # no run is reading the warehouse meanwhile
            os.replace(tmp, warehouse)
            if parquet_tmp is not None:
                parquet_tables.swap_in(parquet_tmp, Path(opts.parquet_out))
            rejects = rejects_path(warehouse)
            if report.rejected:
                os.replace(rejects_tmp, rejects)
                report.rejects_file = rejects
            elif rejects.exists():
                rejects.unlink()  # an old rejects file would describe another load
        return report
    finally:
        for leftover in (tmp, Path(str(tmp) + ".wal"), rejects_tmp, stage, Path(str(stage) + ".wal")):
            if leftover.exists():
                leftover.unlink()
        if parquet_tmp is not None and parquet_tmp.exists():
            shutil.rmtree(parquet_tmp, ignore_errors=True)
