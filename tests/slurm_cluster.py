"""A real single-node SLURM on localhost for the tests: munged, slurmctld and slurmd, run as root without systemd.

Every config, state, spool, socket and log file lives under one temporary directory, the ports are picked free,
and the cluster name is unique, so two test sessions on one machine do not meet. ``SLURM_CONF`` points the client
commands (sbatch, squeue, scontrol, scancel) at the config while the cluster is up.

    with slurm_cluster() as cluster:   # or the `slurm` pytest fixture (see conftest-free use in the tests)
        subprocess.run(["sbatch", ...], env=cluster.env)

Stopping (also on failure): cancel every job, wait for the jobs' slurmstepd processes to go, stop slurmd,
slurmctld and munged (SIGTERM, then SIGKILL), and kill any slurmstepd still holding a file of this cluster's
directory. Only processes this module started (or that its slurmd started) are ever signalled.

Settings that matter (Debian 12's slurm-wlm 22.05): ``slurmd -N localhost`` with NodeName=localhost
NodeAddr=127.0.0.1 (the host name may differ); ``SlurmdParameters=config_overrides`` so the node's configured CPUs
are used even on a 2-core machine; ``DefMemPerCPU`` so array tasks share the node instead of each taking all of
it; ``SchedulerParameters=batch_sched_delay=0``; ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
SelectType=select/cons_tres, no cgroups; no slurmdbd (so no sacct: poll scontrol/squeue).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel")
TERMINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
                   "DEADLINE", "PREEMPTED"}


def slurm_installed() -> bool:
    return all(shutil.which(d) or Path("/usr/sbin", d).exists() for d in DAEMONS)


def _which(name: str) -> str:
    path = shutil.which(name) or str(Path("/usr/sbin") / name)
    if not Path(path).exists():
        raise RuntimeError(f"{name} not found: run scripts/install_slurm.sh")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class SlurmError(RuntimeError):
    pass


@dataclass
class SlurmCluster:
    """A running single-node cluster; ``env`` is os.environ plus SLURM_CONF."""

    root: Path
    conf: Path
    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    cpus: int = 8

    # ------------------------------------------------------------------------------------------------ commands
    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise SlurmError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}")
        return proc

    def sbatch(self, *args: str, cwd: str | os.PathLike | None = None) -> str:
        proc = subprocess.run(["sbatch", "--parsable", *args], env=self.env, capture_output=True, text=True,
                              timeout=60, cwd=cwd)
        if proc.returncode != 0:
            raise SlurmError(f"sbatch {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip().split(";")[0]

    def job_states(self, job_id: str) -> dict[str, str]:
        """'<jobid>' or '<arrayjob>_<task>' -> JobState, from ``scontrol -o show job``; {} when unknown."""
        proc = self.run("scontrol", "-o", "show", "job", str(job_id), check=False)
        out: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            f = dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", line))
            if "JobState" not in f:
                continue
            name = f["JobId"]
            if f.get("ArrayJobId") and f.get("ArrayTaskId"):
                name = f"{f['ArrayJobId']}_{f['ArrayTaskId']}"
            out[name] = f["JobState"]
        return out

    def job_field(self, job_id: str, key: str) -> str | None:
        proc = self.run("scontrol", "-o", "show", "job", str(job_id), check=False)
        m = re.search(rf"\b{key}=(\S*)", proc.stdout)
        return m.group(1) if m else None

    def wait_for(self, job_ids: list[str] | str, timeout: float = 120, states: set[str] = TERMINAL_STATES,
                 poll: float = 0.5) -> dict[str, str]:
        """Wait until every task of every job is in one of ``states``; returns their states."""
        ids = [job_ids] if isinstance(job_ids, str) else list(job_ids)
        deadline = time.monotonic() + timeout
        last: dict[str, str] = {}
        while True:
            last = {}
            for j in ids:
                last.update(self.job_states(j))
            if last and all(s in states for s in last.values()) and all(
                    any(k == j or k.startswith(f"{j}_") for k in last) for j in ids):
                return last
            if time.monotonic() > deadline:
                raise SlurmError(f"timed out after {timeout}s waiting for jobs {ids}: {last}\n{self.logs_tail()}")
            time.sleep(poll)

    def wait_state(self, job_id: str, wanted: str, timeout: float = 60, poll: float = 0.2) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(s == wanted for s in self.job_states(job_id).values()):
                return
            time.sleep(poll)
        raise SlurmError(f"job {job_id} never reached {wanted}: {self.job_states(job_id)}")

    def logs_tail(self, n: int = 30) -> str:
        out = []
        for name in ("slurmctld.log", "slurmd.log", "munged.log"):
            p = self.root / "log" / name
            if p.exists():
                out.append(f"--- {name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-n:]))
        return "\n".join(out)

    # ------------------------------------------------------------------------------------------------ stopping
    def cancel_all(self, timeout: float = 30) -> None:
        proc = self.run("squeue", "-h", "-o", "%A", check=False)
        ids = sorted({x.strip() for x in proc.stdout.split() if x.strip()})
        if ids:
            self.run("scancel", *ids, check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._stepds() and not self.run("squeue", "-h", "-t", "R,CG", check=False).stdout.strip():
                return
            time.sleep(0.3)

    def _stepds(self) -> list[int]:
        """slurmstepd processes of this cluster: those holding a file under its directory."""
        mine = []
        root = str(self.root)
        for proc_dir in Path("/proc").iterdir():
            if not proc_dir.name.isdigit():
                continue
            try:
                if not (proc_dir / "cmdline").read_bytes().startswith(b"slurmstepd"):
                    continue
                for fd in (proc_dir / "fd").iterdir():
                    with contextlib.suppress(OSError):
                        if os.readlink(fd).startswith(root):
                            mine.append(int(proc_dir.name))
                            break
            except OSError:
                continue
        return mine

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
                self.cancel_all()
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for pid in self._stepds():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _write_config(root: Path, cpus: int, mem_mb: int) -> Path:
    name = "c" + uuid.uuid4().hex[:8]
    for sub in ("etc", "state", "spool", "log", "run", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "etc" / "slurm.conf"
    conf.write_text(f"""\
ClusterName={name}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket,cred_expire=5
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=64
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
MessageTimeout=20
InactiveLimit=0
Waittime=0
JobRequeue=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
    # an empty cgroup.conf keeps slurmd from looking for the system one
    (root / "etc" / "cgroup.conf").write_text("CgroupPlugin=autodetect\nIgnoreSystemd=yes\n")
    return conf


@contextlib.contextmanager
def slurm_cluster(cpus: int = 8, start_timeout: float = 60) -> Iterator[SlurmCluster]:
    """Start a single-node SLURM on localhost under a temporary directory; stop it (and its jobs) on exit."""
    if os.geteuid() != 0:
        raise SlurmError("the test SLURM cluster runs its daemons as root")
    root = Path(tempfile.mkdtemp(prefix="cliprl-slurm-"))
    os.chmod(root, 0o755)
    mem_mb = max(1024, min(_mem_mb() * 3 // 4, 64 * 1024))
    conf = _write_config(root, cpus, mem_mb)
    env = dict(os.environ, SLURM_CONF=str(conf))
    for k in ("SLURM_JOB_ID", "SLURM_JOBID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        env.pop(k, None)
    cluster = SlurmCluster(root=root, conf=conf, env=env, cpus=cpus)
    old_conf = os.environ.get("SLURM_CONF")
    logs = {}
    try:
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(root / "munge", 0o700)
        os.chmod(key, 0o400)
        logs["munged"] = open(root / "log" / "munged.out", "wb")
        cluster.procs["munged"] = subprocess.Popen(
            [_which("munged"), "-F", "-f", f"--key-file={key}", f"--socket={root}/munge/munge.socket",
             f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/log/munged.log",
             f"--seed-file={root}/munge/munged.seed"],
            stdout=logs["munged"], stderr=subprocess.STDOUT, start_new_session=True)
        _wait_path(root / "munge" / "munge.socket", cluster, "munged", 20)

        logs["slurmctld"] = open(root / "log" / "slurmctld.out", "wb")
        cluster.procs["slurmctld"] = subprocess.Popen(
            [_which("slurmctld"), "-D", "-i", "-f", str(conf)], env=env,
            stdout=logs["slurmctld"], stderr=subprocess.STDOUT, start_new_session=True)
        logs["slurmd"] = open(root / "log" / "slurmd.out", "wb")
        cluster.procs["slurmd"] = subprocess.Popen(
            [_which("slurmd"), "-D", "-N", "localhost", "-f", str(conf)], env=env,
            stdout=logs["slurmd"], stderr=subprocess.STDOUT, start_new_session=True)

        deadline = time.monotonic() + start_timeout
        while True:
            for name, proc in cluster.procs.items():
                if proc.poll() is not None:
                    raise SlurmError(f"{name} exited with {proc.returncode} at start\n{_outs(root)}"
                                     f"\n{cluster.logs_tail()}")
            state = cluster.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip().lower()
            if state.startswith("idle") or state.startswith("mixed"):
                break
            if time.monotonic() > deadline:
                raise SlurmError(f"the node never became idle (state {state!r})\n{cluster.logs_tail()}")
            time.sleep(0.3)
        os.environ["SLURM_CONF"] = str(conf)
        yield cluster
    finally:
        cluster.stop()
        for handle in logs.values():
            handle.close()
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf
        if not os.environ.get("CLIPRL_KEEP_SLURM_DIR"):
            shutil.rmtree(root, ignore_errors=True)


def _outs(root: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted((root / "log").glob("*.out")))


def _wait_path(path: Path, cluster: SlurmCluster, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        proc = cluster.procs[name]
        if proc.poll() is not None:
            raise SlurmError(f"{name} exited with {proc.returncode} at start\n{_outs(cluster.root)}")
        if time.monotonic() > deadline:
            raise SlurmError(f"{name} did not create {path} within {timeout}s")
        time.sleep(0.1)


def requires_slurm():
    """The pytest marks for a test that needs the real cluster: skip only where SLURM is not installed and CI is
    not set (under CI the test runs, and fails if SLURM is missing)."""
    import pytest

    return [pytest.mark.slurm,
            pytest.mark.skipif(not slurm_installed() and not os.environ.get("CI"),
                               reason="SLURM (slurm-wlm, munge) is not installed: scripts/install_slurm.sh")]


# ------------------------------------------------------------------------------------------------ toy DVC repos
TOY_PIPELINE = """\
stages:
  prep:
    cmd: python -c "open('prep.txt', 'w').write('p')"
    outs:
      - prep.txt
  train:
    matrix:
      seed: [0, 1, 2]
      size: [5, 10]
    cmd: python -c "open('train_${item.seed}_${item.size}.txt', 'w').write(open('prep.txt').read() + '${item.seed}-${item.size}')"
    deps:
      - prep.txt
    outs:
      - train_${item.seed}_${item.size}.txt
  ev:
    foreach: [a, b]
    do:
      cmd: python -c "open('ev_${item}.txt', 'w').write(open('train_0_5.txt').read() + '${item}')"
      deps:
        - train_0_5.txt
      outs:
        - ev_${item}.txt
  report:
    cmd: python -c "open('report.txt', 'w').write(open('ev_a.txt').read() + open('ev_b.txt').read())"
    deps:
      - ev_a.txt
      - ev_b.txt
    outs:
      - report.txt
"""


def init_dvc_repo(path: str | os.PathLike, dvc_yaml: str | None = TOY_PIPELINE) -> Path:
    """A fresh git + DVC repository at ``path`` with ``dvc_yaml`` (None: no dvc.yaml)."""
    import sys

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    # in a subprocess: DVC's in-process logging keeps a handle on whatever sys.stdout was (pytest's capture)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=path, check=True)
    if dvc_yaml is not None:
        (path / "dvc.yaml").write_text(dvc_yaml)
    return path
