"""Meta-World v3 tasks for FuRL: environment creation, headless rendering, upright frames, scripted experts.

Choices (the paper leaves them open or they are Meta-World 3 specifics):

- Environments come from ``gymnasium.make("Meta-World/MT1", env_name=..., seed=...)``. MT1 holds 50 goal
  configurations ("tasks"); the wrapper picks one at random on every reset. **Fixed goal** (the paper's Table 1,
  "fixed for each random seed"): we let the seeded wrapper pick one configuration on the first reset and then turn
  task sampling off, so every episode of a run starts from the same object and goal positions.
  **Random goal** (``--random-goal``, Table 2): task sampling stays off but the environment's rand-vec is unfrozen,
  so Meta-World draws fresh object/goal positions from its own seeded RNG at every reset.
- The observation is Meta-World's 39-d state. Meta-World 3's MT1 tasks are goal-observable (the last three entries
  are the goal position); the paper's "goal hidden" fixed-goal runs had them zeroed. With a fixed goal these three
  numbers are constant, so they carry no information either way; with ``--random-goal`` they tell the policy where
  the goal is, as in the authors' goal-observable random-goal environments.
- **Goal protocol** (``goal_protocol``): ``mt1`` is the above (the seeded MT1 wrapper's goal configuration);
  ``authors`` builds the environments as the FuRL authors' ``make_env`` does, from Meta-World's own constructors:
  with a fixed goal the ``<task>-goal-hidden`` class (its constructor seeds numpy's global RNG with the seed, draws
  the goal's rand-vec from it, restores the global RNG and freezes the rand-vec; the observation's goal entries are
  zero), with ``--random-goal`` the ``<task>-goal-observable`` class with its rand-vec unfrozen. Neither goes
  through gymnasium's registry, so the frame size and camera are set on the env's renderer after construction.
- Episodes are 500 steps (Meta-World's TimeLimit); ``terminated`` is never set, so SAC bootstraps through the
  time-limit truncation (discount 1 on every stored transition, as in the authors' code).
- The corner cameras render upside down: :func:`render_upright` flips the rows (and only the rows: the authors'
  code does ``image[::-1]``), and a saved frame was checked by eye.
- ``fast_render`` turns the MuJoCo scene's shadow and reflection flags off and renders without multisample
  anti-aliasing (Meta-World asks for 4 samples, and resolving them dominates a software renderer's frame time):
  several times faster on a CPU renderer (Mesa llvmpipe) than the full-quality frame. A frame differs from the
  anti-aliased one only along edges (by about 1/255 per pixel on average); shadows and reflections are the
  visible difference.
- Frames are read as RGB only (gymnasium's viewer reads depth as well, which a policy on RGB frames never uses),
  with the env's own GL context made current first: with several envs in one process each has its own context.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import CliprlError

MT10_TASKS = (
    "reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-open-v3", "drawer-close-v3",
    "button-press-topdown-v3", "peg-insert-side-v3", "window-open-v3", "window-close-v3",
)
EPISODE_STEPS = 500
CAMERAS = ("corner", "corner2", "corner3", "corner4", "topview", "behindGripper", "gripperPOV")


def ensure_headless_gl() -> str:
    """Pick a headless OpenGL backend before MuJoCo is imported: MUJOCO_GL=egl unless the user chose one."""
    backend = os.environ.setdefault("MUJOCO_GL", "egl")
    if backend == "egl":
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    _load_triton_before_mesa()
    return backend


def _load_triton_before_mesa() -> None:
    """Import triton (shipped with CUDA builds of torch) before Mesa's renderer loads its own LLVM.

    The other order crashes: once a frame has been rendered on Mesa (llvmpipe), the first import of
    ``torch._dynamo`` (torchvision, open_clip and ``torch.optim`` all import it) loads triton's LLVM and the process
    dies with a segmentation fault. Loading triton first makes any later import safe.
    """
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        try:
            import triton  # noqa: F401
        except Exception:  # noqa: BLE001 - a broken triton only matters to GPU compilation, never here
            pass


def check_task(task: str) -> str:
    """Accept an MT10 task name; ``-v2`` names (the paper's) are mapped to Meta-World 3's ``-v3``."""
    if task.endswith("-v2"):
        task = task[:-3] + "-v3"
    if task not in MT10_TASKS:
        raise CliprlError(f"unknown task {task!r}; known tasks: {', '.join(MT10_TASKS)}")
    return task


def make_env(task: str, *, seed: int, image_size: int | None = 224, camera: str = "corner2",
             random_goal: bool = False, fast_render: bool = False, goal_protocol: str = "mt1"):
    """One Meta-World env. ``image_size=None`` builds it without a renderer (evaluation, the `sac` variant).
    ``goal_protocol``: ``mt1`` (the seeded MT1 task's goal) or ``authors`` (the FuRL authors' goal-hidden
    environments; module docstring)."""
    task = check_task(task)
    if camera not in CAMERAS:
        raise CliprlError(f"unknown camera {camera!r}; known cameras: {', '.join(CAMERAS)}")
    from .config import GoalProtocol, as_choice  # here: config imports this module's task list

    goal_protocol = as_choice(GoalProtocol, goal_protocol, "goal protocol")
    if image_size is not None:
        ensure_headless_gl()
    if goal_protocol == "authors":
        env = _make_authors_env(task, seed=seed, image_size=image_size, camera=camera, random_goal=random_goal)
    else:
        env = _make_mt1_env(task, seed=seed, image_size=image_size, camera=camera, random_goal=random_goal)
    env.unwrapped._cliprl_fast_render = fast_render
    if fast_render:  # read when the GL context is made, at the first render
        env.unwrapped.model.vis.quality.offsamples = 0
    return env


def _make_mt1_env(task: str, *, seed: int, image_size: int | None, camera: str, random_goal: bool):
    import gymnasium as gym
    import metaworld  # noqa: F401  (registers the Meta-World/* ids)

    kwargs: dict[str, Any] = {}
    if image_size is not None:
        kwargs = dict(render_mode="rgb_array", camera_name=camera, width=image_size, height=image_size)
    try:
        env = gym.make("Meta-World/MT1", env_name=task, seed=seed, disable_env_checker=True, **kwargs)
    except Exception as exc:  # an OpenGL backend that cannot start, typically
        raise CliprlError(f"cannot create {task} (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {exc}; "
                          "set MUJOCO_GL=egl (Mesa works on a CPU) or osmesa (needs libosmesa6)") from None
    env.reset(seed=seed)  # picks this seed's goal configuration
    _find_wrapper(env, "toggle_sample_tasks_on_reset").toggle_sample_tasks_on_reset(False)
    if random_goal:
        env.unwrapped._freeze_rand_vec = False
    env.reset()
    return env


def _make_authors_env(task: str, *, seed: int, image_size: int | None, camera: str, random_goal: bool):
    """The FuRL authors' environment: Meta-World's goal-hidden class for a fixed goal (goal drawn from numpy's
    global RNG seeded with ``seed`` inside the constructor, which restores that RNG after), the goal-observable
    class with an unfrozen rand-vec for random goals; then ``reset`` as their ``make_env`` does."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_HIDDEN, ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE

    try:
        if random_goal:
            env = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[f"{task}-goal-observable"](seed=seed)
            env._freeze_rand_vec = False
        else:
            env = ALL_V3_ENVIRONMENTS_GOAL_HIDDEN[f"{task}-goal-hidden"](seed=seed)
    except KeyError:
        raise CliprlError(f"Meta-World has no goal-hidden/goal-observable constructor for {task}") from None
    if image_size is not None:
        _attach_renderer(env, image_size, camera)
    env.reset(seed=seed)  # Meta-World ignores the seed here (env.seed() in the constructor set its RNG)
    env.action_space.seed(seed)
    return env


def _attach_renderer(env, image_size: int, camera: str) -> None:
    """Give a directly constructed Meta-World env the renderer ``gymnasium.make(render_mode=...)`` would: RGB frames of
    ``image_size`` px from ``camera`` (the constructors take no render arguments)."""
    from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

    old = env.mujoco_renderer
    env.render_mode = "rgb_array"
    env.width = env.height = image_size
    env.mujoco_renderer = MujocoRenderer(env.model, env.data, old.default_cam_config, image_size, image_size,
                                         old.max_geom, None, camera, old._vopt)
    old.close()


def show_goal(env) -> None:
    """Put the goal position back into a goal-hidden env's observation (the goal itself is unchanged): Meta-World's
    scripted experts steer by it, and a goal-hidden reach/push/pick-place expert otherwise heads for the origin
    (the authors' oracle script switches those tasks to the goal-observable env for the same reason)."""
    base = env.unwrapped
    if base._partially_observable:
        base._partially_observable = False
        base.__dict__.pop("sawyer_observation_space", None)  # a cached property; step() clips by its bounds


def _find_wrapper(env, attribute: str):
    while env is not None:
        if hasattr(type(env), attribute):
            return env
        env = getattr(env, "env", None)
    raise RuntimeError(f"no wrapper with {attribute} (Meta-World API changed?)")


def _apply_scene_flags(env, viewer) -> None:
    if getattr(viewer, "_cliprl_flags_set", False):
        return
    if getattr(env.unwrapped, "_cliprl_fast_render", False):
        import mujoco

        viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        viewer.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
    viewer._cliprl_flags_set = True


def render_upright(env):
    """An upright ``(H, W, 3)`` uint8 frame from the env's camera (the corner cameras render upside down)."""
    renderer = env.unwrapped.mujoco_renderer
    try:
        viewer = renderer._get_viewer(render_mode="rgb_array")
    except Exception as exc:  # noqa: BLE001 - no usable OpenGL: say what to do instead of a traceback
        raise CliprlError(f"headless rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')} "
                          f"({type(exc).__name__}: {str(exc)[:200]}); try MUJOCO_GL=egl (Mesa, works on a CPU) "
                          "or MUJOCO_GL=osmesa (needs libosmesa6)") from None
    _apply_scene_flags(env, viewer)
    import mujoco
    import numpy as np

    viewer.make_context_current()
    if renderer.camera_id is not None and renderer.camera_id >= 0:  # what gymnasium's viewer does per frame
        viewer.cam.type = mujoco.mjtCamera.mjCAMERA_FIXED
        viewer.cam.fixedcamid = renderer.camera_id
    mujoco.mjv_updateScene(viewer.model, viewer.data, viewer.vopt, viewer.pert, viewer.cam,
                           mujoco.mjtCatBit.mjCAT_ALL, viewer.scn)
    mujoco.mjr_render(viewer.viewport, viewer.scn, viewer.con)
    frame = np.empty((viewer.viewport.height, viewer.viewport.width, 3), dtype=np.uint8)
    mujoco.mjr_readPixels(frame, None, viewer.viewport, viewer.con)
    # OpenGL's rows run bottom-up; gymnasium flips them, and the corner cameras then need a second flip (the
    # authors' image[::-1]); the two cancel, so the buffer as read is the upright frame.
    return frame


_EXPERT_WORDS = {"insert": "Insertion"}  # peg-insert-side -> SawyerPegInsertionSideV3Policy


def close_env(env) -> None:
    """Close an env, freeing its GL context now rather than in a destructor at interpreter exit (EGL noise)."""
    try:
        env.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass


def expert_policy(task: str):
    """Meta-World's scripted expert for ``task`` (acts from the state observation)."""
    import metaworld.policies as policies

    words = check_task(task).split("-")[:-1]
    name = "Sawyer" + "".join(_EXPERT_WORDS.get(w, w.capitalize()) for w in words) + "V3Policy"
    cls = getattr(policies, name, None)
    if cls is None:
        raise CliprlError(f"no scripted expert {name} in metaworld.policies")
    return cls()
