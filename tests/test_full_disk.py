"""Issue 15: a full disk (ENOSPC) during an overwrite is one ``error:`` line and exit 2, and the directory keeps the
previous artifact whole: every file byte-identical, no temporary left, no mix of new and old files.

Runs on a real small tmpfs, which needs root (``mount -t tmpfs``); skipped with the reason otherwise."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cliprl_cli.store.artifacts import load_artifact
from cliprl_cli.cli import main

SUITE = "name: five\ntasks:\n  top left first: [0, 0]\n  top right first: [0, -1]\n"


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (mount -t tmpfs)")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def _fill(mnt: Path, leave_bytes: int) -> None:
    """Fill the filesystem with 4 KiB files, then free enough of them to leave about ``leave_bytes``."""
    fill = mnt / "fill"
    fill.mkdir()
    i = 0
    while True:
        try:
            (fill / str(i)).write_bytes(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            (fill / str(i)).unlink(missing_ok=True)
            break
        i += 1
    for j in range(leave_bytes // 4096):
        (fill / str(i - 1 - j)).unlink()


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_full_disk_keeps_the_old_base_policy_and_alignment(small_disk, tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    base = small_disk / "base"
    for task in ("top left first", "top right first"):
        assert main(["train-base", "--task", task, "--grid-size", "5", "--tasks", str(suite), "-q",
                     "--out", str(base / task.replace(" ", "-"))]) == 0
    assert main(["align", "--base", str(base), "--tasks", str(suite), "--epochs", "10", "-q",
                 "--out", str(small_disk / "align")]) == 0
    policy_dir = base / "top-left-first"
    before_policy, before_align = _snapshot(policy_dir), _snapshot(small_disk / "align")
    tensor_size = len(before_policy["policy.safetensors"])
    # room for the new curve.json but not for the tensor file as well
    _fill(small_disk, leave_bytes=4096 * max(1, (tensor_size // 4096) // 2))
    capsys.readouterr()

    code = main(["train-base", "--task", "top left first", "--grid-size", "5", "--seed", "1", "--tasks", str(suite),
                 "-q", "--checkpoint-every", "1000", "--out", str(policy_dir)])
    line = _one_error_line(capsys)
    assert code == 2 and "No space left on device: " in line and str(policy_dir) in line, line
    assert _snapshot(policy_dir) == before_policy  # the old set, whole; no temporary, no mix
    assert not [p.name for p in policy_dir.iterdir() if p.name not in before_policy]
    load_artifact(policy_dir / "policy.safetensors", kind="base-policy")

    code = main(["align", "--base", str(base), "--tasks", str(suite), "--epochs", "12", "-q",
                 "--out", str(small_disk / "align")])
    line = _one_error_line(capsys)
    assert code == 2 and "No space left on device" in line, line
    assert _snapshot(small_disk / "align") == before_align
    load_artifact(small_disk / "align" / "heads.safetensors", kind="align-heads")
