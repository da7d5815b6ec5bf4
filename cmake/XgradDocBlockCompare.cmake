# cmake -DBLOCK=<extracted block> -DFILE=<source file> -DWHERE=<doc:line> -P XgradDocBlockCompare.cmake
# Fails, naming the first differing line, when a documentation block marked file=<path> is not a verbatim
# copy of <path> (see XgradDocBlocks.cmake).
cmake_minimum_required(VERSION 3.20)  # policies for script mode
file(READ "${BLOCK}" block)
if(NOT EXISTS "${FILE}")
  message(FATAL_ERROR "${WHERE}: the block is marked as a copy of ${FILE}, which does not exist")
endif()
file(READ "${FILE}" source)
if(block STREQUAL source)
  message(STATUS "${WHERE}: identical to ${FILE}")
  return()
endif()
foreach(v block source)  # make the texts safe as CMake lists, then split them into lines
  foreach(c "\\" ";" "[" "]")
    string(REPLACE "${c}" "<c>" ${v} "${${v}}")
  endforeach()
endforeach()
string(REPLACE "\n" ";" block_lines "${block}")
string(REPLACE "\n" ";" source_lines "${source}")
list(LENGTH block_lines nb)
list(LENGTH source_lines ns)
set(k 0)
while(k LESS nb AND k LESS ns)
  list(GET block_lines ${k} a)
  list(GET source_lines ${k} b)
  if(NOT a STREQUAL b)
    break()
  endif()
  math(EXPR k "${k} + 1")
endwhile()
math(EXPR line "${k} + 1")
message(FATAL_ERROR "${WHERE}: the block differs from ${FILE} at its line ${line}; "
                    "copy the file into the block (or the block into the file)")
