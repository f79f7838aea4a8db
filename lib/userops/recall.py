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

from userops.charts import fmt_yuan
from userops.db import query
from userops.experiment import assign_arms
from userops.narrative import num, pct, pp, significance, yuan
from userops.params import DataParams, RecallParams
from userops.period import Period
from userops.sql_files import read_sql, sql_params
from userops.stats import cramers_v, diff_proportions, mde_two_proportions, proportion_ci

STAGES = ["prospect", "new", "growth", "mature", "declining", "churned"]
BUYER_STAGES = STAGES[1:]
ACTIVE_STAGES = ["new", "growth", "mature", "declining"]
STAGE_TABLE = "recall_user_stages"
#: campaign charts show campaigns whose arms can detect at least this lift (display rule only)
CHART_MAX_MDE = 0.2
#: the churn profile needs this many active buyers; a level needs this many users to be named
MIN_PROFILE_USERS = 30


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


def stage_history(sizes: pd.DataFrame) -> pd.DataFrame:
    """Buyers per month end (rows) x buyer stage (columns), from the first month with a registered user.

    Months before the export starts would only be empty bars.
    """
    grid = sizes.pivot(index="month_start", columns="stage", values="n_users")
    started = grid.sum(axis=1).gt(0).cummax()
    return grid.loc[started, BUYER_STAGES]


@dataclass(frozen=True)
class StageSnapshot:
    """Users per stage at this and at the previous month end (indexed by stage)."""

    now: pd.DataFrame
    before: pd.DataFrame

    @property
    def buyers(self) -> int:
        return int(self.now.loc[BUYER_STAGES, "n_users"].sum())

    @property
    def buyers_before(self) -> int:
        return int(self.before.loc[BUYER_STAGES, "n_users"].sum())

    def active(self, which: str = "now") -> int:
        return int(getattr(self, which).loc[ACTIVE_STAGES, "n_users"].sum())


def stage_snapshot(sizes: pd.DataFrame, p: Period) -> StageSnapshot:
    """This month end's and the previous month end's rows of stage_sizes()."""

    def at(m: Period) -> pd.DataFrame:
        return sizes[sizes.month_start == pd.Timestamp(m.start)].set_index("stage").reindex(STAGES)

    return StageSnapshot(at(p), at(p.prev))


def stage_reason(snap: StageSnapshot, p: Period) -> str:
    """Why the lifecycle stages cannot be shown ('' when there are buyers at the month end)."""
    if snap.buyers:
        return ""
    return (
        f"Lifecycle stages need buyers (users with an order) by the end of {p.label}; the data has "
        f"{snap.now.n_users.sum():,.0f} registered users and none has ordered yet."
    )


def transitions_reason(snap: StageSnapshot, p: Period) -> str:
    """Why the month's moves between stages cannot be shown ('' when they can)."""
    if snap.buyers_before:
        return ""
    return (
        f"How users moved needs buyers at the end of {p.prev.label}; the data has none (the export "
        f"starts later), so every buyer at the end of {p.label} ({snap.buyers:,}) is new."
    )


def transitions_title(tr: pd.DataFrame, p: Period) -> str:
    """The heatmap's finding: declining -> churned rate and churned users won back, when they exist."""
    rows = tr.groupby("stage_prev").n_users.sum()
    parts = []
    if rows.get("declining", 0):
        d2c = tr[(tr.stage_prev == "declining") & (tr.stage == "churned")].row_pct.iloc[0]
        parts.append(f"{pct(d2c)} of declining users churned this month")
    else:
        parts.append(f"nobody was declining at the end of {p.prev.short}")
    if rows.get("churned", 0):
        back = tr[(tr.stage_prev == "churned") & (tr.stage != "churned")].n_users.sum()
        parts.append(f"{num(back)} churned users came back")
    else:
        parts.append(f"nobody was churned at the end of {p.prev.short}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


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


def at_risk_reason(cmp: RuleComparison, snap: StageSnapshot, p: Period) -> str:
    """Why nobody can be scored for risk ('' when there are active buyers)."""
    if cmp.active:
        return ""
    return (
        f"Who is at risk needs active (not churned) buyers at the end of {p.label}; "
        f"all {snap.buyers:,} buyers are churned."
        if snap.buyers
        else f"Who is at risk needs buyers at the end of {p.label}; nobody has ordered yet."
    )


def rules_sentence(cmp: RuleComparison, rc: RecallParams) -> str:
    """The personal vs global rule finding, each clause only when its group has users."""
    head = (
        f"Of {num(cmp.active)} active buyers, the personal rule flags **{num(cmp.personal)}** "
        f"(value at stake {yuan(cmp.value_personal)} over the next {rc.value_horizon_days} days) and the single "
        f"{rc.declining_days}-day threshold flags {num(cmp.global_)}; {num(cmp.both)} are flagged by both. "
    )
    personal = (
        f"**Only the personal rule catches {num(cmp.personal_only)} users** (median gap {num(cmp.personal_only_gap)} "
        f"days, silent for {num(cmp.personal_only_recency)} days: overdue for them, {yuan(cmp.value_personal_only)} "
        f"at stake)"
        if cmp.personal_only
        else f"The personal rule flags nobody the {rc.declining_days}-day rule misses"
    )
    glob = (
        f"only the global rule flags {num(cmp.global_only)} users whose usual gap is long anyway "
        f"(median {num(cmp.global_only_gap)} days, silent for {num(cmp.global_only_recency)})."
        if cmp.global_only
        else f"no user is flagged by the {rc.declining_days}-day rule alone."
    )
    return f"{head}{personal}; {glob}"


# --------------------------------------------------------------------------- who churned


@dataclass(frozen=True)
class ChurnProfile:
    """Who churned this month vs who stayed, among the buyers active at the previous month end.

    ``reason`` is a plain sentence when the profile cannot be drawn (nobody active at the previous
    month end, nobody churned or everybody did, or no attribute with two levels); empty otherwise.
    """

    population: int
    churned: int
    levels: pd.DataFrame  # attribute, level, n_users, n_churned, churn_rate (+ Wilson CI), rate_ratio
    attributes: pd.DataFrame  # attribute, n_levels, chi2, p_value, cramers_v (strongest first, testable)
    reason: str = ""

    @property
    def churn_rate(self) -> float:
        return self.churned / self.population if self.population else float("nan")

    def riskiest_level(self, attributes: list[str], min_users: int) -> pd.Series | None:
        """The level (of `attributes`, at least `min_users` users) with the highest finite rate ratio."""
        lv = self.levels[self.levels.attribute.isin(attributes) & (self.levels.n_users >= min_users)]
        lv = lv[np.isfinite(lv.rate_ratio) & (lv.rate_ratio > 1)]
        return (
            lv.sort_values(["rate_ratio", "attribute", "level"], ascending=[False, True, True]).iloc[0]
            if len(lv)
            else None
        )


def _collapse_levels(lv: pd.DataFrame, max_levels: int) -> pd.DataFrame:
    """Per attribute, keep the max_levels - 1 largest levels and pool the rest as 'other (k levels)'.

    Hundreds of stores as levels would make the chi-square sparse (a Cramér's V near 1 from single
    users) and the table unreadable.
    """
    rank = lv.sort_values(["n_users", "level"], ascending=[False, True]).groupby("attribute").cumcount()
    n_levels = lv.groupby("attribute")["level"].transform("size")
    pooled = (n_levels > max_levels) & (rank.reindex(lv.index) >= max_levels - 1)
    if not pooled.any():
        return lv
    rest = (
        lv[pooled]
        .groupby("attribute")
        .agg(n_users=("n_users", "sum"), n_churned=("n_churned", "sum"), k=("level", "size"))
    )
    rest["level"] = "other (" + rest.k.astype(str) + " levels)"
    return pd.concat([lv[~pooled], rest.drop(columns="k").reset_index()], ignore_index=True)


def churn_profile(con, p: Period, rc: RecallParams, dp: DataParams, max_levels: int = 10) -> ChurnProfile:
    """Churn rate per attribute level and each attribute's association (needs build_stages).

    rate_ratio = the level's churn rate / the churn rate of the rest of the population (NaN when
    the rest has no churner). Attributes with more than `max_levels` levels keep their largest
    levels and pool the others. Attributes with a single level (e.g. no demographics: city
    'unknown' for all) are not testable and are left out of `attributes`.
    Observational: an association, not an effect.
    """
    lv = query(
        "recall/churn_profile",
        con,
        month_start=p.start,
        prev_as_of=p.prev.as_of,
        offline_channels=dp.offline_order_channels,
    )
    lv = _collapse_levels(lv, max_levels)
    lv["n_stayed"] = lv.n_users - lv.n_churned
    lv["churn_rate"] = lv.n_churned / lv.n_users.where(lv.n_users > 0)
    cis = [proportion_ci(int(x), int(n), rc.ci_level) for x, n in zip(lv.n_churned, lv.n_users, strict=True)]
    lv["ci_low"], lv["ci_high"] = [c[0] for c in cis], [c[1] for c in cis]
    tot = lv.groupby("attribute")[["n_users", "n_churned"]].transform("sum")
    rest_n, rest_x = tot.n_users - lv.n_users, tot.n_churned - lv.n_churned
    lv["rate_ratio"] = lv.churn_rate / (rest_x / rest_n).where(rest_x > 0)
    rows = []
    for attr, g in lv.groupby("attribute"):
        chi2, pval, v = cramers_v(g[["n_churned", "n_stayed"]].to_numpy())
        rows.append(dict(attribute=attr, n_levels=len(g), chi2=chi2, p_value=pval, cramers_v=v))
    cols = ["attribute", "n_levels", "chi2", "p_value", "cramers_v"]
    attrs = pd.DataFrame(rows, columns=cols).dropna(subset=["cramers_v"])
    attrs = attrs.sort_values(["cramers_v", "attribute"], ascending=[False, True]).reset_index(drop=True)
    first = lv[lv.attribute == lv.attribute.iloc[0]] if len(lv) else lv
    population, churned = int(first.n_users.sum()), int(first.n_churned.sum())
    reason = ""
    if population == 0:
        reason = (
            f"Who churned needs buyers active at the end of {p.prev.label}; the data has none "
            f"(the export starts later or nobody had ordered yet)."
        )
    elif population < MIN_PROFILE_USERS:
        reason = (
            f"Who churned needs at least {MIN_PROFILE_USERS} buyers active at the end of {p.prev.label} to "
            f"compare; the data has {population:,} ({churned:,} churned in {p.label})."
        )
    elif churned in (0, population):
        who = "none" if churned == 0 else "all"
        reason = (
            f"Who churned needs both churned and retained buyers to compare; {who} of the "
            f"{population:,} buyers active at the end of {p.prev.label} churned in {p.label}."
        )
    elif attrs.empty:
        reason = (
            "Who churned needs an attribute with at least two values; every attribute "
            "(channel, city, age, order mix, store ...) has a single value in this data."
        )
    return ChurnProfile(population=population, churned=churned, levels=lv, attributes=attrs, reason=reason)


# --------------------------------------------------------------------------- recall campaigns


def outcomes(con, p: Period, rc: RecallParams, dp: DataParams) -> pd.DataFrame:
    """Member outcomes of the recall campaigns of the last `campaign_months` months (matured windows)."""
    return query(
        "recall/recall_outcomes",
        con,
        from_date=p.shift(-(rc.campaign_months - 1)).start,
        to_date=p.end,
        as_of=p.as_of,
        window_days=rc.window_days,
        recall_kinds=dp.recall_coupon_kinds,
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
    incremental ROI = incremental GMV / cost (GMV, not margin). A campaign without a cost per
    touch takes params recall.cost_per_touch of its channel; a channel in neither leaves the
    cost and ROI unknown (NaN, the channels in cost_unknown_for), never 0. Pooled rows pool the counts
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
        "cost_unknown_for",
        "roi",
        "roi_low",
        "roi_high",
    ]
    if out.empty:
        return pd.DataFrame(columns=cols)
    # a campaign without a cost per touch takes the params' planning cost of its channel, else unknown
    cpt = out.cost_per_touch.astype(float).fillna(out.channel.astype(str).map(rc.cost_per_touch))
    out = out.assign(cost_per_touch=cpt)
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
        unknown = sorted(touched.channel[touched.cost_per_touch.isna()].astype(str).unique())
        touch_cost = np.nan if unknown else float(touched.cost_per_touch.sum())
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
                cost_unknown_for=", ".join(unknown),
                roi=inc_gmv / cost if cost else np.nan,
                roi_low=float(_quantile(gmv_draws, alpha)) / cost if cost else np.nan,
                roi_high=float(_quantile(gmv_draws, 1 - alpha)) / cost if cost else np.nan,
            )
        )
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class RecallEffects:
    """The recall campaigns of the measured months: effects of those with both arms, and the rest.

    effects: campaign_effects() of the campaigns with a treatment and a holdout arm (empty when
    none); unmeasured: campaign_id, label, channel, n_treatment, n_holdout of the campaigns
    missing an arm; reason: a plain sentence when no effect can be measured (empty otherwise).
    """

    effects: pd.DataFrame
    unmeasured: pd.DataFrame
    reason: str = ""

    @property
    def pooled(self) -> pd.Series:
        """The 'all' row (all measurable campaigns pooled)."""
        return self.effects[self.effects.group == "all"].iloc[0]


def recall_effects(con, p: Period, rc: RecallParams, dp: DataParams) -> RecallEffects:
    """outcomes() + campaign_effects() of the campaigns with both arms, or the reason there is none."""
    out = outcomes(con, p, rc, dp)
    months = f"the {rc.campaign_months} months to {p.label}"
    arms = out.groupby(["campaign_id", "campaign_name", "channel"], observed=True).agg(
        n_treatment=("arm", lambda a: int((a == "treatment").sum())),
        n_holdout=("arm", lambda a: int((a == "holdout").sum())),
    )
    arms = arms.reset_index().rename(columns={"campaign_name": "label"})
    both = arms[(arms.n_treatment > 0) & (arms.n_holdout > 0)].campaign_id
    unmeasured = arms[~arms.campaign_id.isin(both)].reset_index(drop=True)
    reason = ""
    if out.empty:
        reason = (
            f"The recall effect needs a recall campaign whose {rc.window_days}-day reactivation window "
            f"has ended; the data has none in {months}."
        )
    elif both.empty:
        reason = (
            f"The recall effect needs a randomised holdout (members drawn but not touched); none of the "
            f"{len(arms):,} recall campaigns in {months} kept one, so their reactivation cannot be told "
            f"apart from users who would have come back anyway."
        )
    eff = campaign_effects(out[out.campaign_id.isin(both)], rc)
    return RecallEffects(effects=eff, unmeasured=unmeasured, reason=reason)


def cost_text(r, prefix: str = "a cost of ") -> str:
    """'a cost of ¥12' or 'an unknown cost (no cost per touch for email)' for an effects row."""
    if r.cost_unknown_for:
        return f"an unknown cost (no cost per touch for {r.cost_unknown_for})"
    return f"{prefix}{yuan(r.cost)}"


def cost_cell(r) -> str:
    """The cost of an effects row in a table: '¥115.3', or 'unknown (email)'."""
    return f"unknown ({r.cost_unknown_for})" if r.cost_unknown_for else fmt_yuan(r.cost)


def unmeasured_sentence(unmeasured: pd.DataFrame, top: int = 5) -> str:
    """The campaigns left out of the effect because an arm is missing (RecallEffects.unmeasured)."""
    names = ", ".join(unmeasured.label.astype(str).head(top))
    more = f" and {len(unmeasured) - top:,} more" if len(unmeasured) > top else ""
    return (
        f"{len(unmeasured):,} recall campaign{'s' if len(unmeasured) > 1 else ''} without a randomised holdout "
        f"({names}{more}) {'are' if len(unmeasured) > 1 else 'is'} left out: measuring a campaign needs "
        f"members drawn into a holdout and not touched."
    )


def metric_suffixes(rows: pd.DataFrame) -> list[str]:
    """Metric key suffix per campaign row: its channel, numbered when a channel ran twice ('sms.2')."""
    n = rows.groupby("channel").channel.transform("size")
    k = rows.groupby("channel").cumcount() + 1
    return [c if m == 1 else f"{c}.{i}" for c, m, i in zip(rows.channel, n, k, strict=True)]


def campaign_sentence(r, rc: RecallParams) -> str:
    """The finding of one measured campaign (a campaign_effects row), every part from its numbers."""
    verdict = (
        "a significant lift"
        if r.significant and r.diff > 0
        else "not significant: the difference may be chance"
    )
    mde = (
        f"the arms could detect {pp(r.mde, signed=False)} with 80% power"
        if np.isfinite(r.mde)
        else "the holdout is too small or too uniform to state what the arms could detect"
    )
    roi = (
        f": incremental GMV per yuan {r.roi:.1f} (95% CI {r.roi_low:.1f} to {r.roi_high:.1f})"
        if np.isfinite(r.roi) and np.isfinite(r.roi_low) and np.isfinite(r.roi_high)
        else ""
    )
    touches = (
        f"{num(r.touches)} touches {yuan(r.touch_cost, 1)} + redeemed coupons {yuan(r.coupon_cost)}"
        if not r.cost_unknown_for
        else f"{num(r.touches)} touches, redeemed coupons {yuan(r.coupon_cost)}"
    )
    return (
        f"**{r.label}**: {pct(r.rate_treatment)} of {num(r.n_treatment)} treated users ordered within "
        f"{rc.window_days} days vs {pct(r.rate_holdout)} of {num(r.n_holdout)} in the holdout: **{pp(r.diff)}** "
        f"(95% CI {pp(r.ci_low)} to {pp(r.ci_high)}, {significance(r.p_value, rc.ci_level)}), {verdict}; "
        f"{mde}. About **{num(r.inc_reactivated)} extra users** came back, **{yuan(r.inc_gmv)} incremental GMV** "
        f"(bootstrap 95% CI {yuan(r.inc_gmv_low)} to {yuan(r.inc_gmv_high)}) for {cost_text(r)} ({touches}){roi}."
    )


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


def recall_list(con, p: Period, rc: RecallParams, dp: DataParams) -> pd.DataFrame:
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
        offline_channels=dp.offline_order_channels,
        channel_store_active=rc.channel_store_active,
        channel_store_churned=rc.channel_store_churned,
        channel_online=rc.channel_online,
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
        m.format(scene=s, face=f"{f:g}", min_spend=f"{ms:g}", currency=dp.currency_symbol)
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
    """Per channel: users, treated, holdout and the planned touch cost (treated x cost per touch).

    A channel without a cost per touch in params has touch_cost NaN (unknown, never 0).
    """
    g = lst.groupby("channel").agg(
        users=("user_id", "size"),
        treated=("arm", lambda a: int((a == "treatment").sum())),
        value_at_stake=("value_at_stake", "sum"),
    )
    g["holdout"] = g.users - g.treated
    g["touch_cost"] = g.treated * g.index.map(lambda c: rc.cost_per_touch.get(c, np.nan))
    return g.reset_index()


def plan_cost_text(plan: pd.DataFrame) -> str:
    """The planned cost sentence of list_plan(); channels without a cost per touch say it is unknown."""
    coupons = "plus the face value of redeemed coupons"
    unknown = plan[plan.touch_cost.isna()]
    if unknown.empty:
        return f"Planned touch cost {yuan(plan.touch_cost.sum(), 1)} {coupons}."
    names = ", ".join(unknown.channel.astype(str))
    known = plan[plan.touch_cost.notna()]
    missing = (
        f"he touch cost of {names} ({num(unknown.treated.sum())} treated users) is unknown: "
        f"params recall.cost_per_touch has no cost for {names}."
    )
    if known.empty:
        return f"T{missing}"
    return (
        f"Planned touch cost {yuan(known.touch_cost.sum(), 1)} for {', '.join(known.channel)} {coupons}; "
        f"t{missing}"
    )


def need_mix(lst: pd.DataFrame) -> pd.DataFrame:
    """Users per need (rows, largest first) x channel (columns) of a recall list."""
    t = lst.groupby(["need", "channel"]).size().unstack(fill_value=0)
    return t.loc[t.sum(axis=1).sort_values(ascending=False, kind="stable").index]


def need_note(lst: pd.DataFrame) -> str:
    """A sentence when no user's need is known (no order lines with a category), else ''."""
    if len(lst) and (lst.need == "unknown").all():
        return (
            "The need (each user's top category) needs order lines with product categories; the data has "
            "none, so every user gets the cheapest offer in params and the list is split by channel only."
        )
    return ""


def list_reason(con, p: Period, rc: RecallParams) -> str:
    """Why nobody qualifies for the recall list (needs build_stages); '' when somebody does."""
    f = query(
        "recall/list_funnel",
        con,
        as_of=p.as_of,
        at_risk_p=rc.at_risk_p,
        max_recency_days=rc.list_max_recency_days,
        cooldown_days=rc.list_cooldown_days,
    ).iloc[0]
    if f.n_candidates > f.n_cooldown:
        return ""
    head = "Nobody qualifies for the recall list"
    if f.n_active + f.n_churned == 0:
        return f"{head}: nobody has ordered by the end of {p.label}."
    if f.n_candidates:
        return (
            f"{head}: all {num(f.n_candidates)} candidates ({num(f.n_at_risk)} overdue active buyers, "
            f"{num(f.n_churned_recent)} recently churned) were put in a recall campaign in the last "
            f"{rc.list_cooldown_days} days (recall.list_cooldown_days)."
        )
    active = (
        f"none of the {num(f.n_active)} active buyers is overdue against their own rhythm "
        f"(P(gap this long) below {pct(rc.at_risk_p, 0)})"
        if f.n_active
        else "there is no active buyer"
    )
    churned = (
        f"all {num(f.n_churned)} churned buyers have been silent for more than {rc.list_max_recency_days} "
        f"days (recall.list_max_recency_days)"
        if f.n_churned
        else "there is no churned buyer"
    )
    return f"{head}: {active}, and {churned}. No list is written."


def touch_cost_cell(cost: float) -> str:
    """A planned touch cost in the list table: '¥8.1', or 'unknown' for a channel without a cost."""
    return fmt_yuan(cost) if np.isfinite(cost) else "unknown"


def weak_channel_action(w) -> str:
    """The action for a channel whose pooled lift is not significant (a campaign_effects row)."""
    detect = (
        f"the arms could only detect {pp(w.mde, signed=False)}"
        if np.isfinite(w.mde)
        else "the holdout is too small to detect any lift"
    )
    return (
        f"**Do not scale {w.label} yet**: its lift ({pp(w.diff)}, 95% CI {pp(w.ci_low)} to "
        f"{pp(w.ci_high)}) is not significant; {detect}."
    )


def no_action_sentence(p: Period) -> str:
    """The actions list when no section produced one."""
    return (
        f"No recall action for {p.label}: nobody qualifies for the recall list, no channel has a measured "
        f"lift and no active buyer is overdue against their own rhythm."
    )
