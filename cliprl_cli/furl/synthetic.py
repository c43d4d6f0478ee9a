"""A synthetic VLM whose zero-shot reward is wrong by a known amount, and FuRL's reward alignment run on it.

What it measures: whether the reward heads, trained with Eq. 4 (successes) or Eq. 5 (a goal image) as
:mod:`cliprl_cli.furl.rewards` computes them, recover task progress that the zero-shot reward (Eq. 2) does not
carry. Real VLM weights cannot be downloaded here, so the "VLM" is built so that the right answer is known:

- **Image embedding** of a frame: ``e = P code(p) + beta Q z + b``. ``p`` is the task-relevant true state (a
  position: the object, or the hand), ``code(p)`` a place-cell code of it (Gaussian bumps of width ``sigma`` at
  ``C`` random centres, so that nearness in space is similarity in code), ``P`` a fixed random ``D x C``
  projection; ``z`` are distractor features drawn afresh for every frame (lighting, clutter: nothing to do with
  the task), ``Q`` their fixed random projection, ``beta`` their scale; ``b`` an offset common to every image
  (real image embeddings share a large mean direction).
- **Text embedding**: ``t = P ((1 - a) code(g) + a code(w)) + b``: ``g`` is the task's goal, ``w`` a wrong target,
  and ``a`` (``misalignment``) the knob: 0 points the instruction at the goal, 1 at the wrong target. The zero-shot
  reward ``cos(t, e)`` then tracks nearness to ``g`` (a = 0) or to ``w`` (a = 1).
- **Goal image**: one frame at the goal, embedded like any other (its own distractors); Eq. 5 ranks frames by their
  embedding's distance to it.
- **Trajectories**: expert ones move from a random start to the goal and stay there (success within
  ``success_radius``); failed ones move to a decoy instead (half of them to the wrong target ``w``). The benchmark
  (``benchmarks/furl_known_answer.py``) can feed Meta-World's scripted experts and random-action episodes instead.
- **Measured**: the Spearman correlation between the reward and true task progress (``-||p - g||``) over every
  frame of held-out expert and failed trajectories.

Training follows FuRL's two stages on one Adam state: Eq. 5 on the failed frames and the goal image (before any
success), Eq. 4 on successful (positive, with frame i - k as the lagged positive) and failed (negative) frames.
The learning rate (1e-3) and step counts are this experiment's, chosen so that a CPU trains the heads in seconds;
the paper's are 1e-4 over a run of 1e6 environment steps.

Everything here is a pure function of its arguments and seeds (numpy for the world, torch for the heads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..adam import Adam
from .rewards import Heads, aligned_reward, goal_ranking_mask, negative_alignment_loss, positive_alignment_loss


@dataclass(frozen=True)
class SyntheticVLM:
    """The fixed parts of the synthetic VLM (see the module docstring)."""

    centres: np.ndarray      # (C, k) place-cell centres
    sigma: float             # place-cell width
    proj_state: np.ndarray   # P, (D, C)
    proj_distract: np.ndarray  # Q, (D, M)
    distract_scale: float    # beta
    offset: np.ndarray       # b, (D,)

    @property
    def embed_dim(self) -> int:
        return self.proj_state.shape[0]


def make_vlm(rng: np.random.Generator, low: np.ndarray, high: np.ndarray, *, embed_dim: int = 64,
             n_centres: int = 64, sigma: float = 0.3, n_distract: int = 16, distract_scale: float = 0.25,
             offset_scale: float = 1.0) -> SyntheticVLM:
    """A synthetic VLM over positions in the box ``[low, high]``; ``sigma`` is in units of the box's mean side."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    centres = rng.uniform(low, high, size=(n_centres, len(low)))
    side = float(np.mean(high - low))
    proj_state = rng.standard_normal((embed_dim, n_centres)) / np.sqrt(n_centres)
    proj_distract = rng.standard_normal((embed_dim, n_distract)) / np.sqrt(n_distract)
    offset = rng.standard_normal(embed_dim) * offset_scale / np.sqrt(embed_dim)
    return SyntheticVLM(centres, sigma * side, proj_state, proj_distract, distract_scale, offset)


def place_code(vlm: SyntheticVLM, positions: np.ndarray) -> np.ndarray:
    """``(N, C)``: ``exp(-||p - c||^2 / (2 sigma^2))`` for every centre c."""
    d2 = ((np.asarray(positions, float)[:, None, :] - vlm.centres[None]) ** 2).sum(-1)
    return np.exp(-d2 / (2.0 * vlm.sigma ** 2))


def embed_images(vlm: SyntheticVLM, positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(N, D)`` image embeddings of frames whose task-relevant state is ``positions`` (fresh distractors each)."""
    z = rng.standard_normal((len(positions), vlm.proj_distract.shape[1]))
    return (place_code(vlm, positions) @ vlm.proj_state.T + vlm.distract_scale * z @ vlm.proj_distract.T
            + vlm.offset).astype(np.float32)


def embed_text(vlm: SyntheticVLM, goal: np.ndarray, wrong: np.ndarray, misalignment: float) -> np.ndarray:
    """``(D,)``: the instruction's embedding, pointing at ``goal`` (misalignment 0) or ``wrong`` (1) in between."""
    code = place_code(vlm, np.stack([goal, wrong]))
    mixed = (1.0 - misalignment) * code[0] + misalignment * code[1]
    return (vlm.proj_state @ mixed + vlm.offset).astype(np.float32)


def move_to(rng: np.random.Generator, start: np.ndarray, target: np.ndarray, steps: int, speed: float,
            noise: float) -> np.ndarray:
    """``(steps, k)`` positions walking from ``start`` toward ``target`` at up to ``speed`` per step, plus noise."""
    p = np.asarray(start, float).copy()
    out = np.empty((steps, len(p)))
    for i in range(steps):
        gap = target - p
        dist = float(np.linalg.norm(gap))
        if dist > 0:
            p = p + gap * min(1.0, speed / dist)
        p = p + rng.normal(0.0, noise, size=len(p))
        out[i] = p
    return out


def _far_point(rng, low, high, away_from, min_dist):
    for _ in range(1000):
        q = rng.uniform(low, high)
        if np.linalg.norm(q - away_from) >= min_dist:
            return q
    raise ValueError("no point of the box is that far from the goal")


def synthetic_trajectories(rng: np.random.Generator, goal: np.ndarray, wrong: np.ndarray, low: np.ndarray,
                           high: np.ndarray, *, n_expert: int, n_failed: int, steps: int = 60, speed: float = 0.05,
                           noise: float = 0.01, min_start: float = 0.6, min_decoy: float = 0.2
                           ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(expert, failed) position trajectories in the box: experts walk to ``goal``; failed ones to a decoy (every
    other one to ``wrong``, the rest to a point at least ``min_decoy`` from the goal: near misses among them);
    every start is at least ``min_start`` from the goal. Distances are in units of the box's mean side."""
    low, high = np.asarray(low, float), np.asarray(high, float)
    side = float(np.mean(high - low))
    expert = [move_to(rng, _far_point(rng, low, high, goal, min_start * side), goal, steps, speed * side,
                      noise * side) for _ in range(n_expert)]
    failed = []
    for i in range(n_failed):
        decoy = wrong if i % 2 == 0 else _far_point(rng, low, high, goal, min_decoy * side)
        failed.append(move_to(rng, _far_point(rng, low, high, goal, min_start * side), decoy, steps,
                              speed * side, noise * side))
    return expert, failed


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their average rank)."""
    def ranks(v):
        v = np.asarray(v, float)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        # average the ranks of tied values
        uniq, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return (sums / counts)[inverse]
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def positive_end(positions: np.ndarray, goal: np.ndarray, radius: float) -> int | None:
    """FuRL's positives of one trajectory are its frames up to the first success and the unbroken run of successes
    after it: the index just past that run (success = within ``radius`` of the goal), or None without a success."""
    hit = np.linalg.norm(positions - goal, axis=1) < radius
    if not hit.any():
        return None
    end = int(np.argmax(hit))
    while end < len(hit) and hit[end]:
        end += 1
    return end


@dataclass
class AlignmentData:
    """The embeddings the heads train on: FuRL's positives (with their lagged partners), negatives, and the replay
    frames with their goal-image distances."""

    pos: np.ndarray       # (P, D) positive frames with a partner k frames earlier in the same trajectory
    lag: np.ndarray       # (P, D) those partners
    neg: np.ndarray       # (N, D) frames of failed trajectories
    replay: np.ndarray    # (R, D) frames Eq. 5 samples from (before any success: the failed frames)
    goal_dist: np.ndarray  # (R,) ||e - e_goal||


def alignment_data(success_embs: list[np.ndarray], success_ends: list[int], failed_embs: list[np.ndarray],
                   goal_emb: np.ndarray, lag: int = 10) -> AlignmentData:
    """FuRL's positives: each successful trajectory's frames before ``success_ends`` (:func:`positive_end`), frame i
    paired with frame i - lag of the same trajectory (i >= lag)."""
    pos, lagged = [], []
    for emb, end in zip(success_embs, success_ends):
        for i in range(lag, end):
            pos.append(emb[i])
            lagged.append(emb[i - lag])
    neg = np.concatenate(failed_embs) if failed_embs else np.zeros((0, len(goal_emb)), np.float32)
    dist = np.linalg.norm(neg - goal_emb[None], axis=1)
    return AlignmentData(np.asarray(pos, np.float32), np.asarray(lagged, np.float32), neg, neg, dist)


def train_heads(text: np.ndarray, data: AlignmentData, *, eq5_steps: int, eq4_steps: int, seed: int,
                lr: float = 1e-3, batch: int = 64, margin: float = 0.1, goal_margin: float = 0.25,
                reduction: str = "authors", init: str = "flax", hidden: int = 256, out: int = 64) -> Heads:
    """FuRL's heads trained ``eq5_steps`` Eq. 5 steps, then ``eq4_steps`` Eq. 4 steps, on one Adam state.

    ``goal_margin`` is Eq. 5's m' in units of the standard deviation of the replay's goal distances (the synthetic
    embeddings have no natural scale; the authors' 0.25 is in raw LIV distance units).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dim = len(text)
    heads = Heads(dim, dim, hidden, out, init=init)
    opt = Adam(heads.parameters(), lr=lr)
    t = torch.as_tensor(text)
    replay, dist = torch.as_tensor(data.replay), torch.as_tensor(data.goal_dist, dtype=torch.float32)
    m_prime = goal_margin * float(dist.std()) if len(dist) > 1 else 0.0
    pos, lagged, neg = torch.as_tensor(data.pos), torch.as_tensor(data.lag), torch.as_tensor(data.neg)

    def step(loss):
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(eq5_steps):
        idx = torch.randint(len(replay), (batch,), generator=gen)
        mask = goal_ranking_mask(dist[idx], m_prime)
        step(negative_alignment_loss(aligned_reward(heads, t, replay[idx]), mask, margin, reduction=reduction))
    for _ in range(eq4_steps):
        i = torch.randint(len(pos), (batch,), generator=gen)
        j = torch.randint(len(neg), (batch,), generator=gen)
        loss, _, _ = positive_alignment_loss(aligned_reward(heads, t, pos[i]), aligned_reward(heads, t, neg[j]),
                                             aligned_reward(heads, t, lagged[i]), margin)
        step(loss)
    return heads


def zero_shot(text: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Eq. 2 on the synthetic embeddings: the cosine between the instruction and each image."""
    t = text / np.linalg.norm(text)
    return (images @ t) / np.linalg.norm(images, axis=1)


def aligned(heads: Heads, text: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Eq. 3 with trained heads."""
    with torch.no_grad():
        return aligned_reward(heads, torch.as_tensor(text), torch.as_tensor(images)).numpy()


@dataclass(frozen=True)
class World:
    """A task for the synthetic VLM: its box, goal and wrong target."""

    low: np.ndarray
    high: np.ndarray
    goal: np.ndarray
    wrong: np.ndarray


def synthetic_world(rng: np.random.Generator, dim: int = 3) -> World:
    """The unit box in ``dim`` dimensions, a goal, and a wrong target at least half the box away from it."""
    low, high = -np.ones(dim), np.ones(dim)
    goal = rng.uniform(0.6 * low, 0.6 * high)
    wrong = _far_point(rng, 0.6 * low, 0.6 * high, goal, 1.0)
    return World(low, high, goal, wrong)


CONDITIONS = ("zero-shot", "untrained", "eq5", "eq4", "eq5+eq4")


def run_known_answer(world: World, train: tuple[list, list], test: tuple[list, list], *, misalignment: float,
                     seed: int, success_radius: float, eq5_steps: int = 300, eq4_steps: int = 300,
                     vlm_kwargs: dict | None = None, train_kwargs: dict | None = None) -> dict[str, float]:
    """Spearman(reward, -||p - g||) over the held-out frames for each of :data:`CONDITIONS`.

    ``train`` and ``test`` are (expert, failed) lists of ``(T, k)`` position trajectories. ``untrained`` is Eq. 3
    with the heads as initialised (the control: random heads correlate with progress by chance, either sign);
    ``eq5`` trains them on the failed training frames and the goal image only (no success seen); ``eq4`` on the
    successes and failures; ``eq5+eq4`` runs both in FuRL's order. Every condition starts from the same heads.
    """
    rng = np.random.default_rng(seed)
    vlm = make_vlm(rng, world.low, world.high, **(vlm_kwargs or {}))
    text = embed_text(vlm, world.goal, world.wrong, misalignment)
    goal_emb = embed_images(vlm, world.goal[None], rng)[0]
    expert, failed = train
    ends = [positive_end(p, world.goal, success_radius) for p in expert]
    succ = [(embed_images(vlm, p, rng), e) for p, e in zip(expert, ends) if e is not None]
    fail_embs = [embed_images(vlm, p, rng) for p in failed]
    data = alignment_data([e for e, _ in succ], [f for _, f in succ], fail_embs, goal_emb)
    test_pos = np.concatenate(test[0] + test[1])
    test_emb = embed_images(vlm, test_pos, rng)
    progress = -np.linalg.norm(test_pos - world.goal, axis=1)
    kw = dict(seed=seed, **(train_kwargs or {}))
    out = {"zero-shot": spearman(zero_shot(text, test_emb), progress)}
    for name, e5, e4 in (("untrained", 0, 0), ("eq5", eq5_steps, 0), ("eq4", 0, eq4_steps),
                         ("eq5+eq4", eq5_steps, eq4_steps)):
        heads = train_heads(text, data, eq5_steps=e5, eq4_steps=e4 if len(data.pos) else 0, **kw)
        out[name] = spearman(aligned(heads, text, test_emb), progress)
    out["positives"] = int(len(data.pos))
    return out
