/* data/shard_json.c — JSONL and JSON-array (LLaVA) shards.
 *
 * JSONL: open records the byte offset and length of each non-blank line; a
 * fetch opens the file, reads and parses one line (no descriptor is held), so a malformed line skips that record
 * only (LD_SKIP_BAD_JSON, key "line N", 1-based). JSON array: the file is
 * parsed once at open (a malformed file is an error of the run, since no
 * record can be trusted); a fetch takes a reference to element j
 * ("record N", 0-based). Image paths in records are resolved by the
 * formatter under the image root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/shards.h"

typedef struct JsonIndex {
    int jsonl;
    int64_t *off, *len, *line;   /* jsonl */
    json_t *arr;                 /* json */
} JsonIndex;

int ld_json_open(const char *path, int jsonl, LdShard *s, VStatus *st) {
    JsonIndex *ix = calloc(1, sizeof *ix);
    VLMC_ASSERT(ix != NULL, "out of memory");
    s->impl = ix;
    ix->jsonl = jsonl;
    if (!jsonl) {
        json_error_t je;
        ix->arr = json_load_file(path, 0, &je);
        if (!ix->arr) return vs_set(st, VS_EINVAL, "%s:%d: %s", path, je.line, je.text);
        if (!json_is_array(ix->arr)) return vs_set(st, VS_EINVAL, "%s: top level is not a list of records", path);
        s->count = (int64_t)json_array_size(ix->arr);
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);   /* closed again: a fetch opens the file */
    if (fd < 0) return vs_set(st, VS_EIO, "%s: %s", path, strerror(errno));
    int64_t cap = 0, pos = 0, start = 0, lineno = 1, n = 0, blank = 1;
    char buf[1 << 16];
    for (;;) {
        ssize_t got = pread(fd, buf, sizeof buf, (off_t)pos);
        if (got < 0) {
            close(fd);
            return vs_set(st, VS_EIO, "%s: %s", path, strerror(errno));
        }
        for (ssize_t i = 0; i <= got; i++) {
            int end = (i == got && got == 0) || (i < got && buf[i] == '\n');
            if (i < got && !end && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r') blank = 0;
            if (!end) continue;
            int64_t at = pos + i;
            if (!blank) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 1024;
                    ix->off = realloc(ix->off, (size_t)cap * sizeof *ix->off);
                    ix->len = realloc(ix->len, (size_t)cap * sizeof *ix->len);
                    ix->line = realloc(ix->line, (size_t)cap * sizeof *ix->line);
                    VLMC_ASSERT(ix->off && ix->len && ix->line, "out of memory");
                }
                ix->off[n] = start;
                ix->len[n] = at - start;
                ix->line[n++] = lineno;
            }
            start = at + 1;
            lineno++;
            blank = 1;
            if (i == got) break;
        }
        if (got == 0) break;
        pos += got;
    }
    close(fd);
    s->count = n;
    return 0;
}

int ld_json_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st) {
    JsonIndex *ix = s->impl;
    raw->shard = s->path;
    raw->image_root = s->image_root;
    if (!ix->jsonl) {
        snprintf(raw->key, sizeof raw->key, "record %lld", (long long)j);
        raw->json = json_incref(json_array_get(ix->arr, (size_t)j));
        return 0;
    }
    snprintf(raw->key, sizeof raw->key, "line %lld", (long long)ix->line[j]);
    char *buf = malloc((size_t)ix->len[j] + 1);
    VLMC_ASSERT(buf != NULL, "out of memory");
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(buf);
        return vs_set(st, VS_EIO, "%s: %s", s->path, strerror(errno));
    }
    ssize_t got = pread(fd, buf, (size_t)ix->len[j], (off_t)ix->off[j]);
    close(fd);
    if (got != ix->len[j]) {
        free(buf);
        return vs_set(st, VS_EIO, "%s: %s: short read", s->path, raw->key);
    }
    json_error_t je;
    raw->json = json_loadb(buf, (size_t)got, 0, &je);
    free(buf);
    if (!raw->json || !json_is_object(raw->json)) {
        raw->skip = LD_SKIP_BAD_JSON;
        snprintf(raw->skip_msg, sizeof raw->skip_msg, "malformed JSON: %s", raw->json ? "not an object" : je.text);
    }
    return 0;
}

void ld_json_close(LdShard *s) {
    JsonIndex *ix = s->impl;
    if (!ix) return;
    if (ix->arr) json_decref(ix->arr);
    free(ix->off);
    free(ix->len);
    free(ix->line);
    free(ix);
}
