// The byte format every snapshot shares: an 8-byte magic naming the machine,
// a u32 format version, the machine's fields, and a checksum64 of everything
// before it as the last 8 bytes. SnapshotWriter builds it, SnapshotReader
// verifies the envelope before anything is trusted (a configuration read
// from a snapshot sizes allocations) and reads fields with bounds checks, so
// a truncated or corrupt snapshot becomes a precise std::invalid_argument,
// never an out-of-bounds read.
//
// Fields go in as raw little-endian bytes: types with padding are refused at
// compile time, since their padding bytes are indeterminate and two equal
// states would then encode (and hash) differently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "shanraq/common/checksum.hpp"

namespace shanraq {

template <class T>
inline constexpr bool kRawEncodable = std::is_trivially_copyable_v<T> && std::has_unique_object_representations_v<T>;

class SnapshotWriter {
 public:
  // `magic`: exactly 8 characters naming the format, e.g. "SHQBOOK1".
  SnapshotWriter(const char (&magic)[9], std::uint32_t version, std::size_t reserve = 0) {
    out_.reserve(reserve + 8 + 4 + 8);
    out_.append(magic, 8);
    put(version);
  }

  template <class T>
  void put(const T& v) {
    static_assert(kRawEncodable<T>, "snapshot fields must be trivially copyable and have no padding");
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  template <class T>
  void put_array(const T* p, std::size_t n) {
    static_assert(kRawEncodable<T>, "snapshot fields must be trivially copyable and have no padding");
    if (n != 0) out_.append(reinterpret_cast<const char*>(p), n * sizeof(T));
  }
  std::size_t size() const noexcept { return out_.size(); }

  // Appends the checksum and hands the bytes over; the writer is spent.
  std::string finish() {
    const std::uint64_t sum = checksum64(out_.data(), out_.size());
    put(sum);
    return std::move(out_);
  }

 private:
  std::string out_;
};

class SnapshotReader {
 public:
  // Checks the magic, the checksum and the version range before any field
  // is read. `what` names the format in errors ("book snapshot").
  SnapshotReader(const std::uint8_t* data, std::size_t size, const char (&magic)[9], std::uint32_t min_version,
                 std::uint32_t max_version, const char* what)
      : what_(what) {
    if (data == nullptr || size < 8 + 4 + 8 || std::memcmp(data, magic, 8) != 0) {
      throw std::invalid_argument(std::string("not a ") + what + " (wrong magic or too short)");
    }
    std::uint64_t stored;
    std::memcpy(&stored, data + size - 8, 8);
    if (stored != checksum64(data, size - 8)) fail("checksum mismatch");
    p_ = data;
    n_ = size - 8;
    i_ = 8;
    version_ = get<std::uint32_t>();
    if (version_ < min_version || version_ > max_version) {
      fail("format version " + std::to_string(version_) + " is not supported (this build reads " +
           std::to_string(min_version) + ".." + std::to_string(max_version) + ")");
    }
  }

  std::uint32_t version() const noexcept { return version_; }
  std::size_t remaining() const noexcept { return n_ - i_; }

  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_ + i_, sizeof(T));
    i_ += sizeof(T);
    return v;
  }
  template <class T>
  void get_array(T* out, std::size_t n) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (n > remaining() / sizeof(T)) fail("truncated");
    if (n != 0) std::memcpy(out, p_ + i_, n * sizeof(T));
    i_ += n * sizeof(T);
  }
  // A count read from the snapshot, checked against what the rest of the
  // bytes could hold at `min_bytes_each` (so a corrupt count cannot make the
  // caller allocate or loop far beyond the input) and against `limit`.
  std::uint64_t get_count(std::uint64_t limit, std::size_t min_bytes_each, const char* field) {
    const auto n = get<std::uint64_t>();
    if (n > limit || (min_bytes_each != 0 && n > remaining() / min_bytes_each)) {
      fail(std::string(field) + " count " + std::to_string(n) + " is out of range");
    }
    return n;
  }
  // Every byte must have been read.
  void expect_end() const {
    if (i_ != n_) fail(std::to_string(n_ - i_) + " trailing bytes");
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw std::invalid_argument(std::string("corrupt ") + what_ + ": " + why);
  }

 private:
  void need(std::size_t k) const {
    if (k > n_ - i_) fail("truncated");
  }

  const char* what_;
  const std::uint8_t* p_ = nullptr;
  std::size_t n_ = 0;
  std::size_t i_ = 0;
  std::uint32_t version_ = 0;
};

}  // namespace shanraq
