"""Mean, median and interquartile mean of per-trial steps, each with its percentile-bootstrap 95% interval.

Steps to convergence are heavy-tailed (a few trials run to the budget), so the mean alone is a fragile estimate:
the median and the IQM (Agarwal et al. 2021) are printed beside it. The intervals are computed here, in the report,
from the per-trial steps that ``results.json`` already holds, so no transfer stage has to be rerun for them.
Censored trials enter at the budget (they are in the per-trial steps as the budget), never dropped.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..stats import bootstrap_ci, iqm

LOCATIONS = ("mean", "median", "iqm")


def _median(x: np.ndarray) -> float:
    return float(np.median(x))


def location_intervals(values: Sequence[float], *, seed: int = 0) -> dict[str, float | list[float] | None]:
    """``{"mean", "mean_ci95", "median", "median_ci95", "iqm", "iqm_ci95"}`` of ``values``; each interval is a
    percentile bootstrap over the trials with the same resamples for all three (one ``seed``); None for a
    statistic of no values. Intervals of fewer than two values are the point itself (a resample of one value)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return {key: None for loc in LOCATIONS for key in (loc, f"{loc}_ci95")}
    out: dict[str, float | list[float] | None] = {}
    for loc, statistic in (("mean", np.mean), ("median", _median), ("iqm", iqm)):
        out[loc] = float(statistic(x))
        out[f"{loc}_ci95"] = list(bootstrap_ci(x, statistic, seed=seed))
    return out
