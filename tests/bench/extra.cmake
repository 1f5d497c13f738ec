# tests/bench/extra.cmake — one include per benchmark (each helper adds its own line).
include(${CMAKE_CURRENT_LIST_DIR}/tok.cmake OPTIONAL)
