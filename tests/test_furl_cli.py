"""`cliprl furl` end to end on one task with a tiny random-weight VLM, determinism, and one-line errors."""

import json
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cliprl_cli.store.artifacts import load_artifact  # noqa: E402
from cliprl_cli.cli import main  # noqa: E402

SMALL = ["--profile", "cpu-small", "--task", "drawer-open-v3", "--random-steps", "100", "--eval-every", "150",
         "--eval-episodes", "1", "--batch-size", "32", "--quiet"]


def test_furl_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["furl", "--variant", "furl", "--steps", "300", "--out", str(out),
                 "--goal-cache", str(tmp_path / "goals"), *SMALL])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "RANDOM weights" in err
    curve = json.loads((out / "curve.json").read_text())
    assert curve["vlm_random_weights"] is True and curve["variant"] == "furl"
    assert [p["step"] for p in curve["curve"]] == [150, 300]
    last = curve["curve"][-1]
    for key in ("success_any", "success_last", "return", "vlm_reward_mean", "align_loss", "critic_loss"):
        assert key in last
    assert last["relay_on"] is True
    for name in ("config.json", "summary.json", "expert_rewards.json", "agent.json"):
        assert json.loads((out / name).read_text())["vlm_random_weights"] is True
    tensors, sidecar = load_artifact(out / "agent.safetensors", kind="furl-agent")
    assert {"heads.text.0.weight", "heads.image.2.weight", "goal_embedding", "text_embedding"} <= set(tensors)
    assert any(k.startswith("relay_agent.actor") for k in tensors)
    assert tensors["agent.critic.weights.0"].shape == (2, 39 + 4, 256)
    expert = json.loads((out / "expert_rewards.json").read_text())
    assert len(expert["zero_shot"]) == len(expert["aligned"]) == len(expert["step"]) > 0
    assert expert["first_success"] is not None
    assert (out / "frames" / "goal.png").is_file() and len(list((out / "frames").glob("step_*.png"))) >= 2
    assert list((tmp_path / "goals").glob("*.png"))  # the goal image was cached


def test_sac_same_seed_same_bytes(tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert main(["furl", "--variant", "sac", "--steps", "250", "--out", str(out), *SMALL]) == 0
        runs.append((out / "agent.safetensors").read_bytes())
    assert runs[0] == runs[1]
    assert json.loads((tmp_path / "a" / "curve.json").read_text())["vlm_random_weights"] is False


@pytest.mark.parametrize("args,message", [
    (["--task", "fly-v3"], "unknown task 'fly-v3'; known tasks: reach-v3"),
    (["--variant", "magic"], "unknown variant 'magic'; known variants: sac"),
    (["--vlm-model", "NoSuchNet"], "unknown open_clip model 'NoSuchNet'"),
    (["--vlm-checkpoint", "/no/such.pt"], "VLM checkpoint file not found"),
    (["--profile", "huge"], "unknown profile 'huge'"),
])
def test_bad_inputs_one_line(tmp_path, capsys, args, message):
    code = main(["furl", "--profile", "cpu-small", "--steps", "10", "--out", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_an_unknown_vlm_leaves_no_output_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["furl", "--variant", "furl", "--vlm-model", "NoSuchModel-99", "--vlm-pretrained", "none",
                 "--steps", "10", "--out", str(out), "--quiet"]) == 2
    assert "unknown open_clip model 'NoSuchModel-99'" in capsys.readouterr().err
    assert not out.exists()
