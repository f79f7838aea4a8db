"""00: the leadership monthly brief. SQL in sql/brief/, arithmetic and the brief's charts here.

The brief's own numbers (3 x 3 operating matrix, GMV decomposition, key-path funnel, KPI tiles,
data quality) come from the warehouse. What the plays found comes from the run folder's
metrics.json and targets/ (written by the plays earlier in the same run): a play that has not
written anything is simply absent.

    b = brief.compute(con, period, params.brief, events=True, output_dir=output_dir,
                      offline_channels=params.data.offline_order_channels, rc=params.recall)
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from userops import charts, i18n, recall, run_status
from userops import narrative as nv
from userops.db import query
from userops.params import BriefParams, RecallParams
from userops.period import Period

BRIEF_PLAY = "00_monthly_brief"
GROUPS = ("new", "returning", "dormant")
# GMV = (traffic x conversion + unobserved_buyers) x orders_per_buyer x aov, per group, exactly:
# traffic = users with an observed visit (app / mini-program session or logged store footfall),
# conversion = their buyers / traffic, unobserved_buyers = buyers without an observed visit (never
# counted as converted traffic); orders per buyer and AOV over all the group's buyers and orders.
FACTORS = ("traffic", "conversion", "unobserved_buyers", "orders_per_buyer", "aov")
FACTOR_FMT = {
    "traffic": "int",
    "conversion": "pct",
    "unobserved_buyers": "int",
    "orders_per_buyer": "float2",
    "aov": "yuan",
}


# --------------------------------------------------------------------------- 3 x 3 matrix


MATRIX_COUNTS = [
    "base_users",
    "visitors",
    "session_visitors",
    "footfall_visitors",
    "buyers",
    "converted",
    "reactivated",
    "orders",
    "gmv",
]


def matrix(
    con, start: Period, end: Period, rc: RecallParams, events: bool, bp: BriefParams | None = None
) -> pd.DataFrame:
    """Operating matrix for every month from ``start`` to ``end`` (inclusive), one row per month x group.

    The groups are play 04's lifecycle stages at the previous month end (dormant = churned; rule
    and params ``rc`` as in play 04): this builds recall_user_stages for these months on ``con``.
    Columns: month (YYYY-MM), user_group, the counts of sql/brief/operating_matrix.sql (MATRIX_COUNTS;
    reactivated = the dormant group's buyers, play 04's reactivation definition) and the five factors
    (FACTORS): traffic, conversion (converted / traffic), unobserved_buyers, orders_per_buyer
    (orders / buyers), aov (gmv / orders), with
    gmv = (traffic x conversion + unobserved_buyers) x orders_per_buyer x aov exactly.

    With the events table (``events``) the traffic basis is an observed visit (``bp`` brief.visit_events,
    brief.footfall_events; default params when None) and buyers without one are unobserved_buyers.
    Without it no visit is observed: traffic is the group's eligible base, which holds every
    buyer (conversion = buyers / eligible users, unobserved_buyers = 0). A ratio with a zero
    denominator is 0 (its product is 0, like the group's gmv).
    """
    bp = bp or BriefParams()
    months = (end.start.year - start.start.year) * 12 + end.start.month - start.start.month + 1
    recall.build_stages(con, end, rc, months=months)
    df = query(
        "brief/operating_matrix",
        con,
        from_date=start.start,
        to_date=end.end,
        visit_events=list(bp.visit_events),
        footfall_events=list(bp.footfall_events),
    )
    df["month"] = pd.to_datetime(df["month_start"]).dt.strftime("%Y-%m")
    df["gmv"] = df["gmv"].astype(float)
    if not events:  # no visit is observed: the eligible base is the traffic and holds every buyer
        df["visitors"] = df["session_visitors"] = df["footfall_visitors"] = 0
        df["converted"] = df["buyers"]
    df["traffic"] = (df["visitors"] if events else df["base_users"]).astype(float)
    df["unobserved_buyers"] = (df["buyers"] - df["converted"]).astype(float)

    def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a / b.where(b > 0)).fillna(0.0).astype(float)

    df["conversion"] = ratio(df["converted"], df["traffic"])
    df["orders_per_buyer"] = ratio(df["orders"], df["buyers"])
    df["aov"] = ratio(df["gmv"], df["orders"])
    df.attrs["events"] = events
    cols = ["month", "user_group", *MATRIX_COUNTS, *FACTORS]
    return df[cols].reset_index(drop=True)


def month_totals(con, start: Period, end: Period) -> pd.DataFrame:
    """Orders, buyers and GMV per month straight from fct_orders (the reconciliation reference)."""
    df = query("brief/month_totals", con, from_date=start.start, to_date=end.end)
    df["month"] = pd.to_datetime(df["month_start"]).dt.strftime("%Y-%m")
    df["gmv"] = df["gmv"].astype(float)
    return df[["month", "orders", "buyers", "gmv"]]


def product_of_factors(m: pd.DataFrame) -> pd.Series:
    """(traffic x conversion + unobserved_buyers) x orders_per_buyer x aov per row (equals gmv up
    to float rounding)."""
    return (m["traffic"] * m["conversion"] + m["unobserved_buyers"]) * m["orders_per_buyer"] * m["aov"]


def traffic_basis(m: pd.DataFrame, p: Period) -> dict:
    """Month ``p``'s traffic basis, summed over the groups: visitors by kind, buyers with and
    without an observed visit and the GMV share of the latter (their GMV = their buyers x the
    group's orders/buyer x AOV, the unobserved term of the identity)."""
    cur = m[m.month == p.month]
    gmv = float(cur["gmv"].sum())
    unobs_gmv = float((cur["unobserved_buyers"] * cur["orders_per_buyer"] * cur["aov"]).sum())
    return {
        "events": bool(m.attrs.get("events", True)),
        "traffic": float(cur["traffic"].sum()),
        "session_visitors": int(cur["session_visitors"].sum()),
        "footfall_visitors": int(cur["footfall_visitors"].sum()),
        "converted": int(cur["converted"].sum()),
        "unobserved_buyers": int(cur["unobserved_buyers"].sum()),
        "unobserved_gmv_share": unobs_gmv / gmv if gmv > 0 else 0.0,
    }


# --------------------------------------------------------------------------- decomposition


def shapley_product(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Shapley decomposition of the change of a product of factors, row by row.

    ``x0``, ``x1``: arrays (rows x k factors) before and after. Returns rows x k contributions
    whose row sums equal ``prod(x1) - prod(x0)`` exactly (up to float rounding): factor i gets
    the average, over every order of switching the factors from before to after, of the change
    when i switches. Zeros are fine (unlike log-mean Divisia).
    """
    x0 = np.asarray(x0, dtype=float)
    x1 = np.asarray(x1, dtype=float)
    return shapley_weights(x0, x1) * (x1 - x0)


def shapley_weights(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """The yuan per unit change of each factor in :func:`shapley_product` (its contribution is
    weight x (x1 - x0)): the Shapley average of the product of the other factors."""
    x0 = np.asarray(x0, dtype=float)
    x1 = np.asarray(x1, dtype=float)
    k = x0.shape[-1]
    out = np.zeros_like(x0)
    for i in range(k):
        others = [j for j in range(k) if j != i]
        acc = np.zeros(x0.shape[:-1])
        for r in range(k):
            w = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            for switched in combinations(others, r):
                term = np.ones(x0.shape[:-1])
                for j in others:
                    term = term * (x1[..., j] if j in switched else x0[..., j])
                acc = acc + w * term
        out[..., i] = acc
    return out


def buyer_split(x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Split the change of buyers = traffic x conversion + unobserved_buyers into its three terms.

    ``x0``, ``x1``: rows x (traffic, conversion, unobserved_buyers). Traffic and conversion share
    the change of their product by Shapley (each moves at the mean of the other); the unobserved
    buyers add their own change. Row sums equal the change of buyers exactly.
    """
    x0 = np.asarray(x0, dtype=float)
    x1 = np.asarray(x1, dtype=float)
    t0, c0, u0 = x0[:, 0], x0[:, 1], x0[:, 2]
    t1, c1, u1 = x1[:, 0], x1[:, 1], x1[:, 2]
    return np.column_stack([(t1 - t0) * (c0 + c1) / 2, (c1 - c0) * (t0 + t1) / 2, u1 - u0])


def decompose(m: pd.DataFrame, p: Period) -> pd.DataFrame:
    """Month-over-month GMV change (p vs p.prev) attributed to each group x factor (Shapley).

    Two levels, per group: GMV = buyers x orders/buyer x AOV is split by Shapley; the buyers'
    share (yuan per buyer x change in buyers) is then split over traffic, conversion and buyers
    without a logged visit (:func:`buyer_split`). One row per group x factor: value_prev, value,
    contribution (yuan), rank (1 = largest absolute contribution). ``attrs``: gmv_prev, gmv,
    change. Contributions sum to the change exactly.
    """
    prev = m[m.month == p.prev.month].set_index("user_group").reindex(list(GROUPS)).fillna(0.0)
    curr = m[m.month == p.month].set_index("user_group").reindex(list(GROUPS)).fillna(0.0)
    x0 = prev[list(FACTORS)].to_numpy(float)
    x1 = curr[list(FACTORS)].to_numpy(float)
    b0 = x0[:, 0] * x0[:, 1] + x0[:, 2]  # buyers = traffic x conversion + unobserved
    b1 = x1[:, 0] * x1[:, 1] + x1[:, 2]
    y0, y1 = np.column_stack([b0, x0[:, 3], x0[:, 4]]), np.column_stack([b1, x1[:, 3], x1[:, 4]])
    per_buyer = shapley_weights(y0, y1)[:, [0]]  # yuan per buyer gained or lost
    contrib = np.column_stack([per_buyer * buyer_split(x0[:, :3], x1[:, :3]), shapley_product(y0, y1)[:, 1:]])
    rows = [
        {
            "user_group": g,
            "factor": f,
            "value_prev": x0[gi, fi],
            "value": x1[gi, fi],
            "contribution": contrib[gi, fi],
        }
        for gi, g in enumerate(GROUPS)
        for fi, f in enumerate(FACTORS)
    ]
    out = pd.DataFrame(rows)
    out["rank"] = out["contribution"].abs().rank(ascending=False, method="first").astype(int)
    out.attrs["gmv_prev"] = float(prev["gmv"].sum())
    out.attrs["gmv"] = float(curr["gmv"].sum())
    out.attrs["change"] = out.attrs["gmv"] - out.attrs["gmv_prev"]
    return out


def largest(decomp: pd.DataFrame) -> pd.Series:
    """The group x factor with the largest absolute contribution."""
    return decomp.sort_values("rank").iloc[0]


def comparison_reason(decomp: pd.DataFrame, p: Period) -> str:
    """Why the month cannot be compared with the month before ("" when it can): GMV in both months."""
    prev, month = i18n.month(p.prev), i18n.month(p)
    if decomp.attrs["gmv_prev"] <= 0:
        return i18n.t("brief.no_prev_orders", prev=prev, month=month)
    if decomp.attrs["gmv"] <= 0:
        return i18n.t("brief.no_month_orders", prev=prev, month=month)
    return ""


def signed_money(x: float) -> str:
    """'+¥1,234' / '-¥1,234' (no line break after the sign)."""
    return nv.unbreakable(("+" if x >= 0 else "-") + charts.fmt_yuan(abs(x), 0))


def gmv_finding(decomp: pd.DataFrame, p: Period) -> str:
    """The key-findings line on GMV: its change and biggest mover, or why there is no comparison."""
    g0, g1 = decomp.attrs["gmv_prev"], decomp.attrs["gmv"]
    why = comparison_reason(decomp, p)
    if why:
        return i18n.t(
            "brief.gmv_line_no_comparison", gmv=charts.fmt_yuan(g1, 0), month=i18n.month(p), why=why
        )
    top = largest(decomp)
    return i18n.t(
        "brief.gmv_line",
        gmv=charts.fmt_yuan(g1, 0),
        change=signed_money(g1 - g0),
        pct=charts.fmt_pct(g1 / g0 - 1, signed=True),
        prev=i18n.month_short(p.prev),
        top=label(top.user_group, top.factor),
        contribution=signed_money(top.contribution),
    )


def _change_text(prev: float, curr: float, key: str) -> str:
    if pd.isna(prev) or pd.isna(curr):
        return i18n.t("common.no_change")
    if key == "conversion":
        return charts.fmt_pp(curr - prev)
    if not prev:
        return i18n.t("common.unchanged") if not curr else i18n.t("common.from_none")
    return charts.fmt_pct(curr / prev - 1, signed=True)


def matrix_table(m: pd.DataFrame, p: Period) -> pd.DataFrame:
    """The 3 x 3 matrix (+ orders/buyer and GMV) as text: one row per group and a total row,
    each cell 'last month → this month (change)'. Conversion changes in pp, the others in %."""
    rows = []
    cur, prev = (
        m[m.month == p.month].set_index("user_group"),
        m[m.month == p.prev.month].set_index("user_group"),
    )
    has_prev = bool(len(prev)) and (prev["traffic"].sum() > 0 or prev["gmv"].sum() > 0)
    base = {"conversion": "traffic", "orders_per_buyer": "buyers", "aov": "orders"}  # ratio denominators

    def value(frame: pd.DataFrame, g: str, f: str) -> float | None:
        """The cell's number; None for a ratio without a denominator (e.g. AOV of a group with no orders)."""
        if g not in frame.index or (f in base and not frame.loc[g, base[f]] > 0):
            return None if f in base else 0.0
        return float(frame.loc[g, f])

    def cell(g: str, f: str) -> str:
        fmt = FACTOR_FMT.get(f, "yuan0")
        a, b = value(prev, g, f), value(cur, g, f)
        text = [(i18n.t("brief.matrix_none") if x is None else _fmt(x, fmt)) for x in (a, b)]
        if not has_prev:
            return text[1]
        if a is None or b is None or f == "unobserved_buyers":  # a small count: its change in % is noise
            return f"{text[0]} → {text[1]}"
        return f"{text[0]} → {text[1]} ({_change_text(a, b, f)})"

    col = i18n.t("brief.matrix_group")
    # without visit data every buyer is in the eligible base: no column of zeros for unobserved buyers
    shown = [f for f in FACTORS if f != "unobserved_buyers" or m.attrs.get("events", True)]
    for g in GROUPS:
        rows.append({col: group_name(g), **{factor_name(f): cell(g, f) for f in [*shown, "gmv"]}})
    a, b = float(prev["gmv"].sum()), float(cur["gmv"].sum())
    total = {col: group_name("total"), **{factor_name(f): "" for f in shown}}
    total[factor_name("gmv")] = (
        f"{_fmt(a, 'yuan0')} → {_fmt(b, 'yuan0')} ({_change_text(a, b, 'gmv')})"
        if has_prev
        else _fmt(b, "yuan0")
    )
    rows.append(total)
    return pd.DataFrame(rows)


def matrix_table_html(m: pd.DataFrame, p: Period):
    """:func:`matrix_table` as the brief shows it: 8.5 pt with tight padding, so its seven columns
    keep each cell on at most two lines of a page; never split across pages (its caption says what
    each cell holds)."""
    return charts.table_html(
        matrix_table(m, p), max_rows=None, caption=matrix_caption(m, p), keep_together=True
    ).set_table_styles(_tight() + _whole_words_first(), overwrite=False)  # "Returning", not "Returni ng"


def _tight() -> list[dict]:
    """Table styles of the brief's tables: 8.5 pt with tight padding. The brief must fit its page budget
    (issue #15: at most 6 pages in both languages) whatever the data; its tables are where the room is
    (the English terms and measures are longer than the Chinese ones and wrap to more lines)."""
    return [
        {"selector": "", "props": [("font-size", "8.5pt")]},
        {"selector": "td", "props": [("padding", "2px 5px")]},
        {"selector": "th", "props": [("padding", "3px 5px")]},
    ]


def matrix_caption(m: pd.DataFrame, p: Period) -> str:
    """The matrix table's caption: what each cell holds (this month only without a previous month)."""
    prev = m[m.month == p.prev.month]
    kw = {"prev": i18n.month_short(p.prev), "month": i18n.month_short(p)}
    if not len(prev) or (prev["traffic"].sum() <= 0 and prev["gmv"].sum() <= 0):
        return i18n.t("brief.matrix_caption_single", **kw)
    return i18n.t("brief.matrix_caption", **kw)


def tiles_text(b: Brief, bp: BriefParams) -> str:
    """The rule under the KPI tiles and what moved outside it, or what flagging needs."""
    p, unusual = b.period, b.tiles[b.tiles.flagged]
    src = (
        i18n.t("brief.src_previous_run", month=i18n.month(p.prev))
        if b.previous_source
        else i18n.t("brief.src_computed")
    )
    rule = i18n.t("brief.rule", prev=i18n.month_short(p.prev), sd=f"{bp.flag_sd:g}", n=bp.trailing_months)
    history = int(b.tiles["n_history"].max()) if len(b.tiles) else 0
    if comparison_reason(b.decomposition, p) or history < 3:
        return i18n.t("brief.flag_needs", rule=rule, history=history)
    moved = "".join(
        i18n.t(
            "brief.moved",
            label=t.label,
            change=fmt_change(t.change, t.kind),
            usual=fmt_change(t.usual_change, t.kind),
            band=fmt_change(bp.flag_sd * t.usual_sd, t.kind).lstrip("+"),
        )
        for t in unusual.itertuples()
    )
    return f"{rule}{src}" + (moved or i18n.t("brief.none_moved"))


def contribution_text(r) -> str:
    """'老客 · 客单价 -13.0%（-¥154,528）' for a row of :func:`decompose`."""
    return i18n.t(
        "brief.contribution",
        label=label(r.user_group, r.factor),
        change=_change_text(r.value_prev, r.value, r.factor),
        contribution=signed_money(r.contribution),
    )


# --------------------------------------------------------------------------- key path funnel

STEPS = ("visit", "browse", "add_cart", "checkout", "buy_again")


def _funnel_rows(con, first: Period, last: Period, bp: BriefParams, offline_channels: list[str]) -> dict:
    """sql/brief/key_path_funnel.sql for the months ``first`` .. ``last`` in one query (windows
    observed to ``last.as_of``): {month 'YYYY-MM': its rows}, every month of the range present (a
    month without buyers or events has no rows)."""
    df = query(
        "brief/key_path_funnel",
        con,
        from_date=first.start,
        to_date=last.end,
        as_of=last.as_of,
        days=bp.repeat_days,
        offline_channels=list(offline_channels),
    )
    for c in ("users", "eligible_users"):
        df[c] = df[c].astype("Float64").astype(float)
    month = pd.to_datetime(df.pop("month")).dt.strftime("%Y-%m")
    out, m = {}, first
    while m.start <= last.start:
        out[m.month] = df[month == m.month].reset_index(drop=True)
        m = m.shift(1)
    return out


def _window_complete(df: pd.DataFrame, as_of) -> bool:
    """Every checkout user of every segment has had the whole buy-again window by the end of
    ``as_of`` (and some exist): the step's window_closes_on is on or before it."""
    checkout = df[df.step == "checkout"].users
    closes = pd.to_datetime(df[df.step == "buy_again"].window_closes_on).dropna()
    return bool(checkout.sum() > 0 and (closes <= pd.Timestamp(as_of)).all())


def _first_month_read(q: Period, days: int) -> Period:
    """The earliest month :func:`funnel` of ``q`` can read: its walk back stops at the latest month
    before ``q`` whose last possible buyer's window closes by ``q.as_of`` (a buyer of the month's
    last instant: month end + ``days`` - 1 day), and after ``days // 28 + 2`` months."""
    m = q
    for _ in range(days // 28 + 2):
        m = m.prev
        if m.end + pd.Timedelta(days=days - 1) <= q.as_of:
            break
    return m


def _funnel_walk(rows: dict, p: Period, bp: BriefParams) -> pd.DataFrame:
    """The funnel of report month ``p`` from the months' rows (see :func:`funnel`)."""
    df = rows[p.month].drop(columns="window_closes_on")
    df["measured_month"] = p.month
    m, src = p, rows[p.month]
    for _ in range(bp.repeat_days // 28 + 2):  # the window of a month this far back has ended
        if _window_complete(src, p.as_of):
            break
        m = m.prev
        src = rows[m.month]
        if not (src.step == "checkout").any() or src[src.step == "checkout"].users.sum() == 0:
            m = None
            break
    else:
        m = None
    again = df.step == "buy_again"
    if m is None:
        df.loc[again, ["users", "eligible_users"]] = float("nan")
        df.loc[again, "measured_month"] = None
    elif m is not p:
        src = src[src.step == "buy_again"].set_index("segment")
        for c in ("users", "eligible_users"):
            df.loc[again, c] = df.loc[again, "segment"].map(src[c]).astype(float)
        df.loc[again, "measured_month"] = m.month
    prev = df.groupby("segment")["users"].shift(1)
    base = prev.where(~again, df["eligible_users"])
    df["conversion"] = df["users"] / base.where(base > 0)
    df["drop"] = 1 - df["conversion"]
    return df


def funnels(con, reports: list[Period], bp: BriefParams, offline_channels: list[str]) -> list[pd.DataFrame]:
    """:func:`funnel` of each report month (the brief: this month and the month before), from one
    query over every month their buy-again steps may read (all observed to the last report
    month's end: a month whose windows closed by a report month's as-of day has the same numbers
    at a later one, and the walk reads no other month's step 5)."""
    first = min((_first_month_read(q, bp.repeat_days) for q in reports), key=lambda m: m.start)
    last = max(reports, key=lambda m: m.start)
    rows = _funnel_rows(con, first, last, bp, offline_channels)
    return [_funnel_walk(rows, q, bp) for q in reports]


def funnel(con, p: Period, bp: BriefParams, offline_channels: list[str]) -> pd.DataFrame:
    """Key-path funnel of the month per segment (channels, online, offline) with step conversion.

    ``offline_channels``: the order channels placed in a store (params data.offline_order_channels);
    every other channel is online.

    Columns of sql/brief/key_path_funnel.sql (but month and window_closes_on) plus ``conversion``
    = users / users of the previous step in the segment (NaN for the first step, for steps a
    segment does not track, and when the previous step has no users) and ``drop`` = 1 - conversion.

    Step 5 (buy again within ``bp.repeat_days`` days: play 03's repurchase definition, shared SQL)
    is measured, like play 03's headline, on the latest month up to ``p`` whose checkout users have
    all had the whole window by ``p.as_of`` (usually the month before): its users are that month's,
    ``conversion`` = users / eligible_users, and ``measured_month`` ('YYYY-MM') names it. When no
    month's window is complete the step has no users and no conversion (``measured_month`` None).
    """
    return funnels(con, [p], bp, offline_channels)[0]


def _month_name(month: str | None) -> str:
    """'2026-09' -> '2026年9月' / 'September 2026' (the report language's month)."""
    return i18n.month(Period(month)) if month else ""


def funnel_metric_definition(row, bp: BriefParams) -> str:
    """metrics.json definition of a funnel step's conversion (the buy-again step names its month)."""
    if row.step == "buy_again":
        return (
            f"share of {Period(row.measured_month).label if row.measured_month else ''}'s online checkout users with another order within "
            f"{bp.repeat_days} x 24 h of their first order of the month (play 03's repurchase definition; "
            "the latest month whose window is complete)"
        )
    return f"share of online users at the step before who reached '{row.step}' in the month"


def break_point(f: pd.DataFrame, segment: str = "online") -> pd.Series | None:
    """The step of ``segment`` with the lowest conversion from the step before (None if none)."""
    s = f[(f.segment == segment)].dropna(subset=["conversion"])
    if s.empty:
        return None
    row = s.sort_values(["conversion", "step_order"]).iloc[0].copy()
    before = f[(f.segment == segment) & (f.step_order == row.step_order - 1)].iloc[0]
    row["from_step"] = before.step
    # users who stop at the step: the buy-again step's base is its own month's eligible buyers
    row["lost"] = (row.eligible_users if row.step == "buy_again" else before.users) - row.users
    return row


def break_point_text(b: Brief, bpt: pd.Series, bp: BriefParams) -> str:
    """'Fix <step> → <step> first: …' with last month's conversion and the weakest channel when known."""
    p = b.period
    prev = b.funnel_prev[b.funnel_prev.segment == "online"].set_index("step").conversion.get(bpt.step)
    vs = (
        ""
        if prev is None or pd.isna(prev)
        else i18n.t("brief.vs", text=nv.compare(bpt.conversion, prev, i18n.month_short(p.prev)))
    )
    chans = b.funnel[(b.funnel.step == bpt.step) & (b.funnel.segment_kind == "channel")].dropna(
        subset=["conversion"]
    )
    worst = chans.sort_values(["conversion", "segment"]).iloc[0] if len(chans) > 1 else None
    off_rows = b.funnel[(b.funnel.segment == "offline") & (b.funnel.step == "buy_again")].dropna(
        subset=["conversion"]
    )
    off, off_month = off_rows.conversion, (off_rows.measured_month.iloc[0] if len(off_rows) else None)
    again = b.funnel[b.funnel.step == "buy_again"]
    text = i18n.t(
        "brief.fix_first",
        from_step=step_name(bpt.from_step, in_text=True),
        step=step_name(bpt.step, in_text=True),
        lost=nv.num(bpt.lost),
        conversion=nv.pct(bpt.conversion),
        vs=vs,
    )
    if worst is not None:
        text += i18n.t(
            "brief.weakest_channel",
            channel=i18n.name_in_text("order_channel", worst.segment),
            conversion=nv.pct(worst.conversion),
        )
    text += "。" if i18n.language() == "zh" else "."
    if len(off):
        text += i18n.t(
            "brief.offline_again",
            share=nv.pct(off.iloc[0]),
            month=_month_name(off_month),
            days=bp.repeat_days,
        )
    if len(again) and again.measured_month.isna().all():
        text += i18n.t("brief.again_unmeasured", days=bp.repeat_days, as_of=p.as_of)
    return text.strip()


# --------------------------------------------------------------------------- KPI tiles

KPIS = [
    # key, format, kind ("level": relative change, "share": change in pp); names: i18n kind "kpi"
    ("gmv", "yuan0", "level"),
    ("orders", "int", "level"),
    ("buyers", "int", "level"),
    ("aov", "yuan", "level"),
    ("new_buyers", "int", "level"),
    ("reactivated", "int", "level"),
    ("traffic", "int", "level"),
    ("conversion", "pct", "share"),
]
KPI_DEFINITIONS = {
    "gmv": "paid GMV of the month's orders (in the data's currency)",
    "orders": "paid orders in the month",
    "buyers": "distinct users with an order in the month",
    "aov": "GMV / orders (money per order)",
    "new_buyers": "users whose first order ever was in the month",
    "reactivated": recall.REACTIVATED_DEFINITION + " (play 04's lifecycle rule)",
    "traffic": "users with a logged visit: an app / mini-program session or store footfall",
    "conversion": "buyers with a logged visit / traffic",
    "unobserved_buyers": "buyers without a logged visit (e.g. in a store that logs no footfall)",
}


def kpi_series(m: pd.DataFrame) -> pd.DataFrame:
    """One row per month with the KPI values, summed over the matrix groups."""
    g = m.groupby("month")
    out = pd.DataFrame(
        {
            "gmv": g["gmv"].sum(),
            "orders": g["orders"].sum(),
            "buyers": g["buyers"].sum(),
            "traffic": g["traffic"].sum(),
            "converted": g["converted"].sum(),
            "new_buyers": m[m.user_group == "new"].set_index("month")["buyers"],
            "reactivated": g["reactivated"].sum(),
        }
    )
    out["aov"] = out["gmv"] / out["orders"].where(out["orders"] > 0)
    out["conversion"] = out["converted"] / out["traffic"].where(out["traffic"] > 0)
    return out.astype(float).sort_index()


def _change(curr, prev, kind: str) -> float:
    if prev is None or curr is None or (isinstance(prev, float) and math.isnan(prev)):
        return float("nan")
    if kind == "share":
        return float(curr - prev)
    return float(curr / prev - 1) if prev else float("nan")


def kpi_tiles(series: pd.DataFrame, p: Period, bp: BriefParams, previous: dict | None = None) -> pd.DataFrame:
    """One row per KPI: this month, last month (+ its source), change, trailing mean, unusual flag.

    Last month's value comes from ``previous`` (the previous run's brief metrics, {key: value})
    when it holds the KPI, else from ``series``. The norm: the month-over-month changes of the
    ``bp.trailing_months`` months before the report month; a KPI is flagged when this month's
    change lies outside their mean +/- ``bp.flag_sd`` standard deviations (at least 3 changes).
    Changes are relative for levels and in percentage points for shares.
    """
    months = [p.shift(-k).month for k in range(bp.trailing_months, -1, -1)]  # oldest .. report month
    s = series.reindex([p.shift(-(bp.trailing_months + 1)).month, *months])
    rows = []
    for key, fmt, kind in KPIS:
        v = s[key].to_numpy(float)
        value = v[-1]
        computed_prev = v[-2]
        prev, source = computed_prev, "computed"
        if previous and previous.get(key) is not None:
            prev, source = float(previous[key]), "previous run"
        change = _change(value, prev, kind)
        hist = np.array([_change(v[i], v[i - 1], kind) for i in range(1, len(v) - 1)])
        hist = hist[~np.isnan(hist)]
        trailing = v[1:-1][~np.isnan(v[1:-1])]
        mean_c = float(hist.mean()) if len(hist) else float("nan")
        sd_c = float(hist.std(ddof=1)) if len(hist) >= 2 else float("nan")
        this_change = _change(value, computed_prev, kind)
        flagged = bool(len(hist) >= 3 and sd_c > 0 and abs(this_change - mean_c) > bp.flag_sd * sd_c)
        rows.append(
            {
                "key": key,
                "label": i18n.name("kpi", key),
                "fmt": fmt,
                "kind": kind,
                "value": value,
                "prev": prev,
                "prev_source": source,
                "change": change,
                "trailing_mean": float(trailing.mean()) if len(trailing) else float("nan"),
                "vs_trailing": _change(value, float(trailing.mean()) if len(trailing) else None, kind),
                "usual_change": mean_c,
                "usual_sd": sd_c,
                "n_history": int(len(hist)),
                "flagged": flagged,
            }
        )
    return pd.DataFrame(rows)


def previous_brief_metrics(output_dir: str | Path | None, prev_month: str) -> dict | None:
    """KPI values of the previous month's brief from ``<out_root>/<prev_month>/metrics.json``.

    ``output_dir`` is this run's folder (a sibling of the previous month's); None when there is
    no such file or it holds no brief section. Returns {kpi key: value}. A KPI recorded under another
    definition (e.g. reactivated before it became play 04's, conversion before the traffic basis
    changed) is left out: it is recomputed on today's definition.
    """
    if not output_dir:
        return None
    path = Path(output_dir).resolve().parent / prev_month / "metrics.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("month") != prev_month:
        return None
    mets = doc.get("plays", {}).get(BRIEF_PLAY, {}).get("metrics", {})
    vals = {
        key: v.get("value")
        for k, v in mets.items()
        if k.startswith("kpi.")
        and (key := k.removeprefix("kpi.")) in KPI_DEFINITIONS
        and v.get("definition", KPI_DEFINITIONS[key]) == KPI_DEFINITIONS[key]
    }
    return vals or None


def _fmt(x, fmt: str) -> str:
    if fmt == "float2":
        return charts.MISSING if pd.isna(x) else f"{float(x):,.2f}"
    if fmt == "yuan0":
        return charts.fmt_yuan(x, 0)
    return charts.FORMATTERS[fmt](x)


def fmt_change(x: float, kind: str) -> str:
    """+5.2% for levels, +1.3 pp for shares."""
    return charts.fmt_pp(x) if kind == "share" else charts.fmt_pct(x, signed=True)


def kpi_tiles_html(tiles: pd.DataFrame, p: Period, trailing_months: int) -> str:
    """The KPI tiles as an HTML grid (4 per row): value, vs last month, vs trailing mean, flag.

    A change that cannot be computed (no value last month, no trailing months) says so in words.
    """
    cells = []
    for t in tiles.itertuples():
        arrow = "▲" if t.change > 0 else ("▼" if t.change < 0 else "")
        vs_prev = (
            f"{arrow} {fmt_change(t.change, t.kind)} {i18n.t('brief.kpi_vs_prev', prev=i18n.month_short(p.prev))}"
            if not pd.isna(t.change)
            else ""
        )
        vs_mean = (
            f"{fmt_change(t.vs_trailing, t.kind)} {i18n.t('brief.kpi_vs_mean', n=trailing_months)}"
            if not pd.isna(t.vs_trailing)
            else ""
        )
        norm = i18n.t("brief.kpi_within") if t.n_history >= 3 else ""
        border = "#C2707A" if t.flagged else "#D5DBE1"
        flag = (
            f'<div style="color:#B04050;font-size:8.5pt;font-weight:600">{i18n.t("brief.kpi_outside")}</div>'
            if t.flagged
            else f'<div style="color:#888;font-size:8.5pt">{norm}</div>'
        )
        src = "" if t.prev_source == "computed" else i18n.t("brief.kpi_previous_run")
        cells.append(
            f'<div style="border:1.5px solid {border};border-radius:6px;padding:6px 9px;">'
            f'<div style="color:#555;font-size:9pt">{html.escape(t.label)}</div>'
            f'<div style="font-size:15pt;font-weight:700;color:#222">{_fmt(t.value, t.fmt)}</div>'
            f'<div style="font-size:8.5pt;color:#333;white-space:nowrap">{vs_prev}{src}</div>'
            f'<div style="font-size:8.5pt;color:#333;white-space:nowrap">{vs_mean}</div>{flag}</div>'
        )
    return (
        '<div style="display:grid;grid-template-columns:repeat(4,1fr);gap:7px;margin:4px 0 8px 0;'
        "font-family:'Noto Sans CJK SC',sans-serif\">" + "".join(cells) + "</div>"
    )


# --------------------------------------------------------------------------- plays' results


def run_metrics(output_dir: str | Path | None) -> dict:
    """The run folder's metrics.json as a dict ({} when there is none, e.g. an interactive run)."""
    if not output_dir:
        return {}
    path = Path(output_dir) / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _play_name(entry: dict) -> str:
    """'03 促活' (the analysis's name in the report language)."""
    return play_name(entry["notebook"])


def play_name(stem: str) -> str:
    """'03 促活' / '03 Active-user incentives' for a notebook stem; an unknown notebook as named."""
    if not i18n.known("play", stem):
        return stem
    return f"{stem[:2]} {i18n.name('play', stem)}"


def play_status_note(output_dir: str | Path | None) -> str | None:
    """One markdown paragraph naming the plays missing from this brief, or None when none is.

    From the run's run_status.json: plays that failed (their numbers, lists and actions are left
    out), plays not run, and plays whose results come from an earlier run of the month (``--only``).
    """
    status = run_status.read(output_dir)
    carried = set(status["carried_over"])
    earlier = [e for e in status["succeeded"] if e["notebook"] in carried]
    if not (status["failed"] or status["skipped"] or earlier):
        return None

    def names(entries: list[dict], mark: bool = True) -> str:
        return i18n.t("common.list_sep").join(
            _play_name(e) + (i18n.t("brief.earlier_mark") if mark and e["notebook"] in carried else "")
            for e in entries
        )

    parts = [i18n.t("brief.missing_title")]
    if status["failed"]:
        parts.append(i18n.t("brief.missing_failed", plays=names(status["failed"])))
    if status["skipped"]:
        parts.append(i18n.t("brief.missing_skipped", plays=names(status["skipped"])))
    if earlier:
        parts.append(i18n.t("brief.missing_earlier", plays=names(earlier, mark=False)))
    return " ".join(parts)


def play_metrics(doc: dict) -> pd.DataFrame:
    """Every play's metrics except the brief's own, one row per metric (play, key, value, unit, ...)."""
    rows = [
        {
            "play": play,
            "key": key,
            **{k: m.get(k) for k in ("value", "unit", "definition", "period", "ci_low", "ci_high")},
        }
        for play, sec in sorted(doc.get("plays", {}).items())
        if play != BRIEF_PLAY
        for key, m in sorted(sec.get("metrics", {}).items())
    ]
    cols = ["play", "key", "value", "unit", "definition", "period", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=cols)


def target_lists(output_dir: str | Path | None) -> pd.DataFrame:
    """Contact lists of the run (targets/*.csv with user_id and arm): users to touch and holdout.

    Other target files (tags, playbooks, referrer lists) size no touch and are left out, and so
    are empty lists (the play says why nobody is on them).
    """
    cols = ["target", "rows", "users", "to_touch", "holdout"]
    folder = Path(output_dir) / "targets" if output_dir else None
    if folder is None or not folder.is_dir():
        return pd.DataFrame(columns=cols)
    rows = []
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path)
        if not {"user_id", "arm"} <= set(df.columns) or df.empty:  # an empty list sizes nothing
            continue
        rows.append(
            {
                "target": path.stem,
                "rows": len(df),
                "users": df["user_id"].nunique(),
                "to_touch": df.loc[df["arm"] == "treatment", "user_id"].nunique(),
                "holdout": df.loc[df["arm"] == "holdout", "user_id"].nunique(),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# The brief lists each play's headline effects only: the lift against the holdout and the ROI on
# gross margin (the play's report has the rest: orders, paid GMV, margin, costs).
EFFECT_KEY = re.compile(r"(?:lift|roi)", re.IGNORECASE)


def fmt_metric(value, unit: str) -> str:
    """A play metric as text according to its unit (share -> %, difference -> pp, yuan -> money).

    Money units ("yuan", "yuan per user", or naming the currency code or symbol) are shown with
    the run's currency symbol.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return charts.MISSING
    u = (unit or "").lower()
    if "share" in u or "rate" in u:
        return charts.fmt_pp(value) if "diff" in u else charts.fmt_pct(value)
    if "yuan" in u or charts.currency_code().lower() in u or charts.currency_symbol() in u or "¥" in u:
        return charts.fmt_yuan(value, 0)
    if "ratio" in u or "roi" in u:
        return f"{float(value):,.1f}"  # ROI as in the plays' sentences: one decimal
    if float(value).is_integer() or abs(value) >= 100:
        return charts.fmt_int(value)
    return f"{float(value):,.2f}"


def effect_metrics(pm: pd.DataFrame) -> pd.DataFrame:
    """The plays' headline effect sizes: lift, incremental orders / GMV and ROI metrics.

    Headline only: keys without a '.' (per-channel or per-segment breakdowns are left to the
    play's own report). Adds ``text``: the value with its 95% CI when the play gave one, and
    ``measure``: the metric's business name (i18n kind "metric"; tests check every headline key has one).
    """
    if pm.empty:
        return pm.assign(text=pd.Series(dtype=str), measure=pd.Series(dtype=str))
    keep = pm["key"].str.contains(EFFECT_KEY) & ~pm["key"].str.contains(".", regex=False)
    out = pm[keep & pm["value"].notna()].copy()
    out["text"] = [
        fmt_metric(r.value, r.unit)
        + (
            i18n.t("brief.paren", text=nv.ci(r.ci_low, r.ci_high, lambda x, u=r.unit: fmt_metric(x, u)))
            if r.ci_low is not None and not pd.isna(r.ci_low)
            else ""
        )
        for r in out.itertuples()
    ]
    out["measure"] = [i18n.name("metric", k) for k in out["key"]]
    return out.reset_index(drop=True)


def unmeasured_text(pm: pd.DataFrame) -> str:
    """One sentence naming the headline metrics the plays recorded without a value ("" when none).

    A play records a metric without a value when its section could not compute it on this data;
    the brief says so instead of showing a number. Metrics without a business name in the catalog
    are counted, not named (their codes never reach the page).
    """
    if pm.empty:
        return ""
    gone = pm[pm["value"].isna() & ~pm["key"].str.contains(".", regex=False)]
    if gone.empty:
        return ""
    sep = i18n.t("common.list_sep")
    parts = []
    for play, g in gone.groupby("play"):
        named = [i18n.name("metric", k) for k in g["key"] if i18n.known("metric", k)]
        other = len(g) - len(named)
        items = named + ([i18n.t("brief.other_metrics", n=other)] if other else [])
        parts.append(i18n.t("brief.unmeasured_play", play=play_name(play), items=sep.join(items)))
    return i18n.t("brief.unmeasured", items=i18n.t("brief.item_sep").join(parts))


ACTIONS_HEADING = re.compile(r"^#+ .*(行动|Actions)", re.MULTILINE)
NUMBERED = re.compile(r"^\s*\d+\.\s+(.*)$")


def play_actions(output_dir: str | Path | None, plays: list[str], per_play: int) -> pd.DataFrame:
    """The top ``per_play`` lines of each play's Actions section, from its executed notebook.

    Reads ``<output_dir>/notebooks/<play>.ipynb``: the markdown outputs of the code cells after
    the first markdown heading naming 行动 / Actions, numbered items only. A play without such a
    section (or not run) gives no rows. Columns: play, rank, action (markdown).
    """
    import nbformat

    rows = []
    for play in plays:
        path = Path(output_dir or "") / "notebooks" / f"{play}.ipynb"
        if not output_dir or not path.is_file():
            continue
        cells = nbformat.read(path, as_version=4).cells
        start = next(
            (
                i
                for i, c in enumerate(cells)
                if c.cell_type == "markdown" and ACTIONS_HEADING.search(c.source)
            ),
            None,
        )
        if start is None:
            continue
        items = []
        for c in cells[start + 1 :]:
            if c.cell_type == "markdown":
                break
            for o in c.get("outputs", []):
                text = o.get("data", {}).get("text/markdown", "")
                items += [m.group(1).strip() for ln in text.splitlines() if (m := NUMBERED.match(ln))]
        rows += [{"play": play, "rank": k + 1, "action": a} for k, a in enumerate(items[:per_play])]
    return pd.DataFrame(rows, columns=["play", "rank", "action"])


# --------------------------------------------------------------------------- data quality


def data_quality(con) -> pd.DataFrame:
    """Rows loaded / rejected, presence and time range per contract table."""
    return query("brief/data_quality", con)


def quality_table(q: pd.DataFrame) -> pd.DataFrame:
    """The data-quality frame for reading: the supplied tables with rows, rejected, time range.

    Absent optional tables are named in the sentence under the table (quality_text), not listed.
    """
    q = q[q["present"]]
    rng = [
        charts.MISSING if pd.isna(a) else f"{a:%Y-%m-%d} – {z:%Y-%m-%d}"
        for a, z in zip(q["first_at"], q["last_at"], strict=True)
    ]
    return pd.DataFrame(
        {
            i18n.t("brief.quality_col_table"): [i18n.name("table", n) for n in q["table_name"]],
            i18n.t("brief.quality_col_rows"): q["n_rows"],
            i18n.t("brief.quality_col_rejected"): q["rejected_rows"],
            i18n.t("brief.quality_col_time"): q["time_column"].fillna(charts.MISSING),
            i18n.t("brief.quality_col_range"): rng,
        }
    )


def definitions(bp: BriefParams, rc: RecallParams, currency: str = "") -> pd.DataFrame:
    """Every number of the brief with its definition in business language (the appendix).

    The technical definitions (SQL files, parameters) stay in metrics.json and the analyst's notebook.
    """
    kw = churn_rule_fields(rc) | {"days": bp.repeat_days, "sd": f"{bp.flag_sd:g}"}
    kw |= {"n": bp.trailing_months, "currency": currency or charts.currency_code()}
    rows = [
        (i18n.t("brief.def_groups_term"), i18n.t("brief.def_groups", **kw)),
        (factor_name("traffic"), i18n.t("brief.def_traffic")),
        (factor_name("conversion"), i18n.t("brief.def_conversion")),
        (factor_name("orders_per_buyer"), i18n.t("brief.def_orders_per_buyer")),
        (factor_name("aov"), i18n.t("brief.def_aov")),
        *[
            (i18n.name("kpi", k), i18n.t(f"brief.def_{k}", **kw))
            for k, _, _ in KPIS
            if k not in ("traffic", "conversion", "aov")
        ],
        (i18n.t("brief.def_decomposition_term"), i18n.t("brief.def_decomposition")),
        (i18n.t("brief.def_normal_term"), i18n.t("brief.def_normal", **kw)),
        (i18n.t("brief.def_path_term"), i18n.t("brief.def_path", **kw)),
    ]
    return pd.DataFrame(rows, columns=[i18n.t("brief.def_col_number"), i18n.t("brief.def_col_definition")])


def terms_table_html(df: pd.DataFrame, keep_together: bool = False):
    """A two-column table of terms and their explanations (the appendix's definitions, the glossary): the
    term column is never narrowed to broken words ("attribu tion"), the explanations wrap beside it.
    ``keep_together``: the PDF never splits the table (a short one), so its heading moves with it."""
    styles = _tight() + _whole_words_first("24mm")
    return charts.table_html(df, max_rows=None, keep_together=keep_together).set_table_styles(
        styles, overwrite=False
    )


def glossary_html():
    """The glossary table as the brief prints it: kept whole (it fits a page), so the heading above it
    never stays behind alone at the foot of a page with only the table's header row under it."""
    return terms_table_html(glossary_table(), keep_together=True)


def _whole_words_first(min_width: str | None = None) -> list[dict]:
    """Table styles: the first column's words never break inside (the PDF template lets text cells break
    anywhere so that wide tables fit; a column of names or terms then narrows to broken words)."""
    props = [("overflow-wrap", "normal"), ("word-break", "normal")]
    props += [("min-width", min_width)] if min_width else []
    return [{"selector": f"{cell}:first-child", "props": props} for cell in ("td", "th")]


def glossary_table() -> pd.DataFrame:
    """The glossary page at the end of the brief: the terms leadership meets in every report."""
    return pd.DataFrame(
        i18n.glossary(), columns=[i18n.t("brief.gloss_col_term"), i18n.t("brief.gloss_col_text")]
    )


# --------------------------------------------------------------------------- everything at once


@dataclass
class Brief:
    """Everything the brief shows, computed once."""

    period: Period
    events: bool
    matrix: pd.DataFrame  # all months of the KPI window
    totals: pd.DataFrame
    decomposition: pd.DataFrame
    funnel: pd.DataFrame
    funnel_prev: pd.DataFrame
    tiles: pd.DataFrame
    previous_source: bool
    run: dict = field(default_factory=dict)
    play_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    targets: pd.DataFrame = field(default_factory=pd.DataFrame)
    play_actions: pd.DataFrame = field(default_factory=pd.DataFrame)
    quality: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def plays(self) -> list[str]:
        return sorted(set(self.play_metrics["play"])) if len(self.play_metrics) else []

    @property
    def reconciled(self) -> float:
        """Largest |sum over groups of the factor product - the month's GMV from orders| (yuan)."""
        m = self.matrix.assign(product=product_of_factors(self.matrix))
        per = m.groupby("month")["product"].sum()
        ref = self.totals.set_index("month")["gmv"].reindex(per.index)
        return float((per - ref).abs().max())


def compute(
    con,
    p: Period,
    bp: BriefParams,
    events: bool,
    output_dir: str | Path | None = None,
    *,
    offline_channels: list[str],
    rc: RecallParams,
) -> Brief:
    """Every number of the brief for report month ``p``.

    ``offline_channels``: the order channels placed in a store (params data.offline_order_channels);
    ``rc``: play 04's params, whose lifecycle rule groups the users (dormant = churned).
    """
    first = p.shift(-(bp.trailing_months + 1))
    m = matrix(con, first, p, rc, events, bp)
    prev = previous_brief_metrics(output_dir, p.prev.month)
    doc = run_metrics(output_dir)
    pm = play_metrics(doc)
    funnel_now, funnel_prev = funnels(con, [p, p.prev], bp, offline_channels)
    return Brief(
        period=p,
        events=events,
        matrix=m,
        totals=month_totals(con, first, p),
        decomposition=decompose(m, p),
        funnel=funnel_now,
        funnel_prev=funnel_prev,
        tiles=kpi_tiles(kpi_series(m), p, bp, prev),
        previous_source=prev is not None,
        run=doc,
        play_metrics=pm,
        targets=target_lists(output_dir),
        play_actions=play_actions(output_dir, sorted(set(pm["play"])), bp.actions_per_play),
        quality=data_quality(con),
    )


# --------------------------------------------------------------------------- charts


def _name(kind: str, value: str, in_text: bool) -> str:
    """A display name for a label or title, or as it reads inside a sentence (``in_text``)."""
    return i18n.name_in_text(kind, value) if in_text else i18n.name(kind, value)


def group_name(group: str, in_text: bool = False) -> str:
    """'老客' / 'Returning' (i18n kind "user_group"); 'returning' inside an English sentence."""
    return _name("user_group", group, in_text)


def factor_name(factor: str, in_text: bool = False) -> str:
    """'客单价' / 'AOV' (i18n kind "factor")."""
    return _name("factor", factor, in_text)


def step_name(step: str, in_text: bool = False) -> str:
    """'看店' / 'Visit' (i18n kind "step"); 'visit' inside an English sentence."""
    return _name("step", step, in_text)


def label(group: str, factor: str, in_text: bool = False) -> str:
    """'老客 · 客单价' / 'Returning · AOV' ('returning · AOV' inside an English sentence)."""
    return f"{group_name(group, in_text)} · {factor_name(factor, in_text)}"


def waterfall_chart(decomp: pd.DataFrame, p: Period, ax=None):
    """Horizontal waterfall: last month's GMV, the group x factor contributions, this month's GMV.

    Buyers without a logged visit get no bars when none were ever counted (no visit data).

    The value axis does not start at 0 (contributions are small next to GMV); the totals are
    drawn from the axis edge and labelled with their value. The largest contribution is dark.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5.2))
    g0, g1 = decomp.attrs["gmv_prev"], decomp.attrs["gmv"]
    unobs = decomp.factor == "unobserved_buyers"
    if not (decomp.loc[unobs, ["value_prev", "value"]].to_numpy() != 0).any():
        decomp = decomp[~unobs]
    decomp = decomp.reset_index(drop=True)
    c = decomp["contribution"].to_numpy(float)
    starts = g0 + np.concatenate([[0.0], np.cumsum(c)[:-1]])
    ends = starts + c
    lo = min(g0, g1, starts.min(), ends.min())
    hi = max(g0, g1, starts.max(), ends.max())
    pad = (hi - lo) * 0.18 or abs(g1) * 0.05 or 1.0
    left = lo - pad
    labels = [
        i18n.t("brief.waterfall_total", month=i18n.month_short(p.prev)),
        *[label(r.user_group, r.factor) for r in decomp.itertuples()],
        i18n.t("brief.waterfall_total", month=i18n.month_short(p)),
    ]
    y = np.arange(len(labels))
    ax.barh(y[0], g0 - left, left=left, color=charts.MUTED)
    ax.barh(y[-1], g1 - left, left=left, color=charts.MUTED)
    top = int(decomp["rank"].idxmin())
    for i, (s, e, r) in enumerate(zip(starts, ends, decomp.itertuples(), strict=True)):
        pos = r.contribution >= 0
        color = ("#2F7A55" if pos else "#A34452") if i == top else ("#8CC3A4" if pos else "#E3A3AB")
        ax.barh(y[i + 1], e - s, left=s, color=color)
        ax.annotate(
            ("+" if pos else "-") + charts.fmt_yuan(abs(r.contribution), 0),
            xy=(max(s, e), y[i + 1]),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8.5,
            fontweight="bold" if i == top else "normal",
        )
    for yy, v in ((y[0], g0), (y[-1], g1)):
        ax.annotate(
            charts.fmt_yuan(v, 0),
            xy=(v, yy),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            fontweight="bold",
        )
    ax.set_yticks(y, labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(left, hi + pad * 1.1)
    charts.yuan_axis(ax, "x")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # long English labels leave the axis narrow
    ax.grid(axis="y", visible=False)
    return ax


def _step_tick(r, p: Period) -> str:
    """A step's axis label; the buy-again step says which month's buyers it measures."""
    name = step_name(r.step)
    if r.step != "buy_again" or r.measured_month == p.month:
        return name
    if not r.measured_month:
        return f"{name}\n{i18n.t('brief.window_open')}"
    return f"{name}\n{i18n.t('brief.buyers_of', month=i18n.month_short(Period(r.measured_month)))}"


def funnel_chart(f: pd.DataFrame, bp_row: pd.Series | None, p: Period, axes=None):
    """Left: the online key path (users per step, conversion from the step before; the break
    point in rose). Right: step conversion per segment (offline steps not tracked are hatched)."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.25]})
    ax, hx = axes
    on = f[f.segment == "online"].sort_values("step_order")
    if len(on):
        colors = [("#C2707A" if bp_row is not None and s == bp_row.step else charts.ACCENT) for s in on.step]
        ax.barh(on.step_order, on.users.fillna(0), color=colors)
        for r in on.itertuples():
            text = charts.fmt_int(r.users) + (
                "" if pd.isna(r.conversion) else f"  ({charts.fmt_pct(r.conversion)})"
            )
            ax.annotate(
                text,
                xy=(0 if pd.isna(r.users) else r.users, r.step_order),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8.5,
            )
        ax.set_yticks(on.step_order, [_step_tick(r, p) for r in on.itertuples()], fontsize=9)
        ax.invert_yaxis()
        ax.margins(x=0.35)
        charts.int_axis(ax, "x")
        ax.set_xlabel(i18n.t("brief.funnel_xlabel"), fontsize=9)
        ax.grid(axis="y", visible=False)
    trans = f[f.step_order > 1].copy()
    trans["transition"] = [f"{step_name(STEPS[i - 2])}→{step_name(STEPS[i - 1])}" for i in trans.step_order]
    order = [s for s in ["online", "offline"] if s in set(trans.segment)] + sorted(
        set(trans[trans.segment_kind == "channel"].segment)
    )
    grid = trans.pivot(index="segment", columns="step_order", values="conversion").reindex(order)
    grid.index = [i18n.name("order_channel", s) for s in grid.index]
    names = trans.drop_duplicates("step_order").set_index("step_order")["transition"]
    grid.columns = [names[c] for c in grid.columns]
    charts.heatmap_masked(grid, grid.isna(), ax=hx, fmt="pct", cmap="Blues", vmin=0.3, vmax=1.0)
    hx.set_xlabel("")
    hx.set_ylabel("")
    hx.tick_params(axis="x", labelsize=9)
    hx.set_title(i18n.t("brief.funnel_heatmap_title"), fontsize=10, fontweight="normal")
    return axes


def brief_actions(b: Brief) -> list[str]:
    """The brief's own actions (markdown): fix the break point, look into the biggest GMV loss."""
    out = []
    bpt = break_point(b.funnel, "online") if b.events else None  # the key path needs the events table
    if bpt is not None:
        out.append(
            i18n.t(
                "brief.action_fix",
                from_step=step_name(bpt.from_step, in_text=True),
                step=step_name(bpt.step, in_text=True),
                conversion=charts.fmt_pct(bpt.conversion),
                lost=charts.fmt_int(bpt.lost),
            )
        )
    loss = b.decomposition[b.decomposition.contribution < 0].sort_values("contribution")
    if len(loss) and not comparison_reason(b.decomposition, b.period):
        r = loss.iloc[0]
        out.append(
            i18n.t(
                "brief.action_find",
                label=label(r.user_group, r.factor, in_text=True),
                change=_change_text(r.value_prev, r.value, r.factor),
                contribution=signed_money(r.contribution),
            )
        )
    return out


def reject_reasons(con) -> pd.DataFrame:
    """Rows set aside by `userops load --quarantine`: table, reason, rows (empty without any)."""
    try:
        return con.execute(
            "select table_name, reason, sum(n_rows) as n_rows from _load_rejects group by all order by all"
        ).df()
    except Exception:  # a warehouse without a rejects table: nothing was set aside
        return pd.DataFrame(columns=["table_name", "reason", "n_rows"])


def quality_text(q: pd.DataFrame, rejects: pd.DataFrame) -> str:
    """The data-quality sentence under the table: time range, absent tables, rows set aside."""
    sep = i18n.t("common.list_sep")
    absent = [i18n.name("table", t) for t in q[~q.present].table_name]
    orders_row = q[q.table_name == "orders"].iloc[0]
    loaded = sep.join(
        f"{i18n.name('table', r.table_name)} {nv.num(r.n_rows)}" for r in q[q.present].itertuples()
    )
    text = i18n.t(
        "brief.quality",
        first=f"{orders_row.first_at:%Y-%m-%d}",
        last=f"{orders_row.last_at:%Y-%m-%d}",
        loaded=loaded,
        absent=sep.join(absent) if absent else i18n.t("common.none"),
    )
    if rejects.empty:
        return text + i18n.t("brief.quality_clean")
    parts = i18n.t("brief.item_sep").join(
        i18n.t(
            "brief.quality_reject_part",
            rows=nv.num(r.n_rows),
            table=html.escape(i18n.name("table", r.table_name)),
            reason=html.escape(str(r.reason)),
        )
        for r in rejects.itertuples()
    )
    return text + i18n.t("brief.quality_rejects", parts=parts)


def global_effect_text(g) -> str:
    """The cumulative CRM effect against the global holdout, as one paragraph (or what it needs)."""
    if g.reason:
        return i18n.t("brief.global_reason", reason=g.reason)
    m, o, inc = g.margin_per_user, g.orders_per_user, g.incremental_margin
    if m.ci_low > 0:
        verdict = i18n.t("brief.global_gain")
    elif m.ci_high < 0:
        verdict = i18n.t("brief.global_loss")
    else:
        verdict = i18n.t("brief.global_none")
    assumed = (
        i18n.t("brief.global_assumed", orders=nv.num(g.assumed_margin_orders))
        if g.assumed_margin_orders
        else ""
    )
    return i18n.t(
        "brief.global_text",
        touchable=nv.num(g.users_touchable),
        orders_touch=f"{o.touchable:.2f}",
        orders_hold=f"{o.holdout:.2f}",
        holdout=nv.num(g.users_holdout),
        orders_diff=f"{o.diff:+.2f}",
        orders_ci=nv.ci(o.ci_low, o.ci_high, lambda x: f"{x:+.2f}"),
        margin_touch=nv.yuan(m.touchable, 2),
        margin_hold=nv.yuan(m.holdout, 2),
        margin_diff=nv.yuan(m.diff, 2),
        margin_ci=nv.ci(m.ci_low, m.ci_high, lambda x: nv.yuan(x, 2)),
        incremental=nv.yuan(inc[0]),
        incremental_ci=nv.ci(inc[1], inc[2], nv.yuan),
        verdict=verdict,
        assumed=assumed,
    )


# --------------------------------------------------------------------------- the brief's text


#: the brief's sections in print order, with the catalog key of each one's introduction (None: none)
SECTIONS = {
    "findings": None,
    "kpi": "kpi_intro",
    "matrix": "matrix_intro",
    "gmv": "gmv_intro",
    "path": "path_intro",
    "actions": "actions_intro",
    "crm": "crm_intro",
    "appendix": None,
    "glossary": None,
}


def section(key: str, **fields) -> str:
    """A section's heading and its introduction (markdown) in the report language."""
    text = i18n.t(f"brief.h_{key}")
    return text + (f"\n\n{i18n.t(f'brief.{SECTIONS[key]}', **fields)}" if SECTIONS[key] else "")


def section_headings() -> list[str]:
    """The brief's section headings as the PDF prints them, in the report language ("1 · KPI 看板",
    "Glossary" ...). The layout rule's "last page of a section" (export.sparse_pages): a page whose
    next page opens with one of these (or the document's last page)."""
    return [i18n.t(f"brief.h_{k}").lstrip("#").strip() for k in SECTIONS]


def layout_problems(pdf: Path) -> list[str]:
    """What breaks issue 15's page rule in a brief PDF, in the report language: a section heading the PDF
    does not print (the rule relies on them), and a page more than a third empty that is no section's last
    page (export.sparse_pages with :func:`section_headings`). [] when the layout holds."""
    from userops import export

    heads = section_headings()
    text = " ".join(export.pdf_text(pdf).split())
    problems = [f"heading not printed: {h}" for h in heads if " ".join(h.split()) not in text]
    sparse = export.sparse_pages(pdf, sections=heads)
    if sparse:
        fills = [round(f, 2) for f in export.page_fill(pdf)]
        problems.append(f"sparse pages {sparse} (page fill {fills})")
    return problems


def churn_rule_fields(rc: RecallParams) -> dict:
    """The numbers of play 04's churned rule that the brief's texts name (the dormant group)."""
    return {"churned_days": rc.churned_days, "k": f"{rc.k_churned:g}"}


def opening(chain: str, p: Period) -> str:
    """Title, what the brief answers, and the line naming the chain, the month and the comparison."""
    header = i18n.t("brief.header", chain=chain, month=i18n.month(p), as_of=p.as_of, prev=i18n.month(p.prev))
    return f"# {i18n.t('brief.title')}\n\n{i18n.t('brief.intro')}\n\n{header}"


def findings(b: Brief, bpt: pd.Series | None) -> str:
    """The key findings (markdown list): GMV and its biggest mover, the break point, unusual KPIs, plays."""
    lines = [gmv_finding(b.decomposition, b.period)]
    if bpt is not None:
        lines.append(
            i18n.t(
                "brief.break_line",
                from_step=step_name(bpt.from_step),
                step=step_name(bpt.step),
                conversion=nv.pct(bpt.conversion),
            )
        )
    if not comparison_reason(b.decomposition, b.period):
        unusual = b.tiles[b.tiles.flagged]
        items = i18n.t("common.list_sep").join(
            i18n.t("brief.unusual_item", label=t.label, change=fmt_change(t.change, t.kind))
            for t in unusual.itertuples()
        )
        lines.append(i18n.t("brief.unusual_line", items=items or i18n.t("common.none")))
    plays = i18n.t("common.list_sep").join(play_name(x) for x in b.plays) or i18n.t("common.none")
    lines.append(i18n.t("brief.plays_line", plays=plays))
    return "\n".join(f"- {x}" for x in lines)


def matrix_check_text(b: Brief) -> str:
    """The reconciliation line under the matrix: Σ factors = the month's GMV from the orders."""
    cur = b.matrix[b.matrix.month == b.period.month]
    month_gmv = b.totals.set_index("month").loc[b.period.month, "gmv"]
    return (
        i18n.t(
            "brief.check",
            product=nv.yuan(product_of_factors(cur).sum(), 2),
            gmv=nv.yuan(month_gmv, 2),
            n=len(b.totals),
            diff=nv.yuan(b.reconciled, 2),
            source=i18n.t("brief.traffic_events" if b.events else "brief.traffic_base"),
        )
        + " "
        + traffic_basis_text(b.matrix, b.period)
    )


def traffic_basis_text(m: pd.DataFrame, p: Period) -> str:
    """What traffic counts in month ``p`` and how many buyers (and what share of GMV) bought without a
    logged visit (counted apart, never as converted traffic)."""
    t = traffic_basis(m, p)
    month = i18n.month(p)
    if not t["events"]:
        return i18n.t("brief.basis_none", month=month)
    store = (
        i18n.t("brief.basis_store", n=nv.num(t["footfall_visitors"]))
        if t["footfall_visitors"]
        else i18n.t("brief.basis_no_store")
    )
    apart = (
        i18n.t("brief.basis_apart", n=nv.num(t["unobserved_buyers"]), share=nv.pct(t["unobserved_gmv_share"]))
        if t["unobserved_buyers"]
        else i18n.t("brief.basis_all_logged")
    )
    return i18n.t(
        "brief.basis_events",
        month=month,
        traffic=nv.num(t["traffic"]),
        sessions=nv.num(t["session_visitors"]),
        store=store,
        apart=apart,
    )


def waterfall_titles(b: Brief) -> tuple[str, str]:
    """Title and subtitle of the GMV waterfall."""
    d, p = b.decomposition, b.period
    top = largest(d)
    title = i18n.t(
        "brief.waterfall_title",
        verb=i18n.t("brief.gmv_rose" if d.attrs["change"] >= 0 else "brief.gmv_fell"),
        amount=nv.yuan(abs(d.attrs["change"])),
        prev=i18n.month_short(p.prev),
        top=label(top.user_group, top.factor),
        contribution=signed_money(top.contribution),
    )
    sub = i18n.t("brief.waterfall_subtitle", prev=i18n.month_short(p.prev), month=i18n.month_short(p))
    return title, sub


def gmv_text(b: Brief) -> str:
    """GMV from → to, the two largest gains and losses."""
    d = b.decomposition
    pos = d[d.contribution > 0].sort_values("contribution", ascending=False)
    neg = d[d.contribution < 0].sort_values("contribution")
    sep = i18n.t("brief.item_sep")
    text = i18n.t("brief.gmv_from_to", prev=nv.yuan(d.attrs["gmv_prev"]), month=nv.yuan(d.attrs["gmv"]))
    if len(pos):
        text += i18n.t("brief.gains", items=sep.join(contribution_text(r) for r in pos.head(2).itertuples()))
    if len(neg):
        text += i18n.t("brief.losses", items=sep.join(contribution_text(r) for r in neg.head(2).itertuples()))
    return text.strip()


def funnel_titles(b: Brief, bpt: pd.Series) -> tuple[str, str]:
    """Title and subtitle of the key-path chart."""
    title = i18n.t(
        "brief.funnel_title",
        from_step=step_name(bpt.from_step),
        step=step_name(bpt.step),
        conversion=nv.pct(bpt.conversion),
    )
    return title, i18n.t("brief.funnel_subtitle", month=i18n.month(b.period))


def action_lines(b: Brief) -> str:
    """The numbered actions: the brief's own, then each play's top actions (quoted from its report)."""
    lines = [f"**[{i18n.t('brief.brief_tag')}]** {a}" for a in brief_actions(b)]
    lines += [f"**[{play_name(r.play)}]** {r.action}" for r in b.play_actions.itertuples()]
    return "\n".join(f"{i}. {x}" for i, x in enumerate(lines, 1))


def targets_table(b: Brief) -> pd.DataFrame:
    """The contact lists of the run with their business names: users to touch and holdout users."""
    return pd.DataFrame(
        {
            i18n.t("brief.targets_list"): [i18n.name("target", t) for t in b.targets["target"]],
            i18n.t("brief.targets_touch"): b.targets["to_touch"].astype(int),
            i18n.t("brief.targets_holdout"): b.targets["holdout"].astype(int),
        }
    )


def effects_table_html(eff: pd.DataFrame):
    """:func:`effects_table` as the brief prints it: whole (never split from its caption), in the brief's
    tight table type (:func:`_tight`)."""
    caption = i18n.t("brief.effects_caption")
    html = charts.table_html(effects_table(eff), max_rows=None, caption=caption, keep_together=True)
    return html.set_table_styles(_tight(), overwrite=False)


def effects_table(eff: pd.DataFrame) -> pd.DataFrame:
    """The effects the plays measured: analysis, measure (business name), value with its interval."""
    return pd.DataFrame(
        {
            i18n.t("brief.effects_play"): [play_name(x) for x in eff["play"]],
            i18n.t("brief.effects_measure"): eff["measure"],
            i18n.t("brief.effects_value"): eff["text"],
        }
    )


def record(rep, b: Brief, bp: BriefParams) -> None:
    """The brief's numbers into metrics.json (technical definitions: the analyst's and the next brief's)."""
    units = {"yuan": "yuan", "yuan0": "yuan", "int": "count", "pct": "share"}
    for t in b.tiles.itertuples():
        rep.add(f"kpi.{t.key}", t.value, units[t.fmt], KPI_DEFINITIONS[t.key])
    cur = b.matrix[b.matrix.month == b.period.month]
    for r in cur.itertuples():
        units = ["users", "share", "users", "orders per buyer", "yuan per order"]
        for f, unit in zip(FACTORS, units, strict=True):
            rep.add(
                f"matrix.{r.user_group}.{f}",
                getattr(r, f),
                unit,
                f"{f} of the {r.user_group} group (operating matrix, sql/brief/operating_matrix.sql)",
            )
    d = b.decomposition
    if not comparison_reason(d, b.period):
        rep.add(
            "gmv_change", d.attrs["change"], "yuan", f"GMV of the month minus GMV of {b.period.prev.month}"
        )
        for r in d.itertuples():
            rep.add(
                f"gmv_contribution.{r.user_group}.{r.factor}",
                r.contribution,
                "yuan",
                "Shapley share of the month-over-month GMV change due to this group's factor",
            )
    if b.events:
        on = b.funnel[b.funnel.segment == "online"]
        for r in on.dropna(subset=["conversion"]).itertuples():
            rep.add(f"funnel.online.{r.step}", r.conversion, "share", funnel_metric_definition(r, bp))


def record_global(rep, g) -> None:
    """The cumulative CRM effect against the global holdout into metrics.json."""
    if g.margin_per_user is None:
        return
    rep.add(
        "global_holdout.users",
        g.users_holdout,
        "users",
        "users of the addressable base in the global holdout",
    )
    rep.add(
        "global_holdout.margin_per_user_diff",
        g.margin_per_user.diff,
        "currency per user",
        "gross margin per user this month: touchable minus global holdout (all CRM touches)",
        ci=(g.margin_per_user.ci_low, g.margin_per_user.ci_high),
    )
    rep.add(
        "global_holdout.incremental_margin",
        g.incremental_margin[0],
        "currency",
        "incremental gross margin of all CRM touches = margin-per-user difference x touchable users",
        ci=g.incremental_margin[1:],
    )


def trigger_effects(ctx, rep) -> str:
    """The daily trigger lists' effects measured this month (``userops triggers``), recorded in
    metrics.json, and the sentence the brief shows ('' when the warehouse holds no trigger campaign)."""
    from userops import triggers as trg

    p = ctx.period
    tm = trg.measure_triggers(ctx.con, ctx.params, as_of=p.as_of, window_from=p.start)
    if not len(tm):
        return ""
    for r in tm[tm["diff"].notna()].itertuples():
        rep.add(
            f"triggers.{r.list}.diff",
            r.diff,
            "share",
            "trigger list: order rate within the measurement window, touched minus held out",
            ci=(r.ci_low, r.ci_high),
        )
        rep.add(
            f"triggers.{r.list}.incremental_margin",
            r.incremental_margin,
            "currency",
            "trigger list: incremental gross margin against its own holdout",
            ci=(r.incremental_margin_low, r.incremental_margin_high),
        )
    return trg.effects_text(tm, ctx.params)
