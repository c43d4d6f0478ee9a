"""Entropy-matched starts: entropies and temperatures worked out by hand, and a policy's greedy action unchanged."""

import math

import pytest
import torch

from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec
from cliprl_cli.clip_rl.start_entropy import (mean_entropy, match_start, matching_temperature, start_observations,
                                              with_temperature)


def test_mean_entropy_by_hand():
    assert mean_entropy(torch.tensor([[0.0, 0.0]])) == pytest.approx(math.log(2))
    # p = (1/4, 3/4): H = 1/4 ln 4 + 3/4 ln 4/3 = 0.562335
    assert mean_entropy(torch.tensor([[0.0, math.log(3)]])) == pytest.approx(0.562335, abs=1e-6)
    # the mean over rows: (ln 2 + 0.562335) / 2
    assert mean_entropy(torch.tensor([[0.0, 0.0], [0.0, math.log(3)]])) == pytest.approx(0.627741, abs=1e-6)


def test_the_temperature_that_reaches_the_floor_by_hand():
    # logits (0, 2 ln 3) divided by T = 2 are (0, ln 3), whose entropy is 0.562335: the floor is met at T = 2
    logits = torch.tensor([[0.0, 2 * math.log(3)]])
    assert mean_entropy(logits) == pytest.approx(0.325083, abs=1e-6)
    assert matching_temperature(logits, 0.562335) == pytest.approx(2.0, rel=1e-4)
    # a start already at least as flat as the floor is left alone
    assert matching_temperature(torch.tensor([[0.0, math.log(3)]]), 0.5) == 1.0
    with pytest.raises(ValueError, match="must lie in"):
        matching_temperature(logits, math.log(2))


def test_matching_scales_only_the_logits_and_keeps_the_greedy_policy():
    spec = PolicySpec(grid_size=6, hidden=16, layers=2)
    torch.manual_seed(0)
    net = PolicyNet(spec)
    with torch.no_grad():
        net.logits.weight.mul_(5000.0)  # a peaked policy
    params = {k: v.clone() for k, v in net.state_dict().items()}
    obs = start_observations(spec, (0, 0))
    assert obs.shape[0] == 35  # every cell but the goal
    matched, temperature, before, after = match_start(params, spec, obs, 0.7)
    assert temperature > 1.0 and before < 0.7 and after == pytest.approx(0.7, abs=1e-4)
    for name in params:
        scale = temperature if name in ("logits.weight", "logits.bias") else 1.0
        torch.testing.assert_close(matched[name] * scale, params[name])
    net2 = PolicyNet(spec)
    net2.load_state_dict(matched)
    with torch.no_grad():
        assert torch.equal(net(obs)[0].argmax(1), net2(obs)[0].argmax(1))
    assert with_temperature(params, 1.0)["logits.weight"].equal(params["logits.weight"])
