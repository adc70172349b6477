"""Pure-Python reference helpers for the histogram tests: HdrHistogram's
bucket arithmetic written for clarity, and exact percentiles from sorted data."""

from __future__ import annotations

import math
from collections.abc import Sequence


class RefLayout:
    def __init__(self, lowest: int, highest: int, digits: int) -> None:
        largest_single_unit = 2 * 10**digits
        sub_bucket_count_magnitude = math.ceil(math.log2(largest_single_unit))
        self.half_mag = max(sub_bucket_count_magnitude, 1) - 1
        self.unit_mag = lowest.bit_length() - 1
        self.sub_bucket_count = 1 << (self.half_mag + 1)
        self.mask = (self.sub_bucket_count - 1) << self.unit_mag

    def bucket(self, v: int) -> int:
        return (v | self.mask).bit_length() - self.unit_mag - (self.half_mag + 1)

    def lowest_equivalent(self, v: int) -> int:
        b = self.bucket(v)
        return (v >> (b + self.unit_mag)) << (b + self.unit_mag)

    def range_size(self, v: int) -> int:
        b = self.bucket(v)
        sub = v >> (b + self.unit_mag)
        if sub >= self.sub_bucket_count:
            b += 1
        return 1 << (self.unit_mag + b)

    def highest_equivalent(self, v: int) -> int:
        return self.lowest_equivalent(v) + self.range_size(v) - 1


def exact_percentile(sorted_values: Sequence[int], p: float) -> int:
    """The recorded value HdrHistogram's rank rule selects: rank
    round(p/100 * n) (at least 1) in sorted order."""
    n = len(sorted_values)
    rank = int((p / 100.0) * n + 0.5)
    rank = min(max(rank, 1), n)
    return sorted_values[rank - 1]
