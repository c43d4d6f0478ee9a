"""The report's SYNTHETIC-VLM section: FuRL's mechanism measured with a VLM whose error is known.

Inputs: ``ARTIFACTS/furl-synthetic/{task}/sac/seed{S}/`` and ``ARTIFACTS/furl-synthetic/{task}/{variant}/a{A}/seed{S}/``
(``cliprl furl --vlm-model synthetic``; the ``furl_synthetic_sac`` and ``furl_synthetic`` DVC stages), each read by
:class:`cliprl_cli.store.formats.FurlCurve`; ``A`` is the synthetic VLM's misalignment (0: its instruction points at
the goal, 1: at a wrong target). A run is shown only if its curve.json says ``vlm_synthetic``; anything else under
that directory is listed as left out, so real-VLM rows never enter this section and synthetic rows never enter the
FuRL section (which reads ``ARTIFACTS/furl`` only). Optionally the known-answer result
(``benchmarks/results/furl_known_answer.json``, written by ``benchmarks/furl_known_answer.py``).

What it shows, under a heading that says SYNTHETIC:

* per variant and misalignment: the success rate over each seed's last three evaluations (Meta-World's any-step
  success and the paper's last-step success) and the env steps to the first evaluation with any success, each as
  the mean over seeds with a percentile-bootstrap 95% interval over seeds (:func:`cliprl_cli.stats.bootstrap_ci`);
  a seed that never succeeded counts at its run's length and is counted in the "never" column (censored, never
  dropped); and how many training episodes reached the goal;
* one figure per task: success against env steps (averaged over each seed's last three evaluations, then over
  seeds) and the fraction of seeds that have succeeded once, one column per misalignment (SAC, which uses no VLM,
  drawn in every column);
* the known-answer table: Spearman correlation of the reward with true task progress, zero-shot vs heads trained
  with Eq. 5 / Eq. 4, per misalignment (mean and 95% interval over seeds).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402

from ..errors import CliprlError  # noqa: E402
from ..stats import bootstrap_ci  # noqa: E402
from ..store.formats import FurlCurve, FurlPoint, FurlRunConfig  # noqa: E402
from .palette import method_colour  # noqa: E402
from .plots import AXIS_LABELS, Plot, _save, _steps_axis  # noqa: E402
from .tables import Table, _ci, _f  # noqa: E402

SECTION = "furl_synthetic"
HEADING = "SYNTHETIC VLM: FuRL's mechanism on sparse-reward Meta-World (not a real VLM)"
DIR = "furl-synthetic"
_SEED = re.compile(r"^seed(\d+)$")
_LEVEL = re.compile(r"^a(\d+(?:\.\d+)?)$")
VARIANT_ORDER = ("sac", "vlm", "relay", "furl-no-goal", "furl", "vlm-proj", "vlm-rm")
# Success is averaged over each seed's last evaluations: a fixed-goal evaluation of the deterministic (mean) action
# repeats one episode, so a single evaluation is 0 or 1 and flickers while the policy is still moving.
LAST_EVALS = 3
KNOWN_ANSWER_CONDITIONS = ("zero-shot", "eq5", "eq4", "eq5+eq4")


@dataclass
class SyntheticRun:
    """One synthetic-VLM run: ``level`` is its misalignment (None for SAC, which uses no VLM)."""

    task: str
    variant: str
    level: float | None
    seed: int
    curve: list[FurlPoint]
    random_steps: int = 0  # from config.json: evaluations up to here show the initial policy, not a learned one


@dataclass
class SyntheticSection:
    runs: list[SyntheticRun] = field(default_factory=list)
    known_answer: dict[str, Any] | None = None
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def _read_run(d: Path, task: str, variant: str, level: float | None, seed: int,
              sec: SyntheticSection) -> None:
    path = d / "curve.json"
    if not path.is_file():
        sec.missing.append(f"synthetic FuRL curve: {path} not found (run unfinished?)")
        return
    try:
        curve = FurlCurve.read(path)
    except CliprlError as exc:
        sec.missing.append(f"synthetic FuRL curve: {exc}")
        return
    if not curve.vlm_synthetic:
        sec.notes.append(f"{path}: not a synthetic-VLM run (no vlm_synthetic mark): left out of the SYNTHETIC section")
        return
    if not curve.curve:
        sec.missing.append(f"synthetic FuRL curve: {path} has no evaluation points")
        return
    if not (d / "summary.json").is_file():
        sec.notes.append(f"{d}: no summary.json (run unfinished?); its curve up to step {curve.curve[-1].step} is used")
    random_steps = 0
    if (d / "config.json").is_file():
        try:
            random_steps = int(FurlRunConfig.read(d / "config.json").config.get("random_steps") or 0)
        except CliprlError as exc:
            sec.missing.append(f"synthetic FuRL config: {exc}")
    sec.runs.append(SyntheticRun(task, variant, level, seed, curve.curve, random_steps))


def collect_furl_synthetic(root: Path, known_answer: str | Path | None = None) -> SyntheticSection:
    """Every run under ``root/furl-synthetic`` (see the module docstring) and the known-answer JSON, if given."""
    sec = SyntheticSection()
    for task_dir in _dirs(Path(root) / DIR):
        for variant_dir in _dirs(task_dir):
            for sub in _dirs(variant_dir):
                if m := _SEED.match(sub.name):
                    _read_run(sub, task_dir.name, variant_dir.name, None, int(m.group(1)), sec)
                elif m := _LEVEL.match(sub.name):
                    for seed_dir in _dirs(sub):
                        if s := _SEED.match(seed_dir.name):
                            _read_run(seed_dir, task_dir.name, variant_dir.name, float(m.group(1)),
                                      int(s.group(1)), sec)
    if known_answer is not None:
        path = Path(known_answer)
        try:
            doc = json.loads(path.read_text())
            if not isinstance(doc, dict) or not doc.get("synthetic_vlm") or not isinstance(doc.get("table"), list):
                raise ValueError("not a known-answer result (needs synthetic_vlm: true and a table)")
            sec.known_answer = doc
        except (OSError, ValueError) as exc:
            sec.missing.append(f"known-answer result {path}: {exc}")
    return sec


# ------------------------------------------------------------------------------------------------------- numbers
def first_success_step(curve: list[FurlPoint], after: int = 0) -> int | None:
    """The env step of the first evaluation after step ``after`` with any success (any-step success > 0); None if
    there was none. ``after`` is the run's random phase: until it ends (and at its last step, after one gradient
    pass) the evaluated mean action is the initial network's, and on drawer-close an initial network's constant
    push can close the drawer: a success of the initialisation, not of learning."""
    return next((p.step for p in curve if p.step > after and p.success_any > 0), None)


def mean_ci(values: list[float]) -> tuple[float, tuple[float, float] | None]:
    """The mean and its percentile-bootstrap 95% interval over seeds (no interval for a single seed)."""
    mean = float(np.mean(values))
    return mean, (bootstrap_ci(values) if len(values) > 1 else None)


def _level_label(level: float | None) -> str:
    return "- (no VLM)" if level is None else f"{level:g}"


def _variant_key(variant: str) -> tuple[int, str]:
    return (VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else len(VARIANT_ORDER), variant)


def groups(runs: list[SyntheticRun]) -> dict[tuple[str, str, float | None], list[SyntheticRun]]:
    """Runs by (task, variant, misalignment), in the table's order (task, level, then variant)."""
    out: dict[tuple[str, str, float | None], list[SyntheticRun]] = {}
    for r in sorted(runs, key=lambda r: (r.task, -1.0 if r.level is None else r.level, _variant_key(r.variant),
                                         r.seed)):
        out.setdefault((r.task, r.variant, r.level), []).append(r)
    return out


def summary_row(runs: list[SyntheticRun]) -> dict[str, Any]:
    """One table row's numbers: any-step and last-step success averaged over each seed's last
    :data:`LAST_EVALS` evaluations, and steps to the first success (a seed that never succeeded counts at its run's
    last evaluated step, and is counted in ``never``)."""
    final_any = [float(np.mean([p.success_any for p in r.curve[-LAST_EVALS:]])) for r in runs]
    final_last = [float(np.mean([p.success_last for p in r.curve[-LAST_EVALS:]])) for r in runs]
    firsts = [first_success_step(r.curve, r.random_steps) for r in runs]
    steps = [float(f if f is not None else r.curve[-1].step) for f, r in zip(firsts, runs)]
    train = [float(r.curve[-1].train_success_episodes) for r in runs]
    return {"seeds": [r.seed for r in runs], "final_success_any": mean_ci(final_any),
            "final_success_last": mean_ci(final_last), "first_success_step": mean_ci(steps),
            "never": sum(f is None for f in firsts), "steps": max(r.curve[-1].step for r in runs),
            "train_success_episodes": mean_ci(train), "episodes": max(r.curve[-1].episodes for r in runs)}


# ------------------------------------------------------------------------------------------------------- tables
def _cell(pair: tuple[float, tuple[float, float] | None], digits: int) -> str:
    mean, ci = pair
    return _f(mean, digits) + ("" if ci is None else " " + _ci(ci, digits))


def synthetic_tables(sec: SyntheticSection) -> list[Table]:
    tables = []
    rows = []
    for (task, variant, level), runs in groups(sec.runs).items():
        s = summary_row(runs)
        rows.append([task, variant, _level_label(level), str(len(runs)), _cell(s["final_success_any"], 2),
                     _cell(s["final_success_last"], 2), _cell(s["first_success_step"], 0),
                     f"{s['never']}/{len(runs)}", _cell(s["train_success_episodes"], 1), _f(s["episodes"]),
                     _f(s["steps"])])
    tables.append(Table(
        title="SYNTHETIC VLM bench: success and steps to first success per variant and misalignment",
        section=SECTION,
        note=("A SYNTHETIC VLM (cliprl furl --vlm-model synthetic: it embeds the state, its zero-shot reward points at "
              "a wrong target by the misalignment a), not a real one: these rows measure FuRL's mechanism, not a "
              "VLM. Mean over seeds with a bootstrap 95% interval over seeds. Success: each seed's mean over its "
              f"last {LAST_EVALS} evaluations (any step: Meta-World's; last step: the paper's; a fixed-goal "
              "evaluation of the mean action repeats one episode, so one evaluation is 0 or 1). First success: env "
              "steps to the first evaluation "
              "with any success after the random phase (before it ends the evaluated policy is the initial network); "
              "a seed without one counts at its run's length (never dropped) and is counted in 'never'. Training "
              "episodes with a success: the agent's own (and, in relay variants, its relay partner's) episodes "
              "that reached the goal. SAC uses no VLM: one row, shared by every misalignment."),
        header=["task", "variant", "misalignment a", "seeds", f"success, last {LAST_EVALS} evals (any step)",
                f"success, last {LAST_EVALS} evals (last step)",
                "steps to first success", "never", "training episodes with a success", "training episodes",
                "env steps"],
        rows=rows))
    ka = sec.known_answer
    if ka is not None:
        ka_rows = []
        for row in ka["table"]:
            cells = [str(row.get("source", "?")), f"{row.get('distract', float('nan')):g}",
                     f"{row.get('misalignment', float('nan')):g}", str(row.get("seeds", "?"))]
            for cond in KNOWN_ANSWER_CONDITIONS:
                stat = row.get(cond) or {}
                mean = stat.get("mean")
                ci = stat.get("ci95")
                cells.append(_f(mean, 2) + ("" if not ci else " " + _ci(tuple(ci), 2)))
            ka_rows.append(cells)
        tables.append(Table(
            title="SYNTHETIC VLM known answer: does alignment recover task progress the zero-shot reward lacks?",
            section=SECTION,
            note=("Spearman correlation between the reward and true task progress (minus the distance to the goal) "
                  "on held-out expert and failed trajectories; zero-shot (Eq. 2) vs the reward heads after Eq. 5 "
                  "(goal image, no success), Eq. 4 (successes), or both (Eq. 3's reward). Mean over seeds with a 95% "
                  f"interval. From `{ka.get('command', 'benchmarks/furl_known_answer.py')}`."),
            header=["trajectories", "distractor scale", "misalignment a", "seeds", *KNOWN_ANSWER_CONDITIONS],
            rows=ka_rows))
    return tables


# ------------------------------------------------------------------------------------------------------- figure
def smoothed_success(curve: list[FurlPoint]) -> list[float]:
    """Any-step success at each evaluation averaged with the evaluations before it, :data:`LAST_EVALS` in all (the
    table's measure, along the run)."""
    ys = [p.success_any for p in curve]
    return [float(np.mean(ys[max(0, i + 1 - LAST_EVALS):i + 1])) for i in range(len(ys))]


def synthetic_plots(sec: SyntheticSection, plots_dir: Path) -> list[Plot]:
    """Per task, one column per misalignment (SAC, without a VLM, in each): top, the seeds' mean success over their
    last :data:`LAST_EVALS` evaluations; bottom, the fraction of seeds whose learned policy has succeeded once."""
    plots = []
    for task in dict.fromkeys(r.task for r in sec.runs):
        runs = [r for r in sec.runs if r.task == task]
        levels = sorted({r.level for r in runs if r.level is not None}) or [None]
        fig, axes = plt.subplots(2, len(levels), figsize=(3.6 * len(levels), 5.6), sharey=True, sharex=True,
                                 squeeze=False)
        for col, level in enumerate(levels):
            top, bottom = axes[0][col], axes[1][col]
            shown = [r for r in runs if r.level is None or r.level == level]
            for (_, variant, _), rs in groups(shown).items():
                steps = sorted(set.intersection(*[{p.step for p in r.curve} for r in rs]))
                if not steps:
                    continue
                colour = method_colour(variant)
                smooth = np.array([[y for p, y in zip(r.curve, smoothed_success(r.curve)) if p.step in steps]
                                   for r in rs])
                top.plot(steps, smooth.mean(0), color=colour, lw=1.5, label=f"{variant} ({len(rs)} seeds)")
                firsts = [first_success_step(r.curve, r.random_steps) for r in rs]
                reached = [np.mean([f is not None and f <= s for f in firsts]) for s in steps]
                bottom.step(steps, reached, where="post", color=colour, lw=1.5)
            top.set_title("misalignment a = " + ("-" if level is None else f"{level:g}"), fontsize=9)
            bottom.set_xlabel(AXIS_LABELS["step"])
            _steps_axis(bottom)
            for ax in (top, bottom):
                ax.set_ylim(-0.05, 1.05)
        axes[0][0].set_ylabel(f"success, last {LAST_EVALS} evals\n(mean over seeds)")
        axes[1][0].set_ylabel("fraction of seeds that\nhave succeeded once")
        axes[0][-1].legend(fontsize=7)
        fig.suptitle(f"SYNTHETIC VLM bench, {task}: sparse-reward learning per misalignment", fontsize=10, y=1.0)
        plots.append(_save(fig, plots_dir, f"furl_synthetic_{task}.png",
                           f"SYNTHETIC VLM, {task}: top, evaluation success at any step averaged over each seed's "
                           f"last {LAST_EVALS} evaluations (mean over seeds); bottom, the fraction of seeds whose "
                           "policy has succeeded in an evaluation after the random phase. One column per "
                           "misalignment; SAC, without a VLM, in every column.", SECTION))
    return plots


def synthetic_notes(sec: SyntheticSection) -> list[str]:
    if not sec.runs and sec.known_answer is None:
        return ["No synthetic-VLM runs (the furl_synthetic stages) and no known-answer result were given."]
    return ["Everything in this section comes from a SYNTHETIC VLM built so that the right answer is known "
            "(cliprl_cli/furl/synthetic.py, cliprl_cli/furl/synthetic_vlm.py); none of it is a real VLM's number."]
