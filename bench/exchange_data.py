"""The exchange's benchmark data: exchange-core's workload (bench/book_data.py)
as exchange commands with balances on. Every account of the book workload is
a user (account + 1) with deposits in both assets of one symbol (maker 1 bp,
taker 2 bp); orders are placed by their account's user, cancels and amends
come from the owner."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.book_data import workload
from shanraq_core import EXCHANGE_COMMAND_DTYPE, Exchange, ExchangeCommandKind

K = ExchangeCommandKind
USERS = 1000
BASE, QUOTE, SYMBOL = 1, 2, 1

Commands = Any


def new_exchange() -> Exchange:
    return Exchange(max_users=USERS + 16, max_assets=4, max_symbols=16, max_orders=1 << 16, max_levels=4096,
                    id_history=1 << 16, max_accounts=4 * (USERS + 16), max_transfers=4 * USERS)  # fmt: skip


def setup(x: Exchange) -> None:
    x.add_asset(BASE)
    x.add_asset(QUOTE)
    x.add_symbol(SYMBOL, BASE, QUOTE, maker_fee_bps=1, taker_fee_bps=2)
    tid = 1
    for u in range(1, USERS + 1):
        x.add_user(u)
        for a in (BASE, QUOTE):
            x.deposit(u, a, tid, 1 << 50)
            tid += 1


def translate(book_cmds: Commands, owner: dict[int, int]) -> Commands:
    """Book commands as exchange commands (owner: order id -> user, updated)."""
    out = np.zeros(len(book_cmds), dtype=EXCHANGE_COMMAND_DTYPE)
    for f in ("time_ns", "side", "order_type", "tif", "symbol", "order_id", "price", "qty"):
        out[f] = book_cmds[f]
    kinds = book_cmds["kind"]
    out["kind"] = np.select([kinds == 1, kinds == 2], [int(K.PLACE), int(K.CANCEL)], int(K.AMEND))
    users = book_cmds["account"].astype(np.uint64) + 1
    for i, (k, oid) in enumerate(zip(kinds.tolist(), book_cmds["order_id"].tolist(), strict=True)):
        if k == 1:
            owner[oid] = int(users[i])
        else:
            users[i] = owner.get(oid, 0)
    out["user"] = users
    kept = out["kind"] == int(K.PLACE)
    out["symbol"] = np.where(kept, out["symbol"], 0)
    return out


def exchange_workload(n_run: int = 200_000) -> tuple[Commands, Commands, Commands, Commands]:
    """(book fill, book run, exchange fill, exchange run): the same orders."""
    fill, run = workload(1, 1000, n_run)
    owner: dict[int, int] = {}
    return fill, run, translate(fill, owner), translate(run, owner)


def filled_exchange(xfill: Commands) -> Exchange:
    x = new_exchange()
    setup(x)
    x.process(xfill)
    return x
