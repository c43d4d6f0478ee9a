"""Following a greedy policy through a world's successor table: the walk both CLIP-RL worlds evaluate with.

A greedy policy is deterministic and the state is a cell, so one forward pass over all states gives a successor
table; following it from every start at once is integer indexing, with no network call per step.
"""

from __future__ import annotations

from typing import Callable

import torch


def greedy_walk(successor: torch.Tensor, starts: torch.Tensor, shortest: torch.Tensor, max_steps: int,
                arrived: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
    """Walk from every start along ``successor`` until ``arrived(state)`` or ``max_steps``.

    ``shortest``: the optimal path length of each start (float). Returns ``success_rate`` (fraction of starts that
    arrived), ``path_ratio`` (sum of path lengths over the sum of the optimal ones, over the starts that arrived;
    inf if none did) and ``mean_length`` (mean path length of those starts; inf if none).
    """
    pos = starts.clone()
    active = torch.ones(len(starts), dtype=torch.bool)
    lengths = torch.zeros(len(starts))
    for _ in range(max_steps):
        pos = torch.where(active, successor[pos], pos)
        lengths += active.float()
        active &= ~arrived(pos)
        if not active.any():
            break
    reached = ~active
    success_rate = reached.float().mean().item()
    if reached.any():
        path_ratio = (lengths[reached].sum() / shortest[reached].sum()).item()
        mean_length = lengths[reached].mean().item()
    else:
        path_ratio, mean_length = float("inf"), float("inf")
    return {"success_rate": success_rate, "path_ratio": path_ratio, "mean_length": mean_length}
