#include "shanraq/ledger/machine.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "ledger_impl.hpp"
#include "shanraq/common/checksum.hpp"
#include "shanraq/common/snapshot_io.hpp"

namespace shanraq::ledger {

using namespace detail;
namespace cf = command_flags;

namespace {

constexpr char kSnapshotMagic[9] = "SHQLDGRM";
// Version 2: the open request (whether it imports) after the open chain.
// Version 1 (before imported events) is not read: no release wrote it.
constexpr std::uint32_t kSnapshotVersion = 2;

bool is_create(LedgerCommandKind k) noexcept {
  return k == LedgerCommandKind::kCreateAccount || k == LedgerCommandKind::kCreateTransfer;
}

std::uint16_t record_flags(const LedgerCommand& c) noexcept {
  // Account.flags and Transfer.flags sit at different offsets.
  return c.kind == static_cast<std::uint8_t>(LedgerCommandKind::kCreateAccount) ? c.account().flags : c.payload.flags;
}
bool linked(const LedgerCommand& c) noexcept { return (record_flags(c) & transfer_flags::kLinked) != 0; }
bool last_in_batch(const LedgerCommand& c) noexcept { return (c.flags & cf::kLastInBatch) != 0; }

bool all_zero(const void* p, std::size_t n) noexcept {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

// The header's 14 reserved bytes, checked for every command: three loads.
bool header_reserved_clear(const LedgerCommand& c) noexcept {
  std::uint64_t a;
  std::uint32_t b;
  std::uint16_t d;
  std::memcpy(&a, c.reserved, 8);
  std::memcpy(&b, c.reserved + 8, 4);
  std::memcpy(&d, c.reserved + 12, 2);
  return (a | b | d) == 0;
}

// rejection(c) == 0 for a create command of kind k8 (which uses its whole
// payload): the segment scan's per-command check, inline.
inline bool valid_create(const LedgerCommand& c, std::uint8_t k8) noexcept {
  return c.kind == k8 && (c.flags & ~cf::kKnown) == 0 && header_reserved_clear(c) && c.time_ns >= 0 &&
         c.time_ns <= kMaxTime;
}

void check_time_arg(std::int64_t t) {
  if (t < 0 || t > kMaxTime) {
    throw std::invalid_argument("time_ns must be in 0.." + std::to_string(kMaxTime) + ", got " + std::to_string(t));
  }
}

// Creates of one kind, applied by the core's request drivers. Times are
// made effective on the way (a command stamped before the clock runs at
// the clock): `now(i)` folds times in as the drivers ask, in order.
struct CommandSource {
  const LedgerCommand* cmds;
  mutable std::int64_t clock;
  mutable std::size_t upto = 0;
  const Transfer& transfer(std::size_t i) const noexcept { return cmds[i].payload; }
  Account account(std::size_t i) const noexcept { return cmds[i].account(); }
  std::uint64_t now(std::size_t i) const noexcept {
    for (; upto <= i; ++upto) clock = std::max(clock, cmds[upto].time_ns);
    return static_cast<std::uint64_t>(clock);
  }
  bool ends_request(std::size_t i) const noexcept { return last_in_batch(cmds[i]); }
};

// Events of a run of commands whose seqs are base, base + 1, ...: answers
// and expiries arrive in command order, so the effective time of each is
// folded in the same way as the source's.
struct EventSink {
  std::vector<LedgerEvent>& out;
  const LedgerCommand* cmds;
  std::uint64_t base;
  std::int64_t clock;
  LedgerEventType result_type;
  std::size_t upto = 0;

  std::int64_t time_of(std::size_t i) noexcept {
    for (; upto <= i; ++upto) clock = std::max(clock, cmds[upto].time_ns);
    return clock;
  }
  LedgerEvent& push(std::size_t i, LedgerEventType type, std::uint32_t result, std::uint64_t ts) {
    LedgerEvent& e = out.emplace_back();  // value-initialised: every byte 0
    e.seq = base + i;
    e.time_ns = time_of(i);
    e.type = static_cast<std::uint8_t>(type);
    e.result = result;
    e.timestamp = ts;
    return e;
  }
  void expired(std::size_t i, const Transfer& hold, std::uint64_t ts) {
    LedgerEvent& e = push(i, LedgerEventType::kHoldExpired, 0, ts);
    std::memcpy(e.payload, &hold, sizeof(hold));
  }
  void result(std::size_t i, std::uint32_t code, std::uint64_t id, std::uint64_t ts) {
    push(i, result_type, code, ts).payload[0] = id;
  }
};

LedgerEventType result_type_of(LedgerCommandKind k) noexcept {
  return k == LedgerCommandKind::kCreateAccount ? LedgerEventType::kAccountResult : LedgerEventType::kTransferResult;
}

LedgerCommand blank(LedgerCommandKind kind, std::int64_t time_ns, std::uint8_t flags) noexcept {
  LedgerCommand c;
  std::memset(&c, 0, sizeof(c));
  c.time_ns = time_ns;
  c.kind = static_cast<std::uint8_t>(kind);
  c.flags = flags;
  return c;
}

}  // namespace

// ---- command builders -------------------------------------------------------------

LedgerCommand make_create_account(const Account& a, std::int64_t time_ns, std::uint8_t flags) noexcept {
  LedgerCommand c = blank(LedgerCommandKind::kCreateAccount, time_ns, flags);
  std::memcpy(&c.payload, &a, sizeof(a));
  return c;
}
LedgerCommand make_create_transfer(const Transfer& t, std::int64_t time_ns, std::uint8_t flags) noexcept {
  LedgerCommand c = blank(LedgerCommandKind::kCreateTransfer, time_ns, flags);
  c.payload = t;
  return c;
}
LedgerCommand make_set_account_limit(std::uint64_t account_id, std::uint64_t limit, std::int64_t time_ns,
                                     std::uint8_t flags) noexcept {
  LedgerCommand c = blank(LedgerCommandKind::kSetAccountLimit, time_ns, flags);
  SetLimitBody b{};
  b.account_id = account_id;
  b.limit = limit;
  std::memcpy(&c.payload, &b, sizeof(b));
  return c;
}
LedgerCommand make_advance_time(std::int64_t time_ns, std::uint8_t flags) noexcept {
  return blank(LedgerCommandKind::kAdvanceTime, time_ns, flags);
}
LedgerCommand make_evict(std::int64_t time_ns, std::uint8_t flags) noexcept {
  return blank(LedgerCommandKind::kEvict, time_ns, flags);
}
LedgerCommand make_drain_evicted(std::uint64_t max, std::int64_t time_ns, std::uint8_t flags) noexcept {
  LedgerCommand c = blank(LedgerCommandKind::kDrainEvicted, time_ns, flags);
  DrainBody b{};
  b.max = max;
  std::memcpy(&c.payload, &b, sizeof(b));
  return c;
}

// ---- the machine -------------------------------------------------------------------

LedgerMachine::LedgerMachine(const LedgerCapacity& capacity)
    : ledger_(capacity), chain_(make_zeroed<Command>(kMaxChain)) {}

std::uint32_t LedgerMachine::rejection(const Command& c) noexcept {
  using K = LedgerCommandKind;
  const auto kind = static_cast<K>(c.kind);
  if (c.kind < static_cast<std::uint8_t>(K::kCreateAccount) || c.kind > static_cast<std::uint8_t>(K::kDrainEvicted)) {
    return static_cast<std::uint32_t>(CommandRejection::kUnknownKind);
  }
  if ((c.flags & ~cf::kKnown) != 0) return static_cast<std::uint32_t>(CommandRejection::kReservedFlag);
  static_assert(sizeof(c.reserved) == 14);
  bool reserved_clear = header_reserved_clear(c);
  switch (kind) {
    case K::kAdvanceTime:
    case K::kEvict:
      reserved_clear = reserved_clear && all_zero(&c.payload, sizeof(c.payload));
      break;
    case K::kSetAccountLimit: {
      const SetLimitBody b = c.set_limit();
      reserved_clear = reserved_clear && all_zero(b.reserved, sizeof(b.reserved));
      break;
    }
    case K::kDrainEvicted: {
      const DrainBody b = c.drain();
      reserved_clear = reserved_clear && all_zero(b.reserved, sizeof(b.reserved));
      break;
    }
    default:
      break;
  }
  if (!reserved_clear) return static_cast<std::uint32_t>(CommandRejection::kReservedField);
  if (c.time_ns < 0 || c.time_ns > kMaxTime) return static_cast<std::uint32_t>(CommandRejection::kTimeOutOfRange);
  return 0;
}

void LedgerMachine::check_room(const Command* cmds, std::size_t n) const {
  std::size_t accounts = 0, transfers = 0;
  auto count = [&](const Command& c) {
    accounts += c.kind == static_cast<std::uint8_t>(LedgerCommandKind::kCreateAccount);
    transfers += c.kind == static_cast<std::uint8_t>(LedgerCommandKind::kCreateTransfer);
  };
  for (std::size_t i = 0; i < n; ++i) count(cmds[i]);
  if (accounts == 0 && transfers == 0) return;
  for (std::uint32_t k = 0; k < chain_len_; ++k) count(chain_[k]);
  ledger_.check_room(accounts, transfers, [&] {
    std::uint64_t need = 0;
    auto add = [&](const Command& c) {
      if (c.kind == static_cast<std::uint8_t>(LedgerCommandKind::kCreateTransfer))
        need += ledger_.history_need(c.payload);
    };
    for (std::size_t i = 0; i < n; ++i) add(cmds[i]);
    for (std::uint32_t k = 0; k < chain_len_; ++k) add(chain_[k]);
    return need;
  });
}

void LedgerMachine::process(const Command* cmds, std::size_t n, std::vector<Event>& out) {
  sm::check_sequence(cmds, n, next_seq_);
  check_room(cmds, n);
  std::size_t i = 0;
  while (i < n) {
    const Command& c = cmds[i];
    const std::uint32_t why = rejection(c);
    if (why != 0) [[unlikely]] {
      // Its event must follow the open chain's; it ends the request.
      if (chain_len_ != 0) apply_chain(out);
      request_.open = false;
      LedgerEvent& e = out.emplace_back();  // value-initialised: every byte 0
      e.seq = next_seq_++;
      e.time_ns = clock_;
      e.type = static_cast<std::uint8_t>(LedgerEventType::kRejected);
      e.result = why;
      ++i;
      continue;
    }
    const auto kind = static_cast<LedgerCommandKind>(c.kind);
    if (chain_len_ != 0 && kind != chain_kind_) apply_chain(out);
    // A command of another kind ends a client's request, as it ends a chain.
    if (request_.open && kind != request_kind_) request_.open = false;
    if (is_create(kind)) {
      request_kind_ = kind;
      i = run_creates(cmds, i, n, kind, out);
    } else {
      apply_other(c, out);
      ++i;
    }
  }
}

void LedgerMachine::buffer(const Command& c) noexcept {
  Command& b = chain_[chain_len_++];
  b = c;
  b.seq = next_seq_++;
  b.time_ns = clock_ = effective_time(c.time_ns);
}

void LedgerMachine::apply_chain(std::vector<Event>& out) {
  // Members carry their seq and effective time; they run from the clock
  // they were buffered at (times are already effective, so 0 folds none in).
  const CommandSource src{chain_.get(), 0};
  EventSink sink{out, chain_.get(), chain_[0].seq, 0, result_type_of(chain_kind_)};
  const std::size_t n = chain_len_;
  chain_len_ = 0;
  // The chain's kind is its request's: a restored machine knows only the
  // kind of an open chain, not of a request its first member will open.
  request_kind_ = chain_kind_;
  if (chain_kind_ == LedgerCommandKind::kCreateTransfer) {
    ledger_.run_transfers(src, n, sink, request_);
  } else {
    ledger_.run_accounts(src, n, sink, request_);
  }
}

std::size_t LedgerMachine::run_creates(const Command* cmds, std::size_t i, std::size_t n, LedgerCommandKind kind,
                                       std::vector<Event>& out) {
  const auto k8 = static_cast<std::uint8_t>(kind);
  std::size_t j = i;
  while (j < n && valid_create(cmds[j], k8)) ++j;
  if (chain_len_ != 0) {
    // The open chain continues: its members wait until one closes it.
    for (std::size_t k = i; k < j; ++k) {
      buffer(cmds[k]);
      if (!linked(cmds[k]) || last_in_batch(cmds[k]) || chain_len_ == kMaxChain) {
        apply_chain(out);
        return k + 1;
      }
    }
    return j;
  }
  // A chain still open at the end of the segment waits in the buffer; the
  // rest runs straight from the batch.
  std::size_t open = 0;
  if (linked(cmds[j - 1]) && !last_in_batch(cmds[j - 1])) {
    for (std::size_t k = i; k < j; ++k) {
      open = linked(cmds[k]) ? open + 1 : 0;
      if (last_in_batch(cmds[k]) || open == kMaxChain) open = 0;
    }
  }
  const std::size_t m = j - open - i;
  if (m != 0) {
    const CommandSource src{cmds + i, clock_};
    EventSink sink{out, cmds + i, next_seq_, clock_, result_type_of(kind)};
    if (kind == LedgerCommandKind::kCreateTransfer) {
      ledger_.run_transfers(src, m, sink, request_);
    } else {
      ledger_.run_accounts(src, m, sink, request_);
    }
    next_seq_ += m;
    clock_ = static_cast<std::int64_t>(src.now(m - 1));
  }
  chain_kind_ = kind;
  for (std::size_t k = j - open; k < j; ++k) buffer(cmds[k]);
  return j;
}

void LedgerMachine::apply_other(const Command& c, std::vector<Event>& out) {
  using K = LedgerCommandKind;
  const std::uint64_t seq = next_seq_++;
  clock_ = effective_time(c.time_ns);
  const auto now = static_cast<std::uint64_t>(clock_);
  EventSink sink{out, &c, seq, clock_, LedgerEventType::kLimitResult};
  const std::size_t expired = ledger_.expire_due(now, 0, sink);
  switch (static_cast<K>(c.kind)) {
    case K::kSetAccountLimit: {
      const SetLimitBody b = c.set_limit();
      const std::uint64_t ts = ledger_.next_timestamp(now);
      sink.result(0, static_cast<std::uint32_t>(ledger_.apply_limit(b.account_id, b.limit)), b.account_id, ts);
      break;
    }
    case K::kAdvanceTime:
      sink.push(0, LedgerEventType::kTimeAdvanced, 0, 0).payload[0] = expired;
      break;
    case K::kEvict: {
      const std::size_t evicted = ledger_.evict();
      LedgerEvent& e = sink.push(0, LedgerEventType::kEvicted, 0, 0);
      e.payload[0] = evicted;
      e.payload[1] = ledger_.transfer_count();
      break;
    }
    case K::kDrainEvicted: {
      const std::size_t m = std::min<std::uint64_t>(c.drain().max, ledger_.archived_count());
      for (std::size_t k = 0; k < m; ++k) {
        Transfer t;
        ledger_.drain_evicted(&t, 1);
        std::memcpy(sink.push(0, LedgerEventType::kTransferDrained, 0, 0).payload, &t, sizeof(t));
      }
      LedgerEvent& e = sink.push(0, LedgerEventType::kDrained, 0, 0);
      e.payload[0] = m;
      e.payload[1] = ledger_.archived_count();
      break;
    }
    default:
      break;
  }
}

// ---- conveniences --------------------------------------------------------------------

const LedgerEvent& LedgerMachine::own_event(std::uint64_t seq) const {
  // The command's own answer is its last event.
  for (auto it = scratch_.rbegin(); it != scratch_.rend(); ++it) {
    if (it->seq == seq) return *it;
  }
  throw std::logic_error("ledger machine: a command yielded no event");
}

void LedgerMachine::via_process(const Command* cmds, std::size_t n, CreateResult* results) {
  const std::uint64_t first = next_seq_;
  scratch_.clear();
  process(cmds, n, scratch_);
  for (const LedgerEvent& e : scratch_) {
    if (e.seq >= first && (e.type == static_cast<std::uint8_t>(LedgerEventType::kAccountResult) ||
                           e.type == static_cast<std::uint8_t>(LedgerEventType::kTransferResult))) {
      results[e.seq - first] = CreateResult{e.timestamp, e.result, 0};
    }
  }
}

// The fast paths below run the request drivers straight from the caller's
// records, as the commands they describe would run: a request of another
// kind ends, the records continue an open request of their own kind, and
// the last one (LAST_IN_BATCH) ends it.
void LedgerMachine::begin_convenience(LedgerCommandKind kind) noexcept {
  if (request_.open && request_kind_ != kind) request_.open = false;
  request_kind_ = kind;
}

void LedgerMachine::create_accounts(const Account* accounts, std::size_t n, std::int64_t time_ns,
                                    CreateResult* results) {
  check_time_arg(time_ns);
  if (n == 0) return;
  if (chain_len_ != 0) {
    std::vector<Command> cmds(n);
    for (std::size_t i = 0; i < n; ++i) {
      cmds[i] = make_create_account(accounts[i], time_ns, i + 1 == n ? cf::kLastInBatch : 0);
    }
    via_process(cmds.data(), n, results);
    return;
  }
  ledger_.check_room(n, 0, [] { return std::uint64_t{0}; });
  const std::int64_t t = effective_time(time_ns);
  const AccountArray src{accounts, static_cast<std::uint64_t>(t)};
  CreateResultArray sink{results};
  begin_convenience(LedgerCommandKind::kCreateAccount);
  ledger_.run_accounts(src, n, sink, request_);
  request_.open = false;
  next_seq_ += n;
  clock_ = t;
}

void LedgerMachine::create_accounts(const Account* accounts, std::size_t n, std::int64_t time_ns,
                                    std::uint32_t* results) {
  std::vector<CreateResult> r(n);
  create_accounts(accounts, n, time_ns, r.data());
  for (std::size_t i = 0; i < n; ++i) results[i] = r[i].status;
}

void LedgerMachine::create_transfers(const Transfer* transfers, std::size_t n, std::int64_t time_ns,
                                     CreateResult* results) {
  check_time_arg(time_ns);
  if (n == 0) return;
  if (chain_len_ != 0) {
    std::vector<Command> cmds(n);
    for (std::size_t i = 0; i < n; ++i) {
      cmds[i] = make_create_transfer(transfers[i], time_ns, i + 1 == n ? cf::kLastInBatch : 0);
    }
    via_process(cmds.data(), n, results);
    return;
  }
  ledger_.check_room(0, n, [&] {
    std::uint64_t need = 0;
    for (std::size_t i = 0; i < n; ++i) need += ledger_.history_need(transfers[i]);
    return need;
  });
  // Exactly the commands' path: the same driver over the same records at
  // the same effective time, the last record ending the request.
  const std::int64_t t = effective_time(time_ns);
  const TransferArray src{transfers, static_cast<std::uint64_t>(t)};
  CreateResultArray sink{results};
  begin_convenience(LedgerCommandKind::kCreateTransfer);
  ledger_.run_transfers(src, n, sink, request_);
  request_.open = false;
  next_seq_ += n;
  clock_ = t;
}

void LedgerMachine::create_transfers(const Transfer* transfers, std::size_t n, std::int64_t time_ns,
                                     std::uint32_t* results) {
  std::vector<CreateResult> r(n);
  create_transfers(transfers, n, time_ns, r.data());
  for (std::size_t i = 0; i < n; ++i) results[i] = r[i].status;
}

CreateAccountResult LedgerMachine::create_account(const Account& a, std::int64_t time_ns, std::uint64_t* timestamp) {
  CreateResult r{};
  create_accounts(&a, 1, time_ns, &r);
  if (timestamp != nullptr) *timestamp = r.timestamp;
  return static_cast<CreateAccountResult>(r.status);
}

CreateTransferResult LedgerMachine::transfer(const Transfer& t, std::int64_t time_ns, std::uint64_t* timestamp) {
  check_time_arg(time_ns);
  // transfer_one is a request of one record: with a chain or a request left
  // open by process(), the command continues them instead.
  if (chain_len_ != 0 || request_.open) [[unlikely]] {
    CreateResult r{};
    const Command c = make_create_transfer(t, time_ns, cf::kLastInBatch);
    via_process(&c, 1, &r);
    if (timestamp != nullptr) *timestamp = r.timestamp;
    return static_cast<CreateTransferResult>(r.status);
  }
  ledger_.check_room(0, 1, [&] { return ledger_.history_need(t); });
  const std::int64_t now = effective_time(time_ns);
  TimestampOut sink{timestamp};
  const CreateTransferResult r = ledger_.transfer_one(t, static_cast<std::uint64_t>(now), 0, sink);
  request_kind_ = LedgerCommandKind::kCreateTransfer;
  ++next_seq_;
  clock_ = now;
  return r;
}

SetLimitResult LedgerMachine::set_account_limit(std::uint64_t account_id, std::uint64_t limit, std::int64_t time_ns) {
  check_time_arg(time_ns);
  const Command c = make_set_account_limit(account_id, limit, time_ns, cf::kLastInBatch);
  const std::uint64_t seq = next_seq_;
  scratch_.clear();
  process(&c, 1, scratch_);
  return static_cast<SetLimitResult>(own_event(seq).result);
}

std::size_t LedgerMachine::advance_time(std::int64_t time_ns) {
  check_time_arg(time_ns);
  const Command c = make_advance_time(time_ns, cf::kLastInBatch);
  const std::uint64_t seq = next_seq_;
  scratch_.clear();
  process(&c, 1, scratch_);
  return own_event(seq).count();
}

std::size_t LedgerMachine::evict(std::int64_t time_ns) {
  check_time_arg(time_ns);
  const Command c = make_evict(time_ns, cf::kLastInBatch);
  const std::uint64_t seq = next_seq_;
  scratch_.clear();
  process(&c, 1, scratch_);
  return own_event(seq).count();
}

std::size_t LedgerMachine::drain_evicted(std::uint64_t max, std::int64_t time_ns, Transfer* out) {
  check_time_arg(time_ns);
  const Command c = make_drain_evicted(max, time_ns, cf::kLastInBatch);
  const std::uint64_t seq = next_seq_;
  scratch_.clear();
  process(&c, 1, scratch_);
  std::size_t k = 0;
  for (const LedgerEvent& e : scratch_) {
    if (e.seq == seq && e.type == static_cast<std::uint8_t>(LedgerEventType::kTransferDrained)) {
      out[k++] = e.transfer();
    }
  }
  return k;
}

// ---- state -------------------------------------------------------------------------

std::uint64_t LedgerMachine::state_hash() const noexcept {
  const std::uint64_t scalars[] = {next_seq_, static_cast<std::uint64_t>(clock_), open_chain_kind(), chain_len_,
                                   open_request()};
  std::uint64_t h = checksum64(scalars, sizeof(scalars), ledger_.state_hash());
  return checksum64(chain_.get(), std::size_t{chain_len_} * sizeof(Command), h);
}

// The machine's fields (next seq, clock, the open chain's kind and members)
// then the core's (Ledger::save), in one envelope.
std::string LedgerMachine::snapshot() const {
  SnapshotWriter w(kSnapshotMagic, kSnapshotVersion);
  w.put(next_seq_);
  w.put(clock_);
  w.put(open_chain_kind());
  w.put(std::uint64_t{chain_len_});
  w.put_array(chain_.get(), chain_len_);
  w.put(open_request());
  ledger_.save(w);
  return w.finish();
}

LedgerMachine LedgerMachine::restore(const std::uint8_t* data, std::size_t size) {
  SnapshotReader r(data, size, kSnapshotMagic, kSnapshotVersion, kSnapshotVersion, "ledger machine snapshot");
  const auto next_seq = r.get<std::uint64_t>();
  const auto clock = r.get<std::int64_t>();
  const auto kind = r.get<std::uint64_t>();
  if (next_seq == 0) r.fail("next seq 0");
  if (next_seq > (std::uint64_t{1} << 63)) r.fail("next seq beyond 2^63");  // cannot be reached; would wrap
  if (clock < 0 || clock > kMaxTime) r.fail("clock out of range");
  const std::uint64_t len = r.get_count(kMaxChain - 1, sizeof(Command), "chain member");
  const bool create = kind == static_cast<std::uint64_t>(LedgerCommandKind::kCreateAccount) ||
                      kind == static_cast<std::uint64_t>(LedgerCommandKind::kCreateTransfer);
  if (len == 0 ? kind != 0 : !create) r.fail("bad chain kind");
  if (len >= next_seq) r.fail("chain members before the first seq");
  std::vector<Command> members(len);
  r.get_array(members.data(), members.size());
  const auto request = r.get<std::uint64_t>();
  const std::uint64_t request_kind = request & 0xFF;
  if (request != 0 && ((request & ~std::uint64_t{kRequestImported | 0xFF}) != 0 ||
                       (request_kind != static_cast<std::uint64_t>(LedgerCommandKind::kCreateAccount) &&
                        request_kind != static_cast<std::uint64_t>(LedgerCommandKind::kCreateTransfer)) ||
                       (len != 0 && request_kind != kind))) {
    r.fail("bad open request");
  }
  LedgerMachine m{Ledger::load(r)};
  r.expect_end();
  m.next_seq_ = next_seq;
  m.clock_ = clock;
  if (len != 0) m.chain_kind_ = static_cast<LedgerCommandKind>(kind);
  if (request != 0) {
    m.request_ = Ledger::Request{true, (request & kRequestImported) != 0};
    m.request_kind_ = static_cast<LedgerCommandKind>(request_kind);
  }
  // An open chain is what buffer() leaves: consecutive linked creates of its
  // kind, ending at the last seq, stamped with nondecreasing times up to the
  // clock, none ending a request.
  std::int64_t t = 0;
  for (std::uint64_t k = 0; k < len; ++k) {
    const Command& c = members[k];
    if (c.kind != kind || rejection(c) != 0 || !linked(c) || last_in_batch(c) || c.seq != next_seq - len + k ||
        c.time_ns < t || c.time_ns > clock) {
      r.fail("chain member " + std::to_string(k) + " is not one the machine could have buffered");
    }
    t = c.time_ns;
    m.chain_[k] = c;
  }
  m.chain_len_ = static_cast<std::uint32_t>(len);
  return m;
}

LedgerMachine::LedgerMachine(Ledger&& ledger) : ledger_(std::move(ledger)), chain_(make_zeroed<Command>(kMaxChain)) {}

}  // namespace shanraq::ledger
