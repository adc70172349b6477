#!/usr/bin/env bash
# Checks that the C++ sources are formatted as scripts/format.sh would leave
# them, without changing anything. Prints, for each file that is not, how many
# of its lines would change and the start of the diff, then a total.
#
#   scripts/check_format.sh            # cpp/ and src/shanraq_core/_core/*.hpp, *.cpp
#   scripts/check_format.sh FILE...    # only these files
#   FORMAT_DIFF_LINES=0 scripts/check_format.sh   # whole diffs (default: first 20 lines of each)
# Exit status: 0 when every file is formatted, 1 when one is not, 2 when the
# pinned clang-format is missing.
set -euo pipefail
# shellcheck source=scripts/clang_format_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/clang_format_common.sh"
cd "$ROOT"

show="${FORMAT_DIFF_LINES:-20}"
mapfile -t files < <(cxx_files "$@")
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
bad=0 lines=0
for f in "${files[@]}"; do
  "$CLANG_FORMAT_BIN" --style=file "$f" >"$tmp"
  diff -q "$f" "$tmp" >/dev/null && continue
  d="$(diff -u --label "$f" --label "$f (formatted)" "$f" "$tmp" || true)"
  # Lines of the file that would change: removed or replaced lines of the diff.
  n="$(tail -n +3 <<<"$d" | grep -c '^-' || true)"
  bad=$((bad + 1))
  lines=$((lines + n))
  echo "not formatted: $f ($n lines would change)"
  if ((show == 0)); then
    printf '%s\n' "$d"
  else
    head -n "$((show + 2))" <<<"$d" | tail -n +3 | sed 's/^/    /'
    total="$(wc -l <<<"$d")"
    ((total > show + 2)) && echo "    ... ($((total - show - 2)) more diff lines)"
  fi
done
if ((bad > 0)); then
  echo "check_format: $bad of ${#files[@]} files need formatting ($lines lines would change);" \
    "run: bash scripts/format.sh"
  exit 1
fi
echo "check_format: all ${#files[@]} C++ files are formatted (clang-format $PINNED)"
