"""The report's tables, warnings and metrics, computed from the collected artifacts.

Tables are lists of already formatted strings, so Markdown and HTML render the same text. Warnings are the honest
labels every reader must see first (random-weight VLMs, censored runs, FuRL runs far shorter than the paper's).
Metrics are the numbers ``dvc metrics show`` compares between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store.formats import LIBRARY_SIZE_METHODS, finite_or_none
from .collect import Collected, Pair
from .paper import (CLIP_RL_PAPER, CLIP_RL_PAPER_RATIO, FURL_PAPER_NOTE, FURL_PAPER_TABLE3_NOTE, PAPER_GRID_SIZES,
                    furl_paper_average)


@dataclass(frozen=True)
class Table:
    """One table: ``section`` is a key of :data:`cliprl_cli.report.render.SECTIONS`; rows hold display strings."""

    title: str
    section: str
    note: str
    header: list[str]
    rows: list[list[str]]


# ------------------------------------------------------------------------------------------------------ formatting
def _f(value: Any, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals, or "-" when there is none."""
    v = finite_or_none(value)
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def _ci(ci: Pair | None, digits: int = 0) -> str:
    """An interval as "[lo, hi]", or "-" when either end is unknown."""
    if not ci or finite_or_none(ci[0]) is None or finite_or_none(ci[1]) is None:
        return "-"
    return f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def with_interval(value: Any, ci: Pair | None, digits: int = 0) -> str:
    """A value and its interval in one cell, "600 [400, 900]"; the value alone when there is no interval."""
    if finite_or_none(value) is None:
        return "-"
    interval = _ci(ci, digits)
    return _f(value, digits) if interval == "-" else f"{_f(value, digits)} {interval}"


def _saving(ratio: float | None) -> str:
    """A clip/language ratio in words: "25% fewer steps" for 0.75."""
    if ratio is None:
        return "-"
    if ratio <= 1:
        return f"{(1 - ratio) * 100:.0f}% fewer steps"
    return f"{(ratio - 1) * 100:.0f}% more steps"


def _random_label(random_vlm: bool) -> str:
    return " (RANDOM VLM)" if random_vlm else ""


# ---------------------------------------------------------------------------------------------------------- tables
def transfer_table(c: Collected) -> Table:
    """Steps to convergence per grid size and method, with the clip/language ratio on the clip rows."""
    tr = c.transfer
    ratio_by = {r.grid_size: r for r in tr.ratios}
    rows = []
    for r in tr.rows:
        ratio = ratio_by.get(r.grid_size) if r.method == "clip" else None
        rows.append([f"{r.grid_size}x{r.grid_size}", r.method, str(r.n if r.n is not None else "-"),
                     f"{r.censored if r.censored is not None else '-'}", _f(r.mean), _ci(r.ci95),
                     with_interval(r.median, r.median_ci95), with_interval(r.iqm, r.iqm_ci95),
                     f"{r.plateaued if r.plateaued is not None else '-'}",
                     with_interval(r.success_mean, r.success_ci95), _f(r.budget),
                     (f"{_f(ratio.ratio, 3)} {_ci(ratio.ci95, 3)}" if ratio else "")])
    trial_counts = [r.n for r in tr.rows if r.n is not None]
    few = (f" Only {max(trial_counts)} trial(s) per method here (the paper: 10): the intervals are rough."
           if trial_counts and max(trial_counts) < 10 else "")
    return Table(
        title="CLIP-RL: env steps to convergence on the target, per grid size and method", section="clip",
        note=("Mean, median and interquartile mean (IQM) over trials, each with its bootstrap 95% interval "
              "(heavy tails: a few censored trials move the mean far more than the median or the IQM); censored "
              "runs (budget exhausted) are counted at the budget, never dropped. 'plateaued': censored runs that "
              "reached success 1.0 from every start but never the path rule (near-optimal, not failing). 'to "
              "success 1.0': mean steps to greedy success from every start [95% interval], the criterion without "
              "the path rule. "
              "Ratio = clip mean / language mean (Algorithm 2 / Algorithm 1); paper: "
              f"about {CLIP_RL_PAPER_RATIO} on average (no per-size numbers in the text).{few}"),
        header=["grid", "method", "trials", "censored", "mean steps", "95% CI", "median [95% CI]", "IQM [95% CI]",
                "plateaued", "to success 1.0", "budget", "clip/language ratio [95% CI]"],
        rows=rows)


def negative_transfer_rows(c: Collected) -> list[tuple[int, str, float, int, int]]:
    """Per grid size and transfer method: (size, method, mean initial success rate, trials slower than scratch's
    mean at that size, trials). Sizes without scratch trials are left out (nothing to compare with)."""
    out = []
    for n, by_method in sorted(c.transfer.initial.items()):
        scratch = [steps for _, steps, _ in by_method.get("scratch", [])]
        if not scratch:
            continue
        reference = sum(scratch) / len(scratch)
        for method, trials in by_method.items():
            if method == "scratch" or not trials:
                continue
            out.append((n, method, sum(t[0] for t in trials) / len(trials),
                        sum(1 for t in trials if t[1] > reference), len(trials)))
    return out


def negative_transfer_sentence(c: Collected) -> str:
    """When transfer was slower than scratch, in one sentence computed from the trials (empty without data)."""
    slower, faster = [], []
    for n, by_method in c.transfer.initial.items():
        scratch = [steps for _, steps, _ in by_method.get("scratch", [])]
        if not scratch:
            continue
        reference = sum(scratch) / len(scratch)
        for method, trials in by_method.items():
            if method != "scratch":
                for success, steps, _ in trials:
                    (slower if steps > reference else faster).append(success)
    if not slower and not faster:
        return ""
    total = len(slower) + len(faster)
    text = f"{len(slower)} of {total} transferred trials were slower than scratch's mean at their grid size"
    if slower and faster:
        text += (f"; their initial policies reached the goal from {100 * sum(slower) / len(slower):.0f}% of starts "
                 f"on average, against {100 * sum(faster) / len(faster):.0f}% for the faster ones")
    return text + "."


def negative_transfer_table(c: Collected) -> Table:
    """Negative transfer: how often each method's fine-tuning was slower than training from scratch."""
    rows = [[f"{n}x{n}", method, f"{100 * success:.0f}%", f"{slower} / {trials}"]
            for n, method, success, slower, trials in negative_transfer_rows(c)]
    resolutions = sorted({r for r in c.transfer.resolution.values() if r})
    clock = (f" Steps to convergence are resolved to {', '.join(f'{r:,}' for r in resolutions)} env steps."
             if resolutions else "")
    return Table(title="CLIP-RL: negative transfer (slower than scratch)", section="clip",
                 note=("Initial success: the initial policy's greedy success rate from every start cell, before "
                       "fine-tuning. Slower: trials whose steps to convergence exceed the mean of scratch at the "
                       f"same grid size. {negative_transfer_sentence(c)}{clock}"),
                 header=["grid", "method", "initial success (mean)", "slower than scratch"], rows=rows)


def library_size_table(c: Collected) -> Table | None:
    """Transfer vs the number of sources K (the library-size study), per naming regime; None when it did not run."""
    study = c.library_size
    if study is None:
        return None
    rows = []
    for regime, by_k in study.summary.items():
        for k in sorted(by_k):
            cells = []
            for method in LIBRARY_SIZE_METHODS:
                s = by_k[k].get(method)
                cells.append("-" if s is None else
                             f"{_f(s.mean)} {_ci(s.ci95)}" + (f" ({s.censored} cens.)" if s.censored else ""))
            ratio = study.ratios.get(regime, {}).get(k)
            rows.append([regime, str(k), *cells, "-" if ratio is None else f"{_f(ratio.ratio, 2)} {_ci(ratio.ci95, 2)}"])
    n = study.grid_size
    resolution = f", resolved to {study.step_resolution:,} env steps" if study.step_resolution else ""
    return Table(title=f"CLIP-RL: transfer vs the number of sources K ({n}x{n}, generated suite)", section="clip",
                 note=(f"Mean env steps to convergence [95% CI] over {len(study.target_names.get('honest', []))} "
                       f"held-out targets x {study.trials} trials{resolution}; K sources drawn per trial from a "
                       f"pool of {len(study.pool)}. honest: target names describe their cells; trap: a target's "
                       "column is named from the wrong side (the paper's 'top left third'). scratch and uniform do "
                       "not read names and are shared by both regimes. Made by benchmarks/library_size_study.py."),
                 header=["names", "K", *LIBRARY_SIZE_METHODS, "clip/language [95% CI]"], rows=rows)


def ratio_table(c: Collected) -> Table:
    """The clip/language ratio per grid size beside the paper's claim (about 0.5 on average)."""
    rows = []
    for r in sorted(c.transfer.ratios, key=lambda r: r.grid_size):
        n = r.grid_size
        rows.append([f"{n}x{n}", _f(r.ratio, 3), _ci(r.ci95, 3), _saving(r.ratio),
                     "~0.5 (about 50% fewer steps; per-size values not given)" if n in PAPER_GRID_SIZES else
                     "not in the paper"])
    return Table(title="CLIP-RL: clip/language ratio vs the paper", section="clip", note=CLIP_RL_PAPER,
                 header=["grid", "ratio (ours)", "95% CI", "clip vs language (ours)", "paper"], rows=rows)


def base_table(c: Collected) -> Table:
    """One row per base policy: converged or not, steps, area under the learning curve. (No wall time: it is run
    metadata, in each policy's run.json, and would make the DVC-hashed report differ between identical runs.)"""
    rows = [[f"{r.grid_size}x{r.grid_size}", r.task, {True: "yes", False: "no"}.get(r.converged, "-"),
             _f(r.env_steps), _f(r.auc, 3)] for r in c.base.rows]
    return Table(title="Base policies", section="clip", note="One PPO policy per grid size and base task.",
                 header=["grid", "instruction", "converged", "env steps", "AUC"], rows=rows)


def align_table(c: Collected) -> Table:
    """Final alignment loss and top-1 retrieval accuracy in both directions per grid size."""
    rows = [[f"{r.grid_size}x{r.grid_size}", _f(r.final_loss, 4), _f(r.top1_text_to_policy, 2),
             _f(r.top1_policy_to_text, 2)] for r in c.align.rows]
    return Table(title="CLIP-RL alignment heads", section="clip", note="",
                 header=["grid", "final loss", "top-1 text->policy", "top-1 policy->text"], rows=rows)


def vlm_label(identity: str | None) -> str:
    """A short name for a VLM identity (``"<model>|<weights>[|sha256:<hex>][|RANDOM][|preprocess:<style>]"``):
    ``LIV (checkpoint sha256:1a2b3c4d5e6f7a8b)``, ``CLIP RN50 (openai)``, ``cliprl-tiny (random)``; ``-`` for none."""
    if not identity:
        return "-"
    parts = identity.split("|")
    model, weights = parts[0], parts[1] if len(parts) > 1 else "?"
    name = "LIV" if model == "liv" else ("CLIP " + model if model != "cliprl-tiny" else model)
    sha = next((p.removeprefix("sha256:") for p in parts[2:] if p.startswith("sha256:")), None)
    if sha:
        what = f"checkpoint sha256:{sha}"
    elif weights.startswith("pretrained:"):
        what = weights.removeprefix("pretrained:")
    else:
        what = weights
    return f"{name} ({what})"


def furl_table(c: Collected) -> Table:
    """FuRL success per task and variant over seeds, beside the paper: Table 1 for LIV runs (and sac), Table 3 for
    CLIP runs; each row names the VLM and checkpoint (hash) that produced it."""
    fu = c.furl
    rows = []
    for r in fu.rows:
        rows.append([r.task, r.variant + _random_label(r.random_vlm), vlm_label(r.vlm), str(r.seeds), _f(r.steps),
                     (f"{_f(r.success_last_mean)} ± {_f(r.success_last_std)}"
                      if r.success_last_mean is not None else "-"),
                     (f"[{_f(r.success_last_min)}, {_f(r.success_last_max)}]"
                      if r.success_last_min is not None else "-"),
                     (f"{_f(r.success_any_mean)} ± {_f(r.success_any_std)}"
                      if r.success_any_mean is not None else "-"),
                     f"{_f(r.paper)} ({r.paper_table})" if r.paper is not None else "n/a"])
    random_any = any(r.random_vlm for r in fu.rows)
    return Table(
        title="FuRL: evaluation success (%) per task and variant, over seeds", section="furl",
        note=("Success at the last step (the paper's measure) and at any step (Meta-World's); mean ± std over "
              "seeds, [min, max] over seeds. Rows with LIV (and sac, which uses no VLM) are compared with the "
              "paper's Table 1, rows with CLIP (any other open_clip model) with its Table 3. " + FURL_PAPER_NOTE
              + " " + FURL_PAPER_TABLE3_NOTE
              + (" Rows marked RANDOM VLM used a VLM with random weights: their VLM rewards are noise and "
                 "their numbers say nothing about FuRL." if random_any else "")),
        header=["task", "variant", "VLM", "seeds", "env steps", "success last (%)", "min-max", "success any (%)",
                "paper (%, 1e6 steps)"],
        rows=rows)


def furl_alignment_table(c: Collected) -> Table:
    """How much of each batch the ranking losses learn from: Eq. 5's kept pairs and Eq. 4's non-zero hinges."""
    rows = [[r.task, r.variant + _random_label(r.random_vlm), vlm_label(r.vlm),
             _f(100 * r.eq5_pairs_kept, 2) if r.eq5_pairs_kept is not None else "-",
             _f(100 * r.eq4_hinge_nonzero, 1) if r.eq4_hinge_nonzero is not None else "-"]
            for r in c.furl.rows if r.eq5_pairs_kept is not None or r.eq4_hinge_nonzero is not None]
    return Table(title="FuRL: what the alignment losses learn from", section="furl",
                 note="Per run, the mean over its updates of: the share of Eq. 5's ordered frame pairs whose goal "
                      "distances differ by more than the margin m' (the pairs the mask keeps), and the share of "
                      "Eq. 4's pairs (pos-neg and pos-pos) whose hinge is not zero; then the mean over seeds. A "
                      "share near 0 means the loss has nothing left to learn from (or, for Eq. 5, that m' is large "
                      "against the spread of the distances).",
                 header=["task", "variant", "VLM", "Eq. 5 pairs kept (%)", "Eq. 4 non-zero hinges (%)"], rows=rows)


def furl_average_table(c: Collected) -> Table:
    """Per variant and paper table, our success averaged over the tasks we ran, beside the paper's averages."""
    fu = c.furl
    rows = []
    for v, table in dict.fromkeys((r.variant, r.paper_table) for r in fu.rows):
        vr = [r for r in fu.rows if r.variant == v and r.paper_table == table and r.success_last_mean is not None]
        if not vr:
            continue
        ours = sum(r.success_last_mean for r in vr) / len(vr)
        paper_same = [r.paper for r in vr if r.paper is not None]
        average = furl_paper_average(v, table)
        rows.append([v + _random_label(any(r.random_vlm for r in vr)), table or "none", str(len(vr)), _f(ours),
                     _f(sum(paper_same) / len(paper_same)) if paper_same else "n/a",
                     _f(average) if average is not None else "n/a"])
    return Table(title="FuRL: average over our tasks vs the paper", section="furl",
                 note="Paper average over all 10 MT10 tasks; 'paper, same tasks' averages the paper's table over "
                      "the tasks we ran (Table 1 for LIV runs and sac, Table 3 for CLIP runs).",
                 header=["variant", "paper table", "tasks", "ours (%)", "paper, same tasks (%)",
                         "paper, MT10 average (%)"],
                 rows=rows)


def build_tables(c: Collected) -> list[Table]:
    """Every table, in the order the report shows them within each section."""
    study = library_size_table(c)
    return [transfer_table(c), ratio_table(c), negative_transfer_table(c), *([study] if study else []),
            base_table(c), align_table(c),
            furl_table(c), furl_average_table(c), furl_alignment_table(c)]


# -------------------------------------------------------------------------------------------- warnings and metrics
def build_warnings(c: Collected) -> list[str]:
    """The labels shown above everything: random-weight VLM runs, censored transfer runs, short FuRL runs."""
    warnings = []
    runs = c.furl.runs
    random_runs = [f"{r.task}/{r.variant}/{r.seed}" for r in runs if r.random_vlm]
    if random_runs:
        warnings.append(f"{len(random_runs)} FuRL run(s) used a VLM with RANDOM weights ({', '.join(random_runs)}): "
                        "their VLM rewards are noise; their success numbers test the plumbing, not FuRL.")
    censored = sum(r.censored or 0 for r in c.transfer.rows)
    if censored:
        plateaued = sum(r.plateaued or 0 for r in c.transfer.rows)
        split = (f" {plateaued} of them reached success 1.0 from every start and sat just above the path rule "
                 "(plateaued near the optimum), the rest never succeeded from every start." if plateaued else "")
        warnings.append(f"{censored} transfer run(s) hit the step budget (censored); they are counted at the "
                        f"budget, which understates their true steps to convergence.{split}")
    short = [r.steps for r in runs if r.steps is not None and r.steps < 1e6]
    if short:
        warnings.append(f"{len(short)} FuRL run(s) stopped after at most {int(max(short)):,} env steps (paper: "
                        "1,000,000): far too short to compare with the paper's Table 1.")
    return warnings
