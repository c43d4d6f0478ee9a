"""The report's colour x shape section: layout pictures, weight on the useful group, steps to convergence.

Inputs: ``ARTIFACTS/colour_shape/{layout}/transfer/{target}/seed{S}/results.json`` (``cliprl transfer`` on a
colour-shape suite; the ``colour_shape_transfer`` DVC stages), read by :class:`cliprl_cli.store.formats.TransferResults`.
``{layout}`` is the suite file's suffix (``by_colour``), ``{target}`` the object slug (``red-key``), ``S`` the
alignment seed whose heads the run used. The layout's own name, its grouping attribute and the target's useful
group (the sources sharing its room) come from the file's ``config`` (``layout``, ``group_by``, ``useful_group``),
the weights from its trials (every trial of a method starts from the same average).

What it shows:

* a picture of each layout found, MiniGrid's own render (:func:`cliprl_cli.clip_rl.colour_shape_env.render_layout`), saved
  as ``plots/colour_shape_{layout}.png``;
* the primary measure: each method's total weight on the useful group, per target and layout; the mean over
  alignment seeds with each seed's value (methods that do not read the heads give one value);
* steps to convergence per layout, target, alignment seed and method: the mean over trials with its bootstrap 95%
  interval as ``cliprl transfer`` computed it, the median and the IQM with theirs (computed here from the per-trial
  steps), the censored count (counted at the budget, never dropped) and how many of those plateaued (reached greedy
  success 1.0 from every start, held back by the path rule), the mean steps to success 1.0 (the second
  criterion), the mean initial success rate (the averaged policy's greedy success from every start before any
  fine-tuning), and with entropy-matched starts the start temperature.

When nothing is under ``ARTIFACTS/colour_shape``, and params expect nothing there, the section says so in one line;
with params naming a ``colour_shape`` section, each expected but absent run is listed under "Missing or incomplete"
with the DVC stage that makes it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from ..clip_rl.colour_shape_env import render_layout  # noqa: E402
from ..errors import CliprlError  # noqa: E402
from ..store.formats import TransferResults  # noqa: E402
from .plots import PLOTS_DIR, Plot  # noqa: E402
from .intervals import location_intervals  # noqa: E402
from .tables import Table, with_interval  # noqa: E402

SECTION = "colour_shape"
HEADING = "CLIP-RL on the MiniGrid colour x shape world"
DIR = "colour_shape"
_SEED_DIR = re.compile(r"^seed(\d+)$")


@dataclass
class ColourShapeRun:
    """One ``cliprl transfer`` run: a layout, a target, the alignment seed of its heads."""

    layout_dir: str   # the directory name (the suite file's suffix)
    layout: str       # the layout's name recorded by transfer (by-colour, by-shape)
    group_by: str
    target: str
    align_seed: int
    useful_group: list[str]
    results: TransferResults

    def weights(self, method: str) -> dict[str, float] | None:
        for trial in self.results.trials:
            if trial.method == method:
                return trial.weights
        return None

    def group_weight(self, method: str) -> float | None:
        """The method's total initial weight on the useful group (None: the method averages nothing)."""
        weights = self.weights(method)
        if weights is None:
            return None
        return sum(w for source, w in weights.items() if source in self.useful_group)


@dataclass
class ColourShapeData:
    runs: list[ColourShapeRun] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def layouts(self) -> list[tuple[str, str]]:
        """(directory, layout name) of each layout with a run, in directory order."""
        return sorted({(r.layout_dir, r.layout) for r in self.runs})


def collect_colour_shape(root: str | Path, params: dict[str, Any] | None = None) -> ColourShapeData:
    """Every readable colour-shape transfer run under ``root/colour_shape``; unreadable ones become notes and,
    with ``params``, expected but absent runs become missing lines naming their DVC stage."""
    data = ColourShapeData()
    base = Path(root) / DIR
    for path in sorted(base.glob("*/transfer/*/seed*/results.json")):
        seed_match = _SEED_DIR.match(path.parent.name)
        if seed_match is None:
            continue
        try:
            results = TransferResults.read(path)
        except (CliprlError, OSError, ValueError) as exc:
            data.notes.append(f"colour x shape: {path} unreadable: {exc}")
            continue
        config = results.config
        if not isinstance(config.get("layout"), str) or not isinstance(config.get("useful_group"), list):
            data.notes.append(f"colour x shape: {path} is not a colour-shape transfer (its config names no layout "
                              "or useful_group)")
            continue
        data.runs.append(ColourShapeRun(layout_dir=path.parents[3].name, layout=config["layout"],
                                        group_by=str(config.get("group_by", "?")), target=results.target,
                                        align_seed=int(seed_match.group(1)),
                                        useful_group=[str(s) for s in config["useful_group"]], results=results))
    section = (params or {}).get("colour_shape") or {}
    found = {(r.layout_dir, _slug(r.target), r.align_seed) for r in data.runs}
    for layout in section.get("layouts") or []:
        for target in section.get("targets") or []:
            for seed in section.get("align_seeds") or []:
                if (str(layout), str(target), int(seed)) not in found:
                    data.missing.append(f"colour x shape: {DIR}/{layout}/transfer/{target}/seed{seed}/results.json "
                                        f"(dvc stage colour_shape_transfer@{layout}-{target}-{seed})")
    return data


def _slug(instruction: str) -> str:
    """``"go to the red key"`` -> ``"red-key"`` (the DVC stages' target slug)."""
    return instruction.removeprefix("go to the ").replace(" ", "-")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _steps(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:,.0f}"


def colour_shape_tables(data: ColourShapeData) -> list[Table]:
    """The weights table (primary measure) and the steps-to-convergence table; none without runs."""
    if not data.runs:
        return []
    layouts = data.layouts()
    targets = sorted({r.target for r in data.runs})
    methods: list[str] = []
    for run in data.runs:
        methods += [m for m in run.results.summary if m not in methods]
    weight_methods = [m for m in methods if any(r.weights(m) is not None for r in data.runs)]
    header = ["target", "method"]
    for layout_dir, layout in layouts:
        groups = sorted({", ".join(r.useful_group) for r in data.runs if r.layout_dir == layout_dir})
        header.append(f"{layout} (useful: {'; '.join(groups)})" if len(groups) == 1 else layout)
    rows = []
    for target in targets:
        for method in weight_methods:
            row = [target, method]
            for layout_dir, _ in layouts:
                runs = sorted((r for r in data.runs if r.layout_dir == layout_dir and r.target == target),
                              key=lambda r: r.align_seed)
                values = [(r.align_seed, r.group_weight(method)) for r in runs]
                values = [(s, v) for s, v in values if v is not None]
                if not values:
                    row.append("-")
                    continue
                distinct = {round(v, 6) for _, v in values}
                mean = sum(v for _, v in values) / len(values)
                if len(distinct) == 1:
                    row.append(_fmt(values[0][1]))
                else:
                    row.append(f"{_fmt(mean)} (seeds {', '.join(f'{s}: {_fmt(v)}' for s, v in values)})")
            rows.append(row)
    weights = Table(
        title="Weight on the useful group (the primary measure)", section=SECTION,
        note=("Each method's total initial weight on the sources that share the target's room (same colour in "
              "by-colour, same shape in by-shape), the instructions being the same in both layouts. language "
              "(Algorithm 1) cannot move it between layouts; clip (Algorithm 2) shows its mechanism only if it "
              "follows the layout. uniform gives the group's share of the sources; oracle-group puts all of it "
              "there. Several alignment seeds: their mean, then each seed."),
        header=header, rows=rows)
    step_rows = []
    matched = any(t.start_temperature is not None for r in data.runs for t in r.results.trials)
    for run in sorted(data.runs, key=lambda r: (r.layout_dir, r.target, r.align_seed)):
        success_summary = run.results.success_summary or {}
        for method, summary in run.results.summary.items():
            trials = [t for t in run.results.trials if t.method == method]
            initial = [t.initial_success_rate for t in trials]
            spread = location_intervals([t.env_steps for t in trials]) if trials else {}
            recorded = bool(trials) and all(t.success_censored is not None for t in trials)
            success = success_summary.get(method)
            row = [run.layout, run.target, str(run.align_seed), method, str(summary.n),
                   _steps(summary.mean), f"[{_steps(summary.ci95[0])}, {_steps(summary.ci95[1])}]",
                   with_interval(spread.get("median"), spread.get("median_ci95")),
                   with_interval(spread.get("iqm"), spread.get("iqm_ci95")),
                   f"{summary.censored}/{summary.n}",
                   # censored by the path rule after reaching greedy success 1.0 from every start: near-optimal
                   str(sum(t.censored and not t.success_censored for t in trials)) if recorded else "-",
                   "-" if success is None else with_interval(success.mean, success.ci95),
                   _fmt(sum(initial) / len(initial) if initial else None),
                   _fmt(run.group_weight(method))]
            if matched:
                temperatures = {t.start_temperature for t in trials if t.start_temperature is not None}
                row.append(_fmt(next(iter(temperatures)), 2) if len(temperatures) == 1 else "-")
            step_rows.append(row)
    budget = sorted({r.results.budget for r in data.runs})
    resolution = sorted({r.results.step_resolution for r in data.runs if r.results.step_resolution})
    clock = (f"Resolution: {', '.join(f'{r:,}' for r in resolution)} env steps, one PPO iteration (the greedy "
             f"policy changes only at an update): a difference under about three iterations "
             f"({', '.join(f'{3 * r:,}' for r in resolution)} env steps) is within a few ticks of the clock. "
             if resolution else "Resolution: ? env steps. ")
    steps = Table(
        title="Steps to convergence on the target (colour x shape)", section=SECTION,
        note=(f"Env steps until the greedy policy reaches the target from every start within 1.05x the "
              f"shortest path (BFS over cell x direction): mean, median and interquartile mean (IQM) over the "
              f"trials, each with its bootstrap 95% interval; censored trials count at the budget "
              f"({', '.join(f'{b:,}' for b in budget)} env steps), never dropped. 'plateaued': censored trials "
              f"that reached greedy success 1.0 from every start but never the path rule (near-optimal, not "
              f"failing), apart from those that never succeed. 'to success 1.0': mean steps to greedy success "
              f"from every start [95% interval], the criterion without the path rule. {clock}Initial success: "
              "the averaged policy's greedy success rate from every start before fine-tuning."
              + (" Start T: the temperature the start's logits were divided by (entropy-matched starts, "
                 "cliprl transfer --start-entropy; 1 = left as it was)." if matched else "")),
        header=["layout", "target", "align seed", "method", "trials", "mean steps", "95% CI", "median [95% CI]",
                "IQM [95% CI]", "censored", "plateaued", "to success 1.0", "initial success",
                "useful-group weight", *(["start T"] if matched else [])],
        rows=step_rows)
    return [weights, steps]


def colour_shape_notes(data: ColourShapeData) -> list[str]:
    """The section's note when it has no runs (so an empty section says why)."""
    if data.runs:
        return []
    return [f"No colour x shape runs under ARTIFACTS/{DIR} (the colour_shape_* DVC stages, or "
            "benchmarks/colour_shape_experiment.py --out ARTIFACTS/colour_shape, write them)."]


def colour_shape_plots(data: ColourShapeData, plots_dir: str | Path) -> list[Plot]:
    """MiniGrid's render of each layout with runs, one PNG each (``plots/colour_shape_{layout}.png``)."""
    out = []
    for layout_dir, layout in data.layouts():
        image = render_layout(layout, tile_size=32)
        name = f"colour_shape_{layout_dir}.png"
        plt.imsave(Path(plots_dir) / name, image, metadata={"Software": None})
        group = next(r.group_by for r in data.runs if r.layout_dir == layout_dir)
        out.append(Plot(file=f"{PLOTS_DIR}/{name}", section=SECTION,
                        caption=f"Layout {layout} (MiniGrid's render): each {group} owns a room; the agent (red "
                                "triangle) is drawn at one start; episodes start in any free cell, facing any way"))
    return out
