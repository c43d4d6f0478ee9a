"""The MiniGrid colour x shape world (issue 12): env, batched twin, suites as data, commands on it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import cliprl_cli  # noqa: F401  (registers cliprl/ColourShape-v0)
from cliprl_cli.clip_rl.colour_shape import BatchedColourShape, get_layout, shipped_suite_path
from cliprl_cli.clip_rl.colour_shape_env import ColourShapeEnv, render_layout
from cliprl_cli.errors import CliprlError
from cliprl_cli.clip_rl.policy import PolicySpec
from cliprl_cli.clip_rl.tasks import load_suite
from cliprl_cli.clip_rl.transfer import method_weights

ROOT = Path(__file__).resolve().parents[1]
CLIPRL = [sys.executable, "-m", "cliprl_cli"]
LAYOUTS = ("by-colour", "by-shape")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_check_env_both_layouts(layout):
    env = gymnasium.make("cliprl/ColourShape-v0", layout=layout, task="go to the green ball")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs["mission"] == "go to the green ball" and env.action_space.n == 3
    assert env.unwrapped.grid.get(6, 1).type == "ball"  # the middle room's middle slot: green ball / a ball
    assert env.unwrapped.grid.get(6, 1).color == "green"


def test_layouts_transpose_and_render():
    by_colour, by_shape = get_layout("by-colour"), get_layout("by-shape")
    assert by_colour.map == by_shape.map
    assert by_colour.position(("red", "key")) == by_shape.position(("red", "key")) == (1, 1)
    assert by_colour.position(("red", "box")) == (3, 1) and by_shape.position(("red", "box")) == (9, 1)
    image = render_layout("by-colour", tile_size=8)
    assert image.shape == (8 * 8, 13 * 8, 3) and image.dtype == np.uint8
    assert not np.array_equal(image, render_layout("by-shape", tile_size=8))


@pytest.mark.parametrize("layout,target", [("by-colour", ("red", "key")), ("by-shape", ("blue", "ball")),
                                           ("by-colour", ("green", "box"))])
def test_twin_agrees_with_minigrid_step_by_step(layout, target):
    """The same random actions from the same starts: position, direction, reward, terminated, truncated agree."""
    world = get_layout(layout)
    env = ColourShapeEnv(layout=layout, task=f"go to the {target[0]} {target[1]}", max_steps=20)
    twin = BatchedColourShape(world, target, 1, torch.Generator().manual_seed(0), max_steps=20)
    twin.reset()
    rng = np.random.default_rng(0)
    episodes = successes = truncations = 0
    env.reset(options={"start": twin.decode(twin.cell)[0]})
    for _ in range(3000):
        action = int(rng.integers(0, 3))
        _, reward, terminated, truncated, _ = env.step(action)
        before = twin.decode(twin.move(twin.cell, torch.tensor([action])))[0]
        state, twin_reward, twin_terminated, twin_truncated = twin.step(torch.tensor([action]))
        assert (*env.agent_pos, env.agent_dir) == before
        assert terminated == bool(twin_terminated[0]) and truncated == bool(twin_truncated[0])
        assert reward == pytest.approx(float(twin_reward[0]), abs=1e-6)
        if terminated or truncated:
            episodes += 1
            successes += terminated
            truncations += truncated
            env.reset(options={"start": twin.decode(state)[0]})  # the twin already drew its next start
    assert episodes > 50 and successes > 5 and truncations > 5


def test_bfs_shortest_by_hand():
    twin = BatchedColourShape(get_layout("by-colour"), ("red", "key"), 1)
    right, down, left, up = 0, 1, 2, 3
    assert twin.shortest[twin.state_index(1, 2, up)] == 0          # faces the key: success state
    assert twin.shortest[twin.state_index(1, 2, right)] == 1       # turn left
    assert twin.shortest[twin.state_index(1, 2, down)] == 2        # turn twice
    assert twin.shortest[twin.state_index(1, 3, up)] == 1          # forward
    assert twin.shortest[twin.state_index(2, 2, up)] == 3          # left, forward, right
    # from the doorway of the red room facing up: forward (2,3), left, forward (1,3), right, forward (1,2) = 5
    assert twin.shortest[twin.state_index(2, 4, up)] == 5
    assert (twin.shortest[twin.starts] > 0).all() and twin.starts.numel() == twin.num_states - 1


def test_greedy_evaluation_of_an_oracle_policy():
    """A policy that takes a BFS-optimal action everywhere is converged (success 1, path ratio 1)."""
    twin = BatchedColourShape(get_layout("by-shape"), ("green", "box"), 1)
    best = torch.stack([twin.shortest[twin.successor[:, a]] for a in range(3)], dim=1)
    best[twin.successor == torch.arange(twin.num_states).unsqueeze(1)] = 10_000  # never a blocked no-op
    table = torch.nn.functional.one_hot(best.argmin(dim=1), 3).float()
    # the observation of state s is a one-hot over (x, y, direction); map it back to s through the twin's table
    unit_to_state = {int(row.argmax()): s for s, row in enumerate(twin.observations)}
    evaluation = twin.evaluate_greedy(lambda obs: table[[unit_to_state[int(u)] for u in obs.argmax(dim=1)]])
    assert evaluation["success_rate"] == 1.0 and evaluation["path_ratio"] == pytest.approx(1.0)


def test_gridworld_spec_json_unchanged():
    assert PolicySpec(grid_size=10).to_dict() == {"grid_size": 10, "hidden": 64, "layers": 2,
                                                  "encoding": "onehot-row-col"}
    suite = load_suite(shipped_suite_path("by-colour"))
    spec = PolicySpec(**suite.policy_spec_fields())
    assert spec.input_dim == 13 * 8 * 4 and spec.num_actions == 3 and PolicySpec.from_dict(spec.to_dict()) == spec


def test_suites_as_data_same_instructions():
    a, b = load_suite(shipped_suite_path("by-colour")), load_suite(shipped_suite_path("by-shape"))
    assert a.tasks == b.tasks and a.base_tasks == b.base_tasks and a.target == b.target == "go to the red key"
    sources = list(a.base_tasks)
    assert a.useful_group(a.target, sources) == ["go to the red ball", "go to the red box"]
    assert b.useful_group(b.target, sources) == ["go to the green key", "go to the blue key"]


def test_oracle_group_weights():
    sims = torch.tensor([0.5, 0.2, 0.9, 0.1])
    weights, note = method_weights("oracle-group", sims, None, group=[True, False, True, False])
    assert weights.tolist() == [0.5, 0.0, 0.5, 0.0] and "group" in note
    with pytest.raises(CliprlError, match="needs a suite"):
        method_weights("oracle-group", sims, None)


SUITE = """name: bad
environment: cliprl/ColourShape-v0
layout: {layout}
tasks:
  go to the red key: {obj}
  go to the red ball: red ball
base_tasks: [{base}]
target: go to the red key
"""
CUSTOM = """name: bad
environment: cliprl/ColourShape-v0
layout:
  name: mine
  group_by: colour
  max_steps: 20
  map: ["#####", "#...#", "#...#", "#####"]
  objects: {{red key: [1, 1], red ball: {ball}}}
tasks: {{go to the red key: red key, go to the red ball: red ball}}
base_tasks: [go to the red ball]
target: go to the red key
"""


@pytest.mark.parametrize("text,message", [
    (SUITE.format(layout="by-colour", obj="pink key", base="go to the red ball"), "unknown colour 'pink'"),
    (SUITE.format(layout="by-colour", obj="red cone", base="go to the red ball"), "unknown shape 'cone'"),
    (SUITE.format(layout="by-size", obj="red key", base="go to the red ball"), "layout 'by-size' is not one"),
    (SUITE.format(layout="by-colour", obj="red key", base="go to the red ball, go to the red key"),
     "target 'go to the red key' is also among the sources"),
    (CUSTOM.format(ball="[1, 1]"), "are both in cell [1, 1]"),
    (CUSTOM.format(ball="[0, 1]"), "is inside a wall"),
    (SUITE.format(layout="by-colour", obj="red key", base="go to the red ball").replace("ColourShape", "Colour"),
     "unknown environment"),
    (SUITE.format(layout="by-colour", obj="purple key", base="go to the red ball"), "does not contain"),
])
def test_bad_suites_one_line_errors(tmp_path, text, message):
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(CliprlError, match=re.escape(message)):
        load_suite(path)
    result = subprocess.run([*CLIPRL, "train-base", "--tasks", str(path), "--task", "go to the red key",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_env_refuses_unknown_layout():
    with pytest.raises(CliprlError, match="layout 'by-size'"):
        gymnasium.make("cliprl/ColourShape-v0", layout="by-size")


def _greedy_in_minigrid(policy_dir: Path, layout: str, task: str) -> tuple[float, float]:
    """Run the trained policy greedily in MiniGrid's own env from every valid start: (success rate, path ratio)."""
    from cliprl_cli.clip_rl.colour_shape import encode_states
    from cliprl_cli.clip_rl.policy import PolicyNet
    from cliprl_cli.clip_rl.train_base import load_policy

    params, _, spec = load_policy(policy_dir)
    net = PolicyNet(spec)
    net.load_state_dict(params)
    env = ColourShapeEnv(layout=layout, task=task)
    twin = BatchedColourShape(get_layout(layout), env.target, 1)
    lengths, shortest, reached = 0, 0, 0
    starts = env.valid_starts()
    for start in starts:
        obs, _ = env.reset(options={"start": start})
        for step in range(1, env.max_steps + 1):
            x, y = obs["agent_pos"]
            features = encode_states(torch.tensor([x]), torch.tensor([y]), torch.tensor([obs["direction"]]),
                                     spec.grid_size, spec.height)
            obs, _, terminated, truncated, _ = env.step(int(net(features)[0].argmax()))
            if terminated:
                reached += 1
                lengths += step
                shortest += int(twin.shortest[twin.state_index(*start)])
                break
            if truncated:
                break
    return reached / len(starts), lengths / max(shortest, 1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_train_base_converges_on_each_suite(tmp_path, layout):
    """The real command on the shipped suite, no --grid-size; then MiniGrid's own env confirms the rule."""
    suite = shipped_suite_path(layout)
    task = "go to the green ball" if layout == "by-colour" else "go to the blue key"
    out = tmp_path / "policy"
    result = subprocess.run([*CLIPRL, "train-base", "--tasks", str(suite), "--task", task, "--seed", "0",
                             "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((out / "policy.json").read_text())
    assert sidecar["config"]["layout"] == layout and sidecar["config"]["environment"] == "cliprl/ColourShape-v0"
    assert sidecar["metrics"]["final_success_rate"] == 1.0 and sidecar["metrics"]["final_path_ratio"] <= 1.05
    success, ratio = _greedy_in_minigrid(out, layout, task)
    assert success == 1.0 and ratio == pytest.approx(sidecar["metrics"]["final_path_ratio"], abs=1e-5)
    refused = subprocess.run([*CLIPRL, "train-base", "--tasks", str(suite), "--task", task, "--grid-size", "10",
                              "--out", str(tmp_path / "x")], capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "fixes its world" in refused.stderr and "drop --grid-size" in refused.stderr
