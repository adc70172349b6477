// The binding's view of the generic sequencer: one type-erased handle over
// runner::Runner<M> for every machine M, so a single Cython class drives the
// matching engine, the ledger and the exchange. Python-free (compiled into
// the runner module and, with the core's warnings, into glue_check).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "shanraq/queue/ring.hpp"
#include "shanraq/runner/runner.hpp"

namespace shq {

// Copies every stamped batch into a ring (SpscRing of the machine's command
// records): Python code sees exactly what was applied, in order, e.g. to
// journal or ship it before the C++ journal takes this seat. It waits for
// room like the event ring does; once a stop is asked it stops waiting and
// counts what it could not copy in dropped() (the copy is an observer's: the
// commands are applied either way).
template <class Command>
class RingTap final : public shanraq::runner::StampedSink<Command> {
 public:
  RingTap(shanraq::queue::SpscRing& ring, std::chrono::nanoseconds poll, const std::atomic<bool>* stop)
      : ring_(ring), poll_(poll), stop_(stop) {}

  void append(const Command* cmds, std::size_t n) override {
    std::size_t done = 0;
    while (done < n) {
      std::size_t k = ring_.try_push_many(cmds + done, n - done);
      if (k == 0) {
        if (stop_->load(std::memory_order_acquire)) {
          dropped_.fetch_add(n - done, std::memory_order_relaxed);
          return;
        }
        k = ring_.push(cmds + done, poll_) ? 1 : 0;
      }
      done += k;
    }
  }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

 private:
  shanraq::queue::SpscRing& ring_;
  std::chrono::nanoseconds poll_;
  const std::atomic<bool>* stop_;
  std::atomic<std::uint64_t> dropped_{0};
};

class AnyRunner {
 public:
  virtual ~AnyRunner() = default;
  virtual void start() = 0;
  virtual void request_stop() noexcept = 0;
  virtual bool wait_for(std::chrono::nanoseconds timeout) = 0;
  // stop() when ask_stop, else join(); rethrows the thread's error.
  virtual void finish(bool ask_stop) = 0;
  virtual bool running() const noexcept = 0;
  virtual std::uint64_t commands_processed() const noexcept = 0;
  virtual std::uint64_t events_published() const noexcept = 0;
  virtual std::uint64_t batches() const noexcept = 0;
  virtual std::uint64_t last_seq() const noexcept = 0;
  virtual std::uint64_t producer_deaths() const noexcept = 0;
  virtual std::uint64_t tap_dropped() const noexcept = 0;
  virtual std::size_t event_size() const noexcept = 0;
  virtual std::size_t unpublished_count() const noexcept = 0;
  // Moves the kept events into `out` (unpublished_count() * event_size() bytes).
  virtual void take_unpublished(void* out) noexcept = 0;
};

template <class M>
class RunnerOf final : public AnyRunner {
 public:
  using Command = typename M::Command;
  using Event = typename M::Event;

  RunnerOf(M& m, shanraq::queue::SpscRing* spsc, shanraq::queue::MpscRing* mpsc, shanraq::queue::SpscRing& events,
           const shanraq::runner::RunnerConfig& config, shanraq::queue::SpscRing* tap_ring)
      : tap_(make_tap(tap_ring, config)), runner_(make_runner(m, spsc, mpsc, events, config, tap_.get())) {}

  void start() override { runner_->start(); }
  void request_stop() noexcept override {
    stop_.store(true, std::memory_order_release);
    runner_->request_stop();
  }
  bool wait_for(std::chrono::nanoseconds timeout) override { return runner_->wait_for(timeout); }
  void finish(bool ask_stop) override {
    if (ask_stop) {
      request_stop();
      runner_->stop();
    } else {
      runner_->join();
    }
  }
  bool running() const noexcept override { return runner_->running(); }
  std::uint64_t commands_processed() const noexcept override { return runner_->commands_processed(); }
  std::uint64_t events_published() const noexcept override { return runner_->events_published(); }
  std::uint64_t batches() const noexcept override { return runner_->batches(); }
  std::uint64_t last_seq() const noexcept override { return runner_->last_seq(); }
  std::uint64_t producer_deaths() const noexcept override { return runner_->producer_deaths(); }
  std::uint64_t tap_dropped() const noexcept override { return tap_ ? tap_->dropped() : 0; }
  std::size_t event_size() const noexcept override { return sizeof(Event); }
  std::size_t unpublished_count() const noexcept override { return runner_->unpublished().size(); }
  void take_unpublished(void* out) noexcept override {
    const std::vector<Event> kept = runner_->take_unpublished();
    if (!kept.empty()) std::memcpy(out, kept.data(), kept.size() * sizeof(Event));
  }

 private:
  std::unique_ptr<RingTap<Command>> make_tap(shanraq::queue::SpscRing* ring,
                                             const shanraq::runner::RunnerConfig& config) {
    if (ring == nullptr) return nullptr;
    if (ring->record_size() != sizeof(Command)) {
      throw std::invalid_argument("Runner: the stamped ring's record size is " + std::to_string(ring->record_size()) +
                                  " bytes, expected " + std::to_string(sizeof(Command)));
    }
    return std::make_unique<RingTap<Command>>(*ring, config.poll_interval, &stop_);
  }
  static std::unique_ptr<shanraq::runner::Runner<M>> make_runner(M& m, shanraq::queue::SpscRing* spsc,
                                                                 shanraq::queue::MpscRing* mpsc,
                                                                 shanraq::queue::SpscRing& events,
                                                                 const shanraq::runner::RunnerConfig& config,
                                                                 RingTap<Command>* tap) {
    if (spsc != nullptr) return std::make_unique<shanraq::runner::Runner<M>>(m, *spsc, events, config, tap);
    return std::make_unique<shanraq::runner::Runner<M>>(m, *mpsc, events, config, tap);
  }

  std::atomic<bool> stop_{false};
  std::unique_ptr<RingTap<Command>> tap_;
  // Declared last: destroyed first, so its thread is joined before the tap goes.
  std::unique_ptr<shanraq::runner::Runner<M>> runner_;
};

// For Cython, which cannot name the template's constructor through a base
// pointer: a new handle (owned by the caller) over machine `m`.
template <class M>
AnyRunner* new_runner(M& m, shanraq::queue::SpscRing* spsc, shanraq::queue::MpscRing* mpsc,
                      shanraq::queue::SpscRing& events, const shanraq::runner::RunnerConfig& config,
                      shanraq::queue::SpscRing* tap_ring) {
  if ((spsc == nullptr) == (mpsc == nullptr)) throw std::invalid_argument("Runner: exactly one command ring");
  return new RunnerOf<M>(m, spsc, mpsc, events, config, tap_ring);
}

}  // namespace shq
