"""PPO on the batched grid world, with the exact convergence rule of CLIP-RL's experiments.

One flat file in the CleanRL manner: :func:`train_ppo`'s loop reads as labelled blocks (preemption, rollout and
GAE, update, convergence check, checkpoint), each a plain function of this module that can be called on its own.
The hyperparameters are :class:`cliprl_cli.clip_rl.config.PPOConfig` (re-exported here).

Why PPO (not DQN): on-policy updates over thousands of batched environments need no replay buffer, so a whole
training is a few hundred small matrix products; the actor-critic also gives one network whose weights
(trunk + policy head + value head) are the "policy weights" that CLIP-RL flattens and averages.

Convergence (checked every ``eval_every`` iterations, exhaustively): the greedy policy (argmax of the logits),
started from every cell other than the goal, reaches the goal within the episode cap from all of them, and the
mean path length is within ``path_tolerance`` (5%) of the mean shortest (Manhattan) path length. In the colour x
shape world the starts are every (cell, direction) not already facing the target and the shortest paths come from
a breadth-first search over (cell, direction) (:meth:`cliprl_cli.clip_rl.colour_shape.BatchedColourShape.evaluate_greedy`).

Choices the paper leaves open, written down: reward 1 on reaching the goal and 0 otherwise; ``gamma`` 0.95 so
shorter paths earn more; truncation at ``4 N`` moves is treated as terminal (no bootstrap: the time step is
not in the observation, and with uniformly random starts truncations are rare once learning starts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..adam import Adam
from ..store.checkpoint import PreemptionGuard, load_checkpoint, remove_checkpoint, save_checkpoint
from .config import PPOConfig
from ..errors import PreemptedError
from ..store.formats import finite_or_none
from .greedy import greedy_walk
from .gridworld import BatchedGridWorld, shortest_path_lengths
from .policy import PolicyNet, PolicySpec
from .start_entropy import mean_entropy


@dataclass
class TrainResult:
    """What one training run returns: its outcome, final parameters and the evaluation curve."""

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


def auc_to_horizon(curve: list[dict[str, float]], horizon: int) -> float:
    """Mean success rate over env steps ``[0, horizon]``: a learning-curve area comparable across runs and methods.

    Trapezoids between evaluations (linear between two checks), cut at ``horizon`` by linear interpolation; after
    the last evaluation the last success rate is held (a run stops when it converges, and its policy is then
    kept; a censored run's curve already reaches its budget). Divided by ``horizon``, so 1.0 means every start
    succeeded from step 0 and the value is in [0, 1]. The curve must start at step 0 (``train_ppo`` evaluates the
    initial policy first).
    """
    if horizon <= 0:
        raise ValueError(f"AUC horizon must be positive, got {horizon}")
    if not curve:
        return 0.0
    area = 0.0
    for a, b in zip(curve, curve[1:]):
        x0, x1 = a["env_steps"], b["env_steps"]
        if x0 >= horizon:
            break
        y0, y1 = a["success_rate"], b["success_rate"]
        if x1 > horizon:  # cut the segment at the horizon
            y1 = y0 + (y1 - y0) * (horizon - x0) / (x1 - x0)
            x1 = horizon
        area += 0.5 * (y0 + y1) * (x1 - x0)
    last = curve[-1]
    if last["env_steps"] < horizon:
        area += last["success_rate"] * (horizon - last["env_steps"])
    return area / horizon


@torch.no_grad()
def evaluate_greedy(policy: Callable[[torch.Tensor], torch.Tensor], size: int, goal: tuple[int, int],
                    max_steps: int) -> dict[str, float]:
    """Run the greedy policy from every non-goal cell at once; report reach rate and path-length ratio.

    ``policy`` maps encoded observations (B, 2N) to action logits (B, 4). Returns ``success_rate`` (fraction of
    start cells that reach the goal within ``max_steps``), ``path_ratio`` (sum of path lengths over sum of
    shortest path lengths, over the cells that reached; ``inf`` when none did) and ``mean_length``.
    """
    env = BatchedGridWorld(size, goal, 1, max_steps=max_steps)
    cells = torch.arange(size * size)
    successor = env.move(cells, policy(env.observe(cells)).argmax(dim=1))
    goal_index = env.goal_cell
    starts = cells[cells != goal_index]
    shortest = shortest_path_lengths(size, goal).reshape(-1)[starts].float()
    return greedy_walk(successor, starts, shortest, max_steps, lambda pos: pos == goal_index)


def is_converged(evaluation: dict[str, float], tolerance: float = 0.05) -> bool:
    """The convergence rule: every start reaches the goal and the mean path is within ``tolerance`` of optimal."""
    return evaluation["success_rate"] >= 1.0 and evaluation["path_ratio"] <= 1.0 + tolerance


def sample_actions(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A categorical draw per row by the Gumbel-max trick, from our own generator (so the run's RNG state is
    checkpointable, which ``torch.multinomial`` on the global generator would not make easy)."""
    u = torch.rand(logits.shape, generator=generator).clamp_(1e-10, 1.0)
    return (logits - torch.log(-torch.log(u))).argmax(dim=1)


@dataclass
class Rollout:
    """The buffers of one rollout: ``num_steps`` x ``num_envs`` transitions, reused every iteration."""

    obs: torch.Tensor       # (T, B, 2N) encoded observations
    actions: torch.Tensor   # (T, B) actions taken
    logprobs: torch.Tensor  # (T, B) their log-probabilities under the acting policy
    rewards: torch.Tensor   # (T, B)
    dones: torch.Tensor     # (T, B) 1.0 where transition t ended its episode
    values: torch.Tensor    # (T, B) the critic's value of obs

    @classmethod
    def empty(cls, num_steps: int, num_envs: int, obs_dim: int) -> "Rollout":
        return cls(obs=torch.zeros(num_steps, num_envs, obs_dim),
                   actions=torch.zeros(num_steps, num_envs, dtype=torch.long),
                   logprobs=torch.zeros(num_steps, num_envs), rewards=torch.zeros(num_steps, num_envs),
                   dones=torch.zeros(num_steps, num_envs), values=torch.zeros(num_steps, num_envs))


@dataclass
class LoopState:
    """What the training loop advances, and what a checkpoint saves besides the tensors."""

    iteration: int = 0
    env_steps: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    elapsed_before: float = 0.0        # wall seconds spent before the last resume
    resumed_from: int | None = None    # env steps of the checkpoint resumed from


@torch.no_grad()
def collect_rollout(net: PolicyNet, env: BatchedGridWorld, generator: torch.Generator, buf: Rollout) -> torch.Tensor:
    """Step every environment ``num_steps`` times with the sampling policy, filling ``buf``; returns the value of
    the observation after the last step (the bootstrap of GAE)."""
    obs = env.observe()
    for t in range(buf.obs.shape[0]):
        logits, value = net(obs)
        action = sample_actions(logits, generator)
        buf.obs[t], buf.actions[t], buf.values[t] = obs, action, value
        buf.logprobs[t] = torch.log_softmax(logits, dim=1).gather(1, action.unsqueeze(1)).squeeze(1)
        cell, reward, terminated, truncated = env.step(action)
        buf.rewards[t], buf.dones[t] = reward, (terminated | truncated).float()
        obs = env.observe(cell)
    _, next_value = net(obs)
    return next_value


@torch.no_grad()
def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
                gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns, (T, B) each.

    ``dones[t]`` means transition t ended its episode, so nothing is bootstrapped through it.
    """
    num_steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(rewards.shape[1])
    for t in reversed(range(num_steps)):
        nxt = next_value if t == num_steps - 1 else values[t + 1]
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * nxt * nonterminal - values[t]
        last = delta + gamma * gae_lambda * nonterminal * last
        advantages[t] = last
    return advantages, advantages + values


def ppo_update(net: PolicyNet, optimizer: Adam, buf: Rollout, advantages: torch.Tensor, returns: torch.Tensor,
               config: PPOConfig, generator: torch.Generator) -> None:
    """``epochs`` passes of the clipped-surrogate loss over the rollout, in ``minibatches`` shuffled minibatches,
    with per-minibatch advantage normalisation, a value loss, an entropy bonus and gradient clipping."""
    batch = buf.actions.numel()
    minibatch = batch // config.minibatches
    b_obs, b_act = buf.obs.reshape(batch, -1), buf.actions.reshape(batch)
    b_logp, b_adv, b_ret = buf.logprobs.reshape(batch), advantages.reshape(batch), returns.reshape(batch)
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


def check_convergence(net: PolicyNet, env: BatchedGridWorld, state: LoopState, elapsed: float,
                      tolerance: float, progress: Any = None, entropy_observations: torch.Tensor | None = None) -> bool:
    """Evaluate the greedy policy exhaustively, append the point to ``state.curve``, report it; True if converged.
    With ``entropy_observations`` (the start states, encoded) the point also holds the policy's mean entropy there:
    how confident the sampling policy is, which the greedy evaluation cannot show.

    A world with its own exhaustive evaluation (the colour-shape twin: every (cell, direction) start, shortest
    paths by BFS) provides ``env.evaluate_greedy(policy)``; the grid world uses :func:`evaluate_greedy`."""
    own = getattr(env, "evaluate_greedy", None)
    if own is not None:
        evaluation = own(lambda o: net(o)[0])
    else:
        evaluation = evaluate_greedy(lambda o: net(o)[0], env.size, env.goal, env.max_steps)
    own_rule = getattr(env, "is_converged", None)  # random layouts (BabyAI): success and length against the bot
    state.curve.append({"env_steps": state.env_steps, "success_rate": evaluation["success_rate"],
                        "path_ratio": finite_or_none(evaluation["path_ratio"]), "wall_s": round(elapsed, 4)})
    if entropy_observations is not None:
        with torch.no_grad():
            state.curve[-1]["entropy"] = mean_entropy(net(entropy_observations)[0])
    if progress is not None:
        progress.update(state.env_steps, success=evaluation["success_rate"], path_ratio=evaluation["path_ratio"])
    return own_rule(evaluation) if own_rule is not None else is_converged(evaluation, tolerance)


def save_training_checkpoint(path: str | Path, net: PolicyNet, optimizer: Adam, generator: torch.Generator,
                             env: BatchedGridWorld, state: LoopState, elapsed: float, run_config: dict) -> None:
    """Save everything a resumed run needs to continue bit for bit: network, optimiser, RNG, environments, loop."""
    tensors = {f"net/{k}": v for k, v in net.state_dict().items()}
    tensors.update(optimizer.state_tensors())
    tensors["rng/generator"] = generator.get_state()
    tensors.update({f"env/{k}": v for k, v in env.state_dict().items()})  # grid worlds: cell, t
    save_checkpoint(path, tensors, {"iteration": state.iteration, "env_steps": state.env_steps,
                                    "curve": state.curve, "elapsed_s": elapsed}, run_config)


def restore_training_checkpoint(path: str | Path, net: PolicyNet, optimizer: Adam, generator: torch.Generator,
                                env: BatchedGridWorld, run_config: dict) -> LoopState | None:
    """Load a checkpoint written for ``run_config`` into the given objects; None when there is no valid one."""
    loaded = load_checkpoint(path, run_config)
    if loaded is None:
        return None
    tensors, saved = loaded
    net.load_state_dict({k[len("net/"):]: v for k, v in tensors.items() if k.startswith("net/")})
    optimizer.load_state_tensors(tensors)
    generator.set_state(tensors["rng/generator"])
    env.load_state_dict({k[len("env/"):]: v for k, v in tensors.items() if k.startswith("env/")})
    curve = [{**p, "path_ratio": finite_or_none(p.get("path_ratio"))} for p in saved["curve"]]  # old: Infinity
    return LoopState(iteration=saved["iteration"], env_steps=saved["env_steps"], curve=curve,
                     elapsed_before=saved["elapsed_s"], resumed_from=saved["env_steps"])


def _stop_requested(guard: PreemptionGuard, stop_event: Any) -> str:
    """The name of the stop asked for (a signal to this process, or the parent's event), or ''."""
    if guard.signal_name:
        return guard.signal_name
    return "SIGTERM (from the parent)" if stop_event is not None and stop_event.is_set() else ""


def train_ppo(spec: PolicySpec, goal: tuple[int, int], config: PPOConfig, *, seed: int,
              init_params: dict[str, torch.Tensor] | None = None, checkpoint_path: str | Path | None = None,
              checkpoint_every_s: float = 60.0, progress: Any = None, run_config: dict | None = None,
              keep_checkpoint: bool = False, stop_event: Any = None,
              env_factory: Callable[[int, torch.Generator], Any] | None = None,
              entropy_observations: torch.Tensor | None = None) -> TrainResult:
    """Train a policy for ``goal`` until it converges or the budget runs out.

    ``init_params`` initialises the network (transfer); otherwise it is seeded from ``seed``. With a
    ``checkpoint_path``, the state is saved every ``checkpoint_every_s`` seconds and when SIGTERM/SIGUSR1
    arrives (then :class:`PreemptedError` is raised), and a valid checkpoint there is resumed from.
    ``stop_event`` (a ``multiprocessing.Event``) asks for the same stop: a pool worker learns of its parent's
    signal from it (see ``transfer._run_jobs``).
    ``env_factory(num_envs, generator)`` builds the batched environments of a world that a suite fixes (the
    colour-shape twin, :meth:`cliprl_cli.clip_rl.colour_shape.ColourShapeSuite.env_factory`); None: the grid world of
    ``spec.grid_size`` with ``goal``.
    ``entropy_observations``: record the policy's mean entropy on these encoded states at every check.
    ``run_config`` is what a checkpoint must match to be resumed (defaults to spec + config + seed + goal).
    With ``keep_checkpoint`` the caller removes the checkpoint itself, once it has written its artifact, so a
    kill between the end of training and the write loses nothing.
    """
    # ---- setup: one generator drives the environments, the action draws and the minibatch order
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the network's initialisation
    net = PolicyNet(spec)
    if init_params is not None:
        net.load_state_dict(init_params)
    optimizer = Adam(net.parameters(), lr=config.learning_rate, eps=1e-5)
    if env_factory is None:
        env = BatchedGridWorld(spec.grid_size, goal, config.num_envs, generator=generator)
    else:
        env = env_factory(config.num_envs, generator)
    try:
        return _train(net, optimizer, generator, env, spec, goal, config, seed=seed, checkpoint_path=checkpoint_path,
                      checkpoint_every_s=checkpoint_every_s, progress=progress, run_config=run_config,
                      keep_checkpoint=keep_checkpoint, stop_event=stop_event,
                      entropy_observations=entropy_observations)
    finally:
        close = getattr(env, "close", None)  # worker processes of a vector environment (BabyAI)
        if close is not None:
            close()


def _train(net: PolicyNet, optimizer: Adam, generator: torch.Generator, env: Any, spec: PolicySpec,
           goal: tuple[int, ...], config: PPOConfig, *, seed: int, checkpoint_path: str | Path | None,
           checkpoint_every_s: float, progress: Any, run_config: dict | None, keep_checkpoint: bool,
           stop_event: Any, entropy_observations: torch.Tensor | None) -> TrainResult:
    """:func:`train_ppo`'s loop on a built network, optimiser and environment."""
    env.reset()
    batch = config.num_envs * config.num_steps
    max_iterations = max(1, -(-config.max_env_steps // batch))
    ckpt_config = run_config or {"spec": spec.to_dict(), "ppo": config.to_dict(), "seed": seed, "goal": list(goal)}
    buf = Rollout.empty(config.num_steps, config.num_envs, spec.input_dim)

    # ---- resume
    state = None
    if checkpoint_path is not None:
        state = restore_training_checkpoint(checkpoint_path, net, optimizer, generator, env, ckpt_config)
        if state is not None and progress is not None:
            progress.log(f"resumed from checkpoint {checkpoint_path} at {state.env_steps} env steps")
    state = state or LoopState()
    start = time.perf_counter()
    last_ckpt = start

    def elapsed() -> float:
        return state.elapsed_before + time.perf_counter() - start

    converged = False
    with PreemptionGuard() as guard:
        # The initial policy is checked too: a transferred initialisation may already solve the task (0 steps).
        if not state.curve:
            converged = check_convergence(net, env, state, 0.0, config.path_tolerance, progress,
                                          entropy_observations)
        while not converged and state.iteration < max_iterations:
            # ---- preemption: checkpoint and stop
            stop = _stop_requested(guard, stop_event)
            if stop and checkpoint_path is not None:
                save_training_checkpoint(checkpoint_path, net, optimizer, generator, env, state, elapsed(),
                                         ckpt_config)
                raise PreemptedError(f"received {stop}: checkpoint written to {checkpoint_path} at "
                                     f"{state.env_steps} env steps; rerun the same command to resume")
            # ---- rollout and GAE
            next_value = collect_rollout(net, env, generator, buf)
            advantages, returns = compute_gae(buf.rewards, buf.values, buf.dones, next_value, config.gamma,
                                              config.gae_lambda)
            state.env_steps += batch
            state.iteration += 1
            # ---- update
            ppo_update(net, optimizer, buf, advantages, returns, config, generator)
            # ---- convergence check
            if state.iteration % config.eval_every == 0 or state.iteration == max_iterations:
                if check_convergence(net, env, state, elapsed(), config.path_tolerance, progress,
                                     entropy_observations):
                    converged = True
                    break
            # ---- periodic checkpoint
            if checkpoint_path is not None and time.perf_counter() - last_ckpt >= checkpoint_every_s:
                save_training_checkpoint(checkpoint_path, net, optimizer, generator, env, state, elapsed(),
                                         ckpt_config)
                last_ckpt = time.perf_counter()

    wall = elapsed()
    if checkpoint_path is not None and not keep_checkpoint:
        remove_checkpoint(checkpoint_path)
    params = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return TrainResult(converged=converged, env_steps=state.env_steps, iterations=state.iteration, wall_time_s=wall,
                       params=params, curve=state.curve, resumed_from_step=state.resumed_from)
