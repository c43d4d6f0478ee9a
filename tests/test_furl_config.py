"""One config for `cliprl furl`: profiles are FurlConfig instances, the CLI builds exactly them, choices are enums."""

import dataclasses
import os
import subprocess
import sys

import pytest

from cliprl_cli.cli import main
from cliprl_cli.furl import train
from cliprl_cli.furl.config import PROFILES, VARIANTS, FurlConfig, Profile, Variant, profile_config


def test_paper_profile_is_the_default_config():
    assert PROFILES["paper"] == FurlConfig()
    assert FurlConfig().image_size == 256  # the authors' render size, before the 75% crop (256 -> 192)


def test_profiles_keep_their_values():
    # The pipeline's FuRL outputs depend on these (dvc.yaml runs --profile cpu-small).
    differ = lambda cfg: {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)  # noqa: E731
                          if getattr(cfg, f.name) != getattr(FurlConfig(), f.name)}
    # ... and keep the choices they had before the paper profile took the authors' (Eq. 5 reduction, heads init,
    # one replay capacity for every variant)
    kept = dict(eq5_reduction="pairs", heads_init="torch", buffer_size=1_000_000, goal_protocol="mt1",
                vlm_crop=True, relay_stop="positive-frames", eval_protocol="ours")
    assert differ(PROFILES["default"]) == dict(steps=20_000, random_steps=5_000, eval_every=5_000, eval_episodes=5,
                                               image_size=128, **kept)
    assert differ(PROFILES["cpu-small"]) == dict(steps=3_000, random_steps=1_000, eval_every=1_000, eval_episodes=2,
                                                 image_size=64, vlm_model="cliprl-tiny", vlm_pretrained="none",
                                                 fast_render=True, **kept)


def test_paper_profile_takes_the_authors_choices():
    paper = FurlConfig()
    assert (paper.eq5_reduction, paper.heads_init, paper.vlm_quick_gelu) == ("authors", "flax", None)
    # replay capacity per variant: the authors' FuRL script 5e5 (variants with heads), SAC/LIV/Relay scripts 1e6
    capacity = {}
    for variant in VARIANTS:
        cfg = dataclasses.replace(FurlConfig(), variant=variant)
        cfg.validate()
        capacity[variant] = cfg.buffer_size
    assert capacity == {"sac": 1_000_000, "vlm-rm": 1_000_000, "vlm-rm-gb": 1_000_000, "vlm": 1_000_000,
                        "vlm-proj": 500_000, "relay": 1_000_000, "furl-no-goal": 500_000, "furl": 500_000}
    given = dataclasses.replace(FurlConfig(), buffer_size=1234)
    given.validate()
    assert given.buffer_size == 1234


def test_paper_profile_runs_the_authors_protocols_per_variant():
    def resolved(**kw):
        cfg = dataclasses.replace(FurlConfig(), **kw)
        cfg.validate()
        return cfg

    relay, furl = resolved(variant="relay"), resolved(variant="furl")
    assert furl.goal_protocol == relay.goal_protocol == "authors"
    # their train_relay.py: stop on success steps, whole frames; their train_furl.py: positive frames, 75% crop
    assert (relay.relay_stop, relay.vlm_crop) == ("success-steps", False)
    assert (furl.relay_stop, furl.vlm_crop) == ("positive-frames", True)
    # their evaluation: every max_timesteps // 10 steps, 1 episode (goal hidden) or 10 (random goals)
    assert (furl.eval_every, furl.eval_episodes) == (100_000, 1)
    assert (resolved(random_goal=True).eval_every, resolved(random_goal=True).eval_episodes) == (100_000, 10)
    assert (resolved(steps=300).eval_every, resolved(steps=5).eval_every) == (30, 1)
    assert (resolved(eval_protocol="ours").eval_every, resolved(eval_protocol="ours").eval_episodes) == (10_000, 10)
    given = resolved(eval_every=7, eval_episodes=3, relay_stop="positive-frames", vlm_crop=True, variant="relay")
    assert (given.eval_every, given.eval_episodes, given.relay_stop, given.vlm_crop) == (7, 3, "positive-frames", True)
    from cliprl_cli.errors import CliprlError
    with pytest.raises(CliprlError, match="unknown goal protocol 'x'"):
        resolved(goal_protocol="x")


def test_legacy_choices_stay_out_of_the_config_json():
    from cliprl_cli.furl.config import config_json

    small = dataclasses.replace(PROFILES["cpu-small"])
    small.validate()
    assert not {"eq5_reduction", "heads_init", "vlm_quick_gelu", "goal_protocol", "vlm_crop", "relay_stop",
                "eval_protocol"} & set(config_json(small))
    paper = FurlConfig()
    paper.validate()
    doc = config_json(paper)
    assert (doc["eq5_reduction"], doc["heads_init"], doc["buffer_size"]) == ("authors", "flax", 500_000)
    assert "vlm_quick_gelu" not in doc  # None: the automatic choice
    assert (doc["goal_protocol"], doc["eval_protocol"], doc["eval_every"], doc["eval_episodes"]) == (
        "authors", "authors", 100_000, 1)
    relay = dataclasses.replace(FurlConfig(), variant="relay")
    relay.validate()
    assert (config_json(relay)["relay_stop"], config_json(relay)["vlm_crop"]) == ("success-steps", False)


@pytest.mark.parametrize("field,value", [("eq5_reduction", "mean"), ("heads_init", "xavier")])
def test_unknown_authors_choices_are_one_line_errors(field, value):
    from cliprl_cli.errors import CliprlError

    cfg = dataclasses.replace(FurlConfig(), **{field: value})
    with pytest.raises(CliprlError, match=field.replace("_", "-")):
        cfg.validate()


def test_enums_list_the_tables():
    assert [v.value for v in Variant] == list(VARIANTS)
    assert [p.value for p in Profile] == list(PROFILES)


@pytest.fixture
def captured(monkeypatch):
    """Run `cliprl furl` without training: capture the config it hands to run_furl."""
    calls = []

    def fake_run_furl(cfg, *, checkpoint_every_s):
        calls.append((cfg, checkpoint_every_s))
        return {"task": cfg.task, "variant": cfg.variant, "seed": cfg.seed, "steps": 0, "env_steps_per_s": 0,
                "final": {}}

    monkeypatch.setattr(train, "run_furl", fake_run_furl)
    return calls


@pytest.mark.parametrize("name", list(PROFILES))
def test_cli_profile_is_exactly_the_profile_instance(captured, name):
    assert main(["furl", "--profile", name, "--quiet"]) == 0
    cfg, every = captured[0]
    assert cfg == dataclasses.replace(PROFILES[name], quiet=True) and every == 300.0


def test_cli_without_profile_is_the_default_profile(captured):
    assert main(["furl", "--quiet"]) == 0
    assert captured[0][0] == dataclasses.replace(PROFILES["default"], quiet=True)


def test_cli_options_replace_profile_fields(captured):
    args = ["furl", "--profile", "cpu-small", "--variant", "sac", "--steps", "1000", "--random-steps", "500",
            "--rho", "0.1", "--full-render", "--random-goal", "--task", "reach-v3", "--quiet"]
    assert main(args) == 0
    expected = dataclasses.replace(PROFILES["cpu-small"], variant="sac", steps=1000, random_steps=500, rho=0.1,
                                   fast_render=False, random_goal=True, task="reach-v3", quiet=True)
    assert captured[0][0] == expected
    assert profile_config("cpu-small", variant="sac", steps=1000, random_steps=500, rho=0.1, fast_render=False,
                          random_goal=True, task="reach-v3", quiet=True, seed=None) == expected


def test_help_lists_the_choices(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["furl", "--help"]) == 0
    # plain help (no terminal) may wrap a choice at its hyphen: read it with the lines joined
    out = " ".join(capsys.readouterr().out.split()).replace("- ", "-")
    assert "furl-no-goal" in out and "cpu-small" in out


def test_config_module_is_light():
    code = ("import sys, cliprl_cli.commands.furl, cliprl_cli.furl.config; "
            "heavy = [m for m in ('torch', 'numpy', 'metaworld', 'open_clip', 'mujoco') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_liv_defaults_to_the_authors_preprocessing_and_eq5_margin():
    from cliprl_cli.furl.config import FurlConfig

    liv = FurlConfig(vlm_model="liv", vlm_checkpoint="model.pt")
    liv.validate()
    assert (liv.vlm_preprocess, liv.goal_margin, liv.sac_style) == ("authors", 0.25, "authors")
    clip = FurlConfig()
    clip.validate()
    assert (clip.vlm_preprocess, clip.goal_margin) == ("ours", 0.2)
    mixed = FurlConfig(vlm_model="liv", vlm_preprocess="ours", goal_margin=0.3, vlm_checkpoint="")
    mixed.validate()
    assert (mixed.vlm_preprocess, mixed.goal_margin, mixed.vlm_checkpoint) == ("ours", 0.3, None)


@pytest.mark.parametrize("field,value,message", [("vlm_preprocess", "sepia", "unknown VLM preprocessing 'sepia'"),
                                                  ("sac_style", "spinning", "unknown SAC style 'spinning'")])
def test_bad_style_values_are_one_line_errors(field, value, message):
    from cliprl_cli.errors import CliprlError
    from cliprl_cli.furl.config import FurlConfig

    with pytest.raises(CliprlError, match=message):
        FurlConfig(**{field: value}).validate()


def test_option_table_rows_name_config_fields():
    from cliprl_cli.commands.furl import FURL_OPTIONS

    fields = {f.name for f in dataclasses.fields(FurlConfig)}
    forwarded = [o.name for o in FURL_OPTIONS if o.to_config]
    assert set(forwarded) <= fields and len(forwarded) == len(set(forwarded))
    assert {o.name for o in FURL_OPTIONS if not o.to_config} == {"profile", "checkpoint_every", "tensorboard"}


def test_every_option_forwards_its_value(captured):
    args = ["furl", "--quiet", "--task", "reach-v3", "--variant", "relay", "--seed", "3", "--out", "o", "--steps", "9",
            "--device", "cpu", "--threads", "2", "--num-envs", "2", "--random-goal", "--image-size", "96",
            "--camera", "corner", "--no-shadows", "--instruction", "Reach.", "--vlm-model", "ViT-B-32",
            "--vlm-pretrained", "none", "--vlm-checkpoint", "w.pt", "--vlm-preprocess", "authors",
            "--baseline-prompt", "b", "--gb-alpha", "0.3", "--goal-cache", "gc", "--batch-size", "8",
            "--buffer-size", "50", "--random-steps", "4", "--sac-style", "cleanrl", "--rho", "0.2",
            "--goal-margin", "0.1", "--eval-every", "5", "--eval-episodes", "1", "--obs", "pixels",
            "--pixel-size", "32", "--frame-stack", "2", "--action-repeat", "3", "--pixel-buffer-size", "99", "--amp"]
    assert main(args) == 0
    expected = dataclasses.replace(
        PROFILES["default"], quiet=True, task="reach-v3", variant="relay", seed=3, out="o", steps=9, device="cpu",
        threads=2, num_envs=2, random_goal=True, image_size=96, camera="corner", fast_render=True,
        instruction="Reach.", vlm_model="ViT-B-32", vlm_pretrained="none", vlm_checkpoint="w.pt",
        vlm_preprocess="authors", baseline_prompt="b", gb_alpha=0.3, goal_cache="gc", batch_size=8, buffer_size=50,
        random_steps=4, sac_style="cleanrl", rho=0.2, goal_margin=0.1, eval_every=5, eval_episodes=1, obs="pixels",
        pixel_size=32, frame_stack=2, action_repeat=3, pixel_buffer_size=99, amp=True)
    cfg = captured[0][0]
    assert cfg == expected
    assert isinstance(cfg.variant, Variant) and cfg.variant is Variant.RELAY


def test_help_shows_every_choice_at_80_columns():
    from cliprl_cli.furl.config import Eq5Reduction, HeadsInit, ObsKind, SacStyle, VlmPreprocess

    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-m", "cliprl_cli", "furl", "--help"], capture_output=True, text=True,
                         env=env, check=True).stdout
    # without a terminal the help is plain text, which may wrap a choice at its hyphen: read it with lines joined
    text = " ".join(out.replace("│", " ").split()).replace("- ", "-")
    words = text.split()
    for enum in (Variant, Profile, VlmPreprocess, SacStyle, ObsKind, Eq5Reduction, HeadsInit):
        for member in enum:
            assert member.value + "," in words or member.value + "." in words, member
    preprocess = text.split("--vlm-preprocess")[1].split("--baseline-prompt")[0]
    assert "[default: (ours;" in preprocess  # a choice, not the profile's name
    assert "<bool>" not in out and "…" not in out
