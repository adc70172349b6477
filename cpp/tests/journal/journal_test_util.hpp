// Shared pieces of the journal tests: a test machine with 64-byte commands
// and a state of chosen size (so snapshots can be large), temporary
// directories, command streams derived from a seed, and the sequencer seam.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "shanraq/common/hash.hpp"
#include "shanraq/common/snapshot_io.hpp"
#include "shanraq/common/state_machine.hpp"
#include "shanraq/journal/journal.hpp"
#include "shanraq/journal/machine.hpp"
#include "shanraq/runner/runner.hpp"

namespace shanraq::test_machines {

// 64-byte command: adds `value` to slot `value % slots` of the state and to
// the total; a negative value is rejected.
struct WideCommand {
  std::uint64_t seq;
  std::int64_t time_ns;
  std::uint8_t kind;
  std::uint8_t reserved[7];
  std::int64_t value;
  std::uint64_t extra[4];
};
struct WideEvent {
  std::uint64_t seq;
  std::int64_t time_ns;
  std::uint8_t type;
  std::uint8_t reserved[7];
  std::int64_t total;
};

}  // namespace shanraq::test_machines

template <>
struct shanraq::sm::RecordLayout<shanraq::test_machines::WideCommand> {
  static constexpr const char* kName = "WideCommand";
  static constexpr FieldInfo kFields[] = {{"seq", 0, 8, "<u8"},    {"time_ns", 8, 8, "<i8"},
                                          {"kind", 16, 1, "u1"},   {"reserved", 17, 7, "V7"},
                                          {"value", 24, 8, "<i8"}, {"extra", 32, 32, "V32"}};
};
template <>
struct shanraq::sm::RecordLayout<shanraq::test_machines::WideEvent> {
  static constexpr const char* kName = "WideEvent";
  static constexpr FieldInfo kFields[] = {{"seq", 0, 8, "<u8"},
                                          {"time_ns", 8, 8, "<i8"},
                                          {"type", 16, 1, "u1"},
                                          {"reserved", 17, 7, "V7"},
                                          {"total", 24, 8, "<i8"}};
};

namespace shanraq::test_machines {

static_assert(sizeof(WideCommand) == 64);
static_assert(sm::tiles(sm::RecordLayout<WideCommand>::kFields, sizeof(WideCommand)));
static_assert(sm::tiles(sm::RecordLayout<WideEvent>::kFields, sizeof(WideEvent)));

class Wide {
 public:
  using Command = WideCommand;
  using Event = WideEvent;
  static constexpr std::uint32_t kMachineTag = sm::machine_tag("WIDE");
  static constexpr std::uint32_t kWireVersion = 1;

  explicit Wide(std::size_t slots = 1) : slots_(slots == 0 ? 1 : slots, 0) {}

  void apply(const Command& c, std::vector<Event>& out) { process(&c, 1, out); }
  void process(const Command* cmds, std::size_t n, std::vector<Event>& out) {
    sm::check_sequence(cmds, n, next_seq_);
    for (std::size_t i = 0; i < n; ++i) {
      const Command& c = cmds[i];
      Event e;
      std::memset(&e, 0, sizeof e);
      e.seq = next_seq_++;
      if (c.time_ns > now_) now_ = c.time_ns;
      e.time_ns = now_;
      if (c.kind != 1 || c.value < 0 || c.value > INT64_MAX - total_) {
        e.type = 2;
      } else {
        total_ += c.value;
        slots_[static_cast<std::uint64_t>(c.value) % slots_.size()] += static_cast<std::uint64_t>(c.value);
        e.type = 1;
      }
      e.total = total_;
      out.push_back(e);
    }
  }
  std::uint64_t next_seq() const noexcept { return next_seq_; }
  std::int64_t now_ns() const noexcept { return now_; }
  std::int64_t total() const noexcept { return total_; }
  std::string snapshot() const {
    SnapshotWriter w("SHQWIDE1", 1, slots_.size() * 8 + 32);
    w.put(next_seq_);
    w.put(now_);
    w.put(total_);
    w.put(static_cast<std::uint64_t>(slots_.size()));
    w.put_array(slots_.data(), slots_.size());
    return w.finish();
  }
  static Wide restore(const std::uint8_t* p, std::size_t n) {
    SnapshotReader r(p, n, "SHQWIDE1", 1, 1, "wide snapshot");
    Wide t;
    t.next_seq_ = r.get<std::uint64_t>();
    t.now_ = r.get<std::int64_t>();
    t.total_ = r.get<std::int64_t>();
    const std::uint64_t k = r.get_count(std::uint64_t{1} << 32, 8, "slots");
    if (k == 0) r.fail("no slots");
    t.slots_.assign(k, 0);
    r.get_array(t.slots_.data(), k);
    r.expect_end();
    if (t.next_seq_ == 0 || t.total_ < 0) r.fail("invariant broken");
    return t;
  }
  std::uint64_t state_hash() const {
    const std::string s = snapshot();
    return checksum64(s.data(), s.size());
  }

 private:
  std::uint64_t next_seq_ = 1;
  std::int64_t now_ = 0;
  std::int64_t total_ = 0;
  std::vector<std::uint64_t> slots_;
};
static_assert(sm::StateMachine<Wide>);

}  // namespace shanraq::test_machines

namespace shanraq::journal::testing {

// A fresh directory, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "shqjournal-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The value command `seq` of stream `seed` carries: the same for every
// process, so a crashed writer's successor and the checker agree.
inline std::int64_t value_of(std::uint64_t seed, std::uint64_t seq) {
  return static_cast<std::int64_t>(fmix64(seed * 0x9E3779B97F4A7C15ULL + seq) % 1000);
}
inline std::int64_t time_of(std::uint64_t seq) {
  return 1'700'000'000'000'000'000LL + static_cast<std::int64_t>(seq) * 1000;
}

template <class Command>
std::vector<Command> stamped(std::uint64_t seed, std::uint64_t first, std::size_t n) {
  std::vector<Command> v(n);
  std::memset(static_cast<void*>(v.data()), 0, n * sizeof(Command));
  for (std::size_t i = 0; i < n; ++i) {
    v[i].seq = first + i;
    v[i].time_ns = time_of(first + i);
    v[i].kind = 1;
    v[i].value = value_of(seed, first + i);
  }
  return v;
}

// The sequencer seam (runner/runner.hpp): the journal's writer gets each
// batch before the apply; the publish waits for durability per the policy.
// Every `snapshot_every` commands, the machine (which the runner's thread
// owns, and which has applied exactly up to `seq` here) is snapshotted.
template <sm::StateMachine M>
class JournalSink final : public runner::StampedSink<typename M::Command> {
 public:
  JournalSink(Journal& j, M& m, std::uint64_t snapshot_every = 0) : j_(j), ref_(m), every_(snapshot_every) {}
  void append(const typename M::Command* cmds, std::size_t n) override { j_.append(cmds, n); }
  void await_durable(std::uint64_t seq) override {
    j_.await_policy(seq);
    if (every_ != 0 && seq >= last_snap_ + every_) {
      j_.snapshot(ref_);
      last_snap_ = seq;
    }
  }

 private:
  Journal& j_;
  MachineRef<M> ref_;
  std::uint64_t every_;
  std::uint64_t last_snap_ = 0;
};

inline std::string read_file(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}
inline void write_file(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    throw std::runtime_error("short write");
  ::close(fd);
}
// Flips bit `bit` of the byte at `offset` in place.
inline void flip_bit(const std::string& path, std::uint64_t offset, int bit = 0) {
  std::string b = read_file(path);
  if (offset >= b.size()) throw std::runtime_error("flip_bit past the end of " + path);
  b[offset] = static_cast<char>(b[offset] ^ (1 << bit));
  write_file(path, b);
}

inline JournalOptions small_options() {
  JournalOptions o;
  o.segment_bytes = 64 << 10;
  o.max_write_bytes = 16 << 10;
  o.buffer_bytes = 256 << 10;
  return o;
}

}  // namespace shanraq::journal::testing
