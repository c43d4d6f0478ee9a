"""Summary statistics for trials: mean, median, interquartile mean and percentile-bootstrap 95% intervals.

Censored trials (the budget ran out) enter every statistic at the budget: they are never dropped, so a
method that often fails cannot look better by losing its failures.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (Agarwal et al. 2021), trimming 25% from each end.

    With n values, floor(n/4) are dropped at each end (n < 4 drops none).
    """
    x = np.sort(np.asarray(values, dtype=float))
    k = len(x) // 4
    return float(x[k:len(x) - k].mean())


def bootstrap_ci(values: Sequence[float], statistic: Callable[[np.ndarray], float] = np.mean, *,
                 resamples: int = 10_000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resampled trials."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    stats = np.array([statistic(row) for row in x[idx]]) if statistic is not np.mean else x[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def summarize(values: Sequence[float], censored: Sequence[bool], *, seed: int = 0) -> dict[str, object]:
    x = np.asarray(values, dtype=float)
    lo, hi = bootstrap_ci(x, seed=seed)
    return {"n": int(len(x)), "censored": int(np.sum(censored)), "mean": float(x.mean()),
            "median": float(np.median(x)), "iqm": iqm(x), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "ci95": [lo, hi]}


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float], *, resamples: int = 10_000,
                 seed: int = 0) -> dict[str, object]:
    """Ratio of means ``mean(num) / mean(den)`` with a paired bootstrap interval (trials resampled jointly).

    Trial k of both methods shares the fine-tuning seed, so resampling pairs keeps that pairing.
    """
    a = np.asarray(numerator, dtype=float)
    b = np.asarray(denominator, dtype=float)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError("paired_ratio needs two equally long, non-empty samples")
    ratio = float(a.mean() / b.mean()) if b.mean() > 0 else float("inf")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(resamples, len(a)))
    den = b[idx].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(den > 0, a[idx].mean(axis=1) / den, np.inf)
        # A quantile that falls between two infinite resamples interpolates inf - inf = NaN: it is infinite.
        bounds = [float(np.quantile(ratios, q)) for q in (0.025, 0.975)]
    return {"ratio": ratio, "ci95": [math.inf if math.isnan(v) else v for v in bounds]}
