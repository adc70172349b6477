#!/usr/bin/env bash
# Formats the C++ sources in place with the project's .clang-format and the
# clang-format version pinned in pyproject.toml (see clang_format_common.sh).
#
#   scripts/format.sh                  # cpp/ and src/shanraq_core/_core/*.hpp, *.cpp
#   scripts/format.sh cpp/src/hist/codec.cpp ...   # only these files
set -euo pipefail
# shellcheck source=scripts/clang_format_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/clang_format_common.sh"
cd "$ROOT"

mapfile -t files < <(cxx_files "$@")
((${#files[@]} > 0)) || { echo "format: no C++ files found"; exit 0; }
changed=0
for f in "${files[@]}"; do
  before="$(cksum <"$f")"
  "$CLANG_FORMAT_BIN" --style=file -i "$f"
  [[ "$(cksum <"$f")" == "$before" ]] || { echo "formatted $f"; changed=$((changed + 1)); }
done
echo "format: clang-format $PINNED changed $changed of ${#files[@]} files"
