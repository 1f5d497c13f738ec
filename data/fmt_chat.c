/* data/fmt_chat.c — the `sft` and `dpo` regimes (chat-templated).
 *
 * sft: LLaVA/ShareGPT {"conversations": [{"from": human|gpt|system, "value":
 *      "...<image>..."}]} or OpenAI {"messages": [{"role": ..., "content":
 *      str | [{"type": "text", "text"}, {"type": "image"|"image_url", ...}]}]}.
 *      "<image>" markers (and one newline after each) are cut from the text
 *      and become that message's images, each rendered where its marker
 *      stood (as a Hugging Face processor expands each in place); an image
 *      content part counts as a marker where it stands among the text parts
 *      (as the models' chat templates render it); images of a record with no
 *      marker go before the first user message's text.
 *      Text-only records are fine. Loss on assistant turns (the template's
 *      mask).
 * dpo: TRL {"prompt", "chosen", "rejected"} as strings or message lists, plus
 *      "images". Two sequences: template(prompt + chosen) and
 *      template(prompt + rejected); both repeat the prompt and use the same
 *      images. Loss on the response. */
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"

#define MAX_MSGS 256

typedef struct Conv {
    LdChatMsg m[MAX_MSGS];
    char *own[MAX_MSGS];
    int n;
    int n_img_marks;
    size_t at_pool[LD_MAX_IMAGES];         /* every message's image offsets (image_ats) */
    const char *img_refs[LD_MAX_IMAGES];   /* refs named in content parts (image_url) */
    int n_img_refs;
} Conv;

static void conv_free(Conv *c) {
    for (int i = 0; i < c->n; i++) free(c->own[i]);
    c->n = 0;
}

static int role_of(const char *s, LdRole *r) {
    if (!strcmp(s, "human") || !strcmp(s, "user")) *r = LD_USER;
    else if (!strcmp(s, "gpt") || !strcmp(s, "assistant")) *r = LD_ASSISTANT;
    else if (!strcmp(s, "system")) *r = LD_SYSTEM;
    else return 1;
    return 0;
}

/* Appends a message; text is copied with "<image>" markers (+ one '\n') cut,
 * and the message's images render each where its marker stood. */
static int conv_add(Conv *c, LdRole role, const char *text, VStatus *st) {
    if (c->n == MAX_MSGS) return vs_set(st, VS_EINVAL, "more than %d messages", MAX_MSGS), LD_SKIP_BAD_SAMPLE;
    int marks;
    size_t *ats = c->at_pool + c->n_img_marks;
    char *o = ld_fmt_cut_markers(text, &marks, ats, LD_MAX_IMAGES - c->n_img_marks);
    if (marks > LD_MAX_IMAGES - c->n_img_marks) {
        free(o);
        return vs_set(st, VS_EINVAL, "more than %d images", LD_MAX_IMAGES), LD_SKIP_BAD_SAMPLE;
    }
    c->n_img_marks += marks;
    c->own[c->n] = o;
    c->m[c->n++] = (LdChatMsg){role, o, marks, 0, marks ? ats : NULL};
    return 0;
}

/* One message object: ShareGPT (from/value) or OpenAI (role/content). */
static int conv_add_json(Conv *c, json_t *m, size_t i, VStatus *st) {
    json_t *from = json_object_get(m, "from"), *val = json_object_get(m, "value");
    json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
    LdRole r;
    if (json_is_string(from) && json_is_string(val)) {
        if (role_of(json_string_value(from), &r))
            return vs_set(st, VS_EINVAL, "message %zu: unknown speaker '%s'", i, json_string_value(from)),
                   LD_SKIP_BAD_SAMPLE;
        return conv_add(c, r, json_string_value(val), st);
    }
    if (!json_is_string(role) || role_of(json_string_value(role), &r))
        return vs_set(st, VS_EINVAL, "message %zu: needs from/value or a known role", i), LD_SKIP_BAD_SAMPLE;
    if (json_is_string(content)) return conv_add(c, r, json_string_value(content), st);
    if (!json_is_array(content))
        return vs_set(st, VS_EINVAL, "message %zu: content must be a string or a list of parts", i),
               LD_SKIP_BAD_SAMPLE;
    /* content parts: texts are joined and each image part becomes an "<image>"
     * marker where it stands, as the chat templates render the parts */
    size_t cap = 1;
    for (size_t k = 0; k < json_array_size(content); k++) {
        json_t *t = json_object_get(json_array_get(content, k), "text");
        cap += json_is_string(t) ? strlen(json_string_value(t)) : 7;
    }
    char *text = calloc(cap, 1);
    VLMC_ASSERT(text != NULL, "out of memory");
    for (size_t k = 0; k < json_array_size(content); k++) {
        json_t *p = json_array_get(content, k);
        const char *type = json_string_value(json_object_get(p, "type"));
        if (type && !strcmp(type, "text") && json_is_string(json_object_get(p, "text"))) {
            strcat(text, json_string_value(json_object_get(p, "text")));
        } else if (type && (!strcmp(type, "image") || !strcmp(type, "image_url"))) {
            json_t *url = json_object_get(json_object_get(p, "image_url"), "url");
            if (!url) url = json_object_get(p, "image");
            if (json_is_string(url) && c->n_img_refs < LD_MAX_IMAGES)
                c->img_refs[c->n_img_refs++] = json_string_value(url);
            strcat(text, "<image>");
        } else {
            free(text);
            return vs_set(st, VS_EINVAL, "message %zu part %zu: unknown type", i, k), LD_SKIP_BAD_SAMPLE;
        }
    }
    int rc = conv_add(c, r, text, st);
    free(text);
    return rc;
}

static int conv_add_list(Conv *c, json_t *list, VStatus *st) {
    for (size_t i = 0; i < json_array_size(list); i++) {
        int rc = conv_add_json(c, json_array_get(list, i), i, st);
        if (rc) return rc;
    }
    return 0;
}

/* Loads the images (content-part refs first, else the record's) and gives
 * unmarked images to the first user message. */
static int conv_images(Conv *c, const LdRaw *raw, const LdImageCodec *ic, LdSample *out, int *n_img, VStatus *st) {
    const char *refs[LD_MAX_IMAGES];
    int n = c->n_img_refs;
    if (n) memcpy(refs, c->img_refs, (size_t)n * sizeof *refs);
    else n = ld_fmt_image_refs(raw, refs, LD_MAX_IMAGES);
    if (n < 0) return vs_set(st, VS_EINVAL, "field images: not strings"), LD_SKIP_BAD_SAMPLE;
    if (c->n_img_marks == 0 && n > 0) {
        int u = 0;
        while (u < c->n && c->m[u].role != LD_USER) u++;
        if (u == c->n) return vs_set(st, VS_EINVAL, "images but no user message"), LD_SKIP_BAD_SAMPLE;
        c->m[u].n_images = n;
        c->n_img_marks = n;
    }
    if (c->n_img_marks != n)
        return vs_set(st, VS_EINVAL, "%d image markers for %d images", c->n_img_marks, n), LD_SKIP_BAD_SAMPLE;
    for (int i = 0; i < n; i++) {
        int rc = ld_fmt_image(raw, i, refs[i], ic, out, st);
        if (rc) return rc;
    }
    *n_img = n;
    return 0;
}

static int render(const Conv *c, int n, const LdTextCodec *tc, LdSeq *q, int n_img, VStatus *st) {
    if (tc->render_chat(tc->ctx, c->m, (size_t)n, tc->image_token, tc->image_seq_len, &q->tok, &q->loss, st))
        return LD_SKIP_BAD_SAMPLE;
    return ld_fmt_find_runs(q, tc, n_img, st);
}

int ld_fmt_sft(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st) {
    json_t *list = json_object_get(raw->json, "conversations");
    if (!list) list = json_object_get(raw->json, "messages");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return vs_set(st, VS_EINVAL, "needs a non-empty conversations or messages list"), LD_SKIP_BAD_SAMPLE;
    static _Thread_local Conv c;
    memset(&c, 0, sizeof c);
    int n_img = 0, rc = conv_add_list(&c, list, st);
    if (!rc) rc = conv_images(&c, raw, ic, out, &n_img, st);
    if (!rc) rc = render(&c, c.n, tc, &out->seq[0], n_img, st);
    conv_free(&c);
    return rc;
}

/* prompt / response as a string (user / assistant) or a message list */
static int add_part(Conv *c, json_t *v, LdRole role, const char *field, VStatus *st) {
    if (json_is_string(v)) return conv_add(c, role, json_string_value(v), st);
    if (json_is_array(v)) return conv_add_list(c, v, st);
    return vs_set(st, VS_EINVAL, "%s: must be a string or a list of messages", field), LD_SKIP_BAD_SAMPLE;
}

int ld_fmt_dpo(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st) {
    static _Thread_local Conv c;
    memset(&c, 0, sizeof c);
    int n_img = 0, rc = add_part(&c, json_object_get(raw->json, "prompt"), LD_USER, "prompt", st);
    if (!rc) rc = conv_images(&c, raw, ic, out, &n_img, st);
    int n_prompt = c.n;
    for (int k = 0; k < 2 && !rc; k++) {
        const char *field = k ? "rejected" : "chosen";
        c.n_img_marks = n_img;
        rc = add_part(&c, json_object_get(raw->json, field), LD_ASSISTANT, field, st);
        if (!rc && c.n_img_marks != n_img)
            rc = (vs_set(st, VS_EINVAL, "%s: images belong in the prompt", field), LD_SKIP_BAD_SAMPLE);
        if (!rc) rc = render(&c, c.n, tc, &out->seq[k], n_img, st);
        while (c.n > n_prompt) free(c.own[--c.n]);
    }
    out->n_seq = 2;
    conv_free(&c);
    return rc;
}
