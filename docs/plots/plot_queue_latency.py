"""Round-trip latency percentiles of each queue, for docs/perf_queue.md.

    python -m bench.bench_queue --json docs/plots/queue_roundtrip.json   # measure (root of the repo)
    python docs/plots/plot_queue_latency.py                              # plot

Reads the percentiles that bench/bench_queue.py measured (cross-process
ping-pong of one 64-byte record: SpscRing in each wait strategy,
multiprocessing.Queue, faster-fifo) and writes docs/img/queue_roundtrip.png.
Deterministic: nothing is random here, the figure is a function of the JSON
file, which is committed next to this script because a measurement on a shared
machine cannot be repeated exactly. Needs matplotlib (in the ``dev`` extra).
"""

from __future__ import annotations

import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE / "queue_roundtrip.json"
OUT = HERE.parent / "img" / "queue_roundtrip.png"
STYLE = {
    "SpscRing wait=spin": ("tab:blue", "-"),
    "SpscRing wait=yield": ("tab:cyan", "--"),
    "SpscRing wait=blocking": ("tab:green", "-"),
    "multiprocessing.Queue": ("tab:red", "-"),
    "faster-fifo": ("tab:orange", "-"),
}
# Tick positions on the 1 / (1 - p) axis and the percentile each stands for.
PERCENTILE_TICKS = {1: "0%", 2: "50%", 10: "90%", 100: "99%", 1e3: "99.9%", 1e4: "99.99%"}


def _load(doc: dict[str, object]) -> str:
    # The 1-minute load average at start lags; a CPU count measured over the
    # run itself (added by hand from scripts' /proc/stat sampling) is better.
    if "other_processes_cpu_during_run" in doc:
        return f"other processes used {doc['other_processes_cpu_during_run']} CPUs during the run"
    return f"load average {doc['load_average_at_start']:.1f} at start"


def main() -> None:
    doc = json.loads(DATA.read_text())
    pct = np.asarray(doc["percentiles"], dtype=float)
    x = 1.0 / (1.0 - pct / 100.0)
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=130)
    for label, values in doc["round_trip_ns"].items():
        color, ls = STYLE.get(label, ("black", ":"))
        us = np.asarray(values) / 1e3
        ax.plot(
            x,
            us,
            color=color,
            ls=ls,
            marker="o",
            ms=3,
            lw=1.6,
            label=f"{label} (p50 {np.interp(2, x, us):.1f} µs)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(list(PERCENTILE_TICKS)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: PERCENTILE_TICKS.get(v, "")))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} µs"))
    ax.axhline(10, color="grey", lw=0.8, ls=":")
    ax.text(1.05, 10 * 1.08, "issue 5 bar: p50 ≤ 10 µs", color="grey", fontsize=8)
    ax.set_xlabel("percentile")
    ax.set_ylabel("round trip (log scale)")
    ax.set_title(
        "Cross-process ping-pong of one 64-byte record, from Python\n"
        f"{doc['machine']}, {doc['cpu_count']} CPUs, {_load(doc)}",
        fontsize=10,
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
