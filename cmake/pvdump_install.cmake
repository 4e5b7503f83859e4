# The installable product (issue 12): the version, libpvdump (the embedding
# API), install rules (GNUInstallDirs), the CMake package, pkg-config, man pages,
# bash completions, docs and the Debian package (CPack). Included at the end of
# the top-level CMakeLists.txt, after every target exists.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- version: project(VERSION) and the git commit, regenerated at every build ----
find_package(Git QUIET)
set(PVDUMP_VERSION_CPP ${CMAKE_BINARY_DIR}/generated/pvdump_version.cpp)
add_custom_target(pvdump_version_source
  COMMAND ${CMAKE_COMMAND} -DGIT=${GIT_EXECUTABLE} -DSOURCE_DIR=${CMAKE_SOURCE_DIR}
          -DVERSION=${PROJECT_VERSION} -DOUT=${PVDUMP_VERSION_CPP} -P ${CMAKE_SOURCE_DIR}/cmake/pvdump_version.cmake
  BYPRODUCTS ${PVDUMP_VERSION_CPP}
  COMMENT "pvdump version ${PROJECT_VERSION} and git commit"
  VERBATIM)
add_library(pvversion STATIC ${PVDUMP_VERSION_CPP})
add_dependencies(pvversion pvdump_version_source)
target_include_directories(pvversion PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(pvtoolcommon PUBLIC pvversion)

# ---- libpvdump: the public API, a shared library exporting only the facade ----
# The internal static libraries go into it, so they are position independent.
foreach(t pvformat pvguest pvanalysis pvdecryptor pvkeyfile pvversion)
  set_target_properties(${t} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endforeach()
add_library(pvdump SHARED api/pvdump.cpp)
add_library(pvdump::pvdump ALIAS pvdump)
target_include_directories(pvdump
  PUBLIC $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(pvdump PRIVATE pvdecryptor pvkeyfile pvversion)
target_compile_definitions(pvdump PRIVATE PVDUMP_API_BUILD)
target_compile_features(pvdump PUBLIC cxx_std_17)
set_target_properties(pvdump PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
  EXPORT_NAME pvdump)
# Only the facade is exported: the internal libraries' symbols stay inside.
target_link_options(pvdump PRIVATE -Wl,--exclude-libs,ALL -Wl,--as-needed)
# Every symbol resolved at link time, except under clang's sanitizers: their
# runtime is linked into the executable, not into shared libraries.
if(NOT (PVDUMP_SANITIZE AND CMAKE_CXX_COMPILER_ID MATCHES "Clang"))
  target_link_options(pvdump PRIVATE -Wl,--no-undefined)
endif()

# ---- install rules ----
set(PVDUMP_TOOLS)
foreach(tool pvdecrypt pvinspect pvseal)
  if(TARGET ${tool})
    list(APPEND PVDUMP_TOOLS ${tool})
  endif()
endforeach()
install(TARGETS ${PVDUMP_TOOLS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS pvdump EXPORT pvdumpTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/pvdump DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(PVDUMP_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/pvdump)
install(EXPORT pvdumpTargets NAMESPACE pvdump:: DESTINATION ${PVDUMP_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/pvdumpConfig.cmake.in
  ${CMAKE_BINARY_DIR}/pvdumpConfig.cmake INSTALL_DESTINATION ${PVDUMP_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/pvdumpConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/pvdumpConfig.cmake ${CMAKE_BINARY_DIR}/pvdumpConfigVersion.cmake
  DESTINATION ${PVDUMP_CMAKE_DIR})

# pkg-config: relocatable (prefix found from the .pc file's own directory).
file(RELATIVE_PATH PVDUMP_PC_TO_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
configure_file(${CMAKE_SOURCE_DIR}/cmake/pvdump.pc.in ${CMAKE_BINARY_DIR}/pvdump.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/pvdump.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages (roff by hand, man/), compressed as Debian installs them.
set(PVDUMP_MAN_GZ)
foreach(tool ${PVDUMP_TOOLS})
  # The version in .TH comes from project(VERSION): build/man/TOOL.1 is the page.
  set(src ${CMAKE_BINARY_DIR}/man/${tool}.1)
  configure_file(${CMAKE_SOURCE_DIR}/man/${tool}.1 ${src} @ONLY)
  set(gz ${CMAKE_BINARY_DIR}/man/${tool}.1.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND gzip -9n -c ${src} > ${gz}
    DEPENDS ${src} VERBATIM)
  list(APPEND PVDUMP_MAN_GZ ${gz})
endforeach()
add_custom_target(pvdump_man ALL DEPENDS ${PVDUMP_MAN_GZ})
install(FILES ${PVDUMP_MAN_GZ} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# Bash completions: one script for the three tools, under each tool's name
# (bash-completion loads completions/NAME when NAME is first completed).
foreach(tool ${PVDUMP_TOOLS})
  install(FILES ${CMAKE_SOURCE_DIR}/completions/pvdump.bash
    DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ${tool})
endforeach()

# Documentation.
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/api DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
set(PVDUMP_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
add_custom_command(OUTPUT ${PVDUMP_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
  COMMAND gzip -9n -c ${CMAKE_SOURCE_DIR}/packaging/changelog > ${PVDUMP_CHANGELOG_GZ}
  DEPENDS ${CMAKE_SOURCE_DIR}/packaging/changelog VERBATIM)
add_custom_target(pvdump_changelog ALL DEPENDS ${PVDUMP_CHANGELOG_GZ})
install(FILES ${PVDUMP_CHANGELOG_GZ} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- the Debian package: cpack -G DEB (Depends found by dpkg-shlibdeps) ----
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pvdump)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "pvdump developers")
set(CPACK_PACKAGE_CONTACT "pvdump developers <pvdump@lists.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "IBM Z Protected Virtualization guest dump tools and library")
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "pvdecrypt decrypts a sealed IBM Z Protected Virtualization (Secure Execution)
guest dump with the owner's Customer Communication Key into a plain s390x ELF
vmcore that crash, gdb and drgn open. pvinspect shows what a dump is without
the key, verifies it, compares the vCPU states with the hypervisor's view and
prints the guest kernel log. pvseal writes sealed dumps as QEMU does, over a
simulated Ultravisor, for testing.

libpvdump is the C++ library behind them, with headers, a CMake package and a
pkg-config file.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# libpvdump: ldconfig runs through a trigger, not from maintainer scripts
# (CPack would otherwise write postinst/postrm calling ldconfig).
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/packaging/triggers ${CMAKE_SOURCE_DIR}/packaging/postinst ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# ---- tests of the installed product (tests/install/) ----
set(PVDUMP_INSTALL_TEST_ENV
  PVDUMP_LIBDIR=${CMAKE_INSTALL_LIBDIR} PVDUMP_VERSION=${PROJECT_VERSION}
  PVDUMP_SANITIZE=$<BOOL:${PVDUMP_SANITIZE}> PVDUMP_TEST_KEYS=${CMAKE_BINARY_DIR}/test-keys
  PVDUMP_CMAKE=${CMAKE_COMMAND} PVDUMP_CPACK=${CMAKE_CPACK_COMMAND})
foreach(t version man_pages completion installed_api deb)
  add_test(NAME install_${t}
    COMMAND ${CMAKE_COMMAND} -E env ${PVDUMP_INSTALL_TEST_ENV}
            bash ${CMAKE_SOURCE_DIR}/tests/install/${t}.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
  set_tests_properties(install_${t} PROPERTIES SKIP_RETURN_CODE 77 LABELS install)
endforeach()
# Both run the build's install scripts (which write build/install_manifest.txt): one at a time.
set_tests_properties(install_installed_api install_deb PROPERTIES RESOURCE_LOCK pvdump_install_scripts)
