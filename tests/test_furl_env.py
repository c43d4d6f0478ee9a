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
