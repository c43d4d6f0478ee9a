"""PPO on the batched grid world, with the exact convergence rule of CLIP-RL's experiments.

One flat file in the CleanRL manner: rollout, GAE, clipped surrogate update, and the convergence check.

Why PPO (not DQN): on-policy updates over thousands of batched environments need no replay buffer, so a whole
training is a few hundred small matrix products; the actor-critic also gives one network whose weights
(trunk + policy head + value head) are the "policy weights" that CLIP-RL flattens and averages.

Convergence (checked every ``eval_every`` iterations, exhaustively): the greedy policy (argmax of the logits),
started from every cell other than the goal, reaches the goal within the episode cap from all of them, and the
mean path length is within ``path_tolerance`` (5%) of the mean shortest (Manhattan) path length.

Choices the paper leaves open, written down: reward 1 on reaching the goal and 0 otherwise; ``gamma`` 0.95 so
shorter paths earn more; truncation at ``4 N`` moves is treated as terminal (no bootstrap: the time step is
not in the observation, and with uniformly random starts truncations are rare once learning starts).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .adam import Adam
from .checkpoint import PreemptionGuard, load_checkpoint, remove_checkpoint, save_checkpoint
from .errors import PreemptedError
from .gridworld import BatchedGridWorld, shortest_path_lengths
from .policy import PolicyNet, PolicySpec


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyperparameters and the step budget (recorded in every artifact)."""

    num_envs: int = 256           # environments stepped together
    num_steps: int = 16           # rollout length per environment per iteration
    epochs: int = 4               # passes over each rollout
    minibatches: int = 2          # minibatches per pass (2 beat 4 and 1 on steps and time; benchmarks/README)
    lr: float = 2.5e-3            # Adam learning rate
    gamma: float = 0.95           # discount
    gae_lambda: float = 0.9       # GAE lambda
    clip: float = 0.2             # PPO ratio clip
    ent_coef: float = 0.01        # entropy bonus
    vf_coef: float = 0.5          # value-loss weight
    max_grad_norm: float = 0.5    # gradient clipping
    max_env_steps: int = 2_000_000  # budget: a run that has not converged by then fails (censored)
    eval_every: int = 1           # iterations between exhaustive convergence checks
    path_tolerance: float = 0.05  # mean greedy path length within 5% of the shortest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    converged: bool
    env_steps: int                 # env steps at convergence (or the budget, when censored)
    iterations: int
    wall_time_s: float
    params: dict[str, torch.Tensor]
    curve: list[dict[str, float]] = field(default_factory=list)
    resumed_from_step: int | None = None

    @property
    def auc(self) -> float:
        """Area under the success-rate curve, normalised by the budget reached (in [0, 1])."""
        return curve_auc(self.curve)


def curve_auc(curve: list[dict[str, float]]) -> float:
    """Trapezoidal area under success rate vs env steps, divided by the last step (0 when empty)."""
    if len(curve) < 2:
        return float(curve[0]["success_rate"]) if curve else 0.0
    area = 0.0
    for a, b in zip(curve, curve[1:]):
        area += 0.5 * (a["success_rate"] + b["success_rate"]) * (b["env_steps"] - a["env_steps"])
    span = curve[-1]["env_steps"] - curve[0]["env_steps"]
    return area / span if span > 0 else float(curve[-1]["success_rate"])


@torch.no_grad()
def evaluate_greedy(policy: Callable[[torch.Tensor], torch.Tensor], size: int, goal: tuple[int, int],
                    max_steps: int) -> dict[str, float]:
    """Run the greedy policy from every non-goal cell at once; report reach rate and path-length ratio.

    ``policy`` maps encoded observations (B, 2N) to action logits (B, 4). Returns ``success_rate`` (fraction of
    start cells that reach the goal within ``max_steps``), ``path_ratio`` (sum of path lengths over sum of
    shortest path lengths, over the cells that reached; ``inf`` when none did) and ``mean_length``.
    """
    env = BatchedGridWorld(size, goal, 1, max_steps=max_steps)
    # The greedy policy is deterministic and the state is the cell, so one forward pass over all cells gives a
    # successor table; following it from every start is pure integer indexing (no network call per step).
    cells = torch.arange(size * size)
    successor = env.move(cells, policy(env.observe(cells)).argmax(dim=1))
    goal_index = env.goal_cell
    starts = cells[cells != goal_index]
    shortest = shortest_path_lengths(size, goal).reshape(-1)[starts].float()
    pos = starts.clone()
    active = torch.ones(len(starts), dtype=torch.bool)
    lengths = torch.zeros(len(starts))
    for _ in range(max_steps):
        pos = torch.where(active, successor[pos], pos)
        lengths += active.float()
        active &= pos != goal_index
        if not active.any():
            break
    reached = ~active
    success_rate = reached.float().mean().item()
    if reached.any():
        path_ratio = (lengths[reached].sum() / shortest[reached].sum()).item()
        mean_length = lengths[reached].mean().item()
    else:
        path_ratio, mean_length = float("inf"), float("inf")
    return {"success_rate": success_rate, "path_ratio": path_ratio, "mean_length": mean_length}


def is_converged(evaluation: dict[str, float], tolerance: float = 0.05) -> bool:
    """The convergence rule: every start reaches the goal and the mean path is within ``tolerance`` of optimal."""
    return evaluation["success_rate"] >= 1.0 and evaluation["path_ratio"] <= 1.0 + tolerance


def _sample_actions(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # Gumbel-max: a categorical draw that uses our own generator, so the run's RNG state is checkpointable.
    u = torch.rand(logits.shape, generator=generator).clamp_(1e-10, 1.0)
    return (logits - torch.log(-torch.log(u))).argmax(dim=1)


def train_ppo(spec: PolicySpec, goal: tuple[int, int], config: PPOConfig, *, seed: int,
              init_params: dict[str, torch.Tensor] | None = None, checkpoint_path: str | Path | None = None,
              checkpoint_every_s: float = 60.0, progress: Any = None, run_config: dict | None = None,
              keep_checkpoint: bool = False, stop_event: Any = None) -> TrainResult:
    """Train a policy for ``goal`` until it converges or the budget runs out.

    ``init_params`` initialises the network (transfer); otherwise it is seeded from ``seed``. With a
    ``checkpoint_path``, the state is saved every ``checkpoint_every_s`` seconds and when SIGTERM/SIGUSR1
    arrives (then :class:`PreemptedError` is raised), and a valid checkpoint there is resumed from.
    ``stop_event`` (a ``multiprocessing.Event``) asks for the same stop: a pool worker learns of its parent's
    signal from it (see ``transfer._run_jobs``).
    ``run_config`` is what a checkpoint must match to be resumed (defaults to spec + config + seed + goal).
    With ``keep_checkpoint`` the caller removes the checkpoint itself, once it has written its artifact, so a
    kill between the end of training and the write loses nothing.
    """
    size = spec.grid_size
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = PolicyNet(spec)
    if init_params is not None:
        net.load_state_dict(init_params)
    optimizer = Adam(net.parameters(), lr=config.lr, eps=1e-5)
    env = BatchedGridWorld(size, goal, config.num_envs, generator=generator)
    env.reset()

    batch = config.num_envs * config.num_steps
    minibatch = batch // config.minibatches
    max_iterations = max(1, -(-config.max_env_steps // batch))
    curve: list[dict[str, float]] = []
    iteration, env_steps, elapsed_before, resumed_from = 0, 0, 0.0, None
    converged = False
    ckpt_config = run_config or {"spec": spec.to_dict(), "ppo": config.to_dict(), "seed": seed, "goal": list(goal)}

    if checkpoint_path is not None:
        loaded = load_checkpoint(checkpoint_path, ckpt_config)
        if loaded is not None:
            tensors, state = loaded
            net.load_state_dict({k[len("net/"):]: v for k, v in tensors.items() if k.startswith("net/")})
            optimizer.load_state_tensors(tensors)
            generator.set_state(tensors["rng/generator"])
            env.load_state_dict({"cell": tensors["env/cell"], "t": tensors["env/t"]})
            iteration, env_steps = state["iteration"], state["env_steps"]
            curve, elapsed_before = state["curve"], state["elapsed_s"]
            resumed_from = env_steps
            if progress is not None:
                progress.log(f"resumed from checkpoint {checkpoint_path} at {env_steps} env steps")

    def write_checkpoint(elapsed: float) -> None:
        tensors = {f"net/{k}": v for k, v in net.state_dict().items()}
        tensors.update(optimizer.state_tensors())
        tensors["rng/generator"] = generator.get_state()
        tensors["env/cell"], tensors["env/t"] = env.cell, env.t
        save_checkpoint(checkpoint_path, tensors, {"iteration": iteration, "env_steps": env_steps,
                                                   "curve": curve, "elapsed_s": elapsed}, ckpt_config)

    start = time.perf_counter()
    last_ckpt = start
    obs_buf = torch.zeros(config.num_steps, config.num_envs, 2 * size)
    act_buf = torch.zeros(config.num_steps, config.num_envs, dtype=torch.long)
    logp_buf = torch.zeros(config.num_steps, config.num_envs)
    rew_buf = torch.zeros(config.num_steps, config.num_envs)
    done_buf = torch.zeros(config.num_steps, config.num_envs)
    val_buf = torch.zeros(config.num_steps, config.num_envs)

    def check(elapsed: float) -> bool:
        evaluation = evaluate_greedy(lambda o: net(o)[0], size, goal, env.max_steps)
        curve.append({"env_steps": env_steps, "success_rate": evaluation["success_rate"],
                      "path_ratio": evaluation["path_ratio"], "wall_s": round(elapsed, 4)})
        if progress is not None:
            progress.update(env_steps, success=evaluation["success_rate"], path_ratio=evaluation["path_ratio"])
        return is_converged(evaluation, config.path_tolerance)

    with PreemptionGuard() as guard:
        # The initial policy is checked too: a transferred initialisation may already solve the task (0 steps).
        if not curve:
            converged = check(0.0)
        while not converged and iteration < max_iterations:
            stop = guard.signal_name or ("SIGTERM (from the parent)" if stop_event is not None and stop_event.is_set()
                                         else "")
            if stop and checkpoint_path is not None:
                write_checkpoint(elapsed_before + time.perf_counter() - start)
                raise PreemptedError(f"received {stop}: checkpoint written to {checkpoint_path} at "
                                     f"{env_steps} env steps; rerun the same command to resume")
            # ---- rollout
            obs = env.observe()
            with torch.no_grad():
                for t in range(config.num_steps):
                    logits, value = net(obs)
                    action = _sample_actions(logits, generator)
                    obs_buf[t], act_buf[t], val_buf[t] = obs, action, value
                    logp_buf[t] = torch.log_softmax(logits, dim=1).gather(1, action.unsqueeze(1)).squeeze(1)
                    cell, reward, terminated, truncated = env.step(action)
                    rew_buf[t], done_buf[t] = reward, (terminated | truncated).float()
                    obs = env.observe(cell)
                _, next_value = net(obs)
                # ---- GAE (done at step t means the transition t ended its episode: no bootstrap through it)
                advantages = torch.zeros_like(rew_buf)
                last = torch.zeros(config.num_envs)
                for t in reversed(range(config.num_steps)):
                    nxt = next_value if t == config.num_steps - 1 else val_buf[t + 1]
                    nonterminal = 1.0 - done_buf[t]
                    delta = rew_buf[t] + config.gamma * nxt * nonterminal - val_buf[t]
                    last = delta + config.gamma * config.gae_lambda * nonterminal * last
                    advantages[t] = last
                returns = advantages + val_buf
            env_steps += batch
            iteration += 1
            # ---- update
            b_obs, b_act = obs_buf.reshape(batch, -1), act_buf.reshape(batch)
            b_logp, b_adv, b_ret = logp_buf.reshape(batch), advantages.reshape(batch), returns.reshape(batch)
            for _ in range(config.epochs):
                order = torch.randperm(batch, generator=generator)
                for begin in range(0, batch, minibatch):
                    idx = order[begin:begin + minibatch]
                    logits, value = net(b_obs[idx])
                    logp_all = torch.log_softmax(logits, dim=1)
                    logp = logp_all.gather(1, b_act[idx].unsqueeze(1)).squeeze(1)
                    ratio = (logp - b_logp[idx]).exp()
                    adv = b_adv[idx]
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    policy_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - config.clip, 1 + config.clip)).mean()
                    value_loss = 0.5 * (value - b_ret[idx]).pow(2).mean()
                    entropy = -(logp_all.exp() * logp_all).sum(dim=1).mean()
                    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm, foreach=True)
                    optimizer.step()
            # ---- convergence check
            if iteration % config.eval_every == 0 or iteration == max_iterations:
                if check(elapsed_before + time.perf_counter() - start):
                    converged = True
                    break
            if checkpoint_path is not None and time.perf_counter() - last_ckpt >= checkpoint_every_s:
                write_checkpoint(elapsed_before + time.perf_counter() - start)
                last_ckpt = time.perf_counter()

    wall = elapsed_before + time.perf_counter() - start
    if checkpoint_path is not None and not keep_checkpoint:
        remove_checkpoint(checkpoint_path)
    params = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return TrainResult(converged=converged, env_steps=env_steps, iterations=iteration, wall_time_s=wall,
                       params=params, curve=curve, resumed_from_step=resumed_from)
