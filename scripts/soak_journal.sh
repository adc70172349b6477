#!/usr/bin/env bash
# The journal's crash soak: the SIGKILL crash tests of the native suite
# (cpp/tests/journal/test_journal_crash.cpp), run for many more kills and
# seeds than CI's 4 x 50. Every kill is followed by a read-only verification
# (checksums, chain, snapshots against the replay), a check that every
# acknowledged command survived and that the state equals a fresh replay of
# exactly the recovered commands, and a recovery by the next writer.
#
#   scripts/soak_journal.sh                 # 2000 kills per case, seeds 1..5
#   scripts/soak_journal.sh 500 3           # 500 kills per case, seeds 1..3
#
# Builds the dev preset's test binary if needed. Exit status 0 when every
# run passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cycles="${1:-2000}"
seeds="${2:-5}"
export CMAKE_BUILD_PARALLEL_LEVEL=2
cmake --preset dev >/dev/null
cmake --build build/dev --target test_journal_crash >/dev/null
status=0
for ((seed = 1; seed <= seeds; seed++)); do
  echo "==> seed $seed: $cycles kills per case"
  if ! SHANRAQ_CRASH_CYCLES="$cycles" SHANRAQ_CRASH_SEED="$seed" build/dev/cpp/tests/test_journal_crash; then
    echo "soak FAILED at seed $seed" >&2
    status=1
  fi
done
exit "$status"
