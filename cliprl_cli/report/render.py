"""Render the report as Markdown and as one self-contained HTML page, both from the same :class:`ReportDoc`.

Both renderers walk :data:`SECTIONS` in order, so the two formats always show the same tables, notes and figures
in the same places; HTML embeds each PNG as a base64 data URI so the page can be mailed or archived alone.

The HTML page is responsive: a viewport meta tag (phones render it at device width instead of a zoomed-out
desktop page), every table in its own horizontally scrolling box (a wide table scrolls, the page does not), figures
scaled to the page width, and smaller type and margins under 600 px. Checked in headless Chromium at 390 px and
1280 px (``tests/test_report_html.py`` renders it when Chromium is installed). Under the title, a provenance block
(:mod:`.provenance`) says which commit, date, profile and changed parameters produced the report.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plots import Plot
from .provenance import Provenance, provenance_lines, show_value
from .tables import Table

# The report's sections, in order: (key used by tables and plots, heading), shared by the markdown and HTML renderers.
SECTIONS = (("clip", "CLIP-RL: policy transfer in the grid world"), ("furl", "FuRL: fuzzy VLM rewards on Meta-World"))

_NOTHING_MISSING = "Nothing: every expected artifact was found."
_NO_DATA = "No data (see Missing or incomplete)."

_VIEWPORT = "<meta name='viewport' content='width=device-width, initial-scale=1'>"
_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:0;font-size:.9em}"
        ".scroll{overflow-x:auto;max-width:100%;margin:.5em 0 1.5em}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#eee}"
        "td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}"
        ".warn{background:#fee;border:2px solid #c00;padding:.5em}"
        ".missing{background:#ffd;padding:.5em}img{max-width:100%;height:auto}figure{margin:1em 0}"
        ".prov{background:#f4f6f8;border-left:4px solid #89a;padding:.4em .8em;font-size:.9em}"
        ".prov dt{font-weight:bold;float:left;clear:left;width:7.5em}.prov dd{margin:0 0 .2em 7.5em}"
        ".prov table{font-size:.95em}.note{background:#eef6ff;padding:.5em}code{overflow-wrap:anywhere}"
        # phones: less margin, smaller type, table cells on one line (their box scrolls), provenance stacked
        "@media (max-width:600px){body{margin:.5em auto;padding:0 .5em}table{font-size:.8em}"
        "th,td{padding:2px 4px;white-space:nowrap}h1{font-size:1.5em}"
        ".prov dt{float:none;width:auto}.prov dd{margin-left:0}}")


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
    provenance: Provenance | None = None  # shown under the title
    section_notes: dict[str, list[str]] = field(default_factory=dict)  # section key -> notes under its heading


def _md_table(t: Table) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    if not t.rows:
        return f"_{_NO_DATA}_\n"
    lines = ["| " + " | ".join(esc(h) for h in t.header) + " |",
             "|" + "|".join("---" for _ in t.header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines) + "\n"


def _md_provenance(p: Provenance) -> list[str]:
    """The provenance block as a Markdown list, with a table of the changed parameters when there are any."""
    out = ["**Provenance**\n"] + [f"- **{label}:** {text}" for label, text in provenance_lines(p)] + [""]
    if p.changes:
        out += ["| parameter | committed | this report |", "|---|---|---|"]
        out += [f"| `{c.key}` | `{show_value(c.default)}` | `{show_value(c.value)}` |" for c in p.changes]
        out.append("")
    return out


def _html_provenance(p: Provenance) -> str:
    """The provenance block as a definition list, with a scrolling table of the changed parameters."""
    e = html.escape
    items = "".join(f"<dt>{e(label)}</dt><dd>{e(text)}</dd>" for label, text in provenance_lines(p))
    out = f"<div class='prov' id='provenance'><dl>{items}</dl>"
    if p.changes:
        rows = "".join(f"<tr><td><code>{e(c.key)}</code></td><td>{e(show_value(c.default))}</td>"
                       f"<td>{e(show_value(c.value))}</td></tr>" for c in p.changes)
        out += ("<div class='scroll'><table><tr><th>parameter</th><th>committed</th><th>this report</th></tr>"
                f"{rows}</table></div>")
    return out + "</div>"


def render_markdown(doc: ReportDoc) -> str:
    """The report as Markdown: plots are linked relative to the report (``plots/NAME.png``)."""
    out = [f"# {doc.title}\n"]
    prof = doc.profile
    if prof.get("name") or prof.get("note"):
        out.append(f"**Profile: {prof.get('name', '?')}.** {prof.get('note', '')}\n")
    if doc.provenance is not None:
        out += _md_provenance(doc.provenance)
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
        for note in doc.section_notes.get(section, []):
            out.append(f"> **Note:** {note}\n")
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
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>", _VIEWPORT, f"<title>{e(doc.title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(doc.title)}</h1>"]
    prof = doc.profile
    if prof.get("name") or prof.get("note"):
        out.append(f"<p><b>Profile: {e(str(prof.get('name', '?')))}.</b> {e(str(prof.get('note', '')))}</p>")
    if doc.provenance is not None:
        out.append(_html_provenance(doc.provenance))
    for w in doc.warnings:
        out.append(f"<p class='warn'><b>WARNING:</b> {e(w)}</p>")
    out.append("<h2>Missing or incomplete</h2><div class='missing'>")
    out.append("<ul>" + "".join(f"<li>{e(m)}</li>" for m in doc.missing) + "</ul>" if doc.missing
               else f"<p>{_NOTHING_MISSING}</p>")
    out.append("</div>")
    for section, heading in SECTIONS:
        out.append(f"<h2>{e(heading)}</h2>")
        for note in doc.section_notes.get(section, []):
            out.append(f"<p class='note'><b>Note:</b> {e(note)}</p>")
        for t in [t for t in doc.tables if t.section == section]:
            out.append(f"<h3>{e(t.title)}</h3>")
            if t.note:
                out.append(f"<p>{e(t.note)}</p>")
            if not t.rows:
                out.append(f"<p><i>{_NO_DATA}</i></p>")
                continue
            out.append("<div class='scroll'><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr>")
            for row in t.rows:
                style = " style='background:#fee'" if any("RANDOM VLM" in str(c) for c in row) else ""
                out.append(f"<tr{style}>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
            out.append("</table></div>")
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
