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

# Plausible timestamp range: anything outside is a unit or parsing error.
MIN_TS = "2000-01-01"
MAX_TS = "2100-01-01"

CATEGORIES = ("fresh", "cooking", "mother_baby", "snacks", "drinks", "daily")
ORDER_CHANNELS = ("store", "mini_program", "app", "wechat_group")
CAMPAIGN_CHANNELS = ("sms", "wechat_notice", "offline_push")
ARMS = ("treatment", "holdout")
EVENTS = (
    "visit",
    "browse_40s",
    "add_cart",
    "checkout_start",
    "share_card",
    "checkin",
    "draw",
    "task_done",
)
NEW_USER_COUPON_KINDS = (
    "new_user_small",
    "new_user_aov",
    "new_user_large",
    "new_user_mid",
)
COUPON_KINDS = NEW_USER_COUPON_KINDS + (
    "repurchase",
    "recall",
    "checkin",
    "draw",
    "task",
    "share",
    "other",
)
CAMPAIGN_KINDS = ("recall", "expiry_reminder", "repurchase_reminder", "activation", "other")
REFERRER_KINDS = ("group_leader", "store_promoter")
GENDERS = ("F", "M")


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

    @property
    def is_timestamp(self) -> bool:
        return self.type.upper() in ("TIMESTAMP", "DATE")


@dataclass(frozen=True)
class ForeignKey:
    column: str
    ref_table: str
    ref_column: str


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


MONEY = "DECIMAL(12,2)"

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "users",
            "one row per registered user",
            (
                Column("user_id", "BIGINT", doc="user key"),
                Column("registered_at", "TIMESTAMP", doc="registration time (store local)"),
                Column("channel", "VARCHAR", doc="acquisition channel, e.g. wechat_group, paid_ads"),
                Column(
                    "referrer_id",
                    "VARCHAR",
                    nullable=True,
                    doc="group leader / store promoter who referred the user",
                ),
                Column(
                    "home_store_id", "VARCHAR", nullable=True, doc="store the user registered at or nearest"
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
                Column("order_id", "BIGINT"),
                Column("user_id", "BIGINT"),
                Column("ordered_at", "TIMESTAMP", doc="payment time (store local)"),
                Column("store_id", "VARCHAR", nullable=True, doc="fulfilling store; empty for online orders"),
                Column("order_channel", "VARCHAR", enum=ORDER_CHANNELS),
                Column("gmv", MONEY, min_value=0, doc="amount paid, yuan"),
                Column("discount", MONEY, min_value=0, doc="coupon and promotion discount, yuan"),
                Column("coupon_id", "BIGINT", nullable=True, doc="coupon redeemed on this order"),
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
                Column("order_id", "BIGINT"),
                Column("product_id", "VARCHAR"),
                Column("quantity", "INTEGER", min_value=1),
                Column("amount", MONEY, min_value=0, doc="line amount paid, yuan"),
            ),
            key=("order_id", "product_id"),
            foreign_keys=(
                ForeignKey("order_id", "orders", "order_id"),
                ForeignKey("product_id", "products", "product_id"),
            ),
        ),
        Table(
            "products",
            "one row per product",
            (
                Column("product_id", "VARCHAR"),
                Column("name", "VARCHAR"),
                Column("category", "VARCHAR", enum=CATEGORIES),
                Column("price", MONEY, min_value=0),
                Column("unit_cost", MONEY, nullable=True, min_value=0, doc="purchase cost, for margin"),
                Column("is_hero", "BOOLEAN", doc="hero product: top seller under 10 yuan"),
            ),
            key=("product_id",),
        ),
        Table(
            "stores",
            "one row per store",
            (
                Column("store_id", "VARCHAR"),
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
                Column("referrer_id", "VARCHAR"),
                Column("kind", "VARCHAR", enum=REFERRER_KINDS),
                Column("group_id", "VARCHAR", nullable=True, doc="WeChat group led (group leaders)"),
                Column("store_id", "VARCHAR", nullable=True, doc="store worked at (promoters)"),
            ),
            key=("referrer_id",),
            foreign_keys=(ForeignKey("store_id", "stores", "store_id"),),
        ),
        Table(
            "coupons",
            "one row per issued coupon",
            (
                Column("coupon_id", "BIGINT"),
                Column("user_id", "BIGINT"),
                Column("kind", "VARCHAR", enum=COUPON_KINDS),
                Column("issued_at", "TIMESTAMP"),
                Column("expires_at", "TIMESTAMP"),
                Column("face_value", MONEY, min_value=0),
                Column("min_spend", MONEY, min_value=0),
                Column("campaign_id", "BIGINT", nullable=True),
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
                Column("campaign_id", "BIGINT"),
                Column("name", "VARCHAR"),
                Column("kind", "VARCHAR", enum=CAMPAIGN_KINDS),
                Column("channel", "VARCHAR", enum=CAMPAIGN_CHANNELS),
                Column("started_at", "TIMESTAMP"),
                Column("ended_at", "TIMESTAMP"),
                Column("cost_per_touch", MONEY, min_value=0, doc="yuan per treated user touched"),
            ),
            key=("campaign_id",),
            rules=(RowRule("ended_at >= started_at", "ended_at >= started_at", ("ended_at", "started_at")),),
        ),
        Table(
            "campaign_members",
            "one row per user in a campaign (treatment or randomised holdout)",
            (
                Column("campaign_id", "BIGINT"),
                Column("user_id", "BIGINT"),
                Column("arm", "VARCHAR", enum=ARMS),
                Column("assigned_at", "TIMESTAMP", doc="when the arm was drawn (also for holdout)"),
                Column(
                    "touched_at", "TIMESTAMP", nullable=True, doc="when the touch was sent; null for holdout"
                ),
            ),
            key=("campaign_id", "user_id"),
            foreign_keys=(
                ForeignKey("campaign_id", "campaigns", "campaign_id"),
                ForeignKey("user_id", "users", "user_id"),
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
            "channel_spend",
            "one row per month x acquisition channel",
            (
                Column("month", "DATE", doc="first day of the month"),
                Column("channel", "VARCHAR"),
                Column("spend", MONEY, min_value=0, doc="yuan"),
            ),
            key=("month", "channel"),
            rules=(RowRule("month is the first day of a month", "day(month) = 1", ("month",)),),
        ),
        Table(
            "events",
            "one row per behaviour event",
            (
                Column("user_id", "BIGINT"),
                Column("ts", "TIMESTAMP"),
                Column("event", "VARCHAR", enum=EVENTS),
                Column("event_channel", "VARCHAR", nullable=True, enum=ORDER_CHANNELS),
            ),
            key=(),
            foreign_keys=(ForeignKey("user_id", "users", "user_id"),),
        ),
        Table(
            "points_ledger",
            "one row per points movement",
            (
                Column("user_id", "BIGINT"),
                Column("ts", "TIMESTAMP"),
                Column("points", "INTEGER", nonzero=True, doc="+issued, -redeemed or expired"),
                Column(
                    "reason",
                    "VARCHAR",
                    doc="browse_40s, three_orders_day, share_card, checkin, order, task, redeem, expire",
                ),
            ),
            key=(),
            foreign_keys=(ForeignKey("user_id", "users", "user_id"),),
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
    "channel_spend",
    "events",
    "points_ledger",
)
assert set(LOAD_ORDER) == set(TABLES)


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
            rules = []
            if c.enum:
                rules.append("one of " + ", ".join(c.enum))
            if c.min_value is not None:
                rules.append(f">= {c.min_value:g}")
            if c.max_value is not None:
                rules.append(f"<= {c.max_value:g}")
            if c.nonzero:
                rules.append("not 0")
            if c.is_timestamp:
                rules.append(f"{MIN_TS} to {MAX_TS}")
            for fk in t.foreign_keys:
                if fk.column == c.name:
                    rules.append(f"in {fk.ref_table}.{fk.ref_column} (when {fk.ref_table} is supplied)")
            null = "yes" if c.nullable else "no"
            lines.append(f"| {c.name} | {c.type} | {null} | {'; '.join(rules)} | {c.doc} |")
        for r in t.rules:
            lines.append(f"| *row rule* | | | {r.name} | |")
        lines.append("")
    return "\n".join(lines)
