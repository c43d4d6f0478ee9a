"""`cliprl furl` preemption: SIGTERM at a random step, rerun, the same agent bytes; a corrupt checkpoint is set aside.

Each test runs the CLI in subprocesses (a real signal, a real exit code 75), on the CPU with one torch thread.
The sac run crosses an episode boundary (Meta-World episodes are 500 steps), so its kill can land in the first
episode (the resume replays up to 499 actions) or in the second (after a reset); the furl run has every moving
part (embeddings in flight, heads, alignment store, relay agent). The kill step is random and printed (-s);
FURL_RESUME_TARGET=STEP pins it for the sac test.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from cliprl_cli.store.runinfo import with_run_fields

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMALL = ["--profile", "cpu-small", "--task", "drawer-open-v3", "--eval-episodes", "1",
         "--batch-size", "32", "--threads", "1", "--device", "cpu", "--quiet"]


def _cmd(out, *args):
    return [sys.executable, "-m", "cliprl_cli.cli", "furl", "--out", str(out), *SMALL, *args]


def _checkpoint_step(out):
    try:
        return json.loads((out / "checkpoint.json").read_text())["state"]["step"]
    except (OSError, ValueError, KeyError):  # not written yet
        return -1


def _kill_at_random_point_then_resume(tmp_path, args, target):
    reference = tmp_path / "ref"
    done = subprocess.run(_cmd(reference, *args), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    # Frequent checkpoints show how far the run got: SIGTERM once it has passed `target` steps (random, so the
    # kill lands anywhere in the run whatever the machine's speed; the SIGTERM checkpoint is then taken at the
    # next step). Not every step (--checkpoint-every 0): a checkpoint write costs ~0.1 s on a loaded CPU.
    proc = subprocess.Popen([*_cmd(run, *args), "--checkpoint-every", "0.25"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while _checkpoint_step(run) < target and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    ckpt = run / "checkpoint.safetensors"
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "received SIGTERM: checkpoint written" in err
    assert ckpt.exists() and not (run / "agent.safetensors").exists()
    interrupted_at = json.loads((run / "checkpoint.json").read_text())["state"]["step"]
    print(f"target step {target}, interrupted at step {interrupted_at}")  # shown when the test fails
    resumed = subprocess.run(_cmd(run, *args), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "not bit-identically" not in resumed.stderr
    assert (run / "agent.safetensors").read_bytes() == (reference / "agent.safetensors").read_bytes()
    summary = with_run_fields(run / "summary.json")  # the step it resumed from is run metadata (run.json)
    assert summary["resumed_from_step"] == interrupted_at
    ref_curve = json.loads((reference / "curve.json").read_text())["curve"]
    run_curve = json.loads((run / "curve.json").read_text())["curve"]
    volatile = {"wall_s", "env_steps_per_s"}
    assert [{k: v for k, v in p.items() if k not in volatile} for p in run_curve] == \
           [{k: v for k, v in p.items() if k not in volatile} for p in ref_curve]
    assert not ckpt.exists() and not (run / "checkpoint.json").exists()
    return interrupted_at


@pytest.mark.slow
def test_sac_sigterm_at_a_random_point_then_resume_gives_identical_bytes(tmp_path):
    # One reset at step 500, learning from step 100. The target leaves 140 steps of margin: the run must not end
    # before the checkpoint that reports the target (every 0.25 s) is written.
    target = int(os.environ.get("FURL_RESUME_TARGET", random.randint(0, 560)))
    _kill_at_random_point_then_resume(tmp_path, ["--variant", "sac", "--steps", "700", "--random-steps", "100",
                                                 "--eval-every", "350"], target)


@pytest.mark.slow
def test_furl_sigterm_at_a_random_point_then_resume_gives_identical_bytes(tmp_path):
    # furl: VLM embeddings in flight, heads + their optimizer, alignment store, relay agent, goal image.
    goals = ["--goal-cache", str(tmp_path / "goals")]
    _kill_at_random_point_then_resume(tmp_path, ["--variant", "furl", "--steps", "140", "--random-steps", "50",
                                                 "--eval-every", "70", *goals], random.randint(0, 100))


def _sac(steps):
    return ["--variant", "sac", "--steps", str(steps), "--random-steps", "100", "--eval-every", str(steps)]


def _interrupt_early(out, args, sig):
    """Start a run that checkpoints before every step, send ``sig`` once the first checkpoint exists."""
    proc = subprocess.Popen([*_cmd(out, *args), "--checkpoint-every", "0"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_corrupt_checkpoint_is_set_aside_and_the_run_completes(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(b"garbage")
    (out / "checkpoint.json").write_text("{}")
    done = subprocess.run(_cmd(out, *_sac(120)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "set aside" in done.stderr
    assert list(out.glob("checkpoint.safetensors.corrupt-*"))
    assert (out / "agent.safetensors").exists() and not (out / "checkpoint.safetensors").exists()


def test_checkpoint_of_another_configuration_is_set_aside(tmp_path):
    out = tmp_path / "o"
    code, err = _interrupt_early(out, _sac(300), signal.SIGTERM)
    assert code == 75, err
    done = subprocess.run(_cmd(out, *_sac(200)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "different configuration" in done.stderr
    assert with_run_fields(out / "summary.json")["resumed_from_step"] is None  # run metadata: run.json


def test_sigusr1_also_checkpoints(tmp_path):
    code, err = _interrupt_early(tmp_path / "o", _sac(300), signal.SIGUSR1)
    assert code == 75, err
    assert "received SIGUSR1: checkpoint written" in err
