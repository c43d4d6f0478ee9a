"""Run the DVC pipeline on SLURM: one job (array) per stage group, ordered by ``--dependency=afterok``.

The pipeline is read through DVC's own Python API (``dvc.repo.Repo``: its index, stage graph and stage status), so
``matrix:``/``foreach:`` expansion, ``wdir``, ``vars`` and params interpolation are DVC's, not re-implemented here.

- The expanded stages of one ``matrix``/``foreach`` parent (``name@a-b``) become one SLURM job array: task ``i`` runs
  the ``i``-th expanded stage's command in the stage's working directory. A plain stage becomes a plain job.
- A job depends (``afterok``) on every job that produces one of its stages' dependencies; ``afterok`` on an array's
  job id waits for all of its tasks. Should a group depend on itself (``x@1`` needs ``x@0``) or take part in a cycle
  between groups, that group is split into one job per stage.
- Every job runs its stage's command directly, never ``dvc repro``: ``dvc repro`` takes the repository lock, so
  concurrent jobs in one workspace fail (treeverse/dvc#7419).
- A final job runs ``dvc commit -f`` on the submitted stages, recording their results in ``dvc.lock``. The report is
  built by the ``report`` stage's own job, which the DAG orders after everything it reads.
- Stages already up to date are not submitted; a stage downstream of a submitted stage is submitted too.
- Each job forwards SIGTERM/SIGUSR1 (``--signal=B:TERM@N`` before the time limit, or a preemption) to the stage's
  command; a command that checkpoints and exits 75 (EX_TEMPFAIL) is requeued (``scontrol requeue``), up to
  ``max_requeues`` times, and resumes from its checkpoint.

Every submission is recorded under ``.cliprl/slurm/<id>/`` (``submission.json``, the sbatch scripts, logs, and one
exit-code file per finished task), which ``cliprl slurm status`` reads together with ``scontrol show job``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import networkx as nx
from dvc.exceptions import DvcException
from dvc.repo import Repo

from ..store.atomic import atomic_write_json
from ..errors import CliprlError

RECORD_DIR = Path(".cliprl") / "slurm"
RECORD_FILE = "submission.json"
COMMIT_KEY = "dvc-commit"
EXIT_PREEMPTED = 75
_SUBMIT_TIMEOUT_S = 120


# ------------------------------------------------------------------------------------------------------ data types
@dataclass
class StageTask:
    """One expanded DVC stage: what one job, or one task of a job array, runs."""

    address: str  # DVC's address: "name", "name@key", or "sub/dvc.yaml:name@key"
    cmd: list[str]
    wdir: str  # absolute


@dataclass
class Job:
    """One SLURM job: a single stage, an array over the expanded stages of one matrix/foreach parent, or the
    final ``dvc commit`` job."""

    key: str  # unique, file-name safe: "train_base", "dvc-commit", ...
    group: str  # the DVC address of the group ("train_base", "sub/dvc.yaml:furl"), or "" for the commit job
    tasks: list[StageTask]
    after: list[str] = field(default_factory=list)  # keys of the jobs this one waits for (afterok)
    array: bool = False

    @property
    def size(self) -> int:
        return len(self.tasks)


@dataclass
class JobPlan:
    root: str
    jobs: list[Job]  # in submission order: every job comes after the jobs it waits for
    skipped: list[str]  # addresses of the stages that are up to date (or frozen) and are not submitted

    @property
    def stage_jobs(self) -> list[Job]:
        """The jobs that run stages (all but the final ``dvc commit``)."""
        return [job for job in self.jobs if job.key != COMMIT_KEY]


@dataclass
class SlurmOptions:
    """The sbatch options every generated job gets (None: leave it to the cluster's defaults)."""

    partition: str | None = None
    time: str | None = None
    mem: str | None = None
    cpus_per_task: int | None = None
    gpus: str | None = None
    account: str | None = None
    log_dir: str | None = None  # default: .cliprl/slurm/<id>/logs
    max_parallel: int | None = None  # array throttle: --array=0-N%K
    signal_seconds: int = 120  # --signal=B:TERM@N: ask the command to checkpoint N s before the time limit
    max_requeues: int = 3  # requeue a task that exits 75 at most this many times (0: never)
    setup: str | None = None  # shell lines run before each command (module load, source venv/bin/activate...)
    extra: list[str] = field(default_factory=list)  # further sbatch options, e.g. ["--qos=high"]

    def __post_init__(self) -> None:
        check_options(self)


# What each value rendered into an #SBATCH line may look like. sbatch reads its directives line by line and stops at
# the first line that is not one, so a newline inside a value would end the block and silently drop every later
# directive (--requeue, --signal, the dependency): values are checked, never quoted.
_SBATCH_FORMATS = {
    "partition": (r"[A-Za-z0-9_.\-]+(,[A-Za-z0-9_.\-]+)*", "a partition name or a comma-separated list, e.g. gpu"),
    "account": (r"[A-Za-z0-9_.\-]+", "an account name, e.g. lab"),
    "time": (r"(\d+-)?\d+(:\d+){0,2}|(?i:unlimited|infinite)",
             "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, e.g. 4:00:00"),
    "mem": (r"\d+[KMGTkmgt]?", "an integer with an optional K/M/G/T suffix, e.g. 8G"),
    "gpus": (r"([A-Za-z0-9_.\-]+:)?\d+", "a count or TYPE:COUNT, e.g. 1 or a100:1"),
}


def check_options(options: SlurmOptions) -> None:
    """Refuse option values that would break or change the generated ``#SBATCH`` block (one line each)."""
    for name, (pattern, shape) in _SBATCH_FORMATS.items():
        value = getattr(options, name)
        if value is None:
            continue
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise CliprlError(f"--{name} {value!r} is not a valid sbatch value: expected {shape}")
    if options.log_dir is not None and (re.search(r"[\x00-\x20\x7f]", options.log_dir) or not options.log_dir):
        raise CliprlError(f"--log-dir {options.log_dir!r}: sbatch directives cannot hold whitespace or control "
                          "characters; choose a path without them")
    for extra in options.extra:
        if not re.fullmatch(r"--?[A-Za-z][A-Za-z0-9\-]*(=[^\x00-\x1f\x7f]*)?", extra):
            raise CliprlError(f"--sbatch-arg {extra!r} is not one sbatch option (--name or --name=value, no "
                              "newlines or control characters)")
    if options.setup is not None and re.search(r"[\x00-\x08\x0b-\x1f\x7f]", options.setup):
        raise CliprlError("--setup holds control characters (newlines and tabs are fine: it is shell lines)")
    for name in ("cpus_per_task", "max_parallel"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise CliprlError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    for name in ("signal_seconds", "max_requeues"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CliprlError(f"--{name.replace('_', '-')} must be a non-negative integer, got {value!r}")


# ----------------------------------------------------------------------------------------------------- the plan
def find_root(start: str | os.PathLike | None = None) -> Path:
    """The DVC repository root at or above ``start`` (default: the working directory)."""
    here = Path(start or os.getcwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / ".dvc").is_dir():
            return cand
    raise CliprlError(f"not inside a DVC repository (no .dvc directory at or above {here}); run `dvc init` first")


def _group_of(address: str) -> str:
    return address.split("@", 1)[0]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "stage"


def _cmd_list(cmd: Any) -> list[str]:
    if cmd is None:
        return []
    if isinstance(cmd, str):
        return [cmd]
    return [str(c) for c in cmd]


def build_plan(root: str | os.PathLike | None = None, *, targets: Sequence[str] = (), force: bool = False) -> JobPlan:
    """Read the DVC pipeline at ``root`` and group the stages to run into SLURM jobs.

    ``targets`` (stage addresses or matrix parents such as ``train_base``) limit the plan to those stages and what
    they depend on, like ``dvc repro TARGET``; ``force`` submits every stage, up to date or not.
    """
    root_path = find_root(root)
    try:
        repo = Repo(str(root_path))
    except DvcException as exc:
        raise CliprlError(f"cannot open the DVC repository at {root_path}: {_one_line(exc)}") from exc
    try:
        try:
            index = repo.index
            graph = index.graph
            stages = [s for s in index.stages if _cmd_list(getattr(s, "cmd", None))]
        except DvcException as exc:
            raise CliprlError(f"cannot read the DVC pipeline in {root_path}: {_one_line(exc)}") from exc
        if not stages:
            where = root_path / "dvc.yaml"
            if not where.exists():
                raise CliprlError(f"no dvc.yaml in {root_path}: there is no pipeline to submit")
            raise CliprlError(f"{where} defines no stage with a command: there is nothing to submit")

        order = {s.addressing: i for i, s in enumerate(stages)}
        by_addr = {s.addressing: s for s in stages}
        # graph edges go from a stage to the stages that produce its dependencies
        deps_of: dict[str, set[str]] = {
            a: {d.addressing for d in graph.successors(by_addr[a]) if d.addressing in by_addr} for a in by_addr
        }

        selected = set(by_addr)
        if targets:
            selected = set()
            for target in targets:
                hits = [a for a in by_addr if a == target or _group_of(a) == target
                        or a.split(":", 1)[-1] == target or _group_of(a.split(":", 1)[-1]) == target]
                if not hits:
                    raise CliprlError(f"no stage {target!r} in the pipeline (stages: "
                                      f"{', '.join(sorted({_group_of(a) for a in by_addr}))})")
                for a in hits:
                    selected.add(a)
                    selected.update(d.addressing for d in nx.descendants(graph, by_addr[a]) if d.addressing in by_addr)

        try:
            with repo.lock:
                changed = {a: (not by_addr[a].frozen) and (force or by_addr[a].changed()) for a in selected}
        except DvcException as exc:
            raise CliprlError(f"cannot compute the pipeline status in {root_path}: {_one_line(exc)}") from exc
        wdirs = {a: str(Path(by_addr[a].wdir).resolve()) for a in selected}
        cmds = {a: _cmd_list(by_addr[a].cmd) for a in selected}
    finally:
        repo.close()

    # submit what changed, and everything downstream of it (its inputs are about to change)
    dag = nx.DiGraph()
    dag.add_nodes_from(selected)
    dag.add_edges_from((d, a) for a in selected for d in deps_of[a] if d in selected)
    topo = list(nx.lexicographical_topological_sort(dag, key=order.__getitem__))
    submit: set[str] = set()
    for a in topo:
        if changed[a] or any(d in submit for d in deps_of[a]):
            submit.add(a)
    skipped = [a for a in sorted(selected, key=order.__getitem__) if a not in submit]

    groups = _group(submit, deps_of, order)
    jobs = _jobs_from_groups(groups, submit, deps_of, order, cmds, wdirs)
    if jobs:
        commit_tasks = [StageTask(address=COMMIT_KEY, cmd=[
            "dvc commit -f " + " ".join(shlex.quote(a) for a in sorted(submit, key=order.__getitem__))],
            wdir=str(root_path))]
        jobs.append(Job(key=COMMIT_KEY, group="", tasks=commit_tasks, after=[j.key for j in jobs]))
    return JobPlan(root=str(root_path), jobs=jobs, skipped=skipped)


def _group(submit: set[str], deps_of: dict[str, set[str]], order: dict[str, int]) -> list[list[str]]:
    """Stages grouped by their matrix/foreach parent; a group that depends on itself, or sits on a cycle between
    groups, is split into single stages (repeated until the group graph is acyclic)."""
    group_of = {a: _group_of(a) for a in submit}
    while True:
        members: dict[str, list[str]] = {}
        for a in sorted(submit, key=order.__getitem__):
            members.setdefault(group_of[a], []).append(a)
        g = nx.DiGraph()
        g.add_nodes_from(members)
        bad: set[str] = set()
        for a in submit:
            for d in deps_of[a]:
                if d not in submit:
                    continue
                if group_of[d] == group_of[a]:
                    bad.add(group_of[a])
                else:
                    g.add_edge(group_of[d], group_of[a])
        for comp in nx.strongly_connected_components(g):
            if len(comp) > 1:
                bad.update(c for c in comp if len(members[c]) > 1)
        if not bad:
            return list(members.values())
        for a in submit:
            if group_of[a] in bad:
                group_of[a] = a  # a stage of its own


def _jobs_from_groups(groups: list[list[str]], submit: set[str], deps_of: dict[str, set[str]],
                      order: dict[str, int], cmds: dict[str, list[str]], wdirs: dict[str, str]) -> list[Job]:
    parents = [_group_of(m[0]) for m in groups]
    used: set[str] = {COMMIT_KEY}
    keys: list[str] = []
    names: list[str] = []
    for members, parent in zip(groups, parents):
        # a stage split out of its matrix group (or the only one left of it) is named by its full address
        name = parent if len(members) > 1 or parents.count(parent) == 1 else members[0]
        key = base = _safe(name)
        n = 2
        while key in used:
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        keys.append(key)
        names.append(name)
    job_of_stage = {a: k for m, k in zip(groups, keys) for a in m}
    g = nx.DiGraph()
    g.add_nodes_from(keys)
    for a in submit:
        for d in deps_of[a]:
            if d in submit and job_of_stage[d] != job_of_stage[a]:
                g.add_edge(job_of_stage[d], job_of_stage[a])
    first = {k: min(order[a] for a in m) for m, k in zip(groups, keys)}
    by_key = {k: (m, name) for m, k, name in zip(groups, keys, names)}
    jobs = []
    for key in nx.lexicographical_topological_sort(g, key=first.__getitem__):
        members, name = by_key[key]
        jobs.append(Job(key=key, group=name,
                        tasks=[StageTask(address=a, cmd=cmds[a], wdir=wdirs[a]) for a in members],
                        after=sorted(g.predecessors(key), key=first.__getitem__),
                        array="@" in members[0] and name != members[0]))
    return jobs


# ------------------------------------------------------------------------------------------------ sbatch scripts
def _default_setup() -> str:
    """Put the running interpreter's bin directory (a venv's) first on PATH, so ``python``, ``dvc`` and ``cliprl``
    in the jobs resolve as they do here (sbatch exports the environment, but a venv may not be activated)."""
    bindir = Path(sys.executable).parent  # not resolved: a venv's python is a symlink to the system one
    return f'export PATH={shlex.quote(str(bindir))}:"$PATH"'


def _bash_quote(text: str) -> str:
    """A bash ANSI-C quoted string ($'...') for any text, newlines included."""
    out = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"$'{out}'"


def render_script(job: Job, plan: JobPlan, options: SlurmOptions, *, submission_dir: str | os.PathLike,
                  dependency: Sequence[str] = ()) -> str:
    """The sbatch script for one job. ``dependency`` holds the job ids (or placeholders) it waits for."""
    sdir = Path(submission_dir)
    log_dir = Path(options.log_dir).resolve() if options.log_dir else sdir / "logs"
    status_dir = sdir / "status"
    lines = ["#!/bin/bash", f"#SBATCH --job-name=cliprl-{job.key}"]
    if job.array:
        throttle = f"%{options.max_parallel}" if options.max_parallel else ""
        lines.append(f"#SBATCH --array=0-{job.size - 1}{throttle}")
        lines.append(f"#SBATCH --output={log_dir}/{job.key}_%A_%a.out")
    else:
        lines.append(f"#SBATCH --output={log_dir}/{job.key}_%j.out")
    for flag, value in (("partition", options.partition), ("time", options.time), ("mem", options.mem),
                        ("cpus-per-task", options.cpus_per_task), ("gpus", options.gpus),
                        ("account", options.account)):
        if value not in (None, ""):
            lines.append(f"#SBATCH --{flag}={value}")
    if dependency:
        lines.append(f"#SBATCH --dependency=afterok:{':'.join(dependency)}")
        lines.append("#SBATCH --kill-on-invalid-dep=yes")
    if job.key != COMMIT_KEY:
        lines.append("#SBATCH --requeue")
        if options.signal_seconds and options.signal_seconds > 0:
            lines.append(f"#SBATCH --signal=B:TERM@{int(options.signal_seconds)}")
    lines.append("#SBATCH --open-mode=append")
    for extra in options.extra:
        lines.append(f"#SBATCH {extra}")
    what = (f"stages {job.tasks[0].address} .. {job.tasks[-1].address} ({job.size} tasks)" if job.array
            else ("dvc commit of the submitted stages" if job.key == COMMIT_KEY else f"stage {job.tasks[0].address}"))
    lines += [
        f"# Generated by `cliprl slurm submit` for the DVC pipeline in {plan.root}: {what}.",
        "# Runs the stage command directly (not `dvc repro`, whose repository lock breaks concurrent jobs).",
        "set -uo pipefail",
        options.setup if options.setup is not None else _default_setup(),
        f"STATUS_DIR={shlex.quote(str(status_dir))}",
        f"JOB_KEY={shlex.quote(job.key)}",
        f"MAX_REQUEUES={int(options.max_requeues) if job.key != COMMIT_KEY else 0}",
        "TASK=${SLURM_ARRAY_TASK_ID:-0}",
        'case "$TASK" in',
    ]
    for i, task in enumerate(job.tasks):
        lines.append(f"  {i}) STAGE={shlex.quote(task.address)}; WDIR={shlex.quote(task.wdir)}")
        lines.append(f"     CMD={_bash_quote(chr(10).join(task.cmd))} ;;")
    lines += ['  *) echo "cliprl: no stage for array task $TASK" >&2; exit 2 ;;', "esac", _RUNNER]
    return "\n".join(lines) + "\n"


# The common tail of every script: run the command in its own process group, forward TERM/USR1/INT to it, record
# the exit code, and requeue the job when the command checkpointed and exited 75.
_RUNNER = r"""
mkdir -p "$STATUS_DIR"
echo "[cliprl] $(date -Is) stage $STAGE: job ${SLURM_JOB_ID:-?} task $TASK restart ${SLURM_RESTART_COUNT:-0} on $(hostname)"
cd "$WDIR" || exit 2
child=""
forwarded=""
forward() { forwarded="$1"; [ -n "$child" ] && kill -s "$1" -- "-$child" 2>/dev/null; }
trap 'forward TERM' TERM
trap 'forward USR1' USR1
trap 'forward INT' INT
# the inner shell survives the forwarded signal (a no-op trap runs after its foreground command) so a checkpointing
# command's own exit code (75) is what comes back
setsid -w bash -c "trap : TERM USR1 INT; $CMD" &
child=$!
rc=0
while :; do
    wait "$child"; rc=$?
    kill -0 "$child" 2>/dev/null || break
done
wait "$child" 2>/dev/null; last=$?
[ "$last" -ne 127 ] && rc=$last
# killed by the signal we forwarded before it could install its handler (Python start-up): nothing was written,
# so it is as resumable as a checkpoint; count it as 75 so the task is requeued
if [ -n "$forwarded" ] && { [ "$rc" -eq 143 ] || [ "$rc" -eq 138 ]; }; then
    echo "[cliprl] killed by SIG$forwarded during start-up (exit $rc): treated as 75 (nothing written yet)"
    rc=75
fi
echo "$rc" > "$STATUS_DIR/$JOB_KEY.$TASK.rc.tmp" && mv -f "$STATUS_DIR/$JOB_KEY.$TASK.rc.tmp" "$STATUS_DIR/$JOB_KEY.$TASK.rc"
echo "[cliprl] $(date -Is) stage $STAGE exited with $rc"
if [ "$rc" -eq 75 ] && [ "${SLURM_RESTART_COUNT:-0}" -lt "$MAX_REQUEUES" ]; then
    me="${SLURM_JOB_ID:-}"
    [ -n "${SLURM_ARRAY_JOB_ID:-}" ] && me="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    if [ -n "$me" ]; then
        echo "[cliprl] checkpointed (exit 75): requeueing $me to resume"
        scontrol requeue "$me" || true
    fi
fi
exit "$rc"
"""


# ------------------------------------------------------------------------------------------------------ submitting
def new_submission_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def submit_plan(plan: JobPlan, options: SlurmOptions | None = None, *, dry_run: bool = False,
                echo: Callable[[str], None] = print, sbatch: str = "sbatch",
                submission_id: str | None = None) -> dict[str, Any]:
    """Submit the plan's jobs in order (or, with ``dry_run``, print their scripts and submit nothing).

    Returns the submission record, which (unless ``dry_run``) is also written to
    ``.cliprl/slurm/<id>/submission.json``. A failed ``sbatch`` cancels the jobs already submitted.
    """
    options = options or SlurmOptions()
    sid = submission_id or new_submission_id()
    sdir = Path(plan.root) / RECORD_DIR / sid
    record: dict[str, Any] = {
        "id": sid, "root": plan.root, "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "options": asdict(options), "skipped": plan.skipped, "dry_run": dry_run, "jobs": [],
    }
    if not plan.jobs:
        echo(f"nothing to submit: all {len(plan.skipped)} stages are up to date")
        return record

    if dry_run:
        for n, job in enumerate(plan.jobs, 1):
            deps = [f"<{k}>" for k in job.after]
            echo(f"# ===== job {n}/{len(plan.jobs)}: {job.key} "
                 f"({'array of ' + str(job.size) if job.array else '1 task'}); "
                 f"submitted as: sbatch --parsable {sdir / (job.key + '.sbatch')}")
            echo(render_script(job, plan, options, submission_dir=sdir, dependency=deps))
            record["jobs"].append(_job_record(job, None, sdir))
        echo(f"# dry run: {len(plan.jobs)} jobs, {sum(j.size for j in plan.jobs)} tasks; "
             f"{len(plan.skipped)} stages up to date; nothing submitted")
        return record

    exe = shutil.which(sbatch)
    if exe is None:
        raise CliprlError(f"{sbatch} not found on PATH: is SLURM installed here? (--dry-run prints the scripts)")
    log_dir = Path(options.log_dir).resolve() if options.log_dir else sdir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    (sdir / "status").mkdir(parents=True, exist_ok=True)
    ids: dict[str, str] = {}
    for job in plan.jobs:
        script = render_script(job, plan, options, submission_dir=sdir, dependency=[ids[k] for k in job.after])
        path = sdir / f"{job.key}.sbatch"
        path.write_text(script)
        try:
            proc = subprocess.run([exe, "--parsable", str(path)], capture_output=True, text=True,
                                  timeout=_SUBMIT_TIMEOUT_S, cwd=plan.root)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _cancel(list(ids.values()))
            raise CliprlError(f"sbatch failed for job {job.key}: {_one_line(exc)}") from exc
        if proc.returncode != 0:
            _cancel(list(ids.values()))
            msg = _one_line(proc.stderr or proc.stdout or f"exit code {proc.returncode}")
            raise CliprlError(f"sbatch failed for job {job.key} (exit {proc.returncode}): {msg}"
                              + (f"; cancelled the {len(ids)} jobs already submitted" if ids else ""))
        job_id = proc.stdout.strip().split(";", 1)[0].strip()
        if not job_id.isdigit():
            _cancel(list(ids.values()))
            raise CliprlError(f"sbatch --parsable printed no job id for job {job.key}: {_one_line(proc.stdout)}")
        ids[job.key] = job_id
        record["jobs"].append(_job_record(job, job_id, sdir))
        echo(f"submitted {job.key}: job {job_id}"
             + (f" (array of {job.size})" if job.array else "")
             + (f", after {', '.join(ids[k] for k in job.after)}" if job.after else ""))

    atomic_write_json(sdir / RECORD_FILE, record)
    echo(f"submission {sid}: {len(plan.jobs)} jobs, {sum(j.size for j in plan.jobs)} tasks; "
         f"{len(plan.skipped)} stages up to date. `cliprl slurm status` follows it.")
    return record


def _job_record(job: Job, job_id: str | None, sdir: Path) -> dict[str, Any]:
    return {"key": job.key, "group": job.group, "job_id": job_id, "array": job.array,
            "stages": [t.address for t in job.tasks], "after": job.after,
            "script": str(sdir / f"{job.key}.sbatch")}


def _cancel(job_ids: list[str]) -> None:
    if job_ids and shutil.which("scancel"):
        subprocess.run(["scancel", *job_ids], capture_output=True, timeout=60, check=False)


def _one_line(exc: Any) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


# ----------------------------------------------------------------------------------------------------------- status
def list_submissions(root: str | os.PathLike | None = None) -> list[Path]:
    base = find_root(root) / RECORD_DIR
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / RECORD_FILE).is_file())


def load_submission(root: str | os.PathLike | None = None, submission_id: str | None = None) -> dict[str, Any]:
    subs = list_submissions(root)
    if submission_id:
        subs = [p for p in subs if p.name == submission_id or p.name.startswith(submission_id)]
        if not subs:
            raise CliprlError(f"no SLURM submission {submission_id!r} under {find_root(root) / RECORD_DIR}")
    if not subs:
        raise CliprlError(f"no SLURM submission recorded under {find_root(root) / RECORD_DIR}: "
                          "run `cliprl slurm submit` first")
    path = subs[-1] / RECORD_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CliprlError(f"cannot read {path}: {_one_line(exc)}") from exc


def _parse_tasks(spec: str) -> list[int]:
    """'3' -> [3]; '0-4%2' -> [0..4]; '1,3,5-6' -> [1, 3, 5, 6]."""
    out: list[int] = []
    for part in spec.split("%", 1)[0].split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.extend(range(int(lo), int(hi) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def query_job(job_id: str, scontrol: str = "scontrol") -> dict[int, dict[str, str]] | None:
    """Task index -> {JobState, ExitCode, Reason, JobId} from ``scontrol -o show job``; None when SLURM no longer
    knows the job (finished more than MinJobAge ago) or scontrol is missing."""
    exe = shutil.which(scontrol)
    if exe is None:
        return None
    proc = subprocess.run([exe, "-o", "show", "job", str(job_id)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return None
    tasks: dict[int, dict[str, str]] = {}
    for line in proc.stdout.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", line))
        if "JobState" not in fields:
            continue
        info = {k: fields.get(k, "") for k in ("JobId", "JobState", "ExitCode", "Reason", "RestartCnt")}
        idx = _parse_tasks(fields["ArrayTaskId"]) if fields.get("ArrayTaskId") else [0]
        for i in idx:
            tasks[i] = info
    return tasks


def _rc_state(rc: int) -> str:
    return "COMPLETED" if rc == 0 else ("CHECKPOINTED" if rc == EXIT_PREEMPTED else f"FAILED({rc})")


def submission_status(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Per job: its id, size, and the state of each task, from SLURM where it still knows the job, else from the
    exit-code files the jobs write."""
    sdir = Path(record["root"]) / RECORD_DIR / record["id"] / "status"
    rows = []
    for job in record["jobs"]:
        n = len(job["stages"])
        known = query_job(job["job_id"]) if job.get("job_id") else None
        states = []
        for i in range(n):
            info = (known or {}).get(i)
            if info:
                state = info["JobState"]
                if state in ("FAILED", "COMPLETED") and info.get("ExitCode", "0:0") not in ("0:0", ""):
                    state = f"FAILED({info['ExitCode'].split(':')[0]})"
                if state == "PENDING" and info.get("Reason") not in (None, "", "None"):
                    state = f"PENDING({info['Reason']})"
            else:
                rc_file = sdir / f"{job['key']}.{i}.rc"
                try:
                    state = _rc_state(int(rc_file.read_text().strip()))
                except (OSError, ValueError):
                    state = "UNKNOWN"
            states.append(state)
        rows.append({"key": job["key"], "job_id": job.get("job_id"), "tasks": n, "states": states,
                     "stages": job["stages"]})
    return rows


def overall_state(rows: list[dict[str, Any]]) -> str:
    states = [s for r in rows for s in r["states"]]
    if not states:
        return "EMPTY"
    if all(s == "COMPLETED" for s in states):
        return "COMPLETED"
    if any(s.startswith(("FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"))
           or "DependencyNeverSatisfied" in s for s in states):
        return "FAILED"
    if any(s.startswith(("RUNNING", "COMPLETING", "CONFIGURING", "REQUEUE", "RESIZING", "SUSPENDED", "CHECKPOINTED"))
           for s in states) or ("COMPLETED" in states and any(s.startswith("PENDING") for s in states)):
        return "RUNNING"  # under way: some tasks done or running, others still to come
    if any(s.startswith("PENDING") for s in states):
        return "PENDING"
    return "UNKNOWN"


def format_status(record: dict[str, Any], rows: list[dict[str, Any]], *, verbose: bool = False) -> str:

    out = [f"submission {record['id']} ({record.get('created', '?')}) in {record['root']}: "
           f"{len(rows)} jobs, {sum(r['tasks'] for r in rows)} tasks, {len(record.get('skipped', []))} stages "
           "were up to date"]
    width = max([len(r["key"]) for r in rows] + [3])
    out.append(f"{'JOB':<{width}}  {'JOBID':>8}  {'TASKS':>5}  STATE")
    for r in rows:
        counts = Counter(r["states"])
        summary = ", ".join(f"{s} {c}" if r["tasks"] > 1 else s for s, c in sorted(counts.items()))
        out.append(f"{r['key']:<{width}}  {r['job_id'] or '-':>8}  {r['tasks']:>5}  {summary}")
        if verbose:
            for stage, state in zip(r["stages"], r["states"]):
                out.append(f"{'':<{width}}    {stage}: {state}")
    out.append(f"overall: {overall_state(rows)}")
    return "\n".join(out)
