// Software prefetches the hot paths issue ahead of a known access (the write
// prefetch, prefetch_for_write, is in platform.hpp, with the other CPU hints).
#pragma once

#include "shanraq/common/platform.hpp"

namespace shanraq {

// A prefetch of the cache line holding `p` into all levels, as an asm
// statement the compiler must keep. GCC 12 -O3 dropped every record-stage
// __builtin_prefetch of the ledger's batch pipeline (the trigger depends on
// the surrounding code), which made it 2.3x slower. Prefetching never
// faults, so any address is safe.
SHANRAQ_ALWAYS_INLINE void prefetch_line(const void* p) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  asm volatile("prfm pldl1keep, %0" : : "Q"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

}  // namespace shanraq
