"""The --tensorboard help names the extra to install, whether rich draws the help (a terminal) or not: rich's markup
must not eat "[tensorboard]", and plain help must not show the escape."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("rich", ["1", "0"])
@pytest.mark.parametrize("command", ["train-base", "transfer", "furl"])
def test_the_help_names_the_extra(command, rich):
    env = {**os.environ, "TYPER_USE_RICH": rich, "COLUMNS": "300", "TERM": "dumb"}
    out = subprocess.run([sys.executable, "-m", "cliprl_cli", command, "--help"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert "pip install 'cliprl[tensorboard]'" in " ".join(out.replace("│", " ").split())


def test_importing_tblog_loads_no_artifact_formats():
    code = "import sys, cliprl_cli.tblog; print('cliprl_cli.store.formats' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
