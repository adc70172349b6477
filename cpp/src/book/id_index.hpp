// The matching engine's order-id index: an open-addressing map from an order
// id to a 32-bit reference (a live order's pool index, or a finished id's
// place in the history ring, with kHistoryBit set). Sized once for the ids it
// must hold; never allocates afterwards. Private to the matching engine;
// unit-tested in cpp/tests/book/test_id_index.cpp.
//
// Slot = (32-bit hash tag << 32) | (ref + 1), 0 = empty. The home slot is a
// function of the tag, so deletion can shift entries without re-hashing
// keys, and the tag answers most probes without touching the order. The
// table holds exactly 1.5 slots per id it must hold (load <= 2/3, no
// rounding up to a power of two: the index is a third of an order's memory).
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

  // `ids`: the most ids the map must hold at once.
  explicit IdIndex(std::uint64_t ids)
      : slot_count_(std::max<std::uint64_t>(16, (3 * ids + 1) / 2)), slots_(make_zeroed<std::uint64_t>(slot_count_)) {}

  std::uint64_t slot_count() const noexcept { return slot_count_; }
  std::size_t memory_bytes() const noexcept { return slot_count_ * sizeof(std::uint64_t); }

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
  void insert_at(std::uint64_t pos, std::uint64_t id, std::uint32_t ref) noexcept {
    slots_[pos] = (tag_of(id) << 32) | (std::uint64_t{ref} + 1);
  }

  // Adds id -> ref; the id must be absent and the map below its capacity.
  void insert(std::uint64_t id, std::uint32_t ref) noexcept {
    const std::uint64_t tag = tag_of(id);
    std::uint64_t pos = home(tag);
    while (slots_[pos] != 0) pos = next(pos);
    slots_[pos] = (tag << 32) | (std::uint64_t{ref} + 1);
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
  }

 private:
  std::uint64_t slot_count_;
  RawArray<std::uint64_t> slots_;
};

}  // namespace
}  // namespace shanraq::book::detail
