"""The market (market.py) through the exchange: the same Zipf-active orders,
with balances behind them.

Everything is a command: the setup adds a quote asset (1) and one base asset
per symbol (symbol s trades asset s + 1 against asset 1, maker 1 bp, taker
2 bp), the symbols, the users (user = the order's account) and a deposit of
every asset for every user; the timed stream is the market's orders placed by
their account's user, so every one of them is checked against and held from
that user's balance, and its cancels and amends sent by the order's owner.

A market or stop buy names a protection price (the exchange requires one: it
sizes the hold): a stop buy its stop price plus `STOP_LIMIT_TICKS`, a market
buy `MARKET_BUY_PROTECTION` (far above any price the market's random walk
reaches, so it trades as the book's market order would).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shanraq_core.book import CommandKind, OrderType, Side
from shanraq_core.exchange import EXCHANGE_COMMAND_DTYPE, ExchangeCommandKind
from shanraq_core.harness.market import T0_NS, MarketSpec

__all__ = ["DEPOSIT", "QUOTE_ASSET", "exchange_commands", "exchange_setup"]

QUOTE_ASSET = 1
#: What every user deposits of every asset: far more than the market's orders
#: hold (at most ~2^36 a buy), far below the exchange's supply limit (2^62) for
#: 2^16 users.
DEPOSIT = 1 << 44
STOP_LIMIT_TICKS = 100
MARKET_BUY_PROTECTION = 1 << 20

K = ExchangeCommandKind


def exchange_setup(spec: MarketSpec) -> npt.NDArray[np.void]:
    """ADD_ASSET (quote, then one base per symbol), ADD_SYMBOL, ADD_USER and
    one DEPOSIT per user and asset, in that order (transfer ids 1..)."""
    assets = spec.symbols + 1
    a = np.zeros(assets, dtype=EXCHANGE_COMMAND_DTYPE)
    a["kind"] = K.ADD_ASSET
    a["asset"] = np.arange(1, assets + 1)
    s = np.zeros(spec.symbols, dtype=EXCHANGE_COMMAND_DTYPE)
    s["kind"] = K.ADD_SYMBOL
    s["symbol"] = np.arange(1, spec.symbols + 1)
    s["asset"] = np.arange(2, spec.symbols + 2)
    s["quote_asset"] = QUOTE_ASSET
    s["maker_fee_bps"] = 1
    s["taker_fee_bps"] = 2
    s["base_scale"] = 1
    s["quote_scale"] = 1
    s["tick_size"] = 1
    s["lot_size"] = 1
    s["min_price"] = 1
    s["max_price"] = 1 << 40
    s["max_qty"] = 1 << 40
    u = np.zeros(spec.users, dtype=EXCHANGE_COMMAND_DTYPE)
    u["kind"] = K.ADD_USER
    u["user"] = np.arange(1, spec.users + 1)
    d = np.zeros(spec.users * assets, dtype=EXCHANGE_COMMAND_DTYPE)
    d["kind"] = K.DEPOSIT
    d["user"] = np.repeat(np.arange(1, spec.users + 1, dtype=np.uint64), assets)
    d["asset"] = np.tile(np.arange(1, assets + 1, dtype=np.uint32), spec.users)
    d["transfer_id"] = np.arange(1, len(d) + 1)
    d["amount"] = DEPOSIT
    out = np.concatenate([a, s, u, d])
    out["time_ns"] = T0_NS
    return out


def exchange_commands(book_cmds: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """The market's timed book commands as the exchange's: places by the
    order's account (user), cancels and amends by the order's owner."""
    out = np.zeros(len(book_cmds), dtype=EXCHANGE_COMMAND_DTYPE)
    for f in ("time_ns", "side", "order_type", "tif", "symbol", "order_id", "price", "qty"):
        out[f] = book_cmds[f]
    out["stop_price"] = book_cmds["stop_price"]
    out["display_qty"] = book_cmds["display_qty"]
    kinds = book_cmds["kind"]
    submit = kinds == int(CommandKind.SUBMIT)
    out["kind"] = np.select(
        [submit, kinds == int(CommandKind.CANCEL)], [int(K.PLACE), int(K.CANCEL)], int(K.AMEND)
    )
    oids = book_cmds["order_id"]
    accounts = book_cmds["account"].astype(np.uint64)
    # Owner of each order id: its place's account (ids are unique per place).
    owner = dict(zip(oids[submit].tolist(), accounts[submit].tolist(), strict=True))
    users = accounts.copy()
    rest = np.flatnonzero(~submit)
    users[rest] = [owner.get(o, 0) for o in oids[rest].tolist()]
    out["user"] = users
    buy = book_cmds["side"] == int(Side.BUY)
    stop = submit & (book_cmds["order_type"] == int(OrderType.STOP)) & buy
    out["price"] = np.where(stop, book_cmds["stop_price"] + STOP_LIMIT_TICKS, out["price"])
    market = submit & (book_cmds["order_type"] == int(OrderType.MARKET)) & buy
    out["price"] = np.where(market, MARKET_BUY_PROTECTION, out["price"])
    return out
