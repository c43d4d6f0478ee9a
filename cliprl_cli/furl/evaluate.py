"""Evaluation of the FuRL agent: its mean action on the evaluation environment, for either observation."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .context import RunContext
    from .state import RunState


def evaluate(st: RunState, ctx: RunContext) -> dict[str, float]:
    """``eval_episodes`` episodes of the agent's mean action on the evaluation environment.

    The action is repeated as in training (``ctx.observation``), and returns and successes are counted over every
    environment step. ``success_any``: fraction of episodes with a success at any step (Meta-World's convention);
    ``success_last``: at the last step (the paper's); ``return``: Meta-World's dense return; ``sparse_return``: sum
    of success - 1.
    """
    t0 = time.perf_counter()
    cfg, env, view = ctx.cfg, ctx.eval_env, ctx.observation
    repeat = view.action_repeat(cfg)
    any_s, last_s, rets, sparse = [], [], [], []
    for _ in range(cfg.eval_episodes):
        obs = view.eval_reset(ctx, env)
        ret = sp = 0.0
        hit = done = False
        info = {"success": 0.0}
        while not done:
            a = st.agent.act(view.eval_input(ctx, obs), deterministic=True)[0].cpu().numpy()
            for _ in range(repeat):
                env_obs, r, term, trunc, info = env.step(a)
                ret += float(r)
                sp += float(info["success"]) - 1.0
                hit = hit or bool(info["success"])
                if term or trunc:
                    done = True
                    break
            if not done:
                obs = view.eval_next(ctx, env, obs, env_obs)
        any_s.append(hit)
        last_s.append(bool(info["success"]))
        rets.append(ret)
        sparse.append(sp)
    st.timings["eval"] += time.perf_counter() - t0
    return {"success_any": float(np.mean(any_s)), "success_last": float(np.mean(last_s)),
            "return": float(np.mean(rets)), "sparse_return": float(np.mean(sparse))}
