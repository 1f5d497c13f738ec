/* data/fmt_interleaved.c — the `interleaved` regime: documents as ordered
 * text and images; loss on every text token (and the final eos).
 *
 * OBELICS: {"texts": [t|null...], "images": [ref|null...]} aligned lists; at
 *          each position exactly one is non-null.
 * MMC4:    {"text_list": [...], "image_info": [{"image_name": ref,
 *          "matched_text_index": i}...]}; an image goes right before the
 *          sentence it is matched to (OpenFlamingo's convention).
 * Sequence: [bos] then the items in document order (text -> ids, image ->
 * placeholder run) then [eos]. In a tar shard the k-th image of the document
 * is the k-th image member (KEY.0.jpg, KEY.1.jpg ...); elsewhere refs are
 * paths under the image root. Splitting a document longer than a row is the
 * packer's job (at image-run edges, data/ld_pack.c). */
#include "data/formats.h"

static int put_image(const LdRaw *raw, int *ord, const char *ref, const LdTextCodec *tc, const LdImageCodec *ic,
                     LdSample *out, VStatus *st) {
    int rc = ld_fmt_image(raw, *ord, raw->n_imgs > 0 ? NULL : ref, ic, out, st);
    if (rc) return rc;
    ld_fmt_image_run(&out->seq[0], tc, *ord);
    (*ord)++;
    return 0;
}

static int obelics(const LdRaw *raw, json_t *texts, json_t *images, const LdTextCodec *tc, const LdImageCodec *ic,
                   LdSample *out, VStatus *st) {
    if (!json_is_array(texts) || !json_is_array(images) || json_array_size(texts) != json_array_size(images))
        return vs_set(st, VS_EINVAL, "texts/images must be lists of the same length"), LD_SKIP_BAD_SAMPLE;
    int ord = 0, rc;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        json_t *t = json_array_get(texts, i), *im = json_array_get(images, i);
        if (json_is_string(t) && json_is_null(im)) {
            if ((rc = ld_fmt_text(&out->seq[0], tc, json_string_value(t), 1, st))) return rc;
        } else if (json_is_null(t) && (json_is_string(im) || (raw->n_imgs > 0 && !json_is_null(im)))) {
            if (ord >= LD_MAX_IMAGES) return vs_set(st, VS_EINVAL, "more than %d images", LD_MAX_IMAGES), LD_SKIP_BAD_SAMPLE;
            if ((rc = put_image(raw, &ord, json_string_value(im), tc, ic, out, st))) return rc;
        } else {
            return vs_set(st, VS_EINVAL, "item %zu: exactly one of texts[i], images[i] must be non-null", i),
                   LD_SKIP_BAD_SAMPLE;
        }
    }
    return 0;
}

static int mmc4(const LdRaw *raw, json_t *texts, json_t *info, const LdTextCodec *tc, const LdImageCodec *ic,
                LdSample *out, VStatus *st) {
    if (!json_is_array(texts) || (info && !json_is_array(info)))
        return vs_set(st, VS_EINVAL, "text_list / image_info must be lists"), LD_SKIP_BAD_SAMPLE;
    size_t n_info = info ? json_array_size(info) : 0;
    for (size_t k = 0; k < n_info; k++) {
        json_t *e = json_array_get(info, k), *idx = json_object_get(e, "matched_text_index");
        if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
            (size_t)json_integer_value(idx) >= json_array_size(texts) ||
            (raw->n_imgs == 0 && !json_is_string(json_object_get(e, "image_name"))))
            return vs_set(st, VS_EINVAL, "image_info[%zu]: needs image_name and a valid matched_text_index", k),
                   LD_SKIP_BAD_SAMPLE;
    }
    int ord = 0, rc;
    for (size_t i = 0; i < json_array_size(texts); i++) {
        for (size_t k = 0; k < n_info; k++) {
            json_t *e = json_array_get(info, k);
            if ((size_t)json_integer_value(json_object_get(e, "matched_text_index")) != i) continue;
            if (ord >= LD_MAX_IMAGES) return vs_set(st, VS_EINVAL, "more than %d images", LD_MAX_IMAGES), LD_SKIP_BAD_SAMPLE;
            if ((rc = put_image(raw, &ord, json_string_value(json_object_get(e, "image_name")), tc, ic, out, st)))
                return rc;
        }
        json_t *t = json_array_get(texts, i);
        if (!json_is_string(t)) return vs_set(st, VS_EINVAL, "text_list[%zu]: not a string", i), LD_SKIP_BAD_SAMPLE;
        if ((rc = ld_fmt_text(&out->seq[0], tc, json_string_value(t), 1, st))) return rc;
    }
    return 0;
}

int ld_fmt_interleaved(const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out, VStatus *st) {
    json_t *j = raw->json;
    ld_fmt_tok(&out->seq[0], tc->bos, 0);
    int rc;
    if (json_object_get(j, "texts"))
        rc = obelics(raw, json_object_get(j, "texts"), json_object_get(j, "images"), tc, ic, out, st);
    else if (json_object_get(j, "text_list"))
        rc = mmc4(raw, json_object_get(j, "text_list"), json_object_get(j, "image_info"), tc, ic, out, st);
    else
        return vs_set(st, VS_EINVAL, "neither OBELICS texts/images nor MMC4 text_list/image_info"), LD_SKIP_BAD_SAMPLE;
    if (rc) return rc;
    ld_fmt_tok(&out->seq[0], tc->eos, 1);
    return 0;
}
