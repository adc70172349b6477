"""scripts/check_includes.py on made-up source trees: each layering rule is caught, with file and line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_includes.py"


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_includes", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def make_tree(root: Path, files: dict[str, str]) -> Path:
    # Every module's public header exists, so an include of it resolves like in the real tree.
    for module in ("common", "hist", "queue", "book", "ledger", "exchange", "runner", "journal"):
        files.setdefault(f"cpp/include/shanraq/{module}/{module}.hpp", "#pragma once\n")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


Exceptions = dict[tuple[str, str], str]


def violations(checker: ModuleType, root: Path, exceptions: Exceptions | None = None) -> list[str]:
    saved = checker.TEMPORARY_EXCEPTIONS
    checker.TEMPORARY_EXCEPTIONS = exceptions or {}
    try:
        found, _files, _checked = checker.check(root)
    finally:
        checker.TEMPORARY_EXCEPTIONS = saved
    return list(found)


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("hist", "common"),
        ("queue", "common"),
        ("book", "common"),
        ("ledger", "common"),
        ("exchange", "book"),
        ("exchange", "ledger"),
        ("exchange", "common"),
        ("runner", "queue"),
        ("journal", "queue"),
        ("journal", "common"),
    ],
)
def test_allowed_edges_pass(checker: ModuleType, tmp_path: Path, module: str, target: str) -> None:
    root = make_tree(
        tmp_path,
        {
            f"cpp/src/{module}/impl.cpp": f'#include "shanraq/{module}/{module}.hpp"\n#include <vector>\n'
            f'#include "shanraq/{target}/{target}.hpp"\n',
        },
    )
    assert violations(checker, root) == []


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("common", "hist"),
        ("hist", "queue"),
        ("queue", "hist"),
        ("book", "ledger"),
        ("ledger", "book"),
        ("book", "queue"),
        ("ledger", "runner"),
        ("exchange", "queue"),
        ("runner", "ledger"),
        ("runner", "exchange"),
        ("journal", "book"),
    ],
)
def test_forbidden_edges_name_file_and_line(
    checker: ModuleType, tmp_path: Path, module: str, target: str
) -> None:
    header = f'#pragma once\n\n#include "shanraq/{target}/{target}.hpp"\n'
    root = make_tree(tmp_path, {f"cpp/include/shanraq/{module}/api.hpp": header})
    [message] = violations(checker, root)
    assert message.startswith(f"cpp/include/shanraq/{module}/api.hpp:3: ")
    assert f"module {module} must not include module {target}" in message


def test_python_headers_are_rejected_anywhere_in_cpp(checker: ModuleType, tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "cpp/src/hist/a.cpp": "#include <cstdint>\n#include <Python.h>\n",
            "cpp/bench/b.cpp": '#include "numpy/arrayobject.h"\n',
            "cpp/tests/hist/c.cpp": "#include <pybind11/pybind11.h>\n",
            # The bindings are where Python and C++ meet.
            "src/shanraq_core/_core/helpers.hpp": "#include <Python.h>\n#include <numpy/arrayobject.h>\n",
        },
    )
    found = violations(checker, root)
    assert [v.split(": ")[0] for v in found] == [
        "cpp/bench/b.cpp:1",
        "cpp/src/hist/a.cpp:2",
        "cpp/tests/hist/c.cpp:1",
    ]
    assert all("Python header" in v for v in found)


def test_private_headers_stay_in_their_module(checker: ModuleType, tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "cpp/include/shanraq/common/detail/bits.hpp": "#pragma once\n",
            "cpp/src/ledger/slots.hpp": "#pragma once\n",
            "cpp/src/ledger/ledger.cpp": '#include "slots.hpp"\n#include "shanraq/common/detail/bits.hpp"\n',
            "cpp/src/exchange/x.cpp": '#include "../ledger/slots.hpp"\n',
            "cpp/include/shanraq/common/common.hpp": '#include "shanraq/common/detail/bits.hpp"\n',
            "cpp/tests/ledger/test_slots.cpp": '#include "../../src/ledger/slots.hpp"\n',
            "src/shanraq_core/_core/ledger.pyx": 'cdef extern from "shanraq/common/detail/bits.hpp":\n',
            "src/shanraq_core/_core/book.pyx": '    """\n    #include "shanraq/book/book.hpp"\n    """\n',
        },
    )
    found = violations(checker, root)
    assert len(found) == 3
    assert found[0].startswith("cpp/src/exchange/x.cpp:1: module exchange includes cpp/src/ledger/slots.hpp")
    assert found[1].startswith("cpp/src/ledger/ledger.cpp:2: module ledger includes ")
    assert "private header of module common" in found[1]
    assert found[2].startswith("src/shanraq_core/_core/ledger.pyx:1: the bindings include ")


def test_commented_includes_are_not_includes(checker: ModuleType, tmp_path: Path) -> None:
    root = make_tree(
        tmp_path,
        {
            "cpp/src/book/a.cpp": '/* #include "shanraq/ledger/ledger.hpp"\n#include <Python.h>\n*/\n'
            '// #include "shanraq/queue/queue.hpp"\n#include "shanraq/ledger/ledger.hpp"\n',
        },
    )
    [message] = violations(checker, root)
    assert message.startswith("cpp/src/book/a.cpp:5: module book must not include module ledger")


def test_unknown_module_and_stray_file_are_reported(checker: ModuleType, tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"cpp/src/gateway/g.cpp": "\n", "cpp/src/loose.cpp": "\n"})
    found = violations(checker, root)
    assert found[0].startswith("cpp/src/gateway/g.cpp:1: module 'gateway' has no layering rule")
    assert found[1].startswith("cpp/src/loose.cpp:1: file is outside every module folder")


def test_missing_header_of_ours_is_reported(checker: ModuleType, tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"cpp/src/hist/h.cpp": '#include "shanraq/hist/gone.hpp"\n'})
    assert violations(checker, root) == [
        "cpp/src/hist/h.cpp:1: 'shanraq/hist/gone.hpp' is not a header in cpp/include/"
    ]


def test_temporary_exception_allows_its_edge_and_must_be_used(checker: ModuleType, tmp_path: Path) -> None:
    exceptions = {("runner", "book"): "until the rewrite"}
    root = make_tree(tmp_path, {"cpp/src/runner/r.cpp": '#include "shanraq/book/book.hpp"\n'})
    assert violations(checker, root, exceptions) == []
    (root / "cpp/src/runner/r.cpp").write_text('#include "shanraq/queue/queue.hpp"\n')
    [message] = violations(checker, root, exceptions)
    assert "temporary exception runner -> book (until the rewrite) is no longer used" in message


def test_command_line_exit_status(
    checker: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_tree(tmp_path, {"cpp/src/book/b.cpp": '#include "shanraq/ledger/ledger.hpp"\n'})
    saved = checker.TEMPORARY_EXCEPTIONS
    checker.TEMPORARY_EXCEPTIONS = {}
    try:
        assert checker.main(["--root", str(root)]) == 1
        assert "cpp/src/book/b.cpp:1: module book must not include module ledger" in capsys.readouterr().out
        (root / "cpp/src/book/b.cpp").write_text('#include "shanraq/common/common.hpp"\n')
        assert checker.main(["--root", str(root)]) == 0
        assert checker.main(["--root", str(tmp_path / "nowhere")]) == 2
    finally:
        checker.TEMPORARY_EXCEPTIONS = saved
