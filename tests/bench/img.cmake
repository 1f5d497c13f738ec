# tests/bench/img.cmake — the image half of the loader benchmark:
# bench_image (C) is driven by tests/bench/image_bench.py, which also runs the
# Pillow + numpy baseline on the same files and prints the ratio.
add_executable(bench_image ${CMAKE_CURRENT_LIST_DIR}/bench_image.c)
target_link_libraries(bench_image PRIVATE vlmc_data vlmc_core)
