// Compiles the binding layer's C++ (glue.hpp) with the core's warnings as
// errors and its sanitizer flags in every native test preset, so the C++ the
// bindings run is held to the same standard as the core. The binding modules
// themselves are compiled from Cython's generated code, which cannot be.
// Every template of glue.hpp is instantiated here for every record and enum
// a binding exports.
#include "glue.hpp"

namespace shq_check {
[[maybe_unused]] void (*const kTranslate)() noexcept = &shq::translate_exception;
}  // namespace shq_check
