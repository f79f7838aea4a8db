"""Play 02's report sections: each builds its chart, tables and finding from `userops.retention`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.retention`, records its headline numbers on the play's Report (the keys of
metrics.json are a contract the brief reads), writes the target list, and returns a
:class:`~userops.sections.Section` whose every word comes from the report language's catalog
(``text.retention_report`` in lib/userops/i18n/<lang>/retention.yaml). What later sections need
(the channels, the reminder's effect, the list) lives on :class:`RetentionRun`.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from userops import charts, i18n, money
from userops import narrative as nv
from userops import retention as r
from userops.campaigns import arm_rates
from userops.period import Period
from userops.report_base import PlayRun
from userops.sections import Section
from userops.sections import summary as summary_page

_t = r._t


@dataclass
class RetentionRun(PlayRun):
    """The play's context and what its sections computed so far (``retention.Section`` each)."""

    hs: r.Section | None = None  # headline
    cs: r.Section | None = None  # channels
    ks: r.Section | None = None  # time to return
    ps: r.Section | None = None  # coupon pack
    es: r.Section | None = None  # expiry reminder effect
    due: pd.DataFrame | None = None  # the expiring-coupon list (None without a coupons table)

    @property
    def rp(self):
        return self.ctx.params.retention

    @property
    def k(self) -> int:
        return self.rp.max_day

    @property
    def first(self) -> Period:
        """The first month of the trailing window the channel and return sections pool."""
        return self.P.shift(-(self.rp.channel_trailing_months - 1))

    @property
    def trailing(self) -> str:
        return f"{self.first.month}..{self.P.month}"

    def level(self) -> str:
        return f"{self.rp.ci_level:.0%}"


def _section(heading: str, intro: str = "") -> Section:
    sec = Section()
    sec.say(_t(heading))
    sec.say(intro)
    return sec


def start(ctx) -> tuple[RetentionRun, Section]:
    """The report's title and opening line (chain, month, data as of)."""
    run = RetentionRun(ctx)
    sec = Section()
    sec.say(f"# {i18n.name('play', '02_new_user_retention')}")
    sec.say(_t("opening", chain=ctx.params.chain_name, month=i18n.month(run.P), as_of=run.P.as_of))
    return run, sec


# --------------------------------------------------------------------------- 1 · this month's new users


def headline(run: RetentionRun) -> Section:
    """Section 1: the month's new users, D1, k-day retention and the 2nd-order variant."""
    P, rp, rep = run.P, run.rp, run.rep
    run.hs = hs = r.headline_section(run.ctx.con, P, rp, run.ctx.has("events"))
    sec = _section("h_headline")
    if not hs.ok:
        sec.note(hs.reason)
        return sec
    h, defs, k = hs.value, r.metric_definitions(rp), run.k
    rep.add("new_users", h.new_users, "users", "users whose first order was in the month")
    rep.add("d1_retention", h.d1, *defs["d1_retention"])
    if not pd.isna(h.d1_other):
        rep.add(f"d1_retention_{h.other_event}", h.d1_other, *defs[f"d1_retention_{h.other_event}"])
    rep.add(f"cum_d{k}_retention", h.cum_d7, *defs[f"cum_d{k}_retention"])
    second_key = f"second_order_within_{rp.second_order_days * 24}h"
    rep.add(second_key, h.second_within, *defs[second_key])
    sec.say(r.headline_text(h, P, rp))
    return sec


# --------------------------------------------------------------------------- 2 · cohorts


def _monthly_chart(monthly: pd.DataFrame, run: RetentionRun) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=False)
    for (cohort, g), color in zip(monthly.groupby("cohort_start"), charts.PALETTE * 2, strict=False):
        if not g.is_mature.any():
            continue
        label = pd.Timestamp(cohort).strftime("%Y-%m")
        lw = 2.6 if label == run.P.month else 1.2
        axes[0].plot(g.day_k, g.retention.where(g.is_mature), marker="o", lw=lw, color=color, label=label)
        axes[1].plot(g.day_k, g.cum_retention.where(g.is_mature), marker="o", lw=lw, color=color, label=label)
    for ax, what in zip(axes, ["monthly_on_day", "monthly_within"], strict=True):
        ax.set_xlabel(_t("day_k"))
        charts.percent_axis(ax)
        ax.set_title(_t(what), fontsize=11)
    axes[1].legend(title=_t("first_month"), fontsize=8)
    best = r.best_month(monthly, run.k)
    month = i18n.month(Period(pd.Timestamp(best.cohort_start).strftime("%Y-%m")))
    title = _t("monthly_title", month=month, k=run.k, rate=nv.pct(best.cum_retention))
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    return fig


def _day_label(d) -> str:
    d = pd.Timestamp(d)
    return f"{d:%m-%d} {i18n.t(f'persona.weekday.{d:%a}')}"


def _daily_table(daily: pd.DataFrame, run: RetentionRun):
    """The daily cohorts' D1..Dk as a shaded table. It breaks across pages between rows with its header
    repeated (a chart of that many rows could not, and left most of a page empty); a cell not yet
    observable reads '–', never 0."""
    grid, mask = r.triangle(daily, "retention")
    shown = grid.where(~mask)
    days = {k: _t("daily_col", k=k) for k in shown.columns}
    table = shown.rename(columns=days).rename_axis(_t("first_day")).reset_index()
    table[_t("first_day")] = [_day_label(d) for d in grid.index]
    cols = list(days.values())
    caption = _t("daily_caption", finding=r.daily_finding(daily, run.rp))
    styler = charts.table_html(table, dict.fromkeys(cols, "pct"), caption=caption, max_rows=None)
    styler = styler.set_table_styles(  # the finding reads as a chart's title would
        [{"selector": "caption", "props": [("font-weight", "600"), ("text-align", "left")]}], overwrite=False
    )
    shaded = styler.background_gradient(cmap="Blues", subset=cols, axis=None, vmin=0)
    return shaded.map(
        lambda v: "background-color: #FFFFFF; color: #888888" if pd.isna(v) else "", subset=cols
    )


def _weekly_chart(weekly: pd.DataFrame, run: RetentionRun) -> plt.Figure:
    grid, mask = r.triangle(weekly, "cum_retention")
    first_days = weekly[weekly.day_k == 1].set_index("cohort_start")
    grid.index = [
        _t(
            "week_label" if first_days.is_complete[d] else "week_partial",
            start=f"{pd.Timestamp(d):%m-%d}",
            n=nv.num(first_days.cohort_users[d]),
        )
        for d in grid.index
    ]
    mask.index = grid.index
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(grid) + 1.2))
    charts.heatmap_masked(grid, mask, ax=ax, fmt="pct", cmap="Greens")
    ax.set_xlabel(_t("within_k"))
    ax.set_ylabel(_t("first_week"))
    charts.title(ax, r.weekly_finding(weekly, run.k, run.rp.ci_level), _t("weekly_sub"))
    return fig


def cohorts(run: RetentionRun) -> Section:
    """Section 2: monthly cohorts' D1..Dk, the daily and the weekly cohort grids."""
    con, P, rp = run.ctx.con, run.P, run.rp
    sec = _section("h_cohorts", _t("cohorts_intro", k=run.k, ret=r.return_words(rp.return_event)))
    grids = [
        (r.monthly_section(con, P, rp, months=6), _monthly_chart),
        (r.cohort_grid_section(r.daily_cohorts(con, P, rp), "daily", P), _daily_table),
        (r.cohort_grid_section(r.weekly_cohorts(con, P, rp), "weekly", P), _weekly_chart),
    ]
    for s, chart in grids:
        if s.ok:
            sec.add(chart(s.value, run))
        else:
            sec.note(s.reason)
    return sec


# --------------------------------------------------------------------------- 3 · channels


def _channel_chart(ch: pd.DataFrame, run: RetentionRun) -> plt.Figure:
    overall = r.overall_cum_dk(ch)
    shown = ch.assign(name=ch.channel.map(r.channel_name))
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(ch) + 1.2))
    charts.bar_with_ci(shown, "name", "cum_d7", "cum_d7_low", "cum_d7_high", ax=ax, null_value=overall)
    ax.set_xlabel(_t("channel_axis", k=run.k, overall=nv.pct(overall)))
    sub = _t("channel_sub", k=run.k, first=i18n.month(run.first), last=i18n.month(run.P))
    charts.title(ax, r.channel_finding(ch, run.k), sub)
    return fig


def _channel_table(ch: pd.DataFrame, run: RetentionRun):
    cols = {
        "channel": _t("col_channel"),
        "new_users": _t("col_new_users"),
        "d1": _t("col_d1"),
        "cum_d7": _t("col_cum", k=run.k),
        "ci": _t("col_ci", level=run.level()),
        "second_within": _t("col_second", n=run.rp.second_order_days),
    }
    ci = [
        nv.unbreakable(f"{nv.pct(lo)}–{nv.pct(hi)}")
        for lo, hi in zip(ch.cum_d7_low, ch.cum_d7_high, strict=True)
    ]
    table = ch.assign(channel=ch.channel.map(r.channel_name), ci=ci)[list(cols)].rename(columns=cols)
    formats = {
        cols["new_users"]: "int",
        cols["d1"]: "pct",
        cols["cum_d7"]: "pct",
        cols["second_within"]: "pct",
    }
    return charts.table_html(table, formats)


def channels(run: RetentionRun) -> Section:
    """Section 3: k-day retention per acquisition channel (trailing months pooled) with intervals."""
    rp, k = run.rp, run.k
    intro = _t("channels_intro", months=rp.channel_trailing_months, level=run.level())
    sec = _section("h_channels", intro)
    run.cs = cs = r.channel_section(run.ctx.con, run.P, rp)
    if not cs.ok:
        sec.note(cs.reason)
        return sec
    ch = cs.value
    sec.add(_channel_chart(ch, run))
    sec.add(_channel_table(ch, run))
    definition = r.metric_definitions(rp)[f"cum_d{k}_retention.<channel>"][1]
    for row in ch.itertuples():
        ci = (row.cum_d7_low, row.cum_d7_high)
        run.rep.add(f"cum_d{k}_retention.{row.channel}", row.cum_d7, "share", definition, run.trailing, ci)
    small = ch[ch.flag_small].channel.map(r.channel_name).tolist()
    if small:
        sec.say(_t("small_channels", min=rp.min_cohort_users, channels=i18n.t("common.list_sep").join(small)))
    return sec


# --------------------------------------------------------------------------- 4 · time to return


def _km_chart(curves: dict, run: RetentionRun) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    by_size = run.cs.value.channel if run.cs is not None and run.cs.ok else []
    order = ["all"] + [c for c in by_size if c in curves]
    for name, color in zip(order, ["#222222"] + charts.PALETTE * 2, strict=False):
        c = curves[name]
        shown = _t("all_users") if name == "all" else r.channel_name(name)
        label = _t("curve_label", name=shown, n=nv.num(c.attrs["n"]))
        lw = 2.6 if name == "all" else 1.2
        ax.step(c.index, 1 - c.survival, where="post", lw=lw, color=color, label=label)
    ax.axvline(run.k, color="#999999", ls="--", lw=0.8)
    ax.set_xlabel(_t("days_after"))
    charts.percent_axis(ax)
    ax.legend(fontsize=8, ncol=2)
    charts.title(ax, r.km_finding(curves["all"], run.rp), _t("km_sub"))
    return fig


def time_to_return(run: RetentionRun) -> Section:
    """Section 4: the survival (Kaplan-Meier) curve of the days to another order, per channel."""
    rp = run.rp
    sec = _section("h_return", _t("return_intro", k=run.k))
    run.ks = ks = r.km_section(run.ctx.con, run.first.start, run.P, rp)
    if not ks.ok:
        sec.note(ks.reason)
        return sec
    sec.add(_km_chart(ks.value, run))
    km_key = f"km_retention_by_day_{rp.km_horizon_days}"
    km_h = r.share_by_day(ks.value["all"], rp.km_horizon_days)
    if not pd.isna(km_h):
        run.rep.add(km_key, km_h, *r.metric_definitions(rp)[km_key], period=run.trailing)
    return sec


# --------------------------------------------------------------------------- 5 · coupon pack


def pack_finding(pack: pd.DataFrame) -> str:
    """The most and least redeemed kinds of the pack (or the one kind's rate)."""
    ranked = pack.sort_values(["redemption_rate", "kind"])
    best, worst = ranked.iloc[-1], ranked.iloc[0]
    if len(pack) == 1:
        return _t("pack_one", kind=i18n.name("coupon_kind", best.kind), rate=nv.pct(best.redemption_rate))
    return _t(
        "pack_best",
        best=i18n.name("coupon_kind", best.kind),
        best_rate=nv.pct(best.redemption_rate),
        worst=i18n.name("coupon_kind", worst.kind),
        worst_rate=nv.pct(worst.redemption_rate),
    )


def _pack_chart(pack: pd.DataFrame, run: RetentionRun) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(pack) + 1.2))
    ax.barh(pack.kind.map(lambda k: i18n.name("coupon_kind", k)), pack.redemption_rate, color=charts.ACCENT)
    for y, v in enumerate(pack.redemption_rate):
        ax.annotate(nv.pct(v), (v, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    charts.percent_axis(ax, "x")
    ax.invert_yaxis()
    charts.title(ax, pack_finding(pack), _t("pack_sub", month=i18n.month(run.P)))
    return fig


def _pack_table(pack: pd.DataFrame):
    cols = {
        "kind": "col_kind",
        "face_value": "col_face",
        "min_spend": "col_min_spend",
        "n_issued": "col_issued",
        "n_closed": "col_closed",
        "n_redeemed_within": "col_redeemed",
        "redemption_rate": "col_rate",
        "face_value_redeemed": "col_face_redeemed",
    }
    cols = {c: _t(key) for c, key in cols.items()}
    fmt = {"face_value": "yuan", "min_spend": "yuan", "n_issued": "int", "n_closed": "int"}
    fmt |= {"n_redeemed_within": "int", "redemption_rate": "pct", "face_value_redeemed": "yuan"}
    table = pack.assign(kind=pack.kind.map(lambda k: i18n.name("coupon_kind", k)))[list(cols)]
    return charts.table_html(table.rename(columns=cols), {cols[c]: f for c, f in fmt.items()})


def coupon_pack(run: RetentionRun) -> Section:
    """Section 5: redemption within validity per new-user coupon kind issued in the month."""
    sec = _section("h_pack", _t("pack_intro"))
    run.ps = ps = r.coupon_pack_section(run.ctx.con, run.P, run.dp, run.ctx.has("coupons"))
    if not ps.ok:
        sec.note(ps.reason)
        return sec
    pack = ps.value
    sec.add(_pack_chart(pack, run))
    sec.add(_pack_table(pack))
    for row in pack.itertuples():
        run.rep.add(
            f"coupon_redemption.{row.kind}",
            row.redemption_rate,
            "share",
            "share of the month's new-user coupons of this kind redeemed within validity (validity ended)",
        )
    return sec


# --------------------------------------------------------------------------- 6 · expiry reminder


def _reminder_chart(eff, run: RetentionRun) -> plt.Figure:
    e = eff.effect
    arms = arm_rates(eff, run.rp.ci_level)
    arms["arm"] = [_t("arm_treatment"), _t("arm_holdout")]  # arm_rates: treatment first, then holdout
    fig, ax = plt.subplots(figsize=(8, 2.4))
    charts.bar_with_ci(arms, "arm", "rate", "low", "high", ax=ax)
    verdict = (
        "verdict_up"
        if e.significant and e.diff > 0
        else ("verdict_down" if e.significant else "verdict_none")
    )
    diff = nv.pp(e.diff) if verdict == "verdict_none" else nv.pp(e.diff, signed=False)
    title = _t(verdict, diff=diff, ci=nv.ci(e.ci_low, e.ci_high, nv.pp, e.level))
    charts.title(ax, title, _t("reminder_sub", month=i18n.month(run.P), level=run.level()))
    return fig


def _arms_table(eff):
    cols = {
        "campaign_name": "col_campaign",
        "channel": "col_touch",
        "arm": "col_arm",
        "members": "col_members",
        "converted": "col_converted",
        "redemption_rate": "col_rate",
        "orders": "col_orders",
        "margin": "col_margin",
    }
    cols = {c: _t(key) for c, key in cols.items()}
    a = eff.arms
    a = a.assign(
        channel=a.channel.map(lambda c: i18n.name("campaign_channel", c)),
        arm=a.arm.map({"treatment": _t("arm_treatment"), "holdout": _t("arm_holdout")}),
    )
    fmt = {"members": "int", "converted": "int", "redemption_rate": "pct", "orders": "int", "margin": "yuan"}
    return charts.table_html(a[list(cols)].rename(columns=cols), {cols[c]: f for c, f in fmt.items()})


def _record_reminder(eff, run: RetentionRun) -> None:
    e, add, h = eff.effect, run.rep.add, run.rp.reminder_hours
    add(
        "expiry_reminder_lift",
        e.diff,
        "share (difference)",
        "redemption of expiring new-user coupons, reminded minus randomised holdout "
        "(Mantel-Haenszel over campaigns, user-resampling bootstrap CI)",
        ci=(e.ci_low, e.ci_high),
    )
    add(
        "expiry_reminder_incremental_orders",
        eff.incremental_orders,
        "orders",
        f"extra orders in the {h}-hour window caused by the reminder "
        "(each campaign's treated members x (orders per treated - per holdout member))",
        ci=eff.incremental_orders_ci,
    )
    add(
        "expiry_reminder_incremental_margin",
        eff.incremental_margin,
        "yuan",
        f"incremental {eff.margin_basis} in the {h}-hour window caused by the reminder",
        ci=eff.incremental_margin_ci,
    )
    add(
        "expiry_reminder_anyway_discount",
        eff.anyway_discount,
        "yuan",
        "coupon discount on redemptions that would have happened anyway "
        "(treated members x holdout redemption rate x mean discount per treated redemption); inside paid GMV",
    )
    add("expiry_reminder_touch_cost", eff.cost_yuan, "yuan", "touch cost, treated members x cost per touch")
    if eff.roi is not None:
        roi_ci = eff.roi_ci if None not in eff.roi_ci else None
        add("expiry_reminder_roi_margin", eff.roi, "ratio", money.ROI_DEFINITION, ci=roi_ci)


def reminder(run: RetentionRun) -> Section:
    """Section 6: the coupon-expiry reminder against its randomised holdout, lift and money."""
    P, rp = run.P, run.rp
    sec = _section("h_reminder", _t("reminder_intro", hours=rp.reminder_hours))
    run.es = es = r.reminder_section(
        run.ctx.con, P.start, P.end, P, rp, run.dp, run.ctx.present, run.ctx.params.experiments
    )
    if not es.ok:
        sec.note(es.reason)
        return sec
    eff = es.value
    sec.add(_reminder_chart(eff, run))
    sec.say(r.reminder_text(eff, rp))
    sec.add(_arms_table(eff))
    _record_reminder(eff, run)
    return sec


# --------------------------------------------------------------------------- 7 · who to remind now


def _due_table(due: pd.DataFrame):
    g = due.groupby(["kind", "arm"])
    table = g.agg(coupons=("coupon_id", "size"), users=("user_id", "nunique"), face=("face_value", "sum"))
    table = table.reset_index()
    table["kind"] = table.kind.map(lambda k: i18n.name("coupon_kind", k))
    table["arm"] = table.arm.map({"treatment": _t("arm_treatment"), "holdout": _t("arm_holdout")})
    cols = {"kind": _t("col_kind"), "arm": _t("col_arm"), "coupons": _t("col_coupons")}
    cols |= {"users": _t("col_users"), "face": _t("col_face_total")}
    fmt = {cols["coupons"]: "int", cols["users"]: "int", cols["face"]: "yuan"}
    return charts.table_html(table.rename(columns=cols), fmt)


def remind_now(run: RetentionRun) -> Section:
    """Section 7: the coupons expiring right after the month, with a seeded holdout; writes
    targets/expiring_coupons.csv (one contact plan with the other lists)."""
    P, rp, rep = run.P, run.rp, run.rep
    sec = _section("h_remind_now")
    if not run.ctx.has("coupons"):
        sec.note(_t("no_remind_table", table=r.table_name("coupons")))
        return sec
    due = r.expiring_coupons(run.ctx.con, P, rp, run.dp)
    run.due = due = rep.plan_target("expiring_coupons", due, run.ctx.params)
    columns = ["user_id", "coupon_id", "expires_at", "face_value", "arm"]
    rep.write_target("expiring_coupons", due[columns], ["user_id", "coupon_id"])
    rep.add(
        "expiring_coupons_users",
        due.user_id.nunique(),
        "users",
        f"users with an unredeemed new-user coupon expiring within {rp.reminder_hours} h after the month",
    )
    sec.say(r.expiring_text(due, P, rp))
    if len(due):
        sec.add(_due_table(due))
    return sec


# --------------------------------------------------------------------------- 8 · actions, appendix, summary


def action_items(run: RetentionRun) -> list[str]:
    """The play's actions (markdown), each on numbers its section measured."""
    return r.actions(run.es, run.due, run.cs, run.ps, run.rp)


def actions(run: RetentionRun) -> Section:
    """Section 8: the numbered actions (the brief reads the first of them)."""
    sec = _section("h_actions")
    sec.say(r.actions_text(action_items(run)))
    return sec


def definitions_table(run: RetentionRun) -> pd.DataFrame:
    """Every number of the report with its business definition (the appendix); no code names."""
    rp = run.rp
    kw = {"k": run.k, "n": rp.second_order_days, "h": rp.km_horizon_days, "hours": rp.reminder_hours}
    kw |= {"ret": r.return_words(rp.return_event), "months": rp.channel_trailing_months}
    kw |= {"share": nv.pct(rp.reminder_holdout_share, 0)}
    terms = ["new_users", "d1", "cum", "second", "km", "channel", "pack", "lift", "increment", "roi", "list"]
    rows = [(_t(f"def_{term}", **kw), _t(f"def_{term}_text", **kw)) for term in terms]
    return pd.DataFrame(rows, columns=[_t("col_number"), _t("col_definition")])


def appendix(run: RetentionRun) -> Section:
    """The appendix: what each number means, in business language."""
    sec = _section("h_appendix", _t("appendix_intro"))
    sec.add(charts.table_html(definitions_table(run), max_rows=None))
    return sec


def summary_items(run: RetentionRun) -> tuple[list[str], list[str]]:
    """Three findings and three actions filled from the play's numbers (fewer when a section lacks data)."""
    P, k, found = run.P, run.k, []
    if run.hs is not None and run.hs.ok and not pd.isna(run.hs.value.cum_d7):
        h = run.hs.value
        vs = (
            ""
            if pd.isna(h.cum_d7_prev)
            else _t("vs", compare=nv.compare(h.cum_d7, h.cum_d7_prev, i18n.month(P.prev)))
        )
        found.append(
            _t("sum_headline", month=i18n.month(P), n=nv.num(h.new_users), k=k, rate=nv.pct(h.cum_d7), vs=vs)
        )
    if run.cs is not None and run.cs.ok and len(run.cs.value) > 1:
        top, bottom = run.cs.value.iloc[0], run.cs.value.iloc[-1]
        found.append(
            _t(
                "sum_channel",
                k=k,
                top=r.channel_name(top.channel),
                top_rate=nv.pct(top.cum_d7),
                bottom=r.channel_name(bottom.channel),
                bottom_rate=nv.pct(bottom.cum_d7),
            )
        )
    if run.es is not None and run.es.ok:
        eff, e = run.es.value, run.es.value.effect
        roi = "" if eff.roi is None else _t("roi", roi=r._roi(eff.roi))
        found.append(
            _t("sum_reminder", diff=nv.pp(e.diff), ci=nv.ci(e.ci_low, e.ci_high, nv.pp, e.level), roi=roi)
        )
    if run.ps is not None and run.ps.ok and len(run.ps.value) > 1:
        ranked = run.ps.value.sort_values(["redemption_rate", "kind"])
        best, worst = ranked.iloc[-1], ranked.iloc[0]
        found.append(
            _t(
                "sum_pack",
                best=i18n.name("coupon_kind", best.kind),
                best_rate=nv.pct(best.redemption_rate),
                worst=i18n.name("coupon_kind", worst.kind),
                worst_rate=nv.pct(worst.redemption_rate),
            )
        )
    if run.ks is not None and run.ks.ok and not pd.isna(s_n := r.share_by_day(run.ks.value["all"], k)):
        found.append(_t("sum_km", s_n=nv.pct(s_n), n=k))
    return found[:3], action_items(run)[:3]


def summary(run: RetentionRun):
    """The one-page summary (the notebook's last cell, tagged ``summary``; first in the PDF)."""
    return summary_page(*summary_items(run))
