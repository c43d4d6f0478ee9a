"""The job plan: DVC's expanded stages, what needs to run, grouped into SLURM jobs ordered by their dependencies.

The pipeline is read through DVC's own Python API (``dvc.repo.Repo``: its index, stage graph and stage status), so
``matrix:``/``foreach:`` expansion, ``wdir``, ``vars`` and params interpolation are DVC's, not re-implemented here.
The expanded stages of one parent become one job array; a group that depends on itself or sits on a cycle between
groups is split into one job per stage; a final job runs ``dvc commit -f`` on the submitted stages.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import networkx as nx
from dvc.exceptions import DvcException
from dvc.repo import Repo

from ..errors import CliprlError

COMMIT_KEY = "dvc-commit"


@dataclass
class StageTask:
    """One expanded DVC stage: what one job, or one task of a job array, runs."""

    address: str  # DVC's address: "name", "name@key", or "sub/dvc.yaml:name@key"
    cmd: list[str]
    wdir: str  # absolute


@dataclass
class Job:
    """One SLURM job: a single stage, an array over the expanded stages of one matrix/foreach parent, or the
    final ``dvc commit`` job."""

    key: str  # unique, file-name safe: "train_base", "dvc-commit", ...
    group: str  # the DVC address of the group ("train_base", "sub/dvc.yaml:furl"), or "" for the commit job
    tasks: list[StageTask]
    after: list[str] = field(default_factory=list)  # keys of the jobs this one waits for (afterok)
    array: bool = False

    @property
    def size(self) -> int:
        return len(self.tasks)


@dataclass
class JobPlan:
    root: str
    jobs: list[Job]  # in submission order: every job comes after the jobs it waits for
    skipped: list[str]  # addresses of the stages that are up to date (or frozen) and are not submitted

    @property
    def stage_jobs(self) -> list[Job]:
        """The jobs that run stages (all but the final ``dvc commit``)."""
        return [job for job in self.jobs if job.key != COMMIT_KEY]


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The DVC repository root at or above ``start`` (default: the working directory)."""
    here = Path(start or os.getcwd()).resolve()
    for cand in (here, *here.parents):
        if (cand / ".dvc").is_dir():
            return cand
    raise CliprlError(f"not inside a DVC repository (no .dvc directory at or above {here}); run `dvc init` first")


def _group_of(address: str) -> str:
    return address.split("@", 1)[0]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "stage"


def _cmd_list(cmd: Any) -> list[str]:
    if cmd is None:
        return []
    if isinstance(cmd, str):
        return [cmd]
    return [str(c) for c in cmd]


def build_plan(root: str | os.PathLike | None = None, *, targets: Sequence[str] = (), force: bool = False) -> JobPlan:
    """Read the DVC pipeline at ``root`` and group the stages to run into SLURM jobs.

    ``targets`` (stage addresses or matrix parents such as ``train_base``) limit the plan to those stages and what
    they depend on, like ``dvc repro TARGET``; ``force`` submits every stage, up to date or not.
    """
    root_path = find_root(root)
    try:
        repo = Repo(str(root_path))
    except DvcException as exc:
        raise CliprlError(f"cannot open the DVC repository at {root_path}: {one_line(exc)}") from exc
    try:
        try:
            index = repo.index
            graph = index.graph
            stages = [s for s in index.stages if _cmd_list(getattr(s, "cmd", None))]
        except DvcException as exc:
            raise CliprlError(f"cannot read the DVC pipeline in {root_path}: {one_line(exc)}") from exc
        if not stages:
            where = root_path / "dvc.yaml"
            if not where.exists():
                raise CliprlError(f"no dvc.yaml in {root_path}: there is no pipeline to submit")
            raise CliprlError(f"{where} defines no stage with a command: there is nothing to submit")

        order = {s.addressing: i for i, s in enumerate(stages)}
        by_addr = {s.addressing: s for s in stages}
        # graph edges go from a stage to the stages that produce its dependencies
        deps_of: dict[str, set[str]] = {
            a: {d.addressing for d in graph.successors(by_addr[a]) if d.addressing in by_addr} for a in by_addr
        }

        selected = set(by_addr)
        if targets:
            selected = set()
            for target in targets:
                hits = [a for a in by_addr if a == target or _group_of(a) == target
                        or a.split(":", 1)[-1] == target or _group_of(a.split(":", 1)[-1]) == target]
                if not hits:
                    raise CliprlError(f"no stage {target!r} in the pipeline (stages: "
                                      f"{', '.join(sorted({_group_of(a) for a in by_addr}))})")
                for a in hits:
                    selected.add(a)
                    selected.update(d.addressing for d in nx.descendants(graph, by_addr[a]) if d.addressing in by_addr)

        try:
            with repo.lock:
                changed = {a: (not by_addr[a].frozen) and (force or by_addr[a].changed()) for a in selected}
        except DvcException as exc:
            raise CliprlError(f"cannot compute the pipeline status in {root_path}: {one_line(exc)}") from exc
        wdirs = {a: str(Path(by_addr[a].wdir).resolve()) for a in selected}
        cmds = {a: _cmd_list(by_addr[a].cmd) for a in selected}
    finally:
        repo.close()

    # submit what changed, and everything downstream of it (its inputs are about to change)
    dag = nx.DiGraph()
    dag.add_nodes_from(selected)
    dag.add_edges_from((d, a) for a in selected for d in deps_of[a] if d in selected)
    topo = list(nx.lexicographical_topological_sort(dag, key=order.__getitem__))
    submit: set[str] = set()
    for a in topo:
        if changed[a] or any(d in submit for d in deps_of[a]):
            submit.add(a)
    skipped = [a for a in sorted(selected, key=order.__getitem__) if a not in submit]

    groups = _group(submit, deps_of, order)
    jobs = _jobs_from_groups(groups, submit, deps_of, order, cmds, wdirs)
    if jobs:
        commit_tasks = [StageTask(address=COMMIT_KEY, cmd=[
            "dvc commit -f " + " ".join(shlex.quote(a) for a in sorted(submit, key=order.__getitem__))],
            wdir=str(root_path))]
        jobs.append(Job(key=COMMIT_KEY, group="", tasks=commit_tasks, after=[j.key for j in jobs]))
    return JobPlan(root=str(root_path), jobs=jobs, skipped=skipped)


def _group(submit: set[str], deps_of: dict[str, set[str]], order: dict[str, int]) -> list[list[str]]:
    """Stages grouped by their matrix/foreach parent; a group that depends on itself, or sits on a cycle between
    groups, is split into single stages (repeated until the group graph is acyclic)."""
    group_of = {a: _group_of(a) for a in submit}
    while True:
        members: dict[str, list[str]] = {}
        for a in sorted(submit, key=order.__getitem__):
            members.setdefault(group_of[a], []).append(a)
        g = nx.DiGraph()
        g.add_nodes_from(members)
        bad: set[str] = set()
        for a in submit:
            for d in deps_of[a]:
                if d not in submit:
                    continue
                if group_of[d] == group_of[a]:
                    bad.add(group_of[a])
                else:
                    g.add_edge(group_of[d], group_of[a])
        for comp in nx.strongly_connected_components(g):
            if len(comp) > 1:
                bad.update(c for c in comp if len(members[c]) > 1)
        if not bad:
            return list(members.values())
        for a in submit:
            if group_of[a] in bad:
                group_of[a] = a  # a stage of its own


def _jobs_from_groups(groups: list[list[str]], submit: set[str], deps_of: dict[str, set[str]],
                      order: dict[str, int], cmds: dict[str, list[str]], wdirs: dict[str, str]) -> list[Job]:
    parents = [_group_of(m[0]) for m in groups]
    used: set[str] = {COMMIT_KEY}
    keys: list[str] = []
    names: list[str] = []
    for members, parent in zip(groups, parents):
        # a stage split out of its matrix group (or the only one left of it) is named by its full address
        name = parent if len(members) > 1 or parents.count(parent) == 1 else members[0]
        key = base = _safe(name)
        n = 2
        while key in used:
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        keys.append(key)
        names.append(name)
    job_of_stage = {a: k for m, k in zip(groups, keys) for a in m}
    g = nx.DiGraph()
    g.add_nodes_from(keys)
    for a in submit:
        for d in deps_of[a]:
            if d in submit and job_of_stage[d] != job_of_stage[a]:
                g.add_edge(job_of_stage[d], job_of_stage[a])
    first = {k: min(order[a] for a in m) for m, k in zip(groups, keys)}
    by_key = {k: (m, name) for m, k, name in zip(groups, keys, names)}
    jobs = []
    for key in nx.lexicographical_topological_sort(g, key=first.__getitem__):
        members, name = by_key[key]
        jobs.append(Job(key=key, group=name,
                        tasks=[StageTask(address=a, cmd=cmds[a], wdir=wdirs[a]) for a in members],
                        after=sorted(g.predecessors(key), key=first.__getitem__),
                        array="@" in members[0] and name != members[0]))
    return jobs


def one_line(exc: Any) -> str:
    """An error as one line of at most 500 characters (for a one-line CliprlError)."""
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__
