"""Data sets of other shapes than the demo, for testing every notebook on data we did not plan for.

Each shape is a transformation of a (small) demo export, written as a contract-shaped folder of
Parquet files plus the params file to run it with:

    build_shape("online_only", demo_dir, out_dir)   -> out_dir (data files + params.yaml)

The shapes mirror what real exports look like: an online-only shop, a store-only chain with
hundreds of stores and no events, users + orders only, no demographics, one acquisition channel
and no spend, odd coupons and campaigns, the first months of an export, a panel where
registration is the first purchase, tiny data and text ids. All transformations are SQL over the
demo files (DuckDB), deterministic, and keep the data valid under the contract.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from userops import charts
from userops.contract import TABLES

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PARAMS = ROOT / "params" / "default.yaml"

# Tables whose rows belong to one user (filtered when users are dropped).
USER_TABLES = ("orders", "coupons", "campaign_members", "events", "points_ledger")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Shape:
    """Staged copies of the demo tables in an in-memory DuckDB, transformed in place."""

    def __init__(self, src: Path):
        self.con = duckdb.connect()
        self.tables: list[str] = []
        for name in TABLES:
            for ext, reader in ((".parquet", "read_parquet"), (".csv", "read_csv_auto")):
                f = src / f"{name}{ext}"
                if f.is_file():
                    self.con.execute(f"create table {_q(name)} as select * from {reader}($p)", {"p": str(f)})
                    self.tables.append(name)
                    break
        self.params: dict = {}

    def sql(self, text: str, params: dict | None = None) -> None:
        self.con.execute(text, params or {})

    def drop(self, *names: str) -> None:
        for n in names:
            if n in self.tables:
                self.con.execute(f"drop table {_q(n)}")
                self.tables.remove(n)

    def has(self, name: str) -> bool:
        return name in self.tables

    def keep_users(self, where: str, params: dict | None = None) -> None:
        """Keep the users matching `where` (SQL over users) and every row that belongs to them."""
        self.sql(f"delete from users where not ({where})", params)
        for t in USER_TABLES:
            if self.has(t):
                self.sql(f"delete from {t} where user_id not in (select user_id from users)")
        self.prune_orders()

    def prune_orders(self) -> None:
        """Drop order lines of removed orders and coupon links to removed coupons."""
        if self.has("order_items"):
            self.sql("delete from order_items where order_id not in (select order_id from orders)")
        if self.has("coupons"):
            self.sql(
                "update orders set coupon_id = null where coupon_id not in (select coupon_id from coupons)"
            )

    def write(self, out: Path) -> Path:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.parquet"):
            old.unlink()
        for name in self.tables:
            self.con.execute(f"copy {_q(name)} to '{out / (name + '.parquet')}' (format parquet)")
        params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
        for section, values in self.params.items():
            if isinstance(values, dict):
                params.setdefault(section, {}).update(values)
            else:
                params[section] = values
        (out / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), "utf-8")
        self.con.close()
        return out


def _online_only(s: _Shape) -> None:
    """An online shop: no stores, no store orders, no store promoters, no offline push."""
    s.sql("update orders set order_channel = 'app' where order_channel = 'store'")
    s.sql("update orders set store_id = null")
    s.sql("update users set home_store_id = null")
    s.sql(
        "update users set channel = 'search_ads', referrer_id = null "
        "where channel in ('store_poster_qr', 'store_promoter')"
    )
    if s.has("referrers"):
        s.sql(
            "update users set referrer_id = null where referrer_id in (select referrer_id from referrers where kind <> 'group_leader')"
        )
        s.sql("delete from referrers where kind <> 'group_leader'")
        s.sql("update referrers set store_id = null")
    if s.has("events"):  # no store logs visits (footfall): the demo's only store-channel events
        s.sql("delete from events where event_channel = 'store'")
    if s.has("campaigns"):
        s.sql("update campaigns set channel = 'sms' where channel = 'offline_push'")
    if s.has("channel_spend"):
        s.sql("delete from channel_spend where channel in ('store_poster_qr', 'store_promoter')")
    s.drop("stores")


def _store_only(s: _Shape) -> None:
    """A store chain: 450 stores, every order in a store, no events (no app, no visit logs)."""
    s.sql("delete from orders where order_channel <> 'store'")
    s.prune_orders()
    s.sql("update orders set store_id = 'S' || lpad(cast(hash(order_id) % 450 as varchar), 3, '0')")
    s.sql("update users set home_store_id = 'S' || lpad(cast(hash(user_id) % 450 as varchar), 3, '0')")
    s.drop("stores", "events")
    s.sql(
        "create table stores as select 'S' || lpad(cast(i as varchar), 3, '0') as store_id, "
        "'门店 ' || cast(i as varchar) as name, "
        "(['上海', '杭州', '苏州', '南京', '宁波'])[1 + i % 5] as city, date '2015-01-01' as opened_at "
        "from range(450) t(i)"
    )
    s.tables.append("stores")
    if s.has("referrers"):
        s.sql(
            "update referrers set store_id = 'S' || lpad(cast(hash(referrer_id) % 450 as varchar), 3, '0') where store_id is not null"
        )


def _minimal(s: _Shape) -> None:
    """users + orders only: every optional table absent."""
    s.drop(*[t for t in list(s.tables) if t not in ("users", "orders")])
    s.sql("update users set referrer_id = null, home_store_id = null")
    s.sql("update orders set coupon_id = null, store_id = null")


def _no_demographics(s: _Shape) -> None:
    """No birth year, gender, city or family status for anyone."""
    s.sql("update users set birth_year = null, gender = null, city = null, family_status = null")


def _single_channel(s: _Shape) -> None:
    """Acquisition channel unknown for everyone; no channel spend, no referrers."""
    s.sql("update users set channel = 'unknown', referrer_id = null")
    s.drop("channel_spend", "referrers")


def _odd_campaigns(s: _Shape) -> None:
    """Coupons of none of the roles' kinds, campaigns without holdout, two look-alike campaigns a month."""
    if s.has("coupons"):
        s.sql("update coupons set kind = 'other'")
    if s.has("campaign_members"):
        s.sql("delete from campaign_members where arm = 'holdout'")
    if s.has("campaigns"):
        # Split every campaign into two of the same kind and channel in the same month.
        s.sql(
            "insert into campaigns select campaign_id + 1000000, name || ' B', kind, channel, started_at, "
            "ended_at, cost_per_touch from campaigns"
        )
        s.sql("update campaign_members set campaign_id = campaign_id + 1000000 where hash(user_id) % 2 = 0")
        s.sql("update coupons set campaign_id = null")
    # No user qualifies for the recall list.
    s.params = {"recall": {"list_max_recency_days": 1, "at_risk_p": 0.0001}}


def _first_months(months: int) -> Callable[[_Shape], None]:
    def apply(s: _Shape) -> None:
        """The first months of an export (no LTV window, no previous month)."""
        lo = s.con.execute(
            "select cast(date_trunc('month', min(ordered_at)) as date) from orders"
        ).fetchone()[0]
        end = {
            "end": f"{lo.year + (lo.month - 1 + months) // 12:04d}-{(lo.month - 1 + months) % 12 + 1:02d}-01"
        }
        cut = "cast($end as timestamp)"
        s.keep_users(f"registered_at < {cut}", end)
        s.sql(f"delete from orders where ordered_at >= {cut}", end)
        s.prune_orders()
        for t, col in (("events", "ts"), ("points_ledger", "ts"), ("coupons", "issued_at")):
            if s.has(t):
                s.sql(f"delete from {t} where {col} >= {cut}", end)
        if s.has("coupons"):
            s.sql(f"update coupons set expires_at = least(expires_at, {cut} - interval 1 second)", end)
            s.prune_orders()
        if s.has("campaigns"):
            s.sql(f"delete from campaigns where started_at >= {cut}", end)
            s.sql(f"update campaigns set ended_at = least(ended_at, {cut} - interval 1 second)", end)
            s.sql("delete from campaign_members where campaign_id not in (select campaign_id from campaigns)")
            s.sql(f"delete from campaign_members where assigned_at >= {cut}", end)
            s.sql(f"update campaign_members set touched_at = null where touched_at >= {cut}", end)
            s.sql(
                "update coupons set campaign_id = null where campaign_id not in (select campaign_id from campaigns)"
            )
        if s.has("channel_spend"):
            s.sql(f"delete from channel_spend where month >= {cut}", end)

    return apply


def _panel(s: _Shape) -> None:
    """A household panel: everyone is present from the first month; registration = first purchase."""
    s.keep_users(
        "user_id in (select user_id from orders group by user_id "
        "having min(ordered_at) < (select min(ordered_at) from orders) + interval 45 day)"
    )
    s.sql(
        "update users set registered_at = f.first from "
        "(select user_id, min(ordered_at) as first from orders group by user_id) f where users.user_id = f.user_id"
    )
    for t, col in (("events", "ts"), ("points_ledger", "ts"), ("coupons", "issued_at")):
        if s.has(t):
            s.sql(
                f"delete from {t} where {col} < (select registered_at from users u where u.user_id = {t}.user_id)"
            )
    if s.has("coupons"):
        s.prune_orders()
    if s.has("campaign_members"):
        s.sql(
            "delete from campaign_members where assigned_at < "
            "(select registered_at from users u where u.user_id = campaign_members.user_id)"
        )


def _tiny(s: _Shape) -> None:
    """50 users."""
    s.keep_users("user_id in (select user_id from users order by hash(user_id) limit 50)")


def _text_ids(s: _Shape) -> None:
    """Text ids everywhere: 'u_…' users, UUID-like orders, 'c…' coupons and campaigns."""
    conv = {
        "user_id": "'u_' || lpad(cast({c} as varchar), 6, '0')",
        "order_id": "'o-' || md5(cast({c} as varchar))",
        "coupon_id": "'cp' || cast({c} as varchar)",
        "campaign_id": "'cmp_' || cast({c} as varchar)",
    }
    for t in list(s.tables):
        cols = [r[0] for r in s.con.execute(f"describe {_q(t)}").fetchall()]
        sel = ", ".join((conv[c].format(c=_q(c)) + f" as {_q(c)}") if c in conv else _q(c) for c in cols)
        s.sql(f"create table _t as select {sel} from {_q(t)}")
        s.sql(f"drop table {_q(t)}")
        s.sql(f"alter table _t rename to {_q(t)}")


def _sparse_users(s: _Shape) -> None:
    """No demographics and one unknown acquisition channel without spend or referrers."""
    _no_demographics(s)
    _single_channel(s)


def _minimal_sparse(s: _Shape) -> None:
    """users + orders only, no demographics, one unknown acquisition channel."""
    _minimal(s)
    _sparse_users(s)


def _online_odd(s: _Shape) -> None:
    """An online shop whose coupons, campaigns and recall list are odd (see _odd_campaigns)."""
    _online_only(s)
    _odd_campaigns(s)


def _store_text_ids(s: _Shape) -> None:
    """A 450-store chain without events whose ids are text."""
    _store_only(s)
    _text_ids(s)


def _store_panel(s: _Shape) -> None:
    """A 450-store grocery panel: no events, text ids, registration = first purchase."""
    _store_only(s)
    _panel(s)
    _text_ids(s)


def _tiny_minimal(s: _Shape) -> None:
    """50 users of a chain that exports users + orders only, without demographics, one unknown channel."""
    _tiny(s)
    _minimal_sparse(s)


SHAPES: dict[str, Callable[[_Shape], None]] = {
    "online_only": _online_only,
    "store_only": _store_only,
    "minimal": _minimal,
    "no_demographics": _no_demographics,
    "single_channel": _single_channel,
    "odd_campaigns": _odd_campaigns,
    "first_month": _first_months(1),
    "first_3_months": _first_months(3),
    "panel": _panel,
    "tiny": _tiny,
    "text_ids": _text_ids,
    "sparse_users": _sparse_users,
    "minimal_sparse": _minimal_sparse,
    "online_odd": _online_odd,
    "store_text_ids": _store_text_ids,
    "store_panel": _store_panel,
    "tiny_minimal": _tiny_minimal,
}

# The shapes `make test` runs every notebook on (tests/e2e/test_shapes.py): every condition above,
# combined where they do not hide each other, to keep the suite inside its time budget: 50 users of
# a chain exporting users + orders only, without demographics and with one unknown channel; an
# online shop with odd coupons and campaigns; a 450-store grocery panel (no events, text ids,
# registration = first purchase); the first month of an export (standing for the first months).
# Every single shape stays available to scripts/shape_matrix.py.
TEST_SHAPES = ("tiny_minimal", "online_odd", "store_panel", "first_month")


def build_shape(name: str, demo_dir: str | Path, out_dir: str | Path) -> Path:
    """Write shape `name` of the demo export in demo_dir to out_dir (data files + params.yaml)."""
    if name not in SHAPES:
        raise KeyError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")
    s = _Shape(Path(demo_dir))
    SHAPES[name](s)
    return s.write(Path(out_dir))


# --------------------------------------------------------------------------- running and auditing

BAD_TOKENS = re.compile(r"(?<![A-Za-z_])(nan|NaN|inf|-inf|None|NaT|<NA>)(?![A-Za-z_])")
NEEDS_RE = re.compile(r"\b(needs?|lacks?|requires?|not enough|no data|cannot|can't)\b|需要|没有|无法", re.I)


@dataclass
class NotebookAudit:
    notebook: str
    ok: bool
    error: str = ""
    bad: list[str] = field(default_factory=list)  # rendered text holding nan / inf / None
    degraded: list[str] = field(default_factory=list)  # "needs ..." sentences shown instead of a section


def _rendered_texts(nb) -> list[str]:
    """Markdown, HTML and text a reader sees (outputs only), plus the audited chart text."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            data = o.get("data", {})
            for mime in ("text/markdown", "text/html"):
                if mime in data:
                    out.append(data[mime] if isinstance(data[mime], str) else "".join(data[mime]))
            if "text/plain" in data and not ({"text/markdown", "text/html", "image/png"} & set(data)):
                out.append(data["text/plain"])
    return out


def audit_notebook(path: Path) -> NotebookAudit:
    """Errors, nan/inf/None tokens and 'needs …' sentences in an executed notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    audit = NotebookAudit(path.stem, ok=True)
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if o.get("output_type") == "error":
                audit.ok = False
                audit.error = f"{o.get('ename')}: {o.get('evalue')}"[:300]
    for text in _rendered_texts(nb):
        plain = html.unescape(re.sub(r"<[^>]+>", " ", text))
        for line in plain.splitlines():
            if BAD_TOKENS.search(line):
                audit.bad.append(line.strip()[:200])
            elif NEEDS_RE.search(line) and len(line) < 400:
                audit.degraded.append(line.strip()[:200])
    return audit


def run_notebooks(
    warehouse: Path, params_file: Path, out_dir: Path, notebooks_dir: Path, only: list[str] | None = None
) -> list[NotebookAudit]:
    """Execute the playbook notebooks (plays, then the brief) one by one; audit each.

    A failing notebook does not stop the others: this is a test harness, not the monthly run.
    """
    import papermill as pm

    from userops.db import connect, resolve_month
    from userops.runner import choose_kernel, discover_notebooks, execution_order

    with connect(warehouse) as con:
        month = resolve_month(con, "")
    notebooks = execution_order(discover_notebooks(notebooks_dir, only))
    kernel = choose_kernel()
    os.environ[charts.AUDIT_ENV] = "1"
    results = []
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    for nb_path in notebooks:
        executed = out_dir / "notebooks" / nb_path.name
        try:
            pm.execute_notebook(
                str(nb_path),
                str(executed),
                parameters={
                    "month": month,
                    "warehouse": str(warehouse),
                    "params_file": str(params_file),
                    "output_dir": str(out_dir),
                },
                kernel_name=kernel,
                cwd=str(notebooks_dir),
                progress_bar=False,
                log_output=False,
            )
        except Exception as exc:  # the audit below reads the error from the executed copy
            if not executed.exists():
                results.append(NotebookAudit(nb_path.stem, False, f"{type(exc).__name__}: {exc}"[:300]))
                continue
        results.append(audit_notebook(executed))
    return results
