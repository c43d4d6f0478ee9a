"""Submitting a plan: one ``sbatch --parsable`` per job in order, each waiting (``afterok``) for the ids of the jobs
it depends on; the submission is recorded under ``.cliprl/slurm/<id>/``, and a failed sbatch cancels what was
already submitted."""

from __future__ import annotations

import datetime as _dt
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from ..errors import CliprlError
from ..store.atomic import atomic_write_json
from .options import SlurmOptions
from .plan import Job, JobPlan, one_line
from .sbatch import render_script

RECORD_DIR = Path(".cliprl") / "slurm"
RECORD_FILE = "submission.json"
_SUBMIT_TIMEOUT_S = 120


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
            raise CliprlError(f"sbatch failed for job {job.key}: {one_line(exc)}") from exc
        if proc.returncode != 0:
            _cancel(list(ids.values()))
            msg = one_line(proc.stderr or proc.stdout or f"exit code {proc.returncode}")
            raise CliprlError(f"sbatch failed for job {job.key} (exit {proc.returncode}): {msg}"
                              + (f"; cancelled the {len(ids)} jobs already submitted" if ids else ""))
        job_id = proc.stdout.strip().split(";", 1)[0].strip()
        if not job_id.isdigit():
            _cancel(list(ids.values()))
            raise CliprlError(f"sbatch --parsable printed no job id for job {job.key}: {one_line(proc.stdout)}")
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
