# The loader conformance suite for the "redis" loader (included by CMakeLists.txt here when
# amp_loader_redis exists): one binary, one throwaway redis-server per process
# (scripts/redis via src/loaders/redis/redis_test_server.h) unless AMP_TEST_REDIS_URI names
# one. The suite is stamped out for the hash, string, stream and list data structures
# (set and sorted_set deduplicate equal rows by design, docs/loaders/redis.md).
add_executable(amp_redis_conformance_test ${CMAKE_CURRENT_SOURCE_DIR}/redis_conformance_test.cc)
target_link_libraries(amp_redis_conformance_test PRIVATE
  amp_loader_conformance amp_loader_redis amp_loaders GTest::gtest GTest::gtest_main)
find_package(PkgConfig REQUIRED)
pkg_check_modules(AMP_HIREDIS_CONF REQUIRED IMPORTED_TARGET hiredis)
target_link_libraries(amp_redis_conformance_test PRIVATE PkgConfig::AMP_HIREDIS_CONF)
target_compile_definitions(amp_redis_conformance_test PRIVATE AMP_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
add_test(NAME RedisConformanceTest COMMAND amp_redis_conformance_test)
set_tests_properties(RedisConformanceTest PROPERTIES LABELS redis TIMEOUT 180)
