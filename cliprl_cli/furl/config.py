"""The settings of ``cliprl furl``: one dataclass, the variant table, and the CLI profiles as named instances of it.

``FurlConfig()`` is the paper's run (``PROFILES["paper"]``); the other profiles replace a few fields. ``cliprl furl
--profile NAME [options]`` builds ``dataclasses.replace(PROFILES[NAME], <the options given>)``, so
``run_furl(PROFILES[NAME])`` is exactly the run ``cliprl furl --profile NAME`` makes, and the command's option
defaults are read from here. Fixed sets of choices are enums, which ``--help`` lists and shell completion offers.

This module imports only the standard library and two light project modules (errors, and the task list of
:mod:`.env`, which imports no simulator at module level): ``cliprl_cli.commands.furl`` imports it at its top, and
``cliprl --help`` must not pay for torch or Meta-World.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from ..errors import CliprlError
from ..validate import check_furl
from .env import check_task

CHECKPOINT_EVERY_S = 300.0  # seconds between two checkpoints of a run (also written on SIGTERM/SIGUSR1)
LIV_MODEL = "liv"           # --vlm-model for LIV (cliprl_cli.furl.vlm.LIV_MODEL; repeated here: no torch import)
AUTHORS_GOAL_MARGIN = 0.25  # Eq. 5's m' in the authors' code (raw LIV embedding distances)
PAPER_GOAL_MARGIN = 0.2     # Eq. 5's m' in the paper's text
# Replay capacity per variant when --buffer-size is not given: the authors' FuRL script (the variants with reward
# heads) keeps 5e5 transitions; their SAC, LIV and Relay scripts keep 1e6 (the paper's Table 5 says 1e6 for all).
AUTHORS_BUFFER_HEADS = 500_000
AUTHORS_BUFFER_OTHERS = 1_000_000
# Fields that were not choices before the authors' behaviour became available: config.json and agent.json carry
# them only when they differ from the one behaviour there was, so that the files of runs that keep it (the
# cpu-small and default profiles) keep their bytes.
LEGACY_VALUES = {"eq5_reduction": "pairs", "heads_init": "torch", "vlm_quick_gelu": None, "goal_protocol": "mt1",
                 "vlm_crop": True, "relay_stop": "positive-frames", "eval_protocol": "ours",
                 "update_every": 1}
# The evaluation when --eval-every / --eval-episodes are not given. "ours": 10 episodes every 1e4 steps. "authors"
# (their train_*.py): an evaluation every max_timesteps // 10 steps (1e5 in a 1e6-step run), of 1 episode with a
# fixed goal (their goal-hidden runs) and 10 with random goals.
OURS_EVAL_EVERY, OURS_EVAL_EPISODES = 10_000, 10
AUTHORS_EVAL_POINTS = 10
AUTHORS_EVAL_EPISODES_FIXED, AUTHORS_EVAL_EPISODES_RANDOM = 1, 10


class Choice(str, Enum):
    """A fixed set of string choices that still reads as its value everywhere: ``str()``, f-strings, JSON, hashing
    and equality are the value's, so a member stands wherever the plain string stood (dict keys, file contents)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)

    __hash__ = str.__hash__


def as_choice(enum: type[Choice], value, what: str) -> Choice:
    """``value`` (a member or its string) as a member of ``enum``; else a one-line "unknown X" error."""
    try:
        return enum(value)
    except ValueError:
        raise CliprlError(f"unknown {what} {value!r}; known: {', '.join(m.value for m in enum)}") from None


@dataclass(frozen=True)
class VariantSpec:
    """What one variant trains with (see the table in :mod:`cliprl_cli.furl.train`)."""

    task: bool          # the task reward ``success - 1`` is part of the training reward
    vlm: str | None     # VLM reward kind: None, "zero-shot" (Eq. 2), "goal-baseline" (VLM-RM) or "heads" (Eq. 3)
    relay: bool         # relay exploration with a second, task-reward SAC agent
    heads: bool         # the reward heads f_L, f_I exist
    eq4: bool           # the heads are aligned with Eq. 4 once a success has been seen
    eq5: bool           # the heads are aligned with Eq. 5 (goal image) before that


VARIANTS: dict[str, VariantSpec] = {
    "sac": VariantSpec(task=True, vlm=None, relay=False, heads=False, eq4=False, eq5=False),
    "vlm-rm": VariantSpec(task=False, vlm="zero-shot", relay=False, heads=False, eq4=False, eq5=False),
    "vlm-rm-gb": VariantSpec(task=False, vlm="goal-baseline", relay=False, heads=False, eq4=False, eq5=False),
    "vlm": VariantSpec(task=True, vlm="zero-shot", relay=False, heads=False, eq4=False, eq5=False),
    "vlm-proj": VariantSpec(task=True, vlm="heads", relay=False, heads=True, eq4=False, eq5=False),
    "relay": VariantSpec(task=True, vlm="zero-shot", relay=True, heads=False, eq4=False, eq5=False),
    "furl-no-goal": VariantSpec(task=True, vlm="heads", relay=True, heads=True, eq4=True, eq5=False),
    "furl": VariantSpec(task=True, vlm="heads", relay=True, heads=True, eq4=True, eq5=True),
}

Variant = Choice("Variant", {name.upper().replace("-", "_"): name for name in VARIANTS})
Variant.__doc__ = "The FuRL variants and baselines (``--variant``): the keys of :data:`VARIANTS`."


class VlmPreprocess(Choice):
    """How frames and instructions reach the VLM (``--vlm-preprocess``; :mod:`cliprl_cli.furl.vlm`)."""

    AUTHORS = "authors"  # BGR, bilinear, raw embeddings, lower-case instruction without the final period
    OURS = "ours"        # RGB, bicubic, L2-normalised embeddings, the instruction as Table 4 writes it


PREPROCESS_STYLES = tuple(style.value for style in VlmPreprocess)  # cliprl_cli.furl.vlm reads them from here


class SacStyle(Choice):
    """How SAC is parameterised, initialised and ordered (``--sac-style``; :mod:`cliprl_cli.furl.sac`)."""

    AUTHORS = "authors"  # the FuRL authors' JAX code: softplus std + 1e-3, flax init, all steps from old parameters
    CLEANRL = "cleanrl"  # CleanRL/SB3: tanh-squashed log-std in [-5, 2], PyTorch init, critic stepped first


class Eq5Reduction(Choice):
    """How Eq. 5's hinge is reduced over the kept pairs (``--eq5-reduction``; :mod:`cliprl_cli.furl.rewards`)."""

    AUTHORS = "authors"  # summed over j, averaged over i (the authors' train_neg_step): K/B times "pairs"
    PAIRS = "pairs"      # averaged over the kept pairs (the paper's expectation)


class HeadsInit(Choice):
    """How the reward heads f_L, f_I start (``--heads-init``; :class:`cliprl_cli.furl.rewards.Heads`)."""

    FLAX = "flax"    # LeCun-normal weights, zero biases: the authors' Projection (flax defaults)
    TORCH = "torch"  # nn.Linear's default (Kaiming-uniform weights, uniform biases)


class GoalProtocol(Choice):
    """How the fixed goal is drawn and shown (``--goal-protocol``; :func:`cliprl_cli.furl.env.make_env`)."""

    AUTHORS = "authors"  # Meta-World's goal-hidden env (goal from the seeded rand-vec, zeros in the observation)
    MT1 = "mt1"          # the seeded MT1 wrapper's task (its goal in the observation)


class RelayStop(Choice):
    """When relay stops for good (``--relay-stop``; :func:`cliprl_cli.furl.acting.relay_still_on`)."""

    SUCCESS_STEPS = "success-steps"      # relay_threshold steps with task success (the authors' train_relay.py)
    POSITIVE_FRAMES = "positive-frames"  # relay_threshold positive frames in the alignment store (train_furl.py)


class EvalProtocol(Choice):
    """The default evaluation cadence and size (``--eval-protocol``); explicit --eval-every/--eval-episodes win."""

    AUTHORS = "authors"  # every steps // 10 env steps; 1 episode with a fixed goal, 10 with random goals
    OURS = "ours"        # 10 episodes every 1e4 env steps


class ObsKind(Choice):
    """What the agent observes (``--obs``): the state (SAC) or the camera (DrQ, the paper's Section 5.4)."""

    STATE = "state"    # Meta-World's 39-d state; SAC (cliprl_cli.furl.sac)
    PIXELS = "pixels"  # stacked 84 px frames of the rendering camera; DrQ (cliprl_cli.furl.drq)


PIXEL_FIELDS = ("obs", "pixel_size", "frame_stack", "action_repeat", "pixel_buffer_size", "drq_feature_dim",
                "drq_pad", "drq_init_temperature", "amp")
SYNTHETIC_MODEL = "synthetic"  # --vlm-model of the synthetic VLM (cliprl_cli.furl.synthetic_vlm; no torch here)
SYNTHETIC_FIELDS = ("synthetic_misalignment", "synthetic_distract")


def config_json(cfg: "FurlConfig") -> dict:
    """``dataclasses.asdict(cfg)`` as the run's JSON files record it: the pixel fields only for a pixel run (a
    state run's config.json and agent.json hold no setting it does not use), and the fields of
    :data:`LEGACY_VALUES` only where they differ from the value they had before they were choices."""
    doc = dataclasses.asdict(cfg)
    if cfg.obs == "state":
        for name in PIXEL_FIELDS:
            doc.pop(name)
    if cfg.vlm_model != SYNTHETIC_MODEL:
        for name in SYNTHETIC_FIELDS:
            doc.pop(name)
    for name, legacy in LEGACY_VALUES.items():
        if doc[name] == legacy:
            doc.pop(name)
    return doc


class Device(Choice):
    """Where torch runs (``--device``); ``cuda:N`` names one GPU and is accepted too."""

    AUTO = "auto"  # CUDA when torch sees a GPU, else the CPU
    CPU = "cpu"
    CUDA = "cuda"


@dataclass
class FurlConfig:
    """One FuRL run: the task, the variant, and every setting. The defaults are the paper's run: its Table 5, and the
    authors' code where the paper leaves a choice open (Eq. 5's reduction, the heads' initialisation, the replay
    capacity per variant, QuickGELU for OpenAI weights, the goal-hidden environments, the Relay baseline's stop and
    uncropped frames, the evaluation cadence).

    The field order is the key order of ``config.json`` and of the ``config`` of ``agent.json``: keep it.
    """

    # ---- run
    task: str = "drawer-open-v3"            # Meta-World MT10 task (-v3 names; the paper's -v2 names are mapped)
    variant: Variant = Variant.FURL         # a key of VARIANTS
    seed: int = 0                           # seeds every RNG and picks the fixed goal
    steps: int = 1_000_000                  # environment steps in total (summed over the environments)
    out: str = "runs/furl"                  # output directory
    device: str = "auto"                    # auto, cpu, cuda or cuda:N
    num_envs: int = 1                       # environments stepped together; their frames are embedded as one batch
    # torch CPU threads; None: every core for `sac` (nothing renders while it trains), half the cores with a VLM
    # (the renderer, Mesa llvmpipe, runs on the CPU too). Not part of a checkpoint's identity.
    threads: int | None = None
    random_goal: bool = False               # a new goal every episode (the paper's Table 2)
    # GoalProtocol: "authors" (Meta-World's goal-hidden env, goal zeroed in the observation; goal-observable with
    # --random-goal) or "mt1" (the seeded MT1 task's goal, visible)
    goal_protocol: GoalProtocol = GoalProtocol.AUTHORS
    instruction: str | None = None          # None: the task's instruction from the paper's Table 4
    # ---- rendering and VLM
    camera: str = "corner2"                 # Meta-World camera of the frames (the authors' camera 2)
    # Side of the rendered frame in pixels, before the VLM's centre crop to 75% (vlm.CROP_FRACTION) and its own
    # resize. 256 is the authors' render size (they render 256 px and crop 192), so the default is paper-faithful.
    image_size: int = 256
    fast_render: bool = False               # shadows, reflections and multisampling off (much faster on Mesa)
    vlm_model: str = "RN50"                 # open_clip model name, or cliprl-tiny (tests, smoke runs)
    vlm_pretrained: str | None = "openai"   # open_clip pretrained tag, or "none" for RANDOM weights
    vlm_checkpoint: str | None = None       # local state-dict file (overrides vlm_pretrained); LIV: its model.pt
    # build the VLM with QuickGELU (OpenAI's CLIP and LIV were trained with it); None: on for LIV, the `openai` tag
    # and a local checkpoint of an architecture OpenAI released (cliprl_cli.furl.vlm.needs_quick_gelu)
    vlm_quick_gelu: bool | None = None
    # VLM preprocessing (vlm.PREPROCESS_STYLES): "authors" (BGR, bilinear, raw embeddings, lower-case prompt) or
    # "ours" (RGB, bicubic, unit-norm, Table 4 text); None: "authors" for LIV, "ours" otherwise (set by validate)
    vlm_preprocess: VlmPreprocess | None = None
    # centre-crop frames to 75% before the VLM; None: no crop for the relay variant (the authors' train_relay.py
    # embeds the whole render), the crop otherwise (their train_furl.py); set by validate
    vlm_crop: bool | None = None
    baseline_prompt: str = "A robot arm on a table."  # baseline prompt b of the vlm-rm-gb variant
    gb_alpha: float = 0.5                   # goal-baseline projection strength (vlm-rm-gb)
    goal_cache: str | None = None           # goal-image cache directory; None: ~/.cache/cliprl/furl-goals
    # ---- SAC, the paper's Table 5
    hidden: int = 256                       # hidden units of the actor and critic MLPs
    lr: float = 1e-4                        # Adam learning rate (SAC and the reward heads)
    batch_size: int = 256                   # SAC (and alignment) batch size
    tau: float = 0.01                       # target-critic soft-update rate
    gamma: float = 0.99                     # discount
    # replay capacity (transitions); None: the authors' per variant, 5e5 with reward heads (their FuRL script), 1e6
    # otherwise (their SAC, LIV and Relay scripts; the paper's Table 5 says 1e6); set by validate
    buffer_size: int | None = None
    random_steps: int = 10_000              # uniform-random steps before learning starts
    # gradient passes every N environment-step passes (update-to-data ratio 1/N; 1: the paper's one per step). A
    # CPU bench knob: fewer updates per step buys more environment steps (exploration) for the same compute.
    update_every: int = 1
    # SAC parameterisation, init and update order (SacStyle); "authors" since this is a reproduction
    sac_style: SacStyle = SacStyle.AUTHORS
    # ---- FuRL
    rho: float = 0.05                       # VLM reward weight in r_task + rho r_vlm
    margin: float = 0.1                     # ranking-loss margin m (Eqs. 4 and 5)
    # goal-distance margin m' of Eq. 5's pair mask; None: 0.25 with the authors' preprocessing (their code, on raw
    # LIV distances), 0.2 with ours (the paper's text, on unit-norm distances); set by validate
    goal_margin: float | None = None
    lag: int = 10                           # k of Eq. 4's pos-pos pairs (frame i vs frame i-k)
    eq5_reduction: str = "authors"          # Eq5Reduction: "authors" (sum over j, mean over i) or "pairs" (mean)
    heads_init: str = "flax"                # HeadsInit: "flax" (the authors' Projection) or "torch" (nn.Linear's)
    relay_threshold: int = 2500             # relay stops for good after this many positive frames / success steps
    # RelayStop: what relay_threshold counts; None: success steps for the relay variant (the authors'
    # train_relay.py), positive frames for FuRL (train_furl.py); set by validate
    relay_stop: RelayStop | None = None
    relay_noise: float = 0.2                # Gaussian action noise of the task-reward agent during relay
    align_capacity: int = 20_000            # frames kept per kind (positive, negative) for alignment
    # ---- evaluation and logging
    # EvalProtocol: the defaults of the next two fields: "authors" (every steps // 10 steps; 1 episode with a fixed
    # goal, 10 with random goals) or "ours" (10 episodes every 1e4 steps)
    eval_protocol: EvalProtocol = EvalProtocol.AUTHORS
    eval_every: int | None = None           # evaluate (and write a curve point) every N env steps; None: the protocol's
    eval_episodes: int | None = None        # episodes per evaluation; None: the protocol's; set by validate
    sample_frames: int = 4                  # training frames saved under frames/ (evenly spaced)
    quiet: bool = False                     # no progress output
    # ---- pixels (the paper's Section 5.4, Table 5's DrQ rows; cliprl_cli.furl.drq, cliprl_cli.furl.frames). These
    # fields reach config.json and agent.json only when obs == "pixels" (config_json), so the state agent's files
    # keep their bytes.
    obs: ObsKind = ObsKind.STATE            # the agent's input: "state" (SAC on the 39-d state) or "pixels" (DrQ)
    pixel_size: int = 84                    # side of the agent's frames, area-averaged from the rendered frame
    frame_stack: int = 3                    # frames per observation
    action_repeat: int = 2                  # environment steps per agent step (the action repeated)
    pixel_buffer_size: int = 200_000        # frame-buffer capacity (frames, reset frames included); Table 5: 2e5
    drq_feature_dim: int = 50               # the encoder's embedding (linear + LayerNorm + tanh)
    drq_pad: int = 4                        # random-shift padding in pixels
    drq_init_temperature: float = 0.1       # DrQ's initial alpha (DrQ's and jaxrl's value)
    amp: bool = False                       # bfloat16 autocast of DrQ's conv trunk on CUDA (CPU: ignored)
    # ---- the synthetic VLM (--vlm-model synthetic, cliprl_cli.furl.synthetic_vlm): embeds the state, renders nothing.
    # These fields reach config.json and agent.json only when vlm_model == "synthetic" (config_json).
    synthetic_misalignment: float = 0.0     # a: 0 the instruction points at the goal, 1 at a wrong target
    synthetic_distract: float = 0.25        # beta: scale of the per-step distractor features

    def validate(self) -> None:
        """Check the values (one-line :class:`CliprlError` each); map a ``-v2`` task name to ``-v3``."""
        self.task = check_task(self.task)
        if self.vlm_checkpoint == "":
            self.vlm_checkpoint = None  # the pipeline passes "" for "no checkpoint"
        # written resolved into config.json
        self.vlm_preprocess = as_choice(VlmPreprocess, self.preprocess_style, "VLM preprocessing")
        self.goal_margin = self.eq5_margin
        self.sac_style = as_choice(SacStyle, self.sac_style, "SAC style")
        if self.variant not in VARIANTS:
            raise CliprlError(f"unknown variant {self.variant!r}; known variants: {', '.join(VARIANTS)}")
        self.variant = Variant(self.variant)
        self.resolve_protocols()
        for name, enum in (("eq5_reduction", Eq5Reduction), ("heads_init", HeadsInit)):
            if getattr(self, name) not in [e.value for e in enum]:
                raise CliprlError(f"unknown --{name.replace('_', '-')} {getattr(self, name)!r}; known: "
                                  f"{', '.join(e.value for e in enum)}")
        self.buffer_size = self.replay_capacity  # written resolved into config.json
        for name in ("steps", "num_envs", "image_size", "batch_size", "buffer_size", "eval_every", "eval_episodes",
                     "hidden", "update_every"):
            if getattr(self, name) < 1:
                raise CliprlError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.random_steps < 0:
            raise CliprlError(f"--random-steps must be >= 0, got {self.random_steps}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise CliprlError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        check_furl(self)  # every float finite; rates, margins and weights in range (cliprl_cli.validate)
        self.validate_synthetic()
        self.validate_pixels()

    def resolve_protocols(self) -> None:
        """The goal, relay and evaluation protocols as members, and the fields left None set from them and the
        variant (written resolved into config.json)."""
        self.goal_protocol = as_choice(GoalProtocol, self.goal_protocol, "goal protocol")
        self.eval_protocol = as_choice(EvalProtocol, self.eval_protocol, "evaluation protocol")
        relay_baseline = self.variant == "relay"
        if self.relay_stop is None:
            self.relay_stop = RelayStop.SUCCESS_STEPS if relay_baseline else RelayStop.POSITIVE_FRAMES
        self.relay_stop = as_choice(RelayStop, self.relay_stop, "relay stop")
        if self.vlm_crop is None:
            self.vlm_crop = not relay_baseline
        authors = self.eval_protocol == "authors"
        if self.eval_every is None:
            self.eval_every = max(1, self.steps // AUTHORS_EVAL_POINTS) if authors else OURS_EVAL_EVERY
        if self.eval_episodes is None:
            if authors:
                self.eval_episodes = AUTHORS_EVAL_EPISODES_RANDOM if self.random_goal else AUTHORS_EVAL_EPISODES_FIXED
            else:
                self.eval_episodes = OURS_EVAL_EPISODES

    def validate_synthetic(self) -> None:
        """The synthetic VLM's knobs, and the runs it can serve (its instruction is built from the one fixed goal,
        and it reads the state): one-line errors."""
        if not 0.0 <= self.synthetic_misalignment <= 1.0:
            raise CliprlError(f"--synthetic-misalignment must be in [0, 1], got {self.synthetic_misalignment}")
        if not 0.0 <= self.synthetic_distract < float("inf"):
            raise CliprlError(f"--synthetic-distract must be finite and >= 0, got {self.synthetic_distract}")
        if self.vlm_model != SYNTHETIC_MODEL:
            return
        if self.random_goal or self.obs != "state" or self.variant == "vlm-rm-gb" or self.goal_protocol != "mt1":
            raise CliprlError("--vlm-model synthetic serves fixed-goal state runs with --goal-protocol mt1 (not "
                              "--random-goal, --obs pixels, the authors' goal-hidden goals, or the vlm-rm-gb variant, "
                              "whose baseline prompt it cannot embed)")

    def validate_pixels(self) -> None:
        """The pixel settings (``--obs pixels``): one-line errors; nothing is checked for state runs."""
        self.obs = as_choice(ObsKind, self.obs, "observation kind")
        if self.obs != "pixels":
            return
        if not 16 <= self.pixel_size <= 512:
            raise CliprlError(f"--pixel-size must be in [16, 512] (DrQ's encoder needs >= 15 px), "
                              f"got {self.pixel_size}")
        if self.pixel_size > self.image_size:
            raise CliprlError(f"--pixel-size {self.pixel_size} is larger than the rendered frame (--image-size "
                              f"{self.image_size}): the agent's frame is cut from the one rendered frame; render at "
                              f"least {self.pixel_size} px")
        for name, top in (("frame_stack", 16), ("action_repeat", 16)):
            if not 1 <= getattr(self, name) <= top:
                raise CliprlError(f"--{name.replace('_', '-')} must be in [1, {top}], got {getattr(self, name)}")
        if self.pixel_buffer_size < self.frame_stack + 1:
            raise CliprlError(f"--pixel-buffer-size must be >= --frame-stack + 1, got {self.pixel_buffer_size}")
        if not 1 <= self.drq_feature_dim <= 4096 or not 0 <= self.drq_pad <= 64:
            raise CliprlError("DrQ's feature dimension must be in [1, 4096] and its padding in [0, 64]")
        if not (0.0 < self.drq_init_temperature < float("inf")):
            raise CliprlError(f"DrQ's initial temperature must be finite and > 0, got {self.drq_init_temperature}")

    @property
    def preprocess_style(self) -> str:
        """``vlm_preprocess``, or its default when None: ``authors`` for LIV, ``ours`` otherwise."""
        if self.vlm_preprocess is not None:
            return self.vlm_preprocess
        return VlmPreprocess.AUTHORS if self.vlm_model == LIV_MODEL else VlmPreprocess.OURS

    @property
    def eq5_margin(self) -> float:
        """``goal_margin``, or its default when None: 0.25 with the authors' preprocessing, 0.2 with ours."""
        if self.goal_margin is not None:
            return self.goal_margin
        return AUTHORS_GOAL_MARGIN if self.preprocess_style == "authors" else PAPER_GOAL_MARGIN

    @property
    def replay_capacity(self) -> int:
        """``buffer_size``, or its default when None: the authors' capacity for the variant (5e5 for the variants
        with reward heads, their FuRL script's; 1e6 for the others, their SAC, LIV and Relay scripts')."""
        if self.buffer_size is not None:
            return self.buffer_size
        return AUTHORS_BUFFER_HEADS if VARIANTS[self.variant].heads else AUTHORS_BUFFER_OTHERS

    @property
    def spec(self) -> VariantSpec:
        """The variant's row of :data:`VARIANTS`."""
        return VARIANTS[self.variant]


# What the CPU profiles keep from before the authors' behaviour was the paper profile's: Eq. 5 averaged over the
# kept pairs, PyTorch's heads initialisation, a 1e6 replay buffer for every variant (their outputs keep their bytes).
# The same for the goal (the seeded MT1 task's), relay (positive frames), the VLM crop and evaluation (ours).
_KEPT = dict(eq5_reduction="pairs", heads_init="torch", buffer_size=1_000_000, goal_protocol=GoalProtocol.MT1,
             vlm_crop=True, relay_stop=RelayStop.POSITIVE_FRAMES, eval_protocol=EvalProtocol.OURS)

PROFILES: dict[str, FurlConfig] = {
    # The paper's budget (GPU work): 1e6 steps, 256 px frames, OpenAI's CLIP RN50, the authors' code's choices.
    "paper": FurlConfig(),
    # Sized for a workstation CPU with the paper's CLIP (needs its weights: online, cached, or --vlm-checkpoint).
    "default": dataclasses.replace(FurlConfig(), steps=20_000, random_steps=5_000, eval_every=5_000,
                                   eval_episodes=5, image_size=128, **_KEPT),
    # Offline anywhere with a tiny random-weight VLM: plumbing tests and smoke runs (the pipeline's FuRL stages).
    "cpu-small": dataclasses.replace(FurlConfig(), steps=3_000, random_steps=1_000, eval_every=1_000,
                                     eval_episodes=2, image_size=64, vlm_model="cliprl-tiny", vlm_pretrained="none",
                                     fast_render=True, **_KEPT),
}
DEFAULT_PROFILE = "default"

Profile = Choice("Profile", {name.upper().replace("-", "_"): name for name in PROFILES})
Profile.__doc__ = "The named configurations of ``cliprl furl --profile``: the keys of :data:`PROFILES`."


def profile_config(name: str, **given) -> FurlConfig:
    """``PROFILES[name]`` with the fields in ``given`` replaced (None values mean "not given" and are skipped)."""
    if name not in PROFILES:
        raise CliprlError(f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}")
    return dataclasses.replace(PROFILES[name], **{k: v for k, v in given.items() if v is not None})
