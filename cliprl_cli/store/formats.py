"""The JSON formats of cliprl's artifacts: one typed dataclass per file kind, one writer, one reader.

Every JSON file a command writes beside its tensors, and every JSON file the report reads, is defined here. A
writer builds the dataclass and calls ``write(path)`` (atomic, through :mod:`cliprl_cli.store.artifacts`); a reader
calls ``read(path)``, which checks the fields once and raises :class:`~cliprl_cli.store.artifacts.ArtifactError` with a
one-line message naming the file and the field, so no consumer re-validates a field by hand. Tests build their
fixtures through the same classes.

``to_json()`` emits the keys in the order the files have always had (the DVC lock hashes these bytes), and
``from_json(doc)`` accepts what ``to_json()`` emits. Fields that vary with the run (the per-variant loss
statistics of a FuRL curve point, the resolved configuration of a run) stay plain dictionaries, inside a typed
envelope.

The tensor side of an artifact (``NAME.safetensors`` + its sidecar ``NAME.json``) is
:func:`cliprl_cli.store.artifacts.save_artifact` / :func:`~cliprl_cli.store.artifacts.load_artifact`; the classes
here that describe a sidecar's run-specific part (:class:`BasePolicyRecord`, :class:`AlignRecord`) read it
through :func:`~cliprl_cli.store.artifacts.read_json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .artifacts import ArtifactError, atomic_write_json, read_json

Json = dict[str, Any]


# ------------------------------------------------------------------------------------------------ field checks
def _obs_key(obs: str | None) -> Json:
    """``{"obs": obs}`` for a pixel run's FuRL files, nothing for the state agent's (their bytes stay as before)."""
    return {} if obs is None else {"obs": obs}


def _field(doc: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str, *,
           optional: bool = False) -> Any:
    """``doc[key]`` checked against ``kinds`` (bool is never accepted as a number); None if optional and absent."""
    if key not in doc or (optional and doc[key] is None):
        if optional:
            return None
        raise ArtifactError(f"{where}: missing field {key!r}")
    value = doc[key]
    if not _is(value, kinds):
        raise ArtifactError(f"{where}: field {key!r} should be {_kind_name(kinds)}, got {type(value).__name__}")
    return value


def _is(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """``isinstance(value, kinds)``, except that a bool is not a number."""
    numeric = kinds in (int, float) or (isinstance(kinds, tuple) and set(kinds) <= {int, float})
    return not (numeric and isinstance(value, bool)) and isinstance(value, kinds)


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    return kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)


def _number(doc: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> float | None:
    value = _field(doc, key, (int, float), where, optional=optional)
    return None if value is None else float(value)


def _pair(doc: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> tuple[float, float] | None:
    """A two-number list such as a 95% interval ``[lo, hi]``."""
    value = _field(doc, key, list, where, optional=optional)
    if value is None:
        return None
    if len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ArtifactError(f"{where}: field {key!r} should be a pair of numbers, got {value!r}")
    return float(value[0]), float(value[1])


def _items(doc: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str, *,
           optional: bool = False) -> list[Any] | None:
    """``doc[key]`` as a list whose every element is one of ``kinds`` (bool is never accepted as a number)."""
    value = _field(doc, key, list, where, optional=optional)
    if value is None:
        return None
    for i, v in enumerate(value):
        if not _is(v, kinds):
            raise ArtifactError(f"{where}: field {key!r}[{i}] should be {_kind_name(kinds)}, got {type(v).__name__}")
    return value


def _floats(doc: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> list[float] | None:
    """A list of numbers as floats."""
    value = _items(doc, key, (int, float), where, optional=optional)
    return None if value is None else [float(v) for v in value]


def _cell(doc: Mapping[str, Any], key: str, where: str) -> tuple[int, int]:
    """A grid cell ``[row, col]``."""
    value = _items(doc, key, int, where)
    if len(value) != 2:
        raise ArtifactError(f"{where}: field {key!r} should be a [row, col] pair, got {value!r}")
    return int(value[0]), int(value[1])


def _object(doc: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict):
        raise ArtifactError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc


def finite_or_none(value: Any) -> float | None:
    """A finite float, or None for a missing, non-numeric, NaN or infinite value (for tables and plots)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# ------------------------------------------------------------------------------------------------ run metadata
# Issue 16: the files DVC hashes hold only what the computation determined; how, where and when a run happened
# goes to ``run.json`` beside them (not declared in dvc.yaml, in .dvcignore and .gitignore), so a fresh clone's
# `dvc repro` leaves dvc.lock unchanged. These keys, at any depth of a written file, are run metadata.
RUN_FILE = "run.json"
RUN_SCHEMA = "cliprl.run/1"
RUN_KEYS = frozenset({"wall_s", "wall_time_s", "env_steps_per_s", "timings", "timings_s", "resumed_from_step",
                      "provenance"})
_RUN_ABOUT = ("Run metadata (command, versions, commit, host, times, wall times, throughput), kept out of the files "
              "DVC hashes so that identical results give an identical dvc.lock. 'files' holds, per output file of "
              "this directory, the fields taken out of it, in the file's own shape.")


def split_run_fields(doc: Any) -> tuple[Any, Any]:
    """``(stable, removed)``: ``doc`` without the :data:`RUN_KEYS` (at any depth), and what was removed in the same
    shape (a dict of removed keys; for a list, one entry per element, or None when nothing was removed)."""
    if isinstance(doc, dict):
        stable: Json = {}
        removed: Json = {}
        for key, value in doc.items():
            if key in RUN_KEYS:
                removed[key] = value
                continue
            stable[key], inner = split_run_fields(value)
            if inner:
                removed[key] = inner
        return stable, removed
    if isinstance(doc, list):
        pairs = [split_run_fields(v) for v in doc]
        removed_items = [r if r else None for _, r in pairs]
        return [s for s, _ in pairs], (removed_items if any(r is not None for r in removed_items) else None)
    return doc, None


def merge_run_fields(doc: Any, removed: Any) -> Any:
    """Put what :func:`split_run_fields` removed back into ``doc`` (removed keys come last in their object)."""
    if isinstance(doc, dict) and isinstance(removed, dict):
        out = dict(doc)
        for key, value in removed.items():
            out[key] = merge_run_fields(out[key], value) if key in out else value
        return out
    if isinstance(doc, list) and isinstance(removed, list):
        return [d if r is None else merge_run_fields(d, r) for d, r in zip(doc, removed)] + list(doc[len(removed):])
    return doc


class _RunSplit:
    """A format whose ``_full_json()`` holds run metadata: ``to_json()`` is the hashed file's content without it,
    ``run_fields()`` what goes to ``run.json``; ``write(path)`` writes the first and records the second."""

    def _full_json(self) -> Any:
        raise NotImplementedError

    def to_json(self) -> Any:
        return split_run_fields(self._full_json())[0]

    def run_fields(self) -> Any:
        return split_run_fields(self._full_json())[1]

    def with_run_fields(self) -> Any:
        """The document with its run metadata in place (what a command returns to its caller)."""
        return self._full_json()

    def write(self, path: str | Path) -> Path:
        from .runinfo import record  # runinfo imports this module

        stable, removed = split_run_fields(self._full_json())
        written = atomic_write_json(path, stable)
        record(Path(path).parent, {Path(path).name: removed})
        return written


@dataclass
class RunInfo:
    """``run.json`` (:mod:`cliprl_cli.store.runinfo`): ``run`` (command, versions, git commit, host, platform, times),
    ``files`` (output file name -> the run fields taken out of it) and optional named ``sections`` (the report's
    view-time provenance), at the top level beside them."""

    run: Json
    files: Json
    sections: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        return {"schema": RUN_SCHEMA, "about": _RUN_ABOUT, "run": self.run, "files": self.files, **self.sections}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "RunInfo":
        doc = _object(doc, where)
        if doc.get("schema") != RUN_SCHEMA:
            raise ArtifactError(f"{where}: schema {doc.get('schema')!r} is not {RUN_SCHEMA!r}")
        return cls(run=_field(doc, "run", dict, where), files=_field(doc, "files", dict, where),
                   sections={k: v for k, v in doc.items() if k not in ("schema", "about", "run", "files")})

    @classmethod
    def read(cls, path: str | Path) -> "RunInfo":
        return cls.from_json(read_json(path, what="run metadata"), str(path))


# ------------------------------------------------------------------------------------------------ CLIP-RL: base
@dataclass
class CurvePoint:
    """One evaluation of a grid-world policy: greedy success from every start cell, after ``env_steps`` steps.

    ``path_ratio`` is the mean greedy path length over the shortest one, None (JSON ``null``) before any start
    succeeds (files written before issue 15 hold the non-JSON ``Infinity`` there, which still reads, as ``inf``);
    ``wall_s`` (seconds since the run started) is run metadata: never written into a curve file (it goes to
    ``run.json``, :data:`RUN_KEYS`), still read from files written before issue 16.
    """

    env_steps: int
    success_rate: float
    path_ratio: float | None = None
    wall_s: float | None = None

    def to_json(self) -> Json:
        doc: Json = {"env_steps": self.env_steps, "success_rate": self.success_rate}
        if self.path_ratio is not None:
            doc["path_ratio"] = self.path_ratio
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "CurvePoint":
        doc = _object(doc, where)
        return cls(env_steps=int(_field(doc, "env_steps", int, where)),
                   success_rate=_number(doc, "success_rate", where),
                   path_ratio=_number(doc, "path_ratio", where, optional=True),
                   wall_s=_number(doc, "wall_s", where, optional=True))


def _curve_from_json(doc: Any, where: str) -> list[CurvePoint]:
    if not isinstance(doc, list):
        raise ArtifactError(f"{where}: expected a list of curve points, got {type(doc).__name__}")
    return [CurvePoint.from_json(p, f"{where}[{i}]") for i, p in enumerate(doc)]


@dataclass
class BaseCurve(_RunSplit):
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
    ``wall_time_s`` is run metadata (``run.json``; None when read from a file written since issue 16).
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

    def to_json(self) -> Json:
        return {"method": self.method, "trial": self.trial, "seed": self.seed, "env_steps": self.env_steps,
                "censored": self.censored, "auc": self.auc, "wall_time_s": self.wall_time_s,
                "initial_success_rate": self.initial_success_rate, "weights": self.weights,
                "weighting_note": self.weighting_note}

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
                   weighting_note=_field(doc, "weighting_note", str, where))


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
    JSON ``null`` and read back as ``inf`` (files written before issue 15 hold the non-JSON ``Infinity``)."""

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
class TransferResults(_RunSplit):
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
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "TransferResults":
        doc = _object(doc, where)
        sims = _field(doc, "similarities", dict, where)
        summary = _field(doc, "summary", dict, where)
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
                   sources=_items(doc, "sources", str, where, optional=True))

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
class LibrarySizeResults(_RunSplit):
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
    wall_time_s: float | None  # run metadata: run.json beside the file (issue 16), not in it

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


# ------------------------------------------------------------------------------------------------ FuRL
_FURL_POINT_HEAD = ("step", "success_any", "success_last", "return", "sparse_return")
_FURL_POINT_TAIL = ("episodes", "train_success_episodes", "positive_frames", "relay_on", "updates", "wall_s",
                    "env_steps_per_s")


@dataclass
class FurlPoint:
    """One evaluation of a FuRL run: evaluation results, then the training statistics averaged since the last one.

    ``train_stats`` holds the per-variant means (SAC losses, alignment losses, VLM reward statistics), in the
    order the run produced them.
    """

    step: int
    success_any: float
    success_last: float
    return_: float
    sparse_return: float
    train_stats: dict[str, float]
    episodes: int
    train_success_episodes: int
    positive_frames: int
    relay_on: bool
    updates: int
    wall_s: float | None = None            # run metadata: in run.json, not in the hashed files (issue 16)
    env_steps_per_s: float | None = None   # run metadata, likewise

    def to_json(self) -> Json:
        return {"step": self.step, "success_any": self.success_any, "success_last": self.success_last,
                "return": self.return_, "sparse_return": self.sparse_return, **self.train_stats,
                "episodes": self.episodes, "train_success_episodes": self.train_success_episodes,
                "positive_frames": self.positive_frames, "relay_on": self.relay_on, "updates": self.updates,
                "wall_s": self.wall_s, "env_steps_per_s": self.env_steps_per_s}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlPoint":
        doc = _object(doc, where)
        known = set(_FURL_POINT_HEAD) | set(_FURL_POINT_TAIL)
        return cls(step=int(_field(doc, "step", int, where)), success_any=_number(doc, "success_any", where),
                   success_last=_number(doc, "success_last", where), return_=_number(doc, "return", where),
                   sparse_return=_number(doc, "sparse_return", where),
                   train_stats={k: v for k, v in doc.items() if k not in known},
                   episodes=int(_field(doc, "episodes", int, where)),
                   train_success_episodes=int(_field(doc, "train_success_episodes", int, where)),
                   positive_frames=int(_field(doc, "positive_frames", int, where)),
                   relay_on=_field(doc, "relay_on", bool, where), updates=int(_field(doc, "updates", int, where)),
                   wall_s=_number(doc, "wall_s", where, optional=True),
                   env_steps_per_s=_number(doc, "env_steps_per_s", where, optional=True))


@dataclass
class FurlCurve(_RunSplit):
    """``furl/<task>/<variant>/seed<k>/curve.json``, rewritten after every evaluation. Each point's ``wall_s`` and
    ``env_steps_per_s`` go to ``run.json`` (``to_json()`` and ``write()`` leave them out)."""

    vlm_random_weights: bool
    task: str
    variant: str
    seed: int
    curve: list[FurlPoint]
    obs: str | None = None  # "pixels" for a DrQ run (issue 17); absent (None) for the state agent's files

    def _full_json(self) -> Json:
        return {"vlm_random_weights": self.vlm_random_weights, "task": self.task, "variant": self.variant,
                "seed": self.seed, "curve": [p.to_json() for p in self.curve], **_obs_key(self.obs)}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlCurve":
        doc = _object(doc, where)
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   task=_field(doc, "task", str, where), variant=_field(doc, "variant", str, where),
                   seed=int(_field(doc, "seed", int, where)),
                   curve=[FurlPoint.from_json(p, f"{where}: curve[{i}]")
                          for i, p in enumerate(_field(doc, "curve", list, where))],
                   obs=_field(doc, "obs", str, where, optional=True))

    @classmethod
    def read(cls, path: str | Path) -> "FurlCurve":
        return cls.from_json(read_json(path, what="FuRL curve"), str(path))


@dataclass
class FurlSummary(_RunSplit):
    """``furl/.../summary.json``: the finished run's last evaluation, memory and set-up. Its speed and history
    (``wall_s``, ``env_steps_per_s``, ``timings_s``, ``resumed_from_step``) go to ``run.json`` (issue 16); they are
    None/empty when read from a file written since."""

    vlm_random_weights: bool
    task: str
    variant: str
    seed: int
    steps: int
    resumed_from_step: int | None
    final: Json
    wall_s: float | None
    env_steps_per_s: float | None
    timings_s: dict[str, float]
    replay_bytes_per_transition: int
    replay_bytes: int
    positive_frames: int
    cpu_tuning: dict[str, bool]
    torch_threads: int
    expert_rewards: Json | None = None
    # The VLM that produced the run's rewards (None for sac): its identity "<model>|<weights>[|sha256:..][|RANDOM]
    # [|preprocess:..]" and the checkpoint file's full SHA-256 (None unless the weights came from a file).
    vlm: str | None = None
    vlm_checkpoint_sha256: str | None = None
    sac_style: str | None = None  # "authors" or "cleanrl"; None in files written before the styles existed
    # Over the run's curve points (None where the stage never ran): the mean fraction of Eq. 5's ordered pairs its
    # goal-distance mask kept, and of Eq. 4's pairs (pos-neg and pos-pos) with a non-zero hinge.
    eq5_pairs_kept_mean: float | None = None
    eq4_hinge_nonzero_mean: float | None = None
    obs: str | None = None  # "pixels" for a DrQ run (issue 17); absent (None) for the state agent's files

    def _full_json(self) -> Json:
        doc: Json = {"vlm_random_weights": self.vlm_random_weights, "task": self.task, "variant": self.variant,
                     "seed": self.seed, "steps": self.steps, "resumed_from_step": self.resumed_from_step,
                     "final": self.final, "wall_s": self.wall_s, "env_steps_per_s": self.env_steps_per_s,
                     "timings_s": self.timings_s, "replay_bytes_per_transition": self.replay_bytes_per_transition,
                     "replay_bytes": self.replay_bytes, "positive_frames": self.positive_frames,
                     "cpu_tuning": self.cpu_tuning, "torch_threads": self.torch_threads, "vlm": self.vlm,
                     "vlm_checkpoint_sha256": self.vlm_checkpoint_sha256, "sac_style": self.sac_style,
                     "eq5_pairs_kept_mean": self.eq5_pairs_kept_mean,
                     "eq4_hinge_nonzero_mean": self.eq4_hinge_nonzero_mean}
        if self.expert_rewards is not None:
            doc["expert_rewards"] = self.expert_rewards
        doc.update(_obs_key(self.obs))
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlSummary":
        doc = _object(doc, where)
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   task=_field(doc, "task", str, where), variant=_field(doc, "variant", str, where),
                   seed=int(_field(doc, "seed", int, where)), steps=int(_field(doc, "steps", int, where)),
                   resumed_from_step=_field(doc, "resumed_from_step", int, where, optional=True),
                   final=_field(doc, "final", dict, where), wall_s=_number(doc, "wall_s", where, optional=True),
                   env_steps_per_s=_number(doc, "env_steps_per_s", where, optional=True),
                   timings_s=_field(doc, "timings_s", dict, where, optional=True) or {},
                   replay_bytes_per_transition=int(_field(doc, "replay_bytes_per_transition", int, where)),
                   replay_bytes=int(_field(doc, "replay_bytes", int, where)),
                   positive_frames=int(_field(doc, "positive_frames", int, where)),
                   cpu_tuning=_field(doc, "cpu_tuning", dict, where),
                   torch_threads=int(_field(doc, "torch_threads", int, where)),
                   expert_rewards=_field(doc, "expert_rewards", dict, where, optional=True),
                   vlm=_field(doc, "vlm", str, where, optional=True),
                   vlm_checkpoint_sha256=_field(doc, "vlm_checkpoint_sha256", str, where, optional=True),
                   sac_style=_field(doc, "sac_style", str, where, optional=True),
                   eq5_pairs_kept_mean=_number(doc, "eq5_pairs_kept_mean", where, optional=True),
                   eq4_hinge_nonzero_mean=_number(doc, "eq4_hinge_nonzero_mean", where, optional=True),
                   obs=_field(doc, "obs", str, where, optional=True))

    def final_point(self, where: str = "summary.json") -> FurlPoint | None:
        """``final`` as a typed point; None for a run that never evaluated (its writer then writes ``{}``)."""
        return FurlPoint.from_json(self.final, f"{where}: final") if self.final else None

    @classmethod
    def read(cls, path: str | Path) -> "FurlSummary":
        return cls.from_json(read_json(path, what="FuRL summary"), str(path))


@dataclass
class ExpertRewards:
    """``furl/.../expert_rewards.json``: VLM rewards along one scripted-expert trajectory (the paper's Figure 11).

    ``aligned`` is present only for variants with projection heads.
    """

    vlm_random_weights: bool
    task: str
    variant: str
    seed: int
    instruction_embedding_model: str  # the VLM's identity, "<model>|<weights>"
    step: list[int]
    success: list[bool]
    first_success: int | None
    zero_shot: list[float]
    training_reward: list[float]
    aligned: list[float] | None = None

    def to_json(self) -> Json:
        doc: Json = {"vlm_random_weights": self.vlm_random_weights, "task": self.task, "variant": self.variant,
                     "seed": self.seed, "instruction_embedding_model": self.instruction_embedding_model,
                     "step": self.step, "success": self.success, "first_success": self.first_success,
                     "zero_shot": self.zero_shot}
        if self.aligned is not None:
            doc["aligned"] = self.aligned
        doc["training_reward"] = self.training_reward
        return doc

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "ExpertRewards":
        doc = _object(doc, where)
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   task=_field(doc, "task", str, where), variant=_field(doc, "variant", str, where),
                   seed=int(_field(doc, "seed", int, where)),
                   instruction_embedding_model=_field(doc, "instruction_embedding_model", str, where),
                   step=[int(s) for s in _items(doc, "step", int, where)],
                   success=list(_items(doc, "success", bool, where)),
                   first_success=_field(doc, "first_success", int, where, optional=True),
                   zero_shot=_floats(doc, "zero_shot", where),
                   training_reward=_floats(doc, "training_reward", where),
                   aligned=_floats(doc, "aligned", where, optional=True))

    @classmethod
    def read(cls, path: str | Path) -> "ExpertRewards":
        return cls.from_json(read_json(path, what="FuRL expert rewards"), str(path))


@dataclass
class FurlRunConfig:
    """``furl/.../config.json``: the resolved FurlConfig plus what the run derived from it.

    ``config`` is the dataclass's fields in order (its ``instruction`` field is written as the resolved
    instruction, in place); ``device_resolved`` and ``vlm`` (the VLM's identity, None for ``sac``) follow.
    """

    vlm_random_weights: bool
    config: Json
    instruction: str
    device_resolved: str
    vlm: str | None  # the VLM's identity, "<model>|<weights>"; None for variants without one

    def to_json(self) -> Json:
        return {"vlm_random_weights": self.vlm_random_weights, **self.config, "instruction": self.instruction,
                "device_resolved": self.device_resolved, "vlm": self.vlm}

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlRunConfig":
        doc = _object(doc, where)
        # "instruction" stays in ``config`` too: it is a FurlConfig field, so it keeps its place in the file.
        tail = ("vlm_random_weights", "device_resolved", "vlm")
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   config={k: v for k, v in doc.items() if k not in tail},
                   instruction=_field(doc, "instruction", str, where),
                   device_resolved=_field(doc, "device_resolved", str, where),
                   vlm=_field(doc, "vlm", str, where, optional=True))

    @classmethod
    def read(cls, path: str | Path) -> "FurlRunConfig":
        return cls.from_json(read_json(path, what="FuRL config"), str(path))


def read_json_any(path: str | Path) -> Any:
    """A JSON file of any top-level type (``read_json`` insists on an object), with the same one-line errors."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable JSON ({exc.__class__.__name__}: {exc})") from None
