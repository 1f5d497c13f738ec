/* kernels/cuda/cuda_move.cu — data movement: permute, concat/split, row
 * gather/scatter (forward), pixel shuffle, patch unfold. Each output element
 * is written by exactly one thread, so the backward passes (which accumulate)
 * need no atomics. The deterministic gather backward is in cuda_gather.cu. */
#include "kernels/cuda/cuda_dev.cuh"

#define LAUNCHED(be, name) (void)CU_LAUNCHED(be, name)
#define STREAM(be) (cuda_ctx(be)->compute)

/* ---- permute ---------------------------------------------------------------------- */

struct PermGeom {
    int nd;
    int64_t odim[VLMC_MAX_DIMS];   /* output dims */
    int64_t istr[VLMC_MAX_DIMS];   /* input stride of the axis that output axis i reads */
};

/* acc = 0: out[o] = inp[map(o)]; acc = 1: inp[map(o)] += out[o] (the backward) */
__global__ void k_permute(CuF out, CuF inp, PermGeom g, int64_t n, int acc) {
    GRID_STRIDE(o, n) {
        int64_t rem = o, off = 0;
        for (int i = g.nd - 1; i >= 0; i--) {
            int64_t q = rem / g.odim[i];
            off += (rem - q * g.odim[i]) * g.istr[i];
            rem = q;
        }
        if (acc)
            accf(inp, off, ldf(out, o));
        else
            stf(out, o, ldf(inp, off));
    }
}

static PermGeom perm_geom(const char *op, const Tensor *in, const Tensor *out, const int *perm) {
    PermGeom g;
    int nd = in->ndim;
    g.nd = nd;
    int64_t istr[VLMC_MAX_DIMS];
    int seen[VLMC_MAX_DIMS] = {0};
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        istr[i] = s;
        s *= in->shape[i];
    }
    if (out->ndim != nd) VLMC_PANIC("%s: %d-d input but %d-d output", op, nd, out->ndim);
    for (int i = 0; i < nd; i++) {
        if (perm[i] < 0 || perm[i] >= nd || seen[perm[i]]++) VLMC_PANIC("%s: perm is not a permutation of %d axes", op, nd);
        if (out->shape[i] != in->shape[perm[i]])
            VLMC_PANIC("%s: output dim %d is %lld, input dim perm[%d]=%d is %lld", op, i, (long long)out->shape[i], i,
                       perm[i], (long long)in->shape[perm[i]]);
        g.odim[i] = out->shape[i];
        g.istr[i] = istr[perm[i]];
    }
    return g;
}

// out = inp with axes permuted: out dims d[perm[i]]
extern "C" void cuda_permute(Backend *be, Tensor *out, const Tensor *inp, const int *perm) {
    PermGeom g = perm_geom("permute", inp, out, perm);
    if (out->numel == 0) return;
    k_permute<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(out, "permute", "out"), cuf(inp, "permute", "inp"), g, out->numel, 0);
    LAUNCHED(be, "k_permute");
}

// dinp += inverse permutation of dout
extern "C" void cuda_permute_backward(Backend *be, Tensor *dinp, const Tensor *dout, const int *perm) {
    PermGeom g = perm_geom("permute_backward", dinp, dout, perm);
    if (dout->numel == 0) return;
    k_permute<<<cu_blocks(dout->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(dout, "permute_backward", "dout"), cuf(dinp, "permute_backward", "dinp"), g, dout->numel, 1);
    LAUNCHED(be, "k_permute_backward");
}

/* ---- concat / split ---------------------------------------------------------------- */

/* part (outer, len, inner) <-> out (outer, L, inner) at axis offset off */
__global__ void k_concat(CuF out, CuF part, int64_t len, int64_t inner, int64_t L, int64_t off, int64_t n, int back) {
    GRID_STRIDE(i, n) {
        int64_t o = i / (len * inner), rem = i - o * len * inner;
        int64_t j = o * L * inner + off * inner + rem;
        if (back)
            accf(part, i, ldf(out, j));
        else
            stf(out, j, ldf(part, i));
    }
}

static void concat_geom(const char *op, const Tensor *out, const Tensor *const *parts, int n, int axis, int *ax,
                        int64_t *inner) {
    int nd = out->ndim;
    int a = axis < 0 ? axis + nd : axis;
    if (a < 0 || a >= nd) VLMC_PANIC("%s: axis %d of a %d-d tensor", op, axis, nd);
    int64_t L = 0;
    for (int p = 0; p < n; p++) {
        const Tensor *t = parts[p];
        if (t->ndim != nd) VLMC_PANIC("%s: part %d is %d-d, output %d-d", op, p, t->ndim, nd);
        for (int i = 0; i < nd; i++)
            if (i != a && t->shape[i] != out->shape[i])
                VLMC_PANIC("%s: part %d dim %d is %lld, output has %lld", op, p, i, (long long)t->shape[i],
                           (long long)out->shape[i]);
        L += t->shape[a];
    }
    (void)L;
    int64_t in = 1;
    for (int i = a + 1; i < nd; i++) in *= out->shape[i];
    *ax = a;
    *inner = in;
}

// out = cat(parts, axis)
extern "C" void cuda_concat(Backend *be, Tensor *out, const Tensor *const *parts, int n, int axis) {
    int a;
    int64_t inner;
    for (int p = 0; p < n; p++)
        if (!parts[p]) VLMC_PANIC("concat: part %d is NULL", p);
    concat_geom("concat", out, parts, n, axis, &a, &inner);
    int64_t L = out->shape[a], off = 0;
    for (int p = 0; p < n; p++) off += parts[p]->shape[a];
    if (off != L) VLMC_PANIC("concat: parts add to %lld along axis %d, output has %lld", (long long)off, a, (long long)L);
    off = 0;
    for (int p = 0; p < n; p++) {
        const Tensor *t = parts[p];
        if (t->numel)
            k_concat<<<cu_blocks(t->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
                cuf(out, "concat", "out"), cuf(t, "concat", "part"), t->shape[a], inner, L, off, t->numel, 0);
        LAUNCHED(be, "k_concat");
        off += t->shape[a];
    }
}

// dparts[i] += its slice of dout; every part must be given (a NULL part's width,
// hence where the next slice starts, would be unknown)
extern "C" void cuda_concat_backward(Backend *be, Tensor *const *dparts, int n, const Tensor *dout, int axis) {
    int a;
    int64_t inner;
    for (int p = 0; p < n; p++)
        if (!dparts[p]) VLMC_PANIC("concat_backward: dpart %d is NULL (its width is needed to split)", p);
    concat_geom("concat_backward", dout, (const Tensor *const *)dparts, n, axis, &a, &inner);
    int64_t L = dout->shape[a], off = 0;
    for (int p = 0; p < n; p++) off += dparts[p]->shape[a];
    if (off != L) VLMC_PANIC("concat_backward: parts add to %lld along axis %d, dout has %lld", (long long)off, a, (long long)L);
    off = 0;
    for (int p = 0; p < n; p++) {
        Tensor *t = dparts[p];
        if (t->numel)
            k_concat<<<cu_blocks(t->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
                cuf(dout, "concat_backward", "dout"), cuf(t, "concat_backward", "dpart"), t->shape[a], inner, L, off,
                t->numel, 1);
        LAUNCHED(be, "k_concat_backward");
        off += t->shape[a];
    }
}

/* ---- row gather / scatter ------------------------------------------------------------- */

/* out (n, C) = src[idx[i]]; an index outside [0, R) yields NaN (visible, not a fault) */
__global__ void k_gather_rows(CuF out, CuF src, const int32_t *idx, int64_t n, int64_t C, int64_t R) {
    GRID_STRIDE(e, n * C) {
        int64_t i = e / C, c = e - i * C;
        int64_t r = idx[i];
        stf(out, e, r >= 0 && r < R ? ldf(src, r * C + c) : __int_as_float(0x7fc00000));
    }
}

/* all bf16, C % 8 == 0: 16-byte chunks of a row */
__global__ void k_gather_rows_v8(CuF out, CuF src, const int32_t *idx, int64_t n, int64_t C, int64_t R) {
    int64_t c8 = C / 8;
    GRID_STRIDE(e, n * c8) {
        int64_t i = e / c8, c = e - i * c8;
        int64_t r = idx[i];
        float v[8];
        if (r >= 0 && r < R) {
            ld8(src.p, r * c8 + c, v);
        } else {
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] = __int_as_float(0x7fc00000);
        }
        st8(out.p, e, v);
    }
}

static int64_t row_width(const char *op, const Tensor *t, int64_t rows, const char *what) {
    if (rows <= 0 || t->numel % rows) VLMC_PANIC("%s: %s has %lld elements, not %lld whole rows", op, what, (long long)t->numel, (long long)rows);
    return t->numel / rows;
}

// out (n, C) = src (R, C)[idx (n)]
extern "C" void cuda_gather_rows(Backend *be, Tensor *out, const Tensor *src, const Tensor *idx) {
    int64_t n = idx->numel;
    if (n == 0) return;
    int64_t C = row_width("gather_rows", out, n, "out");
    int64_t R = src->numel / (C ? C : 1);
    if (C == 0) return;
    if (src->numel % C) VLMC_PANIC("gather_rows: src (%lld elements) is not rows of %lld", (long long)src->numel, (long long)C);
    CuF o = cuf(out, "gather_rows", "out"), sr = cuf(src, "gather_rows", "src");
    const int32_t *ix = cui(idx, "gather_rows", "idx");
    if (C % 8 == 0 && vec8_ok(o, sr))
        k_gather_rows_v8<<<cu_blocks(n * C / 8, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, sr, ix, n, C, R);
    else
        k_gather_rows<<<cu_blocks(n * C, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(o, sr, ix, n, C, R);
    LAUNCHED(be, "k_gather_rows");
}

/* With a repeated index the forward keeps the LAST writer (sequential
 * semantics, as the CPU backend), and only that one receives the gradient.
 * last[i] = 1 when idx[i] is in range and no later j has idx[j] == idx[i];
 * O(n^2) over n indices, which are few (image tokens of a batch). */
__global__ void k_last_writer(const int32_t *idx, int64_t n, int64_t R, uint8_t *last) {
    GRID_STRIDE(i, n) {
        int32_t r = idx[i];
        uint8_t ok = r >= 0 && r < R;
        for (int64_t j = i + 1; ok && j < n; j++) ok = idx[j] != r;
        last[i] = ok;
    }
}

/* dst[idx[i]] = src[i] for the last writer of each row */
__global__ void k_scatter_rows(CuF dst, CuF src, const int32_t *idx, const uint8_t *last, int64_t n, int64_t C) {
    GRID_STRIDE(e, n * C) {
        int64_t i = e / C, c = e - i * C;
        if (last[i]) stf(dst, (int64_t)idx[i] * C + c, ldf(src, e));
    }
}
/* dsrc[i] += ddst[idx[i]] for last writers (the others were overwritten) */
__global__ void k_scatter_rows_bwd_read(CuF dsrc, CuF ddst, const int32_t *idx, const uint8_t *last, int64_t n,
                                        int64_t C) {
    GRID_STRIDE(e, n * C) {
        int64_t i = e / C, c = e - i * C;
        if (last[i]) accf(dsrc, e, ldf(ddst, (int64_t)idx[i] * C + c));
    }
}
/* then ddst[idx[i]] = 0: those rows were overwritten, nothing upstream of dst gets them */
__global__ void k_scatter_rows_bwd_zero(CuF ddst, const int32_t *idx, const uint8_t *last, int64_t n, int64_t C) {
    GRID_STRIDE(e, n * C) {
        int64_t i = e / C, c = e - i * C;
        if (last[i]) stf(ddst, (int64_t)idx[i] * C + c, 0.f);
    }
}

static uint8_t *last_writers(Backend *be, const int32_t *idx, int64_t n, int64_t R) {
    uint8_t *last = (uint8_t *)cuda_temp(be, CUDA_TEMP_SORT, (size_t)n);
    if (!last) return NULL;
    k_last_writer<<<cu_blocks(n, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(idx, n, R, last);
    return CU_LAUNCHED(be, "k_last_writer") ? NULL : last;
}

// dst (R, C)[idx[i]] = src (n, C)[i]
extern "C" void cuda_scatter_rows(Backend *be, Tensor *dst, const Tensor *src, const Tensor *idx) {
    int64_t n = idx->numel;
    if (n == 0) return;
    int64_t C = row_width("scatter_rows", src, n, "src");
    if (C == 0) return;
    if (dst->numel % C) VLMC_PANIC("scatter_rows: dst (%lld elements) is not rows of %lld", (long long)dst->numel, (long long)C);
    const int32_t *ix = cui(idx, "scatter_rows", "idx");
    uint8_t *last = last_writers(be, ix, n, dst->numel / C);
    if (!last) return;
    k_scatter_rows<<<cu_blocks(n * C, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(dst, "scatter_rows", "dst"), cuf(src, "scatter_rows", "src"), ix, last, n, C);
    LAUNCHED(be, "k_scatter_rows");
}

// dsrc[i] += ddst[idx[i]]; then ddst[idx[i]] = 0 (two launches: all reads before any zeroing)
extern "C" void cuda_scatter_rows_backward(Backend *be, Tensor *dsrc, Tensor *ddst, const Tensor *idx) {
    int64_t n = idx->numel;
    if (n == 0) return;
    int64_t C = row_width("scatter_rows_backward", dsrc, n, "dsrc");
    if (C == 0) return;
    if (ddst->numel % C) VLMC_PANIC("scatter_rows_backward: ddst (%lld elements) is not rows of %lld", (long long)ddst->numel, (long long)C);
    const int32_t *ix = cui(idx, "scatter_rows_backward", "idx");
    uint8_t *last = last_writers(be, ix, n, ddst->numel / C);
    if (!last) return;
    CuF dd = cuf(ddst, "scatter_rows_backward", "ddst");
    k_scatter_rows_bwd_read<<<cu_blocks(n * C, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(dsrc, "scatter_rows_backward", "dsrc"), dd, ix, last, n, C);
    LAUNCHED(be, "k_scatter_rows_bwd_read");
    k_scatter_rows_bwd_zero<<<cu_blocks(n * C, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(dd, ix, last, n, C);
    LAUNCHED(be, "k_scatter_rows_bwd_zero");
}

/* ---- pixel shuffle (Idefics3 space-to-depth) ------------------------------------------- */

/* out[b, h2*(s/r)+w2, (hr*r + wr)*D + d] = inp[b, (h2*r+hr)*s + w2*r+wr, d]
 * (the view/permute/reshape sequence of transformers' Idefics3Connector) */
__global__ void k_pixel_shuffle(CuF out, CuF inp, int64_t B, int64_t s, int64_t D, int r, int back) {
    int64_t sr = s / r, F = D * r * r, n = B * sr * sr * F;
    GRID_STRIDE(e, n) {
        int64_t f = e % F, q = (e / F) % (sr * sr), b = e / (F * sr * sr);
        int64_t h2 = q / sr, w2 = q % sr;
        int64_t hr = f / (r * D), wr = (f / D) % r, d = f % D;
        int64_t j = (b * s * s + (h2 * r + hr) * s + (w2 * r + wr)) * D + d;
        if (back)
            accf(inp, j, ldf(out, e));
        else
            stf(out, e, ldf(inp, j));
    }
}

static void shuffle_geom(const char *op, const Tensor *in, const Tensor *out, int r, int64_t *B, int64_t *s, int64_t *D) {
    if (in->ndim != 3) VLMC_PANIC("%s: input must be (B, s*s, D), got %d-d", op, in->ndim);
    int64_t seq = in->shape[1], ss = 0;
    while ((ss + 1) * (ss + 1) <= seq) ss++;
    if (ss * ss != seq || r <= 0 || ss % r) VLMC_PANIC("%s: sequence %lld is not a square with side divisible by %d", op, (long long)seq, r);
    *B = in->shape[0];
    *s = ss;
    *D = in->shape[2];
    int64_t want[3] = {*B, (ss / r) * (ss / r), *D * r * r};
    be_check_dims(op, out, 3, want, "output");
}

// inp (B, s*s, D) -> out (B, (s/r)^2, D*r*r)
extern "C" void cuda_pixel_shuffle(Backend *be, Tensor *out, const Tensor *inp, int r) {
    int64_t B, s, D;
    shuffle_geom("pixel_shuffle", inp, out, r, &B, &s, &D);
    if (out->numel == 0) return;
    k_pixel_shuffle<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(out, "pixel_shuffle", "out"), cuf(inp, "pixel_shuffle", "inp"), B, s, D, r, 0);
    LAUNCHED(be, "k_pixel_shuffle");
}

extern "C" void cuda_pixel_shuffle_backward(Backend *be, Tensor *dinp, const Tensor *dout, int r) {
    int64_t B, s, D;
    shuffle_geom("pixel_shuffle_backward", dinp, dout, r, &B, &s, &D);
    if (dout->numel == 0) return;
    k_pixel_shuffle<<<cu_blocks(dout->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(dout, "pixel_shuffle_backward", "dout"), cuf(dinp, "pixel_shuffle_backward", "dinp"), B, s, D, r, 1);
    LAUNCHED(be, "k_pixel_shuffle_backward");
}

/* ---- patch unfold ------------------------------------------------------------------------ */

/* out[(b*nh + py)*nw + px, (c*p + ky)*p + kx] = pixels[b, c, py*p + ky, px*p + kx] */
__global__ void k_patch_unfold(CuF out, CuF pix, int64_t B, int64_t Cc, int64_t H, int64_t W, int p) {
    int64_t nh = H / p, nw = W / p, F = Cc * p * p, n = B * nh * nw * F;
    GRID_STRIDE(e, n) {
        int64_t f = e % F, patch = e / F;
        int64_t px = patch % nw, py = (patch / nw) % nh, b = patch / (nw * nh);
        int64_t kx = f % p, ky = (f / p) % p, c = f / (p * p);
        stf(out, e, ldf(pix, ((b * Cc + c) * H + py * p + ky) * W + px * p + kx));
    }
}

// pixels (B, 3, H, W) -> out (B*(H/p)*(W/p), 3*p*p)
extern "C" void cuda_patch_unfold(Backend *be, Tensor *out, const Tensor *pixels, int p) {
    if (pixels->ndim != 4) VLMC_PANIC("patch_unfold: pixels must be (B, C, H, W), got %d-d", pixels->ndim);
    int64_t B = pixels->shape[0], Cc = pixels->shape[1], H = pixels->shape[2], W = pixels->shape[3];
    if (p <= 0 || H % p || W % p) VLMC_PANIC("patch_unfold: %lldx%lld image is not a whole number of %d-pixel patches", (long long)H, (long long)W, p);
    int64_t want[2] = {B * (H / p) * (W / p), Cc * p * p};
    be_check_dims("patch_unfold", out, 2, want, "out");
    if (out->numel == 0) return;
    k_patch_unfold<<<cu_blocks(out->numel, CU_THREADS), CU_THREADS, 0, STREAM(be)>>>(
        cuf(out, "patch_unfold", "out"), cuf(pixels, "patch_unfold", "pixels"), B, Cc, H, W, p);
    LAUNCHED(be, "k_patch_unfold");
}
