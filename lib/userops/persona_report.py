"""Play 05's report sections: each builds its chart, tables and finding from `userops.persona`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.persona` / `userops.activity`, records its headline numbers on the play's
Report, and returns a :class:`Section` holding what the reader sees, in order (figures, tables,
sentences). The state later sections need (RFM scores, features, clusters) lives on
:class:`PersonaRun`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from userops import activity as act
from userops import charts
from userops import narrative as nv
from userops import persona as ps
from userops.db import data_range
from userops.sections import Section
from userops.sections import markdown as _markdown


@dataclass
class PersonaRun:
    """The play's context and what its sections computed so far."""

    ctx: object
    rfm: pd.DataFrame | None = None
    tiers: pd.DataFrame | None = None
    segments: pd.DataFrame | None = None
    feats: pd.DataFrame | None = None
    shown: pd.DataFrame | None = None
    assoc: pd.DataFrame | None = None
    clus: ps.Clustering | None = None
    prof: pd.DataFrame | None = None
    names: pd.Series | None = None
    playbook: pd.DataFrame | None = None
    no_prev: str = ""
    lost_core: int = 0

    @property
    def P(self):
        return self.ctx.period

    @property
    def pp(self):
        return self.ctx.params.persona

    @property
    def ap(self):
        return self.ctx.params.activity

    @property
    def rep(self):
        return self.ctx.report

    def period(self, months: int) -> str:
        return f"{self.P.shift(-(months - 1)).month}..{self.P.month}"

    @property
    def rfm_period(self) -> str:
        return self.period(self.pp.rfm_window_months)

    @property
    def feat_period(self) -> str:
        return self.period(self.pp.feature_window_months)

    @property
    def risk(self) -> pd.DataFrame:
        return self.segments.set_index("segment").reindex(["at_risk"]).dropna()

    def tier_label(self, tier: str) -> str:
        return dict(zip(self.tiers.tier, self.tiers.label, strict=True))[tier]


def start(ctx) -> tuple[PersonaRun, Section]:
    """The run's state and its opening line (month, as-of date, who counts as a buyer)."""
    run = PersonaRun(ctx)
    feat_start, _ = ps.window(run.P, run.pp.feature_window_months)
    sec = Section()
    sec.say(
        f"**{ctx.params.chain_name} · report month {run.P.label}** · as of {run.P.as_of}. Buyers = users "
        f"with an order from {feat_start} to {run.P.as_of} ({run.pp.feature_window_months} months)."
    )
    return run, sec


def _bar_labels(ax, values, offset: float) -> None:
    for i, v in enumerate(values):
        ax.annotate(
            nv.pct(v), (v, i + offset), xytext=(3, 0), textcoords="offset points", va="center", fontsize=9
        )


def _tier_chart(run: PersonaRun) -> plt.Figure:
    tiers, ap = run.tiers, run.ap
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(tiers) + 1.4))
    y = range(len(tiers))
    ax.barh(
        [i - 0.2 for i in y], tiers.user_share, height=0.38, color=charts.MUTED, label="share of spenders"
    )
    ax.barh(
        [i + 0.2 for i in y], tiers.gmv_share, height=0.38, color=charts.ACCENT, label="share of their spend"
    )
    _bar_labels(ax, tiers.user_share, -0.2)
    _bar_labels(ax, tiers.gmv_share, 0.2)
    ax.set_yticks(list(y), tiers.label)
    ax.invert_yaxis()
    charts.percent_axis(ax, "x")
    ax.legend(loc="lower right")
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.12)
    top = tiers[tiers.users > 0].iloc[0]
    charts.title(
        ax,
        f"{top.label} users are {nv.pct(top.user_share)} of spenders and bring {nv.pct(top.gmv_share)} of their spend",
        f"{nv.num(tiers.users.sum())} users with orders in the {ap.tier_window_days} days to {run.P.as_of} "
        "(value tiers, as in play 03)",
    )
    return fig


def _record_tiers(run: PersonaRun) -> None:
    days = run.ap.tier_window_days
    for row in run.tiers.itertuples():
        run.rep.add(
            f"tier_users.{row.tier}",
            row.users,
            "users",
            f"users in value tier {row.label} at the month's end ({days}-day spend; the same tiers as play 03)",
        )
        run.rep.add(
            f"tier_gmv_share.{row.tier}",
            row.gmv_share,
            "share",
            f"share of the {days}-day GMV bought by tier {row.label}",
        )
    for row in run.segments.itertuples():
        run.rep.add(
            f"segment_users.{row.segment}",
            row.users,
            "users",
            f"buyers in RFM segment {row.segment}",
            period=run.rfm_period,
        )


_SEGMENT_COLUMNS = {
    "user_share": "share of buyers",
    "gmv_share": "share of GMV",
    "recency_days": "days since last order",
    "frequency": "orders",
    "monetary": "GMV per user",
}
_SEGMENT_FORMATS = {
    "users": "int",
    "share of buyers": "pct",
    "share of GMV": "pct",
    "days since last order": "float1",
    "orders": "float1",
    "GMV per user": "yuan",
}


def _segments_finding(run: PersonaRun) -> str:
    segments = run.segments
    big = segments.sort_values("users").iloc[-1]
    msg = f"The largest segment is **{big.segment}** ({nv.num(big.users)} buyers, {nv.pct(big.user_share)})."
    if len(run.risk):
        a = run.risk.iloc[0]
        msg += (
            f" **{nv.num(a.users)} at-risk buyers** (frequent before, not recently) still hold "
            f"{nv.pct(a.gmv_share)} of the window's GMV: they are the first to win back."
        )
    coverage = ps.window_coverage(data_range(run.ctx.con)[0], run.P, run.pp.rfm_window_months)
    return msg + (" " + coverage if coverage else "")


def value_tiers(run: PersonaRun) -> Section:
    """Section 1: value tiers (shared with play 03) and RFM segments of the window's buyers."""
    ctx, pp = run.ctx, run.pp
    run.rfm = ps.rfm(ctx.con, run.P, pp, run.ap)
    run.tiers = ps.tier_summary(ctx.con, run.P, run.ap)
    run.segments = ps.level_summary(run.rfm, "segment", ps.rule_order(pp.segments, pp.rule_fallback))
    _record_tiers(run)
    table = run.segments[["segment", "users", *_SEGMENT_COLUMNS]].rename(columns=_SEGMENT_COLUMNS)
    sec = Section([_tier_chart(run)])
    sec.items.append(charts.table_html(table, _SEGMENT_FORMATS, caption="RFM segments (means per user)"))
    sec.say(_segments_finding(run))
    return sec


def tier_moves(run: PersonaRun) -> Section:
    """Section 1b: how users moved between value tiers during the month."""
    P, ap = run.P, run.ap
    tt = act.tier_transitions(run.ctx.con, P, ap)
    run.no_prev = ps.needs_previous(tt, P)
    if run.no_prev:
        return Section([_markdown(run.no_prev)])
    core = run.tiers.tier.iloc[0]
    kept = act.tiers_kept(tt, ap)
    grid = act.tier_matrix(tt, ap)
    grid.index = [act.tier_label(t) for t in grid.index]
    grid.columns = [act.tier_label(t) for t in grid.columns]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    charts.heatmap_masked(grid, None, ax=ax, fmt="int", cmap="Blues")
    ax.set_ylabel(f"tier at {P.start}")
    ax.set_xlabel(f"tier at {P.as_of}")
    charts.title(
        ax,
        f"{nv.num(kept.upgraded)} users moved up a tier and {nv.num(kept.downgraded)} down in {P.short}",
        f"users by value tier at the month's start (rows) and end (columns); {ap.tier_window_days}-day spend",
    )
    run.rep.add(
        "tier_moves.up",
        kept.upgraded,
        "users",
        "users who moved to a higher value tier during the month (new users excluded)",
    )
    run.rep.add(
        "tier_moves.down",
        kept.downgraded,
        "users",
        "users who moved to a lower value tier during the month (including to none)",
    )
    gained = int(tt[(tt.end_name == core) & (tt.start_name != core)].users.sum())
    run.lost_core = int(tt[(tt.start_name == core) & (tt.end_name != core)].users.sum())
    sec = Section([fig])
    sec.say(
        f"**{nv.num(kept.upgraded)} users moved up and {nv.num(kept.downgraded)} down** during {P.label} (the same "
        f"tiers and counts as play 03). {run.tier_label(core)} gained {nv.num(gained)} users and lost "
        f"{nv.num(run.lost_core)}."
    )
    return sec


def _record_scenes(run: PersonaRun, scenes: pd.Series) -> None:
    for c, v in scenes.items():
        run.rep.add(
            f"category_gmv_share.{c}",
            v,
            "share",
            f"share of the window's line GMV in category {c}",
            period=run.feat_period,
        )


def _attribute_heatmaps(
    run: PersonaRun, cats: pd.DataFrame, attrs: list[str], assoc: pd.DataFrame
) -> plt.Figure:
    fig, axes = plt.subplots(1, min(2, len(attrs)), figsize=(10, 4.2), squeeze=False)
    for ax, attr in zip(axes[0], attrs[:2], strict=False):
        ps.attribute_heatmap(cats, run.shown, attr, assoc, run.pp, ax)
    lead = ps.largest_level(run.shown, attrs[0], cats)
    fig.suptitle(lead.sentence, x=0.01, ha="left", fontweight="bold")
    run.rep.add(
        f"largest_{attrs[0]}_share",
        lead.share,
        "share",
        f"share of buyers in the largest {attrs[0].replace('_', ' ')} ({lead.level})",
        period=run.feat_period,
    )
    return fig


def attributes(run: PersonaRun) -> Section:
    """Section 2a: what each attribute group buys (age band, gender, city, family status)."""
    ctx, pp = run.ctx, run.pp
    run.feats = feats = ps.user_features(ctx.con, run.P, pp, ctx.params.data)
    run.assoc = assoc = ps.associations(feats, pp)
    attrs = ps.known_attributes(feats)
    no_cats, no_attrs = ps.needs_categories(feats), ps.needs_attributes(feats)
    # attributes with many levels (hundreds of cities) keep their top levels, the rest pooled as "others"
    run.shown = feats.assign(**{a: ps.top_levels(feats[a]) for a in attrs if a != "age_band"}, all="all")
    sec = Section()
    if no_cats:
        sec.say(no_cats)
    else:
        cats = ps.group_categories(ctx.con, ps.long_groups(run.shown, [*attrs, "all"]), run.P, pp)
        scenes = ps.category_matrix(cats, "all").iloc[0].sort_values(ascending=False)
        _record_scenes(run, scenes)
    if no_attrs:
        sec.say(no_attrs)
    elif not no_cats:
        sec.items.append(_attribute_heatmaps(run, cats, attrs, assoc))
    if not no_cats:
        sec.say(ps.scenes_sentence(scenes))
    return sec


def _p_value(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def associations(run: PersonaRun) -> Section:
    """Section 2b: how strong each attribute x behaviour link is, and a summary by the first attribute."""
    feats, pp = run.feats, run.pp
    attrs = ps.known_attributes(feats)
    if ps.needs_attributes(feats):
        return Section()
    assoc = run.assoc
    sec = Section()
    if not len(assoc):
        sec.say(ps.needs_behaviour_spread())
    else:
        table = assoc.assign(link=assoc.attribute + " × " + assoc.behaviour)
        table = table[["link", "cramers_v", "strength", "p_value", "n"]].rename(
            columns={"cramers_v": "Cramér's V", "p_value": "p-value", "n": "users"}
        )
        formats = {"Cramér's V": lambda v: f"{v:.2f}", "p-value": _p_value, "users": "int"}
        caption = "Strength of attribute × behaviour links, on users (association, not effect)"
        sec.items.append(charts.table_html(table, formats, caption=caption))
        for row in assoc.itertuples():
            run.rep.add(
                f"cramers_v.{row.attribute}.{row.behaviour.replace(' ', '_')}",
                row.cramers_v,
                "Cramér's V",
                f"association of {row.attribute} with the user's {row.behaviour} (association, not effect)",
                period=run.feat_period,
            )
        sec.say(ps.association_sentence(assoc, pp))
    by = attrs[0]
    summary, formats = ps.attribute_summary(run.shown, by, pp)
    caption = (
        f"By {by.replace('_', ' ')}, {run.feat_period} (peak time = the time of day with most of its orders)"
    )
    sec.items.append(charts.table_html(summary, formats, caption=caption))
    return sec


def _too_new(run: PersonaRun) -> str:
    clus, pp, n = run.clus, run.pp, len(run.feats)
    share = nv.pct(clus.n_too_new / n) if n else "0%"
    return (
        f"{nv.num(clus.n_too_new)} buyers with fewer than {pp.min_orders} orders are **{pp.too_new_label}** "
        f"({share} of buyers): they are not clustered."
    )


def _cluster_chart(run: PersonaRun) -> plt.Figure:
    prof, names, clus = run.prof, run.names, run.clus
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(ps.profile_columns(prof)) + 0.8))
    ps.profile_heatmap(prof, ax)
    big_c = prof.drop("all").users.astype(float).idxmax()
    fig.suptitle(
        f"{clus.k} behaviour clusters; the largest, cluster {big_c}, is\n{names[big_c]} "
        f"({nv.pct(prof.loc[big_c, 'user_share'])} of buyers)",
        x=0.01,
        ha="left",
        fontweight="bold",
    )
    ax.set_title(
        "cells: each cluster's value; colour: above (blue) or below (red) all buyers",
        fontsize=10,
        fontweight="normal",
        color="#666666",
        pad=28,
    )
    return fig


def _record_clusters(run: PersonaRun) -> None:
    clus, pp, prof, names, period = run.clus, run.pp, run.prof, run.names, run.feat_period
    add = run.rep.add
    add(
        "clusters_k",
        clus.k,
        "clusters",
        f"number of behaviour clusters (best silhouette for k in {pp.k_min}..{pp.k_max})",
        period=period,
    )
    add(
        "clusters_silhouette",
        clus.silhouette[clus.k],
        "silhouette",
        "mean silhouette of the chosen clustering on the seeded sample (-1..1, higher = better separated)",
        period=period,
    )
    for c in names.index:
        add(
            f"cluster_users.{c}",
            prof.loc[c, "users"],
            "users",
            f"buyers in cluster {c} ({names[c]})",
            period=period,
        )
        add(
            f"cluster_aov.{c}",
            prof.loc[c, "aov"],
            "yuan",
            f"average order value of cluster {c} ({names[c]})",
            period=period,
        )
    add(
        "buyers_too_new_to_profile",
        clus.n_too_new,
        "users",
        f"buyers with fewer than {pp.min_orders} orders in the window: not clustered ({pp.too_new_label})",
        period=period,
    )


def clusters(run: PersonaRun) -> Section:
    """Section 3: behaviour clusters of buyers with enough orders; the rest are too new to profile."""
    pp = run.pp
    run.clus = clus = ps.cluster_users(run.feats, pp)
    if not clus.ok:
        return Section([_markdown(" ".join(t for t in (clus.reason, clus.note(), _too_new(run)) if t))])
    run.prof = ps.cluster_profiles(run.feats, clus)
    run.names = ps.name_clusters(run.prof, pp)
    typical = ps.typical_attributes(run.feats, clus)
    _record_clusters(run)
    sec = Section([_cluster_chart(run)])
    sec.say(
        f"**k = {clus.k}** clusters of the {nv.num(clus.n_fitted)} buyers with {pp.min_orders}+ orders. "
        f"{ps.silhouette_note(clus, pp)} The whitened components keep {nv.pct(clus.explained_variance)} of the "
        f"standardised features' variance. {_too_new(run)} {clus.note()}".strip()
    )
    ctab, cformats = ps.cluster_table(run.prof, run.names, typical)
    caption = "Clusters with their most common attributes (attributes were not used to build them)"
    sec.items.append(charts.table_html(ctab, cformats, caption=caption))
    return sec


def _aov_headline(csum: pd.DataFrame) -> str:
    gaps = csum.dropna(subset=["aov_gap"]).assign(abs_gap=lambda d: d.aov_gap.abs()).sort_values("abs_gap")
    if not len(gaps):
        return "No cluster orders both online and in store"
    gap = gaps.iloc[-1]
    return (
        f"The online / in-store gap is largest for cluster {gap.cluster}: {nv.yuan(gap.online_aov)} online vs "
        f"{nv.yuan(gap.offline_aov)} in store"
    )


def _record_aov(run: PersonaRun, csum: pd.DataFrame) -> None:
    for row in csum.itertuples():
        for kind, txt in (("online", "online"), ("offline", "in-store")):
            run.rep.add(
                f"cluster_{kind}_aov.{row.cluster}",
                getattr(row, f"{kind}_aov"),
                "yuan",
                f"average {txt} order value of cluster {row.cluster} ({row.name}); user-level interval",
                period=run.feat_period,
                ci=(getattr(row, f"{kind}_aov_low"), getattr(row, f"{kind}_aov_high")),
            )
        run.rep.add(
            f"cluster_omni_share.{row.cluster}",
            row.omni_share,
            "share",
            f"share of cluster {row.cluster} buyers who ordered both online and in store",
            period=run.feat_period,
        )


def _aov_table(csum: pd.DataFrame, short: str):
    columns = {
        "cluster": "cluster",
        "name": "name",
        "online_share": "online orders",
        "month_online_share": f"online {short}",
        "omni_share": "use both",
        "online_aov": "online AOV",
        "online_aov_low": "low",
        "online_aov_high": "high",
        "offline_aov": "in-store AOV",
        "offline_aov_low": "low ",
        "offline_aov_high": "high ",
    }
    formats = {c: "pct" for c in ("online orders", f"online {short}", "use both")}
    formats |= {c: "yuan" for c in ("online AOV", "low", "high", "in-store AOV", "low ", "high ")}
    return charts.table_html(csum[list(columns)].rename(columns=columns), formats)


def channel_aov(run: PersonaRun) -> Section:
    """Section 4: online vs in-store order value per cluster, with user-level intervals."""
    no_channels = ps.needs_both_channels(run.feats)
    if not run.clus.ok:
        return Section([_markdown(ps.needs_clusters("Online vs in-store order value per cluster"))])
    if no_channels:
        return Section([_markdown(no_channels)])
    csum = ps.group_summary(run.feats.merge(run.clus.assignment, on="user_id"), "cluster", run.pp.ci_level)
    csum["name"] = csum.cluster.astype(str).map(run.names)
    csum["label"] = "cluster " + csum.cluster.astype(str)
    fig, ax = plt.subplots(figsize=(8, 0.75 * len(csum) + 1.4))
    ps.aov_chart(csum, "label", ax)
    charts.title(ax, _aov_headline(csum), f"average order value, {run.feat_period}; bars = 95% interval")
    _record_aov(run, csum)
    sec = Section([fig])
    sec.say(ps.channel_findings(csum, run.P))
    sec.items.append(_aov_table(csum, run.P.short))
    return sec


def _hours_chart(run: PersonaRun, ctime: pd.DataFrame) -> plt.Figure:
    hours = ctime.groupby(["grp", "hour"]).orders.sum().unstack("hour")
    hours = hours.div(hours.sum(axis=1), axis=0)
    hours.index = [f"cluster {i}" for i in hours.index]
    fig, ax = plt.subplots(figsize=(10, 0.5 * run.clus.k + 1.8))
    charts.heatmap_masked(hours, None, ax=ax, fmt=lambda v: f"{v * 100:.0f}", cmap="Greens", annot=True)
    ax.set_xlabel("hour of day (share of the cluster's orders, %)")
    ax.set_ylabel("")
    first, last = run.playbook.iloc[0], run.playbook.iloc[-1]
    charts.title(
        ax,
        f"Cluster {first.cluster} orders most on {first.peak_weekday} around {first.peak_hour}:00; "
        f"cluster {last.cluster} around {last.peak_hour}:00",
        f"when each cluster orders, {run.feat_period}",
    )
    return fig


_PCT_SHOWN = {
    "cluster": "cluster",
    "persona": "persona",
    "users": "users",
    "content": "content",
    "coupon_share": "coupon orders",
    "coupon_sensitivity": "coupon sensitivity",
    "coupon_redemption": "coupon redeemed",
    "time": "time",
    "channel": "CRM channel",
    "order_channel": "buys via",
}
_PCT_LIST = [
    "cluster",
    "persona",
    "users",
    "top_category",
    "second_category",
    "coupon_share",
    "coupon_sensitivity",
    "coupon_kind",
    "coupon_redemption",
    "peak_weekday",
    "peak_hour",
    "channel",
    "order_channel",
    "online_share",
]


def _write_lists(run: PersonaRun) -> Section:
    """targets/persona_playbook.csv (one row per cluster) and targets/user_personas.csv (per buyer)."""
    pp = run.pp
    run.rep.write_target("persona_playbook", run.playbook[_PCT_LIST], ["cluster"])
    up = ps.user_personas(run.clus, run.names, run.feats, run.rfm, pp)
    run.rep.write_target("user_personas", up, ["user_id"])
    run.rep.add(
        "user_personas_rows",
        len(up),
        "users",
        "buyers in targets/user_personas.csv (one row each)",
        period=run.feat_period,
    )
    sec = Section()
    sec.say(
        f"**{nv.num(len(up))} buyers** are listed with their cluster, persona name, RFM segment and value tier "
        f"(`targets/user_personas.csv`); {nv.num((up.cluster == 0).sum())} of them are {pp.too_new_label} "
        f"(fewer than {pp.min_orders} orders, cluster 0)."
    )
    return sec


def pct_table(run: PersonaRun) -> Section:
    """Section 5: right people, right content, right time per cluster, and the CRM's two lists."""
    ctx, clus, pp = run.ctx, run.clus, run.pp
    if not clus.ok:
        return Section([_markdown(ps.needs_clusters("The right-people, right-content, right-time table"))])
    groups = clus.assignment.assign(dimension="cluster", grp=clus.assignment.cluster.astype(str))
    ccats = ps.group_categories(ctx.con, groups, run.P, pp)
    ctime = ps.group_time(ctx.con, groups, run.P, pp)
    has_coupons = ctx.has("coupons")
    ccoupons = ps.group_coupons(ctx.con, groups, run.P, pp, ctx.params.data) if has_coupons else None
    cchannels = ps.cluster_channels(run.feats, clus, ctx.con, run.P, pp)
    run.playbook = ps.pct_table(run.prof, run.names, ccats, ctime, ccoupons, cchannels, pp, ctx.params.recall)
    sec = Section([_hours_chart(run, ctime)])
    if not has_coupons:
        sec.items.append(charts.missing_table_note("coupons", "the coupon kind each cluster redeems best"))
    shown = run.playbook[list(_PCT_SHOWN)].rename(columns=_PCT_SHOWN)
    sec.items.append(
        charts.table_html(shown, {"users": "int", "coupon orders": "pct", "coupon redeemed": "pct"})
    )
    sec.items += _write_lists(run).items
    return sec


def actions(run: PersonaRun) -> Section:
    """Section 6: the actions, each from a number above."""
    acts = ps.pct_actions(run.playbook) if run.clus.ok else []
    if len(run.risk):
        r = run.risk.iloc[0]
        acts.append(
            f"**Win back {nv.num(r.users)} at-risk buyers** (RFM segment at_risk, "
            f"{nv.pct(r.gmv_share)} of GMV) before they lapse: see the recall play's list."
        )
    core = run.tiers.tier.iloc[0]
    core_users = int(run.tiers.users.iloc[0])
    if not run.no_prev and run.lost_core:
        acts.append(
            f"**Keep the {run.tier_label(core)} tier**: {nv.num(run.lost_core)} users left it this month; "
            f"give its {nv.num(core_users)} members the membership perks."
        )
    elif core_users > 0:
        acts.append(
            f"**Keep the {run.tier_label(core)} tier**: give its {nv.num(core_users)} members the membership perks."
        )
    sec = Section()
    sec.say("\n".join(f"{i}. {a}" for i, a in enumerate(acts, 1)))
    return sec
