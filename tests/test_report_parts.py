"""The report package's parts on their own: every file is read by its one formats reader and a bad one is listed
with that reader's message, recomputed summaries use stats.py, each figure function draws its one PNG or nothing."""

from __future__ import annotations

import json
from pathlib import Path

from cliprl_cli.store.formats import ExpertRewards, FurlCurve, TransferResults, TransferTrial
from cliprl_cli.report.collect import Expected, Log, collect, summarise_trials
from cliprl_cli.report.plots import (plot_align_loss, plot_base_curves, plot_expert_reward, plot_finetune_curves,
                                     plot_furl_success, plot_transfer_steps)
from cliprl_cli.stats import summarize

from test_report import make_artifacts


def _w(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _rewrite(path: Path, edit) -> None:
    """A file as its writer wrote it, with one field broken by ``edit``."""
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def test_a_bad_field_is_listed_with_the_readers_message_and_the_rest_renders(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    results = art / "transfer" / "5" / "results.json"
    _rewrite(results, lambda d: d["summary"]["clip"].update(ci95=[1, 2, 3]))
    expert = art / "furl" / "reach-v3" / "furl" / "seed0" / "expert_rewards.json"
    _rewrite(expert, lambda d: d["zero_shot"].__setitem__(1, "x"))
    c = collect(art, Expected())
    assert c.log.missing == [
        f"transfer results: {results} is unreadable (summary.clip: field 'ci95' should be a pair of numbers, "
        "got [1, 2, 3]) (stage transfer@5)",
        f"FuRL expert rewards: {expert} is unreadable (field 'zero_shot'[1] should be int or float, got str) "
        "(stage furl@reach-v3-furl-0)"]
    assert c.transfer.rows == []  # the unreadable file is skipped as a whole ...
    assert [r.task for r in c.base.rows] == ["top left first", "top right first"]  # ... the rest is still read
    run = next(r for r in c.furl.runs if r.variant == "furl" and r.seed == "seed0")
    assert run.expert is None and run.final is not None and run.random_vlm


def test_only_the_writers_shapes_are_read(tmp_path):
    # a FuRL curve has always been an object with a "curve" list (no writer ever wrote a bare list)
    log = Log()
    bare = _w(tmp_path / "curve.json", [{"step": 5, "success_last": 1, "success_any": 1}])
    assert log.read(FurlCurve.read, bare, "FuRL curve", "furl@t-v-0") is None
    assert log.missing == [f"FuRL curve: {bare} is unreadable (expected a JSON object, found list) (stage furl@t-v-0)"]
    (tmp_path / "b.json").write_text("{oops")
    assert log.read(TransferResults.read, tmp_path / "b.json", "transfer results") is None
    assert log.missing[-1].startswith(f"transfer results: {tmp_path / 'b.json'} is unreadable (not valid JSON "
                                      "(JSONDecodeError")
    # an expert trajectory without its steps is not guessed at
    assert log.read(ExpertRewards.read, _w(tmp_path / "e.json", {"zero_shot": [0.1]}), "expert") is None
    assert "missing field" in log.missing[-1]


def test_log_names_the_file_and_stage(tmp_path):
    log = Log()
    assert log.read(TransferResults.read, tmp_path / "none.json", "transfer results", "transfer@5") is None
    assert log.read(TransferResults.read, tmp_path / "none.json", "x", required=False) is None
    assert log.read(TransferResults.read, _w(tmp_path / "l.json", []), "transfer results", "transfer@5") is None
    assert log.missing == [f"transfer results: {tmp_path / 'none.json'} not found (stage transfer@5)",
                           f"transfer results: {tmp_path / 'l.json'} is unreadable (expected a JSON object, found "
                           "list) (stage transfer@5)"]


def _trial(steps: int, censored: bool, auc: float) -> TransferTrial:
    return TransferTrial(method="clip", trial=0, seed=0, env_steps=steps, censored=censored, auc=auc,
                         wall_time_s=0.1, initial_success_rate=0.0, weights={"a": 1.0}, weighting_note="normalized")


def test_recomputed_summary_is_stats_summarize():
    s = summarise_trials([_trial(100, False, 0.5), _trial(300, False, 0.25), _trial(500, True, 0.0)])
    ref = summarize([100.0, 300.0, 500.0], [False, False, True])
    assert s.n == 3 and s.censored == 1
    assert (s.mean, s.median, s.iqm, s.std, list(s.ci95)) == (ref["mean"], ref["median"], ref["iqm"], ref["std"],
                                                               ref["ci95"])
    assert s.auc_mean == 0.25


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
    assert plot_finetune_curves(5, {"clip": [[], []]}, out) is None
    assert plot_furl_success("push-v3", c.furl.runs, out) is None


def test_a_transfer_row_counts_plateaued_runs_apart_from_failures():
    from cliprl_cli.report.collect import _transfer_row
    from cliprl_cli.store.formats import MethodSummary, TransferTrial

    def trial(k, steps, censored, reach, reach_censored):
        return TransferTrial(method="language", trial=k, seed=k, env_steps=steps, censored=censored, auc=0.5,
                             wall_time_s=None, initial_success_rate=0.1, weights=None, weighting_note="",
                             steps_to_success=reach, success_censored=reach_censored)

    trials = [trial(0, 1000, True, 400, False),   # success 1.0 at 400 steps, never the path rule: plateaued
              trial(1, 1000, True, 1000, True),   # never succeeded from every start
              trial(2, 600, False, 512, False)]   # converged
    s = MethodSummary(n=3, censored=2, mean=866.7, median=1000, iqm=866.7, std=0, ci95=(600, 1000), auc_mean=0.5)
    success = MethodSummary(n=3, censored=1, mean=637.3, median=512, iqm=512, std=0, ci95=(400, 1000), auc_mean=0.5)
    row = _transfer_row(8, "language", s, 1000, trials, success)
    assert (row.censored, row.plateaued, row.success_mean) == (2, 1, 637.3)
    # median and IQM intervals from the per-trial steps [1000, 1000, 600]: a resample's median is 600 when it
    # draws the 600 at least twice (7/27 of resamples), else 1000; the IQM of three is their mean, 600 only when
    # all three are the 600 (1/27 > 2.5%), 1000 when none is (8/27)
    assert (row.median_ci95, row.iqm_ci95, row.success_ci95) == ((600, 1000), (600, 1000), (400, 1000))
    # results written before the second criterion existed: no count, not zero
    old = [TransferTrial(**{**t.__dict__, "steps_to_success": None, "success_censored": None}) for t in trials]
    assert _transfer_row(8, "language", s, 1000, old, None).plateaued is None
