"""The report's BabyAI additions: paired counts, the ratio's wording, and the figure, on hand-made and saved runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from cliprl_cli.errors import CliprlError
from cliprl_cli.report.babyai import (BabyAIData, BabyAIRun, babyai_plots, babyai_ratio_table, babyai_tables,
                                      collect_babyai, paired_counts, ratio_text)

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "benchmarks" / "results" / "babyai_experiment"
SAVED = EXPERIMENT / "colour_object" / "transfer" / "go-to-the-red-key" / "results.json"


def _run(steps: dict[str, list[int]]) -> BabyAIRun:
    trials = [SimpleNamespace(method=m, trial=k, env_steps=s) for m, xs in steps.items() for k, s in enumerate(xs)]
    return BabyAIRun(suite_dir="s", target="go to the red key", results=SimpleNamespace(trials=trials))


def test_paired_counts_by_hand():
    # pairs (10, 20) fewer, (30, 30) same, (50, 40) more, (0, 5) fewer; language's fifth trial has no clip partner
    run = _run({"clip": [10, 30, 50, 0], "language": [20, 30, 40, 5, 7]})
    assert paired_counts(run) == (2, 1, 1)
    assert paired_counts(_run({"clip": [1]})) is None


def test_ratio_wording():
    assert ratio_text(0.5212, 0.358, 0.751, 54067.0) == "0.52 [0.36, 0.75]"
    assert ratio_text(float("inf"), float("inf"), float("inf"), 0.0) == "undefined (language's mean is 0 steps)"
    assert ratio_text(2.0, 1.0, float("inf"), 10.0) == "2.00 [1.00, inf]"


def test_saved_run_table_and_figure(tmp_path):
    target = tmp_path / "babyai" / "colour_object" / "transfer" / "go-to-the-red-key"
    target.mkdir(parents=True)
    shutil.copy(SAVED, target / "results.json")
    data = collect_babyai(tmp_path)
    assert len(data.runs) == 1 and not data.notes
    table = babyai_ratio_table(data.runs)[0]
    (row,) = table.rows
    assert row[:3] == ["colour_object", "go to the red key", "10"] and row[3].startswith("0.52 [")
    fewer, same, more = (int(x) for x in row[4].split(" / "))
    assert fewer + same + more == 10 and fewer > more
    plots = babyai_plots(data, tmp_path)
    assert [p.file.rsplit("/", 1)[-1] for p in plots] == ["babyai_colour_object_steps.png"]
    assert (tmp_path / "babyai_colour_object_steps.png").stat().st_size > 10_000
    assert babyai_plots(BabyAIData(), tmp_path) == []


def test_saved_experiment_is_shown_apart(tmp_path):
    """report --babyai-experiment: the saved runs are read from their own directory and labelled; a pipeline run
    of the same target stays in the pipeline's tables; a missing directory is one error."""
    target = tmp_path / "art" / "babyai" / "colour_object" / "transfer" / "go-to-the-red-key"
    target.mkdir(parents=True)
    shutil.copy(SAVED, target / "results.json")
    data = collect_babyai(tmp_path / "art", experiment=EXPERIMENT)
    saved = [r for r in data.runs if r.source == "saved"]
    assert len([r for r in data.runs if r.source == "pipeline"]) == 1 and len(saved) >= 4
    assert {r.suite_dir for r in saved} >= {"colour_object"}
    titles = [t.title for t in babyai_tables(data)]
    assert titles[:2] == ["Steps to the convergence rule on BabyAI targets",
                          "BabyAI: clip / language (Algorithm 2 over Algorithm 1)"]
    assert "BabyAI saved experiment: Steps to the convergence rule on BabyAI targets" in titles
    names = {p.file.rsplit("/", 1)[-1] for p in babyai_plots(data, tmp_path)}
    assert {"babyai_colour_object_steps.png", "babyai_saved_colour_object_steps.png"} <= names
    with pytest.raises(CliprlError, match="--babyai-experiment .* is not a directory"):
        collect_babyai(tmp_path / "art", experiment=tmp_path / "nowhere")
