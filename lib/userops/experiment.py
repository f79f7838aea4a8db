"""Randomised holdout assignment for target lists.

The arms depend only on the seed, the share and the set of (key, stratum)
pairs, never on the order of the input, so that the same list always gets the
same arms and next month's run can measure the campaign against its holdout.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def assign_arms(keys, holdout_share: float, seed: int, strata=None) -> np.ndarray:
    """Return 'treatment' / 'holdout' per key, exactly round(share * n) holdout per stratum.

    Within each stratum the units are ordered by a seeded random permutation of the sorted
    unique keys, and the first round(share * n) become holdout. Duplicated keys get the same arm.
    """
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    frame = pd.DataFrame({"key": np.asarray(keys)})
    frame["stratum"] = "all" if strata is None else np.asarray(strata, dtype=str)
    units = frame.drop_duplicates("key").sort_values(["stratum", "key"], kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    units["draw"] = rng.random(len(units))
    units["rank"] = units.groupby("stratum")["draw"].rank(method="first") - 1
    n = units.groupby("stratum")["key"].transform("size")
    units["arm"] = np.where(units["rank"] < np.round(holdout_share * n), "holdout", "treatment")
    return frame[["key"]].merge(units[["key", "arm"]], on="key", how="left")["arm"].to_numpy()
