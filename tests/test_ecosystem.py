"""gymnasium, Python and CLI conventions (issue 16): env registration on `import cliprl_cli`, `rgb_array` rendering,
`max_episode_steps` on the specs, `load_policy(...).act`, `py.typed`, `python -m cliprl_cli`, shell completion."""

import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

import cliprl_cli
from cliprl_cli.store.artifacts import save_artifact
from cliprl_cli.cli import main
from cliprl_cli.errors import CliprlError
from cliprl_cli.clip_rl.gridworld import CELL_PX, COLOURS, GridGoalEnv, draw_grid
from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


# --------------------------------------------------------------------------------------------------- registration
@pytest.mark.parametrize("order", ["cliprl_cli first", "gymnasium first"])
def test_import_cliprl_cli_registers_every_env_without_heavy_imports(order):
    imports = "import cliprl_cli, sys; light = 'gymnasium' not in sys.modules; import gymnasium"
    if order == "gymnasium first":
        imports = "import gymnasium, sys; light = True; import cliprl_cli"
    code = (f"{imports}\n"
            "ids = sorted(i for i in gymnasium.registry if i.startswith('cliprl/'))\n"
            "assert ids == sorted(cliprl_cli.ENV_IDS), ids\n"
            "assert light and 'torch' not in sys.modules, 'registration imported something heavy'\n"
            "env = gymnasium.make('cliprl/GridGoal-v0', size=10, task='top left third')\n"
            "assert env.unwrapped.goal == (0, 7)\n")
    result = _python(code)
    assert result.returncode == 0, result.stderr


def test_import_cliprl_cli_alone_imports_neither_gymnasium_nor_numpy():
    out = _python("import sys, cliprl_cli; print([m for m in ('gymnasium', 'numpy', 'torch') if m in sys.modules])")
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_module_prefixed_id_imports_the_package_on_demand():
    result = _python("import gymnasium; env = gymnasium.make('cliprl_cli:cliprl/GridGoal-8x8-v0'); "
                     "print(env.spec.max_episode_steps)")
    assert result.returncode == 0 and result.stdout.strip() == "32", result.stderr


@pytest.mark.parametrize("n", [8, 10, 15, 25])
def test_per_size_specs_carry_the_envs_own_episode_cap(n):
    env = gymnasium.make(f"cliprl/GridGoal-{n}x{n}-v0")
    assert env.spec.max_episode_steps == 4 * n == env.unwrapped.max_steps
    assert env.unwrapped.size == n


def test_time_limit_and_env_cap_agree():
    env = gymnasium.make("cliprl/GridGoal-8x8-v0", task="top left first")
    env.reset(seed=0, options={"start": (7, 7)})
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(1)  # down: stays in the bottom row, never reaches (0, 0)
        steps += 1
        assert not terminated
    assert steps == 32


def test_generic_id_keeps_the_cap_of_its_size():
    # No fixed max_episode_steps on the generic id: its size is a make() argument, the env caps at 4 * size.
    env = gymnasium.make("cliprl/GridGoal-v0", size=25)
    assert env.spec.max_episode_steps is None and env.unwrapped.max_steps == 100


# ------------------------------------------------------------------------------------------------------ rendering
def test_rgb_array_draws_grid_goal_and_agent():
    env = gymnasium.make("cliprl/GridGoal-v0", size=6, task="top left first", render_mode="rgb_array")
    env.reset(seed=0, options={"start": (3, 4)})
    frame = env.render()
    assert frame.shape == (6 * CELL_PX, 6 * CELL_PX, 3) and frame.dtype == np.uint8
    centre = CELL_PX // 2

    def at(r, c):
        return tuple(frame[r * CELL_PX + centre, c * CELL_PX + centre])

    assert at(0, 0) == COLOURS["goal"] and at(3, 4) == COLOURS["agent"] and at(5, 5) == COLOURS["floor"]
    assert tuple(frame[CELL_PX, centre]) == COLOURS["line"]  # the line between row 0 and row 1
    env.step(0)  # up: the agent moves to (2, 4)
    frame = env.render()
    assert tuple(frame[2 * CELL_PX + centre, 4 * CELL_PX + centre]) == COLOURS["agent"]
    assert tuple(frame[3 * CELL_PX + centre, 4 * CELL_PX + centre]) == COLOURS["floor"]


def test_agent_on_the_goal_is_drawn_over_it():
    img = draw_grid(3, (1, 1), (1, 1))
    c = CELL_PX + CELL_PX // 2
    assert tuple(img[c, c]) == COLOURS["agent"] and tuple(img[CELL_PX + 2, CELL_PX + 2]) == COLOURS["goal"]


def test_render_collection_records_every_frame_of_an_episode():
    env = gymnasium.wrappers.RenderCollection(
        gymnasium.make("cliprl/GridGoal-8x8-v0", task="top left first", render_mode="rgb_array"))
    env.reset(seed=1, options={"start": (0, 3)})
    for _ in range(3):
        env.step(2)  # left, left, left: reaches (0, 0)
    frames = env.render()
    assert len(frames) == 4 and all(f.shape == (128, 128, 3) for f in frames)
    assert not np.array_equal(frames[0], frames[-1])


def test_record_video_writes_a_file(tmp_path):
    pytest.importorskip("moviepy", reason="gymnasium's RecordVideo needs moviepy, which is not installed here")
    env = gymnasium.wrappers.RecordVideo(
        gymnasium.make("cliprl/GridGoal-8x8-v0", render_mode="rgb_array"), str(tmp_path / "videos"),
        disable_logger=True)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 1000


def test_unknown_render_mode_is_refused():
    with pytest.raises(ValueError, match="render_mode"):
        GridGoalEnv(size=4, render_mode="human")


# --------------------------------------------------------------------------------------------------- load_policy
@pytest.fixture(scope="module")
def trained_policy(tmp_path_factory):
    out = tmp_path_factory.mktemp("policy") / "top-left-first"
    assert main(["train-base", "--task", "top left first", "--grid-size", "5", "--seed", "0", "--out", str(out),
                 "--quiet"]) == 0
    return out


def test_load_policy_acts_on_the_envs_observation_and_reaches_the_goal_from_every_start(trained_policy):
    policy = cliprl_cli.load_policy(trained_policy)
    assert (policy.instruction, policy.goal, policy.grid_size) == ("top left first", (0, 0), 5)
    env = gymnasium.make("cliprl/GridGoal-v0", size=5, task=policy.instruction)
    for start in [(r, c) for r in range(5) for c in range(5) if (r, c) != (0, 0)]:
        obs, _ = env.reset(options={"start": start})
        for _ in range(env.unwrapped.max_steps):
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
            if terminated or truncated:
                break
        assert terminated and reward == 1.0, f"start {start} did not reach the goal"


def test_act_on_a_batch_equals_act_on_each(trained_policy):
    policy = cliprl_cli.load_policy(trained_policy / "policy.safetensors")
    cells = np.array([[r, c] for r in range(5) for c in range(5)])
    batch = policy.act(cells)
    assert batch.dtype == np.int64 and batch.shape == (25,)
    assert batch.tolist() == [policy.act(cell) for cell in cells]
    assert isinstance(policy.act(cells[3]), int)
    probs = policy.action_probabilities(cells)
    assert probs.shape == (25, 4) and np.allclose(probs.sum(axis=1), 1)
    assert (probs.argmax(axis=1) == batch).all()


def _policy_with_bias(path: Path, action: int, size: int = 4) -> Path:
    """A policy artifact whose logits ignore the input (zero weights) and prefer ``action`` (its bias)."""
    spec = PolicySpec(grid_size=size)
    net = PolicyNet(spec)
    with torch.no_grad():
        net.logits.weight.zero_()
        net.logits.bias.copy_(torch.nn.functional.one_hot(torch.tensor(action), 4).float() * 5)
    file = path / "policy.safetensors"
    path.mkdir(parents=True, exist_ok=True)
    save_artifact(file, dict(net.state_dict()), kind="base-policy", config={}, seed=0,
                  extra={"instruction": "top left first", "goal": [0, 0], "spec": spec.to_dict()})
    return path


def test_act_greedy_and_sampled(tmp_path):
    policy = cliprl_cli.load_policy(_policy_with_bias(tmp_path / "p", action=3))
    assert policy.act(np.array([2, 1])) == 3
    rng = np.random.default_rng(0)
    draws = policy.act(np.tile([2, 1], (4000, 1)), deterministic=False, rng=rng)
    # softmax of (0, 0, 0, 5): p(3) = e^5 / (3 + e^5) = 0.9802
    assert abs((draws == 3).mean() - 0.9802) < 0.01


@pytest.mark.parametrize("obs, message", [
    (np.array([4, 0]), "outside this policy's 4x4 grid"),
    (np.array([0.5, 1.0]), "integer \\[row, col\\]"),
    (np.array([1, 2, 3]), "integer \\[row, col\\]"),
])
def test_act_rejects_observations_of_another_env(tmp_path, obs, message):
    policy = cliprl_cli.load_policy(_policy_with_bias(tmp_path / "p", action=0))
    with pytest.raises(CliprlError, match=message):
        policy.act(obs)


def test_load_policy_names_a_missing_artifact(tmp_path):
    with pytest.raises(CliprlError, match="artifact not found"):
        cliprl_cli.load_policy(tmp_path / "nothing")


def test_package_ships_py_typed():
    assert (Path(cliprl_cli.__file__).parent / "py.typed").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    assert '"py.typed"' in text


def test_license_is_the_mit_text_pyproject_names():
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the cliprl authors" in text


# ---------------------------------------------------------------------------------------------------------- CLI
def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "cliprl_cli", "--version"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == f"cliprl {cliprl_cli.__version__}"
    result = subprocess.run([sys.executable, "-m", "cliprl_cli", "transfer", "--bogus"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 2 and result.stderr.startswith("error: No such option: --bogus")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "cliprl_cli", "--help"], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0 and "train-base" in result.stdout and "python -m cliprl_cli" in result.stdout


def test_install_completion_writes_a_bash_completion_script(tmp_path):
    # Typer detects the shell from the process tree (shellingham), which fails under some CI runners ("Shell None
    # is not supported"); with detection off, --install-completion takes the shell by name, as a user can type it.
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash",
           "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = subprocess.run([sys.executable, "-m", "cliprl_cli", "--install-completion", "bash"],
                            capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert "completion installed" in result.stdout
    scripts = list((tmp_path / ".bash_completions").glob("*.sh"))
    assert scripts and "complete -o default -F" in scripts[0].read_text()
    assert str(scripts[0]) in (tmp_path / ".bashrc").read_text()


def test_completion_completes_commands_and_enum_choices():
    script = Path(sys.executable).parent / "cliprl"  # what the shell's completion function calls
    if not script.is_file():
        pytest.skip(f"no installed cliprl console script beside {sys.executable}")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_CLIPRL_COMPLETE": "complete_bash"}
        result = subprocess.run([str(script)], capture_output=True, text=True, cwd=ROOT, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    assert complete("cliprl tr", 1) == ["train-base", "transfer"]
    assert complete("cliprl align --head ", 3) == ["linear", "mlp"]


def test_help_lists_completion_and_errors_stay_one_line(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--install-completion" in out and "Exit codes" in out
    assert main(["align", "--head", "cnn"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
