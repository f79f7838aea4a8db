"""`make bench`: time and peak memory of the demo generator, the loader and each notebook.

    .venv/bin/python bench/bench.py --users 20000 200000 --months 12 [--engines duckdb spark]
    .venv/bin/python bench/bench.py --warehouse W.duckdb --parquet W.parquet --work DIR --engines duckdb spark

For each scale: generate (seeded) -> load (with --parquet-out when Spark is benched) -> each
notebook (`userops run --only NN --no-summary --no-pdf --engine E`: that notebook alone) on each
engine in turn (both engines for a notebook before the next, so a bench stopped early has pairs),
each step a separate process with its wall time, CPU seconds and peak RSS (the process and the
kernels it waited for, from wait4) and the load average at its end. With --warehouse an existing
warehouse is benched instead (no demo, no load): Spark reads --parquet, written from the warehouse
by `userops parquet` when that folder holds none. Every metric query and derived table is timed
through the query log (USEROPS_QUERY_LOG): per SQL file, its calls, memo hits and seconds (Spark's
in its own table). Spark runs in one local Spark Connect server per scale (userops.spark_server; or
the server $USEROPS_SPARK_REMOTE names) that the notebooks' kernels share, as on a cluster: the
derived warehouse tables are built first, in a step of their own (once per load, kept beside the
Parquet tables); a step's CPU seconds include the server JVM's. After each notebook the engines'
metrics.json are compared (counts exactly, other numbers to 1e-9). Each scale whose notebooks run
also runs bench/side_by_side.py on its warehouse (not with --no-side-by-side): the project's
retention and transition queries against hand-written DuckDB, pandas and a plain scan, equal
results checked. Writes bench/results.md and bench/results.json (machine facts, one entry per
scale) after every step and prints the table. The machine is shared: compare ratios measured at
the same moment, not absolute seconds. Each scale works in its own temporary folder, removed
afterwards (kept with --work).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import side_by_side  # bench/side_by_side.py, beside this script

from userops.spark_server import LocalConnectServer

ROOT = Path(__file__).resolve().parents[1]
USEROPS = Path(sys.executable).parent / "userops"
NOTEBOOKS = ["01", "02", "03", "04", "05", "00"]  # the brief reads the others' metrics


def step(cmd: list[str], env: dict) -> dict:
    """Run one step; wall seconds and peak RSS (MB) of the process and the children it reaped."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),  # the processes reaped (a JVM too)
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),  # at the end: the machine is shared
    }


def sql_times(log: Path) -> dict[str, dict]:
    """Per SQL file: calls, memo hits (shared intermediates served again) and total seconds."""
    out: dict[str, dict] = collections.defaultdict(lambda: {"calls": 0, "memo_hits": 0, "seconds": 0.0})
    if log.is_file():
        for line in log.read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            r = out[e["sql"]]
            r["calls"] += 1
            r["memo_hits"] += int(bool(e.get("memo")))
            r["seconds"] = round(r["seconds"] + e["seconds"], 4)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["seconds"]))


def bench_scale(
    users: int,
    months: int,
    seed: int,
    memory_limit: str | None,
    engines: list[str],
    spark_conf: dict[str, str],
    notebooks: list[str] = NOTEBOOKS,
    existing: dict | None = None,
    progress=None,
) -> dict:
    """One scale: demo and load (or an existing warehouse: ``existing`` = {"warehouse", "parquet",
    "work", "side_by_side"}), then each notebook on each engine in turn (the pair of a notebook
    before the next notebook); ``progress(entry)`` after every step, so a stopped bench keeps
    what it measured."""
    existing = existing or {}
    keep = existing.get("work")
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=f"userops-bench-{users}-"))
    work.mkdir(parents=True, exist_ok=True)
    servers: dict[str, LocalConnectServer] = {}
    try:
        log = work / "q.jsonl"
        env = dict(os.environ, USEROPS_QUERY_LOG=str(log))
        if memory_limit:
            env["USEROPS_DUCKDB_MEMORY_LIMIT"] = memory_limit
        u = str(USEROPS)
        entry = {"steps": {}, "sql": {}, "sql_spark": {}, "side_by_side": None, "metrics": {}}
        steps = entry["steps"]
        if existing.get("warehouse"):
            wh = Path(existing["warehouse"])
            parquet = Path(existing.get("parquet") or work / "warehouse.parquet")
            if "spark" in engines and not (parquet / "meta_load_info.parquet").is_file():
                steps["parquet"] = step([u, "parquet", "--warehouse", str(wh), "--out", str(parquet)], env)
            entry.update(_counts(wh))
        else:
            data, wh, parquet = work / "data", work / "warehouse.duckdb", work / "warehouse.parquet"
            steps["demo"] = step([u, "demo", "--users", str(users), "--months", str(months), "--seed", str(seed),
                                  "--out", str(data)], env)  # fmt: skip
            out = ["--parquet-out", str(parquet)] if "spark" in engines else []
            steps["load"] = step([u, "load", str(data), "--warehouse", str(wh), *out], env)
            counts = json.loads((data / "planted.json").read_text(encoding="utf-8"))["counts"]
            entry.update(users=users, orders=counts["orders"], events=counts.get("events", 0))
        entry["warehouse_mb"] = round(wh.stat().st_size / 1e6, 1)
        envs = {}
        for engine in engines:
            envs[engine] = dict(env, USEROPS_QUERY_LOG=str(work / f"q-{engine}.jsonl"))
            if engine == "spark":
                envs[engine]["USEROPS_SPARK_PARQUET"] = str(parquet)
                if not os.environ.get("USEROPS_SPARK_REMOTE"):
                    # one local Spark Connect server the notebooks' kernels share (a cluster's endpoint
                    # on this machine): its heap holds the cached tables; its JVM's CPU is added per step
                    servers[engine] = LocalConnectServer(conf=spark_conf)
                    envs[engine]["USEROPS_SPARK_REMOTE"] = servers[engine].start()
                steps["spark derived tables"] = _server_step(
                    [sys.executable, "-c", DERIVED, str(wh), str(ROOT / "params" / "default.yaml")],
                    envs[engine], servers.get(engine),
                )  # fmt: skip
        _progress(progress, entry, work)
        for nb in notebooks:
            for engine in engines:
                steps[_step_name(nb, engine)] = _server_step(
                    [u, "run", "--warehouse", str(wh), "--out", str(work / f"outputs-{engine}"), "--no-pdf",
                     "--only", nb, "--no-summary", "--engine", engine],
                    envs[engine], servers.get(engine),
                )  # fmt: skip
                _progress(progress, entry, work)
            if len(engines) > 1:
                entry["metrics"][nb] = _metrics_differences(work, engines)
                _progress(progress, entry, work)
        for server in servers.values():
            server.stop()
        sbs = work / "side_by_side.json"  # project vs hand-written vs pandas vs scan (bench/side_by_side.py)
        if engines and existing.get("side_by_side", True):
            quiet = {k: v for k, v in env.items() if k != "USEROPS_QUERY_LOG"}  # not in the per-file table
            cmd = [
                sys.executable,
                str(ROOT / "bench" / "side_by_side.py"),
                "--warehouse",
                str(wh),
                "--json",
                str(sbs),
            ]
            try:
                steps["side by side"] = step(cmd, quiet)
            except RuntimeError as e:
                # unequal results exit 1 after writing the JSON: the table shows NO
                if not sbs.is_file():
                    raise
                print(e, file=sys.stderr)
        entry["side_by_side"] = json.loads(sbs.read_text(encoding="utf-8")) if sbs.is_file() else None
        _progress(progress, entry, work)
        return entry
    finally:
        for server in servers.values():
            server.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


# The derived warehouse tables on Spark (built once per load, kept as Parquet beside the input
# tables): a step of its own, so that no notebook's figures carry them.
DERIVED = (
    "import sys; from userops.engine import SparkConnection; from userops.params import load_params; "
    "SparkConnection.open(sys.argv[1], load_params(sys.argv[2])).close()"
)


def _server_step(cmd: list[str], env: dict, server: LocalConnectServer | None) -> dict:
    """A step whose CPU seconds include what the shared Spark Connect server's JVM spent meanwhile."""
    before = server.cpu_seconds() if server else 0.0
    r = step(cmd, env)
    if server:
        r["cpu_seconds"] = round(r["cpu_seconds"] + server.cpu_seconds() - before, 2)
    return r


def _progress(progress, entry: dict, work: Path) -> None:
    """The per-SQL-file times so far, then the caller's callback (writes the results)."""
    entry["sql"] = sql_times(work / "q-duckdb.jsonl")
    entry["sql_spark"] = sql_times(work / "q-spark.jsonl")
    if progress:
        progress(entry)


def _counts(warehouse: Path) -> dict:
    """Users, orders and events of an existing warehouse (what planted.json gives for a demo)."""
    from userops.db import connect

    with connect(warehouse) as con:
        n = {t: con.execute(f"select count(*) from {t}").fetchone()[0] for t in ("users", "orders")}  # noqa: S608
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        events = con.execute("select count(*) from events").fetchone()[0] if "events" in tables else 0
    return {"users": n["users"], "orders": n["orders"], "events": events}


def _metrics_differences(work: Path, engines: list[str]) -> list[str]:
    """The plays' metrics.json of the other engines against the first's (spark_sql.metrics_differences:
    counts exactly, other numbers to 1e-9): [] when equal."""
    from userops.spark_sql import metrics_differences, plays_metrics

    runs = {}
    for engine in engines:
        (path,) = (work / f"outputs-{engine}").glob("*/metrics.json")  # one month
        runs[engine] = plays_metrics(json.loads(path.read_text(encoding="utf-8")))
    base, *others = engines
    return [f"{e}: {d}" for e in others for d in metrics_differences(runs[e], runs[base])][:20]


def _step_name(nb: str, engine: str) -> str:
    """'notebook 01' (DuckDB, as before) or 'notebook 01 spark'."""
    return f"notebook {nb}" if engine == "duckdb" else f"notebook {nb} {engine}"


def machine() -> dict:
    load1, load5, _ = os.getloadavg()
    mem = next(
        (ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")),
        "0",
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(int(mem) / 1024 / 1024, 1),
        "load_average_1m_5m": [round(load1, 2), round(load5, 2)],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def markdown(res: dict) -> str:
    scales = res["scales"]
    m = res["machine"]
    lines = [
        f"# Bench ({m['when']})",
        "",
        f"{m['cpus']} CPUs, {m['memory_gb']} GB, load average {m['load_average_1m_5m']} at the start; "
        f"months={res['months']} seed={res['seed']}; no PDFs. Shared machine: compare ratios.",
        "",
        *(
            [f"Local Spark: {', '.join(f'{k}={v}' for k, v in res['spark_conf'].items())}.", ""]
            if res.get("spark_conf")
            else []
        ),
        "## Steps: wall seconds / CPU seconds / peak RSS MB",
        "",
        "| step | " + " | ".join(f"{s['users']:,} users" for s in scales) + " |",
        "| --- |" + " --- |" * len(scales),
    ]
    for name in scales[0]["steps"]:
        cells = [
            f"{s['steps'][name]['seconds']:.1f} s / {s['steps'][name]['cpu_seconds']:.1f} s / "
            f"{s['steps'][name]['peak_rss_mb']:.0f} MB"
            for s in scales
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    facts = ("orders", "events", "warehouse_mb")
    lines += [f"| {f} | " + " | ".join(f"{s[f]:,}" for s in scales) + " |" for f in facts]
    lines += _spark_ratios(scales)
    lines += _sql_table(scales, "sql", "## SQL files: seconds (calls, memo hits)")
    if any(s.get("sql_spark") for s in scales):
        lines += _sql_table(scales, "sql_spark", "## SQL files on Spark: seconds (calls, memo hits)")
    for s in scales:
        if s.get("side_by_side"):
            lines += ["", *side_by_side.markdown(s["side_by_side"])]
    return "\n".join(lines) + "\n"


def _spark_ratios(scales: list[dict]) -> list[str]:
    """Per notebook: Spark / DuckDB at each scale, wall and CPU seconds (the Connect server's JVM
    counted), and whether the two engines' metrics.json were equal after it."""
    if not any(_step_name(nb, "spark") in s["steps"] for s in scales for nb in NOTEBOOKS):
        return []
    lines = [
        "",
        "## Spark (local mode) against DuckDB: wall and CPU seconds, Spark / DuckDB, metrics equal",
        "",
        "| notebook | " + " | ".join(f"{s['users']:,} users" for s in scales) + " |",
        "| --- |" + " --- |" * len(scales),
    ]
    for nb in NOTEBOOKS:
        cells = []
        for s in scales:
            d, k = s["steps"].get(_step_name(nb, "duckdb")), s["steps"].get(_step_name(nb, "spark"))
            if not (d and k):
                cells.append("")
                continue
            diff = s.get("metrics", {}).get(nb)
            equal = "" if diff is None else ("; metrics equal" if not diff else f"; {len(diff)} differences")
            cells.append(
                f"wall {k['seconds']:.1f} s vs {d['seconds']:.1f} s = {k['seconds'] / d['seconds']:.1f}x, "
                f"CPU {k['cpu_seconds']:.1f} s vs {d['cpu_seconds']:.1f} s = "
                f"{k['cpu_seconds'] / max(d['cpu_seconds'], 0.01):.1f}x{equal}"
            )
        lines.append(f"| {nb} | " + " | ".join(cells) + " |")
    return lines


def _sql_table(scales: list[dict], key: str, title: str) -> list[str]:
    lines = ["", title, ""]
    lines += [
        "| SQL | " + " | ".join(f"{s['users']:,} users" for s in scales) + " |",
        "| --- |" + " --- |" * len(scales),
    ]
    names = list(dict.fromkeys(n for s in reversed(scales) for n in s.get(key, {})))
    for n in names:
        cells = []
        for s in scales:
            r = s.get(key, {}).get(n)
            cells.append(f"{r['seconds']:.3f} ({r['calls']}, {r['memo_hits']})" if r else "")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--users", type=int, nargs="+", default=[20000, 200000], help="scales, e.g. 1000000 10000000"
    )
    ap.add_argument("--no-notebooks", action="store_true", help="demo and load only (the large scales)")
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--engines",
        nargs="+",
        choices=["duckdb", "spark"],
        default=["duckdb"],
        help="engines each notebook runs on (spark: local mode unless params/env say otherwise)",
    )
    ap.add_argument("--spark-driver-memory", default="8g", help="local Spark's heap (cached derived tables)")
    ap.add_argument(
        "--spark-conf",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="settings of the local Spark server over spark_sql.LOCAL_CONF, e.g. "
        "spark.sql.shuffle.partitions=8 spark.sql.adaptive.enabled=true (the large scales)",
    )
    ap.add_argument(
        "--notebooks",
        nargs="+",
        default=NOTEBOOKS,
        choices=NOTEBOOKS,
        help="only these notebooks (00, the brief, reads the metrics of those run before it)",
    )
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit for every step, e.g. 2GB")
    ap.add_argument(
        "--warehouse",
        help="bench this loaded warehouse (read-only; no demo, no load; --users is ignored); spark reads "
        "--parquet, written from it by `userops parquet` when that folder holds none",
    )
    ap.add_argument("--parquet", help="with --warehouse: its input tables as Parquet (default: in --work)")
    ap.add_argument("--work", help="keep the outputs and query logs in this folder (default: a removed temp)")
    ap.add_argument("--no-side-by-side", action="store_true", help="skip bench/side_by_side.py")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="writes <out>.md and <out>.json")
    a = ap.parse_args()
    spark_conf = {"spark.driver.memory": a.spark_driver_memory, **_key_values(ap, a.spark_conf)}
    res = {"machine": machine(), "months": a.months, "seed": a.seed, "engines": a.engines, "scales": []}
    if "spark" in a.engines:
        res["spark_conf"] = spark_conf
    existing = {
        "warehouse": a.warehouse,
        "parquet": a.parquet,
        "work": a.work,
        "side_by_side": not a.no_side_by_side,
    }
    for n in [0] if a.warehouse else a.users:
        print(f"scale {a.warehouse or f'{n:,} users'} ...", flush=True)
        done = list(res["scales"])

        def save(entry: dict, done: list = done) -> None:  # what is measured so far, after each step
            res["scales"] = [*done, entry]
            res["machine"]["load_average_now"] = [round(x, 2) for x in os.getloadavg()]
            _write(res, a.out)

        res["scales"] = [
            *done,
            bench_scale(
                n,
                a.months,
                a.seed,
                a.memory_limit,
                [] if a.no_notebooks else a.engines,
                spark_conf,
                a.notebooks,
                existing,
                save,
            ),
        ]
    print(_write(res, a.out))
    print(f"written {a.out}.md and {a.out}.json")
    return 0


def _key_values(ap: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    """KEY=VALUE arguments as a dict; an item without '=' is a usage error."""
    bad = [i for i in items if "=" not in i]
    if bad:
        ap.error(f"--spark-conf takes KEY=VALUE, not {bad}")
    return dict(i.split("=", 1) for i in items)


def _write(res: dict, out: str) -> str:
    """<out>.md and <out>.json; the table."""
    table = markdown(res)
    Path(out + ".md").write_text(table, encoding="utf-8")
    Path(out + ".json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return table


if __name__ == "__main__":
    sys.exit(main())
