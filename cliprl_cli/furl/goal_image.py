"""Goal image for Eq. 5: Meta-World's scripted expert, the first frame at success, cached per task/camera/VLM.

The expert runs in an environment built exactly like the training one (same task, seed and goal protocol, so the
same fixed goal; same camera, image size and scene flags). Only the success frame is rendered, so the rollout costs a few hundred
state-only steps. Cache layout under ``cache_dir``:

- ``<task>_<camera>_<size>px_<fast|full>_s<seed>.png``: the upright goal frame (VLM independent); with the authors'
  goal protocol (goal-hidden environments) the stem ends in ``_goalhidden``;
- ``<same stem>__<vlm hash>.safetensors`` + ``.json``: its embedding (kind ``furl-goal-embedding``), keyed by the VLM's
  identity (model, weights, and the seed for random weights, whose values depend on it).

With ``--random-goal`` the same single goal image is used (the paper, appendix: "we simply use a fixed goal image
for both fixed goal and random goal tasks").
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..cpu_tuning import numerics_tag
from ..store.artifacts import load_artifact, save_artifact
from ..store.atomic import atomic_write_bytes
from ..errors import CliprlError
from .env import EPISODE_STEPS, close_env, expert_policy, make_env, render_upright, show_goal


def expert_rollout(task: str, *, seed: int, image_size: int, camera: str = "corner2", fast_render: bool = False,
                   render: str = "all", extra_after_success: int = 20, max_steps: int = EPISODE_STEPS,
                   goal_protocol: str = "mt1"):
    """Run the scripted expert; returns ``(frames, success_flags)``.

    ``render="all"`` renders every frame (stopping ``extra_after_success`` steps after the first success),
    ``render="success"`` renders only the first successful frame and stops there.
    """
    env = make_env(task, seed=seed, image_size=image_size, camera=camera, fast_render=fast_render,
                   goal_protocol=goal_protocol)
    show_goal(env)  # the expert steers by the goal position; the frames are the same with or without it
    policy = expert_policy(task)
    warnings.filterwarnings("ignore", message="Constant.*may be too high")  # Meta-World's experts, harmless
    try:
        obs, _ = env.reset()
        frames, success, first = [], [], None
        for t in range(max_steps):
            obs, _, _, truncated, info = env.step(np.clip(policy.get_action(obs), -1.0, 1.0))
            hit = bool(info["success"])
            if render == "all":
                frames.append(render_upright(env))
                success.append(hit)
            if hit and first is None:
                first = t
                if render == "success":
                    return [render_upright(env)], [True]
            if first is not None and t - first >= extra_after_success or truncated:
                break
        return frames, success
    finally:
        close_env(env)


def png_bytes(frame: np.ndarray) -> bytes:
    """The frame as PNG file bytes (PIL's encoder: the same bytes for the same pixels)."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return buf.getvalue()


def read_png(path: Path) -> np.ndarray:
    """An RGB uint8 ``(H, W, 3)`` frame from a PNG file."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB")).copy()


def goal_image(task: str, vlm, *, seed: int, image_size: int, camera: str, fast_render: bool,
               cache_dir: Path, goal_protocol: str = "mt1"):
    """``(frame uint8 (H, W, 3), embedding float32 (D,))``, from the cache when present."""
    stem = f"{task}_{camera}_{image_size}px_{'fast' if fast_render else 'full'}_s{seed}"
    if goal_protocol == "authors":
        stem += "_goalhidden"  # another goal than the MT1 task's for the same seed
    png = Path(cache_dir) / f"{stem}.png"
    if png.is_file():
        frame = read_png(png)
    else:
        frames, _ = expert_rollout(task, seed=seed, image_size=image_size, camera=camera, fast_render=fast_render,
                                   render="success", goal_protocol=goal_protocol)
        if not frames:
            raise CliprlError(f"the scripted expert for {task} never succeeded in {EPISODE_STEPS} steps "
                              "(no goal image); use --variant furl-no-goal")
        frame = frames[0]
        atomic_write_bytes(png, png_bytes(frame))
    # the numeric mode too: an embedding computed with this CPU's own kernels differs in the last bits from a pinned one
    key = vlm.identity() + (f"|seed{seed}" if vlm.random_weights else "") + f"|{numerics_tag()}"
    emb_path = Path(cache_dir) / f"{stem}__{hashlib.sha256(key.encode()).hexdigest()[:12]}.safetensors"
    if emb_path.is_file():
        tensors, _ = load_artifact(emb_path, kind="furl-goal-embedding")
        return frame, tensors["embedding"].float()
    emb = vlm.encode_images(frame[None])[0].float()
    save_artifact(emb_path, {"embedding": emb}, kind="furl-goal-embedding",
                  config={"task": task, "camera": camera, "image_size": image_size, "fast_render": fast_render,
                          "seed": seed, "vlm": vlm.identity(), "png": png.name},
                  extra={"vlm_random_weights": vlm.random_weights})
    return frame, emb
