// Reading a journal: the verified scanner recovery, verification, backups,
// point-in-time recovery and the tailing reader share, and those tools.
// Every check the format allows is made on every read: header and record
// CRC32Cs, sequence continuity, the hash chain, GCM tags, segment links.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shanraq/journal/crypto.hpp"
#include "shanraq/journal/format.hpp"
#include "shanraq/journal/journal.hpp"
#include "shanraq/journal/machine.hpp"
#include "shanraq/journal/storage.hpp"

namespace shanraq::journal {

struct SegmentInfo {
  std::string path;
  std::uint64_t first_seq = 0;
};
struct SnapshotInfo {
  std::string path;
  std::uint64_t seq = 0;
};
// A journal directory's files by kind, each list sorted by seq.
struct Listing {
  std::vector<SegmentInfo> segments;
  std::vector<SnapshotInfo> snapshots;
  std::vector<std::string> temporary;  // *.tmp
  std::vector<std::string> other;      // neither ours nor LOCK
};
Listing list_journal(Storage& storage, const std::string& dir);

// What the files must agree on; journal_id 0 learns it from the first file.
struct Expect {
  std::uint32_t machine_tag = 0;
  std::uint32_t wire_version = 0;
  std::uint32_t record_size = 0;
  std::uint64_t journal_id = 0;
};

struct SnapshotFile {
  SnapshotHeader header{};
  std::string body;  // the machine's snapshot() bytes, decrypted and checked
};
// Reads and checks a snapshot file: FormatError (not a snapshot, other
// version or machine or journal), KeyError, CorruptionError (checksums,
// name and header disagree).
SnapshotFile read_snapshot(Storage& storage, const std::string& path, const Keyring* keyring, const Expect& expect);

// Reads the records of consecutive segments in order, verifying everything.
// A damaged frame ends the scan when the torn-tail rule (docs/durability.md)
// calls it a crash mid-write of the newest segment (torn() then says where),
// and throws CorruptionError otherwise.
class Scanner {
 public:
  Scanner(Storage& storage, const Keyring* keyring, std::vector<SegmentInfo> segments, const Expect& expect);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Reads the next frame; false at the end (clean or torn).
  bool next();
  std::uint64_t first_seq() const noexcept;
  std::uint32_t count() const noexcept;
  // Payload of record i of the current frame (record_size bytes).
  const std::uint8_t* record(std::uint32_t i) const noexcept;
  // Chain value after the current frame (before any: the first segment's
  // prev_chain).
  const Digest& chain() const noexcept;
  // Last seq read so far (the first segment's first_seq - 1 before any).
  std::uint64_t last_seq() const noexcept;
  const Digest& origin_chain() const noexcept;  // the first segment's prev_chain
  std::uint64_t origin_seq() const noexcept;    // the first segment's first_seq
  std::uint64_t journal_id() const noexcept;
  bool torn() const noexcept;
  const TornTail& torn_tail() const noexcept;
  // Where the current segment's valid data ends, and which segment it is.
  const std::string& segment_path() const noexcept;
  std::uint64_t segment_end() const noexcept;
  std::size_t segment_index() const noexcept;
  std::uint64_t frames() const noexcept;
  // The segment header of the current segment.
  const SegmentHeader& segment_header() const noexcept;
  // For following a live journal: adds the segments of `all` newer than the
  // last known one and forgets the end seen, so next() looks again.
  void extend(const std::vector<SegmentInfo>& all);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct VerifyReport {
  std::uint64_t from_seq = 0;       // first seq replayed
  std::uint64_t last_seq = 0;
  std::uint64_t base_snapshot = 0;  // 0: replayed from scratch (seq 1); else the snapshot it started from
  std::uint64_t records = 0;
  std::uint64_t frames = 0;
  std::uint64_t segments = 0;
  std::vector<std::uint64_t> snapshots_checked;  // their state hash, bytes and chain link matched the replay
  Digest chain{};
  bool torn = false;
  TornTail torn_tail;
};

// Replays the journal in `dir` into `machine` (reset() first) from seq 1 if
// the segments go back that far, else from the oldest valid snapshot, and
// checks every checksum, the chain, every segment link, and every snapshot
// it passes (state hash, snapshot bytes, chain). Read-only. Throws like
// Journal::open, CorruptionError for a snapshot that disagrees.
VerifyReport verify(const std::string& dir, MachineAdapter& machine, const Keyring* keyring = nullptr,
                    Storage* storage = nullptr);

// Point-in-time recovery: rebuilds the state as of `seq` (every command <=
// seq), or as of `time_ns` (every command up to the first whose time_ns
// exceeds it), into `machine`, and writes a new journal directory `dst` (it
// must not exist, or be empty) holding that state as its snapshot, so
// Journal::open on dst continues from there. `options` says how dst is
// written (key_id, keyring for both). Never touches `src`.
struct PointInTime {
  std::uint64_t seq = UINT64_MAX;
  std::int64_t time_ns = INT64_MAX;
};
RecoveryReport restore_to(const std::string& src, const std::string& dst, PointInTime target, MachineAdapter& machine,
                          const JournalOptions& options = {});

// Backups. A backup set is a directory `backup-<UTC yyyymmddThhmmssZ>-<last
// seq>` under `root` with the newest valid snapshot, the segments after it
// (each cut to its last durable frame) and a MANIFEST (sha256, size and name
// of every file, the journal id, the seqs and the chain value at the end,
// and its own sha256). It is written as <name>.tmp, verified (hashes, then a
// replay into `machine` with every check of verify()), and only then renamed
// into place. `created_unix_s` names it.
struct BackupReport {
  std::string path;
  std::uint64_t snapshot_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};
BackupReport backup(const std::string& dir, const std::string& root, MachineAdapter& machine,
                    std::int64_t created_unix_s, const Keyring* keyring = nullptr, Storage* storage = nullptr);
// Checks a backup set: the manifest's own hash, every file's hash and size,
// no file missing or extra, then a replay as verify(). CorruptionError.
VerifyReport verify_backup(const std::string& set_dir, MachineAdapter& machine, const Keyring* keyring = nullptr,
                           Storage* storage = nullptr);
// Verifies the set, then copies it into `dst` (must not exist or be empty)
// as a journal directory Journal::open recovers from.
void restore_backup(const std::string& set_dir, const std::string& dst, MachineAdapter& machine,
                    const Keyring* keyring = nullptr, Storage* storage = nullptr);

// Schedules as a retention policy: keep the newest set of each of the last
// `daily` days, `weekly` weeks (Monday-based) and `monthly` months (UTC)
// that have a set, and always the newest set; delete the other sets (and
// stale .tmp sets). Returns the names deleted.
struct BackupRetention {
  std::uint32_t daily = 7;
  std::uint32_t weekly = 4;
  std::uint32_t monthly = 12;
};
std::vector<std::string> prune_backups(const std::string& root, const BackupRetention& policy,
                                       Storage* storage = nullptr);

// Follows a journal from a position: returns its records in order, each
// once, gap-free (seq, chain and checksums verified), and never one that is
// not yet durable: with a live Journal, nothing past its durable_seq();
// without one (a closed journal, another process's), nothing past the last
// whole frame on disk. Resumable: a new reader at position() continues
// exactly. Threads: one reader per thread; the live journal's owner thread
// is not involved.
class TailReader {
 public:
  TailReader(std::string dir, std::uint64_t from_seq, const Expect& expect, const Keyring* keyring = nullptr,
             const Journal* live = nullptr, Storage* storage = nullptr);
  ~TailReader();
  TailReader(const TailReader&) = delete;
  TailReader& operator=(const TailReader&) = delete;
  // Copies up to max_records record payloads (record_size bytes each, back to
  // back) into out; returns how many (0: nothing new yet). Their seqs are
  // position(), position() + 1, ... CorruptionError on damage.
  std::size_t read(std::uint8_t* out, std::size_t max_records);
  std::uint64_t position() const noexcept { return next_; }

 private:
  bool open_next_segment();
  std::string dir_;
  std::uint64_t next_;
  Expect expect_;
  const Keyring* keyring_;
  const Journal* live_;
  Storage& storage_;
  std::unique_ptr<Scanner> scanner_;
  std::uint32_t frame_pos_ = 0;  // records of the scanner's current frame already returned
  bool have_frame_ = false;
};

}  // namespace shanraq::journal
