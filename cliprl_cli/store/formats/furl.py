"""FuRL's files: learning curves, run summaries, expert rewards, the resolved run config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_json, read_json
from ..runinfo import RunSplit
from .common import Json, _field, _floats, _items, _number, _object, _obs_key


# ------------------------------------------------------------------------------------------------ FuRL
def _synthetic_key(synthetic: bool) -> Json:
    """``{"vlm_synthetic": true}`` for a run of the synthetic VLM, nothing otherwise (other runs keep their bytes)."""
    return {"vlm_synthetic": True} if synthetic else {}


_FURL_POINT_HEAD = ("step", "success_any", "success_last", "return", "sparse_return")
_FURL_POINT_TAIL = ("episodes", "train_success_episodes", "positive_frames", "relay_on", "updates", "wall_s",
                    "env_steps_per_s")


@dataclass
class FurlPoint:
    """One evaluation of a FuRL run: evaluation results, then the training statistics averaged since the last one.

    ``train_stats`` holds the per-variant means (SAC losses, alignment losses, VLM reward statistics), in the
    order the run produced them.
    """

    step: int
    success_any: float
    success_last: float
    return_: float
    sparse_return: float
    train_stats: dict[str, float]
    episodes: int
    train_success_episodes: int
    positive_frames: int
    relay_on: bool
    updates: int
    wall_s: float | None = None            # run metadata: in run.json, not in the hashed files
    env_steps_per_s: float | None = None   # run metadata, likewise

    def to_json(self) -> Json:
        return {"step": self.step, "success_any": self.success_any, "success_last": self.success_last,
                "return": self.return_, "sparse_return": self.sparse_return, **self.train_stats,
                "episodes": self.episodes, "train_success_episodes": self.train_success_episodes,
                "positive_frames": self.positive_frames, "relay_on": self.relay_on, "updates": self.updates,
                "wall_s": self.wall_s, "env_steps_per_s": self.env_steps_per_s}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlPoint":
        doc = _object(doc, where)
        known = set(_FURL_POINT_HEAD) | set(_FURL_POINT_TAIL)
        return cls(step=int(_field(doc, "step", int, where)), success_any=_number(doc, "success_any", where),
                   success_last=_number(doc, "success_last", where), return_=_number(doc, "return", where),
                   sparse_return=_number(doc, "sparse_return", where),
                   train_stats={k: v for k, v in doc.items() if k not in known},
                   episodes=int(_field(doc, "episodes", int, where)),
                   train_success_episodes=int(_field(doc, "train_success_episodes", int, where)),
                   positive_frames=int(_field(doc, "positive_frames", int, where)),
                   relay_on=_field(doc, "relay_on", bool, where), updates=int(_field(doc, "updates", int, where)),
                   wall_s=_number(doc, "wall_s", where, optional=True),
                   env_steps_per_s=_number(doc, "env_steps_per_s", where, optional=True))


@dataclass
class FurlCurve(RunSplit):
    """``furl/<task>/<variant>/seed<k>/curve.json``, rewritten after every evaluation. Each point's ``wall_s`` and
    ``env_steps_per_s`` go to ``run.json`` (``to_json()`` and ``write()`` leave them out)."""

    vlm_random_weights: bool
    task: str
    variant: str
    seed: int
    curve: list[FurlPoint]
    obs: str | None = None  # "pixels" for a DrQ run; absent (None) for the state agent's files
    vlm_synthetic: bool = False  # a --vlm-model synthetic run (written only when true)

    def _full_json(self) -> Json:
        return {"vlm_random_weights": self.vlm_random_weights, "task": self.task, "variant": self.variant,
                "seed": self.seed, "curve": [p.to_json() for p in self.curve], **_obs_key(self.obs),
                **_synthetic_key(self.vlm_synthetic)}

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlCurve":
        doc = _object(doc, where)
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   task=_field(doc, "task", str, where), variant=_field(doc, "variant", str, where),
                   seed=int(_field(doc, "seed", int, where)),
                   curve=[FurlPoint.from_json(p, f"{where}: curve[{i}]")
                          for i, p in enumerate(_field(doc, "curve", list, where))],
                   obs=_field(doc, "obs", str, where, optional=True),
                   vlm_synthetic=bool(_field(doc, "vlm_synthetic", bool, where, optional=True)))

    @classmethod
    def read(cls, path: str | Path) -> "FurlCurve":
        return cls.from_json(read_json(path, what="FuRL curve"), str(path))


@dataclass
class FurlSummary(RunSplit):
    """``furl/.../summary.json``: the finished run's last evaluation, memory and set-up. Its speed and history
    (``wall_s``, ``env_steps_per_s``, ``timings_s``, ``resumed_from_step``) go to ``run.json``; they are
    None/empty when read from a file written since."""

    vlm_random_weights: bool
    task: str
    variant: str
    seed: int
    steps: int
    resumed_from_step: int | None
    final: Json
    wall_s: float | None
    env_steps_per_s: float | None
    timings_s: dict[str, float]
    replay_bytes_per_transition: int
    replay_bytes: int
    positive_frames: int
    cpu_tuning: dict[str, bool]
    torch_threads: int
    expert_rewards: Json | None = None
    # The VLM that produced the run's rewards (None for sac): its identity "<model>|<weights>[|sha256:..][|RANDOM]
    # [|preprocess:..]" and the checkpoint file's full SHA-256 (None unless the weights came from a file).
    vlm: str | None = None
    vlm_checkpoint_sha256: str | None = None
    sac_style: str | None = None  # "authors" or "cleanrl"; None in files written before the styles existed
    # Over the run's curve points (None where the stage never ran): the mean fraction of Eq. 5's ordered pairs its
    # goal-distance mask kept, and of Eq. 4's pairs (pos-neg and pos-pos) with a non-zero hinge.
    eq5_pairs_kept_mean: float | None = None
    eq4_hinge_nonzero_mean: float | None = None
    obs: str | None = None  # "pixels" for a DrQ run; absent (None) for the state agent's files
    vlm_synthetic: bool = False  # a --vlm-model synthetic run (written only when true)

    def _full_json(self) -> Json:
        doc: Json = {"vlm_random_weights": self.vlm_random_weights, "task": self.task, "variant": self.variant,
                     "seed": self.seed, "steps": self.steps, "resumed_from_step": self.resumed_from_step,
                     "final": self.final, "wall_s": self.wall_s, "env_steps_per_s": self.env_steps_per_s,
                     "timings_s": self.timings_s, "replay_bytes_per_transition": self.replay_bytes_per_transition,
                     "replay_bytes": self.replay_bytes, "positive_frames": self.positive_frames,
                     "cpu_tuning": self.cpu_tuning, "torch_threads": self.torch_threads, "vlm": self.vlm,
                     "vlm_checkpoint_sha256": self.vlm_checkpoint_sha256, "sac_style": self.sac_style,
                     "eq5_pairs_kept_mean": self.eq5_pairs_kept_mean,
                     "eq4_hinge_nonzero_mean": self.eq4_hinge_nonzero_mean}
        if self.expert_rewards is not None:
            doc["expert_rewards"] = self.expert_rewards
        doc.update(_obs_key(self.obs))
        doc.update(_synthetic_key(self.vlm_synthetic))
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlSummary":
        doc = _object(doc, where)
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   task=_field(doc, "task", str, where), variant=_field(doc, "variant", str, where),
                   seed=int(_field(doc, "seed", int, where)), steps=int(_field(doc, "steps", int, where)),
                   resumed_from_step=_field(doc, "resumed_from_step", int, where, optional=True),
                   final=_field(doc, "final", dict, where), wall_s=_number(doc, "wall_s", where, optional=True),
                   env_steps_per_s=_number(doc, "env_steps_per_s", where, optional=True),
                   timings_s=_field(doc, "timings_s", dict, where, optional=True) or {},
                   replay_bytes_per_transition=int(_field(doc, "replay_bytes_per_transition", int, where)),
                   replay_bytes=int(_field(doc, "replay_bytes", int, where)),
                   positive_frames=int(_field(doc, "positive_frames", int, where)),
                   cpu_tuning=_field(doc, "cpu_tuning", dict, where),
                   torch_threads=int(_field(doc, "torch_threads", int, where)),
                   expert_rewards=_field(doc, "expert_rewards", dict, where, optional=True),
                   vlm=_field(doc, "vlm", str, where, optional=True),
                   vlm_checkpoint_sha256=_field(doc, "vlm_checkpoint_sha256", str, where, optional=True),
                   sac_style=_field(doc, "sac_style", str, where, optional=True),
                   eq5_pairs_kept_mean=_number(doc, "eq5_pairs_kept_mean", where, optional=True),
                   eq4_hinge_nonzero_mean=_number(doc, "eq4_hinge_nonzero_mean", where, optional=True),
                   obs=_field(doc, "obs", str, where, optional=True),
                   vlm_synthetic=bool(_field(doc, "vlm_synthetic", bool, where, optional=True)))

    def final_point(self, where: str = "summary.json") -> FurlPoint | None:
        """``final`` as a typed point; None for a run that never evaluated (its writer then writes ``{}``)."""
        return FurlPoint.from_json(self.final, f"{where}: final") if self.final else None

    @classmethod
    def read(cls, path: str | Path) -> "FurlSummary":
        return cls.from_json(read_json(path, what="FuRL summary"), str(path))


@dataclass
class ExpertRewards:
    """``furl/.../expert_rewards.json``: VLM rewards along one scripted-expert trajectory (the paper's Figure 11).

    ``aligned`` is present only for variants with projection heads.
    """

    vlm_random_weights: bool
    task: str
    variant: str
    seed: int
    instruction_embedding_model: str  # the VLM's identity, "<model>|<weights>"
    step: list[int]
    success: list[bool]
    first_success: int | None
    zero_shot: list[float]
    training_reward: list[float]
    aligned: list[float] | None = None

    def to_json(self) -> Json:
        doc: Json = {"vlm_random_weights": self.vlm_random_weights, "task": self.task, "variant": self.variant,
                     "seed": self.seed, "instruction_embedding_model": self.instruction_embedding_model,
                     "step": self.step, "success": self.success, "first_success": self.first_success,
                     "zero_shot": self.zero_shot}
        if self.aligned is not None:
            doc["aligned"] = self.aligned
        doc["training_reward"] = self.training_reward
        return doc

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "ExpertRewards":
        doc = _object(doc, where)
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   task=_field(doc, "task", str, where), variant=_field(doc, "variant", str, where),
                   seed=int(_field(doc, "seed", int, where)),
                   instruction_embedding_model=_field(doc, "instruction_embedding_model", str, where),
                   step=[int(s) for s in _items(doc, "step", int, where)],
                   success=list(_items(doc, "success", bool, where)),
                   first_success=_field(doc, "first_success", int, where, optional=True),
                   zero_shot=_floats(doc, "zero_shot", where),
                   training_reward=_floats(doc, "training_reward", where),
                   aligned=_floats(doc, "aligned", where, optional=True))

    @classmethod
    def read(cls, path: str | Path) -> "ExpertRewards":
        return cls.from_json(read_json(path, what="FuRL expert rewards"), str(path))


@dataclass
class FurlRunConfig:
    """``furl/.../config.json``: the resolved FurlConfig plus what the run derived from it.

    ``config`` is the dataclass's fields in order (its ``instruction`` field is written as the resolved
    instruction, in place); ``device_resolved`` and ``vlm`` (the VLM's identity, None for ``sac``) follow.
    """

    vlm_random_weights: bool
    config: Json
    instruction: str
    device_resolved: str
    vlm: str | None  # the VLM's identity, "<model>|<weights>"; None for variants without one
    vlm_synthetic: bool = False  # a --vlm-model synthetic run (written only when true)

    def to_json(self) -> Json:
        return {"vlm_random_weights": self.vlm_random_weights, **self.config, "instruction": self.instruction,
                "device_resolved": self.device_resolved, "vlm": self.vlm, **_synthetic_key(self.vlm_synthetic)}

    def write(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_json())

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "FurlRunConfig":
        doc = _object(doc, where)
        # "instruction" stays in ``config`` too: it is a FurlConfig field, so it keeps its place in the file.
        tail = ("vlm_random_weights", "device_resolved", "vlm", "vlm_synthetic")
        return cls(vlm_random_weights=_field(doc, "vlm_random_weights", bool, where),
                   config={k: v for k, v in doc.items() if k not in tail},
                   instruction=_field(doc, "instruction", str, where),
                   device_resolved=_field(doc, "device_resolved", str, where),
                   vlm=_field(doc, "vlm", str, where, optional=True),
                   vlm_synthetic=bool(_field(doc, "vlm_synthetic", bool, where, optional=True)))

    @classmethod
    def read(cls, path: str | Path) -> "FurlRunConfig":
        return cls.from_json(read_json(path, what="FuRL config"), str(path))
