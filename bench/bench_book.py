"""asv benchmarks for the matching engine (shanraq_core.book).

Run from the repository root:

    asv run --quick --python=same --bench bench_book

Workloads (bench/book_data.py): exchange-core's single-symbol mix (1,000
resting orders over ~750 levels; 9% GTC, 3% IOC, 6% cancel, 82% move) and a
1,000-symbol Zipf mix over 1M resting orders. Batch benchmarks time one
``process`` call over the whole run (200,000 commands): **commands/s =
200,000 / reported time**. Per-call benchmarks time a Python loop of
``N_CALLS`` (10,000) calls: **ns per call = reported time / 10,000**. The
pure-Python reference matcher (tests/book_reference.py) runs the first
``N_REFERENCE`` commands of the same flow as the baseline.

Issue bars (checked by bench/compare_book.py, which prints them): batch >= 10M
commands/s; per-call submit/amend/cancel >= 2M ops/s; memory <= 128 bytes per
resting order.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shanraq_core import MatchingEngine, Side, TimeInForce

from .book_data import MID, filled_engine, workload

N_CALLS = 10_000
N_RUN = 200_000
N_REFERENCE = 5_000


def _reference_engine() -> object:
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.book_reference import ReferenceEngine

    return ReferenceEngine(max_orders=4096, max_symbols=1, max_levels=4096, id_history=4096)


class ExchangeCoreBatch:
    """process() over the exchange-core mix, one call per sample."""

    number = 1
    repeat = 10
    warmup_time = 0.0

    def setup(self) -> None:
        self.fill, self.run = workload(1, 1000, N_RUN)
        self.engine = filled_engine(1, 1000, N_RUN)
        # One warm batch on another engine so allocator pages are mapped.
        filled_engine(1, 1000, N_RUN).process(self.run)

    def time_process(self) -> None:
        self.engine.process(self.run)


class ManySymbolsBatch:
    """process() over the 1,000-symbol Zipf mix with 1M resting orders."""

    number = 1
    repeat = 5
    warmup_time = 0.0
    timeout = 600

    def setup(self) -> None:
        self.fill, self.run = workload(1000, 1000, N_RUN, 1.0)
        self.engine = filled_engine(1000, 1000, N_RUN, 1.0)

    def time_process(self) -> None:
        self.engine.process(self.run)


class PerCall:
    """One command per call from Python; divide by N_CALLS for ns per call."""

    def setup(self) -> None:
        self.engine = filled_engine(1, 1000, N_RUN)
        self.next_id = 10_000_000
        self.ids = list(range(self.next_id, self.next_id + N_CALLS))
        self.offsets = [1 + (i * 7919) % 700 for i in range(N_CALLS)]
        self.moved = [self.engine.submit(oid, 1, Side.BUY, MID - 1, 1) for oid in self.ids[:100]]

    def time_loop_only(self) -> None:
        for _oid, _off in zip(self.ids, self.offsets, strict=True):
            pass

    def time_submit_then_cancel(self) -> None:
        """2 x N_CALLS calls: a passive submit, then its cancel."""
        submit, cancel = self.engine.submit, self.engine.cancel
        base = self.next_id + N_CALLS
        self.next_id += N_CALLS
        for i, off in enumerate(self.offsets):
            submit(base + i, 1, Side.BUY, MID - off, 10)
        for i in range(N_CALLS):
            cancel(base + i)

    def time_amend_price(self) -> None:
        amend = self.engine.amend
        ids = self.ids[:100]
        for k, off in enumerate(self.offsets):
            amend(ids[k % 100], price=MID - off)

    def time_ioc_match(self) -> None:
        """N_CALLS IOC buys, each taking liquidity from a refreshed ask."""
        submit = self.engine.submit
        base = self.next_id + 2 * N_CALLS
        self.next_id += 2 * N_CALLS
        for i in range(0, 2 * N_CALLS, 2):
            submit(base + i, 1, Side.SELL, MID, 1)
            submit(base + i + 1, 1, Side.BUY, MID, 1, tif=TimeInForce.IOC)


class ReferenceBaseline:
    """The pure-Python reference matcher on the first N_REFERENCE commands of
    the exchange-core mix (and the engine on the same slice, for the ratio)."""

    number = 1
    repeat = 5

    def setup(self) -> None:
        fill, run = workload(1, 1000, N_RUN)
        self.fill = [dict(zip(fill.dtype.names or (), map(int, r), strict=True)) for r in fill.tolist()]
        self.run = [
            dict(zip(run.dtype.names or (), map(int, r), strict=True)) for r in run[:N_REFERENCE].tolist()
        ]
        self.run_np = run[:N_REFERENCE]
        self.ref = _reference_engine()
        self.ref.add_symbol(1)  # type: ignore[attr-defined]
        for c in self.fill:
            self.ref.apply(c)  # type: ignore[attr-defined]
        self.engine = filled_engine(1, 1000, N_RUN)

    def time_reference(self) -> None:
        for c in self.run:
            self.ref.apply(c)  # type: ignore[attr-defined]

    def time_engine_same_slice(self) -> None:
        self.engine.process(self.run_np)


def peakmem_many_symbols_1m_resting() -> None:
    """Peak RSS of building 1M resting orders over 1,000 symbols."""
    fill, _ = workload(1000, 1000, N_RUN, 1.0)
    e = MatchingEngine(max_symbols=1000, max_levels=1 << 21)
    for s in range(1, 1001):
        e.add_symbol(s)
    e.process(fill)


def peakmem_exchange_core() -> None:
    e = filled_engine(1, 1000, N_RUN)
    e.process(workload(1, 1000, N_RUN)[1])
