"""Latency histograms: HdrHistogram-class recording, percentiles, merging and
interchange.

`LatencyHistogram` is single-writer (not thread-safe); many threads record
into a `Recorder`, whose reader takes interval histograms. Values are
integers, nanoseconds by convention. See docs/histograms.md.
"""

from __future__ import annotations

import base64
import binascii
import functools
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from shanraq_core._core.hist import LatencyHistogramBase, RecorderBase

__all__ = ["LatencyHistogram", "Recorder"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

# HdrHistogram's V2 "compressed" framing: cookie, then the length of the zlib
# stream that holds the V2 payload; both big-endian 32-bit.
_V2_COMPRESSED_COOKIE = 0x1C849304
# Bit 4 set on write, as Java, C, Go and Python write it (strict readers such
# as the Rust crate require it); ignored on read, as every reader does.
_V2_COOKIE_FLAG = 0x10
_COMPRESSED_HEADER = struct.Struct(">iI")


class LatencyHistogram(LatencyHistogramBase):
    """An HdrHistogram-class histogram of integer values (ns by convention).

    Values in ``[0, highest]`` are kept to ``significant_figures`` decimal
    digits (1..5) in memory fixed at construction: about 135 KB for the
    default 1 ns .. 1 hour at 3 digits. Single-writer: not thread-safe; use
    :class:`Recorder` for many writer threads.

    Raises:
        ValueError: ``lowest < 1``, ``highest < 2 * lowest`` or
            ``significant_figures`` outside 1..5.
        TypeError: a non-integer argument.
    """

    __slots__ = ()

    def __init__(
        self, lowest: int = 1, highest: int = 3_600_000_000_000, significant_figures: int = 3
    ) -> None:
        super().__init__(lowest, highest, significant_figures)

    # The recording and query methods (record, record_corrected, record_many,
    # value_at_percentile, percentiles, min, max, mean, stdev, total_count,
    # count_at_value, reset, add, copy, snapshot, restore) are implemented in
    # C++ and documented in the stub file _core/hist.pyi and docs/histograms.md.

    def __iadd__(self, other: LatencyHistogram) -> LatencyHistogram:
        if not isinstance(other, LatencyHistogramBase):
            return NotImplemented
        self.add(other)
        return self

    def __add__(self, other: LatencyHistogram) -> LatencyHistogram:
        if not isinstance(other, LatencyHistogramBase):
            return NotImplemented
        out = self.copy()
        out.add(other)
        return out

    def __copy__(self) -> LatencyHistogram:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> LatencyHistogram:
        return self.copy()

    def __repr__(self) -> str:
        return (
            f"LatencyHistogram(lowest={self.lowest_discernible_value}, "
            f"highest={self.highest_trackable_value}, "
            f"significant_figures={self.significant_figures}, total_count={self.total_count})"
        )

    def recorded_values(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
        """The non-empty slots in increasing order, as two arrays: each slot's
        highest equivalent value (int64) and its count (uint64)."""
        _, highest, counts = self._slots()
        return highest, counts

    def __iter__(self) -> Iterable[tuple[int, int]]:
        """Yields ``(highest_equivalent_value, count)`` for each non-empty slot."""
        values, counts = self.recorded_values()
        return zip(values.tolist(), counts.tolist(), strict=True)

    def timed(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        """Decorator recording each call's elapsed monotonic nanoseconds
        (``time.perf_counter_ns``'s clock), also when the call raises. An
        elapsed time above the range is counted in ``rejected_count``."""
        wrapper = self._timed(func)
        functools.update_wrapper(wrapper, func)
        return wrapper

    # ---- HdrHistogram interchange -------------------------------------------
    def encode(self) -> str:
        """HdrHistogram's V2 compressed encoding, base64 (what HdrHistogram's
        ``encode()``/``encodeIntoCompressedByteBuffer`` produce in every
        language). Counts round-trip exactly; min, max and mean are not part
        of the format and come back as slot bounds."""
        payload = self._encode_payload()
        compressed = zlib.compress(payload)
        header = _COMPRESSED_HEADER.pack(_V2_COMPRESSED_COOKIE | _V2_COOKIE_FLAG, len(compressed))
        framed = header + compressed
        return base64.b64encode(framed).decode("ascii")

    @classmethod
    def decode(cls, encoded: str | bytes) -> LatencyHistogram:
        """Parses an HdrHistogram V2 compressed, base64 encoding (str or
        bytes), as written by any HdrHistogram implementation.

        Raises:
            ValueError: not base64, a bad cookie or length, a corrupt zlib
                stream, or an invalid payload (the message says which).
            TypeError: not str or bytes.
        """
        if isinstance(encoded, str):
            try:
                raw = encoded.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError("invalid HdrHistogram encoding: not base64 text") from None
        elif isinstance(encoded, bytes | bytearray | memoryview):
            raw = bytes(encoded)
        else:
            raise TypeError(f"encoded must be str or bytes, not {type(encoded).__name__}")
        try:
            framed = base64.b64decode(raw, validate=True)
        except binascii.Error as e:
            raise ValueError(f"invalid HdrHistogram encoding: not base64 ({e})") from None
        if len(framed) < _COMPRESSED_HEADER.size:
            raise ValueError("invalid HdrHistogram encoding: shorter than its 8-byte header")
        cookie, length = _COMPRESSED_HEADER.unpack_from(framed)
        if (cookie & ~0xF0) != _V2_COMPRESSED_COOKIE:
            raise ValueError(f"invalid HdrHistogram encoding: unknown cookie 0x{cookie & 0xFFFFFFFF:08x}")
        if length != len(framed) - _COMPRESSED_HEADER.size:
            raise ValueError(
                f"invalid HdrHistogram encoding: header says {length} compressed bytes, "
                f"found {len(framed) - _COMPRESSED_HEADER.size}"
            )
        try:
            payload = zlib.decompress(framed[_COMPRESSED_HEADER.size :])
        except zlib.error as e:
            raise ValueError(f"invalid HdrHistogram encoding: corrupt zlib stream ({e})") from None
        return cls._decode_payload(payload)

    # ---- Prometheus ------------------------------------------------------------
    def to_prometheus(
        self,
        name: str,
        help: str,
        buckets: Sequence[float] | None = None,
        quantiles: Sequence[float] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Prometheus text exposition: a classic histogram ``name`` (buckets
        ``le`` in seconds, values taken as nanoseconds) plus quantile gauges
        ``name_quantile``. See shanraq_core.prometheus."""
        from shanraq_core.prometheus import histogram_to_text

        return histogram_to_text(self, name, help, buckets=buckets, quantiles=quantiles, labels=labels)


class Recorder(RecorderBase):
    """Lock-free recording from many threads, with interval snapshots.

    ``record``/``record_many`` may be called from any number of threads at
    once: the record path takes no lock and waits for nobody (HdrHistogram's
    writer-reader phaser). One reader at a time takes
    :meth:`interval_histogram`, which returns everything recorded since the
    previous call; nothing is lost or counted twice.
    """

    __slots__ = ()

    def __init__(
        self, lowest: int = 1, highest: int = 3_600_000_000_000, significant_figures: int = 3
    ) -> None:
        super().__init__(lowest, highest, significant_figures)

    def interval_histogram(self, into: LatencyHistogram | None = None) -> LatencyHistogram:
        """The values recorded since the previous call (or construction), as a
        LatencyHistogram; pass ``into`` (same configuration) to reuse one.
        Min and max are exact; the mean comes from slot midpoints.

        Raises:
            ValueError: ``into`` has a different configuration.
        """
        if into is None:
            into = LatencyHistogram(
                self.lowest_discernible_value, self.highest_trackable_value, self.significant_figures
            )
        self._interval_into(into)
        return into

    def __repr__(self) -> str:
        return (
            f"Recorder(lowest={self.lowest_discernible_value}, "
            f"highest={self.highest_trackable_value}, significant_figures={self.significant_figures})"
        )
