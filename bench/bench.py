"""`make bench`: time the demo generator, the loader and the playbook at several scales.

    .venv/bin/python bench/bench.py --users 20000 200000 1000000 --months 12

For each scale: generate (seeded) -> load -> `userops run --no-pdf`, each timed, with the
row counts and the warehouse size. Writes a Markdown table to bench/results/<scale list>.md
and prints it. Each scale works in its own temporary folder, removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USEROPS = Path(sys.executable).parent / "userops"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def bench_scale(users: int, months: int, seed: int, pdf: bool) -> dict:
    import json

    work = Path(tempfile.mkdtemp(prefix=f"userops-bench-{users}-"))
    try:
        data, wh, out = work / "data", work / "warehouse.duckdb", work / "outputs"
        t_demo = timed(
            [
                str(USEROPS),
                "demo",
                "--users",
                str(users),
                "--months",
                str(months),
                "--seed",
                str(seed),
                "--out",
                str(data),
            ]
        )
        t_load = timed([str(USEROPS), "load", str(data), "--warehouse", str(wh)])
        run = [str(USEROPS), "run", "--warehouse", str(wh), "--out", str(out)] + ([] if pdf else ["--no-pdf"])
        t_run = timed(run)
        counts = json.loads((data / "planted.json").read_text(encoding="utf-8"))["counts"]
        run_info = json.loads(next(out.glob("*/run.json")).read_text(encoding="utf-8"))
        return {
            "users": users,
            "orders": counts["orders"],
            "events": counts.get("events", 0),
            "warehouse_mb": wh.stat().st_size / 1e6,
            "demo_s": t_demo,
            "load_s": t_load,
            "run_s": t_run,
            "notebooks": {n["name"]: n["execute_s"] for n in run_info.get("notebooks", [])},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, nargs="+", default=[20000, 200000])
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pdf", action="store_true", help="include the PDF export in the run time")
    a = ap.parse_args()
    rows = []
    for n in a.users:
        print(f"scale {n:,} users ...", flush=True)
        rows.append(bench_scale(n, a.months, a.seed, a.pdf))
    names = sorted({k for r in rows for k in r["notebooks"]})
    head = "| users | orders | events | warehouse MB | demo s | load s | run s | " + " | ".join(names) + " |"
    lines = [head, "|" + " --- |" * (7 + len(names))]
    for r in rows:
        nb = " | ".join(f"{r['notebooks'].get(k, float('nan')):.1f}" for k in names)
        lines.append(
            f"| {r['users']:,} | {r['orders']:,} | {r['events']:,} | {r['warehouse_mb']:.0f} | {r['demo_s']:.1f} | "
            f"{r['load_s']:.1f} | {r['run_s']:.1f} | {nb} |"
        )
    table = "\n".join(lines)
    print(table)
    out = ROOT / "bench" / "results" / f"bench-{'-'.join(str(n) for n in a.users)}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"months={a.months} seed={a.seed} pdf={a.pdf}; seconds per notebook = execute time\n\n{table}\n"
    )
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
