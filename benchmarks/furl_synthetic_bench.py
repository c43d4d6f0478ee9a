"""The SYNTHETIC-VLM fuzzy-reward bench: the ``furl_synthetic`` DVC stages' runs at a chosen scale, then a summary.

Runs exactly the command lines of the ``furl_synthetic_sac`` and ``furl_synthetic`` stages of ``dvc.yaml`` (their
``cmd`` templates filled from a params file's ``furl_synthetic`` section, with ``--set key=value`` overrides, as
``dvc exp run -S furl_synthetic.key=value`` would), one process at a time, seed by seed (so a bench stopped early
holds whole seeds), skipping runs whose ``summary.json`` exists. Then writes a JSON summary (the report's table
rows, per misalignment and variant, and every run's curve) and the report's figure.

The bench of docs/furl.md (about 70 minutes of one shared core)::

    python benchmarks/furl_synthetic_bench.py --params params.yaml --set 'seeds=[0, 1, 2]' --set steps=24000 \\
        --artifacts bench-artifacts --json benchmarks/results/furl_synthetic_bench.json \\
        --plot benchmarks/results/furl_synthetic_bench.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cliprl_cli.report.furl_synthetic import (LAST_EVALS, collect_furl_synthetic, groups,  # noqa: E402
                                              summary_row, synthetic_plots)

STAGES = ("furl_synthetic_sac", "furl_synthetic")
_VAR = re.compile(r"\$\{([^}]+)\}")


def fill(template: str, values: dict[str, object]) -> str:
    """``template`` with every ``${name}`` replaced by ``values[name]`` (a missing name is an error)."""
    return _VAR.sub(lambda m: str(values[m.group(1)]), " ".join(template.split()))


def commands(params: dict, artifacts: str) -> list[tuple[int, str, str]]:
    """``(seed, out dir, command line)`` of every run of the two stages, seed-major, SAC first in each seed."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    sec = params["furl_synthetic"]
    base = {f"furl_synthetic.{k}": v for k, v in sec.items()} | {"paths.artifacts": artifacts}
    runs = []
    for seed in sec["seeds"]:
        items = [("furl_synthetic_sac", {"seed": seed})]
        items += [("furl_synthetic", {"variant": v, "misalignment": a, "seed": seed})
                  for v, a in itertools.product(sec["variants"], sec["misalignments"])]
        for stage, item in items:
            values = base | {f"item.{k}": v for k, v in item.items()}
            cmd = fill(stages[stage]["cmd"], values)
            out = fill(stages[stage]["outs"][0], values)
            runs.append((seed, out, cmd))
    return runs


def runs_wall(outs: list[str]) -> dict[str, object]:
    """From each finished run's run.json (start and end, UTC seconds): the runs' summed wall time, the span from the
    first start to the last end, and each run's wall time (the runs may come from several invocations)."""
    spans = {}
    for out in outs:
        path = Path(out) / "run.json"
        if not path.is_file():
            continue
        run = json.loads(path.read_text())["run"]
        start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")).timestamp()
                      for k in ("started_at", "written_at"))
        spans[out] = (start, end)
    if not spans:
        return {}
    return {"sum_s": round(sum(e - s for s, e in spans.values())),
            "first_start_to_last_end_s": round(max(e for _, e in spans.values()) - min(s for s, _ in spans.values())),
            "per_run_s": {out: round(e - s) for out, (s, e) in spans.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(REPO / "params.yaml"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override furl_synthetic.KEY (VALUE read as YAML)")
    ap.add_argument("--artifacts", default="bench-artifacts", help="where the runs go (ARTIFACTS/furl-synthetic/...)")
    ap.add_argument("--json", help="summary JSON")
    ap.add_argument("--plot", help="the figure (PNG)")
    ap.add_argument("--summarise-only", action="store_true", help="run nothing; summarise what is there")
    args = ap.parse_args(argv)
    params = yaml.safe_load(Path(args.params).read_text())
    for kv in args.set:
        key, _, value = kv.partition("=")
        params["furl_synthetic"][key] = yaml.safe_load(value)
    runs = commands(params, args.artifacts)
    t_bench = time.perf_counter()
    if not args.summarise_only:
        for k, (_, out, cmd) in enumerate(runs):
            if (Path(out) / "summary.json").is_file():
                continue
            argv_run = [sys.executable, "-m", "cliprl_cli", *shlex.split(cmd)[1:]]
            t0 = time.perf_counter()
            subprocess.run(argv_run, check=True, cwd=REPO)
            print(f"[{k + 1}/{len(runs)}] {out}: {time.perf_counter() - t0:.1f} s", flush=True)
    sec = collect_furl_synthetic(Path(args.artifacts))
    table = []
    for (task, variant, level), rs in groups(sec.runs).items():
        s = summary_row(rs)
        table.append({"task": task, "variant": variant, "misalignment": level, "seeds": s["seeds"],
                      "env_steps": s["steps"], "episodes": s["episodes"], "never_succeeded": s["never"],
                      **{k: {"mean": s[k][0], "ci95": s[k][1]}
                         for k in ("final_success_any", "final_success_last", "first_success_step",
                                   "train_success_episodes")}})
    timing = {"driver_wall_s": round(time.perf_counter() - t_bench, 1), "runs_wall": runs_wall([o for _, o, _ in runs])}
    doc = {"synthetic_vlm": True,
           "command": "python " + " ".join(shlex.quote(a) for a in [Path(__file__).relative_to(REPO).as_posix(),
                                                                     *(argv if argv is not None else sys.argv[1:])]),
           "settings": params["furl_synthetic"], "commands": [c for _, _, c in runs],
           **timing, "success_over_last_evals": LAST_EVALS, "table": table, "missing": sec.missing,
           "runs": [{"task": r.task, "variant": r.variant, "misalignment": r.level, "seed": r.seed,
                     "curve": [{"step": p.step, "success_any": p.success_any, "success_last": p.success_last,
                                "train_success_episodes": p.train_success_episodes} for p in r.curve]}
                    for r in sec.runs]}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    if args.plot:
        plot_dir = Path(args.plot).parent
        for p in synthetic_plots(sec, plot_dir):
            (plot_dir / Path(p.file).name).replace(args.plot)
    for row in table:
        print(row["task"], row["variant"], row["misalignment"], "success", round(row["final_success_any"]["mean"], 2),
              "first", round(row["first_success_step"]["mean"]), "never", row["never_succeeded"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
