"""Every default lives in a config dataclass: the CLI's option defaults and the pipeline's params files are checked
against the dataclass fields, so a misspelt params key or a CLI default that drifts from its dataclass fails here.

Each command's options are mapped to config fields by name (``ppo.`` for PPO settings); options that are inputs or
outputs rather than settings (paths, the task, progress output) are listed as such. A new option that is neither
fails the test until it is one or the other."""

from __future__ import annotations

import inspect
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from cliprl_cli.clip_rl.config import AlignConfig, LibrarySizeConfig, PPOConfig, TrainBaseConfig, TransferConfig
from cliprl_cli.commands.align import align_command
from cliprl_cli.commands.library_size import library_size_command
from cliprl_cli.commands.train_base import train_base_command
from cliprl_cli.commands.transfer import transfer_command

ROOT = Path(__file__).resolve().parents[1]

# CLI option -> config field, where the names differ
RENAMED = {"checkpoint_every": "checkpoint_every_s", "size": "grid_size"}
# options that are not settings of the run: what to read, where to write, how to show progress
NOT_SETTINGS = {"task", "all_tasks", "out", "tasks", "base", "align_dir", "target", "sources", "quiet",
                "tensorboard", "work", "json", "plot"}

COMMANDS = [(train_base_command, TrainBaseConfig), (align_command, AlignConfig),
            (transfer_command, TransferConfig), (library_size_command, LibrarySizeConfig)]


def _config_default(cfg, name: str):
    name = RENAMED.get(name, name)
    if name in {f.name for f in fields(cfg)}:
        return getattr(cfg, name)
    if hasattr(cfg, "ppo") and name in {f.name for f in fields(PPOConfig)}:
        return getattr(cfg.ppo, name)
    raise KeyError(name)


def _cli_value(default):
    """A Typer default as the config holds it (comma-joined lists are split; enums compare by value)."""
    return getattr(default, "value", default)


@pytest.mark.parametrize("command, config", COMMANDS, ids=[c.__name__ for c, _ in COMMANDS])
def test_every_cli_default_is_its_dataclass_default(command, config):
    cfg = config()
    for name, param in inspect.signature(command).parameters.items():
        if name in NOT_SETTINGS:
            continue
        default = _cli_value(param.default.default)
        try:
            expected = _config_default(cfg, name)
        except KeyError:
            pytest.fail(f"{command.__name__}: option {name!r} is neither a field of {config.__name__} (or its ppo) "
                        "nor listed in NOT_SETTINGS")
        if isinstance(expected, tuple) and isinstance(default, str):  # --methods a,b / --ks 2,4
            default = tuple(type(expected[0])(v) for v in default.split(","))
        assert default == _cli_value(expected), f"{command.__name__} --{name}: CLI {default!r}, config {expected!r}"


def test_the_check_sees_a_drifted_default(monkeypatch):
    import typer

    def drifted(seed: int = typer.Option(7, "--seed")) -> None:
        pass

    with pytest.raises(AssertionError, match="--seed: CLI 7, config 0"):
        test_every_cli_default_is_its_dataclass_default(drifted, TrainBaseConfig)


# ---------------------------------------------------------------------------------------------------- params files
# Per params.yaml section: the config whose fields its keys name, and the keys that only the pipeline has (matrix
# axes, what a stage reads or loops over), each with why.
_FURL_FIELDS = "cliprl_cli.furl.config:FurlConfig"
SECTIONS = {
    "train_base": ([TrainBaseConfig], {"grid_sizes": "matrix axis", "tasks": "matrix axis"}),
    "align": ([AlignConfig], {"temperature_mode": "spelled as --learn-temperature/--fixed-temperature"}),
    "transfer": ([TransferConfig], {"target": "the target instruction (an input)"}),
    "library_size": ([LibrarySizeConfig], {}),
    "colour_shape": ([TransferConfig], {"layouts": "matrix axis", "targets": "matrix axis",
                                        "objects": "the suites' nine objects (leave-one-out sources)",
                                        "align_seeds": "matrix axis"}),
    "babyai": ([TrainBaseConfig, AlignConfig, TransferConfig],
               {"suite": "the suite file's suffix", "targets": "matrix axis",
                "base_max_env_steps": "train-base's budget (max_env_steps is transfer's)"}),
    "furl": ([_FURL_FIELDS], {"tasks": "matrix axis", "variants": "matrix axis", "seeds": "matrix axis",
                              "profile": "the --profile the options replace fields of"}),
    "furl_pixels": ([_FURL_FIELDS], {"variants": "matrix axis", "seeds": "matrix axis",
                                     "profile": "the --profile the options replace fields of"}),
}
PIPELINE_ONLY_SECTIONS = {"profile": "its description, shown by the report", "paths": "where artifacts live",
                          "report": "the report's title"}


def _field_names(spec) -> set[str]:
    if isinstance(spec, str):
        import importlib

        module, name = spec.split(":")
        spec = getattr(importlib.import_module(module), name)
    names = {f.name for f in fields(spec)}
    if "ppo" in names:
        names |= {f.name for f in fields(PPOConfig)}
    return names


def unknown_keys(params: dict) -> list[str]:
    """``section.key`` for every key of ``params`` that names no config field and is not a pipeline-only key."""
    bad = []
    for section, values in params.items():
        if section in PIPELINE_ONLY_SECTIONS:
            continue
        if section not in SECTIONS:
            bad.append(section)
            continue
        configs, pipeline_only = SECTIONS[section]
        known = set().union(*(_field_names(c) for c in configs)) | set(pipeline_only)
        bad += [f"{section}.{key}" for key in values if key not in known]
    return bad


@pytest.mark.parametrize("name", sorted(p.name for p in ROOT.glob("params*.yaml")))
def test_params_files_name_only_config_fields(name):
    params = yaml.safe_load((ROOT / name).read_text())
    assert unknown_keys(params) == [], f"{name}: keys that no config has"


def test_a_misspelt_params_key_is_caught():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["transfer"]["trails"] = 10
    params["align"]["temprature"] = 0.1
    assert unknown_keys(params) == ["align.temprature", "transfer.trails"]


# ------------------------------------------------------------------------------------------------------- --help
def _help(command: str, columns: str | None) -> str:
    """``cliprl COMMAND --help`` as a batch log sees it: no terminal, COLUMNS unset or narrow."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TYPER_USE_RICH")}
    if columns:
        env["COLUMNS"] = columns
    out = subprocess.run([sys.executable, "-m", "cliprl_cli", command, "--help"], capture_output=True, text=True,
                         env=env, check=True).stdout
    return " ".join(out.split())  # wrapped lines joined: a default split across two lines still reads whole


@pytest.mark.parametrize("columns", [None, "80"])
@pytest.mark.parametrize("command, config", COMMANDS, ids=[c.__name__ for c, _ in COMMANDS])
def test_help_without_a_terminal_shows_every_choice_and_default(command, config, columns):
    from enum import Enum

    name = command.__name__.removesuffix("_command").replace("_", "-")
    text = _help(name, columns)
    assert "…" not in text, f"{name} --help cuts text at COLUMNS={columns}"
    for param in inspect.signature(command).parameters.values():
        info = param.default
        flag = info.param_decls[0].split("/")[0]
        assert flag in text, f"{name} --help lacks {flag}"
        if isinstance(param.annotation, type) and issubclass(param.annotation, Enum):
            choices = "|".join(m.value for m in param.annotation)
            assert choices in text, f"{name} {flag}: choices {choices} not shown"
        default = info.default
        if default is ... or default is None or isinstance(default, bool) or info.show_default is False:
            continue
        shown = info.show_default if isinstance(info.show_default, str) else str(getattr(default, "value", default))
        assert f"default: {shown}" in text.replace("default: (", "default: "), f"{name} {flag}: default {shown} not shown"
