// The ledger's command paths never allocate once it is built: its chain
// undo logs are sized for the longest chain at construction, so a long
// linked chain cannot meet an allocation failure inside the noexcept code
// that applies it (which would terminate the process). This executable
// replaces the global operator new to count every allocation made while a
// command runs.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "shanraq/ledger/ledger.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted(std::size_t n, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align <= alignof(std::max_align_t) ? std::malloc(n)
                                               : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

// Counts allocations made by the calling code between construction and destruction.
class Counting {
 public:
  Counting() {
    g_allocations.store(0);
    g_counting.store(true);
  }
  ~Counting() { g_counting.store(false); }
  long allocations() const { return g_allocations.load(); }
};
}  // namespace

void* operator new(std::size_t n) { return counted(n, alignof(std::max_align_t)); }
void* operator new[](std::size_t n) { return counted(n, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted(n, static_cast<std::size_t>(a)); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace shanraq::ledger {
namespace {

namespace tf = transfer_flags;

Transfer xfer(std::uint64_t id, std::uint64_t dr, std::uint64_t cr, std::uint16_t flags) {
  Transfer t{};
  t.id = id;
  t.debit_account_id = dr;
  t.credit_account_id = cr;
  t.amount = 1;
  t.ledger = 1;
  t.code = 1;
  t.flags = flags;
  return t;
}

// A chain as long as a chain may be: every member a timed hold or the post
// of the previous one, so the chain logs two account states per member, the
// status of every hold it posts and an expiry for every hold it places.
TEST(LedgerAllocation, LongestLinkedChainAllocatesNothing) {
  constexpr std::size_t kChain = 8190;
  Ledger l{LedgerCapacity{8, 4 * kChain, 8}};
  std::vector<Account> accounts(2);
  for (std::uint64_t i = 0; i < 2; ++i) {
    accounts[i] = Account{};
    accounts[i].id = i + 1;
    accounts[i].ledger = 1;
    accounts[i].code = 1;
  }
  std::vector<std::uint32_t> r(kChain);
  l.create_accounts(accounts.data(), 2, 1, r.data());
  std::vector<Transfer> chain;
  for (std::uint64_t i = 0; chain.size() < kChain; ++i) {
    Transfer hold = xfer(100 + 2 * i, 1, 2, tf::kPending | tf::kLinked);
    hold.timeout_ns = 1'000'000;
    chain.push_back(hold);
    Transfer post{};
    post.id = 101 + 2 * i;
    post.pending_id = hold.id;
    post.amount = kAmountMax;
    post.flags = tf::kPostPendingTransfer | tf::kLinked;
    chain.push_back(post);
  }
  chain.back().flags &= static_cast<std::uint16_t>(~tf::kLinked);
  long allocations = 0;
  {
    const Counting counting;
    l.create_transfers(chain.data(), chain.size(), 10, r.data());
    allocations = counting.allocations();
  }
  EXPECT_EQ(allocations, 0);
  for (std::size_t i = 0; i < kChain; ++i) ASSERT_EQ(r[i], kCreatedStatus) << i;
  EXPECT_EQ(l.lookup_account(1)->debits_posted, kChain / 2);

  // The same chain failing at its last member rolls every member back,
  // again without allocating.
  for (Transfer& t : chain) t.id += 1'000'000;
  for (Transfer& t : chain) {
    if (t.pending_id != 0) t.pending_id += 1'000'000;
  }
  chain.back().amount = 2;  // more than its hold: the chain fails
  {
    const Counting counting;
    l.create_transfers(chain.data(), chain.size(), 20, r.data());
    allocations = counting.allocations();
  }
  EXPECT_EQ(allocations, 0);
  EXPECT_EQ(r[kChain - 1], static_cast<std::uint32_t>(CreateTransferResult::kExceedsPendingTransferAmount));
  EXPECT_EQ(l.lookup_account(1)->debits_posted, kChain / 2);
  EXPECT_EQ(l.lookup_account(1)->debits_pending, 0u);
}

}  // namespace
}  // namespace shanraq::ledger
