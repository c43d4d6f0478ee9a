"""VLM reward pipeline speed: frames/s of render + preprocess + embed vs the renderer alone and the encoder alone.

The pipeline is the one `cliprl furl` runs: each iteration steps `--num-envs` Meta-World envs, renders their frames
upright, and hands the batch to a one-thread executor that preprocesses and embeds it while the main thread goes
on to the next step (so rendering step t+1 overlaps embedding step t). Target: the pipeline reaches >= 80% of the
slower of renderer-alone and encoder-alone. Random VLM weights (speed does not depend on the values).

    python benchmarks/bench_vlm_pipeline.py --frames 64 --json benchmarks/results/bench_vlm_pipeline.json

Besides wall-clock frames/s it records the process CPU time per frame of each phase. On a CPU-only machine the
renderer (Mesa llvmpipe, ``LP_NUM_THREADS`` rasteriser threads, default one per core) and the encoder (torch
threads) share the same cores, so "renderer alone" and "encoder alone" each may use the whole machine, and the
overlapped pipeline cannot beat ``cores / (render CPU s per frame + encode CPU s per frame)``: that bound is
printed as ``cpu_bound_fps`` (``--lp-threads`` sets LP_NUM_THREADS for the run; it must be set before the GL context
exists, so it is applied at import time here).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if __name__ == "__main__":
    import sys

    for i, arg in enumerate(sys.argv):  # before Mesa starts: LP_NUM_THREADS is read when the GL context is made
        if arg == "--lp-threads" and i + 1 < len(sys.argv):
            os.environ["LP_NUM_THREADS"] = sys.argv[i + 1]


def measure(model: str, image_size: int, frames: int, num_envs: int, fast: bool, device: str) -> dict:
    import numpy as np
    import torch

    from cliprl_cli.furl.env import close_env, make_env, render_upright
    from cliprl_cli.furl.vlm import load_vlm

    vlm = load_vlm(model, "none", device=device)
    envs = [make_env("drawer-open-v3", seed=0, image_size=image_size, fast_render=fast) for _ in range(num_envs)]
    rng = np.random.default_rng(0)
    iters = max(1, frames // num_envs)

    def step_and_render():
        for env in envs:
            env.step(rng.uniform(-1, 1, 4))
        return np.stack([render_upright(env) for env in envs])

    n = iters * num_envs
    step_and_render()  # warm-up: GL context
    t, c = time.perf_counter(), time.process_time()
    batches = [step_and_render() for _ in range(iters)]
    render_fps = n / (time.perf_counter() - t)
    render_cpu = (time.process_time() - c) / n

    vlm.encode_images(batches[0])  # warm-up
    t, c = time.perf_counter(), time.process_time()
    for b in batches:
        vlm.encode_images(b)
    encode_fps = n / (time.perf_counter() - t)
    encode_cpu = (time.process_time() - c) / n

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pending = None
    t, c = time.perf_counter(), time.process_time()
    for _ in range(iters):
        frames_now = step_and_render()
        if pending is not None:
            pending.result()
        pending = executor.submit(vlm.encode_images, frames_now)
    pending.result()
    pipeline_fps = n / (time.perf_counter() - t)
    pipeline_cpu = (time.process_time() - c) / n
    executor.shutdown()
    for env in envs:
        close_env(env)
    slower = min(render_fps, encode_fps)
    return {"model": model, "image_size": image_size, "num_envs": num_envs, "fast_render": fast,
            "torch_threads": torch.get_num_threads(), "render_fps": round(render_fps, 2),
            "encode_fps": round(encode_fps, 2), "pipeline_fps": round(pipeline_fps, 2),
            "pipeline_vs_slower": round(pipeline_fps / slower, 3),
            "sequential_estimate_fps": round(1 / (1 / render_fps + 1 / encode_fps), 2),
            "lp_num_threads": os.environ.get("LP_NUM_THREADS"), "load_avg": [round(x, 2) for x in os.getloadavg()],
            "cpu_ms_per_frame": {"render": round(1e3 * render_cpu, 2), "encode": round(1e3 * encode_cpu, 2),
                                 "pipeline": round(1e3 * pipeline_cpu, 2)},
            "cpu_bound_fps": round((os.cpu_count() or 1) / (render_cpu + encode_cpu), 2),
            "pipeline_vs_bound": round(pipeline_fps / min(slower, (os.cpu_count() or 1) / (render_cpu + encode_cpu)),
                                       3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cliprl-tiny:64,ViT-S-32-alt:224,RN50:224",
                        help="comma-separated model:render-size pairs")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--full-render", action="store_true", help="keep shadows and reflections")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--lp-threads", type=int, default=None, help="LP_NUM_THREADS for Mesa llvmpipe")
    parser.add_argument("--repeats", type=int, default=1, help="measure each model this many times (all kept)")
    parser.add_argument("--json", default="benchmarks/results/bench_vlm_pipeline.json")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for pair in args.models.split(","):
        name, size = pair.rsplit(":", 1)
        for _ in range(args.repeats):
            r = measure(name, int(size), args.frames, args.num_envs, not args.full_render, args.device)
            results.append(r)
            cpu = r["cpu_ms_per_frame"]
            print(f"{name:>14} @{size}px x{args.num_envs} envs: render {r['render_fps']:7.1f} fps | encode "
                  f"{r['encode_fps']:7.1f} fps | pipeline {r['pipeline_fps']:7.1f} fps "
                  f"({100 * r['pipeline_vs_slower']:.0f}% of the slower; sequential would be "
                  f"{r['sequential_estimate_fps']:.1f}) | CPU ms/frame render {cpu['render']:.1f} encode "
                  f"{cpu['encode']:.1f} -> CPU-bound {r['cpu_bound_fps']:.1f} fps "
                  f"({100 * r['pipeline_vs_bound']:.0f}% of min(slower, bound)); load {r['load_avg'][0]:.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"device": args.device, "cpu_count": os.cpu_count(),
                                           "lp_num_threads": os.environ.get("LP_NUM_THREADS"),
                                           "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
