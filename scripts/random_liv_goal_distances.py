"""How far apart Eq. 5's goal distances lie under a RANDOM-weight LIV-format file, against the margin m'.

Eq. 5 keeps a pair (i, j) only where ``d_i < d_j - m'`` (``d``: a frame's raw embedding distance to the goal
image's). This embeds ``--frames`` frames of uniform-random actions and the scripted expert's goal image exactly as a
``cliprl furl --vlm-model liv`` run does (the authors' preprocessing, the given goal protocol), and writes the
embedding norms, the distances' range and their largest pairwise difference as JSON::

    python -c "from cliprl_cli.furl.vlm import write_random_liv_checkpoint as w; w('/tmp/liv/model.pt')"
    MUJOCO_GL=egl python scripts/random_liv_goal_distances.py --liv /tmp/liv/model.pt \\
        --json benchmarks/results/random_liv_goal_distances.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from cliprl_cli.furl.config import AUTHORS_GOAL_MARGIN
from cliprl_cli.furl.env import close_env, make_env, render_upright
from cliprl_cli.furl.goal_image import goal_image
from cliprl_cli.furl.vlm import load_vlm


def measure(liv: str, task: str, frames: int, image_size: int, goal_protocol: str, seed: int) -> dict:
    torch.manual_seed(seed)
    vlm = load_vlm("liv", None, liv, preprocess="authors")
    with tempfile.TemporaryDirectory() as cache:
        _, goal = goal_image(task, vlm, seed=seed, image_size=image_size, camera="corner2", fast_render=False,
                             cache_dir=Path(cache), goal_protocol=goal_protocol)
    env = make_env(task, seed=seed, image_size=image_size, goal_protocol=goal_protocol)
    env.reset()
    rng = np.random.default_rng(seed)
    shots = []
    for _ in range(frames):
        env.step(rng.uniform(-1.0, 1.0, 4))
        shots.append(render_upright(env))
    close_env(env)
    emb = vlm.encode_images(np.stack(shots)).float()
    dist = (emb - goal).norm(dim=-1)
    spread = float((dist.max() - dist.min()).item())
    return {"task": task, "frames": frames, "image_size": image_size, "goal_protocol": goal_protocol, "seed": seed,
            "vlm": vlm.identity(), "vlm_random_weights": vlm.random_weights,
            "embedding_norm_min": float(emb.norm(dim=-1).min()), "embedding_norm_max": float(emb.norm(dim=-1).max()),
            "goal_embedding_norm": float(goal.norm()), "goal_distance_min": float(dist.min()),
            "goal_distance_max": float(dist.max()), "largest_pairwise_difference": spread,
            "authors_margin": AUTHORS_GOAL_MARGIN, "margin_over_spread": AUTHORS_GOAL_MARGIN / max(spread, 1e-30)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--liv", required=True, help="a LIV-format model.pt (e.g. of random weights)")
    ap.add_argument("--task", default="drawer-open-v3")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--goal-protocol", default="authors", choices=("authors", "mt1"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    doc = measure(args.liv, args.task, args.frames, args.image_size, args.goal_protocol, args.seed)
    text = json.dumps(doc, indent=2) + "\n"
    if args.json:
        from cliprl_cli.store.atomic import atomic_write_bytes

        atomic_write_bytes(args.json, text.encode())
    print(text, end="")


if __name__ == "__main__":
    main()
