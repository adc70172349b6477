// Standalone SPSC/MPSC figures between two threads (not a CMake target yet):
//   g++ -O2 -std=c++20 -pthread -Icpp/include cpp/bench/queue_throughput.cpp cpp/src/queue/ring.cpp \
//       -o /tmp/queue_throughput && /tmp/queue_throughput
// Prints records/s for single and batched push/pop of 64-byte records, and the
// round-trip latency percentiles of a ping-pong through two rings.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "shanraq/queue/ring.hpp"

using namespace shanraq::queue;
using Clock = std::chrono::steady_clock;

struct Rec {
  std::uint64_t v[8];
};

template <typename Ring>
double throughput(WaitStrategy w, std::size_t batch, std::uint64_t n) {
  Ring ring(sizeof(Rec), 4096, w);
  std::thread producer([&] {
    std::vector<Rec> buf(batch);
    for (std::uint64_t i = 0; i < n;) {
      if (batch == 1) {
        Rec r{{i}};
        ring.push(&r);
        ++i;
      } else {
        const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - i));
        for (std::size_t j = 0; j < k; ++j) buf[j].v[0] = i + j;
        i += ring.push_many(buf.data(), k);
      }
    }
  });
  std::vector<Rec> out(std::max<std::size_t>(batch, 1));
  const auto t0 = Clock::now();
  std::uint64_t sum = 0;
  for (std::uint64_t got = 0; got < n;) {
    const std::size_t k = batch == 1 ? (ring.pop(out.data()) ? 1 : 0) : ring.pop_many(out.data(), batch);
    for (std::size_t j = 0; j < k; ++j) sum += out[j].v[0];
    got += k;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  producer.join();
  if (sum != n * (n - 1) / 2) std::printf("checksum mismatch!\n");
  return static_cast<double>(n) / s;
}

void pingpong(WaitStrategy w, int n) {
  SpscRing there(sizeof(Rec), 64, w), back(sizeof(Rec), 64, w);
  std::thread echo([&] {
    Rec r{};
    for (int i = 0; i < n; ++i) {
      there.pop(&r);
      back.push(&r);
    }
  });
  std::vector<double> rt;
  rt.reserve(static_cast<std::size_t>(n));
  Rec r{};
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    there.push(&r);
    back.pop(&r);
    rt.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
  }
  echo.join();
  std::sort(rt.begin(), rt.end());
  auto pct = [&](double p) { return rt[static_cast<std::size_t>(p / 100.0 * (rt.size() - 1))]; };
  std::printf("  ping-pong round trip: p50 %.0f ns, p99 %.0f ns, p99.9 %.0f ns\n", pct(50), pct(99), pct(99.9));
}

int main() {
  const char* names[] = {"spin", "yield", "blocking"};
  for (auto w : {WaitStrategy::kBusySpin, WaitStrategy::kBlocking}) {
    std::printf("wait=%s\n", names[static_cast<int>(w)]);
    std::printf("  SPSC single  %.1f M records/s\n", throughput<SpscRing>(w, 1, 20'000'000) / 1e6);
    std::printf("  SPSC batch64 %.1f M records/s\n", throughput<SpscRing>(w, 64, 50'000'000) / 1e6);
    std::printf("  MPSC single  %.1f M records/s (1 producer)\n", throughput<MpscRing>(w, 1, 20'000'000) / 1e6);
    std::printf("  MPSC batch64 %.1f M records/s (1 producer)\n", throughput<MpscRing>(w, 64, 50'000'000) / 1e6);
    pingpong(w, 200000);
  }
}
