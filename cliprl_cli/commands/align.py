"""Typer command: `cliprl align` (defaults from :class:`cliprl_cli.clip_rl.config.AlignConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import AlignConfig, HeadKind, PolicyRepr, parse_sources

_D = AlignConfig()


def align_command(
    base: Path = typer.Option(..., "--base", "-b", help="Directory of base policies of one grid size "
                                                       "(BASE/<task>/policy.safetensors)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (heads.safetensors, heads.json, metrics.json)."),
    head: HeadKind = typer.Option(_D.head, "--head", help="Projection head: linear, or mlp (two layers)."),
    dim: int = typer.Option(_D.dim, "--dim", min=1, help="Shared embedding size."),
    hidden: int = typer.Option(_D.hidden, "--hidden", min=1, help="Hidden units of mlp heads."),
    epochs: int = typer.Option(_D.epochs, "--epochs", min=1, help="Full-batch Adam steps."),
    lr: float = typer.Option(_D.lr, "--lr", min=0.0, help="Adam learning rate."),
    temperature: float = typer.Option(_D.temperature, "--temperature",
                                      help="InfoNCE temperature delta (initial value if learnable)."),
    learn_temperature: bool = typer.Option(_D.learn_temperature, "--learn-temperature/--fixed-temperature",
                                           help="Learn log(delta) with the heads, or keep it fixed."),
    text_encoder: str = typer.Option(_D.text_encoder, "--text-encoder",
                                     help="sentence-transformers model name or local path (default ships offline)."),
    seed: int = typer.Option(_D.seed, "--seed", min=0, help="Random seed of the heads' initialisation."),
    policy_repr: PolicyRepr = typer.Option(_D.policy_repr, "--policy-repr",
                                           help="What the policy head reads: weights (flattened parameters, the "
                                                "paper) or behaviour (action probabilities on every grid cell)."),
    sources: Optional[str] = typer.Option(None, "--sources",
                                          help="Comma-separated source instructions (default: the suite's "
                                               "base_tasks; every policy under --base if it lists none)."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite; "
                                                               "e.g. cliprl_cli/data/colour_shape_by_colour.yaml)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Align instruction embeddings with policy weights (CLIP-RL Algorithm 2, step 2).

    Trains two projection heads with the symmetric InfoNCE loss on the (instruction, policy) pairs of one grid size.
    """
    from ..clip_rl.align import align

    metrics = align(base, out, AlignConfig(head=head, dim=dim, hidden=hidden, epochs=epochs, lr=lr,
                                           temperature=temperature, learn_temperature=learn_temperature,
                                           text_encoder=text_encoder, seed=seed, policy_repr=policy_repr),
                    sources=parse_sources(sources), tasks_file=tasks, quiet=quiet)
    if not quiet:
        typer.echo(f"align: loss {metrics['initial_loss']:.4f} -> {metrics['final_loss']:.4f}, top-1 "
                   f"text->policy {metrics['top1_text_to_policy']:.2f}, policy->text "
                   f"{metrics['top1_policy_to_text']:.2f} -> {out}", err=True)
