// MpmcRing: MultiProducerRing's producers and any number of consumers, which
// claim positions by a compare-exchange on the head and stamp themselves in
// the slot they read (detail::MpmcSlot::reader).
#include <cstring>

#include "detail/layout.hpp"
#include "detail/multi_producer.hpp"
#include "detail/os.hpp"
#include "detail/waiting.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue {

namespace {

using detail::MpmcSlot;
using std::chrono::nanoseconds;

inline MpmcSlot* header(std::byte* p) noexcept { return detail::slot_at<MpmcSlot>(p); }
inline std::byte* record(std::byte* p) noexcept { return detail::record_of<MpmcSlot>(p); }

}  // namespace

MpmcRing::MpmcRing(detail::Region region, const RingLayout& layout, WaitStrategy wait, bool init)
    : MultiProducerRing(std::move(region), RingKind::kMpmc, layout, wait, init) {}

MpmcRing::MpmcRing(std::size_t record_size, std::size_t capacity, WaitStrategy wait)
    : MpmcRing(new_heap_block(RingKind::kMpmc, {record_size, capacity, {}}), RingLayout{record_size, capacity, {}},
               wait, true) {}

MpmcRing MpmcRing::create(const std::string& name, const RingLayout& layout, WaitStrategy wait, bool replace_stale) {
  return MpmcRing(new_shared_block(RingKind::kMpmc, name, layout, replace_stale), layout, wait, true);
}

MpmcRing MpmcRing::attach(const std::string& name, const RingLayout& expect, WaitStrategy wait) {
  return MpmcRing(attached_block(RingKind::kMpmc, name, expect), expect, wait, false);
}

bool MpmcRing::try_push(const void* rec) { return push_one<MpmcSlot>(rec); }

std::size_t MpmcRing::try_push_many(const void* records, std::size_t n) {
  return push_run<MpmcSlot>(records, n, [this](std::uint64_t pos, std::size_t want) -> std::size_t {
    // Consumers move the head when they claim, before they free: the head
    // proves nothing, so count the slots that are free for their lap
    // (acquire: pairs with the freeing consumer's release). Only the claimer
    // of a position writes its slot next, so a slot found free is still free
    // if the claim succeeds.
    const std::uint64_t cap = mask_ + 1;
    std::size_t k = 0;
    while (k < want && k < cap && header(slot(pos + k))->seq.load(std::memory_order_acquire) == 2 * (pos + k)) ++k;
    return k;
  });
}

bool MpmcRing::push(const void* rec, nanoseconds timeout) {
  if (try_push(rec)) return true;
  // A consumer's death is never PeerDead here (others may drain); the slot
  // it left taken is freed instead.
  return wait_for(h_->not_full, timeout, [&] { return try_push(rec); }, [&] { reclaim_stuck_slot(); });
}

std::size_t MpmcRing::push_many(const void* records, std::size_t n, nanoseconds timeout) {
  const auto* src = static_cast<const std::byte*>(records);
  return push_many_blocking(
      n, timeout, [&](std::size_t done) { return try_push_many(src + done * record_size_, n - done); },
      [&] { reclaim_stuck_slot(); });
}

void MpmcRing::reclaim_stuck_slot() noexcept {
  const std::uint64_t cap = mask_ + 1;
  const std::uint64_t tail = h_->tail.load(std::memory_order_acquire);
  if (tail < cap) return;
  // The slot the next producer needs still holds the record of position p,
  // one lap back. If a consumer claimed p (the head is past it) and its
  // process is gone, nobody will ever free the slot.
  const std::uint64_t p = tail - cap;
  MpmcSlot* s = header(slot(p));
  if (s->seq.load(std::memory_order_acquire) != 2 * p + 1) return;
  if (h_->head.load(std::memory_order_acquire) <= p) return;  // not claimed: the ring is just full
  const detail::ProcessTag reader = s->reader.load(std::memory_order_relaxed);
  // 0: claimed but not yet stamped (a few instructions), or being freed.
  if (reader == 0 || reader == my_tag_ || detail::process_alive(reader)) return;
  s->claimer.store(0, std::memory_order_relaxed);
  s->reader.store(0, std::memory_order_relaxed);
  std::uint64_t expected = 2 * p + 1;
  // acq_rel: one reclaimer wins; the free state is released to producers.
  if (s->seq.compare_exchange_strong(expected, 2 * tail, std::memory_order_acq_rel)) {
    h_->lost.fetch_add(1, std::memory_order_relaxed);
  }
}

bool MpmcRing::try_pop(void* out) {
  std::uint64_t pos = h_->head.load(std::memory_order_relaxed);
  MpmcSlot* s;
  for (;;) {
    s = header(slot(pos));
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
        check_stalled_slot<MpmcSlot, true>(pos);
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
  // header consumer: MPMC never reports a dead consumer as PeerDead.)
  s->reader.store(my_tag_, std::memory_order_relaxed);
  std::memcpy(out, record(slot(pos)), record_size_);
  s->claimer.store(0, std::memory_order_relaxed);
  s->reader.store(0, std::memory_order_relaxed);
  // release: the slot is free for the next lap once producers acquire this.
  s->seq.store(2 * (pos + mask_ + 1), std::memory_order_release);
  notify(h_->not_full);
  return true;
}

std::size_t MpmcRing::try_pop_many(void* out, std::size_t max_n) {
  if (max_n == 0) return 0;
  auto* dst = static_cast<std::byte*>(out);
  std::uint64_t head = h_->head.load(std::memory_order_relaxed);
  std::size_t k;
  for (;;) {
    k = 0;
    // acquire: pairs with each producer's release of its slot's seq.
    while (k < max_n && header(slot(head + k))->seq.load(std::memory_order_acquire) == 2 * (head + k) + 1) ++k;
    // Empty, claimed-but-unpublished, or closed: try_pop sorts them out.
    if (k == 0) return try_pop(dst) ? 1 : 0;
    // Claims the whole run at once: published slots stay published until
    // their claimer frees them, so the run is still ours if this succeeds.
    if (h_->head.compare_exchange_weak(head, head + k, std::memory_order_relaxed)) break;
  }
  const Slots at = slots();
  const std::size_t size = record_size_;
  const detail::ProcessTag me = my_tag_;
  for (std::size_t i = 0; i < k; ++i) header(at(head + i))->reader.store(me, std::memory_order_relaxed);
  for (std::size_t i = 0; i < k; ++i) {
    std::byte* p = at(head + i);
    MpmcSlot* s = header(p);
    std::memcpy(dst + i * size, record(p), size);
    s->claimer.store(0, std::memory_order_relaxed);
    s->reader.store(0, std::memory_order_relaxed);
    s->seq.store(2 * (head + i + at.mask + 1), std::memory_order_release);
  }
  notify(h_->not_full);
  return k;
}

bool MpmcRing::pop(void* out, nanoseconds timeout) {
  if (try_pop(out)) return true;
  return wait_for(h_->not_empty, timeout, [&] { return try_pop(out); }, [] {});
}

std::size_t MpmcRing::pop_many(void* out, std::size_t max_n, nanoseconds timeout) {
  return take_blocking(max_n, timeout, [&] { return try_pop_many(out, max_n); }, [] { return false; });
}

}  // namespace shanraq::queue
