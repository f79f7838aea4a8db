"""Play 03's report sections: each builds its chart, tables and finding from `userops.activity`.

The notebook is thin (issue 15): a section's cell is one call here and `.show()`. Each builder
computes with `userops.activity`, records its headline numbers on the play's Report (metrics.json
keys and definitions unchanged: they are the contract the brief reads), writes its target list, and
returns a :class:`~userops.sections.Section`. Every word a reader sees comes from the report
language's catalog (lib/userops/i18n/<lang>/activity.yaml, group ``activity_report``); numbers go
through :mod:`userops.narrative`. What later sections need lives on :class:`ActivityRun`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from userops import activity as a
from userops import campaigns, charts, i18n, money
from userops import narrative as nv
from userops.period import Period
from userops.report_base import PlayRun
from userops.sections import Section, summary


def _t(key: str, **kw) -> str:
    return i18n.t(f"activity_report.{key}", **kw)


def _join(items) -> str:
    return i18n.t("common.list_sep").join(items)


def _month(m) -> str:
    """'2026年9月' / 'September 2026' for a month timestamp or 'YYYY-MM' string."""
    return i18n.month(Period(pd.Timestamp(m).strftime("%Y-%m")))


def _ym(m) -> str:
    return pd.Timestamp(m).strftime("%Y-%m")


def _ratio(x) -> str:
    return nv.num(x, 1)


@dataclass
class ActivityRun(PlayRun):
    """The play's context and what its sections computed so far (for the actions and the summary)."""

    found: dict = field(default_factory=dict)  # finding sentences for the summary, by topic
    eff: campaigns.ReminderEffect | None = None
    assoc: pd.DataFrame | None = None
    ps: a.PointsSummary | None = None
    kept: a.TierKept | None = None
    due: pd.DataFrame | None = None
    cat_eff: campaigns.ReminderEffect | None = None

    @property
    def ap(self):
        return self.ctx.params.activity


def _heading(sec: Section, key: str, **kw) -> None:
    sec.say(f"## {_t(f'{key}.title')}\n\n{_t(f'{key}.intro', **kw)}")


def start(ctx) -> tuple[ActivityRun, Section]:
    """The report's title and opening line (chain, month, data cut-off, trend window)."""
    run = ActivityRun(ctx)
    P, t0 = run.P, a.trend_start(run.P, run.ap)
    sec = Section()
    sec.say(f"# {_t('title')}\n\n{_t('question')}")
    sec.say(
        _t(
            "opening",
            chain=ctx.params.chain_name,
            month=i18n.month(P),
            as_of=P.as_of,
            first=i18n.month(t0),
            last=i18n.month(P),
        )
    )
    return run, sec


# --------------------------------------------------------------------------- 1 active users


def _trend_chart(o: pd.DataFrame, now, prev, P) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = [_ym(m) for m in o.index]
    ax.bar(x, o.mau, color=charts.MUTED, label=_t("active.legend_mau"))
    ax.plot(x, o.avg_wau, marker="o", color=charts.PALETTE[1], label=_t("active.legend_wau"))
    ax.plot(x, o.avg_dau, marker="o", color=charts.ACCENT, label=_t("active.legend_dau"))
    charts.int_axis(ax)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_ylabel(_t("active.ylabel"))
    for xi, (_m, r) in zip(x, o.iterrows(), strict=True):
        ax.annotate(
            f"DAU/MAU {nv.pct(r.dau_mau)}",
            (xi, r.mau),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="#555555",
        )
    change = (
        _t("active.chart_change", diff=f"{now.mau - prev.mau:+,.0f}", prev=i18n.month_short(P.prev))
        if prev is not None
        else ""
    )
    title = _t("active.chart_title", mau=nv.num(now.mau), month=i18n.month_short(P), change=change)
    charts.title(ax, title + _t("active.chart_stickiness", share=nv.pct(now.dau_mau)), _t("active.chart_sub"))
    return fig


def _record_active(rep, now) -> None:
    rep.add("mau_orders", now.mau, "users", "users with at least one order in the month")
    rep.add(
        "avg_dau_orders", now.avg_dau, "users", "mean over the month's days of users with an order that day"
    )
    rep.add(
        "avg_wau_orders",
        now.avg_wau,
        "users",
        "mean over the month's days of users with an order in the 7 days ending that day",
    )
    rep.add("dau_mau_orders", now.dau_mau, "share", "stickiness: average DAU / MAU, active = ordered")
    rep.add("wau_mau_orders", now.wau_mau, "share", "stickiness: average WAU / MAU, active = ordered")


def _active_text(run: ActivityRun, tr: pd.DataFrame, now, prev) -> str:
    P = run.P
    vs = (
        nv.compare(now.dau_mau, prev.dau_mau, i18n.month_short(P.prev))
        if prev is not None
        else _t("active.no_prev", month=i18n.month(P))
    )
    text = _t(
        "active.finding",
        dau=nv.num(now.avg_dau),
        wau=nv.num(now.avg_wau),
        mau=nv.num(now.mau),
        dau_mau=nv.pct(now.dau_mau),
        vs=vs,
        wau_mau=nv.pct(now.wau_mau),
    )
    run.found["active"] = text
    no_events = a.events_reason(tr, run.ctx.has("events"), P)
    if no_events is not None:
        return f"{text} {no_events}"
    e = tr[tr.definition == "events"].set_index("month").iloc[-1]
    run.rep.add(
        "mau_events",
        e.mau,
        "users",
        "users with any app / mini-program event in the month (second definition)",
    )
    run.rep.add("dau_mau_events", e.dau_mau, "share", "stickiness on the event definition: average DAU / MAU")
    return text + _t("active.events", mau=nv.num(e.mau), dau_mau=nv.pct(e.dau_mau), wau_mau=nv.pct(e.wau_mau))


def _days_chart(od: pd.DataFrame, P) -> tuple[plt.Figure, float]:
    once = od.share.iloc[0]
    heavy = od[od.bucket.astype(str).isin(["8-14", "15+"])].share.sum()
    fig, ax = plt.subplots(figsize=(8, 2.8))
    ax.bar(od.bucket.astype(str), od.share, color=charts.ACCENT)
    for i, v in enumerate(od.share):
        ax.annotate(nv.pct(v), (i, v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    charts.percent_axis(ax)
    ax.set_xlabel(_t("active.days_xlabel", month=i18n.month_short(P)))
    ax.margins(y=0.15)
    charts.title(ax, _t("active.days_title", once=nv.pct(once), heavy=nv.pct(heavy)), _t("active.days_sub"))
    return fig, once


def _segment_name(dimension: str, segment) -> str:
    if dimension == "all":
        return _t("segment.all")
    if dimension == "online_offline":
        return _t(f"segment.{segment}") if segment in ("online", "offline", "both") else str(segment)
    return _channel(segment)


def _channel(value) -> str:
    """An acquisition channel's business name ('unknown': users whose channel the data does not give)."""
    return (
        _t("segment.unknown")
        if value == "unknown" and not i18n.known("channel", value)
        else i18n.name("channel", value)
    )


def _segment_table(run: ActivityRun):
    ap, dp = run.ap, run.dp
    seg = a.segment_summary(run.con, run.P, ap, dp)
    mature = a.latest_mature_month(a.repurchase(run.con, run.P, ap, dp))
    show = a.segment_table(seg)
    group = pd.Series([_t(f"segment.dim_{d}") for d in show.dimension])
    show = show.assign(
        group=group.where(group != group.shift(), "").to_numpy(),  # each group named once, on its first row
        segment=[_segment_name(d, s) for d, s in zip(show.dimension, show.segment, strict=True)],
    )
    cols = [
        "group",
        "segment",
        "registered",
        "mau",
        "active_share",
        "dau_mau",
        "orders_per_buyer",
        "mean_days",
    ]
    cols += ["repurchase_rate"] if mature is not None else []
    names = {c: _t(f"segment.col_{c}") for c in cols}
    if mature is not None:
        names["repurchase_rate"] = _t("segment.col_repurchase", days=ap.repurchase_days, month=_month(mature))
    fmt = {"registered": "int", "mau": "int", "active_share": "pct", "dau_mau": "pct"}
    fmt |= {"orders_per_buyer": "float1", "mean_days": "float1", "repurchase_rate": "pct"}
    offline = _join(i18n.name("order_channel", c) for c in dp.offline_order_channels)
    table = charts.table_html(
        show[cols].rename(columns=names),
        {names[c]: f for c, f in fmt.items() if c in names},
        caption=_t("segment.caption", offline=offline),
        max_rows=None,
    )
    cc = a.channel_contrast(seg, ap)
    text = cc.reason or _t(
        "segment.contrast",
        high=_channel(cc.high.segment),
        high_share=nv.pct(cc.high.dau_mau),
        high_orders=_ratio(cc.high.orders_per_buyer),
        low=_channel(cc.low.segment),
        low_share=nv.pct(cc.low.dau_mau),
        low_orders=_ratio(cc.low.orders_per_buyer),
    )
    return table, text


def active_users(run: ActivityRun) -> Section:
    """Section 1: active users and stickiness (orders; events as the second definition)."""
    P, rep = run.P, run.rep
    sec = Section()
    _heading(sec, "active")
    tr = a.activity_trend(run.con, P, run.ap)
    o = a.months_with_orders(tr)
    if o.empty:
        sec.note(_t("active.no_orders", month=i18n.month(P)))
        return sec
    now, prev = o.iloc[-1], (o.iloc[-2] if len(o) > 1 else None)
    sec.add(_trend_chart(o, now, prev, P))
    _record_active(rep, now)
    sec.say(_active_text(run, tr, now, prev))
    days = a.bucket_days(a.active_days(run.con, P))
    od = days[days.definition == "orders"].reset_index(drop=True)
    od["share"] = od.users / od.users.sum()
    fig, once = _days_chart(od, P)
    sec.add(fig)
    rep.add(
        "buyers_one_active_day", once, "share", "share of the month's buyers who ordered on exactly one day"
    )
    table, text = _segment_table(run)
    sec.add(table)
    sec.say(text)
    return sec


# --------------------------------------------------------------------------- 2 repurchase


def _repurchase_chart(rp: pd.DataFrame, hl, run: ActivityRun) -> plt.Figure:
    ap = run.ap
    fig, ax = plt.subplots(figsize=(8, 3.4))
    rp = a.since_data(rp, rp.buyers > 0)
    allr = rp[rp.dimension == "all"].set_index("month")
    for name, g in rp[rp.dimension == "online_offline"].groupby("segment"):
        label = _t("repurchase.legend_first", channel=_segment_name("online_offline", name))
        ax.plot(
            [_ym(m) for m in g.month], g.repurchase_rate.where(g.is_mature), marker="o", lw=1.2, label=label
        )
    ax.plot(
        [_ym(m) for m in allr.index],
        allr.repurchase_rate.where(allr.is_mature),
        marker="o",
        lw=2.6,
        color="#222222",
        label=_t("repurchase.legend_all"),
    )
    charts.percent_axis(ax)
    ax.legend(fontsize=8)
    title = _t(
        "repurchase.chart_title",
        rate=nv.pct(hl.row.repurchase_rate),
        month=_month(hl.month),
        days=ap.repurchase_days,
    )
    charts.title(ax, title, _t("repurchase.chart_sub", days=ap.repurchase_days, as_of=run.P.as_of))
    return fig


def _repurchase_text(run: ActivityRun, hl, fa: pd.DataFrame, gs, multi: float) -> str:
    ap = run.ap
    if hl.reason is None:
        vs = (
            _t(
                "repurchase.vs",
                text=nv.compare(hl.row.repurchase_rate, hl.prev.repurchase_rate, _month(hl.prev.name)),
            )
            if hl.prev is not None
            else ""
        )
        head = _t(
            "repurchase.headline",
            rate=nv.pct(hl.row.repurchase_rate),
            month=_month(hl.month),
            buyers=nv.num(hl.row.buyers),
            days=ap.repurchase_days,
            vs=vs,
        )
        run.found["repurchase"] = head
    else:
        head = hl.reason
    k = ap.max_orders_bucket
    text = (
        head
        + " "
        + _t(
            "repurchase.multi",
            month=i18n.month(run.P),
            multi=nv.pct(multi),
            heavy=nv.pct(fa[fa.orders == f"{k}+"].share.sum()),
            k=k,
        )
    )
    if gs.reason is not None:
        return f"{text} {gs.reason}"
    by = _join(
        _t(
            "repurchase.gap_item",
            days=nv.num(r.mean_days, 1),
            channel=i18n.in_sentence(_segment_name("online_offline", s)),
        )
        for s, r in gs.by_channel.iterrows()
    )
    return text + _t(
        "repurchase.gaps", mean=nv.num(gs.overall.mean_days, 1), median=nv.num(gs.overall.median_days), by=by
    )


def _frequency_table(freq: pd.DataFrame, P):
    tab = freq[freq.dimension.isin(["all", "online_offline"])]
    tab = tab.assign(segment=[_segment_name(d, s) for d, s in zip(tab.dimension, tab.segment, strict=True)])
    tab = tab.pivot(index="segment", columns="orders", values="share")
    cols = sorted(tab.columns, key=lambda c: int(c.rstrip("+")))
    tab = tab[cols].reset_index().rename(columns={"segment": _t("repurchase.freq_col")})
    tab.columns = [tab.columns[0], *(_t("repurchase.freq_orders", n=c) for c in cols)]
    return charts.table_html(
        tab,
        dict.fromkeys(tab.columns[1:], "pct"),
        caption=_t("repurchase.freq_caption", month=i18n.month(P)),
        max_rows=None,
    )


def repurchase(run: ActivityRun) -> Section:
    """Section 2: repurchase within N days and order frequency."""
    P, ap, dp, rep = run.P, run.ap, run.dp, run.rep
    sec = Section()
    _heading(sec, "repurchase", days=ap.repurchase_days)
    rp = a.repurchase(run.con, P, ap, dp)
    hl = a.repurchase_headline(rp, P, ap)
    if hl.reason is None:
        sec.add(_repurchase_chart(rp, hl, run))
        rep.add(
            f"repurchase_rate_{ap.repurchase_days}d",
            hl.row.repurchase_rate,
            "share",
            f"share of the month's buyers with another order within {ap.repurchase_days} days of their first order of the month",
            period=hl.month.strftime("%Y-%m"),
        )
    freq = a.order_frequency(run.con, P, ap, dp)
    fa = freq[freq.dimension == "all"]
    gs = a.gap_summary(a.order_gaps(run.con, P, dp), P)
    multi = 1 - fa[fa.orders == "1"].share.sum()
    rep.add(
        "buyers_multi_order", multi, "share", "share of the month's buyers with 2 or more orders in the month"
    )
    if gs.reason is None:
        rep.add(
            "mean_days_between_orders",
            gs.overall.mean_days,
            "days",
            "mean calendar days since the previous order, over the month's orders that have one",
        )
    sec.say(_repurchase_text(run, hl, fa, gs, multi))
    if len(freq):
        sec.add(_frequency_table(freq, P))
    return sec


# --------------------------------------------------------------------------- 3 repurchase coupons


def _coupon_text(ch, P, ap) -> str:
    rate = (
        _t("coupon.rate", days=ap.coupon_redeem_days, rate=nv.pct(ch.rate_within_days))
        if ch.rate_reason is None
        else ch.rate_reason
    )
    closed = (
        _t("coupon.closed", month=_month(ch.closed_month), rate=nv.pct(ch.rate_in_validity))
        if ch.closed_month is not None
        else ""
    )
    return _t("coupon.issued", issued=nv.num(ch.issued), month=i18n.month(P), rate=rate, closed=closed)


def _coupon_headline(run: ActivityRun, sec: Section) -> bool:
    """The month's repurchase coupons and their redemption; False when there are none to show."""
    P, ap, rep = run.P, run.ap, run.rep
    cp = a.repurchase_coupons(run.con, P, ap, run.dp)
    ch = a.coupon_headline(run.con, cp, P, ap, run.dp)
    if ch.reason is not None:
        sec.note(ch.reason)
        return False
    rep.add(
        "repurchase_coupons_issued",
        ch.issued,
        "coupons",
        "repurchase coupons issued at checkout in the month",
    )
    if ch.rate_reason is None:
        rep.add(
            f"repurchase_coupon_redeemed_{ap.coupon_redeem_days}d",
            ch.rate_within_days,
            "share",
            f"share of repurchase coupons (observed {ap.coupon_redeem_days} days) redeemed within {ap.coupon_redeem_days} days of issue",
        )
    text = _coupon_text(ch, P, ap)
    run.found["coupon"] = text
    sec.say(text)
    return True


def _effect_chart(eff, labels: list[str], pooled_label: str, xlabel: str, title: str, sub: str) -> plt.Figure:
    e = eff.effect
    c = eff.campaigns.assign(label=labels)
    pooled = pd.DataFrame([{"label": pooled_label, "diff": e.diff, "ci_low": e.ci_low, "ci_high": e.ci_high}])
    plot = pd.concat([c[["label", "diff", "ci_low", "ci_high"]], pooled], ignore_index=True)
    fig, ax = plt.subplots(figsize=(8, 0.36 * len(plot) + 1.3))
    charts.bar_with_ci(plot, "label", "diff", "ci_low", "ci_high", ax=ax, fmt="pp")
    charts.percent_axis(ax, "x")
    ax.set_xlabel(xlabel)
    charts.title(ax, title, sub)
    return fig


def _verdict(e) -> str:
    if e.significant:
        return _t("effect.lifts" if e.diff > 0 else "effect.lowers")
    return _t("effect.unclear")


def lift_text(e, key: str, window: str) -> str:
    """Arm rates (reminded vs the holdout standardised to the reminded members' campaigns) and the pooled
    (Mantel-Haenszel) lift, each named: they are two different numbers (issue 15)."""
    return _t(
        key,
        window=_cap(window),
        treated=nv.pct(e.rate_treatment),
        holdout=nv.pct(e.rate_holdout),
        n_t=nv.num(e.n_treatment),
        n_h=nv.num(e.n_holdout),
        lift=nv.pp(e.diff),
        ci=nv.ci(e.ci_low, e.ci_high, nv.pp),
        sig=nv.significance(e.p_value, e.level),
    )


def _cap(text: str) -> str:
    """``text`` with a capital first letter (an English clause opening a sentence; Chinese unchanged)."""
    return text[:1].upper() + text[1:]


def _roi(x) -> str:
    return nv.num(x, 1)


def _basis(eff: campaigns.ReminderEffect) -> str:
    """The margin basis of a reminder's money in the report language (some window orders may have no cost)."""
    if 0 < eff.assumed_margin_orders < eff.window_orders:
        rate = re.search(r"assumed (\d+%) margin", eff.margin_basis)
        return _t(
            "money.basis_orders",
            n=nv.num(eff.assumed_margin_orders),
            total=nv.num(eff.window_orders),
            rate=rate.group(1) if rate else nv.na(),
        )
    return nv.margin_basis(eff.margin_basis)


def money_text(eff: campaigns.ReminderEffect, window: str, kind: str) -> str:
    """A reminder's money (``kind``: 'coupon' or 'category'): extra orders and gross margin with intervals,
    the touch cost counted once, ROI on margin, and the discount on what would have happened anyway."""
    e = eff.effect
    oci, mci = eff.incremental_orders_ci, eff.incremental_margin_ci
    ok = all(x is not None and np.isfinite(x) for x in (*oci, *mci))
    text = _t(
        f"money.{kind}_gain",
        window=_cap(window),
        extra=nv.num(eff.incremental_redemptions),
        orders=nv.num(eff.incremental_orders),
        orders_ci=_t("money.paren", text=nv.ci(*oci, nv.num)) if ok else "",
        margin=nv.yuan(eff.incremental_margin),
        margin_ci=_t("money.paren", text=nv.ci(*mci, nv.yuan)) if ok else "",
        basis=_basis(eff),
    )
    if eff.roi is None:
        text += _t("money.no_cost", n=nv.num(e.n_treatment))
    else:
        rci = eff.roi_ci
        has_ci = all(x is not None and np.isfinite(x) for x in rci)
        text += _t(
            "money.cost",
            n=nv.num(e.n_treatment),
            cost=nv.yuan(eff.cost_yuan, 2),
            roi=_roi(eff.roi),
            ci=_t("money.paren", text=nv.ci(*rci, _roi)) if has_ci else "",
        )
    if e.rate_holdout > 0 and np.isfinite(eff.mean_discount):
        text += _t(
            f"money.{kind}_anyway",
            anyway=nv.num(eff.expected_anyway_redemptions),
            discount=nv.yuan(eff.anyway_discount),
            each=nv.yuan(eff.mean_discount, 2),
            extra=nv.yuan(eff.discount_without_extra_order),
        )
    else:
        text += _t(f"money.{kind}_no_anyway")
    return text


def _record_reminder(run: ActivityRun, eff) -> None:
    P, ap, add = run.P, run.ap, run.rep.add
    e, period = eff.effect, f"{P.shift(-(ap.effect_months - 1)).month}..{P.month}"
    rows = [
        ("repurchase_reminder_lift", e.diff, "share (difference)",
         "repurchase-coupon redemption in the reminder window, reminded minus randomised holdout (campaigns pooled)",
         (e.ci_low, e.ci_high)),
        ("repurchase_reminder_incremental_orders", eff.incremental_orders, "orders",
         "extra orders in the reminder window caused by the reminder (treatment vs holdout, scaled to the treated)",
         eff.incremental_orders_ci),
        ("repurchase_reminder_incremental_margin", eff.incremental_margin, "yuan",
         f"incremental {eff.margin_basis} in the reminder window caused by the reminder (campaigns pooled)",
         eff.incremental_margin_ci),
        ("repurchase_reminder_anyway_discount", eff.anyway_discount, "yuan",
         "coupon discount on redemptions that would have happened anyway "
         "(treated members x holdout redemption rate x mean discount per treated redemption); inside paid GMV", None),
        ("repurchase_reminder_touch_cost", eff.cost_yuan, "yuan", "touch cost, treated members x cost per touch", None),
    ]  # fmt: skip
    if eff.roi is not None:
        rows.append(
            ("repurchase_reminder_roi_margin", eff.roi, "ratio", money.ROI_DEFINITION,
             eff.roi_ci if None not in eff.roi_ci else None)
        )  # fmt: skip
    for key, value, unit, definition, ci in rows:
        add(key, value, unit, definition, period=period, ci=ci)


def _reminder_effect(run: ActivityRun, sec: Section) -> None:
    P, ap = run.P, run.ap
    start = P.shift(-(ap.effect_months - 1)).start
    if run.ctx.has("campaigns", "campaign_members"):
        run.eff = a.reminder_effect(run.con, start, P.end, P, ap, run.dp, run.exp)
    if run.eff is None:
        why = (
            campaigns.reminder_absence(
                run.con, "repurchase_reminder", start, P.end, P.as_of, 24 * ap.reminder_window_days
            )
            if run.ctx.has("campaigns", "campaign_members")
            else ""
        )
        sec.note(why or _t("coupon.no_effect"))
        return
    eff, e = run.eff, run.eff.effect
    window = _t("window_days", days=ap.reminder_window_days)
    n = len(eff.campaigns)
    sec.add(
        _effect_chart(
            eff,
            [_ym(m) for m in eff.campaigns.campaign_month],
            _t("effect.pooled_months" + ("_one" if n == 1 else ""), n=n),
            _t("coupon.xlabel"),
            _t("coupon.chart_title", verdict=_verdict(e), lift=nv.pp(e.diff), ci=nv.ci(e.ci_low, e.ci_high, nv.pp)),
            _t("effect.chart_sub", first=i18n.month_short(P.shift(-(ap.effect_months - 1))),
               last=i18n.month_short(P), window=window),
        )
    )  # fmt: skip
    sec.say(lift_text(e, "coupon.lift", window))
    run.found["coupon"] = _t(
        "summary.reminder",
        lift=nv.pp(e.diff),
        ci=nv.ci(e.ci_low, e.ci_high, nv.pp),
        orders=nv.num(eff.incremental_orders),
        margin=nv.yuan(eff.incremental_margin),
    )
    sec.say(money_text(eff, window, "coupon"))
    _record_reminder(run, eff)


def coupons(run: ActivityRun) -> Section:
    """Section 3: repurchase coupons and the unused-coupon reminder against its randomised holdout."""
    sec = Section()
    _heading(sec, "coupon", days=run.ap.reminder_window_days)
    if not run.ctx.has("coupons"):
        sec.add(charts.missing_table_note("coupons", _t("coupon.would")))
        return sec
    if _coupon_headline(run, sec):
        _reminder_effect(run, sec)
    return sec


# --------------------------------------------------------------------------- 4 incentives


def _participation(run: ActivityRun, sec: Section) -> None:
    P, ap, rep = run.P, run.ap, run.rep
    part = a.participation(run.con, P, ap)
    ph = a.participation_headline(part, P, ap)
    if ph.reason is not None:
        sec.note(ph.reason)
        return
    fig, ax = plt.subplots(figsize=(8, 3.4))
    shown = a.since_data(part, part.active_users > 0)
    groups = shown[shown.incentive != "any"].groupby("incentive")
    for (inc, g), color in zip(groups, charts.PALETTE, strict=False):
        label = i18n.name("incentive", inc)
        ax.plot([_ym(m) for m in g.month], g.participation_rate, marker="o", color=color, label=label)
    charts.percent_axis(ax)
    ax.legend(fontsize=8, ncol=3)
    title = _t(
        "incentive.chart_title",
        rate=nv.pct(ph.any_rate),
        month=i18n.month_short(P),
        top=i18n.name("incentive", ph.top),
        top_rate=nv.pct(ph.top_rate),
    )
    charts.title(ax, title, _t("incentive.chart_sub"))
    sec.add(fig)
    run.found["incentive"] = title
    rep.add(
        "incentive_participation_any",
        ph.any_rate,
        "share",
        "share of the month's active users (order or any event) with any incentive event",
    )
    for inc, r in ph.rates.items():
        rep.add(
            f"incentive_participation.{inc}",
            r,
            "share",
            f"share of the month's active users with a {inc} event",
        )


def _signed(x) -> str:
    return nv.num(x, 2) if x < 0 else f"+{nv.num(x, 2)}"


def _association_chart(assoc: pd.DataFrame, run: ActivityRun, idx) -> plt.Figure:
    ap = run.ap
    shown = assoc.assign(name=[i18n.name("incentive", i) for i in assoc.incentive])
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(assoc) + 1.3))
    charts.bar_with_ci(shown, "name", "diff_orders", "ci_orders_low", "ci_orders_high", ax=ax, fmt="float1")
    ax.set_xlabel(_t("incentive.assoc_xlabel", days=ap.outcome_days, date=idx))
    best = shown.iloc[0]
    charts.title(
        ax,
        _t("incentive.assoc_title", name=best["name"], diff=f"{best.diff_orders:+.1f}"),
        _t("incentive.assoc_sub", prior=ap.prior_days, days=ap.participation_days, date=idx),
    )
    return fig


def _association_text(assoc: pd.DataFrame, view, run: ActivityRun, idx) -> str:
    ap = run.ap
    pos = assoc[(assoc.ci_orders_low > 0) & (assoc.incentive != "any")]
    neg = assoc[(assoc.ci_orders_high < 0) & (assoc.incentive != "any")]
    items = [
        _t(
            "incentive.assoc_item",
            name=i18n.name_in_text("incentive", r.incentive),  # after "Among the ... users ..., "
            orders=_signed(r.diff_orders),
            ci=nv.ci(r.ci_orders_low, r.ci_orders_high, _signed),
            gmv=nv.yuan(r.diff_gmv),
            gmv_ci=nv.ci(r.ci_gmv_low, r.ci_gmv_high, nv.yuan),
            days=ap.outcome_days,
        )
        for r in pos.itertuples()
    ]
    text = _t(
        "incentive.assoc_intro",
        users=nv.num(assoc.participants.iloc[0] + assoc.nonparticipants.iloc[0]),
        prior=ap.prior_days,
        date=idx,
    )
    text += i18n.t("brief.item_sep").join(items) if items else _t("incentive.assoc_none")
    text += _t("common_end")
    if len(neg):
        text += _t(
            "incentive.assoc_negative", names=_join(i18n.name_in_text("incentive", i) for i in neg.incentive)
        )
    if view.dropped:
        text += view.dropped + " "
    return text + _t("incentive.assoc_caveat")


def _association_table(assoc: pd.DataFrame):
    cols = ["name", "participants", "nonparticipants", "raw_diff_orders", "diff_orders", "ci", "diff_gmv"]
    tab = assoc.assign(
        name=[i18n.name("incentive", i) for i in assoc.incentive],
        ci=[
            f"{_signed(lo)}–{_signed(hi)}"
            for lo, hi in zip(assoc.ci_orders_low, assoc.ci_orders_high, strict=True)
        ],
    )[cols]
    names = {c: _t(f"incentive.col_{c}") for c in cols}
    fmt = {
        "participants": "int",
        "nonparticipants": "int",
        "raw_diff_orders": _signed,
        "diff_orders": _signed,
    }
    fmt["diff_gmv"] = "yuan"
    return charts.table_html(
        tab.rename(columns=names),
        {names[c]: f for c, f in fmt.items()},
        caption=_t("incentive.table_caption"),
        max_rows=None,
    )


def _association(run: ActivityRun, sec: Section) -> None:
    P, ap = run.P, run.ap
    idx = a.index_date(P, ap)
    view = a.association_shown(a.incentive_association(run.con, P, ap), P, ap)
    if view.reason is not None:
        sec.note(view.reason)
        return
    run.assoc = assoc = view.rows
    sec.add(_association_chart(assoc, run, idx))
    for r in assoc.itertuples():
        run.rep.add(
            f"incentive_association_orders.{r.incentive}",
            r.diff_orders,
            "orders per user (difference)",
            f"association, not effect: orders in {ap.outcome_days} days, {r.incentive} participants minus non-participants "
            f"stratified on prior {ap.prior_days}-day orders and tenure",
            period=f"{idx}..{P.as_of}",
            ci=(r.ci_orders_low, r.ci_orders_high),
        )
    sec.say(_association_text(assoc, view, run, idx))
    sec.add(_association_table(assoc))


def incentives(run: ActivityRun) -> Section:
    """Section 4: incentive participation and what it goes with (association, not effect)."""
    ap = run.ap
    sec = Section()
    _heading(sec, "incentive", prior=ap.prior_days)
    if not run.ctx.has("events"):
        sec.add(charts.missing_table_note("events", _t("incentive.would")))
        return sec
    _participation(run, sec)
    _association(run, sec)
    return sec


# --------------------------------------------------------------------------- 5 points


def _points_chart(pm: pd.DataFrame, now_p, ps, run: ActivityRun) -> plt.Figure:
    P, ap = run.P, run.ap
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = [_ym(m) for m in pm.month]
    xi = np.arange(len(x))
    ax.bar(xi - 0.2, pm.issued, 0.4, color=charts.ACCENT, label=_t("points.legend_issued"))
    out = pm.redeemed + pm.expired + pm.other_out
    ax.bar(xi + 0.2, out, 0.4, color=charts.PALETTE[1], label=_t("points.legend_out"))
    ax.set_xticks(xi, x)
    charts.int_axis(ax)
    ax.set_ylabel(_t("points.ylabel"))
    ax2 = ax.twinx()
    ax2.plot(xi, pm.liability_yuan, color="#222222", marker="o", label=_t("points.legend_liability"))
    charts.yuan_axis(ax2)
    ax2.grid(False)
    if pm.liability_yuan.max() > 0:
        ax2.set_ylim(0, pm.liability_yuan.max() * 1.15)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    month = i18n.month_short(P)
    tail = (
        _t("points.chart_redeemed", share=nv.pct(now_p.redeemed / now_p.issued), month=month)
        if now_p.issued
        else _t("points.chart_none", month=month)
    )
    title = _t("points.chart_title", liability=nv.yuan(ps.liability_yuan)) + tail
    charts.title(ax, title, _t("points.chart_sub", rate=nv.yuan(ap.points_to_yuan, None)))
    return fig


def _record_points(run: ActivityRun, now_p, ps, why: dict) -> None:
    ap, add = run.ap, run.rep.add
    add("points_issued", now_p.issued, "points", "points issued in the month (all positive ledger movements)")
    add("points_redeemed", now_p.redeemed, "points", "points redeemed against orders in the month")
    add("points_outstanding", ps.outstanding, "points", "points held by users at the month's end")
    add(
        "points_liability_yuan",
        ps.liability_yuan,
        "yuan",
        f"outstanding points x {nv.yuan(ap.points_to_yuan, None)} per point",
    )
    if "expected" not in why:
        add(
            "points_expected_liability_yuan",
            ps.expected_yuan,
            "yuan",
            "outstanding points expected to be redeemed x the points-to-yuan rate (Kaplan-Meier redemption-delay "
            "curve by days since issue, cut at expiry"
            + (")" if ps.expiry_months is not None else "; no expiry rule)"),
        )
        add(
            "points_expected_share",
            ps.expected_share,
            "share",
            "share of the outstanding points expected to be redeemed",
        )
    if "lag" not in why:
        add(
            "points_redemption_lag_median",
            ps.lag_median_days,
            "days",
            "points-weighted median days from issue to redemption (FIFO)",
        )


def _points_text(run: ActivityRun, now_p, ps, why: dict, issued_r: pd.DataFrame) -> str:
    P = run.P
    sources = (
        _t(
            "points.sources",
            items=_join(
                f"{i18n.name_in_text('points_reason', r.reason)}（{nv.pct(r.points / issued_r.points.sum())}）"
                if i18n.language() == "zh"
                else f"{i18n.name_in_text('points_reason', r.reason)} ({nv.pct(r.points / issued_r.points.sum())})"
                for r in issued_r.head(3).itertuples()
            ),
        )
        if len(issued_r)
        else ""
    )
    text = _t(
        "points.moved",
        month=i18n.month(P),
        issued=nv.num(now_p.issued),
        redeemed=nv.num(now_p.redeemed),
        sources=sources,
        outstanding=nv.num(ps.outstanding),
        liability=nv.yuan(ps.liability_yuan),
    )
    if "expected" in why:
        expected = why["expected"]
    else:
        rule = (
            _t("points.expiry", months=ps.expiry_months)
            if ps.expiry_months is not None
            else _t("points.no_expiry", days=nv.num(ps.horizon_days))
        )
        expected = _t(
            "points.expected",
            points=nv.num(ps.expected_points),
            share=nv.pct(ps.expected_share),
            expected=nv.yuan(ps.expected_yuan),
            liability=nv.yuan(ps.liability_yuan),
            rule=rule,
        )
    run.found["points"] = f"{text} {expected}"
    lag = why.get("lag") or _t("points.lag", median=nv.num(ps.lag_median_days), p90=nv.num(ps.lag_p90_days))
    return f"{text} {expected} {lag}"


def _points_tables(run: ActivityRun, br: pd.DataFrame, ps) -> list:
    tab = a.reason_table(br)
    tab["reason"] = [i18n.name("points_reason", r) for r in tab.reason]
    tab = tab.rename(columns={"reason": _t("points.col_reason")})
    by_reason = charts.table_html(
        tab, dict.fromkeys(tab.columns[1:], "int"), caption=_t("points.reason_caption"), max_rows=None
    )
    aged = a.points_aging_table(ps, run.ap)
    names = {c: _t(f"points.col_{c.replace(' ', '_')}") for c in aged.columns}
    counts = ("issued", "redeemed", "expired", "outstanding", "expected")
    aging = charts.table_html(
        aged.rename(columns=names),
        {names[c]: "int" for c in counts if c in aged},
        caption=_t("points.aging_caption"),
        max_rows=None,
    )
    return [by_reason, aging]


def points(run: ActivityRun) -> Section:
    """Section 5: points issued and redeemed, the full and the expected liability."""
    P, ap = run.P, run.ap
    sec = Section()
    _heading(sec, "points")
    if not run.ctx.has("points_ledger"):
        sec.add(charts.missing_table_note("points_ledger", _t("points.would")))
        return sec
    pm = a.points_monthly(run.con, P, ap)
    ps = a.points_summary(run.con, P, ap)
    why = a.points_reasons(pm, ps, P, ap)
    now_p = pm.iloc[-1]
    if "chart" in why:
        sec.note(why["chart"])
        return sec
    run.ps = ps
    moved = pm[["issued", "redeemed", "expired", "other_out"]].sum(axis=1) > 0
    pm = a.since_data(pm, moved | (pm.closing_balance != 0))
    sec.add(_points_chart(pm, now_p, ps, run))
    _record_points(run, now_p, ps, why)
    br = a.points_by_reason(run.con, P, ap)
    br = br[pd.to_datetime(br.month) >= pd.Timestamp(pm.month.min())]
    brn = br[br.month == br.month.max()]
    issued_r = brn[brn.points > 0].sort_values("points", ascending=False)
    sec.say(_points_text(run, now_p, ps, why, issued_r))
    for table in _points_tables(run, br, ps):
        sec.add(table)
    return sec


# --------------------------------------------------------------------------- 6 tiers


def _tier_name(name: str) -> str:
    return _t("tier_new") if name == "new" else i18n.name("tier", name)


def _tier_chart(mat: pd.DataFrame, kept, no_top, run: ActivityRun) -> plt.Figure:
    P, ap = run.P, run.ap
    share = a.tier_share(mat)
    share.index = [f"{_tier_name(i)} (n={nv.num(mat.sum(axis=1)[i])})" for i in share.index]
    share.columns = [_tier_name(c) for c in share.columns]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    charts.heatmap_masked(share, ax=ax, fmt="pct", cmap="Blues")
    ax.set_xlabel(_t("tier.xlabel", date=P.as_of))
    ax.set_ylabel(_t("tier.ylabel", date=P.start))
    top = _tier_name(kept.top)
    title = (
        _t("tier.chart_title", share=nv.pct(kept.kept_share), top=top, kept=nv.num(kept.kept),
           start=nv.num(kept.start), end=nv.num(kept.end))
        if no_top is None
        else _t("tier.chart_title_none", top=top, end=nv.num(kept.end))
    )  # fmt: skip
    charts.title(ax, title, _t("tier.chart_sub", days=ap.tier_window_days))
    return fig


def _record_tiers(rep, kept, no_top, ap) -> None:
    rep.add(
        f"tier_{kept.top}_start",
        kept.start,
        "users",
        f"users in the {kept.top} tier at the month's start ({ap.tier_window_days}-day spend)",
    )
    if no_top is None:
        rep.add(
            f"tier_{kept.top}_kept_share",
            kept.kept_share,
            "share",
            f"share of start-of-month {kept.top} users still {kept.top} at the month's end",
        )
    rep.add(f"tier_{kept.top}_end", kept.end, "users", f"users in the {kept.top} tier at the month's end")
    rep.add("tier_downgraded", kept.downgraded, "users", "existing users whose tier fell during the month")


def tiers(run: ActivityRun) -> Section:
    """Section 6: membership tiers (rolling spend) at the month's start against its end."""
    P, ap = run.P, run.ap
    sec = Section()
    thr = _join(
        _t("tier.threshold", tier=i18n.name("tier", k), min=nv.yuan(v))
        for k, v in ap.tier_thresholds_yuan.items()
    )
    _heading(sec, "tier", days=ap.tier_window_days, thresholds=thr)
    tt = a.tier_transitions(run.con, P, ap)
    mat = a.tier_matrix(tt, ap)
    run.kept = kept = a.tiers_kept(tt, ap)
    no_top = a.tier_reason(kept, ap)
    sec.add(_tier_chart(mat, kept, no_top, run))
    top = i18n.name_in_text("tier", kept.top)  # the top value tier, inside a sentence
    head = (
        _t(
            "tier.kept",
            kept=nv.num(kept.kept),
            start=nv.num(kept.start),
            top=top,
            share=nv.pct(kept.kept_share),
        )
        if no_top is None
        else no_top
    )
    text = head + _t(
        "tier.moves", top=top, end=nv.num(kept.end), up=nv.num(kept.upgraded), down=nv.num(kept.downgraded)
    )
    run.found["tier"] = text
    sec.say(text)
    _record_tiers(run.rep, kept, no_top, ap)
    return sec


# --------------------------------------------------------------------------- 7 category cycles


def scene_name(level: str, scene, product_name=None) -> str:
    """The reader's name of a repurchase scene: a category, the milk powder group, or a product as named."""
    if level == "group" or scene == "milk_powder":
        return i18n.name("category", "milk_powder")
    if level == "category":
        return i18n.name("category", scene)
    return str(product_name if product_name is not None else scene)


def _cycle_chart(cats: pd.DataFrame, mp: pd.DataFrame, curves: dict, run: ActivityRun) -> plt.Figure:
    P, ap = run.P, run.ap
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for row, color in zip(cats.itertuples(), charts.PALETTE, strict=False):
        cv = curves[("category", row.scene)]
        label = _t("cycle.legend", name=scene_name("category", row.scene), days=nv.num(row.median_days))
        ax.step(cv.index, 1 - cv.survival, where="post", lw=1.2, color=color, label=label)
    if len(mp):
        cv = curves[("group", "milk_powder")]
        label = _t(
            "cycle.legend", name=scene_name("group", "milk_powder"), days=nv.num(mp.iloc[0].median_days)
        )
        ax.step(cv.index, 1 - cv.survival, where="post", lw=2.6, color="#222222", label=label)
    ax.set_xlim(0, 60)
    charts.percent_axis(ax)
    ax.legend(fontsize=8, ncol=2)
    ax.set_xlabel(_t("cycle.xlabel"))
    ax.set_ylabel(_t("cycle.ylabel"))
    first = cats.iloc[0]
    fastest = dict(name=scene_name("category", first.scene), days=nv.num(first.median_days))
    title = (
        _t("cycle.chart_title_mp", mp=nv.num(mp.iloc[0].median_days), **fastest)
        if len(mp)
        else _t("cycle.chart_title", **fastest)
    )
    sub = _t(
        "cycle.sub",
        n=len(cats),
        since=i18n.month_short(P.shift(-(ap.cycle_lookback_months - 1))),
        as_of=P.as_of,
    )
    charts.title(ax, title, sub)
    return fig


def _cycle_table(cyc: pd.DataFrame, ap):
    tab = a.cycle_table(cyc)
    tab["level"] = [_t(f"cycle.level_{lvl}") for lvl in tab.level]
    cols = {c: _t(f"cycle.col_{c}") for c in tab.columns}
    return charts.table_html(
        tab.rename(columns=cols),
        {cols["purchases"]: "int", cols["repeats"]: "int"},
        max_rows=None,
        caption=_t("cycle.caption", days=ap.cycle_horizon_days),
    )


def _cycles(run: ActivityRun, sec: Section) -> pd.DataFrame:
    P, ap = run.P, run.ap
    cyc, curves = a.cycles(run.con, P, ap)
    cats, no_cycle = a.cycle_chart_rows(cyc, len(charts.PALETTE))
    mp = cyc[(cyc.scene == "milk_powder") & np.isfinite(cyc.median_days)]
    if no_cycle is not None:
        sec.note(no_cycle)
    else:
        sec.add(_cycle_chart(cats, mp, curves, run))
        fastest = cats.iloc[0]
        run.found["cycle"] = _t(
            "cycle.finding", name=scene_name("category", fastest.scene), days=nv.num(fastest.median_days)
        )
    if len(cyc):
        sec.add(_cycle_table(cyc, ap))
    for r in cyc[np.isfinite(cyc.median_days)].itertuples():
        if r.level in ("category", "group"):
            run.rep.add(
                f"cycle_median_days.{r.scene}",
                r.median_days,
                "days",
                "Kaplan-Meier median days from a purchase to the same user's next purchase in the scene (censored)",
                period=f"{P.shift(-(ap.cycle_lookback_months - 1)).month}..{P.month}",
                ci=(r.median_low, r.median_high),
            )
    return cyc


def _due_text(run: ActivityRun, due: pd.DataFrame, gh_note: str) -> str:
    ap = run.ap
    n_users = due.user_id.nunique()
    n_hold = due[due.arm == "holdout"].user_id.nunique()
    return _t(
        "due.finding",
        users=nv.num(n_users),
        scenes=_join(scene_name("category", c) for c in sorted(due.category.unique())),
        min_gaps=ap.min_personal_gaps,
        lead=ap.reminder_lead_days,
        until=ap.reminder_lead_days + ap.reminder_horizon_days,
        horizon=ap.reminder_horizon_days,
        as_of=run.P.as_of,
        treated=nv.num(n_users - n_hold),
        holdout=nv.num(n_hold),
        share=nv.pct(ap.reminder_holdout_share, 0),
        file=i18n.name("target", "category_reminders"),
    ) + (f" {gh_note}" if gh_note else "")


def _due_table(due: pd.DataFrame):
    summ = (
        due.groupby(["category", "arm"])
        .agg(users=("user_id", "nunique"), own=("is_own_cycle", "mean"), cycle=("cycle_days", "median"))
        .reset_index()
    )
    summ["category"] = [scene_name("category", c) for c in summ.category]
    summ["arm"] = [_t(f"due.arm_{x}") for x in summ.arm]
    names = {c: _t(f"due.col_{c}") for c in summ.columns}
    return charts.table_html(
        summ.rename(columns=names),
        {names["users"]: "int", names["own"]: "pct", names["cycle"]: "float1"},
        max_rows=None,
    )


def _due(run: ActivityRun, sec: Section, cyc: pd.DataFrame) -> None:
    P, ap, rep = run.P, run.ap, run.rep
    no_scene = a.reminder_scene_check(cyc, ap)
    if no_scene is not None:
        sec.note(no_scene)
    due = a.due_reminders(run.con, P, ap, cyc, run.exp)
    gh_note = a.due_global_note(due)  # before the contact plan, which returns a new frame
    due = rep.plan_target("category_reminders", due, run.ctx.params)  # one contact plan with the other lists
    rep.write_target(
        "category_reminders",
        due[["user_id", "category", "last_purchase_at", "expected_at", "arm"]],
        ["user_id", "category"],
    )
    run.due = due
    no_due = a.due_reason(due, P, ap)
    if no_due is not None:
        sec.note(no_due)
        return
    rep.add(
        "category_reminders_users",
        due.user_id.nunique(),
        "users",
        f"users whose expected next purchase in a reminder scene falls {ap.reminder_lead_days}..{ap.reminder_lead_days + ap.reminder_horizon_days} days after the month",
    )
    sec.say(_due_text(run, due, gh_note))
    sec.add(_due_table(due))


def _category_effect(run: ActivityRun, sec: Section) -> None:
    P, ap = run.P, run.ap
    has = run.ctx.has("campaigns", "campaign_members")
    cat_eff, why = a.category_reminder_section(run.con, has, P, ap, run.exp)
    if why is not None:
        sec.note(why)
        return
    run.cat_eff = cat_eff
    sec.add(a.category_reminder_chart(cat_eff, P, ap))
    window = _t("window_days", days=ap.category_window_days)
    sec.say(
        lift_text(cat_eff.effect, "category.lift", window) + " " + money_text(cat_eff, window, "category")
    )
    a.record_category_reminder(run.rep, cat_eff, P, ap)


def cycles(run: ActivityRun) -> Section:
    """Section 7: category repurchase cycles, who is due for a reminder (targets/category_reminders.csv),
    and past category reminders against their randomised holdout."""
    sec = Section()
    _heading(sec, "cycle", window=run.ap.category_window_days)
    if not run.ctx.has("order_items", "products"):
        sec.add(charts.missing_table_note("order_items", _t("cycle.would")))
    else:
        cyc = _cycles(run, sec)
        _due(run, sec, cyc)
    _category_effect(run, sec)
    return sec


# --------------------------------------------------------------------------- 8 actions, summary, definitions


def _incentive_actions(run: ActivityRun) -> list[str]:
    assoc, ap = run.assoc, run.ap
    if assoc is None:
        return []
    pos = assoc[(assoc.ci_orders_low > 0) & (assoc.incentive != "any")]
    neg = assoc[(assoc.ci_orders_high < 0) & (assoc.incentive != "any")]
    acts = []
    if len(pos):
        names = [i18n.name_in_text("incentive", i) for i in pos.incentive]  # "**Keep lucky draw**"
        acts.append(_t("action.keep_incentive", names=_join(names), first=names[0]))
    if len(neg):
        acts.append(
            _t(
                "action.review_incentive",
                names=_join(i18n.name_in_text("incentive", i) for i in neg.incentive),
                diffs=_join(_signed(r.diff_orders) for r in neg.itertuples()),
                days=ap.outcome_days,
            )
        )
    return acts


def action_list(run: ActivityRun) -> list[str]:
    """The play's actions, each from a number above, most money first where there is money."""
    ap, acts = run.ap, []
    if run.eff is not None:
        acts.append(a.reminder_action(run.eff))
    acts += _incentive_actions(run)
    due = run.due
    if due is not None and len(due[due.arm == "treatment"]):
        by_cat = due[due.arm == "treatment"].groupby("category").user_id.nunique()
        acts.append(
            _t(
                "action.send_reminders",
                items=_join(
                    _t("action.scene_users", name=scene_name("category", c), n=nv.num(n))
                    for c, n in by_cat.items()
                ),
                file=i18n.name_in_text("target", "category_reminders"),
                lead=ap.reminder_lead_days,
            )
        )
    if run.cat_eff is not None:
        acts.append(campaigns.category_reminder_action(run.cat_eff))
    ps = run.ps
    if ps is not None and np.isfinite(ps.expected_yuan) and ps.expected_yuan > 0:
        acts.append(
            _t("action.provision", expected=nv.yuan(ps.expected_yuan), full=nv.yuan(ps.liability_yuan))
        )
    kept = run.kept
    if kept is not None and kept.start > kept.kept:
        acts.append(
            _t(
                "action.win_back",
                top=_tier_name(kept.top),
                lost=nv.num(kept.start - kept.kept),
                start=nv.num(kept.start),
                days=ap.tier_window_days,
            )
        )
    return acts


def actions(run: ActivityRun) -> Section:
    """Section 8: the actions, each from a number above."""
    acts = action_list(run)
    body = "\n".join(f"{i}. {t}" for i, t in enumerate(acts, 1)) if acts else _t("action.none")
    sec = Section()
    sec.say(f"## {_t('action.title')}\n\n{body}")  # one output: the heading stays with its list
    return sec


def play_summary(run: ActivityRun):
    """The one-page summary (three findings, three actions) from the numbers the sections computed."""
    order = ["active", "repurchase", "coupon", "points", "tier", "incentive", "cycle"]
    findings = [run.found[k] for k in order if k in run.found]
    return summary(findings, action_list(run))


DEFINITIONS = [
    "active", "stickiness", "active_days", "repurchase", "frequency", "coupon_rate", "reminder_lift",
    "incremental", "roi", "participation", "association", "liability", "expected_liability", "tiers", "cycle",
    "due",
]  # fmt: skip


def definitions(run: ActivityRun) -> Section:
    """The appendix in business language: what each number of the report means (the SQL behind each
    stays in metrics.json and the analyst's notebook)."""
    ap = run.ap
    kw = dict(
        repurchase_days=ap.repurchase_days,
        coupon_days=ap.coupon_redeem_days,
        window=ap.reminder_window_days,
        prior=ap.prior_days,
        outcome=ap.outcome_days,
        rate=nv.yuan(ap.points_to_yuan, None),
        tier_days=ap.tier_window_days,
        lead=ap.reminder_lead_days,
        horizon=ap.reminder_horizon_days,
        holdout=nv.pct(ap.reminder_holdout_share, 0),
        until=ap.reminder_lead_days + ap.reminder_horizon_days,
    )
    rows = [(_t(f"def.{k}_term", **kw), _t(f"def.{k}", **kw)) for k in DEFINITIONS]
    tab = pd.DataFrame(rows, columns=[_t("def.col_term"), _t("def.col_text")])
    from html import escape

    from IPython.display import HTML

    # one block that does not break across pages: the heading stays with its table (under a page long)
    table = charts.table_html(tab, max_rows=None).to_html()
    sec = Section()
    sec.add(
        HTML(
            f'<div style="display: inline-block; width: 100%"><h2>{escape(_t("def.title"))}</h2>{table}</div>'
        )
    )
    return sec
