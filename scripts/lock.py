"""Write requirements.lock: every distribution cliprl needs, at the version installed in the running environment,
with the SHA-256 of the file pip installs for it. Run by ``scripts/lock.sh`` with the interpreter of the environment
to lock (see there); it uses only pip and the standard library (plus ``packaging``, which pip's resolution needs).

Two steps: ``closure`` prints ``name==version`` for the installed distributions reachable from ``cliprl`` with its
``dev``, ``bench`` and ``tensorboard`` extras (so tools installed beside it stay out of the lock); ``write REPORT
OUT`` turns pip's installation report of those pins (``pip install --dry-run --report``, which reads each file's
hash from the index without installing anything) into the hash-checked lock file.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "cliprl"
EXTRAS = ("dev", "bench", "tensorboard")
NOT_LOCKED = {"pip", ROOT}  # pip installs the lock; cliprl is this checkout (installed editable, without deps)


def closure() -> list[str]:
    """``name==version`` of every installed distribution that cliprl[dev,bench,tensorboard] needs, sorted."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    if ROOT not in installed:
        sys.exit(f"lock: {ROOT} is not installed in {sys.prefix}")
    seen: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(ROOT, frozenset(EXTRAS))]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        dist = installed.get(name)
        if dist is None:
            sys.exit(f"lock: {name} is required but not installed in {sys.prefix}")
        seen[name] = f"{dist.metadata['Name']}=={dist.version}"
        for line in dist.requires or []:
            req = Requirement(line)
            wanted = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in wanted):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    # build tools for `pip install --no-build-isolation -e .` of this checkout
    for tool in ("setuptools", "wheel"):
        if tool in installed:
            seen[tool] = f"{installed[tool].metadata['Name']}=={installed[tool].version}"
    return sorted(v for k, v in seen.items() if k not in NOT_LOCKED)


def write(report_path: str, out_path: str) -> None:
    report = json.loads(open(report_path, encoding="utf-8").read())
    lines = [
        "# The resolved environment of cliprl, hash-checked: `bash scripts/setup.sh` installs exactly this",
        "# (pip install --require-hashes --no-deps), then the checkout itself, editable and without dependencies.",
        "# Refresh: `bash scripts/lock.sh` (fresh resolution) or `bash scripts/lock.sh .venv` (what a venv holds).",
        f"# Written {time.strftime('%Y-%m-%d', time.gmtime())} by scripts/lock.py with pip's installation report.",
        f"# python: {platform.python_version_tuple()[0]}.{platform.python_version_tuple()[1]}",
        f"# platform: {sys.platform}-{platform.machine()} (the hashes are of the files for this interpreter)",
    ]
    for item in sorted(report["install"], key=lambda i: canonicalize_name(i["metadata"]["name"])):
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            sys.exit(f"lock: no sha256 for {item['metadata']['name']} in pip's report")
        lines.append(f"{item['metadata']['name']}=={item['metadata']['version']} \\")
        lines.append(f"    --hash=sha256:{hashes['sha256']}")
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print(f"lock: {len(report['install'])} distributions -> {out_path}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["closure"]:
        print("\n".join(closure()))
    elif sys.argv[1:2] == ["write"] and len(sys.argv) == 4:
        write(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: python scripts/lock.py closure | write REPORT.json OUT")
