"""FuRL's reward alignment on a synthetic VLM with a known answer (SYNTHETIC: no real VLM is involved).

The VLM (``cliprl_cli/furl/synthetic.py``) embeds a frame as a fixed random projection of a place-cell code of the
task-relevant position plus distractor features; its instruction embedding points at the goal (misalignment 0) or
at a wrong target (1). Measured: the Spearman correlation between the reward and true task progress (``-||p - g||``)
over every frame of held-out expert and failed trajectories, for the zero-shot reward (Eq. 2), the heads before
training (the control), and the heads after Eq. 5 alone (goal image, no success), Eq. 4 alone (successes), and
Eq. 5 then Eq. 4 (FuRL's order, one Adam state). Mean and 95% bootstrap interval over seeds.

Trajectory sources: ``synthetic`` (walks in the unit cube: experts to the goal, failures to decoys, half of them to
the wrong target) and ``metaworld`` (reach-v3, the hand position: the scripted expert with Gaussian action noise
0.3 as experts; a proportional controller toward decoys, half of them the wrong target, with the same noise, as
failures; 100 steps each; success = Meta-World's, within 0.05 of the goal).

    python benchmarks/furl_known_answer.py --json benchmarks/results/furl_known_answer.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from cliprl_cli.furl import synthetic as S
from cliprl_cli.stats import bootstrap_ci

# Meta-World reach-v3's hand box (its hand_low / hand_high)
REACH_LOW, REACH_HIGH = np.array([-0.5, 0.40, 0.05]), np.array([0.5, 1.0, 0.5])
REACH_SUCCESS = 0.05


def metaworld_world_and_trajectories(seed: int, n_expert: int, n_failed: int, steps: int = 100, noise: float = 0.3):
    """(World, train, test) from Meta-World reach-v3 with the seed's fixed goal; hand positions."""
    from cliprl_cli.furl.env import close_env, expert_policy, make_env

    warnings.filterwarnings("ignore", message="Constant.*may be too high")
    rng = np.random.default_rng(seed)
    env = make_env("reach-v3", seed=seed, image_size=None)
    policy = expert_policy("reach-v3")
    obs, _ = env.reset()
    goal = np.asarray(obs[36:39], float)
    wrong = S._far_point(rng, REACH_LOW, REACH_HIGH, goal, 0.3)

    def episode(target=None):
        obs, _ = env.reset()
        out = []
        for _ in range(steps):
            if target is None:
                action = np.asarray(policy.get_action(obs), float)
            else:
                action = np.r_[np.clip(10.0 * (target - obs[0:3]), -1, 1), 0.0]
            action = np.clip(action + rng.normal(0.0, noise, 4), -1.0, 1.0)
            obs, _, _, truncated, _ = env.step(action)
            out.append(np.asarray(obs[0:3], float))
            if truncated:
                break
        return np.stack(out)

    def sets():
        expert = [episode() for _ in range(n_expert)]
        failed = [episode(wrong if i % 2 == 0 else S._far_point(rng, REACH_LOW, REACH_HIGH, goal, 0.1))
                  for i in range(n_failed)]
        return expert, failed
    try:
        train, test = sets(), sets()
    finally:
        close_env(env)
    return S.World(REACH_LOW, REACH_HIGH, goal, wrong), train, test


def synthetic_world_and_trajectories(seed: int, n_expert: int, n_failed: int):
    rng = np.random.default_rng(seed)
    world = S.synthetic_world(rng)
    kw = dict(n_expert=n_expert, n_failed=n_failed)
    train = S.synthetic_trajectories(rng, world.goal, world.wrong, world.low, world.high, **kw)
    test = S.synthetic_trajectories(rng, world.goal, world.wrong, world.low, world.high, **kw)
    return world, train, test


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", default="synthetic,metaworld")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--misalignment", default="0,0.5,0.8,1")
    p.add_argument("--distract", default="0.25,1", help="distractor scales beta")
    p.add_argument("--n-expert", type=int, default=8)
    p.add_argument("--n-failed", type=int, default=16)
    p.add_argument("--eq5-steps", type=int, default=300)
    p.add_argument("--eq4-steps", type=int, default=300)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    levels = [float(a) for a in args.misalignment.split(",")]
    betas = [float(b) for b in args.distract.split(",")]
    rows, t0 = [], time.time()
    for source in args.sources.split(","):
        for seed in range(args.seeds):
            if source == "metaworld":
                world, train, test = metaworld_world_and_trajectories(seed, args.n_expert, args.n_failed)
                radius = REACH_SUCCESS
            else:
                world, train, test = synthetic_world_and_trajectories(seed, args.n_expert, args.n_failed)
                radius = 0.1
            for beta in betas:
                for a in levels:
                    out = S.run_known_answer(world, train, test, misalignment=a, seed=seed, success_radius=radius,
                                             eq5_steps=args.eq5_steps, eq4_steps=args.eq4_steps,
                                             vlm_kwargs=dict(distract_scale=beta))
                    rows.append(dict(source=source, seed=seed, distract=beta, misalignment=a, **out))
            print(f"{source} seed {seed} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    table = []
    header = f"{'source':<10} {'beta':>5} {'a':>4} " + " ".join(f"{c:>20}" for c in S.CONDITIONS)
    print("SYNTHETIC VLM: Spearman(reward, task progress) on held-out frames, mean [95% CI] over "
          f"{args.seeds} seeds")
    print(header)
    for source in args.sources.split(","):
        for beta in betas:
            for a in levels:
                sel = [r for r in rows if r["source"] == source and r["distract"] == beta and r["misalignment"] == a]
                cells, entry = [], dict(source=source, distract=beta, misalignment=a, seeds=len(sel))
                for c in S.CONDITIONS:
                    vals = [r[c] for r in sel]
                    lo, hi = bootstrap_ci(vals)
                    entry[c] = {"mean": float(np.mean(vals)), "ci95": [lo, hi]}
                    cells.append(f"{np.mean(vals):+.2f} [{lo:+.2f},{hi:+.2f}]")
                table.append(entry)
                print(f"{source:<10} {beta:>5.2f} {a:>4.1f} " + " ".join(f"{c:>20}" for c in cells))
    if args.json:
        doc = {"synthetic_vlm": True, "command": "python benchmarks/furl_known_answer.py " + " ".join(argv or sys.argv[1:]),
               "settings": vars(args) | {"json": str(args.json)}, "conditions": list(S.CONDITIONS),
               "table": table, "runs": rows, "wall_s": round(time.time() - t0, 1)}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
