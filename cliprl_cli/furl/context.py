"""What a FuRL run uses but does not change: its settings, environments, VLM, embeddings and output paths.

:class:`RunContext` is the read-only half of a run (the mutable half is :class:`cliprl_cli.furl.state.RunState`);
the helpers here resolve the settings that depend on the machine (device, torch threads) and the instruction text.
"""

from __future__ import annotations

import concurrent.futures
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from ..errors import CliprlError
from .config import FurlConfig, VariantSpec
from .env import close_env, render_upright
from .observation import OBSERVATIONS, Observation
from .vlm import VLM


def load_instruction(task: str) -> str:
    """The task's instruction from the paper's Table 4 (``cliprl_cli/data/furl_instructions.yaml``)."""
    table = yaml.safe_load(resources.files("cliprl_cli").joinpath("data/furl_instructions.yaml").read_text())
    return table[task]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when torch sees a GPU, else the CPU; a CUDA device asked for without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CliprlError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def default_threads(spec: VariantSpec) -> int:
    """torch CPU threads when ``--threads`` is not given.

    With a VLM, half the cores (at least 1), leaving the rest to the renderer (Mesa llvmpipe runs on the CPU too)
    and the environment: torch threads spinning against the renderer slow the tiny encoder down badly. Without one
    (``sac``) nothing renders while training, and every core goes to the update.
    """
    cores = os.cpu_count() or 2
    return max(1, cores // 2) if spec.vlm is not None else cores


@dataclass
class RunContext:
    """What a run uses but does not change (resources, not state): settings, environments, the VLM, embeddings."""

    cfg: FurlConfig
    spec: VariantSpec
    device: torch.device
    out: Path | None = None
    envs: list | None = None                 # the training environments (rendering when the variant has a VLM)
    eval_env: Any = None                     # the evaluation environment (renders only for the pixel agent)
    vlm: VLM | None = None
    text_emb: torch.Tensor | None = None     # instruction embedding (D,) on ``device``
    baseline_emb: torch.Tensor | None = None  # baseline-prompt embedding (vlm-rm-gb)
    goal_emb: torch.Tensor | None = None     # goal-image embedding (D,) on ``device`` (Eq. 5)
    goal_emb_cpu: torch.Tensor | None = None  # the same on the CPU (goal distances of new transitions)
    executor: concurrent.futures.Executor | None = None  # the embedding thread
    sample_at: frozenset = frozenset()       # env steps whose first frame is saved under frames/
    mark: dict | None = None                 # {"vlm_random_weights": ...}, heads every JSON artifact
    instruction: str = ""
    threads: int = 1
    ckpt_path: Path | None = None
    ckpt_config: dict | None = None          # what a checkpoint must match to be resumed
    render: Callable[[Any], np.ndarray] = render_upright  # env -> upright (H, W, 3) uint8 frame

    @property
    def uses_vlm(self) -> bool:
        return self.spec.vlm is not None

    @property
    def vlm_reads_state(self) -> bool:
        """The VLM embeds the environment's state, not frames (the synthetic VLM); a VLM object without the
        ``reads_state`` attribute embeds frames."""
        return self.vlm is not None and getattr(self.vlm, "reads_state", False)

    @property
    def observation(self) -> Observation:
        """How the agent sees the environment (``--obs``): :class:`~cliprl_cli.furl.observation.StateObs` or
        :class:`~cliprl_cli.furl.observation.PixelObs`."""
        return OBSERVATIONS[self.cfg.obs]

    @property
    def env_steps_per_step(self) -> int:
        """Environment steps one pass of the loop takes: ``num_envs`` times the observation's action repeat."""
        return self.cfg.num_envs * self.observation.action_repeat(self.cfg)

    def close(self) -> None:
        """Stop the embedding thread and close the environments."""
        if self.executor is not None:
            self.executor.shutdown()
        for env in self.envs or ():
            close_env(env)
        if self.eval_env is not None:
            close_env(self.eval_env)
