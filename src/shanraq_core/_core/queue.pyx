# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the ring core (SpscRing, MpscRing, MpmcRing). Translation only:
argument checks, record conversion, GIL handling, timeouts in slices and error
mapping; behaviour lives in C++ and in the thin Python layer
(shanraq_core.queue)."""

cimport cython

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_FillInfo, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from libcpp cimport bool as cbool
from libcpp.string cimport string

from shanraq_core._core.glue cimport Captured, raise_captured

import ast
import math
import operator

import numpy as np
from numpy.lib.format import descr_to_dtype

cdef extern from "shanraq/common/clock.hpp" namespace "shanraq" nogil:
    int64_t monotonic_ns() noexcept

# The ring calls run without the GIL; queue_glue.hpp catches their C++
# exceptions (Captured) and the binding raises them, translated by glue.hpp,
# once the GIL is held again.
cdef extern from "queue_glue.hpp":
    int b_push "shq::queue_calls::push"[R](R*, const void*, long long, Captured*) noexcept nogil
    int b_pop "shq::queue_calls::pop"[R](R*, void*, long long, Captured*) noexcept nogil
    long long b_push_many "shq::queue_calls::push_many"[R](R*, const void*, size_t, long long, Captured*) noexcept nogil
    long long b_pop_many "shq::queue_calls::pop_many"[R](R*, void*, size_t, long long, Captured*) noexcept nogil
    R* b_make "shq::queue_calls::make"[R](size_t, size_t, WaitStrategy, Captured*) noexcept nogil
    R* b_create "shq::queue_calls::create"[R](const string&, const RingLayout&, WaitStrategy, cbool, Captured*) noexcept nogil
    R* b_attach "shq::queue_calls::attach"[R](const string&, const RingLayout&, WaitStrategy, Captured*) noexcept nogil
    long long b_peek "shq::queue_calls::peek"[R](R*, size_t, long long, RecordSpan*, Captured*) noexcept nogil
    void b_release_quietly "shq::queue_calls::release_quietly"[R](R*, size_t) noexcept nogil
    int b_unlink "shq::queue_calls::unlink"(const string&, Captured*) noexcept nogil
    int b_cleanup_stale "shq::queue_calls::cleanup_stale"(const string&, Captured*) noexcept nogil
    cbool b_is_closed "shq::queue_calls::is_closed"(const Captured*) noexcept


from shanraq_core.errors import (  # noqa: F401 (re-exported: shanraq_core.queue takes them from here)
    AlreadyExists, Closed, LayoutMismatch, PeerDead, ProducerDied, QueueError)



_WAITS = {"blocking": <int>kBlocking, "yield": <int>kYield, "spin": <int>kBusySpin}
# Longest stretch spent without the GIL in one blocking call, so Ctrl-C (and
# other Python signal handlers) run within about this long.
cdef int64_t _SLICE_NS = 50_000_000


cdef enum _Op:
    _OP_PUSH
    _OP_POP
    _OP_PUSH_MANY
    _OP_POP_MANY
    _OP_PEEK


cdef inline long long _ring_call(SpscRing* s, MpscRing* m, MpmcRing* c, _Op op, char* p, size_t n, int64_t ns,
                                 RecordSpan* span, Captured* err) noexcept nogil:
    """One ring operation on whichever ring the handle holds (MpmcRing has no
    peek: pop_view refuses it before it gets here)."""
    if s != NULL:
        if op == _OP_PUSH:
            return b_push[SpscRing](s, p, ns, err)
        if op == _OP_POP:
            return b_pop[SpscRing](s, p, ns, err)
        if op == _OP_PUSH_MANY:
            return b_push_many[SpscRing](s, p, n, ns, err)
        if op == _OP_POP_MANY:
            return b_pop_many[SpscRing](s, p, n, ns, err)
        return b_peek[SpscRing](s, n, ns, span, err)
    if m != NULL:
        if op == _OP_PUSH:
            return b_push[MpscRing](m, p, ns, err)
        if op == _OP_POP:
            return b_pop[MpscRing](m, p, ns, err)
        if op == _OP_PUSH_MANY:
            return b_push_many[MpscRing](m, p, n, ns, err)
        if op == _OP_POP_MANY:
            return b_pop_many[MpscRing](m, p, n, ns, err)
        return b_peek[MpscRing](m, n, ns, span, err)
    if op == _OP_PUSH:
        return b_push[MpmcRing](c, p, ns, err)
    if op == _OP_POP:
        return b_pop[MpmcRing](c, p, ns, err)
    if op == _OP_PUSH_MANY:
        return b_push_many[MpmcRing](c, p, n, ns, err)
    return b_pop_many[MpmcRing](c, p, n, ns, err)


cdef int64_t _timeout_ns(object timeout) except -2:
    """None -> -1 (forever); seconds (int or float) -> ns (>= 0)."""
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    t = float(timeout)
    if math.isnan(t) or t < 0.0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    if t > 1e9:
        return -1
    return <int64_t>(t * 1e9)


cdef Py_ssize_t _count(object value, str what) except -1:
    """A non-negative integer argument (max_n): TypeError for a non-integer
    (3.5, "3", True), ValueError below 0."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, not bool")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None
    if n < 0:
        raise ValueError(f"{what} must be >= 0, got {n}")
    return n


cdef size_t _capacity(object capacity) except 0:
    """A ring capacity: an integer power of two in [1, 2**30]."""
    if isinstance(capacity, bool):
        raise TypeError("capacity must be an integer, not bool")
    try:
        cap = operator.index(capacity)
    except TypeError:
        raise TypeError(f"capacity must be an integer, not {type(capacity).__name__}") from None
    if cap < 1 or cap & (cap - 1) or cap > (1 << 30):
        raise ValueError(f"capacity must be a power of two in [1, 2**30], got {capacity!r}")
    return cap


def _descr_of(dtype) -> str:
    """Text stored in the segment header that attach() turns back into the dtype."""
    if dtype.fields is None:
        return dtype.str
    try:
        return repr(dtype.descr)
    except ValueError:
        # Overlapping fields (alias views, such as BOOK_COMMAND_DTYPE's symbol
        # spec over its order fields) have no descr: store the names/offsets
        # form, which np.dtype takes back as it is.
        names = list(dtype.names)
        formats = [dtype.fields[n][0].str if dtype.fields[n][0].fields is None else dtype.fields[n][0].descr
                   for n in names]
        return repr({"names": names, "formats": formats, "offsets": [dtype.fields[n][1] for n in names],
                     "itemsize": dtype.itemsize})


def _dtype_from_descr(text):
    if text.startswith("{"):
        return np.dtype(ast.literal_eval(text))
    if text.startswith("["):
        # descr_to_dtype, not np.dtype: it turns descr's unnamed void entries
        # back into padding, so a padded dtype comes back equal
        # to the creator's instead of gaining fields named f15, ...
        return descr_to_dtype(ast.literal_eval(text))
    return np.dtype(text)


def _as_dtype(dtype):
    """(record_size, numpy dtype or None) from a dtype-like or a byte count."""
    if isinstance(dtype, bool):
        raise TypeError("dtype must be a numpy dtype or a record size in bytes, not bool")
    if isinstance(dtype, (int, np.integer)):
        n = int(dtype)
        if n < 1:
            raise ValueError(f"record size must be >= 1 byte, got {n}")
        return n, None
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a numpy dtype or a record size in bytes, not {dtype!r}") from exc
    if dt.hasobject:
        raise TypeError(f"dtype {dt} holds Python objects; rings carry plain bytes only")
    if dt.itemsize == 0:
        raise TypeError(f"dtype {dt} has no size")
    return dt.itemsize, dt


cdef WaitStrategy _wait_of(object wait) except *:
    cdef int code
    try:
        code = _WAITS[wait]
    except (KeyError, TypeError):
        raise ValueError(f"wait must be one of {sorted(_WAITS)}, got {wait!r}") from None
    return <WaitStrategy>code


# no_gc_clear: in a garbage cycle the collector clears objects in any order;
# clearing `ring` here first would leave __dealloc__ nothing to release the
# slots through, and the ring would stay leased for good. The lease never
# references anything that references it back, so keeping `ring` cannot
# keep a cycle alive: another member of the cycle breaks it.
@cython.no_gc_clear
cdef class _Lease:
    """The ring slots behind one pop_view() array. They stay the consumer's
    (producers cannot overwrite them) until this object dies, which CPython
    does when the last array, slice or view on them is gone; then they are
    released in one step."""

    cdef _RingCore ring
    cdef const char* data
    cdef size_t count
    cdef Py_ssize_t nbytes

    def __getbuffer__(self, Py_buffer* buf, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("pop_view() arrays are read-only: the records live in the ring")
        PyBuffer_FillInfo(buf, self, <void*>self.data, self.nbytes, 1, flags)

    def __releasebuffer__(self, Py_buffer* buf):
        pass

    def __dealloc__(self):
        if self.ring is not None:
            self.ring._end_lease(self.count)


cdef long long _wait_sliced(_RingCore ring, _Op op, char* p, size_t n, int64_t t, RecordSpan* span) except -1:
    """Repeats `op` on `ring` without the GIL in slices of at most
    _SLICE_NS, checking for signals (Ctrl-C) between slices, until it moves a
    record (for _OP_PUSH_MANY: until all n are in), or `t` ns pass (t < 0:
    forever; t == 0: one non-waiting try). Returns the records moved, 0 on
    timeout."""
    cdef Captured err
    cdef long long r
    cdef size_t done = 0
    cdef int64_t slice_ns
    cdef int64_t deadline = monotonic_ns() + t if t > 0 else 0
    cdef bint accumulate = op == _OP_PUSH_MANY
    while True:
        slice_ns = 0 if t == 0 else _SLICE_NS
        if t > 0:
            slice_ns = min(slice_ns, max(deadline - monotonic_ns(), <int64_t>1))
        # Safe without the GIL: every caller passes a buffer its frame keeps
        # alive and no one else writes (a private bytes copy, a held view of
        # a contiguous array, or a new array no one else has seen); the C++
        # ring is built for concurrent producers and a consumer; and `ring`
        # stays alive while the caller references it.
        with nogil:
            r = _ring_call(ring.s, ring.m, ring.c, op, p + done * ring.rsize, n - done, slice_ns, span, &err)
        if r < 0:
            if accumulate and done and b_is_closed(&err):
                return <long long>done
            raise_captured(&err)
        if accumulate:
            done += <size_t>r
            if done == n or t == 0:
                return <long long>done
        elif r > 0 or t == 0:
            return r
        PyErr_CheckSignals()
        if t > 0 and monotonic_ns() >= deadline:
            return <long long>done


# No generated pickling: shanraq_core.queue's classes pickle shared rings by
# name (their __reduce__ must not be shadowed by a generated one).
@cython.auto_pickle(False)
cdef class _RingCore:
    """C++ ring holder; use shanraq_core.SpscRing, MpscRing or MpmcRing."""

    def __cinit__(self, *args, **kwargs):
        self.s = NULL
        self.m = NULL
        self.c = NULL
        self.ring = NULL
        self._dtype = None
        self._scratch = None
        self._leased = False

    def __dealloc__(self):
        # Through its own type: the C++ rings have no virtual destructor.
        del self.s
        del self.m
        del self.c

    cdef int _check(self) except -1:
        if self.ring == NULL:
            raise RuntimeError("ring is not initialised")
        return 0

    # ---- construction ----------------------------------------------------------
    cdef _setup(self, object dt, object wait):
        if self.s != NULL:
            self.ring = self.s
        elif self.m != NULL:
            self.ring = self.m
        else:
            self.ring = self.c
        self._dtype = dt
        self._wait = wait
        self.rsize = self.ring.record_size()
        if dt is not None:
            self._scratch = np.zeros(1, dt)

    cdef int _check_kind(self, int kind) except -1:
        if self.ring != NULL:
            raise RuntimeError("ring is already initialised")
        if (kind == 3) != isinstance(self, MpmcRingBase) or kind not in (1, 2, 3):
            raise TypeError(f"ring kind {kind} does not match {type(self).__name__}")
        return 0

    def _init_local(self, int kind, capacity, dtype, wait):
        cdef Captured err
        self._check_kind(kind)
        cdef size_t cap = _capacity(capacity)
        rsize, dt = _as_dtype(dtype)
        cdef WaitStrategy w = _wait_of(wait)
        if kind == 1:
            self.s = b_make[SpscRing](rsize, cap, w, &err)
        elif kind == 2:
            self.m = b_make[MpscRing](rsize, cap, w, &err)
        else:
            self.c = b_make[MpmcRing](rsize, cap, w, &err)
        if self.s == NULL and self.m == NULL and self.c == NULL:
            raise_captured(&err)
        self._setup(dt, wait)

    def _init_shared(self, int kind, bint create, name, capacity, dtype, wait, bint replace_stale):
        cdef Captured err
        cdef RingLayout layout
        self._check_kind(kind)
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, not {type(name).__name__}")
        cdef WaitStrategy w = _wait_of(wait)
        cdef string cname = name.encode()
        dt = None
        if create:
            layout.capacity = _capacity(capacity)
            rsize, dt = _as_dtype(dtype)
            layout.record_size = rsize
            layout.dtype = (_descr_of(dt) if dt is not None else "").encode()
        else:
            layout.record_size = 0
            layout.capacity = 0 if capacity is None else _capacity(capacity)
            if dtype is not None:
                rsize, dt = _as_dtype(dtype)
                layout.record_size = rsize
                if dt is not None:
                    layout.dtype = _descr_of(dt).encode()
        with nogil:
            # Without the GIL: attach may wait (up to 1 s) for a creator
            # that is still initialising the segment. No Python state is used.
            if kind == 1:
                self.s = b_create[SpscRing](cname, layout, w, replace_stale, &err) if create else \
                    b_attach[SpscRing](cname, layout, w, &err)
            elif kind == 2:
                self.m = b_create[MpscRing](cname, layout, w, replace_stale, &err) if create else \
                    b_attach[MpscRing](cname, layout, w, &err)
            else:
                self.c = b_create[MpmcRing](cname, layout, w, replace_stale, &err) if create else \
                    b_attach[MpmcRing](cname, layout, w, &err)
        if self.s == NULL and self.m == NULL and self.c == NULL:
            raise_captured(&err)
        self._setup(None, wait)
        if not create:
            descr = self.dtype_descr
            dt = _dtype_from_descr(descr) if descr else None
        self._setup(dt, wait)

    # ---- metadata ----------------------------------------------------------------
    @property
    def capacity(self) -> int:
        self._check()
        return self.ring.capacity()

    @property
    def record_size(self) -> int:
        self._check()
        return self.rsize

    @property
    def dtype(self):
        return self._dtype

    @property
    def wait(self) -> str:
        return self._wait

    @property
    def dtype_descr(self) -> str:
        self._check()
        cdef string_view v = self.ring.dtype()
        return v.data()[:v.size()].decode()

    @property
    def name(self):
        self._check()
        cdef string n = self.ring.name()
        return n.decode() if n.size() else None

    @property
    def shared(self) -> bool:
        self._check()
        return self.ring.shared()

    @property
    def owner(self) -> bool:
        self._check()
        return self.ring.owner()

    @property
    def owner_pid(self) -> int:
        self._check()
        return self.ring.owner_pid()

    @property
    def lost(self) -> int:
        self._check()
        return self.ring.lost()

    @property
    def closed(self) -> bool:
        self._check()
        return self.ring.closed()

    @property
    def sleeping_consumers(self) -> int:
        self._check()
        return self.ring.sleeping_consumers()

    @property
    def sleeping_producers(self) -> int:
        self._check()
        return self.ring.sleeping_producers()

    def __len__(self):
        self._check()
        return self.ring.size()

    def close(self):
        self._check()
        self.ring.close()

    # ---- records -----------------------------------------------------------------
    cdef object _record_source(self, object record):
        """An object whose buffer holds the record's bytes."""
        dt = self._dtype
        if PyBytes_Check(record) or isinstance(record, (bytearray, memoryview)):
            return record
        if dt is None:
            raise TypeError(f"this ring carries raw {self.rsize}-byte records: push bytes, "
                            f"not {type(record).__name__}")
        if isinstance(record, np.void):
            if record.dtype is not dt and record.dtype != dt:
                raise TypeError(f"record dtype {record.dtype} differs from the ring's dtype {dt}")
            return record
        if isinstance(record, np.ndarray):
            raise TypeError("push one record (arr[i], a tuple or bytes); use push_many for arrays")
        # A tuple of field values (or a scalar for a plain dtype): numpy
        # converts it, raising TypeError/ValueError if it does not fit.
        self._scratch[0] = record
        return self._scratch

    cdef int _push(self, object record, int64_t timeout_ns) except -1:
        """1 pushed, 0 timed out."""
        cdef Py_buffer view
        cdef const char* p
        cdef Captured err
        cdef int r
        self._check()
        if PyBytes_Check(record):
            src = record
            if <size_t>PyBytes_GET_SIZE(record) != self.rsize:
                raise ValueError(f"record is {PyBytes_GET_SIZE(record)} bytes; this ring's records are "
                                 f"{self.rsize} bytes")
        else:
            src = self._record_source(record)
            PyObject_GetBuffer(src, &view, PyBUF_SIMPLE)
            try:
                if <size_t>view.len != self.rsize:
                    raise ValueError(f"record is {view.len} bytes; this ring's records are {self.rsize} bytes")
                # A private immutable copy: the scratch array and a caller's
                # bytearray may change while we wait without the GIL.
                src = PyBytes_FromStringAndSize(<const char*>view.buf, view.len)
            finally:
                PyBuffer_Release(&view)
        p = PyBytes_AS_STRING(src)
        # The first attempt never waits, so it keeps the GIL.
        r = <int>_ring_call(self.s, self.m, self.c, _OP_PUSH, <char*>p, 1, 0, NULL, &err)
        if r < 0:
            raise_captured(&err)
        if r == 1 or timeout_ns == 0:
            return r
        return <int>_wait_sliced(self, _OP_PUSH, <char*>p, 1, timeout_ns, NULL)

    def try_push(self, record) -> bool:
        return self._push(record, 0) == 1

    def push(self, record, timeout=None):
        if self._push(record, _timeout_ns(timeout)) == 0:
            raise TimeoutError(f"ring stayed full for {timeout} s")

    cdef object _wrap(self, object raw):
        if self._dtype is None:
            return raw
        # A read-only record viewing the bytes we popped into: no second copy.
        return np.frombuffer(raw, self._dtype)[0]

    cdef object _pop(self, int64_t timeout_ns):
        """The record, or None on timeout / empty."""
        cdef Captured err
        cdef int r
        self._check()
        self._check_not_leased()
        out = PyBytes_FromStringAndSize(NULL, self.rsize)
        cdef char* p = PyBytes_AS_STRING(out)
        # The first attempt never waits, so it keeps the GIL.
        r = <int>_ring_call(self.s, self.m, self.c, _OP_POP, p, 1, 0, NULL, &err)
        if r < 0:
            raise_captured(&err)
        if r == 0 and timeout_ns != 0:
            r = <int>_wait_sliced(self, _OP_POP, p, 1, timeout_ns, NULL)
        return self._wrap(out) if r == 1 else None

    def try_pop(self):
        return self._pop(0)

    def pop(self, timeout=None):
        rec = self._pop(_timeout_ns(timeout))
        if rec is None:
            raise TimeoutError(f"ring stayed empty for {timeout} s")
        return rec

    # ---- batches -----------------------------------------------------------------
    cdef object _as_records(self, object records):
        """A C-contiguous numpy array of records in the ring's layout."""
        dt = self._dtype
        if isinstance(records, (bytes, bytearray, memoryview)) and dt is None:
            arr = np.frombuffer(records, np.uint8)
            if arr.size % self.rsize:
                raise ValueError(f"{arr.size} bytes is not a whole number of {self.rsize}-byte records")
            return arr
        arr = np.asarray(records)
        if dt is not None:
            if arr.dtype != dt:
                raise TypeError(f"records dtype {arr.dtype} differs from the ring's dtype {dt}")
        elif arr.dtype.itemsize != self.rsize and not (arr.dtype == np.uint8 and arr.ndim == 2
                                                        and arr.shape[1] == self.rsize):
            raise TypeError(f"records of {arr.dtype.itemsize} bytes do not fit this ring's "
                            f"{self.rsize}-byte records")
        if arr.dtype.hasobject:
            raise TypeError("records must not hold Python objects")
        return np.ascontiguousarray(arr)

    def push_many(self, records, timeout=0.0) -> int:
        cdef int64_t t = _timeout_ns(timeout)
        cdef size_t n
        cdef const unsigned char[::1] buf
        self._check()
        arr = self._as_records(records)
        n = <size_t>(arr.nbytes // self.rsize)
        if n == 0:
            return 0
        buf = arr.reshape(-1).view(np.uint8)
        cdef const unsigned char* p = &buf[0]
        # `buf` is a view this frame holds on a contiguous array (our copy, or
        # the caller's, which the caller must not resize during the call).
        return _wait_sliced(self, _OP_PUSH_MANY, <char*>p, n, t, NULL)

    def pop_many(self, max_n, timeout=None):
        cdef long long r
        cdef int64_t t = _timeout_ns(timeout)
        cdef size_t n
        self._check()
        self._check_not_leased()
        n = <size_t>_count(max_n, "max_n")
        dt = self._dtype if self._dtype is not None else np.dtype((np.void, self.rsize))
        out = np.empty(n, dt)
        if n == 0:
            return out
        cdef unsigned char[::1] buf = out.view(np.uint8)
        cdef unsigned char* p = &buf[0]
        # `out` is a new array only this frame references.
        r = _wait_sliced(self, _OP_POP_MANY, <char*>p, n, t, NULL)
        if <size_t>r == n:
            return out
        # Copy out the filled part rather than pin the whole buffer, as bytes:
        # numpy copies a padded structured dtype field by field, which would
        # leave the padding bytes of the copy uninitialised.
        return out.view(np.uint8)[: r * self.rsize].copy().view(dt)


    # ---- zero-copy consumption -----------------------------------------------------
    cdef int _check_not_leased(self) except -1:
        if self._leased:
            raise RuntimeError("an array returned by pop_view() is still alive; delete it (and every slice or "
                               "view of it) before the next pop")
        return 0

    cdef void _end_lease(self, size_t n) noexcept:
        if self.s != NULL:
            b_release_quietly[SpscRing](self.s, n)
        elif self.m != NULL:
            b_release_quietly[MpscRing](self.m, n)
        self._leased = False

    def pop_view(self, max_n, timeout=None):
        cdef RecordSpan span
        cdef long long r
        cdef int64_t t = _timeout_ns(timeout)
        cdef size_t n
        self._check()
        if self.c != NULL:
            raise TypeError("MpmcRing has no pop_view: several consumers cannot share slots in place; use pop_many")
        self._check_not_leased()
        n = <size_t>_count(max_n, "max_n")
        dt = self._dtype if self._dtype is not None else np.dtype((np.void, self.rsize))
        r = _wait_sliced(self, _OP_PEEK, NULL, n, t, &span) if n > 0 else 0
        if r <= 0:
            return np.empty(0, dt)
        cdef _Lease lease = _Lease.__new__(_Lease)
        lease.ring = self
        lease.data = <const char*>span.data
        lease.count = <size_t>r
        lease.nbytes = <Py_ssize_t>((<size_t>r - 1) * span.stride + self.rsize)
        self._leased = True
        if span.stride == self.rsize:
            return np.frombuffer(lease, dt, r)
        return np.ndarray((r,), dt, buffer=lease, strides=(span.stride,))


@cython.auto_pickle(False)
cdef class RingBase(_RingCore):
    """An SpscRing or MpscRing handle (the kinds the engine runner accepts)."""


@cython.auto_pickle(False)
cdef class MpmcRingBase(_RingCore):
    """An MpmcRing handle."""


def unlink(str name) -> bool:
    """Removes the named segment (shm_unlink). False if it did not exist."""
    cdef Captured err
    cdef int r = b_unlink(name.encode(), &err)
    if r < 0:
        raise_captured(&err)
    return r == 1


def cleanup_stale(str name) -> bool:
    """Removes the named segment if its owner process is gone; True if removed."""
    cdef Captured err
    cdef int r = b_cleanup_stale(name.encode(), &err)
    if r < 0:
        raise_captured(&err)
    return r == 1
