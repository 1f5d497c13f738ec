/* model/cmd_convert.c — `vlmc convert`: Hugging Face checkpoints in, Hugging
 * Face layout out (the layout vlmc checkpoints use too).
 *
 *   vlmc convert SRC_DIR DST_DIR [--dtype f32|bf16] [--image-size N]
 *   vlmc convert --vision VDIR --lm LDIR DST_DIR [--adapter mlp|pixel_shuffle_mlp]
 *                [--scale-factor R] [--feature-layer K] [--keep-cls]
 *                [--image-token ID] [--seed S] [--dtype f32|bf16] [--image-size N]
 *
 * The first form reads a LLaVA (either tensor layout), Idefics3 or text LLM
 * directory (sharded or not, f32/bf16/f16) and writes it back as
 * transformers 5 saves it. The second joins a SigLIP/CLIP vision checkpoint
 * and a Llama/Qwen2 language checkpoint with a freshly initialised adapter
 * (seeded): LLaVA layout for mlp, Idefics3 layout for pixel_shuffle_mlp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "model/hf.h"
#include "model/model_cli.h"

static const char usage[] =
    "usage: vlmc convert SRC_DIR DST_DIR [--dtype f32|bf16] [--image-size N]\n"
    "       vlmc convert --vision VDIR --lm LDIR DST_DIR [--adapter mlp|pixel_shuffle_mlp] [--scale-factor R]\n"
    "                    [--feature-layer K] [--keep-cls] [--image-token ID] [--seed S] [--dtype f32|bf16]\n"
    "  Reads Hugging Face checkpoints (LLaVA, Idefics3, Llama, Qwen2; SigLIP/CLIP vision + LM joined\n"
    "  with a fresh adapter) and writes DST_DIR in the layout transformers saves.\n";

int model_convert_main(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) { fputs(usage, stdout); return CLI_OK; }
    const char *pos[2] = {NULL, NULL}, *vdir = NULL, *ldir = NULL;
    int npos = 0, image_size = 0, feature_layer = -2, keep_cls = 0, image_token = -1, scale = 2;
    uint64_t seed = 1;
    DType dt = DT_F32;
    AdapterConfig ad = {.kind = ADAPT_MLP, .bias = 1, .shuffle = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--vision") && v) { vdir = v; i++; }
        else if (!strcmp(a, "--lm") && v) { ldir = v; i++; }
        else if (!strcmp(a, "--dtype") && v) {
            i++;
            if (!strcmp(v, "f32")) dt = DT_F32;
            else if (!strcmp(v, "bf16")) dt = DT_BF16;
            else return cli_usage_error("convert", usage, "--dtype %s (f32 or bf16)", v);
        } else if (!strcmp(a, "--image-size") && v) { image_size = atoi(v); i++; }
        else if (!strcmp(a, "--feature-layer") && v) { feature_layer = atoi(v); i++; }
        else if (!strcmp(a, "--keep-cls")) keep_cls = 1;
        else if (!strcmp(a, "--image-token") && v) { image_token = atoi(v); i++; }
        else if (!strcmp(a, "--scale-factor") && v) { scale = atoi(v); i++; }
        else if (!strcmp(a, "--seed") && v) { seed = strtoull(v, NULL, 10); i++; }
        else if (!strcmp(a, "--adapter") && v) {
            i++;
            if (!strcmp(v, "mlp")) ad.kind = ADAPT_MLP;
            else if (!strcmp(v, "pixel_shuffle_mlp")) ad.kind = ADAPT_PIXEL_SHUFFLE_MLP;
            else return cli_usage_error("convert", usage, "--adapter %s (mlp, pixel_shuffle_mlp; linear has no Hugging Face layout)", v);
        } else if (a[0] == '-') return cli_usage_error("convert", usage, "unknown or incomplete option %s", a);
        else if (npos < 2) pos[npos++] = a;
        else return cli_usage_error("convert", usage, "unexpected argument %s", a);
    }
    int pair = vdir || ldir;
    if (pair && (!vdir || !ldir)) return cli_usage_error("convert", usage, "--vision and --lm go together");
    if (pair ? npos != 1 : npos != 2) return cli_usage_error("convert", usage, "expected %s", pair ? "DST_DIR" : "SRC_DIR DST_DIR");
    ad.shuffle = scale;
    VStatus st = {0};
    BackendOptions bo = {.name = "cpu"};
    Backend *be = be_create(&bo, &st);
    if (!be) { fprintf(stderr, "vlmc convert: %s\n", st.msg); return CLI_FAIL; }
    Vlm m;
    HfLoadOpts lo;
    memset(&lo, 0, sizeof lo);
    for (int k = 0; k < COMP__COUNT; k++) lo.frozen[k] = 1;   /* no gradients needed */
    lo.image_size = image_size;
    int rc = pair ? hf_load_pair(&m, vdir, ldir, &ad, feature_layer, keep_cls, image_token, seed, be, &lo, &st)
                  : hf_load(&m, pos[0], be, &lo, &st);
    if (rc) {
        fprintf(stderr, "vlmc convert: %s\n", st.msg);
        be_destroy(be);
        return CLI_FAIL;
    }
    const char *dst = pair ? pos[0] : pos[1];
    if (pair && image_token < 0) fprintf(stderr, "vlmc convert: warning: no --image-token given; config has image token id -1\n");
    rc = hf_save(&m, dst, dt, &st);
    if (rc) fprintf(stderr, "vlmc convert: %s\n", st.msg);
    else printf("wrote %s (%d tensors, %lld parameters)\n", dst, m.pt.n, (long long)m.pt.total);
    vlm_free(&m);
    be_destroy(be);
    return rc ? CLI_FAIL : CLI_OK;
}
