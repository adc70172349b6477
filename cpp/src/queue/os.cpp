#include "detail/os.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#endif

namespace shanraq::queue::detail {

std::string errno_text(const char* what, const std::string& name) {
  return std::string(what) + "(" + name + "): " + std::strerror(errno);
}

#if defined(__linux__)
// FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word may be in a MAP_SHARED
// segment that other processes wait on.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "look again".
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}
void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}
#else
// No futex: sleep briefly and let the caller look again.
void futex_wait(std::atomic<std::uint32_t>*, std::uint32_t, std::chrono::nanoseconds timeout) noexcept {
  std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(timeout, std::chrono::microseconds(200)));
}
void futex_wake_all(std::atomic<std::uint32_t>*) noexcept {}
#endif

const Membarrier& membarrier_registration() noexcept {
  static const Membarrier m = [] {
    Membarrier r;
#if defined(__linux__) && defined(__NR_membarrier) && !defined(SHANRAQ_QUEUE_TSAN)
    const long cmds = ::syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0) return r;  // ENOSYS, or forbidden by seccomp
    if ((cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 && (cmds & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) {
      r.private_expedited = ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    }
    if ((cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0 && (cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0) {
      r.global_expedited = ::syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
    }
#endif
    return r;
  }();
  return m;
}

bool run_membarrier(bool shared) noexcept {
#if defined(__linux__) && defined(__NR_membarrier) && !defined(SHANRAQ_QUEUE_TSAN)
  const int cmd = shared ? MEMBARRIER_CMD_GLOBAL_EXPEDITED : MEMBARRIER_CMD_PRIVATE_EXPEDITED;
  return ::syscall(__NR_membarrier, cmd, 0, 0) == 0;
#else
  (void)shared;
  return false;
#endif
}

namespace {

struct ProcStat {
  bool readable = false;
  bool gone = false;  // zombie or dead
  unsigned long long start = 0;
};

// State and start time of `pid` from the stat file of its main thread,
// /proc/<pid>/task/<pid>/stat (the same fields as /proc/<pid>/stat). Not
// /proc/<pid>/stat: qemu-user emulates that file for the calling process
// (its start time is then qemu's, and a forked child inherits its parent's),
// so a process's own tag would differ from the tag another process reads for
// it, and every live peer would look dead under emulation. The command name
// (field 2) is in parentheses and may itself hold spaces and ')', so fields
// are counted from the last ')'.
ProcStat read_stat(std::int32_t pid) noexcept {
  ProcStat st;
#if defined(__linux__)
  char path[80];
  std::snprintf(path, sizeof path, "/proc/%d/task/%d/stat", static_cast<int>(pid), static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return st;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return st;
  st.readable = true;
  st.gone = p[2] == 'Z' || p[2] == 'X';
  // Field 3 (state) starts at p + 2; field 22 is 19 fields further.
  const char* q = p + 2;
  for (int field = 3; field < 22 && q != nullptr; ++field) {
    q = std::strchr(q, ' ');
    if (q != nullptr) ++q;
  }
  if (q != nullptr) st.start = std::strtoull(q, nullptr, 10);
#else
  (void)pid;
#endif
  return st;
}

std::uint32_t fold_start(unsigned long long start) noexcept {
  return static_cast<std::uint32_t>(start % 0xFFFFFFFFull) + 1;
}

}  // namespace

ProcessTag tag_of(std::int32_t pid) noexcept {
  const ProcStat st = read_stat(pid);
  return make_tag(pid, st.readable && st.start != 0 ? fold_start(st.start) : 0);
}

ProcessTag self_tag() noexcept {
  // Cached per process: a forked child has another pid, and reads its own.
  static std::atomic<ProcessTag> cached{0};
  const auto pid = static_cast<std::int32_t>(::getpid());
  ProcessTag tag = cached.load(std::memory_order_relaxed);
  if (tag == 0 || pid_of(tag) != pid) {
    tag = tag_of(pid);
    cached.store(tag, std::memory_order_relaxed);
  }
  return tag;
}

bool process_alive(ProcessTag tag) noexcept {
  const std::int32_t pid = pid_of(tag);
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  const ProcStat st = read_stat(pid);
  if (!st.readable) return true;
  if (st.gone) return false;
  return start_of(tag) == 0 || st.start == 0 || fold_start(st.start) == start_of(tag);
}

}  // namespace shanraq::queue::detail
