"""``cliprl/ColourShape-v0``: the colour x shape world as a MiniGrid environment (a ``MiniGridEnv`` subclass).

``gymnasium.make("cliprl/ColourShape-v0", layout="by-colour", task="go to the red ball")`` (``import cliprl_cli``
registers the id). The world and its rules are documented in :mod:`cliprl_cli.clip_rl.colour_shape`; this class draws the
layout with MiniGrid's own ``Grid``, ``Wall``, ``Key``, ``Ball`` and ``Box``, so MiniGrid's renderer draws it and
MiniGrid's ``step`` moves the agent. What it adds to ``MiniGridEnv``:

- the action space is MiniGrid's first three actions (left, right, forward);
- success is MiniGrid's GoTo rule: after an action, the cell in front of the agent holds the target object; the
  episode then terminates with MiniGrid's reward ``1 - 0.9 * step_count / max_steps``;
- the start is a uniformly random (free cell, direction) not already facing the target, from the env's
  ``np_random``; ``reset(options={"start": (x, y, direction)})`` chooses it;
- the observation is MiniGrid's dict (``image``: the 7x7 egocentric view, ``direction``, ``mission``) plus
  ``agent_pos`` ``[x, y]``; ``mission`` is the instruction. The policies of :mod:`cliprl_cli.clip_rl.policy` read
  ``(agent_pos, direction)`` through :func:`cliprl_cli.clip_rl.colour_shape.encode_states`.

``tests/test_colour_shape.py`` runs gymnasium's ``check_env`` in both layouts and steps this env beside the
batched twin (:class:`cliprl_cli.clip_rl.colour_shape.BatchedColourShape`), checking they agree on every step.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # minigrid imports pygame, which greets on stdout

import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402
from minigrid.core.grid import Grid  # noqa: E402
from minigrid.core.mission import MissionSpace  # noqa: E402
from minigrid.core.world_object import Ball, Box, Key, Wall  # noqa: E402
from minigrid.minigrid_env import MiniGridEnv  # noqa: E402

from .colour_shape import (DIR_VEC, NUM_ACTIONS, Layout, get_layout, object_of_instruction,  # noqa: E402
                           parse_layout)
from ..errors import CliprlError  # noqa: E402
from .tasks import load_suite  # noqa: E402

_OBJECT_CLASSES = {"key": Key, "ball": Ball, "box": Box}


class ColourShapeEnv(MiniGridEnv):
    """MiniGrid colour x shape world; see the module docstring.

    Args:
        layout: a known layout's name (``"by-colour"``, ``"by-shape"``) or a :class:`Layout`.
        task: the instruction, ``"go to the <colour> <shape>"`` (or any instruction of ``tasks``).
        tasks: a colour-shape suite YAML; its layout and its instruction -> object mapping are used (then
            ``layout`` must be None or the suite's own).
        max_steps: episode cap (default: the layout's, 64 for the shipped ones).
        render_mode: ``"rgb_array"`` (MiniGrid's renderer) or ``"human"``.
    """

    def __init__(self, layout: str | Layout | None = "by-colour", task: str = "go to the red key",
                 tasks: str | None = None, max_steps: int | None = None, render_mode: str | None = None,
                 **kwargs: Any):
        if tasks is not None:
            suite = load_suite(tasks)
            if not getattr(suite, "fixes_world", False):
                raise CliprlError(f"{tasks}: not a colour-shape suite (it names no 'environment')")
            if layout not in (None, suite.layout.name, suite.layout):
                raise CliprlError(f"layout {layout!r} differs from the layout {suite.layout.name!r} of {tasks}")
            self.world = suite.layout
            self.target = suite.object(task)
        else:
            self.world = layout if isinstance(layout, Layout) else get_layout(layout)
            self.target = object_of_instruction(task)
        self.target_pos = self.world.position(self.target)
        self.task = task
        self._start: tuple[int, int, int] | None = None
        super().__init__(mission_space=MissionSpace(mission_func=lambda: task), width=self.world.width,
                         height=self.world.height, max_steps=int(max_steps or self.world.max_steps),
                         see_through_walls=True, render_mode=render_mode, **kwargs)
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = spaces.Dict({**self.observation_space.spaces,
                                              "agent_pos": spaces.MultiDiscrete([self.world.width,
                                                                                 self.world.height])})

    @classmethod
    def from_mapping(cls, name: str, data: dict, **kwargs: Any) -> "ColourShapeEnv":
        """An env on a layout given as a mapping (``map``, ``objects``, ``group_by``, ``max_steps``)."""
        return cls(layout=parse_layout(name, data, "<mapping>"), **kwargs)

    def valid_starts(self) -> list[tuple[int, int, int]]:
        """Every (x, y, direction) the agent may start in: a free cell, not facing the target."""
        out = []
        for x, y in self.world.free_cells():
            for d in range(4):
                if (x + DIR_VEC[d][0], y + DIR_VEC[d][1]) != self.target_pos:
                    out.append((x, y, d))
        return out

    def _gen_grid(self, width: int, height: int) -> None:
        self.grid = Grid(width, height)
        for y, row in enumerate(self.world.map):
            for x, ch in enumerate(row):
                if ch == "#":
                    self.grid.set(x, y, Wall())
        for (colour, shape), (x, y) in self.world.objects:
            self.put_obj(_OBJECT_CLASSES[shape](colour), x, y)
        starts = self.valid_starts()
        if self._start is not None:
            start = tuple(int(v) for v in self._start)
            if start not in starts:
                raise ValueError(f"start {start} is not a free (x, y, direction) that does not face the target")
        else:
            start = starts[int(self.np_random.integers(0, len(starts)))]
        self.agent_pos = (start[0], start[1])
        self.agent_dir = start[2]
        self.mission = self.task

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._start = (options or {}).get("start")
        obs, info = super().reset(seed=seed, options=options)
        return obs, {**info, "target": self.target_pos}

    def step(self, action):
        if not 0 <= int(action) < NUM_ACTIONS:
            raise ValueError(f"action {action} is not one of 0 left, 1 right, 2 forward")
        obs, reward, terminated, truncated, info = super().step(int(action))
        if tuple(int(v) for v in self.front_pos) == self.target_pos:  # MiniGrid GoTo: facing the object
            terminated = True
            reward = self._reward()
        return obs, float(reward), terminated, truncated, {**info, "target": self.target_pos}

    def gen_obs(self) -> dict[str, Any]:
        obs = super().gen_obs()
        obs["agent_pos"] = np.array(self.agent_pos, dtype=np.int64)
        return obs


def render_layout(layout: str | Layout, tile_size: int = 32, start: tuple[int, int, int] | None = None):
    """MiniGrid's RGB render of a layout (uint8, H x W x 3), the agent in the hallway facing up unless ``start``."""
    world = layout if isinstance(layout, Layout) else get_layout(layout)
    (colour, shape), _ = world.objects[0]
    env = ColourShapeEnv(layout=world, task=f"go to the {colour} {shape}", render_mode="rgb_array",
                         tile_size=tile_size, highlight=False)
    free = world.free_cells()
    env.reset(seed=0, options={"start": start or (*free[len(free) - world.width // 2], 3)})
    return env.render()
