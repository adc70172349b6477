// The journal: an append-only, segmented, checksummed and hash-chained log of
// a state machine's stamped commands, with group commit, snapshots, recovery
// on open and a retention policy. docs/durability.md is its design page;
// format.hpp its bytes.
//
// Write path. The owner (the sequencer's thread: runner/runner.hpp) calls
// append() with each stamped batch before applying it: append() copies the
// records into a staging ring and returns without touching the disk. The
// journal's writer thread takes everything staged (group commit: many
// batches, one write, one fdatasync), checksums, chains and optionally
// encrypts it, writes it into a preallocated segment and syncs it per the
// durability policy; the owner then calls await_policy(seq) after applying
// the batch and before publishing its events, so the apply overlaps the
// write and no event is published before its command is durable.
//
// Durability. durable_seq() is the last seq the policy's promise holds for:
//   every_batch  on disk (fdatasync returned) before await_policy returns;
//   interval_ms  on disk; synced at most interval_ms after it was written,
//                await_policy does not wait (RPO <= interval);
//   none         handed to the kernel (survives the process, not the
//                machine); synced only at a segment roll and at close.
// synced_seq() is always the fdatasync watermark.
//
// Errors. A failed write or sync stops the journal for good (failed()): every
// later call rethrows that error (an fsync that failed cannot be retried
// safely); reopen to recover from what is on disk.
//
// Threads. open/append/await_policy/snapshot/rotate_key/close: the owner
// thread only. durable_seq/synced_seq/written_seq/wait_durable/stats: any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "shanraq/journal/crypto.hpp"
#include "shanraq/journal/errors.hpp"
#include "shanraq/journal/format.hpp"
#include "shanraq/journal/machine.hpp"
#include "shanraq/journal/storage.hpp"

namespace shanraq::journal {

enum class Durability : std::uint8_t { kEveryBatch = 0, kInterval = 1, kNone = 2 };

struct DurabilityPolicy {
  Durability mode = Durability::kEveryBatch;
  std::uint32_t interval_ms = 0;  // kInterval: most ms between a write and its sync, in [1, 60000]

  // "every_batch", "interval_ms=N", "none"; std::invalid_argument otherwise.
  static DurabilityPolicy parse(std::string_view text);
  std::string to_string() const;
};

enum class Preallocation : std::uint8_t {
  kZeroFill = 0,   // write zeros over the whole segment, then sync (the default: fastest fdatasync)
  kFallocate = 1,  // fallocate(): reserved but unwritten extents
  kNone = 2,       // grow the file as written
};

struct JournalOptions {
  DurabilityPolicy durability;
  // Bytes per segment file, in [64 KiB, 1 GiB].
  std::uint64_t segment_bytes = std::uint64_t{64} << 20;
  // Largest single write (one group); also bounds a frame. In [4 KiB, 64 MiB]
  // and <= segment_bytes / 2.
  std::uint32_t max_write_bytes = 1u << 20;
  // Staging ring between the owner and the writer, >= 2 * max_write_bytes;
  // append() waits when it is full.
  std::uint64_t buffer_bytes = std::uint64_t{16} << 20;
  // Snapshots kept (>= 1); segments are deleted once the oldest kept
  // snapshot covers them.
  std::uint32_t keep_snapshots = 2;
  // Create the directory (its parent must exist) and a new journal if there
  // is none; otherwise a missing directory is an IoError.
  bool create = true;
  Preallocation preallocation = Preallocation::kZeroFill;
  // Encryption at rest: new segments and snapshots are encrypted under
  // key_id (0: not encrypted), which must be in the keyring; existing files
  // are opened under the key their header names. The keyring must outlive
  // the journal.
  const Keyring* keyring = nullptr;
  std::uint32_t key_id = 0;
  // nullptr: the real file system.
  Storage* storage = nullptr;
  // Every recovery note (torn tail truncated, snapshot skipped, ...) also
  // goes here, on the thread that opens.
  std::function<void(const std::string&)> log;
};

struct TornTail {
  std::string file;
  std::uint64_t offset = 0;  // where the last whole frame ended
  std::uint64_t seq = 0;     // the first seq that was not recovered
  std::uint64_t bytes = 0;   // bytes cut (non-zero ones up to the end of the torn window)
  std::string why;
};

struct RecoveryReport {
  bool created = false;             // a new journal
  std::uint64_t snapshot_seq = 0;   // the snapshot recovery started from (0: none)
  std::string snapshot_file;
  std::uint64_t replayed = 0;       // records applied after it
  std::uint64_t last_seq = 0;       // the last seq recovered (machine.next_seq() - 1)
  bool torn = false;
  TornTail torn_tail;
  std::vector<std::string> notes;   // everything logged, in order
};

struct JournalStats {
  std::uint64_t records = 0;  // written
  std::uint64_t frames = 0;
  std::uint64_t groups = 0;   // writes
  std::uint64_t syncs = 0;    // fdatasyncs of segment data
  std::uint64_t bytes = 0;    // written to segments
  std::uint64_t segments = 0; // opened by this journal
  std::uint64_t max_group_records = 0;
  // group_records[k]: groups of [2^k, 2^(k+1)) records.
  std::uint64_t group_records[32] = {};
};

// Opens (creating if allowed) the journal in `dir` and recovers `machine`
// into the state it records: the newest valid snapshot, then every record
// after it. `machine` must be fresh (as constructed) unless the journal is
// new, in which case a machine with state (next_seq() > 1) starts it: its
// snapshot is written first. See docs/durability.md for the torn-tail rule.
// Throws: IoError (missing directory, permission, ...), LockedError,
// FormatError (foreign file, other version or machine), KeyError,
// CorruptionError (with file, offset and seq), whatever the machine throws.
// A failed open changes nothing on disk.
// Writes a snapshot file of `machine` at `seq` into `dir` atomically
// (temporary file, fsync, rename, fsync of the directory), linked to the
// chain value `chain` and the journal `journal_id`, encrypted under key_id
// (0: not). Journal::snapshot and the tools use it.
void write_snapshot(Storage& storage, const std::string& dir, const MachineAdapter& machine, std::uint64_t seq,
                    const Digest& chain, std::uint64_t journal_id, std::uint32_t key_id, const Keyring* keyring);

class Journal {
 public:
  static std::unique_ptr<Journal> open(const std::string& dir, const JournalOptions& options, MachineAdapter& machine,
                                       RecoveryReport* report = nullptr);
  // close(), dropping its error (call close() to see it).
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Stages n records (record_size bytes each, back to back) stamped with
  // consecutive seqs starting at next_seq(). Returns the last seq (the
  // per-call acknowledgement to wait for). Waits while the staging ring is
  // full. Throws sm::SequenceError (nothing staged) if the seqs are out of
  // place, the writer's error if the journal failed, std::logic_error after
  // close. Owner thread.
  std::uint64_t append(const void* records, std::size_t n);
  std::uint64_t next_seq() const noexcept { return next_seq_; }

  std::uint64_t written_seq() const noexcept { return written_.load(std::memory_order_acquire); }
  std::uint64_t synced_seq() const noexcept { return synced_.load(std::memory_order_acquire); }
  std::uint64_t durable_seq() const noexcept { return durable_.load(std::memory_order_acquire); }
  bool is_durable(std::uint64_t seq) const noexcept { return durable_seq() >= seq; }

  // Waits until durable_seq() >= seq (true) or `timeout` passes (false;
  // negative: no limit). Rethrows the writer's error. Any thread.
  bool wait_durable(std::uint64_t seq, std::chrono::nanoseconds timeout = std::chrono::nanoseconds(-1));
  // What the sequencer calls after applying a batch ending at `seq`, before
  // publishing its events: waits for durability under every_batch, returns
  // at once under the other policies (their RPO is the policy's). Owner.
  void await_policy(std::uint64_t seq);
  // Writes and fdatasyncs everything appended, whatever the policy; returns
  // once synced_seq() covers it. Owner thread.
  void sync();

  // Writes a snapshot of `machine`, which must have applied exactly what was
  // appended (machine.next_seq() == next_seq()): syncs the journal, writes
  // the snapshot atomically (temporary file, fsync, rename, fsync of the
  // directory), then applies the retention policy. Returns its seq. Owner.
  std::uint64_t snapshot(const MachineAdapter& machine);

  // New segments (from the next one, which starts now) and snapshots are
  // encrypted under `key_id` (0: plaintext). KeyError if it is not in the
  // keyring. Owner thread.
  void rotate_key(std::uint32_t key_id);

  // Stages nothing more, writes and syncs everything staged, stops the
  // threads and releases the directory. Idempotent; rethrows the writer's
  // error once. Owner thread.
  void close();

  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  JournalStats stats() const;
  const std::string& dir() const noexcept { return dir_; }
  std::uint64_t journal_id() const noexcept { return journal_id_; }
  const JournalOptions& options() const noexcept { return opts_; }

 private:
  struct Desc {
    std::uint64_t ring_pos;  // monotonic byte position of the frame in the ring
    std::uint32_t bytes;
    std::uint32_t count;
    std::uint64_t last_seq;
  };

  Journal(std::string dir, const JournalOptions& options, Storage& storage);
  void start(std::uint64_t next_seq, const Digest& chain);
  void writer_loop() noexcept;
  void preparer_loop() noexcept;
  void write_group();
  void finalize_frame(std::uint8_t* frame);
  void open_segment(std::uint64_t first_seq);
  void seal_segment();
  void sync_segment();
  void publish_synced(std::uint64_t seq);
  void fail(std::exception_ptr e) noexcept;
  [[noreturn]] void rethrow_failure() const;
  void wake_writer();
  void write_snapshot_file(const MachineAdapter& machine, std::uint64_t seq, const Digest& chain);
  void apply_retention();
  std::unique_ptr<File> take_prepared_file(std::string* path);
  void request_preparation();
  void note(RecoveryReport& r, const std::string& msg) const;
  void recover(MachineAdapter& machine, RecoveryReport& rep);

  std::string dir_;
  JournalOptions opts_;
  Storage& storage_;
  std::shared_ptr<void> lock_;
  std::uint32_t machine_tag_ = 0;
  std::uint32_t wire_version_ = 0;
  std::uint32_t record_size_ = 0;
  std::uint32_t stride_ = 0;
  std::uint32_t max_frame_records_ = 0;
  std::uint64_t journal_id_ = 0;

  // Owner side.
  std::uint64_t next_seq_ = 1;
  std::uint64_t ring_head_ = 0;  // monotonic bytes staged
  bool closed_ = false;

  // Staging ring (owner writes frames, the writer finalizes and writes them).
  std::vector<std::uint8_t> ring_;
  std::vector<Desc> descs_;
  alignas(64) std::atomic<std::uint64_t> desc_head_{0};
  alignas(64) std::atomic<std::uint64_t> desc_tail_{0};
  std::atomic<std::uint64_t> ring_tail_{0};  // monotonic bytes the writer has released

  // Watermarks.
  alignas(64) std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> synced_{0};
  std::atomic<std::uint64_t> durable_{0};
  std::atomic<std::uint64_t> sync_request_{0};
  std::atomic<bool> failed_{false};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;  // set once before failed_

  // Sleeping and waking.
  std::mutex mu_;
  std::condition_variable writer_cv_;
  std::condition_variable durable_cv_;
  std::condition_variable space_cv_;
  std::atomic<bool> writer_sleeping_{false};
  std::atomic<int> durable_waiters_{0};
  std::atomic<bool> owner_waiting_space_{false};

  // Writer thread state.
  std::unique_ptr<File> seg_;
  std::string seg_path_;
  std::uint64_t seg_offset_ = 0;
  std::uint32_t frame_index_ = 0;
  std::uint32_t seg_key_id_ = 0;
  std::uint8_t seg_salt_[8] = {};
  std::atomic<std::uint32_t> key_id_{0};
  std::atomic<bool> roll_request_{false};
  Digest chain_{};
  std::uint64_t last_sync_ns_ = 0;
  std::unique_ptr<Sha256> sha_;
  std::unique_ptr<Gcm> gcm_;
  std::vector<iovec> iov_;
  JournalStats stats_;
  mutable std::mutex stats_mu_;
  std::thread writer_;

  // Segment preparation (a zero-filled file kept ready for the next roll).
  std::thread preparer_;
  std::mutex prep_mu_;
  std::condition_variable prep_cv_;
  bool prep_wanted_ = false;
  std::unique_ptr<File> prepared_;
  std::string prepared_path_;
  std::exception_ptr prep_error_;
  bool prep_busy_ = false;
  bool prep_stop_ = false;
  std::uint64_t prep_counter_ = 0;
};

}  // namespace shanraq::journal
