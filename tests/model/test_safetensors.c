/* tests/model/test_safetensors.c — the safetensors reader and writer.
 *
 * References nobody here wrote: files made by the Python `safetensors` library
 * and torch's own bf16/f16 rounding (tests/golden/make_safetensors.py). All
 * comparisons are exact (bitwise): the format stores bytes, and the dtype
 * conversions are specified as round-to-nearest-even, which torch implements. */
#include <math.h>
#include <sys/stat.h>

#include "model/safetensors.h"
#include "st_hostile.h"
#include "test.h"

static const char *golden(const char *name, char *buf, size_t n) {
    const char *src = getenv("VLMC_SOURCE_DIR");
    snprintf(buf, n, "%s/tests/golden/safetensors/%s", src && *src ? src : ".", name);
    return buf;
}

/* designated initializers: the fill fields stay zero */
#define WT(n, dt, nd, sh, d) {.name = (n), .dtype = (dt), .ndim = (nd), .shape = (sh), .data = (d)}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static const StTensor *must_find(const StFile *f, const char *name, DType dt, int ndim) {
    const StTensor *t = st_find(f, name);
    CHECK(t != NULL, "tensor %s missing", name);
    if (t) CHECK(t->dtype == dt && t->ndim == ndim, "%s: dtype %d ndim %d", name, (int)t->dtype, t->ndim);
    return t;
}

static void test_golden_read(void) {
    char p[4096];
    VStatus st = {0};
    StFile *f = st_open(golden("dtypes.safetensors", p, sizeof p), &st);
    CHECK(f != NULL, "%s", st.msg);
    if (!f) return;
    CHECK(st_count(f) == 11, "%s", "st_count(f) == 11");
    CHECK(st_header_bytes(f) % 8 == 0, "python pads the header to 8");
    CHECK(st_meta_count(f) == 3, "%s", "st_meta_count(f) == 3");
    CHECK(st_meta_get(f, "format") && strcmp(st_meta_get(f, "format"), "pt") == 0, "%s", "st_meta_get(f, \"format\") && strcmp(st_meta_get(f, \"format");
    CHECK(st_meta_get(f, "note") && strcmp(st_meta_get(f, "note"), "\xc3\xbc" "n\xc3\xaf" "code ok") == 0, "utf-8 kept");
    CHECK(st_meta_get(f, "absent") == NULL, "%s", "st_meta_get(f, \"absent\") == NULL");
    CHECK(st_find(f, "nope") == NULL, "%s", "st_find(f, \"nope\") == NULL");
    for (size_t i = 1; i < st_count(f); i++)
        CHECK(st_tensor(f, i - 1)->offset + st_tensor(f, i - 1)->nbytes == st_tensor(f, i)->offset, "offset order");

    const StTensor *t = must_find(f, "f32", DT_F32, 2);
    if (t) {
        float v[6];
        CHECK(t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24, "%s", "t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24");
        CHECK(st_tensor_to_f32(t, v, &st) == 0, "%s", "st_tensor_to_f32(t, v, &st) == 0");
        for (int i = 0; i < 6; i++) CHECK(v[i] == (float)i * 0.5f - 1.0f, "f32[%d] = %g", i, v[i]);
        int32_t iv[6];
        CHECK(st_tensor_to_i32(t, iv, &st) != 0 && strstr(st.msg, "expected an integer dtype"), "%s", st.msg);
    }
    if ((t = must_find(f, "i32", DT_I32, 1))) {
        int32_t v[5], want[5] = {-7, 0, 1, INT32_MAX, INT32_MIN};
        CHECK(st_tensor_to_i32(t, v, &st) == 0, "%s", "st_tensor_to_i32(t, v, &st) == 0");
        CHECK(memcmp(v, want, sizeof v) == 0, "%s", "memcmp(v, want, sizeof v) == 0");
        float fv[5];
        CHECK(st_tensor_to_f32(t, fv, &st) != 0 && strstr(st.msg, "expected a float dtype"), "%s", st.msg);
    }
    if ((t = must_find(f, "i64", DT_I64, 2))) {
        int64_t v[4], want[4] = {-1, (int64_t)1 << 40, 3, -((int64_t)1 << 40)};
        memcpy(v, t->data, sizeof v);
        CHECK(memcmp(v, want, sizeof v) == 0, "%s", "memcmp(v, want, sizeof v) == 0");
        int32_t iv[4];
        CHECK(st_tensor_to_i32(t, iv, &st) != 0 && strstr(st.msg, "does not fit"), "2^40 must not fit: %s", st.msg);
    }
    if ((t = must_find(f, "u8", DT_U8, 1))) {
        int32_t v[4];
        CHECK(st_tensor_to_i32(t, v, &st) == 0 && v[0] == 0 && v[1] == 1 && v[2] == 128 && v[3] == 255, "%s", "st_tensor_to_i32(t, v, &st) == 0 && v[0] == 0 && v[1] == 1 &");
    }
    if ((t = must_find(f, "scalar", DT_F32, 0))) {
        float v;
        CHECK(t->numel == 1 && st_tensor_to_f32(t, &v, &st) == 0 && v == 3.25f, "%s", "t->numel == 1 && st_tensor_to_f32(t, &v, &st) == 0 && v == 3");
    }
    if ((t = must_find(f, "empty", DT_F32, 2))) CHECK(t->numel == 0 && t->nbytes == 0 && t->shape[0] == 0 && t->shape[1] == 4, "%s", "t->numel == 0 && t->nbytes == 0 && t->shape[0] == 0 && t->sh");

    /* conversions against torch, bit for bit (NaN: both NaN) */
    const StTensor *x = must_find(f, "x", DT_F32, 1), *xb = must_find(f, "x_bf16", DT_BF16, 1),
                   *xh = must_find(f, "x_f16", DT_F16, 1), *xbf = must_find(f, "x_bf16_f32", DT_F32, 1),
                   *xhf = must_find(f, "x_f16_f32", DT_F32, 1);
    if (x && xb && xh && xbf && xhf) {
        float xv[64], bref[64], href[64], bconv[64], hconv[64];
        uint16_t braw[64], hraw[64];
        memcpy(xv, x->data, sizeof xv);
        memcpy(bref, xbf->data, sizeof bref);
        memcpy(href, xhf->data, sizeof href);
        memcpy(braw, xb->data, sizeof braw);
        memcpy(hraw, xh->data, sizeof hraw);
        CHECK(st_tensor_to_f32(xb, bconv, &st) == 0 && st_tensor_to_f32(xh, hconv, &st) == 0, "%s", "st_tensor_to_f32(xb, bconv, &st) == 0 && st_tensor_to_f32(xh");
        int bad_b = 0, bad_h = 0, bad_b2 = 0, bad_h2 = 0;
        for (int i = 0; i < 64; i++) {
            int nan = isnan(xv[i]);
            uint16_t b = st_f32_to_bf16(xv[i]), h = st_f32_to_f16(xv[i]);
            if (nan ? !isnan(st_bf16_to_f32(b)) : b != braw[i]) bad_b++, fprintf(stderr, "bf16 x[%d]=%.9g: %04x vs torch %04x\n", i, xv[i], b, braw[i]);
            if (nan ? !isnan(st_f16_to_f32(h)) : h != hraw[i]) bad_h++, fprintf(stderr, "f16 x[%d]=%.9g: %04x vs torch %04x\n", i, xv[i], h, hraw[i]);
            if (nan ? !isnan(bconv[i]) : fbits(bconv[i]) != fbits(bref[i])) bad_b2++;
            if (nan ? !isnan(hconv[i]) : fbits(hconv[i]) != fbits(href[i])) bad_h2++;
        }
        CHECK(bad_b == 0 && bad_h == 0, "f32->bf16 mismatches %d, f32->f16 mismatches %d", bad_b, bad_h);
        CHECK(bad_b2 == 0 && bad_h2 == 0, "bf16->f32 mismatches %d, f16->f32 mismatches %d", bad_b2, bad_h2);
    }
    st_close(f);
}

static void test_rewrite_matches_python_bytes(void) {
    char p[4096], out[4200];
    VStatus st = {0};
    StFile *f = st_open(golden("one_meta.safetensors", p, sizeof p), &st);
    CHECK(f != NULL, "%s", st.msg);
    if (!f) return;
    char dir[512];
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "%s", "hostile_mkdtemp(dir, sizeof dir) == 0");
    snprintf(out, sizeof out, "%s/re.safetensors", dir);
    StWriteTensor w[8];
    size_t n = st_count(f);
    for (size_t i = 0; i < n && i < 8; i++) {
        const StTensor *t = st_tensor(f, i);
        w[i] = (StWriteTensor)WT(t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    StMeta m = {st_meta_key(f, 0), st_meta_value(f, 0)};
    CHECK(st_write(out, w, n, &m, 1, &st) == 0, "%s", st.msg);
    FILE *a = fopen(p, "rb"), *b = fopen(out, "rb");
    CHECK(a && b, "%s", "a && b");
    if (a && b) {
        char ba[1024], bb[1024];
        size_t na = fread(ba, 1, sizeof ba, a), nb = fread(bb, 1, sizeof bb, b);
        CHECK(na == nb && memcmp(ba, bb, na) == 0, "our bytes differ from the Python library's (%zu vs %zu bytes)", nb, na);
    }
    if (a) fclose(a);
    if (b) fclose(b);
    st_close(f);
    hostile_rmdir(dir);
}

static void test_round_trip(void) {
    char dir[512], path[600];
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "%s", "hostile_mkdtemp(dir, sizeof dir) == 0");
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    float f32[7 * 3];
    uint16_t bf[5], hf[5];
    int32_t i32[3] = {1, -2, 3};
    int64_t i64[2] = {INT64_MIN, INT64_MAX};
    uint8_t u8[3] = {0, 7, 255};
    float sc = -0.125f;
    for (int i = 0; i < 21; i++) f32[i] = (float)i / 3.0f - 2.0f;
    for (int i = 0; i < 5; i++) bf[i] = st_f32_to_bf16((float)i * 1.7f), hf[i] = st_f32_to_f16((float)i * -0.3f);
    int64_t s73[2] = {7, 3}, s5[1] = {5}, s3[1] = {3}, s2[1] = {2}, s0[3] = {2, 0, 9};
    StWriteTensor w[] = {
        WT("model.w", DT_F32, 2, s73, f32), WT("b", DT_BF16, 1, s5, bf), WT("h", DT_F16, 1, s5, hf),
        WT("ids", DT_I32, 1, s3, i32),      WT("big", DT_I64, 1, s2, i64), WT("bytes", DT_U8, 1, s3, u8),
        WT("empty", DT_F32, 3, s0, NULL),   WT("scalar", DT_F32, 0, NULL, &sc),
    };
    size_t n = sizeof w / sizeof w[0];
    StMeta meta[] = {{"step", "12"}, {"format", "pt"}, {"quote\"key", "line\nbreak"}};
    VStatus st = {0};
    CHECK(st_write(path, w, n, meta, 3, &st) == 0, "%s", st.msg);
    StFile *f = st_open(path, &st);
    CHECK(f != NULL, "%s", st.msg);
    if (f) {
        CHECK(st_header_bytes(f) % 8 == 0, "header padded to 8: %zu", st_header_bytes(f));
        CHECK(st_count(f) == n, "%s", "st_count(f) == n");
        for (size_t i = 0; i < n; i++) {
            const StTensor *t = st_find(f, w[i].name);
            CHECK(t != NULL, "%s", w[i].name);
            if (!t) continue;
            CHECK(t->dtype == w[i].dtype && t->ndim == w[i].ndim, "%s", w[i].name);
            for (int d = 0; d < t->ndim; d++) CHECK(t->shape[d] == w[i].shape[d], "%s", "t->shape[d] == w[i].shape[d]");
            CHECK((uintptr_t)t->data % dt_size(t->dtype) == 0, "%s naturally aligned", w[i].name);
            CHECK(t->nbytes == 0 || memcmp(t->data, w[i].data, t->nbytes) == 0, "%s data", w[i].name);
        }
        /* layout: 8-byte elements, then 4 (given order), then 2, then 1 */
        static const char *const order[] = {"big", "model.w", "ids", "empty", "scalar", "b", "h", "bytes"};
        for (size_t i = 0; i < n; i++)
            CHECK(strcmp(st_tensor(f, i)->name, order[i]) == 0, "position %zu: %s", i, st_tensor(f, i)->name);
        CHECK(st_meta_count(f) == 3 && strcmp(st_meta_get(f, "step"), "12") == 0 &&
              strcmp(st_meta_get(f, "quote\"key"), "line\nbreak") == 0, "%s", "st_meta_count(f) == 3 && strcmp(st_meta_get(f, \"step\"), \"");
        st_close(f);
    }
    /* overwrite in place: atomic rename replaces the file, no temp left */
    CHECK(st_write(path, w, 1, NULL, 0, &st) == 0, "%s", st.msg);
    f = st_open(path, &st);
    CHECK(f && st_count(f) == 1 && st_meta_count(f) == 0, "%s", "f && st_count(f) == 1 && st_meta_count(f) == 0");
    st_close(f);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0, "only the written file is left in %s", dir);
    hostile_rmdir(dir);
}

/* fill callback: element i of an F32 tensor = base + i */
static int fill_ramp(void *ctx, void *dst, size_t nbytes, VStatus *st) {
    (void)st;
    float base = *(const float *)ctx, *d = dst;
    for (size_t i = 0; i < nbytes / 4; i++) d[i] = base + (float)i;
    return 0;
}

static int fill_fail(void *ctx, void *dst, size_t nbytes, VStatus *st) {
    (void)ctx, (void)dst, (void)nbytes;
    return vs_set(st, VS_EDEVICE, "device download failed");
}

static void test_fill_callback(void) {
    char dir[512], path[600];
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "tmp");
    snprintf(path, sizeof path, "%s/fill.safetensors", dir);
    float b1 = 10, b2 = -5, small[3] = {1, 2, 3};
    int64_t s100[1] = {100}, s7[2] = {7, 1}, s3[1] = {3};
    StWriteTensor w[] = {
        {.name = "big", .dtype = DT_F32, .ndim = 1, .shape = s100, .fill = fill_ramp, .fill_ctx = &b1},
        {.name = "host", .dtype = DT_F32, .ndim = 1, .shape = s3, .data = small},
        {.name = "small", .dtype = DT_F32, .ndim = 2, .shape = s7, .fill = fill_ramp, .fill_ctx = &b2},
    };
    VStatus st = {0};
    CHECK(st_write(path, w, 3, NULL, 0, &st) == 0, "%s", st.msg);
    StFile *f = st_open(path, &st);
    CHECK(f != NULL, "%s", st.msg);
    if (f) {
        float v[100];
        const StTensor *t = st_find(f, "big");
        CHECK(t && t->numel == 100 && st_tensor_to_f32(t, v, &st) == 0 && v[0] == 10 && v[99] == 109, "big ramp");
        t = st_find(f, "small");
        CHECK(t && t->numel == 7 && st_tensor_to_f32(t, v, &st) == 0 && v[0] == -5 && v[6] == 1, "small ramp");
        t = st_find(f, "host");
        CHECK(t && st_tensor_to_f32(t, v, &st) == 0 && v[2] == 3, "host data");
        st_close(f);
    }
    /* a failing callback aborts the write: message kept, old file untouched, no temp left */
    w[2].fill = fill_fail;
    CHECK(st_write(path, w, 3, NULL, 0, &st) == VS_EDEVICE && strstr(st.msg, "device download failed") &&
          strstr(st.msg, "tensor 'small'") && strstr(st.msg, path), "%s", st.msg);
    f = st_open(path, &st);
    CHECK(f && st_count(f) == 3, "previous file intact: %s", st.msg);
    st_close(f);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0, "no temporary file left in %s", dir);
    hostile_rmdir(dir);
}

static void test_write_errors(void) {
    char dir[512], path[600];
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "%s", "hostile_mkdtemp(dir, sizeof dir) == 0");
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    float v[2] = {1, 2};
    int64_t s2[1] = {2}, sneg[1] = {-2};
    struct { StWriteTensor w[2]; size_t n; const char *expect; } cases[] = {
        {{WT("a", DT_F32, 1, s2, v), WT("a", DT_F32, 1, s2, v)}, 2, "given twice"},
        {{WT("", DT_F32, 1, s2, v)}, 1, "invalid name"},
        {{WT("__metadata__", DT_F32, 1, s2, v)}, 1, "invalid name"},
        {{WT("a", DT_F32, 1, sneg, v)}, 1, "negative"},
        {{WT("a", DT_F32, 1, s2, NULL)}, 1, "data is NULL"},
    };
    VStatus st = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = st_write(path, cases[i].w, cases[i].n, NULL, 0, &st);
        CHECK(rc != 0 && strstr(st.msg, cases[i].expect) && strstr(st.msg, path), "case %zu: %s", i, st.msg);
        struct stat sb;
        CHECK(stat(path, &sb) != 0, "no file left after a failed write");
    }
    StMeta dup[2] = {{"k", "1"}, {"k", "2"}};
    CHECK(st_write(path, cases[0].w, 1, dup, 2, &st) != 0 && strstr(st.msg, "given twice"), "%s", st.msg);
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/missing/x.safetensors", dir);
    CHECK(st_write(nodir, cases[0].w, 1, NULL, 0, &st) == VS_EIO && strstr(st.msg, "cannot create"), "%s", st.msg);
    hostile_rmdir(dir);
}

static void test_hostile(void) {
    char dir[512], path[700];
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "%s", "hostile_mkdtemp(dir, sizeof dir) == 0");
    for (size_t i = 0; i < NHOSTILE; i++) {
        const HostileCase *c = &hostile_cases[i];
        CHECK(hostile_write(dir, c, path, sizeof path) == 0, "writing %s", c->name);
        VStatus st = {0};
        StFile *f = st_open(path, &st);
        CHECK(f == NULL && st.code == VS_EINVAL, "%s: accepted (code %d)", c->name, st.code);
        CHECK(strstr(st.msg, path) && strstr(st.msg, c->expect), "%s: message '%s' lacks the path or '%s'", c->name,
              st.msg, c->expect);
        st_close(f);
    }
    /* not hostile, but edge cases that must open: empty header, nothing else */
    HostileCase ok = {"empty_ok", "{}      ", 0, 0, ""};
    CHECK(hostile_write(dir, &ok, path, sizeof path) == 0, "%s", "hostile_write(dir, &ok, path, sizeof path) == 0");
    VStatus st = {0};
    StFile *f = st_open(path, &st);
    CHECK(f && st_count(f) == 0 && st_meta_count(f) == 0, "%s", st.msg);
    st_close(f);
    /* too small, missing, a directory */
    snprintf(path, sizeof path, "%s/tiny.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    if (fp) { fputs("abc", fp); fclose(fp); }
    CHECK(st_open(path, &st) == NULL && strstr(st.msg, "too small"), "%s", st.msg);
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    CHECK(st_open(path, &st) == NULL && st.code == VS_EIO && strstr(st.msg, "cannot open"), "%s", st.msg);
    CHECK(st_open(dir, &st) == NULL && strstr(st.msg, "not a regular file"), "%s", st.msg);
    hostile_rmdir(dir);
}

TEST_MAIN({"golden_read", test_golden_read}, {"rewrite_matches_python_bytes", test_rewrite_matches_python_bytes},
          {"round_trip", test_round_trip}, {"fill_callback", test_fill_callback}, {"write_errors", test_write_errors}, {"hostile", test_hostile})
