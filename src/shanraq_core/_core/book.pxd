# C++ declarations of the matching engine core (cpp/include/shanraq/book/)
# and the binding class, so other binding modules can cimport them.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector


cdef extern from "shanraq/book/types.hpp" namespace "shanraq::book" nogil:
    # Scoped enums (uint8_t underneath); the binding casts to and from ints.
    cdef enum class CommandKind "shanraq::book::CommandKind"(uint8_t):
        pass
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
        pass

    cdef struct Command:
        uint64_t order_id
        uint64_t account
        int64_t price
        int64_t qty
        int64_t stop_price
        int64_t display_qty
        int64_t expire_ns
        int64_t time_ns
        uint32_t symbol
        CommandKind kind
        CSide side
        COrderType order_type
        CTif tif
        CStp stp
        uint8_t flags

    cdef struct Event:
        uint64_t seq
        int64_t time_ns
        uint64_t order_id
        uint64_t account
        uint64_t other_order_id
        uint64_t other_account
        int64_t price
        int64_t qty
        int64_t remaining
        int64_t other_remaining
        uint32_t symbol
        CEventType type
        uint8_t reason
        CSide side
        COrderType order_type
        CommandKind command
        CTif tif


cdef extern from "shanraq/book/engine.hpp" namespace "shanraq::book" nogil:
    cdef cppclass EngineConfig:
        uint32_t max_orders
        uint32_t max_symbols
        uint32_t max_levels
        uint32_t id_history
        cbool market_data

    cdef cppclass SymbolSpec:
        uint32_t symbol
        int64_t tick_size
        int64_t lot_size
        int64_t min_price
        int64_t max_price
        int64_t max_qty

    cdef enum class SymbolError "shanraq::book::SymbolError"(uint8_t):
        pass

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
        MatchingEngine(const EngineConfig&) except +
        SymbolError add_symbol(const SymbolSpec&) except +
        void apply(const Command&, vector[Event]&) except +
        void process(const Command*, size_t, vector[Event]&) except +
        cbool has_symbol(uint32_t) noexcept
        Bbo bbo(uint32_t) noexcept
        size_t depth(uint32_t, CSide, LevelInfo*, size_t) noexcept
        vector[uint64_t] level_orders(uint32_t, CSide, int64_t) except +
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
        string snapshot() except +
        uint64_t state_hash() except +

    CommandResult summarize "shanraq::book::MatchingEngine::summarize"(const Command&, const Event*, const Event*) noexcept


cdef class MatchingEngineBase:
    cdef MatchingEngine* eng
    cdef vector[Event] events
    # True while process() runs without the GIL: every other entry point
    # refuses, so a second thread cannot race the engine.
    cdef bint busy
    cdef int _check(self) except -1
    cdef object _run(self, Command* cmd)
