/* tests/model/test_golden_llava.c — LLaVA parity against transformers
 * (tolerances in golden_util.h):
 *  - CLIP tower (CLS, quick_gelu, pre_layrnorm, feature layer -2 so the last
 *    block never runs, CLS dropped) + mlp projector + Llama with llama3 rope
 *    scaling, saved in float32;
 *  - CLIP tower keeping CLS ("full") with feature layer 1 (>= 0) + 1-layer Llama;
 *  - SigLIP tower (no CLS, layer -1 without post_layernorm, unused pooling
 *    head) + Qwen2 (GQA 4:1, q/k/v bias, tied embeddings), saved in bf16.
 * Frozen runs: with the encoder frozen, and with encoder + LLM frozen (LLaVA
 * stage 1: the projector trains through the frozen LLM), the trainable
 * gradients equal the full run's (same tolerance against the same reference)
 * and the frozen parts get no gradient and no gradient memory. */
#include "golden_util.h"

static void test_clip_llama(void) { golden_run("llava_clip_llama", NULL, 0); }
static void test_clip_llama_recompute(void) { golden_run("llava_clip_llama", NULL, 1); }
static void test_clip_full(void) { golden_run("llava_clip_full", NULL, 0); }
static void test_siglip_qwen2(void) { golden_run("llava_siglip_qwen2", NULL, 0); }

static void test_frozen_encoder(void) {
    int fr[COMP__COUNT] = {[COMP_ENCODER] = 1};
    golden_run("llava_clip_llama", fr, 0);
}

static void test_stage1_projector_only(void) {
    int fr[COMP__COUNT] = {[COMP_ENCODER] = 1, [COMP_LLM] = 1};
    golden_run("llava_siglip_qwen2", fr, 0);
}

/* Gradient memory: only trainable, used entries take BUF_GRADS space. */
static void test_grad_memory(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden/models/llava_clip_llama/hf", golden_src());
    size_t used[3];
    int64_t expect[3];
    int cfgs[3][COMP__COUNT] = {{0, 0, 0}, {1, 0, 0}, {1, 0, 1}};
    for (int k = 0; k < 3; k++) {
        Backend *be = golden_backend();
        Vlm m;
        VStatus st = {0};
        HfLoadOpts lo;
        memset(&lo, 0, sizeof lo);
        memcpy(lo.frozen, cfgs[k], sizeof lo.frozen);
        int rc = hf_load(&m, dir, be, &lo, &st);
        CHECK(rc == 0, "%s", st.msg);
        if (rc) { be_destroy(be); return; }
        used[k] = be_used(be, BUF_GRADS);
        expect[k] = 0;
        for (int i = 0; i < m.pt.n; i++) {
            const Param *p = &m.pt.p[i];
            int tr = !cfgs[k][p->comp] && !p->unused;
            CHECK((p->g != NULL) == tr, "%s: gradient presence %d", p->name, p->g != NULL);
            if (tr) expect[k] += p->numel;
        }
        CHECK(m.pt.total_trainable == expect[k], "trainable %lld vs %lld", (long long)m.pt.total_trainable, (long long)expect[k]);
        /* one allocation: exactly the trainable floats (plus arena alignment) */
        CHECK(used[k] >= (size_t)expect[k] * 4 && used[k] < (size_t)expect[k] * 4 + 4096, "BUF_GRADS %zu for %lld floats", used[k], (long long)expect[k]);
        vlm_free(&m);
        be_destroy(be);
    }
    CHECK(used[1] < used[0] && used[2] < used[1], "frozen parts must shrink gradient memory: %zu %zu %zu", used[0], used[1], used[2]);
    printf("  BUF_GRADS bytes: full %zu, frozen encoder %zu, adapter only %zu\n", used[0], used[1], used[2]);
}

TEST_MAIN({"clip_llama", test_clip_llama}, {"clip_llama_recompute", test_clip_llama_recompute},
          {"clip_full_layer1", test_clip_full},
          {"siglip_qwen2", test_siglip_qwen2}, {"frozen_encoder", test_frozen_encoder},
          {"stage1_projector_only", test_stage1_projector_only}, {"grad_memory", test_grad_memory})
