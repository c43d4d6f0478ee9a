"""Pixel observations for the DrQ agent: the agent's view of a rendered frame, and a replay buffer that stores each
uint8 frame once and indexes frame stacks.

**Frames once.** The renderer draws one frame per agent step (``cliprl furl --obs pixels``: camera ``corner2``,
``--image-size`` px, upright). Both consumers cut their input from that one array, so a step costs one render:

- the VLM takes its centre crop (75%, the authors' [32:224] of a 256 render) and resizes it to its own input
  (:mod:`cliprl_cli.furl.vlm`), exactly as in the state path;
- the agent takes the *whole* frame, area-averaged down to ``--pixel-size`` (84, the paper's Table 5) by
  :func:`agent_view`: what rendering the same camera at 84 px with supersampling would give, which is DrQ's
  observation (the camera's full view; the crop is a detail of how the authors feed the VLM, not of the agent).

One camera, not two: the paper's Table 5 names one camera id (2) and Section 5.4 changes only the agent's input, so
the agent and the VLM look through the same camera. A frame already at ``--pixel-size`` is used as it is.

**The buffer** (:class:`FrameBuffer`) keeps a ring of single frames ``(3, S, S)`` uint8, each with the logical index
of the previous frame of the same episode (``-1`` for an episode's first frame, its reset frame). A slot that is not
a reset frame also holds the transition that produced it: the action, the task reward, the discount, and (with a
VLM) the embedding of that frame and its distance to the goal image. The transition at logical index ``L`` is
``(stack ending at prev(L), a_L, r_L, stack ending at L)``; a stack of ``K`` frames follows the ``prev`` links
``K - 1`` times and repeats an episode's first frame where the episode is shorter than ``K`` (DrQ's frame stacking
at reset). Several environments may interleave their frames: the links, not the slot order, define the stacks. So a
transition costs one frame (21,168 B at 84 px) instead of the ``2K = 6`` a buffer of stacked (obs, next_obs) pairs
holds: a 2e5 buffer is 4.0 GiB of frames (plus 2 KiB per row of RN50 embeddings) instead of 24 GiB.

Capacity counts frames, reset frames included (one per episode: 1 in 251 at Meta-World's 500 steps with action
repeat 2). Sampling is uniform over the stored transitions whose whole stack is still in the ring: logical indices
are drawn uniformly from the ring and redrawn (with the same generator) where the slot is a reset frame or its
stack reaches a frame already overwritten, so the batch is an exact uniform draw over the valid transitions and
depends only on the generator's state. The index bookkeeping lives on the CPU; the frames (and embeddings) on the
training device, so a batch is one gather there.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .buffer import ReplaySample


def agent_view(frames: np.ndarray, size: int) -> np.ndarray:
    """The agent's observation of upright frames ``(N, H, W, 3)`` uint8: ``(N, 3, size, size)`` uint8, the whole
    frame area-averaged (rounded to nearest) when ``H != size``, else the frame itself (channels first)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x.float(), size=(size, size), mode="area").round_().clamp_(0, 255).to(torch.uint8)
    return x.contiguous().numpy()


class FrameBuffer:
    """Replay of single uint8 frames with stack indexing across episode boundaries (see the module docstring).

    ``capacity`` frames of ``frame_shape`` (3, S, S); ``stack`` frames per observation (K); ``num_envs`` streams of
    episodes written in any interleaving; ``embed_dim`` > 0 adds the fp16 VLM embedding and goal distance per row.
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, int, int], act_dim: int, *, stack: int = 3,
                 num_envs: int = 1, embed_dim: int = 0, device: torch.device = torch.device("cpu")):
        if capacity < stack + 1:
            raise ValueError(f"a frame buffer needs room for one stack and its successor ({stack + 1} frames)")
        self.capacity, self.stack, self.device, self.embed_dim = int(capacity), int(stack), device, embed_dim
        c = self.capacity
        self.frames = torch.zeros(c, *frame_shape, dtype=torch.uint8, device=device)
        self.act = torch.zeros(c, act_dim, dtype=torch.float32, device=device)
        self.task_reward = torch.zeros(c, dtype=torch.float32, device=device)
        self.discount = torch.zeros(c, dtype=torch.uint8, device=device)
        self.emb = torch.zeros(c, embed_dim, dtype=torch.float16, device=device) if embed_dim else None
        self.goal_dist = torch.zeros(c, dtype=torch.float16, device=device) if embed_dim else None
        # CPU bookkeeping: the logical index a slot holds, and the logical index of its episode's previous frame
        self.logical = torch.full((c,), -1, dtype=torch.int64)
        self.prev = torch.full((c,), -1, dtype=torch.int64)
        self.last = [-1] * num_envs  # per environment, the logical index of its newest frame
        self.total = 0               # frames ever added (the next logical index)
        self.transitions_added = 0   # of which transition frames (not reset frames)

    # ---------------------------------------------------------------- sizes
    @property
    def size(self) -> int:
        """Frames held (reset frames included)."""
        return min(self.total, self.capacity)

    def bytes_per_transition(self) -> int:
        """Bytes of one row: the frame, action, reward, discount, embedding and goal distance, and the two int64
        indices (CPU)."""
        tensors = [self.frames, self.act, self.task_reward, self.discount, self.emb, self.goal_dist, self.logical,
                   self.prev]
        return sum(t.element_size() * t[0].numel() for t in tensors if t is not None)

    def nbytes(self) -> int:
        return self.bytes_per_transition() * self.capacity

    # ---------------------------------------------------------------- writing
    def add(self, env: int, frame, *, first: bool, act=None, task_reward: float = 0.0, discount: int = 1,
            emb=None, goal_dist=None) -> int:
        """Append one frame of environment ``env``; ``first``: it starts an episode (a reset frame, no transition),
        else it is the frame after action ``act`` and carries that transition. Returns its logical index."""
        slot = self.total % self.capacity
        self.frames[slot] = torch.as_tensor(frame).to(self.device)
        if first:
            self.act[slot] = 0.0
            self.task_reward[slot] = 0.0
            self.discount[slot] = 0
        else:
            if self.last[env] < 0:
                raise ValueError(f"environment {env}: a transition frame before any reset frame")
            self.act[slot] = torch.as_tensor(act, dtype=torch.float32).to(self.device)
            self.task_reward[slot] = float(task_reward)
            self.discount[slot] = int(discount)
            self.transitions_added += 1
        if self.emb is not None:
            if emb is None:
                self.emb[slot] = 0.0
                self.goal_dist[slot] = 0.0
            else:
                self.emb[slot] = torch.as_tensor(emb).to(self.device, torch.float16)
                self.goal_dist[slot] = torch.as_tensor(goal_dist).to(self.device, torch.float16)
        self.logical[slot] = self.total
        self.prev[slot] = -1 if first else self.last[env]
        self.last[env] = self.total
        self.total += 1
        return self.total - 1

    # ---------------------------------------------------------------- indexing
    def stack_indices(self, newest: torch.Tensor) -> torch.Tensor:
        """Logical indices ``(B, K)`` of the stacks ending at logical indices ``newest`` ``(B,)``, oldest first:
        each step back follows the episode's ``prev`` link; an episode's first frame repeats. Indices of frames
        already overwritten come out wrong (check with :meth:`held`)."""
        cols = [newest]
        cur = newest
        for _ in range(self.stack - 1):
            p = self.prev[cur % self.capacity]
            cur = torch.where(p >= 0, p, cur)
            cols.append(cur)
        return torch.stack(cols[::-1], dim=1)

    def held(self, logical: torch.Tensor) -> torch.Tensor:
        """Which logical indices are still in the ring."""
        return (logical >= max(0, self.total - self.capacity)) & (logical < self.total)

    def valid(self, newest: torch.Tensor) -> torch.Tensor:
        """Which logical indices are sampleable transitions: held, not a reset frame, and their observation stack
        (ending at ``prev``) entirely held."""
        held = self.held(newest)
        p = torch.where(held, self.prev[newest % self.capacity], torch.full_like(newest, -1))
        ok = held & (p >= 0) & self.held(p)
        stacks = self.stack_indices(torch.where(ok, p, newest))
        return ok & self.held(stacks).all(dim=1) & (self.logical[stacks % self.capacity] == stacks).all(dim=1)

    def gather(self, logical: torch.Tensor) -> torch.Tensor:
        """Stacked observations ``(B, 3K, S, S)`` uint8 on the device, the stacks ending at ``logical``."""
        slots = (self.stack_indices(logical) % self.capacity).to(self.device)
        x = self.frames[slots]  # (B, K, 3, S, S)
        return x.reshape(x.shape[0], -1, *x.shape[-2:])

    def sample_indices(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Logical indices ``(B,)`` of uniformly drawn valid transitions (redrawing invalid draws, same generator)."""
        lo = max(0, self.total - self.capacity)
        out = torch.empty(batch_size, dtype=torch.int64)
        todo = torch.arange(batch_size)
        for _ in range(10_000):
            cand = torch.randint(lo, self.total, (len(todo),), generator=generator)
            ok = self.valid(cand)
            out[todo[ok]] = cand[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                return out
        raise RuntimeError("the frame buffer holds no complete transition")

    def sample(self, batch_size: int, generator: torch.Generator) -> ReplaySample:
        """A batch: ``obs`` and ``next_obs`` (B, 3K, S, S) uint8, ``act``, ``task_reward``, ``discount`` (float),
        and ``emb``/``goal_dist`` with a VLM (float32)."""
        idx = self.sample_indices(batch_size, generator)
        slots = (idx % self.capacity).to(self.device)
        batch = ReplaySample(self.gather(self.prev[idx % self.capacity]), self.act[slots], self.task_reward[slots],
                             self.gather(idx), self.discount[slots].float())
        if self.emb is not None:
            batch = batch._replace(emb=self.emb[slots].float(), goal_dist=self.goal_dist[slots].float())
        return batch

    def ready(self, batch_size: int = 1) -> bool:
        """At least one sampleable transition is held."""
        if self.total < 2:
            return False
        lo = max(0, self.total - self.capacity)
        return bool(self.valid(torch.arange(lo, self.total)).any())

    # ---------------------------------------------------------------- checkpoint
    def _columns(self) -> dict[str, torch.Tensor]:
        columns = {"frames": self.frames, "act": self.act, "task_reward": self.task_reward,
                   "discount": self.discount, "logical": self.logical, "prev": self.prev}
        if self.emb is not None:
            columns.update(emb=self.emb, goal_dist=self.goal_dist)
        return columns

    def state_tensors(self, prefix: str = "frames") -> tuple[dict[str, torch.Tensor], dict]:
        """The filled slots as named tensors, plus the counters (a checkpoint; the empty tail is not saved)."""
        n = self.size
        return ({f"{prefix}/{name}": t[:n] for name, t in self._columns().items()},
                {"total": self.total, "last": list(self.last), "transitions_added": self.transitions_added})

    def load_state_tensors(self, tensors, meta: dict, prefix: str = "frames") -> None:
        self.total, self.last = int(meta["total"]), [int(v) for v in meta["last"]]
        self.transitions_added = int(meta["transitions_added"])
        n = self.size
        for name, t in self._columns().items():
            t[:n] = tensors[f"{prefix}/{name}"].to(t.device, t.dtype)
