"""`cliprl align --policy-repr behaviour` (issue 13): a policy represented by its action probabilities on every
state, so two policies that act alike look alike whatever their weights."""

import json

import torch

from cliprl_cli.clip_rl.align import Heads, Library
from cliprl_cli.clip_rl.clip_math import cosine_to_sources, standardize
from cliprl_cli.clip_rl.config import AlignConfig
from cliprl_cli.clip_rl.policy import PolicyNet, PolicySpec, behaviour_vector, flatten_params, probe_states


def _permuted_twin(spec: PolicySpec, seed: int) -> tuple[dict, dict]:
    """A random policy and a twin with its hidden units permuted in every layer and its value head replaced:
    other weights, the same function from states to action logits."""
    torch.manual_seed(seed)
    a = {k: v.clone() for k, v in PolicyNet(spec).state_dict().items()}
    b = {k: v.clone() for k, v in a.items()}
    perms = [torch.randperm(spec.hidden) for _ in range(spec.layers)]
    for i, p in enumerate(perms):
        w, bias = f"trunk.{2 * i}.weight", f"trunk.{2 * i}.bias"
        b[w] = b[w][p]                      # output units permuted
        b[bias] = b[bias][p]
        if i > 0:
            b[w] = b[w][:, perms[i - 1]]    # and the inputs from the previous, permuted layer
    b["logits.weight"] = b["logits.weight"][:, perms[-1]]
    b["value.weight"] = torch.randn_like(b["value.weight"])  # the critic does not act
    b["value.bias"] = torch.tensor([3.0])
    return a, b


def test_behaviour_of_two_policies_that_act_alike_has_similarity_1():
    spec = PolicySpec(grid_size=6, hidden=16, layers=2)
    a, b = _permuted_twin(spec, seed=0)
    assert not torch.allclose(flatten_params(a, spec), flatten_params(b, spec))
    weights_cos = cosine_to_sources(flatten_params(a, spec), flatten_params(b, spec).unsqueeze(0)).item()
    assert weights_cos < 0.9  # far apart as weights ...
    va, vb = behaviour_vector(a, spec), behaviour_vector(b, spec)
    assert va.shape == (6 * 6 * 4,)
    assert cosine_to_sources(va, vb.unsqueeze(0)).item() > 1 - 1e-6  # ... identical as behaviour
    assert torch.allclose(va.reshape(-1, 4).sum(dim=1), torch.ones(36))  # a distribution per state


def test_probe_set_is_every_cell_in_row_major_order():
    spec = PolicySpec(grid_size=3)
    probes = probe_states(spec)
    assert probes.shape == (9, 6)
    assert probes[5].tolist() == [0, 1, 0, 0, 0, 1]  # cell 5 = row 1, column 2


def test_behaviour_twins_project_to_the_same_point_after_the_heads():
    spec = PolicySpec(grid_size=6, hidden=16, layers=2)
    a, b = _permuted_twin(spec, seed=1)
    torch.manual_seed(2)
    c = PolicyNet(spec).state_dict()
    library = Library(instructions=["a", "b", "c"], params=[a, b, dict(c)], spec=spec, paths=[])
    z, _, _ = standardize(library.representation("behaviour"))
    heads = Heads(AlignConfig(), text_dim=4, weight_dim=z.shape[1])
    projected = heads.project_policy(z)
    assert (projected[0] @ projected[1]).item() > 1 - 1e-5
    z_w, _, _ = standardize(library.representation("weights"))
    projected_w = Heads(AlignConfig(), text_dim=4, weight_dim=z_w.shape[1]).project_policy(z_w)
    assert (projected_w[0] @ projected_w[1]).item() < 0.99


def test_align_records_the_representation(tmp_path):
    from cliprl_cli.cli import main
    from cliprl_cli.clip_rl.tasks import slug

    suite = tmp_path / "s.yaml"
    suite.write_text("name: two\ntasks:\n  top left first: [0, 0]\n  bottom right first: [-1, -1]\n"
                     "base_tasks: [top left first, bottom right first]\n")
    assert main(["train-base", "--all", "--grid-size", "4", "--tasks", str(suite), "--out", str(tmp_path / "b"),
                 "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted([slug("top left first"),
                                                                         slug("bottom right first")])
    assert main(["align", "--base", str(tmp_path / "b"), "--tasks", str(suite), "--policy-repr", "behaviour",
                 "--epochs", "20", "--out", str(tmp_path / "a"), "-q"]) == 0
    sidecar = json.loads((tmp_path / "a" / "heads.json").read_text())
    assert sidecar["config"]["policy_repr"] == "behaviour"
    assert sidecar["weight_dim"] == 4 * 4 * 4  # action probabilities on all 16 cells


def test_text_embeddings_do_not_depend_on_batch_or_threads(tmp_path, monkeypatch):
    """tau(l) bit for bit: the same instruction embedded alone, beside a long one, and under 2 threads."""
    from cliprl_cli.clip_rl import textenc

    target = "top left third"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("CLIPRL_CACHE", str(tmp_path / "a"))
        alone = textenc.embed_instructions([target])
        torch.set_num_threads(2)  # 1 vs 2 threads differ in the last bits unless the encoder pins its own
        monkeypatch.setenv("CLIPRL_CACHE", str(tmp_path / "b"))
        mixed = textenc.embed_instructions(["a much longer instruction that pads every batch it is part of", target])
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(alone[0], mixed[1])
