"""shanraq_core: the low-latency core of a payments and trading platform.

C++ hot paths behind a thin, typed Python API. This release provides the
latency histograms (`LatencyHistogram`, `Recorder`) and their Prometheus
export; order matching, the ledger, queues and the journal follow.
"""

from shanraq_core._version import __version__
from shanraq_core.hist import LatencyHistogram, Recorder
from shanraq_core.ledger import (
    ACCOUNT_BALANCE_DTYPE,
    ACCOUNT_DTYPE,
    TRANSFER_DTYPE,
    AccountFlags,
    CapacityError,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    SetLimitResult,
    TransferFlags,
)
from shanraq_core.queue import Closed, MpscRing, SpscRing

__all__ = [
    "ACCOUNT_BALANCE_DTYPE",
    "ACCOUNT_DTYPE",
    "TRANSFER_DTYPE",
    "AccountFlags",
    "CapacityError",
    "Closed",
    "CreateAccountResult",
    "CreateTransferResult",
    "LatencyHistogram",
    "Ledger",
    "MpscRing",
    "Recorder",
    "SetLimitResult",
    "SpscRing",
    "TransferFlags",
    "__version__",
]
