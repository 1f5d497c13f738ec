/* data/tokenizer.h — Hugging Face tokenizer.json in C (contract; data/tok_*.c).
 *
 * Produces exactly the ids the Python `tokenizers` library produces for the
 * same file. A Tokenizer is immutable after loading (except tok_add_special,
 * called before any encoding), so one instance is shared by all loader threads.
 * tok_hash identifies the file content; it is stored wherever ids are stored
 * (shards, checkpoints) so that stale ids are detected.
 *
 * Supported: model BPE (merges "a b" or ["a","b"], unk_token, fuse_unk,
 * byte_fallback, ignore_merges); added_tokens (special, lstrip, rstrip,
 * single_word, normalized); normalizers NFC/NFD/NFKC/NFKD, Lowercase, Replace,
 * Prepend, Strip, Sequence; pre-tokenizers ByteLevel, Split, Digits,
 * Whitespace, WhitespaceSplit, Metaspace, Sequence; decoders ByteLevel,
 * ByteFallback, Metaspace, Replace (literal), Fuse, Strip, Sequence;
 * post-processors TemplateProcessing, ByteLevel, Bert/Roberta, Sequence.
 * Anything else fails to load with VS_EUNSUP naming the field. Encoding
 * takes scratch from a per-tokenizer pool, so concurrent calls are safe. */
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

/* Appends the ids of text (UTF-8, len bytes; invalid UTF-8 is an error
 * naming the byte offset) to out. add_special: run the post-processor
 * (BOS/EOS as tokenizer.json says). */
int tok_encode(const Tokenizer *t, const char *text, size_t len, int add_special, TokIds *out, VStatus *st);
/* Encodes n texts over nthreads threads (the caller's thread included);
 * outs[i] is reset and receives the ids of texts[i]. On error, the first
 * failing text is named in st. */
int tok_encode_batch(const Tokenizer *t, const char *const *texts, const size_t *lens, size_t n, int add_special,
                     TokIds *outs, int nthreads, VStatus *st);
/* Decodes ids into a malloc'ed NUL-terminated string (NULL + st on an id
 * outside the vocabulary); skip_special drops special tokens. */
char *tok_decode(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, VStatus *st);
/* Same, also giving the length: decoded text may contain NUL bytes (<0x00>). */
char *tok_decode_len(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, size_t *len, VStatus *st);

int32_t tok_vocab_size(const Tokenizer *t);       /* max id + 1, added tokens included (embedding rows) */
int32_t tok_token_id(const Tokenizer *t, const char *token);   /* -1 when absent */
const char *tok_id_token(const Tokenizer *t, int32_t id);     /* NULL when out of range or a hole */
/* Adds a special token (e.g. "<image>") if absent; returns its id (a new one
 * is tok_vocab_size() - 1 after the call). Not thread-safe: call before
 * encoding. Changes tok_hash (the ids now depend on the addition). */
int32_t tok_add_special(Tokenizer *t, const char *token, VStatus *st);
/* 64-bit identity: FNV-1a over the file bytes, then over tokens added at run
 * time; printed as 16 hex digits. */
uint64_t tok_hash(const Tokenizer *t);

void tok_ids_push(TokIds *v, int32_t id);
void tok_ids_free(TokIds *v);

/* ---- chat templates (named formats, not Jinja) ---------------------------- */

typedef enum TokRole { TOK_SYSTEM = 0, TOK_USER, TOK_ASSISTANT } TokRole;

typedef struct TokMessage {
    TokRole role;
    const char *text;     /* UTF-8 */
    int n_images;         /* image placeholders to insert into the text */
    size_t image_at;      /* byte offset in text where they go (0: before it; clamped to
                             the text's length), as a Hugging Face processor expands an
                             "<image>" marker where it stands */
    const size_t *image_ats; /* NULL, or one offset per image (nondecreasing): image k
                                goes at image_ats[k] (several markers in one message) */
} TokMessage;

/* Renders a conversation with format "chatml" | "llama3" | "llava_v1" | "plain",
 * reproducing the model's own template (SmolLM2 / Qwen2 chatml, Llama 3,
 * LLaVA vicuna v1, LLaVA stage-1 plain), then tokenizes the rendered text in
 * one piece (as transformers' apply_chat_template does).
 * Appends to ids the token ids and to mask 1 on tokens overlapping what the assistant says
 * (its text and end token: <|im_end|>, <|eot_id|>, </s>, or "\n" for plain),
 * the loss mask for SFT/DPO; same length as ids.
 * Images: a user message with n_images gets n_images runs of image_seq_len
 * copies of the image_token's text, each run followed by "\n" (LLaVA's
 * "<image>\n"), at image_at (all of them) or at image_ats[k] (run k); with image_tags (image_seq_len
 * texts, e.g. Idefics3's "<row_r_col_c>" special tokens or place words), each
 * placeholder k of a run follows its tag k: tag_0 img tag_1 img ...;
 * `plain` renders only the runs for the user
 * turn (LLaVA stage 1 drops the prompt) and the assistant text + "\n".
 * A system message may only come first. default_system: the system prompt a
 * template injects when the conversation has none (chatml: SmolLM2's "You are
 * a helpful AI assistant named SmolLM, trained by Hugging Face", Qwen2's "You
 * are a helpful assistant."); NULL = the format's own default (llava_v1: the
 * vicuna prompt; others: none). add_generation_prompt: end with the assistant
 * header (for generation). */
typedef struct TokChatOpts {
    const char *format;
    int32_t image_token;
    int image_seq_len;
    const char *const *image_tags;   /* NULL, or image_seq_len texts rendered before each placeholder */
    int add_generation_prompt;
    const char *default_system;
} TokChatOpts;

int tok_render_chat(const Tokenizer *t, const TokChatOpts *opt, const TokMessage *msgs, size_t n,
                    TokIds *ids, TokIds *mask, VStatus *st);

#endif
