import pytest

from cliprl_cli.errors import CliprlError
from cliprl_cli.clip_rl.tasks import load_suite, slug


def test_default_suite_matches_the_paper():
    suite = load_suite()
    assert suite.goal("top right first", 10) == (0, 9)
    assert suite.goal("top right second", 10) == (0, 8)
    assert suite.goal("top left third", 10) == (0, 7)
    assert suite.goal("top left third", 8) == (0, 5)
    assert suite.target == "top left third" and len(suite.base_tasks) == 4
    for size in (8, 10, 15, 25):
        assert len(set(suite.check_size(size).values())) == 5


def test_unknown_task_lists_known():
    with pytest.raises(CliprlError, match="known tasks: 'top left first'"):
        load_suite().goal("bottom", 10)


def test_goal_outside_grid_and_duplicate_goals(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("tasks:\n  far: [0, 12]\n")
    with pytest.raises(CliprlError, match="outside a 10x10 grid"):
        load_suite(path).check_size(10)
    path.write_text("tasks:\n  a: [0, -1]\n  b: [0, 3]\n")
    with pytest.raises(CliprlError, match="share the goal"):
        load_suite(path).check_size(4)
    load_suite(path).check_size(5)


def test_malformed_suites(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("tasks: [1, 2]\n")
    with pytest.raises(CliprlError, match="mapping"):
        load_suite(path)
    path.write_text("tasks:\n  a: [0]\n")
    with pytest.raises(CliprlError, match=r"\[row, col\]"):
        load_suite(path)
    with pytest.raises(CliprlError, match="not found"):
        load_suite(tmp_path / "missing.yaml")


def test_slug():
    assert slug("top left first") == "top-left-first"
