// The ring calls the queue binding makes without the GIL: each catches the
// C++ exception (glue.hpp's Captured) and reports failure in its return
// value, and the binding raises it, translated, once the GIL is held again.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>

#include "glue.hpp"
#include "shanraq/queue/ring.hpp"

namespace shq::queue_calls {

using Err = shq::Captured;

// True when the captured exception is the ring's Closed (a batch push that
// moved some records before the ring closed returns its count instead).
inline bool is_closed(const Err* e) noexcept {
  if (!e->error) return false;
  try {
    std::rethrow_exception(e->error);
  } catch (const shanraq::queue::Closed&) {
    return true;
  } catch (...) {
    return false;
  }
}

// ns < 0: wait forever; ns == 0: do not wait. Returns 1 done, 0 not, -1 error.
template <class R>
int push(R* r, const void* p, long long ns, Err* e) noexcept {
  try {
    return (ns == 0 ? r->try_push(p) : r->push(p, std::chrono::nanoseconds(ns))) ? 1 : 0;
  } catch (...) {
    capture(e);
    return -1;
  }
}
template <class R>
int pop(R* r, void* p, long long ns, Err* e) noexcept {
  try {
    return (ns == 0 ? r->try_pop(p) : r->pop(p, std::chrono::nanoseconds(ns))) ? 1 : 0;
  } catch (...) {
    capture(e);
    return -1;
  }
}
// Returns the count, or -1 on error.
template <class R>
long long push_many(R* r, const void* p, size_t n, long long ns, Err* e) noexcept {
  try {
    return static_cast<long long>(ns == 0 ? r->try_push_many(p, n) : r->push_many(p, n, std::chrono::nanoseconds(ns)));
  } catch (...) {
    capture(e);
    return -1;
  }
}
template <class R>
long long pop_many(R* r, void* p, size_t n, long long ns, Err* e) noexcept {
  try {
    return static_cast<long long>(ns == 0 ? r->try_pop_many(p, n) : r->pop_many(p, n, std::chrono::nanoseconds(ns)));
  } catch (...) {
    capture(e);
    return -1;
  }
}
// Returns the count (0: timed out / empty), or -1 on error.
template <class R>
long long peek(R* r, size_t n, long long ns, shanraq::queue::RecordSpan* out, Err* e) noexcept {
  try {
    *out = ns == 0 ? r->peek(n) : r->peek(n, std::chrono::nanoseconds(ns));
    return static_cast<long long>(out->count);
  } catch (...) {
    capture(e);
    return -1;
  }
}
template <class R>
void release_quietly(R* r, size_t n) noexcept {
  try {
    r->release(n);
  } catch (...) {
  }
}
template <class R>
R* make(size_t record_size, size_t capacity, shanraq::queue::WaitStrategy w, Err* e) noexcept {
  try {
    return new R(record_size, capacity, w);
  } catch (...) {
    capture(e);
    return nullptr;
  }
}
template <class R>
R* create(const std::string& name, const shanraq::queue::RingLayout& layout, shanraq::queue::WaitStrategy w,
          bool replace_stale, Err* e) noexcept {
  try {
    return new R(R::create(name, layout, w, replace_stale));
  } catch (...) {
    capture(e);
    return nullptr;
  }
}
template <class R>
R* attach(const std::string& name, const shanraq::queue::RingLayout& expect, shanraq::queue::WaitStrategy w,
          Err* e) noexcept {
  try {
    return new R(R::attach(name, expect, w));
  } catch (...) {
    capture(e);
    return nullptr;
  }
}
inline int unlink(const std::string& name, Err* e) noexcept {
  try {
    return shanraq::queue::unlink_segment(name) ? 1 : 0;
  } catch (...) {
    capture(e);
    return -1;
  }
}
inline int cleanup_stale(const std::string& name, Err* e) noexcept {
  try {
    return shanraq::queue::cleanup_stale(name) ? 1 : 0;
  } catch (...) {
    capture(e);
    return -1;
  }
}

}  // namespace shq::queue_calls
