"""Play 4: churn recall (流失召回). SQL in sql/recall/, statistics added here.

The lifecycle stage of every user at every month end is defined once, in
sql/recall/user_stages.sql. :func:`build_stages` materialises it as the temp table
``recall_user_stages`` of the (read-only) connection; the stage sizes, transitions,
at-risk ranking, churn profile and recall list read that table. Each function takes
an open warehouse connection, the report Period and the recall params and returns a
small DataFrame (or a dataclass) ready to plot or print.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from userops import acquisition, clv, i18n, money
from userops.charts import fmt_yuan
from userops.db import create_temp_table, has_temp_table, has_warehouse_table, logged, query
from userops.experiment import assign_arms
from userops.experiments import PooledEffect, mh_risk_difference, pooled_effect, user_bootstrap_sums
from userops.narrative import currency, num, pct, pp, significance, yuan
from userops.outputs import global_holdout_users
from userops.params import AcquisitionParams, DataParams, ExperimentParams, RecallParams
from userops.period import Period
from userops.sql_files import sql_params
from userops.stats import cramers_v, diff_proportions, mde_two_proportions, proportion_ci


def T(key: str, **fields) -> str:
    """A text of play 04 in the report language (lib/userops/i18n/<lang>/recall.yaml)."""
    return i18n.t(f"recall_report.{key}", **fields)


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

    Without `months`: the stage_months shown, and as many more as the campaign months need.

    Output: one row per registered user x month end in the temp table recall_user_stages of
    this connection (replaced on each call); returns the months it covers.
    """
    first = p.shift(-((months or rc.stage_months) - 1))
    # by default the table also covers the month end before the first measured recall campaign,
    # so that members get their stage at assignment (recall/member_stages.sql)
    built = p.shift(-(max(rc.stage_months, rc.campaign_months + 1) - 1)) if months is None else first
    params = dict(
        from_month=built.start,
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
    if not has_warehouse_table(con, "fct_user_months"):
        raise RuntimeError(
            "this warehouse was loaded before fct_user_months (sql/warehouse/75_fct_user_months.sql) "
            "existed: load it again with `userops load` for the lifecycle stages"
        )
    with logged("recall/user_stages", params):
        create_temp_table(con, STAGE_TABLE, "recall/user_stages", params)
    return StagePanel(first, p)


def churned_rule(rc: RecallParams) -> str:
    """The churned stage's rule in words (user_stages.sql), for every report that uses it."""
    return (
        f"no order for {rc.churned_days}+ days, or, for users with at least {rc.min_gaps} gaps between order "
        f"days, for more than {rc.k_churned:g} × their median gap (at least {rc.churned_floor_days} days)"
    )


REACTIVATED_DEFINITION = "users churned at the previous month end who ordered in the month"


def reactivated(tr: pd.DataFrame) -> int:
    """Reactivated users of the month (is_reactivated in user_stages.sql), from transitions()."""
    return int(tr.reactivated.sum())


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
    return T("stage_reason", month=i18n.month(p), users=num(snap.now.n_users.sum()))


def transitions_reason(snap: StageSnapshot, p: Period) -> str:
    """Why the month's moves between stages cannot be shown ('' when they can)."""
    if snap.buyers_before:
        return ""
    return T("transitions_reason", prev=i18n.month(p.prev), month=i18n.month(p), buyers=num(snap.buyers))


def transitions_title(tr: pd.DataFrame, p: Period) -> str:
    """The heatmap's finding: declining -> churned rate and reactivated users, when they exist."""
    rows = tr.groupby("stage_prev").n_users.sum()
    names, prev = stage_names(in_text=True), i18n.month_short(p.prev)
    parts = []
    if rows.get("declining", 0):
        d2c = tr[(tr.stage_prev == "declining") & (tr.stage == "churned")].row_pct.iloc[0]
        parts.append(T("trans_chart.d2c", rate=pct(d2c), declining=names["declining"]))
    else:
        parts.append(T("trans_chart.no_declining", prev=prev, declining=names["declining"]))
    if rows.get("churned", 0):
        parts.append(T("trans_chart.reactivated", n=num(reactivated(tr)), churned=names["churned"]))
    else:
        parts.append(T("trans_chart.no_churned", prev=prev, churned=names["churned"]))
    text = T("trans_chart.sep").join(parts)
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


@dataclass(frozen=True)
class ValueModel:
    """How the value at stake was projected: the BG/NBD fit, or the rule used when it cannot be."""

    basis: str  # "bgnbd" or "rule"
    reason: str  # why the BG/NBD was not used ('' when it was)
    bg: clv.BetaGeo | None
    margin_basis: str  # money.margin_basis of the margin per purchase day
    horizon_days: int
    buyers: int  # customers the model was fitted on (every buyer up to the month end)
    repeaters: int = 0  # of them, customers who bought on a second day

    @property
    def why(self) -> str:
        """Why the rule replaces the model, in the report language ('' when the model is used)."""
        if not self.reason:
            return ""
        if self.reason == NOT_CONVERGED:
            return T("value.not_converged")
        return T("value.few_repeaters", rep=num(self.repeaters), n=num(self.buyers))


NOT_CONVERGED = "The BG/NBD fit did not converge to usable parameters on this data."


def _value_model(
    df: pd.DataFrame, rc: RecallParams, exp: ExperimentParams, ap: AcquisitionParams
) -> ValueModel:
    """Fit the BG/NBD on every buyer (day level); the rule instead when the fit is degenerate."""
    gmv = float(df.gmv.sum())
    basis = money.margin_basis(float(df.gmv_assumed.sum()) / gmv if gmv else 0.0, exp.assumed_margin_rate)
    why = acquisition._repeat_reason(df, ap, "here")
    bg = None
    if not why:
        same = df.groupby(["frequency", "recency", "T"], as_index=False).size()  # one row per history
        bg = clv.fit_bgnbd(same.frequency, same.recency, same["T"], weights=same["size"])
        probe = bg.expected_purchases(rc.value_horizon_days, [0, 1], [0, 10], [30, 30])
        if not (np.isfinite(probe).all() and (probe >= 0).all()):
            why, bg = NOT_CONVERGED, None
    return ValueModel(
        basis="bgnbd" if bg else "rule",
        reason=why,
        bg=bg,
        margin_basis=basis,
        horizon_days=rc.value_horizon_days,
        buyers=len(df),
        repeaters=int((df.frequency > 0).sum()),
    )


def buyer_values(
    con, p: Period, rc: RecallParams, exp: ExperimentParams | None = None, ap: AcquisitionParams | None = None
) -> tuple[pd.DataFrame, ValueModel]:
    """Every buyer at the month end with the gross margin they are expected to bring over the next
    ``rc.value_horizon_days`` days (needs build_stages): the value at stake if they lapse.

    BG/NBD (clv.py, fitted on every buyer at day level): p_alive = P(alive | x, t_x, T) and
    expected_orders = conditional expected purchase days in the horizon (which already weighs by
    P(alive), so a long silence lowers it); value_at_stake = expected_orders x margin_per_day
    (gross margin per purchase day, the money basis). When the fit is degenerate (too few
    repeat buyers: params acquisition.ltv_min_repeaters / ltv_min_repeat_share, as for LTV), the
    rule conditions on the current silence instead: expected_orders = the user's posterior order-day
    rate x horizon x P(a gap at least as long as the current silence) (user_stages.sql), p_alive NaN.
    """
    exp, ap = exp or ExperimentParams(), ap or AcquisitionParams()
    df = query(
        "recall/at_risk",
        con,
        as_of=p.as_of,
        at_risk_p=rc.at_risk_p,
        assumed_margin_rate=exp.assumed_margin_rate,
        declining_days=rc.declining_days,
    )
    vm = _value_model(df, rc, exp, ap)
    return score_values(df, vm), vm


def score_values(df: pd.DataFrame, vm: ValueModel) -> pd.DataFrame:
    """df (the columns of recall/at_risk.sql) with p_alive, expected_orders and value_at_stake."""
    h = vm.horizon_days
    if vm.bg is not None:
        p_alive = clv.p_alive(vm.bg, df.frequency, df.recency, df["T"])
        expected = vm.bg.expected_purchases(h, df.frequency, df.recency, df["T"])
    else:
        p_alive = np.full(len(df), np.nan)
        expected = df.rate_per_day * h * df.p_gap_at_least
    out = df.assign(p_alive=p_alive, expected_orders=expected)
    out["value_at_stake"] = out.expected_orders * out.margin_per_day
    return out


def rank_at_risk(values: pd.DataFrame, vm: ValueModel) -> pd.DataFrame:
    """The non-churned buyers of buyer_values(), ranked by value at stake; attrs["value_model"] = vm."""
    ar = (
        values[values.is_active]
        .sort_values(["value_at_stake", "user_id"], ascending=[False, True])
        .reset_index(drop=True)
    )
    ar.attrs["value_model"] = vm
    return ar


def at_risk(
    con, p: Period, rc: RecallParams, exp: ExperimentParams | None = None, ap: AcquisitionParams | None = None
) -> pd.DataFrame:
    """Every non-churned buyer at the month end, scored and ranked by value at stake (buyer_values)."""
    return rank_at_risk(*buyer_values(con, p, rc, exp, ap))


def value_sentence(vm: ValueModel) -> str:
    """How the value at stake is projected, in one or two plain sentences (report language)."""
    basis = margin_words(vm.margin_basis)
    if vm.basis == "bgnbd":
        return T("value.model", days=vm.horizon_days, buyers=num(vm.buyers), basis=basis)
    return T("value.rule", why=vm.why.rstrip(".。"), days=vm.horizon_days, basis=basis)


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
    if snap.buyers:
        return T("at_risk_reason.all_churned", month=i18n.month(p), buyers=num(snap.buyers))
    return T("at_risk_reason.none", month=i18n.month(p))


def rules_sentence(cmp: RuleComparison, rc: RecallParams) -> str:
    """The personal vs global rule finding, each clause only when its group has users."""
    days = rc.declining_days
    head = T(
        "rules.head",
        active=num(cmp.active),
        personal=num(cmp.personal),
        value=yuan(cmp.value_personal),
        horizon=rc.value_horizon_days,
        days=days,
        global_=num(cmp.global_),
        both=num(cmp.both),
    )
    personal = (
        T(
            "rules.personal",
            n=num(cmp.personal_only),
            gap=num(cmp.personal_only_gap),
            recency=num(cmp.personal_only_recency),
            value=yuan(cmp.value_personal_only),
        )
        if cmp.personal_only
        else T("rules.personal_none", days=days)
    )
    glob = (
        T("rules.glob", days=days, n=num(cmp.global_only), gap=num(cmp.global_only_gap),
          recency=num(cmp.global_only_recency))
        if cmp.global_only
        else T("rules.glob_none", days=days)
    )  # fmt: skip
    return T("rules.join", head=head, personal=personal, glob=glob)


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
    reason = _profile_reason(population, churned, attrs.empty, p)
    return ChurnProfile(population=population, churned=churned, levels=lv, attributes=attrs, reason=reason)


# --------------------------------------------------------------------------- recall campaigns


def outcomes(
    con, p: Period, rc: RecallParams, dp: DataParams, exp: ExperimentParams | None = None
) -> pd.DataFrame:
    """Member outcomes of the recall campaigns of the last `campaign_months` months (matured windows).

    With the lifecycle stages built (build_stages), each member also gets stage_at_assignment (the
    stage at the last month end before the assignment; 'unknown' outside the built months).
    """
    exp = exp or ExperimentParams()
    first = p.shift(-(rc.campaign_months - 1)).start
    out = query(
        "recall/recall_outcomes",
        con,
        from_date=first,
        to_date=p.end,
        as_of=p.as_of,
        window_days=rc.window_days,
        recall_kinds=dp.recall_coupon_kinds,
        assumed_margin_rate=exp.assumed_margin_rate,
    )
    built = has_temp_table(con, STAGE_TABLE)
    stages = (
        query("recall/member_stages", con, from_date=first, to_date=p.end)
        if built
        else pd.DataFrame(columns=["campaign_id", "user_id", "stage_at_assignment"])
    )
    out = out.merge(stages, on=["campaign_id", "user_id"], how="left")
    out["stage_at_assignment"] = out.stage_at_assignment.fillna("unknown").astype(str)
    return out


def _quantile(draws: np.ndarray, q: float) -> float:
    """Quantile of bootstrap draws ignoring NaNs; NaN (no warning) when every draw is NaN."""
    ok = draws[~np.isnan(draws)]
    return float(np.quantile(ok, q)) if len(ok) else float("nan")


INCREMENT_VALUES = ("orders", "gmv", "margin")


def campaign_increments(
    out: pd.DataFrame, draws: int, seed: int, block_cells: int = 4_000_000
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per campaign: (treatment mean - holdout mean) x treated members of orders, paid GMV and margin.

    Returns the estimates (one row per campaign_id, sorted) and, per value, bootstrap draws
    (draws x campaigns) from one user-resampling bootstrap: every draw gives each *user* a
    Poisson(1) weight shared by all their campaign rows, so a user in several campaigns is not
    taken as independent and sums over campaigns keep their correlation. NaN where an arm is empty.

    The weighted sums per campaign x arm are one sparse product per block of draws
    (experiments.user_bootstrap_sums: a rows x (count | values by campaign x arm) design, zeros
    left out, one Poisson weight per pattern of equal users): no one-hot matrix, and a block holds
    ``block_cells // patterns`` draws x patterns weights, whatever the number of campaigns.
    """
    camp_ix, camps = pd.factorize(out.campaign_id, sort=True)
    k = len(camps)
    cell = camp_ix * 2 + (out.arm == "holdout").to_numpy()
    n_t = np.bincount(camp_ix[(out.arm == "treatment").to_numpy()], minlength=k).astype(float)
    user_ix = pd.factorize(out.user_id, sort=True)[0]
    xs = [np.ones(len(out))] + [out[v].to_numpy(float) for v in INCREMENT_VALUES]
    rows = np.tile(np.arange(len(out)), len(xs))
    cols = np.concatenate([cell + 2 * k * j for j in range(len(xs))])
    design = sparse.csr_matrix((np.concatenate(xs), (rows, cols)), shape=(len(out), 2 * k * len(xs)))
    design.eliminate_zeros()  # rows x (count | values) by campaign x arm

    def incs(sums: np.ndarray) -> dict[str, np.ndarray]:  # sums: b x (count | values) -> per value b x k
        n = sums[:, : 2 * k]
        res = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, v in enumerate(INCREMENT_VALUES, start=1):
                s = sums[:, 2 * k * j : 2 * k * (j + 1)]
                res[v] = (s[:, 0::2] / n[:, 0::2] - s[:, 1::2] / n[:, 1::2]) * n_t
        return res

    point = incs(np.asarray(design.sum(axis=0)))
    est = pd.DataFrame({"campaign_id": list(camps), **{v: point[v][0] for v in INCREMENT_VALUES}})
    parts: dict[str, list[np.ndarray]] = {v: [] for v in INCREMENT_VALUES}
    for sums in user_bootstrap_sums(user_ix, design, draws, seed, block_cells):
        for v, d in incs(sums).items():
            parts[v].append(d)
    boot = {v: np.concatenate(p) if p else np.zeros((0, k)) for v, p in parts.items()}
    return est, boot


def _pooled(g: pd.DataFrame, exp: ExperimentParams) -> PooledEffect:
    """Mantel-Haenszel by campaign with the rule of SEVERAL_CAMPAIGNS_RULE (user-bootstrap CI).

    Every member row is kept in both arms (monthly campaigns re-draw users who did not come back:
    dropping the holdout rows of users treated later would keep only the holdout users who
    returned); holdout rows of one user in several campaigns drawn at the same instant (one
    holdout shared by those campaigns) weigh 1/m each.
    """
    hold = g.arm == "holdout"
    drawn = g.assigned_at if "assigned_at" in g else g.started_at
    m = g[hold].groupby([g.user_id[hold], drawn[hold]]).campaign_id.transform("nunique")
    weight = pd.Series(1.0, index=g.index)
    weight[hold] = 1.0 / m
    rows = g.assign(stratum=g.campaign_id, outcome=g.reactivated.astype(int), weight=weight)
    return pooled_effect(rows, exp.ci_level, exp.bootstrap_draws, exp.bootstrap_seed, holdout_rules=False)


EFFECT_COLUMNS = [
    "group",
    "label",
    "channel",
    "started_at",
    "n_campaigns",
    "n_treatment",
    "n_holdout",
    "rate_treatment",
    "rate_holdout",
    "diff",
    "ci_low",
    "ci_high",
    "p_value",
    "significant",
    "method",
    "raw_diff",
    "raw_ci_low",
    "raw_ci_high",
    "mde",
    "inc_reactivated",
    "inc_orders",
    "inc_orders_low",
    "inc_orders_high",
    "inc_gmv",
    "inc_gmv_low",
    "inc_gmv_high",
    "inc_margin",
    "inc_margin_low",
    "inc_margin_high",
    "window_orders",
    "assumed_orders",
    "touches",
    "touch_cost",
    "fixed_cost",
    "coupon_face_redeemed",
    "cost",
    "cost_unknown_for",
    "roi",
    "roi_low",
    "roi_high",
    "gmv_per_yuan",
    "contaminated_holdout_rows",
    "shared_holdout_users",
]


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def campaign_effects(
    out: pd.DataFrame, rc: RecallParams, exp: ExperimentParams | None = None
) -> pd.DataFrame:
    """Treatment vs holdout per campaign, per channel and for all campaigns pooled ('all').

    Rates: a campaign's own difference (Newcombe CI, score test); a channel's and 'all' are the
    Mantel-Haenszel difference stratified by campaign (experiments.pooled_effect: a holdout shared
    by several campaigns counted once, holdout rows of users treated in another campaign dropped,
    CI by a user-resampling bootstrap); raw_diff = the difference of counts added across
    campaigns (Simpson-prone; shown for comparison only). Increments = (treatment mean - holdout
    mean) x treated members per campaign, summed over campaigns, with a user-resampling bootstrap
    CI (campaign_increments); channel and 'all' rows pool the campaigns with both arms only.
    Money basis (userops.money): paid GMV, gross margin (assumed rate
    where cost of goods is unknown: assumed_orders), cost = touches x cost per touch + params
    experiments.campaign_fixed_cost per campaign; a redeemed coupon is inside paid GMV and never
    added to the cost (coupon_face_redeemed is shown for information). roi = (incremental margin
    - cost) / cost; gmv_per_yuan = incremental paid GMV / cost. A campaign without a cost per
    touch takes params recall.cost_per_touch of its channel; a channel in neither leaves the cost
    and ROI unknown (NaN, the channels in cost_unknown_for), never 0.
    """
    exp = exp or ExperimentParams()
    if out.empty:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    cpt = out.cost_per_touch.astype(float).fillna(out.channel.astype(str).map(rc.cost_per_touch))
    out = out.assign(cost_per_touch=cpt)
    est, boot = campaign_increments(out, rc.bootstrap_draws, rc.bootstrap_seed)
    col = {cid: i for i, cid in enumerate(est.campaign_id)}
    alpha = (1 - rc.ci_level) / 2
    arms = out.groupby("campaign_id").arm.agg(lambda a: {"treatment", "holdout"} <= set(a))
    both = out[out.campaign_id.isin(arms[arms].index)]  # channels and 'all' pool measurable campaigns
    groups = [("campaign", cid, g) for cid, g in out.groupby("campaign_id", sort=True)]
    groups += [("channel", ch, g) for ch, g in both.groupby("channel", sort=True)]
    groups += [("all", "all", both)] if len(both) else []
    rows = []
    for kind, key, g in groups:
        t, h = g[g.arm == "treatment"], g[g.arm == "holdout"]
        with warnings.catch_warnings():  # degenerate arms (all zero) make statsmodels divide by 0
            warnings.simplefilter("ignore", RuntimeWarning)
            raw = diff_proportions(
                int(t.reactivated.sum()), len(t), int(h.reactivated.sum()), len(h), rc.ci_level
            )
        if kind == "campaign":
            diff, lo, hi, pv, sig, method = (
                raw.diff,
                raw.ci_low,
                raw.ci_high,
                raw.p_value,
                raw.significant,
                "Newcombe",
            )
            contaminated = shared = 0
        else:
            pe = _pooled(g, exp)
            e = pe.effect
            diff, lo, hi, pv, sig, method = e.diff, e.ci_low, e.ci_high, e.p_value, e.significant, e.method
            contaminated, shared = pe.contaminated_holdout_rows, pe.shared_holdout_users
        ids = [col[i] for i in sorted(g.campaign_id.unique())]
        inc = {v: float(est[v].to_numpy()[ids].sum()) for v in INCREMENT_VALUES}
        qs = {v: boot[v][:, ids].sum(axis=1) for v in INCREMENT_VALUES}
        touched = t[t.is_touched]
        unknown = sorted(touched.channel[touched.cost_per_touch.isna()].astype(str).unique())
        touch_cost = np.nan if unknown else float(touched.cost_per_touch.sum())
        fixed = exp.campaign_fixed_cost * len(ids)
        cost = touch_cost + fixed  # NaN when a channel's cost per touch is unknown
        m_lo, m_hi = _quantile(qs["margin"], alpha), _quantile(qs["margin"], 1 - alpha)
        rows.append(
            dict(
                group=kind,
                label=g.campaign_name.iloc[0] if kind == "campaign" else key,
                channel=g.channel.iloc[0] if kind != "all" else "all",
                started_at=g.started_at.min(),
                n_campaigns=len(ids),
                n_treatment=len(t),
                n_holdout=len(h),
                rate_treatment=raw.rate_treatment,
                rate_holdout=raw.rate_holdout,
                diff=diff,
                ci_low=lo,
                ci_high=hi,
                p_value=pv,
                significant=bool(sig),
                method=method,
                raw_diff=raw.diff,
                raw_ci_low=raw.ci_low,
                raw_ci_high=raw.ci_high,
                mde=mde_two_proportions(raw.rate_holdout, len(t), len(h), rc.ci_level),
                inc_reactivated=diff * len(t),
                inc_orders=inc["orders"],
                inc_orders_low=_quantile(qs["orders"], alpha),
                inc_orders_high=_quantile(qs["orders"], 1 - alpha),
                inc_gmv=inc["gmv"],
                inc_gmv_low=_quantile(qs["gmv"], alpha),
                inc_gmv_high=_quantile(qs["gmv"], 1 - alpha),
                inc_margin=inc["margin"],
                inc_margin_low=m_lo,
                inc_margin_high=m_hi,
                window_orders=int(g.orders.sum()),
                assumed_orders=int(g.assumed_orders.sum()),
                touches=len(touched),
                touch_cost=touch_cost,
                fixed_cost=fixed,
                coupon_face_redeemed=float(g.face_redeemed.astype(float).sum()),
                cost=cost,
                cost_unknown_for=", ".join(unknown),
                roi=_nan(money.roi(inc["margin"], cost)),
                roi_low=_nan(money.roi(m_lo, cost)),
                roi_high=_nan(money.roi(m_hi, cost)),
                gmv_per_yuan=_nan(money.gmv_per_yuan(inc["gmv"], cost)),
                contaminated_holdout_rows=contaminated,
                shared_holdout_users=shared,
            )
        )
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def margin_basis(r, exp: ExperimentParams) -> str:
    """The basis of an effects row's margin figures: measured, assumed, or partly assumed."""
    if r.window_orders == 0 or r.assumed_orders == 0:
        return money.margin_label(None)
    if r.assumed_orders == r.window_orders:
        return money.margin_label(exp.assumed_margin_rate)
    return (
        f"{money.GROSS_MARGIN}; {pct(r.assumed_orders / r.window_orders)} of the orders have no cost of goods "
        f"and use an assumed {exp.assumed_margin_rate:.0%} of paid GMV"
    )


@dataclass(frozen=True)
class RecallEffects:
    """The recall campaigns of the measured months: effects of those with both arms, and the rest.

    effects: campaign_effects() of the campaigns with a treatment and a holdout arm (empty when
    none); unmeasured: campaign_id, label, channel, n_treatment, n_holdout of the campaigns
    missing an arm; outcomes: the member rows measured (both arms); reason: a plain sentence when
    no effect can be measured (empty otherwise).
    """

    effects: pd.DataFrame
    unmeasured: pd.DataFrame
    reason: str = ""
    outcomes: pd.DataFrame | None = None

    @property
    def pooled(self) -> pd.Series:
        """The 'all' row (all measurable campaigns pooled, stratified by campaign)."""
        return self.effects[self.effects.group == "all"].iloc[0]


def recall_effects(
    con, p: Period, rc: RecallParams, dp: DataParams, exp: ExperimentParams | None = None
) -> RecallEffects:
    """outcomes() + campaign_effects() of the campaigns with both arms, or the reason there is none."""
    out = outcomes(con, p, rc, dp, exp)
    arms = out.groupby(["campaign_id", "campaign_name", "channel"], observed=True).agg(
        n_treatment=("arm", lambda a: int((a == "treatment").sum())),
        n_holdout=("arm", lambda a: int((a == "holdout").sum())),
    )
    arms = arms.reset_index().rename(columns={"campaign_name": "label"})
    both = arms[(arms.n_treatment > 0) & (arms.n_holdout > 0)].campaign_id
    unmeasured = arms[~arms.campaign_id.isin(both)].reset_index(drop=True)
    reason = effects_reason(out, both, len(arms), p, rc)
    measured = out[out.campaign_id.isin(both)].reset_index(drop=True)
    eff = campaign_effects(measured, rc, exp)
    return RecallEffects(effects=eff, unmeasured=unmeasured, reason=reason, outcomes=measured)


def cost_text(r) -> str:
    """'a campaign cost of ¥12 (3 touches)' or why it is unknown, for an effects row (report language)."""
    if r.cost_unknown_for:
        return T("money.cost_unknown", channel=channel_name(r.cost_unknown_for))
    fixed = T("money.fixed", fixed=yuan(r.fixed_cost)) if r.fixed_cost else ""
    return T("money.cost", cost=yuan(r.cost, 1), touches=num(r.touches), fixed=fixed)


def cost_cell(r) -> str:
    """The cost of an effects row in a table: '¥115.3', or 'unknown (email)'."""
    if r.cost_unknown_for:
        return T("money.cost_cell_unknown", channel=channel_name(r.cost_unknown_for))
    return fmt_yuan(r.cost)


def roi_text(r) -> str:
    """'ROI on margin 2.3 (95% CI 0.4–4.1)', or why there is none (an effects row; report language)."""
    from userops import narrative as nv

    if r.cost_unknown_for:
        return T("money.roi_unknown", channel=channel_name(r.cost_unknown_for))
    if not np.isfinite(r.roi):
        return T("money.roi_free")
    ci = (
        T("money.roi_ci", ci=nv.ci(r.roi_low, r.roi_high, _ratio))
        if np.isfinite(r.roi_low) and np.isfinite(r.roi_high)
        else ""
    )
    return T("money.roi", roi=_ratio(r.roi), ci=ci)


def roi_fields(r) -> dict[str, str]:
    """The pooled margin ROI of an effects row as the action and the summary write it: ``roi`` '2.3' and
    ``ci`` ' (95% CI 0.4–4.1)' ('' when an end of the interval is missing or the cost is unknown)."""
    from userops import i18n
    from userops import narrative as nv

    finite = not r.cost_unknown_for and np.isfinite(r.roi_low) and np.isfinite(r.roi_high)
    ci = i18n.t("recall.roi_ci", ci=nv.ci(r.roi_low, r.roi_high, _ratio)) if finite else ""
    return {"roi": _ratio(r.roi), "ci": ci}


def recall_action(r) -> str | None:
    """Keep, measure or rethink recalling (``money.verdict`` on an effects 'all' row: its pooled lift
    and its margin ROI interval), with the money behind it; None when the lift is not clear (report
    language: lib/userops/i18n, keys recall.*)."""
    from userops import i18n
    from userops import narrative as nv

    channel = i18n.name("campaign_channel", r.cost_unknown_for) if r.cost_unknown_for else ""
    finite = not r.cost_unknown_for and np.isfinite(r.roi_low) and np.isfinite(r.roi_high)
    if r.cost_unknown_for:
        roi, cost = (
            i18n.t("recall.roi_unknown", channel=channel),
            i18n.t("recall.cost_unknown", channel=channel),
        )
    else:
        fixed = i18n.t("recall.cost_fixed", fixed=yuan(r.fixed_cost)) if r.fixed_cost else ""
        cost = i18n.t("recall.cost", cost=yuan(r.cost, 1), touches=num(r.touches), fixed=fixed)
        roi = i18n.t("recall.roi_free") if not np.isfinite(r.roi) else i18n.t("recall.roi", **roi_fields(r))
    clear = bool(r.significant and r["diff"] > 0)
    roi_value = None if r.cost_unknown_for else r.roi  # no ROI without the cost of every touch
    v = money.verdict(clear, roi_value, (r.roi_low, r.roi_high), cost_known=not r.cost_unknown_for)
    if v == money.TEST:
        return None
    lift = {"lift": pp(r["diff"]), "ci": nv.ci(r.ci_low, r.ci_high, pp)}
    key = "measure_unknown" if v == money.MEASURE and not finite else v
    return i18n.t(f"recall.{key}", roi=roi, margin=yuan(r.inc_margin), cost=cost, **lift)


def unmeasured_sentence(unmeasured: pd.DataFrame, top: int = 5) -> str:
    """The campaigns left out of the effect because an arm is missing (RecallEffects.unmeasured)."""
    names = i18n.t("common.list_sep").join(unmeasured.label.astype(str).head(top))
    more = T("unmeasured_more", n=num(len(unmeasured) - top)) if len(unmeasured) > top else ""
    return T("unmeasured", n=num(len(unmeasured)), names=names, more=more)


def metric_suffixes(rows: pd.DataFrame) -> list[str]:
    """Metric key suffix per campaign row: its channel, numbered when a channel ran twice ('sms.2')."""
    n = rows.groupby("channel").channel.transform("size")
    k = rows.groupby("channel").cumcount() + 1
    return [c if m == 1 else f"{c}.{i}" for c, m, i in zip(rows.channel, n, k, strict=True)]


def money_sentence(r, exp: ExperimentParams) -> str:
    """Incremental orders, paid GMV and margin, cost and ROI of an effects row, each with its basis."""
    from userops import narrative as nv

    per_yuan = (
        T("money.per_yuan", ratio=_ratio(r.gmv_per_yuan), currency=currency())
        if np.isfinite(r.gmv_per_yuan)
        else ""
    )
    return T(
        "money.sentence",
        orders=num(r.inc_orders),
        orders_ci=nv.ci(r.inc_orders_low, r.inc_orders_high, num),
        gmv=yuan(r.inc_gmv),
        gmv_ci=nv.ci(r.inc_gmv_low, r.inc_gmv_high, yuan),
        margin=yuan(r.inc_margin),
        margin_ci=nv.ci(r.inc_margin_low, r.inc_margin_high, yuan),
        basis=margin_basis_text(r, exp),
        cost=cost_text(r),
        roi=roi_text(r),
        per_yuan=per_yuan,
        coupons=yuan(r.coupon_face_redeemed),
    )


def campaign_sentence(r, rc: RecallParams, exp: ExperimentParams | None = None) -> str:
    """The finding of one measured campaign (a campaign_effects row), every part from its numbers."""
    from userops import narrative as nv

    exp = exp or ExperimentParams()
    verdict = T("campaign.significant" if r.significant and r.diff > 0 else "campaign.not_significant")
    mde = T("campaign.mde", mde=pp(r.mde, signed=False)) if np.isfinite(r.mde) else T("campaign.mde_none")
    return T(
        "campaign.sentence",
        label=r.label,
        rate_t=pct(r.rate_treatment),
        n_t=num(r.n_treatment),
        days=rc.window_days,
        rate_h=pct(r.rate_holdout),
        n_h=num(r.n_holdout),
        diff=pp(r.diff),
        ci=nv.ci(r.ci_low, r.ci_high, pp),
        significance=significance(r.p_value, rc.ci_level),
        verdict=verdict,
        mde=mde,
        extra=num(r.inc_reactivated),
        money=money_sentence(r, exp),
    )


def pooled_sentence(r, rc: RecallParams, exp: ExperimentParams, n_campaigns: int, since: str) -> str:
    """The pooled ('all') finding: the stratified lift, the raw-count comparison and the money."""
    from userops import narrative as nv

    raw = T("pooled.raw", raw=pp(r.raw_diff), rate_t=pct(r.rate_treatment), rate_h=pct(r.rate_holdout))
    return T(
        "pooled.sentence",
        n=n_campaigns,
        since=since,
        diff=pp(r["diff"]),
        ci=nv.ci(r.ci_low, r.ci_high, pp),
        significance=significance(r.p_value, rc.ci_level),
        raw=raw,
        extra=num(r.inc_reactivated),
        money=money_sentence(r, exp),
    )


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True)
class ChannelVerdict:
    """Which recall channel to favour, only from channels randomised against each other.

    favour: the channel to favour ('' when none); sentence: the finding (why channels are or are
    not comparable); splits: the number of draws in which several channels were randomised.
    """

    favour: str
    sentence: str
    splits: int
    channels: int = 0  # recall channels that ran

    @property
    def needs_split(self) -> bool:
        """Several channels ran but were never randomised against each other."""
        return self.channels > 1 and self.splits == 0


def channel_verdict(out: pd.DataFrame, rc: RecallParams) -> ChannelVerdict:
    """Compare recall channels only where they were randomised within one draw.

    A randomised channel split is read from the data as campaigns of different channels whose
    members were drawn at the same instant (assigned_at), as the recall list's channel_arm column
    comes back when the CRM sends one campaign per arm. Within such draws the treated users'
    reactivation of the best channel is compared with the other channels' (Mantel-Haenszel,
    stratified by draw); "favour" only when that difference is significant. Campaigns that ran in
    different months, or whose channel followed the store-share rule, are not comparable.
    """
    from userops import narrative as nv

    t = out[out.arm == "treatment"]
    if t.empty:
        return ChannelVerdict("", T("verdict.no_treated"), 0)
    draw = t.groupby("campaign_id").assigned_at.transform("min") if "assigned_at" in t else t.started_at
    t = t.assign(draw=draw)
    n_ch = t.groupby("draw").channel.transform("nunique")
    split = t[n_ch > 1]
    channels = sorted(t.channel.astype(str).unique())
    if split.empty:
        if len(channels) < 2:
            text = T("verdict.one_channel", channel=channel_name(channels[0]))
        else:
            months = t.groupby("channel").started_at.agg(_months_text)
            when = T("trans_chart.sep").join(
                T("verdict.when", channel=channel_name(c), months=m) for c, m in months.items()
            )
            text = T("verdict.not_comparable", when=when)
        return ChannelVerdict("", text, 0, len(channels))
    rates = split.groupby("channel").reactivated.mean().sort_values(ascending=False)
    best = str(rates.index[0])
    per = (
        split.groupby(["draw", split.channel == best]).reactivated.agg(["sum", "size"]).unstack(fill_value=0)
    )
    e = mh_risk_difference(
        per[("sum", True)], per[("size", True)], per[("sum", False)], per[("size", False)], rc.ci_level
    )
    n_splits = int(split.draw.nunique())
    head = T(
        "verdict.head",
        n=n_splits,
        best=channel_name(best),
        diff=pp(e.diff),
        ci=nv.ci(e.ci_low, e.ci_high, pp),
    )
    if e.significant and e.diff > 0:
        return ChannelVerdict(best, T("verdict.significant", head=head), n_splits, len(channels))
    return ChannelVerdict("", T("verdict.not_significant", head=head), n_splits, len(channels))


# --------------------------------------------------------------------------- forecast


def stage_lifts(out: pd.DataFrame, exp: ExperimentParams, min_users: int = MIN_PROFILE_USERS) -> pd.DataFrame:
    """The pooled lift (stratified by campaign) measured on members of each stage at assignment.

    One row per stage_at_assignment with at least `min_users` members in each arm: n_treatment,
    n_holdout, diff, ci_low, ci_high, significant. Stages with fewer members are left out.
    """
    rows = []
    for stage, g in out.groupby("stage_at_assignment", sort=True):
        nt, nh = int((g.arm == "treatment").sum()), int((g.arm == "holdout").sum())
        if stage == "unknown" or nt < min_users or nh < min_users:
            continue
        e = _pooled(g, exp).effect
        rows.append(
            dict(
                stage=stage,
                n_treatment=nt,
                n_holdout=nh,
                diff=e.diff,
                ci_low=e.ci_low,
                ci_high=e.ci_high,
                significant=e.significant,
            )
        )
    cols = ["stage", "n_treatment", "n_holdout", "diff", "ci_low", "ci_high", "significant"]
    return pd.DataFrame(rows, columns=cols)


def forecast_sentence(lst: pd.DataFrame, lifts: pd.DataFrame | None) -> str:
    """Extra users the list's treated users should bring back, per stage, from the lift of that stage.

    A stage without a lift measured on comparable members (same stage at assignment) gets no
    forecast; a stage whose lift is not significant says so.
    """
    from userops import narrative as nv

    treated = lst[lst.arm == "treatment"].groupby("stage").size()
    if treated.empty:
        return ""
    if lifts is None:
        return " " + T("forecast.none_measured")
    lifts = lifts.set_index("stage")
    parts, none = [], []
    for stage, n in treated.items():
        name = i18n.name("stage", stage)
        if stage not in lifts.index:
            none.append(T("forecast.none_item", stage=name, n=num(n)))
            continue
        r = lifts.loc[stage]
        kw = dict(n=num(n), stage=name, lift=pp(r["diff"]))
        if r.ci_low > 0:
            ci = nv.ci(n * r.ci_low, n * r.ci_high, num)
            members = num(r.n_treatment + r.n_holdout)
            parts.append(T("forecast.sure", extra=num(n * r["diff"]), ci=ci, members=members, **kw))
        else:
            parts.append(T("forecast.unsure", ci=nv.ci(r.ci_low, r.ci_high, pp), **kw))
    if none:
        stages = i18n.t("common.list_sep").join(none)
        parts.append(T("forecast.none", stages=stages, min=MIN_PROFILE_USERS))
    return T("forecast.sentence", text=T("forecast.sep").join(parts))


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
    "channel_arm",
    "content",
    "face_value",
    "min_spend",
    "send_hour",
    "segment",
    "stage",
    "recency_days",
    "value_at_stake",
]


def recall_list(
    con,
    p: Period,
    rc: RecallParams,
    dp: DataParams,
    exp: ExperimentParams | None = None,
    ap: AcquisitionParams | None = None,
    values: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Users to recall right after the month, in the campaign_members format (needs build_stages).

    ``values``: buyer_values() of the same month when already computed (else computed here).

    campaign_members columns: campaign_id (empty: the CRM assigns it), user_id, arm (seeded
    holdout, stratified by segment x channel), assigned_at (the first instant after the month,
    when the arms are drawn), touched_at (empty: the CRM fills it when sent); then need (top
    category), scene / content / face_value / min_spend (the params offer for that need; a
    need without an offer gets the cheapest offer), channel (the store-share rule),
    channel_arm (a randomised channel split: each user's stable draw among the list's channels,
    sha256 of the holdout seed and the original user id, so that next month can compare
    channels), send_hour, segment, stage, recency_days, value_at_stake (buyer_values: expected
    gross margin over the value horizon). Sorted by value at stake.

    Users of the persistent global holdout (params experiments) are left out before anything is
    drawn; how many is in ``attrs["global_holdout_left_out"]``.
    """
    exp = exp or ExperimentParams()
    df = query(
        "recall/recall_list",
        con,
        as_of=p.as_of,
        at_risk_p=rc.at_risk_p,
        max_recency_days=rc.list_max_recency_days,
        cooldown_days=rc.list_cooldown_days,
        offline_share=rc.offline_share,
        offline_channels=dp.offline_order_channels,
        channel_store_active=rc.channel_store_active,
        channel_store_churned=rc.channel_store_churned,
        channel_online=rc.channel_online,
        split_salt=f"recall-channel-split:{rc.holdout_seed}",
    )
    values = buyer_values(con, p, rc, exp, ap)[0] if values is None else values
    df = df.merge(values[["user_id", "value_at_stake"]], on="user_id", how="left")
    held = global_holdout_users(con, exp.global_holdout_salt, exp.global_holdout_share, df.user_id)
    df = df[~df.user_id.isin(held)].reset_index(drop=True)
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
    offer = ["message", "scene", "face_value", "min_spend"]
    texts = df[offer].drop_duplicates()  # one text per offer (a handful), not one format per user
    texts["content"] = [
        m.format(scene=s, face=f"{f:g}", min_spend=f"{ms:g}", currency=dp.currency_symbol)
        for m, s, f, ms in zip(texts.message, texts.scene, texts.face_value, texts.min_spend, strict=True)
    ]
    df = df.merge(texts, on=offer, how="left", validate="many_to_one")
    channels = np.array(sorted(df.channel.astype(str).unique()), dtype=object)
    df["channel_arm"] = (
        channels[np.minimum((df.split_score.to_numpy(float) * len(channels)).astype(int), len(channels) - 1)]
        if len(channels)
        else pd.Series(dtype=str)
    )
    strata = df.segment + "|" + df.channel
    df["arm"] = assign_arms(df.user_id, rc.holdout_share, rc.holdout_seed, strata) if len(df) else []
    df["campaign_id"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["assigned_at"] = pd.Timestamp(p.cutoff)
    df["touched_at"] = pd.NaT
    lst = (
        df[LIST_COLUMNS]
        .sort_values(["value_at_stake", "user_id"], ascending=[False, True])
        .reset_index(drop=True)
    )
    lst.attrs["global_holdout_left_out"] = len(held)
    return lst


def channel_split_sentence(lst: pd.DataFrame) -> str:
    """The randomised channel split the list offers (channel_arm), or why it offers none."""
    arms = lst.channel_arm.value_counts().sort_index()
    if len(arms) < 2:
        return T("split.one", channel=channel_name(arms.index[0])) if len(arms) else ""
    split = i18n.t("common.list_sep").join(
        T("split.item", channel=channel_name(c), n=num(n)) for c, n in arms.items()
    )
    return T("split.many", k=len(arms), split=split)


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


def plan_cost_text(plan: pd.DataFrame, fixed_cost: float = 0.0) -> str:
    """The planned cost sentence of list_plan(); channels without a cost per touch say it is unknown.

    The recall coupons are not a cost here: their discount comes out of paid GMV when redeemed.
    """
    fixed = T("plan.fixed", fixed=yuan(fixed_cost)) if fixed_cost else ""
    coupons = T("plan.coupons")
    unknown = plan[plan.touch_cost.isna()]
    if unknown.empty:
        return T("plan.all_known", cost=yuan(plan.touch_cost.sum(), 1), fixed=fixed, coupons=coupons)
    sep = i18n.t("common.list_sep")
    kw = dict(channels=sep.join(channel_name(c) for c in unknown.channel), n=num(unknown.treated.sum()))
    known = plan[plan.touch_cost.notna()]
    if known.empty:
        return T("plan.none_known", **kw)
    return T(
        "plan.some_known",
        cost=yuan(known.touch_cost.sum(), 1),
        known=sep.join(channel_name(c) for c in known.channel),
        fixed=fixed,
        coupons=coupons,
        missing=T("plan.missing", **kw),
    )


def need_mix(lst: pd.DataFrame) -> pd.DataFrame:
    """Users per need (rows, largest first) x channel (columns) of a recall list."""
    t = lst.groupby(["need", "channel"]).size().unstack(fill_value=0)
    return t.loc[t.sum(axis=1).sort_values(ascending=False, kind="stable").index]


def need_note(lst: pd.DataFrame) -> str:
    """A sentence when no user's need is known (no order lines with a category), else ''."""
    if len(lst) and (lst.need == "unknown").all():
        return T("need_note")
    return ""


def list_reason(con, p: Period, rc: RecallParams, global_holdout_left_out: int = 0) -> str:
    """Why nobody qualifies for the recall list (needs build_stages); '' when somebody does.

    global_holdout_left_out: the qualifying users recall_list() left out as global holdout.
    """
    f = query(
        "recall/list_funnel",
        con,
        as_of=p.as_of,
        at_risk_p=rc.at_risk_p,
        max_recency_days=rc.list_max_recency_days,
        cooldown_days=rc.list_cooldown_days,
    ).iloc[0]
    head = T("list_reason.head")
    if f.n_candidates > f.n_cooldown:
        if global_holdout_left_out >= f.n_candidates - f.n_cooldown:
            return T("list_reason.global", head=head, n=num(global_holdout_left_out))
        return ""
    if f.n_active + f.n_churned == 0:
        return T("list_reason.nobody", head=head, month=i18n.month(p))
    if f.n_candidates:
        return T(
            "list_reason.cooldown",
            head=head,
            n=num(f.n_candidates),
            at_risk=num(f.n_at_risk),
            churned=num(f.n_churned_recent),
            days=rc.list_cooldown_days,
        )
    active = (
        T("list_reason.active", n=num(f.n_active), p=threshold_pct(rc.at_risk_p))
        if f.n_active
        else T("list_reason.no_active")
    )
    churned = (
        T("list_reason.churned", n=num(f.n_churned), days=rc.list_max_recency_days)
        if f.n_churned
        else T("list_reason.no_churned")
    )
    return T("list_reason.sentence", head=head, active=active, churned=churned)


def touch_cost_cell(cost: float) -> str:
    """A planned touch cost in the list table: '¥8.1', or 'unknown' for a channel without a cost."""
    return fmt_yuan(cost) if np.isfinite(cost) else T("plan.unknown_cell")


def weak_channel_action(w) -> str:
    """The action for a channel whose pooled lift is not significant (a campaign_effects row)."""
    from userops import narrative as nv

    detect = T("act.weak_detect", mde=pp(w.mde, signed=False)) if np.isfinite(w.mde) else T("act.weak_none")
    return T(
        "act.weak",
        channel=i18n.name_in_text("campaign_channel", w.label),
        lift=pp(w.diff),
        ci=nv.ci(w.ci_low, w.ci_high, pp),
        detect=detect,
    )


def no_action_sentence(p: Period) -> str:
    """The actions list when no section produced one."""
    return T("act.none", month=i18n.month(p))


def stage_names(in_text: bool = False) -> dict[str, str]:
    """Every lifecycle stage's display name in the report language, keyed by stage (``in_text``: as it
    reads inside a sentence, i18n.name_in_text)."""
    return {st: (i18n.name_in_text if in_text else i18n.name)("stage", st) for st in STAGES}


def channel_name(channel) -> str:
    """A recall channel's display name in the report language (the chain's own as written)."""
    return i18n.name("campaign_channel", channel)


def margin_words(basis: str) -> str:
    """A money basis (``userops.money``) in the report language."""
    from userops import narrative as nv

    return nv.margin_basis(basis)


def level_name(attribute: str, level) -> str:
    """A churn-profile attribute value as the reader knows it (business names, chain names as given)."""
    text = str(level)
    kind = {"acquisition_channel": "channel", "last_category": "category", "last_coupon": "coupon_kind"}
    if text in ("unknown", "none") or text in ("store only", "mostly store", "mostly online", "online only"):
        return T(f"level.{text}")
    if m := re.fullmatch(r"other \((\d+) levels\)", text):
        return T("level.other", k=m[1])
    if attribute == "aov_quartile" and re.fullmatch(r"Q\d", text):
        return T("level.quartile", q=text[1:])
    return i18n.name(kind[attribute], text) if attribute in kind else text


def attribute_name(attribute: str) -> str:
    """A churn-profile attribute's display name (the chain's own column as written)."""
    try:
        return T(f"attribute.{attribute}")
    except i18n.MissingTranslation:
        return attribute


def _profile_reason(population: int, churned: int, no_attribute: bool, p: Period) -> str:
    """Why the churn profile cannot be drawn ('' when it can)."""
    kw = dict(prev=i18n.month(p.prev), month=i18n.month(p), n=num(population), churned=num(churned))
    if population == 0:
        return T("profile_reason.none", **kw)
    if population < MIN_PROFILE_USERS:
        return T("profile_reason.few", min=MIN_PROFILE_USERS, **kw)
    if churned == 0:
        return T("profile_reason.none_churned", **kw)
    if churned == population:
        return T("profile_reason.all_churned", **kw)
    return T("profile_reason.no_attribute") if no_attribute else ""


def margin_basis_text(r, exp: ExperimentParams) -> str:
    """The basis of an effects row's margin figures in the report language (for sentences)."""
    if r.window_orders and r.assumed_orders and r.assumed_orders != r.window_orders:
        return T(
            "money.mixed_basis",
            basis=margin_words(money.GROSS_MARGIN),
            share=pct(r.assumed_orders / r.window_orders),
            rate=pct(exp.assumed_margin_rate, 0),
        )
    return margin_words(margin_basis(r, exp))


def several_campaigns_rule() -> str:
    """The rule for users in several campaigns, stated once (report language)."""
    return T("several_rule")


def effects_reason(out: pd.DataFrame, both: pd.Series, n_campaigns: int, p: Period, rc: RecallParams) -> str:
    """Why no recall effect can be measured ('' when one can)."""
    kw = dict(days=rc.window_days, months=rc.campaign_months, month=i18n.month(p), n=num(n_campaigns))
    if out.empty:
        return T("effects_reason.none", **kw)
    return T("effects_reason.no_holdout", **kw) if both.empty else ""


def _ratio(x: float) -> str:
    return num(x, 1)


def _months_text(started) -> str:
    """The months campaigns started in, in time order, in the report language (`started` has one value
    per member row: its distinct values are converted, not each row)."""
    months = sorted({pd.Timestamp(x).to_period("M") for x in pd.unique(pd.Series(started))})
    return i18n.t("common.list_sep").join(i18n.month_short(Period(str(m))) for m in months)


def threshold_pct(p: float) -> str:
    """The at-risk chance threshold as a percentage: '10%', or '0.1%' below 1% (never a bare '0%')."""
    return pct(p, 0 if p >= 0.01 else 1)
