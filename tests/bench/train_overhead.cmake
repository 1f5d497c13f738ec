# tests/bench/train_overhead.cmake — trainer overhead over a bare step (run from the repo root:
# build/tests/bench_train_overhead [--steps 30] [--threads 2] [--hidden 192])
add_executable(bench_train_overhead ${CMAKE_CURRENT_LIST_DIR}/train_overhead.c)
target_link_libraries(bench_train_overhead PRIVATE vlmc_train vlmc_model vlmc_data vlmc_kernels vlmc_core)
target_include_directories(bench_train_overhead PRIVATE ${PROJECT_SOURCE_DIR})
