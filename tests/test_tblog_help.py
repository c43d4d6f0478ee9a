"""The --tensorboard help names the extra to install; rich's markup must not eat "[tensorboard]"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.testing import CliRunner

from cliprl_cli.tblog import OPTION_HELP


def test_option_help_survives_rich_markup():
    app = typer.Typer()

    @app.command()
    def run(tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR", help=OPTION_HELP)):
        pass

    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300", "TERM": "dumb"}).output
    assert "pip install 'cliprl[tensorboard]'" in " ".join(out.replace("│", " ").split())


def test_importing_tblog_loads_no_artifact_formats():
    code = "import sys, cliprl_cli.tblog; print('cliprl_cli.store.formats' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
