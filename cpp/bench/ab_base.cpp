// Compiled with -Dbook=book_base and the base build's include directory first
// (cpp/bench/CMakeLists.txt): the base engine lives in shanraq::book_base.
#include "ab_base.hpp"

#include <memory>
#include <vector>

#include "shanraq/book/engine.hpp"

namespace shanraq::ab_base {

namespace {
struct Holder {
  book::MatchingEngine engine;
  std::vector<book::Event> out;
};
}  // namespace

void* create(const Config& c, std::uint32_t symbols) {
  book::EngineConfig cfg;
  cfg.max_orders = c.max_orders;
  cfg.max_symbols = c.max_symbols;
  cfg.max_levels = c.max_levels;
  cfg.id_history = c.id_history;
  auto* h = new Holder{book::MatchingEngine(cfg), {}};
  for (std::uint32_t s = 1; s <= symbols; ++s) {
    book::SymbolSpec spec;
    spec.symbol = s;
    h->engine.add_symbol(spec);
  }
  return h;
}
void destroy(void* engine) { delete static_cast<Holder*>(engine); }
void run(void* engine, const void* cmds, std::size_t n, bool batch) {
  auto* h = static_cast<Holder*>(engine);
  const auto* c = static_cast<const book::Command*>(cmds);
  if (batch) {
    h->engine.process(c, n, h->out);
  } else {
    for (std::size_t i = 0; i < n; ++i) h->engine.apply(c[i], h->out);
  }
}
const void* events(void* engine, std::size_t* n) {
  auto* h = static_cast<Holder*>(engine);
  *n = h->out.size();
  return h->out.data();
}
void reserve(void* engine, std::size_t events) {
  auto* h = static_cast<Holder*>(engine);
  h->out.resize(events);  // touched: warm, like a running engine's buffer
  h->out.clear();
}
void clear(void* engine) { static_cast<Holder*>(engine)->out.clear(); }
std::size_t command_size() { return sizeof(book::Command); }
std::size_t event_size() { return sizeof(book::Event); }

}  // namespace shanraq::ab_base
