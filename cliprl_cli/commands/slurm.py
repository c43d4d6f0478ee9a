"""`cliprl slurm submit` and `cliprl slurm status`: thin Typer commands over :mod:`cliprl_cli.cluster`."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

app = typer.Typer(
    help=(
        "Run the DVC pipeline on a SLURM cluster: matrix stages become job arrays, stage order becomes "
        "--dependency=afterok, and a final job records the results in dvc.lock (dvc commit)."
    ),
    no_args_is_help=True,
)


@app.command("submit")
def submit_command(
    targets: Optional[List[str]] = typer.Argument(
        None, help="Stages (or matrix parents such as train_base) to run, with what they depend on. Default: all."),
    partition: Optional[str] = typer.Option(None, "--partition", "-p", help="sbatch --partition."),
    time: Optional[str] = typer.Option(None, "--time", "-t", help="sbatch --time per job, e.g. 4:00:00."),
    mem: Optional[str] = typer.Option(None, "--mem", help="sbatch --mem per job (per array task), e.g. 8G."),
    cpus_per_task: Optional[int] = typer.Option(None, "--cpus-per-task", "-c", min=1, help="sbatch --cpus-per-task."),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="sbatch --gpus per job, e.g. 1 or a100:1."),
    account: Optional[str] = typer.Option(None, "--account", "-A", help="sbatch --account."),
    log_dir: Optional[str] = typer.Option(None, "--log-dir",
                                          help="Where the job logs go. Default: .cliprl/slurm/<submission>/logs."),
    max_parallel: Optional[int] = typer.Option(None, "--max-parallel", min=1,
                                               help="At most this many tasks of one array at once (--array=0-N%K)."),
    signal_seconds: int = typer.Option(120, "--signal-seconds", min=0,
                                       help="Send TERM this many seconds before the time limit so the stage "
                                            "checkpoints (--signal=B:TERM@N); 0 disables."),
    max_requeues: int = typer.Option(3, "--max-requeues", min=0,
                                     help="Requeue a task whose command checkpointed and exited 75 at most this "
                                          "many times; 0 never."),
    setup: Optional[str] = typer.Option(None, "--setup",
                                        help="Shell lines run before each stage command (e.g. 'source "
                                             ".venv/bin/activate'). Default: put this Python's bin dir first on "
                                             "PATH."),
    sbatch_arg: Optional[List[str]] = typer.Option(None, "--sbatch-arg",
                                                   help="A further #SBATCH option, e.g. --qos=high (repeatable)."),
    force: bool = typer.Option(False, "--force", "-f", help="Submit every stage, even those up to date."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the sbatch scripts and submit nothing."),
) -> None:
    """Submit the pipeline's out-of-date stages as SLURM jobs (job arrays for matrix stages)."""
    from ..cluster import SlurmOptions, build_plan, submit_plan

    # the options are checked first (values that would break the #SBATCH block), before the DVC repo is read
    options = SlurmOptions(partition=partition, time=time, mem=mem, cpus_per_task=cpus_per_task, gpus=gpus,
                           account=account, log_dir=log_dir, max_parallel=max_parallel,
                           signal_seconds=signal_seconds, max_requeues=max_requeues, setup=setup,
                           extra=list(sbatch_arg or []))
    plan = build_plan(targets=targets or (), force=force)
    submit_plan(plan, options, dry_run=dry_run, echo=typer.echo)


@app.command("status")
def status_command(
    submission: Optional[str] = typer.Argument(None, help="A submission id (default: the latest)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="One line per stage."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Summarise the jobs of a submission (scontrol while SLURM still knows them, else their exit-code files)."""
    from ..cluster import format_status, load_submission, overall_state, submission_status

    record = load_submission(submission_id=submission)
    rows = submission_status(record)
    if as_json:
        typer.echo(json.dumps({"id": record["id"], "root": record["root"], "overall": overall_state(rows),
                               "jobs": rows}, indent=2))
    else:
        typer.echo(format_status(record, rows, verbose=verbose))
