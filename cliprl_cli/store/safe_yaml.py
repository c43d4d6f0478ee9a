"""A strict, bounded YAML reader for user-supplied files (task suites): every problem is one line, never a hang.

``yaml.safe_load`` constructs no arbitrary objects, but it still accepts things a hand-written data file never
needs and a hostile one abuses:

- **aliases** (``*name``): a few lines of nested aliases expand to billions of nodes (the "billion laughs");
  refused outright, anchors without aliases are harmless;
- **duplicate keys**: YAML says a mapping's keys are unique, PyYAML silently keeps the last; refused, naming the
  key and its line;
- **size and depth**: files over :data:`MAX_BYTES` are refused before parsing (the pure-Python parser took 3.3 s
  for 1 MiB of suite on this 2-core machine), and nesting deeper than :data:`MAX_DEPTH` is refused before Python's
  recursion limit is hit;
- **encoding**: the file must be UTF-8.

Errors are :class:`~cliprl_cli.errors.CliprlError` (exit 2) naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import CliprlError

MAX_BYTES = 256 << 10  # 256 KiB (parsed in about a second): the paper's suite is under 1 KiB
MAX_DEPTH = 32        # nesting of mappings and sequences


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases or duplicate keys, with a nesting bound."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML API
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed",
                                              event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r} (first on line {seen[key].line + 1})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark
                except TypeError:  # an unhashable key (a list or a mapping where a name belongs)
                    raise yaml.constructor.ConstructorError(None, None, f"a key must be a name, got {key!r}",
                                                            key_node.start_mark) from None
        return super().construct_mapping(node, deep=deep)


def _one_line(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return f"{problem}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def loads(text: str, source: str) -> Any:
    """Parse ``text`` (read from ``source``, named in errors) strictly."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise CliprlError(f"{source}: larger than {MAX_BYTES} bytes; a task suite is a small file")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CliprlError(f"{source}: invalid YAML: {_one_line(exc)}") from None


def load_file(path: str | Path) -> Any:
    """Read and parse a YAML file strictly: a missing, unreadable, oversized or non-UTF-8 file is one line."""
    path = Path(path)
    if not path.is_file():
        raise CliprlError(f"file not found: {path}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise CliprlError(f"{path}: {size} bytes is larger than {MAX_BYTES}; a task suite is a small file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliprlError(f"{path}: not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})") from None
    return loads(text, str(path))


def check_suite_types(data: Any, source: str) -> None:
    """The types of a task suite's fields (one line naming the field): ``name`` and ``target`` strings, ``tasks`` a
    mapping from instruction strings, ``base_tasks`` a list of strings. Goal cells are checked by the suite."""
    if not isinstance(data, dict):
        raise CliprlError(f"{source}: expected a mapping with a non-empty 'tasks' mapping of instruction -> "
                          f"[row, col], got {type(data).__name__}")
    for key in data:
        if key not in ("name", "tasks", "base_tasks", "target"):
            raise CliprlError(f"{source}: unknown field {key!r} (known: name, tasks, base_tasks, target)")
    for key in ("name", "target"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise CliprlError(f"{source}: {key!r} must be a string, got {type(data[key]).__name__}")
    tasks = data.get("tasks")
    if isinstance(tasks, dict):
        for instruction in tasks:
            if not isinstance(instruction, str) or not instruction.strip():
                raise CliprlError(f"{source}: task names must be non-empty strings, got {instruction!r}")
    base = data.get("base_tasks")
    if base is not None and (not isinstance(base, list) or not all(isinstance(b, str) for b in base)):
        raise CliprlError(f"{source}: 'base_tasks' must be a list of task names, got {base!r}"[:300])
    if isinstance(base, list) and len(set(base)) != len(base):
        raise CliprlError(f"{source}: 'base_tasks' names {sorted({b for b in base if base.count(b) > 1})} "
                          "more than once")
