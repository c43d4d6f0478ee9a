"""Positive/negative bookkeeping on scripted trajectories, the replay buffer's layout, relay switching."""

import numpy as np
import torch

from cliprl_cli.furl.buffer import AlignmentStore, ReplayBuffer, split_trajectory
from cliprl_cli.furl.acting import RELAY_LENGTHS, relay_still_on, relay_turn


def test_split_successful_trajectory():
    # success first at frame 12, still at 13, lost at 14, back at 15 (ignored: the run of successes ended)
    success = [False] * 12 + [True, True, False, True]
    positives, pairs, negatives = split_trajectory(success, k=10)
    assert positives == list(range(14))
    assert pairs == [(10, 0), (11, 1), (12, 2), (13, 3)]
    assert negatives == []


def test_split_failed_trajectory():
    assert split_trajectory([False] * 5, k=10) == ([], [], [0, 1, 2, 3, 4])


def test_split_success_until_the_end():
    positives, pairs, _ = split_trajectory([False, True, True], k=1)
    assert positives == [0, 1, 2] and pairs == [(1, 0), (2, 1)]


def test_alignment_store_tracks_trajectories():
    store = AlignmentStore(embed_dim=1, capacity=8)
    emb = torch.arange(16, dtype=torch.float32)[:, None]  # frame i has embedding [i]
    store.add_trajectory(emb[:5], [False] * 5, k=2)
    assert (store.neg_size, store.pair_size, store.positive_frames) == (5, 0, 0)
    assert not store.ready()
    store.add_trajectory(emb[:4], [False, False, True, False], k=2)  # positives 0..2, pairs (2, 0)
    assert (store.pair_size, store.positive_frames, store.successful_trajectories) == (1, 3, 1)
    assert store.pos[0].item() == 2 and store.lag[0].item() == 0
    assert store.ready()
    pos, lag, neg = store.sample(4, torch.Generator().manual_seed(0))
    assert pos.tolist() == [[2.0]] * 4 and lag.tolist() == [[0.0]] * 4
    store.add_trajectory(emb[:10], [False] * 10, k=2)  # ring of 8: 5 + 10 negatives keep the newest 8
    assert store.neg_size == 8


def test_replay_buffer_bytes_and_sampling():
    buf = ReplayBuffer(10, obs_dim=39, act_dim=4, embed_dim=1024)
    # 4 * (39 + 39 + 4 + 1) + 1 + 2 * 1024 + 2
    assert buf.bytes_per_transition() == 4 * 83 + 1 + 2048 + 2
    obs = np.ones((3, 39), np.float32)
    buf.add(obs, np.zeros((3, 4)), -np.ones(3), obs * 2, np.ones(3), torch.ones(3, 1024), torch.zeros(3))
    batch = buf.sample(5, torch.Generator().manual_seed(0))
    assert batch.emb.shape == (5, 1024) and batch.emb.dtype == torch.float32
    assert buf.emb.dtype == torch.float16
    assert torch.all(batch.task_reward == -1) and torch.all(batch.discount == 1)
    assert buf.size == 3


def test_replay_buffer_wraps_around():
    """Writes that fit are slices, one that crosses the end wraps to the front: rows hold the newest transitions."""
    buf = ReplayBuffer(4, obs_dim=1, act_dim=1)
    for start in (0, 3):  # rows 0-2, then 3 and (wrapping) 0-1
        obs = np.arange(start, start + 3, dtype=np.float32)[:, None]
        buf.add(obs, obs, np.zeros(3), obs + 10, np.ones(3))
    assert buf.obs[:, 0].tolist() == [4.0, 5.0, 2.0, 3.0]
    assert buf.next_obs[:, 0].tolist() == [14.0, 15.0, 12.0, 13.0]
    assert (buf.ptr, buf.size) == (2, 4)


def test_relay_turns_alternate():
    steps = np.array([0, 49, 50, 99, 100, 150])
    # VLM agent starts: VLM for 0-49, task agent for 50-99, VLM again from 100
    assert relay_turn(steps, 50, 0).tolist() == [False, False, True, True, False, True]
    # the next episode starts with the task agent
    assert relay_turn(steps, 50, 1).tolist() == [True, True, False, False, True, False]
    assert relay_turn(np.array([150, 150]), np.array([100, 200]), np.array([0, 0])).tolist() == [True, False]
    assert RELAY_LENGTHS == (50, 100, 150, 200)


def test_relay_switches_off_after_threshold():
    assert relay_still_on(True, 2499, 2500)
    assert not relay_still_on(True, 2500, 2500)
    assert not relay_still_on(False, 0, 2500)  # never comes back


def test_relay_baseline_stops_on_success_steps_at_an_episode_end():
    # the authors' train_relay.py: success_cnt counts every step with task success; relay stops at an episode end
    # once it reaches relay_threshold. Positive frames play no part.
    on = lambda steps, ended, frames=0: relay_still_on(True, frames, 2500, rule="success-steps",  # noqa: E731
                                                       success_steps=steps, episode_ended=ended)
    assert on(2499, True) and on(0, True, frames=10_000)
    assert not on(2500, True) and not on(2501, True)
    assert on(2500, False) and on(4000, False)  # mid-episode: looked at only when an episode ends
    assert not relay_still_on(False, 0, 2500, rule="success-steps", success_steps=0, episode_ended=True)
    # FuRL's rule (the default) ignores the success steps
    assert relay_still_on(True, 2499, 2500, success_steps=10_000) and not relay_still_on(True, 2500, 2500)
