"""A simulated market for the benchmark harness: seeded, deterministic command
streams in BOOK_COMMAND_DTYPE with an open-loop schedule.

Users trade many symbols whose activity follows a Zipf law (a few hot symbols,
a long tail). Each symbol's mid price takes a small random walk; orders are
placed relative to it, so passive orders build books on both sides and
aggressive ones trade against them. The mix (shares of commands) covers what a
venue sees: passive and marketable limits, market orders, IOC and FOK, stop
orders, icebergs, cancels and amends. Cancels and amends name orders placed
earlier on the same symbol; some of those have traded away by then, and the
engine answers those UNKNOWN_ORDER as a venue answers a late cancel.

The generator does not run an engine: the stream is the same for every stage
and every component that consumes it, and it is produced in about a second
per million commands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shanraq_core.book import BOOK_COMMAND_DTYPE, CommandKind, OrderType, Side, TimeInForce

__all__ = ["DEFAULT_MIX", "MarketSpec", "Workload", "generate", "symbol_commands"]

#: Shares of the command stream (they need not sum to 1; they are normalised).
DEFAULT_MIX: dict[str, float] = {
    "limit_passive": 0.30,
    "limit_marketable": 0.08,
    "market": 0.04,
    "ioc": 0.07,
    "fok": 0.03,
    "stop": 0.04,
    "iceberg": 0.04,
    "cancel": 0.28,
    "amend": 0.12,
}

#: The engine's clock at the first scheduled command (any positive constant:
#: the stream must not depend on the wall clock, or replays would differ).
T0_NS = 1_000_000_000
#: Orders a symbol remembers as candidates for cancels and amends.
_RECENT = 256


@dataclass(frozen=True)
class MarketSpec:
    users: int = 1_000
    symbols: int = 200
    zipf_s: float = 1.1
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    base_price: int = 10_000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Workload:
    """``setup``: the ADD_SYMBOL commands (applied before timing starts).
    ``commands``: the timed stream, unstamped (seq 0), ``time_ns`` =
    T0_NS + the command's scheduled offset. ``sched_ns``: each command's
    offset from the start of the run at the offered ``rate``."""

    spec: MarketSpec
    seed: int
    rate: float
    setup: npt.NDArray[np.void]
    commands: npt.NDArray[np.void]
    sched_ns: npt.NDArray[np.int64]
    counts: dict[str, int]

    def __len__(self) -> int:
        return len(self.commands)

    def prefix(self, n: int) -> Workload:
        return Workload(
            self.spec, self.seed, self.rate, self.setup, self.commands[:n], self.sched_ns[:n], self.counts
        )

    def at_rate(self, rate: float) -> Workload:
        """The same commands scheduled at another offered rate."""
        sched = schedule(len(self.commands), rate)
        cmds = self.commands.copy()
        cmds["time_ns"] = T0_NS + sched
        return Workload(self.spec, self.seed, rate, self.setup, cmds, sched, self.counts)


def schedule(n: int, rate: float) -> npt.NDArray[np.int64]:
    """Evenly spaced offsets (ns) of n commands at ``rate`` per second."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    return np.floor(np.arange(n, dtype=np.float64) * (1e9 / rate)).astype(np.int64)


def symbol_commands(spec: MarketSpec) -> npt.NDArray[np.void]:
    """One ADD_SYMBOL per symbol (ids 1..symbols, tick and lot 1)."""
    setup = np.zeros(spec.symbols, dtype=BOOK_COMMAND_DTYPE)
    setup["kind"] = CommandKind.ADD_SYMBOL
    setup["symbol"] = np.arange(1, spec.symbols + 1)
    setup["tick_size"] = 1
    setup["lot_size"] = 1
    setup["min_price"] = 1
    setup["max_price"] = 1 << 40
    setup["max_qty"] = 1 << 40
    setup["time_ns"] = T0_NS
    return setup


def generate(spec: MarketSpec, n: int, rate: float, seed: int) -> Workload:
    """n timed commands of the spec's market at ``rate`` per second."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if spec.users < 1 or spec.symbols < 1:
        raise ValueError("users and symbols must be >= 1")
    rng = np.random.default_rng(seed)
    names = list(spec.mix)
    shares = np.array([spec.mix[k] for k in names], dtype=np.float64)
    if (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"mix shares must be >= 0 with a positive sum, got {spec.mix}")
    kinds = rng.choice(len(names), size=n, p=shares / shares.sum())
    zipf = 1.0 / np.arange(1, spec.symbols + 1, dtype=np.float64) ** spec.zipf_s
    syms = rng.choice(spec.symbols, size=n, p=zipf / zipf.sum())
    users = rng.integers(1, spec.users + 1, size=n)
    sides = rng.integers(1, 3, size=n)
    small = rng.integers(1, 6, size=n)  # ticks for aggressive prices
    depth = np.minimum(rng.geometric(0.08, size=n), 100)  # ticks away from the mid for passive prices
    qty = rng.integers(1, 101, size=n)
    walk = rng.choice(np.array([-1, 0, 0, 0, 0, 0, 1]), size=n)
    pick = rng.random(n)

    mids = (spec.base_price + rng.integers(0, spec.base_price, size=spec.symbols)).tolist()
    recent: list[list[tuple[int, int, int, int]]] = [[] for _ in range(spec.symbols)]
    cmds = np.zeros(n, dtype=BOOK_COMMAND_DTYPE)
    counts = dict.fromkeys(names, 0)
    counts["cancel_fallback"] = 0

    # Column lists, filled in the loop and written once (numpy per-element
    # writes would dominate the generator's time).
    c_kind = [0] * n
    c_side = [0] * n
    c_type = [0] * n
    c_tif = [0] * n
    c_oid = [0] * n
    c_acct = [0] * n
    c_price = [0] * n
    c_qty = [0] * n
    c_stop = [0] * n
    c_disp = [0] * n

    limit, market, stop = int(OrderType.LIMIT), int(OrderType.MARKET), int(OrderType.STOP)
    gtc, ioc, fok = int(TimeInForce.GTC), int(TimeInForce.IOC), int(TimeInForce.FOK)
    buy = int(Side.BUY)
    submit, cancel, amend = int(CommandKind.SUBMIT), int(CommandKind.CANCEL), int(CommandKind.AMEND)
    idx = {k: i for i, k in enumerate(names)}
    k_passive = idx.get("limit_passive", -1)
    k_marketable = idx.get("limit_marketable", -1)
    k_market = idx.get("market", -1)
    k_ioc = idx.get("ioc", -1)
    k_fok = idx.get("fok", -1)
    k_stop = idx.get("stop", -1)
    k_iceberg = idx.get("iceberg", -1)
    k_cancel = idx.get("cancel", -1)
    k_amend = idx.get("amend", -1)

    kinds_l, syms_l, users_l, sides_l = kinds.tolist(), syms.tolist(), users.tolist(), sides.tolist()
    small_l, depth_l, qty_l, walk_l, pick_l = (
        small.tolist(), depth.tolist(), qty.tolist(), walk.tolist(), pick.tolist()
    )  # fmt: skip
    next_id = 1
    for i in range(n):
        k = kinds_l[i]
        s = syms_l[i]
        mid = mids[s] + walk_l[i]
        if mid < 100:
            mid = 100
        mids[s] = mid
        side = sides_l[i]
        sign = 1 if side == buy else -1
        book = recent[s]
        if k in (k_cancel, k_amend):
            if book:
                # Mostly recent orders: quotes are cancelled or moved soon after
                # they are placed, and the oldest have more often traded away.
                j = len(book) - 1 - int(pick_l[i] ** 3 * len(book))
                oid, oside, oprice, oqty = book[j]
                if k == k_cancel:
                    book[j] = book[-1]
                    book.pop()
                    c_kind[i] = cancel
                    c_oid[i] = oid
                    counts["cancel"] += 1
                else:
                    c_kind[i] = amend
                    c_oid[i] = oid
                    if pick_l[i] * 1000 % 1 < 0.5 and oqty > 1:
                        c_qty[i] = oqty // 2 + 1  # a decrease keeps time priority
                        book[j] = (oid, oside, oprice, c_qty[i])
                    else:
                        osign = 1 if oside == buy else -1
                        newp = mid - osign * depth_l[i]
                        if newp == oprice:
                            newp -= osign
                        c_price[i] = max(1, newp)
                        book[j] = (oid, oside, c_price[i], oqty)
                    counts["amend"] += 1
                continue
            counts["cancel_fallback"] += 1
            k = k_passive
        oid = next_id
        next_id += 1
        c_kind[i] = submit
        c_oid[i] = oid
        c_acct[i] = users_l[i]
        c_side[i] = side
        c_qty[i] = qty_l[i]
        if k in (k_passive, k_iceberg, -1):
            price = max(1, mid - sign * depth_l[i])
            c_type[i] = limit
            c_tif[i] = gtc
            c_price[i] = price
            if k == k_iceberg:
                c_qty[i] = qty_l[i] * 5
                c_disp[i] = max(1, qty_l[i] // 2)
                counts["iceberg"] += 1
            else:
                counts["limit_passive"] += 1
            if len(book) >= _RECENT:
                book[int(pick_l[i] * _RECENT)] = (oid, side, price, c_qty[i])
            else:
                book.append((oid, side, price, c_qty[i]))
        elif k == k_marketable:
            c_type[i] = limit
            c_tif[i] = gtc
            c_price[i] = mid + sign * small_l[i]
            c_qty[i] = 1 + qty_l[i] // 4
            counts["limit_marketable"] += 1
        elif k == k_market:
            c_type[i] = market
            c_tif[i] = ioc
            c_qty[i] = 1 + qty_l[i] // 8
            counts["market"] += 1
        elif k in (k_ioc, k_fok):
            c_type[i] = limit
            c_tif[i] = ioc if k == k_ioc else fok
            c_price[i] = mid + sign * (small_l[i] - 1)
            c_qty[i] = 1 + qty_l[i] // 4
            counts["ioc" if k == k_ioc else "fok"] += 1
        elif k == k_stop:
            c_type[i] = stop
            c_tif[i] = ioc
            c_stop[i] = mid + sign * (5 + 3 * small_l[i])
            c_qty[i] = 1 + qty_l[i] // 4
            counts["stop"] += 1

    cmds["kind"] = c_kind
    cmds["side"] = c_side
    cmds["order_type"] = c_type
    cmds["tif"] = c_tif
    cmds["symbol"] = np.where(np.asarray(c_kind) == submit, syms + 1, 0)
    cmds["order_id"] = c_oid
    cmds["account"] = c_acct
    cmds["price"] = c_price
    cmds["qty"] = c_qty
    cmds["stop_price"] = c_stop
    cmds["display_qty"] = c_disp
    sched = schedule(n, rate)
    cmds["time_ns"] = T0_NS + sched
    return Workload(spec, seed, rate, symbol_commands(spec), cmds, sched, counts)
