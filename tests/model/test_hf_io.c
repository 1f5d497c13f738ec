/* tests/model/test_hf_io.c — Hugging Face import/export:
 *  - export -> import round trip is bit-exact (f32; bf16 for a bf16 checkpoint);
 *  - exported tensor names, shapes and dtypes equal those transformers saved
 *    (the golden hf/ directories, shards included);
 *  - the newer LLaVA layout (model.language_model.*, model.vision_tower.*,
 *    lm_head.*) and the older llava-hf one (vision_tower.vision_model.*) load
 *    to the same parameters as transformers 5's saved layout;
 *  - missing, unexpected and mis-shaped tensors are errors naming the tensor;
 *  - a SigLIP vision checkpoint + a Llama checkpoint join with a fresh adapter:
 *    the parts' weights are loaded unchanged, and the joined model run on
 *    text-only inputs reproduces the Llama golden logits (1e-5).
 *  - position embeddings resized at load (bicubic) when the image size changes.
 * tests/golden/check_export.py (developer tool) additionally verifies that
 * transformers loads every export and computes identical logits. */
#include <unistd.h>

#include "golden_util.h"

static char tmpdir[256];

static void make_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vlmc_hfio_XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL, "mkdtemp");
}

static void rm_rf(const char *d) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    CHECK(system(cmd) == 0, "rm -rf");
}

static int load_model(Vlm *m, Backend *be, const char *dir, VStatus *st) {
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    for (int k = 0; k < COMP__COUNT; k++) lo.frozen[k] = 1;
    return hf_load(m, dir, be, &lo, st);
}

static float *all_params(Vlm *m) {
    float *h = malloc((size_t)m->pt.total * sizeof(float));
    be_download(m->be, m->pt.all_w, h);
    return h;
}

static void golden_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/tests/golden/models/%s/hf", golden_src(), name);
}

/* Every tensor in the .safetensors files of dir, as "name dtype shape" lines, sorted. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char **list_tensors(const char *dir, int *n) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s'", dir);
    FILE *p = popen(cmd, "r");
    char line[512];
    char **out = NULL;
    *n = 0;
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        size_t L = strlen(line);
        if (L < 12 || strcmp(line + L - 12, ".safetensors")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        VStatus st = {0};
        StFile *f = st_open(path, &st);
        CHECK(f != NULL, "%s", st.msg);
        for (size_t i = 0; f && i < st_count(f); i++) {
            const StTensor *t = st_tensor(f, i);
            char buf[512];
            int k = snprintf(buf, sizeof buf, "%s %s [", t->name, dt_name(t->dtype));
            for (int d = 0; d < t->ndim; d++) k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            snprintf(buf + k, sizeof buf - (size_t)k, "]");
            out = realloc(out, (size_t)(*n + 1) * sizeof(char *));
            out[(*n)++] = strdup(buf);
        }
        st_close(f);
    }
    if (p) pclose(p);
    qsort(out, (size_t)*n, sizeof(char *), cmp_str);
    return out;
}

static void free_list(char **l, int n) {
    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
}

static void round_trip(const char *name, DType dt) {
    char src[4096], dst[600];
    golden_dir(src, sizeof src, name);
    make_tmp();
    snprintf(dst, sizeof dst, "%s/out", tmpdir);
    Backend *be = golden_backend();
    Vlm a, b;
    VStatus st = {0};
    int rc = load_model(&a, be, src, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (rc) goto done;
    rc = hf_save(&a, dst, dt, &st);
    CHECK(rc == 0, "save: %s", st.msg);
    rc = rc ? rc : load_model(&b, be, dst, &st);
    CHECK(rc == 0, "reload: %s", st.msg);
    if (!rc) {
        float *pa = all_params(&a), *pb = all_params(&b);
        CHECK(a.pt.total == b.pt.total && memcmp(pa, pb, (size_t)a.pt.total * sizeof(float)) == 0,
              "%s: round trip is not bit-exact", name);
        free(pa);
        free(pb);
        int na, nb;
        char **la = list_tensors(src, &na), **lb = list_tensors(dst, &nb);
        CHECK(na == nb, "%s: %d tensors saved by transformers, %d exported", name, na, nb);
        for (int i = 0; i < na && i < nb; i++) CHECK(!strcmp(la[i], lb[i]), "%s: transformers %s vs export %s", name, la[i], lb[i]);
        free_list(la, na);
        free_list(lb, nb);
        vlm_free(&b);
    }
    vlm_free(&a);
done:
    be_destroy(be);
    rm_rf(tmpdir);
}

static void test_round_trip(void) {
    round_trip("text_llama", DT_F32);
    round_trip("llava_clip_llama", DT_F32);
    round_trip("llava_siglip_qwen2", DT_BF16);
    round_trip("idefics3", DT_F32);
}

/* Rewrites a checkpoint's tensor names with fn and loads it. */
typedef void (*RenameFn)(const char *in, char *out);
static void rename_new(const char *in, char *out) {
    if (!strncmp(in, "language_model.model.", 21)) sprintf(out, "model.language_model.%s", in + 21);
    else if (!strncmp(in, "language_model.lm_head.", 23)) sprintf(out, "lm_head.%s", in + 23);
    else sprintf(out, "model.%s", in);
}
static void rename_old_hf(const char *in, char *out) {
    if (!strncmp(in, "vision_tower.", 13)) sprintf(out, "vision_tower.vision_model.%s", in + 13);
    else strcpy(out, in);
}
static void rename_drop(const char *in, char *out) { strcpy(out, strstr(in, "layers.1.mlp.up_proj") ? "" : in); }
static void rename_extra(const char *in, char *out) { strcpy(out, in); }

static int write_variant(const char *name, RenameFn fn, const char *dst, int extra, int reshape) {
    char src[4096], path[8192], cmd[9000];
    golden_dir(src, sizeof src, name);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/config.json' '%s/'", dst, src, dst);
    CHECK(system(cmd) == 0, "copy config");
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    VStatus st = {0};
    StFile *f = st_open(path, &st);
    CHECK(f != NULL, "%s", st.msg);
    if (!f) return -1;
    size_t n = st_count(f);
    StWriteTensor *w = calloc(n + 1, sizeof *w);
    char (*names)[PT_NAME_MAX] = calloc(n + 1, PT_NAME_MAX);
    int64_t (*shapes)[8] = calloc(n + 1, sizeof *shapes);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        fn(t->name, names[k]);
        if (!names[k][0]) continue;
        memcpy(shapes[k], t->shape, sizeof(int64_t) * (size_t)t->ndim);
        w[k] = (StWriteTensor){.name = names[k], .dtype = t->dtype, .ndim = t->ndim, .shape = shapes[k], .data = t->data};
        if (reshape && strstr(t->name, "layers.0.self_attn.o_proj.weight")) {
            /* same bytes, transposed-looking shape */
            shapes[k][0] = t->shape[1] / 2;
            shapes[k][1] = t->shape[0] * 2;
        }
        k++;
    }
    float extra_data[4] = {0};
    int64_t extra_shape[1] = {4};
    if (extra) w[k++] = (StWriteTensor){.name = "language_model.model.extra_thing.weight", .dtype = DT_F32, .ndim = 1, .shape = extra_shape, .data = extra_data};
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    int rc = st_write(path, w, k, NULL, 0, &st);
    CHECK(rc == 0, "%s", st.msg);
    st_close(f);
    free(w);
    free(names);
    free(shapes);
    return rc;
}

static void test_layouts(void) {
    char src[4096], d1[700], d2[700];
    golden_dir(src, sizeof src, "llava_clip_llama");
    make_tmp();
    snprintf(d1, sizeof d1, "%s/new", tmpdir);
    snprintf(d2, sizeof d2, "%s/old", tmpdir);
    write_variant("llava_clip_llama", rename_new, d1, 0, 0);
    write_variant("llava_clip_llama", rename_old_hf, d2, 0, 0);
    Backend *be = golden_backend();
    Vlm a, b, c;
    VStatus st = {0};
    int ra = load_model(&a, be, src, &st);
    CHECK(ra == 0, "%s", st.msg);
    int rb = load_model(&b, be, d1, &st);
    CHECK(rb == 0, "newer layout: %s", st.msg);
    int rc = load_model(&c, be, d2, &st);
    CHECK(rc == 0, "vision_tower.vision_model layout: %s", st.msg);
    if (!ra && !rb && !rc) {
        float *pa = all_params(&a), *pb = all_params(&b), *pc = all_params(&c);
        CHECK(!memcmp(pa, pb, (size_t)a.pt.total * 4), "newer layout loads different weights");
        CHECK(!memcmp(pa, pc, (size_t)a.pt.total * 4), "older layout loads different weights");
        free(pa);
        free(pb);
        free(pc);
    }
    if (!ra) vlm_free(&a);
    if (!rb) vlm_free(&b);
    if (!rc) vlm_free(&c);
    be_destroy(be);
    rm_rf(tmpdir);
}

static void expect_error(const char *dir, const char *needle) {
    Backend *be = golden_backend();
    Vlm m;
    VStatus st = {0};
    int rc = load_model(&m, be, dir, &st);
    CHECK(rc != 0, "loading %s must fail", dir);
    if (rc == 0) vlm_free(&m);
    CHECK(strstr(st.msg, needle) != NULL, "error \"%s\" does not name \"%s\"", st.msg, needle);
    printf("  expected error: %s\n", st.msg);
    be_destroy(be);
}

static void test_bad_tensors(void) {
    char d[700];
    make_tmp();
    snprintf(d, sizeof d, "%s/missing", tmpdir);
    write_variant("llava_clip_llama", rename_drop, d, 0, 0);
    expect_error(d, "missing tensor \"language_model.model.layers.1.mlp.up_proj.weight\"");
    snprintf(d, sizeof d, "%s/extra", tmpdir);
    write_variant("llava_clip_llama", rename_extra, d, 1, 0);
    expect_error(d, "unexpected tensor \"language_model.model.extra_thing.weight\"");
    snprintf(d, sizeof d, "%s/shape", tmpdir);
    write_variant("llava_clip_llama", rename_extra, d, 0, 1);
    expect_error(d, "language_model.model.layers.0.self_attn.o_proj.weight\": shape [16,64]");
    snprintf(d, sizeof d, "%s/nothing", tmpdir);
    expect_error(d, "config.json");
    rm_rf(tmpdir);
}

static void test_join(void) {
    char vdir[4096], ldir[4096];
    golden_dir(vdir, sizeof vdir, "vision_siglip");
    golden_dir(ldir, sizeof ldir, "text_llama");
    Backend *be = golden_backend();
    Vlm j, l;
    VStatus st = {0};
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    lo.frozen[COMP_ENCODER] = 1;
    AdapterConfig ad = {.kind = ADAPT_MLP, .bias = 1};
    int rc = hf_load_pair(&j, vdir, ldir, &ad, -1, 1, 250, 7, be, &lo, &st);
    CHECK(rc == 0, "join: %s", st.msg);
    int rl = load_model(&l, be, ldir, &st);
    CHECK(rl == 0, "%s", st.msg);
    if (!rc && !rl) {
        /* LM weights identical, name by name */
        float *pj = all_params(&j), *pl = all_params(&l);
        for (int i = 0; i < l.pt.n; i++) {
            char nm[PT_NAME_MAX + 32];
            const char *n = l.pt.p[i].name;
            if (!strncmp(n, "model.", 6)) snprintf(nm, sizeof nm, "language_model.model.%s", n + 6);
            else snprintf(nm, sizeof nm, "language_model.%s", n);
            int k = pt_find(&j.pt, nm);
            CHECK(k >= 0, "joined model lacks %s", nm);
            if (k >= 0)
                CHECK(!memcmp(pj + j.pt.p[k].offset, pl + l.pt.p[i].offset, (size_t)l.pt.p[i].numel * 4), "%s differs", nm);
        }
        free(pj);
        free(pl);
        /* text-only inputs through the joined model = the Llama golden */
        char inputs[4096];
        snprintf(inputs, sizeof inputs, "%s/tests/golden/models/text_llama/inputs.safetensors", golden_src());
        ParityOut o;
        rc = parity_run(&j, inputs, &o, &st);
        CHECK(rc == 0, "%s", st.msg);
        if (!rc) {
            char ref[4096];
            snprintf(ref, sizeof ref, "%s/tests/golden/models/text_llama/ref.safetensors", golden_src());
            StFile *f = st_open(ref, &st);
            const StTensor *t = f ? st_find(f, "logits") : NULL;
            CHECK(t && t->numel == o.B * o.T * o.V, "ref logits");
            if (t) {
                float *r = malloc((size_t)t->numel * 4);
                st_tensor_to_f32(t, r, &st);
                double e = test_rel_err_f(o.logits, r, (size_t)t->numel);
                CHECK(e <= 1e-5, "joined model text logits rel err %.3e", e);
                printf("  joined model, text-only logits vs Llama golden: %.3e\n", e);
                free(r);
            }
            st_close(f);
            /* the encoder is frozen: its gradients are absent */
            for (int i = 0; i < j.pt.n; i++)
                if (j.pt.p[i].comp == COMP_ENCODER) CHECK(j.pt.p[i].g == NULL, "%s has a gradient", j.pt.p[i].name);
        }
        parity_free(&j, &o);
        /* exports as LLaVA with the vision tower under vision_tower. */
        make_tmp();
        char dst[700];
        snprintf(dst, sizeof dst, "%s/joined", tmpdir);
        CHECK(hf_save(&j, dst, DT_F32, &st) == 0, "%s", st.msg);
        Vlm r;
        int rr = load_model(&r, be, dst, &st);
        CHECK(rr == 0, "reload joined: %s", st.msg);
        if (!rr) {
            CHECK(r.cfg.layout == LAYOUT_LLAVA && r.cfg.vis.kind == VIS_SIGLIP && r.cfg.image_token_id == 250, "joined config");
            vlm_free(&r);
        }
        rm_rf(tmpdir);
    }
    if (!rc) vlm_free(&j);
    if (!rl) vlm_free(&l);
    /* the fresh adapter's std follows opts->adapter_init_std (the run's model.init.adapter.init_std) */
    lo.adapter_init_std = 0.2f;
    rc = hf_load_pair(&j, vdir, ldir, &ad, -1, 1, 250, 7, be, &lo, &st);
    CHECK(rc == 0, "join: %s", st.msg);
    if (!rc) {
        float *pj = all_params(&j);
        int seen = 0;
        for (int i = 0; i < j.pt.n; i++) {
            const Param *p = &j.pt.p[i];
            if (p->comp != COMP_ADAPTER || p->ndim != 2) continue;
            double s2 = 0;
            for (int64_t k = 0; k < p->numel; k++) s2 += (double)pj[p->offset + k] * pj[p->offset + k];
            double sd = sqrt(s2 / (double)p->numel);
            /* >= 256 draws: the sample std's relative standard error is <= 4.5%, so 15% is > 3 sigma */
            CHECK(p->numel >= 256 && fabs(sd - 0.2) < 0.03, "%s: %lld values, std %.4f, want 0.2", p->name,
                  (long long)p->numel, sd);
            seen++;
        }
        CHECK(seen == 2, "%d adapter matrices, want 2", seen);
        free(pj);
        vlm_free(&j);
    }
    be_destroy(be);
}

/* Loading at another image size resizes the position grid on the host:
 * 4x4 -> 8x8 compared with torch F.interpolate(bicubic, align_corners=False)
 * in float64 (pos_resize.safetensors); 1e-6 relative (float32 rounding). */
static void test_pos_resize(void) {
    char src[4096], ref[4096];
    golden_dir(src, sizeof src, "llava_siglip_qwen2");
    snprintf(ref, sizeof ref, "%s/tests/golden/models/llava_siglip_qwen2/pos_resize.safetensors", golden_src());
    Backend *be = golden_backend();
    Vlm b;
    VStatus st = {0};
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    lo.image_size = 64;
    int rc = hf_load(&b, src, be, &lo, &st);
    CHECK(rc == 0, "%s", st.msg);
    if (!rc) {
        const Param *pb = &b.pt.p[b.vis.pos];
        CHECK(pb->shape[0] == 64 && pb->shape[1] == 32, "resized position table %lldx%lld", (long long)pb->shape[0], (long long)pb->shape[1]);
        CHECK(b.cfg.vis.image_size == 64 && mcfg_tokens_per_image(&b.cfg) == 64, "image size 64 -> 64 tokens");
        float *hb = malloc((size_t)pb->numel * 4), *hr = malloc((size_t)pb->numel * 4);
        be_download(be, pb->w, hb);
        StFile *f = st_open(ref, &st);
        const StTensor *t = f ? st_find(f, "position_embedding_64px") : NULL;
        CHECK(t && t->numel == pb->numel, "reference");
        if (t) {
            st_tensor_to_f32(t, hr, &st);
            double e = test_rel_err_f(hb, hr, (size_t)pb->numel);
            CHECK(e <= 1e-6, "bicubic resize rel err %.3e", e);
            printf("  position grid 4x4 -> 8x8 vs torch bicubic: rel err %.3e\n", e);
        }
        st_close(f);
        free(hb);
        free(hr);
        vlm_free(&b);
    }
    be_destroy(be);
}

/* F16 checkpoints load: every weight equals the f16 rounding of the f32 one. */
static void test_f16_load(void) {
    char src[4096], path[8192], dst[700], cmd[9000];
    golden_dir(src, sizeof src, "text_llama");
    make_tmp();
    snprintf(dst, sizeof dst, "%s/f16", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/config.json' '%s/'", dst, src, dst);
    CHECK(system(cmd) == 0, "copy config");
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    VStatus st = {0};
    StFile *f = st_open(path, &st);
    CHECK(f != NULL, "%s", st.msg);
    if (!f) return;
    size_t n = st_count(f);
    StWriteTensor *w = calloc(n, sizeof *w);
    uint16_t **h = calloc(n, sizeof *h);
    for (size_t i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        float *x = malloc((size_t)t->numel * 4);
        st_tensor_to_f32(t, x, &st);
        h[i] = malloc((size_t)t->numel * 2);
        for (int64_t j = 0; j < t->numel; j++) h[i][j] = st_f32_to_f16(x[j]);
        free(x);
        w[i] = (StWriteTensor){.name = t->name, .dtype = DT_F16, .ndim = t->ndim, .shape = t->shape, .data = h[i]};
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dst);
    CHECK(st_write(path, w, n, NULL, 0, &st) == 0, "%s", st.msg);
    Backend *be = golden_backend();
    Vlm a, b;
    int ra = load_model(&a, be, src, &st), rb = load_model(&b, be, dst, &st);
    CHECK(ra == 0 && rb == 0, "%s", st.msg);
    if (!ra && !rb) {
        float *pa = all_params(&a), *pb = all_params(&b);
        int64_t bad = 0;
        for (int64_t j = 0; j < a.pt.total; j++) bad += pb[j] != st_f16_to_f32(st_f32_to_f16(pa[j]));
        CHECK(bad == 0, "%lld weights differ from their f16 rounding", (long long)bad);
        free(pa);
        free(pb);
    }
    if (!ra) vlm_free(&a);
    if (!rb) vlm_free(&b);
    be_destroy(be);
    for (size_t i = 0; i < n; i++) free(h[i]);
    free(h);
    free(w);
    st_close(f);
    rm_rf(tmpdir);
}

TEST_MAIN({"round_trip", test_round_trip}, {"f16_load", test_f16_load}, {"layouts", test_layouts}, {"bad_tensors", test_bad_tensors},
          {"join", test_join}, {"pos_resize", test_pos_resize})
