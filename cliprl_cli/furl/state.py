"""Everything a FuRL run mutates, in one object that saves itself to a checkpoint and restores itself from one.

A checkpoint (``OUT/checkpoint.safetensors`` + ``.json``, written by
:func:`cliprl_cli.store.checkpoint.save_checkpoint`) holds :meth:`RunState.to_checkpoint`'s ``(tensors, state)``:
the SAC agents with their optimizers, the heads and their optimizer, the filled part of the replay buffer and the
alignment store, the transitions whose embeddings were in flight, the per-environment episode bookkeeping, the loss
accumulators (in their key order: it is the key order of the curve points), the timings, and every RNG (torch
generator, torch global/CUDA, numpy generator, numpy global, python, the evaluation environment's).

MuJoCo/Meta-World state is not serialised: it is rebuilt by *replay*. Each environment's current episode is
recorded as the RNG states its reset drew from (Meta-World draws random goals from the global ``np.random``, or
from ``env.unwrapped.np_random`` when seeded) and the actions taken since; :meth:`RunState.restore` gives a freshly
built environment those RNG states back, resets it and re-steps the actions (at most 499, no rendering). MuJoCo is
deterministic for the same inputs on the same build, so this restores everything, including Python-side
attributes (``_prev_obs``, path length, task targets) and wrapper counters that a qpos/qvel snapshot would miss;
the replayed observation is compared with the saved one and a mismatch (another MuJoCo build) is reported. The
evaluation environment is always between episodes at a checkpoint, so its RNG states are enough.
"""

from __future__ import annotations

import concurrent.futures
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from ..store.formats import FurlPoint

# 2: optimizers are cliprl_cli.adam.Adam (state as tensors; SAC's actor and log(alpha) share one)
# 3: the count of training steps with task success (the Relay baseline's stop)
CHECKPOINT_FORMAT = 3
TIMING_KEYS = ("env", "render", "embed_wait", "update", "eval")
_SAC_OPTIMIZERS = ("actor_opt", "critic_opt")


class Transitions(NamedTuple):
    """One environment step of every environment (the rows of the replay buffer, less the embeddings)."""

    obs: np.ndarray        # (num_envs, obs_dim) float32, the observation acted on
    act: np.ndarray        # (num_envs, act_dim) float32
    r_task: np.ndarray     # (num_envs,) float32, success - 1
    final_obs: np.ndarray  # (num_envs, obs_dim) the observation after the step (before any reset)
    done: np.ndarray       # (num_envs,) bool, the episode ended here
    success: np.ndarray    # (num_envs,) bool


class PixelTransitions(NamedTuple):
    """One agent step of every environment with pixels (``--obs pixels``): the rows the frame buffer gets."""

    view: np.ndarray         # (num_envs, 3, S, S) uint8, the agent's view of the frame after the step
    act: np.ndarray          # (num_envs, act_dim) float32
    r_task: np.ndarray       # (num_envs,) float32, sum of success - 1 over the repeated steps
    done: np.ndarray         # (num_envs,) bool, the episode ended here
    success: np.ndarray      # (num_envs,) bool, success at the last repeated step (what the frame shows)
    reset_view: np.ndarray   # (num_envs, 3, S, S) uint8, the next episode's reset frame where done (else zeros)


class Pending(NamedTuple):
    """Transitions waiting for their frames' embeddings (computed on a background thread)."""

    item: Transitions
    emb: concurrent.futures.Future | None


@dataclass
class RunState:
    """Everything the loop mutates (what a checkpoint saves); the environments and the VLM are not state."""

    agent: Any                     # the evaluated SAC agent (trained on the variant's reward)
    relay_agent: Any               # the task-reward SAC agent of the relay variants, else None
    heads: Any                     # reward heads f_L, f_I (rewards.Heads) of the variants with heads, else None
    heads_opt: Any                 # their Adam when they are aligned, else None
    buffer: Any                    # buffer.ReplayBuffer
    store: Any                     # buffer.AlignmentStore of the VLM variants, else None
    np_rng: Any                    # numpy Generator: random actions, relay noise and relay lengths
    torch_gen: Any                 # torch Generator: batch sampling
    step: int = 0                  # environment steps so far (summed over the environments)
    episodes: int = 0              # finished training episodes
    updates: int = 0               # gradient steps of the agent
    relay_on: bool = False         # relay still runs (it stops for good after enough positive frames)
    train_successes: int = 0       # finished training episodes with a success
    success_steps: int = 0         # committed training env steps with task success (relay_stop "success-steps")
    curve: list[FurlPoint] = field(default_factory=list)  # the curve points so far
    # per-environment episode bookkeeping (one entry per environment)
    obs: Any = None                                    # current observations, float32 (num_envs, obs_dim)
    ep_step: Any = None                                # steps into the current episode
    relay_len: Any = None                              # relay turn length of the current episode
    first_agent: Any = None                            # 0: the VLM agent starts the episode, 1: the task agent
    ep_success: Any = None                             # a success seen in the current episode
    traj_emb: list = field(default_factory=list)       # embeddings of the current trajectory (alignment store)
    traj_success: list = field(default_factory=list)   # their success flags
    ep_actions: list = field(default_factory=list)     # actions of the current episode (replayed on resume)
    ep_start_rng: list = field(default_factory=list)   # RNG states the current episode's reset drew from
    stack: Any = None                                  # pixels: each env's frame stack (num_envs, K, 3, S, S) uint8
    # the step whose embeddings are being computed
    pending: Pending | None = None
    # sums of the update statistics since the last curve point, and their count
    acc: dict = field(default_factory=dict)
    acc_n: int = 0
    # wall-clock bookkeeping (only timing fields of the artifacts depend on it)
    timings: dict = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))
    t_start: float = field(default_factory=time.perf_counter)
    last_eval_wall: float | None = None                # wall clock of the last curve point (None: t_start)
    last_eval_step: int = 0                            # step of the last curve point
    last_checkpoint_wall: float = 0.0                  # wall clock of the last checkpoint
    resumed_from: int | None = None                    # step this process resumed from, None for a fresh run

    def __post_init__(self) -> None:
        if self.last_eval_wall is None:
            self.last_eval_wall = self.t_start

    # ---------------------------------------------------------------- loss accumulators
    def accumulate(self, stats: dict[str, Any]) -> None:
        """Add one update's statistics to the sums (first-seen key order is kept: it is the curve's key order)."""
        for key, value in stats.items():
            self.acc[key] = self.acc[key] + value if key in self.acc else value
        self.acc_n += 1

    def take_means(self) -> dict[str, float]:
        """The means of the accumulated statistics since the last call (as floats); the sums start again."""
        means = {key: float(value) / max(self.acc_n, 1) if torch.is_tensor(value) else value / max(self.acc_n, 1)
                 for key, value in self.acc.items()}
        self.acc, self.acc_n = {}, 0
        return means

    # ---------------------------------------------------------------- checkpoint
    def to_checkpoint(self, *, eval_env, device: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``(tensors, json state)`` of everything: the checkpoint's content (see the module docstring).

        Waits for the embeddings in flight and saves those transitions as they are: committing them now would move
        the relay switch-off and the alignment store one step earlier than in an unbroken run.
        """
        tensors: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for name, agent in (("agent", self.agent), ("relay_agent", self.relay_agent)):
            if agent is not None:
                meta[name] = _sac_to_tensors(agent, name, tensors)
        if self.heads is not None:
            tensors.update({f"heads/{k}": v for k, v in self.heads.state_dict().items()})
        if self.heads_opt is not None:
            tensors.update(self.heads_opt.state_tensors("heads_opt"))
        buf_tensors, meta["buffer"] = self.buffer.state_tensors("buffer")
        tensors.update(buf_tensors)
        if self.store is not None:
            store_tensors, meta["store"] = self.store.state_tensors("align")
            tensors.update(store_tensors)
        tensors["loop/obs"] = torch.from_numpy(self.obs)
        act_dim = eval_env.action_space.shape[0]
        for i in range(len(self.ep_actions)):
            tensors[f"env{i}/actions"] = torch.from_numpy(
                np.asarray(self.ep_actions[i], dtype=np.float32).reshape(-1, act_dim))
            if self.traj_emb[i]:
                tensors[f"env{i}/traj_emb"] = torch.stack(self.traj_emb[i])
        if self.stack is not None:
            tensors["loop/stack"] = torch.from_numpy(np.ascontiguousarray(self.stack))
        if self.pending is not None:
            emb = self.pending.emb.result() if self.pending.emb is not None else None
            tensors.update({f"pending/{k}": torch.from_numpy(np.ascontiguousarray(v))
                            for k, v in zip(type(self.pending.item)._fields, self.pending.item)})
            if emb is not None:
                tensors["pending/emb"] = emb
        for key, value in self.acc.items():
            if torch.is_tensor(value):
                tensors[f"acc/{key}"] = value
        tensors["rng/torch_gen"] = self.torch_gen.get_state()
        tensors["rng/torch_global"] = torch.get_rng_state()
        if device.type == "cuda":
            tensors["rng/torch_cuda"] = torch.cuda.get_rng_state(device)
        python_rng = random.getstate()
        state = {
            **meta, "step": self.step, "episodes": self.episodes, "updates": self.updates, "relay_on": self.relay_on,
            "train_successes": self.train_successes, "success_steps": self.success_steps, "curve": [p.to_json() for p in self.curve],
            "ep_step": self.ep_step.tolist(), "relay_len": self.relay_len.tolist(),
            "first_agent": self.first_agent.tolist(), "ep_success": self.ep_success.tolist(),
            "traj_success": self.traj_success, "ep_start_rng": self.ep_start_rng,
            "pending": self.pending is not None,
            "acc_keys": list(self.acc),
            "acc_scalars": {k: v for k, v in self.acc.items() if not torch.is_tensor(v)},
            "acc_n": self.acc_n,
            "timings": self.timings, "elapsed_s": time.perf_counter() - self.t_start,
            "last_eval_step": self.last_eval_step,
            "rng": {"np_rng": self.np_rng.bit_generator.state, "np_global": np_global_state(),
                    "python": [python_rng[0], list(python_rng[1]), python_rng[2]],
                    "eval_env": eval_env.unwrapped.np_random.bit_generator.state},
        }
        return tensors, state

    def restore(self, tensors, state: dict[str, Any], *, envs, eval_env, device: torch.device,
                source: str = "checkpoint") -> None:
        """Load what :meth:`to_checkpoint` saved into this freshly built state; replay the environments' episodes.

        The RNGs are set last: building and replaying the environments draws from the global numpy RNG.
        """
        for name, agent in (("agent", self.agent), ("relay_agent", self.relay_agent)):
            if agent is not None:
                _sac_from_tensors(agent, name, tensors)
        if self.heads is not None:
            self.heads.load_state_dict({k[len("heads/"):]: v for k, v in tensors.items() if k.startswith("heads/")})
        if self.heads_opt is not None:
            self.heads_opt.load_state_tensors(tensors, "heads_opt")
        self.buffer.load_state_tensors(tensors, state["buffer"], "buffer")
        if self.store is not None:
            self.store.load_state_tensors(tensors, state["store"], "align")
        self.step, self.episodes, self.updates = state["step"], state["episodes"], state["updates"]
        self.relay_on, self.train_successes = state["relay_on"], state["train_successes"]
        self.success_steps = state["success_steps"]
        self.curve = [FurlPoint.from_json(p, f"{source}: curve[{i}]") for i, p in enumerate(state["curve"])]
        self.ep_step = np.asarray(state["ep_step"], dtype=np.int64)
        self.relay_len = np.asarray(state["relay_len"], dtype=self.relay_len.dtype)
        self.first_agent = np.asarray(state["first_agent"], dtype=self.first_agent.dtype)
        self.ep_success = np.asarray(state["ep_success"], dtype=bool)
        self.traj_success = [list(flags) for flags in state["traj_success"]]
        self.traj_emb = [list(tensors[f"env{i}/traj_emb"].unbind(0)) if f"env{i}/traj_emb" in tensors else []
                         for i in range(len(envs))]
        self._replay_episodes(tensors, state, envs, source)
        self.pending = None
        if "loop/stack" in tensors:
            self.stack = tensors["loop/stack"].numpy().copy()
        if state["pending"]:
            kind = PixelTransitions if "pending/view" in tensors else Transitions
            item = kind(*(tensors[f"pending/{k}"].numpy().copy() for k in kind._fields))
            fut = None
            if "pending/emb" in tensors:
                fut = concurrent.futures.Future()
                fut.set_result(tensors["pending/emb"].clone())
            self.pending = Pending(item, fut)
        # In the saved key order: it is the order of the curve points' keys.
        self.acc = {key: (tensors[f"acc/{key}"].to(device) if f"acc/{key}" in tensors else state["acc_scalars"][key])
                    for key in state["acc_keys"]}
        self.acc_n = state["acc_n"]
        self.timings.update(state["timings"])
        self.t_start = time.perf_counter() - state["elapsed_s"]
        self.last_eval_step = state["last_eval_step"]
        self.resumed_from = self.step
        rng = state["rng"]
        self.np_rng.bit_generator.state = rng["np_rng"]
        set_np_global_state(rng["np_global"])
        random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
        eval_env.unwrapped.np_random.bit_generator.state = rng["eval_env"]
        self.torch_gen.set_state(tensors["rng/torch_gen"])
        torch.set_rng_state(tensors["rng/torch_global"])
        if device.type == "cuda" and "rng/torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng/torch_cuda"], device)

    def _replay_episodes(self, tensors, state: dict[str, Any], envs, source: str) -> None:
        """Rebuild each environment: reset from the RNG states its episode started with, re-step its actions."""
        saved_obs = tensors["loop/obs"].numpy().copy()
        replayed = np.empty_like(saved_obs)
        for i, env in enumerate(envs):
            start = state["ep_start_rng"][i]
            set_np_global_state(start["np_global"])
            env.unwrapped.np_random.bit_generator.state = start["env"]
            self.ep_start_rng[i] = start
            o = env.reset()[0]
            self.ep_actions[i] = [a.copy() for a in tensors[f"env{i}/actions"].numpy()]
            for a in self.ep_actions[i]:
                o = env.step(a)[0]
            replayed[i] = o
        if not np.array_equal(replayed, saved_obs):
            print(f"warning: {source}: replaying the environments did not reproduce the saved observations "
                  "(another MuJoCo/Meta-World build?); the run continues, but not bit-identically", file=sys.stderr)
        self.obs = replayed


def np_global_state() -> dict[str, Any]:
    """numpy's legacy global RNG state (Meta-World draws random goals from it) as JSON."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached)}


def set_np_global_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`np_global_state`."""
    np.random.set_state((state["kind"], np.asarray(state["keys"], dtype=np.uint32), state["pos"],
                         state["has_gauss"], state["cached_gaussian"]))


def _sac_to_tensors(agent, prefix: str, tensors: dict) -> dict[str, Any]:
    """Add a SAC agent's networks, log(alpha) and optimizer states to ``tensors``; return its JSON part (empty)."""
    tensors.update(agent.state_tensors(prefix))
    for name in _SAC_OPTIMIZERS:
        tensors.update(getattr(agent, name).state_tensors(f"{prefix}.{name}"))
    return {}


def _sac_from_tensors(agent, prefix: str, tensors) -> None:
    for name in ("actor", "critic", "critic_target"):
        head = f"{prefix}.{name}."
        getattr(agent, name).load_state_dict({k[len(head):]: v for k, v in tensors.items() if k.startswith(head)})
    with torch.no_grad():
        agent.log_alpha.copy_(tensors[f"{prefix}.log_alpha"])
    for name in _SAC_OPTIMIZERS:
        getattr(agent, name).load_state_tensors(tensors, f"{prefix}.{name}")
