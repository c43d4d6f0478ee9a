"""Field checks shared by the format classes: each raises an :class:`ArtifactError` naming the file and field."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..atomic import ArtifactError

Json = dict[str, Any]


# ------------------------------------------------------------------------------------------------ field checks
def _obs_key(obs: str | None) -> Json:
    """``{"obs": obs}`` for a pixel run's FuRL files, nothing for the state agent's (their bytes stay as before)."""
    return {} if obs is None else {"obs": obs}


def _field(doc: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str, *,
           optional: bool = False) -> Any:
    """``doc[key]`` checked against ``kinds`` (bool is never accepted as a number); None if optional and absent."""
    if key not in doc or (optional and doc[key] is None):
        if optional:
            return None
        raise ArtifactError(f"{where}: missing field {key!r}")
    value = doc[key]
    if not _is(value, kinds):
        raise ArtifactError(f"{where}: field {key!r} should be {_kind_name(kinds)}, got {type(value).__name__}")
    return value


def _is(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """``isinstance(value, kinds)``, except that a bool is not a number."""
    numeric = kinds in (int, float) or (isinstance(kinds, tuple) and set(kinds) <= {int, float})
    return not (numeric and isinstance(value, bool)) and isinstance(value, kinds)


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    return kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)


def _number(doc: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> float | None:
    value = _field(doc, key, (int, float), where, optional=optional)
    return None if value is None else float(value)


def _pair(doc: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> tuple[float, float] | None:
    """A two-number list such as a 95% interval ``[lo, hi]``."""
    value = _field(doc, key, list, where, optional=optional)
    if value is None:
        return None
    if len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ArtifactError(f"{where}: field {key!r} should be a pair of numbers, got {value!r}")
    return float(value[0]), float(value[1])


def _items(doc: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str, *,
           optional: bool = False) -> list[Any] | None:
    """``doc[key]`` as a list whose every element is one of ``kinds`` (bool is never accepted as a number)."""
    value = _field(doc, key, list, where, optional=optional)
    if value is None:
        return None
    for i, v in enumerate(value):
        if not _is(v, kinds):
            raise ArtifactError(f"{where}: field {key!r}[{i}] should be {_kind_name(kinds)}, got {type(v).__name__}")
    return value


def _floats(doc: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> list[float] | None:
    """A list of numbers as floats."""
    value = _items(doc, key, (int, float), where, optional=optional)
    return None if value is None else [float(v) for v in value]


def _cell(doc: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    """A grid cell ``[row, col]``, or ``[]`` where the world has no goal cell (BabyAI levels draw their layouts)."""
    value = _items(doc, key, int, where)
    if len(value) not in (0, 2):
        raise ArtifactError(f"{where}: field {key!r} should be a [row, col] pair (or [] without a goal cell), got "
                            f"{value!r}")
    return tuple(int(v) for v in value)


def _object(doc: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, dict):
        raise ArtifactError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc


def finite_or_none(value: Any) -> float | None:
    """A finite float, or None for a missing, non-numeric, NaN or infinite value (for tables and plots)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
