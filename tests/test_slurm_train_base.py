"""A `train-base` job on the real SLURM, preempted mid-run (TERM to the batch script, then `scontrol requeue`),
resumes from its checkpoint and ends with a policy byte-identical to an uninterrupted run. It runs the shipped
example script, examples/slurm/train_base_array.sbatch."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from slurm_cluster import requires_slurm, slurm_cluster

from cliprl_cli.store.runinfo import with_run_fields

pytestmark = requires_slurm()

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "slurm" / "train_base_array.sbatch"
ARGS = ["--num-envs", "64", "--quiet"]
GRID, SEED, TASK = "50", "1", "top left first"  # 50x50 trains for ~10 s: time to preempt it mid-run


def test_preempted_train_base_job_resumes_to_identical_bytes(tmp_path):
    t0 = time.monotonic()
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    # the uninterrupted reference, alongside the SLURM job
    ref_out = tmp_path / "ref"
    reference = subprocess.Popen([sys.executable, "-m", "cliprl_cli.cli", "train-base", "--task", TASK,
                                  "--grid-size", GRID, "--seed", SEED, "--out", str(ref_out), *ARGS], env=env)
    work = tmp_path / "work"
    work.mkdir()
    run_dir = work / "artifacts" / "base" / GRID / f"seed{SEED}"
    ckpt = run_dir / "checkpoint.safetensors"
    log = work / "job.out"
    try:
        with slurm_cluster() as cluster:
            cluster.env.update(PATH=env["PATH"], TASK=TASK, GRID_SIZE=GRID,
                               CLIPRL_ARGS=" ".join([*ARGS, "--checkpoint-every", "0"]))
            array_id = cluster.sbatch(f"--array={SEED}", f"--output={log}", "--time=10:00", str(EXAMPLE), cwd=work)
            job = f"{array_id}_{SEED}"
            deadline = time.monotonic() + 120
            while not ckpt.exists():
                states = cluster.job_states(job)
                assert time.monotonic() < deadline and not set(states.values()) & {"FAILED", "COMPLETED"}, (
                    f"{states}\n{log.read_text() if log.exists() else ''}")
                time.sleep(0.05)
            time.sleep(random.uniform(0.2, 1.0))
            # preemption: TERM to the batch script (cliprl itself, the example execs it)
            cluster.run("scancel", "--signal=TERM", "--batch", job)
            states = cluster.wait_for(job, timeout=60)
            assert states == {job: "FAILED"}, states
            assert cluster.job_field(job, "ExitCode") == "75:0"
            assert ckpt.exists() and not (run_dir / "policy.safetensors").exists()

            cluster.run("scontrol", "requeue", job)
            states = cluster.wait_for(job, timeout=180, states={"COMPLETED", "FAILED", "CANCELLED"})
            assert states == {job: "COMPLETED"}, f"{states}\n{log.read_text()}"
            assert cluster.job_field(job, "Restarts") == "1" or "restart 1" in log.read_text()
        assert reference.wait(timeout=300) == 0
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()

    text = log.read_text()
    assert "seed 1 (restart 0)" in text and "seed 1 (restart 1)" in text, text
    assert (run_dir / "policy.safetensors").read_bytes() == (ref_out / "policy.safetensors").read_bytes()
    assert (run_dir / "policy.json").read_bytes() == (ref_out / "policy.json").read_bytes()  # issue 16
    sidecar = with_run_fields(run_dir / "policy.json")  # the step it resumed from is run metadata (run.json)
    assert sidecar["metrics"]["resumed_from_step"] > 0
    assert not ckpt.exists()
    print(f"train-base preempted on SLURM and resumed: {time.monotonic() - t0:.1f}s")
