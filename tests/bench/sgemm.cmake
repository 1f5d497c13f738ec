# tests/bench/sgemm.cmake — bench_sgemm: OpenBLAS sgemm GFLOP/s with the core
# vlmc selects (issue 2, item 5). A benchmark program, not a CTest test.
add_executable(bench_sgemm ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_sgemm.c)
target_link_libraries(bench_sgemm PRIVATE vlmc_kernels vlmc_core)
