"""dvc.yaml lists, for each stage, every module of the package that its command imports (directly or not).

A stage whose deps miss a module it runs would not rerun when that module changes: `dvc repro` would then keep an
output the current code no longer produces. The imports are read from the source (lazy imports inside functions
included, since the commands import lazily), starting from the stage's ``cliprl_cli/commands/<command>.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cliprl_cli"


def _module_file(dotted: str) -> Path | None:
    base = ROOT / Path(*dotted.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _imported_files(path: Path) -> set[Path]:
    """Files of the package imported by ``path`` (``from .x import y`` may name module ``x`` or submodule ``y``)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parts[:-1])
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - node.level + 1])
                dotted = f"{parent}.{node.module}" if node.module else parent
            else:
                dotted = node.module or ""
            if not dotted.startswith("cliprl_cli"):
                continue
            for candidate in [dotted, *(f"{dotted}.{alias.name}" for alias in node.names)]:
                if (file := _module_file(candidate)) is not None:
                    found.add(file)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cliprl_cli") and (file := _module_file(alias.name)) is not None:
                    found.add(file)
    return found


def _closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        file = todo.pop()
        if file in seen:
            continue
        seen.add(file)
        todo.extend(_imported_files(file) - seen)
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        for parent in file.relative_to(ROOT).parents:
            init = ROOT / parent / "__init__.py"
            if parent != Path(".") and init.is_file() and init not in seen:
                todo.append(init)
    return seen


def _docstring_only(file: Path) -> bool:
    body = ast.parse(file.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def _stages() -> list[tuple[str, str, list[str]]]:
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    out = []
    for name, stage in doc["stages"].items():
        command = stage["cmd"].split()[1]
        deps = [d for d in stage["deps"] if d.startswith("cliprl_cli")]
        out.append((name, command, deps))
    return out


def _covered(file: Path, deps: list[str]) -> bool:
    rel = file.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


@pytest.mark.parametrize("name, command, deps", _stages(), ids=[s[0] for s in _stages()])
def test_stage_deps_cover_every_module_its_command_imports(name, command, deps):
    entry = PACKAGE / "commands" / f"{command.replace('-', '_')}.py"
    assert entry.is_file(), f"stage {name}: no command module {entry}"
    # cliprl_cli/commands/__init__.py and cli.py only dispatch; what a stage computes starts at its command module
    # a package __init__ that holds only its docstring runs nothing, so it cannot change a result
    modules = {f for f in _closure(entry) - {PACKAGE / "__init__.py", PACKAGE / "commands" / "__init__.py"}
               if not _docstring_only(f)}
    missing = sorted(str(f.relative_to(ROOT)) for f in modules if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage {name} imports modules not listed in its deps: {missing}"


def test_the_import_reader_sees_lazy_and_relative_imports(tmp_path):
    # the FuRL command imports its training module lazily, inside the function
    closure = {f.relative_to(ROOT).as_posix() for f in _closure(PACKAGE / "commands" / "furl.py")}
    assert "cliprl_cli/furl/train.py" in closure and "cliprl_cli/adam.py" in closure
