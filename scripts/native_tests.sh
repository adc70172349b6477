#!/usr/bin/env bash
# Run every native C++ test configuration: configure, build and ctest each
# CMake preset, one after another, and print one summary line per preset.
#
#   scripts/native_tests.sh                     # all: dev asan-ubsan tsan aarch64
#   scripts/native_tests.sh dev tsan            # a subset, in the order given
#
# Build trees live in build/<preset> and are reused, so a second run only
# rebuilds what changed. Builds use at most 2 jobs (the machine has 2 cores)
# and tests always run serially: the concurrency tests spin and back off, and
# two of them at once on 2 cores would make each other slow and flaky.
# Exit status: 0 when every selected configuration passed, 1 otherwise.
set -euo pipefail

readonly ALL_PRESETS=(dev asan-ubsan tsan aarch64)
readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The whole qemu ctest step (discovery included) must finish within this.
readonly AARCH64_CTEST_BUDGET_S=280
readonly PER_TEST_TIMEOUT_S=60

usage() {
  echo "usage: $0 [${ALL_PRESETS[*]}]..." >&2
  echo "  runs the given native test presets (default: all of them)" >&2
}

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'native_tests: error: %s\n' "$*" >&2; exit 2; }

# --- arguments ---------------------------------------------------------------
presets=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    dev|asan-ubsan|tsan|aarch64) presets+=("$arg") ;;
    all) presets+=("${ALL_PRESETS[@]}") ;;
    *) usage; die "unknown configuration '$arg'" ;;
  esac
done
if ((${#presets[@]} == 0)); then presets=("${ALL_PRESETS[@]}"); fi

needs_aarch64=0
for p in "${presets[@]}"; do [[ "$p" == aarch64 ]] && needs_aarch64=1; done

# --- tools ---------------------------------------------------------------------
# Debian packages, installed only when missing. cmake comes from pip; ninja may
# too, in which case ninja-build is not needed.
ensure_packages() {
  # libssl-dev (libcrypto: SHA-256, AES-256-GCM) and libisal-dev (CRC32C) for the journal.
  local wanted=(libgtest-dev libbenchmark-dev libssl-dev libisal-dev)
  if ((needs_aarch64)); then wanted+=(g++-aarch64-linux-gnu qemu-user file); fi
  if ! command -v ninja >/dev/null 2>&1; then wanted+=(ninja-build); fi
  local missing=() pkg
  for pkg in "${wanted[@]}"; do
    # The qualified name too: with a foreign architecture's copy installed
    # as well, the bare name is ambiguous to dpkg -s.
    dpkg -s "$pkg" >/dev/null 2>&1 || dpkg -s "$pkg:$(dpkg --print-architecture)" >/dev/null 2>&1 || missing+=("$pkg")
  done
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
# The aarch64 build links the journal against arm64 libcrypto and ISA-L.
# They are unpacked (dpkg -x) into build/aarch64-deps/root, which the
# toolchain file adds to its search roots, rather than installed: Debian's
# libisal-dev and libisal2 are not Multi-Arch: same, so installing the arm64
# ones removes the amd64 ones the native presets need, and libssl-dev:arm64
# must be the very version of libssl-dev:amd64 (an upgrade of the host's).
readonly AARCH64_DEPS="$ROOT/build/aarch64-deps"
readonly AARCH64_DEBS=(libssl-dev libssl3 libisal-dev libisal2)
ensure_aarch64_deps() {
  local stamp="$AARCH64_DEPS/root/.unpacked"
  [[ -f "$stamp" ]] && return 0
  log "unpacking arm64 libcrypto and ISA-L into $AARCH64_DEPS/root"
  local sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${sudo[@]}" dpkg --add-architecture arm64
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  fi
  rm -rf "$AARCH64_DEPS"
  mkdir -p "$AARCH64_DEPS/debs" "$AARCH64_DEPS/root"
  local pkg
  (cd "$AARCH64_DEPS/debs" && for pkg in "${AARCH64_DEBS[@]}"; do apt-get download "$pkg:arm64" 2>/dev/null \
     || { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update && apt-get download "$pkg:arm64"; }; done)
  for deb in "$AARCH64_DEPS"/debs/*.deb; do dpkg -x "$deb" "$AARCH64_DEPS/root"; done
  touch "$stamp"
}

export DEBIAN_FRONTEND=noninteractive
ensure_packages
if ((needs_aarch64)); then ensure_aarch64_deps; fi
command -v cmake >/dev/null 2>&1 || die "cmake not found (the project uses pip's: pip install cmake)"
command -v ctest >/dev/null 2>&1 || die "ctest not found"
command -v ninja >/dev/null 2>&1 || die "ninja not found"

cd "$ROOT"
# Never let an inherited setting run the tests in parallel or overload the build.
unset CTEST_PARALLEL_LEVEL
export CMAKE_BUILD_PARALLEL_LEVEL=2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# --- sanitizer runtime vs. address-space randomisation --------------------------
# GCC 12's TSan and ASan assume the kernel places mappings inside their fixed
# shadow layout. With a high vm.mmap_rnd_bits (32 on recent kernels and
# distributions) that fails at random: TSan dies at startup with "FATAL:
# ThreadSanitizer: unexpected memory mapping", ASan loops forever printing
# "AddressSanitizer:DEADLYSIGNAL". Turning ASLR off for the test process tree
# (setarch -R: a personality flag inherited by ctest's children, gtest
# discovery included) avoids both without touching system settings.
SAN_PREFIX=()
PROBE_STATUS=""
SAN_FAILURE_RE='unexpected memory mapping|FATAL: ThreadSanitizer|ThreadSanitizer: CHECK failed|AddressSanitizer:DEADLYSIGNAL|AddressSanitizer: CHECK failed|Shadow memory range interleaves'
readonly SAN_PROBE_RUNS=5

# Run a probe once, bounded in time and output (a broken ASan runtime would
# otherwise spin and print without end). Succeeds if it ran cleanly.
run_probe_once() {
  local out="$1"; shift
  timeout --kill-after=2 10 "$@" 2>&1 | head -c 20000 >"$out" && PROBE_STATUS="${PIPESTATUS[0]}" \
    || PROBE_STATUS="${PIPESTATUS[0]}"
  [[ "$PROBE_STATUS" == 0 ]] && grep -q '^probe ok' "$out"
}

# Compile a tiny threaded program with the preset's compiler and -fsanitize=
# list and run it several times (the failure is random) to decide whether
# ctest must run under setarch -R. Returns non-zero if the runtime cannot
# start even then.
choose_sanitizer_prefix() {
  local sanitize="$1" bdir="$2"
  SAN_PREFIX=()
  local dir="$bdir/san_probe"
  local src="$dir/probe.cpp" exe="$dir/probe" out="$dir/probe.log"
  mkdir -p "$dir"
  cat >"$src" <<'EOF'
#include <cstdio>
#include <thread>
int main() {
  int value = 0;
  std::thread t([&] { value = 42; });
  t.join();
  std::printf("probe ok %d\n", value);
  return value == 42 ? 0 : 1;
}
EOF
  # The compiler CMake configured, so the probe links the same runtime as the tests.
  local cxx
  cxx="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$bdir/CMakeCache.txt" 2>/dev/null || true)"
  "${cxx:-c++}" -std=c++20 -fsanitize="$sanitize" -g -pthread "$src" -o "$exe"
  local i arch rnd
  arch="$(uname -m)"
  rnd="$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo '?')"
  for ((i = 1; i <= SAN_PROBE_RUNS; i++)); do
    run_probe_once "$out" "$exe" && continue
    echo "sanitizer probe ($sanitize) failed with ASLR on (run $i, exit $PROBE_STATUS, vm.mmap_rnd_bits=$rnd):"
    sed -n '1,3p' "$out" | cut -c1-200
    for ((i = 1; i <= SAN_PROBE_RUNS; i++)); do
      if ! command -v setarch >/dev/null 2>&1 || ! run_probe_once "$out" setarch "$arch" -R "$exe"; then
        echo "sanitizer probe ($sanitize) fails under 'setarch $arch -R' too (exit ${PROBE_STATUS:-?}):"
        sed -n '1,3p' "$out" | cut -c1-200
        echo "hint: as root, 'sysctl -w vm.mmap_rnd_bits=28' lets GCC 12 sanitizers start"
        return 1
      fi
    done
    echo "sanitizer probe ($sanitize): runs under 'setarch $arch -R'; ctest will run under it"
    SAN_PREFIX=(setarch "$arch" -R)
    return 0
  done
  echo "sanitizer probe ($sanitize): ran $SAN_PROBE_RUNS times with ASLR on (vm.mmap_rnd_bits=$rnd)"
}

# --- per-configuration steps ------------------------------------------------------
declare -A RESULT DETAIL COUNT
overall=0

now() { date +%s; }

# Number of tests ctest reported, from its "N% tests passed, M tests failed out of T" line.
ctest_count() { grep -Eo 'tests? (passed|failed),? .*out of [0-9]+' "$1" | grep -Eo '[0-9]+$' | tail -n1 || true; }

# Show that the aarch64 build really targets aarch64: `file` on a test binary,
# and uname -m as seen by a tiny cross-compiled program under the emulator.
aarch64_proof() {
  local bdir="$1" bin
  bin="$(find "$bdir/cpp/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort | head -n1)"
  [[ -n "$bin" ]] || { echo "no test binary found in $bdir/cpp/tests"; return 1; }
  file "$bin"
  file -b "$bin" | grep -q 'ARM aarch64' || { echo "$bin is not an aarch64 executable"; return 1; }
  local src="$bdir/uname_probe.cpp" exe="$bdir/uname_probe"
  cat >"$src" <<'EOF'
#include <sys/utsname.h>
#include <cstdio>
int main() {
  utsname u{};
  if (uname(&u) != 0) return 1;
  std::printf("%s\n", u.machine);
  return 0;
}
EOF
  aarch64-linux-gnu-g++ -O1 "$src" -o "$exe"
  local machine
  machine="$(qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/lib "$exe")"
  echo "uname -m of a cross-compiled probe under qemu-aarch64: $machine"
  [[ "$machine" == aarch64 ]]
}

run_preset() {
  local preset="$1" bdir="$ROOT/build/$1" t0 t_built t_end
  local test_log="$bdir/native_tests_ctest.log"
  local ctest_args=(--preset "$preset" --parallel 1 --timeout "$PER_TEST_TIMEOUT_S")
  local prefix=()
  t0=$(now)

  log "[$preset] configure"
  if ! cmake --preset "$preset"; then
    RESULT[$preset]=FAIL; DETAIL[$preset]="configure failed"; return 1
  fi
  log "[$preset] build (-j2)"
  if ! cmake --build --preset "$preset" -j2; then
    RESULT[$preset]=FAIL; DETAIL[$preset]="build failed after $(($(now) - t0))s"; return 1
  fi
  t_built=$(now)

  case "$preset" in
    asan-ubsan|tsan)
      local sanitize=address,undefined
      [[ "$preset" == tsan ]] && sanitize=thread
      if ! choose_sanitizer_prefix "$sanitize" "$bdir"; then
        RESULT[$preset]=FAIL; DETAIL[$preset]="the $sanitize runtime cannot start on this kernel"; return 1
      fi
      prefix=("${SAN_PREFIX[@]}")
      # The journal's crash loop (4 cases x SHANRAQ_CRASH_CYCLES SIGKILLed
      # writers) runs 5-20x slower under a sanitizer and passed the 60 s
      # per-test bound in CI: the dev preset keeps the 200 kills, the
      # sanitizer presets run 4 x 10 (scripts/soak_journal.sh runs the long loop).
      local -x SHANRAQ_CRASH_CYCLES="${SHANRAQ_CRASH_CYCLES_SANITIZED:-10}"
      ;;
    aarch64)
      log "[$preset] architecture check"
      if ! aarch64_proof "$bdir"; then
        RESULT[$preset]=FAIL; DETAIL[$preset]="binaries are not aarch64 or qemu cannot run them"; return 1
      fi
      # Bound the whole emulated step, gtest discovery through qemu included.
      # Not --foreground: on expiry timeout signals the whole process group,
      # so no qemu child outlives ctest.
      prefix=(timeout --kill-after=10 "$AARCH64_CTEST_BUDGET_S")
      ;;
  esac

  log "[$preset] ctest (serial)${prefix:+ under: ${prefix[*]}}"
  local rc=0
  "${prefix[@]}" ctest "${ctest_args[@]}" 2>&1 | tee "$test_log" || rc=$?

  # A sanitizer runtime that failed to start despite the probe (the failure is
  # random): retry once with ASLR off rather than report a bogus test failure.
  # A real ASan crash also prints DEADLYSIGNAL; it fails the retry the same way.
  if ((rc != 0)) && [[ "$preset" == asan-ubsan || "$preset" == tsan ]] && ((${#prefix[@]} == 0)) \
     && grep -Eq "$SAN_FAILURE_RE" "$test_log"; then
    local arch; arch="$(uname -m)"
    log "[$preset] sanitizer runtime failed to map its shadow; retrying under setarch $arch -R"
    rc=0
    setarch "$arch" -R ctest "${ctest_args[@]}" 2>&1 | tee "$test_log" || rc=$?
    prefix=(setarch "$arch" -R)
  fi
  t_end=$(now)

  local count; count="$(ctest_count "$test_log")"
  local timing="configure+build $((t_built - t0))s, tests $((t_end - t_built))s"
  local note=""
  ((${#prefix[@]})) && [[ "$preset" != aarch64 ]] && note=", under ${prefix[*]}"
  COUNT[$preset]="${count:-0}"
  if ((rc == 0)) && [[ -n "$count" && "$count" != 0 ]]; then
    RESULT[$preset]=PASS; DETAIL[$preset]="$count tests; $timing$note"
  elif ((rc == 124 || rc == 137)) && [[ "$preset" == aarch64 ]]; then
    RESULT[$preset]=FAIL; DETAIL[$preset]="ctest exceeded the ${AARCH64_CTEST_BUDGET_S}s budget; $timing"
  elif ((rc == 0)); then
    RESULT[$preset]=FAIL; DETAIL[$preset]="ctest ran no test; $timing"
  else
    RESULT[$preset]=FAIL; DETAIL[$preset]="ctest exit $rc (${count:-?} tests; see $test_log); $timing"
  fi
  [[ "${RESULT[$preset]}" == PASS ]]
}

t_start=$(now)
for preset in "${presets[@]}"; do
  [[ -n "${RESULT[$preset]:-}" ]] && continue  # listed twice
  run_preset "$preset" || overall=1
done

echo
echo "native test summary ($(($(now) - t_start))s total):"
passed=0 failed=0 tests=0
for preset in "${presets[@]}"; do
  [[ -n "${DETAIL[$preset]:-}" ]] || continue
  printf '  %-4s %-11s %s\n' "${RESULT[$preset]}" "$preset" "${DETAIL[$preset]}"
  DETAIL[$preset]=""  # print each once
  if [[ "${RESULT[$preset]}" == PASS ]]; then
    passed=$((passed + 1))
    tests=$((tests + ${COUNT[$preset]:-0}))
  else
    failed=$((failed + 1))
  fi
done
echo "native configurations passing: $passed of $((passed + failed)) ($tests test runs in the passing ones)"
exit "$overall"
