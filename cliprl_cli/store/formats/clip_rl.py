"""CLIP-RL's files: base-policy curves and records, alignment metrics, transfer results and curves, the library-size study."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import ArtifactError, atomic_write_json, read_json, read_json_any
from ..runinfo import RunSplit
from .common import Json, _cell, _field, _floats, _is, _items, _number, _object, _pair


# ------------------------------------------------------------------------------------------------ CLIP-RL: base
@dataclass
class CurvePoint:
    """One evaluation of a grid-world policy: greedy success from every start cell, after ``env_steps`` steps.

    ``path_ratio`` is the mean greedy path length over the shortest one, None (JSON ``null``) before any start
    succeeds (older files hold the non-JSON ``Infinity`` there, which still reads, as ``inf``);
    ``wall_s`` (seconds since the run started) is run metadata: never written into a curve file (it goes to
    ``run.json``, :data:`RUN_KEYS`), still read from older files that hold them.
    """

    env_steps: int
    success_rate: float
    path_ratio: float | None = None
    wall_s: float | None = None
    entropy: float | None = None  # fine-tuning: the policy's mean entropy (nats) on the target's start states

    def to_json(self) -> Json:
        doc: Json = {"env_steps": self.env_steps, "success_rate": self.success_rate}
        if self.path_ratio is not None:
            doc["path_ratio"] = self.path_ratio
        if self.entropy is not None:
            doc["entropy"] = self.entropy
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "CurvePoint":
        doc = _object(doc, where)
        return cls(env_steps=int(_field(doc, "env_steps", int, where)),
                   success_rate=_number(doc, "success_rate", where),
                   path_ratio=_number(doc, "path_ratio", where, optional=True),
                   wall_s=_number(doc, "wall_s", where, optional=True),
                   entropy=_number(doc, "entropy", where, optional=True))


def _curve_from_json(doc: Any, where: str) -> list[CurvePoint]:
    if not isinstance(doc, list):
        raise ArtifactError(f"{where}: expected a list of curve points, got {type(doc).__name__}")
    return [CurvePoint.from_json(p, f"{where}[{i}]") for i, p in enumerate(doc)]


@dataclass
class BaseCurve(RunSplit):
    """``base/N/<task>/curve.json``: a base policy's learning curve, one point per evaluation (a DVC data plot).
    Each point's ``wall_s`` goes to ``run.json`` (``to_json()`` leaves it out)."""

    points: list[CurvePoint]

    def _full_json(self) -> list[Json]:
        # every base point has a path_ratio: null (not omitted) while no start has reached the goal
        return [{"env_steps": p.env_steps, "success_rate": p.success_rate, "path_ratio": p.path_ratio,
                 **({"wall_s": p.wall_s} if p.wall_s is not None else {})} for p in self.points]

    @classmethod
    def read(cls, path: str | Path) -> "BaseCurve":
        return cls(_curve_from_json(read_json_any(path), str(path)))


@dataclass
class BasePolicyRecord:
    """What a consumer needs from a base policy's sidecar ``policy.json`` (written by ``save_artifact``)."""

    instruction: str
    goal: tuple[int, int]
    converged: bool
    env_steps: int
    wall_time_s: float | None
    auc: float | None

    @classmethod
    def read(cls, path: str | Path) -> "BasePolicyRecord":
        where = str(path)
        doc = read_json(path, what="base policy sidecar")
        metrics = _object(_field(doc, "metrics", dict, where), f"{where}: metrics")
        return cls(instruction=_field(doc, "instruction", str, where), goal=_cell(doc, "goal", where),
                   converged=bool(_field(metrics, "converged", bool, f"{where}: metrics")),
                   env_steps=int(_field(metrics, "env_steps", int, f"{where}: metrics")),
                   wall_time_s=_number(metrics, "wall_time_s", f"{where}: metrics", optional=True),
                   auc=_number(metrics, "auc", f"{where}: metrics", optional=True))


# ------------------------------------------------------------------------------------------------ CLIP-RL: align
@dataclass
class AlignMetrics:
    """``align/N/metrics.json``: the alignment's headline numbers (the sidecar's metrics also hold the loss curve)."""

    final_loss: float
    initial_loss: float
    top1_text_to_policy: float
    top1_policy_to_text: float
    temperature: float
    num_policies: int
    loss_curve: list[float] = field(default_factory=list)

    def to_json(self, *, with_curve: bool = False) -> Json:
        doc: Json = {"final_loss": self.final_loss, "initial_loss": self.initial_loss,
                     "top1_text_to_policy": self.top1_text_to_policy, "top1_policy_to_text": self.top1_policy_to_text,
                     "temperature": self.temperature, "num_policies": self.num_policies}
        if with_curve:
            doc["loss_curve"] = list(self.loss_curve)
        return doc

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "AlignMetrics":
        doc = _object(doc, where)
        curve = _floats(doc, "loss_curve", where, optional=True) or []
        return cls(final_loss=_number(doc, "final_loss", where), initial_loss=_number(doc, "initial_loss", where),
                   top1_text_to_policy=_number(doc, "top1_text_to_policy", where),
                   top1_policy_to_text=_number(doc, "top1_policy_to_text", where),
                   temperature=_number(doc, "temperature", where),
                   num_policies=int(_field(doc, "num_policies", int, where)),
                   loss_curve=curve)

    @classmethod
    def read(cls, path: str | Path) -> "AlignMetrics":
        """The flat ``align/N/metrics.json`` (no loss curve)."""
        return cls.from_json(read_json(path, what="alignment metrics"), str(path))

    @classmethod
    def read_sidecar(cls, path: str | Path) -> "AlignMetrics":
        """The metrics (with the loss curve) from an ``align/N/heads.json`` sidecar."""
        doc = read_json(path, what="alignment heads sidecar")
        return cls.from_json(_field(doc, "metrics", dict, str(path)), f"{path}: metrics")


# ------------------------------------------------------------------------------------------------ CLIP-RL: transfer
@dataclass
class TransferTrial:
    """One fine-tuning run of one method: steps to convergence (the budget when ``censored``).

    ``auc`` is the mean success rate over the fixed horizon ``TransferResults.auc_horizon`` (the same for every
    method; :func:`cliprl_cli.clip_rl.ppo.auc_to_horizon`); files written before that field existed hold a per-run AUC.
    ``initial_success_rate`` is the initial policy's greedy success from every start (step 0 of its curve).
    ``wall_time_s`` is run metadata (``run.json``; None when read from a file that does not hold it).
    """

    method: str
    trial: int
    seed: int
    env_steps: int
    censored: bool
    auc: float
    wall_time_s: float | None
    initial_success_rate: float
    weights: dict[str, float] | None  # source instruction -> its weight in the initial average; None: no average
    weighting_note: str
    steps_to_success: int | None = None    # first check at greedy success 1.0 from every start (no path rule)
    success_censored: bool | None = None   # never at success 1.0 within the budget (then steps_to_success = budget)
    start_temperature: float | None = None  # entropy-matched starts: the temperature the logits were divided by
    start_entropy: float | None = None      # and the start's mean entropy on the start states after it

    def to_json(self) -> Json:
        doc = {"method": self.method, "trial": self.trial, "seed": self.seed, "env_steps": self.env_steps,
               "censored": self.censored, "auc": self.auc, "wall_time_s": self.wall_time_s,
               "initial_success_rate": self.initial_success_rate, "weights": self.weights,
               "weighting_note": self.weighting_note}
        for key in ("steps_to_success", "success_censored", "start_temperature", "start_entropy"):
            if getattr(self, key) is not None:  # absent from older files and from runs without matching
                doc[key] = getattr(self, key)
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "TransferTrial":
        doc = _object(doc, where)
        weights = _field(doc, "weights", dict, where, optional=True)
        for source, w in (weights or {}).items():
            if not _is(w, (int, float)):
                raise ArtifactError(f"{where}: weight of {source!r} should be a number, got {type(w).__name__}")
        return cls(method=_field(doc, "method", str, where), trial=int(_field(doc, "trial", int, where)),
                   seed=int(_field(doc, "seed", int, where)), env_steps=int(_field(doc, "env_steps", int, where)),
                   censored=_field(doc, "censored", bool, where), auc=_number(doc, "auc", where),
                   wall_time_s=_number(doc, "wall_time_s", where, optional=True),
                   initial_success_rate=_number(doc, "initial_success_rate", where),
                   weights=None if weights is None else {k: float(w) for k, w in weights.items()},
                   weighting_note=_field(doc, "weighting_note", str, where),
                   steps_to_success=_field(doc, "steps_to_success", int, where, optional=True),
                   success_censored=_field(doc, "success_censored", bool, where, optional=True),
                   start_temperature=_number(doc, "start_temperature", where, optional=True),
                   start_entropy=_number(doc, "start_entropy", where, optional=True))


@dataclass
class MethodSummary:
    """Steps to convergence of one method over its trials (censored trials count at the budget)."""

    n: int
    censored: int
    mean: float
    median: float
    iqm: float
    std: float
    ci95: tuple[float, float]
    auc_mean: float

    def to_json(self) -> Json:
        return {"n": self.n, "censored": self.censored, "mean": self.mean, "median": self.median, "iqm": self.iqm,
                "std": self.std, "ci95": list(self.ci95), "auc_mean": self.auc_mean}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "MethodSummary":
        doc = _object(doc, where)
        return cls(n=int(_field(doc, "n", int, where)), censored=int(_field(doc, "censored", int, where)),
                   mean=_number(doc, "mean", where), median=_number(doc, "median", where),
                   iqm=_number(doc, "iqm", where), std=_number(doc, "std", where), ci95=_pair(doc, "ci95", where),
                   auc_mean=_number(doc, "auc_mean", where))


@dataclass
class PairedRatio:
    """Mean steps of one method over another's, on trials paired by seed, with a bootstrap 95% interval.

    An infinite value (the denominator's mean was 0 steps, in the data or in a bootstrap resample) is written as
    JSON ``null`` and read back as ``inf`` (older files hold the non-JSON ``Infinity``)."""

    ratio: float
    ci95: tuple[float, float]

    def to_json(self) -> Json:
        return {"ratio": _inf_to_null(self.ratio), "ci95": [_inf_to_null(v) for v in self.ci95]}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "PairedRatio":
        doc = _object(doc, where)
        ci = _field(doc, "ci95", list, where)
        if len(ci) != 2 or any(v is not None and not _is(v, (int, float)) for v in ci):
            raise ArtifactError(f"{where}: field 'ci95' should be a pair of numbers (or null), got {ci!r}")
        ratio = _number(doc, "ratio", where, optional=True)
        return cls(ratio=math.inf if ratio is None else ratio,
                   ci95=tuple(math.inf if v is None else float(v) for v in ci))


def _inf_to_null(value: float) -> float | None:
    """An infinite float as None (JSON ``null``): strict JSON has no infinity. NaN stays, and is refused on write."""
    return None if isinstance(value, float) and math.isinf(value) else value


@dataclass
class TransferResults(RunSplit):
    """``transfer/N/results.json``: every trial of every method, their summaries and the clip/language ratio.
    The wall times (the run's and each trial's) go to ``run.json``; ``to_json()`` leaves them out."""

    grid_size: int
    target: str
    goal: tuple[int, int]
    budget: int
    config: Json
    similarities: dict[str, dict[str, float] | None]
    trials: list[TransferTrial]
    summary: dict[str, MethodSummary]
    wall_time_s: float | None
    ratio_clip_language: PairedRatio | None = None
    step_resolution: int | None = None  # env steps between two convergence checks (one PPO iteration)
    auc_horizon: int | None = None      # env steps over which every trial's ``auc`` is taken
    sources: list[str] | None = None    # the source instructions of the library used
    # steps to greedy success 1.0 from every start (no path rule), per method: the second criterion
    success_summary: dict[str, MethodSummary] | None = None

    def _full_json(self) -> Json:
        doc: Json = {"grid_size": self.grid_size, "target": self.target, "goal": list(self.goal),
                     "budget": self.budget, "config": self.config, "similarities": self.similarities,
                     "trials": [t.to_json() for t in self.trials],
                     "summary": {m: s.to_json() for m, s in self.summary.items()}, "wall_time_s": self.wall_time_s}
        for key in ("step_resolution", "auc_horizon", "sources"):
            if getattr(self, key) is not None:
                doc[key] = getattr(self, key)
        if self.ratio_clip_language is not None:
            doc["ratio_clip_language"] = self.ratio_clip_language.to_json()
        if self.success_summary is not None:
            doc["success_summary"] = {m: s.to_json() for m, s in self.success_summary.items()}
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "TransferResults":
        doc = _object(doc, where)
        sims = _field(doc, "similarities", dict, where)
        summary = _field(doc, "summary", dict, where)
        success = _field(doc, "success_summary", dict, where, optional=True)
        ratio = _field(doc, "ratio_clip_language", dict, where, optional=True)
        return cls(grid_size=int(_field(doc, "grid_size", int, where)), target=_field(doc, "target", str, where),
                   goal=_cell(doc, "goal", where), budget=int(_field(doc, "budget", int, where)),
                   config=_field(doc, "config", dict, where),
                   similarities={k: v for k, v in sims.items()},
                   trials=[TransferTrial.from_json(t, f"{where}: trials[{i}]")
                           for i, t in enumerate(_field(doc, "trials", list, where))],
                   summary={m: MethodSummary.from_json(s, f"{where}: summary.{m}") for m, s in summary.items()},
                   wall_time_s=_number(doc, "wall_time_s", where, optional=True),
                   ratio_clip_language=None if ratio is None else PairedRatio.from_json(ratio,
                                                                                          f"{where}: ratio"),
                   step_resolution=_field(doc, "step_resolution", int, where, optional=True),
                   auc_horizon=_field(doc, "auc_horizon", int, where, optional=True),
                   sources=_items(doc, "sources", str, where, optional=True),
                   success_summary=None if success is None else {
                       m: MethodSummary.from_json(s, f"{where}: success_summary.{m}") for m, s in success.items()})

    @classmethod
    def read(cls, path: str | Path) -> "TransferResults":
        return cls.from_json(read_json(path, what="transfer results"), str(path))


@dataclass
class TransferCurves:
    """``transfer/N/curves.json``: method -> one learning curve per trial (None for a trial not run)."""

    curves: dict[str, list[list[CurvePoint] | None]]

    def to_json(self) -> Json:
        return {m: [None if c is None else [p.to_json() for p in c] for c in trials]
                for m, trials in self.curves.items()}

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "TransferCurves":
        doc = _object(doc, where)
        out: dict[str, list[list[CurvePoint] | None]] = {}
        for method, trials in doc.items():
            if not isinstance(trials, list):
                raise ArtifactError(f"{where}: {method!r} should be a list of curves")
            out[method] = [None if c is None else _curve_from_json(c, f"{where}: {method}[{i}]")
                           for i, c in enumerate(trials)]
        return cls(out)

    @classmethod
    def read(cls, path: str | Path) -> "TransferCurves":
        return cls.from_json(read_json(path, what="transfer curves"), str(path))


# ------------------------------------------------------------------------------------------------ CLIP-RL: library size
LIBRARY_SIZE_METHODS = ("scratch", "uniform", "language", "clip")


@dataclass
class LibrarySizeResults(RunSplit):
    """``library_size/results.json`` (``benchmarks/library_size_study.py``): transfer vs the number K of sources.

    ``summary[regime][K][method]`` summarises steps to convergence over every (target, trial) of that cell;
    ``ratios[regime][K]`` is the paired clip/language ratio. ``regime`` is ``honest`` (target names describe their
    cells) or ``trap`` (a target's column named from the wrong side). ``rows`` keeps every run as written.
    """

    grid_size: int
    ks: list[int]
    trials: int
    step_resolution: int | None
    pool: list[str]
    target_names: dict[str, list[str]]
    summary: dict[str, dict[int, dict[str, MethodSummary]]]
    ratios: dict[str, dict[int, PairedRatio]]
    rows: list[Json]
    wall_time_s: float | None  # run metadata: run.json beside the file, not in it

    def _full_json(self) -> Json:
        return {"grid_size": self.grid_size, "ks": list(self.ks), "trials": self.trials,
                "step_resolution": self.step_resolution, "pool": list(self.pool), "target_names": self.target_names,
                "summary": {r: {str(k): {m: s.to_json() for m, s in per.items()} for k, per in by_k.items()}
                            for r, by_k in self.summary.items()},
                "ratios": {r: {str(k): v.to_json() for k, v in by_k.items()} for r, by_k in self.ratios.items()},
                "rows": self.rows, "wall_time_s": self.wall_time_s}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "LibrarySizeResults":
        doc = _object(doc, where)
        summary: dict[str, dict[int, dict[str, MethodSummary]]] = {}
        for regime, by_k in _field(doc, "summary", dict, where).items():
            by_k = _object(by_k, f"{where}: summary.{regime}")
            summary[regime] = {}
            for k, per in by_k.items():
                if not k.isdigit():
                    raise ArtifactError(f"{where}: summary.{regime} key {k!r} should be a number of sources")
                per = _object(per, f"{where}: summary.{regime}.{k}")
                summary[regime][int(k)] = {m: MethodSummary.from_json(s, f"{where}: summary.{regime}.{k}.{m}")
                                           for m, s in per.items()}
        ratios: dict[str, dict[int, PairedRatio]] = {}
        for regime, by_k in _field(doc, "ratios", dict, where).items():
            by_k = _object(by_k, f"{where}: ratios.{regime}")
            ratios[regime] = {int(k): PairedRatio.from_json(v, f"{where}: ratios.{regime}.{k}")
                              for k, v in by_k.items() if k.isdigit()}
        names = _field(doc, "target_names", dict, where)
        return cls(grid_size=int(_field(doc, "grid_size", int, where)),
                   ks=[int(k) for k in _items(doc, "ks", int, where)], trials=int(_field(doc, "trials", int, where)),
                   step_resolution=_field(doc, "step_resolution", int, where, optional=True),
                   pool=_items(doc, "pool", str, where),
                   target_names={r: _items(names, r, str, f"{where}: target_names") for r in names},
                   summary=summary, ratios=ratios, rows=_items(doc, "rows", dict, where),
                   wall_time_s=_number(doc, "wall_time_s", where, optional=True))

    @classmethod
    def read(cls, path: str | Path) -> "LibrarySizeResults":
        return cls.from_json(read_json(path, what="library-size study results"), str(path))
