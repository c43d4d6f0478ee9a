"""The report's first screen: one answer per question the papers raise, computed from the collected runs.

Each :class:`Verdict` states the measured quantity with its 95% interval, the paper's claim beside it, a one-line
reading of the interval against that claim, and whether the runs behind it are evidence: a question answered by
fewer runs than the paper used (10 fine-tuning trials for CLIP-RL, 5 seeds for FuRL), or by FuRL runs with a
random-weight VLM or far fewer steps than the paper's, is marked "smoke scale: not evidence". Fewer than
:data:`MIN_FOR_INTERVAL` runs get no interval at all (a bootstrap over two values says nothing).

Questions, in order:

* CLIP-RL (Algorithm 2) against Algorithm 1 (language-only transfer), per grid size: the paired clip/language ratio
  of steps to convergence (the paper: about 0.5);
* library size: the same ratio at the largest and smallest number of sources K, per naming regime;
* the colour x shape mechanism (the paper's Figure 1): how much more weight CLIP-RL puts than Algorithm 1 on the
  sources that share the useful attribute with the target;
* FuRL against SAC, per Meta-World task where both ran: success at the last step (the paper's Table 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..stats import bootstrap_ci
from .paper import CLIP_RL_PAPER_RATIO, furl_paper_success

MIN_FOR_INTERVAL = 3     # fewer runs than this: the point estimate only
CLIP_RL_PAPER_TRIALS = 10  # the CLIP-RL paper's trials per method and grid size
FURL_PAPER_SEEDS = 5       # the FuRL paper's seeds per task and variant
FURL_PAPER_STEPS = 1_000_000
MECHANISM_MIN_RUNS = 6     # colour x shape: both layouts x three targets (the weights do not depend on trials)
EVIDENCE = "evidence"
NOT_EVIDENCE = "smoke scale: not evidence"


@dataclass(frozen=True)
class Verdict:
    """One answer: ``question`` (short), ``ours`` (the estimate with its interval, or why there is none),
    ``paper`` (the paper's claim), ``reading`` (the interval read against the claim), ``n`` (runs behind it) and
    ``status`` (:data:`EVIDENCE` or a "...: not evidence" label)."""

    group: str
    question: str
    ours: str
    paper: str
    reading: str
    n: int
    status: str
    key: str = ""                # its key in metrics/answers.json ("8x8", "K32", "cs_shift", "furl-sac.<task>")
    value: float | None = None   # the estimate itself, for the metrics

    @property
    def is_evidence(self) -> bool:
        return self.status == EVIDENCE


# ----------------------------------------------------------------------------------------------------- small pieces
def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "inf" if x is not None and x > 0 else "-"
    return f"{x:,.{digits}f}"


def estimate_text(value: float | None, ci: Sequence[float | None] | None, n: int, digits: int = 2,
                  unit: str = "") -> str:
    """"3.61 [2.80, 4.67]" (n >= 3 and a finite interval) or "3.61 (n = 2: no interval)"."""
    if value is None:
        return "-"
    if n < MIN_FOR_INTERVAL:
        return f"{_fmt(value, digits)}{unit} (n = {n}: no interval)"
    if not ci or ci[0] is None or ci[1] is None:
        return f"{_fmt(value, digits)}{unit} (no interval)"
    return f"{_fmt(value, digits)}{unit} [{_fmt(ci[0], digits)}, {_fmt(ci[1], digits)}]"


def read_ratio(ratio: float | None, ci: Sequence[float | None] | None, n: int,
               claim: float = CLIP_RL_PAPER_RATIO) -> str:
    """A clip/language ratio (lower is better for CLIP-RL) read against the paper's ``claim``.

    With an interval (n >= 3): faster when it lies below 1, slower when above, otherwise no clear difference; and
    whether it contains the claimed value. Without one: the direction of the point estimate, flagged as such.
    """
    if ratio is None:
        return "no estimate"
    if n < MIN_FOR_INTERVAL or not ci or ci[0] is None or ci[1] is None:
        side = "fewer" if ratio < 1 else "more"
        return f"point estimate only: CLIP-RL took {side} steps than Algorithm 1 in these few runs"
    lo, hi = float(ci[0]), float(ci[1])
    if hi < 1:
        if lo <= claim <= hi:
            return "CLIP-RL faster than Algorithm 1, as much as the paper claims"
        return ("CLIP-RL faster than Algorithm 1, by more than the paper claims" if hi < claim
                else "CLIP-RL faster than Algorithm 1, but by less than the paper's half")
    if lo > 1:
        return "CLIP-RL slower than Algorithm 1: the paper's claim does not reproduce"
    return "no clear difference (the interval contains 1): the paper's claim is not confirmed"


def _status(n: int, needed: int, *, extra: str | None = None) -> str:
    if extra:
        return f"{extra}: not evidence"
    return EVIDENCE if n >= needed else NOT_EVIDENCE


# ---------------------------------------------------------------------------------------------------------- CLIP-RL
def clip_rl_verdicts(transfer: Any) -> list[Verdict]:
    """One verdict per grid size with both ``clip`` and ``language`` results (a ``TransferSection``)."""
    out = []
    n_by = {(r.grid_size, r.method): r.n for r in transfer.rows}
    for r in sorted(transfer.ratios, key=lambda r: r.grid_size):
        n = min(n_by.get((r.grid_size, "clip"), 0) or 0, n_by.get((r.grid_size, "language"), 0) or 0)
        g = r.grid_size
        out.append(Verdict(
            group="clip", question=f"CLIP-RL vs Algorithm 1, {g}x{g}: steps to convergence, clip / language",
            ours=estimate_text(r.ratio, r.ci95, n), paper=f"about {CLIP_RL_PAPER_RATIO} (half the steps)",
            reading=read_ratio(r.ratio, r.ci95, n), n=n,
            status=_status(n, CLIP_RL_PAPER_TRIALS), key=f"{g}x{g}", value=r.ratio))
    return out


def library_size_verdicts(study: Any) -> list[Verdict]:
    """Per naming regime: the clip/language ratio at the largest K, with the smallest K's for the trend
    (a ``LibrarySizeResults``)."""
    out = []
    for regime, by_k in study.ratios.items():
        if not by_k:
            continue
        ks = sorted(by_k)
        big, small = ks[-1], ks[0]
        cell = study.summary.get(regime, {}).get(big, {})
        n = min((s.n for m, s in cell.items() if m in ("clip", "language")), default=0)
        r = by_k[big]
        ours = f"K = {big}: {estimate_text(r.ratio, r.ci95, n)}"
        if small != big:
            rs = by_k[small]
            ns = min((s.n for m, s in study.summary.get(regime, {}).get(small, {}).items()
                      if m in ("clip", "language")), default=0)
            ours += f"; K = {small}: {estimate_text(rs.ratio, rs.ci95, ns)}"
        what = "honest target names" if regime == "honest" else (
            "trap names: a target's column named from the wrong side" if regime == "trap" else regime)
        out.append(Verdict(
            group="library", question=f"Library size ({what}): clip / language as the library grows",
            ours=ours, paper=f"about {CLIP_RL_PAPER_RATIO} with 4 sources; library size not varied",
            reading=f"at K = {big}: " + read_ratio(r.ratio, r.ci95, n), n=n,
            status=_status(n, CLIP_RL_PAPER_TRIALS), key=f"K{big}" + ("" if regime == "honest" else f"_{regime}"), value=r.ratio))
    return out


def colour_shape_verdicts(data: Any) -> list[Verdict]:
    """How much more weight clip than language puts on the useful group, over every (layout, target, alignment
    seed) run found (a ``ColourShapeData``); and the steps, clip / language, pooled over those runs."""
    diffs, layouts = [], set()
    for run in data.runs:
        clip, language = run.group_weight("clip"), run.group_weight("language")
        if clip is not None and language is not None:
            diffs.append(clip - language)
            layouts.add(run.layout)
    if not diffs:
        return []
    n = len(diffs)
    mean = float(np.mean(diffs))
    ci = bootstrap_ci(diffs) if n >= MIN_FOR_INTERVAL else None
    more = sum(d > 0 for d in diffs)
    if ci is not None and ci[0] > 0:
        reading = f"CLIP-RL moves weight towards the useful group ({more} of {n} runs), as the paper's Figure 1 says"
    elif ci is not None and ci[1] < 0:
        reading = "CLIP-RL moves weight away from the useful group: the mechanism does not reproduce"
    elif ci is not None:
        reading = "no clear shift towards the useful group"
    else:
        reading = f"point estimate only: clip puts more weight on the useful group in {more} of {n} runs"
    trials = min((s.n for run in data.runs for m, s in run.results.summary.items() if m in ("clip", "language")),
                 default=0)
    out = [Verdict(
        group="colour_shape",
        question="Colour x shape mechanism: weight on the useful group, clip minus language",
        ours=estimate_text(mean, ci, n, digits=3) + f" over {n} (layout, target, alignment seed) runs",
        paper="positive: CLIP-RL weights the sources that share the useful attribute (Figure 1)",
        reading=reading, n=n, status=_status(n, MECHANISM_MIN_RUNS), key="cs_shift", value=mean)]
    # steps: per run, clip mean / language mean; the interval over runs
    ratios = []
    for run in data.runs:
        s = run.results.summary
        if "clip" in s and "language" in s and s["language"].mean > 0:
            ratios.append(s["clip"].mean / s["language"].mean)
    if ratios:
        k = len(ratios)
        rci = bootstrap_ci(ratios) if k >= MIN_FOR_INTERVAL else None
        out.append(Verdict(
            group="colour_shape", question="Colour x shape: steps to convergence, clip / language",
            ours=estimate_text(float(np.mean(ratios)), rci, k) + f" (mean over {k} runs; {trials} trials each)",
            paper=f"about {CLIP_RL_PAPER_RATIO}", reading=read_ratio(float(np.mean(ratios)), rci, k), n=k,
            status=_status(trials, CLIP_RL_PAPER_TRIALS), key="cs_ratio", value=float(np.mean(ratios))))
    return out


# ------------------------------------------------------------------------------------------------------------- FuRL
def furl_verdicts(furl: Any) -> list[Verdict]:
    """Per task with both ``furl`` and ``sac`` runs (a ``FurlSection``): FuRL minus SAC success at the last step,
    in percentage points, with a bootstrap interval over the two sets of seeds."""
    out = []
    by_key: dict[tuple[str, str], list[Any]] = {}
    for r in furl.runs:
        if r.final is not None:
            by_key.setdefault((r.task, r.variant), []).append(r)
    for task in dict.fromkeys(t for t, _ in by_key):
        furl_runs, sac_runs = by_key.get((task, "furl"), []), by_key.get((task, "sac"), [])
        if not furl_runs or not sac_runs:
            continue
        a = [100 * r.final.success_last for r in furl_runs]
        b = [100 * r.final.success_last for r in sac_runs]
        n = min(len(a), len(b))
        diff = float(np.mean(a) - np.mean(b))
        ci = None
        if n >= MIN_FOR_INTERVAL:
            rng = np.random.default_rng(0)
            xa, xb = np.asarray(a), np.asarray(b)
            boots = [rng.choice(xa, len(xa)).mean() - rng.choice(xb, len(xb)).mean() for _ in range(10_000)]
            ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
        pf, ps = furl_paper_success(task, "furl"), furl_paper_success(task, "sac")
        paper = (f"FuRL {pf:.0f}% vs SAC {ps:.0f}% ({pf - ps:+.0f} points)" if pf is not None and ps is not None
                 else "not in the paper's Table 1")
        if ci is None:
            reading = f"point estimate only: FuRL {np.mean(a):.0f}% vs SAC {np.mean(b):.0f}%"
        elif ci[0] > 0:
            reading = "FuRL ahead of SAC"
        elif ci[1] < 0:
            reading = "FuRL behind SAC"
        else:
            reading = "no clear difference (the interval contains 0)"
        random_vlm = any(r.random_vlm for r in furl_runs)
        steps = min((r.steps or 0) for r in furl_runs + sac_runs)
        extra = ("random-weight VLM" if random_vlm
                 else f"{steps:,} of the paper's {FURL_PAPER_STEPS:,} steps" if steps < FURL_PAPER_STEPS else None)
        out.append(Verdict(
            group="furl", question=f"FuRL vs SAC, {task}: success at the last step, FuRL minus SAC",
            ours=estimate_text(diff, ci, n, digits=0, unit=" points") + f" ({n} seed(s))",
            paper=paper, reading=reading, n=n, status=_status(n, FURL_PAPER_SEEDS, extra=extra),
            key=f"furl-sac.{task}", value=diff))
    return out


def answers_metrics(verdicts: Sequence[Verdict]) -> dict[str, float]:
    """The verdicts' estimates as one flat document for ``dvc metrics show``: short keys (``8x8`` ... ``25x25``: the
    clip/language ratio per grid size; ``K32``, ``K32_trap``: the library-size ratio at the largest K; ``cs_shift``,
    ``cs_ratio``: colour x shape; ``furl-sac``: FuRL minus SAC in points, averaged over tasks, since ten MT10 tasks
    would be ten columns) and three significant digits, so the terminal table stays within about 120 columns."""
    out: dict[str, float] = {}
    furl = []
    for v in verdicts:
        if v.value is None or not v.key or not math.isfinite(v.value):
            continue
        if v.key.startswith("furl-sac."):
            furl.append(v.value)
        else:
            out[v.key] = float(f"{v.value:.3g}")
    if furl:
        out["furl-sac"] = float(f"{sum(furl) / len(furl):.3g}")
    return out


def all_verdicts(collected: Any, colour_shape: Any) -> list[Verdict]:
    """Every verdict the collected data allows, in the report's order (empty for a question without runs)."""
    out = clip_rl_verdicts(collected.transfer)
    if collected.library_size is not None:
        out += library_size_verdicts(collected.library_size)
    out += colour_shape_verdicts(colour_shape)
    out += furl_verdicts(collected.furl)
    return out
