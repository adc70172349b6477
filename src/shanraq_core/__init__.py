"""shanraq_core: the low-latency core of a payments and trading platform.

C++ hot paths behind a thin, typed Python API: latency histograms
(`LatencyHistogram`, `Recorder`, Prometheus export), lock-free rings between
threads and processes (`SpscRing`, `MpscRing`, `MpmcRing`), a multi-symbol matching engine
(`MatchingEngine`), a double-entry ledger (`Ledger`), the exchange that
composes them (`Exchange`: balance holds wired into matching), the sequencer
(`Runner`) and the journal (`Journal`: durability, recovery, backups).
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
from shanraq_core.errors import CapacityError
from shanraq_core.exchange import (
    EXCHANGE_COMMAND_DTYPE,
    EXCHANGE_EVENT_DTYPE,
    Exchange,
    ExchangeCommandKind,
    ExchangeEventType,
    ExchangeRejectReason,
    ExchangeReport,
    Violation,
)
from shanraq_core.hist import LatencyHistogram, Recorder
from shanraq_core.journal import Journal, TailReader
from shanraq_core.ledger import (
    ACCOUNT_BALANCE_DTYPE,
    ACCOUNT_DTYPE,
    LEDGER_COMMAND_DTYPE,
    LEDGER_EVENT_DTYPE,
    TRANSFER_DTYPE,
    AccountFilterFlags,
    AccountFlags,
    CommandFlags,
    CommandRejection,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    LedgerCommandKind,
    LedgerEventType,
    QueryFilterFlags,
    SetLimitResult,
    TransferFlags,
    make_transfer_id,
)
from shanraq_core.queue import Closed, MpmcRing, MpscRing, SpscRing
from shanraq_core.runner import Runner

__all__ = [
    "ACCOUNT_BALANCE_DTYPE",
    "ACCOUNT_DTYPE",
    "BOOK_COMMAND_DTYPE",
    "BOOK_EVENT_DTYPE",
    "EXCHANGE_COMMAND_DTYPE",
    "EXCHANGE_EVENT_DTYPE",
    "LEDGER_COMMAND_DTYPE",
    "LEDGER_EVENT_DTYPE",
    "TRANSFER_DTYPE",
    "AccountFilterFlags",
    "AccountFlags",
    "CancelReason",
    "CapacityError",
    "Closed",
    "CommandFlags",
    "CommandKind",
    "CommandRejection",
    "CreateAccountResult",
    "CreateTransferResult",
    "EventType",
    "Exchange",
    "ExchangeCommandKind",
    "ExchangeEventType",
    "ExchangeRejectReason",
    "ExchangeReport",
    "Journal",
    "LatencyHistogram",
    "Ledger",
    "LedgerCommandKind",
    "LedgerEventType",
    "MatchingEngine",
    "MpmcRing",
    "MpscRing",
    "OrderInfo",
    "OrderState",
    "OrderType",
    "QueryFilterFlags",
    "Recorder",
    "RejectReason",
    "Report",
    "Runner",
    "SelfTradePrevention",
    "SetLimitResult",
    "Side",
    "SpscRing",
    "SymbolInfo",
    "TailReader",
    "TimeInForce",
    "Trade",
    "TransferFlags",
    "Violation",
    "__version__",
    "make_transfer_id",
]
