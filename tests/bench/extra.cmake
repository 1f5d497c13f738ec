# tests/bench — benchmark programs (not CTest tests): built with the project,
# run by the driver scripts beside them (tests/bench/ops).
add_executable(bench_ops ${CMAKE_CURRENT_LIST_DIR}/bench_ops.c)
target_link_libraries(bench_ops PRIVATE vlmc_kernels vlmc_core)
