"""asv benchmarks of the matching engine on issue 16's flow shapes
(bench/flows.py): trade-heavy with and without cancels, market-maker (amend
heavy, deep book), 1,000 Zipf symbols over 1M resting orders, and
exchange-core's mix; each on a fresh engine with the default configuration
holding the flow's prefill.

    asv run --quick --python=same --bench bench_flows

``time_process``: one ``process`` call over the flow's ``N_RUN`` timed
commands (ns per command = reported time / N_RUN). ``time_per_call``: the
same commands as a Python loop of ``submit``/``cancel``/``amend`` calls. The
side-by-side figures against a naive book and limit-order-book 3.1.0 come
from cpp/bench/compare_flows and bench/compare_flows.py (docs/performance.md).
"""

from __future__ import annotations

from typing import Any, ClassVar

from shanraq_core import MatchingEngine, OrderType, TimeInForce

from .flows import FLOWS, symbols_of

N_RUN = 50_000
MARKET = OrderType.MARKET
IOC = TimeInForce.IOC
Cache = dict[str, tuple[Any, Any, list[tuple[int, ...]]]]


def _engine(symbols: int, fill: Any) -> MatchingEngine:
    e = MatchingEngine(max_symbols=max(1024, symbols))
    for s in range(1, symbols + 1):
        e.add_symbol(s)
    e.process(fill)
    return e


class FlowShapes:
    """Batch and per call on each flow shape; ``flow`` names it."""

    params: ClassVar[list[str]] = list(FLOWS)
    param_names: ClassVar[list[str]] = ["flow"]
    number = 1
    repeat = 5
    warmup_time = 0.0
    timeout = 900

    def setup_cache(self) -> Cache:
        out: Cache = {}
        for name, make in FLOWS.items():
            fill, run = make(N_RUN)
            names = ("kind", "order_id", "symbol", "side", "order_type", "price", "qty", "account", "tif")
            cols = [run[n].tolist() for n in names]
            out[name] = (fill, run, list(zip(*cols, strict=True)))
        return out

    def setup(self, flows: Cache, flow: str) -> None:
        self.fill, self.run, self.calls = flows[flow]
        # One batch on a throwaway engine first: its freed event buffer raises
        # glibc's mmap threshold, so the timed engine's buffer comes from
        # mapped heap pages instead of a fresh mapping faulted in per page.
        _engine(symbols_of(flow), self.fill).process(self.run)
        self.engine = _engine(symbols_of(flow), self.fill)

    def time_process(self, flows: Cache, flow: str) -> None:
        self.engine.process(self.run)

    def time_per_call(self, flows: Cache, flow: str) -> None:
        e = self.engine
        submit, cancel, amend = e.submit, e.cancel, e.amend
        for kind, oid, sym, side, otype, price, qty, acct, tif in self.calls:
            if kind == 1:
                if otype == 2:
                    submit(oid, sym, side, None, qty, account=acct, order_type=MARKET)
                elif tif == 2:
                    submit(oid, sym, side, price, qty, account=acct, tif=IOC)
                else:
                    submit(oid, sym, side, price, qty, account=acct)
            elif kind == 2:
                cancel(oid)
            else:
                amend(oid, price=price)
