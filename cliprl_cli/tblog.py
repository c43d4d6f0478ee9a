"""``--tensorboard DIR``: the learning curves a command already keeps, as TensorBoard event files.

``train-base``, ``transfer`` and ``furl`` write their curves to JSON (``curve.json``, ``curves.json``); with
``--tensorboard DIR`` the same points are also written as TensorBoard scalars, one run directory per curve, so
``tensorboard --logdir DIR`` overlays runs, methods, trials and seeds::

    DIR/train-base/<grid>/<task-slug>/seed<S>      success_rate, path_ratio            (x: env steps)
    DIR/transfer/<grid>/<method>/trial<K>          success_rate                        (x: env steps)
    DIR/furl/<task>/<variant>/seed<S>              eval/success_last, eval/success_any, eval/return,
                                                   eval/sparse_return, train/<statistic> (x: env steps)

The events are written once the run has finished, from the curve it wrote (the numbers are those of the JSON
files, nothing is recomputed). Writing goes through ``torch.utils.tensorboard``, which needs the ``tensorboard``
package: an optional extra (``pip install 'cliprl[tensorboard]'``); without it the command stops before it starts
with one line saying so. Event files hold wall-clock times: keep DIR outside the DVC-tracked outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from .errors import CliprlError

__all__ = ["require", "export_base", "export_transfer", "export_furl"]

# The --tensorboard help of train-base, transfer and furl. Typer renders help through rich, whose markup would eat
# "[tensorboard]" as a style tag: the bracket is escaped. This module imports nothing heavy at the top (the artifact
# formats load inside the export functions), so a command can use it at definition time and `--help` stays fast.
_MISSING = ("--tensorboard needs the tensorboard package, which is not installed: pip install 'cliprl[tensorboard]' "
            "(or pip install tensorboard)")


def require(logdir: str | Path | None) -> None:
    """Fail fast, in one line, when ``logdir`` is given but TensorBoard cannot be written (before a long run)."""
    if logdir is None:
        return
    try:
        import torch.utils.tensorboard  # noqa: F401 - needs the tensorboard package
    except ImportError:
        raise CliprlError(_MISSING) from None
    if Path(logdir).exists() and not Path(logdir).is_dir():
        raise CliprlError(f"--tensorboard {logdir} exists and is not a directory")


def _write(run_dir: Path, scalars: Iterable[tuple[str, float, int]]) -> Path:
    """Write (tag, value, step) scalars into one run directory; None values are skipped."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(run_dir))
    try:
        for tag, value, step in scalars:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            writer.add_scalar(tag, float(value), int(step))
    finally:
        writer.close()
    return run_dir


def _grid(out: Path, fallback: Any) -> str:
    return str(fallback) if fallback is not None else out.parent.name


def export_base(logdir: str | Path, out: str | Path, *, grid: Any = None, seed: int = 0) -> Path:
    """A base policy's ``curve.json`` (``out`` is its directory) as ``DIR/train-base/<grid>/<slug>/seed<S>``."""
    out = Path(out)
    from .store.formats import BaseCurve

    curve = BaseCurve.read(out / "curve.json")
    scalars = [(name, value, p.env_steps) for p in curve.points
               for name, value in (("success_rate", p.success_rate), ("path_ratio", p.path_ratio))]
    return _write(Path(logdir) / "train-base" / _grid(out, grid) / out.name / f"seed{seed}", scalars)


def export_transfer(logdir: str | Path, out: str | Path, *, grid: Any = None) -> list[Path]:
    """Every fine-tuning curve of ``out/curves.json`` as ``DIR/transfer/<grid>/<method>/trial<K>``."""
    out = Path(out)
    from .store.formats import TransferCurves

    curves = TransferCurves.read(out / "curves.json")
    written = []
    for method, trials in curves.curves.items():
        for k, curve in enumerate(trials):
            if curve:
                scalars = [("success_rate", p.success_rate, p.env_steps) for p in curve]
                scalars += [(name, value, p.env_steps) for p in curve
                            for name, value in (("path_ratio", p.path_ratio), ("entropy", p.entropy))
                            if value is not None]
                written.append(_write(Path(logdir) / "transfer" / _grid(out / "x", grid) / method / f"trial{k}",
                                      scalars))
    return written


def export_furl(logdir: str | Path, out: str | Path) -> Path:
    """A FuRL run's ``curve.json`` as ``DIR/furl/<task>/<variant>/seed<S>``: evaluation and training statistics."""
    from .store.formats import FurlCurve

    run = FurlCurve.read(Path(out) / "curve.json")
    scalars: list[tuple[str, float, int]] = []
    for p in run.curve:
        scalars += [("eval/success_last", p.success_last, p.step), ("eval/success_any", p.success_any, p.step),
                    ("eval/return", p.return_, p.step), ("eval/sparse_return", p.sparse_return, p.step)]
        scalars += [(f"train/{name}", value, p.step) for name, value in p.train_stats.items()]
    return _write(Path(logdir) / "furl" / run.task / run.variant / f"seed{run.seed}", scalars)
