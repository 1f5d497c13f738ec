/* tests/data/test_tok.c — the C tokenizer against Python `tokenizers` goldens
 * (tests/golden/make_tokenizers.py): every id of every line of a 1 MB test
 * corpus (not used for training) for five tokenizer families, decode output,
 * and edge cases. Tolerance: none — ids and decoded text must be identical.
 * Corpus lines are checked through a 64-bit FNV-1a of their ids (a mismatch in
 * any id changes the hash) plus the exact token count. */
#include <jansson.h>
#include <string.h>

#include "data/tokenizer.h"
#include "test.h"
#include "tok_golden.h"

static const char *families[] = {"gpt2", "llama3", "qwen2", "llama2", "mistral"};

static Tokenizer *load_family(const char *fam) {
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/golden/tok/%s.json", fam);
    VStatus st = {0};
    Tokenizer *t = tok_load(tg_path(rel, path, sizeof path), &st);
    CHECK(t != NULL, "%s: %s", fam, st.msg);
    return t;
}

static void check_corpus(const char *fam, int roundtrip) {
    Tokenizer *t = load_family(fam);
    size_t nc = 0, nb = 0;
    char rel[256];
    char *corpus = tg_read("tests/golden/tok/corpus.txt", &nc);
    size_t ni = 0;
    char *idx = tg_read("tests/golden/tok/corpus.idx", &ni);
    snprintf(rel, sizeof rel, "tests/golden/tok/%s.lines.bin", fam);
    unsigned char *bin = (unsigned char *)tg_read(rel, &nb);
    CHECK(corpus && bin && idx && t, "%s: goldens missing", fam);
    if (!corpus || !bin || !idx || !t) { free(corpus); free(bin); free(idx); tok_free(t); return; }
    TokIds ids = {0};
    size_t line = 0, bad = 0, ntok = 0;
    VStatus st = {0};
    for (size_t a = 0; a < nc; line++) {
        CHECK((line + 1) * 20 <= nb && (line + 1) * 4 <= ni, "%s: more corpus lines than goldens", fam);
        if ((line + 1) * 20 > nb || (line + 1) * 4 > ni) break;
        uint32_t rlen;
        memcpy(&rlen, idx + 4 * line, 4);
        size_t b = a + rlen;
        CHECK(b <= nc, "corpus.idx overruns corpus.txt");
        if (b > nc) break;
        uint32_t want_n;
        uint64_t want_h, want_d;
        memcpy(&want_n, bin + line * 20, 4);
        memcpy(&want_h, bin + line * 20 + 4, 8);
        memcpy(&want_d, bin + line * 20 + 12, 8);
        ids.n = 0;
        int rc = tok_encode(t, corpus + a, b - a, 1, &ids, &st);
        CHECK(rc == 0, "%s line %zu: %s", fam, line, st.msg);
        uint64_t h = tg_fnv(ids.ids, ids.n * 4);
        ntok += ids.n;
        char *dec = tok_decode(t, ids.ids, ids.n, 0, &st);
        CHECK(dec != NULL, "%s: %s", fam, st.msg);
        uint64_t hd = dec ? tg_fnv(dec, strlen(dec)) : 0;
        if (ids.n != want_n || h != want_h || hd != want_d) {
            if (bad++ < 5)
                fprintf(stderr, "%s line %zu: %zu tokens (want %u)%s%s: %.*s", fam, line, ids.n, want_n,
                        h != want_h ? " ids differ" : "", hd != want_d ? " decode differs" : "", (int)(b - a),
                        corpus + a);
        }
        /* lossless byte-level families: decode(encode(x)) == x, unless an lstrip/rstrip token ate spaces */
        if (roundtrip && dec && !memmem(corpus + a, b - a, "<mask>", 6) && !memmem(corpus + a, b - a, "[R]", 3)) {
            ids.n = 0;
            tok_encode(t, corpus + a, b - a, 0, &ids, &st);
            char *d2 = tok_decode(t, ids.ids, ids.n, 0, &st);
            CHECK(d2 && strlen(d2) == b - a && memcmp(d2, corpus + a, b - a) == 0, "%s line %zu: round trip", fam, line);
            free(d2);
        }
        free(dec);
        a = b;
    }
    CHECK(line * 20 == nb, "%s: %zu lines, goldens have %zu", fam, line, nb / 20);
    CHECK(bad == 0, "%s: %zu of %zu lines differ from tokenizers", fam, bad, line);
    printf("%s: %zu lines, %zu tokens, %zu mismatches, hash %016llx\n", fam, line, ntok, bad,
           (unsigned long long)tok_hash(t));
    tok_ids_free(&ids);
    free(corpus);
    free(idx);
    free(bin);
    tok_free(t);
}

static int ids_equal(json_t *arr, const TokIds *ids) {
    if (json_array_size(arr) != ids->n) return 0;
    for (size_t i = 0; i < ids->n; i++)
        if (json_integer_value(json_array_get(arr, i)) != ids->ids[i]) return 0;
    return 1;
}

static void check_edge(const char *fam) {
    Tokenizer *t = load_family(fam);
    char rel[256], path[4096];
    snprintf(rel, sizeof rel, "tests/golden/tok/%s.edge.json", fam);
    json_error_t err;
    json_t *cases = json_load_file(tg_path(rel, path, sizeof path), JSON_ALLOW_NUL, &err);
    CHECK(cases && t, "%s: %s", fam, err.text);
    if (!cases || !t) { json_decref(cases); tok_free(t); return; }
    VStatus st = {0};
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        json_t *text = json_object_get(c, "text");
        const char *s = json_string_value(text);
        size_t n = json_string_length(text);
        for (int sp = 1; sp >= 0; sp--) {
            TokIds ids = {0};
            CHECK(tok_encode(t, s, n, sp, &ids, &st) == 0, "%s: %s", fam, st.msg);
            json_t *want_ids = json_object_get(c, sp ? "ids" : "ids_nospecial");
            if (json_is_null(want_ids)) want_ids = json_object_get(c, "ids");   /* null: same as ids */
            CHECK(ids_equal(want_ids, &ids), "%s edge %zu (special=%d): '%.60s'", fam, i, sp, s);
            if (sp)
                for (int skip = 0; skip < 2; skip++) {
                    size_t dlen = 0;
                    char *d = tok_decode_len(t, ids.ids, ids.n, skip, &dlen, &st);
                    json_t *want = json_object_get(c, skip ? "decoded_skip" : "decoded");
                    if (skip && json_is_null(want)) want = json_object_get(c, "decoded");   /* null: as before */
                    if (json_is_null(want)) want = text;
                    /* full length: decoded text may hold a NUL */
                    CHECK(d && dlen == json_string_length(want) && !memcmp(d, json_string_value(want), dlen),
                          "%s edge %zu decode(skip=%d): got '%.60s' want '%.60s'", fam, i, skip, d ? d : "(null)",
                          json_string_value(want));
                    free(d);
                }
            tok_ids_free(&ids);
        }
    }
    json_decref(cases);
    tok_free(t);
}

static void test_gpt2(void) { check_corpus("gpt2", 1); check_edge("gpt2"); }
static void test_llama3(void) { check_corpus("llama3", 1); check_edge("llama3"); }
static void test_qwen2(void) { check_corpus("qwen2", 0); check_edge("qwen2"); }
static void test_llama2(void) { check_corpus("llama2", 0); check_edge("llama2"); }
static void test_mistral(void) { check_corpus("mistral", 0); check_edge("mistral"); }

/* Other components on the same models: NFKC/NFD/NFKD, Lowercase, Strip, regex
 * Replace, Digits, WhitespaceSplit, Whitespace, literal and inverted Split with
 * every delimiter behaviour, Metaspace(split, always). */
static void test_variants(void) {
    static const char *v[] = {"var_a", "var_b", "var_c", "var_d"};
    for (int i = 0; i < 4; i++) {
        check_corpus(v[i], 0);
        check_edge(v[i]);
    }
}

/* Batch encoding over threads gives the same ids as one-by-one encoding. */
static void test_batch(void) {
    Tokenizer *t = load_family(families[1]);
    size_t nc = 0;
    char *corpus = tg_read("tests/golden/tok/corpus.txt", &nc);
    if (!t || !corpus) { free(corpus); tok_free(t); CHECK(0, "missing"); return; }
    enum { N = 400 };
    const char *texts[N];
    size_t lens[N];
    size_t a = 0, n = 0;
    while (n < N && a < nc) {
        const char *e = memchr(corpus + a, '\n', nc - a);   /* any cut of the corpus will do here */
        size_t b = e ? (size_t)(e - corpus) + 1 : nc;
        texts[n] = corpus + a;
        lens[n++] = b - a;
        a = b;
    }
    TokIds outs[N];
    memset(outs, 0, sizeof outs);
    VStatus st = {0};
    CHECK(tok_encode_batch(t, texts, lens, n, 1, outs, 4, &st) == 0, "%s", st.msg);
    for (size_t i = 0; i < n; i++) {
        TokIds one = {0};
        tok_encode(t, texts[i], lens[i], 1, &one, &st);
        CHECK(one.n == outs[i].n && !memcmp(one.ids, outs[i].ids, one.n * 4), "batch text %zu differs", i);
        tok_ids_free(&one);
        tok_ids_free(&outs[i]);
    }
    /* invalid UTF-8 in one text fails the batch and names it */
    const char *bad[2] = {"ok", "\xff bad"};
    size_t bl[2] = {2, 5};
    TokIds bo[2] = {{0}, {0}};
    CHECK(tok_encode_batch(t, bad, bl, 2, 0, bo, 2, &st) != 0 && strstr(st.msg, "text 1") && strstr(st.msg, "UTF-8"),
          "got: %s", st.msg);
    tok_ids_free(&bo[0]);
    tok_ids_free(&bo[1]);
    free(corpus);
    tok_free(t);
}

TEST_MAIN({"gpt2", test_gpt2}, {"llama3", test_llama3}, {"qwen2", test_qwen2}, {"llama2", test_llama2},
          {"mistral", test_mistral}, {"variants", test_variants}, {"batch", test_batch})
