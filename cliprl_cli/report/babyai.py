"""The report's BabyAI section: steps to the convergence rule per suite, target and method, and where the weight went.

Inputs: ``ARTIFACTS/babyai/{suite}/transfer/{target}/results.json`` (``cliprl transfer`` on a BabyAI suite; the
``babyai_transfer`` DVC stages), read by :class:`cliprl_cli.store.formats.TransferResults`. ``{suite}`` is the suite
file's suffix (``colour_object``), ``{target}`` the target's instruction slug (``go-to-the-red-key``). A run is a BabyAI
run when its ``config`` says ``suite_kind: babyai``.

What it shows, per suite, target and method: the mean env steps to the rule (greedy success on the rule's fixed seeds
at or above its threshold, solved episodes within its bound of BabyAI's bot) over the trials with its bootstrap 95%
interval as ``cliprl transfer`` computed it, the censored count (counted at the budget, never dropped), the mean
initial success rate, and the method's initial weight on the sources whose instruction names the target's colour or
its object (the last two words: "red key"), the sources that share what the target needs.

With params naming a ``babyai`` section, each expected but absent run is listed under "Missing or incomplete" with
the DVC stage that makes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CliprlError
from ..store.formats import TransferResults
from .tables import Table

SECTION = "babyai"
DIR = "babyai"


@dataclass
class BabyAIRun:
    """One ``cliprl transfer`` run on a BabyAI suite."""

    suite_dir: str    # the directory name (the suite file's suffix)
    target: str
    results: TransferResults
    source: str = "pipeline"  # "pipeline" (ARTIFACTS/babyai) or "saved" (report --babyai-experiment DIR)

    def weights(self, method: str) -> dict[str, float] | None:
        return next((t.weights for t in self.results.trials if t.method == method), None)


@dataclass
class BabyAIData:
    runs: list[BabyAIRun] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_runs(base: Path, source: str, data: BabyAIData) -> None:
    """Every readable ``{suite}/transfer/{target}/results.json`` under ``base`` into ``data`` (others as notes)."""
    for path in sorted(base.glob("*/transfer/*/results.json")):
        try:
            results = TransferResults.read(path)
        except (CliprlError, OSError, ValueError) as exc:
            data.notes.append(f"BabyAI: {path} unreadable: {exc}")
            continue
        if results.config.get("suite_kind") != "babyai":
            data.notes.append(f"BabyAI: {path} is not a BabyAI transfer (its config has no suite_kind: babyai)")
            continue
        data.runs.append(BabyAIRun(suite_dir=path.parents[2].name, target=results.target, results=results,
                                   source=source))


def collect_babyai(root: str | Path, params: dict[str, Any] | None = None,
                   experiment: str | Path | None = None) -> BabyAIData:
    """Every readable BabyAI transfer run under ``root/babyai`` (the pipeline's) and, given ``experiment``, under
    that directory (saved runs in the same layout: ``benchmarks/results/babyai_experiment``, shown apart and labelled
    as such); unreadable ones become notes and, with ``params``, expected but absent pipeline runs become missing
    lines naming their DVC stage. A missing ``experiment`` directory is an error (it was asked for)."""
    data = BabyAIData()
    _read_runs(Path(root) / DIR, "pipeline", data)
    if experiment is not None:
        if not Path(experiment).is_dir():
            raise CliprlError(f"--babyai-experiment {experiment} is not a directory")
        _read_runs(Path(experiment), "saved", data)
    section = (params or {}).get("babyai") or {}
    found = {(r.suite_dir, r.target.replace(" ", "-")) for r in data.runs if r.source == "pipeline"}
    suite = section.get("suite")
    for target in section.get("targets") or []:
        if (str(suite), str(target)) not in found:
            data.missing.append(f"BabyAI: {DIR}/{suite}/transfer/{target}/results.json "
                                f"(dvc stage babyai_transfer@{target})")
    return data


def shared_weight(weights: dict[str, float] | None, target: str, position: int) -> float | None:
    """The total weight on sources whose instruction has the target's word at ``position`` (-2: the colour, -1: the
    object of "go to the red key"); None when the method averages nothing."""
    if weights is None:
        return None
    word = target.split()[position]
    return sum(w for source, w in weights.items() if len(source.split()) >= 2 and source.split()[position] == word)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _steps(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:,.0f}"


SOURCE_TITLES = {"pipeline": "", "saved": "BabyAI saved experiment: "}


def babyai_tables(data: BabyAIData) -> list[Table]:
    """Per source (the pipeline's runs, then the saved experiment's), the steps-to-the-rule table with the
    shared-word weights and the clip/language table; none without runs."""
    tables = []
    for source in SOURCE_TITLES:
        runs = [r for r in data.runs if r.source == source]
        if runs:
            tables += _steps_table(runs, source) + babyai_ratio_table(runs, source)
    return tables


def _steps_table(runs: list[BabyAIRun], source: str) -> list[Table]:
    rows = []
    for run in sorted(runs, key=lambda r: (r.suite_dir, r.target)):
        for method, summary in run.results.summary.items():
            initial = [t.initial_success_rate for t in run.results.trials if t.method == method]
            weights = run.weights(method)
            rows.append([run.suite_dir, run.target, method, str(summary.n), _steps(summary.mean),
                         f"[{_steps(summary.ci95[0])}, {_steps(summary.ci95[1])}]", f"{summary.censored}/{summary.n}",
                         _fmt(sum(initial) / len(initial) if initial else None),
                         _fmt(shared_weight(weights, run.target, -2)), _fmt(shared_weight(weights, run.target, -1))])
    rules = sorted({(p.get("eval_episodes"), p.get("success_threshold"), p.get("bot_length_bound"))
                    for p in (r.results.config.get("ppo") or {} for r in runs)}, key=str)
    rule_text = "; ".join(f"greedy success rate at least {t:g} on {n} fixed seeds, solved episodes within "
                          f"{1 + b:g}x the bot's length" if None not in (n, t, b) else "?" for n, t, b in rules)
    budget = sorted({r.results.budget for r in runs})
    resolution = sorted({r.results.step_resolution for r in runs if r.results.step_resolution})
    saved = (" Saved runs (report --babyai-experiment), not this pipeline's: their commands are in "
             "docs/babyai.md." if source == "saved" else "")
    return [Table(
        title=SOURCE_TITLES[source] + "Steps to the convergence rule on BabyAI targets", section=SECTION,
        note=(f"Mean env steps until the greedy policy meets the rule ({rule_text}), over the trials, with the "
              f"bootstrap 95% interval; censored trials count at the budget ({', '.join(f'{b:,}' for b in budget)} "
              f"env steps), never dropped. Resolution: {', '.join(f'{r:,}' for r in resolution) or '?'} env steps. "
              "Initial success: the averaged policy's greedy success rate on the rule's seeds before fine-tuning. "
              "Weights: each method's initial weight on the sources that name the target's colour, and its "
              "object." + saved),
        header=["suite", "target", "method", "trials", "mean steps", "95% CI", "censored", "initial success",
                "weight: same colour", "weight: same object"],
        rows=rows)]


def paired_counts(run: BabyAIRun, a: str = "clip", b: str = "language") -> tuple[int, int, int] | None:
    """Over trials paired by seed: how many times ``a`` needed fewer, the same, and more env steps than ``b``."""
    steps_a = {t.trial: t.env_steps for t in run.results.trials if t.method == a}
    steps_b = {t.trial: t.env_steps for t in run.results.trials if t.method == b}
    pairs = [(steps_a[k], steps_b[k]) for k in sorted(set(steps_a) & set(steps_b))]
    if not pairs:
        return None
    return (sum(x < y for x, y in pairs), sum(x == y for x, y in pairs), sum(x > y for x, y in pairs))


def ratio_text(ratio: float, low: float, high: float, language_mean: float) -> str:
    """The clip/language ratio of mean steps with its interval; "undefined" when language needed 0 steps on average
    (both starts already met the rule: 0/0), where ``cliprl transfer`` stores null and prints inf."""
    if language_mean == 0:
        return "undefined (language's mean is 0 steps)"
    return f"{ratio:.2f} [{_steps_ratio(low)}, {_steps_ratio(high)}]"


def _steps_ratio(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


def babyai_ratio_table(runs: list[BabyAIRun], source: str = "pipeline") -> list[Table]:
    """CLIP-RL (Algorithm 2) against language-only transfer (Algorithm 1) per BabyAI target: the ratio of mean
    steps to the rule with its paired-bootstrap 95% interval, and the paired trial counts."""
    rows = []
    for run in sorted(runs, key=lambda r: (r.suite_dir, r.target)):
        ratio, summary = run.results.ratio_clip_language, run.results.summary
        counts = paired_counts(run)
        if ratio is None or counts is None or "language" not in summary:
            continue
        rows.append([run.suite_dir, run.target, str(sum(counts)),
                     ratio_text(ratio.ratio, *ratio.ci95, summary["language"].mean),
                     f"{counts[0]} / {counts[1]} / {counts[2]}"])
    if not rows:
        return []
    return [Table(title=(SOURCE_TITLES[source] or "BabyAI: ") + "clip / language (Algorithm 2 over Algorithm 1)",
                  section=SECTION,
                  note="Ratio of mean env steps to the rule, clip over language, with its paired-bootstrap 95% "
                       "interval (below 1: CLIP-RL needed fewer steps). Trials are paired by fine-tuning seed; the "
                       "last column counts the pairs where clip needed fewer, the same, and more steps.",
                  header=["suite", "target", "pairs", "clip / language [95% CI]", "clip fewer / same / more"],
                  rows=rows)]


def babyai_plots(data: BabyAIData, plots_dir: Path) -> list:
    """Per suite, steps to the rule per target and method: the mean with its 95% interval and each trial as a dot
    (a linear axis: 0 steps, a start that already meets the rule, is a result here)."""
    import matplotlib.pyplot as plt

    from .plots import _save, _steps_label, means_beside_trials

    plots = []
    for source, suite_dir in sorted({(r.source, r.suite_dir) for r in data.runs}):
        runs = sorted((r for r in data.runs if (r.source, r.suite_dir) == (source, suite_dir)),
                      key=lambda r: r.target)
        label = f"BabyAI suite {suite_dir}" + (" (saved experiment)" if source == "saved" else "")
        methods = list(dict.fromkeys(m for r in runs for m in r.results.summary))
        fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(runs) + 2.0), 4.2))

        def cell(method: str, j: int, runs: list[BabyAIRun] = runs) -> tuple[list[float], float | None, Any, int]:
            summary = runs[j].results.summary.get(method)
            if summary is None:
                return [], None, None, 0
            dots = [t.env_steps for t in runs[j].results.trials if t.method == method]
            return dots, summary.mean, summary.ci95, summary.n

        means_beside_trials(ax, methods, len(runs), cell)
        ax.set_xticks(range(len(runs)), [r.target.removeprefix("go to the ") for r in runs])
        ax.yaxis.set_major_formatter(plt.FuncFormatter(_steps_label))
        ax.set_ylabel("env steps to the rule")
        ax.set_ylim(bottom=0)  # a linear axis from 0: the starts that already meet the rule sit on it
        ax.set_title(f"{label}: steps to the rule per target")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=4, frameon=False,
                   bbox_to_anchor=(0.5, 0.0), fontsize=9)
        name = f"babyai_{suite_dir}_steps.png" if source == "pipeline" else f"babyai_saved_{suite_dir}_steps.png"
        plots.append(_save(fig, plots_dir, name,
                           f"{label}: mean env steps to the convergence rule per target and method "
                           "with its 95% interval (none under 3 trials), trials as dots; censored trials at the "
                           "budget; 0 means the start already met the rule.", SECTION))
    return plots


def babyai_notes(data: BabyAIData) -> list[str]:
    """The section's note when it has no runs (so an empty section says why)."""
    if data.runs:
        return []
    return [f"No BabyAI runs under ARTIFACTS/{DIR} (the babyai_* DVC stages write them)."]
