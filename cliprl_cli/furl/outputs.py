"""What a FuRL run writes: a curve point per evaluation (curve.json), and at the end agent.safetensors with its
companions (summary.json, curve.json, expert_rewards.json) as one set, agent.json being their manifest."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..store.artifacts import save_artifact
from ..store.checkpoint import remove_checkpoint
from ..store.formats import ExpertRewards, FurlCurve, FurlPoint, FurlSummary
from .config import FurlConfig, config_json
from .evaluate import evaluate
from .goal_image import expert_rollout
from .learn import vlm_reward
from .rewards import aligned_reward, zero_shot_reward

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState

EXPERT_EMBED_BATCH = 64  # frames of the expert trajectory embedded per VLM call


def log_point(st: RunState, ctx: RunContext) -> FurlPoint:
    """Evaluate, append a curve point (evaluation, update statistics averaged since the last point, counters) and
    rewrite ``curve.json``."""
    evaluation = evaluate(st, ctx)
    train_stats = st.take_means()
    now = time.perf_counter()
    point = FurlPoint(step=st.step, success_any=evaluation["success_any"], success_last=evaluation["success_last"],
                      return_=evaluation["return"], sparse_return=evaluation["sparse_return"],
                      train_stats=train_stats, episodes=st.episodes, train_success_episodes=st.train_successes,
                      positive_frames=st.store.positive_frames if st.store else 0, relay_on=st.relay_on,
                      updates=st.updates, wall_s=round(now - st.t_start, 3),
                      env_steps_per_s=round((st.step - st.last_eval_step) / max(now - st.last_eval_wall, 1e-9), 2))
    st.last_eval_wall, st.last_eval_step = time.perf_counter(), st.step
    st.curve.append(point)
    curve_record(st, ctx).write(ctx.out / "curve.json")
    return point


def curve_record(st: RunState, ctx: RunContext) -> FurlCurve:
    """curve.json's content: the curve points so far, headed by the run's identity."""
    cfg = ctx.cfg
    return FurlCurve(vlm_random_weights=ctx.mark["vlm_random_weights"], task=cfg.task, variant=cfg.variant,
                     seed=cfg.seed, curve=st.curve, obs=obs_mark(cfg),
                     vlm_synthetic=ctx.mark.get("vlm_synthetic", False))


def obs_mark(cfg: FurlConfig) -> str | None:
    """The ``obs`` field of curve.json and summary.json: "pixels" for a pixel run, None (absent) for a state run."""
    return cfg.obs if cfg.obs != "state" else None


def curve_mean(curve: list[FurlPoint], key: str) -> float | None:
    """The mean of a training statistic over the curve points that have it (None if none has): each point holds
    its mean over the updates since the previous point, and points are evenly spaced in env steps."""
    values = [p.train_stats[key] for p in curve if key in p.train_stats]
    return round(float(np.mean(values)), 6) if values else None


def eq5_idle_message(curve: list[FurlPoint], margin: float) -> str | None:
    """A warning when Eq. 5 ran but its pair mask kept nothing in any update (None otherwise).

    Eq. 5 learns only from pairs whose goal-image distances differ by more than m'; where every frame's distance is
    the same to within m' the mask is empty, the loss is exactly 0 and the heads do not move before the first
    success. A random-weight RN50 (a LIV-format test file) embeds every frame almost alike: its raw goal distances
    spread by about 1e-3 against the authors' m' = 0.25 (docs/furl-authors.md).
    """
    kept = [p.train_stats["eq5_pairs_kept"] for p in curve if "eq5_pairs_kept" in p.train_stats]
    if not kept or max(kept) > 0.0:
        return None
    return (f"warning: Eq. 5 kept no pair in any of its updates (the batches' goal-image distances never differed by "
            f"more than m' = {margin:g}): its loss was 0 and the reward heads did not move before the first success; "
            "a random-weight VLM embeds every frame almost alike (--goal-margin sets m')")


def write_artifacts(st: RunState, ctx: RunContext, cpu_tuning: dict[str, bool]) -> dict[str, Any]:
    """Write agent.safetensors, expert_rewards.json (VLM variants) and summary.json; remove the checkpoint."""
    cfg, out = ctx.cfg, ctx.out
    tensors = st.agent.state_tensors("agent")
    if st.relay_agent is not None:
        tensors.update(st.relay_agent.state_tensors("relay_agent"))
    if st.heads is not None:
        tensors.update({f"heads.{k}": v for k, v in st.heads.state_dict().items()})
    if ctx.text_emb is not None:
        tensors["text_embedding"] = ctx.text_emb
    if ctx.goal_emb is not None:
        tensors["goal_embedding"] = ctx.goal_emb
    final = st.curve[-1].to_json() if st.curve else {}
    idle = eq5_idle_message(st.curve, cfg.eq5_margin)
    if idle:
        print(idle, file=sys.stderr)
    wall = time.perf_counter() - st.t_start
    summary = FurlSummary(
        vlm_random_weights=ctx.mark["vlm_random_weights"], task=cfg.task, variant=cfg.variant, seed=cfg.seed,
        steps=st.step, resumed_from_step=st.resumed_from, final=final, wall_s=round(wall, 2),
        env_steps_per_s=round(st.step / wall, 2), timings_s={k: round(v, 3) for k, v in st.timings.items()},
        replay_bytes_per_transition=st.buffer.bytes_per_transition(), replay_bytes=st.buffer.nbytes(),
        positive_frames=st.store.positive_frames if st.store else 0, cpu_tuning=cpu_tuning,
        torch_threads=ctx.threads, vlm=ctx.vlm.identity() if ctx.vlm else None,
        vlm_checkpoint_sha256=ctx.vlm.checkpoint_sha256 if ctx.vlm else None, sac_style=cfg.sac_style,
        eq5_pairs_kept_mean=curve_mean(st.curve, "eq5_pairs_kept"),
        eq4_hinge_nonzero_mean=curve_mean(st.curve, "eq4_hinge_nonzero"), obs=obs_mark(cfg),
        vlm_synthetic=ctx.mark.get("vlm_synthetic", False))
    if ctx.uses_vlm:
        summary.expert_rewards = expert_rewards(st, ctx)
    ctx.close()
    # One set: agent.json is the manifest of summary.json, curve.json and expert_rewards.json (written just
    # before, so a crash in between is caught by its hash), renamed into place after all are fully written.
    companions: dict[str, Any] = {
        "summary.json": summary,  # a format object: its run metadata goes to run.json
        "curve.json": curve_record(st, ctx)}
    if ctx.uses_vlm:
        companions["expert_rewards.json"] = (out / "expert_rewards.json").read_bytes()
    save_artifact(out / "agent.safetensors", tensors, kind="furl-agent", config=config_json(cfg),
                  metrics=final, timings=summary.timings_s, seed=cfg.seed,
                  extra={**ctx.mark, "instruction": ctx.instruction, "vlm": ctx.vlm.identity() if ctx.vlm else None},
                  companions=companions)
    # Only now: a run killed while writing its artifacts resumes from the last checkpoint and writes them again.
    remove_checkpoint(ctx.ckpt_path)
    return summary.with_run_fields()


def expert_rewards(st: RunState, ctx: RunContext) -> dict[str, Any]:
    """Write ``expert_rewards.json``: the zero-shot and (if heads) aligned VLM reward, and the training reward,
    along one scripted-expert trajectory (the FuRL paper's Figure 11); return its frame count and first success."""
    cfg, vlm, text_emb = ctx.cfg, ctx.vlm, ctx.text_emb
    if ctx.vlm_reads_state:  # the synthetic VLM: the expert's states, nothing rendered
        rows, success = vlm.expert_inputs()
        frames = list(rows)
    else:
        frames, success = expert_rollout(cfg.task, seed=cfg.seed, image_size=cfg.image_size, camera=cfg.camera,
                                         fast_render=cfg.fast_render, render="all",
                                         goal_protocol=cfg.goal_protocol)
    embs = torch.cat([vlm.encode_images(np.stack(frames[i:i + EXPERT_EMBED_BATCH]))
                      for i in range(0, len(frames), EXPERT_EMBED_BATCH)])
    embs = embs.float().to(text_emb.device)
    with torch.no_grad():
        record = ExpertRewards(
            vlm_random_weights=ctx.mark["vlm_random_weights"], task=cfg.task, variant=cfg.variant, seed=cfg.seed,
            instruction_embedding_model=vlm.identity(), step=list(range(1, len(frames) + 1)),
            success=[bool(s) for s in success],
            first_success=next((i + 1 for i, s in enumerate(success) if s), None),
            zero_shot=zero_shot_reward(text_emb, embs).cpu().tolist(),
            aligned=None if st.heads is None else aligned_reward(st.heads, text_emb, embs).cpu().tolist(),
            training_reward=vlm_reward(st, ctx, embs).cpu().tolist())
    record.write(ctx.out / "expert_rewards.json")
    return {"frames": len(frames), "first_success": record.first_success}
