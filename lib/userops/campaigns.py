"""Coupon reminders measured against their randomised holdout (shared by plays 2 and 3).

One SQL metric (sql/campaigns/coupon_reminder_effect.sql) and one analysis: the
difference in redemption between reminded and holdout members (Newcombe CI), per
campaign and pooled, and the incremental orders and their interval.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from userops.db import query
from userops.stats import ProportionDiff, diff_proportions


@dataclass(frozen=True)
class ReminderEffect:
    """A coupon reminder's effect on redemption against its randomised holdout."""

    arms: pd.DataFrame  # one row per campaign x arm: members, converted, redemption_rate, orders
    campaigns: pd.DataFrame  # one row per campaign with both arms: rates, diff and CI
    effect: ProportionDiff  # pooled over the campaigns
    orders_per_member_treatment: float
    orders_per_member_holdout: float
    incremental_redemptions: float  # diff x treated members
    incremental_orders: float  # (orders/member T - H) x treated members
    incremental_orders_ci: tuple[float, float]
    cost_yuan: float  # cost_per_touch x treated members, summed over campaigns


def coupon_reminder_effect(
    con,
    campaign_kind: str,
    coupon_kinds: list[str],
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    window_hours: int,
    level: float = 0.95,
) -> ReminderEffect | None:
    """Treatment vs holdout redemption for reminder campaigns assigned in [start, end); None without both arms.

    Incremental orders: the difference of mean orders per member in the window (normal
    interval, Welch standard error) times the treated members.
    """
    df = query(
        "campaigns/coupon_reminder_effect",
        con,
        campaign_kind=campaign_kind,
        coupon_kinds=list(coupon_kinds),
        from_date=start,
        to_date=end,
        as_of=as_of,
        window_hours=window_hours,
    )
    if df.empty or set(df["arm"]) != {"treatment", "holdout"}:
        return None
    df["redemption_rate"] = df["converted"] / df["members"]
    with np.errstate(divide="ignore", invalid="ignore"):  # an arm with rate 0 makes statsmodels warn
        rows = []
        for (cid, name, month), g in df.groupby(["campaign_id", "campaign_name", "campaign_month"]):
            a = g.set_index("arm")
            if {"treatment", "holdout"} - set(a.index):
                continue
            t, h = a.loc["treatment"], a.loc["holdout"]
            e = diff_proportions(int(t.converted), int(t.members), int(h.converted), int(h.members), level)
            rows.append(
                dict(
                    campaign_id=cid,
                    campaign_name=name,
                    campaign_month=month,
                    members_treatment=int(t.members),
                    members_holdout=int(h.members),
                    rate_treatment=e.rate_treatment,
                    rate_holdout=e.rate_holdout,
                    diff=e.diff,
                    ci_low=e.ci_low,
                    ci_high=e.ci_high,
                )
            )
        arms = df.groupby("arm")[["members", "converted", "orders", "orders_sq"]].sum()
        t, h = arms.loc["treatment"], arms.loc["holdout"]
        pooled = diff_proportions(int(t.converted), int(t.members), int(h.converted), int(h.members), level)
    opm_t, opm_h = t.orders / t.members, h.orders / h.members
    var_t = t.orders_sq / t.members - opm_t**2
    var_h = h.orders_sq / h.members - opm_h**2
    se = np.sqrt(var_t / t.members + var_h / h.members)
    z = norm.ppf(1 - (1 - level) / 2)
    d = opm_t - opm_h
    treated = df[df.arm == "treatment"]
    return ReminderEffect(
        arms=df,
        campaigns=pd.DataFrame(rows),
        effect=pooled,
        orders_per_member_treatment=float(opm_t),
        orders_per_member_holdout=float(opm_h),
        incremental_redemptions=float(pooled.diff * t.members),
        incremental_orders=float(d * t.members),
        incremental_orders_ci=(float((d - z * se) * t.members), float((d + z * se) * t.members)),
        cost_yuan=float((treated.cost_per_touch.astype(float) * treated.members).sum()),
    )


def reminder_absence(
    con, campaign_kind: str, start: dt.date, end: dt.date, as_of: dt.date, window_hours: int
) -> str:
    """Why :func:`coupon_reminder_effect` has no effect to show: one plain sentence ("" = none missing).

    Tells apart: no campaign of the kind in [start, end); campaigns but no member whose window
    closed by ``as_of``; members but no randomised holdout (or no treatment) arm.
    """
    row = query(
        "campaigns/reminder_coverage",
        con,
        campaign_kind=campaign_kind,
        from_date=start,
        to_date=end,
        as_of=as_of,
        window_hours=window_hours,
    ).iloc[0]
    n_campaigns, n_closed, n_holdout, n_treatment = (int(row[c]) for c in row.index)
    if not n_campaigns:
        return (
            f"Measuring the reminder needs a campaign of kind '{campaign_kind}' with members in this period; "
            "the data has none."
        )
    if not n_closed:
        return (
            f"Measuring the reminder needs members whose {window_hours}-hour window ended by {as_of}; "
            "the data has none yet."
        )
    if not n_holdout or not n_treatment:
        arm = "holdout" if not n_holdout else "reminded (treatment)"
        return (
            f"Measuring the reminder needs a randomised holdout next to the reminded members; the "
            f"'{campaign_kind}' campaigns of this period have no {arm} arm."
        )
    return ""


def arm_rates(eff: ReminderEffect, level: float = 0.95) -> pd.DataFrame:
    """Pooled redemption per arm with its Wilson interval, from the exact counts (for a CI bar chart).

    Columns: arm ('reminded (treatment)', 'holdout'), members, converted, rate, low, high; each
    interval contains its rate.
    """
    from userops.stats import proportion_ci

    pooled = eff.arms.groupby("arm")[["members", "converted"]].sum()
    rows = []
    for arm, name in (("treatment", "reminded (treatment)"), ("holdout", "holdout")):
        n, x = int(pooled.loc[arm, "members"]), int(pooled.loc[arm, "converted"])
        rate = x / n
        low, high = proportion_ci(x, n, level)
        rows.append(
            dict(arm=name, members=n, converted=x, rate=rate, low=min(low, rate), high=max(high, rate))
        )
    return pd.DataFrame(rows)
