from cliprl_cli.progress import ProgressReporter


def test_plain_lines_when_not_a_terminal(capsys):
    with ProgressReporter("train", 100, interval=0.0) as progress:
        progress.update(50, loss=0.5)
        progress.log("a message")
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[train] 50/100 steps (50%)") and "loss=0.5" in err[0]
    assert "a message" in err and err[-1].startswith("[train] 50/100")


def test_quiet_prints_nothing(capsys):
    with ProgressReporter("train", 10, quiet=True, interval=0.0) as progress:
        progress.update(5)
        progress.log("hidden")
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------------ progress lines
import concurrent.futures as cf  # noqa: E402
import copy  # noqa: E402
import multiprocessing  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from cliprl_cli.progress import ConvergenceProgress, TransferProgress, trial_reporter  # noqa: E402


def test_train_base_progress_shows_the_convergence_rule_not_the_budget(capsys):
    with ConvergenceProgress("train-base 8x8", 2_000_000, tolerance=0.05, interval=0.0) as progress:
        progress.update(4096, success=0.5, path_ratio=1.2)
        progress.update(8192, success=1.0, path_ratio=float("inf"))
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[train-base 8x8] success 50% of starts (rule: 100%), path 1.20x optimal "
                             "(rule: <= 1.05x), 4,096 env steps (budget 2,000,000)")
    assert "success 100% of starts" in err[1] and "path - optimal" in err[1]
    assert not any("(0%)" in line for line in err)  # no share of the budget, which a converging run never nears


def _job(method: str, trial: int, board=None) -> SimpleNamespace:
    """What a progress reporter reads of a transfer job (cliprl_cli.clip_rl.transfer.FineTuneJob)."""
    return SimpleNamespace(method=method, trial=trial, progress_board=board)


def test_transfer_progress_shows_steps_within_running_trials(capsys):
    jobs = [_job("clip", 0), _job("language", 1)]
    with TransferProgress("transfer 8x8", 2, jobs=jobs, workers=1, interval=0.0) as progress:
        for job in jobs:
            trial_reporter(job).update(4096, success=0.25)
        assert progress.running() == {"clip #0": (4096, 0.25), "language #1": (4096, 0.25)}
        line = progress._format_fields()
        assert "running: clip #0 4,096 env steps (25%); language #1 4,096 env steps (25%)" in line
        progress.update(1, method="clip", trial=0, steps=5000)
        assert set(progress.running()) == {"language #1"}
        time.sleep(0.7)  # the refresh thread prints a plain line with the running trial
    err = capsys.readouterr().err
    assert "[transfer 8x8] 1/2 runs" in err and "running: language #1 4,096 env steps (25%)" in err
    assert all(job.progress_board is None for job in jobs)


def test_trial_reporter_is_quiet_without_a_board_and_never_raises():
    assert trial_reporter(_job("clip", 0)) is None

    class Broken(dict):
        def __setitem__(self, key, value):
            raise BrokenPipeError("the board's server is gone")

    reporter = trial_reporter(_job("clip", 0, Broken()))
    reporter.update(10, success=0.0)  # no exception: progress never fails a trial


def _post_from_a_worker(job) -> int:
    trial_reporter(job).update(12_288, success=0.75)
    return 1


def test_transfer_progress_board_reaches_spawned_workers():
    jobs = [_job("clip", 3), _job("scratch", 0)]
    with TransferProgress("transfer", 2, jobs=jobs, workers=2, quiet=False, interval=1e9) as progress:
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            assert pool.submit(_post_from_a_worker, copy.copy(jobs[0])).result(timeout=120) == 1
        assert progress.running() == {"clip #3": (12_288, 0.75)}
