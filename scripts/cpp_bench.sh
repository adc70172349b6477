#!/usr/bin/env bash
# The C++ microbenchmarks (Google Benchmark, cpp/bench/) in one command:
# configures and builds the `release` preset (SHANRAQ_BUILD_BENCH=ON, -O3) and
# runs every benchmark binary, or the ones named, with the given Google
# Benchmark flags.
#
#   scripts/cpp_bench.sh                               # build, then run all of them
#   scripts/cpp_bench.sh bench_book bench_ledger       # build, then run these
#   scripts/cpp_bench.sh bench_hist -- --benchmark_filter=Record --benchmark_repetitions=5
#   scripts/cpp_bench.sh --build-only                  # build every benchmark, run none (the test command)
#
# Figures and how to read them: docs/performance.md. Run on a quiet machine, or
# under `python -m bench.quiet_run --`, and compare runs of one session only.
# Exit status: 0 when the build (and every run) succeeded.
set -euo pipefail

readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly BIN="$ROOT/build/release/cpp/bench"
readonly ALL=(bench_hist bench_queue bench_book bench_ledger bench_runner bench_journal)

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
}

build_only=0
names=()
flags=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --build-only) build_only=1 ;;
    --) shift; flags=("$@"); break ;;
    bench_*) names+=("$1") ;;
    *) usage; echo "cpp_bench: error: unknown argument '$1' (benchmarks: ${ALL[*]})" >&2; exit 2 ;;
  esac
  shift
done
for n in "${names[@]}"; do
  [[ " ${ALL[*]} " == *" $n "* ]] || { echo "cpp_bench: error: no benchmark '$n' (benchmarks: ${ALL[*]})" >&2; exit 2; }
done
((${#names[@]})) || names=("${ALL[@]}")

# Debian's Google Benchmark and the journal's libraries, installed only when missing.
wanted=(libbenchmark-dev libssl-dev libisal-dev)
command -v ninja >/dev/null 2>&1 || wanted+=(ninja-build)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || dpkg -s "$pkg:$(dpkg --print-architecture)" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "==> installing missing Debian packages: ${missing[*]}"
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

cd "$ROOT"
export CMAKE_BUILD_PARALLEL_LEVEL=2
echo "==> building the C++ microbenchmarks (release preset, -j2)"
cmake --preset release >/dev/null
cmake --build --preset release -j2
for n in "${ALL[@]}"; do
  [[ -x "$BIN/$n" ]] || { echo "cpp_bench: error: $BIN/$n was not built" >&2; exit 1; }
done
if ((build_only)); then
  echo "C++ microbenchmarks built (not run): ${ALL[*]} in ${BIN#"$ROOT"/}"
  exit 0
fi

for n in "${names[@]}"; do
  echo
  echo "==> $n ${flags[*]}"
  "$BIN/$n" "${flags[@]}"
done
