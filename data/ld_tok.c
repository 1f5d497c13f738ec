/* data/ld_tok.c — the loader's text codec on top of data/tokenizer.h.
 *
 * encode: tok_encode without specials. render_chat: tok_render_chat with the
 * run's chat format. The image placeholder "<image>" is added as a special
 * token (tok_add_special, before any encoding). bos: what the tokenizer's
 * post-processor puts in front of an empty text (none for GPT-2 style);
 * eos / pad: the first known end-of-text / padding token of the vocabulary. */
#include <stdlib.h>
#include <string.h>

#include "data/loader.h"
#include "data/tokenizer.h"

typedef struct LdTokCtx {
    const Tokenizer *t;
    const char *format;
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
    TokChatOpts o = {.format = c->format, .image_token = image_token, .image_seq_len = image_seq_len};
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

int ld_text_codec(Tokenizer *t, const char *chat_format, int image_seq_len, LdTextCodec *out, VStatus *st) {
    int32_t image = tok_add_special(t, "<image>", st);
    if (image < 0) return st ? st->code : 1;
    LdTokCtx *c = calloc(1, sizeof *c);
    VLMC_ASSERT(c != NULL, "out of memory");
    c->t = t;
    c->format = chat_format ? chat_format : "chatml";
    TokIds e = {0};
    int32_t bos = -1;
    if (tok_encode(t, "", 0, 1, &e, st) == 0 && e.n > 0) bos = e.ids[0];
    tok_ids_free(&e);
    static const char *const eos_names[] = {"<|endoftext|>", "</s>", "<|end_of_text|>", "<|im_end|>", "<|eot_id|>",
                                            "<eos>", NULL};
    static const char *const pad_names[] = {"<pad>", "<|pad|>", "<|finetune_right_pad_id|>", "[PAD]", NULL};
    int32_t eos = first_token(t, eos_names), pad = first_token(t, pad_names);
    *out = (LdTextCodec){.ctx = c, .encode = tk_encode, .render_chat = tk_render, .bos = bos, .eos = eos,
                         .pad = pad >= 0 ? pad : eos, .image_token = image, .image_seq_len = image_seq_len,
                         .hash = tok_hash(t)};
    return 0;
}

void ld_text_codec_free(LdTextCodec *tc) {
    free(tc->ctx);
    tc->ctx = NULL;
}
