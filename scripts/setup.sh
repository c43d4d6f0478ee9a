#!/usr/bin/env bash
# Create .venv and install cliprl's locked environment: requirements.lock (every package at the version that
# produced the committed dvc.lock and tests/data/fingerprints.json, each file checked against its SHA-256), then
# this checkout, editable and without dependencies. Idempotent; run from anywhere.
#
# The lock holds the files for one interpreter (its "# python:" line; PYTHON=python3.11 picks one). With another
# Python, or to let pip resolve the newest versions instead, CLIPRL_UNLOCKED=1 installs without the lock: the
# results may then differ from the committed ones. Refresh the lock: scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
quiet_pip() { grep -v -E '^WARNING: Location' || true; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | quiet_pip
want=$(sed -n 's/^# python: //p' requirements.lock)
have=$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "${CLIPRL_UNLOCKED:-}" = 1 ]; then
    echo "setup: CLIPRL_UNLOCKED=1: resolving afresh, not from requirements.lock" >&2
    .venv/bin/python -m pip install -q -e '.[dev,bench,tensorboard]' 2>&1 | quiet_pip
elif [ "$have" = "$want" ]; then
    .venv/bin/python -m pip install -q --require-hashes --no-deps -r requirements.lock 2>&1 | quiet_pip
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | quiet_pip
else
    echo "setup: requirements.lock is for Python $want, .venv has Python $have: run with PYTHON=python$want" \
         "(remove .venv first), or CLIPRL_UNLOCKED=1 to install unlocked versions" >&2
    exit 1
fi
.venv/bin/python -c "import cliprl_cli, torch, torchvision, open_clip, sentence_transformers, metaworld" \
    || { echo "setup: the install is incomplete (see pip's output above)" >&2; exit 1; }
echo "setup: .venv ready ($(.venv/bin/cliprl --version))"
