"""What the benchmark reports say about the machine they ran on."""

from __future__ import annotations

import pathlib
import platform


def cpu_model() -> str:
    """The CPU's model name (what `lscpu` prints as "Model name")."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
