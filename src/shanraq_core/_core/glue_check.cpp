// Compiles the binding layer's C++ (glue.hpp) with the core's warnings as
// errors and its sanitizer flags in every native test preset, so the C++ the
// bindings run is held to the same standard as the core. The binding modules
// themselves are compiled from Cython's generated code, which cannot be.
// Every template of glue.hpp is instantiated here for every record and enum
// a binding exports.
#include "glue.hpp"

#include "shanraq/book/types.hpp"

namespace shq_check {
[[maybe_unused]] void (*const kTranslate)() noexcept = &shq::translate_exception;

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
}  // namespace shq_check
