"""`cliprl slurm submit` without a cluster: the job plan built from DVC's stage graph, the sbatch scripts, the
one-line errors, and the job wrapper's signal forwarding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slurm_cluster import TOY_PIPELINE, init_dvc_repo

from cliprl_cli import cluster as slurm
from cliprl_cli.cli import main


@pytest.fixture
def toy(tmp_path: Path, monkeypatch) -> Path:
    repo = init_dvc_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    return repo


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                          check=True, env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))


def test_matrix_stages_become_arrays_in_dependency_order(toy):
    plan = slurm.build_plan(toy)
    assert [j.key for j in plan.jobs] == ["prep", "train", "ev", "report", slurm.COMMIT_KEY]
    jobs = {j.key: j for j in plan.jobs}
    assert jobs["train"].array and jobs["train"].size == 6
    assert [t.address for t in jobs["train"].tasks] == [
        "train@0-5", "train@0-10", "train@1-5", "train@1-10", "train@2-5", "train@2-10"]
    assert "train_1_10.txt" in jobs["train"].tasks[3].cmd[0]
    assert jobs["ev"].array and jobs["ev"].size == 2 and jobs["ev"].after == ["train"]
    assert not jobs["prep"].array and jobs["prep"].after == []
    assert jobs["train"].after == ["prep"]
    assert jobs["report"].after == ["ev"]
    commit = jobs[slurm.COMMIT_KEY]
    assert set(commit.after) == {"prep", "train", "ev", "report"}
    assert commit.tasks[0].cmd[0].startswith("dvc commit -f prep train@0-5 ")
    assert all(t.wdir == str(toy) for j in plan.jobs for t in j.tasks)
    assert plan.skipped == []


def test_up_to_date_stages_are_not_submitted(toy):
    _dvc(toy, "repro", "prep")
    plan = slurm.build_plan(toy)
    assert plan.skipped == ["prep"]
    assert [j.key for j in plan.jobs] == ["train", "ev", "report", slurm.COMMIT_KEY]
    assert plan.jobs[0].after == []  # prep is done: nothing to wait for

    _dvc(toy, "repro")
    plan = slurm.build_plan(toy)
    assert plan.jobs == [] and len(plan.skipped) == 10
    lines = []
    record = slurm.submit_plan(plan, echo=lines.append)
    assert record["jobs"] == [] and "nothing to submit" in lines[0]

    # a changed upstream stage drags everything downstream of it along; up-to-date siblings stay out
    (toy / "dvc.yaml").write_text(TOY_PIPELINE.replace("write('p')", "write('q')"))
    assert [j.key for j in slurm.build_plan(toy).jobs] == ["prep", "train", "ev", "report", slurm.COMMIT_KEY]
    (toy / "dvc.yaml").write_text(TOY_PIPELINE.replace("'${item}')", "'${item}!')"))
    plan = slurm.build_plan(toy)
    assert [j.key for j in plan.jobs] == ["ev", "report", slurm.COMMIT_KEY]
    assert plan.jobs[-1].tasks[0].cmd == ["dvc commit -f ev@a ev@b report"]

    assert slurm.build_plan(toy, force=True).jobs[1].size == 6


def test_targets_pull_in_their_upstream_only(toy):
    plan = slurm.build_plan(toy, targets=["ev"])
    assert [j.key for j in plan.jobs] == ["prep", "train", "ev", slurm.COMMIT_KEY]
    plan = slurm.build_plan(toy, targets=["train@1-5"])
    assert [(j.key, j.size) for j in plan.jobs] == [("prep", 1), ("train", 1), (slurm.COMMIT_KEY, 1)]
    assert plan.jobs[1].array  # still an array (of one): its name stays the matrix parent's


def test_a_group_that_depends_on_itself_is_split(toy):
    (toy / "dvc.yaml").write_text(TOY_PIPELINE + """\
  chain:
    foreach:
      a:
        dep: prep.txt
      b:
        dep: chain_a.txt
    do:
      cmd: python -c "open('chain_${key}.txt', 'w').write('c')"
      deps:
        - ${item.dep}
      outs:
        - chain_${key}.txt
""")
    plan = slurm.build_plan(toy)
    jobs = {j.key: j for j in plan.jobs}
    assert "chain_a" in jobs and "chain_b" in jobs and not jobs["chain_b"].array
    keys = [j.key for j in plan.jobs]
    assert keys.index("chain_a") < keys.index("chain_b") and jobs["chain_b"].after == ["chain_a"]
    assert jobs["chain_a"].after == ["prep"]


def test_script_has_the_options_and_dependencies(toy, tmp_path):
    plan = slurm.build_plan(toy)
    opts = slurm.SlurmOptions(partition="gpu", time="2:00:00", mem="8G", cpus_per_task=4, gpus="1", account="lab",
                              max_parallel=3, extra=["--qos=high"], log_dir=str(tmp_path / "logs"))
    train = plan.jobs[1]
    text = slurm.render_script(train, plan, opts, submission_dir=tmp_path / "sub", dependency=["41"])
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=2:00:00", "#SBATCH --mem=8G",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --gpus=1", "#SBATCH --account=lab", "#SBATCH --qos=high",
                 "#SBATCH --array=0-5%3", "#SBATCH --dependency=afterok:41", "#SBATCH --requeue",
                 "#SBATCH --signal=B:TERM@120", f"#SBATCH --output={tmp_path}/logs/train_%A_%a.out"):
        assert line in text.splitlines(), line
    assert not any("dvc repro" in line for line in text.splitlines() if not line.startswith("#"))
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)  # valid bash


def test_dry_run_prints_scripts_and_submits_nothing(toy, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(toy))  # no sbatch anywhere: a dry run must not need it
    assert main(["slurm", "submit", "--dry-run", "--partition", "debug", "--time", "10:00"]) == 0
    out = capsys.readouterr().out
    assert out.count("#!/bin/bash") == 5
    assert "#SBATCH --array=0-5" in out and "#SBATCH --dependency=afterok:<prep>" in out
    assert "#SBATCH --partition=debug" in out and "dvc commit -f prep" in out
    assert "nothing submitted" in out
    assert not (toy / ".cliprl").exists()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    return err


def test_missing_dvc_yaml_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    repo = init_dvc_repo(tmp_path / "empty", dvc_yaml=None)
    monkeypatch.chdir(repo)
    assert main(["slurm", "submit", "--dry-run"]) == 2
    assert "no dvc.yaml" in _one_line_error(capsys)
    monkeypatch.chdir(tmp_path)
    assert main(["slurm", "submit"]) == 2
    assert "not inside a DVC repository" in _one_line_error(capsys)


def test_unknown_target_is_a_one_line_error(toy, capsys):
    assert main(["slurm", "submit", "--dry-run", "nosuchstage"]) == 2
    assert "no stage 'nosuchstage'" in _one_line_error(capsys)


def test_sbatch_not_found(toy, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(toy))
    assert main(["slurm", "submit"]) == 2
    assert "sbatch not found" in _one_line_error(capsys)


def _fake_bin(tmp_path: Path) -> Path:
    """Fake sbatch (ids 100, 101, ...; fails on its third call) and scancel (logs its arguments)."""
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(f"""#!/bin/bash
n=$(cat {bindir}/n 2>/dev/null || echo 0); echo $((n+1)) > {bindir}/n
echo "$@" >> {bindir}/sbatch.log
if [ "$n" -ge 2 ]; then echo "sbatch: error: Batch job submission failed: Invalid account" >&2; exit 1; fi
echo "$((100+n));cluster"
""")
    (bindir / "scancel").write_text(f"#!/bin/bash\necho \"$@\" >> {bindir}/scancel.log\n")
    for f in ("sbatch", "scancel"):
        (bindir / f).chmod(0o755)
    return bindir


def test_sbatch_failure_is_one_line_and_cancels_what_was_submitted(toy, tmp_path, monkeypatch, capsys):
    bindir = _fake_bin(tmp_path)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    assert main(["slurm", "submit", "--account", "nope"]) == 2
    err = _one_line_error(capsys)
    assert "sbatch failed for job ev" in err and "Invalid account" in err
    assert (bindir / "scancel.log").read_text().split() == ["100", "101"]
    # the second job was submitted with the first one's id as its dependency
    scripts = sorted((toy / ".cliprl" / "slurm").glob("*/train.sbatch"))
    assert "#SBATCH --dependency=afterok:100" in scripts[0].read_text()


def test_status_falls_back_to_exit_code_files(toy, tmp_path, monkeypatch, capsys):
    bindir = _fake_bin(tmp_path)
    (bindir / "n").write_text("-100")  # never fail
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")  # no scontrol answers: SLURM forgot the jobs
    (bindir / "scontrol").write_text("#!/bin/bash\necho 'slurm_load_jobs error: Invalid job id specified' >&2\nexit 1\n")
    (bindir / "scontrol").chmod(0o755)
    assert main(["slurm", "submit"]) == 0
    out = capsys.readouterr().out
    assert "submitted train: job 1 (array of 6), after 0" in out
    sub = next((toy / ".cliprl" / "slurm").iterdir())
    record = json.loads((sub / "submission.json").read_text())
    assert [j["job_id"] for j in record["jobs"]] == ["0", "1", "2", "3", "4"]
    for i in range(6):
        (sub / "status" / f"train.{i}.rc").write_text("0\n" if i != 4 else "1\n")
    (sub / "status" / "prep.0.rc").write_text("0\n")
    assert main(["slurm", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["overall"] == "FAILED"
    rows = {r["key"]: r for r in status["jobs"]}
    assert rows["prep"]["states"] == ["COMPLETED"]
    assert rows["train"]["states"][4] == "FAILED(1)" and rows["ev"]["states"] == ["UNKNOWN", "UNKNOWN"]
    assert main(["slurm", "status"]) == 0
    text = capsys.readouterr().out
    assert "COMPLETED 5, FAILED(1) 1" in text and "overall: FAILED" in text


CHECKPOINTER = """
import os, signal, sys, time
def stop(*_):
    open('ckpt.txt', 'w').write('saved')
    sys.exit(75)
signal.signal(signal.SIGTERM, stop)
open('started.txt', 'w').write('1')
time.sleep(60)
"""


def test_job_wrapper_forwards_term_and_keeps_exit_75(toy, tmp_path):
    """The generated script run by plain bash (no SLURM): TERM to the batch shell reaches the stage command, whose
    exit code 75 is the script's, recorded in the status directory."""
    (toy / "ck.py").write_text(CHECKPOINTER)
    plan = slurm.JobPlan(root=str(toy), jobs=[slurm.Job(key="ck", group="ck", tasks=[
        slurm.StageTask(address="ck", cmd=[f"echo pre && {sys.executable} ck.py"], wdir=str(toy))])], skipped=[])
    script = tmp_path / "ck.sbatch"
    script.write_text(slurm.render_script(plan.jobs[0], plan, slurm.SlurmOptions(), submission_dir=tmp_path / "s"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not (toy / "started.txt").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 75, out
    assert (toy / "ckpt.txt").read_text() == "saved"
    assert (tmp_path / "s" / "status" / "ck.0.rc").read_text().strip() == "75"
    assert b"stage ck exited with 75" in out
