# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the ledger core. Translation only: argument checks, GIL handling
and conversions between Python ints / numpy records and the C++ records;
behaviour lives in C++ and the thin Python layer (shanraq_core.ledger)."""

cimport cython
from cpython.bool cimport PyBool_Check
from cpython.long cimport PyLong_Check
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.tuple cimport PyTuple_GET_ITEM
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset
from libcpp.string cimport string

import numpy as np

DEF U64_MAX = 0xFFFFFFFFFFFFFFFF

cdef extern from "Python.h":
    # Declared without Cython's automatic error check: _u64 turns its
    # OverflowError into the ValueError our API promises.
    unsigned long long PyLong_AsUnsignedLongLong(object) noexcept
    # Reads an int's digits in a loop (no byte-array round trip) and reports
    # overflow out of band; cannot fail for an int.
    long long PyLong_AsLongLongAndOverflow(object, int*) noexcept

# numpy mirrors of the C++ records (cpp/include/shanraq/ledger/types.hpp),
# field for field and byte for byte. numpy has no 128-bit integer, so
# user_data_128 is two little-endian 64-bit words.
ACCOUNT_DTYPE = np.dtype([
    ("id", "<u8"), ("debits_pending", "<u8"), ("debits_posted", "<u8"),
    ("credits_pending", "<u8"), ("credits_posted", "<u8"),
    ("user_data_128_lo", "<u8"), ("user_data_128_hi", "<u8"), ("user_data_64", "<u8"),
    ("user_data_32", "<u4"), ("reserved", "<u4"), ("ledger", "<u4"), ("code", "<u2"), ("flags", "<u2"),
    ("timestamp", "<u8"), ("limit", "<u8"),
])
TRANSFER_DTYPE = np.dtype([
    ("id", "<u8"), ("debit_account_id", "<u8"), ("credit_account_id", "<u8"), ("amount", "<u8"),
    ("pending_id", "<u8"), ("user_data_128_lo", "<u8"), ("user_data_128_hi", "<u8"), ("user_data_64", "<u8"),
    ("user_data_32", "<u4"), ("ledger", "<u4"), ("code", "<u2"), ("flags", "<u2"), ("reserved", "<u4"),
    ("timeout", "<u8"), ("timestamp", "<u8"),
])
ACCOUNT_BALANCE_DTYPE = np.dtype([
    ("timestamp", "<u8"), ("debits_pending", "<u8"), ("debits_posted", "<u8"),
    ("credits_pending", "<u8"), ("credits_posted", "<u8"),
])
assert ACCOUNT_DTYPE.itemsize == sizeof(Account)
assert TRANSFER_DTYPE.itemsize == sizeof(Transfer)
assert ACCOUNT_BALANCE_DTYPE.itemsize == sizeof(AccountBalance)
_RESULTS_DTYPE = np.dtype(np.uint32)


class CapacityError(RuntimeError):
    """A command needs more records than the ledger's capacities allow.
    Raised before the command runs: nothing was applied."""


# Result enums and record types are defined by the Python layer and registered
# here, so a result is returned as an enum member by a tuple index (no enum
# lookup on the per-call path).
cdef tuple _account_results = ()
cdef tuple _transfer_results = ()
cdef tuple _limit_results = ()
cdef object _account_type = None
cdef object _transfer_type = None


def _register(account_results, transfer_results, limit_results, account_type, transfer_type):
    global _account_results, _transfer_results, _limit_results, _account_type, _transfer_type

    def table(enum):
        out = [None] * (max(int(m) for m in enum) + 1)
        for m in enum:
            out[int(m)] = m
        return tuple(out)

    _account_results = table(account_results)
    _transfer_results = table(transfer_results)
    _limit_results = table(limit_results)
    _account_type = account_type
    _transfer_type = transfer_type


cdef inline object _result(tuple table, uint32_t code):
    if code < <uint32_t>len(table):
        m = <object>PyTuple_GET_ITEM(table, code)
        if m is not None:
            return m
    raise SystemError(f"ledger core returned unknown result code {code}")


cdef uint64_t _u64_slow(object v, str what, uint64_t maximum) except? U64_MAX:
    if PyBool_Check(v) or not hasattr(type(v), "__index__"):
        raise TypeError(f"{what} must be an integer, not {type(v).__name__}")
    i = v.__index__()
    if i < 0 or i > maximum:
        raise ValueError(f"{what} must be in 0..{maximum}, got {i}")
    return <uint64_t>i


cdef inline uint64_t _u64(object v, str what) except? U64_MAX:
    """v as u64: ValueError if negative or >= 2^64, TypeError if not an integer.

    The per-call path converts a dozen of these per transfer.
    PyLong_AsUnsignedLongLong goes through _PyLong_AsByteArray for any int of
    two 30-bit digits or more (every time-ordered id), and a try/except
    around Cython's conversion saves and restores the exception state each
    time (callgrind: ~66 instructions per conversion); this reads the digits
    once and needs neither below 2^63."""
    cdef int overflow = 0
    cdef long long s
    cdef uint64_t r
    if PyLong_Check(v) and not PyBool_Check(v):  # int, IntEnum, IntFlag
        s = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow == 0 and s >= 0:
            return <uint64_t>s
        if overflow > 0:  # 2^63 and above
            r = PyLong_AsUnsignedLongLong(v)
            if not (r == U64_MAX and PyErr_Occurred() != NULL):
                return r
            PyErr_Clear()
        raise ValueError(f"{what} must be in 0..{U64_MAX}, got {v}")
    return _u64_slow(v, what, U64_MAX)


cdef object _ZERO = 0


cdef inline uint64_t _u64d(object v, str what) except? U64_MAX:
    """_u64 for an argument that is usually left at its default 0: that
    object (CPython's cached small int, which any 0 the caller passes is too)
    by identity, without the call (~40 instructions per argument)."""
    if v is _ZERO:
        return 0
    return _u64(v, what)


cdef inline uint64_t _bounded(object v, str what, uint64_t maximum) except? U64_MAX:
    if v is _ZERO:
        return 0
    cdef uint64_t r = _u64(v, what)
    if r > maximum:
        raise ValueError(f"{what} must be in 0..{maximum}, got {v}")
    return r


cdef inline int _u128(object v, uint64_t* out) except -1:
    # The default (CPython's cached small int 0) by identity: no comparison.
    if v is _ZERO:
        out[0] = 0
        out[1] = 0
        return 0
    if PyBool_Check(v) or not hasattr(type(v), "__index__"):
        raise TypeError(f"user_data_128 must be an integer, not {type(v).__name__}")
    i = v.__index__()
    if i < 0 or i >> 128:
        raise ValueError(f"user_data_128 must be in 0..2**128-1, got {i}")
    out[0] = <uint64_t>(i & U64_MAX)
    out[1] = <uint64_t>(i >> 64)
    return 0


cdef inline object _join128(const uint64_t* w):
    if w[1] == 0:
        return w[0]
    return (<object>w[1] << 64) | w[0]


cdef object _records(object array, object dtype, str what):
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what} must be a numpy array of {what.upper()}_DTYPE, not {type(array).__name__}")
    if array.dtype != dtype:
        raise TypeError(f"{what} must have dtype shanraq_core.{what.upper()}_DTYPE, got {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    return np.ascontiguousarray(array)


cdef class LedgerBase:
    """C++ ledger holder; use shanraq_core.Ledger."""

    def __cinit__(self, *args, **kwargs):
        self.l = NULL

    def __init__(self, accounts_capacity=1 << 20, transfers_capacity=1 << 23, history_capacity=1 << 20,
                 idempotency_window=0, archive_capacity=0):
        cdef LedgerCapacity cap
        cap.accounts = <uint32_t>_bounded(accounts_capacity, "accounts_capacity", 0x7FFFFFFF)
        cap.transfers = <uint32_t>_bounded(transfers_capacity, "transfers_capacity", 0x7FFFFFFF)
        cap.history = <uint32_t>_bounded(history_capacity, "history_capacity", 0x7FFFFFFF)
        cap.idempotency_window = _bounded(idempotency_window, "idempotency_window", 0x7FFFFFFFFFFFFFFF)
        cap.archive = <uint32_t>_bounded(archive_capacity, "archive_capacity", 0x7FFFFFFF)
        if self.l != NULL:
            raise RuntimeError("Ledger is already initialised")
        self.l = new Ledger(cap)

    def __dealloc__(self):
        del self.l

    cdef int _check(self) except -1:
        if self.l == NULL:
            raise RuntimeError("ledger is not initialised")
        return 0

    # ---- configuration and counters -----------------------------------------
    @property
    def accounts_capacity(self):
        self._check()
        return self.l.capacity().accounts

    @property
    def transfers_capacity(self):
        self._check()
        return self.l.capacity().transfers

    @property
    def history_capacity(self):
        self._check()
        return self.l.capacity().history

    @property
    def idempotency_window(self):
        self._check()
        return self.l.capacity().idempotency_window

    @property
    def archive_capacity(self):
        self._check()
        return self.l.capacity().archive

    @property
    def archived_count(self):
        self._check()
        return self.l.archived_count()

    @property
    def account_count(self):
        self._check()
        return self.l.account_count()

    @property
    def transfer_count(self):
        self._check()
        return self.l.transfer_count()

    @property
    def history_count(self):
        self._check()
        return self.l.history_count()

    @property
    def last_timestamp(self):
        self._check()
        return self.l.last_timestamp()

    @property
    def memory_bytes(self):
        self._check()
        return self.l.memory_bytes()

    def prefault(self):
        self._check()
        with nogil:
            self.l.prefault()

    # ---- per-call commands ---------------------------------------------------
    def create_account(self, id, ledger, code, *, flags=0, user_data_128=0, user_data_64=0, user_data_32=0,
                       limit=0, now=0):
        cdef Account a
        cdef uint32_t r
        self._check()
        memset(&a, 0, sizeof(a))
        a.id = _u64(id, "id")
        a.ledger = <uint32_t>_bounded(ledger, "ledger", 0xFFFFFFFF)
        a.code = <uint16_t>_bounded(code, "code", 0xFFFF)
        a.flags = <uint16_t>_bounded(flags, "flags", 0xFFFF)
        _u128(user_data_128, a.user_data_128)
        a.user_data_64 = _bounded(user_data_64, "user_data_64", U64_MAX)
        a.user_data_32 = <uint32_t>_bounded(user_data_32, "user_data_32", 0xFFFFFFFF)
        a.limit = _bounded(limit, "limit", U64_MAX)
        cdef uint64_t t = _bounded(now, "now", U64_MAX)
        try:
            r = <uint32_t>self.l.create_account(a, t)
        except RuntimeError as e:
            raise CapacityError(str(e)) from None
        return _result(_account_results, r)

    def transfer(self, id, debit_account_id, credit_account_id, amount, ledger=0, code=0, *, flags=0,
                 pending_id=0, timeout=0, user_data_128=0, user_data_64=0, user_data_32=0, now=0):
        cdef Transfer x
        cdef uint32_t r
        if self.l == NULL:
            self._check()
        x.id = _u64(id, "id")
        x.debit_account_id = _u64(debit_account_id, "debit_account_id")
        x.credit_account_id = _u64(credit_account_id, "credit_account_id")
        x.pending_id = _u64d(pending_id, "pending_id")
        # The map slots are DRAM misses on a large ledger: start them now, so
        # they load while the other arguments are converted, and the records
        # they name just before the call (docs/perf_ledger.md).
        self.l.prefetch_transfer(x.id, x.debit_account_id, x.credit_account_id, x.pending_id)
        x.amount = _u64(amount, "amount")
        x.ledger = <uint32_t>_bounded(ledger, "ledger", 0xFFFFFFFF)
        x.code = <uint16_t>_bounded(code, "code", 0xFFFF)
        x.flags = <uint16_t>_bounded(flags, "flags", 0xFFFF)
        x.timeout = _u64d(timeout, "timeout")
        _u128(user_data_128, x.user_data_128)
        x.user_data_64 = _u64d(user_data_64, "user_data_64")
        x.user_data_32 = <uint32_t>_bounded(user_data_32, "user_data_32", 0xFFFFFFFF)
        x.reserved = 0
        x.timestamp = 0
        cdef uint64_t t = _u64d(now, "now")
        self.l.prefetch_transfer_records(x.debit_account_id, x.credit_account_id, x.pending_id)
        try:
            r = <uint32_t>self.l.create_transfer(x, t)
        except RuntimeError as e:
            raise CapacityError(str(e)) from None
        return _result(_transfer_results, r)

    def set_account_limit(self, id, limit):
        self._check()
        cdef uint64_t i = _u64(id, "id")
        cdef uint64_t lim = _u64(limit, "limit")
        return _result(_limit_results, <uint32_t>self.l.set_account_limit(i, lim))

    def expire_pending_transfers(self, now):
        self._check()
        return self.l.expire_pending_transfers(_u64(now, "now"))

    def evict(self):
        self._check()
        return self.l.evict()

    def drain_evicted(self, max=None):
        self._check()
        cdef size_t n = self.l.archived_count()
        if max is not None:
            n = min(n, <size_t>_u64(max, "max"))
        out = np.zeros(n, dtype=TRANSFER_DTYPE)
        if n == 0:
            return out
        cdef uint8_t[::1] dst = out.view(np.uint8).reshape(-1)
        n = self.l.drain_evicted(<Transfer*>&dst[0], n)
        return out

    # ---- batch commands ------------------------------------------------------
    def create_accounts(self, accounts, now=0):
        self._check()
        arr = _records(accounts, ACCOUNT_DTYPE, "account")
        cdef uint64_t t = _u64(now, "now")
        cdef size_t n = arr.shape[0]
        results = np.empty(n, dtype=_RESULTS_DTYPE)
        if n == 0:
            return results
        cdef const uint8_t[::1] src = arr.view(np.uint8).reshape(-1)
        cdef uint32_t[::1] dst = results
        cdef const Account* p = <const Account*>&src[0]
        # Safe without the GIL: we hold views of both buffers for the whole
        # call, and the ledger is single-writer (documented: one thread at a time).
        try:
            with nogil:
                self.l.create_accounts(p, n, t, &dst[0])
        except RuntimeError as e:
            raise CapacityError(str(e)) from None
        return results

    def create_transfers(self, transfers, now=0):
        self._check()
        arr = _records(transfers, TRANSFER_DTYPE, "transfer")
        cdef uint64_t t = _u64(now, "now")
        cdef size_t n = arr.shape[0]
        results = np.empty(n, dtype=_RESULTS_DTYPE)
        if n == 0:
            return results
        cdef const uint8_t[::1] src = arr.view(np.uint8).reshape(-1)
        cdef uint32_t[::1] dst = results
        cdef const Transfer* p = <const Transfer*>&src[0]
        # Safe without the GIL: as in create_accounts.
        try:
            with nogil:
                self.l.create_transfers(p, n, t, &dst[0])
        except RuntimeError as e:
            raise CapacityError(str(e)) from None
        return results

    # ---- queries -------------------------------------------------------------
    def lookup_account(self, id):
        self._check()
        cdef Account a
        if not self.l.lookup_account(_u64(id, "id"), a):
            return None
        return _account_type(
            a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
            _join128(a.user_data_128), a.user_data_64, a.user_data_32, a.ledger, a.code, a.flags,
            a.timestamp, a.limit)

    def lookup_transfer(self, id):
        self._check()
        cdef Transfer x
        if not self.l.lookup_transfer(_u64(id, "id"), x):
            return None
        return _transfer_type(
            x.id, x.debit_account_id, x.credit_account_id, x.amount, x.pending_id,
            _join128(x.user_data_128), x.user_data_64, x.user_data_32, x.timeout, x.ledger, x.code,
            x.flags, x.timestamp, x.reserved)

    def balance(self, id):
        self._check()
        cdef Account a
        if not self.l.lookup_account(_u64(id, "id"), a):
            raise KeyError(id)
        # flags bit 2: credits_must_not_exceed_debits (a credit-limited account).
        if a.flags & 4:
            return <object>a.debits_posted + a.limit - a.credits_posted - a.credits_pending
        # flags bit 1: debits_must_not_exceed_credits; the limit applies only then.
        return (<object>a.credits_posted + (a.limit if a.flags & 2 else 0)
                - a.debits_posted - a.debits_pending)

    def account_history(self, id, since=0, until=None, limit=None):
        self._check()
        cdef uint64_t i = _u64(id, "id")
        cdef uint64_t lo = _u64(since, "since")
        cdef uint64_t hi = U64_MAX if until is None else _u64(until, "until")
        cdef size_t count = self.l.account_history(i, lo, hi, NULL, 0)
        cdef size_t n = count
        if limit is not None:
            n = min(count, <size_t>_u64(limit, "limit"))
        out = np.zeros(n, dtype=ACCOUNT_BALANCE_DTYPE)
        if n == 0:
            return out
        cdef uint8_t[::1] dst = out.view(np.uint8).reshape(-1)
        self.l.account_history(i, lo, hi, <AccountBalance*>&dst[0], n)
        return out

    # ---- state ---------------------------------------------------------------
    def state_hash(self):
        self._check()
        return self.l.state_hash()

    def snapshot(self):
        self._check()
        return self.l.snapshot()

    @classmethod
    def restore(cls, data):
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef LedgerBase out = <LedgerBase>cls.__new__(cls)
        if view.shape[0] == 0:
            raise ValueError("corrupt ledger snapshot: empty")
        out.l = ledger_restore(&view[0], view.shape[0]).release()
        return out

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),))
