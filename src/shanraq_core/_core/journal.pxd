# C++ declarations of the journal (cpp/include/shanraq/journal/) through its
# binding handle (journal_glue.hpp), and the binding class, so the runner
# binding can cimport it (Runner(..., journal=...)).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.string cimport string
from libcpp.vector cimport vector

from shanraq_core._core.glue cimport translate_exception


cdef extern from "<chrono>" namespace "std::chrono" nogil:
    cdef cppclass jnanoseconds "std::chrono::nanoseconds":
        jnanoseconds(int64_t) noexcept


cdef extern from "shanraq/journal/journal.hpp" namespace "shanraq::journal" nogil:
    cdef enum class Durability(uint8_t):
        kEveryBatch "shanraq::journal::Durability::kEveryBatch"
        kInterval "shanraq::journal::Durability::kInterval"
        kNone "shanraq::journal::Durability::kNone"

    cdef cppclass DurabilityPolicy:
        Durability mode
        uint32_t interval_ms
        string to_string()

    cdef enum class Preallocation(uint8_t):
        kZeroFill "shanraq::journal::Preallocation::kZeroFill"
        kFallocate "shanraq::journal::Preallocation::kFallocate"
        kNone "shanraq::journal::Preallocation::kNone"

    cdef cppclass Keyring:
        pass

    cdef cppclass JournalOptions:
        DurabilityPolicy durability
        uint64_t segment_bytes
        uint32_t max_write_bytes
        uint64_t buffer_bytes
        uint32_t keep_snapshots
        cbool create
        Preallocation preallocation
        uint32_t key_id

    cdef cppclass TornTail:
        string file
        uint64_t offset
        uint64_t seq
        uint64_t bytes
        string why

    cdef cppclass RecoveryReport:
        cbool created
        uint64_t snapshot_seq
        string snapshot_file
        uint64_t replayed
        uint64_t last_seq
        cbool torn
        TornTail torn_tail
        vector[string] notes

    cdef cppclass JournalStats:
        uint64_t records
        uint64_t frames
        uint64_t groups
        uint64_t syncs
        uint64_t bytes
        uint64_t segments
        uint64_t max_group_records

    cdef cppclass Journal:
        uint64_t next_seq() noexcept
        uint64_t written_seq() noexcept
        uint64_t synced_seq() noexcept
        uint64_t durable_seq() noexcept
        cbool is_durable(uint64_t) noexcept
        cbool wait_durable(uint64_t, jnanoseconds) except +translate_exception
        void sync() except +translate_exception
        void rotate_key(uint32_t) except +translate_exception
        cbool failed() noexcept
        JournalStats stats() except +translate_exception
        const string& dir() noexcept
        uint64_t journal_id() noexcept
        const JournalOptions& options() noexcept


cdef extern from "shanraq/journal/reader.hpp" namespace "shanraq::journal" nogil:
    cdef cppclass Expect:
        uint32_t machine_tag
        uint32_t wire_version
        uint32_t record_size
        uint64_t journal_id

    cdef cppclass VerifyReport:
        uint64_t from_seq
        uint64_t last_seq
        uint64_t base_snapshot
        uint64_t records
        uint64_t frames
        uint64_t segments
        vector[uint64_t] snapshots_checked
        cbool torn
        TornTail torn_tail

    cdef cppclass PointInTime:
        uint64_t seq
        int64_t time_ns

    cdef cppclass BackupReport:
        string path
        uint64_t snapshot_seq
        uint64_t last_seq
        uint64_t files
        uint64_t bytes

    cdef cppclass BackupRetention:
        uint32_t daily
        uint32_t weekly
        uint32_t monthly

    cdef cppclass TailReader:
        size_t read(uint8_t*, size_t) except +translate_exception
        uint64_t position() noexcept


cdef extern from "journal_glue.hpp" namespace "shq" nogil:
    cdef cppclass BoundMachine:
        uint32_t machine_tag() noexcept
        uint32_t record_size() noexcept
        uint64_t next_seq() noexcept
        size_t event_size() noexcept

    BoundMachine* new_bound[M](M& machine) except +translate_exception
    DurabilityPolicy parse_policy(const string&) except +translate_exception

    cdef cppclass JournalHandle:
        JournalHandle(BoundMachine*) except +translate_exception
        void add_key(uint32_t, const uint8_t*) except +translate_exception
        const Keyring* keyring() noexcept
        void open(const string&, JournalOptions) except +translate_exception
        uint64_t process(uint8_t*, size_t, string&) except +translate_exception
        Journal& journal() except +translate_exception
        cbool is_open() noexcept
        BoundMachine& machine() noexcept
        const RecoveryReport& report() noexcept
        uint64_t snapshot() except +translate_exception
        void close() except +translate_exception
        void release() noexcept

    cdef cppclass SegmentView:
        string path
        uint64_t first_seq
        uint64_t bytes
        cbool header_ok
        uint32_t version
        uint32_t machine_tag
        uint32_t wire_version
        uint32_t record_size
        uint32_t key_id
        uint64_t journal_id

    cdef cppclass SnapshotView:
        string path
        uint64_t seq
        uint64_t bytes
        cbool header_ok
        uint32_t machine_tag
        uint32_t wire_version
        uint32_t key_id
        int64_t time_ns
        uint64_t state_hash
        uint64_t journal_id

    cdef cppclass JournalView:
        vector[SegmentView] segments
        vector[SnapshotView] snapshots
        vector[string] temporary
        vector[string] other

    JournalView inspect(const string&) except +translate_exception
    Expect expect_of(const BoundMachine&) noexcept


cdef class JournalBase:
    cdef JournalHandle* h
    # Set while a call runs without the GIL (and while a runner journals
    # through this journal): other threads get RuntimeError.
    cdef cbool _busy
    cdef object _machine
    # The machine's own busy flag, held for the duration of each call that
    # applies commands to it.
    cdef cbool* _machine_busy
    cdef object _report
    # TailReaders reading through this journal right now (close() waits for none).
    cdef int _pins
    cdef int _check(self) except -1
    cdef int _open_check(self) except -1
