"""Render the report as Markdown and as one self-contained HTML page, both from the same :class:`ReportDoc`.

Both renderers walk :data:`SECTIONS` in order, so the two formats always show the same tables, notes and figures
in the same places; HTML embeds each PNG as a base64 data URI so the page can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plots import Plot
from .tables import Table

# The report's sections, in order: (key used by tables and plots, heading), shared by the markdown and HTML renderers.
SECTIONS = (("clip", "CLIP-RL: policy transfer in the grid world"), ("furl", "FuRL: fuzzy VLM rewards on Meta-World"))

_NOTHING_MISSING = "Nothing: every expected artifact was found."
_NO_DATA = "No data (see Missing or incomplete)."

_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
        "td:first-child,td:nth-child(2){text-align:left}.warn{background:#fee;border:2px solid #c00;padding:.5em}"
        ".missing{background:#ffd;padding:.5em}img{max-width:100%}figure{margin:1em 0}")


@dataclass(frozen=True)
class ReportDoc:
    """Everything the renderers show, in display form: the page's one input."""

    title: str
    profile: dict[str, Any]  # params.yaml's profile: {name, note}, shown under the title
    warnings: list[str]
    missing: list[str]
    tables: list[Table]
    plots: list[Plot]
    notes: list[str] = field(default_factory=list)


def _md_table(t: Table) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    if not t.rows:
        return f"_{_NO_DATA}_\n"
    lines = ["| " + " | ".join(esc(h) for h in t.header) + " |",
             "|" + "|".join("---" for _ in t.header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines) + "\n"


def render_markdown(doc: ReportDoc) -> str:
    """The report as Markdown: plots are linked relative to the report (``plots/NAME.png``)."""
    out = [f"# {doc.title}\n"]
    prof = doc.profile
    if prof.get("name") or prof.get("note"):
        out.append(f"**Profile: {prof.get('name', '?')}.** {prof.get('note', '')}\n")
    for w in doc.warnings:
        out.append(f"> **WARNING:** {w}\n")
    out.append("## Missing or incomplete\n")
    if doc.missing:
        out += [f"- {m}" for m in doc.missing]
        out.append("")
    else:
        out.append(f"{_NOTHING_MISSING}\n")
    for section, heading in SECTIONS:
        out.append(f"## {heading}\n")
        for t in [t for t in doc.tables if t.section == section]:
            out.append(f"### {t.title}\n")
            if t.note:
                out.append(f"{t.note}\n")
            out.append(_md_table(t))
        for p in [p for p in doc.plots if p.section == section]:
            out.append(f"![{p.caption}]({p.file})\n\n_{p.caption}_\n")
    if doc.notes:
        out.append("## Notes\n")
        out += [f"- {n}" for n in doc.notes]
        out.append("")
    return "\n".join(out)


def render_html(doc: ReportDoc, plots_dir: Path | None) -> str:
    """The report as one HTML page; each plot found in ``plots_dir`` is embedded, others stay linked."""
    e = html.escape
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>", f"<title>{e(doc.title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(doc.title)}</h1>"]
    prof = doc.profile
    if prof.get("name") or prof.get("note"):
        out.append(f"<p><b>Profile: {e(str(prof.get('name', '?')))}.</b> {e(str(prof.get('note', '')))}</p>")
    for w in doc.warnings:
        out.append(f"<p class='warn'><b>WARNING:</b> {e(w)}</p>")
    out.append("<h2>Missing or incomplete</h2><div class='missing'>")
    out.append("<ul>" + "".join(f"<li>{e(m)}</li>" for m in doc.missing) + "</ul>" if doc.missing
               else f"<p>{_NOTHING_MISSING}</p>")
    out.append("</div>")
    for section, heading in SECTIONS:
        out.append(f"<h2>{e(heading)}</h2>")
        for t in [t for t in doc.tables if t.section == section]:
            out.append(f"<h3>{e(t.title)}</h3>")
            if t.note:
                out.append(f"<p>{e(t.note)}</p>")
            if not t.rows:
                out.append(f"<p><i>{_NO_DATA}</i></p>")
                continue
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr>")
            for row in t.rows:
                style = " style='background:#fee'" if any("RANDOM VLM" in str(c) for c in row) else ""
                out.append(f"<tr{style}>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
            out.append("</table>")
        for p in [p for p in doc.plots if p.section == section]:
            src = p.file
            if plots_dir is not None:
                png = plots_dir / Path(p.file).name
                if png.is_file():
                    src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            out.append(f"<figure><img src='{src}' alt='{e(p.caption)}'><figcaption>{e(p.caption)}"
                       "</figcaption></figure>")
    if doc.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in doc.notes) + "</ul>")
    out.append("</body></html>\n")
    return "\n".join(out)
