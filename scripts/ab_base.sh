#!/usr/bin/env bash
# Prepares the optional inputs of cpp/bench/compare_flows (issue 16):
#   build/ab/base-<commit>/  the matching engine's sources at <commit> (default
#                            HEAD), compiled into compare_flows under another
#                            namespace for same-process A/B;
#   build/lobsrc/limit_order_book-3.1.0/  limit-order-book's sdist from PyPI
#                            (pip download; its C++ core is header-only).
# Prints the cmake arguments that use them. Nothing here is committed.
#
#   bash scripts/ab_base.sh [COMMIT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
commit="$(git rev-parse --short "${1:-HEAD}")"
base="build/ab/base-$commit"
mkdir -p "$base/include/shanraq/book" "$base/src/book"
for f in engine.hpp types.hpp; do git show "$commit:cpp/include/shanraq/book/$f" >"$base/include/shanraq/book/$f"; done
for f in $(git ls-tree --name-only "$commit" cpp/src/book/); do git show "$commit:$f" >"$base/src/book/$(basename "$f")"; done
lob="build/lobsrc/limit_order_book-3.1.0"
if [[ ! -d "$lob" ]]; then
  mkdir -p build/lobsrc
  python3 -m pip download -q --no-binary :all: --no-deps --no-build-isolation limit-order-book==3.1.0 -d build/lobsrc
  tar -xzf build/lobsrc/limit_order_book-3.1.0.tar.gz -C build/lobsrc
fi
echo "-DSHANRAQ_AB_BASE_DIR=$PWD/$base -DSHANRAQ_LOB_DIR=$PWD/$lob"
