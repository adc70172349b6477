# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the exchange machine. Translation only: argument conversion
(glue), GIL handling with the busy flag, numpy records and report objects;
behaviour lives in C++ (cpp/src/exchange/) and the thin Python layer
(shanraq_core.exchange)."""

cimport cython
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.book cimport Bbo, COrderType, CSide, CStp, CTif, LevelInfo, MatchingEngine
from shanraq_core._core.glue cimport (
    check_idle,
    enter,
    enum_members,
    leave,
    record_layout,
    to_i64,
    to_u8,
    to_u16,
    to_u32,
    to_u64,
    translate_exception,
)

import numpy as np

cdef object _command_dtype = None
cdef object _event_dtype = None
cdef object _as_commands = None
cdef object _reasons = None  # tuple: reason value -> ExchangeRejectReason member
cdef const char* _NAME = "Exchange"
# Largest event buffer (in events, ~64 MiB) kept between batches.
cdef size_t _KEEP_EVENTS = (64 << 20) // sizeof(ExchangeEvent)

# Event types and command kinds the per-call summary reads (types.hpp).
cdef enum:
    EV_ACCEPTED = 1
    EV_REJECTED = 2
    EV_TRADE = 3
    EV_CANCELLED = 4
    EV_AMENDED = 5
    EV_MASS_CANCELLED = 7
    EV_TIME_ADVANCED = 8
    EV_DEPOSITED = 12
    EV_WITHDRAWN = 13
    K_PLACE = 1
    K_CANCEL = 2
    K_AMEND = 3
    K_MASS_CANCEL = 4
    K_ADVANCE_TIME = 5
    K_ADD_ASSET = 6
    K_ADD_SYMBOL = 7
    K_ADD_USER = 8
    K_DEPOSIT = 9
    K_WITHDRAW = 10
    K_SET_LIMITS = 11
    K_SET_POSITION_LIMIT = 12
    K_HALT = 13
    K_RESUME = 14


def layouts():
    """The C++ field tables of the ExchangeCommand and ExchangeEvent records."""
    return record_layout[ExchangeCommand](), record_layout[ExchangeEvent]()


def enums():
    """The C++ enum tables (for shanraq_core._layout.check_enum)."""
    return (enum_members[XCommandKind](), enum_members[XEventType](), enum_members[XRejectReason](),
            enum_members[Violation]())


def _register(command_dtype, event_dtype, as_commands, reasons):
    global _command_dtype, _event_dtype, _as_commands, _reasons
    if command_dtype.itemsize != sizeof(ExchangeCommand) or event_dtype.itemsize != sizeof(ExchangeEvent):
        raise RuntimeError("EXCHANGE_COMMAND_DTYPE/EXCHANGE_EVENT_DTYPE do not match the C++ records")
    table = [None] * 256
    for m in reasons:
        table[int(m)] = m
    _command_dtype, _event_dtype, _as_commands, _reasons = command_dtype, event_dtype, as_commands, tuple(table)


@cython.freelist(16)
cdef class ExchangeReport:
    """What one per-call command did.

    ``rejected`` and ``reason`` (an ExchangeRejectReason, NONE if accepted);
    for an order: ``filled`` during this command, ``remaining`` open after it,
    ``hold`` what it still holds, ``trades`` its trade events and ``fees`` it
    paid; ``count`` for mass cancel and advance time (orders cancelled or
    expired); ``available`` for deposit and withdraw (the user's available
    balance after it). ``seq`` is the command's sequence number."""
    cdef readonly uint64_t seq
    cdef readonly bint rejected
    cdef readonly object reason
    cdef readonly int64_t filled
    cdef readonly int64_t remaining
    cdef readonly uint64_t hold
    cdef readonly uint32_t trades
    cdef readonly uint64_t fees
    cdef readonly uint64_t count
    cdef readonly uint64_t available

    def __repr__(self):
        if self.rejected:
            return f"ExchangeReport(seq={self.seq}, rejected, reason={self.reason!r})"
        return (f"ExchangeReport(seq={self.seq}, filled={self.filled}, remaining={self.remaining}, "
                f"hold={self.hold}, trades={self.trades}, fees={self.fees}, count={self.count}, "
                f"available={self.available})")


cdef object _events_array(const vector[ExchangeEvent]& ev):
    cdef size_t n = ev.size()
    out = np.empty(n, dtype=_event_dtype)
    cdef char[::1] raw
    if n:
        raw = out.view(np.uint8)
        memcpy(&raw[0], ev.data(), n * sizeof(ExchangeEvent))
    return out


cdef class ExchangeBase:
    """C++ exchange holder; use shanraq_core.Exchange."""

    def __cinit__(self, *args, **kwargs):
        self.x = NULL
        self._busy = False

    def __init__(self, *, max_users=1 << 16, max_assets=64, max_symbols=256, max_orders=1 << 20,
                 max_levels=1 << 18, id_history=1 << 20, max_accounts=1 << 20, max_transfers=1 << 20):
        cdef ExchangeConfig cfg
        to_u32(max_users, "max_users", &cfg.max_users, (1 << 31) - 2)
        to_u32(max_assets, "max_assets", &cfg.max_assets, 1 << 28)
        to_u32(max_symbols, "max_symbols", &cfg.max_symbols, 1 << 24)
        to_u32(max_orders, "max_orders", &cfg.max_orders, (1 << 30) - 1)
        to_u32(max_levels, "max_levels", &cfg.max_levels, (1 << 31) - 1)
        to_u32(id_history, "id_history", &cfg.id_history, (1 << 30) - 1)
        to_u32(max_accounts, "max_accounts", &cfg.max_accounts, (1 << 31) - 1)
        to_u32(max_transfers, "max_transfers", &cfg.max_transfers, (1 << 31) - 1)
        if self.x != NULL:
            raise RuntimeError("Exchange is already initialised")
        self.x = new Exchange(cfg)

    def __dealloc__(self):
        del self.x

    cdef int _check(self) except -1:
        if self.x == NULL:
            raise RuntimeError("Exchange is not initialised")
        return check_idle(self._busy, _NAME)

    # ---- the per-call path ----------------------------------------------------------
    # One command through process() (same events, same state as the batch
    # path), summarised for the caller. The GIL stays held: one command is
    # short, and releasing it costs more than it runs.
    cdef object _run(self, ExchangeCommand* c):
        self.events.clear()
        self.x.process(c, 1, self.events)
        cdef ExchangeReport r = ExchangeReport.__new__(ExchangeReport)
        cdef size_t i
        cdef const ExchangeEvent* e
        cdef uint64_t oid = c.order_id
        r.seq = self.events[0].seq if self.events.size() else 0
        r.reason = _reasons[0]
        cdef uint8_t t
        for i in range(self.events.size()):
            e = &self.events[i]
            t = <uint8_t>e.type
            if t == EV_REJECTED and i == 0:
                r.rejected = True
                r.reason = _reasons[e.reason]
            elif t == EV_TRADE:
                if e.order_id == oid:
                    r.filled += e.qty
                    r.remaining = e.remaining
                    r.hold = e.hold
                    r.fees += e.fee
                    r.trades += 1
                elif e.other_order_id == oid:
                    r.filled += e.qty
                    r.remaining = e.other_remaining
                    r.hold = e.other_hold
                    r.fees += e.other_fee
                    r.trades += 1
            elif e.order_id == oid and (t == EV_ACCEPTED or t == EV_CANCELLED or t == EV_AMENDED):
                r.remaining = e.remaining if t != EV_ACCEPTED else e.qty
                r.hold = e.hold
                if t == EV_CANCELLED and <uint8_t>c.kind == K_CANCEL:
                    r.count += 1
            elif t == EV_MASS_CANCELLED or t == EV_TIME_ADVANCED:
                r.count = <uint64_t>e.qty
            elif t == EV_DEPOSITED or t == EV_WITHDRAWN:
                r.available = e.hold
        return r

    def place(self, user, order_id, symbol, side, price, qty, *, order_type=1, tif=1, stp=0, post_only=False,
              stop_price=0, display_qty=0, expire_ns=0, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        cdef uint8_t sd, ot, tf, sp
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_PLACE
        to_u64(user, "user", &c.user)
        to_u64(order_id, "order_id", &c.order_id)
        to_u32(symbol, "symbol", &c.symbol)
        to_u8(side, "side", &sd)
        to_i64(price, "price", &c.price)
        to_i64(qty, "qty", &c.qty)
        to_u8(order_type, "order_type", &ot)
        to_u8(tif, "tif", &tf)
        to_u8(stp, "stp", &sp)
        c.side = <CSide>sd
        c.order_type = <COrderType>ot
        c.tif = <CTif>tf
        c.stp = <CStp>sp
        if post_only is True:
            c.flags = 1
        elif post_only is not False:
            raise TypeError(f"post_only must be a bool, not {type(post_only).__name__}")
        to_i64(stop_price, "stop_price", &c.stop_price)
        to_i64(display_qty, "display_qty", &c.display_qty)
        to_i64(expire_ns, "expire_ns", &c.expire_ns)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def cancel(self, user, order_id, *, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_CANCEL
        to_u64(user, "user", &c.user)
        to_u64(order_id, "order_id", &c.order_id)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def amend(self, user, order_id, *, price=0, qty=0, stop_price=0, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_AMEND
        to_u64(user, "user", &c.user)
        to_u64(order_id, "order_id", &c.order_id)
        to_i64(price, "price", &c.price)
        to_i64(qty, "qty", &c.qty)
        to_i64(stop_price, "stop_price", &c.stop_price)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def mass_cancel(self, user, *, symbol=None, tag=0, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_MASS_CANCEL
        to_u64(user, "user", &c.user)
        if symbol is not None:
            to_u32(symbol, "symbol", &c.symbol)
            c.flags = 2
        to_u64(tag, "tag", &c.order_id)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def advance_time(self, time_ns):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_ADVANCE_TIME
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def add_asset(self, asset, *, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_ADD_ASSET
        to_u32(asset, "asset", &c.asset)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def add_user(self, user, *, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_ADD_USER
        to_u64(user, "user", &c.user)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def add_symbol(self, symbol, base, quote, *, tick_size=1, lot_size=1, min_price=1,
                   max_price=(1 << 63) - 1, max_qty=(1 << 63) - 1, maker_fee_bps=0, taker_fee_bps=0,
                   base_scale=1, quote_scale=1, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        cdef uint32_t q, bs, qs
        cdef uint16_t mk, tk
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_ADD_SYMBOL
        to_u32(symbol, "symbol", &c.symbol)
        to_u32(base, "base", &c.asset)
        to_u32(quote, "quote", &q)
        to_u16(maker_fee_bps, "maker_fee_bps", &mk)
        to_u16(taker_fee_bps, "taker_fee_bps", &tk)
        to_u32(base_scale, "base_scale", &bs)
        to_u32(quote_scale, "quote_scale", &qs)
        c.user = <uint64_t>q | (<uint64_t>mk << 32) | (<uint64_t>tk << 48)
        c.order_id = <uint64_t>bs | (<uint64_t>qs << 32)
        to_i64(tick_size, "tick_size", &c.price)
        to_i64(lot_size, "lot_size", &c.qty)
        to_i64(min_price, "min_price", &c.stop_price)
        to_i64(max_price, "max_price", &c.display_qty)
        to_i64(max_qty, "max_qty", &c.expire_ns)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    cdef object _money(self, uint8_t kind, user, asset, transfer_id, amount, time_ns):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>kind
        to_u64(user, "user", &c.user)
        to_u32(asset, "asset", &c.asset)
        to_u64(transfer_id, "transfer_id", &c.order_id)
        to_i64(amount, "amount", &c.qty)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def deposit(self, user, asset, transfer_id, amount, *, time_ns=0):
        return self._money(K_DEPOSIT, user, asset, transfer_id, amount, time_ns)

    def withdraw(self, user, asset, transfer_id, amount, *, time_ns=0):
        return self._money(K_WITHDRAW, user, asset, transfer_id, amount, time_ns)

    def set_limits(self, user, *, max_open_orders=0, max_notional=0, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_SET_LIMITS
        to_u64(user, "user", &c.user)
        to_i64(max_open_orders, "max_open_orders", &c.qty)
        to_i64(max_notional, "max_notional", &c.price)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def set_position_limit(self, user, asset, max_position, *, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_SET_POSITION_LIMIT
        to_u64(user, "user", &c.user)
        to_u32(asset, "asset", &c.asset)
        to_i64(max_position, "max_position", &c.stop_price)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def halt_symbol(self, symbol, *, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_HALT
        to_u32(symbol, "symbol", &c.symbol)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def resume_symbol(self, symbol, *, time_ns=0):
        self._check()
        cdef ExchangeCommand c
        memset(&c, 0, sizeof(c))
        c.kind = <XCommandKind>K_RESUME
        to_u32(symbol, "symbol", &c.symbol)
        to_i64(time_ns, "time_ns", &c.time_ns)
        return self._run(&c)

    def ping(self):
        """Does nothing: the trivial method the per-call benchmarks measure
        a call against (same object, same checks)."""
        self._check()
        return None

    def last_events(self):
        """The events of the last per-call command (EXCHANGE_EVENT_DTYPE)."""
        self._check()
        return _events_array(self.events)

    # ---- the batch path --------------------------------------------------------------
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
        cdef const ExchangeCommand* cmds = NULL
        if n:
            raw = arr.view(np.uint8)
            cmds = <const ExchangeCommand*>&raw[0]
        self.events.clear()
        self.events.reserve(2 * n + 16)
        # Safe without the GIL: the busy flag refuses every other call on this
        # object meanwhile, and `raw` keeps the commands alive.
        enter(&self._busy, _NAME)
        try:
            with nogil:
                self.x.process(cmds, n, self.events)
        finally:
            leave(&self._busy)
        out = _events_array(self.events)
        if self.events.capacity() > _KEEP_EVENTS:
            self.events.clear()
            self.events.shrink_to_fit()
        return out

    # ---- queries -----------------------------------------------------------------------
    def _balance(self, user, asset):
        self._check()
        cdef uint64_t u
        cdef uint32_t a
        to_u64(user, "user", &u)
        to_u32(asset, "asset", &a)
        cdef Balance b = self.x.balance(u, a)
        if not b.known:
            return None
        return (b.total, b.held, b.available)

    def fee_balance(self, asset):
        self._check()
        cdef uint32_t a
        cdef uint64_t total = 0
        to_u32(asset, "asset", &a)
        if not self.x.fee_balance(a, &total):
            raise ValueError(f"unknown asset {asset}")
        return total

    def external_balance(self, asset):
        self._check()
        cdef uint32_t a
        cdef int64_t total = 0
        to_u32(asset, "asset", &a)
        if not self.x.external_balance(a, &total):
            raise ValueError(f"unknown asset {asset}")
        return total

    def _order_hold(self, order_id):
        self._check()
        cdef uint64_t oid
        to_u64(order_id, "order_id", &oid)
        cdef OrderHold h = self.x.order_hold(oid)
        if not h.open:
            return None
        return (h.user, h.symbol, h.asset, h.hold, h.remaining)

    def open_orders(self, user):
        """Ids of the user's open orders, ascending."""
        self._check()
        cdef uint64_t u
        to_u64(user, "user", &u)
        return list(self.x.open_orders(u))

    def _check_invariants(self):
        self._check()
        cdef InvariantReport r = self.x.check_invariants()
        return (<uint8_t>r.violation, r.user, r.asset, r.order_id, r.message.decode())

    def has_user(self, user):
        self._check()
        cdef uint64_t u
        to_u64(user, "user", &u)
        return self.x.has_user(u)

    def has_asset(self, asset):
        self._check()
        cdef uint32_t a
        to_u32(asset, "asset", &a)
        return self.x.has_asset(a)

    def has_symbol(self, symbol):
        self._check()
        cdef uint32_t s
        to_u32(symbol, "symbol", &s)
        return self.x.has_symbol(s)

    def best_bid(self, symbol):
        """L1: (price, visible qty) of the best bid, or None."""
        self._check()
        cdef uint32_t s
        to_u32(symbol, "symbol", &s)
        cdef Bbo b = self.x.engine().bbo(s)
        return (b.bid_price, b.bid_qty) if b.has_bid else None

    def best_ask(self, symbol):
        """L1: (price, visible qty) of the best ask, or None."""
        self._check()
        cdef uint32_t s
        to_u32(symbol, "symbol", &s)
        cdef Bbo b = self.x.engine().bbo(s)
        return (b.ask_price, b.ask_qty) if b.has_ask else None

    def depth(self, symbol, side, levels=10):
        """L2: up to `levels` (price, visible qty, orders) of one side, best first."""
        self._check()
        cdef uint32_t s
        cdef uint8_t sd
        cdef uint32_t k
        to_u32(symbol, "symbol", &s)
        to_u8(side, "side", &sd, 1, 2)
        to_u32(levels, "levels", &k, 1 << 20)
        cdef vector[LevelInfo] buf
        buf.resize(k)
        cdef size_t got = self.x.engine().depth(s, <CSide>sd, buf.data(), k)
        return [(buf[i].price, buf[i].qty, buf[i].orders) for i in range(got)]

    def level_orders(self, symbol, side, price):
        """L3: ids of the orders resting at one price, in priority order."""
        self._check()
        cdef uint32_t s
        cdef uint8_t sd
        cdef int64_t px
        to_u32(symbol, "symbol", &s)
        to_u8(side, "side", &sd, 1, 2)
        to_i64(price, "price", &px)
        return list(self.x.engine().level_orders(s, <CSide>sd, px))

    @property
    def next_seq(self):
        self._check()
        return self.x.next_seq()

    @property
    def now_ns(self):
        self._check()
        return self.x.now_ns()

    @property
    def user_count(self):
        self._check()
        return self.x.user_count()

    @property
    def order_count(self):
        self._check()
        return self.x.order_count()

    @property
    def memory_reserved(self):
        self._check()
        return self.x.memory_reserved()

    # ---- persistence -----------------------------------------------------------------
    def snapshot(self):
        self._check()
        cdef string s = self.x.snapshot()
        return s.data()[:s.size()]

    def state_hash(self):
        self._check()
        return self.x.state_hash()

    @classmethod
    def restore(cls, data):
        if isinstance(data, str):
            raise TypeError("snapshot must be bytes-like, not str")
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef ExchangeBase obj = <ExchangeBase>cls.__new__(cls)
        cdef size_t n = view.shape[0]
        if n == 0:
            raise ValueError("cannot restore Exchange: empty snapshot")
        cdef unique_ptr[Exchange] restored
        try:
            restored = exchange_restore(&view[0], n)
        except ValueError as exc:
            raise ValueError(f"cannot restore Exchange: {exc}") from None
        obj.x = restored.release()
        return obj

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),))
