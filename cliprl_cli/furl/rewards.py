"""The FuRL reward math as small pure torch functions (tested against numbers worked out by hand).

Notation and equation numbers follow the FuRL paper (Fu et al., "FuRL: Visual-Language Models as Fuzzy Rewards for
Reinforcement Learning", ICML 2024):

- Eq. 2, zero-shot reward: ``r = cos(Phi_L(l), Phi_I(o))``            -> :func:`zero_shot_reward`
- Eq. 3, aligned reward:   ``r = cos(f_L(Phi_L(l)), f_I(Phi_I(o)))`` -> :class:`Heads` + :func:`aligned_reward`
- ranking loss ``l_m(a, b) = max(0, r(b) - r(a) + m)`` (a should outrank b)  -> :func:`ranking_loss`
- Eq. 4 (after the first success): pos-neg + pos-pos (window k)        -> :func:`positive_alignment_loss`
- Eq. 5 (before any success, goal image): neg-neg pairs ranked by their embedding distance to the goal image
  -> :func:`goal_ranking_mask` + :func:`negative_alignment_loss`
- VLM-RM goal-baseline reward (Rocamonde et al. 2023): ``R = 1 - 0.5 ||(x - g) P||^2`` with
  ``P = a d d^T / ||d||^2 + (1 - a) I``, ``d = g - b``  -> :func:`goal_baseline_reward`

Choices the paper leaves open (documented here, mirrored in the README):

- The ranking loss is written with the margin inside the hinge, ``max(0, r(b) - r(a) + m)``, as in the paper's text;
  the authors' JAX code uses the margin only in the mask, which has the same gradient but a different value.
- Eq. 5's reduction is a choice (``reduction``): ``authors`` sums the hinge over j and averages over i
  (``sum_j mask_ij l_m(o_i, o_j)``, averaged over the B rows), as the authors' code does; ``pairs`` averages it over
  the pairs the mask keeps (``sum(mask * hinge) / max(1, sum(mask))``), the expectation "over negative pairs" of the
  paper's text. ``authors`` is ``pairs`` times K / B (K kept pairs in a batch of B), and the heads'
  one Adam state serves Eq. 4 and Eq. 5 alike, so the choice changes how much Eq. 5 moves the heads between Eq. 4
  steps. ``cliprl furl``'s paper profile uses ``authors``.
- The heads start from PyTorch's ``nn.Linear`` initialisation (``init="torch"``) or flax's default
  (``init="flax"``: LeCun-normal weights truncated at two standard deviations, zero biases), the authors'.
- In the goal-baseline reward ``x``, ``g`` and ``b`` are unit-normalised (as in Rocamonde et al.), so R <= 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import FurlConfig
from .sac import flax_default_init_

HEAD_HIDDEN = 256
HEAD_OUT = 64


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between ``a`` ``(..., D)`` and ``b`` ``(D,)`` (broadcast over ``a``'s leading dimensions), in float32."""
    return F.cosine_similarity(a.float(), b.float().expand_as(a), dim=-1)


def zero_shot_reward(text_emb: torch.Tensor, image_emb: torch.Tensor, *, assume_unit_norm: bool = False
                     ) -> torch.Tensor:
    """Eq. 2: cosine between the instruction embedding ``(D,)`` and image embeddings ``(..., D)``.

    ``assume_unit_norm=True`` is for embeddings the VLM already L2-normalised (:mod:`cliprl_cli.furl.vlm`): the
    cosine is then their dot product, computed as such (what training uses: one matrix-vector product per batch).
    Stored image embeddings are float16, so their norms differ from 1 in the 4th decimal and the two forms differ
    in the last bits; the expert-trajectory record (``expert_rewards.json``, ``zero_shot``) keeps the exact cosine.
    """
    if assume_unit_norm:
        return image_emb.float() @ text_emb.float()
    return cosine(image_emb, text_emb)


def aligned_reward(heads: "Heads", text_emb: torch.Tensor, image_emb: torch.Tensor) -> torch.Tensor:
    """Eq. 3: cosine between the instruction and image embeddings after the heads f_L, f_I."""
    text = heads.text(text_emb.float())
    return cosine(heads.image(image_emb.float()), text)


def ranking_loss(r_high: torch.Tensor, r_low: torch.Tensor, margin: float) -> torch.Tensor:
    """Element-wise ``max(0, r_low - r_high + margin)``: zero once ``r_high`` outranks ``r_low`` by the margin."""
    return torch.relu(r_low - r_high + margin)


def positive_alignment_loss(r_pos: torch.Tensor, r_neg: torch.Tensor, r_lag: torch.Tensor,
                            margin: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 4: ``E[l_m(pos, neg)] + E[l_m(pos_i, pos_{i-k})]``; returns (total, pos-neg term, pos-pos term).

    ``r_pos[i]`` and ``r_lag[i]`` are the rewards of frame i and frame i-k of the same successful trajectory;
    ``r_neg`` are the rewards of frames from failed trajectories, paired with the positives at random.
    """
    pos_neg = ranking_loss(r_pos, r_neg, margin).mean()
    pos_pos = ranking_loss(r_pos, r_lag, margin).mean()
    return pos_neg + pos_pos, pos_neg, pos_pos


def goal_ranking_mask(goal_dist: torch.Tensor, dist_margin: float = FurlConfig().eq5_margin) -> torch.Tensor:
    """Eq. 5's pair mask: ``mask[i, j] = ||e_i - e_g|| < ||e_j - e_g|| - m'`` (frame i is clearly closer to the goal).

    ``dist_margin`` (m') defaults to the run's default (:attr:`FurlConfig.eq5_margin`); a run passes its own."""
    d = goal_dist.float()
    return (d[:, None] < d[None, :] - dist_margin).float()


EQ5_REDUCTIONS = ("authors", "pairs")
HEAD_INITS = ("flax", "torch")


def negative_alignment_loss(r: torch.Tensor, mask: torch.Tensor, margin: float = 0.1, reduction: str = "pairs"
                            ) -> torch.Tensor:
    """Eq. 5 over the pairs (i, j) the mask keeps, hinge ``l_m(o_i, o_j)``: ``pairs``, its mean over the kept pairs
    (0 when none is kept); ``authors``, its sum over j averaged over i (the module docstring says why both)."""
    hinge = ranking_loss(r[:, None], r[None, :], margin) * mask
    if reduction == "authors":
        return hinge.sum(-1).mean()
    if reduction == "pairs":
        return hinge.sum() / mask.sum().clamp(min=1.0)
    raise ValueError(f"unknown Eq. 5 reduction {reduction!r}; known: {', '.join(EQ5_REDUCTIONS)}")


def kept_pair_fraction(mask: torch.Tensor) -> torch.Tensor:
    """The fraction of Eq. 5's ordered pairs (i, j), i != j, that the mask keeps: ``sum(mask) / (B (B - 1))``.

    It shows how much of each batch Eq. 5 learns from: with a margin m' large against the spread of the goal
    distances it keeps almost nothing (the loss is then 0 and the heads do not move).
    """
    n = mask.shape[0]
    return mask.sum() / max(n * (n - 1), 1)


def nonzero_hinge_fraction(r_pos: torch.Tensor, r_neg: torch.Tensor, r_lag: torch.Tensor,
                           margin: float = 0.1) -> torch.Tensor:
    """The fraction of Eq. 4's pairs (pos-neg and pos-pos together) whose hinge ``l_m`` is not zero: the pairs that
    still push the heads (0 once every positive outranks its negative and its own past by the margin)."""
    hinges = torch.cat([ranking_loss(r_pos, r_neg, margin), ranking_loss(r_pos, r_lag, margin)])
    return (hinges > 0).float().mean()


def goal_baseline_reward(image_emb: torch.Tensor, goal_text_emb: torch.Tensor, baseline_text_emb: torch.Tensor,
                         alpha: float) -> torch.Tensor:
    """VLM-RM goal-baseline reward ``1 - 0.5 ||(x - g) P||^2``, ``P = a d d^T/||d||^2 + (1 - a) I``, ``d = g - b``.

    ``alpha = 0`` gives ``1 - 0.5 ||x - g||^2`` = the cosine for unit vectors; ``alpha = 1`` keeps only the
    component of ``x - g`` along the baseline-to-goal direction.
    """
    x = F.normalize(image_emb.float(), dim=-1)
    g = F.normalize(goal_text_emb.float(), dim=-1)
    b = F.normalize(baseline_text_emb.float(), dim=-1)
    d = g - b
    dim = d.shape[-1]
    proj = alpha * torch.outer(d, d) / d.dot(d).clamp(min=1e-12) + (1.0 - alpha) * torch.eye(dim, device=d.device)
    y = (x - g) @ proj
    return 1.0 - 0.5 * (y * y).sum(-1)


class Heads(nn.Module):
    """f_L and f_I: two small MLPs (embedding -> 256 -> 64) on the frozen VLM's text and image embeddings.

    ``init``: ``torch`` keeps ``nn.Linear``'s default; ``flax`` draws the weights as flax's ``nn.Dense`` does
    (LeCun normal, :func:`cliprl_cli.furl.sac.flax_default_init_`) with zero biases, as the authors' ``Projection``.
    """

    def __init__(self, text_dim: int, image_dim: int, hidden: int = HEAD_HIDDEN, out: int = HEAD_OUT,
                 init: str = "torch"):
        super().__init__()
        if init not in HEAD_INITS:
            raise ValueError(f"unknown heads initialisation {init!r}; known: {', '.join(HEAD_INITS)}")
        self.text = nn.Sequential(nn.Linear(text_dim, hidden), nn.ReLU(), nn.Linear(hidden, out))
        self.image = nn.Sequential(nn.Linear(image_dim, hidden), nn.ReLU(), nn.Linear(hidden, out))
        if init == "flax":
            with torch.no_grad():
                for layer in (self.text[0], self.text[2], self.image[0], self.image[2]):
                    flax_default_init_(layer.weight, layer.in_features)
                    layer.bias.zero_()
