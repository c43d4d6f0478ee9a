"""The `cliprl` command line. Commands are thin: they parse options and call plain, importable functions.

Each subcommand lives in ``cliprl_cli/commands/<name>.py`` and imports its heavy dependencies (torch,
sentence-transformers, open_clip, Meta-World) inside the function body, so ``cliprl --help`` stays fast; their
option defaults come from the config dataclasses of :mod:`cliprl_cli.clip_rl.config` (light: standard library only).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

# Help shown anywhere but a terminal (a batch log, `| less`, CI) is printed as plain text, which wraps long
# choices and defaults instead of cutting them with an ellipsis; a terminal keeps rich's panels. typer reads the
# variable once, on import; a value the user set wins, and ours is not passed on to child processes.
_PLAIN_HELP = not sys.stdout.isatty() and "TYPER_USE_RICH" not in os.environ
if _PLAIN_HELP:
    os.environ["TYPER_USE_RICH"] = "0"
import typer  # noqa: E402

if _PLAIN_HELP:
    del os.environ["TYPER_USE_RICH"]

from . import __version__  # noqa: E402
from .commands import align, furl, library_size, report, slurm, train_base, transfer
from .cpu_tuning import pin_numeric_environment
from .errors import EXIT_BAD_INPUT, CliprlError, PreemptedError

app = typer.Typer(
    name="cliprl",
    help=(
        "Language-guided RL research toolkit: CLIP-RL policy transfer (train-base, align, transfer) and FuRL "
        "fuzzy VLM rewards (furl), wired into a DVC pipeline (report).\n\n"
        "Exit codes: 0 ok; 1 internal error (a bug); 2 bad input, an unusable path or a full disk (one line "
        "error: ..., nothing half-written left behind); 3 not converged within the step budget; 75 interrupted by "
        "SIGTERM/SIGUSR1 (after a checkpoint, or before anything was written): rerun the same command to resume."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    # plain help (no terminal) is as wide as the terminal or COLUMNS says, up to 120 (click's own cap is 80)
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cliprl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Language-guided RL research toolkit."""


app.command("train-base")(train_base.train_base_command)
app.command("align")(align.align_command)
app.command("transfer")(transfer.transfer_command)
app.command("library-size")(library_size.library_size_command)
app.command("furl")(furl.furl_command)
app.add_typer(slurm.app, name="slurm")
app.command("report")(report.report_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the Typer app and turns every known failure into one ``error: ...`` line and its exit code.

    - :class:`CliprlError`: its own code (2 bad input, 3 not converged, 75 preempted);
    - ``OSError`` (a directory that cannot be created or written, a file where a directory belongs, a full disk,
      a read-only filesystem), ``UnicodeError`` (a file that is not UTF-8) and YAML errors: 2, naming the path;
    - click's usage errors: their own code (2); Ctrl-C: 130;
    - SIGTERM/SIGUSR1 before a run has installed its checkpointing handler (start-up: imports, loading inputs): 75,
      as after a checkpoint, since nothing was written yet and rerunning the command starts it afresh;
    - anything else is a bug: the traceback is printed and the exit code is 1.
    """
    previous = _install_startup_handlers()
    try:
        app(args=argv, standalone_mode=False)
    except CliprlError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except SystemExit as exc:  # typer.Exit / click's exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:
        return _fail(describe_os_error(exc), EXIT_BAD_INPUT)
    except UnicodeError as exc:
        return _fail(f"not valid text ({type(exc).__name__}: {_first_line(exc)})", EXIT_BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - click usage errors (typer vendors click) become one line too
        if _is_yaml_error(exc):
            return _fail(f"invalid YAML: {_first_line(exc)}", EXIT_BAD_INPUT)
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            return _fail(exc.format_message(), exc.exit_code)
        if type(exc).__name__ == "Abort":
            return _fail("aborted", 130)
        raise
    finally:
        _restore_handlers(previous)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)  # always one line
    return code


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """``No space left on device: /path`` (strerror, then the path or paths), or the exception's first line."""
    what = exc.strerror or _first_line(exc)
    if exc.filename is not None:
        what += f": {os.fsdecode(exc.filename)}"
        if exc.filename2 is not None:
            what += f" -> {os.fsdecode(exc.filename2)}"
    return what


def _is_yaml_error(exc: BaseException) -> bool:
    """A PyYAML error, recognised without importing yaml (``cliprl --help`` stays light)."""
    return any(c.__name__ == "YAMLError" and c.__module__.split(".")[0] == "yaml" for c in type(exc).__mro__)


def _startup_signal(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal API
    raise PreemptedError(f"interrupted by {signal.Signals(signum).name} before the run started checkpointing; "
                         "nothing was written: run the same command again")


def _install_startup_handlers() -> dict[int, Any]:
    """SIGTERM/SIGUSR1 -> exit 75 until a run's PreemptionGuard takes them over (and after it hands them back)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _startup_signal) for sig in (signal.SIGTERM, signal.SIGUSR1)}


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        if signal.getsignal(sig) is _startup_signal:
            signal.signal(sig, handler)


def run() -> None:  # pragma: no cover - console script shim
    # Before any command imports torch or NumPy: they read the pins when they load (see cpu_tuning.py).
    pin_numeric_environment()
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    pin_numeric_environment()
    sys.exit(main())
