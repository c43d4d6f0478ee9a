"""Following a submission: its record, each task's state from ``scontrol show job`` while SLURM knows the job, else
from the exit-code file the task wrote, and the overall state."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import CliprlError
from .plan import one_line, find_root
from .submit import RECORD_DIR, RECORD_FILE

EXIT_PREEMPTED = 75


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
        raise CliprlError(f"cannot read {path}: {one_line(exc)}") from exc


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
    """The table `cliprl slurm status` prints: one row per job, its tasks' states counted, and the overall state."""
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
