"""Category reminders against their randomised holdout, on the money basis (hand fixture).

Campaign 7 (kind category_reminder, sms, 0.05 per touch) assigned 2026-10-05 08:00; the effect
window is params activity.category_window_days = 14 days, to 10-19 08:00:
    u1 treatment: order 11 on 10-08, gmv 100, discount 10, lines 2 x P1 at unit cost 30 -> margin 40
                  order 12 on 10-12, gmv 40, no lines -> assumed 40 x 25% = 10
    u2 treatment: order 13 on 10-25, after the window (not counted)
    u3 treatment: order 14 on 10-10, gmv 20, discount 4, no lines -> assumed 5
    u4 treatment: no order
    u5 holdout:   order 15 on 10-09, gmv 60, discount 6, no lines -> assumed 15
    u6 holdout:   no order
Campaign 8 (kind recall) holds u6 as treatment: another kind, never in the category effect.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from userops import activity as a
from userops import activity_report as ar
from userops import campaigns as cm
from userops import i18n, money
from userops import narrative as nv
from userops.db import connect
from userops.params import ActivityParams, ExperimentParams
from userops.period import Period
from userops.testing import order_row

P = Period("2026-10")
AP = ActivityParams()
ASSIGNED = "2026-10-05 08:00:00"


def _campaign(cid, kind):
    return dict(
        campaign_id=cid,
        name=f"c{cid}",
        kind=kind,
        channel="sms",
        started_at=ASSIGNED,
        ended_at="2026-10-19 08:00:00",
        cost_per_touch=0.05,
    )


def _tables(arms=None) -> dict[str, list[dict]]:
    arms = arms or {
        1: "treatment",
        2: "treatment",
        3: "treatment",
        4: "treatment",
        5: "holdout",
        6: "holdout",
    }
    return {
        "users": [dict(user_id=i, registered_at="2026-01-01 08:00:00", channel="app") for i in range(1, 7)],
        "orders": [
            order_row(11, 1, "2026-10-08 10:00:00", gmv=100, discount=10),
            order_row(12, 1, "2026-10-12 10:00:00", gmv=40),
            order_row(13, 2, "2026-10-25 10:00:00", gmv=50),
            order_row(14, 3, "2026-10-10 10:00:00", gmv=20, discount=4),
            order_row(15, 5, "2026-10-09 10:00:00", gmv=60, discount=6),
        ],
        "products": [
            dict(product_id="P1", name="p", category="daily", price=55, unit_cost=30, is_hero=False)
        ],
        "order_items": [dict(order_id=11, product_id="P1", quantity=2, amount=110)],
        "campaigns": [_campaign(7, "category_reminder"), _campaign(8, "recall")],
        "campaign_members": [
            dict(campaign_id=7, user_id=u, arm=arm, assigned_at=ASSIGNED, touched_at=None)
            for u, arm in arms.items()
        ]
        + [dict(campaign_id=8, user_id=6, arm="treatment", assigned_at=ASSIGNED, touched_at=None)],
    }


@pytest.fixture(autouse=True)
def _english():
    """The wording below is pinned in English (conftest restores zh after each test)."""
    i18n.set_language("en")


@pytest.fixture
def con(make_warehouse):
    c = connect(make_warehouse(_tables()))
    yield c
    c.close()


def test_category_reminder_money_on_margin(con):
    eff = a.category_reminder_effect(con, P.start, P.end, P, AP, ExperimentParams(bootstrap_draws=200))
    arms = eff.arms.set_index("arm")
    assert arms.loc["treatment", "members"] == 4 and arms.loc["holdout", "members"] == 2  # campaign 8 not in
    assert arms.loc["treatment", "converted"] == 2  # u1, u3 ordered in the window; u2 after it
    assert arms.loc["holdout", "converted"] == 1  # u5
    assert eff.effect.diff == pytest.approx(0.0)  # 2/4 - 1/2
    # orders: treated 3 (u1 x 2, u3) - 4 treated x holdout 1/2 = 1 extra order
    assert eff.incremental_orders == pytest.approx(1.0)
    # margin: treated 40 + 10 + 5 = 55 - 4 treated x holdout mean 15 / 2 = 25
    assert eff.incremental_margin == pytest.approx(25.0)
    assert eff.margin_basis == (
        "gross margin (paid GMV - cost of goods); 3 of 4 window orders at an assumed 25% margin"
    )  # orders 12, 14, 15 have no lines
    # discount on orders that would have happened anyway: 4 treated x holdout buyer rate 1/2 x mean
    # discount per treated buyer (10 + 4) / 2 = 7 -> 14; inside paid GMV, not a cost
    assert eff.expected_anyway_redemptions == pytest.approx(2.0)
    assert eff.anyway_discount == pytest.approx(14.0)
    assert eff.cost_yuan == pytest.approx(0.2)  # touch cost once: 4 treated x 0.05, no discount added
    assert eff.roi == pytest.approx((25 - 0.2) / 0.2)  # ROI on margin = 124
    assert eff.roi == pytest.approx(money.roi(25.0, 0.2))
    lo, hi = eff.incremental_margin_ci
    assert lo <= 25.0 <= hi
    text = nv.plain(ar.money_text(eff, "in the 14 days after the reminder", "category"))
    assert "**¥25 incremental gross margin**" in text and "ROI on margin is 124.0" in text
    assert "about **0 extra buyers**" in text
    assert "**¥14**" in text and "not added to the cost" in text
    assert (
        "(basis: gross margin (paid GMV - cost of goods); 3 of 4 window orders at an assumed 25% margin)"
        in text
    )
    lift = nv.plain(ar.lift_text(eff.effect, "category.lift", "In the 14 days after the reminder"))
    # the arm rates and the pooled lift are named apart: the standardised holdout rate is not the lift
    assert (
        "holdout rate standardised to the reminded members' campaigns" in lift and "**50.0%**" in lift
    )  # u5 of u5, u6
    assert "Their gap is not the lift below" in lift and "**the lift in ordering is +0.0 pp**" in lift
    i18n.set_language("zh")
    zh = nv.plain(ar.money_text(eff, "提醒后 14 天内", "category"))
    assert "**¥25 增量毛利**" in zh and "窗口内 4 笔订单中有 3 笔没有商品成本，按假设毛利率 25% 计算" in zh


def test_category_reminder_actions_on_margin_and_roi(con):
    eff = a.category_reminder_effect(con, P.start, P.end, P, AP, ExperimentParams(bootstrap_draws=200))
    # incremental margin 25 for a touch cost of 0.2 (above); the intervals are set by hand
    keep = replace(eff, incremental_margin_ci=(5.0, 40.0))  # ROI CI (5 - 0.2) / 0.2 = 24 to 199
    text = nv.plain(cm.category_reminder_action(keep))
    assert text.startswith("**Keep the category reminders.**")
    assert "ROI on margin 124.0 (95% CI 24.0–199.0)" in text
    assert "includes a loss" not in text
    unsure = cm.category_reminder_action(replace(eff, incremental_margin_ci=(-3.0, 40.0)))
    assert unsure.startswith("**Keep testing the category reminders**: the gross margin they add is not")
    thin = cm.category_reminder_action(replace(eff, incremental_margin_ci=(0.1, 40.0)))  # ROI low -0.5
    # a clear margin whose ROI interval still includes a loss: keep testing against the holdout
    assert thin.startswith("**Keep testing the category reminders against their holdout.**")
    assert nv.plain(thin).endswith(
        "(95% CI -0.5–199.0), but the ROI interval still includes a loss: they are not yet shown to pay back."
    )
    losing = replace(eff, incremental_margin=0.1, incremental_margin_ci=(-1.0, 0.15))  # ROI high -0.25
    assert cm.category_reminder_action(losing).startswith("**Rethink the category reminders.**")
    free = cm.category_reminder_action(replace(keep, cost_yuan=0.0))  # no cost: no ROI, margin decides
    assert free.startswith("**Keep the category reminders.**") and "ROI" not in free


def test_category_reminder_without_holdout_says_so_and_shows_no_effect(make_warehouse, con):
    nov = Period("2026-11")  # the campaign was assigned in October
    assert a.category_reminder_effect(con, nov.start, nov.end, nov, AP) is None
    assert a.category_reminder_reason(con, True, nov.start, nov, AP) == (
        "Measuring the category reminders needs past category-reminder campaigns with a randomised holdout "
        "from these months; the data has none, so no effect is shown."
    )
    assert a.category_reminder_reason(con, False, P.start, P, AP).endswith("so no effect is shown.")
    assert a.category_reminder_reason(con, True, P.start, P, AP) == ""  # both arms: the effect is shown
    treated_only = connect(make_warehouse(_tables({u: "treatment" for u in range(1, 7)})))
    assert a.category_reminder_effect(treated_only, P.start, P.end, P, AP) is None
    assert a.category_reminder_reason(treated_only, True, P.start, P, AP) == (
        "Measuring the category reminders needs past category-reminder campaigns with a randomised holdout; "
        "those in the data have no holdout arm, so no effect is shown."
    )
    treated_only.close()


def test_category_reminder_section_effect_or_one_sentence(con):
    eff, why = a.category_reminder_section(con, True, P, AP, ExperimentParams(bootstrap_draws=200))
    assert why is None and eff.incremental_margin == pytest.approx(25.0)  # as above
    eff, why = a.category_reminder_section(con, False, P, AP)  # no campaign tables: no effect shown
    assert eff is None and why == (
        "Measuring the category reminders needs past category-reminder campaigns, in the optional campaign "
        "tables; the data has none, so no effect is shown."
    )


def test_category_reminder_metrics_and_chart(con):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from userops.outputs import Report

    eff = a.category_reminder_effect(con, P.start, P.end, P, AP, ExperimentParams(bootstrap_draws=200))
    rep = Report(play="03_x", month="2026-10")
    a.record_category_reminder(rep, eff, P, AP)
    m = rep.metrics
    assert m["category_reminder_incremental_margin"]["value"] == pytest.approx(25.0)  # as above
    assert m["category_reminder_anyway_discount"]["value"] == pytest.approx(14.0)
    assert m["category_reminder_touch_cost"]["value"] == pytest.approx(0.2)
    assert m["category_reminder_roi_margin"]["value"] == pytest.approx(124.0)
    assert m["category_reminder_roi_margin"]["definition"] == money.ROI_DEFINITION
    assert m["category_reminder_lift"]["period"] == "2026-05..2026-10"  # effect_months 6
    fig = a.category_reminder_chart(eff, P, AP)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert set(labels) == {"2026-10 c7", "pooled by campaign (1 campaign)"}  # name without its month: added
    plt.close(fig)
