/* data/tok_internal.h — internals shared by data/tok_*.c (not a public header).
 *
 * Pipeline (mirrors Hugging Face `tokenizers`):
 *   text --split on non-normalized added tokens--> segments
 *        --normalizer--> --split on normalized added tokens--> sub-segments
 *        --pre-tokenizer--> pieces --BPE--> ids --post-processor--> ids.
 * Text travels through a TokBuf: bytes plus, when offsets are tracked (chat
 * masks), the original byte offset of every byte (o[i]). A TokPieces is a
 * TokBuf cut into spans; each pre-tokenizer maps one TokPieces to another.
 * Per-thread scratch lives in a TokCtx taken from the tokenizer's pool, so a
 * Tokenizer itself is read-only while encoding. */
#ifndef VLMC_DATA_TOK_INTERNAL_H
#define VLMC_DATA_TOK_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "data/tokenizer.h"

/* ---- string -> id map and (id, id) -> merge map (open addressing) -------- */
typedef struct TokStrMap {
    int32_t *slot;             /* id or -1; keys live in the owner's string table */
    size_t cap;                /* power of two */
    char **str;                /* str[id], len[id]: borrowed from the owner */
    uint32_t *len;
} TokStrMap;

typedef struct TokPairEnt { uint64_t key; int32_t rank, newid; } TokPairEnt;   /* one probe = one cache line */
typedef struct TokPairMap {
    TokPairEnt *e;             /* key (a << 32) | b, UINT64_MAX = empty */
    size_t cap;
} TokPairMap;

uint64_t tok_fnv1a(const void *p, size_t n, uint64_t h);
/* Fast non-cryptographic hash for the in-memory tables (8 bytes per step). */
static inline uint64_t tok_mix_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    for (size_t k = 0; i < n; i++, k += 8) w |= (uint64_t)(unsigned char)s[i] << k;
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}
#define TOK_FNV_INIT 0xcbf29ce484222325ULL

int tok_strmap_init(TokStrMap *m, size_t n_expected, char **str, uint32_t *len);
void tok_strmap_free(TokStrMap *m);
/* m->str/len may be reallocated by the owner; call tok_strmap_rebind afterwards. */
int tok_strmap_put(TokStrMap *m, int32_t id);   /* 0 ok, 1 duplicate (kept first), -1 oom */
int32_t tok_strmap_get(const TokStrMap *m, const char *s, size_t n);
int tok_pairmap_init(TokPairMap *m, size_t n_expected);
void tok_pairmap_free(TokPairMap *m);
void tok_pairmap_put(TokPairMap *m, int32_t a, int32_t b, int32_t rank, int32_t newid);  /* first wins */
static inline int tok_pairmap_get(const TokPairMap *m, int32_t a, int32_t b, int32_t *rank, int32_t *newid) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 20) & (m->cap - 1);
    for (;;) {
        const TokPairEnt *e = &m->e[i];
        if (e->key == k) { *rank = e->rank; *newid = e->newid; return 1; }
        if (e->key == UINT64_MAX) return 0;
        i = (i + 1) & (m->cap - 1);
    }
}

/* ---- text buffers with optional original offsets ------------------------- */
typedef struct TokBuf {
    char *s;
    uint32_t *o;               /* original offsets, only when track */
    size_t n, cap;
    int track;
} TokBuf;

void tb_reserve(TokBuf *b, size_t extra);
/* Appends n bytes that all come from original offset orig. */
static inline void tb_put(TokBuf *b, const char *p, size_t n, uint32_t orig) {
    if (b->n + n > b->cap) tb_reserve(b, n);
    for (size_t i = 0; i < n; i++) b->s[b->n + i] = p[i];
    if (b->track)
        for (size_t i = 0; i < n; i++) b->o[b->n + i] = orig;
    b->n += n;
}
/* Appends n bytes with their own offsets (o may be NULL when not tracking). */
static inline void tb_copy(TokBuf *b, const char *p, const uint32_t *o, size_t n) {
    if (b->n + n > b->cap) tb_reserve(b, n);
    for (size_t i = 0; i < n; i++) b->s[b->n + i] = p[i];
    if (b->track)
        for (size_t i = 0; i < n; i++) b->o[b->n + i] = o[i];
    b->n += n;
}
void tb_free(TokBuf *b);
/* Turns offset tracking on/off (allocating o for the current capacity). */
void tb_set_track(TokBuf *b, int track);

typedef struct TokSpan { uint32_t off, len; } TokSpan;
typedef struct TokPieces {
    TokBuf b;
    TokSpan *sp;
    size_t nsp, capsp;
    int first;                 /* the text handed to the pre-tokenizer starts the input (Metaspace "first") */
} TokPieces;
void tp_reset(TokPieces *p, int track);
void tp_push(TokPieces *p, uint32_t off, uint32_t len);   /* a span of p->b; empty spans dropped */
void tp_free(TokPieces *p);

/* UTF-8 helpers: input is valid UTF-8 (checked once at the API boundary). */
static inline int tok_u8len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }
int32_t tok_u8dec(const char *s, int *len);      /* code point at s */
int tok_u8enc(int32_t cp, char *out);            /* bytes written (1..4) */
size_t tok_u8valid(const char *s, size_t n);     /* offset of the first invalid byte, n when valid */
int tok_is_whitespace(int32_t cp);               /* Rust char::is_whitespace (White_Space) */
int tok_is_alnum(int32_t cp);                    /* Rust char::is_alphanumeric */
/* Rust String::from_utf8_lossy: appends s with invalid sequences replaced by U+FFFD. */
void tok_lossy_append(TokBuf *out, const char *s, size_t n);

/* ---- components (parsed from tokenizer.json) ----------------------------- */
enum { TN_NFC, TN_NFD, TN_NFKC, TN_NFKD, TN_LOWER, TN_REPLACE, TN_PREPEND, TN_STRIP, TN_SEQ };
typedef struct TokNorm {
    int kind;
    char *pat, *content;       /* REPLACE literal (pat) or regex (re) -> content; PREPEND content */
    size_t patlen, contentlen;
    pcre2_code *re;
    int strip_left, strip_right;
    struct TokNorm *sub;
    size_t nsub;
} TokNorm;

enum { TS_REMOVED, TS_ISOLATED, TS_MERGED_PREV, TS_MERGED_NEXT, TS_CONTIGUOUS };
enum { TP_BYTELEVEL, TP_SPLIT, TP_DIGITS, TP_METASPACE, TP_SEQ };
enum { TM_REGEX, TM_DIGIT, TM_CHAR };  /* what a Split-like step matches */
enum { TPS_ALWAYS, TPS_FIRST, TPS_NEVER };
typedef struct TokPre {
    int kind;
    int matcher;               /* TM_* for SPLIT-like steps */
    pcre2_code *re;
    int32_t ch;                /* TM_CHAR */
    int behavior, invert;
    int add_prefix_space, use_regex;
    char repl[8];              /* Metaspace replacement (UTF-8) */
    int repl_len, prepend_scheme, split;
    struct TokPre *sub;
    size_t nsub;
} TokPre;

enum { TD_BYTELEVEL, TD_BYTEFALLBACK, TD_METASPACE, TD_REPLACE, TD_FUSE, TD_STRIP, TD_SEQ };
typedef struct TokDec {
    int kind;
    char *pat, *content;
    size_t patlen, contentlen;
    int32_t strip_ch;
    int start, stop, prepend_scheme;
    char repl[8];
    int repl_len;
    struct TokDec *sub;
    size_t nsub;
} TokDec;

typedef struct TokAdded {
    char *content;
    uint32_t len;
    char *ncontent;            /* normalized=true tokens are matched as the normalizer rewrites them */
    uint32_t nlen;
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} TokAdded;

typedef struct TokCtx TokCtx;

struct Tokenizer {
    char *name;                /* for error messages */
    uint64_t hash;
    /* vocabulary: tokens by id (model vocab and added tokens) */
    char **tok;
    uint32_t *toklen;
    uint8_t *is_special;       /* bit 0: special added token (decode skip_special drops it);
                                  bit 1: normalized added token (decodes as its normalized content) */
    int32_t n_ids, cap_ids;
    TokStrMap vocab;           /* model vocab only */
    TokStrMap all;             /* model vocab + added tokens (token_id lookups) */
    /* BPE model */
    TokPairMap merges;
    int32_t unk_id;            /* -1 none */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t byte_id[256];      /* <0xNN> ids for byte_fallback, -1 absent */
    int32_t *cp_id;            /* single-char token id for code points < TOK_CP_FAST, -1 absent */
    /* components */
    TokNorm *norm;
    TokPre *pre;
    TokDec *dec;
    TokIds prefix, suffix;     /* post-processor: ids around the sequence when add_special */
    /* added tokens */
    TokAdded *added;
    size_t n_added;
    /* added tokens by kind (0: matched on raw text, 1: on normalized text) and first byte:
     * indices abkt[k][abkt_off[k][b] .. abkt_off[k][b+1]), longest first */
    uint32_t *abkt[2];
    uint32_t abkt_off[2][257];
    pcre2_code *word_re;       /* Rust regex \w (single_word checks): one character, anchored */
    /* per-thread scratch pool */
    pthread_mutex_t pool_mu;
    TokCtx **pool;
    size_t npool, cappool;
};
#define TOK_CP_FAST 2048

/* ---- module entry points ---------------------------------------------------- */
/* tok_json.c */
int tok_vocab_push(Tokenizer *t, const char *s, size_t n, int32_t id, VStatus *st);
/* tok_norm.c: normalizes in -> out (out is reset first; in and out track alike). */
int tok_normalize(const TokNorm *n, const TokBuf *in, TokBuf *out, TokBuf *tmp, VStatus *st);
void tok_norm_free(TokNorm *n);
/* tok_pretok.c: pre-tokenizes in, using out as the other buffer; returns the
 * one that holds the result (in or out), NULL on error. */
TokPieces *tok_pretokenize(const TokPre *p, TokCtx *c, TokPieces *in, TokPieces *out, VStatus *st);
/* Maps bytes to the GPT-2 byte-level alphabet: bl[b] (len bl_len[b]). */
extern char tok_bl_map[256][2];
extern uint8_t tok_bl_len[256];
void tok_bl_init(void);
void tok_pre_free(TokPre *p);
pcre2_code *tok_regex_compile(const char *pat, size_t len, const char *field, VStatus *st);
/* tok_bpe.c: encodes one piece; when starts/ends are given (offset tracking),
 * appends each token's original byte range using o (the piece's offsets). */
int tok_bpe_piece(const Tokenizer *t, TokCtx *c, const char *s, size_t n, const uint32_t *o, TokIds *out,
                  TokIds *starts, TokIds *ends, VStatus *st);
/* tok_encode.c */
TokCtx *tok_ctx_get(const Tokenizer *t);
void tok_ctx_put(const Tokenizer *t, TokCtx *c);
void tok_ctx_free(TokCtx *c);
void tok_added_reindex(Tokenizer *t);
/* Encode with original byte offsets per token (starts/ends may be NULL). */
int tok_encode_ex(const Tokenizer *t, const char *text, size_t len, int add_special, TokIds *out, TokIds *starts,
                  TokIds *ends, VStatus *st);
/* tok_decode.c */
void tok_dec_free(TokDec *d);

/* Per-thread scratch (tok_encode.c owns it; tok_bpe.c / tok_pretok.c use fields). */
typedef struct TokBpeSym { int32_t id, prev, next, len; } TokBpeSym;
typedef struct TokBpeMerge { int32_t rank, pos, newid; } TokBpeMerge;
typedef struct TokSeg { uint32_t a, b; int32_t id; } TokSeg;   /* id -1: plain text */
typedef struct TokCacheEnt { uint64_t h; uint32_t key, klen, ids, nids; } TokCacheEnt;
struct TokCtx {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    TokBuf seg, norm, tmp;
    TokPieces pa, pb;
    TokSeg *sg[2];             /* added-token splits, level 0 (raw) and 1 (normalized) */
    size_t capsg[2];
    TokSpan *ev;               /* split events (match / gap) */
    uint8_t *evm;
    size_t capev;
    TokBpeSym *sym;
    size_t capsym;
    TokBpeMerge *heap;
    size_t capheap;
    /* BPE word cache: piece bytes -> ids (no offsets; byte lengths are recomputed) */
    TokCacheEnt *cache;
    size_t cache_cap, cache_n;
    char *arena;
    size_t arena_n, arena_cap;
};

#endif
