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
from scipy.stats import norm

from userops import clv
from userops.db import query
from userops.params import AcquisitionParams
from userops.period import Period
from userops.stats import proportion_ci


def _z(level: float) -> float:
    return float(norm.ppf(1 - (1 - level) / 2))


def _window(p: Period, months: int) -> tuple[dt.date, dt.date]:
    """The trailing `months` months ending with the report month: (first day, end exclusive)."""
    return p.shift(-(months - 1)).start, p.end


def _rate_ci(df: pd.DataFrame, x: str, n: str, name: str, level: float) -> pd.DataFrame:
    """Add `name` = x / n (NaN when n = 0) and its Wilson interval `name_low` / `name_high`."""
    out = df.copy()
    out[name] = out[x] / out[n].where(out[n] > 0)
    cis = [proportion_ci(int(a), int(b), level) for a, b in zip(out[x], out[n], strict=True)]
    out[f"{name}_low"] = [c[0] for c in cis]
    out[f"{name}_high"] = [c[1] for c in cis]
    return out


# --------------------------------------------------------------------------- volume


def volume(con, p: Period, ap: AcquisitionParams, offline_channels: list[str]) -> pd.DataFrame:
    """Registrations, new users (first order) and N-day conversion counts per month x channel."""
    start, end = _window(p, ap.volume_months)
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


def online_offline(vol: pd.DataFrame) -> pd.DataFrame:
    """Registrations and new users per month, online vs offline (one row per month x side)."""
    v = vol.assign(side=np.where(vol.is_offline, "offline", "online"))
    return v.groupby(["month", "side"], as_index=False)[["registrations", "new_users"]].sum()


# --------------------------------------------------------------------------- CAC


def cac(con, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """CAC per channel over the trailing `cac_months`: spend + commission + coupon pack, per new user.

    Adds an 'all' row (costs and users summed).
    """
    start, end = _window(p, ap.cac_months)
    df = query(
        "acquisition/cac",
        con,
        from_date=start,
        to_date=end,
        commission_group_leader=ap.commission_group_leader,
        commission_store_promoter=ap.commission_store_promoter,
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
    total = pd.DataFrame([{"channel": "all", **df[sums].sum()}])
    out = pd.concat([df, total], ignore_index=True)
    users = out["new_users"].where(out["new_users"] > 0)
    out["cac_yuan"] = out["cost_yuan"] / users
    out["cac_ex_pack_yuan"] = (out["spend_yuan"] + out["commission_yuan"]) / users
    out["spend_per_registration_yuan"] = out["spend_yuan"] / out["registrations"].where(
        out["registrations"] > 0
    )
    for c in ["spend", "commission", "pack_cost"]:
        out[f"{c}_per_user_yuan"] = out[f"{c}_yuan"] / users
    return out


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
    """Per channel x month k: cumulative GMV and margin per acquired user, mature cohorts only.

    At each k only cohorts that have completed month k are pooled (users-weighted), so a young
    cohort never pulls a curve down; `n_cohorts` = 0 marks a point that cannot be shown yet.
    `margin_per_user` is NaN when any pooled cohort lacks margin data.
    """
    m = cohorts[cohorts.is_mature & (cohorts.cohort_users > 0)].copy()
    m["margin_known"] = m["cum_margin"].notna()
    g = m.groupby(["channel", "month_k"]).agg(
        users=("cohort_users", "sum"),
        cum_gmv=("cum_gmv", "sum"),
        cum_margin=("cum_margin", "sum"),
        n_cohorts=("cohort_month", "nunique"),
        margin_known=("margin_known", "all"),
    )
    spine = pd.MultiIndex.from_product(
        [sorted(cohorts.channel.unique()), sorted(cohorts.month_k.unique())], names=["channel", "month_k"]
    )
    g = g.reindex(spine).reset_index()
    g["n_cohorts"] = g["n_cohorts"].fillna(0).astype(int)
    g["users"] = g["users"].fillna(0).astype(int)
    g["gmv_per_user"] = g["cum_gmv"] / g["users"].where(g["users"] > 0)
    known = g["margin_known"].eq(True)  # NaN after the reindex (nothing pooled) -> False
    g["margin_per_user"] = (g["cum_margin"] / g["users"].where(g["users"] > 0)).where(known)
    return g[["channel", "month_k", "users", "n_cohorts", "gmv_per_user", "margin_per_user"]]


# --------------------------------------------------------------------------- predicted LTV (BG/NBD + GG)


def rfm(con, from_date: dt.date, to_date: dt.date, cal_end: dt.date, holdout_end: dt.date, horizon_days: int):
    """Per-customer model input (sql/acquisition/rfm_summary.sql)."""
    return query(
        "acquisition/rfm_summary",
        con,
        from_date=from_date,
        to_date=to_date,
        cal_end=cal_end,
        holdout_end=holdout_end,
        horizon_days=horizon_days,
    )


@dataclass(frozen=True)
class ChannelModel:
    channel: str
    bg: clv.BetaGeo
    gg: clv.GammaGamma | None  # None when too few repeat customers: population mean spend used


def fit_channels(df: pd.DataFrame) -> dict[str, ChannelModel]:
    """One BG/NBD and one Gamma-Gamma fit per acquisition channel (maximum likelihood)."""
    models = {}
    for ch, g in df.groupby("channel"):
        bg = clv.fit_bgnbd(g.frequency, g.recency, g["T"])
        rep = g[(g.frequency > 0) & (g.monetary > 0)]
        gg = clv.fit_gamma_gamma(rep.frequency, rep.monetary) if len(rep) >= 20 else None
        models[str(ch)] = ChannelModel(str(ch), bg, gg)
    return models


def _spend(model: ChannelModel, g: pd.DataFrame) -> np.ndarray:
    if model.gg is not None:
        return model.gg.expected_spend(g.frequency, g.monetary)
    rep = g[g.frequency > 0]
    mean = float(rep.monetary.mean()) if len(rep) else float(g.first_gmv.mean())
    return np.full(len(g), mean)


def holdout_check(con, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """Honest validation: fit per channel on data before the last `ltv_holdout_days` days of the
    report period, predict each customer's purchase days and GMV in the held-out days, compare.

    Customers: first order before the calibration end. One row per channel plus 'all':
    customers, predicted / actual purchase days and GMV, error = predicted / actual - 1.
    """
    cal_end = p.end - dt.timedelta(days=ap.ltv_holdout_days)
    df = rfm(con, dt.date(1900, 1, 1), cal_end, cal_end, p.end, 366 * 50)
    models = fit_channels(df)
    rows = []
    for ch, g in df.groupby("channel"):
        m = models[str(ch)]
        pred_days = m.bg.expected_purchases(ap.ltv_holdout_days, g.frequency, g.recency, g["T"])
        rows.append(
            {
                "channel": ch,
                "customers": len(g),
                "pred_days": float(pred_days.sum()),
                "actual_days": int(g.holdout_days.sum()),
                "pred_gmv": float((pred_days * _spend(m, g)).sum()),
                "actual_gmv": float(g.holdout_gmv.sum()),
            }
        )
    out = pd.DataFrame(rows)
    total = pd.DataFrame([{"channel": "all", **out.drop(columns="channel").sum()}])
    out = pd.concat([out, total], ignore_index=True)
    out["error_days"] = out["pred_days"] / out["actual_days"].where(out["actual_days"] > 0) - 1
    out["error_gmv"] = out["pred_gmv"] / out["actual_gmv"].where(out["actual_gmv"] > 0) - 1
    out.attrs["cal_end"] = cal_end
    return out


def predicted_ltv(con, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """Predicted `ltv_horizon_months`-month LTV per acquired user, per channel.

    Customers: first orders in the trailing `ltv_horizon_months` months. For each customer,
    LTV = GMV observed so far within the horizon + the model's expected GMV for the rest of the
    horizon (expected purchase days in (T, H] x expected spend per day), H = horizon in days
    (months x 365/12). Fit per channel on the customers' full history up to the month end.
    Margin LTV = revenue LTV x the channel's observed margin / GMV ratio.
    """
    horizon_days = round(ap.ltv_horizon_months * 365 / 12)
    start, end = _window(p, ap.ltv_horizon_months)
    df = rfm(con, start, end, p.end, p.end, horizon_days)
    models = fit_channels(df)
    rows = []
    for ch, g in df.groupby("channel"):
        m = models[str(ch)]
        remaining = np.clip(horizon_days - g["T"].to_numpy(), 0, None)
        future_days = m.bg.expected_purchases(remaining, g.frequency, g.recency, g["T"])
        future_gmv = future_days * _spend(m, g)
        observed = g.gmv_horizon.to_numpy()
        ltv = observed + future_gmv
        margin_known = g.margin_horizon.notna().all()
        ratio = float(g.margin_horizon.sum() / g.gmv_horizon.sum()) if margin_known else float("nan")
        rows.append(
            {
                "channel": ch,
                "customers": len(g),
                "observed_per_user": float(observed.mean()),
                "ltv_revenue": float(ltv.mean()),
                "ltv_revenue_low": float(ltv.mean() - _z(ap.ci_level) * ltv.std(ddof=1) / np.sqrt(len(g))),
                "ltv_revenue_high": float(ltv.mean() + _z(ap.ci_level) * ltv.std(ddof=1) / np.sqrt(len(g))),
                "margin_ratio": ratio,
                "ltv_margin": float(ltv.mean()) * ratio,
                "r": m.bg.r,
                "alpha": m.bg.alpha,
                "a": m.bg.a,
                "b": m.bg.b,
                "mean_spend": m.gg.mean_spend if m.gg is not None else float("nan"),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["horizon_days"] = horizon_days
    return out


def ltv_cac(pred: pd.DataFrame, cost: pd.DataFrame) -> pd.DataFrame:
    """LTV/CAC per channel: margin LTV / CAC without the coupon pack (the pack's discounts are
    already netted out of the margin, so counting them in CAC too would count them twice), and
    revenue LTV / full CAC for reference. Sorted by the margin ratio, best first."""
    c = cost[cost.channel != "all"].set_index("channel")
    out = pred.set_index("channel")[["customers", "ltv_revenue", "ltv_margin"]].join(
        c[["new_users", "cac_yuan", "cac_ex_pack_yuan"]], how="left"
    )
    out["ltv_cac_margin"] = out["ltv_margin"] / out["cac_ex_pack_yuan"].where(out["cac_ex_pack_yuan"] > 0)
    out["ltv_cac_revenue"] = out["ltv_revenue"] / out["cac_yuan"].where(out["cac_yuan"] > 0)
    out = out.reset_index().sort_values(["ltv_cac_margin", "channel"], ascending=[False, True])
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- referral economics


def referrers(con, p: Period, ap: AcquisitionParams) -> pd.DataFrame:
    """Per referrer over the trailing `referral_months` registration months (sql/acquisition/referrers.sql).

    Adds valid_rate = valid / registrations and gmv_per_valid.
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
    )
    df["valid_rate"] = df["valid_new_users"] / df["registrations"].where(df["registrations"] > 0)
    df["gmv_per_valid"] = df["gmv_window"] / df["valid_new_users"].where(df["valid_new_users"] > 0)
    return df


def groups(ref: pd.DataFrame) -> pd.DataFrame:
    """Per WeChat group: leaders, active leaders (>= 1 valid new user), valid new users per leader,
    GMV, referral costs and community ROI = GMV / (commissions + coupon pack). Sorted by ROI."""
    gl = ref[ref.kind == "group_leader"]
    g = gl.groupby("group_id", as_index=False).agg(
        leaders=("referrer_id", "size"),
        active_leaders=("valid_new_users", lambda s: int((s > 0).sum())),
        registrations=("registrations", "sum"),
        valid_new_users=("valid_new_users", "sum"),
        gmv_window=("gmv_window", "sum"),
        cost_yuan=("cost_yuan", "sum"),
    )
    g["valid_per_leader"] = g["valid_new_users"] / g["leaders"]
    g["roi"] = g["gmv_window"] / g["cost_yuan"].where(g["cost_yuan"] > 0)
    return g.sort_values(["roi", "group_id"], ascending=[False, True]).reset_index(drop=True)


def referral_targets(ref: pd.DataFrame, ap: AcquisitionParams) -> pd.DataFrame:
    """Referrers to reward and to coach, among those with at least `referral_min_registrations`
    referred registrations.

    reward: the top `referral_top_n` by net contribution = GMV of their valid new users in the
    window - referral cost (commissions + coupon pack); coach: of the others, the
    `referral_top_n` whose referred registrations convert least (valid_rate, then more
    registrations first). Columns for the CRM file: referrer_id, kind, group_id, store_id, action,
    registrations, valid_new_users, valid_rate, gmv_window, cost_yuan, net_yuan, roi.
    """
    ranked = ref[ref.registrations >= ap.referral_min_registrations].copy()
    ranked["net_yuan"] = ranked["gmv_window"] - ranked["cost_yuan"]
    n = min(ap.referral_top_n, len(ranked) // 2)
    top = (
        ranked.sort_values(["net_yuan", "referrer_id"], ascending=[False, True])
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
        "cost_yuan",
        "net_yuan",
        "roi",
    ]
    return pd.concat([top, bottom.assign(action="coach")], ignore_index=True)[cols]


# --------------------------------------------------------------------------- coupon pack and hero products


def pack_takeup(con, p: Period) -> pd.DataFrame:
    """New-user pack coupons issued in the report month: issued, redeemed, redeemed within validity."""
    df = query("acquisition/pack_takeup", con, from_date=p.start, to_date=p.end, as_of=p.as_of)
    closed = df["n_closed"].where(df["n_closed"] > 0)
    df["redeemed_rate"] = df["n_redeemed"] / closed
    df["within_rate"] = df["n_redeemed_within"] / closed
    return df


def hero_share(con, p: Period) -> pd.DataFrame:
    """Hero products in the report month's first orders, per channel and 'all'."""
    df = query("acquisition/hero_first_orders", con, from_date=p.start, to_date=p.end)
    total = pd.DataFrame([{"channel": "all", **df.drop(columns="channel").sum()}])
    out = pd.concat([df, total], ignore_index=True)
    out["share_orders"] = out["with_hero"] / out["first_orders"].where(out["first_orders"] > 0)
    out["share_value"] = out["hero_amount"] / out["lines_amount"].where(out["lines_amount"] > 0)
    return out


# --------------------------------------------------------------------------- actions


def channel_actions(ratio: pd.DataFrame, qual: pd.DataFrame, ap: AcquisitionParams) -> pd.DataFrame:
    """Scale / fix / cut per channel from margin LTV/CAC and quality.

    cut: LTV/CAC < 1 (the channel loses money on margin over the horizon);
    scale: LTV/CAC >= `ltv_cac_scale` and D-long retention at or above the all-channel rate;
    fix: everything else; `fix_quality` tells whether retention is below the all-channel rate.
    """
    q = qual.set_index("channel")[["d_long", "quality_rank"]]
    all_long = float(qual["retained_long"].sum() / qual["eligible_long"].sum())
    out = ratio.join(q, on="channel")
    out["d_long_all"] = all_long
    out["fix_quality"] = out["d_long"] < all_long
    out["action"] = np.select(
        [out["ltv_cac_margin"] < 1, (out["ltv_cac_margin"] >= ap.ltv_cac_scale) & ~out["fix_quality"]],
        ["cut", "scale"],
        default="fix",
    )
    return out
