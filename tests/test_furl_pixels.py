"""The pixel agent's parts (issue 17): DrQ's random shift, the frame buffer's stack indexing across episode
boundaries and ring wrap-around, the encoder's output at 84 px, the agent's view of a frame, and one DrQ update
against a reference written out here with torch.autograd.grad and Adam's first-step formula."""

import copy

import numpy as np
import pytest
import torch

from cliprl_cli.furl.drq import DrQ, Encoder, conv_output_side, random_shift
from cliprl_cli.furl.frames import FrameBuffer, agent_view


# ---------------------------------------------------------------- augmentation
def test_random_shift_moves_each_sample_by_one_shift_within_pad_for_all_stacked_frames():
    b, c, h, w, pad = 256, 9, 12, 12, 4
    i = torch.arange(h)[:, None].expand(h, w)
    j = torch.arange(w)[None, :].expand(h, w)
    x = (torch.arange(c)[:, None, None] * 10_000 + i * 100 + j).expand(b, c, h, w).contiguous()
    x = x + torch.arange(b)[:, None, None, None] * 1_000_000  # each sample distinct
    out = random_shift(x, pad, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    seen = set()
    for k in range(b):
        matches = [(dy, dx) for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)
                   if torch.equal(out[k], x[k][:, (torch.arange(h) + dy).clamp(0, h - 1)][:, :, (torch.arange(w) + dx)
                                                                                             .clamp(0, w - 1)])]
        assert len(matches) == 1, f"sample {k}: not one shift of the whole stack"  # same shift for all 9 channels
        seen.add(matches[0])
    dys, dxs = {s[0] for s in seen}, {s[1] for s in seen}
    assert dys == set(range(-pad, pad + 1)) and dxs == set(range(-pad, pad + 1))  # the bounds are reached, not passed


def test_random_shift_by_hand_replicates_the_border():
    x = torch.arange(9, dtype=torch.uint8).reshape(1, 1, 3, 3)  # [[0 1 2] [3 4 5] [6 7 8]]
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    shift = torch.randint(0, 3, (1, 2), generator=gen) - 1  # what random_shift draws with pad 1
    gen.set_state(state)
    out = random_shift(x, 1, gen)
    dy, dx = shift[0].tolist()
    want = {(-1, -1): [[0, 0, 1], [0, 0, 1], [3, 3, 4]], (1, 1): [[4, 5, 5], [7, 8, 8], [7, 8, 8]],
            (0, 0): [[0, 1, 2], [3, 4, 5], [6, 7, 8]], (-1, 0): [[0, 1, 2], [0, 1, 2], [3, 4, 5]],
            (0, 1): [[1, 2, 2], [4, 5, 5], [7, 8, 8]], (1, 0): [[3, 4, 5], [6, 7, 8], [6, 7, 8]],
            (0, -1): [[0, 0, 1], [3, 3, 4], [6, 6, 7]], (-1, 1): [[1, 2, 2], [1, 2, 2], [4, 5, 5]],
            (1, -1): [[3, 3, 4], [6, 6, 7], [6, 6, 7]]}
    assert out[0, 0].tolist() == want[(dy, dx)]


# ---------------------------------------------------------------- frame buffer
def _frame(v: int) -> np.ndarray:
    return np.full((3, 2, 2), v % 256, dtype=np.uint8)


def _ids(stack: torch.Tensor) -> list[int]:
    """The frame values of one stacked observation (3K, 2, 2) -> K values."""
    return stack[::3, 0, 0].tolist()


def test_frame_stacks_follow_each_episode_and_repeat_its_first_frame():
    buf = FrameBuffer(100, (3, 2, 2), 1, stack=3, num_envs=2)
    # env 0: reset (value 10), steps 11, 12, 13 (end), reset 20, step 21; env 1 interleaved: reset 50, steps 51, 52
    buf.add(0, _frame(10), first=True)
    buf.add(1, _frame(50), first=True)
    buf.add(0, _frame(11), first=False, act=[0.1], task_reward=-1)
    buf.add(1, _frame(51), first=False, act=[0.5], task_reward=-1)
    buf.add(0, _frame(12), first=False, act=[0.2], task_reward=-1)
    buf.add(0, _frame(13), first=False, act=[0.3], task_reward=0)
    buf.add(0, _frame(20), first=True)
    buf.add(1, _frame(52), first=False, act=[0.6], task_reward=-1)
    buf.add(0, _frame(21), first=False, act=[0.4], task_reward=-1)
    logical = {v: k for k, v in enumerate([10, 50, 11, 51, 12, 13, 20, 52, 21])}
    L = torch.tensor
    assert _ids(buf.gather(L([logical[13]]))[0]) == [11, 12, 13]
    assert _ids(buf.gather(L([logical[12]]))[0]) == [10, 11, 12]
    assert _ids(buf.gather(L([logical[11]]))[0]) == [10, 10, 11]     # the episode's first frame repeats
    assert _ids(buf.gather(L([logical[21]]))[0]) == [20, 20, 21]     # never the previous episode's frames
    assert _ids(buf.gather(L([logical[52]]))[0]) == [50, 51, 52]     # the other env's stream, interleaved
    # transitions: obs stack ends at the previous frame of the episode; reset frames are no transitions
    valid = buf.valid(torch.arange(9))
    assert valid.tolist() == [v not in (10, 50, 20) for v in [10, 50, 11, 51, 12, 13, 20, 52, 21]]
    batch = buf.sample(64, torch.Generator().manual_seed(0))
    for obs, nxt, act in zip(batch.obs, batch.next_obs, batch.act):
        new = _ids(nxt)[-1]
        assert _ids(obs)[-1] == {11: 10, 12: 11, 13: 12, 51: 50, 52: 51, 21: 20}[new]
        assert act.item() == pytest.approx({11: 0.1, 12: 0.2, 13: 0.3, 51: 0.5, 52: 0.6, 21: 0.4}[new])
    assert buf.transitions_added == 6


def test_frame_buffer_drops_transitions_whose_stack_was_overwritten():
    buf = FrameBuffer(5, (3, 2, 2), 1, stack=3)
    buf.add(0, _frame(0), first=True)
    for v in range(1, 8):
        buf.add(0, _frame(v), first=False, act=[0.0])
    # logical 0..7, ring of 5 holds 3..7; transition L needs frames L-3..L (obs stack L-3..L-1): only 6 and 7
    assert buf.valid(torch.arange(8)).tolist() == [False] * 6 + [True, True]
    batch = buf.sample(32, torch.Generator().manual_seed(1))
    assert {tuple(_ids(o)) for o in batch.obs} <= {(3, 4, 5), (4, 5, 6)}
    assert buf.bytes_per_transition() == 12 + 4 + 4 + 1 + 8 + 8


def test_frame_buffer_checkpoint_round_trip_samples_the_same():
    buf = FrameBuffer(6, (3, 2, 2), 2, stack=2, embed_dim=4)
    buf.add(0, _frame(0), first=True)
    for v in range(1, 9):
        buf.add(0, _frame(v), first=v == 5, act=[v, -v], task_reward=-1, emb=torch.full((4,), v / 10),
                goal_dist=torch.tensor(v / 5))
    tensors, meta = buf.state_tensors("buffer")
    other = FrameBuffer(6, (3, 2, 2), 2, stack=2, embed_dim=4)
    other.load_state_tensors(tensors, meta, "buffer")
    a, b = (x.sample(16, torch.Generator().manual_seed(3)) for x in (buf, other))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------- encoder and view
def test_encoder_output_at_84_px():
    assert conv_output_side(84) == 35
    enc = Encoder(9, 84)
    out = enc(torch.randint(0, 256, (2, 9, 84, 84), dtype=torch.uint8))
    assert out.shape == (2, 32 * 35 * 35) == (2, 39_200) and enc.out_dim == 39_200
    agent = DrQ((9, 84, 84), 4, device=torch.device("cpu"), hidden=32)
    assert agent.act(torch.zeros(2, 9, 84, 84, dtype=torch.uint8)).shape == (2, 4)
    assert agent.critic.proj[0].out_features == 50


def test_agent_view_area_averages_the_whole_frame():
    frame = np.zeros((1, 168, 168, 3), dtype=np.uint8)
    frame[0, ::2, ::2] = 200  # each 2x2 block averages to 50
    view = agent_view(frame, 84)
    assert view.shape == (1, 3, 84, 84) and view.dtype == np.uint8 and (view == 50).all()
    same = agent_view(frame[:, :84, :84], 84)
    assert np.array_equal(same[0], frame[0, :84, :84].transpose(2, 0, 1))


# ---------------------------------------------------------------- one DrQ update against a reference
@pytest.mark.parametrize("style", ["authors", "cleanrl"])
def test_drq_update_matches_a_reference_written_with_autograd_grad(style):
    torch.manual_seed(0)
    side, act_dim, batch, lr, gamma, tau = 16, 2, 5, 1e-3, 0.9, 0.1
    agent = DrQ((6, side, side), act_dim, device=torch.device("cpu"), hidden=8, feature_dim=4, lr=lr, gamma=gamma,
                tau=tau, pad=2, style=style)
    critic, actor, target = (copy.deepcopy(m) for m in (agent.critic, agent.actor, agent.critic_target))
    log_alpha = agent.log_alpha.detach().clone()
    obs = torch.randint(0, 256, (batch, 6, side, side), dtype=torch.uint8)
    nxt = torch.randint(0, 256, (batch, 6, side, side), dtype=torch.uint8)
    act = torch.rand(batch, act_dim) * 2 - 1
    rew, disc = torch.randn(batch), torch.ones(batch)
    gen = torch.Generator().manual_seed(5)
    g_state, t_state = gen.get_state(), torch.get_rng_state()
    agent.update(obs, act, rew, nxt, disc, gen)

    # the reference, from the copies, with the same draws (shifts: obs then next_obs; noise: a' then a~)
    gen.set_state(g_state)
    torch.set_rng_state(t_state)
    o, n = random_shift(obs, 2, gen), random_shift(nxt, 2, gen)
    alpha = log_alpha.exp()

    def adam_first_step(p, g):  # Adam's first step: m_hat = g, v_hat = g^2
        return p - lr * g / (g.abs() + 1e-8)

    with torch.no_grad():
        a2, logp2 = actor.sample(critic.encoder(n))
        q_next = target.q(target.encoder(n), a2).min(0).values - alpha * logp2
        y = rew[:, None] + gamma * disc[:, None] * q_next
    c_params = list(critic.parameters())
    q = critic(o, act)
    loss = ((q[0] - y) ** 2).mean() + ((q[1] - y) ** 2).mean()
    new_c = [adam_first_step(p, g) for p, g in zip(c_params, torch.autograd.grad(loss, c_params))]
    for p, want in zip(agent.critic.parameters(), new_c):
        torch.testing.assert_close(p.detach(), want, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # the critic after its step, for the actor's features and Q
        for p, v in zip(c_params, new_c):
            p.copy_(v)
    feats = critic.encoder(o).detach()
    la = log_alpha.clone().requires_grad_(True)
    a_params = list(actor.parameters())
    a_new, logp = actor.sample(feats)
    actor_loss = (alpha * logp - critic.q(feats, a_new).min(0).values).mean()
    alpha_loss = -(la.exp() * (logp.detach() + agent.target_entropy)).mean()
    grads = torch.autograd.grad(actor_loss, a_params)
    for p, g, got in zip(a_params, grads, agent.actor.parameters()):
        torch.testing.assert_close(got.detach(), adam_first_step(p.detach(), g), atol=1e-6, rtol=1e-5)
    (g_alpha,) = torch.autograd.grad(alpha_loss, [la])
    torch.testing.assert_close(agent.log_alpha.detach(), adam_first_step(log_alpha, g_alpha))
    for p_t, p_old, p_new in zip(agent.critic_target.parameters(), target.parameters(), new_c):
        torch.testing.assert_close(p_t, p_old + tau * (p_new - p_old), atol=1e-7, rtol=1e-6)
    # the actor's loss never reached the trunk: the encoder moved by the critic's step alone (checked above), and
    # the actor has no encoder of its own
    assert not any("encoder" in k for k in agent.actor.state_dict())
