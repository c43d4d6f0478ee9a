"""BabyAI (and any MiniGrid mission) as CLIP-RL tasks: suites, one environment per instruction, egocentric policy
input, a vector environment on worker processes, and the convergence rule for levels with random layouts.

The interface other modules use (everything else here is internal):

- **Suite files** (``data/babyai_*.yaml``), read by :func:`cliprl_cli.clip_rl.tasks.load_suite` when the YAML says
  ``kind: babyai``::

      name: babyai-anchor
      kind: babyai
      tasks:                       # instruction -> the gymnasium id of the level that poses it
        go to the red ball: BabyAI-GoToRedBall-v0
      base_tasks: [...]            # the sources
      target: go to the red key    # the default transfer target
      targets: [...]               # optional: every target the suite is meant for (``target`` first)
      hidden: 256                  # optional: hidden units of every policy of the suite (default 64)
      lr: 0.001                    # optional: PPO's learning rate in train-base and transfer (default 2.5e-3)

  parsed by :func:`parse_suite` into a :class:`BabyAISuite`, which answers the questions the commands ask of a suite
  (``base_tasks``, ``target``, ``fixes_world`` (True), ``goal``, ``check_size``, ``grid_size``, ``label``,
  ``world``, ``policy_spec_fields``, ``record``, ``env_factory``) plus ``environment(instruction)``.
- :func:`make_env` ``(suite, instruction, seed=None) -> gymnasium.Env``: MiniGrid's own level, every episode's
  mission equal to the instruction (see *Missions* below); an instruction the level can never pose is refused with
  one line (:class:`~cliprl_cli.errors.CliprlError`).
- :func:`encode_observation` ``(obs) -> np.ndarray`` float32 ``(OBS_DIM,)``; :func:`encode_batch` for many at once
  (torch). The policy encoding's name is :data:`ENCODING`; a :class:`~cliprl_cli.clip_rl.policy.PolicySpec` with it
  (``grid_size`` 7, the view's side) has ``OBS_DIM`` inputs and ``NUM_ACTIONS`` actions, the same for every task of
  every BabyAI suite, so their weights average.
- :func:`evaluate_policy` ``(act, suite, instruction, rule) -> dict``: the greedy evaluation on the rule's fixed seeds
  (success rate, mean length, the bot's mean length, the length ratio) and :func:`rule_converged` on its result:
  the convergence rule, usable on any policy of the suite. :class:`EpisodeRule` holds its three numbers, read from
  the PPO settings by :func:`episode_rule`.
- :class:`BabyAIVectorEnv`: ``num_envs`` levels stepped on ``workers`` processes (gymnasium's vector API);
  :class:`BabyAIBatch` adapts it to the PPO trainer (:func:`cliprl_cli.clip_rl.ppo.train_ppo`), which is what
  ``suite.env_factory(instruction)`` builds.

**Missions.** A BabyAI level draws a new mission with every layout. Where the level allows it, the named object is
fixed (``BabyAI-GoToObj-v0``: the one object is placed with the instruction's colour and type, the level's own
placement; the same distribution as redrawing, without 18 resets per episode; ``BabyAI-GoToLocal-v0``: the named
object placed and the other seven drawn from the other 17 colour x type pairs, the level's law conditioned on the
mission, without 22). Everywhere else the layout is redrawn until the mission matches: ``reset(seed=s)``, then
``reset()`` until the mission is the instruction, so an episode is a function of its seed (``BabyAI-GoToRedBall-v0`` and ``BabyAI-OpenRedDoor-v0`` nearly always or always
pose their one mission; ``GoToRedBall`` says "go to a red ball" when a distractor is a red ball too, and that
layout is redrawn). Which levels can pose which missions is a table of regular expressions for the shipped levels
(:data:`MISSIONS`, read from MiniGrid's level code); any other level is probed (:data:`PROBE_DRAWS` layouts) and an
instruction never seen is refused. MiniGrid prints a line for each rejected layout; those prints are silenced.

**Observations.** MiniGrid's egocentric 7x7 view (object, colour, state per cell) and the agent's direction, as the
BabyAI papers feed them: per cell a one-hot of the object type (11), of the colour (6) and of the state (3), the 49
cells in MiniGrid's ``image[i, j]`` order, then a one-hot of the direction (4): ``49 * 20 + 4 = 984`` inputs (BabyAI
1.1's "bag of words" cell embedding is a linear map of exactly these one-hots). The mission is not an input: one
policy serves one instruction, as in CLIP-RL.

**Convergence for random layouts.** An exhaustive check is impossible, so: the greedy policy (argmax) is run on
``eval_episodes`` fixed seeds (:func:`eval_seeds`, the same for every policy and method); converged when its success
rate is at least ``success_threshold`` and its episodes, over the seeds it solved, are on average at most
``1 + bot_length_bound`` times as long as MiniGrid's BabyAI bot's on the same seeds (``path_ratio``, the same name as
the exact worlds' ratio to the shortest path). The bot explores when the target is out of view, so it is a
reference, not an optimum. Defaults in :mod:`cliprl_cli.clip_rl.config` (``BABYAI_EVAL_EPISODES``,
``BABYAI_SUCCESS_THRESHOLD``, ``BABYAI_BOT_LENGTH_BOUND``), recorded in every policy's ``ppo`` config.

**Workers.** Each worker process steps its share of the levels (no per-level process as in gymnasium's
``AsyncVectorEnv`` or SB3's ``SubprocVecEnv``: one message per worker per step); ``workers=1`` runs in-process.
Episode ``k`` of level ``i`` has the seed ``SeedSequence([base, i, k])``, so a run does not depend on the number of
workers, and a checkpoint (the episode counters and each level's actions so far) is restored by replaying.
"""

from __future__ import annotations

import contextlib
import functools
import io
import multiprocessing as mp
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import gymnasium
import numpy as np

from ..errors import CliprlError
from ..validate import MAX_HIDDEN
from .tasks import suite_entry

KIND = "babyai"
ENCODING = "babyai-view-onehot"
VIEW = 7                     # MiniGrid's agent_view_size
NUM_ACTIONS = 7              # MiniGrid's Actions: left, right, forward, pickup, drop, toggle, done
# MiniGrid's OBJECT_TO_IDX (unseen, empty, wall, floor, door, key, ball, box, goal, lava, agent), COLOR_TO_IDX (red,
# green, blue, purple, yellow, grey) and STATE_TO_IDX (open, closed, locked) sizes (a test checks them).
NUM_OBJECTS, NUM_COLOURS, NUM_STATES = 11, 6, 3
CELL_DIM = NUM_OBJECTS + NUM_COLOURS + NUM_STATES
OBS_DIM = VIEW * VIEW * CELL_DIM + 4
COMPACT_DIM = VIEW * VIEW * 3 + 1  # what workers send: the raw image, flattened, then the direction (uint8)
COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")
_C = "(red|green|blue|purple|yellow|grey)"
# The missions each shipped level can pose (from MiniGrid 3.2's gen_mission and ObjDesc.surface: "a" when several
# objects match the description). A level not listed is probed instead.
MISSIONS: dict[str, str] = {
    "BabyAI-GoToRedBall-v0": r"go to (the|a) red ball",
    "BabyAI-GoToObj-v0": rf"go to the {_C} (ball|box|key)",
    "BabyAI-GoToLocal-v0": rf"go to (the|a) {_C} (ball|box|key)",
    "BabyAI-GoToDoor-v0": rf"go to (the|a) {_C} door",
    "BabyAI-OpenRedDoor-v0": r"open the red door",
    "BabyAI-Open-v0": rf"open (the|a) {_C} door",
}
# Levels whose target object is fixed to the instruction's instead of redrawn: the level's gen_mission conditioned on
# the mission (GoToObj: ~18 layouts per episode otherwise, GoToLocal: ~22, each with a reachability search).
PINNED = {"BabyAI-GoToObj-v0": "_pin_goto_obj", "BabyAI-GoToLocal-v0": "_pin_goto_local"}
PROBE_DRAWS = 500            # layouts drawn to learn whether an unlisted level can pose an instruction
MAX_REDRAWS = 10_000         # a level that needs more draws than this for one episode is an error, not a loop
EVAL_SEED_BASE = 2 ** 31     # evaluation seeds 2^31 + i; training seeds are below 2^31, so the two never meet
_SUITE_FIELDS = ("name", "kind", "tasks", "base_tasks", "target", "targets", "hidden", "lr")


# ------------------------------------------------------------------------------------------------ suites
@dataclass(frozen=True)
class BabyAISuite:
    """A task suite of MiniGrid levels: instruction -> gymnasium id, sources, targets.

    ``fixes_world`` is True: the architecture comes from the observation (not a ``--grid-size``), and each task's
    level comes from the suite."""

    name: str
    tasks: dict[str, str]          # instruction -> gymnasium id
    base_tasks: tuple[str, ...]
    target: str | None
    targets: tuple[str, ...]
    source: str
    hidden: int | None = None      # the suite's own architecture and learning rate (--hidden / --lr override them)
    lr: float | None = None

    fixes_world = True
    random_layouts = True          # converged by the episode rule (resolve_ppo fills its numbers)
    grid_size = VIEW               # what a record calls the world's size: the view's side

    @property
    def label(self) -> str:
        return self.name

    @property
    def world(self) -> str:
        return f"BabyAI suite {self.name}"

    @property
    def goals(self) -> dict[str, tuple[int, ...]]:
        return {t: () for t in self.tasks}

    def environment(self, instruction: str) -> str:
        """The gymnasium id of the level that poses ``instruction``; one line listing the known tasks otherwise."""
        return suite_entry(self.tasks, instruction, self.name, self.source)

    def goal(self, instruction: str, size: int | None = None) -> tuple[int, ...]:
        """No goal cell: the layout is random (an empty tuple, recorded as ``goal: []``); checks the name."""
        self.environment(instruction)
        return ()

    def check_size(self, size: int | None = None) -> dict[str, tuple[int, ...]]:
        return self.goals

    def mission_mode(self, instruction: str) -> str:
        """``pinned`` (the level places the named object) or ``redraw`` (layouts redrawn until the mission matches)."""
        return "pinned" if self.environment(instruction) in PINNED else "redraw"

    def policy_spec_fields(self) -> dict[str, Any]:
        """The observation-dependent fields of :class:`cliprl_cli.clip_rl.policy.PolicySpec`."""
        return {"grid_size": VIEW, "encoding": ENCODING}

    def record(self, instruction: str | None = None) -> dict[str, Any]:
        """What an artifact records about the world (with an instruction: its level and how its mission is held)."""
        out: dict[str, Any] = {"suite_kind": KIND}
        if instruction is not None:
            out.update({"environment": self.environment(instruction), "mission_mode": self.mission_mode(instruction)})
        return out

    def attributes(self, instruction: str) -> tuple[str, str]:
        """The instruction's last two words, ``(colour, object)`` ("open the blue door" -> ("blue", "door"))."""
        self.environment(instruction)  # a known task
        words = instruction.split()
        return (words[-2], words[-1]) if len(words) >= 2 else ("", instruction)

    def useful_group(self, target: str, sources: Sequence[str]) -> list[str]:
        """The sources that share the target's colour or its object (what a policy for the target must recognise);
        the oracle-group baseline averages exactly these."""
        colour, obj = self.attributes(target)
        useful = []
        for source in sources:
            source_colour, source_obj = self.attributes(source)
            if source_colour == colour or source_obj == obj:
                useful.append(source)
        return useful

    def env_factory(self, instruction: str, rule: "EpisodeRule | None" = None,
                    workers: int = 1) -> Callable[[int, Any], "BabyAIBatch"]:
        """A picklable ``(num_envs, generator) -> BabyAIBatch`` for ``instruction`` (the trainer calls it); ``rule``
        defaults to the configured defaults (:func:`default_rule`)."""
        rule = rule or default_rule()
        check_instruction(self.environment(instruction), instruction)
        return functools.partial(BabyAIBatch, self.environment(instruction), instruction, rule=rule, workers=workers)


def parse_suite(data: dict, source: str) -> BabyAISuite:
    """A :class:`BabyAISuite` from its YAML mapping; one line for an unknown field, an id that is not a registered
    BabyAI level, an instruction the level cannot pose, a base task or target missing from ``tasks``, or a target
    among the sources."""
    for key in data:
        if key not in _SUITE_FIELDS:
            raise CliprlError(f"{source}: unknown field {key!r} (known: {', '.join(_SUITE_FIELDS)})")
    if data.get("kind") != KIND:
        raise CliprlError(f"{source}: 'kind' must be {KIND!r}, got {data.get('kind')!r}")
    tasks_data = data.get("tasks")
    if not isinstance(tasks_data, dict) or not tasks_data:
        raise CliprlError(f"{source}: expected a non-empty 'tasks' mapping of instruction -> gymnasium id")
    tasks: dict[str, str] = {}
    for instruction, env_id in tasks_data.items():
        if not isinstance(instruction, str) or not instruction.strip():
            raise CliprlError(f"{source}: task names must be non-empty strings, got {instruction!r}")
        if not isinstance(env_id, str):
            raise CliprlError(f"{source}: task {instruction!r} must map to a gymnasium id string, got {env_id!r}")
        check_level(env_id, f"{source}: task {instruction!r}")
        if env_id in MISSIONS:  # listed levels are checked now; others when their environment is made
            check_instruction(env_id, instruction, where=f"{source}: ")
        tasks[instruction] = env_id
    lists = {}
    for key in ("base_tasks", "targets"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CliprlError(f"{source}: {key!r} must be a list of task names, got {value!r}"[:300])
        if len(set(value)) != len(value):
            raise CliprlError(f"{source}: {key!r} names {sorted({v for v in value if value.count(v) > 1})} twice")
        lists[key] = tuple(value)
    target = data.get("target")
    if target is not None and not isinstance(target, str):
        raise CliprlError(f"{source}: 'target' must be a task name, got {target!r}")
    targets = lists["targets"] or ((target,) if target else ())
    if target is not None and targets[0] != target:
        raise CliprlError(f"{source}: 'targets' must start with 'target' ({target!r})")
    for name in (*lists["base_tasks"], *targets):
        if name not in tasks:
            raise CliprlError(f"{source}: {name!r} is listed as a base task or target but is not in 'tasks'")
    for name in targets:
        if name in lists["base_tasks"]:
            raise CliprlError(f"{source}: the target {name!r} is also among the sources (base_tasks)")
    hidden, lr = data.get("hidden"), data.get("lr")
    if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int) or not 1 <= hidden <= MAX_HIDDEN):
        raise CliprlError(f"{source}: 'hidden' must be an integer between 1 and {MAX_HIDDEN}, got {hidden!r}")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf")):
        raise CliprlError(f"{source}: 'lr' must be a positive number, got {lr!r}")
    name = data.get("name", Path(source).stem)
    return BabyAISuite(name=str(name), tasks=tasks, base_tasks=lists["base_tasks"], target=target or
                       (targets[0] if targets else None), targets=targets, source=source, hidden=hidden,
                       lr=None if lr is None else float(lr))


@functools.lru_cache(maxsize=None)
def check_level(env_id: str, where: str = "") -> None:
    """One line unless ``env_id`` is a registered MiniGrid level whose missions BabyAI's bot can read (a
    ``RoomGridLevel``: the convergence rule measures lengths against that bot)."""
    import minigrid  # noqa: F401  (registers the ids)
    from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel

    prefix = f"{where}: " if where else ""
    if env_id not in gymnasium.registry:
        close = sorted(k for k in gymnasium.registry if k.startswith("BabyAI-"))[:8]
        raise CliprlError(f"{prefix}{env_id!r} is not a registered gymnasium id (BabyAI levels: "
                          f"{', '.join(close)}, ...)")
    with _quiet():
        env = gymnasium.make(env_id)
    level = env.unwrapped
    env.close()
    if not isinstance(level, RoomGridLevel):
        raise CliprlError(f"{prefix}{env_id} is not a BabyAI level (a RoomGridLevel); the convergence rule needs "
                          "BabyAI's bot, which reads BabyAI missions only")


@functools.lru_cache(maxsize=None)
def check_instruction(env_id: str, instruction: str, where: str = "") -> None:
    """One line unless the level ``env_id`` can pose ``instruction`` (by :data:`MISSIONS`, or by probing
    :data:`PROBE_DRAWS` layouts of an unlisted level)."""
    pattern = MISSIONS.get(env_id)
    if pattern is not None:
        if not re.fullmatch(pattern, instruction):
            raise CliprlError(f"{where}{env_id} never poses {instruction!r}: its missions are "
                              f"\"{_readable(pattern)}\"")
        return
    import minigrid  # noqa: F401

    seen: set[str] = set()
    with _quiet():
        env = gymnasium.make(env_id)
        for seed in range(PROBE_DRAWS):
            mission = env.reset(seed=EVAL_SEED_BASE + seed)[0]["mission"]
            if mission == instruction:
                env.close()
                return
            seen.add(mission)
    env.close()
    examples = ", ".join(repr(m) for m in sorted(seen)[:4])
    raise CliprlError(f"{where}{env_id} did not pose {instruction!r} in {PROBE_DRAWS} layouts (it posed "
                      f"{len(seen)} others, e.g. {examples})")


def _readable(pattern: str) -> str:
    return pattern.replace(_C, "<colour>").replace("(the|a)", "the|a")


@contextlib.contextmanager
def _quiet():
    """Silence MiniGrid's "Sampling rejected" prints (one per rejected layout, on stdout)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ------------------------------------------------------------------------------------------------ one environment
def _pin_goto_obj(level: Any, colour: str, kind: str) -> None:
    """``GoToObj``'s ``gen_mission`` with the object's colour and type given: the agent placed, then one object
    placed as the level places its one distractor (uniformly in the room)."""
    from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc

    level.place_agent()
    obj, _ = level.add_object(0, 0, kind, colour)
    level.instrs = GoToInstr(ObjDesc(obj.type, obj.color))


def _pin_goto_local(level: Any, colour: str, kind: str) -> None:
    """``GoToLocal``'s ``gen_mission`` conditioned on its mission being "go to the <colour> <kind>": the level
    draws ``num_dists`` objects independently (uniform colour and type, uniform free cells) and names one at random,
    "the" when no other object matches. Conditioned on that, the named object is the target and the other
    ``num_dists - 1`` are independent draws of the other 17 (colour, type) pairs; placement order does not change
    the joint law of uniform sequential placement, so the target is placed first. Reachability as the level checks
    it (a rejected layout is redrawn by MiniGrid)."""
    from minigrid.core.constants import COLOR_NAMES
    from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc

    level.place_agent()
    obj, _ = level.add_object(0, 0, kind, colour)
    placed = 1
    while placed < level.num_dists:
        other = (level._rand_elem(COLOR_NAMES), level._rand_elem(["key", "ball", "box"]))
        if other == (colour, kind):
            continue
        level.add_object(0, 0, other[1], other[0])
        placed += 1
    level.check_objs_reachable()
    level.instrs = GoToInstr(ObjDesc(obj.type, obj.color))


def _make_mission_env(env_id: str, instruction: str, seed: int | None = None):
    """The level with its mission held to ``instruction``."""
    import minigrid  # noqa: F401  (registers the ids)

    check_instruction(env_id, instruction)
    with _quiet():
        env = gymnasium.make(env_id)
    return MissionEnv(env, instruction, seed)


class MissionEnv(gymnasium.Wrapper, gymnasium.utils.RecordConstructorArgs):
    """A level whose every episode poses ``instruction``: a pinned level places the named object; others are
    reset with ``seed=s`` and then without a seed until the mission is ``instruction`` (deterministic in
    ``s``). The first reset without a seed uses the seed given to :func:`make_env`. Recorded in the env's spec,
    so ``gymnasium.make(env.spec)`` rebuilds the same environment."""

    def __init__(self, env, instruction: str, seed: int | None = None):
        gymnasium.utils.RecordConstructorArgs.__init__(self, instruction=instruction, seed=seed)
        super().__init__(env)
        if env.spec is not None and env.spec.id in PINNED:
            colour, kind = instruction.split()[-2:]
            level = env.unwrapped
            pin = globals()[PINNED[env.spec.id]]
            level.gen_mission = functools.partial(pin, level, colour, kind)
        self.instruction = instruction
        self._first_seed = seed
        self.draws = 0  # layouts drawn in the last reset (1: the first one already posed the instruction)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._first_seed is not None:
            seed = self._first_seed
        self._first_seed = None
        with _quiet():
            obs, info = self.env.reset(seed=seed, options=options)
            draws = 1
            while obs["mission"] != self.instruction:
                if draws >= MAX_REDRAWS:
                    raise CliprlError(f"{self.env.spec.id} did not pose {self.instruction!r} in {MAX_REDRAWS} "
                                      "layouts in a row")
                obs, info = self.env.reset(options=options)
                draws += 1
        self.draws = draws
        return obs, info


def make_env(suite: BabyAISuite, instruction: str, seed: int | None = None):
    """MiniGrid's level for ``instruction`` (a gymnasium.Env with MiniGrid's own observations, actions and rewards)
    whose every episode's mission is ``instruction``; ``seed`` seeds the first reset that is given none."""
    return _make_mission_env(suite.environment(instruction), instruction, seed)


# ------------------------------------------------------------------------------------------------ observations
_OFFSETS = np.array([0, NUM_OBJECTS, NUM_OBJECTS + NUM_COLOURS], dtype=np.int64)


def compact(obs: Mapping[str, Any]) -> np.ndarray:
    """The image flattened (``image[i, j, c]`` row-major) followed by the direction: uint8 ``(COMPACT_DIM,)``."""
    out = np.empty(COMPACT_DIM, dtype=np.uint8)
    out[:-1] = np.asarray(obs["image"], dtype=np.uint8).reshape(-1)
    out[-1] = int(obs["direction"])
    return out


def encode_compact(rows: np.ndarray) -> np.ndarray:
    """Compact rows ``(B, COMPACT_DIM)`` -> the policy input, float32 ``(B, OBS_DIM)``: per cell one-hots of
    object (11), colour (6), state (3); then a one-hot of the direction (4)."""
    rows = np.asarray(rows)
    batch = rows.shape[0]
    cells = rows[:, :-1].reshape(batch, VIEW * VIEW, 3).astype(np.int64)
    out = np.zeros((batch, OBS_DIM), dtype=np.float32)
    cell_base = (np.arange(VIEW * VIEW) * CELL_DIM)[None, :, None]
    hot = (cell_base + _OFFSETS[None, None, :] + cells).reshape(batch, -1)
    np.put_along_axis(out, hot, 1.0, axis=1)
    out[np.arange(batch), VIEW * VIEW * CELL_DIM + rows[:, -1].astype(np.int64)] = 1.0
    return out


def encode_observation(obs: Mapping[str, Any]) -> np.ndarray:
    """One MiniGrid observation (``image`` 7x7x3, ``direction``) -> float32 ``(OBS_DIM,)`` (the policy input)."""
    return encode_compact(compact(obs)[None])[0]


def encode_batch(rows: np.ndarray):
    """:func:`encode_compact` as a torch tensor (what the trainer feeds the network)."""
    import torch

    return torch.from_numpy(encode_compact(rows))


# ------------------------------------------------------------------------------------------------ the rule
@dataclass(frozen=True)
class EpisodeRule:
    """The convergence rule for random layouts: ``episodes`` greedy episodes on the fixed seeds
    :func:`eval_seeds`; converged at success rate >= ``success_threshold`` and a mean length (over solved seeds) at
    most ``1 + bot_length_bound`` times BabyAI's bot's on those seeds."""

    episodes: int
    success_threshold: float
    bot_length_bound: float

    def to_dict(self) -> dict[str, Any]:
        return {"eval_episodes": self.episodes, "success_threshold": self.success_threshold,
                "bot_length_bound": self.bot_length_bound}


def episode_rule(ppo: Any) -> EpisodeRule:
    """The rule a PPO config names (its ``eval_episodes``, ``success_threshold``, ``bot_length_bound``; see
    :func:`cliprl_cli.clip_rl.config.resolve_ppo`, which fills them on BabyAI suites)."""
    if ppo.eval_episodes is None or ppo.success_threshold is None or ppo.bot_length_bound is None:
        raise CliprlError("the BabyAI convergence rule needs eval_episodes, success_threshold and bot_length_bound "
                          "(resolve_ppo fills them for BabyAI suites)")
    return EpisodeRule(ppo.eval_episodes, ppo.success_threshold, ppo.bot_length_bound)


def default_rule() -> EpisodeRule:
    """The rule with the defaults of :mod:`cliprl_cli.clip_rl.config` (``BABYAI_*``)."""
    from .config import BABYAI_BOT_LENGTH_BOUND, BABYAI_EVAL_EPISODES, BABYAI_SUCCESS_THRESHOLD

    return EpisodeRule(BABYAI_EVAL_EPISODES, BABYAI_SUCCESS_THRESHOLD, BABYAI_BOT_LENGTH_BOUND)


def eval_seeds(n: int) -> list[int]:
    """The fixed evaluation seeds: the same for every policy, method and run (disjoint from training seeds)."""
    return [EVAL_SEED_BASE + i for i in range(n)]


def rule_converged(evaluation: Mapping[str, float], rule: EpisodeRule) -> bool:
    """The convergence rule on an evaluation from :func:`evaluate_policy` (or :meth:`BabyAIBatch.evaluate_greedy`).
    The length bound is over the solved seeds, so it holds vacuously when none was solved (which only a threshold
    of 0 lets through)."""
    lengths_ok = evaluation["success_rate"] == 0.0 or evaluation["path_ratio"] <= 1.0 + rule.bot_length_bound
    return evaluation["success_rate"] >= rule.success_threshold and lengths_ok


def summarize_episodes(success: Sequence[bool], lengths: Sequence[int], bot: Sequence[int]) -> dict[str, float]:
    """``success_rate``; ``path_ratio`` = sum of lengths over the sum of the bot's lengths, both over the solved
    seeds (inf when none was solved); ``mean_length`` over the solved seeds (0 when none); ``bot_mean_length``
    over every seed."""
    solved = [i for i, s in enumerate(success) if s]
    n = len(success)
    ours = sum(lengths[i] for i in solved)
    theirs = sum(bot[i] for i in solved)
    return {"success_rate": len(solved) / n if n else 0.0,
            "path_ratio": ours / theirs if solved and theirs > 0 else float("inf"),
            "mean_length": ours / len(solved) if solved else 0.0,
            "bot_mean_length": sum(bot) / n if n else 0.0}


def bot_episode(env) -> tuple[bool, int]:
    """Run BabyAI's bot on an environment just reset; returns (success, length)."""
    from minigrid.utils.baby_ai_bot import BabyAIBot

    bot = BabyAIBot(env.unwrapped)
    for t in range(1, env.unwrapped.max_steps + 1):
        _, reward, terminated, truncated, _ = env.step(bot.replan())
        if terminated or truncated:
            return bool(terminated and reward > 0), t
    return False, env.unwrapped.max_steps


# ------------------------------------------------------------------------------------------------ workers
class _Group:
    """The levels one worker steps: training levels (autoreset, seeded per episode) and evaluation levels."""

    def __init__(self, env_id: str, instruction: str, indices: Sequence[int], base: int):
        self.env_id, self.instruction = env_id, instruction
        self.indices = list(indices)
        self.base = base
        self.envs = [_make_mission_env(env_id, instruction) for _ in self.indices]
        self.episode = [0] * len(self.envs)
        self.actions: list[list[int]] = [[] for _ in self.envs]
        self.eval_envs: list[Any] = []

    def _seed(self, k: int) -> int:
        return int(np.random.SeedSequence([self.base, self.indices[k], self.episode[k]]).generate_state(1)[0] >> 1)

    def _reset_one(self, k: int) -> np.ndarray:
        self.actions[k] = []
        return compact(self.envs[k].reset(seed=self._seed(k))[0])

    def reset(self) -> np.ndarray:
        return np.stack([self._reset_one(k) for k in range(len(self.envs))])

    def step(self, actions: np.ndarray):
        n = len(self.envs)
        obs = np.empty((n, COMPACT_DIM), dtype=np.uint8)
        reward = np.zeros(n, dtype=np.float32)
        term = np.zeros(n, dtype=bool)
        trunc = np.zeros(n, dtype=bool)
        for k, env in enumerate(self.envs):
            a = int(actions[k])
            o, r, te, tr, _ = env.step(a)
            reward[k], term[k], trunc[k] = r, te, tr
            if te or tr:
                self.episode[k] += 1
                obs[k] = self._reset_one(k)
            else:
                self.actions[k].append(a)
                obs[k] = compact(o)
        return obs, reward, term, trunc

    def get_state(self) -> tuple[list[int], list[list[int]]]:
        return list(self.episode), [list(a) for a in self.actions]

    def set_state(self, episode: Sequence[int], actions: Sequence[Sequence[int]]) -> np.ndarray:
        """Replay: reset each level with its episode's seed and take its actions again; returns the observations."""
        obs = np.empty((len(self.envs), COMPACT_DIM), dtype=np.uint8)
        for k, env in enumerate(self.envs):
            self.episode[k] = int(episode[k])
            obs[k] = self._reset_one(k)
            for a in actions[k]:
                o, _, te, tr, _ = env.step(int(a))
                if te or tr:
                    raise CliprlError("a checkpoint's episode ended during its replay: the checkpoint does not "
                                      "belong to this level")
                obs[k] = compact(o)
            self.actions[k] = [int(a) for a in actions[k]]
        return obs

    # ---- evaluation on fixed seeds
    def eval_reset(self, seeds: Sequence[int]) -> np.ndarray:
        while len(self.eval_envs) < len(seeds):
            self.eval_envs.append(_make_mission_env(self.env_id, self.instruction))
        return np.stack([compact(self.eval_envs[k].reset(seed=int(s))[0]) for k, s in enumerate(seeds)]) \
            if len(seeds) else np.empty((0, COMPACT_DIM), dtype=np.uint8)

    def eval_step(self, actions: np.ndarray, active: np.ndarray):
        n = len(actions)
        obs = np.zeros((n, COMPACT_DIM), dtype=np.uint8)
        success = np.zeros(n, dtype=bool)
        done = np.zeros(n, dtype=bool)
        for k in range(n):
            if not active[k]:
                continue
            o, r, te, tr, _ = self.eval_envs[k].step(int(actions[k]))
            obs[k] = compact(o)
            done[k] = te or tr
            success[k] = te and r > 0
        return obs, success, done

    def bot_lengths(self, seeds: Sequence[int]) -> list[tuple[bool, int]]:
        env = _make_mission_env(self.env_id, self.instruction)
        out = []
        for s in seeds:
            env.reset(seed=int(s))
            out.append(bot_episode(env))
        env.close()
        return out

    def close(self) -> None:
        for env in self.envs + self.eval_envs:
            env.close()


def _worker(conn, env_id: str, instruction: str, indices: list[int], base: int) -> None:
    group = _Group(env_id, instruction, indices, base)
    try:
        while True:
            command, args = conn.recv()
            if command == "close":
                break
            try:
                conn.send(("ok", getattr(group, command)(*args)))
            except Exception as error:  # sent back whole, raised in the parent (a CliprlError stays one line)
                conn.send(("error", error))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        group.close()
        conn.close()


def _split(n: int, parts: int) -> list[list[int]]:
    """``range(n)`` in ``parts`` contiguous, nearly equal pieces (no empty piece)."""
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [list(range(bounds[i], bounds[i + 1])) for i in range(parts)]


class _Pool:
    """The worker groups behind one vector environment: in-process for one worker, else processes (spawned, so
    no torch state is forked) each holding a contiguous block of levels."""

    def __init__(self, env_id: str, instruction: str, num_envs: int, base: int, workers: int):
        self.blocks = _split(num_envs, workers)
        self.local: _Group | None = None
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        if len(self.blocks) == 1:
            self.local = _Group(env_id, instruction, self.blocks[0], base)
            return
        ctx = mp.get_context("spawn")
        for block in self.blocks:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, env_id, instruction, block, base), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def call(self, command: str, per_block_args: Sequence[tuple] | None = None) -> list[Any]:
        """``command`` on every group (with that group's arguments), results in block order."""
        args = per_block_args or [()] * len(self.blocks)
        if self.local is not None:
            return [getattr(self.local, command)(*args[0])]
        for conn, a in zip(self.conns, args):
            conn.send((command, a))
        results = []
        for conn in self.conns:
            status, value = conn.recv()
            if status == "error":
                raise value
            results.append(value)
        return results

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
            self.local = None
        for conn in self.conns:
            try:
                conn.send(("close", ()))
            except (BrokenPipeError, OSError):
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []


# ------------------------------------------------------------------------------------------------ vector env
class BabyAIVectorEnv:
    """``num_envs`` copies of one level with its mission held, stepped on ``workers`` processes; gymnasium's
    vector API (``reset``, ``step`` with same-step autoreset, ``close``) on compact uint8 observations
    ``(num_envs, COMPACT_DIM)`` (:func:`encode_compact` makes the policy input). ``seed`` draws the per-level
    episode seeds (``SeedSequence([seed, level, episode])``)."""

    metadata = {"autoreset_mode": "SameStep"}

    def __init__(self, env_id: str, instruction: str, num_envs: int, *, seed: int = 0, workers: int = 1):
        from gymnasium import spaces

        check_level(env_id)
        check_instruction(env_id, instruction)
        self.env_id, self.instruction = env_id, instruction
        self.num_envs = num_envs
        self.seed = int(seed)
        self.single_observation_space = spaces.Box(0, 255, (COMPACT_DIM,), np.uint8)
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, num_envs)
        self.pool = _Pool(env_id, instruction, num_envs, self.seed, workers)
        self._bot_cache: dict[int, list[tuple[bool, int]]] = {}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return np.concatenate(self.pool.call("reset")), {}

    def step(self, actions):
        actions = np.asarray(actions)
        parts = self.pool.call("step", [(actions[b],) for b in self.pool.blocks])
        obs, reward, term, trunc = (np.concatenate(x) for x in zip(*parts))
        return obs, reward, term, trunc, {}

    def get_state(self) -> dict[str, Any]:
        """Episode counters and each level's actions in its current episode (what a checkpoint restores)."""
        episode, actions = [], []
        for e, a in self.pool.call("get_state"):
            episode += e
            actions += a
        return {"episode": episode, "actions": actions}

    def set_state(self, state: Mapping[str, Any]) -> np.ndarray:
        args = [([state["episode"][i] for i in b], [state["actions"][i] for i in b]) for b in self.pool.blocks]
        return np.concatenate(self.pool.call("set_state", args))

    # ---- evaluation and the bot, on the workers' own levels
    def evaluate(self, act: Callable[[np.ndarray], np.ndarray], seeds: Sequence[int]) -> dict[str, list]:
        """Greedy episodes on ``seeds`` (``act``: compact rows -> actions); per seed success and length."""
        blocks = _split(len(seeds), len(self.pool.blocks))
        blocks += [[] for _ in range(len(self.pool.blocks) - len(blocks))]
        obs = np.concatenate(self.pool.call("eval_reset", [([seeds[i] for i in b],) for b in blocks]))
        n = len(seeds)
        active = np.ones(n, dtype=bool)
        success = np.zeros(n, dtype=bool)
        length = np.zeros(n, dtype=np.int64)
        while active.any():
            actions = np.asarray(act(obs))
            parts = self.pool.call("eval_step", [(actions[b], active[b]) for b in blocks])
            new_obs, ok, done = (np.concatenate(x) for x in zip(*parts))
            length[active] += 1
            success |= ok & active
            active &= ~done
            obs = new_obs
        return {"success": success.tolist(), "length": length.tolist()}

    def bot(self, seeds: Sequence[int]) -> list[tuple[bool, int]]:
        """BabyAI's bot on ``seeds``: (success, length) per seed (cached per number of seeds)."""
        if len(seeds) not in self._bot_cache:
            blocks = _split(len(seeds), len(self.pool.blocks))
            out: list[tuple[bool, int]] = []
            for part in self.pool.call("bot_lengths", [([seeds[i] for i in b],) for b in blocks]
                                       + [([],)] * (len(self.pool.blocks) - len(blocks))):
                out += part
            self._bot_cache[len(seeds)] = out
        return self._bot_cache[len(seeds)]

    def close(self) -> None:
        self.pool.close()

    def __del__(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.close()


def greedy_actor(policy: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Compact rows -> argmax actions of ``policy`` (encoded observations -> logits, torch)."""
    import torch

    def act(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return policy(encode_batch(rows)).argmax(dim=1).numpy()

    return act


def evaluate_on(venv: BabyAIVectorEnv, policy: Callable[[Any], Any], rule: EpisodeRule) -> dict[str, float]:
    """The greedy evaluation of ``policy`` (encoded observations -> logits) on the rule's seeds, against the bot."""
    seeds = eval_seeds(rule.episodes)
    episodes = venv.evaluate(greedy_actor(policy), seeds)
    bot = venv.bot(seeds)
    if not all(ok for ok, _ in bot):
        failed = sum(not ok for ok, _ in bot)
        raise CliprlError(f"BabyAI's bot failed {failed} of {len(seeds)} evaluation episodes of {venv.env_id} "
                          f"'{venv.instruction}'; the length bound needs a bot that solves them")
    return summarize_episodes(episodes["success"], episodes["length"], [n for _, n in bot])


def evaluate_policy(policy: Callable[[Any], Any], suite: BabyAISuite, instruction: str, rule: EpisodeRule, *,
                    workers: int = 1) -> dict[str, float]:
    """The convergence rule's evaluation of any policy of the suite (``policy``: encoded observations, torch
    ``(B, OBS_DIM)`` -> logits ``(B, NUM_ACTIONS)``): ``success_rate``, ``path_ratio``, ``mean_length``,
    ``bot_mean_length``; :func:`rule_converged` says whether it passes."""
    venv = BabyAIVectorEnv(suite.environment(instruction), instruction, 1, workers=workers)
    try:
        return evaluate_on(venv, policy, rule)
    finally:
        venv.close()


# ------------------------------------------------------------------------------------------------ the trainer's face
class BabyAIBatch:
    """:class:`BabyAIVectorEnv` as the PPO trainer drives a batched world (the interface of
    :class:`cliprl_cli.clip_rl.gridworld.BatchedGridWorld`): ``reset``, ``observe``, ``step`` on torch tensors,
    ``state_dict``/``load_state_dict`` for checkpoints, ``evaluate_greedy`` and ``is_converged`` (the rule)."""

    def __init__(self, env_id: str, instruction: str, num_envs: int, generator: Any = None, *,
                 rule: EpisodeRule, workers: int = 1):
        import torch

        base = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 0
        self.rule = rule
        self.size = VIEW
        self.max_steps = None
        self.venv = BabyAIVectorEnv(env_id, instruction, num_envs, seed=base, workers=workers)
        self.num_envs = num_envs
        self._obs = None

    def reset(self):
        self._obs = encode_batch(self.venv.reset()[0])
        return self._obs

    def observe(self, obs: Any = None):
        return self._obs if obs is None else obs

    def step(self, actions: Any):
        import torch

        obs, reward, term, trunc, _ = self.venv.step(actions.numpy())
        self._obs = encode_batch(obs)
        return self._obs, torch.from_numpy(reward), torch.from_numpy(term), torch.from_numpy(trunc)

    def state_dict(self) -> dict[str, Any]:
        """Tensors: the episode counters, the seed base, and each level's actions so far (padded with -1)."""
        import torch

        state = self.venv.get_state()
        width = max([len(a) for a in state["actions"]] + [1])
        actions = torch.full((self.num_envs, width), -1, dtype=torch.long)
        for i, a in enumerate(state["actions"]):
            actions[i, :len(a)] = torch.tensor(a, dtype=torch.long)
        return {"episode": torch.tensor(state["episode"], dtype=torch.long),
                "seed": torch.tensor([self.venv.seed], dtype=torch.long), "actions": actions}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if int(state["seed"][0]) != self.venv.seed:
            raise CliprlError("checkpoint's environment seed differs from this run's")
        actions = [[int(a) for a in row if a >= 0] for row in state["actions"]]
        self._obs = encode_batch(self.venv.set_state({"episode": state["episode"].tolist(), "actions": actions}))

    def evaluate_greedy(self, policy: Callable[[Any], Any]) -> dict[str, float]:
        return evaluate_on(self.venv, policy, self.rule)

    def is_converged(self, evaluation: Mapping[str, float]) -> bool:
        return rule_converged(evaluation, self.rule)

    def close(self) -> None:
        self.venv.close()
