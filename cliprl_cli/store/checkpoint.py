"""Checkpoints and preemption: save a run's whole state at intervals and on SIGTERM/SIGUSR1, resume on rerun.

A checkpoint is an ordinary artifact (``kind="checkpoint"``: tensors in safetensors, the rest in the sidecar
JSON), so it is written atomically and verified by hash on load. A checkpoint that fails to load is reported on
stderr and renamed aside (``*.corrupt``), and the run starts afresh: it never crashes the resume and never
touches a finished artifact.

SLURM sends SIGTERM on preemption, ``scancel`` and at the time limit (``--signal=B:TERM@60`` sends it early),
and SIGUSR1 where a site configures it. :class:`PreemptionGuard` turns either into a flag that the training
loop checks at iteration boundaries; the loop then writes a checkpoint and raises
:class:`~cliprl_cli.errors.PreemptedError` (exit code 75). Checkpoints are taken between iterations, so a
resumed run continues exactly where the interrupted one stopped and ends with the same bytes.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import torch

from .artifacts import load_artifact, save_artifact, sidecar_path
from .atomic import ArtifactError

PREEMPT_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class PreemptionGuard:
    """Context manager: while active, SIGTERM and SIGUSR1 set ``requested`` instead of killing the process."""

    # Set once any guard in the process has seen a signal: the process is then shutting down in order, and a
    # second TERM (SLURM may signal an array task more than once) must not kill it between the checkpoint and the
    # exit code, so every guard leaves the signals ignored instead of restoring the default handler.
    shutting_down = False

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:  # noqa: ARG002 - signal API
        self.requested = signum
        PreemptionGuard.shutting_down = True

    def __enter__(self) -> "PreemptionGuard":
        if threading.current_thread() is threading.main_thread():
            for sig in PREEMPT_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if PreemptionGuard.shutting_down else handler)
        self._previous.clear()

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.requested).name if self.requested else ""


def save_checkpoint(path: str | Path, tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any],
                    config: Mapping[str, Any]) -> Path:
    return save_artifact(path, tensors, kind="checkpoint", config=config, extra={"state": dict(state)})


def load_checkpoint(path: str | Path, config: Mapping[str, Any]):
    """Return ``(tensors, state)`` of a valid checkpoint whose config matches, else None.

    A corrupt checkpoint, or one written by a different configuration, is renamed aside with a message on stderr.
    """
    path = Path(path)
    if not path.exists() and not sidecar_path(path).exists():
        return None
    try:
        tensors, sidecar = load_artifact(path, kind="checkpoint")
    except ArtifactError as exc:
        set_aside(path, f"unusable checkpoint ({exc})")
        return None
    if _canonical(sidecar.get("config")) != _canonical(config):
        set_aside(path, "checkpoint was written with a different configuration")
        return None
    return tensors, sidecar["state"]


def _canonical(value: Any) -> Any:
    """``value`` as JSON reads it back (non-JSON values as their str), for comparing configs."""
    return json.loads(json.dumps(value, default=str))


def set_aside(path: str | Path, reason: str) -> None:
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for item in (path, sidecar_path(path)):
        if item.exists():
            item.rename(item.with_name(f"{item.name}.corrupt-{stamp}"))
    print(f"warning: {path}: {reason}; set aside, starting afresh", file=sys.stderr)


def remove_checkpoint(path: str | Path) -> None:
    path = Path(path)
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)
