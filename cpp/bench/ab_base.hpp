// Same-process A/B: another build of the matching engine (its engine.hpp,
// types.hpp and src/book/ copied from a git commit into a directory given as
// SHANRAQ_AB_BASE_DIR), compiled into this binary with the namespace renamed
// to shanraq::book_base (ab_base.cpp), behind this layout-neutral interface.
// Commands and events are passed as bytes: the compared builds share the
// Command (88 B) and Event (96 B) layouts, which compare_flows checks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shanraq::ab_base {

struct Config {
  std::uint32_t max_orders, max_symbols, max_levels, id_history;
};

void* create(const Config& c, std::uint32_t symbols);  // symbols 1..n added, tick 1, lot 1
void destroy(void* engine);
// Applies n commands (88-byte records), one apply() each or one process();
// the events are appended to the engine's own buffer.
void run(void* engine, const void* cmds, std::size_t n, bool batch);
// The event buffer (96-byte records) and its size; reserve() sizes and
// touches it.
const void* events(void* engine, std::size_t* n);
void reserve(void* engine, std::size_t events);
void clear(void* engine);
std::size_t command_size();
std::size_t event_size();

}  // namespace shanraq::ab_base
