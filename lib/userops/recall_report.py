"""Play 04's report sections: each builds its chart, tables and finding from `userops.recall`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.recall`, records its headline numbers on the play's Report, and returns a
:class:`~userops.sections.Section` whose every word comes from the report language's catalog
(lib/userops/i18n/<lang>/recall.yaml, keys ``recall_report.*``). What later sections need (stage
snapshot, at-risk values, campaign effects, the list) lives on :class:`RecallRun`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from userops import charts, i18n
from userops import narrative as nv
from userops import recall as rl
from userops.outputs import mask_ids, original_ids
from userops.period import Period
from userops.recall import T
from userops.report_base import PlayRun
from userops.sections import Section


@dataclass
class RecallRun(PlayRun):
    """The play's context and what its sections computed so far."""

    panel: rl.StagePanel
    snap: rl.StageSnapshot | None = None
    values: pd.DataFrame | None = None
    cmp: rl.RuleComparison | None = None
    worst: object = None
    res: rl.RecallEffects | None = None
    eff: pd.DataFrame | None = None
    verdict: rl.ChannelVerdict | None = None
    lst: pd.DataFrame | None = None
    reactivated: int = 0

    @property
    def rc(self):
        return self.ctx.params.recall

    @property
    def has_campaigns(self) -> bool:
        return self.ctx.has("campaigns", "campaign_members")


def _open(part: str, lead: bool = False) -> Section:
    """A section that opens with its heading (and its lead paragraph) in the report language."""
    sec = Section()
    sec.say(T(f"heading.{part}"))
    if lead:
        sec.say(T(f"lead.{part}"))
    return sec


def start(ctx) -> tuple[RecallRun, Section]:
    """Every buyer's lifecycle stage at each month end, and the report's opening lines."""
    run = RecallRun(ctx, rl.build_stages(ctx.con, ctx.period, ctx.params.recall))
    sec = Section()
    sec.say(f"# {T('title')}")  # the title, intro and summary share the PDF's first page
    sec.say(T("intro"))
    sec.say(T("opening", chain=ctx.params.chain_name, month=i18n.month(run.P), as_of=run.P.as_of))
    return run, sec


def stage_rules(rc) -> str:
    """The lifecycle rules in one paragraph, with the thresholds of params."""
    return T(
        "stage_rules",
        churned_days=rc.churned_days,
        min_gaps=rc.min_gaps,
        k_churned=f"{rc.k_churned:g}",
        churned_floor_days=rc.churned_floor_days,
        k_declining=f"{rc.k_declining:g}",
        declining_floor_days=rc.declining_floor_days,
        declining_days=rc.declining_days,
        growth_days=rc.growth_days,
        growth_max_orders=rc.growth_max_orders,
        **rl.stage_names(),
    )


def _stage_chart(sizes: pd.DataFrame, title: str) -> plt.Figure:
    grid = rl.stage_history(sizes)
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = dict(zip(rl.BUYER_STAGES, [charts.PALETTE[i] for i in (2, 5, 0, 1, 3)], strict=True))
    bottom = pd.Series(0, index=grid.index)
    labels = [pd.Timestamp(m).strftime("%Y-%m") for m in grid.index]
    for st in rl.BUYER_STAGES:
        ax.bar(labels, grid[st], bottom=bottom, color=colors[st], label=i18n.name("stage", st), width=0.8)
        bottom += grid[st]
    charts.int_axis(ax)
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(ncol=5, fontsize=9, loc="upper left")
    ax.set_ylabel(T("stage_chart.ylabel"))
    charts.title(ax, title, T("stage_chart.subtitle"))
    return fig


def _stage_finding(snap: rl.StageSnapshot, P) -> str:
    now = snap.now
    prev = i18n.month_short(P.prev)
    change = (
        T("stage_change", diff=f"{snap.active() - snap.active('before'):+,}", prev=prev)
        if snap.buyers_before
        else T("stage_no_prev", prev=prev)
    )
    counts = {f"n_{st}": nv.num(now.loc[st, "n_users"]) for st in rl.STAGES}
    return T(
        "stage_finding", month=i18n.month(P), active=nv.num(snap.active()), change=change,
        **counts, **rl.stage_names(in_text=True),
    )  # fmt: skip


def stages(run: RecallRun) -> Section:
    """Section 1: buyers per lifecycle stage at each month end."""
    P, rep = run.P, run.rep
    sizes = rl.stage_sizes(run.ctx.con, run.panel)
    run.snap = snap = rl.stage_snapshot(sizes, P)
    sec = _open("stages")
    sec.say(stage_rules(run.rc))
    reason = rl.stage_reason(snap, P)
    if reason:
        sec.note(reason)
    else:
        share = snap.now.loc["churned", "share_of_buyers"]
        before = snap.before.loc["churned", "share_of_buyers"]
        prev = i18n.month_short(P.prev)
        vs_prev = (
            T("stage_chart.vs_prev", diff=nv.pp(share - before), prev=prev)
            if snap.buyers_before
            else T("stage_chart.no_prev", prev=prev)
        )
        churned = i18n.name_in_text("stage", "churned")
        title = T(
            "stage_chart.title",
            share=nv.pct(share),
            churned=churned,
            month=i18n.month_short(P),
            vs_prev=vs_prev,
        )
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
    pct_grid.index = [
        T("trans_chart.row", stage=i18n.name("stage", s), n=nv.num(full.loc[s].sum())) for s in pct_grid.index
    ]
    pct_grid.columns = [i18n.name("stage", s) for s in pct_grid.columns]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    mask = cnt.set_axis(pct_grid.index).set_axis(pct_grid.columns, axis=1).eq(0)
    charts.heatmap_masked(pct_grid, mask, ax=ax, fmt="pct", cmap="Blues", vmin=0, vmax=1)
    ax.set_xlabel(T("trans_chart.xlabel", month=i18n.month_short(P)))
    ax.set_ylabel(T("trans_chart.ylabel", prev=i18n.month_short(P.prev)))
    charts.title(ax, rl.transitions_title(tr, P), T("trans_chart.subtitle"))
    return fig


def _transition_finding(tr: pd.DataFrame, by_prev: pd.DataFrame, run: RecallRun) -> str:
    P, gmv_total = run.P, tr.gmv.sum()
    if not gmv_total:
        return T("trans_finding.no_gmv", month=i18n.month(P))
    names = rl.stage_names(in_text=True)
    m2c = tr[(tr.stage_prev == "mature") & (tr.stage == "churned")].n_users.sum()
    text = T(
        "trans_finding.gmv",
        month=i18n.month(P),
        gmv=nv.yuan(gmv_total),
        churned_share=nv.pct(by_prev.loc["churned", "gmv_share"]),
        churned_gmv=nv.yuan(by_prev.loc["churned", "gmv"]),
        prev=i18n.month(P.prev),
        declining_share=nv.pct(by_prev.loc["declining", "gmv_share"]),
        new_share=nv.pct(by_prev.loc["prospect", "gmv_share"]),
        churned=names["churned"],
        declining=names["declining"],
    )
    if by_prev.loc["mature", "n_users"]:
        text += T("trans_finding.m2c", n=nv.num(m2c), mature=names["mature"], k=f"{run.rc.k_churned:g}")
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


def _transition_table(by_prev: pd.DataFrame, P):
    cols = {
        "stage_prev": T("trans_table.stage_prev", prev=i18n.month_short(P.prev)),
        "n_users": T("trans_table.users"),
        "orders": T("trans_table.orders"),
        "gmv": T("trans_table.gmv", month=i18n.month_short(P)),
        "gmv_share": T("trans_table.gmv_share"),
    }
    shown = by_prev.reset_index().assign(
        stage_prev=lambda d: d.stage_prev.map(lambda s: i18n.name("stage", s))
    )
    formats = {cols["n_users"]: "int", cols["orders"]: "int", cols["gmv"]: "yuan", cols["gmv_share"]: "pct"}
    return charts.table_html(shown[list(cols)].rename(columns=cols), formats)


def transitions(run: RecallRun) -> Section:
    """Section 2: where this month's users came from (stage at the previous month end)."""
    P = run.P
    tr = rl.transitions(run.ctx.con, P)
    run.reactivated = rl.reactivated(tr)
    run.rep.add("reactivated_users", run.reactivated, "users", rl.REACTIVATED_DEFINITION)
    reason = rl.transitions_reason(run.snap, P)
    sec = _open("transitions", lead=not reason)
    if reason:
        sec.note(reason)
        return sec
    gmv_total = tr.gmv.sum()
    by_prev = tr.groupby("stage_prev", sort=False)[["n_users", "orders", "gmv"]].sum().reindex(rl.STAGES)
    by_prev["gmv_share"] = by_prev.gmv / gmv_total if gmv_total else float("nan")
    sec.add(_transition_chart(tr, P))
    sec.add(_transition_table(by_prev, P))
    sec.say(_transition_finding(tr, by_prev, run))
    _record_transitions(run, tr, by_prev)
    return sec


_FLAGS = ("neither", "both", "personal_only", "global_only")


def _rule_flags(ar: pd.DataFrame) -> pd.Series:
    flag = pd.Series("neither", index=ar.index)
    flag[ar.is_at_risk_personal & ar.is_at_risk_global] = "both"
    flag[ar.is_at_risk_personal & ~ar.is_at_risk_global] = "personal_only"
    flag[~ar.is_at_risk_personal & ar.is_at_risk_global] = "global_only"
    return flag


def _at_risk_chart(ar: pd.DataFrame, cmp: rl.RuleComparison, run: RecallRun) -> plt.Figure:
    rc = run.rc
    flag = _rule_flags(ar)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    style = {
        "neither": (charts.MUTED, 6),
        "both": (charts.PALETTE[3], 10),
        "personal_only": (charts.PALETTE[0], 12),
        "global_only": (charts.PALETTE[1], 12),
    }
    jitter = ar.user_id.mod(7) / 10  # deterministic spread of equal integer days
    for key, (color, size) in style.items():
        d, j = ar[flag == key], jitter[flag == key]
        x = d.usual_gap_days.fillna(0) + 0.5 + j
        name = T(f"at_risk_chart.{key}", days=rc.declining_days)
        label = T("at_risk_chart.legend", name=name, n=nv.num(len(d)))
        ax.scatter(x, d.recency_days + j, s=size, color=color, alpha=0.6, lw=0, label=label)
    ax.set_xscale("log")
    ax.axhline(rc.declining_days, color="#555555", ls="--", lw=0.8)
    ax.set_xlabel(T("at_risk_chart.xlabel"))
    ax.set_ylabel(T("at_risk_chart.ylabel"))
    ax.legend(fontsize=8, loc="upper right")
    charts.title(
        ax,
        T("at_risk_chart.title", n=nv.num(cmp.personal_only), days=rc.declining_days),
        T("at_risk_chart.subtitle", as_of=run.P.as_of, p=rl.threshold_pct(rc.at_risk_p)),
    )
    return fig


def _top_at_risk_table(run: RecallRun, ar: pd.DataFrame, value_model: rl.ValueModel):
    """The ten personally flagged buyers with the most value at stake (None when nobody is flagged)."""
    rc = run.rc
    # ids masked (no individual id in a PDF); the recall list in targets/ has them
    top = mask_ids(original_ids(run.ctx.con, ar[ar.is_at_risk_personal].head(10)))
    if not len(top):
        return None
    bgnbd = value_model.basis == "bgnbd"
    top = top.assign(
        chance=top.p_alive if bgnbd else top.p_gap_at_least, stage=top.stage.map(rl.stage_names())
    )
    cols = {
        "user_id": T("top_table.user"),
        "stage": T("top_table.stage"),
        "n_orders": T("top_table.orders"),
        "usual_gap_days": T("top_table.gap"),
        "recency_days": T("top_table.silent"),
        "chance": T("top_table.p_alive" if bgnbd else "top_table.p_gap"),
        "expected_orders": T("top_table.expected", days=rc.value_horizon_days),
        "margin_per_day": T("top_table.margin"),
        "value_at_stake": T("top_table.value"),
    }
    kinds = ["int", "float1", "int", "pct", lambda v: nv.num(v, 2), "yuan", "yuan"]
    formats = dict(zip(list(cols.values())[2:], kinds, strict=True))
    caption = T("top_table.caption", days=rc.value_horizon_days)
    return charts.table_html(top[list(cols)].rename(columns=cols), formats, caption=caption)


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
    sec = _open("at_risk", lead=not reason)
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
    names = [rl.attribute_name(x) for x in a.attribute]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(a) + 1.3))
    sig = a.p_value < 1 - rc.ci_level
    ax.barh(names, a.cramers_v, color=[charts.ACCENT if s else charts.MUTED for s in sig])
    for y, (v, pv) in enumerate(zip(a.cramers_v, a.p_value, strict=True)):
        ax.annotate(
            _p_text(v, pv), (v, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9
        )
    ax.invert_yaxis()
    ax.margins(x=0.25)
    ax.set_xlabel(T("profile_chart.xlabel"))
    top = a.iloc[0]
    charts.title(
        ax,
        T("profile_chart.title", attribute=names[0], v=f"{top.cramers_v:.2f}")
        if sig.iloc[0]
        else T("profile_chart.title_none", attribute=names[0]),
        T(
            "profile_chart.subtitle",
            churned=nv.num(prof.churned),
            population=nv.num(prof.population),
            rate=nv.pct(prof.churn_rate),
        ),
    )
    return fig


def _level_table(prof: rl.ChurnProfile):
    top3 = list(prof.attributes.attribute.head(3))
    lv = prof.levels[prof.levels.attribute.isin(top3)].copy()
    lv["attribute"] = pd.Categorical(lv.attribute, top3)
    lv = lv.sort_values(["attribute", "churn_rate"], ascending=[True, False])
    lv["level"] = [rl.level_name(a, v) for a, v in zip(lv.attribute, lv.level, strict=True)]
    lv["attribute"] = lv.attribute.astype(str).map(rl.attribute_name)
    lv["ci"] = [_range(lo, hi) for lo, hi in zip(lv.ci_low, lv.ci_high, strict=True)]
    keys = ["attribute", "level", "users", "churned", "rate", "ci", "ratio"]
    cols = dict(
        zip(
            ["attribute", "level", "n_users", "n_churned", "churn_rate", "ci", "rate_ratio"],
            keys,
            strict=True,
        )
    )
    cols = {c: T(f"level_table.{k}") for c, k in cols.items()}
    formats = {
        cols["n_users"]: "int",
        cols["n_churned"]: "int",
        cols["churn_rate"]: "pct",
        cols["rate_ratio"]: "float1",
    }
    shown = lv[list(cols)].rename(columns=cols)
    return charts.table_html(shown, formats, caption=T("level_table.caption"), max_rows=None)


def _worst_fields(w) -> dict:
    return dict(
        attribute=rl.attribute_name(w.attribute),
        level=rl.level_name(w.attribute, w.level),
        rate=nv.pct(w.churn_rate),
        ratio=nv.num(w.rate_ratio, 1),
    )


def churn_profile(run: RecallRun) -> Section:
    """Section 4: which attributes travel with churn this month (association, not effect)."""
    ctx, rc = run.ctx, run.rc
    prof = rl.churn_profile(ctx.con, run.P, rc, ctx.params.data)
    sec = _open("churn_profile", lead=not prof.reason)
    if prof.reason:
        sec.note(prof.reason)
    else:
        sec.add(_profile_chart(prof, rc))
        sec.add(_level_table(prof))
        run.worst = w = prof.riskiest_level(list(prof.attributes.attribute.head(3)), rl.MIN_PROFILE_USERS)
        if w is not None:
            sec.say(T("profile_finding", ci=nv.ci(w.ci_low, w.ci_high), **_worst_fields(w)))
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
    bars = pd.concat([show, eff[eff.group == "all"].assign(label=T("effects_chart.all"))])
    charts.bar_with_ci(bars, "label", "diff", "ci_low", "ci_high", ax=ax, fmt="pp")
    ax.set_xlabel(T("effects_chart.xlabel", days=rc.window_days))
    charts.percent_axis(ax, "x")
    charts.title(
        ax,
        T(
            "effects_chart.title",
            lift=nv.pp(allr["diff"]),
            ci=nv.plain(nv.ci(allr.ci_low, allr.ci_high, nv.pp)),
            n_sig=int(camp.significant.sum()),
            n=len(camp),
        ),
        T("effects_chart.subtitle", mde=nv.pp(rl.CHART_MAX_MDE, 0, signed=False), left=len(camp) - len(show)),
    )
    return fig


def _effects_finding(run: RecallRun, camp: pd.DataFrame, this: pd.DataFrame, allr) -> list[str]:
    """The finding's paragraphs: each shown apart, so the PDF may turn the page between them."""
    rc, exp = run.rc, run.exp
    lines = [rl.campaign_sentence(r, rc, exp) for r in this.itertuples()]
    if not lines:
        lines.append(T("no_campaign_this_month", month=i18n.month(run.P)))
    since = i18n.month(Period(f"{pd.Timestamp(allr.started_at):%Y-%m}"))
    lines.append(rl.pooled_sentence(allr, rc, exp, len(camp), since))
    lines.append(rl.several_campaigns_rule())
    if len(run.res.unmeasured):
        lines.append(rl.unmeasured_sentence(run.res.unmeasured))
    return lines


def _range(low, high, fmt=nv.pct) -> str:
    """'1.2%–3.4%' on one line: a table cell under a header that names the interval."""
    return nv.unbreakable(f"{fmt(low)}–{fmt(high)}")


def _with_range(value, low, high, fmt) -> str:
    return f"{fmt(value)} ({_range(low, high, fmt)})"


def _channel_table(eff: pd.DataFrame):
    ch = eff[eff.group == "channel"].copy()
    ch["channel"] = ch.label.map(rl.channel_name)
    ch["lift"] = [
        _with_range(d, lo, hi, nv.pp) for d, lo, hi in zip(ch["diff"], ch.ci_low, ch.ci_high, strict=True)
    ]
    ch["margin"] = [
        _with_range(g, lo, hi, nv.yuan)
        for g, lo, hi in zip(ch.inc_margin, ch.inc_margin_low, ch.inc_margin_high, strict=True)
    ]
    ch["cost_text"] = [rl.cost_cell(r) for r in ch.itertuples()]
    keys = {
        "channel": "channel", "n_campaigns": "campaigns", "n_treatment": "treated", "n_holdout": "holdout",
        "lift": "lift", "mde": "mde", "margin": "margin", "cost_text": "cost", "roi": "roi",
    }  # fmt: skip
    cols = {c: T(f"channel_table.{k}") for c, k in keys.items()}
    kinds = {"n_campaigns": "int", "n_treatment": "int", "n_holdout": "int", "mde": "pp",
             "cost_text": str, "roi": "float1"}  # fmt: skip
    formats = {cols[c]: k for c, k in kinds.items()}
    shown = ch[list(cols)].rename(columns=cols)
    return charts.table_html(shown, formats, caption=T("channel_table.caption"))


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
    sec = _open("effects", lead=run.has_campaigns)
    if not run.has_campaigns:
        sec.add(charts.missing_table_note("campaign_members", T("effects_would")))
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
    for paragraph in _effects_finding(run, camp, this, allr):
        sec.say(paragraph)
    sec.add(_channel_table(eff))
    run.verdict = rl.channel_verdict(res.outcomes, run.rc)
    sec.say(run.verdict.sentence)
    _record_pooled(run, allr)
    _record_this_month(run, this)
    return sec


def _need_chart(lst: pd.DataFrame, need_note: str) -> plt.Figure:
    need_ch = rl.need_mix(lst)
    need_ch.index = [
        i18n.name("category", n) if n != "unknown" else T("level.unknown") for n in need_ch.index
    ]
    fig, ax = plt.subplots(figsize=(8, 3))
    left = pd.Series(0, index=need_ch.index)
    for c, color in zip(need_ch.columns, charts.PALETTE, strict=False):
        ax.barh(need_ch.index, need_ch[c], left=left, color=color, label=rl.channel_name(c))
        left += need_ch[c]
    ax.invert_yaxis()
    charts.int_axis(ax, "x")
    ax.legend(fontsize=9)
    ax.set_xlabel(T("need_chart.xlabel"))
    top_need = need_ch.sum(axis=1).index[0]
    n = nv.num(len(lst))
    title = (
        T("need_chart.title", n=n, need=top_need, share=nv.pct(need_ch.loc[top_need].sum() / len(lst)))
        if not need_note
        else T("need_chart.title_unknown", n=n)
    )
    charts.title(ax, title, T("need_chart.subtitle"))
    return fig


def _list_finding(run: RecallRun, plan: pd.DataFrame, left_out: int) -> str:
    lst, rc, exp = run.lst, run.rc, run.exp
    seg = lst.groupby("segment").size()
    n_t = int((lst.arm == "treatment").sum())
    lifts = rl.stage_lifts(run.res.outcomes, exp) if run.eff is not None else None
    holdout_text = (
        T("global_holdout", n=nv.num(left_out), share=nv.pct(exp.global_holdout_share, 0)) if left_out else ""
    )
    return T(
        "list_finding",
        n=nv.num(len(lst)),
        at_risk=nv.num(seg.get("at_risk", 0)),
        s_at_risk=i18n.name("segment", "at_risk"),
        churned=nv.num(seg.get("churned", 0)),
        s_churned=i18n.name_in_text("stage", "churned"),
        recency=rc.list_max_recency_days,
        cooldown=rc.list_cooldown_days,
        holdout_text=holdout_text,
        treated=nv.num(n_t),
        held=nv.num(len(lst) - n_t),
        share=nv.pct(rc.holdout_share, 0),
        cost=rl.plan_cost_text(plan, exp.campaign_fixed_cost),
        forecast=rl.forecast_sentence(lst, lifts),
    )


def _plan_table(plan: pd.DataFrame):
    shown = plan.assign(
        channel=plan.channel.map(rl.channel_name), touch_cost=[rl.touch_cost_cell(c) for c in plan.touch_cost]
    )
    keys = {"channel": "channel", "users": "users", "treated": "treated", "value_at_stake": "value",
            "holdout": "holdout", "touch_cost": "cost"}  # fmt: skip
    cols = {c: T(f"plan_table.{k}") for c, k in keys.items()}
    kinds = {"users": "int", "treated": "int", "holdout": "int", "value_at_stake": "yuan", "touch_cost": str}
    formats = {cols[c]: k for c, k in kinds.items()}
    return charts.table_html(shown[list(cols)].rename(columns=cols), formats, caption=T("plan_table.caption"))


def _offers_table(lst: pd.DataFrame):
    offers = lst.drop_duplicates("need")[["need", "scene", "content"]].sort_values("need")
    offers["need"] = [i18n.name("category", n) if n != "unknown" else T("level.unknown") for n in offers.need]
    cols = {c: T(f"offers_table.{c}") for c in ("need", "scene", "content")}
    return charts.table_html(offers.rename(columns=cols), caption=T("offers_table.caption"), max_rows=None)


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
    sec = _open("recall_list")
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
        sec.add(_offers_table(lst))
    _record_list(run, plan, left_out)
    return sec


def _effect_actions(run: RecallRun) -> list[str]:
    allr, verdict, lst = run.res.pooled, run.verdict, run.lst
    acts = []
    if (act := rl.recall_action(allr)) is not None:
        acts.append(act)
    if verdict.favour:
        acts.append(T("act.favour", channel=rl.channel_name(verdict.favour), why=verdict.sentence))
    elif verdict.needs_split and len(lst) and lst.channel_arm.nunique() > 1:
        acts.append(T("act.test_channels"))
    weak = run.eff[(run.eff.group == "channel") & ~run.eff.significant]
    acts += [rl.weak_channel_action(w) for w in weak.itertuples()]
    return acts


def _named_actions(run: RecallRun) -> list[tuple[str, str]]:
    """The play's actions as (kind, text), each from a number above (report language)."""
    rc, lst, cmp, worst = run.rc, run.lst, run.cmp, run.worst
    acts = [("effect", a) for a in _effect_actions(run)] if run.eff is not None else []
    if run.has_campaigns and run.res is not None and len(run.res.unmeasured):
        acts.append(("holdout", T("act.holdout", n=nv.num(len(run.res.unmeasured)))))
    if len(lst):
        n_t = int((lst.arm == "treatment").sum())
        acts.append(("send", T("act.send", n=nv.num(n_t), held=nv.num(len(lst) - n_t))))
    if cmp.personal_only:
        value = nv.yuan(cmp.value_personal_only)
        acts.append(
            ("frequent", T("act.frequent", n=nv.num(cmp.personal_only), days=rc.declining_days, value=value))
        )
    if worst is not None:
        acts.append(("worst", T("act.worst", n=nv.num(worst.n_users), **_worst_fields(worst))))
    return acts or [("none", rl.no_action_sentence(run.P))]


def action_list(run: RecallRun) -> list[str]:
    """The play's actions, each from a number above (report language)."""
    return [a for _, a in _named_actions(run)]


def summary_actions(run: RecallRun) -> list[str]:
    """The three actions of the summary page: the list to send first, then the effect and the early touch."""
    order = ("send", "effect", "frequent", "worst", "holdout", "none")
    acts = _named_actions(run)
    return [a for kind in order for k, a in acts if k == kind][:3]


def actions(run: RecallRun) -> Section:
    """Section 7: the actions, each from a number above."""
    sec = _open("actions")
    sec.say("\n".join(f"{i}. {a}" for i, a in enumerate(action_list(run), 1)))
    return sec


def definitions(run: RecallRun) -> Section:
    """The appendix: each number of the report in business language (the SQL stays in the analyst's view)."""
    rc, names = run.rc, rl.stage_names()
    kw = dict(
        p=rl.threshold_pct(rc.at_risk_p),
        days=rc.value_horizon_days,
        recency=rc.list_max_recency_days,
        cooldown=rc.list_cooldown_days,
        share=nv.pct(rc.holdout_share, 0),
        **names,
    )
    keys = [
        "stages",
        "reactivated",
        "gmv_from_churned",
        "at_risk",
        "value",
        "churn_rate",
        "lift",
        "margin",
        "roi",
        "list",
    ]
    rows = [(T(f"definitions.{k}"), T(f"definitions.{k}_text", **(kw | ({"days": rc.window_days} if k == "lift" else {}))))
            for k in keys]  # fmt: skip
    cols = [T("definitions.col_number"), T("definitions.col_definition")]
    sec = _open("appendix")
    sec.add(charts.table_html(pd.DataFrame(rows, columns=cols), max_rows=None))
    return sec


def _findings(run: RecallRun) -> list[str]:
    P, found = run.P, []
    snap = run.snap
    if snap is not None and snap.buyers:
        found.append(
            T(
                "summary.churned",
                share=nv.pct(snap.now.loc["churned", "share_of_buyers"]),
                churned=i18n.name_in_text("stage", "churned"),
                month=i18n.month_short(P),
                n=nv.num(snap.now.loc["churned", "n_users"]),
                reactivated=nv.num(run.reactivated),
            )
        )
    if run.cmp is not None and run.cmp.personal:
        found.append(
            T("summary.at_risk", n=nv.num(run.cmp.personal), value=nv.yuan(run.cmp.value_personal),
              days=run.rc.value_horizon_days)
        )  # fmt: skip
    if run.eff is not None:
        allr = run.res.pooled
        kw = dict(lift=nv.pp(allr["diff"]), ci=nv.ci(allr.ci_low, allr.ci_high, nv.pp))
        roi = rl.roi_fields(allr)  # the ROI and its interval as the action writes them
        found.append(
            T("summary.lift", roi=roi["roi"], roi_ci=roi["ci"], **kw)
            if pd.notna(allr.roi) and abs(allr.roi) != float("inf")
            else T("summary.lift_no_roi", **kw)
        )
    if run.lst is not None and len(run.lst):
        n_t = int((run.lst.arm == "treatment").sum())
        found.append(
            T("summary.list", n=nv.num(len(run.lst)), treated=nv.num(n_t), held=nv.num(len(run.lst) - n_t))
        )
    return found


def summary(run: RecallRun):
    """The one-page summary (the PDF shows it right after the title and intro): three findings, three actions."""
    from userops.sections import summary as one_page

    return Section([one_page(_findings(run), summary_actions(run))])
