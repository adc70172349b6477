#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian
# packages for the native tests, the package with its test and lint
# dependencies from PyPI), then runs lint, type checks, the Python tests and
# every native configuration (dev, ASan+UBSan, TSan, aarch64 under qemu).
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"

echo "==> installing shanraq_core with its test and lint dependencies"
"$PYTHON" -m pip install --quiet --disable-pip-version-check ".[dev]"

echo "==> ruff and mypy --strict"
"$PYTHON" -m ruff check src tests bench
"$PYTHON" -m ruff format --check src tests bench
"$PYTHON" -m mypy

echo "==> Python tests"
# src/ is not on sys.path, so this tests the installed package.
"$PYTHON" -m pytest

echo "==> native tests"
bash scripts/native_tests.sh
