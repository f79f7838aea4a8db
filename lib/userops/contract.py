"""The data contract: the input tables a retail chain exports, declared once.

Every table, column, type, key, nullability rule, enum, foreign key and value
rule that `userops check` / `userops load` enforce lives here, and nowhere
else. data/README.md documents the same contract for analysts (a test keeps
the two in step).

Required tables: users, orders. All others are optional; a notebook section
that needs an absent table says so instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Plausible timestamp range: anything outside is a unit or parsing error. The lower bound is a
# load parameter (params data.timestamp_min); MIN_TS is its default.
MIN_TS = "2000-01-01"
MAX_TS = "2100-01-01"

# Strict vocabularies (a value outside them changes a number's meaning). Order channels, campaign
# channels, coupon kinds, product categories, event names and referrer kinds are the chain's own
# (open vocabularies): params map them to roles, and an unmapped value is a notice, not an error.
ARMS = ("treatment", "holdout")
GENDERS = ("F", "M")
CAMPAIGN_KINDS = (
    "recall",
    "expiry_reminder",
    "repurchase_reminder",
    "category_reminder",
    "activation",
    "other",
)
# The demo's vocabularies (the demo generator and the default params use them; nothing enforces them).
CATEGORIES = ("fresh", "cooking", "mother_baby", "snacks", "drinks", "daily")
NEW_USER_COUPON_KINDS = ("new_user_small", "new_user_aov", "new_user_large", "new_user_mid")

# Ids may be integers or text. These four are mapped at load to BIGINT surrogate keys (map_<id>
# tables keep the original); product, store and referrer ids stay text.
MAPPED_IDS = ("user_id", "order_id", "coupon_id", "campaign_id")


@dataclass(frozen=True)
class Column:
    """One column: SQL type, nullability and value rules."""

    name: str
    type: str  # DuckDB type the column is cast to
    nullable: bool = False
    enum: tuple[str, ...] | None = None
    min_value: float | None = None  # inclusive
    max_value: float | None = None  # inclusive
    nonzero: bool = False
    doc: str = ""
    # An id (integer or text, never fractional). id_map names the surrogate map for MAPPED_IDS.
    is_id: bool = False
    id_map: str | None = None
    # When the column is absent from a file: SQL over the typed row (other tables as typed_<name>,
    # params as $hero_price_max / $hero_top_n), and its meaning for the docs.
    default_sql: str | None = None
    default_doc: str = ""
    quarantine: bool = False  # range violations are row-level: `load --quarantine` sets them aside
    not_after_last_order: bool = False  # refused when later than the export's last order day

    @property
    def is_timestamp(self) -> bool:
        return self.type.upper() in ("TIMESTAMP", "DATE")

    @property
    def source_type(self) -> str:
        """The type values are read and checked as (mapped ids are checked on the original text)."""
        return "VARCHAR" if self.is_id else self.type


def _id(name: str, nullable: bool = False, doc: str = "", ref: str | None = None) -> Column:
    mapped = (ref or name) if (ref or name) in MAPPED_IDS else None
    return Column(
        name, "BIGINT" if mapped else "VARCHAR", nullable=nullable, doc=doc, is_id=True, id_map=mapped
    )


@dataclass(frozen=True)
class ForeignKey:
    column: str
    ref_table: str
    ref_column: str
    quarantine: bool = False  # orphans are row-level: `load --quarantine` sets them aside


@dataclass(frozen=True)
class RowRule:
    """A rule across columns, as a SQL boolean over the typed row (true = ok)."""

    name: str
    sql: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = False
    foreign_keys: tuple[ForeignKey, ...] = ()
    rules: tuple[RowRule, ...] = field(default_factory=tuple)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# products.is_hero when absent: the hero_top_n best sellers by units among products whose price
# (products.price, else the average unit price paid) is at most hero_price_max.
HERO_SQL = """product_id in (
    select i.product_id from typed_order_items i
    left join typed_products p using (product_id)
    group by i.product_id
    having coalesce(any_value(p.price), sum(i.amount) / nullif(sum(i.quantity), 0)) <= $hero_price_max
    qualify row_number() over (order by sum(i.quantity) desc, i.product_id) <= $hero_top_n)"""

MONEY = "DECIMAL(12,2)"

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "users",
            "one row per registered user",
            (
                _id("user_id", doc="user key"),
                Column("registered_at", "TIMESTAMP", doc="registration time (store local)"),
                Column("channel", "VARCHAR", doc="acquisition channel, e.g. wechat_group, paid_ads"),
                _id("referrer_id", nullable=True, doc="group leader / store promoter who referred the user"),
                _id(
                    "home_store_id",
                    nullable=True,
                    doc="store the user registered at or nearest",
                    ref="store_id",
                ),
                Column("city", "VARCHAR", nullable=True),
                Column("gender", "VARCHAR", nullable=True, enum=GENDERS),
                Column("birth_year", "INTEGER", nullable=True, min_value=1900, max_value=2030),
                Column(
                    "family_status",
                    "VARCHAR",
                    nullable=True,
                    doc="free text, e.g. single, couple, with_kids, retired",
                ),
            ),
            key=("user_id",),
            required=True,
            foreign_keys=(
                ForeignKey("referrer_id", "referrers", "referrer_id"),
                ForeignKey("home_store_id", "stores", "store_id"),
            ),
        ),
        Table(
            "orders",
            "one row per paid order",
            (
                _id("order_id"),
                _id("user_id"),
                Column(
                    "ordered_at",
                    "TIMESTAMP",
                    doc="payment time (store local); the last one is the export's last day",
                ),
                _id("store_id", nullable=True, doc="fulfilling store; empty for online orders"),
                Column(
                    "order_channel",
                    "VARCHAR",
                    doc="the chain's own channels; params data.offline_order_channels are in-store, the rest online",
                ),
                Column("gmv", MONEY, min_value=0, doc="amount paid (after discounts)"),
                Column(
                    "discount",
                    MONEY,
                    min_value=0,
                    doc="coupon and promotion discount",
                    default_sql="0",
                    default_doc="0",
                ),
                _id("coupon_id", nullable=True, doc="a coupon redeemed on this order (more: order_coupons)"),
            ),
            key=("order_id",),
            required=True,
            foreign_keys=(
                ForeignKey("user_id", "users", "user_id"),
                ForeignKey("store_id", "stores", "store_id"),
                ForeignKey("coupon_id", "coupons", "coupon_id"),
            ),
        ),
        Table(
            "order_items",
            "one row per order line",
            (
                _id("order_id"),
                _id("product_id"),
                Column("quantity", "INTEGER", min_value=1, quarantine=True),
                Column(
                    "amount",
                    MONEY,
                    min_value=0,
                    doc="line amount before the order-level discount: quantity x the price charged for the line; "
                    "an order's lines sum to gmv + discount",
                ),
            ),
            key=("order_id", "product_id"),
            foreign_keys=(
                ForeignKey("order_id", "orders", "order_id", quarantine=True),
                ForeignKey("product_id", "products", "product_id", quarantine=True),
            ),
        ),
        Table(
            "products",
            "one row per product",
            (
                _id("product_id"),
                Column("name", "VARCHAR", default_sql="product_id", default_doc="the product_id"),
                Column("category", "VARCHAR", doc="the chain's own categories"),
                Column("price", MONEY, nullable=True, min_value=0, doc="list price"),
                Column("unit_cost", MONEY, nullable=True, min_value=0, doc="purchase cost, for margin"),
                Column(
                    "is_hero",
                    "BOOLEAN",
                    doc="hero product: a cheap best seller that brings first orders",
                    default_sql=HERO_SQL,
                    default_doc="the data.hero_top_n best sellers by units with a price (list price, "
                    "else the average paid) at most data.hero_price_max",
                ),
            ),
            key=("product_id",),
        ),
        Table(
            "stores",
            "one row per store",
            (
                _id("store_id"),
                Column("name", "VARCHAR"),
                Column("city", "VARCHAR"),
                Column("opened_at", "DATE", nullable=True),
            ),
            key=("store_id",),
        ),
        Table(
            "referrers",
            "one row per group leader or store promoter",
            (
                _id("referrer_id"),
                Column("kind", "VARCHAR", doc="e.g. group_leader, store_promoter (commissions in params)"),
                Column("group_id", "VARCHAR", nullable=True, doc="WeChat group led (group leaders)"),
                _id("store_id", nullable=True, doc="store worked at (promoters)"),
            ),
            key=("referrer_id",),
            foreign_keys=(ForeignKey("store_id", "stores", "store_id"),),
        ),
        Table(
            "coupons",
            "one row per issued coupon",
            (
                _id("coupon_id"),
                _id("user_id"),
                Column(
                    "kind", "VARCHAR", doc="the chain's own kinds; params data.*_coupon_kinds give them roles"
                ),
                Column("issued_at", "TIMESTAMP"),
                Column("expires_at", "TIMESTAMP", doc="may be after the export's last day"),
                Column("face_value", MONEY, min_value=0),
                Column("min_spend", MONEY, min_value=0),
                _id("campaign_id", nullable=True),
            ),
            key=("coupon_id",),
            foreign_keys=(
                ForeignKey("user_id", "users", "user_id"),
                ForeignKey("campaign_id", "campaigns", "campaign_id"),
            ),
            rules=(
                RowRule("expires_at >= issued_at", "expires_at >= issued_at", ("expires_at", "issued_at")),
            ),
        ),
        Table(
            "campaigns",
            "one row per CRM campaign",
            (
                _id("campaign_id"),
                Column("name", "VARCHAR", default_sql="campaign_id", default_doc="the campaign_id"),
                Column("kind", "VARCHAR", enum=CAMPAIGN_KINDS),
                Column("channel", "VARCHAR", doc="the chain's own channels, e.g. sms, email, app_push"),
                Column("started_at", "TIMESTAMP"),
                Column("ended_at", "TIMESTAMP"),
                Column("cost_per_touch", MONEY, min_value=0, doc="cost per treated user touched"),
            ),
            key=("campaign_id",),
            rules=(RowRule("ended_at >= started_at", "ended_at >= started_at", ("ended_at", "started_at")),),
        ),
        Table(
            "campaign_members",
            "one row per user in a campaign (treatment or randomised holdout)",
            (
                _id("campaign_id"),
                _id("user_id"),
                Column("arm", "VARCHAR", enum=ARMS),
                Column(
                    "assigned_at",
                    "TIMESTAMP",
                    doc="when the arm was drawn (also for holdout)",
                    default_sql="(select c.started_at from typed_campaigns c "
                    "where c.campaign_id = typed_campaign_members.campaign_id)",
                    default_doc="the campaign's started_at",
                    not_after_last_order=True,
                ),
                Column(
                    "touched_at",
                    "TIMESTAMP",
                    nullable=True,
                    doc="when the touch was sent; null for holdout",
                    not_after_last_order=True,
                ),
            ),
            key=("campaign_id", "user_id"),
            foreign_keys=(
                ForeignKey("campaign_id", "campaigns", "campaign_id", quarantine=True),
                ForeignKey("user_id", "users", "user_id", quarantine=True),
            ),
            rules=(
                RowRule(
                    "holdout is never touched",
                    "arm = 'treatment' or touched_at is null",
                    ("arm", "touched_at"),
                ),
            ),
        ),
        Table(
            "order_coupons",
            "one row per coupon redeemed on an order (for orders that redeem more than one)",
            (_id("order_id"), _id("coupon_id")),
            key=("order_id", "coupon_id"),
            foreign_keys=(
                ForeignKey("order_id", "orders", "order_id"),
                ForeignKey("coupon_id", "coupons", "coupon_id"),
            ),
        ),
        Table(
            "channel_spend",
            "one row per month x acquisition channel",
            (
                Column("month", "DATE", doc="first day of the month"),
                Column("channel", "VARCHAR"),
                Column("spend", MONEY, min_value=0),
            ),
            key=("month", "channel"),
            rules=(RowRule("month is the first day of a month", "day(month) = 1", ("month",)),),
        ),
        Table(
            "events",
            "one row per behaviour event",
            (
                _id("user_id"),
                Column("ts", "TIMESTAMP", not_after_last_order=True),
                Column(
                    "event",
                    "VARCHAR",
                    doc="the chain's own event names, e.g. visit, add_cart, checkin, store_visit (a logged store visit)",
                ),
                Column("event_channel", "VARCHAR", nullable=True, doc="an order channel"),
            ),
            key=(),
            foreign_keys=(ForeignKey("user_id", "users", "user_id", quarantine=True),),
        ),
        Table(
            "points_ledger",
            "one row per points movement",
            (
                _id("user_id"),
                Column("ts", "TIMESTAMP", not_after_last_order=True),
                Column("points", "INTEGER", nonzero=True, doc="+issued, -redeemed or expired"),
                Column(
                    "reason",
                    "VARCHAR",
                    doc="browse_40s, three_orders_day, share_card, checkin, order, task, redeem, expire",
                ),
            ),
            key=(),
            foreign_keys=(ForeignKey("user_id", "users", "user_id", quarantine=True),),
        ),
    )
}

REQUIRED_TABLES = tuple(name for name, t in TABLES.items() if t.required)

# Load order: parents before children (foreign keys check against loaded parents).
LOAD_ORDER = (
    "stores",
    "referrers",
    "users",
    "products",
    "campaigns",
    "coupons",
    "orders",
    "order_items",
    "campaign_members",
    "order_coupons",
    "channel_spend",
    "events",
    "points_ledger",
)
assert set(LOAD_ORDER) == set(TABLES)


def _rules(t: Table, c: Column) -> list[str]:
    rules = []
    if c.is_id:
        rules.append("whole (integer or text, not 1.7)")
    if c.enum:
        rules.append("one of " + ", ".join(c.enum))
    if c.type == MONEY:
        rules.append("at most 2 decimals")
    if c.min_value is not None:
        rules.append(f">= {c.min_value:g}" + (" (set aside with --quarantine)" if c.quarantine else ""))
    if c.max_value is not None:
        rules.append(f"<= {c.max_value:g}")
    if c.nonzero:
        rules.append("not 0")
    if c.is_timestamp:
        rules.append(f"data.timestamp_min (default {MIN_TS}) to {MAX_TS}")
    if c.not_after_last_order:
        rules.append("not after the last order day (set aside with --quarantine)")
    for fk in t.foreign_keys:
        if fk.column == c.name:
            rule = f"in {fk.ref_table}.{fk.ref_column} (when {fk.ref_table} is supplied)"
            rules.append(rule + ("; orphans set aside with --quarantine" if fk.quarantine else ""))
    return rules


def markdown() -> str:
    """The contract as Markdown tables (data/README.md embeds this block verbatim)."""
    lines = []
    for name in LOAD_ORDER:
        t = TABLES[name]
        status = "required" if t.required else "optional"
        key = ", ".join(t.key) if t.key else "none"
        lines += [f"### `{name}` ({status})", "", f"Grain: {t.grain}. Key: {key}.", ""]
        lines += ["| column | type | null | rule | meaning |", "| --- | --- | --- | --- | --- |"]
        for c in t.columns:
            ctype = "id" if c.is_id else c.type
            null = "yes" if c.nullable else "no"
            if c.default_doc:
                null += f"; absent column: {c.default_doc}"
            lines.append(f"| {c.name} | {ctype} | {null} | {'; '.join(_rules(t, c))} | {c.doc} |")
        for r in t.rules:
            lines.append(f"| *row rule* | | | {r.name} | |")
        lines.append("")
    return "\n".join(lines)
