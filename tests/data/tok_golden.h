/* tests/data/tok_golden.h — helpers shared by the tokenizer tests: read a
 * golden file relative to the source dir, and FNV-1a 64 (as the golden
 * script computes it). */
#ifndef VLMC_TESTS_TOK_GOLDEN_H
#define VLMC_TESTS_TOK_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static inline char *tg_read(const char *rel, size_t *n) {
    const char *root = getenv("VLMC_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) { free(buf); fclose(f); return NULL; }
    fclose(f);
    buf[sz] = 0;
    *n = (size_t)sz;
    return buf;
}

static inline char *tg_path(const char *rel, char *buf, size_t cap) {
    const char *root = getenv("VLMC_SOURCE_DIR");
    snprintf(buf, cap, "%s/%s", root ? root : ".", rel);
    return buf;
}

static inline uint64_t tg_fnv(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

#endif
