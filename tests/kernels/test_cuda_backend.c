/* The CUDA backend's behaviour that CI can check without a GPU, and its
 * plumbing where one is present:
 * - without a device (or without CUDA compiled in) be_create("cuda") fails
 *   with a clear message instead of aborting, and --version's build line says
 *   so;
 * - with a device: classes must be reserved (no lazy allocation), bf16
 *   storage rounds host f32 to nearest even, f32 classes round-trip exactly,
 *   fill + download see each other in order. */
#include "kernels/ops.h"
#include "test.h"

static int cuda_compiled(void) {
    for (const char *const *b = be_compiled(); *b; b++)
        if (strcmp(*b, "cuda") == 0) return 1;
    return 0;
}

static void test_build_info(void) {
    char buf[4096] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(f != NULL, "fmemopen");
    if (!f) return;
    be_print_build_info(f);
    fclose(f);
    if (cuda_compiled()) {
        CHECK(strstr(buf, "cuda: compiled in") != NULL, "build info lacks the cuda line: %s", buf);
        CHECK(strstr(buf, "devices:") != NULL, "build info does not report devices: %s", buf);
    } else {
        CHECK(strstr(buf, "cuda") == NULL, "cuda reported without being compiled in: %s", buf);
    }
}

static void test_create_or_clear_error(void) {
    VStatus st = {0};
    BackendOptions o = {.name = "cuda", .device = 0};
    Backend *be = be_create(&o, &st);
    if (!cuda_compiled()) {
        CHECK(be == NULL && strstr(st.msg, "not compiled in") != NULL, "msg: %s", st.msg);
        return;
    }
    if (!be) {
        /* no GPU here (CI): a clear error, never an abort */
        CHECK(st.code == VS_EDEVICE || st.code == VS_EUNSUP, "code %d", st.code);
        CHECK(strstr(st.msg, "no CUDA device present") != NULL || strstr(st.msg, "sm_") != NULL, "msg: %s", st.msg);
        CHECK(be_table_for("cuda") != NULL, "the op table must exist without a device");
        return;
    }
    /* a device is present */
    Tensor *t = be_alloc(be, BUF_ACTS, DT_F32, 1, (int64_t[]){4}, &st);
    CHECK(t == NULL && st.code == VS_ENOMEM, "allocation without be_reserve must fail (code %d)", st.code);
    CHECK(be_reserve(be, BUF_ACTS, 1 << 20, &st) == 0, "%s", st.msg);
    CHECK(be_reserve(be, BUF_GRADS, 1 << 20, &st) == 0, "%s", st.msg);
    Tensor *a = be_alloc(be, BUF_ACTS, DT_F32, 1, (int64_t[]){5}, &st);
    Tensor *g = be_alloc(be, BUF_GRADS, DT_F32, 1, (int64_t[]){5}, &st);
    CHECK(a && g, "%s", st.msg);
    if (!a || !g) { be_destroy(be); return; }
    CHECK(t_dtype(a) == DT_BF16 && t_dtype(g) == DT_F32, "storage types %s %s", dt_name(t_dtype(a)), dt_name(t_dtype(g)));
    CHECK(be_must_reserve(be, BUF_ACTS) && be_must_reserve(be, BUF_SCRATCH), "cuda classes must be reserved");
    Tensor *sx = be_alloc_f32(be, BUF_ACTS, 1, (int64_t[]){5}, &st);
    CHECK(sx && t_dtype(sx) == DT_F32, "be_alloc_f32 in the acts class: %s", sx ? dt_name(t_dtype(sx)) : st.msg);
    /* 1 + 2^-8 is a tie between bf16 neighbours 1 and 1 + 2^-7: nearest even gives 1 */
    float in[5] = {1.0f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256, -2.5f, 1e-3f}, out[5];
    be_upload(be, a, in);
    be_download(be, a, out);
    CHECK(out[0] == 1.0f && out[1] == 1.0f && out[2] == 1.0f + 4.0f / 256 && out[3] == -2.5f, "bf16 rounding: %g %g %g %g",
          out[0], out[1], out[2], out[3]);
    CHECK(fabsf(out[4] - 1e-3f) < 1e-3f * 0.004f, "bf16 of 1e-3: %g", out[4]);
    be_upload(be, g, in);
    be_download(be, g, out);
    CHECK(memcmp(in, out, sizeof in) == 0, "f32 class must round-trip exactly");
    if (sx) {
        be_upload(be, sx, in);
        be_download(be, sx, out);
        CHECK(memcmp(in, out, sizeof in) == 0, "be_alloc_f32 must round-trip exactly in the acts class");
    }
    op_fill(be, g, 0.25f);
    be_download(be, g, out);
    CHECK(out[0] == 0.25f && out[4] == 0.25f, "fill then download: %g %g", out[0], out[4]);
    CHECK(be_sync(be, &st) == 0, "%s", st.msg);
    be_destroy(be);
}

/* The cpu backend with reserve_only behaves as cuda does for sizing: every
 * class but scratch fails without a reservation and fits exactly one; f32
 * statistics take 4 bytes an element in any class. */
static void test_cpu_reserve_only(void) {
    VStatus st = {0};
    BackendOptions o = {.name = "cpu", .threads = 1, .reserve_only = 1};
    Backend *be = be_create(&o, &st);
    CHECK(be != NULL, "%s", st.msg);
    if (!be) return;
    CHECK(be_must_reserve(be, BUF_ACTS) && be_must_reserve(be, BUF_PARAMS) && !be_must_reserve(be, BUF_SCRATCH),
          "must reserve: acts %d params %d scratch %d", be_must_reserve(be, BUF_ACTS), be_must_reserve(be, BUF_PARAMS),
          be_must_reserve(be, BUF_SCRATCH));
    CHECK(be_alloc(be, BUF_ACTS, DT_F32, 1, (int64_t[]){4}, &st) == NULL && st.code == VS_ENOMEM,
          "acts without a reservation: code %d", st.code);
    vs_clear(&st);
    CHECK(be_alloc(be, BUF_SCRATCH, DT_F32, 1, (int64_t[]){4}, &st) != NULL, "scratch grows lazily: %s", st.msg);
    size_t one = be_bytes_for(be, BUF_ACTS, DT_F32, 1, (int64_t[]){64});
    CHECK(be_reserve(be, BUF_ACTS, 2 * one, &st) == 0 && be_capacity(be, BUF_ACTS) >= 2 * one, "%s", st.msg);
    Tensor *a = be_alloc(be, BUF_ACTS, DT_F32, 1, (int64_t[]){64}, &st);
    Tensor *b = be_alloc_f32(be, BUF_ACTS, 1, (int64_t[]){64}, &st);
    CHECK(a && b && t_dtype(b) == DT_F32 && be_used(be, BUF_ACTS) == 2 * one, "two tensors in the reservation: %s",
          st.msg);
    CHECK(be_alloc(be, BUF_ACTS, DT_F32, 1, (int64_t[]){be_capacity(be, BUF_ACTS) / 4}, &st) == NULL, "over capacity");
    vs_clear(&st);
    be_destroy(be);
    /* the default cpu backend grows every class lazily */
    o.reserve_only = 0;
    be = be_create(&o, &st);
    CHECK(be && !be_must_reserve(be, BUF_ACTS) && !be_must_reserve(be, BUF_PARAMS), "lazy cpu");
    be_destroy(be);
}

TEST_MAIN({"build_info", test_build_info}, {"create_or_clear_error", test_create_or_clear_error},
          {"cpu_reserve_only", test_cpu_reserve_only})
