"""SAC speed: env steps/s of cliprl's SAC (`cliprl furl --variant sac`, state only, no VLM) vs Stable-Baselines3's SAC.

Same task (Meta-World, fixed goal), same settings: 256x256 actor and critics, batch 256, Adam lr 1e-4, tau 0.01,
gamma 0.99, target entropy -|A|/2, one gradient step per env step after `--learning-starts` uniform-random steps.
Both run with the same torch thread count (`--threads`, default: every core). Only the learning phase is timed
(evaluation excluded). The update-only figure also runs our update through autograd (`SAC.update_autograd`, the
reference, which a GPU runs) to show what the CPU's hand-written backward passes (`cliprl_cli/furl/sac_fast.py`)
are worth. Every measurement runs in a fresh Python process
(`--only`), alternating ours and SB3: `cliprl furl` tunes its process (glibc keeps freed memory, denormals are
flushed to zero: `cliprl_cli/cpu_tuning.py`), and SB3 must not inherit that (nor we SB3's warm caches). The SB3
figures are taken twice, as SB3 runs by default and with the same two settings (`--peer-tuned`), so the table shows
what the settings are worth to either. Prints the figures and writes JSON (--json). Stable-Baselines3 is the
optional `bench` extra (`pip install -e .[bench]`): it is imported only by the measurements that run it.

    python benchmarks/bench_sac.py --steps 3000 --learning-starts 1000 --json benchmarks/results/bench_sac.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cliprl_cli.cpu_tuning import tuned_for_training
from cliprl_cli.furl.config import FurlConfig
from cliprl_cli.furl.env import make_env
from cliprl_cli.furl.sac import SAC
from cliprl_cli.furl.train import run_furl
from cliprl_cli.store.runinfo import with_run_fields


def bench_ours(task: str, steps: int, starts: int, device: str, threads: int, style: str = "authors") -> dict:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        # threads= matters: run_furl sets torch's thread count itself (its own default otherwise)
        cfg = FurlConfig(task=task, variant="sac", steps=steps, random_steps=starts, eval_every=starts,
                         eval_episodes=1, out=tmp, device=device, image_size=64, quiet=True, sample_frames=1,
                         threads=threads, sac_style=style)
        run_furl(cfg)
        # wall times live in run.json beside the outputs (DVC never hashes them): put them back in place
        summary = with_run_fields(Path(tmp) / "summary.json")
        curve = with_run_fields(Path(tmp) / "curve.json")["curve"]
    # points at `starts` (end of the random phase), ..., `steps`; wall_s is taken after each point's evaluation, so
    # the evaluations of all points but the first lie between the first and the last wall_s
    first, last = curve[0], curve[-1]
    learn_s = last["wall_s"] - first["wall_s"] - summary["timings_s"]["eval"] * (len(curve) - 1) / len(curve)
    return {"impl": "cliprl", "learn_steps": steps - starts, "learn_s": round(learn_s, 3),
            "steps_per_s": round((steps - starts) / learn_s, 2), "updates": last["updates"]}


def bench_sb3(task: str, steps: int, starts: int, device: str, threads: int) -> dict:
    from stable_baselines3 import SAC as SB3SAC  # the optional `bench` extra
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(threads)
    env = make_env(task, seed=0, image_size=None)
    marks = {}

    class Clock(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == starts:
                marks["start"] = time.perf_counter()
            return True

    model = SB3SAC("MlpPolicy", env, learning_rate=1e-4, buffer_size=steps, learning_starts=starts, batch_size=256,
                tau=0.01, gamma=0.99, train_freq=1, gradient_steps=1, target_entropy=-env.action_space.shape[0] / 2,
                policy_kwargs=dict(net_arch=[256, 256]), device=device, seed=0, verbose=0)
    model.learn(total_timesteps=steps, callback=Clock())
    learn_s = time.perf_counter() - marks["start"]
    return {"impl": "stable-baselines3", "learn_steps": steps - starts, "learn_s": round(learn_s, 3),
            "steps_per_s": round((steps - starts) / learn_s, 2)}


def bench_updates(impl: str, n: int, device: str, threads: int, style: str = "authors") -> float:
    """Gradient steps/s of one implementation alone (no environment): ``impl`` in ours, ours_autograd, sb3; the
    same random batch, one gradient step at a time. The caller applies the CPU settings (see ``main``)."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    if impl == "sb3":
        from stable_baselines3 import SAC as SB3SAC  # the optional `bench` extra

        env = make_env("drawer-open-v3", seed=0, image_size=None)
        sb3 = SB3SAC("MlpPolicy", env, learning_rate=1e-4, buffer_size=1000, learning_starts=0, batch_size=256,
                     tau=0.01, gamma=0.99, target_entropy=-2.0, policy_kwargs=dict(net_arch=[256, 256]),
                     device=device, seed=0)
        obs = np.random.default_rng(0).normal(size=(1000, 39))
        for i in range(1000):
            sb3.replay_buffer.add(obs[i], obs[(i + 1) % 1000], np.zeros(4), np.array([-1.0]), np.array([False]),
                                  [{}])
        sb3._setup_learn(total_timesteps=1, callback=None)

        def fn():
            sb3.train(gradient_steps=1, batch_size=256)
    else:
        ours = SAC(39, 4, device=dev, style=style)
        ours.fast_cpu_update = impl == "ours" and dev.type == "cpu"
        g = torch.Generator().manual_seed(0)
        batch = [torch.randn(256, 39, generator=g), torch.rand(256, 4, generator=g) * 2 - 1, -torch.ones(256),
                 torch.randn(256, 39, generator=g), torch.ones(256)]
        batch = [b.to(dev) for b in batch]

        def fn():
            ours.update(*batch)
    for _ in range(10):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return round(n / (time.perf_counter() - t), 2)


def in_fresh_process(args: argparse.Namespace, only: str) -> dict:
    """Run one measurement (``--only``) in a new interpreter and return its JSON line."""
    cmd = [sys.executable, __file__, "--only", only, "--task", args.task, "--steps", str(args.steps),
           "--learning-starts", str(args.learning_starts), "--device", args.device,
           "--update-steps", str(args.update_steps), "--threads", str(args.threads), "--sac-style", args.sac_style]
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def gemm_floor(threads: int, batch: int = 256, hidden: int = 256, obs_dim: int = 39, act_dim: int = 4,
               repeats: int = 5) -> dict:
    """Roofline-style floor: time of the bare matrix products of one SAC update (nothing else), as a torch loop.

    Forward: actor(s'), 2 target critics (s', a'), 2 critics (s, a), actor(s), 2 critics (s, pi(s)). Backward: the
    critics' weight and input gradients (no input gradient for the first layer), the actor's, and for the actor loss
    the critics' input gradients only (critic weights frozen). 45 GEMMs, 0.61 GFLOP at batch 256.
    """
    torch.set_num_threads(threads)

    def mlp(i, o):
        return [(batch, i, hidden), (batch, hidden, hidden), (batch, hidden, o)]

    def bwd(shapes, first_input_grad=False, weight_grad=True):
        out = []
        for j, (m, k, n) in enumerate(shapes):
            if weight_grad:
                out.append((k, m, n))  # dW = x^T dy
            if j > 0 or first_input_grad:
                out.append((m, n, k))  # dx = dy W^T
        return out

    actor, critic = mlp(obs_dim, 2 * act_dim), mlp(obs_dim + act_dim, 1)
    gemms = actor + critic * 2 + critic * 2 + bwd(critic) * 2 + actor + bwd(actor)
    gemms += critic * 2 + bwd(critic, first_input_grad=True, weight_grad=False) * 2
    flops = sum(2 * m * k * n for m, k, n in gemms)
    mats = [(torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)) for m, k, n in gemms]

    def once():
        for x, w, o in mats:
            torch.mm(x, w, out=o)

    for _ in range(20):
        once()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(50):
            once()
        times.append((time.perf_counter() - t) / 50)
    big = torch.randn(1024, 1024)
    for _ in range(3):
        big @ big
    t = time.perf_counter()
    for _ in range(10):
        big @ big
    peak = 2 * 1024 ** 3 * 10 / (time.perf_counter() - t)
    med = statistics.median(times)
    return {"gemms": len(gemms), "gflop_per_update": round(flops / 1e9, 3), "ms_per_update_median": round(med * 1e3, 2),
            "ms_per_update_min": round(min(times) * 1e3, 2), "ms_per_update_max": round(max(times) * 1e3, 2),
            "max_updates_per_s": round(1 / med, 1), "gflops": round(flops / med / 1e9, 1),
            "gflops_1024_gemm": round(peak / 1e9, 1)}


def _spread(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2),
            "runs": [round(v, 2) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="drawer-open-v3")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--update-steps", type=int, default=500, help="gradient steps in the update-only figure")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1)))
    parser.add_argument("--repeats", type=int, default=1, help="alternating ours/SB3 runs; medians are reported")
    parser.add_argument("--json", default="benchmarks/results/bench_sac.json")
    parser.add_argument("--sac-style", default="authors", choices=["authors", "cleanrl"],
                        help="our SAC's style (cliprl furl's default: authors; the figures in the README before the "
                             "styles existed were measured with what is now cleanrl)")
    parser.add_argument("--only", choices=["ours", "sb3", "sb3-tuned", "updates-ours", "updates-ours_autograd",
                                           "updates-sb3", "updates-sb3-tuned"],
                        help="run one measurement in this process and print it as JSON (what the driver calls)")
    args = parser.parse_args()
    if args.only:
        impl = args.only.removeprefix("updates-")
        # cliprl's process settings, entered before any torch work (see cpu_tuning.py): for our update alone, and
        # for SB3 when asked. `run_furl` (the "ours" loop) enters them itself.
        tuned = args.only in ("updates-ours", "updates-ours_autograd", "sb3-tuned", "updates-sb3-tuned")
        with tuned_for_training() if tuned else contextlib.nullcontext():
            impl = impl.removesuffix("-tuned")
            if args.only.startswith("updates-"):
                style = {"style": args.sac_style} if impl.startswith("ours") else {}
                result = {"updates_per_s": bench_updates(impl, args.update_steps, args.device, args.threads,
                                                         **style)}
            elif impl == "ours":
                result = bench_ours(args.task, args.steps, args.learning_starts, args.device, args.threads,
                                    args.sac_style)
            else:
                result = bench_sb3(args.task, args.steps, args.learning_starts, args.device, args.threads)
        print(json.dumps(result))
        return
    load_before = os.getloadavg()
    floor = gemm_floor(args.threads) if args.device == "cpu" else None
    if floor:
        print(f"GEMM floor: {floor['ms_per_update_median']:.2f} ms/update ({floor['gflop_per_update']} GFLOP, "
              f"{floor['gflops']} GFLOP/s; 1024^3 GEMM {floor['gflops_1024_gemm']} GFLOP/s) -> at most "
              f"{floor['max_updates_per_s']} updates/s")
    update_impls = ("ours", "ours_autograd", "sb3", "sb3-tuned")
    loop_impls = ("ours", "sb3", "sb3-tuned")
    ups = {impl: [] for impl in update_impls}
    loops = {impl: [] for impl in loop_impls}
    for _ in range(args.repeats):
        for impl in update_impls:
            ups[impl].append(in_fresh_process(args, f"updates-{impl}")["updates_per_s"])
        print("gradient steps/s alone: " + ", ".join(f"{impl} {ups[impl][-1]:.1f}" for impl in update_impls))
        for impl in loop_impls:
            loops[impl].append(in_fresh_process(args, impl))
        print("env steps/s: " + ", ".join(f"{impl} {loops[impl][-1]['steps_per_s']:.1f}" for impl in loop_impls))
    sps = {impl: [r["steps_per_s"] for r in runs] for impl, runs in loops.items()}
    result = {"task": args.task, "device": args.device, "threads": args.threads, "sac_style": args.sac_style,
              "torch": torch.__version__,
              "cpu_count": os.cpu_count(), "load_avg_before": [round(x, 2) for x in load_before],
              "load_avg_after": [round(x, 2) for x in os.getloadavg()], "repeats": args.repeats,
              "ours": {**loops["ours"][-1], "steps_per_s": _spread(sps["ours"])},
              "sb3": {**loops["sb3"][-1], "steps_per_s": _spread(sps["sb3"])},
              "sb3_tuned": {**loops["sb3-tuned"][-1], "steps_per_s": _spread(sps["sb3-tuned"])},
              # ratios of the runs of one repeat (run back to back), then their spread
              "speedup": _spread([a / b for a, b in zip(sps["ours"], sps["sb3"])]),
              "speedup_vs_sb3_tuned": _spread([a / b for a, b in zip(sps["ours"], sps["sb3-tuned"])]),
              "update_only": {**{impl.replace("-", "_"): _spread(v) for impl, v in ups.items()},
                              "speedup": _spread([a / b for a, b in zip(ups["ours"], ups["sb3"])]),
                              "speedup_vs_sb3_tuned": _spread([a / b for a, b in zip(ups["ours"], ups["sb3-tuned"])])},
              "gemm_floor": floor}
    u = result["update_only"]
    med = {impl: result[impl]["steps_per_s"]["median"] for impl in ("ours", "sb3", "sb3_tuned")}
    print(f"{'':26s}{'cliprl':>9s}{'SB3':>9s}{'ratio':>7s}{'SB3+set.':>10s}{'ratio':>7s}   "
          f"(medians of {args.repeats}; load {load_before[0]:.2f})")
    print(f"{'env steps/s (learning)':26s}{med['ours']:9.1f}{med['sb3']:9.1f}{result['speedup']['median']:7.2f}"
          f"{med['sb3_tuned']:10.1f}{result['speedup_vs_sb3_tuned']['median']:7.2f}")
    print(f"{'gradient steps/s alone':26s}{u['ours']['median']:9.1f}{u['sb3']['median']:9.1f}"
          f"{u['speedup']['median']:7.2f}{u['sb3_tuned']['median']:10.1f}{u['speedup_vs_sb3_tuned']['median']:7.2f}")
    print(f"{'  same, via autograd':26s}{u['ours_autograd']['median']:9.1f}{u['sb3']['median']:9.1f}"
          f"{u['ours_autograd']['median'] / u['sb3']['median']:7.2f}")
    if floor:
        print(f"{'GEMM floor updates/s':26s}{floor['max_updates_per_s']:9.1f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
