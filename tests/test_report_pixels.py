"""The report's Figure 7 (issue 17): pixel runs under ARTIFACTS/furl-pixels are collected through formats.FurlCurve
and drawn as DrQ and FuRL side by side, labelled with the paper's figure and the random VLM."""

from pathlib import Path

from cliprl_cli.store.formats import FurlCurve, FurlPoint
from cliprl_cli.report.collect import Log, collect_furl_pixels
from cliprl_cli.report.plots import plot_figure7


def _point(step: int, success: float) -> FurlPoint:
    return FurlPoint(step=step, success_any=success, success_last=success, return_=0.0, sparse_return=-500.0,
                     train_stats={}, episodes=1, train_success_episodes=0, positive_frames=0, relay_on=False,
                     updates=step // 2)


def test_figure7_collects_pixel_curves_and_draws_drq_beside_furl(tmp_path: Path):
    root = tmp_path / "artifacts"
    for variant, seed, ys in (("sac", 0, [0.0, 0.0]), ("sac", 1, [0.0, 0.5]), ("furl", 0, [0.0, 1.0])):
        FurlCurve(vlm_random_weights=True, task="window-open-v3", variant=variant, seed=seed,
                  curve=[_point(200, ys[0]), _point(400, ys[1])], obs="pixels").write(
            root / "furl-pixels" / "window-open-v3" / variant / f"seed{seed}" / "curve.json")
    log = Log()
    runs = collect_furl_pixels(root, log)
    assert sorted((r.variant, r.seed) for r in runs) == [("furl", "seed0"), ("sac", "seed0"), ("sac", "seed1")]
    assert all(r.random_vlm for r in runs)
    plot = plot_figure7("window-open-v3", runs, tmp_path / "plots")
    assert plot is not None and plot.section == "furl"
    assert "Figure 7" in plot.caption and "RANDOM-WEIGHT VLM" in plot.caption
    assert (tmp_path / "plots" / "furl_pixels_figure7_window-open-v3.png").stat().st_size > 1000
    assert collect_furl_pixels(tmp_path / "none", Log()) == []
    assert plot_figure7("reach-v3", runs, tmp_path / "plots") is None
