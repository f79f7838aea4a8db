"""Notices about the chain's own vocabularies: values the params give no role.

Order channels, coupon kinds, campaign channels, categories, event names and referrer kinds are
open vocabularies: any value loads. The analyses only need to know which order channels are
in-store (params data.offline_order_channels; every other channel counts as online) and which
coupon kinds form the new-user pack, the repurchase and the recall coupons
(data.*_coupon_kinds). These notices say how the values in the data were read, so that a
chain whose store channel is called `offline` fixes its params rather than its numbers.
"""

from __future__ import annotations

from pathlib import Path

from userops.params import Params


def _values(con, table: str, column: str) -> list[str]:
    rows = con.execute(
        f'select distinct "{column}" from typed_{table} where "{column}" is not null order by 1'
    ).fetchall()
    return [r[0] for r in rows]


def _names(values: list[str], limit: int = 8) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _order_channel_notices(con, params: Params) -> list[tuple[str, str, str]]:
    offline = list(params.data.offline_order_channels)
    values = _values(con, "orders", "order_channel")
    online = [v for v in values if v not in offline]
    out = []
    if online:
        out.append(
            (
                "orders",
                "order_channel",
                f"values {_names(online)} are counted as online "
                f"(not in data.offline_order_channels: {', '.join(offline) or 'none'})",
            )
        )
    if offline and not set(offline) & set(values):
        out.append(
            (
                "orders",
                "order_channel",
                f"no order is in an offline channel (data.offline_order_channels: {', '.join(offline)}): "
                "every order counts as online",
            )
        )
    return out


def _coupon_kind_notices(con, params: Params) -> list[tuple[str, str, str]]:
    kinds = set(_values(con, "coupons", "kind"))
    roles = (
        ("a new-user pack kind", "new_user_coupon_kinds"),
        ("a repurchase coupon kind", "repurchase_coupon_kinds"),
        ("a recall coupon kind", "recall_coupon_kinds"),
    )
    out = []
    for role, key in roles:
        listed = list(getattr(params.data, key))
        if not kinds & set(listed):
            out.append(("coupons", "kind", f"no kind is {role} (data.{key}: {', '.join(listed) or 'none'})"))
    return out


def vocabulary_notices(con, staged: set[str], files: dict[str, Path], params: Params):
    """Notices (Problem, severity notice) for the order channels and coupon kinds in the data."""
    from userops.load import Problem

    found = []
    if "orders" in staged:
        found += _order_channel_notices(con, params)
    if "coupons" in staged:
        found += _coupon_kind_notices(con, params)
    return [Problem(str(files.get(t, "")), col, msg, 0, severity="notice", table=t) for t, col, msg in found]
