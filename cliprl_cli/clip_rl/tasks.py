"""Task suites as data: a YAML file mapping instructions to goal cells.

Format (see ``data/gridworld_tasks.yaml``)::

    name: my-suite
    tasks:
      top left first: [0, 0]      # [row, col]; negative indices count from the far edge
    base_tasks: [...]             # optional: the sources the paper's experiment trains
    target: ...                   # optional: the transfer target

A goal resolves against a grid size: ``[0, -3]`` is ``(0, 7)`` in a 10x10 grid. Two tasks with one goal, a goal
outside the grid or an unknown instruction fail with one line that lists what is known.

A suite whose YAML names an ``environment`` fixes its own world instead (``data/colour_shape_*.yaml``: the MiniGrid
colour x shape world, ``environment: cliprl/ColourShape-v0``, a ``layout``, instructions -> objects); it is read
by :func:`cliprl_cli.clip_rl.colour_shape.parse_suite` into a :class:`~cliprl_cli.clip_rl.colour_shape.ColourShapeSuite`, which
answers the same questions (``goal``, ``check_size``, ``base_tasks``, ``target``) and has ``fixes_world = True``.

A suite whose YAML says ``kind: babyai`` names a MiniGrid level per instruction (``data/babyai_*.yaml``: instruction ->
gymnasium id such as ``BabyAI-GoToObj-v0``); it is read by :func:`cliprl_cli.clip_rl.babyai.parse_suite` into a
:class:`~cliprl_cli.clip_rl.babyai.BabyAISuite` (``fixes_world = True``, ``random_layouts = True``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from ..store import safe_yaml
from ..errors import CliprlError
from ..validate import check_grid_size

if TYPE_CHECKING:
    from .babyai import BabyAISuite
    from .colour_shape import ColourShapeSuite

DEFAULT_SUITE = "gridworld_tasks.yaml"
T = TypeVar("T")


def world_label(suite: Any, size: int) -> str:
    """How progress lines name a suite's world: a BabyAI suite's name, a colour-shape layout, or the grid's size."""
    if suite.random_layouts:
        return suite.label
    return suite.layout.name if suite.fixes_world else f"{size}x{size}"


def suite_entry(tasks: Mapping[str, T], instruction: str, suite: str, source: str) -> T:
    """``tasks[instruction]`` of every suite kind; an unknown instruction is one line listing the known ones."""
    if instruction not in tasks:
        known = ", ".join(repr(t) for t in tasks)
        raise CliprlError(f"unknown task {instruction!r} in suite {suite!r} (read from {source}); "
                          f"known tasks: {known}; --tasks FILE selects another suite")
    return tasks[instruction]


@dataclass(frozen=True)
class TaskSuite:
    """A grid-world suite: instructions -> goal cells, resolved against the grid size the command is given."""

    fixes_world = False  # the grid size comes from the command (colour-shape suites fix their world)
    random_layouts = False  # one fixed layout: converged by exhaustive paths, not an episode rule (BabyAI)

    name: str
    goals: dict[str, tuple[int, int]]  # instruction -> raw [row, col], possibly negative
    base_tasks: tuple[str, ...]
    target: str | None
    source: str

    def goal(self, instruction: str, size: int) -> tuple[int, int]:
        """The goal cell of ``instruction`` in a ``size`` x ``size`` grid."""
        return resolve_cell(suite_entry(self.goals, instruction, self.name, self.source), size, instruction)

    def check_size(self, size: int) -> dict[str, tuple[int, int]]:
        """Resolve every goal for ``size``; fail if one falls outside the grid or two coincide."""
        if size < 2:
            raise CliprlError(f"grid size must be at least 2, got {size}")
        check_grid_size(size)  # the documented upper bound (cliprl_cli.validate)
        resolved: dict[str, tuple[int, int]] = {}
        seen: dict[tuple[int, int], str] = {}
        for instruction in self.goals:
            cell = self.goal(instruction, size)
            if cell in seen:
                raise CliprlError(f"tasks {seen[cell]!r} and {instruction!r} share the goal {cell} in a "
                                  f"{size}x{size} grid (suite {self.source})")
            seen[cell] = instruction
            resolved[instruction] = cell
        return resolved


def resolve_cell(cell: tuple[int, int], size: int, instruction: str = "") -> tuple[int, int]:
    row, col = cell
    r = row + size if row < 0 else row
    c = col + size if col < 0 else col
    if not (0 <= r < size and 0 <= c < size):
        raise CliprlError(f"goal {list(cell)} of task {instruction!r} lies outside a {size}x{size} grid")
    return r, c


def slug(instruction: str) -> str:
    """A file-system name for an instruction: ``"top left first"`` -> ``top-left-first``."""
    return re.sub(r"[^a-z0-9]+", "-", instruction.lower()).strip("-") or "task"


def load_suite(path: str | Path | None = None) -> "TaskSuite | ColourShapeSuite | BabyAISuite":
    """Load a suite from ``path``, or the paper's default suite shipped with the package.

    A YAML mapping with an ``environment`` field is a world-fixing suite (:mod:`cliprl_cli.clip_rl.colour_shape`)."""
    if path is None:
        source = f"<default {DEFAULT_SUITE}>"
        data = safe_yaml.loads(resources.files("cliprl_cli.data").joinpath(DEFAULT_SUITE).read_text(), source)
    else:
        path = Path(path)
        if not path.is_file():
            raise CliprlError(f"task suite not found: {path}")
        data = safe_yaml.load_file(path)  # no aliases or duplicate keys, size and depth bounds, UTF-8
        source = str(path)
    if isinstance(data, dict) and "kind" in data:  # a suite of MiniGrid levels (data/babyai_*.yaml)
        from .babyai import parse_suite as parse_babyai_suite

        return parse_babyai_suite(data, source)
    if isinstance(data, dict) and "environment" in data:
        from .colour_shape import parse_suite

        return parse_suite(data, source)
    safe_yaml.check_suite_types(data, source)
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict) or not data["tasks"]:
        raise CliprlError(f"{source}: expected a mapping with a non-empty 'tasks' mapping of instruction -> [row, col]")
    goals: dict[str, tuple[int, int]] = {}
    for instruction, cell in data["tasks"].items():
        if (not isinstance(cell, (list, tuple)) or len(cell) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in cell)):
            raise CliprlError(f"{source}: task {instruction!r} must map to [row, col] integers, got {cell!r}")
        goals[str(instruction)] = (int(cell[0]), int(cell[1]))
    base = tuple(data.get("base_tasks") or ())
    target = data.get("target")
    for name in (*base, *([target] if target else [])):
        if name not in goals:
            raise CliprlError(f"{source}: {name!r} is listed as a base task or target but has no goal")
    return TaskSuite(name=str(data.get("name", Path(source).stem)), goals=goals, base_tasks=base,
                     target=target, source=source)
