# amp_builtin_loader(<folder> ALWAYS)
# amp_builtin_loader(<folder> <OPTION> "<option doc>")
#
# Registers one built-in destination: src/loaders/<folder> must define the static library
# amp_loader_<folder> and declare Register<Folder>Loader(LoaderRegistry&) in
# <folder>/<folder>_loader.h (<Folder>: the folder name with its first letter upper-cased).
# With an option, the loader is built when the option is ON (the default); a folder or
# library that is missing then stops the configure step instead of letting the loader
# vanish from the build. src/loaders/builtin generates the registration code from the list.
function(amp_builtin_loader folder option)
  if(NOT option STREQUAL "ALWAYS")
    option(${option} "${ARGV2}" ON)
    if(NOT ${option})
      return()
    endif()
    set(_why "${option} is ON")
  else()
    set(_why "the ${folder} loader is always built")
  endif()
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${folder}/CMakeLists.txt)
    message(FATAL_ERROR "${_why}, but src/loaders/${folder}/CMakeLists.txt does not exist "
                        "(turn the option OFF to build without this loader)")
  endif()
  add_subdirectory(${folder})
  if(NOT TARGET amp_loader_${folder})
    message(FATAL_ERROR "src/loaders/${folder} must define the library amp_loader_${folder}")
  endif()
  set_property(GLOBAL APPEND PROPERTY AMP_BUILTIN_LOADERS ${folder})
endfunction()
