# tests/bench/extra.cmake — benchmark programs (not CTest tests). Each helper's
# fragment is included if present.
include(${CMAKE_CURRENT_LIST_DIR}/img.cmake OPTIONAL)
