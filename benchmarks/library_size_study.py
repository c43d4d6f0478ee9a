"""Library-size study (CLIP-RL open question 3): transfer vs the number K of sources, on a generated
suite with honest and trap target names. The study itself is :mod:`cliprl_cli.clip_rl.library_size` (its docstring says
what it does; ``cliprl library-size`` runs the same); this script adds the raw JSON and the figure.

    .venv/bin/python benchmarks/library_size_study.py [--size 10] [--ks 2 4 8 16 32] [--trials 10] [--workers 2]
        [--work DIR] [--json benchmarks/results/library_size_study.json] [--out artifacts/library_size]
        [--plot DIR] [--policy-repr weights|behaviour] [--start-entropy NATS]
    .venv/bin/python benchmarks/library_size_study.py --from-json benchmarks/results/library_size_study.json --out D

``--out DIR`` writes ``DIR/results.json`` (:class:`cliprl_cli.store.formats.LibrarySizeResults`), which ``cliprl report``
shows (table and ``library_size.png``) when it lies under ``ARTIFACTS/library_size/``; ``--plot DIR`` draws the
same figure there; ``--from-json`` rebuilds both from a saved ``--json`` without rerunning anything.
Deterministic: the same arguments give the same numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cliprl_cli.clip_rl.config import LibrarySizeConfig
from cliprl_cli.clip_rl.library_size import markdown, run_study, to_results
from cliprl_cli.report.plots import plot_library_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = LibrarySizeConfig()  # the study's defaults live in its config, not here
    parser.add_argument("--size", type=int, default=d.grid_size)
    parser.add_argument("--ks", type=int, nargs="+", default=list(d.ks))
    parser.add_argument("--trials", type=int, default=d.trials)
    parser.add_argument("--workers", type=int, default=d.workers)
    parser.add_argument("--policy-repr", default=str(d.policy_repr), choices=["weights", "behaviour"],
                        help="what align's policy head reads (cliprl align --policy-repr)")
    parser.add_argument("--start-entropy", type=float, default=d.start_entropy,
                        help="entropy-matched starts at NATS for every method (cliprl transfer --start-entropy)")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write DIR/results.json (the report reads it)")
    parser.add_argument("--plot", type=Path, default=None, help="draw DIR/library_size.png")
    parser.add_argument("--from-json", type=Path, default=None, help="rebuild --out/--plot from a saved --json")
    args = parser.parse_args()
    if args.from_json:
        results = to_results(json.loads(args.from_json.read_text()))
        if args.out:
            results.write(args.out / "results.json")
        if args.plot:
            args.plot.mkdir(parents=True, exist_ok=True)
            plot_library_size(results, args.plot)
        return
    config = LibrarySizeConfig(grid_size=args.size, ks=tuple(args.ks), trials=args.trials,
                               policy_repr=args.policy_repr, workers=args.workers,
                               start_entropy=args.start_entropy)
    results, out = run_study(args.out, config, work=args.work)
    print(markdown(out["summary"], out["ks"]))
    print(f"total {out['seconds']['total']:.0f}s (base policies {out['seconds']['base']:.0f}s) on {args.workers} "
          "workers")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    if args.plot:
        args.plot.mkdir(parents=True, exist_ok=True)
        plot_library_size(results, args.plot)


if __name__ == "__main__":
    main()
