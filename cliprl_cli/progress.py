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


def _pct(value: Any) -> str:
    return f"{100 * value:.0f}%" if isinstance(value, (int, float)) else "-"


def _ratio(value: Any) -> str:
    if not isinstance(value, (int, float)) or value != value or value == float("inf"):
        return "-"
    return f"{value:.2f}x"


class ConvergenceProgress(ProgressReporter):
    """``train-base``'s progress: what a person waits for is the convergence rule, not the step budget.

    The bar is the greedy success rate from every start (the rule needs 100%), beside the mean path length over the
    shortest one (the rule needs at most ``1 + tolerance``) and the env steps so far out of the budget; no ETA (the
    run stops when the rule holds, usually long before the budget). ``update(env_steps, success=, path_ratio=)`` is
    what :func:`cliprl_cli.clip_rl.ppo.check_convergence` already calls after every evaluation.
    """

    def __init__(self, description: str, budget: int, *, tolerance: float, quiet: bool = False,
                 interval: float = 10.0, success_threshold: float | None = None):
        super().__init__(description, budget, quiet=quiet, interval=interval, unit="env steps")
        self.tolerance = tolerance
        # random layouts (BabyAI): success on evaluation seeds against a threshold, lengths against BabyAI's bot
        self.success_threshold = success_threshold

    def __enter__(self) -> "ConvergenceProgress":
        if not self.quiet and _is_interactive():
            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=20), TimeElapsedColumn(),
                                 TextColumn("{task.fields[info]}"), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=1.0, info=self._format_fields())
        return self

    def update(self, completed: float | None = None, *, advance: float | None = None, **fields: Any) -> None:
        if completed is not None:
            self.completed = completed
        self.fields.update(fields)
        if self.quiet:
            return
        if self._bar is not None:
            success = self.fields.get("success")
            self._bar.update(self._task, completed=success if isinstance(success, (int, float)) else 0.0,
                             info=self._format_fields())
            return
        now = time.perf_counter()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._print_line()

    def _format_fields(self) -> str:
        if self.success_threshold is not None:
            return (f"success {_pct(self.fields.get('success'))} of evaluation seeds (rule: >= "
                    f"{_pct(self.success_threshold)}), length {_ratio(self.fields.get('path_ratio'))} the bot's "
                    f"(rule: <= {1 + self.tolerance:.2f}x), {self.completed:,.0f} env steps (budget {self.total:,.0f})")
        return (f"success {_pct(self.fields.get('success'))} of starts (rule: 100%), path "
                f"{_ratio(self.fields.get('path_ratio'))} optimal (rule: <= {1 + self.tolerance:.2f}x), "
                f"{self.completed:,.0f} env steps (budget {self.total:,.0f})")

    def _print_line(self) -> None:
        elapsed = time.perf_counter() - self._start
        print(f"[{self.description}] {self._format_fields()} {elapsed:.1f}s", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ transfer
def _ignore_signals() -> None:
    """The board's server process outlives a SIGTERM/SIGUSR1/SIGINT sent to the whole process group (scancel),
    so the trials can still report while they checkpoint; the parent shuts it down."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


class TrialReporter:
    """What a fine-tuning trial hands to ``train_ppo`` as its ``progress``: it posts (env steps, success rate) to the
    parent's board at most every ``every`` seconds, and never raises (progress must not fail a trial)."""

    def __init__(self, board: Any, key: str, every: float = 0.25):
        self.board, self.key, self.every = board, key, every
        self._last = 0.0

    def update(self, completed: float | None = None, **fields: Any) -> None:
        now = time.perf_counter()
        if now - self._last < self.every:
            return
        self._last = now
        try:
            self.board[self.key] = (int(completed or 0), fields.get("success"))
        except Exception:  # noqa: BLE001 - a broken board (the parent is shutting down) is not the trial's problem
            pass

    def log(self, message: str) -> None:  # noqa: ARG002 - a trial's own messages stay quiet under the bar
        return


def trial_reporter(job: Any) -> TrialReporter | None:
    """The reporter of one transfer job (None when progress is off): ``job`` carries the ``progress_board`` put
    there by :class:`TransferProgress` and its ``method`` and ``trial``."""
    board = job.progress_board
    return None if board is None else TrialReporter(board, f"{job.method} #{job.trial}")


class TransferProgress(ProgressReporter):
    """``transfer``'s progress: finished runs on the bar, and the env steps (and success rate) *within* each running
    trial beside it, refreshed twice a second, so a long trial visibly moves.

    Trials run in worker processes: on entering, every job gets a ``progress_board`` (a shared dict served by a
    small manager process, or a plain dict when trials run in this process) that :func:`trial_reporter` writes to;
    a background thread reads it. In a batch log the periodic plain line lists the running trials the same way.
    """

    def __init__(self, description: str, total: float, *, jobs: list[Any], workers: int,
                 quiet: bool = False, interval: float = 10.0):
        super().__init__(description, total, quiet=quiet, interval=interval, unit="runs")
        self.jobs, self.workers = jobs, workers
        self.board: Any = None
        self._manager: Any = None
        self._stop: Any = None
        self._thread: Any = None

    def __enter__(self) -> "TransferProgress":
        super().__enter__()
        if self.quiet:
            return self
        if self.workers > 1 and len(self.jobs) > 1:
            import multiprocessing
            from multiprocessing.managers import SyncManager

            self._manager = SyncManager(ctx=multiprocessing.get_context("spawn"))
            self._manager.start(_ignore_signals)
            self.board = self._manager.dict()
        else:
            self.board = {}
        for job in self.jobs:
            job.progress_board = self.board
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh_loop, name="cliprl-progress", daemon=True)
        self._thread.start()
        return self

    def running(self) -> dict[str, tuple[int, Any]]:
        """Trial -> (env steps, success rate) of the trials that posted and have not finished."""
        try:
            return dict(self.board.items()) if self.board is not None else {}
        except Exception:  # noqa: BLE001 - the board's server is gone (shutting down)
            return {}

    def update(self, completed: float | None = None, *, advance: float | None = None, **fields: Any) -> None:
        method, trial = fields.get("method"), fields.get("trial")
        if method is not None and trial is not None and self.board is not None:
            try:
                self.board.pop(f"{method} #{trial}", None)
            except Exception:  # noqa: BLE001
                pass
        fields.pop("trial", None)
        super().update(completed, advance=advance, **fields)

    def _format_fields(self) -> str:
        done = super()._format_fields()
        running = sorted(self.running().items())
        if not running:
            return done
        now = "; ".join(f"{name} {steps:,} env steps" + (f" ({_pct(success)})" if success is not None else "")
                        for name, (steps, success) in running)
        return f"{done} | running: {now}" if done else f"running: {now}"

    def _refresh_loop(self) -> None:
        while not self._stop.wait(0.5):
            if self._bar is not None:
                self._bar.update(self._task, info=self._format_fields())
            elif time.perf_counter() - self._last_line >= self.interval:
                self._last_line = time.perf_counter()
                self._print_line()

    def __exit__(self, *exc: Any) -> None:
        if self._stop is not None:
            self._stop.set()
            self._thread.join(timeout=2)
        for job in self.jobs:
            job.progress_board = None
        self.board = None  # the last line lists no stale running trial
        super().__exit__(*exc)
        if self._manager is not None:
            self._manager.shutdown()
