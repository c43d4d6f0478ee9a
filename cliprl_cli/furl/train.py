"""The FuRL training loop: SAC on Meta-World state, VLM rewards from rendered frames, alignment, relay, baselines.

Variants (``--variant``, :data:`~cliprl_cli.furl.config.VARIANTS`), what trains the evaluated agent
(``r_task = success - 1``, ``rho = 0.05``):

=============== ============================================ ===== ========= ===========================
variant         reward                                       relay heads     alignment
=============== ============================================ ===== ========= ===========================
sac             r_task                                       no    -         -
vlm-rm          r_vlm (zero-shot, Eq. 2), no task reward     no    -         -
vlm-rm-gb       goal-baseline reward, no task reward         no    -         -
vlm             r_task + rho r_vlm (zero-shot)               no    -         -  (the paper's LIV/CLIP)
vlm-proj        r_task + rho r_vlm (Eq. 3)                   no    random    frozen  (LIV-Proj)
relay           r_task + rho r_vlm (zero-shot)               yes   -         -  (the paper's Relay)
furl-no-goal    r_task + rho r_vlm (Eq. 3)                   yes   trained   Eq. 4 from the first success
furl            r_task + rho r_vlm (Eq. 3)                   yes   trained   Eq. 5 before, Eq. 4 after
=============== ============================================ ===== ========= ===========================

Loop (:func:`run_furl`), per environment step (``num_envs`` environments stepped together):

1. act (:func:`~cliprl_cli.furl.acting.act`): uniform random for the first ``random_steps`` steps; then, while relay
   is on, each environment follows the VLM-reward agent or the task-reward agent (Gaussian noise 0.2 added, as in
   the authors' code) in turns of ``relay_len`` steps, ``relay_len`` drawn per episode from {50, 100, 150, 200}, the
   starting agent alternating between episodes; relay stops for good after 2,500 positive frames;
2. step the environments and render the new frames upright (``ctx.observation.step``: the state or the pixel
   observation, :mod:`cliprl_cli.furl.observation`);
3. hand the frames to a background thread that embeds them as one batch, so embedding step t overlaps stepping
   and rendering step t+1 and the gradient steps; the transitions of step t are committed to the replay buffer
   once their embeddings are back (:mod:`cliprl_cli.furl.collect`);
4. ``num_envs`` gradient steps (:func:`~cliprl_cli.furl.learn.update`, one per environment step) once
   ``random_steps`` steps are collected: the VLM reward is recomputed from the sampled embeddings with the current
   heads; the heads take one alignment step on the same cadence; while relay is on, the task-reward agent takes a
   step on the same batch with ``r_task`` alone (with ``--update-every N``, only on every N-th pass of the loop);
5. every ``eval_every`` steps, evaluate the agent's mean action and write a curve point
   (:func:`~cliprl_cli.furl.outputs.log_point`).

Choices the paper leaves open: the VLM-RM variants use the VLM reward alone at scale 1 (no task reward, no rho);
evaluation runs on its own environment (same seed: same goal when fixed; seed+100 with ``--random-goal``, as in
the authors' code) with the VLM agent's mean action; alignment steps share the SAC cadence (one per gradient
step) and Adam at lr 1e-4; Eq. 5 uses the SAC batch itself and the pairs its goal distances rank (the
authors' code); with several environments, all share one goal in the fixed-goal setting.

The loop's whole mutable state lives in one :class:`~cliprl_cli.furl.state.RunState`; what it only uses (the
environments, the VLM and its embeddings, the output paths) is a :class:`~cliprl_cli.furl.context.RunContext`.

Preemption (``OUT/checkpoint.safetensors`` + ``.json``): the run checkpoints every ``checkpoint_every_s`` seconds
and when SIGTERM/SIGUSR1 arrives, always between two environment steps (at most one step's latency, well inside
SLURM's ``--signal=B:TERM@60`` warning), then exits 75; rerunning the same command resumes and, on the CPU, writes
the same ``agent.safetensors`` bytes as an uninterrupted run. What is saved and how the environments are rebuilt:
:mod:`cliprl_cli.furl.state`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..adam import Adam
from ..cpu_tuning import tuned_for_training
from ..errors import CliprlError, PreemptedError
from ..progress import ProgressReporter
from ..seeding import seed_everything
from ..store.atomic import atomic_write_bytes
from ..store.checkpoint import PreemptionGuard, load_checkpoint, save_checkpoint
from ..store.formats import FurlRunConfig
from .acting import act
from .buffer import AlignmentStore
from .collect import commit, embed_and_commit
from .config import CHECKPOINT_EVERY_S, SYNTHETIC_MODEL, VARIANTS, FurlConfig, config_json
from .context import RunContext, default_threads, load_instruction, resolve_device
from .env import make_env
from .episodes import start_episodes
from .goal_image import goal_image, png_bytes
from .learn import update
from .outputs import log_point, write_artifacts
from .rewards import Heads
from .state import CHECKPOINT_FORMAT, RunState
from .synthetic_vlm import load_state_vlm
from .vlm import load_vlm

__all__ = ["VARIANTS", "FurlConfig", "RunState", "RunContext", "run_furl", "setup", "new_state", "CHECKPOINT_FILE",
           "CHECKPOINT_FORMAT"]

CHECKPOINT_FILE = "checkpoint.safetensors"
# FurlConfig fields that do not change what a run computes: a checkpoint written with other values still resumes
# (``threads``: a requeued job may land on a node with another core count; the run continues, not bit-identically).
_NOT_IN_CHECKPOINT_CONFIG = ("out", "quiet", "threads")


def run_furl(cfg: FurlConfig, *, checkpoint_every_s: float = CHECKPOINT_EVERY_S) -> dict[str, Any]:
    """Train one (task, variant, seed); write everything under ``cfg.out``; return the final summary.

    A checkpoint is written to ``OUT/checkpoint.safetensors`` every ``checkpoint_every_s`` seconds and on
    SIGTERM/SIGUSR1 (then :class:`PreemptedError`, exit 75); a valid one there is resumed from, and it is removed
    once the run's artifacts are written.
    """
    cfg = dataclasses.replace(cfg)
    cfg.validate()
    # The guard is on from the start, so a signal during the (slow) set-up is honoured at the first step. The CPU
    # settings (kept freed memory, denormals flushed: see cpu_tuning.py) come before any parallel torch work, so
    # torch's worker threads inherit them.
    with PreemptionGuard() as guard, tuned_for_training() as cpu_tuning:
        ctx, st = setup(cfg)
        n = cfg.num_envs
        per = ctx.env_steps_per_step  # env steps per pass: n, times the observation's action repeat
        with ProgressReporter(f"furl {cfg.task} {cfg.variant}", total=cfg.steps, quiet=cfg.quiet) as progress:
            if st.resumed_from is not None:
                progress.log(f"resumed from checkpoint {ctx.ckpt_path} at step {st.resumed_from}")
            st.last_checkpoint_wall = time.perf_counter()
            while st.step < cfg.steps:
                # 0. checkpoint, between two environment steps (SIGTERM/SIGUSR1: then stop, exit 75)
                if guard.requested or time.perf_counter() - st.last_checkpoint_wall >= checkpoint_every_s:
                    write_checkpoint(st, ctx)
                    if guard.requested:
                        ctx.close()
                        raise PreemptedError(f"received {guard.signal_name}: checkpoint written to {ctx.ckpt_path} "
                                             f"at step {st.step}; rerun the same command to resume")
                # 1. act: random, then the VLM-reward agent, with turns of the task-reward agent while relay is on
                actions = act(st, ctx)
                # 2. step the environments and render their frames (pixels: the action repeated, one frame)
                item, frames = ctx.observation.step(st, ctx, actions)
                # 3. embed the frames in the background; commit the previous step's transitions
                embed_and_commit(st, ctx, item, frames)
                # 4. learn: one gradient step per environment step (agent, heads, relay agent), every
                #    update_every-th pass
                if (st.step >= cfg.random_steps and ctx.observation.can_learn(st)
                        and (st.step // per) % cfg.update_every == 0):
                    t0 = time.perf_counter()
                    for _ in range(n):
                        st.accumulate(update(st, ctx))
                    st.timings["update"] += time.perf_counter() - t0
                # 5. evaluate and write a curve point
                if st.step % cfg.eval_every < per or st.step >= cfg.steps:
                    point = log_point(st, ctx)
                    progress.update(st.step, success=point.success_any, ret=point.return_)
                elif st.step % 100 < per:
                    progress.update(st.step)
            if st.pending is not None:
                commit(st, ctx, st.pending.item, st.pending.emb.result())
                st.pending = None
        return write_artifacts(st, ctx, cpu_tuning)


# ==================================================================== set-up
def setup(cfg: FurlConfig) -> tuple[RunContext, RunState]:
    """Build the run's resources and its fresh state, write config.json, and restore a checkpoint if one is there.

    The order of the steps is the order of the RNG draws (VLM weights, goal image, environments, networks,
    replay), so it must not change.
    """
    spec = cfg.spec
    out = Path(cfg.out)
    device = resolve_device(cfg.device)
    threads = cfg.threads or default_threads(spec)
    gen = seed_everything(cfg.seed, threads=threads)
    ctx = RunContext(cfg=cfg, spec=spec, device=device, out=out, instruction=cfg.instruction or
                     load_instruction(cfg.task), threads=threads)

    # ---- VLM, text and goal embeddings
    random_vlm = False
    synthetic = cfg.vlm_model == SYNTHETIC_MODEL
    if ctx.uses_vlm and synthetic:
        print(f"note: the VLM is SYNTHETIC (misalignment {cfg.synthetic_misalignment:g}): it embeds the state; "
              "every artifact of this run is marked vlm_synthetic", file=sys.stderr)
        ctx.vlm = load_state_vlm(cfg.task, cfg.seed, cfg.synthetic_misalignment, cfg.synthetic_distract)
        ctx.instruction = ctx.vlm.prompt(ctx.instruction)
        ctx.text_emb = ctx.vlm.encode_text(ctx.instruction).to(device)
    elif ctx.uses_vlm:
        ctx.vlm = load_vlm(cfg.vlm_model, None if cfg.vlm_checkpoint else cfg.vlm_pretrained, cfg.vlm_checkpoint,
                           device=str(device), preprocess=cfg.preprocess_style, quick_gelu=cfg.vlm_quick_gelu,
                           crop=cfg.vlm_crop)
        random_vlm = ctx.vlm.random_weights
        if random_vlm:
            print(f"warning: the VLM {cfg.vlm_model} has RANDOM weights (--vlm-pretrained none, or a checkpoint "
                  "marked random): its rewards are noise; every artifact of this run is marked vlm_random_weights",
                  file=sys.stderr)
        ctx.instruction = ctx.vlm.prompt(ctx.instruction)  # the text embedded (authors: lower-case, no period)
        ctx.text_emb = ctx.vlm.encode_text(ctx.instruction).to(device)
        if spec.vlm == "goal-baseline":
            ctx.baseline_emb = ctx.vlm.encode_text(ctx.vlm.prompt(cfg.baseline_prompt)).to(device)
    goal_frame = None
    if spec.eq5 and synthetic:
        ctx.goal_emb = ctx.vlm.goal_embedding().to(device)  # the goal position embedded; no frame, nothing cached
        ctx.goal_emb_cpu = ctx.goal_emb.cpu()
    elif spec.eq5:
        cache = Path(cfg.goal_cache) if cfg.goal_cache else Path.home() / ".cache" / "cliprl" / "furl-goals"
        goal_frame, goal_emb = goal_image(cfg.task, ctx.vlm, seed=cfg.seed, image_size=cfg.image_size,
                                          camera=cfg.camera, fast_render=cfg.fast_render, cache_dir=cache,
                                          goal_protocol=cfg.goal_protocol)
        ctx.goal_emb = goal_emb.to(device)
        ctx.goal_emb_cpu = ctx.goal_emb.cpu()
    ctx.mark = {"vlm_random_weights": random_vlm}
    if synthetic:  # every variant of a synthetic run (sac too: its rows belong to the synthetic bench)
        ctx.mark["vlm_synthetic"] = True
    # only now: a VLM or goal image that cannot be loaded (an unknown model name) leaves no empty OUT behind
    out.mkdir(parents=True, exist_ok=True)

    # ---- environments
    env_seeds = [cfg.seed + (1000 * i if cfg.random_goal else 0) for i in range(cfg.num_envs)]
    ctx.envs = [make_env(cfg.task, seed=s, image_size=None if synthetic else cfg.image_size, camera=cfg.camera,
                         random_goal=cfg.random_goal, fast_render=cfg.fast_render, goal_protocol=cfg.goal_protocol)
                for s in env_seeds]
    # an agent that acts from frames is evaluated on a rendering environment (the same camera and size)
    renders = ctx.observation.renders_eval
    if ctx.vlm is not None and synthetic and not np.allclose(ctx.envs[0].unwrapped._target_pos, ctx.vlm.goal):
        raise CliprlError("the synthetic VLM's goal is not the training environment's: it serves the fixed-goal "
                          "environments of make_env(task, seed) only")
    ctx.eval_env = make_env(cfg.task, seed=cfg.seed + (100 if cfg.random_goal else 0),
                            image_size=cfg.image_size if renders else None, camera=cfg.camera,
                            random_goal=cfg.random_goal, fast_render=cfg.fast_render and renders,
                            goal_protocol=cfg.goal_protocol)

    # ---- learners and the fresh state
    st = new_state(ctx, gen)
    start_episodes(st, ctx)
    # nothing renders in a synthetic run, so no sample frames either
    ctx.sample_at = frozenset() if synthetic else frozenset(
        np.linspace(1, cfg.steps, max(cfg.sample_frames, 1), dtype=int).tolist())
    ctx.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1) if ctx.uses_vlm else None
    st.t_start = st.last_eval_wall = time.perf_counter()

    FurlRunConfig(vlm_random_weights=random_vlm, config=config_json(cfg), instruction=ctx.instruction,
                  device_resolved=str(device), vlm=ctx.vlm.identity() if ctx.vlm else None,
                  vlm_synthetic=synthetic).write(out / "config.json")
    if goal_frame is not None:
        atomic_write_bytes(out / "frames" / "goal.png", png_bytes(goal_frame))

    # ---- resume
    ctx.ckpt_path = out / CHECKPOINT_FILE
    ctx.ckpt_config = {k: v for k, v in config_json(cfg).items() if k not in _NOT_IN_CHECKPOINT_CONFIG}
    ctx.ckpt_config["device_resolved"] = str(device)
    ctx.ckpt_config["checkpoint_format"] = CHECKPOINT_FORMAT  # an older layout is set aside, not misread
    loaded = load_checkpoint(ctx.ckpt_path, ctx.ckpt_config)
    if loaded is not None:
        st.restore(*loaded, envs=ctx.envs, eval_env=ctx.eval_env, device=device, source=str(ctx.ckpt_path))
    return ctx, st


def new_state(ctx: RunContext, gen: torch.Generator) -> RunState:
    """The learners (heads first, then the agent, then the relay agent: the order of their initial draws) and the
    replay the observation needs."""
    cfg, spec, device, view = ctx.cfg, ctx.spec, ctx.device, ctx.observation
    obs_dim = ctx.envs[0].observation_space.shape[0]
    act_dim = ctx.envs[0].action_space.shape[0]
    embed_dim = ctx.vlm.embed_dim if ctx.uses_vlm else 0
    heads = heads_opt = None
    if spec.heads:
        heads = Heads(embed_dim, embed_dim, init=cfg.heads_init).to(device)
        heads.requires_grad_(spec.eq4 or spec.eq5)
        if spec.eq4 or spec.eq5:
            heads_opt = Adam(heads.parameters(), lr=cfg.lr, fused=True)
    agent = view.make_agent(ctx, obs_dim, act_dim)
    relay_agent = view.make_agent(ctx, obs_dim, act_dim) if spec.relay else None
    return RunState(
        agent=agent, relay_agent=relay_agent, heads=heads, heads_opt=heads_opt,
        buffer=view.make_buffer(ctx, obs_dim, act_dim, embed_dim),
        store=AlignmentStore(embed_dim, cfg.align_capacity, device=device) if ctx.uses_vlm else None,
        np_rng=np.random.default_rng(cfg.seed), torch_gen=gen, relay_on=spec.relay)


def write_checkpoint(st: RunState, ctx: RunContext) -> None:
    """Save the whole state to ``OUT/checkpoint.safetensors`` (see :mod:`cliprl_cli.furl.state`)."""
    tensors, state = st.to_checkpoint(eval_env=ctx.eval_env, device=ctx.device)
    save_checkpoint(ctx.ckpt_path, tensors, state, ctx.ckpt_config)
    st.last_checkpoint_wall = time.perf_counter()
