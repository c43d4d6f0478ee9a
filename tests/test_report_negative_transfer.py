"""The report's negative-transfer table, sentence and scatter plot (issue 13), on hand-made transfer results."""

from __future__ import annotations

from pathlib import Path

from cliprl_cli.store.formats import MethodSummary, TransferResults, TransferTrial
from cliprl_cli.report.collect import Expected, collect
from cliprl_cli.report.plots import plot_negative_transfer
from cliprl_cli.report.tables import negative_transfer_rows, negative_transfer_sentence, negative_transfer_table

# method -> (initial success rate, steps) per trial; scratch's mean is 4,000
TRIALS = {"scratch": [(0.0, 3000), (0.0, 5000)],
          "clip": [(0.1, 8000), (0.3, 2000)],        # one trial slower than scratch
          "uniform": [(0.8, 1000), (0.6, 512)]}      # never slower


def write_results(root: Path) -> Path:
    trials = [TransferTrial(method=m, trial=k, seed=k, env_steps=steps, censored=False, auc=0.5, wall_time_s=1.0,
                            initial_success_rate=success, weights=None if m == "scratch" else {"a": 1.0},
                            weighting_note="n")
              for m, rows in TRIALS.items() for k, (success, steps) in enumerate(rows)]
    summary = {m: MethodSummary(n=2, censored=0, mean=1.0, median=1.0, iqm=1.0, std=0.0, ci95=(1.0, 1.0),
                                auc_mean=0.5) for m in TRIALS}
    TransferResults(grid_size=6, target="t", goal=(0, 3), budget=10_000, config={}, similarities={}, trials=trials,
                    summary=summary, wall_time_s=1.0, step_resolution=512, auc_horizon=100_000,
                    sources=["a", "b"]).write(root / "transfer" / "6" / "results.json")
    return root


def test_negative_transfer_rows_sentence_and_plot(tmp_path):
    c = collect(write_results(tmp_path / "artifacts"), Expected())
    assert c.transfer.resolution == {6: 512}
    assert negative_transfer_rows(c) == [(6, "clip", 0.2, 1, 2), (6, "uniform", 0.7, 0, 2)]
    # slower: clip's 0.1 start; faster: 0.3, 0.8, 0.6 -> mean 57%
    assert negative_transfer_sentence(c) == ("1 of 4 transferred trials were slower than scratch's mean at their "
                                             "grid size; their initial policies reached the goal from 10% of starts "
                                             "on average, against 57% for the faster ones.")
    table = negative_transfer_table(c)
    assert table.rows == [["6x6", "clip", "20%", "1 / 2"], ["6x6", "uniform", "70%", "0 / 2"]]
    assert "resolved to 512 env steps" in table.note
    out = tmp_path / "plots"
    out.mkdir()
    plot = plot_negative_transfer(c.transfer, out)
    assert plot is not None and (out / "negative_transfer.png").stat().st_size > 1000


def test_no_transfer_results_no_plot_no_rows(tmp_path):
    c = collect(tmp_path, Expected())
    assert negative_transfer_rows(c) == [] and negative_transfer_sentence(c) == ""
    assert plot_negative_transfer(c.transfer, tmp_path) is None
