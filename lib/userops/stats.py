"""Intervals and tests, delegated to statsmodels / scipy / lifelines.

Each function takes plain counts or arrays and returns plain numbers, so the
plays can report every effect with its uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from scipy import stats as sps
from scipy.stats import chi2_contingency
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)


@dataclass(frozen=True)
class ProportionDiff:
    """Treatment minus holdout difference of two proportions."""

    rate_treatment: float
    rate_holdout: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n_treatment: int
    n_holdout: int
    level: float

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.level


def diff_proportions(
    x_treatment: int, n_treatment: int, x_holdout: int, n_holdout: int, level: float = 0.95
) -> ProportionDiff:
    """Difference of proportions (treatment - holdout), Newcombe score CI and a score test.

    NaN fields when an arm is empty.
    """
    nan = float("nan")
    if n_treatment == 0 or n_holdout == 0:
        r1 = x_treatment / n_treatment if n_treatment else nan
        r0 = x_holdout / n_holdout if n_holdout else nan
        return ProportionDiff(r1, r0, nan, nan, nan, nan, n_treatment, n_holdout, level)
    low, high = confint_proportions_2indep(
        x_treatment, n_treatment, x_holdout, n_holdout, method="newcomb", compare="diff", alpha=1 - level
    )
    test = test_proportions_2indep(
        x_treatment, n_treatment, x_holdout, n_holdout, method="score", compare="diff"
    )
    r1, r0 = x_treatment / n_treatment, x_holdout / n_holdout
    return ProportionDiff(
        r1, r0, r1 - r0, float(low), float(high), float(test.pvalue), n_treatment, n_holdout, level
    )


def proportion_ci(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson interval of one proportion (NaN when n = 0)."""
    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(x, n, alpha=1 - level, method="wilson")
    return float(low), float(high)


def mde_two_proportions(p_base: float, n_treatment: int, n_holdout: int, level=0.95, power=0.8) -> float:
    """Minimum detectable absolute difference for a two-sided test at `level` with `power`."""
    if n_treatment == 0 or n_holdout == 0 or not 0 < p_base < 1:
        return float("nan")
    z = sps.norm.ppf(1 - (1 - level) / 2) + sps.norm.ppf(power)
    return float(z * np.sqrt(p_base * (1 - p_base) * (1 / n_treatment + 1 / n_holdout)))


def km_curve(durations, observed, weights=None, label: str = "all", level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimate of the share still *without* the event by time t.

    Input: durations (days), observed (True = event seen, False = censored), optional
    integer weights (users per row). Output: a frame indexed by time with columns
    `survival`, `ci_low`, `ci_high` and the median time in `.attrs["median"]`
    (inf when the curve never drops below 0.5).
    """
    kmf = KaplanMeierFitter(alpha=1 - level)
    kmf.fit(
        np.asarray(durations, dtype=float),
        event_observed=np.asarray(observed, dtype=bool),
        weights=None if weights is None else np.asarray(weights, dtype=float),
        label=label,
    )
    out = pd.concat([kmf.survival_function_, kmf.confidence_interval_], axis=1)
    out.columns = ["survival", "ci_low", "ci_high"]
    out.index.name = "t"
    out.attrs["median"] = float(kmf.median_survival_time_)
    return out


def cramers_v(table: np.ndarray) -> tuple[float, float, float]:
    """Chi-square test of independence of a contingency table: (chi2, p-value, Cramér's V).

    Rows or columns without any count are dropped; NaNs when fewer than 2 remain.
    """
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return float("nan"), float("nan"), float("nan")
    chi2, pval, _, _ = chi2_contingency(t, correction=False)
    v = np.sqrt(chi2 / (t.sum() * (min(t.shape) - 1)))
    return float(chi2), float(pval), float(v)
