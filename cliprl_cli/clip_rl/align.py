"""`cliprl align`: CLIP-style alignment of instruction embeddings with policy weights (Algorithm 2, step 2).

The policy side may also read a policy's behaviour or its rollouts instead of its weights (``--policy-repr``;
:mod:`cliprl_cli.clip_rl.policy_repr`); what follows describes the paper's weights.

Inputs: a directory of base-policy artifacts of one grid size (``BASE/<task>/policy.safetensors``). Each
policy's parameters are flattened in the documented order of :mod:`cliprl_cli.clip_rl.policy` and every coordinate is
standardised across the library (z-score; the mean and std are stored with the heads so a new policy maps the
same way). Two projection heads map the instruction embedding (384-d for MiniLM) and the standardised weights
into a shared ``dim``-d space; the heads' outputs are L2-normalised (as in CLIP: a plain dot product could lower
the loss by growing the vectors, not by aligning them), ``S_ij`` is their dot product, and the loss is the
paper's symmetric InfoNCE with temperature ``delta`` (fixed, or learnable as ``log delta``).

Outputs in ``OUT``: ``heads.safetensors`` + ``heads.json`` (kind ``align-heads``: config, instructions, the
loss curve and top-1 retrieval accuracy in both directions) and ``metrics.json`` (flat scalars for DVC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..adam import Adam
from ..store.artifacts import load_artifact, save_artifact
from .clip_math import info_nce, standardize
from .config import AlignConfig, HeadKind, PolicyRepr, Rollouts
from ..errors import CliprlError
from ..store.formats import AlignMetrics
from .babyai import ENCODING as BABYAI_ENCODING
from .policy import PolicySpec, behaviour_vector, flatten_params
from .policy_repr import (GRID_ENCODING, Trajectories, TrajectoryEncoder, env_factory, library_rollouts,
                          planner_walks, probe_set, remove_probes, save_probes, tensor_sha256)
from ..progress import ProgressReporter
from ..seeding import seed_everything
from .tasks import TaskSuite, load_suite, world_label
from .textenc import embed_instructions
from .train_base import POLICY_FILE, load_policy

HEADS_FILE = "heads.safetensors"
KIND = "align-heads"


@dataclass
class Library:
    """The base policies of one grid size, sorted by instruction (a deterministic order)."""

    instructions: list[str]
    params: list[dict[str, torch.Tensor]]
    spec: PolicySpec
    paths: list[Path]
    goals: list[tuple[int, int] | None] = field(default_factory=list)  # as recorded in each policy's sidecar
    layouts: list[str | None] = field(default_factory=list)  # colour-shape: each policy's recorded layout
    environments: list[str | None] = field(default_factory=list)  # BabyAI: each policy's recorded level

    def flat(self) -> torch.Tensor:
        """The policies' parameters flattened in the documented order, one row per instruction."""
        return torch.stack([flatten_params(p, self.spec) for p in self.params])

    def representation(self, kind: PolicyRepr | str, probes: torch.Tensor | None = None) -> torch.Tensor:
        """One row per policy: its flattened weights, or its behaviour on the probe set ``probes`` (default: every
        state of the world; :func:`cliprl_cli.clip_rl.policy.behaviour_vector`)."""
        if PolicyRepr(kind) == PolicyRepr.BEHAVIOUR:
            return torch.stack([behaviour_vector(p, self.spec, probes) for p in self.params])
        return self.flat()

    def check_goals(self, suite: TaskSuite) -> None:
        """Fail with one line when a policy's recorded goal is not the suite's goal for its instruction (a suite
        edited after the policies were trained, or the wrong ``--tasks``): transfer would then average policies
        for goals other than the ones their instructions name."""
        size = self.spec.grid_size
        levels = suite.random_layouts
        if (suite.fixes_world != (self.spec.encoding != GRID_ENCODING)
                or levels != (self.spec.encoding == BABYAI_ENCODING)):
            kind = ("the colour-shape world" if self.spec.height is not None else
                    "BabyAI levels" if self.spec.encoding == BABYAI_ENCODING else "a grid world")
            raise CliprlError(f"{self.paths[0].parent.parent}: the policies were trained on {kind}, but suite "
                              f"{suite.name!r} ({suite.source}) is not for it; pass the suite they were trained "
                              "with (--tasks)")
        if levels:
            for instruction, level, path in zip(self.instructions, self.environments or [None] * len(self.paths),
                                                self.paths):
                if level != suite.environment(instruction):
                    raise CliprlError(f"{path}: the policy for {instruction!r} was trained on level {level!r}, but "
                                      f"suite {suite.name!r} ({suite.source}) poses it on "
                                      f"{suite.environment(instruction)!r}; pass the suite it was trained with "
                                      "(--tasks)")
        for instruction, layout, path in zip(self.instructions, self.layouts or [None] * len(self.paths),
                                             self.paths):
            if suite.fixes_world and not levels and layout != suite.layout.name:
                raise CliprlError(f"{path}: the policy for {instruction!r} was trained in layout {layout!r}, but "
                                  f"suite {suite.name!r} ({suite.source}) uses layout {suite.layout.name!r}; "
                                  "pass the suite it was trained with (--tasks)")
        for instruction, goal, path in zip(self.instructions, self.goals, self.paths):
            expected = suite.goal(instruction, size)
            if goal is not None and tuple(goal) != expected:
                raise CliprlError(f"{path}: the policy for {instruction!r} was trained for goal {list(goal)}, but "
                                  f"suite {suite.name!r} ({suite.source}) puts it at {list(expected)} in a "
                                  f"{size}x{size} grid; retrain it or pass the suite it was trained with (--tasks)")


def default_sources(suite: TaskSuite, sources: Sequence[str] | None) -> list[str] | None:
    """The sources to use: ``sources`` if given, else the suite's ``base_tasks``, else None (every policy found)."""
    if sources:
        return list(sources)
    return list(suite.base_tasks) or None


def load_library(base_dir: str | Path, sources: Sequence[str] | None = None) -> Library:
    """Load the base policies under ``base_dir`` (``BASE/<slug>/policy.safetensors``) for the instructions in
    ``sources`` (every policy found when None); they must share one architecture and grid size.

    Selecting by instruction means a folder left over from a task since removed from the suite is ignored, and a
    source with no policy fails with one line listing what the directory holds.
    """
    base_dir = Path(base_dir)
    if not base_dir.is_dir():
        raise CliprlError(f"base-policy directory not found: {base_dir}")
    files = sorted(base_dir.glob(f"*/{POLICY_FILE}")) or sorted(base_dir.glob(POLICY_FILE))
    loaded = [(load_policy(f), f) for f in files]
    if sources is not None:
        found = [item[0][1].get("instruction", "") for item in loaded]
        missing = [s for s in sources if s not in found]
        if missing and found and not set(found) & set(sources):
            # not one source is here: the policies come from another suite, and they record which one
            suites = sorted({str((item[0][1].get("config") or {}).get("suite", "?")) for item in loaded})
            raise CliprlError(f"{base_dir}: its policies were trained for suite {', '.join(suites)} "
                              f"({sorted(found)}), and none is a source asked for ({list(sources)}): pass the suite "
                              "they were trained with (--tasks FILE), or choose --sources among them")
        if missing:
            raise CliprlError(f"{base_dir}: no base policy for source(s) {missing}; it holds {sorted(found)} "
                              f"(train them with `cliprl train-base --all`, or choose --sources)")
        loaded = [item for item in loaded if item[0][1].get("instruction") in sources]
    if len(loaded) < 2:
        raise CliprlError(f"{base_dir}: found {len(loaded)} base policies (*/{POLICY_FILE}); alignment needs at "
                          "least 2")
    loaded.sort(key=lambda item: item[0][1].get("instruction", ""))
    reference_spec = loaded[0][0][2]
    for (params, sidecar, spec), path in loaded:
        if spec != reference_spec:
            raise CliprlError(f"{path}: architecture {spec.to_dict()} differs from {loaded[0][1]}'s "
                              f"{reference_spec.to_dict()}; every policy of a library must match")
    instructions = [item[0][1]["instruction"] for item in loaded]
    dupes = {s for s in instructions if instructions.count(s) > 1}
    if dupes:
        raise CliprlError(f"{base_dir}: more than one policy for {sorted(dupes)}")
    goals = [tuple(item[0][1]["goal"]) if isinstance(item[0][1].get("goal"), list) else None for item in loaded]
    layouts = [(item[0][1].get("config") or {}).get("layout") for item in loaded]
    levels = [(item[0][1].get("config") or {}).get("environment") for item in loaded]
    return Library(instructions=instructions, params=[item[0][0] for item in loaded], spec=reference_spec,
                   paths=[item[1] for item in loaded], goals=goals, layouts=layouts, environments=levels)


def make_head(kind: HeadKind | str, in_dim: int, out_dim: int, hidden: int) -> nn.Module:
    """One projection head (:class:`cliprl_cli.clip_rl.config.HeadKind`): a Linear layer, or Linear -> ReLU -> Linear."""
    if kind == HeadKind.LINEAR:
        return nn.Linear(in_dim, out_dim)
    if kind == HeadKind.MLP:
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
    raise CliprlError(f"unknown head {kind!r} (linear, mlp)")


class Heads(nn.Module):
    """P_L (instruction embedding -> shared space) and P_pi (standardised weights or behaviour -> shared space; for
    rollouts a :class:`cliprl_cli.clip_rl.policy_repr.TrajectoryEncoder`, whose ``weight_dim`` is its step size)."""

    def __init__(self, config: AlignConfig, text_dim: int, weight_dim: int):
        super().__init__()
        self.text = make_head(config.head, text_dim, config.dim, config.hidden)
        if config.policy_repr == PolicyRepr.TRAJECTORY:
            self.policy = TrajectoryEncoder(weight_dim, config.gru_hidden, config.gru_layers, config.dim)
        else:
            self.policy = make_head(config.head, weight_dim, config.dim, config.hidden)
        self.log_temperature = nn.Parameter(torch.tensor(float(config.temperature)).log(),
                                            requires_grad=config.learn_temperature)

    def project_text(self, embeddings: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.text(embeddings), dim=-1)

    def project_policy(self, weights: "torch.Tensor | Trajectories") -> torch.Tensor:
        return nn.functional.normalize(self.policy(weights), dim=-1)

    def similarity(self, embeddings: torch.Tensor, weights: "torch.Tensor | Trajectories") -> torch.Tensor:
        return self.project_text(embeddings) @ self.project_policy(weights).T


def top1_accuracy(similarity: torch.Tensor) -> tuple[float, float]:
    """Fraction of instructions whose best policy is their own, and of policies whose best instruction is theirs."""
    target = torch.arange(similarity.shape[0])
    text_to_policy = (similarity.argmax(dim=1) == target).float().mean().item()
    policy_to_text = (similarity.argmax(dim=0) == target).float().mean().item()
    return text_to_policy, policy_to_text


def policy_inputs(library: Library, suite: Any, config: AlignConfig) -> tuple[Any, torch.Tensor, torch.Tensor,
                                                                              dict[str, Any]]:
    """What the policy head reads, by ``config.policy_repr``: the standardised weights or behaviour (with the
    mean and std that standardised them), or the library's rollouts (mean 0 and std 1 of their step size: they
    are read as they are). The last item is what the heads' sidecar records about the inputs: nothing for weights
    and for behaviour on every state (so those files keep their bytes); a drawn probe set's settings and hash
    (and, under ``"probes"``, the set itself, to store); the rollouts' settings, mean length and hash."""
    kind = PolicyRepr(config.policy_repr)
    if kind == PolicyRepr.TRAJECTORY:
        factories = [env_factory(suite, i, library.spec) for i in library.instructions]
        rollouts = library_rollouts(library.params, library.spec, factories, count=config.rollouts,
                                    steps=config.rollout_steps, seed=config.probe_seed,
                                    sampled=config.rollout_actions == Rollouts.SAMPLED)
        record = {"trajectories": {"rollouts": config.rollouts, "steps": config.rollout_steps,
                                   "actions": str(config.rollout_actions), "seed": config.probe_seed,
                                   "mean_length": round(rollouts.lengths.float().mean().item(), 6),
                                   "sha256": tensor_sha256(rollouts.steps)}}
        return (rollouts, torch.zeros(rollouts.step_dim), torch.ones(rollouts.step_dim), record)
    probes = None
    record: dict[str, Any] = {}
    if kind == PolicyRepr.BEHAVIOUR:
        probes = probe_set(suite, library.spec, library.instructions, seed=config.probe_seed,
                           episodes=config.probe_episodes, steps=config.probe_steps,
                           planner_walks=planner_walks(suite))
        if probes.drawn:
            record = {"probe_set": probes.info, "probes": probes}
    z, mean, std = standardize(library.representation(kind, None if probes is None else probes.observations))
    return z, mean, std, record


def policy_input_dim(inputs: "torch.Tensor | Trajectories") -> int:
    """The size the policy head reads: a representation's width, or a rollout step's."""
    return inputs.step_dim if isinstance(inputs, Trajectories) else int(inputs.shape[1])


def align(base_dir: str | Path, out: str | Path, config: AlignConfig | None = None, *,
          sources: Sequence[str] | None = None, tasks_file: str | Path | None = None,
          quiet: bool = False) -> dict[str, Any]:
    """Train the projection heads on the library under ``base_dir`` and write them to ``out``; returns the metrics.

    The settings are :class:`cliprl_cli.clip_rl.config.AlignConfig` (re-exported here). ``sources`` (instructions)
    selects the policies; by default the ``base_tasks`` of the suite ``tasks_file`` (the paper's suite when
    None), or every policy under ``base_dir`` when the suite lists none. Each policy's recorded goal must be the
    suite's goal for its instruction. ``config.policy_repr`` chooses what the policy head reads
    (:func:`policy_inputs`): the flattened weights (the paper); the behaviour, the action probabilities on a fixed
    probe set (every cell of the grid, every (x, y, direction) of the colour-shape world, or observations drawn
    from the suite's environments where they cannot be listed, stored as ``probes.safetensors``); or the
    trajectory, the policy's own seeded rollouts read by a GRU trained in place of the policy head
    (:mod:`cliprl_cli.clip_rl.policy_repr`). A colour-shape suite's policies must have been trained in its layout.
    """
    config = config or AlignConfig()
    if config.temperature <= 0:
        raise CliprlError(f"--temperature must be positive, got {config.temperature}")
    start = time.perf_counter()
    suite = load_suite(tasks_file)
    library = load_library(base_dir, default_sources(suite, sources))
    library.check_goals(suite)
    text = embed_instructions(library.instructions, config.text_encoder)
    weights_z, mean, std, represented = policy_inputs(library, suite, config)
    seed_everything(config.seed, threads=1)
    heads = Heads(config, text.shape[1], policy_input_dim(weights_z))
    optimizer = Adam(heads.parameters(), lr=config.lr)
    loss_curve: list[float] = []
    label = world_label(suite, library.spec.grid_size)
    with ProgressReporter(f"align {label}", config.epochs,
                          quiet=quiet, unit="epochs") as progress:
        for epoch in range(config.epochs):
            loss = info_nce(heads.similarity(text, weights_z), heads.log_temperature.exp())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_curve.append(round(loss.item(), 6))
            progress.update(epoch + 1, loss=loss_curve[-1])
    with torch.no_grad():
        similarity = heads.similarity(text, weights_z)
        final_loss = info_nce(similarity, heads.log_temperature.exp()).item()
    t2p, p2t = top1_accuracy(similarity)
    metrics = {"final_loss": final_loss, "initial_loss": loss_curve[0], "top1_text_to_policy": t2p,
               "top1_policy_to_text": p2t, "temperature": heads.log_temperature.exp().item(),
               "num_policies": len(library.instructions), "loss_curve": loss_curve}
    out = Path(out)
    if "probe_set" in represented:  # a drawn set: stored so that every later reader asks the same observations
        save_probes(out, represented.pop("probes"))
    else:
        remove_probes(out)
    tensors = {f"heads/{k}": v for k, v in heads.state_dict().items()}
    tensors.update({"weight_mean": mean, "weight_std": std, "source_text_embeddings": text})
    save_artifact(out / HEADS_FILE, tensors, kind=KIND, config=config.to_dict(), metrics=metrics,
                  timings={"wall_time_s": round(time.perf_counter() - start, 4)}, seed=config.seed,
                  extra={"instructions": library.instructions, "spec": library.spec.to_dict(),
                         "text_dim": text.shape[1], "weight_dim": policy_input_dim(weights_z),
                         "similarity": similarity.tolist(),
                         "sources": [str(p) for p in library.paths], **represented},
                  # the flat scalars DVC tracks (no loss curve), written with the heads as one set
                  companions={"metrics.json": AlignMetrics(**metrics).to_json()})
    return metrics


def load_heads(align_dir: str | Path) -> tuple[Heads, dict[str, torch.Tensor], dict[str, Any]]:
    """Load trained heads; returns (heads, extra tensors, sidecar)."""
    align_dir = Path(align_dir)
    file = align_dir / HEADS_FILE if align_dir.is_dir() or not align_dir.suffix else align_dir
    tensors, sidecar = load_artifact(file, kind=KIND)
    try:
        config = AlignConfig(**sidecar["config"])
        heads = Heads(config, int(sidecar["text_dim"]), int(sidecar["weight_dim"]))
        heads.load_state_dict({k[len("heads/"):]: v for k, v in tensors.items() if k.startswith("heads/")})
    except (KeyError, TypeError, RuntimeError) as exc:
        raise CliprlError(f"{file}: heads do not match their sidecar ({str(exc).splitlines()[0]})") from None
    heads.eval()
    return heads, tensors, sidecar
