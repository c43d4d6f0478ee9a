"""Issue 15: hostile input through the CLI. Every bad input is exit 2 (75 for a start-up signal) with one
``error:`` line and no traceback; nothing half-written is left behind, and a good artifact already in place is
unchanged. Classes: filesystem errors, task files, size bounds, numbers at the edge, integrity, shared clusters,
determinism of the embeddings, and --quiet."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from cliprl_cli import cluster as slurm
from cliprl_cli.cli import main

TASKS = ["top left first", "top right first", "bottom left first"]
SUITE = """name: five
tasks:
  top left first: [0, 0]
  top right first: [0, -1]
  bottom left first: [-1, 0]
"""


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _fails(capsys, args, code=2, match=None):
    """Run the CLI in-process; assert exit ``code`` and exactly one ``error:`` line, no traceback."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if match:
        assert match in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """Three converged 5x5 base policies, an alignment and a transfer result: good artifacts to protect."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "suite.yaml").write_text(SUITE)
    for task in TASKS:
        assert main(["train-base", "--task", task, "--grid-size", "5", "--tasks", str(root / "suite.yaml"),
                     "--quiet", "--out", str(root / "base" / task.replace(" ", "-"))]) == 0
    assert main(["align", "--base", str(root / "base"), "--tasks", str(root / "suite.yaml"), "--epochs", "20",
                 "--out", str(root / "align"), "-q"]) == 0
    return root


def _copy_policy(lib: Path, dst: Path) -> Path:
    for task in TASKS:
        (dst / task.replace(" ", "-")).mkdir(parents=True)
        for name in ("policy.safetensors", "policy.json", "curve.json"):
            (dst / task.replace(" ", "-") / name).write_bytes((lib / "base" / task.replace(" ", "-") / name).read_bytes())
    return dst / "top-left-first"


def _rewrite_tensors(policy_dir: Path, change) -> None:
    """Replace the policy's tensors by ``change(tensors)``, with a consistent sidecar (hash, dtypes): only the
    loader's own checks of dtype and values can catch it."""
    tensors = change(load_file(policy_dir / "policy.safetensors"))
    save_file(tensors, policy_dir / "policy.safetensors")
    side = json.loads((policy_dir / "policy.json").read_text())
    side["safetensors_sha256"] = hashlib.sha256((policy_dir / "policy.safetensors").read_bytes()).hexdigest()
    for name, t in tensors.items():
        side["tensors"][name]["dtype"] = str(t.dtype).replace("torch.", "")
    (policy_dir / "policy.json").write_text(json.dumps(side))


# ------------------------------------------------------------------------------------------- 1. filesystem errors
def test_out_that_cannot_be_created_or_is_a_file(lib, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    suite = lib / "suite.yaml"
    _fails(capsys, ["train-base", "--task", "top left first", "--grid-size", "5", "--tasks", suite, "-q",
                    "--out", blocker / "sub"], match=str(blocker))
    _fails(capsys, ["train-base", "--task", "top left first", "--grid-size", "5", "--tasks", suite, "-q",
                    "--out", "/proc/cliprl-no-such-dir/x"])
    _fails(capsys, ["align", "--base", lib / "base", "--tasks", suite, "--epochs", "5", "-q", "--out", blocker],
           match="File exists")
    _fails(capsys, ["transfer", "--target", "bottom left first", "--base", lib / "base", "--tasks", suite,
                    "--methods", "scratch", "--trials", "1", "--max-env-steps", "1", "-q",
                    "--allow-target-in-sources", "--out", blocker], match=str(blocker))
    assert blocker.read_text() == "keep" and list(tmp_path.iterdir()) == [blocker]


def test_unwritable_embedding_cache_is_one_line(lib, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CLIPRL_CACHE", str(blocker / "cache"))
    _fails(capsys, ["align", "--base", lib / "base", "--tasks", lib / "suite.yaml", "--epochs", "5", "-q",
                    "--out", tmp_path / "align"], match="Not a directory")
    assert not (tmp_path / "align").exists()


# ------------------------------------------------------------------------------------------------ 2. task files
@pytest.mark.parametrize("content, match", [
    (b"name: x\ntasks:\n  caf\xe9: [0, 0]\n", "not UTF-8"),
    (b"tasks:\n  [a, b]: [0, 0]\n  c: [1, 1]\n", "a key must be a name"),
    (b"tasks:\n  a: [0, 0]\n  b: [1, 1]\nbase_tasks: [[a], b]\n", "'base_tasks' must be a list of task names"),
    (b"tasks:\n  a: [0, 0]\n  a: [1, 1]\n", "duplicate key 'a' (first on line 2)"),
    (b"name: [x]\ntasks:\n  a: [0, 0]\n", "'name' must be a string"),
    (b"tasks:\n  a: [0, 0]\nbase_task: [a]\n", "unknown field 'base_task'"),
    (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n", "aliases"),
    (b"tasks: " + b"[" * 200 + b"]" * 200 + b"\n", "nesting deeper than 32"),
    (b"tasks: {a: [0, 0]}\n#" + b"x" * (300 << 10) + b"\n", "larger than"),
    (b"tasks: {a: [0, 0]\n", "invalid YAML"),
])
def test_bad_task_files(tmp_path, capsys, content, match):
    suite = tmp_path / "suite.yaml"
    suite.write_bytes(content)
    start = time.perf_counter()
    _fails(capsys, ["train-base", "--task", "a", "--grid-size", "5", "--tasks", suite, "-q",
                    "--out", tmp_path / "out"], match=match)
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- 3. size bounds
@pytest.mark.parametrize("args, match", [
    (["--grid-size", "100000"], "--grid-size must be between 2 and 128"),
    (["--hidden", "100000"], "--hidden must be between 1 and 1024"),
    (["--num-envs", "65536", "--num-steps", "4096"], "transitions per iteration"),
    (["--max-env-steps", str(10 ** 12)], "--max-env-steps must be between"),
])
def test_size_bounds_are_clear_errors_and_leave_nothing(tmp_path, capsys, args, match):
    _fails(capsys, ["train-base", "--task", "top left first", "-q", "--out", tmp_path / "out", *args], match=match)
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------------------- 4. numbers at the edge
@pytest.mark.parametrize("option, value, match", [
    ("--temperature", "0", "--temperature must be > 0"),
    ("--temperature", "-1", "--temperature must be > 0"),
    ("--temperature", "nan", "--temperature must be a finite number"),
    ("--lr", "inf", "--lr must be a finite number"),
    ("--lr", "nan", "--lr must be a finite number"),
    ("--lr", "0", "--lr must be > 0"),
])
def test_align_float_options(lib, tmp_path, capsys, option, value, match):
    _fails(capsys, ["align", "--base", lib / "base", "--tasks", lib / "suite.yaml", "-q", option, value,
                    "--out", tmp_path / "a"], match=match)
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("command, option, value, match", [
    ("train-base", "--lr", "inf", "--lr must be a finite number"),
    ("train-base", "--checkpoint-every", "inf", "--checkpoint-every must be a finite number"),
    ("transfer", "--softmax-temperature", "0", "--softmax-temperature must be > 0"),
    ("transfer", "--lr", "inf", "--lr must be a finite number"),
])
def test_train_and_transfer_float_options(lib, tmp_path, capsys, command, option, value, match):
    common = (["--task", "top left first", "--grid-size", "5"] if command == "train-base" else
              ["--target", "bottom left first", "--base", lib / "base", "--allow-target-in-sources"])
    _fails(capsys, [command, *common, "--tasks", lib / "suite.yaml", "-q", option, value, "--out", tmp_path / "o"],
           match=match)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("change, match", [
    (lambda t: {k: torch.full_like(v, float("nan")) for k, v in t.items()}, "holds NaN or infinite values"),
    (lambda t: {k: v.double() for k, v in t.items()}, "is float64; the format is float32"),
    (lambda t: {k: v.long() for k, v in t.items()}, "is int64; the format is float32"),
])
def test_policies_of_nan_or_wrong_dtype_are_refused(lib, tmp_path, capsys, change, match):
    target = _copy_policy(lib, tmp_path / "base")
    _rewrite_tensors(target, change)
    _fails(capsys, ["align", "--base", tmp_path / "base", "--tasks", lib / "suite.yaml", "-q", "--epochs", "5",
                    "--out", tmp_path / "a"], match=match)
    _fails(capsys, ["transfer", "--target", "bottom left first", "--base", tmp_path / "base", "--tasks",
                    lib / "suite.yaml", "--allow-target-in-sources", "--methods", "language", "--trials", "1",
                    "-q", "--out", tmp_path / "t"], match=match)
    assert not (tmp_path / "a").exists() and not (tmp_path / "t").exists()


# -------------------------------------------------------------------------------------------------- 5. integrity
def test_sidecar_without_hash_is_refused(lib, tmp_path, capsys):
    target = _copy_policy(lib, tmp_path / "base")
    side = json.loads((target / "policy.json").read_text())
    del side["safetensors_sha256"]
    (target / "policy.json").write_text(json.dumps(side))
    _fails(capsys, ["align", "--base", tmp_path / "base", "--tasks", lib / "suite.yaml", "-q", "--epochs", "5",
                    "--out", tmp_path / "a"], match="no safetensors_sha256")


def test_a_curve_from_another_write_is_detected(lib, tmp_path, capsys):
    target = _copy_policy(lib, tmp_path / "base")
    side = json.loads((target / "policy.json").read_text())
    assert set(side["files"]) == {"curve.json"}
    curve = json.loads((target / "curve.json").read_text())
    assert "Infinity" not in (target / "curve.json").read_text() and "NaN" not in (target / "policy.json").read_text()
    (target / "curve.json").write_text(json.dumps(curve[:-1], indent=2) + "\n")
    _fails(capsys, ["align", "--base", tmp_path / "base", "--tasks", lib / "suite.yaml", "-q", "--epochs", "5",
                    "--out", tmp_path / "a"], match="mixes files of two different writes")


def test_align_metrics_are_in_the_manifest(lib):
    side = json.loads((lib / "align" / "heads.json").read_text())
    digest = hashlib.sha256((lib / "align" / "metrics.json").read_bytes()).hexdigest()
    assert side["files"] == {"metrics.json": digest}


def test_empty_method_list_keeps_a_good_result(lib, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["transfer", "--target", "bottom left first", "--base", str(lib / "base"), "--tasks",
                 str(lib / "suite.yaml"), "--allow-target-in-sources", "--methods", "scratch", "--trials", "1",
                 "--max-env-steps", "1", "-q", "--out", str(out)]) == 0
    before = _snapshot(out)
    # run.json: the run's wall times and provenance, beside the outputs but never hashed by DVC (issue 16)
    assert set(before) == {"results.json", "curves.json", "metrics.json", "run.json"}
    for methods in ("", " , "):
        _fails(capsys, ["transfer", "--target", "bottom left first", "--base", lib / "base", "--tasks",
                        lib / "suite.yaml", "--allow-target-in-sources", "--methods", methods, "-q", "--out", out],
               match="--methods is empty")
    assert _snapshot(out) == before


# ----------------------------------------------------------------------------------------------- 6. shared clusters
def test_artifacts_honour_the_umask(lib, tmp_path):
    old = os.umask(0o002)
    try:
        assert main(["train-base", "--task", "top left first", "--grid-size", "5", "--tasks", str(lib / "suite.yaml"),
                     "-q", "--out", str(tmp_path / "p")]) == 0
    finally:
        os.umask(old)
    for name in ("policy.safetensors", "policy.json", "curve.json"):
        assert (tmp_path / "p" / name).stat().st_mode & 0o777 == 0o664, name


@pytest.mark.parametrize("option, value, match", [
    ("--partition", "gpu\n#SBATCH --qos=free", "--partition"),
    ("--time", "4 hours", "--time '4 hours' is not a valid sbatch value"),
    ("--time", "1:00:00\n", "--time"),
    ("--mem", "8GiB", "--mem"),
    ("--gpus", "a100:1\x1b", "--gpus"),
    ("--account", "lab;rm", "--account"),
    ("--sbatch-arg", "--qos=high\n#SBATCH --x", "--sbatch-arg"),
    ("--log-dir", "logs\nx", "--log-dir"),
])
def test_sbatch_values_are_validated(tmp_path, capsys, monkeypatch, option, value, match):
    monkeypatch.chdir(tmp_path)  # not a DVC repo: the options are refused before the pipeline is read
    _fails(capsys, ["slurm", "submit", "--dry-run", option, value], match=match)
    for good in (["--time", "2-12:00:00"], ["--time", "90"], ["--mem", "8G"], ["--gpus", "a100:2"],
                 ["--partition", "gpu,cpu"]):
        slurm.SlurmOptions(**{good[0][2:]: good[1]})


def test_sigterm_during_start_up_exits_75_and_writes_nothing(lib, tmp_path, capsys, monkeypatch):
    import cliprl_cli.clip_rl.train_base as tb

    real = tb.load_suite

    def load_suite_then_term(*args, **kwargs):  # the signal arrives before the run's PreemptionGuard exists
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(tb, "load_suite", load_suite_then_term)
    _fails(capsys, ["train-base", "--task", "top left first", "--grid-size", "5", "--tasks", lib / "suite.yaml",
                    "-q", "--out", tmp_path / "p"], code=75, match="interrupted by SIGTERM")
    assert not (tmp_path / "p").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handed back


def test_job_wrapper_requeues_a_command_killed_during_start_up(tmp_path):
    """A stage command killed by the forwarded TERM before it could handle it (exit 143) counts as 75."""
    plan = slurm.JobPlan(root=str(tmp_path), jobs=[slurm.Job(key="s", group="s", tasks=[
        slurm.StageTask(address="s", cmd=["touch started && sleep 30"], wdir=str(tmp_path))])], skipped=[])
    script = tmp_path / "s.sbatch"
    script.write_text(slurm.render_script(plan.jobs[0], plan, slurm.SlurmOptions(), submission_dir=tmp_path / "sub"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    proc = subprocess.Popen(["bash", str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 75, out
    assert b"treated as 75" in out
    assert (tmp_path / "sub" / "status" / "s.0.rc").read_text().strip() == "75"


# -------------------------------------------------------------------------------------- 7. determinism, 8. --quiet
def test_align_bytes_do_not_depend_on_what_the_cache_held(lib, tmp_path, capsys, monkeypatch):
    from cliprl_cli.clip_rl import textenc

    args = ["align", "--base", str(lib / "base"), "--tasks", str(lib / "suite.yaml"), "--epochs", "20", "-q"]
    monkeypatch.setenv("CLIPRL_CACHE", str(tmp_path / "cache-a"))
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    monkeypatch.setenv("CLIPRL_CACHE", str(tmp_path / "cache-b"))  # filled first by a run with other instructions
    textenc.embed_instructions(["a much longer instruction that pads every batch it is part of", TASKS[1]])
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "heads.safetensors").read_bytes() == (tmp_path / "b" / "heads.safetensors").read_bytes()
    # --quiet: nothing at all on stderr, the text encoder's "Loading weights" bar included (fresh cache: it loads)
    monkeypatch.setenv("CLIPRL_CACHE", str(tmp_path / "cache-c"))
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_quiet_is_silent_in_a_fresh_process(lib, tmp_path):
    env = {**os.environ, "CLIPRL_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "cliprl_cli", "align", "--base", str(lib / "base"), "--tasks",
                           str(lib / "suite.yaml"), "--epochs", "5", "--quiet", "--out", str(tmp_path / "a")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == ""


# ------------------------------------------------------------------------------------------------------------ FuRL
@pytest.mark.parametrize("args, match", [
    (["--rho", "nan"], "--rho must be a finite number"),
    (["--goal-margin", "-1"], "--goal-margin must be >= 0"),
    (["--gb-alpha", "2"], "--gb-alpha must be <= 1"),
    (["--checkpoint-every", "inf"], "--checkpoint-every must be a finite number"),
])
def test_furl_float_options(tmp_path, capsys, args, match):
    _fails(capsys, ["furl", "--profile", "cpu-small", "--task", "reach-v3", "--variant", "sac", "-q", *args,
                    "--out", tmp_path / "f"], match=match)
    assert not (tmp_path / "f").exists()


def test_furl_out_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    _fails(capsys, ["furl", "--profile", "cpu-small", "--task", "reach-v3", "--variant", "sac", "--steps", "50",
                    "-q", "--out", blocker], match="File exists")
    assert blocker.read_text() == "keep"


def test_a_fresh_process_prints_one_line(tmp_path):
    """Through ``python -m cliprl_cli`` (what a shell runs): an alias bomb is one line and exit 2, quickly."""
    suite = tmp_path / "bomb.yaml"
    suite.write_text("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n")
    proc = subprocess.run([sys.executable, "-m", "cliprl_cli", "train-base", "--task", "a", "--tasks", str(suite),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "aliases" in proc.stderr and not (tmp_path / "o").exists()
