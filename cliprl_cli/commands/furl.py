"""`cliprl furl`: train one Meta-World task with one FuRL variant (thin: options -> cliprl_cli.furl.train.run_furl).

The run is ``PROFILES[--profile]`` (:mod:`cliprl_cli.furl.config`) with the options given on the command line
replaced: every option defaults to "not given", and ``--help`` shows the value the default profile has.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from ..furl.config import (CHECKPOINT_EVERY_S, DEFAULT_PROFILE, PROFILES, Device, ObsKind, Profile, SacStyle,
                           Variant, VlmPreprocess, profile_config)

_DEFAULT = PROFILES[DEFAULT_PROFILE]
_RUN, _ENV, _VLM, _SAC, _FURL, _EVAL = "Run", "Environment", "VLM", "SAC", "FuRL", "Evaluation"
_PIX = "Pixels (DrQ)"


def _shown(field: str) -> str:
    """What ``--help`` shows as an option's default: the default profile's value, and whether profiles differ."""
    values = {repr(getattr(cfg, field)) for cfg in PROFILES.values()}
    value = getattr(_DEFAULT, field)
    return f"{value}, from --profile" if len(values) > 1 else str(value)


def _choice(enum: type[Enum], what: str):
    """A parser that keeps the one-line "unknown X 'y'; known Xs: ..." message for a value outside ``enum``."""
    def parse(value):
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError:
            raise typer.BadParameter(f"unknown {what} {value!r}; known {what}s: "
                                     f"{', '.join(m.value for m in enum)}") from None
    return parse


def _choice_option(enum: type[Enum], what: str, *names: str, field: str | None = None, **kw):
    choices = [m.value for m in enum]
    return typer.Option(None, *names, parser=_choice(enum, what), metavar="<" + "|".join(choices) + ">",
                        autocompletion=lambda: choices, show_default=_shown(field) if field else DEFAULT_PROFILE,
                        **kw)


def _option(field: str, *names: str, **kw):
    return typer.Option(None, *names, show_default=_shown(field), **kw)


def furl_command(
    task: Optional[str] = _option("task", "--task", help="Meta-World MT10 task (-v3 names; -v2 accepted).",
                                  rich_help_panel=_RUN),
    variant: Optional[Variant] = _choice_option(Variant, "variant", "--variant", field="variant",
                                                help="FuRL variant or baseline (see cliprl_cli.furl.train).",
                                                rich_help_panel=_RUN),
    seed: Optional[int] = _option("seed", "--seed", help="Random seed (also picks the fixed goal).",
                                  rich_help_panel=_RUN),
    out: Optional[str] = _option("out", "--out", help="Output directory (curve.json, agent.safetensors, ...).",
                                 rich_help_panel=_RUN),
    profile: Optional[Profile] = _choice_option(Profile, "profile", "--profile",
                                                help="Named configuration the other options replace fields of: "
                                                "default (workstation CPU), paper (1e6 steps, 256 px) or cpu-small "
                                                "(3k steps, 64 px, tiny random VLM).", rich_help_panel=_RUN),
    steps: Optional[int] = _option("steps", "--steps", help="Environment steps in total.", rich_help_panel=_RUN),
    device: Optional[str] = _option("device", "--device", help="auto, cpu, cuda or cuda:N.",
                                    autocompletion=lambda: [d.value for d in Device], rich_help_panel=_RUN),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (default: every core for "
                                          "`sac`, which renders nothing while training; half the cores for the "
                                          "VLM variants, leaving the rest to the renderer).", rich_help_panel=_RUN),
    checkpoint_every: float = typer.Option(CHECKPOINT_EVERY_S, "--checkpoint-every", min=0.0,
                                           help="Seconds between checkpoints to OUT/checkpoint.safetensors (also "
                                                "written on SIGTERM/SIGUSR1, then exit 75; rerunning the same "
                                                "command resumes).", rich_help_panel=_RUN),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.", rich_help_panel=_RUN),
    tensorboard: Optional[Path] = typer.Option(None, "--tensorboard", metavar="DIR", rich_help_panel=_RUN,
                                               help="Also write the learning curves as TensorBoard scalars under DIR "
                                                    "once the run has finished (needs: pip install "
                                                    "'cliprl[tensorboard]'); keep DIR outside DVC-tracked outputs."),
    num_envs: Optional[int] = _option("num_envs", "--num-envs", help="Environments stepped together; their frames "
                                      "are embedded as one batch.", rich_help_panel=_ENV),
    random_goal: bool = typer.Option(False, "--random-goal", help="New goal every episode (paper Table 2).",
                                     rich_help_panel=_ENV),
    image_size: Optional[int] = _option("image_size", "--image-size", help="Rendered frame side in px, before the "
                                        "VLM's 75% centre crop (the authors render 256).", rich_help_panel=_ENV),
    camera: Optional[str] = _option("camera", "--camera", help="Meta-World camera for the VLM (paper: corner2).",
                                    rich_help_panel=_ENV),
    fast_render: Optional[bool] = typer.Option(None, "--fast-render/--full-render", "--no-shadows/--shadows",
                                               show_default=_shown("fast_render"),
                                               help="Turn the renderer's shadows, reflections and multisampling "
                                               "off: several times faster on Mesa.", rich_help_panel=_ENV),
    instruction: Optional[str] = typer.Option(None, "--instruction", help="Override the task's instruction "
                                              "(default: the paper's Table 4).", rich_help_panel=_VLM),
    vlm_model: Optional[str] = _option("vlm_model", "--vlm-model", help="open_clip model name, liv (LIV, the "
                                       "paper's Table 1 VLM; needs --vlm-checkpoint), or cliprl-tiny.",
                                       rich_help_panel=_VLM),
    vlm_pretrained: Optional[str] = _option("vlm_pretrained", "--vlm-pretrained", help="open_clip pretrained tag, "
                                            "or 'none' for RANDOM weights (paper: openai).", rich_help_panel=_VLM),
    vlm_checkpoint: Optional[str] = typer.Option(None, "--vlm-checkpoint", help="Local open_clip state-dict file "
                                                 "(overrides --vlm-pretrained); with --vlm-model liv, LIV's official "
                                                 "model.pt or its safetensors conversion.", rich_help_panel=_VLM),
    vlm_preprocess: Optional[VlmPreprocess] = _choice_option(
        VlmPreprocess, "VLM preprocessing", "--vlm-preprocess",
        help="authors: BGR frames, bilinear resize, raw embeddings, lower-case instruction (the FuRL authors' LIV "
        "input); ours: RGB, bicubic, unit-norm embeddings, Table 4 text. Default: authors for liv, else ours.",
        rich_help_panel=_VLM),
    baseline_prompt: Optional[str] = _option("baseline_prompt", "--baseline-prompt",
                                             help="Baseline prompt b of the vlm-rm-gb variant.", rich_help_panel=_VLM),
    gb_alpha: Optional[float] = _option("gb_alpha", "--gb-alpha", help="Goal-baseline projection strength a "
                                        "(vlm-rm-gb).", rich_help_panel=_VLM),
    goal_cache: Optional[str] = typer.Option(None, "--goal-cache", help="Goal-image cache directory "
                                             "(default ~/.cache/cliprl/furl-goals).", rich_help_panel=_VLM),
    batch_size: Optional[int] = _option("batch_size", "--batch-size", help="SAC batch size (paper 256).",
                                        rich_help_panel=_SAC),
    buffer_size: Optional[int] = _option("buffer_size", "--buffer-size", help="Replay capacity (paper 1e6).",
                                         rich_help_panel=_SAC),
    random_steps: Optional[int] = _option("random_steps", "--random-steps", help="Uniform-random steps before "
                                          "learning (paper 10k).", rich_help_panel=_SAC),
    sac_style: Optional[SacStyle] = _choice_option(SacStyle, "SAC style", "--sac-style", field="sac_style",
                                                   help="authors: the FuRL authors' SAC (softplus std + 1e-3, flax "
                                                   "init, actor and critic stepped from the same old parameters); "
                                                   "cleanrl: log-std squashed into [-5, 2], PyTorch init, critic "
                                                   "first.", rich_help_panel=_SAC),
    rho: Optional[float] = _option("rho", "--rho", help="VLM reward weight in r_task + rho r_vlm (paper 0.05).",
                                   rich_help_panel=_FURL),
    goal_margin: Optional[float] = typer.Option(None, "--goal-margin", help="Eq. 5's goal-distance margin m' "
                                                "(default: 0.25 with the authors' preprocessing, as in their code; "
                                                "0.2 with ours, the paper's text).", rich_help_panel=_FURL),
    eval_every: Optional[int] = _option("eval_every", "--eval-every", help="Evaluate every N env steps.",
                                        rich_help_panel=_EVAL),
    eval_episodes: Optional[int] = _option("eval_episodes", "--eval-episodes", help="Episodes per evaluation.",
                                           rich_help_panel=_EVAL),
    obs: Optional[ObsKind] = _choice_option(ObsKind, "observation kind", "--obs", field="obs",
                                            help="state: SAC on Meta-World's state; pixels: DrQ on stacked frames of "
                                            "the rendering camera (the paper's Section 5.4; sac = DrQ alone, furl = "
                                            "DrQ + aligned VLM reward + relay).", rich_help_panel=_PIX),
    pixel_size: Optional[int] = _option("pixel_size", "--pixel-size", help="Side of the agent's frames, "
                                        "area-averaged from the one rendered frame (<= --image-size).",
                                        rich_help_panel=_PIX),
    frame_stack: Optional[int] = _option("frame_stack", "--frame-stack", help="Frames per observation.",
                                         rich_help_panel=_PIX),
    action_repeat: Optional[int] = _option("action_repeat", "--action-repeat", help="Environment steps per "
                                           "agent step.", rich_help_panel=_PIX),
    pixel_buffer_size: Optional[int] = _option("pixel_buffer_size", "--pixel-buffer-size", help="Frame-buffer "
                                               "capacity in frames (paper 2e5).", rich_help_panel=_PIX),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", show_default=_shown("amp"),
                                       help="bfloat16 autocast of DrQ's conv trunk on CUDA (unmeasured).",
                                       rich_help_panel=_PIX),
) -> None:
    """Train SAC with (fuzzy) VLM rewards on one Meta-World task: FuRL and the paper's baselines.

    Preemption-safe: a checkpoint is written every --checkpoint-every seconds and on SIGTERM/SIGUSR1 (between two
    environment steps), then the command exits 75; running the same command again resumes, with the same final
    bytes on the CPU. A corrupt checkpoint is reported, renamed *.corrupt-<time>, and the run starts afresh."""
    from ..furl.train import run_furl
    from ..tblog import export_furl, require
    from ..validate import check_float

    require(tensorboard)
    check_float("checkpoint_every", checkpoint_every, ge=0.0)  # click's min=0 lets inf through

    cfg = profile_config(
        (profile or Profile(DEFAULT_PROFILE)).value,
        task=task, variant=variant.value if variant is not None else None, seed=seed, out=out, device=device,
        num_envs=num_envs, threads=threads, random_goal=random_goal or None, instruction=instruction, camera=camera,
        image_size=image_size, fast_render=fast_render, vlm_model=vlm_model, vlm_pretrained=vlm_pretrained,
        vlm_checkpoint=vlm_checkpoint, vlm_preprocess=vlm_preprocess.value if vlm_preprocess is not None else None,
        goal_margin=goal_margin, baseline_prompt=baseline_prompt, gb_alpha=gb_alpha, goal_cache=goal_cache,
        batch_size=batch_size, buffer_size=buffer_size, random_steps=random_steps,
        sac_style=sac_style.value if sac_style is not None else None, rho=rho, eval_every=eval_every,
        eval_episodes=eval_episodes, quiet=quiet or None, steps=steps, obs=obs.value if obs is not None else None,
        pixel_size=pixel_size, frame_stack=frame_stack, action_repeat=action_repeat,
        pixel_buffer_size=pixel_buffer_size, amp=amp)
    summary = run_furl(cfg, checkpoint_every_s=checkpoint_every)
    if tensorboard is not None:
        export_furl(tensorboard, cfg.out)
    if not cfg.quiet:
        final = summary.get("final", {})
        typer.echo(f"{summary['task']} {summary['variant']} seed {summary['seed']}: "
                   f"success_any={final.get('success_any')} success_last={final.get('success_last')} after "
                   f"{summary['steps']} steps ({summary['env_steps_per_s']} steps/s) -> {cfg.out}")
