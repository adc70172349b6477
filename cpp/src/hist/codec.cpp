#include "shanraq/hist/codec.hpp"

#include <bit>
#include <cstring>
#include <stdexcept>

namespace shanraq::hist {

namespace {

void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::uint32_t get_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::uint64_t get_be64(const std::uint8_t* p) { return (std::uint64_t{get_be32(p)} << 32) | get_be32(p + 4); }

// HdrHistogram's ZigZag LEB128: up to eight 7-bit groups, then a ninth byte
// carrying the top 8 bits whole (so 64 bits fit in 9 bytes, not 10).
void put_zigzag(std::string& out, std::int64_t value) {
  std::uint64_t v = (static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63);
  for (int i = 0; i < 8; ++i) {
    if ((v >> 7) == 0) {
      out.push_back(static_cast<char>(v));
      return;
    }
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

[[noreturn]] void bad(const std::string& why) {
  throw std::invalid_argument("invalid HdrHistogram V2 encoding: " + why);
}

std::int64_t get_zigzag(const std::uint8_t*& p, const std::uint8_t* end) {
  std::uint64_t v = 0;
  int shift = 0;
  for (int i = 0; i < 9; ++i) {
    if (p == end) bad("truncated varint");
    const std::uint8_t b = *p++;
    if (i == 8) {
      v |= std::uint64_t{b} << 56;
      break;
    }
    v |= std::uint64_t{b & 0x7fu} << shift;
    shift += 7;
    if ((b & 0x80) == 0) break;
  }
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

}  // namespace

std::string encode_v2_payload(const Histogram& h) {
  const Layout& l = h.layout();
  std::int32_t limit = 0;  // one past the last non-empty slot
  for (std::int32_t i = l.counts_len - 1; i >= 0; --i) {
    if (h.count_at_index(i) != 0) {
      limit = i + 1;
      break;
    }
  }
  std::string body;
  body.reserve(static_cast<std::size_t>(limit) + 16);
  for (std::int32_t i = 0; i < limit; ++i) {
    const std::uint64_t c = h.count_at_index(i);
    if (c == 0) {
      std::int64_t zeros = 1;
      while (i + 1 < limit && h.count_at_index(i + 1) == 0) {
        ++zeros;
        ++i;
      }
      put_zigzag(body, zeros > 1 ? -zeros : 0);
    } else {
      // The format's counts are signed 64-bit; a slot above 2^63 - 1 cannot
      // be written faithfully.
      if (c > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw std::overflow_error("a slot count above 2^63 - 1 cannot be V2-encoded");
      }
      put_zigzag(body, static_cast<std::int64_t>(c));
    }
  }
  std::string out;
  out.reserve(kV2HeaderSize + body.size());
  put_be32(out, kV2EncodingCookie | kV2CookieFlag);
  put_be32(out, static_cast<std::uint32_t>(body.size()));
  put_be32(out, 0);  // normalizing index offset
  put_be32(out, static_cast<std::uint32_t>(l.significant_figures));
  put_be64(out, static_cast<std::uint64_t>(l.lowest_discernible_value));
  put_be64(out, static_cast<std::uint64_t>(l.highest_trackable_value));
  put_be64(out, std::bit_cast<std::uint64_t>(1.0));  // integer-to-double conversion ratio
  out += body;
  return out;
}

Histogram decode_v2_payload(const std::uint8_t* data, std::size_t size) {
  if (size < kV2HeaderSize) bad("shorter than the 40-byte header");
  const std::uint32_t cookie = get_be32(data);
  // Bits 4..7 carry a word size in some writers (the Python package sets
  // 0x10); HdrHistogram's readers ignore them, and so do we.
  if ((cookie & ~0xf0u) != kV2EncodingCookie) {
    if ((cookie & ~0xf0u) == 0x1c849301 || (cookie & ~0xf0u) == 0x1c849302) bad("V0/V1 encodings are not supported");
    bad("unknown cookie");
  }
  const std::uint32_t payload_len = get_be32(data + 4);
  const auto normalizing_offset = static_cast<std::int32_t>(get_be32(data + 8));
  const auto digits = static_cast<std::int32_t>(get_be32(data + 12));
  const auto lowest = static_cast<std::int64_t>(get_be64(data + 16));
  const auto highest = static_cast<std::int64_t>(get_be64(data + 24));
  if (payload_len != size - kV2HeaderSize) bad("payload length does not match the data");
  if (normalizing_offset != 0) bad("a non-zero normalizing index offset (shifted histogram) is not supported");
  Layout layout;
  try {
    layout = Layout::make(lowest, highest, digits);
  } catch (const std::invalid_argument& e) {
    bad(e.what());
  }
  Histogram h(layout);
  const std::uint8_t* p = data + kV2HeaderSize;
  const std::uint8_t* end = data + size;
  std::int64_t index = 0;
  while (p < end) {
    const std::int64_t v = get_zigzag(p, end);
    if (v < 0) {
      if (v == std::numeric_limits<std::int64_t>::min() || -v > layout.counts_len - index)
        bad("zero run past the last slot");
      index += -v;
    } else {
      if (index >= layout.counts_len) bad("counts past the last slot");
      if (v != 0) h.set_count_at_index(static_cast<std::int32_t>(index), static_cast<std::uint64_t>(v));
      ++index;
    }
  }
  try {
    h.recompute_stats_from_counts();
  } catch (const std::overflow_error&) {
    bad("counts add up to more than 2^64 - 1");
  }
  return h;
}

}  // namespace shanraq::hist
