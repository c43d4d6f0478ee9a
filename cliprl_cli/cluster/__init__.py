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

The modules, one job each: :mod:`.plan` reads the DVC pipeline and groups its stages into jobs; :mod:`.options`
holds the sbatch options and their checks; :mod:`.sbatch` writes one job's script; :mod:`.submit` submits a plan
and records it; :mod:`.status` reads a submission back with SLURM's view of its jobs.
"""

from .options import SlurmOptions, check_options
from .plan import COMMIT_KEY, Job, JobPlan, StageTask, build_plan, find_root
from .sbatch import render_script
from .status import (EXIT_PREEMPTED, format_status, list_submissions, load_submission, overall_state, query_job,
                     submission_status)
from .submit import RECORD_DIR, RECORD_FILE, new_submission_id, submit_plan

__all__ = ["COMMIT_KEY", "EXIT_PREEMPTED", "RECORD_DIR", "RECORD_FILE", "Job", "JobPlan", "SlurmOptions", "StageTask",
           "build_plan", "check_options", "find_root", "format_status", "list_submissions", "load_submission",
           "new_submission_id", "overall_state", "query_job", "render_script", "submission_status", "submit_plan"]
