"""Runs a benchmark command when the machine is quiet, and says how quiet it
stayed.

    python -m bench.quiet_run [--max-wait S] -- build/release/cpp/bench/bench_runner ...
    python -m bench.quiet_run -- python -m bench.bench_runner

Waits (up to --max-wait seconds) until every CPU has been at least 90 % idle
over one second, runs the command, then prints the load average at the start
and the CPUs that *other* processes kept busy during the run: busy time from
/proc/stat over the run, minus the command's own CPU time (its whole process
tree, from getrusage), divided by the wall time. On this shared 2-core
machine a run with others below ~0.15 CPUs is comparable with another quiet
one; above that, other work shared the cores and the figures say so.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies summed over all CPUs."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return float(total - idle), float(total)


def _wait_quiet(max_wait: float) -> bool:
    ncpu = os.cpu_count() or 1
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = _cpu_times()
        time.sleep(1.0)
        b1, t1 = _cpu_times()
        busy_cpus = (b1 - b0) / (t1 - t0) * ncpu if t1 > t0 else 0.0
        if busy_cpus <= 0.1 * ncpu:
            return True
        if time.monotonic() >= deadline:
            return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait for a quiet machine")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        parser.error("no command given")
    quiet = _wait_quiet(args.max_wait)
    load = os.getloadavg()[0]
    ticks = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, _ = _cpu_times()
    w0 = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - w0
    b1, _ = _cpu_times()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    busy_s = (b1 - b0) / ticks
    others = max(0.0, busy_s - own) / wall if wall > 0 else 0.0
    print(
        f"[quiet_run] {'quiet start' if quiet else 'NOT quiet at start (gave up waiting)'}, "
        f"load {load:.2f} at start; wall {wall:.1f} s, own CPU {own:.1f} s, "
        f"others used {others:.2f} of {ncpu} CPUs during the run",
        file=sys.stderr,
    )
    return rc


if __name__ == "__main__":
    sys.exit(main())
