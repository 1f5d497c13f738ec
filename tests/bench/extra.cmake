# tests/bench/extra.cmake — benchmark programs (not tests), one fragment each.
include(${CMAKE_CURRENT_LIST_DIR}/sgemm.cmake)
