// SpscRing: one producer, one consumer; the consumer finds records through
// each slot's sequence word (detail::SpscSlot), never through the tail.
#include <algorithm>
#include <cstring>

#include "detail/layout.hpp"
#include "detail/waiting.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue {

namespace {

using std::chrono::nanoseconds;

inline detail::SpscSlot* header(std::byte* p) noexcept { return detail::slot_at<detail::SpscSlot>(p); }
inline std::byte* record(std::byte* p) noexcept { return detail::record_of<detail::SpscSlot>(p); }

// memcpy of a record: the common sizes with a constant length, which the
// compiler turns into a few moves instead of a call.
SHANRAQ_ALWAYS_INLINE void copy_record(void* dst, const void* src, std::size_t n) noexcept {
  switch (n) {
    case 8:
      std::memcpy(dst, src, 8);
      break;
    case 16:
      std::memcpy(dst, src, 16);
      break;
    case 32:
      std::memcpy(dst, src, 32);
      break;
    case 64:
      std::memcpy(dst, src, 64);
      break;
    default:
      std::memcpy(dst, src, n);
  }
}

}  // namespace

SpscRing::SpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init)
    : RingBase(std::move(region), RingKind::kSpsc, layout, wait, init) {}

SpscRing::SpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait)
    : SpscRing(new_heap_block(RingKind::kSpsc, {record_size, capacity, {}}), RingLayout{record_size, capacity, {}},
               wait, true) {}

SpscRing SpscRing::create(const std::string& name, const RingLayout& layout, WaitStrategy wait, bool replace_stale) {
  return SpscRing(new_shared_block(RingKind::kSpsc, name, layout, replace_stale), layout, wait, true);
}

SpscRing SpscRing::attach(const std::string& name, const RingLayout& expect, WaitStrategy wait) {
  return SpscRing(attached_block(RingKind::kSpsc, name, expect), expect, wait, false);
}

void SpscRing::adopt_tail() noexcept {
  // This handle takes over from the previous producer, which is gone (one
  // producer at a time), so everything it stored is visible here. It may
  // have died mid-push, in one of two places.
  //
  // Between publishing slots and storing the tail: the tail is behind
  // records the consumer may already have taken. Move it past them, or this
  // producer would rewrite a consumed slot and see the ring as full forever.
  std::uint64_t t = h_->tail.load(std::memory_order_relaxed);
  for (std::uint64_t i = 0; i <= mask_ && header(slot(t))->seq.load(std::memory_order_acquire) == t + 1; ++i) ++t;
  // In a batch, after publishing some of its later slots but not its first
  // (published last): those records sit beyond a slot that is not published,
  // so no consumer has reached them, but once this producer publishes that
  // slot the consumer would go on into them, taking the dead producer's
  // records after ours while ours are written into the slots it reads.
  // Unpublish them first (0: a seq no position awaits); the release store of
  // our first slot's seq orders this before any consumer's look past it.
  // They alias positions a lap back, which the consumer has finished with:
  // the dead producer could claim them only once the consumer's head was
  // past them.
  const std::uint64_t end = h_->batch_end.load(std::memory_order_relaxed);
  std::uint64_t discarded = 0;
  for (std::uint64_t p = t + 1; p < end && p - t <= mask_; ++p) {
    std::atomic<std::uint64_t>& seq = header(slot(p))->seq;
    if (seq.load(std::memory_order_acquire) == p + 1) {
      seq.store(0, std::memory_order_relaxed);
      ++discarded;
    }
  }
  if (discarded != 0) h_->lost.fetch_add(discarded, std::memory_order_relaxed);
  h_->batch_end.store(t, std::memory_order_relaxed);
  h_->tail.store(t, std::memory_order_release);
  head_cache_ = h_->head.load(std::memory_order_acquire);
  stamp_producer();
}

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
  // For a successor, should this producer die before publishing the first
  // slot (adopt_tail). On the tail's line, which only this producer writes.
  h_->batch_end.store(tail + k, std::memory_order_relaxed);
  const auto* src = static_cast<const std::byte*>(records);
  // All records first, then the seq words from the last to the first: the
  // consumer, waiting on the first slot, sees the batch only once all of it
  // is there, and then reads lines the producer has finished with
  // (publishing slot by slot lets it chase the producer line by line, each
  // line crossing between the cores several times). Ask for every line of
  // the batch at once: the consumer read them a lap ago, and taking them back
  // one store at a time serialises the transfers. Not the first slot's line:
  // a waiting consumer polls it, and it is written last (record and seq
  // together), so that line crosses once per batch instead of twice (a store
  // to it early would stall the store buffer behind its transfer, then the
  // consumer's next poll would take it back). At most 64 slots: more cannot
  // be in flight at once, and for a big batch the rest would only cost
  // instructions.
  const Slots at = slots();
  const std::size_t size = record_size_;
  const std::size_t ahead = std::min<std::size_t>(k, 64);
  for (std::size_t i = 1; i < ahead; ++i) prefetch_for_write(at(tail + i));
  prefetch_for_write(at(tail + ahead - 1) + at.stride - 1);
  for (std::size_t i = 1; i < k; ++i) copy_record(record(at(tail + i)), src + i * size, size);
  for (std::size_t i = k; i-- > 1;) {
    // release: a consumer that acquires this seq sees the record complete.
    // A producer killed before this store published nothing of this slot.
    header(at(tail + i))->seq.store(tail + i + 1, std::memory_order_release);
  }
  copy_record(record(at(tail)), src, size);
  header(at(tail))->seq.store(tail + 1, std::memory_order_release);
  // The tail is for size() and for this producer's next call; consumers
  // find records through the slots' seq words.
  h_->tail.store(tail + k, std::memory_order_release);
  notify(h_->not_empty);
  return k;
}

bool SpscRing::try_push(const void* rec) {
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
  copy_record(record(s), rec, record_size_);
  // release: publishes the record (see try_push_many). No consumer reads the
  // tail on its hot path, so its line stays in this core's cache.
  header(s)->seq.store(tail + 1, std::memory_order_release);
  h_->tail.store(tail + 1, std::memory_order_release);
  notify(h_->not_empty);
  return true;
}

bool SpscRing::push(const void* rec, nanoseconds timeout) {
  if (try_push(rec)) return true;
  return wait_for(
      h_->not_full, timeout, [&] { return try_push(rec); },
      [&] {
        if (recorded_consumer_gone()) throw_consumer_gone();
      });
}

std::size_t SpscRing::push_many(const void* records, std::size_t n, nanoseconds timeout) {
  const auto* src = static_cast<const std::byte*>(records);
  return push_many_blocking(
      n, timeout, [&](std::size_t done) { return try_push_many(src + done * record_size_, n - done); },
      [&] {
        if (recorded_consumer_gone()) throw_consumer_gone();
      });
}

// Consumer: how many of the slots from `head` on (at most `limit`) hold
// published records, in order. acquire: pairs with the producer's release of
// each slot's seq, so the records are complete.
std::size_t SpscRing::ready_from(std::uint64_t head, std::size_t limit) const noexcept {
  const Slots at = slots();
  if (limit == 0 || header(at(head))->seq.load(std::memory_order_acquire) != head + 1) return 0;
  // The first record is there. A batch's lines come from the producer's
  // cache: ask for them all at once rather than one miss per loop turn. Only
  // now: prefetching while the ring is empty would pull the lines the
  // producer is writing away from it on every poll. The producer publishes a
  // batch last to first, so once the first is there the batch is complete.
  if (limit > 1) {
    const std::size_t ahead = std::min<std::size_t>(limit, 64);
    for (std::size_t i = 1; i < ahead; ++i) __builtin_prefetch(at(head + i), 0, 3);
  }
  std::size_t k = 1;
  while (k < limit && header(at(head + k))->seq.load(std::memory_order_acquire) == head + k + 1) ++k;
  // A consumer behind the producer: the next batch is already published, so
  // its lines can be asked for now too (no producer is writing them), and
  // the next call finds them here instead of paying a miss first.
  if (k == limit && k > 1 && header(at(head + k))->seq.load(std::memory_order_relaxed) == head + k + 1) {
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
  for (std::size_t i = 0; i < k; ++i) copy_record(dst + i * size, record(at(head + i)), size);
  // release: the producer may reuse these slots once it acquires this head.
  h_->head.store(head + k, std::memory_order_release);
  notify(h_->not_full);
  return k;
}

bool SpscRing::try_pop(void* out) {
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  std::byte* s = slot(head);
  // acquire: pairs with the producer's release of the seq (see ready_from).
  if (SHANRAQ_UNLIKELY(header(s)->seq.load(std::memory_order_acquire) != head + 1)) {
    if (SHANRAQ_LIKELY(!closed())) return false;
    if (header(s)->seq.load(std::memory_order_acquire) != head + 1) throw Closed("pop on a closed, drained ring");
  }
  stamp_consumer();
  peeked_ = 0;
  copy_record(out, record(s), record_size_);
  h_->head.store(head + 1, std::memory_order_release);
  notify(h_->not_full);
  return true;
}

bool SpscRing::pop(void* out, nanoseconds timeout) {
  if (try_pop(out)) return true;
  return wait_for(
      h_->not_empty, timeout, [&] { return try_pop(out); },
      [&] {
        if (recorded_producer_gone() && !try_pop(out)) throw_producer_gone();
      });
}

std::size_t SpscRing::pop_many(void* out, std::size_t max_n, nanoseconds timeout) {
  return take_blocking(
      max_n, timeout, [&] { return try_pop_many(out, max_n); }, [&] { return recorded_producer_gone(); });
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
  return {record(slot(head)), k, stride_};
}

RecordSpan SpscRing::peek(std::size_t max_n, nanoseconds timeout) {
  return take_blocking(max_n, timeout, [&] { return peek(max_n); }, [&] { return recorded_producer_gone(); });
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

}  // namespace shanraq::queue
