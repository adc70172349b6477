// Lock-free rings of fixed-size records, between threads of one process or
// between processes through a named POSIX shared-memory segment.
//
//   SpscRing: one producer, one consumer. Producer and consumer each own one
//             index on its own cache line, but the consumer learns that a
//             record is there from the slot itself: each slot starts with an
//             8-byte sequence word, stored (release) after the record is
//             written, so a consumer never sees a half-written record, even
//             if the producer process dies mid-push. The consumer never reads
//             the producer's index on its hot path: that index line stays in
//             the producer's cache, and the only lines that cross between
//             the cores are the slots themselves.
//   MpscRing: many producers, one consumer. Producers claim positions with a
//             compare-exchange on the tail and publish each slot through its
//             own sequence number (Dmitry Vyukov's bounded queue), so a record
//             is visible only once fully written. A producer that dies between
//             claiming and publishing leaves its slots unpublished: the
//             consumer detects it (the claimer is stamped in the slot),
//             discards those slots and reports ProducerDied; the ring stays
//             usable.
//   MpmcRing: MpscRing's producers and slots (with a word more, naming the
//             consumer reading a slot), and any number of consumers, which
//             claim positions by a compare-exchange on the head.
//
// In process memory a ring's block comes from the heap; in shared memory from
// shm_open+mmap, where its header records magic, version, ring kind, record
// size, capacity and a dtype descriptor so that attach() with the wrong
// expectations fails with a clear LayoutMismatch rather than reading garbage.
// Processes are recorded by pid and start time, so a dead peer whose pid was
// handed to a new process is still seen as dead.
//
// Waiting: every blocking call spins briefly, then yields, then (kBlocking)
// sleeps on a 32-bit futex word in the block, which works across processes;
// close() sets a flag and wakes every sleeper, who then gets Closed.
//
// Wake-ups (the store-buffering handshake between a publisher and a sleeper):
// a sleeper announces itself, then looks at the ring once more, then sleeps;
// a publisher stores its index, then looks for an announcement. Each side
// needs a StoreLoad barrier between its store and its load or both can miss
// each other. Sleeping is rare and publishing is the hot path, so the barrier
// is made asymmetric: on Linux each process registers for membarrier(2)
// expedited barriers once, a publisher's store and load are separated only by
// a compiler barrier, and the sleeper, before its last look, runs
// membarrier(), which executes a full barrier on every CPU running a thread
// of a registered process. Without membarrier (other systems, a seccomp
// policy that forbids it) and in ThreadSanitizer builds (TSan cannot see a
// barrier executed by the kernel) every publication does an atomic
// read-modify-write on the announcement instead, which the C++ memory model
// orders by itself. See RingBase::notify() and wait_for() in
// cpp/src/queue/detail/waiting.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "shanraq/common/platform.hpp"

namespace shanraq::queue {

// How a blocking call waits once the ring is full (push) or empty (pop).
enum class WaitStrategy : std::uint8_t {
  kBusySpin = 0,  // cpu_relax, yielding every few thousand spins: lowest latency, burns a core
  kYield = 1,     // spin briefly, then sched_yield in a loop: burns a core, but lets others run
  kBlocking = 2,  // spin, yield, then futex sleep: an idle waiter burns no CPU (default)
};

enum class RingKind : std::uint32_t { kSpsc = 1, kMpsc = 2, kMpmc = 3 };

// How a handle orders each publication (a push's tail or slot, a pop's head)
// against a sleeper's announcement. Chosen per handle at construction.
enum class PublishOrdering : std::uint8_t {
  // An atomic read-modify-write on the announcement per publication: costs
  // a locked instruction (x86) or a load/store-exclusive pair (aarch64), and
  // on x86 waits for the published index to leave the store buffer.
  kReadModifyWrite = 0,
  // A compiler barrier and a plain load per publication; sleepers pay a
  // membarrier() system call instead (this process is registered for it).
  kMembarrier = 1,
};

// Wait counters of one direction of a ring (consumers waiting for records, or
// producers waiting for room), summed over every handle in every process.
struct WaitStats {
  // Futex sleeps entered (kBlocking waiters only).
  std::uint64_t sleeps = 0;
  // Sleeps that ended by their time slice although what they waited for had
  // arrived and no publisher had bumped the futex word: a missed wake-up, or
  // a publisher descheduled for the rest of the slice (50 ms) between its
  // store and its wake. Sleepers that could not order their announcement
  // against membarrier publishers (see PublishOrdering) sleep in 1 ms slices
  // instead and are not counted here.
  std::uint64_t unwoken_sleeps = 0;
};

// Every error the rings raise derives from QueueError.
class QueueError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// The ring was closed: push always, pop once it is empty.
class Closed : public QueueError {
 public:
  using QueueError::QueueError;
};
// The process on the other side is gone (no process has its pid, or the one
// that has it started later: the pid was reused).
class PeerDead : public QueueError {
 public:
  using QueueError::QueueError;
};
// A producer died between claiming an MPSC or MPMC slot and publishing it.
// The slot was discarded (the record is lost, never delivered torn, and
// counted in lost()); the ring is usable.
class ProducerDied : public PeerDead {
 public:
  using PeerDead::PeerDead;
};
// attach() found a segment whose layout differs from what was expected, or
// which is not a ring at all.
class LayoutMismatch : public QueueError {
 public:
  using QueueError::QueueError;
};
// create() found a live segment of that name.
class AlreadyExists : public QueueError {
 public:
  using QueueError::QueueError;
};
// An operating-system call failed (message carries errno's text).
class SystemError : public QueueError {
 public:
  using QueueError::QueueError;
};

inline constexpr std::size_t kMaxDtypeLen = 1023;
inline constexpr std::size_t kMaxRecordSize = 1u << 20;
inline constexpr std::uint64_t kMaxCapacity = 1ULL << 30;

// The shared-memory format (header, slot prefixes) is private to the
// implementation: cpp/src/queue/detail/layout.hpp.
namespace detail {

struct Header;
struct WaitWord;

// Owns the memory of one ring: heap block or mapped shared-memory segment.
class Region {
 public:
  Region() = default;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  Region(Region&& o) noexcept { *this = std::move(o); }
  Region& operator=(Region&& o) noexcept;
  ~Region() { release(); }

  static Region heap(std::size_t bytes);
  // Creates (O_EXCL) a segment; if one exists whose owner pid is dead, it is
  // unlinked and replaced when `replace_stale`, AlreadyExists otherwise.
  static Region create_shared(const std::string& name, std::size_t bytes, bool replace_stale);
  static Region attach_shared(const std::string& name);

  void* base() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }
  bool shared() const noexcept { return shared_; }
  bool owner() const noexcept { return owner_; }

 private:
  void release() noexcept;
  void* base_ = nullptr;
  std::size_t size_ = 0;
  std::string name_;
  bool shared_ = false;
  bool owner_ = false;
};

}  // namespace detail

// Records the consumer may read in place (SpscRing::peek, MpscRing::peek):
// `count` records, record i at `data + i * stride` (stride > record size:
// slots are 8-byte aligned and carry a sequence prefix, 8 bytes for SPSC and
// 16 for MPSC).
struct RecordSpan {
  const std::byte* data = nullptr;
  std::size_t count = 0;
  std::size_t stride = 0;
  const std::byte* operator[](std::size_t i) const noexcept { return data + i * stride; }
};

// Layout of a ring: what create() writes and what attach() may demand.
struct RingLayout {
  std::size_t record_size = 0;
  std::size_t capacity = 0;
  std::string dtype;  // free-form descriptor (numpy's dtype.descr as text from Python); may be empty
};

// Whether rings constructed from now on in this process may publish with
// PublishOrdering::kMembarrier (the default where the kernel supports
// membarrier and this is not a ThreadSanitizer build). Pass false to make new
// handles use kReadModifyWrite: for a baseline in benchmarks, or when a peer
// process that sleeps on these rings cannot run membarrier (a seccomp policy),
// so that it may sleep in full slices. Existing handles keep their ordering.
// Any thread.
void set_membarrier_publication(bool enabled) noexcept;

// Removes the named segment if its owner process no longer exists. Returns
// true if it removed one. Any thread.
bool cleanup_stale(const std::string& name);
// Removes the named segment unconditionally (shm_unlink). Returns false if it
// did not exist. Any thread.
bool unlink_segment(const std::string& name);
// Whether the named segment exists and its owner process is alive. Any thread.
bool segment_owner_alive(const std::string& name);

// Timeouts: a negative duration waits forever; zero does not wait.
inline constexpr std::chrono::nanoseconds kForever{-1};

// What every ring shares: the block, metadata, close and waiting. Not
// copyable; movable only while no other thread uses it.
class RingBase {
 public:
  RingBase(const RingBase&) = delete;
  RingBase& operator=(const RingBase&) = delete;
  RingBase(RingBase&&) noexcept = default;
  RingBase& operator=(RingBase&&) noexcept = default;
  ~RingBase() = default;

  std::size_t record_size() const noexcept { return record_size_; }
  std::size_t capacity() const noexcept { return mask_ + 1; }
  RingKind kind() const noexcept;
  std::string_view dtype() const noexcept;
  const std::string& name() const noexcept { return region_.name(); }
  bool shared() const noexcept { return region_.shared(); }
  bool owner() const noexcept { return region_.owner(); }
  // The creating process's pid (0 for a heap ring).
  int owner_pid() const noexcept;
  WaitStrategy wait_strategy() const noexcept { return wait_; }
  // Records discarded because their producer died before publishing them
  // (MPSC, MPMC: the slot it had claimed; SPSC: records of a batch it had
  // published all but the first of, which no consumer could reach), or,
  // MPMC, because the consumer that had taken them died before copying them
  // out. Any thread.
  std::uint64_t lost() const noexcept;
  PublishOrdering publish_ordering() const noexcept { return publish_; }
  // Ring-wide wait counters (all handles, all processes). Any thread.
  WaitStats consumer_wait_stats() const noexcept;
  WaitStats producer_wait_stats() const noexcept;
  // Handles (any process) announced as asleep, or about to sleep, waiting for
  // records (consumers) or for room (producers). A snapshot. Any thread.
  std::uint32_t sleeping_consumers() const noexcept;
  std::uint32_t sleeping_producers() const noexcept;

  // This handle's current adaptive spin budget before yielding or sleeping,
  // for waits for records (consumer) or for room (producer): between 1 and
  // 30 us for kYield and kBlocking (see detail/spin_budget.hpp), always
  // 30 us for kBusySpin. For tests and tuning. Any thread.
  std::chrono::nanoseconds spin_budget(bool consumer) const noexcept;

  // Records in the ring (claimed, for MPSC and MPMC), a snapshot that may be
  // stale by the time it returns. Any thread.
  std::size_t size() const noexcept;
  bool closed() const noexcept;
  // Any thread, any process, idempotent: later pushes throw Closed; pops
  // drain what is left, then throw Closed; every sleeper is woken.
  void close() noexcept;

  // Bytes of the block holding a ring of this shape (header + slots).
  static std::size_t block_size(RingKind kind, std::size_t record_size, std::size_t capacity);

 protected:
  RingBase(detail::Region region, RingKind kind, const RingLayout& layout, WaitStrategy wait, bool init);
  static void validate(const RingLayout& layout);
  // The memory of a ring of `kind`, for every ring's constructors and
  // create/attach: a new heap block or named segment for a validated
  // layout (std::invalid_argument otherwise), or an existing segment whose
  // header matches `kind` and `expect` (LayoutMismatch otherwise).
  static detail::Region new_heap_block(RingKind kind, const RingLayout& layout);
  static detail::Region new_shared_block(RingKind kind, const std::string& name, const RingLayout& layout,
                                         bool replace_stale);
  static detail::Region attached_block(RingKind kind, const std::string& name, const RingLayout& expect);

  std::byte* slot(std::uint64_t pos) const noexcept { return slots_ + (pos & mask_) * stride_; }
  // slot() for loops over many slots: a copy of the geometry the compiler can
  // keep in registers (stores through std::byte pointers may alias this
  // object, so slot() would reload the members for every record).
  struct Slots {
    std::byte* base;
    std::uint64_t mask;
    std::size_t stride;
    std::byte* operator()(std::uint64_t pos) const noexcept { return base + (pos & mask) * stride; }
  };
  Slots slots() const noexcept { return {slots_, mask_, stride_}; }
  // The rest is defined in cpp/src/queue (detail/waiting.hpp, ring_base.cpp).
  // After publishing or freeing slots: wake the other side if it sleeps.
  // Pairs with the announcement in wait_for(); see PublishOrdering.
  void notify(detail::WaitWord& w) noexcept;
  // Sleeper side of the handshake, after announcing in `w`: makes the
  // announcement and our next look at the ring ordered against every
  // publisher. False if that cannot be guaranteed for a membarrier publisher
  // (the caller then sleeps in short slices).
  bool order_announcement() noexcept;
  void wake(detail::WaitWord& w) noexcept;
  // Waits until ready() is true or the deadline passes (returns false),
  // calling on_idle() now and then (it throws to end the wait: PeerDead).
  template <typename Ready, typename OnIdle>
  bool wait_for(detail::WaitWord& w, std::chrono::nanoseconds timeout, Ready ready, OnIdle on_idle);
  // push_many's blocking loop, shared by every ring.
  template <typename TryMany, typename OnIdle>
  std::size_t push_many_blocking(std::size_t n, std::chrono::nanoseconds timeout, TryMany try_many, OnIdle on_idle);
  // pop_many's and timed peek's blocking loop, shared by every ring.
  template <typename Take, typename ProducerGone>
  auto take_blocking(std::size_t max_n, std::chrono::nanoseconds timeout, Take take, ProducerGone producer_gone)
      -> decltype(take());
  void stamp_producer() noexcept;
  void stamp_consumer() noexcept;
  // Whether the process last recorded as the ring's producer (consumer) is
  // gone; false if none was recorded or it is this one.
  bool recorded_producer_gone() const noexcept;
  bool recorded_consumer_gone() const noexcept;
  // PeerDead for a producer whose consumer process is gone, or a consumer of
  // an empty ring whose producer process is gone (pid in the message).
  [[noreturn]] void throw_consumer_gone() const;
  [[noreturn]] void throw_producer_gone() const;

  detail::Region region_;
  detail::Header* h_ = nullptr;
  std::byte* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  std::size_t record_size_ = 0;
  std::size_t stride_ = 0;
  // Slots ahead of the tail whose line a producer prefetches for writing (0:
  // none, in rings too small for it to help).
  std::size_t prefetch_ahead_ = 0;
  WaitStrategy wait_ = WaitStrategy::kBlocking;
  PublishOrdering publish_ = PublishOrdering::kReadModifyWrite;
  // This process as recorded in the ring (detail::ProcessTag: pid and start
  // time).
  std::uint64_t my_tag_ = 0;
  // Adaptive spin budgets in ns, [0] waiting for records, [1] for room.
  // Accessed through std::atomic_ref, relaxed.
  alignas(4) std::uint32_t spin_budget_ns_[2] = {30'000, 30'000};
  // Per-handle state, producer's and consumer's on separate lines: the
  // producer's copy of head (rigtorp's cached index: a push reads the
  // consumer's head line only when the ring looks full). Consumers need no
  // copy of the tail: they look at the slots' sequence words.
  alignas(kCacheLine) std::uint64_t head_cache_ = 0;
  bool producer_stamped_ = false;
  alignas(kCacheLine) bool consumer_stamped_ = false;
  // Records the last peek() returned and release() has not yet consumed.
  std::size_t peeked_ = 0;
};

// One producer thread (or process) and one consumer thread (or process) at a
// time. Records are `record_size` bytes, copied in and out with memcpy.
class SpscRing : public RingBase {
 public:
  // In-process ring. std::invalid_argument unless capacity is a power of two
  // in [1, 2^30] and record_size in [1, 1 MiB].
  SpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait = WaitStrategy::kBlocking);
  // Creates the named shared-memory segment; this handle owns it and unlinks
  // it on destruction. Name as for shm_open ("/name"; a leading '/' is added).
  static SpscRing create(const std::string& name, const RingLayout& layout, WaitStrategy wait = WaitStrategy::kBlocking,
                         bool replace_stale = true);
  // Attaches to an existing segment. LayoutMismatch if it is not an SPSC ring
  // or differs from a non-zero/non-empty field of `expect`.
  static SpscRing attach(const std::string& name, const RingLayout& expect = {},
                         WaitStrategy wait = WaitStrategy::kBlocking);

  // Producer side. Returns false if full; Closed once closed. A handle's
  // first push takes over from the previous producer (which must be gone):
  // if that one died mid-push, records it published but no consumer could
  // reach (a batch whose first record it never published) are discarded and
  // counted in lost(), never delivered after this producer's.
  bool try_push(const void* record);
  // Producer side; false on timeout. Closed, PeerDead (the consumer's
  // process died while we wait for room).
  bool push(const void* record, std::chrono::nanoseconds timeout = kForever);
  // Producer side: pushes up to n contiguous records without waiting;
  // returns how many.
  std::size_t try_push_many(const void* records, std::size_t n);
  // Producer side: pushes all n, waiting for room; returns how many were
  // pushed before the timeout.
  std::size_t push_many(const void* records, std::size_t n, std::chrono::nanoseconds timeout = kForever);

  // Consumer side. False if empty; Closed once closed and drained.
  bool try_pop(void* out);
  // Consumer side; false on timeout. Closed; PeerDead once the ring is empty
  // and its producer's process is gone.
  bool pop(void* out, std::chrono::nanoseconds timeout = kForever);
  // Consumer side: pops up to max_n into out without waiting.
  std::size_t try_pop_many(void* out, std::size_t max_n);
  // Consumer side: waits for at least one record (or the timeout: returns
  // 0), then pops up to max_n.
  std::size_t pop_many(void* out, std::size_t max_n, std::chrono::nanoseconds timeout = kForever);

  // Consumer side, zero-copy: the oldest records, read in place in the ring's
  // slots, without consuming them. At most max_n records, and fewer where
  // the ring wraps (one contiguous run of slots); count 0 if empty. The
  // slots stay the consumer's until release(): producers cannot reuse them,
  // so the records cannot change. Another peek() before release() returns
  // the same records (and maybe more). Closed once closed and drained, like
  // try_pop. Consumer thread only; valid until release() or the ring's
  // destruction.
  RecordSpan peek(std::size_t max_n);
  // Consumer side: waits like pop_many for at least one record (count 0 on
  // timeout), then returns peek(max_n).
  RecordSpan peek(std::size_t max_n, std::chrono::nanoseconds timeout);
  // Consumer side: consumes the first n records of the last peek() (n may
  // be smaller than its count), handing their slots back to producers.
  // std::invalid_argument if n exceeds the records peeked and not yet
  // released (nothing is released then).
  void release(std::size_t n);

 private:
  SpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init);
  std::size_t ready_from(std::uint64_t head, std::size_t limit) const noexcept;
  void adopt_tail() noexcept;
};

namespace detail {

// What MpscRing and MpmcRing share: producers claim positions with a
// compare-exchange on the tail, stamp their process in each claimed slot and
// publish each slot through its sequence word; consumers discard the slots
// of a claimer that died before publishing. Not for direct use. The member
// templates are defined in cpp/src/queue/detail/multi_producer.hpp, for
// `Slot` MpscSlot or MpmcSlot.
class MultiProducerRing : public RingBase {
 protected:
  using RingBase::RingBase;
  template <typename Slot>
  bool push_one(const void* record);
  // Claims up to n positions at once and publishes them; free(pos, n) says
  // how many slots from pos on are free for their lap.
  template <typename Slot, typename Free>
  std::size_t push_run(const void* records, std::size_t n, Free free);
  // Consumer: the slot at `pos` is claimed but unpublished. If its claimer
  // has died, discards it (lost() + 1) and throws ProducerDied; the head is
  // moved past it by a store (one consumer) or a compare-exchange (many).
  template <typename Slot, bool kSharedHead>
  void check_stalled_slot(std::uint64_t pos);

 private:
  // check_stalled_slot's state, accessed through std::atomic_ref (MPMC
  // consumer threads may share a handle): steady_clock nanoseconds.
  alignas(8) std::int64_t stall_since_ns_ = 0;
  alignas(8) std::int64_t stall_checked_ns_ = 0;
  alignas(8) std::uint64_t stall_pos_ = ~0ULL;
};

}  // namespace detail

// Any number of producer threads and processes, one consumer at a time.
class MpscRing : public detail::MultiProducerRing {
 public:
  MpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait = WaitStrategy::kBlocking);
  static MpscRing create(const std::string& name, const RingLayout& layout, WaitStrategy wait = WaitStrategy::kBlocking,
                         bool replace_stale = true);
  static MpscRing attach(const std::string& name, const RingLayout& expect = {},
                         WaitStrategy wait = WaitStrategy::kBlocking);

  // Any producer thread/process. Same contracts as SpscRing's.
  bool try_push(const void* record);
  bool push(const void* record, std::chrono::nanoseconds timeout = kForever);
  std::size_t try_push_many(const void* records, std::size_t n);
  std::size_t push_many(const void* records, std::size_t n, std::chrono::nanoseconds timeout = kForever);

  // The one consumer. Also throws ProducerDied (after discarding the slot)
  // when the next slot was claimed by a process that no longer exists, or
  // has stayed claimed but unpublished for 5 s without a claimer.
  bool try_pop(void* out);
  bool pop(void* out, std::chrono::nanoseconds timeout = kForever);
  std::size_t try_pop_many(void* out, std::size_t max_n);
  std::size_t pop_many(void* out, std::size_t max_n, std::chrono::nanoseconds timeout = kForever);
  // Zero-copy consumption, as SpscRing's. A claimed but unpublished slot
  // ends the run (check for a dead claimer happens in try_pop/pop).
  RecordSpan peek(std::size_t max_n);
  RecordSpan peek(std::size_t max_n, std::chrono::nanoseconds timeout);
  void release(std::size_t n);

 private:
  MpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init);
};

// Any number of producers and consumers (threads or processes): MpscRing's
// producers, with consumers claiming positions by a compare-exchange on the
// head (Vyukov's bounded MPMC queue). Each record goes to exactly one
// consumer; records reach consumers in push order per producer, but two
// consumers may finish handling them in either order. No peek/release (a run
// cannot be shared between consumers). Crashes: a producer that dies
// mid-push is handled as in MpscRing (ProducerDied to one consumer, lost()
// + 1 per slot); a consumer that dies between claiming a slot and freeing it
// leaves that slot full: the producer that needs it frees it once it sees
// the claimer gone (that record is lost, lost() + 1). One consumer's death
// is never reported as PeerDead (others may drain).
class MpmcRing : public detail::MultiProducerRing {
 public:
  MpmcRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait = WaitStrategy::kBlocking);
  static MpmcRing create(const std::string& name, const RingLayout& layout, WaitStrategy wait = WaitStrategy::kBlocking,
                         bool replace_stale = true);
  static MpmcRing attach(const std::string& name, const RingLayout& expect = {},
                         WaitStrategy wait = WaitStrategy::kBlocking);

  // Any producer thread/process. Same contracts as MpscRing's; push and
  // push_many also free a slot a dead consumer left taken (see above).
  bool try_push(const void* record);
  bool push(const void* record, std::chrono::nanoseconds timeout = kForever);
  std::size_t try_push_many(const void* records, std::size_t n);
  std::size_t push_many(const void* records, std::size_t n, std::chrono::nanoseconds timeout = kForever);

  // Any consumer thread/process. Same contracts as MpscRing's.
  bool try_pop(void* out);
  bool pop(void* out, std::chrono::nanoseconds timeout = kForever);
  std::size_t try_pop_many(void* out, std::size_t max_n);
  std::size_t pop_many(void* out, std::size_t max_n, std::chrono::nanoseconds timeout = kForever);

 private:
  MpmcRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init);
  // Producer waiting for room: frees the slot it needs if the consumer that
  // claimed it for reading died before freeing it (counted in lost()).
  void reclaim_stuck_slot() noexcept;
};

}  // namespace shanraq::queue
