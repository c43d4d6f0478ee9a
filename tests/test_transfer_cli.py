"""End-to-end align + transfer on an 8x8 grid, and the bad inputs of both commands."""

import json
from pathlib import Path
import shutil

import pytest

from cliprl_cli.cli import main

TASKS = ["top left first", "top left second", "top right first", "top right second"]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    for task in TASKS:
        assert main(["train-base", "--task", task, "--grid-size", "8", "--seed", "0", "--quiet",
                     "--out", str(root / "base" / task.replace(" ", "-"))]) == 0
    return root


def test_align_then_transfer_end_to_end(library, tmp_path):
    align_dir = tmp_path / "align"
    assert main(["align", "--base", str(library / "base"), "--out", str(align_dir), "--epochs", "200", "-q"]) == 0
    heads = json.loads((align_dir / "heads.json").read_text())
    assert heads["kind"] == "align-heads" and heads["instructions"] == sorted(TASKS)
    assert heads["metrics"]["final_loss"] < heads["metrics"]["initial_loss"]
    assert len(heads["metrics"]["loss_curve"]) == 200
    out = tmp_path / "transfer"
    assert main(["transfer", "--target", "top left third", "--base", str(library / "base"), "--align", str(align_dir),
                 "--trials", "2", "--max-env-steps", "200000", "--out", str(out), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert {r["method"] for r in results["trials"]} == {"scratch", "language", "clip", "uniform",
                                                        "nearest-language", "nearest-clip"}
    assert len(results["trials"]) == 12
    for row in results["trials"]:
        assert row["env_steps"] <= 200000 and row["censored"] == (row["env_steps"] == 200000 and row["censored"])
        if row["method"] != "scratch":
            assert sum(row["weights"].values()) == pytest.approx(1.0)
    assert results["summary"]["language"]["n"] == 2
    assert "ratio_clip_language" in results
    assert json.loads((out / "metrics.json").read_text())["ratio_clip_language"] > 0
    assert not (out / "partial.json").exists()


def test_censored_runs_are_counted_at_the_budget(library, tmp_path):
    out = tmp_path / "t"
    assert main(["transfer", "--target", "top left third", "--base", str(library / "base"), "--methods", "scratch",
                 "--trials", "2", "--max-env-steps", "1", "--out", str(out), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert all(r["censored"] and r["env_steps"] == 1 for r in results["trials"])
    assert results["summary"]["scratch"]["censored"] == 2 and results["summary"]["scratch"]["mean"] == 1


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


def test_bad_inputs(library, tmp_path, capsys):
    base = str(library / "base")
    assert main(["align", "--base", str(tmp_path / "nope"), "--out", str(tmp_path / "a")]) == 2
    assert "base-policy directory not found" in _err(capsys)
    assert main(["transfer", "--target", "go home", "--base", base, "--out", str(tmp_path / "t")]) == 2
    assert "unknown task 'go home'" in _err(capsys)
    assert main(["transfer", "--target", "top left first", "--base", base, "--out", str(tmp_path / "t")]) == 2
    assert "among the source policies" in _err(capsys)
    assert main(["transfer", "--target", "top left third", "--base", base, "--methods", "clip",
                 "--out", str(tmp_path / "t")]) == 2
    assert "needs --align" in _err(capsys)
    # a corrupt heads file
    align_dir = tmp_path / "align"
    assert main(["align", "--base", base, "--out", str(align_dir), "--epochs", "5", "-q"]) == 0
    (align_dir / "heads.safetensors").write_bytes(b"\x00" * 10)
    assert main(["transfer", "--target", "top left third", "--base", base, "--align", str(align_dir),
                 "--out", str(tmp_path / "t")]) == 2
    assert "heads.safetensors" in _err(capsys)


def test_mismatched_architectures_name_the_odd_one(library, tmp_path, capsys):
    base = tmp_path / "base"
    shutil.copytree(library / "base", base)
    assert main(["train-base", "--task", "top left third", "--grid-size", "8", "--hidden", "16", "--quiet",
                 "--out", str(base / "odd")]) == 0
    assert main(["align", "--base", str(base), "--out", str(tmp_path / "a")]) == 2
    err = _err(capsys)
    assert "odd" in err and "architecture" in err
    one = tmp_path / "one"
    shutil.copytree(library / "base" / "top-left-first", one / "top-left-first")
    assert main(["align", "--base", str(one), "--out", str(tmp_path / "a")]) == 2
    assert "at least 2" in _err(capsys)


def _slow_transfer_cmd(library, out):
    import sys

    return [sys.executable, "-m", "cliprl_cli.cli", "transfer", "--target", "top left third", "--base",
            str(library / "base"), "--methods", "scratch,uniform", "--trials", "3", "--out", str(out),
            "--checkpoint-every", "0", "-j", "2", "-q",
            "--num-envs", "16", "--lr", "0.0001"]  # slow trials: seconds of work left when the signal comes


def _trial_steps(out):
    rows = json.loads((out / "results.json").read_text())["trials"]
    return [(r["method"], r["trial"], r["env_steps"], r["auc"]) for r in rows]


@pytest.fixture(scope="module")
def uninterrupted(library, tmp_path_factory):
    import subprocess

    out = tmp_path_factory.mktemp("uninterrupted")
    assert subprocess.run(_slow_transfer_cmd(library, out)).returncode == 0
    return _trial_steps(out)


def _pool_workers(pid: int) -> list[int]:
    """Pids of the spawned pool workers of ``pid`` (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes() and b"resource_tracker" not in
            Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.slow
@pytest.mark.parametrize("interruption", ["sigterm-parent", "worker-killed"])
def test_transfer_interrupted_then_resumed_matches_uninterrupted(library, uninterrupted, tmp_path, interruption):
    """SIGTERM to the parent exits 75 with trials checkpointed; a worker killed by the system (OOM) exits 1 with a
    one-line error. Either way no process hangs, and the rerun resumes to the uninterrupted run's numbers."""
    import os
    import signal
    import subprocess
    import time

    run = tmp_path / "run"
    proc = subprocess.Popen(_slow_transfer_cmd(library, run), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not list(run.glob("checkpoint-*.safetensors")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        if interruption == "sigterm-parent":
            proc.send_signal(signal.SIGTERM)
        else:
            os.kill(_pool_workers(proc.pid)[0], signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:  # never leave a hung run (and its workers) behind a failed test
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (75 if interruption == "sigterm-parent" else 1), stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("error: "), stderr
    assert not (run / "results.json").exists()
    assert subprocess.run(_slow_transfer_cmd(library, run)).returncode == 0
    assert _trial_steps(run) == uninterrupted
    # A SIGKILL can land between a checkpoint's tensor file and its sidecar: the rerun then finds the pair
    # inconsistent, sets it aside as *.corrupt-<time> (kept for inspection) and runs that trial afresh.
    leftovers = [p.name for p in run.glob("checkpoint-*") if ".corrupt-" not in p.name]
    assert not leftovers and not (run / "partial.json").exists()
    if interruption == "sigterm-parent":
        assert not list(run.glob("*.corrupt-*"))  # an orderly stop always leaves consistent checkpoints


# ---------------------------------------------------------------- the steps of transfer, each on its own
def test_partial_round_trip_and_a_changed_config_starts_afresh(tmp_path):
    from cliprl_cli.transfer import load_partial, write_partial

    path = tmp_path / "partial.json"
    config = {"target": "t", "methods": ("scratch", "clip"), "trials": 2}
    done = {("clip", 1): {"method": "clip", "trial": 1, "env_steps": 4096}}
    curves = {"scratch": [None, None], "clip": [None, [{"env_steps": 0, "success_rate": 0.5}]]}
    write_partial(path, config, done, curves)
    assert load_partial(path, config, ["scratch", "clip"], 2) == (done, curves)
    assert load_partial(path, {**config, "trials": 3}, ["scratch", "clip"], 3) == (
        {}, {"scratch": [None] * 3, "clip": [None] * 3})


def test_method_weights_and_flat_metrics():
    import torch

    from cliprl_cli.errors import CliprlError
    from cliprl_cli.transfer import flat_metrics, method_weights

    sims = torch.tensor([0.2, -0.1, 0.6])
    assert method_weights("scratch", sims, None) == (None, "fresh initialisation")
    assert method_weights("uniform", sims, None)[0].tolist() == pytest.approx([1 / 3] * 3)
    assert method_weights("nearest-language", sims, None)[0].tolist() == [0.0, 0.0, 1.0]
    weights, note = method_weights("language", sims, None)
    assert weights.tolist() == pytest.approx([0.25, 0.0, 0.75]) and "clamped" in note
    with pytest.raises(CliprlError, match="needs --align"):
        method_weights("clip", sims, None)
    results = {"summary": {"nearest-clip": {"mean": 10.0, "censored": 1}},
               "ratio_clip_language": {"ratio": 0.5}}
    assert flat_metrics(results) == {"nearest_clip_mean_steps": 10.0, "nearest_clip_censored": 1,
                                     "ratio_clip_language": 0.5}
