"""Play 2: new-user 7-day retention. SQL in sql/retention/, statistics added here.

Each function takes an open warehouse connection, the report Period and the
retention params, and returns a small DataFrame (or a dataclass) ready to
plot or print.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from userops import i18n, money
from userops import narrative as nv
from userops.campaigns import ReminderEffect, coupon_reminder_effect, reminder_coverage
from userops.db import query
from userops.experiment import assign_arms
from userops.params import DataParams, ExperimentParams, RetentionParams
from userops.period import Period
from userops.stats import km_curve, proportion_ci

COUNT_COLS = ["cohort_users", "eligible_users", "retained_users", "cum_retained_users"]
REMINDER_CAMPAIGN_KIND = "expiry_reminder"


@dataclass(frozen=True)
class Section:
    """A section's numbers (``value``), or ``reason``: one plain sentence saying what the section
    needs and that the data lacks it (then nothing is charted, recorded or acted on)."""

    value: object = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def _ok(value) -> Section:
    return Section(value=value)


def _needs(reason: str) -> Section:
    return Section(reason=reason)


def _missing(x) -> bool:
    return x is None or pd.isna(x)


RETURN_LABEL = {"order": "another order", "any": "any activity (an event or an order)"}


def return_label(event: str) -> str:
    """'another order', 'any activity (...)' or "a `name` event" for a return event."""
    return RETURN_LABEL.get(event, f"a `{event}` event")


def metric_definitions(rp: RetentionParams) -> dict[str, tuple[str, str]]:
    """The play's retention metrics: key -> (unit, definition). One headline k-day retention
    (cumulative Dk: a return on calendar days 1..k after the first-order day, among new users
    observed k full days; the Dk grids and channel rates add up to it, and a same-day 2nd order is
    one shopping trip, not a return); every variant has its own key saying how it differs."""
    k, n, h = rp.max_day, rp.second_order_days, rp.km_horizon_days
    ret, alt = return_label(rp.return_event), return_label(other_return_event(rp))
    return {
        "d1_retention": (
            "share",
            f"share of the month's new users with {ret} on the day after the first-order day",
        ),
        f"d1_retention_{other_return_event(rp)}": (
            "share",
            f"D1 retention with {alt} as the return event (same new users; differs only in the return event)",
        ),
        f"cum_d{k}_retention": (
            "share",
            f"{k}-day retention (headline): share of the month's new users observed {k} days with {ret} on "
            f"calendar days 1..{k} after the first-order day",
        ),
        f"second_order_within_{n * 24}h": (
            "share",
            f"variant: share of new users (observed {n} x 24 h) whose 2nd order came within {n} x 24 h of the "
            f"first; unlike {k}-day retention it counts same-day 2nd orders and cuts at the hour",
        ),
        f"km_retention_by_day_{h}": (
            "share",
            f"variant: Kaplan-Meier share of new users with another order on days 1..{h} after the first-order "
            f"day; unlike {k}-day retention it is censored, so it also uses users not yet observed {h} days",
        ),
        f"cum_d{k}_retention.<channel>": (
            "share",
            f"{k}-day retention of the channel's new users (the headline definition), cohorts pooled over "
            f"{rp.channel_trailing_months} months",
        ),
    }


def other_return_event(rp: RetentionParams) -> str:
    """The basis shown next to the headline's: activity ('any') for orders, else orders."""
    return "any" if rp.return_event == "order" else "order"


def cohort_counts(
    con,
    start: dt.date,
    end: dt.date,
    grain: str,
    p: Period,
    rp: RetentionParams,
    return_event: str | None = None,
) -> pd.DataFrame:
    """Counts per cohort x channel x day k (sql/retention/dk_retention.sql), as of p.as_of.

    ``return_event`` ('order' | 'any' | an event name) defaults to ``rp.return_event``.
    """
    return query(
        "retention/dk_retention",
        con,
        grain=grain,
        from_date=start,
        to_date=end,
        max_day=rp.max_day,
        as_of=p.as_of,
        return_event=return_event or rp.return_event,
    )


def add_rates(df: pd.DataFrame) -> pd.DataFrame:
    """Rates from summed counts; `is_mature` = every cohort user observed for k days.

    retention = retained / eligible, cum_retention = cum_retained / eligible (NaN when no
    eligible users); immature cells keep their partial rate but must be masked in cohort grids.
    """
    out = df.copy()
    elig = out["eligible_users"].where(out["eligible_users"] > 0)
    out["retention"] = out["retained_users"] / elig
    out["cum_retention"] = out["cum_retained_users"] / elig
    out["is_mature"] = (out["eligible_users"] == out["cohort_users"]) & (out["cohort_users"] > 0)
    return out


def by_cohort(counts: pd.DataFrame) -> pd.DataFrame:
    """Sum channels: one row per cohort x day k with rates (and the cohort's `is_complete`)."""
    g = counts.groupby(["cohort_start", "day_k", "is_complete"], as_index=False)[COUNT_COLS].sum()
    return add_rates(g)


def by_channel(counts: pd.DataFrame) -> pd.DataFrame:
    """Pool cohorts: one row per channel x day k (eligible users only in each denominator)."""
    g = counts.groupby(["channel", "day_k"], as_index=False)[COUNT_COLS].sum()
    return add_rates(g)


def triangle(cohorts: pd.DataFrame, value: str = "retention") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cohort x day grid of `value` and the mask of immature cells (True = hide)."""
    grid = cohorts.pivot(index="cohort_start", columns="day_k", values=value)
    mature = cohorts.pivot(index="cohort_start", columns="day_k", values="is_mature").astype(bool)
    return grid, ~mature


def monthly_headline(con, p: Period, rp: RetentionParams, months: int = 6) -> pd.DataFrame:
    """D1..D7 for the report month's and the previous months' new users (one row per month x k)."""
    start = p.shift(-(months - 1)).start
    return by_cohort(cohort_counts(con, start, p.end, "month", p, rp))


def second_order_share(con, start: dt.date, end: dt.date, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """Per channel plus an 'all' row: share of eligible new users with a 2nd order within N days."""
    df = query(
        "retention/second_order_within",
        con,
        from_date=start,
        to_date=end,
        days=rp.second_order_days,
        as_of=p.as_of,
    )
    total = pd.DataFrame([{"channel": "all", **df[["new_users", "eligible_users", "second_within"]].sum()}])
    out = pd.concat([df, total], ignore_index=True)
    out["share"] = out["second_within"] / out["eligible_users"].where(out["eligible_users"] > 0)
    return out


def time_to_second(
    con, start: dt.date, end: dt.date, p: Period, rp: RetentionParams
) -> dict[str, pd.DataFrame]:
    """Kaplan-Meier curves of the share of new users not yet back (no order on a later day than the
    first-order day: the headline retention's return), per channel and 'all'. 1 - S(k) is the
    censored estimate of k-day retention.

    Users not yet observed for the whole horizon are censored at the days observed. Each curve's
    median (days) is in `.attrs["median"]`; `.attrs["n"]` holds its users.
    """
    rows = query(
        "retention/time_to_second_order",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        horizon=rp.km_horizon_days,
    )
    curves = {}
    groups = [("all", rows)] + list(rows.groupby("channel"))
    for name, g in groups:
        if g["n_users"].sum() == 0:
            continue
        curve = km_curve(g["duration_days"], g["observed"], g["n_users"], label=name, level=rp.ci_level)
        curve.attrs["n"] = int(g["n_users"].sum())
        curves[name] = curve
    return curves


def share_by_day(curve: pd.DataFrame, day: int) -> float:
    """1 - KM survival at `day`: the estimated share with another order on days 1..`day`.

    NaN when no user was observed for `day` days (the curve ends earlier: it says nothing there).
    """
    s = curve["survival"]
    if not len(s) or s.index.max() < day:
        return float("nan")
    return float(1 - s[s.index <= day].iloc[-1]) if (s.index <= day).any() else 0.0


def coupon_pack(con, p: Period, dp: DataParams) -> pd.DataFrame:
    """Issued / redeemed within validity per new-user coupon kind, for coupons issued in the month.

    The pack's kinds are ``dp.new_user_coupon_kinds`` (params data section).
    """
    df = query(
        "retention/coupon_pack",
        con,
        from_date=p.start,
        to_date=p.end,
        as_of=p.as_of,
        new_user_kinds=list(dp.new_user_coupon_kinds),
    )
    closed = df["n_closed"].where(df["n_closed"] > 0)
    df["redemption_rate"] = df["n_redeemed_within"] / closed
    return df


def reminder_effect(
    con,
    start: dt.date,
    end: dt.date,
    p: Period,
    rp: RetentionParams,
    dp: DataParams,
    exp: ExperimentParams | None = None,
) -> ReminderEffect | None:
    """The coupon-expiry reminder (campaign kind 'expiry_reminder') on new-user pack redemption.

    Treatment vs randomised holdout within `reminder_hours` after the reminder, stratified by
    campaign, with incremental orders and gross margin, the discount given anyway, the touch
    cost and ROI on margin (``exp``: params ``experiments``); None without a campaign with both
    arms. See campaigns.coupon_reminder_effect.
    """
    return coupon_reminder_effect(
        con,
        REMINDER_CAMPAIGN_KIND,
        list(dp.new_user_coupon_kinds),
        start,
        end,
        p.as_of,
        rp.reminder_hours,
        rp.ci_level,
        exp=exp,
    )


def expiring_coupons(con, p: Period, rp: RetentionParams, dp: DataParams) -> pd.DataFrame:
    """Coupons to remind about right after the month, with a seeded randomised holdout per user.

    Columns: user_id, coupon_id, expires_at, face_value, arm (the CRM file's columns) plus kind.
    """
    df = query(
        "retention/expiring_coupons",
        con,
        cutoff=p.cutoff,
        hours=rp.reminder_hours,
        new_user_kinds=list(dp.new_user_coupon_kinds),
    )
    df["arm"] = assign_arms(df["user_id"], rp.reminder_holdout_share, rp.reminder_seed) if len(df) else []
    return df[["user_id", "coupon_id", "expires_at", "face_value", "kind", "arm"]]


@dataclass(frozen=True)
class Headline:
    """The report month's new users and their first-week numbers, with the previous month."""

    new_users: int
    new_users_prev: int
    d1: float
    d1_prev: float
    cum_d7: float
    cum_d7_prev: float
    cum_d7_eligible: int  # users of the month observed for 7 days
    second_within: float  # share with a 2nd order within N days (eligible users)
    second_within_prev: float
    second_eligible: int
    return_event: str = "order"  # the return event of d1 / cum_d7 (params retention.return_event)
    other_event: str = "any"  # the basis of d1_other, shown next to d1
    d1_other: float = float("nan")  # D1 on the other basis (NaN when it needs events the data lacks)


def needs_events(event: str) -> bool:
    """Whether a return event is measured on the events table ('any' or a named event)."""
    return event != "order"


def headline(con, p: Period, rp: RetentionParams, has_events: bool = True) -> Headline:
    """D1, cumulative D-max_day and the 2nd-order share for the month's and last month's new users,
    with D1 on the other return basis (activity for orders, else orders) when it can be measured."""
    monthly = monthly_headline(con, p, rp, months=2)
    other = other_return_event(rp)
    d1_other = float("nan")
    if has_events or not needs_events(other):
        o = by_cohort(cohort_counts(con, p.start, p.end, "month", p, rp, return_event=other))
        o = o[o.day_k == 1]
        d1_other = float(o.retention.iloc[0]) if len(o) else float("nan")

    def at(period: Period, k: int, col: str):
        row = monthly[(monthly.cohort_start == pd.Timestamp(period.start)) & (monthly.day_k == k)]
        return row.iloc[0][col] if len(row) else float("nan")

    def second(period: Period) -> pd.Series:
        s = second_order_share(con, period.start, period.end, p, rp)
        return s[s.channel == "all"].iloc[0]

    s_now, s_prev = second(p), second(p.prev)
    k = rp.max_day

    def count(period: Period, k: int, col: str) -> int:
        x = at(period, k, col)
        return 0 if pd.isna(x) else int(x)

    return Headline(
        new_users=count(p, 1, "cohort_users"),
        new_users_prev=count(p.prev, 1, "cohort_users"),
        d1=float(at(p, 1, "retention")),
        d1_prev=float(at(p.prev, 1, "retention")),
        cum_d7=float(at(p, k, "cum_retention")),
        cum_d7_prev=float(at(p.prev, k, "cum_retention")),
        cum_d7_eligible=count(p, k, "eligible_users"),
        second_within=float(s_now.share),
        second_within_prev=float(s_prev.share),
        second_eligible=int(s_now.eligible_users),
        return_event=rp.return_event,
        other_event=other,
        d1_other=d1_other,
    )


OTHERS = "others"


def _top_channels(counts: pd.DataFrame, top_n: int) -> dict[str, str]:
    """Channel -> its label: itself for the `top_n` channels with most new users, else 'others'."""
    sizes = counts[counts.day_k == 1].groupby("channel")["cohort_users"].sum()
    ranked = sorted(sizes.index, key=lambda c: (-sizes[c], c))
    if len(ranked) <= top_n:
        return {c: c for c in ranked}
    return {c: (c if i < top_n else OTHERS) for i, c in enumerate(ranked)}


def channel_summary(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """Per acquisition channel, cohorts of the trailing `channel_trailing_months` months pooled.

    Columns: channel, new_users, d1, cum_d7 (+ Wilson CI), second_within share, flag_small.
    Sorted by cum_d7, best first. Beyond the `channel_top_n` channels with most new users, the
    rest are pooled (their counts summed) as one 'others' row.
    """
    start = p.shift(-(rp.channel_trailing_months - 1)).start
    counts = cohort_counts(con, start, p.end, "day", p, rp)
    label = _top_channels(counts, rp.channel_top_n)
    ch = by_channel(counts.assign(channel=counts["channel"].map(label)))
    k = rp.max_day
    d1 = ch[ch.day_k == 1].set_index("channel")
    dk = ch[ch.day_k == k].set_index("channel")
    cols = ["new_users", "eligible_users", "second_within"]
    second = second_order_share(con, start, p.end, p, rp)
    second = second[second.channel != "all"].assign(channel=lambda d: d["channel"].map(label))
    second = second.groupby("channel")[cols].sum()
    second["share"] = second["second_within"] / second["eligible_users"].where(second["eligible_users"] > 0)
    out = pd.DataFrame(
        {
            "new_users": d1["cohort_users"],
            "d1": d1["retention"],
            "cum_d7": dk["cum_retention"],
            "cum_d7_eligible": dk["eligible_users"],
            "cum_d7_retained": dk["cum_retained_users"],
            "second_within": second["share"].reindex(d1.index),
        }
    )
    cis = [
        proportion_ci(int(x), int(n), rp.ci_level)
        for x, n in zip(out.cum_d7_retained, out.cum_d7_eligible, strict=True)
    ]
    # Wilson bounds can miss a 0% / 100% estimate by float rounding: keep each interval around it.
    out["cum_d7_low"] = np.fmin([c[0] for c in cis], out["cum_d7"])
    out["cum_d7_high"] = np.fmax([c[1] for c in cis], out["cum_d7"])
    out["flag_small"] = out["cum_d7_eligible"] < rp.min_cohort_users
    out = out[out.new_users > 0].reset_index().sort_values(["cum_d7", "channel"], ascending=[False, True])
    return out.reset_index(drop=True)


def daily_cohorts(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """The last `daily_cohort_days` daily first-order cohorts up to the month's end (rates per day k)."""
    return by_cohort(cohort_counts(con, p.end - dt.timedelta(days=rp.daily_cohort_days), p.end, "day", p, rp))


def weekly_cohorts(con, p: Period, rp: RetentionParams) -> pd.DataFrame:
    """The last `weekly_cohort_weeks` weekly cohorts (Monday to Sunday) up to the month's end.

    The first week starts on a Monday, so it is whole; the week of the month's last day (unless
    that is a Sunday) and the data's first week are partial: `is_complete` is False for them.
    """
    last_monday = p.as_of - dt.timedelta(days=p.as_of.weekday())
    start = last_monday - dt.timedelta(weeks=rp.weekly_cohort_weeks - 1)
    return by_cohort(cohort_counts(con, start, p.end, "week", p, rp))


# --------------------------------------------------------------------------- reader-facing words


def _t(key: str, **fields) -> str:
    """A text of play 02 in the report language (i18n ``text.retention_report.<key>``)."""
    return i18n.t(f"retention_report.{key}", **fields)


def return_words(event: str) -> str:
    """The return event in the report language: '再次下单' / 'another order', or the chain's own event."""
    if event in RETURN_LABEL:
        return _t(f"ret_{event}")
    return _t("ret_event", event=event)


def channel_name(channel: str) -> str:
    """An acquisition channel's display name ('others' = the pooled small channels)."""
    return _t("others") if channel == OTHERS else i18n.name("channel", channel)


def table_name(table: str) -> str:
    return i18n.name("table", table)


def _ci(low, high, fmt=nv.pp, level: float = 0.95) -> str:
    return nv.ci(low, high, fmt, level)


# --------------------------------------------------------------------------- sections: numbers or the reason


def headline_section(con, p: Period, rp: RetentionParams, has_events: bool = True) -> Section:
    """The month's new users and first-week numbers (a Headline), or why there are none."""
    if needs_events(rp.return_event) and not has_events:
        return _needs(_t("need_events", ret=return_words(rp.return_event), table=table_name("events")))
    h = headline(con, p, rp, has_events)
    if h.new_users == 0:
        return _needs(_t("no_new_users", month=i18n.month(p)))
    return _ok(h)


def headline_text(h: Headline, p: Period, rp: RetentionParams) -> str:
    """The headline findings as markdown; a number that cannot be measured says what it needs."""
    k, n, as_of = rp.max_day, rp.second_order_days, p.as_of

    def vs(curr: float, prev: float) -> str:  # no clause at all when last month has nothing to compare
        return "" if _missing(prev) else _t("vs", compare=nv.compare(curr, prev, i18n.month(p.prev)))

    change = ""
    if h.new_users_prev:
        change = _t("new_users_change", diff=f"{h.new_users - h.new_users_prev:+,}", prev=i18n.month(p.prev))
    lines = [_t("new_users", n=nv.num(h.new_users), month=i18n.month(p), change=change), ""]
    ret, alt = return_words(h.return_event), return_words(h.other_event)
    if _missing(h.d1):
        lines.append(_t("d1_none", as_of=as_of))
    else:
        lines.append(_t("d1", rate=nv.pct(h.d1), vs=vs(h.d1, h.d1_prev), ret=ret))
        if not _missing(h.d1_other):
            lines.append(_t("d1_other", alt=alt, rate=nv.pct(h.d1_other)))
        elif needs_events(h.other_event):
            lines.append(_t("d1_other_missing", alt=alt, table=table_name("events")))
    if _missing(h.cum_d7):
        lines.append(_t("cum_none", k=k, as_of=as_of))
    else:
        vs_cum = vs(h.cum_d7, h.cum_d7_prev)
        lines.append(
            _t("cum", k=k, rate=nv.pct(h.cum_d7), vs=vs_cum, ret=ret, eligible=nv.num(h.cum_d7_eligible))
        )
    if _missing(h.second_within):
        lines.append(_t("second_none", n=n, as_of=as_of))
    else:
        vs_second = vs(h.second_within, h.second_within_prev)
        lines.append(_t("second", n=n, k=k, rate=nv.pct(h.second_within), vs=vs_second))
    return "\n".join(lines)


def monthly_section(con, p: Period, rp: RetentionParams, months: int = 6) -> Section:
    """Monthly cohorts' D1..Dk (:func:`monthly_headline`); needs one cohort observed for k days."""
    monthly = monthly_headline(con, p, rp, months=months)
    k = rp.max_day
    if not (monthly[monthly.day_k == k].is_mature & monthly.cum_retention.notna()).any():
        first, last = i18n.month(p.shift(-(months - 1))), i18n.month(p)
        return _needs(_t("no_monthly", first=first, last=last, k=k, as_of=p.as_of))
    return _ok(monthly)


def best_month(monthly: pd.DataFrame, k: int) -> pd.Series:
    """The complete, mature monthly cohort with the highest cumulative Dk (the report month's if
    no earlier month is complete: the data's first month may be partial)."""
    m = monthly[(monthly.day_k == k) & monthly.is_mature].dropna(subset=["cum_retention"])
    if m.is_complete.any():
        m = m[m.is_complete]
    return m.sort_values(["cum_retention", "cohort_start"]).iloc[-1]


def cohort_grid_section(cohorts: pd.DataFrame, what: str, p: Period) -> Section:
    """A cohort triangle (``what``: 'daily' or 'weekly' cohorts) if a cell is observable, else the reason."""
    if not (cohorts.is_mature & (cohorts.cohort_users > 0)).any():
        return _needs(_t("no_grid", what=_t(f"grid_{what}"), as_of=p.as_of))
    return _ok(cohorts)


def daily_finding(daily: pd.DataFrame, rp: RetentionParams) -> str:
    """'D1 ranged from a to b across the last N daily cohorts' (or the one value there is)."""
    d1 = daily[(daily.day_k == 1) & daily.is_mature].retention.dropna()
    if len(d1) < 2:
        return _t("daily_one", rate=nv.pct(d1.iloc[0]))
    return _t("daily_range", low=nv.pct(d1.min()), high=nv.pct(d1.max()), n=rp.daily_cohort_days)


MIN_TREND_WEEKS = 4


def weekly_trend(weekly: pd.DataFrame, k: int, level: float = 0.95) -> dict | None:
    """Least-squares slope of cumulative Dk per week over the complete weeks observed k days.

    Partial weeks (the data's first, the month's last) and weeks not yet observed for k days are
    left out. Returns {slope, ci_low, ci_high, p_value, weeks} (slope in share points per week),
    or None with fewer than MIN_TREND_WEEKS such weeks.
    """
    from scipy import stats as sps

    done = weekly[(weekly.day_k == k) & weekly.is_mature & weekly.is_complete]
    done = done.dropna(subset=["cum_retention"]).sort_values("cohort_start")
    if len(done) < MIN_TREND_WEEKS:
        return None
    x = (pd.to_datetime(done.cohort_start) - pd.to_datetime(done.cohort_start).min()).dt.days / 7
    fit = sps.linregress(x.to_numpy(float), done.cum_retention.to_numpy(float))
    half = sps.t.ppf(0.5 + level / 2, len(done) - 2) * fit.stderr
    return {
        "slope": fit.slope,
        "ci_low": fit.slope - half,
        "ci_high": fit.slope + half,
        "p_value": fit.pvalue,
        "weeks": len(done),
    }


def weekly_finding(weekly: pd.DataFrame, k: int, level: float = 0.95) -> str:
    """The weekly trend of cumulative Dk from a fit over complete weeks (or what it needs)."""
    t = weekly_trend(weekly, k, level)
    if t is None:
        n = int((weekly[weekly.day_k == k].pipe(lambda d: d.is_mature & d.is_complete)).sum())
        return _t("trend_needs", k=k, need=MIN_TREND_WEEKS, n=n)
    ci = _ci(t["ci_low"], t["ci_high"], level=level)
    if t["ci_low"] <= 0 <= t["ci_high"]:
        return _t("trend_flat", k=k, weeks=t["weeks"], ci=ci)
    return _t("trend_moves", k=k, slope=nv.pp(t["slope"]), weeks=t["weeks"], ci=ci)


def channel_section(con, p: Period, rp: RetentionParams) -> Section:
    """:func:`channel_summary` restricted to channels with users observed for k days, or the reason."""
    ch = channel_summary(con, p, rp)
    ch = ch[ch.cum_d7_eligible > 0].reset_index(drop=True)
    if ch.empty:
        return _needs(_t("no_channels", k=rp.max_day, as_of=p.as_of))
    return _ok(ch)


def overall_cum_dk(ch: pd.DataFrame) -> float:
    """Cumulative Dk of all channels pooled (the reference line)."""
    return float(ch.cum_d7_retained.sum() / ch.cum_d7_eligible.sum())


def channel_finding(ch: pd.DataFrame, k: int) -> str:
    """Best and worst channel, or, with one channel, its rate and what a comparison needs."""
    top, bottom = ch.iloc[0], ch.iloc[-1]
    if len(ch) == 1:
        return _t("channel_one", channel=channel_name(top.channel), rate=nv.pct(top.cum_d7), k=k)
    return _t(
        "channel_best",
        top=channel_name(top.channel),
        top_rate=nv.pct(top.cum_d7),
        bottom=channel_name(bottom.channel),
        bottom_rate=nv.pct(bottom.cum_d7),
    )


def km_section(con, start: dt.date, p: Period, rp: RetentionParams) -> Section:
    """Kaplan-Meier curves (:func:`time_to_second`) or the reason when there are no new users."""
    curves = time_to_second(con, start, p.end, p, rp)
    if "all" not in curves:
        return _needs(_t("no_km", start=start, as_of=p.as_of))
    return _ok(curves)


def km_finding(curve: pd.DataFrame, rp: RetentionParams) -> str:
    """'An estimated a% of new users order again by day k, b% by day 30' (the shares the data shows)."""
    n, h = rp.max_day, rp.km_horizon_days
    s_n, s_h = share_by_day(curve, n), share_by_day(curve, h)
    if _missing(s_n):
        return _t("km_needs", n=n)
    if _missing(s_h):
        return _t("km_partial", s_n=nv.pct(s_n), n=n, h=h)
    return _t("km_both", s_n=nv.pct(s_n), n=n, s_h=nv.pct(s_h), h=h)


def coupon_pack_section(con, p: Period, dp: DataParams, has_coupons: bool) -> Section:
    """Redemption per new-user pack kind (:func:`coupon_pack`), kinds with closed coupons only."""
    if not has_coupons:
        return _needs(_t("no_table", table=table_name("coupons")))
    pack = coupon_pack(con, p, dp)
    if pack.empty:
        kinds = i18n.t("common.list_sep").join(i18n.name("coupon_kind", k) for k in dp.new_user_coupon_kinds)
        return _needs(_t("no_pack", month=i18n.month(p), kinds=kinds))
    pack = pack[pack.n_closed > 0].reset_index(drop=True)
    if pack.empty:
        return _needs(_t("no_closed", as_of=p.as_of, month=i18n.month(p)))
    return _ok(pack)


def reminder_absence_reason(con, start: dt.date, end: dt.date, as_of: dt.date, hours: int) -> str:
    """Why the expiry reminder has no measured effect, in one sentence of the report language.

    The cases of :func:`userops.campaigns.reminder_absence` (the same coverage query): no campaign
    of the kind in [start, end); no member whose window closed by ``as_of``; an arm missing.
    """
    n_campaigns, n_closed, n_holdout, n_treatment = reminder_coverage(
        con, REMINDER_CAMPAIGN_KIND, start, end, as_of, hours
    )
    if not n_campaigns:
        return _t("no_reminder_campaign")
    if not n_closed:
        return _t("no_reminder_closed", hours=hours, as_of=as_of)
    return _t("no_reminder_holdout" if not n_holdout else "no_reminder_treatment")


def reminder_section(
    con,
    start: dt.date,
    end: dt.date,
    p: Period,
    rp: RetentionParams,
    dp,
    present,
    exp: ExperimentParams | None = None,
) -> Section:
    """The expiry reminder's effect (:func:`reminder_effect`) or the reason it cannot be measured."""
    need = [t for t in ("campaigns", "campaign_members", "coupons") if t not in present]
    if need:
        tables = i18n.t("common.list_sep").join(f"「{table_name(t)}」" for t in need)
        if i18n.language() != "zh":
            tables = ", ".join(table_name(t) for t in need)
        return _needs(_t("no_reminder_tables", tables=tables))
    eff = reminder_effect(con, start, end, p, rp, dp, exp)
    if eff is None:
        return _needs(reminder_absence_reason(con, start, end, p.as_of, rp.reminder_hours))
    return _ok(eff)


def _ci_clause(ci: tuple, fmt, template: str = "{ci}") -> str:
    """'95% CI a–b' placed in ``template``, or '' when an end is missing (every draw lost an arm)."""
    if any(x is None or not np.isfinite(x) for x in ci):
        return ""
    return template.format(ci=nv.ci(ci[0], ci[1], fmt))


def _roi(x: float) -> str:
    return nv.num(x, 1)


def reminder_text(eff: ReminderEffect, rp: RetentionParams) -> str:
    """The expiry reminder's finding as markdown: the two arms' rates, the pooled lift (saying which
    is which), then the money figures, each with its basis."""
    e, sep = eff.effect, _t("ci_sep")
    sig = nv.significance(e.p_value, e.level)
    ci = nv.ci(e.ci_low, e.ci_high, nv.pp, e.level)
    out = [
        _t(
            "rates",
            rate_t=nv.pct(e.rate_treatment),
            rate_h=nv.pct(e.rate_holdout),
            n_t=nv.num(e.n_treatment),
            n_h=nv.num(e.n_holdout),
        )
    ]
    if e.n_strata > 1:
        out.append(_t("lift_pooled", strata=e.n_strata, diff=nv.pp(e.diff), ci=ci, sig=sig))
    else:
        out.append(_t("lift_one", diff=nv.pp(e.diff), ci=ci, sig=sig))
    if e.contaminated_holdout_rows:
        out.append(_t("dropped", n=nv.num(e.contaminated_holdout_rows)))
    paren = "（{ci}）" if i18n.language() == "zh" else " ({ci})"
    out.append(
        _t(
            "money_window",
            hours=rp.reminder_hours,
            redemptions=nv.num(eff.incremental_redemptions),
            orders=nv.num(eff.incremental_orders),
            orders_ci=_ci_clause(eff.incremental_orders_ci, nv.num, paren),
            margin=nv.yuan(eff.incremental_margin),
            margin_ci=_ci_clause(eff.incremental_margin_ci, nv.yuan, "{ci}" + sep),
            basis=nv.margin_basis(eff.margin_basis),
        )
    )
    if eff.roi is None:
        out.append(_t("money_cost_none", n=nv.num(e.n_treatment)))
    else:
        roi_ci = _ci_clause(eff.roi_ci, _roi, "{ci}" + sep)
        out.append(
            _t(
                "money_cost",
                n=nv.num(e.n_treatment),
                cost=nv.yuan(eff.cost_yuan, 2),
                roi=_roi(eff.roi),
                roi_ci=roi_ci,
            )
        )
    if e.rate_holdout > 0 and np.isfinite(eff.mean_discount):
        out.append(
            _t(
                "money_anyway",
                anyway=nv.num(eff.expected_anyway_redemptions),
                discount=nv.yuan(eff.anyway_discount),
                mean=nv.yuan(eff.mean_discount, 2),
                extra=nv.yuan(eff.discount_without_extra_order),
            )
        )
    else:
        out.append(_t("money_no_anyway"))
    return ("" if i18n.language() == "zh" else " ").join(out)


def expiring_text(due: pd.DataFrame, p: Period, rp: RetentionParams) -> str:
    """Who to remind now, as markdown (or that nobody's new-user coupon expires right after the month)."""
    h = rp.reminder_hours
    if due.empty:
        return _t("due_none", hours=h, as_of=p.as_of)
    n_users = due.user_id.nunique()
    n_hold = due[due.arm == "holdout"].user_id.nunique()
    return _t(
        "due",
        users=nv.num(n_users),
        coupons=nv.num(len(due)),
        face=nv.yuan(due.face_value.sum()),
        hours=h,
        as_of=p.as_of,
        treated=nv.num(n_users - n_hold),
        held=nv.num(n_hold),
        share=nv.pct(rp.reminder_holdout_share, 0),
        list=i18n.name("target", "expiring_coupons"),
    )


def reminder_action(eff: ReminderEffect) -> str:
    """Keep, measure, rethink or keep testing the expiry reminder: ``money.verdict`` on its lift
    and its ROI-on-margin interval (the rule every play uses)."""
    e = eff.effect
    ci = nv.ci(e.ci_low, e.ci_high, nv.pp, e.level)
    common = {"lift": nv.pp(e.diff), "ci": ci, "basis": nv.margin_basis(eff.margin_basis)}
    common |= {"margin": nv.yuan(eff.incremental_margin), "cost": nv.yuan(eff.cost_yuan, 2)}
    lo, hi = eff.roi_ci
    known = all(x is not None and np.isfinite(x) for x in (lo, hi))
    roi_ci = _t("roi_ci", ci=nv.ci(lo, hi, _roi)) if known else ""
    v = money.verdict(bool(e.significant and e.diff > 0), eff.roi, eff.roi_ci)
    if v == money.TEST:
        return _t("action_test", lift=common["lift"], ci=ci)
    if v == money.RETHINK:
        return _t("action_rethink", roi=_roi(eff.roi), roi_ci=roi_ci, **common)
    if v == money.KEEP:
        roi = _t("roi", roi=_roi(eff.roi)) + roi_ci if eff.roi is not None else ""
        return _t("action_keep", orders=nv.num(eff.incremental_orders), roi=roi, **common)
    return _t("action_measure", roi=_roi(eff.roi), roi_ci=roi_ci, **common)


def actions(
    eff: Section, due: pd.DataFrame | None, ch: Section, pack: Section, rp: RetentionParams
) -> list[str]:
    """The play's actions (markdown, report language), each built only on numbers its section could measure."""
    out, k = [], rp.max_day
    if eff.ok:
        out.append(reminder_action(eff.value))
    if due is not None and (due.arm == "treatment").any():
        out.append(_t("action_remind", users=nv.num(due[due.arm == "treatment"].user_id.nunique())))
    if ch.ok and len(ch.value) > 1 and (~ch.value.flag_small).any():
        low = ch.value[~ch.value.flag_small].iloc[-1]
        overall = overall_cum_dk(ch.value)
        if low.cum_d7 < overall:
            out.append(
                _t(
                    "action_fix_channel",
                    channel=channel_name(low.channel)
                    if low.channel == OTHERS
                    else i18n.name_in_text("channel", low.channel),
                    cum=nv.pct(low.cum_d7),
                    k=k,
                    overall=nv.pct(overall),
                )
            )
    sized = pack.value[pack.value.n_closed >= rp.min_cohort_users] if pack.ok else pd.DataFrame()
    if len(sized) > 1:  # a kind with too few closed coupons says nothing about its design
        w = sized.sort_values(["redemption_rate", "kind"]).iloc[0]
        out.append(
            _t(
                "action_rework",
                kind=i18n.name_in_text("coupon_kind", w.kind),
                face=nv.yuan(w.face_value),
                min_spend=nv.yuan(w.min_spend),
                rate=nv.pct(w.redemption_rate),
            )
        )
    return out


def actions_text(items: list[str]) -> str:
    """Numbered actions as markdown, or one sentence when the data supports none this month."""
    if not items:
        return _t("no_action")
    return "\n".join(f"{i}. {a}" for i, a in enumerate(items, 1))
