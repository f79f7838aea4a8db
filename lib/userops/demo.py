"""Seeded demo data for a new-retail convenience chain, with planted effects.

`generate(out_dir, users=20000, months=12, seed=7, start="2025-11-01")` writes
one file per contract table (see `userops.contract.TABLES`), `planted.json`
(the manifest: parameters, table counts and the TRUE size of every planted
effect) and `personas.parquet` (user_id, persona: generator truth for tests,
not a contract table). Data covers exactly [start, start + months).

Everything is vectorised numpy (loops only over months, personas, categories,
campaign kinds or coupon ranks) and deterministic for a seed: one
`numpy.random.default_rng(seed)` whose spawned children drive each stage, every
table sorted by its key before writing, files written into a temp dir and
renamed over `out_dir`.

How the data is made
--------------------
1. Catalog: 30 stores in 上海/杭州/苏州/南京 ("上海·静安店"), 135 products in
   the six categories (10 hero products under 10 yuan, 4 milk powders; margins
   15-40%), referrers: 20 WeChat groups (G01..) x 10 group leaders of varying
   reach and quality, 2-3 promoters per store.
2. Users: persona first (shares in planted.json), then registration day
   (growth trend, weekend bump, Spring Festival dip, July-August bump), hour of
   day, acquisition channel (P(channel | persona)), home store, referrer and
   demographics (birth year, gender, family status), all from the persona with
   noise (8% random ages, some nulls).
3. First order: P(first order within 30 days) by channel (by referrer quality
   for wechat_group / store_promoter); 35% in the registration session, the
   rest a few days later.
4. Repeat orders (Pareto/NBD-like): buyer segment (trialist / casual / loyal
   core, by persona) sets a lifetime (mean 5 / 60 / 500 days) and scales a
   gamma-distributed purchase rate (by persona); Poisson candidate times over
   the alive span, thinned by the persona's weekday profile and a first-week
   ramp-up, hour of day redrawn from the persona's profile.
5. Milk powder cycle for some young_family_mum buyers (effect 6).
6. Coupons and campaigns, applied in this order, each with a randomised
   holdout and the outcome forced to the planted probability (effects 2-4):
   new-user pack + expiry reminder, repurchase coupons + reminder, monthly
   recall (removing a repurchase coupon whose issuing order is removed).
7. Baskets: 1-8 lines from the user's category weights (Dirichlet around the
   persona row), hero products in 70% of first orders, the basket drop for
   returning users in one month (effect 7), coupons (basket topped up to the
   threshold, best applicable new-user coupon first), small promotions,
   points redemption (100 points = 1 yuan, at most 30% of the order).
   order_items.amount = price x quantity, summing to gmv + discount exactly.
8. Events: every online order has a visit -> browse_40s -> add_cart ->
   checkout_start session before it; abandoned sessions (2.5 per online order
   + 1 per user) with the funnel thinning; incentive events (checkin, share,
   draw, task) at persona rates while the user is active; lapsed users still
   visit now and then (0.03 visits a day) without buying.
9. Points ledger from the events and orders (rules in planted.json "rules"),
   redemptions and FIFO expiry: points issued in month m expire at the end of month m + 6
   (POINTS_EXPIRY_MONTHS; params activity.points_expiry_months).

Set USEROPS_DEMO_TIMING=1 to print the time of each stage.

Planted effects (TRUE sizes in planted.json)
--------------------------------------------
0. unprofitable_channel: app's spend per registered user (240) is far above what its
   customers' gross margin pays back in 12 months: margin LTV/CAC below 1.
1. channel_quality: paid_ads has the lowest CAC (spend per registered user,
   even against the referral channels' material spend, which excludes the
   per-user commission computed downstream) and is among the two largest
   channels, but its buyers' repeat-purchase rate is multiplied by 0.4 and
   their lifetime by 0.5, so its D30 repeat share is clearly the lowest.
2. expiry_reminder_lift: members of the monthly expiry_reminder campaigns are
   users who placed a first order and still hold an unredeemed new-user coupon
   48 h before the pack expires (assigned_at = registered_at + 5 d).
   P(redeem a new-user coupon in (assigned_at, expires_at]) = base in holdout,
   base + lift in treatment. A redemption is a real order in the window
   carrying the coupon (an existing order, or a new one if there is none).
3. recall_lift: members of the monthly recall campaigns (1st of the month,
   10:00) are buyers with no order for 60+ days (and not in last month's
   recall). P(any order in (assigned_at, assigned_at + 30 d]) = base
   (holdout), base + lift (treatment): orders in that window are removed
   (outcome 0) or kept / created (outcome 1), so the measured rate is the
   planted one in expectation. Treatment members get a recall coupon (14 d).
4. repurchase_reminder_lift: a repurchase coupon (5 off 39, 14 days) is given
   at checkout when the user's previous order is 14+ days old (after the
   new-user week). Unused after 7 days -> member of that month's
   repurchase_reminder campaign (one per user per month);
   P(redeem it in (assigned_at, expires_at]) = base / base + lift.
5. persona_category: the persona x category share matrix (mean of each
   user's Dirichlet category weights) and the persona shares.
6. milk_powder_cycle: ~35% of young_family_mum buyers with kids rebuy one milk
   powder every Gamma(mean 20 d, sd 3 d) days, stopping with 8% after each can.
7. aov_drop: in one month (2026-08 by default: the 10th month, or the last
   month if fewer), orders of returning users (first order before that month)
   lose lines so that their expected gross basket (gmv + discount, before
   coupon top-ups) drops by 20%; new users' baskets are unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from userops import _demo_catalog as cat
from userops.contract import CATEGORIES, TABLES
from userops.params import ExperimentParams
from userops.sql_files import read_sql

VERSION = "demo-1.0"
DAY = 86400
HOUR = 3600

PERSONAS = ("young_family_mum", "community_senior", "office_worker", "student")
PERSONA_SHARE = np.array([0.38, 0.22, 0.25, 0.15])
# persona x category (fresh, cooking, mother_baby, snacks, drinks, daily)
PERSONA_CATEGORY = np.array(
    [
        [0.34, 0.14, 0.20, 0.10, 0.10, 0.12],
        [0.38, 0.34, 0.02, 0.06, 0.06, 0.14],
        [0.10, 0.06, 0.02, 0.38, 0.32, 0.12],
        [0.05, 0.03, 0.01, 0.46, 0.38, 0.07],
    ]
)
CATEGORY_CONCENTRATION = 12.0  # Dirichlet concentration of a user's category weights

CHANNELS = (
    "wechat_moments",
    "wechat_group",
    "mini_program",
    "app",
    "official_account",
    "store_poster_qr",
    "store_promoter",
    "paid_ads",
)
CH = {c: i for i, c in enumerate(CHANNELS)}
# P(acquisition channel | persona)
PERSONA_CHANNEL = np.array(
    [
        [0.09, 0.22, 0.21, 0.05, 0.08, 0.07, 0.07, 0.21],
        [0.05, 0.16, 0.03, 0.02, 0.05, 0.29, 0.35, 0.05],
        [0.12, 0.04, 0.18, 0.22, 0.10, 0.04, 0.03, 0.27],
        [0.12, 0.03, 0.20, 0.15, 0.05, 0.05, 0.02, 0.38],
    ]
)
# organic P(first order within 30 days); referral channels use referrer quality
CHANNEL_CONVERSION = np.array([0.55, 0.70, 0.62, 0.55, 0.58, 0.66, 0.72, 0.50])
# spend per registered user (yuan); referral channels: material only
# app: install ads bought at a price its customers never pay back (margin LTV/CAC below 1, planted)
CHANNEL_CAC = np.array([20.0, 6.0, 15.0, 240.0, 11.0, 9.0, 6.5, 5.0])
UNPROFITABLE_CHANNEL = "app"
# referral commission per valid new user (registered and ordered), yuan: what this chain pays, the same
# as params acquisition.commission_* (tests check it). The group leaders' rate is set so that their
# referred users' first-30-day gross margin (coupon-pack discounts added back) per yuan of referral cost
# (commission + pack redeemed) lands near 3, the community figure of the source article (planted
# "referral_economics" records the true value).
REFERRAL_COMMISSION = {"group_leader": 27.0, "store_promoter": 5.0}
REFERRAL_MONTHS, REFERRAL_WINDOW_DAYS = 3, 30  # params acquisition.referral_months / referral_gmv_days
PAID_ADS_REPEAT_MULTIPLIER = 0.4
PAID_ADS_LIFE_MULTIPLIER = 0.5

ORDER_CHANNELS = ("store", "mini_program", "app", "wechat_group")
OC_STORE, OC_MINI, OC_APP, OC_GROUP = 0, 1, 2, 3
PERSONA_ORDER_CHANNEL = np.array(
    [
        [0.20, 0.45, 0.10, 0.25],
        [0.80, 0.08, 0.02, 0.10],
        [0.25, 0.35, 0.40, 0.00],
        [0.35, 0.40, 0.25, 0.00],
    ]
)

# hour-of-day weights (0..23) per persona
_H = np.zeros((4, 24))
_H[0, 7:23] = [2, 4, 8, 10, 10, 6, 4, 6, 7, 5, 4, 4, 5, 6, 5, 2]  # mum: late morning, afternoon
_H[1, 5:21] = [4, 12, 14, 12, 8, 5, 3, 2, 2, 3, 5, 5, 3, 2, 1, 1]  # senior: early morning
_H[2, 6:24] = [1, 3, 3, 1, 1, 1, 5, 5, 2, 1, 1, 1, 2, 8, 12, 12, 11, 7]  # office: evening, lunch
_H[3, 8:24] = [1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 4, 5, 6, 5, 3]  # student: afternoon, night
HOUR_WEIGHTS = _H / _H.sum(axis=1, keepdims=True)
# weekday weights Mon..Sun (max 1) per persona: used to thin candidate order times
WEEKDAY_WEIGHTS = np.array(
    [
        [0.95, 0.95, 0.95, 0.95, 0.95, 1.00, 1.00],
        [1.00, 1.00, 1.00, 1.00, 1.00, 0.85, 0.85],
        [1.00, 1.00, 1.00, 1.00, 1.00, 0.40, 0.40],
        [0.55, 0.55, 0.55, 0.55, 0.75, 1.00, 1.00],
    ]
)
RATE_MEAN = np.array([0.36, 0.46, 0.30, 0.18])  # orders/day of an alive loyal buyer, by persona
RATE_SHAPE = 1.5
# buyer segments: trialist, casual, loyal core -> share by persona, mean lifetime, rate multiplier
SEGMENT_SHARE = np.array([[0.42, 0.32, 0.26], [0.38, 0.30, 0.32], [0.45, 0.32, 0.23], [0.52, 0.30, 0.18]])
SEGMENT_LIFE_DAYS = np.array([5.0, 60.0, 500.0])
SEGMENT_RATE = np.array([0.3, 0.6, 1.0])
RAMP_UP = 0.15  # acceptance of candidate repeat orders in the first 7 days after the first order
LINES_MEAN = np.array([2.8, 2.7, 1.9, 1.5])

# new-user pack: (kind, face, min_spend) x count, all valid 7 days
NU_TYPES = (("new_user_small", 3.0, 15.0), ("new_user_mid", 5.0, 29.0), ("new_user_aov", 8.0, 49.0))
NU_TYPES += (("new_user_large", 20.0, 99.0),)
NU_COUNTS = (2, 2, 1, 1)
NU_COUNTS_ARR = np.array(NU_COUNTS)
NU_VALID_DAYS = 7
LAPSED_VISITS_PER_DAY = 0.03  # visits without a purchase of users past their active window
# Store footfall: a share of the stores logs member visits (event store_visit, channel store): each
# store order there is preceded by a logged visit, and the users of those home stores also walk in
# without buying. The other stores log only purchases, so their buyers' traffic is not observed.
FOOTFALL_STORE_SHARE = 0.4
FOOTFALL_WALK_IN_PER_DAY = 0.02
REP_FACE, REP_MIN, REP_VALID_DAYS, REP_GAP_DAYS = 5.0, 39.0, 14, 14
RECALL_FACE, RECALL_MIN, RECALL_VALID_DAYS = 10.0, 39.0, 14
POINTS_EXPIRY_MONTHS = 6  # points issued in month m expire at the end of month m + 6 (FIFO)
CAMPAIGN_COST = {"sms": 0.05, "wechat_notice": 0.01, "offline_push": 0.02}
# Users are generated in blocks of this many (in user id order), each from its own (seed, block)
# streams, so memory is that of one block at any size. The block size is part of the data's
# definition: the same seed gives the same data; another block size gives other (equally
# distributed) data. A demo of up to one block writes one file per table, a larger one a folder of
# parts per table (`orders/part-00000.parquet`, ...).
CHUNK_USERS = 100_000

PLANTED = {
    "expiry_reminder": {"base": 0.15, "lift": 0.10, "holdout_share": 0.30},
    "recall": {"base": 0.06, "lift": 0.05, "holdout_share": 0.20, "window_days": 30, "dormant_days": 60},
    "repurchase_reminder": {"base": 0.15, "lift": 0.10, "holdout_share": 0.30},
    "milk_powder": {"mean_days": 20.0, "sd_days": 3.0, "stop_prob": 0.08, "share_of_mums_with_kids": 0.35},
    "aov_drop": {"month_offset": 9, "relative_drop": 0.20},
}

SPRING_FESTIVAL = {
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
    2030: "2030-02-03",
}

_TIMING = os.environ.get("USEROPS_DEMO_TIMING") == "1"
_T = [0.0]


def _tick(stage: str) -> None:
    """Print the time spent since the last stage (USEROPS_DEMO_TIMING=1)."""
    if _TIMING:
        import time

        now = time.perf_counter()
        if _T[0]:
            print(f"  {now - _T[0]:6.2f}s  -> {stage}", flush=True)
        _T[0] = now


# ----------------------------------------------------------------------------- helpers


def _by_group(rng: np.random.Generator, group: np.ndarray, probs: np.ndarray, dtype=np.int8) -> np.ndarray:
    """Categorical draw with per-group probabilities probs[group] (loop over groups)."""
    out = np.zeros(len(group), dtype=dtype)
    for g in range(probs.shape[0]):
        idx = np.flatnonzero(group == g)
        if idx.size:
            out[idx] = rng.choice(probs.shape[1], size=idx.size, p=probs[g])
    return out


def _tod(rng: np.random.Generator, persona: np.ndarray) -> np.ndarray:
    """Seconds after midnight from the persona's hour-of-day profile."""
    h = _by_group(rng, persona, HOUR_WEIGHTS).astype(np.int64)
    return h * HOUR + rng.integers(0, HOUR, size=len(persona))


def _key(u: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (u.astype(np.int64) << 32) + t.astype(np.int64)


def _ranges_mask(n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Boolean mask of length n, true inside any [lo, hi)."""
    d = np.bincount(lo, minlength=n + 1)[: n + 1] - np.bincount(hi, minlength=n + 1)[: n + 1]
    return np.cumsum(d)[:n] > 0


def _group_rank(sorted_group: np.ndarray) -> np.ndarray:
    """0-based rank of each row within runs of equal values (input sorted)."""
    n = len(sorted_group)
    if n == 0:
        return np.zeros(0, np.int64)
    start = np.r_[True, sorted_group[1:] != sorted_group[:-1]]
    idx = np.arange(n)
    first = np.maximum.accumulate(np.where(start, idx, 0))
    return idx - first


class _Cat:
    """A string column as integer codes into a small list of categories (cheap at scale)."""

    def __init__(self, codes, cats, mask=None):
        self.codes = np.asarray(codes)
        self.cats = [str(c) for c in cats]
        self.mask = None if mask is None else np.asarray(mask, bool)

    def __len__(self) -> int:
        return len(self.codes)

    def to_arrow(self) -> pa.Array:
        codes = self.codes.astype(np.int32)
        if self.mask is not None:
            codes = np.where(self.mask, 0, codes)
        idx = pa.array(codes, mask=self.mask)
        return pa.DictionaryArray.from_arrays(idx, pa.array(self.cats, pa.string())).cast(pa.string())


class _Orders:
    """Struct of arrays for orders while they are being built."""

    FIELDS = ("u", "t", "kind", "ch", "slot", "cpn", "src", "oid", "mp")
    # kind: 0 first, 1 repeat, 2 milk powder, 3 expiry-created, 4 repurchase-created, 5 recall-created
    # slot: 0 none, 1 new-user coupon (picked at basket time), 2 repurchase coupon cpn, 3 recall coupon cpn

    def __init__(self, **cols):
        n = len(cols["u"])
        self.u = cols["u"].astype(np.int32)
        self.t = cols["t"].astype(np.int64)
        self.kind = cols["kind"].astype(np.int8)
        self.ch = cols["ch"].astype(np.int8)
        self.slot = cols.get("slot", np.zeros(n, np.int8)).astype(np.int8)
        self.cpn = cols.get("cpn", np.full(n, -1, np.int64)).astype(np.int64)
        self.src = cols.get("src", np.full(n, -1, np.int64)).astype(np.int64)
        self.oid = cols.get("oid", np.full(n, -1, np.int64)).astype(np.int64)
        self.mp = cols.get("mp", np.full(n, -1, np.int16)).astype(np.int16)

    def __len__(self) -> int:
        return len(self.u)

    def take(self, idx) -> _Orders:
        return _Orders(**{f: getattr(self, f)[idx] for f in self.FIELDS})

    def append(self, other: _Orders) -> _Orders:
        return _Orders(**{f: np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.FIELDS})

    def merge(self, new: _Orders) -> _Orders:
        """Insert new orders into self (sorted, with key); same order as sort() would give."""
        new = new.sort()
        pos = np.searchsorted(self.key, new.key, side="right")
        out = _Orders(**{f: np.insert(getattr(self, f), pos, getattr(new, f)) for f in self.FIELDS})
        out.key = np.insert(self.key, pos, new.key)
        return out

    def sort(self) -> _Orders:
        o = self.take(np.lexsort((self.oid, self.t, self.u)))
        o.key = _key(o.u, o.t)
        return o


def _new_orders(u, t, kind, ch, next_oid: list[int], **extra) -> _Orders:
    n = len(u)
    oid = np.arange(next_oid[0], next_oid[0] + n, dtype=np.int64)
    next_oid[0] += n
    return _Orders(u=u, t=t, kind=np.full(n, kind), ch=ch, oid=oid, **extra)


def _window(o: _Orders, u: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index range [lo, hi) of user u's orders with a < t <= b (orders sorted)."""
    lo = np.searchsorted(o.key, _key(u, a), side="right")
    hi = np.searchsorted(o.key, _key(u, b), side="right")
    return lo, hi


# ----------------------------------------------------------------------------- generator


def generate(
    out_dir: str | Path,
    users: int = 20000,
    months: int = 12,
    seed: int = 7,
    start: str = "2025-11-01",
    fmt: str = "parquet",
    chunk_users: int = 0,
) -> dict:
    """Generate the demo data set into out_dir (atomically) and return the manifest.

    out_dir is replaced as a whole; to protect real data, an existing non-empty
    directory is only replaced if it holds a planted.json (an earlier demo).
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    if users < 100 or months < 1:
        raise ValueError("need at least 100 users and 1 month")
    chunk_users = chunk_users or CHUNK_USERS
    if chunk_users < 100:
        raise ValueError("need at least 100 users per block")
    start_d = np.datetime64(start, "D")
    start_m = start_d.astype("datetime64[M]")
    if start_m.astype("datetime64[D]") != start_d:
        raise ValueError(f"start must be the first day of a month, not {start}")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "planted.json").exists())):
        raise FileExistsError(
            f"{out} exists and is not a demo data directory (no planted.json); not replacing it"
        )
    return _generate(out, users, months, seed, start_d, fmt, chunk_users)


def _streams(seed: int, key: tuple, names: tuple[str, ...]) -> dict[str, np.random.Generator]:
    """Independent generators named `names`, from (seed, key): a block of users or the world."""
    children = np.random.SeedSequence(seed, spawn_key=key).spawn(len(names))
    return {k: np.random.default_rng(s) for k, s in zip(names, children, strict=True)}


# One block (the demo the tests build): one generator spawning these, in this order.
SINGLE_STREAMS = ("catalog", "users", "orders", "mp", "expiry", "repurchase", "recall", "basket", "coupons",
                  "points", "events", "spend", "footfall")  # fmt: skip
CHUNK_STREAMS = (
    "users",
    "orders",
    "mp",
    "expiry",
    "repurchase",
    "recall",
    "basket",
    "points",
    "events",
    "footfall",
)


def _world(n: int, months: int, seed: int, start_d: np.datetime64, chunk_users: int) -> SimpleNamespace:
    """What every block of users shares: calendar, catalog, referrers, footfall stores, and each
    user's persona and registration time (drawn block by block, then sorted: user ids follow
    registration order), one column per user."""
    w = SimpleNamespace(n=n, months=months, seed=seed, start_d=start_d, chunk_users=chunk_users, single=None)
    if n <= chunk_users:  # one block: the streams of the one-pass generator (the same data as before blocks)
        w.single = dict(zip(SINGLE_STREAMS, np.random.default_rng(seed).spawn(13), strict=True))
        R = {"catalog": w.single["catalog"], "calendar": w.single["users"]}
        R.update(spend=w.single["spend"], footfall=w.single["footfall"])
    else:
        R = _streams(seed, (0,), ("catalog", "calendar", "spend", "footfall"))
    start_m = start_d.astype("datetime64[M]")
    w.month_d = (start_m + np.arange(months + 1)).astype("datetime64[D]")
    w.month_s = (w.month_d - start_d).astype(np.int64) * DAY  # month starts in seconds, incl. end
    w.H = int(w.month_s[-1])  # horizon (exclusive), seconds
    w.n_days = w.H // DAY
    w.wd0 = (int(start_d.astype(np.int64)) + 3) % 7  # weekday of start (Mon=0)
    w.rs = R["spend"]
    _catalog(w, R["catalog"])
    w.foot_store = R["footfall"].random(w.n_st) < FOOTFALL_STORE_SHARE
    _registrations(w, R["calendar"])
    return w


def _catalog(w: SimpleNamespace, rc: np.random.Generator) -> None:
    """Stores, products and referrers (the same at every size for a seed)."""
    _tick("catalog")
    store_city, store_name = [], []
    for city, districts in cat.CITIES.items():
        for d in districts:
            store_city.append(city)
            store_name.append(f"{city}·{d}店")
    n_st = len(store_name)
    store_id = np.array([f"S{i + 1:03d}" for i in range(n_st)])
    store_w = rc.lognormal(0, 0.35, n_st)
    store_w /= store_w.sum()
    store_opened = np.datetime64("2019-03-01") + rc.integers(0, 6 * 365, n_st).astype("timedelta64[D]")
    cities = list(cat.CITIES)
    store_cityi = np.array([cities.index(c) for c in store_city])

    p_name, p_cat, p_price, p_hero = [], [], [], []
    for ci, c in enumerate(CATEGORIES):
        for name, price, hero in cat.PRODUCTS[c]:
            p_name.append(name)
            p_cat.append(ci)
            p_price.append(round(price * 100))
            p_hero.append(hero)
    n_pr = len(p_name)
    p_cat = np.array(p_cat)
    p_price = np.array(p_price, np.int64)
    p_hero = np.array(p_hero)
    product_id = np.array([f"P{i + 1:04d}" for i in range(n_pr)])
    margin = rc.uniform(0.15, 0.40, n_pr)
    p_cost = np.round(p_price * (1 - margin)).astype(np.int64)
    p_is_mp = np.isin(np.array(p_name), cat.MILK_POWDER)
    mp_products = np.flatnonzero(p_is_mp)
    p_pop = rc.lognormal(0, 0.6, n_pr) * np.where(p_hero, 6.0, 1.0)

    # referrers: 20 groups x 10 leaders, 2-3 promoters per store
    n_groups = 20
    group_store = rc.choice(n_st, n_groups, replace=False, p=store_w)
    leader_group = np.repeat(np.arange(n_groups), 10)
    n_lead = len(leader_group)
    leader_w = rc.lognormal(0, 0.9, n_lead)
    leader_w /= leader_w.sum()
    leader_q = np.clip(rc.beta(4, 1.6, n_lead) * np.where(rc.random(n_lead) < 0.2, 0.45, 1.0), 0.05, 0.95)
    prom_n = rc.integers(2, 4, n_st)
    prom_store = np.repeat(np.arange(n_st), prom_n)
    prom_start = np.r_[0, np.cumsum(prom_n)[:-1]]
    n_prom = len(prom_store)
    prom_q = np.clip(rc.beta(6, 2.2, n_prom), 0.05, 0.95)
    ref_id = np.array(
        [
            f"L{g + 1:02d}-{k + 1:02d}"
            for g, k in zip(leader_group, np.tile(np.arange(10), n_groups), strict=True)
        ]
        + [f"P{s + 1:03d}-{k + 1}" for s, k in zip(prom_store, _group_rank(prom_store), strict=True)]
    )

    w.__dict__.update(
        store_id=store_id, store_name=store_name, store_city=store_city, store_w=store_w,
        store_opened=store_opened, cities=cities, store_cityi=store_cityi, n_st=n_st,
        p_name=p_name, p_cat=p_cat, p_price=p_price, p_hero=p_hero, n_pr=n_pr, product_id=product_id,
        p_cost=p_cost, p_is_mp=p_is_mp, mp_products=mp_products, p_pop=p_pop,
        group_store=group_store, leader_group=leader_group, n_lead=n_lead, leader_w=leader_w,
        leader_q=leader_q, prom_n=prom_n, prom_store=prom_store, prom_start=prom_start, n_prom=n_prom,
        prom_q=prom_q, ref_id=ref_id,
    )  # fmt: skip


def _registrations(w: SimpleNamespace, rcal: np.random.Generator) -> None:
    """persona and registration time of every user, in registration order (user id order):
    day weights (growth, weekend, summer, Spring Festival) from the world's stream, each block's
    draws from its own (seed, block) stream."""
    n, n_days, start_d = w.n, w.n_days, w.start_d
    days = np.arange(n_days)
    dates = start_d + days.astype("timedelta64[D]")
    wt = 1.0 + 0.8 * days / max(n_days - 1, 1)  # growth
    wt *= np.where((w.wd0 + days) % 7 >= 5, 1.25, np.where((w.wd0 + days) % 7 == 4, 1.1, 1.0))
    md = dates.astype("datetime64[M]").astype(int) % 12 + 1
    wt *= np.where((md == 7) | (md == 8), 1.2, 1.0)  # summer bump
    for sf in SPRING_FESTIVAL.values():
        dist = np.abs((dates - np.datetime64(sf)).astype(int))
        wt *= np.where(dist <= 7, 0.5, np.where(dist <= 12, 0.8, 1.0))  # Spring Festival dip
    if w.single:  # one block: persona, day noise, day and time of day from the users stream
        persona = rcal.choice(4, n, p=PERSONA_SHARE).astype(np.int8)
        wt *= rcal.lognormal(0, 0.08, n_days)
        reg_day = rcal.choice(n_days, n, p=wt / wt.sum())
        reg_t = reg_day.astype(np.int64) * DAY + _tod(rcal, persona)
        o = np.lexsort((np.arange(n), reg_t))
        w.persona, w.reg_t = persona[o], reg_t[o]
        return
    wt *= rcal.lognormal(0, 0.08, n_days)
    persona = np.empty(n, np.int8)
    reg_t = np.empty(n, np.int64)
    for lo in range(0, n, w.chunk_users):
        hi = min(n, lo + w.chunk_users)
        r = _streams(w.seed, (1, lo // w.chunk_users), ("registration",))["registration"]
        persona[lo:hi] = r.choice(4, hi - lo, p=PERSONA_SHARE)
        reg_day = r.choice(n_days, hi - lo, p=wt / wt.sum())
        reg_t[lo:hi] = reg_day.astype(np.int64) * DAY + _tod(r, persona[lo:hi])
    o = np.lexsort((np.arange(n), reg_t))
    w.persona, w.reg_t = persona[o], reg_t[o]


# The event codes of the events table (its category order) and the points ledger's reasons.
EVENT_CODES = {"visit": 0, "browse_40s": 1, "add_cart": 2, "checkout_start": 3, "share_card": 4, "checkin": 5,
               "draw": 6, "task_done": 7, "store_visit": 8}  # fmt: skip
POINT_REASONS = (
    "browse_40s",
    "three_orders_day",
    "share_card",
    "checkin",
    "order",
    "task",
    "redeem",
    "expire",
)


def _chunk(w: SimpleNamespace, c: int, first_order_id: int, first_coupon_id: int):
    """Users [c * chunk_users, ...) of the world: their tables (as column builders), the planted
    truth's sums and the campaigns they are members of (keyed by _campaign_key).

    The stages run in this order on the block's state `s`, each drawing from its own stream (the
    basket stream also draws the orders' stores, after the discounts)."""
    s = _block(w, c)
    R = s.R
    _users(w, s, R["users"])
    _first_and_repeat_orders(w, s, R["orders"])
    _milk_powder(w, s, R["mp"])
    _expiry_reminder(w, s, R["expiry"])
    _repurchase_reminder(w, s, R["repurchase"])
    _recall_campaigns(w, s, R["recall"])
    _final_orders(w, s)
    _basket_lines(w, s, R["basket"])
    _order_discounts(w, s, R["basket"])
    _events(w, s, R["events"])
    _footfall(w, s, R["basket"], R["footfall"])
    _points_ledger(w, s, R["points"])
    camp = _campaign_members(w, s)
    _coupons(w, s, first_coupon_id)
    return _tables(w, s, first_order_id), _truth(w, s), camp


def _block(w: SimpleNamespace, c: int) -> SimpleNamespace:
    """A block's state: its users' ids, persona and registration time, and its streams."""
    lo = c * w.chunk_users
    hi = min(w.n, lo + w.chunk_users)
    uid = np.arange(lo + 1, hi + 1, dtype=np.int64)
    return SimpleNamespace(
        n=hi - lo,
        R=w.single or _streams(w.seed, (2, c), CHUNK_STREAMS),
        persona=w.persona[lo:hi],
        reg_t=w.reg_t[lo:hi],
        uid=uid,
        gh=global_holdout_mask(uid),  # the persistent global control group: never in any campaign
        next_oid=[0],
    )


def _pick_ch(s: SimpleNamespace, rg: np.random.Generator, uu: np.ndarray) -> np.ndarray:
    """Order channel of orders by users uu: the user's preferred channel, else (25%) one by persona."""
    c = s.pref_ch[uu].copy()
    other = rg.random(uu.size) < 0.25
    c[other] = _by_group(rg, s.persona[uu[other]], PERSONA_ORDER_CHANNEL)
    return c


def _users(w: SimpleNamespace, s: SimpleNamespace, ru: np.random.Generator) -> None:
    """Channel, home store, referrer, demographics, preferred order channel, category weights."""
    _tick("users")
    n, persona = s.n, s.persona
    n_st, store_w, store_cityi = w.n_st, w.store_w, w.store_cityi
    n_lead, leader_w, leader_q, leader_group, group_store = (
        w.n_lead, w.leader_w, w.leader_q, w.leader_group, w.group_store
    )  # fmt: skip
    prom_start, prom_n, prom_q = w.prom_start, w.prom_n, w.prom_q
    channel = _by_group(ru, persona, PERSONA_CHANNEL)
    home = ru.choice(n_st, n, p=store_w)
    referrer = np.full(n, -1, np.int64)
    conv_p = CHANNEL_CONVERSION[channel].copy()
    m = np.flatnonzero(channel == CH["wechat_group"])
    lead = ru.choice(n_lead, m.size, p=leader_w)
    referrer[m] = lead
    home[m] = group_store[leader_group[lead]]
    conv_p[m] = leader_q[lead]
    m = np.flatnonzero(channel == CH["store_promoter"])
    prom = prom_start[home[m]] + (ru.random(m.size) * prom_n[home[m]]).astype(np.int64)
    referrer[m] = n_lead + prom
    conv_p[m] = prom_q[prom]
    city = store_cityi[home]

    ref_year = int(str(w.start_d)[:4])
    age = np.empty(n)
    for p, (lo_, hi_) in enumerate(((30, 39), (60, 78), (24, 38), (18, 23))):
        idx = np.flatnonzero(persona == p)
        if p == 1:
            age[idx] = 60 + np.minimum(ru.gamma(2.0, 3.5, idx.size), 22)
        else:
            mu, sd = (lo_ + hi_) / 2, (hi_ - lo_) / 3.5
            age[idx] = np.clip(ru.normal(mu, sd, idx.size), lo_ - 1, hi_ + 0.99)
    noise = ru.random(n) < 0.08
    age[noise] = ru.uniform(18, 75, noise.sum())
    birth_year = (ref_year - np.floor(age)).astype(np.int32)
    by_null = ru.random(n) < 0.04
    female = ru.random(n) < np.array([0.92, 0.62, 0.48, 0.55])[persona]
    g_null = ru.random(n) < 0.03
    fam_names = np.array(["single", "couple", "with_kids", "retired"])
    fam_p = np.array(
        [[0.05, 0.10, 0.85, 0.0], [0.0, 0.12, 0.10, 0.78], [0.55, 0.33, 0.12, 0.0], [0.95, 0.05, 0, 0]]
    )
    fam = _by_group(ru, persona, fam_p)
    fam_null = ru.random(n) < 0.05

    pref_ch = _by_group(ru, persona, PERSONA_ORDER_CHANNEL)
    r = ru.random(n)
    pref_ch[(channel == CH["app"]) & (r < 0.5)] = OC_APP
    pref_ch[(channel == CH["wechat_group"]) & (r < 0.4)] = OC_GROUP
    pref_ch[np.isin(channel, (CH["store_poster_qr"], CH["store_promoter"])) & (r < 0.4)] = OC_STORE
    pref_ch[(channel == CH["mini_program"]) & (r < 0.3)] = OC_MINI

    # category weights per user: Dirichlet around the persona mix
    cat_w = ru.gamma(PERSONA_CATEGORY[persona] * CATEGORY_CONCENTRATION).astype(np.float32)
    cat_w /= cat_w.sum(axis=1, keepdims=True)
    s.__dict__.update(
        channel=channel, home=home, referrer=referrer, conv_p=conv_p, city=city, birth_year=birth_year,
        by_null=by_null, female=female, g_null=g_null, fam_names=fam_names, fam=fam, fam_null=fam_null,
        pref_ch=pref_ch, cat_w=cat_w,
    )  # fmt: skip


def _first_and_repeat_orders(w: SimpleNamespace, s: SimpleNamespace, ro: np.random.Generator) -> None:
    """First order (by the channel's conversion) and the repeat orders over the user's lifetime."""
    _tick("first + repeat orders")
    n, persona, reg_t, channel = s.n, s.persona, s.reg_t, s.channel
    H, wd0 = w.H, w.wd0
    converted = ro.random(n) < s.conv_p
    same_session = ro.random(n) < 0.35
    gap_days = np.floor(ro.exponential(2.5, n) % 30).astype(np.int64)
    first_t = np.where(
        same_session,
        reg_t + 60 + ro.exponential(40 * 60, n).astype(np.int64),
        (reg_t // DAY + 1 + gap_days) * DAY + _tod(ro, persona),
    )
    buyer = converted & (first_t < H)

    rate = ro.gamma(RATE_SHAPE, RATE_MEAN[persona] / RATE_SHAPE)
    rate[channel == CH["paid_ads"]] *= PAID_ADS_REPEAT_MULTIPLIER
    segment = _by_group(ro, persona, SEGMENT_SHARE)
    rate *= SEGMENT_RATE[segment]
    life = ro.exponential(SEGMENT_LIFE_DAYS[segment]) * DAY
    life[channel == CH["paid_ads"]] *= PAID_ADS_LIFE_MULTIPLIER
    death_t = first_t + life.astype(np.int64)
    alive_len = np.where(buyer, np.clip(np.minimum(death_t, H) - first_t, 0, None), 0) / DAY
    accept = WEEKDAY_WEIGHTS.mean(axis=1)[persona]
    n_cand = ro.poisson(rate / accept * alive_len)
    cu = np.repeat(np.arange(n, dtype=np.int32), n_cand)
    ct = first_t[cu] + (ro.random(cu.size) * alive_len[cu] * DAY).astype(np.int64)
    cday = ct // DAY
    acc_p = WEEKDAY_WEIGHTS[persona[cu], (wd0 + cday) % 7] * np.where(
        ct < first_t[cu] + 7 * DAY, RAMP_UP, 1.0
    )
    keep = ro.random(cu.size) < acc_p
    cu, cday = cu[keep], cday[keep]
    ct = cday * DAY + _tod(ro, persona[cu])
    keep = (ct > first_t[cu]) & (ct < H)
    cu, ct = cu[keep], ct[keep]

    bu = np.flatnonzero(buyer).astype(np.int32)
    orders = _new_orders(bu, first_t[bu], 0, _pick_ch(s, ro, bu), s.next_oid)
    s.orders = orders.append(_new_orders(cu, ct, 1, _pick_ch(s, ro, cu), s.next_oid))
    s.first_t, s.buyer = first_t, buyer


def _milk_powder(w: SimpleNamespace, s: SimpleNamespace, rm: np.random.Generator) -> None:
    """The milk powder cycle of some young_family_mum buyers (planted effect)."""
    _tick("milk powder cycle")
    n, persona, first_t = s.n, s.persona, s.first_t
    mpc = PLANTED["milk_powder"]
    mp_user = np.flatnonzero(
        s.buyer & (persona == 0) & (s.fam == 2) & (rm.random(n) < mpc["share_of_mums_with_kids"])
    )
    k_max = w.n_days // 14 + 2
    mp_k = np.minimum(rm.geometric(mpc["stop_prob"], mp_user.size), k_max)
    mu_ = np.repeat(mp_user, mp_k).astype(np.int32)
    shape = (mpc["mean_days"] / mpc["sd_days"]) ** 2
    gaps = rm.gamma(shape, mpc["mean_days"] / shape, mu_.size)
    gaps[np.r_[0, np.cumsum(mp_k)[:-1]]] = rm.uniform(6, 24, mp_user.size)  # first can after first order
    cs = np.cumsum(gaps)
    offs = np.repeat(np.r_[0, cs[np.cumsum(mp_k)[:-1] - 1]] if mp_user.size else [], mp_k)
    mt = first_t[mu_] + ((cs - offs) * DAY).astype(np.int64)
    mt = (mt // DAY) * DAY + _tod(rm, persona[mu_])
    mp_prod_user = np.full(n, -1, np.int16)
    mp_prod_user[mp_user] = rm.choice(w.mp_products, mp_user.size, p=[0.4, 0.3, 0.15, 0.15])
    keep = (mt < w.H) & (mt > first_t[mu_])
    mu_, mt = mu_[keep], mt[keep]
    orders = s.orders.append(_new_orders(mu_, mt, 2, _pick_ch(s, rm, mu_), s.next_oid, mp=mp_prod_user[mu_]))
    s.orders = orders.sort()
    s.mp_user = mp_user


def _expiry_reminder(w: SimpleNamespace, s: SimpleNamespace, re_: np.random.Generator) -> None:
    """New-user coupon use and the expiry reminder two days before the pack expires (planted effect)."""
    _tick("new-user coupons + expiry reminder")
    n, reg_t, orders, gh = s.n, s.reg_t, s.orders, s.gh
    ep = PLANTED["expiry_reminder"]
    nu_exp = reg_t + NU_VALID_DAYS * DAY
    assign_e = nu_exp - 2 * DAY
    # organic wish to use a new-user coupon: orders inside the pack's validity
    in_pack = orders.t <= nu_exp[orders.u]
    rank = _group_rank(orders.u)
    want = re_.random(len(orders)) < np.where(rank == 0, 0.85, 0.6)
    orders.slot[in_pack & want] = 1
    lo, hi = _window(orders, np.arange(n), reg_t - 1, assign_e)
    n_before = np.bincount(orders.u[(orders.slot == 1) & (orders.t <= assign_e[orders.u])], minlength=n)
    has_first = hi > lo
    member_e = np.flatnonzero(has_first & (n_before < sum(NU_COUNTS)) & (nu_exp <= w.H))
    hold_e = (re_.random(member_e.size) < ep["holdout_share"]) | gh[member_e]
    outcome_e = re_.random(member_e.size) < ep["base"] + np.where(hold_e, 0.0, ep["lift"])
    lo, hi = _window(orders, member_e, assign_e[member_e], nu_exp[member_e])
    # outcome 0: no new-user coupon used in the window; 1: the first order in the window uses one
    orders.slot[_ranges_mask(len(orders), lo[~outcome_e], hi[~outcome_e])] = 0
    win_mask = _ranges_mask(len(orders), lo[outcome_e], hi[outcome_e])
    orders.slot[win_mask] = 0
    has = hi > lo
    orders.slot[lo[outcome_e & has]] = 1
    cm = member_e[outcome_e & ~has]
    cm_hold = hold_e[outcome_e & ~has]
    delay = np.where(
        cm_hold,
        re_.uniform(60, 2 * DAY, cm.size),
        np.minimum(re_.exponential(0.4 * DAY, cm.size) + 60, 2 * DAY),
    ).astype(np.int64)
    s.orders = orders.append(
        _new_orders(cm, assign_e[cm] + delay, 3, _pick_ch(s, re_, cm), s.next_oid, slot=np.ones(cm.size))
    ).sort()
    s.nu_exp = nu_exp
    s.exp_members = dict(u=member_e, hold=hold_e, assigned=assign_e[member_e], outcome=outcome_e)


def _repurchase_reminder(w: SimpleNamespace, s: SimpleNamespace, rr: np.random.Generator) -> None:
    """Repurchase coupons, their organic use and the reminder a week after issue (planted effect)."""
    _tick("repurchase coupons + reminder")
    orders, H, gh = s.orders, w.H, s.gh
    rp = PLANTED["repurchase_reminder"]
    prev_t = np.r_[np.int64(-(10**12)), orders.t[:-1]]
    first_of_user = np.r_[True, orders.u[1:] != orders.u[:-1]]
    prev_t[first_of_user] = -(10**12)
    issue = (
        (orders.t > s.nu_exp[orders.u])
        & (orders.t - prev_t > REP_GAP_DAYS * DAY)
        & (rr.random(len(orders)) < 0.6)
        & (orders.t + REP_VALID_DAYS * DAY <= H + 30 * DAY)
    )
    rep_u = orders.u[issue].astype(np.int64)
    rep_t = orders.t[issue]
    rep_src = orders.oid[issue]
    rep_exp = rep_t + REP_VALID_DAYS * DAY
    n_rep = rep_u.size
    rep_alive = np.ones(n_rep, bool)
    # organic use: the first order in (issue, issue + 7 d] uses it with p 0.5
    lo, hi = _window(orders, rep_u, rep_t, rep_t + 7 * DAY)
    use = (hi > lo) & (rr.random(n_rep) < 0.5)
    orders.slot[lo[use]] = 2
    orders.cpn[lo[use]] = np.flatnonzero(use)
    mem = np.flatnonzero(~use & (rep_exp <= H))
    # one reminder per user per monthly campaign (frequency cap): keep the first coupon of the month
    mkey = rep_u[mem] * (w.months + 1) + np.searchsorted(w.month_s, rep_t[mem] + 7 * DAY, side="right")
    mem = mem[np.r_[True, mkey[1:] != mkey[:-1]]] if mem.size else mem
    hold_r = (rr.random(mem.size) < rp["holdout_share"]) | gh[rep_u[mem]]
    outcome_r = rr.random(mem.size) < rp["base"] + np.where(hold_r, 0.0, rp["lift"])
    a_r = rep_t[mem] + 7 * DAY
    lo, hi = _window(orders, rep_u[mem], a_r, rep_exp[mem])
    has = hi > lo
    sel = outcome_r & has
    orders.slot[lo[sel]] = 2
    orders.cpn[lo[sel]] = mem[sel]
    sel = outcome_r & ~has
    cm = mem[sel]
    delay = np.where(
        hold_r[sel],
        rr.uniform(60, 7 * DAY, cm.size),
        np.minimum(rr.exponential(1.5 * DAY, cm.size) + 60, 7 * DAY),
    ).astype(np.int64)
    cu_ = rep_u[cm].astype(np.int32)
    s.orders = orders.append(
        _new_orders(
            cu_,
            a_r[sel] + delay,
            4,
            _pick_ch(s, rr, cu_),
            s.next_oid,
            slot=np.full(cm.size, 2),
            cpn=cm,
            src=cm,
        )
    ).sort()
    s.__dict__.update(rep_u=rep_u, rep_t=rep_t, rep_src=rep_src, rep_exp=rep_exp, n_rep=n_rep,
                      rep_alive=rep_alive)  # fmt: skip
    s.rep_members = dict(c=mem, hold=hold_r, assigned=a_r, outcome=outcome_r)


def _recall_campaigns(w: SimpleNamespace, s: SimpleNamespace, rrc: np.random.Generator) -> None:
    """Monthly recall of dormant users (planted effect); removing an order removes the repurchase
    coupon it issued."""
    _tick("recall campaigns (monthly)")
    n, gh, orders, rep_alive, rep_src = s.n, s.gh, s.orders, s.rep_alive, s.rep_src
    month_s, H = w.month_s, w.H
    rcp = PLANTED["recall"]
    W = rcp["window_days"] * DAY
    rec_camp: list[dict] = []
    rc_u, rc_t, rc_k = [], [], []
    n_rc = 0
    prev_members = np.zeros(0, np.int64)
    chan_cycle = ("sms", "wechat_notice", "offline_push")
    allu = np.arange(n)
    for k in range(w.months):
        S = int(month_s[k])
        A = S + 10 * HOUR
        if rcp["dormant_days"] * DAY > S or A + W > H:
            continue
        cchan = chan_cycle[len(rec_camp) % 3]
        last_idx = np.searchsorted(orders.key, _key(allu, np.full(n, A)), side="right") - 1
        ok = last_idx >= 0
        ok[ok] = orders.u[last_idx[ok]] == allu[ok]
        last_t = np.where(ok, orders.t[np.maximum(last_idx, 0)], H)
        mem = np.flatnonzero(ok & (last_t <= A - rcp["dormant_days"] * DAY))
        mem = mem[~np.isin(mem, prev_members)]  # frequency cap: not in last month's recall
        prev_members = mem
        hold = (rrc.random(mem.size) < rcp["holdout_share"]) | gh[mem]
        outcome = rrc.random(mem.size) < rcp["base"] + np.where(hold, 0.0, rcp["lift"])
        Aw = np.full(mem.size, A, np.int64)
        lo, hi = _window(orders, mem, Aw, Aw + W)
        kill = _ranges_mask(len(orders), lo[~outcome], hi[~outcome])
        # cascade: repurchase coupons issued by removed orders disappear with them
        dead_c = np.flatnonzero(rep_alive & np.isin(rep_src, orders.oid[kill]))
        rep_alive[dead_c] = False
        kill |= (orders.kind == 4) & np.isin(orders.src, dead_c)
        dead_use = (orders.slot == 2) & np.isin(orders.cpn, dead_c)
        orders.slot[dead_use] = 0
        orders.cpn[dead_use] = -1
        # treatment members get a recall coupon (14 days)
        tr = np.flatnonzero(~hold)
        cidx = np.full(mem.size, -1, np.int64)
        cidx[tr] = n_rc + np.arange(tr.size)
        n_rc += tr.size
        rc_u.append(mem[tr])
        rc_t.append(np.full(tr.size, A, np.int64))
        rc_k.append(np.full(tr.size, len(rec_camp)))
        has = hi > lo
        sel = outcome & has & ~hold
        fo = lo[sel]
        use = (
            (orders.t[fo] <= A + RECALL_VALID_DAYS * DAY)
            & (orders.slot[fo] == 0)
            & (rrc.random(fo.size) < 0.5)
        )
        orders.slot[fo[use]] = 3
        orders.cpn[fo[use]] = cidx[sel][use]
        sel = outcome & ~has
        cm = mem[sel].astype(np.int32)
        c_hold = hold[sel]
        delay = np.where(
            c_hold,
            rrc.uniform(60, W, cm.size),
            np.minimum(rrc.gamma(1.5, 4.0 * DAY, cm.size) + 60, W),
        ).astype(np.int64)
        use_c = ~c_hold & (delay <= RECALL_VALID_DAYS * DAY) & (rrc.random(cm.size) < 0.85)
        och = _pick_ch(s, rrc, cm)
        if cchan == "offline_push":
            och[:] = OC_STORE
        new = _new_orders(
            cm, A + delay, 5, och, s.next_oid, slot=np.where(use_c, 3, 0), cpn=np.where(use_c, cidx[sel], -1)
        )
        orders = orders.take(np.flatnonzero(~kill))
        orders.key = _key(orders.u, orders.t)
        orders = orders.merge(new)
        rec_camp.append(dict(k=k, A=A, chan=cchan, u=mem, hold=hold, outcome=outcome))
    s.orders, s.rec_camp, s.recall_window = orders, rec_camp, W
    s.rc_u = np.concatenate(rc_u) if rc_u else np.zeros(0, np.int64)
    s.rc_t = np.concatenate(rc_t) if rc_t else np.zeros(0, np.int64)
    s.rc_k = np.concatenate(rc_k) if rc_k else np.zeros(0, np.int64)


def _final_orders(w: SimpleNamespace, s: SimpleNamespace) -> None:
    """The final order list in (time, user, order) order and each user's first order time."""
    _tick("final order list")
    orders = s.orders.take(np.lexsort((s.orders.oid, s.orders.u, s.orders.t)))
    first_final = np.full(s.n, w.H, np.int64)
    np.minimum.at(first_final, orders.u, orders.t)
    s.orders, s.N, s.ou, s.ot, s.first_final = orders, len(orders), orders.u, orders.t, first_final


def _basket_lines(w: SimpleNamespace, s: SimpleNamespace, rb: np.random.Generator) -> None:
    """Each order's lines (one per product) from the user's category weights, hero products in first
    orders, and the planted basket drop of returning users in one month."""
    _tick("baskets")
    orders, N, ou, ot, first_final, cat_w = s.orders, s.N, s.ou, s.ot, s.first_final, s.cat_w
    n_pr, p_cat, p_price, p_hero, p_is_mp, p_pop = w.n_pr, w.p_cat, w.p_price, w.p_hero, w.p_is_mp, w.p_pop
    months, month_s = w.months, w.month_s
    pers = s.persona[ou]
    is_mp = orders.kind == 2
    nl = 1 + rb.poisson(LINES_MEAN[pers] - 1)
    nl[is_mp] = 1 + rb.poisson(0.8, is_mp.sum())
    nl = np.minimum(nl, 8)
    l_ord = np.repeat(np.arange(N), nl)
    l_rank = _group_rank(l_ord)
    L = l_ord.size
    lu = ou[l_ord]
    r = rb.random(L, dtype=np.float32)
    l_cat = np.zeros(L, np.int8)
    acc = np.zeros(L, np.float32)
    for c in range(len(CATEGORIES) - 1):
        acc += cat_w[lu, c]
        l_cat += r > acc
    del acc, r
    l_prod = np.zeros(L, np.int32)
    for c in range(len(CATEGORIES)):
        idx = np.flatnonzero(l_cat == c)
        cand = np.flatnonzero((p_cat == c) & ~p_is_mp)
        l_prod[idx] = rb.choice(cand, idx.size, p=p_pop[cand] / p_pop[cand].sum())
    heroes = np.flatnonzero(p_hero)
    first_line = np.r_[0, np.cumsum(nl)[:-1]]
    is_first_order = ot == first_final[ou]
    f = first_line[is_first_order & (rb.random(N) < 0.7)]
    l_prod[f] = rb.choice(heroes, f.size, p=p_pop[heroes] / p_pop[heroes].sum())
    l_prod[first_line[is_mp]] = orders.mp[is_mp]
    l_qty = 1 + rb.poisson(np.where(p_hero[l_prod], 0.6, 0.3)).astype(np.int32)
    l_qty[first_line[is_mp]] = 1
    # planted aov drop: returning users' orders in one month lose lines
    ad = PLANTED["aov_drop"]
    drop_k = min(ad["month_offset"], months - 1)
    in_m = (ot >= month_s[drop_k]) & (ot < month_s[drop_k + 1]) & (first_final[ou] < month_s[drop_k])
    val = p_price[l_prod] * l_qty
    aff = in_m[l_ord]
    droppable = aff & (l_rank > 0) & ~p_is_mp[l_prod]
    r_drop = min(1.0, ad["relative_drop"] * val[aff].sum() / max(val[droppable].sum(), 1))
    gone = droppable & (rb.random(L) < r_drop)
    s.aov_drop = np.array([int(val[gone].sum()), int(val[aff].sum())], np.int64)  # dropped, affected
    keep = ~gone
    l_ord, l_prod, l_qty = l_ord[keep], l_prod[keep], l_qty[keep]
    del val, aff, droppable, gone, keep, lu, l_cat, l_rank
    # one line per (order, product)
    ukey, inv = np.unique(l_ord.astype(np.int64) * n_pr + l_prod, return_inverse=True)
    s.i_qty = np.bincount(inv, weights=l_qty).astype(np.int64)
    s.i_ord = (ukey // n_pr).astype(np.int64)
    s.i_prod = (ukey % n_pr).astype(np.int32)


def _order_discounts(w: SimpleNamespace, s: SimpleNamespace, rb: np.random.Generator) -> None:
    """Coupons on orders (basket topped up to the threshold; the best applicable new-user coupon of
    the pack first), small promotions; gmv = gross - discount."""
    orders, N, n, ou, ot = s.orders, s.N, s.n, s.ou, s.ot
    i_ord, i_prod, i_qty, p_price = s.i_ord, s.i_prod, s.i_qty, w.p_price
    i_first = np.searchsorted(i_ord, np.arange(N))

    def top_up(oi: np.ndarray, need: np.ndarray, gross: np.ndarray) -> None:
        d = need - gross[oi]
        s_ = d > 0
        li = i_first[oi[s_]]
        add = -(-d[s_] // p_price[i_prod[li]])
        i_qty[li] += add
        gross[oi[s_]] += add * p_price[i_prod[li]]

    gross = np.bincount(i_ord, weights=p_price[i_prod] * i_qty, minlength=N).astype(np.int64)
    face = np.zeros(N, np.int64)
    cpn_internal = np.full(N, -1, np.int64)  # 0..6n-1 new-user, then repurchase, then recall
    # repurchase / recall coupons: top up to the threshold
    for s_, fv, ms, base in ((2, REP_FACE, REP_MIN, 6 * n), (3, RECALL_FACE, RECALL_MIN, 6 * n + s.n_rep)):
        oi = np.flatnonzero(orders.slot == s_)
        top_up(oi, np.full(oi.size, round(ms * 100)), gross)
        face[oi] = round(fv * 100)
        cpn_internal[oi] = base + orders.cpn[oi]
    # new-user coupons: best applicable unused coupon of the pack, rank by rank
    nu_face = np.array([round(x[1] * 100) for x in NU_TYPES])
    nu_min = np.array([round(x[2] * 100) for x in NU_TYPES])
    nu_off = np.r_[0, np.cumsum(NU_COUNTS)[:-1]]
    oi = np.flatnonzero(orders.slot == 1)
    oi = oi[np.lexsort((ot[oi], ou[oi]))]
    uu, loc = np.unique(ou[oi], return_inverse=True)
    avail = np.tile(np.array(NU_COUNTS), (uu.size, 1))
    rk = _group_rank(loc)
    for k in range(int(rk.max()) + 1 if rk.size else 0):
        sel = rk == k
        o_k, l_k = oi[sel], loc[sel]
        av = avail[l_k] > 0
        ok_ = av & (gross[o_k, None] >= nu_min[None, :])
        best = np.where(ok_.any(1), 3 - np.argmax(ok_[:, ::-1], axis=1), np.argmax(av, axis=1))
        none = ~av.any(1)
        o_k, l_k, best = o_k[~none], l_k[~none], best[~none]
        top_up(o_k, nu_min[best], gross)
        copy = NU_COUNTS_ARR[best] - avail[l_k, best]
        avail[l_k, best] -= 1
        face[o_k] = nu_face[best]
        cpn_internal[o_k] = ou[o_k].astype(np.int64) * 6 + nu_off[best] + copy
    promo = np.where((rb.random(N) < 0.06) & (gross - face >= 2000), rb.integers(1, 6, N) * 100, 0).astype(
        np.int64
    )
    discount = face + promo
    gmv = gross - discount
    assert (gmv >= 0).all()
    s.__dict__.update(cpn_internal=cpn_internal, discount=discount, gmv=gmv, nu_face=nu_face, nu_min=nu_min)


def _events(w: SimpleNamespace, s: SimpleNamespace, rv: np.random.Generator) -> None:
    """Sessions before online orders, abandoned sessions, incentive events while the user is active,
    and lapsed users' visits (into s.ev: lists of users, times, events, channels)."""
    _tick("events")
    n, persona, reg_t, pref_ch, orders, ou, ot = s.n, s.persona, s.reg_t, s.pref_ch, s.orders, s.ou, s.ot
    H = w.H
    ev_u, ev_t, ev_e, ev_c = [], [], [], []
    EV = EVENT_CODES
    online = orders.ch != OC_STORE
    oo = np.flatnonzero(online)
    t_co = ot[oo] - rv.integers(30, 300, oo.size)
    t_ac = t_co - rv.integers(30, 600, oo.size)
    t_br = t_ac - rv.integers(40, 600, oo.size)
    t_vi = t_br - rv.integers(5, 120, oo.size)
    has_br = rv.random(oo.size) < 0.9
    for e, tt, m_ in (
        ("visit", t_vi, None),
        ("browse_40s", t_br, has_br),
        ("add_cart", t_ac, None),
        ("checkout_start", t_co, None),
    ):
        sel = slice(None) if m_ is None else m_
        ev_u.append(ou[oo][sel])
        ev_t.append(tt[sel])
        ev_e.append(np.full(ev_u[-1].size, EV[e], np.int8))
        ev_c.append(orders.ch[oo][sel])
    last_act = np.maximum(reg_t, np.where(s.first_final < H, 0, reg_t))
    np.maximum.at(last_act, ou, ot)
    act_end = np.minimum(last_act + 14 * DAY, H - 1)
    act_days = (act_end - reg_t) / DAY
    n_online = np.bincount(ou[oo], minlength=n)
    online_pref = np.where(pref_ch == OC_STORE, OC_MINI, pref_ch).astype(np.int8)
    n_ab = rv.poisson(2.5 * n_online + 1.0)
    au = np.repeat(np.arange(n), n_ab)
    aday = (reg_t[au] + rv.random(au.size) * (act_end[au] - reg_t[au])) // DAY
    at = np.maximum(aday * DAY + _tod(rv, persona[au]), reg_t[au])
    st = rv.random(au.size)
    br, ac, co = st < 0.4, st < 0.1, st < 0.02
    for e, m_, off in (
        ("visit", None, 0),
        ("browse_40s", br, 50),
        ("add_cart", ac, 200),
        ("checkout_start", co, 400),
    ):
        sel = slice(None) if m_ is None else m_
        ev_u.append(au[sel])
        ev_t.append(at[sel] + off)
        ev_e.append(np.full(ev_u[-1].size, EV[e], np.int8))
        ev_c.append(online_pref[au[sel]])
    inc_rates = {
        "checkin": [0.06, 0.01, 0.03, 0.08],
        "share_card": [0.03, 0.01, 0.01, 0.03],
        "draw": [0.02, 0.005, 0.015, 0.05],
        "task_done": [0.012, 0.002, 0.01, 0.02],
    }
    for e, rates in inc_rates.items():
        k_ = rv.poisson(np.array(rates)[persona] * act_days)
        iu = np.repeat(np.arange(n), k_)
        iday = (reg_t[iu] + rv.random(iu.size) * (act_end[iu] - reg_t[iu])) // DAY
        ev_u.append(iu)
        ev_t.append(np.maximum(iday * DAY + _tod(rv, persona[iu]), reg_t[iu]))
        ev_e.append(np.full(iu.size, EV[e], np.int8))
        ev_c.append(np.where(e == "share_card", OC_MINI, online_pref[iu]).astype(np.int8))
    # Lapsed users still open the mini program now and then (a visit, no purchase): dormant
    # users have traffic, so their conversion in the operating matrix is not 100% by construction.
    # Drawn after every other event so the earlier streams are unchanged; visits earn no points.
    idle_days = np.where(act_end < H - 1, (H - 1 - act_end) / DAY, 0.0)
    k_l = rv.poisson(LAPSED_VISITS_PER_DAY * idle_days)
    lu = np.repeat(np.arange(n), k_l)
    lday = (act_end[lu] + rv.random(lu.size) * (H - 1 - act_end[lu])) // DAY
    ev_u.append(lu)
    ev_t.append(lday * DAY + _tod(rv, persona[lu]))
    ev_e.append(np.full(lu.size, EV["visit"], np.int8))
    ev_c.append(online_pref[lu])
    s.ev = (ev_u, ev_t, ev_e, ev_c)


def _footfall(
    w: SimpleNamespace, s: SimpleNamespace, rb: np.random.Generator, rf: np.random.Generator
) -> None:
    """Each order's store, store footfall (logged at the footfall stores only), then the events table's
    columns sorted by (user, time, event, channel)."""
    n, persona, reg_t, ou, ot, H = s.n, s.persona, s.reg_t, s.ou, s.ot, w.H
    ev_u, ev_t, ev_e, ev_c = s.ev
    # Store footfall (own stream; the order's store is drawn here, from the basket stream's next draw,
    # exactly as the orders table would have drawn it): logged at the footfall stores only.
    o_store = _order_store(rb, s.home[ou], w.store_cityi)
    foot_store = w.foot_store
    fo = np.flatnonzero((s.orders.ch == OC_STORE) & foot_store[o_store])
    k_w = rf.poisson(FOOTFALL_WALK_IN_PER_DAY * (H - 1 - reg_t) / DAY) * foot_store[s.home]
    wu = np.repeat(np.arange(n), k_w)
    wday = (reg_t[wu] + rf.random(wu.size) * (H - 1 - reg_t[wu])) // DAY
    ev_u += [ou[fo], wu]
    ev_t += [ot[fo] - rf.integers(120, 1500, fo.size), wday * DAY + _tod(rf, persona[wu])]
    ev_e += [np.full(fo.size + wu.size, EVENT_CODES["store_visit"], np.int8)]
    ev_c += [np.full(fo.size + wu.size, OC_STORE, np.int8)]
    ev_u = np.concatenate(ev_u).astype(np.int64)
    ev_t = np.concatenate(ev_t)
    ev_e = np.concatenate(ev_e)
    ev_c = np.concatenate(ev_c)
    ev_t = np.clip(np.maximum(ev_t, reg_t[ev_u]), 0, H - 1).astype(np.int64)
    packed = np.sort((ev_u << 38) | (ev_t << 6) | (ev_e.astype(np.int64) << 2) | ev_c.astype(np.int64))
    ev_u, ev_t = packed >> 38, (packed >> 6) & 0xFFFFFFFF
    ev_e, ev_c = ((packed >> 2) & 15).astype(np.int8), (packed & 3).astype(np.int8)
    s.ev = (ev_u, ev_t, ev_e, ev_c)
    s.o_store, s.footfall = o_store, np.array([fo.size, wu.size], np.int64)


def _points_ledger(w: SimpleNamespace, s: SimpleNamespace, rp_: np.random.Generator) -> None:
    """The points ledger from events and orders, redemptions (lowering gmv, raising discount) and
    FIFO expiry."""
    _tick("points ledger")
    n, N, ou, ot, gmv, discount = s.n, s.N, s.ou, s.ot, s.gmv, s.discount
    months, month_s = w.months, w.month_s
    ev_u, ev_t, ev_e, _ = s.ev
    EV, REASON = EVENT_CODES, POINT_REASONS
    EVP = {"browse_40s": 10, "share_card": 1, "checkin": 5, "task_done": 20}
    pm = np.isin(ev_e, [EV[e] for e in EVP])
    pe_u, pe_t = ev_u[pm], ev_t[pm]
    pe_pts = np.zeros(pe_u.size, np.int64)
    pe_r = np.zeros(pe_u.size, np.int8)
    for e, pts in EVP.items():
        mm = ev_e[pm] == EV[e]
        pe_pts[mm] = pts
        pe_r[mm] = REASON.index("task" if e == "task_done" else e)
    # three orders in a day: +10 at the third order
    day_key = ou.astype(np.int64) * (w.n_days + 1) + ot // DAY
    o = np.lexsort((ot, day_key))
    drk = _group_rank(day_key[o])
    third = o[drk == 2]
    pe_u = np.r_[pe_u, ou[third]]
    pe_t = np.r_[pe_t, ot[third]]
    pe_pts = np.r_[pe_pts, np.full(third.size, 10)]
    pe_r = np.r_[pe_r, np.full(third.size, REASON.index("three_orders_day"), np.int8)]
    order_pts = np.zeros(N, np.int64)
    red_u, red_t, red_p, exp_u, exp_t, exp_p = [], [], [], [], [], []
    redeemed = np.zeros(n, np.int64)
    expired = np.zeros(n, np.int64)
    pe_m = np.searchsorted(month_s, pe_t, side="right") - 1
    ev_month = np.bincount(pe_u * months + pe_m, weights=pe_pts, minlength=n * months)
    ev_month = ev_month.astype(np.int64).reshape(n, months)
    ord_month = np.zeros((n, months), np.int64)
    bounds = np.searchsorted(ot, month_s)  # orders are sorted by time
    earned = np.zeros(n, np.int64)
    old = np.zeros(n, np.int64)
    for k in range(months):
        if k >= 1:
            earned += ev_month[:, k - 1] + ord_month[:, k - 1]
        if k >= POINTS_EXPIRY_MONTHS + 1:  # FIFO expiry: points of month m expire at the end of month m + E
            old += ev_month[:, k - POINTS_EXPIRY_MONTHS - 1] + ord_month[:, k - POINTS_EXPIRY_MONTHS - 1]
            x = np.maximum(0, old - redeemed - expired)
            xu = np.flatnonzero(x > 0)
            exp_u.append(xu)
            exp_t.append(np.full(xu.size, month_s[k]))
            exp_p.append(-x[xu])
            expired += x
        bal = earned - redeemed - expired
        a_, b_ = bounds[k], bounds[k + 1]
        _, fi = np.unique(ou[a_:b_], return_index=True)
        firsts = a_ + fi  # first order of each user in the month
        go = firsts[(bal[ou[firsts]] >= 500) & (rp_.random(firsts.size) < 0.3)]
        cash = np.minimum(bal[ou[go]] // 100, (gmv[go] * 3 // 10) // 100)
        go, cash = go[cash >= 1], cash[cash >= 1]
        discount[go] += cash * 100
        gmv[go] -= cash * 100
        redeemed[ou[go]] += cash * 100
        red_u.append(ou[go])
        red_t.append(ot[go])
        red_p.append(-cash * 100)
        order_pts[a_:b_] = gmv[a_:b_] // 1000
        ord_month[:, k] = np.bincount(ou[a_:b_], weights=order_pts[a_:b_], minlength=n).astype(np.int64)
    del ev_month, ord_month
    op = order_pts > 0
    L_u = np.concatenate([pe_u, ou[op], *red_u, *exp_u]).astype(np.int64)
    L_t = np.concatenate([pe_t, ot[op], *red_t, *exp_t]).astype(np.int64)
    L_p = np.concatenate([pe_pts, order_pts[op], *red_p, *exp_p]).astype(np.int32)
    L_r = np.concatenate(
        [
            pe_r,
            np.full(op.sum(), REASON.index("order"), np.int8),
            np.full(sum(len(x) for x in red_u), REASON.index("redeem"), np.int8),
            np.full(sum(len(x) for x in exp_u), REASON.index("expire"), np.int8),
        ]
    )
    o = np.argsort((L_u << 36) | (L_t << 4) | L_r, kind="stable")
    s.ledger = (L_u[o], L_t[o], L_p[o], L_r[o])


def _campaign_members(w: SimpleNamespace, s: SimpleNamespace) -> dict:
    """The block's campaign members (s.cm: campaign key, user, holdout, assigned time) and its
    campaigns: {key: kind, k, chan, start, end (before the horizon cap)}."""
    _tick("campaigns + members")
    month_s, exp_members, rep_members, rep_u = w.month_s, s.exp_members, s.rep_members, s.rep_u
    camp = {}  # campaign key -> kind, k, chan, start, end (before the horizon cap)
    cm_c, cm_u, cm_h, cm_a = [], [], [], []

    def by_month(t_assigned):
        return np.searchsorted(month_s, t_assigned, side="right") - 1

    def add_members(kind, k, chan, start, end, u, hold, assigned):
        key = _campaign_key(kind, k)
        camp[key] = dict(kind=kind, k=int(k), chan=chan, start=int(start), end=int(end))
        cm_c.append(np.full(u.size, key, np.int64))
        cm_u.append(u)
        cm_h.append(hold)
        cm_a.append(assigned)

    mk = by_month(exp_members["assigned"])
    for k in np.unique(mk):
        s_ = mk == k
        chan = "wechat_notice" if k % 2 == 0 else "sms"
        end = exp_members["assigned"][s_].max() + 2 * DAY
        add_members("expiry_reminder", k, chan, month_s[k], end, exp_members["u"][s_], exp_members["hold"][s_],
                    exp_members["assigned"][s_])  # fmt: skip
    alive_m = s.rep_alive[rep_members["c"]]
    rmk = by_month(rep_members["assigned"])
    for k in np.unique(rmk[alive_m]):
        s_ = (rmk == k) & alive_m
        end = rep_members["assigned"][s_].max() + 7 * DAY
        add_members("repurchase_reminder", k, "wechat_notice", month_s[k], end, rep_u[rep_members["c"][s_]],
                    rep_members["hold"][s_], rep_members["assigned"][s_])  # fmt: skip
    W = s.recall_window
    for rc in s.rec_camp:
        add_members("recall", rc["k"], rc["chan"], rc["A"], rc["A"] + W, rc["u"], rc["hold"],
                    np.full(rc["u"].size, rc["A"], np.int64))  # fmt: skip
    cm_c = np.concatenate(cm_c or [np.zeros(0, np.int64)])
    cm_u = np.concatenate(cm_u or [np.zeros(0, np.int64)]).astype(np.int64)
    cm_h = np.concatenate(cm_h or [np.zeros(0, bool)])
    cm_a = np.concatenate(cm_a or [np.zeros(0, np.int64)]).astype(np.int64)
    o = np.lexsort((cm_u, cm_c))
    o = o[~s.gh[cm_u[o]]]  # global holdout users behave as holdout but are in no campaign's list
    s.cm = (cm_c[o], cm_u[o], cm_h[o], cm_a[o])
    s.alive_m = alive_m
    return camp


def _coupons(w: SimpleNamespace, s: SimpleNamespace, first_coupon_id: int) -> None:
    """Every issued coupon still alive (new-user packs, repurchase, recall), numbered from
    first_coupon_id in (issue time, user) order, and each order's coupon id."""
    _tick("coupons")
    n, n_rep, rep_u, rc_u, rc_t, rc_k = s.n, s.n_rep, s.rep_u, s.rc_u, s.rc_t, s.rc_k
    nu_kind = np.repeat(np.arange(4), NU_COUNTS)  # per-user slot -> NU type
    c_u = np.r_[np.repeat(np.arange(n), 6), rep_u, rc_u].astype(np.int64)
    c_issue = np.r_[np.repeat(s.reg_t, 6), s.rep_t, rc_t].astype(np.int64)
    c_exp = np.r_[np.repeat(s.nu_exp, 6), s.rep_exp, rc_t + RECALL_VALID_DAYS * DAY].astype(np.int64)
    c_kind = np.r_[np.tile(nu_kind, n), np.full(n_rep, 4), np.full(rc_u.size, 5)].astype(np.int8)
    c_face = np.r_[s.nu_face, round(REP_FACE * 100), round(RECALL_FACE * 100)][c_kind]
    c_min = np.r_[s.nu_min, round(REP_MIN * 100), round(RECALL_MIN * 100)][c_kind]
    rc_key = np.array([_campaign_key("recall", rc["k"]) for rc in s.rec_camp], np.int64)
    c_camp = np.r_[np.full(6 * n + n_rep, -1), rc_key[rc_k] if rc_k.size else np.zeros(0, np.int64)]
    c_alive = np.r_[np.ones(6 * n, bool), s.rep_alive, np.ones(rc_u.size, bool)]
    ci = np.flatnonzero(c_alive)
    ci = ci[np.lexsort((ci, c_u[ci], c_issue[ci]))]
    c_id = np.full(c_u.size, -1, np.int64)
    c_id[ci] = np.arange(first_coupon_id, first_coupon_id + ci.size)
    o_coupon = np.where(s.cpn_internal >= 0, c_id[np.maximum(s.cpn_internal, 0)], -1)
    assert (o_coupon[s.cpn_internal >= 0] > 0).all()
    s.__dict__.update(c_id=c_id, ci=ci, c_u=c_u, c_issue=c_issue, c_exp=c_exp, c_kind=c_kind, c_face=c_face,
                      c_min=c_min, c_camp=c_camp, o_coupon=o_coupon)  # fmt: skip


def _tables(w: SimpleNamespace, s: SimpleNamespace, first_order_id: int) -> dict:
    """The block's tables as column builders (called one at a time when written)."""
    _tick("tables")
    uid, ou, ot, ci, c_camp, gmv = s.uid, s.ou, s.ot, s.ci, s.c_camp, s.gmv
    i_ord, i_prod, i_qty, p_price = s.i_ord, s.i_prod, s.i_qty, w.p_price
    cm_c, cm_u, cm_h, cm_a = s.cm
    ev_u, ev_t, ev_e, ev_c = s.ev
    L_u, L_t, L_p, L_r = s.ledger
    ts = _ts(w.start_d)
    order_id = np.arange(first_order_id, first_order_id + s.N, dtype=np.int64)
    # the builders hold these columns only (not the block's whole state)
    persona, reg_t, channel, referrer, home, city = s.persona, s.reg_t, s.channel, s.referrer, s.home, s.city
    female, g_null, birth_year, by_null, fam, fam_names, fam_null = (
        s.female, s.g_null, s.birth_year, s.by_null, s.fam, s.fam_names, s.fam_null
    )  # fmt: skip
    c_id, c_u, c_kind, c_issue = s.c_id, s.c_u, s.c_kind, s.c_issue
    c_exp, c_face, c_min = s.c_exp, s.c_face, s.c_min
    o_store, discount, o_coupon = s.o_store, s.discount, s.o_coupon
    order_ch = s.orders.ch
    return {
        "users": lambda: dict(
            user_id=uid,
            registered_at=ts(reg_t),
            channel=_Cat(channel, CHANNELS),
            referrer_id=_Cat(referrer, w.ref_id, referrer < 0),
            home_store_id=_Cat(home, w.store_id),
            city=_Cat(city, w.cities),
            gender=_Cat(np.where(female, 0, 1), ("F", "M"), g_null),
            birth_year=(birth_year, by_null),
            family_status=_Cat(fam, fam_names, fam_null),
        ),
        "coupons": lambda: dict(
            coupon_id=c_id[ci],
            user_id=uid[c_u[ci]],
            kind=_Cat(c_kind[ci], KINDS_ALL),
            issued_at=ts(c_issue[ci]),
            expires_at=ts(c_exp[ci]),
            face_value=_money(c_face[ci]),
            min_spend=_money(c_min[ci]),
            campaign_id=(c_camp[ci], c_camp[ci] < 0),  # campaign keys: numbered when all are known
        ),
        "orders": lambda: dict(
            order_id=order_id,
            user_id=uid[ou],
            ordered_at=ts(ot),
            store_id=_Cat(o_store, w.store_id),
            order_channel=_Cat(order_ch, ORDER_CHANNELS),
            gmv=_money(gmv),
            discount=_money(discount),
            coupon_id=(o_coupon, o_coupon < 0),
        ),
        "order_items": lambda: dict(
            order_id=order_id[i_ord],
            product_id=_Cat(i_prod, w.product_id),
            quantity=i_qty.astype(np.int32),
            amount=_money(p_price[i_prod] * i_qty),
        ),
        "campaign_members": lambda: dict(
            campaign_id=cm_c,  # campaign keys: numbered when all are known
            user_id=uid[cm_u],
            arm=_Cat(cm_h.astype(np.int8), ("treatment", "holdout")),
            assigned_at=ts(cm_a),
            touched_at=(ts(cm_a), cm_h),
        ),
        "events": lambda: dict(
            user_id=uid[ev_u],
            ts=ts(ev_t),
            event=_Cat(ev_e, list(EVENT_CODES)),
            event_channel=_Cat(ev_c, ORDER_CHANNELS),
        ),
        "points_ledger": lambda: dict(
            user_id=uid[L_u], ts=ts(L_t), points=L_p, reason=_Cat(L_r, POINT_REASONS)
        ),
        "personas": lambda: dict(user_id=uid, persona=_Cat(persona, PERSONAS)),
    }


def _truth(w: SimpleNamespace, s: SimpleNamespace) -> dict:
    """The block's sums behind the planted truth (added up over the blocks by _add)."""
    _tick("truth")
    n, N, ou, ot, first_final, gh, channel = s.n, s.N, s.ou, s.ot, s.first_final, s.gh, s.channel
    months, month_s, H = w.months, w.month_s, w.H
    exp_members, rep_members, rep_u, rec_camp = s.exp_members, s.rep_members, s.rep_u, s.rec_camp
    reg_m = np.searchsorted(month_s, s.reg_t, side="right") - 1
    regs = np.bincount(reg_m * 8 + channel, minlength=months * 8).reshape(months, 8)
    d30 = _repeat_share(ou, ot, first_final, n, 30)
    exp_real = ~gh[exp_members["u"]]
    rep_real = s.alive_m & ~gh[rep_u[rep_members["c"]]]
    lines = (s.i_ord, s.i_prod, s.i_qty, w.p_cost)
    return {
        "counts": dict(users=n, orders=N, order_items=int(s.i_ord.size), coupons=int(s.ci.size),
                       campaign_members=int(s.cm[0].size), events=int(s.ev[0].size),
                       points_ledger=int(s.ledger[0].size)),
        "regs": regs,
        "buyers_by_ch": np.bincount(channel[first_final < H], minlength=8),
        "rep30_by_ch": np.bincount(channel[d30], minlength=8),
        "referral": _referral_sums(s.referrer, w.n_lead, s.reg_t, first_final, ou, ot, s.gmv, s.cpn_internal,
                                   s.c_kind, s.c_face, lines, month_s, H),
        "global_holdout_users": int(gh.sum()),
        "expiry": _arm_counts(exp_members["hold"][exp_real], exp_members["outcome"][exp_real]),
        "recall": _arm_counts(
            np.concatenate([c["hold"][~gh[c["u"]]] for c in rec_camp] or [np.zeros(0, bool)]),
            np.concatenate([c["outcome"][~gh[c["u"]]] for c in rec_camp] or [np.zeros(0, bool)]),
        ),
        "repurchase": _arm_counts(rep_members["hold"][rep_real], rep_members["outcome"][rep_real]),
        "mp_buyers": int(s.mp_user.size),
        "aov_drop": s.aov_drop,
        "footfall": s.footfall,
    }  # fmt: skip


KINDS_ALL = [x[0] for x in NU_TYPES] + ["repurchase", "recall"]
CAMPAIGN_KINDS = ("expiry_reminder", "repurchase_reminder", "recall")  # same start: in this order


def _campaign_key(kind: str, k: int) -> int:
    """A campaign's key, in (start month, kind) order: the campaigns' ids are the ranks of the keys
    used (known once every block of users is generated)."""
    return 3 * int(k) + CAMPAIGN_KINDS.index(kind) + 1


def _ts(start_d: np.datetime64):
    t0 = start_d.astype("datetime64[s]")
    return lambda x: t0 + np.asarray(x, np.int64).astype("timedelta64[s]")


def _money(c) -> np.ndarray:
    return np.asarray(c, np.int64) / 100.0


def _add(acc: dict, part: dict) -> dict:
    """Sum the truth of a block of users into acc (numbers, arrays and dicts of them)."""
    for k, v in part.items():
        if isinstance(v, dict):
            acc[k] = _add(acc.get(k, {}), v)
        else:
            acc[k] = acc[k] + v if k in acc else v
    return acc


def _campaigns(w: SimpleNamespace, camps: dict) -> tuple[dict, dict]:
    """The campaigns table and {campaign key: campaign id} from the keys the blocks used."""
    keys = sorted(camps)
    ids = {key: i + 1 for i, key in enumerate(keys)}
    ym = [str(w.month_d[k])[:7] for k in range(w.months)]
    cn = {"sms": "短信", "wechat_notice": "微信服务通知", "offline_push": "到店推送"}
    title = {
        "expiry_reminder": "新人券到期提醒",
        "repurchase_reminder": "复购券未使用提醒",
        "recall": "流失召回",
    }
    cs = [camps[k] for k in keys]
    ts = _ts(w.start_d)
    table = dict(
        campaign_id=np.arange(1, len(keys) + 1, dtype=np.int64),
        name=np.array([f"{ym[c['k']]} {title[c['kind']]}（{cn[c['chan']]}）" for c in cs]),
        kind=np.array([c["kind"] for c in cs]),
        channel=np.array([c["chan"] for c in cs]),
        started_at=ts([c["start"] for c in cs]),
        ended_at=ts([min(c["end"], w.H - 1) for c in cs]),
        cost_per_touch=np.array([CAMPAIGN_COST[c["chan"]] for c in cs]),
    )
    return table, ids


def _shared_tables(w: SimpleNamespace, spend: np.ndarray, campaigns: dict) -> dict:
    """The tables every block shares: catalog, referrers, campaigns, channel spend."""
    ch_names = np.array(CHANNELS)
    ref_kind = np.concatenate([np.full(w.n_lead, "group_leader"), np.full(w.n_prom, "store_promoter")])
    ref_group = np.array([f"G{g + 1:02d}" for g in w.leader_group] + [None] * w.n_prom, dtype=object)
    ref_store = np.array([None] * w.n_lead + list(w.store_id[w.prom_store]), dtype=object)
    ref_o = np.argsort(w.ref_id, kind="stable")
    months = w.months
    sp_o = np.lexsort((np.tile(ch_names, months).astype(str), np.repeat(np.arange(months), 8)))
    return {
        "stores": dict(
            store_id=w.store_id, name=np.array(w.store_name), city=np.array(w.store_city),
            opened_at=w.store_opened,
        ),
        "referrers": dict(
            referrer_id=w.ref_id[ref_o],
            kind=ref_kind[ref_o],
            group_id=(ref_group[ref_o], None),
            store_id=(ref_store[ref_o], None),
        ),
        "products": dict(
            product_id=w.product_id,
            name=np.array(w.p_name),
            category=np.array(CATEGORIES)[w.p_cat],
            price=_money(w.p_price),
            unit_cost=_money(w.p_cost),
            is_hero=w.p_hero,
        ),
        "campaigns": campaigns,
        "channel_spend": dict(
            month=np.repeat(w.month_d[:months], 8)[sp_o],
            channel=np.tile(ch_names, months)[sp_o],
            spend=_money(spend.ravel())[sp_o],
        ),
        # One coupon per order at most (orders.coupon_id): the multi-coupon table is empty.
        "order_coupons": dict(order_id=np.zeros(0, np.int64), coupon_id=np.zeros(0, np.int64)),
    }  # fmt: skip


def _manifest(w: SimpleNamespace, t: dict, spend: np.ndarray, n_campaigns: int) -> dict:
    """planted.json: parameters, table counts and the TRUE size of every planted effect, from the
    truth summed over the blocks of users."""
    ep, rp, rcp, mpc, ad = (PLANTED[k] for k in ("expiry_reminder", "repurchase_reminder", "recall",
                                                  "milk_powder", "aov_drop"))  # fmt: skip
    counts = dict(t["counts"], products=w.n_pr, stores=w.n_st, referrers=int(w.ref_id.size),
                  campaigns=n_campaigns, channel_spend=w.months * 8, order_coupons=0)  # fmt: skip
    counts = {k: counts[k] for k in TABLES}
    regs, buyers_by_ch, rep30_by_ch = t["regs"], t["buyers_by_ch"], t["rep30_by_ch"]
    cac = spend.sum(0) / np.maximum(regs.sum(0), 1) / 100
    manifest = {
        "generator": "userops.demo",
        "version": VERSION,
        "seed": w.seed,
        "users": w.n,
        "months": w.months,
        "start": str(w.start_d),
        "end": str(w.month_d[-1] - np.timedelta64(1, "D")),
        "end_exclusive": str(w.month_d[-1]),
        "counts": counts,
        "planted": {
            "channel_quality": {
                "definition": "paid_ads buyers' repeat-purchase rate (orders/day after the first order) is "
                "multiplied by repeat_rate_multiplier and their active lifetime by lifetime_multiplier; "
                "paid_ads has the lowest CAC (spend / registered users)",
                "channel": "paid_ads",
                "repeat_rate_multiplier": PAID_ADS_REPEAT_MULTIPLIER,
                "lifetime_multiplier": PAID_ADS_LIFE_MULTIPLIER,
                "cac_per_registered_user": {c: round(float(cac[i]), 2) for i, c in enumerate(CHANNELS)},
                "registered_users": {c: int(regs.sum(0)[i]) for i, c in enumerate(CHANNELS)},
                "d30_repeat_share_of_buyers": {
                    c: round(float(rep30_by_ch[i] / max(buyers_by_ch[i], 1)), 4)
                    for i, c in enumerate(CHANNELS)
                },
                "note": "referral channels' spend is material only; commissions are computed downstream",
            },
            "unprofitable_channel": {
                "definition": "the channel's spend per registered user is set so high that its customers' "
                "12-month gross-margin LTV stays below its CAC: the report must advise to stop or fix it",
                "channel": UNPROFITABLE_CHANNEL,
                "spend_per_registered_user": float(CHANNEL_CAC[CH[UNPROFITABLE_CHANNEL]]),
            },
            "referral_economics": _referral_truth(t["referral"]),
            "global_holdout": {
                "definition": "users whose sha256(salt:user_id) score is below the share (params experiments) "
                "are in no campaign: they behave as a holdout in every reminder and recall (no lift, no coupon)",
                "share": ExperimentParams().global_holdout_share,
                "salt": ExperimentParams().global_holdout_salt,
                "users": int(t["global_holdout_users"]),
            },
            "expiry_reminder_lift": {
                "definition": "members: users with a first order and an unredeemed new-user coupon 48 h before "
                "the pack expires (assigned_at = registered_at + 5 d); outcome: a new-user coupon redeemed in "
                "(assigned_at, expires_at]; P(outcome) = base (holdout), base + lift (treatment)",
                "base": ep["base"],
                "lift": ep["lift"],
                "holdout_share": ep["holdout_share"],
                "realized": _arm_rates(t["expiry"]),
            },
            "recall_lift": {
                "definition": "members: buyers with no order for 60+ days at the campaign start (not in the "
                "previous month's recall); outcome: any order in (assigned_at, assigned_at + window_days]; "
                "P(outcome) = base (holdout), base + lift (treatment)",
                "base": rcp["base"],
                "lift": rcp["lift"],
                "window_days": rcp["window_days"],
                "dormant_days": rcp["dormant_days"],
                "holdout_share": rcp["holdout_share"],
                "realized": _arm_rates(t["recall"]),
            },
            "repurchase_reminder_lift": {
                "definition": "repurchase coupon (5 off 39, 14 d) given at checkout when the previous order is "
                "14+ d old; members: coupon unused 7 d after issue (assigned_at = issued_at + 7 d); outcome: "
                "the coupon redeemed in (assigned_at, expires_at]; P(outcome) = base (holdout), base + lift",
                "base": rp["base"],
                "lift": rp["lift"],
                "window_days": REP_VALID_DAYS - 7,
                "holdout_share": rp["holdout_share"],
                "realized": _arm_rates(t["repurchase"]),
            },
            "persona_category": {
                "definition": "expected category share of order lines by persona (users' category weights are "
                f"Dirichlet around these rows, concentration {CATEGORY_CONCENTRATION}); persona shares of users",
                "persona_shares": {p: float(PERSONA_SHARE[i]) for i, p in enumerate(PERSONAS)},
                "matrix": {
                    p: {c: float(PERSONA_CATEGORY[i, j]) for j, c in enumerate(CATEGORIES)}
                    for i, p in enumerate(PERSONAS)
                },
            },
            "milk_powder_cycle": {
                "definition": "young_family_mum buyers with kids (share below) rebuy one milk powder; gap between "
                "purchases ~ Gamma(mean, sd) days (day-level, hour of day redrawn); stop after each can with "
                "stop_prob",
                "persona": "young_family_mum",
                "mean_days": mpc["mean_days"],
                "sd_days": mpc["sd_days"],
                "stop_prob": mpc["stop_prob"],
                "share_of_mums_with_kids": mpc["share_of_mums_with_kids"],
                "buyers": int(t["mp_buyers"]),
                "product_ids": [str(w.product_id[i]) for i in w.mp_products],
            },
            "aov_drop": {
                "definition": "orders in the month by returning users (first order before the month) lose "
                "non-first lines so their expected gross basket (gmv + discount, before coupon top-ups) "
                "drops by relative_drop; new users unchanged",
                "month": str(w.month_d[min(ad["month_offset"], w.months - 1)])[:7],
                "group": "returning",
                "relative_drop": ad["relative_drop"],
                "realized_gross_drop_before_topups": round(
                    float(t["aov_drop"][0] / max(t["aov_drop"][1], 1)), 4
                ),
            },
            "store_footfall": {
                "definition": "the stores listed log member visits as events named event (channel store): "
                "every store order there follows a logged visit (2-25 min before), and the users of those "
                "home stores also walk in without buying (walk_ins_per_day from registration on); the "
                "other stores log only purchases, so their buyers without an app session have no "
                "observed visit (the brief's traffic basis)",
                "event": "store_visit",
                "stores": [str(x) for x in w.store_id[w.foot_store]],
                "store_share": FOOTFALL_STORE_SHARE,
                "walk_ins_per_day": FOOTFALL_WALK_IN_PER_DAY,
                "purchase_visits": int(t["footfall"][0]),
                "walk_in_visits": int(t["footfall"][1]),
            },
        },
        "rules": {
            "new_user_pack": {
                x[0]: {"face": x[1], "min_spend": x[2], "count": c}
                for x, c in zip(NU_TYPES, NU_COUNTS, strict=True)
            },
            "new_user_valid_days": NU_VALID_DAYS,
            "repurchase_coupon": {"face": REP_FACE, "min_spend": REP_MIN, "valid_days": REP_VALID_DAYS},
            "recall_coupon": {"face": RECALL_FACE, "min_spend": RECALL_MIN, "valid_days": RECALL_VALID_DAYS},
            "points": {
                "browse_40s": 10,
                "three_orders_day": 10,
                "share_card": 1,
                "checkin": 5,
                "task": 20,
                "order": "1 per 10 yuan gmv",
                "redeem": "100 points = 1 yuan",
                "expire": f"FIFO: points issued in month m expire at the end of month m + {POINTS_EXPIRY_MONTHS}",
            },
            "campaign_cost_per_touch": CAMPAIGN_COST,
        },
    }
    return manifest


def _order_store(rng: np.random.Generator, home: np.ndarray, store_city: np.ndarray) -> np.ndarray:
    """Fulfilling store: the home store (88%) or another store of the same city."""
    st = home.copy()
    other = np.flatnonzero(rng.random(home.size) < 0.12)
    for c in np.unique(store_city):
        cs = np.flatnonzero(store_city == c)
        m = other[store_city[home[other]] == c]
        st[m] = cs[rng.integers(0, cs.size, m.size)]
    return st


def _referral_sums(referrer, n_lead, reg_t, first, ou, ot, gmv, cpn, c_kind, c_face, lines, month_s, H):
    """Sums behind the true referral economics of a block of users, per referrer kind (group_leader =
    the community), as the report defines it: [users, margin returns, GMV returns, cost] in cents.

    Users: referred, registered in the last REFERRAL_MONTHS months, first order in the data and its
    REFERRAL_WINDOW_DAYS-day window complete by the end. Returns = gross margin (paid GMV - quantity x
    unit cost) and paid GMV of their orders on days first .. first + window - 1, plus the new-user pack
    discounts on those orders (added back: the pack is counted once, as a cost). Cost = commission
    (REFERRAL_COMMISSION) x users + the pack coupons they redeemed.
    """
    i_ord, i_prod, i_qty, p_cost = lines
    cogs = np.bincount(i_ord, weights=p_cost[i_prod] * i_qty, minlength=gmv.size)
    pack = np.where(
        cpn >= 0, np.where(c_kind[np.maximum(cpn, 0)] < len(NU_TYPES), c_face[np.maximum(cpn, 0)], 0), 0
    )
    first_day = first // DAY
    since = month_s[max(month_s.size - 1 - REFERRAL_MONTHS, 0)]  # a shorter export: all of it
    users = (referrer >= 0) & (reg_t >= since) & (first < H)
    users &= first_day + REFERRAL_WINDOW_DAYS <= H // DAY
    in_win = users[ou] & (ot // DAY < first_day[ou] + REFERRAL_WINDOW_DAYS)
    out = {}
    for kind, is_kind in (("group_leader", referrer < n_lead), ("store_promoter", referrer >= n_lead)):
        u = users & is_kind & (referrer >= 0)
        o = in_win & u[ou]
        back = pack[o].sum()
        cost = REFERRAL_COMMISSION[kind] * 100 * u.sum() + pack[u[ou]].sum()
        out[kind] = np.array([u.sum(), gmv[o].sum() - cogs[o].sum() + back, gmv[o].sum() + back, cost], float)
    return out


def _referral_truth(sums: dict) -> dict:
    """True referral economics per referrer kind from the blocks' summed [users, margin, GMV, cost]."""
    out = {
        "definition": "referred users registered in the last registration_months months whose first order's "
        "window_days-day window is complete: (gross margin or paid GMV of the window's orders + the new-user "
        "pack discounts on them) / (commission x users + the pack coupons they redeemed); observational, not ROI",
        "registration_months": REFERRAL_MONTHS,
        "window_days": REFERRAL_WINDOW_DAYS,
        "seed_reference": "community ROI ~3 = all group sales / all costs paid (a paid-GMV ratio)",
    }
    for kind in ("group_leader", "store_promoter"):
        users, margin, gmv, cost = sums[kind]
        out[kind] = {
            "commission_per_valid_user": REFERRAL_COMMISSION[kind],
            "users": int(users),
            "margin_per_yuan": round(float(margin / cost), 4) if cost else None,
            "gmv_per_yuan": round(float(gmv / cost), 4) if cost else None,
        }
    return out


def _repeat_share(ou, ot, first, n, days) -> np.ndarray:
    """Bool per user: a second order within `days` after the first order."""
    later = (ot > first[ou]) & (ot <= first[ou] + days * DAY)
    return np.bincount(ou[later], minlength=n) > 0


def global_holdout_mask(user_ids: np.ndarray) -> np.ndarray:
    """Users in the default global holdout (params experiments): the same SQL every run uses."""
    p = ExperimentParams()
    con = duckdb.connect()
    try:
        con.execute("create table users as select unnest($ids) as user_id", {"ids": user_ids.tolist()})
        con.execute(
            "create table map_user_id as select user_id, cast(user_id as varchar) as source_id from users"
        )
        res = con.execute(
            read_sql("experiments/global_holdout"),
            {"salt": p.global_holdout_salt, "share": p.global_holdout_share},
        ).fetchnumpy()
    finally:
        con.close()
    order = np.argsort(res["user_id"])
    return np.asarray(res["in_global_holdout"])[order][np.searchsorted(res["user_id"][order], user_ids)]


def _arm_counts(hold: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """[holdout members, treatment members, holdout outcomes, treatment outcomes] of a block."""
    return np.array([hold.sum(), (~hold).sum(), outcome[hold].sum(), outcome[~hold].sum()], np.int64)


def _arm_rates(counts: np.ndarray) -> dict:
    h_n, t_n, h_pos, t_pos = (int(x) for x in counts)
    return {
        "holdout_n": h_n,
        "treatment_n": t_n,
        "holdout_rate": round(h_pos / h_n, 4) if h_n else None,
        "treatment_rate": round(t_pos / t_n, 4) if t_n else None,
    }


# ----------------------------------------------------------------------------- writing

_ARROW = {"BIGINT": pa.int64(), "INTEGER": pa.int32(), "VARCHAR": pa.string(), "BOOLEAN": pa.bool_()}


def _arrow_table(name: str, cols: dict) -> pa.Table:
    arrays = []
    spec = TABLES[name].columns if name in TABLES else None
    names = [c.name for c in spec] if spec else list(cols)
    if set(names) != set(cols):
        raise AssertionError(f"{name}: columns {sorted(cols)} != contract {sorted(names)}")
    for c in spec:
        v = cols[c.name]
        if isinstance(v, _Cat):
            arrays.append(v.to_arrow())
            continue
        mask = None
        if isinstance(v, tuple):
            v, mask = v
            if mask is None:
                mask = np.array([x is None for x in v])
                v = np.array(["" if x is None else x for x in v])
            mask = np.asarray(mask, bool)
        t = c.type.upper()
        if t == "TIMESTAMP":
            typ = pa.timestamp("s")
        elif t == "DATE":
            typ = pa.date32()
            v = np.asarray(v).astype("datetime64[D]")
        elif t.startswith("DECIMAL"):
            typ = pa.float64()
            v = np.round(np.asarray(v, np.float64), 2)
        else:
            typ = _ARROW[t]
        arrays.append(pa.array(np.asarray(v), type=typ, mask=mask))
    return pa.table(arrays, names=names)


PER_USER_TABLES = ("users", "coupons", "orders", "order_items", "campaign_members", "events", "points_ledger")


def _generate(out: Path, n: int, months: int, seed: int, start_d, fmt: str, chunk_users: int) -> dict:
    """Generate block by block of users into a temp folder beside `out`, then rename it over `out`."""
    w = _world(n, months, seed, start_d, chunk_users)
    n_chunks = -(-n // chunk_users)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        parts = tmp / ".parts"
        truth: dict = {}
        camps: dict = {}
        for c in range(n_chunks):
            counts = truth.get("counts", {})
            tables, t, camp = _chunk(w, c, counts.get("orders", 0) + 1, counts.get("coupons", 0) + 1)
            for name in (*PER_USER_TABLES, "personas"):
                _write_part(parts / name / f"part-{c:05d}.parquet", name, tables.pop(name)())
            truth = _add(truth, t)
            for key, cc in camp.items():
                seen = camps.setdefault(key, cc)
                seen["end"] = max(seen["end"], cc["end"])
        noise = w.rs.lognormal(0, 0.05, (months, 8))
        spend = np.round(truth["regs"] * CHANNEL_CAC[None, :] * noise * 100).astype(np.int64)
        campaigns, ids = _campaigns(w, camps)
        for name, cols in _shared_tables(w, spend, campaigns).items():
            _write_file(tmp / f"{name}.{fmt}", _arrow_table(name, cols), fmt)
        _place_parts(parts, tmp, n_chunks, fmt, ids)
        manifest = _manifest(w, truth, spend, len(ids))
        (tmp / "planted.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", "utf-8")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "d")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_part(path: Path, name: str, cols: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "personas":
        t = pa.table({"user_id": pa.array(cols["user_id"]), "persona": cols["persona"].to_arrow()})
    else:
        t = _arrow_table(name, cols)
    pq.write_table(t, path, compression="zstd")


def _write_file(path: Path, t: pa.Table, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(t, path, compression="zstd")
    else:
        pacsv.write_csv(t, path)


def _place_parts(parts: Path, out: Path, n_chunks: int, fmt: str, ids: dict) -> None:
    """Move the blocks' parts into place: `<table>.<fmt>` for one block, else a folder of parts
    `<table>/part-00000.<fmt>`; campaign keys become campaign ids (personas stay Parquet)."""
    lookup = np.zeros(max(ids, default=0) + 1, np.int64)
    lookup[list(ids)] = list(ids.values())
    lookup = pa.array(lookup)
    for name in (*PER_USER_TABLES, "personas"):
        ext = "parquet" if name == "personas" else fmt
        for c in range(n_chunks):
            src = parts / name / f"part-{c:05d}.parquet"
            dest = out / f"{name}.{ext}" if n_chunks == 1 else out / name / f"part-{c:05d}.{ext}"
            remap = name in ("coupons", "campaign_members")
            if ext == "parquet" and not remap:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(src, dest)
                continue
            t = pq.read_table(src)
            t = t.cast(pa.schema([_seconds(f) for f in t.schema]))
            if remap:
                i = t.schema.get_field_index("campaign_id")
                t = t.set_column(i, "campaign_id", pc.take(lookup, t["campaign_id"]))
            _write_file(dest, t, ext)
            src.unlink()
    shutil.rmtree(parts)


def _seconds(f: pa.Field) -> pa.Field:
    """Timestamps as written (whole seconds): Parquet reads them back in milliseconds."""
    return f.with_type(pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f
