#!/usr/bin/env bash
# Install a single-node SLURM (slurm-wlm: slurmctld, slurmd, client commands) and munge, for the tests marked
# `slurm`. Idempotent: does nothing when slurmctld and munged are already installed. Needs root (or sudo) and apt.
set -euo pipefail

if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
        && command -v sbatch >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
    echo "install_slurm: slurm and munge already installed ($(slurmctld -V 2>/dev/null || true))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_slurm: need root (or sudo) to apt-get install slurm-wlm munge" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
echo "install_slurm: installed $(slurmctld -V)"
