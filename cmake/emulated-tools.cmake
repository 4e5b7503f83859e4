# Cross builds whose binaries run under an emulator (CMAKE_CROSSCOMPILING_EMULATOR,
# e.g. qemu-s390x-static; see cmake/toolchain-s390x.cmake). CTest prepends the
# emulator to the test executables itself, but the tests also start the tools
# by path (PVDUMP_BIN_DIR/pvdecrypt, from doctest and from the CLI scripts), and
# a qemu-user host has no binfmt_misc entry to run them. So the real binaries go
# to BUILD/target/ and BUILD/<tool> is a script that execs the emulator on them:
# the tests run unchanged, and signals sent to the script's pid reach the tool.
foreach(tool pvdecrypt pvinspect pvseal)
  if(TARGET ${tool})
    set_target_properties(${tool} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/target)
    list(JOIN CMAKE_CROSSCOMPILING_EMULATOR "' '" _emu)
    file(GENERATE OUTPUT ${CMAKE_BINARY_DIR}/${tool}
         CONTENT "#!/bin/sh\n# ${tool} built for ${CMAKE_SYSTEM_PROCESSOR}, run under '${_emu}' (cmake/emulated-tools.cmake)\nexec '${_emu}' '$<TARGET_FILE:${tool}>' \"$@\"\n"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
  endif()
endforeach()

# What cannot run under the emulator is skipped and reported (tests/emulated.cmake):
# here for the top directory's tests (tests/install/), in tests/ for its own.
include(${CMAKE_SOURCE_DIR}/tests/emulated.cmake)
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL pvdump_emulated_skip_tests)
