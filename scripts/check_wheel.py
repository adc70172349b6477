#!/usr/bin/env python3
"""Check what a built shanraq_core wheel contains, and report its size.

    python3 scripts/check_wheel.py dist/shanraq_core-*.whl [more wheels...]

A wheel carries the installed package and nothing else: the Python modules, the hand-written stubs
(.pyi), the py.typed markers, one compiled extension per stub in shanraq_core/_core/, libraries that
auditwheel grafted (shanraq_core.libs/: the journal's libcrypto and libisal in a repaired wheel), and its
.dist-info. Tests, Cython sources (.pyx/.pxd), the C++
sources and headers, Cython's generated C++ and every build file (CMakeLists.txt, object files, static
libraries, build trees) stay out. Any file outside that list is reported with the reason.

Exit status: 0 when every wheel passes, 1 when one breaks a rule, 2 on a usage error. Standard library
only, so it runs before anything is installed (the CI workflow runs it on every wheel it builds).
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path, PurePosixPath

PACKAGE = "shanraq_core"

# Reasons for files that must never ship, checked before the allow-list so the message says why.
FORBIDDEN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(^|/)(tests?|testing)/|(^|/)(test_[^/]*|[^/]*_test|conftest)\.py$"), "a test"),
    (re.compile(r"\.(pyx|pxd|pxi)$"), "a Cython source"),
    (
        re.compile(r"\.(c|cc|cpp|cxx|h|hh|hpp|hxx|ipp|inl)$"),
        "C/C++ source or header (the core is compiled in; Cython's generated C++ is a build file)",
    ),
    (
        re.compile(
            r"(^|/)(CMakeLists\.txt|CMakeCache\.txt|Makefile|build\.ninja|\.ninja_[a-z]+|"
            r"cmake_install\.cmake|CMakePresets\.json)$|\.cmake$|(^|/)CMakeFiles/"
        ),
        "a build file",
    ),
    (re.compile(r"\.(o|obj|a|lo|la|d)$"), "a build product (object file or static library)"),
    (re.compile(r"(^|/)(build|dist|_skbuild|\.asv|\.hypothesis|__pycache__)/"), "a build or cache folder"),
    (re.compile(r"\.(pyc|pyo)$"), "compiled bytecode (the installer writes its own)"),
]

# What may ship. Extension modules are named <module>.cpython-<ver>-<platform>.so (or .abi3.so).
ALLOWED: list[re.Pattern[str]] = [
    re.compile(rf"^{PACKAGE}/([A-Za-z_][A-Za-z0-9_]*/)*[A-Za-z_][A-Za-z0-9_]*\.pyi?$"),
    re.compile(rf"^{PACKAGE}/([A-Za-z_][A-Za-z0-9_]*/)*py\.typed$"),
    re.compile(rf"^{PACKAGE}/_core/[a-z_][a-z0-9_]*\.(cpython-[0-9]+[a-z]*-[A-Za-z0-9_-]+|abi3)\.so$"),
    re.compile(rf"^{PACKAGE}\.libs/[^/]+\.so(\.[0-9]+)*$"),
    re.compile(rf"^{PACKAGE}-[^/]+\.dist-info/(METADATA|WHEEL|RECORD|entry_points\.txt|top_level\.txt)$"),
    re.compile(rf"^{PACKAGE}-[^/]+\.dist-info/(licenses/)?[^/]*(LICEN[CS]E|COPYING|NOTICE)[^/]*$"),
    re.compile(rf"^{PACKAGE}-[^/]+\.dist-info/sboms/[^/]+\.json$"),
]
EXTENSION = re.compile(rf"^{PACKAGE}/_core/([a-z_][a-z0-9_]*)\.[^/]+\.so$")
STUB = re.compile(rf"^{PACKAGE}/_core/([a-z_][a-z0-9_]*)\.pyi$")
REQUIRED = [f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed", f"{PACKAGE}/_core/__init__.py"]


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_names(names: list[str]) -> list[str]:
    """Problems with a wheel's file list (empty when it is fine)."""
    problems = []
    for name in names:
        if name.endswith("/"):
            continue  # a directory entry
        if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
            problems.append(f"{name}: path escapes the install directory")
            continue
        reason = next((why for pattern, why in FORBIDDEN if pattern.search(name)), None)
        if reason is not None:
            problems.append(f"{name}: {reason} has no place in a wheel")
        elif not any(pattern.match(name) for pattern in ALLOWED):
            problems.append(f"{name}: not a file the installed package needs (see ALLOWED in check_wheel.py)")
    present = set(names)
    problems += [f"{name}: missing" for name in REQUIRED if name not in present]
    stubs = {m.group(1) for n in names if (m := STUB.match(n))}
    extensions = {m.group(1) for n in names if (m := EXTENSION.match(n))}
    problems += [
        f"{PACKAGE}/_core/{m}.pyi: stub without its compiled module" for m in sorted(stubs - extensions)
    ]
    problems += [
        f"{PACKAGE}/_core/{m}: compiled module without its .pyi stub" for m in sorted(extensions - stubs)
    ]
    if not extensions:
        problems.append(f"{PACKAGE}/_core/: no compiled extension module at all")
    return problems


def check_wheel(path: Path) -> list[str]:
    """Prints the wheel's size report and returns its problems."""
    if not re.match(rf"^{PACKAGE}-[^-]+-[^-]+-[^-]+-[^-]+\.whl$", path.name):
        return [f"{path.name}: not a {PACKAGE} wheel file name (name-version-python-abi-platform.whl)"]
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (OSError, zipfile.BadZipFile) as e:
        return [f"{path}: cannot be read as a zip file ({e})"]
    files = [i for i in infos if not i.filename.endswith("/")]
    unpacked = sum(i.file_size for i in files)
    extensions = [i for i in files if EXTENSION.match(i.filename)]
    grafted = [i for i in files if i.filename.startswith(f"{PACKAGE}.libs/")]
    print(
        f"{path.name}: {human(path.stat().st_size)} on disk, {human(unpacked)} installed, {len(files)} files"
    )
    for info in sorted(extensions + grafted, key=lambda i: -i.file_size):
        print(f"  {human(info.file_size):>10}  {info.filename}")
    python = sum(i.file_size for i in files if i.filename.endswith((".py", ".pyi")))
    print(f"  {human(python):>10}  Python sources and stubs")
    return check_names([i.filename for i in infos])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="+", type=Path, metavar="WHEEL")
    args = parser.parse_args(argv)
    failed = 0
    for wheel in args.wheels:
        if not wheel.is_file():
            print(f"check_wheel: {wheel}: no such file", file=sys.stderr)
            return 2
        problems = check_wheel(wheel)
        for problem in problems:
            print(f"  FAIL {problem}")
        if problems:
            failed += 1
            print(f"check_wheel: {wheel.name}: {len(problems)} problem(s)")
        else:
            print(f"check_wheel: {wheel.name}: contents OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
