"""The CLIP-RL paper's grid world, in two faces with the same dynamics.

An N x N grid; the agent starts in a uniformly random cell other than the goal; four moves (0 up, 1 down,
2 left, 3 right; a move into the wall leaves the agent in place); reward 1 on reaching the goal, which ends
the episode; 0 otherwise; an episode is truncated after ``max_steps`` moves (default ``4 * N``).

- :class:`BatchedGridWorld` steps thousands of environments at once in torch array code, with automatic reset;
  it is the hot path of every CLIP-RL experiment.
- :class:`GridGoalEnv` is one environment with the gymnasium API, registered as ``cliprl/GridGoal-v0``
  (``gymnasium.make("cliprl/GridGoal-v0", size=10, task="top left first")``) and per paper size as
  ``cliprl/GridGoal-{N}x{N}-v0`` (with ``max_episode_steps`` = 4N on the spec) by ``import cliprl_cli``
  (:data:`cliprl_cli.ENV_IDS`). Its observation is the agent's ``[row, col]``; the policy network sees
  :func:`encode_positions` of it. Render modes: ``"ansi"`` (text) and ``"rgb_array"`` (:func:`draw_grid`:
  a small numpy image, so gymnasium's ``RecordVideo`` can record episodes).

Both use the same move table :data:`MOVES`; ``tests/test_gridworld.py`` checks that they agree step by step.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from .tasks import load_suite

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right as (d_row, d_col)
ACTION_NAMES = ("up", "down", "left", "right")
NUM_ACTIONS = len(MOVES)


def default_max_steps(size: int) -> int:
    # Four times the side: a random walk rarely finishes, but any sensible policy (at most 2N-2 moves) does.
    return 4 * size


def shortest_path_lengths(size: int, goal: tuple[int, int]):
    """Manhattan distance from every cell to ``goal`` (an N x N integer tensor): the optimal path length."""
    rows = torch.arange(size).view(-1, 1)
    cols = torch.arange(size).view(1, -1)
    return (rows - goal[0]).abs() + (cols - goal[1]).abs()


def encode_positions(positions, size: int):
    """Observation encoding shared by every policy of one grid size: one-hot row concatenated with one-hot column.

    ``positions`` is an integer tensor (B, 2); the result is float32 (B, 2N). Two one-hots rather than one over
    all N^2 cells keep the input layer small (2N) and make weights of policies for different goals comparable
    coordinate by coordinate, which weight averaging and the contrastive alignment rely on.
    """
    out = torch.zeros(positions.shape[0], 2 * size, dtype=torch.float32, device=positions.device)
    out.scatter_(1, torch.stack((positions[:, 0], positions[:, 1] + size), dim=1), 1.0)
    return out


class BatchedGridWorld:
    """``num_envs`` grid worlds stepped together in torch; done environments reset themselves.

    State is two integer tensors: ``cell`` (B,), the flat index ``row * N + col``, and ``t`` (B,), the step count.
    A move is one lookup in a precomputed (N^2 * 4) successor table, which keeps a step to a dozen vector ops
    (the hot path of every experiment). Randomness comes only from ``generator`` so a seeded run is reproducible
    and its state can be checkpointed (:meth:`state_dict`).
    """

    def __init__(self, size: int, goal: tuple[int, int], num_envs: int, *, max_steps: int | None = None,
                 generator=None, device: str = "cpu"):
        if not (0 <= goal[0] < size and 0 <= goal[1] < size):
            raise ValueError(f"goal {goal} outside a {size}x{size} grid")
        self.size = size
        self.goal = (int(goal[0]), int(goal[1]))
        self.num_envs = num_envs
        self.max_steps = max_steps or default_max_steps(size)
        self.device = torch.device(device)
        self.generator = generator
        self.goal_cell = self.goal[0] * size + self.goal[1]
        cells = torch.arange(size * size, device=self.device)
        rows, cols = cells // size, cells % size
        moves = torch.tensor(MOVES, dtype=torch.long, device=self.device)
        next_rows = (rows.unsqueeze(1) + moves[:, 0]).clamp(0, size - 1)
        next_cols = (cols.unsqueeze(1) + moves[:, 1]).clamp(0, size - 1)
        self.successor = (next_rows * size + next_cols).reshape(-1)  # successor[cell * 4 + action]
        self.observations = encode_positions(torch.stack((rows, cols), dim=1), size)  # (N^2, 2N)
        self.cell = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.t = torch.zeros(num_envs, dtype=torch.long, device=self.device)

    @property
    def pos(self):
        """Positions as (B, 2) ``[row, col]``."""
        return torch.stack((self.cell // self.size, self.cell % self.size), dim=1)

    def observe(self, cells=None):
        """The policy's input for ``cells`` (default: the current ones): a row of the precomputed encoding table."""
        return self.observations[self.cell if cells is None else cells]

    def sample_starts(self, n: int):
        """``n`` uniformly random cells other than the goal: draw from N^2 - 1 cells and skip over the goal."""
        index = torch.randint(0, self.size * self.size - 1, (n,), generator=self.generator, device=self.device)
        return index + (index >= self.goal_cell).long()

    def reset(self, starts=None):
        """Reset every environment (to ``starts``, (B, 2) positions, if given); returns the cells."""
        if starts is None:
            self.cell = self.sample_starts(self.num_envs)
        else:
            starts = starts.to(self.device).long()
            self.cell = starts[:, 0] * self.size + starts[:, 1]
        self.num_envs = self.cell.shape[0]
        self.t = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        return self.cell

    def move(self, cells, actions):
        """The dynamics alone: the cells reached from ``cells`` by ``actions``, clamped at the walls; no reset."""
        return self.successor[cells * NUM_ACTIONS + actions]

    def step(self, actions):
        """Move every agent; returns ``(cell, reward, terminated, truncated)``.

        ``cell`` is the observation after automatic reset: an environment that terminated or was truncated on this
        step already shows its new start cell (as gymnasium's vector envs do with ``autoreset_mode=SAME_STEP``).
        """
        cell = self.move(self.cell, actions)
        self.t += 1
        terminated = cell == self.goal_cell
        done = terminated | (self.t >= self.max_steps)
        truncated = done & ~terminated
        # On the CPU a host check is free: draw new starts only for the environments that finished.
        if bool(done.any()):
            index = done.nonzero().squeeze(1)
            cell[index] = self.sample_starts(index.numel())
            self.t[index] = 0
        self.cell = cell
        return cell, terminated.float(), terminated, truncated

    def state_dict(self) -> dict[str, Any]:
        return {"cell": self.cell.clone(), "t": self.t.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cell = state["cell"].to(self.device).long().clone()
        self.t = state["t"].to(self.device).long().clone()
        self.num_envs = self.cell.shape[0]


# ------------------------------------------------------------------------------------------------ gymnasium face
class GridGoalEnv(gymnasium.Env):
    """One grid world with the gymnasium API; same dynamics as :class:`BatchedGridWorld`.

    Args:
        size: side of the square grid.
        task: an instruction from the task suite (default suite: the paper's).
        tasks: path to a task-suite YAML file, or None for the default suite.
        max_steps: episode cap (default ``4 * size``).
        goal: an explicit (row, col) goal instead of ``task``.
        render_mode: ``"ansi"`` renders the grid as text, ``"rgb_array"`` as an RGB image (:func:`draw_grid`,
            :data:`CELL_PX` pixels per cell).

    ``reset(options={"start": (row, col)})`` starts from a chosen cell.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, size: int = 10, task: str | None = "top left first", tasks: str | None = None,
                 max_steps: int | None = None, goal: tuple[int, int] | None = None,
                 render_mode: str | None = None):
        self.size = int(size)
        if goal is None:
            goal = load_suite(tasks).goal(task, self.size)
        self.goal = (int(goal[0]), int(goal[1]))
        self.task = task
        self.max_steps = max_steps or default_max_steps(self.size)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.observation_space = spaces.MultiDiscrete([self.size, self.size])
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self._pos = np.zeros(2, dtype=np.int64)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and options.get("start") is not None:
            start = tuple(int(v) for v in options["start"])
            if start == self.goal or not all(0 <= v < self.size for v in start):
                raise ValueError(f"start {start} must be a grid cell other than the goal {self.goal}")
        else:
            index = int(self.np_random.integers(0, self.size * self.size - 1))
            index += index >= self.goal[0] * self.size + self.goal[1]
            start = divmod(index, self.size)
        self._pos = np.array(start, dtype=np.int64)
        self._t = 0
        return self._pos.copy(), {"goal": self.goal}

    def step(self, action):
        d_row, d_col = MOVES[int(action)]
        self._pos[0] = min(max(self._pos[0] + d_row, 0), self.size - 1)
        self._pos[1] = min(max(self._pos[1] + d_col, 0), self.size - 1)
        self._t += 1
        terminated = bool(self._pos[0] == self.goal[0] and self._pos[1] == self.goal[1])
        truncated = (not terminated) and self._t >= self.max_steps
        return self._pos.copy(), float(terminated), terminated, truncated, {"goal": self.goal}

    def render(self):
        """The current state as text (``"ansi"``: A agent, G goal) or an RGB image (``"rgb_array"``)."""
        if self.render_mode == "rgb_array":
            return draw_grid(self.size, self.goal, (int(self._pos[0]), int(self._pos[1])))
        if self.render_mode != "ansi":
            return None
        rows = []
        for r in range(self.size):
            rows.append("".join("A" if (r, c) == tuple(self._pos) else "G" if (r, c) == self.goal else "."
                                for c in range(self.size)))
        return "\n".join(rows)


# ------------------------------------------------------------------------------------------------------ rendering
CELL_PX = 16  # pixels per cell: every frame side is a multiple of 16, which video encoders want
COLOURS = {"floor": (255, 255, 255), "line": (200, 200, 200), "goal": (46, 160, 67), "agent": (208, 48, 48)}


def draw_grid(size: int, goal: tuple[int, int], agent: tuple[int, int], cell_px: int = CELL_PX):
    """An RGB image (uint8, ``size * cell_px`` square) of the grid: white floor, grey lines, the goal as a green
    square, the agent as a red disc (drawn over the goal when it stands there). Pure numpy, no display."""
    side = size * cell_px
    img = np.empty((side, side, 3), dtype=np.uint8)
    img[:] = COLOURS["floor"]
    img[::cell_px, :] = COLOURS["line"]
    img[:, ::cell_px] = COLOURS["line"]
    img[-1, :] = COLOURS["line"]
    img[:, -1] = COLOURS["line"]
    inset = max(cell_px // 8, 1)
    r0, c0 = goal[0] * cell_px, goal[1] * cell_px
    img[r0 + inset:r0 + cell_px - inset + 1, c0 + inset:c0 + cell_px - inset + 1] = COLOURS["goal"]
    yy, xx = np.mgrid[0:cell_px, 0:cell_px]
    centre = (cell_px - 1) / 2
    disc = (yy - centre) ** 2 + (xx - centre) ** 2 <= (0.36 * cell_px) ** 2
    r0, c0 = agent[0] * cell_px, agent[1] * cell_px
    img[r0:r0 + cell_px, c0:c0 + cell_px][disc] = COLOURS["agent"]
    return img


def register_envs() -> None:
    """Register the grid-world ids with gymnasium; ``import cliprl_cli`` already does (:data:`cliprl_cli.ENV_IDS`)."""
    from .. import register_envs as register_all

    register_all()


# The package registers the ids when gymnasium is imported (cliprl_cli/__init__.py); this module imports gymnasium,
# so by now they are registered. The call keeps that true even if the hook was bypassed (an importlib reload).
register_envs()
