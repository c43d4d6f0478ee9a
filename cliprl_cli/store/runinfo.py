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
from pathlib import Path
from typing import Any, Mapping

from .artifacts import atomic_write_json, git_commit, package_versions
from ..errors import CliprlError
from .formats import RUN_FILE, RunInfo, merge_run_fields, read_json_any, split_run_fields

__all__ = ["RUN_FILE", "record", "read", "with_run_fields", "run_identity", "split_run_fields"]

_STARTED = time.time()
_RUN_ID = f"{platform.node()}:{os.getpid()}:{_STARTED:.6f}"


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def run_identity() -> dict[str, Any]:
    """This process: command line, package versions, git commit, host, platform, start time (for ``run.json``)."""
    return {"id": _RUN_ID, "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
            "versions": package_versions(), "git_commit": git_commit(), "host": platform.node(),
            "platform": platform.platform(), "started_at": _stamp(_STARTED), "written_at": _stamp(time.time())}


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
    place: what the file held before issue 16 (for tools that want wall times next to results)."""
    path = Path(path)
    doc = read_json_any(path)
    info = read(path.parent)
    if info is None or path.name not in info.files:
        return doc
    return merge_run_fields(doc, info.files[path.name])
