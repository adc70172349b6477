"""asv benchmarks for the exchange (shanraq_core.Exchange).

    asv run --quick --python=same --bench bench_exchange

Workload (bench/exchange_data.py): exchange-core's mix (bench/book_data.py)
with balances on: 1,000 users with deposits, one symbol (maker 1 bp, taker
2 bp), ~1,000 resting orders. Batch benchmarks time process() of N_RUN
commands on a freshly filled exchange and, for the ratio, the bare matching
engine on the same orders; per-call benchmarks time N_CALLS resting places
and as many ping() calls (the trivial method of the same object).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.book_data import MID, filled_engine
from bench.exchange_data import SYMBOL, exchange_workload, filled_exchange
from shanraq_core import Side

N_RUN = 200_000
N_CALLS = 10_000


class ExchangeBatch:
    timeout = 600
    number = 1
    repeat = 5

    def setup(self) -> None:
        # A fresh filled exchange and engine per repeat (asv calls setup each time).
        _fill, self.run, xfill, self.xrun = exchange_workload(N_RUN)
        self.x = filled_exchange(xfill)
        self.e = filled_engine(1, 1000)

    def time_exchange_process(self) -> None:
        self.x.process(self.xrun)

    def time_book_process(self) -> None:
        self.e.process(self.run)


class ExchangePerCall:
    timeout = 300
    number = 1
    repeat = 11

    def setup(self) -> None:
        _f, _r, xfill, _xr = exchange_workload(1000)
        self.x = filled_exchange(xfill)
        self.next_id = 1 << 40

    def time_ping(self) -> None:
        ping = self.x.ping
        for _ in range(N_CALLS):
            ping()

    def time_resting_place(self) -> None:
        place = self.x.place
        oid = self.next_id
        for i in range(N_CALLS):
            place(7, oid + i, SYMBOL, Side.BUY, MID - 300, 10)
        self.next_id += N_CALLS
        self.x.mass_cancel(7)
