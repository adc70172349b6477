# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
# distutils: language = c++
"""Bindings of the latency histogram core. Translation only: argument checks,
GIL handling and conversions; behaviour lives in C++ and the thin Python layer
(shanraq_core.hist)."""

cimport cython
from cpython.long cimport PyLong_AsLongLongAndOverflow
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp.string cimport string

import numpy as np

_INT_DTYPES = {
    np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.int16), np.dtype(np.int8),
    np.dtype(np.uint64), np.dtype(np.uint32), np.dtype(np.uint16), np.dtype(np.uint8),
}


cdef int64_t _to_int64(object value, const char* what) except? -1:
    """A Python int (or an object with __index__, such as a numpy integer) as
    int64; ValueError if it does not fit, TypeError if it is not an integer."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(type(value), "__index__"):
            raise TypeError(f"{what.decode()} must be an integer, not {type(value).__name__}")
        value = value.__index__()
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow:
        raise ValueError(f"{what.decode()} {value} does not fit in a signed 64-bit integer")
    return v


cdef uint64_t _to_count(object count) except? 0:
    cdef int64_t c = _to_int64(count, b"count")
    if c < 1:
        raise ValueError(f"count must be >= 1, got {c}")
    return <uint64_t>c


cdef object _range_error(object value, int64_t highest, str owner):
    return ValueError(f"value {value} is outside the {owner}'s range [0, {highest}]")


cdef inline int64_t _value_arg(object value, int64_t highest, str owner) except? -1:
    """The per-call fast path: a plain int converts with one C call; anything
    else goes through _to_int64's checks."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is int:
        v = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            raise _range_error(value, highest, owner)
        return v
    return _to_int64(value, b"value")


cdef inline uint64_t _count_arg(object count) except? 0:
    if count is 1:
        return 1
    return _to_count(count)


cdef int _config_args(object lowest, object highest, object significant_figures,
                      int64_t* lo, int64_t* hi, int* digits) except -1:
    lo[0] = _to_int64(lowest, b"lowest")
    hi[0] = _to_int64(highest, b"highest")
    cdef int64_t sf = _to_int64(significant_figures, b"significant_figures")
    if sf < 1 or sf > 5:
        raise ValueError(f"significant_figures must be in 1..5, got {sf}")
    digits[0] = <int>sf
    return 0


cdef object _as_int_array(object values):
    arr = np.asarray(values)
    if arr.size == 0 and not isinstance(values, np.ndarray):
        # An empty list or tuple becomes float64 in numpy; it holds no values.
        return np.empty(0, dtype=np.int64)
    if arr.dtype not in _INT_DTYPES:
        raise TypeError(f"values must be a numpy integer array, not dtype {arr.dtype}")
    return np.ascontiguousarray(arr).reshape(-1)


ctypedef fused int_t:
    int8_t
    int16_t
    int32_t
    int64_t
    uint8_t
    uint16_t
    uint32_t
    uint64_t


cdef uint64_t _hist_record_many(Histogram* h, const int_t[::1] values) except? 0:
    cdef size_t n = values.shape[0]
    cdef uint64_t rejected = 0
    if n == 0:
        return 0
    # Safe without the GIL: `values` is a contiguous buffer we hold a view of
    # for the whole call, and the histogram is documented single-writer.
    with nogil:
        rejected = h.record_many(&values[0], n)
    return rejected


cdef uint64_t _recorder_record_many(Recorder* r, const int_t[::1] values) noexcept:
    cdef size_t n = values.shape[0]
    cdef uint64_t rejected = 0
    if n == 0:
        return 0
    # Safe without the GIL: the Recorder is built for concurrent writers, and
    # we hold a view of `values` for the whole call.
    with nogil:
        rejected = r.record_many(&values[0], n)
    return rejected


cdef uint64_t _dispatch_hist(Histogram* h, object arr) except? 0:
    dt = arr.dtype
    if dt == np.int64:
        return _hist_record_many[int64_t](h, arr)
    if dt == np.int32:
        return _hist_record_many[int32_t](h, arr)
    if dt == np.uint64:
        return _hist_record_many[uint64_t](h, arr)
    if dt == np.uint32:
        return _hist_record_many[uint32_t](h, arr)
    if dt == np.int16:
        return _hist_record_many[int16_t](h, arr)
    if dt == np.uint16:
        return _hist_record_many[uint16_t](h, arr)
    if dt == np.int8:
        return _hist_record_many[int8_t](h, arr)
    return _hist_record_many[uint8_t](h, arr)


cdef uint64_t _dispatch_recorder(Recorder* r, object arr) except? 0:
    dt = arr.dtype
    if dt == np.int64:
        return _recorder_record_many[int64_t](r, arr)
    if dt == np.int32:
        return _recorder_record_many[int32_t](r, arr)
    if dt == np.uint64:
        return _recorder_record_many[uint64_t](r, arr)
    if dt == np.uint32:
        return _recorder_record_many[uint32_t](r, arr)
    if dt == np.int16:
        return _recorder_record_many[int16_t](r, arr)
    if dt == np.uint16:
        return _recorder_record_many[uint16_t](r, arr)
    if dt == np.int8:
        return _recorder_record_many[int8_t](r, arr)
    return _recorder_record_many[uint8_t](r, arr)


cdef inline LatencyHistogramBase _new_like(type cls):
    return <LatencyHistogramBase>cls.__new__(cls)


cdef class LatencyHistogramBase:
    """C++ histogram holder; use shanraq_core.LatencyHistogram."""

    def __cinit__(self, *args, **kwargs):
        self.h = NULL

    def __init__(self, lowest=1, highest=3_600_000_000_000, significant_figures=3):
        cdef int64_t lo, hi
        cdef int digits
        _config_args(lowest, highest, significant_figures, &lo, &hi, &digits)
        if self.h != NULL:
            raise RuntimeError("LatencyHistogram is already initialised")
        self.h = new Histogram(lo, hi, digits)

    def __dealloc__(self):
        del self.h

    cdef int _check(self) except -1:
        if self.h == NULL:
            raise RuntimeError("histogram is not initialised")
        return 0

    # ---- configuration -------------------------------------------------------
    @property
    def lowest_discernible_value(self) -> int:
        self._check()
        return self.h.layout().lowest_discernible_value

    @property
    def highest_trackable_value(self) -> int:
        self._check()
        return self.h.layout().highest_trackable_value

    @property
    def significant_figures(self) -> int:
        self._check()
        return self.h.layout().significant_figures

    @property
    def memory_size(self) -> int:
        self._check()
        return self.h.memory_size()

    # ---- recording -----------------------------------------------------------
    def record(self, value, count=1):
        if self.h == NULL:
            self._check()
        cdef int64_t highest = self.h.layout().highest_trackable_value
        cdef int64_t v = _value_arg(value, highest, "histogram")
        cdef uint64_t c = _count_arg(count)
        if not self.h.try_record(v, c):
            raise _range_error(v, highest, "histogram")

    def record_corrected(self, value, expected_interval, count=1):
        self._check()
        cdef int64_t highest = self.h.layout().highest_trackable_value
        cdef int64_t v = _value_arg(value, highest, "histogram")
        cdef int64_t interval = _to_int64(expected_interval, b"expected_interval")
        cdef uint64_t c = _to_count(count)
        if v < 0 or v > highest:
            raise _range_error(v, highest, "histogram")
        self.h.record_corrected(v, interval, c)

    def record_many(self, values) -> int:
        self._check()
        arr = _as_int_array(values)
        return _dispatch_hist(self.h, arr)

    def _record_or_reject(self, int64_t value):
        self._check()
        self.h.record_or_reject(value)

    def time(self):
        self._check()
        cdef _Timer t = _Timer.__new__(_Timer)
        t.hist = self
        return t

    def _timed(self, func):
        self._check()
        cdef _Timed t = _Timed.__new__(_Timed)
        t.hist = self
        t.func = func
        return t

    # ---- queries -------------------------------------------------------------
    @property
    def total_count(self) -> int:
        self._check()
        return self.h.total_count()

    @property
    def min(self) -> int:
        self._check()
        return self.h.min()

    @property
    def max(self) -> int:
        self._check()
        return self.h.max()

    @property
    def mean(self) -> float:
        self._check()
        return self.h.mean()

    @property
    def stdev(self) -> float:
        self._check()
        return self.h.stdev()

    @property
    def sum(self) -> int:
        self._check()
        return (int(self.h.sum_high()) << 64) | int(self.h.sum_low())

    @property
    def rejected_count(self) -> int:
        self._check()
        return self.h.rejected_count()

    def count_at_value(self, value) -> int:
        self._check()
        return self.h.count_at_value(_to_int64(value, b"value"))

    def count_between_values(self, low, high) -> int:
        self._check()
        return self.h.count_between_values(_to_int64(low, b"low"), _to_int64(high, b"high"))

    def lowest_equivalent_value(self, value) -> int:
        self._check()
        cdef int64_t v = _to_int64(value, b"value")
        if v < 0:
            raise ValueError(f"value must be >= 0, got {v}")
        return self.h.layout().lowest_equivalent_value(v)

    def highest_equivalent_value(self, value) -> int:
        self._check()
        cdef int64_t v = _to_int64(value, b"value")
        if v < 0:
            raise ValueError(f"value must be >= 0, got {v}")
        return self.h.layout().highest_equivalent_value(v)

    def value_at_percentile(self, double percentile) -> int:
        self._check()
        return self.h.value_at_percentile(percentile)

    def percentiles(self, percentiles):
        self._check()
        ps = np.ascontiguousarray(np.asarray(percentiles, dtype=np.float64).reshape(-1))
        cdef const double[::1] pv = ps
        out = np.empty(pv.shape[0], dtype=np.int64)
        cdef int64_t[::1] ov = out
        if pv.shape[0]:
            self.h.values_at_percentiles(&pv[0], pv.shape[0], &ov[0])
        return out

    def _slots(self):
        self._check()
        cdef size_t n = self.h.recorded_slot_count()
        values = np.empty(n, dtype=np.int64)
        counts = np.empty(n, dtype=np.uint64)
        lowest = np.empty(n, dtype=np.int64)
        cdef int64_t[::1] vv = values
        cdef uint64_t[::1] cv = counts
        cdef int64_t[::1] lv = lowest
        if n:
            self.h.recorded_slots(&vv[0], &cv[0], &lv[0])
        return lowest, values, counts

    # ---- whole-histogram operations -------------------------------------------
    def reset(self) -> None:
        self._check()
        self.h.reset()

    def add(self, LatencyHistogramBase other not None) -> None:
        self._check()
        other._check()
        self.h.add(other.h[0])

    def copy(self):
        self._check()
        cdef LatencyHistogramBase out = _new_like(type(self))
        out.h = new Histogram(self.h[0])
        return out

    def __eq__(self, other):
        if not isinstance(other, LatencyHistogramBase):
            return NotImplemented
        cdef LatencyHistogramBase o = other
        if self.h == NULL or o.h == NULL:
            return self.h == o.h
        return self.h[0] == o.h[0]

    __hash__ = None

    def snapshot(self) -> bytes:
        self._check()
        return self.h.snapshot()

    @classmethod
    def restore(cls, data):
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef LatencyHistogramBase out = _new_like(cls)
        if view.shape[0] == 0:
            raise ValueError("corrupt LatencyHistogram snapshot: empty")
        out.h = new Histogram(histogram_restore(&view[0], view.shape[0]))
        return out

    def _encode_payload(self) -> bytes:
        self._check()
        return encode_v2_payload(self.h[0])

    @classmethod
    def _decode_payload(cls, data):
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        cdef LatencyHistogramBase out = _new_like(cls)
        if view.shape[0] == 0:
            raise ValueError("invalid HdrHistogram V2 encoding: empty")
        out.h = new Histogram(decode_v2_payload(&view[0], view.shape[0]))
        return out

    def __reduce__(self):
        return (type(self).restore, (self.snapshot(),))


@cython.freelist(8)
cdef class _Timer:
    """Context manager from LatencyHistogram.time(): records the elapsed
    monotonic nanoseconds of the block (also when it raises)."""
    cdef LatencyHistogramBase hist
    cdef int64_t start
    cdef readonly int64_t elapsed_ns

    def __enter__(self):
        self.start = monotonic_ns()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.elapsed_ns = monotonic_ns() - self.start
        # An elapsed time beyond the range is counted in rejected_count, never
        # raised: raising here would hide the block's own exception.
        self.hist.h.record_or_reject(self.elapsed_ns)
        return False


cdef class _Timed:
    """Callable from LatencyHistogram.timed: calls the function and records its
    elapsed monotonic nanoseconds (also when it raises)."""
    cdef LatencyHistogramBase hist
    cdef object func
    cdef dict __dict__

    def __call__(self, *args, **kwargs):
        cdef int64_t start = monotonic_ns()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.hist.h.record_or_reject(monotonic_ns() - start)

    def __get__(self, obj, objtype):
        # Behave like a function when decorating a method.
        if obj is None:
            return self
        import types
        return types.MethodType(self, obj)


cdef class RecorderBase:
    """C++ Recorder holder; use shanraq_core.Recorder."""

    def __cinit__(self, *args, **kwargs):
        self.r = NULL

    def __init__(self, lowest=1, highest=3_600_000_000_000, significant_figures=3):
        cdef int64_t lo, hi
        cdef int digits
        _config_args(lowest, highest, significant_figures, &lo, &hi, &digits)
        if self.r != NULL:
            raise RuntimeError("Recorder is already initialised")
        self.r = new Recorder(lo, hi, digits)

    def __dealloc__(self):
        del self.r

    cdef int _check(self) except -1:
        if self.r == NULL:
            raise RuntimeError("recorder is not initialised")
        return 0

    @property
    def lowest_discernible_value(self) -> int:
        self._check()
        return self.r.layout().lowest_discernible_value

    @property
    def highest_trackable_value(self) -> int:
        self._check()
        return self.r.layout().highest_trackable_value

    @property
    def significant_figures(self) -> int:
        self._check()
        return self.r.layout().significant_figures

    def record(self, value, count=1):
        if self.r == NULL:
            self._check()
        cdef int64_t highest = self.r.layout().highest_trackable_value
        cdef int64_t v = _value_arg(value, highest, "recorder")
        cdef uint64_t c = _count_arg(count)
        cdef RecordStatus status = self.r.try_record(v, c)
        if status == RecordStatus.kOverflow:
            raise OverflowError("Recorder: the slot's count would overflow 2^64 - 1 in this interval")
        if status != RecordStatus.kRecorded:
            raise _range_error(v, highest, "recorder")

    def record_many(self, values) -> int:
        self._check()
        arr = _as_int_array(values)
        return _dispatch_recorder(self.r, arr)

    def _interval_into(self, LatencyHistogramBase out not None):
        self._check()
        out._check()
        if not (out.h.layout() == self.r.layout()):
            raise ValueError("interval_histogram: the target histogram's configuration differs from the recorder's")
        # Safe without the GIL: the recorder serialises readers itself, and
        # `out` is held by this frame.
        with nogil:
            self.r.interval_histogram(out.h[0])
        return out
