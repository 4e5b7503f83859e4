// What this build was compiled with, for the few places that must know.
#pragma once

// AddressSanitizer: gcc defines __SANITIZE_ADDRESS__, clang does not (the
// build passes PVDUMP_SANITIZE_ADDRESS with -fsanitize=address instead).
#if defined(__SANITIZE_ADDRESS__) || defined(PVDUMP_SANITIZE_ADDRESS)
#define PVDUMP_ASAN 1
#else
#define PVDUMP_ASAN 0
#endif
