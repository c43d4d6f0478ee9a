"""The library-size study (issue 13): its generated suite, its results format, and the report's table and plot."""

from __future__ import annotations

import pytest

from cliprl_cli.clip_rl import library_size as study
from cliprl_cli.commands.library_size import library_size_command
from cliprl_cli.commands.options import _from_options
from cliprl_cli.clip_rl.config import LibrarySizeConfig
from cliprl_cli.errors import CliprlError
from cliprl_cli.store.formats import LibrarySizeResults, MethodSummary, PairedRatio
from cliprl_cli.report.collect import Expected, collect
from cliprl_cli.report.plots import plot_library_size
from cliprl_cli.report.tables import library_size_table
from cliprl_cli.clip_rl.tasks import load_suite


def test_cell_names_count_from_the_nearest_edges():
    assert study.cell_name(0, 7, 10) == "first row from the top, third column from the right"
    assert study.cell_name(9, 2, 10) == "first row from the bottom, third column from the left"
    assert study.cell_name(4, 4, 10) == "fifth row from the top, fifth column from the left"
    assert study.cell_name(5, 5, 10) == "fifth row from the bottom, fifth column from the right"
    # the trap: same count, the other side
    assert study.cell_name(0, 7, 10, flip_columns=True) == "first row from the top, third column from the left"


def test_generated_suites_hold_the_pool_and_the_targets_under_both_names(tmp_path):
    gen = study.generate(10)
    assert len(gen["pool"]) == study.POOL_SIZE == len(set(gen["names"].values()))
    assert not set(gen["pool"]) & set(gen["targets"] + gen["mirrors"])  # held out
    # a trap name is the honest name of the target's mirror, which is never a source
    for (r, c), trap in zip(gen["targets"], gen["target_names"]["trap"]):
        assert trap == study.cell_name(r, 9 - c, 10)
    for regime in study.REGIMES:
        suite = load_suite(study.write_suite(tmp_path / f"{regime}.yaml", gen, regime))
        suite.check_size(10)
        assert list(suite.base_tasks) == list(gen["names"].values())
        for name, cell in zip(gen["target_names"][regime], gen["targets"]):
            assert suite.goal(name, 10) == cell
        for cell, name in gen["names"].items():
            assert suite.goal(name, 10) == cell
    # draws: K of the pool, seeded by the trial; K = pool size is the whole pool
    assert study.draw_sources(gen, 4, 0) == study.draw_sources(gen, 4, 0) != study.draw_sources(gen, 4, 1)
    assert len(study.draw_sources(gen, 4, 0)) == 4
    assert study.draw_sources(gen, 32, 3) == sorted(gen["names"].values())


def _results() -> LibrarySizeResults:
    def s(mean):
        return MethodSummary(n=4, censored=0, mean=mean, median=mean, iqm=mean, std=1.0, ci95=(mean - 1, mean + 1),
                             auc_mean=0.9)
    summary = {r: {k: {"scratch": s(4000.0), "uniform": s(3000.0), "language": s(2000.0), "clip": s(1000.0 * k)}
                   for k in (2, 4)} for r in ("honest", "trap")}
    ratios = {r: {k: PairedRatio(k / 2, (k / 4, k)) for k in (2, 4)} for r in ("honest", "trap")}
    return LibrarySizeResults(grid_size=8, ks=[2, 4], trials=2, step_resolution=512, pool=["a", "b", "c", "d"],
                              target_names={"honest": ["x", "y"], "trap": ["x'", "y'"]}, summary=summary,
                              ratios=ratios, rows=[{"k": 2, "method": "clip"}], wall_time_s=3.0)


def test_results_round_trip_and_bad_file(tmp_path):
    path = _results().write(tmp_path / "results.json")
    back = LibrarySizeResults.read(path)
    assert back.wall_time_s is None and "wall_time_s" not in path.read_text()  # run metadata: run.json (issue 16)
    back.wall_time_s = 3.0
    assert back == _results()
    path.write_text('{"grid_size": 8}')
    from cliprl_cli.store.atomic import ArtifactError
    with pytest.raises(ArtifactError, match="missing field"):
        LibrarySizeResults.read(path)


def test_report_shows_the_study(tmp_path):
    _results().write(tmp_path / "library_size" / "results.json")
    c = collect(tmp_path, Expected())
    table = library_size_table(c)
    assert table.header == ["names", "K", "scratch", "uniform", "language", "clip", "clip/language [95% CI]"]
    assert table.rows[1] == ["honest", "4", "4,000 [3,999, 4,001]", "3,000 [2,999, 3,001]",
                             "2,000 [1,999, 2,001]", "4,000 [3,999, 4,001]", "2.00 [1.00, 4.00]"]
    assert "2 held-out targets x 2 trials, resolved to 512 env steps" in table.note
    out = tmp_path / "plots"
    out.mkdir()
    assert plot_library_size(c.library_size, out).file == "plots/library_size.png"
    assert library_size_table(collect(tmp_path / "none", Expected())) is None


def test_a_tiny_study_end_to_end_is_deterministic(tmp_path):
    """8x8, K = 2, one trial: the command writes results.json; a rerun (base policies reused) gives the same runs."""
    work = tmp_path / "work"
    library_size_command(out=tmp_path / "a", grid_size=8, ks="2", trials=1, seed=0, policy_repr="weights",
                         workers=1, work=work, quiet=True)
    a = LibrarySizeResults.read(tmp_path / "a" / "results.json")
    assert a.grid_size == 8 and a.ks == [2] and a.step_resolution == 512 and len(a.pool) == 32
    assert set(a.summary) == {"honest", "trap"}
    assert set(a.summary["honest"][2]) == {"scratch", "uniform", "language", "clip"}
    assert a.summary["honest"][2]["scratch"].n == 2  # two targets x one trial
    assert {(r["method"], r["regime"]) for r in a.rows} == {("scratch", "honest"), ("uniform", "honest"),
                                                           ("language", "honest"), ("clip", "honest"),
                                                           ("language", "trap"), ("clip", "trap")}
    study.run_study(tmp_path / "b", LibrarySizeConfig(grid_size=8, ks=(2,), trials=1), work=work)
    b = LibrarySizeResults.read(tmp_path / "b" / "results.json")
    assert b.rows == a.rows and b.summary == a.summary


def test_bad_study_settings_fail_with_one_line():
    with pytest.raises(CliprlError, match="--ks: expected comma-separated int values, got '2,four'"):
        _from_options(LibrarySizeConfig, {"ks": "2,four"}, ())
    with pytest.raises(CliprlError, match="between 2 and 32"):
        study.run_study(None, LibrarySizeConfig(ks=(1, 4)))
    with pytest.raises(CliprlError, match="--grid-size must be between 8 and 26"):
        study.generate(6)
    with pytest.raises(CliprlError, match="unknown policy representation"):
        LibrarySizeConfig(policy_repr="pixels")
