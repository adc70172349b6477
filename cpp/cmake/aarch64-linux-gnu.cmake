# Cross-compile for 64-bit ARM with Debian's g++-aarch64-linux-gnu and run the
# results under qemu-aarch64 (Debian's qemu-user), which ctest and
# gtest_discover_tests use through CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
# GoogleTest's project() enables C as well, so both compilers are needed.
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(SHANRAQ_AARCH64_SYSROOT /usr/aarch64-linux-gnu CACHE PATH "aarch64 libraries and loader for qemu -L")
# arm64 libcrypto and ISA-L for the journal, unpacked from Debian's arm64
# packages by scripts/native_tests.sh (Debian's multiarch layout:
# usr/lib/aarch64-linux-gnu, usr/include and usr/include/aarch64-linux-gnu).
set(SHANRAQ_AARCH64_DEPS "${CMAKE_CURRENT_LIST_DIR}/../../build/aarch64-deps/root" CACHE PATH
    "arm64 journal dependencies (dpkg -x of libssl-dev, libssl3, libisal-dev, libisal2)")
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH ${SHANRAQ_AARCH64_SYSROOT} ${SHANRAQ_AARCH64_DEPS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# An absolute path, so ctest does not depend on the PATH it is run with; a
# missing emulator is a configure error rather than 100% failing tests.
find_program(SHANRAQ_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(NOT SHANRAQ_QEMU_AARCH64)
  message(FATAL_ERROR "qemu-aarch64 not found: apt-get install qemu-user")
endif()
# LD_LIBRARY_PATH=/lib (inside the guest, /lib is the sysroot's lib through
# -L) makes the cross loader take the cross C library first. Without it, once
# any Debian arm64 package is installed (multiarch, e.g. libssl-dev:arm64), the
# loader's default search finds /lib/aarch64-linux-gnu/libc.so.6 of another
# glibc build than the loader itself, and the first pthread_create hangs.
set(CMAKE_CROSSCOMPILING_EMULATOR ${SHANRAQ_QEMU_AARCH64} -L ${SHANRAQ_AARCH64_SYSROOT} -E
                                  LD_LIBRARY_PATH=/lib:/usr/lib/aarch64-linux-gnu)
