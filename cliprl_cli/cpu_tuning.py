"""Process settings: the numeric pins that make every command's bytes the same on any x86-64 CPU with AVX2, and two
settings that make `cliprl furl`'s CPU training loop faster without changing what it computes.

**Numeric pins** (:func:`pin_numeric_environment`, :data:`NUMERIC_PINS`). The numeric libraries pick their kernels
by the CPU they find: MKL (every float32 GEMM and the QR of the orthogonal initialisation) dispatches by instruction
set and, on AMD, to other kernels altogether; ATen's vectorised loops run 16 or 8 lanes wide, which moves the
boundary between vector body and scalar tail and the order of reductions; oneDNN (convolutions) JIT-compiles for
the widest ISA; NumPy dispatches its loops (and its float64 transcendental functions) to AVX-512 variants; the
OpenBLAS inside NumPy and SciPy picks a per-CPU kernel; Mesa's llvmpipe (the EGL renderer of the frames) JITs for
the host's vector width. Reinforcement learning turns a last-bit difference into different episodes, so every
one of these is pinned, by environment variables that each library reads once when it loads: the pins must be set
before torch or NumPy is imported, which is what the CLI entry points (``cliprl``, ``python -m cliprl_cli``) do
first. MKL's ``COMPATIBLE`` branch is the only one its Conditional Numerical Reproducibility promises on Intel and
AMD CPUs alike (the ``AVX2`` branch is Intel-only: elsewhere MKL silently runs its ``AUTO`` branch). The pins
override the same variables inherited from the caller's environment (a cluster's module files set MKL variables
for speed), and the overridden values are recorded; ``CLIPRL_NUMERICS=native`` is the one explicit opt-out: the
environment is left as it is and the run is recorded as not pinned. What a run actually got is
:func:`numeric_environment`, recorded in its ``run.json`` (never in the files DVC hashes). Thread counts are not
pinned here: each command fixes its own torch thread count (``--threads``) and MKL's results depend on it.

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
import os
import platform
import sys
from typing import Any, Iterator, MutableMapping

# The variable that opts out of the numeric pins (value "native"); its default is "portable".
NUMERICS_SWITCH = "CLIPRL_NUMERICS"
PORTABLE, NATIVE = "portable", "native"

# Library -> the variable it reads at load time and the value that makes its results independent of the CPU.
NUMERIC_PINS: dict[str, str] = {
    # MKL's Conditional Numerical Reproducibility: fixed code branch, cache sizes, reductions and scheduling.
    # COMPATIBLE (SSE2 without approximate reciprocals) is the branch MKL supports on non-Intel CPUs too.
    "MKL_CBWR": "COMPATIBLE",
    # ATen's vectorised CPU kernels: the AVX2 build of each kernel (AVX-512 machines would take the 512-bit one)
    "ATEN_CPU_CAPABILITY": "avx2",
    # oneDNN's JIT (convolutions of the VLM and of DrQ's encoder): no AVX-512 or AMX kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # NumPy's dispatched loops: nothing above x86-64-v3 (AVX2, FMA3); v4 and later are AVX-512
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    # the OpenBLAS bundled with NumPy and SciPy: the Haswell (AVX2) kernels on every CPU
    "OPENBLAS_CORETYPE": "Haswell",
    # Mesa llvmpipe (MUJOCO_GL=egl renders through it): 256-bit vectors, not the host's widest
    "LP_NATIVE_VECTOR_WIDTH": "256",
}

# Modules that read the pins when they load: pinning after any of them is too late for that library.
_PINNED_AT_LOAD = ("torch", "numpy", "scipy", "mujoco")

_pin_record: dict[str, Any] | None = None

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
    import torch

    return bool(torch.set_flush_denormal(on))


def pin_numeric_environment(environ: MutableMapping[str, str] | None = None) -> dict[str, Any]:
    """Set :data:`NUMERIC_PINS` in ``environ`` (the process environment by default), unless ``CLIPRL_NUMERICS`` is
    ``native``; returns (and remembers, for :func:`numeric_environment`) what was done: the mode, the values the
    caller's environment had that the pins replaced, and any pinned library that was already loaded (then its pin
    comes too late for this process, and the record says so). Call it before anything imports torch or NumPy."""
    global _pin_record
    env = os.environ if environ is None else environ
    mode = env.get(NUMERICS_SWITCH, PORTABLE).strip().lower() or PORTABLE
    if mode not in (PORTABLE, NATIVE):
        mode = PORTABLE  # an unknown value must not turn the guarantee off silently; it is recorded as given
    overridden: dict[str, str] = {}
    if mode == PORTABLE:
        for name, value in NUMERIC_PINS.items():
            if env.get(name, value) != value:
                overridden[name] = env[name]
            env[name] = value
    record = {"mode": mode, "requested": env.get(NUMERICS_SWITCH), "overridden": overridden,
              "loaded_before_pinning": [m for m in _PINNED_AT_LOAD if m in sys.modules]}
    if environ is None:
        _pin_record = record
    return record


def numerics_tag() -> str:
    """``pinned`` when this process runs with every pin of :data:`NUMERIC_PINS` in its environment, else ``native``:
    for caches of computed values (the FuRL goal embedding), so that a value computed with one CPU's own kernels is
    never reused by a pinned run, nor the other way round."""
    return "pinned" if all(os.environ.get(k) == v for k, v in NUMERIC_PINS.items()) else "native"


def _mkl_branch() -> str | None:
    """MKL's code branch as MKL reports it (``mkl_cbwr_get``), or None where torch's MKL is not reachable."""
    import torch

    names = {0: "OFF", 1: "BRANCH_OFF (no CNR)", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1",
             8: "SSE4_2", 9: "AVX", 10: "AVX2", 12: "AVX512", 14: "AVX512_E1"}
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        get = lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.argtypes, get.restype = [ctypes.c_int], ctypes.c_int
    value = get(-1)  # MKL_CBWR_ALL: the branch and the STRICT bit
    branch = names.get(value & 0xFFFF, str(value & 0xFFFF))
    return branch + (",STRICT" if value & 0x10000 else "")


def numeric_environment() -> dict[str, Any]:
    """The numeric settings this process runs with, for a run's record (``run.json``, never a hashed output):
    whether the pins were applied (and what they replaced), the pinned variables as the process sees them, and,
    for the libraries the run has loaded (none is imported here: a command that never needed torch stays light),
    what they report they use: MKL's branch, ATen's CPU capability, torch's build (CPU or CUDA wheel) and thread
    count, NumPy's dispatch targets, the OpenBLAS kernel; and the CPU model."""
    record = dict(_pin_record) if _pin_record is not None else {"mode": "not pinned (not started from the CLI)"}
    record["variables"] = {name: os.environ.get(name) for name in NUMERIC_PINS}
    if "torch" in sys.modules:
        import torch

        record.update({"mkl_branch": _mkl_branch(), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                       "torch_build": f"cuda {torch.version.cuda}" if torch.version.cuda else "cpu",
                       "torch_threads": torch.get_num_threads(),
                       "float32_matmul_precision": torch.get_float32_matmul_precision()})
    if "numpy" in sys.modules:
        try:
            from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
            record["numpy_dispatch"] = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
        except ImportError:  # NumPy 1.x
            pass
        record["openblas_kernel"] = _openblas_kernel()
    record.update({"cpu": _cpu_model(), "machine": platform.machine()})
    return record


def _openblas_kernel() -> str | None:
    """The OpenBLAS core type in use (threadpoolctl, where installed), e.g. ``Haswell``."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    kinds = {info.get("architecture") for info in threadpool_info() if info.get("internal_api") == "openblas"}
    kinds.discard(None)
    return ",".join(sorted(kinds)) or None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


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
