"""Read the pipeline's artifacts into the typed inputs the report's tables and plots need.

Every file is read by its one reader in :mod:`cliprl_cli.store.formats` (``BasePolicyRecord.read``, ``BaseCurve.read``,
``AlignMetrics.read_sidecar`` / ``AlignMetrics.read``, ``TransferResults.read``, ``TransferCurves.read``,
``FurlCurve.read``, ``FurlSummary.read``, ``ExpertRewards.read``, ``FurlRunConfig.read``), which checks every field
once; nothing here re-checks one. The collectors (``collect_base``, ``collect_align``, ``collect_transfer``,
``collect_furl``, and :func:`collect` for all four) walk ``ARTIFACTS/{base,align,transfer,furl}``, call those
readers through :meth:`Log.read`, derive what each report section needs (per-method summaries, seed averages) and
record every missing or unusable file, with the DVC stage that makes it and the reader's one-line message, in
:class:`Log` instead of raising: a partial pipeline still gets a report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
import yaml

from ..store.atomic import ArtifactError
from ..errors import CliprlError
from ..store.formats import (AlignMetrics, BaseCurve, BasePolicyRecord, CurvePoint, ExpertRewards, FurlCurve, FurlPoint,
                       FurlRunConfig, FurlSummary, LibrarySizeResults, MethodSummary, TransferCurves,
                       TransferResults, TransferTrial, finite_or_none)
from ..stats import summarize
from .intervals import location_intervals
from .paper import furl_paper_reference, vlm_family

T = TypeVar("T")
Pair = tuple[float | None, float | None]  # an interval for display; an end that is not a finite number is None


# ------------------------------------------------------------------------------------------------- what was expected
def load_params(path: str | Path | None) -> dict[str, Any]:
    """The pipeline's params.yaml as a dict ({} when ``path`` is None). Fails with one line when unreadable."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise CliprlError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CliprlError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CliprlError(f"{path}: expected a mapping at the top level")
    return data


@dataclass(frozen=True)
class Expected:
    """What params.yaml says the pipeline should have produced (all empty without params: report what is found)."""

    sizes: list[int] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)  # base-task slugs
    methods: list[str] = field(default_factory=list)
    trials: int | None = None
    furl_tasks: list[str] = field(default_factory=list)
    furl_variants: list[str] = field(default_factory=list)
    furl_seeds: list[Any] = field(default_factory=list)


def expected_from_params(params: dict[str, Any]) -> Expected:
    """The expectations in ``params`` (train_base, transfer and furl sections); absent sections expect nothing."""
    tb = params.get("train_base") or {}
    tr = params.get("transfer") or {}
    fu = params.get("furl") or {}
    methods = tr.get("methods")
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    return Expected(
        sizes=sorted_sizes(tb.get("grid_sizes") or []),
        tasks=[str(t) for t in tb.get("tasks") or []],
        methods=list(methods or []),
        trials=tr.get("trials"),
        furl_tasks=[str(t) for t in fu.get("tasks") or []],
        furl_variants=[str(v) for v in fu.get("variants") or []],
        furl_seeds=list(fu.get("seeds") or []),
    )


# ------------------------------------------------------------------------------------------------------ helpers
def sorted_sizes(values: Iterable[Any]) -> list[int]:
    """The distinct grid sizes among ``values`` (ints or directory names), ascending; non-numbers are skipped."""
    out = set()
    for v in values:
        try:
            out.add(int(v))
        except (TypeError, ValueError):
            continue
    return sorted(out)


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def _interval(ci: tuple[float, float] | None) -> Pair | None:
    """An interval for display: an end that is not a finite number (an empty bootstrap's NaN) becomes None."""
    return None if ci is None else (finite_or_none(ci[0]), finite_or_none(ci[1]))


# ----------------------------------------------------------------------------------------------------------- readers
def read_furl_summary(path: Path) -> tuple[FurlSummary, FurlPoint | None]:
    """A FuRL run's ``summary.json`` and its final evaluation (None when the run never evaluated)."""
    summary = FurlSummary.read(path)
    return summary, summary.final_point(str(path))


def read_transfer_curves(path: Path) -> dict[str, list[list[CurvePoint]]]:
    """``transfer/{N}/curves.json`` per method, one curve per trial in trial order (a trial not run: no points)."""
    return {m: [c or [] for c in trials] for m, trials in TransferCurves.read(path).curves.items()}


# --------------------------------------------------------------------------------------------------------------- log
@dataclass
class Log:
    """Missing or unusable artifacts (each naming the file and the stage that makes it) and other notes."""

    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def read(self, reader: Callable[[Path], T], path: Path, what: str, stage: str | None = None, *,
             required: bool = True) -> T | None:
        """``reader(path)`` (a :mod:`cliprl_cli.store.formats` reader), or None when the file is absent (recorded when
        ``required``) or malformed (always recorded, with the reader's one-line message)."""
        where = f" (stage {stage})" if stage else ""
        if not path.is_file():
            if required:
                self.missing.append(f"{what}: {path} not found{where}")
            return None
        try:
            return reader(path)
        except ArtifactError as exc:  # its message starts with the path, already named here
            self.missing.append(f"{what}: {path} is unreadable ({str(exc).removeprefix(f'{path}: ')}){where}")
        except OSError as exc:  # e.g. no permission: the formats readers name JSON problems, not the file system
            self.missing.append(f"{what}: {path} is unreadable ({exc.__class__.__name__}: {exc}){where}")
        return None


# -------------------------------------------------------------------------------------------------- section inputs
@dataclass(frozen=True)
class BaseRow:
    grid_size: int
    task: str  # the instruction
    slug: str
    converged: bool
    env_steps: int
    wall_time_s: float | None
    auc: float | None


@dataclass(frozen=True)
class BaseSection:
    """Base policies: one row per (grid size, task) and the learning curves per size and instruction."""

    rows: list[BaseRow]
    curves: dict[int, dict[str, list[CurvePoint]]]
    sizes: list[int]  # every grid size expected or found: the later sections look at these too


@dataclass(frozen=True)
class AlignRow:
    grid_size: int
    final_loss: float
    top1_text_to_policy: float
    top1_policy_to_text: float


@dataclass(frozen=True)
class AlignSection:
    rows: list[AlignRow]
    loss_curves: dict[int, list[float]]


@dataclass(frozen=True)
class TransferRow:
    """One method at one grid size: steps to convergence over its trials (None: not a finite number)."""

    grid_size: int
    method: str
    n: int
    censored: int
    mean: float | None
    median: float | None
    iqm: float | None
    ci95: Pair | None
    budget: int
    # censored trials that reached greedy success 1.0 from every start but not the path rule (plateaued near the
    # optimum), and the mean steps to success 1.0 (the second criterion); None for results that do not record it
    plateaued: int | None = None
    success_mean: float | None = None
    # bootstrap 95% intervals of the median and the IQM, computed here from the per-trial steps (results.json
    # stores the mean's only), and the second criterion's mean interval; None without trials
    median_ci95: Pair | None = None
    iqm_ci95: Pair | None = None
    success_ci95: Pair | None = None


@dataclass(frozen=True)
class RatioRow:
    grid_size: int
    ratio: float
    ci95: Pair | None


@dataclass(frozen=True)
class TransferSection:
    """Transfer results per grid size: summary rows, clip/language ratios, fine-tuning curves and raw trial steps."""

    rows: list[TransferRow]
    ratios: list[RatioRow]
    curves: dict[int, dict[str, list[list[CurvePoint]]]]
    steps: dict[int, dict[str, list[float]]]  # grid size -> method -> steps of each trial (censored ones included)
    coincident: list["Coincidence"] = field(default_factory=list)  # methods that ran the same trials
    # grid size -> method -> (initial policy's success rate from all starts, steps to convergence, censored) per trial
    initial: dict[int, dict[str, list[tuple[float, float, bool]]]] = field(default_factory=dict)
    resolution: dict[int, int | None] = field(default_factory=dict)  # grid size -> step_resolution (None: unknown)


@dataclass
class FurlRun:
    """One FuRL run (task, variant, seed): its curve, final evaluation and expert-trajectory rewards."""

    task: str
    variant: str
    seed: str  # the directory name, "seed{S}"
    dir: str
    curve: list[FurlPoint]
    final: FurlPoint | None
    expert: ExpertRewards | None
    random_vlm: bool
    steps: int | None
    vlm: str | None = None  # the VLM identity from config.json/summary.json (None: sac, or not recorded)
    eq5_pairs_kept: float | None = None  # summary.json's run means (None: stage never ran, or an older file)
    eq4_hinge_nonzero: float | None = None


@dataclass(frozen=True)
class FurlRow:
    """One (task, variant) over its seeds; success in percent."""

    task: str
    variant: str
    seeds: int
    success_last_mean: float | None
    success_last_std: float | None
    success_last_min: float | None
    success_last_max: float | None
    success_any_mean: float | None
    success_any_std: float | None
    steps: int | None
    random_vlm: bool
    paper: float | None
    vlm: str | None = None          # the VLM identity of the row's runs ("; "-joined if they differ)
    paper_table: str | None = None  # "Table 1" (LIV, or no VLM) or "Table 3" (CLIP): where ``paper`` comes from
    eq5_pairs_kept: float | None = None     # mean over seeds of each run's mean kept fraction of Eq. 5's pairs
    eq4_hinge_nonzero: float | None = None  # mean over seeds of each run's mean non-zero-hinge fraction in Eq. 4


@dataclass(frozen=True)
class FurlSection:
    runs: list[FurlRun]
    rows: list[FurlRow]


@dataclass(frozen=True)
class Collected:
    """Everything the report shows, read from one artifacts directory."""

    base: BaseSection
    align: AlignSection
    transfer: TransferSection
    furl: FurlSection
    log: Log
    library_size: LibrarySizeResults | None = None  # ARTIFACTS/library_size/results.json, when the study ran
    # ARTIFACTS/furl-pixels/{task}/{variant}/seed{S}/curve.json: the pixel (DrQ) runs of the paper's Figure 7
    furl_pixels: list[PixelRun] = field(default_factory=list)


@dataclass
class PixelRun:
    """One ``cliprl furl --obs pixels`` run's evaluation curve (the paper's Figure 7)."""

    task: str
    variant: str
    seed: str
    curve: list[FurlPoint]
    random_vlm: bool


def collect_furl_pixels(root: Path, log: Log) -> list[PixelRun]:
    """Every ``root/furl-pixels/{task}/{variant}/seed{S}/curve.json`` (optional: absent until a pixel run exists)."""
    runs = []
    for task_dir in _subdirs(root / "furl-pixels"):
        for variant_dir in _subdirs(task_dir):
            for seed_dir in _subdirs(variant_dir):
                curve = log.read(FurlCurve.read, seed_dir / "curve.json", "FuRL pixel curve", required=False)
                if curve is not None:
                    runs.append(PixelRun(task_dir.name, variant_dir.name, seed_dir.name, curve.curve,
                                         curve.vlm_random_weights))
    return runs


# ------------------------------------------------------------------------------------------------------- collectors
def collect_base(root: Path, exp: Expected, log: Log) -> BaseSection:
    """Base policies expected by params or found under ``root/base``."""
    base = root / "base"
    sizes = sorted_sizes([*exp.sizes, *[p.name for p in _subdirs(base)]])
    rows, curves = [], {}
    for n in sizes:
        tasks = list(dict.fromkeys([*exp.tasks, *[p.name for p in _subdirs(base / str(n))]]))
        for task in tasks:
            d = base / str(n) / task
            stage = f"train_base@{n}-{task}"
            info = log.read(BasePolicyRecord.read, d / "policy.json", "base policy", stage)
            curve = log.read(BaseCurve.read, d / "curve.json", "base learning curve", stage, required=info is not None)
            if info is None:
                continue
            rows.append(BaseRow(n, info.instruction, task, info.converged, info.env_steps, info.wall_time_s, info.auc))
            if curve is not None:
                curves.setdefault(n, {})[info.instruction] = curve.points
    return BaseSection(rows, curves, sizes)


def collect_align(root: Path, sizes: list[int], log: Log) -> AlignSection:
    """Alignment heads for the given grid sizes and any found under ``root/align``.

    The metrics (with the loss curve) come from the ``heads.json`` sidecar; when it is there but unusable, the
    flat ``metrics.json`` beside it still gives the row (without the loss curve).
    """
    align = root / "align"
    sizes = sorted_sizes([*sizes, *[p.name for p in _subdirs(align)]])
    rows, loss_curves = [], {}
    for n in sizes:
        d = align / str(n)
        m = log.read(AlignMetrics.read_sidecar, d / "heads.json", "alignment heads", f"align@{n}")
        if m is None and (d / "heads.json").is_file():
            m = log.read(AlignMetrics.read, d / "metrics.json", "alignment metrics", f"align@{n}", required=False)
        if m is None:
            continue
        rows.append(AlignRow(n, m.final_loss, m.top1_text_to_policy, m.top1_policy_to_text))
        if m.loss_curve:
            loss_curves[n] = m.loss_curve
    return AlignSection(rows, loss_curves)


def summarise_trials(trials: list[TransferTrial]) -> MethodSummary:
    """One method's summary recomputed from its trials with :func:`cliprl_cli.stats.summarize` (the writer's
    statistics), for a method that ``results.json`` has no summary for."""
    s = summarize([t.env_steps for t in trials], [t.censored for t in trials])
    lo, hi = s["ci95"]
    return MethodSummary(n=s["n"], censored=s["censored"], mean=s["mean"], median=s["median"], iqm=s["iqm"],
                         std=s["std"], ci95=(lo, hi), auc_mean=sum(t.auc for t in trials) / len(trials))


@dataclass(frozen=True)
class Coincidence:
    """Two transfer methods that started every trial of one grid size from the same initial policy.

    ``sources`` are the base tasks they put positive weight on (the weights are equal in every paired trial);
    ``identical`` says whether their steps to convergence are also equal in every trial (they are on one machine:
    trial k fine-tunes with the same seed for every method, so the same start gives the same run).
    """

    grid_size: int
    methods: tuple[str, str]
    sources: tuple[str, ...]
    identical: bool


def _paired(a: list[TransferTrial], b: list[TransferTrial]) -> list[tuple[TransferTrial, TransferTrial]]:
    return list(zip(sorted(a, key=lambda t: t.trial), sorted(b, key=lambda t: t.trial)))


def _same_start(a: list[TransferTrial], b: list[TransferTrial]) -> bool:
    """Whether two methods' trials pair up (same trial numbers and seeds) with equal averaging weights."""
    if not a or len(a) != len(b):
        return False
    for ta, tb in _paired(a, b):
        if (ta.trial, ta.seed) != (tb.trial, tb.seed) or ta.weights is None or tb.weights is None:
            return False
        if set(ta.weights) != set(tb.weights) or any(abs(ta.weights[k] - tb.weights[k]) > 1e-12
                                                      for k in ta.weights):
            return False
    return True


def coinciding_methods(n: int, by_method: dict[str, list[TransferTrial]]) -> list[Coincidence]:
    """Every pair of methods whose trials at grid size ``n`` started from the same weighted average of the same
    base policies (scratch has no average and never coincides)."""
    methods = list(by_method)
    out = []
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            if not _same_start(by_method[a], by_method[b]):
                continue
            first = by_method[a][0].weights or {}
            sources = tuple(k for k, w in first.items() if w > 0)
            identical = all(ta.env_steps == tb.env_steps and ta.censored == tb.censored
                            for ta, tb in _paired(by_method[a], by_method[b]))
            out.append(Coincidence(n, (a, b), sources, identical))
    return out


def _transfer_row(n: int, method: str, s: MethodSummary, budget: int, trials: list[TransferTrial],
                  success: MethodSummary | None) -> TransferRow:
    recorded = bool(trials) and all(t.success_censored is not None for t in trials)
    plateaued = sum(t.censored and not t.success_censored for t in trials) if recorded else None
    spread = location_intervals([t.env_steps for t in trials]) if trials else {}
    return TransferRow(n, method, s.n, s.censored, finite_or_none(s.mean), finite_or_none(s.median),
                       finite_or_none(s.iqm), _interval(s.ci95), budget, plateaued,
                       None if success is None else finite_or_none(success.mean),
                       median_ci95=_interval(spread.get("median_ci95")), iqm_ci95=_interval(spread.get("iqm_ci95")),
                       success_ci95=None if success is None else _interval(success.ci95))


def collect_transfer(root: Path, sizes: list[int], exp: Expected, log: Log) -> TransferSection:
    """Transfer results for the given grid sizes and any found under ``root/transfer``.

    Every expected method gets a row (or a missing line); a method short of the expected trial count is listed as
    incomplete. The clip/language ratio comes from results.json, or from the two means when it has none (or a
    NaN one).
    """
    tdir = root / "transfer"
    sizes = sorted_sizes([*sizes, *[p.name for p in _subdirs(tdir)]])
    rows, ratios, curves, steps, initial, resolution = [], [], {}, {}, {}, {}
    coincident: list[Coincidence] = []
    for n in sizes:
        path = tdir / str(n) / "results.json"
        res = log.read(TransferResults.read, path, "transfer results", f"transfer@{n}")
        if res is None:
            continue
        by_method: dict[str, list[TransferTrial]] = {}
        for t in res.trials:
            by_method.setdefault(t.method, []).append(t)
        coincident += coinciding_methods(n, by_method)
        recomputed: dict[str, MethodSummary] = {}

        def summary_of(method: str) -> MethodSummary | None:
            if method in res.summary:
                return res.summary[method]
            if method in by_method and method not in recomputed:
                recomputed[method] = summarise_trials(by_method[method])
            return recomputed.get(method)

        for method in dict.fromkeys([*exp.methods, *res.summary, *by_method]):
            s = summary_of(method)
            if s is None:
                log.missing.append(f"transfer method {method!r}: no trials in {path} (stage transfer@{n})")
                continue
            rows.append(_transfer_row(n, method, s, res.budget, by_method.get(method, []),
                                      (res.success_summary or {}).get(method)))
            if exp.trials and s.n < int(exp.trials):
                log.missing.append(f"transfer {n}x{n} {method}: {s.n} of {exp.trials} trials (stage transfer@{n})")
            steps.setdefault(n, {})[method] = [float(t.env_steps) for t in by_method.get(method, [])]
            initial.setdefault(n, {})[method] = [(t.initial_success_rate, float(t.env_steps), t.censored)
                                                 for t in by_method.get(method, [])]
        resolution[n] = res.step_resolution
        written = res.ratio_clip_language
        if written is not None and finite_or_none(written.ratio) is not None:
            ratios.append(RatioRow(n, written.ratio, _interval(written.ci95)))
        else:
            clip, language = summary_of("clip"), summary_of("language")
            if clip is not None and language is not None and finite_or_none(clip.mean) is not None \
                    and finite_or_none(language.mean):
                ratios.append(RatioRow(n, clip.mean / language.mean, None))
        tc = log.read(read_transfer_curves, tdir / str(n) / "curves.json", "transfer curves", f"transfer@{n}",
                      required=False)
        if tc is not None:
            curves[n] = tc
    return TransferSection(rows, ratios, curves, steps, coincident, initial, resolution)


def _furl_rows(runs: list[FurlRun]) -> list[FurlRow]:
    """One row per (task, variant): success over seeds in percent (mean, population std, min, max)."""
    groups: dict[tuple[str, str], list[FurlRun]] = {}
    for r in runs:
        groups.setdefault((r.task, r.variant), []).append(r)
    rows = []
    for (task, variant), rs in groups.items():
        finals = [r.final for r in rs if r.final is not None]
        last = [f.success_last for f in finals]
        anyv = [f.success_any for f in finals]
        steps = [r.steps for r in rs if r.steps is not None]
        vlms = list(dict.fromkeys(r.vlm for r in rs if r.vlm))
        families = {vlm_family(v) for v in vlms}
        paper, table = furl_paper_reference(task, variant, families.pop() if len(families) == 1 else None)
        kept = [r.eq5_pairs_kept for r in rs if r.eq5_pairs_kept is not None]
        hinge = [r.eq4_hinge_nonzero for r in rs if r.eq4_hinge_nonzero is not None]
        rows.append(FurlRow(
            task=task, variant=variant, seeds=len(rs),
            success_last_mean=100 * float(np.mean(last)) if last else None,
            success_last_std=100 * float(np.std(last)) if last else None,
            success_last_min=100 * float(np.min(last)) if last else None,
            success_last_max=100 * float(np.max(last)) if last else None,
            success_any_mean=100 * float(np.mean(anyv)) if anyv else None,
            success_any_std=100 * float(np.std(anyv)) if anyv else None,
            steps=int(min(steps)) if steps else None,
            random_vlm=any(r.random_vlm for r in rs),
            paper=paper,
            vlm="; ".join(vlms) or None, paper_table=table,
            eq5_pairs_kept=float(np.mean(kept)) if kept else None,
            eq4_hinge_nonzero=float(np.mean(hinge)) if hinge else None,
        ))
    return rows


def collect_furl(root: Path, exp: Expected, log: Log) -> FurlSection:
    """FuRL runs expected by params or found under ``root/furl/{task}/{variant}/seed{S}``, and their seed averages.

    A run without summary.json (unfinished) is reported from its last curve point, with a note. A run counts as
    random-VLM when any of its files says so.
    """
    fdir = root / "furl"
    runs = []
    tasks = list(dict.fromkeys([*exp.furl_tasks, *[p.name for p in _subdirs(fdir)]]))
    for task in tasks:
        variants = list(dict.fromkeys([*exp.furl_variants, *[p.name for p in _subdirs(fdir / task)]]))
        for variant in variants:
            seeds = [f"seed{s}" for s in exp.furl_seeds]
            seeds = list(dict.fromkeys([*seeds, *[p.name for p in _subdirs(fdir / task / variant)]]))
            for sd in seeds:
                d = fdir / task / variant / sd
                stage = f"furl@{task}-{variant}-{sd.removeprefix('seed')}"
                curve = log.read(FurlCurve.read, d / "curve.json", "FuRL curve", stage)
                if curve is None:
                    continue
                summary, final = log.read(read_furl_summary, d / "summary.json", "FuRL summary", stage,
                                          required=False) or (None, None)
                expert = log.read(ExpertRewards.read, d / "expert_rewards.json", "FuRL expert rewards", stage,
                                  required=False)
                config = log.read(FurlRunConfig.read, d / "config.json", "FuRL config", stage, required=False)
                if final is None and curve.curve:
                    final = curve.curve[-1]
                if not curve.curve:
                    log.missing.append(f"FuRL curve: {d / 'curve.json'} has no evaluation points ({stage})")
                if summary is None and curve.curve:
                    log.notes.append(f"{d}: no summary.json (run unfinished?); using the last curve point")
                random_vlm = any(x is not None and x.vlm_random_weights for x in (curve, summary, expert, config))
                steps = (final.step if final is not None else None) or (summary.steps if summary else None)
                vlm = (config.vlm if config is not None else None) or (summary.vlm if summary is not None else None)
                runs.append(FurlRun(task, variant, sd, str(d), curve.curve, final, expert, random_vlm, steps, vlm,
                                    summary.eq5_pairs_kept_mean if summary is not None else None,
                                    summary.eq4_hinge_nonzero_mean if summary is not None else None))
    return FurlSection(runs, _furl_rows(runs))


def collect(root: Path, exp: Expected) -> Collected:
    """Read every section from ``root`` (the artifacts directory); never raises for missing or malformed files."""
    log = Log()
    if not root.is_dir():
        log.missing.append(f"artifacts directory {root} not found: nothing has been run yet (run `dvc repro`)")
    base = collect_base(root, exp, log)
    align = collect_align(root, base.sizes, log)
    transfer = collect_transfer(root, base.sizes, exp, log)
    furl = collect_furl(root, exp, log)
    library_size = log.read(LibrarySizeResults.read, root / "library_size" / "results.json",
                            "library-size study", required=False)
    return Collected(base, align, transfer, furl, log, library_size, collect_furl_pixels(root, log))
