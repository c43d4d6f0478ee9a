"""Atomic writes and strict JSON: the bottom of the artifact layer (it imports nothing else of the package but
:mod:`cliprl_cli.errors`).

Writing a set of files (:func:`write_files`) is two phases. First every file of the set is written in full to a
temporary file in the target directory and fsynced; a failure there (a full disk, a kill, a read-only directory)
removes the temporaries and leaves every old file untouched. Then the temporaries are renamed over their targets
(``os.replace`` is atomic on POSIX and needs no space), in the order given, and the directory is fsynced. A reader
therefore sees the old set or the new set.

Files are created with mode ``0666 & ~umask`` (what ``open()`` would give), so a group-readable umask gives
group-readable artifacts (a shared DVC cache, other users of a cluster). JSON is strict: NaN and infinities are
refused (:func:`to_json_bytes`), never written as the non-JSON tokens ``NaN``/``Infinity``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from ..errors import CliprlError

_VERSIONED_PACKAGES = ("cliprl", "torch", "numpy", "gymnasium", "safetensors", "sentence-transformers",
                       "open_clip_torch", "metaworld", "mujoco")


class ArtifactError(CliprlError):
    """A missing, corrupt or mismatched artifact file."""


# --------------------------------------------------------------------------------------------------------- writing
def _umask() -> int:
    """The process umask, read without changing it where Linux allows (``os.umask`` sets it to read it)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _stage(directory: Path, name: str, data: bytes, mode: int) -> str:
    """Write ``data`` to a fsynced temporary file beside ``directory/name``; returns its path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # mkstemp creates 0600: give what open() would have given
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # write()/fsync() errors name no file: name the target, so the one-line error says where
            raise OSError(exc.errno, exc.strerror, str(directory / name)) from None
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_files(directory: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Write several files of one directory as one set; ``files`` maps a plain file name to its bytes. Returns the
    directory.

    Every file is first written in full (fsynced) to a temporary file; only once all are written are they renamed
    over their targets, in the order given (put a manifest last). A failure while writing (``ENOSPC``, a kill)
    leaves every existing file as it was and no temporary behind.
    """
    directory = Path(directory)
    blobs = dict(files)
    for name in blobs:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"not a plain file name: {name!r}")
    directory.mkdir(parents=True, exist_ok=True)
    mode = 0o666 & ~_umask()
    staged: list[tuple[str, Path]] = []
    try:
        for name, data in blobs.items():
            staged.append((_stage(directory, name, data, mode), directory / name))
        for i, (tmp, dst) in enumerate(staged):
            _replace(tmp, dst)
            staged[i] = ("", dst)
    except BaseException:
        for tmp, _ in staged:
            if tmp:
                Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return directory


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns the path."""
    path = Path(path)
    write_files(path.parent, {path.name: data})
    return path


def _replace(src: str, dst: Path) -> None:
    # One function so tests can simulate a crash between writing the temporary file and renaming it.
    os.replace(src, dst)


def to_json_bytes(obj: Any) -> bytes:
    """Strict JSON (indent 2, a final newline). A NaN or an infinity anywhere is refused with an
    :class:`ArtifactError` naming where it is: the tokens ``NaN``/``Infinity`` are not JSON, and a non-finite
    number in a result means something diverged upstream."""
    try:
        return (json.dumps(obj, indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n").encode()
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise
        where = _first_non_finite(obj, "")
        raise ArtifactError(f"refusing to write a non-finite number (NaN or infinity) into JSON at "
                            f"{where or 'the top level'}: something diverged (check the inputs and options)") from None


def _first_non_finite(obj: Any, where: str) -> str | None:
    if isinstance(obj, float):
        return None if math.isfinite(obj) else where
    if isinstance(obj, Mapping):
        items = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        try:
            converted = _json_default(obj)
        except (TypeError, ValueError):
            return None
        return _first_non_finite(converted, where) if converted is not obj else None
    for key, value in items:
        found = _first_non_finite(value, key)
        if found is not None:
            return found
    return None


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_bytes(path, to_json_bytes(obj))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


# --------------------------------------------------------------------------------------------------------- reading
def read_json(path: str | os.PathLike, *, what: str = "JSON file") -> dict[str, Any]:
    """Read a JSON object, failing with one line that names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{what} not found: {path}")
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: expected a JSON object, found {type(value).__name__}")
    return value


def read_json_any(path: str | Path) -> Any:
    """A JSON file of any top-level type (``read_json`` insists on an object), with the same one-line errors."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable JSON ({exc.__class__.__name__}: {exc})") from None


@functools.lru_cache(maxsize=8)
def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit (with ``-dirty`` when the tree has changes), or None outside a repository.

    Cached per process: a long run that checkpoints every few minutes records the commit it started from."""
    try:
        here = str(cwd or Path(__file__).resolve().parent)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def _package_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(versions.items())


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results (read once per process: checkpoints write often)."""
    return dict(_package_versions())


def provenance() -> dict[str, Any]:
    """Where an artifact came from: the command line, package versions, git commit, host and time."""
    return {
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
        "versions": package_versions(),
        "git_commit": git_commit(),
        "host": platform.node(),
        "platform": platform.platform(),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
