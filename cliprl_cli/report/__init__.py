"""`cliprl report`: read the pipeline's artifacts and write tables, plots and metrics.

:func:`build_report` does the work and returns the report as data (the tables first); Markdown and HTML are both
rendered from that same data. Output directory::

    OUT/report.md        tables + links to the plots
    OUT/report.html      the same, self-contained (PNGs embedded as base64 data URIs)
    OUT/plots/*.png      transfer per grid size, base and fine-tune learning curves, alignment loss,
                         FuRL success curves, VLM reward along a scripted-expert trajectory (paper's Figure 11)
    OUT/metrics/answers.json, report.json    the answers' estimates and completeness, for `dvc metrics show` /
                         `dvc exp show` (about 120 columns); metrics/{align,transfer,furl}.json: fuller numbers
    OUT/provenance.js, OUT/run.json   the build's commit, date and changed parameters, read by report.html when it
                         is viewed; not declared in dvc.yaml, so the hashed report depends only on its inputs

Inputs (``ARTIFACTS`` is ``artifacts/`` in the pipeline)::

    ARTIFACTS/base/{N}/{task-slug}/policy.json, curve.json            (cliprl train-base)
    ARTIFACTS/align/{N}/heads.json, metrics.json                      (cliprl align)
    ARTIFACTS/transfer/{N}/results.json, curves.json                  (cliprl transfer)
    ARTIFACTS/colour_shape/{layout}/transfer/{target}/seed{S}/results.json   (cliprl transfer on a colour-shape
                                                                      suite; report section: :mod:`.colour_shape`)
    ARTIFACTS/babyai/{suite}/transfer/{target}/results.json   (cliprl transfer on a BabyAI suite; report section:
                                                                      :mod:`.babyai`)
    ARTIFACTS/library_size/results.json   (optional: benchmarks/library_size_study.py --out ARTIFACTS/library_size)
    ARTIFACTS/furl/{task}/{variant}/seed{S}/curve.json, summary.json, expert_rewards.json, config.json
                                                                      (cliprl furl)
    ARTIFACTS/furl-synthetic/{task}/sac/seed{S}/, .../{task}/{variant}/a{A}/seed{S}/   (cliprl furl --vlm-model
                                                                      synthetic; its own SYNTHETIC section:
                                                                      :mod:`.furl_synthetic`)

Each file is read by its one reader in :mod:`cliprl_cli.store.formats`, the module that defines its format.

With ``params`` (the pipeline's ``params.yaml``) the report knows what the pipeline was meant to produce and names
every missing piece (with the DVC stage that makes it); without it, it reports what it finds. A missing, partial
or unreadable artifact never raises: it is listed under "Missing or incomplete" (an unreadable one with the
reader's one-line message naming the field). Honest labelling: FuRL runs whose VLM had random weights are flagged
in every table row and plot title that uses them; censored transfer runs (budget exhausted) are counted at the
budget, never dropped, and the tables show how many there were.

The package's parts, in the order :func:`build_report` uses them: :mod:`.collect` (read artifacts into typed
inputs), :mod:`.tables` (tables, warnings, metrics), :mod:`.plots` (one function per figure), :mod:`.render`
(Markdown and HTML); :mod:`.paper` holds the papers' published numbers.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..store.atomic import atomic_write_text
from ..errors import CliprlError
from .collect import Coincidence, collect, expected_from_params, load_params
from .babyai import babyai_notes, babyai_plots, babyai_tables, collect_babyai
from .colour_shape import collect_colour_shape, colour_shape_notes, colour_shape_plots, colour_shape_tables
from .furl_synthetic import collect_furl_synthetic, synthetic_notes, synthetic_plots, synthetic_tables
from .paper import (CLIP_RL_PAPER, CLIP_RL_PAPER_RATIO, FURL_PAPER_AVERAGE, FURL_PAPER_COLUMN_NAMES,
                    FURL_PAPER_COLUMNS, FURL_PAPER_NOTE, FURL_PAPER_TABLE1, PAPER_GRID_SIZES, furl_paper_success)
from .plots import PLOTS_DIR, make_plots
from .metrics import METRICS_DIR, write_metrics
from .provenance import collect_provenance, profile_note, view_time_files
from .render import SECTIONS, ReportDoc, render_html, render_markdown
from .tables import build_tables, build_warnings
from .verdicts import Verdict, all_verdicts

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
METRICS_FILE = "metrics.json"  # an older single metrics file (removed when found): now METRICS_DIR/<family>.json

__all__ = [
    "build_report", "load_params", "furl_paper_success", "render_markdown", "render_html", "ReportDoc", "SECTIONS",
    "REPORT_MD", "REPORT_HTML", "METRICS_DIR", "PLOTS_DIR", "CLIP_RL_PAPER", "CLIP_RL_PAPER_RATIO",
    "PAPER_GRID_SIZES", "FURL_PAPER_COLUMNS", "FURL_PAPER_COLUMN_NAMES", "FURL_PAPER_TABLE1", "FURL_PAPER_AVERAGE",
    "FURL_PAPER_NOTE",
]


def _title_and_profile(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The report title (params ``report.title``) and the profile label (params ``profile``), with defaults."""
    report = params.get("report")
    title = str(report.get("title") or "cliprl report") if isinstance(report, dict) else "cliprl report"
    profile = params.get("profile")
    return title, profile if isinstance(profile, dict) else {}


def coincidence_notes(found: list[Coincidence]) -> list[str]:
    """One sentence per pair of transfer methods that ran the same trials, naming the grid sizes and saying why."""
    groups: dict[tuple, list[int]] = {}
    for c in found:
        groups.setdefault((c.methods, c.sources, c.identical), []).append(c.grid_size)
    notes = []
    for (methods, sources, identical), sizes in groups.items():
        a, b = methods
        where = ", ".join(f"{n}x{n}" for n in sizes)
        start = ("the base policy of " + " and ".join(f"'{s}'" for s in sources) + " alone" if len(sources) == 1
                 else "the same weighted average of " + ", ".join(f"'{s}'" for s in sources))
        why = ""
        if {a, b} == {"nearest-language", "nearest-clip"} and len(sources) == 1:
            why = (f" Both copy the single nearest base task, one by instruction-embedding similarity, the other by "
                   f"similarity in the aligned CLIP space, and both rank '{sources[0]}' nearest to the target.")
        result = ("Trial k fine-tunes with the same seed for every method, so the runs, and their rows, are "
                  "identical." if identical else
                  "Their steps nevertheless differ in some paired trials: their fine-tuning was not deterministic.")
        notes.append(f"{a} and {b} coincide at {where}: every trial of both started from {start}.{why} {result}")
    return notes


# Where each kind of artifact lives under ARTIFACTS; a directory with none of these holds no pipeline output.
ARTIFACT_DIRS = ("base", "align", "transfer", "library_size", "colour_shape", "babyai", "furl", "furl-pixels",
                 "furl-synthetic")
_STAGE_FILES = ("results.json", "policy.json", "heads.json", "summary.json", "curve.json")


def check_artifacts_dir(root: Path) -> None:
    """Refuse, with one line, an ``--artifacts`` that does not exist or holds no pipeline output at all (a report
    of empty sections would look like a finished, empty run)."""
    if not root.exists():
        raise CliprlError(f"--artifacts {root} not found: nothing has been run yet (run `dvc repro`, or pass the "
                          "pipeline's artifacts directory)")
    if not root.is_dir():
        raise CliprlError(f"--artifacts {root} is not a directory")
    if any(p.is_file() for d in ARTIFACT_DIRS for p in (root / d).rglob("*")):
        return
    if any((root / name).is_file() for name in _STAGE_FILES):
        raise CliprlError(f"--artifacts {root} holds one stage's output, not the pipeline's artifacts directory: "
                          f"pass the directory above {', '.join(d + '/' for d in ARTIFACT_DIRS[:3])}...")
    raise CliprlError(f"--artifacts {root} holds no cliprl artifacts (looked for "
                      f"{', '.join(d + '/' for d in ARTIFACT_DIRS)}): nothing to report")


def empty_sections(prm: dict[str, Any], collected: Any, colour_shape: Any, babyai: Any = None) -> list[str]:
    """The report sections that params expect (every section without params) but that have no data."""
    has = {"CLIP-RL grid world (train_base, align, transfer)": bool(collected.base.rows or collected.transfer.rows),
           "library-size study": collected.library_size is not None,
           "colour x shape world": bool(colour_shape.runs),
           "BabyAI suite": bool(babyai is not None and any(r.source == "pipeline" for r in babyai.runs)),
           "FuRL from states": bool(collected.furl.runs),
           "FuRL from pixels": bool(collected.furl_pixels)}
    wanted = {"CLIP-RL grid world (train_base, align, transfer)": "train_base", "library-size study": "library_size",
              "colour x shape world": "colour_shape", "BabyAI suite": "babyai", "FuRL from states": "furl",
              "FuRL from pixels": "furl_pixels"}
    return [name for name, ok in has.items() if not ok and (not prm or prm.get(wanted[name]))]


def build_report(artifacts_dir: str | Path, out_dir: str | Path, *, params: str | Path | dict | None = None,
                 plots: bool = True, profile_notes: str | Path | None = None,
                 known_answer: str | Path | None = None,
                 babyai_experiment: str | Path | None = None) -> dict[str, Any]:
    """Read ``artifacts_dir``, write report.md, report.html, plots/ and metrics/ to ``out_dir``.

    ``params``: the pipeline's params.yaml (path or dict) naming what was expected, or None. ``profile_notes``: a
    Markdown file with one ``## <profile name>`` section per profile (``docs/profiles.md``): the prose shown under
    the title for params' ``profile.name`` (prose is not a DVC parameter). Returns the report
    as plain data: ``tables`` (title, header, rows), ``missing`` (one line per missing or incomplete artifact, with
    the stage that makes it), ``warnings``, ``plots``, ``metrics``, and the collected ``base``, ``align``,
    ``transfer``, ``furl`` data, ``verdicts`` (the answers of the first screen) and ``empty_sections`` (expected
    sections without any data). ``known_answer``: the synthetic-VLM known-answer JSON
    (``benchmarks/results/furl_known_answer.json``), a table of the SYNTHETIC section. ``babyai_experiment``: a
    directory of saved BabyAI transfer runs (``benchmarks/results/babyai_experiment``), shown apart in the BabyAI
    section. Never raises for missing or malformed artifacts; raises :class:`CliprlError` for an
    unusable ``out_dir`` or params file, and for an ``artifacts_dir`` that is absent or holds no pipeline output.
    """
    root = Path(artifacts_dir)
    check_artifacts_dir(root)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise CliprlError(f"--out {out} exists and is not a directory")
    prm = params if isinstance(params, dict) else load_params(params)
    title, profile = _title_and_profile(prm)
    note = profile_note(profile_notes, profile.get("name"))
    if note:
        profile = {**profile, "note": note}

    # ---- collect: every artifact read once, into typed inputs
    collected = collect(root, expected_from_params(prm))
    log = collected.log
    colour_shape = collect_colour_shape(root, prm)  # ARTIFACTS/colour_shape (its own section)
    log.missing.extend(colour_shape.missing)
    log.notes.extend(colour_shape.notes)
    babyai = collect_babyai(root, prm, babyai_experiment)  # ARTIFACTS/babyai and saved runs (its own section)
    log.missing.extend(babyai.missing)
    log.notes.extend(babyai.notes)
    synthetic = collect_furl_synthetic(root, known_answer)  # ARTIFACTS/furl-synthetic (its own section)
    log.missing.extend(synthetic.missing)
    log.notes.extend(synthetic.notes)

    # ---- plots: a plotting failure must not lose the tables
    out.mkdir(parents=True, exist_ok=True)
    plots_dir = out / PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    for stale in plots_dir.glob("*.png"):
        stale.unlink()
    drawn = []
    if plots:
        try:
            drawn = make_plots(collected, plots_dir)
        except Exception as exc:  # noqa: BLE001 - a plotting failure must not lose the tables
            log.notes.append(f"plots failed: {exc.__class__.__name__}: {exc}")
        try:
            drawn += synthetic_plots(synthetic, plots_dir)
        except Exception as exc:  # noqa: BLE001 - likewise
            log.notes.append(f"synthetic-VLM plots failed: {exc.__class__.__name__}: {exc}")
        try:
            drawn += babyai_plots(babyai, plots_dir)
        except Exception as exc:  # noqa: BLE001 - likewise
            log.notes.append(f"BabyAI plots failed: {exc.__class__.__name__}: {exc}")
        try:
            drawn += colour_shape_plots(colour_shape, plots_dir)
        except Exception as exc:  # noqa: BLE001 - likewise
            log.notes.append(f"colour x shape layout pictures failed: {exc.__class__.__name__}: {exc}")

    # ---- tables, metrics, render
    provenance = collect_provenance(prm, None if isinstance(params, dict) else params)
    verdicts: list[Verdict] = all_verdicts(collected, colour_shape)
    doc = ReportDoc(title=title, profile=profile, warnings=build_warnings(collected), missing=log.missing,
                    tables=(build_tables(collected) + colour_shape_tables(colour_shape) + babyai_tables(babyai)
                            + synthetic_tables(synthetic)),
                    plots=drawn,
                    notes=log.notes, provenance=provenance,
                    section_notes={"clip": coincidence_notes(collected.transfer.coincident),
                                   "colour_shape": colour_shape_notes(colour_shape),
                                   "babyai": babyai_notes(babyai),
                                   "furl_synthetic": synthetic_notes(synthetic)},
                    verdicts=verdicts)
    metrics = write_metrics(collected, verdicts, out)
    (out / METRICS_FILE).unlink(missing_ok=True)
    atomic_write_text(out / REPORT_MD, render_markdown(doc))
    atomic_write_text(out / REPORT_HTML, render_html(doc, plots_dir))
    for name in (REPORT_MD, REPORT_HTML):
        (out / name).chmod(0o644)
    view_time_files(provenance, out)  # provenance.js + run.json: not hashed by DVC
    return {"title": title, "profile": profile, "missing": log.missing, "notes": log.notes,
            "warnings": doc.warnings, "base": asdict(collected.base), "align": asdict(collected.align),
            "transfer": asdict(collected.transfer), "furl": asdict(collected.furl),
            "plots": [asdict(p) for p in drawn], "tables": [asdict(t) for t in doc.tables], "metrics": metrics,
            "verdicts": [asdict(v) for v in verdicts],
            "empty_sections": empty_sections(prm, collected, colour_shape, babyai)}
