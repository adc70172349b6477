// The shared-memory format of a ring: what a segment holds, word by word.
// Private to the ring's implementation (and to tests that build crashed
// states by hand); users see only shanraq/queue/ring.hpp.
//
// A block is a Header (metadata, then each index and each wait word on its
// own 128-byte line) followed by `capacity` slots of `slot_stride` bytes. Each
// slot starts with a prefix of 8-byte words (SpscSlot, MpscSlot, MpmcSlot),
// then the record; strides are multiples of 8 so every word is an aligned
// atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

#include "shanraq/common/platform.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue::detail {

inline constexpr std::uint64_t kMagic = 0x5348414E52414B51ULL;  // "SHANRAKQ"
// 2: wake-up handshake with asymmetric barriers (Header::light_handles); a
// version-1 peer would sleep without the barrier a light publisher relies on.
// 3: SPSC slots start with a sequence word (SpscSlot).
// 4: processes are named by ProcessTag (pid and start time) instead of a pid;
// SPSC batches record their end (Header::batch_end); MPMC slots carry their
// reader in a word of their own (MpmcSlot).
inline constexpr std::uint32_t kLayoutVersion = 4;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "rings in shared memory need address-free atomics");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "futex words must be plain lock-free 32-bit atomics");
static_assert(sizeof(std::atomic<std::uint32_t>) == 4, "a futex word is exactly 32 bits");

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
// format (kLayoutVersion): bump the version when it changes.
struct alignas(kCacheLine) Header {
  // Written once by the creator before `magic` is released; read-only after.
  std::atomic<std::uint64_t> magic;
  std::uint32_t version;
  std::uint32_t kind;
  std::uint64_t record_size;
  std::uint64_t capacity;
  std::uint64_t slot_stride;
  std::uint64_t total_size;
  // The creating process (a ProcessTag; 0 for a heap ring).
  std::uint64_t owner;
  std::uint32_t dtype_len;
  char dtype[kMaxDtypeLen + 1];

  // Read-mostly: checked on every push, written once by close().
  alignas(kCacheLine) std::atomic<std::uint32_t> closed;
  // Handles that ever publish with only a compiler barrier (PublishOrdering::
  // kMembarrier). A sleeper that cannot run membarrier() itself reads this
  // with a read-modify-write: zero proves that no such publisher can miss
  // its announcement (see wait_for() in waiting.hpp); otherwise it sleeps in
  // short slices. Only incremented: a stale count errs on the safe side.
  std::atomic<std::uint32_t> light_handles;
  // Last process (ProcessTag) to push (SPSC) and to pop, for dead-peer
  // detection.
  std::atomic<std::uint64_t> producer;
  std::atomic<std::uint64_t> consumer;
  // Records discarded because their producer (or, MPMC, their consumer) died
  // before they could be delivered.
  std::atomic<std::uint64_t> lost;

  // Written by producers only.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;
  // SPSC: the end position of the batch being published (tail while none
  // is). A producer killed mid-batch leaves it there for its successor.
  std::atomic<std::uint64_t> batch_end;
  // Written by the consumer (MPMC: consumers) only.
  alignas(kCacheLine) std::atomic<std::uint64_t> head;

  WaitWord not_empty;  // consumers sleep here
  WaitWord not_full;   // producers sleep here
};

static_assert(offsetof(Header, tail) % kCacheLine == 0 && offsetof(Header, head) % kCacheLine == 0);
static_assert(offsetof(Header, head) - offsetof(Header, tail) >= kCacheLine, "indices must not share a line");
static_assert(sizeof(Header) % kCacheLine == 0);

// SPSC slot prefix: position p's record is in the slot once seq == p + 1 (a
// slot is reused every lap, so a stale seq never equals the awaited one; 0,
// the initial value, never does). Written by producers only.
struct SpscSlot {
  std::atomic<std::uint64_t> seq;
};
static_assert(sizeof(SpscSlot) == 8);

// MPSC slot prefix: the slot's sequence number (Vyukov's, doubled: 2p means
// "free for position p", 2p+1 "holds position p's record", so even capacity
// 1 is unambiguous) and the ProcessTag of the producer that claimed it.
struct MpscSlot {
  std::atomic<std::uint64_t> seq;
  std::atomic<std::uint64_t> claimer;
};
static_assert(sizeof(MpscSlot) == 16);

// MPMC slot prefix: MpscSlot's, and the ProcessTag of the consumer that
// claimed the slot for reading (0 while none has). A word of its own: the
// claimer's tag is what tells a consumer whether an unpublished slot's
// producer died, the reader's what tells a producer whether a taken slot's
// consumer did.
struct MpmcSlot {
  std::atomic<std::uint64_t> seq;
  std::atomic<std::uint64_t> claimer;
  std::atomic<std::uint64_t> reader;
};
static_assert(sizeof(MpmcSlot) == 24);
static_assert(offsetof(MpmcSlot, claimer) == offsetof(MpscSlot, claimer));

template <typename Slot>
inline Slot* slot_at(std::byte* p) noexcept {
  return std::launder(reinterpret_cast<Slot*>(p));
}
template <typename Slot>
inline std::byte* record_of(std::byte* p) noexcept {
  return p + sizeof(Slot);
}

// Bytes from one slot to the next for a ring of `kind` (8-byte aligned).
inline constexpr std::size_t slot_stride(RingKind kind, std::size_t record_size) noexcept {
  const std::size_t prefix = kind == RingKind::kSpsc   ? sizeof(SpscSlot)
                             : kind == RingKind::kMpsc ? sizeof(MpscSlot)
                                                       : sizeof(MpmcSlot);
  return (prefix + record_size + 7) & ~std::size_t{7};
}

}  // namespace shanraq::queue::detail
