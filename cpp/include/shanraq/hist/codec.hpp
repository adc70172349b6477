// HdrHistogram's V2 encoding (the body that every HdrHistogram implementation
// compresses with zlib and wraps in base64): a 40-byte big-endian header, then
// the counts as ZigZag LEB128 varints with runs of empty slots written as one
// negative number. Compression and base64 are left to the caller (the Python
// layer uses the standard library's zlib), which keeps the core free of
// third-party libraries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "shanraq/hist/histogram.hpp"

namespace shanraq::hist {

// Base cookies; writers set bit 4 (Java: "LSBit of wordsize byte indicates
// TLZE encoding"), and strict readers (the Rust crate) require it.
inline constexpr std::uint32_t kV2EncodingCookie = 0x1c849303;
inline constexpr std::uint32_t kV2CompressedCookie = 0x1c849304;
inline constexpr std::uint32_t kV2CookieFlag = 0x10;
inline constexpr std::size_t kV2HeaderSize = 40;

// The uncompressed V2 payload (header + counts) of `h`.
std::string encode_v2_payload(const Histogram& h);

// Parses an uncompressed V2 payload. Throws std::invalid_argument with the
// reason for a bad cookie, an unsupported variant (normalizing index offset),
// an impossible configuration, a truncated or malformed varint, counts that run
// past the layout or that overflow. Min, max and sum are derived from the
// slots (the encoding does not carry them).
Histogram decode_v2_payload(const std::uint8_t* data, std::size_t size);

}  // namespace shanraq::hist
