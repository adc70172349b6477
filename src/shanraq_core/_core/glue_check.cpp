// Compiles the binding layer's C++ (glue.hpp) with the core's warnings as
// errors and its sanitizer flags in every native test preset, so the C++ the
// bindings run is held to the same standard as the core. The binding modules
// themselves are compiled from Cython's generated code, which cannot be.
// Every template of glue.hpp is instantiated here for every record and enum
// a binding exports.
#include "glue.hpp"

#include "shanraq/ledger/machine.hpp"
#include "shanraq/ledger/types.hpp"

namespace shq_check {
[[maybe_unused]] void (*const kTranslate)() noexcept = &shq::translate_exception;

namespace ledger = shanraq::ledger;
[[maybe_unused]] PyObject* (*const kLedgerRecords[])() noexcept = {
    &shq::record_layout<ledger::Account>,       &shq::record_layout<ledger::Transfer>,
    &shq::record_layout<ledger::AccountBalance>, &shq::record_layout<ledger::LedgerCommand>,
    &shq::record_layout<ledger::LedgerEvent>,
};
[[maybe_unused]] PyObject* (*const kLedgerEnums[])() noexcept = {
    &shq::enum_members<ledger::CreateAccountResult>, &shq::enum_members<ledger::CreateTransferResult>,
    &shq::enum_members<ledger::SetLimitResult>,      &shq::enum_members<ledger::PendingStatus>,
    &shq::enum_members<ledger::AccountFlagBits>,     &shq::enum_members<ledger::TransferFlagBits>,
    &shq::enum_members<ledger::LedgerCommandKind>,   &shq::enum_members<ledger::LedgerEventType>,
    &shq::enum_members<ledger::CommandRejection>,
};
}  // namespace shq_check
