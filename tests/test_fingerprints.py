"""Golden fingerprints: a handful of small commands, run as a user runs them (``python -m cliprl_cli`` in a fresh
process, so the numeric pins of ``cliprl_cli/cpu_tuning.py`` apply), must write exactly the bytes whose SHA-256 are
committed in ``tests/data/fingerprints.json``. Every file a command writes is compared except ``run.json`` (run
metadata: times, host, the numeric settings; DVC never hashes it). The same test passing on another machine is the
evidence that the CPU path gives the same bytes there.

A second pass runs the same commands with the instruction-set variables set the other way (MKL's AVX-512 branch,
ATen's default capability, oneDNN with AMX, NumPy and OpenBLAS unrestricted, llvmpipe at 512 bits) and one
thread: the bytes must not move, since the pins replace those values. A third check runs one command with the pins
turned off (``CLIPRL_NUMERICS=native``) and MKL at another branch: its bytes must differ, which shows the comparison
can see the machine dependence the pins remove.

Regenerate the committed values (after a change that is meant to change results), in one command:

    python tests/test_fingerprints.py --update
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "fingerprints.json"
GRID_TASKS = ["top left first", "top right first"]  # two sources are enough to align and transfer
COLOUR_SHAPE_SUITE = REPO / "cliprl_cli" / "data" / "colour_shape_by_colour.yaml"

# name -> (arguments of `cliprl`, the output directory it writes); run in this order (align reads the bases, ...)
COMMANDS: dict[str, tuple[list[str], str]] = {
    **{f"train-base 8x8 {task}": (["train-base", "--task", task, "--grid-size", "8", "--seed", "0", "--quiet",
                                   "--out", f"base/{task.replace(' ', '-')}"], f"base/{task.replace(' ', '-')}")
       for task in GRID_TASKS},
    "align 8x8": (["align", "--base", "base", "--out", "align", "--sources", ",".join(GRID_TASKS),
                           "--epochs", "200", "--seed", "0", "--quiet"], "align"),
    "transfer 8x8 one trial": (["transfer", "--target", "top left third", "--base", "base", "--align", "align",
                                "--sources", ",".join(GRID_TASKS), "--methods", "clip,nearest-language",
                                "--trials", "1", "--seed", "0",
                                "--out", "transfer", "--quiet"], "transfer"),
    "furl state 200 steps, tiny VLM": (["furl", "--task", "drawer-close-v3", "--variant", "furl", "--seed", "0",
                                        "--profile", "cpu-small", "--steps", "200", "--random-steps", "100",
                                        "--eval-every", "200", "--eval-episodes", "1", "--threads", "1",
                                        "--goal-cache", "goal-cache", "--out", "furl", "--quiet"], "furl"),
    "train-base colour x shape go to the red key": (["train-base", "--task", "go to the red key", "--tasks",
                                                     str(COLOUR_SHAPE_SUITE), "--seed", "0", "--out", "colour-shape",
                                                     "--quiet"], "colour-shape"),
}

# The other way round from the pins: what an AVX-512 (or AMX) machine's libraries would pick by themselves.
OTHER_ISA = {"MKL_CBWR": "AVX512", "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX",
             "NPY_DISABLE_CPU_FEATURES": "", "OPENBLAS_CORETYPE": "SkylakeX", "LP_NATIVE_VECTOR_WIDTH": "512",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
NOT_HASHED = {"run.json"}  # run metadata, kept out of DVC's hashes (.dvcignore)


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` except run metadata, by path relative to it."""
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in NOT_HASHED}


def command_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment with this tree first on the path, offline hubs, EGL rendering, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "CLIPRL_NUMERICS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MUJOCO_GL": env.get("MUJOCO_GL", "egl")})
    env.update(extra or {})
    return env


def run_command(name: str, workdir: Path, env: dict[str, str]) -> dict[str, str]:
    args, out = COMMANDS[name]
    done = subprocess.run([sys.executable, "-m", "cliprl_cli", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}"
    return file_hashes(workdir / out)


def run_all(workdir: Path, extra_env: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    env = command_env(extra_env)
    return {name: run_command(name, workdir, env) for name in COMMANDS}


def golden() -> dict[str, dict[str, str]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["commands"]


def differences(got: dict[str, dict[str, str]], want: dict[str, dict[str, str]]) -> list[str]:
    """One line per command whose files differ (missing, extra or other bytes), naming the files."""
    lines = []
    for name in sorted(set(got) | set(want)):
        a, b = got.get(name, {}), want.get(name, {})
        if a != b:
            odd = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
            lines.append(f"{name}: {', '.join(odd)}")
    return lines


@pytest.fixture(scope="module")
def pinned(tmp_path_factory) -> dict[str, dict[str, str]]:
    return run_all(tmp_path_factory.mktemp("pinned"))


@pytest.mark.slow
def test_commands_write_the_committed_bytes(pinned):
    diff = differences(pinned, golden())
    assert not diff, ("outputs differ from tests/data/fingerprints.json (if the change is meant to change results, "
                      "regenerate: python tests/test_fingerprints.py --update):\n" + "\n".join(diff))


@pytest.mark.slow
def test_same_bytes_with_the_instruction_set_variables_set_the_other_way(pinned, tmp_path):
    other = run_all(tmp_path, OTHER_ISA)
    assert not differences(other, pinned), "\n".join(differences(other, pinned))


@pytest.mark.slow
def test_without_the_pins_another_mkl_branch_changes_the_bytes(pinned, tmp_path):
    # MKL's AVX2 branch is what MKL's own dispatch picks on an AVX2-only Intel CPU: unpinned, the bytes move.
    name = f"train-base 8x8 {GRID_TASKS[0]}"
    native = run_command(name, tmp_path, command_env({"CLIPRL_NUMERICS": "native", "MKL_CBWR": "AVX2"}))
    assert native != pinned[name]


def update() -> None:
    """Run the commands here (pinned) and write their fingerprints to tests/data/fingerprints.json."""
    import tempfile

    from cliprl_cli.cpu_tuning import NUMERIC_PINS

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        commands = run_all(Path(tmp))
    doc = {"about": "SHA-256 of every file (except run.json) that each command of tests/test_fingerprints.py writes, "
                    "run with the numeric pins of cliprl_cli/cpu_tuning.py; regenerate with "
                    "`python tests/test_fingerprints.py --update`",
           "pins": NUMERIC_PINS, "commands": commands}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    files = sum(len(v) for v in commands.values())
    print(f"wrote {GOLDEN.relative_to(REPO)}: {len(commands)} commands, {files} files "
          f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_fingerprints.py --update   (regenerates tests/data/fingerprints.json)")
    sys.path.insert(0, str(REPO))
    update()
