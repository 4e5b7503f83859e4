# Cross builds whose tests run under an emulator (tests/run-s390x.sh: qemu-user).
# Each entry "TEST|DOCTEST CASE PATTERN|REASON" names a doctest case that cannot
# run meaningfully there: TEST runs without it (doctest --test-case-exclude), and
# a CTest entry of its own, TEST:emulated-skip:N, reports it as SKIPPED with the
# reason, so the summary shows what did not run. Keep this list short (and no
# semicolons: each entry is one CMake list element).
set(PVDUMP_EMULATED_SKIPS
  "test_producer|pvseal: memory use does not grow with the guest*|the peak RSS measured is qemu-user's own (translation cache, guest mappings), not pvseal's, and 1 GiB sealed with emulated AES takes minutes"
)
set(_n 0)
foreach(entry ${PVDUMP_EMULATED_SKIPS})
  if(NOT entry MATCHES "^([^|]+)\\|([^|]+)\\|(.+)$")
    message(FATAL_ERROR "tests/emulated.cmake: bad entry '${entry}' (TEST|PATTERN|REASON)")
  endif()
  set(t ${CMAKE_MATCH_1})
  set(pattern ${CMAKE_MATCH_2})
  set(reason ${CMAKE_MATCH_3})
  # doctest filters separate patterns by commas: escape the pattern's own.
  string(REPLACE "," "\\," pattern_escaped "${pattern}")
  list(APPEND PVDUMP_TEST_ARGS_${t} "--test-case-exclude=${pattern_escaped}")
  math(EXPR _n "${_n} + 1")
  add_test(NAME ${t}:emulated-skip:${_n}
    COMMAND ${CMAKE_COMMAND} -E echo "SKIPPED: ${t} case '${pattern}' under ${CMAKE_CROSSCOMPILING_EMULATOR}: ${reason}")
  set_tests_properties(${t}:emulated-skip:${_n} PROPERTIES SKIP_REGULAR_EXPRESSION "^SKIPPED: ")
endforeach()
