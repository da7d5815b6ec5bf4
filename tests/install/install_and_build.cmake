# The install story, end to end (ctest: install.downstream):
#   1. cmake --install <build dir> --prefix <work>/prefix            (the already-built library)
#   2. configure examples/downstream against it with find_package(xgrad CONFIG), build it (-j2), run its
#      two programs: swish_check (its own op, gradchecked) and spiral (a small model trained with it)
#   3. the pkg-config route: c++ -std=c++20 $(pkg-config --cflags xgrad) swish_check.cpp $(… --libs xgrad);
#      with WITH_DIST (a build with XGRAD_WITH_MPI) also xgrad-dist.pc: tests/install/dist_check.cpp built
#      with $(pkg-config --cflags --libs xgrad-dist) and run; without, xgrad-dist.pc must not be installed
#
#   cmake -DBUILD_DIR=… -DSOURCE_DIR=… -DWORK_DIR=… -DVERSION=… -DLIBDIR=… -DCXX=… -DBUILD_TYPE=…
#         [-DPKG_CONFIG=…] [-DEXTRA_FLAGS="…"] [-DWITH_DIST=ON] -P install_and_build.cmake
# EXTRA_FLAGS go to the downstream compiles and links (the sanitizers, when the library was built with them).
cmake_minimum_required(VERSION 3.20)  # policies for script mode
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR VERSION LIBDIR CXX)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "install_and_build.cmake: -D${v}=… is required")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()
separate_arguments(extra_flags UNIX_COMMAND "${EXTRA_FLAGS}")
set(extra_cmake_flags "")
if(EXTRA_FLAGS)
  set(extra_cmake_flags "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
endif()

set(prefix "${WORK_DIR}/prefix")
set(downstream_build "${WORK_DIR}/downstream")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(step what)
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(TIMESTAMP t1 "%s")
  math(EXPR dt "${t1} - ${t0}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install.downstream: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok (${dt} s)")
  set(step_output "${out}${err}" PARENT_SCOPE)
endfunction()

# 1. Install. Only the installed tree is visible downstream: no package registry, no source paths.
step("install to ${prefix}" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/xgrad/xgrad.hpp include/xgrad/op.hpp include/xgrad/version.hpp
          ${LIBDIR}/cmake/xgrad/xgradConfig.cmake ${LIBDIR}/cmake/xgrad/xgradConfigVersion.cmake
          ${LIBDIR}/cmake/xgrad/xgradTargets.cmake ${LIBDIR}/pkgconfig/xgrad.pc)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install.downstream: ${f} was not installed")
  endif()
endforeach()
foreach(layer core io)  # the two library layers
  file(GLOB libs "${prefix}/${LIBDIR}/libxgrad_${layer}.*")
  if(NOT libs)
    message(FATAL_ERROR "install.downstream: no libxgrad_${layer} in ${prefix}/${LIBDIR}")
  endif()
endforeach()
file(READ "${prefix}/include/xgrad/version.hpp" version_hpp)
if(NOT version_hpp MATCHES "XGRAD_VERSION_STRING \"${VERSION}\"")
  message(FATAL_ERROR "install.downstream: installed version.hpp does not say ${VERSION}")
endif()

# 2. The downstream project, through find_package.
step("configure examples/downstream"
     ${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/downstream" -B "${downstream_build}"
     -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix}
     ${extra_cmake_flags}
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
string(FIND "${step_output}" "Found xgrad ${VERSION} in ${prefix}/" at)
if(at EQUAL -1)
  message(FATAL_ERROR "install.downstream: find_package did not find xgrad ${VERSION} under ${prefix}:\n"
                      "${step_output}")
endif()
step("build examples/downstream" ${CMAKE_COMMAND} --build "${downstream_build}" -j2)
step("run swish_check" "${downstream_build}/swish_check")
message("${step_output}")
step("run spiral" "${downstream_build}/spiral")
message("${step_output}")
if(NOT step_output MATCHES "^xgrad ${VERSION}\n")
  message(FATAL_ERROR "install.downstream: spiral should print the installed version ${VERSION} first")
endif()

# A version the package does not satisfy is refused (0.x: minor versions are incompatible).
string(REGEX MATCH "^[0-9]+" major "${VERSION}")
math(EXPR next_major "${major} + 1")
file(WRITE "${WORK_DIR}/too_new/CMakeLists.txt"
     "cmake_minimum_required(VERSION 3.20)\nproject(too_new LANGUAGES NONE)\n"
     "find_package(xgrad ${next_major}.0 CONFIG QUIET)\n"
     "if(xgrad_FOUND)\n  message(FATAL_ERROR \"xgrad ${VERSION} accepted a request for ${next_major}.0\")\nendif()\n")
step("find_package(xgrad ${next_major}.0) is refused"
     ${CMAKE_COMMAND} -S "${WORK_DIR}/too_new" -B "${WORK_DIR}/too_new/build" -DCMAKE_PREFIX_PATH=${prefix}
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

# 3. The pkg-config route.
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/${LIBDIR}/pkgconfig")
  step("pkg-config --modversion xgrad" ${PKG_CONFIG} --modversion xgrad)
  string(STRIP "${step_output}" pc_version)
  if(NOT pc_version STREQUAL VERSION)
    message(FATAL_ERROR "install.downstream: xgrad.pc says ${pc_version}, expected ${VERSION}")
  endif()
  step("pkg-config --cflags --libs xgrad" ${PKG_CONFIG} --cflags --libs xgrad)
  string(STRIP "${step_output}" pc_flags)
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  string(FIND "${pc_flags}" "-I${prefix}/" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "install.downstream: pkg-config flags do not point into ${prefix}: ${pc_flags}")
  endif()
  step("build swish_check with pkg-config's flags"
       ${CXX} -std=c++20 -O1 ${extra_flags} "${SOURCE_DIR}/examples/downstream/swish_check.cpp"
       -o "${WORK_DIR}/swish_check_pc" ${pc_flags} "-Wl,-rpath,${prefix}/${LIBDIR}")  # rpath: a shared libxgrad
  step("run swish_check (pkg-config build)" "${WORK_DIR}/swish_check_pc")
  if(WITH_DIST)  # xgrad::dist: its own .pc, which brings the core's and MPI's flags
    step("pkg-config --modversion xgrad-dist" ${PKG_CONFIG} --modversion xgrad-dist)
    string(STRIP "${step_output}" pc_version)
    if(NOT pc_version STREQUAL VERSION)
      message(FATAL_ERROR "install.downstream: xgrad-dist.pc says ${pc_version}, expected ${VERSION}")
    endif()
    step("pkg-config --cflags --libs xgrad-dist" ${PKG_CONFIG} --cflags --libs xgrad-dist)
    string(STRIP "${step_output}" pc_flags)
    separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
    if(NOT "${pc_flags}" MATCHES "-lxgrad_dist" OR NOT "${pc_flags}" MATCHES "-lxgrad_core")
      message(FATAL_ERROR "install.downstream: pkg-config --libs xgrad-dist lacks xgrad_dist or xgrad_core: "
                          "${pc_flags}")
    endif()
    step("build dist_check with pkg-config's flags"
         ${CXX} -std=c++20 -O1 ${extra_flags} "${SOURCE_DIR}/tests/install/dist_check.cpp"
         -o "${WORK_DIR}/dist_check_pc" ${pc_flags} "-Wl,-rpath,${prefix}/${LIBDIR}")
    step("run dist_check (pkg-config build)" "${WORK_DIR}/dist_check_pc")
    message("${step_output}")
  elseif(EXISTS "${prefix}/${LIBDIR}/pkgconfig/xgrad-dist.pc")
    message(FATAL_ERROR "install.downstream: xgrad-dist.pc was installed by a build without xgrad::dist")
  endif()
else()
  message(STATUS "pkg-config not found: the xgrad.pc route is not checked")
endif()
message(STATUS "install.downstream: all steps passed")
