"""Run a benchmark command when the machine is quiet, and report how quiet it stayed.

The machines these benchmarks run on are shared: other builds and benchmarks
come and go. This waits until every CPU has been at least ``--idle`` idle over
one second (up to ``--max-wait`` seconds), runs the command, and prints how
many CPUs *other* processes used while it ran: total busy CPU time from
/proc/stat minus the command's own (its children's rusage). A run is called
quiet below 0.15 CPUs.

    python -m bench.quiet -- build/release/cpp/bench/bench_queue --benchmark_filter=Spsc
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies summed over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user
    return total - idle, total


def wait_quiet(idle: float, max_wait: float) -> float:
    """Waits until the machine was >= `idle` idle over a second; returns the idle fraction seen."""
    deadline = time.monotonic() + max_wait
    frac = 0.0
    while True:
        b0, t0 = _cpu_times()
        time.sleep(1.0)
        b1, t1 = _cpu_times()
        frac = 1.0 - (b1 - b0) / max(t1 - t0, 1.0)
        if frac >= idle or time.monotonic() >= deadline:
            return frac


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--idle", type=float, default=0.9, help="idle fraction to wait for (default 0.9)")
    p.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait at most (default 600)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("no command given")
    seen = wait_quiet(a.idle, a.max_wait)
    hz = os.sysconf("SC_CLK_TCK")
    b0, _ = _cpu_times()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.monotonic()
    rc = subprocess.call(cmd)
    wall = time.monotonic() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b1, _ = _cpu_times()
    own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    others = max(0.0, (b1 - b0) / hz - own) / max(wall, 1e-9)
    print(
        f"# quiet.py: started at {seen:.0%} idle; other processes used {others:.2f} CPUs "
        f"during the {wall:.1f} s run ({'quiet' if others < 0.15 else 'NOT quiet'})",
        file=sys.stderr,
    )
    sys.exit(rc)


if __name__ == "__main__":
    main()
