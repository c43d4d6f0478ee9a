"""Read the pipeline's artifacts into the typed inputs the report's tables and plots need.

Two layers:

* **Readers**, one per artifact kind (``read_base_policy``, ``read_base_curve``, ``read_align_heads``,
  ``read_align_metrics``, ``read_transfer_results``, ``read_transfer_curves``, ``read_furl_curve``,
  ``read_furl_summary``, ``read_furl_expert``, ``read_furl_config``). Each opens one file, validates every field
  the report uses (a field of the wrong type or a non-finite number becomes None) and returns a small dataclass,
  or raises :class:`Malformed` for a file it cannot use at all. Nothing downstream re-checks a field.
* **Collectors** (``collect_base``, ``collect_align``, ``collect_transfer``, ``collect_furl``, and
  :func:`collect` for all four) walk ``ARTIFACTS/{base,align,transfer,furl}``, call the readers, derive what each
  report section needs (per-method summaries, seed averages) and record every missing or unusable file, with the
  DVC stage that makes it, in :class:`Log` instead of raising: a partial pipeline still gets a report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
import yaml

from ..errors import CliprlError
from ..stats import summarize
from .paper import furl_paper_success

T = TypeVar("T")
Pair = tuple[float | None, float | None]


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


# ------------------------------------------------------------------------------------------------- field validation
def num(value: Any) -> float | None:
    """A finite float, or None (for missing, boolean, non-numeric, NaN or infinite values)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _int(value: Any) -> int | None:
    """An int (not a bool), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _pair(value: Any) -> Pair | None:
    """A two-number interval ``[lo, hi]`` (either end None when not a finite number), or None when not a pair."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (num(value[0]), num(value[1]))
    return None


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else an empty one (an absent or mistyped section reads as empty)."""
    return value if isinstance(value, dict) else {}


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


# ----------------------------------------------------------------------------------------------------------- readers
class Malformed(ValueError):
    """A file that exists but cannot be used; the message completes the sentence "<what>: <path> ..."."""


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Malformed(f"is unreadable ({exc.__class__.__name__})") from None


def _load_object(path: Path) -> dict[str, Any]:
    doc = _load(path)
    if not isinstance(doc, dict):
        raise Malformed("is not a JSON object")
    return doc


@dataclass(frozen=True)
class CurvePoint:
    """One point of a grid-world learning curve (base training or fine-tuning)."""

    env_steps: float | None
    success_rate: float | None


def _curve_points(value: Any) -> list[CurvePoint]:
    points = value if isinstance(value, list) else []
    return [CurvePoint(num(p.get("env_steps")), num(p.get("success_rate"))) for p in points if isinstance(p, dict)]


@dataclass(frozen=True)
class BasePolicyInfo:
    """What the report uses of a base policy's sidecar (``policy.json``, written by ``cliprl train-base``)."""

    instruction: str | None
    converged: bool | None
    env_steps: float | None
    wall_time_s: float | None
    auc: float | None


def read_base_policy(path: Path) -> BasePolicyInfo:
    """Read ``base/{N}/{slug}/policy.json``: the instruction and the training metrics."""
    doc = _load_object(path)
    m = _dict(doc.get("metrics"))
    instruction = doc.get("instruction")
    converged = m.get("converged")
    return BasePolicyInfo(instruction=instruction if isinstance(instruction, str) else None,
                          converged=converged if isinstance(converged, bool) else None,
                          env_steps=num(m.get("env_steps")), wall_time_s=num(m.get("wall_time_s")),
                          auc=num(m.get("auc")))


def read_base_curve(path: Path) -> list[CurvePoint]:
    """Read ``base/{N}/{slug}/curve.json``: a list of {env_steps, success_rate, ...} points."""
    doc = _load(path)
    if not isinstance(doc, list):
        raise Malformed("is not a list of curve points")
    return _curve_points(doc)


@dataclass(frozen=True)
class AlignMetrics:
    """The alignment metrics the report shows (``cliprl align``)."""

    final_loss: float | None
    top1_text_to_policy: float | None
    top1_policy_to_text: float | None
    loss_curve: list[float] | None  # per-epoch loss, None when not recorded


def _align_metrics(m: dict[str, Any]) -> AlignMetrics:
    lc = m.get("loss_curve")
    curve = [v for v in (num(x) for x in lc) if v is not None] if isinstance(lc, list) and lc else None
    return AlignMetrics(num(m.get("final_loss")), num(m.get("top1_text_to_policy")),
                        num(m.get("top1_policy_to_text")), curve)


@dataclass(frozen=True)
class AlignHeads:
    """What the report uses of ``align/{N}/heads.json``: its metrics, None when the sidecar carries none."""

    metrics: AlignMetrics | None


def read_align_heads(path: Path) -> AlignHeads:
    """Read the metrics inside ``align/{N}/heads.json`` (an empty metrics section counts as none)."""
    m = _dict(_load_object(path).get("metrics"))
    return AlignHeads(_align_metrics(m) if m else None)


def read_align_metrics(path: Path) -> AlignMetrics:
    """Read ``align/{N}/metrics.json`` (the flat metrics file DVC shows), the fallback for a sidecar without any."""
    return _align_metrics(_load_object(path))


@dataclass(frozen=True)
class TrialRecord:
    """One transfer trial: its method, steps to convergence (the budget when censored) and whether it was."""

    method: str
    env_steps: float | None
    censored: bool


@dataclass(frozen=True)
class MethodSummary:
    """Steps to convergence of one method over its trials (censored trials counted at the budget)."""

    n: int | None
    censored: int | None
    mean: float | None
    median: float | None
    iqm: float | None
    ci95: Pair | None


@dataclass(frozen=True)
class RatioSummary:
    """clip mean steps / language mean steps with its interval (None when not computed)."""

    ratio: float
    ci95: Pair | None


@dataclass(frozen=True)
class TransferResults:
    """What the report uses of ``transfer/{N}/results.json`` (``cliprl transfer``)."""

    budget: float | None
    trials: list[TrialRecord]
    summary: dict[str, MethodSummary]  # per method, as written; methods without one are recomputed from trials
    ratio: RatioSummary | None


def _method_summary(s: dict[str, Any]) -> MethodSummary:
    return MethodSummary(n=_int(s.get("n")), censored=_int(s.get("censored")), mean=num(s.get("mean")),
                         median=num(s.get("median")), iqm=num(s.get("iqm")), ci95=_pair(s.get("ci95")))


def read_transfer_results(path: Path) -> TransferResults:
    """Read ``transfer/{N}/results.json``: the trials, the per-method summary and the clip/language ratio."""
    doc = _load_object(path)
    trials = [TrialRecord(str(t["method"]), num(t.get("env_steps")), bool(t.get("censored")))
              for t in doc.get("trials") or [] if isinstance(t, dict) and "method" in t]
    summary = {str(k): _method_summary(v) for k, v in _dict(doc.get("summary")).items() if isinstance(v, dict) and v}
    r = _dict(doc.get("ratio_clip_language"))
    ratio = num(r.get("ratio"))
    return TransferResults(budget=num(doc.get("budget")), trials=trials, summary=summary,
                           ratio=RatioSummary(ratio, _pair(r.get("ci95"))) if ratio is not None else None)


def read_transfer_curves(path: Path) -> dict[str, list[list[CurvePoint]]]:
    """Read ``transfer/{N}/curves.json``: per method, one fine-tuning curve per trial (trial order kept)."""
    doc = _load_object(path)
    return {str(m): [_curve_points(c) for c in trials] for m, trials in doc.items() if isinstance(trials, list)}


@dataclass(frozen=True)
class FurlPoint:
    """One FuRL evaluation: env steps so far and the success rates (fractions) at the last and at any step."""

    step: float | None
    success_last: float | None
    success_any: float | None


def _furl_point(p: dict[str, Any]) -> FurlPoint:
    return FurlPoint(num(p.get("step")), num(p.get("success_last")), num(p.get("success_any")))


def _random_vlm(doc: dict[str, Any]) -> bool:
    return bool(doc.get("vlm_random_weights"))


@dataclass(frozen=True)
class FurlCurve:
    """``furl/{task}/{variant}/seed{S}/curve.json``: the evaluation points and whether the VLM was random."""

    points: list[FurlPoint]
    random_vlm: bool


def read_furl_curve(path: Path) -> FurlCurve:
    """Read a FuRL curve: ``{"curve": [points], ...}`` (or a bare list); anything else has no points."""
    doc = _load(path)
    points = doc.get("curve") if isinstance(doc, dict) else doc
    points = points if isinstance(points, list) else []
    return FurlCurve([_furl_point(p) for p in points if isinstance(p, dict)],
                     _random_vlm(doc) if isinstance(doc, dict) else False)


@dataclass(frozen=True)
class FurlSummary:
    """``summary.json`` of a finished FuRL run: the final evaluation, the step count, the random-VLM flag."""

    final: FurlPoint | None
    steps: float | None
    random_vlm: bool


def read_furl_summary(path: Path) -> FurlSummary:
    """Read a FuRL run's ``summary.json``."""
    doc = _load_object(path)
    final = _dict(doc.get("final"))
    return FurlSummary(_furl_point(final) if final else None, num(doc.get("steps")), _random_vlm(doc))


@dataclass(frozen=True)
class ExpertRewards:
    """``expert_rewards.json``: VLM rewards along one scripted-expert trajectory (the FuRL paper's Figure 11)."""

    step: list[Any]
    zero_shot: list[float | None] | None
    aligned: list[float | None] | None
    first_success: float | None
    random_vlm: bool


def read_furl_expert(path: Path) -> ExpertRewards:
    """Read ``expert_rewards.json``; steps default to 1..len(zero_shot) when not recorded."""
    doc = _load_object(path)

    def series(key: str) -> list[float | None] | None:
        vals = doc.get(key)
        return [num(v) for v in vals] if isinstance(vals, list) else None

    zero_shot = series("zero_shot")
    step = doc.get("step") or list(range(1, len(zero_shot or []) + 1))
    return ExpertRewards(step=step if isinstance(step, list) else [], zero_shot=zero_shot, aligned=series("aligned"),
                         first_success=num(doc.get("first_success")), random_vlm=_random_vlm(doc))


@dataclass(frozen=True)
class FurlConfigInfo:
    """What the report uses of a FuRL run's ``config.json``: whether the VLM had random weights."""

    random_vlm: bool


def read_furl_config(path: Path) -> FurlConfigInfo:
    """Read a FuRL run's ``config.json``."""
    return FurlConfigInfo(_random_vlm(_load_object(path)))


# --------------------------------------------------------------------------------------------------------------- log
@dataclass
class Log:
    """Missing or unusable artifacts (each naming the file and the stage that makes it) and other notes."""

    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def read(self, reader: Callable[[Path], T], path: Path, what: str, stage: str | None = None, *,
             required: bool = True) -> T | None:
        """``reader(path)``, or None when the file is absent (recorded when ``required``) or malformed (recorded)."""
        where = f" (stage {stage})" if stage else ""
        if not path.is_file():
            if required:
                self.missing.append(f"{what}: {path} not found{where}")
            return None
        try:
            return reader(path)
        except Malformed as exc:
            self.missing.append(f"{what}: {path} {exc}{where}")
            return None


# -------------------------------------------------------------------------------------------------- section inputs
@dataclass(frozen=True)
class BaseRow:
    grid_size: int
    task: str  # the instruction
    slug: str
    converged: bool | None
    env_steps: float | None
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
    final_loss: float | None
    top1_text_to_policy: float | None
    top1_policy_to_text: float | None


@dataclass(frozen=True)
class AlignSection:
    rows: list[AlignRow]
    loss_curves: dict[int, list[float]]


@dataclass(frozen=True)
class TransferRow:
    """One method at one grid size: steps to convergence over its trials."""

    grid_size: int
    method: str
    n: int | None
    censored: int | None
    mean: float | None
    median: float | None
    iqm: float | None
    ci95: Pair | None
    budget: float | None


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
    steps: float | None


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
            info = log.read(read_base_policy, d / "policy.json", "base policy", stage)
            curve = log.read(read_base_curve, d / "curve.json", "base learning curve", stage, required=info is not None)
            if info is None:
                continue
            instruction = info.instruction if info.instruction is not None else task
            rows.append(BaseRow(n, instruction, task, info.converged, info.env_steps, info.wall_time_s, info.auc))
            if curve is not None:
                curves.setdefault(n, {})[instruction] = curve
    return BaseSection(rows, curves, sizes)


def collect_align(root: Path, sizes: list[int], log: Log) -> AlignSection:
    """Alignment heads for the given grid sizes and any found under ``root/align``."""
    align = root / "align"
    sizes = sorted_sizes([*sizes, *[p.name for p in _subdirs(align)]])
    rows, loss_curves = [], {}
    for n in sizes:
        d = align / str(n)
        heads = log.read(read_align_heads, d / "heads.json", "alignment heads", f"align@{n}")
        if heads is None:
            continue
        m = heads.metrics or log.read(read_align_metrics, d / "metrics.json", "alignment metrics", f"align@{n}",
                                      required=False) or AlignMetrics(None, None, None, None)
        rows.append(AlignRow(n, m.final_loss, m.top1_text_to_policy, m.top1_policy_to_text))
        if m.loss_curve is not None:
            loss_curves[n] = m.loss_curve
    return AlignSection(rows, loss_curves)


def summarise_trials(trials: list[TrialRecord]) -> MethodSummary:
    """One method's summary recomputed from its trials with :func:`cliprl_cli.stats.summarize`.

    Used for methods that ``results.json`` has no summary for. Trials without a step count still count in ``n``.
    """
    steps = [t.env_steps for t in trials if t.env_steps is not None]
    censored = [t.censored for t in trials]
    if not steps:
        return MethodSummary(len(trials), sum(censored), None, None, None, None)
    s = summarize(steps, [t.censored for t in trials if t.env_steps is not None])
    lo, hi = s["ci95"]
    return MethodSummary(len(trials), sum(censored), s["mean"], s["median"], s["iqm"], (lo, hi))


def collect_transfer(root: Path, sizes: list[int], exp: Expected, log: Log) -> TransferSection:
    """Transfer results for the given grid sizes and any found under ``root/transfer``.

    Every expected method gets a row (or a missing line); a method short of the expected trial count is listed as
    incomplete. The clip/language ratio comes from results.json, or from the two means when it has none.
    """
    tdir = root / "transfer"
    sizes = sorted_sizes([*sizes, *[p.name for p in _subdirs(tdir)]])
    rows, ratios, curves, steps = [], [], {}, {}
    for n in sizes:
        path = tdir / str(n) / "results.json"
        res = log.read(read_transfer_results, path, "transfer results", f"transfer@{n}")
        if res is None:
            continue
        by_method: dict[str, list[TrialRecord]] = {}
        for t in res.trials:
            by_method.setdefault(t.method, []).append(t)
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
            rows.append(TransferRow(n, method, s.n, s.censored, s.mean, s.median, s.iqm, s.ci95, res.budget))
            if exp.trials and s.n is not None and s.n < int(exp.trials):
                log.missing.append(f"transfer {n}x{n} {method}: {s.n} of {exp.trials} trials (stage transfer@{n})")
            steps.setdefault(n, {})[method] = [t.env_steps for t in by_method.get(method, [])
                                               if t.env_steps is not None]
        if res.ratio is not None:
            ratios.append(RatioRow(n, res.ratio.ratio, res.ratio.ci95))
        else:
            clip, language = summary_of("clip"), summary_of("language")
            if clip is not None and language is not None and clip.mean is not None and language.mean:
                ratios.append(RatioRow(n, clip.mean / language.mean, None))
        cj = log.read(read_transfer_curves, tdir / str(n) / "curves.json", "transfer curves", f"transfer@{n}",
                      required=False)
        if cj is not None:
            curves[n] = cj
    return TransferSection(rows, ratios, curves, steps)


def _furl_rows(runs: list[FurlRun]) -> list[FurlRow]:
    """One row per (task, variant): success over seeds in percent (mean, population std, min, max)."""
    groups: dict[tuple[str, str], list[FurlRun]] = {}
    for r in runs:
        groups.setdefault((r.task, r.variant), []).append(r)
    rows = []
    for (task, variant), rs in groups.items():
        finals = [r.final for r in rs if r.final is not None]
        last = [f.success_last for f in finals if f.success_last is not None]
        anyv = [f.success_any for f in finals if f.success_any is not None]
        steps = [r.steps for r in rs if r.steps is not None]
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
            paper=furl_paper_success(task, variant),
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
                curve = log.read(read_furl_curve, d / "curve.json", "FuRL curve", stage)
                if curve is None:
                    continue
                summary = log.read(read_furl_summary, d / "summary.json", "FuRL summary", stage, required=False)
                expert = log.read(read_furl_expert, d / "expert_rewards.json", "FuRL expert rewards", stage,
                                  required=False)
                config = log.read(read_furl_config, d / "config.json", "FuRL config", stage, required=False)
                final = summary.final if summary is not None and summary.final is not None else \
                    (curve.points[-1] if curve.points else None)
                if not curve.points:
                    log.missing.append(f"FuRL curve: {d / 'curve.json'} has no evaluation points ({stage})")
                if summary is None and curve.points:
                    log.notes.append(f"{d}: no summary.json (run unfinished?); using the last curve point")
                random_vlm = any(x is not None and x.random_vlm for x in (curve, summary, expert, config))
                steps = (final.step if final is not None else None) or (summary.steps if summary else None)
                runs.append(FurlRun(task, variant, sd, str(d), curve.points, final, expert, random_vlm, steps))
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
    return Collected(base, align, transfer, furl, log)
