"""Values named in params against the data's own vocabulary (issue 14, item 9).

A params file names values of the chain's open vocabularies: acquisition channels, order channels,
coupon kinds, event names, categories. A misspelt or foreign name used to give an empty list and
exit 0. Before any notebook runs, each named value is looked up in the warehouse table that holds
that vocabulary (all rows, not only the report month):

- a value absent from a **catalog** (a category not in `products`) or a single selector naming
  nothing (a retention return event nobody fired) is an **error**: the section would silently
  compute on nothing (an empty reminder list, retention of 0);
- values absent from vocabularies that grow with time (a coupon kind not issued yet in the first
  month of an export, a store channel an online shop never had) are a **notice** naming them and
  the values the data has: the run goes on, the notice is printed before it starts.

Tables the warehouse lacks are skipped (their sections already say what the data lacks).
"""

from __future__ import annotations

from dataclasses import dataclass

from userops.params import Params


@dataclass(frozen=True)
class Rule:
    """Params field -> the table and column whose distinct values are its vocabulary."""

    param: str  # dotted path in params, e.g. "data.new_user_coupon_kinds"
    table: str
    column: str
    builtin: tuple[str, ...] = ()  # values with a meaning of their own, not looked up in the data
    strict: bool = False  # any absent value is an error (catalogs, single selectors)


RULES = (
    Rule("offline_channels", "users", "channel"),
    Rule("data.offline_order_channels", "orders", "order_channel"),
    Rule("data.new_user_coupon_kinds", "coupons", "kind"),
    Rule("data.repurchase_coupon_kinds", "coupons", "kind"),
    Rule("data.recall_coupon_kinds", "coupons", "kind"),
    Rule("activity.incentive_events", "events", "event"),
    Rule("brief.visit_events", "events", "event"),
    Rule("brief.footfall_events", "events", "event"),
    # 'milk_powder' is the scene of products matched by activity.milk_powder_pattern, not a category
    Rule("activity.reminder_categories", "products", "category", ("milk_powder",), strict=True),
    Rule("retention.return_event", "events", "event", ("order", "any"), strict=True),
)


@dataclass(frozen=True)
class Finding:
    """One params field whose values are (partly) absent from the data."""

    param: str
    table: str
    column: str
    missing: tuple[str, ...]
    named: tuple[str, ...]
    known: tuple[str, ...]  # the data's values (first ones, sorted)
    is_error: bool  # the run is refused (see the module's rules)

    def message(self) -> str:
        known = ", ".join(self.known) if self.known else "none"
        what = (
            "none of its values"
            if len(self.missing) == len(self.named)
            else (f"{len(self.missing)} of its {len(self.named)} values")
        )
        return (
            f"params {self.param}: {what} in {self.table}.{self.column} "
            f"({', '.join(repr(v) for v in self.missing)}); the data has: {known}"
        )


def _named(params: Params, path: str) -> tuple[str, ...]:
    value = params
    for part in path.split("."):
        value = getattr(value, part)
    values = (value,) if isinstance(value, str) else tuple(value)
    return tuple(dict.fromkeys(str(v) for v in values))


def _has_rows(con, table: str) -> bool:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = $t and table_schema = 'main'",
        {"t": table},
    ).fetchone()[0]
    return bool(exists) and con.execute(f'select exists (select 1 from "{table}")').fetchone()[0]


def check(con, params: Params, max_known: int = 12) -> list[Finding]:
    """The params fields naming values absent from the warehouse's vocabulary (sorted by param)."""
    findings = []
    vocab: dict[tuple[str, str], list[str]] = {}
    for rule in RULES:
        named = tuple(v for v in _named(params, rule.param) if v not in rule.builtin)
        if not named or not _has_rows(con, rule.table):
            continue
        key = (rule.table, rule.column)
        if key not in vocab:  # table and column are the fixed names of RULES, never data
            rows = con.execute(
                f'select distinct "{rule.column}" from "{rule.table}" where "{rule.column}" is not null order by 1'
            ).fetchall()
            vocab[key] = [r[0] for r in rows]
        present = set(vocab[key])
        missing = tuple(v for v in named if v not in present)
        if missing:
            known = tuple(vocab[key][:max_known]) + (("…",) if len(vocab[key]) > max_known else ())
            findings.append(Finding(rule.param, rule.table, rule.column, missing, named, known, rule.strict))
    return sorted(findings, key=lambda f: f.param)


class VocabularyError(ValueError):
    """Params name values that the data does not have at all."""


def require(con, params: Params) -> list[str]:
    """Raise VocabularyError for fields naming nothing the data has; return notices for the rest."""
    findings = check(con, params)
    errors = [f.message() for f in findings if f.is_error]
    if errors:
        raise VocabularyError(
            "the params file names values the data does not have (fix the names or the params file):\n  "
            + "\n  ".join(errors)
        )
    return [f.message() for f in findings]
