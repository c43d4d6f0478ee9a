"""How the FuRL agent sees Meta-World (``--obs``): two observation strategies behind one interface.

The training loop (:mod:`cliprl_cli.furl.train`) never asks which one it has; it calls the methods of
:class:`Observation` on ``ctx.observation``:

- :class:`StateObs` (``--obs state``): SAC on the 39-d state; one environment step per agent step; frames are
  rendered only for the VLM and the saved samples; the replay buffer stores state pairs
  (:class:`~cliprl_cli.furl.buffer.ReplayBuffer`).
- :class:`PixelObs` (``--obs pixels``, the paper's Section 5.4): DrQ on the last ``frame_stack`` frames of the
  rendering camera; each action is repeated ``action_repeat`` times, then ONE frame is rendered (the frame the VLM
  embeds and the agent's next view); the frame buffer stores each frame once
  (:class:`~cliprl_cli.furl.frames.FrameBuffer`).

Each method keeps the order of its environment steps, renders and RNG draws: a run gives the same bytes whichever
way the code is arranged.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..store.atomic import atomic_write_bytes
from .buffer import ReplayBuffer
from .config import FurlConfig, ObsKind
from .drq import DrQ
from .env import EPISODE_STEPS
from .episodes import end_episode
from .frames import FrameBuffer, agent_view
from .goal_image import png_bytes
from .sac import SAC
from .state import PixelTransitions, Transitions

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState


class Observation(ABC):
    """The interface: what differs between learning from the state and learning from frames (a strategy that
    lacks a method cannot be built)."""

    kind: ObsKind
    renders_eval: bool  # the evaluation environment renders (the agent acts from frames)

    @abstractmethod
    def action_repeat(self, cfg: FurlConfig) -> int:
        """Environment steps per agent step."""

    @abstractmethod
    def make_agent(self, ctx: RunContext, obs_dim: int, act_dim: int) -> Any:
        """A fresh learner (its initial weights draw from torch's global RNG)."""

    @abstractmethod
    def make_buffer(self, ctx: RunContext, obs_dim: int, act_dim: int, embed_dim: int) -> Any:
        """The empty replay storage."""

    def start(self, st: RunState, ctx: RunContext) -> None:
        """After every environment's first reset: anything the observation needs beyond ``st.obs``."""

    @abstractmethod
    def agent_input(self, st: RunState, ctx: RunContext) -> torch.Tensor:
        """What the agents act on, one row per environment, on the device."""

    @abstractmethod
    def step(self, st: RunState, ctx: RunContext, actions: np.ndarray) -> tuple[Any, np.ndarray | None]:
        """Step every environment with ``actions``, start new episodes where one ended; return the step's
        transitions and the rendered frames ``(num_envs, H, W, 3)`` (None when nothing was rendered)."""

    @abstractmethod
    def store(self, st: RunState, item: Any, emb: torch.Tensor | None, goal_dist: torch.Tensor | None) -> None:
        """Write one step's transitions (with their frames' embeddings and goal distances) to the replay."""

    def can_learn(self, st: RunState) -> bool:
        """The replay holds a transition to learn from."""

    def update_args(self, st: RunState) -> tuple:
        """Extra positional arguments of the agent's ``update`` after the batch."""
        return ()

    def eval_reset(self, ctx: RunContext, env) -> Any:
        """Reset the evaluation environment; return the first observation."""

    def eval_input(self, ctx: RunContext, obs: Any) -> torch.Tensor:
        """One evaluation observation as the agent's input (a batch of one)."""

    def eval_next(self, ctx: RunContext, env, obs: Any, env_obs: np.ndarray) -> Any:
        """The next evaluation observation, after the action's environment steps (``env_obs``: the last one's)."""


class StateObs(Observation):
    """SAC on Meta-World's state vector."""

    kind = ObsKind.STATE
    renders_eval = False

    def action_repeat(self, cfg: FurlConfig) -> int:
        return 1

    def make_agent(self, ctx: RunContext, obs_dim: int, act_dim: int) -> SAC:
        cfg = ctx.cfg
        return SAC(obs_dim, act_dim, device=ctx.device, hidden=cfg.hidden, lr=cfg.lr, gamma=cfg.gamma, tau=cfg.tau,
                   style=cfg.sac_style)

    def make_buffer(self, ctx: RunContext, obs_dim: int, act_dim: int, embed_dim: int) -> ReplayBuffer:
        return ReplayBuffer(min(ctx.cfg.buffer_size, ctx.cfg.steps), obs_dim, act_dim, embed_dim, device=ctx.device)

    def agent_input(self, st: RunState, ctx: RunContext) -> torch.Tensor:
        return torch.as_tensor(st.obs, device=ctx.device)

    def step(self, st: RunState, ctx: RunContext, actions: np.ndarray) -> tuple[Transitions, np.ndarray | None]:
        """One environment step each; frames are rendered for the VLM variants and the saved samples only."""
        n = ctx.cfg.num_envs
        obs = st.obs
        t0 = time.perf_counter()
        next_obs = np.empty_like(obs)
        final_obs = np.empty_like(obs)
        success = np.zeros(n, dtype=bool)
        done = np.zeros(n, dtype=bool)
        for i, env in enumerate(ctx.envs):
            o2, _, term, trunc, info = env.step(actions[i])
            st.ep_actions[i].append(np.array(actions[i], dtype=np.float32))
            success[i] = bool(info["success"])
            done[i] = term or trunc
            final_obs[i] = o2
            next_obs[i] = o2
        t1 = time.perf_counter()
        st.timings["env"] += t1 - t0
        st.step += n
        frames = None
        sample_due = _sample_due(st, ctx, n)
        if ctx.uses_vlm and ctx.vlm_reads_state:
            frames = ctx.vlm.inputs(final_obs, st.step - n + 1)  # the synthetic VLM's rows: state, frame ids
        elif ctx.uses_vlm or sample_due:
            frames = np.stack([ctx.render(env) for env in ctx.envs])
            if sample_due:
                _save_sample(st, ctx, frames)
        st.timings["render"] += time.perf_counter() - t1
        st.ep_success |= success
        for i in range(n):
            st.ep_step[i] += 1
            if done[i]:
                next_obs[i] = end_episode(st, ctx, i)
        item = Transitions(obs.copy(), actions.astype(np.float32), success.astype(np.float32) - 1.0, final_obs, done,
                           success)
        st.obs = next_obs
        return item, frames

    def store(self, st: RunState, item: Transitions, emb: torch.Tensor | None,
              goal_dist: torch.Tensor | None) -> None:
        o, a, r_task, o2, _, _ = item
        st.buffer.add(o, a, r_task, o2, np.ones(len(o), dtype=np.uint8), emb, goal_dist)

    def can_learn(self, st: RunState) -> bool:
        return st.buffer.size >= 1

    def eval_reset(self, ctx: RunContext, env) -> np.ndarray:
        return env.reset()[0]

    def eval_input(self, ctx: RunContext, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, dtype=torch.float32, device=ctx.device)[None]

    def eval_next(self, ctx: RunContext, env, obs: np.ndarray, env_obs: np.ndarray) -> np.ndarray:
        return env_obs


class PixelObs(Observation):
    """DrQ on stacked frames of the rendering camera, the action repeated between two frames."""

    kind = ObsKind.PIXELS
    renders_eval = True

    def action_repeat(self, cfg: FurlConfig) -> int:
        return cfg.action_repeat

    def make_agent(self, ctx: RunContext, obs_dim: int, act_dim: int) -> DrQ:
        cfg = ctx.cfg
        shape = (3 * cfg.frame_stack, cfg.pixel_size, cfg.pixel_size)
        return DrQ(shape, act_dim, device=ctx.device, hidden=cfg.hidden, feature_dim=cfg.drq_feature_dim, lr=cfg.lr,
                   gamma=cfg.gamma, tau=cfg.tau, init_temperature=cfg.drq_init_temperature, pad=cfg.drq_pad,
                   style=cfg.sac_style, amp=cfg.amp)

    def make_buffer(self, ctx: RunContext, obs_dim: int, act_dim: int, embed_dim: int) -> FrameBuffer:
        """At most one frame per agent step plus one reset frame per episode is ever needed."""
        cfg = ctx.cfg
        frames_needed = -(-cfg.steps // cfg.action_repeat) + cfg.steps // EPISODE_STEPS + 2 * cfg.num_envs + 1
        return FrameBuffer(max(min(cfg.pixel_buffer_size, frames_needed), cfg.frame_stack + 1),
                           (3, cfg.pixel_size, cfg.pixel_size), act_dim, stack=cfg.frame_stack,
                           num_envs=cfg.num_envs, embed_dim=embed_dim, device=ctx.device)

    def start(self, st: RunState, ctx: RunContext) -> None:
        """Each env's reset frame starts its stack (repeated K times) and its stream in the frame buffer."""
        views = agent_view(np.stack([ctx.render(env) for env in ctx.envs]), ctx.cfg.pixel_size)
        st.stack = np.repeat(views[:, None], ctx.cfg.frame_stack, axis=1)
        for i in range(len(ctx.envs)):
            st.buffer.add(i, views[i], first=True)

    def agent_input(self, st: RunState, ctx: RunContext) -> torch.Tensor:
        """The stacked frames ``(n, 3K, S, S)`` uint8."""
        n, k, c, h, w = st.stack.shape
        return torch.as_tensor(st.stack.reshape(n, k * c, h, w), device=ctx.device)

    def step(self, st: RunState, ctx: RunContext, actions: np.ndarray) -> tuple[PixelTransitions, np.ndarray]:
        """Each environment repeats its action ``action_repeat`` times, then renders ONE frame (the frame the VLM
        embeds and the agent's next view, :mod:`cliprl_cli.furl.frames`); finished episodes reset and render their
        reset frame (the next stack's first frame).

        The task reward of an agent step is the sum over the repeated steps of ``success - 1`` (DrQ's action-repeat
        convention), ``success`` is the last repeated step's (what the frame shows; it labels the frame for
        alignment), and the episode's success counts any repeated step.
        """
        cfg, n, repeat = ctx.cfg, ctx.cfg.num_envs, ctx.cfg.action_repeat
        t0 = time.perf_counter()
        r_task = np.zeros(n, dtype=np.float32)
        success = np.zeros(n, dtype=bool)
        done = np.zeros(n, dtype=bool)
        next_obs = np.empty_like(st.obs)
        for i, env in enumerate(ctx.envs):
            for _ in range(repeat):
                o2, _, term, trunc, info = env.step(actions[i])
                st.ep_actions[i].append(np.array(actions[i], dtype=np.float32))
                success[i] = bool(info["success"])
                st.ep_success[i] |= success[i]
                r_task[i] += float(success[i]) - 1.0
                if term or trunc:
                    done[i] = True
                    break
            next_obs[i] = o2
        t1 = time.perf_counter()
        st.timings["env"] += t1 - t0
        st.step += n * repeat
        frames = np.stack([ctx.render(env) for env in ctx.envs])
        views = agent_view(frames, cfg.pixel_size)
        if _sample_due(st, ctx, n * repeat):
            _save_sample(st, ctx, frames)
        reset_views = np.zeros_like(views)
        st.stack = np.concatenate([st.stack[:, 1:], views[:, None]], axis=1)
        for i in range(n):
            st.ep_step[i] += repeat
            if done[i]:
                next_obs[i] = end_episode(st, ctx, i)
                reset_views[i] = agent_view(ctx.render(ctx.envs[i])[None], cfg.pixel_size)[0]
                st.stack[i] = reset_views[i][None]
        st.timings["render"] += time.perf_counter() - t1
        st.obs = next_obs
        return PixelTransitions(views, actions.astype(np.float32), r_task, done, success, reset_views), frames

    def store(self, st: RunState, item: PixelTransitions, emb: torch.Tensor | None,
              goal_dist: torch.Tensor | None) -> None:
        """Per environment: the frame after the step with its transition, then a finished episode's reset frame."""
        views, a, r_task, done_mask, _, reset_views = item
        for i in range(len(a)):
            st.buffer.add(i, views[i], first=False, act=a[i], task_reward=r_task[i], discount=1,
                          emb=None if emb is None else emb[i], goal_dist=None if emb is None else goal_dist[i])
            if done_mask[i]:
                st.buffer.add(i, reset_views[i], first=True)

    def can_learn(self, st: RunState) -> bool:
        return st.buffer.transitions_added >= 1

    def update_args(self, st: RunState) -> tuple:
        """DrQ draws its random shifts from the run's generator."""
        return (st.torch_gen,)

    def eval_reset(self, ctx: RunContext, env) -> np.ndarray:
        """The reset frame repeated ``frame_stack`` times."""
        env.reset()
        view = agent_view(ctx.render(env)[None], ctx.cfg.pixel_size)[0]
        return np.repeat(view[None], ctx.cfg.frame_stack, axis=0)

    def eval_input(self, ctx: RunContext, stack: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(stack.reshape(1, -1, *stack.shape[-2:]), device=ctx.device)

    def eval_next(self, ctx: RunContext, env, stack: np.ndarray, env_obs: np.ndarray) -> np.ndarray:
        return np.concatenate([stack[1:], agent_view(ctx.render(env)[None], ctx.cfg.pixel_size)])


def _sample_due(st: RunState, ctx: RunContext, env_steps: int) -> bool:
    """One of the ``env_steps`` environment steps just taken is a step whose frame is saved under frames/."""
    return any(s in ctx.sample_at for s in range(st.step - env_steps + 1, st.step + 1))


def _save_sample(st: RunState, ctx: RunContext, frames: np.ndarray) -> None:
    atomic_write_bytes(ctx.out / "frames" / f"step_{st.step:08d}.png", png_bytes(frames[0]))


OBSERVATIONS: dict[str, Observation] = {ObsKind.STATE.value: StateObs(), ObsKind.PIXELS.value: PixelObs()}
