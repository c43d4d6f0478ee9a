"""Soft Actor-Critic in torch, CleanRL-style: flat, one update function, the paper's Table 5 defaults.

Table 5: actor and critics 256x256, Adam lr 1e-4 (actor, critics and temperature), batch 256, Polyak target update
tau 0.01, gamma 0.99, target entropy -|A|/2, one gradient step per environment step.

Speed without changing the algorithm:

- The twin critics are one module (:class:`TwinCritic`): both Q networks' weights are stacked along a leading
  dimension of 2 and evaluated with ``torch.baddbmm``, so a critic forward/backward is 3 batched matmuls instead of
  6 separate linear layers, and one optimizer step covers both.
- Adam is :class:`cliprl_cli.adam.Adam` with ``fused=True``: one ``torch._fused_adam_`` kernel call per step
  (bit-identical to ``torch.optim.Adam(fused=True)``, without its Python overhead or its ``torch._dynamo``
  import). The actor and log(alpha) share one optimizer: both are stepped after their losses are computed,
  neither loss depends on the other's parameters, so one step over both is the same as two. The target update
  is one ``torch._foreach_lerp_``.
- :meth:`SAC.update` returns detached tensors and never calls ``.item()``: the training loop syncs with the
  device only when it logs.
- On the CPU, :meth:`SAC.update` computes the gradients by hand (:func:`critic_grads`, :func:`actor_grads`): the
  same gradients as autograd (a test compares them), without the autograd graph's bookkeeping, which is a third of
  an update at batch 256 on one core. :meth:`SAC.update_autograd` is the reference that reads like the paper and
  is what a GPU runs (there the kernels are queued asynchronously and the bookkeeping is hidden). Two savings
  only the hand-written path can make: the actor runs once over [s'; s] (its parameters do not change before
  its own step; the noise is drawn in the same order), and the actor loss goes back through only the critic
  that gave each row's minimum (autograd's rule for ``min`` sends the other one exactly zero), which drops one of
  the update's sixteen 256x256x256 matrix products and half the elementwise work of that backward pass.
- Acting (one observation per step) skips the log-probability: :meth:`Actor.act`.
- The training run keeps freed memory in the process and flushes denormals to zero (:mod:`cliprl_cli.cpu_tuning`):
  otherwise the update's 512 KiB temporaries come back as fresh, zero-filled pages, and Adam's moments of
  never-active units decay into denormals that slow every later step (same weights either way).

Choices: PyTorch's default ``nn.Linear`` initialisation (the authors use orthogonal init); the actor's log-std is
squashed into [-5, 2] with a tanh (CleanRL); the critic is updated first, then the actor and temperature with the
updated critic (CleanRL/SB3 order; the authors' JAX code updates the actor first); log(alpha) starts at 0.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..adam import Adam

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy; actions in [-1, 1] (Meta-World's action box)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * act_dim))

    def forward(self, obs: torch.Tensor):
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, _log_std(torch.tanh(log_std))

    def sample(self, obs: torch.Tensor):
        """(squashed sampled action, its log-probability (B, 1), squashed mean action)."""
        p = actor_pass(self, obs)
        return p.action, p.logp, torch.tanh(p.mean)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """An action only (no log-probability): what the environment loop needs, with the same noise draw as
        :meth:`sample`; the deterministic action draws none."""
        mean, raw_log_std = _actor_layers(self, obs)[-1].chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean)
        return torch.tanh(torch.addcmul(mean, _log_std(torch.tanh(raw_log_std)).exp(), torch.randn_like(mean)))


def _log_std(squash: torch.Tensor) -> torch.Tensor:
    """The raw log-std output, already through tanh, mapped onto [LOG_STD_MIN, LOG_STD_MAX]."""
    return LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (squash + 1.0)


class ActorPass(NamedTuple):
    """One forward pass of the actor with a reparameterised sample: a = tanh(u), u = mean + std * eps. The hidden
    activations and intermediates are kept for :func:`actor_grads`; ``logp`` is log pi(a|s), shape (B, 1)."""

    a1: torch.Tensor
    a2: torch.Tensor
    mean: torch.Tensor
    squash: torch.Tensor
    log_std: torch.Tensor
    std: torch.Tensor
    eps: torch.Tensor
    u: torch.Tensor
    action: torch.Tensor
    logp: torch.Tensor

    def rows(self, index: slice) -> "ActorPass":
        return ActorPass(*(t[index] for t in self))


def _actor_layers(actor: Actor, obs: torch.Tensor):
    """``actor.net`` as three ``addmm`` calls, keeping both hidden activations: ``(a1, a2, [mean, raw log-std])``."""
    l1, l2, l3 = actor.net[0], actor.net[2], actor.net[4]
    a1 = torch.addmm(l1.bias, obs, l1.weight.t()).relu_()
    a2 = torch.addmm(l2.bias, a1, l2.weight.t()).relu_()
    return a1, a2, torch.addmm(l3.bias, a2, l3.weight.t())


def actor_pass(actor: Actor, obs: torch.Tensor) -> ActorPass:
    """The actor at ``obs`` with one standard-normal draw per action dimension. Autograd-safe (the autograd path
    samples through it too): each ReLU is in place on a matmul output, which the matmul's backward does not need."""
    a1, a2, out = _actor_layers(actor, obs)
    mean, raw_log_std = out.chunk(2, dim=-1)
    squash = torch.tanh(raw_log_std)
    log_std = _log_std(squash)
    std = log_std.exp()
    eps = torch.randn_like(mean)
    u = torch.addcmul(mean, std, eps)
    action = torch.tanh(u)
    # log N(u; mean, std) = -eps^2/2 - log std - log(2 pi)/2, since (u - mean)/std = eps; minus
    # sum log(1 - tanh(u)^2), in the stable form 2(log 2 - u - softplus(-2u)).
    logp = (-0.5 * eps.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1, keepdim=True)
    logp = logp - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1, keepdim=True)
    return ActorPass(a1, a2, mean, squash, log_std, std, eps, u, action, logp)


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
        return self.layers(obs, act)[-1]

    def layers(self, obs: torch.Tensor, act: torch.Tensor):
        """``(x0, h1, h2, q)``: the input [s, a] (B, in), both hidden activations and Q, each ``(2, B, .)`` but x0;
        the hand-written backward passes (:func:`critic_grads`, :func:`actor_grads`) need them all."""
        (w1, w2, w3), (b1, b2, b3) = self.weights, self.biases
        x0 = torch.cat([obs, act], dim=-1)
        # relu in place: baddbmm's backward needs its inputs, not its output
        h1 = torch.baddbmm(b1, x0.expand(self.n, -1, -1), w1).relu_()
        h2 = torch.baddbmm(b2, h1, w2).relu_()
        return x0, h1, h2, torch.baddbmm(b3, h2, w3)


def _relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """grad where the ReLU's output is positive, else 0 (autograd's own kernel: 9x faster here than grad * (out > 0))."""
    return torch.ops.aten.threshold_backward(grad, out, 0.0)


def _set_grad(param: torch.Tensor, value: torch.Tensor) -> None:
    param.grad = value


def critic_grads(critic: TwinCritic, obs: torch.Tensor, act: torch.Tensor, target: torch.Tensor):
    """Set ``critic``'s ``.grad`` to the gradient of sum_i mean_b (Q_i(s, a) - target)^2; return (loss, q).

    Forward: x0 = [s, a]; h1 = relu(x0 W1 + b1); h2 = relu(h1 W2 + b2); q = h2 W3 + b3 (each with a leading
    dimension for the two networks). Backward: dq = 2 (q - target) / B, then the chain rule layer by layer; the
    input x0 needs no gradient.
    """
    (w1, w2, w3), (b1, b2, b3) = critic.weights, critic.biases
    x0, h1, h2, q = critic.layers(obs, act)
    error = q - target
    loss = error.square().mean(dim=(1, 2)).sum()
    dq = error.mul_(2.0 / q.shape[1])
    _set_grad(w3, h2.transpose(1, 2).bmm(dq))
    _set_grad(b3, dq.sum(dim=1, keepdim=True))
    dh2 = _relu_backward(dq * w3.transpose(1, 2), h2)
    _set_grad(w2, h1.transpose(1, 2).bmm(dh2))
    _set_grad(b2, dh2.sum(dim=1, keepdim=True))
    dh1 = _relu_backward(dh2.bmm(w2.transpose(1, 2)), h1)
    _set_grad(w1, torch.bmm(x0.t().expand(dh1.shape[0], -1, -1), dh1))
    _set_grad(b1, dh1.sum(dim=1, keepdim=True))
    return loss, q


def actor_grads(actor: Actor, critic: TwinCritic, obs: torch.Tensor, alpha: torch.Tensor, p: ActorPass):
    """Set ``actor``'s ``.grad`` to the gradient of mean_b(alpha log pi(a|s) - min_i Q_i(s, a)), where ``p`` is
    :func:`actor_pass` at ``obs`` (a = ``p.action``, reparameterised); return the loss. The critic is only
    differentiated with respect to its action input.

    With a = tanh(u): d log pi / du = 2a (from -log(1 - tanh(u)^2)); d log pi / d log_std = -1 directly (the
    Gaussian's quadratic term is -eps^2/2 whatever mean and std are); du/d mean = 1, du/d log_std = std * eps.
    """
    l1, l2, l3 = actor.net[0], actor.net[2], actor.net[4]
    action = p.action
    # the critics at (s, a): keep what the backward pass needs
    w1, w2, w3 = critic.weights
    obs_dim = obs.shape[1]
    _, h1, h2, q = critic.layers(obs, action)
    q_min, which = q.min(dim=0)
    batch = obs.shape[0]
    loss = (alpha * p.logp - q_min).mean()

    # dL/da = -1/B dQ_i/da through the critic i that gave the minimum (autograd's rule for min: the other critic's
    # gradient is exactly 0), so each row goes back through one critic only: half the work of both.
    d_action = torch.empty_like(action)
    which = which.view(-1)
    for i in range(q.shape[0]):
        rows = torch.nonzero(which == i).view(-1)
        dh2 = _relu_backward(w3[i].t().mul(-1.0 / batch).expand(len(rows), -1), h2[i].index_select(0, rows))
        dh1 = _relu_backward(dh2.mm(w2[i].t()), h1[i].index_select(0, rows))
        d_action.index_copy_(0, rows, dh1.mm(w1[i, obs_dim:, :].t()))
    # then through the tanh squash and the Gaussian's reparameterisation
    du = d_action.mul_(1.0 - action.square()).addcmul_(action, alpha * (2.0 / batch))
    d_log_std = (du * p.std * p.eps).sub_(alpha / batch)
    d_raw = d_log_std.mul_((0.5 * (LOG_STD_MAX - LOG_STD_MIN)) * (1.0 - p.squash.square()))
    d_out = torch.cat([du, d_raw], dim=-1)
    _set_grad(l3.weight, d_out.t().mm(p.a2))
    _set_grad(l3.bias, d_out.sum(dim=0))
    d_a2 = _relu_backward(d_out.mm(l3.weight), p.a2)
    _set_grad(l2.weight, d_a2.t().mm(p.a1))
    _set_grad(l2.bias, d_a2.sum(dim=0))
    d_a1 = _relu_backward(d_a2.mm(l2.weight), p.a1)
    _set_grad(l1.weight, d_a1.t().mm(obs))
    _set_grad(l1.bias, d_a1.sum(dim=0))
    return loss


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
        self.critic_opt = Adam(self.critic.parameters(), lr=lr, fused=True)
        self.actor_opt = Adam([*self.actor.parameters(), self.log_alpha], lr=lr, fused=True)
        self._target_params = list(self.critic_target.parameters())
        self._online_params = list(self.critic.parameters())
        # Hand-computed gradients pay on the CPU only (see the module docstring).
        self.manual_gradients = device.type == "cpu"

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self.actor.act(obs, deterministic)

    def update(self, obs, act, reward, next_obs, discount) -> dict[str, torch.Tensor]:
        """One SAC gradient step on a batch (``reward``, ``discount`` shaped ``(B,)``); returns detached stats."""
        if self.manual_gradients:
            return self._update_manual(obs, act, reward, next_obs, discount)
        return self.update_autograd(obs, act, reward, next_obs, discount)

    def _update_manual(self, obs, act, reward, next_obs, discount) -> dict[str, torch.Tensor]:
        """:meth:`update_autograd` step for step, with the gradients from :func:`critic_grads`/:func:`actor_grads`."""
        with torch.no_grad():
            alpha = self.log_alpha.exp()
            # The actor at s' (TD target) and at s (its own loss) in one pass of 2B rows: its parameters do not
            # change before the actor step, and the noise comes out as the two separate draws would (s' first).
            both = actor_pass(self.actor, torch.cat([next_obs, obs]))
            batch = obs.shape[0]
            at_next, at_obs = both.rows(slice(0, batch)), both.rows(slice(batch, None))
            target = self._td_target(reward, next_obs, discount, alpha, at_next.action, at_next.logp)
            critic_loss, q = critic_grads(self.critic, obs, act, target)
            self.critic_opt.step()
            actor_loss = actor_grads(self.actor, self.critic, obs, alpha, at_obs)
            # d/d log(alpha) of -(alpha * (logp + H)).mean()
            self.log_alpha.grad = -(alpha * (at_obs.logp.mean() + self.target_entropy)).reshape(1)
            self.actor_opt.step()
            torch._foreach_lerp_(self._target_params, self._online_params, self.tau)
        return {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha": alpha, "q": q.mean(),
                "entropy": -at_obs.logp.mean()}

    def _td_target(self, reward, next_obs, discount, alpha, next_act, next_logp) -> torch.Tensor:
        """r + gamma * d * (min_i Q'_i(s', a') - alpha log pi(a'|s')), a' ~ pi(s'); shape (B, 1)."""
        next_q = self.critic_target(next_obs, next_act).min(dim=0).values - alpha * next_logp
        return torch.addcmul(reward.unsqueeze(-1), discount.unsqueeze(-1), next_q, value=self.gamma)

    def update_autograd(self, obs, act, reward, next_obs, discount) -> dict[str, torch.Tensor]:
        """The update as autograd computes it: the reference for :meth:`_update_manual`, and the GPU path."""
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_act, next_logp, _ = self.actor.sample(next_obs)
            target = self._td_target(reward, next_obs, discount, alpha, next_act, next_logp)
        q = self.critic(obs, act)
        critic_loss = F.mse_loss(q, target.unsqueeze(0).expand_as(q), reduction="none").mean(dim=(1, 2)).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()

        new_act, logp, _ = self.actor.sample(obs)
        self.critic.requires_grad_(False)
        q_pi = self.critic(obs, new_act).min(dim=0).values
        self.critic.requires_grad_(True)
        actor_loss = (alpha * logp - q_pi).mean()
        alpha_loss = -(self.log_alpha.exp() * (logp.detach() + self.target_entropy)).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        alpha_loss.backward()
        self.actor_opt.step()

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
