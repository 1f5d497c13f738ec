/* model/cmd_inspect_model.c — `vlmc inspect MODEL_DIR [--forward INPUTS.safetensors
 * --out OUT.safetensors] [--threads N]`.
 *
 * Without --forward: loads the checkpoint (Hugging Face or vlmc, same layout)
 * and prints its configuration and parameter table. With --forward: runs one
 * forward on INPUTS (input_ids, optional pixel_values and labels; see
 * model/parity.h) and writes logits, loss and every parameter's gradient
 * under the Hugging Face names, for comparison with transformers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "model/hf.h"
#include "model/model_cli.h"
#include "model/parity.h"

static const char usage[] =
    "usage: vlmc inspect MODEL_DIR [--forward INPUTS.safetensors --out OUT.safetensors] [--threads N]\n"
    "  Loads a Hugging Face (LLaVA, Idefics3, Llama, Qwen2) or vlmc checkpoint directory.\n"
    "  Without --forward: prints its configuration and parameter table.\n"
    "  --forward: runs input_ids / pixel_values (/ labels: then also the backward) and\n"
    "  writes logits, loss and grad.<name> for every parameter to OUT.\n";

static void print_summary(const Vlm *m) {
    const VlmConfig *c = &m->cfg;
    static const char *lay[] = {"llava", "idefics3", "text"};
    static const char *ad[] = {"linear", "mlp", "pixel_shuffle_mlp"};
    printf("layout: %s\n", lay[c->layout]);
    if (c->has_vision) {
        const VisionConfig *v = &c->vis;
        printf("vision: %s hidden %d, %d layers (%d run), %d heads, image %d px, patch %d, feature layer %d%s%s\n",
               v->kind == VIS_CLIP ? "clip" : "siglip", v->hidden, v->layers, mcfg_vision_layers_run(v), v->heads,
               v->image_size, v->patch_size, v->feature_layer, v->kind == VIS_CLIP ? (v->keep_cls ? ", CLS kept" : ", CLS dropped") : "",
               v->post_norm ? ", post_layernorm" : "");
        printf("adapter: %s%s, %d tokens per image, image token id %d\n", ad[c->adapter.kind],
               c->adapter.kind == ADAPT_PIXEL_SHUFFLE_MLP ? " (r from scale_factor)" : "", mcfg_tokens_per_image(c),
               c->image_token_id);
    }
    const LlmConfig *l = &c->llm;
    printf("llm: %s vocab %d, hidden %d, %d layers, heads %d/%d kv, head_dim %d, ffn %d, rope theta %g%s%s%s\n",
           l->arch_qwen2 ? "qwen2" : "llama", l->vocab, l->hidden, l->layers, l->heads, l->kv_heads, l->head_dim,
           l->intermediate, l->rope.theta, l->rope.scaling == ROPE_LLAMA3 ? " (llama3 scaling)" : "",
           l->qkv_bias ? ", qkv bias" : "", l->tied ? ", tied embeddings" : "");
    int64_t per[COMP__COUNT] = {0};
    for (int i = 0; i < m->pt.n; i++) {
        const Param *p = &m->pt.p[i];
        per[p->comp] += p->numel;
        char shp[64] = "";
        for (int d = 0; d < p->ndim; d++) snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", d ? "," : "", (long long)p->shape[d]);
        printf("  %-8s %-64s [%s]%s\n", pt_comp_name(p->comp), p->name, shp, p->unused ? "  (unused)" : "");
    }
    printf("parameters: encoder %lld, adapter %lld, llm %lld, total %lld\n", (long long)per[0], (long long)per[1],
           (long long)per[2], (long long)m->pt.total);
}

int model_inspect_dir_main(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return CLI_OK; }
    const char *dir = NULL, *inputs = NULL, *out = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--forward") && i + 1 < argc) inputs = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (argv[i][0] == '-') return cli_usage_error("inspect", usage, "unknown or incomplete option %s", argv[i]);
        else if (!dir) dir = argv[i];
        else return cli_usage_error("inspect", usage, "unexpected argument %s", argv[i]);
    }
    if (!dir) return cli_usage_error("inspect", usage, "missing MODEL_DIR");
    if ((inputs != NULL) != (out != NULL)) return cli_usage_error("inspect", usage, "--forward and --out go together");
    VStatus st = {0};
    BackendOptions bo = {.name = "cpu", .threads = threads};
    Backend *be = be_create(&bo, &st);
    if (!be) { fprintf(stderr, "vlmc inspect: %s\n", st.msg); return CLI_FAIL; }
    Vlm m;
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    if (hf_load(&m, dir, be, &lo, &st)) {
        fprintf(stderr, "vlmc inspect: %s\n", st.msg);
        be_destroy(be);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (!inputs) {
        print_summary(&m);
    } else {
        ParityOut o;
        if (parity_run(&m, inputs, &o, &st) || parity_write(&m, &o, out, &st)) {
            fprintf(stderr, "vlmc inspect: %s\n", st.msg);
            rc = CLI_FAIL;
        } else {
            if (o.has_loss) printf("loss %.8f\n", o.loss);
            printf("wrote %s (logits (%lld, %lld, %lld)%s)\n", out, (long long)o.B, (long long)o.T, (long long)o.V,
                   o.has_loss ? ", loss, gradients" : "");
        }
        parity_free(&m, &o);
    }
    vlm_free(&m);
    be_destroy(be);
    return rc;
}
