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

1. act (:func:`act`): uniform random for the first ``random_steps`` steps; then, while relay is on, each
   environment follows the VLM-reward agent or the task-reward agent (Gaussian noise 0.2 added, as in the authors'
   code) in turns of ``relay_len`` steps, ``relay_len`` drawn per episode from {50, 100, 150, 200}, the starting
   agent alternating between episodes; relay stops for good after 2,500 positive frames;
2. step the environments and render the new frames upright (:func:`step_envs`);
3. hand the frames to a background thread that embeds them as one batch, so embedding step t overlaps stepping
   and rendering step t+1 and the gradient steps; the transitions of step t are committed to the replay buffer
   once their embeddings are back (:func:`embed_and_commit`, :func:`commit`);
4. ``num_envs`` gradient steps (:func:`update`, one per environment step) once ``random_steps`` steps are
   collected: the VLM reward is recomputed from the sampled embeddings with the current heads; the heads take one
   alignment step on the same cadence; while relay is on, the task-reward agent takes a step on the same batch
   with ``r_task`` alone;
5. every ``eval_every`` steps, evaluate the agent's mean action and write a curve point (:func:`log_point`).

Choices the paper leaves open: the VLM-RM variants use the VLM reward alone at scale 1 (no task reward, no rho);
evaluation runs on its own environment (same seed: same goal when fixed; seed+100 with ``--random-goal``, as in
the authors' code) with the VLM agent's mean action; alignment steps share the SAC cadence (one per gradient
step) and Adam at lr 1e-4; Eq. 5 uses the SAC batch itself and the pairs its goal distances rank (the
authors' code); with several environments, all share one goal in the fixed-goal setting.

The loop's whole mutable state lives in one :class:`~cliprl_cli.furl.state.RunState`; what it only uses (the
environments, the VLM and its embeddings, the output paths) is a :class:`RunContext`.

Preemption (``OUT/checkpoint.safetensors`` + ``.json``): the run checkpoints every ``checkpoint_every_s`` seconds
and when SIGTERM/SIGUSR1 arrives, always between two environment steps (at most one step's latency, well inside
SLURM's ``--signal=B:TERM@60`` warning), then exits 75; rerunning the same command resumes and, on the CPU, writes
the same ``agent.safetensors`` bytes as an uninterrupted run. What is saved and how the environments are rebuilt:
:mod:`cliprl_cli.furl.state`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from ..adam import Adam
from ..store.artifacts import save_artifact
from ..store.atomic import atomic_write_bytes
from ..store.checkpoint import PreemptionGuard, load_checkpoint, remove_checkpoint, save_checkpoint
from ..cpu_tuning import tuned_for_training
from ..errors import CliprlError, PreemptedError
from ..store.formats import ExpertRewards, FurlCurve, FurlPoint, FurlRunConfig, FurlSummary
from ..progress import ProgressReporter
from ..seeding import seed_everything
from .buffer import AlignmentStore, ReplayBuffer
from .config import CHECKPOINT_EVERY_S, VARIANTS, FurlConfig, VariantSpec, config_json
from .drq import DrQ
from .env import EPISODE_STEPS, close_env, make_env, render_upright
from .frames import FrameBuffer, agent_view
from .goal_image import expert_rollout, goal_image, png_bytes
from .rewards import (Heads, aligned_reward, goal_baseline_reward, goal_ranking_mask, kept_pair_fraction,
                      negative_alignment_loss, nonzero_hinge_fraction, positive_alignment_loss, zero_shot_reward)
from .sac import SAC
from .state import CHECKPOINT_FORMAT, Pending, PixelTransitions, RunState, Transitions, np_global_state
from .vlm import VLM, load_vlm

__all__ = ["VARIANTS", "FurlConfig", "RunState", "RunContext", "run_furl", "update", "relay_turn",
           "relay_still_on", "RELAY_LENGTHS", "CHECKPOINT_FILE", "CHECKPOINT_FORMAT"]

CHECKPOINT_FILE = "checkpoint.safetensors"
# FurlConfig fields that do not change what a run computes: a checkpoint written with other values still resumes
# (``threads``: a requeued job may land on a node with another core count; the run continues, not bit-identically).
_NOT_IN_CHECKPOINT_CONFIG = ("out", "quiet", "threads")
RELAY_LENGTHS = (50, 100, 150, 200)
EXPERT_EMBED_BATCH = 64  # frames of the expert trajectory embedded per VLM call


def relay_turn(ep_step, relay_len, first_agent):
    """Per environment: True where the task-reward agent acts at this episode step, False for the VLM agent.

    Turns last ``relay_len`` steps; ``first_agent`` (0 = VLM agent, 1 = task agent) is who starts the episode.
    """
    return ((np.asarray(ep_step) // np.asarray(relay_len)) + np.asarray(first_agent)) % 2 == 1


def relay_still_on(relay_on: bool, positive_frames: int, threshold: int = 2500) -> bool:
    """Relay stops for good once ``threshold`` positive frames have been collected."""
    return relay_on and positive_frames < threshold


def load_instruction(task: str) -> str:
    """The task's instruction from the paper's Table 4 (``cliprl_cli/data/furl_instructions.yaml``)."""
    table = yaml.safe_load(resources.files("cliprl_cli").joinpath("data/furl_instructions.yaml").read_text())
    return table[task]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when torch sees a GPU, else the CPU; a CUDA device asked for without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CliprlError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def default_threads(spec: VariantSpec) -> int:
    """torch CPU threads when ``--threads`` is not given.

    With a VLM, half the cores (at least 1), leaving the rest to the renderer (Mesa llvmpipe runs on the CPU too)
    and the environment: torch threads spinning against the renderer slow the tiny encoder down badly. Without one
    (``sac``) nothing renders while training, and every core goes to the update.
    """
    cores = os.cpu_count() or 2
    return max(1, cores // 2) if spec.vlm is not None else cores


@dataclass
class RunContext:
    """What a run uses but does not change (resources, not state): settings, environments, the VLM, embeddings."""

    cfg: FurlConfig
    spec: VariantSpec
    device: torch.device
    out: Path | None = None
    envs: list | None = None                 # the training environments (rendering when the variant has a VLM)
    eval_env: Any = None                     # the evaluation environment (no renderer)
    vlm: VLM | None = None
    text_emb: torch.Tensor | None = None     # instruction embedding (D,) on ``device``
    baseline_emb: torch.Tensor | None = None  # baseline-prompt embedding (vlm-rm-gb)
    goal_emb: torch.Tensor | None = None     # goal-image embedding (D,) on ``device`` (Eq. 5)
    goal_emb_cpu: torch.Tensor | None = None  # the same on the CPU (goal distances of new transitions)
    executor: concurrent.futures.Executor | None = None  # the embedding thread
    sample_at: frozenset = frozenset()       # env steps whose first frame is saved under frames/
    mark: dict | None = None                 # {"vlm_random_weights": ...}, heads every JSON artifact
    instruction: str = ""
    threads: int = 1
    ckpt_path: Path | None = None
    ckpt_config: dict | None = None          # what a checkpoint must match to be resumed
    render: Callable[[Any], np.ndarray] = render_upright  # env -> upright (H, W, 3) uint8 frame

    @property
    def uses_vlm(self) -> bool:
        return self.spec.vlm is not None

    @property
    def pixels(self) -> bool:
        """The agent learns from frames (``--obs pixels``: DrQ) rather than from the state (SAC)."""
        return self.cfg.obs == "pixels"

    @property
    def env_steps_per_step(self) -> int:
        """Environment steps one pass of the loop takes: ``num_envs``, times the action repeat with pixels."""
        return self.cfg.num_envs * (self.cfg.action_repeat if self.pixels else 1)

    def can_learn(self, st: "RunState") -> bool:
        """The replay holds a transition to learn from."""
        return (st.buffer.transitions_added if self.pixels else st.buffer.size) >= 1

    def close(self) -> None:
        """Stop the embedding thread and close the environments."""
        if self.executor is not None:
            self.executor.shutdown()
        for env in self.envs or ():
            close_env(env)
        if self.eval_env is not None:
            close_env(self.eval_env)


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
        per = ctx.env_steps_per_step  # env steps per pass: n, times the action repeat with pixels
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
                item, frames = (step_pixels if ctx.pixels else step_envs)(st, ctx, actions)
                # 3. embed the frames in the background; commit the previous step's transitions
                embed_and_commit(st, ctx, item, frames)
                # 4. learn: one gradient step per environment step (agent, heads, relay agent)
                if st.step >= cfg.random_steps and ctx.can_learn(st):
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
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    threads = cfg.threads or default_threads(spec)
    gen = seed_everything(cfg.seed, threads=threads)
    ctx = RunContext(cfg=cfg, spec=spec, device=device, out=out, instruction=cfg.instruction or
                     load_instruction(cfg.task), threads=threads)

    # ---- VLM, text and goal embeddings
    random_vlm = False
    if ctx.uses_vlm:
        ctx.vlm = load_vlm(cfg.vlm_model, None if cfg.vlm_checkpoint else cfg.vlm_pretrained, cfg.vlm_checkpoint,
                           device=str(device), preprocess=cfg.preprocess_style)
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
    if spec.eq5:
        cache = Path(cfg.goal_cache) if cfg.goal_cache else Path.home() / ".cache" / "cliprl" / "furl-goals"
        goal_frame, goal_emb = goal_image(cfg.task, ctx.vlm, seed=cfg.seed, image_size=cfg.image_size,
                                          camera=cfg.camera, fast_render=cfg.fast_render, cache_dir=cache)
        ctx.goal_emb = goal_emb.to(device)
        ctx.goal_emb_cpu = ctx.goal_emb.cpu()
    ctx.mark = {"vlm_random_weights": random_vlm}

    # ---- environments
    env_seeds = [cfg.seed + (1000 * i if cfg.random_goal else 0) for i in range(cfg.num_envs)]
    ctx.envs = [make_env(cfg.task, seed=s, image_size=cfg.image_size, camera=cfg.camera,
                         random_goal=cfg.random_goal, fast_render=cfg.fast_render) for s in env_seeds]
    # the pixel agent acts from frames, so its evaluation environment renders (the same camera and size)
    ctx.eval_env = make_env(cfg.task, seed=cfg.seed + (100 if cfg.random_goal else 0),
                            image_size=cfg.image_size if ctx.pixels else None, camera=cfg.camera,
                            random_goal=cfg.random_goal, fast_render=cfg.fast_render and ctx.pixels)

    # ---- learners and the fresh state
    st = new_state(ctx, gen)
    start_episodes(st, ctx)
    ctx.sample_at = frozenset(np.linspace(1, cfg.steps, max(cfg.sample_frames, 1), dtype=int).tolist())
    ctx.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1) if ctx.uses_vlm else None
    st.t_start = st.last_eval_wall = time.perf_counter()

    FurlRunConfig(vlm_random_weights=random_vlm, config=config_json(cfg), instruction=ctx.instruction,
                  device_resolved=str(device), vlm=ctx.vlm.identity() if ctx.vlm else None).write(out / "config.json")
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
    """The learners (heads first, then the agent, then the relay agent: the order of their initial draws)."""
    cfg, spec, device = ctx.cfg, ctx.spec, ctx.device
    obs_dim = ctx.envs[0].observation_space.shape[0]
    act_dim = ctx.envs[0].action_space.shape[0]
    embed_dim = ctx.vlm.embed_dim if ctx.uses_vlm else 0
    sac_kw = dict(device=device, hidden=cfg.hidden, lr=cfg.lr, gamma=cfg.gamma, tau=cfg.tau, style=cfg.sac_style)
    heads = heads_opt = None
    if spec.heads:
        heads = Heads(embed_dim, embed_dim).to(device)
        heads.requires_grad_(spec.eq4 or spec.eq5)
        if spec.eq4 or spec.eq5:
            heads_opt = Adam(heads.parameters(), lr=cfg.lr, fused=True)
    if ctx.pixels:
        # DrQ on stacked frames (cliprl_cli.furl.drq); the frame buffer needs at most one frame per agent step plus
        # one reset frame per episode
        shape = (3 * cfg.frame_stack, cfg.pixel_size, cfg.pixel_size)
        drq_kw = dict(device=device, hidden=cfg.hidden, feature_dim=cfg.drq_feature_dim, lr=cfg.lr, gamma=cfg.gamma,
                      tau=cfg.tau, init_temperature=cfg.drq_init_temperature, pad=cfg.drq_pad, style=cfg.sac_style,
                      amp=cfg.amp)
        frames_needed = -(-cfg.steps // cfg.action_repeat) + cfg.steps // EPISODE_STEPS + 2 * cfg.num_envs + 1
        return RunState(
            agent=DrQ(shape, act_dim, **drq_kw), relay_agent=DrQ(shape, act_dim, **drq_kw) if spec.relay else None,
            heads=heads, heads_opt=heads_opt,
            buffer=FrameBuffer(max(min(cfg.pixel_buffer_size, frames_needed), cfg.frame_stack + 1),
                               (3, cfg.pixel_size, cfg.pixel_size), act_dim, stack=cfg.frame_stack,
                               num_envs=cfg.num_envs, embed_dim=embed_dim, device=device),
            store=AlignmentStore(embed_dim, cfg.align_capacity, device=device) if ctx.uses_vlm else None,
            np_rng=np.random.default_rng(cfg.seed), torch_gen=gen, relay_on=spec.relay)
    return RunState(
        agent=SAC(obs_dim, act_dim, **sac_kw),
        relay_agent=SAC(obs_dim, act_dim, **sac_kw) if spec.relay else None,
        heads=heads, heads_opt=heads_opt,
        buffer=ReplayBuffer(min(cfg.buffer_size, cfg.steps), obs_dim, act_dim, embed_dim, device=device),
        store=AlignmentStore(embed_dim, cfg.align_capacity, device=device) if ctx.uses_vlm else None,
        np_rng=np.random.default_rng(cfg.seed), torch_gen=gen, relay_on=spec.relay)


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
    if ctx.pixels:  # each env's reset frame starts its stack (repeated K times) and its stream in the frame buffer
        views = agent_view(np.stack([ctx.render(env) for env in ctx.envs]), ctx.cfg.pixel_size)
        st.stack = np.repeat(views[:, None], ctx.cfg.frame_stack, axis=1)
        for i in range(n):
            st.buffer.add(i, views[i], first=True)


def reset_env(st: RunState, ctx: RunContext, i: int) -> np.ndarray:
    """Start env i's next episode, noting first the RNG states its reset draws from (a resume replays from here)."""
    env = ctx.envs[i]
    st.ep_start_rng[i] = {"np_global": np_global_state(), "env": env.unwrapped.np_random.bit_generator.state}
    st.ep_actions[i] = []
    return env.reset()[0]


# ==================================================================== the steps of the loop
def act(st: RunState, ctx: RunContext) -> np.ndarray:
    """Actions ``(num_envs, act_dim)`` float32: uniform random before learning, else the agent's (with relay)."""
    cfg = ctx.cfg
    if st.step < cfg.random_steps:
        return st.np_rng.uniform(-1.0, 1.0, size=(cfg.num_envs, ctx.envs[0].action_space.shape[0])).astype(np.float32)
    obs_t = agent_input(st, ctx)
    actions = st.agent.act(obs_t).cpu().numpy()
    if st.relay_on:
        turn = relay_turn(st.ep_step, st.relay_len, st.first_agent)
        if turn.any():
            task_actions = st.relay_agent.act(obs_t).cpu().numpy()
            noise = st.np_rng.normal(0.0, cfg.relay_noise, size=task_actions.shape)
            task_actions = np.clip(task_actions + noise, -1.0, 1.0).astype(np.float32)
            actions = np.where(turn[:, None], task_actions, actions)
    return actions


def agent_input(st: RunState, ctx: RunContext) -> torch.Tensor:
    """What the agents act on: the state ``(n, 39)``, or with pixels the stacked frames ``(n, 3K, S, S)`` uint8."""
    if ctx.pixels:
        n, k, c, h, w = st.stack.shape
        return torch.as_tensor(st.stack.reshape(n, k * c, h, w), device=ctx.device)
    return torch.as_tensor(st.obs, device=ctx.device)


def step_envs(st: RunState, ctx: RunContext, actions: np.ndarray) -> tuple[Transitions, np.ndarray | None]:
    """Step every environment, render the new frames (VLM variants, sample frames), start new episodes.

    Returns the step's transitions and the frames ``(num_envs, H, W, 3)`` (None when nothing was rendered).
    """
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
    sample_due = any(s in ctx.sample_at for s in range(st.step - n + 1, st.step + 1))
    if ctx.uses_vlm or sample_due:
        frames = np.stack([ctx.render(env) for env in ctx.envs])
        if sample_due:
            atomic_write_bytes(ctx.out / "frames" / f"step_{st.step:08d}.png", png_bytes(frames[0]))
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


def step_pixels(st: RunState, ctx: RunContext, actions: np.ndarray) -> tuple[PixelTransitions, np.ndarray]:
    """The pixel agent's step: each environment repeats its action ``action_repeat`` times, then renders ONE frame
    (the frame the VLM embeds and the agent's next view, :mod:`cliprl_cli.furl.frames`); finished episodes reset
    and render their reset frame (the next stack's first frame).

    The task reward of an agent step is the sum over the repeated steps of ``success - 1`` (DrQ's action-repeat
    convention), ``success`` is the last repeated step's (what the frame shows; it labels the frame for alignment),
    and the episode's success counts any repeated step. Returns the step's transitions and the rendered frames.
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
    if any(s in ctx.sample_at for s in range(st.step - n * repeat + 1, st.step + 1)):
        atomic_write_bytes(ctx.out / "frames" / f"step_{st.step:08d}.png", png_bytes(frames[0]))
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


def embed_and_commit(st: RunState, ctx: RunContext, item: Transitions, frames: np.ndarray | None) -> None:
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


def commit(st: RunState, ctx: RunContext, item: Transitions, emb: torch.Tensor | None) -> None:
    """Write one environment step's transitions to the replay buffer and the trajectories of the alignment store.

    ``emb``: the frames' embeddings ``(num_envs, D)`` (None without a VLM); their L2 distance to the goal-image
    embedding is stored beside them (zeros without a goal image). A finished trajectory goes to the alignment store,
    and relay stops once the store holds enough positive frames.
    """
    goal_dist = None
    if emb is not None:
        goal_dist = ((emb.float() - ctx.goal_emb_cpu).norm(dim=-1) if ctx.goal_emb_cpu is not None
                     else torch.zeros(len(item.act)))
    if ctx.pixels:  # per env: the frame after the step with its transition, then a finished episode's reset frame
        views, a, r_task, done_mask, success, reset_views = item
        for i in range(len(a)):
            st.buffer.add(i, views[i], first=False, act=a[i], task_reward=r_task[i], discount=1,
                          emb=None if emb is None else emb[i], goal_dist=None if emb is None else goal_dist[i])
            if done_mask[i]:
                st.buffer.add(i, reset_views[i], first=True)
        o = views
    else:
        o, a, r_task, o2, done_mask, success = item
        st.buffer.add(o, a, r_task, o2, np.ones(len(o), dtype=np.uint8), emb, goal_dist)
    if st.store is None:
        return
    for i in range(len(o)):
        st.traj_emb[i].append(emb[i])
        st.traj_success[i].append(bool(success[i]))
        if done_mask[i]:
            st.store.add_trajectory(torch.stack(st.traj_emb[i]), st.traj_success[i], ctx.cfg.lag)
            st.traj_emb[i].clear()
            st.traj_success[i].clear()
    st.relay_on = relay_still_on(st.relay_on, st.store.positive_frames, ctx.cfg.relay_threshold)


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
                r_vlm = vlm_reward(st, ctx, batch["emb"])
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
            r = aligned_reward(st.heads, ctx.text_emb, batch["emb"])
            mask = goal_ranking_mask(batch["goal_dist"], cfg.eq5_margin)
            loss = negative_alignment_loss(r, mask, cfg.margin)
            r_vlm = r.detach()
            stats.update(align_loss=loss.detach(), align_neg_neg=loss.detach(), align_stage=torch.tensor(1.0),
                         eq5_pairs_kept=kept_pair_fraction(mask))
            _step(st.heads_opt, loss)
        else:
            with torch.no_grad():
                r_vlm = vlm_reward(st, ctx, batch["emb"])
        stats.update(vlm_reward_mean=r_vlm.mean(), vlm_reward_std=r_vlm.std(), vlm_reward_min=r_vlm.min(),
                     vlm_reward_max=r_vlm.max())
    if spec.task:
        reward = batch["task_reward"] if r_vlm is None else batch["task_reward"] + cfg.rho * r_vlm
    else:
        reward = r_vlm
    extra = (st.torch_gen,) if ctx.pixels else ()  # DrQ draws its random shifts from the run's generator
    sac_stats = st.agent.update(batch["obs"], batch["act"], reward, batch["next_obs"], batch["discount"], *extra)
    stats.update(sac_stats)
    stats["train_reward_mean"] = reward.mean()
    if st.relay_agent is not None and st.relay_on:
        st.relay_agent.update(batch["obs"], batch["act"], batch["task_reward"], batch["next_obs"], batch["discount"],
                              *extra)
    st.updates += 1
    return stats


def _step(opt, loss) -> None:
    opt.zero_grad()
    loss.backward()
    opt.step()


def evaluate(st: RunState, ctx: RunContext) -> dict[str, float]:
    """``eval_episodes`` episodes of the agent's mean action on the evaluation environment.

    ``success_any``: fraction of episodes with a success at any step (Meta-World's convention); ``success_last``:
    at the last step (the paper's); ``return``: Meta-World's dense return; ``sparse_return``: sum of success - 1.
    """
    if ctx.pixels:
        return evaluate_pixels(st, ctx)
    t0 = time.perf_counter()
    env = ctx.eval_env
    any_s, last_s, rets, sparse = [], [], [], []
    for _ in range(ctx.cfg.eval_episodes):
        o, _ = env.reset()
        ret = sp = 0.0
        hit = False
        info = {"success": 0.0}
        while True:
            a = st.agent.act(torch.as_tensor(o, dtype=torch.float32, device=ctx.device)[None], deterministic=True)
            o, r, term, trunc, info = env.step(a[0].cpu().numpy())
            ret += float(r)
            sp += float(info["success"]) - 1.0
            hit = hit or bool(info["success"])
            if term or trunc:
                break
        any_s.append(hit)
        last_s.append(bool(info["success"]))
        rets.append(ret)
        sparse.append(sp)
    st.timings["eval"] += time.perf_counter() - t0
    return {"success_any": float(np.mean(any_s)), "success_last": float(np.mean(last_s)),
            "return": float(np.mean(rets)), "sparse_return": float(np.mean(sparse))}


def evaluate_pixels(st: RunState, ctx: RunContext) -> dict[str, float]:
    """:func:`evaluate` for the pixel agent: the mean action on stacked frames of the rendering evaluation
    environment, the action repeated as in training; returns and successes counted over every environment step."""
    t0 = time.perf_counter()
    cfg, env = ctx.cfg, ctx.eval_env
    any_s, last_s, rets, sparse = [], [], [], []
    for _ in range(cfg.eval_episodes):
        env.reset()
        view = agent_view(ctx.render(env)[None], cfg.pixel_size)[0]
        stack = np.repeat(view[None], cfg.frame_stack, axis=0)
        ret = sp = 0.0
        hit = done = False
        info = {"success": 0.0}
        while not done:
            obs = torch.as_tensor(stack.reshape(1, -1, *stack.shape[-2:]), device=ctx.device)
            a = st.agent.act(obs, deterministic=True)[0].cpu().numpy()
            for _ in range(cfg.action_repeat):
                _, r, term, trunc, info = env.step(a)
                ret += float(r)
                sp += float(info["success"]) - 1.0
                hit = hit or bool(info["success"])
                if term or trunc:
                    done = True
                    break
            if not done:
                stack = np.concatenate([stack[1:], agent_view(ctx.render(env)[None], cfg.pixel_size)])
        any_s.append(hit)
        last_s.append(bool(info["success"]))
        rets.append(ret)
        sparse.append(sp)
    st.timings["eval"] += time.perf_counter() - t0
    return {"success_any": float(np.mean(any_s)), "success_last": float(np.mean(last_s)),
            "return": float(np.mean(rets)), "sparse_return": float(np.mean(sparse))}


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
    cfg = ctx.cfg
    FurlCurve(vlm_random_weights=ctx.mark["vlm_random_weights"], task=cfg.task, variant=cfg.variant, seed=cfg.seed,
              curve=st.curve, obs=obs_mark(cfg)).write(ctx.out / "curve.json")
    return point


def write_checkpoint(st: RunState, ctx: RunContext) -> None:
    """Save the whole state to ``OUT/checkpoint.safetensors`` (see :mod:`cliprl_cli.furl.state`)."""
    tensors, state = st.to_checkpoint(eval_env=ctx.eval_env, device=ctx.device)
    save_checkpoint(ctx.ckpt_path, tensors, state, ctx.ckpt_config)
    st.last_checkpoint_wall = time.perf_counter()


# ==================================================================== artifacts
def obs_mark(cfg: FurlConfig) -> str | None:
    """The ``obs`` field of curve.json and summary.json: "pixels" for a pixel run, None (absent) for a state run."""
    return cfg.obs if cfg.obs != "state" else None


def curve_mean(curve: list[FurlPoint], key: str) -> float | None:
    """The mean of a training statistic over the curve points that have it (None if none has): each point holds
    its mean over the updates since the previous point, and points are evenly spaced in env steps."""
    values = [p.train_stats[key] for p in curve if key in p.train_stats]
    return round(float(np.mean(values)), 6) if values else None


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
        eq4_hinge_nonzero_mean=curve_mean(st.curve, "eq4_hinge_nonzero"), obs=obs_mark(cfg))
    if ctx.uses_vlm:
        summary.expert_rewards = expert_rewards(st, ctx)
    ctx.close()
    # One set (issue 15): agent.json is the manifest of summary.json, curve.json and expert_rewards.json (written
    # just before, so a crash in between is caught by its hash), renamed into place after all are fully written.
    companions: dict[str, Any] = {
        "summary.json": summary,  # a format object: its run metadata goes to run.json
        "curve.json": FurlCurve(vlm_random_weights=ctx.mark["vlm_random_weights"], task=cfg.task, variant=cfg.variant,
                                seed=cfg.seed, curve=st.curve, obs=obs_mark(cfg))}
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
    frames, success = expert_rollout(cfg.task, seed=cfg.seed, image_size=cfg.image_size, camera=cfg.camera,
                                     fast_render=cfg.fast_render, render="all")
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
