#include "shanraq/queue/ring.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <fstream>
#include <new>
#include <thread>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#endif

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

namespace shanraq::queue {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

// How long a waiter spins before yielding or sleeping: long enough to catch
// a peer running on another core, even one that is a Python process taking a
// few microseconds per handoff, short enough not to keep a core from a peer
// that needs ours. Bounded by time, not count: a pause instruction costs
// anything from 3 to 50 ns depending on the core.
//
// Adaptive (kYield and kBlocking): each handle keeps a spin budget per
// direction, between kSpinMin and kSpinMax, and after each wait asks whether
// a longer spin would have helped:
//   - the spin caught the record (or room): yes, double the budget;
//   - it ran out, and while we then yielded the core, another task ran on it
//     (the yield took over kYieldTookLong): we share a core, maybe with the
//     peer itself, which cannot run while we spin: halve it. Spinning the
//     full 30 us there made a Python ping-pong bimodal on a loaded machine
//     (1 us or 80 us per round trip);
//   - it ran out, and what we waited for came within kGrowWithin anyway:
//     a longer spin would have caught it without a futex round trip (both
//     sides asleep stay asleep otherwise, at ~20 us per wake-up here): double;
//   - it came later: the other side was idle, spinning is waste: halve.
constexpr nanoseconds kSpinMax = std::chrono::microseconds(30);
constexpr nanoseconds kSpinMin = std::chrono::microseconds(1);
constexpr nanoseconds kYieldTookLong = std::chrono::microseconds(5);
constexpr nanoseconds kGrowWithin = std::chrono::microseconds(120);
constexpr int kSpinsPerClockRead = 64;
// One pause between two looks at the ring. Spacing the looks further (1, 2,
// 4 pauses) should let records accumulate between line crossings, and did in
// a minimal ring (70 -> 120 M/s), but measured in bench_queue it changed SPSC
// throughput by less than the noise and added 60 ns to the round trip's p50
// (docs/perf_queue.md), so it is not done.
// Yields before kBlocking sleeps on the futex. Few: on a loaded machine
// sched_yield hands the core to a third process for a whole time slice, which
// measured 30x slower round trips than going straight to the futex.
constexpr int kYieldsBeforeSleep = 2;
// Busy-spin strategy: yield once per this many spins, so even it backs off
// when the peer is descheduled (a pure spin on a loaded 2-core machine can be
// 100x slower than an idle one).
constexpr int kBusySpinBurst = 2048;
// Longest single futex sleep, and how often a waiter checks for a dead peer.
constexpr nanoseconds kSleepSlice = std::chrono::milliseconds(50);
// Sleep slice of a waiter that could not order its announcement against
// membarrier publishers (its own process cannot run membarrier): a missed
// wake-up then costs at most this much latency, never a hang.
constexpr nanoseconds kUncoveredSlice = std::chrono::milliseconds(1);
constexpr nanoseconds kPeerCheckEvery = std::chrono::milliseconds(20);
// A claimed MPSC slot unpublished this long has its claimer's pid checked.
constexpr nanoseconds kStallCheckAfter = std::chrono::milliseconds(5);
// ... and, if the claimer left no pid, is reported (not discarded) after this.
constexpr nanoseconds kStallReportAfter = std::chrono::seconds(5);

std::string errno_text(const char* what, const std::string& name) {
  return std::string(what) + "(" + name + "): " + std::strerror(errno);
}

#if defined(__linux__)
// FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the word may be in a MAP_SHARED
// segment that other processes wait on.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, nanoseconds timeout) noexcept {
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
void futex_wait(std::atomic<std::uint32_t>*, std::uint32_t, nanoseconds timeout) noexcept {
  std::this_thread::sleep_for(std::min<nanoseconds>(timeout, std::chrono::microseconds(200)));
}
void futex_wake_all(std::atomic<std::uint32_t>*) noexcept {}
#endif

// Which membarrier(2) barriers this process registered for, decided once per
// process. Registration is per address space, inherited by fork() (the
// child's copy of the mm keeps it; checked on Linux 6.x) and dropped by
// exec(), after which the new image registers again when it makes a ring.
struct Membarrier {
  bool private_expedited = false;  // covers threads of this process: heap rings
  bool global_expedited = false;   // covers registered processes: shared rings
};

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

std::atomic<bool> g_membarrier_publication{true};

// Runs a full memory barrier on every CPU currently running a thread of this
// process (shared = false) or of any registered process (shared = true).
bool run_membarrier(bool shared) noexcept {
#if defined(__linux__) && defined(__NR_membarrier) && !defined(SHANRAQ_QUEUE_TSAN)
  const int cmd = shared ? MEMBARRIER_CMD_GLOBAL_EXPEDITED : MEMBARRIER_CMD_PRIVATE_EXPEDITED;
  return ::syscall(__NR_membarrier, cmd, 0, 0) == 0;
#else
  (void)shared;
  return false;
#endif
}

// True unless the process is known to be gone (or a zombie: killed but not yet
// reaped by its parent, which kill(pid, 0) still reports as existing).
bool pid_alive(std::int32_t pid) noexcept {
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
#if defined(__linux__)
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return true;
  char buf[512];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The state letter follows the ')' that closes the command name.
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren != nullptr && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X')) return false;
#endif
  return true;
}

std::string normalise_name(const std::string& name) {
  std::string nm = (!name.empty() && name[0] == '/') ? name : "/" + name;
  if (nm.size() < 2 || nm.size() > 255 || nm.find('/', 1) != std::string::npos) {
    throw std::invalid_argument("shared-memory name must be 1..254 characters without '/' (got '" + name + "')");
  }
  return nm;
}

struct Mapping {
  void* base = nullptr;
  std::size_t size = 0;
  bool exists = false;
};

// Maps an existing segment read-write; size 0 if it does not exist.
Mapping map_existing(const std::string& nm) {
  const int fd = ::shm_open(nm.c_str(), O_RDWR, 0);
  if (fd < 0) {
    if (errno == ENOENT) return {nullptr, 0, false};
    throw SystemError(errno_text("shm_open", nm));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const std::string msg = errno_text("fstat", nm);
    ::close(fd);
    throw SystemError(msg);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return {nullptr, 0, true};
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) throw SystemError(errno_text("mmap", nm));
  return {base, size, true};
}

// Owner pid recorded in a segment, 0 if none can be read.
std::int32_t segment_owner(const std::string& nm, bool* exists) {
  Mapping m = map_existing(nm);
  *exists = m.exists;
  std::int32_t pid = 0;
  if (m.base != nullptr && m.size >= sizeof(detail::Header)) {
    const auto* h = static_cast<const detail::Header*>(m.base);
    if (h->magic.load(std::memory_order_acquire) == kMagic) pid = h->owner_pid;
  }
  if (m.base != nullptr) ::munmap(m.base, m.size);
  return pid;
}

}  // namespace

// ---- Region --------------------------------------------------------------------

namespace detail {

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    name_ = std::move(o.name_);
    shared_ = std::exchange(o.shared_, false);
    owner_ = std::exchange(o.owner_, false);
  }
  return *this;
}

void Region::release() noexcept {
  if (base_ == nullptr) return;
  if (shared_) {
    // Unlink only from the creating process: a forked child inherits the
    // handle but not the ownership.
    const bool unlink = owner_ && static_cast<Header*>(base_)->owner_pid == static_cast<std::int32_t>(::getpid());
    ::munmap(base_, size_);
    if (unlink) ::shm_unlink(name_.c_str());
  } else {
    ::operator delete(base_, std::align_val_t{kCacheLine});
  }
  base_ = nullptr;
}

Region Region::heap(std::size_t bytes) {
  Region r;
  r.base_ = ::operator new(bytes, std::align_val_t{kCacheLine});
  std::memset(r.base_, 0, bytes);
  r.size_ = bytes;
  return r;
}

Region Region::create_shared(const std::string& name, std::size_t bytes, bool replace_stale) {
  const std::string nm = normalise_name(name);
  int fd = ::shm_open(nm.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 && errno == EEXIST && replace_stale && cleanup_stale(nm)) {
    fd = ::shm_open(nm.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  if (fd < 0) {
    if (errno == EEXIST) {
      throw AlreadyExists("shared-memory segment '" + nm +
                          "' exists and its owner is alive (or unknown); attach to it, or unlink it");
    }
    throw SystemError(errno_text("shm_open", nm));
  }
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const std::string msg = errno_text("ftruncate", nm);
    ::close(fd);
    ::shm_unlink(nm.c_str());
    throw SystemError(msg);
  }
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (base == MAP_FAILED) {
    const std::string msg = errno_text("mmap", nm);
    ::shm_unlink(nm.c_str());
    throw SystemError(msg);
  }
  Region r;
  r.base_ = base;  // ftruncate zero-filled it
  r.size_ = bytes;
  r.name_ = nm;
  r.shared_ = true;
  r.owner_ = true;
  return r;
}

Region Region::attach_shared(const std::string& name) {
  const std::string nm = normalise_name(name);
  Mapping m = map_existing(nm);
  if (m.base == nullptr) {
    if (!m.exists) throw QueueError("no shared-memory ring named '" + nm + "'");
    throw LayoutMismatch("shared-memory segment '" + nm + "' is empty: not a ring");
  }
  Region r;
  r.base_ = m.base;
  r.size_ = m.size;
  r.name_ = nm;
  r.shared_ = true;
  r.owner_ = false;
  return r;
}

}  // namespace detail

void set_membarrier_publication(bool enabled) noexcept {
  g_membarrier_publication.store(enabled, std::memory_order_relaxed);
}

bool unlink_segment(const std::string& name) {
  const std::string nm = normalise_name(name);
  if (::shm_unlink(nm.c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw SystemError(errno_text("shm_unlink", nm));
}

bool segment_owner_alive(const std::string& name) {
  bool exists = false;
  const std::int32_t pid = segment_owner(normalise_name(name), &exists);
  return exists && pid != 0 && pid_alive(pid);
}

bool cleanup_stale(const std::string& name) {
  const std::string nm = normalise_name(name);
  bool exists = false;
  const std::int32_t pid = segment_owner(nm, &exists);
  if (!exists || pid == 0 || pid_alive(pid)) return false;
  return ::shm_unlink(nm.c_str()) == 0;
}

// ---- RingBase --------------------------------------------------------------------

std::size_t RingBase::block_size(RingKind kind, std::size_t record_size, std::size_t capacity) {
  const std::size_t prefix = kind == RingKind::kSpsc ? sizeof(detail::SpscSlotHeader) : sizeof(detail::SlotHeader);
  // Slots stay 8-byte aligned so their sequence words are aligned atomics.
  const std::size_t stride = (prefix + record_size + 7) & ~std::size_t{7};
  return sizeof(detail::Header) + stride * capacity;
}

void RingBase::validate(RingKind, const RingLayout& layout) {
  if (layout.record_size == 0 || layout.record_size > kMaxRecordSize) {
    throw std::invalid_argument("record_size must be in [1, " + std::to_string(kMaxRecordSize) + "] bytes, got " +
                                std::to_string(layout.record_size));
  }
  const std::size_t c = layout.capacity;
  if (c == 0 || c > kMaxCapacity || (c & (c - 1)) != 0) {
    throw std::invalid_argument("capacity must be a power of two in [1, 2^30], got " + std::to_string(c));
  }
  if (layout.dtype.size() > kMaxDtypeLen) {
    throw std::invalid_argument("dtype descriptor longer than " + std::to_string(kMaxDtypeLen) + " characters");
  }
}

RingBase::RingBase(detail::Region region, RingKind kind, const RingLayout& layout, WaitStrategy wait, bool init)
    : region_(std::move(region)), wait_(wait), my_pid_(static_cast<std::int32_t>(::getpid())) {
  if (init) {
    h_ = new (region_.base()) detail::Header();
    h_->version = kLayoutVersion;
    h_->kind = static_cast<std::uint32_t>(kind);
    h_->record_size = layout.record_size;
    h_->capacity = layout.capacity;
    h_->slot_stride = (block_size(kind, layout.record_size, 1) - sizeof(detail::Header));
    h_->total_size = region_.size();
    h_->owner_pid = region_.shared() ? my_pid_ : 0;
    h_->dtype_len = static_cast<std::uint32_t>(layout.dtype.size());
    std::memcpy(h_->dtype, layout.dtype.data(), layout.dtype.size());
    auto* slots = static_cast<std::byte*>(region_.base()) + sizeof(detail::Header);
    if (kind != RingKind::kSpsc) {
      for (std::uint64_t i = 0; i < layout.capacity; ++i) {
        auto* s = new (slots + i * h_->slot_stride) detail::SlotHeader();
        s->seq.store(2 * i, std::memory_order_relaxed);
      }
    } else {
      // 0 never equals an awaited p + 1: every slot starts empty.
      for (std::uint64_t i = 0; i < layout.capacity; ++i) {
        new (slots + i * h_->slot_stride) detail::SpscSlotHeader{0};
      }
    }
    // Release: an attacher that sees the magic sees every field above.
    h_->magic.store(kMagic, std::memory_order_release);
  } else {
    h_ = std::launder(static_cast<detail::Header*>(region_.base()));
  }
  const Membarrier& mb = membarrier_registration();
  if ((region_.shared() ? mb.global_expedited : mb.private_expedited) &&
      g_membarrier_publication.load(std::memory_order_relaxed)) {
    publish_ = PublishOrdering::kMembarrier;
    // Before this handle's first publication; see Header::light_handles.
    h_->light_handles.fetch_add(1, std::memory_order_acq_rel);
  }
  slots_ = static_cast<std::byte*>(region_.base()) + sizeof(detail::Header);
  mask_ = h_->capacity - 1;
  record_size_ = h_->record_size;
  stride_ = h_->slot_stride;
  // About 512 bytes ahead, and never into the half of the ring the consumer
  // may still be reading (a prefetch would only steal its line).
  prefetch_ahead_ = std::min<std::size_t>((512 + stride_ - 1) / stride_, (mask_ + 1) / 4);
  head_cache_ = h_->head.load(std::memory_order_acquire);
}

static_assert(kSpinMax.count() == 30'000, "RingBase::spin_budget_ns_ starts at kSpinMax");

std::chrono::nanoseconds RingBase::spin_budget(bool consumer) const noexcept {
  if (wait_ == WaitStrategy::kBusySpin) return kSpinMax;
  // atomic_ref needs a non-const object; the load does not modify it.
  auto& slot = const_cast<std::uint32_t&>(spin_budget_ns_[consumer ? 0 : 1]);
  return nanoseconds(std::atomic_ref<std::uint32_t>(slot).load(std::memory_order_relaxed));
}

std::size_t RingBase::size() const noexcept {
  const std::uint64_t head = h_->head.load(std::memory_order_acquire);
  const std::uint64_t tail = h_->tail.load(std::memory_order_acquire);
  return tail > head ? static_cast<std::size_t>(std::min<std::uint64_t>(tail - head, mask_ + 1)) : 0;
}

void RingBase::close() noexcept {
  h_->closed.store(1, std::memory_order_release);
  for (detail::WaitWord* w : {&h_->not_empty, &h_->not_full}) {
    // acq_rel: a sleeper whose sequence load sees this bump also sees `closed`.
    w->seq.fetch_add(1, std::memory_order_acq_rel);
    futex_wake_all(&w->seq);
  }
}

void RingBase::wake(detail::WaitWord& w) noexcept {
  // acq_rel: a sleeper whose sequence load sees this bump also sees what we
  // published before it.
  w.seq.fetch_add(1, std::memory_order_acq_rel);
  futex_wake_all(&w.seq);
}

bool RingBase::order_announcement() noexcept {
  // Our announcement was an acq_rel RMW on `sleepers`, which already orders
  // us against every read-modify-write publisher (see notify()).
  const Membarrier& mb = membarrier_registration();
  if (region_.shared() ? mb.global_expedited : mb.private_expedited) {
    // This process is registered (whether or not this handle publishes with
    // membarrier), so it may run the barrier that covers the membarrier
    // publishers (they are registered too, or they would not publish
    // without a fence). The system call also runs a full barrier on this
    // thread, which the read-modify-write publishers do not need.
    if (run_membarrier(region_.shared())) return true;
  }
  // We cannot run the barrier (this process is not registered or the call
  // failed). If no membarrier publisher was ever constructed, none can miss
  // us: this RMW either precedes a later one's construction RMW in
  // `light_handles` (which then synchronises with us, so its loads of
  // `sleepers` see our announcement), or reads its increment.
  return h_->light_handles.fetch_add(0, std::memory_order_acq_rel) == 0;
}

void RingBase::throw_consumer_gone() const {
  throw PeerDead("the consumer process (pid " + std::to_string(h_->consumer_pid.load(std::memory_order_relaxed)) +
                 ") of ring '" + name() + "' is gone; the ring will not drain");
}

void RingBase::throw_producer_gone() const {
  throw PeerDead("the producer process (pid " + std::to_string(h_->producer_pid.load(std::memory_order_relaxed)) +
                 ") of ring '" + name() + "' is gone and the ring is empty");
}

void RingBase::stamp_producer() noexcept {
  if (!producer_stamped_) {
    h_->producer_pid.store(my_pid_, std::memory_order_relaxed);
    producer_stamped_ = true;
  }
}

void RingBase::stamp_consumer() noexcept {
  if (!consumer_stamped_) {
    h_->consumer_pid.store(my_pid_, std::memory_order_relaxed);
    consumer_stamped_ = true;
  }
}

template <typename Ready, typename OnIdle>
bool RingBase::wait_for(detail::WaitWord& w, nanoseconds timeout, Ready ready, OnIdle on_idle) {
  if (timeout.count() == 0) return false;
  const bool forever = timeout.count() < 0;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = forever ? Clock::time_point::max() : start + timeout;
  // Relaxed atomic_ref: handles may be shared by threads (MPSC producers), and
  // the budget is only a hint.
  const bool adaptive = wait_ != WaitStrategy::kBusySpin;
  std::atomic_ref<std::uint32_t> budget(spin_budget_ns_[&w == &h_->not_empty ? 0 : 1]);
  const nanoseconds spin_for = adaptive ? nanoseconds(budget.load(std::memory_order_relaxed)) : kSpinMax;
  const Clock::time_point spin_until = std::min(deadline, start + spin_for);
  auto set_budget = [&](nanoseconds b) {
    budget.store(static_cast<std::uint32_t>(std::clamp(b, kSpinMin, kSpinMax).count()), std::memory_order_relaxed);
  };
  for (Clock::time_point t = start; t < spin_until; t = Clock::now()) {
    for (int i = 0; i < kSpinsPerClockRead; ++i) {
      cpu_relax();
      if (ready()) {
        if (adaptive && spin_for < kSpinMax) set_budget(2 * spin_for);
        return true;
      }
    }
  }
  // The spin ran out (unless the deadline cut it short, which says nothing
  // about the peer). Once the wait ends with what we waited for, judge it.
  const bool judge = adaptive && spin_until < deadline;
  bool shared_core = false;
  auto arrived = [&] {
    if (judge) {
      const bool soon = Clock::now() - start <= kGrowWithin;
      set_budget(!shared_core && soon ? 2 * spin_for : spin_for / 2);
    }
    return true;
  };
  Clock::time_point next_idle_check = start;
  int yields = 0;
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (now >= next_idle_check) {
      on_idle();
      next_idle_check = now + kPeerCheckEvery;
    }
    if (now >= deadline) {
      if (!ready()) {
        if (judge) set_budget(spin_for / 2);  // nothing came: spinning was waste
        return false;
      }
      return arrived();
    }
    if (wait_ == WaitStrategy::kBusySpin) {
      for (int i = 0; i < kBusySpinBurst; ++i) {
        cpu_relax();
        if (ready()) return true;
      }
      std::this_thread::yield();
    } else if (wait_ == WaitStrategy::kYield || yields < kYieldsBeforeSleep) {
      ++yields;
      std::this_thread::yield();
      if (Clock::now() - now > kYieldTookLong) shared_core = true;
    } else {
      // Announce, order the announcement (order_announcement), then look
      // once more before sleeping: a publisher that published before our
      // announcement is seen by that look; one that publishes after it sees
      // us and bumps `seq`, which makes the futex_wait return at once if it
      // has not started yet, or wakes it.
      struct Sleeper {
        detail::WaitWord& w;
        explicit Sleeper(detail::WaitWord& ww) : w(ww) { w.sleepers.fetch_add(1, std::memory_order_acq_rel); }
        ~Sleeper() { w.sleepers.fetch_sub(1, std::memory_order_relaxed); }
        Sleeper(const Sleeper&) = delete;
        Sleeper& operator=(const Sleeper&) = delete;
      } sleeper(w);
      const bool covered = order_announcement();
      const std::uint32_t seen = w.seq.load(std::memory_order_acquire);
      if (ready()) return arrived();
      const nanoseconds left = forever ? kSleepSlice : std::chrono::duration_cast<nanoseconds>(deadline - now);
      futex_wait(&w.seq, seen, std::min(left, covered ? kSleepSlice : kUncoveredSlice));
      w.sleeps.fetch_add(1, std::memory_order_relaxed);
      const bool woken = w.seq.load(std::memory_order_acquire) != seen;
      if (ready()) {
        if (!woken && covered) w.unwoken_sleeps.fetch_add(1, std::memory_order_relaxed);
        return arrived();
      }
      continue;
    }
    if (ready()) return arrived();
  }
}

// The blocking loop of push_many for both rings: moves what fits at once,
// then waits for room until all n records are in or the timeout passes.
// try_many(done) pushes from record `done` on and returns how many it took.
template <typename TryMany, typename OnIdle>
std::size_t RingBase::push_many_blocking(std::size_t n, nanoseconds timeout, TryMany try_many, OnIdle on_idle) {
  std::size_t done = try_many(0);
  if (done == n) return n;
  const bool forever = timeout.count() < 0;
  const Clock::time_point deadline = forever ? Clock::time_point::max() : Clock::now() + timeout;
  while (done < n) {
    const nanoseconds left =
        forever ? kForever : std::max(nanoseconds{0}, std::chrono::duration_cast<nanoseconds>(deadline - Clock::now()));
    if (left.count() == 0) break;
    const bool progressed = wait_for(
        h_->not_full, left,
        [&] {
          const std::size_t k = try_many(done);
          done += k;
          return k > 0;
        },
        on_idle);
    if (!progressed) break;
  }
  return done;
}

// The blocking loop of pop_many and of peek with a timeout, for both rings:
// one attempt, then, if it took nothing and something was asked for, a wait
// for records. take() returns a count or a RecordSpan. producer_gone() says
// whether the ring's only producer process is gone (SPSC); a wait that finds
// it gone and the ring still empty throws PeerDead instead of waiting on.
template <typename Take, typename ProducerGone>
auto RingBase::take_blocking(std::size_t max_n, nanoseconds timeout, Take take, ProducerGone producer_gone)
    -> decltype(take()) {
  auto count = [](const auto& got) -> std::size_t {
    if constexpr (std::is_same_v<std::decay_t<decltype(got)>, RecordSpan>) {
      return got.count;
    } else {
      return got;
    }
  };
  auto got = take();
  if (count(got) != 0 || max_n == 0) return got;
  wait_for(
      h_->not_empty, timeout,
      [&] {
        got = take();
        return count(got) > 0;
      },
      [&] {
        if (producer_gone() && count(got = take()) == 0) throw_producer_gone();
      });
  return got;
}

// ---- SpscRing ------------------------------------------------------------------

SpscRing::SpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init)
    : RingBase(std::move(region), RingKind::kSpsc, layout, wait, init) {}

SpscRing::SpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait)
    : SpscRing(new_heap_block(RingKind::kSpsc, {record_size, capacity, {}}), RingLayout{record_size, capacity, {}},
               wait, true) {}

namespace {

// Checks an attached segment's header against the ring kind and `expect`.
void check_header(const detail::Region& region, RingKind kind, const RingLayout& expect) {
  const std::string& nm = region.name();
  if (region.size() < sizeof(detail::Header)) {
    throw LayoutMismatch("shared-memory segment '" + nm + "' is too small to be a ring");
  }
  auto* h = static_cast<const detail::Header*>(region.base());
  // A creator may be between ftruncate and publishing the magic: give it a
  // moment rather than fail a racing attach.
  for (int i = 0; i < 200 && h->magic.load(std::memory_order_acquire) != kMagic; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (h->magic.load(std::memory_order_acquire) != kMagic) {
    throw LayoutMismatch("shared-memory segment '" + nm + "' is not a shanraq ring (bad magic)");
  }
  if (h->version != kLayoutVersion) {
    throw LayoutMismatch("ring '" + nm + "' has layout version " + std::to_string(h->version) + ", this build reads " +
                         std::to_string(kLayoutVersion));
  }
  const char* names[] = {"?", "SpscRing", "MpscRing", "MpmcRing"};
  if (h->kind != static_cast<std::uint32_t>(kind)) {
    throw LayoutMismatch("ring '" + nm + "' is an " + names[h->kind <= 3 ? h->kind : 0] + ", not an " +
                         names[static_cast<int>(kind)]);
  }
  const std::size_t cap = h->capacity;
  if (h->record_size == 0 || h->record_size > kMaxRecordSize || cap == 0 || cap > kMaxCapacity ||
      (cap & (cap - 1)) != 0 || h->dtype_len > kMaxDtypeLen || h->total_size != region.size() ||
      RingBase::block_size(kind, h->record_size, cap) != region.size()) {
    throw LayoutMismatch("ring '" + nm + "' has a corrupt header");
  }
  if (expect.record_size != 0 && expect.record_size != h->record_size) {
    throw LayoutMismatch("ring '" + nm + "' holds " + std::to_string(h->record_size) + "-byte records, expected " +
                         std::to_string(expect.record_size));
  }
  if (expect.capacity != 0 && expect.capacity != cap) {
    throw LayoutMismatch("ring '" + nm + "' has capacity " + std::to_string(cap) + ", expected " +
                         std::to_string(expect.capacity));
  }
  const std::string_view dt(h->dtype, h->dtype_len);
  if (!expect.dtype.empty() && expect.dtype != dt) {
    throw LayoutMismatch("ring '" + nm + "' has dtype " + std::string(dt) + ", expected " + expect.dtype);
  }
}

}  // namespace

detail::Region RingBase::new_heap_block(RingKind kind, const RingLayout& layout) {
  validate(kind, layout);
  return detail::Region::heap(block_size(kind, layout.record_size, layout.capacity));
}

detail::Region RingBase::new_shared_block(RingKind kind, const std::string& name, const RingLayout& layout,
                                          bool replace_stale) {
  validate(kind, layout);
  return detail::Region::create_shared(name, block_size(kind, layout.record_size, layout.capacity), replace_stale);
}

detail::Region RingBase::attached_block(RingKind kind, const std::string& name, const RingLayout& expect) {
  detail::Region region = detail::Region::attach_shared(name);
  check_header(region, kind, expect);
  return region;
}

SpscRing SpscRing::create(const std::string& name, const RingLayout& layout, WaitStrategy wait, bool replace_stale) {
  return SpscRing(new_shared_block(RingKind::kSpsc, name, layout, replace_stale), layout, wait, true);
}

SpscRing SpscRing::attach(const std::string& name, const RingLayout& expect, WaitStrategy wait) {
  return SpscRing(attached_block(RingKind::kSpsc, name, expect), expect, wait, false);
}

bool SpscRing::producer_peer_dead() const noexcept {
  const std::int32_t pid = h_->consumer_pid.load(std::memory_order_relaxed);
  return pid != 0 && pid != my_pid_ && !pid_alive(pid);
}

bool SpscRing::consumer_peer_dead() const noexcept {
  const std::int32_t pid = h_->producer_pid.load(std::memory_order_relaxed);
  return pid != 0 && pid != my_pid_ && !pid_alive(pid);
}

namespace {
inline detail::SpscSlotHeader* spsc_header(std::byte* p) noexcept {
  return std::launder(reinterpret_cast<detail::SpscSlotHeader*>(p));
}
inline std::byte* spsc_record(std::byte* p) noexcept { return p + sizeof(detail::SpscSlotHeader); }

// memcpy of a record: the common sizes with a constant length, which the
// compiler turns into a few moves instead of a call.
SHANRAQ_ALWAYS_INLINE void copy_record(void* dst, const void* src, std::size_t n) noexcept {
  switch (n) {
    case 8: std::memcpy(dst, src, 8); break;
    case 16: std::memcpy(dst, src, 16); break;
    case 32: std::memcpy(dst, src, 32); break;
    case 64: std::memcpy(dst, src, 64); break;
    default: std::memcpy(dst, src, n);
  }
}
}  // namespace

std::size_t SpscRing::try_push_many(const void* records, std::size_t n) {
  if (SHANRAQ_UNLIKELY(h_->closed.load(std::memory_order_relaxed) != 0)) throw Closed("push on a closed ring");
  if (SHANRAQ_UNLIKELY(!producer_stamped_)) adopt_tail();
  const std::uint64_t cap = mask_ + 1;
  // relaxed: only this producer writes the tail.
  const std::uint64_t tail = h_->tail.load(std::memory_order_relaxed);
  if (tail - head_cache_ + n > cap) {
    // acquire: the consumer released `head` after copying the records out of
    // those slots, so overwriting them now cannot race with its reads.
    head_cache_ = h_->head.load(std::memory_order_acquire);
  }
  const std::uint64_t free = cap - (tail - head_cache_);
  const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(free, n));
  if (k == 0) return 0;
  const auto* src = static_cast<const std::byte*>(records);
  // All records first, then the seq words from the last to the first: the
  // consumer, waiting on the first slot, sees the batch only once all of it
  // is there, and then reads lines the producer has finished with. Publishing
  // slot by slot let it chase the producer line by line, each line crossing
  // between the cores several times (cross-process batches: 466 -> 40 M/s).
  // Ask for every line of the batch at once: the consumer read them a lap ago,
  // and taking them back one store at a time serialises the transfers. Not
  // the first slot's line: a waiting consumer polls it, and it is written
  // last (record and seq together), so that line crosses once per batch
  // instead of twice (a store to it early would stall the store buffer
  // behind its transfer, then the consumer's next poll would take it back).
  // (At most 64 slots: more cannot be in flight at once, and for a big batch
  // the rest would only cost instructions.)
  const Slots at = slots();
  const std::size_t size = record_size_;
  const std::size_t ahead = std::min<std::size_t>(k, 64);
  for (std::size_t i = 1; i < ahead; ++i) prefetch_for_write(at(tail + i));
  prefetch_for_write(at(tail + ahead - 1) + at.stride - 1);
  for (std::size_t i = 1; i < k; ++i) copy_record(spsc_record(at(tail + i)), src + i * size, size);
  for (std::size_t i = k; i-- > 1;) {
    // release: a consumer that acquires this seq sees the record complete.
    // A producer killed before this store published nothing of this slot.
    spsc_header(at(tail + i))->seq.store(tail + i + 1, std::memory_order_release);
  }
  copy_record(spsc_record(at(tail)), src, size);
  spsc_header(at(tail))->seq.store(tail + 1, std::memory_order_release);
  // The tail is for size() and for this producer's next call; consumers
  // find records through the slots' seq words.
  h_->tail.store(tail + k, std::memory_order_release);
  notify(h_->not_empty);
  return k;
}

void SpscRing::adopt_tail() noexcept {
  // A producer killed between publishing a slot's seq and storing the tail
  // left the tail behind records the consumer may already have taken. The
  // next producer (one at a time) moves it past them before its first push,
  // or it would rewrite a consumed slot and see the ring as full forever.
  std::uint64_t t = h_->tail.load(std::memory_order_relaxed);
  for (std::uint64_t i = 0; i <= mask_ && spsc_header(slot(t))->seq.load(std::memory_order_acquire) == t + 1; ++i) ++t;
  h_->tail.store(t, std::memory_order_release);
  head_cache_ = h_->head.load(std::memory_order_acquire);
  stamp_producer();
}

bool SpscRing::try_push(const void* record) {
  if (SHANRAQ_UNLIKELY(h_->closed.load(std::memory_order_relaxed) != 0)) throw Closed("push on a closed ring");
  if (SHANRAQ_UNLIKELY(!producer_stamped_)) adopt_tail();
  const std::uint64_t tail = h_->tail.load(std::memory_order_relaxed);
  if (SHANRAQ_UNLIKELY(tail - head_cache_ > mask_)) {
    head_cache_ = h_->head.load(std::memory_order_acquire);
    if (tail - head_cache_ > mask_) return false;
  }
  std::byte* s = slot(tail);
  // The slot this producer will write a few hundred bytes from now was last
  // read by the consumer, so its line sits in the consumer's cache.
  if (prefetch_ahead_ != 0) prefetch_for_write(slot(tail + prefetch_ahead_));
  copy_record(spsc_record(s), record, record_size_);
  // release: publishes the record (see try_push_many). No consumer reads the
  // tail on its hot path, so its line stays in this core's cache.
  spsc_header(s)->seq.store(tail + 1, std::memory_order_release);
  h_->tail.store(tail + 1, std::memory_order_release);
  notify(h_->not_empty);
  return true;
}

bool SpscRing::push(const void* record, nanoseconds timeout) {
  if (try_push(record)) return true;
  return wait_for(
      h_->not_full, timeout, [&] { return try_push(record); },
      [&] {
        if (producer_peer_dead()) {
          throw_consumer_gone();
        }
      });
}

std::size_t SpscRing::push_many(const void* records, std::size_t n, nanoseconds timeout) {
  const auto* src = static_cast<const std::byte*>(records);
  return push_many_blocking(
      n, timeout, [&](std::size_t done) { return try_push_many(src + done * record_size_, n - done); },
      [&] {
        if (producer_peer_dead()) throw_consumer_gone();
      });
}

// Consumer: how many of the slots from `head` on (at most `limit`) hold
// published records, in order. acquire: pairs with the producer's release of
// each slot's seq, so the records are complete.
std::size_t SpscRing::ready_from(std::uint64_t head, std::size_t limit) const noexcept {
  const Slots at = slots();
  if (limit == 0 || spsc_header(at(head))->seq.load(std::memory_order_acquire) != head + 1) return 0;
  // The first record is there. A batch's lines come from the producer's
  // cache: ask for them all at once rather than one miss per loop turn. Only
  // now: prefetching while the ring is empty would pull the lines the
  // producer is writing away from it on every poll (measured: batch64 fell
  // to 23 M/s in the VM's slow state). The producer publishes a batch last
  // to first, so once the first is there the batch is complete.
  if (limit > 1) {
    const std::size_t ahead = std::min<std::size_t>(limit, 64);
    for (std::size_t i = 1; i < ahead; ++i) __builtin_prefetch(at(head + i), 0, 3);
  }
  std::size_t k = 1;
  while (k < limit && spsc_header(at(head + k))->seq.load(std::memory_order_acquire) == head + k + 1) ++k;
  // A consumer behind the producer: the next batch is already published, so
  // its lines can be asked for now too (no producer is writing them), and
  // the next call finds them here instead of paying a miss first.
  if (k == limit && k > 1 && spsc_header(at(head + k))->seq.load(std::memory_order_relaxed) == head + k + 1) {
    for (std::size_t i = 1; i < std::min<std::size_t>(limit, 64); ++i) __builtin_prefetch(at(head + k + i), 0, 3);
  }
  return k;
}

std::size_t SpscRing::try_pop_many(void* out, std::size_t max_n) {
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  const std::size_t k = ready_from(head, static_cast<std::size_t>(std::min<std::uint64_t>(max_n, mask_ + 1)));
  if (k == 0) {
    if (max_n != 0 && SHANRAQ_UNLIKELY(closed())) {
      // Records published before close() are still delivered: the acquire
      // of `closed` makes them visible to this second look.
      if (ready_from(head, 1) == 0) throw Closed("pop on a closed, drained ring");
      return try_pop_many(out, max_n);
    }
    return 0;
  }
  stamp_consumer();
  peeked_ = 0;
  auto* dst = static_cast<std::byte*>(out);
  const Slots at = slots();
  const std::size_t size = record_size_;
  for (std::size_t i = 0; i < k; ++i) copy_record(dst + i * size, spsc_record(at(head + i)), size);
  // release: the producer may reuse these slots once it acquires this head.
  h_->head.store(head + k, std::memory_order_release);
  notify(h_->not_full);
  return k;
}

bool SpscRing::try_pop(void* out) {
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  std::byte* s = slot(head);
  // acquire: pairs with the producer's release of the seq (see ready_from).
  if (SHANRAQ_UNLIKELY(spsc_header(s)->seq.load(std::memory_order_acquire) != head + 1)) {
    if (SHANRAQ_LIKELY(!closed())) return false;
    if (spsc_header(s)->seq.load(std::memory_order_acquire) != head + 1) throw Closed("pop on a closed, drained ring");
  }
  stamp_consumer();
  peeked_ = 0;
  copy_record(out, spsc_record(s), record_size_);
  h_->head.store(head + 1, std::memory_order_release);
  notify(h_->not_full);
  return true;
}

bool SpscRing::pop(void* out, nanoseconds timeout) {
  if (try_pop(out)) return true;
  return wait_for(
      h_->not_empty, timeout, [&] { return try_pop(out); },
      [&] {
        if (consumer_peer_dead() && !try_pop(out)) {
          throw_producer_gone();
        }
      });
}

std::size_t SpscRing::pop_many(void* out, std::size_t max_n, nanoseconds timeout) {
  return take_blocking(
      max_n, timeout, [&] { return try_pop_many(out, max_n); }, [&] { return consumer_peer_dead(); });
}

RecordSpan SpscRing::peek(std::size_t max_n) {
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  const std::uint64_t to_end = (mask_ + 1) - (head & mask_);
  const std::size_t k = ready_from(head, static_cast<std::size_t>(std::min<std::uint64_t>(to_end, max_n)));
  peeked_ = k;
  if (k == 0 && max_n != 0 && SHANRAQ_UNLIKELY(closed())) {
    if (ready_from(head, 1) == 0) throw Closed("peek on a closed, drained ring");
    return peek(max_n);
  }
  if (k != 0) stamp_consumer();
  // The slots stay ours until release() moves the head past them: a
  // producer never writes a slot at or after the head it has acquired.
  return {spsc_record(slot(head)), k, stride_};
}

RecordSpan SpscRing::peek(std::size_t max_n, nanoseconds timeout) {
  return take_blocking(
      max_n, timeout, [&] { return peek(max_n); }, [&] { return consumer_peer_dead(); });
}

void SpscRing::release(std::size_t n) {
  if (n > peeked_) {
    throw std::invalid_argument("release(" + std::to_string(n) + ") of a ring with " + std::to_string(peeked_) +
                                " peeked records");
  }
  if (n == 0) return;
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  // release: the producer may overwrite these slots once it acquires this.
  h_->head.store(head + n, std::memory_order_release);
  peeked_ -= n;
  notify(h_->not_full);
}

// ---- MpscRing ------------------------------------------------------------------

MpscRing::MpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init, RingKind kind)
    : RingBase(std::move(region), kind, layout, wait, init), multi_consumer_(kind == RingKind::kMpmc) {}

MpscRing::MpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait)
    : MpscRing(new_heap_block(RingKind::kMpsc, {record_size, capacity, {}}), RingLayout{record_size, capacity, {}},
               wait, true) {}

MpscRing MpscRing::create(const std::string& name, const RingLayout& layout, WaitStrategy wait, bool replace_stale) {
  return MpscRing(new_shared_block(RingKind::kMpsc, name, layout, replace_stale), layout, wait, true);
}

MpscRing MpscRing::attach(const std::string& name, const RingLayout& expect, WaitStrategy wait) {
  return MpscRing(attached_block(RingKind::kMpsc, name, expect), expect, wait, false);
}

// ---- MpmcRing ------------------------------------------------------------------

MpmcRing::MpmcRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait)
    : MpscRing(new_heap_block(RingKind::kMpmc, {record_size, capacity, {}}), RingLayout{record_size, capacity, {}},
               wait, true, RingKind::kMpmc) {}

MpmcRing::MpmcRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init)
    : MpscRing(std::move(region), layout, wait, init, RingKind::kMpmc) {}

MpmcRing MpmcRing::create(const std::string& name, const RingLayout& layout, WaitStrategy wait, bool replace_stale) {
  return MpmcRing(new_shared_block(RingKind::kMpmc, name, layout, replace_stale), layout, wait, true);
}

MpmcRing MpmcRing::attach(const std::string& name, const RingLayout& expect, WaitStrategy wait) {
  return MpmcRing(attached_block(RingKind::kMpmc, name, expect), expect, wait, false);
}

bool MpscRing::consumer_peer_dead() const noexcept {
  // MPMC: one consumer's death does not mean the ring will not drain; a slot
  // a dead consumer claimed is reclaimed by reclaim_stuck_slot() instead.
  if (multi_consumer_) return false;
  const std::int32_t pid = h_->consumer_pid.load(std::memory_order_relaxed);
  return pid != 0 && pid != my_pid_ && !pid_alive(pid);
}

namespace {
inline detail::SlotHeader* slot_header(std::byte* p) noexcept { return std::launder(reinterpret_cast<detail::SlotHeader*>(p)); }
}  // namespace

bool MpscRing::try_push(const void* record) {
  if (SHANRAQ_UNLIKELY(h_->closed.load(std::memory_order_relaxed) != 0)) throw Closed("push on a closed ring");
  std::uint64_t pos = h_->tail.load(std::memory_order_relaxed);
  detail::SlotHeader* s;
  for (;;) {
    s = slot_header(slot(pos));
    // acquire: pairs with the consumer's release after it copied the
    // previous lap's record out, so we never overwrite a record being read.
    const std::uint64_t seq = s->seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::int64_t>(seq - 2 * pos);
    if (diff == 0) {
      // relaxed: the claim orders nothing by itself; the slot's seq does.
      if (h_->tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff < 0) {
      return false;  // the slot still holds last lap's record: full
    } else {
      pos = h_->tail.load(std::memory_order_relaxed);  // another producer took it
    }
  }
  // The pid lets the consumer tell a dead claimer from a slow one.
  s->pid.store(my_pid_, std::memory_order_relaxed);
  std::memcpy(reinterpret_cast<std::byte*>(s) + sizeof(detail::SlotHeader), record, record_size_);
  // release: publishes the record; a producer killed before this store
  // leaves the slot unpublished, never torn.
  s->seq.store(2 * pos + 1, std::memory_order_release);
  notify(h_->not_empty);
  return true;
}

std::size_t MpscRing::try_push_many(const void* records, std::size_t n) {
  if (SHANRAQ_UNLIKELY(h_->closed.load(std::memory_order_relaxed) != 0)) throw Closed("push on a closed ring");
  if (n == 0) return 0;
  const std::uint64_t cap = mask_ + 1;
  std::uint64_t pos = h_->tail.load(std::memory_order_relaxed);
  std::size_t k;
  for (;;) {
    if (!multi_consumer_) {
      // acquire: the consumer released `head` after freeing (and releasing
      // the seq of) every slot before it, so all of [pos, head + cap) are
      // free for their lap once claimed.
      const std::uint64_t head = h_->head.load(std::memory_order_acquire);
      const std::uint64_t used = pos > head ? pos - head : 0;
      k = used >= cap ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(cap - used, n));
    } else {
      // MPMC consumers move the head when they claim, before they free: the
      // head proves nothing, so count the slots that are free for their lap
      // (acquire: pairs with the freeing consumer's release). Only the
      // claimer of a position writes its slot next, so a slot found free is
      // still free if the claim below succeeds.
      k = 0;
      while (k < n && k < cap &&
             slot_header(slot(pos + k))->seq.load(std::memory_order_acquire) == 2 * (pos + k)) {
        ++k;
      }
    }
    if (k == 0) {
      const std::uint64_t fresh = h_->tail.load(std::memory_order_relaxed);
      if (fresh == pos) return 0;  // full
      pos = fresh;
      continue;
    }
    if (h_->tail.compare_exchange_weak(pos, pos + k, std::memory_order_relaxed)) break;
  }
  // Every claimed slot gets our pid before any is written: a producer killed
  // mid-batch leaves each of its unpublished slots with a pid the consumer
  // can check and discard, instead of pid-less slots it must refuse to skip.
  for (std::size_t i = 0; i < k; ++i) {
    detail::SlotHeader* s = slot_header(slot(pos + i));
    // acquire: as in try_push; the claim above already proves the slot free
    // for this lap (head acquire or the count), so this never spins.
    while (s->seq.load(std::memory_order_acquire) != 2 * (pos + i)) cpu_relax();
    s->pid.store(my_pid_, std::memory_order_relaxed);
  }
  const auto* src = static_cast<const std::byte*>(records);
  for (std::size_t i = 0; i < k; ++i) {
    detail::SlotHeader* s = slot_header(slot(pos + i));
    std::memcpy(reinterpret_cast<std::byte*>(s) + sizeof(detail::SlotHeader), src + i * record_size_, record_size_);
    s->seq.store(2 * (pos + i) + 1, std::memory_order_release);
  }
  notify(h_->not_empty);
  return k;
}

bool MpscRing::push(const void* record, nanoseconds timeout) {
  if (try_push(record)) return true;
  return wait_for(
      h_->not_full, timeout, [&] { return try_push(record); },
      [&] {
        reclaim_stuck_slot();
        if (consumer_peer_dead()) throw_consumer_gone();
      });
}

std::size_t MpscRing::push_many(const void* records, std::size_t n, nanoseconds timeout) {
  const auto* src = static_cast<const std::byte*>(records);
  return push_many_blocking(
      n, timeout, [&](std::size_t done) { return try_push_many(src + done * record_size_, n - done); },
      [&] {
        reclaim_stuck_slot();
        if (consumer_peer_dead()) throw_consumer_gone();
      });
}

void MpscRing::reclaim_stuck_slot() noexcept {
  if (!multi_consumer_) return;
  const std::uint64_t cap = mask_ + 1;
  const std::uint64_t tail = h_->tail.load(std::memory_order_acquire);
  if (tail < cap) return;
  // The slot the next producer needs still holds the record of position p,
  // one lap back. If a consumer claimed p (the head is past it) and its
  // process is gone, nobody will ever free the slot.
  const std::uint64_t p = tail - cap;
  detail::SlotHeader* s = slot_header(slot(p));
  if (s->seq.load(std::memory_order_acquire) != 2 * p + 1) return;
  if (h_->head.load(std::memory_order_acquire) <= p) return;  // not claimed: the ring is just full
  const std::int32_t reader = s->reader_pid.load(std::memory_order_relaxed);
  // 0: claimed but not yet stamped (a few instructions), or being freed.
  if (reader == 0 || reader == my_pid_ || pid_alive(reader)) return;
  s->pid.store(0, std::memory_order_relaxed);
  s->reader_pid.store(0, std::memory_order_relaxed);
  std::uint64_t expected = 2 * p + 1;
  // acq_rel: one reclaimer wins; the free state is released to producers.
  if (s->seq.compare_exchange_strong(expected, 2 * tail, std::memory_order_acq_rel)) {
    h_->lost.fetch_add(1, std::memory_order_relaxed);
  }
}

void MpscRing::check_stalled_slot(std::uint64_t pos) {
  // The stall state is per handle; MPMC consumer threads may share a handle,
  // so each field is a relaxed atomic. A mixed view of the three only moves
  // a check earlier or later: what it acts on (pid liveness, the seq, the
  // head compare-exchange) is re-read from the ring itself.
  std::atomic_ref<std::uint64_t> stall_pos(stall_pos_);
  std::atomic_ref<std::int64_t> since_ns(stall_since_ns_);
  std::atomic_ref<std::int64_t> checked_ns(stall_checked_ns_);
  const std::int64_t now = Clock::now().time_since_epoch().count();
  if (pos != stall_pos.load(std::memory_order_relaxed)) {
    stall_pos.store(pos, std::memory_order_relaxed);
    since_ns.store(now, std::memory_order_relaxed);
    checked_ns.store(now, std::memory_order_relaxed);
    return;
  }
  const nanoseconds stalled(now - since_ns.load(std::memory_order_relaxed));
  if (stalled < kStallCheckAfter || nanoseconds(now - checked_ns.load(std::memory_order_relaxed)) < kStallCheckAfter) {
    return;
  }
  checked_ns.store(now, std::memory_order_relaxed);
  detail::SlotHeader* s = slot_header(slot(pos));
  const std::int32_t pid = s->pid.load(std::memory_order_relaxed);
  if (pid != 0) {
    if (pid == my_pid_ || pid_alive(pid)) return;
    // Dead claimer. It cannot publish any more; look once more in case it
    // published just before dying, else discard the slot.
    if (s->seq.load(std::memory_order_acquire) == 2 * pos + 1) return;
    if (multi_consumer_) {
      // Claim the position like a pop would, so exactly one consumer
      // discards it; a loser finds the head moved and simply goes on.
      std::uint64_t expected = pos;
      if (!h_->head.compare_exchange_strong(expected, pos + 1, std::memory_order_acq_rel)) {
        stall_pos.store(~0ULL, std::memory_order_relaxed);
        return;
      }
    }
    s->pid.store(0, std::memory_order_relaxed);
    s->seq.store(2 * (pos + mask_ + 1), std::memory_order_release);
    if (!multi_consumer_) h_->head.store(pos + 1, std::memory_order_release);
    h_->lost.fetch_add(1, std::memory_order_relaxed);
    notify(h_->not_full);
    stall_pos.store(~0ULL, std::memory_order_relaxed);
    throw ProducerDied("producer pid " + std::to_string(pid) + " died while writing the record at position " +
                       std::to_string(pos) + " of ring '" + name() +
                       "'; that record was discarded (never delivered torn) and the ring remains usable");
  }
  if (stalled >= kStallReportAfter) {
    throw ProducerDied("the record at position " + std::to_string(pos) + " of ring '" + name() +
                       "' was claimed but not published for over 5 s and its producer left no pid (it probably "
                       "died between claiming and stamping); it cannot be skipped safely: recreate the ring");
  }
}

bool MpscRing::try_pop_shared(void* out) {
  std::uint64_t pos = h_->head.load(std::memory_order_relaxed);
  detail::SlotHeader* s;
  for (;;) {
    s = slot_header(slot(pos));
    // acquire: pairs with the producer's release of the slot's seq.
    const std::uint64_t seq = s->seq.load(std::memory_order_acquire);
    const auto diff = static_cast<std::int64_t>(seq - (2 * pos + 1));
    if (diff == 0) {
      // relaxed: the record is ours once the claim succeeds; its contents
      // were acquired through the seq above (a slot cannot be reused
      // before its position is claimed and freed, so the claim succeeding
      // proves the seq we read is still current).
      if (h_->head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
    } else if (diff > 0) {
      pos = h_->head.load(std::memory_order_relaxed);  // another consumer took it
    } else {
      // Not published: empty, or claimed but still being written.
      if (h_->tail.load(std::memory_order_relaxed) > pos) {
        check_stalled_slot(pos);
        return false;
      }
      if (SHANRAQ_UNLIKELY(closed())) {
        if (s->seq.load(std::memory_order_acquire) == 2 * pos + 1) continue;
        if (h_->tail.load(std::memory_order_acquire) <= pos) throw Closed("pop on a closed, drained ring");
      }
      return false;
    }
  }
  // Stamped so a producer can tell a dead reader from a slow one. (No
  // header consumer pid: MPMC never reports a dead consumer as PeerDead.)
  s->reader_pid.store(my_pid_, std::memory_order_relaxed);
  std::memcpy(out, reinterpret_cast<std::byte*>(s) + sizeof(detail::SlotHeader), record_size_);
  s->pid.store(0, std::memory_order_relaxed);
  s->reader_pid.store(0, std::memory_order_relaxed);
  // release: the slot is free for the next lap once producers acquire this.
  s->seq.store(2 * (pos + mask_ + 1), std::memory_order_release);
  notify(h_->not_full);
  return true;
}

std::size_t MpscRing::try_pop_many_shared(void* out, std::size_t max_n) {
  if (max_n == 0) return 0;
  auto* dst = static_cast<std::byte*>(out);
  std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  std::size_t k;
  for (;;) {
    k = 0;
    // acquire: pairs with each producer's release of its slot's seq.
    while (k < max_n &&
           slot_header(slot(head + k))->seq.load(std::memory_order_acquire) == 2 * (head + k) + 1) {
      ++k;
    }
    // Empty, claimed-but-unpublished, or closed: try_pop sorts them out.
    if (k == 0) return try_pop_shared(dst) ? 1 : 0;
    // Claims the whole run at once: published slots stay published until
    // their claimer frees them, so the run is still ours if this succeeds.
    if (h_->head.compare_exchange_weak(head, head + k, std::memory_order_relaxed)) break;
  }
  for (std::size_t i = 0; i < k; ++i) {
    slot_header(slot(head + i))->reader_pid.store(my_pid_, std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < k; ++i) {
    detail::SlotHeader* s = slot_header(slot(head + i));
    std::memcpy(dst + i * record_size_, reinterpret_cast<std::byte*>(s) + sizeof(detail::SlotHeader), record_size_);
    s->pid.store(0, std::memory_order_relaxed);
    s->reader_pid.store(0, std::memory_order_relaxed);
    s->seq.store(2 * (head + i + mask_ + 1), std::memory_order_release);
  }
  notify(h_->not_full);
  return k;
}

bool MpscRing::try_pop(void* out) {
  if (multi_consumer_) return try_pop_shared(out);
  const std::uint64_t pos = h_->head.load(std::memory_order_relaxed);
  detail::SlotHeader* s = slot_header(slot(pos));
  // acquire: pairs with the producer's release of the slot's seq.
  if (SHANRAQ_UNLIKELY(s->seq.load(std::memory_order_acquire) != 2 * pos + 1)) {
    if (h_->tail.load(std::memory_order_relaxed) > pos) {
      check_stalled_slot(pos);  // claimed, being written (or its writer died)
      return false;
    }
    if (SHANRAQ_UNLIKELY(closed())) {
      if (s->seq.load(std::memory_order_acquire) == 2 * pos + 1) return try_pop(out);
      if (h_->tail.load(std::memory_order_acquire) <= pos) throw Closed("pop on a closed, drained ring");
    }
    return false;
  }
  stamp_consumer();
  peeked_ = 0;
  std::memcpy(out, reinterpret_cast<std::byte*>(s) + sizeof(detail::SlotHeader), record_size_);
  s->pid.store(0, std::memory_order_relaxed);
  // release: the slot is free for the next lap once producers acquire this.
  s->seq.store(2 * (pos + mask_ + 1), std::memory_order_release);
  h_->head.store(pos + 1, std::memory_order_release);
  notify(h_->not_full);
  return true;
}

std::size_t MpscRing::try_pop_many(void* out, std::size_t max_n) {
  if (multi_consumer_) return try_pop_many_shared(out, max_n);
  auto* dst = static_cast<std::byte*>(out);
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  std::size_t k = 0;
  while (k < max_n) {
    detail::SlotHeader* s = slot_header(slot(head + k));
    if (s->seq.load(std::memory_order_acquire) != 2 * (head + k) + 1) break;
    std::memcpy(dst + k * record_size_, reinterpret_cast<std::byte*>(s) + sizeof(detail::SlotHeader), record_size_);
    s->pid.store(0, std::memory_order_relaxed);
    s->seq.store(2 * (head + k + mask_ + 1), std::memory_order_release);
    ++k;
  }
  if (k == 0) {
    if (max_n == 0) return 0;
    // Empty, claimed-but-unpublished, or closed: try_pop sorts them out.
    return try_pop(dst) ? 1 : 0;
  }
  stamp_consumer();
  peeked_ = 0;
  h_->head.store(head + k, std::memory_order_release);
  notify(h_->not_full);
  return k;
}

bool MpscRing::pop(void* out, nanoseconds timeout) {
  if (try_pop(out)) return true;
  return wait_for(h_->not_empty, timeout, [&] { return try_pop(out); }, [] {});
}

std::size_t MpscRing::pop_many(void* out, std::size_t max_n, nanoseconds timeout) {
  // Many producers: one gone says nothing about the others (a dead claimer
  // is handled slot by slot, see check_stalled_slot).
  return take_blocking(
      max_n, timeout, [&] { return try_pop_many(out, max_n); }, [] { return false; });
}


RecordSpan MpscRing::peek(std::size_t max_n) {
  if (multi_consumer_) throw std::logic_error("peek/release (pop_view) are not available on an MpmcRing");
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  const std::uint64_t to_end = (mask_ + 1) - (head & mask_);
  const auto limit = static_cast<std::size_t>(std::min<std::uint64_t>(to_end, max_n));
  std::size_t k = 0;
  // acquire: pairs with each producer's release of its slot's seq.
  while (k < limit && slot_header(slot(head + k))->seq.load(std::memory_order_acquire) == 2 * (head + k) + 1) ++k;
  peeked_ = k;
  auto* first = slot(head) + sizeof(detail::SlotHeader);
  if (k == 0 && max_n != 0) {
    if (h_->tail.load(std::memory_order_relaxed) > head) {
      check_stalled_slot(head);  // claimed, being written (or its writer died)
    } else if (SHANRAQ_UNLIKELY(closed())) {
      if (slot_header(slot(head))->seq.load(std::memory_order_acquire) == 2 * head + 1) return peek(max_n);
      if (h_->tail.load(std::memory_order_acquire) <= head) throw Closed("peek on a closed, drained ring");
    }
    return {first, 0, stride_};
  }
  if (k != 0) stamp_consumer();
  // Published slots stay published until release() frees them: producers
  // claim a slot only once its seq says "free for this lap".
  return {first, k, stride_};
}

RecordSpan MpscRing::peek(std::size_t max_n, nanoseconds timeout) {
  return take_blocking(
      max_n, timeout, [&] { return peek(max_n); }, [] { return false; });
}

void MpscRing::release(std::size_t n) {
  if (multi_consumer_) throw std::logic_error("peek/release (pop_view) are not available on an MpmcRing");
  if (n > peeked_) {
    throw std::invalid_argument("release(" + std::to_string(n) + ") of a ring with " + std::to_string(peeked_) +
                                " peeked records");
  }
  if (n == 0) return;
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    detail::SlotHeader* s = slot_header(slot(head + i));
    s->pid.store(0, std::memory_order_relaxed);
    // release: the slot is free for the next lap once producers acquire this.
    s->seq.store(2 * (head + i + mask_ + 1), std::memory_order_release);
  }
  h_->head.store(head + n, std::memory_order_release);
  peeked_ -= n;
  notify(h_->not_full);
}

}  // namespace shanraq::queue
