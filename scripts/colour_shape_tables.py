"""Tables of the colour x shape 10-trial experiment, as transferred and entropy-matched, under both criteria.

Reads ``benchmarks/results/colour_shape_10trials_{plain,matched}.json`` (``benchmarks/colour_shape_experiment.py``)
and prints the full table of docs/clip-rl.md (every method and alignment seed), the README's summary (clip pooled
over its three alignment seeds: 30 trials) and which clip-vs-language differences are established (non-overlapping
bootstrap 95% intervals)::

    python scripts/colour_shape_tables.py [--results benchmarks/results] [--only full|summary|established]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cliprl_cli.report.intervals import location_intervals

TARGETS = ("go to the red key", "go to the green ball", "go to the blue box")
LAYOUTS = ("by-colour", "by-shape")
ORDER = ("scratch", "language", "clip", "uniform", "nearest-language", "nearest-clip", "oracle-group")
BUDGET = 1_000_000


def k(x: float) -> str:
    return "1M" if x >= BUDGET - 500 else f"{x / 1000:,.0f}k"


def cell(c: dict, plateaued: int | None = None) -> str:
    s = f"{k(c['mean'])} [{k(c['mean_ci95'][0])}, {k(c['mean_ci95'][1])}], med {k(c['median'])}"
    if c["censored"]:
        s += f"; {c['censored']} cens." + (f" ({plateaued} plat.)" if plateaued else "")
    return s


def same_run(a: dict, b: dict) -> bool:
    return a["converged"]["steps"] == b["converged"]["steps"] and a["success"]["steps"] == b["success"]["steps"]


def cells(results: dict):
    """(target, layout, that cell's transfer runs by alignment seed) in the tables' order."""
    for target in TARGETS:
        for layout in LAYOUTS:
            yield target, layout, results["layouts"][layout][target]["transfer"]


def full_table(plain: dict, matched: dict) -> list[str]:
    lines = ["| layout, target | method (align seed) | converged, as transferred | converged, matched (T) | "
             "success 1.0, as transferred | success 1.0, matched |", "|---|---|---:|---:|---:|---:|"]
    for target, layout, entry in cells(plain):
        for m in ORDER:
            for seed, methods in entry.items():
                v = methods.get(m)
                if v is None:
                    continue
                w = matched["layouts"][layout][target]["transfer"].get(seed, {}).get(m)
                temp = "" if w is None or w["start_temperature"] is None else f" (T {w['start_temperature']:.2f})"
                if w is None:
                    mc = ms = "-"
                elif same_run(v, w):
                    mc, ms = "same" + temp, "same"
                else:
                    mc, ms = cell(w["converged"], w["plateaued"]) + temp, cell(w["success"])
                label = f"{m} ({seed})" if m in ("clip", "nearest-clip") else m
                if m == "nearest-clip" and same_run(v, entry["0"]["nearest-language"]):
                    label += " = nearest-language"
                lines.append(f"| {layout}, {target.removeprefix('go to the ')} | {label} | "
                             f"{cell(v['converged'], v['plateaued'])} | {mc} | {cell(v['success'])} | {ms} |")
    return lines


def pooled(entry: dict, method: str, criterion: str) -> dict:
    """A method's trials over every alignment seed it ran at (clip: 3 x 10), with intervals."""
    steps = [s for methods in entry.values() if method in methods for s in methods[method][criterion]["steps"]]
    return {**location_intervals(steps), "n": len(steps), "censored": sum(s >= BUDGET for s in steps)}


def short(c: dict) -> str:
    cens = f", {c['censored']} cens." if c["censored"] else ""
    return f"{k(c['mean'])} [{k(c['mean_ci95'][0])}, {k(c['mean_ci95'][1])}]{cens}"


def summary_table(plain: dict, matched: dict) -> list[str]:
    lines = ["| layout, target | scratch | language | clip (3 seeds, 30) | uniform | oracle-group | nearest-language | "
             "nearest-language, matched |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for target, layout, entry in cells(plain):
        m_entry = matched["layouts"][layout][target]["transfer"]
        row = [short(pooled(entry, m, "converged")) for m in ("scratch", "language", "clip", "uniform",
                                                                 "oracle-group", "nearest-language")]
        row.append(short(pooled(m_entry, "nearest-language", "converged")))
        lines.append(f"| {layout}, {target.removeprefix('go to the ')} | " + " | ".join(row) + " |")
    return lines


def established(plain: dict) -> list[str]:
    """clip (each seed and pooled) against language, both criteria: which intervals do not overlap."""
    lines = []
    for target, layout, entry in cells(plain):
        for criterion in ("converged", "success"):
            lang = entry["0"]["language"][criterion]
            per_seed = [entry[s]["clip"][criterion] for s in sorted(entry) if "clip" in entry[s]]
            both = per_seed + [pooled(entry, "clip", criterion)]
            verdict = ["faster" if c["mean_ci95"][1] < lang["mean_ci95"][0] else
                       "slower" if c["mean_ci95"][0] > lang["mean_ci95"][1] else "overlap" for c in both]
            lines.append(f"{layout} {target.removeprefix('go to the ')} {criterion}: language "
                         f"{short(lang)}; clip per seed {[short(c) for c in per_seed]}, pooled {short(both[-1])}: "
                         f"{verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--only", choices=("full", "summary", "established"))
    args = parser.parse_args()
    plain = json.loads((args.results / "colour_shape_10trials_plain.json").read_text())
    matched = json.loads((args.results / "colour_shape_10trials_matched.json").read_text())
    for name, make in (("full", lambda: full_table(plain, matched)), ("summary", lambda: summary_table(plain, matched)),
                       ("established", lambda: established(plain))):
        if args.only in (None, name):
            print("\n".join(make()) + "\n")


if __name__ == "__main__":
    main()
