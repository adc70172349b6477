// A minimal machine that follows the state-machine contract, for testing the
// generic code (the sequencer, the journal) without the matching engine or
// the ledger: commands add a value to a running total (or reject a negative
// one), every command yields one event with the total.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shanraq/common/snapshot_io.hpp"
#include "shanraq/common/state_machine.hpp"

namespace shanraq::test_machines {

struct TallyCommand {
  std::uint64_t seq;
  std::int64_t time_ns;
  std::uint8_t kind;  // 1 add
  std::uint8_t reserved[7];
  std::int64_t value;
};

struct TallyEvent {
  std::uint64_t seq;
  std::int64_t time_ns;
  std::uint8_t type;  // 1 added, 2 rejected
  std::uint8_t reserved[7];
  std::int64_t total;
};

}  // namespace shanraq::test_machines

template <>
struct shanraq::sm::RecordLayout<shanraq::test_machines::TallyCommand> {
  static constexpr const char* kName = "TallyCommand";
  static constexpr FieldInfo kFields[] = {{"seq", 0, 8, "<u8"},
                                          {"time_ns", 8, 8, "<i8"},
                                          {"kind", 16, 1, "u1"},
                                          {"reserved", 17, 7, "V7"},
                                          {"value", 24, 8, "<i8"}};
};
template <>
struct shanraq::sm::RecordLayout<shanraq::test_machines::TallyEvent> {
  static constexpr const char* kName = "TallyEvent";
  static constexpr FieldInfo kFields[] = {{"seq", 0, 8, "<u8"},
                                          {"time_ns", 8, 8, "<i8"},
                                          {"type", 16, 1, "u1"},
                                          {"reserved", 17, 7, "V7"},
                                          {"total", 24, 8, "<i8"}};
};

namespace shanraq::test_machines {

static_assert(sm::tiles(sm::RecordLayout<TallyCommand>::kFields, sizeof(TallyCommand)));
static_assert(sm::tiles(sm::RecordLayout<TallyEvent>::kFields, sizeof(TallyEvent)));

class Tally {
 public:
  using Command = TallyCommand;
  using Event = TallyEvent;
  static constexpr std::uint32_t kMachineTag = sm::machine_tag("TEST");
  static constexpr std::uint32_t kWireVersion = 1;

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
    SnapshotWriter w("SHQTALLY", 1);
    w.put(next_seq_);
    w.put(now_);
    w.put(total_);
    return w.finish();
  }
  static Tally restore(const std::uint8_t* p, std::size_t n) {
    SnapshotReader r(p, n, "SHQTALLY", 1, 1, "tally snapshot");
    Tally t;
    t.next_seq_ = r.get<std::uint64_t>();
    t.now_ = r.get<std::int64_t>();
    t.total_ = r.get<std::int64_t>();
    r.expect_end();
    if (t.next_seq_ == 0 || t.total_ < 0) r.fail("invariant broken");
    return t;
  }
  std::uint64_t state_hash() const { return checksum64(snapshot().data(), snapshot().size()); }

 private:
  std::uint64_t next_seq_ = 1;
  std::int64_t now_ = 0;
  std::int64_t total_ = 0;
};

static_assert(sm::StateMachine<Tally>);

}  // namespace shanraq::test_machines
