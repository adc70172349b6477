// Platform facts the core relies on: cache-line size for false-sharing
// avoidance, branch hints, and a CPU relax hint for spin loops.
#pragma once

#include <cstddef>
#include <thread>

namespace shanraq {

// 128 bytes, not 64: Apple cores and several aarch64 server parts use
// 128-byte lines, and Intel's adjacent-line prefetcher pulls pairs of 64-byte
// lines, so 128 keeps independently written fields from sharing either way.
inline constexpr std::size_t kCacheLine = 128;

#if defined(__GNUC__) || defined(__clang__)
#define SHANRAQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define SHANRAQ_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SHANRAQ_NOINLINE __attribute__((noinline))
#define SHANRAQ_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SHANRAQ_LIKELY(x) (x)
#define SHANRAQ_UNLIKELY(x) (x)
#define SHANRAQ_NOINLINE
#define SHANRAQ_ALWAYS_INLINE inline
#endif

// Tells the core we are spinning: `pause` on x86 (saves power, avoids the
// memory-order mis-speculation penalty on loop exit), `yield` on aarch64.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  std::this_thread::yield();
#endif
}

// Asks for the line at `p` in a writable state ahead of a store, so that
// taking it from another core's cache overlaps with other work instead of
// stalling the store buffer when the store comes. A hint: it never faults and
// never changes memory. GCC drops __builtin_prefetch(p, 1) to nothing or to a
// read prefetch unless the target has PRFCHW, so on x86-64 the instruction is
// issued from asm: every x86-64 CPU decodes it (those without PRFCHW as a NOP).
SHANRAQ_ALWAYS_INLINE void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1, 3);
#else
  (void)p;
#endif
}

}  // namespace shanraq
