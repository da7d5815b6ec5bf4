# Every code block of the documentation compiles:
#   xgrad_doc_blocks(FILES <markdown file>... [INCLUDE_DIRECTORIES <dir>...])
# turns the fenced blocks of each file into build targets and tests (compiled with the given include
# directories besides xgrad's own). What a block's info string (after the ```) means:
#
#   ```cpp                     a complete translation unit. Compiled and linked against xgrad::xgrad; if it
#                              defines main(), the test docs.<file>.<n> runs it and expects exit status 0.
#   ```cpp fragment            statements only: wrapped in a function (after #include <xgrad/xgrad.hpp> and
#                              `using namespace xgrad;`) and compiled, not run.
#   ```<any> file=<path>       a verbatim copy of <path> (relative to the project root), which is compiled
#                              or run elsewhere; the test docs.<file>.<n> fails when the two differ.
#   ```<anything else>         (sh, cmake, text, …) not checked.
#
# <n> counts the checked blocks of a file from 1; the extracted sources start with #line, so compiler
# errors point at the markdown file and line. Editing a markdown file re-runs CMake's configure step.
include_guard(GLOBAL)

# Writes `content` to `path` only when it differs, so unchanged blocks are not rebuilt.
function(_xgrad_write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" old)
    if(old STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${content}")
endfunction()

function(xgrad_doc_blocks)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "" "FILES;INCLUDE_DIRECTORIES")
  foreach(md IN LISTS arg_FILES)
    get_filename_component(md_path "${md}" ABSOLUTE BASE_DIR "${PROJECT_SOURCE_DIR}")
    file(RELATIVE_PATH md_rel "${PROJECT_SOURCE_DIR}" "${md_path}")
    get_filename_component(stem "${md_path}" NAME_WE)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${md_path}")
    set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/doc_blocks")

    # Read the file line by line. CMake lists split on ';' and treat '[' ']' specially, so those characters
    # are swapped for placeholders while the text is a list and restored line by line.
    file(READ "${md_path}" text)
    string(REPLACE "\\" "<XGRAD_BACKSLASH>" text "${text}")
    string(REPLACE ";" "<XGRAD_SEMICOLON>" text "${text}")
    string(REPLACE "[" "<XGRAD_OPEN_BRACKET>" text "${text}")
    string(REPLACE "]" "<XGRAD_CLOSE_BRACKET>" text "${text}")
    string(REPLACE "\n" ";" lines "${text}")

    set(line_no 0)
    set(in_block FALSE)
    set(count 0)
    foreach(line IN LISTS lines)
      math(EXPR line_no "${line_no} + 1")
      string(REPLACE "<XGRAD_SEMICOLON>" ";" line "${line}")
      string(REPLACE "<XGRAD_OPEN_BRACKET>" "[" line "${line}")
      string(REPLACE "<XGRAD_CLOSE_BRACKET>" "]" line "${line}")
      string(REPLACE "<XGRAD_BACKSLASH>" "\\" line "${line}")
      if(NOT in_block)
        if(line MATCHES "^```(.*)$")
          string(STRIP "${CMAKE_MATCH_1}" info)
          set(in_block TRUE)
          set(body "")
          set(first_line ${line_no})
          math(EXPR first_line "${line_no} + 1")
          set(kind skip)
          if(info MATCHES "file=([^ ]+)")
            set(kind file)
            set(copy_of "${CMAKE_MATCH_1}")
          elseif(info STREQUAL "cpp" OR info STREQUAL "c++")
            set(kind unit)
          elseif(info MATCHES "^(cpp|c\\+\\+) +fragment$")
            set(kind fragment)
          endif()
        endif()
        continue()
      endif()
      if(NOT line MATCHES "^```[ \t]*$")
        string(APPEND body "${line}\n")
        continue()
      endif()
      # end of a block
      set(in_block FALSE)
      if(kind STREQUAL "skip")
        continue()
      endif()
      math(EXPR count "${count} + 1")
      set(name "docs.${stem}.${count}")
      set(target "xgrad_doc_${stem}_${count}")
      if(kind STREQUAL "file")
        set(copy "${out_dir}/${stem}_${count}.block")
        _xgrad_write_if_changed("${copy}" "${body}")
        add_test(NAME ${name}
                 COMMAND ${CMAKE_COMMAND} -DBLOCK=${copy} -DFILE=${PROJECT_SOURCE_DIR}/${copy_of}
                         -DWHERE=${md_rel}:${first_line} -P ${PROJECT_SOURCE_DIR}/cmake/XgradDocBlockCompare.cmake)
        set_tests_properties(${name} PROPERTIES LABELS docs)
        continue()
      endif()
      set(source "${out_dir}/${stem}_${count}.cpp")
      if(kind STREQUAL "fragment")
        set(code "#include <xgrad/xgrad.hpp>\nusing namespace xgrad;\n[[maybe_unused]] static void xgrad_doc_fragment() {\n#line ${first_line} \"${md_path}\"\n${body}}\n")
      else()
        set(code "#line ${first_line} \"${md_path}\"\n${body}")
      endif()
      _xgrad_write_if_changed("${source}" "${code}")
      if(kind STREQUAL "unit" AND body MATCHES "int main\\(")
        add_executable(${target} "${source}")
        add_test(NAME ${name} COMMAND ${target})
        set_tests_properties(${name} PROPERTIES LABELS docs)
      else()
        add_library(${target} OBJECT "${source}")
      endif()
      target_link_libraries(${target} PRIVATE xgrad::xgrad)
      target_include_directories(${target} PRIVATE ${arg_INCLUDE_DIRECTORIES})
      target_compile_options(${target} PRIVATE -Wall -Wextra)
    endforeach()
    if(in_block)
      message(FATAL_ERROR "${md_rel}: a code block opened at line ${first_line} is never closed")
    endif()
    message(STATUS "xgrad: ${count} checked code blocks in ${md_rel}")
  endforeach()
endfunction()
