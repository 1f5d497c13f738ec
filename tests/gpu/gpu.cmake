# tests/gpu — programs for a GPU machine (not CTest tests: CI has no GPU).
# Included from kernels/cuda/CMakeLists.txt, so only when VLMC_CUDA is ON.
# Binaries land in build/tests/gpu/, where make_bundle.sh picks them up.
set(_gpu_dir ${PROJECT_SOURCE_DIR}/tests/gpu)
add_executable(gpu_parity ${_gpu_dir}/gpu_parity.c ${_gpu_dir}/gpu_cases_a.c ${_gpu_dir}/gpu_cases_b.c
                          ${_gpu_dir}/gpu_cases_internal.c)
target_link_libraries(gpu_parity PRIVATE vlmc_kernels vlmc_cuda vlmc_core m)
set_target_properties(gpu_parity PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/gpu)
if(EXISTS ${_gpu_dir}/bench_ops.c)
  # target gpu_bench_ops (tests/bench has the CPU bench_ops), binary tests/gpu/bench_ops
  add_executable(gpu_bench_ops ${_gpu_dir}/bench_ops.c)
  target_link_libraries(gpu_bench_ops PRIVATE vlmc_kernels vlmc_core m CUDA::cudart)
  set_target_properties(gpu_bench_ops PROPERTIES OUTPUT_NAME bench_ops RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests/gpu)
endif()
