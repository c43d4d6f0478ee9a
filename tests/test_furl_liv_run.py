"""`cliprl furl --vlm-model liv --vlm-checkpoint FILE` end to end, on a file in LIV's layout holding RANDOM weights
(no LIV weights can be downloaded here), and the report's LIV row beside the paper's Table 1.

RN50 on a CPU embeds a few frames per second, so the runs are tiny: 40 env steps, 64 px renders (the VLM resizes
the crop to 224).
"""

import json
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from cliprl_cli.cli import main  # noqa: E402
from cliprl_cli.store.formats import FurlCurve, FurlRunConfig, FurlSummary  # noqa: E402
from cliprl_cli.furl.vlm import file_sha256, write_random_liv_checkpoint  # noqa: E402

TASK = "drawer-close-v3"


@pytest.fixture(scope="module")
def liv_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("livrun")
    ckpt = write_random_liv_checkpoint(root / "liv" / "model.pt", seed=0)
    arts = root / "artifacts"
    outs = {}
    for variant in ("vlm", "furl"):
        out = arts / "furl" / TASK / variant / "seed0"
        code = main(["furl", "--profile", "cpu-small", "--task", TASK, "--variant", variant, "--steps", "40",
                     "--random-steps", "20", "--eval-every", "40", "--eval-episodes", "1", "--batch-size", "16",
                     "--vlm-model", "liv", "--vlm-checkpoint", str(ckpt), "--goal-cache", str(root / "goals"),
                     "--out", str(out), "--quiet"])
        assert code == 0
        outs[variant] = out
    return ckpt, arts, outs


def test_liv_file_drives_vlm_and_furl_and_every_artifact_says_random(liv_runs):
    ckpt, _, outs = liv_runs
    sha = file_sha256(ckpt)
    for variant, out in outs.items():
        for name in ("config.json", "curve.json", "summary.json", "expert_rewards.json", "agent.json"):
            assert json.loads((out / name).read_text())["vlm_random_weights"] is True, (variant, name)
        config = FurlRunConfig.read(out / "config.json")
        assert config.vlm.startswith("liv|checkpoint:") and f"|sha256:{sha[:16]}|RANDOM" in config.vlm
        assert config.config["vlm_preprocess"] == "authors" and config.config["goal_margin"] == 0.25
        assert config.config["sac_style"] == "authors"
        assert config.instruction == "push and close a drawer"  # Table 4's "Push and close a drawer.", as the authors
        summary = FurlSummary.read(out / "summary.json")
        assert summary.vlm == config.vlm and summary.vlm_checkpoint_sha256 == sha and summary.sac_style == "authors"
    furl_curve = FurlCurve.read(outs["furl"] / "curve.json").curve
    kept = furl_curve[-1].train_stats["eq5_pairs_kept"]
    assert 0.0 <= kept <= 1.0
    assert FurlSummary.read(outs["furl"] / "summary.json").eq5_pairs_kept_mean == pytest.approx(kept, abs=1e-6)
    assert "eq5_pairs_kept" not in FurlCurve.read(outs["vlm"] / "curve.json").curve[-1].train_stats


def test_report_labels_the_liv_rows_and_compares_them_with_table_1(liv_runs, tmp_path):
    _, arts, _ = liv_runs
    assert main(["report", "--artifacts", str(arts), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith(f"| {TASK} |")]
    success_rows = [line for line in rows if line.count("|") == 10]  # the success table's 9 columns
    assert len(success_rows) == 2, rows
    for line in success_rows:
        assert "LIV (checkpoint sha256:" in line and "RANDOM" in line and "(Table 1) |" in line, line
        assert "Table 3" not in line
    alignment = [line for line in rows if line.count("|") == 6]  # the alignment table: only furl runs Eq. 5/4
    assert len(alignment) == 1 and "| furl (RANDOM VLM) | LIV (" in alignment[0], rows
