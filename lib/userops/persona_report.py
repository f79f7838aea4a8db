"""Play 05's report sections: each builds its chart, tables and finding from `userops.persona`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.persona` / `userops.activity`, records its headline numbers on the play's
Report, and returns a :class:`Section` holding what the reader sees, in order (figures, tables,
sentences), every word from the report language's catalog (lib/userops/i18n/<lang>/persona.yaml,
keys ``persona_report.*``). The state later sections need (RFM scores, features, clusters) lives on
:class:`PersonaRun`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from userops import activity as act
from userops import charts, i18n
from userops import narrative as nv
from userops import persona as ps
from userops.db import data_range
from userops.persona import T
from userops.report_base import PlayRun
from userops.sections import Section, markdown


@dataclass
class PersonaRun(PlayRun):
    """The play's context and what its sections computed so far."""

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
    def pp(self):
        return self.ctx.params.persona

    @property
    def ap(self):
        return self.ctx.params.activity

    def period(self, months: int) -> str:
        return f"{self.P.shift(-(months - 1)).month}..{self.P.month}"

    @property
    def rfm_period(self) -> str:
        return self.period(self.pp.rfm_window_months)

    @property
    def feat_period(self) -> str:
        return self.period(self.pp.feature_window_months)

    @property
    def window_text(self) -> str:
        """The feature window in the report language ('2025年11月–2026年10月')."""
        return f"{i18n.month(self.P.shift(-(self.pp.feature_window_months - 1)))}–{i18n.month(self.P)}"

    @property
    def risk(self) -> pd.DataFrame:
        return self.segments.set_index("segment").reindex(["at_risk"]).dropna()

    @property
    def too_new_label(self) -> str:
        """The name of the unclustered group: the catalog's unless the chain named it in params."""
        default = type(self.pp).model_fields["too_new_label"].default
        return T("too_new_label") if self.pp.too_new_label == default else self.pp.too_new_label

    def tier_label(self, tier: str) -> str:
        return tier_name(tier)


def tier_name(tier: str) -> str:
    """A value tier's display name ('core' -> '核心用户'); a tier of the chain's own as written."""
    if i18n.known("tier", tier):
        return i18n.name("tier", tier)
    return i18n.name("stage", tier) if tier == "new" else str(tier)


def _open(part: str, lead: dict | None = None) -> Section:
    """A section that opens with its heading, and its lead paragraph filled with ``lead`` (None: no lead)."""
    sec = Section()
    sec.say(T(f"heading.{part}"))
    if lead is not None:
        sec.say(T(f"lead.{part}", **lead))
    return sec


def start(ctx) -> tuple[PersonaRun, Section]:
    """The run's state and its opening lines (month, as-of date, who counts as a buyer)."""
    run = PersonaRun(ctx)
    feat_start, _ = ps.window(run.P, run.pp.feature_window_months)
    sec = Section()
    sec.say(f"# {T('title')}")  # the title, intro and summary share the PDF's first page
    sec.say(T("intro"))
    sec.say(
        T("opening", chain=ctx.params.chain_name, month=i18n.month(run.P), as_of=run.P.as_of, start=feat_start,
          months=run.pp.feature_window_months)
    )  # fmt: skip
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
        [i - 0.2 for i in y], tiers.user_share, height=0.38, color=charts.MUTED, label=T("tier_chart.users")
    )
    ax.barh(
        [i + 0.2 for i in y], tiers.gmv_share, height=0.38, color=charts.ACCENT, label=T("tier_chart.gmv")
    )
    _bar_labels(ax, tiers.user_share, -0.2)
    _bar_labels(ax, tiers.gmv_share, 0.2)
    ax.set_yticks(list(y), [tier_name(t) for t in tiers.tier])
    ax.invert_yaxis()
    charts.percent_axis(ax, "x")
    ax.legend(loc="lower right")
    ax.grid(axis="y", visible=False)
    ax.margins(x=0.12)
    charts.title(
        ax,
        _tier_sentence(run),
        T("tier_chart.subtitle", n=nv.num(tiers.users.sum()), days=ap.tier_window_days, as_of=run.P.as_of),
    )
    return fig


def _tier_sentence(run: PersonaRun, key: str = "tier_chart.title") -> str:
    top = run.tiers[run.tiers.users > 0].iloc[0]
    return T(key, tier=tier_name(top.tier), share=nv.pct(top.user_share), gmv=nv.pct(top.gmv_share))


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


def _segment_table(run: PersonaRun):
    keys = ["segment", "users", "user_share", "gmv_share", "recency_days", "frequency", "monetary"]
    cols = {k: T(f"segment_table.{k}") for k in keys}
    kinds = {"users": "int", "user_share": "pct", "gmv_share": "pct", "recency_days": "float1",
             "frequency": "float1", "monetary": "yuan"}  # fmt: skip
    table = run.segments[keys].assign(segment=lambda d: d.segment.map(lambda s: i18n.name("segment", s)))
    formats = {cols[c]: k for c, k in kinds.items()}
    return charts.table_html(table.rename(columns=cols), formats, caption=T("segment_table.caption"))


def _segments_finding(run: PersonaRun) -> str:
    big = run.segments.sort_values("users").iloc[-1]
    msg = T(
        "segments_finding",
        segment=i18n.name_in_text("segment", big.segment),
        n=nv.num(big.users),
        share=nv.pct(big.user_share),
    )
    if len(run.risk):
        a = run.risk.iloc[0]
        msg += T("at_risk_finding", n=nv.num(a.users), share=nv.pct(a.gmv_share))
    coverage = ps.window_coverage(data_range(run.ctx.con)[0], run.P, run.pp.rfm_window_months)
    return msg + (" " + coverage if coverage else "")


def value_tiers(run: PersonaRun) -> Section:
    """Section 1: value tiers (shared with play 03) and RFM segments of the window's buyers."""
    ctx, pp = run.ctx, run.pp
    run.rfm = ps.rfm(ctx.con, run.P, pp, run.ap)
    run.tiers = ps.tier_summary(ctx.con, run.P, run.ap)
    run.segments = ps.level_summary(run.rfm, "segment", ps.rule_order(pp.segments, pp.rule_fallback))
    _record_tiers(run)
    sec = _open("value_tiers", {"days": run.ap.tier_window_days})
    sec.add(_tier_chart(run))
    sec.add(_segment_table(run))
    sec.say(_segments_finding(run))
    return sec


def tier_moves(run: PersonaRun) -> Section:
    """Section 1b: how users moved between value tiers during the month."""
    P, ap = run.P, run.ap
    tt = act.tier_transitions(run.ctx.con, P, ap)
    run.no_prev = ps.needs_previous(tt, P)
    if run.no_prev:
        return Section([markdown(run.no_prev)])
    core = run.tiers.tier.iloc[0]
    kept = act.tiers_kept(tt, ap)
    grid = act.tier_matrix(tt, ap)
    grid.index = [tier_name(t) for t in grid.index]
    grid.columns = [tier_name(t) for t in grid.columns]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    charts.heatmap_masked(grid, None, ax=ax, fmt="int", cmap="Blues")
    ax.set_ylabel(T("tier_moves.ylabel", date=P.start))
    ax.set_xlabel(T("tier_moves.xlabel", date=P.as_of))
    up, down = nv.num(kept.upgraded), nv.num(kept.downgraded)
    charts.title(
        ax,
        T("tier_moves.title", up=up, down=down, month=i18n.month_short(P)),
        T("tier_moves.subtitle", days=ap.tier_window_days),
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
        T("tier_moves.finding", up=up, down=down, month=i18n.month(P), tier=tier_name(core), gained=nv.num(gained),
          lost=nv.num(run.lost_core))
    )  # fmt: skip
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
    sec = _open("attributes", None if no_attrs else {})
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


def _assoc_table(assoc: pd.DataFrame):
    table = assoc.assign(
        link=[ps._link(r) for r in assoc.itertuples()],
        strength=assoc.strength.map(lambda s: ps.word("strength", s)),
    )
    keys = {"link": "link", "cramers_v": "v", "strength": "strength", "p_value": "p", "n": "users"}
    cols = {c: T(f"assoc_table.{k}") for c, k in keys.items()}
    formats = {cols["cramers_v"]: lambda v: f"{v:.2f}", cols["p_value"]: _p_value, cols["n"]: "int"}
    return charts.table_html(
        table[list(cols)].rename(columns=cols), formats, caption=T("assoc_table.caption")
    )


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
        sec.add(_assoc_table(assoc))
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
    caption = T("summary_table.caption", attribute=ps.attribute_label(by), period=run.window_text)
    sec.add(charts.table_html(summary, formats, caption=caption))
    return sec


def _too_new(run: PersonaRun) -> str:
    clus, pp, n = run.clus, run.pp, len(run.feats)
    share = nv.pct(clus.n_too_new / n) if n else nv.pct(0)
    return T("too_new", n=nv.num(clus.n_too_new), min=pp.min_orders, label=run.too_new_label, share=share)


def _cluster_chart(run: PersonaRun) -> plt.Figure:
    prof, names, clus = run.prof, run.names, run.clus
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(ps.profile_columns(prof)) + 0.8))
    ps.profile_heatmap(prof, ax)
    big_c = prof.drop("all").users.astype(float).idxmax()
    fig.suptitle(
        T(
            "cluster_chart.title",
            k=clus.k,
            c=big_c,
            name=names[big_c],
            share=nv.pct(prof.loc[big_c, "user_share"]),
        ),
        x=0.01,
        ha="left",
        fontweight="bold",
    )
    ax.set_title(T("cluster_chart.subtitle"), fontsize=10, fontweight="normal", color="#666666", pad=28)
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
    sec = _open("clusters", {"min_orders": pp.min_orders})
    if not clus.ok:
        sec.say(" ".join(t for t in (clus.reason, clus.note(), _too_new(run)) if t))
        return sec
    run.prof = ps.cluster_profiles(run.feats, clus)
    run.names = ps.name_clusters(run.prof, pp)
    typical = ps.typical_attributes(run.feats, clus)
    _record_clusters(run)
    sec.add(_cluster_chart(run))
    sec.say(
        T("clusters_finding", k=clus.k, n=nv.num(clus.n_fitted), min=pp.min_orders, silhouette=ps.silhouette_note(clus, pp),
          variance=nv.pct(clus.explained_variance), too_new=_too_new(run), note=clus.note()).strip()
    )  # fmt: skip
    ctab, cformats = ps.cluster_table(run.prof, run.names, typical)
    sec.add(charts.table_html(ctab, cformats, caption=T("cluster_table.caption")))
    return sec


def _aov_headline(csum: pd.DataFrame) -> str:
    gaps = csum.dropna(subset=["aov_gap"]).assign(abs_gap=lambda d: d.aov_gap.abs()).sort_values("abs_gap")
    if not len(gaps):
        return T("aov_chart.title_none")
    gap = gaps.iloc[-1]
    return T(
        "aov_chart.title", c=gap.cluster, online=nv.yuan(gap.online_aov), offline=nv.yuan(gap.offline_aov)
    )


def _range(low, high) -> str:
    return nv.unbreakable(f"{nv.yuan(low)}–{nv.yuan(high)}")


def _aov_table(csum: pd.DataFrame, P):
    shown = csum.assign(
        online_ci=[_range(lo, hi) for lo, hi in zip(csum.online_aov_low, csum.online_aov_high, strict=True)],
        offline_ci=[
            _range(lo, hi) for lo, hi in zip(csum.offline_aov_low, csum.offline_aov_high, strict=True)
        ],
    )
    keys = ["cluster", "online_share", "month_online_share", "omni_share", "online_aov", "online_ci",
            "offline_aov", "offline_ci"]  # fmt: skip
    cols = {k: T(f"aov_table.{k}", month=i18n.month_short(P)) for k in keys}
    kinds = {"online_share": "pct", "month_online_share": "pct", "omni_share": "pct", "online_aov": "yuan",
             "offline_aov": "yuan"}  # fmt: skip
    formats = {cols[c]: k for c, k in kinds.items()}
    return charts.table_html(shown[keys].rename(columns=cols), formats)


def channel_aov(run: PersonaRun) -> Section:
    """Section 4: online vs in-store order value per cluster, with user-level intervals."""
    no_channels = ps.needs_both_channels(run.feats)
    if not run.clus.ok or no_channels:
        sec = _open("channel_aov")
        sec.say(no_channels if run.clus.ok else ps.needs_clusters(T("needs_what.channel_aov")))
        return sec
    sec = _open("channel_aov", {})
    csum = ps.group_summary(run.feats.merge(run.clus.assignment, on="user_id"), "cluster", run.pp.ci_level)
    csum["name"] = csum.cluster.astype(str).map(run.names)
    csum["label"] = [T("cluster_chart.cluster", c=c) for c in csum.cluster]
    fig, ax = plt.subplots(figsize=(8, 0.75 * len(csum) + 1.4))
    ps.aov_chart(csum, "label", ax)
    charts.title(ax, _aov_headline(csum), T("aov_chart.subtitle", period=run.window_text))
    _record_aov(run, csum)
    sec.add(fig)
    sec.say(ps.channel_findings(csum, run.P))
    sec.add(_aov_table(csum, run.P))
    return sec


def _weekday(day: str) -> str:
    return i18n.t(f"persona.weekday.{day}")


def _hours_chart(run: PersonaRun, ctime: pd.DataFrame) -> plt.Figure:
    hours = ctime.groupby(["grp", "hour"]).orders.sum().unstack("hour")
    hours = hours.div(hours.sum(axis=1), axis=0)
    hours.index = [T("cluster_chart.cluster", c=i) for i in hours.index]
    fig, ax = plt.subplots(figsize=(10, 0.5 * run.clus.k + 1.8))
    charts.heatmap_masked(hours, None, ax=ax, fmt=lambda v: f"{v * 100:.0f}", cmap="Greens", annot=True)
    ax.set_xlabel(T("hours_chart.xlabel"))
    ax.set_ylabel("")
    first, last = run.playbook.iloc[0], run.playbook.iloc[-1]
    charts.title(
        ax,
        T("hours_chart.title", first=first.cluster, weekday=_weekday(first.peak_weekday), hour=first.peak_hour,
          last=last.cluster, last_hour=last.peak_hour),
        T("hours_chart.subtitle", period=run.window_text),
    )  # fmt: skip
    return fig


_PCT_SHOWN = ["cluster", "persona", "users", "content", "coupon_sensitivity", "coupon_redemption",
              "time", "channel", "order_channel"]  # fmt: skip
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


def _pct_shown(playbook: pd.DataFrame):
    """The playbook as the reader sees it: business names, weekday and hour in the report language."""
    shown = playbook.assign(
        time=[T("pct.time_value", weekday=_weekday(d), hour=f"{h:02d}") for d, h in zip(playbook.peak_weekday,
              playbook.peak_hour, strict=True)],
        coupon_sensitivity=playbook.coupon_sensitivity.map(ps.sensitivity_label),
        channel=playbook.channel.map(lambda c: i18n.name("campaign_channel", c)),
        order_channel=playbook.order_channel.map(lambda c: i18n.name("order_channel", c)),
    )  # fmt: skip
    cols = {c: T(f"pct.{c}") for c in _PCT_SHOWN}
    formats = {cols["users"]: "int", cols["coupon_redemption"]: "pct"}
    return charts.table_html(shown[_PCT_SHOWN].rename(columns=cols), formats)


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
        T(
            "lists",
            n=nv.num(len(up)),
            too_new=nv.num((up.cluster == 0).sum()),
            label=run.too_new_label,
            min=pp.min_orders,
        )
    )
    return sec


def pct_table(run: PersonaRun) -> Section:
    """Section 5: right people, right content, right time per cluster, and the CRM's two lists."""
    ctx, clus, pp = run.ctx, run.clus, run.pp
    if not clus.ok:
        sec = _open("pct_table")
        sec.say(ps.needs_clusters(T("needs_what.pct_table")))
        return sec
    groups = clus.assignment.assign(dimension="cluster", grp=clus.assignment.cluster.astype(str))
    ccats = ps.group_categories(ctx.con, groups, run.P, pp)
    ctime = ps.group_time(ctx.con, groups, run.P, pp)
    has_coupons = ctx.has("coupons")
    ccoupons = ps.group_coupons(ctx.con, groups, run.P, pp, ctx.params.data) if has_coupons else None
    cchannels = ps.cluster_channels(run.feats, clus, ctx.con, run.P, pp)
    run.playbook = ps.pct_table(run.prof, run.names, ccats, ctime, ccoupons, cchannels, pp, ctx.params.recall)
    sec = _open("pct_table", {})
    sec.add(_hours_chart(run, ctime))
    if not has_coupons:
        sec.add(charts.missing_table_note("coupons", i18n.t("persona_report.pct.coupon_redemption")))
    sec.add(_pct_shown(run.playbook))
    sec.items += _write_lists(run).items
    return sec


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


def action_list(run: PersonaRun) -> list[str]:
    """The play's actions, each from a number above (report language)."""
    acts = ps.pct_actions(run.playbook) if run.clus.ok else []
    if len(run.risk):
        r = run.risk.iloc[0]
        acts.append(
            T(
                "act.win_back",
                n=nv.num(r.users),
                segment=i18n.name("segment", "at_risk"),
                share=nv.pct(r.gmv_share),
            )
        )
    core = run.tiers.tier.iloc[0]
    core_users = int(run.tiers.users.iloc[0])
    if not run.no_prev and run.lost_core:
        acts.append(
            T(
                "act.keep_lost",
                tier=i18n.name_in_text("tier", core),
                lost=nv.num(run.lost_core),
                n=nv.num(core_users),
            )
        )
    elif core_users > 0:
        acts.append(T("act.keep", tier=i18n.name_in_text("tier", core), n=nv.num(core_users)))
    return acts


def actions(run: PersonaRun) -> Section:
    """Section 6: the actions, each from a number above."""
    sec = _open("actions")
    sec.say("\n".join(f"{i}. {a}" for i, a in enumerate(action_list(run), 1)))
    return sec


def definitions(run: PersonaRun) -> Section:
    """The appendix: each number of the report in business language (the SQL stays in the analyst's view)."""
    pp, ap = run.pp, run.ap
    kw = dict(days=ap.tier_window_days, months=pp.feature_window_months, min=pp.min_orders)
    keys = ["tiers", "rfm", "moves", "association", "clusters", "aov", "pct"]
    rows = [
        (
            T(f"definitions.{k}"),
            T(f"definitions.{k}_text", **(kw | {"months": pp.rfm_window_months} if k == "rfm" else kw)),
        )
        for k in keys
    ]
    cols = [T("definitions.col_number"), T("definitions.col_definition")]
    sec = _open("appendix")
    sec.add(charts.table_html(pd.DataFrame(rows, columns=cols), max_rows=None))
    return sec


def _findings(run: PersonaRun) -> list[str]:
    found = []
    if run.tiers is not None and (run.tiers.users > 0).any():
        found.append(_tier_sentence(run, "summary.tier"))
    if run.segments is not None and len(run.risk):
        a = run.risk.iloc[0]
        found.append(T("summary.at_risk", n=nv.num(a.users), share=nv.pct(a.gmv_share)))
    if run.clus is not None and run.clus.ok:
        big = run.prof.drop("all").users.astype(float).idxmax()
        share = nv.pct(run.prof.loc[big, "user_share"])
        found.append(T("summary.clusters", k=run.clus.k, name=run.names[big], share=share))
    elif run.clus is not None:
        found.append(T("summary.no_clusters", why=run.clus.reason))
    return found


def summary(run: PersonaRun):
    """The one-page summary (the PDF shows it right after the title and intro): three findings, three actions."""
    from userops.sections import summary as one_page

    acts = action_list(run)
    first = acts[:1] + acts[-2:] if len(acts) > 3 else acts  # a cluster's play, the at-risk and the core tier
    return Section([one_page(_findings(run), first)])
