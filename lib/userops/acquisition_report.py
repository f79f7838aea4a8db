"""Play 01's report sections: each builds its chart, tables and finding from `userops.acquisition`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.acquisition`, records its numbers on the play's Report (metrics.json keeps
the technical definitions), and returns a :class:`~userops.sections.Section` whose words follow the
report language (lib/userops/i18n/<lang>/acquisition.yaml). What later sections need (quality,
CAC, the checked model, LTV/CAC, the reward / coach list) lives on :class:`AcquisitionRun`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from userops import acquisition as a
from userops import charts, i18n, sections
from userops import narrative as nv
from userops.report_base import PlayRun
from userops.sections import Section


def _t(key: str, **fields) -> str:
    return i18n.t(f"acquisition.{key}", **fields)


@dataclass
class AcquisitionRun(PlayRun):
    """The play's context and what its sections computed so far."""

    vol: pd.DataFrame | None = None
    conv: pd.DataFrame | None = None
    cost: pd.DataFrame | None = None
    cac_why: str = "not computed"
    qual: pd.DataFrame | None = None
    q_why: str = "not computed"
    hold: a.Result | None = None
    pred: a.Result | None = None
    ratio: a.Result | None = None
    targets: pd.DataFrame | None = None
    pack: pd.DataFrame | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def ap(self):
        return self.ctx.params.acquisition

    @property
    def kinds(self) -> list[str]:
        return self.ctx.params.data.new_user_coupon_kinds  # the coupon kinds of the new-user pack

    @property
    def rate(self) -> float:
        return self.ctx.params.experiments.assumed_margin_rate  # margin / paid GMV without unit costs

    @property
    def order(self) -> list[str]:
        """Channels best retention first (the charts' order), once quality is computed."""
        return [] if self.qual is None else self.qual.channel.tolist()

    def win(self, months: int) -> str:
        """The metrics' period label of a trailing window ('2026-08..2026-10')."""
        return a._label(self.P, months)

    def span(self, months: int) -> str:
        """The same window as the reader sees it."""
        return a._span(self.P, months)


def _kinds(run: AcquisitionRun) -> str:
    return a._names(i18n.name_in_text("coupon_kind", k) for k in run.kinds) or i18n.t("common.none")


def _heading(key: str, **fields) -> Section:
    sec = Section()  # heading and intro in one output: they stay on the page of what they introduce
    sec.say(_t(f"h.{key}") + ("" if key == "actions" else "\n\n" + _t(f"intro_{key}", **fields)))
    return sec


def start(ctx) -> tuple[AcquisitionRun, Section]:
    """The play's title, what it answers and the report line (chain, month, as-of day)."""
    run = AcquisitionRun(ctx)
    sec = Section()
    sec.say(_t("title"))
    sec.say(_t("intro"))
    sec.say(a.header_text(ctx.params, ctx.period))
    return run, sec


# --------------------------------------------------------------------------- 1 volume and conversion


def _record_volume(run: AcquisitionRun, now: pd.DataFrame) -> None:
    n_new, n_reg = int(now.new_users.sum()), int(now.registrations.sum())
    run.rep.add("registrations", n_reg, "users", "users who registered in the month")
    run.rep.add("new_users", n_new, "users", "users whose first order was in the month")
    if n_new and now.is_offline.any():
        run.rep.add(
            "new_users_offline_share",
            int(now[now.is_offline].new_users.sum()) / n_new,
            "share",
            "share of the month's new users acquired through offline channels (params offline_channels)",
        )


def _conversion(run: AcquisitionRun, sec: Section) -> None:
    ap, conv = run.ap, run.conv
    S = ap.conversion_short_days
    if why := a.conversion_reason(conv, run.P, ap):
        sec.note(why)
        return
    title, finding = a.conversion_findings(conv, ap)
    sec.add(a.plot_conversion(conv, ap, title, _t("conversion.subtitle", span=run.span(ap.cac_months))))
    for r in conv[conv.eligible_short > 0].itertuples():
        run.rep.add(
            f"conversion_{S}d.{r.channel}",
            r.conv_short,
            "share",
            f"registrations with a first order within {S} x 24 h (registrations observed {S} days)",
            period=run.win(ap.cac_months),
            ci=(r.conv_short_low, r.conv_short_high),
        )
    sec.say(finding)
    sec.add(a.conversion_table(conv, ap))


def volume(run: AcquisitionRun) -> Section:
    """Section 1: registrations and new users per channel, and registration -> first-order conversion."""
    ctx, P, ap = run.ctx, run.P, run.ap
    offline = ctx.params.offline_channels
    sec = _heading("volume", short=ap.conversion_short_days, long=ap.conversion_long_days)
    run.vol = vol = a.volume(ctx.con, P, ap, offline)
    title, finding = a.volume_findings(vol, P, offline, a.data_start(ctx.con))
    if why := a.volume_reason(vol, P, ap):
        sec.note(why)
    else:
        sec.add(a.plot_volume(vol, offline, title))
        sec.say(finding)
    _record_volume(run, vol[vol.month == pd.Timestamp(P.start)])
    run.conv = a.conversion(vol, P, ap)
    _conversion(run, sec)
    return sec


# --------------------------------------------------------------------------- 2 CAC


def cac(run: AcquisitionRun) -> Section:
    """Section 2: CAC per channel and its parts (spend, commissions, new-user coupons)."""
    ctx, P, ap = run.ctx, run.P, run.ap
    sec = _heading("cac", kinds=_kinds(run))
    run.cost = cost = a.cac(ctx.con, P, ap, run.kinds)
    run.cac_why = a.cac_reason(cost, P, ap, ctx.has("channel_spend"))
    if run.cac_why:
        sec.note(run.cac_why)
        return sec
    title, finding = a.cac_findings(cost, P, ap)
    sec.add(a.plot_cac(cost, title, _t("cac.subtitle", span=run.span(ap.cac_months))))
    for r in cost[cost.cac_yuan.notna()].itertuples():
        run.rep.add(
            f"cac.{r.channel}",
            r.cac_yuan,
            "yuan per new user",
            "CAC: (channel spend + referral commissions + acquisition (new-user pack) coupons redeemed, "
            "face value) / new users",
            period=run.win(ap.cac_months),
        )
    sec.say(finding)
    for note in a.cac_notes(cost):
        sec.note(note)
    sec.add(a.cac_table(cost))
    return sec


# --------------------------------------------------------------------------- 3 channel quality


def quality(run: AcquisitionRun) -> Section:
    """Section 3: retention, second orders and spend of each channel's new users."""
    ctx, P, ap = run.ctx, run.P, run.ap
    L, S, V = ap.retention_long_days, ap.retention_short_days, ap.value_days
    sec = _heading("quality", short=S, long=L, days=V)
    run.qual = qual = a.quality(ctx.con, P, ap)
    run.q_why = a.quality_reason(qual, P, ap)
    if run.q_why:
        sec.note(run.q_why)
        return sec
    title, finding = a.quality_findings(qual, P, ap)
    xlabel = _t("quality.xlabel", span=run.span(ap.quality_months))
    sec.add(a.plot_quality(qual, title, _t("quality.subtitle", days=V), xlabel, _t("quality.ylabel", days=L)))
    sec.add(a.quality_table(qual, ap))
    sec.say(finding)
    for key, value, unit, definition, ci in a.quality_metrics(qual, ap):
        run.rep.add(key, value, unit, definition, period=run.win(ap.quality_months), ci=ci)
    return sec


# --------------------------------------------------------------------------- 4 observed LTV


def observed(run: AcquisitionRun) -> Section:
    """Section 4: cumulative GMV and margin per user by months since the first order (chain-ladder)."""
    sec = _heading("observed")
    curves = a.ltv_curves(a.ltv_cohorts(run.ctx.con, run.P, run.ap))
    cmp = a.ltv_compare(curves)
    if isinstance(cmp, str):
        sec.note(cmp)
        return sec
    title, finding = a.ltv_curve_findings(curves, *cmp)
    if why := a.ltv_curve_reason(curves):
        sec.note(why)
    else:
        sec.add(a.plot_ltv_curves(curves, run.order, title))
    if curves.margin_per_user.isna().all():
        sec.note(_t("ltv_curve.why_margin"))
    sec.say(finding)
    return sec


# --------------------------------------------------------------------------- 5 predicted LTV


def predicted(run: AcquisitionRun) -> Section:
    """Section 5: the purchase model checked on held-out months, then the predicted LTV per channel."""
    ctx, P, ap = run.ctx, run.P, run.ap
    sec = _heading("predicted", months=ap.ltv_horizon_months, days=ap.ltv_min_calibration_days)
    run.hold = hold = a.holdout_check(ctx.con, P, ap)
    if not hold.ok:
        sec.note(hold.reason)
    else:
        ht = hold.table
        title, finding = a.holdout_findings(ht, ap)
        sec.add(a.plot_holdout(ht, run.order, title, P.as_of))
        sec.say(finding)
        for key, value, unit, definition in a.holdout_metrics(ht):
            run.rep.add(key, value, unit, definition)
        sec.add(a.holdout_table(ht))
        for note in hold.notes:
            sec.note(note)
    run.pred = pred = a.predicted_ltv(ctx.con, P, ap, hold, run.kinds, run.rate)
    if not pred.ok:
        sec.note(pred.reason)
        return sec
    pt = pred.table
    sec.say(a.predicted_ltv_text(pt, P))
    sec.add(a.predicted_ltv_table(pt, run.order))
    for note in pred.notes:
        sec.note(note)
    sec.say(a.independence_findings(pt.attrs["independence"]))
    for key, value, unit, definition, ci in a.predicted_ltv_metrics(pt):
        run.rep.add(key, value, unit, definition, period=run.win(pt.attrs["horizon_months"]), ci=ci)
    return sec


# --------------------------------------------------------------------------- 6 LTV/CAC


def ltv_cac(run: AcquisitionRun) -> Section:
    """Section 6: margin LTV (pack discounts added back) / CAC per channel."""
    ap = run.ap
    sec = _heading("ltv_cac")
    run.ratio = ratio = a.ltv_cac_result(run.pred, run.cost, run.cac_why)
    if not ratio.ok:
        sec.note(ratio.reason)
        return sec
    rt = ratio.table
    H = rt.attrs["horizon_months"]
    basis = rt.attrs["margin_basis"]
    title, finding = a.ltv_cac_findings(rt)
    sub = _t(
        "ltv_cac.subtitle", span=run.span(H), basis=nv.margin_basis(basis), cac_span=run.span(ap.cac_months)
    )
    sec.add(a.plot_ltv_cac(rt, title, sub))
    for r in rt.itertuples():
        definition = a.ltv_cac_definition(H) + f"; margin basis: {basis}"
        run.rep.add(f"ltv_cac_margin.{r.channel}", r.ltv_cac_margin, "ratio", definition, period=run.P.month)
    sec.say(finding)
    for note in ratio.notes:
        sec.note(note)
    sec.add(a.ltv_cac_table(rt))
    return sec


# --------------------------------------------------------------------------- 7 referral economics


def referral(run: AcquisitionRun) -> Section:
    """Section 7: group leaders' and store promoters' economics; the reward / coach list."""
    ctx, P, ap = run.ctx, run.P, run.ap
    sec = _heading("referral", days=ap.referral_gmv_days, months=ap.referral_months)
    if not ctx.has("referrers"):
        sec.add(charts.missing_table_note("referrers", _t("referral.would")))
        return sec
    ref = a.referrers(ctx.con, P, ap, run.kinds, run.rate)
    if why := a.referral_reason(ref, P, ap):
        sec.note(why)
        return sec
    grp = a.groups(ref)
    text, metrics = a.referral_findings(ref, grp, ap, run.rate)
    shown = a.top_groups(grp, ap.top_n)
    if len(shown) and "community_margin_per_yuan" in metrics:
        sec.add(a.plot_groups(shown, metrics["community_margin_per_yuan"], run.span(ap.referral_months), ap))
        sec.add(a.referral_seed_table(grp, metrics, ap))
    sec.say(text)
    definitions = a.referral_metric_definitions(ap)
    for key, value in metrics.items():
        run.rep.add(key, value, *definitions[key], period=run.win(ap.referral_months))
    run.targets = targets = a.referral_targets(ref, ap)
    if targets.empty:
        sec.note(a.referral_targets_reason(P, ap))
    else:
        sec.add(a.referral_targets_table(targets, ap))
    return sec


# --------------------------------------------------------------------------- 8 coupon pack and hero products


def pack(run: AcquisitionRun) -> Section:
    """Section 8: the new-user pack's take-up per coupon and the hero products in first orders."""
    ctx, P = run.ctx, run.P
    sec = _heading("pack", kinds=_kinds(run))
    h = None
    if not ctx.has("coupons"):
        sec.add(charts.missing_table_note("coupons", _t("pack.would")))
    elif why := a.pack_reason(issued := a.pack_takeup(ctx.con, P, run.kinds), P, run.kinds):
        sec.note(why)
    else:
        run.pack = issued[issued.n_closed > 0]
        sec.add(a.plot_pack(run.pack, P))
        sec.add(a.pack_table(run.pack))
    if not ctx.has("order_items", "products"):
        sec.add(charts.missing_table_note("order_items", _t("hero.would")))
    elif why := a.hero_reason(hero := a.hero_share(ctx.con, P), P):
        sec.note(why)
    else:
        h = hero[hero.channel == "all"].iloc[0]
        sec.say(a.hero_text(h, P))
    for key, value, unit, definition in a.pack_hero_metrics(run.pack, h):
        run.rep.add(key, value, unit, definition)
    return sec


# --------------------------------------------------------------------------- 9 actions, appendix, summary


def actions(run: AcquisitionRun) -> Section:
    """Section 9: scale / fix / cut per channel, the reward / coach list, the pack coupon to rework;
    writes the reward / coach list for the CRM."""
    sec = _heading("actions")
    ratio, lines = run.ratio, []
    if ratio is not None and ratio.ok and not run.q_why:
        act = a.channel_actions(ratio.table, run.qual, run.ap)
        lines += a.channel_action_lines(act, run.ap, ratio.table.attrs["horizon_months"])
        for key, value, unit, definition in a.action_metrics(act, run.ap):
            run.rep.add(key, value, unit, definition)
    elif ratio is not None:
        sec.note(a.actions_reason(ratio, run.q_why))
    if run.targets is not None and len(run.targets):
        run.rep.write_target("referrers", run.targets, ["action", "referrer_id"])
        lines.append(a.referral_action_line(run.targets))
    if run.pack is not None:
        lines.append(a.pack_action_line(run.pack))
    run.lines = lines
    sec.say("\n".join(f"{i}. {t}" for i, t in enumerate(lines, 1)))
    return sec


DEFINITIONS = ("new_user", "registration", "conversion", "cac", "retention", "observed_ltv", "predicted_ltv",
               "ltv_cac", "valid_new_user", "referral_ratio", "pack_takeup", "hero_share")  # fmt: skip


def appendix(run: AcquisitionRun) -> Section:
    """The definitions appendix in business language; writes metrics.json (the technical definitions)."""
    sec = _heading("appendix")
    rows = [(_t(f"defs.{k}.term"), _t(f"defs.{k}.text")) for k in DEFINITIONS]
    table = pd.DataFrame(rows, columns=[_t("defs.term"), _t("defs.definition")])
    sec.add(charts.table_html(table, max_rows=None))
    run.rep.write()
    return sec


def _summary_findings(run: AcquisitionRun) -> list[str]:
    """Up to three findings for the one-page summary: new users, LTV/CAC (else CAC), channel quality
    (else conversion); each only when its section computed."""
    P, ap, out = run.P, run.ap, []
    now = run.vol[run.vol.month == pd.Timestamp(P.start)] if run.vol is not None else None
    if now is not None and now.new_users.sum() > 0:
        n = int(now.new_users.sum())
        prev = int(run.vol[run.vol.month == pd.Timestamp(P.prev.start)].new_users.sum())
        top = now.sort_values(["new_users", "channel"], ascending=[False, True]).iloc[0]
        vs = _t("volume.vs", diff=f"{n - prev:+,}", prev=i18n.month_short(P.prev))
        out.append(_t("summary.new_users", month=i18n.month(P), n=nv.num(n), vs=vs, share=nv.pct(top.new_users / n),
                      channel=i18n.name_in_text("channel", top.channel)))  # fmt: skip
    if run.ratio is not None and run.ratio.ok:
        rt = run.ratio.table
        below = a._names(a._ch(c) for c in rt[rt.ltv_cac_margin < 1].channel)
        b0 = rt.iloc[0]
        out.append(_t("summary.ltv_cac", best=a._ch(b0.channel), back=nv.yuan(b0.ltv_cac_margin, 1), unit=nv.yuan(1),
                      months=rt.attrs["horizon_months"], n=len(rt),
                      below=_t("summary.ltv_cac_below", channels=below) if below else _t("summary.ltv_cac_none_below")))  # fmt: skip
    elif not run.cac_why:
        cc = run.cost[(run.cost.channel != "all") & run.cost.cac_yuan.notna()].sort_values(
            ["cac_yuan", "channel"]
        )
        allc = run.cost[run.cost.channel == "all"].iloc[0]
        span = run.span(ap.cac_months)
        if len(cc) > 1:
            out.append(_t("summary.cac", span=span, cac=nv.yuan(allc.cac_yuan, 1), cheap=nv.yuan(cc.cac_yuan.iloc[0], 1),
                          cheap_channel=a._ch(cc.channel.iloc[0]), dear=nv.yuan(cc.cac_yuan.iloc[-1], 1),
                          dear_channel=a._ch(cc.channel.iloc[-1])))  # fmt: skip
        else:
            out.append(_t("summary.cac_one", span=span, cac=nv.yuan(allc.cac_yuan, 1)))
    rated = run.qual[run.qual.eligible_long > 0] if run.qual is not None and not run.q_why else None
    if rated is not None and len(rated) > 1:
        best, worst = rated.iloc[0], rated.iloc[-1]
        out.append(_t("summary.quality", best=a._ch(best.channel), worst=a._ch(worst.channel),
                      days=ap.retention_long_days, best_rate=nv.pct(best.d_long), worst_rate=nv.pct(worst.d_long)))  # fmt: skip
    elif run.conv is not None and not a.conversion_reason(run.conv, P, ap):
        allc = run.conv[run.conv.channel == "all"].iloc[0]
        out.append(_t("summary.conversion", rate=nv.pct(allc.conv_short), days=ap.conversion_short_days))
    return out


def summary(run: AcquisitionRun):
    """The one-page summary (three findings, three actions) from the numbers the sections computed;
    the notebook shows it in its last cell, tagged ``summary`` (the PDF prints it first)."""
    return sections.summary(_summary_findings(run), run.lines)
