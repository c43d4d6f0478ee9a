"""FuRL memory: bytes per replay transition, a full 1e6-step buffer with image embeddings, peak RSS of a run.

1. bytes per transition of the replay buffer for the paper's CLIP (RN50, D = 1024) and other embedding sizes,
   and the projected size of a 1e6-transition buffer (target: fits in 8 GB);
2. a real 1e6-transition RN50-sized buffer plus the alignment store, allocated and *filled* (every page touched),
   with the process's peak RSS (`--skip-fill` to skip);
3. peak RSS of a default small run (run first, before the fill), `cliprl furl --profile cpu-small` (a subprocess).

    python benchmarks/bench_furl_memory.py --json benchmarks/results/bench_furl_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GB = 1024 ** 3


def peak_rss_bytes(who=resource.RUSAGE_SELF) -> int:
    return resource.getrusage(who).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000)
    parser.add_argument("--skip-fill", action="store_true")
    parser.add_argument("--run-steps", type=int, default=1500)
    parser.add_argument("--json", default="benchmarks/results/bench_furl_memory.json")
    args = parser.parse_args()
    import torch

    from cliprl_cli.furl.buffer import AlignmentStore, ReplayBuffer

    result: dict = {"capacity": args.capacity, "per_transition": {}}
    for name, dim in (("RN50", 1024), ("ViT-B-32", 512), ("ViT-S-32-alt", 256), ("cliprl-tiny", 64), ("sac", 0)):
        b = ReplayBuffer(1, 39, 4, dim)
        per = b.bytes_per_transition()
        result["per_transition"][name] = {"embed_dim": dim, "bytes": per,
                                          "buffer_1e6_gb": round(per * 1e6 / GB, 3)}
        print(f"{name:>13} (D={dim:4d}): {per:5d} B/transition -> 1e6 transitions = {per * 1e6 / GB:.2f} GiB")

    # the run first: a child forked from a process holding the filled buffer would report that memory
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"), HF_HUB_OFFLINE="1")
        cmd = [sys.executable, "-m", "cliprl_cli.cli", "furl", "--profile", "cpu-small", "--steps",
               str(args.run_steps), "--out", tmp + "/run", "--goal-cache", tmp + "/goals", "--quiet"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        child_peak = peak_rss_bytes(resource.RUSAGE_CHILDREN)
        result["default_small_run"] = {"command": " ".join(cmd[2:]), "returncode": proc.returncode,
                                       "peak_rss_gb": round(child_peak / GB, 3),
                                       "wall_s": round(time.perf_counter() - t, 1)}
        print(f"cliprl furl --profile cpu-small --steps {args.run_steps}: peak RSS {child_peak / GB:.2f} GiB "
              f"(rc {proc.returncode})")
    if not args.skip_fill:
        rss0 = peak_rss_bytes()
        t = time.perf_counter()
        buf = ReplayBuffer(args.capacity, 39, 4, 1024)
        store = AlignmentStore(1024, 20_000)
        chunk = 50_000
        for start in range(0, args.capacity, chunk):
            n = min(chunk, args.capacity - start)
            obs = torch.randn(n, 39)
            buf.add(obs, torch.rand(n, 4), -torch.ones(n), obs, torch.ones(n), torch.randn(n, 1024),
                    torch.rand(n))
        store.pos.fill_(1), store.lag.fill_(1), store.neg.fill_(1)
        peak = peak_rss_bytes()
        result["filled_rn50_buffer"] = {"buffer_gb": round(buf.nbytes() / GB, 3),
                                        "alignment_store_gb": round(3 * 20_000 * 1024 * 2 / GB, 3),
                                        "peak_rss_gb": round(peak / GB, 3),
                                        "rss_growth_gb": round((peak - rss0) / GB, 3),
                                        "fits_8gb": peak < 8 * GB, "fill_s": round(time.perf_counter() - t, 1)}
        print(f"filled RN50 buffer of {args.capacity} transitions: {buf.nbytes() / GB:.2f} GiB + alignment store "
              f"{3 * 20_000 * 1024 * 2 / GB:.2f} GiB; process peak RSS {peak / GB:.2f} GiB (< 8 GiB: {peak < 8 * GB})")
        del buf, store

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
