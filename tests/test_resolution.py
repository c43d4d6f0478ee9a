"""Step resolution of `transfer` (issue 13): fine-tuning checks convergence every 512 env steps, so a policy that
converges part-way through a train-base iteration (4,096 steps) is counted within 512 steps; and the fixed-horizon
AUC that compares runs across methods."""

import pytest
import torch

from cliprl_cli.clip_rl.config import PPOConfig, TransferConfig
from cliprl_cli.clip_rl.policy import PolicySpec
from cliprl_cli.clip_rl.ppo import auc_to_horizon, evaluate_greedy, is_converged, train_ppo

SIZE = 8


def nearly_converged_policy(margin: float = 0.001) -> tuple[PolicySpec, dict[str, torch.Tensor]]:
    """A hand-built policy for goal (0, 0) on an 8x8 grid, optimal everywhere but at (0, 7).

    One hidden layer of 2N units reads the one-hot row and column (``h = tanh(3 x)``); logit "up" is 2 in every row
    below the top, "left" is 1 in every column but the first, so the greedy path is up, then left: a shortest path.
    The flaw: in the last column "right" is ``1 + margin``, above "left". Below the top row "up" still wins, but
    at (0, 7) the greedy policy pushes into the wall, so the starts of the last column never arrive. A PPO update
    has only to tip one small margin.
    """
    spec = PolicySpec(grid_size=SIZE, hidden=2 * SIZE, layers=1)
    params = {"trunk.0.weight": 3.0 * torch.eye(2 * SIZE), "trunk.0.bias": torch.zeros(2 * SIZE),
              "logits.weight": torch.zeros(4, 2 * SIZE), "logits.bias": torch.zeros(4),
              "value.weight": torch.zeros(1, 2 * SIZE), "value.bias": torch.zeros(1)}
    scale = 1.0 / torch.tanh(torch.tensor(3.0))  # so an active unit contributes exactly its weight
    params["logits.weight"][0, 1:SIZE] = 2.0 * scale                 # up, rows 1..7
    params["logits.weight"][2, SIZE + 1:2 * SIZE] = 1.0 * scale      # left, columns 1..7
    params["logits.weight"][3, 2 * SIZE - 1] = (1.0 + margin) * scale  # right, column 7: the flaw
    return spec, params


def _greedy(spec, params):
    from cliprl_cli.clip_rl.policy import PolicyNet
    net = PolicyNet(spec)
    net.load_state_dict(params)
    return evaluate_greedy(lambda o: net(o)[0], SIZE, (0, 0), 4 * SIZE)


def test_hand_built_policy_is_nearly_converged():
    spec, params = nearly_converged_policy()
    evaluation = _greedy(spec, params)
    assert evaluation["success_rate"] == pytest.approx(1 - SIZE / (SIZE * SIZE - 1))  # the last column fails
    assert not is_converged(evaluation)
    params["logits.weight"][3, 2 * SIZE - 1] = 0.0  # without the flaw it is optimal
    assert is_converged(_greedy(spec, params))


def test_convergence_mid_iteration_is_counted_within_512_steps():
    spec, params = nearly_converged_policy()
    fine = TransferConfig().ppo
    assert fine.num_envs * fine.num_steps * fine.eval_every == 512
    result = train_ppo(spec, (0, 0), fine, seed=0, init_params={k: v.clone() for k, v in params.items()})
    assert result.converged
    steps = [p["env_steps"] for p in result.curve]
    assert steps == list(range(0, result.env_steps + 1, 512))  # a check after every 512 env steps
    assert 0 < result.env_steps < 4096  # converged part-way through what would be one train-base iteration
    coarse = train_ppo(spec, (0, 0), PPOConfig(), seed=0, init_params={k: v.clone() for k, v in params.items()})
    assert coarse.converged and coarse.env_steps == 4096  # the old clock could only say "one iteration"
    # the same seed gives the same run, step for step
    again = train_ppo(spec, (0, 0), fine, seed=0, init_params={k: v.clone() for k, v in params.items()})
    assert again.curve == [{**p, "wall_s": q["wall_s"]} for p, q in zip(result.curve, again.curve)]
    assert all(torch.equal(again.params[k], result.params[k]) for k in result.params)


def test_auc_to_horizon_by_hand():
    curve = [{"env_steps": 0, "success_rate": 0.0}, {"env_steps": 100, "success_rate": 0.5},
             {"env_steps": 200, "success_rate": 1.0}]
    # trapezoids 0.5*(0+0.5)*100 = 25 and 0.5*(0.5+1)*100 = 75, then 1.0 held for 200 steps: 300 / 400
    assert auc_to_horizon(curve, 400) == pytest.approx(0.75)
    # cut inside the second segment: at 150 the line is at 0.75; 25 + 0.5*(0.5+0.75)*50 = 56.25 over 150
    assert auc_to_horizon(curve, 150) == pytest.approx(56.25 / 150)
    assert auc_to_horizon(curve, 100) == pytest.approx(0.25)
    # a policy that already solves the task at step 0 scores 1 whatever the horizon
    assert auc_to_horizon([{"env_steps": 0, "success_rate": 1.0}], 1000) == 1.0
    # the same curve scored over the same horizon: a run that is slower by half scores lower
    slow = [{"env_steps": 0, "success_rate": 0.0}, {"env_steps": 200, "success_rate": 0.5},
            {"env_steps": 400, "success_rate": 1.0}]
    assert auc_to_horizon(slow, 400) == pytest.approx((50 + 150) / 400)
    assert auc_to_horizon(slow, 400) < auc_to_horizon(curve, 400)
    with pytest.raises(ValueError):
        auc_to_horizon(curve, 0)
