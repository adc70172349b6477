"""scripts/check_wheel.py on made-up wheels: what a wheel may carry, and what it must not."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_wheel.py"
SO = "cpython-311-x86_64-linux-gnu.so"
GOOD = [
    "shanraq_core/__init__.py",
    "shanraq_core/py.typed",
    "shanraq_core/hist.py",
    "shanraq_core/_core/__init__.py",
    "shanraq_core/_core/py.typed",
    "shanraq_core/_core/hist.pyi",
    f"shanraq_core/_core/hist.{SO}",
    "shanraq_core/_core/queue.pyi",
    "shanraq_core/_core/queue.cpython-313-aarch64-linux-musl.so",
    "shanraq_core.libs/libstdc++-a1b2c3d4.so.6.0.30",
    "shanraq_core-0.1.0.dist-info/METADATA",
    "shanraq_core-0.1.0.dist-info/WHEEL",
    "shanraq_core-0.1.0.dist-info/RECORD",
    "shanraq_core-0.1.0.dist-info/licenses/LICENSE",
]


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_wheel", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_wheel(
    directory: Path, names: list[str], name: str = "shanraq_core-0.1.0-cp311-cp311-linux_x86_64.whl"
) -> Path:
    path = directory / name
    with zipfile.ZipFile(path, "w") as zf:
        for n in names:
            zf.writestr(n, b"\0" * 100)
    return path


def test_a_wheel_of_the_package_alone_passes(checker: ModuleType) -> None:
    assert checker.check_names(GOOD) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("tests/test_hist.py", "a test"),
        ("shanraq_core/tests/helpers.py", "a test"),
        ("shanraq_core/test_smoke.py", "a test"),
        ("conftest.py", "a test"),
        ("shanraq_core/_core/hist.pyx", "a Cython source"),
        ("shanraq_core/_core/hist.pxd", "a Cython source"),
        ("shanraq_core/_core/hist.cxx", "C/C++ source"),
        ("shanraq_core/_core/hist.cpp", "C/C++ source"),
        ("shanraq/hist/histogram.hpp", "C/C++ source"),
        ("shanraq_core/_core/CMakeLists.txt", "a build file"),
        ("shanraq_core/cmake_install.cmake", "a build file"),
        ("shanraq_core/CMakeFiles/hist.dir/x.o", "a build file"),
        ("shanraq_core/_core/libshanraq_core_lib.a", "a build product"),
        ("build/py-cp311/hist.so", "a build or cache folder"),
        ("shanraq_core/__pycache__/hist.cpython-311.pyc", "a build or cache folder"),
        ("shanraq_core/hist.pyc", "compiled bytecode"),
    ],
)
def test_forbidden_files_are_named_with_the_reason(checker: ModuleType, name: str, reason: str) -> None:
    [problem] = checker.check_names([*GOOD, name])
    assert problem.startswith(f"{name}: {reason}")


@pytest.mark.parametrize(
    "name",
    ["README.md", "shanraq_core/data.bin", "docs/index.md", "shanraq_core/_core/hist.so", "scripts/test.sh"],
)
def test_anything_not_on_the_allow_list_is_rejected(checker: ModuleType, name: str) -> None:
    [problem] = checker.check_names([*GOOD, name])
    assert problem == f"{name}: not a file the installed package needs (see ALLOWED in check_wheel.py)"


def test_each_stub_needs_its_extension_and_each_extension_its_stub(checker: ModuleType) -> None:
    names = [n for n in GOOD if n != f"shanraq_core/_core/hist.{SO}"] + [f"shanraq_core/_core/book.{SO}"]
    assert checker.check_names(names) == [
        "shanraq_core/_core/hist.pyi: stub without its compiled module",
        "shanraq_core/_core/book: compiled module without its .pyi stub",
    ]


def test_required_files_and_extensions(checker: ModuleType) -> None:
    names = ["shanraq_core/hist.py", "shanraq_core-0.1.0.dist-info/METADATA"]
    assert checker.check_names(names) == [
        "shanraq_core/__init__.py: missing",
        "shanraq_core/py.typed: missing",
        "shanraq_core/_core/__init__.py: missing",
        "shanraq_core/_core/: no compiled extension module at all",
    ]


def test_paths_outside_the_install_directory(checker: ModuleType) -> None:
    problems = checker.check_names([*GOOD, "/etc/passwd", "shanraq_core/../../x.py"])
    assert problems == [
        "/etc/passwd: path escapes the install directory",
        "shanraq_core/../../x.py: path escapes the install directory",
    ]


def test_command_line_reports_size_and_exit_status(
    checker: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_wheel(tmp_path, GOOD)
    assert checker.main([str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good.name}: " in out
    assert " on disk, " in out
    assert f"shanraq_core/_core/hist.{SO}" in out
    assert "contents OK" in out

    bad = make_wheel(
        tmp_path, [*GOOD, "shanraq_core/_core/hist.pyx"], "shanraq_core-0.2-cp312-cp312-linux_aarch64.whl"
    )
    assert checker.main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL shanraq_core/_core/hist.pyx: a Cython source has no place in a wheel" in out
    assert f"check_wheel: {bad.name}: 1 problem(s)" in out

    assert checker.main([str(tmp_path / "absent.whl")]) == 2
    not_zip = tmp_path / "shanraq_core-0.1.0-cp311-cp311-linux_x86_64.whl"
    not_zip.write_bytes(b"not a zip")
    assert checker.main([str(not_zip)]) == 1
    assert "cannot be read as a zip file" in capsys.readouterr().out
    other = make_wheel(tmp_path, GOOD, "numpy-2.0-cp311-cp311-linux_x86_64.whl")
    assert checker.main([str(other)]) == 1
