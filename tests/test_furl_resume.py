"""`cliprl furl` preemption: SIGTERM at a random step, rerun, the same agent bytes; a corrupt checkpoint is set aside.

Each test runs the CLI in subprocesses (a real signal, a real exit code 75), on the CPU with one torch thread.
The runs cross an episode boundary (Meta-World episodes are 500 steps), so a kill can land in the first episode
(replay of up to 499 actions on resume) or in the second (after a reset).
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMALL = ["--profile", "cpu-small", "--task", "drawer-open-v3", "--random-steps", "100", "--eval-episodes", "1",
         "--batch-size", "32", "--threads", "1", "--device", "cpu", "--quiet"]


def _cmd(out, *args):
    return [sys.executable, "-m", "cliprl_cli.cli", "furl", "--out", str(out), *SMALL, *args]


def _kill_at_random_point_then_resume(tmp_path, args, max_delay):
    reference = tmp_path / "ref"
    done = subprocess.run(_cmd(reference, *args), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    proc = subprocess.Popen([*_cmd(run, *args), "--checkpoint-every", "0"], stderr=subprocess.PIPE, text=True)
    ckpt = run / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, max_delay))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "received SIGTERM: checkpoint written" in err
    assert ckpt.exists() and not (run / "agent.safetensors").exists()
    interrupted_at = json.loads((run / "checkpoint.json").read_text())["state"]["step"]
    resumed = subprocess.run(_cmd(run, *args), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "not bit-identically" not in resumed.stderr
    assert (run / "agent.safetensors").read_bytes() == (reference / "agent.safetensors").read_bytes()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from_step"] == interrupted_at
    ref_curve = json.loads((reference / "curve.json").read_text())["curve"]
    run_curve = json.loads((run / "curve.json").read_text())["curve"]
    volatile = {"wall_s", "env_steps_per_s"}
    assert [{k: v for k, v in p.items() if k not in volatile} for p in run_curve] == \
           [{k: v for k, v in p.items() if k not in volatile} for p in ref_curve]
    assert not ckpt.exists() and not (run / "checkpoint.json").exists()
    print(f"interrupted at step {interrupted_at}")
    return interrupted_at


def test_sac_sigterm_at_a_random_point_then_resume_gives_identical_bytes(tmp_path):
    # 600 steps: one reset at step 500; a kill anywhere in 0..600 (SAC on state only, no rendering: fast).
    _kill_at_random_point_then_resume(tmp_path, ["--variant", "sac", "--steps", "600", "--eval-every", "300"], 8.0)


def test_furl_sigterm_at_a_random_point_then_resume_gives_identical_bytes(tmp_path):
    # furl: VLM embeddings in flight, heads + their optimizer, alignment store, relay agent, goal image.
    goals = ["--goal-cache", str(tmp_path / "goals")]
    _kill_at_random_point_then_resume(tmp_path, ["--variant", "furl", "--steps", "160", "--eval-every", "80",
                                                 *goals], 6.0)


def test_corrupt_checkpoint_is_set_aside_and_the_run_completes(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(b"garbage")
    (out / "checkpoint.json").write_text("{}")
    done = subprocess.run(_cmd(out, "--variant", "sac", "--steps", "120", "--eval-every", "120"),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "set aside" in done.stderr
    assert list(out.glob("checkpoint.safetensors.corrupt-*"))
    assert (out / "agent.safetensors").exists() and not (out / "checkpoint.safetensors").exists()


def test_checkpoint_of_another_configuration_is_set_aside(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.Popen(_cmd(out, "--variant", "sac", "--steps", "300", "--eval-every", "300",
                                 "--checkpoint-every", "0"), stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    done = subprocess.run(_cmd(out, "--variant", "sac", "--steps", "200", "--eval-every", "200"),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "different configuration" in done.stderr
    assert json.loads((out / "summary.json").read_text())["resumed_from_step"] is None


@pytest.mark.parametrize("sig", [signal.SIGUSR1])
def test_sigusr1_also_checkpoints(tmp_path, sig):
    out = tmp_path / "o"
    proc = subprocess.Popen(_cmd(out, "--variant", "sac", "--steps", "300", "--eval-every", "300",
                                 "--checkpoint-every", "0"), stderr=subprocess.PIPE, text=True)
    ckpt = out / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    assert "received SIGUSR1" in err
