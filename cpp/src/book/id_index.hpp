// The matching engine's order-id index: an open-addressing map from an order
// id to a 32-bit reference (a live order's pool index, or a finished id's
// place in the history ring, with kHistoryBit set). Private to the matching
// engine; unit-tested in cpp/tests/book/test_id_index.cpp.
//
// Slot = (32-bit hash tag << 32) | (ref + 1), 0 = empty. The home slot is a
// function of the tag, so deletion can shift entries and growth can rehash
// without reading keys, and the tag answers most probes without touching the
// order. The table holds exactly 2 slots per id it has room for (load <=
// 1/2, no rounding up to a power of two). At 2/3 (1.5 slots, 4 bytes an id
// less) a retirement's insertion and deletion probed long enough to cost
// 13% on crossing submits with a full history (issue 16).
//
// It starts with room for a few thousand ids and doubles (reserve_one) as
// ids accumulate, up to the most it must ever hold: a table sized for the
// capacities at once (2M ids, 24 MB by default) spreads even a small book's
// ids over every page of it, so a fresh engine paid a page fault and a cache
// miss per new id (issue 16). Growth happens only when the number of ids
// held reaches a new high (warm-up), never afterwards.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "shanraq/common/hash.hpp"
#include "shanraq/common/platform.hpp"
#include "shanraq/common/zeroed.hpp"

namespace shanraq::book::detail {
// Internal linkage: engine.cpp is the one user, so the compiler may inline
// the hot lookups into it as if they were written there.
namespace {

inline constexpr std::uint32_t kHistoryBit = 0x80000000U;

class IdIndex {
 public:
  static constexpr std::uint64_t kAbsent = ~std::uint64_t{0};

  static constexpr std::uint64_t kInitialIds = 4096;

  // `max_ids`: the most ids the map must ever hold at once; room for
  // min(max_ids, initial_ids) at first. Throws std::bad_alloc.
  explicit IdIndex(std::uint64_t max_ids, std::uint64_t initial_ids = kInitialIds)
      : max_ids_(max_ids),
        room_(std::min(max_ids, std::max<std::uint64_t>(initial_ids, 1))),
        slot_count_(slots_for(room_)),
        slots_(make_zeroed<std::uint64_t>(slot_count_, HugePages::kYes)) {}

  std::uint64_t slot_count() const noexcept { return slot_count_; }
  std::size_t memory_bytes() const noexcept { return slot_count_ * sizeof(std::uint64_t); }
  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t room() const noexcept { return room_; }

  // Makes room for one more id (the map must hold fewer than max_ids):
  // doubles the table if it is full. Moves every entry, so slot positions
  // found before are stale. Throws std::bad_alloc (the map is unchanged).
  SHANRAQ_ALWAYS_INLINE void reserve_one() {
    if (SHANRAQ_LIKELY(size_ < room_) || room_ >= max_ids_) return;
    grow();
  }

 private:
  [[gnu::noinline]] void grow() {
    const std::uint64_t room = std::min(max_ids_, room_ * 2);
    const std::uint64_t count = slots_for(room);
    // Homes keep their order as the table doubles (multiply-shift), so this
    // pass reads and writes both tables front to back. Huge pages (tables of
    // 2 MiB or more): ids land on every page of the table anyway, and a 4 KiB
    // page would cost a fault and a TLB miss each.
    RawArray<std::uint64_t> fresh = make_zeroed<std::uint64_t>(count, HugePages::kYes);
    for (std::uint64_t i = 0; i < slot_count_; ++i) {
      const std::uint64_t s = slots_[i];
      if (s == 0) continue;
      std::uint64_t pos = ((s >> 32) * count) >> 32;
      while (fresh[pos] != 0) pos = pos + 1 == count ? 0 : pos + 1;
      fresh[pos] = s;
    }
    slots_ = std::move(fresh);
    slot_count_ = count;
    room_ = room;
  }

 public:
  static std::uint64_t tag_of(std::uint64_t id) noexcept { return fmix64(id) >> 32; }
  // Home slot of a 32-bit tag: multiply-shift maps it onto [0, slot_count).
  std::uint64_t home(std::uint64_t tag) const noexcept { return (tag * slot_count_) >> 32; }
  std::uint64_t next(std::uint64_t pos) const noexcept { return pos + 1 == slot_count_ ? 0 : pos + 1; }

  std::uint32_t ref_at(std::uint64_t pos) const noexcept { return static_cast<std::uint32_t>(slots_[pos]) - 1; }

  void prefetch(std::uint64_t id) const noexcept { __builtin_prefetch(&slots_[home(tag_of(id))]); }
  // The ref in id's home slot if its tag matches, else kHistoryBit (for
  // prefetching the order it most likely names).
  std::uint32_t home_ref(std::uint64_t id) const noexcept {
    const std::uint64_t tag = tag_of(id);
    const std::uint64_t s = slots_[home(tag)];
    return s != 0 && (s >> 32) == tag ? static_cast<std::uint32_t>(s) - 1 : kHistoryBit;
  }

  // Slot position of `id`, or kAbsent. id_of(ref) is the id stored under ref.
  template <class IdOf>
  SHANRAQ_ALWAYS_INLINE std::uint64_t find(std::uint64_t id, const IdOf& id_of) const noexcept {
    const std::uint64_t tag = tag_of(id);
    for (std::uint64_t pos = home(tag);; pos = next(pos)) {
      const std::uint64_t s = slots_[pos];
      if (s == 0) return kAbsent;
      if ((s >> 32) == tag && id_of(static_cast<std::uint32_t>(s) - 1) == id) return pos;
    }
  }

  // One probe for a lookup and a later insert: the slot of `id`, or kAbsent
  // with *empty set to the slot insert_at() fills if `id` is added before
  // any other change to the map.
  template <class IdOf>
  SHANRAQ_ALWAYS_INLINE std::uint64_t find_or_empty(std::uint64_t id, const IdOf& id_of,
                                                    std::uint64_t* empty) const noexcept {
    const std::uint64_t tag = tag_of(id);
    for (std::uint64_t pos = home(tag);; pos = next(pos)) {
      const std::uint64_t s = slots_[pos];
      if (s == 0) {
        *empty = pos;
        return kAbsent;
      }
      if ((s >> 32) == tag && id_of(static_cast<std::uint32_t>(s) - 1) == id) return pos;
    }
  }
  // reserve_one() must have made room since the last insertion.
  void insert_at(std::uint64_t pos, std::uint64_t id, std::uint32_t ref) noexcept {
    slots_[pos] = (tag_of(id) << 32) | (std::uint64_t{ref} + 1);
    ++size_;
  }

  // Adds id -> ref; the id must be absent and reserve_one() must have made
  // room since the last insertion.
  void insert(std::uint64_t id, std::uint32_t ref) noexcept {
    const std::uint64_t tag = tag_of(id);
    std::uint64_t pos = home(tag);
    while (slots_[pos] != 0) pos = next(pos);
    slots_[pos] = (tag << 32) | (std::uint64_t{ref} + 1);
    ++size_;
  }

  void set(std::uint64_t pos, std::uint32_t ref) noexcept {
    slots_[pos] = (slots_[pos] & 0xFFFFFFFF00000000ULL) | (std::uint64_t{ref} + 1);
  }

  // Backward-shift deletion: no tombstones, so probe lengths never degrade.
  void erase(std::uint64_t hole) noexcept {
    for (std::uint64_t j = next(hole);; j = next(j)) {
      const std::uint64_t s = slots_[j];
      if (s == 0) break;
      const std::uint64_t h = home(s >> 32);
      const bool stays = hole <= j ? (h > hole && h <= j) : (h > hole || h <= j);
      if (!stays) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = 0;
    --size_;
  }

 private:
  static std::uint64_t slots_for(std::uint64_t ids) noexcept { return std::max<std::uint64_t>(16, 2 * ids); }

  std::uint64_t max_ids_;
  std::uint64_t room_;  // ids the current table has slots for (load <= 1/2)
  std::uint64_t size_ = 0;
  std::uint64_t slot_count_;
  RawArray<std::uint64_t> slots_;
};

}  // namespace
}  // namespace shanraq::book::detail
