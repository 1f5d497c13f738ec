/* tests/model/st_hostile.h — hand-crafted malformed safetensors files shared by
 * test_safetensors.c (library errors) and test_inspect_cli.c (CLI exit codes).
 * Each case gives the header JSON, an optional forged header length, the
 * number of data bytes after the header, and a phrase the error must contain. */
#ifndef VLMC_TESTS_ST_HOSTILE_H
#define VLMC_TESTS_ST_HOSTILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct HostileCase {
    const char *name;      /* file stem */
    const char *json;      /* header text */
    uint64_t forged_len;   /* 0: the real length of json */
    size_t data_bytes;     /* zero bytes appended after the header */
    const char *expect;    /* substring of the error message */
} HostileCase;

static const HostileCase hostile_cases[] = {
    {"truncated_header", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4000, 4, "truncated header"},
    {"len_2p60", "{}", (uint64_t)1 << 60, 0, "exceeds"},
    {"len_over_100mb", "{}", 200000000u, 0, "exceeds"},
    {"not_json", "{\"a\": [1, 2", 0, 0, "not valid JSON"},
    {"garbage", "\x01\x02\xff\xfe binary", 0, 0, "not valid JSON"},
    {"json_array", "[1, 2, 3]", 0, 0, "not a JSON object"},
    {"duplicate_key",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     0, 2, "duplicate"},
    {"missing_field", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4, "missing field 'shape'"},
    {"extra_field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"stride\":[1]}}", 0, 4,
     "unexpected field 'stride'"},
    {"entry_not_object", "{\"a\":[1,2]}", 0, 0, "not a JSON object"},
    {"unknown_dtype", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 0, 8, "unknown dtype 'F64'"},
    {"dtype_not_string", "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, "dtype is not a string"},
    {"shape_overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,4]}}", 0, 4,
     "overflows"},
    {"bytes_overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 0, 4,
     "overflows"},
    {"negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 0, 4, "non-negative"},
    {"float_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 0, 4, "non-negative integer"},
    {"too_many_dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 0, 1,
     "at most 8"},
    {"offsets_out_of_range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8, "out of range"},
    {"offsets_huge",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[9223372036854775800,9223372036854775804]}}", 0, 4,
     "out of range"},
    {"offsets_reversed", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 0, 4, "end 0 < begin 4"},
    {"offsets_not_pair", "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0]}}", 0, 4, "data_offsets"},
    {"size_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8, "needs 12"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     0, 12, "overlap"},
    {"hole",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     0, 12, "hole"},
    {"trailing_bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 8, "hole"},
    {"metadata_not_string", "{\"__metadata__\":{\"step\":3}}", 0, 0, "'step' is not a string"},
    {"metadata_not_object", "{\"__metadata__\":\"x\"}", 0, 0, "__metadata__ is not a JSON object"},
};
#define NHOSTILE (sizeof hostile_cases / sizeof hostile_cases[0])

/* Writes dir/NAME.safetensors for case c into path[n]; returns 0 on success. */
static inline int hostile_write(const char *dir, const HostileCase *c, char *path, size_t n) {
    snprintf(path, n, "%s/%s.safetensors", dir, c->name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    uint64_t len = c->forged_len ? c->forged_len : strlen(c->json);
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(len >> (8 * i));
    int ok = fwrite(b, 1, 8, fp) == 8 && fwrite(c->json, 1, strlen(c->json), fp) == strlen(c->json);
    for (size_t i = 0; ok && i < c->data_bytes; i++) ok = fputc(0, fp) != EOF;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* A fresh directory under $TMPDIR (or /tmp); caller removes it with hostile_rmdir. */
static inline int hostile_mkdtemp(char *buf, size_t n) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/vlmc_st_XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf) ? 0 : -1;
}

static inline void hostile_rmdir(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

#endif
