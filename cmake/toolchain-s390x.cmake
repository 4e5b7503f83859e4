# Cross build for s390x (IBM Z, big-endian) with Debian's gcc-s390x-linux-gnu /
# g++-s390x-linux-gnu, against Debian's s390x libraries unpacked (dpkg -x) into a
# private sysroot, so that no host package is replaced. tests/run-s390x.sh fills
# the sysroot and passes it as -DPVDUMP_S390X_SYSROOT=DIR (or the environment
# variable of that name). The C library and libstdc++ come with the cross
# compiler (/usr/s390x-linux-gnu); header-only dependencies (CLI11, doctest,
# nlohmann-json) are the host's (/usr/include is last on the cross compiler's
# search path). Tests run under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(CMAKE_LIBRARY_ARCHITECTURE s390x-linux-gnu)
set(CMAKE_C_COMPILER s390x-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER s390x-linux-gnu-g++)

if(NOT PVDUMP_S390X_SYSROOT AND DEFINED ENV{PVDUMP_S390X_SYSROOT})
  set(PVDUMP_S390X_SYSROOT "$ENV{PVDUMP_S390X_SYSROOT}")
endif()
if(NOT PVDUMP_S390X_SYSROOT OR NOT IS_DIRECTORY "${PVDUMP_S390X_SYSROOT}/usr/lib/s390x-linux-gnu")
  message(FATAL_ERROR "toolchain-s390x.cmake: set PVDUMP_S390X_SYSROOT to the directory tests/run-s390x.sh "
                      "unpacks Debian's s390x libraries into (now: '${PVDUMP_S390X_SYSROOT}')")
endif()
# try_compile projects re-read this file: hand the sysroot on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES PVDUMP_S390X_SYSROOT)
set(_s ${PVDUMP_S390X_SYSROOT})

# Libraries only from the sysroot and the cross toolchain, never the host's;
# headers and CMake packages from there first, then the host's (header-only ones).
set(CMAKE_FIND_ROOT_PATH ${_s} /usr/s390x-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# The sysroot's headers before /usr/include (the host's OpenSSL headers are there
# too, and its opensslconf.h is x86's), its multiarch headers first.
set(CMAKE_C_FLAGS_INIT "-isystem ${_s}/usr/include/s390x-linux-gnu -isystem ${_s}/usr/include")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
# DT_RPATH (not RUNPATH) so that the libraries' own dependencies (libelf -> libz)
# are found in the sysroot too when the binaries run under qemu-user.
set(_l "-Wl,--disable-new-dtags")
foreach(d ${_s}/usr/lib/s390x-linux-gnu ${_s}/lib/s390x-linux-gnu)
  string(APPEND _l " -Wl,-rpath,${d} -Wl,-rpath-link,${d}")
endforeach()
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_l}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_l}")

# pkg-config: only the sysroot's .pc files, their paths prefixed with the sysroot.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_s}")
set(ENV{PKG_CONFIG_LIBDIR} "${_s}/usr/lib/s390x-linux-gnu/pkgconfig:${_s}/usr/share/pkgconfig")
unset(ENV{PKG_CONFIG_PATH})

# qemu-user runs the test binaries; -L: the cross toolchain's ld64.so.1 and libc.
find_program(PVDUMP_QEMU_S390X qemu-s390x-static qemu-s390x)
if(NOT PVDUMP_QEMU_S390X)
  message(FATAL_ERROR "toolchain-s390x.cmake: qemu-s390x-static not found (Debian: qemu-user-static)")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${PVDUMP_QEMU_S390X} -L /usr/s390x-linux-gnu)
