"""Run metadata kept out of the DVC-hashed outputs: ``run.json`` beside each output.

Why: DVC hashes every declared output (and every directory a stage depends on) into ``dvc.lock``. A wall time, a
host name, a timestamp or a git commit inside ``policy.json``, ``curve.json``, ``results.json`` or ``summary.json``
made a fresh clone's ``dvc repro`` rewrite the lock although every tensor and every number was identical, and made
downstream stages look changed. So the hashed files hold only what the computation determined (tensors, config,
seed, results), and everything about *how, where and when* a run happened goes to ``run.json`` in the same
directory:

- ``run``: the command line, package versions, git commit, host, platform, start and write times;
- ``files``: for each output file of the directory, the run-specific fields taken out of it, in the file's own
  shape (a dict of the removed keys; a list of such dicts, index for index, for a list such as a learning curve):
  wall times, per-phase timings, throughput, the step a resumed run restarted from.

``run.json`` is not declared in ``dvc.yaml``, is listed in ``.dvcignore`` (so a directory output or a directory
dependency never hashes it) and in ``.gitignore``. It is informational: nothing reads it to compute a result, and a
missing one (outputs restored from a DVC cache, ``dvc checkout``) loses nothing but the run's history. Which keys
are run metadata is :data:`cliprl_cli.store.formats.RUN_KEYS`; the file's format is :class:`cliprl_cli.store.formats.RunInfo`.

All writes of one process into one directory merge into one ``run.json`` (a FuRL run rewrites ``curve.json`` after
every evaluation and writes its agent at the end); a new process (a rerun, a resumed run) starts it afresh.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..cpu_tuning import numeric_environment
from ..errors import CliprlError
from .atomic import ArtifactError, atomic_write_json, git_commit, package_versions, read_json, read_json_any

__all__ = ["RUN_FILE", "RUN_KEYS", "RunInfo", "RunSplit", "record", "read", "with_run_fields", "run_identity",
           "split_run_fields", "merge_run_fields"]

Json = Any

# ------------------------------------------------------------------------------------------------ run metadata
# The files DVC hashes hold only what the computation determined; how, where and when a run happened
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


class RunSplit(ABC):
    """A format whose ``_full_json()`` holds run metadata: ``to_json()`` is the hashed file's content without it,
    ``run_fields()`` what goes to ``run.json``; ``write(path)`` writes the first and records the second."""

    @abstractmethod
    def _full_json(self) -> Any:
        """The whole document, run metadata included."""

    def to_json(self) -> Any:
        return split_run_fields(self._full_json())[0]

    def run_fields(self) -> Any:
        return split_run_fields(self._full_json())[1]

    def with_run_fields(self) -> Any:
        """The document with its run metadata in place (what a command returns to its caller)."""
        return self._full_json()

    def write(self, path: str | Path) -> Path:
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
        if not isinstance(doc, dict):
            raise ArtifactError(f"{where}: expected a JSON object, got {type(doc).__name__}")
        if doc.get("schema") != RUN_SCHEMA:
            raise ArtifactError(f"{where}: schema {doc.get('schema')!r} is not {RUN_SCHEMA!r}")
        for key in ("run", "files"):
            if not isinstance(doc.get(key), dict):
                raise ArtifactError(f"{where}: field {key!r} must be an object")
        return cls(run=doc["run"], files=doc["files"],
                   sections={k: v for k, v in doc.items() if k not in ("schema", "about", "run", "files")})

    @classmethod
    def read(cls, path: str | Path) -> "RunInfo":
        return cls.from_json(read_json(path, what="run metadata"), str(path))


_STARTED = time.time()
_RUN_ID = f"{platform.node()}:{os.getpid()}:{_STARTED:.6f}"


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def run_identity() -> dict[str, Any]:
    """This process: command line, package versions, git commit, host, platform, start time, and the numeric
    settings it ran with (pinned code paths, what the libraries report; for ``run.json`` only: they differ by
    machine, so no hashed file may hold them)."""
    return {"id": _RUN_ID, "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
            "versions": package_versions(), "git_commit": git_commit(), "host": platform.node(),
            "platform": platform.platform(), "started_at": _stamp(_STARTED), "written_at": _stamp(time.time()),
            "numerics": numeric_environment()}


def record(directory: str | os.PathLike, files: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None) -> Path:
    """Merge ``files`` (output file name -> its run-specific fields) and ``extra`` (top-level sections such as the
    report's provenance) into ``directory/run.json``; returns its path.

    Entries written earlier by this same process are kept (and a file's entry replaced); a ``run.json`` left by
    another process, or unreadable, is replaced. Never raises for a bad existing file: it is metadata."""
    directory = Path(directory)
    path = directory / RUN_FILE
    info = RunInfo(run=run_identity(), files={})
    if path.is_file():
        try:
            old = RunInfo.read(path)
        except CliprlError:
            old = None
        if old is not None and old.run.get("id") == _RUN_ID:
            info.files, info.sections = dict(old.files), dict(old.sections)
    info.files.update({name: fields for name, fields in files.items() if fields})
    info.sections.update(extra or {})
    return atomic_write_json(path, info.to_json())


def read(directory: str | os.PathLike) -> RunInfo | None:
    """The ``run.json`` of ``directory``, or None when there is none (or it is unreadable)."""
    path = Path(directory) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return RunInfo.read(path)
    except CliprlError:
        return None


def with_run_fields(path: str | os.PathLike) -> Any:
    """The JSON document at ``path`` with its run-specific fields from the ``run.json`` beside it put back in
    place: what the file held before run metadata moved out (for tools that want wall times next to results)."""
    path = Path(path)
    doc = read_json_any(path)
    info = read(path.parent)
    if info is None or path.name not in info.files:
        return doc
    return merge_run_fields(doc, info.files[path.name])
