// A binary min-heap of 32-bit record indices, for the timers of the state
// machines (the book's GTD expiries, the ledger's hold timeouts). The heap
// stores only indices; the caller's policy compares two records and keeps
// each record's back-pointer to its heap position, so a record that leaves
// early (a cancelled order, a posted hold) is removed in O(log n) without a
// search.
//
// Policy requirements:
//   bool less(std::uint32_t a, std::uint32_t b) const noexcept;  // strict weak order
//   void placed(std::uint32_t item, std::uint32_t pos) noexcept; // item now at pos
// The storage (capacity entries) is the caller's; nothing allocates.
#pragma once

#include <cstdint>

namespace shanraq {

template <class Policy>
class IndexHeap {
 public:
  IndexHeap(std::uint32_t* storage, Policy policy) noexcept : heap_(storage), policy_(policy) {}

  std::uint32_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::uint32_t top() const noexcept { return heap_[0]; }
  std::uint32_t at(std::uint32_t pos) const noexcept { return heap_[pos]; }
  std::uint32_t* data() const noexcept { return heap_; }

  // The caller guarantees room (size() < its capacity).
  void push(std::uint32_t item) noexcept { sift_up(size_++, item); }
  void pop() noexcept { remove_at(0); }
  void remove_at(std::uint32_t pos) noexcept {
    const std::uint32_t last = heap_[--size_];
    if (pos == size_) return;
    if (pos > 0 && policy_.less(last, heap_[(pos - 1) / 2])) {
      sift_up(pos, last);
    } else {
      sift_down(pos, last);
    }
  }
  // Rebuilds the heap property over items already in storage[0, n) (restore).
  void assign(std::uint32_t n) noexcept {
    size_ = n;
    for (std::uint32_t pos = 0; pos < n; ++pos) policy_.placed(heap_[pos], pos);
    for (std::uint32_t pos = n / 2; pos-- > 0;) sift_down(pos, heap_[pos]);
  }
  void clear() noexcept { size_ = 0; }
  // True when every parent orders before or equal to its children (restore
  // validation and tests).
  bool valid() const noexcept {
    for (std::uint32_t pos = 1; pos < size_; ++pos) {
      if (policy_.less(heap_[pos], heap_[(pos - 1) / 2])) return false;
    }
    return true;
  }
  Policy& policy() noexcept { return policy_; }

 private:
  void sift_up(std::uint32_t pos, std::uint32_t item) noexcept {
    while (pos > 0) {
      const std::uint32_t parent = (pos - 1) / 2;
      if (!policy_.less(item, heap_[parent])) break;
      place(pos, heap_[parent]);
      pos = parent;
    }
    place(pos, item);
  }
  void sift_down(std::uint32_t pos, std::uint32_t item) noexcept {
    const std::uint32_t n = size_;
    while (true) {
      std::uint32_t child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && policy_.less(heap_[child + 1], heap_[child])) ++child;
      if (!policy_.less(heap_[child], item)) break;
      place(pos, heap_[child]);
      pos = child;
    }
    place(pos, item);
  }
  void place(std::uint32_t pos, std::uint32_t item) noexcept {
    heap_[pos] = item;
    policy_.placed(item, pos);
  }

  std::uint32_t* heap_;
  Policy policy_;
  std::uint32_t size_ = 0;
};

}  // namespace shanraq
