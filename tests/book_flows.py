"""Hypothesis strategies and drivers shared by the matching-engine tests:
order flows as lists of command dicts, and ways to feed them to the engine
(batch, per call) and to the reference matcher."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from shanraq_core import BOOK_COMMAND_DTYPE, BOOK_EVENT_DTYPE, MatchingEngine

from .book_reference import INT64_MAX, ReferenceEngine


def base_fields(dtype: np.dtype[Any]) -> tuple[str, ...]:
    """The dtype's fields without the alias views (a field at an offset an
    earlier field already covers)."""
    assert dtype.names is not None
    assert dtype.fields is not None
    seen: set[int] = set()
    out = []
    for name in dtype.names:
        offset = dtype.fields[name][1]
        if offset not in seen:
            seen.add(offset)
            out.append(name)
    return tuple(out)


FIELDS = base_fields(BOOK_COMMAND_DTYPE)
EVENT_FIELDS = base_fields(BOOK_EVENT_DTYPE)

# Three symbols: 1 is a plain book, 2 has tick 2, lot 5; 3 trades at prices
# 1..3 in quantities up to 2**63-1, so open quantities, level totals and FOK
# sums reach the int64 limit (QTY_OVERFLOW).
SYMBOLS: dict[int, dict[str, int]] = {
    1: {"tick_size": 1, "lot_size": 1, "min_price": 90, "max_price": 110, "max_qty": 1_000},
    2: {"tick_size": 2, "lot_size": 5, "min_price": 2, "max_price": 1_000, "max_qty": 10_000},
    3: {"tick_size": 1, "lot_size": 1, "min_price": 1, "max_price": 3, "max_qty": INT64_MAX},
}
HUGE_QTYS = [1, 2, 2**61, 2**62 - 1, 2**62, 3 * 2**61, 2**63 - 2, 2**63 - 1]
# Specs the symbol commands carry: (tick, lot, min_price, max_price, max_qty);
# the last two are invalid, the one with tick 5 puts new prices of symbol 2
# off its old grid.
SPECS = [
    (1, 1, 90, 110, 1_000),
    (2, 5, 2, 1_000, 10_000),
    (5, 5, 5, 1_000, 10_000),
    (1, 1, 1, 3, INT64_MAX),
    (0, 1, 1, 10, 10),
    (1, 1, 100, 90, 10),
]


def spec_command(kind: int, symbol: int, spec: tuple[int, int, int, int, int], t: int) -> dict[str, int]:
    tick, lot, lo, hi, max_qty = spec
    return rec(
        kind=kind,
        symbol=symbol,
        price=tick,
        qty=lot,
        stop_price=lo,
        display_qty=hi,
        expire_ns=max_qty,
        time_ns=t,
    )


def rec(**fields: int) -> dict[str, int]:
    out = dict.fromkeys(FIELDS, 0)
    out.update(fields)
    return out


def to_array(cmds: list[dict[str, int]]) -> np.ndarray[Any, np.dtype[np.void]]:
    arr = np.zeros(len(cmds), dtype=BOOK_COMMAND_DTYPE)
    for i, c in enumerate(cmds):
        for k, v in c.items():
            arr[i][k] = v
    return arr


def event_tuples(events: np.ndarray[Any, np.dtype[np.void]]) -> list[tuple[int, ...]]:
    return [tuple(int(e[f]) for f in EVENT_FIELDS) for e in events]


def ref_tuples(events: list[dict[str, int]]) -> list[tuple[int, ...]]:
    return [tuple(int(e.get(f, 0)) for f in EVENT_FIELDS) for e in events]


def new_engine(**kw: Any) -> MatchingEngine:
    eng = MatchingEngine(**kw)
    for s, spec in SYMBOLS.items():
        eng.add_symbol(s, **spec)
    return eng


def new_reference(**kw: Any) -> ReferenceEngine:
    ref = ReferenceEngine(**kw)
    for s, spec in SYMBOLS.items():
        ref.add_symbol(s, **spec)
    return ref


@st.composite
def commands(draw: st.DrawFn, n_max: int = 60, wild: bool = False) -> list[dict[str, int]]:
    """An order flow. Prices cluster so orders cross, ids are reused on purpose
    sometimes, time moves forward in small steps (GTD expiry), symbols are
    added, changed, halted and resumed now and then, and symbol 3's quantities
    reach the int64 limit. With wild=True any field but seq may hold an
    invalid value (batch API only)."""
    n = draw(st.integers(1, n_max))
    out: list[dict[str, int]] = []
    t = 0
    next_id = 1
    for _ in range(n):
        t += draw(st.sampled_from([0, 0, 0, 1, 2, 5]))
        kind = draw(st.sampled_from([1] * 20 + [2] * 4 + [3] * 8 + [4] * 2 + [5] * 2 + [6, 7, 8, 8, 9, 9]))
        sym = draw(st.sampled_from([1, 1, 1, 2, 3]))
        tick, lot = SYMBOLS[sym]["tick_size"], SYMBOLS[sym]["lot_size"]
        price = draw(st.integers(1, 3)) if sym == 3 else draw(st.integers(96, 104)) * tick
        used_id = draw(st.integers(1, max(1, next_id)))
        if kind == 1:
            otype = draw(st.sampled_from([1, 1, 1, 1, 2, 3, 4]))
            has_limit = otype in (1, 4)
            tif = draw(st.sampled_from([1, 1, 2, 3, 4])) if has_limit else draw(st.sampled_from([2, 3]))
            qty = draw(st.sampled_from(HUGE_QTYS)) if sym == 3 else draw(st.integers(1, 12)) * lot
            c = rec(
                kind=1, order_id=next_id, symbol=sym, account=draw(st.integers(0, 2)),
                side=draw(st.sampled_from([1, 2])),
                order_type=otype, tif=tif, price=price if has_limit else 0, qty=qty, time_ns=t,
                stp=draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4])),
            )  # fmt: skip
            next_id += 1
            if otype in (3, 4):
                c["stop_price"] = draw(st.integers(1, 3)) if sym == 3 else draw(st.integers(96, 104)) * tick
            if tif == 4:
                c["expire_ns"] = t + draw(st.integers(1, 8))
            if otype == 1 and tif in (1, 4):
                if draw(st.integers(0, 4)) == 0:
                    c["display_qty"] = (
                        draw(st.sampled_from(HUGE_QTYS)) if sym == 3 else draw(st.integers(1, 4)) * lot
                    )
                if draw(st.integers(0, 6)) == 0:
                    c["flags"] = 1
            if draw(st.integers(0, 15)) == 0:
                c["order_id"] = used_id  # duplicate (or fresh) id
        elif kind == 2:
            c = rec(kind=2, order_id=used_id, time_ns=t)
        elif kind == 3:
            c = rec(kind=3, order_id=used_id, time_ns=t)
            if draw(st.booleans()):
                c["price"] = price
            if draw(st.booleans()):
                c["qty"] = draw(st.sampled_from(HUGE_QTYS)) if sym == 3 else draw(st.integers(1, 14)) * lot
            if draw(st.integers(0, 5)) == 0:
                c["stop_price"] = draw(st.integers(1, 3)) if sym == 3 else draw(st.integers(96, 104)) * tick
        elif kind == 4:
            c = rec(
                kind=4,
                account=draw(st.integers(0, 2)),
                symbol=sym,
                flags=draw(st.sampled_from([1, 2, 3])),
                time_ns=t,
            )
        elif kind == 5:
            c = rec(kind=5, time_ns=t)
        elif kind in (6, 7):
            target = draw(st.sampled_from([1, 2, 3, 4, 5] if kind == 6 else [1, 2, 3, 4, 9]))
            c = spec_command(kind, target, draw(st.sampled_from(SPECS)), t)
        else:
            c = rec(kind=kind, symbol=draw(st.sampled_from([1, 1, 2, 3, 9])), time_ns=t)
        if wild and draw(st.integers(0, 4)) == 0:
            field = draw(st.sampled_from([f for f in FIELDS if f != "seq"]))
            c[field] = draw(
                st.sampled_from([0, 1, 7, 255, -1, -(1 << 62), 1 << 62, 3, 99, 101, 2**31])
                if field not in ("kind", "side", "order_type", "tif", "stp", "flags")
                else st.integers(0, 255)
            )
            lo, hi = (0, 2**64 - 1) if BOOK_COMMAND_DTYPE[field].kind == "u" else (-(2**63), 2**63 - 1)
            bits = BOOK_COMMAND_DTYPE[field].itemsize * 8
            if BOOK_COMMAND_DTYPE[field].kind == "u":
                c[field] %= 1 << bits
            c[field] = min(max(c[field], lo), hi)
        out.append(c)
    return out


def call(eng: MatchingEngine, c: dict[str, int]) -> Any:
    """The per-call API equivalent of one (valid-enum) command record."""
    kind = c["kind"]
    if kind == 1:
        return eng.submit(
            c["order_id"], c["symbol"], c["side"], c["price"], c["qty"], account=c["account"],
            order_type=c["order_type"], tif=c["tif"], stp=c["stp"], post_only=bool(c["flags"] & 1),
            display_qty=c["display_qty"], stop_price=c["stop_price"], expire_ns=c["expire_ns"],
            time_ns=c["time_ns"],
        )  # fmt: skip
    if kind == 2:
        return eng.cancel(c["order_id"], time_ns=c["time_ns"])
    if kind == 3:
        return eng.amend(
            c["order_id"], price=c["price"] or None, qty=c["qty"] or None, stop_price=c["stop_price"] or None,
            time_ns=c["time_ns"],
        )  # fmt: skip
    if kind == 4:
        return eng.mass_cancel(
            account=c["account"] if c["flags"] & 1 else None, symbol=c["symbol"] if c["flags"] & 2 else None,
            tag=c["order_id"], time_ns=c["time_ns"],
        )  # fmt: skip
    if kind in (6, 7):
        spec = {
            "tick_size": c["price"], "lot_size": c["qty"], "min_price": c["stop_price"],
            "max_price": c["display_qty"], "max_qty": c["expire_ns"], "time_ns": c["time_ns"],
        }  # fmt: skip
        if kind == 6:
            return eng.add_symbol(c["symbol"], **spec)
        return eng.update_symbol(c["symbol"], **spec)
    if kind == 8:
        return eng.halt_symbol(c["symbol"], time_ns=c["time_ns"])
    if kind == 9:
        return eng.resume_symbol(c["symbol"], time_ns=c["time_ns"])
    return eng.advance_time(c["time_ns"])
