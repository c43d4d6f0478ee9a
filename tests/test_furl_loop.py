"""The steps of the FuRL loop on their own, with tiny fake environments and a fake VLM (no MuJoCo, no open_clip)."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cliprl_cli.furl.config import VARIANTS, FurlConfig
from cliprl_cli.furl.state import Pending, Transitions
from cliprl_cli.furl.acting import RELAY_LENGTHS, act, relay_still_on, relay_turn
from cliprl_cli.furl.collect import commit, embed_and_commit
from cliprl_cli.furl.context import RunContext
from cliprl_cli.furl.episodes import start_episodes
from cliprl_cli.furl.evaluate import evaluate
from cliprl_cli.furl.learn import update
from cliprl_cli.furl.observation import StateObs
from cliprl_cli.furl.outputs import log_point
from cliprl_cli.furl.train import new_state

step_envs = StateObs().step

OBS, ACT, D, EPISODE = 5, 2, 8, 7


class FakeEnv:
    """Meta-World's interface in miniature: 7-step episodes (truncated), success once obs[0] > 0.3, and resets
    that draw from both the env's own RNG and numpy's global one (as Meta-World's do)."""

    def __init__(self, seed: int):
        self.unwrapped = self
        self.np_random = np.random.default_rng(seed)
        self.observation_space = SimpleNamespace(shape=(OBS,))
        self.action_space = SimpleNamespace(shape=(ACT,))
        self.t, self.pos = 0, np.zeros(OBS)

    def reset(self):
        self.t = 0
        self.pos = self.np_random.uniform(-0.5, 0.5, OBS) + 0.01 * np.random.uniform(size=OBS)
        return self.pos.copy(), {}

    def step(self, a):
        self.t += 1
        self.pos = 0.9 * self.pos + 0.2 * np.concatenate([a, np.zeros(OBS - ACT)])
        success = float(self.pos[0] > 0.3)
        return self.pos.copy(), success - 1.0, False, self.t >= EPISODE, {"success": success}

    def close(self):
        pass


class FakeVLM:
    """Unit-norm float16 embeddings of a fixed random projection of the frames (like vlm.VLM.encode_images)."""

    embed_dim = D
    random_weights = True

    def __init__(self):
        self.proj = torch.randn(4 * 4 * 3, D, generator=torch.Generator().manual_seed(1))

    def encode_images(self, frames):
        x = torch.as_tensor(np.asarray(frames), dtype=torch.float32).reshape(len(frames), -1) / 255.0
        return torch.nn.functional.normalize(x @ self.proj, dim=-1).to(torch.float16)

    def identity(self):
        return "fake|random"


def fake_frame(env):
    return np.clip((env.pos[:3] + 1.0) * 120.0, 0, 255).astype(np.uint8)[None, None, :].repeat(4, 0).repeat(4, 1)


def make_run(variant="furl", num_envs=2, tmp_path=None, **cfg_kw):
    import concurrent.futures

    cfg = FurlConfig(**{**dict(variant=variant, num_envs=num_envs, steps=200, random_steps=10, batch_size=8,
                               hidden=16, buffer_size=200, eval_episodes=1, relay_threshold=10_000), **cfg_kw})
    spec = VARIANTS[variant]
    torch.manual_seed(0)
    np.random.seed(0)
    ctx = RunContext(cfg=cfg, spec=spec, device=torch.device("cpu"), out=tmp_path,
                     envs=[FakeEnv(i) for i in range(num_envs)], eval_env=FakeEnv(100), render=fake_frame,
                     mark={"vlm_random_weights": True})
    if spec.vlm is not None:
        ctx.vlm = FakeVLM()
        ctx.text_emb = torch.nn.functional.normalize(torch.randn(D), dim=-1)
        ctx.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    if spec.eq5:
        ctx.goal_emb = torch.nn.functional.normalize(torch.randn(D), dim=-1)
        ctx.goal_emb_cpu = ctx.goal_emb
    st = new_state(ctx, torch.Generator().manual_seed(0))
    start_episodes(st, ctx)
    return ctx, st


def run_steps(st, ctx, k):
    for _ in range(k):
        item, frames = step_envs(st, ctx, act(st, ctx))
        embed_and_commit(st, ctx, item, frames)
        if st.step >= ctx.cfg.random_steps and st.buffer.size >= 1:
            for _ in range(ctx.cfg.num_envs):
                st.accumulate(update(st, ctx))


def through_json(state):
    """What the checkpoint sidecar gives back (JSON: tuples become lists, and so on)."""
    return json.loads(json.dumps(state))


def frozen(checkpoint):
    """A copy of ``(tensors, state)`` that the run going on cannot change (as written to disk)."""
    tensors, state = checkpoint
    return {k: v.clone() for k, v in tensors.items()}, through_json(state)


def assert_same_checkpoint(a, b):
    (ta, sa), (tb, sb) = frozen(a), frozen(b)
    assert list(ta) == list(tb)
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key
    for volatile in ("elapsed_s", "timings"):  # wall-clock
        sa.pop(volatile), sb.pop(volatile)
    assert sa == sb


@pytest.mark.parametrize("variant", ["furl", "sac"])
def test_state_checkpoint_round_trip_and_continuation(variant):
    ctx, st = make_run(variant)
    run_steps(st, ctx, 15)  # 30 env steps: random phase, learning, episode ends, embeddings in flight
    assert st.updates > 0 and st.episodes > 0 and st.acc
    assert (st.pending is not None) == (variant == "furl")
    saved = frozen(st.to_checkpoint(eval_env=ctx.eval_env, device=ctx.device))
    tensors, state = saved
    run_steps(st, ctx, 6)  # the uninterrupted run goes on
    expected = frozen(st.to_checkpoint(eval_env=ctx.eval_env, device=ctx.device))

    ctx2, fresh = make_run(variant)  # a new process: fresh environments and learners
    fresh.restore(tensors, state, envs=ctx2.envs, eval_env=ctx2.eval_env, device=ctx2.device)
    assert fresh.resumed_from == st.step - 12
    assert list(fresh.acc) == state["acc_keys"]  # the accumulators keep their key order
    assert_same_checkpoint(fresh.to_checkpoint(eval_env=ctx2.eval_env, device=ctx2.device), saved)
    run_steps(fresh, ctx2, 6)
    assert_same_checkpoint(fresh.to_checkpoint(eval_env=ctx2.eval_env, device=ctx2.device), expected)


def test_commit_fills_buffer_store_and_switches_relay_off():
    ctx, st = make_run("furl", num_envs=2, relay_threshold=3)
    assert st.relay_on
    emb = torch.nn.functional.normalize(torch.randn(2, D), dim=-1).half()
    for t in range(4):
        done = np.array([False, t == 3])
        success = np.array([False, t >= 1])
        item = Transitions(np.zeros((2, OBS), np.float32), np.zeros((2, ACT), np.float32),
                           success.astype(np.float32) - 1.0, np.ones((2, OBS), np.float32), done, success)
        commit(st, ctx, item, emb)
    assert st.buffer.size == 8
    # the goal distance is stored beside each embedding
    assert torch.allclose(st.buffer.goal_dist[:2].float(), (emb.float() - ctx.goal_emb).norm(dim=-1), atol=1e-3)
    assert len(st.traj_emb[0]) == 4 and st.traj_emb[1] == [] and st.traj_success[1] == []
    assert st.store.positive_frames == 4  # env 1's finished trajectory: success from its 2nd frame on
    assert not st.relay_on  # 4 positive frames >= threshold 3: relay is off for good


def test_step_envs_does_the_episode_bookkeeping():
    ctx, st = make_run("sac", num_envs=2)
    first = st.first_agent.copy()
    for _ in range(EPISODE):
        item, frames = step_envs(st, ctx, np.zeros((2, ACT), np.float32))
        assert frames is None  # no VLM, no sample frame due
    assert st.step == 2 * EPISODE and st.episodes == 2
    assert item.done.all() and st.ep_step.tolist() == [0, 0]
    assert (st.first_agent == first ^ 1).all() and set(st.relay_len.tolist()) <= set(RELAY_LENGTHS)
    assert all(a == [] for a in st.ep_actions)  # a new episode: nothing to replay yet
    assert not np.array_equal(st.obs, item.final_obs)  # the next observation is the reset one


def test_relay_turns():
    # turns of 50 steps; env 0 starts with the VLM agent, env 1 with the task agent
    assert relay_turn([0, 0], [50, 50], [0, 1]).tolist() == [False, True]
    assert relay_turn([49, 50], [50, 50], [0, 0]).tolist() == [False, True]
    assert relay_turn([100, 150], [50, 50], [0, 0]).tolist() == [False, True]
    assert relay_still_on(True, 2499) and not relay_still_on(True, 2500) and not relay_still_on(False, 0)


def test_act_uses_relay_agent_only_on_its_turns():
    ctx, st = make_run("relay", num_envs=2, relay_noise=0.0)

    class Constant:
        def __init__(self, value):
            self.value = value

        def act(self, obs, deterministic=False):
            return torch.full((len(obs), ACT), self.value)

    st.agent, st.relay_agent = Constant(0.5), Constant(-0.5)
    st.step = ctx.cfg.random_steps
    st.ep_step[:] = 0
    st.first_agent[:] = [0, 1]  # env 0: the VLM agent's turn, env 1: the task agent's
    assert act(st, ctx).tolist() == [[0.5, 0.5], [-0.5, -0.5]]
    st.relay_on = False
    assert act(st, ctx).tolist() == [[0.5, 0.5], [0.5, 0.5]]
    st.step = 0  # random phase: uniform actions
    a = act(st, ctx)
    assert a.dtype == np.float32 and a.shape == (2, ACT) and (np.abs(a) <= 1).all()


def test_take_means_averages_and_resets():
    ctx, st = make_run("sac")
    st.accumulate({"b": torch.tensor(1.0), "a": 2.0})
    st.accumulate({"b": torch.tensor(3.0), "a": 4.0, "c": torch.tensor(6.0)})
    means = st.take_means()
    assert list(means) == ["b", "a", "c"] and means == {"b": 2.0, "a": 3.0, "c": 3.0}
    assert st.acc == {} and st.acc_n == 0 and st.take_means() == {}


def test_evaluate_on_a_stub_env():
    ctx, st = make_run("sac")

    class Push:  # always push obs[0] up: success from the 2nd step of each 7-step episode
        def act(self, obs, deterministic=False):
            assert deterministic
            return torch.tensor([[1.0, 0.0]])

    st.agent = Push()
    ctx.eval_env.reset = lambda: (np.zeros(OBS), {})
    ctx.eval_env.t = 0
    result = evaluate(st, ctx)
    # positions 0.2, 0.38, 0.542, ...: success at steps 2..7 -> returns 6 * 0 + 1 * -1
    assert result == {"success_any": 1.0, "success_last": 1.0, "return": -1.0, "sparse_return": -1.0}


def test_log_point_writes_the_curve(tmp_path):
    ctx, st = make_run("sac", tmp_path=tmp_path)
    st.step, st.episodes, st.updates = 20, 2, 5
    st.accumulate({"critic_loss": torch.tensor(1.0)})
    st.accumulate({"critic_loss": torch.tensor(2.0)})
    point = log_point(st, ctx)
    assert point.step == 20 and point.train_stats["critic_loss"] == 1.5 and point.updates == 5
    assert st.last_eval_step == 20 and st.acc == {}
    curve = json.loads((tmp_path / "curve.json").read_text())
    # wall_s and env_steps_per_s are run metadata: in run.json beside curve.json, not in it (issue 16)
    stable = {k: v for k, v in point.to_json().items() if k not in ("wall_s", "env_steps_per_s")}
    assert curve["variant"] == "sac" and curve["curve"] == [stable]
    run = json.loads((tmp_path / "run.json").read_text())["files"]["curve.json"]
    assert run == {"curve": [{"wall_s": point.wall_s, "env_steps_per_s": point.env_steps_per_s}]}


def test_pending_transitions_survive_a_checkpoint():
    ctx, st = make_run("furl")
    run_steps(st, ctx, 1)
    assert isinstance(st.pending, Pending)
    tensors, state = st.to_checkpoint(eval_env=ctx.eval_env, device=ctx.device)
    ctx2, fresh = make_run("furl")
    fresh.restore(tensors, through_json(state), envs=ctx2.envs, eval_env=ctx2.eval_env, device=ctx2.device)
    for a, b in zip(fresh.pending.item, st.pending.item):
        assert np.array_equal(a, b)
    assert torch.equal(fresh.pending.emb.result(), st.pending.emb.result())


def test_relay_baseline_stops_once_enough_steps_succeeded_at_an_episode_end():
    # the paper profile's relay variant (the authors' train_relay.py): relay_threshold counts committed training
    # steps with task success, random steps included, and is looked at when an episode ends
    ctx, st = make_run("relay", num_envs=2, relay_stop="success-steps", relay_threshold=3, steps=400)
    items, seen, history = [], 0, []
    while st.relay_on and len(items) < 400:
        item, frames = step_envs(st, ctx, act(st, ctx))
        items.append(item)
        embed_and_commit(st, ctx, item, frames)  # commits the previous step's transitions
        if len(items) >= 2:
            seen += int(items[-2].success.sum())
        history.append((st.success_steps, st.relay_on))
    assert not st.relay_on, "no 3 success steps in 400 steps"
    assert st.success_steps == seen >= 3
    stopped = items[-2]  # the step whose commit turned relay off ended an episode
    assert stopped.done.any()
    # at every earlier episode end the count was below the threshold
    ends = [i for i in range(len(items) - 2) if items[i].done.any()]
    assert all(history[i + 1][0] < 3 for i in ends)
