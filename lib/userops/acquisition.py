"""Play 1: acquisition (拉新). SQL in sql/acquisition/, statistics and the LTV model added here.

Each function takes an open warehouse connection, the report Period and the acquisition
params (plus the offline channel list where needed) and returns a small DataFrame ready to
plot or print. Money is yuan; rates are fractions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from userops import clv, i18n, money
from userops import narrative as nv
from userops.charts import fmt_pct
from userops.db import query
from userops.params import AcquisitionParams
from userops.period import Period
from userops.stats import proportion_ci


def _z(level: float) -> float:
    return float(norm.ppf(1 - (1 - level) / 2))


def _window(p: Period, months: int) -> tuple[dt.date, dt.date]:
    """The trailing `months` months ending with the report month: (first day, end exclusive)."""
    return p.shift(-(months - 1)).start, p.end


def _label(p: Period, months: int) -> str:
    """Period label of the trailing `months` months, e.g. '2026-08..2026-10'."""
    return f"{p.shift(-(months - 1)).month}..{p.month}"


def _t(key: str, **fields) -> str:
    """Play 01's text ``key`` in the report language (lib/userops/i18n/<lang>/acquisition.yaml)."""
    return i18n.t(f"acquisition.{key}", **fields)


def _ch(channel) -> str:
    """A channel's display name in the report language; 'all' reads "all channels"."""
    return _t("all_channels") if str(channel) == "all" else i18n.name("channel", channel)


def _span(p: Period, months: int) -> str:
    """The trailing `months` months as the reader sees them: '2026-08 to 2026-10' (one month: '2026-10')."""
    first = p.shift(-(months - 1)).month
    return p.month if first == p.month else _t("span", start=first, end=p.month)


def _rate_ci(df: pd.DataFrame, x: str, n: str, name: str, level: float) -> pd.DataFrame:
    """Add `name` = x / n (NaN when n = 0) and its Wilson interval `name_low` / `name_high`."""
    out = df.copy()
    out[name] = out[x] / out[n].where(out[n] > 0)
    cis = [proportion_ci(int(a), int(b), level) for a, b in zip(out[x], out[n], strict=True)]
    out[f"{name}_low"] = [c[0] for c in cis]
    out[f"{name}_high"] = [c[1] for c in cis]
    return out


@dataclass(frozen=True)
class Result:
    """A section's numbers, or the one plain sentence saying what it needs and that the data lacks.

    ``table`` is None exactly when ``reason`` is set; ``notes`` are sentences about parts of a
    computed section that could not be computed (e.g. a channel without spend rows).
    """

    table: pd.DataFrame | None
    reason: str = ""
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.table is not None and not self.reason


def _needs(reason: str) -> Result:
    return Result(None, reason)


def _names(items) -> str:
    """'a', 'a and b', 'a, b and c' ('a、b和c') in the report language."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return i18n.t("common.list_sep").join(items[:-1]) + _t("and") + items[-1]


def data_start(con) -> dt.date | None:
    """The first day of the data: the earliest order day or registration day (None without users)."""
    return con.execute(
        "select least((select min(order_date) from fct_orders), "
        "(select cast(min(registered_at) as date) from dim_users))"
    ).fetchone()[0]


# --------------------------------------------------------------------------- volume


def volume(con, p: Period, ap: AcquisitionParams, offline_channels: list[str]) -> pd.DataFrame:
    """Registrations, new users (first order) and N-day conversion counts per month x channel.

    The trailing `volume_months` months, from the first month of the data at the earliest (so
    months before the export began are not drawn as zeros).
    """
    start, end = _window(p, ap.volume_months)
    first = data_start(con)
    if first is not None:
        start = max(start, first.replace(day=1))
    return query(
        "acquisition/channel_volume",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        short_days=ap.conversion_short_days,
        long_days=ap.conversion_long_days,
        offline_channels=list(offline_channels),
    )


def conversion(vol: pd.DataFrame, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """Registration -> first-order conversion per channel over the CAC window, plus an 'all' row.

    Columns: channel, is_offline, registrations, conv_short (+ Wilson CI), conv_long (+ CI),
    vs_all_short = conv_short - the all-channel rate (the "platform average").
    """
    start, _ = _window(p, ap.cac_months)
    cols = ["registrations", "eligible_short", "converted_short", "eligible_long", "converted_long"]
    w = vol[vol.month >= pd.Timestamp(start)]
    g = w.groupby(["channel", "is_offline"], as_index=False)[cols].sum()
    total = pd.DataFrame([{"channel": "all", "is_offline": False, **g[cols].sum()}])
    out = pd.concat([g, total], ignore_index=True)
    out = _rate_ci(out, "converted_short", "eligible_short", "conv_short", ap.ci_level)
    out = _rate_ci(out, "converted_long", "eligible_long", "conv_long", ap.ci_level)
    all_short = float(out.loc[out.channel == "all", "conv_short"].iloc[0])
    out["vs_all_short"] = out["conv_short"] - all_short
    return out


def volume_findings(
    vol: pd.DataFrame, p: Period, offline_channels: list[str], start: dt.date | None
) -> tuple[str, str]:
    """(chart title, finding sentence) for the report month's registrations and new users.

    The previous-month comparison is made only when the data covers the previous month
    (`start` = first order day); the offline share only when an offline channel is present.
    """
    now = vol[vol.month == pd.Timestamp(p.start)]
    prev = vol[vol.month == pd.Timestamp(p.prev.start)]
    n_new, n_reg = int(now.new_users.sum()), int(now.registrations.sum())
    channels = sorted(vol.channel.unique())
    month = i18n.month(p)
    if n_new == 0:
        title = _t("volume.title_none", month=month, reg=nv.num(n_reg))
    elif len(channels) == 1:
        title = _t("volume.title_one", n=nv.num(n_new), month=month, channel=_ch(channels[0]))
    else:
        top = now.sort_values(["new_users", "channel"], ascending=[False, True]).iloc[0]
        title = _t(
            "volume.title",
            n=nv.num(n_new),
            month=month,
            channel=_ch(top.channel),
            share=nv.pct(top.new_users / n_new),
        )
    if start is None or pd.Timestamp(p.prev.start) < pd.Timestamp(start).to_period("M").start_time:
        first = p if start is None else Period(pd.Timestamp(start).strftime("%Y-%m"))
        vs = _t("volume.vs_no_data", first=i18n.month(first))
    elif n_new == 0 and prev.new_users.sum() == 0:
        vs = _t("volume.vs_none_either", prev=i18n.month_short(p.prev))
    else:
        vs = _t("volume.vs", diff=f"{n_new - int(prev.new_users.sum()):+,}", prev=i18n.month_short(p.prev))
    text = _t("volume.text", reg=nv.num(n_reg), n=nv.num(n_new), month=month, vs=vs)
    present = [c for c in offline_channels if c in channels]
    if not present:
        named = _names(i18n.name_in_text("channel", c) for c in offline_channels) or i18n.t("common.none")
        text += _t("volume.no_offline", channels=named)
    elif n_new:
        share = int(now[now.is_offline].new_users.sum()) / n_new
        text += _t(
            "volume.offline_share",
            share=nv.pct(share),
            channels=_names(i18n.name_in_text("channel", c) for c in present),
        )
    else:
        text += _t("end")
    return title, text


def volume_reason(vol: pd.DataFrame, p: Period, ap: AcquisitionParams) -> str:
    """Why the volume trend cannot be drawn ('' when it can)."""
    if vol.new_users.sum() == 0 and vol.registrations.sum() == 0:
        return _t("volume.why", span=_span(p, ap.volume_months))
    return ""


def conversion_reason(conv: pd.DataFrame, p: Period, ap: AcquisitionParams) -> str:
    """Why registration -> first-order conversion cannot be shown ('' when it can)."""
    allc = conv[conv.channel == "all"].iloc[0]
    if allc.registrations == 0:
        return _t("conversion.why_none", span=_span(p, ap.cac_months))
    if allc.eligible_short == 0:
        return _t(
            "conversion.why_young", days=ap.conversion_short_days, span=_span(p, ap.cac_months), as_of=p.as_of
        )
    return ""


def online_offline(vol: pd.DataFrame) -> pd.DataFrame:
    """Registrations and new users per month, online vs offline (one row per month x side)."""
    v = vol.assign(side=np.where(vol.is_offline, "offline", "online"))
    return v.groupby(["month", "side"], as_index=False)[["registrations", "new_users"]].sum()


# --------------------------------------------------------------------------- CAC


def cac(con, p: Period, ap: AcquisitionParams, new_user_kinds: list[str]) -> pd.DataFrame:
    """The one CAC (money.Cac) per channel over the trailing `cac_months`, with its parts.

    CAC = (channel spend + referral commissions + acquisition (new-user pack) coupons redeemed)
    / new users. `new_user_kinds`: the coupon kinds of the new-user pack (params
    data.new_user_coupon_kinds). A channel without any channel_spend row in the window
    (`has_spend` False) has an unknown spend: its CAC is NaN, never the commissions alone. Adds an
    'all' row summed over the channels with spend rows.
    """
    start, end = _window(p, ap.cac_months)
    df = query(
        "acquisition/cac",
        con,
        from_date=start,
        to_date=end,
        commission_group_leader=ap.commission_group_leader,
        commission_store_promoter=ap.commission_store_promoter,
        new_user_kinds=list(new_user_kinds),
    )
    sums = [
        "registrations",
        "new_users",
        "valid_referred",
        "spend_yuan",
        "commission_yuan",
        "pack_cost_yuan",
        "pack_coupons_redeemed",
        "cost_yuan",
    ]
    known = df[df.has_spend]
    total = pd.DataFrame([{"channel": "all", "has_spend": bool(len(known)), **known[sums].sum()}])
    out = pd.concat([df, total], ignore_index=True)
    # one definition: money.Cac (a handful of channel rows, not a loop over users)
    values = [cac_of(r).value for r in out.itertuples()]
    out["cac_yuan"] = [
        v if v is not None and h else np.nan for v, h in zip(values, out.has_spend, strict=True)
    ]
    users = out["new_users"].where((out["new_users"] > 0) & out["has_spend"])
    regs = out["registrations"].where((out["registrations"] > 0) & out["has_spend"])
    out["spend_per_registration_yuan"] = out["spend_yuan"] / regs
    for c in ["spend", "commission", "pack_cost"]:
        out[f"{c}_per_user_yuan"] = out[f"{c}_yuan"] / users
    return out


def cac_of(row) -> money.Cac:
    """The money.Cac of one row of `cac` (its parts and new users)."""
    return money.Cac(
        spend=float(row.spend_yuan),
        commissions=float(row.commission_yuan),
        coupons_redeemed=float(row.pack_cost_yuan),
        new_customers=int(row.new_users),
    )


def cac_reason(cost: pd.DataFrame, p: Period, ap: AcquisitionParams, has_spend_table: bool) -> str:
    """Why no CAC can be computed ('' when it can): CAC needs channel spend and new users."""
    span = _span(p, ap.cac_months)
    if not has_spend_table:
        return _t("cac.why_table", table=i18n.name("table", "channel_spend"))
    if not cost.has_spend.any():
        return _t("cac.why_rows", table=i18n.name("table", "channel_spend"), span=span)
    if cost[cost.channel != "all"].cac_yuan.isna().all():
        return _t("cac.why_users", span=span)
    return ""


def cac_notes(cost: pd.DataFrame) -> tuple[str, ...]:
    """Sentences about channels whose CAC is unknown although they brought new users."""
    miss = cost[(cost.channel != "all") & ~cost.has_spend & (cost.new_users > 0)]
    if miss.empty:
        return ()
    key = "cac.note_one" if len(miss) == 1 else "cac.note_many"
    return (
        _t(
            key,
            table=i18n.name("table", "channel_spend"),
            channels=_names(_ch(c) for c in miss.channel),
            n=nv.num(miss.new_users.sum()),
        ),
    )


# --------------------------------------------------------------------------- quality


def quality(con, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """Channel quality of the trailing `quality_months` first-order cohorts.

    Per channel: D-short and D-long cumulative retention (Wilson CIs), share with a 2nd order,
    orders and GMV per user in the first `value_days` days (normal CI on GMV per user), each on
    the users observed for its whole window; `quality_rank` 1 = best D-long retention;
    `flag_small` = fewer than `min_cohort_users` users observed for D-long. Sorted best first.
    """
    start, end = _window(p, ap.quality_months)
    df = query(
        "acquisition/channel_quality",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        short_days=ap.retention_short_days,
        long_days=ap.retention_long_days,
        value_days=ap.value_days,
    )
    df = df[df.new_users > 0]
    df = _rate_ci(df, "retained_short", "eligible_short", "d_short", ap.ci_level)
    df = _rate_ci(df, "retained_long", "eligible_long", "d_long", ap.ci_level)
    df = _rate_ci(df, "second_order_users", "eligible_value", "second_order", ap.ci_level)
    n = df["eligible_value"].where(df["eligible_value"] > 0)
    df["orders_per_user"] = df["orders_value"] / n
    df["gmv_per_user"] = df["gmv_value"] / n
    var = (df["gmv_value_sq"] / n - df["gmv_per_user"] ** 2) * n / (n - 1).where(n > 1)
    half = _z(ap.ci_level) * np.sqrt(var / n)
    df["gmv_per_user_low"] = df["gmv_per_user"] - half
    df["gmv_per_user_high"] = df["gmv_per_user"] + half
    df["flag_small"] = df["eligible_long"] < ap.min_cohort_users
    df = df.sort_values(["d_long", "channel"], ascending=[False, True]).reset_index(drop=True)
    df["quality_rank"] = np.arange(1, len(df) + 1)
    df["volume_rank"] = df["new_users"].rank(ascending=False, method="min").astype(int)
    return df


def quality_reason(qual: pd.DataFrame, p: Period, ap: AcquisitionParams) -> str:
    """Why channel quality cannot be shown ('' when it can)."""
    span = _span(p, ap.quality_months)
    if qual.new_users.sum() == 0:
        return _t("quality.why_none", span=span)
    if qual.eligible_long.sum() == 0:
        return _t("quality.why_young", days=ap.retention_long_days, span=span, as_of=p.as_of)
    return ""


def quality_findings(qual: pd.DataFrame, p: Period, ap: AcquisitionParams) -> tuple[str, str]:
    """(chart title, finding sentences) of channel quality, on channels with D-long observed users.

    One rated channel: its own numbers and the plain statement that a comparison needs two.
    """
    L, V = ap.retention_long_days, ap.value_days
    r = qual[qual.eligible_long > 0]
    best, worst = r.iloc[0], r.iloc[-1]

    def value(row) -> str:
        g = row.gmv_per_user
        return "" if pd.isna(g) else _t("quality.value", gmv=nv.yuan(g), days=V)

    def d(row) -> str:
        return _t("rate_ci", rate=nv.pct(row.d_long), ci=nv.ci(row.d_long_low, row.d_long_high))

    if len(r) == 1:
        title = _t("quality.title_one", channel=_ch(best.channel), days=L, rate=nv.pct(best.d_long))
        text = _t("quality.text_one", channel=_ch(best.channel), days=L, rate=d(best), value=value(best))
        return title, text
    others = r.iloc[:-1]
    gap = int((worst.d_long_high < others.d_long_low).sum())
    title = _t(
        "quality.title",
        channel=_ch(worst.channel),
        rank=int(worst.volume_rank),
        days=L,
        rate=nv.pct(worst.d_long),
    )
    text = _t(
        "quality.text",
        best=_ch(best.channel),
        best_rate=d(best),
        days=L,
        value=value(best),
        worst=_ch(worst.channel),
        rank=int(worst.volume_rank),
        n=nv.num(worst.new_users),
        worst_rate=d(worst),
    )
    if gap:
        text += _t("quality.below", gap=gap, others=len(others))
    else:
        text += _t("quality.overlaps")
    if pd.notna(worst.gmv_per_user) and pd.notna(best.gmv_per_user) and best.gmv_per_user > 0:
        text += _t(
            "quality.spend",
            gmv=nv.yuan(worst.gmv_per_user),
            days=V,
            share=nv.pct(worst.gmv_per_user / best.gmv_per_user),
            best=_ch(best.channel),
        )
    text += _t("quality.association")
    if r.eligible_value.sum() == 0:
        text += _t("quality.value_young", days=V, span=_span(p, ap.quality_months))
    return title, text


# --------------------------------------------------------------------------- observed LTV


def ltv_cohorts(con, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """Cohort month x channel x month k cumulative GMV / margin (sql/acquisition/ltv_curve.sql)."""
    start, end = _window(p, ap.ltv_horizon_months)
    return query(
        "acquisition/ltv_curve",
        con,
        from_date=start,
        to_date=end,
        months=ap.ltv_horizon_months,
        as_of=p.as_of,
    )


def ltv_curves(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Per channel x month k: cumulative GMV and margin per acquired user, by chain-ladder.

    The month-k increment per user = the month-k GMV (margin) of the cohorts that have completed
    month k / their users (users-weighted); the curve at k = the sum of the increments of months
    0..k. Each increment uses every cohort that reached it, and the curve never decreases when
    the increments are not negative (paid GMV), whichever cohorts reach how far: pooling cumulative
    values of a different set of cohorts at each k would let an older, weaker cohort pull a later
    point below an earlier one. `n_cohorts` = cohorts behind month k's increment (0 = not shown
    yet), `users` = their users; `margin_per_user` is NaN from the first month whose increment
    pools a cohort without margin data.
    """
    m = cohorts[cohorts.is_mature & (cohorts.cohort_users > 0)].copy()
    m["margin_known"] = m["margin_k"].notna()
    g = m.groupby(["channel", "month_k"]).agg(
        users=("cohort_users", "sum"),
        gmv=("gmv_k", "sum"),
        margin=("margin_k", "sum"),
        n_cohorts=("cohort_month", "nunique"),
        margin_known=("margin_known", "all"),
    )
    spine = pd.MultiIndex.from_product(
        [sorted(cohorts.channel.unique()), sorted(cohorts.month_k.unique())], names=["channel", "month_k"]
    )
    g = g.reindex(spine).reset_index()
    g["n_cohorts"] = g["n_cohorts"].fillna(0).astype(int)
    g["users"] = g["users"].fillna(0).astype(int)
    per_user = g["users"].where(g["users"] > 0)
    g["gmv_increment"] = g["gmv"] / per_user
    known = g["margin_known"].eq(True)  # NaN after the reindex (nothing pooled) -> False
    g["margin_increment"] = (g["margin"] / per_user).where(known)
    by = g.groupby("channel")
    g["gmv_per_user"] = by["gmv_increment"].cumsum().where(g["n_cohorts"] > 0)
    known_so_far = g["margin_increment"].notna().astype(int).groupby(g["channel"]).cummin().astype(bool)
    g["margin_per_user"] = by["margin_increment"].cumsum().where(known_so_far)
    cols = ["channel", "month_k", "users", "n_cohorts", "gmv_increment", "gmv_per_user", "margin_per_user"]
    return g[cols]


def ltv_compare(curves: pd.DataFrame, min_cohorts: int = 3) -> tuple[int, pd.Series, int] | str:
    """The month k to compare channels at, the GMV per user there (ascending) and the cohorts behind it.

    k = the latest month every channel with a curve has reached with at least `min_cohorts` mature
    cohorts (fewer when the data is young: the most any k has). Returns the reason instead when no
    first-order month has ended yet.
    """
    shown = curves[curves.n_cohorts > 0]
    if shown.empty:
        return _t("ltv_curve.why_none")
    need = min(min_cohorts, int(shown.n_cohorts.max()))
    k = int(shown[shown.n_cohorts >= need].groupby("channel").month_k.max().min())
    at = curves[(curves.month_k == k) & (curves.n_cohorts >= need)].set_index("channel").gmv_per_user
    return k, at.dropna().sort_values(), need


def ltv_curve_reason(curves: pd.DataFrame) -> str:
    """Why no LTV curve can be drawn ('' when a cohort has completed a month after its first)."""
    if curves[curves.n_cohorts > 0].month_k.max() > 0:
        return ""
    return _t("ltv_curve.why_month0")


# --------------------------------------------------------------------------- predicted LTV (BG/NBD + GG)


def rfm(
    con,
    from_date: dt.date,
    to_date: dt.date,
    cal_end: dt.date,
    holdout_end: dt.date,
    horizon_days: int,
    new_user_kinds: list[str] | None = None,
    assumed_margin_rate: float | None = None,
):
    """Per-customer model input (sql/acquisition/rfm_summary.sql).

    `new_user_kinds` (pack discounts in the horizon) and `assumed_margin_rate` (margin of orders
    without a cost of goods; None leaves their margin unknown) matter only for the LTV columns.
    """
    return query(
        "acquisition/rfm_summary",
        con,
        from_date=from_date,
        to_date=to_date,
        cal_end=cal_end,
        holdout_end=holdout_end,
        horizon_days=horizon_days,
        new_user_kinds=list(new_user_kinds or []),
        assumed_margin_rate=assumed_margin_rate,
    )


@dataclass(frozen=True)
class ChannelModel:
    channel: str
    bg: clv.BetaGeo
    gg: clv.GammaGamma | None  # None when too few repeat customers: population mean spend used
    pooled: bool = False  # True: the channel is too small for its own fit and uses all channels'


def _repeat_reason(df: pd.DataFrame, ap: AcquisitionParams, who: str) -> str:
    """Why a BG/NBD fit on these customers would not be a model ('' when it is); `who` is kept for
    the callers (the sentence names the customers by their counts)."""
    n, rep = len(df), int((df.frequency > 0).sum())
    if n == 0:
        return _t("model.why_none")
    if rep >= ap.ltv_min_repeaters and rep >= ap.ltv_min_repeat_share * n:
        return ""
    return _t(
        "model.why_repeat",
        min=ap.ltv_min_repeaters,
        min_share=nv.pct(ap.ltv_min_repeat_share, 0),
        rep=nv.num(rep),
        n=nv.num(n),
        share=nv.pct(rep / n if n else 0),
    )


def fit_channels(df: pd.DataFrame, ap: AcquisitionParams) -> dict[str, ChannelModel] | str:
    """One BG/NBD and one Gamma-Gamma fit per acquisition channel (maximum likelihood).

    A channel with fewer than `ltv_min_customers` customers or too few repeaters (`_repeat_reason`)
    uses the fit on all channels' customers (`pooled`). Returns the reason instead when even all
    customers together are too few repeaters, or the fit gives non-finite predictions.
    """
    why = _repeat_reason(df, ap, "here")
    if why:
        return why
    pooled_bg = clv.fit_bgnbd(df.frequency, df.recency, df["T"])
    rep_all = df[(df.frequency > 0) & (df.monetary > 0)]
    pooled_gg = clv.fit_gamma_gamma(rep_all.frequency, rep_all.monetary) if len(rep_all) >= 20 else None
    models = {}
    for ch, g in df.groupby("channel"):
        rep = g[(g.frequency > 0) & (g.monetary > 0)]
        if len(g) < ap.ltv_min_customers or _repeat_reason(g, ap, ""):
            models[str(ch)] = ChannelModel(str(ch), pooled_bg, pooled_gg, pooled=True)
            continue
        bg = clv.fit_bgnbd(g.frequency, g.recency, g["T"])
        gg = clv.fit_gamma_gamma(rep.frequency, rep.monetary) if len(rep) >= 20 else pooled_gg
        models[str(ch)] = ChannelModel(str(ch), bg, gg)
    probe = [m.bg.expected_purchases(90, [0, 1], [0, 10], [30, 30]) for m in models.values()]
    if not np.isfinite(probe).all():
        return _t("model.why_converge")
    return models


def _spend(model: ChannelModel, g: pd.DataFrame, all_rep: pd.DataFrame) -> np.ndarray:
    """Expected spend per purchase day: Gamma-Gamma, else the mean repeat (or first) spend."""
    if model.gg is not None:
        return model.gg.expected_spend(g.frequency, g.monetary)
    rep = g[g.frequency > 0] if not model.pooled else all_rep
    mean = float(rep.monetary.mean()) if len(rep) else float(g.first_gmv.mean())
    return np.full(len(g), mean)


def _month_days(months: int) -> int:
    """Days in `months` months of the LTV horizon (365 / 12 a month, rounded)."""
    return round(months * 365 / 12)


def validated_horizon(first_order: dt.date | None, p: Period, ap: AcquisitionParams) -> int:
    """Months of LTV the data can check: the horizon `ltv_horizon_months` when a held-out period that
    long still leaves `ltv_min_calibration_days` of orders before it, else the most whole months that
    do (0: none). `first_order` = the first order day of the data."""
    if first_order is None:
        return 0
    room = (p.end - first_order).days - ap.ltv_min_calibration_days
    months = ap.ltv_horizon_months
    while months > 0 and _month_days(months) > room:
        months -= 1
    return months


def _holdout_notes(out: pd.DataFrame, ap: AcquisitionParams) -> tuple[str, ...]:
    """The note on the channels that use the model fitted on all channels (too small for their own)."""
    pooled = out[out.model == "all channels"].channel.tolist()
    fields = {"customers": ap.ltv_min_customers, "repeaters": ap.ltv_min_repeaters}
    if pooled and len(pooled) == len(out) - 1:
        return (_t("model.pooled_all", **fields),)
    if pooled:
        key = "model.pooled_one" if len(pooled) == 1 else "model.pooled_many"
        return (_t(key, channels=_names(_ch(c) for c in pooled), **fields),)
    return ()


def holdout_check(con, p: Period, ap: AcquisitionParams) -> Result:
    """Honest validation over what is reported: fit per channel on the orders before a held-out period
    as long as the LTV horizon (or the months `validated_horizon` allows), predict each customer's
    purchase days and GMV in the held-out days, compare.

    Customers: first order before the calibration end. Table: one row per channel plus 'all':
    customers, model ('own' or 'all channels'), predicted / actual purchase days and GMV,
    error = predicted / actual - 1 (NaN when nothing was bought). attrs: cal_end, holdout_days,
    horizon_months (the months checked, the LTV horizon reported) and full_horizon (the whole
    `ltv_horizon_months` checked). The reason instead when the data is too short to hold out even
    one month, the calibration data cannot support a model, or nobody bought in the held-out days.
    """
    first = con.execute("select min(order_date) from fct_orders").fetchone()[0]
    months = validated_horizon(first, p, ap)
    if months == 0:
        start = _t("holdout.no_orders") if first is None else _t("holdout.orders_start", first=first)
        return _needs(_t("holdout.why_short", days=ap.ltv_min_calibration_days, start=start))
    holdout_days = _month_days(months)
    cal_end = p.end - dt.timedelta(days=holdout_days)
    df = rfm(con, dt.date(1900, 1, 1), cal_end, cal_end, p.end, 366 * 50)
    if df.empty:
        return _needs(_t("holdout.why_no_customers", days=holdout_days, cal_end=cal_end))
    models = fit_channels(df, ap)
    if isinstance(models, str):
        return _needs(_t("holdout.why_model", days=holdout_days, cal_end=cal_end, why=models))
    if df.holdout_days.sum() == 0:
        return _needs(_t("holdout.why_no_purchases", cal_end=cal_end, as_of=p.as_of))
    all_rep = df[df.frequency > 0]
    rows = []
    for ch, g in df.groupby("channel"):
        m = models[str(ch)]
        pred_days = m.bg.expected_purchases(holdout_days, g.frequency, g.recency, g["T"])
        rows.append(
            {
                "channel": ch,
                "customers": len(g),
                "model": "all channels" if m.pooled else "own",
                "pred_days": float(pred_days.sum()),
                "actual_days": int(g.holdout_days.sum()),
                "pred_gmv": float((pred_days * _spend(m, g, all_rep)).sum()),
                "actual_gmv": float(g.holdout_gmv.sum()),
            }
        )
    out = pd.DataFrame(rows)
    total = pd.DataFrame([{"channel": "all", "model": "", **out.drop(columns=["channel", "model"]).sum()}])
    out = pd.concat([out, total], ignore_index=True)
    out["error_days"] = out["pred_days"] / out["actual_days"].where(out["actual_days"] > 0) - 1
    out["error_gmv"] = out["pred_gmv"] / out["actual_gmv"].where(out["actual_gmv"] > 0) - 1
    out.attrs.update(
        cal_end=cal_end,
        holdout_days=holdout_days,
        horizon_months=months,
        full_horizon=months == ap.ltv_horizon_months,
    )
    return Result(out, notes=_holdout_notes(out, ap))


def spend_independence(df: pd.DataFrame, models: dict[str, ChannelModel], max_rho: float) -> pd.DataFrame:
    """The Gamma-Gamma independence check: Spearman's rank correlation between purchase days
    (frequency) and mean spend per repeat day (monetary) among the repeat customers, per channel
    with its own Gamma-Gamma fit and over all channels ('all'). Columns: channel, repeaters, rho,
    fails (|rho| > `max_rho`; NaN rho with fewer than 3 repeaters or no spread never fails)."""
    rep = df[(df.frequency > 0) & (df.monetary > 0)]
    own = [ch for ch, m in models.items() if not m.pooled and m.gg is not None]
    groups = [(ch, rep[rep.channel == ch]) for ch in sorted(own)] + [("all", rep)]
    rows = []
    for ch, g in groups:
        varied = len(g) >= 3 and g.frequency.nunique() > 1 and g.monetary.nunique() > 1
        rho = float(spearmanr(g.frequency, g.monetary).statistic) if varied else float("nan")
        rows.append({"channel": ch, "repeaters": len(g), "rho": rho})
    out = pd.DataFrame(rows)
    out["fails"] = out["rho"].abs() > max_rho
    out.attrs["max_rho"] = max_rho
    return out


def independence_findings(ind: pd.DataFrame) -> str:
    """One or two sentences on the Gamma-Gamma independence check of `spend_independence`: the
    all-channel rho and, when it or a channel's fails, the warning and what it means for the LTV."""
    allr = ind[ind.channel == "all"].iloc[0]
    limit = ind.attrs["max_rho"]
    if pd.isna(allr.rho):
        return _t("independence.unchecked")
    text = _t("independence.text", n=nv.num(allr.repeaters), rho=f"{allr.rho:+.2f}")
    bad = ind[(ind.channel != "all") & ind.fails]
    if not allr.fails and bad.empty:
        return text + _t("independence.holds", limit=f"{limit:.2f}")
    more = (allr.rho if allr.fails else bad.rho.iloc[0]) > 0
    where = (
        _t("independence.overall")
        if allr.fails
        else _t("independence.in", channels=_names(_ch(c) for c in bad.channel))
    )
    direction = _t("independence.more" if more else "independence.less")
    return text + _t("independence.warning", limit=f"{limit:.2f}", where=where, direction=direction)


def predicted_ltv(
    con,
    p: Period,
    ap: AcquisitionParams,
    checked: Result | None = None,
    new_user_kinds: list[str] | None = None,
    assumed_margin_rate: float | None = None,
) -> Result:
    """Predicted LTV per acquired user, per channel, over the horizon the check validated.

    Horizon = `checked`'s horizon_months (the months the holdout check covered; without a check,
    `ltv_horizon_months`). Customers: first orders in the trailing horizon months. For each customer,
    LTV = paid GMV observed so far within the horizon + the model's expected GMV for the rest of
    the horizon (expected purchase days in (T, H] x expected spend per day), H = horizon in days
    (months x 365/12). Fit per channel on the customers' full history up to the month end.
    Margin LTV = revenue LTV x the channel's observed gross margin / paid GMV (money basis:
    cost of goods where known, else `assumed_margin_rate`; NaN when neither). `pack_per_customer`
    = new-user pack (kinds `new_user_kinds`) discounts per customer in the horizon and
    `ltv_margin_gross` = margin LTV + those discounts: the margin LTV of LTV/CAC, whose CAC counts
    the pack as a cost (the coupon is counted once). attrs `margin_basis`: the margin's label,
    `horizon_months` / `horizon_days`, `independence`: the Gamma-Gamma check (`spend_independence`).
    `checked`: the holdout check; a model that could not be checked projects nothing.
    """
    if checked is not None and not checked.ok:
        return _needs(_t("predicted.why_unchecked"))
    months = checked.table.attrs["horizon_months"] if checked is not None else ap.ltv_horizon_months
    horizon_days = _month_days(months)
    start, end = _window(p, months)
    df = rfm(con, start, end, p.end, p.end, horizon_days, new_user_kinds, assumed_margin_rate)
    models = fit_channels(df, ap)
    if isinstance(models, str):
        return _needs(_t("predicted.why_model", span=_span(p, months), why=models))
    all_rep = df[df.frequency > 0]
    z = _z(ap.ci_level)
    rows = []
    for ch, g in df.groupby("channel"):
        m = models[str(ch)]
        remaining = np.clip(horizon_days - g["T"].to_numpy(), 0, None)
        future_days = m.bg.expected_purchases(remaining, g.frequency, g.recency, g["T"])
        ltv = g.gmv_horizon.to_numpy() + future_days * _spend(m, g, all_rep)
        half = z * ltv.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else float("nan")
        margin_known = g.margin_horizon.notna().all() and g.gmv_horizon.sum() > 0
        ratio = float(g.margin_horizon.sum() / g.gmv_horizon.sum()) if margin_known else float("nan")
        pack = float(g.pack_horizon.sum() / len(g))
        rows.append(
            {
                "channel": ch,
                "customers": len(g),
                "model": "all channels" if m.pooled else "own",
                "observed_per_user": float(g.gmv_horizon.mean()),
                "ltv_revenue": float(ltv.mean()),
                "ltv_revenue_low": float(ltv.mean() - half),
                "ltv_revenue_high": float(ltv.mean() + half),
                "margin_ratio": ratio,
                "ltv_margin": float(ltv.mean()) * ratio,
                "pack_per_customer": pack,
                "ltv_margin_gross": float(ltv.mean()) * ratio + pack,
                "assumed_gmv": float(g.gmv_assumed_horizon.sum()),
                "gmv": float(g.gmv_horizon.sum()),
                "r": m.bg.r,
                "alpha": m.bg.alpha,
                "a": m.bg.a,
                "b": m.bg.b,
                "mean_spend": m.gg.mean_spend if m.gg is not None else float("nan"),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(
        horizon_days=horizon_days,
        horizon_months=months,
        independence=spend_independence(df, models, ap.ltv_independence_max_rho),
    )
    share = out.assumed_gmv.sum() / out.gmv.sum() if out.gmv.sum() > 0 else 1.0
    out.attrs["margin_basis"] = money.margin_basis(share, assumed_margin_rate)
    notes = ()
    if out.margin_ratio.isna().all():
        notes = (_t("predicted.why_margin"),)
    return Result(out, notes=notes)


def ltv_cac_definition(months: int) -> str:
    """The metric definition of LTV/CAC over a `months`-month LTV horizon."""
    return (
        f"LTV/CAC = {months}-month margin LTV gross of the new-user pack discounts / CAC. CAC counts the pack's "
        "redeemed face value as a cost, so the pack's discounts are added back to the margin LTV: the coupon "
        "is counted once"
    )


def ltv_cac(pred: pd.DataFrame, cost: pd.DataFrame) -> pd.DataFrame:
    """LTV/CAC per channel (money.ltv_cac): `ltv_margin_gross` (margin LTV + the customers' new-user
    pack discounts) / the one CAC (`cac_yuan`: spend + commissions + pack redeemed, per new user).
    Sorted by the ratio, best first; NaN where either side is missing."""
    c = cost[cost.channel != "all"].set_index("channel")
    parts = ["new_users", "spend_per_user_yuan", "commission_per_user_yuan", "pack_cost_per_user_yuan"]
    out = pred.set_index("channel")[
        ["customers", "ltv_revenue", "ltv_margin", "pack_per_customer", "ltv_margin_gross"]
    ].join(
        c[[*parts, "cac_yuan", "spend_yuan", "commission_yuan", "pack_cost_yuan", "has_spend"]], how="left"
    )
    ratios = []
    for _, r in out.iterrows():  # one row per channel
        known = r.has_spend == 1
        cac_ = cac_of(r) if known and pd.notna(r.new_users) else None
        v = money.ltv_cac(r.ltv_margin_gross, cac_) if cac_ is not None else None
        ratios.append(np.nan if v is None else v)
    out["ltv_cac_margin"] = ratios
    out = out.drop(columns=["spend_yuan", "commission_yuan", "pack_cost_yuan", "has_spend"]).reset_index()
    out = out.sort_values(["ltv_cac_margin", "channel"], ascending=[False, True])
    return out.reset_index(drop=True)


def ltv_cac_result(pred: Result, cost: pd.DataFrame, cac_why: str) -> Result:
    """LTV/CAC (`ltv_cac`) on the channels where both numbers exist, or the reason there are none.

    Channels without a ratio (no recorded cost, zero cost, margin unknown) are named in a note.
    """
    if cac_why or not pred.ok:
        return _needs(_t("ltv_cac.why_missing_cac" if cac_why else "ltv_cac.why_missing_ltv"))
    if pred.table.margin_ratio.isna().all():
        return _needs(_t("ltv_cac.why_margin"))
    full = ltv_cac(pred.table, cost)
    has = np.isfinite(full.ltv_cac_margin)
    if not has.any():
        return _needs(_t("ltv_cac.why_none"))
    notes = ()
    if (~has).any():
        notes = (_t("ltv_cac.note_missing", channels=_names(_ch(c) for c in full[~has].channel)),)
    out = full[has].reset_index(drop=True)
    out.attrs["margin_basis"] = pred.table.attrs.get("margin_basis", money.GROSS_MARGIN)
    out.attrs["horizon_months"] = pred.table.attrs.get("horizon_months")
    return Result(out, notes=notes)


# --------------------------------------------------------------------------- referral economics


_SUMS = [
    "registrations",
    "valid_new_users",
    "users_window_complete",
    "gmv_window",
    "margin_window",
    "gmv_assumed_window",
    "pack_back_window",
    "cost_yuan",
    "gmv_complete",
    "margin_complete",
    "pack_back_complete",
    "cost_complete",
]


def referrers(
    con, p: Period, ap: AcquisitionParams, new_user_kinds: list[str], assumed_margin_rate: float
) -> pd.DataFrame:
    """Per referrer over the trailing `referral_months` registration months (sql/acquisition/referrers.sql).

    `new_user_kinds`: the new-user pack's coupon kinds; `assumed_margin_rate`: the margin of
    orders without a cost of goods. Adds valid_rate = valid / registrations, gmv_per_valid and the
    referrer's economics to date (`_per_yuan` on the whole windows).
    """
    start, end = _window(p, ap.referral_months)
    df = query(
        "acquisition/referrers",
        con,
        from_date=start,
        to_date=end,
        as_of=p.as_of,
        gmv_days=ap.referral_gmv_days,
        commission_group_leader=ap.commission_group_leader,
        commission_store_promoter=ap.commission_store_promoter,
        new_user_kinds=list(new_user_kinds),
        assumed_margin_rate=assumed_margin_rate,
    )
    df["valid_rate"] = df["valid_new_users"] / df["registrations"].where(df["registrations"] > 0)
    df["gmv_per_valid"] = df["gmv_window"] / df["valid_new_users"].where(df["valid_new_users"] > 0)
    return _per_yuan(df, "window", "cost_yuan")


def _per_yuan(df: pd.DataFrame, part: str, cost: str) -> pd.DataFrame:
    """Add margin_per_yuan / gmv_per_yuan = (gross margin or paid GMV + the pack discounts added
    back) / referral cost, on the `part` columns ('window' or 'complete'); NaN without a cost."""
    out = df.copy()
    c = out[cost].where(out[cost] > 0)
    out["margin_per_yuan"] = (out[f"margin_{part}"] + out[f"pack_back_{part}"]) / c
    out["gmv_per_yuan"] = (out[f"gmv_{part}"] + out[f"pack_back_{part}"]) / c
    return out


def groups(ref: pd.DataFrame) -> pd.DataFrame:
    """Per WeChat group: leaders, active leaders (>= 1 valid new user), valid new users per leader,
    and the group's referral economics on the valid users whose window is complete: gross margin and
    paid GMV per yuan spent (returns gross of the pack discounts / (commissions + pack redeemed)).
    Sorted by margin per yuan, best first."""
    gl = ref[ref.kind == "group_leader"]
    g = gl.groupby("group_id", as_index=False).agg(
        leaders=("referrer_id", "size"),
        active_leaders=("valid_new_users", lambda s: int((s > 0).sum())),
        **{c: (c, "sum") for c in _SUMS},
    )
    g["valid_per_leader"] = g["valid_new_users"] / g["leaders"]
    g = _per_yuan(g, "complete", "cost_complete")
    return g.sort_values(["margin_per_yuan", "group_id"], ascending=[False, True]).reset_index(drop=True)


def referral_reason(ref: pd.DataFrame, p: Period, ap: AcquisitionParams) -> str:
    """Why referral economics cannot be shown ('' when it can)."""
    if ref.empty:
        return _t("referral.why_empty", table=i18n.name("table", "referrers"))
    if ref.registrations.sum() == 0:
        return _t("referral.why_none", span=_span(p, ap.referral_months))
    return ""


def top_groups(grp: pd.DataFrame, n: int) -> pd.DataFrame:
    """The WeChat groups with a referral cost on complete windows (ratios defined), best margin per
    yuan first: the top `n` and one 'others (k)' row pooling the rest (their sums, their ratios;
    `others` True marks it)."""
    g = grp[grp.cost_complete > 0].assign(others=False)
    if len(g) <= n + 1:
        return g.reset_index(drop=True)
    rest = g.iloc[n:]
    other = pd.DataFrame(
        [
            {
                "group_id": _t("referral.others", n=len(rest)),
                **rest[["leaders", "active_leaders", *_SUMS]].sum(),
            }
        ]
    ).assign(others=True)
    return pd.concat([g.head(n), _per_yuan(other, "complete", "cost_complete")], ignore_index=True)


def referral_economics(ref: pd.DataFrame, kind: str) -> dict[str, float] | None:
    """The referral economics of one referrer kind on its valid users with a complete window:
    users, cost, gross margin and paid GMV (gross of the pack discounts) and their per-yuan ratios.
    None when those users cost nothing (no ratio)."""
    r = ref[ref.kind == kind][_SUMS].sum()
    margin_v = money.per_yuan_spent(r.margin_complete + r.pack_back_complete, r.cost_complete)
    if margin_v is None:
        return None
    return {
        "users": int(r.users_window_complete),
        "cost": float(r.cost_complete),
        "margin": float(r.margin_complete + r.pack_back_complete),
        "gmv": float(r.gmv_complete + r.pack_back_complete),
        "margin_per_yuan": margin_v,
        "gmv_per_yuan": money.per_yuan_spent(r.gmv_complete + r.pack_back_complete, r.cost_complete),
        "assumed_share": float(r.gmv_assumed_window / r.gmv_window) if r.gmv_window > 0 else 0.0,
    }


def referral_findings(
    ref: pd.DataFrame, grp: pd.DataFrame, ap: AcquisitionParams, assumed_margin_rate: float
) -> tuple[str, dict[str, float]]:
    """(finding sentences, metrics) of referral economics; each part only when its numbers exist.

    Metrics: valid_new_users_per_leader, community_margin_per_yuan / community_gmv_per_yuan (group
    leaders), promoter_margin_per_yuan / promoter_gmv_per_yuan (store promoters): observational
    ratios on complete windows, never ROI (no randomised holdout of referrals exists).
    """
    promoters = ref[ref.kind == "store_promoter"]
    D, unit = ap.referral_gmv_days, nv.yuan(1)
    parts, metrics = [], {}

    def econ(e: dict[str, float] | None, valid: int) -> str:
        if e is None:
            return "" if valid == 0 else _t("referral.econ_young", days=D, unit=unit)
        basis = nv.margin_basis(money.margin_basis(e["assumed_share"], assumed_margin_rate))
        return _t(
            "referral.econ_one" if e["users"] == 1 else "referral.econ",
            n=nv.num(e["users"]),
            days=D,
            margin=nv.yuan(e["margin_per_yuan"], 1),
            gmv=nv.yuan(e["gmv_per_yuan"], 1),
            basis=basis,
            unit=unit,
            cost=nv.yuan(e["cost"]),
        )

    if len(grp):
        per_leader = grp.valid_new_users.sum() / grp.leaders.sum()
        metrics["valid_new_users_per_leader"] = float(per_leader)
        text = _t(
            "referral.groups",
            groups=nv.num(len(grp)),
            leaders=nv.num(grp.leaders.sum()),
            active=nv.num(grp.active_leaders.sum()),
            valid=nv.num(grp.valid_new_users.sum()),
            per_leader=f"{per_leader:.2f}",
        )
        e = referral_economics(ref, "group_leader")
        text += econ(e, int(grp.valid_new_users.sum()))
        if e is not None:
            metrics["community_margin_per_yuan"] = e["margin_per_yuan"]
            metrics["community_gmv_per_yuan"] = e["gmv_per_yuan"]
        parts.append(text + _t("end"))
        if e is not None:
            parts.append(_t("referral.seed", gmv=nv.yuan(e["gmv_per_yuan"], 1), unit=unit))
    if len(promoters):
        text = _t(
            "referral.promoters", n=nv.num(len(promoters)), valid=nv.num(promoters.valid_new_users.sum())
        )
        e = referral_economics(ref, "store_promoter")
        text += econ(e, int(promoters.valid_new_users.sum()))
        if e is not None:
            metrics["promoter_margin_per_yuan"] = e["margin_per_yuan"]
            metrics["promoter_gmv_per_yuan"] = e["gmv_per_yuan"]
        parts.append(text + _t("end"))
    if metrics.keys() & {"community_margin_per_yuan", "promoter_margin_per_yuan"}:
        parts.append(_t("referral.observational"))
    return _t("sentence_sep").join(parts), metrics


def referral_targets(ref: pd.DataFrame, ap: AcquisitionParams) -> pd.DataFrame:
    """Referrers to reward and to coach, among those with at least `referral_min_registrations`
    referred registrations.

    reward: the top `referral_top_n` by net margin = gross margin of their valid new users in the
    window (to date, pack discounts added back) - referral cost (commissions + new-user coupons);
    coach: of the others, the `referral_top_n` whose referred registrations convert least
    (valid_rate, then more registrations first). Columns for the CRM file: referrer_id, kind,
    group_id, store_id, action, registrations, valid_new_users, valid_rate, gmv_window,
    margin_window, cost_yuan, net_margin_yuan, margin_per_yuan.
    """
    ranked = ref[ref.registrations >= ap.referral_min_registrations].copy()
    ranked["net_margin_yuan"] = ranked["margin_window"] + ranked["pack_back_window"] - ranked["cost_yuan"]
    n = min(ap.referral_top_n, len(ranked) // 2)
    top = (
        ranked.sort_values(["net_margin_yuan", "referrer_id"], ascending=[False, True])
        .head(n)
        .assign(action="reward")
    )
    rest = ranked[~ranked.referrer_id.isin(top.referrer_id)]
    bottom = rest.sort_values(
        ["valid_rate", "registrations", "referrer_id"], ascending=[True, False, True]
    ).head(n)
    cols = [
        "referrer_id",
        "kind",
        "group_id",
        "store_id",
        "action",
        "registrations",
        "valid_new_users",
        "valid_rate",
        "gmv_window",
        "margin_window",
        "cost_yuan",
        "net_margin_yuan",
        "margin_per_yuan",
    ]
    return pd.concat([top, bottom.assign(action="coach")], ignore_index=True)[cols]


# --------------------------------------------------------------------------- coupon pack and hero products


def pack_takeup(con, p: Period, new_user_kinds: list[str]) -> pd.DataFrame:
    """New-user pack coupons (kinds `new_user_kinds`) issued in the report month: issued,
    redeemed, redeemed within validity; rates over the coupons whose validity has ended."""
    df = query(
        "acquisition/pack_takeup",
        con,
        from_date=p.start,
        to_date=p.end,
        as_of=p.as_of,
        new_user_kinds=list(new_user_kinds),
    )
    closed = df["n_closed"].where(df["n_closed"] > 0)
    df["redeemed_rate"] = df["n_redeemed"] / closed
    df["within_rate"] = df["n_redeemed_within"] / closed
    return df


def pack_reason(pack: pd.DataFrame, p: Period, new_user_kinds: list[str]) -> str:
    """Why the pack's take-up cannot be shown ('' when it can)."""
    if pack.empty:
        kinds = _names(i18n.name_in_text("coupon_kind", k) for k in new_user_kinds) or i18n.t("common.none")
        return _t("pack.why_none", kinds=kinds, month=i18n.month(p))
    if pack.n_closed.sum() == 0:
        return _t("pack.why_open", month=i18n.month(p), as_of=p.as_of)
    return ""


def hero_share(con, p: Period) -> pd.DataFrame:
    """Hero products in the report month's first orders, per channel and 'all'."""
    df = query("acquisition/hero_first_orders", con, from_date=p.start, to_date=p.end)
    total = pd.DataFrame([{"channel": "all", **df.drop(columns="channel").sum()}])
    out = pd.concat([df, total], ignore_index=True)
    out["share_orders"] = out["with_hero"] / out["first_orders"].where(out["first_orders"] > 0)
    out["share_value"] = out["hero_amount"] / out["lines_amount"].where(out["lines_amount"] > 0)
    return out


def hero_reason(hero: pd.DataFrame, p: Period) -> str:
    """Why the hero share of first orders cannot be shown ('' when it can)."""
    h = hero[hero.channel == "all"].iloc[0]
    if h.first_orders == 0:
        return _t("hero.why_none", month=i18n.month(p))
    if h.lines_amount <= 0:
        return _t("hero.why_lines", month=i18n.month(p))
    return ""


# --------------------------------------------------------------------------- actions


def actions_reason(ratio: Result, quality_why: str) -> str:
    """Why no channel gets a scale / fix / cut action (the numbers it would rest on are missing)."""
    missing = [
        _t(key)
        for key, gap in (("actions.ltv_cac", not ratio.ok), ("actions.retention", bool(quality_why)))
        if gap
    ]
    return _t("actions.why", missing=_names(missing))


def channel_actions(ratio: pd.DataFrame, qual: pd.DataFrame, ap: AcquisitionParams) -> pd.DataFrame:
    """Scale / fix / cut per channel from margin LTV/CAC and quality.

    cut: LTV/CAC < 1 (the channel loses money on margin over the horizon);
    scale: LTV/CAC >= `ltv_cac_scale` and D-long retention at or above the all-channel rate;
    fix: everything else; `fix_quality` tells whether retention is below the all-channel rate.
    Channels without a ratio or without observed D-long retention get no action.
    """
    q = qual.set_index("channel")[["d_long", "quality_rank"]]
    all_long = float(qual["retained_long"].sum() / qual["eligible_long"].sum())
    out = ratio.join(q, on="channel")
    out = out[np.isfinite(out["ltv_cac_margin"]) & out["d_long"].notna()].copy()  # never act on a gap
    out["d_long_all"] = all_long
    out["fix_quality"] = out["d_long"] < all_long
    out["action"] = np.select(
        [out["ltv_cac_margin"] < 1, (out["ltv_cac_margin"] >= ap.ltv_cac_scale) & ~out["fix_quality"]],
        ["cut", "scale"],
        default="fix",
    )
    return out


def channel_action_lines(act: pd.DataFrame, ap: AcquisitionParams, months: int | None = None) -> list[str]:
    """One markdown action per channel of `channel_actions`: stop or fix (margin LTV/CAC below 1: it
    loses money, so it comes first, and is the line the brief quotes), scale, fix (lower the CAC or
    fix the users' retention). `months`: the LTV horizon (default `ltv_horizon_months`).
    Report language: lib/userops/i18n, keys acquisition.*."""
    H = months or ap.ltv_horizon_months
    lines = []
    for kind in ("cut", "scale", "fix"):
        for r in act[act.action == kind].itertuples():
            why = i18n.t(
                "acquisition.why",
                ratio=f"{r.ltv_cac_margin:.1f}",
                ltv=nv.yuan(r.ltv_margin_gross),
                cac=nv.yuan(r.cac_yuan, 1),
                days=ap.retention_long_days,
                d_long=nv.pct(r.d_long),
                d_all=nv.pct(r.d_long_all),
            )
            if kind == "fix" and r.fix_quality:
                why += i18n.t("acquisition.why_fix_quality")
            elif kind == "fix":
                why += i18n.t("acquisition.why_fix_cac", scale=f"{ap.ltv_cac_scale:g}")
            elif kind == "cut":
                why += i18n.t("acquisition.why_cut", ltv=nv.yuan(r.ltv_margin_gross), months=H)
            verb, channel = i18n.t(f"acquisition.verb.{kind}"), i18n.name_in_text("channel", r.channel)
            lines.append(i18n.t("acquisition.line", verb=verb, channel=channel, why=why))
    return lines


# --------------------------------------------------------------------------- LTV sections: findings, charts, tables


def ltv_curve_findings(curves: pd.DataFrame, k: int, at: pd.Series, n_coh: int) -> tuple[str, str]:
    """(chart title, finding sentence) of the observed LTV curves at the comparison month `k`
    (`ltv_compare`: GMV per user there, ascending; `n_coh` cohorts at least behind it)."""
    lo, hi = _ch(at.index[0]), _ch(at.index[-1])
    low, high = nv.yuan(at.iloc[0]), nv.yuan(at.iloc[-1])
    if len(at) > 1:
        title = _t("ltv_curve.title", k=k, hi_channel=hi, high=high, lo_channel=lo, low=low)
        text = _t("ltv_curve.text", k=k, hi_channel=hi, high=high, lo_channel=lo, low=low)
    else:
        title = _t("ltv_curve.title_one", k=k, lo_channel=lo, low=low)
        text = _t("ltv_curve.text_one", k=k, lo_channel=lo, low=low)
    return title, text + _t("ltv_curve.method" if n_coh > 1 else "ltv_curve.method_one", k=k, n=n_coh)


def plot_ltv_curves(curves: pd.DataFrame, order: list[str], title: str):
    """Cumulative GMV (and gross margin, when known) per user by month since the first order, one
    line per channel in `order`; points no cohort has reached are not drawn. Returns the figure."""
    import matplotlib.pyplot as plt

    from userops import charts

    has_margin = curves.margin_per_user.notna().any()
    names = set(curves.channel)
    order = [c for c in order if c in names] + sorted(names - set(order))
    fig, axes = plt.subplots(1, 2 if has_margin else 1, figsize=(10, 4.2), squeeze=False)
    for ch, color in zip(order, charts.PALETTE * 2, strict=False):
        g = curves[(curves.channel == ch) & (curves.n_cohorts > 0)]
        axes[0][0].plot(g.month_k, g.gmv_per_user, marker="o", ms=3, color=color, label=_ch(ch))
        if has_margin:
            axes[0][1].plot(g.month_k, g.margin_per_user, marker="o", ms=3, color=color, label=_ch(ch))
    for ax, what in zip(axes[0], ["ltv_curve.axis_gmv", "ltv_curve.axis_margin"], strict=False):
        charts.yuan_axis(ax)
        ax.set_xlabel(_t("ltv_curve.xlabel"))
        ax.set_title(_t(what), fontsize=11)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.supxlabel(_t("ltv_curve.method_note"), x=0.01, ha="left", fontsize=8, color="#666666")
    return fig


def holdout_findings(ht: pd.DataFrame, ap: AcquisitionParams) -> tuple[str, str]:
    """(chart title, sentence) of the holdout check: the error overall and per channel, and which
    horizon it covers: the whole LTV horizon, or only the months the data can check (the LTV below
    is then reported over those months only)."""
    allr = ht[ht.channel == "all"].iloc[0]
    worst = ht[(ht.channel != "all") & (ht.actual_days > 0)].error_days.abs().max()
    m, d, cal = ht.attrs["horizon_months"], ht.attrs["holdout_days"], ht.attrs["cal_end"]
    title = _t("holdout.title", months=m, error=fmt_pct(allr.error_days, signed=True), worst=nv.pct(worst, 0))
    text = _t(
        "holdout.text",
        months=m,
        cal_end=cal,
        pred=nv.num(allr.pred_days),
        days=d,
        actual=nv.num(allr.actual_days),
        error=fmt_pct(allr.error_days, signed=True),
        pred_gmv=nv.yuan(allr.pred_gmv),
        actual_gmv=nv.yuan(allr.actual_gmv),
        error_gmv=fmt_pct(allr.error_gmv, signed=True),
    )
    if ht.attrs["full_horizon"]:
        text += _t("holdout.full", months=m)
    else:
        text += _t(
            "holdout.partial", horizon=ap.ltv_horizon_months, days=ap.ltv_min_calibration_days, months=m
        )
    return title, text


def plot_holdout(ht: pd.DataFrame, order: list[str], title: str, as_of: dt.date):
    """Actual vs predicted purchase days in the held-out period per channel, labelled with the error."""
    import matplotlib.pyplot as plt

    from userops import charts

    hc = ht[(ht.channel != "all") & (ht.actual_days > 0)].set_index("channel")
    hc = hc.loc[[c for c in order if c in hc.index] + sorted(set(hc.index) - set(order))]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    x = np.arange(len(hc))
    ax.bar(x - 0.2, hc.actual_days, 0.4, color=charts.MUTED, label=_t("holdout.actual"))
    ax.bar(x + 0.2, hc.pred_days, 0.4, color=charts.ACCENT, label=_t("holdout.predicted"))
    for i, e in enumerate(hc.error_days):
        ax.annotate(f"{e * 100:+.0f}%", (i + 0.2, hc.pred_days.iloc[i]), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=8)  # fmt: skip
    ax.set_xticks(x, [_ch(c) for c in hc.index], rotation=20, ha="right")
    charts.int_axis(ax)
    ax.legend(fontsize=8)
    ax.set_ylabel(_t("holdout.ylabel"))
    charts.title(ax, title, _t("holdout.subtitle", cal_end=ht.attrs["cal_end"], as_of=as_of))
    return fig


def _interval(low, high, fmt=nv.pct) -> str:
    """A table cell under a '95% CI' header: 'a–b' on one line."""
    return nv.unbreakable(f"{fmt(low)}–{fmt(high)}")


def _display(df: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """`df`'s columns `names` renamed to their headers in the report language, channels by display name."""
    out = df[list(names)].copy()
    if "channel" in out:
        out["channel"] = out["channel"].map(_ch)
    if "model" in out:
        out["model"] = out["model"].map({"own": _t("model.own"), "all channels": _t("model.pooled"), "": ""})
    return out.rename(columns=names)


def holdout_table(ht: pd.DataFrame):
    """The holdout check per channel as a display table."""
    from userops import charts

    def rel(v):
        return charts.fmt_pct(v, signed=True)

    cols = [
        "channel",
        "customers",
        "actual_days",
        "pred_days",
        "error_days",
        "actual_gmv",
        "pred_gmv",
        "error_gmv",
    ]
    if (ht.model == "all channels").any():
        cols.insert(2, "model")
    names = {c: _t(f"col.{c}") for c in cols}
    kinds = {"customers": "int", "actual_days": "int", "pred_days": "int", "error_days": rel,
             "actual_gmv": "yuan", "pred_gmv": "yuan", "error_gmv": rel}  # fmt: skip
    fmts = {names[c]: f for c, f in kinds.items()}
    return charts.table_html(_display(ht, names), fmts, caption=_t("holdout.caption"))


def holdout_metrics(ht: pd.DataFrame) -> list[tuple]:
    """The holdout check's metrics as (key, value, unit, definition) rows for the report."""
    allr = ht[ht.channel == "all"].iloc[0]
    worst = ht[(ht.channel != "all") & (ht.actual_days > 0)].error_days.abs().max()
    d, m = ht.attrs["holdout_days"], ht.attrs["horizon_months"]
    last = f"the last {d} days ({m} months, the LTV horizon reported) held out, fit before them"
    return [
        ("ltv_horizon_months", m, "months", "LTV horizon reported: the months the model was checked on"),
        ("ltv_holdout_error_days", allr.error_days, "relative error",
         f"BG/NBD predicted / actual purchase days - 1, {last}, all channels"),
        ("ltv_holdout_max_abs_error_days", worst, "relative error",
         f"largest |predicted / actual - 1| of purchase days over channels, {last}"),
        ("ltv_holdout_error_gmv", allr.error_gmv, "relative error",
         f"BG/NBD x Gamma-Gamma predicted / actual GMV - 1, {last}, all channels"),
    ]  # fmt: skip


def predicted_ltv_text(pt: pd.DataFrame, p: Period) -> str:
    """The definition sentence above the predicted LTV table (its horizon, customers and margin basis)."""
    m, d = pt.attrs["horizon_months"], pt.attrs["horizon_days"]
    text = _t("predicted.text", months=m, days=d, span=_span(p, m), as_of=p.as_of)
    if pt.margin_ratio.notna().any():
        text += _t("predicted.margin", basis=nv.margin_basis(pt.attrs["margin_basis"]))
    return text + _t("predicted.intervals")


def predicted_ltv_table(pt: pd.DataFrame, order: list[str]):
    """Predicted LTV per channel (in `order`) as a display table; the interval on one line."""
    from userops import charts

    ps = (
        pt.set_index("channel")
        .loc[[c for c in order if c in set(pt.channel)] + sorted(set(pt.channel) - set(order))]
        .reset_index()
    )
    with_margin = pt.margin_ratio.notna().any()
    ps["ltv_ci"] = [
        _interval(lo, hi, nv.yuan) for lo, hi in zip(ps.ltv_revenue_low, ps.ltv_revenue_high, strict=True)
    ]
    cols = ["channel", "customers", "observed_per_user", "ltv_revenue", "ltv_ci"]
    cols += ["margin_ratio", "ltv_margin"] if with_margin else []
    cols += ["model"] if (pt.model == "all channels").any() else []
    names = {c: _t(f"col.{c}") for c in cols}
    kinds = {"customers": "int", "observed_per_user": "yuan", "ltv_revenue": "yuan", "margin_ratio": "pct",
             "ltv_margin": "yuan"}  # fmt: skip
    fmts = {names[c]: f for c, f in kinds.items() if c in names}
    return charts.table_html(_display(ps, names), fmts)


def predicted_ltv_metrics(pt: pd.DataFrame) -> list[tuple]:
    """The predicted LTV's metrics as (key, value, unit, definition, ci) rows for the report; the
    horizon is the metric `ltv_horizon_months`."""
    m, basis = pt.attrs["horizon_months"], pt.attrs["margin_basis"]
    rows = []
    for r in pt.itertuples():
        rows.append(
            (f"ltv_revenue.{r.channel}", r.ltv_revenue, "yuan per user",
             f"predicted paid GMV (net of discounts) in the first {m} months after the first order "
             "(observed + BG/NBD x Gamma-Gamma expectation)", (r.ltv_revenue_low, r.ltv_revenue_high))
        )  # fmt: skip
        if pd.notna(r.ltv_margin):
            rows.append(
                (f"ltv_margin.{r.channel}", r.ltv_margin, "yuan per user",
                 f"predicted {m}-month paid-GMV LTV x the channel's observed margin / paid GMV ({basis})", None)
            )  # fmt: skip
    ind = pt.attrs["independence"]
    allr = ind[ind.channel == "all"].iloc[0]
    if pd.notna(allr.rho):
        rows.append(
            ("ltv_spend_frequency_spearman", allr.rho, "rank correlation",
             "Spearman's rho between purchase days and mean spend of repeat customers (Gamma-Gamma assumes 0)", None)
        )  # fmt: skip
    return rows


def ltv_cac_findings(rt: pd.DataFrame) -> tuple[str, str]:
    """(chart title, finding sentences) of LTV/CAC per channel (best first) over the LTV horizon."""
    m = rt.attrs["horizon_months"]
    below = _names(_ch(c) for c in rt[rt.ltv_cac_margin < 1].channel)
    b0, bl = rt.iloc[0], rt.iloc[-1]
    title = _t("ltv_cac.title", channel=_ch(b0.channel), ratio=f"{b0.ltv_cac_margin:.1f}")
    title += _t("ltv_cac.title_below", channels=below) if below else _t("ltv_cac.title_all_pay")
    text = _t(
        "ltv_cac.text",
        channel=_ch(b0.channel),
        back=nv.yuan(b0.ltv_cac_margin, 1),
        unit=nv.yuan(1),
        months=m,
        ltv=nv.yuan(b0.ltv_margin_gross),
        cac=nv.yuan(b0.cac_yuan, 1),
    )
    text += (
        _t("ltv_cac.lowest", channel=_ch(bl.channel), ratio=f"{bl.ltv_cac_margin:.1f}") if len(rt) > 1 else ""
    )
    text += _t("ltv_cac.below", channels=below) if below else _t("ltv_cac.none_below")
    return title, text + _t("ltv_cac.context")


def plot_ltv_cac(rt: pd.DataFrame, title: str, subtitle: str):
    """LTV/CAC per channel as bars (red below 1), best first, with the break-even line."""
    import matplotlib.pyplot as plt

    from userops import charts

    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rt) + 1.4))
    colors = [charts.PALETTE[3] if v < 1 else charts.ACCENT for v in rt.ltv_cac_margin]
    ax.barh([_ch(c) for c in rt.channel], rt.ltv_cac_margin, color=colors)
    for y, v in enumerate(rt.ltv_cac_margin):
        ax.annotate(f"{v:.1f}", (v, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.axvline(1, color="#555555", lw=0.8)
    ax.invert_yaxis()
    ax.margins(x=0.12)
    ax.set_xlabel(_t("ltv_cac.xlabel", months=rt.attrs["horizon_months"]))
    charts.title(ax, title, subtitle)
    return fig


def ltv_cac_table(rt: pd.DataFrame):
    """LTV/CAC and its parts per channel as a display table."""
    from userops import charts

    cols = ["channel", "ltv_revenue", "ltv_margin", "pack_per_customer", "ltv_margin_gross", "spend_per_user_yuan",
            "commission_per_user_yuan", "pack_cost_per_user_yuan", "cac_yuan", "ltv_cac_margin"]  # fmt: skip
    names = {c: _t(f"col.{c}") for c in cols}
    fmts = {names[c]: "yuan" for c in cols[1:-1]} | {names["ltv_cac_margin"]: "float1"}
    caption = _t(
        "ltv_cac.caption", months=rt.attrs["horizon_months"], basis=nv.margin_basis(rt.attrs["margin_basis"])
    )
    return charts.table_html(_display(rt, names), fmts, caption=caption)


# --------------------------------------------------------------------------- CAC and quality sections: charts, tables


def cac_findings(cost: pd.DataFrame, p: Period, ap: AcquisitionParams) -> tuple[str, str]:
    """(chart title, finding sentence) of CAC: cheapest and dearest channel, and the overall CAC's parts."""
    cc = cost[(cost.channel != "all") & cost.cac_yuan.notna()].sort_values(["cac_yuan", "channel"])
    c = cost[cost.channel == "all"].iloc[0]
    title = _t("cac.title", cac=nv.yuan(cc.cac_yuan.min(), 1), channel=_ch(cc.iloc[0].channel))
    if len(cc) > 1:
        title += _t("cac.title_max", cac=nv.yuan(cc.cac_yuan.max(), 1), channel=_ch(cc.iloc[-1].channel))
    text = _t(
        "cac.text",
        span=_span(p, ap.cac_months),
        spend=nv.yuan(c.spend_yuan),
        commission=nv.yuan(c.commission_yuan),
        valid=nv.num(c.valid_referred),
        rate_leader=nv.yuan(ap.commission_group_leader),
        rate_promoter=nv.yuan(ap.commission_store_promoter),
        pack=nv.yuan(c.pack_cost_yuan),
        n=nv.num(c.new_users),
        cac=nv.yuan(c.cac_yuan, 1),
    )
    text += (
        _t("cac.pack_share", share=nv.pct(c.pack_cost_yuan / c.cost_yuan)) if c.cost_yuan > 0 else _t("end")
    )
    return title, text


def plot_cac(cost: pd.DataFrame, title: str, subtitle: str):
    """CAC per channel as stacked bars of its parts (spend, commission, coupons), cheapest first."""
    import matplotlib.pyplot as plt

    from userops import charts

    cc = cost[(cost.channel != "all") & cost.cac_yuan.notna()].sort_values(["cac_yuan", "channel"])
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(cc) + 1.4))
    left = np.zeros(len(cc))
    labels = [_ch(c) for c in cc.channel]
    for col, key, color in [
        ("spend_per_user_yuan", "cac.part_spend", charts.PALETTE[0]),
        ("commission_per_user_yuan", "cac.part_commission", charts.PALETTE[1]),
        ("pack_cost_per_user_yuan", "cac.part_pack", charts.PALETTE[5]),
    ]:
        ax.barh(labels, cc[col], left=left, color=color, label=_t(key))
        left += cc[col].to_numpy()
    for y, v in enumerate(cc.cac_yuan):
        ax.annotate(nv.yuan(v, 1), (v, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.invert_yaxis()
    charts.yuan_axis(ax, "x")
    ax.margins(x=0.15)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    charts.title(ax, title, subtitle)
    return fig


def cac_table(cost: pd.DataFrame):
    """CAC and its parts per channel (and 'all') as a display table."""
    from userops import charts

    cols = ["channel", "registrations", "new_users", "spend_yuan", "commission_yuan", "pack_cost_yuan", "cac_yuan",
            "spend_per_registration_yuan"]  # fmt: skip
    names = {c: _t(f"col.{c}") for c in cols}
    fmts = {names[c]: "yuan" for c in cols[3:]} | {names["registrations"]: "int", names["new_users"]: "int"}
    return charts.table_html(_display(cost, names), fmts)


def plot_quality(qual: pd.DataFrame, title: str, subtitle: str, xlabel: str, ylabel: str):
    """Volume vs D-long retention per rated channel; bubble size = GMV per user, the worst in red."""
    import matplotlib.pyplot as plt

    from userops import charts

    rated = qual[qual.eligible_long > 0]
    gpu = rated.gmv_per_user
    sizes = (1500 * gpu / gpu.max()).fillna(80) if gpu.max() > 0 else pd.Series(300.0, index=rated.index)
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    ax.scatter(rated.new_users, rated.d_long, s=sizes, color=charts.ACCENT, alpha=0.55, edgecolor="white")
    if len(rated) > 1:
        w = rated.iloc[-1]
        ax.scatter([w.new_users], [w.d_long], s=[sizes.iloc[-1]], color=charts.PALETTE[3], alpha=0.8,
                   edgecolor="white")  # fmt: skip
    for r in rated.itertuples():
        label = _ch(r.channel)
        if pd.notna(r.gmv_per_user):
            label += "\n" + _t("quality.per_user", gmv=nv.yuan(r.gmv_per_user))
        ax.annotate(label, (r.new_users, r.d_long), fontsize=8, ha="center", va="center",
                    xytext=(0, -24 if r.quality_rank % 2 else 24), textcoords="offset points")  # fmt: skip
    ax.axhline(rated.retained_long.sum() / rated.eligible_long.sum(), color="#999999", ls="--", lw=0.8)
    charts.percent_axis(ax)
    charts.int_axis(ax, "x")
    ax.margins(0.18)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    charts.title(ax, title, subtitle)
    return fig


def quality_table(qual: pd.DataFrame, ap: AcquisitionParams):
    """Channel quality per channel as a display table; the D-long interval on one line."""
    from userops import charts

    S, L, V = ap.retention_short_days, ap.retention_long_days, ap.value_days
    q = qual.assign(
        d_long_ci=[_interval(lo, hi) for lo, hi in zip(qual.d_long_low, qual.d_long_high, strict=True)]
    )
    q.loc[q.d_long.isna(), "d_long_ci"] = charts.MISSING
    cols = ["channel", "new_users", "d_short", "d_long", "d_long_ci", "second_order", "orders_per_user",
            "gmv_per_user"]  # fmt: skip
    names = {c: _t(f"col.{c}", short=S, long=L, days=V) for c in cols}
    fmts = {names["new_users"]: "int", names["d_short"]: "pct", names["d_long"]: "pct",
            names["second_order"]: "pct", names["orders_per_user"]: "float1", names["gmv_per_user"]: "yuan"}  # fmt: skip
    rated = qual[qual.eligible_long > 0]
    gap = qual.d_long.isna().any() or rated.gmv_per_user.isna().any()
    caption = _t("quality.caption_gap") if gap else None
    return charts.table_html(_display(q, names), fmts, caption=caption)


def quality_metrics(qual: pd.DataFrame, ap: AcquisitionParams) -> list[tuple]:
    """Channel quality's metrics as (key, value, unit, definition, ci) rows, rated channels only."""
    L, V = ap.retention_long_days, ap.value_days
    rows = []
    for r in qual[qual.eligible_long > 0].itertuples():
        rows.append(
            (f"d{L}_retention.{r.channel}", r.d_long, "share",
             f"share of the channel's new users with another order on days 1..{L} after the first (observed {L} days)",
             (r.d_long_low, r.d_long_high))
        )  # fmt: skip
        if pd.notna(r.gmv_per_user):
            rows.append(
                (f"gmv_per_user_{V}d.{r.channel}", r.gmv_per_user, "yuan per user",
                 f"paid GMV in the first {V} days after the first order, first order included (users observed {V} days)",
                 (r.gmv_per_user_low, r.gmv_per_user_high))
            )  # fmt: skip
    return rows


# --------------------------------------------------------------------------- volume and conversion sections


def plot_volume(vol: pd.DataFrame, offline_channels: list[str], title: str):
    """New users per month stacked by channel (most first); offline channels hatched."""
    import matplotlib.pyplot as plt

    from userops import charts

    pivot = vol.pivot(index="month", columns="channel", values="new_users")
    pivot = pivot[pivot.sum().sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=(9, 4))
    bottom = np.zeros(len(pivot))
    for ch, color in zip(pivot.columns, charts.PALETTE * 2, strict=False):
        hatch = "//" if ch in offline_channels else None
        ax.bar(pivot.index.strftime("%y-%m"), pivot[ch], bottom=bottom, color=color, label=_ch(ch), hatch=hatch,
               edgecolor="white")  # fmt: skip
        bottom += pivot[ch].to_numpy()
    charts.int_axis(ax)
    ax.legend(fontsize=8, ncol=4, loc="upper left")
    ax.set_ylabel(_t("volume.ylabel"))
    ax.set_ylim(0, max(bottom.max(), 1) * 1.3)
    charts.title(ax, title, _t("volume.subtitle"))
    return fig


def conversion_findings(conv: pd.DataFrame, ap: AcquisitionParams) -> tuple[str, str]:
    """(chart title, finding sentences) of registration -> first-order conversion per channel."""
    S, L = ap.conversion_short_days, ap.conversion_long_days
    allc = conv[conv.channel == "all"].iloc[0]
    seen = conv[(conv.eligible_short > 0) & (conv.channel != "all")]
    ch = seen.sort_values(["conv_short", "channel"], ascending=[False, True])
    best, worst = ch.iloc[0], ch.iloc[-1]
    if len(ch) > 1:
        title = _t("conversion.title", best=_ch(best.channel), best_rate=nv.pct(best.conv_short), days=S,
                   worst=_ch(worst.channel), worst_rate=nv.pct(worst.conv_short))  # fmt: skip
    else:
        title = _t("conversion.title_one", rate=nv.pct(best.conv_short), channel=_ch(best.channel), days=S)
    text = _t("conversion.text", rate=nv.pct(allc.conv_short), days=S)
    if allc.eligible_long:
        text += _t("conversion.long", rate=nv.pct(allc.conv_long), days=L)
    else:
        text += _t("conversion.long_young", days=L)
    if len(ch) > 1:
        text += _t(
            "conversion.spread",
            low=nv.pp(ch.vs_all_short.min()),
            worst=_ch(worst.channel),
            high=nv.pp(ch.vs_all_short.max()),
            best=_ch(best.channel),
        )
    return title, text + _t("conversion.context")


def plot_conversion(conv: pd.DataFrame, ap: AcquisitionParams, title: str, subtitle: str):
    """Short-window conversion per channel with intervals, against the all-channel rate."""
    import matplotlib.pyplot as plt

    from userops import charts

    allc = conv[conv.channel == "all"].iloc[0]
    seen = conv[(conv.eligible_short > 0) & (conv.channel != "all")]
    ch = seen.sort_values(["conv_short", "channel"], ascending=[False, True])
    ch = ch.assign(channel=ch.channel.map(_ch))
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(ch) + 1.4))
    charts.bar_with_ci(ch, "channel", "conv_short", "conv_short_low", "conv_short_high", ax=ax,
                       null_value=allc.conv_short)  # fmt: skip
    ax.set_xlabel(_t("conversion.xlabel", days=ap.conversion_short_days, rate=nv.pct(allc.conv_short)))
    charts.title(ax, title, subtitle)
    return fig


def conversion_table(conv: pd.DataFrame, ap: AcquisitionParams):
    """Conversion per channel (and 'all') as a display table, channels with observed registrations."""
    from userops import charts

    S, L = ap.conversion_short_days, ap.conversion_long_days
    cols = ["channel", "registrations", "conv_short", "conv_long", "vs_all_short"]
    names = {c: _t(f"col.{c}", short=S, long=L) for c in cols}
    fmts = {names["registrations"]: "int", names["conv_short"]: "pct", names["conv_long"]: "pct",
            names["vs_all_short"]: "pp"}  # fmt: skip
    return charts.table_html(_display(conv[conv.eligible_short > 0], names), fmts)


# --------------------------------------------------------------------------- referral, pack and hero sections


def plot_groups(shown: pd.DataFrame, mpy: float, span: str, ap: AcquisitionParams):
    """Gross margin per yuan spent per WeChat group (`top_groups`), with the all-group ratio dashed."""
    import matplotlib.pyplot as plt

    from userops import charts

    D = ap.referral_gmv_days
    paid = shown[~shown.others]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.bar(shown.group_id, shown.margin_per_yuan, color=charts.ACCENT)
    ax.axhline(mpy, color="#555555", ls="--", lw=0.8)
    ax.axhline(1, color="#999999", lw=0.8)
    ax.set_ylabel(_t("referral.ylabel", days=D))
    ax.tick_params(axis="x", labelsize=8)
    title = _t(
        "referral.title",
        back=nv.yuan(mpy, 1),
        unit=nv.yuan(1),
        best=paid.iloc[0].group_id,
        best_ratio=f"{paid.iloc[0].margin_per_yuan:.1f}",
        worst=paid.iloc[-1].group_id,
        worst_ratio=f"{paid.iloc[-1].margin_per_yuan:.1f}",
    )
    charts.title(ax, title, _t("referral.subtitle", span=span, days=D))
    return fig


def referral_seed_table(grp: pd.DataFrame, metrics: dict[str, float], ap: AcquisitionParams):
    """The source articles' community figures beside ours (context, not targets)."""
    from userops import charts

    D, unit = ap.referral_gmv_days, nv.yuan(1)
    seeds = pd.DataFrame(
        {
            _t("seed.measure"): [_t("seed.leaders"), _t("seed.valid"), _t("seed.gmv", unit=unit), _t("seed.margin", unit=unit)],
            _t("seed.source"): ["10", "~3.5", _t("seed.source_gmv"), _t("seed.not_reported")],
            _t("seed.ours"): [
                f"{grp.leaders.mean():.1f}",
                f"{metrics['valid_new_users_per_leader']:.2f}",
                _t("seed.ours_gmv", ratio=f"{metrics['community_gmv_per_yuan']:.1f}", days=D),
                f"{metrics['community_margin_per_yuan']:.1f}",
            ],
        }
    )  # fmt: skip
    return charts.table_html(seeds)


def referral_metric_definitions(ap: AcquisitionParams) -> dict[str, tuple[str, str]]:
    """Unit and definition of each metric `referral_findings` may return."""
    D = ap.referral_gmv_days
    cost = f"(commissions + their redeemed new-user coupons), users observed {D} days; observational, not ROI"
    back = f"in {D} days, pack discounts added back / {cost}"
    return {
        "community_margin_per_yuan": ("ratio", f"gross margin of group leaders' valid new users {back}"),
        "community_gmv_per_yuan": ("ratio", f"paid GMV of group leaders' valid new users {back}"),
        "valid_new_users_per_leader": (
            "users per leader",
            "valid referred new users (registered and ordered) per group leader",
        ),
        "promoter_margin_per_yuan": ("ratio", f"gross margin of store promoters' valid new users {back}"),
        "promoter_gmv_per_yuan": ("ratio", f"paid GMV of store promoters' valid new users {back}"),
    }


def referral_targets_table(targets: pd.DataFrame, ap: AcquisitionParams):
    """The reward / coach list as a display table (referrer ids masked: no individual id in a PDF;
    the reward / coach file has them)."""
    from userops import charts
    from userops.outputs import mask_ids

    D = ap.referral_gmv_days
    show = mask_ids(targets).assign(
        where=targets.group_id.fillna(targets.store_id).fillna(""),
        action=targets.action.map(lambda a: _t(f"referral.action_{a}")),
    )
    cols = ["action", "referrer_id", "where", "registrations", "valid_new_users", "gmv_window", "margin_window",
            "cost_yuan", "net_margin_yuan", "margin_per_yuan"]  # fmt: skip
    names = {c: _t(f"col.ref_{c}", days=D) for c in cols}
    fmts = {names["registrations"]: "int", names["valid_new_users"]: "int", names["gmv_window"]: "yuan",
            names["margin_window"]: "yuan", names["cost_yuan"]: "yuan", names["net_margin_yuan"]: "yuan",
            names["margin_per_yuan"]: "float1"}  # fmt: skip
    caption = _t("referral.targets_caption", min=ap.referral_min_registrations)
    return charts.table_html(show[cols].rename(columns=names), fmts, caption=caption, max_rows=None)


def plot_pack(pack: pd.DataFrame, p: Period):
    """Take-up within validity of each new-user pack coupon kind issued in the month."""
    import matplotlib.pyplot as plt

    from userops import charts

    by_rate = pack.sort_values(["within_rate", "kind"])
    hi, lo = by_rate.iloc[-1], by_rate.iloc[0]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(pack) + 1.4))
    ax.barh([i18n.name("coupon_kind", k) for k in pack.kind], pack.within_rate, color=charts.ACCENT)
    for y, v in enumerate(pack.within_rate):
        ax.annotate(nv.pct(v), (v, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    charts.percent_axis(ax, "x")
    ax.invert_yaxis()
    ax.margins(x=0.15)
    if len(pack) > 1:
        title = _t("pack.title", hi=i18n.name("coupon_kind", hi.kind), hi_rate=nv.pct(hi.within_rate),
                   lo=i18n.name("coupon_kind", lo.kind), lo_rate=nv.pct(lo.within_rate))  # fmt: skip
    else:
        title = _t("pack.title_one", rate=nv.pct(hi.within_rate), kind=i18n.name("coupon_kind", hi.kind))
    charts.title(ax, title, _t("pack.subtitle", month=i18n.month(p)))
    return fig


def pack_table(pack: pd.DataFrame):
    """The new-user pack's take-up per coupon kind as a display table."""
    from userops import charts

    cols = ["kind", "face_value", "min_spend", "n_issued", "n_closed", "n_redeemed", "n_redeemed_within",
            "within_rate", "face_value_redeemed"]  # fmt: skip
    names = {c: _t(f"col.pack_{c}") for c in cols}
    kinds = {"face_value": "yuan", "min_spend": "yuan", "n_issued": "int", "n_closed": "int", "n_redeemed": "int",
             "n_redeemed_within": "int", "within_rate": "pct", "face_value_redeemed": "yuan"}  # fmt: skip
    shown = pack[cols].assign(kind=pack.kind.map(lambda k: i18n.name("coupon_kind", k)))
    return charts.table_html(shown.rename(columns=names), {names[c]: f for c, f in kinds.items()})


def hero_text(h, p: Period) -> str:
    """The sentence on hero products in the month's first orders (`h`: the 'all' row of `hero_share`)."""
    return _t(
        "hero.text",
        share=nv.pct(h.share_orders),
        month=i18n.month(p),
        n=nv.num(h.first_orders),
        value=nv.pct(h.share_value),
    )


def pack_hero_metrics(pack: pd.DataFrame | None, h) -> list[tuple]:
    """The pack take-up and hero-share metrics as (key, value, unit, definition) rows; `pack` None
    or `h` None leave theirs out."""
    rows = []
    for r in [] if pack is None else pack.itertuples():
        rows.append(
            (f"pack_takeup.{r.kind}", r.within_rate, "share",
             "share of the month's new-user coupons of this kind redeemed within validity (validity ended)")
        )  # fmt: skip
    if h is not None:
        rows += [
            ("hero_share_first_orders", h.share_orders, "share", "share of the month's first orders with a hero product"),
            ("hero_share_first_order_value", h.share_value, "share",
             "hero products' line amount / all line amounts of the month's first orders"),
        ]  # fmt: skip
    return rows


def action_metrics(act: pd.DataFrame, ap: AcquisitionParams) -> list[tuple]:
    """Channels per action of `channel_actions` as (key, value, unit, definition) rows."""
    L = ap.retention_long_days
    return [
        (f"channels_to_{kind}", int((act.action == kind).sum()), "channels",
         f"channels classed '{kind}' (cut: margin LTV/CAC < 1; scale: >= {ap.ltv_cac_scale:g} and D{L} at or above "
         "the all-channel rate; else fix)")
        for kind in ["scale", "fix", "cut"]
    ]  # fmt: skip


def referral_action_line(targets: pd.DataFrame) -> str:
    """The action line of the reward / coach list (`referral_targets`)."""
    rw, co = targets[targets.action == "reward"], targets[targets.action == "coach"]
    return _t(
        "referral.action_line",
        reward=len(rw),
        low=nv.yuan(rw.net_margin_yuan.min()),
        high=nv.yuan(rw.net_margin_yuan.max()),
        coach=len(co),
        valid=nv.num(co.valid_new_users.sum()),
        registrations=nv.num(co.registrations.sum()),
        file=i18n.name("target", "referrers"),
    )


def pack_action_line(pack: pd.DataFrame) -> str:
    """The action line on the new-user pack coupon used least within validity."""
    lo = pack.sort_values(["within_rate", "kind"]).iloc[0]
    return _t(
        "pack.action_line",
        kind=i18n.name_in_text("coupon_kind", lo.kind),
        face=nv.yuan(lo.face_value),
        min_spend=nv.yuan(lo.min_spend),
        rate=nv.pct(lo.within_rate),
    )


def header_text(params, p: Period) -> str:
    """The report's first line: chain, report month, as-of day and the offline channels."""
    offline = _names(_ch(c) for c in params.offline_channels) or i18n.t("common.none")
    return _t("header", chain=params.chain_name, month=i18n.month(p), as_of=p.as_of, offline=offline)


def referral_targets_reason(p: Period, ap: AcquisitionParams) -> str:
    """Why the reward / coach lists are empty: too few referrers with enough registrations."""
    return _t("referral.targets_why", min=ap.referral_min_registrations, span=_span(p, ap.referral_months))
