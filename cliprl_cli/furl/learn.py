"""One gradient step of the FuRL loop: the VLM reward of a sampled batch, the heads' alignment step (Eq. 4 once a
success has been seen, Eq. 5 before), the agent's step, and the relay agent's step on the task reward alone.

The VLM reward is recomputed for every sampled batch from the stored embeddings with the current heads, so
alignment never needs a relabelling pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .rewards import (aligned_reward, goal_baseline_reward, goal_ranking_mask, kept_pair_fraction,
                      negative_alignment_loss, nonzero_hinge_fraction, positive_alignment_loss, zero_shot_reward)

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState


def vlm_reward(st: RunState, ctx: RunContext, emb: torch.Tensor) -> torch.Tensor:
    """The VLM reward the variant trains with, for image embeddings ``(N, D)``."""
    if ctx.spec.vlm == "zero-shot":
        return zero_shot_reward(ctx.text_emb, emb, assume_unit_norm=ctx.vlm.normalized)
    if ctx.spec.vlm == "goal-baseline":
        return goal_baseline_reward(emb, ctx.text_emb, ctx.baseline_emb, ctx.cfg.gb_alpha)
    return aligned_reward(st.heads, ctx.text_emb, emb)


def update(st: RunState, ctx: RunContext) -> dict[str, Any]:
    """One gradient step of the agent (and of the heads, and of the relay agent while relay is on)."""
    cfg, spec = ctx.cfg, ctx.spec
    batch = st.buffer.sample(cfg.batch_size, st.torch_gen)
    stats: dict[str, Any] = {}
    r_vlm = None
    if spec.vlm is not None:
        if spec.eq4 and st.store.ready():
            # Eq. 4, once a success has been seen: rank positives above negatives and above their own past.
            with torch.no_grad():
                r_vlm = vlm_reward(st, ctx, batch.emb)
            pos, lag, neg = st.store.sample(cfg.batch_size, st.torch_gen)
            r = aligned_reward(st.heads, ctx.text_emb, torch.cat([pos, lag, neg]))
            r_pos, r_lag, r_neg = r.chunk(3)
            loss, pos_neg, pos_pos = positive_alignment_loss(r_pos, r_neg, r_lag, cfg.margin)
            stats.update(align_loss=loss.detach(), align_pos_neg=pos_neg.detach(), align_pos_pos=pos_pos.detach(),
                         align_stage=torch.tensor(2.0),
                         eq4_hinge_nonzero=nonzero_hinge_fraction(r_pos.detach(), r_neg.detach(), r_lag.detach(),
                                                                  cfg.margin))
            _step(st.heads_opt, loss)
        elif spec.eq5:
            # Eq. 5, before any success: rank the batch's frames by their distance to the goal image.
            r = aligned_reward(st.heads, ctx.text_emb, batch.emb)
            mask = goal_ranking_mask(batch.goal_dist, cfg.eq5_margin)
            loss = negative_alignment_loss(r, mask, cfg.margin, reduction=cfg.eq5_reduction)
            r_vlm = r.detach()
            stats.update(align_loss=loss.detach(), align_neg_neg=loss.detach(), align_stage=torch.tensor(1.0),
                         eq5_pairs_kept=kept_pair_fraction(mask))
            _step(st.heads_opt, loss)
        else:
            with torch.no_grad():
                r_vlm = vlm_reward(st, ctx, batch.emb)
        stats.update(vlm_reward_mean=r_vlm.mean(), vlm_reward_std=r_vlm.std(), vlm_reward_min=r_vlm.min(),
                     vlm_reward_max=r_vlm.max())
    if spec.task:
        reward = batch.task_reward if r_vlm is None else batch.task_reward + cfg.rho * r_vlm
    else:
        reward = r_vlm
    extra = ctx.observation.update_args(st)
    sac_stats = st.agent.update(batch.obs, batch.act, reward, batch.next_obs, batch.discount, *extra)
    stats.update(sac_stats)
    stats["train_reward_mean"] = reward.mean()
    if st.relay_agent is not None and st.relay_on:
        st.relay_agent.update(batch.obs, batch.act, batch.task_reward, batch.next_obs, batch.discount, *extra)
    st.updates += 1
    return stats


def _step(opt, loss) -> None:
    opt.zero_grad()
    loss.backward()
    opt.step()
