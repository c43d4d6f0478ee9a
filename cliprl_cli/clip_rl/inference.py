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
from .gridworld import ACTION_NAMES, encode_positions
from .policy import PolicyNet, PolicySpec
from .train_base import load_policy as load_policy_artifact


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
        """``obs`` as a (B, 2) long tensor of ``[row, col]``, and whether it was a single observation."""
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
        Actions index :data:`cliprl_cli.clip_rl.gridworld.ACTION_NAMES` (up, down, left, right).
        """
        x, single = self._encode(obs)
        logits = self.net(x)[0]
        if deterministic:
            actions = logits.argmax(dim=1).numpy()
        else:
            rng = rng or np.random.default_rng()
            probs = torch.softmax(logits.double(), dim=1).numpy()
            actions = np.array([rng.choice(len(ACTION_NAMES), p=p / p.sum()) for p in probs], dtype=np.int64)
        return int(actions[0]) if single else actions.astype(np.int64)

    __call__ = act


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
