"""The grid-world policy network and the weight-space operations CLIP-RL needs.

Two worlds share this network: the paper's grid world (``encoding`` ``onehot-row-col``, 4 actions) and the
MiniGrid colour x shape world (``onehot-x-y-dir-state``: one one-hot over its (x, y, direction) states, ``W * H * 4``
inputs, 3 actions;
:mod:`cliprl_cli.clip_rl.colour_shape`; ``grid_size`` is then the width and ``height`` is set). A grid-world spec
serialises exactly as before (no ``height`` key). BabyAI suites (``babyai-view-onehot``,
:mod:`cliprl_cli.clip_rl.babyai`) feed the egocentric 7x7 view's one-hots and the direction's (984 inputs, MiniGrid's
7 actions; ``grid_size`` 7, the view's side, no ``height``): one architecture for every task of every BabyAI suite.

Every policy of one grid size has the same architecture (``PolicySpec``), so weights can be averaged:
input 2N (one-hot row + one-hot column, :func:`cliprl_cli.clip_rl.gridworld.encode_positions`), ``layers`` hidden
tanh layers of ``hidden`` units, and two heads on the shared trunk: 4 action logits and 1 state value.
"Policy weights" ``nn(pi)`` in the paper are all of these parameters (trunk and both heads).

Flattening order (documented, deterministic): ``PARAMETER_ORDER`` of the spec, i.e. ``trunk.0.weight``,
``trunk.0.bias``, ``trunk.2.weight``, ... , ``logits.weight``, ``logits.bias``, ``value.weight``,
``value.bias``; each tensor row-major (``torch.flatten``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from .babyai import ENCODING as BABYAI_ENCODING
from .babyai import NUM_ACTIONS as BABYAI_ACTIONS
from .babyai import OBS_DIM as BABYAI_OBS_DIM
from .colour_shape import ENCODING as XYDIR_ENCODING
from .colour_shape import NUM_ACTIONS as COLOUR_SHAPE_ACTIONS
from .colour_shape import probe_states as colour_shape_probe_states
from ..errors import CliprlError
from .config import DEFAULT_HIDDEN, TrainBaseConfig
from .gridworld import NUM_ACTIONS, encode_positions


@dataclass(frozen=True)
class PolicySpec:
    """Architecture of a grid policy; stored in every policy artifact's config."""

    grid_size: int
    hidden: int = DEFAULT_HIDDEN
    layers: int = TrainBaseConfig.layers
    encoding: str = "onehot-row-col"
    height: int | None = None     # colour-shape world only: rows (grid_size is its width)

    @property
    def input_dim(self) -> int:
        if self.encoding == XYDIR_ENCODING:  # one unit per (x, y, direction) state
            return self.grid_size * self.height * 4
        if self.encoding == BABYAI_ENCODING:  # the egocentric view's one-hots and the direction's
            return BABYAI_OBS_DIM
        return 2 * self.grid_size

    @property
    def num_actions(self) -> int:
        if self.encoding == BABYAI_ENCODING:
            return BABYAI_ACTIONS
        return COLOUR_SHAPE_ACTIONS if self.encoding == XYDIR_ENCODING else NUM_ACTIONS

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.height is None:  # grid-world specs keep their old JSON exactly
            data.pop("height")
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> "PolicySpec":
        return cls(**{k: data[k] for k in ("grid_size", "hidden", "layers", "encoding", "height") if k in data})

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(p.shape) for name, p in PolicyNet(self).named_parameters()}


class PolicyNet(nn.Module):
    """Shared tanh trunk with an action-logit head and a value head (PPO actor-critic)."""

    def __init__(self, spec: PolicySpec):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = []
        width = spec.input_dim
        for _ in range(spec.layers):
            layers += [nn.Linear(width, spec.hidden), nn.Tanh()]
            width = spec.hidden
        self.trunk = nn.Sequential(*layers)
        self.logits = nn.Linear(width, spec.num_actions)
        self.value = nn.Linear(width, 1)
        # CleanRL's PPO initialisation: orthogonal, small policy head so the first policy is near uniform.
        for module in self.trunk:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=2 ** 0.5)
                nn.init.zeros_(module.bias)
        nn.init.orthogonal_(self.logits.weight, gain=0.01)
        nn.init.zeros_(self.logits.bias)
        nn.init.orthogonal_(self.value.weight, gain=1.0)
        nn.init.zeros_(self.value.bias)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(obs)
        return self.logits(h), self.value(h).squeeze(-1)


def parameter_order(spec: PolicySpec) -> list[str]:
    return list(spec.parameter_shapes())


def flatten_params(params: Mapping[str, torch.Tensor], spec: PolicySpec) -> torch.Tensor:
    """Concatenate a policy's parameters into one vector in :func:`parameter_order`."""
    shapes = spec.parameter_shapes()
    missing = [name for name in shapes if name not in params]
    if missing:
        raise ValueError(f"missing policy parameters: {missing}")
    for name, shape in shapes.items():
        if tuple(params[name].shape) != shape:
            raise ValueError(f"parameter {name} has shape {tuple(params[name].shape)}, expected {shape}")
    return torch.cat([params[name].reshape(-1).to(torch.float32) for name in shapes])


def unflatten_params(vector: torch.Tensor, spec: PolicySpec) -> dict[str, torch.Tensor]:
    """Inverse of :func:`flatten_params`."""
    shapes = spec.parameter_shapes()
    total = sum(int(torch.Size(s).numel()) for s in shapes.values())
    if vector.numel() != total:
        raise ValueError(f"flat vector has {vector.numel()} entries, the architecture needs {total}")
    out, offset = {}, 0
    for name, shape in shapes.items():
        n = int(torch.Size(shape).numel())
        out[name] = vector[offset:offset + n].reshape(shape).clone()
        offset += n
    return out


def weighted_average(vectors: Sequence[torch.Tensor] | torch.Tensor, weights: Sequence[float] | torch.Tensor):
    """``sum_i w_i v_i`` for weights that already sum to one (see :func:`cliprl_cli.clip_rl.clip_math.similarity_weights`)."""
    stacked = vectors if isinstance(vectors, torch.Tensor) else torch.stack(list(vectors))
    w = torch.as_tensor(weights, dtype=stacked.dtype)
    if w.shape[0] != stacked.shape[0]:
        raise ValueError(f"{w.shape[0]} weights for {stacked.shape[0]} vectors")
    return (w.unsqueeze(1) * stacked).sum(dim=0)


def probe_states(spec: PolicySpec) -> torch.Tensor:
    """The fixed probe set of a behaviour representation: every cell of the grid, encoded, in row-major order
    ``(N^2, 2N)``. The goal cell is included: a state a policy never acts in still has probabilities, and which
    cell is the goal differs between policies, so dropping it would make their probe sets differ."""
    if spec.encoding == XYDIR_ENCODING:  # every (x, y, direction) of the colour-shape world, walls included
        return colour_shape_probe_states(spec.grid_size, spec.height)
    if spec.encoding == BABYAI_ENCODING:  # egocentric views cannot be enumerated: the probe set is drawn from a suite
        raise CliprlError("the behaviour representation of BabyAI policies needs observations drawn from the "
                          "suite's levels; there is no fixed probe set for the view encoding alone")
    size = spec.grid_size
    cells = torch.arange(size * size)
    return encode_positions(torch.stack((cells // size, cells % size), dim=1), size)


@torch.no_grad()
def behaviour_vector(params: Mapping[str, torch.Tensor], spec: PolicySpec,
                     observations: torch.Tensor | None = None) -> torch.Tensor:
    """A policy as what it does: its action probabilities on a fixed probe set of encoded ``observations``,
    flattened observation by observation. By default the probe set is :func:`probe_states`, every state of the
    world: ``(N^2 * 4,)`` on the grid (cell by cell, actions up, down, left, right; colour-shape: ``(W H 4 * 3,)``,
    actions left, right, forward); worlds whose states cannot be listed pass a drawn set
    (:func:`cliprl_cli.clip_rl.policy_repr.probe_set`). Two policies that act alike get the same vector whatever
    their weights (hidden units permuted, a different value head, logits shifted by a constant)."""
    net = PolicyNet(spec)
    net.load_state_dict(dict(params))
    logits, _ = net(probe_states(spec) if observations is None else observations)
    return torch.softmax(logits, dim=1).reshape(-1)
