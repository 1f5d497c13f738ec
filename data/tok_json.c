/* data/tok_json.c — loads a Hugging Face tokenizer.json into a Tokenizer.
 *
 * Reads model (BPE only: vocab, merges as "a b" strings or ["a","b"] pairs,
 * unk_token, byte_fallback, fuse_unk, ignore_merges), added_tokens,
 * normalizer, pre_tokenizer, decoder and post_processor. Every error names
 * the file and the JSON field ("model.merges[12]"). The tokenizer's identity
 * (tok_hash) is FNV-1a 64 over the file bytes, then over every token added at
 * run time (tok_add_special), so ids from a grown tokenizer differ in hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "data/tok_internal.h"

typedef struct Ld { const char *name; VStatus *st; } Ld;

static int fail_(VStatus *st, int code) { (void)st; (void)code; return -1; }
#define FAIL(L, ...) fail_((L)->st, vs_set((L)->st, VS_EINVAL, __VA_ARGS__))

/* Allocation failure while loading is treated like everywhere in the tokenizer: a panic
 * (there is no sensible recovery from running out of memory for a vocabulary). */
static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    VLMC_ASSERT(p != NULL, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    VLMC_ASSERT(d != NULL, "out of memory");
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

int tok_vocab_push(Tokenizer *t, const char *s, size_t n, int32_t id, VStatus *st) {
    if (id < 0 || id > (1 << 28)) return vs_set(st, VS_EINVAL, "token id %d out of range", id);
    if (id >= t->cap_ids) {
        int32_t c = t->cap_ids ? t->cap_ids : 1024;
        while (c <= id) c *= 2;
        char **tk = realloc(t->tok, (size_t)c * sizeof *tk);
        uint32_t *tl = realloc(t->toklen, (size_t)c * sizeof *tl);
        uint8_t *sp = realloc(t->is_special, (size_t)c);
        VLMC_ASSERT(tk && tl && sp, "out of memory");
        for (int32_t i = t->cap_ids; i < c; i++) { tk[i] = NULL; tl[i] = 0; sp[i] = 0; }
        t->tok = tk; t->toklen = tl; t->is_special = sp; t->cap_ids = c;
        t->vocab.str = t->all.str = tk;
        t->vocab.len = t->all.len = tl;
    }
    if (t->tok[id]) return 1;   /* already present (e.g. an added token also in the model vocab) */
    t->tok[id] = dupn(s, n);
    t->toklen[id] = (uint32_t)n;
    if (id >= t->n_ids) t->n_ids = id + 1;
    return 0;
}

static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}
static int jbool(json_t *o, const char *key, int dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* A {"String": s} or {"Regex": r} pattern: literal (pat) or compiled regex (re). */
static int parse_pattern(Ld *L, json_t *o, const char *field, char **pat, size_t *patlen, pcre2_code **re) {
    json_t *p = json_object_get(o, "pattern");
    json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
    if (json_is_string(s)) {
        *pat = dupn(json_string_value(s), json_string_length(s));
        *patlen = json_string_length(s);
        return 0;
    }
    if (json_is_string(r)) {
        char f[256];
        snprintf(f, sizeof f, "%s: %s.pattern.Regex", L->name, field);
        *re = tok_regex_compile(json_string_value(r), json_string_length(r), f, L->st);
        return *re ? 0 : -1;
    }
    return FAIL(L, "%s: %s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", L->name, field);
}

static int parse_norm(Ld *L, json_t *o, const char *field, TokNorm *n) {
    const char *type = jstr(o, "type");
    if (!type) return FAIL(L, "%s: %s.type: missing", L->name, field);
    static const struct { const char *name; int kind; } kinds[] = {
        {"NFC", TN_NFC}, {"NFD", TN_NFD}, {"NFKC", TN_NFKC}, {"NFKD", TN_NFKD}, {"Lowercase", TN_LOWER},
        {"Replace", TN_REPLACE}, {"Prepend", TN_PREPEND}, {"Strip", TN_STRIP}, {"Sequence", TN_SEQ}};
    n->kind = -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(type, kinds[i].name)) n->kind = kinds[i].kind;
    if (n->kind < 0) return (vs_set(L->st, VS_EUNSUP, "%s: %s.type: unsupported normalizer '%s'", L->name, field, type), -1);
    if (n->kind == TN_REPLACE) {
        const char *c = jstr(o, "content");
        if (!c) return FAIL(L, "%s: %s.content: missing", L->name, field);
        n->content = dupn(c, strlen(c));
        n->contentlen = strlen(c);
        return parse_pattern(L, o, field, &n->pat, &n->patlen, &n->re);
    }
    if (n->kind == TN_PREPEND) {
        const char *c = jstr(o, "prepend");
        if (!c) return FAIL(L, "%s: %s.prepend: missing", L->name, field);
        n->content = dupn(c, strlen(c));
        n->contentlen = strlen(c);
    }
    if (n->kind == TN_STRIP) {
        n->strip_left = jbool(o, "strip_left", 1);
        n->strip_right = jbool(o, "strip_right", 1);
    }
    if (n->kind == TN_SEQ) {
        json_t *a = json_object_get(o, "normalizers");
        if (!json_is_array(a)) return FAIL(L, "%s: %s.normalizers: expected an array", L->name, field);
        n->nsub = json_array_size(a);
        n->sub = xcalloc(n->nsub + 1, sizeof *n->sub);
        for (size_t i = 0; i < n->nsub; i++) {
            char f[200];
            snprintf(f, sizeof f, "%s.normalizers[%zu]", field, i);
            if (parse_norm(L, json_array_get(a, i), f, &n->sub[i])) return -1;
        }
    }
    return 0;
}

static int parse_scheme(Ld *L, json_t *o, const char *field) {
    const char *s = jstr(o, "prepend_scheme");
    if (!s) return jbool(o, "add_prefix_space", 1) ? TPS_ALWAYS : TPS_NEVER;   /* older files */
    if (!strcmp(s, "always")) return TPS_ALWAYS;
    if (!strcmp(s, "first")) return TPS_FIRST;
    if (!strcmp(s, "never")) return TPS_NEVER;
    return FAIL(L, "%s: %s.prepend_scheme: unknown '%s'", L->name, field, s) - 1;
}

static int parse_repl(Ld *L, json_t *o, const char *field, char *repl, int *repl_len) {
    const char *r = jstr(o, "replacement");
    if (!r) r = "\xE2\x96\x81";   /* ▁ */
    int n = 0;
    if (!*r || (size_t)tok_u8len((unsigned char)r[0]) != strlen(r) || tok_u8valid(r, strlen(r)) != strlen(r))
        return FAIL(L, "%s: %s.replacement: expected one character", L->name, field);
    n = (int)strlen(r);
    memcpy(repl, r, (size_t)n);
    *repl_len = n;
    return 0;
}

static int parse_pre(Ld *L, json_t *o, const char *field, TokPre *p) {
    const char *type = jstr(o, "type");
    if (!type) return FAIL(L, "%s: %s.type: missing", L->name, field);
    char f[256];
    if (!strcmp(type, "ByteLevel")) {
        p->kind = TP_BYTELEVEL;
        p->add_prefix_space = jbool(o, "add_prefix_space", 1);
        p->use_regex = jbool(o, "use_regex", 1);
        if (p->use_regex) {
            static const char gpt2[] =
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
            snprintf(f, sizeof f, "%s: %s (GPT-2 pattern)", L->name, field);
            if (!(p->re = tok_regex_compile(gpt2, sizeof gpt2 - 1, f, L->st))) return -1;
        }
        return 0;
    }
    if (!strcmp(type, "Split")) {
        p->kind = TP_SPLIT;
        p->matcher = TM_REGEX;
        char *lit = NULL;
        size_t litlen = 0;
        if (parse_pattern(L, o, field, &lit, &litlen, &p->re)) return -1;
        if (lit) {   /* a literal string splits like its escaped regex: ASCII punctuation escaped */
            char *esc = xcalloc(litlen * 2 + 1, 1);
            size_t k = 0;
            for (size_t i = 0; i < litlen; i++) {
                unsigned char ch = (unsigned char)lit[i];
                if (ch < 0x80 && !((ch | 32) >= 'a' && (ch | 32) <= 'z') && !(ch >= '0' && ch <= '9')) esc[k++] = '\\';
                esc[k++] = (char)ch;
            }
            free(lit);
            snprintf(f, sizeof f, "%s: %s.pattern.String", L->name, field);
            p->re = tok_regex_compile(esc, k, f, L->st);
            free(esc);
            if (!p->re) return -1;
        }
        const char *b = jstr(o, "behavior");
        static const char *bs[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        p->behavior = -1;
        for (int i = 0; b && i < 5; i++)
            if (!strcmp(b, bs[i])) p->behavior = i;
        if (p->behavior < 0) return FAIL(L, "%s: %s.behavior: unknown '%s'", L->name, field, b ? b : "(missing)");
        p->invert = jbool(o, "invert", 0);
        return 0;
    }
    if (!strcmp(type, "Digits")) {
        p->kind = TP_SPLIT;
        p->matcher = TM_DIGIT;
        p->behavior = jbool(o, "individual_digits", 0) ? TS_ISOLATED : TS_CONTIGUOUS;
        return 0;
    }
    if (!strcmp(type, "Whitespace") || !strcmp(type, "WhitespaceSplit")) {
        int ws = !strcmp(type, "Whitespace");
        p->kind = TP_SPLIT;
        p->matcher = TM_REGEX;
        p->behavior = TS_REMOVED;
        p->invert = ws;   /* Whitespace keeps \w+|[^\w\s]+; WhitespaceSplit removes whitespace */
        /* Rust regex classes (Whitespace uses the regex crate): \w = Alphabetic + marks + Nd + Pc +
         * Join_Control, \s = White_Space; spelled out because PCRE2's \w differs */
        const char *re = ws ? "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]+"
                              "|[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}\\p{White_Space}]+"
                            : "\\p{White_Space}";
        snprintf(f, sizeof f, "%s: %s", L->name, field);
        return (p->re = tok_regex_compile(re, strlen(re), f, L->st)) ? 0 : -1;
    }
    if (!strcmp(type, "Metaspace")) {
        p->kind = TP_METASPACE;
        if (parse_repl(L, o, field, p->repl, &p->repl_len)) return -1;
        if ((p->prepend_scheme = parse_scheme(L, o, field)) < 0) return -1;
        p->split = jbool(o, "split", 1);
        return 0;
    }
    if (!strcmp(type, "Sequence")) {
        p->kind = TP_SEQ;
        json_t *a = json_object_get(o, "pretokenizers");
        if (!json_is_array(a)) return FAIL(L, "%s: %s.pretokenizers: expected an array", L->name, field);
        p->nsub = json_array_size(a);
        p->sub = xcalloc(p->nsub + 1, sizeof *p->sub);
        for (size_t i = 0; i < p->nsub; i++) {
            snprintf(f, sizeof f, "%s.pretokenizers[%zu]", field, i);
            if (parse_pre(L, json_array_get(a, i), f, &p->sub[i])) return -1;
        }
        return 0;
    }
    p->kind = -1;
    return (vs_set(L->st, VS_EUNSUP, "%s: %s.type: unsupported pre-tokenizer '%s'", L->name, field, type), -1);
}

static int parse_dec(Ld *L, json_t *o, const char *field, TokDec *d) {
    const char *type = jstr(o, "type");
    if (!type) return FAIL(L, "%s: %s.type: missing", L->name, field);
    if (!strcmp(type, "ByteLevel")) d->kind = TD_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d->kind = TD_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d->kind = TD_FUSE;
    else if (!strcmp(type, "Metaspace")) {
        d->kind = TD_METASPACE;
        if (parse_repl(L, o, field, d->repl, &d->repl_len)) return -1;
        if ((d->prepend_scheme = parse_scheme(L, o, field)) < 0) return -1;
    } else if (!strcmp(type, "Replace")) {
        d->kind = TD_REPLACE;
        pcre2_code *re = NULL;
        if (parse_pattern(L, o, field, &d->pat, &d->patlen, &re)) return -1;
        if (re) {
            pcre2_code_free(re);
            return (vs_set(L->st, VS_EUNSUP, "%s: %s.pattern: Regex in a Replace decoder is not supported",
                           L->name, field), -1);
        }
        const char *c = jstr(o, "content");
        if (!c) return FAIL(L, "%s: %s.content: missing", L->name, field);
        d->content = dupn(c, strlen(c));
        d->contentlen = strlen(c);
    } else if (!strcmp(type, "Strip")) {
        d->kind = TD_STRIP;
        const char *c = jstr(o, "content");
        int len = 0;
        if (!c || !*c) return FAIL(L, "%s: %s.content: missing", L->name, field);
        d->strip_ch = tok_u8dec(c, &len);
        d->start = (int)json_integer_value(json_object_get(o, "start"));
        d->stop = (int)json_integer_value(json_object_get(o, "stop"));
    } else if (!strcmp(type, "Sequence")) {
        d->kind = TD_SEQ;
        json_t *a = json_object_get(o, "decoders");
        if (!json_is_array(a)) return FAIL(L, "%s: %s.decoders: expected an array", L->name, field);
        d->nsub = json_array_size(a);
        d->sub = xcalloc(d->nsub + 1, sizeof *d->sub);
        for (size_t i = 0; i < d->nsub; i++) {
            char f[200];
            snprintf(f, sizeof f, "%s.decoders[%zu]", field, i);
            if (parse_dec(L, json_array_get(a, i), f, &d->sub[i])) return -1;
        }
    } else {
        d->kind = -1;
        return (vs_set(L->st, VS_EUNSUP, "%s: %s.type: unsupported decoder '%s'", L->name, field, type), -1);
    }
    return 0;
}

/* Post-processors: only the ids they put around a single sequence matter here. */
static int parse_post(Ld *L, Tokenizer *t, json_t *o, const char *field) {
    const char *type = jstr(o, "type");
    if (!type) return FAIL(L, "%s: %s.type: missing", L->name, field);
    if (!strcmp(type, "ByteLevel")) return 0;   /* offsets only */
    if (!strcmp(type, "Sequence")) {
        json_t *a = json_object_get(o, "processors");
        if (!json_is_array(a)) return FAIL(L, "%s: %s.processors: expected an array", L->name, field);
        for (size_t i = 0; i < json_array_size(a); i++) {
            char f[200];
            snprintf(f, sizeof f, "%s.processors[%zu]", field, i);
            if (parse_post(L, t, json_array_get(a, i), f)) return -1;
        }
        return 0;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        json_t *cls = json_object_get(o, "cls"), *sep = json_object_get(o, "sep");
        if (!json_is_integer(json_array_get(cls, 1)) || !json_is_integer(json_array_get(sep, 1)))
            return FAIL(L, "%s: %s.cls/sep: expected [token, id]", L->name, field);
        tok_ids_push(&t->prefix, (int32_t)json_integer_value(json_array_get(cls, 1)));
        tok_ids_push(&t->suffix, (int32_t)json_integer_value(json_array_get(sep, 1)));
        return 0;
    }
    if (strcmp(type, "TemplateProcessing"))
        return (vs_set(L->st, VS_EUNSUP, "%s: %s.type: unsupported post-processor '%s'", L->name, field, type), -1);
    json_t *single = json_object_get(o, "single"), *sp = json_object_get(o, "special_tokens");
    if (!json_is_array(single)) return FAIL(L, "%s: %s.single: expected an array", L->name, field);
    int seen_seq = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *it = json_array_get(single, i);
        if (json_object_get(it, "Sequence")) { seen_seq = 1; continue; }
        const char *id = jstr(json_object_get(it, "SpecialToken"), "id");
        if (!id) return FAIL(L, "%s: %s.single[%zu]: expected Sequence or SpecialToken", L->name, field, i);
        json_t *ids = json_object_get(json_object_get(sp, id), "ids");
        if (!json_is_array(ids))
            return FAIL(L, "%s: %s.special_tokens: '%s' missing or without ids", L->name, field, id);
        for (size_t k = 0; k < json_array_size(ids); k++)
            tok_ids_push(seen_seq ? &t->suffix : &t->prefix, (int32_t)json_integer_value(json_array_get(ids, k)));
    }
    return 0;
}

static int parse_model(Ld *L, Tokenizer *t, json_t *m) {
    if (!json_is_object(m)) return FAIL(L, "%s: model: missing", L->name);
    const char *type = jstr(m, "type");
    json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges");
    if (type && strcmp(type, "BPE"))
        return (vs_set(L->st, VS_EUNSUP, "%s: model.type: unsupported model '%s' (only BPE)", L->name, type), -1);
    if (!type && !json_is_array(merges))
        return FAIL(L, "%s: model.type: missing (and no merges to recognise BPE)", L->name);
    if (!json_is_object(vocab)) return FAIL(L, "%s: model.vocab: expected an object", L->name);
    if (!json_is_array(merges)) return FAIL(L, "%s: model.merges: expected an array", L->name);
    if (jstr(m, "continuing_subword_prefix") || jstr(m, "end_of_word_suffix"))
        return (vs_set(L->st, VS_EUNSUP, "%s: model.continuing_subword_prefix/end_of_word_suffix: not supported",
                        L->name), -1);
    json_t *dr = json_object_get(m, "dropout");
    if (json_is_number(dr) && json_number_value(dr) > 0)
        return (vs_set(L->st, VS_EUNSUP, "%s: model.dropout: BPE dropout is not supported", L->name), -1);
    size_t nv = json_object_size(vocab);
    if (tok_strmap_init(&t->vocab, nv, NULL, NULL) || tok_pairmap_init(&t->merges, json_array_size(merges)))
        return (vs_set(L->st, VS_ENOMEM, "%s: out of memory", L->name), -1);
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(vocab, key, klen, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return FAIL(L, "%s: model.vocab['%s']: expected a non-negative integer id", L->name, key);
        int32_t id = (int32_t)json_integer_value(v);
        int r = tok_vocab_push(t, key, klen, id, L->st);
        if (r < 0) return -1;
        if (r == 1) return FAIL(L, "%s: model.vocab['%s']: id %d used twice", L->name, key, id);
        tok_strmap_put(&t->vocab, id);
    }
    t->vocab.str = t->tok;
    t->vocab.len = t->toklen;
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *e = json_array_get(merges, i);
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(e)) {   /* "a b" */
            a = json_string_value(e);
            const char *sp = memchr(a, ' ', json_string_length(e));
            if (!sp || memchr(sp + 1, ' ', json_string_length(e) - (size_t)(sp + 1 - a)))
                return FAIL(L, "%s: model.merges[%zu]: '%s' is not two tokens separated by one space", L->name, i, a);
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = json_string_length(e) - la - 1;
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            a = json_string_value(json_array_get(e, 0));
            la = json_string_length(json_array_get(e, 0));
            b = json_string_value(json_array_get(e, 1));
            lb = json_string_length(json_array_get(e, 1));
        } else {
            return FAIL(L, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", L->name, i);
        }
        int32_t ia = tok_strmap_get(&t->vocab, a, la), ib = tok_strmap_get(&t->vocab, b, lb);
        if (ia < 0) return FAIL(L, "%s: model.merges[%zu]: token '%.*s' is not in model.vocab", L->name, i, (int)la, a);
        if (ib < 0) return FAIL(L, "%s: model.merges[%zu]: token '%.*s' is not in model.vocab", L->name, i, (int)lb, b);
        char *ab = xcalloc(la + lb + 1, 1);
        memcpy(ab, a, la);
        memcpy(ab + la, b, lb);
        int32_t iab = tok_strmap_get(&t->vocab, ab, la + lb);
        if (iab < 0) {
            vs_set(L->st, VS_EINVAL, "%s: model.merges[%zu]: merged token '%.*s' is not in model.vocab", L->name, i,
                   (int)(la + lb), ab);
            free(ab);
            return -1;
        }
        free(ab);
        tok_pairmap_put(&t->merges, ia, ib, (int32_t)i, iab);
    }
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    t->fuse_unk = jbool(m, "fuse_unk", 0);
    t->ignore_merges = jbool(m, "ignore_merges", 0);
    t->unk_id = -1;
    const char *unk = jstr(m, "unk_token");
    if (unk && (t->unk_id = tok_strmap_get(&t->vocab, unk, strlen(unk))) < 0)
        return FAIL(L, "%s: model.unk_token: '%s' is not in model.vocab", L->name, unk);
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = tok_strmap_get(&t->vocab, s, 6);
    }
    return 0;
}

static int parse_added(Ld *L, Tokenizer *t, json_t *a) {
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a)) return FAIL(L, "%s: added_tokens: expected an array", L->name);
    t->added = xcalloc(json_array_size(a) + 1, sizeof *t->added);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        json_t *c = json_object_get(e, "content"), *id = json_object_get(e, "id");
        if (!json_is_string(c) || !json_is_integer(id))
            return FAIL(L, "%s: added_tokens[%zu]: needs a string content and an integer id", L->name, i);
        TokAdded *ad = &t->added[t->n_added++];
        ad->content = dupn(json_string_value(c), json_string_length(c));
        ad->len = (uint32_t)json_string_length(c);
        ad->id = (int32_t)json_integer_value(id);
        ad->special = jbool(e, "special", 0);
        ad->lstrip = jbool(e, "lstrip", 0);
        ad->rstrip = jbool(e, "rstrip", 0);
        ad->single_word = jbool(e, "single_word", 0);
        ad->normalized = jbool(e, "normalized", !ad->special);
        if (ad->len == 0) return FAIL(L, "%s: added_tokens[%zu].content: empty", L->name, i);
        if (tok_vocab_push(t, ad->content, ad->len, ad->id, L->st) < 0) return -1;
        if (t->toklen[ad->id] != ad->len || memcmp(t->tok[ad->id], ad->content, ad->len))
            return FAIL(L, "%s: added_tokens[%zu]: id %d is '%s' in model.vocab", L->name, i, ad->id, t->tok[ad->id]);
        if (ad->special) t->is_special[ad->id] |= 1;
    }
    return 0;
}

int tok_rebuild_all(Tokenizer *t);
int tok_rebuild_all(Tokenizer *t) {
    tok_strmap_free(&t->all);
    if (tok_strmap_init(&t->all, (size_t)t->n_ids + 1024, t->tok, t->toklen)) return -1;
    for (size_t i = 0; i < t->n_added; i++) tok_strmap_put(&t->all, t->added[i].id);   /* added tokens win */
    for (int32_t id = 0; id < t->n_ids; id++)
        if (t->tok[id]) tok_strmap_put(&t->all, id);
    return 0;
}

static int load_root(Ld *L, Tokenizer *t, json_t *root) {
    if (!json_is_object(root)) return FAIL(L, "%s: top level: expected an object", L->name);
    if (parse_model(L, t, json_object_get(root, "model"))) return -1;
    if (parse_added(L, t, json_object_get(root, "added_tokens"))) return -1;
    json_t *n = json_object_get(root, "normalizer"), *p = json_object_get(root, "pre_tokenizer");
    json_t *d = json_object_get(root, "decoder"), *pp = json_object_get(root, "post_processor");
    if (n && !json_is_null(n) && parse_norm(L, n, "normalizer", t->norm = xcalloc(1, sizeof *t->norm))) return -1;
    if (p && !json_is_null(p) && parse_pre(L, p, "pre_tokenizer", t->pre = xcalloc(1, sizeof *t->pre))) return -1;
    if (d && !json_is_null(d) && parse_dec(L, d, "decoder", t->dec = xcalloc(1, sizeof *t->dec))) return -1;
    if (pp && !json_is_null(pp) && parse_post(L, t, pp, "post_processor")) return -1;
    for (size_t i = 0; i < t->prefix.n + t->suffix.n; i++) {
        int32_t id = i < t->prefix.n ? t->prefix.ids[i] : t->suffix.ids[i - t->prefix.n];
        if (id < 0 || id >= t->n_ids || !t->tok[id])
            return FAIL(L, "%s: post_processor: special token id %d is not in the vocabulary", L->name, id);
    }
    /* ids may have holes (tokenizers allows them): tok[id] stays NULL, decode skips such ids */
    t->cp_id = xcalloc(TOK_CP_FAST, sizeof *t->cp_id);
    for (int32_t cp = 0; cp < TOK_CP_FAST; cp++) {
        char s[4];
        int k = tok_u8enc(cp, s);
        t->cp_id[cp] = tok_strmap_get(&t->vocab, s, (size_t)k);
    }
    if (tok_rebuild_all(t)) return (vs_set(L->st, VS_ENOMEM, "%s: out of memory", L->name), -1);
    tok_added_reindex(t);
    return 0;
}

Tokenizer *tok_load_json(const char *json, size_t len, const char *name, VStatus *st) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->pool_mu, NULL);
    t->name = dupn(name ? name : "tokenizer.json", strlen(name ? name : "tokenizer.json"));
    t->hash = tok_fnv1a(json, len, TOK_FNV_INIT);
    t->unk_id = -1;
    Ld L = {t->name, st};
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &err);
    if (!root) {
        vs_set(st, VS_EINVAL, "%s: invalid JSON at line %d column %d: %s", t->name, err.line, err.column, err.text);
        tok_free(t);
        return NULL;
    }
    int rc = load_root(&L, t, root);
    json_decref(root);
    if (rc) {
        tok_free(t);
        return NULL;
    }
    return t;
}

Tokenizer *tok_load(const char *path, VStatus *st) {
    FILE *f = fopen(path, "rb");
    if (!f) return vs_set(st, VS_EIO, "%s: cannot open", path), NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, cap);
            if (!b) { free(buf); fclose(f); return vs_set(st, VS_ENOMEM, "%s: out of memory", path), NULL; }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { free(buf); return vs_set(st, VS_EIO, "%s: read error", path), NULL; }
    Tokenizer *t = tok_load_json(buf, n, path, st);
    free(buf);
    return t;
}

void tok_free(Tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; i < t->npool; i++) tok_ctx_free(t->pool[i]);
    free(t->pool);
    pthread_mutex_destroy(&t->pool_mu);
    for (int32_t i = 0; i < t->cap_ids; i++) free(t->tok[i]);
    free(t->tok);
    free(t->toklen);
    free(t->is_special);
    tok_strmap_free(&t->vocab);
    tok_strmap_free(&t->all);
    tok_pairmap_free(&t->merges);
    free(t->cp_id);
    if (t->norm) { tok_norm_free(t->norm); free(t->norm); }
    if (t->pre) { tok_pre_free(t->pre); free(t->pre); }
    if (t->dec) { tok_dec_free(t->dec); free(t->dec); }
    tok_ids_free(&t->prefix);
    tok_ids_free(&t->suffix);
    for (size_t i = 0; i < t->n_added; i++) { free(t->added[i].content); free(t->added[i].ncontent); }
    free(t->added);
    if (t->word_re) pcre2_code_free(t->word_re);
    free(t->abkt[0]);
    free(t->abkt[1]);
    free(t->name);
    free(t);
}

int32_t tok_vocab_size(const Tokenizer *t) { return t->n_ids; }
uint64_t tok_hash(const Tokenizer *t) { return t->hash; }

int32_t tok_token_id(const Tokenizer *t, const char *token) {
    return tok_strmap_get(&t->all, token, strlen(token));
}

const char *tok_id_token(const Tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->tok[id] : NULL;
}

int32_t tok_add_special(Tokenizer *t, const char *token, VStatus *st) {
    size_t n = strlen(token);
    if (!n || tok_u8valid(token, n) != n) return vs_set(st, VS_EINVAL, "tok_add_special: empty or invalid UTF-8 token"), -1;
    int32_t id = tok_strmap_get(&t->all, token, n);
    for (size_t i = 0; id >= 0 && i < t->n_added; i++)
        if (t->added[i].id == id) return id;   /* already an added token */
    if (id < 0) {
        id = t->n_ids;
        if (tok_vocab_push(t, token, n, id, st) < 0) return -1;
    }
    TokAdded *a = realloc(t->added, (t->n_added + 1) * sizeof *a);
    VLMC_ASSERT(a != NULL, "out of memory");
    t->added = a;
    t->added[t->n_added++] = (TokAdded){dupn(token, n), (uint32_t)n, NULL, 0, id, 1, 0, 0, 0, 0};
    t->is_special[id] |= 1;
    t->hash = tok_fnv1a(token, n + 1, t->hash);   /* identity covers run-time additions */
    if (tok_rebuild_all(t)) return vs_set(st, VS_ENOMEM, "out of memory"), -1;
    tok_added_reindex(t);
    return id;
}
