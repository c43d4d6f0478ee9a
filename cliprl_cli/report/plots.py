"""The report's figures: one function per figure, each drawing from collected inputs and saving one PNG.

Figures (file names under ``OUT/plots/``):

* ``transfer_steps.png``: steps to convergence per grid size and method on a log axis (mean with its 95% interval,
  trials as dots);
* ``negative_transfer.png``: per trial, the initial policy's success rate against its steps to convergence,
  one panel per grid size, scratch's mean as a dashed line;
* ``library_size.png``: steps to convergence against the number of sources K (when the library-size study ran);
* ``finetune_curves_{N}.png``: fine-tuning learning curves on the target, one line per trial;
* ``base_curves.png``: base-policy learning curves, one panel per grid size, two panels a row (readable on a phone);
* ``align_loss.png``: the alignment (InfoNCE) loss per epoch, on a log axis (it falls by orders of magnitude);
* ``furl_success_{task}.png``: FuRL evaluation success (last step and any step), one line per seed;
* ``expert_reward_{task}_{variant}_{seed}.png``: VLM reward along a scripted-expert trajectory (FuRL Figure 11).

Plots of runs whose VLM had random weights say so in red in the title and in the caption. Every axis has a label
in words (:data:`AXIS_LABELS` for the curve fields, never a raw field name); losses and steps to convergence are
drawn on log axes (they span orders of magnitude: 8x8 and 25x25 differ by 100x). Every method and FuRL variant has
one colour in every figure (:mod:`.palette`); methods whose points can coincide also differ in marker and offset.
Matplotlib draws with the Agg backend (files only, no display), selected before pyplot is imported.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from ..store.atomic import atomic_write_bytes  # noqa: E402
from ..store.formats import LIBRARY_SIZE_METHODS, CurvePoint, FurlPoint, LibrarySizeResults  # noqa: E402
from .collect import AlignSection, BaseSection, Collected, FurlRun, TransferSection  # noqa: E402
from .palette import method_colour, method_linestyle, method_marker  # noqa: E402

PLOTS_DIR = "plots"
_RANDOM_TAG = " [RANDOM-WEIGHT VLM: rewards are noise]"
# Axis labels for the curve fields the figures draw: the reader sees words, not JSON keys.
AXIS_LABELS = {
    "env_steps": "env steps",
    "step": "env steps",
    "success_rate": "success rate (all starts)",
    "success_last": "success rate at the last step",
    "success_any": "success rate at any step",
}


@dataclass(frozen=True)
class Plot:
    """A saved figure: its path relative to the report (``plots/NAME.png``), caption and report section."""

    file: str
    caption: str
    section: str


# --------------------------------------------------------------------------------------------------------- helpers
def _xy(points: Iterable[CurvePoint | FurlPoint], x: str, y: str) -> list[tuple[float, float]]:
    """The (x, y) pairs of ``points``: fields ``x`` and ``y`` of each, the one way every curve is drawn."""
    return [(getattr(p, x), getattr(p, y)) for p in points]


def _steps_label(x: float, _pos: int | None = None) -> str:
    """An env-step count as 50k / 1.2M, so long budgets do not overlap."""
    if abs(x) >= 1e6:
        return f"{x / 1e6:g}M"
    if abs(x) >= 1e3:
        return f"{x / 1e3:g}k"
    return f"{x:g}"


def _steps_axis(ax: Any) -> None:
    """Env-step x axes as 50k / 1.2M, five ticks at most."""
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))


def _save(fig: Figure, plots_dir: Path, name: str, caption: str, section: str) -> Plot:
    """Write ``fig`` as ``plots_dir/name`` (atomically, world-readable), close it and describe it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    path = plots_dir / name
    atomic_write_bytes(path, buf.getvalue())
    path.chmod(0o644)
    return Plot(file=f"{PLOTS_DIR}/{name}", caption=caption, section=section)


def means_beside_trials(ax: Any, methods: list[str], positions: int,
                        cell: Callable[[str, int], tuple[list[float], float | None, Any, int]]) -> None:
    """At each x position 0..positions-1, every method side by side (within 0.8): its trials as small dots and, where
    it has a mean, the mean as a marker with its 95% interval (the mean alone under 3 trials). ``cell(method, j)``
    gives (trial values, mean or None, interval, number of trials); a method's markers share its legend entry."""
    width = 0.8 / max(len(methods), 1)
    for i, m in enumerate(methods):
        offset = (i - (len(methods) - 1) / 2) * width
        colour = method_colour(m)
        xs, ys, lo, hi = [], [], [], []
        for j in range(positions):
            dots, mean, ci95, n = cell(m, j)
            if dots:
                ax.scatter([j + offset + width * 0.25] * len(dots), dots, s=7, color=colour, alpha=0.45, lw=0)
            if mean is None:
                continue
            xs.append(j + offset)
            ys.append(mean)
            ci = ci95 if ci95 and None not in ci95 and n >= 3 else (mean, mean)
            lo.append(max(mean - ci[0], 0))
            hi.append(max(ci[1] - mean, 0))
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt=method_marker(m), color=colour, ms=6, capsize=3, lw=1.3, label=m)


# --------------------------------------------------------------------------------------------------------- figures
def plot_transfer_steps(tr: TransferSection, plots_dir: Path) -> Plot | None:
    """Steps to convergence per grid size and method on a log axis: the mean as a marker with its 95% interval,
    each trial as a small dot beside it. Each method sits at its own offset within a grid size, so methods with the
    same numbers (``nearest-language`` and ``nearest-clip`` copying one source) stay visible side by side."""
    if not tr.rows:
        return None
    methods = list(dict.fromkeys(r.method for r in tr.rows))
    sizes = sorted({r.grid_size for r in tr.rows})
    with plt.rc_context({"font.size": 12, "legend.fontsize": 11}):
        fig, ax = plt.subplots(figsize=(6.2, 4.2))

        def cell(m: str, j: int) -> tuple[list[float], float | None, Any, int]:
            row = next((r for r in tr.rows if r.grid_size == sizes[j] and r.method == m), None)
            dots = [p for p in tr.steps.get(sizes[j], {}).get(m, []) if p > 0]  # a zero-step trial: no log position
            if row is None or row.mean is None or row.mean <= 0:
                return dots, None, None, 0
            return dots, row.mean, row.ci95, row.n

        means_beside_trials(ax, methods, len(sizes), cell)
        ax.set_yscale("log")
        ax.set_xticks(range(len(sizes)), [f"{n}x{n}" for n in sizes])
        ax.set_ylabel("env steps to convergence (log)")
        ax.set_title("Steps to convergence on the target")
        ax.grid(axis="y", which="major", alpha=0.3)
        fig.tight_layout()
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=3, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
        return _save(fig, plots_dir, "transfer_steps.png",
                     "Steps to convergence per grid size and method, log axis: mean with its 95% interval (none for "
                     "fewer than 3 trials), trials as dots; censored runs counted at the budget.", "clip")


def plot_negative_transfer(tr: TransferSection, plots_dir: Path) -> Plot | None:
    """Each trial's initial success rate (all starts, before fine-tuning) against its steps to convergence, one
    panel per grid size (two a row), colour and marker per method; the dashed line is scratch's mean at that size.

    Sized like the base curves (a 6-inch-wide figure, 10-point text, the legend below the panels), so the text
    stays legible when a phone scales the figure to its width."""
    sizes = sorted(n for n, by_method in tr.initial.items() if any(by_method.values()))
    if not sizes:
        return None
    cols = min(2, len(sizes))
    rows = -(-len(sizes) // cols)
    methods = list(dict.fromkeys(m for n in sizes for m in tr.initial[n]))
    with plt.rc_context({"font.size": 10, "axes.titlesize": 11, "legend.fontsize": 10}):
        fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.6 * rows), squeeze=False)
        handles: dict[str, Any] = {}
        for k, (ax, n) in enumerate(zip(axes.flat, sizes)):
            for i, method in enumerate(methods):
                trials = tr.initial[n].get(method, [])
                if not trials:
                    continue
                # a small per-method x offset keeps coinciding methods (same starts, same runs) side by side
                dx = (i - (len(methods) - 1) / 2) * 0.012
                handles[method] = ax.scatter([t[0] + dx for t in trials], [t[1] for t in trials], s=18, alpha=0.8,
                                             color=method_colour(method), label=method, marker=method_marker(method))
            scratch = [t[1] for t in tr.initial[n].get("scratch", [])]
            if scratch:
                handles["scratch mean"] = ax.axhline(sum(scratch) / len(scratch), color="k", ls="--", lw=1)
            ax.set_yscale("log")
            ax.set_xlim(-0.05, 1.05)
            ax.set_title(f"{n}x{n}")
            ax.set_xlabel("initial success" if k + cols >= len(sizes) else "")
            ax.set_ylabel("steps (log)" if k % cols == 0 else "")
        for ax in list(axes.flat)[len(sizes):]:
            ax.set_visible(False)
        fig.suptitle("Negative transfer: initial policy vs steps")
        fig.tight_layout()
        fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=2, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
        return _save(fig, plots_dir, "negative_transfer.png",
                     "Per trial: the initial policy's success rate from every start against its env steps to "
                     "convergence (log); points above the dashed line (scratch's mean) transferred negatively.", "clip")


def plot_library_size(study: LibrarySizeResults, plots_dir: Path) -> Plot | None:
    """Steps to convergence against the number of sources K, one panel per naming regime, one line per method
    with its 95% interval as a band (none below 3 runs per cell); both axes logarithmic. A 6-inch figure with
    10-point text and the legend below, legible on a phone."""
    if not study.summary:
        return None
    regimes = list(study.summary)
    n = study.grid_size
    with plt.rc_context({"font.size": 10, "axes.titlesize": 10, "legend.fontsize": 10}):
        fig, axes = plt.subplots(1, len(regimes), figsize=(3.1 * len(regimes), 3.0), squeeze=False, sharey=True)
        for ax, regime in zip(axes.flat, regimes):
            ks = sorted(study.summary[regime])
            for method in LIBRARY_SIZE_METHODS:
                cells = [(k, study.summary[regime][k][method]) for k in ks if method in study.summary[regime][k]]
                if not cells:
                    continue
                xs = [k for k, _ in cells]
                ax.plot(xs, [s.mean for _, s in cells], marker=method_marker(method), color=method_colour(method),
                        label=method)
                if all(s.n >= 3 for _, s in cells):
                    ax.fill_between(xs, [s.ci95[0] for _, s in cells], [s.ci95[1] for _, s in cells],
                                    color=method_colour(method), alpha=0.15)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.set_xlabel("number of sources K")
            ax.set_title(f"{regime} target names")
            ax.grid(alpha=0.3)
        axes.flat[0].set_ylabel("steps to convergence (log)")
        fig.suptitle(f"Library size on {n}x{n} (mean, 95% CI)")
        fig.tight_layout()
        fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="upper center", ncol=4, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
        return _save(fig, plots_dir, "library_size.png",
                     f"Transfer vs the number of sources K on a {n}x{n} grid (generated suite); honest target names "
                     "and the paper's trap (a target's column named from the wrong side).", "clip")


def plot_finetune_curves(n: int, curves: dict[str, list[list[CurvePoint]]], plots_dir: Path) -> Plot | None:
    """Fine-tuning success rate against env steps on the ``n``x``n`` target, one line per trial, colour per method.

    The step axis is logarithmic beyond the first 1,000 steps (symlog: a run that starts converged sits at 0), so
    fast methods are not squeezed against the left edge by slow ones."""
    with plt.rc_context({"font.size": 11, "legend.fontsize": 10}):
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        drawn = False
        for method, trials in curves.items():
            for k, curve in enumerate(trials):
                pts = _xy(curve, "env_steps", "success_rate")
                if pts:
                    ax.plot(*zip(*pts), color=method_colour(method), ls=method_linestyle(method), alpha=0.7, lw=1.2,
                            label=method if k == 0 else None)
                    drawn = True
        if not drawn:
            plt.close(fig)
            return None
        ax.set_xscale("symlog", linthresh=1000)
        ax.xaxis.set_major_formatter(FuncFormatter(_steps_label))
        ax.set_xlabel("env steps (log beyond 1k)")
        ax.set_ylabel("success rate (all starts)")
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"Fine-tuning on the target, {n}x{n} (one line per trial)")
        fig.tight_layout()
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=3, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
        return _save(fig, plots_dir, f"finetune_curves_{n}.png",
                     f"Fine-tuning learning curves on the {n}x{n} target.", "clip")


def plot_base_curves(base: BaseSection, plots_dir: Path) -> Plot | None:
    """Base-policy learning curves, one panel per grid size, one line per base task.

    Sized for a phone as well as a desktop: two panels a row in a 6-inch-wide figure with 11-point text, so when the
    page scales it to a 390 px screen (~370 px of figure) the tick labels stay ~10 px tall; on a desktop it is
    shown at its own 540 px.
    """
    if not base.curves:
        return None
    sizes = sorted(base.curves)
    ncols = min(2, len(sizes))
    nrows = -(-len(sizes) // ncols)
    with plt.rc_context({"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 11}):
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.5 * nrows), squeeze=False)
        tasks: dict[str, Any] = {}
        for k, n in enumerate(sizes):
            ax = axes[k // ncols][k % ncols]
            for i, (task, curve) in enumerate(sorted(base.curves[n].items())):
                pts = _xy(curve, "env_steps", "success_rate")
                if pts:
                    tasks[task] = ax.plot(*zip(*pts), lw=1.5, color=f"C{i % 10}", label=task)[0]
            ax.set_title(f"{n}x{n}")
            ax.set_xlabel(AXIS_LABELS["env_steps"] if k + ncols >= len(sizes) else "")  # lowest panel of a column
            ax.set_ylabel("success rate" if k % ncols == 0 else "")
            ax.set_ylim(-0.05, 1.05)
            _steps_axis(ax)
            ax.xaxis.set_major_locator(MaxNLocator(3))  # three ticks: "120k" fits a half-width panel
        for ax in axes.flat[len(sizes):]:
            ax.set_visible(False)
        fig.suptitle("Base policies: success rate from all starts")
        fig.tight_layout()
        fig.legend(list(tasks.values()), list(tasks), loc="upper center", ncol=2, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))  # below the panels; savefig's tight box keeps it
        return _save(fig, plots_dir, "base_curves.png", "Base-policy learning curves per grid size.", "clip")


def plot_align_loss(align: AlignSection, plots_dir: Path) -> Plot | None:
    """The symmetric InfoNCE loss per epoch, one line per grid size."""
    if not align.loss_curves:
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    for n, lc in sorted(align.loss_curves.items()):
        ax.plot(range(1, len(lc) + 1), lc, label=f"{n}x{n}")
    ax.set_xlabel("epoch")
    # Log axis: the loss falls from ~log(batch) to ~1e-4, so a linear axis is flat after the first few dozen epochs.
    positive = all(v > 0 for lc in align.loss_curves.values() for v in lc)
    if positive:
        ax.set_yscale("log")
    ax.set_ylabel("InfoNCE loss" + (" (log scale)" if positive else ""))
    ax.set_title("CLIP-RL alignment loss")
    ax.legend(fontsize=8)
    return _save(fig, plots_dir, "align_loss.png", "Alignment (symmetric InfoNCE) loss per grid size.", "clip")


def plot_furl_success(task: str, runs: list[FurlRun], plots_dir: Path) -> Plot | None:
    """FuRL evaluation success on ``task``: at the last step (left) and at any step (right), one line per seed."""
    trs = [r for r in runs if r.task == task and r.curve]
    if not trs:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    random = any(r.random_vlm for r in trs)
    keys = ("success_last", "success_any")
    for variant in dict.fromkeys(r.variant for r in trs):
        vr = [r for r in trs if r.variant == variant]
        color = method_colour(variant)
        for ax, key in zip(axes, keys):
            for k, r in enumerate(vr):
                pts = _xy(r.curve, "step", key)
                if pts:
                    ax.plot(*zip(*pts), marker="o", ms=3, lw=1, alpha=0.8,
                            label=(variant + (" (random VLM)" if r.random_vlm else "")) if k == 0 else None,
                            color=color)
    for ax, key in zip(axes, keys):
        ax.set_xlabel(AXIS_LABELS["step"])
        _steps_axis(ax)
        ax.set_ylabel(AXIS_LABELS[key])
        ax.set_title("one line per seed", fontsize=8)
        ax.set_ylim(-0.05, 1.05)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"FuRL {task}: evaluation success" + (_RANDOM_TAG if random else ""),
                 color="red" if random else "black", fontsize=10, y=1.03)
    return _save(fig, plots_dir, f"furl_success_{task}.png",
                 f"FuRL {task}: success at the last step (paper's measure) and at any step (Meta-World's)."
                 + (" RANDOM-WEIGHT VLM." if random else ""), "furl")


def plot_expert_reward(r: FurlRun, plots_dir: Path) -> Plot | None:
    """Zero-shot and aligned VLM reward along one scripted-expert trajectory, each min-max scaled to [0, 1].

    Scaling puts both rewards on one axis (their raw ranges differ by orders of magnitude); the legend keeps each
    raw range. The dashed line marks the expert's first success: a useful reward rises towards it.
    """
    e = r.expert
    if e is None:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    drawn = False
    for vals, label in ((e.zero_shot, "zero-shot (Eq. 2)"), (e.aligned, "aligned (Eq. 3, final heads)")):
        if not vals or len(vals) != len(e.step):  # aligned is absent for variants without heads
            continue
        lo, hi = min(vals), max(vals)
        norm = [(v - lo) / (hi - lo) if hi > lo else 0.0 for v in vals]
        ax.plot(e.step, norm, label=f"{label} [{lo:.3g}, {hi:.3g}]")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    if e.first_success is not None:
        ax.axvline(e.first_success, color="k", ls="--", lw=1, label="first success")
    ax.set_xlabel("expert trajectory step")
    ax.set_ylabel("VLM reward (min-max scaled)")
    ax.legend(fontsize=7)
    title = f"VLM reward on an expert trajectory: {r.task} {r.variant} {r.seed}"
    ax.set_title(title + ("\n" + _RANDOM_TAG.strip() if r.random_vlm else ""), fontsize=9,
                 color="red" if r.random_vlm else "black")
    return _save(fig, plots_dir, f"expert_reward_{r.task}_{r.variant}_{r.seed}.png",
                 f"VLM reward before (zero-shot) and after alignment along one scripted-expert trajectory, "
                 f"{r.task} {r.variant} {r.seed} (the paper's Figure 11)."
                 + (" RANDOM-WEIGHT VLM: the curves are noise." if r.random_vlm else ""), "furl")


def plot_figure7(task: str, runs: list, plots_dir: Path) -> Plot | None:
    """The paper's Figure 7 (pixel observations, random goals): DrQ (``sac`` with ``--obs pixels``) and FuRL
    (``furl``) side by side on ``task``: evaluation success (last step) against env steps, the seed mean in bold
    over one thin line per seed."""
    trs = [r for r in runs if r.task == task and r.curve]
    if not trs:
        return None
    random = any(r.random_vlm for r in trs)
    names = {"sac": "DrQ", "furl": "FuRL (DrQ)"}
    variants = list(dict.fromkeys(r.variant for r in trs))
    fig, axes = plt.subplots(1, len(variants), figsize=(4.2 * len(variants), 3.2), sharey=True, squeeze=False)
    for ax, variant in zip(axes[0], variants):
        vr = [r for r in trs if r.variant == variant]
        for r in vr:
            ax.plot(*zip(*_xy(r.curve, "step", "success_last")), lw=0.8, alpha=0.5, color=method_colour(variant))
        steps = sorted({p.step for r in vr for p in r.curve})
        at = [[p.success_last for r in vr for p in r.curve if p.step == s] for s in steps]
        mean = [sum(v) / len(v) for v in at]
        ax.plot(steps, mean, lw=2, color=method_colour(variant), label=f"mean of {len(vr)} seed(s)")
        ax.set_title(names.get(variant, variant) + (" (random VLM)" if any(r.random_vlm for r in vr) else ""),
                     fontsize=9)
        ax.set_xlabel(AXIS_LABELS["step"])
        _steps_axis(ax)
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(AXIS_LABELS["success_last"])
    fig.suptitle(f"Paper Figure 7 (pixels, random goal): {task}" + (_RANDOM_TAG if random else ""),
                 color="red" if random else "black", fontsize=10, y=1.03)
    return _save(fig, plots_dir, f"furl_pixels_figure7_{task}.png",
                 f"FuRL paper Figure 7 setting, {task} from pixels: DrQ vs FuRL (DrQ backbone), success at the last "
                 "step; the paper: FuRL learns much faster than DrQ." + (" RANDOM-WEIGHT VLM." if random else ""),
                 "furl")


def make_plots(c: Collected, plots_dir: Path) -> list[Plot]:
    """Draw every figure the collected data allows, in report order; figures without data are skipped."""
    drawn = [plot_transfer_steps(c.transfer, plots_dir), plot_negative_transfer(c.transfer, plots_dir)]
    if c.library_size is not None:
        drawn.append(plot_library_size(c.library_size, plots_dir))
    drawn += [plot_finetune_curves(n, curves, plots_dir) for n, curves in sorted(c.transfer.curves.items())]
    drawn += [plot_base_curves(c.base, plots_dir), plot_align_loss(c.align, plots_dir)]
    runs = c.furl.runs
    drawn += [plot_furl_success(task, runs, plots_dir) for task in dict.fromkeys(r.task for r in runs)]
    drawn += [plot_expert_reward(r, plots_dir) for r in runs]
    drawn += [plot_figure7(task, c.furl_pixels, plots_dir) for task in dict.fromkeys(r.task for r in c.furl_pixels)]
    return [p for p in drawn if p is not None]
