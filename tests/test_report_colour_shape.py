"""The report's colour x shape section: layout pictures, weight on the useful group, steps with CIs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_report import write_transfer

from cliprl_cli.store.formats import MethodSummary, TransferResults, TransferTrial
from cliprl_cli.report import build_report
from cliprl_cli.report.colour_shape import collect_colour_shape, colour_shape_tables

SOURCES = ["go to the red ball", "go to the red box", "go to the green key", "go to the blue key"]


def _results(layout: str, useful: list[str], weights: dict[str, dict[str, float] | None],
             steps: dict[str, list[int]]) -> TransferResults:
    trials = [TransferTrial(method=m, trial=k, seed=k, env_steps=s, censored=s >= 1_000_000, auc=0.5,
                            wall_time_s=None, initial_success_rate=0.25 * (k + 1), weights=weights[m],
                            weighting_note="")
              for m, values in steps.items() for k, s in enumerate(values)]
    summary = {m: MethodSummary(n=len(v), censored=sum(s >= 1_000_000 for s in v), mean=float(np.mean(v)),
                                median=float(np.median(v)), iqm=float(np.mean(v)), std=0.0,
                                ci95=(float(min(v)), float(max(v))), auc_mean=0.5) for m, v in steps.items()}
    return TransferResults(grid_size=13, target="go to the red key", goal=(1, 1), budget=1_000_000,
                           config={"layout": layout, "group_by": layout.removeprefix("by-"),
                                   "useful_group": useful, "environment": "cliprl/ColourShape-v0"},
                           similarities={"language": None, "clip": None}, trials=trials, summary=summary,
                           wall_time_s=None, step_resolution=4096, auc_horizon=100_000, sources=SOURCES)


def _write(root: Path, layout_dir: str, seed: int, results: TransferResults) -> None:
    out = root / "colour_shape" / layout_dir / "transfer" / "red-key" / f"seed{seed}"
    out.mkdir(parents=True)
    results.write(out / "results.json")


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    root = tmp_path / "artifacts"
    uniform = {s: 0.25 for s in SOURCES}
    colour_useful = ["go to the red ball", "go to the red box"]
    shape_useful = ["go to the green key", "go to the blue key"]
    # by-colour: clip puts 0.7 then 0.5 on the red pair (seeds 0, 1); language 0.3 both times
    for seed, clip_red in ((0, 0.7), (1, 0.5)):
        clip = {"go to the red ball": clip_red / 2, "go to the red box": clip_red / 2,
                "go to the green key": (1 - clip_red) / 2, "go to the blue key": (1 - clip_red) / 2}
        language = {"go to the red ball": 0.15, "go to the red box": 0.15, "go to the green key": 0.35,
                    "go to the blue key": 0.35}
        _write(root, "by_colour", seed, _results("by-colour", colour_useful,
                                                 {"scratch": None, "language": language, "clip": clip,
                                                  "uniform": uniform},
                                                 {"scratch": [80_000, 120_000], "language": [200_000, 1_000_000],
                                                  "clip": [40_000, 60_000], "uniform": [100_000, 100_000]}))
    # by-shape, one seed: the same language weights now put 0.7 on the useful (key) pair
    language = {"go to the red ball": 0.15, "go to the red box": 0.15, "go to the green key": 0.35,
                "go to the blue key": 0.35}
    _write(root, "by_shape", 0, _results("by-shape", shape_useful,
                                         {"scratch": None, "language": language, "clip": language,
                                          "uniform": uniform},
                                         {"scratch": [80_000, 120_000], "language": [50_000, 70_000],
                                          "clip": [50_000, 70_000], "uniform": [90_000, 110_000]}))
    return root


def test_weights_table_sums_the_useful_group_per_layout_and_seed(artifacts):
    data = collect_colour_shape(artifacts)
    assert [(r.layout_dir, r.align_seed) for r in data.runs] == [("by_colour", 0), ("by_colour", 1), ("by_shape", 0)]
    weights, steps = colour_shape_tables(data)
    assert weights.header[2].startswith("by-colour (useful: go to the red ball, go to the red box)")
    assert weights.header[3].startswith("by-shape (useful: go to the green key, go to the blue key)")
    rows = {row[1]: row[2:] for row in weights.rows}
    assert "scratch" not in rows  # scratch averages nothing
    assert rows["language"] == ["0.300", "0.700"]  # same words, same weights; the useful group moved
    assert rows["clip"][0] == "0.600 (seeds 0: 0.700, 1: 0.500)"  # mean over alignment seeds, then each seed
    assert rows["clip"][1] == "0.700"
    assert rows["uniform"] == ["0.500", "0.500"]
    # steps: one row per layout x target x seed x method, with the CI, censored count and initial success
    lang = [r for r in steps.rows if r[0] == "by-colour" and r[2] == "0" and r[3] == "language"]
    # median and IQM of two trials with their intervals; no second criterion recorded: "-" (not zero)
    assert lang == [["by-colour", "go to the red key", "0", "language", "2", "600,000", "[200,000, 1,000,000]",
                     "600,000 [200,000, 1,000,000]", "600,000 [200,000, 1,000,000]", "1/2", "-", "-", "0.375",
                     "0.300"]]
    assert len(steps.rows) == 3 * 4
    assert "1,000,000 env steps" in steps.note and "4,096" in steps.note


def test_report_has_the_section_with_a_minigrid_picture_of_each_layout(artifacts, tmp_path):
    out = tmp_path / "report"
    report = build_report(artifacts, out, params={"colour_shape": {"layouts": ["by_colour", "by_shape"],
                                                                   "targets": ["red-key", "blue-box"],
                                                                   "align_seeds": [0, 1]}})
    md = (out / "report.md").read_text()
    assert "## CLIP-RL on the MiniGrid colour x shape world" in md
    assert "### Weight on the useful group (the primary measure)" in md
    assert "### Steps to convergence on the target (colour x shape)" in md
    for layout in ("by_colour", "by_shape"):
        png = out / "plots" / f"colour_shape_{layout}.png"
        image = np.asarray(Image.open(png).convert("RGB"))
        assert image.shape == (8 * 32, 13 * 32, 3)  # MiniGrid's render: 13 x 8 tiles of 32 px
        assert f"plots/colour_shape_{layout}.png" in md
    # MiniGrid draws the red key at tile (1, 1) in both layouts: its colour (255, 0, 0) is in that tile
    tile = np.asarray(Image.open(out / "plots" / "colour_shape_by_colour.png").convert("RGB"))[32:64, 32:64]
    assert ((tile[..., 0] == 255) & (tile[..., 1] == 0) & (tile[..., 2] == 0)).any()
    # expected but absent runs are listed with their stage
    missing = "\n".join(report["missing"])
    assert "colour_shape_transfer@by_shape-red-key-1" in missing
    assert "colour_shape_transfer@by_colour-blue-box-0" in missing
    assert "colour_shape_transfer@by_colour-red-key-0" not in missing
    assert "<h2>CLIP-RL on the MiniGrid colour x shape world</h2>" in (out / "report.html").read_text()


def test_no_runs_gives_a_one_line_note_and_no_tables(tmp_path):
    out = tmp_path / "report"
    art = tmp_path / "artifacts"
    write_transfer(art / "transfer" / "5")  # other runs, none in the colour x shape world
    report = build_report(art, out, params={})
    assert not [t for t in report["tables"] if t["section"] == "colour_shape"]
    assert "No colour x shape runs under ARTIFACTS/colour_shape" in (out / "report.md").read_text()


def test_an_unreadable_run_is_a_note_not_a_crash(artifacts, tmp_path):
    bad = artifacts / "colour_shape" / "by_shape" / "transfer" / "red-key" / "seed2"
    bad.mkdir(parents=True)
    (bad / "results.json").write_text("{not json")
    data = collect_colour_shape(artifacts)
    assert len(data.runs) == 3 and len(data.notes) == 1 and "seed2" in data.notes[0]
    assert len(colour_shape_tables(data)) == 2


def test_steps_table_shows_plateaued_runs_success_and_start_temperature(tmp_path):
    """A censored trial that reached success 1.0 is counted as plateaued, apart from one that never succeeded; the
    second criterion's mean and the start temperature of entropy-matched starts are shown; the note gives the clock."""
    weights = {"go to the red ball": 1.0, "go to the red box": 0.0, "go to the green key": 0.0,
               "go to the blue key": 0.0}
    results = _results("by-colour", ["go to the red ball", "go to the red box"], {"nearest-language": weights},
                       {"nearest-language": [1_000_000, 1_000_000, 40_960]})
    reached = {0: (409_600, False), 1: (1_000_000, True), 2: (36_864, False)}  # trial 0 plateaued, 1 never succeeded
    trials = [TransferTrial(**{**t.__dict__, "steps_to_success": reached[t.trial][0],
                               "success_censored": reached[t.trial][1], "start_temperature": 2.5,
                               "start_entropy": 0.7}) for t in results.trials]
    success = MethodSummary(n=3, censored=1, mean=482_154.7, median=409_600.0, iqm=482_154.7, std=0.0,
                            ci95=(36_864.0, 1_000_000.0), auc_mean=0.5)
    results = TransferResults(**{**results.__dict__, "trials": trials, "success_summary": {"nearest-language": success}})
    _write(tmp_path, "by_colour", 0, results)
    _, steps = colour_shape_tables(collect_colour_shape(tmp_path))
    row = dict(zip(steps.header, steps.rows[0]))
    assert (row["censored"], row["plateaued"]) == ("2/3", "1")
    assert row["to success 1.0"] == "482,155 [36,864, 1,000,000]"
    assert row["median [95% CI]"].startswith("1,000,000 [40,960, 1,000,000]")
    assert row["start T"] == "2.50"
    assert "4,096 env steps" in steps.note and "12,288 env steps" in steps.note
