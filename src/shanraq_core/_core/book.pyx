# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the matching engine core. Translation only: argument
conversion, GIL handling, numpy and report objects; behaviour lives in C++
(cpp/src/book/engine.cpp) and the thin Python layer (shanraq_core.book)."""

cimport cython
from cpython.bool cimport PyBool_Check
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_AsUnsignedLongLong, PyLong_Check
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.string cimport string
from libcpp.vector cimport vector

import numpy as np

cdef extern from *:
    """
    #include <cstddef>
    #include "shanraq/book/engine.hpp"
    static shanraq::book::MatchingEngine* shq_book_restore(const unsigned char* p, std::size_t n) {
      return new shanraq::book::MatchingEngine(shanraq::book::MatchingEngine::restore(p, n));
    }
    #define SHQ_C(f) offsetof(shanraq::book::Command, f)
    #define SHQ_E(f) offsetof(shanraq::book::Event, f)
    static const std::size_t shq_cmd_offsets[15] = {
        SHQ_C(order_id), SHQ_C(account), SHQ_C(price), SHQ_C(qty), SHQ_C(stop_price), SHQ_C(display_qty),
        SHQ_C(expire_ns), SHQ_C(time_ns), SHQ_C(symbol), SHQ_C(kind), SHQ_C(side), SHQ_C(order_type),
        SHQ_C(tif), SHQ_C(stp), SHQ_C(flags)};
    static const std::size_t shq_evt_offsets[17] = {
        SHQ_E(seq), SHQ_E(time_ns), SHQ_E(order_id), SHQ_E(account), SHQ_E(other_order_id),
        SHQ_E(other_account), SHQ_E(price), SHQ_E(qty), SHQ_E(remaining), SHQ_E(other_remaining),
        SHQ_E(symbol), SHQ_E(type), SHQ_E(reason), SHQ_E(side), SHQ_E(order_type), SHQ_E(command),
        SHQ_E(tif)};
    """
    MatchingEngine* shq_book_restore(const unsigned char*, size_t) except +
    const size_t shq_cmd_offsets[15]
    const size_t shq_evt_offsets[17]

_CMD_FIELDS = ("order_id", "account", "price", "qty", "stop_price", "display_qty", "expire_ns", "time_ns",
               "symbol", "kind", "side", "order_type", "tif", "stp", "flags")
_EVT_FIELDS = ("seq", "time_ns", "order_id", "account", "other_order_id", "other_account", "price", "qty",
               "remaining", "other_remaining", "symbol", "type", "reason", "side", "order_type", "command",
               "tif")

# Command kinds, flags and enum values used here (types.hpp).
cdef enum:
    K_SUBMIT = 1
    K_CANCEL = 2
    K_AMEND = 3
    K_MASS = 4
    K_TIME = 5
    FLAG_POST_ONLY = 1
    FLAG_BY_ACCOUNT = 1
    FLAG_BY_SYMBOL = 2
    EV_TRADE = 3
    T_LIMIT = 1
    T_MARKET = 2
    T_STOP = 3
    T_STOP_LIMIT = 4
    TIF_GTC = 1
    TIF_IOC = 2
    STATE_REJECTED = 5
    STATE_CANCELLED = 4

# Filled in by shanraq_core.book at import (_register): the IntEnum classes
# reports convert to, and the numpy dtypes process() accepts and returns.
cdef object _Side = int
cdef object _OrderState = int
cdef object _RejectReason = int
cdef object _CancelReason = int
cdef object _command_dtype = None
cdef object _event_dtype = None
cdef tuple _NO_TRADES = ()
# Largest event buffer (in events, ~64 MiB) kept between batches.
cdef size_t _KEEP_EVENTS = (64 << 20) // sizeof(Event)


def _register(side, order_state, reject_reason, cancel_reason, command_dtype, event_dtype):
    global _Side, _OrderState, _RejectReason, _CancelReason, _command_dtype, _event_dtype
    if command_dtype.itemsize != sizeof(Command) or event_dtype.itemsize != sizeof(Event):
        raise RuntimeError("COMMAND_DTYPE/EVENT_DTYPE do not match the C++ structs")
    _Side, _OrderState, _RejectReason, _CancelReason = side, order_state, reject_reason, cancel_reason
    _command_dtype, _event_dtype = command_dtype, event_dtype


def command_layout():
    """Offsets (bytes) of every Command field, from offsetof, and its size."""
    out = {name: shq_cmd_offsets[i] for i, name in enumerate(_CMD_FIELDS)}
    out["__size__"] = sizeof(Command)
    return out


def event_layout():
    """Offsets (bytes) of every Event field, from offsetof, and its size."""
    out = {name: shq_evt_offsets[i] for i, name in enumerate(_EVT_FIELDS)}
    out["__size__"] = sizeof(Event)
    return out


# ---- argument conversion -------------------------------------------------------
cdef inline int64_t _i64(object v, str what) except? -1:
    cdef int overflow = 0
    cdef long long r
    # Exact ints and int subclasses (the IntEnums) convert directly; bool is
    # refused, anything else must offer __index__ (numpy integers).
    if not PyLong_Check(v) or PyBool_Check(v):
        if PyBool_Check(v) or not hasattr(type(v), "__index__"):
            raise TypeError(f"{what} must be an integer, not {type(v).__name__}")
        v = v.__index__()
    r = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow:
        raise ValueError(f"{what} {v} does not fit in a signed 64-bit integer")
    return r


cdef inline uint64_t _u64(object v, str what) except? 0:
    cdef int overflow = 0
    cdef long long r
    if not PyLong_Check(v) or PyBool_Check(v):
        if PyBool_Check(v) or not hasattr(type(v), "__index__"):
            raise TypeError(f"{what} must be an integer, not {type(v).__name__}")
        v = v.__index__()
    r = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow == 0 and r >= 0:
        return <uint64_t>r
    if overflow > 0 and v < 18446744073709551616:
        return PyLong_AsUnsignedLongLong(v)
    raise ValueError(f"{what} {v} is outside 0..2**64-1")


cdef inline uint32_t _u32(object v, str what) except? 0:
    cdef int64_t r = _i64(v, what)
    if r < 0 or r > 0xFFFFFFFF:
        raise ValueError(f"{what} {r} is outside 0..2**32-1")
    return <uint32_t>r


cdef inline uint8_t _code(object v, str what, int lo, int hi) except? 255:
    cdef int64_t r = _i64(v, what)
    if r < lo or r > hi:
        raise ValueError(f"{what} must be one of the {what} enum values, got {r}")
    return <uint8_t>r


# ---- report objects ---------------------------------------------------------------
@cython.freelist(16)
cdef class Trade:
    """One execution, as seen from a per-call report."""
    cdef readonly uint64_t seq
    cdef readonly uint32_t symbol
    cdef readonly int64_t price
    cdef readonly int64_t qty
    cdef readonly uint64_t taker_order_id
    cdef readonly uint64_t maker_order_id
    cdef readonly uint64_t taker_account
    cdef readonly uint64_t maker_account
    cdef uint8_t _aggressor

    @property
    def aggressor(self):
        """Side of the taker (the aggressing order)."""
        return _Side(self._aggressor)

    def __repr__(self):
        return (f"Trade(seq={self.seq}, symbol={self.symbol}, price={self.price}, qty={self.qty}, "
                f"taker_order_id={self.taker_order_id}, maker_order_id={self.maker_order_id}, "
                f"aggressor={self.aggressor!r})")

    def __eq__(self, other):
        if not isinstance(other, Trade):
            return NotImplemented
        cdef Trade o = <Trade>other
        return (self.seq == o.seq and self.symbol == o.symbol and self.price == o.price and self.qty == o.qty
                and self.taker_order_id == o.taker_order_id and self.maker_order_id == o.maker_order_id
                and self.taker_account == o.taker_account and self.maker_account == o.maker_account
                and self._aggressor == o._aggressor)

    __hash__ = None


@cython.freelist(16)
cdef class Report:
    """What one per-call command did to its order."""
    cdef readonly uint64_t order_id
    cdef readonly int64_t filled
    cdef readonly int64_t remaining
    cdef readonly uint64_t count
    cdef readonly tuple trades
    cdef uint8_t _state
    cdef uint8_t _reject
    cdef uint8_t _cancel

    @property
    def status(self):
        """OrderState of the order after the command (REJECTED if refused)."""
        return _OrderState(self._state)

    @property
    def reason(self):
        """RejectReason if rejected, CancelReason if the order ended or was cut
        by a cancel, else None."""
        if self._state == STATE_REJECTED:
            return _RejectReason(self._reject)
        if self._cancel != 0:
            return _CancelReason(self._cancel)
        return None

    @property
    def accepted(self):
        """False when the command was rejected."""
        return self._state != STATE_REJECTED

    def __repr__(self):
        return (f"Report(order_id={self.order_id}, status={self.status!r}, reason={self.reason!r}, "
                f"filled={self.filled}, remaining={self.remaining}, trades={len(self.trades)})")


cdef Trade _trade(const Event* e):
    cdef Trade t = Trade.__new__(Trade)
    t.seq = e.seq
    t.symbol = e.symbol
    t.price = e.price
    t.qty = e.qty
    t.taker_order_id = e.order_id
    t.maker_order_id = e.other_order_id
    t.taker_account = e.account
    t.maker_account = e.other_account
    t._aggressor = <uint8_t>e.side
    return t


cdef object _events_array(const vector[Event]& ev):
    cdef size_t n = ev.size()
    out = np.empty(n, dtype=_event_dtype)
    cdef char[::1] raw
    if n:
        raw = out.view(np.uint8)
        memcpy(&raw[0], ev.data(), n * sizeof(Event))
    return out


cdef class MatchingEngineBase:
    """C++ engine holder; use shanraq_core.MatchingEngine."""

    def __cinit__(self, *args, **kwargs):
        self.eng = NULL

    def __init__(self, *, max_orders=1 << 20, max_symbols=1024, max_levels=1 << 18, id_history=1 << 20,
                 market_data=False):
        cdef EngineConfig cfg
        cfg.max_orders = _u32(max_orders, "max_orders")
        cfg.max_symbols = _u32(max_symbols, "max_symbols")
        cfg.max_levels = _u32(max_levels, "max_levels")
        cfg.id_history = _u32(id_history, "id_history")
        cfg.market_data = bool(market_data)
        if cfg.max_orders == 0 or cfg.max_orders >= (1 << 30):
            raise ValueError(f"max_orders must be in 1..2**30-1, got {cfg.max_orders}")
        if cfg.max_symbols == 0 or cfg.max_symbols >= (1 << 30):
            raise ValueError(f"max_symbols must be in 1..2**30-1, got {cfg.max_symbols}")
        if cfg.max_levels == 0 or cfg.max_levels >= (1 << 31):
            raise ValueError(f"max_levels must be in 1..2**31-1, got {cfg.max_levels}")
        if cfg.id_history >= (1 << 30):
            raise ValueError(f"id_history must be in 0..2**30-1, got {cfg.id_history}")
        if self.eng != NULL:
            raise RuntimeError("MatchingEngine is already initialised")
        self.eng = new MatchingEngine(cfg)

    def __dealloc__(self):
        del self.eng

    cdef int _check(self) except -1:
        if self.eng == NULL:
            raise RuntimeError("MatchingEngine is not initialised")
        if self.busy:
            raise RuntimeError("MatchingEngine is busy in process() on another thread; it is single-writer")
        return 0

    # ---- configuration ---------------------------------------------------------
    def add_symbol(self, symbol, *, tick_size=1, lot_size=1, min_price=1, max_price=(1 << 63) - 1,
                   max_qty=(1 << 63) - 1):
        self._check()
        cdef SymbolSpec spec
        spec.symbol = _u32(symbol, "symbol")
        spec.tick_size = _i64(tick_size, "tick_size")
        spec.lot_size = _i64(lot_size, "lot_size")
        spec.min_price = _i64(min_price, "min_price")
        spec.max_price = _i64(max_price, "max_price")
        spec.max_qty = _i64(max_qty, "max_qty")
        cdef int err = <int>self.eng.add_symbol(spec)
        if err == 1:
            raise ValueError(f"symbol {spec.symbol} is already registered")
        if err == 2:
            raise ValueError(f"symbol capacity ({self.eng.config().max_symbols}) is exhausted")
        if err == 3:
            raise ValueError("tick_size, lot_size, min_price and max_qty must be > 0 and min_price <= max_price")

    @property
    def max_orders(self):
        self._check()
        return self.eng.config().max_orders

    @property
    def max_symbols(self):
        self._check()
        return self.eng.config().max_symbols

    @property
    def max_levels(self):
        self._check()
        return self.eng.config().max_levels

    @property
    def id_history(self):
        self._check()
        return self.eng.config().id_history

    @property
    def market_data(self):
        self._check()
        return self.eng.config().market_data

    # ---- per-call commands -------------------------------------------------------
    cdef object _run(self, Command* cmd):
        self.events.clear()
        self.eng.apply(cmd[0], self.events)
        cdef const Event* first = self.events.data()
        cdef const Event* last = first + self.events.size()
        cdef CommandResult r = summarize(cmd[0], first, last)
        cdef Report rep = Report.__new__(Report)
        rep.order_id = cmd.order_id
        rep._state = <uint8_t>r.state
        rep._reject = <uint8_t>r.reject
        rep._cancel = <uint8_t>r.cancel
        rep.filled = r.filled
        rep.remaining = r.remaining
        rep.count = r.count
        if r.trades == 0:
            rep.trades = _NO_TRADES
            return rep
        trades = []
        cdef const Event* e = first
        while e != last:
            if <uint8_t>e.type == EV_TRADE and (e.order_id == cmd.order_id or e.other_order_id == cmd.order_id):
                trades.append(_trade(e))
            e += 1
        rep.trades = tuple(trades)
        return rep

    def submit(self, order_id, symbol, side, price, qty, *, account=0, order_type=1, tif=None, stp=0,
               post_only=False, display_qty=0, stop_price=0, expire_ns=0, time_ns=0):
        if self.eng == NULL or self.busy:
            self._check()
        cdef Command cmd
        memset(&cmd, 0, sizeof(Command))
        cmd.kind = <CommandKind>K_SUBMIT
        cmd.order_id = _u64(order_id, "order_id")
        cmd.symbol = _u32(symbol, "symbol")
        cmd.side = <CSide>_code(side, "side", 1, 2)
        if price is not None:
            cmd.price = _i64(price, "price")
        cmd.qty = _i64(qty, "qty")
        if account is not 0:
            cmd.account = _u64(account, "account")
        cmd.order_type = <COrderType>_code(order_type, "order_type", 1, 4)
        if tif is None:
            ot = <uint8_t>cmd.order_type
            cmd.tif = <CTif>(TIF_IOC if ot == T_MARKET or ot == T_STOP else TIF_GTC)
        else:
            cmd.tif = <CTif>_code(tif, "tif", 1, 4)
        if stp is not 0:
            cmd.stp = <CStp>_code(stp, "stp", 0, 4)
        if post_only:
            cmd.flags = FLAG_POST_ONLY
        if display_qty is not 0:
            cmd.display_qty = _i64(display_qty, "display_qty")
        if stop_price is not 0:
            cmd.stop_price = _i64(stop_price, "stop_price")
        if expire_ns is not 0:
            cmd.expire_ns = _i64(expire_ns, "expire_ns")
        if time_ns is not 0:
            cmd.time_ns = _i64(time_ns, "time_ns")
        return self._run(&cmd)

    def cancel(self, order_id, *, time_ns=0):
        if self.eng == NULL or self.busy:
            self._check()
        cdef Command cmd
        memset(&cmd, 0, sizeof(Command))
        cmd.kind = <CommandKind>K_CANCEL
        cmd.order_id = _u64(order_id, "order_id")
        if time_ns is not 0:
            cmd.time_ns = _i64(time_ns, "time_ns")
        return self._run(&cmd)

    def amend(self, order_id, *, price=None, qty=None, stop_price=None, time_ns=0):
        if self.eng == NULL or self.busy:
            self._check()
        cdef Command cmd
        memset(&cmd, 0, sizeof(Command))
        cmd.kind = <CommandKind>K_AMEND
        cmd.order_id = _u64(order_id, "order_id")
        if price is not None:
            cmd.price = _i64(price, "price")
            if cmd.price == 0:
                raise ValueError("price 0 is not a price; pass None to keep the current one")
        if qty is not None:
            cmd.qty = _i64(qty, "qty")
            if cmd.qty == 0:
                raise ValueError("qty 0 is not a quantity; cancel the order, or pass None to keep it")
        if stop_price is not None:
            cmd.stop_price = _i64(stop_price, "stop_price")
            if cmd.stop_price == 0:
                raise ValueError("stop_price 0 is not a price; pass None to keep the current one")
        if time_ns is not 0:
            cmd.time_ns = _i64(time_ns, "time_ns")
        return self._run(&cmd)

    def mass_cancel(self, *, account=None, symbol=None, tag=0, time_ns=0):
        self._check()
        cdef Command cmd
        memset(&cmd, 0, sizeof(Command))
        cmd.kind = <CommandKind>K_MASS
        cmd.order_id = _u64(tag, "tag")
        if account is None and symbol is None:
            raise ValueError("mass_cancel needs account=, symbol= or both")
        if account is not None:
            cmd.account = _u64(account, "account")
            cmd.flags |= FLAG_BY_ACCOUNT
        if symbol is not None:
            cmd.symbol = _u32(symbol, "symbol")
            cmd.flags |= FLAG_BY_SYMBOL
        cmd.time_ns = _i64(time_ns, "time_ns")
        return self._run(&cmd)

    def advance_time(self, time_ns):
        self._check()
        cdef Command cmd
        memset(&cmd, 0, sizeof(Command))
        cmd.kind = <CommandKind>K_TIME
        cmd.time_ns = _i64(time_ns, "time_ns")
        return self._run(&cmd)

    def last_events(self):
        """The events of the last per-call command (or of the last batch, if
        it was kept), as an EVENT_DTYPE array."""
        self._check()
        return _events_array(self.events)

    # ---- batch -------------------------------------------------------------------
    def process(self, commands):
        self._check()
        if not isinstance(commands, np.ndarray) or commands.dtype != _command_dtype:
            raise TypeError("commands must be a numpy array of COMMAND_DTYPE")
        if commands.ndim != 1:
            raise ValueError(f"commands must be one-dimensional, got {commands.ndim} dimensions")
        arr = np.ascontiguousarray(commands)
        cdef size_t n = arr.shape[0]
        cdef const unsigned char[::1] raw
        cdef const Command* cmds = NULL
        if n:
            raw = arr.view(np.uint8)
            cmds = <const Command*>&raw[0]
        # The events go to the per-call buffer: its pages stay mapped between
        # batches, so a warm engine does not page-fault on every call.
        self.events.clear()
        self.events.reserve(n + n // 4 + 16)
        # Safe without the GIL: the engine and this object are single-writer by
        # contract (no other thread may use them meanwhile), and `raw` keeps
        # the commands alive.
        self.busy = True
        try:
            with nogil:
                self.eng.process(cmds, n, self.events)
        finally:
            self.busy = False
        out = _events_array(self.events)
        if self.events.capacity() > _KEEP_EVENTS:
            self.events.clear()
            self.events.shrink_to_fit()
        return out

    # ---- queries -------------------------------------------------------------------
    def best_bid(self, symbol):
        self._check()
        cdef Bbo b = self.eng.bbo(_u32(symbol, "symbol"))
        return (b.bid_price, b.bid_qty) if b.has_bid else None

    def best_ask(self, symbol):
        self._check()
        cdef Bbo b = self.eng.bbo(_u32(symbol, "symbol"))
        return (b.ask_price, b.ask_qty) if b.has_ask else None

    def has_symbol(self, symbol):
        self._check()
        return self.eng.has_symbol(_u32(symbol, "symbol"))

    def _depth(self, symbol, side, n):
        self._check()
        cdef uint32_t sym = _u32(symbol, "symbol")
        cdef uint8_t sd = _code(side, "side", 1, 2)
        cdef int64_t k = _i64(n, "levels")
        if k < 0:
            raise ValueError(f"levels must be >= 0, got {k}")
        cdef vector[LevelInfo] buf
        buf.resize(<size_t>k)
        cdef size_t got = self.eng.depth(sym, <CSide>sd, buf.data(), <size_t>k)
        prices = np.empty(got, dtype=np.int64)
        qtys = np.empty(got, dtype=np.int64)
        counts = np.empty(got, dtype=np.int64)
        cdef int64_t[::1] p = prices
        cdef int64_t[::1] q = qtys
        cdef int64_t[::1] c = counts
        cdef size_t i
        for i in range(got):
            p[i] = buf[i].price
            q[i] = buf[i].qty
            c[i] = buf[i].orders
        return prices, qtys, counts

    def level_orders(self, symbol, side, price):
        self._check()
        return list(self.eng.level_orders(_u32(symbol, "symbol"), <CSide>_code(side, "side", 1, 2),
                                          _i64(price, "price")))

    def _order(self, order_id):
        self._check()
        cdef OrderInfo o = self.eng.order(_u64(order_id, "order_id"))
        return (<uint8_t>o.state, o.symbol, <uint8_t>o.side, <uint8_t>o.order_type, <uint8_t>o.tif, o.account, o.price, o.stop_price, o.qty,
                o.filled, o.remaining, o.visible, o.expire_ns)

    def last_trade_price(self, symbol):
        self._check()
        cdef int64_t px = 0
        if self.eng.last_trade_price(_u32(symbol, "symbol"), &px):
            return px
        return None

    @property
    def next_seq(self):
        self._check()
        return self.eng.next_seq()

    @property
    def now_ns(self):
        self._check()
        return self.eng.now_ns()

    @property
    def live_orders(self):
        self._check()
        return self.eng.live_orders()

    @property
    def level_count(self):
        self._check()
        return self.eng.level_count()

    @property
    def symbol_count(self):
        self._check()
        return self.eng.symbol_count()

    @property
    def memory_reserved(self):
        self._check()
        return self.eng.memory_reserved()

    @property
    def evicted_max(self):
        self._check()
        return self.eng.evicted_max()

    # ---- persistence -----------------------------------------------------------------
    def snapshot(self):
        self._check()
        cdef string s = self.eng.snapshot()
        return s.data()[:s.size()]

    def state_hash(self):
        self._check()
        return self.eng.state_hash()

    @classmethod
    def restore(cls, data):
        cdef const unsigned char[::1] view
        if isinstance(data, str):
            raise TypeError("snapshot must be bytes-like, not str")
        view = memoryview(data).cast("B")
        cdef MatchingEngineBase obj = <MatchingEngineBase>cls.__new__(cls)
        cdef size_t n = view.shape[0]
        if n == 0:
            raise ValueError("cannot restore MatchingEngine: empty snapshot")
        try:
            obj.eng = shq_book_restore(&view[0], n)
        except ValueError as exc:
            raise ValueError(f"cannot restore MatchingEngine: {exc}") from None
        return obj

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),))
