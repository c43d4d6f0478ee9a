"""Progress reporting: a rich bar on a terminal, plain periodic log lines in a batch log, nothing with --quiet."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _is_interactive() -> bool:
    """A terminal that is not CI: worth a live bar."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


class ProgressReporter:
    """``with ProgressReporter("train", total=N) as p: p.update(steps, loss=...)``.

    On a terminal it draws a rich progress bar; otherwise it prints one plain line to stderr at most every
    ``interval`` seconds (and a last line at the end), which reads well in SLURM and CI logs.
    """

    def __init__(self, description: str, total: float, *, quiet: bool = False, interval: float = 10.0,
                 unit: str = "steps"):
        self.description = description
        self.total = total
        self.quiet = quiet
        self.interval = interval
        self.unit = unit
        self.completed = 0.0
        self.fields: dict[str, Any] = {}
        self._bar = None
        self._task = None
        self._start = time.perf_counter()
        self._last_line = self._start

    def __enter__(self) -> "ProgressReporter":
        if not self.quiet and _is_interactive():
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                 transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, info="")
        return self

    def update(self, completed: float | None = None, *, advance: float | None = None, **fields: Any) -> None:
        if completed is not None:
            self.completed = completed
        if advance is not None:
            self.completed += advance
        self.fields.update(fields)
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.completed, info=self._format_fields())
            return
        now = time.perf_counter()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._print_line()

    def log(self, message: str) -> None:
        """A message that should appear whatever the output is (unless quiet)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _format_fields(self) -> str:
        parts = []
        for key, value in self.fields.items():
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        return " ".join(parts)

    def _print_line(self) -> None:
        elapsed = time.perf_counter() - self._start
        pct = 100.0 * self.completed / self.total if self.total else 0.0
        print(f"[{self.description}] {self.completed:.0f}/{self.total:.0f} {self.unit} ({pct:.0f}%) "
              f"{elapsed:.1f}s {self._format_fields()}".rstrip(), file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif not self.quiet:
            self._print_line()
