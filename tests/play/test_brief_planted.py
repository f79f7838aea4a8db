"""Brief (00) recovers the planted AOV drop from a freshly generated demo set (planted.json aov_drop).

In the planted month, returning users' orders (first order before the month) lose lines so
that their gross basket drops by `relative_drop`; new users' baskets are unchanged.
"""

from __future__ import annotations

import pytest

from userops import brief
from userops.db import last_complete_month
from userops.params import BriefParams, RecallParams
from userops.period import Period

RC = RecallParams()


@pytest.fixture(scope="module")
def drop(planted):
    return planted["aov_drop"]


@pytest.fixture(scope="module")
def decomposition(demo_con, drop):
    p = Period(drop["month"])
    m = brief.matrix(demo_con, p.prev, p, RC, events=True)
    return m, brief.decompose(m, p)


def test_planted_aov_drop_is_the_largest_bar(decomposition, drop):
    """The biggest group x factor contribution of that month is the planted group's AOV, negative."""
    _, d = decomposition
    top = brief.largest(d)
    assert (top.user_group, top.factor) == (drop["group"], "aov"), d.sort_values("rank")
    assert top.contribution < 0
    assert d["contribution"].sum() == pytest.approx(d.attrs["change"], abs=1e-6)  # exact decomposition


def test_planted_aov_drop_size(decomposition, drop):
    """AOV per order of returning users falls by the planted share, within a stated tolerance.

    Tolerance 0.05: AOV here is paid GMV per order (after coupon top-ups and discounts) while the
    plant acts on the gross basket, and the demo's monthly AOV varies by a few percent anyway.
    New users' AOV, not touched by the plant, moves by less than that tolerance.
    """
    m, d = decomposition
    rows = d.set_index(["user_group", "factor"])
    ret = rows.loc[(drop["group"], "aov")]
    assert 1 - ret.value / ret.value_prev == pytest.approx(drop["relative_drop"], abs=0.05)
    new = rows.loc[("new", "aov")]
    assert abs(new.value / new.value_prev - 1) < 0.05


def test_traffic_basis_exercised_by_planted_footfall(demo_con, planted):
    """The demo logs store visits at some stores (planted.json store_footfall), so the last month's
    traffic has both bases: app / mini-program sessions and store footfall, and some buyers (in stores
    that log no visits, without an app session) are counted apart, never as converted traffic."""
    assert planted["store_footfall"]["stores"]
    last = Period(last_complete_month(demo_con))
    m = brief.matrix(demo_con, last.prev, last, RC, events=True)
    t = brief.traffic_basis(m, last)
    assert t["session_visitors"] > 0 and t["footfall_visitors"] > 0 and t["unobserved_buyers"] > 0
    assert t["converted"] + t["unobserved_buyers"] == m[m.month == last.month]["buyers"].sum()
    cur = m[m.month == last.month]
    assert (cur["conversion"] < 1).all()  # every group has visitors who did not buy
    # without the footfall events the same stores' buyers lose their observed visit
    no_foot = brief.matrix(demo_con, last.prev, last, RC, events=True, bp=BriefParams(footfall_events=[]))
    assert brief.traffic_basis(no_foot, last)["unobserved_buyers"] > t["unobserved_buyers"]
    for frame in (m, no_foot):  # the identity holds on both bases
        got = brief.product_of_factors(frame[frame.month == last.month]).sum()
        assert got == pytest.approx(cur["gmv"].sum(), abs=1e-6)
