// The state-machine contract every machine of the core follows (the matching
// engine, the ledger, the exchange), and the generic code (the sequencer in
// runner/, the journal) relies on. docs/architecture.md explains it; this
// header states it in code.
//
// Records. A machine consumes fixed-size Command records and emits
// fixed-size Event records: trivially copyable, standard layout, no implicit
// padding (every byte is a named field, so raw bytes can be hashed, journaled
// and compared), layout pinned by static_asserts next to the struct. Every
// Command starts with the same header and every Event likewise:
//
//   offset 0   u64 seq      command: its sequence number; event: the seq of
//                           the command that caused it
//   offset 8   i64 time_ns  command: its time, ns since the Unix epoch;
//                           event: the machine's clock when it happened
//   offset 16  u8  kind     command: what to do; event: what happened (its
//                           `type` field)
//
// Sequence numbers. A machine numbers the commands it applies 1, 2, 3, ...
// (next_seq() is the number the next one takes; 1 when new). A command's seq
// is either 0, "unstamped" (the machine gives it next_seq()), or exactly the
// number it would take: that is how a journal replay proves it is applying
// the stream it thinks it is. process() checks a whole batch before applying
// any of it and throws SequenceError if a stamped seq is out of place.
// Every command consumes one number, rejected ones included.
//
// Events. Every command produces at least one event, all carrying its seq,
// contiguous and in command order, so in any event stream seq never
// decreases and a jump of more than one means a command's events were lost.
//
// Time. A command's time_ns is the only time a machine knows; it never reads
// a clock. A machine's clock is the largest time_ns it has applied (it never
// goes back; a command stamped earlier than the clock runs at the clock).
// A negative time_ns is rejected like any other bad field. The sequencer
// (runner/runner.hpp) is the one place in a pipeline that reads a clock.
//
// Determinism. The same commands applied to the same state give the same
// events, the same state_hash() and the same snapshot() bytes, on every
// build and platform: no clock, random source, address, thread id or
// uninitialised byte may influence a result.
//
// Nothing changes state outside the command stream: configuration (symbols,
// assets, limits), the passage of time (expiries, evictions) and hand-overs
// (evicted records) are commands and events. Queries are const.
//
// Threads: a machine is single-writer. One thread at a time may call any
// member; the bindings refuse a second thread while one is inside.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace shanraq::sm {

// ---- record layouts, described once ------------------------------------------------
// The numpy dtypes of every record are built from these tables (bindings), so
// an offset or a type is written down exactly once, here in C++.
struct FieldInfo {
  const char* name;
  std::uint32_t offset;
  std::uint32_t size;
  // numpy type string ("<u8", "<i8", "<u4", "<u2", "u1"), or nullptr for a
  // nested record described by `nested`.
  const char* format;
  const FieldInfo* nested = nullptr;
  std::uint32_t nested_count = 0;
  // A second view of bytes other fields already cover (a union member); not
  // counted by the coverage check, but must lie inside the record.
  bool alias = false;
};

// Specialised next to each record: `static constexpr FieldInfo kFields[]`
// and `static constexpr const char* kName` (the Python-side name).
template <class T>
struct RecordLayout;

template <class T>
concept DescribedRecord = requires {
  { RecordLayout<T>::kFields[0] } -> std::convertible_to<const FieldInfo&>;
  { RecordLayout<T>::kName } -> std::convertible_to<const char*>;
};

// True when the non-alias fields tile [0, size) exactly, in offset order,
// and every alias lies inside it. Used in static_asserts.
template <std::size_t N>
consteval bool tiles(const FieldInfo (&fields)[N], std::size_t size) {
  std::size_t at = 0;
  for (const FieldInfo& f : fields) {
    if (f.size == 0 || f.offset + f.size > size) return false;
    if (f.alias) continue;
    if (f.offset != at) return false;
    at += f.size;
  }
  return at == size;
}

template <class T>
constexpr std::size_t field_count() noexcept {
  return sizeof(RecordLayout<T>::kFields) / sizeof(FieldInfo);
}

// ---- enumerations, described once ----------------------------------------------------
// Python's IntEnums are checked against these tables at import, so a value is
// written down once, here (names are the Python member names).
struct EnumMember {
  const char* name;
  std::int64_t value;
};

// Specialised next to each enum: `static constexpr EnumMember kMembers[]` and
// `static constexpr const char* kName`.
template <class E>
struct EnumTable;

template <class E>
constexpr std::size_t enum_count() noexcept {
  return sizeof(EnumTable<E>::kMembers) / sizeof(EnumMember);
}

// ---- the records' common header -----------------------------------------------------------
template <class C>
concept CommandRecord = std::is_trivially_copyable_v<C> && std::is_standard_layout_v<C> &&
                        std::has_unique_object_representations_v<C> && DescribedRecord<C> && requires(C c) {
                          requires std::same_as<decltype(c.seq), std::uint64_t>;
                          requires std::same_as<decltype(c.time_ns), std::int64_t>;
                          requires sizeof(c.kind) == 1;
                          requires offsetof(C, seq) == 0 && offsetof(C, time_ns) == 8 && offsetof(C, kind) == 16;
                        };

template <class E>
concept EventRecord = std::is_trivially_copyable_v<E> && std::is_standard_layout_v<E> &&
                      std::has_unique_object_representations_v<E> && DescribedRecord<E> && requires(E e) {
                        requires std::same_as<decltype(e.seq), std::uint64_t>;
                        requires std::same_as<decltype(e.time_ns), std::int64_t>;
                        requires sizeof(e.type) == 1;
                        requires offsetof(E, seq) == 0 && offsetof(E, time_ns) == 8 && offsetof(E, type) == 16;
                      };

// ---- sequence checks ------------------------------------------------------------------------
// A batch whose stamped sequence numbers are out of place (a journal replayed
// into the wrong state, a gap, a duplicate). Nothing of the batch was applied.
class SequenceError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Throws SequenceError unless every command i of the batch has seq 0 or
// next + i. Cheap (one compare per command); machines call it at the top of
// process().
template <CommandRecord C>
void check_sequence(const C* cmds, std::size_t n, std::uint64_t next) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t s = cmds[i].seq;
    if (s != 0 && s != next + i) [[unlikely]] {
      throw SequenceError("command " + std::to_string(i) + " of the batch has seq " + std::to_string(s) +
                          ", expected " + std::to_string(next + i) + " (or 0 to let the machine number it)");
    }
  }
}

// ---- the machine ---------------------------------------------------------------------------------
// M::Command / M::Event: the records. M::kMachineTag: four ASCII bytes naming
// the machine in journals and snapshots ('BOOK', 'LDGR', 'EXCH' as a
// little-endian u32). M::kWireVersion: version of the Command and Event
// layouts (a journal written with another refuses to replay).
//
// apply(c, out): appends c's events to out (== process(&c, 1, out)).
// process(cmds, n, out): applies n commands in order, appending their
//   events; SequenceError before anything is applied; otherwise never throws
//   for bad input (it becomes a reject event), only std::bad_alloc if `out`
//   cannot grow (and the machine's documented capacity errors, raised
//   before the command that would exceed them is applied).
// next_seq(): the seq the next command takes.
// now_ns(): the machine's clock.
// snapshot(): canonical bytes of the whole state (equal states, equal
//   bytes), including next_seq and the clock; restore(bytes) validates every
//   invariant the code relies on and throws std::invalid_argument otherwise.
// state_hash(): 64-bit hash of the logical state (equal for equal states;
//   capacities are configuration and do not enter it).
template <class M>
concept StateMachine =
    requires {
      typename M::Command;
      typename M::Event;
      { M::kMachineTag } -> std::convertible_to<std::uint32_t>;
      { M::kWireVersion } -> std::convertible_to<std::uint32_t>;
    } && CommandRecord<typename M::Command> && EventRecord<typename M::Event> && std::movable<M> &&
    requires(M& m, const M& cm, const typename M::Command& c, const typename M::Command* cs, std::size_t n,
             std::vector<typename M::Event>& out, const std::uint8_t* bytes) {
      m.apply(c, out);
      m.process(cs, n, out);
      { cm.next_seq() } noexcept -> std::same_as<std::uint64_t>;
      { cm.now_ns() } noexcept -> std::same_as<std::int64_t>;
      { cm.snapshot() } -> std::same_as<std::string>;
      { M::restore(bytes, n) } -> std::same_as<M>;
      { cm.state_hash() } -> std::same_as<std::uint64_t>;
    };

constexpr std::uint32_t machine_tag(const char (&s)[5]) noexcept {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}

}  // namespace shanraq::sm
