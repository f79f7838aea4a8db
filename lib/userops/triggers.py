"""Daily trigger lists a CRM can send: the rules, one contact plan across lists, sendable rows.

    run = build_triggers(con, dt.date(2026, 10, 15), params, out_root=Path("outputs/triggers"))
    write_triggers(run, Path("outputs/triggers"))

Each rule is one SQL file under sql/triggers/<rule>.sql over the warehouse as it stands after the
run date (everything before ``day_end`` = the next midnight). The contact plan then, in order:
1. drops the persistent global holdout (sql/experiments/global_holdout.sql) from every list;
2. drops users held out of any trigger list in the last ``measurement_days`` days, or of any other
   campaign still running on the send day (their holdouts stay clean), users already touched on
   the send day, and users at the weekly cap (earlier trigger touches in the 6 days before the send
   day); earlier trigger members come from the warehouse's trigger campaigns and from earlier
   runs' campaign_members.csv under the output folder;
3. keeps each user on the first list by priority (one touch a day);
4. draws each list's holdout: sha256(salt:date:list:original id) < the list's holdout share.
Rows are sent the day after the run date, at the user's usual order hour clamped into the send
window. Ids are the export's originals; the campaign id is <prefix><date>-<list>.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from userops.db import id_table, present_tables, query
from userops.experiments import pooled_effect
from userops.money import campaign_cost, margin_label, roi
from userops.outputs import atomic_write_text, original_ids
from userops.params import TRIGGER_RULES, Params

LIST_COLUMNS = [
    "user_id",
    "list",
    "channel",
    "content_key",
    "coupon_id",
    "coupon_value",
    "send_at",
    "arm",
    "reason",
    "campaign_id",
]
TS = "%Y-%m-%d %H:%M:%S"


@dataclass
class TriggerRun:
    """One day's trigger lists after the contact plan."""

    date: dt.date
    rows: pd.DataFrame  # LIST_COLUMNS, original ids, one row per user per list
    sizes: pd.DataFrame  # per list: candidates, each exclusion, treatment, holdout
    campaigns: pd.DataFrame  # contract shape of `campaigns`
    members: pd.DataFrame  # contract shape of `campaign_members`
    notices: list[str] = field(default_factory=list)


def _rule_args(rule: str, day_end: dt.datetime, p: Params) -> dict:
    t = p.triggers
    return {
        "new_user_coupon_expiring": dict(hours=t.expiry_hours, new_user_kinds=p.data.new_user_coupon_kinds),
        "repurchase_coupon_unused": dict(
            days=t.repurchase_unused_days, repurchase_kinds=p.data.repurchase_coupon_kinds
        ),
        "category_cycle_due": dict(
            lookback_days=t.cycle_lookback_days, min_gaps=t.cycle_min_gaps, lead_days=t.cycle_lead_days
        ),
        "abandoned_checkout": dict(hours=t.checkout_hours, checkout_events=t.checkout_events),
        "registered_never_ordered": dict(days=t.registered_days),
        "recall": dict(
            k_churned=p.recall.k_churned,
            churned_floor_days=p.recall.churned_floor_days,
            churned_days=p.recall.churned_days,
            min_gaps=p.recall.min_gaps,
        ),
    }[rule] | {"day_end": day_end}


def rule_lists(con, date: dt.date, p: Params) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Each configured rule's raw list (user_id, coupon_id, coupon_value, detail, reason) and notices."""
    day_end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time())
    present = present_tables(con)
    notices: list[str] = []
    lists: dict[str, pd.DataFrame] = {}
    for rule in TRIGGER_RULES:
        if rule not in p.triggers.lists:
            continue
        args = _rule_args(rule, day_end, p)
        if rule == "abandoned_checkout" and "events" not in present:
            notices.append("abandoned_checkout needs the events table (checkout events); the data has none")
            continue
        if rule in ("new_user_coupon_expiring", "repurchase_coupon_unused") and "coupons" not in present:
            notices.append(f"{rule} needs the coupons table; the data has none")
            continue
        if rule == "category_cycle_due":
            have = set(query("triggers/present_categories", con).category)
            wanted = p.triggers.cycle_categories
            missing = [c for c in wanted if c not in have]
            if missing:
                notices.append(f"cycle categories not in the data, skipped: {', '.join(missing)}")
            args["categories"] = [c for c in wanted if c in have]
            if not args["categories"]:
                notices.append("category_cycle_due needs a cycle category present in the data; none is")
                continue
        lists[rule] = query(f"triggers/{rule}", con, **args)
    return lists, notices


def _earlier_members(
    con, out_root: Path | None, send_day: dt.datetime, days: int, prefix: str
) -> pd.DataFrame:
    """Trigger campaign members assigned in the `days` days before send_day (original ids)."""
    cols = ["campaign_id", "user_id", "arm", "assigned_at", "touched_at", "is_trigger"]
    lo = send_day - dt.timedelta(days=days)
    frames = []
    if {"campaigns", "campaign_members"} <= present_tables(con):
        frames.append(query("triggers/earlier_members", con, prefix=prefix, from_ts=lo, to_ts=send_day))
    if out_root is not None:
        for i in range(1, days + 2):
            f = Path(out_root) / (send_day.date() - dt.timedelta(days=i)).isoformat() / "campaign_members.csv"
            if f.is_file():
                frames.append(
                    pd.read_csv(f, dtype={"campaign_id": str, "user_id": str}).assign(is_trigger=True)
                )
    frames = [f[cols] for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(
            {c: pd.Series(dtype="datetime64[ns]" if c.endswith("_at") else object) for c in cols}
        )
    typed = [
        f.astype({"campaign_id": str, "user_id": str, "arm": str}).assign(
            assigned_at=pd.to_datetime(f.assigned_at), touched_at=pd.to_datetime(f.touched_at)
        )
        for f in frames
    ]
    df = pd.DataFrame({c: pd.concat([f[c] for f in typed], ignore_index=True) for c in cols})
    df["is_trigger"] = df.is_trigger.astype(bool)
    df = df[((df.assigned_at >= lo) | ~df.is_trigger) & (df.assigned_at < send_day)]
    return df.drop_duplicates(["campaign_id", "user_id"]).reset_index(drop=True)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of ``frames`` (the same columns) one under the other. A column that is all missing in a
    frame (a list without coupons) is left out of that frame before the concat, so the others decide its
    type: what pandas does today, without its FutureWarning on all-NA entries."""
    cols = list(frames[0].columns)
    filled = [f.loc[:, f.notna().any()] for f in frames]
    return pd.concat(filled, ignore_index=True).reindex(columns=cols)


def _candidates(con, lists: dict[str, pd.DataFrame], p: Params) -> pd.DataFrame:
    """All rules' rows with priority and the user's original id."""
    frames = [df.assign(list=name) for name, df in lists.items() if len(df)]
    if not frames:
        return pd.DataFrame(columns=["user_id", "coupon_id", "coupon_value", "detail", "reason", "list"])
    c = _stack(frames)
    c["priority"] = c.list.map({k: v.priority for k, v in p.triggers.lists.items()})
    with id_table(con, "_trigger_users", c.user_id):
        ids = query("triggers/source_ids", con)
    c = c.merge(ids, on="user_id", how="left")
    return c


def _exclusions(
    con, c: pd.DataFrame, earlier: pd.DataFrame, send_day: dt.datetime, p: Params
) -> pd.DataFrame:
    """Flag each candidate row with the first contact-plan rule that drops it ('' = kept)."""
    t, exp = p.triggers, p.experiments
    gh = query(
        "experiments/global_holdout", con, salt=exp.global_holdout_salt, share=exp.global_holdout_share
    )
    global_hold = set(gh.user_id[gh.in_global_holdout])
    recent = (earlier.assigned_at >= send_day - dt.timedelta(days=t.measurement_days)) | ~earlier.is_trigger
    held = set(earlier.user_id[recent & (earlier.arm == "holdout")])
    touched = earlier[earlier.is_trigger & (earlier.arm == "treatment") & earlier.touched_at.notna()]
    week = touched[touched.touched_at >= send_day - dt.timedelta(days=6)]
    n_week = week.groupby("user_id").size()
    capped = set(n_week.index[n_week >= t.weekly_cap])
    today = set(touched.user_id[touched.touched_at >= send_day])
    c = c.sort_values(["source_id", "priority", "list"], kind="stable").reset_index(drop=True)
    c["dropped"] = ""
    c.loc[c.user_id.isin(global_hold), "dropped"] = "global_holdout"
    rest = c.dropped == ""
    c.loc[rest & c.source_id.isin(held), "dropped"] = "earlier_holdout"
    rest = c.dropped == ""
    c.loc[rest & c.source_id.isin(capped | today), "dropped"] = "contact_cap"
    rest = c.dropped == ""
    first = c[rest].groupby("source_id").cumcount() == 0
    c.loc[first.index[~first], "dropped"] = "overlap"
    return c


def _draw_and_send(con, plan: pd.DataFrame, date: dt.date, send_day: dt.datetime, p: Params) -> pd.DataFrame:
    """Holdout arm per (date, list, user) and send_at inside the send window."""
    t = p.triggers
    con.register("_trigger_plan", plan[["list", "source_id"]])
    try:
        scores = query("triggers/holdout_draw", con, salt=t.holdout_salt, date=date.isoformat())
    finally:
        con.unregister("_trigger_plan")
    plan = plan.merge(scores, on=["list", "source_id"], how="left")
    share = plan.list.map({k: v.holdout_share for k, v in t.lists.items()})
    plan["arm"] = (plan.score < share).map({True: "holdout", False: "treatment"})
    with id_table(con, "_trigger_users", plan.user_id):
        hours = query("triggers/usual_hour", con, day_end=send_day)
    plan = plan.merge(hours, on="user_id", how="left")
    hour = plan.usual_hour.fillna(t.default_send_hour).clip(t.send_start_hour, t.send_end_hour).astype(int)
    send_at = pd.Timestamp(send_day) + pd.to_timedelta(hour, unit="h")
    plan["send_at"] = send_at.dt.strftime(TS).where(plan.arm == "treatment", "")
    return plan


def _rows(con, plan: pd.DataFrame, date: dt.date, p: Params) -> pd.DataFrame:
    t = p.triggers
    cfg = t.lists
    plan["channel"] = plan.list.map({k: v.channel for k, v in cfg.items()})
    keys = plan.list.map({k: v.content_key for k, v in cfg.items()})
    detail = plan.detail.fillna("").astype(str)
    plan["content_key"] = [k.replace("{detail}", d) for k, d in zip(keys, detail, strict=True)]
    plan["campaign_id"] = t.campaign_prefix + date.isoformat() + "-" + plan.list
    plan["coupon_value"] = pd.to_numeric(plan.coupon_value).astype(float).round(2)
    plan["coupon_id"] = plan.coupon_id.astype("Int64")
    out = original_ids(con, plan[["coupon_id"]])
    plan["coupon_id"] = out.coupon_id.astype("string")
    plan["user_id"] = plan.source_id
    return plan[LIST_COLUMNS].sort_values(["list", "arm", "user_id"], kind="stable").reset_index(drop=True)


def _sizes(c: pd.DataFrame, rows: pd.DataFrame, p: Params) -> pd.DataFrame:
    names = [n for n in TRIGGER_RULES if n in p.triggers.lists]
    s = pd.DataFrame({"list": names})
    s["priority"] = s.list.map({k: v.priority for k, v in p.triggers.lists.items()})
    s["candidates"] = s.list.map(c.groupby("list").size()).fillna(0).astype(int)
    for reason in ("global_holdout", "earlier_holdout", "contact_cap", "overlap"):
        n = c[c.dropped == reason].groupby("list").size()
        s[reason] = s.list.map(n).fillna(0).astype(int)
    for arm in ("treatment", "holdout"):
        n = rows[rows.arm == arm].groupby("list").size()
        s[arm] = s.list.map(n).fillna(0).astype(int)
    return s.sort_values(["priority", "list"]).reset_index(drop=True)


def _contract_tables(
    rows: pd.DataFrame, send_day: dt.datetime, p: Params
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """campaigns and campaign_members in the data contract's shape (one campaign per non-empty list)."""
    t = p.triggers
    start = send_day.strftime(TS)
    end = (send_day + dt.timedelta(days=t.measurement_days)).strftime(TS)
    lists = sorted(rows.list.unique())
    camps = pd.DataFrame(
        {
            "campaign_id": [rows.campaign_id[rows.list == n].iloc[0] for n in lists],
            "kind": [t.lists[n].campaign_kind for n in lists],
            "channel": [t.lists[n].channel for n in lists],
            "started_at": start,
            "ended_at": end,
            "cost_per_touch": [round(t.lists[n].cost_per_touch, 2) for n in lists],
        }
    )
    camps.insert(1, "name", camps.campaign_id)
    members = pd.DataFrame(
        {
            "campaign_id": rows.campaign_id,
            "user_id": rows.user_id,
            "arm": rows.arm,
            "assigned_at": start,
            "touched_at": rows.send_at,
        }
    ).sort_values(["campaign_id", "user_id"], kind="stable")
    return camps, members.reset_index(drop=True)


def build_triggers(
    con,
    date: dt.date,
    p: Params,
    out_root: Path | None = None,
    monthly_root: Path | None = None,
    pseudonyms: Path | None = None,
) -> TriggerRun:
    """The day's lists after the contact plan (nothing written; see write_triggers).

    monthly_root: the monthly runs' output folder (outputs/); the lists the previous month's run
    wrote to targets/ are earlier members in the contact plan (see monthly_members), read back
    through their mappings in ``pseudonyms`` when they were written with pseudonyms.
    """
    send_day = dt.datetime.combine(date + dt.timedelta(days=1), dt.time())
    lists, notices = rule_lists(con, date, p)
    c = _candidates(con, lists, p)
    window = max(6, p.triggers.measurement_days)
    earlier = _earlier_members(con, out_root, send_day, window, p.triggers.campaign_prefix)
    monthly = monthly_members(monthly_root, send_day, pseudonyms)
    if len(monthly):
        earlier = pd.concat([earlier, monthly.astype(earlier.dtypes.to_dict())], ignore_index=True)
    if len(c):
        c = _exclusions(con, c, earlier, send_day, p)
        plan = _draw_and_send(con, c[c.dropped == ""].copy(), date, send_day, p)
        rows = _rows(con, plan, date, p)
    else:
        c = c.assign(dropped=pd.Series(dtype=str))
        rows = pd.DataFrame(columns=LIST_COLUMNS)
    camps, members = _contract_tables(rows, send_day, p)
    return TriggerRun(date, rows, _sizes(c, rows, p), camps, members, notices)


def write_triggers(run: TriggerRun, out_root: Path, pseudonyms: Path | None = None) -> list[Path]:
    """<out_root>/<date>/<list>.csv for every configured list, campaigns.csv, campaign_members.csv.

    With ``pseudonyms`` (a warehouse's pseudonym folder) the lists the CRM sends carry salted
    hashes instead of user ids, mapped back in ``<pseudonyms>/triggers-<date>/<list>.csv``;
    campaigns.csv and campaign_members.csv are the warehouse's own record of the draw (loaded back
    next month to measure each list against its holdout) and keep the export's ids.
    """
    from userops.outputs import pseudonymise

    folder = Path(out_root) / run.date.isoformat()
    paths = []
    for name in run.sizes.list:
        df = run.rows[run.rows.list == name]
        if pseudonyms is not None:
            df = pseudonymise(df, f"triggers-{run.date}", name, pseudonyms)
        paths.append(atomic_write_text(folder / f"{name}.csv", df.to_csv(index=False)))
    paths.append(atomic_write_text(folder / "campaigns.csv", run.campaigns.to_csv(index=False)))
    paths.append(atomic_write_text(folder / "campaign_members.csv", run.members.to_csv(index=False)))
    return paths


def summary(run: TriggerRun) -> str:
    """Plain-text list sizes before and after the contact plan."""
    s = run.sizes
    lines = [f"trigger lists for {run.date} (sent {run.date + dt.timedelta(days=1)}):"]
    lines.append(s.to_string(index=False))
    removed = int(s.overlap.sum())
    lines.append(
        f"{int(s.candidates.sum()):,} candidate rows -> {int(s.treatment.sum()):,} to send + "
        f"{int(s.holdout.sum()):,} held out; overlap removed by the contact plan: {removed:,} rows; "
        f"global holdout {int(s.global_holdout.sum()):,}, earlier holdouts {int(s.earlier_holdout.sum()):,}, "
        f"contact cap {int(s.contact_cap.sum()):,}"
    )
    lines += [f"notice: {n}" for n in run.notices]
    return "\n".join(lines)


def _money(g: pd.DataFrame, p: Params) -> dict:
    """Incremental orders, paid GMV and gross margin with user-bootstrap intervals; cost; ROI on margin.

    Increments = sum over the list's campaigns of (treatment mean - holdout mean) x treated members
    (recall.campaign_increments: one user-resampling bootstrap, a user's rows share a weight); cost =
    touches x cost per touch + params experiments.campaign_fixed_cost per campaign (userops.money).
    """
    from userops.recall import INCREMENT_VALUES, _quantile, campaign_increments

    exp = p.experiments
    est, boot = campaign_increments(g, exp.bootstrap_draws, exp.bootstrap_seed)
    both = g.groupby("campaign_id").arm.agg(lambda a: {"treatment", "holdout"} <= set(a))
    ids = [i for i, c in enumerate(est.campaign_id) if both[c]]
    touches = g[(g.arm == "treatment") & g.is_touched].groupby("campaign_id").size()
    cpt = g.groupby("campaign_id").cost_per_touch.first().astype(float)
    cost = sum(
        campaign_cost(int(touches.get(c, 0)), float(cpt[c]), exp.campaign_fixed_cost) or 0.0
        for c in cpt.index
    )
    a = (1 - exp.ci_level) / 2
    out = {"cost": round(cost, 2)}
    for v in INCREMENT_VALUES:
        draws = boot[v][:, ids].sum(axis=1) if ids else np.array([np.nan])
        est_v = float(est[v].to_numpy()[ids].sum()) if ids else None
        out[f"incremental_{v}"] = est_v
        out[f"incremental_{v}_low"] = _quantile(draws, a) if ids else None
        out[f"incremental_{v}_high"] = _quantile(draws, 1 - a) if ids else None
    m = out["incremental_margin"]
    out["roi"] = roi(m, cost)
    out["roi_low"] = roi(out["incremental_margin_low"], cost)
    out["roi_high"] = roi(out["incremental_margin_high"], cost)
    for k in ("incremental_gmv", "incremental_gmv_low", "incremental_gmv_high", "incremental_margin"):
        out[k] = None if out[k] is None else round(out[k], 2)
    return out


def measure_triggers(con, p: Params, as_of: dt.date, window_from: dt.date | None = None) -> pd.DataFrame:
    """Each trigger list's effect against its own holdout, over the trigger campaigns in the warehouse.

    One row per list: campaigns, members per arm, order rates, the Mantel-Haenszel difference
    pooled over the list's campaigns (strata) with a user-bootstrap interval
    (experiments.pooled_effect), incremental orders, paid GMV and gross margin with user-bootstrap
    intervals (see _money), campaign cost, ROI on margin with its interval (userops.money) and the
    margin basis. Campaigns whose measurement_days window is not over by as_of are left out; with
    window_from, so are those whose window ended before it (a monthly report: windows ending in the month).
    """
    exp, t = p.experiments, p.triggers
    df = query(
        "triggers/trigger_outcomes",
        con,
        prefix=t.campaign_prefix,
        window_days=t.measurement_days,
        as_of=as_of,
        assumed_margin_rate=exp.assumed_margin_rate,
    )
    if window_from is not None:
        ends = pd.to_datetime(df.assigned_at) + pd.Timedelta(days=t.measurement_days)
        df = df[ends >= pd.Timestamp(window_from)]
    rows = []
    for name, g in df.groupby("list", sort=True):
        eff = pooled_effect(
            g.rename(columns={"campaign_id": "stratum", "ordered": "outcome"}),
            level=exp.ci_level,
            draws=exp.bootstrap_draws,
            seed=exp.bootstrap_seed,
        ).effect
        t_arm, h_arm = g[g.arm == "treatment"], g[g.arm == "holdout"]
        measured = eff.n_strata > 0
        money = _money(g, p)
        if not measured:
            money = {k: (v if k == "cost" else None) for k, v in money.items()}
        rows.append(
            dict(
                list=name,
                campaigns=g.campaign_id.nunique(),
                treatment=len(t_arm),
                holdout=len(h_arm),
                rate_treatment=t_arm.ordered.mean() if len(t_arm) else None,
                rate_holdout=h_arm.ordered.mean() if len(h_arm) else None,
                diff=eff.diff if measured else None,
                ci_low=eff.ci_low if measured else None,
                ci_high=eff.ci_high if measured else None,
                **money,
                margin_basis=margin_label(exp.assumed_margin_rate if g.assumed_orders.sum() else None),
                reason="" if measured else "needs a campaign with both a treatment and a holdout arm",
            )
        )
    return pd.DataFrame(rows)


def effects_text(m: pd.DataFrame, p: Params) -> str:
    """The month's trigger lists against their own holdouts, as one paragraph (reader-facing, report
    language: lib/userops/i18n/<lang>/triggers.yaml)."""
    from userops import i18n
    from userops import narrative as nv

    def t(key: str, **fields) -> str:
        return i18n.t(f"triggers_report.{key}", **fields)

    measured = m[m["diff"].notna()]
    lines = []
    for r in measured.itertuples():
        verdict = t("lift") if r.ci_low > 0 else (t("loss") if r.ci_high < 0 else t("none"))
        if r.roi is None or pd.isna(r.roi):
            roi_part = t("roi_free")
        else:
            roi_part = t("roi", roi=nv.num(r.roi, 1), ci=nv.ci(r.roi_low, r.roi_high, lambda x: nv.num(x, 1)))
        lines.append(
            t(
                "line",
                list=list_name(r.list),
                rate_t=nv.pct(r.rate_treatment),
                n_t=nv.num(r.treatment),
                days=p.triggers.measurement_days,
                rate_h=nv.pct(r.rate_holdout),
                n_h=nv.num(r.holdout),
                diff=nv.pp(r.diff),
                ci=nv.ci(r.ci_low, r.ci_high, nv.pp),
                verdict=verdict,
                orders=nv.num(r.incremental_orders, 1),
                margin=nv.yuan(r.incremental_margin),
                margin_ci=nv.ci(r.incremental_margin_low, r.incremental_margin_high, nv.yuan),
                cost=nv.yuan(r.cost, 2),
                roi=roi_part,
            )
        )
    unmeasured = m[m["diff"].isna()]
    if len(unmeasured):
        names = i18n.t("common.list_sep").join(list_name(n) for n in unmeasured.list)
        lines.append(t("unmeasured", names=names))
    head = t("head", basis=nv.margin_basis(m.margin_basis.iloc[0]))
    return "\n".join([head, ""] + [f"- {x}" for x in lines])


def list_name(rule: str) -> str:
    """A trigger list's name in the report language (never the code name; a chain's own rule as written)."""
    from userops import i18n

    try:
        return i18n.t(f"triggers_report.list.{rule}")
    except i18n.MissingTranslation:
        return display_name(rule)


DISPLAY_NAMES = {
    "new_user_coupon_expiring": "new-user coupon expiring",
    "repurchase_coupon_unused": "repurchase coupon unused",
    "category_cycle_due": "category cycle due",
    "abandoned_checkout": "abandoned checkout",
    "registered_never_ordered": "registered, never ordered",
    "recall": "recall",
}


def display_name(rule: str) -> str:
    """A trigger list's reader-facing name (never the code name)."""
    return DISPLAY_NAMES.get(rule, rule.replace("_", " "))


# The monthly notebooks' contact lists (targets/<name>.csv) and their place in the one contact plan:
# the same priorities as the daily lists they duplicate (new-user coupon expiring, category cycle
# due, recall). A user is on at most one of them, never on one while held out of another list.
MONTHLY_LISTS = {"expiring_coupons": 1, "category_reminders": 4, "recall": 6}
# the play (notebook) writing each monthly list: a play starts after the plays writing the lists of
# higher priority (the runner's lanes, userops.lanes.play_order), whose users its list leaves out
MONTHLY_LIST_PLAYS = {
    "expiring_coupons": "02_new_user_retention",
    "category_reminders": "03_active_incentives",
    "recall": "04_churn_recall",
}


def _prev_month_start(day: dt.date) -> dt.date:
    first = day.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def monthly_members(
    monthly_root: Path | None, send_day: dt.datetime, pseudonyms: Path | None = None
) -> pd.DataFrame:
    """The monthly lists in force on send_day: outputs/<previous month>/targets/<list>.csv.

    The monthly run for month M draws its lists at M's end and sends them from M+1's first day, so
    in M+1 they are earlier members: holdout rows (is_trigger False) keep every daily list off the
    user for the whole month; treated rows (is_trigger True, touched on M+1's first day) count
    towards the daily and weekly caps. Original ids, the shape of _earlier_members (lists written
    with pseudonyms are read back through their mapping in ``pseudonyms``).
    """
    from userops.outputs import listed_user_ids

    cols = ["campaign_id", "user_id", "arm", "assigned_at", "touched_at", "is_trigger"]
    if monthly_root is None:
        return pd.DataFrame(columns=cols)
    month = _prev_month_start(send_day.date())
    folder = Path(monthly_root) / month.strftime("%Y-%m") / "targets"
    start = pd.Timestamp(send_day.date().replace(day=1))
    frames = []
    for name in MONTHLY_LISTS:
        f = folder / f"{name}.csv"
        if not f.is_file():
            continue
        df = pd.read_csv(f, dtype={"user_id": str}, usecols=lambda c: c in ("user_id", "arm"))
        if "arm" not in df.columns:
            continue
        df["user_id"] = listed_user_ids(f, f"{month:%Y-%m}", pseudonyms).to_numpy()
        df = df.drop_duplicates("user_id")
        treated = df.arm == "treatment"
        frames.append(
            pd.DataFrame(
                {
                    "campaign_id": f"monthly-{month:%Y-%m}-{name}",
                    "user_id": df.user_id,
                    "arm": df.arm,
                    "assigned_at": start - pd.Timedelta(days=1),
                    "touched_at": pd.Series(start, index=df.index).where(treated),
                    "is_trigger": treated,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def monthly_plan(con, p: Params, name: str, df: pd.DataFrame, send_day: dt.date, out_dir: Path | None):
    """A monthly list after the one contact plan: (kept rows, source ids left out).

    Left out: users on a monthly list of a higher priority written in this run (out_dir/targets,
    either arm: one touch per window, and no list's holdout is touched by another), users held out
    of a daily trigger list in the measurement_days before send_day or of any other campaign
    still running then, and users the daily lists touched weekly_cap times in the 6 days before
    send_day (the warehouse and out_dir/../triggers day folders, as for the daily lists).
    df.user_id are warehouse keys; the arms drawn before are kept (the rule ignores them).
    """
    from userops.outputs import listed_user_ids, original_ids

    t = p.triggers
    day = dt.datetime.combine(send_day, dt.time())
    trig_root = Path(out_dir).parent / "triggers" if out_dir else None
    earlier = _earlier_members(con, trig_root, day, max(6, t.measurement_days), t.campaign_prefix)
    recent = (earlier.assigned_at >= day - dt.timedelta(days=t.measurement_days)) | ~earlier.is_trigger
    out = set(earlier.user_id[recent & (earlier.arm == "holdout")].astype(str))
    touched = earlier[earlier.is_trigger & (earlier.arm == "treatment") & earlier.touched_at.notna()]
    n_week = touched[touched.touched_at >= day - dt.timedelta(days=6)].groupby("user_id").size()
    out |= set(n_week.index[n_week >= t.weekly_cap].astype(str))  # at the weekly cap already
    for other, prio in MONTHLY_LISTS.items():
        f = Path(out_dir or "") / "targets" / f"{other}.csv"
        if out_dir and prio < MONTHLY_LISTS.get(name, 99) and f.is_file():
            out |= set(listed_user_ids(f, _prev_month_start(send_day).strftime("%Y-%m")))
    src = original_ids(con, df[["user_id"]]).user_id.astype(str)
    left = src.isin(out)
    kept = df[~left.to_numpy()].copy()
    kept.attrs = dict(df.attrs)
    return kept, set(src[left])
