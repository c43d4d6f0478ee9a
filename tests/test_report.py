"""`cliprl report` on artifact sets written through the artifact formats: expected table rows and values, missing
pieces named, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from cliprl_cli.store.artifacts import save_artifact
from cliprl_cli.cli import main
from cliprl_cli.store.formats import (AlignMetrics, BaseCurve, CurvePoint, ExpertRewards, FurlCurve, FurlPoint,
                                FurlRunConfig, FurlSummary, MethodSummary, PairedRatio, TransferCurves,
                                TransferResults, TransferTrial)
from cliprl_cli.report import build_report, furl_paper_success

PARAMS = {
    "profile": {"name": "test profile", "note": "hand-made artifacts"},
    "train_base": {"grid_sizes": [5], "tasks": ["top-left-first", "top-right-first"]},
    "transfer": {"target": "top left third", "methods": "scratch,language,clip", "trials": 3},
    "furl": {"tasks": ["reach-v3"], "variants": ["sac", "furl"], "seeds": [0, 1], "steps": 1000},
    "report": {"title": "test report"},
}


def _w(path: Path, obj) -> None:
    """A hand-made file the real writers never write (garbage for the error paths)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _curve(final_success: float, n: int = 4, step: int = 1000) -> list[CurvePoint]:
    return [CurvePoint(env_steps=(i + 1) * step, success_rate=final_success * (i + 1) / n, path_ratio=1.5,
                       wall_s=float(i)) for i in range(n)]


SPEC = {"grid_size": 5, "hidden": 64, "layers": 2, "encoding": "onehot-row-col"}
SOURCES = ["top left first", "top right first"]


def write_base_policy(d: Path, instruction: str, steps: int) -> None:
    """``policy.safetensors`` + sidecar and ``curve.json``, as ``cliprl train-base`` writes them."""
    curve = BaseCurve(_curve(1.0))
    curve.write(d / "curve.json")
    last = curve.points[-1]
    metrics = {"converged": True, "env_steps": steps, "iterations": 4, "wall_time_s": 1.5, "auc": 0.75,
               "final_success_rate": last.success_rate, "final_path_ratio": last.path_ratio,
               "resumed_from_step": None}
    config = {"task": instruction, "goal": [0, 0], "grid_size": 5, "suite": "clip-rl-paper", "spec": SPEC,
              "ppo": {"num_envs": 8}, "seed": 0, "threads": 1}
    save_artifact(d / "policy.safetensors", {"w": torch.zeros(2)}, kind="base-policy", config=config,
                  metrics=metrics, timings={"wall_time_s": 1.5}, seed=0,
                  extra={"instruction": instruction, "goal": [0, 0], "spec": SPEC, "learning_curve": curve.to_json()})


def write_align(d: Path) -> None:
    """``heads.safetensors`` + sidecar (metrics with the loss curve) and the flat ``metrics.json``, as
    ``cliprl align`` writes them."""
    m = AlignMetrics(final_loss=0.1234, initial_loss=1.0, top1_text_to_policy=1.0, top1_policy_to_text=0.5,
                     temperature=0.1, num_policies=2, loss_curve=[1.0, 0.5, 0.1234])
    save_artifact(d / "heads.safetensors", {"text.weight": torch.zeros(2, 2)}, kind="align-heads",
                  config={"head": "mlp", "dim": 2, "epochs": 3, "seed": 0}, metrics=m.to_json(with_curve=True),
                  timings={"wall_time_s": 0.1}, seed=0,
                  extra={"instructions": SOURCES, "spec": SPEC, "text_dim": 2, "weight_dim": 2,
                         "similarity": [[1.0, 0.0], [0.0, 1.0]], "sources": ["base/5/a", "base/5/b"]})
    m.write(d / "metrics.json")


TRANSFER_STEPS = {"scratch": [3000, 4000, 5000], "language": [2000, 2000, 2000], "clip": [1000, 1500, 2000]}


def write_transfer(d: Path) -> None:
    """``results.json`` and ``curves.json``, as ``cliprl transfer`` writes them."""
    trials = [TransferTrial(method=method, trial=k, seed=k, env_steps=v, censored=v >= 5000, auc=0.5, wall_time_s=1.0,
                            initial_success_rate=0.25,
                            weights=None if method == "scratch" else {s: 0.5 for s in SOURCES},
                            weighting_note="fresh initialisation" if method == "scratch" else "normalized")
              for method, values in TRANSFER_STEPS.items() for k, v in enumerate(values)]

    def summary(censored: int, mean: float, ci95: tuple[float, float]) -> MethodSummary:
        return MethodSummary(n=3, censored=censored, mean=mean, median=mean, iqm=mean, std=500.0, ci95=ci95,
                             auc_mean=0.5)

    TransferResults(
        grid_size=5, target="top left third", goal=(0, 2), budget=5000,
        config={"target": "top left third", "goal": [0, 2], "grid_size": 5, "methods": list(TRANSFER_STEPS),
                "trials": 3, "seed": 0, "sources": SOURCES, "spec": SPEC},
        similarities={"language": {s: 0.9 for s in SOURCES}, "clip": {s: 0.5 for s in SOURCES}},
        trials=trials,
        summary={"scratch": summary(1, 4000.0, (3000.0, 5000.0)), "language": summary(0, 2000.0, (2000.0, 2000.0)),
                 "clip": summary(0, 1500.0, (1000.0, 2000.0))},
        wall_time_s=9.0, ratio_clip_language=PairedRatio(0.75, (0.5, 1.0)),
    ).write(d / "results.json")
    TransferCurves({m: [[CurvePoint(500, 0.2), CurvePoint(v, 1.0)] for v in vals]
                    for m, vals in TRANSFER_STEPS.items()}).write(d / "curves.json")


def furl_point(step: int, success_any: float, success_last: float, ret: float) -> FurlPoint:
    return FurlPoint(step=step, success_any=success_any, success_last=success_last, return_=ret,
                     sparse_return=-100.0, train_stats={"critic_loss": 1.0, "actor_loss": -2.0}, episodes=2,
                     train_success_episodes=0, positive_frames=0, relay_on=True, updates=step // 2, wall_s=1.0,
                     env_steps_per_s=500.0)


def write_furl_run(d: Path, task: str, variant: str, seed: int, success: float, *, random_vlm: bool) -> None:
    """``config.json``, ``curve.json``, ``summary.json`` and (VLM variants) ``expert_rewards.json``, as
    ``cliprl furl`` writes them."""
    uses_vlm = variant != "sac"
    vlm = "cliprl-tiny|random" if uses_vlm else None
    FurlRunConfig(vlm_random_weights=random_vlm,
                  config={"task": task, "variant": variant, "seed": seed, "steps": 1000, "instruction": None,
                          "image_size": 64, "eval_every": 500},
                  instruction="Reach a goal position.", device_resolved="cpu", vlm=vlm).write(d / "config.json")
    curve = [furl_point(500, 0.0, 0.0, 1.0), furl_point(1000, 1.0, success, 2.0)]
    FurlCurve(random_vlm, task, variant, seed, curve).write(d / "curve.json")
    expert = None
    if uses_vlm:
        rewards = ExpertRewards(vlm_random_weights=random_vlm, task=task, variant=variant, seed=seed,
                                instruction_embedding_model=vlm, step=[1, 2, 3, 4],
                                success=[False, False, True, True], first_success=3,
                                zero_shot=[0.1, 0.2, 0.15, 0.3], training_reward=[0.0, 0.2, 0.6, 0.9],
                                aligned=[0.0, 0.2, 0.6, 0.9])
        rewards.write(d / "expert_rewards.json")
        expert = {"frames": 4, "first_success": 3}
    FurlSummary(vlm_random_weights=random_vlm, task=task, variant=variant, seed=seed, steps=1000,
                resumed_from_step=None, final=curve[-1].to_json(), wall_s=2.0, env_steps_per_s=500.0,
                timings_s={"env": 0.5, "update": 1.0}, replay_bytes_per_transition=463, replay_bytes=463000,
                positive_frames=0, cpu_tuning={"retain_freed_memory": True, "flush_denormals": True},
                torch_threads=1, expert_rewards=expert).write(d / "summary.json")


def make_artifacts(root: Path) -> Path:
    """A complete artifact set for grid size 5, two base tasks, three methods, FuRL reach-v3, written through the
    formats the commands write with (cliprl_cli.store.formats, and save_artifact for the tensor sidecars)."""
    for slug, instr, steps in (("top-left-first", "top left first", 4096),
                               ("top-right-first", "top right first", 8192)):
        write_base_policy(root / "base" / "5" / slug, instr, steps)
    write_align(root / "align" / "5")
    write_transfer(root / "transfer" / "5")
    for variant, random in (("sac", False), ("furl", True)):
        for seed, succ in ((0, 0.5), (1, 1.0)):
            write_furl_run(root / "furl" / "reach-v3" / variant / f"seed{seed}", "reach-v3", variant, seed, succ,
                           random_vlm=random)
    return root


def _table(data, title_start):
    return next(t for t in data["tables"] if t["title"].startswith(title_start))


def _row(table, *first):
    return next(r for r in table["rows"] if tuple(r[:len(first)]) == first)


def test_complete_set_gives_expected_tables(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    data = build_report(art, tmp_path / "report", params=PARAMS)
    assert data["missing"] == []
    clip = _table(data, "CLIP-RL: env steps")
    assert clip["header"][:6] == ["grid", "method", "trials", "censored", "mean steps", "95% CI"]
    assert _row(clip, "5x5", "scratch")[2:6] == ["3", "1", "4,000", "[3,000, 5,000]"]
    assert _row(clip, "5x5", "clip")[4:6] == ["1,500", "[1,000, 2,000]"]
    assert _row(clip, "5x5", "clip")[-1] == "0.750 [0.500, 1.000]"
    assert _row(clip, "5x5", "language")[-1] == ""
    ratio = _table(data, "CLIP-RL: clip/language ratio")
    assert _row(ratio, "5x5")[1:4] == ["0.750", "[0.500, 1.000]", "25% fewer steps"]
    assert "no per-size numbers" in ratio["note"]
    base = _table(data, "Base policies")
    assert _row(base, "5x5", "top right first")[2:4] == ["yes", "8,192"]
    assert _row(_table(data, "CLIP-RL alignment"), "5x5")[1] == "0.1234"
    furl = _table(data, "FuRL: evaluation success")
    # success at the last step over seeds 0.5 and 1.0: mean 75, std 25, min-max [50, 100]; the run's VLM is an
    # open_clip (CLIP-family) model, so the reference is Table 3's CLIP-FuRL reach (100); sac uses no VLM: Table 1
    assert _row(furl, "reach-v3", "furl (RANDOM VLM)")[2:] == ["cliprl-tiny (random)", "2", "1,000", "75 ± 25",
                                                              "[50, 100]", "100 ± 0", "100 (Table 3)"]
    assert _row(furl, "reach-v3", "sac")[2] == "-" and _row(furl, "reach-v3", "sac")[-1] == "60 (Table 1)"
    avg = _table(data, "FuRL: average")
    assert _row(avg, "furl (RANDOM VLM)")[1:] == ["Table 3", "1", "75", "100", "70"]  # CLIP-FuRL's MT10 average
    assert any("RANDOM weights" in w for w in data["warnings"])
    assert any("censored" in w for w in data["warnings"])

    out = tmp_path / "report"
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "| 5x5 | clip | 3 | 0 | 1,500 | [1,000, 2,000] |" in md
    assert "RANDOM VLM" in md and "RANDOM VLM" in html
    assert "Nothing: every expected artifact was found." in md
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert {"transfer_steps.png", "finetune_curves_5.png", "base_curves.png", "align_loss.png",
            "furl_success_reach-v3.png", "expert_reward_reach-v3_furl_seed0.png"} <= set(plots)
    # self-contained: every plot is embedded, none is linked
    assert html.count("data:image/png;base64,") == len(plots)
    assert "src='plots/" not in html
    # curated DVC metrics, one file per stage family, methods spelled as on the command line (issue 16)
    metrics = {f: json.loads((out / "metrics" / f"{f}.json").read_text()) for f in ("align", "transfer", "furl",
                                                                                    "report")}
    assert not (out / "metrics.json").exists()
    assert metrics["report"] == {"complete": True, "missing": 0}
    assert metrics["transfer"]["5"]["mean_steps"]["clip"] == 1500.0
    assert metrics["transfer"]["5"]["ratio_clip_language"] == 0.75
    assert metrics["transfer"]["5"]["censored"]["scratch"] == 1
    assert set(metrics["align"]["5"]) == {"final_loss", "top1_text_to_policy", "top1_policy_to_text"}
    assert metrics["furl"]["reach-v3"]["furl"]["success_last"] == 75.0
    assert metrics["furl"]["reach-v3"]["furl"]["random_vlm"] is True
    # the answers, small enough for a terminal: one short key per question, three significant digits
    answers = json.loads((out / "metrics" / "answers.json").read_text())
    assert answers == {"5x5": 0.75, "furl-sac": 0.0}
    assert not (out / "plot_data").exists()  # no data plots: the figures are PNGs that render offline
    json.dumps(data, default=str)  # the returned data is plain


def test_summary_missing_is_recomputed_from_trials(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    path = art / "transfer" / "5" / "results.json"
    res = TransferResults.read(path)
    res.summary, res.ratio_clip_language = {}, None  # no method summarised, no ratio: both recomputed from trials
    res.write(path)
    data = build_report(art, tmp_path / "report", params=PARAMS, plots=False)
    clip = _table(data, "CLIP-RL: env steps")
    assert _row(clip, "5x5", "scratch")[2:5] == ["3", "1", "4,000"]
    assert _row(clip, "5x5", "clip")[-1].startswith("0.750")


def test_incomplete_set_names_what_is_missing(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    (art / "transfer" / "5" / "results.json").unlink()
    (art / "base" / "5" / "top-right-first" / "policy.json").unlink()
    for f in (art / "furl" / "reach-v3" / "sac" / "seed1").iterdir():
        f.unlink()
    (art / "align" / "5" / "heads.json").write_text("{not json")
    params = {**PARAMS, "train_base": {"grid_sizes": [5, 6], "tasks": ["top-left-first", "top-right-first"]}}
    data = build_report(art, tmp_path / "report", params=params)
    missing = "\n".join(data["missing"])
    assert "transfer@5" in missing and "transfer/5/results.json" in missing
    assert "train_base@5-top-right-first" in missing
    assert "train_base@6-top-left-first" in missing and "align@6" in missing and "transfer@6" in missing
    assert "furl@reach-v3-sac-1" in missing
    assert "align/5/heads.json is unreadable" in missing
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Missing or incomplete" in md and "transfer@5" in md
    assert "_No data (see Missing or incomplete)._" in md  # the CLIP-RL transfer table
    metrics = json.loads((tmp_path / "report" / "metrics" / "report.json").read_text())
    assert metrics["complete"] is False and metrics["missing"] == len(data["missing"])
    # what is there is still reported
    assert _row(_table(data, "FuRL: evaluation success"), "reach-v3", "sac")[3] == "1"  # seeds (after VLM)


def test_partial_trials_are_flagged(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    params = {**PARAMS, "transfer": {**PARAMS["transfer"], "trials": 10, "methods": "scratch,language,clip,uniform"}}
    data = build_report(art, tmp_path / "report", params=params, plots=False)
    missing = "\n".join(data["missing"])
    assert "transfer 5x5 clip: 3 of 10 trials" in missing
    assert "transfer method 'uniform'" in missing


def test_absent_empty_or_unrecognised_artifacts_dir_is_one_line_exit_2(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--artifacts", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: --artifacts" in err and "not found: nothing has been run yet" in err
    assert not out.exists()
    (tmp_path / "empty").mkdir()
    assert main(["report", "--artifacts", str(tmp_path / "empty"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no cliprl artifacts" in err
    elsewhere = tmp_path / "elsewhere"
    _w(elsewhere / "runs" / "8" / "results.json", {"x": 1})  # outputs, but not in the pipeline's layout
    (elsewhere / "base").mkdir()  # an empty layout directory is not an artifact either
    assert main(["report", "--artifacts", str(elsewhere), "--out", str(out)]) == 2
    assert "holds no cliprl artifacts" in capsys.readouterr().err
    one_stage = tmp_path / "t8"
    write_transfer(one_stage)  # a single stage's directory passed instead of its parent
    assert main(["report", "--artifacts", str(one_stage), "--out", str(out)]) == 2
    assert "holds one stage's output" in capsys.readouterr().err
    assert not out.exists()


def test_strict_fails_when_an_expected_section_has_no_data(tmp_path, capsys):
    art = make_artifacts(tmp_path / "artifacts")
    shutil.rmtree(art / "furl")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({k: v for k, v in PARAMS.items() if k != "furl"}))
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "r0"), "--params", str(params),
                 "--strict"]) == 0
    capsys.readouterr()
    params.write_text(yaml.safe_dump({**PARAMS, "furl": {"tasks": [], "variants": [], "seeds": []},
                                      "library_size": {"trials": 2}}))
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "r1"), "--params", str(params)]) == 0
    assert "no data: library-size study" in capsys.readouterr().err
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "r2"), "--params", str(params),
                 "--strict"]) == 2
    err = capsys.readouterr().err
    assert "error: no data for expected section(s): library-size study; FuRL from states" in err
    # without params every section is expected
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "r3"), "--strict"]) == 2
    assert "colour x shape world" in capsys.readouterr().err


def test_cli_strict_and_bad_inputs(tmp_path, capsys):
    art = make_artifacts(tmp_path / "artifacts")
    (art / "transfer" / "5" / "results.json").unlink()
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "r1"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "error: 1 expected artifact(s) missing" in err and "Traceback" not in err
    (tmp_path / "afile").write_text("x")
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "afile")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["report", "--artifacts", str(art), "--out", str(tmp_path / "r2"),
                 "--params", str(tmp_path / "nope.yaml")]) == 2
    assert "params file not found" in capsys.readouterr().err


def test_cli_subprocess_no_traceback_on_garbage(tmp_path):
    art = tmp_path / "artifacts"
    _w(art / "transfer" / "8" / "results.json", ["not", "an", "object"])
    garbage = FurlCurve(False, "push-v3", "furl", 0, []).to_json()
    garbage["curve"] = "garbage"
    _w(art / "furl" / "push-v3" / "furl" / "seed0" / "curve.json", garbage)
    FurlCurve(False, "push-v3", "furl", 1, []).write(art / "furl" / "push-v3" / "furl" / "seed1" / "curve.json")
    (art / "base" / "8" / "top-left-first").mkdir(parents=True)
    (art / "base" / "8" / "top-left-first" / "policy.json").write_text("")
    proc = subprocess.run([sys.executable, "-m", "cliprl_cli.cli", "report", "--artifacts", str(art),
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    assert "transfer/8/results.json is unreadable" in md and "expected a JSON object, found list" in md
    assert "base/8/top-left-first/policy.json is unreadable" in md
    assert "push-v3/furl/seed0/curve.json is unreadable" in md and "field 'curve' should be list, got str" in md
    assert "push-v3/furl/seed1/curve.json has no evaluation points" in md


def test_paper_numbers():
    assert furl_paper_success("drawer-open-v3", "furl") == 80.0
    assert furl_paper_success("push-v2", "furl-no-goal") == 40.0
    assert furl_paper_success("reach-v3", "vlm") == 80.0  # the paper's LIV column
    assert furl_paper_success("unknown-v3", "furl") is None
