"""`cliprl furl`: train one Meta-World task with one FuRL variant (thin: options -> cliprl_cli.furl.train.run_furl).

The run is ``PROFILES[--profile]`` (:mod:`cliprl_cli.furl.config`) with the options given on the command line
replaced: every option defaults to "not given", and ``--help`` shows the value the default profile has.

Every option is one row of :data:`FURL_OPTIONS`; the command's parameters (and so ``--help``) and the fields handed
to :func:`~cliprl_cli.furl.config.profile_config` are both built from that table, so adding a FuRL option is one
``FurlConfig`` field and one row.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from ..furl.config import (CHECKPOINT_EVERY_S, DEFAULT_PROFILE, LIV_MODEL, PROFILES, Device, Eq5Reduction,
                           HeadsInit, ObsKind, Profile, SacStyle, Variant, VlmPreprocess, profile_config)
from ..furl.config import EvalProtocol, GoalProtocol, RelayStop
from .common import TENSORBOARD_HELP

_DEFAULT = PROFILES[DEFAULT_PROFILE]
_RUN, _ENV, _VLM, _SAC, _FURL, _EVAL = "Run", "Environment", "VLM", "SAC", "FuRL", "Evaluation"
_PIX = "Pixels (DrQ)"


@dataclass(frozen=True)
class FurlOption:
    """One ``cliprl furl`` option.

    ``name`` is the command's parameter and, unless ``to_config`` is False, the :class:`FurlConfig` field it
    replaces. ``kind`` is its type (``bool``: an on/off pair when ``flags`` names one, else a flag that can only
    turn the field on; an :class:`~enum.Enum`: one of its values). ``shown`` overrides the default ``--help``
    shows (by default the default profile's value, marked when the profiles differ; nothing when it is None).
    """

    name: str
    flags: tuple[str, ...]
    kind: type
    panel: str
    help: str
    to_config: bool = True
    shown: str | bool | None = None
    typer_kw: dict = field(default_factory=dict)


def _o(name: str, kind: type, panel: str, help: str, *flags: str, **kw) -> FurlOption:
    return FurlOption(name, flags or ("--" + name.replace("_", "-"),), kind, panel, help, **kw)


FURL_OPTIONS: tuple[FurlOption, ...] = (
    _o("task", str, _RUN, "Meta-World MT10 task (-v3 names; -v2 accepted)."),
    _o("variant", Variant, _RUN, "FuRL variant or baseline (see cliprl_cli.furl.train)."),
    _o("seed", int, _RUN, "Random seed (also picks the fixed goal)."),
    _o("out", str, _RUN, "Output directory (curve.json, agent.safetensors, ...)."),
    _o("profile", Profile, _RUN, "Named configuration the other options replace fields of: default (workstation "
       "CPU), paper (1e6 steps, 256 px) or cpu-small (3k steps, 64 px, tiny random VLM).", to_config=False,
       shown=DEFAULT_PROFILE),
    _o("steps", int, _RUN, "Environment steps in total."),
    _o("device", str, _RUN, "auto, cpu, cuda or cuda:N.",
       typer_kw=dict(autocompletion=lambda: [d.value for d in Device])),
    _o("threads", int, _RUN, "torch CPU threads (default: every core for `sac`, which renders nothing while "
       "training; half the cores for the VLM variants, leaving the rest to the renderer)."),
    _o("checkpoint_every", float, _RUN, "Seconds between two checkpoints of the run (checkpoint.safetensors in OUT; "
       "also written on SIGTERM/SIGUSR1, then exit 75; rerunning the same command resumes).", to_config=False,
       typer_kw=dict(default=CHECKPOINT_EVERY_S, min=0.0)),
    _o("quiet", bool, _RUN, "No progress output.", "--quiet", "-q"),
    _o("tensorboard", Path, _RUN, TENSORBOARD_HELP,
       to_config=False, typer_kw=dict(metavar="DIR")),
    _o("num_envs", int, _ENV, "Environments stepped together; their frames are embedded as one batch."),
    _o("random_goal", bool, _ENV, "New goal every episode (paper Table 2)."),
    _o("goal_protocol", GoalProtocol, _ENV, "authors: Meta-World's goal-hidden environments, as the FuRL authors "
       "build them (goal drawn from the seed, zeros in the observation; goal-observable with --random-goal); mt1: "
       "the seeded MT1 task's goal, visible in the observation."),
    _o("image_size", int, _ENV, "Rendered frame side in px, before the VLM's 75% centre crop (the authors render "
       "256)."),
    _o("camera", str, _ENV, "Meta-World camera for the VLM (paper: corner2)."),
    _o("fast_render", bool, _ENV, "Turn the renderer's shadows, reflections and multisampling off: several times "
       "faster on Mesa.", "--fast-render/--full-render", "--no-shadows/--shadows"),
    _o("instruction", str, _VLM, "Override the task's instruction (default: the paper's Table 4)."),
    _o("vlm_model", str, _VLM, f"open_clip model name, {LIV_MODEL} (LIV, the paper's Table 1 VLM; needs "
       "--vlm-checkpoint), cliprl-tiny, or synthetic (a SYNTHETIC VLM of the state, cliprl_cli.furl.synthetic_vlm)."),
    _o("vlm_pretrained", str, _VLM, "open_clip pretrained tag, or 'none' for RANDOM weights (paper: openai)."),
    _o("vlm_checkpoint", str, _VLM, "Local open_clip state-dict file (overrides --vlm-pretrained); with --vlm-model "
       f"{LIV_MODEL}, LIV's official model.pt or its safetensors conversion."),
    _o("vlm_preprocess", VlmPreprocess, _VLM, "authors: BGR frames, bilinear resize, raw embeddings, lower-case "
       "instruction (the FuRL authors' LIV input); ours: RGB, bicubic, unit-norm embeddings, Table 4 text.",
       shown=f"{_DEFAULT.preprocess_style}; {VlmPreprocess.AUTHORS.value} with --vlm-model {LIV_MODEL}"),
    _o("vlm_crop", bool, _VLM, "Centre-crop frames to 75% before the VLM, or embed the whole render (the paper "
       "profile: no crop for the relay variant, as the authors' Relay script).", "--vlm-crop/--vlm-no-crop",
       shown="crop; the paper profile's relay: no crop"),
    _o("vlm_quick_gelu", bool, _VLM, "Build the VLM with QuickGELU (OpenAI's activation) or GELU; default: "
       "QuickGELU for OpenAI-architecture weights, however they are loaded.", "--vlm-quick-gelu/--vlm-gelu",
       shown="automatic"),
    _o("synthetic_misalignment", float, _VLM, "With --vlm-model synthetic (a SYNTHETIC VLM that embeds the state; "
       "nothing renders): 0 points its instruction at the goal, 1 at a wrong target."),
    _o("synthetic_distract", float, _VLM, "With --vlm-model synthetic: scale of its per-step distractor features."),
    _o("baseline_prompt", str, _VLM, "Baseline prompt b of the vlm-rm-gb variant."),
    _o("gb_alpha", float, _VLM, "Goal-baseline projection strength a (vlm-rm-gb)."),
    _o("goal_cache", str, _VLM, "Goal-image cache directory (default ~/.cache/cliprl/furl-goals)."),
    _o("hidden", int, _SAC, "Hidden units of the actor and critic MLPs (paper 256)."),
    _o("batch_size", int, _SAC, "SAC batch size (paper 256)."),
    _o("buffer_size", int, _SAC, "Replay capacity in transitions (paper 1e6; the paper profile takes the authors' per "
       "variant: 5e5 with reward heads, 1e6 otherwise)."),
    _o("random_steps", int, _SAC, "Uniform-random steps before learning (paper 10k)."),
    _o("update_every", int, _SAC, "Gradient passes every N environment steps (update-to-data ratio 1/N; paper 1)."),
    _o("sac_style", SacStyle, _SAC, "authors: the FuRL authors' SAC (softplus std + 1e-3, flax init, actor and "
       "critic stepped from the same old parameters); cleanrl: log-std squashed into [-5, 2], PyTorch init, critic "
       "first."),
    _o("rho", float, _FURL, "VLM reward weight in r_task + rho r_vlm (paper 0.05)."),
    _o("eq5_reduction", Eq5Reduction, _FURL, "How Eq. 5's hinge is reduced: authors (summed over j, averaged over "
       "i, as the authors' code) or pairs (averaged over the kept pairs, K/B times smaller)."),
    _o("heads_init", HeadsInit, _FURL, "How the reward heads start: flax (LeCun-normal weights, zero biases, the "
       "authors') or torch (nn.Linear's default)."),
    _o("relay_stop", RelayStop, _FURL, "What stops relay for good after 2,500: success-steps (steps with task "
       "success, the authors' Relay script) or positive-frames (frames in the alignment store, their FuRL script; "
       "default; the paper profile's relay variant: success-steps).", shown="from --profile and --variant"),
    _o("goal_margin", float, _FURL, "Eq. 5's goal-distance margin m' (default: 0.25 with the authors' "
       "preprocessing, as in their code; 0.2 with ours, the paper's text)."),
    _o("eval_protocol", EvalProtocol, _EVAL, "Defaults of the next two: authors (every steps/10 env steps, 1 "
       "episode with a fixed goal, 10 with random goals; the authors' scripts) or ours (10 episodes every 1e4 "
       "steps)."),
    _o("eval_every", int, _EVAL, "Evaluate every N env steps."),
    _o("eval_episodes", int, _EVAL, "Episodes per evaluation."),
    _o("obs", ObsKind, _PIX, "state: SAC on Meta-World's state; pixels: DrQ on stacked frames of the rendering "
       "camera (the paper's Section 5.4; sac = DrQ alone, furl = DrQ + aligned VLM reward + relay)."),
    _o("pixel_size", int, _PIX, "Side of the agent's frames, area-averaged from the one rendered frame "
       "(<= --image-size)."),
    _o("frame_stack", int, _PIX, "Frames per observation."),
    _o("action_repeat", int, _PIX, "Environment steps per agent step."),
    _o("pixel_buffer_size", int, _PIX, "Frame-buffer capacity in frames (paper 2e5)."),
    _o("amp", bool, _PIX, "bfloat16 autocast of DrQ's conv trunk on CUDA (ignored on the CPU).", "--amp/--no-amp"),
)

# what the parser's one-line error calls each choice option
_CHOICE_WORDS = {"variant": "variant", "profile": "profile", "vlm_preprocess": "VLM preprocessing",
                 "sac_style": "SAC style", "obs": "observation kind", "eq5_reduction": "Eq. 5 reduction",
                 "heads_init": "heads initialisation", "goal_protocol": "goal protocol",
                 "relay_stop": "relay stop", "eval_protocol": "evaluation protocol"}


def _shown(name: str) -> str | bool:
    """What ``--help`` shows as a field's default: the default profile's value, and whether profiles differ."""
    value = getattr(_DEFAULT, name)
    if value is None:
        return False
    values = {repr(getattr(cfg, name)) for cfg in PROFILES.values()}
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


def _on_off(opt: FurlOption) -> bool:
    """A bool option with an on and an off spelling (``--amp/--no-amp``), rather than a flag that only turns on."""
    return any("/" in f for f in opt.flags)


def _typer_option(opt: FurlOption) -> Any:
    """The ``typer.Option`` of one table row."""
    kw: dict[str, Any] = dict(help=opt.help, rich_help_panel=opt.panel)
    kw.update(opt.typer_kw)
    default = kw.pop("default", None)
    flag_only = opt.kind is bool and not _on_off(opt)
    if flag_only:
        default = False
    if isinstance(opt.kind, type) and issubclass(opt.kind, Enum):
        choices = [m.value for m in opt.kind]
        # the choices go into the help text, where they wrap between words at any width
        kw.update(parser=_choice(opt.kind, _CHOICE_WORDS[opt.name]), metavar="<choice>",
                  autocompletion=lambda: choices, help=f"{opt.help} Choices: {', '.join(choices)}.")
    elif opt.kind is bool:
        kw.setdefault("metavar", "")
    if opt.shown is not None:
        kw["show_default"] = opt.shown
    elif opt.to_config and not flag_only and default is None:
        kw["show_default"] = _shown(opt.name)
    return typer.Option(default, *opt.flags, **kw)


def _annotation(opt: FurlOption) -> Any:
    if opt.kind is bool and not _on_off(opt):
        return bool
    if "default" in opt.typer_kw:
        return opt.kind
    return Optional[opt.kind]


def given_fields(options: dict[str, Any]) -> dict[str, Any]:
    """The FurlConfig fields the command line set (choices as their enum members); an off flag and None are "not
    given"."""
    return {opt.name: value for opt in FURL_OPTIONS if opt.to_config
            if (value := options[opt.name]) is not None and (value is not False or _on_off(opt))}


def run_command(options: dict[str, Any]) -> None:
    """Run the configured training and print its one-line result."""
    from ..furl.train import run_furl
    from ..tblog import export_furl, require
    from ..validate import check_float

    tensorboard, checkpoint_every = options["tensorboard"], options["checkpoint_every"]
    require(tensorboard)
    check_float("checkpoint_every", checkpoint_every, ge=0.0)  # click's min=0 lets inf through
    cfg = profile_config((options["profile"] or Profile(DEFAULT_PROFILE)).value, **given_fields(options))
    summary = run_furl(cfg, checkpoint_every_s=checkpoint_every)
    if tensorboard is not None:
        export_furl(tensorboard, cfg.out)
    if not cfg.quiet:
        final = summary.get("final", {})
        typer.echo(f"{summary['task']} {summary['variant']} seed {summary['seed']}: "
                   f"success_any={final.get('success_any')} success_last={final.get('success_last')} after "
                   f"{summary['steps']} steps ({summary['env_steps_per_s']} steps/s) -> {cfg.out}")


def furl_command(**options: Any) -> None:
    """Train SAC with (fuzzy) VLM rewards on one Meta-World task: FuRL and the paper's baselines.

    Preemption-safe: a checkpoint is written every --checkpoint-every seconds and on SIGTERM/SIGUSR1 (between two
    environment steps), then the command exits 75; running the same command again resumes, with the same final
    bytes on the CPU. A corrupt checkpoint is reported, renamed *.corrupt-<time>, and the run starts afresh."""
    run_command(options)


# Typer reads the parameters from the signature: one keyword parameter per row of the table.
furl_command.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    inspect.Parameter(opt.name, inspect.Parameter.KEYWORD_ONLY, default=_typer_option(opt), annotation=_annotation(opt))
    for opt in FURL_OPTIONS])
furl_command.__annotations__ = {opt.name: _annotation(opt) for opt in FURL_OPTIONS} | {"return": None}
