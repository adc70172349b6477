// Thread pinning for the two-thread benchmarks (bench_queue, bench_runner).
// Threads are pinned to distinct CPUs of the process's affinity mask, so
// restricting the mask (taskset -c 0,1 ...) chooses the cores; with fewer
// allowed CPUs than a benchmark needs, nothing is pinned.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstddef>
#include <vector>

namespace shanraq::bench {

// The CPUs of the process's affinity mask, read once, before any thread is
// pinned: threads inherit their creator's (pinned) mask.
inline const std::vector<int>& allowed_cpus() {
  static const std::vector<int> cpus = [] {
    std::vector<int> v;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) v.push_back(cpu);
      }
    }
    return v;
  }();
  return cpus;
}

// Pins the calling thread to the nth allowed CPU if at least `threads` are
// allowed; false if it did not.
inline bool pin_self(int nth, int threads = 2) {
  const std::vector<int>& cpus = allowed_cpus();
  if (static_cast<int>(cpus.size()) < threads) return false;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpus[static_cast<std::size_t>(nth)], &one);
  return pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0;
}

// Gives the calling thread the whole allowed mask back.
inline void unpin_self() {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int cpu : allowed_cpus()) CPU_SET(cpu, &all);
  pthread_setaffinity_np(pthread_self(), sizeof all, &all);
}

// Pins the calling thread for a scope (pin_self), restoring its previous
// mask on destruction (the benchmark thread runs every benchmark).
class Pin {
 public:
  Pin(int nth, int threads) {
    if (pthread_getaffinity_np(pthread_self(), sizeof old_, &old_) != 0) return;
    pinned_ = pin_self(nth, threads);
  }
  ~Pin() {
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof old_, &old_);
  }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

 private:
  cpu_set_t old_{};
  bool pinned_ = false;
};

}  // namespace shanraq::bench
