// The journal in the sequencer's seat: JournalSink<M> is the StampedSink of
// runner/runner.hpp that journals every stamped batch before the machine
// applies it, snapshots the machine every N commands, and lets the runner
// publish a batch's events only once the durability policy holds for it.
// Pipelined (the default), the runner keeps applying the next batches while
// the journal's writer syncs the earlier ones; the events of each are
// published when durable_seq() passes its last command.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "shanraq/common/state_machine.hpp"
#include "shanraq/journal/journal.hpp"
#include "shanraq/journal/machine.hpp"
#include "shanraq/runner/runner.hpp"

namespace shanraq::journal {

template <sm::StateMachine M>
class JournalSink final : public runner::StampedSink<typename M::Command> {
 public:
  using Command = typename M::Command;

  // `j` must be open on `machine` (the adapter of the machine the runner
  // drives: machine.next_seq() == j.next_seq()); both must outlive the sink.
  // snapshot_every: a snapshot after every that many commands (0: none),
  // taken on the runner's thread where the machine has applied exactly what
  // was journaled (Journal::snapshot syncs first: the runner pauses for it).
  JournalSink(Journal& j, MachineAdapter& machine, std::uint64_t snapshot_every = 0, bool pipelined = true)
      : j_(j), machine_(machine), every_(snapshot_every), pipelined_(pipelined), last_snap_(j.next_seq() - 1) {}
  // The same over the machine itself (the sink owns an adapter of it).
  JournalSink(Journal& j, M& m, std::uint64_t snapshot_every = 0, bool pipelined = true)
      : owned_(std::make_unique<MachineRef<M>>(m)),
        j_(j),
        machine_(*owned_),
        every_(snapshot_every),
        pipelined_(pipelined),
        last_snap_(j.next_seq() - 1) {}

  void append(const Command* cmds, std::size_t n) override { j_.append(cmds, n); }
  void applied(std::uint64_t seq) override {
    if (every_ != 0 && seq >= last_snap_ + every_) {
      j_.snapshot(machine_);
      last_snap_ = seq;
    }
  }
  void await_durable(std::uint64_t seq) override { j_.await_policy(seq); }
  bool pipelined() const noexcept override { return pipelined_; }
  // every_batch: what is on disk; the other policies publish at once (their
  // RPO is the policy's), unless the journal failed.
  std::uint64_t publishable_seq() override {
    if (j_.options().durability.mode == Durability::kEveryBatch) {
      const std::uint64_t d = j_.durable_seq();
      if (j_.failed()) j_.await_policy(UINT64_MAX);  // rethrows the writer's error
      return d;
    }
    j_.await_policy(j_.next_seq() - 1);  // rethrows if failed, never waits
    return UINT64_MAX;
  }
  bool wait_publishable(std::uint64_t seq, std::chrono::nanoseconds timeout) override {
    if (j_.options().durability.mode == Durability::kEveryBatch) return j_.wait_durable(seq, timeout);
    j_.await_policy(seq);
    return true;
  }
  std::uint64_t last_snapshot_seq() const noexcept { return last_snap_; }

 private:
  std::unique_ptr<MachineAdapter> owned_;  // declared first: built before machine_ binds to it (second constructor)
  Journal& j_;
  MachineAdapter& machine_;
  std::uint64_t every_;
  bool pipelined_;
  std::uint64_t last_snap_;
};

}  // namespace shanraq::journal
