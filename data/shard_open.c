/* data/shard_open.c — opens a shard by what its bytes are (tar header magic,
 * HDF5 signature, '[' or '{' first) and dispatches to the reader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/shards.h"

static int sniff(const char *path, LdShardKind *kind, VStatus *st) {
    FILE *f = fopen(path, "rb");
    if (!f) return vs_set(st, VS_EIO, "%s: %s", path, strerror(errno));
    unsigned char b[512];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n >= 8 && !memcmp(b, "\x89HDF\r\n\x1a\n", 8)) *kind = LD_SHARD_H5;
    else if (n >= 262 && !memcmp(b + 257, "ustar", 5)) *kind = LD_SHARD_TAR;
    else {
        size_t i = 0;
        if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) i = 3;   /* UTF-8 BOM */
        while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) i++;
        if (i < n && b[i] == '[') *kind = LD_SHARD_JSON;
        else if (i < n && b[i] == '{') *kind = LD_SHARD_JSONL;
        else return vs_set(st, VS_EINVAL, "%s: not a tar, HDF5, JSON or JSONL shard", path);
    }
    return 0;
}

int ld_shard_open(const char *path, const char *image_root, const LdShardExpect *expect, LdShard **out,
                  VStatus *st) {
    *out = NULL;
    LdShardKind kind;
    if (sniff(path, &kind, st)) return st ? st->code : 1;
    LdShard *s = calloc(1, sizeof *s);
    VLMC_ASSERT(s != NULL, "out of memory");
    s->kind = kind;
    s->path = strdup(path);
    if (image_root) {
        s->image_root = strdup(image_root);
    } else {
        const char *slash = strrchr(path, '/');
        s->image_root = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    }
    int rc;
    switch (kind) {
    case LD_SHARD_TAR: rc = ld_tar_open(path, s, st); break;
    case LD_SHARD_JSONL: rc = ld_json_open(path, 1, s, st); break;
    case LD_SHARD_JSON: rc = ld_json_open(path, 0, s, st); break;
    default: rc = ld_h5_open(path, expect, s, st); break;
    }
    if (rc) {
        ld_shard_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int64_t ld_shard_count(const LdShard *s) { return s->count; }
LdShardKind ld_shard_kind(const LdShard *s) { return s->kind; }
const char *ld_shard_path(const LdShard *s) { return s->path; }

int ld_shard_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st) {
    VLMC_ASSERT(j >= 0 && j < s->count, "record %lld of %lld", (long long)j, (long long)s->count);
    memset(raw, 0, sizeof *raw);
    switch (s->kind) {
    case LD_SHARD_TAR: return ld_tar_fetch(s, j, raw, st);
    case LD_SHARD_H5: return ld_h5_fetch(s, j, raw, st);
    default: return ld_json_fetch(s, j, raw, st);
    }
}

void ld_shard_close(LdShard *s) {
    if (!s) return;
    switch (s->kind) {
    case LD_SHARD_TAR: ld_tar_close(s); break;
    case LD_SHARD_H5: ld_h5_close(s); break;
    default: ld_json_close(s); break;
    }
    free(s->path);
    free(s->image_root);
    free(s);
}
