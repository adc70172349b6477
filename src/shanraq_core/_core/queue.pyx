# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the ring core (SpscRing, MpscRing). Translation only: record
conversion, GIL handling, timeouts in slices and error mapping; behaviour lives
in C++ and in the thin Python layer (shanraq_core.queue)."""

from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_FillInfo, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_Check, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from libcpp cimport bool as cbool
from libcpp.string cimport string

import ast

import numpy as np
from numpy.lib.format import descr_to_dtype

cdef extern from "shanraq/common/clock.hpp" namespace "shanraq" nogil:
    int64_t monotonic_ns() noexcept

# The ring calls run without the GIL, so C++ exceptions are caught here, in
# C++, and turned into a code and a message; the Python exception is raised
# once the GIL is held again.
cdef extern from *:
    """
    #include <string>
    #include <stdexcept>
    #include "shanraq/queue/ring.hpp"
    namespace shanraq_bind {
    struct Err {
      int code = 0;
      std::string msg;
    };
    enum : int { kOk = 0, kClosed = 1, kPeerDead = 2, kProducerDied = 3, kLayout = 4, kExists = 5,
                 kValue = 6, kQueue = 7, kOther = 8 };
    inline void classify(Err* e) noexcept {
      namespace q = shanraq::queue;
      try {
        throw;
      } catch (const q::Closed& x) { e->code = kClosed; e->msg = x.what();
      } catch (const q::ProducerDied& x) { e->code = kProducerDied; e->msg = x.what();
      } catch (const q::PeerDead& x) { e->code = kPeerDead; e->msg = x.what();
      } catch (const q::LayoutMismatch& x) { e->code = kLayout; e->msg = x.what();
      } catch (const q::AlreadyExists& x) { e->code = kExists; e->msg = x.what();
      } catch (const q::QueueError& x) { e->code = kQueue; e->msg = x.what();
      } catch (const std::invalid_argument& x) { e->code = kValue; e->msg = x.what();
      } catch (const std::exception& x) { e->code = kOther; e->msg = x.what();
      } catch (...) { e->code = kOther; e->msg = "unknown C++ exception";
      }
    }
    // ns < 0: wait forever; ns == 0: do not wait. Returns 1 done, 0 not, -1 error.
    template <class R> int push(R* r, const void* p, long long ns, Err* e) noexcept {
      try { return (ns == 0 ? r->try_push(p) : r->push(p, std::chrono::nanoseconds(ns))) ? 1 : 0; }
      catch (...) { classify(e); return -1; }
    }
    template <class R> int pop(R* r, void* p, long long ns, Err* e) noexcept {
      try { return (ns == 0 ? r->try_pop(p) : r->pop(p, std::chrono::nanoseconds(ns))) ? 1 : 0; }
      catch (...) { classify(e); return -1; }
    }
    // Returns the count, or -1 on error.
    template <class R> long long push_many(R* r, const void* p, size_t n, long long ns, Err* e) noexcept {
      try {
        return static_cast<long long>(ns == 0 ? r->try_push_many(p, n) : r->push_many(p, n, std::chrono::nanoseconds(ns)));
      } catch (...) { classify(e); return -1; }
    }
    template <class R> long long pop_many(R* r, void* p, size_t n, long long ns, Err* e) noexcept {
      try {
        return static_cast<long long>(ns == 0 ? r->try_pop_many(p, n) : r->pop_many(p, n, std::chrono::nanoseconds(ns)));
      } catch (...) { classify(e); return -1; }
    }
    // Returns the count (0: timed out / empty), or -1 on error.
    template <class R> long long peek(R* r, size_t n, long long ns, shanraq::queue::RecordSpan* out, Err* e) noexcept {
      try {
        *out = ns == 0 ? r->peek(n) : r->peek(n, std::chrono::nanoseconds(ns));
        return static_cast<long long>(out->count);
      } catch (...) { classify(e); return -1; }
    }
    template <class R> void release_quietly(R* r, size_t n) noexcept {
      try { r->release(n); } catch (...) {}
    }
    template <class R> R* make(size_t record_size, size_t capacity, shanraq::queue::WaitStrategy w, Err* e) noexcept {
      try { return new R(record_size, capacity, w); } catch (...) { classify(e); return nullptr; }
    }
    template <class R> R* create(const std::string& name, const shanraq::queue::RingLayout& layout,
                                 shanraq::queue::WaitStrategy w, bool replace_stale, Err* e) noexcept {
      try { return new R(R::create(name, layout, w, replace_stale)); } catch (...) { classify(e); return nullptr; }
    }
    template <class R> R* attach(const std::string& name, const shanraq::queue::RingLayout& expect,
                                 shanraq::queue::WaitStrategy w, Err* e) noexcept {
      try { return new R(R::attach(name, expect, w)); } catch (...) { classify(e); return nullptr; }
    }
    // MpmcRing adds no state to MpscRing (its behaviour follows the ring's
    // kind), so the binding moves it into an MpscRing object: one pointer
    // type serves both, and delete sees the object's own type.
    using shanraq::queue::MpmcRing;
    using shanraq::queue::MpscRing;
    inline MpscRing* make_mpmc(size_t record_size, size_t capacity, shanraq::queue::WaitStrategy w, Err* e) noexcept {
      try { return new MpscRing(MpmcRing(record_size, capacity, w)); } catch (...) { classify(e); return nullptr; }
    }
    inline MpscRing* create_mpmc(const std::string& name, const shanraq::queue::RingLayout& layout,
                                 shanraq::queue::WaitStrategy w, bool replace_stale, Err* e) noexcept {
      try { return new MpscRing(MpmcRing::create(name, layout, w, replace_stale)); }
      catch (...) { classify(e); return nullptr; }
    }
    inline MpscRing* attach_mpmc(const std::string& name, const shanraq::queue::RingLayout& expect,
                                 shanraq::queue::WaitStrategy w, Err* e) noexcept {
      try { return new MpscRing(MpmcRing::attach(name, expect, w)); } catch (...) { classify(e); return nullptr; }
    }
    inline int unlink(const std::string& name, Err* e) noexcept {
      try { return shanraq::queue::unlink_segment(name) ? 1 : 0; } catch (...) { classify(e); return -1; }
    }
    inline int cleanup_stale(const std::string& name, Err* e) noexcept {
      try { return shanraq::queue::cleanup_stale(name) ? 1 : 0; } catch (...) { classify(e); return -1; }
    }
    }  // namespace shanraq_bind
    """
    cdef cppclass Err "shanraq_bind::Err":
        int code
        string msg
    int b_push "shanraq_bind::push"[R](R*, const void*, long long, Err*) noexcept nogil
    int b_pop "shanraq_bind::pop"[R](R*, void*, long long, Err*) noexcept nogil
    long long b_push_many "shanraq_bind::push_many"[R](R*, const void*, size_t, long long, Err*) noexcept nogil
    long long b_pop_many "shanraq_bind::pop_many"[R](R*, void*, size_t, long long, Err*) noexcept nogil
    R* b_make "shanraq_bind::make"[R](size_t, size_t, WaitStrategy, Err*) noexcept nogil
    R* b_create "shanraq_bind::create"[R](const string&, const RingLayout&, WaitStrategy, cbool, Err*) noexcept nogil
    R* b_attach "shanraq_bind::attach"[R](const string&, const RingLayout&, WaitStrategy, Err*) noexcept nogil
    MpscRing* b_make_mpmc "shanraq_bind::make_mpmc"(size_t, size_t, WaitStrategy, Err*) noexcept nogil
    MpscRing* b_create_mpmc "shanraq_bind::create_mpmc"(const string&, const RingLayout&, WaitStrategy, cbool,
                                                         Err*) noexcept nogil
    MpscRing* b_attach_mpmc "shanraq_bind::attach_mpmc"(const string&, const RingLayout&, WaitStrategy,
                                                         Err*) noexcept nogil
    long long b_peek "shanraq_bind::peek"[R](R*, size_t, long long, RecordSpan*, Err*) noexcept nogil
    void b_release_quietly "shanraq_bind::release_quietly"[R](R*, size_t) noexcept nogil
    int b_unlink "shanraq_bind::unlink"(const string&, Err*) noexcept nogil
    int b_cleanup_stale "shanraq_bind::cleanup_stale"(const string&, Err*) noexcept nogil


class QueueError(Exception):
    """Base class of the ring errors."""


class Closed(QueueError):
    """The ring was closed: pushes fail, pops fail once it is drained."""


class PeerDead(QueueError):
    """The process on the other side of a shared ring no longer exists."""


class ProducerDied(PeerDead):
    """An MPSC producer process died mid-push; its record was discarded (never
    delivered torn) and the ring remains usable."""


class LayoutMismatch(QueueError, ValueError):
    """attach() found a segment that is not a ring of the expected layout."""


class AlreadyExists(QueueError, FileExistsError):
    """create() found a live segment of that name."""


cdef object _error(Err& e):
    msg = e.msg.decode("utf-8", "replace")
    if e.code == 1:
        return Closed(msg)
    if e.code == 2:
        return PeerDead(msg)
    if e.code == 3:
        return ProducerDied(msg)
    if e.code == 4:
        return LayoutMismatch(msg)
    if e.code == 5:
        return AlreadyExists(msg)
    if e.code == 6:
        return ValueError(msg)
    if e.code == 7:
        return QueueError(msg)
    return RuntimeError(msg)


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


cdef inline long long _ring_call(SpscRing* s, MpscRing* m, _Op op, char* p, size_t n, int64_t ns,
                                 RecordSpan* span, Err* err) noexcept nogil:
    """One ring operation on whichever ring the handle holds."""
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
    if op == _OP_PUSH:
        return b_push[MpscRing](m, p, ns, err)
    if op == _OP_POP:
        return b_pop[MpscRing](m, p, ns, err)
    if op == _OP_PUSH_MANY:
        return b_push_many[MpscRing](m, p, n, ns, err)
    if op == _OP_POP_MANY:
        return b_pop_many[MpscRing](m, p, n, ns, err)
    return b_peek[MpscRing](m, n, ns, span, err)


cdef int64_t _timeout_ns(object timeout) except -2:
    """None -> -1 (forever); seconds -> ns (>= 0)."""
    if timeout is None:
        return -1
    t = float(timeout)
    if not t >= 0.0:
        raise ValueError(f"timeout must be None or >= 0 seconds, got {timeout!r}")
    if t > 1e9:
        return -1
    return <int64_t>(t * 1e9)


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
    if isinstance(dtype, (int, np.integer)) and not isinstance(dtype, bool):
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


cdef class _Lease:
    """The ring slots behind one pop_view() array. They stay the consumer's
    (producers cannot overwrite them) until this object dies, which CPython
    does when the last array, slice or view on them is gone; then they are
    released in one step."""

    cdef RingBase ring
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


cdef long long _wait_sliced(RingBase ring, _Op op, char* p, size_t n, int64_t t, RecordSpan* span) except -1:
    """Repeats `op` on `ring` without the GIL in slices of at most
    _SLICE_NS, checking for signals (Ctrl-C) between slices, until it moves a
    record (for _OP_PUSH_MANY: until all n are in), or `t` ns pass (t < 0:
    forever; t == 0: one non-waiting try). Returns the records moved, 0 on
    timeout."""
    cdef Err err
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
            r = _ring_call(ring.s, ring.m, op, p + done * ring.rsize, n - done, slice_ns, span, &err)
        if r < 0:
            if accumulate and done and err.code == 1:
                return <long long>done
            raise _error(err)
        if accumulate:
            done += <size_t>r
            if done == n or t == 0:
                return <long long>done
        elif r > 0 or t == 0:
            return r
        PyErr_CheckSignals()
        if t > 0 and monotonic_ns() >= deadline:
            return <long long>done


cdef class RingBase:
    """C++ ring holder; use shanraq_core.SpscRing or shanraq_core.MpscRing."""

    def __cinit__(self, *args, **kwargs):
        self.s = NULL
        self.m = NULL
        self._dtype = None
        self._scratch = None
        self._leased = False

    def __dealloc__(self):
        del self.s
        del self.m

    cdef int _check(self) except -1:
        if self.s == NULL and self.m == NULL:
            raise RuntimeError("ring is not initialised")
        return 0

    # ---- construction ----------------------------------------------------------
    cdef _setup(self, object dt, object wait):
        self._dtype = dt
        self._wait = wait
        self.rsize = self.s.record_size() if self.s != NULL else self.m.record_size()
        if dt is not None:
            self._scratch = np.zeros(1, dt)

    def _init_local(self, int kind, capacity, dtype, wait):
        cdef Err err
        rsize, dt = _as_dtype(dtype)
        cdef WaitStrategy w = _wait_of(wait)
        cap = int(capacity)
        if cap < 1 or cap & (cap - 1) or cap > (1 << 30):
            raise ValueError(f"capacity must be a power of two in [1, 2**30], got {capacity!r}")
        if self.s != NULL or self.m != NULL:
            raise RuntimeError("ring is already initialised")
        if kind == 1:
            self.s = b_make[SpscRing](rsize, cap, w, &err)
        elif kind == 2:
            self.m = b_make[MpscRing](rsize, cap, w, &err)
        else:
            self.m = b_make_mpmc(rsize, cap, w, &err)
        if self.s == NULL and self.m == NULL:
            raise _error(err)
        self._setup(dt, wait)

    def _init_shared(self, int kind, bint create, str name, capacity, dtype, wait, bint replace_stale):
        cdef Err err
        cdef RingLayout layout
        cdef WaitStrategy w = _wait_of(wait)
        cdef string cname = name.encode()
        dt = None
        if create:
            rsize, dt = _as_dtype(dtype)
            cap = int(capacity)
            if cap < 1 or cap & (cap - 1) or cap > (1 << 30):
                raise ValueError(f"capacity must be a power of two in [1, 2**30], got {capacity!r}")
            layout.record_size = rsize
            layout.capacity = cap
            layout.dtype = (_descr_of(dt) if dt is not None else "").encode()
        else:
            layout.record_size = 0
            layout.capacity = 0 if capacity is None else int(capacity)
            if dtype is not None:
                rsize, dt = _as_dtype(dtype)
                layout.record_size = rsize
                if dt is not None:
                    layout.dtype = _descr_of(dt).encode()
        if self.s != NULL or self.m != NULL:
            raise RuntimeError("ring is already initialised")
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
                self.m = b_create_mpmc(cname, layout, w, replace_stale, &err) if create else \
                    b_attach_mpmc(cname, layout, w, &err)
        if self.s == NULL and self.m == NULL:
            raise _error(err)
        if not create:
            descr = self.dtype_descr
            dt = _dtype_from_descr(descr) if descr else None
        self._setup(dt, wait)

    # ---- metadata ----------------------------------------------------------------
    @property
    def capacity(self) -> int:
        self._check()
        return self.s.capacity() if self.s != NULL else self.m.capacity()

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
        cdef string_view v = self.s.dtype() if self.s != NULL else self.m.dtype()
        return v.data()[:v.size()].decode()

    @property
    def name(self):
        self._check()
        cdef string n = self.s.name() if self.s != NULL else self.m.name()
        return n.decode() if n.size() else None

    @property
    def shared(self) -> bool:
        self._check()
        return self.s.shared() if self.s != NULL else self.m.shared()

    @property
    def owner(self) -> bool:
        self._check()
        return self.s.owner() if self.s != NULL else self.m.owner()

    @property
    def owner_pid(self) -> int:
        self._check()
        return self.s.owner_pid() if self.s != NULL else self.m.owner_pid()

    @property
    def lost(self) -> int:
        self._check()
        return self.s.lost() if self.s != NULL else self.m.lost()

    @property
    def closed(self) -> bool:
        self._check()
        return self.s.closed() if self.s != NULL else self.m.closed()

    def __len__(self):
        self._check()
        return self.s.size() if self.s != NULL else self.m.size()

    def close(self):
        self._check()
        if self.s != NULL:
            self.s.close()
        else:
            self.m.close()

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
        cdef Err err
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
        r = <int>_ring_call(self.s, self.m, _OP_PUSH, <char*>p, 1, 0, NULL, &err)
        if r < 0:
            raise _error(err)
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
        cdef Err err
        cdef int r
        self._check()
        self._check_not_leased()
        out = PyBytes_FromStringAndSize(NULL, self.rsize)
        cdef char* p = PyBytes_AS_STRING(out)
        # The first attempt never waits, so it keeps the GIL.
        r = <int>_ring_call(self.s, self.m, _OP_POP, p, 1, 0, NULL, &err)
        if r < 0:
            raise _error(err)
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
        if int(max_n) < 0:
            raise ValueError(f"max_n must be >= 0, got {max_n}")
        n = <size_t>int(max_n)
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
        self._check_not_leased()
        if int(max_n) < 0:
            raise ValueError(f"max_n must be >= 0, got {max_n}")
        n = <size_t>int(max_n)
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


def unlink(str name) -> bool:
    """Removes the named segment (shm_unlink). False if it did not exist."""
    cdef Err err
    cdef int r = b_unlink(name.encode(), &err)
    if r < 0:
        raise _error(err)
    return r == 1


def cleanup_stale(str name) -> bool:
    """Removes the named segment if its owner process is gone; True if removed."""
    cdef Err err
    cdef int r = b_cleanup_stale(name.encode(), &err)
    if r < 0:
        raise _error(err)
    return r == 1
