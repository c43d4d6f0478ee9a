"""The paper experiment's clip/language ratio under both criteria, as transferred and with entropy-matched starts.

The paper's rule (greedy path within 1.05x the shortest from every start) and the looser second criterion (greedy
success from every start, no path rule), each as the ratio of mean env steps, clip over language, with its
paired-bootstrap 95% interval (``cliprl_cli.stats.paired_ratio``: trials paired by fine-tuning seed). Reads the
default pipeline's ``artifacts/transfer/N/results.json`` (as transferred) and the saved
``benchmarks/results/clip_rl_experiment_start_entropy.json`` (``clip_rl_experiment.py --start-entropy 0.7``); writes
a JSON beside the latter and prints the README's rows::

    python scripts/paper_criteria_table.py [--artifacts artifacts] [--matched FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cliprl_cli.stats import paired_ratio

SIZES = ("8", "10", "15", "25")


def per_method_steps(trials: list[dict], key: str) -> dict[str, list[int]]:
    """Each method's steps under one criterion, in trial order (``env_steps``: the rule; ``steps_to_success``)."""
    out: dict[str, list[int]] = {}
    for t in sorted(trials, key=lambda t: (t["method"], t["trial"])):
        out.setdefault(t["method"], []).append(t[key])
    return out


def ratios(trials: list[dict]) -> dict[str, dict]:
    """clip/language under the rule and under success 1.0, plus each method's mean and median steps."""
    out = {}
    for criterion, key in (("rule", "env_steps"), ("success", "steps_to_success")):
        steps = per_method_steps(trials, key)
        out[criterion] = {"clip_language": paired_ratio(steps["clip"], steps["language"]),
                          "mean": {m: sum(s) / len(s) for m, s in steps.items()},
                          "median": {m: float(np.median(s)) for m, s in steps.items()}}
    return out


def cell(r: dict) -> str:
    lo, hi = r["ci95"]
    return f"{r['ratio']:.2f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--matched", type=Path,
                        default=Path("benchmarks/results/clip_rl_experiment_start_entropy.json"))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/paper_experiment_criteria.json"))
    args = parser.parse_args()
    matched = json.loads(args.matched.read_text())
    result = {"start_entropy": matched.get("start_entropy"), "sizes": {}}
    for size in SIZES:
        plain = json.loads((args.artifacts / "transfer" / size / "results.json").read_text())
        result["sizes"][size] = {"as_transferred": ratios(plain["trials"]),
                                 "matched": ratios(matched["per_size"][size]["trials"]),
                                 "trials": len([t for t in plain["trials"] if t["method"] == "clip"])}
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    rows = [("clip/language, the paper's rule", "as_transferred", "rule"),
            ("the same, starts entropy-matched at 0.7 nats", "matched", "rule"),
            ("clip/language, success from every start (no path rule)", "as_transferred", "success"),
            ("the same, starts entropy-matched", "matched", "success")]
    print("| | " + " | ".join(f"{s}x{s}" for s in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for label, kind, criterion in rows:
        print(f"| {label} | " + " | ".join(cell(result["sizes"][s][kind][criterion]["clip_language"])
                                          for s in SIZES) + " |")


if __name__ == "__main__":
    main()
