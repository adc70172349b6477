// Zeroed, fixed-capacity arrays for the state machines' pools and indexes.
//
// Storage comes from anonymous memory: the kernel maps zero pages lazily, so
// a large capacity costs address space, and resident memory only where it is
// used. Arrays of 2 MiB or more may ask for transparent huge pages
// (HugePages::kYes): for accesses spread at random over hundreds of MiB (the
// ledger's accounts and transfers) nearly every access would otherwise also
// miss the TLB. A pool filled front to back (the book's orders) asks for none,
// so its resident memory follows its use page by page.
#pragma once

#include <cstddef>
#include <memory>

namespace shanraq {

enum class HugePages : bool { kNo = false, kYes = true };

// `bytes` of zeroed memory, 64-byte aligned at least; throws std::bad_alloc.
void* acquire_zeroed(std::size_t bytes, HugePages huge = HugePages::kNo);
void release_zeroed(void* p, std::size_t bytes) noexcept;

// Reads and rewrites one byte per 4 KiB page of [base, base + bytes): the
// write makes the kernel back each page now (a read of a never-touched page
// only maps the shared zero page), so first use on a hot path pays no fault.
void touch_pages(void* base, std::size_t bytes) noexcept;

template <class T>
struct ZeroedDeleter {
  std::size_t bytes = 0;
  void operator()(T* p) const noexcept { release_zeroed(p, bytes); }
};
template <class T>
using RawArray = std::unique_ptr<T[], ZeroedDeleter<T>>;

// n value-initialised (all-zero) T; throws std::bad_alloc. T must be valid
// when all-zero (trivial types only).
template <class T>
RawArray<T> make_zeroed(std::size_t n, HugePages huge = HugePages::kNo) {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);
  const std::size_t bytes = (n == 0 ? 1 : n) * sizeof(T);
  return RawArray<T>(static_cast<T*>(acquire_zeroed(bytes, huge)), ZeroedDeleter<T>{bytes});
}

// Bytes a RawArray of n T spans (the figure memory accounting reports).
template <class T>
constexpr std::size_t zeroed_bytes(std::size_t n) noexcept {
  return (n == 0 ? 1 : n) * sizeof(T);
}

}  // namespace shanraq
