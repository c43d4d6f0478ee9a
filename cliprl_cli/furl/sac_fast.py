"""SAC's update with hand-written backward passes: what :meth:`cliprl_cli.furl.sac.SAC.update` runs on the CPU.

The same update as the reference :meth:`~cliprl_cli.furl.sac.SAC.update_autograd` (same losses, same noise draws in
the same order, same optimizer steps), with the gradients written out by the chain rule instead of recorded by
autograd. Why: for networks this small, autograd's graph bookkeeping is a large part of an update on a CPU (a GPU
queues its kernels asynchronously and hides it). ``tests/test_sac_paths.py`` holds this path to the reference over
hundreds of updates on Meta-World transitions; ``tests/test_furl_sac.py`` compares single gradients.

Two savings only a hand-written pass can make, neither changing the result beyond float rounding:

- The actor runs once over [s'; s] (its parameters do not change before its own step; the noise comes out as the
  reference's two draws would, s' first).
- The actor loss goes back through only the critic that gave each row's minimum: autograd's rule for ``min`` sends
  the other critic exactly zero, so that half of the backward pass (one of the update's sixteen 256x256x256 matrix
  products, and half the elementwise work) is skipped.

The networks' forward passes are rewritten here with the activations kept (the backward passes need them), op for
op as the reference modules compute them; the policy's parameterisation (raw output -> log-std, log-probability) is the
:class:`~cliprl_cli.furl.sac.Actor`'s own. This module takes the agent, not its class, so it imports nothing from
``sac`` (which imports it).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class ActorPass(NamedTuple):
    """One forward pass of the actor with a reparameterised sample: a = tanh(u), u = mean + std * eps. The hidden
    activations and intermediates are kept for :func:`actor_grads`; ``logp`` is log pi(a|s), shape (B, 1)."""

    a1: torch.Tensor
    a2: torch.Tensor
    mean: torch.Tensor
    dlog_std: torch.Tensor  # d log-std / d raw output (the actor's parameterisation)
    log_std: torch.Tensor
    std: torch.Tensor
    eps: torch.Tensor
    u: torch.Tensor
    action: torch.Tensor
    logp: torch.Tensor

    def rows(self, index: slice) -> "ActorPass":
        return ActorPass(*(t[index] for t in self))


def _actor_layers(actor: nn.Module, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``actor.net`` as three ``addmm`` calls (what ``nn.Linear`` runs), keeping both hidden activations:
    ``(a1, a2, [mean, raw log-std])``. Each ReLU is in place on a matmul output, which no backward pass needs."""
    l1, l2, l3 = actor.net[0], actor.net[2], actor.net[4]
    a1 = torch.addmm(l1.bias, obs, l1.weight.t()).relu_()
    a2 = torch.addmm(l2.bias, a1, l2.weight.t()).relu_()
    return a1, a2, torch.addmm(l3.bias, a2, l3.weight.t())


def actor_pass(actor: nn.Module, obs: torch.Tensor) -> ActorPass:
    """The actor at ``obs`` with one standard-normal draw per action dimension, as ``actor.sample`` draws it."""
    a1, a2, out = _actor_layers(actor, obs)
    mean, raw = out.chunk(2, dim=-1)
    log_std, dlog_std = actor.log_std_from_raw(raw)
    std = log_std.exp()
    eps = torch.randn_like(mean)
    u = torch.addcmul(mean, std, eps)
    action = torch.tanh(u)
    return ActorPass(a1, a2, mean, dlog_std, log_std, std, eps, u, action, actor.log_prob(eps, log_std, u))


def critic_layers(critic: nn.Module, obs: torch.Tensor, act: torch.Tensor):
    """The twin critic's forward pass keeping what the backward passes need: ``(x0, h1, h2, q)``, the input [s, a]
    (B, in), both hidden activations and Q, each ``(2, B, .)`` but x0."""
    (w1, w2, w3), (b1, b2, b3) = critic.weights, critic.biases
    x0 = torch.cat([obs, act], dim=-1)
    h1 = torch.baddbmm(b1, x0.expand(critic.n, -1, -1), w1).relu_()
    h2 = torch.baddbmm(b2, h1, w2).relu_()
    return x0, h1, h2, torch.baddbmm(b3, h2, w3)


def _relu_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """grad where the ReLU's output is positive, else 0 (autograd's own kernel, much faster than grad * (out > 0))."""
    return torch.ops.aten.threshold_backward(grad, out, 0.0)


def _set_grad(param: torch.Tensor, value: torch.Tensor) -> None:
    param.grad = value


def critic_grads(critic: nn.Module, obs: torch.Tensor, act: torch.Tensor, target: torch.Tensor):
    """Set ``critic``'s ``.grad`` to the gradient of sum_i mean_b (Q_i(s, a) - target)^2; return (loss, q).

    Forward: x0 = [s, a]; h1 = relu(x0 W1 + b1); h2 = relu(h1 W2 + b2); q = h2 W3 + b3 (each with a leading
    dimension for the two networks). Backward: dq = 2 (q - target) / B, then the chain rule layer by layer; the
    input x0 needs no gradient.
    """
    (w1, w2, w3), (b1, b2, b3) = critic.weights, critic.biases
    x0, h1, h2, q = critic_layers(critic, obs, act)
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


def actor_grads(actor: nn.Module, critic: nn.Module, obs: torch.Tensor, alpha: torch.Tensor, p: ActorPass):
    """Set ``actor``'s ``.grad`` to the gradient of mean_b(alpha log pi(a|s) - min_i Q_i(s, a)), where ``p`` is
    :func:`actor_pass` at ``obs`` (a = ``p.action``, reparameterised); return the loss. The critic is only
    differentiated with respect to its action input.

    With a = tanh(u): d log pi / du = 2a (from -log(1 - tanh(u)^2)); d log pi / d log_std = -1 directly (the
    Gaussian's quadratic term is -eps^2/2 whatever mean and std are); du/d mean = 1, du/d log_std = std * eps;
    d log_std / d raw from the actor's parameterisation (``p.dlog_std``): (LOG_STD_MAX - LOG_STD_MIN)/2 *
    (1 - tanh(raw)^2) for ``cleanrl``, sigmoid(raw) / std for ``authors`` (std = softplus(raw) + 1e-3).
    """
    l1, l2, l3 = actor.net[0], actor.net[2], actor.net[4]
    action = p.action
    # the critics at (s, a): keep what the backward pass needs
    w1, w2, w3 = critic.weights
    obs_dim = obs.shape[1]
    _, h1, h2, q = critic_layers(critic, obs, action)
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
    d_raw = d_log_std.mul_(p.dlog_std)
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


@torch.no_grad()
def update(agent, obs: torch.Tensor, act: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
           discount: torch.Tensor) -> dict[str, torch.Tensor]:
    """One SAC gradient step of ``agent`` (a :class:`~cliprl_cli.furl.sac.SAC`), the reference's steps 1-4 with
    the gradients from :func:`critic_grads` and :func:`actor_grads`; returns the same detached stats."""
    alpha = agent.log_alpha.exp()
    # The actor at s' (TD target) and at s (its own loss) in one pass of 2B rows.
    both = actor_pass(agent.actor, torch.cat([next_obs, obs]))
    batch = obs.shape[0]
    at_next, at_obs = both.rows(slice(0, batch)), both.rows(slice(batch, None))
    # 1. TD target
    target = agent.td_target(reward, next_obs, discount, alpha, at_next.action, at_next.logp)
    # 2. critic gradient (cleanrl: and its step, which the actor then sees)
    critic_loss, q = critic_grads(agent.critic, obs, act, target)
    if agent.style == "cleanrl":
        agent.critic_opt.step()
    # 3. actor gradient, and the temperature's: d/d log(alpha) of -(alpha * (logp + H)).mean()
    actor_loss = actor_grads(agent.actor, agent.critic, obs, alpha, at_obs)
    agent.log_alpha.grad = -(alpha * (at_obs.logp.mean() + agent.target_entropy)).reshape(1)
    if agent.style == "authors":  # every gradient came from the parameters before the update
        agent.critic_opt.step()
    agent.actor_opt.step()
    # 4. target critics
    agent.update_target()
    return {"critic_loss": critic_loss, "actor_loss": actor_loss, "alpha": alpha, "q": q.mean(),
            "entropy": -at_obs.logp.mean()}
