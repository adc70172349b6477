# C++ declarations of the ledger (cpp/include/shanraq/ledger/) and the binding
# class, so other binding modules (the runner, the exchange) can cimport them.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.glue cimport translate_exception


cdef extern from "shanraq/ledger/types.hpp" namespace "shanraq::ledger" nogil:
    uint32_t kCreatedStatus
    uint64_t kAmountMax
    cdef struct Account:
        uint64_t id
        uint64_t debits_pending
        uint64_t debits_posted
        uint64_t credits_pending
        uint64_t credits_posted
        uint64_t user_data_128[2]
        uint64_t user_data_64
        uint32_t user_data_32
        uint32_t reserved
        uint32_t ledger
        uint16_t code
        uint16_t flags
        uint64_t timestamp
        uint64_t limit

    cdef struct Transfer:
        uint64_t id
        uint64_t debit_account_id
        uint64_t credit_account_id
        uint64_t amount
        uint64_t pending_id
        uint64_t user_data_128[2]
        uint64_t user_data_64
        uint32_t user_data_32
        uint32_t ledger
        uint16_t code
        uint16_t flags
        uint32_t reserved
        uint64_t timeout_ns
        uint64_t timestamp

    cdef struct AccountBalance:
        uint64_t timestamp

    cdef struct CreateResult:
        uint64_t timestamp
        uint32_t status
        uint32_t reserved

    uint32_t kQueryLimitMax
    cdef struct AccountFilter:
        uint64_t account_id
        uint64_t user_data_128[2]
        uint64_t user_data_64
        uint32_t user_data_32
        uint16_t code
        uint16_t reserved
        uint64_t timestamp_min
        uint64_t timestamp_max
        uint32_t limit
        uint32_t flags

    cdef struct QueryFilter:
        uint64_t user_data_128[2]
        uint64_t user_data_64
        uint32_t user_data_32
        uint32_t ledger
        uint16_t code
        uint16_t reserved[3]
        uint64_t timestamp_min
        uint64_t timestamp_max
        uint32_t limit
        uint32_t flags

    size_t query_room(uint32_t) noexcept

    cdef struct SignedAmount:
        uint64_t magnitude[2]
        cbool negative

    SignedAmount account_balance(const Account&) noexcept

    cdef enum class CreateAccountResult(uint32_t):
        pass
    cdef enum class CreateTransferResult(uint32_t):
        pass
    cdef enum class SetLimitResult(uint32_t):
        pass
    cdef enum class PendingStatus(uint8_t):
        pass
    cdef cppclass AccountFlagBits:
        pass
    cdef cppclass TransferFlagBits:
        pass


cdef extern from "shanraq/ledger/ledger.hpp" namespace "shanraq::ledger" nogil:
    cdef cppclass LedgerCapacity:
        uint32_t accounts
        uint32_t transfers
        uint32_t history
        uint64_t idempotency_window_ns
        uint32_t archive

    cdef cppclass Ledger:
        void prefetch_transfer(uint64_t, uint64_t, uint64_t, uint64_t) noexcept
        void prefetch_transfer_records(uint64_t, uint64_t, uint64_t) noexcept
        cbool lookup_account(uint64_t, Account&) noexcept
        cbool lookup_transfer(uint64_t, Transfer&) noexcept
        size_t archived_count() noexcept
        size_t account_history(uint64_t, uint64_t, uint64_t, AccountBalance*, size_t) noexcept
        size_t get_account_transfers(const AccountFilter&, Transfer*) except +translate_exception
        size_t get_account_balances(const AccountFilter&, AccountBalance*) except +translate_exception
        size_t query_accounts(const QueryFilter&, Account*) except +translate_exception
        size_t query_transfers(const QueryFilter&, Transfer*) except +translate_exception
        size_t account_count() noexcept
        size_t transfer_count() noexcept
        size_t history_count() noexcept
        uint64_t last_timestamp() noexcept
        const LedgerCapacity& capacity() noexcept
        size_t memory_bytes() noexcept


cdef extern from "shanraq/ledger/machine.hpp" namespace "shanraq::ledger" nogil:
    int64_t kMaxTime

    cdef struct LedgerCommand:
        uint64_t seq
        int64_t time_ns
        uint8_t kind

    cdef struct LedgerEvent:
        uint64_t seq

    cdef enum class LedgerCommandKind(uint8_t):
        pass
    cdef enum class LedgerEventType(uint8_t):
        pass
    cdef enum class CommandRejection(uint32_t):
        pass

    cdef cppclass LedgerMachine:
        LedgerMachine(const LedgerCapacity&) except +translate_exception
        void process(const LedgerCommand*, size_t, vector[LedgerEvent]&) except +translate_exception
        uint64_t next_seq() noexcept
        int64_t now_ns() noexcept
        string snapshot() except +translate_exception
        uint64_t state_hash() noexcept
        void create_accounts(const Account*, size_t, int64_t, CreateResult*) except +translate_exception
        void create_transfers(const Transfer*, size_t, int64_t, CreateResult*) except +translate_exception
        CreateAccountResult create_account(const Account&, int64_t, uint64_t*) except +translate_exception
        CreateTransferResult transfer(const Transfer&, int64_t, uint64_t*) except +translate_exception
        SetLimitResult set_account_limit(uint64_t, uint64_t, int64_t) except +translate_exception
        size_t advance_time(int64_t) except +translate_exception
        size_t evict(int64_t) except +translate_exception
        size_t drain_evicted(uint64_t, int64_t, Transfer*) except +translate_exception
        const Ledger& ledger() noexcept
        size_t open_chain_length() noexcept
        size_t drain_room(uint64_t) noexcept
        void prefault() noexcept

    unique_ptr[LedgerMachine] machine_restore "shanraq::ledger::LedgerMachine::restore_unique"(
        const uint8_t*, size_t) except +translate_exception


# The C++ machine and the busy flag: while a runner (or another thread inside
# a call that released the GIL) drives the machine, `_busy` is set and every
# Python call on the object raises RuntimeError.
cdef class LedgerBase:
    cdef LedgerMachine* m
    cdef cbool _busy
    cdef vector[LedgerEvent] _events
    # The timestamp of the last per-call create's result (TigerBeetle 0.17).
    cdef uint64_t _result_timestamp
    cdef int _enter(self) except -1
