"""Grid-world stepping speed: our batched torch env vs minigrid's MiniGrid-Empty-8x8-v0 and gymnasium's
SyncVectorEnv over our own single env, measured in one run. Random actions; actions are drawn inside the timed
loop for every contender (drawing them is part of stepping an environment with a random policy).

    .venv/bin/python benchmarks/bench_gridworld.py [--seconds 3] [--json out.json]

Targets: >= 10 million batched steps/s on a 2-core CPU and >= 100x minigrid; the measured numbers are
in benchmarks/results/bench_gridworld.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium
import numpy as np
import torch

from cliprl_cli.clip_rl.gridworld import BatchedGridWorld, GridGoalEnv

try:
    import minigrid  # noqa: F401  (registers the MiniGrid envs; optional, the comparison is skipped without it)
except ImportError:
    minigrid = None


def timed(step, seconds: float) -> float:
    """Call ``step()`` (which returns how many env steps it took) for about ``seconds``; return steps/s."""
    for _ in range(3):
        step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def bench_batched(num_envs: int, seconds: float, threads: int) -> float:
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    env = BatchedGridWorld(10, (0, 7), num_envs, generator=gen)
    env.reset()

    def step():
        env.step(torch.randint(0, 4, (num_envs,), generator=gen))
        return num_envs

    return timed(step, seconds)


def bench_single(seconds: float) -> float:
    env = GridGoalEnv(size=10, task="top left third")
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step():
        _, _, term, trunc, _ = env.step(int(rng.integers(4)))
        if term or trunc:
            env.reset()
        return 1

    return timed(step, seconds)


def bench_sync_vector(num_envs: int, seconds: float) -> float:
    envs = gymnasium.vector.SyncVectorEnv([lambda: GridGoalEnv(size=10, task="top left third")] * num_envs)
    envs.reset(seed=0)

    def step():
        envs.step(envs.action_space.sample())
        return num_envs

    return timed(step, seconds)


def bench_minigrid(seconds: float) -> float | None:
    if minigrid is None:
        return None
    env = gymnasium.make("MiniGrid-Empty-8x8-v0")
    env.reset(seed=0)

    def step():
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset()
        return 1

    return timed(step, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results: dict[str, object] = {"machine": platform.processor() or platform.machine(),
                                  "torch": torch.__version__, "seconds_per_measurement": args.seconds}
    minigrid_rate = bench_minigrid(args.seconds)
    single = bench_single(args.seconds)
    sync = bench_sync_vector(64, args.seconds)
    rows = [("minigrid MiniGrid-Empty-8x8-v0 (1 env)", minigrid_rate),
            ("cliprl GridGoalEnv (gymnasium, 1 env)", single),
            ("gymnasium SyncVectorEnv x64 of GridGoalEnv", sync)]
    for threads in (1, 2):
        for num_envs in (4096, 16384, 65536):
            rows.append((f"cliprl BatchedGridWorld x{num_envs}, {threads} thread(s)",
                         bench_batched(num_envs, args.seconds, threads)))
    best = max(v for k, v in rows if k.startswith("cliprl Batched"))
    print(f"{'contender':<48} {'steps/s':>14} {'vs minigrid':>12}")
    for name, value in rows:
        ratio = f"{value / minigrid_rate:>11.1f}x" if (minigrid_rate and value) else f"{'n/a':>12}"
        print(f"{name:<48} {value:>14,.0f} {ratio}" if value else f"{name:<48} {'not installed':>14}")
    results["rows"] = [{"name": k, "steps_per_s": v} for k, v in rows]
    results["best_batched_steps_per_s"] = best
    results["speedup_vs_minigrid"] = best / minigrid_rate if minigrid_rate else None
    results["targets"] = {"10M steps/s": best >= 1e7,
                          "100x minigrid": bool(minigrid_rate and best / minigrid_rate >= 100)}
    print(f"best batched: {best / 1e6:.1f} M steps/s; {results['speedup_vs_minigrid'] or float('nan'):.0f}x minigrid;"
          f" targets met: {results['targets']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
