"""cliprl_cli.stats against numbers worked out by hand: IQM, percentile bootstrap, summaries with censored trials."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cliprl_cli.stats import bootstrap_ci, iqm, paired_ratio, summarize


def test_iqm_trims_a_quarter_from_each_end():
    assert iqm([5.0, 1.0, 3.0]) == 3.0  # n < 4: nothing trimmed, plain mean (5 + 1 + 3) / 3
    assert iqm([1, 2, 3, 4]) == 2.5  # floor(4/4) = 1 dropped at each end: mean of 2, 3
    assert iqm([100, 1, 2, 3, 4]) == 3.0  # n = 5 drops 1 and 100: mean of 2, 3, 4
    assert iqm([1, 2, 3, 4, 5, 6, 7, 1000]) == 4.5  # drops 1, 2 and 7, 1000: mean of 3, 4, 5, 6


def test_bootstrap_of_a_constant_sample_is_that_constant():
    assert bootstrap_ci([7.0, 7.0, 7.0, 7.0]) == (7.0, 7.0)
    assert bootstrap_ci([7.0], statistic=np.median) == (7.0, 7.0)


def test_bootstrap_of_two_values_spans_them():
    # Resampling [0, 10] twice gives means 0, 5, 10 with probabilities 1/4, 1/2, 1/4; with 10,000 resamples the
    # 2.5% and 97.5% quantiles fall inside the 0 and 10 masses (about 2,500 draws each).
    assert bootstrap_ci([0.0, 10.0]) == (0.0, 10.0)
    # A 40% interval (quantiles 0.3 and 0.7) lies inside the middle mass: both ends are 5.
    assert bootstrap_ci([0.0, 10.0], level=0.4) == (5.0, 5.0)


def test_bootstrap_is_seeded_and_empty_gives_nan():
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    lo, hi = bootstrap_ci(x)
    assert min(x) <= lo <= np.mean(x) <= hi <= max(x)
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_summarize_counts_censored_trials_at_the_budget():
    # Two converged trials (100, 200 steps) and one censored at its 500-step budget: the censored one stays in.
    s = summarize([100.0, 200.0, 500.0], [False, False, True])
    assert s["n"] == 3 and s["censored"] == 1
    assert s["mean"] == pytest.approx(800 / 3)  # not 150, the mean without the censored run
    assert s["median"] == 200.0
    assert s["iqm"] == pytest.approx(800 / 3)  # n < 4: nothing trimmed
    # sample std (ddof 1): deviations -500/3, -200/3, 700/3; squares sum to 780000/9; / 2 -> 130000/3
    assert s["std"] == pytest.approx(math.sqrt(130000 / 3))
    lo, hi = s["ci95"]
    assert 100.0 <= lo <= s["mean"] <= hi <= 500.0
    assert list(s) == ["n", "censored", "mean", "median", "iqm", "std", "ci95"]


def test_summarize_single_trial_has_zero_std():
    s = summarize([42.0], [True])
    assert s["std"] == 0.0 and s["ci95"] == [42.0, 42.0] and s["censored"] == 1


def test_paired_ratio_by_hand():
    r = paired_ratio([1.0, 3.0], [2.0, 2.0])  # means 2 / 2
    assert r["ratio"] == 1.0
    # Paired resamples of the numerator give means 1, 2, 3 over a constant denominator of 2: ratios 0.5, 1, 1.5.
    assert r["ci95"] == [0.5, 1.5]
    with np.errstate(invalid="ignore"):  # every resampled ratio is inf: the quantiles interpolate inf - inf
        assert paired_ratio([1.0], [0.0])["ratio"] == float("inf")
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])


def test_paired_ratio_with_a_denominator_of_zero_steps_is_infinite_not_nan():
    # language converged at step 0 in most trials (its initial policy already met the rule): resamples of only
    # those trials have a zero denominator, and a quantile between two of them used to interpolate inf - inf = NaN
    out = paired_ratio([512.0, 1024.0, 512.0], [0.0, 0.0, 512.0])
    assert out["ratio"] == pytest.approx(2048.0 / 512.0)
    lo, hi = out["ci95"]
    assert not math.isnan(lo) and not math.isnan(hi)
    assert hi == math.inf and lo <= hi
