"""align's one-line errors point at the fix: policies from another suite name that suite and --tasks."""

from __future__ import annotations

import pytest

from cliprl_cli.cli import main

TASKS = ("top left first", "top right first")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib") / "base"
    for task in TASKS:
        assert main(["train-base", "--task", task, "--grid-size", "5", "--hidden", "16", "--seed", "0", "--quiet",
                     "--out", str(root / task.replace(" ", "-"))]) == 0
    return root


def test_policies_of_another_suite_point_to_tasks(base, tmp_path, capsys):
    assert main(["align", "--base", str(base), "--out", str(tmp_path / "a"),
                 "--sources", "go to the red key,go to the red ball"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("\n") == 0
    assert "its policies were trained for suite clip-rl-paper" in err and "--tasks FILE" in err
    assert "train-base --all" not in err


def test_a_missing_source_among_present_ones_keeps_its_hint(base, tmp_path, capsys):
    assert main(["align", "--base", str(base), "--out", str(tmp_path / "a"),
                 "--sources", "top left first,bottom row"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no base policy for source(s) ['bottom row']" in err and "train-base --all" in err
