"""`cliprl furl --vlm-model synthetic`: the state-embedding synthetic VLM, its labels, and the knobs around it."""

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")

from cliprl_cli.cli import main  # noqa: E402
from cliprl_cli.errors import CliprlError  # noqa: E402
from cliprl_cli.furl.config import PROFILES, config_json  # noqa: E402
from cliprl_cli.furl.rewards import zero_shot_reward  # noqa: E402
from cliprl_cli.furl.synthetic import make_vlm  # noqa: E402
from cliprl_cli.furl.synthetic_vlm import HAND, OBJECT, StateVLM, relevant_slice  # noqa: E402

GOAL = np.array([0.1, 0.8, 0.2])
WRONG = np.array([-0.3, 0.5, 0.4])


def _vlm(misalignment: float, distract: float = 0.0) -> StateVLM:
    core = make_vlm(np.random.default_rng(3), np.array([-0.5, 0.4, 0.05]), np.array([0.5, 1.0, 0.5]),
                    distract_scale=distract)
    return StateVLM(core, "reach-v3", 0, misalignment, GOAL, WRONG)


def _state(hand: np.ndarray) -> np.ndarray:
    s = np.zeros(39)
    s[HAND] = hand
    s[OBJECT] = [9.0, 9.0, 9.0]  # far from everything: reach reads the hand, not this
    return s


def _reward(vlm: StateVLM, hand: np.ndarray) -> float:
    emb = vlm.encode_images(vlm.inputs(_state(hand)[None], 1))
    return float(zero_shot_reward(vlm.encode_text("Reach the goal."), emb)[0])


def test_misalignment_moves_the_zero_shot_reward_from_the_goal_to_the_wrong_target():
    # Without distractors the image of a state at the instruction's target IS the instruction's embedding (both
    # are P code(p) + b), so its cosine is 1: at the goal for misalignment 0, at the wrong target for 1.
    aligned, misaligned = _vlm(0.0), _vlm(1.0)
    assert _reward(aligned, GOAL) == pytest.approx(1.0, abs=2e-3)  # float16 storage of the image embedding
    assert _reward(misaligned, WRONG) == pytest.approx(1.0, abs=2e-3)
    assert _reward(aligned, GOAL) > _reward(aligned, WRONG) + 0.05
    assert _reward(misaligned, WRONG) > _reward(misaligned, GOAL) + 0.05
    half = _vlm(0.5)
    assert _reward(half, GOAL) < _reward(aligned, GOAL) and _reward(half, WRONG) < _reward(misaligned, WRONG)


def test_distractors_are_fresh_per_frame_and_reproducible():
    vlm = _vlm(0.0, distract=1.0)
    rows = vlm.inputs(np.stack([_state(GOAL), _state(GOAL)]), 7)
    assert rows[:, 3].tolist() == [7.0, 8.0]
    a, b = vlm.embed(rows)
    assert not np.allclose(a, b)  # same state, two frames: two draws of the distractors
    np.testing.assert_array_equal(vlm.embed(rows), np.stack([a, b]))  # keyed on (seed, frame id): a resume agrees
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-6)


def test_the_relevant_point_is_the_hand_for_reach_and_the_object_otherwise():
    assert relevant_slice("reach-v3") == HAND and relevant_slice("drawer-close-v3") == OBJECT


def test_synthetic_fields_stay_out_of_other_runs_files():
    cfg = dataclasses.replace(PROFILES["cpu-small"], update_every=1)
    doc = config_json(cfg)
    assert "synthetic_misalignment" not in doc and "synthetic_distract" not in doc and "update_every" not in doc
    doc = config_json(dataclasses.replace(cfg, vlm_model="synthetic", synthetic_misalignment=0.5, update_every=2))
    assert doc["synthetic_misalignment"] == 0.5 and doc["update_every"] == 2


@pytest.mark.parametrize("change, message", [
    (dict(synthetic_misalignment=1.5), "--synthetic-misalignment must be in"),
    (dict(random_goal=True), "fixed-goal state runs"),
    (dict(update_every=0), "--update-every must be >= 1"),
])
def test_bad_synthetic_settings_are_one_line_errors(change, message):
    cfg = dataclasses.replace(PROFILES["cpu-small"], vlm_model="synthetic", **change)
    with pytest.raises(CliprlError, match=message):
        cfg.validate()


def test_a_synthetic_run_is_labelled_in_every_artifact(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["furl", "--profile", "cpu-small", "--task", "reach-v3", "--variant", "furl", "--vlm-model",
                 "synthetic", "--synthetic-misalignment", "0.5", "--steps", "300", "--random-steps", "100",
                 "--eval-every", "150", "--eval-episodes", "1", "--batch-size", "32", "--hidden", "32",
                 "--update-every", "2", "--device", "cpu", "--threads", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "SYNTHETIC" in err
    for name in ("config.json", "summary.json", "curve.json", "agent.json"):
        doc = json.loads((out / name).read_text())
        assert doc.get("vlm_synthetic") is True or doc.get("extra", {}).get("vlm_synthetic") is True, name
    config = json.loads((out / "config.json").read_text())
    assert config["vlm"].startswith("synthetic|misalignment:0.5|") and config["vlm_model"] == "synthetic"
    expert = json.loads((out / "expert_rewards.json").read_text())
    assert expert["instruction_embedding_model"].startswith("synthetic|") and expert["first_success"] is not None
    assert not (out / "frames").exists()  # nothing was rendered
    curve = json.loads((out / "curve.json").read_text())["curve"]
    assert curve[-1]["updates"] == (300 - 100) // 2 + 1  # one gradient pass every second step from step 100
