# Cython declarations of the boundary layer (glue.hpp), cimported by every
# binding module: `from shanraq_core._core.glue cimport ...`.
#
#   C++ calls that can throw:   `... except +translate_exception`
#   integer arguments:          to_i64 / to_u64 / to_u32 / to_u16 / to_u8 / to_u128
#   releasing the GIL:          enter(&self._busy, "Name"); try: with nogil: ...
#                               finally: leave(&self._busy)
#   per-call methods:           check_idle(self._busy, "Name") first
#   dtypes and enums:           record_layout[T]() / enum_members[E]() -> shanraq_core._layout
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libcpp cimport bool as cbool


cdef extern from "glue.hpp" namespace "shq":
    void translate_exception() noexcept
    cdef cppclass Captured:
        pass
    int raise_captured(Captured* c) except -1

    int enter(cbool* busy, const char* what) except -1
    void leave(cbool* busy) noexcept
    int check_idle(cbool busy, const char* what) except -1

    int to_i64(object v, const char* what, int64_t* out) except -1
    int to_i64(object v, const char* what, int64_t* out, int64_t lo, int64_t hi) except -1
    int to_u64(object v, const char* what, uint64_t* out) except -1
    int to_u64(object v, const char* what, uint64_t* out, uint64_t hi) except -1
    int to_u32(object v, const char* what, uint32_t* out) except -1
    int to_u32(object v, const char* what, uint32_t* out, uint32_t hi) except -1
    int to_u16(object v, const char* what, uint16_t* out) except -1
    int to_u8(object v, const char* what, uint8_t* out) except -1
    int to_u8(object v, const char* what, uint8_t* out, uint8_t lo, uint8_t hi) except -1
    int to_u128(object v, const char* what, uint64_t* out) except -1
    object from_u128(const uint64_t* words)

    object record_layout[T]()
    object enum_members[E]()
