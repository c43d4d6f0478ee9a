"""Our FuRL math against numbers the FuRL authors' own JAX code produced (``tests/data/authors_reference.json``,
written by ``scripts/authors_reference.py`` from a checkout of fuyw/FuRL whose commit the file records).

The inputs are not stored: the script's :func:`reference_inputs` expands them from a seed with numpy, and the
test expands the same numbers (their checksums are compared first). Tolerances are relative 1e-5 of each array's
scale: both sides compute in float32, in a different order.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cliprl_cli.adam import Adam
from cliprl_cli.furl.rewards import (Heads, aligned_reward, goal_ranking_mask, negative_alignment_loss,
                                     positive_alignment_loss, ranking_loss)
from cliprl_cli.furl.sac import SAC

ROOT = Path(__file__).resolve().parents[1]
RTOL = 1e-5


def _load_script():
    spec = importlib.util.spec_from_file_location("authors_reference", ROOT / "scripts" / "authors_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _load_script()
REF = json.loads((ROOT / "tests" / "data" / "authors_reference.json").read_text())
INP = S.reference_inputs()


def t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def check_summary(name: str, ours, summary: dict, rtol: float = RTOL) -> None:
    """``ours`` (an array in the authors' layout) against the script's summary of theirs."""
    a = np.asarray(ours, dtype=np.float64)
    assert list(a.shape) == summary["shape"], name
    if "values" in summary:
        ref = np.asarray(summary["values"]).reshape(a.shape)
        scale = max(np.abs(ref).max(), 1e-30)
        np.testing.assert_allclose(a, ref, rtol=rtol, atol=rtol * scale, err_msg=name)
        return
    norm = float(np.sqrt((a * a).sum()))
    assert norm == pytest.approx(summary["norm"], rel=rtol), name
    p = S.probe(name, a.shape)
    assert abs(float((a * p).sum()) - summary["dot"]) <= rtol * summary["norm"] * np.sqrt((p * p).sum()), name
    first = np.asarray(summary["first"])
    np.testing.assert_allclose(a.ravel()[:len(first)], first, rtol=rtol, atol=rtol * summary["norm"] / np.sqrt(a.size),
                               err_msg=name)


def check_tree(ours: dict, summaries: dict, rtol: float = RTOL) -> None:
    assert sorted(ours) == sorted(summaries)
    for name, value in ours.items():
        check_summary(name, value, summaries[name], rtol)


# ---- layouts: the authors' flax trees <-> our torch modules


def heads_from(params: dict) -> Heads:
    heads = Heads(S.EMB_DIM, S.EMB_DIM, S.HEAD_HIDDEN, S.HEAD_OUT)
    with torch.no_grad():
        for enc, seq in (("text_encoder", heads.text), ("image_encoder", heads.image)):
            for i, layer in (("0", seq[0]), ("1", seq[2])):
                layer.weight.copy_(t(params[enc][f"Dense_{i}"]["kernel"]).T)
                layer.bias.copy_(t(params[enc][f"Dense_{i}"]["bias"]))
    return heads


def heads_tree(heads: Heads, grad: bool = False) -> dict:
    """``{"text_encoder/Dense_0/kernel": array, ...}`` of the heads' parameters (or their gradients)."""
    out = {}
    for enc, seq in (("text_encoder", heads.text), ("image_encoder", heads.image)):
        for i, layer in (("0", seq[0]), ("1", seq[2])):
            w, b = (layer.weight.grad, layer.bias.grad) if grad else (layer.weight, layer.bias)
            out[f"{enc}/Dense_{i}/kernel"] = w.detach().numpy().T
            out[f"{enc}/Dense_{i}/bias"] = b.detach().numpy()
    return out


def test_the_inputs_are_the_ones_the_authors_code_saw():
    ours = S.input_checksums(INP)
    assert sorted(ours) == sorted(REF["inputs_checksum"])
    for name, value in REF["inputs_checksum"].items():
        assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    assert len(REF["commit"]) == 40 and REF["source"] == "fuyw/FuRL"


def test_aligned_reward_matches_theirs():
    heads = heads_from(INP["heads"])
    with torch.no_grad():
        r = aligned_reward(heads, t(INP["text"]), t(INP["reward_images"]))
    np.testing.assert_allclose(r.numpy(), REF["aligned_reward"], rtol=RTOL, atol=RTOL)


def test_eq4_gradient_matches_theirs_and_its_value_differs_by_the_margin_term():
    """Their Eq. 4 keeps the margin in the mask only (``mask * (r_low - r_high)``), ours inside the hinge: the
    gradients agree; the values differ by ``margin * (pairs with a nonzero hinge) / B``, which the test checks."""
    heads = heads_from(INP["heads"])
    text = t(INP["text"])
    e4 = INP["eq4"]
    r_pos, r_neg, r_lag = (aligned_reward(heads, text, t(e4[k])) for k in ("pos", "neg", "lag"))
    loss, pos_neg, pos_pos = positive_alignment_loss(r_pos, r_neg, r_lag, S.MARGIN)
    loss.backward()
    ref = REF["eq4"]
    neg_num = int((ranking_loss(r_pos, r_neg, S.MARGIN) > 0).sum())
    pos_num = int((ranking_loss(r_pos, r_lag, S.MARGIN) > 0).sum())
    assert (neg_num, pos_num) == (ref["neg_num"], ref["pos_num"])
    assert float(pos_neg.detach()) - S.MARGIN * neg_num / S.BATCH == pytest.approx(ref["pos_neg"], rel=RTOL, abs=1e-7)
    assert float(pos_pos.detach()) - S.MARGIN * pos_num / S.BATCH == pytest.approx(ref["pos_pos"], rel=RTOL, abs=1e-7)
    check_tree(heads_tree(heads, grad=True), ref["grad"])


def eq5(reduction: str):
    heads = heads_from(INP["heads"])
    idx = np.asarray(REF["eq5"]["index"])
    mask = goal_ranking_mask(torch.as_tensor(INP["eq5"]["dist"][idx]), S.L2_MARGIN)
    r = aligned_reward(heads, t(INP["text"]), t(INP["eq5"]["emb"][idx]))
    loss = negative_alignment_loss(r, mask, S.MARGIN, reduction=reduction)
    loss.backward()
    return heads, mask, r, loss.detach()


def test_eq5_with_the_authors_reduction_matches_theirs():
    heads, mask, r, loss = eq5("authors")
    ref = REF["eq5"]
    assert int(mask.sum()) == ref["kept_pairs"]
    np.testing.assert_allclose(r.detach().numpy(), ref["rewards"], rtol=RTOL, atol=RTOL)
    assert float(loss) == pytest.approx(ref["loss"], rel=RTOL)
    check_tree(heads_tree(heads, grad=True), ref["grad"])


def test_eq5_averaged_over_pairs_fails_the_comparison_by_k_over_b():
    heads, mask, _, loss = eq5("pairs")
    ref = REF["eq5"]
    with pytest.raises(AssertionError):
        assert float(loss) == pytest.approx(ref["loss"], rel=RTOL)
    with pytest.raises(AssertionError):
        check_tree(heads_tree(heads, grad=True), ref["grad"])
    k_over_b = ref["kept_pairs"] / S.BATCH
    assert k_over_b > 10  # 1,442 kept pairs of a batch of 64 here
    assert float(loss) * k_over_b == pytest.approx(ref["loss"], rel=RTOL)


def test_ten_alternating_eq4_eq5_adam_steps_on_one_optimiser_match_theirs():
    heads = heads_from(INP["heads"])
    opt = Adam(heads.parameters(), lr=S.LR, fused=True)
    text = t(INP["text"])
    losses = []
    for step in INP["alternating"]:
        if step["eq"] == 4:
            r_pos, r_neg, r_lag = (aligned_reward(heads, text, t(step[k])) for k in ("pos", "neg", "lag"))
            loss, pos_neg, pos_pos = positive_alignment_loss(r_pos, r_neg, r_lag, S.MARGIN)
            kept = (ranking_loss(r_pos, r_neg, S.MARGIN) > 0).sum() + (ranking_loss(r_pos, r_lag, S.MARGIN) > 0).sum()
            # their value: the margin in the mask only
            losses.append(float(loss.detach()) - S.MARGIN * int(kept) / S.BATCH)
        else:
            mask = goal_ranking_mask(torch.as_tensor(step["dist"]), S.L2_MARGIN)
            loss = negative_alignment_loss(aligned_reward(heads, text, t(step["emb"])), mask, S.MARGIN,
                                           reduction="authors")
            losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(losses, REF["alternating"]["losses"], rtol=RTOL, atol=1e-7)
    check_tree(heads_tree(heads), REF["alternating"]["params"])


# ---- one SAC update in the authors' style


def sac_from(p: dict) -> SAC:
    agent = SAC(S.SAC_OBS, S.SAC_ACT, device=torch.device("cpu"), hidden=S.SAC_HIDDEN, lr=S.LR, gamma=S.SAC_GAMMA,
                tau=S.SAC_TAU, style="authors")
    a = p["actor"]
    with torch.no_grad():
        agent.actor.net[0].weight.copy_(t(a["net"]["Dense_0"]["kernel"]).T)
        agent.actor.net[0].bias.copy_(t(a["net"]["Dense_0"]["bias"]))
        agent.actor.net[2].weight.copy_(t(a["net"]["Dense_1"]["kernel"]).T)
        agent.actor.net[2].bias.copy_(t(a["net"]["Dense_1"]["bias"]))
        # their separate mean and std layers are the two halves of our last layer
        agent.actor.net[4].weight.copy_(torch.cat([t(a["mu_layer"]["kernel"]).T, t(a["std_layer"]["kernel"]).T]))
        agent.actor.net[4].bias.copy_(torch.cat([t(a["mu_layer"]["bias"]), t(a["std_layer"]["bias"])]))
        for module, tree in ((agent.critic, p["critic"]), (agent.critic_target, p["critic_target"])):
            c = tree["VmapCritic_0"]
            layers = (c["net"]["Dense_0"], c["net"]["Dense_1"], c["out_layer"])
            for i, layer in enumerate(layers):
                module.weights[i].copy_(t(layer["kernel"]))
                module.biases[i].copy_(t(layer["bias"])[:, None, :])
        agent.log_alpha.fill_(float(p["log_alpha"]))
    return agent


def sac_trees(agent: SAC) -> dict:
    w = agent.actor.net[4].weight.detach().numpy()
    b = agent.actor.net[4].bias.detach().numpy()
    act = S.SAC_ACT
    actor = {"net/Dense_0/kernel": agent.actor.net[0].weight.detach().numpy().T,
             "net/Dense_0/bias": agent.actor.net[0].bias.detach().numpy(),
             "net/Dense_1/kernel": agent.actor.net[2].weight.detach().numpy().T,
             "net/Dense_1/bias": agent.actor.net[2].bias.detach().numpy(),
             "mu_layer/kernel": w[:act].T, "mu_layer/bias": b[:act],
             "std_layer/kernel": w[act:].T, "std_layer/bias": b[act:]}

    def critic(module):
        names = ("VmapCritic_0/net/Dense_0", "VmapCritic_0/net/Dense_1", "VmapCritic_0/out_layer")
        out = {}
        for name, wt, bs in zip(names, module.weights, module.biases):
            out[f"{name}/kernel"] = wt.detach().numpy()
            out[f"{name}/bias"] = bs.detach().numpy()[:, 0, :]
        return out
    return {"actor": actor, "critic": critic(agent.critic), "critic_target": critic(agent.critic_target)}


@pytest.mark.parametrize("path", ["autograd", "fast"])
def test_one_sac_update_in_the_authors_style_matches_theirs(path, monkeypatch):
    ref, s = REF["sac"], INP["sac"]
    agent = sac_from(s["params"])
    # their noise: ours draws it for s' first, then for s (in one call on the fast path, two on the other)
    noise = torch.cat([t(ref["eps_next"]), t(ref["eps_obs"])])
    drawn = []

    def their_noise(like):
        start = sum(drawn)
        drawn.append(like.shape[0])
        return noise[start:start + like.shape[0]].to(like.dtype).clone()
    monkeypatch.setattr(torch, "randn_like", their_noise)
    args = (t(s["obs"]), t(s["act"]), t(s["reward"]), t(s["next_obs"]), t(s["discount"]))
    stats = agent.update_autograd(*args) if path == "autograd" else agent.update(*args)
    assert sum(drawn) == 2 * S.SAC_BATCH
    assert float(stats["critic_loss"]) == pytest.approx(ref["critic_loss"], rel=RTOL)
    assert float(stats["actor_loss"]) == pytest.approx(ref["actor_loss"], rel=RTOL)
    assert float(stats["alpha"]) == pytest.approx(ref["alpha"], rel=RTOL)
    assert float(stats["entropy"]) == pytest.approx(-ref["logp"], rel=RTOL)
    assert float(agent.log_alpha.detach()) == pytest.approx(ref["log_alpha"], rel=RTOL)
    trees = sac_trees(agent)
    for name in ("actor", "critic", "critic_target"):
        check_tree(trees[name], ref[name])


# ---- their frame preprocessing and LIV (CLIP RN50) embeddings, on RANDOM seeded weights


@pytest.fixture(scope="module")
def liv_on_seeded_weights(tmp_path_factory):
    """Our LIV loader on the seeded RANDOM RN50 weights the script gave their LIV, in LIV's model.pt layout."""
    import open_clip

    from cliprl_cli.furl import vlm as V

    if "liv" not in REF:
        pytest.skip("the reference file was written without --liv")
    net = open_clip.create_model(V.LIV_ARCH, pretrained=None)
    shapes = {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in net.state_dict().items()}
    weights = S.rn50_weights(shapes)
    assert len(weights) == REF["liv"]["weights_keys"]
    total = sum(float(np.asarray(v, np.float64).sum()) for v in weights.values())
    assert total == pytest.approx(REF["liv"]["weights_checksum"], rel=1e-12)
    path = tmp_path_factory.mktemp("liv") / "model.pt"
    torch.save({"liv": {V.LIV_PREFIX + k: torch.from_numpy(v) for k, v in weights.items()}}, path)
    return V.load_vlm("liv", checkpoint=path)


def test_their_frame_preprocessing_matches_ours(liv_on_seeded_weights):
    vlm = liv_on_seeded_weights
    frame = S.liv_frame()
    assert int(frame.astype(np.int64).sum()) == REF["liv"]["frame_checksum"]
    x = vlm.preprocess(frame[None])
    check_summary("liv/preprocessed", x.numpy(), REF["liv"]["preprocessed"])
    with pytest.raises(AssertionError):  # the channels in RGB order are not what their LIV sees
        check_summary("liv/preprocessed", x[:, [2, 1, 0]].numpy(), REF["liv"]["preprocessed"])


def test_their_liv_embeddings_match_ours(liv_on_seeded_weights):
    """Image and text embeddings through their CLIP RN50 code and ours (open_clip's RN50-quickgelu), same weights."""
    vlm = liv_on_seeded_weights
    ref = REF["liv"]
    assert vlm.prompt("Open a drawer.") == ref["instruction"]
    with torch.no_grad():
        image = vlm.model.encode_image(vlm.preprocess(S.liv_frame()[None])).numpy()
    check_summary("liv/image_embedding", image, ref["image_embedding"])
    text = vlm.encode_text(vlm.prompt("Open a drawer.")).numpy()[None]
    check_summary("liv/text_embedding", text, ref["text_embedding"])
    # what the replay buffer stores: the same embedding in float16
    stored = vlm.encode_images(S.liv_frame()[None]).float().numpy()
    check_summary("liv/image_embedding", stored, ref["image_embedding"], rtol=2e-3)
