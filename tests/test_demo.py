"""Tests for the seeded demo data generator (userops.demo).

One small data set (5,000 users x 6 months) is generated once per session;
the planted-effect checks here are coarse (direction and rough size, with
tolerances); recovering the effects with the plays' own analysis is tested
with the plays.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from userops import contract, demo, load

USERS, MONTHS, SEED, START = 5000, 6, 11, "2025-11-01"
END = "2026-05-01"  # exclusive


@pytest.fixture(scope="session")
def gen(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("demo") / "data"
    demo.generate(d, users=USERS, months=MONTHS, seed=SEED, start=START)
    return d


@pytest.fixture(scope="session")
def manifest(gen) -> dict:
    return json.loads((gen / "planted.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def con(gen):
    c = duckdb.connect()
    for name in [*contract.TABLES, "personas"]:
        c.execute(f"create view {name} as select * from read_parquet('{gen / (name + '.parquet')}')")
    yield c
    c.close()


def one(con, sql: str):
    return con.execute(sql).fetchone()[0]


# ----------------------------------------------------------------------------- files, determinism


def test_files_and_manifest(gen, manifest, con):
    names = {p.name for p in gen.iterdir()}
    assert names == {f"{t}.parquet" for t in contract.TABLES} | {"planted.json", "personas.parquet"}
    assert manifest["seed"] == SEED and manifest["users"] == USERS and manifest["months"] == MONTHS
    assert manifest["start"] == START and manifest["end"] == "2026-04-30"
    for t in contract.TABLES:
        assert manifest["counts"][t] == one(con, f"select count(*) from {t}"), t
    for key in (
        "channel_quality",
        "expiry_reminder_lift",
        "recall_lift",
        "repurchase_reminder_lift",
        "persona_category",
        "milk_powder_cycle",
        "aov_drop",
    ):
        assert "definition" in manifest["planted"][key]


def test_same_seed_gives_identical_files_other_seed_differs(gen, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    demo.generate(again, users=USERS, months=MONTHS, seed=SEED, start=START)
    demo.generate(other, users=USERS, months=MONTHS, seed=SEED + 1, start=START)
    for p in gen.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    assert (other / "orders.parquet").read_bytes() != (gen / "orders.parquet").read_bytes()


def test_overwrite_is_atomic_and_leaves_no_temp_dirs(tmp_path):
    d = tmp_path / "out"
    demo.generate(d, users=300, months=2, seed=1)
    (d / "stale.txt").write_text("old")
    demo.generate(d, users=300, months=2, seed=1)
    assert not (d / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # never replaces a directory that is not an earlier demo output
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "orders.csv").write_text("x")
    with pytest.raises(FileExistsError):
        demo.generate(tmp_path / "mine", users=300, months=2)
    assert (tmp_path / "mine" / "orders.csv").read_text() == "x"


def test_csv_matches_parquet(tmp_path):
    demo.generate(tmp_path / "p", users=400, months=3, seed=3)
    demo.generate(tmp_path / "c", users=400, months=3, seed=3, fmt="csv")
    c = duckdb.connect()
    for t in contract.TABLES:
        cols = ", ".join(f"cast({c.name} as {c.type})" for c in contract.TABLES[t].columns)
        a = c.execute(f"select {cols} from read_parquet('{tmp_path / 'p' / t}.parquet')").fetchall()
        b = c.execute(f"select {cols} from read_csv('{tmp_path / 'c' / t}.csv', header=true)").fetchall()
        assert len(a) == len(b), t
        assert a == b, t


def test_bad_arguments():
    with pytest.raises(ValueError):
        demo.generate("/tmp/never", start="2025-11-15")
    with pytest.raises(ValueError):
        demo.generate("/tmp/never", fmt="xlsx")


# ----------------------------------------------------------------------------- contract


def test_columns_are_exactly_the_contract(gen):
    import pyarrow.parquet as pq

    for name, t in contract.TABLES.items():
        assert tuple(pq.read_schema(gen / f"{name}.parquet").names) == t.column_names, name


@pytest.mark.parametrize("name", [n for n, t in contract.TABLES.items() if t.key])
def test_keys_unique_and_sorted(gen, con, name):
    key = ", ".join(contract.TABLES[name].key)
    assert one(con, f"select count(*) - count(distinct ({key})) from {name}") == 0
    # written sorted by key
    unsorted = one(
        con,
        f"""select count(*) from (
              select file_row_number, row_number() over (order by {key}) - 1 rk
              from read_parquet('{gen / name}.parquet', file_row_number = true))
            where file_row_number != rk""",
    )
    assert unsorted == 0


@pytest.mark.parametrize(
    "name,fk", [(n, fk) for n, t in contract.TABLES.items() for fk in t.foreign_keys], ids=str
)
def test_foreign_keys(con, name, fk):
    bad = one(
        con,
        f"select count(*) from {name} c left join {fk.ref_table} p on c.{fk.column} = p.{fk.ref_column} "
        f"where c.{fk.column} is not null and p.{fk.ref_column} is null",
    )
    assert bad == 0


@pytest.mark.parametrize("name", list(contract.TABLES))
def test_enums_nulls_ranges_rules(con, name):
    t = contract.TABLES[name]
    for c in t.columns:
        if not c.nullable:
            assert one(con, f"select count(*) from {name} where {c.name} is null") == 0, c.name
        if c.enum:
            vals = ", ".join(f"'{v}'" for v in c.enum)
            assert one(con, f"select count(*) from {name} where {c.name} not in ({vals})") == 0, c.name
        if c.min_value is not None:
            assert one(con, f"select count(*) from {name} where {c.name} < {c.min_value}") == 0, c.name
        if c.nonzero:
            assert one(con, f"select count(*) from {name} where {c.name} = 0") == 0, c.name
        if c.type.startswith("DECIMAL"):
            assert one(con, f"select count(*) from {name} where round({c.name}, 2) != {c.name}") == 0
    for r in t.rules:
        assert one(con, f"select count(*) from {name} where not ({r.sql})") == 0, r.name


def test_channel_and_time_range(con):
    chans = {r[0] for r in con.execute("select distinct channel from users").fetchall()}
    assert chans == set(demo.CHANNELS)
    for t, col in (
        ("users", "registered_at"),
        ("orders", "ordered_at"),
        ("events", "ts"),
        ("points_ledger", "ts"),
    ):
        lo, hi = con.execute(f"select min({col}), max({col}) from {t}").fetchone()
        assert str(lo) >= START and str(hi) < END, t
    assert (
        one(
            con,
            "select count(*) from orders o join users u using (user_id) where ordered_at <= registered_at",
        )
        == 0
    )
    assert one(con, "select count(distinct city) from stores") == 4
    assert one(con, "select count(*) from users u join stores s on u.home_store_id = s.store_id "
               "where u.city != s.city") == 0  # fmt: skip


def test_order_items_sum_to_gmv_plus_discount(con):
    bad = one(
        con,
        """select count(*) from orders o
           left join (select order_id, sum(amount::decimal(12,2)) s, count(*) n from order_items group by 1) i
           using (order_id)
           where i.s is null or i.s != o.gmv::decimal(12,2) + o.discount::decimal(12,2) or i.n > 8""",
    )
    assert bad == 0


def test_coupon_redemption_rules(con):
    bad = one(
        con,
        """select count(*) from orders o join coupons c using (coupon_id)
           where c.user_id != o.user_id or o.ordered_at < c.issued_at or o.ordered_at > c.expires_at
              or o.gmv + o.discount < c.min_spend or o.discount < c.face_value""",
    )
    assert bad == 0
    assert one(con, "select count(coupon_id) - count(distinct coupon_id) from orders") == 0
    # every user got the full new-user pack at registration, valid 7 days
    pack = con.execute(
        """select kind, count(*) from coupons c join users u using (user_id)
           where c.issued_at = u.registered_at and c.expires_at = u.registered_at + interval 7 day
           group by 1"""
    ).fetchall()
    assert dict(pack) == {
        "new_user_small": 2 * USERS,
        "new_user_mid": 2 * USERS,
        "new_user_aov": USERS,
        "new_user_large": USERS,
    }
    assert one(con, "select count(*) from coupons where kind = 'recall' and campaign_id is null") == 0


def test_holdout_never_touched_and_members_sane(con):
    assert (
        one(con, "select count(*) from campaign_members where arm = 'holdout' and touched_at is not null")
        == 0
    )
    assert (
        one(con, "select count(*) from campaign_members where arm = 'treatment' and touched_at is null") == 0
    )
    kinds = {r[0] for r in con.execute("select distinct kind from campaigns").fetchall()}
    assert kinds == {"expiry_reminder", "recall", "repurchase_reminder"}
    # recall coupons only to treatment members of that campaign
    assert (
        one(
            con,
            """select count(*) from coupons c left join campaign_members m
           on m.campaign_id = c.campaign_id and m.user_id = c.user_id
           where c.kind = 'recall' and (m.arm is null or m.arm != 'treatment')""",
        )
        == 0
    )


def test_events_funnel_and_points(con, manifest):
    ev = dict(con.execute("select event, count(*) from events group by 1").fetchall())
    assert ev["visit"] > ev["browse_40s"] > ev["add_cart"] > ev["checkout_start"]
    assert ev["checkout_start"] >= one(con, "select count(*) from orders where order_channel != 'store'")
    assert sum(ev.values()) <= 6 * manifest["counts"]["orders"]
    # points: browse +10, share +1, checkin +5, one +10 per day with 3+ orders, redemptions negative
    pts = dict(con.execute("select reason, count(*) from points_ledger group by 1").fetchall())
    assert pts["browse_40s"] == ev["browse_40s"] and pts["share_card"] == ev["share_card"]
    assert one(con, "select count(*) from points_ledger where reason = 'browse_40s' and points != 10") == 0
    assert one(con, "select count(*) from points_ledger where reason = 'redeem' and points >= 0") == 0
    days3 = one(
        con,
        "select count(*) from (select user_id, ordered_at::date from orders group by all having count(*) >= 3)",
    )
    assert pts.get("three_orders_day", 0) == days3
    # balance never negative at the end
    assert (
        one(con, "select count(*) from (select user_id from points_ledger group by 1 having sum(points) < 0)")
        == 0
    )


def test_store_footfall(con, manifest):
    """Store visits (footfall) are logged at the planted stores only (planted.json store_footfall):
    every store order there follows its buyer's store_visit 2-25 minutes before (never before the
    registration); walk-ins without a purchase come from those home stores."""
    pl = manifest["planted"]["store_footfall"]
    assert pl["event"] == "store_visit"
    con.execute("create or replace temp table foot as select unnest($s) as store_id", {"s": pl["stores"]})
    assert 0 < one(con, "select count(*) from foot") < one(con, "select count(*) from stores")
    n = dict(
        con.execute(
            "select event_channel, count(*) from events where event = 'store_visit' group by 1"
        ).fetchall()
    )
    assert n == {"store": pl["purchase_visits"] + pl["walk_in_visits"]}
    at_foot = "o.order_channel = 'store' and o.store_id in (select store_id from foot)"
    visited = """exists (select 1 from events e where e.user_id = o.user_id and e.event = 'store_visit'
                 and e.ts between o.ordered_at - interval 25 minute and o.ordered_at)"""
    assert one(con, f"select count(*) from orders o where {at_foot}") == pl["purchase_visits"]
    assert one(con, f"select count(*) from orders o where {at_foot} and not {visited}") == 0
    # store orders elsewhere have no logged visit at all from a user who never uses a footfall store
    outsiders = (
        """select count(*) from events e where e.event = 'store_visit' and e.user_id not in (
        select user_id from users where home_store_id in (select store_id from foot)
        union select user_id from orders o where """
        + at_foot
        + ")"
    )
    assert one(con, outsiders) == 0
    assert pl["walk_in_visits"] > 0


def test_catalog(con, manifest):
    assert 120 <= one(con, "select count(*) from products") <= 200
    assert 8 <= one(con, "select count(*) from products where is_hero and price < 10") <= 12
    assert one(con, "select count(*) from products where is_hero and price >= 10") == 0
    assert one(con, "select min(1 - unit_cost / price) from products") >= 0.14
    assert one(con, "select max(1 - unit_cost / price) from products") <= 0.41
    mp = con.execute(
        "select product_id from products where name like '%奶粉%' and category = 'mother_baby'"
    ).fetchall()
    assert sorted(r[0] for r in mp) == manifest["planted"]["milk_powder_cycle"]["product_ids"]
    assert one(con, "select count(*) from stores where name like '%·%店'") == one(
        con, "select count(*) from stores"
    )
    kinds = dict(con.execute("select kind, count(*) from referrers group by 1").fetchall())
    assert 150 <= kinds["group_leader"] <= 250 and 2 * 30 <= kinds["store_promoter"] <= 3 * 30


# ----------------------------------------------------------------------------- planted effects (coarse)


def test_paid_ads_cheapest_but_worst_retention(con, manifest):
    cac = dict(
        con.execute(
            """select s.channel, sum(spend) / (select count(*) from users u where u.channel = s.channel)
               from channel_spend s group by 1"""
        ).fetchall()
    )
    assert min(cac, key=cac.get) == "paid_ads"
    users = dict(con.execute("select channel, count(*) from users group by 1").fetchall())
    assert sorted(users, key=users.get, reverse=True).index("paid_ads") <= 1
    d30 = dict(
        con.execute(
            """with f as (select user_id, min(ordered_at) f from orders group by 1)
               select u.channel, avg((exists (select 1 from orders o where o.user_id = f.user_id
                      and o.ordered_at > f.f and o.ordered_at <= f.f + interval 30 day))::int)
               from f join users u using (user_id) group by 1"""
        ).fetchall()
    )
    worst = min(d30, key=d30.get)
    assert worst == "paid_ads"
    others = sorted(v for k, v in d30.items() if k != "paid_ads")
    assert others[0] - d30["paid_ads"] > 0.04


def _rates(con, sql: str) -> dict:
    return {arm: (rate, n) for arm, rate, n in con.execute(sql).fetchall()}


def _assert_arms(rates: dict, base: float, lift: float) -> None:
    for arm, p in (("holdout", base), ("treatment", base + lift)):
        rate, n = rates[arm]
        se = (p * (1 - p) / n) ** 0.5
        assert abs(rate - p) < 4 * se + 0.005, (arm, rate, p, n)
    assert rates["treatment"][0] > rates["holdout"][0]


def test_expiry_reminder_lift(con, manifest):
    pl = manifest["planted"]["expiry_reminder_lift"]
    rates = _rates(
        con,
        """select m.arm, avg((exists (select 1 from orders o join coupons c using (coupon_id)
                  where o.user_id = m.user_id and c.kind like 'new_user%'
                  and o.ordered_at > m.assigned_at and o.ordered_at <= c.expires_at))::int), count(*)
           from campaign_members m join campaigns k using (campaign_id)
           where k.kind = 'expiry_reminder' group by 1""",
    )
    _assert_arms(rates, pl["base"], pl["lift"])


def test_recall_lift(con, manifest):
    pl = manifest["planted"]["recall_lift"]
    rates = _rates(
        con,
        f"""select m.arm, avg((exists (select 1 from orders o where o.user_id = m.user_id
                  and o.ordered_at > m.assigned_at
                  and o.ordered_at <= m.assigned_at + interval {pl["window_days"]} day))::int), count(*)
           from campaign_members m join campaigns k using (campaign_id)
           where k.kind = 'recall' group by 1""",
    )
    _assert_arms(rates, pl["base"], pl["lift"])
    # members really were dormant 60+ days at the start, and had ordered before
    dormant = con.execute(
        """select count(*), count(*) filter (where last is null or last > k.started_at - interval 60 day)
           from campaign_members m join campaigns k using (campaign_id)
           left join lateral (select max(ordered_at) last from orders o
                              where o.user_id = m.user_id and o.ordered_at <= k.started_at) on true
           where k.kind = 'recall'"""
    ).fetchone()
    assert dormant[0] > 200 and dormant[1] == 0


def test_repurchase_reminder_lift(con, manifest):
    pl = manifest["planted"]["repurchase_reminder_lift"]
    rates = _rates(
        con,
        """select m.arm, avg((exists (select 1 from orders o join coupons c using (coupon_id)
                  where o.user_id = m.user_id and c.kind = 'repurchase'
                  and c.issued_at = m.assigned_at - interval 7 day
                  and o.ordered_at > m.assigned_at and o.ordered_at <= c.expires_at))::int), count(*)
           from campaign_members m join campaigns k using (campaign_id)
           where k.kind = 'repurchase_reminder' group by 1""",
    )
    _assert_arms(rates, pl["base"], pl["lift"])


def test_persona_category_and_attributes(con, manifest):
    share = {
        (p, c): s
        for p, c, s in con.execute(
            """select persona, category, count(*) / sum(count(*)) over (partition by persona)
               from order_items i join orders o using (order_id) join personas using (user_id)
               join products using (product_id) group by 1, 2"""
        ).fetchall()
    }
    mx = manifest["planted"]["persona_category"]["matrix"]
    for p in demo.PERSONAS:
        top = max(contract.CATEGORIES, key=lambda c: share.get((p, c), 0))
        assert mx[p][top] >= 0.3, (p, top)
    assert share[("young_family_mum", "mother_baby")] > 3 * share[("office_worker", "mother_baby")]
    sh = dict(
        con.execute("select persona, count(*) / sum(count(*)) over () from personas group by 1").fetchall()
    )
    assert max(sh, key=sh.get) == "young_family_mum"
    # attributes informative, not deterministic
    mum_f = one(con, "select avg((gender = 'F')::int) from users join personas using (user_id) "
                "where persona = 'young_family_mum'")  # fmt: skip
    assert 0.8 < mum_f < 0.99
    senior_store = one(
        con,
        "select avg((order_channel = 'store')::int) from orders join personas using (user_id) "
        "where persona = 'community_senior'",
    )
    assert 0.6 < senior_store < 0.95
    office_eve = one(
        con,
        "select avg((hour(ordered_at) between 18 and 22)::int) from orders join personas using (user_id) "
        "where persona = 'office_worker'",
    )
    assert office_eve > 0.4
    age = dict(
        con.execute(
            "select persona, median(2025 - birth_year) from users join personas using (user_id) group by 1"
        ).fetchall()
    )
    assert 30 <= age["young_family_mum"] <= 39 and age["community_senior"] >= 60 and age["student"] <= 23


def test_milk_powder_cycle(con, manifest):
    pl = manifest["planted"]["milk_powder_cycle"]
    ids = ", ".join(f"'{p}'" for p in pl["product_ids"])
    med, n = con.execute(
        f"""with b as (select o.user_id, o.ordered_at from orders o join order_items i using (order_id)
                       where i.product_id in ({ids})),
                g as (select date_diff('hour', lag(ordered_at) over (partition by user_id order by ordered_at),
                                       ordered_at) / 24 gap from b)
           select median(gap), count(gap) from g"""
    ).fetchone()
    assert n > 100 and abs(med - pl["mean_days"]) < 2.5


def test_aov_drop_for_returning_users(con, manifest):
    pl = manifest["planted"]["aov_drop"]
    rows = con.execute(
        """with f as (select user_id, date_trunc('month', min(ordered_at)) fm from orders group by 1)
           select strftime(date_trunc('month', ordered_at), '%Y-%m') m, fm < date_trunc('month', ordered_at) ret,
                  avg(gmv + discount) aov
           from orders join f using (user_id) group by all"""
    ).fetchall()
    aov = {(m, r): a for m, r, a in rows}
    m = pl["month"]
    prev = sorted(k for k, r in aov if k < m and r)[-1]
    ret_ratio = aov[(m, True)] / aov[(prev, True)]
    new_ratio = aov[(m, False)] / aov[(prev, False)]
    assert ret_ratio < 0.93 and ret_ratio < new_ratio - 0.05


def test_volumes_at_demo_scale(manifest):
    # 5,000 users x 6 months: scaled expectation of 150k-350k orders at 20,000 x 12
    n = manifest["counts"]["orders"]
    assert 10_000 < n < 60_000


def test_passes_the_contract_validator(gen):
    load = pytest.importorskip("userops.load")
    if not hasattr(load, "check_dir"):
        pytest.skip("userops.load.check_dir not available")
    assert [str(p) for p in load.check_dir(gen)] == []


# Two demos of 700 users (a few seconds): the only test of the multi-block path (a 100,000-user block is too big).
def test_blocks_of_users_write_folders_of_parts_that_load(tmp_path):
    """Above one block of users (here blocks of 300: parts of 300, 300, 100 users) each per-user table is a
    folder of parts, ids stay unique across blocks, the same seed gives the same files, and the
    loader reads the folders as they are."""
    d = tmp_path / "d"
    m = demo.generate(d, users=700, months=3, seed=3, chunk_users=300)
    assert sorted(p.name for p in (d / "orders").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert (d / "stores.parquet").is_file() and (d / "campaigns.parquet").is_file()
    c = duckdb.connect()
    for name in contract.TABLES:
        src = d / f"{name}.parquet" if (d / f"{name}.parquet").exists() else d / name / "*.parquet"
        c.execute(f"create view {name} as select * from read_parquet('{src}')")
        assert one(c, f"select count(*) from {name}") == m["counts"][name], name
    assert one(c, "select count(distinct user_id) from users") == 700
    assert one(c, "select max(order_id) - count(distinct order_id) from orders") == 0  # 1..N
    assert one(c, "select max(coupon_id) - count(distinct coupon_id) from coupons") == 0
    assert (
        one(
            c,
            "select count(*) from campaign_members where campaign_id not in (select campaign_id from campaigns)",
        )
        == 0
    )
    again = tmp_path / "again"
    demo.generate(again, users=700, months=3, seed=3, chunk_users=300)
    for p in (d / "coupons").iterdir():
        assert (again / "coupons" / p.name).read_bytes() == p.read_bytes(), p.name
    assert [str(p) for p in load.check_dir(d)] == []
