"""Play 2: new-user 7-day retention. SQL in sql/retention/, statistics added here.

Each function takes an open warehouse connection, the report Period and the
retention params, and returns a small DataFrame (or a dataclass) ready to
plot or print.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from userops.campaigns import ReminderEffect, coupon_reminder_effect
from userops.contract import NEW_USER_COUPON_KINDS
from userops.db import query
from userops.experiment import assign_arms
from userops.params import RetentionParams
from userops.period import Period
from userops.stats import km_curve, proportion_ci

COUNT_COLS = ["cohort_users", "eligible_users", "retained_users", "cum_retained_users"]


def cohort_counts(
    con, start: dt.date, end: dt.date, grain: str, p: Period, rp: RetentionParams
) -> pd.DataFrame:
    """Counts per cohort x channel x day k (sql/retention/dk_retention.sql), as of p.as_of."""
    return query(
        "retention/dk_retention",
        con,
        grain=grain,
        from_date=start,
        to_date=end,
        max_day=rp.max_day,
        as_of=p.as_of,
    )


def add_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Rates from summed counts; `is_mature` = every cohort user observed for k days.

    retention = retained / eligible, cum_retention = cum_retained / eligible (NaN when no
    eligible users); immature cells keep their partial rate but must be masked in cohort grids.
    """
    out = df.copy()
    elig = out["eligible_users"].where(out["eligible_users"] > 0)
    out["retention"] = out["retained_users"] / elig
    out["cum_retention"] = out["cum_retained_users"] / elig
    out["is_mature"] = (out["eligible_users"] == out["cohort_users"]) & (out["cohort_users"] > 0)
    return out


def by_cohort(counts: pd.DataFrame) -> pd.DataFrame:
    """Sum channels: one row per cohort x day k with rates."""
    g = counts.groupby(["cohort_start", "day_k"], as_index=False)[COUNT_COLS].sum()
    return add_rates(g)


def by_channel(counts: pd.DataFrame) -> pd.DataFrame:
    """Pool cohorts: one row per channel x day k (eligible users only in each denominator)."""
    g = counts.groupby(["channel", "day_k"], as_index=False)[COUNT_COLS].sum()
    return add_rates(g)


def triangle(cohorts: pd.DataFrame, value: str = "retention") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohort x day grid of `value` and the mask of immature cells (True = hide)."""
    grid = cohorts.pivot(index="cohort_start", columns="day_k", values=value)
    mature = cohorts.pivot(index="cohort_start", columns="day_k", values="is_mature").astype(bool)
    return grid, ~mature


def monthly_headline(con, p: Period, rp: RetentionParams, months: int = 6) -> pd.DataFrame:
    """D1..D7 for the report month's and the previous months' new users (one row per month x k)."""
    start = p.shift(-(months - 1)).start
    return by_cohort(cohort_counts(con, start, p.end, "month", p, rp))


def second_order_share(con, start: dt.date, end: dt.date, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """Per channel plus an 'all' row: share of eligible new users with a 2nd order within N days."""
    df = query(
        "retention/second_order_within",
        con,
        from_date=start,
        to_date=end,
        days=rp.second_order_days,
        as_of=p.as_of,
    )
    total = pd.DataFrame([{"channel": "all", **df[["new_users", "eligible_users", "second_within"]].sum()}])
    out = pd.concat([df, total], ignore_index=True)
    out["share"] = out["second_within"] / out["eligible_users"].where(out["eligible_users"] > 0)
    return out


def time_to_second(
    con, start: dt.date, end: dt.date, p: Period, rp: RetentionParams
) -> dict[str, pd.DataFrame]:
    """Kaplan-Meier curves of the share of new users still without a 2nd order, per channel and 'all'.

    Users not yet observed for the whole horizon are censored at the days observed. Each curve's
    median (days) is in `.attrs["median"]`; `.attrs["n"]` holds its users.
    """
    rows = query(
        "retention/time_to_second_order",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        horizon=rp.km_horizon_days,
    )
    curves = {}
    groups = [("all", rows)] + list(rows.groupby("channel"))
    for name, g in groups:
        if g["n_users"].sum() == 0:
            continue
        curve = km_curve(g["duration_days"], g["observed"], g["n_users"], label=name, level=rp.ci_level)
        curve.attrs["n"] = int(g["n_users"].sum())
        curves[name] = curve
    return curves


def share_by_day(curve: pd.DataFrame, day: int) -> float:
    """1 - KM survival at `day`: the estimated share with a 2nd order within `day` days."""
    s = curve["survival"]
    return float(1 - s[s.index <= day].iloc[-1]) if (s.index <= day).any() else 0.0


def coupon_pack(con, p: Period) -> pd.DataFrame:
    """Issued / redeemed within validity per new-user coupon kind, for coupons issued in the month."""
    df = query("retention/coupon_pack", con, from_date=p.start, to_date=p.end, as_of=p.as_of)
    closed = df["n_closed"].where(df["n_closed"] > 0)
    df["redemption_rate"] = df["n_redeemed_within"] / closed
    return df


def reminder_effect(
    con, start: dt.date, end: dt.date, p: Period, rp: RetentionParams
) -> ReminderEffect | None:
    """The coupon-expiry reminder (campaign kind 'expiry_reminder') on new-user pack redemption.

    Treatment vs randomised holdout within `reminder_hours` after the reminder; None without
    campaigns. See campaigns.coupon_reminder_effect.
    """
    return coupon_reminder_effect(
        con,
        "expiry_reminder",
        list(NEW_USER_COUPON_KINDS),
        start,
        end,
        p.as_of,
        rp.reminder_hours,
        rp.ci_level,
    )


def expiring_coupons(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """Coupons to remind about right after the month, with a seeded randomised holdout per user.

    Columns: user_id, coupon_id, expires_at, face_value, arm (the CRM file's columns) plus kind.
    """
    df = query("retention/expiring_coupons", con, cutoff=p.cutoff, hours=rp.reminder_hours)
    df["arm"] = assign_arms(df["user_id"], rp.reminder_holdout_share, rp.reminder_seed) if len(df) else []
    return df[["user_id", "coupon_id", "expires_at", "face_value", "kind", "arm"]]


@dataclass(frozen=True)
class Headline:
    """The report month's new users and their first-week numbers, with the previous month."""

    new_users: int
    new_users_prev: int
    d1: float
    d1_prev: float
    cum_d7: float
    cum_d7_prev: float
    cum_d7_eligible: int  # users of the month observed for 7 days
    second_within: float  # share with a 2nd order within N days (eligible users)
    second_within_prev: float
    second_eligible: int


def headline(con, p: Period, rp: RetentionParams) -> Headline:
    """D1, cumulative D-max_day and the 2nd-order share for the month's and last month's new users."""
    monthly = monthly_headline(con, p, rp, months=2)

    def at(period: Period, k: int, col: str):
        row = monthly[(monthly.cohort_start == pd.Timestamp(period.start)) & (monthly.day_k == k)]
        return row.iloc[0][col] if len(row) else float("nan")

    def second(period: Period) -> pd.Series:
        s = second_order_share(con, period.start, period.end, p, rp)
        return s[s.channel == "all"].iloc[0]

    s_now, s_prev = second(p), second(p.prev)
    k = rp.max_day
    return Headline(
        new_users=int(at(p, 1, "cohort_users")),
        new_users_prev=int(at(p.prev, 1, "cohort_users")),
        d1=float(at(p, 1, "retention")),
        d1_prev=float(at(p.prev, 1, "retention")),
        cum_d7=float(at(p, k, "cum_retention")),
        cum_d7_prev=float(at(p.prev, k, "cum_retention")),
        cum_d7_eligible=int(at(p, k, "eligible_users")),
        second_within=float(s_now.share),
        second_within_prev=float(s_prev.share),
        second_eligible=int(s_now.eligible_users),
    )


def channel_summary(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """Per acquisition channel, cohorts of the trailing `channel_trailing_months` months pooled.

    Columns: channel, new_users, d1, cum_d7 (+ Wilson CI), second_within share, flag_small.
    Sorted by cum_d7, best first.
    """
    start = p.shift(-(rp.channel_trailing_months - 1)).start
    ch = by_channel(cohort_counts(con, start, p.end, "day", p, rp))
    k = rp.max_day
    d1 = ch[ch.day_k == 1].set_index("channel")
    dk = ch[ch.day_k == k].set_index("channel")
    second = second_order_share(con, start, p.end, p, rp).set_index("channel")
    out = pd.DataFrame(
        {
            "new_users": d1["cohort_users"],
            "d1": d1["retention"],
            "cum_d7": dk["cum_retention"],
            "cum_d7_eligible": dk["eligible_users"],
            "cum_d7_retained": dk["cum_retained_users"],
            "second_within": second["share"].reindex(d1.index),
        }
    )
    cis = [
        proportion_ci(int(x), int(n), rp.ci_level)
        for x, n in zip(out.cum_d7_retained, out.cum_d7_eligible, strict=True)
    ]
    out["cum_d7_low"] = [c[0] for c in cis]
    out["cum_d7_high"] = [c[1] for c in cis]
    out["flag_small"] = out["cum_d7_eligible"] < rp.min_cohort_users
    out = out[out.new_users > 0].reset_index().sort_values(["cum_d7", "channel"], ascending=[False, True])
    return out.reset_index(drop=True)


def daily_cohorts(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """The last `daily_cohort_days` daily first-order cohorts up to the month's end (rates per day k)."""
    return by_cohort(cohort_counts(con, p.end - dt.timedelta(days=rp.daily_cohort_days), p.end, "day", p, rp))


def weekly_cohorts(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """The last `weekly_cohort_weeks` weekly (Monday) cohorts up to the month's end (rates per day k)."""
    return by_cohort(
        cohort_counts(con, p.end - dt.timedelta(weeks=rp.weekly_cohort_weeks), p.end, "week", p, rp)
    )
