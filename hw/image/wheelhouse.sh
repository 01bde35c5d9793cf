#!/usr/bin/env bash
# The wheelhouse the image installs the agent from (recipe.sh install_agent): the agent's own
# wheel, built from this checkout, and its dependencies' wheels for the device, aarch64
# CPython 3.11 (Debian bookworm / Raspberry Pi OS bookworm; glibc 2.36). Runs on the build
# machine, whatever its architecture; needs network access (PyPI).
#   hw/image/wheelhouse.sh OUT [all|agent|dependencies]
# PYTHON names the build machine's Python (3.11 or later, with pip); default python3.
set -euo pipefail
OUT=$1
WHAT=${2:-all}
PYTHON=${PYTHON:-python3}
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$OUT"
# pyproject.toml's dependencies (recipe.sh install_agent_dependencies installs them)
"$PYTHON" -c '
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))' "$REPO_DIR/pyproject.toml" >"$OUT/requirements.txt"

if [ "$WHAT" = all ] || [ "$WHAT" = agent ]; then
    # Built from a copy: an in-tree build leaves build/ and *.egg-info in the checkout.
    source_copy=$(mktemp -d)
    trap 'rm -rf "$source_copy"' EXIT
    cp -r "$REPO_DIR/pyproject.toml" "$REPO_DIR/README.md" "$REPO_DIR/recorder" "$source_copy/"
    find "$source_copy" -name __pycache__ -prune -exec rm -rf {} +
    "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps -w "$OUT" "$source_copy"
fi

if [ "$WHAT" = all ] || [ "$WHAT" = dependencies ]; then
    mapfile -t requirements <"$OUT/requirements.txt"
    # Binary wheels only: nothing is compiled for the device here. pip needs every manylinux
    # tag it may take spelled out when it resolves for another platform.
    "$PYTHON" -m pip download -q --disable-pip-version-check --only-binary=:all: \
        --implementation cp --python-version 3.11 --abi cp311 \
        --platform manylinux_2_36_aarch64 --platform manylinux_2_28_aarch64 \
        --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
        -d "$OUT" "${requirements[@]}"
fi
