"""shanraq_core: the low-latency core of a payments and trading platform.

C++ hot paths behind a thin, typed Python API: latency histograms
(`LatencyHistogram`, `Recorder`, Prometheus export), lock-free rings between
threads and processes (`SpscRing`, `MpscRing`, `MpmcRing`), a multi-symbol matching engine
(`MatchingEngine`) and a double-entry ledger (`Ledger`). The exchange (balance
checks wired into matching) and the journal follow.
"""

from shanraq_core._version import __version__
from shanraq_core.book import (
    BOOK_COMMAND_DTYPE,
    BOOK_EVENT_DTYPE,
    CancelReason,
    CommandKind,
    EventType,
    MatchingEngine,
    OrderInfo,
    OrderState,
    OrderType,
    RejectReason,
    Report,
    SelfTradePrevention,
    Side,
    SymbolInfo,
    TimeInForce,
    Trade,
)
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
    make_transfer_id,
)
from shanraq_core.queue import Closed, MpmcRing, MpscRing, SpscRing
from shanraq_core.runner import EngineRunner

__all__ = [
    "ACCOUNT_BALANCE_DTYPE",
    "ACCOUNT_DTYPE",
    "BOOK_COMMAND_DTYPE",
    "BOOK_EVENT_DTYPE",
    "TRANSFER_DTYPE",
    "AccountFlags",
    "CancelReason",
    "CapacityError",
    "Closed",
    "CommandKind",
    "CreateAccountResult",
    "CreateTransferResult",
    "EngineRunner",
    "EventType",
    "LatencyHistogram",
    "Ledger",
    "MatchingEngine",
    "MpmcRing",
    "MpscRing",
    "OrderInfo",
    "OrderState",
    "OrderType",
    "Recorder",
    "RejectReason",
    "Report",
    "SelfTradePrevention",
    "SetLimitResult",
    "Side",
    "SpscRing",
    "SymbolInfo",
    "TimeInForce",
    "Trade",
    "TransferFlags",
    "__version__",
    "make_transfer_id",
]
