"""The colour x shape world of the CLIP-RL paper's Figure 1: layouts and suites as data, and its batched torch twin.

A MiniGrid world (the gymnasium face is :class:`cliprl_cli.clip_rl.colour_shape_env.ColourShapeEnv`, registered as
``cliprl/ColourShape-v0``): a walled map with rooms, MiniGrid objects (key, ball, box) in MiniGrid colours, an
agent with a position and a direction and MiniGrid's three navigation actions (0 left, 1 right, 2 forward; forward
into a wall or an object leaves the agent in place). The instruction "go to the red key" succeeds, by MiniGrid's
GoTo convention (BabyAI's ``GoToInstr``), when after an action the agent *faces* the red key (the object is in the
cell in front of it). Reward on success is MiniGrid's ``1 - 0.9 * steps / max_steps``, 0 otherwise; the episode
is truncated after the layout's ``max_steps`` (MiniGrid: ``truncated`` once ``steps >= max_steps``, even on the
step that succeeds). The start is a uniformly random (free cell, direction) that does not already face the target
(a start that faces it would be an episode with nothing to do, as the grid world never starts on its goal).

This module is torch and YAML only (no MiniGrid import), so the training hot path stays light:

- :class:`Layout` and :func:`load_layouts`: the shipped layouts (``data/colour_shape_layouts.yaml``: ``by-colour``
  and ``by-shape``, one map, objects transposed between them).
- :class:`ColourShapeSuite`: a task suite that fixes its world (``environment``, ``layout``, instructions ->
  objects, ``base_tasks``, ``target``), read by :func:`cliprl_cli.clip_rl.tasks.load_suite` when the YAML names an
  ``environment``; bad suites fail with one line.
- :class:`BatchedColourShape`: thousands of environments stepped together through a precomputed successor table
  over states ``(free cell, direction)``, with the exhaustive greedy evaluation the convergence rule needs
  (shortest paths by breadth-first search over ``(cell, direction)``).

Policy input (:func:`encode_states`): one one-hot over the world's (x, y, direction) states (``W * H * 4``
inputs, 416 for the shipped 13x8 map), the same for every task of a world, so the weights of policies for
different objects are comparable coordinate by coordinate (what weight averaging and the alignment need): input
unit ``(y * W + x) * 4 + direction`` is the same state in every policy. Chosen on scratch training of base tasks,
before any transfer was run: the factored encoding one-hot x + one-hot y + one-hot direction (``W + H + 4``
inputs, the grid world's style) plateaued at 90.6% of starts for PPO's greedy policy (16 starts in the rooms'
left columns, whose way out leads away from the target's x, stuck in a blocked ``forward``) within 2M env steps in
three of four runs (hidden 64 and 128, gamma 0.99, lr 1e-3, entropy 0.001 likewise), while the state one-hot
converged in 70-80k env steps.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ..store import safe_yaml
from ..errors import CliprlError
from .tasks import suite_entry
from .greedy import greedy_walk

ENV_ID = "cliprl/ColourShape-v0"
LAYOUTS_FILE = "colour_shape_layouts.yaml"
ENCODING = "onehot-x-y-dir-state"
# MiniGrid's colour names (minigrid.core.constants.COLOR_NAMES, sorted) and the three pickable object types.
COLOURS = ("blue", "green", "grey", "purple", "red", "yellow")
SHAPES = ("ball", "box", "key")
ACTION_NAMES = ("left", "right", "forward")  # MiniGrid's Actions.left / right / forward (0, 1, 2)
NUM_ACTIONS = len(ACTION_NAMES)
DIR_VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))  # MiniGrid's DIR_TO_VEC: 0 right (+x), 1 down (+y), 2 left, 3 up
GROUP_BY = ("colour", "shape")
MAX_SIDE = 64
MAX_STEPS_BOUND = 10_000
_INSTRUCTION = re.compile(r"^go to the ([a-z]+) ([a-z]+)$")

Obj = tuple[str, str]  # (colour, shape)


@dataclass(frozen=True)
class Layout:
    """One fixed world: the walls, where each (colour, shape) object stands, which attribute groups them."""

    name: str
    map: tuple[str, ...]                          # rows y = 0.. of '#' (wall) and '.' (floor)
    objects: tuple[tuple[Obj, tuple[int, int]], ...]  # ((colour, shape), (x, y)), in the file's order
    group_by: str                                 # "colour" or "shape": the attribute whose objects share a room
    max_steps: int

    @property
    def width(self) -> int:
        return len(self.map[0])

    @property
    def height(self) -> int:
        return len(self.map)

    def is_wall(self, x: int, y: int) -> bool:
        return self.map[y][x] == "#"

    def position(self, obj: Obj) -> tuple[int, int]:
        for o, pos in self.objects:
            if o == obj:
                return pos
        raise CliprlError(f"layout {self.name!r} has no {obj[0]} {obj[1]}; it has "
                          f"{', '.join(f'{c} {s}' for (c, s), _ in self.objects)}")

    def free_cells(self) -> list[tuple[int, int]]:
        """Cells the agent can stand in (floor without an object), in row-major order (y, then x)."""
        occupied = {pos for _, pos in self.objects}
        return [(x, y) for y in range(self.height) for x in range(self.width)
                if not self.is_wall(x, y) and (x, y) not in occupied]


# ------------------------------------------------------------------------------------------------ reading data
def _parse_object(text: Any, where: str) -> Obj:
    """ "red key" -> ("red", "key"), with one-line errors for an unknown colour or shape."""
    if not isinstance(text, str) or len(text.split()) != 2:
        raise CliprlError(f"{where}: an object is \"colour shape\" (e.g. \"red key\"), got {text!r}")
    colour, shape = text.split()
    if colour not in COLOURS:
        raise CliprlError(f"{where}: unknown colour {colour!r} in {text!r}; MiniGrid's colours: {', '.join(COLOURS)}")
    if shape not in SHAPES:
        raise CliprlError(f"{where}: unknown shape {shape!r} in {text!r}; shapes: {', '.join(SHAPES)}")
    return colour, shape


def parse_layout(name: str, data: Any, where: str) -> Layout:
    """A :class:`Layout` from its YAML mapping (``map``, ``objects``, ``group_by``, ``max_steps``); one-line errors."""
    where = f"{where}: layout {name!r}"
    if not isinstance(data, dict):
        raise CliprlError(f"{where}: expected a mapping with map, objects, group_by, max_steps")
    unknown = set(data) - {"map", "objects", "group_by", "max_steps"}
    if unknown:
        raise CliprlError(f"{where}: unknown field(s) {sorted(unknown)} (known: map, objects, group_by, max_steps)")
    rows = data.get("map")
    if (not isinstance(rows, list) or not rows or not all(isinstance(r, str) for r in rows)
            or len({len(r) for r in rows}) != 1):
        raise CliprlError(f"{where}: 'map' must be a list of equal-length strings of '#' and '.'")
    width, height = len(rows[0]), len(rows)
    if not (3 <= width <= MAX_SIDE and 3 <= height <= MAX_SIDE):
        raise CliprlError(f"{where}: the map is {width}x{height}; each side must be 3-{MAX_SIDE}")
    bad = sorted({ch for r in rows for ch in r} - {"#", "."})
    if bad:
        raise CliprlError(f"{where}: map characters {bad} are not '#' (wall) or '.' (floor)")
    if any(ch != "#" for ch in rows[0] + rows[-1]) or any(r[0] != "#" or r[-1] != "#" for r in rows):
        raise CliprlError(f"{where}: the map's border must be wall ('#'), so the agent cannot leave the grid")
    group_by = data.get("group_by")
    if group_by not in GROUP_BY:
        raise CliprlError(f"{where}: 'group_by' must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    max_steps = data.get("max_steps")
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or not 1 <= max_steps <= MAX_STEPS_BOUND:
        raise CliprlError(f"{where}: 'max_steps' must be an integer in 1-{MAX_STEPS_BOUND}, got {max_steps!r}")
    objects_data = data.get("objects")
    if not isinstance(objects_data, dict) or not objects_data:
        raise CliprlError(f"{where}: 'objects' must be a non-empty mapping \"colour shape\" -> [x, y]")
    objects: list[tuple[Obj, tuple[int, int]]] = []
    seen: dict[tuple[int, int], str] = {}
    for text, pos in objects_data.items():
        obj = _parse_object(text, where)
        if (not isinstance(pos, list) or len(pos) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pos)):
            raise CliprlError(f"{where}: object {text!r} must be at [x, y] integers, got {pos!r}")
        x, y = pos
        if not (0 <= x < width and 0 <= y < height):
            raise CliprlError(f"{where}: object {text!r} at {pos} lies outside the {width}x{height} map")
        if rows[y][x] == "#":
            raise CliprlError(f"{where}: object {text!r} at {pos} is inside a wall")
        if (x, y) in seen:
            raise CliprlError(f"{where}: objects {seen[(x, y)]!r} and {text!r} are both in cell {pos}")
        seen[(x, y)] = text
        objects.append((obj, (x, y)))
    layout = Layout(name=name, map=tuple(rows), objects=tuple(objects), group_by=group_by, max_steps=max_steps)
    if not layout.free_cells():
        raise CliprlError(f"{where}: no free floor cell for the agent")
    return layout


@functools.lru_cache(maxsize=1)
def load_layouts() -> dict[str, Layout]:
    """The layouts the environment knows (``data/colour_shape_layouts.yaml``), by name."""
    source = f"<default {LAYOUTS_FILE}>"
    data = safe_yaml.loads(resources.files("cliprl_cli.data").joinpath(LAYOUTS_FILE).read_text(), source)
    return {name: parse_layout(name, body, source) for name, body in data["layouts"].items()}


def get_layout(name: Any) -> Layout:
    """A known layout by name; one line listing the known ones otherwise."""
    layouts = load_layouts()
    if name not in layouts:
        raise CliprlError(f"layout {name!r} is not one the environment {ENV_ID} knows; known: "
                          f"{', '.join(layouts)} (or give a mapping with map, objects, group_by, max_steps)")
    return layouts[name]


def object_of_instruction(instruction: str) -> Obj:
    """The object named by a MiniGrid GoTo mission, ``"go to the red key"`` -> ``("red", "key")``."""
    match = _INSTRUCTION.match(instruction.strip().lower()) if isinstance(instruction, str) else None
    if not match:
        raise CliprlError(f"task {instruction!r} is not of the form \"go to the <colour> <shape>\"")
    return _parse_object(f"{match.group(1)} {match.group(2)}", f"task {instruction!r}")


@dataclass(frozen=True)
class ColourShapeSuite:
    """A task suite that fixes its world: one layout, instructions naming its objects, sources and target.

    It answers the same questions as :class:`cliprl_cli.clip_rl.tasks.TaskSuite` (``goal``, ``check_size``, ``base_tasks``,
    ``target``), with goals as the named object's ``(x, y)``, and says how to build its policy and environments.
    """

    name: str
    environment: str
    layout: Layout
    tasks: dict[str, Obj]
    base_tasks: tuple[str, ...]
    target: str | None
    source: str

    fixes_world = True
    random_layouts = False  # one fixed layout (BabyAI suites draw a layout per episode)

    @property
    def goals(self) -> dict[str, tuple[int, int]]:
        return {t: self.layout.position(o) for t, o in self.tasks.items()}

    @property
    def world(self) -> str:
        """A short name of the world for progress lines and tables."""
        return f"colour-shape {self.layout.name} {self.layout.width}x{self.layout.height}"

    def object(self, instruction: str) -> Obj:
        return suite_entry(self.tasks, instruction, self.name, self.source)

    def goal(self, instruction: str, size: int | None = None) -> tuple[int, int]:
        """The ``(x, y)`` of the object ``instruction`` names (``size`` is ignored: the suite fixes the world)."""
        return self.layout.position(self.object(instruction))

    def check_size(self, size: int | None = None) -> dict[str, tuple[int, int]]:
        """Every instruction's goal (the world is fixed, so there is no size to check against)."""
        return self.goals

    def group(self, instruction: str) -> str:
        """The value of the layout's grouping attribute for ``instruction``'s object (its colour or its shape)."""
        colour, shape = self.object(instruction)
        return colour if self.layout.group_by == "colour" else shape

    def useful_group(self, target: str, sources: list[str]) -> list[str]:
        """The sources whose objects share the target's group (its room): same colour in ``by-colour``, same
        shape in ``by-shape``. The oracle-group baseline averages exactly these."""
        return [s for s in sources if self.group(s) == self.group(target)]

    def policy_spec_fields(self) -> dict[str, Any]:
        """The world-dependent fields of the policy architecture (:class:`cliprl_cli.clip_rl.policy.PolicySpec`)."""
        return {"grid_size": self.layout.width, "height": self.layout.height, "encoding": ENCODING}

    def record(self) -> dict[str, Any]:
        """What a policy or transfer artifact records about the world (checked when a library is read)."""
        return {"environment": self.environment, "layout": self.layout.name}

    def env_factory(self, instruction: str) -> Callable[[int, torch.Generator], "BatchedColourShape"]:
        """A picklable ``(num_envs, generator) -> BatchedColourShape`` for ``instruction`` (the trainer calls it)."""
        return functools.partial(BatchedColourShape, self.layout, self.object(instruction))


def parse_suite(data: dict, source: str) -> ColourShapeSuite:
    """A :class:`ColourShapeSuite` from a YAML mapping that names an ``environment``; one-line errors for unknown
    fields, environment, layout, colour or shape, two objects in one cell, an instruction naming an object the
    layout lacks, two instructions for one object, and a target among the sources."""
    known = ("name", "environment", "layout", "tasks", "base_tasks", "target")
    for key in data:
        if key not in known:
            raise CliprlError(f"{source}: unknown field {key!r} (known: {', '.join(known)})")
    if data.get("environment") != ENV_ID:
        raise CliprlError(f"{source}: unknown environment {data.get('environment')!r}; this suite format "
                          f"describes {ENV_ID} (a grid-world suite has no 'environment' field)")
    for key in ("name", "target"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise CliprlError(f"{source}: {key!r} must be a string, got {type(data[key]).__name__}")
    layout_data = data.get("layout")
    if isinstance(layout_data, str):
        layout = get_layout(layout_data)
    elif isinstance(layout_data, dict) and isinstance(layout_data.get("name"), str):
        layout = parse_layout(layout_data["name"], {k: v for k, v in layout_data.items() if k != "name"}, source)
    else:
        raise CliprlError(f"{source}: 'layout' must be a known layout's name ({', '.join(load_layouts())}) or a "
                          "mapping with name, map, objects, group_by, max_steps")
    tasks_data = data.get("tasks")
    if not isinstance(tasks_data, dict) or not tasks_data:
        raise CliprlError(f"{source}: expected a non-empty 'tasks' mapping of instruction -> \"colour shape\"")
    tasks: dict[str, Obj] = {}
    named: dict[Obj, str] = {}
    for instruction, text in tasks_data.items():
        if not isinstance(instruction, str) or not instruction.strip():
            raise CliprlError(f"{source}: task names must be non-empty strings, got {instruction!r}")
        obj = _parse_object(text, f"{source}: task {instruction!r}")
        if obj not in dict(layout.objects):
            _missing(source, instruction, obj, layout)
        if obj in named:
            raise CliprlError(f"{source}: tasks {named[obj]!r} and {instruction!r} both name the {obj[0]} {obj[1]}")
        named[obj] = instruction
        tasks[instruction] = obj
    base = data.get("base_tasks") or []
    if not isinstance(base, list) or not all(isinstance(b, str) for b in base):
        raise CliprlError(f"{source}: 'base_tasks' must be a list of task names, got {base!r}"[:300])
    if len(set(base)) != len(base):
        raise CliprlError(f"{source}: 'base_tasks' names {sorted({b for b in base if base.count(b) > 1})} "
                          "more than once")
    target = data.get("target")
    for name in (*base, *([target] if target else [])):
        if name not in tasks:
            raise CliprlError(f"{source}: {name!r} is listed as a base task or target but is not in 'tasks'")
    if target is not None and target in base:
        raise CliprlError(f"{source}: the target {target!r} is also among the sources (base_tasks); "
                          "transfer to a task must not start from its own policy")
    return ColourShapeSuite(name=str(data.get("name", Path(source).stem)), environment=ENV_ID, layout=layout,
                            tasks=tasks, base_tasks=tuple(base), target=target, source=source)


def _missing(source: str, instruction: str, obj: Obj, layout: Layout) -> None:
    raise CliprlError(f"{source}: task {instruction!r} names the {obj[0]} {obj[1]}, which layout {layout.name!r} "
                      f"does not contain; it has {', '.join(f'{c} {s}' for (c, s), _ in layout.objects)}")


def shipped_suite_path(layout: str) -> Path:
    """The shipped suite file of a layout (``by-colour`` -> ``data/colour_shape_by_colour.yaml``)."""
    get_layout(layout)
    return Path(str(resources.files("cliprl_cli.data").joinpath(f"colour_shape_{layout.replace('-', '_')}.yaml")))


# ------------------------------------------------------------------------------------------------ policy input
def encode_states(x: torch.Tensor, y: torch.Tensor, direction: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """One one-hot over the (x, y, direction) states of a ``width`` x ``height`` world: float32 (B, W * H * 4),
    unit ``(y * W + x) * 4 + direction`` (see the module docstring for why not three factored one-hots)."""
    out = torch.zeros(x.shape[0], width * height * 4, dtype=torch.float32)
    out.scatter_(1, ((y * width + x) * 4 + direction).long().unsqueeze(1), 1.0)
    return out


def probe_states(width: int, height: int) -> torch.Tensor:
    """Every (x, y, direction) of a ``width`` x ``height`` world, encoded, walls included (a fixed probe set that
    depends on the architecture only): ``(W * H * 4, W * H * 4)``, ordered y, x, direction (the identity)."""
    index = torch.arange(width * height * 4)
    d, cell = index % 4, index // 4
    return encode_states(cell % width, cell // width, d, width, height)


# ------------------------------------------------------------------------------------------------ batched twin
class BatchedColourShape:
    """``num_envs`` colour x shape worlds stepped together in torch; done environments reset themselves.

    The state of one environment is an index ``s = cell * 4 + direction`` over the layout's free cells
    (:meth:`Layout.free_cells` order) and a step count ``t``. A step is one lookup in the (S, 3) successor table,
    one in the ``facing`` table (the state faces the target: success) and the reward arithmetic. Attribute names
    (``cell``, ``t``, ``observe``, ``step``, ``state_dict``) follow :class:`cliprl_cli.clip_rl.gridworld.BatchedGridWorld`,
    so the PPO trainer and its checkpoints drive either world.
    """

    def __init__(self, layout: Layout, target: Obj, num_envs: int, generator: torch.Generator | None = None,
                 *, max_steps: int | None = None):
        self.layout = layout
        self.target = target
        self.goal = layout.position(target)
        self.num_envs = num_envs
        self.max_steps = max_steps or layout.max_steps
        self.generator = generator
        self.size = layout.width  # what progress lines and records call the world's size
        cells = layout.free_cells()
        self.cells = cells
        index = {c: i for i, c in enumerate(cells)}
        num_states = 4 * len(cells)
        successor = torch.empty(num_states, NUM_ACTIONS, dtype=torch.long)
        facing = torch.zeros(num_states, dtype=torch.bool)
        for i, (x, y) in enumerate(cells):
            for d in range(4):
                s = 4 * i + d
                successor[s, 0] = 4 * i + (d - 1) % 4                    # left: turn counter-clockwise
                successor[s, 1] = 4 * i + (d + 1) % 4                    # right: turn clockwise
                front = (x + DIR_VEC[d][0], y + DIR_VEC[d][1])
                successor[s, 2] = 4 * index[front] + d if front in index else s  # forward, blocked by walls/objects
                facing[s] = front == self.goal
        self.successor = successor
        self.facing = facing
        self.starts = (~facing).nonzero().squeeze(1)   # valid starts: every state not already facing the target
        xs = torch.tensor([c[0] for c in cells]).repeat_interleave(4)
        ys = torch.tensor([c[1] for c in cells]).repeat_interleave(4)
        ds = torch.arange(4).repeat(len(cells))
        self.observations = encode_states(xs, ys, ds, layout.width, layout.height)  # (S, W * H * 4)
        self.cell = torch.zeros(num_envs, dtype=torch.long)
        self.t = torch.zeros(num_envs, dtype=torch.long)  # call reset() before stepping (as the grid world)

    @property
    def num_states(self) -> int:
        return self.successor.shape[0]

    def state_index(self, x: int, y: int, direction: int) -> int:
        """The state index of the agent at ``(x, y)`` facing ``direction``."""
        return 4 * self.cells.index((x, y)) + direction

    def decode(self, states: torch.Tensor) -> list[tuple[int, int, int]]:
        """``(x, y, direction)`` of each state index."""
        return [(*self.cells[int(s) // 4], int(s) % 4) for s in states]

    def observe(self, cells: torch.Tensor | None = None) -> torch.Tensor:
        return self.observations[self.cell if cells is None else cells]

    def sample_starts(self, n: int) -> torch.Tensor:
        index = torch.randint(0, self.starts.numel(), (n,), generator=self.generator)
        return self.starts[index]

    def reset(self, starts: torch.Tensor | None = None) -> torch.Tensor:
        """Reset every environment (to the given state indices, if any); returns the states."""
        self.cell = self.sample_starts(self.num_envs) if starts is None else starts.long().clone()
        self.num_envs = self.cell.shape[0]
        self.t = torch.zeros(self.num_envs, dtype=torch.long)
        return self.cell

    def move(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The dynamics alone: the states reached from ``states`` by ``actions``; no reset."""
        return self.successor[states, actions]

    def step(self, actions: torch.Tensor):
        """Act in every environment; returns ``(state, reward, terminated, truncated)`` as MiniGrid computes them
        (the reward ``1 - 0.9 t / max_steps`` on success; ``truncated`` once ``t >= max_steps``, also on a success).
        Finished environments already show their new start (gymnasium's ``autoreset_mode=SAME_STEP``)."""
        state = self.move(self.cell, actions)
        self.t += 1
        terminated = self.facing[state]
        truncated = self.t >= self.max_steps
        reward = torch.where(terminated, 1.0 - 0.9 * self.t.float() / self.max_steps, torch.zeros(()))
        done = terminated | truncated
        if bool(done.any()):
            index = done.nonzero().squeeze(1)
            state[index] = self.sample_starts(index.numel())
            self.t[index] = 0
        self.cell = state
        return state, reward, terminated, truncated

    def state_dict(self) -> dict[str, Any]:
        return {"cell": self.cell.clone(), "t": self.t.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.cell = state["cell"].long().clone()
        self.t = state["t"].long().clone()
        self.num_envs = self.cell.shape[0]

    # ---- exhaustive evaluation (the convergence rule)
    @functools.cached_property
    def shortest(self) -> torch.Tensor:
        """Fewest actions from every state to a state facing the target (0 for those; breadth-first search over
        (cell, direction) on the reversed successor graph; -1 where the target cannot be reached)."""
        predecessors: list[list[int]] = [[] for _ in range(self.num_states)]
        for s, row in enumerate(self.successor.tolist()):
            for nxt in set(row):
                predecessors[nxt].append(s)
        dist = [-1] * self.num_states
        queue = deque()
        for s in self.facing.nonzero().squeeze(1).tolist():
            dist[s] = 0
            queue.append(s)
        while queue:
            s = queue.popleft()
            for p in predecessors[s]:
                if dist[p] < 0:
                    dist[p] = dist[s] + 1
                    queue.append(p)
        return torch.tensor(dist)

    @torch.no_grad()
    def evaluate_greedy(self, policy: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """Run the greedy policy from every valid start state at once: ``success_rate`` (fraction of starts that
        face the target within ``max_steps``), ``path_ratio`` (sum of path lengths over the sum of BFS-shortest
        ones, over the starts that succeeded; inf if none did) and ``mean_length``. One forward pass over all
        states gives the greedy successor table; following it is integer indexing."""
        states = torch.arange(self.num_states)
        successor = self.move(states, policy(self.observe(states)).argmax(dim=1))
        starts = self.starts
        return greedy_walk(successor, starts, self.shortest[starts].float(), self.max_steps,
                           lambda pos: self.facing[pos])
