#include <gtest/gtest.h>

#include <random>

#include "shanraq/hist/codec.hpp"

using namespace shanraq::hist;

namespace {
Histogram decode(const std::string& s) {
  return decode_v2_payload(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}
}  // namespace

TEST(Codec, RoundTripsCounts) {
  std::mt19937_64 rng(3);
  Histogram h(1, 3'600'000'000'000, 3);
  for (int i = 0; i < 10000; ++i) h.record(static_cast<std::int64_t>(rng() % 100'000'000));
  h.record(5, 1ULL << 40);
  const std::string payload = encode_v2_payload(h);
  const Histogram back = decode(payload);
  ASSERT_EQ(back.layout(), h.layout());
  for (std::int32_t i = 0; i < h.counts_len(); ++i) ASSERT_EQ(back.count_at_index(i), h.count_at_index(i));
  EXPECT_EQ(back.total_count(), h.total_count());
  EXPECT_EQ(encode_v2_payload(back), payload);
}

TEST(Codec, HeaderIsHdrHistogramV2) {
  Histogram h(1, 1000, 2);
  h.record(3);
  const std::string p = encode_v2_payload(h);
  ASSERT_GE(p.size(), kV2HeaderSize);
  EXPECT_EQ(static_cast<unsigned char>(p[0]), 0x1c);
  EXPECT_EQ(static_cast<unsigned char>(p[3]), 0x13);
  // counts: three zero-slots as a run (-3 -> zigzag 5), then 1 (-> 2)
  EXPECT_EQ(p.substr(kV2HeaderSize), std::string("\x05\x02", 2));
}

TEST(Codec, RejectsCorruptInput) {
  Histogram h;
  h.record(12345);
  const std::string good = encode_v2_payload(h);
  EXPECT_THROW(decode(good.substr(0, 20)), std::invalid_argument);
  EXPECT_THROW(decode(good.substr(0, good.size() - 1)), std::invalid_argument);
  std::string bad = good;
  bad[0] = 0;
  EXPECT_THROW(decode(bad), std::invalid_argument);
  bad = good;
  bad[15] = 9;  // significant figures 9
  EXPECT_THROW(decode(bad), std::invalid_argument);
  bad = good;
  bad[11] = 1;  // normalizing index offset
  EXPECT_THROW(decode(bad), std::invalid_argument);
  // A zero run longer than the layout.
  std::string runaway = good.substr(0, kV2HeaderSize);
  runaway += std::string("\xff\xff\xff\xff\x0f", 5);  // zigzag -2^31
  runaway[7] = 5;
  runaway[6] = 0;
  runaway[5] = 0;
  runaway[4] = 0;
  EXPECT_THROW(decode(runaway), std::invalid_argument);
  // Fuzz: random bytes after a valid header never crash.
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::string f = good.substr(0, kV2HeaderSize);
    const int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) f.push_back(static_cast<char>(rng()));
    const auto len = static_cast<std::uint32_t>(n);
    f[4] = static_cast<char>(len >> 24);
    f[5] = static_cast<char>(len >> 16);
    f[6] = static_cast<char>(len >> 8);
    f[7] = static_cast<char>(len);
    try {
      const Histogram d = decode(f);
      EXPECT_LE(d.total_count(), UINT64_MAX);
    } catch (const std::invalid_argument&) {
    }
  }
}
