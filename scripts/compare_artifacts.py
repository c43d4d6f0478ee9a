"""Compare two artifact trees file by file: are two pipeline runs the same result?

    python scripts/compare_artifacts.py OLD_DIR NEW_DIR [--volatile KEY ...]

Tensor files, images and any other non-JSON file must be byte-identical. JSON files are compared twice: as bytes,
and as data with the wall-clock and machine fields removed (``VOLATILE`` below: wall times, per-phase timings,
throughput, provenance). Each file gets one line: ``same`` (bytes equal), ``same-but-timing`` (equal once the
volatile fields are dropped), ``DIFFERENT`` (with the first differing JSON path), ``only-old`` or ``only-new``.
Run metadata (``run.json`` and the report's ``provenance.js``: which run, where, when; DVC never hashes them) is
listed as ``run-metadata`` and never counts as a difference. Exit 0 when no file is DIFFERENT or missing on one side, 1 otherwise. Used to show that a refactor changed no
result (the numbers, not the clock).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RUN_METADATA = ("run.json", "provenance.js")  # per-run records beside the outputs, not results
VOLATILE = ("wall_s", "wall_time_s", "timings", "timings_s", "elapsed_s", "env_steps_per_s", "provenance")


def strip(value: Any, volatile: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: strip(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [strip(v, volatile) for v in value]
    return value


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} vs {list(b)}"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))),
                    None)
    return None if a == b or (a != a and b != b) else f"{path}: {a!r} vs {b!r}"


def compare(old: Path, new: Path, volatile: set[str]) -> list[tuple[str, str]]:
    names = sorted({p.relative_to(old) for p in old.rglob("*") if p.is_file()}
                   | {p.relative_to(new) for p in new.rglob("*") if p.is_file()})
    rows = []
    for name in names:
        a, b = old / name, new / name
        if name.name in RUN_METADATA:
            rows.append((str(name), "run-metadata"))
        elif not b.exists():
            rows.append((str(name), "only-old"))
        elif not a.exists():
            rows.append((str(name), "only-new"))
        elif a.read_bytes() == b.read_bytes():
            rows.append((str(name), "same"))
        elif a.suffix == ".json":
            diff = first_difference(strip(json.loads(a.read_text()), volatile),
                                    strip(json.loads(b.read_text()), volatile))
            rows.append((str(name), "same-but-timing" if diff is None else f"DIFFERENT {diff}"))
        else:
            rows.append((str(name), "DIFFERENT bytes"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--volatile", nargs="*", default=list(VOLATILE), help="JSON keys ignored in the data check")
    args = parser.parse_args(argv)
    rows = compare(args.old, args.new, set(args.volatile))
    for name, status in rows:
        print(f"{status.split()[0]:>16}  {name}" + (f"  ({status.split(' ', 1)[1]})" if " " in status else ""))
    bad = [r for r in rows if r[1].startswith(("DIFFERENT", "only-"))]
    counts = {s: sum(1 for _, st in rows if st.split()[0] == s)
              for s in ("same", "same-but-timing", "run-metadata", "DIFFERENT", "only-old", "only-new")}
    print("summary: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
