// The ledger as a state machine (common/state_machine.hpp): every change of
// state is a LedgerCommand, every outcome a LedgerEvent. It wraps the ledger
// core (ledger.hpp), whose C++ API stays for C++ callers; the bindings and
// the runner drive this.
//
// Commands (kind):
//   CREATE_ACCOUNT   payload: an Account          -> ACCOUNT_RESULT
//   CREATE_TRANSFER  payload: a Transfer          -> TRANSFER_RESULT
//   SET_ACCOUNT_LIMIT payload: SetLimitBody       -> LIMIT_RESULT
//   ADVANCE_TIME     (no payload): releases the holds due at its time
//                                                 -> TIME_ADVANCED (count)
//   EVICT            (no payload): the full eviction sweep (Ledger::evict)
//                                                 -> EVICTED (count, stored left)
//   DRAIN_EVICTED    payload: DrainBody (max)     -> one TRANSFER_DRAINED per
//                    archived transfer handed over (oldest first), then
//                    DRAINED (count, archived left)
// A command that is malformed (unknown kind, command flag or nonzero
// reserved byte, time outside [0, kMaxTime]) changes nothing and yields one
// REJECTED event naming why (CommandRejection).
//
// Time. A command's time_ns is its `now`; the machine's clock is the
// largest time_ns applied, and a command stamped earlier runs at the clock.
// Every command with a valid time first releases the holds whose timeout
// has passed at the timestamp it would take: one HOLD_EXPIRED event (the
// hold's record, its final state) each, before the command's own events
// (inside an open chain holds are released only before the chain). Result
// events carry the ledger timestamp the command took (creates and limits
// take one whatever their result; expiries take one each).
//
// Requests. A client's request (TigerBeetle's batch) is a run of create
// commands of one kind ended by one with kLastInBatch, by a command of
// another kind or by a rejected command. Its first create decides whether
// the request imports (the record's IMPORTED flag); creates that disagree
// are answered IMPORTED_EVENT_EXPECTED / _NOT_EXPECTED. A request open
// between process() calls is state (snapshots and state_hash() hold it).
//
// Linked chains across commands. A run of consecutive create commands of
// one kind whose record has LINKED set, closed by the next create of that
// kind without it, is one chain, all or nothing, with TigerBeetle's
// answers. The runner hands over batches of any size, so a chain may span
// process() calls: the machine keeps the linked commands of an open chain
// (part of its state: snapshot() and state_hash() include them) and applies
// the chain when the command that closes it arrives, emitting every
// member's events then, each with its own seq, in order. A chain ends open,
// and is answered as TigerBeetle answers a chain open at the end of a batch
// (its last member LINKED_EVENT_CHAIN_OPEN, the others
// LINKED_EVENT_FAILED), when its member carries kLastInBatch (the end of a
// client's request), when it reaches kMaxChain members (TigerBeetle's batch
// size), or when any other command arrives (another kind, or a rejected
// command), whose events follow the chain's.
//
// Capacity. process() checks a batch against the capacities before applying
// any of it, counting every create command (and the open chain's members)
// as one record: CapacityError if they might not fit, nothing applied.
//
// Threads: single-writer, like the core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "shanraq/common/state_machine.hpp"
#include "shanraq/common/zeroed.hpp"
#include "shanraq/ledger/ledger.hpp"
#include "shanraq/ledger/types.hpp"

namespace shanraq::ledger {

enum class LedgerCommandKind : std::uint8_t {
  kCreateAccount = 1,
  kCreateTransfer = 2,
  kSetAccountLimit = 3,
  kAdvanceTime = 4,
  kEvict = 5,
  kDrainEvicted = 6,
};

namespace command_flags {
// The last command of a client's request: a chain still open there ends
// open (LINKED_EVENT_CHAIN_OPEN). create_accounts / create_transfers set it
// on their last record; every per-call command carries it.
inline constexpr std::uint8_t kLastInBatch = 1U << 0;
inline constexpr std::uint8_t kKnown = kLastInBatch;
}  // namespace command_flags

// The latest time a command may carry (2^62 ns: the year 2116). Timestamps
// grow by one per event past the largest time applied, so with every time
// below this bound they can never reach 2^63.
inline constexpr std::int64_t kMaxTime = std::int64_t{1} << 62;

struct SetLimitBody {
  std::uint64_t account_id;
  std::uint64_t limit;
  std::uint64_t reserved[10];
};
static_assert(sizeof(SetLimitBody) == 96);

struct DrainBody {
  std::uint64_t max;  // most archived transfers to hand over
  std::uint64_t reserved[11];
};
static_assert(sizeof(DrainBody) == 96);

// 128 bytes: the header, then a 96-byte payload that is an Account, a
// Transfer, a SetLimitBody or a DrainBody by kind (all zero for kinds
// without one). The payload is declared as a Transfer, the kind on the hot
// path, so the request pipeline reads it in place; other kinds are copied
// in and out (account(), set_limit(), drain(), make_*).
struct LedgerCommand {
  std::uint64_t seq;
  std::int64_t time_ns;
  std::uint8_t kind;   // LedgerCommandKind
  std::uint8_t flags;  // command_flags
  std::uint8_t reserved[14];
  Transfer payload;

  Account account() const noexcept {
    Account a;
    std::memcpy(&a, &payload, sizeof(a));
    return a;
  }
  const Transfer& transfer() const noexcept { return payload; }
  SetLimitBody set_limit() const noexcept {
    SetLimitBody b;
    std::memcpy(&b, &payload, sizeof(b));
    return b;
  }
  DrainBody drain() const noexcept {
    DrainBody b;
    std::memcpy(&b, &payload, sizeof(b));
    return b;
  }
};
static_assert(sizeof(LedgerCommand) == 128 && offsetof(LedgerCommand, payload) == 32);

// Commands with seq 0 (the machine numbers them) and the given time, flags.
LedgerCommand make_create_account(const Account& a, std::int64_t time_ns, std::uint8_t flags = 0) noexcept;
LedgerCommand make_create_transfer(const Transfer& t, std::int64_t time_ns, std::uint8_t flags = 0) noexcept;
LedgerCommand make_set_account_limit(std::uint64_t account_id, std::uint64_t limit, std::int64_t time_ns,
                                     std::uint8_t flags = 0) noexcept;
LedgerCommand make_advance_time(std::int64_t time_ns, std::uint8_t flags = 0) noexcept;
LedgerCommand make_evict(std::int64_t time_ns, std::uint8_t flags = 0) noexcept;
LedgerCommand make_drain_evicted(std::uint64_t max, std::int64_t time_ns, std::uint8_t flags = 0) noexcept;

enum class LedgerEventType : std::uint8_t {
  kAccountResult = 1,    // result: CreateAccountResult; id; timestamp
  kTransferResult = 2,   // result: CreateTransferResult; id; timestamp
  kLimitResult = 3,      // result: SetLimitResult; id (the account); timestamp
  kHoldExpired = 4,      // transfer: the hold as it now is; timestamp: the expiry's
  kTransferDrained = 5,  // transfer: an evicted transfer handed over (reserved = PendingStatus)
  kTimeAdvanced = 6,     // count: holds released by this ADVANCE_TIME
  kEvicted = 7,          // count: transfers evicted; remaining: transfers still stored
  kDrained = 8,          // count: transfers handed over; remaining: still archived
  kRejected = 9,         // result: CommandRejection
};

enum class CommandRejection : std::uint32_t {
  kUnknownKind = 1,
  kReservedFlag = 2,   // a command flag this build does not know
  kReservedField = 3,  // a reserved header byte, or a payload byte the kind does not use, is not 0
  kTimeOutOfRange = 4,  // time_ns < 0 or > kMaxTime
};

// <= 128 bytes, header first: type, a result code, the ledger timestamp the
// event took (0 if none), then a payload: the record id (result events),
// counts (acknowledgements) or a whole Transfer (expired, drained).
struct LedgerEvent {
  std::uint64_t seq;
  std::int64_t time_ns;
  std::uint8_t type;  // LedgerEventType
  std::uint8_t reserved[3];
  std::uint32_t result;
  std::uint64_t timestamp;
  std::uint64_t payload[12];

  std::uint64_t id() const noexcept { return payload[0]; }
  std::uint64_t count() const noexcept { return payload[0]; }
  std::uint64_t remaining() const noexcept { return payload[1]; }
  Transfer transfer() const noexcept {
    Transfer t;
    std::memcpy(&t, payload, sizeof(t));
    return t;
  }
};
static_assert(sizeof(LedgerEvent) == 128 && offsetof(LedgerEvent, payload) == 32);

class LedgerMachine {
 public:
  using Command = LedgerCommand;
  using Event = LedgerEvent;
  static constexpr std::uint32_t kMachineTag = sm::machine_tag("LDGR");
  static constexpr std::uint32_t kWireVersion = 1;

  // Throws as Ledger's constructor.
  explicit LedgerMachine(const LedgerCapacity& capacity = {});
  LedgerMachine(LedgerMachine&&) noexcept = default;
  LedgerMachine& operator=(LedgerMachine&&) noexcept = default;

  // ---- the contract -------------------------------------------------------------
  void apply(const Command& c, std::vector<Event>& out) { process(&c, 1, out); }
  // SequenceError or CapacityError before anything is applied; otherwise
  // never throws but std::bad_alloc (out cannot grow).
  void process(const Command* cmds, std::size_t n, std::vector<Event>& out);
  std::uint64_t next_seq() const noexcept { return next_seq_; }
  std::int64_t now_ns() const noexcept { return clock_; }
  std::string snapshot() const;
  // std::invalid_argument on corrupt input or a state no command stream
  // could reach (Ledger::load's checks, and the chain's).
  static LedgerMachine restore(const std::uint8_t* data, std::size_t size);
  // restore() onto the heap, for bindings that hold the machine by pointer.
  static std::unique_ptr<LedgerMachine> restore_unique(const std::uint8_t* data, std::size_t size) {
    return std::make_unique<LedgerMachine>(restore(data, size));
  }
  std::uint64_t state_hash() const noexcept;

  // ---- conveniences: commands built here ------------------------------------------
  // Each is exactly the commands described, with seq 0, processed: the same
  // state, timestamps and (for its own commands) results. They return only
  // their own commands' results: events of other commands (a chain that
  // process() left open, which they close or end) are not returned. Times
  // outside [0, kMaxTime] are a programmer error here (std::invalid_argument,
  // nothing applied) where process() would reject the commands.
  //
  // n CREATE_* commands at time_ns, the last with kLastInBatch; one result
  // per record (a status, or TigerBeetle 0.17's status and timestamp).
  // CapacityError (nothing applied) if they might not fit.
  void create_accounts(const Account* accounts, std::size_t n, std::int64_t time_ns, CreateResult* results);
  void create_transfers(const Transfer* transfers, std::size_t n, std::int64_t time_ns, CreateResult* results);
  void create_accounts(const Account* accounts, std::size_t n, std::int64_t time_ns, std::uint32_t* results);
  void create_transfers(const Transfer* transfers, std::size_t n, std::int64_t time_ns, std::uint32_t* results);
  // One command with kLastInBatch each; `timestamp`, if given, receives the
  // result's timestamp.
  CreateAccountResult create_account(const Account& a, std::int64_t time_ns, std::uint64_t* timestamp = nullptr);
  CreateTransferResult transfer(const Transfer& t, std::int64_t time_ns, std::uint64_t* timestamp = nullptr);
  SetLimitResult set_account_limit(std::uint64_t account_id, std::uint64_t limit, std::int64_t time_ns);
  std::size_t advance_time(std::int64_t time_ns);  // holds released
  std::size_t evict(std::int64_t time_ns);         // transfers evicted
  // Hands over up to `max` archived transfers into `out` (room for
  // drain_room(max)), oldest first; returns how many.
  std::size_t drain_evicted(std::uint64_t max, std::int64_t time_ns, Transfer* out);
  // The most drain_evicted(max, ...) can hand over: more than
  // archived_count() when the drain closes an open transfer chain, whose
  // eviction step may archive up to kEvictPerEvent records per member first.
  std::size_t drain_room(std::uint64_t max) const noexcept {
    const std::uint64_t most =
        ledger_.archived_count() + (open_chain_kind() == static_cast<std::uint64_t>(LedgerCommandKind::kCreateTransfer)
                                        ? Ledger::kEvictPerEvent * std::uint64_t{chain_len_}
                                        : 0);
    return static_cast<std::size_t>(most < max ? most : max);
  }

  // ---- queries -------------------------------------------------------------------
  // The core, for queries (lookups, history, counts, prefetch hints).
  const Ledger& ledger() const noexcept { return ledger_; }
  // Linked commands of the open chain, waiting for the command that closes it.
  std::size_t open_chain_length() const noexcept { return chain_len_; }
  // Commits every page of reserved memory now (Ledger::prefault).
  void prefault() noexcept { ledger_.prefault(); }

 private:
  explicit LedgerMachine(Ledger&& ledger);
  // Reason to reject c (a CommandRejection), or 0.
  static std::uint32_t rejection(const Command& c) noexcept;
  std::int64_t effective_time(std::int64_t t) const noexcept { return t > clock_ ? t : clock_; }
  // The open chain's kind, 0 when none is open (the kind of a closed chain is
  // not state).
  std::uint64_t open_chain_kind() const noexcept {
    return chain_len_ == 0 ? 0 : static_cast<std::uint64_t>(chain_kind_);
  }
  void check_room(const Command* cmds, std::size_t n) const;
  // Applies the batch's creates of `kind` from i on (continuing the open
  // chain, if any); returns the index of the first command not consumed.
  std::size_t run_creates(const Command* cmds, std::size_t i, std::size_t n, LedgerCommandKind kind,
                          std::vector<Event>& out);
  // Appends c to the open chain, stamped with its seq and effective time.
  void buffer(const Command& c) noexcept;
  // Applies the open chain's members: closed by its last member, or ended
  // open if that member is still linked.
  void apply_chain(std::vector<Event>& out);
  void apply_other(const Command& c, std::vector<Event>& out);
  // The per-call conveniences' path when a chain is open: the commands
  // through process(), their own results read back.
  void via_process(const Command* cmds, std::size_t n, CreateResult* results);
  // A convenience's records of `kind` are about to run as a request.
  void begin_convenience(LedgerCommandKind kind) noexcept;
  // The open request as snapshots and state_hash() hold it: 0 when none is
  // open, else its kind, | kRequestImported if it imports.
  static constexpr std::uint64_t kRequestImported = 1U << 8;
  std::uint64_t open_request() const noexcept {
    if (!request_.open) return 0;
    return static_cast<std::uint64_t>(request_kind_) | (request_.imported ? kRequestImported : 0);
  }
  const Event& own_event(std::uint64_t seq) const;

  Ledger ledger_;
  std::uint64_t next_seq_ = 1;
  std::int64_t clock_ = 0;
  // The open chain: kind and members as they will be applied (seq and the
  // time they run at stamped in).
  LedgerCommandKind chain_kind_ = LedgerCommandKind::kCreateTransfer;
  std::uint32_t chain_len_ = 0;
  RawArray<Command> chain_;
  // The open request (its kind is meaningless when it is closed).
  Ledger::Request request_;
  LedgerCommandKind request_kind_ = LedgerCommandKind::kCreateTransfer;
  // Events of the per-call conveniences (not state).
  std::vector<Event> scratch_;
};

}  // namespace shanraq::ledger

namespace shanraq::sm {

template <>
struct RecordLayout<ledger::SetLimitBody> {
  static constexpr const char* kName = "SetLimitBody";
  static constexpr FieldInfo kFields[] = {
      {"account_id", 0, 8, "<u8"}, {"limit", 8, 8, "<u8"}, {"reserved", 16, 80, "V80"}};
};
template <>
struct RecordLayout<ledger::DrainBody> {
  static constexpr const char* kName = "DrainBody";
  static constexpr FieldInfo kFields[] = {{"max", 0, 8, "<u8"}, {"reserved", 8, 88, "V88"}};
};

// The payload's views are aliases: the numpy dtype reads it as `account`,
// `transfer`, `set_limit` or `drain`.
template <>
struct RecordLayout<ledger::LedgerCommand> {
  static constexpr const char* kName = "LedgerCommand";
  static constexpr FieldInfo kFields[] = {
      {"seq", 0, 8, "<u8"},
      {"time_ns", 8, 8, "<i8"},
      {"kind", 16, 1, "u1"},
      {"flags", 17, 1, "u1"},
      {"reserved", 18, 14, "V14"},
      {"payload", 32, 96, "V96"},
      {"account", 32, 96, nullptr, RecordLayout<ledger::Account>::kFields, field_count<ledger::Account>(), true},
      {"transfer", 32, 96, nullptr, RecordLayout<ledger::Transfer>::kFields, field_count<ledger::Transfer>(), true},
      {"set_limit", 32, 96, nullptr, RecordLayout<ledger::SetLimitBody>::kFields, field_count<ledger::SetLimitBody>(),
       true},
      {"drain", 32, 96, nullptr, RecordLayout<ledger::DrainBody>::kFields, field_count<ledger::DrainBody>(), true},
  };
};

template <>
struct RecordLayout<ledger::LedgerEvent> {
  static constexpr const char* kName = "LedgerEvent";
  static constexpr FieldInfo kFields[] = {
      {"seq", 0, 8, "<u8"},
      {"time_ns", 8, 8, "<i8"},
      {"type", 16, 1, "u1"},
      {"reserved", 17, 3, "V3"},
      {"result", 20, 4, "<u4"},
      {"timestamp", 24, 8, "<u8"},
      {"payload", 32, 96, "V96"},
      {"id", 32, 8, "<u8", nullptr, 0, true},
      {"count", 32, 8, "<u8", nullptr, 0, true},
      {"remaining", 40, 8, "<u8", nullptr, 0, true},
      {"transfer", 32, 96, nullptr, RecordLayout<ledger::Transfer>::kFields, field_count<ledger::Transfer>(), true},
  };
};

template <>
struct EnumTable<ledger::LedgerCommandKind> {
  static constexpr const char* kName = "LedgerCommandKind";
  static constexpr EnumMember kMembers[] = {
      {"CREATE_ACCOUNT", 1}, {"CREATE_TRANSFER", 2}, {"SET_ACCOUNT_LIMIT", 3},
      {"ADVANCE_TIME", 4},   {"EVICT", 5},           {"DRAIN_EVICTED", 6},
  };
};
template <>
struct EnumTable<ledger::LedgerEventType> {
  static constexpr const char* kName = "LedgerEventType";
  static constexpr EnumMember kMembers[] = {
      {"ACCOUNT_RESULT", 1}, {"TRANSFER_RESULT", 2}, {"LIMIT_RESULT", 3}, {"HOLD_EXPIRED", 4}, {"TRANSFER_DRAINED", 5},
      {"TIME_ADVANCED", 6},  {"EVICTED", 7},         {"DRAINED", 8},      {"REJECTED", 9},
  };
};
template <>
struct EnumTable<ledger::CommandRejection> {
  static constexpr const char* kName = "CommandRejection";
  static constexpr EnumMember kMembers[] = {
      {"UNKNOWN_KIND", 1}, {"RESERVED_FLAG", 2}, {"RESERVED_FIELD", 3}, {"TIME_OUT_OF_RANGE", 4}};
};

}  // namespace shanraq::sm

namespace shanraq::ledger {
static_assert(sm::tiles(sm::RecordLayout<SetLimitBody>::kFields, sizeof(SetLimitBody)));
static_assert(sm::tiles(sm::RecordLayout<DrainBody>::kFields, sizeof(DrainBody)));
static_assert(sm::tiles(sm::RecordLayout<LedgerCommand>::kFields, sizeof(LedgerCommand)));
static_assert(sm::tiles(sm::RecordLayout<LedgerEvent>::kFields, sizeof(LedgerEvent)));
static_assert(offsetof(LedgerCommand, flags) == 17 && offsetof(LedgerEvent, result) == 20 &&
              offsetof(LedgerEvent, timestamp) == 24);
static_assert(sm::StateMachine<LedgerMachine>);
}  // namespace shanraq::ledger
