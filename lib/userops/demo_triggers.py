"""Simulated responses to daily trigger lists: the demo's round trip for `userops triggers`.

    truth = simulate_responses(data_dir, warehouse, dates, out_dir, params, lifts, seed=3)

For each date (in order) the day's lists are built on the loaded demo warehouse after one contact
plan (triggers.build_triggers; earlier days' members are read back from ``<out_dir>/triggers``,
as a daily scheduler would), then each list's members respond within the measurement window
(params triggers.measurement_days after the send day's midnight):

- holdout members behave as the data says (their orders are left as they are);
- a treated member who has no order in the window (counting orders the simulation added for earlier
  days) places one, after the touch, with probability q = lift / (1 - p0), where p0 is the share of
  the day's list (both arms) with an order in the window. The treated order rate is then
  p0 + q (1 - p0) = p0 + lift in expectation: the planted lift is a difference of order rates.

An added order repeats the basket of the user's last order before the touch (its store and
channel); a user who never ordered buys the data's cheapest hero product once, at its list price,
through the data's most common order channel and their home store. No discount, no coupon.

Written to ``out_dir``: a copy of the export with the added ``orders`` / ``order_items`` and the
lists' ``campaigns`` / ``campaign_members`` rows (campaign ids become text: trg-<date>-<list>),
the day folders under ``out_dir/triggers`` and ``trigger_responses.json``: per list the planted
lift, members per arm, added orders and their paid GMV and gross margin (quantity x unit cost;
the params assumed margin rate where a product has no cost). Lists are built on the data before
any simulated response (a response changes later days' lists only through the contact plan).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from userops.db import connect, query
from userops.params import Params
from userops.triggers import build_triggers, write_triggers

RESPONSE_TABLES = ("orders", "order_items", "campaigns", "campaign_members")
# planted lift per list (difference of order rates within the measurement window), `userops demo-responses`
DEFAULT_LIFTS = {
    "new_user_coupon_expiring": 0.20,
    "abandoned_checkout": 0.10,  # most abandoned checkouts are followed by an order within a week anyway
    "repurchase_coupon_unused": 0.20,
    "category_cycle_due": 0.15,
    "registered_never_ordered": 0.20,
    "recall": 0.20,
}


def _table_file(data_dir: Path, name: str) -> Path:
    for ext in ("parquet", "csv"):
        f = data_dir / f"{name}.{ext}"
        if f.is_file():
            return f
    raise FileNotFoundError(f"{data_dir} has no {name}.parquet or {name}.csv")


def _read(f: Path) -> pd.DataFrame:
    return pq.read_table(f).to_pandas() if f.suffix == ".parquet" else pd.read_csv(f)


def _write(df: pd.DataFrame, f: Path) -> None:
    if f.suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), f)
    else:
        df.to_csv(f, index=False)


def _text_ids(s: pd.Series) -> pd.Series:
    """An id column as text ('12', never '12.0'); missing stays missing."""
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("Int64").astype("string")
    return s.astype("string")


def _append(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """existing + new rows in existing's columns and types (timestamps parsed, ids kept)."""
    new = new.reindex(columns=existing.columns)
    for c in existing.columns:
        if pd.api.types.is_datetime64_any_dtype(existing[c]):
            new[c] = pd.to_datetime(new[c]).astype(existing[c].dtype)
        elif pd.api.types.is_numeric_dtype(existing[c]) and not pd.api.types.is_bool_dtype(existing[c]):
            new[c] = pd.to_numeric(new[c])
    return pd.concat([existing, new], ignore_index=True)


def _lists(dates: list[dt.date], warehouse: Path, trg_root: Path, p: Params) -> pd.DataFrame:
    """Every day's members after the contact plan (day folders written under trg_root)."""
    frames = []
    with connect(warehouse) as con:
        for d in sorted(dates):
            run = build_triggers(con, d, p, out_root=trg_root)
            write_triggers(run, trg_root)
            frames.append(run.members.merge(run.rows[["campaign_id", "user_id", "list"]], how="left"))
    cols = ["campaign_id", "user_id", "arm", "assigned_at", "touched_at", "list"]
    m = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    m["assigned_at"] = pd.to_datetime(m.assigned_at)
    m["touched_at"] = pd.to_datetime(m.touched_at.replace("", None))
    m["window_end"] = m.assigned_at + pd.Timedelta(days=p.triggers.measurement_days)
    return m.sort_values(["assigned_at", "campaign_id", "user_id"], kind="stable").reset_index(drop=True)


def _respond(m: pd.DataFrame, lifts: dict[str, float], last_ts: pd.Timestamp, rng) -> pd.DataFrame:
    """Day by day: treated members without an order in the window convert with q = lift / (1 - p0)."""
    m = m.assign(converted=False, q=0.0, has=False, ordered_at=pd.NaT)
    added = pd.DataFrame({"user_id": pd.Series(dtype=str), "ordered_at": pd.Series(dtype="datetime64[ns]")})
    for day in sorted(m.assigned_at.unique()):
        ix = m.index[m.assigned_at == day]
        d = m.loc[ix]
        prior = d[["user_id", "assigned_at", "window_end"]].reset_index().merge(added, on="user_id")
        prior = prior[(prior.ordered_at > prior.assigned_at) & (prior.ordered_at <= prior.window_end)]
        has = (d.has_order == 1) | d.index.isin(prior["index"])
        p0 = has.groupby(d.campaign_id).transform("mean")
        lift = d.list.map(lifts).fillna(0.0)
        q = (lift / (1 - p0).where(p0 < 1)).fillna(0.0).clip(0, 1)
        u = rng.random(len(d))
        conv = (d.arm == "treatment") & ~has & (u < q)
        start = d.touched_at.fillna(d.assigned_at)
        end = d.window_end.where(d.window_end <= last_ts, last_ts)
        span = (end - start).dt.total_seconds().clip(lower=1)
        at = start + pd.to_timedelta(np.ceil(rng.random(len(d)) * span), unit="s")
        m.loc[ix, "q"] = q.to_numpy()
        m.loc[ix, "has"] = has.to_numpy()
        m.loc[ix, "converted"] = conv.to_numpy()
        m.loc[ix, "ordered_at"] = at.where(conv).to_numpy()
        new = pd.DataFrame({"user_id": d.user_id[conv], "ordered_at": at[conv]})
        added = pd.concat([added, new], ignore_index=True)
    return m


def _orders(con, conv: pd.DataFrame, first_id: int | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Order and line rows (contract shape, original ids) of the converted members; money per order."""
    conv = conv.reset_index(drop=True).assign(sim_order=lambda x: x.index)
    con.register("_sim_orders", conv[["sim_order", "last_order_id", "home_store_id"]])
    try:
        lines = query("triggers/demo_response_baskets", con)
    finally:
        con.unregister("_sim_orders")
    oid = (
        (first_id + conv.sim_order).astype(object)
        if first_id is not None
        else "sim-" + conv.sim_order.astype(str).str.zfill(6)
    )
    money = lines.assign(cogs=lines.quantity * lines.unit_cost).groupby("sim_order")
    per = pd.DataFrame(
        {
            "gmv": money.amount.sum().round(2),
            "cogs": money.cogs.sum(min_count=1),
            "costed": money.unit_cost.count() == money.size(),
        }
    )
    head = lines.groupby("sim_order")[["store_id", "order_channel"]].first()
    conv = conv.join(per, on="sim_order").join(head, on="sim_order")
    orders = pd.DataFrame(
        {
            "order_id": oid,
            "user_id": conv.user_id,
            "ordered_at": conv.ordered_at.dt.floor("s"),
            "store_id": conv.store_id,
            "order_channel": conv.order_channel,
            "gmv": conv.gmv,
            "discount": 0.0,
            "coupon_id": None,
        }
    )
    items = pd.DataFrame(
        {
            "order_id": lines.sim_order.map(dict(zip(conv.sim_order, oid, strict=True))),
            "product_id": lines.product_id,
            "quantity": lines.quantity,
            "amount": lines.amount.round(2),
        }
    )
    return orders, items, conv


def _window_responses(t: pd.DataFrame, conv: pd.DataFrame) -> pd.DataFrame:
    """Pairs (treated member, simulated order) with the order in the member's window, placed in
    response to the member's own list or a later day's list (the holdout never gets one: the
    contact plan keeps a list's holdout off every other list for the window)."""
    pairs = t.reset_index()[["index", "user_id", "campaign_id", "assigned_at", "window_end"]].merge(
        conv[["user_id", "campaign_id", "assigned_at", "ordered_at", "margin"]],
        on="user_id",
        suffixes=("", "_o"),
    )
    inside = (pairs.ordered_at > pairs.assigned_at) & (pairs.ordered_at <= pairs.window_end)
    return pairs[inside & (pairs.assigned_at_o >= pairs.assigned_at)]


def _truth(m: pd.DataFrame, conv: pd.DataFrame, lifts: dict[str, float], p: Params) -> dict:
    """Per list: the planted lift and what the simulation added (the truth the measurement recovers).

    A list's treated users may be touched again by a later day's list (its holdout may not), so the
    difference the measurement estimates is the list's own expected lift plus spillover: the share of
    its treated members, without an order in the window otherwise, who ordered in response to a
    later list. window_orders / window_margin: every simulated order in a treated member's window
    (own or later list): the increment of orders and gross margin against the holdout.
    """
    rate = p.experiments.assumed_margin_rate
    conv = conv.assign(margin=conv.gmv - conv.cogs.where(conv.costed, conv.gmv * (1 - rate)))
    out = {}
    for name, g in m.groupby("list", sort=True):
        t = g[g.arm == "treatment"]
        c = conv[conv.list == name]
        w = _window_responses(t, conv)
        later = set(w["index"][w.campaign_id_o != w.campaign_id])
        spill = (t.index.isin(later) & ~t.has & ~t.converted).sum() / len(t) if len(t) else 0.0
        own = float((t.q * ~t.has).sum() / len(t)) if len(t) else 0.0
        cost = (
            len(t) * p.triggers.lists[name].cost_per_touch
            + p.experiments.campaign_fixed_cost * g.campaign_id.nunique()
        )
        out[name] = {
            "lift": float(lifts.get(name, 0.0)),
            "expected_lift": own,
            "spillover": float(spill),
            "target_lift": own + float(spill),
            "campaigns": int(g.campaign_id.nunique()),
            "treatment": int(len(t)),
            "holdout": int((g.arm == "holdout").sum()),
            "added_orders": int(len(c)),
            "added_gmv": round(float(c.gmv.sum()), 2),
            "added_margin": round(float(c.margin.sum()), 2),
            "window_orders": int(len(w)),
            "window_margin": round(float(w.margin.sum()), 2),
            "cost": round(float(cost), 2),
        }
    return out


def simulate_responses(
    data_dir: str | Path,
    warehouse: str | Path,
    dates: list[dt.date],
    out_dir: str | Path,
    p: Params,
    lifts: dict[str, float],
    seed: int = 0,
) -> dict:
    """Build the dates' trigger lists on `warehouse` (loaded from `data_dir`), simulate the responses,
    write the export with them to `out_dir` (then `userops load out_dir`); returns the truth json."""
    data_dir, final = Path(data_dir), Path(out_dir)
    if final.exists() and not (final / "trigger_responses.json").is_file():
        raise FileExistsError(f"{final} exists and holds no trigger_responses.json; not replacing it")
    out_dir = final.parent / f".{final.name}.tmp"  # renamed over `final` once complete
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(data_dir, out_dir)
    m = _lists(dates, Path(warehouse), out_dir / "triggers", p)
    rng = np.random.default_rng(seed)
    with connect(warehouse) as con:
        last_ts = pd.Timestamp(con.execute("select max(ordered_at) from orders").fetchall()[0][0])
        con.register("_sim_members", m[["campaign_id", "user_id", "arm", "assigned_at", "window_end"]])
        try:
            base = query("triggers/demo_response_base", con)
        finally:
            con.unregister("_sim_members")
        m = m.merge(base, on=["campaign_id", "user_id"], how="left")
        m = _respond(m, lifts, last_ts, rng)
        tables = {t: _read(_table_file(out_dir, t)) for t in RESPONSE_TABLES}
        ids = tables["orders"].order_id
        first = int(ids.max()) + 1 if pd.api.types.is_numeric_dtype(ids) and len(ids) else None
        orders, items, conv = _orders(con, m[m.converted], first)
    _write_tables(out_dir, tables, orders, items, m)
    truth = {
        "generator": "userops.demo_triggers",
        "seed": seed,
        "dates": [d.isoformat() for d in sorted(dates)],
        "measurement_days": p.triggers.measurement_days,
        "definition": "lift = the list's planted difference of the share of members with an order in "
        "(assigned_at, assigned_at + measurement_days], treated minus holdout; expected_lift = its expectation "
        "given who had an order anyway; spillover = treated members converted by a later day's list; "
        "target_lift = expected_lift + spillover (what the measurement estimates); added_* = the list's "
        "own simulated orders; window_* = every simulated order in its treated members' windows",
        "lists": _truth(m, conv, lifts, p),
    }
    (out_dir / "trigger_responses.json").write_text(json.dumps(truth, indent=2) + "\n", "utf-8")
    shutil.rmtree(final, ignore_errors=True)
    out_dir.rename(final)
    return truth


def _write_tables(out_dir: Path, tables: dict, orders, items, m: pd.DataFrame) -> None:
    """Append the response orders and the lists' campaign rows; campaign ids become text."""
    camps = pd.concat(
        [pd.read_csv(f, dtype=str) for f in sorted((out_dir / "triggers").glob("*/campaigns.csv"))],
        ignore_index=True,
    )
    members = m[["campaign_id", "user_id", "arm", "assigned_at", "touched_at"]]
    users = tables["orders"].user_id
    if pd.api.types.is_numeric_dtype(users):
        orders = orders.assign(user_id=pd.to_numeric(orders.user_id))
        members = members.assign(user_id=pd.to_numeric(members.user_id))
    new = {"orders": orders, "order_items": items, "campaigns": camps, "campaign_members": members}
    for t in ("campaigns", "campaign_members"):
        tables[t] = tables[t].assign(campaign_id=_text_ids(tables[t].campaign_id))
    for t, rows in new.items():
        _write(_append(tables[t], rows), _table_file(out_dir, t))
    try:
        f = _table_file(out_dir, "coupons")
    except FileNotFoundError:  # an export without coupons: nothing refers to a campaign id
        return
    coupons = _read(f)
    if "campaign_id" in coupons.columns:
        _write(coupons.assign(campaign_id=_text_ids(coupons.campaign_id)), f)
