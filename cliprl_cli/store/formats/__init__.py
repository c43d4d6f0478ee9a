"""The JSON formats of cliprl's artifacts: one typed dataclass per file kind, one writer, one reader.

Every JSON file a command writes beside its tensors, and every JSON file the report reads, is defined here. A
writer builds the dataclass and calls ``write(path)`` (atomic, through :mod:`cliprl_cli.store.atomic`); a reader
calls ``read(path)``, which checks the fields once and raises :class:`~cliprl_cli.store.atomic.ArtifactError` with a
one-line message naming the file and the field, so no consumer re-validates a field by hand. Tests build their
fixtures through the same classes.

``to_json()`` emits the keys in the order the files have always had (the DVC lock hashes these bytes), and
``from_json(doc)`` accepts what ``to_json()`` emits. Fields that vary with the run (the per-variant loss
statistics of a FuRL curve point, the resolved configuration of a run) stay plain dictionaries, inside a typed
envelope.

The tensor side of an artifact (``NAME.safetensors`` + its sidecar ``NAME.json``) is
:func:`cliprl_cli.store.artifacts.save_artifact` / :func:`~cliprl_cli.store.artifacts.load_artifact`; the classes
here that describe a sidecar's run-specific part (:class:`BasePolicyRecord`, :class:`AlignRecord`) read it
through :func:`~cliprl_cli.store.atomic.read_json`.

One module per family: :mod:`.clip_rl` (base policies, alignment, transfer, library size) and :mod:`.furl`, with the
field checks they share in :mod:`.common`. Run metadata (``run.json``) is :mod:`cliprl_cli.store.runinfo`.
"""

from __future__ import annotations

from .clip_rl import (CurvePoint, BaseCurve, BasePolicyRecord, AlignMetrics, TransferTrial, MethodSummary,
                      PairedRatio, TransferResults, TransferCurves, LIBRARY_SIZE_METHODS, LibrarySizeResults)
from .common import finite_or_none
from .furl import (FurlPoint, FurlCurve, FurlSummary, ExpertRewards, FurlRunConfig)

__all__ = ["AlignMetrics", "BaseCurve", "BasePolicyRecord", "CurvePoint", "ExpertRewards", "FurlCurve",
           "FurlPoint", "FurlRunConfig", "FurlSummary", "LIBRARY_SIZE_METHODS", "LibrarySizeResults",
           "MethodSummary", "PairedRatio", "TransferCurves", "TransferResults", "TransferTrial",
           "finite_or_none"]
