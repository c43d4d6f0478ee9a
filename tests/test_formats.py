"""The typed artifact formats: every file round-trips to the same bytes, and a bad field is one clear error."""

from __future__ import annotations

import json
import math
import re

import pytest

from cliprl_cli.store.atomic import ArtifactError, to_json_bytes
from cliprl_cli.store.formats import AlignMetrics, BaseCurve, CurvePoint, ExpertRewards, FurlCurve, FurlPoint, FurlRunConfig, FurlSummary, MethodSummary, PairedRatio, TransferCurves, TransferResults, TransferTrial, finite_or_none
from cliprl_cli.store.runinfo import RUN_FILE, RunInfo, merge_run_fields, split_run_fields
from cliprl_cli.store.runinfo import with_run_fields


def _trial(method: str, trial: int, steps: int) -> TransferTrial:
    return TransferTrial(method=method, trial=trial, seed=trial, env_steps=steps, censored=False, auc=0.5,
                         wall_time_s=0.1, initial_success_rate=0.25, weights=None if method == "scratch" else
                         {"a": 0.5, "b": 0.5}, weighting_note="note")


def _results() -> TransferResults:
    summary = MethodSummary(n=2, censored=0, mean=4096.0, median=4096.0, iqm=4096.0, std=0.0,
                            ci95=(4096.0, 4096.0), auc_mean=0.5)
    return TransferResults(grid_size=8, target="top left third", goal=(0, 5), budget=10_000,
                           config={"target": "top left third", "methods": ["scratch", "clip"]},
                           similarities={"language": {"a": 0.9}, "clip": None},
                           trials=[_trial("scratch", 0, 4096), _trial("clip", 0, 4096)],
                           summary={"scratch": summary, "clip": summary}, wall_time_s=1.5,
                           ratio_clip_language=PairedRatio(1.0, (0.5, 2.0)))


def test_transfer_results_round_trip_to_the_same_bytes(tmp_path):
    res = _results()
    path = res.write(tmp_path / "results.json")
    back = TransferResults.read(path)
    # wall times are run metadata (issue 16): not in the hashed file, in run.json beside it
    assert back.wall_time_s is None and all(t.wall_time_s is None for t in back.trials)
    back.wall_time_s, res.wall_time_s = 0.0, 0.0
    for a, b in zip(back.trials, res.trials):
        a.wall_time_s = b.wall_time_s = 0.0
    assert back == res
    assert to_json_bytes(back.to_json()) == path.read_bytes()
    # the key order is the one the files have always had, less the wall time (dvc.lock hashes these bytes)
    assert list(json.loads(path.read_text())) == ["grid_size", "target", "goal", "budget", "config", "similarities",
                                                  "trials", "summary", "ratio_clip_language"]
    assert "wall_time_s" not in path.read_text()
    run = RunInfo.read(tmp_path / RUN_FILE)
    assert run.files["results.json"] == {"wall_time_s": 1.5, "trials": [{"wall_time_s": 0.1}, {"wall_time_s": 0.1}]}
    assert with_run_fields(path)["trials"][1]["wall_time_s"] == 0.1


def test_old_files_with_wall_times_still_read(tmp_path):
    doc = _results()._full_json()
    assert doc["wall_time_s"] == 1.5 and doc["trials"][0]["wall_time_s"] == 0.1  # what files held before issue 16
    back = TransferResults.from_json(doc, "old")
    assert back.wall_time_s == 1.5 and back.trials[0].wall_time_s == 0.1


def test_split_and_merge_run_fields_by_hand():
    doc = {"a": 1, "wall_s": 2.0, "curve": [{"x": 1, "wall_s": 0.5}, {"x": 2}], "timings": {"env": 1.0},
           "inner": {"env_steps_per_s": 9.0, "b": [1, 2]}}
    stable, removed = split_run_fields(doc)
    assert stable == {"a": 1, "curve": [{"x": 1}, {"x": 2}], "inner": {"b": [1, 2]}}
    assert removed == {"wall_s": 2.0, "curve": [{"wall_s": 0.5}, None], "timings": {"env": 1.0},
                       "inner": {"env_steps_per_s": 9.0}}
    assert merge_run_fields(stable, removed) == {"a": 1, "curve": [{"x": 1, "wall_s": 0.5}, {"x": 2}],
                                                 "inner": {"b": [1, 2], "env_steps_per_s": 9.0},
                                                 "wall_s": 2.0, "timings": {"env": 1.0}}
    assert split_run_fields([1, {"y": 2}]) == ([1, {"y": 2}], None)


def test_transfer_results_without_ratio_omit_the_key(tmp_path):
    res = _results()
    res.ratio_clip_language = None
    doc = res.to_json()
    assert "ratio_clip_language" not in doc
    assert TransferResults.from_json(doc, "x").ratio_clip_language is None


def test_base_curve_writes_null_path_ratio_and_keeps_field_order(tmp_path):
    curve = BaseCurve([CurvePoint(0, 0.0, None, 0.0), CurvePoint(4096, 1.0, 1.0, 0.02)])
    path = curve.write(tmp_path / "curve.json")
    assert BaseCurve.read(path) == BaseCurve([CurvePoint(0, 0.0, None), CurvePoint(4096, 1.0, 1.0)])
    assert json.loads(path.read_text())[0] == {"env_steps": 0, "success_rate": 0.0, "path_ratio": None}
    assert RunInfo.read(tmp_path / RUN_FILE).files["curve.json"] == [{"wall_s": 0.0}, {"wall_s": 0.02}]
    assert "Infinity" not in path.read_text()
    path.write_text('[{"env_steps": 0, "success_rate": 0.0, "path_ratio": Infinity, "wall_s": 0.0}]')  # old files
    assert BaseCurve.read(path).points[0].path_ratio == math.inf


def test_paired_ratio_writes_infinity_as_null_and_reads_it_back():
    ratio = PairedRatio(ratio=math.inf, ci95=(0.5, math.inf))
    doc = ratio.to_json()
    assert doc == {"ratio": None, "ci95": [0.5, None]}
    assert PairedRatio.from_json(json.loads(json.dumps(doc, allow_nan=False)), "x") == ratio
    assert PairedRatio.from_json({"ratio": 1.5, "ci95": [1.0, 2.0]}, "x") == PairedRatio(1.5, (1.0, 2.0))


def test_transfer_curves_keep_missing_trials():
    curves = TransferCurves({"scratch": [[CurvePoint(0, 0.25)], None]})
    doc = curves.to_json()
    assert doc == {"scratch": [[{"env_steps": 0, "success_rate": 0.25}], None]}
    assert TransferCurves.from_json(doc, "x") == curves


def _point(step: int) -> FurlPoint:
    return FurlPoint(step=step, success_any=0.5, success_last=0.0, return_=-10.0, sparse_return=-400.0,
                     train_stats={"critic_loss": 1.0, "actor_loss": -2.0}, episodes=3, train_success_episodes=1,
                     positive_frames=0, relay_on=True, updates=500, wall_s=3.0, env_steps_per_s=100.0)


def test_furl_curve_puts_the_training_statistics_between_evaluation_and_bookkeeping():
    doc = FurlCurve(True, "drawer-open-v3", "furl", 0, [_point(500)]).to_json()
    assert list(doc["curve"][0]) == ["step", "success_any", "success_last", "return", "sparse_return",
                                     "critic_loss", "actor_loss", "episodes", "train_success_episodes",
                                     "positive_frames", "relay_on", "updates"]  # wall_s, env_steps_per_s: run.json
    back = FurlCurve.from_json(doc, "x").curve[0]
    assert (back.wall_s, back.env_steps_per_s) == (None, None)
    back.wall_s, back.env_steps_per_s = 3.0, 100.0
    assert back == _point(500)
    assert FurlCurve(True, "t", "furl", 0, [_point(500)]).run_fields() == {
        "curve": [{"wall_s": 3.0, "env_steps_per_s": 100.0}]}


def test_furl_summary_expert_and_config_round_trip():
    summary = FurlSummary(vlm_random_weights=False, task="t", variant="sac", seed=0, steps=10, resumed_from_step=None,
                          final={"step": 10}, wall_s=1.0, env_steps_per_s=10.0, timings_s={"env": 0.1},
                          replay_bytes_per_transition=100, replay_bytes=1000, positive_frames=0,
                          cpu_tuning={"flush_denormals": True}, torch_threads=2)
    assert "expert_rewards" not in summary.to_json()
    assert FurlSummary.from_json(summary.with_run_fields(), "x") == summary  # files written before issue 16
    assert not {"wall_s", "env_steps_per_s", "timings_s", "resumed_from_step"} & set(summary.to_json())
    back = FurlSummary.from_json(summary.to_json(), "x")
    assert (back.wall_s, back.env_steps_per_s, back.timings_s, back.resumed_from_step) == (None, None, {}, None)
    expert = ExpertRewards(vlm_random_weights=True, task="t", variant="furl", seed=0,
                           instruction_embedding_model="cliprl-tiny|random", step=[1, 2], success=[False, True],
                           first_success=2, zero_shot=[0.1, 0.2], training_reward=[0.3, 0.4], aligned=[0.5, 0.6])
    doc = expert.to_json()
    assert list(doc)[-2:] == ["aligned", "training_reward"]
    assert ExpertRewards.from_json(doc, "x") == expert
    config = FurlRunConfig(vlm_random_weights=True, config={"task": "t", "instruction": None, "steps": 3},
                           instruction="Open a drawer.",
                           device_resolved="cpu", vlm=None)
    doc = config.to_json()
    assert list(doc) == ["vlm_random_weights", "task", "instruction", "steps", "device_resolved", "vlm"]
    assert doc["instruction"] == "Open a drawer."
    assert FurlRunConfig.from_json(doc, "x").to_json() == doc


def test_align_metrics_flat_file_has_no_loss_curve():
    m = AlignMetrics(0.1, 2.0, 1.0, 1.0, 0.1, 4, loss_curve=[2.0, 0.1])
    assert "loss_curve" not in m.to_json()
    assert AlignMetrics.from_json(m.to_json(with_curve=True), "x") == m


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("budget"), "missing field 'budget'"),
    (lambda d: d.update(grid_size="8"), "field 'grid_size' should be int, got str"),
    (lambda d: d["summary"]["clip"].update(ci95=[1.0]), "field 'ci95' should be a pair of numbers"),
    (lambda d: d["trials"][0].update(env_steps=True), "field 'env_steps' should be int, got bool"),
    (lambda d: d.update(trials={}), "field 'trials' should be list, got dict"),
])
def test_a_bad_field_is_one_line_naming_file_and_field(tmp_path, mutate, message):
    doc = _results().to_json()
    mutate(doc)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ArtifactError) as err:
        TransferResults.read(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_files_are_artifact_errors(tmp_path):
    bad = tmp_path / "curve.json"
    bad.write_bytes(b"\xff\xfe not json")
    with pytest.raises(ArtifactError, match="unreadable JSON"):
        BaseCurve.read(bad)
    with pytest.raises(ArtifactError, match="not found"):
        BaseCurve.read(tmp_path / "missing.json")


@pytest.mark.parametrize("value, expected", [(1, 1.0), (0.5, 0.5), (math.inf, None), (math.nan, None),
                                             (True, None), ("1", None), (None, None)])
def test_finite_or_none(value, expected):
    assert finite_or_none(value) == expected


def test_align_metrics_flat_file_round_trips(tmp_path):
    m = AlignMetrics(0.1, 2.0, 1.0, 0.5, 0.1, 4)
    path = m.write(tmp_path / "metrics.json")
    assert AlignMetrics.read(path) == m
    assert to_json_bytes(AlignMetrics.read(path).to_json()) == path.read_bytes()


def test_furl_summary_final_is_a_point_or_none():
    summary = FurlSummary(vlm_random_weights=False, task="t", variant="sac", seed=0, steps=500, resumed_from_step=None,
                          final=_point(500).to_json(), wall_s=1.0, env_steps_per_s=10.0, timings_s={},
                          replay_bytes_per_transition=100, replay_bytes=1000, positive_frames=0, cpu_tuning={},
                          torch_threads=1)
    assert summary.final_point() == _point(500)
    summary.final = {}  # a run that never evaluated
    assert summary.final_point() is None
    summary.final = {"step": 500}
    with pytest.raises(ArtifactError, match=r"s\.json: final: missing field 'success_any'"):
        summary.final_point("s.json")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(goal=[0]), "field 'goal' should be a [row, col] pair"),
    (lambda d: d.update(goal=[0, "5"]), "field 'goal'[1] should be int, got str"),
    (lambda d: d["trials"][1]["weights"].update(a="x"), "weight of 'a' should be a number, got str"),
])
def test_a_bad_element_is_an_artifact_error_too(mutate, message):
    doc = _results().to_json()
    mutate(doc)
    with pytest.raises(ArtifactError) as err:
        TransferResults.from_json(doc, "results.json")
    assert message in str(err.value)


def test_expert_reward_series_hold_numbers():
    expert = ExpertRewards(vlm_random_weights=False, task="t", variant="furl", seed=0,
                           instruction_embedding_model="m|w", step=[1], success=[True], first_success=1,
                           zero_shot=[0.1], training_reward=[0.2], aligned=[0.3])
    for key, value, message in (("zero_shot", [None], "field 'zero_shot'[0] should be int or float, got NoneType"),
                                ("aligned", [True], "field 'aligned'[0] should be int or float, got bool"),
                                ("success", [1], "field 'success'[0] should be bool, got int"),
                                ("step", [1.5], "field 'step'[0] should be int, got float")):
        doc = {**expert.to_json(), key: value}
        with pytest.raises(ArtifactError, match=re.escape(message)):
            ExpertRewards.from_json(doc, "e.json")
