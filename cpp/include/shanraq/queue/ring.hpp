// Lock-free rings of fixed-size records, between threads of one process or
// between processes through a named POSIX shared-memory segment.
//
//   SpscRing: one producer, one consumer. Producer and consumer each own one
//             index on its own cache line; a record is published by the
//             release store of the tail after it is written, so a consumer
//             never sees a half-written record, even if the producer process
//             dies mid-push.
//   MpscRing: many producers, one consumer. Producers claim positions with a
//             compare-exchange on the tail and publish each slot through its
//             own sequence number (Dmitry Vyukov's bounded queue), so a record
//             is visible only once fully written. A producer that dies between
//             claiming and publishing leaves one slot unpublished: the
//             consumer detects it (the claimer's pid is stamped in the slot),
//             discards that slot and reports ProducerDied; the ring stays
//             usable.
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

enum class RingKind : std::uint32_t { kSpsc = 1, kMpsc = 2 };

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
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kMaxDtypeLen = 1023;
inline constexpr std::size_t kMaxRecordSize = 1u << 20;
inline constexpr std::uint64_t kMaxCapacity = 1ULL << 30;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "rings in shared memory need address-free atomics");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "futex words must be plain lock-free 32-bit atomics");
static_assert(sizeof(std::atomic<std::uint32_t>) == 4, "a futex word is exactly 32 bits");

namespace detail {

// Wait state for one direction (consumers waiting for data, or producers
// waiting for room): a futex word bumped on every wake, and a count of
// sleepers so the fast path skips the syscall when nobody sleeps.
struct alignas(kCacheLine) WaitWord {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint32_t> sleepers{0};
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

// MPSC slot prefix: the slot's sequence number (Vyukov's, doubled: 2p means
// "free for position p", 2p+1 "holds position p's record", so even capacity 1
// is unambiguous) and the pid of the producer that claimed it.
struct SlotHeader {
  std::atomic<std::uint64_t> seq;
  std::atomic<std::int32_t> pid;
  std::uint32_t pad;
};
static_assert(sizeof(SlotHeader) == 16);

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

// Layout of a ring: what create() writes and what attach() may demand.
struct RingLayout {
  std::size_t record_size = 0;
  std::size_t capacity = 0;
  std::string dtype;  // free-form descriptor (numpy's dtype.descr as text from Python); may be empty
};

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

  std::byte* slot(std::uint64_t pos) const noexcept { return slots_ + (pos & mask_) * stride_; }
  // After publishing or freeing slots: wake the other side if it sleeps.
  // The seq_cst fence pairs with the one in wait_for (store-buffering).
  void notify(detail::WaitWord& w) noexcept;
  // Waits until ready() is true or the deadline passes (returns false).
  // Throws Closed if closed_is_fatal() says so once closed, PeerDead if
  // peer_dead() reports the other side gone.
  template <typename Ready, typename OnIdle>
  bool wait_for(detail::WaitWord& w, std::chrono::nanoseconds timeout, Ready ready, OnIdle on_idle);
  void stamp_producer() noexcept;
  void stamp_consumer() noexcept;

  detail::Region region_;
  detail::Header* h_ = nullptr;
  std::byte* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  std::size_t record_size_ = 0;
  std::size_t stride_ = 0;
  WaitStrategy wait_ = WaitStrategy::kBlocking;
  std::int32_t my_pid_ = 0;
  // Per-handle caches on their own lines: the producer's copy of head and the
  // consumer's copy of tail (rigtorp's cached indices), so the common case
  // touches no line the other side writes.
  alignas(kCacheLine) std::uint64_t head_cache_ = 0;
  bool producer_stamped_ = false;
  alignas(kCacheLine) std::uint64_t tail_cache_ = 0;
  bool consumer_stamped_ = false;
};

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

 private:
  SpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init);
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

 private:
  MpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init);
  // Consumer: the slot at `pos` is claimed but unpublished; throws
  // ProducerDied (after discarding it) if its claimer is dead.
  void check_stalled_slot(std::uint64_t pos);
  bool consumer_peer_dead() const noexcept;
  std::chrono::steady_clock::time_point stall_since_{};
  std::chrono::steady_clock::time_point stall_checked_{};
  std::uint64_t stall_pos_ = ~0ULL;
};

}  // namespace shanraq::queue
