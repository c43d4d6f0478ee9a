"""Soft Actor-Critic in torch, CleanRL-style: flat, one update function, the paper's Table 5 defaults.

Table 5: actor and critics 256x256, Adam lr 1e-4 (actor, critics and temperature), batch 256, Polyak target update
tau 0.01, gamma 0.99, target entropy -|A|/2, one gradient step per environment step.

Speed without changing the algorithm:

- The twin critics are one module (:class:`TwinCritic`): both Q networks' weights are stacked along a leading
  dimension of 2 and evaluated with ``torch.baddbmm``, so a critic forward/backward is 3 batched matmuls instead of
  6 separate linear layers, and one optimizer step covers both.
- Adam uses the fused implementation (CUDA, and CPU since torch 2.4; foreach where there is none); the target
  update is one ``torch._foreach_lerp_``.
- :meth:`SAC.update` returns detached tensors and never calls ``.item()``: the training loop syncs with the
  device only when it logs.

Choices: PyTorch's default ``nn.Linear`` initialisation (the authors use orthogonal init); the actor's log-std is
squashed into [-5, 2] with a tanh (CleanRL); the critic is updated first, then the actor and temperature with the
updated critic (CleanRL/SB3 order; the authors' JAX code updates the actor first); log(alpha) starts at 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy; actions in [-1, 1] (Meta-World's action box)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * act_dim))

    def forward(self, obs: torch.Tensor):
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1.0)
        return mean, log_std

    def sample(self, obs: torch.Tensor):
        """(squashed sampled action, its log-probability (B, 1), squashed mean action)."""
        mean, log_std = self(obs)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        action = torch.tanh(u)
        # log N(u; mean, std) - sum log(1 - tanh(u)^2), the latter in the stable form 2(log 2 - u - softplus(-2u)).
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
        logp = logp - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1, keepdim=True)
        return action, logp, torch.tanh(mean)


class TwinCritic(nn.Module):
    """Both Q networks as one module: weights ``(2, in, out)``, evaluated with batched matmuls -> ``(2, B, 1)``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, n: int = 2):
        super().__init__()
        sizes = [obs_dim + act_dim, hidden, hidden, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # nn.Linear's default init, drawn independently for each of the n networks.
            bound = 1.0 / math.sqrt(fan_in)
            w = torch.empty(n, fan_in, fan_out)
            for i in range(n):
                nn.init.kaiming_uniform_(w[i].T, a=math.sqrt(5))  # same law as nn.Linear.weight (out, in)
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.empty(n, 1, fan_out).uniform_(-bound, bound)))
        self.n = n

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1).unsqueeze(0).expand(self.n, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = x.relu_()  # in place: baddbmm's backward needs its inputs, not its output
        return x


def _adam(params, lr: float, device: torch.device):
    # Fused Adam (one kernel over all parameters) exists for CPU too since torch 2.4: ~1 ms less per update here.
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or a device without a fused kernel
        return torch.optim.Adam(params, lr=lr, foreach=True)


class SAC:
    """Actor, twin critic (+ target), temperature, and their optimizers; everything a checkpoint would need."""

    def __init__(self, obs_dim: int, act_dim: int, *, device: torch.device, hidden: int = 256, lr: float = 1e-4,
                 gamma: float = 0.99, tau: float = 0.01, target_entropy: float | None = None):
        self.device = device
        self.gamma, self.tau = gamma, tau
        self.target_entropy = -act_dim / 2.0 if target_entropy is None else target_entropy
        self.actor = Actor(obs_dim, act_dim, hidden).to(device)
        self.critic = TwinCritic(obs_dim, act_dim, hidden).to(device)
        self.critic_target = TwinCritic(obs_dim, act_dim, hidden).to(device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.zeros(1, device=device, requires_grad=True)
        self.actor_opt = _adam(self.actor.parameters(), lr, device)
        self.critic_opt = _adam(self.critic.parameters(), lr, device)
        self.alpha_opt = _adam([self.log_alpha], lr, device)
        self._target_params = list(self.critic_target.parameters())
        self._online_params = list(self.critic.parameters())

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        action, _, mean = self.actor.sample(obs)
        return mean if deterministic else action

    def update(self, obs, act, reward, next_obs, discount) -> dict[str, torch.Tensor]:
        """One SAC gradient step on a batch (``reward``, ``discount`` shaped ``(B,)``); returns detached stats."""
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_act, next_logp, _ = self.actor.sample(next_obs)
            next_q = self.critic_target(next_obs, next_act).min(dim=0).values - alpha * next_logp
            target = reward.unsqueeze(-1) + self.gamma * discount.unsqueeze(-1) * next_q
        q = self.critic(obs, act)
        critic_loss = F.mse_loss(q, target.unsqueeze(0).expand_as(q), reduction="none").mean(dim=(1, 2)).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        new_act, logp, _ = self.actor.sample(obs)
        self.critic.requires_grad_(False)
        q_pi = self.critic(obs, new_act).min(dim=0).values
        self.critic.requires_grad_(True)
        actor_loss = (alpha * logp - q_pi).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        alpha_loss = -(self.log_alpha.exp() * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()

        with torch.no_grad():
            torch._foreach_lerp_(self._target_params, self._online_params, self.tau)
        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(),
                "alpha": alpha, "q": q.detach().mean(), "entropy": -logp.detach().mean()}

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Actor, critics, target critics and log(alpha) as flat named tensors (for save_artifact)."""
        out = {}
        for name, module in (("actor", self.actor), ("critic", self.critic), ("critic_target", self.critic_target)):
            for key, value in module.state_dict().items():
                out[f"{prefix}.{name}.{key}"] = value
        out[f"{prefix}.log_alpha"] = self.log_alpha.detach()
        return out
