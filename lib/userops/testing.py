"""Build tiny contract-shaped data sets by hand: for tests and for trying a metric on a few rows.

from userops.testing import order_row, write_tables
write_tables(Path("tmp/in"), {"users": [...], "orders": [order_row(1, 1, "2026-10-01 10:00:00")]})
userops.load.load_dir("tmp/in", "tmp/wh.duckdb")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from userops.contract import TABLES


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


def order_row(
    order_id, user_id, ordered_at, coupon_id=None, gmv=20, order_channel="app", store_id="S1", discount=0
):
    """One orders row for hand fixtures (contract columns, sensible defaults)."""
    return dict(
        order_id=order_id,
        user_id=user_id,
        ordered_at=ordered_at,
        store_id=store_id,
        order_channel=order_channel,
        gmv=gmv,
        discount=discount,
        coupon_id=coupon_id,
    )


def one_row(df: pd.DataFrame, **keys):
    """The single row of df whose columns equal keys (asserts there is exactly one)."""
    m = df
    for k, v in keys.items():
        m = m[m[k] == v]
    assert len(m) == 1, f"{len(m)} rows match {keys}"
    return m.iloc[0]
