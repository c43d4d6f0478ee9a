"""Replay storage for FuRL: transitions with half-precision image embeddings, and the alignment samples.

:class:`ReplayBuffer` holds, per transition: observation and next observation (float32), action (float32), the
task reward ``success - 1`` (float32), the bootstrap discount (uint8: Meta-World never terminates, so always 1),
and, when a VLM is used, the image embedding of the frame *after* the action (float16, unit norm) and its L2
distance to the goal-image embedding (float16). Rewards are not stored: the VLM reward is recomputed for every
sampled batch from the stored embedding with the current heads, so alignment never needs a relabelling pass.
Bytes per transition: ``4*(2*39 + 4 + 1) + 1 + 2*D + 2`` = 335 + 2D, i.e. 2,383 B for RN50 (D = 1024):
a 1e6-step buffer is 2.4 GB. Storage lives on the training device (the whole buffer fits an H100), so sampling is
an index gather with no host-to-device copy.

:class:`AlignmentStore` holds what Eqs. 4 keeps per trajectory (:func:`split_trajectory`): positive frames with
their lag-k partner (pairs ``(e_i, e_{i-k})``) and negative frames, in two ring buffers of
``capacity`` rows each (the authors' 20,000), float16.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class ReplaySample(NamedTuple):
    """One sampled batch of transitions, as both replay buffers return it (:class:`ReplayBuffer`, and
    :class:`cliprl_cli.furl.frames.FrameBuffer` with stacked uint8 frames as observations)."""

    obs: torch.Tensor                       # (B, obs_dim) float32, or (B, 3K, S, S) uint8 frames
    act: torch.Tensor                       # (B, act_dim) float32
    task_reward: torch.Tensor               # (B,) float32, success - 1
    next_obs: torch.Tensor                  # like obs
    discount: torch.Tensor                  # (B,) float32 bootstrap discount
    emb: torch.Tensor | None = None         # (B, D) float32 image embedding of the frame after the action (VLM)
    goal_dist: torch.Tensor | None = None   # (B,) float32 its L2 distance to the goal-image embedding (VLM)


class ReplayBuffer:
    def __init__(self, capacity: int, obs_dim: int, act_dim: int, embed_dim: int = 0, *,
                 device: torch.device = torch.device("cpu")):
        self.capacity, self.device, self.embed_dim = int(capacity), device, embed_dim
        c = self.capacity
        self.obs = torch.zeros(c, obs_dim, dtype=torch.float32, device=device)
        self.next_obs = torch.zeros(c, obs_dim, dtype=torch.float32, device=device)
        self.act = torch.zeros(c, act_dim, dtype=torch.float32, device=device)
        self.task_reward = torch.zeros(c, dtype=torch.float32, device=device)
        self.discount = torch.zeros(c, dtype=torch.uint8, device=device)
        self.emb = torch.zeros(c, embed_dim, dtype=torch.float16, device=device) if embed_dim else None
        self.goal_dist = torch.zeros(c, dtype=torch.float16, device=device) if embed_dim else None
        self.ptr = 0
        self.size = 0

    def bytes_per_transition(self) -> int:
        tensors = [self.obs, self.next_obs, self.act, self.task_reward, self.discount, self.emb, self.goal_dist]
        return sum(t.element_size() * t[0].numel() for t in tensors if t is not None)

    def nbytes(self) -> int:
        return self.bytes_per_transition() * self.capacity

    def add(self, obs, act, task_reward, next_obs, discount, emb=None, goal_dist=None) -> None:
        """Add a batch of ``n`` transitions (arrays with a leading dimension n)."""
        n = len(obs)
        if self.ptr + n <= self.capacity:  # the common case: a slice write, no index tensor (this runs every step)
            idx = slice(self.ptr, self.ptr + n)
        else:
            idx = ((torch.arange(n) + self.ptr) % self.capacity).to(self.device)
        self.obs[idx] = torch.as_tensor(obs, dtype=torch.float32).to(self.device)
        self.next_obs[idx] = torch.as_tensor(next_obs, dtype=torch.float32).to(self.device)
        self.act[idx] = torch.as_tensor(act, dtype=torch.float32).to(self.device)
        self.task_reward[idx] = torch.as_tensor(task_reward, dtype=torch.float32).to(self.device)
        self.discount[idx] = torch.as_tensor(discount, dtype=torch.uint8).to(self.device)
        if self.emb is not None:
            self.emb[idx] = torch.as_tensor(emb).to(self.device, torch.float16)
            self.goal_dist[idx] = torch.as_tensor(goal_dist).to(self.device, torch.float16)
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def state_tensors(self, prefix: str = "buffer") -> tuple[dict[str, torch.Tensor], dict]:
        """The filled rows as named tensors, plus ``ptr``/``size`` (for a checkpoint; the empty tail is not saved)."""
        n = self.size
        tensors = {f"{prefix}/{name}": t[:n] for name, t in self._columns().items()}
        return tensors, {"ptr": self.ptr, "size": self.size}

    def load_state_tensors(self, tensors, meta: dict, prefix: str = "buffer") -> None:
        n = int(meta["size"])
        for name, t in self._columns().items():
            t[:n] = tensors[f"{prefix}/{name}"].to(self.device, t.dtype)
        self.ptr, self.size = int(meta["ptr"]), n

    def _columns(self) -> dict[str, torch.Tensor]:
        columns = {"obs": self.obs, "next_obs": self.next_obs, "act": self.act, "task_reward": self.task_reward,
                   "discount": self.discount}
        if self.emb is not None:
            columns.update(emb=self.emb, goal_dist=self.goal_dist)
        return columns

    def sample(self, batch_size: int, generator: torch.Generator) -> ReplaySample:
        """``batch_size`` transitions drawn uniformly (with replacement) from the filled rows."""
        idx = torch.randint(0, self.size, (batch_size,), generator=generator).to(self.device)
        batch = ReplaySample(self.obs[idx], self.act[idx], self.task_reward[idx], self.next_obs[idx],
                             self.discount[idx].float())
        if self.emb is not None:
            batch = batch._replace(emb=self.emb[idx].float(), goal_dist=self.goal_dist[idx].float())
        return batch


def split_trajectory(success: list[bool] | np.ndarray, k: int = 10):
    """Which frames of one finished trajectory are positive, negative, and which positive pairs are lag-k apart.

    A trajectory with a success anywhere is *successful*: its positives are the frames from the start up to the
    first success and the consecutive successful frames after it (the authors' rule: the run of successes ends
    at the first frame that is not a success again). A trajectory without success gives only negatives.
    Returns ``(positives, pairs, negatives)``: index lists, ``pairs`` as ``(i, i - k)`` for every positive
    ``i >= k`` (the later frame should be ranked higher, Eq. 4's pos-pos term).
    """
    success = np.asarray(success, dtype=bool)
    hits = np.flatnonzero(success)
    if hits.size == 0:
        return [], [], list(range(len(success)))
    end = int(hits[0]) + 1
    while end < len(success) and success[end]:
        end += 1
    positives = list(range(end))
    pairs = [(i, i - k) for i in positives if i >= k]
    return positives, pairs, []


class AlignmentStore:
    """Ring buffers of positive lag-k pairs and of negative frames (float16), plus the positive-frame count."""

    def __init__(self, embed_dim: int, capacity: int = 20_000, *, device: torch.device = torch.device("cpu")):
        self.capacity, self.device = capacity, device
        self.pos = torch.zeros(capacity, embed_dim, dtype=torch.float16, device=device)
        self.lag = torch.zeros(capacity, embed_dim, dtype=torch.float16, device=device)
        self.neg = torch.zeros(capacity, embed_dim, dtype=torch.float16, device=device)
        self.pair_ptr = self.pair_size = 0
        self.neg_ptr = self.neg_size = 0
        self.positive_frames = 0  # every positive frame ever seen: the relay switch-off counter
        self.successful_trajectories = 0

    def add_trajectory(self, embeddings: torch.Tensor, success, k: int = 10) -> None:
        positives, pairs, negatives = split_trajectory(success, k)
        if positives:
            self.successful_trajectories += 1
            self.positive_frames += len(positives)
        if pairs:
            i = torch.tensor([p[0] for p in pairs])
            j = torch.tensor([p[1] for p in pairs])
            self.pair_ptr, self.pair_size = self._put((self.pos, self.lag), (embeddings[i], embeddings[j]),
                                                      self.pair_ptr, self.pair_size)
        if negatives:
            self.neg_ptr, self.neg_size = self._put((self.neg,), (embeddings[torch.tensor(negatives)],),
                                                    self.neg_ptr, self.neg_size)

    def _put(self, targets, values, ptr: int, size: int):
        n = len(values[0])
        if n > self.capacity:  # keep the newest rows
            values = tuple(v[-self.capacity:] for v in values)
            n = self.capacity
        idx = ((torch.arange(n) + ptr) % self.capacity).to(self.device)
        for target, value in zip(targets, values):
            target[idx] = value.to(self.device, torch.float16)
        return (ptr + n) % self.capacity, min(size + n, self.capacity)

    def state_tensors(self, prefix: str = "align") -> tuple[dict[str, torch.Tensor], dict]:
        """The filled rows of the two ring buffers, plus pointers and counters (for a checkpoint)."""
        tensors = {f"{prefix}/pos": self.pos[:self.pair_size], f"{prefix}/lag": self.lag[:self.pair_size],
                   f"{prefix}/neg": self.neg[:self.neg_size]}
        meta = {"pair_ptr": self.pair_ptr, "pair_size": self.pair_size, "neg_ptr": self.neg_ptr,
                "neg_size": self.neg_size, "positive_frames": self.positive_frames,
                "successful_trajectories": self.successful_trajectories}
        return tensors, meta

    def load_state_tensors(self, tensors, meta: dict, prefix: str = "align") -> None:
        self.pair_ptr, self.pair_size = int(meta["pair_ptr"]), int(meta["pair_size"])
        self.neg_ptr, self.neg_size = int(meta["neg_ptr"]), int(meta["neg_size"])
        self.positive_frames = int(meta["positive_frames"])
        self.successful_trajectories = int(meta["successful_trajectories"])
        self.pos[:self.pair_size] = tensors[f"{prefix}/pos"].to(self.device, torch.float16)
        self.lag[:self.pair_size] = tensors[f"{prefix}/lag"].to(self.device, torch.float16)
        self.neg[:self.neg_size] = tensors[f"{prefix}/neg"].to(self.device, torch.float16)

    def ready(self) -> bool:
        """Eq. 4 needs a positive pair and a negative."""
        return self.pair_size > 0 and self.neg_size > 0

    def sample(self, batch_size: int, generator: torch.Generator):
        i = torch.randint(0, self.pair_size, (batch_size,), generator=generator).to(self.device)
        j = torch.randint(0, self.neg_size, (batch_size,), generator=generator).to(self.device)
        return self.pos[i].float(), self.lag[i].float(), self.neg[j].float()
