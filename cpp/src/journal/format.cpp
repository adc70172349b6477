#include "shanraq/journal/format.hpp"

#include <cstdio>

namespace shanraq::journal {

namespace {
std::string pad20(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(v));
  return buf;
}
bool parse20(const std::string& s, std::size_t at, std::uint64_t* out) {
  if (s.size() < at + 20) return false;
  std::uint64_t v = 0;
  for (std::size_t i = at; i < at + 20; ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}
}  // namespace

std::string segment_name(std::uint64_t first_seq) { return pad20(first_seq) + ".wal"; }
std::string snapshot_name(std::uint64_t seq) { return "snap-" + pad20(seq) + ".snap"; }

bool parse_segment_name(const std::string& name, std::uint64_t* first_seq) {
  return name.size() == 24 && name.compare(20, 4, ".wal") == 0 && parse20(name, 0, first_seq) && *first_seq != 0;
}
bool parse_snapshot_name(const std::string& name, std::uint64_t* seq) {
  return name.size() == 30 && name.compare(0, 5, "snap-") == 0 && name.compare(25, 5, ".snap") == 0 &&
         parse20(name, 5, seq) && *seq != 0;
}

std::uint32_t segment_header_crc(const SegmentHeader& h) noexcept {
  SegmentHeader c = h;
  c.header_crc = 0;
  return crc32c(&c, sizeof c);
}
std::uint32_t frame_header_crc(const FrameHeader& h) noexcept {
  return crc32c(reinterpret_cast<const std::uint8_t*>(&h) + 8, sizeof h - 8);
}
std::uint32_t snapshot_header_crc(const SnapshotHeader& h) noexcept {
  SnapshotHeader c = h;
  c.header_crc = 0;
  return crc32c(&c, sizeof c);
}

}  // namespace shanraq::journal
