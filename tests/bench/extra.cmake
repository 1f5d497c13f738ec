# tests/bench/extra.cmake — benchmark programs (not CTest tests), built with
# the project and run by the driver scripts beside them. Each benchmark adds
# its own fragment tests/bench/<name>.cmake; this file includes them all.
file(GLOB _bench_fragments ${CMAKE_CURRENT_LIST_DIR}/*.cmake)
foreach(f ${_bench_fragments})
  if(NOT f STREQUAL CMAKE_CURRENT_LIST_FILE)
    include(${f})
  endif()
endforeach()
