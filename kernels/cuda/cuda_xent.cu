/* kernels/cuda/cuda_xent.cu — classifier + softmax cross-entropy, chunked
 * over rows so the full (N, V) logits never exist.
 *
 * Per chunk of rows: logits (nr, V) f32 = x_chunk @ w^T through cuBLASLt
 * (fp32 accumulation); one block per row turns them into the log-sum-exp,
 * log p(target) and, for the backward, dlogits = weight * (softmax - onehot)
 * in the lm-head's dtype; two more cuBLASLt products add dx_chunk += dlogits @
 * w and dw += dlogits^T @ x_chunk. Chunks run in order, so dw's sum over
 * chunks is deterministic. Peak extra memory: chunk * V * (4 + 2) bytes.
 */
#include <string.h>

#include "kernels/cuda/cuda_dev.cuh"

#define XENT_THREADS 512
#define XENT_DEFAULT_CHUNK 1024

/* block per row r (chunk-local) of logits (nr, V) */
__global__ void k_xent_rows(const float *logits, int64_t V, const int32_t *targets, CuF weight, CuF logp, CuF dlog,
                            int64_t r0) {
    __shared__ float shm[32];
    int64_t r = blockIdx.x;
    const float *row = logits + r * V;
    /* one pass: each thread keeps a running max and its rescaled sum of exp */
    float m = -INFINITY, s = 0.f;
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
        float v = row[j];
        if (v > m) {
            s = s * expf(m - v) + 1.f;  /* m = -inf on the first element: s = 0 * 0 + 1 */
            m = v;
        } else {
            s += expf(v - m);
        }
    }
    float M = block_max(m, shm);
    s = m == -INFINITY ? 0.f : s * expf(m - M);
    s = block_sum(s, shm);
    float lse = M + logf(s);
    int64_t t = targets[r0 + r];
    int ignored = t < 0 || t >= V;  /* a target >= V is bad data: no gradient, NaN log-prob */
    if (threadIdx.x == 0 && logp.p) {
        float lp = t < 0 ? 0.f : t < V ? row[t] - lse : __int_as_float(0x7fc00000);
        stf(logp, r0 + r, lp);
    }
    if (!dlog.p) return;
    /* L = -sum_i weight_i logp_i  =>  dL/dlogit_ij = weight_i (p_ij - [j == t_i]) */
    float wt = ignored ? 0.f : ldf(weight, r0 + r);
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
        float g = ignored ? 0.f : wt * (expf(row[j] - lse) - (j == t ? 1.f : 0.f));
        stf(dlog, r * V + j, g);
    }
}

static Tensor rows_of(const Tensor *t, int64_t row0, int64_t rows, int64_t cols) {
    Tensor v;
    memset(&v, 0, sizeof v);
    v.dt = t->dt;
    v.ndim = 2;
    v.shape[0] = rows;
    v.shape[1] = cols;
    v.numel = rows * cols;
    v.cls = t->cls;
    v.data = (char *)t->data + (size_t)(row0 * cols) * dt_size(t->dt);
    return v;
}

static Tensor temp_tensor(void *p, DType dt, int64_t rows, int64_t cols) {
    Tensor v;
    memset(&v, 0, sizeof v);
    v.dt = dt;
    v.ndim = 2;
    v.shape[0] = rows;
    v.shape[1] = cols;
    v.numel = rows * cols;
    v.cls = BUF_SCRATCH;
    v.data = p;
    return v;
}

// x (N, C), w (V, C), targets (N) i32 (-1 ignored), weight (N); logp (N); dx (N, C) +=; dw (V, C) +=
extern "C" void cuda_xent(Backend *be, Tensor *logp, Tensor *dx, Tensor *dw, const Tensor *x, const Tensor *w,
                          const Tensor *targets, const Tensor *weight, int64_t chunk) {
    const char *op = "xent";
    int64_t N = targets->numel;
    if (N == 0) return;
    if (x->numel % N) VLMC_PANIC("xent: x has %lld elements, not %lld rows", (long long)x->numel, (long long)N);
    int64_t C = x->numel / N;
    if (C == 0 || w->numel % C) VLMC_PANIC("xent: w has %lld elements, not rows of C = %lld", (long long)w->numel, (long long)C);
    int64_t V = w->numel / C;
    int bwd = dx || dw;
    if (logp) be_check_numel(op, logp, N, "logp (N)");
    if (dx) be_check_numel(op, dx, N * C, "dx (N, C)");
    if (dw) be_check_numel(op, dw, V * C, "dw (V, C)");
    if (bwd) be_check_numel(op, weight, N, "weight (N) (required with dx / dw)");
    if (!logp && !bwd) return;
    (void)cuf(x, op, "x");
    (void)cuf(w, op, "w");
    const int32_t *tg = cui(targets, op, "targets");
    if (chunk <= 0) chunk = XENT_DEFAULT_CHUNK;
    if (chunk > N) chunk = N;
    float *lg = (float *)cuda_temp(be, CUDA_TEMP_XENT_LOGITS, (size_t)(chunk * V) * sizeof(float));
    if (!lg) return;
    DType ddt = w->dt;  /* dlogits in the lm-head's type: the products below stay bf16 x bf16 */
    void *dl = NULL;
    if (bwd) {
        dl = cuda_temp(be, CUDA_TEMP_XENT_DLOGITS, (size_t)(chunk * V) * dt_size(ddt));
        if (!dl) return;
    }
    CuF flogp = cuf(logp, op, "logp"), fweight = cuf(weight, op, "weight");
    for (int64_t r0 = 0; r0 < N; r0 += chunk) {
        int64_t nr = N - r0 < chunk ? N - r0 : chunk;
        Tensor xv = rows_of(x, r0, nr, C);
        Tensor L = temp_tensor(lg, DT_F32, nr, V);
        MatmulDesc d;
        memset(&d, 0, sizeof d);
        d.trans_b = 1;  /* logits = x @ w^T, w stored (V, C) */
        d.m = nr;
        d.n = V;
        d.k = C;
        d.batch = 1;
        d.alpha = 1.f;
        d.beta = 0.f;
        cuda_matmul(be, &d, &L, &xv, w, NULL);
        Tensor D = temp_tensor(dl, ddt, nr, V);
        CuF fdl = {bwd ? dl : NULL, ddt == DT_BF16};
        k_xent_rows<<<(unsigned)nr, XENT_THREADS, 0, cuda_ctx(be)->compute>>>(lg, V, tg, fweight, flogp, fdl, r0);
        if (CU_LAUNCHED(be, "k_xent_rows")) return;
        if (dx) {
            /* dx_chunk (nr, C) += dlogits (nr, V) @ w (V, C) */
            Tensor dxv = rows_of(dx, r0, nr, C);
            MatmulDesc e;
            memset(&e, 0, sizeof e);
            e.m = nr;
            e.n = C;
            e.k = V;
            e.batch = 1;
            e.alpha = 1.f;
            e.beta = 1.f;
            cuda_matmul(be, &e, &dxv, &D, w, NULL);
        }
        if (dw) {
            /* dw (V, C) += dlogits^T (V, nr) @ x_chunk (nr, C) */
            MatmulDesc e;
            memset(&e, 0, sizeof e);
            e.trans_a = 1;
            e.m = V;
            e.n = C;
            e.k = nr;
            e.batch = 1;
            e.alpha = 1.f;
            e.beta = 1.f;
            cuda_matmul(be, &e, dw, &D, &xv, NULL);
        }
    }
}
