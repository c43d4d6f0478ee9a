import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def cli():
    """Run the CLI in-process: returns (exit_code, stderr+stdout text)."""
    from cliprl_cli.cli import main

    def run(*args: str, capsys=None):
        return main(list(args))

    return run
