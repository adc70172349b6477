#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian
# packages for the journal's build and the native tests, the package's wheel with its test and lint
# dependencies from PyPI), then checks the wheel's contents, runs lint, the
# include layering, type checks, the Python tests and every native
# configuration (dev, ASan+UBSan, TSan, aarch64 under qemu), and builds (does
# not run) the C++ microbenchmarks.
# .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
PIP=("$PYTHON" -m pip --disable-pip-version-check)

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

source scripts/build_deps.sh
ensure_build_packages

# The wheel is built once, its contents checked, and that very wheel is what
# the Python tests import (a plain `pip install .` builds the same wheel).
echo "==> building the wheel and checking what it contains"
"${PIP[@]}" wheel --quiet --no-deps --wheel-dir "$logs/wheel" .
wheel=("$logs"/wheel/shanraq_core-*.whl)
"$PYTHON" scripts/check_wheel.py "${wheel[@]}"

echo "==> installing that wheel with its test and lint dependencies"
# --force-reinstall: a wheel of the same version may already be installed.
"${PIP[@]}" install --quiet --force-reinstall --no-deps "${wheel[0]}"
"${PIP[@]}" install --quiet "${wheel[0]}[dev]"

echo "==> ruff, the include layering, clang-format, mypy --strict"
"$PYTHON" -m ruff check src tests bench scripts
"$PYTHON" -m ruff format --check src tests bench scripts
"$PYTHON" scripts/check_includes.py
PYTHON="$PYTHON" bash scripts/check_format.sh
"$PYTHON" -m mypy

echo "==> Debian servers for the replication and service tests (PostgreSQL, etcd, HAProxy, Prometheus)"
# tests/ha and tests/service start their own throw-away servers on loopback; they need the binaries
# (prometheus brings promtool, which checks deploy/prometheus).
ha_missing=()
for pkg in postgresql etcd-server haproxy prometheus; do dpkg -s "$pkg" >/dev/null 2>&1 || ha_missing+=("$pkg"); done
if ((${#ha_missing[@]})); then
  sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${ha_missing[@]}"
fi

echo "==> Python tests"
# src/ is not on sys.path, so this tests the installed package.
set +e
"$PYTHON" -m pytest 2>&1 | tee "$logs/pytest.log"
py_rc=${PIPESTATUS[0]}

echo "==> native tests"
bash scripts/native_tests.sh 2>&1 | tee "$logs/native.log"
native_rc=${PIPESTATUS[0]}

echo "==> C++ microbenchmarks: built so they cannot rot, not run (scripts/cpp_bench.sh runs them)"
bash scripts/cpp_bench.sh --build-only 2>&1 | tee "$logs/cpp_bench.log"
bench_rc=${PIPESTATUS[0]}
set -e

# One closing line over both runners: pytest's counts plus every ctest case
# in every native configuration. (No pipefail here: a grep that finds
# nothing is an answer of 0, not an error.)
set +o pipefail
py_passed=$(grep -Eo '[0-9]+ passed' "$logs/pytest.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
py_failed=$(grep -Eo '[0-9]+ (failed|error)' "$logs/pytest.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
native_passed=$(grep -Eo '^[0-9]+% tests passed, ([0-9]+) tests failed out of [0-9]+|^100% tests passed out of [0-9]+' "$logs/native.log" |
  awk '/100%/ {n += $NF} !/100%/ {n += $NF - $4} END {print n + 0}')
native_failed=$(grep -Eo 'tests passed, [0-9]+ tests failed' "$logs/native.log" | awk '{n += $3} END {print n + 0}')
echo "tests: $((py_passed + native_passed)) passed, $((py_failed + native_failed)) failed"
set -o pipefail
if ((py_rc != 0 || native_rc != 0 || bench_rc != 0)); then
  echo "test suite FAILED (pytest exit $py_rc, native exit $native_rc, microbenchmark build exit $bench_rc)" >&2
  exit 1
fi
