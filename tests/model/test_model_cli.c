/* tests/model/test_model_cli.c — the user-facing commands, run as processes:
 *  - `vlmc inspect MODEL_DIR --forward INPUTS --out OUT` on the Idefics3 and
 *    text Llama goldens writes logits, loss and grad.<hf name> that match the
 *    transformers float64 reference (same tolerances as golden_util.h);
 *  - `vlmc inspect MODEL_DIR` prints the parameter table;
 *  - `vlmc convert --vision V --lm L DST` joins checkpoints, and the result
 *    loads back; usage errors exit 2, bad checkpoints exit 1 with the reason. */
#include <sys/wait.h>
#include <unistd.h>

#include "golden_util.h"

static int run_cmd(const char *cmd, char *out, size_t n) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t k = 0;
    if (out) {
        while (k + 1 < n && fgets(out + k, (int)(n - k), p)) k = strlen(out);
        out[k] = 0;
    }
    char buf[512];
    while (fgets(buf, sizeof buf, p)) {}   /* drain: a full pipe would kill the child */
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char *vlmc_bin(void) {
    const char *b = getenv("VLMC_BINARY");
    return b ? b : "build/vlmc";
}

static void forward_matches(const char *name) {
    char tmp[] = "/tmp/vlmc_cli_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char cmd[8192], out[600];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s/tests/golden/models/%s/hf' --forward '%s/tests/golden/models/%s/inputs.safetensors' --out '%s' 2>&1",
             vlmc_bin(), golden_src(), name, golden_src(), name, out);
    char text[4096];
    int rc = run_cmd(cmd, text, sizeof text);
    CHECK(rc == 0, "%s -> %d: %s", cmd, rc, text);
    CHECK(strstr(text, "loss ") != NULL, "no loss printed: %s", text);
    /* compare the written file with the reference through the same checks */
    char ref[4096];
    snprintf(ref, sizeof ref, "%s/tests/golden/models/%s/ref.safetensors", golden_src(), name);
    VStatus st = {0};
    StFile *a = st_open(out, &st), *b = st_open(ref, &st);
    CHECK(a && b, "%s", st.msg);
    if (a && b) {
        CHECK(st_count(a) == st_count(b), "%zu tensors written, reference has %zu", st_count(a), st_count(b));
        double gall = 0;
        for (size_t i = 0; i < st_count(b); i++) {
            const StTensor *t = st_tensor(b, i);
            if (strncmp(t->name, "grad.", 5)) continue;
            float *g = malloc((size_t)t->numel * 4);
            st_tensor_to_f32(t, g, &st);
            gall += norm_f(g, t->numel) * norm_f(g, t->numel);
            free(g);
        }
        gall = sqrt(gall);
        for (size_t i = 0; i < st_count(b); i++) {
            const StTensor *tb = st_tensor(b, i), *ta = st_find(a, tb->name);
            CHECK(ta && ta->numel == tb->numel, "%s missing or mis-sized in the output", tb->name);
            if (!ta || ta->numel != tb->numel) continue;
            float *x = malloc((size_t)ta->numel * 4), *y = malloc((size_t)tb->numel * 4);
            st_tensor_to_f32(ta, x, &st);
            st_tensor_to_f32(tb, y, &st);
            double d = 0;
            for (int64_t j = 0; j < ta->numel; j++) d += ((double)x[j] - y[j]) * ((double)x[j] - y[j]);
            d = sqrt(d);
            double nb = norm_f(y, tb->numel);
            int is_grad = !strncmp(tb->name, "grad.", 5);
            double tol = is_grad ? 1e-4 * nb + 1e-6 * gall : 1e-5 * nb;
            CHECK(d <= tol, "%s: |a-b| %.3e > %.3e", tb->name, d, tol);
            free(x);
            free(y);
        }
    }
    st_close(a);
    st_close(b);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "rm");
}

static void test_forward_idefics3(void) { forward_matches("idefics3"); }
static void test_forward_text(void) { forward_matches("text_llama"); }

static void test_summary_and_errors(void) {
    char cmd[8192], text[16384];
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s/tests/golden/models/llava_siglip_qwen2/hf' 2>&1", vlmc_bin(), golden_src());
    CHECK(run_cmd(cmd, text, sizeof text) == 0, "%s", text);
    CHECK(strstr(text, "tied embeddings") && strstr(text, "vision_tower.head.probe") && strstr(text, "(unused)"), "summary: %s", text);
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s/tests/golden/models/idefics3/hf' --forward /nonexistent.safetensors 2>&1", vlmc_bin(), golden_src());
    CHECK(run_cmd(cmd, text, sizeof text) == 2, "--forward without --out is a usage error: %s", text);
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s/tests/golden/models/idefics3/hf' --forward /nonexistent.safetensors --out /tmp/x.st 2>&1", vlmc_bin(), golden_src());
    CHECK(run_cmd(cmd, text, sizeof text) == 1 && strstr(text, "nonexistent"), "missing inputs file: %s", text);
    /* the idefics3 inputs have image tokens: a text model must refuse them */
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s/tests/golden/models/text_llama/hf' --forward '%s/tests/golden/models/idefics3/inputs.safetensors' --out /tmp/x.st 2>&1",
             vlmc_bin(), golden_src(), golden_src());
    CHECK(run_cmd(cmd, text, sizeof text) == 1 && strstr(text, "pixel_values"), "pixels to a text model: %s", text);
    snprintf(cmd, sizeof cmd, "'%s' convert 2>&1", vlmc_bin());
    CHECK(run_cmd(cmd, text, sizeof text) == 2, "convert without arguments: %s", text);
}

static void test_convert_join(void) {
    char tmp[] = "/tmp/vlmc_cli_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    char cmd[8192], text[4096];
    snprintf(cmd, sizeof cmd, "'%s' convert --vision '%s/tests/golden/models/vision_siglip/hf' --lm '%s/tests/golden/models/text_llama/hf' '%s/j' --adapter pixel_shuffle_mlp --image-token 250 --dtype bf16 2>&1",
             vlmc_bin(), golden_src(), golden_src(), tmp);
    CHECK(run_cmd(cmd, text, sizeof text) == 0, "%s", text);
    snprintf(cmd, sizeof cmd, "'%s' inspect '%s/j' 2>&1", vlmc_bin(), tmp);
    CHECK(run_cmd(cmd, text, sizeof text) == 0 && strstr(text, "layout: idefics3") && strstr(text, "pixel_shuffle_mlp"), "%s", text);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0, "rm");
}

TEST_MAIN({"forward_idefics3", test_forward_idefics3}, {"forward_text", test_forward_text},
          {"summary_and_errors", test_summary_and_errors}, {"convert_join", test_convert_join})
