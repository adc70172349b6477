// The sequencer: one C++ thread owns a state machine (common/state_machine.hpp),
// takes commands from a ring, stamps each with its sequence number and time,
// hands the stamped batch to an optional sink (the journal's seam), applies
// it and publishes the events to another ring. The LMAX pattern, generic over
// the contract: the same code drives the matching engine, the ledger and the
// exchange.
//
// Stamping. The runner is the only place in a pipeline that reads a clock.
// Per popped batch it reads the clock once (CLOCK_REALTIME, ns since the Unix
// epoch, never allowed to go back: time = max(clock, last stamped time)) and
// writes that time and consecutive sequence numbers, starting at the
// machine's next_seq(), into every command of the batch. What it stamps is
// exactly what the sink sees and the machine applies, so a journal of the
// sink's batches replays into the same events and state, bit for bit.
// (TimeSource::kCommand keeps the producers' time_ns: for replays and tests.)
//
// Ownership: from start() until stop()/join() has returned, the runner's
// thread is the machine's only user (queries race with it), the only consumer
// of the command ring and the only producer of the event ring.
//
// Delivery. Every command popped is stamped, sunk, applied, and its events
// published, waiting while the event ring is full (backpressure: producers
// then wait on the command ring; nothing is dropped). Closing the command
// ring ends the stream: the thread drains it, publishes the last events,
// closes the event ring and ends. stop() never waits on the event ring's
// consumer: the thread finishes the batch it popped (the commands have left
// the ring, so the machine must apply them), publishes what fits without
// waiting, and keeps the rest, in order, for take_unpublished(). So stop()
// and the destructor return within about one poll interval plus one batch,
// whatever the consumer does.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "shanraq/common/platform.hpp"
#include "shanraq/common/state_machine.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::runner {

enum class TimeSource : std::uint8_t {
  kClock = 0,    // stamp the clock's time (the default; a live pipeline)
  kCommand = 1,  // keep each command's time_ns (replay, tests); seq is stamped all the same
};

// CLOCK_REALTIME in ns since the Unix epoch: the time ledgers, GTD expiries
// and audit trails are stated in.
inline std::int64_t realtime_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct RunnerConfig {
  // Most commands popped (and stamped, sunk, applied) per batch; the command
  // buffer is allocated once, at construction. In [1, 2^20].
  std::size_t batch = 256;
  // Longest a pop or a full-ring push waits before the thread looks at the
  // stop flag again: bounds stop()'s latency and an idle thread's wake-ups.
  // In (0, 10 s].
  std::chrono::nanoseconds poll_interval = std::chrono::milliseconds(2);
  // Events reserved up front (the vector grows, once, on a larger batch).
  std::size_t events_reserve = 4096;
  TimeSource time_source = TimeSource::kClock;
  // The clock read with TimeSource::kClock (tests inject a fake one).
  std::int64_t (*clock)() noexcept = &realtime_ns;
};

// Sees every stamped batch, on the runner's thread: the journal's seam.
// append() runs before the machine applies the batch (a journal hands it to
// its writer here, without waiting for the disk); await_durable() runs after
// the machine has applied it and before its events are published, and
// returns once every command up to `seq` is durable (a journal waits for its
// fsync here), so the apply overlaps the write and no event is published
// before its command is on disk. An exception from either ends the runner
// (stop()/join() rethrow it): from append(), before the batch is applied;
// from await_durable(), with the batch applied but its events unpublished
// (kept, like a stop's, for take_unpublished()).
template <class Command>
class StampedSink {
 public:
  virtual ~StampedSink() = default;
  virtual void append(const Command* cmds, std::size_t n) = 0;
  virtual void await_durable(std::uint64_t seq) { (void)seq; }
};

namespace detail {
void check_runner_config(const RunnerConfig& c, std::size_t command_record, std::size_t command_size,
                         std::size_t event_record, std::size_t event_size);
}  // namespace detail

template <sm::StateMachine M>
class Runner {
 public:
  using Command = typename M::Command;
  using Event = typename M::Event;

  // The runner borrows the machine, the rings and the sink: they must outlive
  // it. std::invalid_argument if a ring's record size is not the record's or
  // the config is out of range. The thread does not start yet.
  Runner(M& machine, queue::SpscRing& commands, queue::SpscRing& events, const RunnerConfig& config = {},
         StampedSink<Command>* sink = nullptr)
      : Runner(machine, &commands, nullptr, events, config, sink) {}
  Runner(M& machine, queue::MpscRing& commands, queue::SpscRing& events, const RunnerConfig& config = {},
         StampedSink<Command>* sink = nullptr)
      : Runner(machine, nullptr, &commands, events, config, sink) {}
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  // Stops and joins (never waiting on the event ring's consumer); an error
  // of the thread is dropped (call stop() first to see it).
  ~Runner() {
    try {
      stop();
    } catch (...) {
      // Documented: the destructor cannot report the thread's error.
    }
  }

  // Launches the thread; stamping continues from the machine's next_seq().
  // A runner runs once: std::logic_error if started before;
  // std::system_error if no thread can be created. Owner thread.
  void start() {
    if (started_) throw std::logic_error("Runner: already started (a runner runs once)");
    next_seq_ = machine_.next_seq();
    last_time_ = machine_.now_ns();
    running_.store(true, std::memory_order_release);
    try {
      thread_ = std::thread([this] { run(); });
    } catch (...) {
      running_.store(false, std::memory_order_release);
      throw;
    }
    started_ = true;
  }
  // Asks the thread to stop after the batch it popped and waits for it
  // (never on the event ring's consumer: see the header). Idempotent; a no-op
  // if never started. Rethrows, once, the exception that ended the thread
  // (queue::Closed if the event ring was closed under it, queue::PeerDead,
  // queue::ProducerDied when the command ring is stuck on a slot it cannot
  // discard, the sink's exception, std::bad_alloc). Owner thread only.
  void stop() {
    request_stop();
    finish_join();
  }
  // Asks the thread to stop without waiting. Any thread.
  void request_stop() noexcept { stop_.store(true, std::memory_order_release); }
  // Waits for the thread to end by itself (the command ring closed and
  // drained, or an error); rethrows like stop(). Owner thread.
  void join() { finish_join(); }
  // Waits up to `timeout` (negative: forever) for the thread to end; true if
  // it has (or never started). Does not rethrow. Owner thread.
  bool wait_for(std::chrono::nanoseconds timeout) {
    if (!started_) return true;
    std::unique_lock<std::mutex> lock(done_mu_);
    if (timeout.count() < 0) {
      done_cv_.wait(lock, [this] { return done_; });
      return true;
    }
    return done_cv_.wait_for(lock, timeout, [this] { return done_; });
  }

  // Counters: any thread, each a snapshot.
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  std::uint64_t commands_processed() const noexcept { return commands_.load(std::memory_order_relaxed); }
  std::uint64_t events_published() const noexcept { return events_.load(std::memory_order_relaxed); }
  std::uint64_t batches() const noexcept { return batches_.load(std::memory_order_relaxed); }
  // Seq of the last command applied (0: none yet in this run).
  std::uint64_t last_seq() const noexcept { return last_seq_.load(std::memory_order_acquire); }
  // Records an MPSC command ring discarded because their producer process
  // died mid-push (queue::ProducerDied); those commands were never accepted.
  std::uint64_t producer_deaths() const noexcept { return deaths_.load(std::memory_order_relaxed); }
  const RunnerConfig& config() const noexcept { return config_; }

  // Events produced but not published because stop() was asked while the
  // event ring was full, oldest first. Owner thread, once the thread ended.
  const std::vector<Event>& unpublished() const noexcept { return unpublished_; }
  std::vector<Event> take_unpublished() noexcept { return std::exchange(unpublished_, {}); }

 private:
  Runner(M& machine, queue::SpscRing* spsc, queue::MpscRing* mpsc, queue::SpscRing& events, const RunnerConfig& config,
         StampedSink<Command>* sink)
      : machine_(machine), cmd_spsc_(spsc), cmd_mpsc_(mpsc), out_(events), config_(config), sink_(sink) {
    detail::check_runner_config(config_, spsc != nullptr ? spsc->record_size() : mpsc->record_size(), sizeof(Command),
                                events.record_size(), sizeof(Event));
    // Allocated here so the thread's steady state allocates nothing.
    cmd_buf_.resize(config_.batch);
    ev_buf_.reserve(config_.events_reserve);
  }

  std::size_t pop_batch() {
    Command* buf = cmd_buf_.data();
    if (cmd_spsc_ != nullptr) return cmd_spsc_->pop_many(buf, config_.batch, config_.poll_interval);
    for (;;) {
      // The runner is the ring's only consumer, and only the consumer
      // discards, so the change of lost() across the call is ours.
      const std::uint64_t lost_before = cmd_mpsc_->lost();
      try {
        return cmd_mpsc_->pop_many(buf, config_.batch, config_.poll_interval);
      } catch (const queue::ProducerDied&) {
        const std::uint64_t discarded = cmd_mpsc_->lost() - lost_before;
        // Nothing discarded: a claimed slot whose claimer left no pid to
        // prove it dead; the ring can never deliver past it, and retrying
        // would spin here for ever. Ending hands the error to stop()/join().
        if (discarded == 0) throw;
        deaths_.fetch_add(discarded, std::memory_order_relaxed);
      }
    }
  }

  void stamp(std::size_t n) noexcept {
    Command* c = cmd_buf_.data();
    if (config_.time_source == TimeSource::kClock) {
      last_time_ = std::max(last_time_, config_.clock());
      for (std::size_t i = 0; i < n; ++i) {
        c[i].seq = next_seq_ + i;
        c[i].time_ns = last_time_;
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) c[i].seq = next_seq_ + i;
    }
    next_seq_ += n;
  }

  // Publishes ev_buf_, waiting for room in slices of poll_interval; once a
  // stop is asked it no longer waits and keeps what did not fit.
  void publish() {
    std::size_t pushed = 0;
    const std::size_t total = ev_buf_.size();
    while (pushed < total) {
      const Event* p = ev_buf_.data() + pushed;
      std::size_t k = out_.try_push_many(p, total - pushed);
      if (k == 0) {
        if (stop_.load(std::memory_order_acquire)) {
          unpublished_.insert(unpublished_.end(), ev_buf_.begin() + static_cast<std::ptrdiff_t>(pushed), ev_buf_.end());
          return;
        }
        // One record at a time on the waiting path, so events_published()
        // counts exactly what reached the ring even if the push throws.
        k = out_.push(p, config_.poll_interval) ? 1 : 0;
      }
      pushed += k;
      events_.fetch_add(k, std::memory_order_relaxed);
    }
  }

  void run() noexcept {
    bool end_of_stream = false;
    try {
      while (!stop_.load(std::memory_order_acquire)) {
        std::size_t n = 0;
        try {
          n = pop_batch();
        } catch (const queue::Closed&) {
          end_of_stream = true;  // closed and drained: nothing more will come
          break;
        }
        if (n == 0) continue;  // poll interval elapsed: look at the stop flag
        batches_.fetch_add(1, std::memory_order_relaxed);
        stamp(n);
        if (sink_ != nullptr) sink_->append(cmd_buf_.data(), n);
        ev_buf_.clear();
        // Whatever was popped is applied and published even if stop() comes
        // meanwhile: it has left the command ring, so this is its only copy.
        machine_.process(cmd_buf_.data(), n, ev_buf_);
        commands_.fetch_add(n, std::memory_order_relaxed);
        last_seq_.store(next_seq_ - 1, std::memory_order_release);
        if (sink_ != nullptr) {
          try {
            sink_->await_durable(next_seq_ - 1);
          } catch (...) {
            unpublished_.insert(unpublished_.end(), ev_buf_.begin(), ev_buf_.end());
            throw;
          }
        }
        publish();
      }
      if (end_of_stream) out_.close();
    } catch (...) {
      error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_ = true;
    }
    running_.store(false, std::memory_order_release);
    done_cv_.notify_all();
  }

  void finish_join() {
    if (thread_.joinable()) thread_.join();
    if (error_) {
      std::exception_ptr e = std::exchange(error_, nullptr);
      std::rethrow_exception(e);
    }
  }

  M& machine_;
  queue::SpscRing* cmd_spsc_;
  queue::MpscRing* cmd_mpsc_;
  queue::SpscRing& out_;
  RunnerConfig config_;
  StampedSink<Command>* sink_;
  std::vector<Command> cmd_buf_;
  std::vector<Event> ev_buf_;
  std::vector<Event> unpublished_;
  std::uint64_t next_seq_ = 1;  // runner thread only (set by start() before it runs)
  std::int64_t last_time_ = 0;

  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;         // guarded by done_mu_
  std::exception_ptr error_;  // written by the thread before done_, read after join
  alignas(kCacheLine) std::atomic<std::uint64_t> commands_{0};
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> deaths_{0};
  std::atomic<std::uint64_t> last_seq_{0};
};

}  // namespace shanraq::runner
