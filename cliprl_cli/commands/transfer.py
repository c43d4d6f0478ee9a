"""Typer command: `cliprl transfer`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def transfer_command(
    target: str = typer.Option(..., "--target", help="Target instruction (must be in the task suite)."),
    base: Path = typer.Option(..., "--base", "-b", help="Directory of base policies of one grid size."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.json, curves.json, metrics.json)."),
    align_dir: Optional[Path] = typer.Option(None, "--align", help="Directory of `cliprl align` heads "
                                                                  "(needed by clip and nearest-clip)."),
    methods: str = typer.Option(",".join(("scratch", "language", "clip", "uniform", "nearest-language",
                                          "nearest-clip")), "--methods",
                                help="Comma-separated: scratch, language, clip, uniform, nearest-language, nearest-clip."),
    trials: int = typer.Option(10, "--trials", min=1, help="Fine-tuning trials per method (distinct seeds, "
                                                            "shared across methods)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Base seed; trial k uses seed*1000+k."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite)."),
    max_env_steps: int = typer.Option(2_000_000, "--max-env-steps", min=1,
                                      help="Budget per fine-tuning; a run that hits it is censored at the budget."),
    num_envs: int = typer.Option(256, "--num-envs", min=1, help="Environments stepped together."),
    num_steps: int = typer.Option(16, "--num-steps", min=1, help="Rollout length per PPO iteration."),
    lr: float = typer.Option(2.5e-3, "--lr", min=0.0, help="Adam learning rate for fine-tuning."),
    weighting: str = typer.Option("normalized", "--weighting",
                                  help="normalized (the paper's d_i/sum d, negatives clamped to 0, uniform if none "
                                       "positive) or softmax."),
    softmax_temperature: float = typer.Option(0.1, "--softmax-temperature", help="Temperature of --weighting softmax."),
    allow_target_in_sources: bool = typer.Option(False, "--allow-target-in-sources",
                                                 help="Permit a source policy trained on the target itself."),
    threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads per run (fixed for reproducible bytes)."),
    workers: int = typer.Option(1, "--workers", "-j", min=1,
                                help="Trials run in parallel processes (results do not depend on it)."),
    checkpoint_every: float = typer.Option(60.0, "--checkpoint-every", min=0.0,
                                           help="Seconds between checkpoints; SIGTERM/SIGUSR1 checkpoint and exit 75."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Transfer to a target task by each method (Algorithms 1 and 2, baselines) and count steps to convergence.

    Each method's initial policy is fine-tuned with the train-base trainer and convergence rule over K trials.
    """
    from ..ppo import PPOConfig
    from ..transfer import transfer

    results = transfer(target, base, out, align_dir=align_dir,
                       methods=[m.strip() for m in methods.split(",") if m.strip()], trials=trials, seed=seed,
                       tasks_file=tasks, ppo=PPOConfig(max_env_steps=max_env_steps, num_envs=num_envs,
                                                       num_steps=num_steps, lr=lr),
                       weighting=weighting, softmax_temperature=softmax_temperature,
                       allow_target_in_sources=allow_target_in_sources, threads=threads, workers=workers,
                       checkpoint_every_s=checkpoint_every, quiet=quiet)
    if not quiet:
        for method, s in results["summary"].items():
            typer.echo(f"{method:>17}: mean {s['mean']:.0f} steps (95% CI {s['ci95'][0]:.0f}-{s['ci95'][1]:.0f}), "
                       f"censored {s['censored']}/{s['n']}", err=True)
        if "ratio_clip_language" in results:
            r = results["ratio_clip_language"]
            typer.echo(f"clip/language ratio {r['ratio']:.3f} (95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})", err=True)
