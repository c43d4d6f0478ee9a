"""The `cliprl` command line. Commands are thin: they parse options and call plain, importable functions.

Each subcommand lives in ``cliprl_cli/commands/<name>.py`` and imports its heavy dependencies (torch,
sentence-transformers, open_clip, Meta-World) inside the function body, so ``cliprl --help`` stays fast; their
option defaults come from the config dataclasses of :mod:`cliprl_cli.config` (light: standard library only).
"""

from __future__ import annotations

import sys

import typer

from . import __version__
from .commands import align, furl, report, slurm, train_base, transfer
from .errors import CliprlError

app = typer.Typer(
    name="cliprl",
    help=(
        "Language-guided RL research toolkit: CLIP-RL policy transfer (train-base, align, transfer) and FuRL "
        "fuzzy VLM rewards (furl), wired into a DVC pipeline (report).\n\n"
        "Exit codes: 0 ok; 1 internal error; 2 bad input; 3 not converged within the step budget; "
        "75 interrupted by SIGTERM/SIGUSR1 after writing a checkpoint (rerun the same command to resume)."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
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
app.command("furl")(furl.furl_command)
app.add_typer(slurm.app, name="slurm")
app.command("report")(report.report_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the Typer app, turning a CliprlError into one line on stderr and its exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except CliprlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit / click's exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - click usage errors (typer vendors click) become one line too
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            print("error: aborted", file=sys.stderr)
            return 130
        raise
    return 0


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
