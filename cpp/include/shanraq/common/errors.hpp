// Exceptions the core throws across module boundaries. Each maps to one
// Python exception class (shanraq_core.errors) in the binding layer.
#pragma once

#include <stdexcept>

namespace shanraq {

// A command needs more records than the capacities the machine was built
// with allow. Raised before the command is applied: nothing has changed.
class CapacityError : public std::length_error {
 public:
  using std::length_error::length_error;
};

}  // namespace shanraq
