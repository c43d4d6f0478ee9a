"""The pipeline's DVC metrics and data plots: curated, one file per stage family, one key spelling.

``dvc metrics show`` / ``dvc exp show`` read three small files the report writes (before, nine files and
~140 columns, the report repeating transfer's numbers under other key spellings)::

    OUT/metrics/align.json      {"8": {"final_loss": .., "top1_text_to_policy": .., "top1_policy_to_text": ..}, ..}
    OUT/metrics/transfer.json   {"8": {"mean_steps": {"scratch": .., "nearest-clip": ..}, "censored": {..},
                                       "ratio_clip_language": ..}, .., "mean_ratio_clip_language": ..}
    OUT/metrics/furl.json       {"<task>": {"<variant>": {"success_last": .., "success_any": .., "seeds": ..,
                                                         "random_vlm": ..}}}
    OUT/metrics/report.json     {"complete": true, "missing": 0}   (every expected artifact found or not)

Methods are spelled as on the command line (``nearest-clip``), grid sizes are the keys, success is in percent as in
the report's tables. The per-stage ``align/N/metrics.json`` and ``transfer/N/metrics.json`` stay as their stages'
outputs (inputs of nothing DVC shows).

``dvc plots show`` / ``dvc plots diff`` read long-form data files, one row per point, drawn by the Vega-Lite
templates in ``.dvc/plots/`` (one line per method or variant, one panel per grid size or task, and one dash style
per revision, so two experiments overlay)::

    OUT/plot_data/transfer_curves.json   grid_size, method, env_steps, success_rate (mean over the trials)
    OUT/plot_data/align_loss.json        grid_size, epoch, loss (log scale)
    OUT/plot_data/furl_curves.json       task, variant, seed, step, success_last, success_any

A transfer curve's mean over trials at ``env_steps`` holds each trial at its last evaluation once it has stopped
(a trial stops when it converges, so its last value is its converged success rate; a censored one stops at the
budget): the same convention as the report's fine-tuning plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store.artifacts import atomic_write_files
from ..store.formats import CurvePoint
from .collect import Collected

METRICS_DIR = "metrics"
PLOT_DATA_DIR = "plot_data"
METRIC_FILES = ("align.json", "transfer.json", "furl.json", "report.json")
PLOT_FILES = ("transfer_curves.json", "align_loss.json", "furl_curves.json")


def align_metrics(c: Collected) -> dict[str, Any]:
    """Grid size -> final loss and top-1 retrieval both ways."""
    return {str(r.grid_size): {"final_loss": r.final_loss, "top1_text_to_policy": r.top1_text_to_policy,
                               "top1_policy_to_text": r.top1_policy_to_text}
            for r in sorted(c.align.rows, key=lambda r: r.grid_size)}


def transfer_metrics(c: Collected) -> dict[str, Any]:
    """Grid size -> mean steps to convergence and censored trials per method, and the clip/language ratio."""
    out: dict[str, Any] = {}
    for r in c.transfer.rows:
        size = out.setdefault(str(r.grid_size), {"mean_steps": {}, "censored": {}})
        size["mean_steps"][r.method] = r.mean
        size["censored"][r.method] = r.censored
    for r in c.transfer.ratios:
        out.setdefault(str(r.grid_size), {})["ratio_clip_language"] = r.ratio
    ratios = [r.ratio for r in c.transfer.ratios if r.ratio is not None]
    if ratios:
        out["mean_ratio_clip_language"] = sum(ratios) / len(ratios)
    return out


def furl_metrics(c: Collected) -> dict[str, Any]:
    """Task -> variant -> success (percent, mean over seeds), seeds, and whether the VLM had random weights."""
    out: dict[str, Any] = {}
    for r in c.furl.rows:
        out.setdefault(r.task, {})[r.variant] = {"success_last": r.success_last_mean,
                                                 "success_any": r.success_any_mean, "seeds": r.seeds,
                                                 "random_vlm": r.random_vlm}
    return out


def mean_curve(trials: list[list[CurvePoint]]) -> list[tuple[int, float]]:
    """The mean success rate over ``trials`` at every env-step count any of them evaluated at, each trial held at
    its last value after it stopped (and at its first before it started). Empty trials are skipped."""
    trials = [t for t in trials if t]
    if not trials:
        return []
    xs = sorted({p.env_steps for t in trials for p in t})
    out = []
    for x in xs:
        values = []
        for t in trials:
            at = [p.success_rate for p in t if p.env_steps <= x]
            values.append(at[-1] if at else t[0].success_rate)
        out.append((x, sum(values) / len(values)))
    return out


def transfer_curve_rows(c: Collected) -> list[dict[str, Any]]:
    rows = []
    for n in sorted(c.transfer.curves):
        for method, trials in c.transfer.curves[n].items():
            rows += [{"grid_size": n, "method": method, "env_steps": x, "success_rate": round(y, 6)}
                     for x, y in mean_curve([t for t in trials if t])]
    return rows


def align_loss_rows(c: Collected) -> list[dict[str, Any]]:
    return [{"grid_size": n, "epoch": i + 1, "loss": loss}
            for n in sorted(c.align.loss_curves) for i, loss in enumerate(c.align.loss_curves[n])]


def furl_curve_rows(c: Collected) -> list[dict[str, Any]]:
    return [{"task": r.task, "variant": r.variant, "seed": r.seed, "step": p.step,
             "success_last": p.success_last, "success_any": p.success_any}
            for r in c.furl.runs for p in r.curve]


def write_metrics_and_plot_data(c: Collected, out_dir: str | Path) -> dict[str, Any]:
    """Write ``metrics/*.json`` and ``plot_data/*.json`` under ``out_dir``; returns the metrics by family."""
    out_dir = Path(out_dir)
    metrics = {"align": align_metrics(c), "transfer": transfer_metrics(c), "furl": furl_metrics(c),
               "report": {"complete": not c.log.missing, "missing": len(c.log.missing)}}
    atomic_write_files(out_dir / METRICS_DIR, {f"{family}.json": doc for family, doc in metrics.items()})
    atomic_write_files(out_dir / PLOT_DATA_DIR, {"transfer_curves.json": transfer_curve_rows(c),
                                                 "align_loss.json": align_loss_rows(c),
                                                 "furl_curves.json": furl_curve_rows(c)})
    return metrics
