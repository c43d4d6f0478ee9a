import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from cliprl_cli.clip_rl.gridworld import BatchedGridWorld, GridGoalEnv, encode_positions, shortest_path_lengths


def test_moves_clamp_at_walls_and_reward_on_goal():
    env = BatchedGridWorld(4, (0, 3), 3, generator=torch.Generator().manual_seed(0))
    env.reset(torch.tensor([[0, 0], [3, 3], [0, 2]]))
    _, reward, terminated, truncated = env.step(torch.tensor([0, 1, 3]))  # up at top wall, down at bottom, right
    pos = env.pos
    assert pos[0].tolist() == [0, 0] and pos[1].tolist() == [3, 3]
    assert reward.tolist() == [0.0, 0.0, 1.0] and terminated.tolist() == [False, False, True]
    assert not truncated.any()
    assert pos[2].tolist() != [0, 3]  # auto-reset to a start other than the goal


def test_truncation_after_max_steps():
    env = BatchedGridWorld(5, (4, 4), 2, max_steps=3, generator=torch.Generator().manual_seed(0))
    env.reset(torch.tensor([[0, 0], [0, 1]]))
    for _ in range(2):
        _, _, _, truncated = env.step(torch.tensor([0, 0]))
        assert not truncated.any()
    _, _, terminated, truncated = env.step(torch.tensor([0, 0]))
    assert truncated.all() and not terminated.any()
    assert env.t.tolist() == [0, 0]


def test_starts_are_uniform_over_non_goal_cells():
    env = BatchedGridWorld(3, (1, 1), 1, generator=torch.Generator().manual_seed(0))
    index = env.sample_starts(80_000)
    counts = torch.bincount(index, minlength=9).float()
    assert counts[4] == 0
    others = counts[torch.arange(9) != 4]
    assert (others / others.sum() - 1 / 8).abs().max() < 0.01


def test_batched_and_gymnasium_faces_agree_step_by_step():
    rng = np.random.default_rng(0)
    size, goal = 6, (0, 3)
    single = GridGoalEnv(size=size, goal=goal)
    batched = BatchedGridWorld(size, goal, 1)
    for episode in range(30):
        start = tuple(int(v) for v in rng.integers(0, size, 2))
        if start == goal:
            continue
        obs, _ = single.reset(seed=episode, options={"start": start})
        batched.reset(torch.tensor([start]))
        assert obs.tolist() == batched.pos[0].tolist()
        for _ in range(single.max_steps):
            action = int(rng.integers(0, 4))
            obs, reward, terminated, truncated, _ = single.step(action)
            before_reset = batched.move(batched.cell, torch.tensor([action])).item()
            _, b_reward, b_term, b_trunc = batched.step(torch.tensor([action]))
            assert obs.tolist() == list(divmod(before_reset, size))
            assert (reward, terminated, truncated) == (b_reward.item(), b_term.item(), b_trunc.item())
            if terminated or truncated:
                break


def test_gymnasium_registration_and_check_env():
    env = gymnasium.make("cliprl/GridGoal-v0", size=10, task="top left third")
    assert env.unwrapped.goal == (0, 7)
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)


def test_encoding_and_shortest_paths():
    enc = encode_positions(torch.tensor([[1, 2]]), 4)
    assert enc.tolist() == [[0, 1, 0, 0, 0, 0, 1, 0]]
    env = BatchedGridWorld(4, (0, 0), 1)
    assert torch.equal(env.observe(torch.tensor([1 * 4 + 2])), enc)
    assert shortest_path_lengths(3, (0, 0)).tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]


def test_reset_rejects_goal_start():
    env = GridGoalEnv(size=4, goal=(0, 0))
    with pytest.raises(ValueError):
        env.reset(options={"start": (0, 0)})
