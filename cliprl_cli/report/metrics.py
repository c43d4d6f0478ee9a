"""The pipeline's DVC metrics and data plots: curated, one file per stage family, one key spelling.

The report writes small curated metric files, one per stage family and one of answers::

    OUT/metrics/align.json      {"8": {"final_loss": .., "top1_text_to_policy": .., "top1_policy_to_text": ..}, ..}
    OUT/metrics/transfer.json   {"8": {"mean_steps": {"scratch": .., "nearest-clip": ..}, "censored": {..},
                                       "ratio_clip_language": ..}, .., "mean_ratio_clip_language": ..}
    OUT/metrics/furl.json       {"<task>": {"<variant>": {"success_last": .., "success_any": .., "seeds": ..,
                                                         "random_vlm": ..}}}
    OUT/metrics/report.json     {"complete": true, "missing": 0}   (every expected artifact found or not)
    OUT/metrics/answers.json    {"8x8": 3.61, .., "25x25": 34.5, "K32": 0.61, "K32_trap": 1.18, "cs_shift": 0.2,
                                 "cs_ratio": 0.9, "furl-sac": 0.0}   (what `dvc metrics show` reads)

Methods are spelled as on the command line (``nearest-clip``), grid sizes are the keys, success is in percent as in
the report's tables. The per-stage ``align/N/metrics.json`` and ``transfer/N/metrics.json`` stay as their stages'
outputs (inputs of nothing DVC shows).

``dvc metrics show`` reads only ``metrics/answers.json`` (the estimate behind each of the report's answers, short
keys, three significant digits: :func:`cliprl_cli.report.verdicts.answers_metrics`): one terminal table of about
120 columns. The other files stay beside it for a closer look (``python -m json.tool``). ``dvc plots show`` draws the report's PNG figures (no data plots: their
Vega-Lite pages load scripts from a CDN and stay blank offline).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typing import Sequence

from ..store.artifacts import atomic_write_files
from .collect import Collected
from .verdicts import Verdict, answers_metrics

METRICS_DIR = "metrics"
METRIC_FILES = ("align.json", "transfer.json", "furl.json", "report.json", "answers.json")


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


def write_metrics(c: Collected, verdicts: Sequence[Verdict], out_dir: str | Path) -> dict[str, Any]:
    """Write ``metrics/*.json`` under ``out_dir`` (and remove a ``plot_data/`` an older version wrote); returns the
    metrics by family."""
    out_dir = Path(out_dir)
    metrics = {"align": align_metrics(c), "transfer": transfer_metrics(c), "furl": furl_metrics(c),
               "report": {"complete": not c.log.missing, "missing": len(c.log.missing)},
               "answers": answers_metrics(verdicts)}
    atomic_write_files(out_dir / METRICS_DIR, {f"{family}.json": doc for family, doc in metrics.items()})
    old = out_dir / "plot_data"
    if old.is_dir():
        for f in old.glob("*.json"):
            f.unlink()
        if not any(old.iterdir()):
            old.rmdir()
    return metrics
