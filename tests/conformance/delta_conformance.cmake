# The loader conformance suite for the "delta" loader (delta_conformance_test.cc): each
# test gets a fresh directory under the build tree's temp area.
add_executable(amp_delta_conformance_test ${CMAKE_CURRENT_SOURCE_DIR}/delta_conformance_test.cc)
target_link_libraries(amp_delta_conformance_test PRIVATE
  amp_loader_conformance amp_loader_delta amp_loaders GTest::gtest GTest::gtest_main)
add_test(NAME DeltaConformanceTest COMMAND amp_delta_conformance_test)
set_tests_properties(DeltaConformanceTest PROPERTIES LABELS "unit;delta" TIMEOUT 120)
