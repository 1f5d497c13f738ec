# tests/bench/tok.cmake — tokenizer benchmark program (driver: tests/bench/tokenizer).
add_executable(tok_bench ${CMAKE_CURRENT_LIST_DIR}/tok_bench.c)
target_link_libraries(tok_bench PRIVATE vlmc_data vlmc_core)
