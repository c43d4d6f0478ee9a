"""The frozen VLM (open_clip): loading, preprocessing and batched embedding.

Three ways to get weights, never a silent fallback between them:

- ``model`` + ``pretrained`` tag (e.g. ``RN50`` / ``openai``, the paper's CLIP and the CLI default): open_clip
  fetches them from the hub or its cache; offline, that fails with one line naming the model and the tag.
- ``model`` + ``checkpoint`` file (air-gapped clusters): a local state dict (``.pt``/``.bin``/``.safetensors``), loaded
  by open_clip with ``weights_only=True``.
- ``model`` + ``pretrained="none"``: random weights (drawn from the run's seed). Every artifact of such a run carries
  ``"vlm_random_weights": true`` and a warning is printed: its rewards are noise, useful only for plumbing tests.

``cliprl-tiny`` is a small ViT registered here (64 px input, width 64, 2 layers, 64-d embeddings) so that tests and
CPU smoke runs embed frames cheaply, without any download; it only exists with random weights or a local checkpoint
saved from it.

Preprocessing choice (the paper leaves it to the authors' code): the upright frame is centre-cropped to 75% of its
side (the authors render 256 px and crop 192), resized (bicubic, antialiased) to the model's input size and
normalised with the model's mean/std, all as one batched torch op on the model's device. Embeddings are
L2-normalised, so cosines are dot products and the goal distance of Eq. 5 lives in [0, 2] whatever the model.
The model is frozen (eval mode, no gradients) and runs in half precision on a GPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import CliprlError

# open_clip is imported inside the functions that need it: it pulls in torchvision and torch._dynamo (seconds),
# which the `sac` variant and the tests of the loop never need.

TINY_MODEL = "cliprl-tiny"
_TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
CROP_FRACTION = 0.75


def register_tiny_model() -> None:
    """Add ``cliprl-tiny`` to open_clip's model registry (idempotent)."""
    from open_clip import factory

    factory._MODEL_CONFIGS.setdefault(TINY_MODEL, _TINY_CONFIG)  # private dict: open_clip has no public adder


def known_models() -> list[str]:
    import open_clip

    register_tiny_model()
    return sorted(set(open_clip.list_models()) | {TINY_MODEL})


@dataclass
class VLM:
    """A frozen open_clip model with batched, normalised embedding of uint8 frames and instructions."""

    model: Any
    tokenizer: Any
    name: str
    weights: str  # "random", "pretrained:<tag>" or "checkpoint:<path>"
    device: Any
    dtype: Any
    image_size: int
    mean: Any
    std: Any
    embed_dim: int

    @property
    def random_weights(self) -> bool:
        return self.weights == "random"

    def identity(self) -> str:
        return f"{self.name}|{self.weights}"

    def preprocess(self, frames):
        """uint8 ``(N, H, W, 3)`` array or tensor -> normalised ``(N, 3, S, S)`` on the model's device."""
        x = torch.as_tensor(frames)
        h, w = x.shape[1:3]
        ch, cw = max(1, round(h * CROP_FRACTION)), max(1, round(w * CROP_FRACTION))
        top, left = (h - ch) // 2, (w - cw) // 2
        # crop the uint8 frames first (a view): only the kept 56% of the pixels are copied and converted
        x = x[:, top:top + ch, left:left + cw].to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        if (ch, cw) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False,
                              antialias=ch > self.image_size)
        x = (x - self.mean) / self.std
        return x.to(self.dtype)

    def encode_images(self, frames):
        """Unit-norm image embeddings ``(N, D)`` as float16 on the CPU (the replay buffer's format)."""
        with torch.no_grad():
            emb = self.model.encode_image(self.preprocess(frames)).float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return emb.to("cpu", torch.float16)

    def encode_text(self, text: str):
        """Unit-norm float32 text embedding ``(D,)`` on the CPU."""
        with torch.no_grad():
            tokens = self.tokenizer([text]).to(self.device)
            emb = self.model.encode_text(tokens).float()[0]
            emb = emb / emb.norm().clamp(min=1e-12)
        return emb.cpu()


def load_vlm(model: str, pretrained: str | None = None, checkpoint: str | Path | None = None,
             device: str = "cpu") -> VLM:
    """Load a frozen open_clip model; every failure is a one-line :class:`CliprlError`.

    ``pretrained`` is an open_clip tag or ``"none"`` (random weights); ``checkpoint`` a local state-dict file.
    Exactly one of them must be given.
    """
    if (checkpoint is None) == (pretrained is None):
        raise CliprlError("give exactly one of --vlm-pretrained (a tag, or 'none' for random weights) "
                          "and --vlm-checkpoint FILE")
    import open_clip

    models = known_models()
    if model not in models:
        near = [m for m in models if model.lower()[:3] in m.lower()][:8] or models[:8]
        raise CliprlError(f"unknown open_clip model {model!r}; e.g. {', '.join(near)} "
                          f"({len(models)} known: python -c 'import open_clip; print(open_clip.list_models())')")
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise CliprlError(f"VLM checkpoint file not found: {path}")
        source, weights = str(path), f"checkpoint:{path.resolve()}"
    elif pretrained.lower() == "none":
        source, weights = None, "random"
    else:
        tags = open_clip.list_pretrained_tags_by_model(model)
        if pretrained not in tags:
            raise CliprlError(f"open_clip model {model!r} has no pretrained tag {pretrained!r}; "
                              f"its tags: {', '.join(tags) or '(none: use --vlm-pretrained none or --vlm-checkpoint)'}")
        source, weights = pretrained, f"pretrained:{pretrained}"

    dev = torch.device(device)
    precision = "fp16" if dev.type == "cuda" else "fp32"
    try:
        # open_clip logs "No pretrained weights loaded" / download failures itself: we report in one line instead.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.CRITICAL)
        try:
            net = open_clip.create_model(model, pretrained=source, precision=precision, device=dev,
                                         require_pretrained=source is not None)
        finally:
            root.setLevel(level)
    except Exception as exc:  # noqa: BLE001 - hub errors, bad state dicts: all become one line
        what = f"checkpoint {checkpoint}" if checkpoint is not None else f"pretrained weights {model}/{pretrained}"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliprlError(f"cannot load {what} ({type(exc).__name__}: {msg[:300]}); offline machines need "
                          "--vlm-checkpoint FILE, or --vlm-pretrained none for random weights") from None
    net.eval().requires_grad_(False)
    cfg = getattr(net.visual, "preprocess_cfg", {}) or {}
    size = net.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    mean = torch.tensor(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN), device=dev).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("std", open_clip.OPENAI_DATASET_STD), device=dev).view(1, 3, 1, 1)
    with torch.no_grad():
        dim = int(net.encode_text(open_clip.get_tokenizer(model)(["a"]).to(dev)).shape[-1])
    return VLM(model=net, tokenizer=open_clip.get_tokenizer(model), name=model, weights=weights, device=dev,
               dtype=torch.float16 if precision == "fp16" else torch.float32, image_size=size, mean=mean, std=std,
               embed_dim=dim)
