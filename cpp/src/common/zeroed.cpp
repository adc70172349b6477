#include "shanraq/common/zeroed.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace shanraq {

void* acquire_zeroed(std::size_t bytes, HugePages huge) {
#if defined(__linux__)
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  // A hint: failure is harmless.
  if (huge == HugePages::kYes && bytes >= (std::size_t{2} << 20)) madvise(p, bytes, MADV_HUGEPAGE);
  return p;
#else
  (void)huge;
  const std::size_t rounded = (bytes + 63) & ~std::size_t{63};
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return p;
#endif
}

void release_zeroed(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
#if defined(__linux__)
  munmap(p, bytes);
#else
  (void)bytes;
  std::free(p);
#endif
}

void touch_pages(void* base, std::size_t bytes) noexcept {
  constexpr std::size_t kPage = 4096;
  auto* p = static_cast<volatile unsigned char*>(base);
  for (std::size_t off = 0; off < bytes; off += kPage) p[off] = p[off];
}

}  // namespace shanraq
