"""`cliprl furl --profile paper` runs the FuRL authors' protocol end to end on a LIV-format file of RANDOM weights:
goal-hidden environments, Eq. 5 summed over j (their reduction), flax heads, their evaluation cadence, and every
artifact says the weights are random and records the protocol.

RN50 embeds a few frames a second on one core, so everything is shrunk through options: 60 env steps (30 random),
64 px renders, batch 16, a 1,000-transition replay, reach-v3 (whose scripted expert succeeds in about 50 steps).
Eq. 5's goal-distance margin is set below the spread of the random network's goal distances (about 1e-3, against
the authors' m' = 0.25, under which the mask keeps nothing: see :func:`eq5_idle_message`), so that the run shows
Eq. 5 training the heads.
"""

import json
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cliprl_cli.cli import main  # noqa: E402
from cliprl_cli.furl.outputs import eq5_idle_message  # noqa: E402
from cliprl_cli.furl.vlm import write_random_liv_checkpoint  # noqa: E402
from cliprl_cli.store.formats import FurlCurve, FurlPoint, FurlRunConfig  # noqa: E402


def test_paper_profile_runs_the_authors_protocol_on_a_random_liv_file(tmp_path, capsys):
    ckpt = write_random_liv_checkpoint(tmp_path / "liv" / "model.pt", seed=0)
    out = tmp_path / "run"
    code = main(["furl", "--profile", "paper", "--task", "reach-v3", "--variant", "furl", "--steps", "60",
                 "--random-steps", "30", "--batch-size", "16", "--buffer-size", "1000", "--image-size", "64",
                 "--fast-render", "--threads", "1", "--vlm-model", "liv", "--vlm-checkpoint", str(ckpt),
                 "--goal-margin", "1e-5", "--goal-cache", str(tmp_path / "goals"), "--out", str(out), "--quiet"])
    assert code == 0
    for name in ("config.json", "curve.json", "summary.json", "expert_rewards.json", "agent.json"):
        assert json.loads((out / name).read_text())["vlm_random_weights"] is True, name
    config = FurlRunConfig.read(out / "config.json")
    assert "|RANDOM" in config.vlm and config.vlm.startswith("liv|checkpoint:")
    recorded = {k: config.config.get(k) for k in ("goal_protocol", "eval_protocol", "eval_every", "eval_episodes",
                                                   "eq5_reduction", "heads_init", "vlm_preprocess", "sac_style")}
    assert recorded == dict(goal_protocol="authors", eval_protocol="authors", eval_every=6, eval_episodes=1,
                            eq5_reduction="authors", heads_init="flax", vlm_preprocess="authors", sac_style="authors")
    # relay stops on positive frames and frames are cropped (FuRL, their train_furl.py): the legacy values, unwritten
    assert "relay_stop" not in config.config and "vlm_crop" not in config.config
    assert json.loads((out / "agent.json").read_text())["config"]["goal_protocol"] == "authors"
    # their evaluation: every steps // 10 env steps
    curve = FurlCurve.read(out / "curve.json").curve
    assert [p.step for p in curve] == list(range(6, 61, 6))
    # Eq. 5 (no success yet) trained the heads on the goal-hidden env's expert goal image
    last = curve[-1].train_stats
    assert last["align_stage"] == 1.0 and last["eq5_pairs_kept"] > 0 and last["align_neg_neg"] > 0
    assert (out / "frames" / "goal.png").is_file()
    assert any(p.name.endswith("_goalhidden.png") for p in (tmp_path / "goals").iterdir())
    assert "Eq. 5 kept no pair" not in capsys.readouterr().err


def _point(**stats) -> FurlPoint:
    return FurlPoint(step=1, success_any=0.0, success_last=0.0, return_=0.0, sparse_return=0.0, train_stats=stats,
                     episodes=0, train_success_episodes=0, positive_frames=0, relay_on=True, updates=1,
                     wall_s=0.0, env_steps_per_s=0.0)


def test_an_empty_eq5_mask_in_every_update_is_reported():
    # a 300-step paper-profile run on a random LIV file had Eq. 5 loss 0.0: its mask kept 0 pairs in every update
    message = eq5_idle_message([_point(eq5_pairs_kept=0.0), _point(eq5_pairs_kept=0.0)], 0.25)
    assert message is not None and "m' = 0.25" in message and "loss was 0" in message
    assert eq5_idle_message([_point(eq5_pairs_kept=0.0), _point(eq5_pairs_kept=0.01)], 0.25) is None
    assert eq5_idle_message([_point(align_stage=2.0)], 0.25) is None  # Eq. 5 never ran (sac, or Eq. 4 only)
    assert eq5_idle_message([], 0.25) is None
