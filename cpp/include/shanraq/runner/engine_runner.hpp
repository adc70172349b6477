// The LMAX pattern: one C++ thread owns the matching engine, takes commands
// from a ring, applies them in order and publishes their events to another
// ring. Producers (network threads, worker processes, Python code) only push
// Command records; consumers only pop Event records; nobody else touches the
// engine, so it needs no lock and the single-writer state machine stays
// deterministic: the events equal those of MatchingEngine::process() on the
// same commands in ring order, byte for byte.
//
// Ownership contract: from start() until stop()/join() has returned, the
// runner's thread is the engine's only user (writer AND reader: queries race
// with it) and the only consumer of the command ring and the only producer of
// the event ring. Using either from another thread meanwhile is a data race.
// Producers of the command ring and the consumer of the event ring are the
// caller's.
//
// Delivery: every command the thread pops is applied and every event it
// produces is pushed, blocking while the event ring is full (backpressure:
// the command ring then fills and producers wait; nothing is dropped). stop()
// lets the thread finish the batch it popped; commands not yet popped stay in
// the command ring. Closing the command ring ends the stream: the thread
// drains it, publishes the last events, closes the event ring (so its
// consumer gets Closed after draining) and ends without error. Closing the
// event ring while the thread still has events to publish is an error
// (Closed), rethrown by stop()/join(): those events are not delivered.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "shanraq/book/engine.hpp"
#include "shanraq/book/types.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::runner {

struct RunnerConfig {
  // Most commands popped (and processed) per batch; the command buffer is
  // allocated once, at construction. In [1, 2^20].
  std::size_t batch = 256;
  // Longest a pop waits (with the ring's wait strategy) before the thread
  // looks at the stop flag again: bounds stop()'s latency on an idle ring and
  // the idle thread's wake-ups. In (0, 10 s].
  std::chrono::nanoseconds poll_interval = std::chrono::milliseconds(2);
  // Events reserved up front (the vector grows, once, on a larger batch).
  std::size_t events_reserve = 4096;
};

class EngineRunner {
 public:
  // The runner borrows the engine and the rings: they must outlive it.
  // std::invalid_argument if a ring's record size differs from
  // sizeof(book::Command) (commands) or sizeof(book::Event) (events), or the
  // config is out of range. Any thread; the thread does not start yet.
  EngineRunner(book::MatchingEngine& engine, queue::SpscRing& commands, queue::SpscRing& events,
               const RunnerConfig& config = {});
  EngineRunner(book::MatchingEngine& engine, queue::MpscRing& commands, queue::SpscRing& events,
               const RunnerConfig& config = {});
  EngineRunner(const EngineRunner&) = delete;
  EngineRunner& operator=(const EngineRunner&) = delete;
  // Stops and joins; an error of the thread is dropped (call stop() first to
  // see it).
  ~EngineRunner();

  // Launches the thread. A runner runs once: std::logic_error if it was
  // started before; std::system_error if the thread cannot be created. Call
  // from the thread that owns the runner.
  void start();
  // Asks the thread to finish the batch it popped and waits for it to end
  // (at most about poll_interval after it becomes idle, plus the time to
  // publish that batch's events). Idempotent; a no-op if never started.
  // Rethrows, once, the exception that ended the thread (queue::Closed if
  // the event ring was closed under it, queue::PeerDead, queue::ProducerDied
  // when the command ring is stuck on a slot it cannot discard,
  // std::bad_alloc).
  // Owner thread only, never from the runner's own thread.
  void stop();
  // Asks the thread to stop after the batch it popped, without waiting.
  // Idempotent. Any thread (also the runner's own, or a signal-driven one);
  // join() or stop() then collects the thread.
  void request_stop() noexcept { stop_.store(true, std::memory_order_release); }
  // Waits for the thread to end by itself (the command ring closed and
  // drained, or an error), without asking it to stop; rethrows like stop().
  void join();
  // Waits up to `timeout` (negative: forever) for the thread to end; true if
  // it has ended (or never started). Does not rethrow. Owner thread.
  bool wait_for(std::chrono::nanoseconds timeout);

  // True from start() until the thread has ended. Any thread.
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  // Commands applied to the engine so far. Any thread; a snapshot.
  std::uint64_t commands_processed() const noexcept { return commands_.load(std::memory_order_relaxed); }
  // Events pushed to the event ring so far. Any thread; a snapshot.
  std::uint64_t events_published() const noexcept { return events_.load(std::memory_order_relaxed); }
  // Batches popped so far. Any thread; a snapshot.
  std::uint64_t batches() const noexcept { return batches_.load(std::memory_order_relaxed); }
  // Records an MPSC command ring discarded under the runner because their
  // producer process died mid-push (queue::ProducerDied); the thread goes on.
  // A ProducerDied that discarded nothing (a claimed slot whose claimer left
  // no pid: the ring cannot skip it) ends the thread instead, and stop() or
  // join() rethrows it.
  std::uint64_t producer_deaths() const noexcept { return deaths_.load(std::memory_order_relaxed); }
  const RunnerConfig& config() const noexcept { return config_; }

 private:
  EngineRunner(book::MatchingEngine& engine, queue::SpscRing* spsc, queue::MpscRing* mpsc,
               queue::SpscRing& events, const RunnerConfig& config);
  void run() noexcept;
  std::size_t pop_batch();
  void finish_join();

  book::MatchingEngine& engine_;
  queue::SpscRing* cmd_spsc_;
  queue::MpscRing* cmd_mpsc_;
  queue::SpscRing& out_;
  RunnerConfig config_;
  std::vector<book::Command> cmd_buf_;
  std::vector<book::Event> ev_buf_;

  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;                // guarded by done_mu_
  std::exception_ptr error_;         // written by the thread before done_, read after join
  alignas(kCacheLine) std::atomic<std::uint64_t> commands_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> deaths_{0};
};

}  // namespace shanraq::runner
