"""Brief (00) recovers the planted AOV drop from a freshly generated demo set (planted.json aov_drop).

In the planted month, returning users' orders (first order before the month) lose lines so
that their gross basket drops by `relative_drop`; new users' baskets are unchanged.
"""

from __future__ import annotations

import pytest

from userops import brief
from userops.params import RecallParams
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
