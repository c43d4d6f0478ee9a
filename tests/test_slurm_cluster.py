"""`cliprl slurm submit` against a real single-node SLURM on localhost (tests/slurm_cluster.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slurm_cluster import init_dvc_repo, requires_slurm, slurm_cluster

from cliprl_cli import cluster as slurm
from cliprl_cli.cli import main

pytestmark = requires_slurm()


@pytest.fixture(scope="module")
def cluster():
    with slurm_cluster() as c:
        yield c


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))


def _logs(repo: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}"
                     for p in sorted((repo / ".cliprl" / "slurm").glob("*/logs/*.out")))


def test_toy_pipeline_runs_on_slurm_and_lands_in_dvc_lock(cluster, tmp_path, monkeypatch, capsys):
    repo = init_dvc_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    t0 = time.monotonic()
    assert main(["slurm", "submit", "--time", "5:00", "--mem", "100M"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "array of 6" in out
    record = slurm.load_submission(repo)
    ids = [j["job_id"] for j in record["jobs"]]
    assert len(ids) == 5
    states = cluster.wait_for(ids[-1], timeout=120)  # the final dvc commit job
    assert set(states.values()) == {"COMPLETED"}, _logs(repo)
    states = cluster.wait_for(ids, timeout=10)
    assert len(states) == 1 + 6 + 2 + 1 + 1 and set(states.values()) == {"COMPLETED"}
    elapsed = time.monotonic() - t0

    assert (repo / "report.txt").read_text() == "p0-5ap0-5b"
    lock = (repo / "dvc.lock").read_text()
    for stage in ("prep", "train@2-10", "ev@b", "report"):
        assert f"  {stage}:" in lock, lock
    status = _dvc(repo, "status")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout + status.stderr
    assert slurm.build_plan(repo).jobs == []  # nothing left to submit

    assert main(["slurm", "status", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["overall"] == "COMPLETED"
    assert {r["key"]: r["tasks"] for r in summary["jobs"]}["train"] == 6
    print(f"toy pipeline on SLURM: {elapsed:.1f}s")


def test_failed_stage_stops_its_dependents(cluster, tmp_path, monkeypatch, capsys):
    repo = init_dvc_repo(tmp_path / "repo")
    yaml = (repo / "dvc.yaml").read_text().replace("open('prep.txt').read() + '${item.seed}-${item.size}'",
                                                   "open('prep.txt').read() + '${item.seed}-${item.size}' "
                                                   "if ${item.seed} != 1 else 1/0")
    (repo / "dvc.yaml").write_text(yaml)
    monkeypatch.chdir(repo)
    assert main(["slurm", "submit"]) == 0
    record = slurm.load_submission(repo)
    ids = {j["key"]: j["job_id"] for j in record["jobs"]}
    train = cluster.wait_for(ids["train"], timeout=60)
    assert sorted(train.values()).count("FAILED") == 2, train
    # afterok can never be met: the dependents are cancelled (--kill-on-invalid-dep), nothing is committed
    cluster.wait_for([ids["ev"], ids[slurm.COMMIT_KEY]], timeout=60)
    rows = {r["key"]: r for r in slurm.submission_status(record)}
    assert rows["train"]["states"].count("FAILED(1)") == 2
    assert slurm.overall_state(list(rows.values())) == "FAILED"
    assert not (repo / "dvc.lock").exists() or "ev@a" not in (repo / "dvc.lock").read_text()


PREEMPTIBLE = """
import os, signal, sys, time
# a stand-in for a checkpointing trainer: counts to N, one step per 0.1 s; on TERM saves its count and exits 75
ckpt = 'ckpt_{name}.txt'
start = int(open(ckpt).read()) if os.path.exists(ckpt) else 0
state = dict(i=start)
def stop(*_):
    open(ckpt, 'w').write(str(state['i']))
    sys.exit(75)
signal.signal(signal.SIGTERM, stop)
open('runs_{name}.txt', 'a').write(f"start={{start}} restart={{os.environ.get('SLURM_RESTART_COUNT', '0')}}\\n")
while state['i'] < 40:
    time.sleep(0.1)
    state['i'] += 1
open('out_{name}.txt', 'w').write(str(state['i']))
"""


def test_preempted_stage_checkpoints_requeues_itself_and_resumes(cluster, tmp_path, monkeypatch):
    repo = init_dvc_repo(tmp_path / "repo", dvc_yaml="""\
stages:
  long:
    foreach: [a, b]
    do:
      cmd: python long_${item}.py
      deps:
        - long_${item}.py
      outs:
        - out_${item}.txt
""")
    for name in "ab":
        (repo / f"long_{name}.py").write_text(PREEMPTIBLE.format(name=name))
    monkeypatch.chdir(repo)
    plan = slurm.build_plan(repo)
    record = slurm.submit_plan(plan, slurm.SlurmOptions(), echo=lambda s: None)
    array_id = record["jobs"][0]["job_id"]
    cluster.wait_state(f"{array_id}_0", "RUNNING", timeout=60)
    deadline = time.monotonic() + 30
    while not (repo / "runs_a.txt").exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)
    # preemption as a cluster does it with a grace period: TERM to the batch shell, which forwards it
    cluster.run("scancel", "--signal=TERM", "--batch", f"{array_id}_0")
    states = cluster.wait_for(record["jobs"][-1]["job_id"], timeout=120)
    assert set(states.values()) == {"COMPLETED"}, _logs(repo)
    runs = (repo / "runs_a.txt").read_text().splitlines()
    assert len(runs) == 2 and runs[0] == "start=0 restart=0", runs
    assert runs[1].startswith("start=") and int(runs[1].split()[0][6:]) > 0 and runs[1].endswith("restart=1")
    assert (repo / "out_a.txt").read_text() == "40" and (repo / "out_b.txt").read_text() == "40"
    assert (repo / "runs_b.txt").read_text().splitlines() == ["start=0 restart=0"]
    assert _dvc(repo, "status").stdout.strip().endswith("up to date.")
