"""The BG/NBD and Gamma-Gamma fits of userops.clv: published parameters, grouping, gradients.

tests/data/cdnow_customers_summary.csv is the CDNOW sample of Fader, Hardie & Lee (2005): 2,357
customers, time unit = weeks, columns x (repeat purchases), t_x (recency), T (age), zbar (mean
repeat spend, $). Copied from the MIT-licensed `lifetimes` package
(lifetimes/datasets/cdnow_customers_summary_with_transactions.csv), line endings normalised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from userops import clv

CDNOW = Path(__file__).parents[1] / "data" / "cdnow_customers_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow):
    """Fader, Hardie & Lee (2005), table 1: r 0.243, alpha 4.414, a 0.793, b 2.426, LL -9582.4."""
    fit = clv.fit_bgnbd(cdnow.x, cdnow.t_x, cdnow["T"])
    assert len(cdnow) == 2357 and fit.n == 2357
    # four significant digits of the MLE (r 0.24259, alpha 4.41353, a 0.79289, b 2.42575)
    assert (round(fit.r, 4), round(fit.alpha, 3), round(fit.a, 4), round(fit.b, 3)) == (
        0.2426,
        4.414,
        0.7929,
        2.426,
    )
    assert fit.loglik == pytest.approx(-9582.43, abs=0.01)


def test_gamma_gamma_reproduces_the_published_cdnow_fit(cdnow):
    """Fader & Hardie, "The Gamma-Gamma model of monetary value" (2013): p 6.25, q 3.74, gamma 15.44
    on the 946 CDNOW customers with a repeat purchase."""
    rep = cdnow[cdnow.x > 0]
    fit = clv.fit_gamma_gamma(rep.x, rep.zbar)
    assert fit.n == 946
    assert fit.p == pytest.approx(6.25, abs=0.01)  # published to two decimals
    assert fit.q == pytest.approx(3.74, abs=0.01)
    assert fit.v == pytest.approx(15.44, abs=0.01)
    # the four-digit MLE itself (p 6.2488, q 3.7446, v 15.4477)
    assert (round(fit.p, 3), round(fit.q, 3), round(fit.v, 2)) == (6.249, 3.745, 15.45)


def test_sufficient_stats_groups_identical_rows():
    # rows (x, t_x, T): (1, 2, 10), (0, 0, 10), (1, 2, 10), (0, 0, 5) with weights 1, 1, 3, 2
    (x, tx, T), w = clv.sufficient_stats([1, 0, 1, 0], [2, 0, 2, 0], [10, 10, 10, 5], weights=[1, 1, 3, 2])
    # distinct triples in sorted order: (0,0,5) <- row 4 (w 2); (0,0,10) <- row 2 (w 1);
    # (1,2,10) <- rows 1 and 3 (w 1 + 3)
    assert x.tolist() == [0, 0, 1] and tx.tolist() == [0, 0, 2] and T.tolist() == [5, 10, 10]
    assert w.tolist() == [2, 1, 4]


def test_grouped_likelihood_equals_the_per_customer_sum(cdnow):
    """Customers with one triple contribute identically: the weighted sum over the distinct
    triples is the per-customer sum (2,357 customers, fewer distinct triples)."""
    (x, tx, T), w = clv.sufficient_stats(cdnow.x, cdnow.t_x, cdnow["T"])
    assert len(w) < len(cdnow) and w.sum() == len(cdnow)
    params = np.log([0.3, 4.0, 0.8, 2.4])
    one = np.ones(len(cdnow))
    assert clv._bgnbd_negll(params, x, tx, T, w) == pytest.approx(
        clv._bgnbd_negll(params, cdnow.x.to_numpy(float), cdnow.t_x.to_numpy(), cdnow["T"].to_numpy(), one),
        rel=1e-12,
    )


@pytest.mark.parametrize("params", [[0.3, 4.0, 0.8, 2.4], [1.2, 0.5, 3.0, 0.4]])
def test_bgnbd_gradient_is_the_likelihoods_derivative(cdnow, params):
    cols = [clv._Column(cdnow.x), clv._Column(cdnow.t_x), clv._Column(cdnow["T"])]
    w = np.ones(len(cdnow))
    p0 = np.log(params)
    _, grad = clv._bgnbd_negll_grad(p0, *cols, w)
    numeric = approx_fprime(p0, lambda p: clv._bgnbd_negll_grad(p, *cols, w)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("params", [[6.0, 3.7, 15.0], [1.0, 2.0, 40.0]])
def test_gamma_gamma_gradient_is_the_likelihoods_derivative(cdnow, params):
    rep = cdnow[cdnow.x > 0]
    x, m, w = clv._Column(rep.x), rep.zbar.to_numpy(), np.ones(len(rep))
    p0 = np.log(params)
    _, grad = clv._gg_negll_grad(p0, x, m, w)
    numeric = approx_fprime(p0, lambda p: clv._gg_negll_grad(p, x, m, w)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)
