#!/usr/bin/env python3
"""Check the include graph against the layering in docs/architecture.md.

    python3 scripts/check_includes.py            # the repository this script is in
    python3 scripts/check_includes.py --root DIR # another checkout (the tests use a made-up tree)

Rules:
- nothing under cpp/ includes a Python header (Python.h, numpy, pybind11, nanobind): the C++ core
  builds and is tested without Python;
- a module (cpp/include/shanraq/<m>/ and cpp/src/<m>/) includes only its own headers, the standard
  library and system headers, and the public headers of the modules ALLOWED lists for it;
- private headers (under cpp/src/, or under any detail/ directory) belong to their module: no other
  module, and no binding, includes them;
- cpp/tests/ and cpp/bench/ may include any of ours (still no Python).
The Cython bindings (src/shanraq_core/_core/) are checked for private headers too, in their .hpp/.cpp
helpers and in the C++ they include from .pyx/.pxd files.

Exit status: 0 when every include follows the rules, 1 otherwise (each violation is printed as
`path:line: message`), 2 on a usage error. Standard library only, so it runs before anything is
installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Which other modules each module may include (its own are always allowed). A module that is not listed
# here is an error, so a new module gets its rule when it lands.
ALLOWED: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "hist": frozenset({"common"}),
    "queue": frozenset({"common"}),
    # The two state machines never see each other: the exchange composes them.
    "book": frozenset({"common"}),
    "ledger": frozenset({"common"}),
    "exchange": frozenset({"common", "book", "ledger"}),
    # The sequencer and the journal are generic over the state-machine contract in common/, never
    # written for one particular machine.
    "runner": frozenset({"common", "queue"}),
    "journal": frozenset({"common", "queue"}),
}

# Edges that break the rules today, each with the change that removes it. An exception that no include
# uses any more is an error too, so this list cannot go stale.
TEMPORARY_EXCEPTIONS: dict[tuple[str, str], str] = {}

# Folders under cpp/ that hold no module and may include any of ours.
FREE_FOLDERS = frozenset({"tests", "bench"})

PYTHON_HEADER = re.compile(r"^(Python\.h|numpy/|pybind11/|nanobind/|structmember\.h)")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# A C++ include inside a Cython file: a verbatim `#include` in a docstring of `cdef extern from *`, or
# the header named by `cdef extern from "..."`.
PYX_INCLUDE = re.compile(r'^\s*(?:#\s*include\s*[<"]([^>"]+)[>"]|cdef\s+extern\s+from\s+"([^"]+)")')
CXX_SUFFIXES = frozenset({".h", ".hh", ".hpp", ".hxx", ".c", ".cc", ".cpp", ".cxx", ".ipp", ".inl", ".tpp"})
CYTHON_SUFFIXES = frozenset({".pyx", ".pxd", ".pxi"})


@dataclass(frozen=True)
class Include:
    path: Path  # the including file, relative to the root
    line: int
    target: str  # as written between the quotes or angle brackets
    quoted: bool


@dataclass(frozen=True)
class Owner:
    """Who a file belongs to, for the layering rules."""

    module: str | None  # a module name; None for tests, benches and bindings
    private: bool  # only its own module may include it
    where: str  # for messages: "module book", "cpp/tests", "the bindings"


def strip_block_comments(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Yields (line number, text) with /* ... */ comments blanked, so a commented include is not one."""
    in_comment = False
    for number, raw in enumerate(lines, start=1):
        text = ""
        rest = raw
        while rest:
            if in_comment:
                end = rest.find("*/")
                if end < 0:
                    rest = ""
                else:
                    in_comment = False
                    rest = rest[end + 2 :]
            else:
                start = rest.find("/*")
                line_comment = rest.find("//")
                if start < 0 or (0 <= line_comment < start):
                    text += rest
                    rest = ""
                else:
                    text += rest[:start] + " "
                    in_comment = True
                    rest = rest[start + 2 :]
        yield number, text


def includes_of(root: Path, path: Path) -> Iterator[Include]:
    rel = path.relative_to(root)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if path.suffix in CYTHON_SUFFIXES:
        for number, raw in enumerate(lines, start=1):
            m = PYX_INCLUDE.match(raw)
            if m:
                yield Include(rel, number, m.group(1) or m.group(2), quoted=True)
        return
    for number, text in strip_block_comments(lines):
        m = INCLUDE.match(text)
        if m:
            yield Include(rel, number, m.group(2), quoted=m.group(1) == '"')


def owner_of(rel: Path) -> Owner | None:
    """The module a file of ours belongs to; None for files outside cpp/ and the bindings."""
    parts = rel.parts
    private = "detail" in parts[:-1]
    if parts[:3] == ("cpp", "include", "shanraq") and len(parts) >= 5:
        return Owner(parts[3], private, f"module {parts[3]}")
    if parts[:2] == ("cpp", "src") and len(parts) >= 4:
        return Owner(parts[2], True, f"module {parts[2]}")
    if parts[:1] == ("cpp",) and len(parts) >= 3 and parts[1] in FREE_FOLDERS:
        return Owner(None, False, f"cpp/{parts[1]}")
    if parts[:3] == ("src", "shanraq_core", "_core"):
        return Owner(None, False, "the bindings")
    return None


def resolve(root: Path, inc: Include) -> Path | None:
    """The file of ours an include names (relative to the root), or None for a system/third-party one."""
    candidates = []
    if inc.quoted:
        candidates.append((root / inc.path).parent / inc.target)
    candidates.append(root / "cpp" / "include" / inc.target)
    for candidate in candidates:
        if candidate.is_file():
            resolved = candidate.resolve()
            try:
                return resolved.relative_to(root.resolve())
            except ValueError:
                return None
    return None


def source_files(root: Path) -> Iterator[Path]:
    cpp = root / "cpp"
    if cpp.is_dir():
        yield from sorted(p for p in cpp.rglob("*") if p.is_file() and p.suffix in CXX_SUFFIXES)
    core = root / "src" / "shanraq_core" / "_core"
    if core.is_dir():
        yield from sorted(
            p for p in core.rglob("*") if p.is_file() and p.suffix in CXX_SUFFIXES | CYTHON_SUFFIXES
        )


def check(root: Path) -> tuple[list[str], int, int]:
    """Returns (violations as `path:line: message`, files scanned, includes checked)."""
    violations: list[str] = []
    used_exceptions: set[tuple[str, str]] = set()
    files = 0
    checked = 0
    for path in source_files(root):
        files += 1
        rel = path.relative_to(root)
        owner = owner_of(rel)
        in_cpp = rel.parts[0] == "cpp"
        if in_cpp and owner is None:
            violations.append(
                f"{rel}:1: file is outside every module folder (cpp/include/shanraq/<module>/, "
                f"cpp/src/<module>/, cpp/tests/, cpp/bench/): the layering cannot be checked"
            )
            continue
        if owner is not None and owner.module is not None and owner.module not in ALLOWED:
            violations.append(
                f"{rel}:1: module '{owner.module}' has no layering rule: add it to ALLOWED in "
                f"scripts/check_includes.py and to docs/architecture.md"
            )
            continue
        for inc in includes_of(root, path):
            checked += 1
            where = f"{inc.path}:{inc.line}"
            if in_cpp and PYTHON_HEADER.match(inc.target):
                violations.append(
                    f"{where}: includes the Python header <{inc.target}>: cpp/ builds and is tested without "
                    f"Python; put Python-facing code in the bindings (src/shanraq_core/_core/)"
                )
                continue
            target = resolve(root, inc)
            if target is None:
                if inc.target.startswith("shanraq/"):
                    violations.append(f"{where}: '{inc.target}' is not a header in cpp/include/")
                continue
            target_owner = owner_of(target)
            if target_owner is None or owner is None:
                continue
            if target_owner.module is None:
                if owner.module is not None:
                    violations.append(
                        f"{where}: {owner.where} includes {target} from {target_owner.where}: "
                        f"the core never depends on tests, benches or bindings"
                    )
                continue
            if owner.module is None:
                # Tests and benches may include anything of ours; bindings only public headers.
                if owner.where == "the bindings" and target_owner.private:
                    violations.append(
                        f"{where}: the bindings include {target}, a private header of module "
                        f"{target_owner.module}: use its public headers in "
                        f"cpp/include/shanraq/{target_owner.module}/"
                    )
                continue
            if owner.module == target_owner.module:
                continue
            if target_owner.private:
                violations.append(
                    f"{where}: module {owner.module} includes {target}, a private header of module "
                    f"{target_owner.module} (cpp/src/ and detail/ are private to their module)"
                )
                continue
            edge = (owner.module, target_owner.module)
            if target_owner.module in ALLOWED[owner.module]:
                continue
            if edge in TEMPORARY_EXCEPTIONS:
                used_exceptions.add(edge)
                continue
            allowed = ", ".join(sorted(ALLOWED[owner.module])) or "nothing else of ours"
            violations.append(
                f"{where}: module {owner.module} must not include module {target_owner.module} "
                f"({inc.target}): {owner.module} may include only {allowed}"
            )
    for edge, why in TEMPORARY_EXCEPTIONS.items():
        if edge not in used_exceptions:
            violations.append(
                f"scripts/check_includes.py:1: the temporary exception {edge[0]} -> {edge[1]} ({why}) is no "
                f"longer used: delete it from TEMPORARY_EXCEPTIONS"
            )
    return violations, files, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="repository root (default: the checkout this script is in)",
    )
    args = parser.parse_args(argv)
    root: Path = args.root
    if not (root / "cpp").is_dir():
        print(f"check_includes: {root} has no cpp/ folder", file=sys.stderr)
        return 2
    violations, files, checked = check(root)
    for v in violations:
        print(v)
    if violations:
        print(f"check_includes: {len(violations)} layering violation(s) in {files} files", file=sys.stderr)
        return 1
    exceptions = ", ".join(f"{a} -> {b}" for a, b in TEMPORARY_EXCEPTIONS)
    print(
        f"check_includes: {checked} includes in {files} files follow the layering"
        + (f" (temporary exception: {exceptions})" if exceptions else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
