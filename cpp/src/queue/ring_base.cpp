// What every ring shares: building or checking a block's header, metadata,
// close, the sleeper's side of the wake-up handshake, and peer liveness.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <thread>
#include <utility>

#include "detail/layout.hpp"
#include "detail/os.hpp"
#include "detail/waiting.hpp"
#include "shanraq/queue/ring.hpp"

namespace shanraq::queue {

namespace {

std::atomic<bool> g_membarrier_publication{true};
std::atomic<std::int64_t> g_sleep_slice_ns{50'000'000};

const char* kind_name(std::uint32_t kind) noexcept {
  switch (kind) {
    case 1:
      return "SpscRing";
    case 2:
      return "MpscRing";
    case 3:
      return "MpmcRing";
    default:
      return "unknown ring kind";
  }
}

// Checks an attached segment's header against the ring kind and `expect`.
void check_header(const detail::Region& region, RingKind kind, const RingLayout& expect) {
  const std::string& nm = region.name();
  if (region.size() < sizeof(detail::Header)) {
    throw LayoutMismatch("shared-memory segment '" + nm + "' is too small to be a ring");
  }
  auto* h = static_cast<const detail::Header*>(region.base());
  // A creator may be between ftruncate and publishing the magic: give it a
  // moment rather than fail a racing attach.
  for (int i = 0; i < 200 && h->magic.load(std::memory_order_acquire) != detail::kMagic; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (h->magic.load(std::memory_order_acquire) != detail::kMagic) {
    throw LayoutMismatch("shared-memory segment '" + nm + "' is not a shanraq ring (bad magic)");
  }
  if (h->version != detail::kLayoutVersion) {
    throw LayoutMismatch("ring '" + nm + "' has layout version " + std::to_string(h->version) + ", this build reads " +
                         std::to_string(detail::kLayoutVersion));
  }
  if (h->kind != static_cast<std::uint32_t>(kind)) {
    throw LayoutMismatch("ring '" + nm + "' is an " + kind_name(h->kind) + ", not an " +
                         kind_name(static_cast<std::uint32_t>(kind)));
  }
  const std::size_t cap = h->capacity;
  if (h->record_size == 0 || h->record_size > kMaxRecordSize || cap == 0 || cap > kMaxCapacity ||
      (cap & (cap - 1)) != 0 || h->dtype_len > kMaxDtypeLen || h->total_size != region.size() ||
      RingBase::block_size(kind, h->record_size, cap) != region.size()) {
    throw LayoutMismatch("ring '" + nm + "' has a corrupt header");
  }
  if (expect.record_size != 0 && expect.record_size != h->record_size) {
    throw LayoutMismatch("ring '" + nm + "' holds " + std::to_string(h->record_size) + "-byte records, expected " +
                         std::to_string(expect.record_size));
  }
  if (expect.capacity != 0 && expect.capacity != cap) {
    throw LayoutMismatch("ring '" + nm + "' has capacity " + std::to_string(cap) + ", expected " +
                         std::to_string(expect.capacity));
  }
  const std::string_view dt(h->dtype, h->dtype_len);
  if (!expect.dtype.empty() && expect.dtype != dt) {
    throw LayoutMismatch("ring '" + nm + "' has dtype " + std::string(dt) + ", expected " + expect.dtype);
  }
}

}  // namespace

namespace detail {

std::chrono::nanoseconds sleep_slice() noexcept {
  return std::chrono::nanoseconds(g_sleep_slice_ns.load(std::memory_order_relaxed));
}
void set_sleep_slice(std::chrono::nanoseconds slice) noexcept {
  g_sleep_slice_ns.store(slice.count(), std::memory_order_relaxed);
}

}  // namespace detail

void set_membarrier_publication(bool enabled) noexcept {
  g_membarrier_publication.store(enabled, std::memory_order_relaxed);
}

std::size_t RingBase::block_size(RingKind kind, std::size_t record_size, std::size_t capacity) {
  return sizeof(detail::Header) + detail::slot_stride(kind, record_size) * capacity;
}

void RingBase::validate(const RingLayout& layout) {
  if (layout.record_size == 0 || layout.record_size > kMaxRecordSize) {
    throw std::invalid_argument("record_size must be in [1, " + std::to_string(kMaxRecordSize) + "] bytes, got " +
                                std::to_string(layout.record_size));
  }
  const std::size_t c = layout.capacity;
  if (c == 0 || c > kMaxCapacity || (c & (c - 1)) != 0) {
    throw std::invalid_argument("capacity must be a power of two in [1, 2^30], got " + std::to_string(c));
  }
  if (layout.dtype.size() > kMaxDtypeLen) {
    throw std::invalid_argument("dtype descriptor longer than " + std::to_string(kMaxDtypeLen) + " characters");
  }
}

detail::Region RingBase::new_heap_block(RingKind kind, const RingLayout& layout) {
  validate(layout);
  return detail::Region::heap(block_size(kind, layout.record_size, layout.capacity));
}

detail::Region RingBase::new_shared_block(RingKind kind, const std::string& name, const RingLayout& layout,
                                          bool replace_stale) {
  validate(layout);
  return detail::Region::create_shared(name, block_size(kind, layout.record_size, layout.capacity), replace_stale);
}

detail::Region RingBase::attached_block(RingKind kind, const std::string& name, const RingLayout& expect) {
  detail::Region region = detail::Region::attach_shared(name);
  check_header(region, kind, expect);
  return region;
}

RingBase::RingBase(detail::Region region, RingKind kind, const RingLayout& layout, WaitStrategy wait, bool init)
    : region_(std::move(region)), wait_(wait), my_tag_(detail::self_tag()) {
  if (init) {
    h_ = new (region_.base()) detail::Header();
    h_->version = detail::kLayoutVersion;
    h_->kind = static_cast<std::uint32_t>(kind);
    h_->record_size = layout.record_size;
    h_->capacity = layout.capacity;
    h_->slot_stride = detail::slot_stride(kind, layout.record_size);
    h_->total_size = region_.size();
    h_->owner = region_.shared() ? my_tag_ : 0;
    h_->dtype_len = static_cast<std::uint32_t>(layout.dtype.size());
    std::memcpy(h_->dtype, layout.dtype.data(), layout.dtype.size());
    auto* slots = static_cast<std::byte*>(region_.base()) + sizeof(detail::Header);
    for (std::uint64_t i = 0; i < layout.capacity; ++i) {
      std::byte* s = slots + i * h_->slot_stride;
      switch (kind) {
        // 0 never equals an awaited p + 1: every slot starts empty.
        case RingKind::kSpsc:
          new (s) detail::SpscSlot{0};
          break;
        // 2i: free for position i.
        case RingKind::kMpsc:
          new (s) detail::MpscSlot{2 * i, 0};
          break;
        case RingKind::kMpmc:
          new (s) detail::MpmcSlot{2 * i, 0, 0};
          break;
      }
    }
    // Release: an attacher that sees the magic sees every field above.
    h_->magic.store(detail::kMagic, std::memory_order_release);
  } else {
    h_ = std::launder(static_cast<detail::Header*>(region_.base()));
  }
  const detail::Membarrier& mb = detail::membarrier_registration();
  if ((region_.shared() ? mb.global_expedited : mb.private_expedited) &&
      g_membarrier_publication.load(std::memory_order_relaxed)) {
    publish_ = PublishOrdering::kMembarrier;
    // Before this handle's first publication; see Header::light_handles.
    h_->light_handles.fetch_add(1, std::memory_order_acq_rel);
  }
  slots_ = static_cast<std::byte*>(region_.base()) + sizeof(detail::Header);
  mask_ = h_->capacity - 1;
  record_size_ = h_->record_size;
  stride_ = h_->slot_stride;
  // About 512 bytes ahead, and never into the half of the ring the consumer
  // may still be reading (a prefetch would only steal its line).
  prefetch_ahead_ = std::min<std::size_t>((512 + stride_ - 1) / stride_, (mask_ + 1) / 4);
  head_cache_ = h_->head.load(std::memory_order_acquire);
}

static_assert(detail::kSpinMax.count() == 30'000, "RingBase::spin_budget_ns_ starts at kSpinMax");

RingKind RingBase::kind() const noexcept { return static_cast<RingKind>(h_->kind); }
std::string_view RingBase::dtype() const noexcept { return {h_->dtype, h_->dtype_len}; }
int RingBase::owner_pid() const noexcept { return detail::pid_of(h_->owner); }
std::uint64_t RingBase::lost() const noexcept { return h_->lost.load(std::memory_order_relaxed); }
bool RingBase::closed() const noexcept { return h_->closed.load(std::memory_order_acquire) != 0; }

namespace {
WaitStats stats_of(const detail::WaitWord& w) noexcept {
  return {w.sleeps.load(std::memory_order_relaxed), w.unwoken_sleeps.load(std::memory_order_relaxed)};
}
}  // namespace

WaitStats RingBase::consumer_wait_stats() const noexcept { return stats_of(h_->not_empty); }
WaitStats RingBase::producer_wait_stats() const noexcept { return stats_of(h_->not_full); }
std::uint32_t RingBase::sleeping_consumers() const noexcept {
  return h_->not_empty.sleepers.load(std::memory_order_relaxed);
}
std::uint32_t RingBase::sleeping_producers() const noexcept {
  return h_->not_full.sleepers.load(std::memory_order_relaxed);
}

std::chrono::nanoseconds RingBase::spin_budget(bool consumer) const noexcept {
  if (wait_ == WaitStrategy::kBusySpin) return detail::kSpinMax;
  // atomic_ref needs a non-const object; the load does not modify it.
  auto& slot = const_cast<std::uint32_t&>(spin_budget_ns_[consumer ? 0 : 1]);
  return std::chrono::nanoseconds(std::atomic_ref<std::uint32_t>(slot).load(std::memory_order_relaxed));
}

std::size_t RingBase::size() const noexcept {
  const std::uint64_t head = h_->head.load(std::memory_order_acquire);
  const std::uint64_t tail = h_->tail.load(std::memory_order_acquire);
  return tail > head ? static_cast<std::size_t>(std::min<std::uint64_t>(tail - head, mask_ + 1)) : 0;
}

void RingBase::close() noexcept {
  h_->closed.store(1, std::memory_order_release);
  for (detail::WaitWord* w : {&h_->not_empty, &h_->not_full}) {
    // acq_rel: a sleeper whose sequence load sees this bump also sees `closed`.
    w->seq.fetch_add(1, std::memory_order_acq_rel);
    detail::futex_wake_all(&w->seq);
  }
}

void RingBase::wake(detail::WaitWord& w) noexcept {
  // acq_rel: a sleeper whose sequence load sees this bump also sees what we
  // published before it.
  w.seq.fetch_add(1, std::memory_order_acq_rel);
  detail::futex_wake_all(&w.seq);
}

bool RingBase::order_announcement() noexcept {
  // Our announcement was an acq_rel RMW on `sleepers`, which already orders
  // us against every read-modify-write publisher (see notify()).
  const detail::Membarrier& mb = detail::membarrier_registration();
  if (region_.shared() ? mb.global_expedited : mb.private_expedited) {
    // This process is registered (whether or not this handle publishes with
    // membarrier), so it may run the barrier that covers the membarrier
    // publishers (they are registered too, or they would not publish
    // without a fence). The system call also runs a full barrier on this
    // thread, which the read-modify-write publishers do not need.
    if (detail::run_membarrier(region_.shared())) return true;
  }
  // We cannot run the barrier (this process is not registered or the call
  // failed). If no membarrier publisher was ever constructed, none can miss
  // us: this RMW either precedes a later one's construction RMW in
  // `light_handles` (which then synchronises with us, so its loads of
  // `sleepers` see our announcement), or reads its increment.
  return h_->light_handles.fetch_add(0, std::memory_order_acq_rel) == 0;
}

void RingBase::stamp_producer() noexcept {
  if (!producer_stamped_) {
    h_->producer.store(my_tag_, std::memory_order_relaxed);
    producer_stamped_ = true;
  }
}

void RingBase::stamp_consumer() noexcept {
  if (!consumer_stamped_) {
    h_->consumer.store(my_tag_, std::memory_order_relaxed);
    consumer_stamped_ = true;
  }
}

bool RingBase::recorded_producer_gone() const noexcept {
  const std::uint64_t tag = h_->producer.load(std::memory_order_relaxed);
  return tag != 0 && tag != my_tag_ && !detail::process_alive(tag);
}

bool RingBase::recorded_consumer_gone() const noexcept {
  const std::uint64_t tag = h_->consumer.load(std::memory_order_relaxed);
  return tag != 0 && tag != my_tag_ && !detail::process_alive(tag);
}

void RingBase::throw_consumer_gone() const {
  throw PeerDead("the consumer process (pid " +
                 std::to_string(detail::pid_of(h_->consumer.load(std::memory_order_relaxed))) + ") of ring '" + name() +
                 "' is gone; the ring will not drain");
}

void RingBase::throw_producer_gone() const {
  throw PeerDead("the producer process (pid " +
                 std::to_string(detail::pid_of(h_->producer.load(std::memory_order_relaxed))) + ") of ring '" + name() +
                 "' is gone and the ring is empty");
}

}  // namespace shanraq::queue
