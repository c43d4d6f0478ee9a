"""FuRL reward math against values worked out by hand (see the comments for the arithmetic)."""

import math

import pytest
import torch

from cliprl_cli.furl import rewards as R


def test_zero_shot_reward_is_cosine():
    text = torch.tensor([1.0, 0.0])
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    # cos with [1, 0]: 1, 0, 2/sqrt(8) = 0.7071
    assert R.zero_shot_reward(text, images).tolist() == pytest.approx([1.0, 0.0, math.sqrt(0.5)], abs=1e-6)


def test_aligned_reward_goes_through_the_heads():
    heads = R.Heads(2, 2, hidden=2, out=2)
    with torch.no_grad():
        for mlp in (heads.text, heads.image):
            for layer in (mlp[0], mlp[2]):
                layer.weight.copy_(torch.eye(2))
                layer.bias.zero_()
    text, image = torch.tensor([1.0, 0.0]), torch.tensor([[1.0, -1.0]])
    # zero-shot: cos([1,0],[1,-1]) = 0.7071; heads = relu(identity): relu([1,-1]) = [1,0] -> cos = 1
    assert R.zero_shot_reward(text, image).item() == pytest.approx(math.sqrt(0.5), abs=1e-6)
    assert R.aligned_reward(heads, text, image).item() == pytest.approx(1.0, abs=1e-6)


def test_ranking_loss():
    # max(0, r_low - r_high + m): 0.3 - 0.5 + 0.1 < 0 -> 0; 0.35 - 0.3 + 0.1 = 0.15
    out = R.ranking_loss(torch.tensor([0.5, 0.3]), torch.tensor([0.3, 0.35]), 0.1)
    assert out.tolist() == pytest.approx([0.0, 0.15], abs=1e-6)


def test_positive_alignment_loss_eq4():
    r_pos, r_neg, r_lag = torch.tensor([0.5, 0.2]), torch.tensor([0.45, 0.0]), torch.tensor([0.1, 0.3])
    total, pos_neg, pos_pos = R.positive_alignment_loss(r_pos, r_neg, r_lag, margin=0.1)
    # pos-neg: relu(0.45-0.5+0.1)=0.05, relu(0.0-0.2+0.1)=0 -> mean 0.025
    # pos-pos: relu(0.1-0.5+0.1)=0, relu(0.3-0.2+0.1)=0.2 -> mean 0.1
    assert pos_neg.item() == pytest.approx(0.025, abs=1e-6)
    assert pos_pos.item() == pytest.approx(0.1, abs=1e-6)
    assert total.item() == pytest.approx(0.125, abs=1e-6)


def test_goal_ranking_mask_and_negative_loss_eq5():
    dist = torch.tensor([0.1, 0.5, 0.35])
    mask = R.goal_ranking_mask(dist, 0.2)
    # d_i < d_j - 0.2: (0,1) 0.1 < 0.3 yes; (0,2) 0.1 < 0.15 yes; (2,1) 0.35 < 0.3 no; nothing else
    assert mask.tolist() == [[0, 1, 1], [0, 0, 0], [0, 0, 0]]
    r = torch.tensor([0.2, 0.25, 0.0])
    # (0,1): relu(0.25-0.2+0.1)=0.15; (0,2): relu(0.0-0.2+0.1)=0 -> mean over the 2 kept pairs = 0.075
    assert R.negative_alignment_loss(r, mask, 0.1).item() == pytest.approx(0.075, abs=1e-6)
    assert R.negative_alignment_loss(r, torch.zeros(3, 3), 0.1).item() == 0.0
    # the authors' reduction: the hinge summed over j (row 0: 0.15 + 0), averaged over the 3 rows = 0.05
    assert R.negative_alignment_loss(r, mask, 0.1, reduction="authors").item() == pytest.approx(0.05, abs=1e-6)
    assert R.negative_alignment_loss(r, torch.zeros(3, 3), 0.1, reduction="authors").item() == 0.0
    with pytest.raises(ValueError, match="reduction"):
        R.negative_alignment_loss(r, mask, 0.1, reduction="mean")


@pytest.mark.parametrize("alpha,expected", [
    (0.0, math.sqrt(0.5)),  # plain 1 - 0.5||x-g||^2 = cosine = 0.70711
    (1.0, 0.75),            # y = [-0.5, 0.5], ||y||^2 = 0.5
    (0.5, 0.739277),        # P = [[.75,-.25],[-.25,.75]], y = [-0.39645, 0.60355], ||y||^2 = 0.52145
])
def test_goal_baseline_reward(alpha, expected):
    x = torch.tensor([[1.0, 1.0]])  # normalised inside to [0.7071, 0.7071]
    g, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])  # d = g - b = [1, -1]
    assert R.goal_baseline_reward(x, g, b, alpha).item() == pytest.approx(expected, abs=1e-5)


def test_heads_shapes():
    heads = R.Heads(1024, 1024)
    assert heads.image(torch.zeros(3, 1024)).shape == (3, 64)
    assert heads.image[0].out_features == 256


def test_heads_flax_init_is_lecun_normal_with_zero_biases():
    torch.manual_seed(0)
    heads = R.Heads(1024, 512, init="flax")
    for layer, fan_in in ((heads.text[0], 1024), (heads.image[0], 512), (heads.image[2], 256)):
        w = layer.weight.detach()
        assert torch.count_nonzero(layer.bias) == 0
        # variance 1/fan_in; truncated at two standard deviations of the underlying normal (2 / 0.8796 / sqrt(fan_in))
        assert w.var().item() == pytest.approx(1.0 / fan_in, rel=0.05)
        assert w.abs().max().item() <= 2.0 / 0.87962566103423978 / math.sqrt(fan_in) + 1e-7
    torch_heads = R.Heads(1024, 512)
    assert torch.count_nonzero(torch_heads.text[0].bias) > 0  # nn.Linear's uniform biases
    with pytest.raises(ValueError, match="initialisation"):
        R.Heads(8, 8, init="xavier")


def test_kept_pair_fraction_by_hand():
    """Goal distances 0.1, 0.5, 0.6 with m' = 0.25: only (0, 1) and (0, 2) are kept (0.1 < 0.5 - 0.25, 0.1 < 0.35);
    (1, 2) is not (0.5 < 0.35 is false): 2 of the 3 x 2 = 6 ordered pairs."""
    mask = R.goal_ranking_mask(torch.tensor([0.1, 0.5, 0.6]), 0.25)
    assert mask.tolist() == [[0, 1, 1], [0, 0, 0], [0, 0, 0]]
    assert R.kept_pair_fraction(mask).item() == pytest.approx(2 / 6)
    assert R.kept_pair_fraction(R.goal_ranking_mask(torch.tensor([0.1, 0.5, 0.6]), 0.05)).item() == pytest.approx(3 / 6)


def test_nonzero_hinge_fraction_by_hand():
    """m = 0.1. pos-neg: 0.9 vs 0.5 (hinge 0), 0.3 vs 0.25 (0.05 > 0); pos-pos: 0.9 vs 0.85 (0.05 > 0), 0.3 vs 0.1
    (0): 2 of the 4 pairs."""
    frac = R.nonzero_hinge_fraction(torch.tensor([0.9, 0.3]), torch.tensor([0.5, 0.25]), torch.tensor([0.85, 0.1]),
                                    0.1)
    assert frac.item() == pytest.approx(0.5)
