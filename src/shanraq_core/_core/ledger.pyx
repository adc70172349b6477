# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the ledger state machine. Translation only: argument
conversion (glue), GIL handling with the busy flag, and copies between numpy
records and the C++ records; behaviour lives in C++ (LedgerMachine) and the
thin Python layer (shanraq_core.ledger)."""

from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libcpp.string cimport string

from shanraq_core._core.glue cimport (
    check_idle,
    enter,
    enum_members,
    from_u128,
    leave,
    record_layout,
    to_i64,
    to_u16,
    to_u32,
    to_u64,
    to_u128,
    translate_exception,
)

import numpy as np

from shanraq_core._layout import dtype_from_layout

# The records' numpy dtypes, from the C++ field tables (types.hpp, machine.hpp).
ACCOUNT_DTYPE = dtype_from_layout(record_layout[Account]())
TRANSFER_DTYPE = dtype_from_layout(record_layout[Transfer]())
ACCOUNT_BALANCE_DTYPE = dtype_from_layout(record_layout[AccountBalance]())
CREATE_RESULT_DTYPE = dtype_from_layout(record_layout[CreateResult]())
ACCOUNT_FILTER_DTYPE = dtype_from_layout(record_layout[AccountFilter]())
QUERY_FILTER_DTYPE = dtype_from_layout(record_layout[QueryFilter]())
#: The most results one query returns (TigerBeetle's); a larger limit is clamped.
QUERY_LIMIT_MAX = kQueryLimitMax
LEDGER_COMMAND_DTYPE = dtype_from_layout(record_layout[LedgerCommand]())
LEDGER_EVENT_DTYPE = dtype_from_layout(record_layout[LedgerEvent]())
#: The latest time_ns a command may carry (ns).
MAX_TIME_NS = kMaxTime
#: TigerBeetle's AMOUNT_MAX (here 2**64 - 1): a post of it posts the whole hold.
AMOUNT_MAX = kAmountMax
_CREATED = kCreatedStatus


def enum_tables():
    """The C++ enums (name, [(member, value), ...]) the Python enums are checked against."""
    return [
        enum_members[CreateAccountResult](),
        enum_members[CreateTransferResult](),
        enum_members[SetLimitResult](),
        enum_members[PendingStatus](),
        enum_members[AccountFlagBits](),
        enum_members[TransferFlagBits](),
        enum_members[LedgerCommandKind](),
        enum_members[LedgerEventType](),
        enum_members[CommandRejection](),
    ]


# Result enums and record types are defined by the Python layer and registered
# here, so a result is returned as an enum member by a tuple index (no enum
# lookup on the per-call path).
cdef tuple _account_results = ()
cdef tuple _transfer_results = ()
cdef tuple _limit_results = ()
cdef object _account_type = None
cdef object _transfer_type = None
cdef object _ZERO = 0


def _register(account_results, transfer_results, limit_results, account_type, transfer_type):
    global _account_results, _transfer_results, _limit_results, _account_type, _transfer_type

    def table(enum):
        # CREATED is 2^32 - 1: it takes the last entry (see _result).
        small = [int(m) for m in enum if int(m) != _CREATED]
        out = [None] * (max(small) + 2)
        for m in enum:
            out[len(out) - 1 if int(m) == _CREATED else int(m)] = m
        return tuple(out)

    _account_results = table(account_results)
    _transfer_results = table(transfer_results)
    _limit_results = table(limit_results)
    _account_type = account_type
    _transfer_type = transfer_type


cdef inline object _result(tuple table, uint32_t code):
    if code == kCreatedStatus:
        code = <uint32_t>len(table) - 1
    if code < <uint32_t>len(table):
        m = <object>PyTuple_GET_ITEM(table, code)
        if m is not None:
            return m
    raise SystemError(f"ledger core returned unknown result code {code}")


# Arguments usually left at their default 0 are recognised by identity (the
# default, and any 0 a caller passes, is CPython's cached small int) before
# glue's conversion: on the per-call path that saves ~40 instructions an
# argument (measured, docs/perf_ledger.md).
cdef inline int _u64_or_0(object v, const char* what, uint64_t* out) except -1:
    if v is _ZERO:
        out[0] = 0
        return 0
    return to_u64(v, what, out)


cdef inline int _u32_or_0(object v, const char* what, uint32_t* out) except -1:
    if v is _ZERO:
        out[0] = 0
        return 0
    return to_u32(v, what, out)


cdef inline int _u16_or_0(object v, const char* what, uint16_t* out) except -1:
    if v is _ZERO:
        out[0] = 0
        return 0
    return to_u16(v, what, out)


cdef inline int _user_data_128(object v, uint64_t* out) except -1:
    # The default (CPython's cached small int 0) by identity: no conversion.
    if v is _ZERO:
        out[0] = 0
        out[1] = 0
        return 0
    return to_u128(v, b"user_data_128", out)


cdef inline int64_t _time(object v, const char* what) except -1:
    cdef int64_t t = 0
    if v is _ZERO:
        return 0
    to_i64(v, what, &t, 0, kMaxTime)
    return t


cdef object _records(object array, object dtype, str what, str dtype_name):
    """The caller's array as a contiguous array of `dtype`: as it is, or
    converted once when its fields are the same names and types in another
    layout (e.g. a packed copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what} must be a numpy array of {dtype_name}, not {type(array).__name__}")
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    if array.dtype != dtype:
        names = dtype.names
        if array.dtype.names != names:
            raise TypeError(
                f"{what} must have dtype shanraq_core.{dtype_name} (fields {names}), got {array.dtype}")
        for name in names:
            if array.dtype.fields[name][0] != dtype.fields[name][0]:
                raise TypeError(
                    f"{what}: field {name!r} is {array.dtype.fields[name][0]}, "
                    f"shanraq_core.{dtype_name} has {dtype.fields[name][0]}")
        array = array.astype(dtype)
    return np.ascontiguousarray(array)


cdef int _account_filter(AccountFilter* f, object account_id, object ud128, object ud64, object ud32,
                         object code, object tmin, object tmax, object limit, object flags) except -1:
    memset(f, 0, sizeof(AccountFilter))
    _u64_or_0(account_id, b"account_id", &f.account_id)
    _user_data_128(ud128, f.user_data_128)
    _u64_or_0(ud64, b"user_data_64", &f.user_data_64)
    _u32_or_0(ud32, b"user_data_32", &f.user_data_32)
    _u16_or_0(code, b"code", &f.code)
    _u64_or_0(tmin, b"timestamp_min", &f.timestamp_min)
    _u64_or_0(tmax, b"timestamp_max", &f.timestamp_max)
    _u32_or_0(limit, b"limit", &f.limit)
    _u32_or_0(flags, b"flags", &f.flags)
    return 0


cdef int _query_filter(QueryFilter* f, object ud128, object ud64, object ud32, object ledger, object code,
                       object tmin, object tmax, object limit, object flags) except -1:
    memset(f, 0, sizeof(QueryFilter))
    _user_data_128(ud128, f.user_data_128)
    _u64_or_0(ud64, b"user_data_64", &f.user_data_64)
    _u32_or_0(ud32, b"user_data_32", &f.user_data_32)
    _u32_or_0(ledger, b"ledger", &f.ledger)
    _u16_or_0(code, b"code", &f.code)
    _u64_or_0(tmin, b"timestamp_min", &f.timestamp_min)
    _u64_or_0(tmax, b"timestamp_max", &f.timestamp_max)
    _u32_or_0(limit, b"limit", &f.limit)
    _u32_or_0(flags, b"flags", &f.flags)
    return 0


cdef class LedgerBase:
    """C++ ledger state machine holder; use shanraq_core.Ledger."""

    def __cinit__(self, *args, **kwargs):
        self.m = NULL
        self._busy = False
        self._result_timestamp = 0

    def __init__(self, max_accounts=1 << 20, max_transfers=1 << 23, max_history=1 << 20,
                 idempotency_window_ns=0, max_archived=0):
        cdef LedgerCapacity cap
        to_u32(max_accounts, b"max_accounts", &cap.accounts, 0x7FFFFFFF)
        to_u32(max_transfers, b"max_transfers", &cap.transfers, 0x7FFFFFFF)
        to_u32(max_history, b"max_history", &cap.history, 0x7FFFFFFF)
        to_u64(idempotency_window_ns, b"idempotency_window_ns", &cap.idempotency_window_ns, 0x7FFFFFFFFFFFFFFF)
        to_u32(max_archived, b"max_archived", &cap.archive, 0x7FFFFFFF)
        if self.m != NULL:
            raise RuntimeError("Ledger is already initialised")
        self.m = new LedgerMachine(cap)

    def __dealloc__(self):
        del self.m

    cdef int _enter(self) except -1:
        """For every call: a machine, and no other thread inside it."""
        if self.m == NULL:
            raise RuntimeError("ledger is not initialised")
        return check_idle(self._busy, b"Ledger")

    # ---- configuration and counters -----------------------------------------
    @property
    def max_accounts(self):
        self._enter()
        return self.m.ledger().capacity().accounts

    @property
    def max_transfers(self):
        self._enter()
        return self.m.ledger().capacity().transfers

    @property
    def max_history(self):
        self._enter()
        return self.m.ledger().capacity().history

    @property
    def idempotency_window_ns(self):
        self._enter()
        return self.m.ledger().capacity().idempotency_window_ns

    @property
    def max_archived(self):
        self._enter()
        return self.m.ledger().capacity().archive

    @property
    def archived_count(self):
        self._enter()
        return self.m.ledger().archived_count()

    @property
    def account_count(self):
        self._enter()
        return self.m.ledger().account_count()

    @property
    def transfer_count(self):
        self._enter()
        return self.m.ledger().transfer_count()

    @property
    def history_count(self):
        self._enter()
        return self.m.ledger().history_count()

    @property
    def last_timestamp(self):
        self._enter()
        return self.m.ledger().last_timestamp()

    @property
    def memory_bytes(self):
        self._enter()
        return self.m.ledger().memory_bytes()

    @property
    def next_seq(self):
        self._enter()
        return self.m.next_seq()

    @property
    def now_ns(self):
        self._enter()
        return self.m.now_ns()

    @property
    def open_chain_length(self):
        self._enter()
        return self.m.open_chain_length()

    def prefault(self):
        self._enter()
        enter(&self._busy, b"Ledger")
        try:
            # Safe without the GIL: the busy flag keeps every other caller out.
            with nogil:
                self.m.prefault()
        finally:
            leave(&self._busy)

    # ---- commands ------------------------------------------------------------
    def process(self, commands):
        self._enter()
        arr = _records(commands, LEDGER_COMMAND_DTYPE, "commands", "LEDGER_COMMAND_DTYPE")
        cdef size_t n = arr.shape[0]
        cdef const uint8_t[::1] src
        cdef const LedgerCommand* p = NULL
        if n != 0:
            src = arr.view(np.uint8).reshape(-1)
            p = <const LedgerCommand*>&src[0]
        enter(&self._busy, b"Ledger")
        try:
            self._events.clear()
            # Safe without the GIL: we hold a view of the commands for the
            # whole call, and the busy flag keeps every other caller out.
            with nogil:
                self.m.process(p, n, self._events)
        finally:
            leave(&self._busy)
        out = np.empty(self._events.size(), dtype=LEDGER_EVENT_DTYPE)
        cdef uint8_t[::1] dst
        if self._events.size() != 0:
            dst = out.view(np.uint8).reshape(-1)
            memcpy(&dst[0], self._events.data(), self._events.size() * sizeof(LedgerEvent))
        return out

    def create_account(self, id, ledger, code, *, flags=0, user_data_128=0, user_data_64=0, user_data_32=0,
                       limit=0, timestamp=0, now_ns=0):
        cdef Account a
        self._enter()
        memset(&a, 0, sizeof(a))
        to_u64(id, b"id", &a.id)
        to_u32(ledger, b"ledger", &a.ledger)
        to_u16(code, b"code", &a.code)
        to_u16(flags, b"flags", &a.flags)
        _user_data_128(user_data_128, a.user_data_128)
        to_u64(user_data_64, b"user_data_64", &a.user_data_64)
        to_u32(user_data_32, b"user_data_32", &a.user_data_32)
        to_u64(limit, b"limit", &a.limit)
        _u64_or_0(timestamp, b"timestamp", &a.timestamp)
        cdef int64_t t = _time(now_ns, b"now_ns")
        return _result(_account_results, <uint32_t>self.m.create_account(a, t, &self._result_timestamp))

    def transfer(self, id, debit_account_id, credit_account_id, amount, ledger=0, code=0, *, flags=0,
                 pending_id=0, timeout_ns=0, user_data_128=0, user_data_64=0, user_data_32=0, timestamp=0,
                 now_ns=0):
        cdef Transfer x
        if self.m == NULL or self._busy:
            self._enter()
        to_u64(id, b"id", &x.id)
        to_u64(debit_account_id, b"debit_account_id", &x.debit_account_id)
        to_u64(credit_account_id, b"credit_account_id", &x.credit_account_id)
        _u64_or_0(pending_id, b"pending_id", &x.pending_id)
        # The map slots are DRAM misses on a large ledger: start them now, so
        # they load while the other arguments are converted, and the records
        # they name just before the call (docs/perf_ledger.md).
        self.m.ledger().prefetch_transfer(x.id, x.debit_account_id, x.credit_account_id, x.pending_id)
        to_u64(amount, b"amount", &x.amount)
        _u32_or_0(ledger, b"ledger", &x.ledger)
        _u16_or_0(code, b"code", &x.code)
        _u16_or_0(flags, b"flags", &x.flags)
        _u64_or_0(timeout_ns, b"timeout_ns", &x.timeout_ns)
        _user_data_128(user_data_128, x.user_data_128)
        _u64_or_0(user_data_64, b"user_data_64", &x.user_data_64)
        _u32_or_0(user_data_32, b"user_data_32", &x.user_data_32)
        _u64_or_0(timestamp, b"timestamp", &x.timestamp)
        x.reserved = 0
        cdef int64_t t = _time(now_ns, b"now_ns")
        self.m.ledger().prefetch_transfer_records(x.debit_account_id, x.credit_account_id, x.pending_id)
        return _result(_transfer_results, <uint32_t>self.m.transfer(x, t, &self._result_timestamp))

    @property
    def result_timestamp(self):
        self._enter()
        return self._result_timestamp

    def set_account_limit(self, id, limit, *, now_ns=0):
        cdef uint64_t i, lim
        self._enter()
        to_u64(id, b"id", &i)
        to_u64(limit, b"limit", &lim)
        cdef int64_t t = _time(now_ns, b"now_ns")
        return _result(_limit_results, <uint32_t>self.m.set_account_limit(i, lim, t))

    def advance_time(self, now_ns):
        self._enter()
        cdef int64_t t = _time(now_ns, b"now_ns")
        return self.m.advance_time(t)

    def evict(self, *, now_ns=0):
        self._enter()
        cdef int64_t t = _time(now_ns, b"now_ns")
        return self.m.evict(t)

    def drain_evicted(self, max=None, *, now_ns=0):
        cdef uint64_t most = 0xFFFFFFFFFFFFFFFF
        self._enter()
        if max is not None:
            to_u64(max, b"max", &most)
        cdef int64_t t = _time(now_ns, b"now_ns")
        cdef size_t n = self.m.drain_room(most)
        out = np.zeros(n, dtype=TRANSFER_DTYPE)
        cdef uint8_t[::1] dst
        cdef Transfer spare
        cdef Transfer* p = &spare
        if n != 0:
            dst = out.view(np.uint8).reshape(-1)
            p = <Transfer*>&dst[0]
        n = self.m.drain_evicted(most, t, p)
        return out[:n]

    def create_accounts(self, accounts, now_ns=0):
        self._enter()
        arr = _records(accounts, ACCOUNT_DTYPE, "accounts", "ACCOUNT_DTYPE")
        cdef int64_t t = _time(now_ns, b"now_ns")
        cdef size_t n = arr.shape[0]
        results = np.zeros(n, dtype=CREATE_RESULT_DTYPE)
        if n == 0:
            return results
        cdef const uint8_t[::1] src = arr.view(np.uint8).reshape(-1)
        cdef uint8_t[::1] dst = results.view(np.uint8).reshape(-1)
        cdef const Account* p = <const Account*>&src[0]
        cdef CreateResult* r = <CreateResult*>&dst[0]
        enter(&self._busy, b"Ledger")
        try:
            # Safe without the GIL: we hold views of both buffers for the
            # whole call, and the busy flag keeps every other caller out.
            with nogil:
                self.m.create_accounts(p, n, t, r)
        finally:
            leave(&self._busy)
        return results

    def create_transfers(self, transfers, now_ns=0):
        self._enter()
        arr = _records(transfers, TRANSFER_DTYPE, "transfers", "TRANSFER_DTYPE")
        cdef int64_t t = _time(now_ns, b"now_ns")
        cdef size_t n = arr.shape[0]
        results = np.zeros(n, dtype=CREATE_RESULT_DTYPE)
        if n == 0:
            return results
        cdef const uint8_t[::1] src = arr.view(np.uint8).reshape(-1)
        cdef uint8_t[::1] dst = results.view(np.uint8).reshape(-1)
        cdef const Transfer* p = <const Transfer*>&src[0]
        cdef CreateResult* r = <CreateResult*>&dst[0]
        enter(&self._busy, b"Ledger")
        try:
            # Safe without the GIL: as in create_accounts.
            with nogil:
                self.m.create_transfers(p, n, t, r)
        finally:
            leave(&self._busy)
        return results

    # ---- queries -------------------------------------------------------------
    def lookup_account(self, id):
        cdef Account a
        cdef uint64_t i
        self._enter()
        to_u64(id, b"id", &i)
        if not self.m.ledger().lookup_account(i, a):
            return None
        return _account_type(
            a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
            from_u128(a.user_data_128), a.user_data_64, a.user_data_32, a.ledger, a.code, a.flags,
            a.timestamp, a.limit)

    def lookup_transfer(self, id):
        cdef Transfer x
        cdef uint64_t i
        self._enter()
        to_u64(id, b"id", &i)
        if not self.m.ledger().lookup_transfer(i, x):
            return None
        return _transfer_type(
            x.id, x.debit_account_id, x.credit_account_id, x.amount, x.pending_id,
            from_u128(x.user_data_128), x.user_data_64, x.user_data_32, x.timeout_ns, x.ledger, x.code,
            x.flags, x.timestamp, x.reserved)

    def balance(self, id):
        cdef Account a
        cdef uint64_t i
        self._enter()
        to_u64(id, b"id", &i)
        if not self.m.ledger().lookup_account(i, a):
            raise KeyError(id)
        cdef SignedAmount b = account_balance(a)
        v = from_u128(b.magnitude)
        return -v if b.negative else v

    def account_history(self, id, since=0, until=None, limit=None):
        cdef uint64_t i, lo, hi = 0xFFFFFFFFFFFFFFFF, most = 0xFFFFFFFFFFFFFFFF
        self._enter()
        to_u64(id, b"id", &i)
        to_u64(since, b"since", &lo)
        if until is not None:
            to_u64(until, b"until", &hi)
        if limit is not None:
            to_u64(limit, b"limit", &most)
        cdef size_t n = self.m.ledger().account_history(i, lo, hi, NULL, 0)
        if most < n:
            n = most
        out = np.zeros(n, dtype=ACCOUNT_BALANCE_DTYPE)
        if n == 0:
            return out
        cdef uint8_t[::1] dst = out.view(np.uint8).reshape(-1)
        self.m.ledger().account_history(i, lo, hi, <AccountBalance*>&dst[0], n)
        return out

    # ---- queries (TigerBeetle 0.17's) ----------------------------------------------
    # Read the state at the last applied command, with the GIL held; _enter()
    # refuses them while another thread is inside a batch. The output is
    # np.empty (room for the limit, up to 8,190 records: zeroing it cost more
    # than a small answer) and only the records the ledger wrote are returned.
    # If the answer is smaller than the room it is copied to an array of its
    # own size, so the room's memory is not kept alive by the result.
    def get_account_transfers(self, account_id, *, user_data_128=0, user_data_64=0, user_data_32=0, code=0,
                              timestamp_min=0, timestamp_max=0, limit=kQueryLimitMax, flags=3):
        cdef AccountFilter f
        self._enter()
        _account_filter(&f, account_id, user_data_128, user_data_64, user_data_32, code, timestamp_min,
                        timestamp_max, limit, flags)
        out = np.empty(query_room(f.limit), dtype=TRANSFER_DTYPE)
        cdef Transfer spare
        cdef Transfer* p = &spare
        cdef uint8_t[::1] dst
        if out.shape[0] != 0:
            dst = out.view(np.uint8).reshape(-1)
            p = <Transfer*>&dst[0]
        cdef size_t n = self.m.ledger().get_account_transfers(f, p)
        return out[:n].copy() if n < <size_t>out.shape[0] else out

    def get_account_balances(self, account_id, *, user_data_128=0, user_data_64=0, user_data_32=0, code=0,
                             timestamp_min=0, timestamp_max=0, limit=kQueryLimitMax, flags=3):
        cdef AccountFilter f
        self._enter()
        _account_filter(&f, account_id, user_data_128, user_data_64, user_data_32, code, timestamp_min,
                        timestamp_max, limit, flags)
        out = np.empty(query_room(f.limit), dtype=ACCOUNT_BALANCE_DTYPE)
        cdef AccountBalance spare
        cdef AccountBalance* p = &spare
        cdef uint8_t[::1] dst
        if out.shape[0] != 0:
            dst = out.view(np.uint8).reshape(-1)
            p = <AccountBalance*>&dst[0]
        cdef size_t n = self.m.ledger().get_account_balances(f, p)
        return out[:n].copy() if n < <size_t>out.shape[0] else out

    def query_accounts(self, *, user_data_128=0, user_data_64=0, user_data_32=0, ledger=0, code=0,
                       timestamp_min=0, timestamp_max=0, limit=kQueryLimitMax, flags=0):
        cdef QueryFilter f
        self._enter()
        _query_filter(&f, user_data_128, user_data_64, user_data_32, ledger, code, timestamp_min, timestamp_max,
                      limit, flags)
        out = np.empty(query_room(f.limit), dtype=ACCOUNT_DTYPE)
        cdef Account spare
        cdef Account* p = &spare
        cdef uint8_t[::1] dst
        if out.shape[0] != 0:
            dst = out.view(np.uint8).reshape(-1)
            p = <Account*>&dst[0]
        cdef size_t n = self.m.ledger().query_accounts(f, p)
        return out[:n].copy() if n < <size_t>out.shape[0] else out

    def query_transfers(self, *, user_data_128=0, user_data_64=0, user_data_32=0, ledger=0, code=0,
                        timestamp_min=0, timestamp_max=0, limit=kQueryLimitMax, flags=0):
        cdef QueryFilter f
        self._enter()
        _query_filter(&f, user_data_128, user_data_64, user_data_32, ledger, code, timestamp_min, timestamp_max,
                      limit, flags)
        out = np.empty(query_room(f.limit), dtype=TRANSFER_DTYPE)
        cdef Transfer spare
        cdef Transfer* p = &spare
        cdef uint8_t[::1] dst
        if out.shape[0] != 0:
            dst = out.view(np.uint8).reshape(-1)
            p = <Transfer*>&dst[0]
        cdef size_t n = self.m.ledger().query_transfers(f, p)
        return out[:n].copy() if n < <size_t>out.shape[0] else out

    # ---- state ---------------------------------------------------------------
    def state_hash(self):
        self._enter()
        return self.m.state_hash()

    def snapshot(self):
        self._enter()
        return self.m.snapshot()

    @classmethod
    def restore(cls, data):
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef LedgerBase out = <LedgerBase>cls.__new__(cls)
        if view.shape[0] == 0:
            raise ValueError("corrupt ledger machine snapshot: empty")
        out.m = machine_restore(&view[0], view.shape[0]).release()
        return out

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),))
