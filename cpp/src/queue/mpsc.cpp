// MpscRing: MultiProducerRing's producers and one consumer, which owns the
// head and may read records in place (peek/release).
#include <cstring>

#include "detail/layout.hpp"
#include "detail/multi_producer.hpp"
#include "detail/waiting.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue {

namespace {

using detail::MpscSlot;
using std::chrono::nanoseconds;

inline MpscSlot* header(std::byte* p) noexcept { return detail::slot_at<MpscSlot>(p); }
inline std::byte* record(std::byte* p) noexcept { return detail::record_of<MpscSlot>(p); }

}  // namespace

MpscRing::MpscRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init)
    : MultiProducerRing(std::move(region), RingKind::kMpsc, layout, wait, init) {}

MpscRing::MpscRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait)
    : MpscRing(new_heap_block(RingKind::kMpsc, {record_size, capacity, {}}), RingLayout{record_size, capacity, {}},
               wait, true) {}

MpscRing MpscRing::create(const std::string& name, const RingLayout& layout, WaitStrategy wait, bool replace_stale) {
  return MpscRing(new_shared_block(RingKind::kMpsc, name, layout, replace_stale), layout, wait, true);
}

MpscRing MpscRing::attach(const std::string& name, const RingLayout& expect, WaitStrategy wait) {
  return MpscRing(attached_block(RingKind::kMpsc, name, expect), expect, wait, false);
}

bool MpscRing::try_push(const void* rec) { return push_one<MpscSlot>(rec); }

std::size_t MpscRing::try_push_many(const void* records, std::size_t n) {
  return push_run<MpscSlot>(records, n, [this](std::uint64_t pos, std::size_t want) -> std::size_t {
    // acquire: the consumer released `head` after freeing (and releasing
    // the seq of) every slot before it, so all of [pos, head + cap) are
    // free for their lap once claimed.
    const std::uint64_t cap = mask_ + 1;
    const std::uint64_t head = h_->head.load(std::memory_order_acquire);
    const std::uint64_t used = pos > head ? pos - head : 0;
    return used >= cap ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(cap - used, want));
  });
}

bool MpscRing::push(const void* rec, nanoseconds timeout) {
  if (try_push(rec)) return true;
  return wait_for(
      h_->not_full, timeout, [&] { return try_push(rec); },
      [&] {
        if (recorded_consumer_gone()) throw_consumer_gone();
      });
}

std::size_t MpscRing::push_many(const void* records, std::size_t n, nanoseconds timeout) {
  const auto* src = static_cast<const std::byte*>(records);
  return push_many_blocking(
      n, timeout, [&](std::size_t done) { return try_push_many(src + done * record_size_, n - done); },
      [&] {
        if (recorded_consumer_gone()) throw_consumer_gone();
      });
}

bool MpscRing::try_pop(void* out) {
  const std::uint64_t pos = h_->head.load(std::memory_order_relaxed);
  MpscSlot* s = header(slot(pos));
  // acquire: pairs with the producer's release of the slot's seq.
  if (SHANRAQ_UNLIKELY(s->seq.load(std::memory_order_acquire) != 2 * pos + 1)) {
    if (h_->tail.load(std::memory_order_relaxed) > pos) {
      check_stalled_slot<MpscSlot, false>(pos);  // claimed, being written (or its writer died)
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
  std::memcpy(out, record(slot(pos)), record_size_);
  s->claimer.store(0, std::memory_order_relaxed);
  // release: the slot is free for the next lap once producers acquire this.
  s->seq.store(2 * (pos + mask_ + 1), std::memory_order_release);
  h_->head.store(pos + 1, std::memory_order_release);
  notify(h_->not_full);
  return true;
}

std::size_t MpscRing::try_pop_many(void* out, std::size_t max_n) {
  auto* dst = static_cast<std::byte*>(out);
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  // Geometry in locals: stores through byte pointers would make the
  // compiler reload the members for every record.
  const Slots at = slots();
  const std::size_t size = record_size_;
  std::size_t k = 0;
  while (k < max_n) {
    std::byte* p = at(head + k);
    MpscSlot* s = header(p);
    if (s->seq.load(std::memory_order_acquire) != 2 * (head + k) + 1) break;
    std::memcpy(dst + k * size, record(p), size);
    s->claimer.store(0, std::memory_order_relaxed);
    s->seq.store(2 * (head + k + at.mask + 1), std::memory_order_release);
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
  return take_blocking(max_n, timeout, [&] { return try_pop_many(out, max_n); }, [] { return false; });
}

RecordSpan MpscRing::peek(std::size_t max_n) {
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  const std::uint64_t to_end = (mask_ + 1) - (head & mask_);
  const auto limit = static_cast<std::size_t>(std::min<std::uint64_t>(to_end, max_n));
  std::size_t k = 0;
  // acquire: pairs with each producer's release of its slot's seq.
  while (k < limit && header(slot(head + k))->seq.load(std::memory_order_acquire) == 2 * (head + k) + 1) ++k;
  peeked_ = k;
  std::byte* first = record(slot(head));
  if (k == 0 && max_n != 0) {
    if (h_->tail.load(std::memory_order_relaxed) > head) {
      check_stalled_slot<MpscSlot, false>(head);  // claimed, being written (or its writer died)
    } else if (SHANRAQ_UNLIKELY(closed())) {
      if (header(slot(head))->seq.load(std::memory_order_acquire) == 2 * head + 1) return peek(max_n);
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
  return take_blocking(max_n, timeout, [&] { return peek(max_n); }, [] { return false; });
}

void MpscRing::release(std::size_t n) {
  if (n > peeked_) {
    throw std::invalid_argument("release(" + std::to_string(n) + ") of a ring with " + std::to_string(peeked_) +
                                " peeked records");
  }
  if (n == 0) return;
  const std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) {
    MpscSlot* s = header(slot(head + i));
    s->claimer.store(0, std::memory_order_relaxed);
    // release: the slot is free for the next lap once producers acquire this.
    s->seq.store(2 * (head + i + mask_ + 1), std::memory_order_release);
  }
  h_->head.store(head + n, std::memory_order_release);
  peeked_ -= n;
  notify(h_->not_full);
}

}  // namespace shanraq::queue
