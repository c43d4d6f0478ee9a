import json

import pytest
import torch

from cliprl_cli import artifacts
from cliprl_cli.artifacts import ArtifactError, load_artifact, save_artifact


def _save(path, value=1.0):
    return save_artifact(path, {"w": torch.full((2, 3), value), "b": torch.zeros(3)}, kind="test",
                         config={"a": 1}, metrics={"m": 2.0}, seed=7)


def test_round_trip(tmp_path):
    path = _save(tmp_path / "x.safetensors")
    tensors, sidecar = load_artifact(path, kind="test", expected_shapes={"w": (2, 3)})
    assert torch.equal(tensors["w"], torch.ones(2, 3))
    assert sidecar["schema"] == artifacts.SCHEMA and sidecar["seed"] == 7 and sidecar["config"] == {"a": 1}
    assert "torch" in sidecar["provenance"]["versions"] and sidecar["provenance"]["command"]


def test_interrupted_write_keeps_the_old_artifact(tmp_path, monkeypatch):
    path = _save(tmp_path / "x.safetensors", 1.0)
    before = path.read_bytes()

    def crash(src, dst):
        raise KeyboardInterrupt("killed between write and rename")

    monkeypatch.setattr(artifacts, "_replace", crash)
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
    side["safetensors_sha256"] = None
    path.with_suffix(".json").write_text(json.dumps(side))
    path.write_bytes(path.read_bytes()[:-5])
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
