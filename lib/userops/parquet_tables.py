"""The validated input tables as Parquet files, for an engine that reads Parquet (Spark).

    userops load data/demo --warehouse data/warehouse.duckdb --parquet-out data/warehouse.parquet

writes one `<table>.parquet` per contract input table (the loaded, typed rows with their BIGINT
surrogate ids) plus the load's own small tables (`_load_meta`, `_load_info`, `_load_rejects`,
`_load_notices`, `_id_maps` as `meta_load_meta.parquet` ...: Spark skips names starting with '_';
and `map_<id>`), so a Spark session sees what a DuckDB run sees. The
derived tables (sql/warehouse/*.sql) are not written: the Spark engine builds them from these with
the same SQL (userops.engine). The folder is written beside its final place and swapped in whole
when the warehouse is, so it always belongs to one load (its `_load_info` fingerprint).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from userops.contract import LOAD_ORDER

LOAD_TABLES = ("_load_meta", "_load_info", "_load_rejects", "_load_notices", "_id_maps")


def default_folder(warehouse: str | Path) -> Path:
    """data/warehouse.duckdb -> data/warehouse.parquet (where the Spark engine looks by default)."""
    warehouse = Path(warehouse)
    return warehouse.with_name(warehouse.stem + ".parquet")


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Input, load and id-map tables of a built warehouse (in that order)."""
    maps = [r[0] for r in con.execute("select id_name from _id_maps order by id_name").fetchall()]
    return [*LOAD_ORDER, *LOAD_TABLES, *(f"map_{m}" for m in maps)]


def write(con: duckdb.DuckDBPyConnection, folder: Path) -> list[str]:
    """Copy every table of `table_names` to folder/<table>.parquet; returns the names written."""
    folder.mkdir(parents=True, exist_ok=True)
    names = table_names(con)
    for name in names:  # names are the contract's and the loader's own, never data
        target = str(folder / file_name(name)).replace("'", "''")
        con.execute(f"copy (select * from \"{name}\") to '{target}' (format parquet)")
    return names


# Spark skips files whose name starts with '_' (as hidden): the load's tables are stored as meta_<name>.
_META = "meta"


def file_name(table: str) -> str:
    """'orders' -> 'orders.parquet'; '_load_info' -> 'meta_load_info.parquet'."""
    return f"{_META}{table}.parquet" if table.startswith("_") else f"{table}.parquet"


def table_of(path: Path) -> str:
    """The table a file of the folder holds (inverse of file_name)."""
    stem = path.name.removesuffix(".parquet")
    return stem[len(_META) :] if stem.startswith(_META + "_") else stem


def staging(folder: Path) -> Path:
    """Where a load writes the folder before swapping it in (beside it, same file system)."""
    return folder.with_name(folder.name + f".{os.getpid()}.tmp")


def swap_in(staged: Path, folder: Path) -> None:
    """Replace `folder` by `staged` (the old one removed after the rename)."""
    old = folder.with_name(folder.name + f".{os.getpid()}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(staged, folder)
    shutil.rmtree(old, ignore_errors=True)


def write_warehouse(warehouse: str | Path, folder: Path) -> list[str]:
    """The folder `userops load --parquet-out folder` would have written, from a warehouse already
    loaded (opened read-only, under the run's shared lock): the same tables, the same `_load_info`
    fingerprint, written beside the folder and swapped in whole. Returns the names written."""
    from userops.db import connect
    from userops.locks import reading

    folder = Path(folder)
    staged = staging(folder)
    try:
        with reading(warehouse), connect(warehouse) as con:
            names = write(con, staged)
        swap_in(staged, folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return names
