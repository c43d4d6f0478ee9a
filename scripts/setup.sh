#!/usr/bin/env bash
# Create .venv and install cliprl with its test and benchmark extras. Idempotent; run from anywhere.
# torch is not pinned: pip resolves torch together with torchvision (a lone torch==2.13.0 CPU wheel breaks
# PyPI's torchvision, and with it open_clip and sentence-transformers).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q -e '.[dev,bench]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import cliprl_cli, torch, torchvision, open_clip, sentence_transformers, metaworld" \
    || { echo "setup: the install is incomplete (see pip's output above)" >&2; exit 1; }
echo "setup: .venv ready ($(.venv/bin/cliprl --version))"
