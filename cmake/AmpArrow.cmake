# Locates Arrow C++ (core, compute, Flight, Parquet, Acero) and defines the imported
# targets amp::arrow, amp::arrow_compute, amp::arrow_flight, amp::parquet, amp::arrow_acero.
#
# 1. A system Arrow (>= 17) found through CMake's package config is used when present.
# 2. Otherwise the pyarrow wheel installed by scripts/bootstrap into .venv is used: its
#    bundled headers and shared libraries, with an rpath so binaries run without
#    LD_LIBRARY_PATH. The wheels are built with the new C++ ABI (_GLIBCXX_USE_CXX11_ABI=1),
#    which is g++'s default on Debian 12.

set(AMP_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python interpreter whose pyarrow provides Arrow C++ when no system Arrow is found")
option(AMP_PREFER_SYSTEM_ARROW "Use a system Arrow C++ when CMake finds one" ON)

set(_amp_arrow_found FALSE)
if(AMP_PREFER_SYSTEM_ARROW)
  find_package(Arrow 17 CONFIG QUIET)
  find_package(ArrowFlight CONFIG QUIET)
  find_package(Parquet CONFIG QUIET)
  find_package(ArrowAcero CONFIG QUIET)
  find_package(ArrowCompute CONFIG QUIET)
  if(Arrow_FOUND AND ArrowFlight_FOUND AND Parquet_FOUND AND ArrowAcero_FOUND)
    message(STATUS "ampsync: using system Arrow ${Arrow_VERSION}")
    add_library(amp::arrow INTERFACE IMPORTED)
    target_link_libraries(amp::arrow INTERFACE Arrow::arrow_shared)
    add_library(amp::arrow_compute INTERFACE IMPORTED)
    if(TARGET ArrowCompute::arrow_compute_shared)
      target_link_libraries(amp::arrow_compute INTERFACE ArrowCompute::arrow_compute_shared)
    else()
      target_link_libraries(amp::arrow_compute INTERFACE Arrow::arrow_shared)
    endif()
    add_library(amp::arrow_flight INTERFACE IMPORTED)
    target_link_libraries(amp::arrow_flight INTERFACE ArrowFlight::arrow_flight_shared)
    add_library(amp::parquet INTERFACE IMPORTED)
    target_link_libraries(amp::parquet INTERFACE Parquet::parquet_shared)
    add_library(amp::arrow_acero INTERFACE IMPORTED)
    target_link_libraries(amp::arrow_acero INTERFACE ArrowAcero::arrow_acero_shared)
    set(_amp_arrow_found TRUE)
  endif()
endif()

if(NOT _amp_arrow_found)
  if(NOT EXISTS "${AMP_PYTHON}")
    message(FATAL_ERROR
      "ampsync: no system Arrow C++ found and no bootstrap environment at ${AMP_PYTHON}.\n"
      "Run scripts/bootstrap first (it installs the pinned pyarrow into .venv).")
  endif()
  execute_process(
    COMMAND "${AMP_PYTHON}" -c
      "import pyarrow as pa; print(pa.__version__); print(pa.get_include()); print(pa.get_library_dirs()[0])"
    OUTPUT_VARIABLE _amp_pa_out RESULT_VARIABLE _amp_pa_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _amp_pa_rc EQUAL 0)
    message(FATAL_ERROR "ampsync: ${AMP_PYTHON} cannot import pyarrow; rerun scripts/bootstrap")
  endif()
  string(REPLACE "\n" ";" _amp_pa_out "${_amp_pa_out}")
  list(GET _amp_pa_out 0 AMP_ARROW_VERSION)
  list(GET _amp_pa_out 1 AMP_ARROW_INCLUDE_DIR)
  list(GET _amp_pa_out 2 AMP_ARROW_LIB_DIR)
  message(STATUS "ampsync: using Arrow ${AMP_ARROW_VERSION} bundled with pyarrow (${AMP_ARROW_LIB_DIR})")

  function(_amp_import_arrow_lib target libname)
    set(_path "${AMP_ARROW_LIB_DIR}/lib${libname}.so")
    if(NOT EXISTS "${_path}")
      message(FATAL_ERROR "ampsync: ${_path} is missing; rerun scripts/bootstrap "
                          "(it creates the unversioned library links)")
    endif()
    add_library(${target} SHARED IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION "${_path}"
      INTERFACE_INCLUDE_DIRECTORIES "${AMP_ARROW_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=1")
  endfunction()
  _amp_import_arrow_lib(amp::arrow arrow)
  _amp_import_arrow_lib(amp::arrow_compute arrow_compute)
  _amp_import_arrow_lib(amp::arrow_flight arrow_flight)
  _amp_import_arrow_lib(amp::parquet parquet)
  _amp_import_arrow_lib(amp::arrow_acero arrow_acero)
  set_property(TARGET amp::arrow_compute PROPERTY INTERFACE_LINK_LIBRARIES amp::arrow)
  set_property(TARGET amp::arrow_flight PROPERTY INTERFACE_LINK_LIBRARIES amp::arrow)
  set_property(TARGET amp::parquet PROPERTY INTERFACE_LINK_LIBRARIES amp::arrow)
  set_property(TARGET amp::arrow_acero PROPERTY INTERFACE_LINK_LIBRARIES amp::arrow_compute)
  # Binaries find the bundled libraries at run time without environment variables.
  list(APPEND CMAKE_BUILD_RPATH "${AMP_ARROW_LIB_DIR}")
  list(APPEND CMAKE_INSTALL_RPATH "${AMP_ARROW_LIB_DIR}")
endif()
