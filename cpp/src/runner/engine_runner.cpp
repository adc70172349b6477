#include "shanraq/runner/engine_runner.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace shanraq::runner {

using book::Event;

namespace {

void check_config(const RunnerConfig& c) {
  if (c.batch == 0 || c.batch > (std::size_t{1} << 20)) {
    throw std::invalid_argument("EngineRunner: batch must be in [1, 2^20], got " + std::to_string(c.batch));
  }
  if (c.poll_interval.count() <= 0 || c.poll_interval > std::chrono::seconds(10)) {
    throw std::invalid_argument("EngineRunner: poll_interval must be in (0, 10 s]");
  }
}

void check_record(const char* which, std::size_t got, std::size_t want) {
  if (got != want) {
    throw std::invalid_argument(std::string("EngineRunner: the ") + which + " ring's record size is " +
                                std::to_string(got) + " bytes, expected " + std::to_string(want));
  }
}

}  // namespace

EngineRunner::EngineRunner(book::MatchingEngine& engine, queue::SpscRing& commands, queue::SpscRing& events,
                           const RunnerConfig& config)
    : EngineRunner(engine, &commands, nullptr, events, config) {}

EngineRunner::EngineRunner(book::MatchingEngine& engine, queue::MpscRing& commands, queue::SpscRing& events,
                           const RunnerConfig& config)
    : EngineRunner(engine, nullptr, &commands, events, config) {}

EngineRunner::EngineRunner(book::MatchingEngine& engine, queue::SpscRing* spsc, queue::MpscRing* mpsc,
                           queue::SpscRing& events, const RunnerConfig& config)
    : engine_(engine), cmd_spsc_(spsc), cmd_mpsc_(mpsc), out_(events), config_(config) {
  check_config(config_);
  check_record("command", spsc != nullptr ? spsc->record_size() : mpsc->record_size(), sizeof(book::Command));
  check_record("event", events.record_size(), sizeof(book::Event));
  // Allocated here so that the thread's steady state allocates nothing (the
  // event vector may still grow once for an unusually eventful batch).
  cmd_buf_.resize(config_.batch);
  ev_buf_.reserve(config_.events_reserve);
}

EngineRunner::~EngineRunner() {
  try {
    stop();
  } catch (...) {
    // Documented: the destructor cannot report the thread's error.
  }
}

void EngineRunner::start() {
  if (started_) throw std::logic_error("EngineRunner: already started (a runner runs once)");
  running_.store(true, std::memory_order_release);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    running_.store(false, std::memory_order_release);
    throw;
  }
  started_ = true;
}

std::size_t EngineRunner::pop_batch() {
  book::Command* buf = cmd_buf_.data();
  if (cmd_spsc_ != nullptr) return cmd_spsc_->pop_many(buf, config_.batch, config_.poll_interval);
  for (;;) {
    // The runner is the ring's only consumer, and only the consumer
    // discards, so the change of lost() across the call is ours.
    const std::uint64_t lost_before = cmd_mpsc_->lost();
    try {
      return cmd_mpsc_->pop_many(buf, config_.batch, config_.poll_interval);
    } catch (const queue::ProducerDied&) {
      const std::uint64_t discarded = cmd_mpsc_->lost() - lost_before;
      // Nothing discarded: a slot was claimed and never published, and its
      // claimer left no pid to prove it dead, so the ring cannot skip it
      // and will never deliver past it. Retrying would spin here forever;
      // ending the thread hands the error to stop()/join() instead.
      if (discarded == 0) throw;
      // The ring discarded the dead producer's slot and stays usable: that
      // record was never accepted, so the stream goes on without it.
      deaths_.fetch_add(discarded, std::memory_order_relaxed);
    }
  }
}

void EngineRunner::run() noexcept {
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
      ev_buf_.clear();
      // Whatever was popped is applied and published even if stop() comes
      // meanwhile: it has left the command ring, so this is its only copy.
      engine_.process(cmd_buf_.data(), n, ev_buf_);
      commands_.fetch_add(n, std::memory_order_relaxed);
      std::size_t pushed = 0;
      while (pushed < ev_buf_.size()) {
        // As many as fit; when none do, block for one slot (backpressure:
        // the consumer lags). One record at a time on the blocking path so
        // events_published() counts exactly what reached the ring even when
        // a push throws (Closed: the event ring was closed under us).
        const Event* p = ev_buf_.data() + pushed;
        std::size_t k = out_.try_push_many(p, ev_buf_.size() - pushed);
        if (k == 0) {
          out_.push(p, queue::kForever);
          k = 1;
        }
        pushed += k;
        events_.fetch_add(k, std::memory_order_relaxed);
      }
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

bool EngineRunner::wait_for(std::chrono::nanoseconds timeout) {
  if (!started_) return true;
  std::unique_lock<std::mutex> lock(done_mu_);
  if (timeout.count() < 0) {
    done_cv_.wait(lock, [this] { return done_; });
    return true;
  }
  return done_cv_.wait_for(lock, timeout, [this] { return done_; });
}

void EngineRunner::finish_join() {
  if (thread_.joinable()) thread_.join();
  if (error_) {
    std::exception_ptr e = std::exchange(error_, nullptr);
    std::rethrow_exception(e);
  }
}

void EngineRunner::stop() {
  request_stop();
  finish_join();
}

void EngineRunner::join() { finish_join(); }

}  // namespace shanraq::runner
