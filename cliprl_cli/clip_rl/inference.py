"""Use a trained policy from Python: ``cliprl_cli.load_policy(path).act(obs)``.

``load_policy`` reads a ``cliprl train-base`` artifact (checked like every artifact: schema, kind, hash, shapes
against the architecture in its sidecar) and returns a :class:`GridPolicy`, whose :meth:`GridPolicy.act` takes the
observation of ``cliprl/GridGoal-v0`` as the env returns it (``[row, col]``, or a batch of them) and returns the
action the greedy policy picks (argmax of the logits: the policy the convergence rule certified). The one-hot
encoding the network needs (:func:`cliprl_cli.clip_rl.gridworld.encode_positions`) happens inside::

    import gymnasium, cliprl_cli
    policy = cliprl_cli.load_policy("artifacts/base/10/top-left-first")
    env = gymnasium.make("cliprl/GridGoal-10x10-v0", task=policy.instruction)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
        done = terminated or truncated
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CliprlError
from .gridworld import encode_positions
from .policy import PolicyNet, PolicySpec
from .train_base import load_policy as load_policy_artifact

# cliprl_cli.clip_rl.babyai.ENCODING (a test checks they agree), named here so grid-world use never imports MiniGrid
BABYAI_ENCODING = "babyai-view-onehot"


@dataclass
class GridPolicy:
    """A trained grid-world policy, ready to act.

    Attributes:
        net: the actor-critic network (eval mode, no gradients needed).
        spec: its architecture (grid size, hidden width, layers).
        instruction: the task it was trained on (``"top left first"``).
        goal: that task's goal cell ``(row, col)`` on this grid size.
        sidecar: the artifact's full sidecar (config, metrics, provenance).
    """

    net: PolicyNet
    spec: PolicySpec
    instruction: str
    goal: tuple[int, int]
    sidecar: dict[str, Any]

    @property
    def grid_size(self) -> int:
        return self.spec.grid_size

    def _encode(self, obs: Any) -> tuple[torch.Tensor, bool]:
        """``obs`` as the network's input batch, and whether it was a single observation."""
        if self.spec.encoding == BABYAI_ENCODING:
            return _encode_babyai(obs)
        positions = np.asarray(obs)
        single = positions.ndim == 1
        positions = positions.reshape(-1, 2) if positions.ndim in (1, 2) and positions.shape[-1] == 2 else None
        if positions is None or not np.issubdtype(np.asarray(obs).dtype, np.integer):
            raise CliprlError(f"an observation is an integer [row, col] pair (or a batch of them), got "
                              f"{np.asarray(obs).dtype} array of shape {np.asarray(obs).shape}")
        if positions.size and (positions.min() < 0 or positions.max() >= self.grid_size):
            raise CliprlError(f"observation outside this policy's {self.grid_size}x{self.grid_size} grid "
                              f"(rows and columns 0..{self.grid_size - 1})")
        return encode_positions(torch.as_tensor(positions, dtype=torch.long), self.grid_size), single

    @torch.no_grad()
    def action_probabilities(self, obs: Any) -> np.ndarray:
        """The policy's action distribution (softmax of the logits) for one observation (4,) or a batch (B, 4)."""
        x, single = self._encode(obs)
        probs = torch.softmax(self.net(x)[0], dim=1).numpy()
        return probs[0] if single else probs

    @torch.no_grad()
    def act(self, obs: Any, *, deterministic: bool = True, rng: np.random.Generator | None = None) -> Any:
        """The action for ``obs``: an ``int`` for one observation, an int64 array for a batch.

        ``deterministic`` (default) takes the argmax of the logits, as the convergence check did; otherwise the
        action is drawn from :meth:`action_probabilities` with ``rng`` (default: a fresh unseeded generator).
        Actions index :data:`cliprl_cli.clip_rl.gridworld.ACTION_NAMES` (up, down, left, right); a BabyAI
        policy's, MiniGrid's ``Actions`` (left, right, forward, pickup, drop, toggle, done).
        """
        x, single = self._encode(obs)
        logits = self.net(x)[0]
        if deterministic:
            actions = logits.argmax(dim=1).numpy()
        else:
            rng = rng or np.random.default_rng()
            probs = torch.softmax(logits.double(), dim=1).numpy()
            actions = np.array([rng.choice(len(p), p=p / p.sum()) for p in probs], dtype=np.int64)
        return int(actions[0]) if single else actions.astype(np.int64)

    __call__ = act


def _encode_babyai(obs: Any) -> tuple[torch.Tensor, bool]:
    """A MiniGrid observation (a dict with ``image`` 7x7x3 and ``direction``), a list of them, or a vector env's
    batched dict (``image`` (B, 7, 7, 3), ``direction`` (B,)) as the BabyAI policy's input (B, 984)."""
    from .babyai import COMPACT_DIM, encode_compact  # gymnasium and minigrid load only for BabyAI policies

    try:
        if isinstance(obs, dict) and np.asarray(obs["image"]).ndim == 4:  # a vector env's batch
            images, directions = np.asarray(obs["image"]), np.asarray(obs["direction"])
        else:
            items = [obs] if isinstance(obs, dict) else obs
            images = np.stack([np.asarray(o["image"]) for o in items])
            directions = np.array([int(o["direction"]) for o in items])
        rows = np.concatenate([images.reshape(len(images), -1), directions.reshape(-1, 1)], axis=1)
    except (KeyError, TypeError, ValueError, IndexError):
        raise CliprlError("a BabyAI policy acts on MiniGrid observations: a dict with 'image' (7x7x3) and "
                          "'direction', a list of them, or a vector env's batched dict") from None
    if rows.shape[1] != COMPACT_DIM:
        raise CliprlError(f"a BabyAI observation's image must be 7x7x3, got {rows.shape[1] - 1} values")
    single = isinstance(obs, dict) and np.asarray(obs["image"]).ndim == 3
    return torch.from_numpy(encode_compact(rows.astype(np.uint8))), single


def load_policy(path: str | Path) -> GridPolicy:
    """Load a ``cliprl train-base`` output (its directory or ``policy.safetensors``) as a :class:`GridPolicy`.

    The network runs on the CPU (a grid policy is a few thousand weights; ``act`` returns numpy). Raises
    :class:`cliprl_cli.errors.CliprlError` (one line naming the file) for a missing, corrupt or mismatched artifact.
    """
    params, sidecar, spec = load_policy_artifact(path)
    net = PolicyNet(spec)
    net.load_state_dict(params)
    net.eval()
    goal = sidecar.get("goal") or [-1, -1]
    return GridPolicy(net=net, spec=spec, instruction=str(sidecar.get("instruction", "")),
                      goal=(int(goal[0]), int(goal[1])), sidecar=sidecar)
