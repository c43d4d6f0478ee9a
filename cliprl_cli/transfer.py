"""`cliprl transfer`: initialise a target policy from the base library and fine-tune it, per method, K trials.

Methods (initial weights ``theta = sum_i w_i theta_i`` over the sources, then the same PPO trainer and the same
convergence rule as ``train-base``):

- ``scratch``: a fresh initialisation (no transfer).
- ``language`` (Algorithm 1): ``w`` from ``cos(tau(target), tau(l_i))``.
- ``clip`` (Algorithm 2): ``w`` from ``cos(P_L(tau(target)), P_L(tau(l_i)))`` with the trained text head.
- ``uniform``: ``w_i = 1/N``.
- ``nearest-language`` / ``nearest-clip``: all weight on the single most similar source.

Similarities become weights by :func:`cliprl_cli.clip_math.similarity_weights`: ``normalized`` (the paper's
``d_i / sum d``, with negative similarities clamped to 0 and a uniform fallback when none is positive) or
``softmax`` with a temperature.

Trials: trial k fine-tunes with seed ``seed * 1000 + k`` for every method (a paired design: method differences
are not confounded with seeds). Per trial we record env steps to convergence (a run that hits the budget is
``censored`` and counted as the budget, never dropped), the area under the evaluation curve, wall time and the
weights used. Progress is saved after every trial (``partial.json``) and inside a trial by the trainer's
checkpoint, so a preempted transfer resumes where it stopped.

Outputs in ``OUT``: ``results.json`` (trials, per-method summary, clip/language ratio), ``curves.json``
(the evaluation curve of every trial) and ``metrics.json`` (flat scalars for DVC).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import torch

from .align import load_heads, load_library
from .artifacts import atomic_write_json, read_json
from .clip_math import cosine_to_sources, nearest_weights, similarity_weights
from .checkpoint import PreemptionGuard
from .errors import CliprlError, PreemptedError
from .policy import unflatten_params, weighted_average
from .ppo import PPOConfig, train_ppo
from .progress import ProgressReporter
from .seeding import seed_everything
from .stats import paired_ratio, summarize
from .tasks import load_suite
from .textenc import embed_instructions

METHODS = ("scratch", "language", "clip", "uniform", "nearest-language", "nearest-clip")
PARTIAL_FILE = "partial.json"


def method_weights(method: str, language_sims: torch.Tensor, clip_sims: torch.Tensor | None, *,
                   rule: str = "normalized", temperature: float = 0.1) -> tuple[torch.Tensor | None, str]:
    """The averaging weights of ``method`` (None for scratch) and a note on how they were formed."""
    n = language_sims.numel()
    if method == "scratch":
        return None, "fresh initialisation"
    if method == "uniform":
        return torch.full((n,), 1.0 / n), "uniform"
    if method in ("clip", "nearest-clip") and clip_sims is None:
        raise CliprlError(f"method {method!r} needs --align (trained heads)")
    sims = language_sims if method in ("language", "nearest-language") else clip_sims
    if method.startswith("nearest-"):
        return nearest_weights(sims), "nearest source"
    return similarity_weights(sims, rule, temperature)


def transfer(target: str, base_dir: str | Path, out: str | Path, *, align_dir: str | Path | None = None,
             methods: Sequence[str] = METHODS, trials: int = 10, seed: int = 0, tasks_file: str | Path | None = None,
             ppo: PPOConfig | None = None, weighting: str = "normalized", softmax_temperature: float = 0.1,
             allow_target_in_sources: bool = False, threads: int = 1, workers: int = 1, checkpoint_every_s: float = 60.0,
             quiet: bool = False) -> dict[str, Any]:
    """Run every method x ``trials`` fine-tunings on ``target`` and write the results to ``out``."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CliprlError(f"unknown method(s) {unknown}; known: {', '.join(METHODS)}")
    if trials < 1:
        raise CliprlError(f"--trials must be at least 1, got {trials}")
    if weighting not in ("normalized", "softmax"):
        raise CliprlError(f"unknown --weighting {weighting!r} (normalized, softmax)")
    ppo = ppo or PPOConfig()
    library = load_library(base_dir)
    size = library.spec.grid_size
    suite = load_suite(tasks_file)
    suite.check_size(size)
    goal = suite.goal(target, size)
    if target in library.instructions and not allow_target_in_sources:
        raise CliprlError(f"target {target!r} is among the source policies in {base_dir}; "
                          "pass --allow-target-in-sources to permit it")
    seed_everything(seed, threads=threads)

    # ---- similarities
    text = embed_instructions([target, *library.instructions])
    language_sims = cosine_to_sources(text[0], text[1:])
    clip_sims = None
    align_info: dict[str, Any] = {}
    if align_dir is not None:
        heads, _, sidecar = load_heads(align_dir)
        if sidecar.get("instructions") != library.instructions:
            raise CliprlError(f"{align_dir}: heads were trained on {sidecar.get('instructions')}, "
                              f"but {base_dir} holds {library.instructions}")
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
        align_info = {"align_dir": str(align_dir), "text_encoder": encoder}

    flat_sources = library.flat()
    inits: dict[str, tuple[dict | None, list[float] | None, str]] = {}
    for method in methods:
        weights, note = method_weights(method, language_sims, clip_sims, rule=weighting,
                                       temperature=softmax_temperature)
        params = None if weights is None else unflatten_params(weighted_average(flat_sources, weights), library.spec)
        inits[method] = (params, None if weights is None else [float(w) for w in weights], note)

    config = {"target": target, "goal": list(goal), "grid_size": size, "methods": list(methods), "trials": trials,
              "seed": seed, "ppo": ppo.to_dict(), "weighting": weighting, "softmax_temperature": softmax_temperature,
              "sources": library.instructions, "spec": library.spec.to_dict(), "threads": threads, **align_info}

    # ---- trials (resumable)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    partial_path = out / PARTIAL_FILE
    done: dict[tuple[str, int], dict[str, Any]] = {}
    curves: dict[str, list] = {m: [None] * trials for m in methods}
    if partial_path.exists():
        try:
            partial = read_json(partial_path)
            if partial.get("config") == _jsonable(config):
                for row in partial["trials"]:
                    done[(row["method"], row["trial"])] = row
                    curves[row["method"]][row["trial"]] = partial["curves"][f"{row['method']}/{row['trial']}"]
        except (CliprlError, KeyError, IndexError, TypeError):
            done = {}
    total = len(methods) * trials
    jobs = [(method, trial) for trial in range(trials) for method in methods if (method, trial) not in done]
    start = time.perf_counter()

    def record(method: str, trial: int, row: dict[str, Any], curve: list) -> None:
        done[(method, trial)] = row
        curves[method][trial] = curve
        atomic_write_json(partial_path, {"config": config, "trials": list(done.values()),
                                         "curves": {f"{m}/{t}": curves[m][t] for (m, t) in done}})

    # The guard covers the whole loop: a SIGTERM between trials exits 75 (partial.json is already current), one
    # during a trial checkpoints it first. The final writes below are atomic, and partial.json is removed last, so a
    # kill during them only means the rerun rewrites the results from partial.json.
    with PreemptionGuard() as guard, ProgressReporter(f"transfer {size}x{size} -> '{target}'", total, quiet=quiet,
                                                      unit="runs") as progress:
        progress.update(len(done))
        job_args = [dict(spec=library.spec, goal=goal, ppo=ppo, seed=seed * 1000 + trial, method=method,
                         trial=trial, init=inits[method], sources=library.instructions,
                         checkpoint=out / f"checkpoint-{method}-{trial}.safetensors",
                         checkpoint_every_s=checkpoint_every_s, run_config={**config, "method": method,
                                                                            "trial": trial}, threads=threads)
                    for method, trial in jobs]
        for method, trial, row, curve in _run_jobs(job_args, workers, guard):
            record(method, trial, row, curve)
            progress.update(len(done), method=method, steps=row["env_steps"])

    rows = sorted(done.values(), key=lambda r: (methods.index(r["method"]), r["trial"]))
    summary = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        summary[method] = summarize([r["env_steps"] for r in mine], [r["censored"] for r in mine], seed=seed)
        summary[method]["auc_mean"] = sum(r["auc"] for r in mine) / len(mine)
    results: dict[str, Any] = {
        "grid_size": size, "target": target, "goal": list(goal), "budget": ppo.max_env_steps, "config": config,
        "similarities": {"language": dict(zip(library.instructions, language_sims.tolist())),
                         "clip": None if clip_sims is None else dict(zip(library.instructions, clip_sims.tolist()))},
        "trials": rows, "summary": summary, "wall_time_s": round(time.perf_counter() - start, 3),
    }
    if "clip" in methods and "language" in methods:
        steps = {m: [r["env_steps"] for r in rows if r["method"] == m] for m in ("clip", "language")}
        results["ratio_clip_language"] = paired_ratio(steps["clip"], steps["language"], seed=seed)
    atomic_write_json(out / "results.json", results)
    atomic_write_json(out / "curves.json", curves)
    metrics: dict[str, Any] = {f"{m.replace('-', '_')}_mean_steps": s["mean"] for m, s in summary.items()}
    metrics.update({f"{m.replace('-', '_')}_censored": s["censored"] for m, s in summary.items()})
    if "ratio_clip_language" in results:
        metrics["ratio_clip_language"] = results["ratio_clip_language"]["ratio"]
    atomic_write_json(out / "metrics.json", metrics)
    partial_path.unlink(missing_ok=True)
    return results


def _fine_tune(job: dict[str, Any]) -> tuple[str, int, dict[str, Any], list]:
    """One (method, trial) fine-tuning; a plain function so a worker process can run it."""
    if _STOP_EVENT is not None and _STOP_EVENT.is_set():
        raise PreemptedError("stopped before it started")
    torch.set_num_threads(job["threads"])
    params, weights, note = job["init"]
    if params is not None:  # numpy arrays when the job came through the process pool
        params = {name: torch.as_tensor(value) for name, value in params.items()}
    ppo = job["ppo"]
    result = train_ppo(job["spec"], job["goal"], ppo, seed=job["seed"], init_params=params,
                       checkpoint_path=job["checkpoint"], checkpoint_every_s=job["checkpoint_every_s"],
                       run_config=job["run_config"], stop_event=_STOP_EVENT)
    row = {
        "method": job["method"], "trial": job["trial"], "seed": job["seed"],
        "env_steps": result.env_steps if result.converged else ppo.max_env_steps,
        "censored": not result.converged, "auc": result.auc, "wall_time_s": round(result.wall_time_s, 4),
        "initial_success_rate": result.curve[0]["success_rate"],
        "weights": None if weights is None else dict(zip(job["sources"], weights)), "weighting_note": note,
    }
    curve = [{"env_steps": p["env_steps"], "success_rate": p["success_rate"]} for p in result.curve]
    return job["method"], job["trial"], row, curve


def _run_jobs(jobs: list[dict[str, Any]], workers: int, guard: PreemptionGuard):
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
    import concurrent.futures as cf
    import multiprocessing

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


def _tensors_by_value(job: dict[str, Any]) -> dict[str, Any]:
    """The job with its initial parameters as numpy arrays, which pickle by value.

    torch pickles a tensor for another process as a shared-memory handle that the child fetches from the parent
    over a socket; a child killed during that exchange makes the parent's sharing thread print a traceback. The
    parameters are a few KB, so copying them costs nothing.
    """
    params, weights, note = job["init"]
    if params is not None:
        params = {name: value.detach().cpu().numpy() for name, value in params.items()}
    return {**job, "init": (params, weights, note)}


_STOP_EVENT: Any = None


def _init_worker(stop_event: Any) -> None:
    """Pool initializer: remember the parent's stop event and ignore the preemption signals outside a trial."""
    import signal

    global _STOP_EVENT
    _STOP_EVENT = stop_event
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value))
