# C++ declarations of the engine runner (cpp/include/shanraq/runner/) and the
# binding class.
from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool as cbool

from shanraq_core._core.book cimport MatchingEngine, MatchingEngineBase
from shanraq_core._core.queue cimport MpscRing, RingBase, SpscRing


cdef extern from "<chrono>" namespace "std::chrono" nogil:
    cdef cppclass rnanoseconds "std::chrono::nanoseconds":
        rnanoseconds(int64_t) noexcept


cdef extern from "shanraq/runner/engine_runner.hpp" namespace "shanraq::runner" nogil:
    cdef cppclass RunnerConfig:
        size_t batch
        rnanoseconds poll_interval
        size_t events_reserve

    cdef cppclass EngineRunner:
        EngineRunner(MatchingEngine&, SpscRing&, SpscRing&, const RunnerConfig&) except +
        EngineRunner(MatchingEngine&, MpscRing&, SpscRing&, const RunnerConfig&) except +
        void start() except +
        void request_stop() noexcept
        cbool wait_for(rnanoseconds) except +
        cbool running() noexcept
        uint64_t commands_processed() noexcept
        uint64_t events_published() noexcept
        uint64_t batches() noexcept
        uint64_t producer_deaths() noexcept


cdef class EngineRunnerBase:
    cdef EngineRunner* r
    cdef MatchingEngineBase _engine
    cdef RingBase _commands
    cdef RingBase _events
    # True while this runner holds the engine's busy flag.
    cdef bint _holds_engine
    cdef int _check(self) except -1
    cdef int _finish(self, bint ask_stop) except -1
