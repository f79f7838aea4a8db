"""Reminders measured against their randomised holdout (shared by plays 2 and 3).

One SQL metric per reminder type, one row per campaign member: coupon reminders
(sql/campaigns/coupon_reminder_effect.sql: converted = redeemed the reminded coupon) and category
reminders (sql/campaigns/category_reminder_effect.sql: converted = ordered in the window), both on
the members of sql/campaigns/reminder_members.sql; and one analysis
(:func:`reminder_effect_from_rows`), on the money basis of :mod:`userops.money`:

- the redemption lift, pooled over campaigns **stratified by campaign** (Mantel-Haenszel via
  :func:`userops.experiments.pooled_effect`: a holdout shared by campaigns counted once, holdout
  rows of users treated in another campaign dropped, interval from a seeded bootstrap that
  resamples users), and per campaign (Newcombe interval);
- incremental redemptions, orders and gross margin = the sum over campaigns of the campaign's
  treated members x (mean per treated member - mean per holdout member), each campaign against its
  own holdout (never raw counts added across campaigns with different holdout shares); intervals
  from the same seeded user-resampling bootstrap, so users in several campaigns are not taken
  as independent. Every member row of the campaign is kept here: dropping a campaign's holdout
  rows because of the user's arm in *another* campaign would select on something other than
  this campaign's draw (monthly reminders reach the same users again and again) and break the
  campaign's randomisation;
- the coupon discount given on redemptions that would have happened anyway (treated members x
  holdout redemption rate x mean discount per treated redemption), and the discount on extra
  redemptions that brought no extra order: both are inside paid GMV, hence inside the margin,
  so they are shown and never added to the cost;
- the touch cost, counted once per treated member (+ the params fixed cost per campaign), and
  **ROI on margin = (incremental gross margin - touch cost) / touch cost**.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from userops import i18n, money
from userops import narrative as nv
from userops.db import query
from userops.experiments import pooled_effect, user_bootstrap_sums
from userops.params import ExperimentParams
from userops.stats import diff_proportions

OUTCOMES = ("converted", "orders", "margin")  # the outcomes whose increments get an interval
CATEGORY_REMINDER_KIND = "category_reminder"  # campaigns.kind of the category reminders (play 3)


@dataclass(frozen=True)
class PooledLift:
    """Redemption lift pooled over campaigns, stratified by campaign (Mantel-Haenszel).

    ``rate_holdout`` is the holdout rate standardised to the reminded members' campaigns
    (sum of treated members x campaign holdout rate / treated members); ``diff`` is the
    Mantel-Haenszel difference, its interval a user-resampling bootstrap.
    """

    rate_treatment: float
    rate_holdout: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float  # CMH test
    n_treatment: int  # treated member rows (campaign x user)
    n_holdout: int  # holdout member rows (campaign x user)
    level: float
    method: str
    n_strata: int
    contaminated_holdout_rows: int  # holdout rows the lift left out: the user was treated in another campaign
    shared_holdout_users: int  # users held out of several campaigns

    @property
    def significant(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class ReminderEffect:
    """A coupon reminder's effect against its randomised holdout, campaigns pooled by stratum."""

    arms: pd.DataFrame  # one row per campaign x arm: members, converted, redemption_rate, orders, money
    campaigns: pd.DataFrame  # one row per campaign with both arms: rates, diff and CI, increments, cost
    effect: PooledLift  # redemption lift, stratified by campaign
    orders_per_member_treatment: float
    orders_per_member_holdout: float  # standardised to the treated members' campaigns
    incremental_redemptions: float
    incremental_orders: float
    incremental_orders_ci: tuple[float, float]
    cost_yuan: float  # touch cost: treated members x cost_per_touch (+ fixed), once per campaign
    incremental_redemptions_ci: tuple[float, float] = (float("nan"), float("nan"))
    incremental_margin: float = float("nan")  # gross margin, see margin_basis
    incremental_margin_ci: tuple[float, float] = (float("nan"), float("nan"))
    anyway_discount: float = float("nan")  # coupon discount on redemptions that would have happened anyway
    mean_discount: float = float("nan")  # mean coupon discount per treated redemption
    margin_basis: str = money.GROSS_MARGIN
    assumed_margin_orders: int = 0  # window orders whose margin used the assumed rate
    window_orders: int = 0

    @property
    def expected_anyway_redemptions(self) -> float:
        """Treated members x their campaign's holdout redemption rate, summed over campaigns."""
        return float(self.effect.rate_holdout * self.effect.n_treatment)

    @property
    def discount_without_extra_order(self) -> float:
        """Coupon discount on extra redemptions that brought no extra order (0 when orders >= redemptions)."""
        return max(self.incremental_redemptions - self.incremental_orders, 0.0) * _finite(self.mean_discount)

    @property
    def roi(self) -> float | None:
        """ROI on margin = (incremental gross margin - touch cost) / touch cost; None without a cost."""
        return money.roi(self.incremental_margin, self.cost_yuan)

    @property
    def roi_ci(self) -> tuple[float | None, float | None]:
        """The ROI at the ends of the incremental-margin interval (the cost is known)."""
        return money.roi(self.incremental_margin_ci[0], self.cost_yuan), money.roi(
            self.incremental_margin_ci[1], self.cost_yuan
        )


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else 0.0


def coupon_reminder_effect(
    con,
    campaign_kind: str,
    coupon_kinds: list[str],
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    window_hours: int,
    level: float = 0.95,
    exp: ExperimentParams | None = None,
) -> ReminderEffect | None:
    """Treatment vs holdout for reminder campaigns assigned in [start, end); None without a campaign
    that has both arms.

    ``exp`` (params ``experiments``, defaults when None): assumed margin rate, fixed cost per
    campaign, bootstrap draws and seed. See the module docstring for every definition.
    """
    exp = exp or ExperimentParams()
    rows = query(
        "campaigns/coupon_reminder_effect",
        con,
        campaign_kind=campaign_kind,
        coupon_kinds=list(coupon_kinds),
        from_date=start,
        to_date=end,
        as_of=as_of,
        window_hours=window_hours,
        assumed_margin_rate=exp.assumed_margin_rate,
    )
    return reminder_effect_from_rows(rows, level, exp)


def category_reminder_effect(
    con,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    window_hours: int,
    level: float = 0.95,
    exp: ExperimentParams | None = None,
) -> ReminderEffect | None:
    """Category reminders (campaign kind 'category_reminder') against their randomised holdout.

    The outcome is an order in the window (sql/campaigns/category_reminder_effect.sql), so the
    effect's "converted" reads as *bought*, its discount as the discount on the member's window
    orders; everything else is :func:`reminder_effect_from_rows`. None without a campaign that
    has both arms.
    """
    exp = exp or ExperimentParams()
    rows = query(
        "campaigns/category_reminder_effect",
        con,
        campaign_kind=CATEGORY_REMINDER_KIND,
        from_date=start,
        to_date=end,
        as_of=as_of,
        window_hours=window_hours,
        assumed_margin_rate=exp.assumed_margin_rate,
    )
    return reminder_effect_from_rows(rows, level, exp)


def reminder_effect_from_rows(
    rows: pd.DataFrame, level: float, exp: ExperimentParams
) -> ReminderEffect | None:
    """The effect of reminder member rows (the columns of sql/campaigns/*_reminder_effect.sql):
    only campaigns with both arms; None when none has."""
    both = rows.groupby("campaign_id").arm.transform("nunique") == 2
    rows = rows[both & rows.arm.isin(["treatment", "holdout"])]
    if rows.empty:
        return None
    pe = pooled_effect(
        rows.rename(columns={"campaign_id": "stratum", "converted": "outcome"}),
        level,
        exp.bootstrap_draws,
        exp.bootstrap_seed,
    )
    arms = _arms(rows)
    camp = _campaigns(arms, level, exp.campaign_fixed_cost)
    boot = _bootstrap_increments(rows, camp, level, exp.bootstrap_draws, exp.bootstrap_seed)
    n1 = int(camp.members_treatment.sum())
    rate_t = float(camp.converted_treatment.sum() / n1)
    rate_h = float((camp.members_treatment * camp.rate_holdout).sum() / n1)
    e = pe.effect
    lift = PooledLift(
        rate_t,
        rate_h,
        e.diff,
        e.ci_low,
        e.ci_high,
        e.p_value,
        n1,
        int(camp.members_holdout.sum()),
        level,
        e.method,
        e.n_strata,
        pe.contaminated_holdout_rows,
        pe.shared_holdout_users,
    )
    t = arms[arms.arm == "treatment"]
    n_assumed, n_orders = int(rows.assumed_orders.sum()), int(rows.orders.sum())
    return ReminderEffect(
        arms=arms,
        campaigns=camp,
        effect=lift,
        orders_per_member_treatment=float(t.orders.sum() / n1),
        orders_per_member_holdout=float((camp.members_treatment * camp.orders_per_member_holdout).sum() / n1),
        incremental_redemptions=float(camp.incremental_redemptions.sum()),
        incremental_orders=float(camp.incremental_orders.sum()),
        incremental_orders_ci=boot["orders"],
        cost_yuan=float(camp.cost.sum()),
        incremental_redemptions_ci=boot["converted"],
        incremental_margin=float(camp.incremental_margin.sum()),
        incremental_margin_ci=boot["margin"],
        anyway_discount=float(camp.anyway_discount.sum()),
        mean_discount=float(t.discount.sum() / t.converted.sum()) if t.converted.sum() else float("nan"),
        margin_basis=_margin_basis(n_assumed, n_orders, exp.assumed_margin_rate),
        assumed_margin_orders=n_assumed,
        window_orders=n_orders,
    )


def _margin_basis(n_assumed: int, n_orders: int, rate: float) -> str:
    """The label of the margin figures: measured, assumed, or measured with some orders assumed."""
    if n_assumed == 0:
        return money.GROSS_MARGIN
    if n_assumed == n_orders:
        return money.margin_label(rate)
    return (
        f"{money.GROSS_MARGIN}; {n_assumed:,} of {n_orders:,} window orders at an assumed {rate:.0%} margin"
    )


def _arms(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign x arm: members and sums of the member outcomes."""
    keys = ["campaign_id", "campaign_name", "campaign_month", "channel", "cost_per_touch", "arm"]
    out = (
        rows.assign(orders_sq=rows.orders * rows.orders, members=1)
        .groupby(keys, sort=True, dropna=False)[
            [
                "members",
                "converted",
                "discount",
                "orders",
                "orders_sq",
                "paid_gmv",
                "margin",
                "assumed_orders",
            ]
        ]
        .sum()
        .reset_index()
    )
    out["gmv"] = out["paid_gmv"]  # the old column name (paid GMV)
    out["redemption_rate"] = out.converted / out.members
    return out


def _campaigns(arms: pd.DataFrame, level: float, fixed_cost: float) -> pd.DataFrame:
    """Per campaign: Newcombe redemption difference, increments vs its own holdout, discount, cost."""
    keys = ["campaign_id", "campaign_name", "campaign_month", "channel", "cost_per_touch"]
    w = arms.pivot_table(
        index=keys,
        columns="arm",
        values=["members", "converted", "discount", "orders", "margin"],
        aggfunc="sum",
    )
    w.columns = [f"{v}_{a}" for v, a in w.columns]
    w = w.reset_index()
    n1, n0 = w.members_treatment, w.members_holdout
    with np.errstate(divide="ignore", invalid="ignore"):  # an arm with rate 0 makes statsmodels warn
        diffs = [
            diff_proportions(
                int(r.converted_treatment),
                int(r.members_treatment),
                int(r.converted_holdout),
                int(r.members_holdout),
                level,
            )
            for r in w.itertuples()
        ]  # one per campaign, not per user
    w["rate_treatment"] = [d.rate_treatment for d in diffs]
    w["rate_holdout"] = [d.rate_holdout for d in diffs]
    w["diff"] = [d.diff for d in diffs]
    w["ci_low"] = [d.ci_low for d in diffs]
    w["ci_high"] = [d.ci_high for d in diffs]
    w["orders_per_member_holdout"] = w.orders_holdout / n0
    w["incremental_redemptions"] = n1 * w["diff"]
    w["incremental_orders"] = w.orders_treatment - n1 * w.orders_per_member_holdout
    w["incremental_margin"] = w.margin_treatment - n1 * w.margin_holdout / n0
    per_redemption = np.where(
        w.converted_treatment > 0,
        w.discount_treatment / w.converted_treatment.where(w.converted_treatment > 0, 1),
        w.discount_holdout / w.converted_holdout.where(w.converted_holdout > 0, 1),
    )  # no treated redemption: the holdout's; neither: the rate is 0, so is the product
    w["anyway_discount"] = n1 * w.rate_holdout * per_redemption
    w["cost"] = [money.campaign_cost(n, c, fixed_cost) for n, c in zip(n1, w.cost_per_touch, strict=True)]
    return w.drop(columns=["discount_treatment", "discount_holdout"])


def _bootstrap_increments(
    rows: pd.DataFrame, camp: pd.DataFrame, level: float, draws: int, seed: int, block_cells: int = 4_000_000
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of each outcome's increment, sum_c n1_c (mean_T,c - mean_H,c), under
    Poisson(1) weights per *user* (seeded): a user in several campaigns is resampled as one.

    n1_c stays the observed treated count (the scale of the increment); a draw in which a campaign
    loses an arm entirely is dropped.
    """
    nan = (float("nan"), float("nan"))
    stratum = pd.Categorical(rows.campaign_id, categories=camp.campaign_id).codes
    user = pd.factorize(rows.user_id)[0]
    n_strata, n_rows = len(camp), len(rows)
    cell = stratum * 2 + (rows.arm == "holdout").to_numpy()
    ys = [np.ones(n_rows)] + [rows[c].to_numpy(dtype=float) for c in OUTCOMES]
    design = sparse.hstack(
        [sparse.csr_matrix((y, (np.arange(n_rows), cell)), shape=(n_rows, 2 * n_strata)) for y in ys]
    )  # rows x (1 + outcomes) blocks of strata x arms
    n1 = camp.members_treatment.to_numpy(dtype=float)
    out = []
    k = 2 * n_strata
    for sums in user_bootstrap_sums(user, design, draws, seed, block_cells):
        size = sums[:, :k]
        with np.errstate(divide="ignore", invalid="ignore"):
            means = [sums[:, k * (j + 1) : k * (j + 2)] / size for j in range(len(OUTCOMES))]
            inc = np.stack([((m[:, 0::2] - m[:, 1::2]) * n1).sum(axis=1) for m in means], axis=1)
        out.append(inc)
    vals = np.concatenate(out)
    vals = vals[np.isfinite(vals).all(axis=1)]
    if not len(vals):
        return dict.fromkeys(OUTCOMES, nan)
    a = (1 - level) / 2
    lo, hi = np.quantile(vals, a, axis=0), np.quantile(vals, 1 - a, axis=0)
    return {o: (float(lo[j]), float(hi[j])) for j, o in enumerate(OUTCOMES)}


def category_reminder_action(eff: ReminderEffect) -> str:
    """Keep, measure, rethink or keep testing the category reminders (one markdown line, report
    language): ``money.verdict``, with the incremental gross margin as the effect (clear when its
    interval lies above 0) and the ROI-on-margin interval as the money."""

    def one(x):
        return nv.num(x, 1)

    def known(ci):
        return all(x is not None and np.isfinite(x) for x in ci)

    roi = ""
    if eff.roi is not None:
        roi_ci = i18n.t("reminders.paren", text=nv.ci(*eff.roi_ci, one)) if known(eff.roi_ci) else ""
        roi = i18n.t("reminders.roi", roi=one(eff.roi), ci=roi_ci)
    m_ok = known(eff.incremental_margin_ci)
    kw = dict(
        margin=nv.yuan(eff.incremental_margin),
        m_ci=nv.ci(*eff.incremental_margin_ci, nv.yuan) if m_ok else i18n.t("common.na"),
        cost=nv.yuan(eff.cost_yuan, 2),
    )
    v = money.verdict(m_ok and eff.incremental_margin_ci[0] > 0, eff.roi, eff.roi_ci)
    if v == money.RETHINK:
        return i18n.t("reminders.category_rethink", roi=roi, **kw)
    if v in (money.KEEP, money.MEASURE):
        roi_part = i18n.t("reminders.roi_part", roi=roi) if roi else ""
        key = "reminders.category_keep" if v == money.KEEP else "reminders.category_measure"
        return i18n.t(key, orders=nv.num(eff.incremental_orders), roi=roi_part, **kw)
    roi_part = i18n.t("reminders.roi_tail", roi=roi) if roi else ""
    return i18n.t("reminders.category_test", roi=roi_part, **kw)


def reminder_coverage(
    con, campaign_kind: str, start: dt.date, end: dt.date, as_of: dt.date, window_hours: int
) -> tuple[int, int, int, int]:
    """(campaigns, members whose window closed, holdout members, treated members) of the reminder
    campaigns of a kind (campaigns/reminder_coverage.sql): what every absence sentence tells apart."""
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
    return n_campaigns, n_closed, n_holdout, n_treatment


def reminder_absence(
    con, campaign_kind: str, start: dt.date, end: dt.date, as_of: dt.date, window_hours: int
) -> str:
    """Why :func:`coupon_reminder_effect` has no effect to show: one plain sentence ("" = none missing).

    Tells apart: no campaign of the kind in [start, end); campaigns but no member whose window
    closed by ``as_of``; members but no randomised holdout (or no treatment) arm.
    """
    n_campaigns, n_closed, n_holdout, n_treatment = reminder_coverage(
        con, campaign_kind, start, end, as_of, window_hours
    )
    name = i18n.name("reminder_kind", campaign_kind)
    if not n_campaigns:
        return i18n.t("reminders.absent_none", name=name)
    if not n_closed:
        return i18n.t("reminders.absent_open", name=name, hours=window_hours, as_of=as_of)
    if not n_holdout or not n_treatment:
        arm = i18n.t("reminders.arm_holdout" if not n_holdout else "reminders.arm_treatment")
        return i18n.t("reminders.absent_arm", name=name, arm=arm)
    return ""


def category_reminder_absence(
    con, start: dt.date, end: dt.date, as_of: dt.date, window_hours: int, has_tables: bool = True
) -> str:
    """Why the category reminders have no measured effect, in one plain sentence ("" = none missing).

    ``has_tables``: the data has the campaigns and campaign members tables. Tells apart: no such
    tables; no category-reminder campaign in [start, end); no member whose window closed by
    ``as_of``; no randomised holdout (or no reminded) arm.
    """
    if not has_tables:
        return i18n.t("reminders.category_no_tables")
    n_campaigns, n_closed, n_holdout, n_treatment = reminder_coverage(
        con, CATEGORY_REMINDER_KIND, start, end, as_of, window_hours
    )
    if not n_campaigns:
        return i18n.t("reminders.category_none")
    if not n_closed:
        return i18n.t("reminders.category_open", days=window_hours // 24, as_of=as_of)
    if not n_holdout or not n_treatment:
        arm = i18n.t("reminders.arm_holdout" if not n_holdout else "reminders.arm_treatment")
        return i18n.t("reminders.category_arm", arm=arm)
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
