"""cliprl: language-guided RL research toolkit (CLIP-RL transfer, FuRL fuzzy VLM rewards).

Importing the package is light (standard library only, so ``cliprl --help`` stays instant) and does two things
a user of gymnasium expects:

- **Registers the environments** with gymnasium, the way ``import minigrid`` does: ``cliprl/GridGoal-v0`` and
  one id per paper grid size (``cliprl/GridGoal-{N}x{N}-v0``, N = 8, 10, 15, 25; see :data:`ENV_IDS`), and the
  MiniGrid colour x shape world ``cliprl/ColourShape-v0`` (``layout=``, ``task=``; its cap is the layout's
  ``max_steps``, applied by MiniGrid itself). Every
  id is registered by entry-point *string*, so nothing heavy is imported until ``gymnasium.make``. To stay light,
  the package does not import gymnasium (and numpy with it) itself: if gymnasium is already imported the ids are
  registered at once, otherwise a post-import hook registers them the moment gymnasium's import finishes, so
  ``import cliprl_cli; import gymnasium`` and the reverse order both work. ``gymnasium.make("cliprl_cli:cliprl/
  GridGoal-v0")`` works without any import too.
- Exposes :func:`load_policy` (``cliprl_cli.load_policy("artifacts/base/10/top-left-first").act(obs)``), which
  imports torch on first call only.

The Meta-World tasks FuRL uses are registered by ``metaworld`` itself (``Meta-World/MT1``).
"""

from __future__ import annotations

import sys
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "ENV_IDS", "register_envs", "load_policy"]

# id -> (registration keyword arguments). The grid world's episode cap is 4 * size (truncation), so one fixed
# ``max_episode_steps`` on a spec can only be right for one size: each per-size id carries its own (= the env's
# own cap, so the TimeLimit wrapper and the env agree), while the generic id, whose ``size`` is a make() argument,
# leaves the cap to the env (a fixed 40 there would cut a 25x25 episode at 40 moves without a word).
_GRID_ENTRY = "cliprl_cli.clip_rl.gridworld:GridGoalEnv"
ENV_IDS: dict[str, dict[str, Any]] = {
    "cliprl/GridGoal-v0": {"entry_point": _GRID_ENTRY},
    **{f"cliprl/GridGoal-{n}x{n}-v0": {"entry_point": _GRID_ENTRY, "kwargs": {"size": n},
                                       "max_episode_steps": 4 * n} for n in (8, 10, 15, 25)},
    "cliprl/ColourShape-v0": {"entry_point": "cliprl_cli.clip_rl.colour_shape_env:ColourShapeEnv"},
}


def register_envs() -> None:
    """Register every id of :data:`ENV_IDS` with gymnasium (idempotent; imports gymnasium, not the envs)."""
    import gymnasium

    for env_id, kwargs in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, **kwargs)


class _RegisterWhenGymnasiumLoads:
    """A ``sys.meta_path`` finder that runs :func:`register_envs` right after gymnasium's own import finishes.

    It finds gymnasium's real spec through the finders behind it, wraps that loader's ``exec_module`` (that one
    loader instance only) and removes itself: a one-shot post-import hook, so the package never imports
    gymnasium (numpy, ~0.2 s) for a user who does not.
    """

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname != "gymnasium":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_register(module: Any) -> None:
            exec_module(module)
            register_envs()

        loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


if "gymnasium" in sys.modules:
    register_envs()
elif not any(isinstance(f, _RegisterWhenGymnasiumLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenGymnasiumLoads())


def load_policy(path: Any):
    """Load a base policy artifact for inference: ``load_policy(path).act(obs)`` -> an action.

    ``path`` is a ``cliprl train-base`` output directory or its ``policy.safetensors``; ``obs`` is a
    ``cliprl/GridGoal-v0`` observation (``[row, col]``) or a batch of them. See
    :class:`cliprl_cli.clip_rl.inference.GridPolicy`.
    """
    # Imported by name at call time: every command imports this package, none of them runs inference.py (so the
    # DVC stages need not list it; tests/test_dvc_deps.py reads static imports).
    from importlib import import_module

    return import_module("cliprl_cli.clip_rl.inference").load_policy(path)
