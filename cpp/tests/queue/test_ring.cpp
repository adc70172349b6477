// Single-thread semantics of SpscRing and MpscRing, and the shared-memory life
// cycle (create, attach, mismatch, stale cleanup).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "shanraq/queue/ring.hpp"

using namespace shanraq::queue;
using namespace std::chrono_literals;

namespace {

struct Rec {
  std::uint64_t seq;
  std::uint32_t producer;
  std::uint32_t check;  // seq * 2654435761 truncated: a torn record fails it
};
Rec make(std::uint64_t seq, std::uint32_t producer = 0) {
  return {seq, producer, static_cast<std::uint32_t>(seq * 2654435761u) ^ producer};
}
bool intact(const Rec& r) { return r.check == (static_cast<std::uint32_t>(r.seq * 2654435761u) ^ r.producer); }

std::string unique_name(const char* what) {
  return std::string("/shanraq_test_") + what + "_" + std::to_string(::getpid());
}

using RingTypes = ::testing::Types<SpscRing, MpscRing, MpmcRing>;

}  // namespace

template <typename Ring>
class RingSemantics : public ::testing::Test {};
TYPED_TEST_SUITE(RingSemantics, RingTypes);

TYPED_TEST(RingSemantics, RejectsBadShapes) {
  EXPECT_THROW(TypeParam(8, 0), std::invalid_argument);
  EXPECT_THROW(TypeParam(8, 3), std::invalid_argument);
  EXPECT_THROW(TypeParam(8, 1000), std::invalid_argument);
  EXPECT_THROW(TypeParam(0, 4), std::invalid_argument);
  EXPECT_THROW(TypeParam(kMaxRecordSize + 1, 4), std::invalid_argument);
  EXPECT_THROW(TypeParam(8, (std::size_t{1} << 31)), std::invalid_argument);
}

TYPED_TEST(RingSemantics, FifoFullEmptyAndWraparound) {
  TypeParam ring(sizeof(Rec), 4);
  EXPECT_EQ(ring.capacity(), 4u);
  EXPECT_EQ(ring.record_size(), sizeof(Rec));
  Rec out{};
  EXPECT_FALSE(ring.try_pop(&out));
  std::uint64_t pushed = 0, popped = 0;
  // Many laps with varying fill levels exercise every wraparound offset.
  for (int round = 0; round < 50; ++round) {
    const int fill = round % 5;
    for (int i = 0; i < fill; ++i) {
      const Rec r = make(pushed);
      ASSERT_TRUE(ring.try_push(&r));
      ++pushed;
    }
    EXPECT_EQ(ring.size(), static_cast<std::size_t>(fill));
    if (fill == 4) {
      const Rec r = make(999);
      EXPECT_FALSE(ring.try_push(&r));
    }
    for (int i = 0; i < fill; ++i) {
      ASSERT_TRUE(ring.try_pop(&out));
      EXPECT_EQ(out.seq, popped++);
      EXPECT_TRUE(intact(out));
    }
    EXPECT_FALSE(ring.try_pop(&out));
  }
}

TYPED_TEST(RingSemantics, CapacityOneAndTwo) {
  for (std::size_t cap : {1u, 2u}) {
    TypeParam ring(sizeof(Rec), cap);
    Rec out{};
    for (std::uint64_t i = 0; i < 20; ++i) {
      for (std::size_t j = 0; j < cap; ++j) {
        const Rec r = make(i * cap + j);
        ASSERT_TRUE(ring.try_push(&r));
      }
      const Rec extra = make(0);
      EXPECT_FALSE(ring.try_push(&extra));
      for (std::size_t j = 0; j < cap; ++j) {
        ASSERT_TRUE(ring.try_pop(&out));
        EXPECT_EQ(out.seq, i * cap + j);
      }
      EXPECT_FALSE(ring.try_pop(&out));
    }
  }
}

TYPED_TEST(RingSemantics, OddRecordSizes) {
  for (std::size_t rs : {1u, 3u, 13u, 64u, 1000u}) {
    TypeParam ring(rs, 8);
    std::vector<unsigned char> in(rs), out(rs);
    for (int i = 0; i < 30; ++i) {
      for (std::size_t b = 0; b < rs; ++b) in[b] = static_cast<unsigned char>(i * 31 + b);
      ASSERT_TRUE(ring.try_push(in.data()));
      ASSERT_TRUE(ring.try_pop(out.data()));
      EXPECT_EQ(in, out);
    }
  }
}

TYPED_TEST(RingSemantics, BatchesWrapAndStopAtCapacity) {
  TypeParam ring(sizeof(Rec), 8);
  std::vector<Rec> in, out(16);
  for (std::uint64_t i = 0; i < 64; ++i) in.push_back(make(i));
  std::uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 20; ++round) {
    const std::size_t want = 1 + round % 11;
    const std::size_t n = ring.try_push_many(&in[next_in % 48], want);
    EXPECT_LE(n, want);
    // try_push_many pushes records in[next_in % 48 ...]; remember their seqs.
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(in[next_in % 48 + i].seq, next_in % 48 + i);
    const std::size_t m = ring.try_pop_many(out.data(), 1 + round % 7);
    for (std::size_t i = 0; i < m; ++i) EXPECT_TRUE(intact(out[i]));
    next_in += n;
    next_out += m;
    EXPECT_EQ(ring.size(), next_in - next_out);
  }
  // Fill exactly: a batch larger than the room pushes only what fits.
  while (ring.try_pop_many(out.data(), 16) != 0) {
  }
  EXPECT_EQ(ring.try_push_many(in.data(), 20), 8u);
  EXPECT_EQ(ring.try_push_many(in.data(), 1), 0u);
  EXPECT_EQ(ring.try_pop_many(out.data(), 16), 8u);
  for (std::uint64_t i = 0; i < 8; ++i) EXPECT_EQ(out[i].seq, i);
}

TYPED_TEST(RingSemantics, TimeoutsExpire) {
  TypeParam ring(sizeof(Rec), 2);
  Rec out{};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ring.pop(&out, 30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  EXPECT_EQ(ring.pop_many(&out, 1, 5ms), 0u);
  const Rec r = make(1);
  EXPECT_TRUE(ring.push(&r, 0ns));
  EXPECT_TRUE(ring.push(&r, 0ns));
  EXPECT_FALSE(ring.push(&r, 0ns));
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ring.push(&r, 20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  const std::array<Rec, 3> three{make(1), make(2), make(3)};
  EXPECT_EQ(ring.push_many(three.data(), 3, 10ms), 0u);
}

TYPED_TEST(RingSemantics, CloseDrainsThenThrows) {
  TypeParam ring(sizeof(Rec), 4);
  const Rec a = make(1), b = make(2);
  ASSERT_TRUE(ring.try_push(&a));
  ASSERT_TRUE(ring.try_push(&b));
  EXPECT_FALSE(ring.closed());
  ring.close();
  ring.close();  // idempotent
  EXPECT_TRUE(ring.closed());
  EXPECT_THROW(ring.try_push(&a), Closed);
  EXPECT_THROW(ring.push(&a), Closed);
  Rec out{};
  EXPECT_TRUE(ring.pop(&out));
  EXPECT_EQ(out.seq, 1u);
  EXPECT_EQ(ring.try_pop_many(&out, 4), 1u);
  EXPECT_EQ(out.seq, 2u);
  EXPECT_THROW(ring.try_pop(&out), Closed);
  EXPECT_THROW(ring.pop(&out), Closed);
  EXPECT_THROW(ring.pop_many(&out, 4), Closed);
}

// Zero-copy consumption: peek shows records in place without consuming them,
// stops at the wrap point, keeps their slots from producers until release,
// and release consumes exactly what was peeked.
template <typename Ring>
void peek_and_release_in_place() {
  Ring ring(sizeof(Rec), 8);
  auto rec_at = [](const RecordSpan& span, std::size_t i) {
    Rec r;
    std::memcpy(&r, span[i], sizeof r);
    return r;
  };
  EXPECT_EQ(ring.peek(4).count, 0u);
  EXPECT_THROW(ring.release(1), std::invalid_argument);
  for (std::uint64_t i = 0; i < 6; ++i) {
    const Rec r = make(i);
    ASSERT_TRUE(ring.try_push(&r));
  }
  RecordSpan span = ring.peek(4);
  ASSERT_EQ(span.count, 4u);
  EXPECT_GE(span.stride, sizeof(Rec));
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rec_at(span, i).seq, i);
  // Not consumed: the same records again, and they still count.
  EXPECT_EQ(ring.peek(2).count, 2u);
  EXPECT_EQ(ring.size(), 6u);
  EXPECT_THROW(ring.release(3), std::invalid_argument);  // only 2 peeked now
  ring.release(2);
  EXPECT_EQ(ring.size(), 4u);
  span = ring.peek(100);
  ASSERT_EQ(span.count, 4u);
  EXPECT_EQ(rec_at(span, 0).seq, 2u);
  // Fill the ring: the peeked slots are still ours, so the producer stops
  // at capacity and never touches them.
  for (std::uint64_t i = 6; i < 10; ++i) {
    const Rec r = make(i);
    ASSERT_TRUE(ring.try_push(&r));
  }
  const Rec extra = make(99);
  EXPECT_FALSE(ring.try_push(&extra));
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rec_at(span, i).seq, 2 + i);
  ring.release(1);
  ring.release(3);
  // Head is now at slot 6 of 8: the next peek stops at the wrap point.
  span = ring.peek(100);
  ASSERT_EQ(span.count, 2u);
  EXPECT_EQ(rec_at(span, 0).seq, 6u);
  EXPECT_EQ(rec_at(span, 1).seq, 7u);
  ring.release(2);
  span = ring.peek(100);
  ASSERT_EQ(span.count, 2u);
  EXPECT_EQ(rec_at(span, 0).seq, 8u);
  EXPECT_TRUE(intact(rec_at(span, 1)));
  // Any other consuming call drops the peeked count.
  Rec out{};
  ASSERT_TRUE(ring.try_pop(&out));
  EXPECT_EQ(out.seq, 8u);
  EXPECT_THROW(ring.release(1), std::invalid_argument);
  span = ring.peek(1, 10ms);
  ASSERT_EQ(span.count, 1u);
  ring.release(1);
  EXPECT_EQ(ring.peek(1, 1ms).count, 0u);  // times out empty
  ring.close();
  EXPECT_THROW(ring.peek(1), Closed);
}

TYPED_TEST(RingSemantics, PeekAndReleaseInPlace) {
  if constexpr (std::is_same_v<TypeParam, MpmcRing>) {
    // Several consumers cannot share a run: not offered (deleted in
    // MpmcRing), and refused through the MpscRing base the bindings use.
    TypeParam ring(sizeof(Rec), 8);
    const Rec r = make(1);
    ASSERT_TRUE(ring.try_push(&r));
    MpscRing& base = ring;
    EXPECT_THROW((void)base.peek(4), std::logic_error);
    EXPECT_THROW(base.release(0), std::logic_error);
    Rec out{};
    EXPECT_TRUE(ring.try_pop(&out));  // the record is still there
    EXPECT_EQ(out.seq, 1u);
  } else {
    peek_and_release_in_place<TypeParam>();
  }
}

TYPED_TEST(RingSemantics, SharedCreateAttachMismatch) {
  const std::string name = unique_name("cam");
  unlink_segment(name);
  {
    auto owner = TypeParam::create(name, {sizeof(Rec), 16, "[('seq','<u8'),('p','<u4'),('c','<u4')]"});
    EXPECT_TRUE(owner.shared());
    EXPECT_TRUE(owner.owner());
    EXPECT_EQ(owner.owner_pid(), ::getpid());
    EXPECT_TRUE(segment_owner_alive(name));
    EXPECT_THROW(TypeParam::create(name, {sizeof(Rec), 16, ""}), AlreadyExists);
    auto peer = TypeParam::attach(name);
    EXPECT_FALSE(peer.owner());
    EXPECT_EQ(peer.capacity(), 16u);
    EXPECT_EQ(peer.record_size(), sizeof(Rec));
    EXPECT_EQ(peer.dtype(), "[('seq','<u8'),('p','<u4'),('c','<u4')]");
    const Rec r = make(7);
    ASSERT_TRUE(owner.try_push(&r));
    Rec out{};
    ASSERT_TRUE(peer.try_pop(&out));
    EXPECT_EQ(out.seq, 7u);
    EXPECT_THROW(TypeParam::attach(name, {sizeof(Rec) + 8, 0, ""}), LayoutMismatch);
    EXPECT_THROW(TypeParam::attach(name, {0, 32, ""}), LayoutMismatch);
    EXPECT_THROW(TypeParam::attach(name, {0, 0, "<i8"}), LayoutMismatch);
    EXPECT_NO_THROW(TypeParam::attach(name, {sizeof(Rec), 16, ""}));
    if constexpr (std::is_same_v<TypeParam, SpscRing>) {
      EXPECT_THROW(MpscRing::attach(name), LayoutMismatch);
    } else {
      EXPECT_THROW(SpscRing::attach(name), LayoutMismatch);
    }
    // A closed flag set through one mapping is seen through the other.
    peer.close();
    EXPECT_TRUE(owner.closed());
  }
  // The owner unlinked the segment.
  EXPECT_THROW(TypeParam::attach(name), QueueError);
  EXPECT_FALSE(unlink_segment(name));
}

TYPED_TEST(RingSemantics, StaleSegmentOfDeadOwnerIsReplaced) {
  const std::string name = unique_name("stale");
  unlink_segment(name);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Create and die without unlinking: a crashed owner.
    auto ring = TypeParam::create(name, {sizeof(Rec), 8, ""});
    const Rec r = make(1);
    (void)ring.try_push(&r);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_FALSE(segment_owner_alive(name));
  // Still attachable (a consumer may drain what the dead owner left).
  {
    auto peer = TypeParam::attach(name);
    Rec out{};
    EXPECT_TRUE(peer.try_pop(&out));
  }
  EXPECT_THROW(TypeParam::create(name, {sizeof(Rec), 8, ""}, WaitStrategy::kBlocking, false), AlreadyExists);
  auto fresh = TypeParam::create(name, {sizeof(Rec), 8, ""});
  EXPECT_EQ(fresh.owner_pid(), ::getpid());
  Rec out{};
  EXPECT_FALSE(fresh.try_pop(&out));
}

TEST(SharedRing, BadNamesAndCleanup) {
  EXPECT_THROW(SpscRing::create("", {8, 4, ""}), std::invalid_argument);
  EXPECT_THROW(SpscRing::create("a/b", {8, 4, ""}), std::invalid_argument);
  EXPECT_THROW(SpscRing::create(unique_name("bad"), {8, 3, ""}), std::invalid_argument);
  EXPECT_FALSE(cleanup_stale(unique_name("nothing")));
  const std::string name = unique_name("live");
  auto ring = SpscRing::create(name, {8, 4, ""});
  EXPECT_FALSE(cleanup_stale(name));  // its owner (us) is alive
}

// A producer killed between publishing a slot (its seq) and storing the tail
// leaves the tail one behind a record the consumer then takes. Simulated by
// winding the tail back in the segment: the next producer handle must adopt
// the published slot, not overwrite it, and must not see the ring as full.
TEST(SharedRing, SpscNextProducerAdoptsSlotsPublishedBeforeTheTail) {
  const std::string name = unique_name("adopt");
  auto consumer = SpscRing::create(name, {sizeof(Rec), 4, ""});
  {
    auto first = SpscRing::attach(name);
    for (std::uint64_t i = 0; i < 3; ++i) {
      const Rec r = make(i);
      ASSERT_TRUE(first.try_push(&r));
    }
  }
  const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  void* base = ::mmap(nullptr, sizeof(detail::Header), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(base, MAP_FAILED);
  static_cast<detail::Header*>(base)->tail.store(1);  // records 1 and 2 published, tail not moved
  EXPECT_EQ(consumer.size(), 1u);
  Rec out{};
  for (std::uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(consumer.try_pop(&out));
    EXPECT_EQ(out.seq, i);
  }
  EXPECT_EQ(consumer.size(), 0u);  // head is past the stale tail
  auto second = SpscRing::attach(name);
  for (std::uint64_t i = 3; i < 7; ++i) {  // a full ring's worth
    const Rec r = make(i);
    ASSERT_TRUE(second.try_push(&r)) << i;
  }
  const Rec extra = make(99);
  EXPECT_FALSE(second.try_push(&extra));  // full: head 3, tail 7
  for (std::uint64_t i = 3; i < 7; ++i) {
    ASSERT_TRUE(consumer.try_pop(&out));
    EXPECT_TRUE(intact(out));
    EXPECT_EQ(out.seq, i);
  }
  EXPECT_FALSE(consumer.try_pop(&out));
  ::munmap(base, sizeof(detail::Header));
}

// A wait whose spin runs out and that then ends empty (or much later) halves
// the handle's spin budget, down to 1 us, so an idle or core-sharing waiter
// stops burning CPU; kBusySpin keeps its full spin; a wait cut short by its
// deadline during the spin says nothing and changes nothing.
TYPED_TEST(RingSemantics, SpinBudgetShrinksWhenSpinsFail) {
  TypeParam ring(sizeof(Rec), 8, WaitStrategy::kBlocking);
  EXPECT_EQ(ring.spin_budget(true), 30us);
  EXPECT_EQ(ring.spin_budget(false), 30us);
  Rec out{};
  std::vector<std::chrono::nanoseconds> seen;
  for (int i = 0; i < 6; ++i) {
    EXPECT_FALSE(ring.pop(&out, 2ms));
    seen.push_back(ring.spin_budget(true));
  }
  EXPECT_EQ(seen.front(), 15us);
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
  EXPECT_EQ(seen.back(), 1us);
  EXPECT_EQ(ring.spin_budget(false), 30us);  // the producer direction is separate
  TypeParam other(sizeof(Rec), 8, WaitStrategy::kYield);
  EXPECT_FALSE(other.pop(&out, 5us));
  EXPECT_EQ(other.spin_budget(true), 30us);
  TypeParam busy(sizeof(Rec), 8, WaitStrategy::kBusySpin);
  EXPECT_FALSE(busy.pop(&out, 2ms));
  EXPECT_EQ(busy.spin_budget(true), 30us);
}

// ... and grows back when a spin catches the record, or when it comes soon
// after the spin gave up (a longer spin would have caught it): a peer thread
// pushes at once or about 10 us into each wait (a busy wait by the clock:
// sleep_for would add the 50 us timer slack). Waits whose yield let another
// task run shrink instead, and timing on a loaded machine is not ours to
// control, so the test only asks that the budget grew in some of up to 200
// such waits.
TYPED_TEST(RingSemantics, SpinBudgetGrowsWhenRecordsComeSoon) {
  TypeParam ring(sizeof(Rec), 8, WaitStrategy::kBlocking);
  Rec out{};
  for (int i = 0; i < 6; ++i) (void)ring.pop(&out, 2ms);
  ASSERT_EQ(ring.spin_budget(true), 1us);
  std::atomic<int> go{-1};
  std::thread peer([&] {
    for (int done = 0;;) {
      const int attempt = go.load(std::memory_order_acquire);
      if (attempt == 1000) return;
      if (attempt != done) {  // not asked yet (or already served)
        std::this_thread::yield();
        continue;
      }
      // Even attempts push at once (the 1 us spin may catch it), odd ones
      // after ~10 us (the record comes soon after the spin gave up).
      const auto until = std::chrono::steady_clock::now() + (attempt % 2 == 0 ? 0us : 10us);
      while (std::chrono::steady_clock::now() < until) {
      }
      const Rec r = make(static_cast<std::uint64_t>(attempt));
      if (!ring.push(&r, 5s)) return;
      ++done;
    }
  });
  bool grew = false;
  int attempt = 0;
  for (; attempt < 200 && !grew; ++attempt) {
    const auto before = ring.spin_budget(true);
    go.store(attempt, std::memory_order_release);
    ASSERT_TRUE(ring.pop(&out, 5s));
    EXPECT_EQ(out.seq, static_cast<std::uint64_t>(attempt));
    grew = ring.spin_budget(true) > before;
  }
  go.store(1000, std::memory_order_release);
  peer.join();
  EXPECT_TRUE(grew);
}
