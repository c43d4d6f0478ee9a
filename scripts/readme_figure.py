"""Draw the README's headline figure from the committed results of the paper's experiment.

    python scripts/readme_figure.py [benchmarks/results/clip_rl_experiment.json] [docs/figures]

Reads the per-trial results that ``benchmarks/clip_rl_experiment.py`` wrote and draws them with the report's own
figure function (:func:`cliprl_cli.report.plots.plot_transfer_steps`: log axis, one colour per method), so the
README shows exactly what ``cliprl report`` draws for the same runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cliprl_cli.report.collect import Expected, Log, collect_transfer
from cliprl_cli.report.plots import plot_transfer_steps
from cliprl_cli.store.formats import TransferResults


def main(source: str = "benchmarks/results/clip_rl_experiment.json", out: str = "docs/figures") -> Path:
    doc = json.loads(Path(source).read_text())
    staging = Path(out) / ".staging"
    for size, run in doc["per_size"].items():
        n = int(size)
        results = {"grid_size": n, "target": "top left third", "goal": [0, n - 3], "budget": 2_000_000,
                   "config": {}, "similarities": run["similarities"], "trials": run["trials"],
                   "summary": run["summary"], "wall_time_s": None, "ratio_clip_language": run["ratio_clip_language"],
                   "step_resolution": run.get("step_resolution"), "auc_horizon": run.get("auc_horizon"),
                   "sources": run.get("sources")}
        TransferResults.from_json(results, source).write(staging / "transfer" / size / "results.json")
    section = collect_transfer(staging, [], Expected(), Log())
    plot = plot_transfer_steps(section, Path(out))
    for f in sorted(staging.rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    staging.rmdir()
    print(Path(out) / Path(plot.file).name)
    return Path(out) / Path(plot.file).name


if __name__ == "__main__":
    main(*sys.argv[1:])
