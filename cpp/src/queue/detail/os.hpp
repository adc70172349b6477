// What the rings ask of the operating system: futex sleeps and wakes on a
// word that may be in shared memory, membarrier(2) barriers, and whether a
// process still exists. Private to the ring's implementation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

// ThreadSanitizer models the C++ memory model only: a barrier the kernel runs
// on another CPU (membarrier) is invisible to it, and it would report the
// fenceless publication as a race it cannot prove ordered. TSan builds use
// the read-modify-write handshake, which is ordered by the model itself, so
// they check a protocol that is correct without membarrier.
#if defined(__SANITIZE_THREAD__)
#define SHANRAQ_QUEUE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHANRAQ_QUEUE_TSAN 1
#endif
#endif

namespace shanraq::queue::detail {

// Sleeps while *word == expected, at most `timeout` (returns early on a wake,
// a signal or a changed value: the caller looks again either way).
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept;
// Wakes every sleeper on `word`, in any process.
void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept;

// Which membarrier(2) barriers this process registered for, decided once per
// process. Registration is per address space, inherited by fork() and
// dropped by exec(), after which the new image registers again when it makes
// a ring. ThreadSanitizer builds never register (see SHANRAQ_QUEUE_TSAN).
struct Membarrier {
  bool private_expedited = false;  // covers threads of this process: heap rings
  bool global_expedited = false;   // covers registered processes: shared rings
};
const Membarrier& membarrier_registration() noexcept;
// Runs a full memory barrier on every CPU currently running a thread of this
// process (shared = false) or of any registered process (shared = true).
// False if it could not.
bool run_membarrier(bool shared) noexcept;

// A process as the rings record it in shared memory: its pid in the low 32
// bits and, in the high 32, 1 + its start time (field 22 of /proc/<pid>/task/<pid>/stat,
// clock ticks since boot) modulo 2^32 - 1, or 0 where the start time cannot
// be read. A pid alone does not name a process for long: once it exits its
// pid is handed to the next new process, and a ring that checked only the
// pid would take that stranger for its dead peer, alive. The start time
// tells them apart (a pidfd would too, but cannot be shared through shared
// memory). Ticks are 10 ms (USER_HZ 100): a pid reused within the same tick,
// or exactly 2^32 - 1 ticks (497 days) later, goes unnoticed.
using ProcessTag = std::uint64_t;

inline std::int32_t pid_of(ProcessTag tag) noexcept { return static_cast<std::int32_t>(tag & 0xFFFFFFFFu); }
inline std::uint32_t start_of(ProcessTag tag) noexcept { return static_cast<std::uint32_t>(tag >> 32); }
inline ProcessTag make_tag(std::int32_t pid, std::uint32_t start) noexcept {
  return (std::uint64_t{start} << 32) | static_cast<std::uint32_t>(pid);
}

// This process's tag (read again after a fork). Any thread.
ProcessTag self_tag() noexcept;
// The tag of the live process `pid` (start 0 if it cannot be read), for
// tests and tools. Any thread.
ProcessTag tag_of(std::int32_t pid) noexcept;
// False once the tagged process is known to be gone: no process has its pid,
// the one that has it is a zombie (killed, not yet reaped), or it started at
// another time than the tag says (its pid was reused). True for tag 0 and
// when nothing can be told.
bool process_alive(ProcessTag tag) noexcept;

std::string errno_text(const char* what, const std::string& name);

}  // namespace shanraq::queue::detail
