"""The CLIP-RL paper's experiment end to end, timed: base policies for four grid sizes, alignment, and every
transfer method x K trials per size. Prints where the time goes and the training throughput, and writes the
per-size summaries (the README's table comes from this file's output). Steps to convergence are resolved to
``step_resolution`` env steps (512 with the transfer defaults), and the AUC rows are each method's mean success
rate over the fixed horizon ``auc_horizon`` (100,000 env steps by default), the same for every method.

    .venv/bin/python benchmarks/clip_rl_experiment.py [--sizes 8 10 15 25] [--trials 10] [--workers 2]
        [--work DIR] [--json benchmarks/results/clip_rl_experiment.json] [--profile]
        [--methods scratch,language,clip,...] [--policy-repr weights|behaviour|trajectory]

It calls the same plain functions as `cliprl train-base`, `cliprl align` and `cliprl transfer` with their
default parameters (:mod:`cliprl_cli.clip_rl.config`; nothing here is tuned toward a result). Target: the
whole experiment in under 10 minutes on a 2-core CPU; measured times are in benchmarks/results/. The numeric pins
of the CLI (``cliprl_cli/cpu_tuning.py``) are set first, so its numbers are the same on every x86-64 CPU with AVX2
(``CLIPRL_NUMERICS=native`` turns them off, as for the CLI).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import tempfile
import time
from pathlib import Path

from cliprl_cli.cpu_tuning import pin_numeric_environment

pin_numeric_environment()  # before torch loads: the libraries read the pins when they load

import torch  # noqa: E402

from cliprl_cli.clip_rl.align import align  # noqa: E402
from cliprl_cli.clip_rl.config import METHODS, AlignConfig, TrainBaseConfig, TransferConfig  # noqa: E402
from cliprl_cli.clip_rl.tasks import load_suite, slug  # noqa: E402
from cliprl_cli.clip_rl.train_base import train_base  # noqa: E402
from cliprl_cli.clip_rl.transfer import transfer  # noqa: E402


def run(sizes, trials, workers, work: Path, methods=METHODS, policy_repr: str = "weights",
        start_entropy: float | None = None) -> dict:
    suite = load_suite()
    timings = {"train_base_s": 0.0, "align_s": 0.0, "transfer_s": 0.0}
    base_steps, base_wall = 0, 0.0
    per_size = {}
    for size in sizes:
        t0 = time.perf_counter()
        for task in suite.base_tasks:
            metrics = train_base(task, work / "base" / str(size) / slug(task), TrainBaseConfig(grid_size=size),
                                 quiet=True)
            base_steps += metrics["env_steps"]
            base_wall += metrics["wall_time_s"]
        t1 = time.perf_counter()
        align_metrics = align(work / "base" / str(size), work / "align" / str(size),
                              AlignConfig(policy_repr=policy_repr), quiet=True)
        t2 = time.perf_counter()
        results = transfer(suite.target, work / "base" / str(size), work / "transfer" / str(size),
                           TransferConfig(methods=tuple(methods), trials=trials, workers=workers,
                                          start_entropy=start_entropy),
                           align_dir=work / "align" / str(size), quiet=True)
        t3 = time.perf_counter()
        timings["train_base_s"] += t1 - t0
        timings["align_s"] += t2 - t1
        timings["transfer_s"] += t3 - t2
        fine_steps = sum(r["env_steps"] for r in results["trials"])
        fine_wall = sum(r["wall_time_s"] for r in results["trials"])
        per_size[size] = {"summary": results["summary"], "ratio_clip_language": results.get("ratio_clip_language"),
                          "success_summary": results.get("success_summary"),
                          "similarities": results["similarities"], "step_resolution": results["step_resolution"],
                          "auc_horizon": results["auc_horizon"], "sources": results["sources"],
                          "trials": results["trials"],
                          "align": {k: v for k, v in align_metrics.items() if k != "loss_curve"},
                          "seconds": {"train_base": t1 - t0, "align": t2 - t1, "transfer": t3 - t2},
                          "fine_tune_env_steps": fine_steps, "fine_tune_wall_s": fine_wall}
        base_line = " ".join(f"{m}={s['mean']:.0f}" for m, s in results["summary"].items())
        print(f"size {size:>2}: base {t1 - t0:5.1f}s align {t2 - t1:4.1f}s transfer {t3 - t2:6.1f}s | mean steps "
              f"{base_line}" + (f" | clip/language {results['ratio_clip_language']['ratio']:.2f}"
                                if "ratio_clip_language" in results else ""), flush=True)
    return {"per_size": per_size, "timings": timings,
            "base_training_steps_per_s": base_steps / base_wall if base_wall else None}


def markdown_table(out: dict) -> str:
    """The README's table: mean env steps to convergence [95% CI] (censored runs) per size and method."""
    sizes = list(out["per_size"])
    methods = list(next(iter(out["per_size"].values()))["summary"])
    lines = ["| method | " + " | ".join(f"{s}x{s}" for s in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for method in methods:
        cells = []
        for size in sizes:
            s = out["per_size"][size]["summary"][method]
            cens = f", {s['censored']} censored" if s["censored"] else ""
            cells.append(f"{s['mean']:,.0f} [{s['ci95'][0]:,.0f}, {s['ci95'][1]:,.0f}]{cens}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    ratios = []
    for size in sizes:
        r = out["per_size"][size]["ratio_clip_language"]
        ratios.append("-" if r is None else f"**{r['ratio']:.2f}** [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]")
    lines.append("| clip / language (paper: ~0.5) | " + " | ".join(ratios) + " |")
    aucs = []
    for method in methods:
        aucs.append(f"| AUC {method} | " + " | ".join(f"{out['per_size'][size]['summary'][method]['auc_mean']:.3f}"
                                                     for size in sizes) + " |")
    lines += aucs
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 10, 15, 25])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="where the artifacts go (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="cProfile the run (single process: --workers 1)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated transfer methods")
    parser.add_argument("--policy-repr", default="weights", choices=["weights", "behaviour", "trajectory"],
                        help="what align's policy head reads (cliprl align --policy-repr)")
    parser.add_argument("--start-entropy", type=float, default=None,
                        help="entropy-matched starts (cliprl transfer --start-entropy NATS), every method alike")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.work or Path(tempfile.mkdtemp(prefix="cliprl-experiment-"))
    start = time.perf_counter()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    out = run(args.sizes, args.trials, 1 if profiler else args.workers, work,
              methods=[m.strip() for m in args.methods.split(",") if m.strip()], policy_repr=args.policy_repr,
              start_entropy=args.start_entropy)
    total = time.perf_counter() - start
    out.update({"total_s": total, "sizes": args.sizes, "trials": args.trials, "workers": args.workers,
                "methods": args.methods, "policy_repr": args.policy_repr, "start_entropy": args.start_entropy,
                "machine": {"cpus": __import__("os").cpu_count(), "processor": platform.processor(),
                            "torch": torch.__version__}, "work_dir": str(work)})
    print(f"total {total:.1f}s ({total / 60:.1f} min); phases: " +
          ", ".join(f"{k} {v:.1f}s" for k, v in out["timings"].items()) +
          f"; base training {out['base_training_steps_per_s']:,.0f} env steps/s (incl. PPO updates)")
    print(markdown_table(out))
    if profiler:
        profiler.disable()
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
        out["profile_top"] = stream.getvalue()
        print(stream.getvalue())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
