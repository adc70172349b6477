# C++ declarations of the matching engine core (cpp/include/shanraq/book/)
# and the binding class, so other binding modules (the runner) can cimport
# them. C++ exceptions go through the boundary layer's translate_exception.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.glue cimport translate_exception


cdef extern from "shanraq/book/types.hpp" namespace "shanraq::book" nogil:
    # Scoped enums (uint8_t underneath); the binding casts to and from ints.
    cdef enum class CommandKind "shanraq::book::CommandKind"(uint8_t):
        kSubmit "shanraq::book::CommandKind::kSubmit"
        kCancel "shanraq::book::CommandKind::kCancel"
        kAmend "shanraq::book::CommandKind::kAmend"
        kMassCancel "shanraq::book::CommandKind::kMassCancel"
        kAdvanceTime "shanraq::book::CommandKind::kAdvanceTime"
        kAddSymbol "shanraq::book::CommandKind::kAddSymbol"
        kUpdateSymbol "shanraq::book::CommandKind::kUpdateSymbol"
        kHaltSymbol "shanraq::book::CommandKind::kHaltSymbol"
        kResumeSymbol "shanraq::book::CommandKind::kResumeSymbol"
    cdef enum class CSide "shanraq::book::Side"(uint8_t):
        pass
    cdef enum class COrderType "shanraq::book::OrderType"(uint8_t):
        pass
    cdef enum class CTif "shanraq::book::TimeInForce"(uint8_t):
        pass
    cdef enum class CStp "shanraq::book::Stp"(uint8_t):
        pass
    cdef enum class CEventType "shanraq::book::EventType"(uint8_t):
        pass
    cdef enum class CRejectReason "shanraq::book::RejectReason"(uint8_t):
        pass
    cdef enum class CCancelReason "shanraq::book::CancelReason"(uint8_t):
        pass
    cdef enum class COrderState "shanraq::book::OrderState"(uint8_t):
        kRejected "shanraq::book::OrderState::kRejected"

    const uint8_t kFlagPostOnly "shanraq::book::kFlagPostOnly"
    const uint8_t kFlagMassByAccount "shanraq::book::kFlagMassByAccount"
    const uint8_t kFlagMassBySymbol "shanraq::book::kFlagMassBySymbol"

    cdef struct Command:
        uint64_t seq
        int64_t time_ns
        CommandKind kind
        CSide side
        COrderType order_type
        CTif tif
        CStp stp
        uint8_t flags
        uint16_t reserved0
        uint32_t symbol
        uint32_t reserved1
        uint64_t order_id
        uint64_t account
        int64_t price
        int64_t qty
        int64_t stop_price
        int64_t display_qty
        int64_t expire_ns

    cdef struct Event:
        uint64_t seq
        int64_t time_ns
        CEventType type
        uint8_t reason
        CSide side
        COrderType order_type
        CommandKind command
        CTif tif
        uint32_t symbol
        uint64_t order_id
        uint64_t account
        int64_t price
        int64_t qty
        uint64_t other_order_id
        uint64_t other_account
        int64_t remaining
        int64_t other_remaining

    cdef cppclass SymbolSpec:
        uint32_t symbol
        int64_t tick_size
        int64_t lot_size
        int64_t min_price
        int64_t max_price
        int64_t max_qty

    CTif default_tif(COrderType) noexcept
    Command make_symbol_command(CommandKind, const SymbolSpec&, int64_t) noexcept


cdef extern from "shanraq/book/engine.hpp" namespace "shanraq::book" nogil:
    cdef cppclass EngineConfig:
        uint32_t max_orders
        uint32_t max_symbols
        uint32_t max_levels
        uint32_t id_history
        cbool market_data

    cdef cppclass SymbolInfo:
        cbool known
        cbool halted
        cbool has_last
        SymbolSpec spec
        int64_t last_price

    cdef cppclass OrderInfo:
        COrderState state
        uint32_t symbol
        CSide side
        COrderType order_type
        CTif tif
        uint64_t account
        int64_t price
        int64_t stop_price
        int64_t qty
        int64_t filled
        int64_t remaining
        int64_t visible
        int64_t expire_ns

    cdef cppclass LevelInfo:
        int64_t price
        int64_t qty
        uint32_t orders

    cdef cppclass Bbo:
        cbool has_bid
        cbool has_ask
        int64_t bid_price
        int64_t bid_qty
        int64_t ask_price
        int64_t ask_qty

    cdef cppclass CommandResult:
        COrderState state
        CRejectReason reject
        CCancelReason cancel
        int64_t filled
        int64_t remaining
        uint32_t trades
        uint64_t count

    cdef cppclass MatchingEngine:
        MatchingEngine(const EngineConfig&) except +translate_exception
        void process(const Command*, size_t, vector[Event]&) except +translate_exception
        CommandResult apply_summarized(const Command&, vector[Event]&, vector[Event]*) except +translate_exception
        cbool has_symbol(uint32_t) noexcept
        SymbolInfo symbol_info(uint32_t) noexcept
        Bbo bbo(uint32_t) noexcept
        size_t side_levels(uint32_t, CSide) noexcept
        size_t depth(uint32_t, CSide, LevelInfo*, size_t) noexcept
        vector[uint64_t] level_orders(uint32_t, CSide, int64_t) except +translate_exception
        OrderInfo order(uint64_t) noexcept
        cbool last_trade_price(uint32_t, int64_t*) noexcept
        uint64_t next_seq() noexcept
        int64_t now_ns() noexcept
        size_t live_orders() noexcept
        size_t level_count() noexcept
        size_t symbol_count() noexcept
        const EngineConfig& config() noexcept
        size_t memory_reserved() noexcept
        uint64_t evicted_max() noexcept
        string snapshot() except +translate_exception
        uint64_t state_hash() except +translate_exception

    unique_ptr[MatchingEngine] restore_unique "shanraq::book::MatchingEngine::restore_unique"(
        const uint8_t*, size_t) except +translate_exception


cdef class MatchingEngineBase:
    # The C++ engine (owned) and the busy flag: while a call runs without the
    # GIL (process, or a runner driving the engine) every other call raises
    # RuntimeError instead of racing it.
    cdef MatchingEngine* eng
    cdef cbool _busy
    # Per-call buffers, reused: the events of the last command (or batch) and
    # the trades of the last per-call command's order.
    cdef vector[Event] events
    cdef vector[Event] trades
    # The last per-call Report, reused for the next command when nobody else
    # holds a reference to it any more (the usual fire-and-forget call).
    cdef object _report
    cdef int _check(self) except -1
    cdef object _run(self, const Command* cmd)
