"""The one exception type the CLI turns into a one-line error and a non-zero exit.

Exit codes (documented in the README and `cliprl --help`):
  0  success
  1  an unexpected internal error (a bug: the traceback is printed)
  2  bad input: a missing or malformed file, an unknown task, an invalid option value
  3  a run finished without converging within its step budget (no artifact is written)
  75 a run was interrupted by SIGTERM/SIGUSR1 and checkpointed; rerun the same command to resume
     (75 is EX_TEMPFAIL from sysexits.h: "try again later")
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
EXIT_PREEMPTED = 75


class CliprlError(Exception):
    """A user-facing error: its message is printed as one line, then the process exits with `exit_code`."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class NotConvergedError(CliprlError):
    exit_code = EXIT_NOT_CONVERGED


class PreemptedError(CliprlError):
    exit_code = EXIT_PREEMPTED
