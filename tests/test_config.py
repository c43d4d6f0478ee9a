"""The command settings: one home for every default (the CLI's defaults are the dataclasses'), enums for choices,
and a config module light enough for `cliprl --help`."""

import inspect
import subprocess
import sys
from dataclasses import fields

import pytest

from cliprl_cli.commands.align import align_command
from cliprl_cli.commands.train_base import train_base_command
from cliprl_cli.commands.transfer import transfer_command
from cliprl_cli.clip_rl.config import (DEFAULT_GRID_SIZE, METHODS, AlignConfig, HeadKind, Method, PPOConfig, TrainBaseConfig, TransferConfig,
                               Weighting, complete_methods, parse_methods, parse_sources)
from cliprl_cli.errors import CliprlError
from cliprl_cli.clip_rl.tasks import load_suite
from cliprl_cli.clip_rl.train_base import resolve_grid_size


def _defaults(command):
    """Option name -> default value of a Typer command function."""
    return {name: p.default.default for name, p in inspect.signature(command).parameters.items()}


def test_cli_defaults_are_the_dataclass_defaults():
    ppo = PPOConfig()
    train = _defaults(train_base_command)
    base = TrainBaseConfig()
    # --grid-size defaults to None: DEFAULT_GRID_SIZE on the grid world, or the world a colour-shape suite fixes
    assert train["grid_size"] is base.grid_size is None and resolve_grid_size(load_suite(), None) == DEFAULT_GRID_SIZE
    assert (train["seed"], train["hidden"], train["layers"], train["threads"],
            train["checkpoint_every_s"]) == (base.seed, base.hidden, base.layers, base.threads,
                                           base.checkpoint_every_s)
    for d, p in ((train, ppo), (_defaults(transfer_command), TransferConfig().ppo)):
        assert (d["max_env_steps"], d["num_steps"], d["lr"]) == (p.max_env_steps, p.num_steps, p.lr)
    # transfer's --num-envs defaults to None: TransferConfig's 32 for the grid world (colour-shape: 256)
    assert train["num_envs"] == ppo.num_envs and _defaults(transfer_command)["num_envs"] is TransferConfig().num_envs
    # fine-tuning resolves steps to convergence to 512 env steps (one iteration); base training keeps 4,096
    assert TransferConfig().ppo.num_envs * TransferConfig().ppo.num_steps == 512
    assert ppo.num_envs * ppo.num_steps == 4096 and TrainBaseConfig().ppo == ppo
    align = _defaults(align_command)
    for f in fields(AlignConfig):
        assert align[f.name] == getattr(AlignConfig(), f.name), f.name
    transfer = _defaults(transfer_command)
    t = TransferConfig()
    assert transfer["methods"] == ",".join(t.methods) and parse_methods(transfer["methods"]) == list(METHODS)
    assert transfer["num_envs"] is t.num_envs is None
    assert (transfer["trials"], transfer["weighting"], transfer["softmax_temperature"], transfer["workers"],
            transfer["auc_horizon"]) == (t.trials, t.weighting, t.softmax_temperature, t.workers, t.auc_horizon)


def test_methods_are_validated_with_one_line_naming_the_unknown():
    assert parse_methods(" scratch, clip ,") == ["scratch", "clip"]
    with pytest.raises(CliprlError, match=r"unknown method\(s\) \['bogus'\]; known: scratch, language"):
        parse_methods("scratch,bogus")
    assert [str(m) for m in Method if m is not Method.ORACLE_GROUP] == list(METHODS)  # oracle-group: opt-in
    assert complete_methods("scratch,nea") == ["scratch,nearest-language", "scratch,nearest-clip"]


def test_align_config_serialises_enums_as_plain_strings_in_field_order():
    config = AlignConfig(head="linear")
    assert config.head is HeadKind.LINEAR
    assert config.to_dict() == {"head": "linear", "dim": 32, "hidden": 128, "epochs": 500, "lr": 1e-3,
                                "temperature": 0.1, "learn_temperature": False, "text_encoder": "all-MiniLM-L6-v2",
                                "seed": 0, "policy_repr": "weights"}
    assert type(config.to_dict()["head"]) is str
    with pytest.raises(CliprlError, match="unknown head 'conv'"):
        AlignConfig(head="conv")
    assert AlignConfig(policy_repr="behaviour").to_dict()["policy_repr"] == "behaviour"
    with pytest.raises(CliprlError, match="unknown policy representation 'trajectories'"):
        AlignConfig(policy_repr="trajectories")


def test_sources_are_parsed_and_checked():
    assert parse_sources(None) is None and parse_sources(" , ") is None
    assert parse_sources("a, b ,c") == ["a", "b", "c"]
    with pytest.raises(CliprlError, match=r"--sources names \['a'\] more than once"):
        parse_sources("a,b,a")
    assert Weighting("softmax") is Weighting.SOFTMAX and str(Weighting.NORMALIZED) == "normalized"


def test_help_lists_the_choices():
    from typer.testing import CliRunner

    from cliprl_cli.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["align", "--help"], env={"COLUMNS": "200"}).output
    assert "linear|mlp" in out
    out = runner.invoke(app, ["transfer", "--help"], env={"COLUMNS": "200"}).output
    out = out.replace("-\n", "-").replace("\n", " ")  # plain help may wrap a choice at its hyphen
    assert "normalized|softmax" in out and "nearest-language" in " ".join(out.split()).replace("- ", "-")


def test_config_and_cli_do_not_import_torch():
    code = "import sys, cliprl_cli.clip_rl.config, cliprl_cli.cli; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
