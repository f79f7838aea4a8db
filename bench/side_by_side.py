"""Side by side on one warehouse: the project's query against the best hand-written DuckDB query,
idiomatic pandas and a plain scan of the columns they need, with equal results checked.

    .venv/bin/python bench/side_by_side.py --warehouse data/warehouse.duckdb --repeat 3

Two metrics (issue 18):
- retention: D1..D7 retention by daily cohort x acquisition channel over the trailing
  `retention.channel_trailing_months` months (play 02's channel table: sql/retention/dk_retention.sql);
- transitions: month-end lifecycle transitions over `recall.stage_months` months (play 04:
  recall.build_stages, the per-user panel that play 04's metrics share, then
  sql/recall/stage_transitions.sql).
Each variant runs `--repeat` times in turns inside this one process, on one connection with the
same `threads`; the table reports each variant's median seconds and its ratio to the hand-written
query (the floor the project must stay within 1.2x of). The machine is shared: compare ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from userops import recall  # noqa: E402
from userops.db import connect, last_complete_month, query  # noqa: E402
from userops.params import load_params  # noqa: E402
from userops.period import Period  # noqa: E402

STAGES = ["prospect", "new", "growth", "mature", "declining", "churned"]

# ----------------------------------------------------------------------------- retention

RETENTION_HAND = """
with n as (
    select user_id, channel, first_order_date
    from dim_users
    where first_order_date >= $from_date and first_order_date < $to_date
),
r as (
    select n.user_id, list(distinct date_diff('day', n.first_order_date, o.order_date)) as ks
    from n
    inner join fct_orders as o using (user_id)
    where o.order_date > n.first_order_date and o.order_date <= n.first_order_date + $max_day
    group by n.user_id
)
select
    n.first_order_date as cohort_start,
    n.channel,
    k.day_k,
    count(*) as cohort_users,
    count(*) filter (where n.first_order_date + k.day_k <= $as_of) as eligible_users,
    count(*) filter (where n.first_order_date + k.day_k <= $as_of and list_contains(r.ks, k.day_k))
        as retained_users,
    count(*) filter (where n.first_order_date + k.day_k <= $as_of and list_min(r.ks) <= k.day_k)
        as cum_retained_users
from n
left join r using (user_id)
cross join (select cast(range as integer) as day_k from range(1, $max_day + 1)) as k
group by all
"""

RETENTION_SCAN = """
select
    (select count(user_id) + count(order_date) from fct_orders)
    + (select count(user_id) + count(channel) + count(first_order_date) from dim_users)
"""

RET_COLS = ["cohort_start", "channel", "day_k", "cohort_users", "eligible_users", "retained_users",
            "cum_retained_users"]  # fmt: skip


def retention_project(con, a: dict) -> pd.DataFrame:
    df = query("retention/dk_retention", con, grain="day", return_event="order", **a)
    return df[df.cohort_users > 0]


def retention_hand(con, a: dict) -> pd.DataFrame:
    return con.execute(RETENTION_HAND, a).df()


def retention_pandas(con, a: dict) -> pd.DataFrame:
    users = con.execute("select user_id, channel, first_order_date from dim_users").df()
    orders = con.execute("select user_id, order_date from fct_orders").df()
    lo, hi = pd.Timestamp(a["from_date"]), pd.Timestamp(a["to_date"])
    n = users[(users.first_order_date >= lo) & (users.first_order_date < hi)]
    o = orders.merge(n[["user_id", "first_order_date"]], on="user_id")
    o["k"] = (o.order_date - o.first_order_date).dt.days
    o = o[(o.k >= 1) & (o.k <= a["max_day"])].drop_duplicates(["user_id", "k"])
    hits = pd.crosstab(o.user_id, o.k).reindex(columns=range(1, a["max_day"] + 1), fill_value=0) > 0
    hits = hits.reindex(n.user_id, fill_value=False)
    cum = hits.cummax(axis=1)
    as_of = pd.Timestamp(a["as_of"])
    rows = []
    for k in range(1, a["max_day"] + 1):
        el = (n.first_order_date + pd.Timedelta(days=k) <= as_of).to_numpy()
        part = pd.DataFrame({
            "cohort_start": n.first_order_date.to_numpy(), "channel": n.channel.to_numpy(), "day_k": k,
            "cohort_users": 1, "eligible_users": el.astype(int),
            "retained_users": (el & hits[k].to_numpy()).astype(int),
            "cum_retained_users": (el & cum[k].to_numpy()).astype(int),
        })  # fmt: skip
        rows.append(part.groupby(["cohort_start", "channel", "day_k"], as_index=False).sum())
    return pd.concat(rows)


def retention_scan(con, a: dict) -> pd.DataFrame:
    return con.execute(RETENTION_SCAN).df()


# ----------------------------------------------------------------------------- transitions

TRANSITIONS_HAND = """
with months as (
    select cast(range as date) as ms, cast(range + interval 1 month - interval 1 day as date) as me
    from range(cast($from_month as timestamp) - interval 1 month, cast($to_month as timestamp) + interval 1 day,
               interval 1 month)
),
od as (
    select user_id, order_date as d, greatest(cast(date_trunc('month', order_date) as date),
        cast($from_month as date) - interval 1 month) as ms, count(*) as n, sum(gmv) as gmv,
        max(days_since_prev) filter (where days_since_prev > 0) as gap
    from fct_orders
    where order_date < cast($to_month as date) + interval 1 month
    group by all
),
om as (
    select user_id, ms, sum(n) as n, sum(gmv) as gmv, count(gap) as g, max(d) as last_d,
        arg_max(med, d) as med
    from (select *, median(gap) over (partition by user_id order by d rows unbounded preceding) as med from od)
    group by all
),
panel as (
    select u.user_id, m.ms, m.me, u.first_order_date as f,
        sum(o.n) over w as n_orders, sum(o.g) over w as n_gaps, last_value(o.last_d ignore nulls) over w as last_d,
        last_value(o.med ignore nulls) over w as med, coalesce(o.n, 0) as orders_month, coalesce(o.gmv, 0) as gmv_month
    from dim_users as u
    inner join months as m on cast(u.registered_at as date) <= m.me or u.first_order_date <= m.me
    left join om as o on o.user_id = u.user_id and o.ms = m.ms
    window w as (partition by u.user_id order by m.ms rows unbounded preceding)
),
staged as (
    select *, case
        when coalesce(n_orders, 0) = 0 then 'prospect'
        when f >= ms then 'new'
        when date_diff('day', last_d, me) >= case when n_gaps >= $min_gaps
            then least(greatest($k_churned * med, $churned_floor_days), $churned_days) else $churned_days end
            then 'churned'
        when date_diff('day', last_d, me) >= case when n_gaps >= $min_gaps
            then greatest($k_declining * med, $declining_floor_days) else $declining_days end then 'declining'
        when date_diff('day', f, me) < $growth_days and n_orders < $growth_max_orders then 'growth'
        else 'mature' end as stage
    from panel
),
moved as (
    select ms, stage, coalesce(lag(stage) over (partition by user_id order by ms), 'prospect') as stage_prev,
        orders_month, gmv_month
    from staged
)
select ms as month_start, stage_prev, stage, count(*) as n_users,
    count(*) filter (where stage_prev = 'churned' and orders_month > 0) as reactivated,
    sum(orders_month) as orders, sum(gmv_month) as gmv
from moved
where ms >= $from_month
group by all
"""

TRANSITIONS_SCAN = """
select
    (select count(user_id) + count(order_date) + count(gmv) + count(days_since_prev) from fct_orders)
    + (select count(user_id) + count(registered_at) + count(first_order_date) from dim_users)
"""

TR_COLS = ["month_start", "stage_prev", "stage", "n_users", "reactivated", "orders", "gmv"]
RULE = ["k_declining", "k_churned", "declining_floor_days", "churned_floor_days", "declining_days",
        "churned_days", "min_gaps", "growth_days", "growth_max_orders"]  # fmt: skip


def transitions_project(con, a: dict, p: Period, rc) -> pd.DataFrame:
    recall.build_stages(con, p, rc, months=rc.stage_months)
    df = query("recall/stage_transitions", con, from_month=a["from_month"], to_month=a["to_month"])
    return df[df.n_users > 0]


def transitions_hand(con, a: dict, p: Period, rc) -> pd.DataFrame:
    return con.execute(TRANSITIONS_HAND, {**a, **{k: getattr(rc, k) for k in RULE}}).df()


def transitions_pandas(con, a: dict, p: Period, rc) -> pd.DataFrame:
    users = con.execute(
        "select user_id, cast(registered_at as date) as reg, first_order_date as f from dim_users"
    ).df()
    orders = con.execute("select user_id, order_date, gmv, days_since_prev from fct_orders").df()
    orders["gmv"] = orders["gmv"].astype(float)
    frames, first = [], pd.Timestamp(a["from_month"]) - pd.DateOffset(months=1)
    for ms in pd.date_range(first, pd.Timestamp(a["to_month"]), freq="MS"):
        me = ms + pd.offsets.MonthEnd(0)
        o = orders[orders.order_date <= me]
        gaps = o.days_since_prev.where(o.days_since_prev > 0)
        g = o.assign(gap=gaps, in_month=o.order_date >= ms, gmv_m=o.gmv.where(o.order_date >= ms, 0.0))
        facts = g.groupby("user_id").agg(n_orders=("order_date", "size"), last_d=("order_date", "max"),
                                         n_gaps=("gap", "count"), med=("gap", "median"),
                                         orders_month=("in_month", "sum"), gmv_month=("gmv_m", "sum"))  # fmt: skip
        u = users[(users.reg <= me) | (users.f <= me)].set_index("user_id").join(facts)
        frames.append(u.assign(ms=ms, me=me))
    df = pd.concat(frames).reset_index()
    n = df.n_orders.fillna(0)
    rec = (df.me - df.last_d).dt.days
    pers = df.n_gaps.fillna(0) >= rc.min_gaps
    churn_after = np.where(pers, np.minimum(np.maximum(rc.k_churned * df.med, rc.churned_floor_days), rc.churned_days),
                           rc.churned_days)  # fmt: skip
    decl_after = np.where(
        pers, np.maximum(rc.k_declining * df.med, rc.declining_floor_days), rc.declining_days
    )
    df["stage"] = np.select(
        [n == 0, df.f >= df.ms, rec >= churn_after, rec >= decl_after,
         ((df.me - df.f).dt.days < rc.growth_days) & (n < rc.growth_max_orders)],
        ["prospect", "new", "churned", "declining", "growth"], "mature",
    )  # fmt: skip
    df = df.sort_values(["user_id", "ms"])
    df["stage_prev"] = df.groupby("user_id").stage.shift(1).fillna("prospect")
    df = df[df.ms >= pd.Timestamp(a["from_month"])]
    df["reactivated"] = (df.stage_prev == "churned") & (df.orders_month.fillna(0) > 0)
    out = df.groupby(["ms", "stage_prev", "stage"], as_index=False).agg(
        n_users=("user_id", "size"), reactivated=("reactivated", "sum"),
        orders=("orders_month", "sum"), gmv=("gmv_month", "sum"),
    )  # fmt: skip
    return out.rename(columns={"ms": "month_start"})


def transitions_scan(con, a: dict, p: Period, rc) -> pd.DataFrame:
    return con.execute(TRANSITIONS_SCAN).df()


# ----------------------------------------------------------------------------- run


def canon(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """The result in one shape for comparison: the columns in order, dates as dates, numbers as
    int or rounded float (money summed as DECIMAL in SQL, float in pandas), rows sorted."""
    out = df[cols].copy()
    for c in cols:
        if c in ("month_start", "cohort_start"):
            out[c] = pd.to_datetime(out[c]).dt.date
        elif c == "gmv":
            out[c] = out[c].astype(float).round(2)
        elif c not in ("channel", "stage", "stage_prev"):
            out[c] = out[c].astype("int64")
    return out.sort_values(cols[:3]).reset_index(drop=True)


def compare(variants: dict, args: tuple, cols: list[str], repeat: int, pandas_max_users: int, n_users: int):
    times: dict[str, list[float]] = {k: [] for k in variants}
    results: dict[str, pd.DataFrame] = {}
    for _ in range(repeat):
        for name, fn in variants.items():
            if name == "pandas" and n_users > pandas_max_users and times[name]:
                continue  # pandas once above the size where it takes minutes
            t0 = time.perf_counter()
            df = fn(*args)
            times[name].append(time.perf_counter() - t0)
            results[name] = df
    ref = canon(results["hand-written"], cols)
    equal = {}
    for name, df in results.items():
        if name == "plain scan":
            continue
        got = canon(df, cols)
        equal[name] = bool(len(got) == len(ref) and got.equals(ref))
    med = {k: statistics.median(v) for k, v in times.items()}
    hand = med["hand-written"]
    return {
        "seconds": {k: round(v, 4) for k, v in med.items()},
        "runs": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "ratio_to_hand": {k: round(v / hand, 2) for k, v in med.items()},
        "equal_to_hand": equal,
        "rows": len(ref),
    }


def run(warehouse: str, repeat: int, threads: int, params_file: str, pandas_max_users: int) -> dict:
    prm = load_params(params_file)
    con = connect(warehouse, read_only=True)  # the DuckDB resource settings (memory limit) of the run
    con.execute("set threads = $t", {"t": threads})
    p = Period(last_complete_month(con))
    n_users = con.execute("select count(*) from dim_users").fetchone()[0]
    rp, rc = prm.retention, prm.recall
    ra = dict(from_date=p.shift(-(rp.channel_trailing_months - 1)).start, to_date=p.end, max_day=rp.max_day,
              as_of=p.as_of)  # fmt: skip
    ret = {"project": retention_project, "hand-written": retention_hand, "pandas": retention_pandas,
           "plain scan": retention_scan}  # fmt: skip
    ta = dict(from_month=p.shift(-(rc.stage_months - 1)).start, to_month=p.start)
    tr = {"project": transitions_project, "hand-written": transitions_hand, "pandas": transitions_pandas,
          "plain scan": transitions_scan}  # fmt: skip
    return {
        "warehouse": warehouse,
        "users": n_users,
        "month": p.month,
        "threads": threads,
        "repeat": repeat,
        "metrics": {
            "D1..D7 retention by daily cohort x channel": compare(
                ret, (con, ra), RET_COLS, repeat, pandas_max_users, n_users
            ),
            "month-end lifecycle transitions": compare(
                tr, (con, ta, p, rc), TR_COLS, repeat, pandas_max_users, n_users
            ),
        },
    }


def markdown(res: dict) -> list[str]:
    lines = [
        f"## Side by side ({res['users']:,} users, month {res['month']}, threads {res['threads']}, "
        f"median of {res['repeat']})",
        "",
        "| metric | project | hand-written | pandas | plain scan | project / hand-written | equal results |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in res["metrics"].items():
        s, r = m["seconds"], m["ratio_to_hand"]
        eq = ", ".join(
            f"{k} {'yes' if v else 'NO'}" for k, v in m["equal_to_hand"].items() if k != "hand-written"
        )
        lines.append(
            f"| {name} | {s['project']:.3f} s | {s['hand-written']:.3f} s | {s['pandas']:.3f} s "
            f"| {s['plain scan']:.3f} s | {r['project']:.2f}x | {eq} |"
        )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--params", default=str(ROOT / "params" / "default.yaml"))
    ap.add_argument("--pandas-max-users", type=int, default=200_000, help="above this, pandas runs once")
    ap.add_argument("--json", default=None, help="also write the result here")
    a = ap.parse_args()
    res = run(a.warehouse, a.repeat, a.threads, a.params, a.pandas_max_users)
    print("\n".join(markdown(res)))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=str), encoding="utf-8")
    bad = [k for k, m in res["metrics"].items() if not all(m["equal_to_hand"].values())]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
