/* kernels/ops.h — the op table: the only way model/ and train/ compute.
 *
 * A Backend (cpu, cuda) owns memory and implements every op listed in
 * VLMC_OPS below. Tensors are opaque handles: `struct Tensor` is defined only
 * inside a backend, so code above kernels/ cannot touch device memory (the
 * compiler refuses to dereference the handle). Data enters and leaves through
 * be_upload / be_download, always as host float32 or int32 arrays.
 *
 * Conventions, shared by every backend:
 * - Layout is row-major and contiguous; shapes are given in comments as
 *   `x: (N, C)`. Ops never broadcast unless their comment says so.
 * - Float tensors hold the backend's compute type (cpu: f32; cuda: bf16
 *   activations, f32 master weights / grads / optimizer state). Index tensors
 *   (ids, positions, targets, segments) are DT_I32.
 * - Forward ops OVERWRITE their outputs. Backward ops ACCUMULATE (+=) into
 *   every gradient they produce, inputs and weights alike: the caller zeroes
 *   gradient buffers once per step, and gradients from two branches (residual
 *   stream, tied embeddings) meet by addition without extra copies.
 * - A NULL optional argument means "absent" (no bias, no mask, no weight).
 * - Shape mismatches are programming errors: the op panics naming itself and
 *   the shapes. Runtime failures (a CUDA launch) are recorded in the backend
 *   and returned by be_sync().
 * - Reductions that must be deterministic (loss, norms, embedding backward,
 *   segment sums) add partial sums in a fixed order for a fixed thread count.
 *
 * Adding an op: add one X(...) line to VLMC_OPS, implement it in every
 * backend; tests/kernels/test_op_coverage fails until each backend has it.
 */
#ifndef VLMC_KERNELS_OPS_H
#define VLMC_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct Backend Backend;
typedef struct Tensor Tensor;

typedef enum DType { DT_F32 = 0, DT_BF16, DT_F16, DT_I32, DT_I64, DT_U8, DT__COUNT } DType;

/* Buffer classes: each is one allocation per device, carved by a bump arena. */
typedef enum BufClass {
    BUF_PARAMS = 0,  /* weights (cuda: bf16 copy used by the forward) */
    BUF_MASTER,      /* cuda: fp32 master weights; cpu: unused (params are f32) */
    BUF_GRADS,       /* weight gradients of trainable parameters only */
    BUF_OPTIM,       /* AdamW moments, trainable parameters only */
    BUF_ACTS,        /* activations saved for backward, reset each step */
    BUF_SCRATCH,     /* temporaries inside a layer, reset freely */
    BUF__COUNT
} BufClass;

#define VLMC_MAX_DIMS 6

typedef struct BackendOptions {
    const char *name;      /* "cpu" or "cuda" */
    int device;            /* cuda: device index (local rank); cpu: ignored */
    int threads;           /* cpu: OpenMP threads (0 = runtime default) */
    int fp32_matmul;       /* cuda: fp32 compute, TF32 off (parity tests) */
    int reserve_only;      /* cpu: every class but BUF_SCRATCH needs be_reserve, as on cuda
                              (tests of the reservation sizing without a GPU) */
} BackendOptions;

/* ---- backend lifetime and memory ---------------------------------------- */

/* Creates a backend; fails (not aborts) when the name is unknown, the backend
 * was not compiled in, or no device is present. */
Backend *be_create(const BackendOptions *opt, VStatus *st);
void be_destroy(Backend *be);
const char *be_name(const Backend *be);
/* Names of compiled-in backends, NULL-terminated ("cpu", "cuda"). */
const char *const *be_compiled(void);
/* Waits for queued work; returns the first runtime error since the last call. */
int be_sync(Backend *be, VStatus *st);

/* Reserves the capacity of a buffer class (one allocation). Must precede
 * be_alloc on that class; may be called again only when the class is empty.
 * The CPU backend accepts allocation without a reservation (it reserves
 * address space lazily); CUDA does not. */
int be_reserve(Backend *be, BufClass c, size_t bytes, VStatus *st);
/* 1 when be_alloc on class c fails without a prior be_reserve (cuda; cpu
 * with reserve_only); 0 when the class grows lazily. */
int be_must_reserve(const Backend *be, BufClass c);
/* Bytes currently carved from a class, its high-water mark, and its
 * reserved capacity (0 before a reservation or the first lazy allocation). */
size_t be_used(const Backend *be, BufClass c);
size_t be_peak(const Backend *be, BufClass c);
size_t be_capacity(const Backend *be, BufClass c);
/* Bytes a tensor of this shape takes in class c (with alignment). */
size_t be_bytes_for(const Backend *be, BufClass c, DType dt, int ndim, const int64_t *shape);
/* Carves a tensor; dt DT_F32 means "the float type of this class on this
 * backend". Returns NULL and sets st when the class is full. */
Tensor *be_alloc(Backend *be, BufClass c, DType dt, int ndim, const int64_t *shape, VStatus *st);
/* Like be_alloc, but stored as f32 in any class: statistics saved for
 * backward (norm mean / rstd, attention lse) and per-token log-probs, which
 * bf16 activation storage (cuda) would round to ~3 significant digits. */
Tensor *be_alloc_f32(Backend *be, BufClass c, int ndim, const int64_t *shape, VStatus *st);
/* Arena marks (opaque): be_reset(be, c, m) frees every tensor and view made in
 * class c after m = be_mark(be, c). */
size_t be_mark(const Backend *be, BufClass c);
void be_reset(Backend *be, BufClass c, size_t mark);

/* A view: a contiguous sub-range of t starting at element `offset`, with a
 * new shape whose product fits. The handle lives until t's class is reset. */
Tensor *t_view(Backend *be, Tensor *t, int64_t offset, int ndim, const int64_t *shape);
int t_ndim(const Tensor *t);
int64_t t_dim(const Tensor *t, int i);   /* i < 0 counts from the end */
int64_t t_numel(const Tensor *t);
DType t_dtype(const Tensor *t);

/* Host <-> device. Float tensors take/give host f32; index tensors host i32. */
void be_upload(Backend *be, Tensor *dst, const void *host);
void be_download(Backend *be, const Tensor *src, void *host);

/* ---- op descriptors ------------------------------------------------------ */

typedef enum ActKind { ACT_GELU_TANH = 0, ACT_GELU_ERF, ACT_QUICK_GELU, ACT_SILU, ACT_RELU, ACT__COUNT } ActKind;

/* C = alpha * op(A) @ op(B) + beta * C (+ bias broadcast over rows of C).
 * op(A): (m, k), op(B): (k, n), C: (m, n), each batch item contiguous.
 * A is stored (m, k) or, with trans_a, (k, m); B is (k, n) or, with trans_b,
 * (n, k) — so a Linear layer with PyTorch weight (OC, C) is trans_b = 1.
 * batch > 1: item i of A starts at i*stride_a (0 = broadcast the same A),
 * likewise B and C; strides in elements. */
typedef struct MatmulDesc {
    int trans_a, trans_b;
    int64_t m, n, k;
    int64_t batch;                         /* >= 1 */
    int64_t stride_a, stride_b, stride_c;  /* used when batch > 1 */
    float alpha, beta;
} MatmulDesc;

/* RoPE as in transformers' Llama (rotate_half: pairs (i, i + rot/2)). */
typedef enum RopeScaling { ROPE_NONE = 0, ROPE_LLAMA3 } RopeScaling;
typedef struct RopeDesc {
    float theta;          /* base, e.g. 10000 or 500000 */
    int rot_dim;          /* rotated leading dims of each head (= head_dim for Llama) */
    RopeScaling scaling;
    float factor, low_freq_factor, high_freq_factor;  /* llama3 */
    int original_max_pos;                             /* llama3 */
} RopeDesc;

/* Attention mask model (one formula covers self, packed and cross):
 *   query i may attend key j  iff  q_seg[i] >= 0 && q_seg[i] == k_seg[j]
 *                                  && (!causal || j <= i)
 * NULL q_seg / k_seg means segment 0 for every position. Packed documents:
 * q_seg = k_seg = doc ids. Key padding: k_seg = -1 on padded keys. Cross-
 * attention to "the preceding image": q_seg = index of that image (-1: none),
 * k_seg = image index of each key. A query with no allowed key outputs 0. */
typedef struct AttnDesc {
    int64_t B, Tq, Tk;    /* batch, query length, key length */
    int64_t Hq, Hkv, D;   /* query heads, key/value heads (Hq % Hkv == 0), head dim */
    int causal;           /* requires Tq == Tk */
    float scale;          /* usually 1/sqrt(D) */
} AttnDesc;

typedef struct AdamWDesc {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step;         /* 1-based, for bias correction */
    float grad_scale;     /* gradients are multiplied by this first (clipping) */
} AdamWDesc;

/* ---- the op table --------------------------------------------------------
 * X(name, (parameters), (argument names)). Every op returns void. */
#define VLMC_OPS(X)                                                                          \
    /* C = alpha op(A) op(B) + beta C (+ bias (n)); see MatmulDesc */                       \
    X(matmul, (Backend *be, const MatmulDesc *d, Tensor *c, const Tensor *a,                 \
               const Tensor *b, const Tensor *bias), (be, d, c, a, b, bias))                 \
    /* out: (N, K) = inp + bias (K) broadcast over rows; out may be inp */                  \
    X(bias_add, (Backend *be, Tensor *out, const Tensor *inp, const Tensor *bias),           \
      (be, out, inp, bias))                                                                  \
    /* dbias (K) += column sums of dout (N, K), rows summed in order */                     \
    X(bias_backward, (Backend *be, Tensor *dbias, const Tensor *dout), (be, dbias, dout))   \
    /* fill every element with value */                                                     \
    X(fill, (Backend *be, Tensor *t, float value), (be, t, value))                           \
    /* dst = src (same numel) */                                                            \
    X(copy, (Backend *be, Tensor *dst, const Tensor *src), (be, dst, src))                   \
    /* out = alpha*a + beta*b (same numel; out may alias a or b) */                        \
    X(add, (Backend *be, Tensor *out, const Tensor *a, const Tensor *b, float alpha,         \
            float beta), (be, out, a, b, alpha, beta))                                       \
    /* t *= s */                                                                            \
    X(scale, (Backend *be, Tensor *t, float s), (be, t, s))                                  \
    /* out = inp with axes permuted; inp (ndim <= 6) dims d[], out dims d[perm[i]] */        \
    X(permute, (Backend *be, Tensor *out, const Tensor *inp, const int *perm),               \
      (be, out, inp, perm))                                                                  \
    /* dinp += inverse permutation of dout */                                               \
    X(permute_backward, (Backend *be, Tensor *dinp, const Tensor *dout, const int *perm),    \
      (be, dinp, dout, perm))                                                                \
    /* out = cat(parts, axis); all parts agree on the other dims */                         \
    X(concat, (Backend *be, Tensor *out, const Tensor *const *parts, int n, int axis),       \
      (be, out, parts, n, axis))                                                             \
    /* dparts[i] += its slice of dout (the backward of concat: split) */                    \
    X(concat_backward, (Backend *be, Tensor *const *dparts, int n, const Tensor *dout,       \
                        int axis), (be, dparts, n, dout, axis))                              \
    /* out (n, C) = src[idx[i]] for src (R, C), idx (n) i32 in [0, R) */                    \
    X(gather_rows, (Backend *be, Tensor *out, const Tensor *src, const Tensor *idx),         \
      (be, out, src, idx))                                                                   \
    /* dsrc[idx[i]] += dout[i]; deterministic (rows with repeated idx add in i order);     \
       row_mask (R) f32 or NULL: contributions to row r are multiplied by row_mask[r]    \
       (embedding backward with a per-row gradient mask) */                                 \
    X(gather_rows_backward, (Backend *be, Tensor *dsrc, const Tensor *dout,                  \
                             const Tensor *idx, const Tensor *row_mask),                     \
      (be, dsrc, dout, idx, row_mask))                                                       \
    /* dst[idx[i]] = src[i] for dst (R, C), src (n, C): splices image embeddings */         \
    X(scatter_rows, (Backend *be, Tensor *dst, const Tensor *src, const Tensor *idx),        \
      (be, dst, src, idx))                                                                   \
    /* dsrc[i] += ddst[idx[i]], then ddst[idx[i]] = 0 (those rows were overwritten, so     \
       nothing upstream of dst receives their gradient) */                                  \
    X(scatter_rows_backward, (Backend *be, Tensor *dsrc, Tensor *ddst, const Tensor *idx),   \
      (be, dsrc, ddst, idx))                                                                 \
    /* t[r, :] *= row_mask[r] for t (R, C), row_mask (R) f32 */                             \
    X(mask_rows, (Backend *be, Tensor *t, const Tensor *row_mask), (be, t, row_mask))        \
    /* Idefics3 space-to-depth: inp (B, s*s, D) -> out (B, (s/r)^2, D*r*r) */               \
    X(pixel_shuffle, (Backend *be, Tensor *out, const Tensor *inp, int r), (be, out, inp, r))\
    X(pixel_shuffle_backward, (Backend *be, Tensor *dinp, const Tensor *dout, int r),        \
      (be, dinp, dout, r))                                                                   \
    /* pixels (B, 3, H, W) -> out (B*(H/p)*(W/p), 3*p*p), patches in row-major order,     \
       features ordered (channel, ky, kx) to match a Conv2d weight (OC, 3, p, p) */        \
    X(patch_unfold, (Backend *be, Tensor *out, const Tensor *pixels, int p),                 \
      (be, out, pixels, p))                                                                  \
    /* y = act(x), elementwise */                                                           \
    X(act, (Backend *be, Tensor *out, const Tensor *inp, ActKind kind), (be, out, inp, kind))\
    /* dinp += dout * act'(inp) */                                                          \
    X(act_backward, (Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *inp,       \
                     ActKind kind), (be, dinp, dout, inp, kind))                             \
    /* out (N, F) = silu(gate) * up */                                                      \
    X(swiglu, (Backend *be, Tensor *out, const Tensor *gate, const Tensor *up),              \
      (be, out, gate, up))                                                                   \
    X(swiglu_backward, (Backend *be, Tensor *dgate, Tensor *dup, const Tensor *dout,         \
                        const Tensor *gate, const Tensor *up), (be, dgate, dup, dout, gate, up)) \
    /* out (N, C) = resid + tanh(gate) * x, gate (1) or (C): gated cross-attention */      \
    X(tanh_gate, (Backend *be, Tensor *out, const Tensor *x, const Tensor *gate,             \
                  const Tensor *resid), (be, out, x, gate, resid))                           \
    /* dx += tanh(g) dout; dgate += sum over rows (dout * x) (1 - tanh^2 g); dresid += dout \
       (dresid may be NULL) */                                                              \
    X(tanh_gate_backward, (Backend *be, Tensor *dx, Tensor *dgate, Tensor *dresid,           \
                           const Tensor *dout, const Tensor *x, const Tensor *gate),         \
      (be, dx, dgate, dresid, dout, x, gate))                                                \
    /* Residual-fused LayerNorm over the last dim C of (N, C):                             \
       if resid != NULL: sum = inp + resid is written to sum_out, else sum = inp            \
       (sum_out may be NULL then); out = (sum - mean) * rstd * w + b (b may be NULL);      \
       mean, rstd: (N) f32, saved for backward */                                           \
    X(layernorm, (Backend *be, Tensor *out, Tensor *sum_out, Tensor *mean, Tensor *rstd,     \
                  const Tensor *inp, const Tensor *resid, const Tensor *w, const Tensor *b,  \
                  float eps), (be, out, sum_out, mean, rstd, inp, resid, w, b, eps))         \
    /* dinp += d/dsum (sum = the normalised input); dw, db += (db may be NULL; dw NULL     \
       when the weights are frozen) */                                                      \
    X(layernorm_backward, (Backend *be, Tensor *dinp, Tensor *dw, Tensor *db,                \
                           const Tensor *dout, const Tensor *inp, const Tensor *w,           \
                           const Tensor *mean, const Tensor *rstd),                          \
      (be, dinp, dw, db, dout, inp, w, mean, rstd))                                          \
    /* RMSNorm (Llama): out = sum * rsqrt(mean(sum^2) + eps) * w, fused residual as above */\
    X(rmsnorm, (Backend *be, Tensor *out, Tensor *sum_out, Tensor *rstd, const Tensor *inp,  \
                const Tensor *resid, const Tensor *w, float eps),                            \
      (be, out, sum_out, rstd, inp, resid, w, eps))                                          \
    X(rmsnorm_backward, (Backend *be, Tensor *dinp, Tensor *dw, const Tensor *dout,          \
                         const Tensor *inp, const Tensor *w, const Tensor *rstd),            \
      (be, dinp, dw, dout, inp, w, rstd))                                                    \
    /* out (N, H, D) = rope(inp (N, H, D)); pos (N) i32 position ids; out may be inp */  \
    X(rope, (Backend *be, Tensor *out, const Tensor *inp, const Tensor *pos,                 \
             const RopeDesc *d), (be, out, inp, pos, d))                                     \
    /* dinp += rope^-1(dout) (rotation by the negative angle) */                            \
    X(rope_backward, (Backend *be, Tensor *dinp, const Tensor *dout, const Tensor *pos,      \
                      const RopeDesc *d), (be, dinp, dout, pos, d))                          \
    /* q (B, Tq, Hq, D), k, v (B, Tk, Hkv, D) -> out (B, Tq, Hq, D),                      \
       lse (B, Hq, Tq) f32 log-sum-exp of the scaled masked scores (saved for backward,    \
       -inf for a query with no allowed key); masks: see AttnDesc */                       \
    X(attention, (Backend *be, const AttnDesc *d, Tensor *out, Tensor *lse, const Tensor *q, \
                  const Tensor *k, const Tensor *v, const Tensor *q_seg, const Tensor *k_seg),\
      (be, d, out, lse, q, k, v, q_seg, k_seg))                                              \
    /* dq, dk, dv += ; out and lse as the forward produced them */                          \
    X(attention_backward, (Backend *be, const AttnDesc *d, Tensor *dq, Tensor *dk,           \
                           Tensor *dv, const Tensor *dout, const Tensor *out,                \
                           const Tensor *lse, const Tensor *q, const Tensor *k,              \
                           const Tensor *v, const Tensor *q_seg, const Tensor *k_seg),       \
      (be, d, dq, dk, dv, dout, out, lse, q, k, v, q_seg, k_seg))                            \
    /* Classifier + softmax cross-entropy, chunked over rows so the full (N, V) logits    \
       are never held: x (N, C), w (V, C) the lm-head, targets (N) i32 (-1 = ignore).     \
       logp (N) f32 or NULL: log p(target) (0 where ignored).                              \
       If dx or dw != NULL, also the backward of L = -sum_i weight[i] * logp[i]:           \
       dx (N, C) +=, dw (V, C) += (either may be NULL); weight (N) f32, required then.   \
       Each chunk computes its logits once, turns them into dlogits in place and        \
       multiplies back, so forward and backward cost one pass. */                          \
    X(xent, (Backend *be, Tensor *logp, Tensor *dx, Tensor *dw, const Tensor *x,             \
             const Tensor *w, const Tensor *targets, const Tensor *weight, int64_t chunk),   \
      (be, logp, dx, dw, x, w, targets, weight, chunk))                                      \
    /* out (S) = per-segment sums of vals (N) f32; seg (N) i32 in [0, S) or -1 (skipped);  \
       seg NULL: out (1) = total. Fixed summation order. */                                 \
    X(segment_sum, (Backend *be, Tensor *out, const Tensor *vals, const Tensor *seg),        \
      (be, out, vals, seg))                                                                  \
    /* dvals[i] += dout[seg[i]] */                                                          \
    X(segment_sum_backward, (Backend *be, Tensor *dvals, const Tensor *dout,                 \
                             const Tensor *seg), (be, dvals, dout, seg))                     \
    /* out (1) f32 = number of targets != -1 in targets (N) i32 */                          \
    X(count_targets, (Backend *be, Tensor *out, const Tensor *targets), (be, out, targets))  \
    /* out (1) f32 = sum of squares over all n tensors, in a fixed order */                \
    X(sumsq, (Backend *be, Tensor *out, const Tensor *const *ts, int n), (be, out, ts, n))   \
    /* AdamW (decoupled weight decay) on one parameter tensor:                            \
       g = grad * grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;                 \
       p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p).  master: f32 weights updated;      \
       param: the compute copy written from master (cuda bf16; cpu: same tensor or NULL); \
       row_mask (R) f32 or NULL: rows with mask 0 are left untouched (no update, no decay)*/\
    X(adamw, (Backend *be, const AdamWDesc *d, Tensor *master, Tensor *param,                \
              const Tensor *grad, Tensor *m, Tensor *v, const Tensor *row_mask),             \
      (be, d, master, param, grad, m, v, row_mask))

/* The table each backend fills. */
typedef struct OpTable {
#define VLMC_OP_FIELD(name, params, args) void(*name) params;
    VLMC_OPS(VLMC_OP_FIELD)
#undef VLMC_OP_FIELD
} OpTable;

/* Public entry points: op_matmul(be, ...), op_rmsnorm(be, ...), ... */
#define VLMC_OP_DECL(name, params, args) void op_##name params;
VLMC_OPS(VLMC_OP_DECL)
#undef VLMC_OP_DECL

/* For the op-coverage test: names of all ops, and a backend's table. */
extern const char *const op_names[];
extern const size_t op_count;
const OpTable *be_ops(const Backend *be);
/* Entry i of a table (NULL when the backend lacks that op). */
void (*op_table_entry(const OpTable *t, size_t i))(void);
/* Tables of compiled-in backends, for coverage checks without a device. */
const OpTable *be_table_for(const char *backend_name);

/* Prints the backends compiled in, devices present, BLAS library and core. */
#include <stdio.h>
void be_print_build_info(FILE *f);

/* Sizes and names */
size_t dt_size(DType dt);
const char *dt_name(DType dt);

#endif
