"""SAC learning check on a CPU: does our SAC learn? Ours (fast CPU path and autograd path) beside Stable-Baselines3
with the same settings, on gymnasium's ``Pendulum-v1``.

Speed benchmarks (``bench_sac.py``) say our SAC is fast; this says it learns. ``Pendulum-v1`` is the standard quick
check: uniform random actions score about -1,200 per episode, a working SAC reaches about -150 to -200 within 20k
steps.

Settings, identical for every implementation (SB3's defaults for SAC, since SB3's SAC is the reference here, except
the random phase): actor and critics 256x256 ReLU, Adam lr 3e-4, batch 256, gamma 0.99, Polyak tau 0.005, target
entropy -|A| = -1, log(alpha) starting at 0, one gradient step per env step after 1,000 uniform-random steps,
replay 1e6 (never full here). Pendulum never terminates: its 200-step time limit is a truncation, and both
bootstrap through it (SB3's ``handle_timeout_termination``). Our actor's tanh output in [-1, 1] is scaled to the
action box [-2, 2] (SB3 does the same rescaling internally). What differs by design: SB3's actor parameterises
log-std clamped to [-20, 2]; ours runs in the style asked for (``--styles``: ``authors``, the FuRL authors' softplus
std + 1e-3, flax init, all steps from the old parameters; ``cleanrl``, log-std squashed into [-5, 2], critic
first).

Evaluation every ``--eval-every`` steps: ``--eval-episodes`` episodes with the mean action on a separate env
(seeds 10_000 + k, the same for every run), mean undiscounted return. Every run is a fresh process with one torch
thread (``--threads``), so runs do not share caches or threads; ``--workers`` runs that many at once.

    python benchmarks/bench_sac_learn.py --steps 20000 --seeds 0 1 --workers 2 \\
        --json benchmarks/results/bench_sac_learn.json --plot benchmarks/results/bench_sac_learn.png
    python benchmarks/bench_sac_learn.py --replot benchmarks/results/bench_sac_learn.json \\
        --plot benchmarks/results/bench_sac_learn.png      # the figure again from a finished run's JSON
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from cliprl_cli.cpu_tuning import tuned_for_training
from cliprl_cli.furl.buffer import ReplayBuffer
from cliprl_cli.furl.sac import SAC

ENV_ID = "Pendulum-v1"
SETTINGS = {"hidden": 256, "lr": 3e-4, "batch_size": 256, "gamma": 0.99, "tau": 0.005, "target_entropy": -1.0,
            "random_steps": 1000, "buffer_size": 1_000_000}
EVAL_SEED = 10_000


def evaluate(policy, episodes: int) -> float:
    """Mean undiscounted return of ``policy(obs) -> action in the env's box`` over ``episodes`` seeded episodes."""
    env = gym.make(ENV_ID)
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=EVAL_SEED + k)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def run_ours(seed: int, steps: int, eval_every: int, eval_episodes: int, style: str, fast: bool) -> dict:
    """Our SAC (``cliprl_cli.furl.sac.SAC`` with our replay buffer), the loop ``cliprl furl --variant sac`` runs."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make(ENV_ID)
    scale = float(env.action_space.high[0])
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    dev = torch.device("cpu")
    agent = SAC(obs_dim, act_dim, device=dev, hidden=SETTINGS["hidden"], lr=SETTINGS["lr"], gamma=SETTINGS["gamma"],
                tau=SETTINGS["tau"], target_entropy=SETTINGS["target_entropy"], style=style)
    agent.fast_cpu_update = fast
    buffer = ReplayBuffer(min(SETTINGS["buffer_size"], steps), obs_dim, act_dim, 0, device=dev)
    gen = torch.Generator().manual_seed(seed)

    def mean_action(o):
        return scale * agent.act(torch.as_tensor(o, dtype=torch.float32).unsqueeze(0), deterministic=True)[0].numpy()

    curve, t0 = [], time.perf_counter()
    obs, _ = env.reset(seed=seed)
    with tuned_for_training():
        for step in range(1, steps + 1):
            if step <= SETTINGS["random_steps"]:
                action = rng.uniform(-1.0, 1.0, size=act_dim).astype(np.float32)
            else:
                action = agent.act(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0].numpy()
            next_obs, reward, terminated, truncated, _ = env.step(scale * action)
            buffer.add(obs[None], action[None], np.array([reward], dtype=np.float32), next_obs[None],
                       np.array([not terminated]))  # discount 1 unless a true termination (never, in Pendulum)
            obs = env.reset()[0] if terminated or truncated else next_obs
            if step >= SETTINGS["random_steps"]:
                b = buffer.sample(SETTINGS["batch_size"], gen)
                agent.update(b["obs"], b["act"], b["task_reward"], b["next_obs"], b["discount"])
            if step % eval_every == 0:
                curve.append({"step": step, "eval_return": round(evaluate(mean_action, eval_episodes), 2),
                              "wall_s": round(time.perf_counter() - t0, 2)})
    return {"impl": f"ours-{'fast' if fast else 'autograd'}-{style}", "seed": seed, "curve": curve}


def run_sb3(seed: int, steps: int, eval_every: int, eval_episodes: int) -> dict:
    """Stable-Baselines3's SAC with the same settings (the optional ``bench`` extra)."""
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback

    env = gym.make(ENV_ID)
    model = SB3SAC("MlpPolicy", env, learning_rate=SETTINGS["lr"], buffer_size=SETTINGS["buffer_size"],
                   learning_starts=SETTINGS["random_steps"], batch_size=SETTINGS["batch_size"], tau=SETTINGS["tau"],
                   gamma=SETTINGS["gamma"], train_freq=1, gradient_steps=1, ent_coef="auto",
                   target_entropy=SETTINGS["target_entropy"], policy_kwargs={"net_arch": [SETTINGS["hidden"]] * 2},
                   seed=seed, device="cpu", verbose=0)
    curve, t0 = [], time.perf_counter()

    class Evaluate(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every == 0:
                ret = evaluate(lambda o: model.predict(o, deterministic=True)[0], eval_episodes)
                curve.append({"step": self.num_timesteps, "eval_return": round(ret, 2),
                              "wall_s": round(time.perf_counter() - t0, 2)})
            return True

    model.learn(total_timesteps=steps, callback=Evaluate())
    return {"impl": "sb3", "seed": seed, "curve": curve}


def one(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    impl, seed = args.only.rsplit(":", 1)
    if impl == "sb3":
        out = run_sb3(int(seed), args.steps, args.eval_every, args.eval_episodes)
    else:
        _, path, style = impl.split("-")
        out = run_ours(int(seed), args.steps, args.eval_every, args.eval_episodes, style, path == "fast")
    out["threads"] = args.threads
    return out


def summarize(runs: list[dict], last_points: int) -> dict:
    """Per implementation: the mean over seeds of each run's mean eval return over its last ``last_points`` points,
    and each run's value; also the step at which each run first reached -200."""
    table = {}
    for impl in sorted({r["impl"] for r in runs}):
        mine = [r for r in runs if r["impl"] == impl]
        finals = [statistics.fmean(p["eval_return"] for p in r["curve"][-last_points:]) for r in mine]
        first = [next((p["step"] for p in r["curve"] if p["eval_return"] >= -200), None) for r in mine]
        table[impl] = {"final_mean": round(statistics.fmean(finals), 1),
                       "final_per_seed": [round(f, 1) for f in finals],
                       "first_step_at_or_above_-200": first, "wall_s": [r["curve"][-1]["wall_s"] for r in mine]}
    return table


def plot(payload: dict, path: str) -> None:
    """Eval return against env steps: one line per run, one colour per implementation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    impls = sorted({r["impl"] for r in payload["runs"]})
    for k, impl in enumerate(impls):
        for j, run in enumerate(r for r in payload["runs"] if r["impl"] == impl):
            ax.plot([p["step"] for p in run["curve"]], [p["eval_return"] for p in run["curve"]], color=f"C{k}",
                    alpha=0.8, linestyle="-" if j == 0 else "--", label=impl if j == 0 else None)
    ax.axhline(-200, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"mean eval return ({payload['eval_episodes']} episodes)")
    ax.set_title(f"SAC on {payload['env']}: ours vs SB3 (dashed: 2nd seed)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-episodes", type=int, default=5)
    ap.add_argument("--impls", nargs="+", default=["ours-fast-authors", "ours-autograd-authors", "ours-fast-cleanrl",
                                                   "sb3"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--last-points", type=int, default=3, help="curve points averaged for the final figure")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None, help="write the curves as a PNG")
    ap.add_argument("--replot", default=None, help="only redraw --plot from this JSON (no training)")
    ap.add_argument("--only", default=None, help=argparse.SUPPRESS)  # IMPL:SEED, one run in this process
    args = ap.parse_args()
    if args.only:
        print(json.dumps(one(args)))
        return
    if args.replot:
        plot(json.loads(Path(args.replot).read_text()), args.plot)
        return
    jobs = [f"{impl}:{seed}" for seed in args.seeds for impl in args.impls]
    base = [sys.executable, __file__, "--steps", str(args.steps), "--eval-every", str(args.eval_every),
            "--eval-episodes", str(args.eval_episodes), "--threads", str(args.threads)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}

    def launch(job: str) -> dict:
        proc = subprocess.run([*base, "--only", job], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{job} failed:\n{proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{job}: final {result['curve'][-1]['eval_return']} after {result['curve'][-1]['wall_s']} s",
              flush=True)
        return result

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        runs = list(pool.map(launch, jobs))
    summary = summarize(runs, args.last_points)
    for impl, row in summary.items():
        print(f"{impl:24s} final {row['final_mean']:8.1f}  per seed {row['final_per_seed']}  "
              f"first >= -200 at {row['first_step_at_or_above_-200']}  wall {row['wall_s']}")
    if args.json:
        payload = {"env": ENV_ID, "settings": SETTINGS, "steps": args.steps, "seeds": args.seeds,
                   "eval_every": args.eval_every, "eval_episodes": args.eval_episodes, "threads": args.threads,
                   "workers": args.workers, "last_points": args.last_points,
                   "command": " ".join(["python", "benchmarks/bench_sac_learn.py", *sys.argv[1:]]),
                   "summary": summary, "runs": runs}
        Path(args.json).write_text(json.dumps(payload, indent=1) + "\n")
        if args.plot:
            plot(payload, args.plot)


if __name__ == "__main__":
    main()
