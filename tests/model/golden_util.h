/* tests/model/golden_util.h — shared by the model parity tests: loads a golden
 * transformers model (tests/golden/models/NAME, made by make_models.py)
 * through the real import path, runs parity_run (the path `vlmc inspect
 * --forward` uses) and compares with the float64 reference.
 *
 * Tolerances (issue 3): logits and loss ||a-b|| <= 1e-5 ||b||; every gradient
 * ||a-b|| <= 1e-4 ||b|| + 1e-6 ||g_all|| (the floor covers tensors whose true
 * gradient is ~0, e.g. attention key biases, whose float32 torch gradients are
 * themselves >100% off: see ref.json); a parameter transformers leaves without
 * a gradient must be exactly zero. A float32 torch run sits at ~2e-7 (logits)
 * and <1e-6 (gradients) from the float64 reference, so these bounds leave
 * room for summation-order differences but not for a wrong formula.
 */
#ifndef VLMC_TESTS_MODEL_GOLDEN_UTIL_H
#define VLMC_TESTS_MODEL_GOLDEN_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/hf.h"
#include "model/parity.h"
#include "model/safetensors.h"
#include "test.h"

static inline const char *golden_src(void) {
    const char *s = getenv("VLMC_SOURCE_DIR");
    return s ? s : ".";
}

static inline Backend *golden_backend(void) {
    BackendOptions bo = {.name = "cpu", .threads = 2};
    VStatus st = {0};
    Backend *be = be_create(&bo, &st);
    CHECK(be != NULL, "cpu backend: %s", st.msg);
    return be;
}

static inline double norm_f(const float *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

/* Compares a run's outputs against ref.safetensors. Frozen components
 * (frozen[c] != 0) are only checked to be zero in our outputs. Returns the
 * worst relative gradient error seen. */
static inline double golden_compare(const Vlm *m, const ParityOut *o, const char *name, const int *frozen) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/models/%s/ref.safetensors", golden_src(), name);
    VStatus st = {0};
    StFile *f = st_open(path, &st);
    CHECK(f != NULL, "%s", st.msg);
    if (!f) return INFINITY;
    const StTensor *tl = st_find(f, "logits"), *tls = st_find(f, "loss");
    CHECK(tl && tl->numel == o->B * o->T * o->V, "%s: logits shape", name);
    float *ref = malloc((size_t)tl->numel * sizeof(float));
    st_tensor_to_f32(tl, ref, &st);
    double e = test_rel_err_f(o->logits, ref, (size_t)tl->numel);
    CHECK(e <= 1e-5, "%s: logits rel err %.3e > 1e-5", name, e);
    printf("  %s: logits rel err %.3e\n", name, e);
    free(ref);
    float lref = 0;
    st_tensor_to_f32(tls, &lref, &st);
    CHECK(o->has_loss, "%s: no loss", name);
    double le = fabs(o->loss - lref) / fabs(lref);
    CHECK(le <= 1e-5, "%s: loss %.8f vs %.8f (rel %.3e)", name, o->loss, lref, le);
    printf("  %s: loss %.7f ref %.7f rel err %.3e\n", name, o->loss, lref, le);
    /* ||g_all|| over the reference */
    double gall = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        if (strncmp(t->name, "grad.", 5)) continue;
        float *g = malloc((size_t)t->numel * sizeof(float));
        st_tensor_to_f32(t, g, &st);
        double nn = norm_f(g, t->numel);
        gall += nn * nn;
        free(g);
    }
    gall = sqrt(gall);
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < m->pt.n; i++) {
        const Param *p = &m->pt.p[i];
        char gname[PT_NAME_MAX + 8];
        snprintf(gname, sizeof gname, "grad.%s", p->name);
        const StTensor *t = st_find(f, gname);
        CHECK(t != NULL, "%s: reference has no %s", name, gname);
        if (!t || !o->grads) continue;
        CHECK(t->numel == p->numel, "%s: %s numel", name, gname);
        float *g = malloc((size_t)t->numel * sizeof(float));
        st_tensor_to_f32(t, g, &st);
        double nb = norm_f(g, t->numel);
        if (frozen && frozen[p->comp]) {
            CHECK(norm_f(o->grads[i], p->numel) == 0.0, "%s: frozen %s has a gradient", name, p->name);
        } else if (nb == 0.0) {
            CHECK(norm_f(o->grads[i], p->numel) == 0.0, "%s: %s must have exactly zero gradient (HF: none)", name, p->name);
        } else {
            double d = 0;
            for (int64_t j = 0; j < p->numel; j++) d += ((double)o->grads[i][j] - g[j]) * ((double)o->grads[i][j] - g[j]);
            d = sqrt(d);
            double tol = 1e-4 * nb + 1e-6 * gall;
            CHECK(d <= tol, "%s: grad %s |a-b| %.3e > tol %.3e (|b| %.3e)", name, p->name, d, tol, nb);
            /* worst relative error among tensors that are not ~0 (above the floor's scale) */
            if (nb >= 1e-3 * gall && d / nb > worst) worst = d / nb;
            if (getenv("GOLDEN_VERBOSE")) printf("    %-70s rel %.3e  abs %.3e  |b| %.3e\n", p->name, d / nb, d, nb);
        }
        checked++;
        free(g);
    }
    /* every reference gradient corresponds to a model tensor */
    int nref = 0;
    for (size_t i = 0; i < st_count(f); i++) nref += !strncmp(st_tensor(f, i)->name, "grad.", 5);
    CHECK(nref == m->pt.n - (m->cfg.llm.tied ? 0 : 0), "%s: %d reference grads, model has %d tensors", name, nref, m->pt.n);
    printf("  %s: %d gradients checked, worst rel err (|b| >= 1e-3 |g_all|) %.3e\n", name, checked, worst);
    st_close(f);
    return worst;
}

/* Loads NAME, runs the inputs, compares. */
static inline void golden_run(const char *name, const int *frozen, int recompute) {
    char dir[4096], inputs[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/models/%s/hf", golden_src(), name);
    snprintf(inputs, sizeof inputs, "%s/tests/golden/models/%s/inputs.safetensors", golden_src(), name);
    Backend *be = golden_backend();
    if (!be) return;
    Vlm m;
    VStatus st = {0};
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    if (frozen) memcpy(lo.frozen, frozen, sizeof lo.frozen);
    int rc = hf_load(&m, dir, be, &lo, &st);
    CHECK(rc == 0, "load %s: %s", name, st.msg);
    if (rc) { be_destroy(be); return; }
    m.recompute = recompute;
    ParityOut o;
    rc = parity_run(&m, inputs, &o, &st);
    CHECK(rc == 0, "run %s: %s", name, st.msg);
    if (!rc) golden_compare(&m, &o, name, frozen);
    parity_free(&m, &o);
    vlm_free(&m);
    be_destroy(be);
}

#endif
