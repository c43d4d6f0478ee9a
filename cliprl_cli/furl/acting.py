"""Choosing the actions: uniform random at first, then the VLM-reward agent, with relay turns of the task agent.

Relay (the FuRL paper's Section 4.3): while it is on, each environment follows the VLM-reward agent or the
task-reward agent (Gaussian noise added, as in the authors' code) in turns of ``relay_len`` steps, ``relay_len``
drawn per episode from :data:`RELAY_LENGTHS`, the starting agent alternating between episodes; relay stops for
good once enough positive frames have been collected (the authors' FuRL script) or, for the Relay baseline as the
authors' ``train_relay.py`` runs it, once enough training steps have had task success (:func:`relay_still_on`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState

RELAY_LENGTHS = (50, 100, 150, 200)


def relay_turn(ep_step, relay_len, first_agent):
    """Per environment: True where the task-reward agent acts at this episode step, False for the VLM agent.

    Turns last ``relay_len`` steps; ``first_agent`` (0 = VLM agent, 1 = task agent) is who starts the episode.
    """
    return ((np.asarray(ep_step) // np.asarray(relay_len)) + np.asarray(first_agent)) % 2 == 1


def relay_still_on(relay_on: bool, positive_frames: int, threshold: int = 2500, *, rule: str = "positive-frames",
                   success_steps: int = 0, episode_ended: bool = True) -> bool:
    """Whether relay goes on: it stops for good once ``threshold`` is reached by

    - ``rule="positive-frames"``: the positive frames in the alignment store (the authors' ``train_furl.py``;
      they only grow when a trajectory ends);
    - ``rule="success-steps"``: the training steps with task success so far, random steps included (the authors'
      ``train_relay.py`` counts ``success_cnt`` on every step), looked at only when an episode ends
      (``episode_ended``), as their script checks it.
    """
    if rule == "success-steps":
        return relay_on and not (episode_ended and success_steps >= threshold)
    return relay_on and positive_frames < threshold


def act(st: RunState, ctx: RunContext) -> np.ndarray:
    """Actions ``(num_envs, act_dim)`` float32: uniform random before learning, else the agent's (with relay)."""
    cfg = ctx.cfg
    if st.step < cfg.random_steps:
        return st.np_rng.uniform(-1.0, 1.0, size=(cfg.num_envs, ctx.envs[0].action_space.shape[0])).astype(np.float32)
    obs_t = ctx.observation.agent_input(st, ctx)
    actions = st.agent.act(obs_t).cpu().numpy()
    if st.relay_on:
        turn = relay_turn(st.ep_step, st.relay_len, st.first_agent)
        if turn.any():
            task_actions = st.relay_agent.act(obs_t).cpu().numpy()
            noise = st.np_rng.normal(0.0, cfg.relay_noise, size=task_actions.shape)
            task_actions = np.clip(task_actions + noise, -1.0, 1.0).astype(np.float32)
            actions = np.where(turn[:, None], task_actions, actions)
    return actions
