# shellcheck shell=bash
# Sourced by format.sh and check_format.sh: finds the pinned clang-format and
# the C++ files it owns. Not meant to be run on its own.
#
# clang-format comes from PyPI's clang-format wheel, pinned exactly in the
# `dev` extra of pyproject.toml, so every machine formats byte for byte alike.
# It is looked up in this order:
#   $CLANG_FORMAT                    an explicit binary (must be the pinned version)
#   $PYTHON's clang_format package   PYTHON defaults to the worktree's .venv, else python3

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PINNED="$(sed -n 's/.*"clang-format==\([0-9][0-9.]*\)".*/\1/p' "$ROOT/pyproject.toml" | head -n1)"
[[ -n "$PINNED" ]] || { echo "error: no clang-format==X.Y.Z pin in pyproject.toml's dev extra" >&2; exit 2; }

find_clang_format() {
  if [[ -n "${CLANG_FORMAT:-}" ]]; then
    echo "$CLANG_FORMAT"
    return
  fi
  local python="${PYTHON:-}"
  if [[ -z "$python" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then python="$ROOT/.venv/bin/python"; else python=python3; fi
  fi
  "$python" -c 'import clang_format; print(clang_format.get_executable("clang-format"))' 2>/dev/null || {
    echo "error: clang-format $PINNED is not installed for $python;" \
      "run: $python -m pip install clang-format==$PINNED (or install the dev extra)" >&2
    exit 2
  }
}

CLANG_FORMAT_BIN="$(find_clang_format)"
[[ -x "$CLANG_FORMAT_BIN" ]] || { echo "error: $CLANG_FORMAT_BIN is not an executable" >&2; exit 2; }
found_version="$("$CLANG_FORMAT_BIN" --version | sed -n 's/.*clang-format version \([0-9][0-9.]*\).*/\1/p')"
if [[ "$found_version" != "$PINNED" ]]; then
  echo "error: $CLANG_FORMAT_BIN is clang-format ${found_version:-of unknown version}, the project pins $PINNED;" \
    "versions format differently: pip install clang-format==$PINNED" >&2
  exit 2
fi

# The C++ files clang-format owns: cpp/ and any C++ helpers of the bindings,
# tracked or new (ignored files, build trees included, are skipped). The
# arguments, if any, replace that list.
cxx_files() {
  if (($# > 0)); then
    printf '%s\n' "$@"
    return
  fi
  local patterns=('cpp/*.hpp' 'cpp/*.cpp' 'cpp/*.h' 'cpp/*.cc'
    'src/shanraq_core/_core/*.hpp' 'src/shanraq_core/_core/*.cpp')
  if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files --cached --others --exclude-standard -- "${patterns[@]}" | sort -u
  else
    (cd "$ROOT" && find cpp src/shanraq_core/_core -type f \
      \( -name '*.hpp' -o -name '*.cpp' -o -name '*.h' -o -name '*.cc' \) | sort)
  fi
}
