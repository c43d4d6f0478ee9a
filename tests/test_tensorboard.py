"""`--tensorboard DIR` (issue 16): the curves train-base, transfer and furl keep, as TensorBoard scalars.

The values read back from the event files are the ones of the JSON curves. Without the tensorboard package the
option fails before the run, in one line (checked by hiding the package)."""

from __future__ import annotations

import json
import sys

import pytest

from cliprl_cli.cli import main
from cliprl_cli.store.formats import CurvePoint, FurlCurve, FurlPoint, TransferCurves
from cliprl_cli.tblog import export_furl, export_transfer

tensorboard = pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install 'cliprl[tensorboard]')")


def _scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_train_base_writes_its_curve(tmp_path):
    out, logs = tmp_path / "base" / "5" / "top-left-first", tmp_path / "tb"
    assert main(["train-base", "--task", "top left first", "--grid-size", "5", "--num-envs", "64", "--out", str(out),
                 "--tensorboard", str(logs), "--quiet"]) == 0
    curve = json.loads((out / "curve.json").read_text())
    got = _scalars(logs / "train-base" / "5" / "top-left-first" / "seed0")
    assert got["success_rate"] == [(p["env_steps"], pytest.approx(p["success_rate"])) for p in curve]
    assert [s for s, _ in got["path_ratio"]] == [p["env_steps"] for p in curve if p["path_ratio"] is not None]


def test_transfer_curves_one_run_per_method_and_trial(tmp_path):
    TransferCurves({"clip": [[CurvePoint(0, 0.25), CurvePoint(512, 1.0)], None],
                    "scratch": [[CurvePoint(0, 0.0)]]}).write(tmp_path / "curves.json")
    runs = export_transfer(tmp_path / "tb", tmp_path, grid=8)
    assert [r.relative_to(tmp_path / "tb").as_posix() for r in runs] == ["transfer/8/clip/trial0",
                                                                         "transfer/8/scratch/trial0"]
    assert _scalars(runs[0])["success_rate"] == [(0, 0.25), (512, 1.0)]


def test_furl_curve_evaluation_and_training_statistics(tmp_path):
    point = FurlPoint(step=500, success_any=0.5, success_last=0.25, return_=-10.0, sparse_return=-400.0,
                      train_stats={"critic_loss": 1.5}, episodes=1, train_success_episodes=0, positive_frames=0,
                      relay_on=False, updates=400)
    FurlCurve(False, "reach-v3", "sac", 2, [point]).write(tmp_path / "curve.json")
    got = _scalars(export_furl(tmp_path / "tb", tmp_path))
    assert got["eval/success_last"] == [(500, 0.25)] and got["train/critic_loss"] == [(500, 1.5)]
    assert (tmp_path / "tb" / "furl" / "reach-v3" / "sac" / "seed2").is_dir()


@pytest.mark.parametrize("command", [["train-base", "--task", "top left first", "--grid-size", "5"],
                                     ["transfer", "--target", "top left third", "--base", "nowhere"],
                                     ["furl", "--task", "reach-v3", "--steps", "10"]])
def test_without_tensorboard_one_line_before_the_run(tmp_path, monkeypatch, capsys, command):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    out = tmp_path / "out"
    assert main([*command, "--out", str(out), "--tensorboard", str(tmp_path / "tb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --tensorboard needs the tensorboard package, which is not installed: pip install "
                   "'cliprl[tensorboard]' (or pip install tensorboard)"]
    assert not out.exists()
