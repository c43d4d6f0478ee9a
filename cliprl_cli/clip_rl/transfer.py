"""`cliprl transfer`: initialise a target policy from the base library and fine-tune it, per method, K trials.

Methods (initial weights ``theta = sum_i w_i theta_i`` over the sources, then the same PPO trainer and the same
convergence rule as ``train-base``):

- ``scratch``: a fresh initialisation (no transfer).
- ``language`` (Algorithm 1): ``w`` from ``cos(tau(target), tau(l_i))``.
- ``clip`` (Algorithm 2): ``w`` from ``cos(P_L(tau(target)), P_L(tau(l_i)))`` with the trained text head.
- ``uniform``: ``w_i = 1/N``.
- ``nearest-language`` / ``nearest-clip``: all weight on the single most similar source.
- ``oracle-group`` (colour-shape and BabyAI suites only, not in the default list): uniform over the sources whose
  objects share the target's group, i.e. its room (same colour in ``by-colour``, same shape in ``by-shape``): what a
  method that knew the layout would do. The suite's world, its ``group_by`` and the ``useful_group`` are recorded
  in ``config``. On a BabyAI suite the group is the sources that name the target's colour or its object.

Similarities become weights by :func:`cliprl_cli.clip_rl.clip_math.similarity_weights`: ``normalized`` (the paper's
``d_i / sum d``, with negative similarities clamped to 0 and a uniform fallback when none is positive) or
``softmax`` with a temperature.

Trials: trial k fine-tunes with seed ``seed * 1000 + k`` for every method (a paired design: method differences
are not confounded with seeds). Per trial we record env steps to convergence (a run that hits the budget is
``censored`` and counted as the budget, never dropped), the mean success rate over a fixed horizon of env steps
(``auc``; the same horizon for every method, so it compares across methods), the initial policy's success rate
from every start, wall time and the weights used.

Resolution: fine-tuning runs PPO with 512 env steps per iteration (32 environments x 16 steps;
:data:`cliprl_cli.clip_rl.config.TRANSFER_PPO`) and checks convergence after every iteration. The greedy policy changes
only at an update, so a check inside an iteration could not see anything new: the iteration is the clock's tick,
and steps to convergence are resolved to 512 env steps (``step_resolution``). Base policies keep their 4,096-step
iterations (``train-base`` is unchanged). Progress is saved after every trial (``partial.json``) and inside a trial by the trainer's
checkpoint, so a preempted transfer resumes where it stopped.

Outputs in ``OUT``: ``results.json`` (trials, per-method summary, clip/language ratio), ``curves.json``
(the evaluation curve of every trial) and ``metrics.json`` (flat scalars for DVC).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import multiprocessing
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch

from ..errors import CliprlError, PreemptedError
from ..progress import TransferProgress, trial_reporter
from ..seeding import seed_everything
from ..stats import paired_ratio, summarize
from ..store.artifacts import atomic_write_files
from ..store.atomic import atomic_write_json, read_json
from ..store.checkpoint import PreemptionGuard
from ..store.formats import CurvePoint, MethodSummary, PairedRatio, TransferCurves, TransferResults, TransferTrial
from .align import Library, default_sources, load_heads, load_library
from .babyai import episode_rule
from .clip_math import cosine_to_sources, nearest_weights, similarity_weights
from .config import Method, PPOConfig, TransferConfig, resolve_ppo
from .policy import PolicySpec, unflatten_params, weighted_average
from .policy_repr import level_starts, load_probes
from .ppo import auc_to_horizon, train_ppo
from .start_entropy import match_start, start_observations
from .tasks import load_suite, world_label
from .textenc import embed_instructions

PARTIAL_FILE = "partial.json"
_DEFAULTS = TransferConfig()  # method_weights' defaults

# An initial policy: (parameters or None for a fresh one, the weights over the sources or None, a note on them).
Init = tuple[dict | None, list[float] | None, str]


@dataclass
class FineTuneJob:
    """One (method, trial) fine-tuning: what a worker process needs to run it and to report its row."""

    method: str
    trial: int
    seed: int                     # seed * 1000 + trial: the same for every method of a trial (paired)
    init: Init
    spec: PolicySpec
    goal: tuple[int, int]
    ppo: PPOConfig
    sources: list[str]
    checkpoint: Path
    checkpoint_every_s: float
    run_config: dict[str, Any]    # what the trial's checkpoint must match to be resumed
    threads: int
    auc_horizon: int
    env_factory: Any = None       # the colour-shape world's batched twin; None: the grid world
    start: dict[str, float] | None = None  # entropy matching: start_temperature and start_entropy to record
    start_observations: Any = None  # the target's start states, encoded: the policy's entropy is measured there
    progress_board: Any = None    # set by TransferProgress while the trials run


def method_weights(method: str, language_sims: torch.Tensor, clip_sims: torch.Tensor | None, *,
                   rule: str = _DEFAULTS.weighting.value, temperature: float = _DEFAULTS.softmax_temperature,
                   group: Sequence[bool] | None = None) -> tuple[torch.Tensor | None, str]:
    """The averaging weights of ``method`` (None for scratch) and a note on how they were formed.

    ``group`` marks the sources in the target's useful group (colour-shape suites); ``oracle-group`` spreads its
    weight uniformly over them."""
    n = language_sims.numel()
    if method == Method.SCRATCH:
        return None, "fresh initialisation"
    if method == Method.UNIFORM:
        return torch.full((n,), 1.0 / n), "uniform"
    if method == Method.ORACLE_GROUP:
        if group is None:
            raise CliprlError("method 'oracle-group' needs a suite whose layout groups its objects "
                              "(a colour-shape suite, --tasks cliprl_cli/data/colour_shape_*.yaml)")
        mask = torch.tensor([bool(g) for g in group], dtype=torch.float32)
        if mask.sum() == 0:
            raise CliprlError("method 'oracle-group': no source shares the target's group (its room); "
                              "add one to --sources")
        return mask / mask.sum(), "uniform over the useful group"
    if method in (Method.CLIP, Method.NEAREST_CLIP) and clip_sims is None:
        raise CliprlError(f"method {method!r} needs --align (trained heads)")
    sims = language_sims if method in (Method.LANGUAGE, Method.NEAREST_LANGUAGE) else clip_sims
    if method.startswith("nearest-"):
        return nearest_weights(sims), "nearest source"
    return similarity_weights(sims, rule, temperature)


def similarities(target: str, library: Library, base_dir: str | Path,
                 align_dir: str | Path | None) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
    """Cosine similarities of the target to every source: by instruction embedding, and through the trained text
    head when ``align_dir`` is given (then the embedding is the heads' own encoder). Returns (language, clip or
    None, what to record about the heads)."""
    text = embed_instructions([target, *library.instructions])
    language_sims = cosine_to_sources(text[0], text[1:])
    if align_dir is None:
        return language_sims, None, {}
    heads, _, sidecar = load_heads(align_dir)
    if sidecar.get("instructions") != library.instructions:
        raise CliprlError(f"{align_dir}: heads were trained on {sidecar.get('instructions')}, but the sources of "
                          f"this transfer are {library.instructions} (from --sources, else the suite's base_tasks); "
                          "pass --sources with the heads' instructions, or align heads on these sources")
    if sidecar.get("spec") != library.spec.to_dict():
        raise CliprlError(f"{align_dir}: heads were trained for architecture {sidecar.get('spec')}, "
                          f"not {library.spec.to_dict()}")
    encoder = sidecar["config"].get("text_encoder")
    if encoder:
        text = embed_instructions([target, *library.instructions], encoder)
        language_sims = cosine_to_sources(text[0], text[1:])
    with torch.no_grad():
        projected = heads.project_text(text)
    clip_sims = cosine_to_sources(projected[0], projected[1:])
    info = {"align_dir": str(align_dir), "text_encoder": encoder}
    probes = load_probes(align_dir)  # a drawn probe set beside the heads: verified, and named in the record
    if probes is not None:
        info["probe_set_sha256"] = probes.info["sha256"]
    return language_sims, clip_sims, info


def initial_policies(methods: Sequence[str], library: Library, language_sims: torch.Tensor,
                     clip_sims: torch.Tensor | None, weighting: str, temperature: float,
                     group: Sequence[bool] | None = None) -> dict[str, Init]:
    """Each method's initial policy: the weighted average of the flattened sources (Algorithms 1 and 2)."""
    flat_sources = library.flat()
    inits: dict[str, Init] = {}
    for method in methods:
        weights, note = method_weights(method, language_sims, clip_sims, rule=weighting, temperature=temperature,
                                       group=group)
        params = None if weights is None else unflatten_params(weighted_average(flat_sources, weights), library.spec)
        inits[method] = (params, None if weights is None else [float(w) for w in weights], note)
    return inits


def steps_to_success(curve: Sequence[Mapping[str, Any]], budget: int) -> dict[str, Any]:
    """The second criterion, beside the paper's convergence rule: env steps to the first check at which the greedy
    policy succeeds from every start (success 1.0, whatever its path length); the budget, censored, if it never
    does. A run that converged reached it at or before its convergence."""
    first = next((p["env_steps"] for p in curve if p["success_rate"] >= 1.0), None)
    return {"steps_to_success": budget if first is None else first, "success_censored": first is None}


def entropy_matched(inits: dict[str, Init], spec: PolicySpec, observations: torch.Tensor,
                    floor: float) -> tuple[dict[str, Init], dict[str, dict[str, float]]]:
    """Each initial policy with its logits divided by the temperature that lifts its mean entropy on the
    target's start states (``observations``) to ``floor`` (:mod:`cliprl_cli.clip_rl.start_entropy`), and per
    method what to record.
    ``scratch`` keeps its fresh initialisation (its logits start near uniform)."""
    if not floor < math.log(spec.num_actions):
        raise CliprlError(f"--start-entropy {floor} must be below ln {spec.num_actions} = "
                          f"{math.log(spec.num_actions):.4f} nats (the uniform policy's entropy)")
    matched: dict[str, Init] = {}
    starts: dict[str, dict[str, float]] = {}
    for method, (params, weights, note) in inits.items():
        if params is None:
            matched[method] = (params, weights, note)
            continue
        params, temperature, _, after = match_start(params, spec, observations, floor)
        matched[method] = (params, weights, note)
        starts[method] = {"start_temperature": temperature, "start_entropy": after}
    return matched, starts


def load_partial(path: Path, config: dict[str, Any], methods: Sequence[str],
                 trials: int) -> tuple[dict[tuple[str, int], dict[str, Any]], dict[str, list]]:
    """The trials a previous run of the same configuration finished (``partial.json``); empty if none or damaged."""
    done: dict[tuple[str, int], dict[str, Any]] = {}
    curves: dict[str, list] = {m: [None] * trials for m in methods}
    if path.exists():
        try:
            partial = read_json(path)
            if partial.get("config") == _jsonable(config):
                for row in partial["trials"]:
                    if "steps_to_success" not in row:  # written by an older version: rerun that trial
                        continue
                    done[(row["method"], row["trial"])] = row
                    curves[row["method"]][row["trial"]] = partial["curves"][f"{row['method']}/{row['trial']}"]
        except (CliprlError, KeyError, IndexError, TypeError):
            done = {}
    return done, curves


def write_partial(path: Path, config: dict[str, Any], done: dict[tuple[str, int], dict[str, Any]],
                  curves: dict[str, list]) -> None:
    atomic_write_json(path, {"config": config, "trials": list(done.values()),
                             "curves": {f"{m}/{t}": curves[m][t] for (m, t) in done}})


def summarize_trials(rows: list[dict[str, Any]], methods: Sequence[str], seed: int,
                     criterion: str = "converged") -> dict[str, dict[str, Any]]:
    """Per method: the summary statistics of steps to convergence (``criterion="converged"``, the paper's rule) or
    to greedy success from every start (``"success"``), censored runs at the budget, and the mean AUC."""
    steps, censored = (("env_steps", "censored") if criterion == "converged"
                       else ("steps_to_success", "success_censored"))
    summary = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        summary[method] = summarize([r[steps] for r in mine], [r[censored] for r in mine], seed=seed)
        summary[method]["auc_mean"] = sum(r["auc"] for r in mine) / len(mine)
    return summary


def flat_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """The flat scalars DVC tracks (``metrics.json``)."""
    summary = results["summary"]
    metrics: dict[str, Any] = {f"{m.replace('-', '_')}_mean_steps": s["mean"] for m, s in summary.items()}
    metrics.update({f"{m.replace('-', '_')}_censored": s["censored"] for m, s in summary.items()})
    if "ratio_clip_language" in results:
        metrics["ratio_clip_language"] = results["ratio_clip_language"]["ratio"]
    return metrics


def transfer(target: str, base_dir: str | Path, out: str | Path, cfg: TransferConfig = TransferConfig(), *,
             align_dir: str | Path | None = None, tasks_file: str | Path | None = None,
             sources: Sequence[str] | None = None, quiet: bool = False) -> dict[str, Any]:
    """Run every method x ``cfg.trials`` fine-tunings on ``target`` and write the results to ``out``.

    ``sources`` (instructions) selects the library; by default the suite's ``base_tasks`` (every policy under
    ``base_dir`` when the suite lists none). Each source's recorded goal must be the suite's goal for it.
    Steps to convergence are resolved to one PPO iteration, ``ppo.num_envs * ppo.num_steps * ppo.eval_every``
    env steps (``step_resolution`` in results.json; 512 by default), and each trial's ``auc`` is its mean
    success rate over ``[0, cfg.auc_horizon]`` env steps, the same horizon for every method.
    A colour-shape suite (one that fixes its world) fine-tunes with that world's PPO settings
    (:func:`cliprl_cli.clip_rl.config.resolve_ppo`: 4,096 env steps per iteration there) and offers
    ``oracle-group``.
    """
    methods, trials, seed, threads = list(cfg.methods), cfg.trials, cfg.seed, cfg.threads
    suite = load_suite(tasks_file)
    library = load_library(base_dir, default_sources(suite, sources))
    size = library.spec.grid_size
    suite.check_size(size)
    goal = suite.goal(target, size)
    library.check_goals(suite)
    if target in library.instructions and not cfg.allow_target_in_sources:
        raise CliprlError(f"target {target!r} is among the source policies in {base_dir}; "
                          "pass --allow-target-in-sources to permit it")
    ppo = resolve_ppo(cfg.ppo, suite, num_envs=cfg.num_envs)  # the world's own settings (config.py)
    seed_everything(seed, threads=threads)

    # ---- similarities -> initial policies
    language_sims, clip_sims, align_info = similarities(target, library, base_dir, align_dir)
    levels = suite.random_layouts  # BabyAI: the level's own environments and rule
    # colour-shape: the sources in the target's room; BabyAI: those naming the target's colour or object
    useful = suite.useful_group(target, library.instructions) if suite.fixes_world else None
    group = None if useful is None else [s in useful for s in library.instructions]
    inits = initial_policies(methods, library, language_sims, clip_sims, cfg.weighting.value,
                             cfg.softmax_temperature, group)
    if levels:
        env_factory = suite.env_factory(target, episode_rule(ppo), workers=1)
    else:
        env_factory = suite.env_factory(target) if suite.fixes_world else None
    # where each check measures the entropy: the target's start states (BabyAI: the first views of the rule's seeds)
    start_obs = (level_starts(suite, target, episode_rule(ppo).episodes) if levels
                 else start_observations(library.spec, goal, env_factory))
    starts: dict[str, dict[str, float]] = {}
    if cfg.start_entropy is not None:
        inits, starts = entropy_matched(inits, library.spec, start_obs, cfg.start_entropy)
    # what results.json records: the settings, and what the run derived from its inputs (keys in the files' order)
    config = {"target": target, "goal": list(goal), "grid_size": size, "methods": methods, "trials": trials,
              "seed": seed, "ppo": ppo.to_dict(), "weighting": cfg.weighting.value,
              "softmax_temperature": cfg.softmax_temperature, "sources": library.instructions,
              "spec": library.spec.to_dict(), "threads": threads, "auc_horizon": cfg.auc_horizon, **align_info}
    if levels:  # the suite, the target's level, how its mission is held, the sources sharing an attribute with it
        config.update({"suite": suite.name, **suite.record(target), "useful_group": useful})
    elif suite.fixes_world:  # the world, and the sources its layout makes useful for the target (the primary measure)
        config.update({**suite.record(), "group_by": suite.layout.group_by, "useful_group": useful})
    if cfg.start_entropy is not None:
        config["start_entropy"] = cfg.start_entropy

    # ---- trials (resumable from partial.json and each trial's checkpoint)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    partial_path = out / PARTIAL_FILE
    done, curves = load_partial(partial_path, config, methods, trials)
    jobs = [FineTuneJob(method=method, trial=trial, seed=seed * 1000 + trial, init=inits[method],
                        spec=library.spec, goal=goal, ppo=ppo, sources=library.instructions,
                        checkpoint=out / f"checkpoint-{method}-{trial}.safetensors",
                        checkpoint_every_s=cfg.checkpoint_every_s,
                        run_config={**config, "method": method, "trial": trial}, threads=threads,
                        auc_horizon=cfg.auc_horizon, env_factory=env_factory, start=starts.get(method),
                        start_observations=start_obs)
            for trial in range(trials) for method in methods if (method, trial) not in done]
    start = time.perf_counter()
    # The guard covers the whole loop: a SIGTERM between trials exits 75 (partial.json is already current), one
    # during a trial checkpoints it first. The final writes below are atomic, and partial.json is removed last, so a
    # kill during them only means the rerun rewrites the results from partial.json.
    label = world_label(suite, size)
    with PreemptionGuard() as guard, TransferProgress(f"transfer {label} -> '{target}'", len(methods) * trials,
                                                      jobs=jobs, workers=cfg.workers, quiet=quiet) as progress:
        progress.update(len(done))
        for method, trial, row, curve in _run_jobs(jobs, cfg.workers, guard):
            done[(method, trial)] = row
            curves[method][trial] = curve
            write_partial(partial_path, config, done, curves)
            progress.update(len(done), method=method, trial=trial, steps=row["env_steps"])

    # ---- summary and outputs
    rows = sorted(done.values(), key=lambda r: (methods.index(r["method"]), r["trial"]))
    ratio = None
    if Method.CLIP in methods and Method.LANGUAGE in methods:
        steps = {m: [r["env_steps"] for r in rows if r["method"] == m] for m in (Method.CLIP, Method.LANGUAGE)}
        ratio = PairedRatio(**paired_ratio(steps[Method.CLIP], steps[Method.LANGUAGE], seed=seed))
    record = TransferResults(
        grid_size=size, target=target, goal=goal, budget=ppo.max_env_steps, config=config,
        similarities={"language": dict(zip(library.instructions, language_sims.tolist())),
                      "clip": None if clip_sims is None else dict(zip(library.instructions, clip_sims.tolist()))},
        trials=[TransferTrial(**row) for row in rows],
        summary={m: MethodSummary(**s) for m, s in summarize_trials(rows, methods, seed).items()},
        success_summary={m: MethodSummary(**s)
                         for m, s in summarize_trials(rows, methods, seed, criterion="success").items()},
        wall_time_s=round(time.perf_counter() - start, 3), ratio_clip_language=ratio,
        step_resolution=ppo.num_envs * ppo.num_steps * ppo.eval_every, auc_horizon=cfg.auc_horizon,
        sources=list(library.instructions))
    results = record.to_json()
    # one set: all three are written in full before any replaces its old version (cliprl_cli.store.artifacts)
    atomic_write_files(out, {
        "curves.json": TransferCurves({m: [None if c is None else [CurvePoint(**p) for p in c] for c in per_trial]
                                       for m, per_trial in curves.items()}).to_json(),
        "metrics.json": flat_metrics(results), "results.json": record})  # wall times -> run.json
    partial_path.unlink(missing_ok=True)
    return record.with_run_fields()  # results.json plus its wall times (which went to run.json), for callers


def _fine_tune(job: FineTuneJob) -> tuple[str, int, dict[str, Any], list]:
    """One (method, trial) fine-tuning; a plain function so a worker process can run it."""
    if _STOP_EVENT is not None and _STOP_EVENT.is_set():
        raise PreemptedError("stopped before it started")
    torch.set_num_threads(job.threads)
    params, weights, note = job.init
    if params is not None:  # numpy arrays when the job came through the process pool
        params = {name: torch.as_tensor(value) for name, value in params.items()}
    ppo = job.ppo
    result = train_ppo(job.spec, job.goal, ppo, seed=job.seed, init_params=params, checkpoint_path=job.checkpoint,
                       checkpoint_every_s=job.checkpoint_every_s, run_config=job.run_config, stop_event=_STOP_EVENT,
                       env_factory=job.env_factory,
                       entropy_observations=None if job.start_observations is None
                       else torch.as_tensor(job.start_observations),
                       progress=trial_reporter(job))  # env steps within the trial, for the parent's bar
    row = {
        "method": job.method, "trial": job.trial, "seed": job.seed,
        "env_steps": result.env_steps if result.converged else ppo.max_env_steps,
        "censored": not result.converged, "auc": auc_to_horizon(result.curve, job.auc_horizon),
        "wall_time_s": round(result.wall_time_s, 4),
        "initial_success_rate": result.curve[0]["success_rate"],
        "weights": None if weights is None else dict(zip(job.sources, weights)), "weighting_note": note,
        **steps_to_success(result.curve, ppo.max_env_steps), **(job.start or {}),
    }
    curve = [{"env_steps": p["env_steps"], "success_rate": p["success_rate"], "path_ratio": p["path_ratio"],
              "entropy": p.get("entropy")} for p in result.curve]
    return job.method, job.trial, row, curve


def _run_jobs(jobs: list[FineTuneJob], workers: int,
              guard: PreemptionGuard) -> Iterator[tuple[str, int, dict, list]]:
    """Yield finished jobs; with ``workers > 1`` in a process pool (spawned: torch and fork do not mix).

    Every job is seeded on its own and runs single-threaded, so results do not depend on ``workers``.
    On SIGTERM/SIGUSR1 the parent sets a shared stop event; each running trial checkpoints at its next iteration,
    each queued trial returns at once, and the parent raises PreemptedError once all have stopped. Finished trials
    are already saved in partial.json.

    Why an event and not a forwarded signal: a signal that reaches a worker while it is idle or still starting
    would kill it, the pool breaks, and CPython 3.11's pool manager then dies on the cancelled futures and leaves
    the interpreter hanging at exit. Workers therefore ignore SIGTERM/SIGUSR1 outside a trial (a signal sent to
    the whole process group, as ``scancel`` does, still reaches a running trial through its own guard), and no
    future is ever cancelled on this path.
    """
    if workers <= 1:
        for job in jobs:
            if guard.requested:
                raise PreemptedError(f"received {guard.signal_name} between trials: finished trials are saved in "
                                     f"{PARTIAL_FILE}; rerun the same command to resume")
            yield _fine_tune(job)
        return
    context = multiprocessing.get_context("spawn")
    stop_event = context.Event()
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                initargs=(stop_event,)) as pool:
        pending = {pool.submit(_fine_tune, _tensors_by_value(job)) for job in jobs}
        failure: BaseException | None = None
        while pending:
            finished, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                error = future.exception()
                if error is None:
                    yield future.result()
                elif not isinstance(error, PreemptedError) and failure is None:
                    failure = error
            if guard.requested:
                stop_event.set()
                continue  # collect every trial: running ones checkpoint, queued ones return at once
            if failure is not None:
                stop_event.set()  # the others checkpoint too; a rerun resumes them after the cause is fixed
                continue
        if guard.requested:
            raise PreemptedError(f"received {guard.signal_name}: running trials checkpointed; rerun the same "
                                 "command to resume")
        if isinstance(failure, cf.process.BrokenProcessPool):
            raise CliprlError("a transfer worker process died (killed by the system?); finished trials are saved "
                              f"in {PARTIAL_FILE}: rerun the same command to resume", exit_code=1) from failure
        if failure is not None:
            raise failure


def _tensors_by_value(job: FineTuneJob) -> FineTuneJob:
    """The job with its initial parameters and start observations as numpy arrays, which pickle by value.

    torch pickles a tensor for another process as a shared-memory handle that the child fetches from the parent
    over a socket; a child killed during that exchange makes the parent's sharing thread print a traceback. The
    parameters are a few KB, so copying them costs nothing.
    """
    params, weights, note = job.init
    if params is not None:
        params = {name: value.detach().cpu().numpy() for name, value in params.items()}
    observations = job.start_observations
    if isinstance(observations, torch.Tensor):
        observations = observations.numpy()
    return replace(job, init=(params, weights, note), start_observations=observations)


_STOP_EVENT: Any = None


def _init_worker(stop_event: Any) -> None:
    """Pool initializer: remember the parent's stop event and ignore the preemption signals outside a trial."""
    global _STOP_EVENT
    _STOP_EVENT = stop_event
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), to compare with a loaded ``partial.json``."""
    return json.loads(json.dumps(value))
