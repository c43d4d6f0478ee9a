"""DrQ (Yarats et al. 2021): SAC from pixels with random-shift augmentation, CleanRL-style in one flat file; the
backbone of the FuRL paper's pixel experiment (Section 5.4, Figure 7).

The paper's Table 5 values: 84x84x3 frames, 3 stacked (9 input channels), action repeat 2 (in the loop,
:mod:`cliprl_cli.furl.train`), replay 2e5 (:class:`cliprl_cli.furl.frames.FrameBuffer`); an encoder of 4 conv layers
with 32 channels, kernels 3, strides (2, 1, 1, 1), VALID padding (84 -> 41 -> 39 -> 37 -> 35: 39,200 features);
a 50-d embedding; actor and critics (256, 256, 256); Adam 1e-4, batch 256, tau 0.01, gamma 0.99; target entropy
-|A|/2 (Table 5's SAC value).

Structure (DrQ's, as in its PyTorch code and in jaxrl's JAX DrQ, whose encoder settings Table 5 repeats verbatim):

- one conv trunk (:class:`Encoder`: uint8 / 255, each conv followed by a ReLU, flattened) belongs to the critic and
  is trained by the critic's loss only;
- the critic maps the trunk's features through its own projection (linear -> 50, LayerNorm, tanh) and the twin Q
  networks on [embedding, action];
- the actor reads the *same* trunk with its output detached (no policy gradient into the convs) and has its own
  projection (linear -> 50, LayerNorm, tanh), trained by the actor loss;
- the target critic is a full copy (trunk included), Polyak-averaged with tau after every update.

One update (:meth:`DrQ.update`), all through autograd (the CPU and the GPU path are the same code):

1. augment: ``obs`` and ``next_obs`` each get an independent random shift (:func:`random_shift`: replicate-pad 4,
   crop back; one integer shift per sample, the same for all stacked frames of that sample);
2. TD target ``y = r + gamma d (min_i Q'_i(s', a') - alpha log pi(a'|s'))`` with ``a' ~ pi(s')`` (the actor on the
   online trunk, the target critic on its own trunk), no gradient;
3. critic step on ``sum_i mean_b (Q_i(s, a) - y)^2`` (trunk, projection, Q networks);
4. actor and temperature step on the trunk's features *after* the critic step, detached: ``mean_b(alpha log
   pi(a~|s) - min_i Q_i(s, a~))`` through the critic held fixed, and ``-mean_b(alpha (log pi + H))``;
5. target critic: ``theta' <- (1 - tau) theta' + tau theta``.

Choices the paper leaves open, written down here: one augmentation per batch (DrQ-v2's K = M = 1, what jaxrl's DrQ
does; DrQ-v1 averaged two); the update order above (DrQ's and jaxrl's: critic first, the actor on the updated
trunk), whatever ``--sac-style`` says about SAC's order; the temperature starts at 0.1 (DrQ's and jaxrl's
``init_temperature``; the state SAC starts at 1); one update per agent step (every second environment step with
action repeat 2); the actor's std and every layer's initialisation follow ``--sac-style`` (``authors``: softplus
std + 1e-3 and flax's default init, LeCun normal with zero biases, for the dense and the conv layers; ``cleanrl``:
tanh-squashed log-std in [-5, 2] and PyTorch's default init), sharing the formulas of
:class:`cliprl_cli.furl.sac.Actor`.

GPU: the same autograd update runs there; ``amp=True`` runs the conv trunk under bfloat16 autocast on CUDA (the
convs are most of the FLOPs; the projections, the LayerNorm, the losses and Adam stay float32, and bfloat16 needs no
loss scaling); the CPU ignores ``amp``.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..adam import Adam
from .config import FurlConfig, SacStyle
from .sac import SAC_STYLES, Actor, SoftActorCritic, flax_default_init_

_DEFAULTS = FurlConfig()  # the library defaults are the run's (one source)
CONV_CHANNELS = (32, 32, 32, 32)
CONV_STRIDES = (2, 1, 1, 1)
KERNEL = 3


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """DrQ's augmentation: pad ``x`` (B, C, H, W) by ``pad`` pixels replicating the border, crop a random H x W
    window: each sample moves by one integer shift ``(dy, dx)`` in ``[-pad, pad]^2``, the same for all its channels
    (so the stacked frames of one sample move together). Replicate-padding then cropping is the clamped gather
    ``out[b, :, i, j] = x[b, :, clip(i + dy), clip(j + dx)]``, done here directly (works on uint8). The shifts are
    drawn on the CPU from ``generator`` (rows: dy, dx)."""
    b, _, h, w = x.shape
    shift = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).to(x.device) - pad
    rows = (torch.arange(h, device=x.device)[None, :] + shift[:, :1]).clamp_(0, h - 1)  # (B, H)
    cols = (torch.arange(w, device=x.device)[None, :] + shift[:, 1:]).clamp_(0, w - 1)  # (B, W)
    out = x[torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)


def conv_output_side(side: int) -> int:
    """Side of the trunk's output map for a ``side`` px input (VALID convs): 84 -> 35."""
    for stride in CONV_STRIDES:
        side = (side - KERNEL) // stride + 1
    return side


def _init(module: nn.Module, style: str) -> None:
    """flax's default init for every dense and conv layer (``authors``); PyTorch's default otherwise."""
    if style != "authors":
        return
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                flax_default_init_(layer.weight, layer.weight[0].numel())
                layer.bias.zero_()


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """The conv trunk: uint8 (B, 3K, S, S) -> /255 -> 4 x (conv 3x3, ReLU), strides (2, 1, 1, 1) -> (B, 32 s^2)."""

    def __init__(self, in_channels: int, side: int):
        super().__init__()
        convs, c = [], in_channels
        for out, stride in zip(CONV_CHANNELS, CONV_STRIDES):
            convs += [nn.Conv2d(c, out, KERNEL, stride=stride), nn.ReLU()]
            c = out
        self.convs = nn.Sequential(*convs)
        self.out_dim = CONV_CHANNELS[-1] * conv_output_side(side) ** 2

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.convs(obs.float() / 255.0).flatten(1)


def projection(in_dim: int, feature_dim: int) -> nn.Sequential:
    """Linear -> ``feature_dim``, LayerNorm, tanh (DrQ's embedding)."""
    return nn.Sequential(nn.Linear(in_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())


class DrqActor(nn.Module):
    """Tanh-squashed Gaussian on the detached trunk features: projection -> (256, 256, 256) -> (mean, raw std).

    The std parameterisation and the log-probability are :class:`cliprl_cli.furl.sac.Actor`'s (one home)."""

    LOG_STD_MIN, LOG_STD_MAX, MIN_SCALE = Actor.LOG_STD_MIN, Actor.LOG_STD_MAX, Actor.MIN_SCALE
    log_std_from_raw = Actor.log_std_from_raw
    log_prob = staticmethod(Actor.log_prob)

    def __init__(self, repr_dim: int, act_dim: int, hidden: int, feature_dim: int, style: str):
        super().__init__()
        self.style = style
        self.proj = projection(repr_dim, feature_dim)
        self.net = mlp([feature_dim, hidden, hidden, hidden, 2 * act_dim])

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-std) before the tanh, from the trunk's (detached) features."""
        mean, raw = self.net(self.proj(features)).chunk(2, dim=-1)
        return mean, self.log_std_from_raw(raw)[0]

    def sample(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a = tanh(mean + std eps), log pi(a|s) (B, 1)), reparameterised, eps ~ N(0, I) from torch's global RNG."""
        mean, log_std = self(features)
        eps = torch.randn_like(mean)
        u = torch.addcmul(mean, log_std.exp(), eps)
        return torch.tanh(u), self.log_prob(eps, log_std, u)


class DrqCritic(nn.Module):
    """The trunk, the critic's projection, and twin Q networks on [embedding, action] -> (2, B, 1)."""

    def __init__(self, in_channels: int, side: int, act_dim: int, hidden: int, feature_dim: int):
        super().__init__()
        self.encoder = Encoder(in_channels, side)
        self.proj = projection(self.encoder.out_dim, feature_dim)
        self.q1 = mlp([feature_dim + act_dim, hidden, hidden, hidden, 1])
        self.q2 = mlp([feature_dim + act_dim, hidden, hidden, hidden, 1])

    def q(self, features: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """Both Q values from the trunk's features: (2, B, 1)."""
        x = torch.cat([self.proj(features), act], dim=-1)
        return torch.stack([self.q1(x), self.q2(x)])

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.q(self.encoder(obs), act)


class DrQ(SoftActorCritic):
    """Actor, critic (with the trunk), target critic, temperature and their optimizers: the attribute names of
    :class:`cliprl_cli.furl.sac.SAC` (``actor``, ``critic``, ``critic_target``, ``log_alpha``, ``actor_opt``,
    ``critic_opt``), so the run state checkpoints both the same way."""

    def __init__(self, obs_shape: tuple[int, int, int], act_dim: int, *, device: torch.device,
                 hidden: int = _DEFAULTS.hidden, feature_dim: int = _DEFAULTS.drq_feature_dim, lr: float = _DEFAULTS.lr,
                 gamma: float = _DEFAULTS.gamma, tau: float = _DEFAULTS.tau, target_entropy: float | None = None,
                 init_temperature: float = _DEFAULTS.drq_init_temperature, pad: int = _DEFAULTS.drq_pad,
                 style: SacStyle | str = _DEFAULTS.sac_style, amp: bool = _DEFAULTS.amp):
        """``obs_shape``: (3K, S, S) of the stacked uint8 observation; ``pad``: the random shift's padding;
        ``amp``: bfloat16 autocast of the conv trunk on CUDA (module docstring); the rest as :class:`SAC`."""
        if style not in SAC_STYLES:
            raise ValueError(f"unknown SAC style {style!r}; known: {', '.join(SAC_STYLES)}")
        channels, side, _ = obs_shape
        self.device, self.style, self.pad = device, style, pad
        self.gamma, self.tau = gamma, tau
        self.target_entropy = -act_dim / 2.0 if target_entropy is None else target_entropy
        self.amp = amp and device.type == "cuda"
        self.critic = DrqCritic(channels, side, act_dim, hidden, feature_dim)
        self.actor = DrqActor(self.critic.encoder.out_dim, act_dim, hidden, feature_dim, style)
        _init(self.critic, style)
        _init(self.actor, style)
        self.critic.to(device)
        self.actor.to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.full((1,), math.log(init_temperature), device=device, requires_grad=True)
        self.critic_opt = Adam(self.critic.parameters(), lr=lr, fused=True)
        self.actor_opt = Adam([*self.actor.parameters(), self.log_alpha], lr=lr, fused=True)
        self._target_params = list(self.critic_target.parameters())
        self._online_params = list(self.critic.parameters())

    def _trunk(self, encoder: Encoder, obs: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            return encoder(obs).float()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Actions for uint8 stacked observations (N, 3K, S, S): tanh(mean), or a sample (one noise draw)."""
        mean, log_std = self.actor(self._trunk(self.critic.encoder, obs))
        if deterministic:
            return torch.tanh(mean)
        return torch.tanh(torch.addcmul(mean, log_std.exp(), torch.randn_like(mean)))

    def update(self, obs: torch.Tensor, act: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
               discount: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One DrQ gradient step (module docstring); ``generator`` draws the shifts (obs first, then next_obs).
        Returns detached stats: critic_loss, actor_loss, alpha (before the step), q, entropy."""
        obs = random_shift(obs, self.pad, generator)
        next_obs = random_shift(next_obs, self.pad, generator)
        alpha = self.log_alpha.detach().exp()

        # 1. TD target: a' from the actor on the online trunk, Q' from the target critic (its own trunk)
        with torch.no_grad():
            next_act, next_logp = self.actor.sample(self._trunk(self.critic.encoder, next_obs))
            target_q = self.critic_target.q(self._trunk(self.critic_target.encoder, next_obs), next_act)
            next_v = target_q.min(dim=0).values - alpha * next_logp
            target = torch.addcmul(reward.unsqueeze(-1), discount.unsqueeze(-1), next_v, value=self.gamma)

        # 2. critic step (trains the trunk)
        q = self.critic.q(self._trunk(self.critic.encoder, obs), act)
        critic_loss = F.mse_loss(q, target.unsqueeze(0).expand_as(q), reduction="none").mean(dim=(1, 2)).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()

        # 3. actor and temperature on the updated trunk's features, detached; the critic held fixed
        with torch.no_grad():
            features = self._trunk(self.critic.encoder, obs)
        new_act, logp = self.actor.sample(features)
        self.critic.requires_grad_(False)
        q_pi = self.critic.q(features, new_act).min(dim=0).values
        self.critic.requires_grad_(True)
        actor_loss = self.actor_temperature_backward(alpha, logp, q_pi)
        self.actor_opt.step()

        # 4. target critic
        self.update_target()
        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha,
                "q": q.detach().mean(), "entropy": -logp.detach().mean()}
