"""Reward alignment on a synthetic VLM whose zero-shot reward points at the wrong target (the known answer): the
heads trained with Eq. 4 and Eq. 5 must recover the task progress that the zero-shot reward lacks."""

import numpy as np
import pytest
import torch

from cliprl_cli.furl import synthetic as S


def test_spearman_by_hand():
    assert S.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert S.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x: 1 2 3 4, y: 1 3 2 4 -> d^2 = 0+1+1+0 = 2 -> 1 - 6*2/(4*15) = 0.8
    assert S.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # ties get the average rank: y ranks 1.5 1.5 3 4 (0-based 0.5 0.5 2 3), Pearson of the ranks
    rx, ry = np.array([0, 1, 2, 3.0]), np.array([0.5, 0.5, 2, 3])
    expected = np.corrcoef(rx, ry)[0, 1]
    assert S.spearman([1, 2, 3, 4], [7, 7, 8, 9]) == pytest.approx(expected)


def test_positives_end_after_the_unbroken_run_of_successes():
    goal = np.zeros(2)
    path = np.array([[3, 0], [2, 0], [0.5, 0], [0.1, 0], [0.2, 0], [2, 0], [0.1, 0]], float)
    assert S.positive_end(path, goal, 1.0) == 5   # frames 0-4: up to the first success (2) and the run 2-4
    assert S.positive_end(path, goal, 0.01) is None
    data = S.alignment_data([np.arange(7, dtype=np.float32)[:, None]], [5], [np.ones((3, 1), np.float32)],
                            np.zeros(1, np.float32), lag=2)
    assert data.pos[:, 0].tolist() == [2, 3, 4] and data.lag[:, 0].tolist() == [0, 1, 2]
    assert data.goal_dist.tolist() == [1, 1, 1]


def test_the_misalignment_knob_moves_the_zero_shot_reward_from_the_goal_to_the_wrong_target():
    rng = np.random.default_rng(0)
    world = S.synthetic_world(rng)
    vlm = S.make_vlm(rng, world.low, world.high)
    pts = rng.uniform(world.low, world.high, size=(400, 3))
    emb = S.embed_images(vlm, pts, rng)
    near_goal = -np.linalg.norm(pts - world.goal, axis=1)
    near_wrong = -np.linalg.norm(pts - world.wrong, axis=1)
    aligned = S.zero_shot(S.embed_text(vlm, world.goal, world.wrong, 0.0), emb)
    wrong = S.zero_shot(S.embed_text(vlm, world.goal, world.wrong, 1.0), emb)
    assert S.spearman(aligned, near_goal) > 0.5 and S.spearman(wrong, near_wrong) > 0.5
    assert S.spearman(wrong, near_goal) < S.spearman(aligned, near_goal) - 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_trained_heads_recover_the_progress_the_zero_shot_reward_lacks(seed):
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    world = S.synthetic_world(rng)
    train = S.synthetic_trajectories(rng, world.goal, world.wrong, world.low, world.high, n_expert=6, n_failed=12)
    test = S.synthetic_trajectories(rng, world.goal, world.wrong, world.low, world.high, n_expert=6, n_failed=12)
    out = S.run_known_answer(world, train, test, misalignment=1.0, seed=seed, success_radius=0.1, eq5_steps=150,
                             eq4_steps=150)
    assert out["positives"] > 0
    assert out["zero-shot"] < 0.1          # the instruction points at the wrong target: no progress signal
    # FuRL's order (Eq. 5, then Eq. 4 on one Adam state) recovers it, well beyond the heads before training
    assert out["eq5+eq4"] > 0.6 and out["eq5+eq4"] > out["untrained"] + 0.15, out
    for condition in ("eq5", "eq4"):
        assert out[condition] > out["untrained"], (condition, out)
