/* data/formats.h — from one raw record to token sequences: the sample formatters.
 *
 * A shard reader (data/shards.h) yields an LdRaw (JSON fields + image bytes);
 * a formatter for the run's regime turns it into an LdSample: one token
 * sequence (two for DPO: chosen, rejected), a loss mask, the image placeholder
 * runs and the images, decoded and fitted to S x S as uint8. Formatters never
 * touch a model or a file format: text goes through an LdTextCodec and images
 * through an LdImageCodec, so the tokenizer (data/tokenizer.h) and the image
 * module (data/image.h) plug in through adapters and tests use tiny
 * deterministic codecs.
 *
 * loss[i] = 1: token i is predicted (the packer turns this into targets[i-1]).
 * Regimes and where the loss goes: pairs (caption + eos), interleaved (every
 * text token + eos), instruct (answer), sft (assistant turns), dpo (response).
 *
 * Bad input is not an error of the run: formatters return an LdSkip reason
 * (> 0) and a message in st naming the field; the loader counts it. */
#ifndef VLMC_DATA_FORMATS_H
#define VLMC_DATA_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/status.h"

/* ---- growable arrays ------------------------------------------------------ */
typedef struct LdIds { int32_t *v; size_t n, cap; } LdIds;
void ld_ids_push(LdIds *a, int32_t x);
void ld_ids_append(LdIds *a, const int32_t *x, size_t n);
void ld_ids_free(LdIds *a);

/* ---- text ----------------------------------------------------------------- */
typedef enum LdRole { LD_SYSTEM = 0, LD_USER, LD_ASSISTANT } LdRole;
/* image_at: byte offset in text where the message's images render (0: before
 * the text); image_ats, when not NULL: one offset per image (nondecreasing),
 * where each "<image>" marker stood (ld_fmt_cut_markers), which wins over
 * image_at. */
typedef struct LdChatMsg {
    LdRole role;
    const char *text;
    int n_images;
    size_t image_at;
    const size_t *image_ats;
} LdChatMsg;

/* How text becomes ids. encode appends the ids of len bytes of UTF-8 (no
 * specials). render_chat renders a conversation (images as runs of
 * image_seq_len image_token at each message's image_at) into ids and a mask
 * (1 on assistant-response tokens), as data/tokenizer.h's tok_render_chat. */
typedef struct LdTextCodec {
    void *ctx;
    int (*encode)(void *ctx, const char *text, size_t len, LdIds *out, VStatus *st);
    int (*render_chat)(void *ctx, const LdChatMsg *msgs, size_t n, int32_t image_token, int image_seq_len,
                       LdIds *ids, LdIds *mask, VStatus *st);
    int32_t bos, eos, pad;  /* -1 when the tokenizer has none (pad: id written on padding) */
    int32_t image_token;     /* the placeholder id */
    int image_seq_len;       /* placeholder tokens per image */
    /* place tags: NULL, or tag k = tag_ids[tag_off[k] .. tag_off[k+1]) (k <
       image_seq_len), which placeholder k follows: a run is then tag_0 img
       tag_1 img ..., ld_run_len tokens */
    const int32_t *tag_ids, *tag_off;
    uint64_t hash;           /* identifies the vocabulary (stored in HDF5 shards) */
} LdTextCodec;

/* A byte-level codec: id = byte value (0..255), image 256, bos 257, eos 258,
 * pad 259, role markers 260 + role. Chat: per message [260+role] + text bytes
 * with the images at image_at (or image_ats) + [eos]; mask 1 on assistant text bytes and its eos. For tests
 * and for `prepare --tokenizer bytes`. */
LdTextCodec ld_codec_bytes(int image_seq_len);

/* ---- images --------------------------------------------------------------- */
/* Decodes buf and fits it to S x S (the processor's resize/pad/crop) into
 * out (S, S, 3) uint8. Nonzero + st on a corrupt, truncated or oversized image. */
typedef struct LdImageCodec {
    void *ctx;
    int (*load)(void *ctx, const uint8_t *buf, size_t n, int S, uint8_t *out, VStatus *st);
    int S;
    float mean[3], std[3], rescale;   /* normalisation applied when a batch is built */
} LdImageCodec;

/* ---- records and samples -------------------------------------------------- */
typedef enum LdSkip {
    LD_SKIP_NONE = 0,
    LD_SKIP_CORRUPT_IMAGE,   /* image bytes do not decode */
    LD_SKIP_MISSING_IMAGE,   /* referenced image absent (file or tar member) */
    LD_SKIP_BAD_JSON,        /* malformed JSON line / member */
    LD_SKIP_TRUNCATED,       /* tar member cut short */
    LD_SKIP_TOO_LONG,        /* does not fit a row (and the regime does not split) */
    LD_SKIP_UNSAFE_NAME,     /* tar member or image path with .. or an absolute path */
    LD_SKIP_BAD_SAMPLE,      /* required field missing or of the wrong type */
    LD_SKIP_COUNT
} LdSkip;
const char *ld_skip_name(int reason);   /* "corrupt_image", ... */

typedef struct LdBlob { int index; char ext[8]; uint8_t *data; size_t n; } LdBlob;

typedef struct LdSample LdSample;

typedef struct LdRaw {
    const char *shard;       /* path, for messages */
    char key[192];           /* tar key, "line N", "record N" */
    json_t *json;            /* owned; tar: KEY.json (or {}), with "txt" from KEY.txt */
    LdBlob *imgs;            /* tar image members, in order (KEY.jpg, or KEY.0.*, KEY.1.* ...) */
    int n_imgs;
    const char *image_root;  /* JSON sources: image paths are relative to it (NULL: to the shard's folder) */
    LdSample *pre;           /* HDF5: the record is already a sample */
    int skip;                /* reader found the record bad (LdSkip) ... */
    char skip_msg[256];      /* ... and why */
} LdRaw;
void ld_raw_free(LdRaw *r);

typedef struct LdRun { int32_t start, len, img; } LdRun;
typedef struct LdSeq {
    LdIds tok, loss;        /* loss as 0/1 ids, same length */
    LdRun *runs; int n_runs, runs_cap;
} LdSeq;

struct LdSample {
    int n_seq;               /* 1, or 2 for DPO (chosen, rejected) */
    LdSeq seq[2];
    int n_img, S, img_cap;
    uint8_t *px;             /* (n_img, S, S, 3) */
};
void ld_sample_reset(LdSample *s);   /* empties, keeps capacity */
void ld_sample_free(LdSample *s);
uint8_t *ld_sample_add_image(LdSample *s, int S);   /* returns the (S,S,3) slot */
void ld_seq_add_run(LdSeq *q, int32_t start, int32_t len, int32_t img);

typedef enum LdRegime { LD_PAIRS = 0, LD_INTERLEAVED, LD_INSTRUCT, LD_SFT, LD_DPO, LD_REGIME_COUNT } LdRegime;
int ld_regime_parse(const char *name, LdRegime *out);   /* 0 when known */
const char *ld_regime_name(LdRegime r);

/* raw -> sample. Returns 0, or an LdSkip reason with st saying which field. */
int ld_format(LdRegime regime, const LdRaw *raw, const LdTextCodec *tc, const LdImageCodec *ic, LdSample *out,
              VStatus *st);

/* Helpers shared by the formatters (data/fmt_common.c). */
/* Loads image number ord of raw (tar member ord, or file ref under the image root). */
int ld_fmt_image(const LdRaw *raw, int ord, const char *ref, const LdImageCodec *ic, LdSample *s, VStatus *st);
/* Tokens a placeholder run of tc takes (image_seq_len, plus the tags' tokens). */
int ld_run_len(const LdTextCodec *tc);
/* Appends a placeholder run for image img to q (loss 0). */
void ld_fmt_image_run(LdSeq *q, const LdTextCodec *tc, int img);
int ld_fmt_text(LdSeq *q, const LdTextCodec *tc, const char *text, int loss, VStatus *st);
void ld_fmt_tok(LdSeq *q, int32_t id, int loss);
/* Records the placeholder runs in q->tok (image_seq_len image_token, each
 * after its tag when tc has tags) as images 0, 1, ... (chat renders). */
int ld_fmt_find_runs(LdSeq *q, const LdTextCodec *tc, int n_img, VStatus *st);
#define LD_MAX_IMAGES 64   /* per sample */
int ld_fmt_image_refs(const LdRaw *raw, const char **refs, int max);
const char *ld_fmt_field(const json_t *obj, const char *const *names);
/* A malloc'd copy of text without its "<image>" markers (and the one '\n'
 * after each); *n_marks: how many there were; ats[k] for k < min(*n_marks,
 * max_ats): the byte offset in the copy where marker k stood, where its image
 * then renders. */
char *ld_fmt_cut_markers(const char *text, int *n_marks, size_t *ats, int max_ats);

#endif
