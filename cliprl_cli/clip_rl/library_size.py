"""Library-size study (CLIP-RL open question 3): how transfer changes with the number K of sources.

For one grid size, a task suite is *generated* (never hand-typed): every cell gets an instruction in words the
text encoder reads, counted from the nearest edges, e.g. (0, 7) on a 10x10 grid is "first row from the top, third
column from the right". Two held-out targets, (0, N-3) and (N-1, 2), and their mirror cells (0, 2) and (N-1, N-3)
are kept out of the source pool; a pool of 32 other cells is drawn once (seeded) and a base policy trained for
each (`train_base`, the CLI defaults). For each K and each trial k, K sources are drawn from the pool (seed k;
K = 32 is the whole pool), heads are aligned on them (`align`, defaults; ``policy_repr`` selectable), and each
target is fine-tuned from each method's initial policy (`transfer`, defaults: 512-step resolution, fine-tune seed
k*1000 for every method, K and regime: a paired design).

Two naming regimes, over the same policies and heads:

- ``honest``: the targets' instructions describe their cells.
- ``trap`` (the paper's "top left third" at the top right): a target's column is named from the wrong side, e.g.
  (0, N-3) is called "first row from the top, third column from the left". Its mirror cell, which honestly has that
  name, is never a source, so the trap name is a new instruction that points to the wrong side.

Methods: ``clip`` and ``language`` in both regimes; ``uniform`` (depends on K only) and ``scratch`` (depends on
nothing but the trial) are run once and shared by both regimes. Each (K, regime, method) pools the two targets:
n = 2 x trials runs, mean steps to convergence with a 95% bootstrap interval (`cliprl_cli.stats.summarize`).
Deterministic: the same arguments give the same numbers (every draw and run is seeded; results do not depend on
``workers``).

:func:`run_study` runs it and returns :class:`cliprl_cli.store.formats.LibrarySizeResults`; ``cliprl library-size`` and
``benchmarks/library_size_study.py`` call it.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch
import yaml

from .align import align
from .config import AlignConfig, LibrarySizeConfig, TrainBaseConfig, TransferConfig
from ..errors import CliprlError
from ..store.formats import LibrarySizeResults, MethodSummary, PairedRatio
from ..stats import paired_ratio, summarize
from .tasks import slug
from .train_base import train_base
from .transfer import transfer

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth")
POOL_SIZE = 32
REGIMES = ("honest", "trap")


def cell_name(row: int, col: int, size: int, *, flip_columns: bool = False) -> str:
    """Words for a cell, counted from its nearest edges; ``flip_columns`` names the column from the other side
    with the same count (the trap)."""
    vertical = f"{ORDINALS[row]} row from the top" if row < size / 2 else f"{ORDINALS[size - 1 - row]} row from the bottom"
    left = col < size / 2
    count = ORDINALS[col] if left else ORDINALS[size - 1 - col]
    side = "left" if left != flip_columns else "right"
    return f"{vertical}, {count} column from the {side}"


def generate(size: int, seed: int = 0) -> dict:
    """The generated suite: targets, their mirrors (held out) and the seeded pool of source cells."""
    if size > 2 * len(ORDINALS) or size < 8:
        raise CliprlError(f"--grid-size must be between 8 and {2 * len(ORDINALS)} for the library-size study, "
                          f"got {size}")
    targets = [(0, size - 3), (size - 1, 2)]
    mirrors = [(r, size - 1 - c) for r, c in targets]
    free = [(r, c) for r in range(size) for c in range(size) if (r, c) not in targets + mirrors]
    pool = sorted(random.Random(seed).sample(free, POOL_SIZE))
    names = {cell: cell_name(*cell, size) for cell in pool}
    return {"targets": targets, "mirrors": mirrors, "pool": pool, "names": names,
            "target_names": {regime: [cell_name(r, c, size, flip_columns=regime == "trap") for r, c in targets]
                             for regime in REGIMES}}


def write_suite(path: Path, gen: dict, regime: str) -> Path:
    tasks = {name: list(cell) for cell, name in gen["names"].items()}
    for name, cell in zip(gen["target_names"][regime], gen["targets"]):
        assert name not in tasks, name
        tasks[name] = list(cell)
    path.write_text(yaml.safe_dump({"name": f"generated-{regime}", "tasks": tasks,
                                    "base_tasks": list(gen["names"].values())}, sort_keys=False))
    return path


def draw_sources(gen: dict, k: int, trial: int) -> list[str]:
    names = [gen["names"][cell] for cell in gen["pool"]]
    return sorted(random.Random(trial).sample(names, k)) if k < len(names) else sorted(names)


def run_unit(unit: dict) -> list[dict]:
    """One (K, trial): align on the drawn sources, then every (target, regime, method) fine-tuning of that draw."""
    torch.set_num_threads(1)
    work, k, trial, sources = Path(unit["work"]), unit["k"], unit["trial"], unit["sources"]
    rows = []
    align_dir = work / "align" / f"K{k}" / f"t{trial}"
    if k > 0:
        align(work / "base", align_dir, AlignConfig(policy_repr=unit["policy_repr"]), sources=sources,
              tasks_file=unit["suites"]["honest"], quiet=True)
    for ti, _ in enumerate(unit["targets"]):
        for regime in REGIMES:
            methods = unit["methods"][regime]
            if not methods:
                continue
            target = unit["target_names"][regime][ti]
            out = work / "transfer" / f"K{k}" / f"t{trial}" / f"{ti}-{regime}"
            results = transfer(target, work / "base", out,
                               TransferConfig(methods=tuple(methods), trials=1, seed=trial,
                                              start_entropy=unit["start_entropy"]),
                               align_dir=align_dir if k > 0 else None, tasks_file=unit["suites"][regime],
                               sources=sources, quiet=True)
            for row in results["trials"]:
                rows.append({"k": k, "trial": trial, "target": ti, "regime": regime, "method": row["method"],
                             "env_steps": row["env_steps"], "censored": row["censored"], "auc": row["auc"],
                             "initial_success_rate": row["initial_success_rate"], "weights": row["weights"],
                             "step_resolution": results["step_resolution"],
                             **({} if unit["start_entropy"] is None else  # only with matching: the rows keep
                                {"start_temperature": row.get("start_temperature")})})  # their bytes without it
    return rows


def summarise(rows: list[dict], ks: list[int]) -> dict:
    """Per regime, K and method: steps to convergence over both targets x trials; clip/language paired ratio."""
    out: dict = {}
    for regime in REGIMES:
        out[regime] = {}
        for k in ks:
            per = {}
            for method in ("scratch", "uniform", "language", "clip"):
                shared = method in ("scratch", "uniform")
                mine = [r for r in rows if r["method"] == method
                        and (r["regime"] == "honest" if shared else r["regime"] == regime)
                        and (method == "scratch" or r["k"] == k)]
                mine.sort(key=lambda r: (r["target"], r["trial"]))
                if mine:
                    per[method] = summarize([r["env_steps"] for r in mine], [r["censored"] for r in mine])
                    per[method]["auc_mean"] = sum(r["auc"] for r in mine) / len(mine)
                    per[method]["steps"] = [r["env_steps"] for r in mine]
            if "clip" in per and "language" in per:
                per["ratio_clip_language"] = paired_ratio(per["clip"]["steps"], per["language"]["steps"])
            out[regime][k] = per
    return out


def markdown(summary: dict, ks: list[int]) -> str:
    lines = []
    for regime in REGIMES:
        lines += [f"**{regime}** target names: mean env steps to convergence [95% CI]", "",
                  "| K | scratch | uniform | language | clip | clip / language |", "|---:|---:|---:|---:|---:|---:|"]
        for k in ks:
            per = summary[regime][k]
            cells = []
            for method in ("scratch", "uniform", "language", "clip"):
                s = per[method]
                cens = f" ({s['censored']} cens.)" if s["censored"] else ""
                cells.append(f"{s['mean']:,.0f} [{s['ci95'][0]:,.0f}, {s['ci95'][1]:,.0f}]{cens}")
            r = per["ratio_clip_language"]
            cells.append(f"{r['ratio']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def to_results(out: dict) -> LibrarySizeResults:
    """The typed results file from the raw output of :func:`main` (or a saved ``--json``)."""
    summary, ratios = {}, {}
    for regime, by_k in out["summary"].items():
        summary[regime], ratios[regime] = {}, {}
        for k, per in by_k.items():
            summary[regime][int(k)] = {
                m: MethodSummary(n=s["n"], censored=s["censored"], mean=s["mean"], median=s["median"], iqm=s["iqm"],
                                 std=s["std"], ci95=tuple(s["ci95"]), auc_mean=s["auc_mean"])
                for m, s in per.items() if m != "ratio_clip_language"}
            if "ratio_clip_language" in per:
                r = per["ratio_clip_language"]
                ratios[regime][int(k)] = PairedRatio(r["ratio"], tuple(r["ci95"]))
    resolutions = {r["step_resolution"] for r in out["rows"]}
    return LibrarySizeResults(grid_size=out["size"], ks=list(out["ks"]), trials=out["trials"],
                              step_resolution=resolutions.pop() if len(resolutions) == 1 else None,
                              pool=out["pool_names"], target_names=out["target_names"], summary=summary,
                              ratios=ratios, rows=out["rows"], wall_time_s=round(out["seconds"]["total"], 1))


def run_study(out: str | Path | None = None, config: LibrarySizeConfig | None = None, *,
              work: str | Path | None = None, quiet: bool = True) -> tuple[LibrarySizeResults, dict]:
    """Run the study; returns (typed results, the raw output with every row and the per-cell step lists).

    ``out``: write ``out/results.json``. ``work``: where base policies, heads and transfer runs go (kept; base
    policies already there are reused: same seed, same bytes); by default a temporary directory, removed after.
    """
    config = config or LibrarySizeConfig()
    ks = sorted(set(config.ks))
    if not ks or any(k < 2 or k > POOL_SIZE for k in ks):
        raise CliprlError(f"--ks must be numbers of sources between 2 and {POOL_SIZE}, got {list(config.ks)}")
    if config.trials < 1:
        raise CliprlError(f"--trials must be at least 1, got {config.trials}")
    torch.set_num_threads(1)
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="cliprl-libsize-")) if own_work else Path(work)
    try:
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        gen = generate(config.grid_size)
        suites = {regime: str(write_suite(work / f"suite-{regime}.yaml", gen, regime)) for regime in REGIMES}
        for cell in gen["pool"]:  # base policies for the pool (reused when already there: same seed, same bytes)
            name = gen["names"][cell]
            if not (work / "base" / slug(name) / "policy.safetensors").exists():
                train_base(name, work / "base" / slug(name),
                           TrainBaseConfig(grid_size=config.grid_size, seed=config.seed),
                           tasks_file=suites["honest"], quiet=True)
        t_base = time.perf_counter() - start
        units = [{"work": str(work), "k": k, "trial": trial, "sources": draw_sources(gen, k, trial),
                  "policy_repr": str(config.policy_repr), "start_entropy": config.start_entropy,
                  "targets": gen["targets"],
                  "target_names": gen["target_names"], "suites": suites,
                  "methods": {"honest": ["language", "clip", "uniform"] + (["scratch"] if k == ks[0] else []),
                              "trap": ["language", "clip"]}}
                 for k in ks for trial in range(config.trials)]
        rows: list[dict] = []
        if config.workers > 1:
            with cf.ProcessPoolExecutor(config.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for unit_rows in pool.map(run_unit, units):
                    rows += unit_rows
        else:
            for unit in units:
                rows += run_unit(unit)
        total = time.perf_counter() - start
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    raw = {"size": config.grid_size, "ks": ks, "trials": config.trials, "pool": [list(c) for c in gen["pool"]],
           "pool_names": [gen["names"][c] for c in gen["pool"]], "targets": [list(t) for t in gen["targets"]],
           "target_names": gen["target_names"], "summary": summarise(rows, ks), "rows": rows,
           "seconds": {"total": total, "base": t_base}, "workers": config.workers,
           "policy_repr": str(config.policy_repr),
           **({} if config.start_entropy is None else {"start_entropy": config.start_entropy})}
    results = to_results(json.loads(json.dumps(raw)))
    if out is not None:
        results.write(Path(out) / "results.json")
    return results, raw
