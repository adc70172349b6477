# C++ declarations of the ring core (cpp/include/shanraq/queue/ring.hpp) and
# the binding class, so other binding modules (the engine runner) can cimport them.
from libc.stdint cimport int64_t, uint64_t
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

    cdef cppclass SpscRing:
        SpscRing(size_t, size_t, WaitStrategy) except +
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
        void release(size_t) except +

    cdef cppclass MpscRing:
        MpscRing(size_t, size_t, WaitStrategy) except +
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
        void release(size_t) except +


cdef class RingBase:
    cdef SpscRing* s
    cdef MpscRing* m
    cdef size_t rsize
    cdef object _dtype
    cdef object _scratch
    cdef object _wait
    # True while an array returned by pop_view() (its _Lease) is alive.
    cdef bint _leased
    cdef int _check(self) except -1
    cdef _setup(self, object dt, object wait)
    cdef object _record_source(self, object record)
    cdef int _push(self, object record, int64_t timeout_ns) except -1
    cdef object _wrap(self, object raw)
    cdef object _pop(self, int64_t timeout_ns)
    cdef object _as_records(self, object records)
    cdef int _check_not_leased(self) except -1
    cdef void _end_lease(self, size_t n) noexcept
