"""`cliprl report` on hand-made artifact sets: expected table rows and values, missing pieces named, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from cliprl_cli.cli import main
from cliprl_cli.report import build_report, furl_paper_success

PARAMS = {
    "profile": {"name": "test profile", "note": "hand-made artifacts"},
    "train_base": {"grid_sizes": [5], "tasks": ["top-left-first", "top-right-first"]},
    "transfer": {"target": "top left third", "methods": "scratch,language,clip", "trials": 3},
    "furl": {"tasks": ["reach-v3"], "variants": ["sac", "furl"], "seeds": [0, 1], "steps": 1000},
    "report": {"title": "test report"},
}


def _w(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _curve(final_success: float, n: int = 4, step: int = 1000):
    return [{"env_steps": (i + 1) * step, "success_rate": final_success * (i + 1) / n, "path_ratio": 1.5,
             "wall_s": float(i)} for i in range(n)]


def make_artifacts(root: Path) -> Path:
    """A complete, hand-made artifact set for grid size 5, two base tasks, three methods, FuRL reach-v3."""
    for slug, instr, steps in (("top-left-first", "top left first", 4096), ("top-right-first", "top right first", 8192)):
        d = root / "base" / "5" / slug
        _w(d / "policy.json", {"kind": "base-policy", "instruction": instr, "goal": [0, 0],
                               "metrics": {"converged": True, "env_steps": steps, "wall_time_s": 1.5, "auc": 0.75}})
        _w(d / "curve.json", _curve(1.0))
        (d / "policy.safetensors").write_bytes(b"not read by the report")
    _w(root / "align" / "5" / "heads.json", {"kind": "align-heads", "metrics": {
        "final_loss": 0.1234, "top1_text_to_policy": 1.0, "top1_policy_to_text": 0.5, "loss_curve": [1.0, 0.5, 0.1234]}})
    _w(root / "align" / "5" / "metrics.json", {"final_loss": 0.1234})
    trials = []
    steps = {"scratch": [3000, 4000, 5000], "language": [2000, 2000, 2000], "clip": [1000, 1500, 2000]}
    for method, values in steps.items():
        for k, v in enumerate(values):
            trials.append({"method": method, "trial": k, "seed": k, "env_steps": v, "censored": v >= 5000,
                           "auc": 0.5, "wall_time_s": 1.0, "weights": {}})
    summary = {
        "scratch": {"n": 3, "censored": 1, "mean": 4000.0, "median": 4000.0, "iqm": 4000.0, "ci95": [3000.0, 5000.0]},
        "language": {"n": 3, "censored": 0, "mean": 2000.0, "median": 2000.0, "iqm": 2000.0, "ci95": [2000.0, 2000.0]},
        "clip": {"n": 3, "censored": 0, "mean": 1500.0, "median": 1500.0, "iqm": 1500.0, "ci95": [1000.0, 2000.0]},
    }
    _w(root / "transfer" / "5" / "results.json", {
        "grid_size": 5, "target": "top left third", "budget": 5000, "trials": trials, "summary": summary,
        "ratio_clip_language": {"ratio": 0.75, "ci95": [0.5, 1.0]}})
    _w(root / "transfer" / "5" / "curves.json",
       {m: [[{"env_steps": 500, "success_rate": 0.2}, {"env_steps": v, "success_rate": 1.0}] for v in vals]
        for m, vals in steps.items()})
    for variant, random in (("sac", False), ("furl", True)):
        for seed, succ in ((0, 0.5), (1, 1.0)):
            d = root / "furl" / "reach-v3" / variant / f"seed{seed}"
            curve = [{"step": 500, "success_any": 0.0, "success_last": 0.0, "return": 1.0},
                     {"step": 1000, "success_any": 1.0, "success_last": succ, "return": 2.0}]
            _w(d / "curve.json", {"vlm_random_weights": random, "task": "reach-v3", "variant": variant,
                                  "seed": seed, "curve": curve})
            _w(d / "summary.json", {"vlm_random_weights": random, "steps": 1000, "final": curve[-1]})
            if variant == "furl":
                _w(d / "expert_rewards.json", {"vlm_random_weights": random, "step": [1, 2, 3, 4],
                                               "success": [False, False, True, True], "first_success": 3,
                                               "zero_shot": [0.1, 0.2, 0.15, 0.3], "aligned": [0.0, 0.2, 0.6, 0.9],
                                               "training_reward": [0.0, 0.2, 0.6, 0.9]})
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
    # success at the last step over seeds 0.5 and 1.0: mean 75, std 25, min-max [50, 100]; paper Table 1 reach
    assert _row(furl, "reach-v3", "furl (RANDOM VLM)")[2:] == ["2", "1,000", "75 ± 25", "[50, 100]", "100 ± 0", "100"]
    assert _row(furl, "reach-v3", "sac")[-1] == "60"
    avg = _table(data, "FuRL: average")
    assert _row(avg, "furl (RANDOM VLM)")[1:] == ["1", "75", "100", "76"]
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
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] is True and metrics["missing"] == 0
    assert metrics["clip_rl"]["5"]["clip_mean_steps"] == 1500.0
    assert metrics["clip_rl"]["5"]["ratio_clip_language"] == 0.75
    assert metrics["clip_rl"]["5"]["scratch_censored"] == 1
    assert metrics["furl"]["reach-v3"]["furl"]["success_last"] == 75.0
    assert metrics["furl"]["reach-v3"]["furl"]["random_vlm"] is True
    json.dumps(data, default=str)  # the returned data is plain


def test_summary_missing_is_recomputed_from_trials(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    res = json.loads((art / "transfer" / "5" / "results.json").read_text())
    del res["summary"], res["ratio_clip_language"]
    (art / "transfer" / "5" / "results.json").write_text(json.dumps(res))
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
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["complete"] is False and metrics["missing"] == len(data["missing"])
    # what is there is still reported
    assert _row(_table(data, "FuRL: evaluation success"), "reach-v3", "sac")[2] == "1"


def test_partial_trials_are_flagged(tmp_path):
    art = make_artifacts(tmp_path / "artifacts")
    params = {**PARAMS, "transfer": {**PARAMS["transfer"], "trials": 10, "methods": "scratch,language,clip,uniform"}}
    data = build_report(art, tmp_path / "report", params=params, plots=False)
    missing = "\n".join(data["missing"])
    assert "transfer 5x5 clip: 3 of 10 trials" in missing
    assert "transfer method 'uniform'" in missing


def test_empty_artifacts_dir_through_cli(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["report", "--artifacts", str(tmp_path / "nothing"), "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert "nothing has been run yet" in err and "Traceback" not in err
    assert "nothing has been run yet" in (out / "report.md").read_text()
    assert (out / "report.html").is_file() and (out / "plots").is_dir()
    assert json.loads((out / "metrics.json").read_text())["complete"] is False


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
    _w(art / "furl" / "push-v3" / "furl" / "seed0" / "curve.json", {"curve": "garbage"})
    (art / "base" / "8" / "top-left-first").mkdir(parents=True)
    (art / "base" / "8" / "top-left-first" / "policy.json").write_text("")
    proc = subprocess.run([sys.executable, "-m", "cliprl_cli.cli", "report", "--artifacts", str(art),
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    assert "transfer/8/results.json is not a JSON object" in md
    assert "base/8/top-left-first/policy.json is unreadable" in md
    assert "has no evaluation points" in md


def test_paper_numbers():
    assert furl_paper_success("drawer-open-v3", "furl") == 80.0
    assert furl_paper_success("push-v2", "furl-no-goal") == 40.0
    assert furl_paper_success("reach-v3", "vlm") == 80.0  # the paper's LIV column
    assert furl_paper_success("unknown-v3", "furl") is None
