"""Typer command: `cliprl train-base` (settings and their defaults: :class:`cliprl_cli.clip_rl.config.TrainBaseConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..clip_rl.config import TrainBaseConfig
from ..errors import CliprlError
from .common import quiet_option, tensorboard_option
from .options import with_config


@with_config(TrainBaseConfig, ppo=("max_env_steps", "num_envs", "num_steps", "lr", "eval_episodes", "success_threshold",
                                  "bot_length_bound"), before="quiet")
def train_base_command(
    task: Optional[str] = typer.Option(None, "--task", "-t",
                                       help="Instruction from the task suite, e.g. \"top left first\"."),
    all_tasks: bool = typer.Option(False, "--all", help="Train every base_tasks entry of the suite, each into "
                                                         "OUT/<slug> (e.g. OUT/top-left-first)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (policy.safetensors, policy.json, curve.json); "
                                                     "with --all, the library directory (one folder per task)."),
    tasks: Optional[Path] = typer.Option(None, "--tasks", help="Task-suite YAML (default: the paper's suite; "
                                                               "e.g. cliprl_cli/data/colour_shape_by_colour.yaml)."),
    quiet: bool = quiet_option(),
    tensorboard: Optional[Path] = tensorboard_option(),
    cfg: TrainBaseConfig = TrainBaseConfig(),
) -> None:
    """Train a base policy (PPO, MLP) for one instruction until it converges.

    Converged: the greedy policy reaches the goal from every start cell (colour-shape: every cell x direction) with a
    mean path within 5% of the shortest. BabyAI suites (random layouts): greedy success on fixed evaluation seeds at
    least --success-threshold, episodes at most 1 + --bot-length-bound times as long as BabyAI's bot's.
    Exit 3 (and no artifact) if the step budget runs out first.
    """
    if (task is None) == (not all_tasks):
        raise CliprlError("give exactly one of --task INSTRUCTION and --all")
    from ..clip_rl.train_base import slug, train_base, train_base_all
    from ..tblog import export_base, require

    require(tensorboard)
    if all_tasks:
        trained = [out / slug(t) for t in train_base_all(out, cfg, tasks_file=tasks, quiet=quiet)]
    else:
        train_base(task, out, cfg, tasks_file=tasks, quiet=quiet)
        trained = [out]
    for directory in trained if tensorboard is not None else []:
        export_base(tensorboard, directory, grid=cfg.grid_size, seed=cfg.seed)
