"""Policy representations for worlds whose observations cannot be enumerated: a probe set, and rollouts.

``cliprl align --policy-repr`` chooses what the policy head reads (:class:`cliprl_cli.clip_rl.config.PolicyRepr`).
Two of the choices read what a policy *does*, and both go through this module on every world alike:

- ``behaviour``: the policy's action distribution on a fixed **probe set** of observations
  (:func:`probe_set`). Where the world's states can be listed (the paper's grid: every cell; the colour x shape
  world: every (x, y, direction)) the probe set is all of them, in the documented order of
  :func:`cliprl_cli.clip_rl.policy.probe_states`, exactly as before. Elsewhere (egocentric views of MiniGrid
  levels, where the same cell shows different views under different layouts) the set is **drawn**: the
  observations along seeded walks in each source task's environments, random walks and, where the world has a
  planner, the planner's own walks (so the set holds states a trained policy visits, not only the start room).
  A drawn set is stored beside the heads (``probes.safetensors`` + ``probes.json``) so that every later reader
  uses the same observations.
- ``trajectory``: a fixed, seeded set of the policy's **own rollouts** (:func:`policy_rollouts`): per step the
  encoded observation and the one-hot action, zero after the episode ends. A small GRU
  (:class:`TrajectoryEncoder`) reads each rollout, its top layer's state at the rollout's last step is
  averaged over the rollouts, and a linear layer maps the mean into the shared space; it is trained with the
  contrastive loss in place of the policy MLP head. Every policy rolls out from the same seeded starts, so two
  policies that act alike give equal inputs.

A walk runs in a *batched environment*: the interface of the worlds' batched twins
(``reset()``, ``observe(states)``, ``step(actions) -> (states, reward, terminated, truncated)`` with automatic
reset, randomness from the generator it was built with). :func:`env_factory` builds one for a task of any suite.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from ..errors import CliprlError
from ..store.artifacts import load_artifact, save_artifact, sidecar_path
from .colour_shape import ENCODING as XYDIR_ENCODING
from .gridworld import BatchedGridWorld
from .policy import PolicyNet, PolicySpec, probe_states
from .ppo import sample_actions

PROBES_FILE = "probes.safetensors"
PROBES_KIND = "probe-set"
GRID_ENCODING = "onehot-row-col"  # the paper's grid world (PolicySpec's default encoding)
# Encodings whose every state :func:`cliprl_cli.clip_rl.policy.probe_states` lists (one row per state).
ENUMERATED_ENCODINGS = (GRID_ENCODING, XYDIR_ENCODING)

EnvFactory = Callable[[int, torch.Generator], Any]


def enumerable(spec: PolicySpec) -> bool:
    """Whether the world's states can be listed, so that the probe set is every state (no drawing)."""
    return spec.encoding in ENUMERATED_ENCODINGS


def env_factory(suite: Any, instruction: str, spec: PolicySpec) -> EnvFactory:
    """``(num_envs, generator) -> batched environment`` of ``instruction``'s task: the suite's own world when it
    fixes one (its ``env_factory``; a BabyAI level is stepped in this process), else the paper's grid world of the
    policies' size with the task's goal."""
    if suite.fixes_world:
        return suite.env_factory(instruction)
    goal = suite.goal(instruction, spec.grid_size)
    return lambda num_envs, generator: BatchedGridWorld(spec.grid_size, goal, num_envs, generator=generator)


@dataclass
class Walks:
    """Walks of a batch of environments: ``obs`` (E, T, D), ``actions`` (E, T), and ``lengths`` (E,): the number of
    steps each walk took before its episode ended (the step that ended it included), or T. Entries after a walk's
    length are zero."""

    obs: torch.Tensor
    actions: torch.Tensor
    lengths: torch.Tensor


@torch.no_grad()
def walk(env: Any, act: Callable[[torch.Tensor], torch.Tensor], steps: int) -> Walks:
    """Step every environment of ``env`` from a fresh reset for ``steps`` steps, choosing ``act(obs)``'s actions,
    and keep each one's observations and actions until its first episode ends. Closes ``env`` when it can be
    closed (the worker processes of a BabyAI level)."""
    try:
        env.reset()
        obs = env.observe()
        count = obs.shape[0]
        out_obs = torch.zeros(count, steps, obs.shape[1])
        out_actions = torch.zeros(count, steps, dtype=torch.long)
        alive = torch.ones(count, dtype=torch.bool)
        lengths = torch.zeros(count, dtype=torch.long)
        for t in range(steps):
            action = act(obs)
            out_obs[alive, t] = obs[alive]
            out_actions[alive, t] = action[alive]
            lengths += alive.long()
            states, _, terminated, truncated = env.step(action)
            alive &= ~(terminated.bool() | truncated.bool())
            if not bool(alive.any()):
                break
            obs = env.observe(states)
        return Walks(out_obs, out_actions, lengths)
    finally:
        close = getattr(env, "close", None)
        if close is not None:
            close()


def sampler(logits_of: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator | None) -> Callable:
    """An ``act`` for :func:`walk`: actions drawn from the logits with ``generator``, or greedy when it is None."""
    if generator is None:
        return lambda obs: logits_of(obs).argmax(dim=1)
    return lambda obs: sample_actions(logits_of(obs), generator)


def policy_logits(params: Mapping[str, torch.Tensor], spec: PolicySpec) -> Callable[[torch.Tensor], torch.Tensor]:
    net = PolicyNet(spec)
    net.load_state_dict(dict(params))
    net.eval()
    return lambda obs: net(obs)[0]


# ---- the behaviour probe set

@dataclass
class ProbeSet:
    """The observations a behaviour representation asks every policy about, and how they were obtained."""

    observations: torch.Tensor  # (P, input_dim), float32
    info: dict[str, Any]        # {"kind": "every-state"} or the drawn set's settings, per-task counts and hash

    @property
    def drawn(self) -> bool:
        return self.info.get("kind") == "drawn"


def probe_set(suite: Any, spec: PolicySpec, instructions: Sequence[str], *, seed: int, episodes: int,
              steps: int, planner_walks: Callable[..., torch.Tensor] | None = None) -> ProbeSet:
    """The probe set of a library: every state when the world's states can be listed, else observations drawn
    from the environments of ``instructions`` (in that order): per task ``episodes`` uniformly random walks and,
    when ``planner_walks`` is given, its walks, each kept for at most ``steps`` observations.

    ``planner_walks(suite, instruction, spec, episodes=, steps=, seed=)`` returns the encoded observations (n, D)
    along a planner's walks in that task (the BabyAI bot). Each task's walks are seeded by ``seed`` and the task's
    position, so the set depends on nothing else."""
    if enumerable(spec):
        return ProbeSet(probe_states(spec), {"kind": "every-state"})
    parts, counts = [], {}
    for index, instruction in enumerate(instructions):
        generator = torch.Generator().manual_seed(seed * 10_007 + index)
        env = env_factory(suite, instruction, spec)(episodes, generator)
        uniform = lambda obs: torch.zeros(obs.shape[0], spec.num_actions)  # noqa: E731 (a random walk's logits)
        walks = walk(env, sampler(uniform, generator), steps)
        random_obs = flatten_walks(walks)
        planned = (planner_walks(suite, instruction, spec, episodes=episodes, steps=steps, seed=seed * 10_007 + index)
                   if planner_walks is not None else random_obs[:0])
        parts += [random_obs, planned]
        counts[instruction] = {"random": int(random_obs.shape[0]), "planner": int(planned.shape[0])}
    observations = torch.cat(parts).to(torch.float32).contiguous()
    info = {"kind": "drawn", "seed": seed, "episodes": episodes, "steps": steps, "tasks": counts,
            "planner": planner_walks is not None, "count": int(observations.shape[0]),
            "sha256": tensor_sha256(observations)}
    return ProbeSet(observations, info)


def planner_walks(suite: Any) -> Callable[..., torch.Tensor] | None:
    """The planner whose walks join a drawn probe set in ``suite``'s world: BabyAI's bot on BabyAI suites; None
    elsewhere (the grid worlds list every state, so they never draw)."""
    return babyai_bot_walks if suite.random_layouts else None


def babyai_bot_walks(suite: Any, instruction: str, spec: PolicySpec, *, episodes: int, steps: int,
                     seed: int) -> torch.Tensor:
    """The encoded observations along ``episodes`` episodes of MiniGrid's BabyAI bot in ``instruction``'s level,
    at most ``steps`` each. Episode k is reset with the seed ``seed * episodes + k`` modulo 2^31 (below the
    convergence rule's evaluation seeds, which start at 2^31)."""
    import numpy as np
    from minigrid.utils.baby_ai_bot import BabyAIBot

    from .babyai import encode_observation, make_env

    env = make_env(suite, instruction)
    rows = []
    try:
        for k in range(episodes):
            obs, _ = env.reset(seed=(seed * episodes + k) % 2 ** 31)
            bot = BabyAIBot(env.unwrapped)
            for _ in range(steps):
                rows.append(encode_observation(obs))
                obs, _, terminated, truncated, _ = env.step(bot.replan())
                if terminated or truncated:
                    break
    finally:
        env.close()
    return torch.from_numpy(np.stack(rows)).to(torch.float32)


def level_starts(suite: Any, instruction: str, episodes: int) -> torch.Tensor:
    """The encoded first observations of ``instruction``'s level on the convergence rule's ``episodes`` evaluation
    seeds: the start states a BabyAI policy is judged from (where ``transfer`` measures a start's entropy)."""
    import numpy as np

    from .babyai import encode_observation, eval_seeds, make_env

    env = make_env(suite, instruction)
    try:
        rows = [encode_observation(env.reset(seed=s)[0]) for s in eval_seeds(episodes)]
    finally:
        env.close()
    return torch.from_numpy(np.stack(rows)).to(torch.float32)


def flatten_walks(walks: Walks) -> torch.Tensor:
    """The observations of every walk up to its length, walk by walk, as one (n, D) tensor."""
    keep = torch.arange(walks.obs.shape[1]).unsqueeze(0) < walks.lengths.unsqueeze(1)
    return walks.obs[keep]


def tensor_sha256(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's float32 bytes: names a probe set in the heads' sidecar."""
    return hashlib.sha256(tensor.detach().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()


def save_probes(out_dir: str | Path, probes: ProbeSet) -> Path:
    """Write a drawn probe set as ``probes.safetensors`` + ``probes.json``."""
    return save_artifact(Path(out_dir) / PROBES_FILE, {"observations": probes.observations}, kind=PROBES_KIND,
                         extra={"probe_set": probes.info})


def remove_probes(out_dir: str | Path) -> None:
    """Remove a probe set left in ``out_dir`` by an earlier alignment that drew one, so that heads written without
    one are never read beside a set they did not use."""
    if not Path(out_dir).is_dir():  # nothing can be left there; writing the heads reports what is in the way
        return
    path = Path(out_dir) / PROBES_FILE
    for file in (path, sidecar_path(path)):
        file.unlink(missing_ok=True)


def load_probes(align_dir: str | Path) -> ProbeSet | None:
    """The drawn probe set stored beside heads in ``align_dir``; None when there is none (enumerated worlds and
    the other representations store none). A set whose bytes differ from its recorded hash fails in one line."""
    path = Path(align_dir) / PROBES_FILE
    if not path.exists():
        return None
    tensors, sidecar = load_artifact(path, kind=PROBES_KIND)
    info = sidecar.get("probe_set") or {}
    observations = tensors["observations"]
    if info.get("sha256") != tensor_sha256(observations):
        raise CliprlError(f"{path}: the observations do not match the hash in its sidecar")
    return ProbeSet(observations, info)


# ---- rollouts and the trajectory encoder

@dataclass
class Trajectories:
    """Rollouts of every policy of a library: ``steps`` (N, R, T, D + A), per step the encoded observation and the
    one-hot action (zero after a rollout's end), and ``lengths`` (N, R), each at least 1."""

    steps: torch.Tensor
    lengths: torch.Tensor

    @property
    def step_dim(self) -> int:
        return int(self.steps.shape[-1])


@torch.no_grad()
def policy_rollouts(params: Mapping[str, torch.Tensor], spec: PolicySpec, factory: EnvFactory, *, count: int,
                    steps: int, seed: int, sampled: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` rollouts of the policy ``params`` in its own task's environments: (count, steps, D + A) and the
    lengths (count,). The starts come from a generator seeded with ``seed`` (the same starts for every policy of a
    library); sampled actions from a second generator seeded with ``seed + 1``; greedy ones are the argmax."""
    env = factory(count, torch.Generator().manual_seed(seed))
    actions_from = torch.Generator().manual_seed(seed + 1) if sampled else None
    walks = walk(env, sampler(policy_logits(params, spec), actions_from), steps)
    onehot = nn.functional.one_hot(walks.actions, spec.num_actions).to(torch.float32)
    keep = (torch.arange(steps).unsqueeze(0) < walks.lengths.unsqueeze(1)).unsqueeze(2)
    return torch.cat((walks.obs, onehot * keep), dim=2), walks.lengths


def library_rollouts(params: Sequence[Mapping[str, torch.Tensor]], spec: PolicySpec,
                     factories: Sequence[EnvFactory], *, count: int, steps: int, seed: int,
                     sampled: bool) -> Trajectories:
    """:func:`policy_rollouts` of every policy, each in its own task's environments, stacked."""
    rolled = [policy_rollouts(p, spec, f, count=count, steps=steps, seed=seed, sampled=sampled)
              for p, f in zip(params, factories)]
    return Trajectories(torch.stack([r[0] for r in rolled]), torch.stack([r[1] for r in rolled]))


class TrajectoryEncoder(nn.Module):
    """Rollouts -> one vector per policy: a step layer (Linear + ReLU) on each (observation, action), a GRU over
    the steps, the top layer's state at each rollout's last step, the mean over the policy's rollouts, and a
    linear map into the shared space (the caller normalises)."""

    def __init__(self, step_dim: int, hidden: int, layers: int, out_dim: int):
        super().__init__()
        self.step = nn.Linear(step_dim, hidden)
        self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        steps, lengths = trajectories.steps, trajectories.lengths
        policies, rollouts, length, dim = steps.shape
        x = torch.relu(self.step(steps.reshape(policies * rollouts, length, dim)))
        states, _ = self.gru(x)  # (P R, T, H): the top layer's state after every step
        # the state after each rollout's last real step; the zero padding after it never reaches that state
        last = states[torch.arange(policies * rollouts), lengths.reshape(-1) - 1]
        return self.out(last.reshape(policies, rollouts, -1).mean(dim=1))
