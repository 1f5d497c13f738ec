/* data/tokenizer.h — Hugging Face tokenizer.json in C (contract; data/tok_*.c).
 *
 * Produces exactly the ids the Python `tokenizers` library produces for the
 * same file. A Tokenizer is immutable after loading (except tok_add_special,
 * called before any encoding), so one instance is shared by all loader threads.
 * tok_hash identifies the file content; it is stored wherever ids are stored
 * (shards, checkpoints) so that stale ids are detected. */
#ifndef VLMC_DATA_TOKENIZER_H
#define VLMC_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct Tokenizer Tokenizer;

/* A growable id list owned by the caller (tok_ids_free). */
typedef struct TokIds {
    int32_t *ids;
    size_t n, cap;
} TokIds;

Tokenizer *tok_load(const char *path, VStatus *st);
Tokenizer *tok_load_json(const char *json, size_t len, const char *name_for_errors, VStatus *st);
void tok_free(Tokenizer *t);

/* Appends the ids of text (UTF-8, len bytes) to out. add_special: run the
 * post-processor (BOS/EOS as tokenizer.json says). */
int tok_encode(const Tokenizer *t, const char *text, size_t len, int add_special, TokIds *out, VStatus *st);
/* Encodes n texts over nthreads threads (the caller's thread included);
 * outs[i] is reset and receives the ids of texts[i]. On error, the first
 * failing text is named in st. */
int tok_encode_batch(const Tokenizer *t, const char *const *texts, const size_t *lens, size_t n, int add_special,
                     TokIds *outs, int nthreads, VStatus *st);
/* Decodes ids into a malloc'ed NUL-terminated string; skip_special drops special tokens. */
char *tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, VStatus *st);

int32_t tok_vocab_size(const Tokenizer *t);       /* including added tokens */
int32_t tok_token_id(const Tokenizer *t, const char *token);   /* -1 when absent */
const char *tok_id_token(const Tokenizer *t, int32_t id);     /* NULL when out of range */
/* Adds a special token (e.g. "<image>") if absent; returns its id. */
int32_t tok_add_special(Tokenizer *t, const char *token, VStatus *st);
/* 64-bit content hash, printed as 16 hex digits. */
uint64_t tok_hash(const Tokenizer *t);

void tok_ids_push(TokIds *v, int32_t id);
void tok_ids_free(TokIds *v);

/* ---- chat templates (named formats, not Jinja) ---------------------------- */

typedef enum TokRole { TOK_SYSTEM = 0, TOK_USER, TOK_ASSISTANT } TokRole;

typedef struct TokMessage {
    TokRole role;
    const char *text;     /* UTF-8 */
    int n_images;         /* image placeholders to insert before the text */
} TokMessage;

/* Renders a conversation with format "chatml" | "llama3" | "llava_v1" | "plain".
 * ids: token ids; mask: 1 on assistant-response tokens (the loss mask), same
 * length. image_token: id inserted image_seq_len times per image (one
 * placeholder run per image). add_generation_prompt: end with the assistant
 * header (for generation). */
typedef struct TokChatOpts {
    const char *format;
    int32_t image_token;
    int image_seq_len;
    int add_generation_prompt;
} TokChatOpts;

int tok_render_chat(const Tokenizer *t, const TokChatOpts *opt, const TokMessage *msgs, size_t n,
                    TokIds *ids, TokIds *mask, VStatus *st);

#endif
