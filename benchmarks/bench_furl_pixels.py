"""Speed and memory of ``cliprl furl --obs pixels`` on this machine: env steps/s while learning, with and without a
VLM, and the frame buffer's bytes.

Each configuration is one ``cliprl furl`` process (fresh, its own threads) on window-open-v3 with a random goal:
``--random-steps R --eval-every R --steps R + L``, so the last curve point's ``env_steps_per_s`` covers the ``L``
learning steps alone (one DrQ update per agent step = every 2 env steps; the evaluation is outside the window).
Variants: ``sac`` (DrQ alone: one render per agent step for the agent, nothing embedded), ``vlm`` (plus the VLM's
embedding of that same frame and the VLM reward), ``furl`` (plus the heads' alignment and the relay agent's update).
The VLM has RANDOM weights (offline machine): its speed is the real model's, its rewards are noise.

Memory: bytes per row of :class:`cliprl_cli.furl.frames.FrameBuffer` at 84 px (one uint8 frame + action, reward,
discount, indices; + fp16 embedding and goal distance with a VLM), times the paper's 2e5, beside a buffer of
stacked (obs, next_obs) pairs (2 x 3 frames per row).

    python benchmarks/bench_furl_pixels.py --json benchmarks/results/bench_furl_pixels.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cliprl_cli.furl.frames import FrameBuffer  # noqa: E402

CONFIGS = {
    # the paper's DrQ settings: 84 px agent frames from 256 px renders, batch 256
    "paper-84px-b256": ["--image-size", "256", "--pixel-size", "84", "--batch-size", "256"],
    # what a CPU can learn with in minutes: 32 px frames from 64 px renders, batch 32
    "cpu-32px-b32": ["--image-size", "64", "--pixel-size", "32", "--batch-size", "32"],
}
VLMS = {"tiny": ["--vlm-model", "cliprl-tiny", "--vlm-pretrained", "none"],
        "RN50": ["--vlm-model", "RN50", "--vlm-pretrained", "none"]}


def buffer_bytes(embed_dim: int) -> dict:
    buf = FrameBuffer(4, (3, 84, 84), 4, stack=3, embed_dim=embed_dim)
    row = buf.bytes_per_transition()
    stacked = row + 5 * 3 * 84 * 84  # the same row holding obs and next_obs stacks: 6 frames instead of 1
    return {"embed_dim": embed_dim, "bytes_per_row": row, "bytes_2e5_GiB": round(row * 2e5 / 2**30, 2),
            "stacked_pairs_bytes_per_row": stacked, "stacked_pairs_2e5_GiB": round(stacked * 2e5 / 2**30, 2)}


def run(config: str, variant: str, vlm: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-furl-pixels-") as tmp:
        cmd = [sys.executable, "-m", "cliprl_cli.cli", "furl", "--profile", "cpu-small", "--task", "window-open-v3",
               "--random-goal", "--obs", "pixels", "--variant", variant, *CONFIGS[config], *VLMS[vlm],
               "--random-steps", str(args.random_steps), "--eval-every", str(args.random_steps),
               "--steps", str(args.random_steps + args.learn_steps), "--eval-episodes", "1",
               "--threads", str(args.threads), "--device", "cpu", "--quiet", "--out", tmp, "--goal-cache",
               str(Path(tmp) / "goals")]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "MUJOCO_GL": "egl"})
        if done.returncode != 0:
            raise SystemExit(f"{config} {variant}: {done.stderr[-2000:]}")
        curve = json.loads((Path(tmp) / "curve.json").read_text())["curve"]
        timing_file = Path(tmp) / ("run.json" if (Path(tmp) / "run.json").exists() else "summary.json")
        timing = json.loads(timing_file.read_text())
        updates = curve[-1]["updates"]
        if "env_steps_per_s" not in curve[-1]:  # run metadata lives in run.json
            curve = timing["files"]["curve.json"]["curve"]
        row = {"config": config, "variant": variant, "vlm": vlm if variant != "sac" else None,
               "learning_env_steps_per_s": curve[-1]["env_steps_per_s"],
               "random_phase_env_steps_per_s": curve[0]["env_steps_per_s"],
               "updates": updates, "process_wall_s": round(time.perf_counter() - t0, 1),
               "timings_s": _find(timing, "timings_s")}
        print(json.dumps(row), flush=True)
        return row


def _find(doc, key):
    """``key`` anywhere in a JSON document (summary.json or run.json layouts)."""
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        for v in doc.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--variants", nargs="+", default=["sac", "vlm", "furl"])
    p.add_argument("--vlm", default="tiny", choices=list(VLMS))
    p.add_argument("--random-steps", type=int, default=100)
    p.add_argument("--learn-steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    result = {"settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "torch_threads_per_run": args.threads, "cpu_count": os.cpu_count(),
              "buffer": [buffer_bytes(0), buffer_bytes(1024)], "runs": []}
    for b in result["buffer"]:
        print(json.dumps(b), flush=True)
    torch.set_num_threads(1)
    for config in args.configs:
        for variant in args.variants:
            result["runs"].append(run(config, variant, args.vlm, args))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
