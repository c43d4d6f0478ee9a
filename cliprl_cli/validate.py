"""Range checks for option values and sizes: every check fails with one line (:class:`CliprlError`, exit 2).

Standard library only (the config dataclasses call these from ``__post_init__``/``validate``, and ``cliprl --help``
must not import torch). Two kinds of rule:

- **floats**: every float setting must be finite (NaN and infinity are refused: a NaN learning rate trains
  nothing and ends in NaN weights and non-JSON metrics); temperatures, learning rates and other scales must be
  positive, margins and coefficients non-negative, probabilities and discounts in [0, 1].
- **sizes**: documented upper bounds, so a typo (``--grid-size 100000``) is a clear error instead of gigabytes
  allocated and then a traceback. The bounds are far above anything the papers use:

  ===========================  ===========  ==========================================================
  setting                      bound        why
  ===========================  ===========  ==========================================================
  grid size N                  2 .. 128     the paper uses 8-25; the policy input is 2N, cells N^2
  hidden units / layers        <= 1024 / 8  the paper's policy is 64 x 2
  PPO envs x rollout steps     <= 2^20      the rollout buffer is envs x steps x 2N floats (<= 1 GiB)
  PPO env-step budget          <= 10^10
  align dim / hidden / epochs  <= 4096 / 4096 / 10^6
  transfer trials / workers    <= 10^4 / 256
  threads                      <= 1024
  ===========================  ===========  ==========================================================
"""

from __future__ import annotations

import math
from typing import Any

from .errors import CliprlError

MAX_GRID_SIZE = 128
MAX_HIDDEN = 1024
MAX_LAYERS = 8
MAX_ROLLOUT_TRANSITIONS = 2 ** 20
MAX_ENV_STEPS = 10 ** 10
MAX_ALIGN_DIM = 4096
MAX_ALIGN_EPOCHS = 10 ** 6
# Probe walks and rollouts per task or policy, their length, and the trajectory encoder's depth: bounds that keep
# an alignment's inputs in memory (every policy's rollouts are one tensor).
MAX_PROBE_WALKS = 1024
MAX_WALK_STEPS = 4096
MAX_GRU_LAYERS = 8
MAX_TRIALS = 10 ** 4
MAX_WORKERS = 256
MAX_EVAL_EPISODES = 100_000
MAX_THREADS = 1024


def _flag(name: str) -> str:
    return name if name.startswith("-") else "--" + name.replace("_", "-")


def check_float(name: str, value: Any, *, gt: float | None = None, ge: float | None = None,
                le: float | None = None) -> float:
    """``value`` as a float, refusing non-numbers, NaN, infinities and values outside the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CliprlError(f"{_flag(name)} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise CliprlError(f"{_flag(name)} must be a finite number, got {value}")
    if gt is not None and not value > gt:
        raise CliprlError(f"{_flag(name)} must be > {gt:g}, got {value:g}")
    if ge is not None and not value >= ge:
        raise CliprlError(f"{_flag(name)} must be >= {ge:g}, got {value:g}")
    if le is not None and not value <= le:
        raise CliprlError(f"{_flag(name)} must be <= {le:g}, got {value:g}")
    return value


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` as an int in ``[lo, hi]`` (``hi`` None: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise CliprlError(f"{_flag(name)} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise CliprlError(f"{_flag(name)} must be {bound}, got {value}")
    return value


def check_grid_size(size: Any) -> int:
    return check_int("grid_size", size, 2, MAX_GRID_SIZE)


def check_ppo(cfg: Any) -> None:
    """A :class:`cliprl_cli.clip_rl.config.PPOConfig`."""
    check_int("num_envs", cfg.num_envs, 1, MAX_ROLLOUT_TRANSITIONS)
    check_int("num_steps", cfg.num_steps, 1, MAX_ROLLOUT_TRANSITIONS)
    if cfg.num_envs * cfg.num_steps > MAX_ROLLOUT_TRANSITIONS:
        raise CliprlError(f"--num-envs x --num-steps must be <= {MAX_ROLLOUT_TRANSITIONS} transitions per "
                          f"iteration, got {cfg.num_envs} x {cfg.num_steps}")
    check_int("ppo_epochs", cfg.epochs, 1, 10_000)
    check_int("minibatches", cfg.minibatches, 1, cfg.num_envs * cfg.num_steps)
    check_int("max_env_steps", cfg.max_env_steps, 1, MAX_ENV_STEPS)
    check_int("eval_every", cfg.eval_every, 1)
    if cfg.lr is not None:  # None: the suite's or the default (cliprl_cli.clip_rl.config.resolve_ppo)
        check_float("lr", cfg.lr, gt=0.0)
    check_float("gamma", cfg.gamma, ge=0.0, le=1.0)
    check_float("gae_lambda", cfg.gae_lambda, ge=0.0, le=1.0)
    check_float("clip", cfg.clip, gt=0.0)
    check_float("ent_coef", cfg.ent_coef, ge=0.0)
    check_float("vf_coef", cfg.vf_coef, ge=0.0)
    check_float("max_grad_norm", cfg.max_grad_norm, gt=0.0)
    check_float("path_tolerance", cfg.path_tolerance, ge=0.0)
    if cfg.eval_episodes is not None:
        check_int("eval_episodes", cfg.eval_episodes, 1, MAX_EVAL_EPISODES)
    if cfg.success_threshold is not None:
        check_float("success_threshold", cfg.success_threshold, ge=0.0, le=1.0)
    if cfg.bot_length_bound is not None:
        check_float("bot_length_bound", cfg.bot_length_bound, ge=0.0)


def check_train_base(cfg: Any) -> None:
    """A :class:`cliprl_cli.clip_rl.config.TrainBaseConfig` (its ``ppo`` is checked by :func:`check_ppo` on creation;
    a ``grid_size`` of None is resolved from the suite)."""
    if cfg.grid_size is not None:
        check_grid_size(cfg.grid_size)
    check_int("seed", cfg.seed, 0)
    if cfg.hidden is not None:  # None: the suite's or the default (cliprl_cli.clip_rl.train_base)
        check_int("hidden", cfg.hidden, 1, MAX_HIDDEN)
    check_int("layers", cfg.layers, 1, MAX_LAYERS)
    check_int("threads", cfg.threads, 1, MAX_THREADS)
    check_int("env_workers", cfg.env_workers, 1, MAX_WORKERS)
    check_float("checkpoint_every", cfg.checkpoint_every_s, ge=0.0)


def check_align(cfg: Any) -> None:
    """An :class:`cliprl_cli.clip_rl.config.AlignConfig`."""
    check_int("dim", cfg.dim, 1, MAX_ALIGN_DIM)
    check_int("hidden", cfg.hidden, 1, MAX_ALIGN_DIM)
    check_int("epochs", cfg.epochs, 1, MAX_ALIGN_EPOCHS)
    check_int("seed", cfg.seed, 0)
    check_float("lr", cfg.lr, gt=0.0)
    check_float("temperature", cfg.temperature, gt=0.0)
    check_int("probe_seed", cfg.probe_seed, 0)
    check_int("probe_episodes", cfg.probe_episodes, 1, MAX_PROBE_WALKS)
    check_int("probe_steps", cfg.probe_steps, 1, MAX_WALK_STEPS)
    check_int("rollouts", cfg.rollouts, 1, MAX_PROBE_WALKS)
    check_int("rollout_steps", cfg.rollout_steps, 1, MAX_WALK_STEPS)
    check_int("gru_hidden", cfg.gru_hidden, 1, MAX_ALIGN_DIM)
    check_int("gru_layers", cfg.gru_layers, 1, MAX_GRU_LAYERS)


def check_transfer(cfg: Any) -> None:
    """A :class:`cliprl_cli.clip_rl.config.TransferConfig` (its ``ppo`` is checked by :func:`check_ppo` on creation)."""
    check_int("trials", cfg.trials, 1, MAX_TRIALS)
    check_int("seed", cfg.seed, 0)
    check_int("threads", cfg.threads, 1, MAX_THREADS)
    check_int("workers", cfg.workers, 1, MAX_WORKERS)
    check_int("auc_horizon", cfg.auc_horizon, 1, MAX_ENV_STEPS)
    if cfg.num_envs is not None:
        check_int("num_envs", cfg.num_envs, 1, MAX_ROLLOUT_TRANSITIONS)
    if cfg.start_entropy is not None:
        check_float("start_entropy", cfg.start_entropy, gt=0.0)
    check_float("softmax_temperature", cfg.softmax_temperature, gt=0.0)
    check_float("checkpoint_every", cfg.checkpoint_every_s, ge=0.0)


# FuRL: which float fields must be positive, non-negative or in [0, 1]; every other float must be finite.
_FURL_POSITIVE = ("lr", "tau")
_FURL_NONNEGATIVE = ("rho", "margin", "goal_margin", "relay_noise")
_FURL_UNIT = ("gamma", "gb_alpha", "tau")


def check_furl(cfg: Any) -> None:
    """A :class:`cliprl_cli.furl.config.FurlConfig`: every float finite, rates and scales in range."""
    import dataclasses

    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) or (f.name in _FURL_POSITIVE + _FURL_NONNEGATIVE + _FURL_UNIT
                                        and value is not None and not isinstance(value, bool)):
            check_float(f.name, value,
                        gt=0.0 if f.name in _FURL_POSITIVE else None,
                        ge=0.0 if f.name in _FURL_NONNEGATIVE + _FURL_UNIT else None,
                        le=1.0 if f.name in _FURL_UNIT else None)
