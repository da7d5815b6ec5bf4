# architecture.layers: the layers of docs/design.md, checked on the include directives and calls of the sources.
#   core (src/core, include/xgrad/*.hpp, ops/, detail/) includes nothing of io (xgrad/io/…) or the applications
#   (app/…), and does no file or process I/O; io (src/io, include/xgrad/io) includes nothing of the applications.
# include/xgrad/xgrad.hpp is the umbrella of core and io together and is not checked.
#   cmake -DSOURCE_DIR=... -P tests/architecture/layers.cmake
file(GLOB_RECURSE core_files ${SOURCE_DIR}/src/core/*.cpp ${SOURCE_DIR}/src/core/*.hpp)
file(GLOB core_headers ${SOURCE_DIR}/include/xgrad/*.hpp ${SOURCE_DIR}/include/xgrad/ops/*.hpp
     ${SOURCE_DIR}/include/xgrad/detail/*.hpp)
list(REMOVE_ITEM core_headers ${SOURCE_DIR}/include/xgrad/xgrad.hpp)
# dist (src/dist, include/xgrad/dist: MPI) includes nothing of io or the applications; the core knows it only as
# the interface of include/xgrad/communicator.hpp (no <mpi.h>, no xgrad/dist/).
file(GLOB_RECURSE dist_files ${SOURCE_DIR}/src/dist/*.cpp ${SOURCE_DIR}/src/dist/*.hpp
     ${SOURCE_DIR}/include/xgrad/dist/*.hpp)
file(GLOB_RECURSE io_files ${SOURCE_DIR}/src/io/*.cpp ${SOURCE_DIR}/src/io/*.hpp ${SOURCE_DIR}/include/xgrad/io/*.hpp)

set(problems "")
function(forbid files regex what)
  foreach(f ${files})
    file(STRINGS "${f}" lines REGEX "${regex}")
    foreach(line ${lines})
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${f}")
      string(STRIP "${line}" line)
      set(problems "${problems}\n  ${rel}: ${what}: ${line}" PARENT_SCOPE)
    endforeach()
  endforeach()
endfunction()

forbid("${core_files};${core_headers}" "^[ \t]*#[ \t]*include[ \t]*[<\"](xgrad/io/|app/)" "the core includes an upper layer")
forbid("${core_files};${core_headers}"
       "(std::fopen|std::ofstream|std::ifstream|std::fstream|[^a-z_]fopen\\(|::open\\(|posix_spawn|execv|mkstemp|std::filesystem::rename)"
       "file or process I/O in the core")
forbid("${io_files}" "^[ \t]*#[ \t]*include[ \t]*[<\"]app/" "the I/O layer includes the application layer")
forbid("${core_files};${core_headers};${io_files}" "^[ \t]*#[ \t]*include[ \t]*[<\"](mpi\\.h|xgrad/dist/)"
       "MPI outside the dist layer")
forbid("${dist_files}" "^[ \t]*#[ \t]*include[ \t]*[<\"](xgrad/io/|app/)" "the dist layer includes io or the applications")

list(LENGTH core_files n_core)
list(LENGTH io_files n_io)
list(LENGTH dist_files n_dist)
if(problems)
  message(FATAL_ERROR "architecture.layers: include directives or calls against the layers of docs/design.md:${problems}")
endif()
message(STATUS "architecture.layers: ${n_core} core sources and the core headers, ${n_io} I/O files, ${n_dist} dist files: no upward includes, no I/O in the core, MPI only in dist")
