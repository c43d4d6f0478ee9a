"""`cliprl furl --obs pixels` end to end (issue 17): DrQ + aligned VLM reward + relay on window-open with the tiny
RANDOM-weight VLM (its rewards are noise: this checks the plumbing, and every file says so), then SIGTERM at a
random step and a rerun that must end with the same agent bytes. The run crosses an episode boundary (500 env steps
= 250 agent steps with action repeat 2), so the kill lands before or after a reset (frame stack and frame buffer
restored from the checkpoint, MuJoCo by replay). FURL_PIXELS_RESUME_TARGET=STEP pins the kill step."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ARGS = ["--profile", "cpu-small", "--task", "window-open-v3", "--random-goal", "--obs", "pixels", "--variant", "furl",
        "--pixel-size", "32", "--steps", "700", "--random-steps", "100", "--eval-every", "350", "--eval-episodes",
        "1", "--batch-size", "16", "--threads", "1", "--device", "cpu", "--quiet"]


def _cmd(out, tmp_path, *extra):
    return [sys.executable, "-m", "cliprl_cli.cli", "furl", "--out", str(out), "--goal-cache",
            str(tmp_path / "goals"), *ARGS, *extra]


def _checkpoint_step(out):
    try:
        return json.loads((out / "checkpoint.json").read_text())["state"]["step"]
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.slow
def test_pixel_furl_end_to_end_then_sigterm_and_resume_give_identical_bytes(tmp_path):
    ref = tmp_path / "ref"
    done = subprocess.run(_cmd(ref, tmp_path), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "RANDOM weights" in done.stderr
    summary = json.loads((ref / "summary.json").read_text())
    curve = json.loads((ref / "curve.json").read_text())
    config = json.loads((ref / "config.json").read_text())
    assert summary["obs"] == curve["obs"] == config["obs"] == "pixels"
    assert summary["vlm_random_weights"] is curve["vlm_random_weights"] is config["vlm_random_weights"] is True
    assert (config["pixel_size"], config["frame_stack"], config["action_repeat"]) == (32, 3, 2)
    assert summary["steps"] == 700 and [p["step"] for p in curve["curve"]] == [350, 700]
    assert curve["curve"][-1]["updates"] == (700 - 100) // 2 + 1  # one update per agent step from step 100
    assert "align_loss" in curve["curve"][-1] and "critic_loss" in curve["curve"][-1]
    # one uint8 frame per row (3 x 32 x 32), not a stack of 3 (nor an obs/next_obs pair)
    assert 3 * 32 * 32 <= summary["replay_bytes_per_transition"] < 2 * 3 * 32 * 32
    agent = load_file(ref / "agent.safetensors")
    assert agent["agent.critic.encoder.convs.0.weight"].shape == (32, 9, 3, 3)
    assert "relay_agent.critic.encoder.convs.0.weight" in agent and "heads.image.0.weight" in agent
    assert not any(k.startswith("agent.actor.encoder") for k in agent)
    assert json.loads((ref / "expert_rewards.json").read_text())["vlm_random_weights"] is True

    run = tmp_path / "run"
    target = int(os.environ.get("FURL_PIXELS_RESUME_TARGET", random.randint(0, 560)))
    proc = subprocess.Popen([*_cmd(run, tmp_path), "--checkpoint-every", "0.25"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _checkpoint_step(run) < target and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err
    interrupted_at = json.loads((run / "checkpoint.json").read_text())["state"]["step"]
    print(f"target step {target}, interrupted at step {interrupted_at}")
    resumed = subprocess.run(_cmd(run, tmp_path), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "not bit-identically" not in resumed.stderr
    assert (run / "agent.safetensors").read_bytes() == (ref / "agent.safetensors").read_bytes()
    # resumed_from_step: in summary.json, or in run.json once run metadata moves there (issue 16)
    if (run / "run.json").exists():
        meta = json.loads((run / "run.json").read_text())["files"]["summary.json"]
    else:
        meta = json.loads((run / "summary.json").read_text())
    assert meta["resumed_from_step"] == interrupted_at
    volatile = {"wall_s", "env_steps_per_s"}
    strip = lambda c: [{k: v for k, v in p.items() if k not in volatile} for p in c["curve"]]  # noqa: E731
    assert strip(json.loads((run / "curve.json").read_text())) == strip(curve)
    assert not (run / "checkpoint.safetensors").exists()


def test_pixels_refuse_a_frame_larger_than_the_render(tmp_path):
    done = subprocess.run([sys.executable, "-m", "cliprl_cli.cli", "furl", "--out", str(tmp_path / "x"), "--profile",
                           "cpu-small", "--obs", "pixels", "--quiet"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --pixel-size 84 is larger than the rendered frame")
    assert not (tmp_path / "x" / "config.json").exists()
