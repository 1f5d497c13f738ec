/* data/ld_tok.c — the loader's text codec on top of data/tokenizer.h.
 *
 * encode: tok_encode without specials. render_chat: tok_render_chat with the
 * run's chat format. The image placeholder "<image>" is added as a special
 * token (tok_add_special, before any encoding). bos: what the tokenizer's
 * post-processor puts in front of an empty text (none for GPT-2 style);
 * eos / pad: the first known end-of-text / padding token of the vocabulary.
 * Tagged codecs render each placeholder after its tag text (encoded alone:
 * the run's layout is checked token by token when a chat render is parsed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"
#include "data/tokenizer.h"

typedef struct LdTokCtx {
    const Tokenizer *t;
    const char *format;
    char **tags;              /* NULL, or image_seq_len texts */
    int32_t *tag_ids, *tag_off;
} LdTokCtx;

static int tk_encode(void *ctx, const char *text, size_t len, LdIds *out, VStatus *st) {
    const LdTokCtx *c = ctx;
    TokIds ids = {0};
    int rc = tok_encode(c->t, text, len, 0, &ids, st);
    if (!rc) ld_ids_append(out, ids.ids, ids.n);
    tok_ids_free(&ids);
    return rc;
}

static int tk_render(void *ctx, const LdChatMsg *m, size_t n, int32_t image_token, int image_seq_len, LdIds *ids,
                     LdIds *mask, VStatus *st) {
    const LdTokCtx *c = ctx;
    TokMessage *tm = calloc(n ? n : 1, sizeof *tm);
    VLMC_ASSERT(tm != NULL, "out of memory");
    static const TokRole roles[3] = {TOK_SYSTEM, TOK_USER, TOK_ASSISTANT};
    for (size_t i = 0; i < n; i++)
        tm[i] = (TokMessage){roles[m[i].role], m[i].text, m[i].n_images, m[i].image_at, m[i].image_ats};
    TokChatOpts o = {.format = c->format, .image_token = image_token, .image_seq_len = image_seq_len,
                     .image_tags = (const char *const *)c->tags};
    TokIds ti = {0}, tmask = {0};
    int rc = tok_render_chat(c->t, &o, tm, n, &ti, &tmask, st);
    if (!rc) {
        ld_ids_append(ids, ti.ids, ti.n);
        ld_ids_append(mask, tmask.ids, tmask.n);
    }
    tok_ids_free(&ti);
    tok_ids_free(&tmask);
    free(tm);
    return rc;
}

static int32_t first_token(const Tokenizer *t, const char *const *names) {
    for (; *names; names++) {
        int32_t id = tok_token_id(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

const char *ld_grid_tag(int k, int side, char *buf, size_t cap) {
    snprintf(buf, cap, "<row_%d_col_%d>", k / side + 1, k % side + 1);
    return buf;
}

int ld_add_image_specials(Tokenizer *t, int image_seq_len, int tag_side, VStatus *st) {
    if (tok_add_special(t, "<image>", st) < 0) return st ? st->code : 1;
    if (tag_side <= 0) return 0;
    if (tag_side * tag_side != image_seq_len)
        return vs_set(st, VS_EINVAL, "image tags: %d tokens per image are not a %d x %d grid", image_seq_len, tag_side,
                      tag_side);
    for (int k = 0; k < image_seq_len; k++) {
        char name[48];
        if (tok_add_special(t, ld_grid_tag(k, tag_side, name, sizeof name), st) < 0) return st ? st->code : 1;
    }
    return 0;
}

static void ctx_free(LdTokCtx *c) {
    if (!c) return;
    for (int k = 0; c->tags && c->tags[k]; k++) free(c->tags[k]);
    free(c->tags);
    free(c->tag_ids);
    free(c->tag_off);
    free(c);
}

/* Encodes each tag alone (specials recognised, as in the rendered text). */
static int encode_tags(LdTokCtx *c, const char *const *tags, int n, int32_t image, VStatus *st) {
    c->tags = calloc((size_t)n + 1, sizeof *c->tags);
    c->tag_off = calloc((size_t)n + 1, sizeof *c->tag_off);
    VLMC_ASSERT(c->tags && c->tag_off, "out of memory");
    TokIds all = {0};
    int rc = 0;
    for (int k = 0; k < n && !rc; k++) {
        if (!tags[k] || !tags[k][0]) {
            rc = vs_set(st, VS_EINVAL, "image tag %d is empty", k);
            break;
        }
        c->tags[k] = strdup(tags[k]);
        VLMC_ASSERT(c->tags[k], "out of memory");
        size_t before = all.n;
        if ((rc = tok_encode(c->t, tags[k], strlen(tags[k]), 0, &all, st))) break;
        for (size_t j = before; j < all.n; j++)
            if (all.ids[j] == image) rc = vs_set(st, VS_EINVAL, "image tag %d ('%s') holds the image token", k, tags[k]);
        c->tag_off[k + 1] = (int32_t)all.n;
    }
    c->tag_ids = malloc((all.n ? all.n : 1) * sizeof *c->tag_ids);
    VLMC_ASSERT(c->tag_ids, "out of memory");
    if (all.n) memcpy(c->tag_ids, all.ids, all.n * sizeof *c->tag_ids);
    tok_ids_free(&all);
    return rc;
}

int ld_text_codec_tagged(Tokenizer *t, const char *chat_format, int image_seq_len, const char *const *tags,
                         LdTextCodec *out, VStatus *st) {
    if (tok_add_special(t, "<image>", st) < 0) return st ? st->code : 1;
    int32_t image = tok_token_id(t, "<image>");
    LdTokCtx *c = calloc(1, sizeof *c);
    VLMC_ASSERT(c != NULL, "out of memory");
    c->t = t;
    c->format = chat_format ? chat_format : "chatml";
    if (tags && encode_tags(c, tags, image_seq_len, image, st)) {
        ctx_free(c);
        return st ? st->code : 1;
    }
    TokIds e = {0};
    int32_t bos = -1;
    if (tok_encode(t, "", 0, 1, &e, st) == 0 && e.n > 0) bos = e.ids[0];
    tok_ids_free(&e);
    static const char *const eos_names[] = {"<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>", "<|eot_id|>",
                                            "<eos>", NULL};
    static const char *const pad_names[] = {"<pad>", "<|pad|>", "<|finetune_right_pad_id|>", "[PAD]", NULL};
    int32_t eos = first_token(t, eos_names), pad = first_token(t, pad_names);
    /* a tagged layout is another sample format: shards tokenized without it (or with other tags) must not match */
    uint64_t h = tok_hash(t);
    for (int k = 0; tags && k < c->tag_off[image_seq_len]; k++)
        h = (h ^ (uint64_t)(uint32_t)c->tag_ids[k]) * 0x100000001B3ull;
    if (tags) h ^= 0x7461677300000000ull ^ ((uint64_t)image_seq_len << 8);
    *out = (LdTextCodec){.ctx = c, .encode = tk_encode, .render_chat = tk_render, .bos = bos, .eos = eos,
                         .pad = pad >= 0 ? pad : eos, .image_token = image, .image_seq_len = image_seq_len,
                         .tag_ids = tags ? c->tag_ids : NULL, .tag_off = tags ? c->tag_off : NULL, .hash = h};
    return 0;
}

int ld_text_codec(Tokenizer *t, const char *chat_format, int image_seq_len, LdTextCodec *out, VStatus *st) {
    return ld_text_codec_tagged(t, chat_format, image_seq_len, NULL, out, st);
}

void ld_text_codec_free(LdTextCodec *tc) {
    ctx_free(tc->ctx);
    tc->tag_ids = tc->tag_off = NULL;
    tc->ctx = NULL;
}
