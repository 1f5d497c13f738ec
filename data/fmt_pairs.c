/* data/fmt_pairs.c — the `pairs` and `instruct` regimes.
 *
 * pairs:    [bos] <image run> caption [eos]; loss on caption and eos.
 *           caption: "txt" (tar KEY.txt), "caption" or "text"; one image.
 * instruct: the chat template of user(instruction, the images) then
 *           assistant(answer); loss on the answer as the template masks it.
 *           instruction: "instruction" | "question" | "prompt";
 *           answer: "answer" | "response" | "output"; images optional.
 *           "<image>" markers in the instruction (one per image, in order)
 *           place each image where its marker stands; without any, the
 *           images go first. */
#include <stdlib.h>

#include "data/formats.h"

static const char *const caption_keys[] = {"txt", "caption", "text", NULL};
static const char *const instr_keys[] = {"instruction", "question", "prompt", NULL};
static const char *const answer_keys[] = {"answer", "response", "output", NULL};

int ld_fmt_pairs(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st) {
    const char *cap = ld_fmt_field(raw->json, caption_keys);
    if (!cap) return vs_set(st, VS_EINVAL, "no caption (txt/caption/text)"), LD_SKIP_BAD_SAMPLE;
    const char *refs[1];
    int n = ld_fmt_image_refs(raw, refs, 1);
    if (n < 0) return vs_set(st, VS_EINVAL, "field image: not a string"), LD_SKIP_BAD_SAMPLE;
    if (n == 0) return vs_set(st, VS_EINVAL, "no image"), LD_SKIP_MISSING_IMAGE;
    int rc = ld_fmt_image(raw, 0, refs[0], ic, out, st);
    if (rc) return rc;
    LdSeq *q = &out->seq[0];
    ld_fmt_tok(q, tc->bos, 0);
    ld_fmt_image_run(q, tc, 0);
    if ((rc = ld_fmt_text(q, tc, cap, 1, st))) return rc;
    ld_fmt_tok(q, tc->eos, 1);
    return 0;
}

int ld_fmt_instruct(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st) {
    const char *ins = ld_fmt_field(raw->json, instr_keys), *ans = ld_fmt_field(raw->json, answer_keys);
    if (!ins || !ans)
        return vs_set(st, VS_EINVAL, "needs instruction/question/prompt and answer/response/output"),
               LD_SKIP_BAD_SAMPLE;
    const char *refs[LD_MAX_IMAGES];
    int n = ld_fmt_image_refs(raw, refs, LD_MAX_IMAGES);
    if (n < 0) return vs_set(st, VS_EINVAL, "field image: not a string"), LD_SKIP_BAD_SAMPLE;
    for (int i = 0; i < n; i++) {
        int rc = ld_fmt_image(raw, i, refs[i], ic, out, st);
        if (rc) return rc;
    }
    int marks;
    size_t ats[LD_MAX_IMAGES];
    char *text = ld_fmt_cut_markers(ins, &marks, ats, LD_MAX_IMAGES);
    if (marks && marks != n) {
        free(text);
        return vs_set(st, VS_EINVAL,
                      "%d <image> markers in the instruction for %d image(s): none (images first) or one per image",
                      marks, n), LD_SKIP_BAD_SAMPLE;
    }
    LdChatMsg m[2] = {{LD_USER, text, n, 0, marks ? ats : NULL}, {LD_ASSISTANT, ans, 0, 0, NULL}};
    LdSeq *q = &out->seq[0];
    int rc = tc->render_chat(tc->ctx, m, 2, tc->image_token, tc->image_seq_len, &q->tok, &q->loss, st);
    free(text);
    if (rc) return LD_SKIP_BAD_SAMPLE;
    return ld_fmt_find_runs(q, tc, n, st);
}
