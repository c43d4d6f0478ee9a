"""Typer command: `cliprl transfer` (settings and their defaults: :class:`cliprl_cli.clip_rl.config.TransferConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import TransferConfig, parse_sources
from .common import quiet_option, tensorboard_option
from .options import with_config


@with_config(TransferConfig, ppo=("max_env_steps", "num_steps", "lr", "eval_episodes", "success_threshold",
                                 "bot_length_bound"), before="quiet")
def transfer_command(
    target: str = typer.Option(..., "--target", help="Target instruction (must be in the task suite)."),
    base: Path = typer.Option(..., "--base", "-b", help="Directory of base policies of one grid size."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.json, curves.json, metrics.json)."),
    align_dir: Optional[Path] = typer.Option(None, "--align", help="Directory of `cliprl align` heads "
                                                                  "(needed by clip and nearest-clip)."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite; "
                                                               "e.g. cliprl_cli/data/colour_shape_by_colour.yaml)."),
    sources: Optional[str] = typer.Option(None, "--sources",
                                          help="Comma-separated source instructions (default: the suite's "
                                               "base_tasks; every policy under --base if it lists none)."),
    quiet: bool = quiet_option(),
    tensorboard: Optional[Path] = tensorboard_option(),
    cfg: TransferConfig = TransferConfig(),
) -> None:
    """Transfer to a target task by each method (Algorithms 1 and 2, baselines) and count steps to convergence.

    Each method's initial policy is fine-tuned with the train-base trainer and convergence rule over K trials.
    """
    from ..clip_rl.transfer import transfer
    from ..tblog import export_transfer, require

    require(tensorboard)
    results = transfer(target, base, out, cfg, align_dir=align_dir, tasks_file=tasks, sources=parse_sources(sources),
                       quiet=quiet)
    if tensorboard is not None:
        export_transfer(tensorboard, out, grid=results.get("grid_size"))
    if not quiet:
        for method, s in results["summary"].items():
            # an interval from fewer than 3 trials says nothing: none is printed
            spread = f"95% CI {s['ci95'][0]:.0f}-{s['ci95'][1]:.0f}" if s["n"] >= 3 else "too few trials for a CI"
            reach = results["success_summary"][method]
            typer.echo(f"{method:>17}: mean {s['mean']:.0f} steps ({spread}), censored {s['censored']}/{s['n']}; "
                       f"success from every start: mean {reach['mean']:.0f}, censored {reach['censored']}",
                       err=True)
        if "ratio_clip_language" in results and cfg.trials >= 3:
            typer.echo(ratio_text(results["ratio_clip_language"]), err=True)


def ratio_text(ratio: dict) -> str:
    """The clip/language line; results.json stores an infinite ratio or bound (language's mean, or a resample's,
    is 0 steps: both starts can meet the rule before fine-tuning) as null, printed as inf."""
    def num(value: float | None) -> str:
        return "inf" if value is None else f"{value:.3f}"
    return f"clip/language ratio {num(ratio['ratio'])} (95% CI {num(ratio['ci95'][0])}-{num(ratio['ci95'][1])})"
