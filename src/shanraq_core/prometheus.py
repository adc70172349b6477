"""Prometheus export of latency histograms.

Two forms of the same numbers:

* :func:`histogram_to_text` renders the text exposition format: a classic
  histogram (cumulative ``le`` buckets in seconds, ``_sum``, ``_count``) and a
  gauge family ``<name>_quantile`` with one sample per quantile.
* :class:`HistogramCollector` is a ``prometheus_client`` collector, so a
  service registers a histogram with its own registry.

Recorded values are taken as nanoseconds. A bucket counts every slot whose
lowest equivalent value is <= its bound, so counts are exact for bounds below
2,048 ns (3 digits) and within the histogram's precision above.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from shanraq_core.hist import LatencyHistogram

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_QUANTILES",
    "HistogramCollector",
    "histogram_to_text",
]

#: Bucket upper bounds in seconds, 1 µs to 10 s in 1-2.5-5 steps: the range
#: where a low-latency service's requests live, with resolution in the µs.
DEFAULT_BUCKETS: tuple[float, ...] = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
#: Quantiles exported as gauges.
DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999)

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NS_PER_S = 1e9


def _float_to_go_string(value: float) -> str:
    """Floats as Prometheus (Go's strconv) writes them: +Inf, NaN, 1e-06."""
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n")


@dataclass(frozen=True)
class _Exposition:
    buckets: list[tuple[float, int]]  # (upper bound in s, cumulative count), ending with +Inf
    sum_seconds: float
    count: int
    quantiles: list[tuple[float, float]]  # (quantile, value in s)


def _validate(
    name: str, buckets: Sequence[float], quantiles: Sequence[float], labels: Mapping[str, str]
) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid Prometheus metric name {name!r}")
    if not buckets:
        raise ValueError("buckets must not be empty")
    previous = -math.inf
    for b in buckets:
        if not isinstance(b, int | float) or math.isnan(b) or b <= previous:
            raise ValueError(f"buckets must be increasing numbers, got {list(buckets)!r}")
        previous = b
    for q in quantiles:
        if not isinstance(q, int | float) or not 0.0 <= q <= 1.0:
            raise ValueError(f"quantiles must be in [0, 1], got {q!r}")
    for key in labels:
        if not _LABEL_RE.match(key) or key.startswith("__") or key in ("le", "quantile"):
            raise ValueError(f"invalid or reserved label name {key!r}")


def _exposition(hist: LatencyHistogram, buckets: Sequence[float], quantiles: Sequence[float]) -> _Exposition:
    lowest, _, counts = hist._slots()
    cumulative = np.cumsum(counts, dtype=np.uint64)
    total = int(hist.total_count)
    out: list[tuple[float, int]] = []
    for bound in buckets:
        if bound == math.inf:
            continue
        # Slots whose lowest equivalent value is <= the bound, in ns.
        # round() first: 1.5e-08 * 1e9 is 14.999999999999998, and the bound
        # is meant as 15 ns.
        limit = math.floor(round(bound * _NS_PER_S, 3)) if bound >= 0 else -1
        k = int(np.searchsorted(lowest, limit, side="right"))
        out.append((float(bound), int(cumulative[k - 1]) if k else 0))
    out.append((math.inf, total))
    qs = [(float(q), hist.value_at_percentile(q * 100.0) / _NS_PER_S) for q in quantiles]
    return _Exposition(out, hist.sum / _NS_PER_S, total, qs)


def _label_text(labels: Mapping[str, str], extra: tuple[str, str] | None = None) -> str:
    items = [f'{k}="{_escape_label(str(v))}"' for k, v in labels.items()]
    if extra is not None:
        items.append(f'{extra[0]}="{extra[1]}"')
    return "{" + ",".join(items) + "}" if items else ""


def histogram_to_text(
    hist: LatencyHistogram,
    name: str,
    help: str,
    buckets: Sequence[float] | None = None,
    quantiles: Sequence[float] | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Renders ``hist`` (values in ns) in the Prometheus text format, version
    0.0.4: histogram ``name`` with ``le`` bounds in seconds, and gauge family
    ``name_quantile``. Raises ValueError for an invalid name, label, bucket
    list or quantile."""
    buckets = DEFAULT_BUCKETS if buckets is None else tuple(buckets)
    quantiles = DEFAULT_QUANTILES if quantiles is None else tuple(quantiles)
    labels = dict(labels or {})
    _validate(name, buckets, quantiles, labels)
    e = _exposition(hist, buckets, quantiles)
    lines = [f"# HELP {name} {_escape_help(help)}", f"# TYPE {name} histogram"]
    for bound, cum in e.buckets:
        lines.append(f"{name}_bucket{_label_text(labels, ('le', _float_to_go_string(bound)))} {cum}")
    lines.append(f"{name}_sum{_label_text(labels)} {_float_to_go_string(e.sum_seconds)}")
    lines.append(f"{name}_count{_label_text(labels)} {e.count}")
    if e.quantiles:
        qname = f"{name}_quantile"
        lines.append(f"# HELP {qname} {_escape_help(help)} (quantiles, seconds)")
        lines.append(f"# TYPE {qname} gauge")
        for q, v in e.quantiles:
            lines.append(
                f"{qname}{_label_text(labels, ('quantile', _float_to_go_string(q)))} {_float_to_go_string(v)}"
            )
    return "\n".join(lines) + "\n"


class HistogramCollector:
    """A ``prometheus_client`` collector for a latency histogram.

    ``source`` is a LatencyHistogram, or a zero-argument callable returning one
    (for example a function that folds a Recorder's interval into a running
    total). Register it with ``registry.register(collector)``. Each scrape
    reads the histogram on the scraping thread: the histogram is single-writer,
    so have the writer thread hand over a copy (or use a callable that does)
    when the scrape runs on another thread.
    """

    def __init__(
        self,
        source: LatencyHistogram | Callable[[], LatencyHistogram],
        name: str,
        help: str,
        buckets: Sequence[float] | None = None,
        quantiles: Sequence[float] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self._source = source
        self._name = name
        self._help = help
        self._buckets = DEFAULT_BUCKETS if buckets is None else tuple(buckets)
        self._quantiles = DEFAULT_QUANTILES if quantiles is None else tuple(quantiles)
        self._labels = dict(labels or {})
        _validate(name, self._buckets, self._quantiles, self._labels)

    def _families(self, hist: LatencyHistogram | None) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        keys = list(self._labels)
        values = [str(v) for v in self._labels.values()]
        h = HistogramMetricFamily(self._name, self._help, labels=keys)
        g = GaugeMetricFamily(
            f"{self._name}_quantile", f"{self._help} (quantiles, seconds)", labels=[*keys, "quantile"]
        )
        if hist is not None:
            e = _exposition(hist, self._buckets, self._quantiles)
            h.add_metric(values, [(_float_to_go_string(b), c) for b, c in e.buckets], e.sum_seconds)
            for q, v in e.quantiles:
                g.add_metric([*values, _float_to_go_string(q)], v)
        yield h
        if self._quantiles:
            yield g

    def describe(self) -> Iterator[Any]:
        return self._families(None)

    def collect(self) -> Iterator[Any]:
        from shanraq_core.hist import LatencyHistogram

        hist = self._source if isinstance(self._source, LatencyHistogram) else self._source()
        return self._families(hist)
