"""Differential test: every metric SQL file returns the same rows on DuckDB and on local Spark.

One small demo slice (300 users, 4 months, plus hand rows for the edges below) is loaded into a
DuckDB warehouse by `userops load`; the same validated input tables go to Spark as temp views, the
warehouse's derived tables are built on Spark by the same SQL (sql/warehouse/*.sql), and every metric
file runs on both engines with the parameters the playbook passes (CASES, captured from a monthly run
and a triggers run on this slice). Equal means: same columns, same rows after sorting by every
column, integers exact, other numbers within 1e-9 (userops.spark_sql.differences).

Edge rows (EDGE_ROWS): a user whose two orders straddle midnight (23:50 and 00:10) and a month end
(Jan 31 -> Feb 1), where date_diff on timestamps or on months differs between the engines.

Time: one SparkSession for the module (its start is most of the cost); see the report in issue 17.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from userops import spark_sql
from userops.sql_files import SQL_DIR, read_sql, sql_names

pytestmark = pytest.mark.xdist_group("spark")

SLICE = dict(users=300, months=4, seed=7, start="2025-11-01")
NEW_USER_KINDS = ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"]

# Orders appended to the slice's export (ids far above the demo's): user EDGE_USER registers on
# Jan 31 at 23:40, orders at 23:50 and again at 00:10 on Feb 1 (a new day and a new month, 20 minutes
# later), and at 01:00 on Feb 2.
EDGE_USER = 990001
EDGE_ROWS = {
    "users": [
        dict(user_id=EDGE_USER, registered_at="2026-01-31 23:40:00", channel="app", city="Edge City"),
    ],
    "orders": [
        dict(
            order_id=990101,
            user_id=EDGE_USER,
            ordered_at="2026-01-31 23:50:00",
            order_channel="app",
            gmv=30.0,
        ),
        dict(
            order_id=990102,
            user_id=EDGE_USER,
            ordered_at="2026-02-01 00:10:00",
            order_channel="app",
            gmv=40.0,
        ),
        dict(
            order_id=990103,
            user_id=EDGE_USER,
            ordered_at="2026-02-02 01:00:00",
            order_channel="app",
            gmv=50.0,
        ),
    ],
}

# Parameters per metric file (what lib/userops passes on this slice for the month 2026-02; one
# dict per run of the file). Every metric file must be here: test_every_sql_file_has_a_case.
CASES = {
    "acquisition/cac": [
        {
            "from_date": dt.date(2025, 12, 1),
            "to_date": dt.date(2026, 3, 1),
            "commission_group_leader": 27.0,
            "commission_store_promoter": 5.0,
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
        },
    ],
    "acquisition/channel_quality": [
        {
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "short_days": 7,
            "long_days": 30,
            "value_days": 90,
        },
    ],
    "acquisition/channel_volume": [
        {
            "from_date": dt.date(2025, 11, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "short_days": 7,
            "long_days": 30,
            "offline_channels": ["store_poster_qr", "store_promoter"],
        },
    ],
    "acquisition/hero_first_orders": [
        {"from_date": dt.date(2026, 2, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "acquisition/ltv_curve": [
        {
            "from_date": dt.date(2025, 3, 1),
            "to_date": dt.date(2026, 3, 1),
            "months": 12,
            "as_of": dt.date(2026, 2, 28),
        },
    ],
    "acquisition/pack_takeup": [
        {
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
        },
    ],
    "acquisition/referrers": [
        {
            "from_date": dt.date(2025, 12, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "gmv_days": 30,
            "commission_group_leader": 27.0,
            "commission_store_promoter": 5.0,
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
            "assumed_margin_rate": 0.25,
        },
    ],
    "acquisition/rfm_summary": [
        {
            "from_date": dt.date(1900, 1, 1),
            "to_date": dt.date(2026, 1, 30),
            "cal_end": dt.date(2026, 1, 30),
            "holdout_end": dt.date(2026, 3, 1),
            "horizon_days": 18300,
            "new_user_kinds": [],
            "assumed_margin_rate": None,
        },
        {
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "cal_end": dt.date(2026, 3, 1),
            "holdout_end": dt.date(2026, 3, 1),
            "horizon_days": 30,
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
            "assumed_margin_rate": 0.25,
        },
    ],
    "activity/active_days_distribution": [
        {"from_date": dt.date(2026, 2, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "activity/active_users_trend": [
        {"from_date": dt.date(2025, 9, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "activity/activity_by_segment": [
        {"from_date": dt.date(2026, 2, 1), "to_date": dt.date(2026, 3, 1), "offline_channels": ["store"]},
    ],
    "activity/category_due": [
        {
            "from_date": dt.date(2025, 3, 1),
            "cutoff": dt.datetime(2026, 3, 1, 0, 0),
            "scenes": ["daily", "mother_baby", "P0051", "P0052", "P0053", "P0054"],
            "scene_labels": [
                "daily",
                "mother_baby",
                "milk_powder",
                "milk_powder",
                "milk_powder",
                "milk_powder",
            ],
            "cycle_days": [9.0, 7.0, 20.0, 20.0, 21.0, 20.0],
            "min_gaps": 3,
            "lead_days": 3,
            "horizon_days": 14,
        },
    ],
    "activity/incentive_association": [
        {
            "index_date": dt.date(2026, 1, 30),
            "prior_days": 60,
            "participation_days": 30,
            "outcome_days": 30,
            "incentives": ["checkin", "share_card", "draw", "task_done", "browse_40s"],
            "order_bins": [2, 3, 5, 8],
            "tenure_bins": [90, 180],
        },
    ],
    "activity/incentive_participation": [
        {
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "incentives": ["checkin", "share_card", "draw", "task_done", "browse_40s"],
        },
    ],
    "activity/order_frequency": [
        {"from_date": dt.date(2026, 2, 1), "to_date": dt.date(2026, 3, 1), "offline_channels": ["store"]},
    ],
    "activity/order_gaps": [
        {"from_date": dt.date(2026, 2, 1), "to_date": dt.date(2026, 3, 1), "offline_channels": ["store"]},
    ],
    "activity/points_by_reason": [
        {"from_date": dt.date(2025, 9, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "activity/points_fifo": [
        {"as_of": dt.date(2026, 2, 28)},
    ],
    "activity/points_monthly": [
        {"from_date": dt.date(2025, 9, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "activity/points_outcomes": [
        {"as_of": dt.date(2026, 2, 28)},
    ],
    "activity/points_redemption_lag": [
        {"from_date": dt.date(1900, 1, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "activity/purchase_cycles": [
        {
            "from_date": dt.date(2025, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "horizon": 120,
            "product_pattern": "%奶粉%",
        },
    ],
    "activity/repurchase_buyers": [
        {
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "days": 30,
            "as_of": dt.date(2026, 2, 28),
        },
    ],
    "activity/repurchase_coupons": [
        {
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "days": 7,
            "as_of": dt.date(2026, 2, 28),
            "repurchase_kinds": ["repurchase"],
        },
    ],
    "activity/repurchase_within": [
        {
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "days": 30,
            "as_of": dt.date(2026, 2, 28),
            "offline_channels": ["store"],
        },
    ],
    "activity/value_tiers": [
        {"at_date": dt.date(2026, 3, 1), "window_days": 90, "thresholds": [100.0, 500.0, 1500.0]},
    ],
    "brief/data_quality": [
        {},
    ],
    "brief/key_path_funnel": [
        {
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "days": 30,
            "offline_channels": ["store"],
        },
        {  # the brief's one query: February, January and the months their step 5 may read
            "from_date": dt.date(2025, 12, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "days": 30,
            "offline_channels": ["store"],
        },
    ],
    "brief/month_totals": [
        {"from_date": dt.date(2025, 7, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "brief/operating_matrix": [
        {
            "from_date": dt.date(2025, 7, 1),
            "to_date": dt.date(2026, 3, 1),
            "visit_events": ["visit"],
            "footfall_events": ["store_visit"],
        },
    ],
    "campaigns/category_reminder_effect": [
        {
            "campaign_kind": "category_reminder",
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "window_hours": 336,
            "assumed_margin_rate": 0.25,
        },
    ],
    "campaigns/coupon_reminder_effect": [
        {
            "campaign_kind": "expiry_reminder",
            "coupon_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "window_hours": 48,
            "assumed_margin_rate": 0.25,
        },
        {
            "campaign_kind": "repurchase_reminder",
            "coupon_kinds": ["repurchase"],
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "window_hours": 168,
            "assumed_margin_rate": 0.25,
        },
    ],
    "campaigns/reminder_coverage": [
        {
            "campaign_kind": "category_reminder",
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "window_hours": 336,
        },
    ],
    "campaigns/reminder_members": [
        {
            "campaign_kind": "category_reminder",
            "from_date": dt.date(2025, 9, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "window_hours": 336,
        },
    ],
    "experiments/global_effect": [
        {
            "salt": "userops-global-holdout-v1",
            "share": 0.05,
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "window_months": 12,
            "assumed_margin_rate": 0.25,
        },
    ],
    "experiments/global_holdout": [
        {"salt": "userops-global-holdout-v1", "share": 0.05},
    ],
    "persona/group_categories": [
        {},  # reads persona_user_categories (PERSONA_WINDOW)
    ],
    "persona/group_channels": [
        {"from_date": dt.date(2025, 3, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "persona/group_coupons": [
        {
            "from_date": dt.date(2025, 3, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
        },
    ],
    "persona/group_time": [
        {"from_date": dt.date(2025, 3, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "persona/rfm": [
        {
            "from_date": dt.date(2025, 3, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "bins": 5,
        },
    ],
    "persona/user_categories": [
        {"from_date": dt.date(2025, 3, 1), "to_date": dt.date(2026, 3, 1)},  # = PERSONA_WINDOW
    ],
    "persona/user_features": [
        {
            "from_date": dt.date(2025, 3, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "month_start": dt.date(2026, 2, 1),
            "age_edges": [25, 30, 40, 50, 60],
            "offline_channels": ["store"],
        },
    ],
    "recall/at_risk": [
        {"as_of": dt.date(2026, 2, 28), "at_risk_p": 0.1, "assumed_margin_rate": 0.25, "declining_days": 30},
    ],
    "recall/churn_profile": [
        {
            "month_start": dt.date(2026, 2, 1),
            "prev_as_of": dt.date(2026, 1, 31),
            "offline_channels": ["store"],
        },
    ],
    "recall/list_funnel": [
        {"as_of": dt.date(2026, 2, 28), "at_risk_p": 0.1, "max_recency_days": 180, "cooldown_days": 45},
    ],
    "recall/member_stages": [
        {"from_date": dt.date(2025, 3, 1), "to_date": dt.date(2026, 3, 1)},
    ],
    "recall/recall_list": [
        {
            "as_of": dt.date(2026, 2, 28),
            "at_risk_p": 0.1,
            "max_recency_days": 180,
            "cooldown_days": 45,
            "offline_share": 0.5,
            "offline_channels": ["store"],
            "channel_store_active": "offline_push",
            "channel_store_churned": "sms",
            "channel_online": "wechat_notice",
            "split_salt": "recall-channel-split:20264",
        },
    ],
    "recall/recall_outcomes": [
        {
            "from_date": dt.date(2025, 3, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "window_days": 30,
            "recall_kinds": ["recall"],
            "assumed_margin_rate": 0.25,
        },
    ],
    "recall/stage_sizes": [
        {"from_month": dt.date(2025, 3, 1), "to_month": dt.date(2026, 2, 1)},
    ],
    "recall/stage_transitions": [
        {"from_month": dt.date(2026, 2, 1), "to_month": dt.date(2026, 2, 1)},
    ],
    "retention/coupon_pack": [
        {
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
        },
    ],
    "retention/dk_retention": [
        {
            "grain": "day",
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "max_day": 7,
            "as_of": dt.date(2026, 2, 28),
            "return_event": "order",
        },
        {
            "grain": "week",
            "from_date": dt.date(2025, 12, 8),
            "to_date": dt.date(2026, 3, 1),
            "max_day": 7,
            "as_of": dt.date(2026, 2, 28),
            "return_event": "order",
        },
        {
            "grain": "month",
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "max_day": 7,
            "as_of": dt.date(2026, 2, 28),
            "return_event": "any",
        },
    ],
    "retention/expiring_coupons": [
        {
            "cutoff": dt.datetime(2026, 3, 1, 0, 0),
            "hours": 48,
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
        },
    ],
    "retention/second_order_within": [
        {
            "from_date": dt.date(2026, 2, 1),
            "to_date": dt.date(2026, 3, 1),
            "days": 7,
            "as_of": dt.date(2026, 2, 28),
        },
    ],
    "retention/time_to_second_order": [
        {
            "from_date": dt.date(2025, 12, 1),
            "to_date": dt.date(2026, 3, 1),
            "as_of": dt.date(2026, 2, 28),
            "horizon": 30,
        },
    ],
    "triggers/abandoned_checkout": [
        {"hours": 4, "checkout_events": ["checkout_start"], "day_end": dt.datetime(2026, 2, 21, 0, 0)},
    ],
    "triggers/category_cycle_due": [
        {
            "lookback_days": 365,
            "min_gaps": 3,
            "lead_days": 3,
            "day_end": dt.datetime(2026, 2, 21, 0, 0),
            "categories": ["mother_baby", "daily"],
        },
    ],
    "triggers/demo_response_base": [
        {},
    ],
    "triggers/demo_response_baskets": [
        {},
    ],
    "triggers/earlier_members": [
        {"prefix": "trg-", "from_ts": dt.datetime(2026, 2, 22, 0, 0), "to_ts": dt.datetime(2026, 3, 1, 0, 0)},
    ],
    "triggers/holdout_draw": [
        {"salt": "userops-triggers-v1", "date": "2026-02-20"},
    ],
    "triggers/new_user_coupon_expiring": [
        {
            "hours": 48,
            "new_user_kinds": ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
            "day_end": dt.datetime(2026, 2, 21, 0, 0),
        },
    ],
    "triggers/present_categories": [
        {},
    ],
    "triggers/recall": [
        {
            "k_churned": 4.0,
            "churned_floor_days": 30,
            "churned_days": 60,
            "min_gaps": 2,
            "day_end": dt.datetime(2026, 2, 21, 0, 0),
        },
        {  # 3 users fall silent on Feb 9, one with a usual gap (a format() inside a format())
            "k_churned": 4.0,
            "churned_floor_days": 30,
            "churned_days": 60,
            "min_gaps": 2,
            "day_end": dt.datetime(2026, 2, 10, 0, 0),
        },
    ],
    "triggers/registered_never_ordered": [
        {"days": 3, "day_end": dt.datetime(2026, 2, 21, 0, 0)},
    ],
    "triggers/repurchase_coupon_unused": [
        {"days": 3, "repurchase_kinds": ["repurchase"], "day_end": dt.datetime(2026, 2, 21, 0, 0)},
    ],
    "triggers/source_ids": [{}],  # the users of the registered table _trigger_users
    "triggers/trigger_outcomes": [
        {"prefix": "trg-", "window_days": 7, "as_of": dt.date(2026, 2, 28), "assumed_margin_rate": 0.25},
    ],
    "triggers/usual_hour": [
        {"day_end": dt.datetime(2026, 2, 21, 0, 0)},
    ],
}

# The temp table persona_user_categories (userops.persona.user_categories: user_categories.sql for the
# feature window) that user_features.sql and group_categories.sql read: built on each engine, compared.
PERSONA_WINDOW = {"from_date": dt.date(2025, 3, 1), "to_date": dt.date(2026, 3, 1)}

# The temp table recall_user_stages (userops.recall.build_stages) that the recall metrics read: built
# from recall/user_stages.sql on each engine, compared, then read by both.
STAGES = {
    "from_month": dt.date(2025, 2, 1),
    "to_month": dt.date(2026, 2, 1),
    "k_declining": 2.0,
    "k_churned": 4.0,
    "declining_floor_days": 14,
    "churned_floor_days": 30,
    "declining_days": 30,
    "churned_days": 60,
    "min_gaps": 2,
    "growth_days": 60,
    "growth_max_orders": 3,
    "prior_gaps": 2.0,
}

# Relations the plays register from pandas before a query (persona groups, the trigger plan, the demo
# responses' members and orders): made from the slice by SQL on DuckDB, registered on both engines.
REGISTERED = {
    "persona_groups": """
        select user_id, 'all' as dimension, 'all' as grp from users
        union all
        select user_id, 'persona', 'P' || cast(user_id % 3 as varchar) from users
    """,
    "_trigger_users": """
        select unnest([274, 192, 227, 266, 40, 61, 97, 102, 108, 230, 259, 999999]) as user_id
    """,  # the trigger candidates of a triggers run on this slice; 999999 is no user
    "_trigger_plan": """
        select case when user_id % 2 = 0 then 'recall' else 'new_user_coupon' end as list, source_id
        from map_user_id
    """,
    "_sim_members": """
        select campaign_id, user_id, arm, assigned_at, assigned_at + interval 7 day as window_end
        from campaign_members
    """,
    "_sim_orders": """
        select row_number() over (order by u.user_id) - 1 as sim_order, o.last_order_id, u.home_store_id
        from dim_users as u
        left join (select user_id, max(order_id) as last_order_id from orders group by user_id) as o
            using (user_id)
    """,
}

# Cases whose result is empty on this slice (an empty result proves only that both engines run the
# text): every other case must return rows, so a slice that stops exercising a metric fails here.
EMPTY_ON_SLICE: set[str] = {
    "campaigns/category_reminder_effect#0",  # the slice's 4 months hold no measured category reminder
    "campaigns/reminder_members#0",
    "recall/member_stages#0",  # no recall campaign in the slice
    "recall/recall_outcomes#0",
    "triggers/abandoned_checkout#0",  # no checkout without an order on the run date
    "triggers/earlier_members#0",  # no earlier trigger lists in the slice
    "triggers/recall#0",
    "triggers/registered_never_ordered#0",
    "triggers/trigger_outcomes#0",
}


def _append_edge_rows(data_dir) -> None:
    """Each edge row copies the export's first row of its table, with the fields given."""
    for table, rows in EDGE_ROWS.items():
        path = data_dir / f"{table}.parquet"
        old = pd.read_parquet(path)
        new = old.iloc[[0] * len(rows)].reset_index(drop=True)
        for col in rows[0]:
            values = pd.Series([r[col] for r in rows])
            new[col] = pd.to_datetime(values) if old[col].dtype.kind == "M" else values.astype(old[col].dtype)
        pd.concat([old, new], ignore_index=True).to_parquet(path, index=False)


def open_slice(root):
    """The slice's DuckDB warehouse under `root` (built once; read-only, as the notebooks open it),
    with the registered frames and the recall stages temp table."""
    from userops.db import connect
    from userops.demo import generate
    from userops.load import load_dir

    if not (root / "wh.duckdb").is_file():
        generate(root / "data", **SLICE)
        _append_edge_rows(root / "data")
        load_dir(root / "data", root / "wh.duckdb")
    con = connect(root / "wh.duckdb")
    for name, sql in REGISTERED.items():
        con.register(name, con.execute(sql).df())
    con.execute("create temp table recall_user_stages as " + read_sql("recall/user_stages"), STAGES)
    con.execute(
        "create temp table persona_user_categories as " + read_sql("persona/user_categories"), PERSONA_WINDOW
    )
    return con


@pytest.fixture(scope="module")
def duck(tmp_path_factory):
    con = open_slice(tmp_path_factory.mktemp("spark_slice"))
    yield con
    con.close()


def _derived() -> dict[str, str]:
    """Derived table name -> its warehouse build file."""
    return {spark_sql.table_sql(n)[0]: n for n in sql_names("warehouse")}


def spark_slice(duck):
    """One local SparkSession with the slice: input tables as temp views (from the same validated
    tables DuckDB holds), derived tables built on Spark by the warehouse SQL, registered frames."""
    session = spark_sql.session(
        conf={"spark.driver.extraJavaOptions": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"}
    )
    derived = _derived()
    tables = duck.execute("select table_name from information_schema.tables where table_schema = 'main'")
    for (name,) in tables.fetchall():
        if name not in derived:
            session.createDataFrame(
                duck.sql(f'select * from "{name}"').to_arrow_table()
            ).createOrReplaceTempView(name)
    for build in sql_names("warehouse"):
        spark_sql.build_table(
            session, build, {"new_user_kinds": NEW_USER_KINDS} if "coupons" in build else {}
        )
    for name in REGISTERED:
        session.createDataFrame(duck.sql(f"select * from {name}").to_arrow_table()).createOrReplaceTempView(
            name
        )
    spark_sql.create_view(session, "recall_user_stages", "recall/user_stages", STAGES)
    spark_sql.create_view(session, "persona_user_categories", "persona/user_categories", PERSONA_WINDOW)
    return session


@pytest.fixture(scope="module")
def spark(duck):
    session = spark_slice(duck)
    yield session
    session.catalog.clearCache()


def test_every_sql_file_has_a_case():
    """A new SQL file without a differential case fails here."""
    files = {f"{p.parent.name}/{p.stem}" for p in SQL_DIR.glob("*/*.sql") if not p.stem.endswith(".spark")}
    covered = set(CASES) | set(sql_names("warehouse")) | {"recall/user_stages"}
    assert sorted(files - covered) == []
    assert sorted(covered - files) == []


@pytest.mark.parametrize("build", sql_names("warehouse"))
def test_warehouse_tables(duck, spark, build):
    name = spark_sql.table_sql(build)[0]
    ours = duck.execute(f"select * from {name}").df()
    theirs = spark_sql.normalise(spark.table(name).toPandas())
    assert len(ours) > 0
    assert spark_sql.differences(ours, theirs) == []


def test_persona_user_categories(duck, spark):
    ours = duck.execute("select * from persona_user_categories").df()
    assert len(ours) > 0
    theirs = spark_sql.normalise(spark.table("persona_user_categories").toPandas())
    assert spark_sql.differences(ours, theirs) == []


def test_recall_user_stages(duck, spark):
    ours = duck.execute("select * from recall_user_stages").df()
    assert len(ours) > 0
    assert (
        spark_sql.differences(ours, spark_sql.normalise(spark.table("recall_user_stages").toPandas())) == []
    )


@pytest.mark.parametrize(("name", "i"), [(n, i) for n in sorted(CASES) for i in range(len(CASES[n]))])
def test_same_rows(duck, spark, name, i):
    params = CASES[name][i]
    ours = duck.execute(read_sql(name), params).df()
    theirs = spark_sql.query(spark, name, params)
    assert spark_sql.differences(ours, theirs) == []
    assert (len(ours) == 0) == (f"{name}#{i}" in EMPTY_ON_SLICE), f"{name}#{i}: {len(ours)} rows"


def test_edge_rows(duck, spark):
    """The edge user's orders: 23:50 -> 00:10 is one calendar day on both engines (not 0)."""
    sql = (
        "select o.order_date, o.days_since_prev, o.is_first_order from fct_orders as o "
        "inner join map_user_id as m using (user_id) where m.source_id = $u order by o.ordered_at"
    )
    ours = duck.execute(sql, {"u": str(EDGE_USER)}).df()
    assert ours.order_date.dt.strftime("%Y-%m-%d").tolist() == ["2026-01-31", "2026-02-01", "2026-02-02"]
    assert ours.days_since_prev.tolist()[1:] == [1, 1]
    theirs = spark_sql.normalise(spark.sql(spark_sql.transpile(sql), args={"u": str(EDGE_USER)}).toPandas())
    assert spark_sql.differences(ours, theirs) == []
