"""The DVC pipeline (dvc.yaml + params.yaml) as a cacheable DAG, run for real with tiny parameters.

A temporary git + DVC repository holds a copy of the project (the package, dvc.yaml, params.yaml, artifacts/
.gitignore, .gitignore, .dvcignore, docs/profiles.md, the known-answer result, .dvc/plots) with tiny parameters: one 5x5 grid, the four base
tasks, two transfer trials, a 200-step FuRL SAC run.
The stage commands run the copy's code (PYTHONPATH points at it). Which stages ran is read from `dvc repro`'s
own output ("Running stage 'X'" vs "Stage 'X' didn't change, skipping").

- the first `dvc repro` runs every stage; a second runs none;
- changing an `align` parameter reruns align, transfer and report only (nothing of FuRL, no base training);
- changing a FuRL parameter reruns the FuRL stage and the report only (nothing of CLIP-RL);
- `dvc metrics show`, `dvc plots show` and `dvc params diff` work on the result;
- a fresh clone of the committed state (another directory, another HEAD, another time) reruns every stage and
  leaves `dvc.lock` byte-identical: run metadata lives in undeclared, DVC-ignored run.json files (issue 16).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NEEDED = ("train-base", "align", "transfer", "furl", "report")

TINY = {
    # the suite's four base tasks: align and transfer use the suite's base_tasks as their sources (issue 13)
    "train_base": {"grid_sizes": [5], "tasks": ["top-left-first", "top-left-second", "top-right-first",
                                               "top-right-second"], "max_env_steps": 500_000, "num_envs": 64},
    "align": {"epochs": 50},
    "transfer": {"trials": 2, "methods": "scratch,language,clip", "max_env_steps": 200_000, "num_envs": 64},
    "furl": {"tasks": ["reach-v3"], "variants": ["sac"], "seeds": [0], "steps": 200, "random_steps": 100,
             "eval_every": 200, "eval_episodes": 1, "batch_size": 32},
    "library_size": {"ks": "2,4", "trials": 1},
    "colour_shape": {"layouts": ["by_colour"], "trials": 1, "methods": "scratch,clip,oracle-group",
                     "max_env_steps": 200_000},
    "babyai": {"trials": 1, "methods": "scratch,clip"},
}
BASE_STAGES = {f"train_base@5-{t}" for t in TINY["train_base"]["tasks"]}
CLIP_STAGES = BASE_STAGES | {"align@5", "transfer@5"}
FURL_STAGES = {"furl@reach-v3-sac-0"}
BABYAI_STAGES = {"babyai_base", "babyai_align", "babyai_transfer@go-to-the-red-key"}
ALL_STAGES = CLIP_STAGES | FURL_STAGES | BABYAI_STAGES | {"library_size", "report"}


def _registered() -> set[str]:
    from cliprl_cli.cli import app

    names = {c.name for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups}
    return names


def _dvc() -> str | None:
    exe = BIN / "dvc"
    return str(exe) if exe.exists() else shutil.which("dvc")


def _run(repo: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(repo),
           "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    return subprocess.run(list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)


def _repro(repo: Path, *targets: str) -> set[str]:
    """Run `dvc repro [targets]`; return the stages it ran (it must succeed). A first repro of every stage takes
    about 10 minutes on a loaded 2-core machine since the BabyAI stages joined (about 3 of them), hence 20 minutes."""
    proc = _run(repo, _dvc(), "repro", *targets, timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"dvc repro failed:\n{out[-4000:]}"
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    skipped = set(re.findall(r"Stage '([^']+)' didn't change, skipping", out))
    assert not ran & skipped
    return ran


def _set_params(repo: Path, updates: dict) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in updates.items():
        params.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _make_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(ROOT / "cliprl_cli", repo / "cliprl_cli", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("dvc.yaml", "artifacts/.gitignore", ".gitignore", ".dvcignore", "docs/profiles.md",
                 "benchmarks/results/furl_known_answer.json"):  # the report's SYNTHETIC section reads it
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(ROOT / "benchmarks" / "results" / "babyai_experiment",  # the report's saved BabyAI runs
                    repo / "benchmarks" / "results" / "babyai_experiment")
    shutil.copy2(ROOT / "params-smoke.yaml", repo / "params.yaml")  # the smoke profile, made tinier still
    _set_params(repo, TINY)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@example.com"],
                ["git", "config", "user.name", "test"], [_dvc(), "init", "-q"],
                [_dvc(), "config", "core.analytics", "false"]):
        proc = _run(repo, *cmd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")  # the offline page template of `dvc plots`
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # which names it (plots.html_template)
    for cmd in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "tiny pipeline"]):
        proc = _run(repo, *cmd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return repo


def test_dvc_yaml_parses_and_lists_every_stage():
    """Fast: the real dvc.yaml + params.yaml expand to the paper's matrix (no stage is run)."""
    if _dvc() is None:
        pytest.skip("dvc is not installed")
    proc = _run(ROOT, _dvc(), "stage", "list", "--name-only")
    assert proc.returncode == 0, proc.stderr
    names = set(proc.stdout.split())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    sizes, tasks = params["train_base"]["grid_sizes"], params["train_base"]["tasks"]
    assert {f"train_base@{n}-{t}" for n in sizes for t in tasks} <= names
    assert {f"align@{n}" for n in sizes} | {f"transfer@{n}" for n in sizes} | {"report"} <= names
    fu = params["furl"]
    assert {f"furl@{t}-{v}-{s}" for t in fu["tasks"] for v in fu["variants"] for s in fu["seeds"]} <= names


def test_full_profile_parses(tmp_path):
    """params-full.yaml has every key of params.yaml, and DVC expands the pipeline with it to the papers' matrix."""
    if _dvc() is None:
        pytest.skip("dvc is not installed")
    repo = tmp_path / "full"
    repo.mkdir()
    shutil.copy2(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copy2(ROOT / "params-full.yaml", repo / "params.yaml")
    assert _run(repo, _dvc(), "init", "-q", "--no-scm").returncode == 0
    proc = _run(repo, _dvc(), "stage", "list", "--name-only")
    assert proc.returncode == 0, proc.stderr
    names = proc.stdout.split()
    assert len([n for n in names if n.startswith("train_base@")]) == 16
    assert len([n for n in names if n.startswith("transfer@")]) == 4
    assert len([n for n in names if n.startswith("furl@")]) == 10 * 8 * 5
    full = yaml.safe_load((ROOT / "params-full.yaml").read_text())
    default = yaml.safe_load((ROOT / "params.yaml").read_text())

    def keys(d, prefix=""):
        return {prefix + k for k, v in d.items()} | {x for k, v in d.items() if isinstance(v, dict)
                                                     for x in keys(v, prefix + k + ".")}
    assert keys(default) <= keys(full), sorted(keys(default) - keys(full))
    smoke = yaml.safe_load((ROOT / "params-smoke.yaml").read_text())
    assert keys(smoke) == keys(default), sorted(keys(smoke) ^ keys(default))
    assert smoke["transfer"]["trials"] == 2 and default["transfer"]["trials"] == 10
    assert full["train_base"]["grid_sizes"] == [8, 10, 15, 25]
    assert full["transfer"]["trials"] == 10
    assert full["furl"]["steps"] == 1_000_000 and len(full["furl"]["seeds"]) == 5


@pytest.mark.slow
def test_dag_reruns_only_invalidated_stages(tmp_path):
    if _dvc() is None:
        pytest.skip("dvc is not installed")
    missing = [c for c in NEEDED if c not in _registered()]
    if missing:
        pytest.skip(f"cliprl commands not registered yet: {', '.join(missing)}")
    repo = _make_repo(tmp_path)

    # 1. everything runs (other stages too: furl_pixels, library_size)
    assert _repro(repo) >= ALL_STAGES
    report = repo / "artifacts" / "report"
    assert "Nothing: every expected artifact was found." in (report / "report.md").read_text()
    assert (report / "report.html").is_file() and (report / "metrics" / "report.json").is_file()
    # 2. nothing changed: nothing runs
    assert _repro(repo) == set()
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-q", "-m", "first run")

    # 3. an align parameter: align, transfer, report; no base training, nothing of FuRL
    _set_params(repo, {"align": {"epochs": 60}})
    diff = _run(repo, _dvc(), "params", "diff", "--json")
    assert diff.returncode == 0, diff.stderr
    changed = json.loads(diff.stdout)["params.yaml"]
    assert (changed["align.epochs"]["old"], changed["align.epochs"]["new"]) == (50, 60)
    # (the colour x shape and BabyAI alignments read the align section too, so their align and transfer stages rerun)
    ran = _repro(repo)
    assert {"align@5", "transfer@5", "report"} <= ran
    assert not [s for s in ran - {"align@5", "transfer@5", "report", "babyai_align"}
                if not s.startswith(("colour_shape_align@", "colour_shape_transfer@", "babyai_transfer@"))], ran

    # 4. a FuRL parameter: the FuRL stage and the report; nothing of CLIP-RL
    _set_params(repo, {"furl": {"rho": 0.1}})
    assert _repro(repo) == FURL_STAGES | {"report"}
    assert _repro(repo) == set()

    # metrics and plots are declared so that DVC's own commands work, and read in a terminal and offline
    metrics = _run(repo, _dvc(), "metrics", "show", "--json")
    assert metrics.returncode == 0, metrics.stderr
    text = metrics.stdout
    # curated: the answers alone (the fuller per-family files are written beside it, undeclared)
    assert "artifacts/report/metrics/answers.json" in text and '"5x5"' in text
    assert "artifacts/transfer/5/metrics.json" not in text and "artifacts/report/metrics/transfer.json" not in text
    shown_metrics = _run(repo, _dvc(), "metrics", "show")
    assert max(len(line) for line in shown_metrics.stdout.splitlines()) <= 120, shown_metrics.stdout
    plots = _run(repo, _dvc(), "plots", "show", "--json")
    assert plots.returncode == 0, plots.stderr
    shown = json.loads(plots.stdout)["data"]
    assert any(p.startswith("artifacts/report/plots/") and p.endswith(".png") for p in shown)
    assert not [p for p in shown if p.endswith(".json")]  # no Vega-Lite data plot: they need a CDN
    page = _run(repo, _dvc(), "plots", "show", "-o", "dvc_plots")
    assert page.returncode == 0, page.stderr
    assert "<script" not in (repo / "dvc_plots" / "index.html").read_text()  # the offline template
    # `dvc plots diff` sets the committed run's figures beside the workspace's
    diff = _run(repo, _dvc(), "plots", "diff", "HEAD", "--json", "--split")
    assert diff.returncode == 0, diff.stderr
    assert "transfer_steps.png" in diff.stdout


@pytest.mark.slow
def test_fresh_clone_repro_leaves_the_lock_unchanged(tmp_path):
    """The lock of a `dvc repro` is committed; a fresh clone (another directory, another HEAD, a later time, no DVC
    cache, no outputs) reruns every stage and must leave dvc.lock byte-identical: wall times, host, dates and the
    commit are in run.json files that DVC never hashes, and the hashed report shows only what its inputs fix."""
    if _dvc() is None:
        pytest.skip("dvc is not installed")
    missing = [c for c in NEEDED if c not in _registered()]
    if missing:
        pytest.skip(f"cliprl commands not registered yet: {', '.join(missing)}")
    repo = _make_repo(tmp_path)
    ran = _repro(repo)
    assert ran >= ALL_STAGES
    lock = (repo / "dvc.lock").read_text()
    assert "run.json" not in lock and "provenance.js" not in lock
    assert (repo / "artifacts" / "base" / "5" / "top-left-first" / "run.json").is_file()
    assert (repo / "artifacts" / "report" / "provenance.js").is_file()
    for cmd in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "pipeline run"]):
        assert _run(repo, *cmd).returncode == 0
    assert "run.json" not in _run(repo, "git", "ls-files").stdout  # git-ignored too

    clone = tmp_path / "clone"
    proc = _run(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert proc.returncode == 0, proc.stderr
    assert not (clone / "artifacts" / "base" / "5").exists()
    assert _repro(clone) == ran  # nothing cached: every stage runs again
    status = _run(clone, "git", "status", "--porcelain", "--", "dvc.lock")
    assert status.stdout == "", _run(clone, "git", "diff", "--", "dvc.lock").stdout[-4000:]
    assert (clone / "dvc.lock").read_text() == lock
