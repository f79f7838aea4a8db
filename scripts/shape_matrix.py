"""Run the playbook notebooks on every data shape and print the shape x notebook table.

    .venv/bin/python scripts/shape_matrix.py [--shapes online_only tiny] [--only 03] [--users 1500]

Builds a small demo once (cached in --work), derives each shape (userops.shapes), loads it and
executes the notebooks without PDFs. Each cell of the table: ok, FAIL (the error), or bad (rendered
nan/inf/None). --verbose also lists the "needs ..." sentences a degraded section shows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from userops.demo import generate
    from userops.load import ContractError, LoadOptions, load_dir
    from userops.params import load_params
    from userops.shapes import SHAPES, build_shape, run_notebooks

    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES))
    ap.add_argument("--only", nargs="*", default=None, help="notebook prefixes, e.g. 03")
    ap.add_argument("--users", type=int, default=1500)
    ap.add_argument("--months", type=int, default=8)
    ap.add_argument("--work", default="/tmp/userops-shapes")
    ap.add_argument("--verbose", "-v", action="store_true")
    a = ap.parse_args()
    work = Path(a.work)
    demo = work / f"demo-{a.users}-{a.months}"
    if not (demo / "planted.json").exists():
        generate(demo, users=a.users, months=a.months, seed=5)
    failures = 0
    for name in a.shapes:
        t0 = time.perf_counter()
        data = build_shape(name, demo, work / name / "data")
        wh = work / name / "warehouse.duckdb"
        try:
            load_dir(data, wh, LoadOptions(params=load_params(data / "params.yaml")))
        except ContractError as e:
            print(f"## {name}: LOAD FAILED\n{e}\n", flush=True)
            failures += 1
            continue
        results = run_notebooks(wh, data / "params.yaml", work / name / "out", ROOT / "notebooks", a.only)
        print(f"## {name} ({time.perf_counter() - t0:.0f} s)", flush=True)
        for r in results:
            state = "ok" if r.ok and not r.bad else ("FAIL " + r.error if not r.ok else "bad")
            failures += state != "ok"
            print(f"  {r.notebook:<26} {state}", flush=True)
            for b in r.bad[:8]:
                print(f"      bad: {b}")
            if a.verbose:
                for d in r.degraded[:20]:
                    print(f"      needs: {d}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
