"""Per-environment episode bookkeeping of the FuRL loop: first resets, episode ends, and what a resume replays.

Each reset notes first the RNG states it draws from and starts an empty action list, so that a resumed run can
rebuild the environment by replaying the episode (:mod:`cliprl_cli.furl.state`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .acting import RELAY_LENGTHS
from .state import np_global_state

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState


def start_episodes(st: RunState, ctx: RunContext) -> None:
    """Reset every environment and set up the per-environment episode bookkeeping of a fresh run."""
    n = len(ctx.envs)
    st.ep_actions = [[] for _ in range(n)]
    st.ep_start_rng = [None] * n
    st.obs = np.stack([reset_env(st, ctx, i) for i in range(n)]).astype(np.float32)
    st.ep_step = np.zeros(n, dtype=np.int64)
    st.relay_len = st.np_rng.choice(RELAY_LENGTHS, size=n)
    st.first_agent = np.arange(n) % 2  # 0: the VLM agent starts, 1: the task agent starts; flips every episode
    st.traj_emb = [[] for _ in range(n)]
    st.traj_success = [[] for _ in range(n)]
    st.ep_success = np.zeros(n, dtype=bool)
    ctx.observation.start(st, ctx)


def reset_env(st: RunState, ctx: RunContext, i: int) -> np.ndarray:
    """Start env i's next episode, noting first the RNG states its reset draws from (a resume replays from here)."""
    env = ctx.envs[i]
    st.ep_start_rng[i] = {"np_global": np_global_state(), "env": env.unwrapped.np_random.bit_generator.state}
    st.ep_actions[i] = []
    return env.reset()[0]


def end_episode(st: RunState, ctx: RunContext, i: int) -> np.ndarray:
    """Environment i finished an episode: count it, reset the environment, and draw the next episode's relay turn
    length and starting agent (in this order: the resets and the draws share RNGs). Returns the new observation."""
    st.episodes += 1
    st.train_successes += int(st.ep_success[i])
    st.ep_success[i] = False
    obs = reset_env(st, ctx, i)
    st.ep_step[i] = 0
    st.relay_len[i] = st.np_rng.choice(RELAY_LENGTHS)
    st.first_agent[i] ^= 1
    return obs
