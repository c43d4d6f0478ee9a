"""Where a report came from: the commit, the date, the profile and the parameters that differ from the defaults.

"The defaults" are the params file as committed at git ``HEAD``: what ``dvc params diff`` compares the workspace
with by default. After ``dvc exp run -S align.temperature=0.2`` (which edits params.yaml in the workspace) the
report therefore lists ``align.temperature: 0.1 -> 0.2``; a report built from the committed params lists none.
Parameters are compared leaf by leaf as dotted keys (``transfer.trials``); a list is one value.

The date is the build time in UTC, or ``SOURCE_DATE_EPOCH`` when that is set (the reproducible-builds convention,
for a byte-stable report). Without git (an installed package, an exported tree) the block says so instead of
guessing. Nothing here raises: provenance is information, never a reason to lose a report.

Where it is shown: the commit, the date and the changed parameters describe *this build*, not the
results; in ``report.md``/``report.html`` (outputs DVC hashes) they would make a fresh clone's ``dvc repro``
rewrite ``dvc.lock`` although every number is identical (a clone has a different HEAD, another date, and compares
the params with a different commit). So the hashed report holds only what its inputs determine (the profile, the
params file's name and every parameter's value), and :func:`view_time_files` writes the build's provenance beside
it: ``provenance.js`` (``report.html`` loads it with ``<script src>``, which works from ``file://``, and fills its
block in; without the file the block says where to look) and the ``provenance`` section of ``run.json``. Neither
is declared in ``dvc.yaml``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_MAX_DIRTY_LISTED = 5


@dataclass(frozen=True)
class ParamChange:
    """One parameter whose value differs from the committed params file (None: absent on that side)."""

    key: str
    default: Any
    value: Any


@dataclass(frozen=True)
class Provenance:
    """The report's provenance block, in display-ready parts."""

    commit: str | None  # short hash of HEAD, None outside git
    commit_date: str | None  # HEAD's committer date, YYYY-MM-DD
    dirty: list[str]  # tracked files with uncommitted changes (at most a few, then "... and N more")
    built: str  # "YYYY-MM-DD HH:MM UTC"
    profile: str | None  # params' profile.name
    params_file: str | None  # the params file the report was given
    baseline: str | None  # what the parameters were compared with ("params.yaml at HEAD (abc1234)"), None: nothing
    baseline_note: str  # why there is no baseline, when there is none
    changes: list[ParamChange] = field(default_factory=list)
    parameters: list[tuple[str, Any]] = field(default_factory=list)  # every parameter (dotted key, value): hashed


def _git(args: list[str], cwd: Path, *, strip: bool = True) -> str | None:
    """Output of ``git args`` run in ``cwd`` (stripped unless ``strip`` is False: porcelain lines start with a
    status column that may be a space), or None when git is missing or the command fails."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() if strip else out.stdout


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted leaf keys: ``{"a": {"b": 1}, "c": [1, 2]}`` -> ``{"a.b": 1, "c": [1, 2]}``."""
    if not isinstance(params, dict):
        return {prefix: params} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def param_changes(params: dict[str, Any], default: dict[str, Any]) -> list[ParamChange]:
    """Every dotted key whose value differs between ``default`` and ``params`` (added and removed keys too),
    in the order of ``params`` then the removed ones."""
    now, before = flatten(params), flatten(default)
    changes = [ParamChange(k, before.get(k), v) for k, v in now.items() if k not in before or before[k] != v]
    changes += [ParamChange(k, v, None) for k, v in before.items() if k not in now]
    return changes


def build_date() -> str:
    """Now in UTC, or ``SOURCE_DATE_EPOCH`` when set (an unparsable value is ignored)."""
    stamp = time.time()
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        stamp = float(epoch)
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))


def collect_provenance(params: dict[str, Any], params_path: str | Path | None) -> Provenance:
    """The provenance of a report built now from ``params`` (read from ``params_path``, or given as a dict).

    Git is asked in the directory of the params file (the pipeline's repository), else the working directory.
    """
    where = Path(params_path).resolve().parent if params_path is not None else Path.cwd()
    profile = params.get("profile")
    profile_name = str(profile.get("name")) if isinstance(profile, dict) and profile.get("name") else None
    commit = _git(["rev-parse", "--short=12", "HEAD"], where)
    commit_date = _git(["show", "-s", "--format=%cs", "HEAD"], where) if commit else None
    dirty: list[str] = []
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], where, strip=False) or ""
        paths = [line[3:] for line in status.splitlines() if line.strip()]
        dirty = paths[:_MAX_DIRTY_LISTED] + ([f"... and {len(paths) - _MAX_DIRTY_LISTED} more"]
                                             if len(paths) > _MAX_DIRTY_LISTED else [])

    baseline, note, changes = None, "", []
    if params_path is None:
        note = "no params file was given, so there is nothing to compare with"
    elif commit is None:
        note = "not in a git repository (or git is missing): no committed params file to compare with"
    else:
        rel = _git(["ls-files", "--full-name", "--", str(Path(params_path).resolve())], where)
        committed = _git(["show", f"HEAD:{rel}"], where) if rel else None
        if committed is None:
            note = f"{Path(params_path).name} is not committed at HEAD: nothing to compare with"
        else:
            try:
                default = yaml.safe_load(committed) or {}
            except yaml.YAMLError:
                default = None
            if not isinstance(default, dict):
                note = f"{rel} at HEAD is not a YAML mapping: nothing to compare with"
            else:
                baseline = f"{rel} as committed at HEAD ({commit})"
                changes = param_changes(params, default)
    return Provenance(commit=commit, commit_date=commit_date, dirty=dirty, built=build_date(),
                      profile=profile_name, params_file=str(params_path) if params_path is not None else None,
                      baseline=baseline, baseline_note=note, changes=changes,
                      parameters=list(flatten(params).items()))


def show_value(value: Any) -> str:
    """A parameter value as it reads in YAML flow style (``[8, 10]``, ``0.1``, ``absent`` for a missing key)."""
    if value is None:
        return "absent"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def provenance_lines(p: Provenance) -> list[tuple[str, str]]:
    """The block as (label, text) pairs, shared by the Markdown and HTML renderers."""
    if p.commit is None:
        code = "not a git checkout (commit unknown)"
    else:
        code = f"commit {p.commit}" + (f" of {p.commit_date}" if p.commit_date else "")
        code += (f", with uncommitted changes to {', '.join(p.dirty)}" if p.dirty else ", no uncommitted changes")
    lines = [("Built", p.built), ("Code", code), ("Profile", p.profile or "not named in the params")]
    if p.baseline is None:
        lines.append(("Parameters", f"{p.params_file or 'none given'}: {p.baseline_note}"))
    elif not p.changes:
        lines.append(("Parameters", f"{p.params_file}: the same as {p.baseline}"))
    else:
        lines.append(("Parameters", f"{p.params_file}: {len(p.changes)} differ from {p.baseline}"))
    return lines


PROVENANCE_JS = "provenance.js"
JS_CALLBACK = "cliprlProvenance"


def provenance_json(p: Provenance) -> dict[str, Any]:
    """The build's provenance as plain data (``run.json``'s ``provenance`` section and ``provenance.js``)."""
    return {"lines": [list(line) for line in provenance_lines(p)],
            "changes": [[c.key, show_value(c.default), show_value(c.value)] for c in p.changes],
            "commit": p.commit, "commit_date": p.commit_date, "dirty": p.dirty, "built": p.built,
            "baseline": p.baseline}


def view_time_files(p: Provenance, out_dir: str | Path) -> None:
    """Write ``provenance.js`` and the ``provenance`` section of ``run.json`` beside the report (not hashed)."""
    import json

    from ..store.atomic import atomic_write_text
    from ..store.runinfo import record

    data = provenance_json(p)
    atomic_write_text(Path(out_dir) / PROVENANCE_JS,
                      "// The build's provenance for report.html (not part of the DVC-hashed report; see run.json)\n"
                      f"{JS_CALLBACK}({json.dumps(data, indent=1)});\n")
    record(out_dir, {}, extra={"provenance": data})


def profile_note(path: str | Path | None, name: Any) -> str | None:
    """The prose of profile ``name`` from a Markdown file of ``## <name>`` sections (``docs/profiles.md``): the
    paragraphs under that heading, joined into one, or None (no file, no such section). Prose is kept out of
    params.yaml so that `dvc params diff` and `dvc exp show` list only parameters; the report stage lists the file
    as a dependency, so editing the note rebuilds the report."""
    if path is None or not name:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        return None
    lines, inside = [], False
    for line in text.splitlines():
        if line.startswith("#"):
            if inside:
                break
            inside = line.startswith("## ") and line[3:].strip() == str(name).strip()
            continue
        if inside:
            lines.append(line.strip())
    note = " ".join(part for part in lines if part)
    return note or None
