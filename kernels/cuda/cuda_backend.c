/* kernels/cuda/cuda_backend.c — the CUDA backend's plumbing: device choice,
 * streams, one cudaMalloc per buffer class, transfers through a pinned
 * staging buffer, temporaries, and the `--version` line.
 *
 * Invariants:
 * - One device per backend, chosen by BackendOptions.device (the local rank);
 *   the calling thread's current device is set at creation. A process drives
 *   one GPU.
 * - Buffer classes must be reserved (lazy_capacity = 0): each reservation is
 *   exactly one cudaMalloc.
 * - Storage types: BUF_PARAMS / BUF_ACTS / BUF_SCRATCH hold float tensors as
 *   bf16, BUF_MASTER / BUF_GRADS / BUF_OPTIM as f32; with fp32_matmul every
 *   float tensor is f32 (parity tests). be_alloc_f32 is f32 in any class
 *   (the model's norm statistics, attention lse, log-probs, loss weights).
 *   Host data is always f32 / i32.
 * - be_upload returns once the host buffer may be reused; the copy itself
 *   overlaps queued compute work (upload stream), and compute waits for it.
 *   be_download returns with the data on the host.
 */
#include "kernels/cuda/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#define STAGING_BYTES ((size_t)64 << 20)
#define WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLAS' recommendation for Hopper */

/* ---- bf16 on the host ----------------------------------------------------- */

uint16_t cuda_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                           /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float cuda_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- memory ---------------------------------------------------------------- */

static const char *const class_names[BUF__COUNT] = {"params", "master", "grads", "optim", "acts", "scratch"};

static void *cuda_raw_alloc(Backend *be, BufClass c, size_t bytes, VStatus *st) {
    void *p = NULL;
    if (CU_CHECK(be, st, cudaMalloc(&p, bytes))) {
        size_t fr = 0, tot = 0;
        if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) { (void)cudaGetLastError(); fr = tot = 0; }
        vs_prefix(st, "cuda backend: reserving %zu bytes for the %s buffer (device has %zu of %zu bytes free)",
                  bytes, class_names[c], fr, tot);
        return NULL;
    }
    return p;
}

static void cuda_raw_free(Backend *be, BufClass c, void *p, size_t bytes) {
    (void)c; (void)bytes;
    CU_CHECK(be, NULL, cudaFree(p));  /* synchronises the device first */
}

void *cuda_temp(Backend *be, int slot, size_t bytes) {
    CudaCtx *cx = cuda_ctx(be);
    if (bytes <= cx->temp_bytes[slot]) return cx->temp[slot];
    /* growing: the old buffer may still be read by queued kernels */
    if (CU_CHECK(be, NULL, cudaStreamSynchronize(cx->compute))) return NULL;
    if (cx->temp[slot]) CU_CHECK(be, NULL, cudaFree(cx->temp[slot]));
    cx->temp[slot] = NULL;
    cx->temp_bytes[slot] = 0;
    size_t n = bytes + bytes / 4 + ((size_t)1 << 20);  /* headroom so sizes that creep up don't reallocate */
    if (CU_CHECK(be, NULL, cudaMalloc(&cx->temp[slot], n))) { cx->temp[slot] = NULL; return NULL; }
    cx->temp_bytes[slot] = n;
    return cx->temp[slot];
}

/* ---- transfers ------------------------------------------------------------- */

static int is_float(DType dt) { return dt == DT_F32 || dt == DT_BF16; }

static void cuda_upload(Backend *be, Tensor *dst, const void *host) {
    CudaCtx *cx = cuda_ctx(be);
    if (dst->dt == DT_F16) VLMC_PANIC("cuda upload: F16 tensors are not supported");
    size_t esz = dt_size(dst->dt);
    size_t chunk = cx->staging_bytes / esz;
    for (int64_t off = 0; off < dst->numel; off += (int64_t)chunk) {
        size_t n = (size_t)(dst->numel - off) < chunk ? (size_t)(dst->numel - off) : chunk;
        /* the staging buffer is free once the previous copy finished (this
         * waits only on the upload stream, not on queued compute work) */
        if (CU_CHECK(be, NULL, cudaStreamSynchronize(cx->upload))) return;
        if (off == 0) {
            /* work queued earlier may still read or write dst: order the copy after it */
            if (CU_CHECK(be, NULL, cudaEventRecord(cx->ev_compute, cx->compute))) return;
            if (CU_CHECK(be, NULL, cudaStreamWaitEvent(cx->upload, cx->ev_compute, 0))) return;
        }
        if (dst->dt == DT_BF16) {
            const float *h = (const float *)host + off;
            uint16_t *s = (uint16_t *)cx->staging;
            for (size_t i = 0; i < n; i++) s[i] = cuda_f32_to_bf16(h[i]);
        } else {
            memcpy(cx->staging, (const char *)host + (size_t)off * esz, n * esz);
        }
        if (CU_CHECK(be, NULL, cudaMemcpyAsync((char *)dst->data + (size_t)off * esz, cx->staging, n * esz,
                                               cudaMemcpyHostToDevice, cx->upload)))
            return;
    }
    /* later ops must see the data */
    if (CU_CHECK(be, NULL, cudaEventRecord(cx->ev_upload, cx->upload))) return;
    CU_CHECK(be, NULL, cudaStreamWaitEvent(cx->compute, cx->ev_upload, 0));
}

static void cuda_download(Backend *be, const Tensor *src, void *host) {
    CudaCtx *cx = cuda_ctx(be);
    if (src->dt == DT_F16) VLMC_PANIC("cuda download: F16 tensors are not supported");
    size_t esz = dt_size(src->dt);
    size_t chunk = cx->staging_bytes / esz;
    /* an upload may still be reading the staging buffer */
    if (CU_CHECK(be, NULL, cudaStreamSynchronize(cx->upload))) goto fail;
    for (int64_t off = 0; off < src->numel; off += (int64_t)chunk) {
        size_t n = (size_t)(src->numel - off) < chunk ? (size_t)(src->numel - off) : chunk;
        /* queued on compute: the copy sees every op queued before it */
        if (CU_CHECK(be, NULL, cudaMemcpyAsync(cx->staging, (const char *)src->data + (size_t)off * esz, n * esz,
                                               cudaMemcpyDeviceToHost, cx->compute)))
            goto fail;
        if (CU_CHECK(be, NULL, cudaStreamSynchronize(cx->compute))) goto fail;
        if (src->dt == DT_BF16) {
            float *h = (float *)host + off;
            const uint16_t *s = (const uint16_t *)cx->staging;
            for (size_t i = 0; i < n; i++) h[i] = cuda_bf16_to_f32(s[i]);
        } else {
            memcpy((char *)host + (size_t)off * esz, cx->staging, n * esz);
        }
    }
    return;
fail:
    /* the error is recorded for be_sync; make the host copy visibly invalid */
    if (is_float(src->dt))
        for (int64_t i = 0; i < src->numel; i++) ((float *)host)[i] = __builtin_nanf("");
}

static int cuda_sync(Backend *be, VStatus *st) {
    CudaCtx *cx = cuda_ctx(be);
    if (CU_CHECK(NULL, st, cudaStreamSynchronize(cx->upload))) return VS_EDEVICE;
    if (CU_CHECK(NULL, st, cudaStreamSynchronize(cx->compute))) return VS_EDEVICE;
    return 0;
}

static void cuda_destroy(Backend *be) {
    CudaCtx *cx = cuda_ctx(be);
    if (cx) {
        if (cx->compute) (void)cudaStreamSynchronize(cx->compute);
        if (cx->upload) (void)cudaStreamSynchronize(cx->upload);
        cuda_mm_cache_free(cx->mm);
        if (cx->lt) (void)cublasLtDestroy(cx->lt);
        for (int i = 0; i < CUDA_TEMP__COUNT; i++)
            if (cx->temp[i]) (void)cudaFree(cx->temp[i]);
        if (cx->workspace) (void)cudaFree(cx->workspace);
        if (cx->staging) (void)cudaFreeHost(cx->staging);
        if (cx->ev_compute) (void)cudaEventDestroy(cx->ev_compute);
        if (cx->ev_upload) (void)cudaEventDestroy(cx->ev_upload);
        if (cx->compute) (void)cudaStreamDestroy(cx->compute);
        if (cx->upload) (void)cudaStreamDestroy(cx->upload);
        (void)cudaGetLastError();
        free(cx);
    }
    free(be);
}

static DType cuda_storage_dtype(const Backend *be, BufClass c, DType dt) {
    if (dt != DT_F32 || cuda_ctx(be)->fp32) return dt;
    return (c == BUF_PARAMS || c == BUF_ACTS || c == BUF_SCRATCH) ? DT_BF16 : DT_F32;
}

static const BackendVtbl cuda_vtbl = {
    .raw_alloc = cuda_raw_alloc,
    .raw_free = cuda_raw_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .destroy = cuda_destroy,
    .storage_dtype = cuda_storage_dtype,
    .lazy_capacity = 0,
};

/* ---- creation ------------------------------------------------------------------ */

Backend *cuda_backend_create(const BackendOptions *opt, VStatus *st) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        vs_set(st, VS_EDEVICE, "cuda backend: no CUDA device present (cudaGetDeviceCount: %s)%s%s",
               e != cudaSuccess ? cudaGetErrorString(e) : "0 devices",
               e != cudaSuccess && *cuda_hint(e) ? "; hint: " : "", e != cudaSuccess ? cuda_hint(e) : "");
        return NULL;
    }
    int dev = opt ? opt->device : 0;
    if (dev < 0 || dev >= n) {
        vs_set(st, VS_EINVAL, "cuda backend: device %d requested but %d visible (local rank beyond the GPUs? "
               "CUDA_VISIBLE_DEVICES?)", dev, n);
        return NULL;
    }
    struct cudaDeviceProp prop;
    if (CU_CHECK(NULL, st, cudaGetDeviceProperties(&prop, dev))) return NULL;
    if (prop.major < 9) {
        vs_set(st, VS_EUNSUP, "cuda backend: device %d (%s) is sm_%d%d; vlmc is built for sm_90 (H100/H200)", dev,
               prop.name, prop.major, prop.minor);
        return NULL;
    }
    if (CU_CHECK(NULL, st, cudaSetDevice(dev))) return NULL;

    Backend *be = calloc(1, sizeof *be);
    CudaCtx *cx = calloc(1, sizeof *cx);
    if (!be || !cx) {
        free(be);
        free(cx);
        vs_set(st, VS_ENOMEM, "cuda backend: out of host memory");
        return NULL;
    }
    be->name = "cuda";
    be->ops = cuda_op_table();
    be->vt = &cuda_vtbl;
    be->impl = cx;
    if (opt) be->opt = *opt;
    cx->device = dev;
    cx->fp32 = opt ? opt->fp32_matmul : 0;
    snprintf(cx->name, sizeof cx->name, "%s", prop.name);
    if (CU_CHECK(NULL, st, cudaStreamCreateWithFlags(&cx->compute, cudaStreamNonBlocking)) ||
        CU_CHECK(NULL, st, cudaStreamCreateWithFlags(&cx->upload, cudaStreamNonBlocking)) ||
        CU_CHECK(NULL, st, cudaEventCreateWithFlags(&cx->ev_compute, cudaEventDisableTiming)) ||
        CU_CHECK(NULL, st, cudaEventCreateWithFlags(&cx->ev_upload, cudaEventDisableTiming)) ||
        CU_CHECK(NULL, st, cudaMallocHost(&cx->staging, STAGING_BYTES)) ||
        CUBLAS_CHECK(NULL, st, cublasLtCreate(&cx->lt)) ||
        CU_CHECK(NULL, st, cudaMalloc(&cx->workspace, WORKSPACE_BYTES)))
        goto fail;
    cx->staging_bytes = STAGING_BYTES;
    cx->workspace_bytes = WORKSPACE_BYTES;
    cx->mm = cuda_mm_cache_new();
    if (!cx->mm) {
        vs_set(st, VS_ENOMEM, "cuda backend: out of host memory");
        goto fail;
    }
    return be;
fail:
    vs_prefix(st, "cuda backend on device %d (%s)", dev, prop.name);
    cuda_destroy(be);
    return NULL;
}

/* ---- build info ------------------------------------------------------------- */

void cuda_print_build_info(FILE *f) {
    int rt = 0, nccl = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) rt = 0;
    size_t dnn = cudnnGetVersion();
    if (ncclGetVersion(&nccl) != ncclSuccess) nccl = 0;
    fprintf(f, "cuda: compiled in for sm_90 (CUDA %d.%d, cuDNN %zu.%zu.%zu, NCCL %d.%d.%d); ", rt / 1000,
            (rt % 1000) / 10, dnn / 10000, (dnn % 10000) / 100, dnn % 100, nccl / 10000, (nccl % 10000) / 100,
            nccl % 100);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        (void)cudaGetLastError();
        fprintf(f, "devices: none present (%s)\n",
                e == cudaErrorInsufficientDriver ? "no NVIDIA driver loaded, or one older than this runtime"
                : e != cudaSuccess                ? cudaGetErrorString(e)
                                                  : "0 devices");
        return;
    }
    fprintf(f, "devices:");
    for (int i = 0; i < n; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
            (void)cudaGetLastError();
            fprintf(f, " [%d] ?", i);
            continue;
        }
        fprintf(f, "%s [%d] %s (sm_%d%d, %.1f GiB)", i ? "," : "", i, p.name, p.major, p.minor,
                (double)p.totalGlobalMem / (1 << 30));
    }
    fprintf(f, "\n");
}
