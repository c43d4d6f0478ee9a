"""The FuRL training loop: SAC on Meta-World state, VLM rewards from rendered frames, alignment, relay, baselines.

Variants (``--variant``), what trains the evaluated agent (``r_task = success - 1``, ``rho = 0.05``):

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

Loop, per environment step (``num_envs`` environments stepped together):

1. actions: uniform random for the first ``random_steps`` steps; then, while relay is on, each environment follows
   the VLM-reward agent or the task-reward agent (Gaussian noise 0.2 added, as in the authors' code) in turns of
   ``relay_len`` steps, ``relay_len`` drawn per episode from {50, 100, 150, 200}, the starting agent alternating
   between episodes; relay stops for good after 2,500 positive frames;
2. step the environments, render the new frames upright, hand them to a background thread that embeds them as
   one batch (so embedding step t overlaps stepping and rendering step t+1 and the gradient steps); the
   transitions of step t are committed to the replay buffer once their embeddings are back;
3. ``num_envs`` gradient steps (one per environment step) once ``random_steps`` steps are collected: the VLM reward
   is recomputed from the sampled embeddings with the current heads; the heads take one alignment step on the
   same cadence; while relay is on, the task-reward agent takes a step on the same batch with ``r_task`` alone.

Choices the paper leaves open: the VLM-RM variants use the VLM reward alone at scale 1 (no task reward, no rho);
evaluation runs on its own environment (same seed: same goal when fixed; seed+100 with ``--random-goal``, as in
the authors' code) with the VLM agent's mean action; alignment steps share the SAC cadence (one per gradient
step) and Adam at lr 1e-4; Eq. 5 uses the SAC batch itself and the pairs its goal distances rank (the
authors' code); with several environments, all share one goal in the fixed-goal setting.

The loop's whole state lives in one :class:`RunState` so that a checkpoint/resume can save and restore it.

Preemption (``OUT/checkpoint.safetensors`` + ``.json``): the run checkpoints every ``checkpoint_every_s`` seconds
and when SIGTERM/SIGUSR1 arrives, always between two environment steps (at most one step's latency, well inside
SLURM's ``--signal=B:TERM@60`` warning), then exits 75; rerunning the same command resumes and, on the CPU, writes
the same ``agent.safetensors`` bytes as an uninterrupted run. Saved: the SAC agents with their optimizers, heads and
their optimizer, the filled part of the replay buffer and alignment store, the transitions whose embeddings were
in flight (the embedding thread is waited for first), the per-environment episode bookkeeping, the loss
accumulators, and every RNG (torch generator, torch global/CUDA, numpy generator, numpy global, python).

MuJoCo/Meta-World state is not serialised: it is rebuilt by *replay*. Each environment's current episode is
recorded as the RNG states its reset drew from (Meta-World draws random goals from the global ``np.random``, or from
``env.unwrapped.np_random`` when seeded) and the actions taken since; on resume a freshly built environment gets
those RNG states back, is reset, and re-steps the actions (at most 499, no rendering: about a second). MuJoCo is
deterministic for the same inputs on the same build, so this restores everything, including Python-side
attributes (``_prev_obs``, path length, task targets) and wrapper counters that a qpos/qvel snapshot would miss;
the replayed observation is compared with the saved one and a mismatch (another MuJoCo build) is reported.
The evaluation environment is always between episodes at a checkpoint, so its RNG states are enough.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..adam import Adam
from ..checkpoint import PreemptionGuard, load_checkpoint, remove_checkpoint, save_checkpoint
from ..errors import CliprlError, PreemptedError

CHECKPOINT_FILE = "checkpoint.safetensors"
# 2: optimizers are cliprl_cli.adam.Adam (state as tensors; SAC's actor and log(alpha) share one)
CHECKPOINT_FORMAT = 2
# FurlConfig fields that do not change what a run computes: a checkpoint written with other values still resumes
# (``threads``: a requeued job may land on a node with another core count; the run continues, not bit-identically).
_NOT_IN_CHECKPOINT_CONFIG = ("out", "quiet", "threads")

VARIANTS = {
    # name: (use task reward, vlm reward kind, relay, heads, align eq4, align eq5)
    "sac": dict(task=True, vlm=None, relay=False, heads=False, eq4=False, eq5=False),
    "vlm-rm": dict(task=False, vlm="zero-shot", relay=False, heads=False, eq4=False, eq5=False),
    "vlm-rm-gb": dict(task=False, vlm="goal-baseline", relay=False, heads=False, eq4=False, eq5=False),
    "vlm": dict(task=True, vlm="zero-shot", relay=False, heads=False, eq4=False, eq5=False),
    "vlm-proj": dict(task=True, vlm="heads", relay=False, heads=True, eq4=False, eq5=False),
    "relay": dict(task=True, vlm="zero-shot", relay=True, heads=False, eq4=False, eq5=False),
    "furl-no-goal": dict(task=True, vlm="heads", relay=True, heads=True, eq4=True, eq5=False),
    "furl": dict(task=True, vlm="heads", relay=True, heads=True, eq4=True, eq5=True),
}
RELAY_LENGTHS = (50, 100, 150, 200)


def relay_turn(ep_step, relay_len, first_agent):
    """Per environment: True where the task-reward agent acts at this episode step, False for the VLM agent.

    Turns last ``relay_len`` steps; ``first_agent`` (0 = VLM agent, 1 = task agent) is who starts the episode.
    """
    return ((np.asarray(ep_step) // np.asarray(relay_len)) + np.asarray(first_agent)) % 2 == 1


def relay_still_on(relay_on: bool, positive_frames: int, threshold: int = 2500) -> bool:
    """Relay stops for good once ``threshold`` positive frames have been collected."""
    return relay_on and positive_frames < threshold


@dataclass
class FurlConfig:
    task: str = "drawer-open-v3"
    variant: str = "furl"
    seed: int = 0
    steps: int = 1_000_000
    out: str = "runs/furl"
    device: str = "auto"
    num_envs: int = 1
    threads: int | None = None
    random_goal: bool = False
    instruction: str | None = None
    # rendering / VLM
    camera: str = "corner2"
    image_size: int = 224
    fast_render: bool = False
    vlm_model: str = "RN50"
    vlm_pretrained: str | None = "openai"
    vlm_checkpoint: str | None = None
    baseline_prompt: str = "A robot arm on a table."
    gb_alpha: float = 0.5
    goal_cache: str | None = None
    # SAC, the paper's Table 5
    hidden: int = 256
    lr: float = 1e-4
    batch_size: int = 256
    tau: float = 0.01
    gamma: float = 0.99
    buffer_size: int = 1_000_000
    random_steps: int = 10_000
    # FuRL
    rho: float = 0.05
    margin: float = 0.1
    goal_margin: float = 0.2
    lag: int = 10
    relay_threshold: int = 2500
    relay_noise: float = 0.2
    align_capacity: int = 20_000
    # evaluation and logging
    eval_every: int = 10_000
    eval_episodes: int = 10
    sample_frames: int = 4
    quiet: bool = False

    def validate(self) -> None:
        from .env import check_task

        self.task = check_task(self.task)
        if self.variant not in VARIANTS:
            raise CliprlError(f"unknown variant {self.variant!r}; known variants: {', '.join(VARIANTS)}")
        for name in ("steps", "num_envs", "image_size", "batch_size", "buffer_size", "eval_every", "eval_episodes"):
            if getattr(self, name) < 1:
                raise CliprlError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.random_steps < 0:
            raise CliprlError(f"--random-steps must be >= 0, got {self.random_steps}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise CliprlError(f"--device must be auto, cpu or cuda, got {self.device!r}")


def load_instruction(task: str) -> str:
    import yaml
    from importlib import resources

    table = yaml.safe_load(resources.files("cliprl_cli").joinpath("data/furl_instructions.yaml").read_text())
    return table[task]


def resolve_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CliprlError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


@dataclass
class RunState:
    """Everything the loop mutates (what a checkpoint would save)."""

    agent: Any
    relay_agent: Any
    heads: Any
    heads_opt: Any
    buffer: Any
    store: Any
    np_rng: Any
    torch_gen: Any
    step: int = 0
    episodes: int = 0
    updates: int = 0
    relay_on: bool = False
    train_successes: int = 0
    curve: list = field(default_factory=list)
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


def run_furl(cfg: FurlConfig, *, checkpoint_every_s: float = 300.0) -> dict[str, Any]:
    """Train one (task, variant, seed); write everything under ``cfg.out``; return the final summary.

    A checkpoint is written to ``OUT/checkpoint.safetensors`` every ``checkpoint_every_s`` seconds and on
    SIGTERM/SIGUSR1 (then :class:`PreemptedError`, exit 75); a valid one there is resumed from, and it is removed
    once the run's artifacts are written.
    """
    from ..cpu_tuning import tuned_for_training

    # The guard is on from the start, so a signal during the (slow) set-up is honoured at the first step. The CPU
    # settings (kept freed memory, denormals flushed: see cpu_tuning.py) come before any parallel torch work, so
    # torch's worker threads inherit them.
    with PreemptionGuard() as guard, tuned_for_training() as cpu_tuning:
        return _run_furl(cfg, guard, checkpoint_every_s, cpu_tuning)


def _run_furl(cfg: FurlConfig, guard: PreemptionGuard, checkpoint_every_s: float,
              cpu_tuning: dict[str, bool]) -> dict[str, Any]:
    cfg.validate()
    import torch

    from ..artifacts import atomic_write_bytes, atomic_write_json, save_artifact
    from ..progress import ProgressReporter
    from ..seeding import seed_everything
    from . import rewards as R
    from .buffer import AlignmentStore, ReplayBuffer
    from .env import close_env, make_env, render_upright
    from .goal_image import expert_rollout, goal_image, png_bytes
    from .sac import SAC

    spec = VARIANTS[cfg.variant]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    # CPU threads for torch. With a VLM: half the cores (at least 1), leaving the rest to the renderer (Mesa
    # llvmpipe runs on the CPU too) and the environment; measured on a loaded 2-core machine, 2 torch threads for
    # the tiny encoder ran 50x slower than 1 (threads spinning against the renderer). Without one (`sac`) nothing
    # renders while training, and every core goes to the update (2 threads: 110 vs 65 env steps/s here).
    import os

    uses_vlm = spec["vlm"] is not None
    cores = os.cpu_count() or 2
    threads = cfg.threads or (max(1, cores // 2) if uses_vlm else cores)
    gen = seed_everything(cfg.seed, threads=threads)
    instruction = cfg.instruction or load_instruction(cfg.task)

    # ---------------------------------------------------------------- VLM, text and goal embeddings
    vlm = text_emb = goal_emb = baseline_emb = None
    random_vlm = False
    if uses_vlm:
        from .vlm import load_vlm

        vlm = load_vlm(cfg.vlm_model, None if cfg.vlm_checkpoint else cfg.vlm_pretrained, cfg.vlm_checkpoint,
                       device=str(device))
        random_vlm = vlm.random_weights
        if random_vlm:
            print(f"warning: the VLM {cfg.vlm_model} has RANDOM weights (--vlm-pretrained none): its rewards are "
                  "noise; every artifact of this run is marked vlm_random_weights", file=sys.stderr)
        text_emb = vlm.encode_text(instruction).to(device)
        if spec["vlm"] == "goal-baseline":
            baseline_emb = vlm.encode_text(cfg.baseline_prompt).to(device)
    goal_frame = None
    if spec["eq5"]:
        cache = Path(cfg.goal_cache) if cfg.goal_cache else Path.home() / ".cache" / "cliprl" / "furl-goals"
        goal_frame, goal_emb = goal_image(cfg.task, vlm, seed=cfg.seed, image_size=cfg.image_size,
                                          camera=cfg.camera, fast_render=cfg.fast_render, cache_dir=cache)
        goal_emb = goal_emb.to(device)
    mark = {"vlm_random_weights": random_vlm}

    # ---------------------------------------------------------------- environments and learners
    env_seeds = [cfg.seed + (1000 * i if cfg.random_goal else 0) for i in range(cfg.num_envs)]
    envs = [make_env(cfg.task, seed=s, image_size=cfg.image_size, camera=cfg.camera,
                     random_goal=cfg.random_goal, fast_render=cfg.fast_render) for s in env_seeds]
    eval_env = make_env(cfg.task, seed=cfg.seed + (100 if cfg.random_goal else 0), image_size=None,
                        random_goal=cfg.random_goal)
    obs_dim = envs[0].observation_space.shape[0]
    act_dim = envs[0].action_space.shape[0]
    sac_kw = dict(device=device, hidden=cfg.hidden, lr=cfg.lr, gamma=cfg.gamma, tau=cfg.tau)
    heads = heads_opt = None
    if spec["heads"]:
        heads = R.Heads(vlm.embed_dim, vlm.embed_dim).to(device)
        heads.requires_grad_(spec["eq4"] or spec["eq5"])
        if spec["eq4"] or spec["eq5"]:
            heads_opt = Adam(heads.parameters(), lr=cfg.lr, fused=True)
    st = RunState(
        agent=SAC(obs_dim, act_dim, **sac_kw),
        relay_agent=SAC(obs_dim, act_dim, **sac_kw) if spec["relay"] else None,
        heads=heads, heads_opt=heads_opt,
        buffer=ReplayBuffer(min(cfg.buffer_size, cfg.steps), obs_dim, act_dim, vlm.embed_dim if uses_vlm else 0,
                            device=device),
        store=AlignmentStore(vlm.embed_dim, cfg.align_capacity, device=device) if uses_vlm else None,
        np_rng=np.random.default_rng(cfg.seed), torch_gen=gen, relay_on=spec["relay"])

    def vlm_reward(emb):
        if spec["vlm"] == "zero-shot":
            return emb @ text_emb
        if spec["vlm"] == "goal-baseline":
            return R.goal_baseline_reward(emb, text_emb, baseline_emb, cfg.gb_alpha)
        return R.aligned_reward(heads, text_emb, emb)

    # ---------------------------------------------------------------- per-environment episode bookkeeping
    n = cfg.num_envs
    st.ep_actions = [[] for _ in range(n)]
    st.ep_start_rng = [None] * n

    def reset_env(i: int):
        """Start env i's next episode, noting first the RNG states its reset draws from (a resume replays from here)."""
        st.ep_start_rng[i] = {"np_global": _np_global_state(),
                              "env": envs[i].unwrapped.np_random.bit_generator.state}
        st.ep_actions[i] = []
        return envs[i].reset()[0]

    st.obs = np.stack([reset_env(i) for i in range(n)]).astype(np.float32)
    st.ep_step = np.zeros(n, dtype=np.int64)
    st.relay_len = st.np_rng.choice(RELAY_LENGTHS, size=n)
    st.first_agent = np.arange(n) % 2  # 0: the VLM agent starts, 1: the task agent starts; flips every episode
    st.traj_emb = [[] for _ in range(n)]
    st.traj_success = [[] for _ in range(n)]
    st.ep_success = np.zeros(n, dtype=bool)
    goal_emb_cpu = goal_emb.cpu() if goal_emb is not None else None
    sample_at = set(np.linspace(1, cfg.steps, max(cfg.sample_frames, 1), dtype=int).tolist())
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1) if uses_vlm else None
    pending = None  # (transition arrays, future of their embeddings)
    acc: dict[str, Any] = {}
    acc_n = 0
    timings = {"env": 0.0, "render": 0.0, "embed_wait": 0.0, "update": 0.0, "eval": 0.0}
    t_start = time.perf_counter()
    last_eval_wall, last_eval_step = t_start, 0

    def accumulate(stats: dict) -> None:
        nonlocal acc_n
        for key, value in stats.items():
            acc[key] = acc[key] + value if key in acc else value
        acc_n += 1

    def commit(item) -> None:
        """Write one environment step's transitions (their embeddings now known) and do the episode bookkeeping."""
        (o, a, r_task, o2, done_mask, success, emb) = item
        goal_dist = None
        if emb is not None:
            goal_dist = ((emb.float() - goal_emb_cpu).norm(dim=-1) if goal_emb_cpu is not None
                         else torch.zeros(len(o)))
        st.buffer.add(o, a, r_task, o2, np.ones(len(o), dtype=np.uint8), emb, goal_dist)
        if st.store is None:
            return
        for i in range(len(o)):
            st.traj_emb[i].append(emb[i])
            st.traj_success[i].append(bool(success[i]))
            if done_mask[i]:
                st.store.add_trajectory(torch.stack(st.traj_emb[i]), st.traj_success[i], cfg.lag)
                st.traj_emb[i].clear()
                st.traj_success[i].clear()
        st.relay_on = relay_still_on(st.relay_on, st.store.positive_frames, cfg.relay_threshold)

    def evaluate() -> dict[str, float]:
        t0 = time.perf_counter()
        any_s, last_s, rets, sparse = [], [], [], []
        for _ in range(cfg.eval_episodes):
            o, _ = eval_env.reset()
            ret = sp = 0.0
            hit = False
            info = {"success": 0.0}
            for _ in range(10 ** 9):
                a = st.agent.act(torch.as_tensor(o, dtype=torch.float32, device=device)[None], deterministic=True)
                o, r, term, trunc, info = eval_env.step(a[0].cpu().numpy())
                ret += float(r)
                sp += float(info["success"]) - 1.0
                hit = hit or bool(info["success"])
                if term or trunc:
                    break
            any_s.append(hit)
            last_s.append(bool(info["success"]))
            rets.append(ret)
            sparse.append(sp)
        timings["eval"] += time.perf_counter() - t0
        return {"success_any": float(np.mean(any_s)), "success_last": float(np.mean(last_s)),
                "return": float(np.mean(rets)), "sparse_return": float(np.mean(sparse))}

    def log_point() -> dict[str, Any]:
        nonlocal acc, acc_n, last_eval_wall, last_eval_step
        point: dict[str, Any] = {"step": st.step, **evaluate()}
        for key, value in acc.items():
            point[key] = float(value) / max(acc_n, 1) if torch.is_tensor(value) else value / max(acc_n, 1)
        now = time.perf_counter()
        point.update({"episodes": st.episodes, "train_success_episodes": st.train_successes,
                      "positive_frames": st.store.positive_frames if st.store else 0,
                      "relay_on": st.relay_on, "updates": st.updates, "wall_s": round(now - t_start, 3),
                      "env_steps_per_s": round((st.step - last_eval_step) / max(now - last_eval_wall, 1e-9), 2)})
        acc, acc_n = {}, 0
        last_eval_wall, last_eval_step = time.perf_counter(), st.step
        st.curve.append(point)
        atomic_write_json(out / "curve.json", {**mark, "task": cfg.task, "variant": cfg.variant, "seed": cfg.seed,
                                               "curve": st.curve})
        return point

    atomic_write_json(out / "config.json", {**mark, **dataclasses.asdict(cfg), "instruction": instruction,
                                            "device_resolved": str(device),
                                            "vlm": vlm.identity() if vlm else None})
    if goal_frame is not None:
        atomic_write_bytes(out / "frames" / "goal.png", png_bytes(goal_frame))

    # ---------------------------------------------------------------- checkpoint and resume
    ckpt_path = out / CHECKPOINT_FILE
    ckpt_config = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_IN_CHECKPOINT_CONFIG}
    ckpt_config["device_resolved"] = str(device)
    ckpt_config["checkpoint_format"] = CHECKPOINT_FORMAT  # an older layout is set aside, not misread

    def write_checkpoint() -> None:
        tensors: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for name, agent in (("agent", st.agent), ("relay_agent", st.relay_agent)):
            if agent is not None:
                meta[name] = _sac_to_tensors(agent, name, tensors)
        if st.heads is not None:
            tensors.update({f"heads/{k}": v for k, v in st.heads.state_dict().items()})
        if st.heads_opt is not None:
            opt_tensors = st.heads_opt.state_tensors("heads_opt")
            tensors.update(opt_tensors)
        buf_tensors, meta["buffer"] = st.buffer.state_tensors("buffer")
        tensors.update(buf_tensors)
        if st.store is not None:
            store_tensors, meta["store"] = st.store.state_tensors("align")
            tensors.update(store_tensors)
        tensors["loop/obs"] = torch.from_numpy(st.obs)
        for i in range(n):
            tensors[f"env{i}/actions"] = torch.from_numpy(
                np.asarray(st.ep_actions[i], dtype=np.float32).reshape(-1, act_dim))
            if st.traj_emb[i]:
                tensors[f"env{i}/traj_emb"] = torch.stack(st.traj_emb[i])
        if pending is not None:
            # Wait for the embedding thread and save the in-flight transitions as they are: committing them now
            # would move the relay switch-off and the alignment store one step earlier than in an unbroken run.
            item, fut = pending
            emb = fut.result() if fut is not None else None
            names = ("obs", "act", "r_task", "final_obs", "done", "success")
            tensors.update({f"pending/{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in zip(names, item)})
            if emb is not None:
                tensors["pending/emb"] = emb
        for key, value in acc.items():
            if torch.is_tensor(value):
                tensors[f"acc/{key}"] = value
        tensors["rng/torch_gen"] = st.torch_gen.get_state()
        tensors["rng/torch_global"] = torch.get_rng_state()
        if device.type == "cuda":
            tensors["rng/torch_cuda"] = torch.cuda.get_rng_state(device)
        python_rng = random.getstate()
        state = {
            **meta, "step": st.step, "episodes": st.episodes, "updates": st.updates, "relay_on": st.relay_on,
            "train_successes": st.train_successes, "curve": st.curve,
            "ep_step": st.ep_step.tolist(), "relay_len": st.relay_len.tolist(),
            "first_agent": st.first_agent.tolist(), "ep_success": st.ep_success.tolist(),
            "traj_success": st.traj_success, "ep_start_rng": st.ep_start_rng,
            "pending": pending is not None,
            "acc_keys": list(acc), "acc_scalars": {k: v for k, v in acc.items() if not torch.is_tensor(v)},
            "acc_n": acc_n,
            "timings": timings, "elapsed_s": time.perf_counter() - t_start, "last_eval_step": last_eval_step,
            "rng": {"np_rng": st.np_rng.bit_generator.state, "np_global": _np_global_state(),
                    "python": [python_rng[0], list(python_rng[1]), python_rng[2]],
                    "eval_env": eval_env.unwrapped.np_random.bit_generator.state},
        }
        save_checkpoint(ckpt_path, tensors, state, ckpt_config)

    def restore(tensors, state) -> None:
        nonlocal pending, acc, acc_n, t_start, last_eval_step
        for name, agent in (("agent", st.agent), ("relay_agent", st.relay_agent)):
            if agent is not None:
                _sac_from_tensors(agent, name, tensors, state[name])
        if st.heads is not None:
            st.heads.load_state_dict({k[len("heads/"):]: v for k, v in tensors.items() if k.startswith("heads/")})
        if st.heads_opt is not None:
            st.heads_opt.load_state_tensors(tensors, "heads_opt")
        st.buffer.load_state_tensors(tensors, state["buffer"], "buffer")
        if st.store is not None:
            st.store.load_state_tensors(tensors, state["store"], "align")
        st.step, st.episodes, st.updates = state["step"], state["episodes"], state["updates"]
        st.relay_on, st.train_successes, st.curve = state["relay_on"], state["train_successes"], state["curve"]
        st.ep_step = np.asarray(state["ep_step"], dtype=np.int64)
        st.relay_len = np.asarray(state["relay_len"], dtype=st.relay_len.dtype)
        st.first_agent = np.asarray(state["first_agent"], dtype=st.first_agent.dtype)
        st.ep_success = np.asarray(state["ep_success"], dtype=bool)
        st.traj_success = [list(flags) for flags in state["traj_success"]]
        st.traj_emb = [list(tensors[f"env{i}/traj_emb"].unbind(0)) if f"env{i}/traj_emb" in tensors else []
                       for i in range(n)]
        # Rebuild each environment's state: reset from the RNG states its episode started with, replay the actions.
        saved_obs = tensors["loop/obs"].numpy().copy()
        replayed = np.empty_like(saved_obs)
        for i, env in enumerate(envs):
            start = state["ep_start_rng"][i]
            _set_np_global_state(start["np_global"])
            env.unwrapped.np_random.bit_generator.state = start["env"]
            st.ep_start_rng[i] = start
            o = env.reset()[0]
            st.ep_actions[i] = [a.copy() for a in tensors[f"env{i}/actions"].numpy()]
            for a in st.ep_actions[i]:
                o = env.step(a)[0]
            replayed[i] = o
        if not np.array_equal(replayed, saved_obs):
            print(f"warning: {ckpt_path}: replaying the environments did not reproduce the saved observations "
                  "(another MuJoCo/Meta-World build?); the run continues, but not bit-identically", file=sys.stderr)
        st.obs = replayed
        pending = None
        if state["pending"]:
            names = ("obs", "act", "r_task", "final_obs", "done", "success")
            item = tuple(tensors[f"pending/{k}"].numpy().copy() for k in names)
            fut = None
            if "pending/emb" in tensors:
                fut = concurrent.futures.Future()
                fut.set_result(tensors["pending/emb"].clone())
            pending = (item, fut)
        # In the saved key order: it is the order of the curve points' keys.
        acc = {key: (tensors[f"acc/{key}"].to(device) if f"acc/{key}" in tensors else state["acc_scalars"][key])
               for key in state["acc_keys"]}
        acc_n = state["acc_n"]
        timings.update(state["timings"])
        t_start = time.perf_counter() - state["elapsed_s"]
        last_eval_step = state["last_eval_step"]
        # The RNGs last: building and replaying the environments above draws from the global numpy RNG.
        rng = state["rng"]
        st.np_rng.bit_generator.state = rng["np_rng"]
        _set_np_global_state(rng["np_global"])
        random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
        eval_env.unwrapped.np_random.bit_generator.state = rng["eval_env"]
        st.torch_gen.set_state(tensors["rng/torch_gen"])
        torch.set_rng_state(tensors["rng/torch_global"])
        if device.type == "cuda" and "rng/torch_cuda" in tensors:
            torch.cuda.set_rng_state(tensors["rng/torch_cuda"], device)

    resumed_from = None
    loaded = load_checkpoint(ckpt_path, ckpt_config)
    if loaded is not None:
        restore(*loaded)
        resumed_from = st.step

    def close_all() -> None:
        if executor is not None:
            executor.shutdown()
        for env in envs:
            close_env(env)
        close_env(eval_env)

    # ---------------------------------------------------------------- the loop
    steps_total = cfg.steps
    last_ckpt = time.perf_counter()
    with ProgressReporter(f"furl {cfg.task} {cfg.variant}", total=steps_total, quiet=cfg.quiet) as progress:
        if resumed_from is not None:
            progress.log(f"resumed from checkpoint {ckpt_path} at step {resumed_from}")
        while st.step < steps_total:
            # 0. checkpoint (between two environment steps: see the module docstring)
            if guard.requested or time.perf_counter() - last_ckpt >= checkpoint_every_s:
                write_checkpoint()
                last_ckpt = time.perf_counter()
                if guard.requested:
                    close_all()
                    raise PreemptedError(f"received {guard.signal_name}: checkpoint written to {ckpt_path} at step "
                                         f"{st.step}; rerun the same command to resume")
            obs = st.obs
            # 1. act
            if st.step < cfg.random_steps:
                actions = st.np_rng.uniform(-1.0, 1.0, size=(n, act_dim)).astype(np.float32)
            else:
                obs_t = torch.as_tensor(obs, device=device)
                actions = st.agent.act(obs_t).cpu().numpy()
                if st.relay_on:
                    turn = relay_turn(st.ep_step, st.relay_len, st.first_agent)
                    if turn.any():
                        task_actions = st.relay_agent.act(obs_t).cpu().numpy()
                        noise = st.np_rng.normal(0.0, cfg.relay_noise, size=task_actions.shape)
                        task_actions = np.clip(task_actions + noise, -1.0, 1.0).astype(np.float32)
                        actions = np.where(turn[:, None], task_actions, actions)
            # 2. step and render
            t0 = time.perf_counter()
            next_obs = np.empty_like(obs)
            final_obs = np.empty_like(obs)
            success = np.zeros(n, dtype=bool)
            done = np.zeros(n, dtype=bool)
            for i, env in enumerate(envs):
                o2, _, term, trunc, info = env.step(actions[i])
                st.ep_actions[i].append(np.array(actions[i], dtype=np.float32))
                success[i] = bool(info["success"])
                done[i] = term or trunc
                final_obs[i] = o2
                next_obs[i] = o2
            t1 = time.perf_counter()
            timings["env"] += t1 - t0
            st.step += n
            frames = None
            sample_due = any(s in sample_at for s in range(st.step - n + 1, st.step + 1))
            if uses_vlm or sample_due:
                frames = np.stack([render_upright(env) for env in envs])
                if sample_due:
                    atomic_write_bytes(out / "frames" / f"step_{st.step:08d}.png", png_bytes(frames[0]))
            timings["render"] += time.perf_counter() - t1
            st.ep_success |= success
            for i in range(n):
                st.ep_step[i] += 1
                if done[i]:
                    st.episodes += 1
                    st.train_successes += int(st.ep_success[i])
                    st.ep_success[i] = False
                    next_obs[i] = reset_env(i)
                    st.ep_step[i] = 0
                    st.relay_len[i] = st.np_rng.choice(RELAY_LENGTHS)
                    st.first_agent[i] ^= 1
            item = (obs.copy(), actions.astype(np.float32), success.astype(np.float32) - 1.0, final_obs, done,
                    success)
            # 3. hand the frames to the embedding thread; commit the previous step's transitions
            t2 = time.perf_counter()
            if pending is not None:
                prev_item, fut = pending
                commit((*prev_item, fut.result() if fut is not None else None))
                pending = None
            timings["embed_wait"] += time.perf_counter() - t2
            fut = executor.submit(vlm.encode_images, frames) if uses_vlm else None
            if uses_vlm:
                pending = (item, fut)
            else:
                commit((*item, None))
            st.obs = next_obs
            # 4. learn
            if st.step >= cfg.random_steps and st.buffer.size >= 1:
                t3 = time.perf_counter()
                for _ in range(n):
                    accumulate(update(st, cfg, spec, vlm_reward, text_emb, R))
                timings["update"] += time.perf_counter() - t3
            if st.step % cfg.eval_every < n or st.step >= steps_total:
                point = log_point()
                progress.update(st.step, success=point["success_any"], ret=point["return"])
            elif st.step % 100 < n:
                progress.update(st.step)
        if pending is not None:
            commit((*pending[0], pending[1].result()))

    # ---------------------------------------------------------------- artifacts
    tensors = st.agent.state_tensors("agent")
    if st.relay_agent is not None:
        tensors.update(st.relay_agent.state_tensors("relay_agent"))
    if heads is not None:
        tensors.update({f"heads.{k}": v for k, v in heads.state_dict().items()})
    if text_emb is not None:
        tensors["text_embedding"] = text_emb
    if goal_emb is not None:
        tensors["goal_embedding"] = goal_emb
    final = st.curve[-1] if st.curve else {}
    wall = time.perf_counter() - t_start
    summary = {**mark, "task": cfg.task, "variant": cfg.variant, "seed": cfg.seed, "steps": st.step,
               "resumed_from_step": resumed_from,
               "final": final, "wall_s": round(wall, 2), "env_steps_per_s": round(st.step / wall, 2),
               "timings_s": {k: round(v, 3) for k, v in timings.items()},
               "replay_bytes_per_transition": st.buffer.bytes_per_transition(),
               "replay_bytes": st.buffer.nbytes(), "positive_frames": st.store.positive_frames if st.store else 0,
               "cpu_tuning": cpu_tuning, "torch_threads": threads}
    save_artifact(out / "agent.safetensors", tensors, kind="furl-agent", config=dataclasses.asdict(cfg),
                  metrics=final, timings=summary["timings_s"], seed=cfg.seed,
                  extra={**mark, "instruction": instruction, "vlm": vlm.identity() if vlm else None})
    if uses_vlm:
        summary["expert_rewards"] = _expert_rewards(cfg, vlm, text_emb, heads, vlm_reward, mark, out,
                                                    expert_rollout, atomic_write_json, R)
    close_all()
    atomic_write_json(out / "summary.json", summary)
    # Only now: a run killed while writing its artifacts resumes from the last checkpoint and writes them again.
    remove_checkpoint(ckpt_path)
    return summary


def _np_global_state() -> dict[str, Any]:
    """numpy's legacy global RNG state (Meta-World draws random goals from it) as JSON."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached)}


def _set_np_global_state(state: dict[str, Any]) -> None:
    np.random.set_state((state["kind"], np.asarray(state["keys"], dtype=np.uint32), state["pos"],
                         state["has_gauss"], state["cached_gaussian"]))


_SAC_OPTIMIZERS = ("actor_opt", "critic_opt")


def _sac_to_tensors(agent, prefix: str, tensors: dict) -> dict[str, Any]:
    """Add a SAC agent's networks, log(alpha) and optimizer states to ``tensors``; return the optimizers' JSON."""
    tensors.update(agent.state_tensors(prefix))
    for name in _SAC_OPTIMIZERS:
        tensors.update(getattr(agent, name).state_tensors(f"{prefix}.{name}"))
    return {}


def _sac_from_tensors(agent, prefix: str, tensors, meta: dict[str, Any]) -> None:
    import torch

    for name in ("actor", "critic", "critic_target"):
        head = f"{prefix}.{name}."
        getattr(agent, name).load_state_dict({k[len(head):]: v for k, v in tensors.items() if k.startswith(head)})
    with torch.no_grad():
        agent.log_alpha.copy_(tensors[f"{prefix}.log_alpha"])
    for name in _SAC_OPTIMIZERS:
        getattr(agent, name).load_state_tensors(tensors, f"{prefix}.{name}")


def update(st: RunState, cfg: FurlConfig, spec: dict, vlm_reward, text_emb, R) -> dict[str, Any]:
    """One gradient step of the agent (and of the heads, and of the relay agent while relay is on)."""
    import torch

    batch = st.buffer.sample(cfg.batch_size, st.torch_gen)
    stats: dict[str, Any] = {}
    r_vlm = None
    if spec["vlm"] is not None:
        if spec["eq4"] and st.store.ready():
            with torch.no_grad():
                r_vlm = vlm_reward(batch["emb"])
            pos, lag, neg = st.store.sample(cfg.batch_size, st.torch_gen)
            r = R.aligned_reward(st.heads, text_emb, torch.cat([pos, lag, neg]))
            r_pos, r_lag, r_neg = r.chunk(3)
            loss, pos_neg, pos_pos = R.positive_alignment_loss(r_pos, r_neg, r_lag, cfg.margin)
            stats.update(align_loss=loss.detach(), align_pos_neg=pos_neg.detach(), align_pos_pos=pos_pos.detach(),
                         align_stage=torch.tensor(2.0))
            _step(st.heads_opt, loss)
        elif spec["eq5"]:
            r = R.aligned_reward(st.heads, text_emb, batch["emb"])
            mask = R.goal_ranking_mask(batch["goal_dist"], cfg.goal_margin)
            loss = R.negative_alignment_loss(r, mask, cfg.margin)
            r_vlm = r.detach()
            stats.update(align_loss=loss.detach(), align_neg_neg=loss.detach(), align_stage=torch.tensor(1.0))
            _step(st.heads_opt, loss)
        else:
            with torch.no_grad():
                r_vlm = vlm_reward(batch["emb"])
        stats.update(vlm_reward_mean=r_vlm.mean(), vlm_reward_std=r_vlm.std(), vlm_reward_min=r_vlm.min(),
                     vlm_reward_max=r_vlm.max())
    if spec["task"]:
        reward = batch["task_reward"] if r_vlm is None else batch["task_reward"] + cfg.rho * r_vlm
    else:
        reward = r_vlm
    sac_stats = st.agent.update(batch["obs"], batch["act"], reward, batch["next_obs"], batch["discount"])
    stats.update(sac_stats)
    stats["train_reward_mean"] = reward.mean()
    if st.relay_agent is not None and st.relay_on:
        st.relay_agent.update(batch["obs"], batch["act"], batch["task_reward"], batch["next_obs"], batch["discount"])
    st.updates += 1
    return stats


def _step(opt, loss) -> None:
    opt.zero_grad()
    loss.backward()
    opt.step()


def _expert_rewards(cfg, vlm, text_emb, heads, vlm_reward, mark, out, expert_rollout, atomic_write_json, R):
    """The zero-shot and (if heads) aligned VLM reward along one scripted-expert trajectory (paper, Figure 11)."""
    import torch

    frames, success = expert_rollout(cfg.task, seed=cfg.seed, image_size=cfg.image_size, camera=cfg.camera,
                                     fast_render=cfg.fast_render, render="all")
    embs = torch.cat([vlm.encode_images(np.stack(frames[i:i + 64])) for i in range(0, len(frames), 64)])
    embs = embs.float().to(text_emb.device)
    with torch.no_grad():
        record = {**mark, "task": cfg.task, "variant": cfg.variant, "seed": cfg.seed,
                  "instruction_embedding_model": vlm.identity(), "step": list(range(1, len(frames) + 1)),
                  "success": [bool(s) for s in success],
                  "first_success": next((i + 1 for i, s in enumerate(success) if s), None),
                  "zero_shot": R.zero_shot_reward(text_emb, embs).cpu().tolist()}
        if heads is not None:
            record["aligned"] = R.aligned_reward(heads, text_emb, embs).cpu().tolist()
        record["training_reward"] = vlm_reward(embs).cpu().tolist()
    atomic_write_json(out / "expert_rewards.json", record)
    return {"frames": len(frames), "first_success": record["first_success"]}
