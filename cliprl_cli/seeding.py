"""One seeding function for every command (Stable-Baselines3 style)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .errors import CliprlError


def seed_everything(seed: int, *, threads: int | None = None):
    """Seed Python, NumPy and torch, fix torch's CPU thread count (if given), and return a torch.Generator.

    Every random draw of a run should come from the returned generator (or from the global RNGs seeded here),
    so the same command with the same seed writes the same bytes on the CPU.
    """
    if seed < 0:
        raise CliprlError(f"--seed must be >= 0, got {seed}")
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    # No torch.use_deterministic_algorithms(): it imports torch._inductor (a slow import), and the CPU
    # kernels used here are deterministic for a fixed thread count; tests compare bytes of two runs instead.
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator
