// The journal's view of a state machine (common/state_machine.hpp), erased to
// bytes so the journal's code is compiled once for every machine and the
// Python bindings (phase 2) can hand any machine to it: MachineAdapter is the
// interface, MachineRef<M> adapts any sm::StateMachine, JournalSink<M> plugs
// a journal into the sequencer (runner/runner.hpp's StampedSink seam).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "shanraq/common/state_machine.hpp"

namespace shanraq::journal {

// What the journal needs of a machine. `records` are record_size() bytes
// each, back to back, stamped (their seq fields are exactly next_seq(),
// next_seq() + 1, ...). Errors: whatever the machine throws (apply: its
// SequenceError; restore: std::invalid_argument for a corrupt snapshot).
// Threads: the journal calls it on the thread that called into the journal.
class MachineAdapter {
 public:
  virtual ~MachineAdapter() = default;
  virtual std::uint32_t machine_tag() const noexcept = 0;
  virtual std::uint32_t wire_version() const noexcept = 0;
  virtual std::uint32_t record_size() const noexcept = 0;
  virtual void apply(const std::uint8_t* records, std::size_t n) = 0;
  virtual std::uint64_t next_seq() const noexcept = 0;
  virtual std::int64_t now_ns() const noexcept = 0;
  virtual std::uint64_t state_hash() const = 0;
  virtual std::string snapshot() const = 0;
  // Replaces the machine's state with the snapshot's.
  virtual void restore(const std::uint8_t* bytes, std::size_t n) = 0;
  // Replaces the machine's state with a new machine's (for verification
  // from scratch). Machines without a default state (capacities are
  // constructor arguments) keep the one they were built with: MachineRef
  // remembers it.
  virtual void reset() = 0;
};

// Adapts a machine the caller owns (it must outlive the adapter). The events
// of replayed commands are produced and dropped (a scratch vector, reused).
template <sm::StateMachine M>
class MachineRef final : public MachineAdapter {
 public:
  using Command = typename M::Command;
  // `m` is the machine to recover into, as the caller built it (fresh, with
  // its capacities); reset() restores this state.
  explicit MachineRef(M& m) : m_(m), initial_(m.snapshot()) {}
  std::uint32_t machine_tag() const noexcept override { return M::kMachineTag; }
  std::uint32_t wire_version() const noexcept override { return M::kWireVersion; }
  std::uint32_t record_size() const noexcept override { return sizeof(Command); }
  void apply(const std::uint8_t* records, std::size_t n) override {
    batch_.resize(n);
    if (n != 0) std::memcpy(static_cast<void*>(batch_.data()), records, n * sizeof(Command));
    events_.clear();
    m_.process(batch_.data(), n, events_);
  }
  std::uint64_t next_seq() const noexcept override { return m_.next_seq(); }
  std::int64_t now_ns() const noexcept override { return m_.now_ns(); }
  std::uint64_t state_hash() const override { return m_.state_hash(); }
  std::string snapshot() const override { return m_.snapshot(); }
  void restore(const std::uint8_t* bytes, std::size_t n) override { m_ = M::restore(bytes, n); }
  void reset() override { m_ = M::restore(reinterpret_cast<const std::uint8_t*>(initial_.data()), initial_.size()); }
  M& machine() noexcept { return m_; }

 private:
  M& m_;
  std::string initial_;
  std::vector<Command> batch_;
  std::vector<typename M::Event> events_;
};

}  // namespace shanraq::journal
