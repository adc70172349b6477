#!/usr/bin/env bash
# The README's main job from a fresh machine: the journal's build
# dependencies (Debian: libssl-dev, libisal-dev), the package with its bench
# extra, then `python -m shanraq_core bench` with any arguments given here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
source scripts/build_deps.sh
ensure_build_packages
"$PYTHON" -m pip --disable-pip-version-check install --quiet ".[bench]"
exec "$PYTHON" -m shanraq_core bench "$@"
