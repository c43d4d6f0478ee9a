"""Keep freed memory in the process (glibc malloc), so that a training loop's tensors do not page-fault every step.

Why: glibc serves an allocation above its mmap threshold (128 KiB at start, then adjusted on the fly) with a fresh
``mmap``, and returns freed memory at the top of the heap to the system once it exceeds the trim threshold. An SAC
update at batch 256 allocates and frees dozens of ``(2, 256, 256)`` float tensors (512 KiB); with the default
settings many of them come back as new pages, and the kernel zero-fills each 4 KiB page on first touch. Measured
in one SAC update on this 2-core machine: 110-240 minor page faults and 9.5 ms without this, none and 7.6 ms with
it (``torch.profiler``; ``benchmarks/bench_sac.py`` shows the effect on the whole loop). PyTorch's CPU tuning
guide gets the same effect from jemalloc or tcmalloc; this needs no extra library.

The cost: up to ``trim_threshold`` bytes freed at the top of the heap stay with the process instead of going
back to the system. Large tensors (the replay buffer) are above ``mmap_threshold`` and still get their own
mapping. Nothing numerical changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

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
