"""cliprl_cli.cpu_tuning: with the allocator setting, a loop that allocates and frees the same large tensors reuses its
pages instead of getting (and zero-filling) fresh ones; with denormals flushed, a product below float32's smallest
normal number is 0, in torch's worker threads too. Run in subprocesses: both settings outlive a test."""

import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys, torch
from cliprl_cli.cpu_tuning import retain_freed_memory
if sys.argv[1] == "on":
    assert retain_freed_memory()  # True: glibc took both settings
n = (4 << 20) // 4  # 4 MiB of float32: above glibc's mmap threshold by default
def step():
    x = torch.empty(n); x.fill_(1.0); y = torch.empty(n); y.fill_(2.0); del x, y
for _ in range(10):  # the heap grows to its working size in the first few
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def minor_faults(setting: str) -> int:
    done = subprocess.run([sys.executable, "-c", SCRIPT, setting], check=True, capture_output=True, text=True)
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_retained_memory_is_reused_without_page_faults():
    pages = 2 * (4 << 20) // 4096  # the two 4 MiB tensors' pages
    # 40 rounds in steady state reuse the pages: 0 faults measured here. Without the setting it depends on where
    # glibc's dynamic thresholds have drifted: 0 in some runs, 80,640 (every page, every round) in others.
    assert minor_faults("on") < pages


DENORMALS = """
import torch
from cliprl_cli.cpu_tuning import tuned_for_training
torch.set_num_threads(2)
with tuned_for_training() as applied:
    inside = torch.full((1 << 20,), 1e-20) * 1e-20  # 1e-40: a denormal; big enough to split across threads
after = torch.full((4,), 1e-20) * 1e-20
print(applied["flush_denormals"], int((inside != 0).sum()), int((after != 0).sum()))
"""


def test_denormals_flushed_inside_the_block_in_every_thread_and_restored_after():
    done = subprocess.run([sys.executable, "-c", DENORMALS], check=True, capture_output=True, text=True)
    applied, inside, after = done.stdout.split()
    if applied != "True":
        pytest.skip("this CPU has no flush-to-zero mode")
    assert int(inside) == 0  # every element, whichever thread computed it
    assert int(after) == 4  # torch's default is back


def test_pins_replace_inherited_values_and_record_them():
    from cliprl_cli.cpu_tuning import NUMERIC_PINS, pin_numeric_environment

    env = {"MKL_CBWR": "AUTO", "OMP_NUM_THREADS": "3"}
    done = pin_numeric_environment(env)
    assert done["mode"] == "portable" and done["overridden"] == {"MKL_CBWR": "AUTO"}
    assert {k: env[k] for k in NUMERIC_PINS} == NUMERIC_PINS
    assert env["OMP_NUM_THREADS"] == "3"  # thread counts are the commands' business


def test_native_leaves_the_environment_alone_and_an_unknown_mode_does_not_unpin():
    from cliprl_cli.cpu_tuning import pin_numeric_environment

    env = {"CLIPRL_NUMERICS": "native", "MKL_CBWR": "AVX512"}
    assert pin_numeric_environment(env)["mode"] == "native" and env == {"CLIPRL_NUMERICS": "native",
                                                                        "MKL_CBWR": "AVX512"}
    env = {"CLIPRL_NUMERICS": "fast"}
    done = pin_numeric_environment(env)
    assert done["mode"] == "portable" and done["requested"] == "fast" and env["MKL_CBWR"] == "COMPATIBLE"


RECORD = """
import json, sys
from cliprl_cli.cpu_tuning import pin_numeric_environment, numeric_environment
pin_numeric_environment()
assert "torch_build" not in numeric_environment() and "torch" not in sys.modules  # not loaded: not imported
import torch
torch.ones(8, 8) @ torch.ones(8, 8)
print(json.dumps(numeric_environment()))
"""


def test_a_pinned_process_runs_the_pinned_kernels():
    import json
    import os

    env = {**os.environ, "MKL_CBWR": "AVX512", "ATEN_CPU_CAPABILITY": "default"}
    env.pop("CLIPRL_NUMERICS", None)
    done = subprocess.run([sys.executable, "-c", RECORD], check=True, capture_output=True, text=True, env=env)
    record = json.loads(done.stdout)
    assert record["mode"] == "portable" and record["loaded_before_pinning"] == []
    assert record["overridden"] == {"MKL_CBWR": "AVX512", "ATEN_CPU_CAPABILITY": "default"}
    assert record["mkl_branch"] == "COMPATIBLE"  # what MKL itself reports
    assert record["aten_cpu_capability"] in ("AVX2", "DEFAULT")  # DEFAULT only on a CPU without AVX2
