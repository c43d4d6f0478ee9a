"""scripts/compare_artifacts.py: results must match; run metadata (run.json, provenance.js) never counts."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("compare_artifacts", ROOT / "scripts" / "compare_artifacts.py")
compare_artifacts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_artifacts)


def _tree(root: Path, steps: int, run_id: str) -> Path:
    (root / "transfer").mkdir(parents=True)
    (root / "transfer" / "results.json").write_text(json.dumps({"env_steps": steps, "wall_time_s": steps / 7}))
    (root / "transfer" / "run.json").write_text(json.dumps({"run": {"id": run_id}}))
    (root / "provenance.js").write_text(f"window.provenance = '{run_id}';")
    return root


def test_run_metadata_never_counts_and_a_result_always_does(tmp_path, capsys):
    old = _tree(tmp_path / "old", 512, "a")
    assert compare_artifacts.main([str(old), str(_tree(tmp_path / "same", 512, "b"))]) == 0
    out = capsys.readouterr().out
    assert "summary: 1 same, 0 same-but-timing, 2 run-metadata, 0 DIFFERENT" in out
    assert compare_artifacts.main([str(old), str(_tree(tmp_path / "other", 1024, "c"))]) == 1
    assert "DIFFERENT  transfer/results.json  ($.env_steps: 512 vs 1024)" in capsys.readouterr().out
