/* tests/data/test_tok_errors.c — malformed tokenizer.json files and bad
 * input are refused with a message naming the field, never a crash; plus
 * a minimal BPE (two merges, one in each merges form) whose expected ids
 * were checked with the Python tokenizers library. */
#include <string.h>

#include "data/tokenizer.h"
#include "test.h"

#define MODEL "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"abab\": 3}, \"merges\": [\"a b\", [\"ab\", \"ab\"]]}"

static void expect_fail(const char *json, int code, const char *needle) {
    VStatus st = {0};
    Tokenizer *t = tok_load_json(json, strlen(json), "bad.json", &st);
    CHECK(t == NULL, "loaded: %s", json);
    CHECK(st.code == code, "code %d, want %d (%s)", st.code, code, st.msg);
    CHECK(strstr(st.msg, needle) != NULL, "message '%s' lacks '%s'", st.msg, needle);
    CHECK(strstr(st.msg, "bad.json") != NULL, "message '%s' lacks the file name", st.msg);
    tok_free(t);
}

static void test_malformed(void) {
    expect_fail("{}", VS_EINVAL, "model: missing");
    expect_fail("{\"model\": {\"type\": \"Foo\", \"vocab\": {}}}", VS_EUNSUP, "model.type: unsupported model 'Foo'");
    expect_fail("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a c\"]}}", VS_EINVAL,
                "model.merges[0]: token 'c' is not in model.vocab");
    expect_fail("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\", \"a\"]]}}", VS_EINVAL,
                "model.merges[0]: merged token 'aa' is not in model.vocab");
    expect_fail("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", VS_EINVAL,
                "model.merges[0]");
    expect_fail("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                "\"pattern\": {\"Regex\": \"(?<x\"}, \"behavior\": \"Isolated\"}]}}",
                VS_EINVAL, "pre_tokenizer.pretokenizers[0].pattern.Regex: invalid regex");
    expect_fail("{" MODEL ", \"pre_tokenizer\": {\"type\": \"Bogus\"}}", VS_EUNSUP, "pre_tokenizer.type");
    expect_fail("{" MODEL ", \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"[\"}, \"content\": \"x\"}}",
                VS_EINVAL, "normalizer.pattern.Regex");
    expect_fail("{" MODEL ", \"decoder\": {\"type\": \"WordPiece\"}}", VS_EUNSUP, "decoder.type");
    expect_fail("{" MODEL ", \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                "{\"id\": \"<s>\"}}], \"special_tokens\": {}}}",
                VS_EINVAL, "post_processor.special_tokens: '<s>'");
    expect_fail("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}",
                VS_EINVAL, "model.unk_token");
    expect_fail("{\"model\": ", VS_EINVAL, "invalid JSON");
    expect_fail("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", VS_EINVAL,
                "model.vocab['b']: id 0 used twice");
    expect_fail("{" MODEL ", \"added_tokens\": [{\"content\": \"<x>\"}]}", VS_EINVAL, "added_tokens[0]");
    VStatus st = {0};
    CHECK(tok_load("/nonexistent/tokenizer.json", &st) == NULL && st.code == VS_EIO, "%s", st.msg);
}

static void test_minimal(void) {
    const char *json = "{" MODEL "}";
    VStatus st = {0};
    Tokenizer *t = tok_load_json(json, strlen(json), "mini.json", &st);
    CHECK(t != NULL, "%s", st.msg);
    if (!t) return;
    TokIds ids = {0};
    /* "ababa": a b a b a -> ab ab a (rank 0) -> abab a (rank 1) */
    CHECK(tok_encode(t, "ababa", 5, 1, &ids, &st) == 0 && ids.n == 2 && ids.ids[0] == 3 && ids.ids[1] == 0,
          "n=%zu", ids.n);
    /* characters outside the vocabulary without unk or byte_fallback are dropped, and the neighbours
     * then merge: tokenizers 0.23 gives [2] for "axb" (checked by hand with the Python library) */
    ids.n = 0;
    CHECK(tok_encode(t, "axb", 3, 0, &ids, &st) == 0 && ids.n == 1 && ids.ids[0] == 2, "n=%zu", ids.n);
    char *d = tok_decode(t, (const int32_t[]){3, 0}, 2, 0, &st);
    CHECK(d && !strcmp(d, "abab a"), "no decoder joins with spaces: '%s'", d ? d : "");
    free(d);
    CHECK(tok_decode(t, (const int32_t[]){7}, 1, 0, &st) == NULL && strstr(st.msg, "outside the vocabulary"), "%s",
          st.msg);
    CHECK(tok_encode(t, "a\xC3(", 3, 0, &ids, &st) != 0 && strstr(st.msg, "invalid UTF-8 at byte 1"), "%s", st.msg);
    CHECK(tok_token_id(t, "ab") == 2 && tok_token_id(t, "zz") == -1, "token_id");
    CHECK(tok_id_token(t, 3) && !strcmp(tok_id_token(t, 3), "abab") && tok_id_token(t, 4) == NULL, "id_token");
    CHECK(tok_vocab_size(t) == 4, "vocab size %d", tok_vocab_size(t));
    tok_ids_free(&ids);
    tok_free(t);
    /* a hole in the ids (tokenizers accepts it): the id decodes to nothing */
    const char *holes = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 2}, \"merges\": []}}";
    t = tok_load_json(holes, strlen(holes), "holes.json", &st);
    CHECK(t && tok_vocab_size(t) == 3 && tok_id_token(t, 1) == NULL, "%s", st.msg);
    d = t ? tok_decode(t, (const int32_t[]){0, 1, 2}, 3, 0, &st) : NULL;
    CHECK(d && !strcmp(d, "a b"), "'%s'", d ? d : "");
    free(d);
    tok_free(t);
}

/* A Split pattern given as {"String": ...} is literal text, never a regex, even with backslashes and
 * regex metacharacters. Expected ids from the Python tokenizers library for this exact file. */
static void test_literal_split(void) {
    const char *json =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"\\\\\": 2, \"s\": 3, \".\": 4, \"ab\": 5, "
        "\"\\\\s\": 6, \".a\": 7}, \"merges\": [[\".\", \"a\"], [\"a\", \"b\"], [\"\\\\\", \"s\"]]}, "
        "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"String\": \"\\\\s.\"}, \"behavior\": \"Isolated\", "
        "\"invert\": false}}";
    VStatus st = {0};
    Tokenizer *t = tok_load_json(json, strlen(json), "literal.json", &st);
    CHECK(t != NULL, "%s", st.msg);
    if (!t) return;
    TokIds ids = {0};
    CHECK(tok_encode(t, "ab\\s.ab", 7, 0, &ids, &st) == 0 && ids.n == 4 && ids.ids[0] == 5 && ids.ids[1] == 6 &&
              ids.ids[2] == 4 && ids.ids[3] == 5,
          "n=%zu", ids.n);   /* tokenizers: [5, 6, 4, 5] */
    ids.n = 0;
    CHECK(tok_encode(t, "a .ab", 5, 0, &ids, &st) == 0 && ids.n == 3 && ids.ids[0] == 0 && ids.ids[1] == 7 &&
              ids.ids[2] == 1,
          "n=%zu", ids.n);   /* tokenizers: [0, 7, 1]: " ." is not "\\s." */
    tok_ids_free(&ids);
    tok_free(t);
}

/* Regexes follow Oniguruma's Ruby syntax as tokenizers compiles them: ^ and $ anchor at every line,
 * '.' matches \r but not \n. Expected ids from the Python tokenizers library for this exact file. */
static void test_regex_anchors(void) {
    const char *json =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"X\": 0, \"b\": 1, \"\\n\": 2, \"a\": 3, \"Y\": 4, \"Z\": 5, "
        "\"\\r\": 6}, \"merges\": []}, \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Replace\", "
        "\"pattern\": {\"Regex\": \"^a\"}, \"content\": \"X\"}, {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"b$\"}, "
        "\"content\": \"Y\"}, {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"a.b\"}, \"content\": \"Z\"}]}}";
    static const int32_t want[] = {0, 4, 2, 0, 4, 2, 1, 3, 2, 1, 3, 6, 4};
    VStatus st = {0};
    Tokenizer *t = tok_load_json(json, strlen(json), "anchors.json", &st);
    CHECK(t != NULL, "%s", st.msg);
    if (!t) return;
    TokIds ids = {0};
    const char *text = "ab\nab\nba\nb a\rb";
    CHECK(tok_encode(t, text, strlen(text), 0, &ids, &st) == 0 && ids.n == 13 && !memcmp(ids.ids, want, sizeof want),
          "n=%zu", ids.n);
    tok_ids_free(&ids);
    tok_free(t);
}

TEST_MAIN({"malformed", test_malformed}, {"minimal", test_minimal}, {"literal_split", test_literal_split},
          {"regex_anchors", test_regex_anchors})
