"""Play 4: churn recall (流失召回). SQL in sql/recall/, statistics added here.

The lifecycle stage of every user at every month end is defined once, in
sql/recall/user_stages.sql. :func:`build_stages` materialises it as the temp table
``recall_user_stages`` of the (read-only) connection; the stage sizes, transitions,
at-risk ranking, churn profile and recall list read that table. Each function takes
an open warehouse connection, the report Period and the recall params and returns a
small DataFrame (or a dataclass) ready to plot or print.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from userops.db import query
from userops.experiment import assign_arms
from userops.params import RecallParams
from userops.period import Period
from userops.sql_files import read_sql, sql_params
from userops.stats import cramers_v, diff_proportions, mde_two_proportions, proportion_ci

STAGES = ["prospect", "new", "growth", "mature", "declining", "churned"]
BUYER_STAGES = STAGES[1:]
ACTIVE_STAGES = ["new", "growth", "mature", "declining"]
STAGE_TABLE = "recall_user_stages"
#: campaign charts show campaigns whose arms can detect at least this lift (display rule only)
CHART_MAX_MDE = 0.2


# --------------------------------------------------------------------------- lifecycle stages


@dataclass(frozen=True)
class StagePanel:
    """The months materialised in the temp table recall_user_stages (first..last, month starts)."""

    first: Period
    last: Period


def build_stages(con, p: Period, rc: RecallParams, months: int | None = None) -> StagePanel:
    """Materialise sql/recall/user_stages.sql for the `months` month ends up to p (temp table).

    Output: one row per registered user x month end in the temp table recall_user_stages of
    this connection (replaced on each call); returns the months it covers.
    """
    first = p.shift(-((months or rc.stage_months) - 1))
    params = dict(
        from_month=first.start,
        to_month=p.start,
        k_declining=rc.k_declining,
        k_churned=rc.k_churned,
        declining_floor_days=rc.declining_floor_days,
        churned_floor_days=rc.churned_floor_days,
        declining_days=rc.declining_days,
        churned_days=rc.churned_days,
        min_gaps=rc.min_gaps,
        growth_days=rc.growth_days,
        growth_max_orders=rc.growth_max_orders,
        prior_gaps=rc.prior_gaps,
    )
    wanted = sql_params("recall/user_stages")
    if sorted(wanted) != sorted(params):
        raise TypeError(f"recall/user_stages takes {wanted}, given {sorted(params)}")
    con.execute(f"create or replace temp table {STAGE_TABLE} as\n{read_sql('recall/user_stages')}", params)
    return StagePanel(first, p)


def stage_sizes(con, panel: StagePanel) -> pd.DataFrame:
    """Users, orders and GMV per month x stage (zero-filled), with each stage's share of buyers."""
    df = query("recall/stage_sizes", con, from_month=panel.first.start, to_month=panel.last.start)
    buyers = df[df.stage != "prospect"].groupby("month_start")["n_users"].transform("sum")
    df["share_of_buyers"] = np.where(df.stage == "prospect", np.nan, df.n_users / buyers.reindex(df.index))
    return df


def transitions(con, month: Period) -> pd.DataFrame:
    """Moves from the stage at the previous month end to the stage at this month end.

    One row per (stage_prev, stage), 36 rows, with n_users, orders, gmv, the row percentage
    (share of stage_prev users who moved to stage) and the share of the month's GMV.
    """
    df = query("recall/stage_transitions", con, from_month=month.start, to_month=month.start)
    rows = df.groupby("stage_prev")["n_users"].transform("sum")
    df["row_pct"] = df.n_users / rows.where(rows > 0)
    total = df.gmv.sum()
    df["gmv_share"] = df.gmv / total if total else np.nan
    return df


def matrix(tr: pd.DataFrame, value: str) -> pd.DataFrame:
    """Transitions as a stage_prev x stage grid of `value` (rows and columns in stage order)."""
    return tr.pivot(index="stage_prev", columns="stage", values=value).reindex(index=STAGES, columns=STAGES)


# --------------------------------------------------------------------------- at risk now


def at_risk(con, p: Period, rc: RecallParams) -> pd.DataFrame:
    """Every non-churned buyer at the month end, scored and ranked by value at stake (needs build_stages)."""
    return query(
        "recall/at_risk",
        con,
        as_of=p.as_of,
        horizon_days=rc.value_horizon_days,
        at_risk_p=rc.at_risk_p,
        declining_days=rc.declining_days,
    )


@dataclass(frozen=True)
class RuleComparison:
    """How many active buyers the personal rule and the single global threshold flag."""

    active: int
    personal: int
    global_: int
    both: int
    personal_only: int
    global_only: int
    value_personal: float  # value at stake of the users flagged by the personal rule
    value_personal_only: float
    personal_only_gap: float  # median usual gap (days) of users only the personal rule flags
    personal_only_recency: float  # their median recency (days)
    global_only_gap: float
    global_only_recency: float


def compare_rules(ar: pd.DataFrame) -> RuleComparison:
    """Personal (P(gap) below threshold) vs global (recency >= declining_days) flags on at_risk()."""
    pers, glob = ar.is_at_risk_personal, ar.is_at_risk_global
    po, go = ar[pers & ~glob], ar[glob & ~pers]
    return RuleComparison(
        active=len(ar),
        personal=int(pers.sum()),
        global_=int(glob.sum()),
        both=int((pers & glob).sum()),
        personal_only=len(po),
        global_only=len(go),
        value_personal=float(ar.value_at_stake[pers].sum()),
        value_personal_only=float(po.value_at_stake.sum()),
        personal_only_gap=float(po.usual_gap_days.median()) if len(po) else float("nan"),
        personal_only_recency=float(po.recency_days.median()) if len(po) else float("nan"),
        global_only_gap=float(go.usual_gap_days.median()) if len(go) else float("nan"),
        global_only_recency=float(go.recency_days.median()) if len(go) else float("nan"),
    )


# --------------------------------------------------------------------------- who churned


@dataclass(frozen=True)
class ChurnProfile:
    """Who churned this month vs who stayed, among the buyers active at the previous month end."""

    population: int
    churned: int
    levels: pd.DataFrame  # attribute, level, n_users, n_churned, churn_rate (+ Wilson CI), rate_ratio
    attributes: pd.DataFrame  # attribute, n_levels, chi2, p_value, cramers_v (strongest first)

    @property
    def churn_rate(self) -> float:
        return self.churned / self.population if self.population else float("nan")


def churn_profile(con, p: Period, rc: RecallParams) -> ChurnProfile:
    """Churn rate per attribute level and each attribute's association (needs build_stages).

    rate_ratio = the level's churn rate / the churn rate of the rest of the population.
    Observational: an association, not an effect.
    """
    lv = query("recall/churn_profile", con, month_start=p.start, prev_as_of=p.prev.as_of)
    lv["n_stayed"] = lv.n_users - lv.n_churned
    lv["churn_rate"] = lv.n_churned / lv.n_users.where(lv.n_users > 0)
    cis = [proportion_ci(int(x), int(n), rc.ci_level) for x, n in zip(lv.n_churned, lv.n_users, strict=True)]
    lv["ci_low"], lv["ci_high"] = [c[0] for c in cis], [c[1] for c in cis]
    tot = lv.groupby("attribute")[["n_users", "n_churned"]].transform("sum")
    rest_n, rest_x = tot.n_users - lv.n_users, tot.n_churned - lv.n_churned
    lv["rate_ratio"] = lv.churn_rate / (rest_x / rest_n.where(rest_n > 0))
    rows = []
    for attr, g in lv.groupby("attribute"):
        chi2, pval, v = cramers_v(g[["n_churned", "n_stayed"]].to_numpy())
        rows.append(dict(attribute=attr, n_levels=len(g), chi2=chi2, p_value=pval, cramers_v=v))
    attrs = pd.DataFrame(rows).sort_values(["cramers_v", "attribute"], ascending=[False, True])
    first = lv[lv.attribute == lv.attribute.iloc[0]] if len(lv) else lv
    return ChurnProfile(
        population=int(first.n_users.sum()),
        churned=int(first.n_churned.sum()),
        levels=lv,
        attributes=attrs.reset_index(drop=True),
    )


# --------------------------------------------------------------------------- recall campaigns


def outcomes(con, p: Period, rc: RecallParams) -> pd.DataFrame:
    """Member outcomes of the recall campaigns of the last `campaign_months` months (matured windows)."""
    return query(
        "recall/recall_outcomes",
        con,
        from_date=p.shift(-(rc.campaign_months - 1)).start,
        to_date=p.end,
        as_of=p.as_of,
        window_days=rc.window_days,
    )


def _boot_mean_diff(rng, t: np.ndarray, h: np.ndarray, draws: int) -> np.ndarray:
    """Bootstrap draws of mean(t) - mean(h), each arm resampled with replacement."""

    def means(x):
        if len(x) == 0:
            return np.full(draws, np.nan)
        return x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)

    return means(t) - means(h)


def _quantile(draws: np.ndarray, q: float) -> float:
    """Quantile of bootstrap draws ignoring NaNs; NaN (no warning) when every draw is NaN."""
    ok = draws[~np.isnan(draws)]
    return float(np.quantile(ok, q)) if len(ok) else float("nan")


def campaign_effects(out: pd.DataFrame, rc: RecallParams) -> pd.DataFrame:
    """Treatment vs holdout per campaign, per channel and for all campaigns pooled ('all').

    Per row: arm sizes, reactivation rates, their difference (Newcombe 95% CI, score test),
    the minimum detectable difference (80% power) for these arm sizes, incremental
    reactivations / orders / GMV = (treatment mean - holdout mean) x treated members, summed
    over campaigns, with a seeded bootstrap CI (each campaign's arms resampled), cost =
    touches x cost_per_touch + face value of the campaign's redeemed recall coupons, and the
    incremental ROI = incremental GMV / cost (GMV, not margin). Pooled rows pool the counts
    for the rate difference; increments are per-campaign sums over the campaigns with both
    arms (NaN when none has).
    """
    cols = [
        "group",
        "label",
        "channel",
        "started_at",
        "n_treatment",
        "n_holdout",
        "rate_treatment",
        "rate_holdout",
        "diff",
        "ci_low",
        "ci_high",
        "p_value",
        "significant",
        "mde",
        "inc_reactivated",
        "inc_orders",
        "inc_orders_low",
        "inc_orders_high",
        "inc_gmv",
        "inc_gmv_low",
        "inc_gmv_high",
        "touches",
        "touch_cost",
        "coupon_cost",
        "cost",
        "roi",
        "roi_low",
        "roi_high",
    ]
    if out.empty:
        return pd.DataFrame(columns=cols)
    rng = np.random.default_rng(rc.bootstrap_seed)
    alpha = (1 - rc.ci_level) / 2
    per = {}
    for cid, g in out.groupby("campaign_id", sort=True):
        t, h = g[g.arm == "treatment"], g[g.arm == "holdout"]
        n_t = len(t)
        go, oo = t.gmv.to_numpy(float), h.gmv.to_numpy(float)
        to, ho = t.orders.to_numpy(float), h.orders.to_numpy(float)
        mean = lambda x: x.mean() if len(x) else np.nan  # noqa: E731
        per[cid] = dict(
            measurable=len(t) > 0 and len(h) > 0,
            gmv=(mean(go) - mean(oo)) * n_t,
            gmv_draws=_boot_mean_diff(rng, go, oo, rc.bootstrap_draws) * n_t,
            orders=(mean(to) - mean(ho)) * n_t,
            orders_draws=_boot_mean_diff(rng, to, ho, rc.bootstrap_draws) * n_t,
        )
    groups = [("campaign", cid, g) for cid, g in out.groupby("campaign_id", sort=True)]
    groups += [("channel", ch, g) for ch, g in out.groupby("channel", sort=True)]
    groups += [("all", "all", out)]
    rows = []
    for kind, key, g in groups:
        t, h = g[g.arm == "treatment"], g[g.arm == "holdout"]
        with warnings.catch_warnings():  # degenerate arms (all zero) make statsmodels divide by 0
            warnings.simplefilter("ignore", RuntimeWarning)
            e = diff_proportions(
                int(t.reactivated.sum()), len(t), int(h.reactivated.sum()), len(h), rc.ci_level
            )
        # increments sum over the campaigns with both arms (a campaign without holdout measures nothing)
        ids = [i for i in sorted(g.campaign_id.unique()) if per[i]["measurable"]]
        nan_draws = np.full(rc.bootstrap_draws, np.nan)
        inc_gmv = sum(per[i]["gmv"] for i in ids) if ids else np.nan
        gmv_draws = np.sum([per[i]["gmv_draws"] for i in ids], axis=0) if ids else nan_draws
        inc_orders = sum(per[i]["orders"] for i in ids) if ids else np.nan
        orders_draws = np.sum([per[i]["orders_draws"] for i in ids], axis=0) if ids else nan_draws
        touched = t[t.is_touched]
        touch_cost = float((touched.cost_per_touch.astype(float)).sum())
        coupon_cost = float(g.face_redeemed.astype(float).sum())
        cost = touch_cost + coupon_cost
        label = g.campaign_name.iloc[0] if kind == "campaign" else key
        rows.append(
            dict(
                group=kind,
                label=label,
                channel=g.channel.iloc[0] if kind != "all" else "all",
                started_at=g.started_at.min(),
                n_treatment=len(t),
                n_holdout=len(h),
                rate_treatment=e.rate_treatment,
                rate_holdout=e.rate_holdout,
                diff=e.diff,
                ci_low=e.ci_low,
                ci_high=e.ci_high,
                p_value=e.p_value,
                significant=e.significant,
                mde=mde_two_proportions(e.rate_holdout, len(t), len(h), rc.ci_level),
                inc_reactivated=e.diff * len(t),
                inc_orders=inc_orders,
                inc_orders_low=float(_quantile(orders_draws, alpha)),
                inc_orders_high=float(_quantile(orders_draws, 1 - alpha)),
                inc_gmv=inc_gmv,
                inc_gmv_low=float(_quantile(gmv_draws, alpha)),
                inc_gmv_high=float(_quantile(gmv_draws, 1 - alpha)),
                touches=len(touched),
                touch_cost=touch_cost,
                coupon_cost=coupon_cost,
                cost=cost,
                roi=inc_gmv / cost if cost else np.nan,
                roi_low=float(_quantile(gmv_draws, alpha)) / cost if cost else np.nan,
                roi_high=float(_quantile(gmv_draws, 1 - alpha)) / cost if cost else np.nan,
            )
        )
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- the recall list

LIST_COLUMNS = [
    "campaign_id",
    "user_id",
    "arm",
    "assigned_at",
    "touched_at",
    "need",
    "scene",
    "channel",
    "content",
    "face_value",
    "min_spend",
    "send_hour",
    "segment",
    "stage",
    "recency_days",
    "value_at_stake",
]


def recall_list(con, p: Period, rc: RecallParams) -> pd.DataFrame:
    """Users to recall right after the month, in the campaign_members format (needs build_stages).

    campaign_members columns: campaign_id (empty: the CRM assigns it), user_id, arm (seeded
    holdout, stratified by segment x channel), assigned_at (the first instant after the month,
    when the arms are drawn), touched_at (empty: the CRM fills it when sent); then need (top
    category), scene / content / face_value / min_spend (the params offer for that need; a
    need without an offer gets the cheapest offer), channel, send_hour, segment, stage,
    recency_days, value_at_stake. Sorted by value at stake.
    """
    df = query(
        "recall/recall_list",
        con,
        as_of=p.as_of,
        at_risk_p=rc.at_risk_p,
        max_recency_days=rc.list_max_recency_days,
        cooldown_days=rc.list_cooldown_days,
        horizon_days=rc.value_horizon_days,
        offline_share=rc.offline_share,
    )
    offers = pd.DataFrame(
        [
            dict(need=k, scene=c.scene, face_value=c.face_value, min_spend=c.min_spend, message=c.message)
            for k, c in rc.content.items()
        ]
    )
    fallback = offers.sort_values(["face_value", "need"]).iloc[0]
    df = df.merge(offers, on="need", how="left")
    for col in ("scene", "face_value", "min_spend", "message"):
        df[col] = df[col].fillna(fallback[col])
    df["content"] = [
        m.format(scene=s, face=f"{f:g}", min_spend=f"{ms:g}")
        for m, s, f, ms in zip(df.message, df.scene, df.face_value, df.min_spend, strict=True)
    ]
    strata = df.segment + "|" + df.channel
    df["arm"] = assign_arms(df.user_id, rc.holdout_share, rc.holdout_seed, strata) if len(df) else []
    df["campaign_id"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["assigned_at"] = pd.Timestamp(p.cutoff)
    df["touched_at"] = pd.NaT
    return (
        df[LIST_COLUMNS]
        .sort_values(["value_at_stake", "user_id"], ascending=[False, True])
        .reset_index(drop=True)
    )


def list_plan(lst: pd.DataFrame, rc: RecallParams) -> pd.DataFrame:
    """Per channel: users, treated, holdout and the planned touch cost (treated x cost per touch)."""
    g = lst.groupby("channel").agg(
        users=("user_id", "size"),
        treated=("arm", lambda a: int((a == "treatment").sum())),
        value_at_stake=("value_at_stake", "sum"),
    )
    g["holdout"] = g.users - g.treated
    g["touch_cost"] = g.treated * g.index.map(lambda c: rc.cost_per_touch.get(c, np.nan))
    return g.reset_index()
