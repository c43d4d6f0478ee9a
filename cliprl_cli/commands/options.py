"""Typer options derived from a config dataclass: the dataclass is the only place a setting's default, help text
and range live, and a command lists only what is not a setting (inputs, outputs, progress).

A field becomes the option ``--field-name`` (or ``metadata["flag"]``) with the field's default, its type (an enum
lists its choices; ``tuple[...]`` fields are given comma-separated), ``metadata["help"]`` and
``metadata["min"]``/``["max"]``. A field with ``metadata["cli"] = False`` is not an option. A command adds PPO
settings by name (``ppo=("max_env_steps", ...)``): they come from :class:`~cliprl_cli.clip_rl.config.PPOConfig`'s
metadata, with the command's config's ``ppo`` default.

Adding a setting to a command is then one field in its config (and the code that reads it); the option, its
``--help`` line and the check that the CLI default equals the dataclass default follow.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import Field, fields, replace
from typing import Any, Callable, Optional

import typer

from ..errors import CliprlError
from .common import FLAG


def _plain_type(hint: Any) -> tuple[Any, bool]:
    """(the type Typer should parse, whether it is a comma-separated tuple); ``X | None`` becomes Optional[X]."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        parsed, csv = _plain_type(inner[0])
        return Optional[parsed], csv
    if origin is tuple:
        return str, True
    return hint, False


def _default(cfg: Any, f: Field) -> Any:
    return getattr(cfg, f.name)


def _option(name: str, hint: Any, default: Any, meta: typing.Mapping[str, Any], **kw: Any) -> inspect.Parameter:
    annotation, csv = _plain_type(hint)
    if csv:
        default = ",".join(str(getattr(v, "value", v)) for v in default)
    flags = meta.get("flag", "--" + name.replace("_", "-"))
    decls = [flags] + ([meta["short"]] if "short" in meta else [])
    extra = {k: meta[k] for k in ("min", "max") if k in meta}
    if "complete" in meta:
        extra["autocompletion"] = meta["complete"]
    if "show_default" in meta:
        extra["show_default"] = meta["show_default"]
    if annotation is bool:
        extra["metavar"] = FLAG
    info = typer.Option(default, *decls, help=meta.get("help"), **extra, **kw)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def config_parameters(config: type, *, ppo: tuple[str, ...] = (), **kw: Any) -> list[inspect.Parameter]:
    """The Typer parameters of ``config``'s fields (and of the named PPO fields), defaults from ``config()``."""
    cfg = config()
    hints = typing.get_type_hints(config)
    params = []
    for f in fields(config):
        if f.name == "ppo" or f.metadata.get("cli") is False:
            continue
        params.append(_option(f.name, hints[f.name], _default(cfg, f), f.metadata, **kw))
    if ppo:
        ppo_cls = type(cfg.ppo)
        ppo_hints = typing.get_type_hints(ppo_cls)
        by_name = {f.name: f for f in fields(ppo_cls)}
        params += [_option(n, ppo_hints[n], getattr(cfg.ppo, n), by_name[n].metadata, **kw) for n in ppo]
    return params


def _from_options(config: type, values: dict[str, Any], ppo: tuple[str, ...]) -> Any:
    """``config(...)`` from the parsed option values (comma-separated tuples split, PPO fields into ``ppo``)."""
    hints = typing.get_type_hints(config)
    given = {}
    for f in fields(config):
        if f.name not in values:
            continue
        value = values[f.name]
        if _plain_type(hints[f.name])[1] and isinstance(value, str):
            item = typing.get_args(typing.get_args(hints[f.name])[0] if typing.get_origin(hints[f.name]) in
                                   (typing.Union, types.UnionType) else hints[f.name])[0]
            try:
                value = tuple(item(v.strip()) for v in value.split(",") if v.strip())
            except ValueError:
                raise CliprlError(f"--{f.name.replace('_', '-')}: expected comma-separated "
                                  f"{getattr(item, '__name__', item)} values, got {value!r}") from None
        given[f.name] = value
    if ppo:
        base = config().ppo
        given["ppo"] = replace(base, **{n: values[n] for n in ppo})
    return config(**given)


def with_config(config: type, *, ppo: tuple[str, ...] = (), before: str | None = None) -> Callable:
    """Decorate a command ``func(..., cfg)`` so that Typer sees one option per setting of ``config`` instead of
    ``cfg``, and ``func`` receives the config built from them. The settings' options are placed before the
    parameter named ``before`` (e.g. ``quiet``), else last."""

    def decorate(func: Callable) -> Callable:
        hints = typing.get_type_hints(func)
        own = [p.replace(annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
               for p in inspect.signature(func).parameters.values() if p.name != "cfg"]
        derived = config_parameters(config, ppo=ppo)
        names = {p.name for p in derived}
        clash = names & {p.name for p in own}
        if clash:
            raise TypeError(f"{func.__name__}: parameters {sorted(clash)} are also settings of {config.__name__}")
        at = next((i for i, p in enumerate(own) if p.name == before), len(own))

        @functools.wraps(func)
        def command(**values: Any) -> Any:
            settings = {k: values.pop(k) for k in list(values) if k in names}
            return func(**values, cfg=_from_options(config, settings, ppo))

        params = own[:at] + derived + own[at:]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # Typer must read the signature above, not the function's own
        return command

    return decorate
