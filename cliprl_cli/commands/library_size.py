"""Typer command: `cliprl library-size` (defaults from :class:`cliprl_cli.clip_rl.config.LibrarySizeConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import LibrarySizeConfig, PolicyRepr
from ..errors import CliprlError

_D = LibrarySizeConfig()


def parse_ks(text: str) -> tuple[int, ...]:
    """The comma-separated ``--ks`` value as integers (one-line error otherwise)."""
    try:
        return tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise CliprlError(f"--ks must be comma-separated integers, got {text!r}") from None


def library_size_command(
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.json, read by `cliprl report` "
                                                     "when it is ARTIFACTS/library_size)."),
    grid_size: int = typer.Option(_D.grid_size, "--grid-size", "-n", help="Side N of the grid (8..26)."),
    ks: str = typer.Option(",".join(str(k) for k in _D.ks), "--ks",
                           help="Comma-separated numbers of sources K (2..32)."),
    trials: int = typer.Option(_D.trials, "--trials", min=1, help="Source draws (and fine-tuning seeds) per K."),
    seed: int = typer.Option(_D.seed, "--seed", min=0, help="Seed of the pool's base policies."),
    policy_repr: PolicyRepr = typer.Option(_D.policy_repr, "--policy-repr",
                                           help="What the heads' policy side reads: weights or behaviour."),
    workers: int = typer.Option(_D.workers, "--workers", "-j", min=1,
                                help="Parallel processes (results do not depend on it)."),
    work: Optional[Path] = typer.Option(None, "--work", help="Keep base policies, heads and runs here (default: a "
                                                             "temporary directory, removed at the end)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary table on stderr."),
) -> None:
    """Transfer vs the number of sources K on a generated grid-world suite (CLIP-RL's question 3).

    Trains a pool of 32 base policies, draws K sources per trial, aligns and fine-tunes two held-out targets by
    clip, language, uniform and scratch, with honest target names and with the paper's trap (wrong side).
    """
    from ..clip_rl.library_size import markdown, run_study

    config = LibrarySizeConfig(grid_size=grid_size, ks=parse_ks(ks), trials=trials, seed=seed,
                               policy_repr=policy_repr, workers=workers)
    _, raw = run_study(out, config, work=work)
    if not quiet:
        typer.echo(markdown(raw["summary"], raw["ks"]), err=True)
