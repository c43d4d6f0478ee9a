"""LIV from a file in exactly LIV's layout, QuickGELU for OpenAI weights, and the authors' preprocessing.

No LIV weights can be downloaded here: the tests write LIV's layout from RANDOM weights. OpenAI's CLIP RN50 state
dict is what open_clip's ``RN50-quickgelu`` module holds (open_clip's ``build_model_from_openai_state_dict`` loads
OpenAI's files into that module strictly; checked below), so the file is
``torch.save({"liv": {"module.model." + key: tensor}})``, the state dict of ``DataParallel(LIV)`` (LIV keeps the CLIP
model as its attribute ``model``; its other members hold no parameters). The loader must give exactly the
embeddings of the same weights loaded directly into open_clip.
"""

import logging
import os

import numpy as np
import pytest
import torch

from cliprl_cli.errors import CliprlError
from cliprl_cli.furl import vlm as V

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def random_rn50(seed: int = 0):
    import open_clip

    logging.getLogger().setLevel(logging.ERROR)
    torch.manual_seed(seed)
    return open_clip.create_model("RN50-quickgelu", pretrained=None).eval()


@pytest.fixture(scope="module")
def rn50():
    return random_rn50()


def write_liv_file(model, path):
    """LIV's model.pt layout: {"liv": DataParallel(LIV).state_dict()} (plus the trainer's other entries)."""
    state = {V.LIV_PREFIX + k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"liv": state, "optimizer": {"lr": 1e-5}, "global_step": 7}, path)


@pytest.fixture(scope="module")
def liv_file(rn50, tmp_path_factory):
    path = tmp_path_factory.mktemp("liv") / "model.pt"
    write_liv_file(rn50, path)
    return path


def frames(n=2, size=96, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_the_state_dict_is_openai_format(rn50):
    """open_clip's loader of OpenAI-format state dicts takes our file's contents strictly (and with QuickGELU)."""
    from open_clip.model import build_model_from_openai_state_dict

    built = build_model_from_openai_state_dict({k: v.clone() for k, v in rn50.state_dict().items()},
                                               quick_gelu=True, cast_dtype=None)
    assert set(built.state_dict()) == set(rn50.state_dict())


def test_liv_file_gives_the_embeddings_of_the_same_weights_loaded_directly(rn50, liv_file):
    liv = V.load_vlm("liv", checkpoint=liv_file, preprocess="ours")
    assert liv.name == "liv" and not liv.random_weights
    assert liv.checkpoint_sha256 == V.file_sha256(liv_file)
    assert f"sha256:{liv.checkpoint_sha256[:16]}" in liv.identity()
    x = liv.preprocess(frames())
    with torch.no_grad():
        direct_img = rn50.encode_image(x)
        direct_txt = rn50.encode_text(liv.tokenizer(["open a drawer"]))[0]
        mine_img = liv.model.encode_image(x)
    assert torch.equal(mine_img, direct_img)
    emb = liv.encode_images(frames())
    assert torch.allclose(emb.float(), (direct_img / direct_img.norm(dim=-1, keepdim=True)).half().float())
    assert torch.allclose(liv.encode_text("open a drawer"), direct_txt / direct_txt.norm(), atol=1e-6)


def test_authors_preprocessing_is_the_default_for_liv(rn50, liv_file):
    """BGR, bilinear, CLIP normalisation, raw embeddings, lower-case instruction without the final period."""
    import torch.nn.functional as F

    liv = V.load_vlm("liv", checkpoint=liv_file)
    assert liv.preprocess_style == "authors" and not liv.normalized
    assert liv.identity().endswith("|preprocess:authors")
    f = frames(size=256)
    x = torch.as_tensor(f[:, 32:224, 32:224]).permute(0, 3, 1, 2).float() / 255.0  # the authors' [32:224] crop
    x = F.interpolate(x.flip(1), size=(224, 224), mode="bilinear", align_corners=False)  # BGR, Resize(224)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    ref = (x - mean) / std
    assert torch.allclose(liv.preprocess(f), ref, atol=1e-6)
    with torch.no_grad():
        raw = rn50.encode_image(ref)
    assert torch.allclose(liv.encode_images(f).float(), raw.half().float(), rtol=1e-3, atol=1e-3)
    assert liv.prompt("Open a drawer.") == "open a drawer"
    assert V.prompt_text("Push and close a window.", "ours") == "Push and close a window."


def test_converted_safetensors_load_the_same(liv_file, tmp_path):
    out = tmp_path / "liv.safetensors"
    assert V.main(["convert-liv", str(liv_file), str(out)]) == 0
    a = V.load_vlm("liv", checkpoint=liv_file)
    b = V.load_vlm("liv", checkpoint=out)
    assert torch.equal(a.encode_images(frames()), b.encode_images(frames()))
    assert b.checkpoint_sha256 == V.file_sha256(out) != a.checkpoint_sha256


def test_other_layouts_are_one_line_errors(rn50, tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(rn50.state_dict(), plain)  # an open_clip state dict, not LIV's layout
    with pytest.raises(CliprlError, match="not LIV's model.pt layout.*found a dict with top-level 489 keys"):
        V.load_vlm("liv", checkpoint=plain)
    prefixed = tmp_path / "prefixed.pt"
    torch.save({"liv": {"model." + k: v for k, v in list(rn50.state_dict().items())[:3]}}, prefixed)
    with pytest.raises(CliprlError, match="keys start with 'module.model.'; found 3 keys"):
        V.load_vlm("liv", checkpoint=prefixed)
    vit = tmp_path / "vit.pt"
    torch.save({"liv": {"module.model.x.weight": torch.zeros(1)}}, vit)
    with pytest.raises(CliprlError, match="not a CLIP RN50 state dict"):
        V.load_vlm("liv", checkpoint=vit)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CliprlError, match="weights_only=True"):
        V.load_vlm("liv", checkpoint=junk)
    with pytest.raises(CliprlError, match="needs --vlm-checkpoint"):
        V.load_vlm("liv", pretrained="openai")


def test_openai_weights_get_quick_gelu(monkeypatch):
    """The model built for RN50/openai uses QuickGELU: the arguments handed to open_clip, built without the hub."""
    import open_clip
    from open_clip.transformer import QuickGELU

    seen = {}
    real = open_clip.create_model

    def offline(name, pretrained=None, **kw):
        seen.update(kw, name=name, pretrained=pretrained)
        kw.pop("require_pretrained", None)
        return real(name, pretrained=None, **kw)

    monkeypatch.setattr(open_clip, "create_model", offline)
    vlm = V.load_vlm("RN50", pretrained="openai")
    assert seen["name"] == "RN50" and seen["pretrained"] == "openai" and seen["force_quick_gelu"] is True
    assert isinstance(vlm.model.transformer.resblocks[0].mlp.gelu, QuickGELU)
    assert vlm.preprocess_style == "ours" and vlm.normalized
    assert V.needs_quick_gelu("liv", None) and not V.needs_quick_gelu("ViT-B-32", "laion2b_s34b_b79k")


def test_a_random_liv_file_is_labelled_random_and_converts_with_its_mark(tmp_path):
    path = V.write_random_liv_checkpoint(tmp_path / "model.pt", seed=1)
    obj = torch.load(path, weights_only=True)
    assert set(obj) == {"liv", V.RANDOM_MARK} and all(k.startswith(V.LIV_PREFIX) for k in obj["liv"])
    vlm = V.load_vlm("liv", checkpoint=path)
    assert vlm.random_weights and vlm.identity().endswith("|RANDOM|preprocess:authors")
    out = tmp_path / "liv.safetensors"
    V.convert_liv_checkpoint(path, out)
    assert V.load_vlm("liv", checkpoint=out).random_weights


def test_cli_names_a_wrong_layout_in_one_line(tmp_path, capsys):
    from cliprl_cli.cli import main

    bad = tmp_path / "model.pt"
    torch.save({"state_dict": {"visual.conv1.weight": torch.zeros(1)}}, bad)
    code = main(["furl", "--profile", "cpu-small", "--variant", "vlm", "--steps", "10", "--vlm-model", "liv",
                 "--vlm-checkpoint", str(bad), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: ") and "not LIV's model.pt layout" in err[0] and "'state_dict'" in err[0]


def test_openai_weights_from_a_local_file_get_quick_gelu(rn50, tmp_path):
    """``--vlm-model RN50 --vlm-checkpoint FILE``: a ResNet CLIP's weights are QuickGELU-trained whatever file they
    come in, so the file loads into a QuickGELU model and embeds exactly as RN50-quickgelu with those weights."""
    from open_clip.transformer import QuickGELU

    path = tmp_path / "rn50.pt"
    torch.save({k: v.clone() for k, v in rn50.state_dict().items()}, path)
    vlm = V.load_vlm("RN50", checkpoint=path)
    assert isinstance(vlm.model.transformer.resblocks[0].mlp.gelu, QuickGELU)
    assert vlm.identity().endswith("|quickgelu")
    tokens = vlm.tokenizer(["open a drawer"])
    with torch.no_grad():
        expected = rn50.encode_text(tokens)
        np.testing.assert_allclose(vlm.model.encode_text(tokens).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
        gelu = V.load_vlm("RN50", checkpoint=path, quick_gelu=False)
        assert not isinstance(gelu.model.transformer.resblocks[0].mlp.gelu, QuickGELU)
        assert not np.allclose(gelu.model.encode_text(tokens).numpy(), expected.numpy(), rtol=1e-3, atol=1e-4)
    assert gelu.identity() != vlm.identity()


def test_which_architectures_get_quick_gelu_from_a_file():
    assert V.quick_gelu_architecture("RN50") and V.quick_gelu_architecture("RN101")
    assert not V.quick_gelu_architecture("ViT-B-32")  # LAION's and DataComp's ViT-B-32 weights use GELU
    assert not V.quick_gelu_architecture(V.TINY_MODEL)
    assert V.needs_quick_gelu("RN50", None, "x.pt") and not V.needs_quick_gelu("RN50", "none")
    assert not V.needs_quick_gelu("ViT-B-32", None, "x.pt") and V.needs_quick_gelu("ViT-B-32", None, "x.pt", True)
    assert not V.needs_quick_gelu("liv", None, "model.pt", override=False)
