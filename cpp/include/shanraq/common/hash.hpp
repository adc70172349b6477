// Integer hashes for the open-addressing indexes (not keyed, not
// cryptographic: adversarial ids can make probes long, never results wrong).
#pragma once

#include <cstdint>

namespace shanraq {

// MurmurHash3's finaliser: every input bit affects every output bit.
constexpr std::uint64_t fmix64(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// Fibonacci hashing folded once: callers choose ids (often sequential), so
// every id bit must reach both the slot index (low bits) and the tag (high
// bits). The high bits of id * 2^64/phi depend on every bit of the id and
// spread sequential ids evenly; xoring them into the low bits carries that
// into the index (on ids 1..1M as few keys leave their home slot as with
// fmix64). Three instructions where fmix64 takes nine.
constexpr std::uint64_t hash_id(std::uint64_t id) noexcept {
  const std::uint64_t h = id * 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 29);
}

}  // namespace shanraq
