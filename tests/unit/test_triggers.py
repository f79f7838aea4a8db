"""Daily trigger lists (userops.triggers): each rule on hand rows, the contact plan, sendable rows.

Run date D = 2026-10-15; the lists read the data before day_end = 2026-10-16 00:00 and are sent on
2026-10-16. Ids are text (u01, o01, c101) so the output must carry the export's own ids.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from userops import i18n
from userops import triggers as tr
from userops.contract import CAMPAIGN_KINDS, TABLES
from userops.db import connect
from userops.experiments import global_holdout_score
from userops.outputs import Report, original_ids
from userops.params import Params
from userops.testing import order_row
from userops.triggers import (
    build_triggers,
    effects_text,
    measure_triggers,
    monthly_members,
    monthly_plan,
    rule_lists,
    write_triggers,
)

D = dt.date(2026, 10, 15)


def _user(uid, registered="2026-09-01 10:00:00"):
    return dict(user_id=uid, registered_at=registered, channel="app")


def _coupon(cid, uid, kind, issued, expires, value=5):
    return dict(
        coupon_id=cid,
        user_id=uid,
        kind=kind,
        issued_at=issued,
        expires_at=expires,
        face_value=value,
        min_spend=0,
    )


_n = iter(range(1, 1000))


def _o(uid, ts, coupon_id=None, product=None):
    """An order (and its line when a product is given)."""
    oid = f"o{next(_n):03d}"
    line = dict(order_id=oid, product_id=product, quantity=1, amount=20) if product else None
    return order_row(oid, uid, ts, coupon_id=coupon_id), line


def _tables() -> dict[str, list[dict]]:
    users = [_user(f"u{i:02d}") for i in range(1, 22)]
    for u in users:  # registered exactly 3 days before D: u09, u10, u21; 4 days: u11
        if u["user_id"] in ("u09", "u10", "u21"):
            u["registered_at"] = "2026-10-12 09:00:00"
        if u["user_id"] == "u11":
            u["registered_at"] = "2026-10-11 09:00:00"
    coupons = [
        # new-user coupons; day_end + 48 h = 2026-10-18 00:00
        _coupon("c101", "u01", "new_user_small", "2026-10-10 08:00:00", "2026-10-17 23:00:00"),  # 47 h: in
        _coupon("c102", "u02", "new_user_small", "2026-10-10 08:00:00", "2026-10-18 01:00:00"),  # 49 h: out
        _coupon(
            "c103", "u03", "new_user_aov", "2026-10-09 08:00:00", "2026-10-16 10:00:00"
        ),  # 10 h: listed on D-1
        _coupon(
            "c104", "u04", "new_user_mid", "2026-10-10 08:00:00", "2026-10-17 20:00:00"
        ),  # redeemed on D: out
        _coupon(
            "c105", "u05", "repurchase", "2026-10-03 08:00:00", "2026-10-17 20:00:00"
        ),  # not a new-user kind
        _coupon("c121", "u21", "new_user_mid", "2026-10-12 09:00:00", "2026-10-17 22:00:00"),  # 46 h: in
        # repurchase coupons; D - 3 = 2026-10-12
        _coupon(
            "c106", "u06", "repurchase", "2026-10-12 09:00:00", "2026-10-26 09:00:00"
        ),  # unused 3 days: in
        _coupon("c107", "u07", "repurchase", "2026-10-11 09:00:00", "2026-10-25 09:00:00"),  # 4 days: out
        _coupon("c108", "u08", "repurchase", "2026-10-12 09:00:00", "2026-10-26 09:00:00"),  # redeemed: out
    ]
    mb, daily = "P1", "P2"
    raw = [
        _o("u04", "2026-10-15 12:00:00", coupon_id="c104"),
        _o("u08", "2026-10-14 12:00:00", coupon_id="c108"),
        _o("u10", "2026-10-13 12:00:00"),  # registered D-3 but ordered: out
        _o("u13", "2026-10-15 11:00:00"),  # an order 1 h after the checkout: out
        # u01 orders at 14h twice, 09h once: usual hour 14
        _o("u01", "2026-10-01 14:05:00"),
        _o("u01", "2026-10-05 14:50:00"),
        _o("u01", "2026-10-10 09:00:00"),
        # recall: u15 gaps 10, 10 (personal: max(4 x 10, 30) = 40 days), last 2026-09-05, recency 40: in
        _o("u15", "2026-08-16 14:00:00"),
        _o("u15", "2026-08-26 14:00:00"),
        _o("u15", "2026-09-05 14:00:00"),
        # u16: same gaps one day later, recency 39: out
        _o("u16", "2026-08-17 14:00:00"),
        _o("u16", "2026-08-27 14:00:00"),
        _o("u16", "2026-09-06 14:00:00"),
        # u17: one order 60 days before D (global churned_days 60): in
        _o("u17", "2026-08-16 14:00:00"),
        # cycle: u18 mother_baby gaps 9, 9, 9 (own cycle 9), last 10-09 -> due 10-18 = D + 3: in; orders at 06:30
        _o("u18", "2026-09-12 06:30:00", product=mb),
        _o("u18", "2026-09-21 06:30:00", product=mb),
        _o("u18", "2026-09-30 06:30:00", product=mb),
        _o("u18", "2026-10-09 06:30:00", product=mb),
        # u19 mother_baby one gap (7): category median of [9, 9, 9, 7] = 9, last 10-09 -> due 10-18: in; 23h
        _o("u19", "2026-10-02 23:10:00", product=mb),
        _o("u19", "2026-10-09 23:40:00", product=mb),
        # u20 daily gaps 9, 9, 10 (median 9), last 10-10 -> due 10-19 = D + 4: out
        _o("u20", "2026-09-12 12:00:00", product=daily),
        _o("u20", "2026-09-21 12:00:00", product=daily),
        _o("u20", "2026-09-30 12:00:00", product=daily),
        _o("u20", "2026-10-10 12:00:00", product=daily),
    ]
    events = [
        # abandoned checkout, 4 h: checkouts in [2026-10-14 20:00, 2026-10-15 20:00) without an order since
        dict(user_id="u12", ts="2026-10-15 10:00:00", event="checkout_start"),  # in
        dict(user_id="u13", ts="2026-10-15 10:00:00", event="checkout_start"),  # ordered 11:00: out
        dict(user_id="u14", ts="2026-10-15 21:00:00", event="checkout_start"),  # window not closed: out
        dict(user_id="u21", ts="2026-10-15 09:00:00", event="checkout_start"),  # in
        dict(user_id="u12", ts="2026-10-15 09:00:00", event="add_cart"),  # not a checkout
    ]
    products = [
        dict(product_id="P1", name="奶粉", category="mother_baby", price=20, is_hero=False),
        dict(product_id="P2", name="纸巾", category="daily", price=20, is_hero=False),
    ]
    campaigns = [
        dict(
            campaign_id=f"trg-2026-10-1{d}-recall",
            name=f"trg-2026-10-1{d}-recall",
            kind="recall",
            channel="sms",
            started_at=f"2026-10-1{d + 1} 00:00:00",
            ended_at="2026-10-20 00:00:00",
            cost_per_touch=0.05,
        )
        for d in (2, 3)
    ]
    members = [  # u15 touched on 10-13 and 10-14: at the weekly cap of 2
        dict(
            campaign_id=f"trg-2026-10-1{d}-recall",
            user_id="u15",
            arm="treatment",
            assigned_at=f"2026-10-1{d + 1} 00:00:00",
            touched_at=f"2026-10-1{d + 1} 10:00:00",
        )
        for d in (2, 3)
    ]
    return dict(
        users=users,
        orders=[o for o, _ in raw],
        order_items=[line for _, line in raw if line],
        products=products,
        coupons=coupons,
        events=events,
        campaigns=campaigns,
        campaign_members=members,
    )


def _params(global_share=0.0, list_share=1e-9, **triggers) -> Params:
    base = Params().model_dump()
    base["experiments"]["global_holdout_share"] = global_share
    base["triggers"]["cycle_categories"] = ["mother_baby", "daily", "pets"]
    for v in base["triggers"]["lists"].values():
        v["holdout_share"] = list_share
    base["triggers"].update(triggers)
    return Params.model_validate(base)


@pytest.fixture
def wh(make_warehouse):
    return make_warehouse(_tables())


def _ids(con, df) -> list[str]:
    return sorted(original_ids(con, df[["user_id"]]).user_id)


def test_each_rule_lists_exactly_the_hand_rows(wh):
    with connect(wh) as con:
        lists, notices = rule_lists(con, D, _params())
        got = {name: _ids(con, df) for name, df in lists.items()}
        coupons = original_ids(con, lists["new_user_coupon_expiring"][["user_id", "coupon_id"]])
    assert got == {
        "new_user_coupon_expiring": ["u01", "u21"],  # 47 h and 46 h; not 49 h, 10 h (yesterday), redeemed
        "repurchase_coupon_unused": ["u06"],  # issued exactly D-3, unused
        "category_cycle_due": ["u18", "u19"],  # own cycle 9 / category median 9, due D+3
        "abandoned_checkout": ["u12", "u21"],  # u13 ordered after the checkout, u14's window is open
        "registered_never_ordered": ["u09", "u21"],  # u10 ordered, u11 registered 4 days ago
        "recall": ["u15", "u17"],  # personal 40 days reached; global 60 days reached
    }
    assert dict(zip(coupons.user_id, coupons.coupon_id, strict=True)) == {"u01": "c101", "u21": "c121"}
    assert notices == ["cycle categories not in the data, skipped: pets"]


def test_contact_plan_priority_cap_and_earlier_holdout(wh, tmp_path):
    out = tmp_path / "triggers"
    # an earlier run held u17 out of its abandoned-checkout list 3 days ago: no list may touch u17
    pd.DataFrame(
        [dict(campaign_id="trg-2026-10-12-abandoned_checkout", user_id="u17", arm="holdout",
              assigned_at="2026-10-13 00:00:00", touched_at="")]
    ).to_csv((out / "2026-10-12").mkdir(parents=True) or out / "2026-10-12" / "campaign_members.csv", index=False)  # fmt: skip
    with connect(wh) as con:
        run = build_triggers(con, D, _params(), out_root=out)
    s = run.sizes.set_index("list")
    # u21 is on three lists: kept on new_user_coupon_expiring (priority 1), dropped from the other two
    assert s.loc["abandoned_checkout", "overlap"] == 1 and s.loc["registered_never_ordered", "overlap"] == 1
    assert sorted(run.rows[run.rows.user_id == "u21"].list) == ["new_user_coupon_expiring"]
    # u15 was touched on 10-13 and 10-14 by trigger campaigns in the warehouse: weekly cap 2 reached
    assert s.loc["recall", "contact_cap"] == 1
    # u17 is in an earlier holdout (from the output folder)
    assert s.loc["recall", "earlier_holdout"] == 1
    assert run.rows[run.rows.list == "recall"].empty
    assert s.loc["recall", "candidates"] == 2 and s.loc["recall", "treatment"] == 0
    # one row per user across all lists (one touch a day)
    assert not run.rows.user_id.duplicated().any()
    assert sorted(run.rows.user_id) == ["u01", "u06", "u09", "u12", "u18", "u19", "u21"]


def test_send_at_inside_the_window_at_the_usual_hour(wh):
    with connect(wh) as con:
        run = build_triggers(con, D, _params())
    send = dict(zip(run.rows.user_id, run.rows.send_at, strict=True))
    assert send["u01"] == "2026-10-16 14:00:00"  # orders at 14h, 14h, 9h: mode 14
    assert send["u18"] == "2026-10-16 08:00:00"  # orders at 06:30: clamped up to 08:00
    assert send["u19"] == "2026-10-16 21:00:00"  # orders at 23h: clamped down to 21:00
    assert send["u09"] == "2026-10-16 10:00:00"  # no order: default_send_hour
    quiet = _params(send_start_hour=9, send_end_hour=12)
    with connect(wh) as con:
        run = build_triggers(con, D, quiet)
    send = dict(zip(run.rows.user_id, run.rows.send_at, strict=True))
    assert send["u01"] == "2026-10-16 12:00:00" and send["u18"] == "2026-10-16 09:00:00"


def test_global_holdout_and_list_holdout_draws(wh):
    salt = Params().experiments.global_holdout_salt
    # a global share just above u06's score puts u06 (and any user scoring lower) in the global holdout
    listed = ["u01", "u06", "u09", "u12", "u15", "u17", "u18", "u19", "u21"]
    scores = {u: global_holdout_score(u, salt) for u in listed}
    share = scores["u06"] + 1e-9
    assert share < 0.5
    held_globally = {u for u, s in scores.items() if s < share}
    with connect(wh) as con:
        run = build_triggers(con, D, _params(global_share=share, list_share=0.5))
    assert "u06" in held_globally and not set(run.rows.user_id) & held_globally
    assert run.sizes.set_index("list").loc["repurchase_coupon_unused", "global_holdout"] == 1
    # each list's holdout: sha256(salt:date:list:id) < 0.5, as the stable draw computes it
    t = Params().triggers
    expected = [
        "holdout" if global_holdout_score(f"{D}:{lst}:{u}", t.holdout_salt) < 0.5 else "treatment"
        for lst, u in zip(run.rows.list, run.rows.user_id, strict=True)
    ]
    assert list(run.rows.arm) == expected
    assert (run.rows.send_at[run.rows.arm == "holdout"] == "").all()
    assert (run.rows.send_at[run.rows.arm == "treatment"] != "").all()


def test_written_files_are_sendable_and_deterministic(wh, tmp_path):
    with connect(wh) as con:
        run = build_triggers(con, D, _params())
        again = build_triggers(con, D, _params())
    a = write_triggers(run, tmp_path / "a")
    b = write_triggers(again, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    folder = tmp_path / "a" / "2026-10-15"
    nu = pd.read_csv(folder / "new_user_coupon_expiring.csv", dtype=str)
    row = nu[nu.user_id == "u01"].iloc[0]  # original text ids, coupon c101 of 5.00
    assert (row.coupon_id, row.coupon_value, row.channel, row.campaign_id) == (
        "c101", "5.0", "wechat_notice", "trg-2026-10-15-new_user_coupon_expiring"
    )  # fmt: skip
    cyc = pd.read_csv(folder / "category_cycle_due.csv", dtype=str).set_index("user_id")
    assert cyc.loc["u18", "content_key"] == "category_cycle_due.mother_baby"
    camps = pd.read_csv(folder / "campaigns.csv")
    members = pd.read_csv(folder / "campaign_members.csv", dtype=str)
    assert list(camps.columns) == list(TABLES["campaigns"].column_names)
    assert list(members.columns) == list(TABLES["campaign_members"].column_names)
    assert set(camps.kind) <= set(CAMPAIGN_KINDS)
    # u01 u21 (expiring), u12 (checkout), u06 (repurchase), u18 u19 (cycle), u09 (registered), u17 (recall;
    # no earlier holdout in this run, u15 at the cap)
    assert len(members) == 8 and set(members.campaign_id) == set(camps.campaign_id)


def test_abandoned_checkout_says_it_needs_events(make_warehouse):
    tables = _tables()
    del tables["events"]
    with connect(make_warehouse(tables)) as con:
        lists, notices = rule_lists(con, D, _params())
    assert "abandoned_checkout" not in lists
    assert "abandoned_checkout needs the events table (checkout events); the data has none" in notices


def test_written_campaign_tables_load_back(make_warehouse):
    """The next export carries the lists' campaigns and members: the loader accepts them as written."""
    wh = make_warehouse(_tables())
    with connect(wh) as con:
        run = build_triggers(con, D, _params(list_share=0.5))
    tables = _tables()
    tables["orders"].append(
        order_row("o999", "u01", "2026-10-20 10:00:00")
    )  # the export runs past the send day
    tables["campaigns"] += run.campaigns.to_dict("records")
    tables["campaign_members"] += run.members.replace({"": None}).to_dict("records")
    wh2 = make_warehouse(tables)
    with connect(wh2) as con:
        n = con.execute(
            "select count(*) from campaign_members m join map_campaign_id c using (campaign_id) "
            "where starts_with(c.source_id, 'trg-2026-10-15-')"
        ).fetchone()[0]
    assert n == len(run.members) == 8


def test_measure_triggers_effect_against_each_lists_holdout(make_warehouse):
    """Two recall trigger campaigns (strata), outcome window 7 days after assigned_at.

    trg-2026-10-01-recall: treatment m1..m4 (m1, m2 order 20.00), holdout m5, m6 (no order)
    trg-2026-10-02-recall: treatment m7, m8 (m7 orders 20.00), holdout m9, m10 (m9 orders 20.00)
    MH difference = sum (x1 n0 - x0 n1)/N / sum n1 n0/N: campaign 1 (2x2 - 0x4)/6 = 4/6, weight 4x2/6 = 8/6;
    campaign 2 (1x2 - 1x2)/4 = 0, weight 2x2/4 = 1; (4/6) / (8/6 + 1) = 2/7.
    Incremental orders = (2/4 - 0) x 4 + (1/2 - 1/2) x 2 = 2; incremental GMV = (40/4 - 0) x 4
    + (20/2 - 20/2) x 2 = 40.00; margin at the assumed 25% = 10.00;
    cost = 6 touches x 0.05 = 0.30; ROI = (10 - 0.3) / 0.3 = 32.33.
    """
    users = [_user(f"m{i}") for i in range(1, 11)]
    camps = [
        dict(campaign_id=f"trg-2026-10-0{d}-recall", name=f"trg-2026-10-0{d}-recall", kind="recall",
             channel="sms", started_at=f"2026-10-0{d + 1} 00:00:00", ended_at="2026-10-20 00:00:00",
             cost_per_touch=0.05)
        for d in (1, 2)
    ]  # fmt: skip

    def member(d, u, arm):
        touched = f"2026-10-0{d + 1} 10:00:00" if arm == "treatment" else None
        return dict(campaign_id=f"trg-2026-10-0{d}-recall", user_id=u, arm=arm,
                    assigned_at=f"2026-10-0{d + 1} 00:00:00", touched_at=touched)  # fmt: skip

    members = [member(1, f"m{i}", "treatment") for i in (1, 2, 3, 4)] + [member(1, "m5", "holdout")]
    members += [member(1, "m6", "holdout"), member(2, "m7", "treatment"), member(2, "m8", "treatment")]
    members += [member(2, "m9", "holdout"), member(2, "m10", "holdout")]
    orders = [order_row(f"x{u}", u, "2026-10-04 12:00:00") for u in ("m1", "m2", "m7", "m9")]
    orders.append(order_row("x99", "m3", "2026-10-20 12:00:00"))  # after both windows: not counted
    wh = make_warehouse(dict(users=users, orders=orders, campaigns=camps, campaign_members=members))
    with connect(wh) as con:
        m = measure_triggers(con, _params(), as_of=dt.date(2026, 10, 20)).set_index("list")
        early = measure_triggers(con, _params(), as_of=dt.date(2026, 10, 8))  # windows end 10-09, 10-10
        # a monthly report keeps the windows ending from 10-10 on: campaign 2 (assigned 10-03) only
        late = measure_triggers(
            con, _params(), as_of=dt.date(2026, 10, 20), window_from=dt.date(2026, 10, 10)
        )
    r = m.loc["recall"]
    assert (r.campaigns, r.treatment, r.holdout) == (2, 6, 4)
    assert r.rate_treatment == pytest.approx(3 / 6) and r.rate_holdout == pytest.approx(1 / 4)
    assert r["diff"] == pytest.approx(2 / 7)
    assert r.ci_low < r["diff"] < r.ci_high
    assert (r.incremental_gmv, r.incremental_margin, r.cost) == (40.0, 10.0, 0.3)
    assert r.incremental_orders == pytest.approx(2.0)
    assert r.incremental_orders_low <= 2.0 <= r.incremental_orders_high  # user-bootstrap interval
    assert r.incremental_margin_low <= 10.0 <= r.incremental_margin_high
    assert r.roi == pytest.approx((10 - 0.3) / 0.3)
    assert r.roi_low == pytest.approx((r.incremental_margin_low - 0.3) / 0.3)
    assert "assumed 25%" in r.margin_basis
    assert early.empty  # no campaign's window is over yet: nothing is measured, nothing shown as 0
    assert late.set_index("list").loc["recall", ["campaigns", "treatment", "holdout"]].tolist() == [1, 2, 2]
    zh = effects_text(m.reset_index(), _params())  # the report's default language
    assert "- 流失召回：触达组 6 人中 50.0% 在 7 天内下单，对照组 4 人中为 25.0%，+28.6 pp" in zh
    assert "recall" not in zh and "ROI（毛利口径）32.3" in zh
    i18n.set_language("en")  # the English wording pinned below
    text = effects_text(m.reset_index(), _params())
    assert "- recall: 50.0% of 6 touched users ordered within 7 days vs 25.0% of 4 held out, +28.6 pp" in text
    assert "2.0 incremental orders, " in text and "10 incremental gross margin" in text
    assert "ROI on margin 32.3" in text
    assert "recall_" not in text and "trg-" not in text  # no code names


def test_holdout_of_a_running_campaign_is_not_touched(make_warehouse):
    """u19 sits in the holdout of a monthly campaign running to 2026-10-31: no trigger list touches it;
    u18, in the holdout of a campaign that ended on 2026-10-10, is listed as usual."""
    tables = _tables()
    for cid, ended in (
        ("monthly-recall-2026-10", "2026-10-31 00:00:00"),
        ("old-recall", "2026-10-10 00:00:00"),
    ):
        tables["campaigns"].append(
            dict(campaign_id=cid, name=cid, kind="recall", channel="sms", started_at="2026-10-01 00:00:00",
                 ended_at=ended, cost_per_touch=0.05)
        )  # fmt: skip
    tables["campaign_members"] += [
        dict(
            campaign_id="monthly-recall-2026-10",
            user_id="u19",
            arm="holdout",
            assigned_at="2026-10-01 00:00:00",
        ),
        dict(campaign_id="old-recall", user_id="u18", arm="holdout", assigned_at="2026-10-01 00:00:00"),
    ]
    with connect(make_warehouse(tables)) as con:
        run = build_triggers(con, D, _params())
    assert run.sizes.set_index("list").loc["category_cycle_due", "earlier_holdout"] == 1
    assert sorted(run.rows[run.rows.list == "category_cycle_due"].user_id) == ["u18"]


# ----------------------------------------------------------------------------- one plan with the monthly lists


def _keys(con, ids) -> list[int]:
    m = dict(con.execute("select source_id, user_id from map_user_id").fetchall())
    return [m[i] for i in ids]


def _monthly(con, rows: list[tuple[str, str]]) -> pd.DataFrame:
    """A monthly list frame as the notebooks build it: warehouse keys, an arm per user."""
    return pd.DataFrame({"user_id": _keys(con, [u for u, _ in rows]), "arm": [a for _, a in rows]})


def test_monthly_list_leaves_out_higher_lists_and_trigger_holdouts(make_warehouse, tmp_path):
    """Send day 2026-10-16. u16 is held out of the daily recall list of 10-13 (assigned 10-14, within
    the 7-day measurement window); u15 was touched by daily recall lists on 10-13 and 10-14 (the weekly
    cap of 2); u01 (treated) and u02 (held out) are on this run's expiring-coupon list (priority 1,
    before the category list's 4). The category list keeps u03 only; the expiring-coupon list itself
    (nothing above it) keeps everyone but u15 and u16."""
    tables = _tables()
    tables["campaign_members"].append(
        dict(
            campaign_id="trg-2026-10-13-recall",
            user_id="u16",
            arm="holdout",
            assigned_at="2026-10-14 00:00:00",
        )
    )
    out = tmp_path / "outputs" / "2026-09"
    (out / "targets").mkdir(parents=True)
    pd.DataFrame({"user_id": ["u01", "u02"], "arm": ["treatment", "holdout"]}).to_csv(
        out / "targets" / "expiring_coupons.csv", index=False
    )
    send = dt.date(2026, 10, 16)
    with connect(make_warehouse(tables)) as con:
        df = _monthly(
            con,
            [
                ("u01", "treatment"),
                ("u02", "treatment"),
                ("u03", "holdout"),
                ("u15", "treatment"),
                ("u16", "treatment"),
            ],
        )
        kept, left = monthly_plan(con, _params(), "category_reminders", df, send, out)
        assert _ids(con, kept) == ["u03"] and left == {"u01", "u02", "u15", "u16"}
        assert list(kept.arm) == ["holdout"]  # arms drawn before are kept
        kept1, left1 = monthly_plan(con, _params(), "expiring_coupons", df, send, out)
        assert _ids(con, kept1) == ["u01", "u02", "u03"] and left1 == {"u15", "u16"}
        # the notebooks' call: Report.plan_target (September's lists go out from 2026-10-01, when u16's
        # daily holdout has not been drawn yet): u01, u02 left out, counted in metrics.json
        rep = Report("03_active_incentives", "2026-09", output_dir=out, con=con)
        planned = rep.plan_target("category_reminders", df, _params())
        assert _ids(con, planned) == ["u03", "u15", "u16"]
        assert rep.metrics["targets.category_reminders.contact_plan_left_out"]["value"] == 2


def test_monthly_lists_join_the_daily_contact_plan(wh, tmp_path):
    """outputs/2026-09/targets (drawn at September's end, sent from 2026-10-01) are in force in October:
    u17 held out of the monthly recall list and u21 held out of the expiring-coupon list are on no daily
    list on 10-16 (earlier holdout); u01, treated on 10-01, is past the weekly window and stays listed.
    On 10-01 itself the treated monthly users count as touched that day."""
    root = tmp_path / "outputs"
    (root / "2026-09" / "targets").mkdir(parents=True)
    pd.DataFrame(
        {"user_id": ["u01", "u21"], "arm": ["treatment", "holdout"], "coupon_id": ["c1", "c2"]}
    ).to_csv(root / "2026-09" / "targets" / "expiring_coupons.csv", index=False)
    pd.DataFrame({"user_id": ["u17", "u12"], "arm": ["holdout", "treatment"]}).to_csv(
        root / "2026-09" / "targets" / "recall.csv", index=False
    )
    with connect(wh) as con:
        run = build_triggers(con, D, _params(), monthly_root=root)
        plain = build_triggers(con, D, _params())
    listed = set(run.rows.user_id)
    assert {"u17", "u21"} <= set(plain.rows.user_id) and not {"u17", "u21"} & listed
    assert {"u01", "u12"} <= listed
    s = run.sizes.set_index("list").earlier_holdout
    assert s.sum() - plain.sizes.earlier_holdout.sum() == 4  # u21 x 3 lists, u17 x 1 (recall)
    first = monthly_members(root, dt.datetime(2026, 10, 1))
    assert sorted(first.user_id[first.touched_at == pd.Timestamp("2026-10-01")]) == ["u01", "u12"]
    assert monthly_members(
        root, dt.datetime(2026, 11, 1)
    ).empty  # September's lists are not in force in November


def test_no_user_gets_contradictory_instructions(wh, tmp_path):
    """The month's three lists through the plan in play order, then the daily lists of 10-15 with them in
    force: across every instruction no user is both held out (anywhere) and touched (anywhere), no user
    is on two monthly lists, and no user is on two daily lists. Without the plan the same candidates would contradict (u01, u18, u21)."""
    root = tmp_path / "outputs"
    out = root / "2026-09"
    candidates = {  # (user, arm) as each notebook's own seeded draw gave them
        "expiring_coupons": [("u01", "treatment"), ("u21", "holdout")],
        "category_reminders": [
            ("u18", "treatment"),
            ("u19", "holdout"),
            ("u01", "treatment"),
            ("u21", "treatment"),
        ],
        "recall": [("u15", "holdout"), ("u17", "treatment"), ("u18", "holdout")],
    }
    instructions = []
    with connect(wh) as con:
        for name, rows in candidates.items():
            kept, _ = monthly_plan(con, _params(), name, _monthly(con, rows), dt.date(2026, 10, 1), out)
            kept = original_ids(con, kept)
            (out / "targets").mkdir(parents=True, exist_ok=True)
            kept.to_csv(out / "targets" / f"{name}.csv", index=False)
            instructions += [(u, f"monthly {name}", a) for u, a in zip(kept.user_id, kept.arm, strict=True)]
        run = build_triggers(con, D, _params(list_share=0.5), monthly_root=root)
    instructions += [(u, n, a) for u, n, a in zip(run.rows.user_id, run.rows.list, run.rows.arm, strict=True)]
    ins = pd.DataFrame(instructions, columns=["user_id", "list", "arm"])
    arms = ins.groupby("user_id").arm.agg(set)
    assert not any({"holdout", "treatment"} <= a for a in arms), ins.sort_values("user_id")
    monthly = ins[ins.list.str.startswith("monthly ")]
    assert monthly.user_id.is_unique  # one monthly list per user
    assert sorted(monthly.itertuples(index=False, name=None)) == [
        ("u01", "monthly expiring_coupons", "treatment"),
        ("u15", "monthly recall", "holdout"),
        ("u17", "monthly recall", "treatment"),
        ("u18", "monthly category_reminders", "treatment"),
        ("u19", "monthly category_reminders", "holdout"),
        ("u21", "monthly expiring_coupons", "holdout"),
    ]
    daily = ins[~ins.list.str.startswith("monthly ")]
    assert daily.user_id.is_unique  # one daily touch per user on the send day
    assert not {"u15", "u19", "u21"} & set(daily.user_id)  # held out of a monthly list
    raw = pd.DataFrame([(u, n, a) for n, rows in candidates.items() for u, a in rows], columns=ins.columns)
    assert sum({"holdout", "treatment"} <= a for a in raw.groupby("user_id").arm.agg(set)) == 2  # u18, u21


def test_demo_responses_cli_rejects_an_unknown_list(capsys):
    """`userops demo-responses --lift` names a trigger list; anything else stops before any work."""
    from userops.cli import main

    params = Path(__file__).resolve().parents[2] / "params" / "default.yaml"
    code = main(["demo-responses", "--date", "2026-06-14", "--lift", "coupons=0.1", "--params", str(params)])
    assert code == 2
    assert "--lift coupons=0.1: the list must be one of" in capsys.readouterr().err


def test_pseudonymised_lists_keep_the_contact_plan_on_real_ids(wh, tmp_path, monkeypatch):
    """Monthly lists written with pseudonyms (run --pseudonymise) still keep their holdout users off the
    daily lists: the plan reads them back through the mapping; the daily lists the CRM sends are
    pseudonymised too, while campaign_members.csv (the warehouse's record of the draw) keeps the ids."""
    from userops import outputs

    monkeypatch.delenv(outputs.PSEUDONYMS_ENV, raising=False)
    pseudo = tmp_path / "wh.duckdb.pseudonyms"
    root = tmp_path / "outputs"
    (root / "2026-09" / "targets").mkdir(parents=True)
    monthly = pd.DataFrame({"user_id": ["u01", "u21"], "arm": ["treatment", "holdout"]})
    written = outputs.pseudonymise(monthly, "2026-09", "expiring_coupons", pseudo)
    assert not set(written.user_id) & {"u01", "u21"}  # the file on disk holds no id
    written.to_csv(root / "2026-09" / "targets" / "expiring_coupons.csv", index=False)
    with pytest.raises(ValueError, match=r"expiring_coupons.csv: 2 user ids are pseudonyms and no mapping"):
        monthly_members(root, dt.datetime(2026, 10, 1))  # never a silent mismatch of hashes and ids
    back = monthly_members(root, dt.datetime(2026, 10, 1), pseudo)
    assert sorted(zip(back.user_id, back.arm, strict=True)) == [("u01", "treatment"), ("u21", "holdout")]
    with connect(wh) as con:
        run = build_triggers(con, D, _params(), monthly_root=root, pseudonyms=pseudo)
    assert "u21" not in set(run.rows.user_id)  # held out of the monthly list: off every daily list
    paths = write_triggers(run, tmp_path / "trg", pseudo)
    folder = tmp_path / "trg" / "2026-10-15"
    sent = pd.read_csv(folder / "new_user_coupon_expiring.csv", dtype=str)
    assert len(sent) and sent.user_id.str.fullmatch(outputs.PSEUDONYM_PATTERN).all()
    mapping = pd.read_csv(pseudo / "triggers-2026-10-15" / "new_user_coupon_expiring.csv", dtype=str)
    assert sorted(mapping["id"]) == sorted(run.rows.user_id[run.rows.list == "new_user_coupon_expiring"])
    members = pd.read_csv(folder / "campaign_members.csv", dtype=str)
    assert set(members.user_id) == set(run.members.user_id)  # the warehouse's record: export ids
    assert outputs.listed_user_ids(
        folder / "new_user_coupon_expiring.csv", "triggers-2026-10-15", pseudo
    ).tolist() == (run.rows.user_id[run.rows.list == "new_user_coupon_expiring"].tolist())
    bad = sent.assign(user_id="u_" + "0" * 16)
    bad.to_csv(folder / "x.csv", index=False)
    (pseudo / "triggers-2026-10-15" / "x.csv").write_text("column,pseudonym,id\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.csv: \d+ pseudonyms are not in"):
        outputs.listed_user_ids(folder / "x.csv", "triggers-2026-10-15", pseudo)
    assert len(paths) == len(run.sizes) + 2


def test_monthly_plan_reads_this_runs_pseudonymised_lists_back(wh, tmp_path, monkeypatch):
    """In a run with --pseudonymise (the runner sets USEROPS_PSEUDONYMS), the recall list still leaves
    out u01 and u21, already on the expiring-coupon list of higher priority written with pseudonyms."""
    from userops import outputs

    pseudo = tmp_path / "wh.duckdb.pseudonyms"
    monkeypatch.setenv(outputs.PSEUDONYMS_ENV, str(pseudo))
    out = tmp_path / "outputs" / "2026-09"
    (out / "targets").mkdir(parents=True)
    expiring = pd.DataFrame({"user_id": ["u01", "u21"], "arm": ["treatment", "holdout"]})
    outputs.pseudonymise(expiring, "2026-09", "expiring_coupons").to_csv(
        out / "targets" / "expiring_coupons.csv", index=False
    )
    rows = [("u01", "treatment"), ("u17", "treatment"), ("u21", "holdout")]
    with connect(wh) as con:
        kept, left = monthly_plan(con, _params(), "recall", _monthly(con, rows), dt.date(2026, 10, 1), out)
        assert _ids(con, kept) == ["u17"] and left == {"u01", "u21"}


def test_lists_without_coupons_stack_without_a_pandas_warning():
    # a recall list (no coupon: ids and values all missing) under a repurchase list (coupon 7 worth 10):
    # the coupon columns keep the coupon list's types, and pandas' FutureWarning on all-NA entries is an error
    import warnings

    recall = pd.DataFrame(
        {"user_id": [1, 2], "coupon_id": [None, None], "coupon_value": [np.nan, np.nan],
         "detail": [None, None], "reason": ["silent 40 days", "silent 52 days"], "list": "recall"}
    )  # fmt: skip
    coupon = pd.DataFrame(
        {"user_id": [3], "coupon_id": pd.array([7], dtype="Int64"), "coupon_value": [10.0],
         "detail": ["milk"], "reason": ["coupon unused"], "list": "repurchase_coupon_unused"}
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stacked = tr._stack([recall, coupon])
        alone = tr._stack([recall])
    assert list(stacked.columns) == list(recall.columns)
    assert stacked.user_id.tolist() == [1, 2, 3] and stacked.list.tolist() == ["recall"] * 2 + [
        "repurchase_coupon_unused"
    ]
    assert str(stacked.coupon_id.dtype) == "Int64" and stacked.coupon_id.isna().tolist() == [
        True,
        True,
        False,
    ]
    assert stacked.coupon_value.tolist()[2] == 10.0 and stacked.detail.tolist()[2] == "milk"
    assert alone.coupon_id.isna().all() and alone.reason.tolist() == ["silent 40 days", "silent 52 days"]
