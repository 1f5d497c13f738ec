/* kernels/cuda/cuda_gather.cu — deterministic backward of gather_rows
 * (embedding backward): dsrc[idx[i]] += row_mask[idx[i]] * dout[i].
 *
 * No float atomics: the (idx, i) pairs are sorted by idx with CUB's stable
 * radix sort (so equal indices keep ascending i), then one block per run of
 * equal indices sums that run's rows in i order and adds the total once. The
 * result is the same on every run, whatever the scheduling.
 */
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/cuda_dev.cuh"

__global__ void k_iota(int32_t *v, int64_t n) {
    GRID_STRIDE(i, n) v[i] = (int32_t)i;
}

/* block (p, column tile): p must start a run of equal keys */
__global__ void k_run_sum(CuF dsrc, CuF dout, CuF row_mask, const int32_t *key, const int32_t *val, int64_t n,
                          int64_t C, int64_t R) {
    int64_t p = blockIdx.x;
    int32_t r = key[p];
    if ((p > 0 && key[p - 1] == r) || r < 0 || r >= R) return;
    int64_t c = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.f;
    for (int64_t q = p; q < n && key[q] == r; q++) s += ldf(dout, (int64_t)val[q] * C + c);
    if (row_mask.p) s *= ldf(row_mask, r);
    accf(dsrc, (int64_t)r * C + c, s);
}

static size_t al256(size_t b) { return (b + 255) & ~(size_t)255; }

// dsrc (R, C) += rows of dout (n, C) at idx (n); row_mask (R) or NULL
extern "C" void cuda_gather_rows_backward(Backend *be, Tensor *dsrc, const Tensor *dout, const Tensor *idx,
                                          const Tensor *row_mask) {
    int64_t n = idx->numel;
    if (n == 0) return;
    if (dout->numel % n) VLMC_PANIC("gather_rows_backward: dout has %lld elements, not %lld rows", (long long)dout->numel, (long long)n);
    int64_t C = dout->numel / n;
    if (C == 0) return;
    if (dsrc->numel % C) VLMC_PANIC("gather_rows_backward: dsrc (%lld elements) is not rows of %lld", (long long)dsrc->numel, (long long)C);
    int64_t R = dsrc->numel / C;
    if (row_mask) be_check_numel("gather_rows_backward", row_mask, R, "row_mask");
    if (n > INT32_MAX / 2) VLMC_PANIC("gather_rows_backward: %lld indices exceed one sort", (long long)n);
    cudaStream_t s = cuda_ctx(be)->compute;
    const int32_t *keys = cui(idx, "gather_rows_backward", "idx");

    size_t cub_bytes = 0;
    if (CU_CHECK(be, NULL, cub::DeviceRadixSort::SortPairs(NULL, cub_bytes, keys, (int32_t *)NULL, (int32_t *)NULL,
                                                           (int32_t *)NULL, (int)n, 0, 32, s)))
        return;
    size_t vec = al256((size_t)n * sizeof(int32_t));
    char *tmp = (char *)cuda_temp(be, CUDA_TEMP_SORT, 3 * vec + al256(cub_bytes));
    if (!tmp) return;
    int32_t *vals_in = (int32_t *)tmp, *keys_out = (int32_t *)(tmp + vec), *vals_out = (int32_t *)(tmp + 2 * vec);
    void *cub_tmp = tmp + 3 * vec;

    k_iota<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, s>>>(vals_in, n);
    if (CU_LAUNCHED(be, "k_iota")) return;
    if (CU_CHECK(be, NULL, cub::DeviceRadixSort::SortPairs(cub_tmp, cub_bytes, keys, keys_out, vals_in, vals_out, (int)n,
                                                           0, 32, s)))
        return;
    dim3 grid((unsigned)n, (unsigned)((C + CU_THREADS - 1) / CU_THREADS));
    k_run_sum<<<grid, CU_THREADS, 0, s>>>(cuf(dsrc, "gather_rows_backward", "dsrc"),
                                         cuf(dout, "gather_rows_backward", "dout"),
                                         cuf(row_mask, "gather_rows_backward", "row_mask"), keys_out, vals_out, n, C, R);
    (void)CU_LAUNCHED(be, "k_run_sum");
}
