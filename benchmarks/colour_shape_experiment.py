"""The colour x shape experiment: does each method's weight follow the layout's useful group while the words stay the same?

Leave-one-out over a chosen set of targets, in both layouts (``by-colour``, ``by-shape``; identical
instructions). For each layout the nine base policies are trained once (the suite's ``base_tasks`` and its
target). For each target, its sources are the other eight objects; for each alignment seed the heads are trained
on those eight (``align``) and every method's averaging weights for the target are computed
(:func:`cliprl_cli.clip_rl.transfer.method_weights`, the code ``transfer`` uses). The primary measure is the total weight
on the useful group (the sources sharing the target's room: same colour in by-colour, same shape in by-shape).
Algorithm 1 (``language``) cannot move it between layouts by construction; Algorithm 2 (``clip``) shows its
mechanism only if it follows the layout. With ``--trials K > 0``, ``cliprl transfer`` also fine-tunes every
method and ``oracle-group`` K times per target, with the heads of the first ``--transfer-seeds`` alignment seeds;
only ``clip`` and ``nearest-clip`` read the heads, so the other methods run at the first of those seeds alone.

Per method the JSON holds both criteria (steps to convergence under the path rule; steps to greedy success 1.0 from
every start), each with the per-trial steps, mean, median and IQM with bootstrap 95% intervals and the censored
count, plus the plateaued count (censored under the path rule after reaching success 1.0) and the start
temperature (``--start-entropy``). ``--cache FILE`` keeps every finished run keyed by layout, target, settings and
starting weights; a start equal to a finished run's (``nearest-clip`` picking ``nearest-language``'s source, the
same source at another seed, or a start that entropy matching leaves alone, T = 1) reuses its trials, which would be
bit-identical. ``--cached-only`` writes the JSON from the cache without fine-tuning anything. The numeric pins are
set as in the CLI (``CLIPRL_NUMERICS=native`` opts out, as for any ``cliprl`` command).

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

from cliprl_cli.cpu_tuning import pin_numeric_environment

# Before torch or NumPy load, as the CLI does: the numbers are then the same as `cliprl transfer`'s on any x86-64 CPU.
pin_numeric_environment()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from cliprl_cli.clip_rl.align import align, load_library  # noqa: E402
from cliprl_cli.clip_rl.colour_shape import shipped_suite_path  # noqa: E402
from cliprl_cli.clip_rl.config import ALL_METHODS, AlignConfig, TransferConfig  # noqa: E402
from cliprl_cli.clip_rl.tasks import load_suite, slug  # noqa: E402
from cliprl_cli.clip_rl.train_base import train_base  # noqa: E402
from cliprl_cli.clip_rl.start_entropy import start_observations  # noqa: E402
from cliprl_cli.clip_rl.transfer import (entropy_matched, initial_policies, method_weights, similarities,  # noqa: E402
                                         transfer)
from cliprl_cli.report.intervals import location_intervals  # noqa: E402
import torch  # noqa: E402

# The methods whose start depends on the alignment heads; the others start from the same policy at every alignment
# seed (their weights come from the instructions or the layout alone, and trial k's seed does not depend on the
# alignment seed), so they are fine-tuned at the first transfer seed only.
HEAD_METHODS = ("clip", "nearest-clip")
ROW_FIELDS = ("env_steps", "censored", "steps_to_success", "success_censored", "auc", "initial_success_rate",
              "start_temperature", "start_entropy")
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


def start_temperatures(suite_path: Path, base: Path, heads: Path, target: str, sources: list[str],
                       methods: list[str], floor: float) -> dict[str, float]:
    """Each method's start temperature under entropy matching at ``floor`` (what ``transfer --start-entropy``
    computes; 1 for a start already at least that flat, which is then fine-tuned exactly as without matching)."""
    suite = load_suite(suite_path)
    library = load_library(base, sources)
    language, clip, _ = similarities(target, library, base, heads)
    useful = suite.useful_group(target, library.instructions)
    cfg = TransferConfig()
    inits = initial_policies(methods, library, language, clip, cfg.weighting.value, cfg.softmax_temperature,
                             [s in useful for s in library.instructions])
    observations = start_observations(library.spec, suite.goal(target, library.spec.grid_size),
                                      suite.env_factory(target))
    _, starts = entropy_matched(inits, library.spec, observations, floor)
    return {m: s["start_temperature"] for m, s in starts.items()}


def method_entry(rows: list[dict], same_run_as: str | None) -> dict:
    """One method's trials under both criteria: mean, median and IQM of the steps with bootstrap 95% intervals
    (censored trials at the budget), the censored counts, and the trials that plateaued (censored by the path rule
    after reaching greedy success 1.0 from every start)."""
    steps = [r["env_steps"] for r in rows]
    success = [r["steps_to_success"] for r in rows]
    return {"converged": {**location_intervals(steps), "censored": sum(r["censored"] for r in rows), "steps": steps},
            "success": {**location_intervals(success), "censored": sum(r["success_censored"] for r in rows),
                        "steps": success},
            "plateaued": sum(r["censored"] and not r["success_censored"] for r in rows),
            "start_temperature": rows[0].get("start_temperature"), "start_entropy": rows[0].get("start_entropy"),
            "initial_success": sum(r["initial_success_rate"] for r in rows) / len(rows),
            "same_run_as": same_run_as}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layouts", default="by-colour,by-shape")
    parser.add_argument("--targets", default="red-key,green-ball,blue-box")
    parser.add_argument("--align-seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=0)
    parser.add_argument("--transfer-seeds", type=int, default=1,
                        help="fine-tune with the heads of this many alignment seeds (the first ones); methods that "
                             "do not read the heads run at the first of them only")
    parser.add_argument("--cache", type=Path,
                        help="JSON of finished runs keyed by layout, target, settings and starting weights: a method "
                             "whose start equals a finished run's (nearest-clip picking nearest-language's source, "
                             "or the same source at another seed) reuses its trials, which would be bit-identical")
    parser.add_argument("--cached-only", action="store_true",
                        help="fine-tune nothing: write the JSON from the --cache's runs, leaving out what it lacks")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-env-steps", type=int, default=1_000_000)
    parser.add_argument("--methods", default=",".join(ALL_METHODS), help="comma-separated transfer methods")
    parser.add_argument("--start-entropy", type=float, default=None,
                        help="entropy-matched starts (cliprl transfer --start-entropy NATS), every method alike")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # transfer() computes the similarities with one thread; so must the weights here, which key the runs: with
    # two, the instruction embeddings differ in the last bits, and near-ties (green key vs blue key for the red
    # key) can flip a nearest source
    torch.set_num_threads(1)
    start = time.perf_counter()
    seeds = [int(s) for s in args.align_seeds.split(",")]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.exists() else {}
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    result: dict = {"align_seeds": seeds, "targets": [instruction(t) for t in targets], "trials": args.trials,
                    "transfer_seeds": seeds[:args.transfer_seeds] if args.trials > 0 else [],
                    "max_env_steps": args.max_env_steps, "start_entropy": args.start_entropy,
                    "methods": methods, "layouts": {}}
    layouts = args.layouts.split(",")
    for layout in layouts:
        suite_path = shipped_suite_path(layout)
        base = args.out / layout.replace("-", "_") / "base"
        for task in load_suite(suite_path).tasks:  # all nine: any object can be a leave-one-out target
            if not (base / slug(task) / "policy.safetensors").exists():
                train_base(task, base / slug(task), tasks_file=suite_path, quiet=True)
        result["layouts"][layout] = {}
    for target_slug in targets:  # targets outside layouts: a run cut short has both layouts of its first targets
        target = instruction(target_slug)
        for layout in layouts:
            suite_path = shipped_suite_path(layout)
            root = args.out / layout.replace("-", "_")
            base = root / "base"
            sources = [t for t in load_suite(suite_path).tasks if t != target]
            per_seed = {}
            for seed in seeds:
                heads = root / "align" / target_slug / f"seed{seed}"
                if (heads / "metrics.json").is_file():  # aligned by an earlier run into this --out (same settings)
                    metrics = json.loads((heads / "metrics.json").read_text())
                else:
                    metrics = align(base, heads, AlignConfig(seed=seed), tasks_file=suite_path, sources=sources,
                                    quiet=True)
                per_seed[seed] = {**group_weights(suite_path, base, heads, target, sources),
                                  "align_final_loss": metrics["final_loss"]}
                print(layout, target, "seed", seed, {m: round(w, 3) for m, w in per_seed[seed]["group_weight"].items()},
                      flush=True)
            entry = {"per_seed": per_seed, "transfer": {}}
            for index, seed in enumerate(result["transfer_seeds"]):
                wanted = [m for m in methods if index == 0 or m in HEAD_METHODS]
                weights = per_seed[seed]["weights"]  # scratch has none
                temperature = ({} if args.start_entropy is None else
                               start_temperatures(suite_path, base, root / "align" / target_slug / f"seed{seed}",
                                                  target, sources, wanted, args.start_entropy))
                # a start that matching leaves alone (temperature 1) is the same run as without matching
                keys = {m: "|".join([layout, target_slug,
                                     str(None if temperature.get(m, 1.0) == 1.0 else args.start_entropy),
                                     str(args.trials), str(args.max_env_steps),
                                     json.dumps([weights[m][s] for s in sources] if m in weights else m)])
                        for m in wanted}
                if args.cached_only:  # assemble the JSON from finished runs; a run not in the cache is left out
                    wanted = [m for m in wanted if keys[m] in cache]
                to_run = [m for m in wanted if keys[m] not in cache]
                to_run = [m for i, m in enumerate(to_run) if keys[m] not in {keys[n] for n in to_run[:i]}]
                if to_run:
                    cfg = TransferConfig(methods=tuple(to_run), trials=args.trials, workers=args.workers,
                                         start_entropy=args.start_entropy,
                                         ppo=replace(TransferConfig().ppo, max_env_steps=args.max_env_steps))
                    results = transfer(target, base, root / "transfer" / target_slug / f"seed{seed}", cfg,
                                       align_dir=root / "align" / target_slug / f"seed{seed}",
                                       tasks_file=suite_path, sources=sources, quiet=True)
                    result["step_resolution"] = results.get("step_resolution")
                    for m in to_run:
                        mine = [t for t in results["trials"] if t["method"] == m]
                        if mine[0]["weights"] is not None and \
                                [mine[0]["weights"][s] for s in sources] != [weights[m][s] for s in sources]:
                            raise SystemExit(f"{layout} {target} {m}: transfer's weights differ from the key's")
                        cache[keys[m]] = {"run": f"{m}@seed{seed}",
                                          "rows": [{f: t.get(f) for f in ROW_FIELDS} for t in mine]}
                    if args.cache:
                        args.cache.write_text(json.dumps(cache) + "\n")
                entry["transfer"][seed] = {}
                for m in wanted:
                    hit = cache[keys[m]]
                    entry["transfer"][seed][m] = method_entry(
                        hit["rows"], None if hit["run"] == f"{m}@seed{seed}" else hit["run"])
                    if m in temperature:
                        entry["transfer"][seed][m]["start_temperature"] = temperature[m]
                print(layout, target, "transfer seed", seed,
                      {m: (round(v["converged"]["mean"]), round(v["success"]["mean"]))
                       for m, v in entry["transfer"][seed].items()}, flush=True)
            result["layouts"][layout][target] = entry
            if args.json:  # after each target, so a long run leaves what it has done
                result["wall_time_s"] = round(time.perf_counter() - start, 1)
                args.json.write_text(json.dumps(result, indent=1) + "\n")
    result["wall_time_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wall {result['wall_time_s']} s")


if __name__ == "__main__":
    main()
