"""PPO training speed on a BabyAI level: this project's PPO loop (:func:`cliprl_cli.clip_rl.ppo.train_ppo` on
:class:`cliprl_cli.clip_rl.babyai.BabyAIBatch`, levels grouped on worker processes) vs Stable-Baselines3's PPO with
``SubprocVecEnv`` (one process per level), side by side in one run, on the same level, instruction, observation
encoding, network widths and PPO settings.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_babyai_ppo.py [--steps 40000] [--num-envs 16] [--num-steps 64]
        [--workers 2] [--json benchmarks/results/bench_babyai_ppo.json]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_babyai_ppo.py --missions-only \
        --json benchmarks/results/bench_babyai_missions.json

Both see MiniGrid's own level with the mission held to the instruction (:func:`cliprl_cli.clip_rl.babyai.make_env`)
and the same 984-d one-hot observation (:func:`cliprl_cli.clip_rl.babyai.encode_observation`; SB3 through an
observation wrapper in each subprocess, ours encoded in one batch in the learner). Same settings: ``num_envs``
levels, ``num_steps`` per level per update, 4 epochs, 4 minibatches, lr 1e-3, gamma 0.99, GAE 0.95 (ours: 0.9, its
default; the cost is the same), clip 0.2, two tanh layers of 64 (SB3: separate actor and critic trunks, its
default; ours: one shared trunk), one torch thread in the learner. Timed: the training loop only (SB3's
``learn``; ours from its first rollout), env steps per second of wall time, with our convergence checks turned off
(one evaluation episode at the start and end), so both loops do the same work. The environment processes are
started before the clock starts in both.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import gymnasium
import numpy as np
import torch

from cliprl_cli.clip_rl.babyai import OBS_DIM, EpisodeRule, encode_observation, make_env
from cliprl_cli.clip_rl.config import PPOConfig
from cliprl_cli.clip_rl.policy import PolicySpec
from cliprl_cli.clip_rl.ppo import train_ppo
from cliprl_cli.clip_rl.tasks import load_suite

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "cliprl_cli" / "data" / "babyai_anchor.yaml"
TASK = "go to the red ball"


class Encoded(gymnasium.ObservationWrapper):
    """SB3's view of the level: the same float32 one-hot vector our learner feeds its network."""

    def __init__(self, env):
        super().__init__(env)
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (OBS_DIM,), np.float32)

    def observation(self, observation):
        return encode_observation(observation)


def sb3_env(seed: int):
    env = Encoded(make_env(load_suite(SUITE), TASK))
    env.reset(seed=seed)
    return env


def bench_sb3(steps: int, num_envs: int, num_steps: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv

    torch.set_num_threads(1)
    venv = SubprocVecEnv([functools.partial(sb3_env, i) for i in range(num_envs)])
    batch = num_envs * num_steps
    model = PPO("MlpPolicy", venv, n_steps=num_steps, batch_size=batch // 4, n_epochs=4, learning_rate=1e-3,
                gamma=0.99, gae_lambda=0.95, clip_range=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
                policy_kwargs={"net_arch": [64, 64]}, device="cpu", seed=0, verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    done = model.num_timesteps
    venv.close()
    return {"env_steps": done, "wall_s": round(wall, 2), "env_steps_per_s": round(done / wall, 1)}


def bench_ours(steps: int, num_envs: int, num_steps: int, workers: int) -> dict:
    torch.set_num_threads(1)
    suite = load_suite(SUITE)
    ppo = replace(PPOConfig(), num_envs=num_envs, num_steps=num_steps, epochs=4, minibatches=4, lr=1e-3, gamma=0.99,
                  max_env_steps=steps, eval_every=10 ** 6, eval_episodes=1, success_threshold=1.0,
                  bot_length_bound=0.0)
    rule = EpisodeRule(1, 1.0, 0.0)
    spec = PolicySpec(hidden=64, layers=2, **suite.policy_spec_fields())
    result = train_ppo(spec, (), ppo, seed=0, env_factory=suite.env_factory(TASK, rule, workers=workers))
    # train_ppo's clock includes the two one-episode evaluations (start, end): a few dozen steps of 10^4+
    return {"env_steps": result.env_steps, "wall_s": round(result.wall_time_s, 2),
            "env_steps_per_s": round(result.env_steps / result.wall_time_s, 1), "workers": workers}


def bench_missions(resets: int) -> dict:
    """Per shipped task: layouts drawn per episode to hold the mission (1.0 = pinned or always posed) and the wall
    time of one episode's reset, over ``resets`` seeds."""
    out = {}
    for path in sorted((ROOT / "cliprl_cli" / "data").glob("babyai_*.yaml")):
        suite = load_suite(path)
        for task in suite.tasks:
            key = f"{suite.environment(task)} '{task}'"
            if key in out:
                continue
            env = make_env(suite, task)
            draws, start = 0, time.perf_counter()
            for seed in range(resets):
                env.reset(seed=seed)
                draws += env.draws
            out[key] = {"mode": suite.mission_mode(task), "draws_per_episode": round(draws / resets, 2),
                        "reset_ms": round(1e3 * (time.perf_counter() - start) / resets, 2)}
            env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--num-steps", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternated (ours, SB3) pairs")
    parser.add_argument("--resets", type=int, default=50, help="seeds per task for the mission-holding cost")
    parser.add_argument("--missions-only", action="store_true", help="only the mission-holding cost")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    missions = bench_missions(args.resets)
    for key, row in missions.items():
        print(f"{key}: {row['mode']}, {row['draws_per_episode']} layouts per episode, {row['reset_ms']} ms per reset")
    if args.missions_only:
        if args.json is not None:
            args.json.write_text(json.dumps({"missions": missions, "resets": args.resets, "load_before": round(load, 2),
                                             "load_after": round(os.getloadavg()[0], 2)}, indent=2) + "\n")
        return
    runs = []
    for rep in range(args.repeats):  # alternated, so a change in the machine's load falls on both
        ours = bench_ours(args.steps, args.num_envs, args.num_steps, args.workers)
        print(f"[{rep}] ours (train_ppo, {args.workers} workers): {ours['env_steps_per_s']:,.0f} env steps/s "
              f"({ours['env_steps']} steps in {ours['wall_s']} s)", flush=True)
        sb3 = bench_sb3(args.steps, args.num_envs, args.num_steps)
        print(f"[{rep}] SB3 PPO + SubprocVecEnv ({args.num_envs} processes): {sb3['env_steps_per_s']:,.0f} env "
              f"steps/s ({sb3['env_steps']} steps in {sb3['wall_s']} s)", flush=True)
        runs.append({"ours": ours, "sb3": sb3, "ratio": round(ours["env_steps_per_s"] / sb3["env_steps_per_s"], 3)})
    ratio = float(np.median([r["ratio"] for r in runs]))
    ours = {"env_steps_per_s": float(np.median([r["ours"]["env_steps_per_s"] for r in runs]))}
    sb3 = {"env_steps_per_s": float(np.median([r["sb3"]["env_steps_per_s"] for r in runs]))}
    print(f"ours / SB3 (median of {args.repeats} alternated pairs): {ratio:.2f}x")
    record = {"level": "BabyAI-GoToRedBall-v0", "instruction": TASK, "num_envs": args.num_envs,
              "num_steps": args.num_steps, "steps": args.steps, "ours_median": ours, "sb3_median": sb3, "ratio_median": round(ratio, 3), "runs": runs, "missions": missions, "resets": args.resets,
              "cpus": os.cpu_count(), "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
              "python": platform.python_version(), "torch": torch.__version__}
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
