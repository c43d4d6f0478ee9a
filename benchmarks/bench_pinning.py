"""What the numeric pins (`cliprl_cli/cpu_tuning.py`: MKL's COMPATIBLE branch, ATen at AVX2, ...) cost in speed:
the existing benchmarks and a `cliprl train-base` run, each run pinned and unpinned in fresh processes, alternating
(pinned, unpinned, pinned, ...) so that a busy machine slows both alike; medians over `--repeats`.

    python benchmarks/bench_pinning.py [--repeats 3] [--json benchmarks/results/bench_pinning.json]

Pinned: the pins in the environment, as `cliprl` sets them for itself. Unpinned: `CLIPRL_NUMERICS=native` and none of
the pinned variables set, so every library picks its kernels for this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cliprl_cli.cpu_tuning import NUMERIC_PINS, NUMERICS_SWITCH, _cpu_model  # noqa: E402


def environment(pinned: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NUMERIC_PINS and k != NUMERICS_SWITCH}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update({"MUJOCO_GL": env.get("MUJOCO_GL", "egl"), "HF_HUB_OFFLINE": "1"})
    env.update(NUMERIC_PINS if pinned else {NUMERICS_SWITCH: "native"})
    return env


def gridworld(env: dict[str, str]) -> float:
    """Best batched grid-world steps/s (benchmarks/bench_gridworld.py, 1 s per contender)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "benchmarks/bench_gridworld.py", "--seconds", "1", "--json", f"{tmp}/g.json"],
                       cwd=REPO, env=env, check=True, capture_output=True)
        return json.loads(Path(f"{tmp}/g.json").read_text())["best_batched_steps_per_s"]


def sac(only: str, env: dict[str, str], *extra: str) -> dict:
    done = subprocess.run([sys.executable, "benchmarks/bench_sac.py", "--only", only, "--threads", "1", *extra],
                          cwd=REPO, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def sac_updates(env: dict[str, str]) -> float:
    """Our SAC's gradient steps/s alone, batch 256, one thread (benchmarks/bench_sac.py --only updates-ours)."""
    return sac("updates-ours", env, "--update-steps", "300")["updates_per_s"]


def sac_loop(env: dict[str, str]) -> float:
    """Our SAC's env steps/s in its learning loop on Meta-World drawer-open, one thread (--only ours)."""
    return sac("ours", env, "--steps", "1500", "--learning-starts", "500")["steps_per_s"]


def train_base(env: dict[str, str]) -> float:
    """Wall seconds of `cliprl train-base --task "top left first" --grid-size 10` (the whole command)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cliprl_cli", "train-base", "--task", "top left first",
                        "--grid-size", "10", "--seed", "0", "--quiet", "--out", tmp], cwd=REPO, env=env, check=True,
                       capture_output=True)
        return time.perf_counter() - start


MEASURES = {"gridworld best batched steps/s": gridworld, "SAC gradient steps/s (1 thread)": sac_updates,
            "SAC env steps/s in the loop (1 thread)": sac_loop, "train-base 10x10 wall s": train_base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=list(MEASURES), action="append", help="measure only these (repeatable)")
    parser.add_argument("--json", default="benchmarks/results/bench_pinning.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = {}
    for name in args.only or MEASURES:
        runs: dict[str, list[float]] = {"pinned": [], "unpinned": []}
        for _ in range(args.repeats):
            for mode in ("pinned", "unpinned"):
                runs[mode].append(MEASURES[name](environment(mode == "pinned")))
        med = {mode: statistics.median(v) for mode, v in runs.items()}
        rows[name] = {**{m: [round(x, 3) for x in v] for m, v in runs.items()},
                      "median_pinned": round(med["pinned"], 3), "median_unpinned": round(med["unpinned"], 3),
                      "pinned_over_unpinned": round(med["pinned"] / med["unpinned"], 3)}
        print(f"{name:<42} pinned {med['pinned']:>12,.2f}  unpinned {med['unpinned']:>12,.2f}  "
              f"ratio {med['pinned'] / med['unpinned']:.2f}", flush=True)
    result = {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
              "repeats": args.repeats, "pins": NUMERIC_PINS, "load_avg_before": [round(x, 2) for x in load_before],
              "load_avg_after": [round(x, 2) for x in os.getloadavg()], "measures": rows}
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
