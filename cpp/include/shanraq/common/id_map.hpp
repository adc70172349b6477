// Open-addressing map from a 64-bit id to the index of its record in a
// caller-owned array (the ledger's accounts and transfers). Sized once for a
// fixed capacity, it never allocates afterwards.
//
// Each slot is 8 bytes: the record index + 1 in the low half (0 = empty) and
// 32 bits of the id's hash in the high half. The hash tag answers almost every
// probe without touching the record array, so looking up an absent id (every
// new transfer) costs one cache line, not one per probed slot. The table has
// at least twice as many slots as the capacity (load <= 0.5), so linear probes
// stay short: 16 bytes per record, at most 32 after rounding to a power of two
// (slots_per_record = 2; the account map uses 3, see Ledger).
#pragma once

#include <cstddef>
#include <cstdint>

#include "shanraq/common/hash.hpp"
#include "shanraq/common/prefetch.hpp"
#include "shanraq/common/zeroed.hpp"

namespace shanraq {

class IdMap {
 public:
  static constexpr std::uint32_t kNotFound = 0xFFFFFFFFU;

  // capacity: records the map must hold (< 2^31); slots_per_record: minimum
  // slots per record (>= 2: the load factor stays <= 1/slots_per_record).
  // Throws std::bad_alloc.
  explicit IdMap(std::uint32_t capacity, std::uint32_t slots_per_record = 2) {
    std::size_t size = 16;
    while (size < std::size_t{capacity} * slots_per_record) size <<= 1;
    mask_ = size - 1;
    slots_ = make_zeroed<std::uint64_t>(size, HugePages::kYes);
  }

  std::size_t slot_count() const noexcept { return mask_ + 1; }
  std::size_t memory_bytes() const noexcept { return slot_count() * sizeof(std::uint64_t); }

  // The batch path hashes each id once (hash_id) and passes the hash to the
  // *_h variants below; the others hash for themselves.
  void prefetch_h(std::uint64_t h) const noexcept { prefetch_line(&slots_[h & mask_]); }

  // The record index in the home slot of hash h, whatever its tag, or 0 for
  // an empty slot: branch-free, for prefetching only.
  std::uint32_t home_index_h(std::uint64_t h) const noexcept {
    const auto low = static_cast<std::uint32_t>(slots_[h & mask_]);
    return low - (low != 0);
  }

  // Index of `id` (whose hash_id is h), or kNotFound. `records[i].id` must be
  // the id stored at i.
  template <class Record>
  std::uint32_t find_h(std::uint64_t id, std::uint64_t h, const Record* records) const noexcept {
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      const std::uint64_t s = slots_[pos];
      const auto low = static_cast<std::uint32_t>(s);
      if (low == 0) return kNotFound;
      if (static_cast<std::uint32_t>(s >> 32) == tag && records[low - 1].id == id) return low - 1;
    }
  }

  template <class Record>
  std::uint32_t find(std::uint64_t id, const Record* records) const noexcept {
    return find_h(id, hash_id(id), records);
  }

  // One probe for lookup and insert: the index of `id` if present; else
  // kNotFound, with *empty set to the slot insert_at() must fill if the id is
  // added before any other insert or erase.
  template <class Record>
  std::uint32_t find_or_slot(std::uint64_t id, std::uint64_t h, const Record* records,
                             std::size_t* empty) const noexcept {
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      const std::uint64_t s = slots_[pos];
      const auto low = static_cast<std::uint32_t>(s);
      if (low == 0) {
        *empty = pos;
        return kNotFound;
      }
      if (static_cast<std::uint32_t>(s >> 32) == tag && records[low - 1].id == id) return low - 1;
    }
  }

  // Fills the slot find_or_slot() returned for an id with hash h.
  void insert_at(std::size_t pos, std::uint64_t h, std::uint32_t index) noexcept {
    slots_[pos] = ((h >> 32) << 32) | (std::uint64_t{index} + 1);
  }

  // Adds id -> index; the id must be absent and the map below capacity.
  void insert(std::uint64_t id, std::uint32_t index) noexcept {
    const std::uint64_t h = hash_id(id);
    std::size_t pos = h & mask_;
    while (static_cast<std::uint32_t>(slots_[pos]) != 0) pos = (pos + 1) & mask_;
    slots_[pos] = ((h >> 32) << 32) | (std::uint64_t{index} + 1);
  }

  // Removes id (present) by backward-shift deletion, which keeps every other
  // key reachable from its home slot without tombstones. Used to roll back a
  // failed linked chain.
  template <class Record>
  void erase(std::uint64_t id, const Record* records) noexcept {
    const std::uint64_t h = hash_id(id);
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    std::size_t hole = h & mask_;
    while (true) {
      const std::uint64_t s = slots_[hole];
      if (static_cast<std::uint32_t>(s) == 0) return;
      // The tag first: a record read is a cache miss on a large table.
      if (static_cast<std::uint32_t>(s >> 32) == tag && records[static_cast<std::uint32_t>(s) - 1].id == id) break;
      hole = (hole + 1) & mask_;
    }
    for (std::size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      const std::uint64_t s = slots_[j];
      const auto low = static_cast<std::uint32_t>(s);
      if (low == 0) break;
      const std::size_t home = hash_id(records[low - 1].id) & mask_;
      // Move s into the hole unless its home lies cyclically in (hole, j].
      const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!stays) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = 0;
  }

  // Points the entry of `id` (present, stored at index `from`) at index `to`,
  // for a record moved within the array; records[from] must still hold it.
  template <class Record>
  void reindex(std::uint64_t id, const Record* records, std::uint32_t to) noexcept {
    const std::uint64_t h = hash_id(id);
    const std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      const std::uint64_t s = slots_[pos];
      const auto low = static_cast<std::uint32_t>(s);
      if (low == 0) return;
      if (static_cast<std::uint32_t>(s >> 32) == tag && records[low - 1].id == id) {
        slots_[pos] = (s & ~std::uint64_t{0xFFFFFFFFU}) | (std::uint64_t{to} + 1);
        return;
      }
    }
  }

  // For an erase of the id with hash h a little later: the backward shift
  // reads the records of the entries after it in its cluster (to find their
  // home slots). Prefetches those named by the two slots after h's home,
  // which cover nearly every cluster at load <= 1/2. The slot line must be
  // cached already (prefetch_h earlier), or this waits for it.
  template <class Record>
  void prefetch_cluster(std::uint64_t h, const Record* records) const noexcept {
    for (std::size_t k = 1; k <= 2; ++k) {
      const auto low = static_cast<std::uint32_t>(slots_[(h + k) & mask_]);
      prefetch_line(&records[low - (low != 0)]);
    }
  }

  // Backs every page of the table now (see Ledger::prefault).
  void prefault() noexcept { touch_pages(slots_.get(), memory_bytes()); }

  void clear() noexcept {
    for (std::size_t i = 0; i <= mask_; ++i) slots_[i] = 0;
  }

 private:
  RawArray<std::uint64_t> slots_;
  std::size_t mask_ = 0;
};

}  // namespace shanraq
