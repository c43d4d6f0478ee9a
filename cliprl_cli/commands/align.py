"""Typer command: `cliprl align`."""

from __future__ import annotations

from pathlib import Path

import typer


def align_command(
    base: Path = typer.Option(..., "--base", "-b", help="Directory of base policies of one grid size "
                                                       "(BASE/<task>/policy.safetensors)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (heads.safetensors, heads.json, metrics.json)."),
    head: str = typer.Option("mlp", "--head", help="Projection head: linear or mlp (two layers)."),
    dim: int = typer.Option(32, "--dim", min=1, help="Shared embedding size."),
    hidden: int = typer.Option(128, "--hidden", min=1, help="Hidden units of mlp heads."),
    epochs: int = typer.Option(500, "--epochs", min=1, help="Full-batch Adam steps."),
    lr: float = typer.Option(1e-3, "--lr", min=0.0, help="Adam learning rate."),
    temperature: float = typer.Option(0.1, "--temperature", help="InfoNCE temperature delta (initial value if learnable)."),
    learn_temperature: bool = typer.Option(False, "--learn-temperature/--fixed-temperature",
                                           help="Learn log(delta) with the heads."),
    text_encoder: str = typer.Option("all-MiniLM-L6-v2", "--text-encoder",
                                     help="sentence-transformers model name or local path (default ships offline)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed of the heads' initialisation."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Align instruction embeddings with policy weights (CLIP-RL Algorithm 2, step 2).

    Trains two projection heads with the symmetric InfoNCE loss on the (instruction, policy) pairs of one grid size.
    """
    from ..align import AlignConfig, align

    metrics = align(base, out, AlignConfig(head=head, dim=dim, hidden=hidden, epochs=epochs, lr=lr,
                                           temperature=temperature, learn_temperature=learn_temperature,
                                           text_encoder=text_encoder, seed=seed), quiet=quiet)
    if not quiet:
        typer.echo(f"align: loss {metrics['initial_loss']:.4f} -> {metrics['final_loss']:.4f}, top-1 "
                   f"text->policy {metrics['top1_text_to_policy']:.2f}, policy->text "
                   f"{metrics['top1_policy_to_text']:.2f} -> {out}", err=True)
