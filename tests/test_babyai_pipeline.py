"""BabyAI end to end through the CLI: a tiny base library, an alignment on a drawn probe set, one transfer trial.

The base policies are trained under a rule loose enough to be met within a few thousand steps (one solved
evaluation seed of 32, any length): the test is of the pipeline's plumbing (the probe set stored and named, the level's
environments in fine-tuning, the records), not of learning."""

import json

import torch

from cliprl_cli.cli import main
from cliprl_cli.clip_rl.policy_repr import load_probes, tensor_sha256
from cliprl_cli.report.babyai import babyai_tables, collect_babyai, shared_weight

SUITE = """name: tiny
kind: babyai
tasks:
  go to the red ball: BabyAI-GoToObj-v0
  go to the blue box: BabyAI-GoToObj-v0
  go to the red box: BabyAI-GoToObj-v0
base_tasks: [go to the red ball, go to the blue box]
target: go to the red box
"""
LOOSE_RULE = ["--eval-episodes", "32", "--success-threshold", "0.03", "--bot-length-bound", "1000"]


def test_base_align_transfer_on_a_babyai_suite(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    base, heads = tmp_path / "base", tmp_path / "align"
    out = tmp_path / "artifacts" / "babyai" / "tiny" / "transfer" / "go-to-the-red-box"  # where the report looks
    assert main(["train-base", "--all", "--tasks", str(suite), "--out", str(base), "--max-env-steps", "4096",
                 "--num-envs", "16", "--env-workers", "1", *LOOSE_RULE, "-q"]) == 0
    for policy in sorted(base.glob("*/policy.json")):  # each passed the loose rule: one of 32 seeds solved
        metrics = json.loads(policy.read_text())["metrics"]
        assert metrics["converged"] and metrics["final_success_rate"] >= 1 / 32
    assert main(["align", "--base", str(base), "--tasks", str(suite), "--out", str(heads), "--policy-repr",
                 "behaviour", "--epochs", "30", "--probe-episodes", "2", "--probe-steps", "8", "-q"]) == 0
    sidecar = json.loads((heads / "heads.json").read_text())
    probe_info = sidecar["probe_set"]
    assert probe_info["kind"] == "drawn" and probe_info["planner"] is True
    per_task = probe_info["tasks"]
    assert sorted(per_task) == ["go to the blue box", "go to the red ball"]
    assert all(0 < c["random"] <= 2 * 8 and 0 < c["planner"] <= 2 * 8 for c in per_task.values())
    assert probe_info["count"] == sum(c["random"] + c["planner"] for c in per_task.values())
    probes = load_probes(heads)
    assert probes.observations.shape == (probe_info["count"], 984)
    assert tensor_sha256(probes.observations) == probe_info["sha256"]
    # every probe is a view: 49 cells, each with one object, one colour and one state, and one direction
    assert torch.equal(probes.observations.sum(dim=1), torch.full((probe_info["count"],), 49 * 3 + 1.0))
    assert sidecar["weight_dim"] == probe_info["count"] * 7  # MiniGrid's seven actions per probe

    assert main(["transfer", "--target", "go to the red box", "--base", str(base), "--align", str(heads),
                 "--tasks", str(suite), "--methods", "scratch,clip,oracle-group", "--trials", "1", "--num-envs", "8",
                 "--max-env-steps", "2048", "--start-entropy", "1.9", *LOOSE_RULE, "-q"] + ["--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    config = results["config"]
    assert config["probe_set_sha256"] == probe_info["sha256"]
    assert (config["environment"], config["mission_mode"], config["goal"]) == ("BabyAI-GoToObj-v0", "pinned", [])
    assert config["ppo"]["eval_episodes"] == 32 and config["ppo"]["num_envs"] == 8
    assert [(t["method"], t["trial"]) for t in results["trials"]] == [("scratch", 0), ("clip", 0), ("oracle-group", 0)]
    # both sources share an attribute with "the red box" (red ball: the colour, blue box: the object)
    assert sorted(config["useful_group"]) == ["go to the blue box", "go to the red ball"]
    assert results["trials"][2]["weights"] == {"go to the blue box": 0.5, "go to the red ball": 0.5}
    clip_weights = results["trials"][1]["weights"]
    assert abs(sum(clip_weights.values()) - 1.0) < 1e-6
    for trial in results["trials"]:
        assert trial["censored"] or trial["env_steps"] <= 2048
    # entropy-matched starts, measured on the first views of the rule's 32 evaluation seeds (ln 7 = 1.946 is uniform)
    clip_trial = results["trials"][1]
    assert clip_trial["start_temperature"] >= 1.0 and clip_trial["start_entropy"] >= 1.9 - 1e-4
    assert all(point["entropy"] is not None for point in json.loads((out / "curves.json").read_text())["clip"][0])

    # the report's section reads the run back, and a target the params expect but nobody ran is missing
    data = collect_babyai(tmp_path / "artifacts", {"babyai": {"suite": "tiny",
                                                              "targets": ["go-to-the-red-box", "go-to-the-red-key"]}})
    assert [r.target for r in data.runs] == ["go to the red box"], data.notes
    assert data.missing == ["BabyAI: babyai/tiny/transfer/go-to-the-red-key/results.json "
                            "(dvc stage babyai_transfer@go-to-the-red-key)"]
    rows = babyai_tables(data)[0].rows
    assert [row[2] for row in rows] == ["scratch", "clip", "oracle-group"]
    assert rows[0][8:] == ["-", "-"]  # scratch averages nothing
    assert rows[1][8:] == [f"{clip_weights['go to the red ball']:.3f}", f"{clip_weights['go to the blue box']:.3f}"]


def test_shared_weight_sums_the_sources_that_name_the_target_s_colour_or_object():
    weights = {"go to the red ball": 0.5, "go to the red box": 0.2, "go to the blue key": 0.3}
    assert shared_weight(weights, "go to the red key", -2) == 0.5 + 0.2   # red
    assert shared_weight(weights, "go to the red key", -1) == 0.3         # key
    assert shared_weight(weights, "open the green door", -1) == 0.0
    assert shared_weight(None, "go to the red key", -2) is None
