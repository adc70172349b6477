// The binding's view of the journal (cpp/include/shanraq/journal/): a machine
// erased to bytes with its events (BoundMachine, over any sm::StateMachine),
// an open journal with its machine and keyring (JournalHandle), and the
// inspection the command line prints. Python-free (compiled into the journal
// module and, with the core's warnings, into glue_check).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "shanraq/common/state_machine.hpp"
#include "shanraq/journal/crypto.hpp"
#include "shanraq/journal/format.hpp"
#include "shanraq/journal/journal.hpp"
#include "shanraq/journal/machine.hpp"
#include "shanraq/journal/reader.hpp"
#include "shanraq/journal/storage.hpp"

namespace shq {

namespace sj = shanraq::journal;

// A machine as the journal sees it (MachineAdapter) plus a typed apply that
// keeps the events, for Journal.process().
class BoundMachine : public sj::MachineAdapter {
 public:
  virtual std::size_t event_size() const noexcept = 0;
  // Applies n stamped records; their events' bytes are appended to `events`.
  virtual void process(const std::uint8_t* records, std::size_t n, std::string& events) = 0;
};

template <shanraq::sm::StateMachine M>
class BoundRef final : public BoundMachine {
 public:
  using Command = typename M::Command;
  using Event = typename M::Event;
  explicit BoundRef(M& m) : m_(m), ref_(m) {}
  std::uint32_t machine_tag() const noexcept override { return ref_.machine_tag(); }
  std::uint32_t wire_version() const noexcept override { return ref_.wire_version(); }
  std::uint32_t record_size() const noexcept override { return ref_.record_size(); }
  void apply(const std::uint8_t* records, std::size_t n) override { ref_.apply(records, n); }
  std::uint64_t next_seq() const noexcept override { return ref_.next_seq(); }
  std::int64_t now_ns() const noexcept override { return ref_.now_ns(); }
  std::uint64_t state_hash() const override { return ref_.state_hash(); }
  std::string snapshot() const override { return ref_.snapshot(); }
  void restore(const std::uint8_t* bytes, std::size_t n) override { ref_.restore(bytes, n); }
  void reset() override { ref_.reset(); }
  std::size_t event_size() const noexcept override { return sizeof(Event); }
  void process(const std::uint8_t* records, std::size_t n, std::string& events) override {
    batch_.resize(n);
    if (n != 0) std::memcpy(static_cast<void*>(batch_.data()), records, n * sizeof(Command));
    events_.clear();
    m_.process(batch_.data(), n, events_);
    events.append(reinterpret_cast<const char*>(events_.data()), events_.size() * sizeof(Event));
  }
  M& machine() noexcept { return m_; }

 private:
  M& m_;
  sj::MachineRef<M> ref_;
  std::vector<Command> batch_;
  std::vector<Event> events_;
};

// For Cython: a new adapter (owned by the caller) over machine `m`, which
// must outlive it.
template <class M>
BoundMachine* new_bound(M& m) {
  return new BoundRef<M>(m);
}

inline sj::DurabilityPolicy parse_policy(const std::string& text) { return sj::DurabilityPolicy::parse(text); }

// An open journal with the machine it recovered and the keys it may use.
class JournalHandle {
 public:
  // Takes ownership of `machine`. Keys are added before open().
  explicit JournalHandle(BoundMachine* machine) : machine_(machine) {}
  ~JournalHandle() {
    // The destructor of Journal closes it (dropping a late error).
    journal_.reset();
  }
  JournalHandle(const JournalHandle&) = delete;
  JournalHandle& operator=(const JournalHandle&) = delete;

  void add_key(std::uint32_t id, const std::uint8_t* key32) {
    std::array<std::uint8_t, sj::kKeyBytes> k{};
    std::memcpy(k.data(), key32, k.size());
    keyring_.add(id, k);
    k.fill(0);
  }
  const sj::Keyring* keyring() const noexcept { return keyring_.empty() ? nullptr : &keyring_; }

  // Journal::open with this handle's machine and keyring.
  void open(const std::string& dir, sj::JournalOptions options) {
    if (journal_) throw std::logic_error("journal: already open");
    options.keyring = keyring();
    options.log = nullptr;
    journal_ = sj::Journal::open(dir, options, *machine_, &report_);
  }

  // Stamps n records (record_size() bytes each, in place) with the next
  // seqs, journals them, then applies them; their events are appended to
  // `events`. Returns the last seq (wait for it to be durable). Throws
  // std::logic_error, before anything is journaled, if the machine has
  // applied commands the journal did not record.
  std::uint64_t process(std::uint8_t* records, std::size_t n, std::string& events) {
    sj::Journal& j = journal();
    if (poisoned_) {
      throw std::logic_error(
          "journal: a batch was journaled that the machine did not apply completely; reopen the journal to "
          "recover from what is on disk");
    }
    if (machine_->next_seq() != j.next_seq()) {
      throw std::logic_error("journal: the machine's next seq is " + std::to_string(machine_->next_seq()) +
                             " but the journal's is " + std::to_string(j.next_seq()) +
                             ": commands were applied to the machine without the journal");
    }
    if (n == 0) return j.next_seq() - 1;
    const std::size_t size = machine_->record_size();
    const std::uint64_t first = j.next_seq();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t seq = first + i;
      std::memcpy(records + i * size, &seq, sizeof seq);
    }
    const std::uint64_t last = j.append(records, n);
    try {
      machine_->process(records, n, events);
    } catch (...) {
      // The journal holds the batch; the machine refused part of it (a
      // capacity error). Replaying would refuse at the same command.
      poisoned_ = true;
      throw;
    }
    return last;
  }

  sj::Journal& journal() {
    if (!journal_) throw std::logic_error("journal: closed");
    return *journal_;
  }
  bool is_open() const noexcept { return static_cast<bool>(journal_); }
  BoundMachine& machine() noexcept { return *machine_; }
  const sj::RecoveryReport& report() const noexcept { return report_; }
  std::uint64_t snapshot() { return journal().snapshot(*machine_); }
  // Closes (idempotent); the Journal object stays readable (its watermarks)
  // until release(), which the binding calls with the GIL held, so another
  // thread reading a watermark never sees it destroyed under it.
  void close() {
    if (journal_) journal_->close();
  }
  void release() noexcept { journal_.reset(); }

 private:
  std::unique_ptr<BoundMachine> machine_;
  sj::Keyring keyring_;
  std::unique_ptr<sj::Journal> journal_;
  sj::RecoveryReport report_;
  bool poisoned_ = false;
};

// ---- inspection (read-only, for `journal inspect`) ----------------------------------------------
struct SegmentView {
  std::string path;
  std::uint64_t first_seq = 0;
  std::uint64_t bytes = 0;
  bool header_ok = false;  // magic, version and CRC check
  std::uint32_t version = 0;
  std::uint32_t machine_tag = 0;
  std::uint32_t wire_version = 0;
  std::uint32_t record_size = 0;
  std::uint32_t key_id = 0;
  std::uint64_t journal_id = 0;
};
struct SnapshotView {
  std::string path;
  std::uint64_t seq = 0;
  std::uint64_t bytes = 0;
  bool header_ok = false;
  std::uint32_t machine_tag = 0;
  std::uint32_t wire_version = 0;
  std::uint32_t key_id = 0;
  std::int64_t time_ns = 0;
  std::uint64_t state_hash = 0;
  std::uint64_t journal_id = 0;
};
struct JournalView {
  std::vector<SegmentView> segments;
  std::vector<SnapshotView> snapshots;
  std::vector<std::string> temporary;
  std::vector<std::string> other;
};

// Lists the directory's files and decodes each header (without verifying
// bodies: that is verify()). IoError if `dir` is not a readable directory.
inline JournalView inspect(const std::string& dir) {
  sj::Storage& st = sj::posix_storage();
  if (!st.is_dir(dir)) throw sj::IoError("journal: " + dir + " is not a directory", dir, 20 /* ENOTDIR */);
  const sj::Listing l = sj::list_journal(st, dir);
  JournalView v;
  for (const sj::SegmentInfo& s : l.segments) {
    SegmentView sv;
    sv.path = s.path;
    sv.first_seq = s.first_seq;
    auto f = st.open(s.path, sj::OpenMode::kRead);
    sv.bytes = f->size();
    sj::SegmentHeader h{};
    if (f->read(&h, sizeof h, 0) == sizeof h) {
      sv.header_ok = std::memcmp(h.magic, sj::kSegmentMagic, 8) == 0 && h.version == sj::kFormatVersion &&
                     h.header_crc == sj::segment_header_crc(h);
      sv.version = h.version;
      sv.machine_tag = h.machine_tag;
      sv.wire_version = h.wire_version;
      sv.record_size = h.record_size;
      sv.key_id = h.key_id;
      sv.journal_id = h.journal_id;
    }
    v.segments.push_back(sv);
  }
  for (const sj::SnapshotInfo& s : l.snapshots) {
    SnapshotView sv;
    sv.path = s.path;
    sv.seq = s.seq;
    auto f = st.open(s.path, sj::OpenMode::kRead);
    sv.bytes = f->size();
    sj::SnapshotHeader h{};
    if (f->read(&h, sizeof h, 0) == sizeof h) {
      sv.header_ok = std::memcmp(h.magic, sj::kSnapshotMagic, 8) == 0 && h.version == sj::kFormatVersion &&
                     h.header_crc == sj::snapshot_header_crc(h);
      sv.machine_tag = h.machine_tag;
      sv.wire_version = h.wire_version;
      sv.key_id = h.key_id;
      sv.time_ns = h.time_ns;
      sv.state_hash = h.state_hash;
      sv.journal_id = h.journal_id;
    }
    v.snapshots.push_back(sv);
  }
  v.temporary = l.temporary;
  v.other = l.other;
  return v;
}

// The expectations a reader of `machine`'s journal checks files against.
inline sj::Expect expect_of(const sj::MachineAdapter& m) {
  sj::Expect e;
  e.machine_tag = m.machine_tag();
  e.wire_version = m.wire_version();
  e.record_size = m.record_size();
  return e;
}

inline std::string digest_hex(const sj::Digest& d) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (std::uint8_t b : d) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

}  // namespace shq
