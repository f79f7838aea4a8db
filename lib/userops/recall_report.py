"""Play 04's report sections: each builds its chart, tables and finding from `userops.recall`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.recall`, records its headline numbers on the play's Report, and returns a
:class:`~userops.sections.Section`. What later sections need (stage snapshot, at-risk values,
campaign effects, the list) lives on :class:`RecallRun`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from userops import charts
from userops import narrative as nv
from userops import recall as rl
from userops.outputs import mask_ids, original_ids
from userops.sections import Section


@dataclass
class RecallRun:
    """The play's context and what its sections computed so far."""

    ctx: object
    panel: rl.StagePanel
    snap: rl.StageSnapshot | None = None
    values: pd.DataFrame | None = None
    cmp: rl.RuleComparison | None = None
    worst: object = None
    res: rl.RecallEffects | None = None
    eff: pd.DataFrame | None = None
    verdict: rl.ChannelVerdict | None = None
    lst: pd.DataFrame | None = None

    @property
    def P(self):
        return self.ctx.period

    @property
    def rc(self):
        return self.ctx.params.recall

    @property
    def exp(self):
        return self.ctx.params.experiments

    @property
    def rep(self):
        return self.ctx.report

    @property
    def has_campaigns(self) -> bool:
        return self.ctx.has("campaigns", "campaign_members")


def start(ctx) -> tuple[RecallRun, Section]:
    """Every buyer's lifecycle stage at each month end, and the report's opening line."""
    run = RecallRun(ctx, rl.build_stages(ctx.con, ctx.period, ctx.params.recall))
    sec = Section()
    sec.say(
        f"**{ctx.params.chain_name} · report month {run.P.label}** · as of {run.P.as_of} "
        f"(every number uses data up to the month's last day)"
    )
    return run, sec


def stage_rules(rc) -> str:
    """The lifecycle rules in one paragraph, with the thresholds of params."""
    return (
        f"Each buyer gets one stage at each month end, first rule that applies: **new** = first order in the month; "
        f"**churned** = no order for {rc.churned_days}+ days, or, for users with at least {rc.min_gaps} gaps between "
        f"order days (personal rule), for more than {rc.k_churned:g} × their median gap (at least "
        f"{rc.churned_floor_days} days); **declining** = no order for {rc.k_declining:g} × their median gap (at least "
        f"{rc.declining_floor_days} days), or {rc.declining_days} days for users with fewer gaps (global fallback); "
        f"**growth** = first order less than {rc.growth_days} days ago and fewer than {rc.growth_max_orders} orders; "
        f"**mature** = every other repeat buyer (ordering within their own usual gap)."
    )


def _stage_chart(sizes: pd.DataFrame, title: str) -> plt.Figure:
    grid = rl.stage_history(sizes)
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = dict(zip(rl.BUYER_STAGES, [charts.PALETTE[i] for i in (2, 5, 0, 1, 3)], strict=True))
    bottom = pd.Series(0, index=grid.index)
    labels = [pd.Timestamp(m).strftime("%Y-%m") for m in grid.index]
    for st in rl.BUYER_STAGES:
        ax.bar(labels, grid[st], bottom=bottom, color=colors[st], label=st, width=0.8)
        bottom += grid[st]
    charts.int_axis(ax)
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(ncol=5, fontsize=9, loc="upper left")
    ax.set_ylabel("buyers at the month end")
    charts.title(ax, title, "buyers per lifecycle stage at each month end (zero-filled months)")
    return fig


def _stage_finding(snap: rl.StageSnapshot, P) -> str:
    now = snap.now
    n = {st: nv.num(now.loc[st, "n_users"]) for st in rl.STAGES}
    change = (
        f"({snap.active() - snap.active('before'):+,} vs {P.prev.short})."
        if snap.buyers_before
        else f"(no buyers at the end of {P.prev.short} to compare)."
    )
    return (
        f"At the end of {P.label}: **{n['new']} new**, {n['growth']} growth, **{n['mature']} mature**, "
        f"**{n['declining']} declining** and **{n['churned']} churned** buyers; {n['prospect']} registered users "
        f"have not ordered yet. Active buyers (new + growth + mature + declining): {nv.num(snap.active())} "
        + change
    )


def stages(run: RecallRun) -> Section:
    """Section 1: buyers per lifecycle stage at each month end."""
    P, rep = run.P, run.rep
    sizes = rl.stage_sizes(run.ctx.con, run.panel)
    run.snap = snap = rl.stage_snapshot(sizes, P)
    sec = Section()
    sec.say(stage_rules(run.rc))
    reason = rl.stage_reason(snap, P)
    if reason:
        sec.note(reason)
    else:
        share = snap.now.loc["churned", "share_of_buyers"]
        before = snap.before.loc["churned", "share_of_buyers"]
        vs_prev = (
            f"{nv.pp(share - before)} vs {P.prev.short}"
            if snap.buyers_before
            else f"no buyers at the end of {P.prev.short} to compare"
        )
        title = f"{nv.pct(share)} of all buyers were churned at the end of {P.short} ({vs_prev})"
        sec.add(_stage_chart(sizes, title))
        sec.say(_stage_finding(snap, P))
        rep.add("churned_share_of_buyers", share, "share", "churned buyers / all buyers at the month end")
    for st in rl.STAGES:
        rep.add(
            f"stage_users.{st}",
            snap.now.loc[st, "n_users"],
            "users",
            f"users in lifecycle stage '{st}' at the month end (rule in sql/recall/user_stages.sql)",
        )
    return sec


def _transition_chart(tr: pd.DataFrame, P) -> plt.Figure:
    pct_grid = rl.matrix(tr, "row_pct").drop(columns="prospect")
    full = rl.matrix(tr, "n_users")
    cnt = full.drop(columns="prospect")
    pct_grid.index = [f"{s} (n={nv.num(full.loc[s].sum())})" for s in pct_grid.index]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    mask = cnt.set_axis(pct_grid.index).eq(0)
    charts.heatmap_masked(pct_grid, mask, ax=ax, fmt="pct", cmap="Blues", vmin=0, vmax=1)
    ax.set_xlabel(f"stage at the end of {P.short}")
    ax.set_ylabel(f"stage at the end of {P.prev.short}")
    charts.title(
        ax,
        rl.transitions_title(tr, P),
        "share of each row's users by stage at this month end; blank = no users",
    )
    return fig


def _transition_finding(tr: pd.DataFrame, by_prev: pd.DataFrame, run: RecallRun) -> str:
    P, gmv_total = run.P, tr.gmv.sum()
    if not gmv_total:
        return f"Nobody ordered in {P.label}, so no GMV came from any stage."
    m2c = tr[(tr.stage_prev == "mature") & (tr.stage == "churned")].n_users.sum()
    text = (
        f"Of {P.label}'s GMV ({nv.yuan(gmv_total)}), **{nv.pct(by_prev.loc['churned', 'gmv_share'])} "
        f"({nv.yuan(by_prev.loc['churned', 'gmv'])}) came from users who were churned at the end of "
        f"{P.prev.label}** and {nv.pct(by_prev.loc['declining', 'gmv_share'])} from users who were declining; "
        f"new users brought {nv.pct(by_prev.loc['prospect', 'gmv_share'])}."
    )
    if by_prev.loc["mature", "n_users"]:
        text += (
            f" {nv.num(m2c)} mature users churned directly (their own gap × {run.rc.k_churned:g} passed "
            "within the month)."
        )
    return text


def _record_transitions(run: RecallRun, tr: pd.DataFrame, by_prev: pd.DataFrame) -> None:
    d2c = tr[(tr.stage_prev == "declining") & (tr.stage == "churned")]
    add = run.rep.add
    add(
        "gmv_from_churned_last_month",
        by_prev.loc["churned", "gmv"],
        "yuan",
        "GMV in the month from users who were churned at the previous month end",
    )
    add(
        "gmv_share_from_churned_last_month",
        by_prev.loc["churned", "gmv_share"],
        "share",
        "share of the month's GMV from users churned at the previous month end",
    )
    add(
        "declining_to_churned_rate",
        d2c.row_pct.iloc[0],
        "share",
        "share of users declining at the previous month end who are churned at this month end",
    )


def transitions(run: RecallRun) -> Section:
    """Section 2: where this month's users came from (stage at the previous month end)."""
    P = run.P
    tr = rl.transitions(run.ctx.con, P)
    run.rep.add("reactivated_users", rl.reactivated(tr), "users", rl.REACTIVATED_DEFINITION)
    reason = rl.transitions_reason(run.snap, P)
    sec = Section()
    if reason:
        sec.note(reason)
        return sec
    gmv_total = tr.gmv.sum()
    by_prev = tr.groupby("stage_prev", sort=False)[["n_users", "orders", "gmv"]].sum().reindex(rl.STAGES)
    by_prev["gmv_share"] = by_prev.gmv / gmv_total if gmv_total else float("nan")
    sec.add(_transition_chart(tr, P))
    columns = {
        "stage_prev": f"stage at end of {P.prev.short}",
        "n_users": "users",
        "gmv": f"GMV in {P.short}",
        "gmv_share": "share of GMV",
    }
    formats = {"users": "int", "orders": "int", f"GMV in {P.short}": "yuan", "share of GMV": "pct"}
    sec.add(charts.table_html(by_prev.reset_index().rename(columns=columns), formats))
    sec.say(_transition_finding(tr, by_prev, run))
    _record_transitions(run, tr, by_prev)
    return sec


def _rule_flags(ar: pd.DataFrame, rc) -> pd.Series:
    flag = pd.Series("neither", index=ar.index)
    flag[ar.is_at_risk_personal & ar.is_at_risk_global] = "both"
    flag[ar.is_at_risk_personal & ~ar.is_at_risk_global] = "personal rule only"
    flag[~ar.is_at_risk_personal & ar.is_at_risk_global] = f"{rc.declining_days}-day rule only"
    return flag


def _at_risk_chart(ar: pd.DataFrame, cmp: rl.RuleComparison, run: RecallRun) -> plt.Figure:
    rc = run.rc
    flag = _rule_flags(ar, rc)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    style = {
        "neither": (charts.MUTED, 6),
        "both": (charts.PALETTE[3], 10),
        "personal rule only": (charts.PALETTE[0], 12),
        f"{rc.declining_days}-day rule only": (charts.PALETTE[1], 12),
    }
    jitter = ar.user_id.mod(7) / 10  # deterministic spread of equal integer days
    for name, (color, size) in style.items():
        d, j = ar[flag == name], jitter[flag == name]
        x = d.usual_gap_days.fillna(0) + 0.5 + j
        ax.scatter(
            x, d.recency_days + j, s=size, color=color, alpha=0.6, lw=0, label=f"{name} ({nv.num(len(d))})"
        )
    ax.set_xscale("log")
    ax.axhline(rc.declining_days, color="#555555", ls="--", lw=0.8)
    ax.set_xlabel("the user's median gap between order days (days, log; users with one order at the left)")
    ax.set_ylabel("days since the last order")
    ax.legend(fontsize=8, loc="upper right")
    charts.title(
        ax,
        f"The personal rule flags {nv.num(cmp.personal_only)} frequent buyers the {rc.declining_days}-day rule misses",
        f"active buyers at {run.P.as_of}; personal rule: P(gap this long) < {nv.pct(rc.at_risk_p, 0)}",
    )
    return fig


def _top_at_risk_table(run: RecallRun, ar: pd.DataFrame, value_model: rl.ValueModel):
    """The ten personally flagged buyers with the most value at stake (None when nobody is flagged)."""
    rc = run.rc
    # ids masked (no individual id in a PDF); the recall list in targets/ has them
    top = mask_ids(original_ids(run.ctx.con, ar[ar.is_at_risk_personal].head(10)))
    if not len(top):
        return None
    chance = "P(alive)" if value_model.basis == "bgnbd" else "P(gap this long)"
    top = top.assign(**{chance: top.p_alive if chance == "P(alive)" else top.p_gap_at_least})
    days = f"expected order days ({rc.value_horizon_days} d)"
    columns = {
        "user_id": "user_id",
        "stage": "stage",
        "n_orders": "n_orders",
        "usual_gap_days": "median gap (d)",
        "recency_days": "days silent",
        chance: chance,
        "expected_orders": days,
        "margin_per_day": "margin per order day",
        "value_at_stake": "value at stake",
    }
    formats = {
        "n_orders": "int",
        "median gap (d)": "float1",
        "days silent": "int",
        chance: "pct",
        days: lambda v: nv.num(v, 2),
        "margin per order day": "yuan",
        "value at stake": "yuan",
    }
    caption = (
        "The 10 at-risk buyers with the most value at stake (expected gross margin "
        f"over the next {rc.value_horizon_days} days; ids masked)"
    )
    return charts.table_html(top[list(columns)].rename(columns=columns), formats, caption=caption)


def _record_at_risk(run: RecallRun, cmp: rl.RuleComparison) -> None:
    rc, add = run.rc, run.rep.add
    add(
        "at_risk_users_personal",
        cmp.personal,
        "users",
        f"active buyers whose P(a gap at least as long as their recency) < {rc.at_risk_p}",
    )
    add("at_risk_users_global", cmp.global_, "users", f"active buyers silent for {rc.declining_days}+ days")
    add(
        "at_risk_personal_only",
        cmp.personal_only,
        "users",
        "flagged by the personal rule, missed by the global one",
    )
    add(
        "at_risk_value_at_stake",
        cmp.value_personal,
        "yuan",
        f"expected gross margin over the next {rc.value_horizon_days} days (BG/NBD P(alive) x expected orders x "
        "margin per order day, or the silence rule when the model cannot be fitted), summed over the personally "
        "flagged users",
    )


def at_risk(run: RecallRun) -> Section:
    """Section 3: who is about to churn (personal vs global rule), and the value at stake."""
    ctx, P, rc = run.ctx, run.P, run.rc
    run.values, value_model = rl.buyer_values(ctx.con, P, rc, ctx.params.experiments, ctx.params.acquisition)
    ar = rl.rank_at_risk(run.values, value_model)
    run.cmp = cmp = rl.compare_rules(ar)
    reason = rl.at_risk_reason(cmp, run.snap, P)
    sec = Section()
    if reason:
        sec.note(reason)
    else:
        sec.add(_at_risk_chart(ar, cmp, run))
        sec.say(rl.rules_sentence(cmp, rc))
        sec.say(rl.value_sentence(value_model))
        table = _top_at_risk_table(run, ar, value_model)
        if table is not None:
            sec.add(table)
    _record_at_risk(run, cmp)
    return sec


def _p_text(v: float, pv: float) -> str:
    return f"{v:.2f} (p={pv:.3f})" if pv >= 0.001 else f"{v:.2f} (p<0.001)"


def _profile_chart(prof: rl.ChurnProfile, rc) -> plt.Figure:
    a = prof.attributes
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(a) + 1.3))
    sig = a.p_value < 1 - rc.ci_level
    ax.barh(a.attribute, a.cramers_v, color=[charts.ACCENT if s else charts.MUTED for s in sig])
    for y, (v, pv) in enumerate(zip(a.cramers_v, a.p_value, strict=True)):
        ax.annotate(
            _p_text(v, pv), (v, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9
        )
    ax.invert_yaxis()
    ax.margins(x=0.25)
    ax.set_xlabel("Cramér's V (0 = churn unrelated to the attribute)")
    top = a.iloc[0]
    charts.title(
        ax,
        f"Churn this month is most associated with {top.attribute} (V = {top.cramers_v:.2f})"
        if sig.iloc[0]
        else f"No attribute is significantly associated with churn this month (strongest: {top.attribute})",
        f"{nv.num(prof.churned)} of {nv.num(prof.population)} active buyers churned ({nv.pct(prof.churn_rate)}); "
        "blue = chi-square significant; association, not effect",
    )
    return fig


_LEVEL_COLUMNS = {
    "attribute": "attribute",
    "level": "level",
    "n_users": "users",
    "n_churned": "churned",
    "churn_rate": "churn rate",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "rate_ratio": "vs rest (×)",
}
_LEVEL_FORMATS = {
    "users": "int",
    "churned": "int",
    "churn rate": "pct",
    "95% CI low": "pct",
    "95% CI high": "pct",
    "vs rest (×)": "float1",
}


def _level_table(prof: rl.ChurnProfile):
    top3 = list(prof.attributes.attribute.head(3))
    lv = prof.levels[prof.levels.attribute.isin(top3)].copy()
    lv["attribute"] = pd.Categorical(lv.attribute, top3)
    lv = lv.sort_values(["attribute", "churn_rate"], ascending=[True, False])
    caption = (
        "Churn rate by level of the three most associated attributes (– = nobody else churned; "
        "attributes with many levels show the largest and pool the others)"
    )
    return charts.table_html(
        lv[list(_LEVEL_COLUMNS)].rename(columns=_LEVEL_COLUMNS),
        _LEVEL_FORMATS,
        caption=caption,
        max_rows=None,
    )


def churn_profile(run: RecallRun) -> Section:
    """Section 4: which attributes travel with churn this month (association, not effect)."""
    ctx, rc = run.ctx, run.rc
    prof = rl.churn_profile(ctx.con, run.P, rc, ctx.params.data)
    sec = Section()
    if prof.reason:
        sec.note(prof.reason)
    else:
        sec.add(_profile_chart(prof, rc))
        sec.add(_level_table(prof))
        run.worst = w = prof.riskiest_level(list(prof.attributes.attribute.head(3)), rl.MIN_PROFILE_USERS)
        if w is not None:
            sec.say(
                f"Users with **{w.attribute} = {w.level}** churned at {nv.pct(w.churn_rate)} "
                f"(95% CI {nv.pct(w.ci_low)} to {nv.pct(w.ci_high)}), {w.rate_ratio:.1f}× the rest of the active "
                f"buyers (association, not effect)."
            )
    if prof.population:
        run.rep.add(
            "churn_rate_of_active",
            prof.churn_rate,
            "share",
            "buyers active at the previous month end who are churned at this month end",
        )
    run.rep.add(
        "churned_this_month",
        prof.churned,
        "users",
        "buyers active at the previous month end, churned at this month end",
    )
    return sec


def _effects_chart(run: RecallRun, camp: pd.DataFrame, allr) -> plt.Figure:
    eff, rc = run.eff, run.rc
    show = camp[camp.mde <= rl.CHART_MAX_MDE]
    fig, ax = plt.subplots(figsize=(8, 0.42 * (len(show) + 1) + 1.4))
    bars = pd.concat([show, eff[eff.group == "all"].assign(label="all campaigns, stratified")])
    charts.bar_with_ci(bars, "label", "diff", "ci_low", "ci_high", ax=ax, fmt="pp")
    ax.set_xlabel(f"reactivation (an order within {rc.window_days} days): treatment − holdout")
    charts.percent_axis(ax, "x")
    n_sig = int(camp.significant.sum())
    charts.title(
        ax,
        f"Recall lifts reactivation by {nv.pp(allr['diff'])} (95% CI {nv.pp(allr.ci_low)} to "
        f"{nv.pp(allr.ci_high)}); {n_sig} of {len(camp)} campaigns significant on their own",
        f"blue = interval excludes 0; campaigns able to detect {nv.pp(rl.CHART_MAX_MDE, 0, signed=False)} shown "
        f"({len(camp) - len(show)} smaller left out); pooled: Mantel-Haenszel by campaign",
    )
    return fig


def _effects_finding(run: RecallRun, camp: pd.DataFrame, this: pd.DataFrame, allr) -> str:
    rc, exp = run.rc, run.exp
    lines = [rl.campaign_sentence(r, rc, exp) for r in this.itertuples()]
    if not lines:
        lines.append(f"No recall campaign started in {run.P.label} with a matured window.")
    lines.append(rl.pooled_sentence(allr, rc, exp, len(camp), f"{pd.Timestamp(allr.started_at):%B %Y}"))
    lines.append(rl.SEVERAL_CAMPAIGNS_RULE)
    if len(run.res.unmeasured):
        lines.append(rl.unmeasured_sentence(run.res.unmeasured))
    return "\n\n".join(lines)


_CHANNEL_COLUMNS = {
    "label": "channel",
    "n_campaigns": "campaigns",
    "n_treatment": "treated",
    "n_holdout": "holdout",
    "lift (95% CI)": "lift (95% CI)",
    "mde": "MDE",
    "inc_orders": "incremental orders",
    "incremental margin (95% CI)": "incremental margin (95% CI)",
    "cost": "cost",
    "roi": "ROI on margin",
}
_CHANNEL_FORMATS = {
    "campaigns": "int",
    "treated": "int",
    "holdout": "int",
    "MDE": "pp",
    "incremental orders": "float1",
    "cost": str,
    "ROI on margin": "float1",
}


def _channel_table(eff: pd.DataFrame):
    ch = eff[eff.group == "channel"].copy()
    ch["lift (95% CI)"] = [
        f"{nv.pp(d)} ({nv.pp(lo)} to {nv.pp(hi)})"
        for d, lo, hi in zip(ch["diff"], ch.ci_low, ch.ci_high, strict=True)
    ]
    ch["incremental margin (95% CI)"] = [
        f"{nv.yuan(g)} ({nv.yuan(lo)} to {nv.yuan(hi)})"
        for g, lo, hi in zip(ch.inc_margin, ch.inc_margin_low, ch.inc_margin_high, strict=True)
    ]
    ch["cost"] = [rl.cost_cell(r) for r in ch.itertuples()]
    caption = (
        "Per channel, its campaigns pooled by campaign (95% intervals; MDE at 80% power; margin = "
        "gross margin, cost = touches + fixed cost; ROI = (margin − cost) ÷ cost; – = not measurable). "
        "Each channel ran in its own months on its own users: the rows are not a comparison of channels."
    )
    return charts.table_html(
        ch[list(_CHANNEL_COLUMNS)].rename(columns=_CHANNEL_COLUMNS), _CHANNEL_FORMATS, caption=caption
    )


def _record_pooled(run: RecallRun, allr) -> None:
    rc, exp, add = run.rc, run.exp, run.rep.add
    period = f"{run.P.shift(-(rc.campaign_months - 1)).month}..{run.P.month}"
    rows = [
        ("recall_lift_all", "diff", "share (difference)",
         f"reactivation within {rc.window_days} days, recall treatment minus randomised holdout, Mantel-Haenszel "
         "pooled by campaign (user-resampling bootstrap CI)", "ci"),
        ("recall_raw_pooled_diff_all", "raw_diff", "share (difference)",
         "the same difference from counts added across campaigns (Simpson-prone; for comparison only)", "raw_ci"),
        ("recall_incremental_orders_all", "inc_orders", "orders",
         "incremental orders in the window, (treatment - holdout orders per member) x treated, campaigns summed",
         "inc_orders"),
        ("recall_incremental_gmv_all", "inc_gmv", "yuan",
         "incremental paid GMV (net of discounts) in the window, campaigns summed", "inc_gmv"),
        ("recall_incremental_margin_all", "inc_margin", "yuan",
         f"incremental {rl.margin_basis(allr, exp)} in the window, campaigns summed", "inc_margin"),
        ("recall_cost_all", "cost", "yuan",
         "campaign cost: touches x cost per touch + experiments.campaign_fixed_cost per campaign (coupons not added)",
         None),
        ("recall_roi_margin_all", "roi", "ratio", "ROI = (incremental gross margin - campaign cost) / campaign cost", "roi"),
        ("recall_gmv_per_yuan_all", "gmv_per_yuan", "ratio",
         "incremental paid GMV per yuan of campaign cost (a revenue ratio, not ROI)", None),
    ]  # fmt: skip
    for key, col, unit, text, ci in rows:
        bounds = (allr[f"{ci}_low"], allr[f"{ci}_high"]) if ci else None
        add(key, allr[col], unit, text, period=period, ci=bounds)


def _record_this_month(run: RecallRun, this: pd.DataFrame) -> None:
    rc, exp, add = run.rc, run.exp, run.rep.add
    for key, r in zip(rl.metric_suffixes(this), this.itertuples(), strict=True):
        add(
            f"recall_lift.{key}",
            r.diff,
            "share (difference)",
            f"this month's recall campaign ({r.channel}): reactivation within {rc.window_days} days, treatment "
            "minus holdout",
            ci=(r.ci_low, r.ci_high),
        )
        add(
            f"recall_incremental_gmv.{key}",
            r.inc_gmv,
            "yuan",
            "this month's recall campaign: incremental paid GMV (net of discounts) in the window",
            ci=(r.inc_gmv_low, r.inc_gmv_high),
        )
        add(
            f"recall_incremental_margin.{key}",
            r.inc_margin,
            "yuan",
            f"this month's recall campaign: incremental {rl.margin_basis(r, exp)} in the window",
            ci=(r.inc_margin_low, r.inc_margin_high),
        )
        add(
            f"recall_roi_margin.{key}",
            r.roi,
            "ratio",
            "this month's recall campaign: (incremental gross margin - campaign cost) / campaign cost",
            ci=(r.roi_low, r.roi_high),
        )
        add(
            f"recall_mde.{key}",
            r.mde,
            "share (difference)",
            "minimum detectable lift of this month's campaign (95% level, 80% power)",
        )


def effects(run: RecallRun) -> Section:
    """Section 5: what recall campaigns brought back against their randomised holdouts, on margin."""
    sec = Section()
    if not run.has_campaigns:
        would = "each recall campaign's reactivation against its holdout"
        sec.add(charts.missing_table_note("campaigns` and `campaign_members", would))
        return sec
    ctx = run.ctx
    run.res = res = rl.recall_effects(ctx.con, run.P, run.rc, ctx.params.data, run.exp)
    if res.reason:
        sec.note(res.reason)
        return sec
    run.eff = eff = res.effects
    camp = eff[eff.group == "campaign"].copy()
    allr = res.pooled
    this = camp[pd.to_datetime(camp.started_at).dt.strftime("%Y-%m") == run.P.month]
    sec.add(_effects_chart(run, camp, allr))
    sec.say(_effects_finding(run, camp, this, allr))
    sec.add(_channel_table(eff))
    run.verdict = rl.channel_verdict(res.outcomes, run.rc)
    sec.say(run.verdict.sentence)
    _record_pooled(run, allr)
    _record_this_month(run, this)
    return sec


def _need_chart(lst: pd.DataFrame, need_note: str) -> plt.Figure:
    need_ch = rl.need_mix(lst)
    fig, ax = plt.subplots(figsize=(8, 3))
    left = pd.Series(0, index=need_ch.index)
    for c, color in zip(need_ch.columns, charts.PALETTE, strict=False):
        ax.barh(need_ch.index, need_ch[c], left=left, color=color, label=c)
        left += need_ch[c]
    ax.invert_yaxis()
    charts.int_axis(ax, "x")
    ax.legend(fontsize=9)
    ax.set_xlabel("users on the list")
    top_need = need_ch.sum(axis=1).index[0]
    title = (
        f"{nv.num(len(lst))} users to recall; the largest need is {top_need} "
        f"({nv.pct(need_ch.loc[top_need].sum() / len(lst))})"
        if not need_note
        else f"{nv.num(len(lst))} users to recall; needs unknown (no order lines)"
    )
    charts.title(ax, title, "need = the user's top category; colour = channel")
    return fig


def _global_holdout_text(left_out: int, exp) -> str:
    if not left_out:
        return ""
    many = left_out > 1
    return (
        f" {nv.num(left_out)} qualifying user{'s' if many else ''} of the persistent global "
        f"holdout ({nv.pct(exp.global_holdout_share, 0)} of all users, never touched) "
        f"{'are' if many else 'is'} left out before the draw."
    )


def _list_finding(run: RecallRun, plan: pd.DataFrame, left_out: int) -> str:
    lst, rc, exp = run.lst, run.rc, run.exp
    seg = lst.groupby("segment").size()
    n_t = int((lst.arm == "treatment").sum())
    lifts = rl.stage_lifts(run.res.outcomes, exp) if run.eff is not None else None
    return (
        f"**{nv.num(len(lst))} users** ({nv.num(seg.get('at_risk', 0))} at risk, {nv.num(seg.get('churned', 0))} "
        f"churned within {rc.list_max_recency_days} days; users recalled in the last {rc.list_cooldown_days} days "
        f"are left out).{_global_holdout_text(left_out, exp)} {nv.num(n_t)} are to be touched; "
        f"{nv.num(len(lst) - n_t)} ({nv.pct(rc.holdout_share, 0)}, seeded draw stratified by segment × channel) "
        "are the holdout, so that next month's run measures this campaign with the same code. "
        f"{rl.plan_cost_text(plan, exp.campaign_fixed_cost)}"
        + rl.forecast_sentence(lst, lifts)
        + f" List: `targets/recall.csv` ({nv.num(len(lst))} rows: campaign_members columns + need, scene, channel, "
        "channel_arm, content)."
    )


def _plan_table(plan: pd.DataFrame):
    shown = plan.assign(touch_cost=[rl.touch_cost_cell(c) for c in plan.touch_cost]).rename(
        columns={"value_at_stake": "value at stake", "touch_cost": "touch cost"}
    )
    formats = {
        "users": "int",
        "treated": "int",
        "holdout": "int",
        "value at stake": "yuan",
        "touch cost": str,
    }
    return charts.table_html(shown, formats, caption="The list per channel (store-share rule)")


def _record_list(run: RecallRun, plan: pd.DataFrame, left_out: int) -> None:
    lst, add = run.lst, run.rep.add
    add(
        "recall_list_users",
        len(lst),
        "users",
        "users on next month's recall list (treatment + holdout; the global holdout already left out: the CSV's rows)",
    )
    add(
        "recall_list_treated",
        int((lst.arm == "treatment").sum()),
        "users",
        "users on the recall list to be touched",
    )
    add(
        "recall_list_global_holdout_left_out",
        left_out,
        "users",
        "qualifying users of the persistent global holdout left out of the recall list before the draw",
    )
    add(
        "recall_list_touch_cost",
        plan.touch_cost.sum(skipna=False),
        "yuan",
        "treated users x planned cost per touch of their channel (empty when a channel has no cost in params)",
    )


def recall_list(run: RecallRun) -> Section:
    """Section 6: next month's recall list with its randomised holdout; writes targets/recall.csv."""
    ctx, rc = run.ctx, run.rc
    lst = rl.recall_list(ctx.con, run.P, rc, ctx.params.data, run.exp, values=run.values)
    run.lst = lst = run.rep.plan_target("recall", lst, ctx.params)  # one contact plan with the other lists
    left_out = int(lst.attrs.get("global_holdout_left_out", 0))
    plan = rl.list_plan(lst, rc)
    sec = Section()
    if lst.empty:
        sec.note(rl.list_reason(ctx.con, run.P, rc, left_out))
    else:
        run.rep.write_target("recall", lst, ["user_id"])
        need_note = rl.need_note(lst)
        sec.add(_need_chart(lst, need_note))
        sec.note(need_note)
        sec.say(_list_finding(run, plan, left_out))
        sec.say(rl.channel_split_sentence(lst))
        sec.add(_plan_table(plan))
        offers = lst.drop_duplicates("need")[["need", "scene", "content"]].sort_values("need")
        sec.add(charts.table_html(offers, caption="Content per need (from params)", max_rows=None))
    _record_list(run, plan, left_out)
    return sec


def _effect_actions(run: RecallRun) -> list[str]:
    allr, verdict, lst = run.res.pooled, run.verdict, run.lst
    acts = []
    if allr.significant and allr["diff"] > 0:
        acts.append(rl.keep_recalling_action(allr))
    if verdict.favour:
        acts.append(f"**Favour {verdict.favour}**: {verdict.sentence}")
    elif verdict.needs_split and len(lst) and lst.channel_arm.nunique() > 1:
        acts.append(
            "**Test the channels against each other**: they have never been randomised against each other, "
            "so no channel is favoured; send next month's list by its `channel_arm` column to find out."
        )
    weak = run.eff[(run.eff.group == "channel") & ~run.eff.significant]
    acts += [rl.weak_channel_action(w) for w in weak.itertuples()]
    return acts


def actions(run: RecallRun) -> Section:
    """Section 7: the actions, each from a number above."""
    rc, lst, cmp, worst = run.rc, run.lst, run.cmp, run.worst
    acts = _effect_actions(run) if run.eff is not None else []
    if run.has_campaigns and len(run.res.unmeasured):
        acts.append(
            f"**Keep a randomised holdout in every recall campaign**: {nv.num(len(run.res.unmeasured))} campaigns "
            f"without one cannot show whether recall brings anyone back."
        )
    if len(lst):
        n_t = int((lst.arm == "treatment").sum())
        acts.append(
            f"**Send the recall list now** (`targets/recall.csv`, arm = treatment, {nv.num(n_t)} users) with the "
            f"offer for each user's need; keep the {nv.num(len(lst) - n_t)} holdout users untouched."
        )
    if cmp.personal_only:
        acts.append(
            f"**Touch the {nv.num(cmp.personal_only)} frequent buyers** only the personal rule flags before they pass "
            f"{rc.declining_days} days of silence ({nv.yuan(cmp.value_personal_only)} at stake)."
        )
    if worst is not None:
        acts.append(
            f"**Give the {nv.num(worst.n_users)} active buyers with {worst.attribute} = {worst.level} an early "
            f"touch**: they churned at {nv.pct(worst.churn_rate)}, {worst.rate_ratio:.1f}× the rest this month "
            f"(association, not effect: test the touch against a holdout)."
        )
    if not acts:
        acts.append(rl.no_action_sentence(run.P))
    sec = Section()
    sec.say("\n".join(f"{i}. {a}" for i, a in enumerate(acts, 1)))
    return sec
