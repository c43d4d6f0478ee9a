"""The sbatch options every generated job gets, and the checks that keep them from breaking the ``#SBATCH`` block."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import CliprlError


@dataclass
class SlurmOptions:
    """The sbatch options every generated job gets (None: leave it to the cluster's defaults)."""

    partition: str | None = None
    time: str | None = None
    mem: str | None = None
    cpus_per_task: int | None = None
    gpus: str | None = None
    account: str | None = None
    log_dir: str | None = None  # default: .cliprl/slurm/<id>/logs
    max_parallel: int | None = None  # array throttle: --array=0-N%K
    signal_seconds: int = 120  # --signal=B:TERM@N: ask the command to checkpoint N s before the time limit
    max_requeues: int = 3  # requeue a task that exits 75 at most this many times (0: never)
    setup: str | None = None  # shell lines run before each command (module load, source venv/bin/activate...)
    extra: list[str] = field(default_factory=list)  # further sbatch options, e.g. ["--qos=high"]

    def __post_init__(self) -> None:
        check_options(self)


# What each value rendered into an #SBATCH line may look like. sbatch reads its directives line by line and stops at
# the first line that is not one, so a newline inside a value would end the block and silently drop every later
# directive (--requeue, --signal, the dependency): values are checked, never quoted.
_SBATCH_FORMATS = {
    "partition": (r"[A-Za-z0-9_.\-]+(,[A-Za-z0-9_.\-]+)*", "a partition name or a comma-separated list, e.g. gpu"),
    "account": (r"[A-Za-z0-9_.\-]+", "an account name, e.g. lab"),
    "time": (r"(\d+-)?\d+(:\d+){0,2}|(?i:unlimited|infinite)",
             "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e.g. 4:00:00"),
    "mem": (r"\d+[KMGTkmgt]?", "an integer with an optional K/M/G/T suffix, e.g. 8G"),
    "gpus": (r"([A-Za-z0-9_.\-]+:)?\d+", "a count or TYPE:COUNT, e.g. 1 or a100:1"),
}


def check_options(options: SlurmOptions) -> None:
    """Refuse option values that would break or change the generated ``#SBATCH`` block (one line each)."""
    for name, (pattern, shape) in _SBATCH_FORMATS.items():
        value = getattr(options, name)
        if value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise CliprlError(f"--{name} {value!r} is not a valid sbatch value: expected {shape}")
    if options.log_dir is not None and (re.search(r"[\x00-\x20\x7f]", options.log_dir) or not options.log_dir):
        raise CliprlError(f"--log-dir {options.log_dir!r}: sbatch directives cannot hold whitespace or control "
                          "characters; choose a path without them")
    for extra in options.extra:
        if not re.fullmatch(r"--?[A-Za-z][A-Za-z0-9\-]*(=[^\x00-\x1f\x7f]*)?", extra):
            raise CliprlError(f"--sbatch-arg {extra!r} is not one sbatch option (--name or --name=value, no "
                              "newlines or control characters)")
    if options.setup is not None and re.search(r"[\x00-\x08\x0b-\x1f\x7f]", options.setup):
        raise CliprlError("--setup holds control characters (newlines and tabs are fine: it is shell lines)")
    for name in ("cpus_per_task", "max_parallel"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise CliprlError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    for name in ("signal_seconds", "max_requeues"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CliprlError(f"--{name.replace('_', '-')} must be a non-negative integer, got {value!r}")
