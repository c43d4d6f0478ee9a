import hashlib
import json
import os

import pytest
import torch

from cliprl_cli.store import artifacts, atomic
from cliprl_cli.store.artifacts import load_artifact, save_artifact
from cliprl_cli.store.atomic import ArtifactError


def _save(path, value=1.0):
    return save_artifact(path, {"w": torch.full((2, 3), value), "b": torch.zeros(3)}, kind="test",
                         config={"a": 1}, metrics={"m": 2.0}, seed=7)


def test_round_trip(tmp_path):
    path = _save(tmp_path / "x.safetensors")
    tensors, sidecar = load_artifact(path, kind="test", expected_shapes={"w": (2, 3)})
    assert torch.equal(tensors["w"], torch.ones(2, 3))
    assert sidecar["schema"] == artifacts.SCHEMA and sidecar["seed"] == 7 and sidecar["config"] == {"a": 1}
    # run metadata is not in the hashed sidecar but in run.json beside it (issue 16)
    assert "provenance" not in sidecar and "timings" not in sidecar
    run = json.loads((tmp_path / "run.json").read_text())["run"]
    assert "torch" in run["versions"] and run["command"] and run["host"] and run["started_at"]


def test_run_metadata_leaves_the_hashed_sidecar(tmp_path):
    """Two saves of the same tensors with different wall times, timings and resume points give identical files;
    run.json holds what differs (and a checkpoint keeps it, since resuming needs its elapsed time)."""
    def save(out, wall):
        return save_artifact(out / "x.safetensors", {"w": torch.ones(2)}, kind="test", config={"a": 1},
                             metrics={"m": 2.0, "wall_time_s": wall, "resumed_from_step": None},
                             timings={"wall_time_s": wall}, seed=7,
                             extra={"curve": [{"x": 0, "wall_s": wall}, {"x": 1, "wall_s": 2 * wall}]})
    a, b = save(tmp_path / "a", 1.0), save(tmp_path / "b", 3.0)
    for name in ("x.safetensors", "x.json"):
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    side = json.loads((a.parent / "x.json").read_text())
    assert side["metrics"] == {"m": 2.0} and side["curve"] == [{"x": 0}, {"x": 1}]
    files = json.loads((b.parent / "run.json").read_text())["files"]["x.json"]
    assert files == {"metrics": {"wall_time_s": 3.0, "resumed_from_step": None}, "timings": {"wall_time_s": 3.0},
                     "curve": [{"wall_s": 3.0}, {"wall_s": 6.0}]}
    ckpt = save_artifact(tmp_path / "c" / "checkpoint.safetensors", {"w": torch.ones(2)}, kind="checkpoint",
                         extra={"state": {"elapsed_s": 5.0}}, timings={"wall_time_s": 1.0})
    side = json.loads(ckpt.with_suffix(".json").read_text())
    assert side["state"]["elapsed_s"] == 5.0 and "provenance" in side and not (ckpt.parent / "run.json").exists()


def test_interrupted_write_keeps_the_old_artifact(tmp_path, monkeypatch):
    path = _save(tmp_path / "x.safetensors", 1.0)
    before = path.read_bytes()

    def crash(src, dst):
        raise KeyboardInterrupt("killed between write and rename")

    monkeypatch.setattr(atomic, "_replace", crash)
    with pytest.raises(KeyboardInterrupt):
        _save(path, 5.0)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file is cleaned up
    tensors, _ = load_artifact(path)
    assert torch.equal(tensors["w"], torch.ones(2, 3))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.with_suffix(".json").unlink(), "missing sidecar"),
    (lambda p: p.write_bytes(p.read_bytes()[:40]), "hash"),
    (lambda p: p.with_suffix(".json").write_text("{not json"), "not valid JSON"),
])
def test_damaged_artifacts_fail_with_one_line(tmp_path, damage, message):
    path = _save(tmp_path / "x.safetensors")
    damage(path)
    with pytest.raises(ArtifactError, match=message) as info:
        load_artifact(path)
    assert "\n" not in str(info.value) and "x." in str(info.value)


def test_truncated_tensor_file_without_hash_and_schema_and_shape_checks(tmp_path):
    path = _save(tmp_path / "x.safetensors")
    side = json.loads(path.with_suffix(".json").read_text())
    side["safetensors_sha256"] = None  # the hash is mandatory: no hash, no load (tampered tensors never load)
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match="no safetensors_sha256"):
        load_artifact(path)
    del side["safetensors_sha256"]
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match="mandatory"):
        load_artifact(path)
    path.write_bytes(path.read_bytes()[:-5])  # a sidecar that hashes a truncated file: safetensors refuses it
    side["safetensors_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match="corrupt or truncated"):
        load_artifact(path)
    path = _save(tmp_path / "y.safetensors")
    side = json.loads(path.with_suffix(".json").read_text())
    side["schema"] = "cliprl.artifact/0"
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match="schema"):
        load_artifact(path)
    path = _save(tmp_path / "z.safetensors")
    with pytest.raises(ArtifactError, match="expected"):
        load_artifact(path, expected_shapes={"w": (3, 2)})
    with pytest.raises(ArtifactError, match="expected a 'policy'"):
        load_artifact(path, kind="policy")


def test_tensors_sharing_memory_are_saved(tmp_path):
    shared = torch.tensor(0.5)
    base = torch.arange(6.0)
    path = save_artifact(tmp_path / "s.safetensors", {"a": shared, "b": shared, "whole": base, "view": base[:3]},
                         kind="test")
    tensors, _ = load_artifact(path)
    assert tensors["a"].item() == tensors["b"].item() == 0.5
    assert tensors["view"].tolist() == [0.0, 1.0, 2.0] and tensors["whole"].tolist() == base.tolist()


# ------------------------------------------------------------------------------------- issue 15: integrity, umask
def test_companions_are_covered_by_the_sidecar_manifest(tmp_path):
    path = save_artifact(tmp_path / "p.safetensors", {"w": torch.ones(2)}, kind="test",
                         companions={"curve.json": [{"a": 1}], "raw.bin": b"xyz"})
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["files"] == {"curve.json": hashlib.sha256(b'[\n  {\n    "a": 1\n  }\n]\n').hexdigest(),
                             "raw.bin": hashlib.sha256(b"xyz").hexdigest()}
    assert list(side)[:5] == ["schema", "kind", "tensors", "safetensors_sha256", "files"]
    load_artifact(path)
    (tmp_path / "curve.json").write_text('[{"a": 2}]\n')  # a curve from another write beside the old manifest
    with pytest.raises(ArtifactError, match="curve.json: does not match its hash in p.json: the directory mixes"):
        load_artifact(path)
    (tmp_path / "curve.json").unlink()
    with pytest.raises(ArtifactError, match="curve.json: missing"):
        load_artifact(path)


def test_a_failed_set_write_leaves_the_old_set_and_no_temporaries(tmp_path, monkeypatch):
    path = save_artifact(tmp_path / "p.safetensors", {"w": torch.ones(2)}, kind="test", companions={"c.json": [1]})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_stage = atomic._stage

    def stage(directory, name, data, mode):  # the disk fills while the sidecar (the last file) is written
        if name == "p.json":
            raise OSError(28, "No space left on device")
        return real_stage(directory, name, data, mode)

    monkeypatch.setattr(atomic, "_stage", stage)
    with pytest.raises(OSError, match="No space"):
        save_artifact(path, {"w": torch.zeros(2)}, kind="test", companions={"c.json": [2]})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    load_artifact(path)


def test_a_crash_between_renames_is_detected(tmp_path, monkeypatch):
    path = save_artifact(tmp_path / "p.safetensors", {"w": torch.ones(2)}, kind="test", companions={"c.json": [1]})
    real = atomic._replace
    calls = []

    def crash_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between two renames")
        real(src, dst)

    monkeypatch.setattr(atomic, "_replace", crash_second)
    with pytest.raises(KeyboardInterrupt):
        save_artifact(path, {"w": torch.zeros(2)}, kind="test", companions={"c.json": [2]})
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(ArtifactError, match="c.json: does not match"):
        load_artifact(path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = save_artifact(tmp_path / "p.safetensors", {"w": torch.ones(2)}, kind="test", companions={"c.json": 1})
        atomic.atomic_write_text(tmp_path / "t.txt", "x")
    finally:
        os.umask(old)
    for name in ("p.safetensors", "p.json", "c.json", "t.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert path.exists()


def test_json_refuses_non_finite_numbers(tmp_path):
    with pytest.raises(ArtifactError, match=r"non-finite number .* at metrics\.loss\[1\]"):
        atomic.atomic_write_json(tmp_path / "m.json", {"metrics": {"loss": [1.0, float("nan")]}})
    with pytest.raises(ArtifactError, match="at x"):
        atomic.to_json_bytes({"x": float("inf")})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("tensor, message", [
    (torch.ones(2, dtype=torch.float64), "is float64; the format is float32"),
    (torch.ones(2, dtype=torch.int64), "is int64; the format is float32"),
    (torch.tensor([1.0, float("nan")]), "NaN or infinite"),
    (torch.tensor([float("inf")]), "NaN or infinite"),
])
def test_float32_kinds_refuse_other_dtypes_and_non_finite_values(tmp_path, tensor, message):
    with pytest.raises(ArtifactError, match=message):  # refused when written...
        save_artifact(tmp_path / "p.safetensors", {"w": tensor}, kind="base-policy")
    assert not list(tmp_path.iterdir())
    path = save_artifact(tmp_path / "p.safetensors", {"w": tensor}, kind="test")  # ...and when read
    side = json.loads(path.with_suffix(".json").read_text())
    side["kind"] = "base-policy"
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match=message):
        load_artifact(path)


def test_dtype_must_match_the_sidecar(tmp_path):
    path = save_artifact(tmp_path / "p.safetensors", {"w": torch.ones(2)}, kind="test")
    side = json.loads(path.with_suffix(".json").read_text())
    side["tensors"]["w"]["dtype"] = "float16"
    path.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ArtifactError, match="sidecar says float16"):
        load_artifact(path)
