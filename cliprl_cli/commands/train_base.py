"""Typer command: `cliprl train-base`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train_base_command(
    task: str = typer.Option(..., "--task", "-t", help="Instruction from the task suite, e.g. \"top left first\"."),
    grid_size: int = typer.Option(10, "--grid-size", "-n", min=2, help="Side N of the N x N grid."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed (use $SLURM_ARRAY_TASK_ID in arrays)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (policy.safetensors, policy.json, curve.json)."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite)."),
    hidden: int = typer.Option(64, "--hidden", min=1, help="Hidden units per layer (same for every policy of a size)."),
    layers: int = typer.Option(2, "--layers", min=1, help="Hidden layers."),
    max_env_steps: int = typer.Option(2_000_000, "--max-env-steps", min=1,
                                      help="Step budget; a run that has not converged by then exits 3."),
    num_envs: int = typer.Option(256, "--num-envs", min=1, help="Environments stepped together."),
    num_steps: int = typer.Option(16, "--num-steps", min=1, help="Rollout length per environment per PPO iteration."),
    lr: float = typer.Option(2.5e-3, "--lr", min=0.0, help="Adam learning rate."),
    threads: int = typer.Option(1, "--threads", min=1,
                                help="torch CPU threads; fixed so the same seed gives the same bytes on any machine."),
    checkpoint_every: float = typer.Option(60.0, "--checkpoint-every", min=0.0,
                                           help="Seconds between checkpoints (also written on SIGTERM/SIGUSR1, "
                                                "then exit 75; rerunning the command resumes)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Train a base policy (PPO, MLP) for one instruction until it converges.

    Converged: the greedy policy reaches the goal from every start cell with a mean path within 5% of the shortest.
    Exit 3 (and no artifact) if the step budget runs out first.
    """
    from ..ppo import PPOConfig
    from ..train_base import train_base

    train_base(task, grid_size, seed, out, tasks_file=tasks, hidden=hidden, layers=layers,
               ppo=PPOConfig(max_env_steps=max_env_steps, num_envs=num_envs, num_steps=num_steps, lr=lr),
               threads=threads, checkpoint_every_s=checkpoint_every, quiet=quiet)
