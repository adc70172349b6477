// Compiles the binding layer's C++ (glue.hpp, runner_glue.hpp) with the
// core's warnings as errors and its sanitizer flags in every native test
// preset, so the C++ the bindings run is held to the same standard as the
// core. The binding modules themselves are compiled from Cython's generated
// code, which cannot be. Every template the bindings use is instantiated
// here for every record, enum and machine a binding exports.
#include "../../../cpp/tests/common/tally_machine.hpp"
#include "glue.hpp"
#include "runner_glue.hpp"

namespace shq_check {
using shanraq::test_machines::Tally;
[[maybe_unused]] void (*const kTranslate)() noexcept = &shq::translate_exception;
[[maybe_unused]] PyObject* (*const kTallyCommand)() noexcept = &shq::record_layout<Tally::Command>;
[[maybe_unused]] PyObject* (*const kTallyEvent)() noexcept = &shq::record_layout<Tally::Event>;
[[maybe_unused]] shq::AnyRunner* (*const kTallyRunner)(Tally&, shanraq::queue::SpscRing*, shanraq::queue::MpscRing*,
                                                        shanraq::queue::SpscRing&, const shanraq::runner::RunnerConfig&,
                                                        shanraq::queue::SpscRing*) = &shq::new_runner<Tally>;
}  // namespace shq_check
