"""`cliprl report`: read the pipeline's artifacts and write tables, plots and metrics.

:func:`build_report` does the work and returns the report as data (the tables first); Markdown and HTML are both
rendered from that same data. Output directory::

    OUT/report.md        tables + links to the plots
    OUT/report.html      the same, self-contained (PNGs embedded as base64 data URIs)
    OUT/plots/*.png      transfer per grid size, base and fine-tune learning curves, alignment loss,
                         FuRL success curves, VLM reward along a scripted-expert trajectory (paper's Figure 11)
    OUT/metrics.json     numbers for `dvc metrics show`

Inputs (``ARTIFACTS`` is ``artifacts/`` in the pipeline)::

    ARTIFACTS/base/{N}/{task-slug}/policy.json, curve.json            (cliprl train-base)
    ARTIFACTS/align/{N}/heads.json, metrics.json                      (cliprl align)
    ARTIFACTS/transfer/{N}/results.json, curves.json                  (cliprl transfer)
    ARTIFACTS/furl/{task}/{variant}/seed{S}/curve.json, summary.json, expert_rewards.json   (cliprl furl)

With ``params`` (the pipeline's ``params.yaml``) the report knows what the pipeline was meant to produce and names
every missing piece (with the DVC stage that makes it); without it, it reports what it finds. A missing, partial
or unreadable artifact never raises: it is listed under "Missing or incomplete". Honest labelling: FuRL runs whose
VLM had random weights are flagged in every table row and plot title that uses them; censored transfer runs
(budget exhausted) are counted at the budget, never dropped, and the tables show how many there were.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import atomic_write_bytes, atomic_write_json, atomic_write_text
from .errors import CliprlError

# --------------------------------------------------------------------------------------------------- paper numbers
CLIP_RL_PAPER = ("CLIP-RL (arXiv 2512.01616) reports about 50% fewer training steps than Algorithm 1 (language-only "
                 "transfer) on average, i.e. a clip/language ratio of about 0.5, with the gain growing with grid "
                 "size (8, 10, 15, 25; 10 trials). The text gives no per-size numbers.")
CLIP_RL_PAPER_RATIO = 0.5
PAPER_GRID_SIZES = (8, 10, 15, 25)

# FuRL (ICML 2024) Table 1: MT10, sparse reward, fixed goal, success (%) at the last step of the evaluation
# episodes, mean over 5 seeds after 1e6 steps. Columns: SAC, VLM-RMs, VLM-RMs-GB, LIV, LIV-Proj, Relay,
# FuRL w/o goal-image, FuRL.
FURL_PAPER_COLUMNS = ("sac", "vlm-rm", "vlm-rm-gb", "vlm", "vlm-proj", "relay", "furl-no-goal", "furl")
FURL_PAPER_COLUMN_NAMES = {"sac": "SAC", "vlm-rm": "VLM-RMs", "vlm-rm-gb": "VLM-RMs-GB", "vlm": "LIV",
                           "vlm-proj": "LIV-Proj", "relay": "Relay", "furl-no-goal": "FuRL w/o goal-image",
                           "furl": "FuRL"}
FURL_PAPER_TABLE1 = {
    "button-press-topdown": (0, 0, 0, 0, 0, 60, 80, 100),
    "door-open": (50, 0, 0, 0, 0, 80, 100, 100),
    "drawer-close": (100, 0, 0, 100, 100, 100, 100, 100),
    "drawer-open": (20, 0, 0, 0, 0, 40, 80, 80),
    "peg-insert-side": (0, 0, 0, 0, 0, 0, 0, 0),
    "pick-place": (0, 0, 0, 0, 0, 0, 0, 0),
    "push": (0, 0, 0, 0, 0, 0, 40, 80),
    "reach": (60, 0, 0, 80, 80, 100, 100, 100),
    "window-close": (60, 0, 0, 60, 40, 80, 100, 100),
    "window-open": (80, 0, 0, 40, 20, 80, 100, 100),
}
FURL_PAPER_AVERAGE = dict(zip(FURL_PAPER_COLUMNS, (37.0, 0.0, 0.0, 28.0, 24.0, 54.0, 70.0, 76.0)))
FURL_PAPER_NOTE = ("FuRL paper Table 1: MT10, sparse reward, fixed goal, success (%) at the last step, mean of 5 "
                   "seeds after 1e6 env steps, Meta-World v2 tasks, LIV as the VLM (its 'LIV' and 'LIV-Proj' "
                   "columns are our 'vlm' and 'vlm-proj' variants).")

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"


def furl_paper_success(task: str, variant: str) -> float | None:
    """The FuRL paper's Table 1 success (%) for ``task`` (v2 or v3 name) and our ``variant``, or None."""
    base = re.sub(r"-v\d+$", "", task)
    row = FURL_PAPER_TABLE1.get(base)
    if row is None or variant not in FURL_PAPER_COLUMNS:
        return None
    return float(row[FURL_PAPER_COLUMNS.index(variant)])


# ------------------------------------------------------------------------------------------------------ collection
@dataclass
class _Collector:
    root: Path
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def rel(path: Path) -> str:
        return str(path)

    def json(self, path: Path, what: str, stage: str | None = None, *, required: bool = True) -> Any:
        """Read a JSON file; a missing or unreadable one is recorded (when ``required``) and gives None."""
        where = f" (stage {stage})" if stage else ""
        if not path.is_file():
            if required:
                self.missing.append(f"{what}: {self.rel(path)} not found{where}")
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.missing.append(f"{what}: {self.rel(path)} is unreadable ({exc.__class__.__name__}){where}")
            return None


def _num(value: Any) -> float | None:
    """A finite float, or None (for missing, non-numeric, NaN values)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _sorted_sizes(values) -> list[int]:
    out = set()
    for v in values:
        try:
            out.add(int(v))
        except (TypeError, ValueError):
            continue
    return sorted(out)


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []


def load_params(path: str | Path | None) -> dict[str, Any]:
    """The pipeline's params.yaml as a dict ({} when ``path`` is None). Fails with one line when unreadable."""
    if path is None:
        return {}
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CliprlError(f"params file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CliprlError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CliprlError(f"{path}: expected a mapping at the top level")
    return data


def _expected(params: dict[str, Any]) -> dict[str, Any]:
    tb = params.get("train_base") or {}
    tr = params.get("transfer") or {}
    fu = params.get("furl") or {}
    methods = tr.get("methods")
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    return {
        "sizes": _sorted_sizes(tb.get("grid_sizes") or []),
        "tasks": [str(t) for t in tb.get("tasks") or []],
        "methods": list(methods or []),
        "trials": tr.get("trials"),
        "target": tr.get("target"),
        "furl_tasks": [str(t) for t in fu.get("tasks") or []],
        "furl_variants": [str(v) for v in fu.get("variants") or []],
        "furl_seeds": [s for s in fu.get("seeds") or []],
        "furl_steps": fu.get("steps"),
    }


def _collect_base(c: _Collector, exp: dict[str, Any]) -> dict[str, Any]:
    base = c.root / "base"
    sizes = _sorted_sizes([*exp["sizes"], *[p.name for p in _subdirs(base)]])
    rows, curves = [], {}
    for n in sizes:
        tasks = list(dict.fromkeys([*exp["tasks"], *[p.name for p in _subdirs(base / str(n))]]))
        for task in tasks:
            d = base / str(n) / task
            side = c.json(d / "policy.json", "base policy", f"train_base@{n}-{task}")
            curve = c.json(d / "curve.json", "base learning curve", f"train_base@{n}-{task}", required=side is not None)
            if side is None:
                continue
            m = side.get("metrics") or {}
            rows.append({"grid_size": n, "task": side.get("instruction", task), "slug": task,
                         "converged": m.get("converged"), "env_steps": _num(m.get("env_steps")),
                         "wall_time_s": _num(m.get("wall_time_s")), "auc": _num(m.get("auc"))})
            if isinstance(curve, list):
                curves.setdefault(n, {})[side.get("instruction", task)] = curve
    return {"rows": rows, "curves": curves, "sizes": sizes}


def _collect_align(c: _Collector, sizes: list[int]) -> dict[str, Any]:
    align = c.root / "align"
    sizes = _sorted_sizes([*sizes, *[p.name for p in _subdirs(align)]])
    rows, loss_curves = [], {}
    for n in sizes:
        side = c.json(align / str(n) / "heads.json", "alignment heads", f"align@{n}")
        if side is None:
            continue
        m = side.get("metrics") or {}
        if not m:
            flat = c.json(align / str(n) / "metrics.json", "alignment metrics", f"align@{n}", required=False) or {}
            m = flat if isinstance(flat, dict) else {}
        rows.append({"grid_size": n, "final_loss": _num(m.get("final_loss")),
                     "top1_text_to_policy": _num(m.get("top1_text_to_policy")),
                     "top1_policy_to_text": _num(m.get("top1_policy_to_text"))})
        lc = m.get("loss_curve")
        if isinstance(lc, list) and lc:
            loss_curves[n] = [v for v in (_num(x) for x in lc) if v is not None]
    return {"rows": rows, "loss_curves": loss_curves}


def _bootstrap_ci(values: list[float], seed: int = 0, n_boot: int = 2000) -> list[float]:
    import numpy as np

    if not values:
        return [float("nan"), float("nan")]
    arr = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(n_boot, len(arr)))].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def _summarise_trials(trials: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-method summary recomputed from the trials (used when results.json has no usable summary)."""
    import numpy as np

    by: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        if isinstance(t, dict) and "method" in t:
            by.setdefault(str(t["method"]), []).append(t)
    out = {}
    for method, ts in by.items():
        steps = [v for v in (_num(t.get("env_steps")) for t in ts) if v is not None]
        out[method] = {"n": len(ts), "censored": sum(bool(t.get("censored")) for t in ts),
                       "mean": float(np.mean(steps)) if steps else None,
                       "median": float(np.median(steps)) if steps else None,
                       "ci95": _bootstrap_ci(steps) if steps else None}
    return out


def _collect_transfer(c: _Collector, sizes: list[int], exp: dict[str, Any]) -> dict[str, Any]:
    tdir = c.root / "transfer"
    sizes = _sorted_sizes([*sizes, *[p.name for p in _subdirs(tdir)]])
    rows, ratios, curves, steps = [], [], {}, {}
    for n in sizes:
        res = c.json(tdir / str(n) / "results.json", "transfer results", f"transfer@{n}")
        if not isinstance(res, dict):
            if res is not None:
                c.missing.append(f"transfer results: {c.rel(tdir / str(n) / 'results.json')} is not a JSON object")
            continue
        trials = [t for t in res.get("trials") or [] if isinstance(t, dict)]
        summary = res.get("summary") if isinstance(res.get("summary"), dict) else {}
        recomputed = _summarise_trials(trials)
        methods = list(dict.fromkeys([*exp["methods"], *summary.keys(), *recomputed.keys()]))
        budget = _num(res.get("budget"))
        for method in methods:
            s = summary.get(method) or recomputed.get(method)
            if not s:
                c.missing.append(f"transfer method {method!r}: no trials in {c.rel(tdir / str(n) / 'results.json')} "
                                 f"(stage transfer@{n})")
                continue
            ci = s.get("ci95") if isinstance(s.get("ci95"), (list, tuple)) and len(s.get("ci95")) == 2 else None
            row = {"grid_size": n, "method": method, "n": s.get("n"), "censored": s.get("censored"),
                   "mean": _num(s.get("mean")), "median": _num(s.get("median")), "iqm": _num(s.get("iqm")),
                   "ci95": [_num(ci[0]), _num(ci[1])] if ci else None, "budget": budget}
            rows.append(row)
            if exp["trials"] and isinstance(row["n"], int) and row["n"] < int(exp["trials"]):
                c.missing.append(f"transfer {n}x{n} {method}: {row['n']} of {exp['trials']} trials "
                                 f"(stage transfer@{n})")
            steps.setdefault(n, {})[method] = [_num(t.get("env_steps")) for t in trials if t.get("method") == method]
        r = res.get("ratio_clip_language")
        if isinstance(r, dict) and _num(r.get("ratio")) is not None:
            ci = r.get("ci95") if isinstance(r.get("ci95"), (list, tuple)) and len(r.get("ci95")) == 2 else None
            ratios.append({"grid_size": n, "ratio": _num(r.get("ratio")),
                           "ci95": [_num(ci[0]), _num(ci[1])] if ci else None})
        elif ("clip" in summary or "clip" in recomputed) and ("language" in summary or "language" in recomputed):
            cm = _num((summary.get("clip") or recomputed["clip"]).get("mean"))
            lm = _num((summary.get("language") or recomputed["language"]).get("mean"))
            if cm is not None and lm:
                ratios.append({"grid_size": n, "ratio": cm / lm, "ci95": None})
        cj = c.json(tdir / str(n) / "curves.json", "transfer curves", f"transfer@{n}", required=False)
        if isinstance(cj, dict):
            curves[n] = cj
    return {"rows": rows, "ratios": ratios, "curves": curves, "steps": steps}


def _furl_curve(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        data = data.get("curve")
    return [p for p in data if isinstance(p, dict)] if isinstance(data, list) else []


def _is_random(*docs: Any) -> bool:
    return any(isinstance(d, dict) and bool(d.get("vlm_random_weights")) for d in docs)


def _collect_furl(c: _Collector, exp: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    fdir = c.root / "furl"
    runs = []
    tasks = list(dict.fromkeys([*exp["furl_tasks"], *[p.name for p in _subdirs(fdir)]]))
    for task in tasks:
        variants = list(dict.fromkeys([*exp["furl_variants"], *[p.name for p in _subdirs(fdir / task)]]))
        for variant in variants:
            seeds = [f"seed{s}" for s in exp["furl_seeds"]] if exp["furl_seeds"] else []
            seeds = list(dict.fromkeys([*seeds, *[p.name for p in _subdirs(fdir / task / variant)]]))
            for sd in seeds:
                d = fdir / task / variant / sd
                stage = f"furl@{task}-{variant}-{sd.removeprefix('seed')}"
                curve_doc = c.json(d / "curve.json", "FuRL curve", stage)
                if curve_doc is None:
                    continue
                summary = c.json(d / "summary.json", "FuRL summary", stage, required=False)
                expert = c.json(d / "expert_rewards.json", "FuRL expert rewards", stage, required=False)
                config = c.json(d / "config.json", "FuRL config", stage, required=False)
                curve = _furl_curve(curve_doc)
                final = (summary or {}).get("final") if isinstance(summary, dict) else None
                if not isinstance(final, dict) or not final:
                    final = curve[-1] if curve else {}
                if not curve:
                    c.missing.append(f"FuRL curve: {c.rel(d / 'curve.json')} has no evaluation points ({stage})")
                if not isinstance(summary, dict) and curve:
                    c.notes.append(f"{c.rel(d)}: no summary.json (run unfinished?); using the last curve point")
                runs.append({"task": task, "variant": variant, "seed": sd, "dir": d, "curve": curve,
                             "final": final, "expert": expert if isinstance(expert, dict) else None,
                             "random_vlm": _is_random(curve_doc, summary, expert, config),
                             "steps": _num(final.get("step")) or _num((summary or {}).get("steps")
                                                                       if isinstance(summary, dict) else None)})
    rows = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["task"], r["variant"]), []).append(r)
    for (task, variant), rs in groups.items():
        last = [v for v in (_num(r["final"].get("success_last")) for r in rs) if v is not None]
        anyv = [v for v in (_num(r["final"].get("success_any")) for r in rs) if v is not None]
        steps = [r["steps"] for r in rs if r["steps"] is not None]
        rows.append({
            "task": task, "variant": variant, "seeds": len(rs),
            "success_last_mean": 100 * float(np.mean(last)) if last else None,
            "success_last_std": 100 * float(np.std(last)) if last else None,
            "success_last_min": 100 * float(np.min(last)) if last else None,
            "success_last_max": 100 * float(np.max(last)) if last else None,
            "success_any_mean": 100 * float(np.mean(anyv)) if anyv else None,
            "success_any_std": 100 * float(np.std(anyv)) if anyv else None,
            "steps": int(min(steps)) if steps else None,
            "random_vlm": any(r["random_vlm"] for r in rs),
            "paper": furl_paper_success(task, variant),
        })
        if exp["furl_seeds"] and len(rs) < len(exp["furl_seeds"]):
            pass  # the missing seeds are already listed individually
    return {"runs": runs, "rows": rows}


# ----------------------------------------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_RANDOM_TAG = " [RANDOM-WEIGHT VLM: rewards are noise]"


def _steps_axis(ax) -> None:
    """Env-step x axes as 50k / 1.2M, so long budgets do not overlap."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def fmt(x, _pos):
        if abs(x) >= 1e6:
            return f"{x / 1e6:g}M"
        if abs(x) >= 1e3:
            return f"{x / 1e3:g}k"
        return f"{x:g}"

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(fmt))


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    path.chmod(0o644)
    return path


def _make_plots(data: dict[str, Any], plots_dir: Path) -> list[dict[str, str]]:
    plt = _plt()
    plots: list[dict[str, str]] = []

    def add(fig, name: str, caption: str, section: str) -> None:
        _save(fig, plots_dir / name)
        plots.append({"file": f"{PLOTS_DIR}/{name}", "caption": caption, "section": section})

    tr = data["transfer"]
    # steps to convergence per grid size and method, with 95% intervals
    if tr["rows"]:
        methods = list(dict.fromkeys(r["method"] for r in tr["rows"]))
        sizes = sorted({r["grid_size"] for r in tr["rows"]})
        fig, ax = plt.subplots(figsize=(7, 4))
        width = 0.8 / max(len(methods), 1)
        for i, m in enumerate(methods):
            xs, ys, lo, hi = [], [], [], []
            for j, n in enumerate(sizes):
                row = next((r for r in tr["rows"] if r["grid_size"] == n and r["method"] == m), None)
                if row is None or row["mean"] is None:
                    continue
                xs.append(j + (i - (len(methods) - 1) / 2) * width)
                ys.append(row["mean"])
                ci = row["ci95"] or [row["mean"], row["mean"]]
                lo.append(max(row["mean"] - (ci[0] if ci[0] is not None else row["mean"]), 0))
                hi.append(max((ci[1] if ci[1] is not None else row["mean"]) - row["mean"], 0))
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=m)
            for j, n in enumerate(sizes):  # the raw trials, censored ones included
                pts = [v for v in tr["steps"].get(n, {}).get(m, []) if v is not None]
                ax.scatter([j + (i - (len(methods) - 1) / 2) * width] * len(pts), pts, s=8, color="k", zorder=3)
        ax.set_xticks(range(len(sizes)), [f"{n}x{n}" for n in sizes])
        ax.set_ylabel("env steps to convergence")
        ax.set_title("Transfer to the target: steps to convergence (mean, 95% CI, trials as dots)")
        ax.legend(fontsize=8)
        add(fig, "transfer_steps.png", "Steps to convergence per grid size and method (censored runs counted "
            "at the budget).", "clip")
    # fine-tune learning curves per grid size
    for n, cj in sorted(tr["curves"].items()):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        drawn = False
        for i, (method, trials) in enumerate(cj.items()):
            if not isinstance(trials, list):
                continue
            for k, curve in enumerate(trials):
                pts = [(p.get("env_steps"), p.get("success_rate")) for p in curve or [] if isinstance(p, dict)]
                pts = [(x, y) for x, y in pts if _num(x) is not None and _num(y) is not None]
                if pts:
                    ax.plot(*zip(*pts), color=colors[i % len(colors)], alpha=0.7, lw=1,
                            label=method if k == 0 else None)
                    drawn = True
        if not drawn:
            plt.close(fig)
            continue
        ax.set_xlabel("env steps")
        _steps_axis(ax)
        ax.set_ylabel("success rate (all starts)")
        ax.set_title(f"Fine-tuning on the target, {n}x{n} (one line per trial)")
        ax.legend(fontsize=8)
        add(fig, f"finetune_curves_{n}.png", f"Fine-tuning learning curves on the {n}x{n} target.", "clip")
    # base learning curves
    base_curves = data["base"]["curves"]
    if base_curves:
        sizes = sorted(base_curves)
        fig, axes = plt.subplots(1, len(sizes), figsize=(3.2 * len(sizes), 3), squeeze=False)
        for ax, n in zip(axes[0], sizes):
            for task, curve in sorted(base_curves[n].items()):
                pts = [(p.get("env_steps"), p.get("success_rate")) for p in curve if isinstance(p, dict)]
                pts = [(x, y) for x, y in pts if _num(x) is not None and _num(y) is not None]
                if pts:
                    ax.plot(*zip(*pts), lw=1, label=task)
            ax.set_title(f"{n}x{n}")
            ax.set_xlabel("env steps")
            _steps_axis(ax)
        axes[0][0].set_ylabel("success rate")
        axes[0][-1].legend(fontsize=7)
        fig.suptitle("Base policies: learning curves", y=1.03)
        add(fig, "base_curves.png", "Base-policy learning curves per grid size.", "clip")
    # alignment loss
    if data["align"]["loss_curves"]:
        fig, ax = plt.subplots(figsize=(5, 3))
        for n, lc in sorted(data["align"]["loss_curves"].items()):
            ax.plot(range(1, len(lc) + 1), lc, label=f"{n}x{n}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("InfoNCE loss")
        ax.set_title("CLIP-RL alignment loss")
        ax.legend(fontsize=8)
        add(fig, "align_loss.png", "Alignment (symmetric InfoNCE) loss per grid size.", "clip")
    # FuRL success curves, one figure per task
    runs = data["furl"]["runs"]
    for task in dict.fromkeys(r["task"] for r in runs):
        trs = [r for r in runs if r["task"] == task and r["curve"]]
        if not trs:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        random = any(r["random_vlm"] for r in trs)
        for variant in dict.fromkeys(r["variant"] for r in trs):
            vr = [r for r in trs if r["variant"] == variant]
            for ax, key in zip(axes, ("success_last", "success_any")):
                for k, r in enumerate(vr):
                    pts = [(_num(p.get("step")), _num(p.get(key))) for p in r["curve"]]
                    pts = [(x, y) for x, y in pts if x is not None and y is not None]
                    if pts:
                        ax.plot(*zip(*pts), marker="o", ms=3, lw=1, alpha=0.8,
                                label=(variant + (" (random VLM)" if r["random_vlm"] else "")) if k == 0 else None,
                                color=f"C{list(FURL_PAPER_COLUMNS).index(variant) % 10}"
                                if variant in FURL_PAPER_COLUMNS else None)
        for ax, key in zip(axes, ("success_last", "success_any")):
            ax.set_xlabel("env steps")
            _steps_axis(ax)
            ax.set_ylabel(f"{key} (one line per seed)")
            ax.set_ylim(-0.05, 1.05)
        axes[1].legend(fontsize=7)
        fig.suptitle(f"FuRL {task}: evaluation success" + (_RANDOM_TAG if random else ""),
                     color="red" if random else "black", fontsize=10, y=1.03)
        add(fig, f"furl_success_{task}.png", f"FuRL {task}: success at the last step (paper's measure) and at any "
            "step (Meta-World's)." + (" RANDOM-WEIGHT VLM." if random else ""), "furl")
    # VLM reward along a scripted-expert trajectory (Figure 11)
    for r in runs:
        e = r["expert"]
        if not e:
            continue
        steps = e.get("step") or list(range(1, len(e.get("zero_shot") or []) + 1))
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        drawn = False
        for key, label in (("zero_shot", "zero-shot (Eq. 2)"), ("aligned", "aligned (Eq. 3, final heads)")):
            vals = e.get(key)
            if isinstance(vals, list) and vals and len(vals) == len(steps):
                arr = [_num(v) for v in vals]
                lo = min(v for v in arr if v is not None)
                hi = max(v for v in arr if v is not None)
                norm = [((v - lo) / (hi - lo) if hi > lo else 0.0) if v is not None else float("nan") for v in arr]
                ax.plot(steps, norm, label=f"{label} [{lo:.3g}, {hi:.3g}]")
                drawn = True
        if not drawn:
            plt.close(fig)
            continue
        fs = e.get("first_success")
        if _num(fs) is not None:
            ax.axvline(fs, color="k", ls="--", lw=1, label="first success")
        ax.set_xlabel("expert trajectory step")
        ax.set_ylabel("VLM reward (min-max scaled)")
        ax.legend(fontsize=7)
        title = f"VLM reward on an expert trajectory: {r['task']} {r['variant']} {r['seed']}"
        ax.set_title(title + ("\n" + _RANDOM_TAG.strip() if r["random_vlm"] else ""), fontsize=9,
                     color="red" if r["random_vlm"] else "black")
        name = f"expert_reward_{r['task']}_{r['variant']}_{r['seed']}.png"
        add(fig, name, f"VLM reward before (zero-shot) and after alignment along one scripted-expert trajectory, "
            f"{r['task']} {r['variant']} {r['seed']} (the paper's Figure 11)."
            + (" RANDOM-WEIGHT VLM: the curves are noise." if r["random_vlm"] else ""), "furl")
    return plots


# ------------------------------------------------------------------------------------------------------- rendering
def _f(value: Any, digits: int = 0) -> str:
    v = _num(value)
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def _ci(ci: Any, digits: int = 0) -> str:
    if not ci or _num(ci[0]) is None or _num(ci[1]) is None:
        return "-"
    return f"[{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _saving(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    if ratio <= 1:
        return f"{(1 - ratio) * 100:.0f}% fewer steps"
    return f"{(ratio - 1) * 100:.0f}% more steps"


def _tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table as {title, section, note, header, rows (strings)}: the one source for Markdown and HTML."""
    tables = []
    tr = data["transfer"]
    ratio_by = {r["grid_size"]: r for r in tr["ratios"]}
    rows = []
    for r in tr["rows"]:
        ratio = ratio_by.get(r["grid_size"]) if r["method"] == "clip" else None
        rows.append([f"{r['grid_size']}x{r['grid_size']}", r["method"], str(r["n"] if r["n"] is not None else "-"),
                     f"{r['censored'] if r['censored'] is not None else '-'}", _f(r["mean"]), _ci(r["ci95"]),
                     _f(r["median"]), _f(r["iqm"]), _f(r["budget"]),
                     (f"{_f(ratio['ratio'], 3)} {_ci(ratio['ci95'], 3)}" if ratio else "")])
    trial_counts = [r["n"] for r in tr["rows"] if isinstance(r["n"], int)]
    few = (f" Only {max(trial_counts)} trial(s) per method here (the paper: 10): the intervals are rough."
           if trial_counts and max(trial_counts) < 10 else "")
    tables.append({
        "title": "CLIP-RL: env steps to convergence on the target, per grid size and method", "section": "clip",
        "note": ("Mean over trials with a 95% interval; censored runs (budget exhausted) are counted at the "
                 "budget, never dropped. Ratio = clip mean / language mean (Algorithm 2 / Algorithm 1); paper: "
                 f"about {CLIP_RL_PAPER_RATIO} on average (no per-size numbers in the text).{few}"),
        "header": ["grid", "method", "trials", "censored", "mean steps", "95% CI", "median", "IQM", "budget",
                   "clip/language ratio [95% CI]"],
        "rows": rows})
    rows = []
    sizes = sorted({r["grid_size"] for r in tr["ratios"]})
    for n in sizes:
        r = ratio_by[n]
        rows.append([f"{n}x{n}", _f(r["ratio"], 3), _ci(r["ci95"], 3),
                     _saving(r["ratio"]),
                     "~0.5 (about 50% fewer steps; per-size values not given)" if n in PAPER_GRID_SIZES else
                     "not in the paper"])
    tables.append({"title": "CLIP-RL: clip/language ratio vs the paper", "section": "clip", "note": CLIP_RL_PAPER,
                   "header": ["grid", "ratio (ours)", "95% CI", "clip vs language (ours)", "paper"], "rows": rows})
    rows = [[f"{r['grid_size']}x{r['grid_size']}", r["task"], {True: "yes", False: "no"}.get(r["converged"], "-"),
             _f(r["env_steps"]), _f(r["wall_time_s"], 1), _f(r["auc"], 3)] for r in data["base"]["rows"]]
    tables.append({"title": "Base policies", "section": "clip", "note": "One PPO policy per grid size and base task.",
                   "header": ["grid", "instruction", "converged", "env steps", "wall s", "AUC"], "rows": rows})
    rows = [[f"{r['grid_size']}x{r['grid_size']}", _f(r["final_loss"], 4), _f(r["top1_text_to_policy"], 2),
             _f(r["top1_policy_to_text"], 2)] for r in data["align"]["rows"]]
    tables.append({"title": "CLIP-RL alignment heads", "section": "clip", "note": "",
                   "header": ["grid", "final loss", "top-1 text->policy", "top-1 policy->text"], "rows": rows})

    fu = data["furl"]
    rows = []
    for r in fu["rows"]:
        rows.append([r["task"], r["variant"] + (" (RANDOM VLM)" if r["random_vlm"] else ""), str(r["seeds"]),
                     _f(r["steps"]),
                     (f"{_f(r['success_last_mean'])} ± {_f(r['success_last_std'])}"
                      if r["success_last_mean"] is not None else "-"),
                     (f"[{_f(r['success_last_min'])}, {_f(r['success_last_max'])}]"
                      if r["success_last_min"] is not None else "-"),
                     (f"{_f(r['success_any_mean'])} ± {_f(r['success_any_std'])}"
                      if r["success_any_mean"] is not None else "-"),
                     _f(r["paper"]) if r["paper"] is not None else "n/a"])
    random_any = any(r["random_vlm"] for r in fu["rows"])
    tables.append({
        "title": "FuRL: evaluation success (%) per task and variant, over seeds", "section": "furl",
        "note": ("Success at the last step (the paper's measure) and at any step (Meta-World's); mean ± std over "
                 "seeds, [min, max] over seeds. " + FURL_PAPER_NOTE
                 + (" Rows marked RANDOM VLM used a VLM with random weights: their VLM rewards are noise and "
                    "their numbers say nothing about FuRL." if random_any else "")),
        "header": ["task", "variant", "seeds", "env steps", "success last (%)", "min-max", "success any (%)",
                   "paper Table 1 (%, 1e6 steps)"],
        "rows": rows})
    variants = list(dict.fromkeys(r["variant"] for r in fu["rows"]))
    rows = []
    for v in variants:
        vr = [r for r in fu["rows"] if r["variant"] == v and r["success_last_mean"] is not None]
        if not vr:
            continue
        ours = sum(r["success_last_mean"] for r in vr) / len(vr)
        paper_same = [r["paper"] for r in vr if r["paper"] is not None]
        rows.append([v + (" (RANDOM VLM)" if any(r["random_vlm"] for r in vr) else ""), str(len(vr)), _f(ours),
                     _f(sum(paper_same) / len(paper_same)) if paper_same else "n/a",
                     _f(FURL_PAPER_AVERAGE.get(v)) if v in FURL_PAPER_AVERAGE else "n/a"])
    tables.append({"title": "FuRL: average over our tasks vs the paper", "section": "furl",
                   "note": "Paper average over all 10 MT10 tasks; 'paper, same tasks' averages Table 1 over the "
                           "tasks we ran.",
                   "header": ["variant", "tasks", "ours (%)", "paper, same tasks (%)", "paper, MT10 average (%)"],
                   "rows": rows})
    return tables


def _md_table(t: dict[str, Any]) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    if not t["rows"]:
        return "_No data (see Missing or incomplete)._\n"
    lines = ["| " + " | ".join(esc(h) for h in t["header"]) + " |",
             "|" + "|".join("---" for _ in t["header"]) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t["rows"]]
    return "\n".join(lines) + "\n"


def render_markdown(data: dict[str, Any]) -> str:
    out = [f"# {data['title']}\n"]
    prof = data["profile"]
    if prof.get("name") or prof.get("note"):
        out.append(f"**Profile: {prof.get('name', '?')}.** {prof.get('note', '')}\n")
    for w in data["warnings"]:
        out.append(f"> **WARNING:** {w}\n")
    out.append("## Missing or incomplete\n")
    if data["missing"]:
        out += [f"- {m}" for m in data["missing"]]
        out.append("")
    else:
        out.append("Nothing: every expected artifact was found.\n")
    for section, heading in SECTIONS:
        out.append(f"## {heading}\n")
        for t in [t for t in data["tables"] if t["section"] == section]:
            out.append(f"### {t['title']}\n")
            if t["note"]:
                out.append(f"{t['note']}\n")
            out.append(_md_table(t))
        for p in [p for p in data["plots"] if p["section"] == section]:
            out.append(f"![{p['caption']}]({p['file']})\n\n_{p['caption']}_\n")
    if data["notes"]:
        out.append("## Notes\n")
        out += [f"- {n}" for n in data["notes"]]
        out.append("")
    return "\n".join(out)


# The report's sections, in order: (key used by tables and plots, heading), shared by the markdown and HTML renderers.
SECTIONS = (("clip", "CLIP-RL: policy transfer in the grid world"), ("furl", "FuRL: fuzzy VLM rewards on Meta-World"))

_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
        "td:first-child,td:nth-child(2){text-align:left}.warn{background:#fee;border:2px solid #c00;padding:.5em}"
        ".missing{background:#ffd;padding:.5em}img{max-width:100%}figure{margin:1em 0}")


def render_html(data: dict[str, Any], plots_dir: Path | None) -> str:
    e = html.escape
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>", f"<title>{e(data['title'])}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(data['title'])}</h1>"]
    prof = data["profile"]
    if prof.get("name") or prof.get("note"):
        out.append(f"<p><b>Profile: {e(str(prof.get('name', '?')))}.</b> {e(str(prof.get('note', '')))}</p>")
    for w in data["warnings"]:
        out.append(f"<p class='warn'><b>WARNING:</b> {e(w)}</p>")
    out.append("<h2>Missing or incomplete</h2><div class='missing'>")
    out.append("<ul>" + "".join(f"<li>{e(m)}</li>" for m in data["missing"]) + "</ul>" if data["missing"]
               else "<p>Nothing: every expected artifact was found.</p>")
    out.append("</div>")
    for section, heading in SECTIONS:
        out.append(f"<h2>{e(heading)}</h2>")
        for t in [t for t in data["tables"] if t["section"] == section]:
            out.append(f"<h3>{e(t['title'])}</h3>")
            if t["note"]:
                out.append(f"<p>{e(t['note'])}</p>")
            if not t["rows"]:
                out.append("<p><i>No data (see Missing or incomplete).</i></p>")
                continue
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t["header"]) + "</tr>")
            for row in t["rows"]:
                style = " style='background:#fee'" if any("RANDOM VLM" in str(c) for c in row) else ""
                out.append(f"<tr{style}>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
            out.append("</table>")
        for p in [p for p in data["plots"] if p["section"] == section]:
            src = p["file"]
            if plots_dir is not None:
                png = plots_dir / Path(p["file"]).name
                if png.is_file():
                    src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            out.append(f"<figure><img src='{src}' alt='{e(p['caption'])}'><figcaption>{e(p['caption'])}"
                       "</figcaption></figure>")
    if data["notes"]:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in data["notes"]) + "</ul>")
    out.append("</body></html>\n")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------------- metrics
def _metrics(data: dict[str, Any]) -> dict[str, Any]:
    m: dict[str, Any] = {"complete": not data["missing"], "missing": len(data["missing"])}
    clip: dict[str, Any] = {}
    for r in data["transfer"]["rows"]:
        d = clip.setdefault(str(r["grid_size"]), {})
        d[f"{r['method']}_mean_steps"] = r["mean"]
        d[f"{r['method']}_censored"] = r["censored"]
    for r in data["transfer"]["ratios"]:
        clip.setdefault(str(r["grid_size"]), {})["ratio_clip_language"] = r["ratio"]
    ratios = [r["ratio"] for r in data["transfer"]["ratios"] if r["ratio"] is not None]
    if ratios:
        clip["mean_ratio_clip_language"] = sum(ratios) / len(ratios)
    if clip:
        m["clip_rl"] = clip
    furl: dict[str, Any] = {}
    for r in data["furl"]["rows"]:
        furl.setdefault(r["task"], {})[r["variant"]] = {
            "success_last": r["success_last_mean"], "success_any": r["success_any_mean"], "seeds": r["seeds"],
            "random_vlm": r["random_vlm"]}
    if furl:
        m["furl"] = furl
    return m


# ------------------------------------------------------------------------------------------------------------ main
def build_report(artifacts_dir: str | Path, out_dir: str | Path, *, params: str | Path | dict | None = None,
                 plots: bool = True) -> dict[str, Any]:
    """Read ``artifacts_dir``, write report.md, report.html, plots/ and metrics.json to ``out_dir``.

    ``params``: the pipeline's params.yaml (path or dict) naming what was expected, or None. Returns the report
    as data: ``tables`` (title, header, rows), ``missing`` (one line per missing or incomplete artifact, with the
    stage that makes it), ``warnings``, ``plots``, ``metrics``, and the collected ``base``, ``align``,
    ``transfer``, ``furl`` data. Never raises for missing or malformed artifacts; raises :class:`CliprlError`
    only for an unusable ``out_dir`` or params file.
    """
    root = Path(artifacts_dir)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CliprlError(f"--out {out} exists and is not a directory")
    prm = params if isinstance(params, dict) else load_params(params)
    exp = _expected(prm)
    c = _Collector(root)
    if not root.is_dir():
        c.missing.append(f"artifacts directory {root} not found: nothing has been run yet (run `dvc repro`)")
    base = _collect_base(c, exp)
    align = _collect_align(c, base["sizes"])
    transfer = _collect_transfer(c, base["sizes"], exp)
    furl = _collect_furl(c, exp)
    profile = prm.get("profile") if isinstance(prm.get("profile"), dict) else {}
    title = str((prm.get("report") or {}).get("title") or "cliprl report") if isinstance(prm.get("report"), dict) \
        else "cliprl report"
    warnings = []
    random_runs = [f"{r['task']}/{r['variant']}/{r['seed']}" for r in furl["runs"] if r["random_vlm"]]
    if random_runs:
        warnings.append(f"{len(random_runs)} FuRL run(s) used a VLM with RANDOM weights ({', '.join(random_runs)}): "
                        "their VLM rewards are noise; their success numbers test the plumbing, not FuRL.")
    censored = sum(int(r["censored"] or 0) for r in transfer["rows"] if isinstance(r["censored"], (int, float)))
    if censored:
        warnings.append(f"{censored} transfer run(s) hit the step budget (censored); they are counted at the "
                        "budget, which understates their true steps to convergence.")
    short = [r["steps"] for r in furl["runs"] if r["steps"] is not None and r["steps"] < 1e6]
    if short:
        warnings.append(f"{len(short)} FuRL run(s) stopped after at most {int(max(short)):,} env steps (paper: "
                        "1,000,000): far too short to compare with the paper's Table 1.")
    data: dict[str, Any] = {"title": title, "profile": profile or {}, "missing": c.missing, "notes": c.notes,
                            "warnings": warnings, "base": base, "align": align, "transfer": transfer,
                            "furl": furl, "plots": []}
    out.mkdir(parents=True, exist_ok=True)
    plots_dir = out / PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    for stale in plots_dir.glob("*.png"):
        stale.unlink()
    if plots:
        try:
            data["plots"] = _make_plots(data, plots_dir)
        except Exception as exc:  # noqa: BLE001 - a plotting failure must not lose the tables
            data["notes"].append(f"plots failed: {exc.__class__.__name__}: {exc}")
    data["tables"] = _tables(data)
    data["metrics"] = _metrics(data)
    atomic_write_text(out / REPORT_MD, render_markdown(data))
    atomic_write_text(out / REPORT_HTML, render_html(data, plots_dir))
    atomic_write_json(out / METRICS_FILE, data["metrics"])
    for name in (REPORT_MD, REPORT_HTML, METRICS_FILE):
        (out / name).chmod(0o644)
    for run in furl["runs"]:  # paths are not JSON: keep the returned data serialisable
        run["dir"] = str(run["dir"])
    return data
