"""The artifact format: tensors in safetensors, everything else in JSON, every write atomic.

An artifact is a pair of files sharing a stem: ``NAME.safetensors`` (tensors only, no timestamps, so the same
run gives the same bytes) and ``NAME.json`` (the sidecar). The sidecar carries:

- ``schema``: ``SCHEMA`` below; loading refuses any other value;
- ``kind``: what the artifact is (``base-policy``, ``align-heads``, ``furl-agent``...);
- ``tensors``: name -> {shape, dtype} of every tensor, checked on load;
- ``safetensors_sha256``: the hash of the tensor file (mandatory: a sidecar without it is refused), so a sidecar
  and a tensor file from two different writes are caught instead of silently mixed;
- ``files``: name -> SHA-256 of every other file of the same artifact (``curve.json``, ``metrics.json``...): the
  sidecar is the artifact's manifest;
- ``config``, ``metrics`` and ``seed``.

Run metadata is not in the sidecar: the ``timings``, the ``provenance`` (command line, package versions,
git commit, host, time) and every run key (:data:`cliprl_cli.store.runinfo.RUN_KEYS`: wall times, throughput, the step a
resumed run restarted from) anywhere in ``metrics`` or the extra fields go to ``run.json`` in the same directory
(:mod:`cliprl_cli.store.runinfo`), which DVC never hashes: identical results give identical bytes, so a fresh clone's
``dvc repro`` leaves ``dvc.lock`` unchanged. Checkpoints (``kind="checkpoint"``) keep everything: they are never
hashed and a resume needs their elapsed time.

Writing one artifact (:func:`save_artifact`, :func:`atomic_write_files`) is two phases. First every file of the
set is written in full to a temporary file in the target directory and fsynced; a failure there (a full disk, a
kill, a read-only directory) removes the temporaries and leaves every old file untouched. Then the temporaries are
renamed over their targets (``os.replace`` is atomic on POSIX and needs no space), the sidecar last, and the
directory is fsynced. A reader therefore sees the old set or the new set; a crash between two renames leaves new
files beside the old manifest, which :func:`load_artifact` detects by hash and reports in one line.

Files are created with mode ``0666 & ~umask`` (what ``open()`` would give), so a group-readable umask gives
group-readable artifacts (a shared DVC cache, other users of a cluster). JSON is strict: NaN and infinities are
refused (:func:`to_json_bytes`), never written as the non-JSON tokens ``NaN``/``Infinity``. Tensor artifacts of the
kinds in :data:`FLOAT32_KINDS` must hold finite float32 tensors, as their format says. Nothing is ever pickled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

from .atomic import ArtifactError, provenance, read_json, to_json_bytes, write_files
from .runinfo import record, split_run_fields

SCHEMA = "cliprl.artifact/1"
TENSOR_SUFFIX = ".safetensors"
SIDECAR_SUFFIX = ".json"
# Kinds whose format is float32 parameters: loading refuses other dtypes and non-finite values (a policy of NaNs
# would otherwise be averaged, aligned and fine-tuned into NaN results). Checkpoints hold RNG states and counters.
FLOAT32_KINDS = frozenset({"base-policy", "align-heads", "furl-agent", "furl-goal-embedding"})


def atomic_write_files(directory: str | os.PathLike, files: Mapping[str, Any]) -> Path:
    """Write several files of one directory as one set; ``files`` maps a plain file name to its content (bytes,
    an object written as JSON by :func:`to_json_bytes`, or a format object of :mod:`cliprl_cli.store.formats` with run
    metadata, whose ``to_json()`` is written and whose ``run_fields()`` go to ``run.json``). Returns the directory.

    Every file is first written in full (fsynced) to a temporary file; only once all are written are they renamed
    over their targets, in the order given (put a manifest last). A failure while writing (``ENOSPC``, a kill)
    leaves every existing file as it was and no temporary behind.
    """
    run_fields = {name: data.run_fields() for name, data in files.items() if hasattr(data, "run_fields")}
    blobs = {name: data if isinstance(data, bytes) else to_json_bytes(data.to_json() if name in run_fields else data)
             for name, data in files.items()}
    write_files(directory, blobs)
    if any(run_fields.values()):
        record(directory, run_fields)  # after the set: run.json is not part of it (nothing hashes it)
    return Path(directory)


def sidecar_path(tensor_path: str | os.PathLike) -> Path:
    return Path(tensor_path).with_suffix(SIDECAR_SUFFIX)


def save_artifact(tensor_path: str | os.PathLike, tensors: Mapping[str, Any], *, kind: str,
                  config: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
                  timings: Mapping[str, Any] | None = None, seed: int | None = None,
                  extra: Mapping[str, Any] | None = None, companions: Mapping[str, Any] | None = None) -> Path:
    """Write ``tensors`` to ``tensor_path`` (safetensors), the ``companions`` beside it (file name -> bytes or a
    JSON-serialisable object: ``curve.json``, ``metrics.json``...) and the sidecar, as one set.

    The sidecar is the manifest: it names the SHA-256 of the tensor file and of every companion, and it is renamed
    into place last, after every file of the set was fully written (:func:`atomic_write_files`). A failure while
    writing leaves the previous set untouched; :func:`load_artifact` detects files from two different writes.
    A companion may be a format object with run metadata (see :func:`atomic_write_files`). Run metadata goes to
    ``run.json`` (module docstring), except for checkpoints.
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
    if kind in FLOAT32_KINDS:
        _check_float32(contiguous, f"{tensor_path} (not written)")
    blob = safetensors_save(contiguous)
    side = sidecar_path(tensor_path)
    run_fields = {name: data.run_fields() for name, data in (companions or {}).items() if hasattr(data, "run_fields")}
    extra_blobs = {name: data if isinstance(data, bytes) else to_json_bytes(data.to_json() if name in run_fields
                                                                            else data)
                   for name, data in (companions or {}).items()}
    if tensor_path.name in extra_blobs or side.name in extra_blobs:
        raise ValueError(f"a companion file may not be named like the artifact itself: {sorted(extra_blobs)}")
    sidecar = {
        "schema": SCHEMA,
        "kind": kind,
        "tensors": {name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                    for name, t in contiguous.items()},
        "safetensors_sha256": hashlib.sha256(blob).hexdigest(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in extra_blobs.items()},
        "seed": seed,
        "config": dict(config or {}),
        "metrics": dict(metrics or {}),
        "timings": dict(timings or {}),
        "provenance": provenance(),
    }
    if not extra_blobs:
        del sidecar["files"]
    if extra:
        sidecar.update(extra)
    if kind != "checkpoint":  # run metadata out of the hashed sidecar, into run.json
        sidecar, run_fields[side.name] = split_run_fields(sidecar)
        run_fields[side.name].pop("provenance", None)  # run.json's "run" section says the same
    atomic_write_files(tensor_path.parent, {**extra_blobs, tensor_path.name: blob, side.name: to_json_bytes(sidecar)})
    if kind != "checkpoint":
        record(tensor_path.parent, run_fields)
    del torch
    return tensor_path


def _check_float32(tensors: Mapping[str, Any], where: str) -> None:
    """Every tensor float32 with finite values (the format of :data:`FLOAT32_KINDS`), else one line."""
    import torch

    for name, tensor in tensors.items():
        if tensor.dtype != torch.float32:
            raise ArtifactError(f"{where}: tensor {name!r} is {str(tensor.dtype).replace('torch.', '')}; "
                                "the format is float32")
        if not bool(torch.isfinite(tensor).all()):
            raise ArtifactError(f"{where}: tensor {name!r} holds NaN or infinite values")


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
    expected = sidecar.get("safetensors_sha256")
    if not isinstance(expected, str) or not expected:
        raise ArtifactError(f"{side}: no safetensors_sha256: the tensor file cannot be verified (the field is "
                            "mandatory; rewrite the artifact with the command that made it)")
    if expected != hashlib.sha256(blob).hexdigest():
        raise ArtifactError(f"{tensor_path}: contents do not match the hash in {side.name} "
                            "(truncated, corrupt, or written by another run)")
    check_companions(tensor_path, sidecar)
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
    for name, tensor in tensors.items():
        if str(tensor.dtype).replace("torch.", "") != listed[name].get("dtype"):
            raise ArtifactError(f"{tensor_path}: tensor {name!r} is {str(tensor.dtype).replace('torch.', '')}, "
                                f"sidecar says {listed[name].get('dtype')}")
    if sidecar.get("kind") in FLOAT32_KINDS:
        _check_float32(tensors, str(tensor_path))
    for name, shape in (expected_shapes or {}).items():
        if name not in tensors:
            raise ArtifactError(f"{tensor_path}: missing tensor {name!r}")
        if tuple(tensors[name].shape) != tuple(shape):
            raise ArtifactError(f"{tensor_path}: tensor {name!r} has shape {tuple(tensors[name].shape)}, "
                                f"expected {tuple(shape)}")
    return tensors, sidecar


def check_companions(tensor_path: str | os.PathLike, sidecar: Mapping[str, Any]) -> None:
    """Check every file the sidecar's ``files`` manifest names against its hash (one line on a mismatch).

    A mismatch means the directory holds files from two different writes (a crash between the renames of a set),
    or a file edited by hand: the reader must not combine them."""
    tensor_path = Path(tensor_path)
    files = sidecar.get("files", {})
    if not isinstance(files, Mapping):
        raise ArtifactError(f"{sidecar_path(tensor_path)}: 'files' must map file names to SHA-256 hashes")
    for name, digest in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise ArtifactError(f"{sidecar_path(tensor_path)}: manifest entry {name!r} is not a plain file name")
        member = tensor_path.parent / name
        if not member.is_file():
            raise ArtifactError(f"{member}: missing (listed in the manifest {sidecar_path(tensor_path).name})")
        if hashlib.sha256(member.read_bytes()).hexdigest() != digest:
            raise ArtifactError(f"{member}: does not match its hash in {sidecar_path(tensor_path).name}: the "
                                "directory mixes files of two different writes (or one was edited); rerun the "
                                "command that writes it")
