// Compiles the binding layer's C++ (glue.hpp, runner_glue.hpp) with the
// core's warnings as errors and its sanitizer flags in every native test
// preset, so the C++ the bindings run is held to the same standard as the
// core. The binding modules themselves are compiled from Cython's generated
// code, which cannot be. Every template the bindings use is instantiated
// here for every record, enum and machine a binding exports.
#include "../../../cpp/tests/common/tally_machine.hpp"
#include "glue.hpp"
#include "journal_glue.hpp"
#include "runner_glue.hpp"

#include "shanraq/ledger/machine.hpp"
#include "shanraq/ledger/types.hpp"

#include "shanraq/book/engine.hpp"
#include "shanraq/book/types.hpp"
#include "shanraq/exchange/exchange.hpp"
#include "shanraq/exchange/types.hpp"

namespace shq_check {
using shanraq::test_machines::Tally;
[[maybe_unused]] void (*const kTranslate)() noexcept = &shq::translate_exception;
[[maybe_unused]] PyObject* (*const kTallyCommand)() noexcept = &shq::record_layout<Tally::Command>;
[[maybe_unused]] PyObject* (*const kTallyEvent)() noexcept = &shq::record_layout<Tally::Event>;
[[maybe_unused]] shq::AnyRunner* (*const kTallyRunner)(Tally&, shanraq::queue::SpscRing*, shanraq::queue::MpscRing*,
                                                       shanraq::queue::SpscRing&, const shanraq::runner::RunnerConfig&,
                                                       shanraq::queue::SpscRing*, shq::JournalHandle*, std::uint64_t,
                                                       bool) = &shq::new_runner<Tally>;
[[maybe_unused]] shq::BoundMachine* (*const kTallyBound)(Tally&) = &shq::new_bound<Tally>;
[[maybe_unused]] shq::JournalView (*const kInspect)(const std::string&) = &shq::inspect;

namespace ledger = shanraq::ledger;
[[maybe_unused]] PyObject* (*const kLedgerRecords[])() noexcept = {
    &shq::record_layout<ledger::Account>,        &shq::record_layout<ledger::Transfer>,
    &shq::record_layout<ledger::AccountBalance>, &shq::record_layout<ledger::LedgerCommand>,
    &shq::record_layout<ledger::LedgerEvent>,    &shq::record_layout<ledger::CreateResult>,
    &shq::record_layout<ledger::AccountFilter>,  &shq::record_layout<ledger::QueryFilter>,
};
[[maybe_unused]] PyObject* (*const kLedgerEnums[])() noexcept = {
    &shq::enum_members<ledger::CreateAccountResult>, &shq::enum_members<ledger::CreateTransferResult>,
    &shq::enum_members<ledger::SetLimitResult>,      &shq::enum_members<ledger::PendingStatus>,
    &shq::enum_members<ledger::AccountFlagBits>,     &shq::enum_members<ledger::TransferFlagBits>,
    &shq::enum_members<ledger::LedgerCommandKind>,   &shq::enum_members<ledger::LedgerEventType>,
    &shq::enum_members<ledger::CommandRejection>,
};
[[maybe_unused]] shq::AnyRunner* (*const kLedgerRunner)(ledger::LedgerMachine&, shanraq::queue::SpscRing*,
                                                        shanraq::queue::MpscRing*, shanraq::queue::SpscRing&,
                                                        const shanraq::runner::RunnerConfig&, shanraq::queue::SpscRing*,
                                                        shq::JournalHandle*, std::uint64_t,
                                                        bool) = &shq::new_runner<ledger::LedgerMachine>;
[[maybe_unused]] shq::BoundMachine* (*const kLedgerBound)(ledger::LedgerMachine&) =
    &shq::new_bound<ledger::LedgerMachine>;

namespace book = shanraq::book;
[[maybe_unused]] PyObject* (*const kBookLayouts[])() noexcept = {
    &shq::record_layout<book::Command>,
    &shq::record_layout<book::Event>,
};
[[maybe_unused]] PyObject* (*const kBookEnums[])() noexcept = {
    &shq::enum_members<book::CommandKind>,  &shq::enum_members<book::Side>,
    &shq::enum_members<book::OrderType>,    &shq::enum_members<book::TimeInForce>,
    &shq::enum_members<book::Stp>,          &shq::enum_members<book::EventType>,
    &shq::enum_members<book::RejectReason>, &shq::enum_members<book::CancelReason>,
    &shq::enum_members<book::OrderState>,
};
[[maybe_unused]] shq::BoundMachine* (*const kBookBound)(book::MatchingEngine&) = &shq::new_bound<book::MatchingEngine>;

namespace exchange = shanraq::exchange;
[[maybe_unused]] PyObject* (*const kExchangeLayouts[])() noexcept = {
    &shq::record_layout<exchange::ExchangeCommand>,
    &shq::record_layout<exchange::ExchangeEvent>,
};
[[maybe_unused]] PyObject* (*const kExchangeEnums[])() noexcept = {
    &shq::enum_members<exchange::CommandKind>,
    &shq::enum_members<exchange::EventType>,
    &shq::enum_members<exchange::RejectReason>,
    &shq::enum_members<exchange::Violation>,
};
[[maybe_unused]] shq::AnyRunner* (*const kExchangeRunner)(exchange::Exchange&, shanraq::queue::SpscRing*,
                                                          shanraq::queue::MpscRing*, shanraq::queue::SpscRing&,
                                                          const shanraq::runner::RunnerConfig&,
                                                          shanraq::queue::SpscRing*, shq::JournalHandle*, std::uint64_t,
                                                          bool) = &shq::new_runner<exchange::Exchange>;
[[maybe_unused]] shq::BoundMachine* (*const kExchangeBound)(exchange::Exchange&) = &shq::new_bound<exchange::Exchange>;
}  // namespace shq_check
