"""The artifact format: tensors in safetensors, everything else in JSON, every write atomic.

An artifact is a pair of files sharing a stem: ``NAME.safetensors`` (tensors only, no timestamps, so the same
run gives the same bytes) and ``NAME.json`` (the sidecar). The sidecar carries:

- ``schema``: ``SCHEMA`` below; loading refuses any other value;
- ``kind``: what the artifact is (``base-policy``, ``align-heads``, ``furl-agent``...);
- ``tensors``: name -> {shape, dtype} of every tensor, checked on load;
- ``safetensors_sha256``: the hash of the tensor file, so a sidecar and a tensor file from two different
  writes (a crash between the two renames) are caught instead of silently mixed;
- ``config``, ``metrics``, ``timings``, ``seed`` and ``provenance`` (command line, package versions, git commit).

Writes go to a temporary file in the same directory, are flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX), so a crash or a kill never leaves a half-written file in place of a good one.
Nothing is ever pickled.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

from .errors import CliprlError

SCHEMA = "cliprl.artifact/1"
TENSOR_SUFFIX = ".safetensors"
SIDECAR_SUFFIX = ".json"

_VERSIONED_PACKAGES = ("cliprl", "torch", "numpy", "gymnasium", "safetensors", "sentence-transformers",
                       "open_clip_torch", "metaworld", "mujoco")


class ArtifactError(CliprlError):
    """A missing, corrupt or mismatched artifact file."""


# --------------------------------------------------------------------------------------------------------- writing
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _replace(src: str, dst: Path) -> None:
    # One function so tests can simulate a crash between writing the temporary file and renaming it.
    os.replace(src, dst)


def to_json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode()


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


def sidecar_path(tensor_path: str | os.PathLike) -> Path:
    return Path(tensor_path).with_suffix(SIDECAR_SUFFIX)


def save_artifact(tensor_path: str | os.PathLike, tensors: Mapping[str, Any], *, kind: str,
                  config: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
                  timings: Mapping[str, Any] | None = None, seed: int | None = None,
                  extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``tensors`` to ``tensor_path`` (safetensors) and the sidecar JSON next to it, both atomically.

    The tensor file is written first and the sidecar, which names its hash, second: a crash in between leaves
    a pair that :func:`load_artifact` rejects with a clear message rather than a silent mix.
    """
    import torch
    from safetensors.torch import save as safetensors_save

    tensor_path = Path(tensor_path)
    if tensor_path.suffix != TENSOR_SUFFIX:
        raise ValueError(f"tensor artifacts end in {TENSOR_SUFFIX}: {tensor_path}")
    contiguous: dict[str, Any] = {}
    storages: set[int] = set()
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        # safetensors refuses tensors that share memory (one accumulator stored under two names, a view of
        # another tensor): give every later sharer its own copy, so any dict of tensors can be saved.
        if t.untyped_storage().data_ptr() in storages and t.numel() > 0:
            t = t.clone()
        storages.add(t.untyped_storage().data_ptr())
        contiguous[name] = t
    blob = safetensors_save(contiguous)
    atomic_write_bytes(tensor_path, blob)
    sidecar = {
        "schema": SCHEMA,
        "kind": kind,
        "tensors": {name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                    for name, t in contiguous.items()},
        "safetensors_sha256": hashlib.sha256(blob).hexdigest(),
        "seed": seed,
        "config": dict(config or {}),
        "metrics": dict(metrics or {}),
        "timings": dict(timings or {}),
        "provenance": provenance(),
    }
    if extra:
        sidecar.update(extra)
    atomic_write_json(sidecar_path(tensor_path), sidecar)
    del torch
    return tensor_path


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


def load_artifact(tensor_path: str | os.PathLike, *, kind: str | None = None,
                  expected_shapes: Mapping[str, tuple[int, ...]] | None = None):
    """Load and validate an artifact; returns ``(tensors, sidecar)``.

    Fails with an :class:`ArtifactError` naming the file and the problem: missing files, a missing or
    unreadable sidecar, a wrong schema version or kind, a truncated or corrupt tensor file, a hash mismatch
    between the two, or a tensor whose shape differs from the sidecar or from ``expected_shapes``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as safetensors_load

    tensor_path = Path(tensor_path)
    if not tensor_path.is_file():
        raise ArtifactError(f"artifact not found: {tensor_path}")
    side = sidecar_path(tensor_path)
    if not side.is_file():
        raise ArtifactError(f"{tensor_path}: missing sidecar {side.name}")
    sidecar = read_json(side, what="sidecar")
    if sidecar.get("schema") != SCHEMA:
        raise ArtifactError(f"{side}: schema {sidecar.get('schema')!r} is not the supported {SCHEMA!r}")
    if kind is not None and sidecar.get("kind") != kind:
        raise ArtifactError(f"{side}: expected a {kind!r} artifact, found {sidecar.get('kind')!r}")
    blob = tensor_path.read_bytes()
    if sidecar.get("safetensors_sha256") not in (None, hashlib.sha256(blob).hexdigest()):
        raise ArtifactError(f"{tensor_path}: contents do not match the hash in {side.name} "
                            "(truncated, corrupt, or written by another run)")
    try:
        tensors = safetensors_load(blob)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise ArtifactError(f"{tensor_path}: corrupt or truncated safetensors ({exc})") from None
    listed = sidecar.get("tensors", {})
    if set(listed) != set(tensors):
        raise ArtifactError(f"{tensor_path}: tensors {sorted(tensors)} differ from the sidecar's {sorted(listed)}")
    for name, tensor in tensors.items():
        if list(tensor.shape) != list(listed[name]["shape"]):
            raise ArtifactError(f"{tensor_path}: tensor {name!r} has shape {list(tensor.shape)}, "
                                f"sidecar says {listed[name]['shape']}")
    for name, shape in (expected_shapes or {}).items():
        if name not in tensors:
            raise ArtifactError(f"{tensor_path}: missing tensor {name!r}")
        if tuple(tensors[name].shape) != tuple(shape):
            raise ArtifactError(f"{tensor_path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                                f"expected {tuple(shape)}")
    return tensors, sidecar
