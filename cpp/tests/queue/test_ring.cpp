// Semantics of SpscRing, MpscRing and MpmcRing on one thread (or a peer that
// waits for an observable state before it acts), the shared-memory life
// cycle (create, attach, mismatch, stale cleanup), crashed and forged states
// built through the private layout, and the spin-budget rule.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "detail/layout.hpp"
#include "detail/os.hpp"
#include "detail/spin_budget.hpp"
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

// Long enough for any wait in these tests to succeed on a slow, loaded
// machine; a wait that needs it has hung.
constexpr auto kPatience = 60s;

// Waits (politely) until pred() holds; false if it never does.
template <typename Pred>
bool eventually(Pred pred) {
  const auto until = std::chrono::steady_clock::now() + kPatience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(50us);
  }
  return true;
}

// A named segment mapped into this test, to read and forge the ring's
// private state (detail/layout.hpp) the way a crashed or foreign process
// would have left it.
class Segment {
 public:
  explicit Segment(const std::string& name) {
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) throw std::runtime_error("shm_open " + name);
    struct stat st{};
    ::fstat(fd, &st);
    size_ = static_cast<std::size_t>(st.st_size);
    base_ = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap " + name);
  }
  ~Segment() { ::munmap(base_, size_); }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  detail::Header& header() const { return *static_cast<detail::Header*>(base_); }
  template <typename Slot>
  Slot& slot(std::uint64_t pos) const {
    detail::Header& h = header();
    auto* p = static_cast<std::byte*>(base_) + sizeof(detail::Header) + (pos & (h.capacity - 1)) * h.slot_stride;
    return *detail::slot_at<Slot>(p);
  }

 private:
  void* base_ = nullptr;
  std::size_t size_ = 0;
};

// A live process (our parent: ctest or the shell) as a process whose pid it
// reused would look: same pid, another start time.
detail::ProcessTag reused_pid_tag() {
  const detail::ProcessTag live = detail::tag_of(static_cast<std::int32_t>(::getppid()));
  return detail::make_tag(detail::pid_of(live), detail::start_of(live) + 1);
}

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

// A timed wait that nothing satisfies ends empty-handed, and takes nothing.
TYPED_TEST(RingSemantics, TimeoutsExpire) {
  TypeParam ring(sizeof(Rec), 2);
  Rec out = make(77);
  EXPECT_FALSE(ring.pop(&out, 30ms));
  EXPECT_EQ(out.seq, 77u);  // untouched
  EXPECT_EQ(ring.pop_many(&out, 1, 5ms), 0u);
  const Rec r = make(1);
  EXPECT_TRUE(ring.push(&r, 0ns));
  EXPECT_TRUE(ring.push(&r, 0ns));
  EXPECT_FALSE(ring.push(&r, 0ns));
  EXPECT_FALSE(ring.push(&r, 20ms));
  const std::array<Rec, 3> three{make(1), make(2), make(3)};
  EXPECT_EQ(ring.push_many(three.data(), 3, 10ms), 0u);
  EXPECT_EQ(ring.size(), 2u);
}

// ... and one that is satisfied while it waits returns what came: the peer
// acts only once the waiter has announced itself as a sleeper, so the wait
// has begun (and passed its spin) whatever the machine's speed.
TYPED_TEST(RingSemantics, TimedWaitsEndWithWhatComes) {
  TypeParam ring(sizeof(Rec), 1, WaitStrategy::kBlocking);
  Rec out{};
  std::thread consumer([&] { EXPECT_TRUE(ring.pop(&out, kPatience)); });
  ASSERT_TRUE(eventually([&] { return ring.sleeping_consumers() > 0; }));
  const Rec a = make(5), b = make(6);
  ASSERT_TRUE(ring.try_push(&a));
  consumer.join();
  EXPECT_EQ(out.seq, 5u);
  ASSERT_TRUE(ring.try_push(&a));  // full again
  std::thread producer([&] { EXPECT_TRUE(ring.push(&b, kPatience)); });
  ASSERT_TRUE(eventually([&] { return ring.sleeping_producers() > 0; }));
  ASSERT_TRUE(ring.try_pop(&out));
  producer.join();
  EXPECT_EQ(out.seq, 5u);
  ASSERT_TRUE(ring.try_pop(&out));
  EXPECT_EQ(out.seq, 6u);
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

// Several consumers cannot share a run of slots: MpmcRing has no peek or
// release, and is a type of its own, not an MpscRing that could be used as
// one (by the runner, say, which takes an MpscRing of commands).
template <typename Ring>
concept Peekable = requires(Ring& r) {
  r.peek(std::size_t{1});
  r.release(std::size_t{1});
};
static_assert(Peekable<SpscRing> && Peekable<MpscRing> && !Peekable<MpmcRing>);
static_assert(!std::is_convertible_v<MpmcRing&, MpscRing&> && !std::is_convertible_v<MpscRing&, MpmcRing&>);

TEST(PeekRelease, SpscInPlace) { peek_and_release_in_place<SpscRing>(); }
TEST(PeekRelease, MpscInPlace) { peek_and_release_in_place<MpscRing>(); }

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
  Segment seg(name);
  seg.header().tail.store(1);  // records 1 and 2 published, tail not moved
  seg.header().batch_end.store(1);
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
  EXPECT_EQ(consumer.lost(), 0u);
}

// A producer killed in a batch after publishing its later slots but before
// its first (published last, so that a waiting consumer sees the batch only
// once it is complete): those records are beyond a slot no consumer gets
// past. The successor must discard them (lost() counts them) before it
// publishes that slot, or the consumer would go on into them: the dead
// producer's records after the successor's, and the successor's next
// records written into slots the consumer takes (or has taken) them from.
// The crash is real and deterministic: the batch's first record sits in
// unreadable memory, and the producer copies it last.
TEST(SharedRing, SpscSuccessorDiscardsABatchItsPredecessorDiedPublishing) {
  const std::string name = unique_name("midbatch");
  constexpr std::size_t kCap = 8;
  auto consumer = SpscRing::create(name, {sizeof(Rec), kCap, ""});
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto mine = SpscRing::attach(name);
    for (std::uint64_t i = 0; i < 2; ++i) {
      const Rec r = make(i);
      if (!mine.try_push(&r)) ::_exit(5);
    }
    const long page = ::sysconf(_SC_PAGESIZE);
    auto* pages = static_cast<std::byte*>(::mmap(nullptr, 2 * static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (pages == MAP_FAILED) ::_exit(4);
    // Records 1..3 of the batch at the start of the second page, record 0
    // at the end of the first, which becomes unreadable.
    std::byte* batch = pages + page - sizeof(Rec);
    for (std::uint64_t i = 1; i < 4; ++i) {
      const Rec r = make(100 + i);
      std::memcpy(batch + i * sizeof(Rec), &r, sizeof r);
    }
    if (::mprotect(pages, static_cast<std::size_t>(page), PROT_NONE) != 0) ::_exit(4);
    (void)mine.try_push_many(batch, 4);  // publishes positions 5, 4, 3, faults copying 2
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  // SIGSEGV, or a sanitizer's exit after reporting it; 3-5 mean it did not die there.
  ASSERT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) >= 3 && WEXITSTATUS(status) <= 5)
      << "the producer was meant to die in its copy";
  {
    Segment seg(name);  // the state the crash left: positions 3..5 published, 2 not
    EXPECT_EQ(seg.slot<detail::SpscSlot>(2).seq.load(), 0u);
    for (std::uint64_t p = 3; p < 6; ++p) EXPECT_EQ(seg.slot<detail::SpscSlot>(p).seq.load(), p + 1);
  }
  Rec out{};
  for (std::uint64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(consumer.try_pop(&out));
    EXPECT_EQ(out.seq, i);
  }
  EXPECT_FALSE(consumer.try_pop(&out));
  auto successor = SpscRing::attach(name);
  const Rec first = make(10);
  ASSERT_TRUE(successor.try_push(&first));
  EXPECT_EQ(consumer.lost(), 3u);
  ASSERT_TRUE(consumer.try_pop(&out));
  EXPECT_EQ(out.seq, 10u);
  EXPECT_FALSE(consumer.try_pop(&out)) << "a record of the dead batch was delivered after the successor's";
  // The successor owns the whole ring: a full ring's worth goes in, in
  // singles and a batch, and comes out in order.
  std::vector<Rec> more;
  for (std::uint64_t i = 11; i < 11 + kCap; ++i) more.push_back(make(i));
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(successor.try_push(&more[i]));
  ASSERT_EQ(successor.try_push_many(&more[3], kCap - 3), kCap - 3);
  EXPECT_FALSE(successor.try_push(&first));
  for (std::uint64_t i = 11; i < 11 + kCap; ++i) {
    ASSERT_TRUE(consumer.try_pop(&out));
    EXPECT_TRUE(intact(out));
    EXPECT_EQ(out.seq, i);
  }
  EXPECT_FALSE(consumer.try_pop(&out));
  EXPECT_EQ(consumer.lost(), 3u);
}

// Processes are recorded by pid and start time: a pid alone names whichever
// process has it now.
TEST(ProcessTag, TellsAReusedPidFromItsFormerOwner) {
  const detail::ProcessTag me = detail::self_tag();
  EXPECT_EQ(detail::pid_of(me), ::getpid());
  EXPECT_NE(detail::start_of(me), 0u) << "/proc/<pid>/task/<pid>/stat gave no start time";
  EXPECT_TRUE(detail::process_alive(me));
  EXPECT_EQ(detail::tag_of(::getpid()), me);
  EXPECT_TRUE(detail::process_alive(detail::tag_of(static_cast<std::int32_t>(::getppid()))));
  EXPECT_FALSE(detail::process_alive(reused_pid_tag()));
  EXPECT_FALSE(detail::process_alive(detail::make_tag(::getpid(), detail::start_of(me) + 1)));
  // Without a start time only the pid can be checked.
  EXPECT_TRUE(detail::process_alive(detail::make_tag(::getpid(), 0)));
  EXPECT_TRUE(detail::process_alive(0));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  const detail::ProcessTag zombie = detail::tag_of(child);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  EXPECT_FALSE(detail::process_alive(zombie));  // exited, not reaped yet
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_FALSE(detail::process_alive(zombie));
  EXPECT_FALSE(detail::process_alive(detail::make_tag(child, 0)));
}

// An MPSC slot claimed and never published by a process whose pid now
// belongs to another, live process: the consumer must still discard it,
// not wait on it forever.
TEST(SharedRing, MpscConsumerDiscardsASlotWhoseClaimersPidWasReused) {
  const std::string name = unique_name("reusedmp");
  auto ring = MpscRing::create(name, {sizeof(Rec), 4, ""});
  {
    Segment seg(name);
    seg.slot<detail::MpscSlot>(0).claimer.store(reused_pid_tag());
    seg.header().tail.store(1);  // position 0 claimed, never published
  }
  Rec out{};
  EXPECT_THROW(ring.pop(&out, kPatience), ProducerDied);
  EXPECT_EQ(ring.lost(), 1u);
  const Rec r = make(3);
  ASSERT_TRUE(ring.try_push(&r));
  ASSERT_TRUE(ring.pop(&out, kPatience));
  EXPECT_EQ(out.seq, 3u);
}

// The same for an MPMC slot a consumer took and never freed: the producer
// that needs it frees it.
TEST(SharedRing, MpmcProducerReclaimsASlotWhoseReadersPidWasReused) {
  const std::string name = unique_name("reusedmc");
  auto ring = MpmcRing::create(name, {sizeof(Rec), 2, ""});
  for (std::uint64_t i = 0; i < 2; ++i) {
    const Rec r = make(i);
    ASSERT_TRUE(ring.try_push(&r));
  }
  {
    Segment seg(name);
    seg.slot<detail::MpmcSlot>(0).reader.store(reused_pid_tag());
    seg.header().head.store(1);  // position 0 taken, never freed
  }
  const Rec r = make(2);
  ASSERT_TRUE(ring.push(&r, kPatience)) << "the slot of a dead reader was not reclaimed";
  EXPECT_EQ(ring.lost(), 1u);
  Rec out{};
  for (std::uint64_t i = 1; i < 3; ++i) {
    ASSERT_TRUE(ring.try_pop(&out));
    EXPECT_EQ(out.seq, i);
  }
}

// An SPSC peer recorded with a reused pid is gone: a consumer of an empty
// ring and a producer of a full one hear PeerDead instead of waiting.
TEST(SharedRing, SpscPeerWhosePidWasReusedIsDead) {
  const std::string name = unique_name("reusedsp");
  auto ring = SpscRing::create(name, {sizeof(Rec), 1, ""});
  Segment seg(name);
  seg.header().producer.store(reused_pid_tag());
  Rec out{};
  EXPECT_THROW(ring.pop(&out, kPatience), PeerDead);
  const Rec r = make(1);
  ASSERT_TRUE(ring.try_push(&r));  // this handle is now the producer
  seg.header().consumer.store(reused_pid_tag());
  EXPECT_THROW(ring.push(&r, kPatience), PeerDead);
}

// A segment whose creator's pid was reused is stale: replaced, not kept.
TYPED_TEST(RingSemantics, SegmentOfAnOwnerWhosePidWasReusedIsStale) {
  const std::string name = unique_name("reusedown");
  auto ring = TypeParam::create(name, {sizeof(Rec), 4, ""});
  EXPECT_TRUE(segment_owner_alive(name));
  Segment(name).header().owner = reused_pid_tag();
  EXPECT_FALSE(segment_owner_alive(name));
  auto fresh = TypeParam::create(name, {sizeof(Rec), 4, ""});  // replace_stale
  EXPECT_TRUE(segment_owner_alive(name));
  EXPECT_EQ(fresh.owner_pid(), ::getpid());
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

// The rule by which waits move the budget, observation by observation (no
// clock involved: next_spin_budget is a pure function of what a wait saw).
TEST(SpinBudget, GrowsWhenALongerSpinWouldHaveCaughtTheRecord) {
  using detail::next_spin_budget;
  using K = detail::SpinOutcome::Kind;
  EXPECT_EQ(next_spin_budget(1us, {K::kCaught}), 2us);
  EXPECT_EQ(next_spin_budget(4us, {K::kArrived, 10us, false}), 8us);
  EXPECT_EQ(next_spin_budget(4us, {K::kArrived, detail::kGrowWithin, false}), 8us);
  EXPECT_EQ(next_spin_budget(20us, {K::kCaught}), detail::kSpinMax);  // capped
  EXPECT_EQ(next_spin_budget(detail::kSpinMax, {K::kArrived, 1us, false}), detail::kSpinMax);
}

TEST(SpinBudget, ShrinksWhenSpinningWasWasteOrKeptThePeerOffTheCore) {
  using detail::next_spin_budget;
  using K = detail::SpinOutcome::Kind;
  EXPECT_EQ(next_spin_budget(8us, {K::kArrived, detail::kGrowWithin + 1ns, false}), 4us);  // came late
  EXPECT_EQ(next_spin_budget(8us, {K::kArrived, 10us, true}), 4us);  // soon, but we share a core
  EXPECT_EQ(next_spin_budget(8us, {K::kTimedOut}), 4us);
  EXPECT_EQ(next_spin_budget(1500ns, {K::kTimedOut}), detail::kSpinMin);  // floored
  EXPECT_EQ(next_spin_budget(detail::kSpinMin, {K::kArrived, 1ms, false}), detail::kSpinMin);
}

TEST(SpinBudget, AWaitCutShortByItsDeadlineSaysNothing) {
  using K = detail::SpinOutcome::Kind;
  for (std::chrono::nanoseconds b : {detail::kSpinMin, std::chrono::nanoseconds(7us), detail::kSpinMax}) {
    EXPECT_EQ(detail::next_spin_budget(b, {K::kCutByDeadline}), b);
  }
}

TEST(SpinBudget, RepeatedOutcomesWalkTheWholeRangeAndStay) {
  using K = detail::SpinOutcome::Kind;
  std::chrono::nanoseconds b = detail::kSpinMin;
  std::vector<std::chrono::nanoseconds> up;
  for (int i = 0; i < 8; ++i) up.push_back(b = detail::next_spin_budget(b, {K::kCaught}));
  EXPECT_TRUE(std::is_sorted(up.begin(), up.end()));
  EXPECT_EQ(b, detail::kSpinMax);
  for (int i = 0; i < 8; ++i) b = detail::next_spin_budget(b, {K::kArrived, 1ms, false});
  EXPECT_EQ(b, detail::kSpinMin);
}
