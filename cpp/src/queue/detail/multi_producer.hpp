// MultiProducerRing's member templates: the producer side that MpscRing and
// MpmcRing share (claim by compare-exchange on the tail, stamp, write,
// publish) and the consumer's handling of a slot whose claimer died.
// Included by mpsc.cpp and mpmc.cpp only.
#pragma once

#include <cstring>
#include <string>

#include "detail/layout.hpp"
#include "detail/os.hpp"
#include "detail/waiting.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue::detail {

template <typename Slot>
bool MultiProducerRing::push_one(const void* record) {
  if (SHANRAQ_UNLIKELY(h_->closed.load(std::memory_order_relaxed) != 0)) throw Closed("push on a closed ring");
  std::uint64_t pos = h_->tail.load(std::memory_order_relaxed);
  Slot* s;
  for (;;) {
    s = slot_at<Slot>(slot(pos));
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
  // The tag lets the consumer tell a dead claimer from a slow one.
  s->claimer.store(my_tag_, std::memory_order_relaxed);
  std::memcpy(record_of<Slot>(reinterpret_cast<std::byte*>(s)), record, record_size_);
  // release: publishes the record; a producer killed before this store
  // leaves the slot unpublished, never torn.
  s->seq.store(2 * pos + 1, std::memory_order_release);
  notify(h_->not_empty);
  return true;
}

template <typename Slot, typename Free>
std::size_t MultiProducerRing::push_run(const void* records, std::size_t n, Free free) {
  if (SHANRAQ_UNLIKELY(h_->closed.load(std::memory_order_relaxed) != 0)) throw Closed("push on a closed ring");
  if (n == 0) return 0;
  std::uint64_t pos = h_->tail.load(std::memory_order_relaxed);
  std::size_t k;
  for (;;) {
    k = free(pos, n);
    if (k == 0) {
      const std::uint64_t fresh = h_->tail.load(std::memory_order_relaxed);
      if (fresh == pos) return 0;  // full
      pos = fresh;
      continue;
    }
    if (h_->tail.compare_exchange_weak(pos, pos + k, std::memory_order_relaxed)) break;
  }
  // Every claimed slot gets our tag before any is written: a producer killed
  // mid-batch leaves each of its unpublished slots with a claimer the
  // consumer can check and discard, instead of untagged slots it must refuse
  // to skip.
  const Slots at = slots();
  const std::size_t size = record_size_;
  const ProcessTag me = my_tag_;
  for (std::size_t i = 0; i < k; ++i) {
    Slot* s = slot_at<Slot>(at(pos + i));
    // acquire: as in push_one; free() already proved the slot free for this
    // lap, so this never spins.
    while (s->seq.load(std::memory_order_acquire) != 2 * (pos + i)) cpu_relax();
    s->claimer.store(me, std::memory_order_relaxed);
  }
  const auto* src = static_cast<const std::byte*>(records);
  for (std::size_t i = 0; i < k; ++i) {
    std::byte* p = at(pos + i);
    std::memcpy(record_of<Slot>(p), src + i * size, size);
    slot_at<Slot>(p)->seq.store(2 * (pos + i) + 1, std::memory_order_release);
  }
  notify(h_->not_empty);
  return k;
}

template <typename Slot, bool kSharedHead>
void MultiProducerRing::check_stalled_slot(std::uint64_t pos) {
  // The stall state is per handle; MPMC consumer threads may share a handle,
  // so each field is a relaxed atomic. A mixed view of the three only moves
  // a check earlier or later: what it acts on (liveness, the seq, the head
  // compare-exchange) is re-read from the ring itself.
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
  const std::chrono::nanoseconds stalled(now - since_ns.load(std::memory_order_relaxed));
  if (stalled < kStallCheckAfter ||
      std::chrono::nanoseconds(now - checked_ns.load(std::memory_order_relaxed)) < kStallCheckAfter) {
    return;
  }
  checked_ns.store(now, std::memory_order_relaxed);
  Slot* s = slot_at<Slot>(slot(pos));
  const ProcessTag claimer = s->claimer.load(std::memory_order_relaxed);
  if (claimer != 0) {
    if (claimer == my_tag_ || process_alive(claimer)) return;
    // Dead claimer. It cannot publish any more; look once more in case it
    // published just before dying, else discard the slot.
    if (s->seq.load(std::memory_order_acquire) == 2 * pos + 1) return;
    if constexpr (kSharedHead) {
      // Claim the position like a pop would, so exactly one consumer
      // discards it; a loser finds the head moved and simply goes on.
      std::uint64_t expected = pos;
      if (!h_->head.compare_exchange_strong(expected, pos + 1, std::memory_order_acq_rel)) {
        stall_pos.store(~0ULL, std::memory_order_relaxed);
        return;
      }
    }
    s->claimer.store(0, std::memory_order_relaxed);
    s->seq.store(2 * (pos + mask_ + 1), std::memory_order_release);
    if constexpr (!kSharedHead) h_->head.store(pos + 1, std::memory_order_release);
    h_->lost.fetch_add(1, std::memory_order_relaxed);
    notify(h_->not_full);
    stall_pos.store(~0ULL, std::memory_order_relaxed);
    throw ProducerDied("producer pid " + std::to_string(pid_of(claimer)) +
                       " died while writing the record at position " + std::to_string(pos) + " of ring '" + name() +
                       "'; that record was discarded (never delivered torn) and the ring remains usable");
  }
  if (stalled >= kStallReportAfter) {
    throw ProducerDied("the record at position " + std::to_string(pos) + " of ring '" + name() +
                       "' was claimed but not published for over 5 s and its producer left no tag (it probably "
                       "died between claiming and stamping); it cannot be skipped safely: recreate the ring");
  }
}

}  // namespace shanraq::queue::detail
