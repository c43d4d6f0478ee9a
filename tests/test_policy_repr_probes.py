"""Policy representations that read what a policy does: the probe set of ``behaviour`` and the rollouts and GRU of
``trajectory`` (cliprl_cli/clip_rl/policy_repr.py), checked against walks worked out by hand on small grids."""

import hashlib
import json

import torch

from cliprl_cli.clip_rl.config import AlignConfig
from cliprl_cli.clip_rl.gridworld import BatchedGridWorld
from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec, behaviour_vector, probe_states
from cliprl_cli.clip_rl.policy_repr import (Trajectories, TrajectoryEncoder, env_factory, policy_rollouts,
                                            probe_set, walk)
from cliprl_cli.clip_rl.tasks import load_suite

GRID_SUITE = "name: two\ntasks:\n  top left first: [0, 0]\n  bottom right first: [-1, -1]\n" \
             "base_tasks: [top left first, bottom right first]\n"


def _always(action: int, num_actions: int = 4):
    """A policy's params whose greedy action is ``action`` everywhere (only the logit bias is non-zero)."""
    spec = PolicySpec(grid_size=3, hidden=4, layers=1)
    params = {k: torch.zeros_like(v) for k, v in PolicyNet(spec).state_dict().items()}
    params["logits.bias"][action] = 5.0
    return spec, params


def test_walk_of_always_up_ends_where_a_hand_count_says():
    """Goal (0, 0) in a 3x3 grid and the action up everywhere: from column 0 the walk reaches the goal after `row`
    moves (the move into the goal counts); from any other column it is stuck at the top wall until the cap."""
    starts_gen = torch.Generator().manual_seed(5)
    expected_starts = BatchedGridWorld(3, (0, 0), 6, generator=starts_gen).sample_starts(6)
    env = BatchedGridWorld(3, (0, 0), 6, generator=torch.Generator().manual_seed(5))
    walks = walk(env, lambda obs: torch.zeros(obs.shape[0], dtype=torch.long), steps=5)
    rows, cols = expected_starts // 3, expected_starts % 3
    want = torch.where(cols == 0, rows, torch.full_like(rows, 5))
    assert walks.lengths.tolist() == want.tolist()
    assert set(want.tolist()) != {5}  # the seed gives at least one walk that ends early
    for i, length in enumerate(walks.lengths.tolist()):
        assert walks.obs[i, :length].sum(dim=1).tolist() == [2.0] * length  # a row and a column one-hot
        assert walks.obs[i, length:].abs().sum().item() == 0.0                # nothing after the episode ended
        row, col = int(rows[i]), int(cols[i])
        assert walks.obs[i, 0].nonzero().squeeze(1).tolist() == [row, 3 + col]  # the first observation: the start


def test_rollout_steps_are_observation_then_one_hot_action_and_zero_after_the_end():
    spec, params = _always(1)  # down, everywhere: from row r of column c, goal (2, 2) is reached only in column 2
    suite = load_suite(None)
    factory = lambda n, g: BatchedGridWorld(3, (2, 2), n, generator=g)  # noqa: E731
    steps, lengths = policy_rollouts(params, spec, factory, count=4, steps=6, seed=3, sampled=False)
    assert steps.shape == (4, 6, 6 + 4)
    for i, length in enumerate(lengths.tolist()):
        assert steps[i, :length, 6:].tolist() == [[0.0, 1.0, 0.0, 0.0]] * length
        assert steps[i, length:].abs().sum().item() == 0.0
    assert env_factory(suite, "top left first", PolicySpec(grid_size=3))(2, torch.Generator()).goal == (0, 0)


def test_sampled_rollouts_follow_the_seed_and_greedy_ones_ignore_it():
    spec = PolicySpec(grid_size=4, hidden=8, layers=1)
    torch.manual_seed(0)
    params = dict(PolicyNet(spec).state_dict())
    factory = lambda n, g: BatchedGridWorld(4, (0, 0), n, generator=g)  # noqa: E731
    a = policy_rollouts(params, spec, factory, count=5, steps=8, seed=1, sampled=True)
    b = policy_rollouts(params, spec, factory, count=5, steps=8, seed=1, sampled=True)
    c = policy_rollouts(params, spec, factory, count=5, steps=8, seed=2, sampled=True)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_trajectory_encoder_reads_each_rollout_up_to_its_length_and_averages_rollouts():
    torch.manual_seed(0)
    encoder = TrajectoryEncoder(step_dim=3, hidden=5, layers=2, out_dim=4)
    steps = torch.randn(2, 3, 6, 3)
    lengths = torch.tensor([[6, 2, 4], [1, 6, 3]])
    out = encoder(Trajectories(steps, lengths))
    assert out.shape == (2, 4)
    # by hand: each rollout alone, cut at its length, through the same layers; the mean of the last states
    for p in range(2):
        lasts = []
        for r in range(3):
            x = torch.relu(encoder.step(steps[p, r, :lengths[p, r]].unsqueeze(0)))
            lasts.append(encoder.gru(x)[0][0, -1])
        assert torch.allclose(out[p], encoder.out(torch.stack(lasts).mean(dim=0)), atol=1e-6)
    # what lies after a rollout's end does not matter, nor the order of a policy's rollouts
    noisy = steps.clone()
    noisy[0, 1, 2:] = 7.0
    assert torch.allclose(encoder(Trajectories(noisy, lengths)), out, atol=1e-6)
    order = torch.tensor([2, 0, 1])
    assert torch.allclose(encoder(Trajectories(steps[:, order], lengths[:, order])), out, atol=1e-6)


def test_enumerable_worlds_keep_every_state_as_their_probe_set():
    spec = PolicySpec(grid_size=4)
    probes = probe_set(load_suite(None), spec, ["top left first"], seed=9, episodes=2, steps=3)
    assert probes.info == {"kind": "every-state"} and not probes.drawn
    assert torch.equal(probes.observations, probe_states(spec))
    torch.manual_seed(1)
    params = dict(PolicyNet(spec).state_dict())
    assert torch.equal(behaviour_vector(params, spec), behaviour_vector(params, spec, probes.observations))


def test_probe_and_rollout_settings_stay_out_of_a_weights_or_behaviour_record():
    keys = ["head", "dim", "hidden", "epochs", "lr", "temperature", "learn_temperature", "text_encoder", "seed",
            "policy_repr"]
    assert list(AlignConfig().to_dict()) == keys
    assert list(AlignConfig(policy_repr="behaviour").to_dict()) == keys
    assert AlignConfig(rollouts=3).to_dict()["rollouts"] == 3  # a changed setting is always recorded
    assert AlignConfig(policy_repr="trajectory").to_dict()["gru_layers"] == 2


def _hashes(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())
            if p.name != "run.json"}


def test_trajectory_alignment_repeats_its_bytes_and_transfer_reads_its_heads(tmp_path):
    from cliprl_cli.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text(GRID_SUITE)
    assert main(["train-base", "--all", "--grid-size", "4", "--tasks", str(suite), "--out", str(tmp_path / "b"),
                 "-q"]) == 0
    args = ["align", "--base", str(tmp_path / "b"), "--tasks", str(suite), "--policy-repr", "trajectory",
            "--epochs", "30", "--rollouts", "3", "--rollout-steps", "8", "--gru-hidden", "16", "-q"]
    assert main([*args, "--out", str(tmp_path / "a1")]) == 0
    assert main([*args, "--out", str(tmp_path / "a2")]) == 0
    assert _hashes(tmp_path / "a1") == _hashes(tmp_path / "a2")
    sidecar = json.loads((tmp_path / "a1" / "heads.json").read_text())
    assert sidecar["weight_dim"] == 2 * 4 + 4  # one-hot row and column, one-hot action
    assert sidecar["trajectories"]["rollouts"] == 3 and sidecar["config"]["rollout_steps"] == 8
    assert 1 <= sidecar["trajectories"]["mean_length"] <= 8
    assert main(["transfer", "--target", "bottom right first", "--allow-target-in-sources", "--base",
                 str(tmp_path / "b"), "--align", str(tmp_path / "a1"), "--tasks", str(suite), "--methods", "clip",
                 "--trials", "1", "--out", str(tmp_path / "t"), "-q"]) == 0
    results = json.loads((tmp_path / "t" / "results.json").read_text())
    assert results["trials"][0]["method"] == "clip"
