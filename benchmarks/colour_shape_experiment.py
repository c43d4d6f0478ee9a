"""The colour x shape experiment: does each method's weight follow the layout's useful group while the words stay the same?

Leave-one-out over a chosen set of targets, in both layouts (``by-colour``, ``by-shape``; identical
instructions). For each layout the nine base policies are trained once (the suite's ``base_tasks`` and its
target). For each target, its sources are the other eight objects; for each alignment seed the heads are trained
on those eight (``align``) and every method's averaging weights for the target are computed
(:func:`cliprl_cli.clip_rl.transfer.method_weights`, the code ``transfer`` uses). The primary measure is the total weight
on the useful group (the sources sharing the target's room: same colour in by-colour, same shape in by-shape).
Algorithm 1 (``language``) cannot move it between layouts by construction; Algorithm 2 (``clip``) shows its
mechanism only if it follows the layout. With ``--trials K > 0``, ``cliprl transfer`` also fine-tunes every
method and ``oracle-group`` K times per target, with the heads of the first ``--transfer-seeds`` alignment seeds.

The directory layout is the DVC stages' (``colour_shape_*`` in dvc.yaml), so ``cliprl report --artifacts A``
shows the runs when ``--out A/colour_shape``::

    OUT/{by_colour,by_shape}/base/<task-slug>/             nine base policies
    OUT/{layout}/align/<target-slug>/seed<S>/              heads aligned on the target's eight sources
    OUT/{layout}/transfer/<target-slug>/seed<S>/results.json

    python benchmarks/colour_shape_experiment.py --targets red-key,green-ball,blue-box --align-seeds 0,1,2 \
        --trials 4 --out /tmp/csx/colour_shape --json benchmarks/results/colour_shape_loo.json

Default targets: the three objects on the layouts' diagonal (each stands in the same cell in both layouts, so the
target's own policy is the same and only which sources share its room changes).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from cliprl_cli.clip_rl.align import align, load_library
from cliprl_cli.clip_rl.colour_shape import shipped_suite_path
from cliprl_cli.clip_rl.config import ALL_METHODS, AlignConfig, TransferConfig
from cliprl_cli.clip_rl.tasks import load_suite, slug
from cliprl_cli.clip_rl.train_base import train_base
from cliprl_cli.clip_rl.transfer import method_weights, similarities, transfer

WEIGHT_METHODS = ("language", "clip", "uniform", "nearest-language", "nearest-clip", "oracle-group")


def instruction(target_slug: str) -> str:
    """``"red-key"`` -> ``"go to the red key"`` (the DVC stages' target slugs)."""
    return "go to the " + target_slug.replace("-", " ")


def group_weights(suite_path: Path, base: Path, heads: Path, target: str, sources: list[str]) -> dict:
    """Every method's weights on the sources and their sum over the useful group."""
    suite = load_suite(suite_path)
    library = load_library(base, sources)
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
    parser.add_argument("--targets", default="red-key,green-ball,blue-box")
    parser.add_argument("--align-seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=0)
    parser.add_argument("--transfer-seeds", type=int, default=1,
                        help="fine-tune with the heads of this many alignment seeds (the first ones)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-env-steps", type=int, default=1_000_000)
    parser.add_argument("--methods", default=",".join(ALL_METHODS), help="comma-separated transfer methods")
    parser.add_argument("--start-entropy", type=float, default=None,
                        help="entropy-matched starts (cliprl transfer --start-entropy NATS), every method alike")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    seeds = [int(s) for s in args.align_seeds.split(",")]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    result: dict = {"align_seeds": seeds, "targets": [instruction(t) for t in targets], "trials": args.trials,
                    "transfer_seeds": seeds[:args.transfer_seeds] if args.trials > 0 else [],
                    "max_env_steps": args.max_env_steps, "layouts": {}}
    for layout in args.layouts.split(","):
        suite_path = shipped_suite_path(layout)
        suite = load_suite(suite_path)
        root = args.out / layout.replace("-", "_")
        base = root / "base"
        everything = list(suite.tasks)
        for task in everything:  # all nine: any object can be a leave-one-out target
            if not (base / slug(task) / "policy.safetensors").exists():
                train_base(task, base / slug(task), tasks_file=suite_path, quiet=True)
        per_target = {}
        for target_slug in targets:
            target = instruction(target_slug)
            sources = [t for t in everything if t != target]
            per_seed = {}
            for seed in seeds:
                heads = root / "align" / target_slug / f"seed{seed}"
                metrics = align(base, heads, AlignConfig(seed=seed), tasks_file=suite_path, sources=sources,
                                quiet=True)
                per_seed[seed] = {**group_weights(suite_path, base, heads, target, sources),
                                  "align_final_loss": metrics["final_loss"]}
                print(layout, target, "seed", seed, {m: round(w, 3) for m, w in per_seed[seed]["group_weight"].items()},
                      flush=True)
            entry = {"per_seed": per_seed, "transfer": {}}
            for seed in result["transfer_seeds"]:
                cfg = TransferConfig(methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
                                     trials=args.trials, workers=args.workers, start_entropy=args.start_entropy,
                                     ppo=replace(TransferConfig().ppo, max_env_steps=args.max_env_steps))
                results = transfer(target, base, root / "transfer" / target_slug / f"seed{seed}", cfg,
                                   align_dir=root / "align" / target_slug / f"seed{seed}", tasks_file=suite_path,
                                   sources=sources, quiet=True)
                mine = {m: [t for t in results["trials"] if t["method"] == m] for m in results["summary"]}
                entry["transfer"][seed] = {
                    m: {"mean": s["mean"], "median": s["median"], "ci95": s["ci95"], "censored": s["censored"],
                        # censored at greedy success 1.0 from every start: near-optimal, held back by the path rule
                        "plateaued": sum(t["censored"] and not t["success_censored"] for t in mine[m]),
                        "success": results["success_summary"][m],
                        "start_temperature": mine[m][0].get("start_temperature"),
                        "initial_success": sum(t["initial_success_rate"] for t in mine[m]) / args.trials}
                    for m, s in results["summary"].items()}
                entry["step_resolution"] = results.get("step_resolution")
                print(layout, target, "transfer seed", seed,
                      {m: round(v["mean"]) for m, v in entry["transfer"][seed].items()}, flush=True)
            per_target[target] = entry
            result["layouts"][layout] = per_target
            if args.json:  # after each target, so a long run leaves what it has done
                result["wall_time_s"] = round(time.perf_counter() - start, 1)
                args.json.write_text(json.dumps(result, indent=1) + "\n")
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wall {result['wall_time_s']} s")


if __name__ == "__main__":
    main()
