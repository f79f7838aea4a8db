"""The heaviest metric SQL files on DuckDB and on local Spark (through a local Spark Connect server):
CPU seconds per file, per million orders (issue #17, "Measure"; bench/scale.md, section Spark).

    .venv/bin/python bench/spark_sql.py --warehouse /work/w200k.duckdb --parquet /tmp/w200k.parquet

The warehouse's tables are written as Parquet first when the folder has none (what `userops load
--parquet-out` writes). Spark runs in a separate JVM (userops.spark_server: the Connect server a
cluster would be), so its CPU seconds are the JVM's own (/proc/<pid>/stat), DuckDB's this
process's. Each file's result is materialised whole on both engines (DuckDB: a temp table; Spark:
the no-op sink, which runs the whole plan without collecting rows), so neither pays for moving
rows to Python; the row counts are compared. The derived tables' build (once per load on Spark)
is timed on its own. Parameters: the report month's (default: the warehouse's last complete
month), as the notebooks pass them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from userops import db, parquet_tables, spark_sql
from userops.engine import SparkConnection, derived_names
from userops.params import Params
from userops.period import Period
from userops.spark_server import LocalConnectServer
from userops.sql_files import read_sql

FILES = [
    "activity/active_users_trend",
    "activity/purchase_cycles",
    "acquisition/rfm_summary",
    "recall/user_stages",
]


def file_params(name: str, p: Period, params: Params) -> dict:
    """The parameters a notebook gives the file for report month p (params' defaults)."""
    year_back = p.shift(-11)
    if name == "activity/active_users_trend":
        return {"from_date": year_back.start, "to_date": p.end}
    if name == "activity/purchase_cycles":
        return {"from_date": year_back.start, "as_of": p.as_of, "horizon": 120, "product_pattern": "%"}
    if name == "acquisition/rfm_summary":
        cal = p.shift(-2)
        return {
            "from_date": p.shift(-14).start,
            "to_date": cal.start,
            "cal_end": cal.start,
            "holdout_end": p.end,
            "horizon_days": 91,
            "new_user_kinds": list(params.data.new_user_coupon_kinds),
            "assumed_margin_rate": params.experiments.assumed_margin_rate,
        }
    if name == "recall/user_stages":
        rc = params.recall
        keys = ["k_declining", "k_churned", "declining_floor_days", "churned_floor_days", "declining_days"]
        keys += ["churned_days", "min_gaps", "growth_days", "growth_max_orders", "prior_gaps"]
        months = max(rc.stage_months, rc.campaign_months + 1)
        return {
            "from_month": p.shift(-(months - 1)).start,
            "to_month": p.start,
            **{k: getattr(rc, k) for k in keys},
        }
    raise ValueError(f"no parameters for {name}")


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def on_duckdb(warehouse: Path, files: list[str], month: Period, params: Params) -> dict:
    out = {}
    with db.connect(warehouse, settings=params.duckdb.model_dump()) as con:
        for name in files:
            given = file_params(name, month, params)
            t, c = time.perf_counter(), _cpu_self()
            con.execute(f"create or replace temp table _bench as {read_sql(name)}", given)
            out[name] = {"seconds": time.perf_counter() - t, "cpu_seconds": _cpu_self() - c}
            out[name]["rows"] = con.execute("select count(*) from _bench").fetchone()[0]
            print("duckdb", name, out[name], flush=True)  # progress: a run at scale takes many minutes
    return out


def on_spark(
    warehouse: Path, folder: Path, files: list[str], month: Period, params: Params, memory: str
) -> dict:
    out = {}
    server = LocalConnectServer(conf={"spark.driver.memory": memory})
    url = server.start()
    try:
        sp = params.model_copy(update={"engine": "spark"})
        sp = sp.model_copy(
            update={"spark": sp.spark.model_copy(update={"remote": url, "parquet": str(folder)})}
        )
        t, c = time.perf_counter(), server.cpu_seconds()
        with SparkConnection.open(warehouse, sp) as con:
            for table in derived_names():  # the derived tables are cached lazily: fill the cache here
                con.spark.table(table).write.format("noop").mode("overwrite").save()
            out["derived tables (once per load)"] = {
                "seconds": time.perf_counter() - t,
                "cpu_seconds": server.cpu_seconds() - c,
            }
            print("spark derived tables", out["derived tables (once per load)"], flush=True)
            for name in files:
                df = spark_sql.dataframe(con.spark, name, file_params(name, month, params))
                t, c = time.perf_counter(), server.cpu_seconds()
                df.write.format("noop").mode("overwrite").save()
                out[name] = {
                    "seconds": time.perf_counter() - t,
                    "cpu_seconds": server.cpu_seconds() - c,
                    "rows": df.count(),
                }
                print("spark", name, out[name], flush=True)
    finally:
        server.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", type=Path, required=True)
    ap.add_argument(
        "--parquet", type=Path, required=True, help="the load's Parquet folder (written when absent)"
    )
    ap.add_argument("--month", default=None, help="report month YYYY-MM (default: the last complete one)")
    ap.add_argument("--files", nargs="+", default=FILES)
    ap.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    ap.add_argument("--driver-memory", default="6g")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    params = Params()
    with db.connect(a.warehouse) as con:
        month = Period(db.resolve_month(con, a.month))
        orders = con.execute("select count(*) from fct_orders").fetchone()[0]
        if not (a.parquet / parquet_tables.file_name("_load_info")).is_file():
            parquet_tables.write(con, a.parquet)
    res = {"warehouse": str(a.warehouse), "month": month.month, "orders": orders, "loadavg": os.getloadavg()}
    if "duckdb" in a.engines:
        res["duckdb"] = on_duckdb(a.warehouse, a.files, month, params)
    if "spark" in a.engines:
        res["spark"] = on_spark(a.warehouse, a.parquet, a.files, month, params, a.driver_memory)
    res["loadavg_end"] = os.getloadavg()
    for engine in ("duckdb", "spark"):
        for name, r in res.get(engine, {}).items():
            per = r["cpu_seconds"] / (orders / 1e6)
            print(
                f"{engine:6} {name:32} {r['seconds']:8.1f} s wall {r['cpu_seconds']:8.1f} CPU s {per:8.1f} CPU s/M orders rows {r.get('rows', '')}"
            )
    if a.json:
        a.json.write_text(json.dumps(res, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
