"""From environment steps to training data: embed the frames in the background, then commit the transitions to
the replay and the finished trajectories to the alignment store.

The frames of step t are embedded on a background thread while step t+1 is taken and the gradient steps run;
the transitions of step t are committed once their embeddings are back.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .acting import relay_still_on
from .state import Pending

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState


def embed_and_commit(st: RunState, ctx: RunContext, item: Any, frames: np.ndarray | None) -> None:
    """Commit the previous step's transitions (waiting for their embeddings); submit this step's frames.

    Without a VLM the transitions are committed at once.
    """
    t0 = time.perf_counter()
    if st.pending is not None:
        commit(st, ctx, st.pending.item, st.pending.emb.result() if st.pending.emb is not None else None)
        st.pending = None
    st.timings["embed_wait"] += time.perf_counter() - t0
    if ctx.uses_vlm:
        st.pending = Pending(item, ctx.executor.submit(ctx.vlm.encode_images, frames))
    else:
        commit(st, ctx, item, None)


def commit(st: RunState, ctx: RunContext, item: Any, emb: torch.Tensor | None) -> None:
    """Write one environment step's transitions to the replay buffer and the trajectories of the alignment store.

    ``emb``: the frames' embeddings ``(num_envs, D)`` (None without a VLM); their L2 distance to the goal-image
    embedding is stored beside them (zeros without a goal image). A finished trajectory goes to the alignment store,
    and relay stops once the store holds enough positive frames.
    """
    goal_dist = None
    if emb is not None:
        goal_dist = ((emb.float() - ctx.goal_emb_cpu).norm(dim=-1) if ctx.goal_emb_cpu is not None
                     else torch.zeros(len(item.act)))
    ctx.observation.store(st, item, emb, goal_dist)
    st.success_steps += int(np.count_nonzero(item.success))
    if st.store is None:
        return
    for i in range(len(item.act)):
        st.traj_emb[i].append(emb[i])
        st.traj_success[i].append(bool(item.success[i]))
        if item.done[i]:
            st.store.add_trajectory(torch.stack(st.traj_emb[i]), st.traj_success[i], ctx.cfg.lag)
            st.traj_emb[i].clear()
            st.traj_success[i].clear()
    st.relay_on = relay_still_on(st.relay_on, st.store.positive_frames, ctx.cfg.relay_threshold,
                                 rule=ctx.cfg.relay_stop, success_steps=st.success_steps,
                                 episode_ended=bool(np.any(item.done)))
