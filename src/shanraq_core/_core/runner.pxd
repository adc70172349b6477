# C++ declarations of the sequencer (cpp/include/shanraq/runner/runner.hpp)
# through its type-erased binding handle (runner_glue.hpp), and the binding
# class.
from libc.stdint cimport int64_t, uint8_t, uint64_t
from libcpp cimport bool as cbool

from shanraq_core._core.glue cimport translate_exception
from shanraq_core._core.queue cimport MpscRing, RingBase, SpscRing


cdef extern from "<chrono>" namespace "std::chrono" nogil:
    cdef cppclass rnanoseconds "std::chrono::nanoseconds":
        rnanoseconds(int64_t) noexcept


cdef extern from "shanraq/runner/runner.hpp" namespace "shanraq::runner" nogil:
    cdef enum class TimeSource(uint8_t):
        kClock "shanraq::runner::TimeSource::kClock"
        kCommand "shanraq::runner::TimeSource::kCommand"

    cdef cppclass RunnerConfig:
        size_t batch
        rnanoseconds poll_interval
        size_t events_reserve
        TimeSource time_source


cdef extern from "runner_glue.hpp" namespace "shq" nogil:
    cdef cppclass AnyRunner:
        void start() except +translate_exception
        void request_stop() noexcept
        cbool wait_for(rnanoseconds) except +translate_exception
        void finish(cbool ask_stop) except +translate_exception
        cbool running() noexcept
        uint64_t commands_processed() noexcept
        uint64_t events_published() noexcept
        uint64_t batches() noexcept
        uint64_t last_seq() noexcept
        uint64_t producer_deaths() noexcept
        uint64_t tap_dropped() noexcept
        size_t event_size() noexcept
        size_t unpublished_count() noexcept
        void take_unpublished(void* out) noexcept

    AnyRunner* new_runner[M](M& machine, SpscRing* spsc, MpscRing* mpsc, SpscRing& events,
                             const RunnerConfig& config, SpscRing* tap) except +translate_exception


cdef class RunnerBase:
    cdef AnyRunner* r
    cdef object _machine
    cdef RingBase _commands
    cdef RingBase _events
    cdef RingBase _stamped
    # The machine's busy flag, held (True) from start() until the thread is
    # collected: every call on the machine then raises RuntimeError.
    cdef cbool* _busy
    cdef cbool _holds_machine
    cdef int _check(self) except -1
    cdef int _finish(self, cbool ask_stop) except -1
