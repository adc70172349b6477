# C++ declarations of the ring core (cpp/include/shanraq/queue/ring.hpp) and
# the binding classes, so other binding modules (the engine runner) can
# cimport them.
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string


cdef extern from "<chrono>" namespace "std::chrono" nogil:
    cdef cppclass nanoseconds:
        nanoseconds(int64_t) noexcept


cdef extern from "<string_view>" namespace "std" nogil:
    cdef cppclass string_view:
        const char* data() noexcept
        size_t size() noexcept


cdef extern from "shanraq/queue/ring.hpp" namespace "shanraq::queue" nogil:
    ctypedef enum WaitStrategy "shanraq::queue::WaitStrategy":
        kBusySpin "shanraq::queue::WaitStrategy::kBusySpin"
        kYield "shanraq::queue::WaitStrategy::kYield"
        kBlocking "shanraq::queue::WaitStrategy::kBlocking"

    cdef cppclass RecordSpan:
        const void* data
        size_t count
        size_t stride

    cdef cppclass RingLayout:
        size_t record_size
        size_t capacity
        string dtype

    # What every ring shares (metadata, close), through which the binding
    # reads any of the three.
    cdef cppclass CppRing "shanraq::queue::RingBase":
        size_t record_size() noexcept
        size_t capacity() noexcept
        string_view dtype() noexcept
        const string& name() noexcept
        cbool shared() noexcept
        cbool owner() noexcept
        int owner_pid() noexcept
        uint64_t lost() noexcept
        size_t size() noexcept
        cbool closed() noexcept
        void close() noexcept
        uint32_t sleeping_consumers() noexcept
        uint32_t sleeping_producers() noexcept

    cdef cppclass SpscRing(CppRing):
        SpscRing(size_t, size_t, WaitStrategy) except +
        void release(size_t) except +

    cdef cppclass MpscRing(CppRing):
        MpscRing(size_t, size_t, WaitStrategy) except +
        void release(size_t) except +

    cdef cppclass MpmcRing(CppRing):
        MpmcRing(size_t, size_t, WaitStrategy) except +


# Holds one C++ ring (exactly one of s, m, c is set; `ring` is the same
# object as its common base) and does everything that does not depend on
# the kind: record conversion, waiting in slices, pop_view's lease.
cdef class _RingCore:
    cdef SpscRing* s
    cdef MpscRing* m
    cdef MpmcRing* c
    cdef CppRing* ring
    cdef size_t rsize
    cdef object _dtype
    cdef object _scratch
    cdef object _wait
    # True while an array returned by pop_view() (its _Lease) is alive.
    cdef bint _leased
    cdef int _check(self) except -1
    cdef _setup(self, object dt, object wait)
    cdef int _check_kind(self, int kind) except -1
    cdef object _record_source(self, object record)
    cdef int _push(self, object record, int64_t timeout_ns) except -1
    cdef object _wrap(self, object raw)
    cdef object _pop(self, int64_t timeout_ns)
    cdef object _as_records(self, object records)
    cdef int _check_not_leased(self) except -1
    cdef void _end_lease(self, size_t n) noexcept


# An SpscRing or MpscRing handle: what the engine runner accepts (it reads
# s and m). An MpmcRing is not one.
cdef class RingBase(_RingCore):
    pass


cdef class MpmcRingBase(_RingCore):
    pass
