// The one boundary between CPython and the C++ core, shared by every binding
// module: exception translation, integer conversion, the busy flag that
// refuses a second thread while one runs without the GIL, and the record and
// enum tables exported to Python. Compiled with the core's warnings (-Wall
// -Wextra -Werror) and sanitizers by the native test presets
// (glue_check.cpp), so that C++ lives here and not in strings inside .pyx
// files.
//
// Conventions: functions that can fail return 0 on success and -1 with a
// Python exception set (Cython: `except -1`); translate_exception() is the
// Cython `except +` handler (`except +shq_translate`).
#pragma once

#include <Python.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <system_error>

#include "shanraq/common/errors.hpp"
#include "shanraq/common/state_machine.hpp"
#include "shanraq/queue/ring.hpp"

namespace shq {

// ---- exceptions -----------------------------------------------------------------------------
// The class `name` from shanraq_core.errors (a new reference), or a borrowed
// fallback if that module cannot be imported (interpreter shutdown).
inline PyObject* error_class(const char* name, PyObject* fallback) noexcept {
  PyObject* mod = PyImport_ImportModule("shanraq_core.errors");
  if (mod == nullptr) {
    PyErr_Clear();
    Py_INCREF(fallback);
    return fallback;
  }
  PyObject* cls = PyObject_GetAttrString(mod, name);
  Py_DECREF(mod);
  if (cls == nullptr) {
    PyErr_Clear();
    Py_INCREF(fallback);
    return fallback;
  }
  return cls;
}

inline void raise_named(const char* name, PyObject* fallback, const char* msg) noexcept {
  PyObject* cls = error_class(name, fallback);
  PyErr_SetString(cls, msg);
  Py_DECREF(cls);
}

// Rethrows the C++ exception in flight and sets the matching Python one.
// Most derived classes first.
inline void translate_exception() noexcept {
  try {
    throw;
  } catch (const shanraq::sm::SequenceError& e) {
    raise_named("SequenceError", PyExc_ValueError, e.what());
  } catch (const shanraq::CapacityError& e) {
    raise_named("CapacityError", PyExc_RuntimeError, e.what());
  } catch (const shanraq::queue::ProducerDied& e) {
    raise_named("ProducerDied", PyExc_RuntimeError, e.what());
  } catch (const shanraq::queue::PeerDead& e) {
    raise_named("PeerDead", PyExc_RuntimeError, e.what());
  } catch (const shanraq::queue::Closed& e) {
    raise_named("Closed", PyExc_RuntimeError, e.what());
  } catch (const shanraq::queue::LayoutMismatch& e) {
    raise_named("LayoutMismatch", PyExc_ValueError, e.what());
  } catch (const shanraq::queue::AlreadyExists& e) {
    raise_named("AlreadyExists", PyExc_FileExistsError, e.what());
  } catch (const shanraq::queue::QueueError& e) {
    raise_named("QueueError", PyExc_RuntimeError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::system_error& e) {
    const int err = e.code().category() == std::generic_category() || e.code().category() == std::system_category()
                        ? e.code().value()
                        : 0;
    PyObject* args = Py_BuildValue("(is)", err, e.what());
    if (args != nullptr) {
      PyErr_SetObject(PyExc_OSError, args);
      Py_DECREF(args);
    }
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::domain_error& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::length_error& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
}

// A C++ exception caught where the GIL is not held (inside `with nogil`),
// kept until the GIL is back; raise_captured() then translates it exactly as
// translate_exception() would have.
struct Captured {
  std::exception_ptr error;
};
inline void capture(Captured* c) noexcept { c->error = std::current_exception(); }
inline int raise_captured(Captured* c) noexcept {
  std::exception_ptr e = c->error;
  c->error = nullptr;
  if (!e) {
    PyErr_SetString(PyExc_SystemError, "raise_captured: no C++ exception was captured");
    return -1;
  }
  try {
    std::rethrow_exception(e);
  } catch (...) {
    translate_exception();
  }
  return -1;
}

// ---- the busy flag ------------------------------------------------------------------------------
// An object whose methods release the GIL sets its flag (with the GIL held)
// before releasing it and clears it after taking it back; any other thread
// that calls in meanwhile holds the GIL when it looks, so a plain bool is
// enough, and it gets a RuntimeError instead of racing the C++ object.
inline int enter(bool* busy, const char* what) noexcept {
  if (*busy) {
    PyErr_Format(PyExc_RuntimeError,
                 "%s is in use by another thread (it is single-writer, and a call is running without the GIL)", what);
    return -1;
  }
  *busy = true;
  return 0;
}
inline void leave(bool* busy) noexcept { *busy = false; }
inline int check_idle(bool busy, const char* what) noexcept {
  if (busy) {
    PyErr_Format(PyExc_RuntimeError,
                 "%s is in use by another thread (it is single-writer, and a call is running without the GIL)", what);
    return -1;
  }
  return 0;
}

// ---- integers ------------------------------------------------------------------------------------
// Every integer argument of every module goes through these: a Python int
// (or an int subclass such as an IntEnum, or anything with __index__ such as
// a numpy integer) converts; bool and float are refused with TypeError; a
// value outside the range is a ValueError naming the argument and the range.

namespace detail {
// v as a Python int (new reference), or nullptr with TypeError set.
inline PyObject* as_index(PyObject* v, const char* what) noexcept {
  if (PyBool_Check(v) || !PyIndex_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s must be an integer, not %.100s", what, Py_TYPE(v)->tp_name);
    return nullptr;
  }
  return PyNumber_Index(v);
}
inline int out_of_range(PyObject* v, const char* what, const char* range) noexcept {
  PyErr_Format(PyExc_ValueError, "%s must be in %s, got %S", what, range, v);
  return -1;
}
}  // namespace detail

// Signed 64-bit in [lo, hi].
inline int to_i64(PyObject* v, const char* what, std::int64_t* out, std::int64_t lo = INT64_MIN,
                  std::int64_t hi = INT64_MAX) noexcept {
  if (PyLong_Check(v) && !PyBool_Check(v)) {
    int overflow = 0;
    const long long r = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0 && r >= lo && r <= hi) {
      *out = r;
      return 0;
    }
    if (overflow == 0 && r == -1 && PyErr_Occurred() != nullptr) return -1;
    char range[64];
    PyOS_snprintf(range, sizeof range, "%lld..%lld", static_cast<long long>(lo), static_cast<long long>(hi));
    return detail::out_of_range(v, what, range);
  }
  PyObject* i = detail::as_index(v, what);
  if (i == nullptr) return -1;
  const int rc = to_i64(i, what, out, lo, hi);
  Py_DECREF(i);
  return rc;
}

// Unsigned 64-bit in [0, hi].
inline int to_u64(PyObject* v, const char* what, std::uint64_t* out, std::uint64_t hi = UINT64_MAX) noexcept {
  if (PyLong_Check(v) && !PyBool_Check(v)) {
    int overflow = 0;
    const long long s = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0 && s >= 0 && static_cast<std::uint64_t>(s) <= hi) {
      *out = static_cast<std::uint64_t>(s);
      return 0;
    }
    if (overflow == 0 && s == -1 && PyErr_Occurred() != nullptr) return -1;
    if (overflow > 0) {  // 2^63 and above
      const unsigned long long r = PyLong_AsUnsignedLongLong(v);
      if (!(r == static_cast<unsigned long long>(-1) && PyErr_Occurred() != nullptr)) {
        if (r <= hi) {
          *out = r;
          return 0;
        }
      } else {
        PyErr_Clear();
      }
    }
    char range[48];
    PyOS_snprintf(range, sizeof range, "0..%llu", static_cast<unsigned long long>(hi));
    return detail::out_of_range(v, what, range);
  }
  PyObject* i = detail::as_index(v, what);
  if (i == nullptr) return -1;
  const int rc = to_u64(i, what, out, hi);
  Py_DECREF(i);
  return rc;
}

inline int to_u32(PyObject* v, const char* what, std::uint32_t* out, std::uint32_t hi = UINT32_MAX) noexcept {
  std::uint64_t r = 0;
  if (to_u64(v, what, &r, hi) != 0) return -1;
  *out = static_cast<std::uint32_t>(r);
  return 0;
}

inline int to_u16(PyObject* v, const char* what, std::uint16_t* out) noexcept {
  std::uint64_t r = 0;
  if (to_u64(v, what, &r, UINT16_MAX) != 0) return -1;
  *out = static_cast<std::uint16_t>(r);
  return 0;
}

inline int to_u8(PyObject* v, const char* what, std::uint8_t* out, std::uint8_t lo = 0,
                 std::uint8_t hi = UINT8_MAX) noexcept {
  std::int64_t r = 0;
  if (to_i64(v, what, &r, lo, hi) != 0) return -1;
  *out = static_cast<std::uint8_t>(r);
  return 0;
}

// Unsigned 128-bit as two little-endian words (out[0] low, out[1] high).
inline int to_u128(PyObject* v, const char* what, std::uint64_t* out) noexcept {
  PyObject* i = detail::as_index(v, what);
  if (i == nullptr) return -1;
  int rc = -1;
  PyObject* sixty_four = PyLong_FromLong(64);
  PyObject* hi = sixty_four != nullptr ? PyNumber_Rshift(i, sixty_four) : nullptr;
  if (hi != nullptr) {
    int overflow = 0;
    const long long sign = PyLong_AsLongLongAndOverflow(hi, &overflow);
    if (overflow < 0 || (overflow == 0 && sign < 0)) {
      detail::out_of_range(i, what, "0..2**128-1");
    } else {
      const unsigned long long h = PyLong_AsUnsignedLongLong(hi);
      if (h == static_cast<unsigned long long>(-1) && PyErr_Occurred() != nullptr) {
        PyErr_Clear();
        detail::out_of_range(i, what, "0..2**128-1");
      } else {
        out[0] = PyLong_AsUnsignedLongLongMask(i);
        out[1] = h;
        rc = 0;
      }
    }
  }
  Py_XDECREF(hi);
  Py_XDECREF(sixty_four);
  Py_DECREF(i);
  return rc;
}

inline PyObject* from_u128(const std::uint64_t* w) noexcept {
  if (w[1] == 0) return PyLong_FromUnsignedLongLong(w[0]);
  PyObject* hi = PyLong_FromUnsignedLongLong(w[1]);
  PyObject* sixty_four = PyLong_FromLong(64);
  PyObject* shifted = (hi != nullptr && sixty_four != nullptr) ? PyNumber_Lshift(hi, sixty_four) : nullptr;
  PyObject* lo = PyLong_FromUnsignedLongLong(w[0]);
  PyObject* r = (shifted != nullptr && lo != nullptr) ? PyNumber_Or(shifted, lo) : nullptr;
  Py_XDECREF(hi);
  Py_XDECREF(sixty_four);
  Py_XDECREF(shifted);
  Py_XDECREF(lo);
  return r;
}

// ---- record and enum tables ---------------------------------------------------------------------
// A record's layout for numpy: a list of (name, offset, size, format, alias)
// where format is a numpy type string or, for a nested record, a list of the
// same shape; and its size. shanraq_core._layout builds the dtype.
inline PyObject* fields_to_list(const shanraq::sm::FieldInfo* fields, std::size_t n) noexcept {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(n));
  if (list == nullptr) return nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    const shanraq::sm::FieldInfo& f = fields[i];
    PyObject* fmt = f.format != nullptr ? PyUnicode_FromString(f.format) : fields_to_list(f.nested, f.nested_count);
    if (fmt == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyObject* item = Py_BuildValue("(sIINO)", f.name, f.offset, f.size, fmt, f.alias ? Py_True : Py_False);
    if (item == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return list;
}

template <class T>
PyObject* record_layout() noexcept {
  using L = shanraq::sm::RecordLayout<T>;
  static_assert(shanraq::sm::tiles(L::kFields, sizeof(T)), "the field table must tile the record exactly");
  PyObject* fields = fields_to_list(L::kFields, shanraq::sm::field_count<T>());
  if (fields == nullptr) return nullptr;
  return Py_BuildValue("(sNn)", L::kName, fields, static_cast<Py_ssize_t>(sizeof(T)));
}

// An enum's members: (python name, [(member name, value), ...]).
template <class E>
PyObject* enum_members() noexcept {
  using T = shanraq::sm::EnumTable<E>;
  const std::size_t n = shanraq::sm::enum_count<E>();
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(n));
  if (list == nullptr) return nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    PyObject* item = Py_BuildValue("(sL)", T::kMembers[i].name, static_cast<long long>(T::kMembers[i].value));
    if (item == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
  }
  return Py_BuildValue("(sN)", T::kName, list);
}

}  // namespace shq
