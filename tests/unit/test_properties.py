"""Property-based tests: the invariants stated in the SQL headers hold on generated order histories.

Each example is a small chain (up to 8 users, up to 25 orders in January to April 2026) built in an
in-memory DuckDB through the loader's own derived tables (sql/warehouse/10, 20). Six examples per
test, the same ones every run (derandomize): the module takes a few seconds.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from userops import brief, recall
from userops.contract import LOAD_ORDER, TABLES
from userops.db import query
from userops.params import Params
from userops.period import Period
from userops.sql_files import read_sql

START = dt.datetime(2026, 1, 1)
DAYS = 120  # 2026-01-01 .. 2026-04-30
CHANNELS = ("app", "store")
DERIVED = (
    "warehouse/10_fct_orders",
    "warehouse/20_dim_users",
    "warehouse/40_fct_order_lines",  # fct_user_months reads fct_order_margin, which reads the lines
    "warehouse/60_fct_order_margin",
    "warehouse/75_fct_user_months",  # play 04's stages
)
FAST = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def histories(draw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(users, orders): users registered in the window, each order by a registered user after sign-up."""
    n_users = draw(st.integers(1, 8))
    users = pd.DataFrame(
        {
            "user_id": range(1, n_users + 1),
            "registered_at": [
                START + dt.timedelta(days=draw(st.integers(0, DAYS - 1))) for _ in range(n_users)
            ],
            "channel": [draw(st.sampled_from(CHANNELS)) for _ in range(n_users)],
        }
    )
    rows = []
    for order_id in range(1, draw(st.integers(0, 25)) + 1):
        user = draw(st.integers(1, n_users))
        registered = users.registered_at[user - 1]
        left = (START + dt.timedelta(days=DAYS) - registered).days
        at = registered + dt.timedelta(days=draw(st.integers(0, left - 1)), hours=draw(st.integers(0, 23)))
        gmv = draw(st.integers(1, 500)) + draw(st.sampled_from((0, 0.5, 0.99)))
        rows.append((order_id, user, at, draw(st.sampled_from(CHANNELS)), gmv))
    orders = pd.DataFrame(rows, columns=["order_id", "user_id", "ordered_at", "order_channel", "gmv"])
    return users, orders


def _warehouse(users: pd.DataFrame, orders: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse: every contract table (empty unless given) and the derived tables."""
    con = duckdb.connect()
    for name in LOAD_ORDER:
        cols = ", ".join(f'"{c.name}" {c.type}' for c in TABLES[name].columns)
        con.execute(f"create table {name} ({cols})")
    con.register("u", users)
    con.execute("insert into users (user_id, registered_at, channel) select * from u")
    con.register("o", orders)
    con.execute(
        "insert into orders (order_id, user_id, ordered_at, order_channel, gmv, discount) "
        "select order_id, user_id, ordered_at, order_channel, gmv, 0 from o"
    )
    for name in DERIVED:  # the loader's own definitions (the others are not read by these queries)
        con.execute(read_sql(name))
    return con


@FAST
@given(histories(), st.sampled_from(("day", "week", "month")), st.integers(1, 30))
def test_retention_counts_nest_and_cumulative_is_monotone_in_k(history, grain, max_day):
    """dk_retention header: retained <= cum_retained <= eligible <= cohort_users (so every rate is
    at most 1); cum_retained_users is non-decreasing in k per cohort and channel over the mature
    cells (hypothesis found that an immature cell, counting only the users observed k days, can
    drop: a user first ordering 2026-04-28 is retained at k = 1, 2 and not eligible at k = 3)."""
    con = _warehouse(*history)
    df = query(
        "retention/dk_retention",
        con,
        grain=grain,
        from_date=dt.date(2026, 1, 1),
        to_date=dt.date(2026, 5, 1),
        max_day=max_day,
        as_of=dt.date(2026, 4, 30),
        return_event="order",
    )
    assert (df.retained_users <= df.cum_retained_users).all()
    assert (df.cum_retained_users <= df.eligible_users).all()
    assert (df.eligible_users <= df.cohort_users).all()
    mature = df[df.eligible_users == df.cohort_users].sort_values("day_k")
    steps = mature.groupby(["cohort_start", "channel"]).cum_retained_users.diff().dropna()
    assert (steps >= 0).all()
    # every new user is in exactly one cohort x channel
    new_users = con.execute("select count(*) from dim_users where first_order_date is not null").fetchone()[0]
    assert df[df.day_k == 1].cohort_users.sum() == new_users


@FAST
@given(histories(), st.integers(1, 60))
def test_repurchase_within_nests_and_is_monotone_in_the_window(history, days):
    """repurchase_within header: repurchased <= eligible <= buyers; a longer window repurchases no
    fewer of the same eligible buyers (cumulative in the window length)."""
    con = _warehouse(*history)
    kw = dict(
        from_date=dt.date(2026, 1, 1),
        to_date=dt.date(2026, 5, 1),
        as_of=dt.date(2026, 4, 30),
        offline_channels=["store"],
    )
    short = query("activity/repurchase_within", con, days=days, **kw)
    longer = query("activity/repurchase_within", con, days=days + 7, **kw)
    assert (short.repurchased <= short.eligible).all() and (short.eligible <= short.buyers).all()
    assert ((short.repurchase_rate.dropna() >= 0) & (short.repurchase_rate.dropna() <= 1)).all()
    both = short.merge(longer, on=["month", "dimension", "segment"], suffixes=("", "_long"))
    # the same buyers; a longer window needs a longer observation, so compare buyers eligible for both
    full = both[both.eligible_long == both.eligible]
    assert (full.repurchased_long >= full.repurchased).all()


@FAST
@given(histories())
def test_stage_transitions_sum_to_the_previous_month_stage_sizes(history):
    """stage_transitions header: 36 rows per month; the moves out of each stage sum to the stage's
    size at the previous month end; the moves into each stage sum to its size at this month end;
    moves into 'new' only come from 'prospect'."""
    con = _warehouse(*history)
    rc = Params().recall
    p = Period("2026-04")
    recall.build_stages(con, p, rc, months=4)
    months = dict(from_month=dt.date(2026, 1, 1), to_month=dt.date(2026, 4, 1))
    sizes = query("recall/stage_sizes", con, **months)
    moves = query("recall/stage_transitions", con, **months)
    assert (moves.groupby("month_start").size() == 36).all()
    size = sizes.set_index(["month_start", "stage"]).n_users
    into = moves.groupby(["month_start", "stage"]).n_users.sum()
    assert (into == size.reindex(into.index)).all()
    out_of = moves.groupby(["month_start", "stage_prev"]).n_users.sum()
    for (month, stage), n in out_of.items():
        prev = (pd.Timestamp(month) - pd.DateOffset(months=1)).date()
        if (prev, stage) in size.index:
            assert n == size[(prev, stage)], (month, stage)
    assert moves[(moves.stage == "new") & (moves.stage_prev != "prospect")].n_users.sum() == 0


@FAST
@given(histories(), st.sampled_from(("2026-02", "2026-03", "2026-04")))
def test_gmv_decomposition_sums_to_the_change(history, month):
    """operating_matrix / decompose: the three groups' GMV is the month's GMV (month_totals), each
    group's factors multiply to its GMV, and the contributions sum to the month-over-month change."""
    con = _warehouse(*history)
    p = Period(month)
    m = brief.matrix(con, p.prev, p, Params().recall, events=False)
    totals = brief.month_totals(con, p.prev, p).set_index("month").gmv
    assert m.groupby("month").gmv.sum().to_numpy() == pytest.approx(totals.to_numpy(), abs=1e-6)
    assert np.allclose(brief.product_of_factors(m), m.gmv, atol=1e-6)
    d = brief.decompose(m, p)
    assert d.contribution.sum() == pytest.approx(totals[month] - totals[p.prev.month], abs=1e-6)
    assert d.attrs["change"] == pytest.approx(totals[month] - totals[p.prev.month], abs=1e-6)
