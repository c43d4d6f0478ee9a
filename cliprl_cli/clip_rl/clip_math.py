"""The small pure functions of CLIP-RL: the contrastive loss, standardisation, and transfer weights.

Each is tested against numbers worked out by hand in ``tests/test_clip_math.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(similarity: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """The paper's symmetric InfoNCE loss on an N x N similarity matrix ``S_ij = <P_L(tau(l_i)), P_pi(nn(pi_j))>``.

    ``L = -1/(2N) sum_i log softmax_j(S_ij/delta)[i] - 1/(2N) sum_j log softmax_i(S_ij/delta)[j]``,
    i.e. the mean of the row-wise (instruction -> policy) and column-wise (policy -> instruction) cross-entropies
    with the diagonal as the matching pair.
    """
    logits = similarity / temperature
    targets = torch.arange(similarity.shape[0])
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def standardize(matrix: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Z-score every column (coordinate) across the rows (the library); returns (z, mean, std).

    A coordinate with zero spread across the library (``std < eps``) gets std 1, so it maps to 0 rather than NaN.
    """
    mean = matrix.mean(dim=0)
    std = matrix.std(dim=0, unbiased=False)
    std = torch.where(std < eps, torch.ones_like(std), std)
    return (matrix - mean) / std, mean, std


def cosine_to_sources(target: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of one vector (d,) to each row of ``sources`` (n, d)."""
    return F.cosine_similarity(target.unsqueeze(0), sources, dim=1)


def similarity_weights(similarities: torch.Tensor, rule: str = "normalized", temperature: float = 0.1,
                       eps: float = 1e-6) -> tuple[torch.Tensor, str]:
    """Turn cosine similarities into averaging weights that sum to one; returns (weights, note).

    - ``normalized`` (the paper's ``d_i / sum_j d_j``), made safe: the paper's rule breaks when a similarity is
      negative (a weight below zero, or above one) or when they sum to about zero (division blow-up). We clamp
      similarities at 0 before normalising: a source pointing away from the target contributes nothing. If no
      similarity is above ``eps`` the rule has no information, and we fall back to uniform weights (the note says so).
    - ``softmax``: ``softmax(d / temperature)``, always defined; small temperatures approach the nearest source.
    """
    if rule == "softmax":
        if temperature <= 0:
            raise ValueError("softmax temperature must be positive")
        return torch.softmax(similarities / temperature, dim=0), "softmax"
    if rule != "normalized":
        raise ValueError(f"unknown weighting rule {rule!r} (normalized, softmax)")
    clamped = similarities.clamp(min=0.0)
    total = clamped.sum()
    if total <= eps:
        return torch.full_like(similarities, 1.0 / similarities.numel()), "all similarities <= 0: uniform fallback"
    note = "negative similarities clamped to 0" if bool((similarities < 0).any()) else "normalized"
    return clamped / total, note


def nearest_weights(similarities: torch.Tensor) -> torch.Tensor:
    """All weight on the single most similar source (ties: the first)."""
    weights = torch.zeros_like(similarities)
    weights[int(similarities.argmax())] = 1.0
    return weights
