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
//             the cores are the slots themselves (see docs/perf_queue.md: 4x
//             the single-record rate of a shared-index ring on small records).
//   MpscRing: many producers, one consumer. Producers claim positions with a
//             compare-exchange on the tail and publish each slot through its
//             own sequence number (Dmitry Vyukov's bounded queue), so a record
//             is visible only once fully written. A producer that dies between
//             claiming and publishing leaves one slot unpublished: the
//             consumer detects it (the claimer's pid is stamped in the slot),
//             discards that slot and reports ProducerDied; the ring stays
//             usable.
//   MpmcRing: MpscRing's slots and producers, with any number of consumers,
//             which claim positions by a compare-exchange on the head.
//
// The same layout serves both uses: a Header (metadata, then each index and
// each wait word on its own 128-byte line), then `capacity` slots. In process
// memory the block comes from the heap; in shared memory from shm_open+mmap,
// where the Header records magic, version, ring kind, record size, capacity
// and a dtype descriptor so that attach() with the wrong expectations fails
// with a clear LayoutMismatch rather than reading garbage.
//
// Waiting: every blocking call spins briefly, then yields, then (kBlocking)
// sleeps on a 32-bit futex word in the block, which works across processes;
// close() sets a flag and wakes every sleeper, who then gets Closed.
//
// Wake-ups (the store-buffering handshake between a publisher and a sleeper):
// a sleeper announces itself in its WaitWord, then looks at the ring once
// more, then sleeps; a publisher stores its index, then looks for an
// announcement. Each side needs a StoreLoad barrier between its store and its
// load or both can miss each other. Sleeping is rare and publishing is the hot
// path, so the barrier is made asymmetric: on Linux each process registers
// for membarrier(2) expedited barriers once, a publisher's store and load are
// separated only by a compiler barrier, and the sleeper, before its last
// look, runs membarrier(), which executes a full barrier on every CPU running
// a thread of a registered process. Without membarrier (other systems, a
// seccomp policy that forbids it) and in ThreadSanitizer builds (TSan cannot
// see a barrier executed by the kernel) every publication does an atomic
// read-modify-write on the announcement instead, which the C++ memory model
// orders by itself. See RingBase::notify() and wait_for() in ring.cpp.
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
  // arrived and no publisher had bumped the futex word: a missed wake-up.
  // Zero unless a publisher was descheduled for a whole slice (50 ms)
  // between its store and its wake. Sleepers that could not order their
  // announcement against membarrier publishers (see PublishOrdering) sleep
  // in 1 ms slices instead and are not counted here.
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
// The process on the other side is gone (its pid no longer exists).
class PeerDead : public QueueError {
 public:
  using QueueError::QueueError;
};
// A producer died between claiming an MPSC slot and publishing it. The slot
// was discarded (the record is lost, never delivered torn); the ring is usable.
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

inline constexpr std::uint64_t kMagic = 0x5348414E52414B51ULL;  // "SHANRAKQ"
// 2: wake-up handshake with asymmetric barriers (Header::light_handles); a
// version-1 peer would sleep without the barrier a light publisher relies on.
// 3: SPSC slots start with a sequence word (detail::SpscSlotHeader).
inline constexpr std::uint32_t kLayoutVersion = 3;
inline constexpr std::size_t kMaxDtypeLen = 1023;
inline constexpr std::size_t kMaxRecordSize = 1u << 20;
inline constexpr std::uint64_t kMaxCapacity = 1ULL << 30;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "rings in shared memory need address-free atomics");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "futex words must be plain lock-free 32-bit atomics");
static_assert(sizeof(std::atomic<std::uint32_t>) == 4, "a futex word is exactly 32 bits");

namespace detail {

// Wait state for one direction (consumers waiting for data, or producers
// waiting for room): a futex word bumped on every wake, and a count of
// announced sleepers so the fast path skips the syscall when nobody sleeps.
// The line is written only when someone goes to sleep or is woken, so in
// steady flow every publisher's look at `sleepers` hits its own cache.
struct alignas(kCacheLine) WaitWord {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> sleepers{0};
  // WaitStats, bumped by sleepers only (the line is theirs on that path).
  std::atomic<std::uint64_t> sleeps{0};
  std::atomic<std::uint64_t> unwoken_sleeps{0};
};

// The start of every ring block. Field order is part of the shared-memory
// format (kLayoutVersion); only append, and bump the version when it changes.
struct alignas(kCacheLine) Header {
  // Written once by the creator before `magic` is released; read-only after.
  std::atomic<std::uint64_t> magic;
  std::uint32_t version;
  std::uint32_t kind;
  std::uint64_t record_size;
  std::uint64_t capacity;
  std::uint64_t slot_stride;
  std::uint64_t total_size;
  std::int32_t owner_pid;
  std::uint32_t dtype_len;
  char dtype[kMaxDtypeLen + 1];

  // Read-mostly: checked on every push, written once by close().
  alignas(kCacheLine) std::atomic<std::uint32_t> closed;
  // Last process to push (SPSC) and to pop, for dead-peer detection.
  std::atomic<std::int32_t> producer_pid;
  std::atomic<std::int32_t> consumer_pid;
  // Records an MPSC consumer discarded because their producer died mid-push.
  std::atomic<std::uint64_t> lost;
  // Handles that ever publish with only a compiler barrier (PublishOrdering::
  // kMembarrier). A sleeper that cannot run membarrier() itself reads this
  // with a read-modify-write: zero proves that no such publisher can miss
  // its announcement (see wait_for() in ring.cpp); otherwise it sleeps in
  // short slices. Only incremented: a stale count errs on the safe side.
  std::atomic<std::uint32_t> light_handles;

  // Written by producers only.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;
  // Written by the consumer only.
  alignas(kCacheLine) std::atomic<std::uint64_t> head;

  WaitWord not_empty;  // consumers sleep here
  WaitWord not_full;   // producers sleep here
};

static_assert(offsetof(Header, tail) % kCacheLine == 0 && offsetof(Header, head) % kCacheLine == 0);
static_assert(offsetof(Header, head) - offsetof(Header, tail) >= kCacheLine, "indices must not share a line");
static_assert(sizeof(Header) % kCacheLine == 0);

// MPSC/MPMC slot prefix: the slot's sequence number (Vyukov's, doubled: 2p
// means "free for position p", 2p+1 "holds position p's record", so even
// capacity 1 is unambiguous), the pid of the producer that claimed it, and
// (MPMC) the pid of the consumer that claimed it for reading, 0 otherwise.
struct SlotHeader {
  std::atomic<std::uint64_t> seq;
  std::atomic<std::int32_t> pid;
  std::atomic<std::int32_t> reader_pid;
};
static_assert(sizeof(SlotHeader) == 16);

// SPSC slot prefix: position p's record is in the slot once seq == p + 1 (a
// slot is reused every lap, so a stale seq never equals the awaited one).
// Written by the producer only; the consumer never writes the slot.
struct SpscSlotHeader {
  std::atomic<std::uint64_t> seq;
};
static_assert(sizeof(SpscSlotHeader) == 8);

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
// Whether the named segment exists and its owner pid is alive. Any thread.
bool segment_owner_alive(const std::string& name);

// What the two rings share: the block, metadata, close and waiting. Not
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
  RingKind kind() const noexcept { return static_cast<RingKind>(h_->kind); }
  std::string_view dtype() const noexcept { return {h_->dtype, h_->dtype_len}; }
  const std::string& name() const noexcept { return region_.name(); }
  bool shared() const noexcept { return region_.shared(); }
  bool owner() const noexcept { return region_.owner(); }
  int owner_pid() const noexcept { return h_->owner_pid; }
  WaitStrategy wait_strategy() const noexcept { return wait_; }
  // Records discarded because an MPSC producer died mid-push.
  std::uint64_t lost() const noexcept { return h_->lost.load(std::memory_order_relaxed); }
  PublishOrdering publish_ordering() const noexcept { return publish_; }
  // Ring-wide wait counters (all handles, all processes). Any thread.
  WaitStats consumer_wait_stats() const noexcept { return stats_of(h_->not_empty); }
  WaitStats producer_wait_stats() const noexcept { return stats_of(h_->not_full); }
  // Handles (any process) announced as asleep, or about to sleep, waiting for
  // records (consumers) or for room (producers). A snapshot. Any thread.
  std::uint32_t sleeping_consumers() const noexcept { return h_->not_empty.sleepers.load(std::memory_order_relaxed); }
  std::uint32_t sleeping_producers() const noexcept { return h_->not_full.sleepers.load(std::memory_order_relaxed); }

  // This handle's current adaptive spin budget before yielding or sleeping,
  // for waits for records (consumer) or for room (producer): between 1 and
  // 30 us for kYield and kBlocking (see ring.cpp), always 30 us for
  // kBusySpin. For tests and tuning. Any thread.
  std::chrono::nanoseconds spin_budget(bool consumer) const noexcept;

  // Records in the ring (claimed, for MPSC), a snapshot that may be stale by
  // the time it returns. Any thread.
  std::size_t size() const noexcept;
  bool closed() const noexcept { return h_->closed.load(std::memory_order_acquire) != 0; }
  // Any thread, any process, idempotent: later pushes throw Closed; pops
  // drain what is left, then throw Closed; every sleeper is woken.
  void close() noexcept;

  // Bytes of the block holding a ring of this shape (header + slots).
  static std::size_t block_size(RingKind kind, std::size_t record_size, std::size_t capacity);

 protected:
  RingBase(detail::Region region, RingKind kind, const RingLayout& layout, WaitStrategy wait, bool init);
  static void validate(RingKind kind, const RingLayout& layout);
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
  // After publishing or freeing slots: wake the other side if it sleeps.
  // Pairs with the announcement in wait_for(); see PublishOrdering.
  void notify(detail::WaitWord& w) noexcept;
  // Sleeper side of the handshake, after announcing in `w`: makes the
  // announcement and our next look at the ring ordered against every
  // publisher. False if that cannot be guaranteed for a membarrier publisher
  // (the caller then sleeps in short slices).
  bool order_announcement() noexcept;
  void wake(detail::WaitWord& w) noexcept;
  static WaitStats stats_of(const detail::WaitWord& w) noexcept {
    return {w.sleeps.load(std::memory_order_relaxed), w.unwoken_sleeps.load(std::memory_order_relaxed)};
  }
  // Waits until ready() is true or the deadline passes (returns false).
  // Throws Closed if closed_is_fatal() says so once closed, PeerDead if
  // peer_dead() reports the other side gone.
  template <typename Ready, typename OnIdle>
  bool wait_for(detail::WaitWord& w, std::chrono::nanoseconds timeout, Ready ready, OnIdle on_idle);
  // push_many's blocking loop, shared by both rings (see ring.cpp).
  template <typename TryMany, typename OnIdle>
  std::size_t push_many_blocking(std::size_t n, std::chrono::nanoseconds timeout, TryMany try_many, OnIdle on_idle);
  // pop_many's and timed peek's blocking loop, shared by both rings.
  template <typename Take, typename ProducerGone>
  auto take_blocking(std::size_t max_n, std::chrono::nanoseconds timeout, Take take, ProducerGone producer_gone)
      -> decltype(take());
  void stamp_producer() noexcept;
  void stamp_consumer() noexcept;
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
  std::int32_t my_pid_ = 0;
  // Adaptive spin budgets in ns, [0] waiting for records, [1] for room (see
  // kSpinMax in ring.cpp). Accessed through std::atomic_ref, relaxed.
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

// Inline: it is on every push and pop.
inline void RingBase::notify(detail::WaitWord& w) noexcept {
  // The publisher's half of the store-buffering handshake: our index store
  // (already done) must be ordered before this look at `sleepers`, and the
  // sleeper's announcement before its last look at our index.
  if (publish_ == PublishOrdering::kMembarrier) {
    // Only the compiler is kept from moving the load above the store. The
    // CPU may still hold the store in its store buffer past the load, but a
    // sleeper runs membarrier() between announcing and looking: that puts a
    // full barrier into this thread's instruction stream wherever it is, so
    // either our load comes after it and sees the announcement, or our store
    // was made visible by it and the sleeper's look sees the record. The
    // load hits our own cache: the line changes only when someone sleeps.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (SHANRAQ_UNLIKELY(w.sleepers.load(std::memory_order_relaxed) != 0)) wake(w);
    return;
  }
  // A read-modify-write, not a plain load: RMWs on `sleepers` are totally
  // ordered, so either this one reads a sleeper's increment (and we wake
  // it), or the sleeper's increment reads from this release RMW and its
  // next look at the ring sees what we just published. No fence needed,
  // and ThreadSanitizer understands it.
  if (w.sleepers.fetch_add(0, std::memory_order_acq_rel) != 0) wake(w);
}

// Timeouts: a negative duration waits forever; zero does not wait.
inline constexpr std::chrono::nanoseconds kForever{-1};

// One producer thread (or process) and one consumer thread (or process) at a
// time. Records are `record_size` bytes, copied in and out with memcpy.
class SpscRing : public RingBase {
 public:
  // In-process ring. std::invalid_argument unless capacity is a power of two
  // in [1, 2^30] and record_size in [1, 1 MiB].
  SpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait = WaitStrategy::kBlocking);
  // Creates the named shared-memory segment; this handle owns it and unlinks
  // it on destruction. Name as for shm_open ("/name"; a leading '/' is added).
  static SpscRing create(const std::string& name, const RingLayout& layout,
                         WaitStrategy wait = WaitStrategy::kBlocking, bool replace_stale = true);
  // Attaches to an existing segment. LayoutMismatch if it is not an SPSC ring
  // or differs from a non-zero/non-empty field of `expect`.
  static SpscRing attach(const std::string& name, const RingLayout& expect = {},
                         WaitStrategy wait = WaitStrategy::kBlocking);

  // Producer side. Returns false if full; Closed once closed.
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
  bool producer_peer_dead() const noexcept;
  bool consumer_peer_dead() const noexcept;
};

// Any number of producer threads and processes, one consumer at a time.
class MpscRing : public RingBase {
 public:
  MpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait = WaitStrategy::kBlocking);
  static MpscRing create(const std::string& name, const RingLayout& layout,
                         WaitStrategy wait = WaitStrategy::kBlocking, bool replace_stale = true);
  static MpscRing attach(const std::string& name, const RingLayout& expect = {},
                         WaitStrategy wait = WaitStrategy::kBlocking);

  // Any producer thread/process. Same contracts as SpscRing's.
  bool try_push(const void* record);
  bool push(const void* record, std::chrono::nanoseconds timeout = kForever);
  std::size_t try_push_many(const void* records, std::size_t n);
  std::size_t push_many(const void* records, std::size_t n, std::chrono::nanoseconds timeout = kForever);

  // The one consumer. Also throws ProducerDied (after discarding the slot)
  // when the next slot was claimed by a process that no longer exists, or
  // has stayed claimed but unpublished for `stall_limit` without a pid.
  bool try_pop(void* out);
  bool pop(void* out, std::chrono::nanoseconds timeout = kForever);
  std::size_t try_pop_many(void* out, std::size_t max_n);
  std::size_t pop_many(void* out, std::size_t max_n, std::chrono::nanoseconds timeout = kForever);
  // Zero-copy consumption, as SpscRing's. A claimed but unpublished slot
  // ends the run (check for a dead claimer happens in try_pop/pop).
  // std::logic_error on an MpmcRing (several consumers cannot share a run).
  RecordSpan peek(std::size_t max_n);
  RecordSpan peek(std::size_t max_n, std::chrono::nanoseconds timeout);
  void release(std::size_t n);

  // True for a ring created or attached as an MpmcRing (also after the
  // MpmcRing is moved into an MpscRing object, which the bindings do).
  bool multi_consumer() const noexcept { return multi_consumer_; }

 protected:
  MpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init,
           RingKind kind = RingKind::kMpsc);

 private:
  // Consumer: the slot at `pos` is claimed but unpublished; throws
  // ProducerDied (after discarding it) if its claimer is dead.
  void check_stalled_slot(std::uint64_t pos);
  bool consumer_peer_dead() const noexcept;
  // MPMC consumers: claim positions with a compare-exchange on the head.
  bool try_pop_shared(void* out);
  std::size_t try_pop_many_shared(void* out, std::size_t max_n);
  // MPMC producer waiting for room: frees the slot it needs if the consumer
  // that claimed it for reading died before freeing it (counted in lost()).
  void reclaim_stuck_slot() noexcept;
  bool multi_consumer_ = false;
  // check_stalled_slot's state, accessed through std::atomic_ref (MPMC
  // consumer threads may share a handle): steady_clock nanoseconds.
  alignas(8) std::int64_t stall_since_ns_ = 0;
  alignas(8) std::int64_t stall_checked_ns_ = 0;
  alignas(8) std::uint64_t stall_pos_ = ~0ULL;
};

// Any number of producers and consumers (threads or processes): MpscRing's
// slots and producers, with consumers claiming positions by a
// compare-exchange on the head (Vyukov's bounded MPMC queue). Each record
// goes to exactly one consumer; records reach consumers in push order per
// producer, but two consumers may finish handling them in either order.
// No peek/release (a run cannot be shared between consumers). Crashes: a
// producer that dies mid-push is handled as in MpscRing (ProducerDied to
// one consumer, lost() + 1); a consumer that dies between claiming a slot
// and freeing it leaves that slot full: the producer that needs it frees it
// once it sees the claimer's pid gone (that record is lost, lost() + 1).
// One consumer's death is never reported as PeerDead (others may drain).
class MpmcRing : public MpscRing {
 public:
  MpmcRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait = WaitStrategy::kBlocking);
  static MpmcRing create(const std::string& name, const RingLayout& layout,
                         WaitStrategy wait = WaitStrategy::kBlocking, bool replace_stale = true);
  static MpmcRing attach(const std::string& name, const RingLayout& expect = {},
                         WaitStrategy wait = WaitStrategy::kBlocking);
  RecordSpan peek(std::size_t) = delete;
  RecordSpan peek(std::size_t, std::chrono::nanoseconds) = delete;
  void release(std::size_t) = delete;

 private:
  MpmcRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init);
};

}  // namespace shanraq::queue
