# tests/bench/model.cmake — one VLM training step vs PyTorch (driver: tests/bench/train_step)
add_executable(bench_train_step ${CMAKE_CURRENT_LIST_DIR}/train_step.c)
target_link_libraries(bench_train_step PRIVATE vlmc_model vlmc_kernels vlmc_core)
