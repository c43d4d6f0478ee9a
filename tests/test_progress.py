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
