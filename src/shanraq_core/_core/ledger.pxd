# C++ declarations of the ledger core (cpp/include/shanraq/ledger/) and the
# binding class, so other binding modules (exchange) can cimport them.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string


cdef extern from "shanraq/ledger/types.hpp" namespace "shanraq::ledger" nogil:
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
        uint64_t timeout
        uint64_t timestamp

    cdef struct AccountBalance:
        uint64_t timestamp
        uint64_t debits_pending
        uint64_t debits_posted
        uint64_t credits_pending
        uint64_t credits_posted

    cdef enum class CreateAccountResult(uint32_t):
        kOk
    cdef enum class CreateTransferResult(uint32_t):
        kOk
    cdef enum class SetLimitResult(uint32_t):
        kOk


cdef extern from "shanraq/ledger/ledger.hpp" namespace "shanraq::ledger" nogil:
    cdef cppclass LedgerCapacity:
        uint32_t accounts
        uint32_t transfers
        uint32_t history
        uint64_t idempotency_window
        uint32_t archive

    cdef cppclass Ledger:
        Ledger(const LedgerCapacity&) except +
        void create_accounts(const Account*, size_t, uint64_t, uint32_t*) except +
        void create_transfers(const Transfer*, size_t, uint64_t, uint32_t*) except +
        CreateAccountResult create_account(const Account&, uint64_t) except +
        CreateTransferResult create_transfer(const Transfer&, uint64_t) except +
        void prefetch_transfer(uint64_t, uint64_t, uint64_t, uint64_t) noexcept
        void prefetch_transfer_records(uint64_t, uint64_t, uint64_t) noexcept
        SetLimitResult set_account_limit(uint64_t, uint64_t) noexcept
        size_t expire_pending_transfers(uint64_t) except +
        size_t evict() except +
        bint lookup_account(uint64_t, Account&) noexcept
        bint lookup_transfer(uint64_t, Transfer&) noexcept
        size_t drain_evicted(Transfer*, size_t) noexcept
        size_t archived_count() noexcept
        size_t account_history(uint64_t, uint64_t, uint64_t, AccountBalance*, size_t) noexcept
        size_t account_count() noexcept
        size_t transfer_count() noexcept
        size_t history_count() noexcept
        uint64_t last_timestamp() noexcept
        const LedgerCapacity& capacity() noexcept
        size_t memory_bytes() noexcept
        void prefault() noexcept
        uint64_t state_hash() noexcept
        string snapshot() except +

    unique_ptr[Ledger] ledger_restore "shanraq::ledger::Ledger::restore_unique"(const uint8_t*, size_t) except +


cdef class LedgerBase:
    cdef Ledger* l
    cdef int _check(self) except -1
