"""Soft Actor-Critic (Haarnoja et al. 2018, with the learned temperature) in torch, CleanRL-style: the networks, the
update as autograd computes it (:meth:`SAC.update_autograd`, the reference), acting, and the agent's state.

The paper's Table 5 values: actor and critics 256x256, Adam lr 1e-4 (actor, critics and temperature), batch 256,
Polyak target update tau 0.01, gamma 0.99, target entropy -|A|/2, one gradient step per environment step.

Two styles (``style``, ``cliprl furl --sac-style``), the same losses in both:

- ``authors`` (the FuRL authors' JAX code, fuyw/FuRL ``models/sac.py`` and ``models/common.py``; the default of
  ``cliprl furl``, a reproduction): the actor's std is ``softplus(x) + 1e-3`` (no clamp; about 0.69 at
  initialisation), every layer starts from flax's default initialisation (LeCun-normal weights, truncated at two
  standard deviations, zero biases; the ``orthogonal`` flag in their config is never read), and the actor,
  temperature and critic steps are all computed from the parameters as they were before the update (the actor
  loss through the old critic, the TD target from the old actor), then applied together.
- ``cleanrl`` (CleanRL and SB3's order): the actor's log-std is squashed into [-5, 2] with a tanh (about 0.22 at
  initialisation), PyTorch's default ``nn.Linear`` initialisation, and the critic is stepped first: the actor and
  temperature then see the updated critic.

One update (:meth:`SAC.update_autograd`):

1. TD target: ``y = r + gamma * d * (min_i Q'_i(s', a') - alpha log pi(a'|s'))``, a' ~ pi(s'), no gradient.
2. Critic gradient of ``sum_i mean_b (Q_i(s, a) - y)^2``.
3. Actor gradient of ``mean_b(alpha log pi(a~|s) - min_i Q_i(s, a~))``, a~ ~ pi(s) reparameterised, the critic's
   weights held fixed (``cleanrl``: the critic after its step; ``authors``: the critic before it); temperature
   gradient of ``-mean_b(alpha (log pi(a~|s) + H))``. alpha is the temperature before the update in both.
4. Target critics: ``theta' <- (1 - tau) theta' + tau theta`` (after the critic step).

The noise is drawn for s' first, then for s, in both styles and both paths.

On the CPU, :meth:`SAC.update` runs the same update with hand-written backward passes
(:func:`cliprl_cli.furl.sac_fast.update`): autograd's graph bookkeeping is a large part of an update of networks this
small on a CPU, and a GPU hides it (its kernels are queued asynchronously), so there the reference runs. The two are
tested equal over hundreds of updates on Meta-World transitions (``tests/test_sac_paths.py``).

Speed choices that change no formula:

- The twin critics are one module (:class:`TwinCritic`): both Q networks' weights are stacked along a leading
  dimension of 2 and evaluated with ``torch.baddbmm``, so a critic pass is 3 batched matmuls instead of 6 linear
  layers, and one optimizer step covers both.
- Adam is :class:`cliprl_cli.adam.Adam` with ``fused=True`` (one ``torch._fused_adam_`` call per step). The actor and
  log(alpha) share one optimizer: both are stepped after their losses are computed and neither loss depends on the
  other's parameters, so one step over both is the same as two. The target update is one ``torch._foreach_lerp_``.
- :meth:`SAC.update` returns detached tensors and never calls ``.item()``: the training loop syncs with the device
  only when it logs.
- Acting (one observation per step) skips the log-probability: :meth:`Actor.act`.

Choices the paper leaves open, beyond the style: log(alpha) starts at 0 (as in the authors' code).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..adam import Adam
from . import sac_fast
from .config import FurlConfig, SacStyle


SAC_STYLES = tuple(style.value for style in SacStyle)
_DEFAULTS = FurlConfig()  # the library defaults are the run's (one source)


def flax_default_init_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
    """flax's ``nn.Dense`` default kernel init in place: LeCun normal, i.e. ``variance_scaling(1, "fan_in",
    "truncated_normal")``: a normal truncated at +-2 standard deviations, its std divided by 0.8796 (the std of a
    standard normal truncated there) so that the weights' variance is 1/fan_in."""
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
    return nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy: s -> hidden -> hidden -> (mean, raw std output); actions in [-1, 1]
    (Meta-World's box). The policy's parameterisation (raw output -> log-std, its derivative, the log-probability)
    lives on the class so that the fast CPU update (:mod:`cliprl_cli.furl.sac_fast`) uses this definition rather than
    a copy.

    ``style="cleanrl"``: log-std = tanh(raw) mapped onto [LOG_STD_MIN, LOG_STD_MAX]; PyTorch's default init.
    ``style="authors"``: std = softplus(raw) + MIN_SCALE; flax's default init (LeCun normal, zero biases). The
    authors' separate mean and std layers (each hidden -> |A|, fan-in ``hidden``) are one hidden -> 2|A| layer here:
    the same function and the same initial distribution.
    """

    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
    MIN_SCALE = 1e-3

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, style: str = "cleanrl"):
        super().__init__()
        if style not in SAC_STYLES:
            raise ValueError(f"unknown SAC style {style!r}; known: {', '.join(SAC_STYLES)}")
        self.style = style
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * act_dim))
        if style == "authors":
            with torch.no_grad():
                for layer in (self.net[0], self.net[2], self.net[4]):
                    flax_default_init_(layer.weight, layer.in_features)
                    layer.bias.zero_()

    def log_std_from_raw(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-std, d log-std / d raw) of the raw network output, elementwise."""
        if self.style == "authors":
            std = F.softplus(raw) + self.MIN_SCALE
            return std.log(), torch.sigmoid(raw) / std
        squash = torch.tanh(raw)
        half_range = 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN)
        return self.LOG_STD_MIN + half_range * (squash + 1.0), half_range * (1.0 - squash.square())

    @staticmethod
    def log_prob(eps: torch.Tensor, log_std: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """log pi(tanh(u)|s) for u = mean + std * eps, summed over action dimensions -> (B, 1).

        log N(u; mean, std) = -eps^2/2 - log std - log(2 pi)/2, since (u - mean)/std = eps; minus the tanh's
        log-Jacobian sum log(1 - tanh(u)^2), in the stable form 2(log 2 - u - softplus(-2u)).
        """
        logp = (-0.5 * eps.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
        return logp - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1, keepdim=True)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-std) of the Gaussian before the tanh squash, each (B, |A|)."""
        mean, raw = self.net(obs).chunk(2, dim=-1)
        return mean, self.log_std_from_raw(raw)[0]

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(a = tanh(mean + std * eps) with eps ~ N(0, I), reparameterised; log pi(a|s) (B, 1); tanh(mean))."""
        mean, log_std = self(obs)
        std = log_std.exp()
        eps = torch.randn_like(mean)
        u = torch.addcmul(mean, std, eps)  # mean + std * eps
        return torch.tanh(u), self.log_prob(eps, log_std, u), torch.tanh(mean)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """An action only (no log-probability): what the environment loop needs, with the same noise draw as
        :meth:`sample`; the deterministic action (tanh of the mean) draws none."""
        mean, log_std = self(obs)
        if deterministic:
            return torch.tanh(mean)
        return torch.tanh(torch.addcmul(mean, log_std.exp(), torch.randn_like(mean)))


class TwinCritic(nn.Module):
    """Both Q networks as one module: [s, a] -> hidden -> hidden -> 1 each, weights ``(2, in, out)``, evaluated with
    batched matmuls -> ``(2, B, 1)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, n: int = 2, style: str = "cleanrl"):
        """``style``: ``cleanrl``, nn.Linear's default init; ``authors``, flax's (LeCun normal, zero biases)."""
        super().__init__()
        sizes = [obs_dim + act_dim, hidden, hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # drawn independently for each of the n networks
            bound = 1.0 / math.sqrt(fan_in)
            w = torch.empty(n, fan_in, fan_out)
            if style == "authors":
                flax_default_init_(w, fan_in)
                b = torch.zeros(n, 1, fan_out)
            else:
                for i in range(n):
                    nn.init.kaiming_uniform_(w[i].T, a=math.sqrt(5))  # same law as nn.Linear.weight (out, in)
                b = torch.empty(n, 1, fan_out).uniform_(-bound, bound)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        self.n = n

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        (w1, w2, w3), (b1, b2, b3) = self.weights, self.biases
        x = torch.cat([obs, act], dim=-1).expand(self.n, -1, -1)
        h = torch.baddbmm(b1, x, w1).relu()
        h = torch.baddbmm(b2, h, w2).relu()
        return torch.baddbmm(b3, h, w3)


class SoftActorCritic:
    """What SAC and DrQ share: the attributes ``actor``, ``critic``, ``critic_target``, ``log_alpha``,
    ``actor_opt``, ``critic_opt``, ``target_entropy``, ``tau`` and the target/online parameter lists (set by the
    subclass), the actor-and-temperature gradients, the target update, and the state as named tensors."""

    def actor_temperature_backward(self, alpha: torch.Tensor, logp: torch.Tensor,
                                   q_pi: torch.Tensor) -> torch.Tensor:
        """Gradients of the actor loss ``mean(alpha log pi - min Q)`` and of the temperature loss
        ``-mean(alpha (log pi + H))`` into the actor optimizer's parameters (not stepped); returns the actor loss."""
        actor_loss = (alpha * logp - q_pi).mean()
        alpha_loss = -(self.log_alpha.exp() * (logp.detach() + self.target_entropy)).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        alpha_loss.backward()
        return actor_loss

    @torch.no_grad()
    def update_target(self) -> None:
        """Polyak averaging: theta' <- theta' + tau (theta - theta')."""
        torch._foreach_lerp_(self._target_params, self._online_params, self.tau)

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Actor, critic(s), target critic(s) and log(alpha) as flat named tensors (for save_artifact)."""
        out = {}
        for name, module in (("actor", self.actor), ("critic", self.critic), ("critic_target", self.critic_target)):
            for key, value in module.state_dict().items():
                out[f"{prefix}.{name}.{key}"] = value
        out[f"{prefix}.log_alpha"] = self.log_alpha.detach()
        return out


class SAC(SoftActorCritic):
    """Actor, twin critic (+ target), temperature, and their optimizers; everything a checkpoint needs."""

    def __init__(self, obs_dim: int, act_dim: int, *, device: torch.device, hidden: int = _DEFAULTS.hidden,
                 lr: float = _DEFAULTS.lr, gamma: float = _DEFAULTS.gamma, tau: float = _DEFAULTS.tau,
                 target_entropy: float | None = None, style: SacStyle | str = _DEFAULTS.sac_style):
        """``hidden``: width of both hidden layers of every network; ``lr``: Adam's step size for the critics, the
        actor and the temperature; ``gamma``: discount; ``tau``: Polyak rate of the target critics;
        ``target_entropy``: H in the temperature loss (default -|A|/2, the paper's); ``style``: ``authors`` or
        ``cleanrl`` (module docstring). The defaults are :class:`~cliprl_cli.furl.config.FurlConfig`'s."""
        if style not in SAC_STYLES:
            raise ValueError(f"unknown SAC style {style!r}; known: {', '.join(SAC_STYLES)}")
        self.device = device
        self.style = style
        self.gamma, self.tau = gamma, tau
        self.target_entropy = -act_dim / 2.0 if target_entropy is None else target_entropy
        self.actor = Actor(obs_dim, act_dim, hidden, style=style).to(device)
        self.critic = TwinCritic(obs_dim, act_dim, hidden, style=style).to(device)
        self.critic_target = TwinCritic(obs_dim, act_dim, hidden, style=style).to(device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.zeros(1, device=device, requires_grad=True)
        self.critic_opt = Adam(self.critic.parameters(), lr=lr, fused=True)
        self.actor_opt = Adam([*self.actor.parameters(), self.log_alpha], lr=lr, fused=True)
        self._target_params = list(self.critic_target.parameters())
        self._online_params = list(self.critic.parameters())
        # The hand-written update pays on the CPU only (see the module docstring).
        self.fast_cpu_update = device.type == "cpu"

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self.actor.act(obs, deterministic)

    def update(self, obs: torch.Tensor, act: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
               discount: torch.Tensor) -> dict[str, torch.Tensor]:
        """One SAC gradient step on a batch (``reward``, ``discount`` shaped ``(B,)``); returns detached stats:
        critic_loss, actor_loss, alpha (before the step), q (mean Q(s, a) over both critics), entropy."""
        if self.fast_cpu_update:
            return sac_fast.update(self, obs, act, reward, next_obs, discount)
        return self.update_autograd(obs, act, reward, next_obs, discount)

    def td_target(self, reward: torch.Tensor, next_obs: torch.Tensor, discount: torch.Tensor, alpha: torch.Tensor,
                  next_act: torch.Tensor, next_logp: torch.Tensor) -> torch.Tensor:
        """r + gamma * d * (min_i Q'_i(s', a') - alpha log pi(a'|s')), a' ~ pi(s'); shape (B, 1)."""
        next_q = self.critic_target(next_obs, next_act).min(dim=0).values - alpha * next_logp
        return torch.addcmul(reward.unsqueeze(-1), discount.unsqueeze(-1), next_q, value=self.gamma)

    def update_autograd(self, obs: torch.Tensor, act: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
                        discount: torch.Tensor) -> dict[str, torch.Tensor]:
        """The update as autograd computes it: the reference (and what a GPU runs); see the module docstring."""
        alpha = self.log_alpha.detach().exp()

        # 1. TD target from the target critics at a fresh action a' ~ pi(s')
        with torch.no_grad():
            next_act, next_logp, _ = self.actor.sample(next_obs)
            target = self.td_target(reward, next_obs, discount, alpha, next_act, next_logp)

        # 2. critic gradient: both Q networks regress on the same target; cleanrl steps the critic at once
        q = self.critic(obs, act)
        critic_loss = F.mse_loss(q, target.unsqueeze(0).expand_as(q), reduction="none").mean(dim=(1, 2)).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        if self.style == "cleanrl":
            self.critic_opt.step()

        # 3. actor and temperature gradients through the critic held fixed (cleanrl: updated; authors: not yet)
        new_act, logp, _ = self.actor.sample(obs)
        self.critic.requires_grad_(False)
        q_pi = self.critic(obs, new_act).min(dim=0).values
        self.critic.requires_grad_(True)
        actor_loss = self.actor_temperature_backward(alpha, logp, q_pi)
        if self.style == "authors":
            self.critic_opt.step()
        self.actor_opt.step()

        # 4. target critics
        self.update_target()
        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(),
                "alpha": alpha, "q": q.detach().mean(), "entropy": -logp.detach().mean()}
