#!/usr/bin/env bash
# Refresh requirements.lock, the hash-checked environment that scripts/setup.sh installs.
#
#   bash scripts/lock.sh          # resolve afresh: a scratch venv gets `pip install -e '.[dev,bench,tensorboard]'`
#                                 # (pip picks torch and torchvision together), then exactly that is locked
#   bash scripts/lock.sh .venv    # lock what an existing venv holds (only what cliprl needs, not tools beside it)
#
# The hashes are read from the package index by pip (`pip install --dry-run --report`): nothing is installed into
# the venv being locked. A refresh changes the numbers every command writes: regenerate the fingerprints
# (`python tests/test_fingerprints.py --update`) and dvc.lock (`dvc repro`) in the same commit.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
    venv=$1
else
    venv=$work/venv
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
    "$venv/bin/python" -m pip install -q -e '.[dev,bench,tensorboard]'
fi
"$venv/bin/python" scripts/lock.py closure > "$work/pins.txt"
"$venv/bin/python" -m pip install -q --dry-run --ignore-installed --no-deps --report "$work/report.json" \
    -r "$work/pins.txt" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
"$venv/bin/python" scripts/lock.py write "$work/report.json" requirements.lock
