"""Typer command: `cliprl align` (settings and their defaults: :class:`cliprl_cli.clip_rl.config.AlignConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import AlignConfig, parse_sources
from .common import quiet_option
from .options import with_config


@with_config(AlignConfig, before="sources")
def align_command(
    base: Path = typer.Option(..., "--base", "-b", help="Directory of base policies of one grid size "
                                                       "(BASE/<task>/policy.safetensors)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (heads.safetensors, heads.json, metrics.json)."),
    sources: Optional[str] = typer.Option(None, "--sources",
                                          help="Comma-separated source instructions (default: the suite's "
                                               "base_tasks; every policy under --base if it lists none)."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite; "
                                                               "e.g. cliprl_cli/data/colour_shape_by_colour.yaml)."),
    quiet: bool = quiet_option(),
    cfg: AlignConfig = AlignConfig(),
) -> None:
    """Align instruction embeddings with policy weights (CLIP-RL Algorithm 2, step 2).

    Trains two projection heads with the symmetric InfoNCE loss on the (instruction, policy) pairs of one grid size.
    """
    from ..clip_rl.align import align

    metrics = align(base, out, cfg, sources=parse_sources(sources), tasks_file=tasks, quiet=quiet)
    if not quiet:
        typer.echo(f"align: loss {metrics['initial_loss']:.4f} -> {metrics['final_loss']:.4f}, top-1 "
                   f"text->policy {metrics['top1_text_to_policy']:.2f}, policy->text "
                   f"{metrics['top1_policy_to_text']:.2f} -> {out}", err=True)
