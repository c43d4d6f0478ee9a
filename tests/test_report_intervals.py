"""Mean, median and IQM with bootstrap intervals, from per-trial steps (the report's transfer tables)."""

from __future__ import annotations

from cliprl_cli.report.intervals import location_intervals


def test_points_are_the_three_statistics_worked_by_hand():
    out = location_intervals([1, 2, 3, 4, 100])  # a heavy tail: one trial at the budget
    assert (out["mean"], out["median"], out["iqm"]) == (22.0, 3.0, 3.0)  # IQM of 5 drops one each end: [2, 3, 4]
    for loc in ("mean", "median", "iqm"):
        lo, hi = out[f"{loc}_ci95"]
        assert lo <= out[loc] <= hi
    # five trials: a resample draws any one value three times or more in 5.8% of cases (> 2.5% each side), and
    # that value is its median, so the median's interval spans the extremes, the tail included
    assert out["median_ci95"] == [1.0, 100.0]


def test_one_value_or_equal_values_give_a_point_interval_and_none_gives_none():
    assert location_intervals([7.0])["median_ci95"] == [7.0, 7.0]
    assert location_intervals([5, 5, 5, 5])["iqm_ci95"] == [5.0, 5.0]
    assert location_intervals([]) == {k: None for k in ("mean", "mean_ci95", "median", "median_ci95", "iqm",
                                                        "iqm_ci95")}


def test_two_values_span_both():
    out = location_intervals([200_000, 1_000_000])
    assert out["median_ci95"] == [200_000.0, 1_000_000.0] and out["median"] == 600_000.0
