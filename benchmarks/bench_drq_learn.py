"""DrQ learning check on a CPU: does the pixel agent learn? DrQ (``cliprl_cli.furl.drq``) on a pixel version of
gymnasium's ``Pendulum-v1`` beside our state SAC (``cliprl_cli.furl.sac``) on the state version, same budget.

Pixel Pendulum: the pendulum drawn from its angle into a ``--side`` px RGB frame (a grey disc at the pivot, a red
rod of length 0.4 side; nothing else: the velocity must come from the frame stack), stacked 3 frames deep, action
repeat 2 (the paper's DrQ settings), random-shift augmentation (pad scaled to the side: ``round(4 * side / 84)``).
The state agent sees Pendulum's 3-d observation with the same action repeat. Both: one gradient step per agent
step after ``--random-steps`` uniform-random agent steps, batch ``--batch-size``, Adam ``--lr``, gamma 0.99,
tau 0.01, target entropy -|A|/2, hidden (256, 256, 256) for DrQ (Table 5) and (256, 256) for SAC (its Table 5
value); the SAC style ``authors`` for both. The returns are Pendulum's own (200 env steps per episode, the reward of
both repeated steps summed; the agents train on it divided by 10): random actions score about -1,200, a swung-up pendulum about -150 to -200.

Evaluation every ``--eval-every`` agent steps: ``--eval-episodes`` episodes with the mean action (seeds 10_000 + k).

    python benchmarks/bench_drq_learn.py --agent-steps 6000 --json benchmarks/results/bench_drq_learn.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cliprl_cli.furl.drq import DrQ  # noqa: E402
from cliprl_cli.furl.frames import FrameBuffer  # noqa: E402
from cliprl_cli.furl.sac import SAC  # noqa: E402

REPEAT, STACK = 2, 3


def draw(theta: float, side: int) -> np.ndarray:
    """A (3, side, side) uint8 frame of the pendulum at angle ``theta`` (0 = upright)."""
    c = (side - 1) / 2.0
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    end = np.array([c + 0.4 * side * np.sin(theta), c - 0.4 * side * np.cos(theta)], dtype=np.float32)
    d = end - np.array([c, c], dtype=np.float32)
    t = np.clip(((xx - c) * d[0] + (yy - c) * d[1]) / float(d @ d), 0.0, 1.0)
    dist = np.hypot(xx - (c + t * d[0]), yy - (c + t * d[1]))
    frame = np.full((3, side, side), 30, dtype=np.uint8)
    rod = dist < max(1.0, side / 24)
    frame[0][rod], frame[1][rod], frame[2][rod] = 220, 60, 40
    pivot = np.hypot(xx - c, yy - c) < max(1.0, side / 20)
    frame[:, pivot] = 160
    return frame


def repeat_step(env, action, steps=REPEAT):
    total = 0.0
    for _ in range(steps):
        o, r, term, trunc, _ = env.step(action)
        total += float(r)
        if term or trunc:
            return o, total, True
    return o, total, False


def theta_of(env) -> float:
    return float(env.unwrapped.state[0])


def evaluate(agent, pixels: bool, side: int, episodes: int) -> float:
    env = gym.make("Pendulum-v1")
    returns = []
    for k in range(episodes):
        o, _ = env.reset(seed=10_000 + k)
        stack = [draw(theta_of(env), side)] * STACK
        ret, done = 0.0, False
        while not done:
            x = torch.from_numpy(np.concatenate(stack)[None]) if pixels else torch.as_tensor(o, dtype=torch.float32)[None]
            a = agent.act(x, deterministic=True)[0].numpy()
            o, r, done = repeat_step(env, 2.0 * a)
            ret += r
            stack = stack[1:] + [draw(theta_of(env), side)]
        returns.append(ret)
    return float(np.mean(returns))


def run(pixels: bool, args) -> dict:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    env = gym.make("Pendulum-v1")
    o, _ = env.reset(seed=args.seed)
    dev = torch.device("cpu")
    pad = max(1, round(4 * args.side / 84))
    if pixels:
        agent = DrQ((3 * STACK, args.side, args.side), 1, device=dev, lr=args.lr, tau=0.01, pad=pad, style="authors")
        buf = FrameBuffer(args.agent_steps + 200, (3, args.side, args.side), 1, stack=STACK)
        buf.add(0, draw(theta_of(env), args.side), first=True)
        stack = [draw(theta_of(env), args.side)] * STACK
    else:
        agent = SAC(3, 1, device=dev, lr=args.lr, tau=0.01, style="authors")
        obs_buf = np.zeros((args.agent_steps, 3), np.float32)
        next_buf = np.zeros_like(obs_buf)
        act_buf = np.zeros((args.agent_steps, 1), np.float32)
        rew_buf = np.zeros(args.agent_steps, np.float32)
    curve, t0, n = [], time.perf_counter(), 0
    for step in range(1, args.agent_steps + 1):
        if step <= args.random_steps:
            a = rng.uniform(-1, 1, size=1).astype(np.float32)
        else:
            x = torch.from_numpy(np.concatenate(stack)[None]) if pixels else torch.as_tensor(o, dtype=torch.float32)[None]
            a = agent.act(x)[0].numpy()
        o2, r, done = repeat_step(env, 2.0 * a)
        if pixels:
            frame = draw(theta_of(env), args.side)
            buf.add(0, frame, first=False, act=a, task_reward=r / 10.0, discount=1)
            stack = stack[1:] + [frame]
        else:
            obs_buf[n], next_buf[n], act_buf[n], rew_buf[n] = o, o2, a, r / 10.0
            n += 1
        o = o2
        if done:  # Pendulum's 200-step limit: a truncation, bootstrapped through (discount 1)
            o, _ = env.reset()
            if pixels:
                first = draw(theta_of(env), args.side)
                buf.add(0, first, first=True)
                stack = [first] * STACK
        if step > args.random_steps:
            if pixels:
                b = buf.sample(args.batch_size, gen)
                agent.update(b["obs"], b["act"], b["task_reward"], b["next_obs"], b["discount"], gen)
            else:
                i = torch.randint(0, n, (args.batch_size,), generator=gen)
                agent.update(torch.from_numpy(obs_buf[i]), torch.from_numpy(act_buf[i]), torch.from_numpy(rew_buf[i]),
                             torch.from_numpy(next_buf[i]), torch.ones(args.batch_size))
        if step % args.eval_every == 0:
            ret = evaluate(agent, pixels, args.side, args.eval_episodes)
            curve.append({"agent_steps": step, "env_steps": REPEAT * step, "return": round(ret, 1),
                          "wall_s": round(time.perf_counter() - t0, 1)})
            print(("drq " if pixels else "sac ") + json.dumps(curve[-1]), flush=True)
    return {"curve": curve, "wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent-steps", type=int, default=6000)
    p.add_argument("--random-steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--side", type=int, default=32)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--agents", nargs="+", default=["drq", "sac"], choices=["drq", "sac"])
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "action_repeat": REPEAT, "frame_stack": STACK}
    for name in args.agents:
        result[name] = run(name == "drq", args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
