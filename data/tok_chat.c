/* data/tok_chat.c — chat templates as named formats (no Jinja engine).
 *
 * Each format renders the text the model's own Jinja template renders, and
 * records the byte spans a {% generation %} block would cover (the assistant
 * text plus its end token). The text is tokenized in one piece with per-token
 * original offsets; a token is masked when it overlaps a span — the rule
 * transformers' apply_chat_template(return_assistant_tokens_mask=True) uses. */
#include <string.h>

#include "data/tok_internal.h"

static const char VICUNA_SYSTEM[] =
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions.";

typedef struct Render {
    TokBuf b;
    TokIds gs, ge;   /* generation spans [gs, ge) in bytes */
} Render;

static void put(Render *r, const char *s) { tb_put(&r->b, s, strlen(s), 0); }
static void putn(Render *r, const char *s, size_t n) { tb_put(&r->b, s, n, 0); }
static void gen_begin(Render *r) { tok_ids_push(&r->gs, (int32_t)r->b.n); }
static void gen_end(Render *r) { tok_ids_push(&r->ge, (int32_t)r->b.n); }

static const char *role_name(TokRole r) {
    return r == TOK_SYSTEM ? "system" : r == TOK_USER ? "user" : "assistant";
}

/* Jinja's trim filter is Python's str.strip(): Unicode whitespace, plus \x1c-\x1f. */
static int py_space(int32_t cp) { return tok_is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

/* Message content: the text with the image runs (user messages only, each
 * followed by a newline) at byte image_at; trimmed for llama3. "plain" (LLaVA
 * stage 1) renders a user message as its images alone. */
static void put_content(Render *r, const Tokenizer *t, const TokChatOpts *o, const TokMessage *m, int trim) {
    size_t start = r->b.n;
    const char *text = m->text ? m->text : "";
    int plain = !strcmp(o->format, "plain");
    const size_t len = strlen(text);
    size_t done = 0; /* bytes of text rendered so far */
    if (m->role == TOK_USER && m->n_images > 0) {
        const char *img = tok_id_token(t, o->image_token);
        for (int i = 0; i < m->n_images; i++) {
            size_t at = plain ? 0 : m->image_ats ? m->image_ats[i] : m->image_at;
            if (at > len) at = len;
            if (at < done) at = done;
            putn(r, text + done, at - done);
            done = at;
            for (int k = 0; k < o->image_seq_len; k++) {
                if (o->image_tags) put(r, o->image_tags[k]);
                put(r, img);
            }
            if (!plain) put(r, "\n");
        }
    }
    if (!plain || m->role != TOK_USER) put(r, text + done);
    if (!trim) return;
    size_t a = start, e = r->b.n;
    while (a < e) {
        int len;
        if (!py_space(tok_u8dec(r->b.s + a, &len))) break;
        a += (size_t)len;
    }
    while (e > a) {
        size_t p = e - 1;
        while (p > a && ((unsigned char)r->b.s[p] & 0xC0) == 0x80) p--;
        int len;
        if (!py_space(tok_u8dec(r->b.s + p, &len))) break;
        e = p;
    }
    memmove(r->b.s + start, r->b.s + a, e - a);
    r->b.n = start + (e - a);
}

static void render_chatml(Render *r, const Tokenizer *t, const TokChatOpts *o, const TokMessage *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i == 0 && m[0].role != TOK_SYSTEM && o->default_system) {
            put(r, "<|im_start|>system\n");
            put(r, o->default_system);
            put(r, "<|im_end|>\n");
        }
        put(r, "<|im_start|>");
        put(r, role_name(m[i].role));
        put(r, "\n");
        if (m[i].role == TOK_ASSISTANT) gen_begin(r);
        put_content(r, t, o, &m[i], 0);
        put(r, "<|im_end|>");
        if (m[i].role == TOK_ASSISTANT) gen_end(r);
        put(r, "\n");
    }
    if (o->add_generation_prompt) put(r, "<|im_start|>assistant\n");
}

static void render_llama3(Render *r, const Tokenizer *t, const TokChatOpts *o, const TokMessage *m, size_t n) {
    int sys = n > 0 && m[0].role == TOK_SYSTEM;
    if (!sys && o->default_system) {   /* Llama 3's template injects none; honour an explicit one */
        TokMessage s = {TOK_SYSTEM, o->default_system, 0, 0, NULL};
        put(r, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n");
        put_content(r, t, o, &s, 1);
        put(r, "<|eot_id|>");
    }
    for (size_t i = 0; i < n; i++) {
        if (i == 0 && (sys || !o->default_system)) put(r, "<|begin_of_text|>");
        put(r, "<|start_header_id|>");
        put(r, role_name(m[i].role));
        put(r, "<|end_header_id|>\n\n");
        if (m[i].role == TOK_ASSISTANT) gen_begin(r);
        put_content(r, t, o, &m[i], 1);
        put(r, "<|eot_id|>");
        if (m[i].role == TOK_ASSISTANT) gen_end(r);
    }
    if (o->add_generation_prompt) put(r, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void render_llava(Render *r, const Tokenizer *t, const TokChatOpts *o, const TokMessage *m, size_t n) {
    size_t i = 0;
    put(r, "<s>");
    if (n > 0 && m[0].role == TOK_SYSTEM) {
        put(r, m[0].text ? m[0].text : "");
        i = 1;
    } else {
        put(r, o->default_system ? o->default_system : VICUNA_SYSTEM);
    }
    put(r, " ");
    for (; i < n; i++) {
        if (m[i].role == TOK_USER) {
            put(r, "USER: ");
            put_content(r, t, o, &m[i], 0);
            put(r, " ");
        } else {
            put(r, "ASSISTANT: ");
            gen_begin(r);
            put_content(r, t, o, &m[i], 0);
            put(r, "</s>");
            gen_end(r);
        }
    }
    if (o->add_generation_prompt) put(r, "ASSISTANT:");
}

static void render_plain(Render *r, const Tokenizer *t, const TokChatOpts *o, const TokMessage *m, size_t n) {
    put(r, "<s>");
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == TOK_USER) put_content(r, t, o, &m[i], 0);
        if (m[i].role == TOK_ASSISTANT) {
            gen_begin(r);
            put_content(r, t, o, &m[i], 0);
            putn(r, "\n", 1);
            gen_end(r);
        }
    }
}

typedef void (*RenderFn)(Render *, const Tokenizer *, const TokChatOpts *, const TokMessage *, size_t);
static const struct { const char *name; RenderFn fn; const char *needs[4]; } formats[] = {
    {"chatml", render_chatml, {"<|im_start|>", "<|im_end|>"}},
    {"llama3", render_llama3, {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}},
    {"llava_v1", render_llava, {"<s>", "</s>"}},
    {"plain", render_plain, {"<s>"}},
};

int tok_render_chat(const Tokenizer *t, const TokChatOpts *o, const TokMessage *msgs, size_t n, TokIds *ids,
                    TokIds *mask, VStatus *st) {
    int f = -1;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (o->format && !strcmp(o->format, formats[i].name)) f = (int)i;
    if (f < 0)
        return vs_set(st, VS_EINVAL, "chat format '%s' unknown (chatml, llama3, llava_v1, plain)",
                      o->format ? o->format : "(null)");
    for (int k = 0; k < 4 && formats[f].needs[k]; k++)
        if (tok_token_id(t, formats[f].needs[k]) < 0)
            return vs_set(st, VS_EINVAL, "%s: chat format %s needs token '%s', which the tokenizer lacks", t->name,
                          o->format, formats[f].needs[k]);
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].role == TOK_SYSTEM && i > 0)
            return vs_set(st, VS_EINVAL, "chat message %zu: a system message may only come first", i);
        if (msgs[i].role == TOK_USER && msgs[i].n_images > 0 &&
            (o->image_seq_len < 1 || !tok_id_token(t, o->image_token)))
            return vs_set(st, VS_EINVAL, "chat message %zu has images but image_token %d / image_seq_len %d is invalid",
                          i, o->image_token, o->image_seq_len);
    }
    for (int k = 0; o->image_tags && k < o->image_seq_len; k++)
        if (!o->image_tags[k] || !o->image_tags[k][0])
            return vs_set(st, VS_EINVAL, "image tag %d is empty", k);
    Render r = {0};
    formats[f].fn(&r, t, o, msgs, n);
    TokIds starts = {0}, ends = {0};
    size_t first = ids->n;
    int rc = tok_encode_ex(t, r.b.s ? r.b.s : "", r.b.n, 0, ids, &starts, &ends, st);
    if (rc == 0) {
        size_t sp = 0;
        for (size_t k = 0; k < starts.n; k++) {   /* spans and tokens both ascend: one pass */
            while (sp < r.gs.n && starts.ids[k] >= r.ge.ids[sp]) sp++;
            tok_ids_push(mask, sp < r.gs.n && ends.ids[k] > r.gs.ids[sp]);
        }
        VLMC_ASSERT(ids->n - first == starts.n, "offsets out of step with ids");
    }
    tb_free(&r.b);
    tok_ids_free(&r.gs);
    tok_ids_free(&r.ge);
    tok_ids_free(&starts);
    tok_ids_free(&ends);
    return rc;
}
