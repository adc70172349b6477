"""One-process comparison of the latency histogram against its baselines.

    python bench/compare_hist.py                       # print the table
    python bench/compare_hist.py --write docs/perf_python_hist.md

Measures, in this one process and interleaved (every repeat times every
operation once, in a rotated order, so drift on a shared machine hits all of
them alike), the medians of: LatencyHistogram.record against hdrhistogram's
record_value and prometheus_client's observe; record_many per value on 10M
int64; four percentiles of a full default histogram; time() and timed against
a bare perf_counter_ns pair; Recorder.record; encode, decode, add and
to_prometheus against their hdrhistogram / prometheus_client counterparts.
Then prints a markdown table (operation, median, baseline, ratio, bar, met?).

The timed code is the asv suite's (bench_hist.py): per-call operations are a
Python loop of 10,000 calls over seeded lognormal latencies, reported per
call (the loop's own cost, the "empty for loop" row, is included in them,
for shanraq and the baselines alike).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import shlex
import statistics
import subprocess
import sys
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path

if not __package__:  # run as a script: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_hist as suites
from bench.common import COMPARISONS, OPERATIONS, format_ns, markdown_table

DEFAULT_REPEATS = 15
#: Seconds per sample: enough to average out timer granularity and short
#: interruptions, short enough that 15 interleaved repeats take ~30 s.
DEFAULT_SAMPLE_SECONDS = 0.05


def _prepare(keys: Sequence[str]) -> tuple[dict[str, Callable[[], None]], dict[str, str]]:
    """Sets up one instance of each suite class (shared by its operations)
    and returns the bound benchmark methods, plus the operations skipped and
    why (a suite whose setup raises NotImplementedError)."""
    instances: dict[str, object] = {}
    skipped: dict[str, str] = {}
    fns: dict[str, Callable[[], None]] = {}
    for key in keys:
        class_name, method_name = OPERATIONS[key].benchmark.split(".")
        if class_name not in instances:
            instance = getattr(suites, class_name)()
            try:
                instance.setup()
            except NotImplementedError as e:
                skipped[key] = str(e)
                continue
            instances[class_name] = instance
        fns[key] = getattr(instances[class_name], method_name)
    return fns, skipped


def measure(
    keys: Sequence[str], repeats: int, sample_seconds: float
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """ns per operation of each sample, by key."""
    fns, skipped = _prepare(keys)
    timers = {key: timeit.Timer(fn) for key, fn in fns.items()}
    numbers: dict[str, int] = {}
    for key, timer in timers.items():
        timer.timeit(1)  # warm-up: first-touch of pages, caches, lazy imports
        one = max(timer.timeit(1), 1e-7)
        numbers[key] = max(1, round(sample_seconds / one))
    samples: dict[str, list[float]] = {key: [] for key in timers}
    order = list(timers)
    for r in range(repeats):
        rotated = order[r % len(order) :] + order[: r % len(order)]
        for key in rotated:
            number = numbers[key]
            seconds = timers[key].timeit(number)  # timeit disables gc while timing
            samples[key].append(seconds * 1e9 / number / OPERATIONS[key].per_call)
        gc.collect()
    return samples, skipped


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def _details_table(samples: dict[str, list[float]]) -> str:
    rows = [
        "| operation | benchmark (bench_hist.py) | median | p25 .. p75 | samples |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for key, values in samples.items():
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        op = OPERATIONS[key]
        median = format_ns(statistics.median(values))
        spread = f"{format_ns(q[0])} .. {format_ns(q[2])}"
        rows.append(f"| {op.label} | `{op.benchmark}` | {median} | {spread} | {len(values)} |")
    return "\n".join(rows)


def _document(table: str, details: str, command: str, skipped: dict[str, str], repeats: int) -> str:
    import numpy as np

    import shanraq_core

    try:
        import hdrh

        hdrh_version = getattr(hdrh, "__version__", None) or _dist_version("hdrhistogram")
    except ImportError:
        hdrh_version = "not installed"
    skipped_text = "".join(f"\nSkipped: {key} ({why})." for key, why in skipped.items())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"""# Python latency histogram: medians and ratios

Generated by `bench/compare_hist.py`; regenerate with the command below and
paste the table into docs/performance.md.

```
{command}
```

- `python -VV`: Python {sys.version.replace(chr(10), " ")}
- `lscpu | grep 'Model name'`: {_cpu_model()} ({os.cpu_count()} CPUs, load average {load} at start)
- shanraq_core {shanraq_core.__version__}: {_build_description()}
- numpy {np.__version__}, hdrhistogram {hdrh_version},
  prometheus_client {_dist_version("prometheus_client")}
- {datetime.date.today().isoformat()}, {repeats} interleaved repeats per operation in one process

## Against the baselines and the issue's bars

{table}

How to read it: *median* is the median over the repeats of the time per
operation. Per-call rows (record, observe, `Recorder.record`, the timers) are
a Python `for` loop of 10,000 calls over seeded lognormal latencies (median
20 µs), divided by 10,000, so they include the loop itself (the last row),
for shanraq and the baselines alike. *Ratio* is baseline ÷ median: above 1,
shanraq is that many times faster; below 1, the extra cost is shown in ns.
The timer rows are mostly the two clock reads themselves (see the bare
`perf_counter_ns()` pair), which cost far more on a virtual machine than on
bare metal. The full histogram has all 33,421 slots of the default 1 ns .. 1 h, 3-digit
layout non-empty; the 1M-value histograms hold seeded lognormal
latencies.{skipped_text}

## All measurements

{details}

The same operations are tracked by asv (`asv run --quick --python=same`,
`asv continuous main HEAD`; classes in bench/bench_hist.py) and by
pytest-benchmark (`pytest bench --benchmark-enable`, which prints this table
from its own medians).
"""


#: What the histogram's extension module is built from.
_HIST_SOURCES = (
    "cpp/include/shanraq/hist",
    "cpp/include/shanraq/common",
    "cpp/src/hist",
    "src/shanraq_core/_core/hist.pyx",
    "src/shanraq_core/_core/hist.pxd",
)


def _build_description() -> str:
    """Which code was measured: the extension's build time, the checkout's
    commit and uncommitted changes (read-only git commands), and a warning
    when a native source is newer than the build (an editable install that
    was not rebuilt)."""
    from shanraq_core._core import hist as ext

    built_at = Path(ext.__file__).stat().st_mtime
    built = datetime.datetime.fromtimestamp(built_at).strftime("%Y-%m-%d %H:%M")
    root = Path(__file__).resolve().parents[1]
    sources = [p for d in _HIST_SOURCES for p in [root / d, *(root / d).rglob("*")] if p.is_file()]
    stale = sorted(str(p.relative_to(root)) for p in sources if p.stat().st_mtime > built_at)
    text = f"extension built {built}"
    if stale:
        text += f" (**stale**: {', '.join(stale)} changed since)"

    def git(*args: str) -> str:
        cmd = ["git", "--no-optional-locks", "-C", str(root), *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--", *_HIST_SOURCES)
    except (OSError, subprocess.CalledProcessError):
        return text
    dirty = [line[3:] for line in changed.splitlines()]
    text += f"; checkout at commit {head}"
    if dirty:
        text += f", uncommitted changes to {', '.join(dirty)}"
    return text


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="samples per operation")
    parser.add_argument(
        "--sample-seconds", type=float, default=DEFAULT_SAMPLE_SECONDS, help="target seconds per sample"
    )
    parser.add_argument("--only", nargs="+", choices=sorted(OPERATIONS), help="measure only these")
    parser.add_argument("--write", type=Path, help="also write the markdown report to this file")
    args = parser.parse_args(argv)

    compared = {k for c in COMPARISONS for k in (c.operation, c.baseline) if k}
    keys = args.only or sorted(compared, key=list(OPERATIONS).index)
    samples, skipped = measure(keys, args.repeats, args.sample_seconds)
    medians = {key: statistics.median(values) for key, values in samples.items()}
    table = markdown_table(medians)
    details = _details_table(samples)
    print(table)
    print()
    print(details)
    for key, why in skipped.items():
        print(f"skipped {key}: {why}", file=sys.stderr)
    if args.write is not None:
        words = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
        command = "python " + shlex.join(words)
        args.write.write_text(_document(table, details, command, skipped, args.repeats), encoding="utf-8")
        print(f"\nwrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
