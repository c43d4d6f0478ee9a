"""How confident an initial policy is on the target's start states, and entropy-matched starts.

A transferred start can be *peaked*: copying one source policy keeps its near-deterministic logits, while
averaging several flattens them. A peaked start that is slightly wrong rarely samples the better action, so its
advantage never reaches it, and under the strict convergence rule it can sit at success 1.0 with a path ratio just
above the tolerance until the budget runs out. Comparing transfer methods then mixes what the sources know with how
confident the start is.

Entropy matching separates the two: each initial policy's action logits are divided by a temperature ``T >= 1``,
the smallest that lifts its mean entropy on the target's start states to a floor (``T = 1`` for a start that is
already as flat: flat starts are left unchanged). Dividing the final layer's weights and bias by ``T`` divides
the logits by ``T``, so the greedy action, and with it the initial success rate, is unchanged; only the sampling
becomes less certain. The same floor applies to every method alike.

The mean entropy of ``softmax(z / T)`` over states is non-decreasing in ``T`` (each row's is), so the temperature
is found by bisection on ``log T``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch

from .policy import PolicyNet, PolicySpec

LOGIT_PARAMS = ("logits.weight", "logits.bias")  # the action head of PolicyNet: dividing both divides the logits


def mean_entropy(logits: torch.Tensor) -> float:
    """Mean over rows of the entropy (nats) of ``softmax(logits)``; ``logits`` is (states, actions)."""
    log_p = torch.log_softmax(logits.double(), dim=1)
    return float(-(log_p.exp() * log_p).sum(dim=1).mean())


def matching_temperature(logits: torch.Tensor, floor: float, *, tolerance: float = 1e-6) -> float:
    """The smallest ``T >= 1`` with ``mean_entropy(logits / T) >= floor`` (to ``tolerance`` nats); 1.0 when the
    logits are already at least that flat. ``floor`` must lie below ``log(actions)``, the uniform policy's
    entropy, which no finite temperature reaches unless every row is constant."""
    actions = logits.shape[1]
    if not 0.0 < floor < math.log(actions):
        raise ValueError(f"an entropy floor must lie in (0, log {actions} = {math.log(actions):.4f}) nats, got {floor}")
    if mean_entropy(logits) >= floor:
        return 1.0
    lo, hi = 0.0, 1.0  # log T: entropy below the floor at lo, search for hi above it
    while mean_entropy(logits / math.exp(hi)) < floor:
        lo, hi = hi, 2 * hi
        if hi > 60:  # T = e^60: logits that differ at all are flat long before this
            raise ValueError("no temperature reaches the entropy floor (logits of very different scales)")
    while hi - lo > 1e-9 and mean_entropy(logits / math.exp(hi)) - floor > tolerance:
        mid = 0.5 * (lo + hi)
        if mean_entropy(logits / math.exp(mid)) >= floor:
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def with_temperature(params: Mapping[str, torch.Tensor], temperature: float) -> dict[str, torch.Tensor]:
    """The policy ``params`` with its logits divided by ``temperature`` (action head weights and bias scaled)."""
    return {name: value / temperature if name in LOGIT_PARAMS else value for name, value in params.items()}


@torch.no_grad()
def start_logits(params: Mapping[str, torch.Tensor], spec: PolicySpec, observations: torch.Tensor) -> torch.Tensor:
    """The action logits of the policy ``params`` on the encoded start ``observations``."""
    net = PolicyNet(spec)
    net.load_state_dict(dict(params))
    return net(observations)[0]


def start_observations(spec: PolicySpec, goal: tuple[int, int],
                       env_factory: Callable[[int, torch.Generator], Any] | None = None) -> torch.Tensor:
    """The encoded observation of every start state of the target: every non-goal cell of the grid world, or every
    (cell, direction) of the colour-shape world not already facing the target (the starts the convergence rule
    evaluates)."""
    from .gridworld import BatchedGridWorld

    if env_factory is not None:
        env = env_factory(1, torch.Generator().manual_seed(0))
        return env.observe(env.starts)
    env = BatchedGridWorld(spec.grid_size, goal, 1)
    cells = torch.arange(spec.grid_size * spec.grid_size)
    return env.observe(cells[cells != env.goal_cell])


def match_start(params: Mapping[str, torch.Tensor], spec: PolicySpec, observations: torch.Tensor,
                floor: float) -> tuple[dict[str, torch.Tensor], float, float, float]:
    """Entropy-match one initial policy: ``(params / T, T, mean entropy before, after)`` on ``observations``."""
    logits = start_logits(params, spec, observations)
    temperature = matching_temperature(logits, floor)
    return (with_temperature(params, temperature), temperature, mean_entropy(logits),
            mean_entropy(logits / temperature))
