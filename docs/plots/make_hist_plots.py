"""Figures for docs/histograms.md.

    python docs/plots/make_hist_plots.py        # from the repository root

Writes docs/img/hist_precision.png and docs/img/hist_coordinated_omission.png
and prints the numbers quoted in the text. Deterministic: the workload is drawn
from a fixed seed, and everything else is arithmetic on the histograms.
Needs matplotlib (in the ``dev`` extra).
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from shanraq_core import LatencyHistogram

OUT = pathlib.Path(__file__).resolve().parent.parent / "img"
SEED = 20240229
NS_PER_MS = 1_000_000
HOUR_NS = 3_600_000_000_000
VALUE_LABELS = {1: "1 ns", 1e3: "1 µs", 1e6: "1 ms", 1e9: "1 s", 60e9: "1 min", HOUR_NS: "1 h"}
# Tick positions on the 1 / (1 - p) axis and the percentile each stands for.
PERCENTILE_LABELS = {1: "0%", 2: "50%", 10: "90%", 100: "99%", 1e3: "99.9%", 1e4: "99.99%", 1e5: "99.999%"}


# ---- (a) relative error bound per value -------------------------------------------------
def precision_figure() -> None:
    """Worst relative error among the values sharing each value's slot:
    (slot width - 1) / lowest value of the slot. Zero where slots hold one
    value each (exact), so those stretches are absent on the log axis."""
    values = np.unique(np.logspace(0, np.log10(HOUR_NS), 40_000).astype(np.int64))
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=130)
    colors = {1: "tab:red", 2: "tab:orange", 3: "tab:blue"}
    for digits in (1, 2, 3):
        h = LatencyHistogram(1, HOUR_NS, digits)
        lo = np.array([h.lowest_equivalent_value(int(v)) for v in values], dtype=np.float64)
        hi = np.array([h.highest_equivalent_value(int(v)) for v in values], dtype=np.float64)
        err = (hi - lo) / lo
        err[err == 0] = np.nan
        exact_below = int(values[np.isnan(err)].max()) + 1
        ax.plot(
            values,
            err,
            color=colors[digits],
            lw=1.0,
            label=f"{digits} digit{'s' if digits > 1 else ''}: {h.memory_size / 1000:,.0f} kB, "
            f"exact below {exact_below:,} ns",
        )
        ax.axhline(10.0**-digits, color=colors[digits], ls="--", lw=0.8)
        ax.text(2.0, 10.0**-digits * 1.15, f"bound $10^{{-{digits}}}$", color=colors[digits], fontsize=8)
        print(
            f"precision: {digits} digits  worst relative error {np.nanmax(err):.5f}  "
            f"exact below {exact_below} ns  memory {h.memory_size} B"
        )
    ticks = list(VALUE_LABELS)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: VALUE_LABELS.get(v, "")))
    ax.set_xlim(1, HOUR_NS * 1.5)
    ax.set_ylim(1e-4, 0.3)
    ax.set_xlabel("recorded value (ns)")
    ax.set_ylabel("worst relative error in the value's slot")
    ax.set_title("Precision of LatencyHistogram(1 ns, 1 h, digits)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.95)
    fig.tight_layout()
    fig.savefig(OUT / "hist_precision.png")
    plt.close(fig)


# ---- (b) coordinated omission ------------------------------------------------------------
INTERVAL_NS = 1 * NS_PER_MS  # the load generator's plan: one request every 1 ms
DURATION_NS = 60_000 * NS_PER_MS  # 60 s, so 60,000 planned requests
STALLS = [(7_000, 150), (23_500, 400), (41_200, 250), (55_000, 100)]  # (start ms, length ms)


def _finish(start: int, service: int) -> int:
    """Completion time of `service` ns of work begun at `start` on a server
    that does no work during the stall windows."""
    t, left = start, service
    for s_ms, d_ms in STALLS:
        s, e = s_ms * NS_PER_MS, (s_ms + d_ms) * NS_PER_MS
        if e <= t:
            continue
        if t < s and t + left <= s:
            break
        if t < s:
            left -= s - t
        t = e
    return t + left


def co_workload() -> tuple[LatencyHistogram, LatencyHistogram, LatencyHistogram]:
    rng = np.random.default_rng(SEED)
    n = DURATION_NS // INTERVAL_NS
    # Service times: lognormal, median 200 µs, a long-ish tail.
    service = rng.lognormal(mean=np.log(200_000), sigma=0.6, size=n).astype(np.int64)

    # Open loop (the truth): request i is due at i * interval whatever happens;
    # its latency runs from when it was due, so queueing behind a stall counts.
    truth = LatencyHistogram()
    free = 0
    for i in range(n):
        due = i * INTERVAL_NS
        done = _finish(max(due, free), int(service[i]))
        truth.record(done - due)
        free = done

    # Closed loop (the common load generator): it cannot send while it waits,
    # so the requests planned during a stall are never sent and never measured,
    # and each response is timed from when it was actually sent.
    raw = LatencyHistogram()
    corrected = LatencyHistogram()
    free, i = 0, 0
    while True:
        sent = max(i * INTERVAL_NS, free)
        if sent >= DURATION_NS:
            break
        done = _finish(sent, int(service[i]))
        raw.record(done - sent)
        corrected.record_corrected(done - sent, INTERVAL_NS)
        free = done
        i = max(i + 1, -(-done // INTERVAL_NS))  # next planned slot not yet in the past
    return truth, raw, corrected


def co_figure() -> None:
    truth, raw, corrected = co_workload()
    pct = [50, 90, 99, 99.9, 99.99, 100]
    print(f"{'':>34}" + "".join(f"{p:>10}" for p in pct) + "     count")
    for name, h in (
        ("open loop (truth)", truth),
        ("closed loop, record()", raw),
        ("closed loop, record_corrected()", corrected),
    ):
        row = "".join(f"{v / NS_PER_MS:10.2f}" for v in h.percentiles(pct))
        print(f"{name:>34}{row}{h.total_count:>10}")

    # HdrHistogram's percentile plot: x = 1 / (1 - p) on a log axis, so each
    # extra nine gets the same width.
    p = 100.0 * (1.0 - np.logspace(0, -5, 600))
    x = 1.0 / (1.0 - p / 100.0)
    fig, ax = plt.subplots(figsize=(8, 4.6), dpi=130)
    for h, label, style in (
        (truth, "open loop: what users saw (truth)", dict(color="black", lw=2.2)),
        (corrected, "closed loop + record_corrected(v, 1 ms)", dict(color="tab:blue", lw=1.5, ls="--")),
        (raw, "closed loop + record(v): coordinated omission", dict(color="tab:red", lw=1.5)),
    ):
        ax.step(x, h.percentiles(p) / NS_PER_MS, where="post", label=label, **style)
    ticks = list(PERCENTILE_LABELS)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: PERCENTILE_LABELS.get(v, "")))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(1, 1e5)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title("1 request per ms for 60 s, lognormal service (median 200 µs), four stalls of 100 to 400 ms")
    ax.title.set_fontsize(9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.95)
    fig.tight_layout()
    fig.savefig(OUT / "hist_coordinated_omission.png")
    plt.close(fig)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    precision_figure()
    co_figure()
    print(f"wrote {OUT / 'hist_precision.png'} and {OUT / 'hist_coordinated_omission.png'}")
