"""Typer command: `cliprl train-base` (defaults from :class:`cliprl_cli.clip_rl.config.TrainBaseConfig`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import TrainBaseConfig
from ..errors import CliprlError

_D = TrainBaseConfig()


def train_base_command(
    task: Optional[str] = typer.Option(None, "--task", "-t",
                                       help="Instruction from the task suite, e.g. \"top left first\"."),
    all_tasks: bool = typer.Option(False, "--all", help="Train every base_tasks entry of the suite, each into "
                                                         "OUT/<slug> (e.g. OUT/top-left-first)."),
    grid_size: Optional[int] = typer.Option(None, "--grid-size", "-n", min=2,
                                            help=f"Side N of the N x N grid (default {_D.grid_size}); not given "
                                                 "with a suite that fixes its world (colour-shape)."),
    seed: int = typer.Option(_D.seed, "--seed", min=0, help="Random seed (use $SLURM_ARRAY_TASK_ID in arrays)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (policy.safetensors, policy.json, curve.json); "
                                                     "with --all, the library directory (one folder per task)."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite; "
                                                               "e.g. cliprl_cli/data/colour_shape_by_colour.yaml)."),
    hidden: int = typer.Option(_D.hidden, "--hidden", min=1,
                               help="Hidden units per layer (same for every policy of a size)."),
    layers: int = typer.Option(_D.layers, "--layers", min=1, help="Hidden layers."),
    max_env_steps: int = typer.Option(_D.ppo.max_env_steps, "--max-env-steps", min=1,
                                      help="Step budget; a run that has not converged by then exits 3."),
    num_envs: int = typer.Option(_D.ppo.num_envs, "--num-envs", min=1, help="Environments stepped together."),
    num_steps: int = typer.Option(_D.ppo.num_steps, "--num-steps", min=1,
                                  help="Rollout length per environment per PPO iteration."),
    lr: float = typer.Option(_D.ppo.lr, "--lr", min=0.0, help="Adam learning rate."),
    threads: int = typer.Option(_D.threads, "--threads", min=1,
                                help="torch CPU threads; fixed so the same seed gives the same bytes on any machine."),
    checkpoint_every: float = typer.Option(_D.checkpoint_every_s, "--checkpoint-every", min=0.0,
                                           help="Seconds between checkpoints (also written on SIGTERM/SIGUSR1, "
                                                "then exit 75; rerunning the command resumes)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR",
                                               help="Also write the learning curves as TensorBoard scalars under DIR "
                                                    "once the run has finished (needs: pip install "
                                                    "'cliprl[tensorboard]'); keep DIR outside DVC-tracked outputs."),
) -> None:
    """Train a base policy (PPO, MLP) for one instruction until it converges.

    Converged: the greedy policy reaches the goal from every start cell (colour-shape: every cell x direction) with a
    mean path within 5% of the shortest.
    Exit 3 (and no artifact) if the step budget runs out first.
    """
    if (task is None) == (not all_tasks):
        raise CliprlError("give exactly one of --task INSTRUCTION and --all")
    from ..tblog import export_base, require
    from ..clip_rl.train_base import slug, train_base, train_base_all

    require(tensorboard)

    options = dict(tasks_file=tasks, hidden=hidden, layers=layers,
                   ppo=replace(_D.ppo, max_env_steps=max_env_steps, num_envs=num_envs, num_steps=num_steps, lr=lr),
                   threads=threads, checkpoint_every_s=checkpoint_every, quiet=quiet)
    if all_tasks:
        trained = [out / slug(t) for t in train_base_all(grid_size, seed, out, **options)]
    else:
        train_base(task, grid_size, seed, out, **options)
        trained = [out]
    for directory in trained if tensorboard is not None else []:
        export_base(tensorboard, directory, grid=grid_size, seed=seed)
