# Cross builds whose tests run under an emulator (tests/run-s390x.sh: qemu-user).
# What cannot run meaningfully there is left out, and each entry gets a CTest
# test of its own, emulated-skip:..., that reports SKIPPED with the reason, so the
# summary shows what did not run. Keep the lists short; no semicolons in entries
# (each is one CMake list element).
#
# Doctest cases, "TEST|CASE PATTERN|REASON": TEST runs with --test-case-exclude.
set(PVDUMP_EMULATED_SKIP_CASES
  "test_producer|pvseal: memory use does not grow with the guest*|the peak RSS measured is qemu-user's own (translation cache, guest mappings), not pvseal's, and 1 GiB sealed with emulated AES takes minutes"
)
# Whole CTest tests, "TEST NAME REGEX|REASON": disabled (they run in the native build).
set(PVDUMP_EMULATED_SKIP_TESTS
  "install_.*|the installed product and the .deb are tested by the native build: the installed s390x binaries run by path, and qemu-user has no binfmt_misc entry here"
  "levels_makedumpfile_live|it runs makedumpfile:s390x under qemu-user itself (in the native build), and its levels_probe by path"
  "kdump_makedumpfile|it runs makedumpfile:s390x under qemu-user itself (in the native build), and its kdump_compare helper by path"
)

function(_pvdump_emulated_report name what reason)
  add_test(NAME emulated-skip:${name}
    COMMAND ${CMAKE_COMMAND} -E echo "SKIPPED: ${what} under ${CMAKE_CROSSCOMPILING_EMULATOR}: ${reason}")
  set_tests_properties(emulated-skip:${name} PROPERTIES SKIP_REGULAR_EXPRESSION "^SKIPPED: ")
endfunction()

# In tests/, before the doctest executables are added: PVDUMP_TEST_ARGS_<test>.
macro(pvdump_emulated_skip_cases)
  set(_n 0)
  foreach(entry ${PVDUMP_EMULATED_SKIP_CASES})
    if(NOT entry MATCHES "^([^|]+)\\|([^|]+)\\|(.+)$")
      message(FATAL_ERROR "tests/emulated.cmake: bad entry '${entry}' (TEST|PATTERN|REASON)")
    endif()
    set(_t ${CMAKE_MATCH_1})
    set(_pattern ${CMAKE_MATCH_2})
    set(_reason ${CMAKE_MATCH_3})
    # doctest separates filters with commas: escape the pattern's own.
    string(REPLACE "," "\\," _escaped "${_pattern}")
    list(APPEND PVDUMP_TEST_ARGS_${_t} "--test-case-exclude=${_escaped}")
    math(EXPR _n "${_n} + 1")
    _pvdump_emulated_report(${_t}:${_n} "${_t} case '${_pattern}'" "${_reason}")
  endforeach()
endmacro()

# Deferred to the end of each directory (cmake_language(DEFER)): the tests it
# added by then that match PVDUMP_EMULATED_SKIP_TESTS are disabled and reported.
function(pvdump_emulated_skip_tests)
  get_property(all DIRECTORY PROPERTY TESTS)
  foreach(entry ${PVDUMP_EMULATED_SKIP_TESTS})
    if(NOT entry MATCHES "^([^|]+)\\|(.+)$")
      message(FATAL_ERROR "tests/emulated.cmake: bad entry '${entry}' (REGEX|REASON)")
    endif()
    set(re "^(${CMAKE_MATCH_1})$")
    set(reason "${CMAKE_MATCH_2}")
    set(hit "")
    foreach(t ${all})
      if(t MATCHES "${re}")
        set_tests_properties(${t} PROPERTIES DISABLED TRUE)
        list(APPEND hit ${t})
      endif()
    endforeach()
    if(hit)
      list(GET hit 0 first)
      list(JOIN hit ", " names)
      _pvdump_emulated_report(${first} "${names}" "${reason}")
    endif()
  endforeach()
endfunction()
