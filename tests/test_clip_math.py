import math

import pytest
import torch

from cliprl_cli.clip_rl.clip_math import info_nce, nearest_weights, similarity_weights, standardize
from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec, flatten_params, unflatten_params, weighted_average
from cliprl_cli.stats import iqm, paired_ratio, summarize


def test_info_nce_2x2_by_hand():
    # S = [[1, 0], [0.5, 1]], delta = 1.
    # rows:    -log(e^1/(e^1+e^0)) = log(1+e^-1) = 0.3132617;  -log(e^1/(e^0.5+e^1)) = log(1+e^-0.5) = 0.4740770
    # columns: -log(e^1/(e^1+e^0.5)) = 0.4740770;               -log(e^1/(e^0+e^1))   = 0.3132617
    # L = (0.3132617 + 0.4740770)/2 / 2 + (0.4740770 + 0.3132617)/2 / 2 = 0.7873387 / 2 = 0.3936693
    S = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    expected = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(-0.5)))
    assert info_nce(S, 1.0).item() == pytest.approx(expected, abs=1e-6)
    assert info_nce(S, 1.0).item() == pytest.approx(0.3936693, abs=1e-6)


def test_info_nce_is_symmetric_and_temperature_sharpens():
    S = torch.tensor([[0.9, 0.1, -0.3], [0.2, 0.8, 0.0], [0.4, -0.1, 0.7]])
    assert info_nce(S, 0.5).item() == pytest.approx(info_nce(S.T, 0.5).item(), abs=1e-6)
    assert info_nce(S, 0.05).item() < info_nce(S, 1.0).item()


def test_weighted_average_against_hand_average():
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 6.0, -1.0])
    assert weighted_average([a, b], [0.25, 0.75]).tolist() == [2.5, 5.0, 0.0]


def test_normalized_rule_matches_paper_when_positive():
    w, note = similarity_weights(torch.tensor([0.8, 0.6, 0.6]))
    assert w.tolist() == pytest.approx([0.4, 0.3, 0.3]) and note == "normalized"


def test_negative_similarity_rule():
    # The paper's d_i / sum d would give [0.9, -0.5, 0.6]/1.0 = a negative weight; we clamp to 0 first.
    w, note = similarity_weights(torch.tensor([0.9, -0.5, 0.6]))
    assert w.tolist() == pytest.approx([0.6, 0.0, 0.4]) and "clamped" in note
    w, note = similarity_weights(torch.tensor([-0.2, -0.7]))
    assert w.tolist() == [0.5, 0.5] and "uniform" in note
    w, note = similarity_weights(torch.tensor([0.5, -0.5]))  # sums to zero: the paper's rule divides by 0
    assert w.tolist() == [1.0, 0.0]


def test_softmax_rule_and_nearest():
    w, _ = similarity_weights(torch.tensor([1.0, 0.0]), "softmax", temperature=1.0)
    assert w.tolist() == pytest.approx([math.e / (math.e + 1), 1 / (math.e + 1)])
    assert nearest_weights(torch.tensor([0.1, 0.7, 0.3])).tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        similarity_weights(torch.tensor([1.0]), "max")


def test_standardize_by_hand():
    z, mean, std = standardize(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    assert mean.tolist() == [2.0, 5.0] and std.tolist() == [1.0, 1.0]  # constant column gets std 1
    assert z.tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_flatten_unflatten_round_trip():
    spec = PolicySpec(grid_size=5, hidden=8)
    params = PolicyNet(spec).state_dict()
    flat = flatten_params(params, spec)
    assert flat.numel() == sum(p.numel() for p in params.values())
    assert flat[:8 * 10].tolist() == params["trunk.0.weight"].reshape(-1).tolist()  # documented order: first layer first
    back = unflatten_params(flat, spec)
    assert all(torch.equal(back[k], params[k]) for k in params)
    with pytest.raises(ValueError):
        unflatten_params(flat[:-1], spec)


def test_stats_by_hand():
    assert iqm([1, 2, 3, 4, 100, 6, 7, 8]) == pytest.approx((3 + 4 + 6 + 7) / 4)
    s = summarize([10, 20, 30], [False, False, True])
    assert s["mean"] == 20 and s["median"] == 20 and s["censored"] == 1 and s["n"] == 3
    assert s["ci95"][0] <= 20 <= s["ci95"][1]
    r = paired_ratio([5, 5, 5], [10, 10, 10])
    assert r["ratio"] == 0.5 and r["ci95"] == [0.5, 0.5]
