"""SAC speed: env steps/s of cliprl's SAC (`cliprl furl --variant sac`, state only, no VLM) vs Stable-Baselines3's SAC.

Same task (Meta-World, fixed goal), same settings: 256x256 actor and critics, batch 256, Adam lr 1e-4, tau 0.01,
gamma 0.99, target entropy -|A|/2, one gradient step per env step after `--learning-starts` uniform-random steps.
Only the learning phase is timed (evaluation excluded). Prints the figures and writes JSON (--json).

    python benchmarks/bench_sac.py --steps 3000 --learning-starts 1000 --json benchmarks/results/bench_sac.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def bench_ours(task: str, steps: int, starts: int, device: str, threads: int) -> dict:
    import torch

    from cliprl_cli.furl.train import FurlConfig, run_furl

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = FurlConfig(task=task, variant="sac", steps=steps, random_steps=starts, eval_every=starts,
                         eval_episodes=1, out=tmp, device=device, image_size=64, quiet=True, sample_frames=1)
        summary = run_furl(cfg)
        curve = json.loads((Path(tmp) / "curve.json").read_text())["curve"]
    # points at `starts` (end of the random phase) and at `steps`; wall_s is taken after each evaluation
    first, last = curve[0], curve[-1]
    learn_s = last["wall_s"] - first["wall_s"] - summary["timings_s"]["eval"] / len(curve)
    return {"impl": "cliprl", "learn_steps": steps - starts, "learn_s": round(learn_s, 3),
            "steps_per_s": round((steps - starts) / learn_s, 2), "updates": last["updates"]}


def bench_sb3(task: str, steps: int, starts: int, device: str, threads: int) -> dict:
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from cliprl_cli.furl.env import make_env

    torch.set_num_threads(threads)
    env = make_env(task, seed=0, image_size=None)
    marks = {}

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == starts:
                marks["start"] = time.perf_counter()
            return True

    model = SAC("MlpPolicy", env, learning_rate=1e-4, buffer_size=steps, learning_starts=starts, batch_size=256,
                tau=0.01, gamma=0.99, train_freq=1, gradient_steps=1, target_entropy=-env.action_space.shape[0] / 2,
                policy_kwargs=dict(net_arch=[256, 256]), device=device, seed=0, verbose=0)
    model.learn(total_timesteps=steps, callback=Clock())
    learn_s = time.perf_counter() - marks["start"]
    return {"impl": "stable-baselines3", "learn_steps": steps - starts, "learn_s": round(learn_s, 3),
            "steps_per_s": round((steps - starts) / learn_s, 2)}


def bench_updates(n: int, device: str, threads: int) -> dict:
    """Gradient steps/s alone (no environment): both implementations on the same random batch, 1 step each."""
    import numpy as np
    import torch
    from stable_baselines3 import SAC as SB3SAC

    from cliprl_cli.furl.env import make_env
    from cliprl_cli.furl.sac import SAC

    torch.set_num_threads(threads)
    dev = torch.device(device)
    ours = SAC(39, 4, device=dev)
    g = torch.Generator().manual_seed(0)
    batch = [torch.randn(256, 39, generator=g), torch.rand(256, 4, generator=g) * 2 - 1, -torch.ones(256),
             torch.randn(256, 39, generator=g), torch.ones(256)]
    batch = [b.to(dev) for b in batch]
    env = make_env("drawer-open-v3", seed=0, image_size=None)
    sb3 = SB3SAC("MlpPolicy", env, learning_rate=1e-4, buffer_size=1000, learning_starts=0, batch_size=256, tau=0.01,
                 gamma=0.99, target_entropy=-2.0, policy_kwargs=dict(net_arch=[256, 256]), device=device, seed=0)
    obs = np.random.default_rng(0).normal(size=(1000, 39))
    for i in range(1000):
        sb3.replay_buffer.add(obs[i], obs[(i + 1) % 1000], np.zeros(4), np.array([-1.0]), np.array([False]), [{}])
    sb3._setup_learn(total_timesteps=1, callback=None)
    out = {}
    for name, fn in (("ours", lambda: ours.update(*batch)), ("sb3", lambda: sb3.train(gradient_steps=1, batch_size=256))):
        for _ in range(10):
            fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out[name] = round(n / (time.perf_counter() - t), 2)
    return {"updates_per_s": out, "speedup": round(out["ours"] / out["sb3"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="drawer-open-v3")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--update-steps", type=int, default=200, help="gradient steps in the update-only figure")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1)))
    parser.add_argument("--json", default="benchmarks/results/bench_sac.json")
    args = parser.parse_args()
    updates = bench_updates(args.update_steps, args.device, args.threads)
    print(f"gradient steps/s alone: cliprl {updates['updates_per_s']['ours']:.1f}, "
          f"SB3 {updates['updates_per_s']['sb3']:.1f} ({updates['speedup']:.2f}x)")
    ours = bench_ours(args.task, args.steps, args.learning_starts, args.device, args.threads)
    sb3 = bench_sb3(args.task, args.steps, args.learning_starts, args.device, args.threads)
    import torch

    result = {"task": args.task, "device": args.device, "threads": args.threads, "torch": torch.__version__,
              "cpu_count": os.cpu_count(), "ours": ours, "sb3": sb3, "update_only": updates,
              "speedup": round(ours["steps_per_s"] / sb3["steps_per_s"], 3)}
    print(f"cliprl SAC : {ours['steps_per_s']:8.1f} env steps/s (learning phase, {ours['learn_steps']} steps)")
    print(f"SB3 SAC    : {sb3['steps_per_s']:8.1f} env steps/s")
    print(f"speed-up   : {result['speedup']:.2f}x")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
