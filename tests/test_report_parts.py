"""The report package's parts on their own: readers validate once, recomputed summaries use stats.py, each figure
function draws its one PNG or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliprl_cli.report.collect import (CurvePoint, Expected, FurlPoint, Log, Malformed, TrialRecord, collect,
                                       read_furl_curve, read_furl_expert, read_transfer_results, summarise_trials)
from cliprl_cli.report.plots import (plot_align_loss, plot_base_curves, plot_expert_reward, plot_finetune_curves,
                                     plot_furl_success, plot_transfer_steps)
from cliprl_cli.stats import summarize

from test_report import make_artifacts


def _w(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def test_transfer_reader_validates_each_field_once(tmp_path):
    path = _w(tmp_path / "results.json", {
        "budget": 5000, "trials": [{"method": "clip", "env_steps": 100, "censored": 0}, "junk", {"no": "method"}],
        "summary": {"clip": {"n": 1, "censored": 0, "mean": "NaN?", "ci95": [1, 2, 3]},
                    "language": {"n": True, "mean": 2.0, "ci95": [1.0, None]}, "empty": {}},
        "ratio_clip_language": {"ratio": float("nan"), "ci95": [0.5, 1.0]}})
    res = read_transfer_results(path)
    assert res.budget == 5000.0
    assert res.trials == [TrialRecord("clip", 100.0, False)]
    assert res.summary["clip"].mean is None and res.summary["clip"].ci95 is None  # not a number; not a pair
    assert res.summary["language"].n is None and res.summary["language"].ci95 == (1.0, None)
    assert "empty" not in res.summary
    assert res.ratio is None  # a NaN ratio is no ratio


def test_readers_reject_unusable_files(tmp_path):
    with pytest.raises(Malformed, match="is not a JSON object"):
        read_transfer_results(_w(tmp_path / "a.json", [1, 2]))
    (tmp_path / "b.json").write_text("{oops")
    with pytest.raises(Malformed, match=r"is unreadable \(JSONDecodeError\)"):
        read_transfer_results(tmp_path / "b.json")
    # a FuRL curve that is not a list of points has no points (the report lists it as such)
    assert read_furl_curve(_w(tmp_path / "c.json", {"curve": "garbage"})).points == []
    bare = read_furl_curve(_w(tmp_path / "d.json", [{"step": 5, "success_last": 1, "success_any": True}]))
    assert bare.points == [FurlPoint(5.0, 1.0, None)] and bare.random_vlm is False
    expert = read_furl_expert(_w(tmp_path / "e.json", {"zero_shot": [0.1, "x", 0.3], "vlm_random_weights": 1}))
    assert expert.step == [1, 2, 3] and expert.zero_shot == [0.1, None, 0.3] and expert.aligned is None
    assert expert.random_vlm is True


def test_log_names_the_file_and_stage(tmp_path):
    log = Log()
    assert log.read(read_transfer_results, tmp_path / "none.json", "transfer results", "transfer@5") is None
    assert log.read(read_transfer_results, tmp_path / "none.json", "x", required=False) is None
    assert log.read(read_transfer_results, _w(tmp_path / "l.json", []), "transfer results", "transfer@5") is None
    assert log.missing == [f"transfer results: {tmp_path / 'none.json'} not found (stage transfer@5)",
                           f"transfer results: {tmp_path / 'l.json'} is not a JSON object (stage transfer@5)"]


def test_recomputed_summary_is_stats_summarize():
    trials = [TrialRecord("clip", 100.0, False), TrialRecord("clip", 300.0, False),
              TrialRecord("clip", 500.0, True), TrialRecord("clip", None, False)]
    s = summarise_trials(trials)
    ref = summarize([100.0, 300.0, 500.0], [False, False, True])
    assert s.n == 4 and s.censored == 1  # the trial without a step count still counts as a trial
    assert (s.mean, s.median, s.iqm, list(s.ci95)) == (ref["mean"], ref["median"], ref["iqm"], ref["ci95"])
    empty = summarise_trials([TrialRecord("clip", None, False)])
    assert empty.n == 1 and empty.mean is None and empty.ci95 is None


def test_each_figure_function_draws_one_png_or_nothing(tmp_path):
    c = collect(make_artifacts(tmp_path / "artifacts"), Expected())
    out = tmp_path / "plots"
    out.mkdir()
    drawn = [plot_transfer_steps(c.transfer, out), plot_finetune_curves(5, c.transfer.curves[5], out),
             plot_base_curves(c.base, out), plot_align_loss(c.align, out),
             plot_furl_success("reach-v3", c.furl.runs, out)]
    drawn += [plot_expert_reward(r, out) for r in c.furl.runs]
    files = sorted(p.file for p in drawn if p is not None)
    assert files == sorted(["plots/transfer_steps.png", "plots/finetune_curves_5.png", "plots/base_curves.png",
                            "plots/align_loss.png", "plots/furl_success_reach-v3.png",
                            "plots/expert_reward_reach-v3_furl_seed0.png",
                            "plots/expert_reward_reach-v3_furl_seed1.png"])
    assert sorted(f"plots/{p.name}" for p in out.iterdir()) == files
    # no points: no figure
    assert plot_finetune_curves(5, {"clip": [[CurvePoint(None, 1.0)], []]}, out) is None
    assert plot_furl_success("push-v3", c.furl.runs, out) is None
