"""SAC's pieces against independent computations: the squashed-Gaussian log-probability, the twin critic, the
hand-computed gradients of the CPU update (``sac_fast``) against autograd's, and the fused Adam step (numbers worked
out by hand). The two update paths over hundreds of updates: ``test_sac_paths.py``."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution
from torch.distributions.transforms import TanhTransform

from cliprl_cli.adam import Adam
from cliprl_cli.furl.sac import SAC
from cliprl_cli.furl.sac_fast import actor_grads, actor_pass, critic_grads


STYLES = ["cleanrl", "authors"]


def make_agent(seed=0, style="cleanrl"):
    torch.manual_seed(seed)
    agent = SAC(39, 4, device=torch.device("cpu"), hidden=32, style=style)
    with torch.no_grad():
        agent.log_alpha.fill_(-1.3)
    return agent


def batch(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 39, generator=g), torch.rand(n, 4, generator=g) * 2 - 1, -torch.ones(n),
            torch.randn(n, 39, generator=g), torch.ones(n))


@pytest.mark.parametrize("style", STYLES)
def test_log_prob_matches_torch_distributions(style):
    agent = make_agent(style=style)
    obs = batch()[0]
    torch.manual_seed(3)
    action, logp, _ = agent.actor.sample(obs)
    mean, log_std = agent.actor(obs)
    dist = TransformedDistribution(Independent(Normal(mean, log_std.exp()), 1), [TanhTransform(cache_size=1)])
    torch.manual_seed(3)
    u = mean + log_std.exp() * torch.randn_like(mean)  # the same draw, before the squash
    reference = dist.log_prob(torch.tanh(u))
    assert torch.allclose(logp.squeeze(-1), reference, atol=1e-3)
    assert torch.allclose(action, torch.tanh(u), atol=1e-6)


def test_twin_critic_is_two_independent_mlps():
    agent = make_agent()
    obs, act = batch()[:2]
    q = agent.critic(obs, act)
    x = torch.cat([obs, act], dim=-1)
    for i in range(2):
        h = x
        for layer, (w, b) in enumerate(zip(agent.critic.weights, agent.critic.biases)):
            h = h @ w[i] + b[i]
            if layer < 2:
                h = torch.relu(h)
        assert torch.allclose(q[i], h, atol=1e-6)
    assert not torch.allclose(q[0], q[1])  # the two networks are initialised independently


@pytest.mark.parametrize("style", STYLES)
def test_hand_gradients_equal_autograd(style):
    agent = make_agent(style=style)
    obs, act, _, _, _ = batch()
    target = torch.randn(len(obs), 1, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        loss, _ = critic_grads(agent.critic, obs, act, target)
    by_hand = [p.grad.clone() for p in agent.critic.parameters()]
    agent.critic_opt.zero_grad()
    q = agent.critic(obs, act)
    reference = ((q - target) ** 2).mean(dim=(1, 2)).sum()
    reference.backward()
    assert torch.allclose(loss, reference)
    for mine, p in zip(by_hand, agent.critic.parameters()):
        assert torch.allclose(mine, p.grad, rtol=1e-4, atol=1e-7)

    alpha = agent.log_alpha.detach().exp()
    torch.manual_seed(7)
    with torch.no_grad():
        p = actor_pass(agent.actor, obs)
        loss = actor_grads(agent.actor, agent.critic, obs, alpha, p)
    by_hand = [p.grad.clone() for p in agent.actor.parameters()]
    agent.actor_opt.zero_grad()
    torch.manual_seed(7)
    new_act, logp_ref, _ = agent.actor.sample(obs)
    agent.critic.requires_grad_(False)
    reference = (alpha * logp_ref - agent.critic(obs, new_act).min(dim=0).values).mean()
    reference.backward()
    assert torch.allclose(loss, reference, atol=1e-6) and torch.allclose(p.logp, logp_ref, atol=1e-5)
    for mine, p in zip(by_hand, agent.actor.parameters()):
        assert torch.allclose(mine, p.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("style", STYLES)
def test_one_actor_pass_over_two_batches_is_two_passes(style):
    """The CPU update runs the actor on [s'; s] at once: the same rows and the same noise as two passes (s' first)."""
    agent = make_agent(style=style)
    obs, _, _, next_obs, _ = batch()
    torch.manual_seed(5)
    with torch.no_grad():
        both = actor_pass(agent.actor, torch.cat([next_obs, obs]))
    torch.manual_seed(5)
    with torch.no_grad():
        first, second = actor_pass(agent.actor, next_obs), actor_pass(agent.actor, obs)
    for whole, part in ((both.rows(slice(0, len(obs))), first), (both.rows(slice(len(obs), None)), second)):
        assert torch.equal(whole.eps, part.eps)
        for name in ("action", "logp", "a1", "a2"):
            assert torch.allclose(getattr(whole, name), getattr(part, name), atol=1e-6), name


def test_act_draws_like_sample():
    """Acting samples the same action as the full pass from the same noise, and the deterministic action is tanh(mean)."""
    agent = make_agent()
    obs = batch(n=3)[0]
    torch.manual_seed(9)
    acted = agent.act(obs)
    torch.manual_seed(9)
    with torch.no_grad():
        sampled, _, mean_action = agent.actor.sample(obs)
    assert torch.allclose(acted, sampled, atol=1e-6)
    assert torch.allclose(agent.act(obs, deterministic=True), mean_action)


@pytest.mark.parametrize("style", STYLES)
def test_fast_and_autograd_updates_agree_on_one_update(style):
    """A whole update both ways from the same state and noise: same losses, and parameters that moved alike."""
    results = []
    for fast in (True, False):
        agent = make_agent(style=style)
        agent.fast_cpu_update = fast
        torch.manual_seed(11)
        stats = agent.update(*batch())
        results.append((stats, [p.detach().clone() for p in [*agent.actor.parameters(), *agent.critic.parameters(),
                                                                *agent.critic_target.parameters(), agent.log_alpha]]))
    (s1, p1), (s2, p2) = results
    for key in ("critic_loss", "actor_loss", "q", "entropy"):
        assert torch.allclose(s1[key], s2[key], atol=1e-5), key
    # Adam's first step moves every parameter by lr * g / (|g| + eps), about 1e-4: agreement to a small fraction
    # of that means the same gradients (an element whose gradient is ~0 may round either way, hence the 2 lr bound)
    for a, b in zip(p1, p2):
        assert (a - b).abs().max() <= 2e-4 + 1e-7
        assert (a - b).abs().mean() < 1e-6


def test_alpha_gradient_by_hand():
    """d/d log(alpha) of -(alpha (log pi + H)) averaged: with every log pi = -1, H = -2, alpha = e^0 = 1 it is 3."""
    agent = SAC(3, 4, device=torch.device("cpu"), hidden=8)
    logp = torch.full((5, 1), -1.0)
    loss = -(agent.log_alpha.exp() * (logp + agent.target_entropy)).mean()
    loss.backward()
    assert agent.target_entropy == -2.0
    assert agent.log_alpha.grad.item() == pytest.approx(3.0)
    # the fast path's formula gives the same number
    assert (-(agent.log_alpha.detach().exp() * (logp.mean() + agent.target_entropy))).item() == pytest.approx(3.0)


@pytest.mark.parametrize("fused", [False, True])
def test_adam_steps_by_hand(fused):
    """p = 1, g = 0.5, lr = 0.1: step 1 moves by lr * g / |g| = 0.1; a second step with g = -0.5 gives
    m_hat = (0.9*0.05 - 0.05)/(1-0.81) = -0.0263..., v_hat = 0.25, so p = 0.9 + 0.1 * 0.0263/0.5."""
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = Adam([p], lr=0.1, fused=fused)
    p.grad = torch.tensor([0.5])
    opt.step()
    assert p.item() == pytest.approx(0.9, abs=1e-6)
    p.grad = torch.tensor([-0.5])
    opt.step()
    m_hat = (0.9 * 0.05 + 0.1 * -0.5) / (1 - 0.9 ** 2)
    v_hat = (0.999 * 0.00025 + 0.001 * 0.25) / (1 - 0.999 ** 2)
    assert p.item() == pytest.approx(0.9 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8), abs=1e-6)


def test_fused_adam_is_torch_fused_adam():
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(2, 5, 7)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    a, b = Adam(ours, lr=1e-2, fused=True), torch.optim.Adam(theirs, lr=1e-2, fused=True)
    for _ in range(5):
        grads = [torch.randn_like(p) for p in ours]
        for opt, params in ((a, ours), (b, theirs)):
            for p, g in zip(params, grads):
                p.grad = g.clone()
            opt.step()
    for x, y in zip(ours, theirs):
        assert torch.equal(x, y)


def test_initial_exploration_std_of_each_style():
    """authors: std = softplus(raw) + 1e-3 with zero biases and small raw outputs: about softplus(0) + 1e-3 = 0.694;
    cleanrl: log-std = -5 + 3.5 (tanh(raw) + 1), about exp(-1.5) = 0.223 near raw = 0."""
    obs = batch(n=256)[0] * 0.1
    for style, expected in (("authors", math.log(2.0) + 1e-3), ("cleanrl", math.exp(-1.5))):
        torch.manual_seed(0)
        agent = SAC(39, 4, device=torch.device("cpu"), hidden=256, style=style)
        with torch.no_grad():
            _, log_std = agent.actor(obs)
        assert log_std.exp().median().item() == pytest.approx(expected, rel=0.15), style


def test_authors_std_parameterisation_by_hand():
    """raw = 0: std = log 2 + 1e-3, d log-std / d raw = sigmoid(0) / std = 0.5 / 0.694...; raw = 20: std ~ 20.001."""
    actor = make_agent(style="authors").actor
    log_std, grad = actor.log_std_from_raw(torch.tensor([0.0, 20.0]))
    assert log_std.exp()[0].item() == pytest.approx(math.log(2.0) + 1e-3, rel=1e-6)
    assert grad[0].item() == pytest.approx(0.5 / (math.log(2.0) + 1e-3), rel=1e-6)
    assert log_std.exp()[1].item() == pytest.approx(20.001, rel=1e-6)
    raw = torch.linspace(-6, 6, 25, requires_grad=True)
    actor.log_std_from_raw(raw)[0].sum().backward()
    assert torch.allclose(raw.grad, actor.log_std_from_raw(raw.detach())[1], rtol=1e-5)


def test_authors_init_is_flax_default():
    """flax's Dense default: LeCun normal truncated at 2 std (variance 1/fan_in), zero biases, in every layer."""
    torch.manual_seed(0)
    agent = SAC(39, 4, device=torch.device("cpu"), hidden=256, style="authors")
    layers = [(m.weight, m.bias, m.in_features) for m in agent.actor.net if isinstance(m, torch.nn.Linear)]
    layers += [(w, b, w.shape[1]) for w, b in zip(agent.critic.weights, agent.critic.biases)]
    for w, b, fan_in in layers:
        assert torch.count_nonzero(b) == 0
        assert w.std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.1)
        assert w.abs().max().item() <= 2 / math.sqrt(fan_in) / 0.87962566103423978 + 1e-6
    assert torch.equal(agent.critic.weights[0], agent.critic_target.weights[0])
    assert not torch.equal(agent.critic.weights[0][0], agent.critic.weights[0][1])


@pytest.mark.parametrize("fast", [False, True])
def test_authors_actor_step_sees_the_critic_before_its_step(fast):
    """authors: the actor's gradient is taken through the critic as it was before the update; cleanrl's through the
    stepped critic. Checked against an actor gradient computed from a copy of the pre-update critic."""
    import copy

    agent = make_agent(style="authors")
    agent.fast_cpu_update = fast
    old_critic = copy.deepcopy(agent.critic).requires_grad_(False)
    old_actor = copy.deepcopy(agent.actor)
    obs = batch()[0]
    torch.manual_seed(13)
    agent.update(*batch())
    # the same draws: s' first (the TD target), then s (the actor loss)
    torch.manual_seed(13)
    with torch.no_grad():
        old_actor.sample(batch()[3])
    new_act, logp, _ = old_actor.sample(obs)
    alpha = math.exp(-1.3)  # make_agent's log(alpha), before the update
    (alpha * logp - old_critic(obs, new_act).min(dim=0).values).mean().backward()
    expected = [p.grad for p in old_actor.parameters()]
    for mine, ref in zip(agent.actor.parameters(), expected):
        assert mine.grad is not None
        assert torch.allclose(mine.grad, ref, rtol=1e-4, atol=1e-6)
