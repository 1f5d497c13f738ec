/* tests/data/test_tok_chat.c — chat formats against transformers'
 * apply_chat_template on the models' own Jinja templates
 * (tests/golden/make_chat_goldens.py): ids and the assistant-token mask must
 * be identical (no tolerance) for every rendering: multi-turn, with and
 * without a system prompt, with images, with add_generation_prompt, and
 * with place tags before each image placeholder (ld_add_image_specials adds
 * them as the golden script adds them to the Hugging Face tokenizer). */
#include <jansson.h>
#include <string.h>

#include "data/loader.h"
#include "data/tokenizer.h"
#include "test.h"
#include "tok_golden.h"

static void test_goldens(void) {
    char path[4096];
    json_error_t err;
    json_t *cases = json_load_file(tg_path("tests/golden/tok/chat.json", path, sizeof path), 0, &err);
    CHECK(cases != NULL, "chat.json: %s", err.text);
    if (!cases) return;
    VStatus st = {0};
    size_t nok = 0, ntag = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *fam = json_string_value(json_object_get(c, "family"));
        const char *fmt = json_string_value(json_object_get(c, "format"));
        char rel[256];
        snprintf(rel, sizeof rel, "tests/golden/tok/%s.json", fam);
        Tokenizer *t = tok_load(tg_path(rel, path, sizeof path), &st);
        CHECK(t != NULL, "%s", st.msg);
        if (!t) continue;
        json_t *jm = json_object_get(c, "messages");
        size_t n = json_array_size(jm);
        TokMessage msgs[16];
        size_t ats[16][8];
        for (size_t k = 0; k < n && k < 16; k++) {
            json_t *m = json_array_get(jm, k);
            json_t *ja = json_object_get(m, "image_ats"); /* several markers: one offset per image */
            msgs[k].image_ats = NULL;
            if (json_is_array(ja) && json_array_size(ja) <= 8) {
                for (size_t a = 0; a < json_array_size(ja); a++)
                    ats[k][a] = (size_t)json_integer_value(json_array_get(ja, a));
                msgs[k].image_ats = ats[k];
            }
            const char *role = json_string_value(json_object_get(m, "role"));
            msgs[k].role = !strcmp(role, "system") ? TOK_SYSTEM : !strcmp(role, "user") ? TOK_USER : TOK_ASSISTANT;
            msgs[k].text = json_string_value(json_object_get(m, "text"));
            msgs[k].n_images = (int)json_integer_value(json_object_get(m, "n_images"));
            msgs[k].image_at = (size_t)json_integer_value(json_object_get(m, "image_at"));
        }
        int side = (int)json_integer_value(json_object_get(c, "image_tags"));
        char names[16][32];
        const char *tags[16];
        if (side) {
            CHECK(side * side <= 16, "case %zu: %d tags", i, side * side);
            CHECK(ld_add_image_specials(t, side * side, side, &st) == 0, "case %zu: %s", i, st.msg);
            for (int k = 0; k < side * side && k < 16; k++) tags[k] = ld_grid_tag(k, side, names[k], 32);
        }
        TokChatOpts o = {.format = fmt, .image_token = tok_token_id(t, "<image>"), .image_tags = side ? tags : NULL,
                         .image_seq_len = (int)json_integer_value(json_object_get(c, "image_seq_len")),
                         .add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
                         /* llava_v1: NULL exercises the built-in vicuna prompt */
                         .default_system = strcmp(fmt, "chatml") ? NULL
                                                                 : json_string_value(json_object_get(c, "default_system"))};
        TokIds ids = {0}, mask = {0};
        int rc = tok_render_chat(t, &o, msgs, n, &ids, &mask, &st);
        CHECK(rc == 0, "case %zu: %s", i, st.msg);
        json_t *wi = json_object_get(c, "ids"), *wm = json_object_get(c, "mask");
        int same = ids.n == json_array_size(wi) && mask.n == ids.n;
        for (size_t k = 0; same && k < ids.n; k++)
            same = ids.ids[k] == json_integer_value(json_array_get(wi, k)) &&
                   mask.ids[k] == json_integer_value(json_array_get(wm, k));
        CHECK(same, "case %zu (%s on %s, conv %d, agp %d, tags %d): %zu ids (want %zu); rendered: %s", i, fmt, fam,
              (int)json_integer_value(json_object_get(c, "conv")), o.add_generation_prompt, side, ids.n,
              json_array_size(wi), json_string_value(json_object_get(c, "rendered")));
        if (!same)
            for (size_t k = 0; k < ids.n && k < json_array_size(wi); k++)
                if (ids.ids[k] != json_integer_value(json_array_get(wi, k)) ||
                    mask.ids[k] != json_integer_value(json_array_get(wm, k))) {
                    fprintf(stderr, "  first difference at token %zu: id %d mask %d, want id %lld mask %lld\n", k,
                            ids.ids[k], mask.ids[k], json_integer_value(json_array_get(wi, k)),
                            json_integer_value(json_array_get(wm, k)));
                    break;
                }
        nok += same;
        ntag += same && side;
        tok_ids_free(&ids);
        tok_ids_free(&mask);
        tok_free(t);
    }
    printf("%zu of %zu renderings identical (%zu with place tags)\n", nok, json_array_size(cases), ntag);
    CHECK(ntag >= 10, "only %zu tagged renderings", ntag);
    json_decref(cases);
}

/* Bad requests are refused with a message naming the problem. */
static void test_errors(void) {
    char path[4096];
    VStatus st = {0};
    Tokenizer *t = tok_load(tg_path("tests/golden/tok/gpt2.json", path, sizeof path), &st);
    CHECK(t != NULL, "%s", st.msg);
    if (!t) return;
    TokMessage m[2] = {{TOK_USER, "hi", 1, 0, NULL}, {TOK_SYSTEM, "late", 0, 0, NULL}};
    TokIds ids = {0}, mask = {0};
    TokChatOpts o = {.format = "nope"};
    CHECK(tok_render_chat(t, &o, m, 1, &ids, &mask, &st) != 0 && strstr(st.msg, "'nope' unknown"), "%s", st.msg);
    o.format = "llama3";   /* gpt2 family has no <|start_header_id|> */
    CHECK(tok_render_chat(t, &o, m, 1, &ids, &mask, &st) != 0 && strstr(st.msg, "<|begin_of_text|>"), "%s", st.msg);
    o.format = "chatml";
    o.image_token = -5;
    CHECK(tok_render_chat(t, &o, m, 1, &ids, &mask, &st) != 0 && strstr(st.msg, "image_token"), "%s", st.msg);
    m[0].n_images = 0;
    CHECK(tok_render_chat(t, &o, m, 2, &ids, &mask, &st) != 0 && strstr(st.msg, "system message"), "%s", st.msg);
    /* a run-time special token: added once, matched whole, changes the identity hash */
    uint64_t h0 = tok_hash(t);
    int32_t id = tok_add_special(t, "<|endofchunk|>", &st);
    CHECK(id == tok_vocab_size(t) - 1, "new id %d", id);
    CHECK(tok_add_special(t, "<|endofchunk|>", &st) == id, "adding twice");
    CHECK(tok_hash(t) != h0, "hash must change when the vocabulary grows");
    TokIds e = {0};
    CHECK(tok_encode(t, "a<|endofchunk|>b", 16, 0, &e, &st) == 0 && e.n == 3 && e.ids[1] == id, "n=%zu", e.n);
    tok_ids_free(&e);
    tok_ids_free(&ids);
    tok_ids_free(&mask);
    tok_free(t);
}

TEST_MAIN({"goldens", test_goldens}, {"errors", test_errors})
