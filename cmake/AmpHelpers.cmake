# Small wrappers that keep per-folder CMakeLists.txt files short.
include(GoogleTest)

# amp_add_test(<source> [DEPS ...] [LABELS ...])
# The target name derives from the file name (foo_test.cc -> amp_foo_test).
function(amp_add_test source)
  cmake_parse_arguments(ARG "" "" "DEPS;LABELS" ${ARGN})
  get_filename_component(_name "${source}" NAME_WE)
  set(_target "amp_${_name}")
  add_executable(${_target} "${source}")
  target_link_libraries(${_target} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${_target} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${ARG_LABELS}")
endfunction()
