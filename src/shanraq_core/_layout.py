"""numpy dtypes and enum checks built from the tables the C++ core exports.

Record layouts (field names, offsets, sizes, numpy types) and enum values are
written down once, in C++ (``sm::RecordLayout`` / ``sm::EnumTable`` next to
each record and enum). The binding modules export them; this module turns a
layout into a numpy dtype and checks that a Python ``IntEnum`` has exactly the
C++ members, so the two sides cannot drift apart.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

__all__ = ["check_enum", "dtype_from_layout"]

FieldSpec = tuple[str, int, int, Any, bool]


def _fields_dtype(fields: list[FieldSpec], itemsize: int) -> np.dtype[Any]:
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    for name, offset, size, fmt, _alias in fields:
        sub = _fields_dtype(fmt, size) if isinstance(fmt, list) else np.dtype(fmt)
        if sub.itemsize != size:
            raise RuntimeError(
                f"field {name}: numpy type {sub} is {sub.itemsize} bytes, the C++ field {size}"
            )
        names.append(name)
        formats.append(sub)
        offsets.append(offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


def dtype_from_layout(layout: tuple[str, list[FieldSpec], int]) -> np.dtype[Any]:
    """The numpy dtype of a C++ record, from ``_core.<module>.layouts()``."""
    _name, fields, itemsize = layout
    return _fields_dtype(fields, itemsize)


def check_enum(cls: type[enum.IntEnum], exported: tuple[str, list[tuple[str, int]]]) -> None:
    """Raises ImportError unless ``cls`` has exactly the C++ enum's members."""
    cpp_name, members = exported
    ours = {m.name: int(m.value) for m in cls}
    theirs = dict(members)
    if ours != theirs:
        missing = sorted(set(theirs.items()) - set(ours.items()))
        extra = sorted(set(ours.items()) - set(theirs.items()))
        raise ImportError(
            f"{cls.__qualname__} does not match the C++ enum {cpp_name}: "
            f"missing or different {missing}, not in C++ {extra}"
        )
