import json
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from cliprl_cli.cli import main
from cliprl_cli.clip_rl.ppo import evaluate_greedy, is_converged
from cliprl_cli.store.runinfo import with_run_fields

CLIPRL = [sys.executable, "-m", "cliprl_cli.cli"]


def hand_policy(size, goal, loop_cell=None):
    """Optimal: move vertically first, then horizontally. With loop_cell, walk into the wall there forever."""

    def policy(obs):
        rows = obs[:, :size].argmax(1)
        cols = obs[:, size:].argmax(1)
        actions = torch.where(rows > goal[0], 0, torch.where(rows < goal[0], 1, torch.where(cols > goal[1], 2, 3)))
        if loop_cell is not None:
            at = (rows == loop_cell[0]) & (cols == loop_cell[1])
            actions = torch.where(at, 1, actions)  # "down" on the bottom row: bumps the wall, stays put
        return torch.nn.functional.one_hot(actions, 4).float()

    return policy


def test_convergence_rule_on_hand_built_policies():
    size, goal = 6, (0, 0)
    good = evaluate_greedy(hand_policy(size, goal), size, goal, 4 * size)
    assert good["success_rate"] == 1.0 and good["path_ratio"] == pytest.approx(1.0)
    assert is_converged(good)
    looping = evaluate_greedy(hand_policy(size, goal, loop_cell=(5, 5)), size, goal, 4 * size)
    assert looping["success_rate"] == pytest.approx(34 / 35)
    assert not is_converged(looping)


def test_path_tolerance_is_enforced():
    assert is_converged({"success_rate": 1.0, "path_ratio": 1.05})
    assert not is_converged({"success_rate": 1.0, "path_ratio": 1.06})


def _train(out, *extra):
    return main(["train-base", "--task", "top left third", "--grid-size", "8", "--seed", "3", "--out", str(out),
                 "--quiet", *extra])


def test_end_to_end_8x8_converges_and_is_deterministic(tmp_path):
    assert _train(tmp_path / "a") == 0
    assert _train(tmp_path / "b") == 0
    a, b = tmp_path / "a" / "policy.safetensors", tmp_path / "b" / "policy.safetensors"
    assert a.read_bytes() == b.read_bytes()
    side = json.loads((tmp_path / "a" / "policy.json").read_text())
    assert side["kind"] == "base-policy" and side["instruction"] == "top left third" and side["goal"] == [0, 5]
    assert side["metrics"]["converged"] and side["metrics"]["env_steps"] > 0
    assert side["spec"] == {"grid_size": 8, "hidden": 64, "layers": 2, "encoding": "onehot-row-col"}
    curve = json.loads((tmp_path / "a" / "curve.json").read_text())
    assert curve[-1]["success_rate"] == 1.0 and curve[0]["env_steps"] == 0
    assert not (tmp_path / "a" / "checkpoint.safetensors").exists()


def test_budget_exhausted_exits_3_and_writes_nothing(tmp_path, capsys):
    assert _train(tmp_path / "c", "--max-env-steps", "10") == 3
    assert not (tmp_path / "c" / "policy.safetensors").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "did not converge" in err[-1]


@pytest.mark.parametrize("args, message", [
    (["--task", "bottom"], "unknown task 'bottom'"),
    (["--task", "top left first", "--tasks", "/nonexistent.yaml"], "task suite not found"),
    (["--task", "top left first", "--grid-size", "1"], "--grid-size must be between 2 and 128, got 1"),
])
def test_bad_inputs_one_line(tmp_path, capsys, args, message):
    code = main(["train-base", *args, "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err


def test_bad_suite_through_subprocess(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text("tasks:\n  a: [0, 0]\n  b: [0, -8]\n")
    proc = subprocess.run([*CLIPRL, "train-base", "--task", "a", "--grid-size", "8", "--tasks", str(suite),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "share the goal" in proc.stderr


def _cmd(out):
    return [*CLIPRL, "train-base", "--task", "top left first", "--grid-size", "50", "--seed", "5", "--num-envs", "64",
            "--out", str(out), "--quiet"]


@pytest.mark.slow
def test_sigterm_at_a_random_point_then_resume_gives_identical_bytes(tmp_path):
    reference = tmp_path / "ref"
    assert subprocess.run(_cmd(reference)).returncode == 0
    run = tmp_path / "run"
    proc = subprocess.Popen([*_cmd(run), "--checkpoint-every", "0"])
    ckpt = run / "checkpoint.safetensors"
    try:
        deadline = time.time() + 60
        while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 75
    finally:  # never leave a run behind a failed test
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert ckpt.exists() and not (run / "policy.safetensors").exists()
    assert subprocess.run(_cmd(run)).returncode == 0
    assert (run / "policy.safetensors").read_bytes() == (reference / "policy.safetensors").read_bytes()
    # run metadata (the step it resumed from, wall times) is in run.json; the hashed sidecar is identical (issue 16)
    assert (run / "policy.json").read_bytes() == (reference / "policy.json").read_bytes()
    assert (run / "curve.json").read_bytes() == (reference / "curve.json").read_bytes()
    side = with_run_fields(run / "policy.json")
    assert side["metrics"]["resumed_from_step"] > 0
    assert not ckpt.exists()


def test_corrupt_checkpoint_is_set_aside(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.safetensors").write_bytes(b"garbage")
    (out / "checkpoint.json").write_text("{}")
    assert _train(out) == 0
    assert "set aside" in capsys.readouterr().err
    assert list(out.glob("checkpoint.safetensors.corrupt-*"))
    assert (out / "policy.safetensors").exists()


# ---------------------------------------------------------------- the steps of train_ppo, each on its own
def test_gae_matches_a_direct_sum_per_environment():
    from cliprl_cli.clip_rl.ppo import compute_gae

    gen = torch.Generator().manual_seed(3)
    T, B, gamma, lam = 5, 3, 0.9, 0.8
    rewards, values = torch.rand(T, B, generator=gen), torch.rand(T, B, generator=gen)
    dones = (torch.rand(T, B, generator=gen) < 0.3).float()
    next_value = torch.rand(B, generator=gen)
    advantages, returns = compute_gae(rewards, values, dones, next_value, gamma, lam)
    for b in range(B):
        for t in range(T):
            # A_t = sum_k (gamma*lam)^k delta_{t+k}, stopping after the first transition that ends an episode
            total, factor = 0.0, 1.0
            for k in range(t, T):
                nxt = float(next_value[b]) if k == T - 1 else float(values[k + 1, b])
                delta = float(rewards[k, b]) + gamma * nxt * (1 - float(dones[k, b])) - float(values[k, b])
                total += factor * delta
                if dones[k, b]:
                    break
                factor *= gamma * lam
            assert float(advantages[t, b]) == pytest.approx(total, abs=1e-5)
    assert torch.equal(returns, advantages + values)


def test_sample_actions_follows_the_softmax():
    from cliprl_cli.clip_rl.ppo import sample_actions

    logits = torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4]])).expand(40_000, 4)
    actions = sample_actions(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(actions, minlength=4).float() / len(actions)
    assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.3, 0.4]), atol=0.01)


def test_checkpoint_restore_continues_the_same_rollout_and_update(tmp_path):
    from cliprl_cli.adam import Adam
    from cliprl_cli.clip_rl.config import PPOConfig
    from cliprl_cli.clip_rl.gridworld import BatchedGridWorld
    from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec
    from cliprl_cli.clip_rl.ppo import (LoopState, Rollout, collect_rollout, compute_gae, ppo_update,
                                restore_training_checkpoint, save_training_checkpoint)

    spec, goal, config = PolicySpec(grid_size=5), (0, 0), PPOConfig(num_envs=8, num_steps=4)

    def fresh():
        torch.manual_seed(0)
        net = PolicyNet(spec)
        gen = torch.Generator().manual_seed(1)
        env = BatchedGridWorld(5, goal, config.num_envs, generator=gen)
        env.reset()
        return net, Adam(net.parameters(), lr=config.learning_rate, eps=1e-5), gen, env

    def iterate(net, opt, gen, env):
        buf = Rollout.empty(config.num_steps, config.num_envs, 2 * spec.grid_size)
        next_value = collect_rollout(net, env, gen, buf)
        adv, ret = compute_gae(buf.rewards, buf.values, buf.dones, next_value, config.gamma, config.gae_lambda)
        ppo_update(net, opt, buf, adv, ret, config, gen)
        return buf

    net, opt, gen, env = fresh()
    iterate(net, opt, gen, env)
    path, run_config = tmp_path / "ckpt.safetensors", {"test": 1}
    save_training_checkpoint(path, net, opt, gen, env, LoopState(iteration=1, env_steps=32), 1.5, run_config)
    expected = iterate(net, opt, gen, env)

    net2, opt2, gen2, env2 = fresh()
    state = restore_training_checkpoint(path, net2, opt2, gen2, env2, run_config)
    assert (state.iteration, state.env_steps, state.elapsed_before, state.resumed_from) == (1, 32, 1.5, 32)
    resumed = iterate(net2, opt2, gen2, env2)
    assert torch.equal(resumed.actions, expected.actions) and torch.equal(resumed.rewards, expected.rewards)
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)
    assert restore_training_checkpoint(tmp_path / "none.safetensors", net2, opt2, gen2, env2, run_config) is None
