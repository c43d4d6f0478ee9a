"""Colour x shape world stepping speed: the batched torch twin (:class:`cliprl_cli.clip_rl.colour_shape.BatchedColourShape`)
vs MiniGrid's own environment of the same world (``cliprl/ColourShape-v0``, a ``MiniGridEnv`` subclass), side by
side in one run. Random actions, drawn inside the timed loop for every contender; both auto-reset finished
episodes (MiniGrid's by calling ``reset()``, the twin in its ``step``); the MiniGrid env builds its egocentric
observation every step, as it does when a policy is trained on it.

    .venv/bin/python benchmarks/bench_colour_shape.py [--seconds 3] [--layout by-colour] [--json out.json]

Target: the twin >= 100x MiniGrid's env in env steps/s. The measured numbers are in
benchmarks/results/bench_colour_shape.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import gymnasium
import numpy as np
import torch

import cliprl_cli  # noqa: F401  (registers cliprl/ColourShape-v0)
from cliprl_cli.clip_rl.colour_shape import ENV_ID, NUM_ACTIONS, BatchedColourShape, get_layout, object_of_instruction

TASK = "go to the red key"


def timed(step, seconds: float) -> float:
    """Call ``step()`` (which returns how many env steps it took) for about ``seconds``; return steps/s."""
    for _ in range(3):
        step()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def bench_minigrid(layout: str, seconds: float) -> float:
    """MiniGrid's env of the world, one env, random actions, reset when an episode ends."""
    env = gymnasium.make(ENV_ID, layout=layout, task=TASK)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step():
        _, _, term, trunc, _ = env.step(int(rng.integers(NUM_ACTIONS)))
        if term or trunc:
            env.reset()
        return 1

    return timed(step, seconds)


def bench_twin(layout: str, num_envs: int, seconds: float, threads: int, observe: bool) -> float:
    """The batched twin, ``num_envs`` at once; with ``observe`` it also builds the policy input every step."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    env = BatchedColourShape(get_layout(layout), object_of_instruction(TASK), num_envs, generator=gen)
    env.reset()

    def step():
        env.step(torch.randint(0, NUM_ACTIONS, (num_envs,), generator=gen))
        if observe:
            env.observe()
        return num_envs

    return timed(step, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--layout", default="by-colour")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results: dict[str, object] = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                                  "torch": torch.__version__, "layout": args.layout, "task": TASK,
                                  "seconds_per_measurement": args.seconds,
                                  "load_average_at_start": list(os.getloadavg())}
    minigrid_rate = bench_minigrid(args.layout, args.seconds)
    rows = [(f"MiniGrid {ENV_ID} (1 env)", minigrid_rate)]
    for threads in (1, 2):
        for num_envs in (4096, 65536):
            rows.append((f"BatchedColourShape x{num_envs}, {threads} thread(s)",
                         bench_twin(args.layout, num_envs, args.seconds, threads, observe=False)))
    rows.append(("BatchedColourShape x4096 + policy input (416 one-hot), 1 thread",
                 bench_twin(args.layout, 4096, args.seconds, 1, observe=True)))
    best = max(v for k, v in rows if k.startswith("BatchedColourShape") and "policy input" not in k)
    print(f"{'contender':<66} {'steps/s':>14} {'vs MiniGrid':>12}")
    for name, value in rows:
        print(f"{name:<66} {value:>14,.0f} {value / minigrid_rate:>11.1f}x")
    results["rows"] = [{"name": k, "steps_per_s": v, "ratio_vs_minigrid": v / minigrid_rate} for k, v in rows]
    results["minigrid_steps_per_s"] = minigrid_rate
    results["best_twin_steps_per_s"] = best
    results["speedup_vs_minigrid"] = best / minigrid_rate
    results["targets"] = {"100x MiniGrid": best / minigrid_rate >= 100}
    print(f"best twin: {best / 1e6:.1f} M steps/s; MiniGrid: {minigrid_rate:,.0f} steps/s; "
          f"{best / minigrid_rate:,.0f}x (target >= 100x: {'met' if best / minigrid_rate >= 100 else 'NOT met'})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
            fh.write("\n")


if __name__ == "__main__":
    main()
