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
    assert main(["align", "--base", str(base), "--out", str(tmp_path / "a"),
                 "--sources", ",".join([*TASKS, "top left third"])]) == 2
    err = _err(capsys)
    assert "odd" in err and "architecture" in err
    one = tmp_path / "one"
    shutil.copytree(library / "base" / "top-left-first", one / "top-left-first")
    assert main(["align", "--base", str(one), "--out", str(tmp_path / "a"), "--sources", "top left first"]) == 2
    assert "at least 2" in _err(capsys)
    assert main(["align", "--base", str(one), "--out", str(tmp_path / "a")]) == 2  # the suite's base_tasks
    assert "no base policy for source(s)" in _err(capsys)


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
    from cliprl_cli.clip_rl.transfer import load_partial, write_partial

    path = tmp_path / "partial.json"
    config = {"target": "t", "methods": ("scratch", "clip"), "trials": 2}
    done = {("clip", 1): {"method": "clip", "trial": 1, "env_steps": 4096, "steps_to_success": 4096,
                          "success_censored": False}}
    curves = {"scratch": [None, None], "clip": [None, [{"env_steps": 0, "success_rate": 0.5}]]}
    write_partial(path, config, done, curves)
    assert load_partial(path, config, ["scratch", "clip"], 2) == (done, curves)
    # a trial written before the second criterion was recorded is run again rather than summarised without it
    write_partial(path, config, {("clip", 1): {"method": "clip", "trial": 1, "env_steps": 4096}}, curves)
    assert load_partial(path, config, ["scratch", "clip"], 2)[0] == {}
    assert load_partial(path, {**config, "trials": 3}, ["scratch", "clip"], 3) == (
        {}, {"scratch": [None] * 3, "clip": [None] * 3})


def test_method_weights_and_flat_metrics():
    import torch

    from cliprl_cli.errors import CliprlError
    from cliprl_cli.clip_rl.transfer import flat_metrics, method_weights

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


# ------------------------------------------------------------------------------------------------ issue 13: suites
def test_train_base_all_trains_every_base_task_into_its_slug(library, tmp_path):
    out = tmp_path / "all"
    assert main(["train-base", "--all", "--grid-size", "8", "--seed", "0", "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(t.replace(" ", "-") for t in TASKS)
    for task in TASKS:  # the same bytes as one `train-base --task` per task
        slug = task.replace(" ", "-")
        assert ((out / slug / "policy.safetensors").read_bytes()
                == (library / "base" / slug / "policy.safetensors").read_bytes())


def test_train_base_needs_exactly_one_of_task_and_all(tmp_path, capsys):
    assert main(["train-base", "--out", str(tmp_path / "o")]) == 2
    assert "exactly one of --task" in _err(capsys)
    assert main(["train-base", "--all", "--task", "top left first", "--out", str(tmp_path / "o")]) == 2
    suite = tmp_path / "s.yaml"
    suite.write_text("tasks:\n  a: [0, 0]\n  b: [0, -1]\n")
    assert main(["train-base", "--all", "--tasks", str(suite), "--out", str(tmp_path / "o")]) == 2
    assert "lists no base_tasks" in _err(capsys)


def test_sources_select_the_library_and_are_recorded(library, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(library / "base", base)
    # a stale folder: a policy for a task that is not among the suite's base_tasks is not picked up by default
    assert main(["train-base", "--task", "top left third", "--grid-size", "8", "--out", str(base / "stale"),
                 "-q"]) == 0
    assert main(["align", "--base", str(base), "--out", str(tmp_path / "a4"), "--epochs", "5", "-q"]) == 0
    assert json.loads((tmp_path / "a4" / "heads.json").read_text())["instructions"] == sorted(TASKS)
    two = "top right first,top left first"
    assert main(["align", "--base", str(base), "--out", str(tmp_path / "a2"), "--epochs", "5", "--sources", two,
                 "-q"]) == 0
    assert json.loads((tmp_path / "a2" / "heads.json").read_text())["instructions"] == sorted(two.split(","))
    out = tmp_path / "t"
    assert main(["transfer", "--target", "top left third", "--base", str(base), "--align", str(tmp_path / "a2"),
                 "--sources", two, "--methods", "uniform,clip", "--trials", "1", "--out", str(out), "-q"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["sources"] == sorted(two.split(","))
    assert set(results["trials"][0]["weights"]) == set(two.split(","))
    assert results["step_resolution"] == 512 and results["auc_horizon"] == 100_000
    assert all(r["env_steps"] % 512 == 0 and 0 <= r["auc"] <= 1 for r in results["trials"])
    # heads trained on another library are refused
    assert main(["transfer", "--target", "top left third", "--base", str(base), "--align", str(tmp_path / "a4"),
                 "--sources", two, "--methods", "clip", "--trials", "1", "--out", str(tmp_path / "x"), "-q"]) == 2


def test_a_source_with_no_policy_fails_with_one_line(library, tmp_path, capsys):
    assert main(["align", "--base", str(library / "base"), "--out", str(tmp_path / "a"),
                 "--sources", "top left first,bottom row"]) == 2
    err = _err(capsys)
    assert "no base policy for source(s) ['bottom row']" in err and "top left second" in err


def test_transfer_refuses_a_suite_whose_goals_moved(library, tmp_path, capsys):
    moved = tmp_path / "moved.yaml"  # the same instructions, every source goal one row down
    moved.write_text("name: moved\ntasks:\n  top left first: [1, 0]\n  top left second: [1, 1]\n"
                     "  top right first: [1, -1]\n  top right second: [1, -2]\n  top left third: [0, -3]\n"
                     "base_tasks: [top left first, top left second, top right first, top right second]\n")
    assert main(["transfer", "--target", "top left third", "--base", str(library / "base"), "--tasks", str(moved),
                 "--methods", "uniform", "--trials", "1", "--out", str(tmp_path / "t")]) == 2
    err = _err(capsys)
    assert "was trained for goal [0, 0]" in err and "puts it at [1, 0]" in err and "moved" in err
    assert not (tmp_path / "t" / "results.json").exists()


def test_unknown_task_names_the_suite_and_the_option(library, tmp_path, capsys):
    assert main(["transfer", "--target", "go home", "--base", str(library / "base"), "--methods", "uniform",
                 "--out", str(tmp_path / "t")]) == 2
    err = _err(capsys)
    assert "unknown task 'go home' in suite 'clip-rl-paper' (read from <default gridworld_tasks.yaml>)" in err
    assert "--tasks FILE selects another suite" in err


# ------------------------------------------------------------------------------- confidence of the start, criteria
def test_steps_to_success_is_the_first_check_at_success_one_by_hand():
    from cliprl_cli.clip_rl.transfer import steps_to_success

    curve = [{"env_steps": 0, "success_rate": 0.5}, {"env_steps": 512, "success_rate": 1.0},
             {"env_steps": 1024, "success_rate": 0.9}, {"env_steps": 1536, "success_rate": 1.0}]
    assert steps_to_success(curve, 10_000) == {"steps_to_success": 512, "success_censored": False}
    assert steps_to_success(curve[:1], 10_000) == {"steps_to_success": 10_000, "success_censored": True}


def test_entropy_matched_starts_are_recorded_per_trial_and_keep_greedy_success(library, tmp_path):
    base = ["transfer", "--target", "top left third", "--base", str(library / "base"),
            "--methods", "scratch,nearest-language,uniform", "--trials", "1", "--max-env-steps", "20000", "-q"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--start-entropy", "1.2", "--out", str(tmp_path / "matched")]) == 0
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())
    matched = json.loads((tmp_path / "matched" / "results.json").read_text())
    assert "start_entropy" not in plain["config"] and matched["config"]["start_entropy"] == 1.2
    rows = {r["method"]: r for r in matched["trials"]}
    assert "start_temperature" not in rows["scratch"]  # a fresh initialisation is left as it is
    nearest = rows["nearest-language"]
    # a copied base policy is peaked: matching divides its logits by T > 1 and lands on the floor
    assert nearest["start_temperature"] > 1.0 and nearest["start_entropy"] == pytest.approx(1.2, abs=1e-4)
    assert rows["uniform"]["start_entropy"] >= 1.2 - 1e-4
    # the greedy action is unchanged, so the initial success rate is too
    for row in plain["trials"]:
        assert rows[row["method"]]["initial_success_rate"] == row["initial_success_rate"]
    # both criteria are summarised for every method
    assert set(matched["success_summary"]) == set(matched["summary"])
    for row in matched["trials"]:
        assert row["steps_to_success"] <= row["env_steps"] or row["success_censored"]


def test_an_entropy_floor_at_or_above_uniform_is_one_line(library, tmp_path, capsys):
    assert main(["transfer", "--target", "top left third", "--base", str(library / "base"), "--methods", "uniform",
                 "--trials", "1", "--start-entropy", "1.5", "--out", str(tmp_path / "t"), "-q"]) == 2
    assert "must be below ln 4 = 1.3863 nats" in _err(capsys)


def test_curves_hold_path_ratio_and_entropy_per_check(library, tmp_path):
    out = tmp_path / "t"
    assert main(["transfer", "--target", "top left third", "--base", str(library / "base"), "--methods",
                 "scratch,nearest-language", "--trials", "1", "--max-env-steps", "4096", "--out", str(out), "-q"]) == 0
    curves = json.loads((out / "curves.json").read_text())
    scratch, nearest = curves["scratch"][0], curves["nearest-language"][0]
    # a fresh policy starts near uniform over the 4 actions (ln 4 = 1.386); a trained base policy, copied, is not
    assert scratch[0]["entropy"] == pytest.approx(1.386, abs=0.01)
    assert nearest[0]["entropy"] < scratch[0]["entropy"] - 0.1
    assert all("entropy" in p for p in scratch + nearest)
    assert any("path_ratio" in p for p in nearest)  # present once a start reaches the goal


def test_ratio_line_prints_an_infinite_ratio_stored_as_null():
    from cliprl_cli.commands.transfer import ratio_text
    # language's mean 0 steps makes the ratio infinite, which results.json stores as null
    assert ratio_text({"ratio": None, "ci95": [None, None]}) == "clip/language ratio inf (95% CI inf-inf)"
    assert ratio_text({"ratio": 0.5151515, "ci95": [0.3636, 0.75]}) == "clip/language ratio 0.515 (95% CI 0.364-0.750)"
