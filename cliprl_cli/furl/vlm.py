"""The frozen VLM (open_clip): loading, preprocessing and batched embedding.

Four ways to get weights, never a silent fallback between them:

- ``model`` + ``pretrained`` tag (e.g. ``RN50`` / ``openai``, CLIP, the paper's Table 3 ablation): open_clip fetches
  them from the hub or its cache; offline, that fails with one line naming the model and the tag.
- ``model`` + ``checkpoint`` file (air-gapped clusters): a local open_clip state dict (``.pt``/``.bin``/
  ``.safetensors``), loaded by open_clip with ``weights_only=True``.
- ``liv`` + ``checkpoint``: LIV (Ma et al. 2023; CLIP RN50 fine-tuned), the VLM of the paper's main results (Table 1),
  from LIV's official ``model.pt`` without LIV's code (:func:`read_liv_state_dict`): ``torch.load(weights_only=True)``,
  its ``"liv"`` entry (the state dict of ``DataParallel(LIV)``, keys ``module.model.<OpenAI CLIP RN50 key>``),
  the prefix stripped, loaded strictly into open_clip's ``RN50-quickgelu``. The same weights converted to
  safetensors (:func:`convert_liv_checkpoint`, ``python -m cliprl_cli.furl.vlm convert-liv model.pt liv.safetensors``)
  load the same way. The identity of a checkpoint run carries the file's SHA-256 (first 16 hex digits).
- ``model`` + ``pretrained="none"``: random weights (drawn from the run's seed). Every artifact of such a run carries
  ``"vlm_random_weights": true`` and a warning is printed: its rewards are noise, useful only for plumbing tests.

QuickGELU: OpenAI's CLIP models (and LIV, built by OpenAI's ``clip.load``) were trained with QuickGELU; open_clip
builds ``RN50`` without it and only warns when given OpenAI weights. Every OpenAI-weight model here is built with
``force_quick_gelu=True`` however its weights arrive (:func:`needs_quick_gelu`): the ``openai`` tag, LIV, and a local
checkpoint file of an architecture whose every released weight was trained with QuickGELU (the ResNet CLIPs: RN50,
RN101, RN50x4...; open_clip lists the same tags for them with and without ``-quickgelu``). ``quick_gelu=True/False``
overrides the choice (``--vlm-quick-gelu``; e.g. a ViT-B-32 file holding OpenAI's weights, which the rule cannot
tell from LAION's). When the choice differs from the one the ``openai`` tag / LIV rule alone gives, the VLM's
identity says so (``|quickgelu`` or ``|gelu``), since the embeddings depend on it.

``cliprl-tiny`` is a small ViT registered here (64 px input, width 64, 2 layers, 64-d embeddings) so that tests and
CPU smoke runs embed frames cheaply, without any download; it only exists with random weights or a local checkpoint
saved from it.

Preprocessing (``preprocess``; the paper leaves it to the authors' code). Both styles take the upright frame,
centre-crop it to 75% of its side (the authors render 256 px and crop [32:224]; ``crop=False`` keeps the whole
frame, as the authors' Relay script does), resize it to the model's input size and normalise it with the model's
mean/std, as one batched torch op on the model's device:

- ``authors`` (the default for LIV, as the FuRL authors feed LIV): channels in BGR order (their frames come from
  OpenCV-style arrays), bilinear resize without antialiasing (LIV's ``transforms.Resize(antialias=None)`` on a
  tensor, which matters only when shrinking: an uncropped 256 px frame), embeddings NOT normalised (raw embeddings go
  into the heads, the cosines and the Eq. 5 goal distances), instructions lower-case without a final period
  (``open a drawer``).
- ``ours`` (the default for every other model): RGB, bicubic resize (antialiased when shrinking), L2-normalised
  embeddings (cosines are dot products, goal distances lie in [0, 2] whatever the model), the instruction as the
  paper's Table 4 writes it (``Open a drawer.``).

The model is frozen (eval mode, no gradients) and runs in half precision on a GPU.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import CliprlError
from .config import LIV_MODEL, PREPROCESS_STYLES  # their one home (config imports no torch)

# open_clip is imported inside the functions that need it: it pulls in torchvision and torch._dynamo (seconds),
# which the `sac` variant and the tests of the loop never need.

TINY_MODEL = "cliprl-tiny"
_TINY_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
CROP_FRACTION = 0.75
LIV_ARCH = "RN50-quickgelu"  # LIV is OpenAI's CLIP RN50 (QuickGELU), fine-tuned
LIV_PREFIX = "module.model."  # DataParallel(LIV).state_dict(): module. + LIV's attribute model. + the CLIP key
# A top-level entry (model.pt) or metadata key (safetensors) that marks a file written from RANDOM weights
# (:func:`write_random_liv_checkpoint`, the tests): runs on it are labelled vlm_random_weights like --vlm-pretrained
# none. LIV's own file has no such entry; the loader ignores every top-level entry but "liv" and this one.
RANDOM_MARK = "cliprl_random_weights"


def needs_quick_gelu(model: str, pretrained: str | None, checkpoint: str | Path | None = None,
                     override: bool | None = None) -> bool:
    """Whether to build the model with QuickGELU: ``override`` when given; else True for LIV, the ``openai`` tag,
    and a local ``checkpoint`` of an architecture all of whose released weights use QuickGELU
    (:func:`quick_gelu_architecture`). ``-quickgelu`` configs have it anyway; other weights keep their config's."""
    if override is not None:
        return override
    if model == LIV_MODEL or (pretrained or "").lower() == "openai":
        return True
    return checkpoint is not None and quick_gelu_architecture(model)


def quick_gelu_architecture(model: str) -> bool:
    """True when OpenAI released weights for ``model`` and every pretrained tag open_clip knows for it is also one of
    its ``-quickgelu`` config (the ResNet CLIPs: OpenAI's weights and the YFCC/CC12M ones, all trained with
    QuickGELU); False for the ViTs, whose LAION and DataComp weights use GELU."""
    import open_clip

    tags = set(open_clip.list_pretrained_tags_by_model(model))
    return "openai" in tags and tags <= set(open_clip.list_pretrained_tags_by_model(f"{model}-quickgelu"))


def default_preprocess(model: str) -> str:
    """``authors`` for LIV (how the FuRL authors feed it), ``ours`` for every other model."""
    return "authors" if model == LIV_MODEL else "ours"


def prompt_text(text: str, preprocess: str) -> str:
    """The instruction text the VLM embeds: the authors' lower-case form without a final period for ``authors``
    (``Open a drawer.`` -> ``open a drawer``), unchanged for ``ours``."""
    return text.strip().lower().rstrip(".").rstrip() if preprocess == "authors" else text


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _describe_keys(keys) -> str:
    keys = list(keys)
    return f"{len(keys)} keys, e.g. {', '.join(repr(k) for k in keys[:3])}" if keys else "no keys"


def read_liv_state_dict(path: str | Path) -> tuple[dict, bool]:
    """``(state dict, marked random)``: LIV's weights as an OpenAI-format CLIP RN50 state dict (CPU tensors), from
    LIV's ``model.pt`` or a converted ``.safetensors``, and whether the file carries :data:`RANDOM_MARK`; any other
    layout is a one-line :class:`CliprlError` naming what was found.

    ``model.pt``: ``torch.load(weights_only=True)`` (no pickled code runs), its ``"liv"`` entry, every key
    ``module.model.<key>`` -> ``<key>``. ``.safetensors``: the OpenAI-format keys as :func:`convert_liv_checkpoint`
    writes them (a ``module.model.`` prefix is stripped too).
    """
    path = Path(path)
    if not path.is_file():
        raise CliprlError(f"LIV checkpoint file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            sd = load_file(str(path))
            with safe_open(str(path), "pt") as f:
                marked = (f.metadata() or {}).get(RANDOM_MARK) == "true"
        except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file: one line
            raise CliprlError(f"cannot read LIV safetensors {path} ({type(exc).__name__}: {str(exc)[:200]})") from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - pickled code, truncated file...: one line
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CliprlError(f"cannot read LIV checkpoint {path} with weights_only=True "
                              f"({type(exc).__name__}: {msg[:200]})") from None
        if not isinstance(obj, dict) or "liv" not in obj:
            found = (f"a dict with top-level {_describe_keys(obj)}" if isinstance(obj, dict)
                     else f"a {type(obj).__name__}")
            raise CliprlError(f"{path} is not LIV's model.pt layout (a dict whose 'liv' entry is the state dict of "
                              f"DataParallel(LIV)); found {found}")
        sd = obj["liv"]
        marked = obj.get(RANDOM_MARK) is True
        if not isinstance(sd, dict):
            raise CliprlError(f"{path}: its 'liv' entry is a {type(sd).__name__}, not a state dict")
        wrong = [k for k in sd if not k.startswith(LIV_PREFIX)]
        if wrong or not sd:
            raise CliprlError(f"{path}: LIV's state dict keys start with {LIV_PREFIX!r}; found "
                              f"{_describe_keys(wrong or sd)}")
    sd = {(k[len(LIV_PREFIX):] if k.startswith(LIV_PREFIX) else k): v for k, v in sd.items()}
    if not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CliprlError(f"{path}: the LIV state dict holds non-tensor values")
    # OpenAI JIT archives carry these three scalars beside the weights; a state dict of the module does not
    for key in ("input_resolution", "context_length", "vocab_size"):
        sd.pop(key, None)
    if "visual.attnpool.positional_embedding" not in sd or "text_projection" not in sd:
        raise CliprlError(f"{path}: not a CLIP RN50 state dict after removing {LIV_PREFIX!r} "
                          f"({_describe_keys(sd)})")
    return sd, marked


def write_random_liv_checkpoint(path: str | Path, seed: int = 0) -> Path:
    """A file in exactly LIV's ``model.pt`` layout holding RANDOM weights (open_clip's ``RN50-quickgelu`` drawn from
    ``seed``), marked with :data:`RANDOM_MARK` so that every run on it says so. For tests and smoke runs."""
    import open_clip

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # open_clip's "No pretrained weights loaded" warning: random is the point here
    try:
        torch.manual_seed(seed)
        net = open_clip.create_model(LIV_ARCH, pretrained=None)
    finally:
        root.setLevel(level)
    state = {LIV_PREFIX + k: v for k, v in net.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"liv": state, RANDOM_MARK: True}, path)
    return path


def convert_liv_checkpoint(src: str | Path, dst: str | Path) -> str:
    """Write LIV's ``model.pt`` as a ``.safetensors`` of the OpenAI-format RN50 state dict (atomically); return
    the SHA-256 of the written file. The result loads with ``--vlm-model liv --vlm-checkpoint DST``."""
    from safetensors.torch import save

    from ..store.atomic import atomic_write_bytes

    dst = Path(dst)
    if dst.suffix != ".safetensors":
        raise CliprlError(f"the converted LIV file must end in .safetensors, got {dst}")
    sd, marked = read_liv_state_dict(src)
    meta = {"format": "pt", "source": "LIV model.pt", "architecture": LIV_ARCH}
    if marked:
        meta[RANDOM_MARK] = "true"
    atomic_write_bytes(dst, save({k: v.contiguous() for k, v in sd.items()}, metadata=meta))
    return file_sha256(dst)


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
    preprocess_style: str = "ours"         # "authors" or "ours" (module docstring)
    checkpoint_sha256: str | None = None   # SHA-256 of the checkpoint file, when the weights came from one
    random_checkpoint: bool = False        # the checkpoint file is marked as holding RANDOM weights
    activation: str | None = None          # "quickgelu" or "gelu" where needs_quick_gelu's choice is not the
    #                                        openai-tag/LIV rule's alone (a checkpoint file, or an override)
    crop: bool = True                      # centre-crop frames to CROP_FRACTION first (False: the whole frame)
    reads_state = False  # embeds rendered frames (the synthetic VLM, cliprl_cli.furl.synthetic_vlm, reads the state)

    @property
    def random_weights(self) -> bool:
        return self.weights == "random" or self.random_checkpoint

    @property
    def normalized(self) -> bool:
        """Whether embeddings are L2-normalised (``ours``) or raw (``authors``)."""
        return self.preprocess_style != "authors"

    def identity(self) -> str:
        """``model|weights`` (+ ``|sha256:<16 hex>`` for a checkpoint, ``|RANDOM`` if it is marked random,
        + ``|preprocess:authors`` when not ours, + ``|quickgelu`` or ``|gelu`` when the activation was chosen for
        a checkpoint file or by an override, + ``|nocrop`` for whole frames):
        what the embeddings depend on (the goal-image cache is keyed on it)."""
        ident = f"{self.name}|{self.weights}"
        if self.checkpoint_sha256:
            ident += f"|sha256:{self.checkpoint_sha256[:16]}"
        if self.random_checkpoint:
            ident += "|RANDOM"
        if self.preprocess_style != "ours":
            ident += f"|preprocess:{self.preprocess_style}"
        if self.activation:
            ident += f"|{self.activation}"
        if not self.crop:
            ident += "|nocrop"
        return ident

    def prompt(self, text: str) -> str:
        """The text this VLM embeds for an instruction (:func:`prompt_text`)."""
        return prompt_text(text, self.preprocess_style)

    def preprocess(self, frames):
        """uint8 ``(N, H, W, 3)`` array or tensor -> normalised ``(N, 3, S, S)`` on the model's device."""
        x = torch.as_tensor(frames)
        h, w = x.shape[1:3]
        fraction = CROP_FRACTION if self.crop else 1.0
        ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
        top, left = (h - ch) // 2, (w - cw) // 2
        # crop the uint8 frames first (a view): only the kept 56% of the pixels are copied and converted
        x = x[:, top:top + ch, left:left + cw].to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        authors = self.preprocess_style == "authors"
        if authors:
            x = x[:, [2, 1, 0]]  # RGB -> BGR, as the FuRL authors' frames reach LIV
        if (ch, cw) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear" if authors else "bicubic",
                              align_corners=False, antialias=not authors and ch > self.image_size)
        x = (x - self.mean) / self.std
        return x.to(self.dtype)

    def encode_images(self, frames):
        """Image embeddings ``(N, D)`` as float16 on the CPU (the replay buffer's format): unit-norm for ``ours``,
        raw for ``authors``."""
        with torch.no_grad():
            emb = self.model.encode_image(self.preprocess(frames)).float()
            if self.normalized:
                emb = emb / emb.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return emb.to("cpu", torch.float16)

    def encode_text(self, text: str):
        """Float32 text embedding ``(D,)`` on the CPU of ``text`` as given (unit-norm for ``ours``, raw for
        ``authors``); callers pass :meth:`prompt` of an instruction."""
        with torch.no_grad():
            tokens = self.tokenizer([text]).to(self.device)
            emb = self.model.encode_text(tokens).float()[0]
            if self.normalized:
                emb = emb / emb.norm().clamp(min=1e-12)
        return emb.cpu()


def load_vlm(model: str, pretrained: str | None = None, checkpoint: str | Path | None = None,
             device: str = "cpu", preprocess: str | None = None, quick_gelu: bool | None = None,
             crop: bool = True) -> VLM:
    """Load a frozen open_clip model; every failure is a one-line :class:`CliprlError`.

    ``pretrained`` is an open_clip tag or ``"none"`` (random weights); ``checkpoint`` a local state-dict file
    (for ``model="liv"``: LIV's ``model.pt`` or its safetensors conversion). Exactly one of them must be given.
    ``preprocess``: ``authors`` or ``ours``; None picks :func:`default_preprocess`. ``quick_gelu``: build with
    QuickGELU or not; None picks :func:`needs_quick_gelu`'s choice. ``crop``: centre-crop frames first (False:
    embed the whole frame).
    """
    if (checkpoint is None) == (pretrained is None):
        raise CliprlError("give exactly one of --vlm-pretrained (a tag, or 'none' for random weights) "
                          "and --vlm-checkpoint FILE")
    preprocess = preprocess or default_preprocess(model)
    if preprocess not in PREPROCESS_STYLES:
        raise CliprlError(f"unknown VLM preprocessing {preprocess!r}; known: {', '.join(PREPROCESS_STYLES)}")
    import open_clip

    liv = model == LIV_MODEL
    arch = LIV_ARCH if liv else model
    models = known_models()
    if not liv and model not in models:
        near = [m for m in models if model.lower()[:3] in m.lower()][:8] or models[:8]
        raise CliprlError(f"unknown open_clip model {model!r}; e.g. {', '.join(near)}, or {LIV_MODEL} "
                          f"({len(models)} known: python -c 'import open_clip; print(open_clip.list_models())')")
    state_dict, sha256, marked = None, None, False
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise CliprlError(f"VLM checkpoint file not found: {path}")
        sha256 = file_sha256(path)
        if liv:
            state_dict, marked = read_liv_state_dict(path)
            source = None
        else:
            source = str(path)
        weights = f"checkpoint:{path.resolve()}"
    elif pretrained.lower() == "none":
        source, weights = None, "random"
    elif liv:
        raise CliprlError("--vlm-model liv needs --vlm-checkpoint PATH (LIV's official model.pt, or its safetensors "
                          "conversion), or --vlm-pretrained none for random weights")
    else:
        tags = open_clip.list_pretrained_tags_by_model(model)
        if pretrained not in tags:
            raise CliprlError(f"open_clip model {model!r} has no pretrained tag {pretrained!r}; "
                              f"its tags: {', '.join(tags) or '(none: use --vlm-pretrained none or --vlm-checkpoint)'}")
        source, weights = pretrained, f"pretrained:{pretrained}"

    quick = needs_quick_gelu(model, pretrained, checkpoint, quick_gelu)
    # named in the identity only where it differs from the rule that held before checkpoints were considered
    activation = None if quick == needs_quick_gelu(model, pretrained) else ("quickgelu" if quick else "gelu")
    dev = torch.device(device)
    precision = "fp16" if dev.type == "cuda" else "fp32"
    try:
        # open_clip logs "No pretrained weights loaded" / download failures itself: we report in one line instead.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.CRITICAL)
        try:
            net = open_clip.create_model(arch, pretrained=source, precision=precision, device=dev,
                                         require_pretrained=source is not None,
                                         force_quick_gelu=quick)
            if state_dict is not None:
                net.load_state_dict(state_dict, strict=True)  # copies into the model's dtype and device
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
    tokenizer = open_clip.get_tokenizer(arch)
    with torch.no_grad():
        dim = int(net.encode_text(tokenizer(["a"]).to(dev)).shape[-1])
    return VLM(model=net, tokenizer=tokenizer, name=model, weights=weights, device=dev,
               dtype=torch.float16 if precision == "fp16" else torch.float32, image_size=size, mean=mean, std=std,
               embed_dim=dim, preprocess_style=preprocess, checkpoint_sha256=sha256, random_checkpoint=marked,
               activation=activation, crop=crop)


def main(argv: list[str] | None = None) -> int:
    """``python -m cliprl_cli.furl.vlm convert-liv SRC DST``: LIV's model.pt -> OpenAI-format safetensors."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "convert-liv":
        print("usage: python -m cliprl_cli.furl.vlm convert-liv LIV_MODEL_PT OUT.safetensors", file=sys.stderr)
        return 2
    try:
        digest = convert_liv_checkpoint(args[1], args[2])
    except CliprlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args[2]} sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
