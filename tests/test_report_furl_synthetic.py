"""The report's SYNTHETIC-VLM section: runs under ARTIFACTS/furl-synthetic, their table and figure, the known-answer
table, and the labelling (a run without the synthetic mark is left out; synthetic rows never reach the FuRL table)."""

import json
from pathlib import Path

import pytest

from cliprl_cli.report import build_report
from cliprl_cli.report.furl_synthetic import HEADING, collect_furl_synthetic, first_success_step, summary_row
from cliprl_cli.store.formats import FurlCurve, FurlPoint, FurlRunConfig

TASK = "drawer-close-v3"


def _point(step: int, any_: float, last: float | None = None) -> FurlPoint:
    return FurlPoint(step=step, success_any=any_, success_last=any_ if last is None else last, return_=0.0,
                     sparse_return=-500.0, train_stats={}, episodes=1, train_success_episodes=0, positive_frames=0,
                     relay_on=False, updates=step)


def _write(root: Path, variant: str, level: str | None, seed: int, ys: list[float], synthetic: bool = True) -> None:
    d = root / "furl-synthetic" / TASK / variant / (level or "") / f"seed{seed}"
    FurlCurve(vlm_random_weights=False, task=TASK, variant=variant, seed=seed,
              curve=[_point(1000 * (i + 1), y) for i, y in enumerate(ys)], vlm_synthetic=synthetic).write(
        d / "curve.json")


def _artifacts(root: Path) -> None:
    _write(root, "sac", None, 0, [0.0, 0.0, 0.0])            # never succeeds: counts at 3000, "never" 1
    _write(root, "sac", None, 1, [0.0, 0.4, 1.0])            # first success at 2000
    _write(root, "furl", "a0.0", 0, [0.2, 1.0, 1.0])         # 2000: its random phase ends at 1000 (config.json)
    FurlRunConfig(vlm_random_weights=False, config={"task": TASK, "random_steps": 1000}, instruction="Close a drawer.",
                  device_resolved="cpu", vlm="synthetic|misalignment:0|distract:0.25|seed:0", vlm_synthetic=True).write(
        root / "furl-synthetic" / TASK / "furl" / "a0.0" / "seed0" / "config.json")
    _write(root, "furl", "a0.0", 1, [0.0, 0.0, 0.6])         # 3000
    _write(root, "furl", "a1.0", 0, [0.0, 0.0, 0.0])
    _write(root, "vlm", "a1.0", 0, [0.0, 1.0, 1.0], synthetic=False)  # no mark: must be left out


def test_first_success_is_the_first_evaluation_with_any_success():
    assert first_success_step([_point(1000, 0.0), _point(2000, 0.2), _point(3000, 1.0)]) == 2000
    assert first_success_step([_point(1000, 0.0)]) is None
    # the random phase's evaluations show the initial network: they do not count
    assert first_success_step([_point(1000, 1.0), _point(2000, 0.0), _point(3000, 1.0)], after=1000) == 3000


def test_collect_summarise_and_label(tmp_path):
    root = tmp_path / "artifacts"
    _artifacts(root)
    sec = collect_furl_synthetic(root)
    assert sorted((r.variant, r.level, r.seed) for r in sec.runs) == [
        ("furl", 0.0, 0), ("furl", 0.0, 1), ("furl", 1.0, 0), ("sac", None, 0), ("sac", None, 1)]
    assert any("not a synthetic-VLM run" in n for n in sec.notes)
    sac = summary_row([r for r in sec.runs if r.variant == "sac"])
    assert sac["first_success_step"][0] == pytest.approx(2500.0)  # (3000 + 2000) / 2: the censored seed kept
    assert sac["never"] == 1
    # each seed's mean over its last three evaluations: 0 and (0 + 0.4 + 1) / 3
    assert sac["final_success_any"][0] == pytest.approx(0.7 / 3)
    lo, hi = sac["final_success_any"][1]
    assert lo == pytest.approx(0.0) and hi == pytest.approx(1.4 / 3)  # two seeds: the bootstrap spans both
    furl = summary_row([r for r in sec.runs if r.variant == "furl" and r.level == 0.0])
    assert furl["first_success_step"][0] == pytest.approx(2500.0) and furl["never"] == 0  # (2000 + 3000) / 2


def test_the_report_has_a_synthetic_section_with_both_tables_and_a_figure(tmp_path):
    root = tmp_path / "artifacts"
    _artifacts(root)
    known = tmp_path / "known.json"
    known.write_text(json.dumps({"synthetic_vlm": True, "command": "python benchmarks/furl_known_answer.py",
                                 "table": [{"source": "synthetic", "distract": 0.25, "misalignment": 1.0, "seeds": 5,
                                            "zero-shot": {"mean": -0.61, "ci95": [-0.7, -0.5]},
                                            "eq5": {"mean": 0.1, "ci95": [0.0, 0.2]},
                                            "eq4": {"mean": 0.7, "ci95": [0.6, 0.8]},
                                            "eq5+eq4": {"mean": 0.72, "ci95": [0.65, 0.8]}}]}))
    out = tmp_path / "report"
    data = build_report(root, out, known_answer=known)
    md = (out / "report.md").read_text()
    assert "SYNTHETIC" in HEADING and f"## {HEADING}" in md
    synthetic_tables = [t for t in data["tables"] if t["section"] == "furl_synthetic"]
    assert [t["title"].startswith("SYNTHETIC") for t in synthetic_tables] == [True, True]
    bench, known_table = synthetic_tables
    rows = {(r[1], r[2]): r for r in bench["rows"]}
    assert set(rows) == {("sac", "- (no VLM)"), ("furl", "0"), ("furl", "1")}
    assert rows[("sac", "- (no VLM)")][6].startswith("2,500") and rows[("sac", "- (no VLM)")][7] == "1/2"
    assert known_table["rows"] == [["synthetic", "0.25", "1", "5", "-0.61 [-0.70, -0.50]", "0.10 [0.00, 0.20]",
                                    "0.70 [0.60, 0.80]", "0.72 [0.65, 0.80]"]]
    assert [p["file"] for p in data["plots"] if p["section"] == "furl_synthetic"] == [
        f"plots/furl_synthetic_{TASK}.png"]
    assert (out / "plots" / f"furl_synthetic_{TASK}.png").stat().st_size > 1000
    # the FuRL section (ARTIFACTS/furl) holds none of these runs
    assert not any(t["section"] == "furl" and any(TASK in str(c) for row in t["rows"] for c in row)
                   for t in data["tables"])
    html = (out / "report.html").read_text()
    assert HEADING.replace("'", "&#x27;") in html


def test_a_bad_known_answer_file_is_listed_missing_not_raised(tmp_path):
    root = tmp_path / "artifacts"
    _artifacts(root)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"table": []}))
    sec = collect_furl_synthetic(root, bad)
    assert sec.known_answer is None and any("not a known-answer result" in m for m in sec.missing)
