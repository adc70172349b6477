# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the matching engine core. Translation only: argument
conversion (the boundary layer's glue), GIL handling, numpy arrays and report
objects; behaviour lives in C++ (cpp/src/book/) and the typed Python layer
(shanraq_core.book)."""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.glue cimport (
    check_idle,
    enter,
    enum_members,
    leave,
    record_layout,
    to_i64,
    to_u8,
    to_u32,
    to_u64,
    translate_exception,
)

import numpy as np

# Filled in by shanraq_core.book at import (_register): the IntEnum classes
# reports convert to, the numpy dtypes, and the typed layer's conversion of
# other record arrays whose fields match (np.concatenate's packed dtype).
cdef object _Side = int
cdef object _OrderState = int
cdef object _RejectReason = int
cdef object _CancelReason = int
cdef object _command_dtype = None
cdef object _event_dtype = None
cdef object _as_commands = None
cdef tuple _NO_TRADES = ()
# Largest event buffer (in events, ~64 MiB) kept between batches.
cdef size_t _KEEP_EVENTS = (64 << 20) // sizeof(Event)
cdef const char* _NAME = "MatchingEngine"


def layouts():
    """The C++ field tables of the Command and Event records (for
    shanraq_core._layout.dtype_from_layout)."""
    return record_layout[Command](), record_layout[Event]()


def enums():
    """The C++ enum tables (for shanraq_core._layout.check_enum)."""
    return (enum_members[CommandKind](), enum_members[CSide](), enum_members[COrderType](),
            enum_members[CTif](), enum_members[CStp](), enum_members[CEventType](),
            enum_members[CRejectReason](), enum_members[CCancelReason](), enum_members[COrderState]())


def _register(side, order_state, reject_reason, cancel_reason, command_dtype, event_dtype, as_commands):
    global _Side, _OrderState, _RejectReason, _CancelReason, _command_dtype, _event_dtype, _as_commands
    if command_dtype.itemsize != sizeof(Command) or event_dtype.itemsize != sizeof(Event):
        raise RuntimeError("BOOK_COMMAND_DTYPE/BOOK_EVENT_DTYPE do not match the C++ records")
    _Side, _OrderState, _RejectReason, _CancelReason = side, order_state, reject_reason, cancel_reason
    _command_dtype, _event_dtype, _as_commands = command_dtype, event_dtype, as_commands


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


@cython.freelist(16)
@cython.no_gc  # holds only bytes and a tuple of Trades: no cycles to collect
cdef class Report:
    """What one per-call command did (to its order, for submit, cancel and
    amend)."""
    cdef readonly uint64_t order_id
    cdef readonly int64_t filled
    cdef readonly int64_t remaining
    cdef readonly uint64_t count
    cdef uint8_t _state
    cdef uint8_t _reject
    cdef uint8_t _cancel
    # The order's trade events, decoded into Trade objects on the first
    # access of `trades`: one is kept inline (the common case costs a copy),
    # more as raw Event records in a bytes object.
    cdef uint32_t _n_trades
    cdef Event _first_trade
    cdef bytes _trade_events
    cdef tuple _trades

    @property
    def status(self):
        """OrderState of the order after the command (REJECTED if refused)."""
        return _OrderState(self._state)

    @property
    def reason(self):
        """RejectReason if rejected, CancelReason if the order ended or was cut
        by a cancel, else None."""
        if self._state == <uint8_t>COrderState.kRejected:
            return _RejectReason(self._reject)
        if self._cancel != 0:
            return _CancelReason(self._cancel)
        return None

    @property
    def accepted(self):
        """False when the command was rejected."""
        return self._state != <uint8_t>COrderState.kRejected

    @property
    def trades(self):
        """Trades of this order during the command, in sequence order."""
        cdef Py_ssize_t i, n
        cdef const Event* ev
        if self._trades is None:
            if self._n_trades == 0:
                self._trades = _NO_TRADES
            elif self._n_trades == 1:
                self._trades = (_trade(&self._first_trade),)
            else:
                ev = <const Event*>PyBytes_AS_STRING(self._trade_events)
                n = self._n_trades
                self._trades = tuple([_trade(&ev[i]) for i in range(n)])
        return self._trades

    def __repr__(self):
        return (f"Report(order_id={self.order_id}, status={self.status!r}, reason={self.reason!r}, "
                f"filled={self.filled}, remaining={self.remaining}, trades={len(self.trades)})")


cdef object _events_array(const vector[Event]& ev):
    cdef size_t n = ev.size()
    out = np.empty(n, dtype=_event_dtype)
    cdef char[::1] raw
    if n:
        raw = out.view(np.uint8)
        memcpy(&raw[0], ev.data(), n * sizeof(Event))
    return out


cdef inline void _clear(Command* c) noexcept nogil:
    memset(c, 0, sizeof(Command))


cdef class MatchingEngineBase:
    """C++ engine holder; use shanraq_core.MatchingEngine."""

    def __cinit__(self, *args, **kwargs):
        self.eng = NULL
        self._busy = False

    def __init__(self, *, max_orders=1 << 20, max_symbols=1024, max_levels=1 << 18, id_history=1 << 20,
                 market_data=False):
        cdef EngineConfig cfg
        to_u32(max_orders, "max_orders", &cfg.max_orders, (1 << 30) - 1)
        to_u32(max_symbols, "max_symbols", &cfg.max_symbols, (1 << 30) - 1)
        to_u32(max_levels, "max_levels", &cfg.max_levels, (1 << 31) - 1)
        to_u32(id_history, "id_history", &cfg.id_history, (1 << 30) - 1)
        if cfg.max_orders == 0 or cfg.max_symbols == 0 or cfg.max_levels == 0:
            raise ValueError("max_orders, max_symbols and max_levels must be at least 1")
        if not isinstance(market_data, bool):
            raise TypeError(f"market_data must be a bool, not {type(market_data).__name__}")
        cfg.market_data = market_data
        if self.eng != NULL:
            raise RuntimeError("MatchingEngine is already initialised")
        self.eng = new MatchingEngine(cfg)

    def __dealloc__(self):
        del self.eng

    cdef int _check(self) except -1:
        if self.eng == NULL:
            raise RuntimeError("MatchingEngine is not initialised")
        return check_idle(self._busy, _NAME)

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
    cdef object _run(self, const Command* cmd):
        self.events.clear()
        self.trades.clear()
        cdef CommandResult r = self.eng.apply_summarized(cmd[0], self.events, &self.trades)
        cdef Report rep
        # A report is immutable to its holders: the last one is recycled only
        # when this engine holds the sole reference (the caller dropped it).
        if self._report is not None and (<PyObject*>self._report).ob_refcnt == 1:
            rep = <Report>self._report
            rep._trade_events = None
            rep._trades = None
        else:
            rep = Report.__new__(Report)
            self._report = rep
        rep.order_id = cmd.order_id
        rep._state = <uint8_t>r.state
        rep._reject = <uint8_t>r.reject
        rep._cancel = <uint8_t>r.cancel
        rep.filled = r.filled
        rep.remaining = r.remaining
        rep.count = r.count
        rep._n_trades = <uint32_t>self.trades.size()
        if rep._n_trades == 1:
            rep._first_trade = self.trades[0]
        elif rep._n_trades > 1:
            rep._trade_events = PyBytes_FromStringAndSize(<const char*>self.trades.data(),
                                                          self.trades.size() * sizeof(Event))
        return rep

    def submit(self, order_id, symbol, side, price, qty, *, account=0, order_type=1, tif=None, stp=0,
               post_only=False, display_qty=0, stop_price=0, expire_ns=0, time_ns=0):
        if self.eng == NULL or self._busy:
            self._check()
        cdef Command cmd
        _clear(&cmd)
        cmd.kind = CommandKind.kSubmit
        to_u64(order_id, "order_id", &cmd.order_id)
        to_u32(symbol, "symbol", &cmd.symbol)
        to_u8(side, "side", <uint8_t*>&cmd.side, 1, 2)
        if price is not None:
            to_i64(price, "price", &cmd.price)
        to_i64(qty, "qty", &cmd.qty)
        if account is not 0:
            to_u64(account, "account", &cmd.account)
        if order_type is not 1:
            to_u8(order_type, "order_type", <uint8_t*>&cmd.order_type, 1, 4)
        else:
            cmd.order_type = <COrderType>1
        if tif is None:
            cmd.tif = default_tif(cmd.order_type)
        else:
            to_u8(tif, "tif", <uint8_t*>&cmd.tif, 1, 4)
        if stp is not 0:
            to_u8(stp, "stp", <uint8_t*>&cmd.stp, 0, 4)
        if post_only:
            cmd.flags = kFlagPostOnly
        if display_qty is not 0:
            to_i64(display_qty, "display_qty", &cmd.display_qty)
        if stop_price is not 0:
            to_i64(stop_price, "stop_price", &cmd.stop_price)
        if expire_ns is not 0:
            to_i64(expire_ns, "expire_ns", &cmd.expire_ns)
        if time_ns is not 0:
            to_i64(time_ns, "time_ns", &cmd.time_ns)
        return self._run(&cmd)

    def cancel(self, order_id, *, time_ns=0):
        if self.eng == NULL or self._busy:
            self._check()
        cdef Command cmd
        _clear(&cmd)
        cmd.kind = CommandKind.kCancel
        to_u64(order_id, "order_id", &cmd.order_id)
        if time_ns is not 0:
            to_i64(time_ns, "time_ns", &cmd.time_ns)
        return self._run(&cmd)

    def amend(self, order_id, *, price=None, qty=None, stop_price=None, time_ns=0):
        if self.eng == NULL or self._busy:
            self._check()
        cdef Command cmd
        _clear(&cmd)
        cmd.kind = CommandKind.kAmend
        to_u64(order_id, "order_id", &cmd.order_id)
        # 0 means "keep" in the record, so an explicit 0 is a caller's mistake.
        if price is not None:
            to_i64(price, "price", &cmd.price)
            if cmd.price == 0:
                raise ValueError("price 0 is not a price; pass None to keep the current one")
        if qty is not None:
            to_i64(qty, "qty", &cmd.qty)
            if cmd.qty == 0:
                raise ValueError("qty 0 is not a quantity; cancel the order, or pass None to keep it")
        if stop_price is not None:
            to_i64(stop_price, "stop_price", &cmd.stop_price)
            if cmd.stop_price == 0:
                raise ValueError("stop_price 0 is not a price; pass None to keep the current one")
        if time_ns is not 0:
            to_i64(time_ns, "time_ns", &cmd.time_ns)
        return self._run(&cmd)

    def mass_cancel(self, *, account=None, symbol=None, tag=0, time_ns=0):
        self._check()
        cdef Command cmd
        _clear(&cmd)
        cmd.kind = CommandKind.kMassCancel
        to_u64(tag, "tag", &cmd.order_id)
        if account is None and symbol is None:
            raise ValueError("mass_cancel needs account=, symbol= or both")
        if account is not None:
            to_u64(account, "account", &cmd.account)
            cmd.flags |= kFlagMassByAccount
        if symbol is not None:
            to_u32(symbol, "symbol", &cmd.symbol)
            cmd.flags |= kFlagMassBySymbol
        to_i64(time_ns, "time_ns", &cmd.time_ns)
        return self._run(&cmd)

    def advance_time(self, time_ns):
        self._check()
        cdef Command cmd
        _clear(&cmd)
        cmd.kind = CommandKind.kAdvanceTime
        to_i64(time_ns, "time_ns", &cmd.time_ns)
        return self._run(&cmd)

    def _symbol_command(self, kind, symbol, tick_size, lot_size, min_price, max_price, max_qty, time_ns):
        self._check()
        cdef SymbolSpec spec
        cdef uint8_t k
        cdef int64_t t
        to_u8(kind, "kind", &k, <uint8_t>CommandKind.kAddSymbol, <uint8_t>CommandKind.kUpdateSymbol)
        to_u32(symbol, "symbol", &spec.symbol)
        to_i64(tick_size, "tick_size", &spec.tick_size)
        to_i64(lot_size, "lot_size", &spec.lot_size)
        to_i64(min_price, "min_price", &spec.min_price)
        to_i64(max_price, "max_price", &spec.max_price)
        to_i64(max_qty, "max_qty", &spec.max_qty)
        to_i64(time_ns, "time_ns", &t)
        cdef Command cmd = make_symbol_command(<CommandKind>k, spec, t)
        return self._run(&cmd)

    def _halt_command(self, kind, symbol, time_ns):
        self._check()
        cdef Command cmd
        _clear(&cmd)
        to_u8(kind, "kind", <uint8_t*>&cmd.kind, <uint8_t>CommandKind.kHaltSymbol,
              <uint8_t>CommandKind.kResumeSymbol)
        to_u32(symbol, "symbol", &cmd.symbol)
        to_i64(time_ns, "time_ns", &cmd.time_ns)
        return self._run(&cmd)

    def last_events(self):
        """The events of the last per-call command (or of the last batch, if
        it was kept), as a BOOK_EVENT_DTYPE array."""
        self._check()
        return _events_array(self.events)

    # ---- batch -------------------------------------------------------------------
    def process(self, commands):
        self._check()
        arr = commands
        if not isinstance(commands, np.ndarray) or commands.dtype != _command_dtype:
            arr = _as_commands(commands)
        if arr.ndim != 1:
            raise ValueError(f"commands must be one-dimensional, got {arr.ndim} dimensions")
        arr = np.ascontiguousarray(arr)
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
        # Safe without the GIL: the busy flag refuses every other call on this
        # object meanwhile, and `raw` keeps the commands alive.
        enter(&self._busy, _NAME)
        try:
            with nogil:
                self.eng.process(cmds, n, self.events)
        finally:
            leave(&self._busy)
        out = _events_array(self.events)
        if self.events.capacity() > _KEEP_EVENTS:
            self.events.clear()
            self.events.shrink_to_fit()
        return out

    # ---- queries -------------------------------------------------------------------
    def best_bid(self, symbol):
        self._check()
        cdef uint32_t sym
        to_u32(symbol, "symbol", &sym)
        cdef Bbo b = self.eng.bbo(sym)
        return (b.bid_price, b.bid_qty) if b.has_bid else None

    def best_ask(self, symbol):
        self._check()
        cdef uint32_t sym
        to_u32(symbol, "symbol", &sym)
        cdef Bbo b = self.eng.bbo(sym)
        return (b.ask_price, b.ask_qty) if b.has_ask else None

    def has_symbol(self, symbol):
        if self.eng == NULL or self._busy:
            self._check()
        cdef uint32_t sym
        to_u32(symbol, "symbol", &sym)
        return self.eng.has_symbol(sym)

    def _symbol_info(self, symbol):
        self._check()
        cdef uint32_t sym
        to_u32(symbol, "symbol", &sym)
        cdef SymbolInfo s = self.eng.symbol_info(sym)
        if not s.known:
            return None
        return (s.spec.symbol, s.spec.tick_size, s.spec.lot_size, s.spec.min_price, s.spec.max_price,
                s.spec.max_qty, s.halted, s.last_price if s.has_last else None)

    def _depth(self, symbol, side, levels):
        self._check()
        cdef uint32_t sym
        cdef uint8_t sd
        cdef int64_t want
        to_u32(symbol, "symbol", &sym)
        to_u8(side, "side", &sd, 1, 2)
        to_i64(levels, "levels", &want, 0, 0x7FFFFFFFFFFFFFFF)
        # Sized by the book, not the request: "all levels" is cheap.
        cdef size_t k = min(<size_t>want, self.eng.side_levels(sym, <CSide>sd))
        cdef vector[LevelInfo] buf
        buf.resize(k)
        cdef size_t got = self.eng.depth(sym, <CSide>sd, buf.data(), k)
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
        cdef uint32_t sym
        cdef uint8_t sd
        cdef int64_t px
        to_u32(symbol, "symbol", &sym)
        to_u8(side, "side", &sd, 1, 2)
        to_i64(price, "price", &px)
        return list(self.eng.level_orders(sym, <CSide>sd, px))

    def _order(self, order_id):
        self._check()
        cdef uint64_t oid
        to_u64(order_id, "order_id", &oid)
        cdef OrderInfo o = self.eng.order(oid)
        return (<uint8_t>o.state, o.symbol, <uint8_t>o.side, <uint8_t>o.order_type, <uint8_t>o.tif, o.account,
                o.price, o.stop_price, o.qty, o.filled, o.remaining, o.visible, o.expire_ns)

    def last_trade_price(self, symbol):
        self._check()
        cdef uint32_t sym
        to_u32(symbol, "symbol", &sym)
        cdef int64_t px = 0
        if self.eng.last_trade_price(sym, &px):
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
        if isinstance(data, str):
            raise TypeError("snapshot must be bytes-like, not str")
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef MatchingEngineBase obj = <MatchingEngineBase>cls.__new__(cls)
        cdef size_t n = view.shape[0]
        if n == 0:
            raise ValueError("cannot restore MatchingEngine: empty snapshot")
        cdef unique_ptr[MatchingEngine] restored
        try:
            restored = restore_unique(&view[0], n)
        except ValueError as exc:
            raise ValueError(f"cannot restore MatchingEngine: {exc}") from None
        obj.eng = restored.release()
        return obj

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),))
