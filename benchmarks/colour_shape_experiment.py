"""Issue 12's experiment: does each method's weight follow the layout's useful group while the words stay the same?

For each layout (``by-colour``, ``by-shape``; identical instructions), train the suite's base policies
(``train_base_all``), then for each alignment seed train the heads (``align``) and compute every method's
averaging weights for the target (:func:`cliprl_cli.transfer.method_weights`, the same code ``transfer`` uses).
The primary measure is the total weight on the useful group (the sources sharing the target's room: same colour
in by-colour, same shape in by-shape). Algorithm 1 (``language``) cannot move it between layouts by construction;
Algorithm 2 (``clip``) shows its mechanism only if it follows the layout. With ``--trials K > 0`` the first
alignment seed's heads are also used for ``cliprl transfer`` (every method and ``oracle-group``, K fine-tunings).

    python benchmarks/colour_shape_experiment.py --align-seeds 0,1,2 --trials 0 --out /tmp/cs --json RESULT.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cliprl_cli.align import align, default_sources, load_library
from cliprl_cli.colour_shape import shipped_suite_path
from cliprl_cli.config import ALL_METHODS, AlignConfig
from cliprl_cli.tasks import load_suite
from cliprl_cli.train_base import train_base_all
from cliprl_cli.transfer import method_weights, similarities, transfer

WEIGHT_METHODS = ("language", "clip", "uniform", "nearest-language", "nearest-clip", "oracle-group")


def group_weights(layout: str, base: Path, heads: Path, target: str) -> dict:
    """Every method's weights on the sources and their sum over the useful group."""
    suite = load_suite(shipped_suite_path(layout))
    library = load_library(base, default_sources(suite, None))
    useful = suite.useful_group(target, library.instructions)
    language, clip, _ = similarities(target, library, base, heads)
    out = {"useful_group": useful, "similarities": {"language": dict(zip(library.instructions, language.tolist())),
                                                    "clip": dict(zip(library.instructions, clip.tolist()))},
           "weights": {}, "group_weight": {}}
    for method in WEIGHT_METHODS:
        weights, _ = method_weights(method, language, clip, group=[s in useful for s in library.instructions])
        out["weights"][method] = dict(zip(library.instructions, weights.tolist()))
        out["group_weight"][method] = sum(w for s, w in zip(library.instructions, weights.tolist()) if s in useful)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layouts", default="by-colour,by-shape")
    parser.add_argument("--align-seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    result: dict = {"align_seeds": [int(s) for s in args.align_seeds.split(",")], "trials": args.trials,
                    "layouts": {}}
    for layout in args.layouts.split(","):
        suite_path = shipped_suite_path(layout)
        suite = load_suite(suite_path)
        base = args.out / layout / "base"
        if not all((base / s.replace(" ", "-") / "policy.safetensors").exists() for s in suite.base_tasks):
            train_base_all(None, 0, base, tasks_file=suite_path, quiet=True)
        per_seed = {}
        for seed in result["align_seeds"]:
            heads = args.out / layout / f"align-seed{seed}"
            metrics = align(base, heads, AlignConfig(seed=seed), tasks_file=suite_path, quiet=True)
            per_seed[seed] = {**group_weights(layout, base, heads, suite.target),
                              "align_final_loss": metrics["final_loss"]}
        entry = {"target": suite.target, "per_seed": per_seed}
        if args.trials > 0:
            seed0 = result["align_seeds"][0]
            results = transfer(suite.target, base, args.out / layout / "transfer", align_dir=args.out / layout /
                               f"align-seed{seed0}", methods=list(ALL_METHODS), trials=args.trials,
                               tasks_file=suite_path, workers=args.workers, quiet=True)
            entry["transfer"] = {m: {"mean": s["mean"], "ci95": s["ci95"], "censored": s["censored"],
                                     "initial_success": sum(t["initial_success_rate"] for t in results["trials"]
                                                            if t["method"] == m) / args.trials}
                                 for m, s in results["summary"].items()}
            entry["step_resolution"] = results.get("step_resolution")
        result["layouts"][layout] = entry
        for seed, row in per_seed.items():
            print(layout, "seed", seed, {m: round(w, 3) for m, w in row["group_weight"].items()}, flush=True)
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wall {result['wall_time_s']} s")


if __name__ == "__main__":
    main()
