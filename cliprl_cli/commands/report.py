"""Typer command: `cliprl report`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report_command(
    artifacts: Path = typer.Option(Path("artifacts"), "--artifacts", "-a",
                                   help="Artifacts directory (base/, align/, transfer/, furl/ under it)."),
    out: Path = typer.Option(Path("artifacts/report"), "--out", "-o",
                             help="Output directory (report.md, report.html, plots/, metrics/)."),
    params: Optional[Path] = typer.Option(None, "--params", help="The pipeline's params.yaml: what was expected "
                                          "(grid sizes, tasks, methods, trials, FuRL runs) and the profile label."),
    profile_notes: Optional[Path] = typer.Option(None, "--profile-notes", help="Markdown file with one '## <name>' "
                                                 "section per profile (docs/profiles.md): the prose shown under the "
                                                 "title for the params' profile.name."),
    known_answer: Optional[Path] = typer.Option(None, "--known-answer", help="The synthetic-VLM known-answer JSON "
                                                "(benchmarks/results/furl_known_answer.json): a table in the "
                                                "SYNTHETIC section."),
    babyai_experiment: Optional[Path] = typer.Option(None, "--babyai-experiment", help="A directory of saved BabyAI "
                                                     "transfer runs ({suite}/transfer/{target}/results.json, e.g. "
                                                     "benchmarks/results/babyai_experiment): shown in the BabyAI "
                                                     "section apart from the pipeline's runs, labelled as saved."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the PNG plots (matplotlib, Agg)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 2 when anything expected is missing or an expected "
                                "section has no data (the report is written either way)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary output."),
) -> None:
    """Build the report from the pipeline's artifacts: tables beside the papers' numbers, PNG plots, a
    self-contained HTML page and the DVC metrics (metrics/*.json: answers.json leads). Missing or
    partial artifacts are listed in the report, not fatal; an --artifacts that is absent or holds no pipeline
    output is an error (exit 2)."""
    from ..errors import CliprlError
    from ..report import REPORT_HTML, build_report

    data = build_report(artifacts, out, params=params, plots=plots, profile_notes=profile_notes,
                        known_answer=known_answer, babyai_experiment=babyai_experiment)
    if not quiet:
        typer.echo(f"report -> {out / REPORT_HTML} ({len(data['plots'])} plots, "
                   f"{len(data['missing'])} missing or incomplete)", err=True)
        for line in data["missing"][:20]:
            typer.echo(f"  missing: {line}", err=True)
        if len(data["missing"]) > 20:
            typer.echo(f"  ... and {len(data['missing']) - 20} more (see the report)", err=True)
        for w in data["warnings"]:
            typer.echo(f"  warning: {w}", err=True)
        for name in data["empty_sections"] if params is not None or strict else []:  # without params: on request
            typer.echo(f"  no data: {name}", err=True)
    if strict and data["missing"]:
        raise CliprlError(f"{len(data['missing'])} expected artifact(s) missing or incomplete; see {out / REPORT_HTML}")
    if strict and data["empty_sections"]:
        raise CliprlError(f"no data for expected section(s): {'; '.join(data['empty_sections'])}; "
                          f"see {out / REPORT_HTML}")
