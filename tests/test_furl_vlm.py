"""The open_clip loader: local checkpoint files, random weights, and one-line errors for bad inputs."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cliprl_cli.errors import CliprlError
from cliprl_cli.furl.vlm import TINY_MODEL, load_vlm

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_vlm(TINY_MODEL, "none")


def test_random_weights_are_marked_and_embeddings_normalised(tiny):
    assert tiny.random_weights and tiny.weights == "random"
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 80, 80, 3), dtype=np.uint8)
    emb = tiny.encode_images(frames)
    assert emb.shape == (3, tiny.embed_dim) and emb.dtype == torch.float16
    assert torch.allclose(emb.float().norm(dim=-1), torch.ones(3), atol=1e-2)
    text = tiny.encode_text("Open a drawer.")
    assert text.shape == (tiny.embed_dim,) and abs(text.norm().item() - 1) < 1e-4


def test_preprocess_crops_uint8_first_with_the_same_result(tiny):
    """Cropping the uint8 frames before the float conversion gives exactly the float-first result."""
    import torch.nn.functional as F

    frames = np.random.default_rng(1).integers(0, 256, size=(2, 90, 90, 3), dtype=np.uint8)
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float().div_(255.0)
    c = round(90 * 0.75)
    top = (90 - c) // 2
    x = F.interpolate(x[..., top:top + c, top:top + c], size=(tiny.image_size, tiny.image_size), mode="bicubic",
                      align_corners=False, antialias=True)
    ref = (x - tiny.mean) / tiny.std
    assert torch.equal(tiny.preprocess(frames), ref)


def test_whole_frames_without_the_crop_and_the_authors_resize_without_antialiasing():
    """crop=False (the authors' Relay script) embeds the whole frame; the authors' style shrinks it as LIV's
    ``transforms.Resize(224, antialias=None)`` does a tensor: bilinear, no antialiasing (checked against
    torchvision 0.29 in the authors' environment: equal to F.interpolate(antialias=False), 0.2 off with it)."""
    import dataclasses

    import torch.nn.functional as F

    torch.manual_seed(0)
    whole = dataclasses.replace(load_vlm(TINY_MODEL, "none", crop=False))
    assert whole.identity().endswith("|nocrop") and not whole.crop
    frames = np.random.default_rng(2).integers(0, 256, size=(2, 96, 96, 3), dtype=np.uint8)
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float().div_(255.0)
    ours = F.interpolate(x, size=(64, 64), mode="bicubic", align_corners=False, antialias=True)
    assert torch.equal(whole.preprocess(frames), (ours - whole.mean) / whole.std)
    authors = dataclasses.replace(whole, preprocess_style="authors")
    theirs = F.interpolate(x[:, [2, 1, 0]], size=(64, 64), mode="bilinear", align_corners=False, antialias=False)
    assert torch.equal(authors.preprocess(frames), (theirs - whole.mean) / whole.std)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_loads_a_checkpoint_file_saved_here(tiny, tmp_path, suffix):
    path = tmp_path / f"tiny{suffix}"
    state = {k: v.contiguous() for k, v in tiny.model.state_dict().items()}
    if suffix == ".pt":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    loaded = load_vlm(TINY_MODEL, checkpoint=path)
    assert not loaded.random_weights and loaded.weights.startswith("checkpoint:")
    frames = np.full((2, 64, 64, 3), 127, dtype=np.uint8)
    assert torch.allclose(loaded.encode_images(frames).float(), tiny.encode_images(frames).float(), atol=1e-3)


def test_wrong_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"nothing": torch.zeros(1)}, path)
    with pytest.raises(CliprlError, match="cannot load checkpoint"):
        load_vlm(TINY_MODEL, checkpoint=path)


@pytest.mark.parametrize("kwargs,message", [
    (dict(model="no-such-model", pretrained="none"), "unknown open_clip model 'no-such-model'"),
    (dict(model="RN50", checkpoint="/no/such/file.pt"), "VLM checkpoint file not found"),
    (dict(model="RN50", pretrained="bogus"), "has no pretrained tag 'bogus'"),
    (dict(model="RN50"), "give exactly one of"),
])
def test_bad_inputs(kwargs, message):
    with pytest.raises(CliprlError, match=message):
        load_vlm(**kwargs)


def test_weights_not_available_offline_is_one_line_error():
    # a subprocess, so HF_HUB_OFFLINE is read fresh by huggingface_hub (it fails at once instead of retrying)
    env = dict(os.environ, HF_HUB_OFFLINE="1", MUJOCO_GL="egl")
    proc = subprocess.run([sys.executable, "-m", "cliprl_cli.cli", "furl", "--variant", "vlm", "--vlm-model",
                           "RN50", "--vlm-pretrained", "openai", "--steps", "10", "--out", "/tmp/never-written"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: cannot load pretrained weights RN50/openai")
