"""The CPU's fast SAC update (``cliprl_cli.furl.sac_fast``, hand-written backward passes) against the reference
(``SAC.update_autograd``) over hundreds of updates on real Meta-World transitions.

Transitions: 3,000 uniform-random steps of drawer-close-v3 without rendering (the drawer starts open and random pushes
often close it, so the sparse reward ``success - 1`` takes both values). Two agents start from the same weights;
every update both get the same batch (indices from identically seeded generators) and the same global noise seed.

Why the comparison restarts from the reference's state every ``CHUNK`` updates: the two paths add and multiply in
different orders, so their float32 results differ by rounding (~1e-7 relative), and Adam turns some of that into
much more. It divides m by sqrt(v), so for a weight whose averaged gradient is near 0 a rounding-sized change of m
moves its step by a visible fraction of lr; and a ReLU input or a twin-critic minimum that rounding puts on the
other side of a tie changes one row's gradient outright. Left to run freely, the two trajectories therefore separate
the way any chaotic system's do: they agree to float32 rounding for a few hundred updates, until one such event sets
off a divergence that grows by orders of magnitude over the next hundreds. Comparing after ``CHUNK`` free updates
from a shared state checks the computation of every update along a 300-update training run, with bounds that a
wrong formula breaks (see ``test_the_check_catches_a_one_percent_error``):

- parameters (actor, critics, target critics): within 1% of one Adam step (lr) per update of the chunk; a wrong
  gradient moves weights by O(lr) per update.
- Adam's moments m and v, per tensor: relative (Frobenius) error below 1e-3; Adam's step is blind to a gradient
  scaled by a constant, its moments are not (a 1% error gives 1e-2 in m, 2e-2 in v).
- log(alpha): within 1e-6 (its gradient is a mean of B log-probabilities; observed: equal, or a few float32 ulps).

Both SAC styles are checked: ``cleanrl`` (log-std squashed into [-5, 2], critic stepped before the actor) and
``authors`` (the FuRL authors' softplus std + 1e-3, flax init, every gradient from the pre-update parameters).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from cliprl_cli.furl import sac_fast
from cliprl_cli.furl.env import make_env
from cliprl_cli.furl.sac import SAC

TASK = "drawer-close-v3"
TRANSITIONS = 3000
UPDATES = 300
CHUNK = 10
BATCH = 256
LR = 1e-4
PARAM_TOL_PER_UPDATE = 0.01 * LR
MOMENT_REL_TOL = 1e-3
LOG_ALPHA_TOL = 1e-6


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: the test compares formulas, not parallel speed, and on a busy machine torch's worker threads
    spin against other processes (many times slower); both paths run with the same setting either way."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_cleanrl_agent(hidden: int) -> SAC:
    return SAC(39, 4, device=torch.device("cpu"), hidden=hidden, lr=LR, style="cleanrl")


def make_authors_agent(hidden: int) -> SAC:
    return SAC(39, 4, device=torch.device("cpu"), hidden=hidden, lr=LR, style="authors")


STYLES = {"cleanrl": make_cleanrl_agent, "authors": make_authors_agent}


@functools.lru_cache(maxsize=1)
def transitions() -> tuple[torch.Tensor, ...]:
    """(obs, act, reward, next_obs, discount) of uniform-random steps, reward ``success - 1``, discount 1 (Meta-World
    never terminates: time limits bootstrap)."""
    env = make_env(TASK, seed=0, image_size=None)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    rows = []
    for _ in range(TRANSITIONS):
        act = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        next_obs, _, terminated, truncated, info = env.step(act)
        rows.append((obs, act, float(info["success"]) - 1.0, next_obs))
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    o, a, r, n = (np.array(x, dtype=np.float32) for x in zip(*rows))
    assert 0 < (r == 0).sum() < len(r)  # successes and failures: the sparse reward takes both values
    return tuple(torch.as_tensor(x) for x in (o, a, r, n, np.ones(len(r), dtype=np.float32)))


def agent_tensors(agent: SAC) -> dict[str, list[torch.Tensor]]:
    return {"params": [*agent.actor.parameters(), *agent.critic.parameters(), *agent.critic_target.parameters()],
            "m": [*agent.critic_opt.exp_avg, *agent.actor_opt.exp_avg],
            "v": [*agent.critic_opt.exp_avg_sq, *agent.actor_opt.exp_avg_sq],
            "log_alpha": [agent.log_alpha]}


@torch.no_grad()
def copy_state(src: SAC, dst: SAC) -> None:
    """Everything an update reads and writes: weights, log(alpha), both optimizers' moments and step counts."""
    for key, tensors in agent_tensors(src).items():
        for a, b in zip(tensors, agent_tensors(dst)[key]):
            b.copy_(a)
    for name in ("critic_opt", "actor_opt"):
        getattr(dst, name).step_count = getattr(src, name).step_count


def deviations(ref: SAC, fast: SAC) -> dict[str, float]:
    """Max over tensors: absolute parameter and log(alpha) differences, relative (Frobenius) moment differences."""
    r, f = agent_tensors(ref), agent_tensors(fast)
    return {"params": max((a - b).abs().max().item() for a, b in zip(r["params"], f["params"])),
            "m": max(((a - b).norm() / a.norm().clamp_min(1e-30)).item() for a, b in zip(r["m"], f["m"])),
            "v": max(((a - b).norm() / a.norm().clamp_min(1e-30)).item() for a, b in zip(r["v"], f["v"])),
            "log_alpha": (r["log_alpha"][0] - f["log_alpha"][0]).abs().item()}


def compare_paths(style: str, hidden: int, updates: int = UPDATES) -> list[dict[str, float]]:
    """Run the reference and the fast path side by side; return the deviations after every chunk (the fast agent
    restarts from the reference's state after each)."""
    obs, act, reward, next_obs, discount = transitions()
    agents = []
    for fast in (False, True):
        torch.manual_seed(0)
        agent = STYLES[style](hidden)
        agent.fast_cpu_update = fast
        agents.append(agent)
    ref, fast = agents
    assert all(torch.equal(a, b) for a, b in zip(agent_tensors(ref)["params"], agent_tensors(fast)["params"]))
    gens = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)]
    found = []
    for step in range(updates):
        for agent, gen in zip(agents, gens):
            idx = torch.randint(0, len(obs), (BATCH,), generator=gen)
            torch.manual_seed(1000 + step)  # the same policy noise for both
            stats = agent.update(obs[idx], act[idx], reward[idx], next_obs[idx], discount[idx])
            assert all(torch.isfinite(v).all() for v in stats.values())
        if (step + 1) % CHUNK == 0:
            found.append(deviations(ref, fast))
            copy_state(ref, fast)
    return found


def assert_within_tolerance(found: list[dict[str, float]]) -> None:
    worst = {key: max(d[key] for d in found) for key in found[0]}
    assert worst["params"] <= PARAM_TOL_PER_UPDATE * CHUNK, worst
    assert worst["m"] <= MOMENT_REL_TOL and worst["v"] <= MOMENT_REL_TOL, worst
    assert worst["log_alpha"] <= LOG_ALPHA_TOL, worst


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("hidden", [64, 256])
def test_fast_path_equals_reference_over_hundreds_of_updates(style, hidden):
    found = compare_paths(style, hidden)
    assert len(found) == UPDATES // CHUNK
    assert_within_tolerance(found)


@pytest.mark.parametrize("style", list(STYLES))
def test_the_check_catches_a_one_percent_error(monkeypatch, style):
    """The bounds are tight enough to matter: a fast path whose actor gradient is 1% too large in one layer fails."""
    right = sac_fast.actor_grads

    def one_percent_off(actor, *args):
        loss = right(actor, *args)
        actor.net[2].weight.grad.mul_(1.01)
        return loss

    monkeypatch.setattr(sac_fast, "actor_grads", one_percent_off)
    with pytest.raises(AssertionError):
        assert_within_tolerance(compare_paths(style, 64, updates=2 * CHUNK))


def test_the_check_catches_the_other_update_order(monkeypatch):
    """Stepping the critic at the wrong time (the cleanrl order in an authors-style fast path) fails the check."""
    right = sac_fast.update

    def wrong_order(agent, *args):
        agent.style = "cleanrl"
        try:
            return right(agent, *args)
        finally:
            agent.style = "authors"

    monkeypatch.setattr(sac_fast, "update", wrong_order)
    with pytest.raises(AssertionError):
        assert_within_tolerance(compare_paths("authors", 64, updates=2 * CHUNK))
