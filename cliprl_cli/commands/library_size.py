"""Typer command: `cliprl library-size` (settings and their defaults:
:class:`cliprl_cli.clip_rl.config.LibrarySizeConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import LibrarySizeConfig
from .options import with_config


@with_config(LibrarySizeConfig, before="work")
def library_size_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.json, read by `cliprl report` "
                                                     "when it is ARTIFACTS/library_size)."),
    work: Optional[Path] = typer.Option(None, "--work", help="Keep base policies, heads and runs here (default: a "
                                                             "temporary directory, removed at the end)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary table on stderr."),
    cfg: LibrarySizeConfig = LibrarySizeConfig(),
) -> None:
    """Transfer vs the number of sources K on a generated grid-world suite (CLIP-RL's question 3).

    Trains a pool of 32 base policies, draws K sources per trial, aligns and fine-tunes two held-out targets by
    clip, language, uniform and scratch, with honest target names and with the paper's trap (wrong side).
    """
    from ..clip_rl.library_size import markdown, run_study

    _, raw = run_study(out, cfg, work=work)
    if not quiet:
        typer.echo(markdown(raw["summary"], raw["ks"]), err=True)
