# C++ declarations of the histogram core (cpp/include/shanraq/hist/) and the
# binding classes, so other binding modules can cimport them.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string


cdef extern from "shanraq/common/clock.hpp" namespace "shanraq" nogil:
    int64_t monotonic_ns() noexcept


cdef extern from "shanraq/hist/histogram.hpp" namespace "shanraq::hist" nogil:
    cdef cppclass Layout:
        int64_t lowest_discernible_value
        int64_t highest_trackable_value
        int significant_figures
        int32_t counts_len
        int64_t lowest_equivalent_value(int64_t) noexcept
        int64_t highest_equivalent_value(int64_t) noexcept
        int64_t size_of_equivalent_value_range(int64_t) noexcept
        cbool operator==(const Layout&) noexcept

    cdef cppclass Histogram:
        Histogram(int64_t, int64_t, int) except +
        Histogram(const Layout&) except +
        Histogram(const Histogram&) except +
        const Layout& layout() noexcept
        size_t memory_size() noexcept
        cbool try_record(int64_t, uint64_t) except +
        void record_or_reject(int64_t) except +
        void record_corrected(int64_t, int64_t, uint64_t) except +
        uint64_t record_many[T](const T*, size_t) except +
        uint64_t total_count() noexcept
        int64_t min() noexcept
        int64_t max() noexcept
        double mean() noexcept
        double stdev() except +
        uint64_t sum_low() noexcept
        uint64_t sum_high() noexcept
        uint64_t rejected_count() noexcept
        uint64_t count_at_value(int64_t) noexcept
        uint64_t count_between_values(int64_t, int64_t) noexcept
        int64_t value_at_percentile(double) except +
        void values_at_percentiles(const double*, size_t, int64_t*) except +
        size_t recorded_slot_count() noexcept
        void recorded_slots(int64_t*, uint64_t*, int64_t*) noexcept
        void reset() noexcept
        void add(const Histogram&) except +
        string snapshot() except +
        cbool operator==(const Histogram&) except +

    Histogram histogram_restore "shanraq::hist::Histogram::restore"(const uint8_t*, size_t) except +


cdef extern from "shanraq/hist/codec.hpp" namespace "shanraq::hist" nogil:
    string encode_v2_payload(const Histogram&) except +
    Histogram decode_v2_payload(const uint8_t*, size_t) except +


cdef extern from "shanraq/hist/recorder.hpp" namespace "shanraq::hist" nogil:
    cpdef enum class RecordStatus(uint8_t):
        kRecorded
        kOutOfRange
        kOverflow

    cdef cppclass Recorder:
        Recorder(int64_t, int64_t, int) except +
        const Layout& layout() noexcept
        RecordStatus try_record(int64_t, uint64_t) noexcept
        uint64_t record_many[T](const T*, size_t) noexcept
        void interval_histogram(Histogram&) except +


cdef class LatencyHistogramBase:
    cdef Histogram* h
    cdef int _check(self) except -1


cdef class RecorderBase:
    cdef Recorder* r
    cdef int _check(self) except -1
