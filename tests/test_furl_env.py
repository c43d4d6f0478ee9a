"""Meta-World environments: fixed vs random goals, the upright flip, task names, instructions, experts."""

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from cliprl_cli.errors import CliprlError  # noqa: E402
from cliprl_cli.furl.env import MT10_TASKS, check_task, close_env, expert_policy, make_env, render_upright  # noqa
from cliprl_cli.furl.context import load_instruction  # noqa: E402


def _object_and_goal(env):
    obs, _ = env.reset()
    return np.concatenate([obs[4:7], obs[-3:]])


def test_fixed_goal_is_fixed_and_random_goal_moves():
    fixed = make_env("push-v3", seed=3, image_size=None)
    assert np.allclose(_object_and_goal(fixed), _object_and_goal(fixed))
    rand = make_env("push-v3", seed=3, image_size=None, random_goal=True)
    assert not np.allclose(_object_and_goal(rand), _object_and_goal(rand))
    other_seed = make_env("push-v3", seed=4, image_size=None)
    assert not np.allclose(_object_and_goal(fixed), _object_and_goal(other_seed))
    for env in (fixed, rand, other_seed):
        close_env(env)


def test_frames_are_flipped_upright():
    env = make_env("drawer-open-v3", seed=0, image_size=48, fast_render=True)
    frame = render_upright(env)
    raw = env.unwrapped.mujoco_renderer.render("rgb_array")
    assert frame.shape == (48, 48, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame, raw[::-1])  # corner2 renders upside down (checked by eye on a saved frame)
    close_env(env)


def test_several_envs_render_their_own_scenes_and_fast_render_is_close():
    """Each env renders in its own GL context (a second env in another state gives another frame, and rendering
    it does not disturb the first); the fast frame (no shadows, reflections or multisampling) is near the full one."""
    a = make_env("drawer-open-v3", seed=0, image_size=48, fast_render=True)
    b = make_env("drawer-open-v3", seed=0, image_size=48, fast_render=True)
    for _ in range(20):
        b.step(np.array([1.0, 0.0, 1.0, 1.0], dtype=np.float32))  # move b's arm away
    first_a = render_upright(a)
    assert not np.array_equal(render_upright(b), first_a)
    assert np.array_equal(render_upright(a), first_a)
    full = make_env("drawer-open-v3", seed=0, image_size=48, fast_render=False)
    difference = np.abs(render_upright(full).astype(int) - first_a.astype(int))
    assert 0 < difference.mean() < 30  # shadows and edges differ; the scene is the same
    for env in (a, b, full):
        close_env(env)


def test_import_of_torch_dynamo_after_rendering_does_not_crash():
    """Mesa's LLVM then triton's LLVM segfaults the process; make_env loads triton first (see env.py)."""
    import subprocess
    import sys

    code = ("from cliprl_cli.furl.env import make_env, render_upright\n"
            "render_upright(make_env('drawer-open-v3', seed=0, image_size=32, fast_render=True))\n"
            "import torch._dynamo\nprint('alive')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MUJOCO_GL": "egl"})
    assert proc.returncode == 0 and "alive" in proc.stdout, proc.stderr[-2000:]


def test_task_names_instructions_and_experts():
    assert check_task("drawer-open-v2") == "drawer-open-v3"
    with pytest.raises(CliprlError, match="known tasks"):
        check_task("fly-v3")
    assert load_instruction("drawer-open-v3") == "Open a drawer."
    assert load_instruction("peg-insert-side-v3") == "Insert a peg sideways."
    for task in MT10_TASKS:
        assert load_instruction(task)
        assert hasattr(expert_policy(task), "get_action")


def test_authors_goal_protocol_hides_a_goal_the_seed_draws():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_HIDDEN

    before = np.random.get_state()[1].copy()
    env = make_env("push-v3", seed=3, image_size=32, goal_protocol="authors", fast_render=True)
    assert np.array_equal(np.random.get_state()[1], before)  # the constructor restores numpy's global RNG
    goal = env.unwrapped._target_pos.copy()
    for _ in range(2):
        obs, _ = env.reset()
        assert np.array_equal(obs[-3:], np.zeros(3))  # the goal is zero in the observation...
        for _ in range(3):
            obs, *_ = env.step(np.full(4, 0.5))
            assert np.array_equal(obs[-3:], np.zeros(3))
        assert np.array_equal(env.unwrapped._target_pos, goal)  # ... and fixed across episodes
    assert render_upright(env).shape == (32, 32, 3)
    # the goal Meta-World's goal-hidden constructor draws from the seed (the authors' make_env), not MT1's task
    assert np.array_equal(goal, ALL_V3_ENVIRONMENTS_GOAL_HIDDEN["push-v3-goal-hidden"](seed=3)._target_pos)
    again = make_env("push-v3", seed=3, image_size=None, goal_protocol="authors")
    other = make_env("push-v3", seed=4, image_size=None, goal_protocol="authors")
    mt1 = make_env("push-v3", seed=3, image_size=None)
    assert np.array_equal(again.unwrapped._target_pos, goal)
    assert not np.allclose(other.unwrapped._target_pos, goal)
    assert not np.allclose(mt1.reset()[0][-3:], goal) and np.any(mt1.reset()[0][-3:] != 0)
    steps = 0
    again.reset()
    while not any(again.step(np.zeros(4))[2:4]):
        steps += 1
    assert steps + 1 == 500  # Meta-World's own time limit, as MT1's TimeLimit
    for e in (env, again, other, mt1):
        close_env(e)


def test_authors_random_goal_is_goal_observable_and_moves():
    np.random.seed(0)
    env = make_env("push-v3", seed=3, image_size=None, goal_protocol="authors", random_goal=True)
    first, second = env.reset()[0][-3:], env.reset()[0][-3:]
    assert np.any(first != 0) and not np.allclose(first, second)
    close_env(env)


def test_mt1_protocol_keeps_its_bytes():
    import hashlib

    np.random.seed(0)  # random goals draw from numpy's global RNG
    h = hashlib.sha256()
    for task, seed, random_goal in (("push-v3", 3, False), ("drawer-open-v3", 0, False), ("push-v3", 3, True)):
        env = make_env(task, seed=seed, image_size=None, random_goal=random_goal, goal_protocol="mt1")
        for _ in range(2):
            obs, _ = env.reset()
            h.update(obs.tobytes())
            for t in range(5):
                obs, *_ = env.step(np.full(4, 0.3 * (t % 3 - 1)))
                h.update(obs.tobytes())
        close_env(env)
    # the hash of the same observations from make_env before the goal protocol existed (commit 587db6c)
    assert h.hexdigest() == "f17abec1c102a8e29f61cd2c0c5ccffcecbaefc1ea3eba4ed1ae7352e9a5a71e"


def test_experts_reach_a_hidden_goal():
    from cliprl_cli.furl.goal_image import expert_rollout

    # reach's expert steers by the goal position, which the goal-hidden observation zeroes; the rollout shows it
    frames, success = expert_rollout("reach-v3", seed=0, image_size=16, fast_render=True, render="success",
                                     goal_protocol="authors")
    assert success == [True] and frames[0].shape == (16, 16, 3)


@pytest.mark.parametrize("protocol", ["authors", "mt1"])
def test_fixed_goal_episodes_of_a_deterministic_policy_are_identical(protocol):
    # why the authors' 1 evaluation episode loses nothing to 10 with a fixed goal (docs/furl-authors.md)
    env = make_env("push-v3", seed=0, image_size=None, goal_protocol=protocol)
    weights = np.random.default_rng(1).normal(size=(39, 4))
    runs = []
    for _ in range(2):
        obs, _ = env.reset()
        traj, done = [obs], False
        while not done:
            obs, _, term, trunc, _ = env.step(np.tanh(obs @ weights))
            traj.append(obs)
            done = term or trunc
        runs.append(np.array(traj))
    assert len(runs[0]) == 501 and np.array_equal(runs[0], runs[1])
    close_env(env)
