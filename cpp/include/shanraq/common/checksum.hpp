// A fast 64-bit checksum for detecting corruption in our own binary formats
// (snapshots). Not cryptographic: it guards against truncation, bit rot and
// mix-ups, not against an adversary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shanraq {

// Word-at-a-time multiply-xor over the bytes, then MurmurHash3's fmix64 so
// every input bit affects every output bit. Same result on every platform
// (words are read little-endian on our little-endian targets).
inline std::uint64_t checksum64(const void* data, std::size_t size, std::uint64_t seed = 0) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed ^ (size * kMul);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, p + i, size - i);
  h = (h ^ tail) * kMul;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

}  // namespace shanraq
