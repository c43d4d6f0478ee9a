"""BabyAI suites: every shipped task is a valid gymnasium env whose missions are its instruction, the policy input
against hand-worked indices, one-line refusals, the convergence rule's arithmetic, a checkpoint replayed to the same
observations, and a tiny train-base run's artifacts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from cliprl_cli.clip_rl import babyai
from cliprl_cli.clip_rl.babyai import (BabyAIBatch, EpisodeRule, encode_observation, make_env, rule_converged,
                                       summarize_episodes)
from cliprl_cli.clip_rl.config import TRANSFER_PPO, PPOConfig, resolve_ppo
from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec
from cliprl_cli.clip_rl.tasks import load_suite
from cliprl_cli.clip_rl.train_base import resolve_hidden
from cliprl_cli.errors import CliprlError

ROOT = Path(__file__).resolve().parents[1]
CLIPRL = [sys.executable, "-m", "cliprl_cli"]
DATA = ROOT / "cliprl_cli" / "data"
SUITES = [DATA / "babyai_anchor.yaml", DATA / "babyai_colour_object.yaml"]
SHIPPED = sorted({(path.name, task) for path in SUITES for task in load_suite(path).tasks})


@pytest.mark.parametrize("suite_file, task", SHIPPED)
def test_check_env_every_shipped_task(suite_file, task):
    suite = load_suite(DATA / suite_file)
    env = make_env(suite, task, seed=0)
    check_env(env, skip_render_check=True)
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        assert obs["mission"] == task
    env.close()


def test_missions_match_instruction_over_seeds():
    """Many seeds of redrawn levels (GoToDoor: about 1 layout in 9 poses it) and of pinned ones (GoToObj,
    GoToLocal); the same seed gives the same layout."""
    suite = load_suite(SUITES[0])
    for task in ("go to the green key", "go to the red key", "go to the red ball", "go to the blue door"):
        env = make_env(suite, task)
        draws = []
        for seed in range(25):
            obs, _ = env.reset(seed=seed)
            assert obs["mission"] == task
            draws.append(env.draws)
            again, _ = env.reset(seed=seed)
            assert np.array_equal(obs["image"], again["image"]) and obs["direction"] == again["direction"]
        if task in ("go to the red key", "go to the green key"):
            assert set(draws) == {1}  # pinned: the object is placed, never redrawn
        if task == "go to the blue door":
            assert max(draws) > 1     # redrawn
        env.close()


def test_shipped_modes():
    suite = load_suite(SUITES[0])
    assert suite.mission_mode("go to the blue box") == "pinned"
    assert suite.mission_mode("go to the green key") == "pinned"
    assert suite.mission_mode("go to the blue door") == "redraw"
    assert suite.record("open the red door") == {"suite_kind": "babyai", "environment": "BabyAI-OpenRedDoor-v0",
                                                 "mission_mode": "redraw"}
    assert suite.base_tasks[0] == "go to the red ball" and suite.target == "go to the red key"
    assert suite.targets == ("go to the red key", "go to the grey ball", "open the blue door")


def test_constants_match_minigrid():
    from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

    assert (babyai.NUM_OBJECTS, babyai.NUM_COLOURS, babyai.NUM_STATES) == (len(OBJECT_TO_IDX), len(COLOR_TO_IDX),
                                                                           len(STATE_TO_IDX))
    assert babyai.COLOURS == tuple(COLOR_TO_IDX)
    assert babyai.OBS_DIM == 984


def test_encoding_by_hand():
    """Cell (i, j) of the image is cell 7 i + j; its object, colour and state one-hots start at 20 (7 i + j),
    + 11, + 17; the direction's one-hot starts at 980."""
    image = np.zeros((7, 7, 3), dtype=np.uint8)
    image[0, 0] = (2, 5, 0)    # a grey wall: units 2, 11 + 5 = 16, 17 + 0 = 17
    image[3, 6] = (4, 0, 1)    # a closed red door at cell 27: 540 + 4, 540 + 11, 540 + 18
    out = encode_observation({"image": image, "direction": 3, "mission": "x"})
    assert out.dtype == np.float32 and out.shape == (984,)
    hot = set(np.flatnonzero(out).tolist())
    assert {2, 16, 17, 544, 551, 558, 983} <= hot
    # every other cell is object 0 (unseen), colour 0 (red), state 0: units 20 c, 20 c + 11, 20 c + 17
    assert len(hot) == 49 * 3 + 1 and out.sum() == 148


@pytest.mark.parametrize("text, message", [
    ("open the door: BabyAI-Open-v0", "BabyAI-Open-v0 never poses 'open the door'"),
    ("go to the red ball: BabyAI-GoToObjX-v0", "is not a registered gymnasium id"),
    ("go to the red ball: MiniGrid-Empty-5x5-v0", "is not a BabyAI level"),
    ("go to the pink ball: BabyAI-GoToObj-v0", "never poses 'go to the pink ball'"),
])
def test_bad_instruction_one_line_exit_2(tmp_path, text, message):
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: bad\nkind: babyai\ntasks:\n  {text}\n")
    with pytest.raises(CliprlError, match=message.replace("(", r"\(")):
        load_suite(path)
    task = text.split(":")[0]
    result = subprocess.run([*CLIPRL, "train-base", "--tasks", str(path), "--task", task, "--out",
                             str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_unlisted_level_is_probed():
    """A level without a mission table is probed: what it poses passes, what it never poses is refused."""
    babyai.check_instruction("BabyAI-GoToRedBallNoDists-v0", "go to the red ball")
    with pytest.raises(CliprlError, match="did not pose 'go to the blue ball' in 500 layouts"):
        babyai.check_instruction("BabyAI-GoToRedBallNoDists-v0", "go to the blue ball")


def test_rule_arithmetic_by_hand():
    # 4 seeds, 3 solved in 6 + 8 + 10 = 24 steps; the bot took 5 + 6 + 9 = 20 on those: ratio 1.2
    ev = summarize_episodes([True, True, False, True], [6, 8, 64, 10], [5, 6, 7, 9])
    assert ev["success_rate"] == 0.75 and ev["path_ratio"] == pytest.approx(1.2)
    assert ev["mean_length"] == 8.0 and ev["bot_mean_length"] == pytest.approx(27 / 4)
    assert rule_converged(ev, EpisodeRule(4, 0.75, 0.2)) and not rule_converged(ev, EpisodeRule(4, 0.75, 0.19))
    assert not rule_converged(ev, EpisodeRule(4, 0.8, 1.0))
    none = summarize_episodes([False, False], [64, 64], [5, 6])
    assert none["success_rate"] == 0.0 and none["path_ratio"] == float("inf")
    assert rule_converged(none, EpisodeRule(2, 0.0, 0.0)) and not rule_converged(none, EpisodeRule(2, 0.01, 9.0))


def test_ppo_rule_fields_only_in_babyai_records():
    """The exact worlds' PPO records keep their keys (their bytes are fingerprinted); BabyAI suites get the rule."""
    assert "eval_episodes" not in PPOConfig().to_dict()
    ppo = resolve_ppo(PPOConfig(), load_suite(SUITES[0]))
    assert ppo.to_dict()["eval_episodes"] == 100 and ppo.success_threshold == 0.95 and ppo.bot_length_bound == 0.25
    assert (ppo.gamma, ppo.num_envs, ppo.minibatches, ppo.eval_every, ppo.ent_coef) == (0.99, 256, 4, 4, 0.001)
    assert resolve_ppo(PPOConfig(), load_suite(SUITES[0]), num_envs=64).num_envs == 64
    assert resolve_ppo(PPOConfig(success_threshold=0.5), load_suite(SUITES[0])).success_threshold == 0.5
    with pytest.raises(CliprlError):
        PPOConfig(success_threshold=1.5)


def test_greedy_evaluation_of_the_bot_itself():
    """A 'policy' that replays BabyAI's bot has path ratio 1 and full success: the evaluation and the bot see the same
    layouts on the same seeds."""
    suite = load_suite(SUITES[0])
    venv = babyai.BabyAIVectorEnv("BabyAI-GoToRedBall-v0", "go to the red ball", 1)
    seeds = babyai.eval_seeds(6)
    bot = venv.bot(seeds)
    assert all(ok for ok, _ in bot)
    # the bot's own actions, recorded per seed, replayed as a scripted policy through evaluate()
    from minigrid.utils.baby_ai_bot import BabyAIBot
    scripts = []
    for s in seeds:
        env = make_env(suite, "go to the red ball")
        env.reset(seed=s)
        b, acts, done = BabyAIBot(env.unwrapped), [], False
        while not done:
            a = b.replan()
            acts.append(int(a))
            _, _, te, tr, _ = env.step(a)
            done = te or tr
        scripts.append(acts)
    step = [0]

    def act(rows):
        out = np.array([s[step[0]] if step[0] < len(s) else 0 for s in scripts])
        step[0] += 1
        return out

    episodes = venv.evaluate(act, seeds)
    venv.close()
    ev = summarize_episodes(episodes["success"], episodes["length"], [n for _, n in bot])
    assert ev["success_rate"] == 1.0 and ev["path_ratio"] == 1.0


@pytest.mark.parametrize("workers", [1, 2])
def test_checkpoint_state_replays_to_the_same_observations(workers):
    """state_dict -> a fresh batch -> load_state_dict gives the same observations, and both continue alike; the
    run does not depend on the number of workers."""
    gen = torch.Generator().manual_seed(3)
    rule = EpisodeRule(2, 0.9, 0.25)
    a = BabyAIBatch("BabyAI-GoToLocal-v0", "go to the green key", 3, gen, rule=rule, workers=workers)
    a.reset()
    actions = torch.Generator().manual_seed(0)
    for _ in range(30):
        obs, *_ = a.step(torch.randint(0, 7, (3,), generator=actions))
    state = a.state_dict()
    b = BabyAIBatch("BabyAI-GoToLocal-v0", "go to the green key", 3, torch.Generator().manual_seed(3), rule=rule,
                    workers=1)
    b.reset()
    b.load_state_dict(state)
    assert torch.equal(b.observe(), obs)
    for _ in range(20):
        act = torch.randint(0, 7, (3,), generator=actions)
        ra, rb = a.step(act), b.step(act)
        assert all(torch.equal(x, y) for x, y in zip(ra, rb))
    a.close()
    b.close()


def test_spec_shares_one_architecture():
    spec = PolicySpec(grid_size=7, encoding=babyai.ENCODING)
    assert spec.input_dim == 984 and spec.num_actions == 7
    assert spec.to_dict() == {"grid_size": 7, "hidden": 64, "layers": 2, "encoding": "babyai-view-onehot"}
    assert PolicyNet(spec)(torch.zeros(2, 984))[0].shape == (2, 7)


def test_train_base_tiny_budget_writes_the_rule(tmp_path):
    """A tiny budget with a rule any policy passes: the artifacts and the recorded rule, not convergence."""
    out = tmp_path / "policy"
    result = subprocess.run([*CLIPRL, "train-base", "--tasks", str(SUITES[0]), "--task", "go to the red ball",
                             "--seed", "0", "--out", str(out), "--num-envs", "4", "--num-steps", "8",
                             "--max-env-steps", "64", "--eval-episodes", "4", "--success-threshold", "0",
                             "--bot-length-bound", "1000", "--env-workers", "1", "--quiet"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads((out / "policy.json").read_text())
    config = sidecar["config"]
    assert config["environment"] == "BabyAI-GoToRedBall-v0" and config["mission_mode"] == "redraw"
    assert config["suite_kind"] == "babyai" and config["goal"] == []
    assert config["ppo"]["eval_episodes"] == 4 and config["ppo"]["success_threshold"] == 0.0
    assert config["ppo"]["bot_length_bound"] == 1000.0
    assert config["spec"]["encoding"] == "babyai-view-onehot"
    curve = json.loads((out / "curve.json").read_text())
    assert curve and {"env_steps", "success_rate", "path_ratio"} <= set(curve[0])
    assert (out / "policy.safetensors").is_file() and not (out / "checkpoint.safetensors").exists()


def test_useful_group_shares_colour_or_object():
    suite = load_suite(SUITES[1])
    assert suite.useful_group("go to the red key", list(suite.base_tasks)) == [
        "go to the red ball", "go to the red box", "go to the green key", "go to the blue key", "go to the grey key"]
    assert load_suite(SUITES[0]).useful_group("open the blue door", ["go to the blue door", "open the red door",
                                                                    "go to the red ball"]) == [
        "go to the blue door", "open the red door"]


def test_pinned_goto_local_layouts_are_the_levels():
    """GoToLocal pinned to "go to the green key": exactly one green key, eight objects, all reachable, as the level's
    own layouts that pose this mission are (drawn here by redrawing the unpinned level)."""
    suite = load_suite(SUITES[0])
    env = make_env(suite, "go to the green key")
    for seed in range(10):
        env.reset(seed=seed)
        cells = env.unwrapped.grid.grid
        objs = [(o.color, o.type) for o in cells if o is not None and o.type in ("key", "ball", "box")]
        assert len(objs) == 8 and objs.count(("green", "key")) == 1
    env.close()


def test_suite_names_its_architecture_and_learning_rate(tmp_path):
    """A suite's ``hidden`` and ``lr`` are its policies' defaults (train-base and transfer); --hidden/--lr win; a bad
    value is one line."""
    anchor = load_suite(ROOT / "cliprl_cli" / "data" / "babyai_anchor.yaml")
    colour_object = load_suite(ROOT / "cliprl_cli" / "data" / "babyai_colour_object.yaml")
    assert (anchor.hidden, anchor.lr) == (256, 0.001) and (colour_object.hidden, colour_object.lr) == (None, None)
    assert resolve_hidden(anchor, None) == 256 and resolve_hidden(anchor, 32) == 32
    assert resolve_hidden(colour_object, None) == 64
    assert resolve_ppo(PPOConfig(), anchor).to_dict()["lr"] == 0.001
    assert resolve_ppo(PPOConfig(lr=0.01), anchor).to_dict()["lr"] == 0.01
    assert resolve_ppo(PPOConfig(), colour_object).to_dict()["lr"] == 0.0025 == PPOConfig().learning_rate
    assert resolve_ppo(TRANSFER_PPO, anchor).learning_rate == 0.001  # fine-tuning uses the suite's too
    for text, message in [("hidden: 0", "'hidden' must be an integer between 1 and 1024, got 0"),
                          ("hidden: 2.5", "'hidden' must be an integer"),
                          ("lr: -1", "'lr' must be a positive number, got -1"),
                          ("lr: fast", "'lr' must be a positive number, got 'fast'")]:
        path = tmp_path / "suite.yaml"
        path.write_text(f"name: bad\nkind: babyai\n{text}\ntasks:\n  go to the red ball: BabyAI-GoToObj-v0\n")
        with pytest.raises(CliprlError, match=message):
            load_suite(path)


@pytest.mark.parametrize("extra, hidden, lr", [([], 256, 0.001), (["--hidden", "16", "--lr", "0.01"], 16, 0.01)])
def test_train_base_records_the_suites_settings(tmp_path, extra, hidden, lr):
    out = tmp_path / "policy"
    result = subprocess.run([*CLIPRL, "train-base", "--tasks", "cliprl_cli/data/babyai_anchor.yaml", "--task",
                             "go to the blue box", "--out", str(out), "--num-envs", "4", "--num-steps", "8",
                             "--max-env-steps", "32", "--eval-episodes", "2", "--success-threshold", "0",
                             "--bot-length-bound", "1000", "--env-workers", "1", "--quiet", *extra],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "policy.json").read_text())["config"]
    assert config["spec"]["hidden"] == hidden and config["ppo"]["lr"] == lr


def test_load_policy_acts_on_minigrid_observations(tmp_path):
    """``cliprl_cli.load_policy(dir).act(obs)`` takes MiniGrid's own observation (single, list, vector batch) and
    picks the same action the trainer's encoding would."""
    import cliprl_cli
    from cliprl_cli.clip_rl.inference import BABYAI_ENCODING

    assert BABYAI_ENCODING == babyai.ENCODING
    out = tmp_path / "policy"
    result = subprocess.run([*CLIPRL, "train-base", "--tasks", str(SUITES[1]), "--task", "go to the red ball",
                             "--out", str(out), "--num-envs", "4", "--num-steps", "8", "--max-env-steps", "32",
                             "--eval-episodes", "2", "--success-threshold", "0", "--bot-length-bound", "1000",
                             "--env-workers", "1", "--hidden", "8", "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    policy = cliprl_cli.load_policy(out)
    env = make_env(load_suite(SUITES[1]), "go to the red ball")
    observations = [env.reset(seed=s)[0] for s in range(3)]
    logits = policy.net(torch.from_numpy(np.stack([encode_observation(o) for o in observations])))[0]
    expected = logits.argmax(1).numpy()
    assert [policy.act(o) for o in observations] == expected.tolist()
    assert policy.act(observations).tolist() == expected.tolist()
    batch = {"image": np.stack([o["image"] for o in observations]),
             "direction": np.array([o["direction"] for o in observations])}
    assert policy.act(batch).tolist() == expected.tolist()
    assert 0 <= policy.act(observations[0], deterministic=False, rng=np.random.default_rng(0)) < 7
    env.step(policy.act(observations[-1]))  # a valid MiniGrid action
    with pytest.raises(CliprlError, match="a BabyAI policy acts on MiniGrid observations"):
        policy.act([1, 2])
