"""Typer command: `cliprl transfer` (defaults from :class:`cliprl_cli.clip_rl.config.TransferConfig`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from ..clip_rl.config import ALL_METHODS, METHODS, TransferConfig, Weighting, parse_methods, parse_sources

_D = TransferConfig()


def _complete_methods(incomplete: str) -> List[str]:
    """Shell completion of --methods: the known names after the last comma."""
    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [prefix + m for m in ALL_METHODS if m.startswith(last)]


def transfer_command(
    target: str = typer.Option(..., "--target", help="Target instruction (must be in the task suite)."),
    base: Path = typer.Option(..., "--base", "-b", help="Directory of base policies of one grid size."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.json, curves.json, metrics.json)."),
    align_dir: Optional[Path] = typer.Option(None, "--align", help="Directory of `cliprl align` heads "
                                                                  "(needed by clip and nearest-clip)."),
    methods: str = typer.Option(",".join(_D.methods), "--methods", autocompletion=_complete_methods,
                                help=f"Comma-separated, any of: {', '.join(ALL_METHODS)} (oracle-group: "
                                     "colour-shape suites only; not in the default)."),
    trials: int = typer.Option(_D.trials, "--trials", min=1, help="Fine-tuning trials per method (distinct seeds, "
                                                                  "shared across methods)."),
    seed: int = typer.Option(_D.seed, "--seed", min=0, help="Base seed; trial k uses seed*1000+k."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite; "
                                                               "e.g. cliprl_cli/data/colour_shape_by_colour.yaml)."),
    sources: Optional[str] = typer.Option(None, "--sources",
                                          help="Comma-separated source instructions (default: the suite's "
                                               "base_tasks; every policy under --base if it lists none)."),
    max_env_steps: int = typer.Option(_D.ppo.max_env_steps, "--max-env-steps", min=1,
                                      help="Budget per fine-tuning; a run that hits it is censored at the budget."),
    num_envs: Optional[int] = typer.Option(None, "--num-envs", min=1,
                                           help=f"Environments stepped together (num_envs x num_steps env steps per "
                                                f"PPO iteration = the resolution of steps to convergence; default "
                                                f"{_D.ppo.num_envs}, colour-shape suites 256)."),
    num_steps: int = typer.Option(_D.ppo.num_steps, "--num-steps", min=1, help="Rollout length per PPO iteration."),
    auc_horizon: int = typer.Option(_D.auc_horizon, "--auc-horizon", min=1,
                                    help="Env steps over which each trial's success-rate curve is averaged (AUC); "
                                         "the same for every method."),
    lr: float = typer.Option(_D.ppo.lr, "--lr", min=0.0, help="Adam learning rate for fine-tuning."),
    weighting: Weighting = typer.Option(_D.weighting, "--weighting",
                                        help="normalized (the paper's d_i/sum d, negatives clamped to 0, uniform if "
                                             "none positive) or softmax."),
    softmax_temperature: float = typer.Option(_D.softmax_temperature, "--softmax-temperature",
                                              help="Temperature of --weighting softmax."),
    allow_target_in_sources: bool = typer.Option(_D.allow_target_in_sources, "--allow-target-in-sources",
                                                 help="Permit a source policy trained on the target itself."),
    threads: int = typer.Option(_D.threads, "--threads", min=1,
                                help="torch CPU threads per run (fixed for reproducible bytes)."),
    workers: int = typer.Option(_D.workers, "--workers", "-j", min=1,
                                help="Trials run in parallel processes (results do not depend on it)."),
    checkpoint_every: float = typer.Option(_D.checkpoint_every_s, "--checkpoint-every", min=0.0,
                                           help="Seconds between checkpoints; SIGTERM/SIGUSR1 checkpoint and exit 75."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR",
                                               help="Also write the learning curves as TensorBoard scalars under DIR "
                                                    "once the run has finished (needs: pip install "
                                                    "'cliprl[tensorboard]'); keep DIR outside DVC-tracked outputs."),
) -> None:
    """Transfer to a target task by each method (Algorithms 1 and 2, baselines) and count steps to convergence.

    Each method's initial policy is fine-tuned with the train-base trainer and convergence rule over K trials.
    """
    from ..tblog import export_transfer, require
    from ..clip_rl.transfer import transfer

    require(tensorboard)
    results = transfer(target, base, out, align_dir=align_dir, methods=parse_methods(methods), trials=trials,
                       seed=seed, tasks_file=tasks, sources=parse_sources(sources), auc_horizon=auc_horizon,
                       ppo=replace(_D.ppo, max_env_steps=max_env_steps, num_steps=num_steps, lr=lr), num_envs=num_envs,
                       weighting=weighting.value, softmax_temperature=softmax_temperature,
                       allow_target_in_sources=allow_target_in_sources, threads=threads, workers=workers,
                       checkpoint_every_s=checkpoint_every, quiet=quiet)
    if tensorboard is not None:
        export_transfer(tensorboard, out, grid=results.get("grid_size"))
    if not quiet:
        for method, s in results["summary"].items():
            typer.echo(f"{method:>17}: mean {s['mean']:.0f} steps (95% CI {s['ci95'][0]:.0f}-{s['ci95'][1]:.0f}), "
                       f"censored {s['censored']}/{s['n']}", err=True)
        if "ratio_clip_language" in results:
            r = results["ratio_clip_language"]
            typer.echo(f"clip/language ratio {r['ratio']:.3f} (95% CI {r['ci95'][0]:.3f}-{r['ci95'][1]:.3f})", err=True)
