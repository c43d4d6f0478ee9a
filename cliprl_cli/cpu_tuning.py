"""Two process settings that make `cliprl furl`'s CPU training loop faster without changing what it computes.

**Keep freed memory** (:func:`retain_freed_memory`, glibc ``mallopt``). glibc serves an allocation above its mmap
threshold (128 KiB at start, then adjusted on the fly) with a fresh ``mmap``, and returns freed memory at the top of
the heap to the system once it exceeds the trim threshold. An SAC update at batch 256 allocates and frees dozens of
``(2, 256, 256)`` float tensors (512 KiB); with the default settings many of them come back as new pages, which the
kernel zero-fills on first touch (minor page faults, every update). PyTorch's CPU tuning guide gets the same effect
from jemalloc or tcmalloc; this needs no extra library. The cost: up to ``trim_threshold`` bytes freed at the top of
the heap stay with the process. Large tensors (the replay buffer) are above ``mmap_threshold`` and still get their
own mapping.

**Flush denormals to zero** (:func:`flush_denormals`, ``torch.set_flush_denormal``: the CPU's FTZ and DAZ modes).
Adam's first moment of a weight that never gets a gradient (a ReLU unit that is never active, common in SAC's
critics) decays as 0.9^t; after several hundred updates it is below float32's smallest normal number (1.2e-38) and
then sticks at the smallest denormal, because 0.9 times it rounds back to itself. Every vector instruction that
touches such a value takes a microcode assist on x86, so each Adam step slows down for the rest of the run. Flushed,
those moments are exactly 0, and the parameter values do not change: the step they would have made,
lr * 1e-45 / eps, is far below a float32 weight's resolution. TensorFlow and XLA (so JAX) run their CPU kernels with
denormals flushed by default. What both settings were worth when measured, and the check that weights stay
bit-identical with denormals flushed, are in the README's performance notes.

The mode is per thread, and torch's OpenMP workers copy it from the thread that creates them, so
:func:`tuned_for_training` must run before the process's first parallel torch operation to cover them (it does in
`cliprl furl`, a fresh process). In a process that has already run parallel work only the calling thread is covered:
slower, same results.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from typing import Iterator

import torch

# mallopt(3) parameter numbers, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# glibc's upper bound for M_MMAP_THRESHOLD on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX): 32 MiB
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024


def retain_freed_memory(mmap_threshold: int = MMAP_THRESHOLD_MAX, trim_threshold: int = 512 * 1024 * 1024) -> bool:
    """Set glibc's mmap and trim thresholds for this process; True if applied, False where there is no glibc
    ``mallopt`` (macOS, musl): then nothing changes. Setting either threshold also turns off glibc's dynamic
    adjustment of the mmap threshold, which is what lets the 512 KiB tensors fault again and again."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, min(mmap_threshold, MMAP_THRESHOLD_MAX)) == 1
    return mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok


def flush_denormals(on: bool = True) -> bool:
    """Turn the calling thread's flush-to-zero/denormals-are-zero mode on (or off); False where the CPU lacks it."""
    return bool(torch.set_flush_denormal(on))


@contextlib.contextmanager
def tuned_for_training() -> Iterator[dict[str, bool]]:
    """Both settings for the duration of a training run; yields what was applied (recorded in the run's summary).
    Denormals are flushed only inside the block (torch's default comes back after); the allocator setting stays."""
    applied = {"retain_freed_memory": retain_freed_memory(), "flush_denormals": flush_denormals(True)}
    try:
        yield applied
    finally:
        if applied["flush_denormals"]:
            flush_denormals(False)
