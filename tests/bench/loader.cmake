# tests/bench/loader.cmake — end-to-end loader benchmark: bench_loader writes a
# pairs dataset of synthetic JPEGs into tar shards and measures global batches
# per second through the threaded loader (decode, resize, normalise, tokenize,
# pack). Run: build/bench_loader [--workers 2] [--images 256] [--batches 40]
add_executable(bench_loader ${CMAKE_CURRENT_LIST_DIR}/bench_loader.c)
target_link_libraries(bench_loader PRIVATE vlmc_data vlmc_core PkgConfig::JPEG PkgConfig::ARCHIVE)
