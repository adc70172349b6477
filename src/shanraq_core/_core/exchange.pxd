# C++ declarations of the exchange (cpp/include/shanraq/exchange/) and the
# binding class, so other binding modules (the runner) can cimport them.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.book cimport COrderType, CSide, CStp, CTif, MatchingEngine
from shanraq_core._core.glue cimport translate_exception


cdef extern from "shanraq/exchange/types.hpp" namespace "shanraq::exchange" nogil:
    cdef enum class XCommandKind "shanraq::exchange::CommandKind"(uint8_t):
        pass
    cdef enum class XEventType "shanraq::exchange::EventType"(uint8_t):
        pass
    cdef enum class XRejectReason "shanraq::exchange::RejectReason"(uint8_t):
        pass

    cdef struct ExchangeCommand:
        uint64_t seq
        int64_t time_ns
        XCommandKind kind
        CSide side
        COrderType order_type
        CTif tif
        CStp stp
        uint8_t flags
        uint16_t reserved0
        uint32_t symbol
        uint32_t asset
        uint64_t user
        uint64_t order_id
        int64_t price
        int64_t qty
        int64_t stop_price
        int64_t display_qty
        int64_t expire_ns

    cdef struct ExchangeEvent:
        uint64_t seq
        int64_t time_ns
        XEventType type
        uint8_t reason
        CSide side
        COrderType order_type
        XCommandKind command
        CTif tif
        uint16_t reserved0
        uint32_t symbol
        uint32_t asset
        uint64_t order_id
        uint64_t user
        int64_t price
        int64_t qty
        uint64_t other_order_id
        uint64_t other_user
        int64_t remaining
        int64_t other_remaining
        uint64_t amount
        uint64_t fee
        uint64_t other_fee
        uint64_t hold
        uint64_t other_hold


cdef extern from "shanraq/exchange/exchange.hpp" namespace "shanraq::exchange" nogil:
    cdef cppclass ExchangeConfig:
        uint32_t max_users
        uint32_t max_assets
        uint32_t max_symbols
        uint32_t max_orders
        uint32_t max_levels
        uint32_t id_history
        uint32_t max_accounts
        uint32_t max_transfers

    cdef cppclass Balance:
        cbool known
        uint64_t total
        uint64_t held
        uint64_t available

    cdef cppclass OrderHold:
        cbool open
        uint64_t user
        uint32_t symbol
        uint32_t asset
        uint64_t hold
        int64_t remaining

    cdef enum class Violation(uint8_t):
        pass

    cdef cppclass InvariantReport:
        Violation violation
        uint64_t user
        uint32_t asset
        uint64_t order_id
        string message

    cdef cppclass Exchange:
        Exchange(const ExchangeConfig&) except +translate_exception
        void process(const ExchangeCommand*, size_t, vector[ExchangeEvent]&) except +translate_exception
        uint64_t next_seq() noexcept
        int64_t now_ns() noexcept
        string snapshot() except +translate_exception
        uint64_t state_hash() except +translate_exception
        InvariantReport check_invariants() except +translate_exception
        Balance balance(uint64_t, uint32_t) noexcept
        cbool fee_balance(uint32_t, uint64_t*) noexcept
        cbool external_balance(uint32_t, int64_t*) noexcept
        OrderHold order_hold(uint64_t) noexcept
        vector[uint64_t] open_orders(uint64_t) except +translate_exception
        uint32_t open_order_count(uint64_t) noexcept
        cbool has_user(uint64_t) noexcept
        cbool has_asset(uint32_t) noexcept
        cbool has_symbol(uint32_t) noexcept
        const ExchangeConfig& config() noexcept
        const MatchingEngine& engine() noexcept
        size_t user_count() noexcept
        size_t order_count() noexcept
        size_t memory_reserved() noexcept

    unique_ptr[Exchange] exchange_restore "shanraq::exchange::Exchange::restore_unique"(
        const uint8_t*, size_t) except +translate_exception


cdef class ExchangeBase:
    # The C++ machine (owned) and the busy flag (see glue.pxd).
    cdef Exchange* x
    cdef cbool _busy
    # Events of the last per-call command or batch (reused buffer).
    cdef vector[ExchangeEvent] events
    cdef object _engine_view
    cdef int _check(self) except -1
    cdef object _run(self, ExchangeCommand* c)
    cdef object _money(self, uint8_t kind, user, asset, transfer_id, amount, time_ns)
