"""Run parameters: every threshold and window, validated on load.

params/default.yaml holds the defaults; a month- or scenario-specific file may
override them (it is validated the same way). Unknown keys, wrong types and
out-of-range values are errors that name the file and the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from userops.contract import LOAD_ORDER


class _Section(BaseModel):
    # strict: a YAML `true` is not 1 and "7" is not 7 (an int is still accepted for a float);
    # YAML lists are accepted for tuples (fields marked strict=False).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RetentionParams(_Section):
    """Play 2: new-user 7-day retention."""

    max_day: int = Field(7, ge=1, le=30, description="Dk retention for k = 1..max_day")
    daily_cohort_days: int = Field(
        28, ge=7, le=92, description="daily first-order cohorts shown, ending at month end"
    )
    weekly_cohort_weeks: int = Field(12, ge=2, le=52, description="weekly first-order cohorts shown")
    channel_trailing_months: int = Field(3, ge=1, le=12, description="months of cohorts pooled per channel")
    channel_top_n: int = Field(
        12, ge=1, le=100, description="channels shown by new users; the rest are pooled as 'others'"
    )
    return_event: str = Field(
        "order",
        min_length=1,
        description="the return event of D1..Dk retention: 'order', 'any' (any event or order) or an event name",
    )
    second_order_days: int = Field(7, ge=1, le=30, description="window for the 2nd-order share")
    km_horizon_days: int = Field(30, ge=7, le=180, description="time-to-2nd-order curve horizon")
    min_cohort_users: int = Field(20, ge=1, description="cohorts smaller than this are flagged as noisy")
    reminder_hours: int = Field(
        48, ge=1, le=168, description="remind coupons expiring this soon after month end"
    )
    reminder_holdout_share: float = Field(0.3, gt=0, lt=1, description="randomised holdout share of the list")
    reminder_seed: int = Field(20261, description="seed of the holdout draw")
    ci_level: float = Field(0.95, gt=0.5, lt=1)


class RecallContent(_Section):
    """Play 4: the recall offer for one need (top category)."""

    face_value: float = Field(10.0, gt=0, description="recall coupon face value, in the data's currency")
    min_spend: float = Field(39.0, ge=0, description="recall coupon minimum spend, in the data's currency")
    scene: str = Field(..., description="the scene the message speaks to")
    message: str = Field(
        ...,
        description="message template; {face}, {min_spend} and {currency} (data.currency_symbol) are filled in",
    )


def _recall_content() -> dict[str, RecallContent]:
    msg = "{scene}：送您 {currency}{face} 券（满 {currency}{min_spend} 可用），14 天内有效"
    rows = {
        "fresh": ("今晚的新鲜蔬果", 10, 39),
        "cooking": ("周末下厨备菜", 10, 39),
        "mother_baby": ("宝宝用品该补货了", 15, 79),
        "snacks": ("追剧零食补给", 8, 29),
        "drinks": ("饮品囤货", 8, 29),
        "daily": ("家庭日用补货", 10, 49),
    }
    return {
        k: RecallContent(face_value=f, min_spend=m, scene=s, message=msg) for k, (s, f, m) in rows.items()
    }


class RecallParams(_Section):
    """Play 4: churn recall (lifecycle stages, at-risk users, recall effect, recall list)."""

    stage_months: int = Field(12, ge=2, le=36, description="month ends shown in the stage history")
    k_declining: float = Field(2.0, gt=0, description="declining: recency >= k x the user's median gap")
    k_churned: float = Field(4.0, gt=0, description="churned: recency >= K x the user's median gap")
    declining_floor_days: int = Field(14, ge=1, description="personal declining threshold never below this")
    churned_floor_days: int = Field(30, ge=1, description="personal churned threshold never below this")
    declining_days: int = Field(30, ge=1, description="global fallback: declining after this many days")
    churned_days: int = Field(
        60, ge=1, description="churned after this many days without an order (everyone)"
    )
    min_gaps: int = Field(2, ge=1, description="own inter-order gaps needed for the personal rule")
    growth_days: int = Field(60, ge=1, description="growth: first order less than this many days ago")
    growth_max_orders: int = Field(3, ge=2, description="growth: fewer orders than this")
    prior_gaps: float = Field(
        2.0, gt=0, description="pseudo-gaps of the global mean that shrink each user's gap rate"
    )
    at_risk_p: float = Field(0.1, gt=0, lt=1, description="at risk: P(gap at least this long) below this")
    value_horizon_days: int = Field(
        30, ge=1, description="value at stake: expected gross margin over this many days (BG/NBD)"
    )
    window_days: int = Field(
        30, ge=1, le=120, description="reactivation: an order within N days of the touch"
    )
    campaign_months: int = Field(12, ge=1, le=36, description="months of recall campaigns measured")
    list_max_recency_days: int = Field(180, ge=1, description="churned users dormant longer are not recalled")
    list_cooldown_days: int = Field(45, ge=0, description="skip users put in a recall campaign this recently")
    offline_share: float = Field(
        0.5, ge=0, le=1, description="store share of orders above which offline comes first"
    )
    channel_store_active: str = Field(
        "offline_push",
        min_length=1,
        description="recall list channel of at-risk buyers who mostly buy in store",
    )
    channel_store_churned: str = Field(
        "sms", min_length=1, description="recall list channel of churned buyers who mostly bought in store"
    )
    channel_online: str = Field(
        "wechat_notice", min_length=1, description="recall list channel of buyers who mostly buy online"
    )
    cost_per_touch: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"sms": 0.05, "wechat_notice": 0.01, "offline_push": 0.02},
        description="planning cost per touch, yuan, per channel (a channel missing: cost unknown)",
    )
    content: dict[str, RecallContent] = Field(
        default_factory=_recall_content, description="recall offer per need (top category)"
    )
    holdout_share: float = Field(0.2, gt=0, lt=1, description="randomised holdout share of the recall list")
    holdout_seed: int = Field(20264, description="seed of the holdout draw")
    bootstrap_draws: int = Field(2000, ge=200, le=20000, description="bootstrap draws of incremental GMV")
    bootstrap_seed: int = Field(4041, description="seed of the bootstrap")
    ci_level: float = Field(0.95, gt=0.5, lt=1)


class ActivityParams(_Section):
    """Play 3: active-user incentives (windows, points, tiers, category cycles, reminders)."""

    trend_months: int = Field(6, ge=2, le=24, description="months shown in trends, report month included")
    repurchase_days: int = Field(30, ge=1, le=90, description="repurchase = another order within N days")
    max_orders_bucket: int = Field(5, ge=2, le=20, description="frequency tail bucket: N+ orders")
    min_segment_users: int = Field(30, ge=1, description="segments with fewer users are flagged as noisy")
    coupon_redeem_days: int = Field(7, ge=1, le=30, description="repurchase coupon redeemed within N days")
    reminder_window_days: int = Field(7, ge=1, le=30, description="repurchase-reminder outcome window (days)")
    effect_months: int = Field(6, ge=1, le=24, description="reminder campaigns pooled (months)")
    incentive_events: list[str] = Field(
        default_factory=lambda: ["checkin", "share_card", "draw", "task_done", "browse_40s"],
        description="events counted as incentive participation",
    )
    participation_days: int = Field(30, ge=7, le=90, description="participation window before the index date")
    prior_days: int = Field(60, ge=14, le=180, description="prior window: population and order strata")
    outcome_days: int = Field(30, ge=7, le=60, description="outcome window after the index date")
    match_order_bins: list[int] = Field(
        default_factory=lambda: [2, 3, 5, 8], description="prior-order strata lower bounds (ascending)"
    )
    match_tenure_bins_days: list[int] = Field(
        default_factory=lambda: [90, 180], description="tenure strata bounds in days (ascending)"
    )
    points_to_yuan: float = Field(0.01, gt=0, le=1, description="yuan per point (100 points = 1 yuan)")
    points_expiry_months: int | None = Field(
        None,
        ge=0,
        le=120,
        description="points issued in month m expire at the end of month m + N (None = points never expire)",
    )
    tier_window_days: int = Field(90, ge=7, le=365, description="tier = rolling spend over N days")
    tier_thresholds_yuan: dict[str, float] = Field(
        default_factory=lambda: {"potential": 100.0, "important": 500.0, "core": 1500.0},
        description="the one value tier of plays 03 and 05: tier name -> minimum rolling spend (ascending); "
        "below the first = ordinary",
    )
    cycle_lookback_months: int = Field(12, ge=2, le=36, description="purchases used for category cycles")
    cycle_horizon_days: int = Field(120, ge=30, le=365, description="cycle curves censored at N days")
    milk_powder_pattern: str = Field("%奶粉%", description="SQL LIKE pattern of milk powder product names")
    reminder_categories: list[str] = Field(
        default_factory=lambda: ["milk_powder", "mother_baby", "daily"],
        description="scenes to remind: categories, or milk_powder (per product cycle)",
    )
    reminder_horizon_days: int = Field(14, ge=1, le=62, description="due in N days after month end")
    reminder_lead_days: int = Field(3, ge=0, le=14, description="remind N days before expected")
    min_personal_gaps: int = Field(3, ge=1, le=20, description="own cycle from N gaps on")
    reminder_holdout_share: float = Field(0.2, gt=0, lt=1, description="randomised holdout share of the list")
    reminder_seed: int = Field(20263, description="seed of the holdout draw")
    category_window_days: int = Field(
        14, ge=1, le=62, description="category reminder: order window after the notice (days) for its effect"
    )
    ci_level: float = Field(0.95, gt=0.5, lt=1)

    @field_validator("match_order_bins", "match_tenure_bins_days")
    @classmethod
    def _ascending_bins(cls, v: list[int]) -> list[int]:
        if v != sorted(set(v)):
            raise ValueError("must be strictly ascending")
        if v and v[0] <= 0:
            raise ValueError("bounds must be positive")
        return v

    @field_validator("tier_thresholds_yuan")
    @classmethod
    def _ascending_tiers(cls, v: dict[str, float]) -> dict[str, float]:
        if not v or list(v.values()) != sorted(set(v.values())) or min(v.values()) <= 0:
            raise ValueError("needs positive, strictly ascending thresholds")
        return v


class BriefParams(_Section):
    """00: the leadership monthly brief (its dormant group is play 04's churned stage: recall params)."""

    @model_validator(mode="before")
    @classmethod
    def _no_dormant_days(cls, data):
        # one reactivation definition: the brief's dormant group is play 04's churned stage
        if isinstance(data, dict) and "dormant_days" in data:
            raise ValueError(
                "brief.dormant_days is no longer used: the brief's dormant group is play 04's churned "
                "stage; set recall.churned_days (and the personal rule's recall.k_churned) instead"
            )
        return data

    trailing_months: int = Field(6, ge=2, le=24, description="months before the report month for KPI norms")
    flag_sd: float = Field(2.0, gt=0, le=5, description="flag a KPI change outside mean +/- this many SD")
    repeat_days: int = Field(30, ge=1, le=90, description="key path: buy again within this many days")
    actions_per_play: int = Field(1, ge=1, le=10, description="top action lines quoted from each play")
    visit_events: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["visit"],
        min_length=1,
        description="traffic basis: event names of an app / mini-program session (an observed visit)",
    )
    footfall_events: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["store_visit"],
        description="traffic basis: event names of a logged store visit (footfall); [] = no store logs visits",
    )

    @field_validator("footfall_events")
    @classmethod
    def _footfall_not_session(cls, v: list[str], info) -> list[str]:
        both = sorted(set(v) & set(info.data.get("visit_events", [])))
        if both:
            raise ValueError(
                f"event names {both} are in both visit_events and footfall_events; name each once"
            )
        return v


class ReportParams(_Section):
    """What the reader sees: the report language and the chain's own display names."""

    language: Literal["zh", "en"] = Field(
        "zh", description="language of every PDF and report text (env USEROPS_REPORT_LANG / --lang wins)"
    )
    display_names: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="per kind (channel, category, segment, ...): value -> the name the chain uses",
    )

    @field_validator("display_names")
    @classmethod
    def _known_kinds(cls, v):
        from userops import i18n

        unknown = sorted(set(v) - set(i18n.kinds()))
        if unknown:
            raise ValueError(f"unknown kind(s) {unknown}; known: {', '.join(i18n.kinds())}")
        empty = sorted(
            f"{k}.{val}" for k, names in v.items() for val, text in names.items() if not text.strip()
        )
        if empty:
            raise ValueError(f"empty display name for {', '.join(empty)}")
        return v


class PrivacyParams(_Section):
    """Personal ids in what leaves the warehouse: target lists and daily trigger lists."""

    pseudonymise_lists: bool = Field(
        False,
        description="target and trigger lists carry salted hashes instead of user and referrer ids "
        "(same as `userops run/triggers --pseudonymise`); the salt and mappings stay beside the warehouse",
    )


class AcquisitionParams(_Section):
    """Play 1: acquisition (channels, CAC, channel quality, LTV/CAC, referral economics)."""

    volume_months: int = Field(12, ge=2, le=36, description="months shown in the volume trend")
    cac_months: int = Field(3, ge=1, le=12, description="trailing months pooled for CAC")
    quality_months: int = Field(6, ge=1, le=24, description="trailing first-order cohorts pooled for quality")
    conversion_short_days: int = Field(7, ge=1, le=60, description="registration -> first order window")
    conversion_long_days: int = Field(30, ge=1, le=120, description="second, longer conversion window")
    retention_short_days: int = Field(7, ge=1, le=60, description="cumulative Dk retention, short")
    retention_long_days: int = Field(30, ge=1, le=120, description="cumulative Dk retention, long")
    value_days: int = Field(90, ge=7, le=365, description="orders and GMV per user in the first N days")
    commission_group_leader: float = Field(27.0, ge=0, description="yuan per valid new user (ordered)")
    commission_store_promoter: float = Field(5.0, ge=0, description="yuan per valid new user")
    referral_months: int = Field(3, ge=1, le=12, description="trailing registration months for referrers")
    referral_gmv_days: int = Field(30, ge=1, le=180, description="referred users' GMV in N days")
    referral_top_n: int = Field(10, ge=1, le=100, description="referrers listed top and bottom")
    referral_min_registrations: int = Field(3, ge=1, description="referrers with fewer are not ranked")
    ltv_horizon_months: int = Field(12, ge=3, le=36, description="LTV horizon (observed curve and model)")
    ltv_min_calibration_days: int = Field(
        90,
        ge=30,
        le=730,
        description="model check: history the model is fitted on before a held-out period as long as "
        "the horizon (shorter data: LTV only over the months it can check)",
    )
    ltv_independence_max_rho: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Gamma-Gamma assumes spend independent of frequency: warn above this |Spearman rho|",
    )
    ltv_cac_scale: float = Field(3.0, gt=1, description="scale at this LTV/CAC and D30 >= all")
    min_cohort_users: int = Field(30, ge=1, description="channels with fewer eligible users are flagged")
    ltv_min_repeaters: int = Field(
        30, ge=2, description="a BG/NBD fit needs this many customers with a repeat purchase day"
    )
    ltv_min_repeat_share: float = Field(
        0.05, gt=0, lt=1, description="and this share of its customers repeating (else no projection)"
    )
    ltv_min_customers: int = Field(
        100, ge=2, description="a channel with fewer customers or repeaters uses the model of all channels"
    )
    top_n: int = Field(
        15, ge=3, le=100, description="long lists (WeChat groups) show this many, then 'others'"
    )
    ci_level: float = Field(0.95, gt=0.5, lt=1)


class ScoreRule(_Section):
    """One RFM rule: a user whose scores fall in every [low, high] range gets `name` (first match wins)."""

    name: str
    label: str = Field("", description="display label, e.g. the Chinese tier name")
    r: tuple[int, int] = Field((1, 5), strict=False, description="recency score range, inclusive")
    f: tuple[int, int] = Field((1, 5), strict=False, description="frequency score range, inclusive")
    m: tuple[int, int] = Field((1, 5), strict=False, description="monetary score range, inclusive")


def _rules(*rows) -> list[ScoreRule]:
    return [ScoreRule(name=n, label=lab, r=r, f=f, m=m) for n, lab, r, f, m in rows]


PERSONA_FEATURES = (
    "n_orders", "aov", "recency_days", "online_share", "coupon_share", "weekend_share",
    "tod_morning", "tod_midday", "tod_afternoon", "tod_evening", "tod_night",
    "cat_fresh", "cat_cooking", "cat_mother_baby", "cat_snacks", "cat_drinks", "cat_daily",
)  # fmt: skip


class PersonaParams(_Section):
    """Play 5: persona analysis (RFM, value tiers, attribute personas, behaviour clusters)."""

    rfm_window_months: int = Field(12, ge=1, le=36, description="months of orders behind R, F and M")
    score_bins: int = Field(5, ge=2, le=10, description="score levels per RFM dimension (5 = quintiles)")
    segments: list[ScoreRule] = Field(
        default_factory=lambda: _rules(
            ("champions", "", (4, 5), (4, 5), (1, 5)),
            ("loyal", "", (3, 5), (3, 5), (1, 5)),
            ("recent_first_timers", "", (4, 5), (1, 1), (1, 5)),
            ("promising", "", (3, 5), (1, 2), (1, 5)),
            ("at_risk", "", (1, 2), (3, 5), (1, 5)),
            ("hibernating", "", (2, 2), (1, 2), (1, 5)),
            ("lost", "", (1, 1), (1, 2), (1, 5)),
        ),
        description="RFM segments, first matching rule wins",
    )
    rule_fallback: str = Field("other", description="name of users no rule matches")
    feature_window_months: int = Field(12, ge=1, le=36, description="months of behaviour behind the features")
    age_edges: list[int] = Field([25, 30, 40, 50, 60], description="ages where an age band starts")
    features: list[str] = Field(
        default_factory=lambda: [
            f for f in PERSONA_FEATURES if f not in ("n_orders", "recency_days", "coupon_share")
        ],
        min_length=2,
        description="per-user features the clusters are built on",
    )
    min_orders: int = Field(
        3, ge=1, description="users with fewer orders are not clustered: the 'too new to profile' group"
    )
    too_new_label: str = Field("too new to profile", min_length=1, description="name of that group")
    silhouette_weak: float = Field(
        0.25, gt=0, lt=1, description="a chosen clustering with a lower silhouette is reported as weak"
    )
    pca_components: int = Field(4, ge=0, description="whitened principal components clustered (0 = none)")
    k_min: int = Field(3, ge=2, description="smallest number of clusters tried")
    k_max: int = Field(8, ge=2, le=20, description="largest number of clusters tried")
    silhouette_sample: int = Field(3000, ge=200, description="users in the seeded silhouette sample")
    n_init: int = Field(4, ge=1, le=50, description="k-means restarts")
    seed: int = Field(20265, description="seed of the sample and of k-means")
    online_share_high: float = Field(0.6, gt=0.5, lt=1, description="a cluster above this is named 'online'")
    online_share_low: float = Field(0.4, gt=0, lt=0.5, description="a cluster below this is named 'in-store'")
    name_lift: float = Field(1.25, gt=1, description="a category or weekend lift above this enters a name")
    association_levels: tuple[float, float, float] = Field(
        (0.1, 0.2, 0.3), strict=False, description="Cramér's V from which a link is weak, moderate, strong"
    )
    min_group_users: int = Field(30, ge=1, description="groups smaller than this are flagged as noisy")
    ci_level: float = Field(0.95, gt=0.5, lt=1)

    @field_validator("segments")
    @classmethod
    def _rule_ranges(cls, rules, info):
        bins = info.data.get("score_bins", 5)
        for rule in rules:
            for lo, hi in (rule.r, rule.f, rule.m):
                if not 1 <= lo <= hi <= bins:
                    raise ValueError(f"rule {rule.name!r}: need 1 <= low <= high <= score_bins")
        return rules

    @field_validator("age_edges")
    @classmethod
    def _ascending(cls, v):
        if not v or sorted(set(v)) != v:
            raise ValueError("age_edges must be a non-empty, strictly ascending list")
        return v

    @field_validator("features")
    @classmethod
    def _known_features(cls, v):
        # categories are the chain's own: any cat_<category> is a line-share feature
        unknown = sorted(f for f in set(v) - set(PERSONA_FEATURES) if not f.startswith("cat_"))
        if unknown:
            raise ValueError(
                f"unknown features {unknown}; choose from {list(PERSONA_FEATURES)} or cat_<category>"
            )
        return v

    @field_validator("k_max")
    @classmethod
    def _k_range(cls, v, info):
        if v < info.data.get("k_min", 2):
            raise ValueError("k_max must not be below k_min")
        return v


class DataParams(_Section):
    """How the chain's own vocabulary maps to the roles the analysis needs, and the money basis shown."""

    currency_symbol: str = Field("¥", min_length=1, description="currency symbol shown before money")
    currency_code: str = Field(
        "CNY", min_length=3, max_length=3, description="ISO 4217 code of the money columns"
    )
    timestamp_min: str = Field(
        "2000-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$", description="earliest plausible timestamp (loader)"
    )
    timezone: str = Field(
        "Asia/Shanghai",
        min_length=1,
        description="the chain's timezone (IANA name): values with an offset or a timezone are converted to it; "
        "values without one are taken as local time",
    )
    null_tokens: list[str] = Field(
        default_factory=lambda: ["NULL", "NA", "null", "\\N"],
        description="values read as missing in every column, besides empty or blank fields (always missing)",
    )
    offline_order_channels: list[str] = Field(
        default_factory=lambda: ["store"],
        description="order channels placed in a store; every other order channel counts as online",
    )
    new_user_coupon_kinds: list[str] = Field(
        default_factory=lambda: ["new_user_small", "new_user_aov", "new_user_large", "new_user_mid"],
        description="coupon kinds that form the new-user pack",
    )
    repurchase_coupon_kinds: list[str] = Field(
        default_factory=lambda: ["repurchase"], description="coupon kinds given to trigger a repurchase"
    )
    recall_coupon_kinds: list[str] = Field(
        default_factory=lambda: ["recall"], description="coupon kinds given in recall campaigns"
    )
    hero_price_max: float = Field(
        10.0, gt=0, description="derived hero products (no products.is_hero): best sellers under this price"
    )
    hero_top_n: int = Field(20, ge=1, description="derived hero products: this many best sellers by units")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (an IANA name such as Asia/Shanghai or UTC)") from None
        return v

    @field_validator("null_tokens", mode="before")
    @classmethod
    def _quoted_tokens(cls, v):
        if isinstance(v, list) and any(t is None or isinstance(t, bool) for t in v):
            raise ValueError("write each token in quotes: YAML reads a bare null, NULL or ~ as nothing")
        return v

    @field_validator("null_tokens")
    @classmethod
    def _distinct_tokens(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a null token is listed twice")
        if any(t != t.strip() or not t for t in v):
            raise ValueError(
                "null tokens are compared after trimming spaces (give them without spaces); "
                "empty or blank fields are always missing"
            )
        return v


class ExperimentParams(_Section):
    """The persistent global holdout and the money basis of every effect."""

    global_holdout_share: float = Field(
        0.05, ge=0, lt=0.5, description="share of users in the global control group (never touched)"
    )
    global_holdout_salt: str = Field(
        "userops-global-holdout-v1",
        min_length=1,
        description="salt of the stable assignment sha256(salt:original user id); changing it reshuffles",
    )
    global_window_months: int = Field(
        12, ge=1, le=36, description="population: users with an order in the N months before the report month"
    )
    assumed_margin_rate: float = Field(
        0.25, gt=0, lt=1, description="gross margin / paid GMV where products.unit_cost is absent (assumed)"
    )
    campaign_fixed_cost: float = Field(
        0.0, ge=0, description="fixed cost per campaign, added to its touch cost"
    )
    bootstrap_draws: int = Field(1000, ge=200, le=20000, description="user-resampling bootstrap draws")
    bootstrap_seed: int = Field(20266, description="seed of the user-resampling bootstrap")
    ci_level: float = Field(0.95, gt=0.5, lt=1)


class TriggerList(_Section):
    """One daily trigger list: its place in the contact plan and what the CRM sends."""

    priority: int = Field(..., ge=1, description="1 = first: a user on several lists gets the lowest number")
    channel: str = Field(..., min_length=1, description="the CRM channel the list is sent on, e.g. sms")
    content_key: str = Field(
        ..., min_length=1, description="message template key in the CRM; {detail} is filled per row"
    )
    campaign_kind: str = Field(
        "other", description="campaigns.kind written for the list (one of the contract's campaign kinds)"
    )
    cost_per_touch: float = Field(0.01, ge=0, description="cost per treated user touched")
    holdout_share: float = Field(0.1, gt=0, lt=1, description="seeded holdout share of the list")

    @field_validator("campaign_kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        from userops.contract import CAMPAIGN_KINDS

        if v not in CAMPAIGN_KINDS:
            raise ValueError(f"must be one of {list(CAMPAIGN_KINDS)}")
        return v


TRIGGER_RULES = (
    "new_user_coupon_expiring",
    "repurchase_coupon_unused",
    "category_cycle_due",
    "abandoned_checkout",
    "registered_never_ordered",
    "recall",
)


def _trigger_lists() -> dict[str, TriggerList]:
    rows = {
        "new_user_coupon_expiring": (1, "wechat_notice", "new_user_coupon_expiring", "expiry_reminder", 0.01),
        "abandoned_checkout": (2, "app_push", "abandoned_checkout", "other", 0.0),
        "repurchase_coupon_unused": (
            3,
            "wechat_notice",
            "repurchase_coupon_unused",
            "repurchase_reminder",
            0.01,
        ),
        "category_cycle_due": (
            4,
            "wechat_notice",
            "category_cycle_due.{detail}",
            "category_reminder",
            0.01,
        ),
        "registered_never_ordered": (5, "sms", "registered_never_ordered", "activation", 0.05),
        "recall": (6, "sms", "recall.{detail}", "recall", 0.05),
    }
    return {
        k: TriggerList(priority=p, channel=ch, content_key=ck, campaign_kind=kd, cost_per_touch=c)
        for k, (p, ch, ck, kd, c) in rows.items()
    }


class TriggersParams(_Section):
    """Daily trigger lists a CRM can send (userops triggers): rules, contact plan, send window."""

    expiry_hours: int = Field(48, ge=1, le=168, description="new-user coupon expiring within N hours")
    repurchase_unused_days: int = Field(
        3, ge=1, le=60, description="repurchase coupon unused N days after issue"
    )
    cycle_categories: list[str] = Field(
        default_factory=lambda: ["mother_baby", "daily"], description="categories bought on a cycle"
    )
    cycle_min_gaps: int = Field(3, ge=1, le=20, description="own cycle from N gaps between purchase days on")
    cycle_lead_days: int = Field(3, ge=0, le=14, description="remind N days before the cycle is due")
    cycle_lookback_days: int = Field(365, ge=30, le=1095, description="purchases behind the cycles")
    checkout_events: list[str] = Field(
        default_factory=lambda: ["checkout_start"], description="event names that start a checkout"
    )
    checkout_hours: int = Field(
        4, ge=1, le=72, description="abandoned: no order within N hours of a checkout"
    )
    registered_days: int = Field(3, ge=1, le=60, description="registered N days ago and never ordered")
    weekly_cap: int = Field(2, ge=1, le=7, description="touches per user in any 7 days (one per day at most)")
    measurement_days: int = Field(
        7, ge=1, le=60, description="a user held out of a list this recently is not touched by any list"
    )
    send_start_hour: int = Field(8, ge=0, le=23, description="earliest send hour (local)")
    send_end_hour: int = Field(21, ge=0, le=23, description="latest send hour (local)")
    default_send_hour: int = Field(10, ge=0, le=23, description="send hour of users without orders")
    holdout_salt: str = Field(
        "userops-triggers-v1", min_length=1, description="salt of the per (date, list, user) holdout draw"
    )
    campaign_prefix: str = Field(
        "trg-", min_length=1, description="campaign ids / names starting with this are trigger campaigns"
    )
    lists: dict[str, TriggerList] = Field(default_factory=_trigger_lists, description="one entry per rule")

    @field_validator("lists")
    @classmethod
    def _known_rules(cls, v: dict[str, TriggerList]) -> dict[str, TriggerList]:
        unknown = sorted(set(v) - set(TRIGGER_RULES))
        if unknown:
            raise ValueError(f"unknown trigger lists {unknown}; choose from {list(TRIGGER_RULES)}")
        return v

    @field_validator("send_end_hour")
    @classmethod
    def _window(cls, v: int, info) -> int:
        if v < info.data.get("send_start_hour", 0):
            raise ValueError("send_end_hour must not be before send_start_hour")
        return v


class DuckDBParams(_Section):
    """DuckDB resources (environment variables USEROPS_DUCKDB_MEMORY_LIMIT / _THREADS / _TEMP_DIRECTORY /
    _MAX_TEMP_SIZE win)."""

    memory_limit: str | None = Field(None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    threads: int | None = Field(None, ge=1, le=256)
    temp_directory: str | None = Field(None, min_length=1, description="where queries spill to disk")
    max_temp_directory_size: str | None = Field(
        None,
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="the most a query may spill; past it the query fails instead of filling the disk",
    )


class RunParams(_Section):
    """`userops run` (environment variable USEROPS_RUN_LANES and `--lanes` win)."""

    lanes: int | None = Field(
        None,
        ge=1,
        le=32,
        description="plays executed at once, sharing the DuckDB budget; null = the machine's cores, at most 4",
    )


# An existing table on the cluster: [catalog.][database.]table
SPARK_TABLE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$"
DATABASE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"  # [catalog.]database


class SparkParams(_Section):
    """Where the Spark engine runs and what it reads (env USEROPS_SPARK_MASTER / _REMOTE / _PARQUET win)."""

    master: str | None = Field(
        None, pattern=r"^(local(\[(\d+|\*)\])?|spark://\S+|yarn|k8s://\S+)$", description="null = local[2]"
    )
    remote: str | None = Field(None, pattern=r"^sc://\S+$", description="Spark Connect, e.g. sc://host:15002")
    parquet: str | None = Field(
        None,
        min_length=1,
        description="folder of `userops load --parquet-out`; null = <warehouse>.parquet beside the warehouse",
    )
    tables: dict[str, Annotated[str, Field(pattern=SPARK_TABLE_NAME)]] = Field(
        default_factory=dict,
        description="input table -> an existing catalog table read instead of its Parquet",
    )
    database: str | None = Field(
        None,
        pattern=DATABASE_NAME,
        description="catalog database holding the load's tables (userops.engine.publish_tables) instead "
        "of the Parquet folder; the derived tables are saved there too",
    )
    conf: dict[str, str] = Field(
        default_factory=dict, description="extra Spark settings, e.g. spark.driver.memory"
    )

    @model_validator(mode="after")
    def _one_place(self):
        if self.master and self.remote:
            raise ValueError(
                "spark: give master (a local or classic cluster) or remote (Spark Connect), not both"
            )
        return self

    @field_validator("tables")
    @classmethod
    def _known_tables(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(LOAD_ORDER))
        if unknown:
            raise ValueError(f"unknown input tables {unknown}; choose from {list(LOAD_ORDER)}")
        return v


class Params(_Section):
    chain_name: str = Field("鲜邻便利", description="chain name on the PDF cover")
    offline_channels: list[str] = Field(
        default_factory=lambda: ["store_poster_qr", "store_promoter"],
        description="acquisition channels counted as offline; all others are online",
    )
    data: DataParams = Field(default_factory=DataParams)
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="where the metric SQL runs (env USEROPS_ENGINE / `userops run --engine` win)"
    )
    duckdb: DuckDBParams = Field(default_factory=DuckDBParams)
    run: RunParams = Field(default_factory=RunParams)
    spark: SparkParams = Field(default_factory=SparkParams)
    experiments: ExperimentParams = Field(default_factory=ExperimentParams)
    acquisition: AcquisitionParams = Field(default_factory=AcquisitionParams)
    retention: RetentionParams = Field(default_factory=RetentionParams)
    brief: BriefParams = Field(default_factory=BriefParams)
    activity: ActivityParams = Field(default_factory=ActivityParams)
    recall: RecallParams = Field(default_factory=RecallParams)
    persona: PersonaParams = Field(default_factory=PersonaParams)
    triggers: TriggersParams = Field(default_factory=TriggersParams)
    report: ReportParams = Field(default_factory=ReportParams)
    privacy: PrivacyParams = Field(default_factory=PrivacyParams)

    @model_validator(mode="after")
    def _one_repurchase_window(self):
        # the brief's key-path "buy again" is play 03's N-day repurchase (one SQL definition): one N
        if self.brief.repeat_days != self.activity.repurchase_days:
            raise ValueError(
                f"brief.repeat_days ({self.brief.repeat_days}) must equal activity.repurchase_days "
                f"({self.activity.repurchase_days}): the key path's buy-again step is play 03's repurchase"
            )
        return self

    @model_validator(mode="after")
    def _segment_names_not_tiers(self):
        """RFM segment names must never read as a value tier or as new users."""
        taken = {"new", "none", "ordinary", *self.activity.tier_thresholds_yuan}
        clash = sorted({r.name for r in self.persona.segments} & taken)
        if clash:
            raise ValueError(
                f"persona.segments: {', '.join(clash)} is a value-tier name or 'new' (activity.tier_thresholds_yuan); "
                "rename the segment"
            )
        return self


class ParamsError(ValueError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# Environment overrides of the engine settings (`userops run --engine` sets USEROPS_ENGINE for the kernels).
ENGINE_ENV = "USEROPS_ENGINE"
SPARK_ENV = {
    "master": "USEROPS_SPARK_MASTER",
    "remote": "USEROPS_SPARK_REMOTE",
    "parquet": "USEROPS_SPARK_PARQUET",
}


def _engine_from_env(raw: dict) -> dict:
    engine = os.environ.get(ENGINE_ENV, "").strip()
    if engine:
        raw = {**raw, "engine": engine}
    spark = {k: os.environ[env].strip() for k, env in SPARK_ENV.items() if os.environ.get(env, "").strip()}
    if spark:
        given = raw.get("spark")
        given = {**(given if isinstance(given, dict) else {}), **spark}
        if "remote" in spark:  # the environment's Spark Connect address replaces a master in the file
            given.pop("master", None)
        elif "master" in spark:
            given.pop("remote", None)
        raw = {**raw, "spark": given}
    return raw


def load_params(path: str | Path) -> Params:
    """Read and validate a params YAML file; errors name the file and the key."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except FileNotFoundError:
        raise ParamsError(f"params file {path} not found") from None
    except yaml.YAMLError as e:
        raise ParamsError(f"params file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"params file {path}: top level must be a mapping of keys")
    lang = os.environ.get("USEROPS_REPORT_LANG", "").strip()  # `userops run --lang` / make REPORT_LANG
    if lang:
        report = raw.get("report")
        raw = {**raw, "report": {**(report if isinstance(report, dict) else {}), "language": lang}}
    raw = _engine_from_env(raw)
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"  - {key}: {msg} (got {err.get('input')!r})")
        raise ParamsError(f"params file {path}:\n" + "\n".join(lines)) from None
