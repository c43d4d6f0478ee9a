#!/usr/bin/env bash
# Install Debian's headless Chromium for the report's browser test (tests/test_report_html.py renders the report at
# 390 and 1280 px). Idempotent; needs root (or sudo) and apt. The test skips with a reason where Chromium is absent,
# so a machine without apt can still run the suite.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    echo "install_chromium: already installed ($(chromium --version 2>/dev/null || chromium-browser --version))"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_chromium: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install_chromium: installed $(chromium --version)"
