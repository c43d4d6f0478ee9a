"""Render the report as Markdown and as one self-contained HTML page, both from the same :class:`ReportDoc`.

Both renderers walk :data:`SECTIONS` in order, so the two formats always show the same tables, notes and figures
in the same places; HTML embeds each PNG as a base64 data URI so the page can be mailed or archived alone.

The HTML page is responsive: a viewport meta tag (phones render it at device width instead of a zoomed-out
desktop page), every table in its own horizontally scrolling box (a wide table scrolls, the page does not), figures
scaled to the page width, and smaller type and margins under 600 px. Checked in headless Chromium at 390 px and
1280 px (``tests/test_report_html.py`` renders it when Chromium is installed).

Order: the answers first (:mod:`.verdicts`: one card per question, its interval, the paper's claim, evidence or
not), the honest-labelling warnings, then each section's figures and tables, what is missing, and the provenance
once at the end (:mod:`.provenance`: the profile and every parameter, deterministic and part of the hashed page; the
build's commit, date and changed parameters are filled in at view time from ``provenance.js`` beside the page, so
they stay out of the bytes DVC hashes). ``report.md`` points to ``run.json`` for them.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .plots import Plot
from .provenance import JS_CALLBACK, PROVENANCE_JS, Provenance, show_value
from .tables import Table
from .verdicts import EVIDENCE, Verdict

# The report's sections, in order: (key used by tables and plots, heading), shared by the markdown and HTML renderers.
SECTIONS = (("clip", "CLIP-RL: policy transfer in the grid world"),
            ("colour_shape", "CLIP-RL on the MiniGrid colour x shape world"),
            ("babyai", "CLIP-RL on BabyAI levels"),
            ("furl", "FuRL: fuzzy VLM rewards on Meta-World"))

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
        ".verdicts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:.6em;margin:.5em 0 1em}"
        ".v{border:1px solid #ccd;border-left:6px solid #999;border-radius:4px;padding:.4em .7em;background:#fafbfc}"
        ".v.ev{border-left-color:#2a7}.v.smoke{border-left-color:#d90}.v p{margin:.2em 0}.v .q{font-weight:bold}"
        ".tag{display:inline-block;font-size:.8em;padding:0 .5em;border-radius:3px;background:#fd9;color:#420}"
        ".v.ev .tag{background:#bfe6cf;color:#053}"
        # phones: less margin, smaller type, table cells on one line (their box scrolls), provenance stacked
        "@media (max-width:600px){body{margin:.5em auto;padding:0 .5em}table{font-size:.8em}"
        ".verdicts{grid-template-columns:1fr}"
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
    verdicts: list[Verdict] = field(default_factory=list)  # the first screen: one answer per question


def _md_table(t: Table) -> str:
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    if not t.rows:
        return f"_{_NO_DATA}_\n"
    lines = ["| " + " | ".join(esc(h) for h in t.header) + " |",
             "|" + "|".join("---" for _ in t.header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines) + "\n"


_BUILD_NOTE = ("commit, build date and the parameters changed against the committed params file: in run.json "
               "beside this report (kept out of the report itself, so identical results give identical bytes and a "
               "fresh clone's dvc repro leaves dvc.lock unchanged)")

# Fills the build's provenance in at view time from provenance.js (a <script src> works from file://), replacing
# the static parameters line (its own lines say the same and more) and leaving out the profile (shown above it);
# the table is built the way the static ones are, in its own scrolling box.
_PROVENANCE_SCRIPT = (
    "<script>function " + JS_CALLBACK + "(p){var d=document.getElementById('prov-build');if(!d)return;"
    "var e=function(s){return String(s).replace(/[&<>\"']/g,function(c){return '&#'+c.charCodeAt(0)+';'})};"
    "var s=document.getElementById('prov-static');if(s)s.style.display='none';"
    "var h='<dl>';p.lines.forEach(function(l){if(l[0]!=='Profile')h+='<dt>'+e(l[0])+'</dt><dd>'+e(l[1])+'</dd>'});"
    "h+='</dl>';"
    "if(p.changes.length){h+=\"<div class='scroll'><table><tr><th>parameter</th><th>committed</th>"
    "<th>this report</th></tr>\";p.changes.forEach(function(c){h+='<tr><td><code>'+e(c[0])+'</code></td><td>'"
    "+e(c[1])+'</td><td>'+e(c[2])+'</td></tr>'});h+='</table></div>'}d.innerHTML=h}</script>"
    f"<script src='{PROVENANCE_JS}'></script>")


def _md_provenance(p: Provenance) -> list[str]:
    """The provenance block as a Markdown list, every parameter in a folded table (the build's part: run.json)."""
    out = [f"- **Parameters:** {p.params_file or 'none given'}" + (f", {len(p.parameters)} values below"
                                                                   if p.parameters else ""),
           f"- **Build:** {_BUILD_NOTE}", ""]
    if p.parameters:
        out += ["<details><summary>every parameter</summary>\n", "| parameter | value |", "|---|---|"]
        out += [f"| `{key}` | `{show_value(value)}` |" for key, value in p.parameters]
        out += ["\n</details>", ""]
    return out


def _html_provenance(p: Provenance) -> str:
    """The provenance block: profile, params file, every parameter (folded), and the build's part, filled in from
    provenance.js when the page is viewed beside it."""
    e = html.escape
    items = f"<dt>Parameters</dt><dd>{e(p.params_file or 'none given')}</dd>"
    out = f"<div class='prov' id='provenance'><dl id='prov-static'>{items}</dl><div id='prov-build'><p>Build: {e(_BUILD_NOTE)}.</p></div>"
    if p.parameters:
        rows = "".join(f"<tr><td><code>{e(key)}</code></td><td>{e(show_value(value))}</td></tr>"
                       for key, value in p.parameters)
        out += ("<details><summary>every parameter</summary><div class='scroll'><table><tr><th>parameter</th>"
                f"<th>value</th></tr>{rows}</table></div></details>")
    return out + "</div>" + _PROVENANCE_SCRIPT


_NO_VERDICTS = "No question can be answered yet: no transfer, library-size, colour x shape or FuRL runs were found."


def _md_verdicts(verdicts: list[Verdict]) -> list[str]:
    out = ["## Answers\n"]
    if not verdicts:
        return out + [f"{_NO_VERDICTS}\n"]
    for v in verdicts:
        out.append(f"- **{v.question}**: {v.ours}. Paper: {v.paper}. _{v.reading}._ "
                   f"**[{v.status}]**")
    return out + [""]


def render_markdown(doc: ReportDoc) -> str:
    """The report as Markdown: the answers first, then each section's figures and tables, what is missing, and the
    provenance once at the end. Plots are linked relative to the report (``plots/NAME.png``)."""
    out = [f"# {doc.title}\n"]
    out += _md_verdicts(doc.verdicts)
    for w in doc.warnings:
        out.append(f"> **WARNING:** {w}\n")
    for section, heading in SECTIONS:
        out.append(f"## {heading}\n")
        for note in doc.section_notes.get(section, []):
            out.append(f"> **Note:** {note}\n")
        for p in [p for p in doc.plots if p.section == section]:
            out.append(f"![{p.caption}]({p.file})\n\n_{p.caption}_\n")
        for t in [t for t in doc.tables if t.section == section]:
            out.append(f"### {t.title}\n")
            if t.note:
                out.append(f"{t.note}\n")
            out.append(_md_table(t))
    out.append("## Missing or incomplete\n")
    if doc.missing:
        out += [f"- {m}" for m in doc.missing]
        out.append("")
    else:
        out.append(f"{_NOTHING_MISSING}\n")
    if doc.notes:
        out.append("## Notes\n")
        out += [f"- {n}" for n in doc.notes]
        out.append("")
    out.append("## Provenance\n")
    prof = doc.profile
    if prof.get("name") or prof.get("note"):
        out.append(f"**Profile: {prof.get('name', '?')}.** {prof.get('note', '')}\n")
    if doc.provenance is not None:
        out += _md_provenance(doc.provenance)
    return "\n".join(out)


def _html_verdicts(verdicts: list[Verdict]) -> str:
    e = html.escape
    if not verdicts:
        return f"<h2 id='answers'>Answers</h2><p class='missing'>{e(_NO_VERDICTS)}</p>"
    cards = []
    for v in verdicts:
        kind = "ev" if v.status == EVIDENCE else "smoke"
        cards.append(f"<div class='v {kind}'><p class='q'>{e(v.question)}</p>"
                     f"<p><b>Ours:</b> {e(v.ours)}</p><p><b>Paper:</b> {e(v.paper)}</p>"
                     f"<p><i>{e(v.reading)}</i></p><span class='tag'>{e(v.status)}</span></div>")
    return "<h2 id='answers'>Answers</h2><div class='verdicts'>" + "".join(cards) + "</div>"


def render_html(doc: ReportDoc, plots_dir: Path | None) -> str:
    """The report as one HTML page (same order as :func:`render_markdown`); each plot found in ``plots_dir`` is
    embedded, others stay linked."""
    e = html.escape
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>", _VIEWPORT, f"<title>{e(doc.title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(doc.title)}</h1>", _html_verdicts(doc.verdicts)]
    for w in doc.warnings:
        out.append(f"<p class='warn'><b>WARNING:</b> {e(w)}</p>")
    for section, heading in SECTIONS:
        out.append(f"<h2>{e(heading)}</h2>")
        for note in doc.section_notes.get(section, []):
            out.append(f"<p class='note'><b>Note:</b> {e(note)}</p>")
        for p in [p for p in doc.plots if p.section == section]:
            src = p.file
            if plots_dir is not None:
                png = plots_dir / Path(p.file).name
                if png.is_file():
                    src = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            out.append(f"<figure><img src='{src}' alt='{e(p.caption)}'><figcaption>{e(p.caption)}"
                       "</figcaption></figure>")
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
    out.append("<h2>Missing or incomplete</h2><div class='missing'>")
    out.append("<ul>" + "".join(f"<li>{e(m)}</li>" for m in doc.missing) + "</ul>" if doc.missing
               else f"<p>{_NOTHING_MISSING}</p>")
    out.append("</div>")
    if doc.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in doc.notes) + "</ul>")
    out.append("<h2>Provenance</h2>")
    prof = doc.profile
    if prof.get("name") or prof.get("note"):
        out.append(f"<p><b>Profile: {e(str(prof.get('name', '?')))}.</b> {e(str(prof.get('note', '')))}</p>")
    if doc.provenance is not None:
        out.append(_html_provenance(doc.provenance))
    out.append("</body></html>\n")
    return "\n".join(out)
