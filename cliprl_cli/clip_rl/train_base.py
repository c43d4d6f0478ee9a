"""`cliprl train-base`: train one base policy to convergence and write it as an artifact (``--all``: every
``base_tasks`` entry of the suite, each into ``OUT/<slug>``).

Output directory layout::

    OUT/policy.safetensors   the network parameters (PolicyNet state_dict; same bytes for the same seed on the CPU)
    OUT/policy.json          sidecar: kind "base-policy", instruction, goal, spec (architecture + encoding),
                             PPO config, seed, metrics (env steps and wall time to convergence, AUC), provenance
    OUT/curve.json           the learning curve: [{env_steps, success_rate, path_ratio, wall_s}, ...]
    OUT/checkpoint.*         only while a run is in progress or was preempted (removed on completion)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store.artifacts import load_artifact, save_artifact
from ..store.checkpoint import PreemptionGuard, remove_checkpoint
from .config import DEFAULT_GRID_SIZE, DEFAULT_HIDDEN, TrainBaseConfig, resolve_ppo
from ..errors import CliprlError, NotConvergedError
from ..store.formats import BaseCurve, CurvePoint
from .policy import PolicySpec
from .ppo import TrainResult, train_ppo
from ..progress import ConvergenceProgress
from ..seeding import seed_everything
from .tasks import load_suite, slug, world_label

POLICY_FILE = "policy.safetensors"
CURVE_FILE = "curve.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
KIND = "base-policy"


def resolve_grid_size(suite: Any, grid_size: int | None) -> int:
    """The grid size to use: a grid-world suite takes ``grid_size`` (default 10); a suite that fixes its world
    (colour-shape) takes none, and a ``--grid-size`` given with it is an error rather than silently ignored."""
    if suite.fixes_world:
        if grid_size is not None:
            raise CliprlError(f"suite {suite.name!r} ({suite.source}) fixes its world ({suite.world}); "
                              "drop --grid-size")
        return suite.grid_size if suite.random_layouts else suite.layout.width
    return DEFAULT_GRID_SIZE if grid_size is None else grid_size


def resolve_hidden(suite: Any, hidden: int | None) -> int:
    """Hidden units per layer: ``--hidden`` when given, else the suite's ``hidden`` (a BabyAI suite may name one),
    else :data:`~cliprl_cli.clip_rl.config.DEFAULT_HIDDEN`."""
    if hidden is not None:
        return hidden
    return getattr(suite, "hidden", None) or DEFAULT_HIDDEN


def train_base(task: str, out: str | Path, cfg: TrainBaseConfig = TrainBaseConfig(), *,
               tasks_file: str | Path | None = None, quiet: bool = False) -> dict[str, Any]:
    """Train the base policy for ``task`` with the settings ``cfg`` and write it to ``out``; returns the metrics.

    ``cfg.grid_size`` is None for a suite that fixes its world (the colour-shape suites), whose layout then gives
    the architecture and whose twin the trainer steps; its policy records ``environment`` and ``layout``.

    Raises :class:`NotConvergedError` (exit 3) when the budget runs out first; nothing is then written to
    ``out`` (an artifact already there is left untouched).
    """
    suite = load_suite(tasks_file)
    grid_size = resolve_grid_size(suite, cfg.grid_size)
    suite.check_size(grid_size)
    goal = suite.goal(task, grid_size)
    ppo = resolve_ppo(cfg.ppo, suite, num_envs=cfg.ppo.num_envs)  # the world's own settings (config.py)
    seed, threads = cfg.seed, cfg.threads
    hidden = resolve_hidden(suite, cfg.hidden)
    random_layouts = suite.random_layouts
    if random_layouts:  # BabyAI: the egocentric view's architecture, the task's level on worker processes
        from .babyai import episode_rule

        spec = PolicySpec(hidden=hidden, layers=cfg.layers, **suite.policy_spec_fields())
        env_factory = suite.env_factory(task, episode_rule(ppo), workers=cfg.env_workers)
        world = f"{suite.environment(task)} level"
    elif suite.fixes_world:  # the colour-shape world: architecture from the layout, environments from the suite
        spec = PolicySpec(hidden=hidden, layers=cfg.layers, **suite.policy_spec_fields())
        env_factory, world = suite.env_factory(task), suite.world
    else:
        spec = PolicySpec(grid_size=grid_size, hidden=hidden, layers=cfg.layers)
        env_factory, world = None, f"{grid_size}x{grid_size} grid"
    seed_everything(seed, threads=threads)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CliprlError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    config = {"task": task, "goal": list(goal), "grid_size": grid_size, "suite": suite.name,
              "spec": spec.to_dict(), "ppo": ppo.to_dict(), "seed": seed, "threads": threads}
    if random_layouts:
        config.update(suite.record(task))  # the level, how its mission is held (the rule is in ppo)
    elif suite.fixes_world:
        config.update(suite.record())  # environment and layout, checked when a library is read
    label = world_label(suite, grid_size)
    # A SIGTERM that arrives once training is over (during the write) is held back: the run finishes and exits 0.
    with PreemptionGuard(), ConvergenceProgress(f"train-base {label} '{task}' seed {seed}", ppo.max_env_steps,
                                                tolerance=ppo.bot_length_bound if random_layouts
                                                else ppo.path_tolerance, quiet=quiet,
                                                success_threshold=ppo.success_threshold) as progress:
        result = train_ppo(spec, goal, ppo, seed=seed, checkpoint_path=out / CHECKPOINT_FILE,
                           checkpoint_every_s=cfg.checkpoint_every_s, progress=progress, run_config=config,
                           keep_checkpoint=True, env_factory=env_factory)
        if not result.converged:
            remove_checkpoint(out / CHECKPOINT_FILE)
            raise NotConvergedError(
                f"'{task}' on a {world} did not converge within {ppo.max_env_steps} env steps "
                f"(last check: success {result.curve[-1]['success_rate']:.3f}, path ratio "
                f"{result.curve[-1]['path_ratio'] or float('inf'):.3f}); no artifact written; raise --max-env-steps")
        metrics = write_policy_artifact(out, result, config=config, kind=KIND)
        remove_checkpoint(out / CHECKPOINT_FILE)
    if not quiet:
        progress.log(f"converged in {result.env_steps} env steps, {result.wall_time_s:.1f}s -> {out / POLICY_FILE}")
    return metrics


def train_base_all(out: str | Path, cfg: TrainBaseConfig = TrainBaseConfig(), *,
                   tasks_file: str | Path | None = None, quiet: bool = False) -> dict[str, dict[str, Any]]:
    """Train every ``base_tasks`` entry of the suite into ``out/<slug>`` (the layout `align` and `transfer` read);
    returns instruction -> metrics. Tasks run one after another with the same settings, exactly as separate
    ``cliprl train-base --task`` runs would (same bytes)."""
    suite = load_suite(tasks_file)
    if not suite.base_tasks:
        raise CliprlError(f"suite {suite.name!r} ({suite.source}) lists no base_tasks; --all trains those "
                          "(add a base_tasks list, or train one task with --task)")
    suite.check_size(resolve_grid_size(suite, cfg.grid_size))
    out = Path(out)
    return {task: train_base(task, out / slug(task), cfg, tasks_file=tasks_file, quiet=quiet)
            for task in suite.base_tasks}


def write_policy_artifact(out: Path, result: TrainResult, *, config: dict[str, Any], kind: str,
                          extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``policy.safetensors`` (+ sidecar) and ``curve.json`` for a finished run; returns its metrics."""
    metrics = {"converged": result.converged, "env_steps": result.env_steps, "iterations": result.iterations,
               "wall_time_s": round(result.wall_time_s, 4), "auc": result.auc,
               "final_success_rate": result.curve[-1]["success_rate"],
               "final_path_ratio": result.curve[-1]["path_ratio"], "resumed_from_step": result.resumed_from_step}
    # curve.json is written with the policy as one set, its hash in the sidecar's manifest (cliprl_cli.store.artifacts)
    save_artifact(out / POLICY_FILE, result.params, kind=kind, config=config, metrics=metrics,
                  timings={"wall_time_s": metrics["wall_time_s"]}, seed=config.get("seed"),
                  extra={"instruction": config["task"], "goal": config["goal"], "spec": config["spec"],
                         "learning_curve": result.curve, **(extra or {})},
                  companions={CURVE_FILE: BaseCurve([CurvePoint(**point) for point in result.curve]).to_json()})
    return metrics


def load_policy(path: str | Path, *, kind: str | None = KIND):
    """Load a policy artifact (a directory holding policy.safetensors, or the file); returns (params, sidecar, spec)."""
    path = Path(path)
    file = path / POLICY_FILE if path.is_dir() else path
    params, sidecar = load_artifact(file, kind=kind)
    spec_data = sidecar.get("spec")
    if not isinstance(spec_data, dict):
        raise CliprlError(f"{file}: sidecar has no architecture 'spec'")
    spec = PolicySpec.from_dict(spec_data)
    expected = spec.parameter_shapes()
    if set(expected) != set(params) or any(tuple(params[k].shape) != s for k, s in expected.items()):
        raise CliprlError(f"{file}: tensors do not match the architecture in its sidecar {spec.to_dict()}")
    return params, sidecar, spec
