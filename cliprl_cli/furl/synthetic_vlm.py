"""``--vlm-model synthetic``: the synthetic VLM of :mod:`cliprl_cli.furl.synthetic` inside ``cliprl furl``.

Why: no real VLM weights can be downloaded here, and rendering is most of a VLM run's time on a CPU. This "VLM"
embeds the environment's STATE (nothing is rendered), with a zero-shot reward that is wrong by a known amount, so
that FuRL's mechanism (align a fuzzy reward with the agent's own successes) can be measured in minutes:

- **Image embedding** of a step: ``e = P code(p) + beta Q z + b`` (unit-normalised), ``p`` the task-relevant
  position read from the 39-d state (the hand for ``reach``, the object / handle / button for every other MT10
  task: Meta-World's success tests that point against the goal), ``z`` distractors drawn afresh for every step from
  a generator keyed on (seed, step index), so a resumed run draws the same ones.
- **Text embedding**: ``P ((1 - a) code(g) + a code(w)) + b``, ``g`` the task's goal position (the environment's
  ``_target_pos``), ``w`` a wrong target at least :data:`WRONG_MIN_DIST` metres from it, ``a`` the misalignment
  (``--synthetic-misalignment``): 0 points the instruction at the goal, 1 at the wrong target.
- **Goal image** (Eq. 5): the embedding of the goal position (its own distractors).
- **Expert trajectory** (``expert_rewards.json``): the scripted expert's states, embedded the same way.

Every artifact of such a run says so: the VLM's identity starts ``synthetic|``, config.json holds
``vlm_model: synthetic`` and the two knobs, and curve.json, summary.json and agent.json carry ``"vlm_synthetic":
true``. Fixed goals and the state agent only (the text embedding is built from the one goal).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import SYNTHETIC_MODEL
from .env import EPISODE_STEPS, close_env, expert_policy, make_env
from .synthetic import SyntheticVLM, make_vlm, place_code

HAND, OBJECT = slice(0, 3), slice(4, 7)  # the hand's and the (first) object's position in Meta-World's state
WRONG_MIN_DIST = 0.3   # metres between the goal and the wrong target (about half the hand's reach box)
GOAL_FRAME_ID = 1 << 40  # distractor key of the goal "image" (training steps count from 1)
EXPERT_FRAME_ID = 1 << 41  # first distractor key of the expert trajectory's steps
_STREAM = 7919  # a fixed word in the distractor generator's key, apart from the seed and the frame id


def relevant_slice(task: str) -> slice:
    """Where the state holds the point Meta-World's success tests against the goal: the hand for reach, the object
    (or handle, button, peg) for the other MT10 tasks."""
    return HAND if task.startswith("reach") else OBJECT


@dataclass
class StateVLM:
    """The synthetic VLM as ``cliprl furl`` uses a VLM: ``encode_images`` takes rows ``[position..., frame id]``
    (:meth:`inputs`), not frames."""

    core: SyntheticVLM
    task: str
    seed: int
    misalignment: float
    goal: np.ndarray   # (3,) the task's goal position
    wrong: np.ndarray  # (3,) the wrong target the misaligned instruction points at
    name: str = SYNTHETIC_MODEL
    preprocess_style: str = "ours"  # unit-norm embeddings (so ``normalized``), the instruction text unchanged
    checkpoint_sha256: None = None
    random_weights = False
    reads_state = True   # the loop hands it the state, and renders nothing for it
    normalized = True

    @property
    def embed_dim(self) -> int:
        return self.core.embed_dim

    def identity(self) -> str:
        """``synthetic|misalignment:<a>|distract:<beta>|seed:<k>``: what its embeddings depend on."""
        return (f"{SYNTHETIC_MODEL}|misalignment:{self.misalignment:g}|distract:{self.core.distract_scale:g}"
                f"|seed:{self.seed}")

    def prompt(self, text: str) -> str:
        return text

    def inputs(self, states: np.ndarray, first_id: int) -> np.ndarray:
        """``(N, 4)``: the task-relevant positions of ``states`` ``(N, 39)`` and their frame ids from ``first_id``."""
        pos = np.asarray(states, np.float64)[:, relevant_slice(self.task)]
        ids = np.arange(first_id, first_id + len(pos), dtype=np.float64)[:, None]
        return np.concatenate([pos, ids], axis=1)

    def embed(self, rows: np.ndarray) -> np.ndarray:
        """Unit-norm float32 ``(N, D)`` embeddings of :meth:`inputs` rows."""
        rows = np.asarray(rows, np.float64)
        pos, ids = rows[:, :3], rows[:, 3].astype(np.int64)
        core = self.core
        m = core.proj_distract.shape[1]
        z = np.stack([np.random.default_rng([self.seed, _STREAM, int(i)]).standard_normal(m) for i in ids])
        e = place_code(core, pos) @ core.proj_state.T + core.distract_scale * z @ core.proj_distract.T + core.offset
        return (e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def encode_images(self, rows: np.ndarray) -> torch.Tensor:
        """As :meth:`cliprl_cli.furl.vlm.VLM.encode_images`: float16 on the CPU (the replay buffer's format)."""
        return torch.from_numpy(self.embed(rows)).to(torch.float16)

    def encode_text(self, text: str) -> torch.Tensor:
        """The instruction's embedding (whatever ``text`` says: the synthetic instruction is the goal/wrong mix)."""
        code = place_code(self.core, np.stack([self.goal, self.wrong]))
        mixed = (1.0 - self.misalignment) * code[0] + self.misalignment * code[1]
        t = self.core.proj_state @ mixed + self.core.offset
        return torch.from_numpy((t / np.linalg.norm(t)).astype(np.float32))

    def goal_embedding(self) -> torch.Tensor:
        """Eq. 5's goal "image": the goal position embedded with its own distractors."""
        return torch.from_numpy(self.embed(np.append(self.goal, GOAL_FRAME_ID)[None])[0])

    def expert_inputs(self) -> tuple[np.ndarray, list[bool]]:
        """The scripted expert's steps as :meth:`inputs` rows (20 steps past its first success, as the rendered
        record) and their success flags; nothing is rendered."""
        states, success = expert_states(self.task, self.seed)
        return self.inputs(states, EXPERT_FRAME_ID), success


def expert_states(task: str, seed: int, extra_after_success: int = 20) -> tuple[np.ndarray, list[bool]]:
    """``(states (T, 39), success flags)`` of the scripted expert in the run's fixed-goal environment."""
    env = make_env(task, seed=seed, image_size=None)
    policy = expert_policy(task)
    try:
        obs, _ = env.reset()
        states, success, first = [], [], None
        for t in range(EPISODE_STEPS):
            obs, _, _, truncated, info = env.step(np.clip(policy.get_action(obs), -1.0, 1.0))
            states.append(obs)
            success.append(bool(info["success"]))
            if success[-1] and first is None:
                first = t
            if first is not None and t - first >= extra_after_success or truncated:
                break
        return np.asarray(states), success
    finally:
        close_env(env)


def wrong_target(rng: np.random.Generator, goal: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A point of the box ``[low, high]`` at least :data:`WRONG_MIN_DIST` from ``goal`` (seeded draws)."""
    for _ in range(10_000):
        q = rng.uniform(low, high)
        if np.linalg.norm(q - goal) >= WRONG_MIN_DIST:
            return q
    raise ValueError("no point of the box is that far from the goal")


def load_state_vlm(task: str, seed: int, misalignment: float, distract: float) -> StateVLM:
    """The synthetic VLM of a fixed-goal run: its goal is the environment's (seed ``seed``), its place cells cover
    the hand's reach box (Meta-World's ``hand_low``/``hand_high``); every draw comes from ``seed``."""
    env = make_env(task, seed=seed, image_size=None)
    try:
        goal = np.asarray(env.unwrapped._target_pos, np.float64).copy()
        low = np.asarray(env.unwrapped.hand_low, np.float64)
        high = np.asarray(env.unwrapped.hand_high, np.float64)
    finally:
        close_env(env)
    rng = np.random.default_rng([seed, _STREAM])
    core = make_vlm(rng, low, high, distract_scale=distract)
    return StateVLM(core, task, seed, misalignment, goal, wrong_target(rng, goal, low, high))
