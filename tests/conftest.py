"""Shared fixtures: build tiny warehouses from hand-written rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from userops.contract import TABLES
from userops.load import load_dir


def write_tables(data_dir: Path, tables: dict[str, list[dict]]) -> Path:
    """Write each table as CSV with all contract columns (absent ones left empty)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        cols = TABLES[name].column_names
        df = pd.DataFrame(rows)
        for c in cols:
            if c not in df.columns:
                df[c] = None
        df[list(cols)].to_csv(data_dir / f"{name}.csv", index=False)
    return data_dir


@pytest.fixture
def make_warehouse(tmp_path):
    """make_warehouse({"users": [...], "orders": [...]}) -> path of a loaded warehouse."""
    counter = iter(range(1000))

    def _make(tables: dict[str, list[dict]]) -> Path:
        i = next(counter)
        data_dir = write_tables(tmp_path / f"data{i}", tables)
        wh = tmp_path / f"wh{i}.duckdb"
        load_dir(data_dir, wh)
        return wh

    return _make
