"""One seeding function for every command (Stable-Baselines3 style)."""

from __future__ import annotations

import os
import random


def seed_everything(seed: int, *, threads: int | None = None):
    """Seed Python, NumPy and torch, make torch deterministic on the CPU, and return a torch.Generator.

    Every random draw of a run should come from the returned generator (or from the global RNGs seeded here),
    so the same command with the same seed writes the same bytes on the CPU.
    """
    import numpy as np
    import torch

    if seed < 0:
        from .errors import CliprlError

        raise CliprlError(f"--seed must be >= 0, got {seed}")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
