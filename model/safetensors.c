/* model/safetensors.c — the safetensors reader and the dtype conversions
 * (see safetensors.h for the contract). Validation order: header length,
 * JSON, each entry's fields, then the byte ranges sorted by offset, which
 * must tile the data section exactly. The writer is in safetensors_write.c. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct StFile {
    char *path;
    void *map;          /* whole file, read-only */
    size_t map_size;
    size_t header_bytes;
    size_t data_bytes;
    StTensor *tensors;  /* offset order */
    size_t ntensors;
    const StTensor **by_name;   /* sorted by name (st_find) */
    char **meta_kv;     /* 2 * nmeta strings: key, value, ... (sorted by key) */
    size_t nmeta;
    char *names;        /* one block holding every tensor name */
};

static const char *const dtype_names[DT__COUNT] = {"F32", "BF16", "F16", "I32", "I64", "U8"};

static int parse_dtype(const char *s, DType *out) {
    for (int i = 0; i < DT__COUNT; i++)
        if (strcmp(s, dtype_names[i]) == 0) { *out = (DType)i; return 1; }
    return 0;
}

void st_close(StFile *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_size);
    for (size_t i = 0; i < 2 * f->nmeta; i++) free(f->meta_kv[i]);
    free(f->meta_kv);
    free(f->tensors);
    free(f->by_name);
    free(f->names);
    free(f->path);
    free(f);
}

/* --- header parsing ------------------------------------------------------- */

static int get_u64(json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* Fills t (except data) from one header entry; errors name the tensor. */
static int parse_entry(const char *name, json_t *e, StTensor *t, VStatus *st) {
    if (!json_is_object(e)) return vs_set(st, VS_EINVAL, "tensor '%s': entry is not a JSON object", name);
    const char *key;
    json_t *val;
    json_object_foreach(e, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return vs_set(st, VS_EINVAL, "tensor '%s': unexpected field '%s'", name, key);
    }
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!jd || !js || !jo)
        return vs_set(st, VS_EINVAL, "tensor '%s': missing field '%s'", name,
                      !jd ? "dtype" : !js ? "shape" : "data_offsets");
    if (!json_is_string(jd)) return vs_set(st, VS_EINVAL, "tensor '%s': dtype is not a string", name);
    if (!parse_dtype(json_string_value(jd), &t->dtype))
        return vs_set(st, VS_EINVAL, "tensor '%s': unknown dtype '%s' (supported: F32 BF16 F16 I32 I64 U8)", name,
                      json_string_value(jd));
    if (!json_is_array(js)) return vs_set(st, VS_EINVAL, "tensor '%s': shape is not an array", name);
    size_t nd = json_array_size(js);
    if (nd > ST_MAX_DIMS)
        return vs_set(st, VS_EINVAL, "tensor '%s': %zu dims, at most %d supported", name, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        uint64_t d;
        if (!get_u64(json_array_get(js, i), &d))
            return vs_set(st, VS_EINVAL, "tensor '%s': shape[%zu] is not a non-negative integer", name, i);
        t->shape[i] = (int64_t)d;
        if (__builtin_mul_overflow(numel, d, &numel) || numel > (uint64_t)INT64_MAX)
            return vs_set(st, VS_EINVAL, "tensor '%s': shape product overflows 64 bits", name);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)dt_size(t->dtype), &nbytes) || nbytes > SIZE_MAX)
        return vs_set(st, VS_EINVAL, "tensor '%s': byte size of the shape overflows 64 bits", name);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    uint64_t b, en;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !get_u64(json_array_get(jo, 0), &b) ||
        !get_u64(json_array_get(jo, 1), &en))
        return vs_set(st, VS_EINVAL, "tensor '%s': data_offsets is not [begin, end] of non-negative integers", name);
    if (en < b) return vs_set(st, VS_EINVAL, "tensor '%s': data_offsets end %llu < begin %llu", name,
                              (unsigned long long)en, (unsigned long long)b);
    if (en - b != nbytes)
        return vs_set(st, VS_EINVAL, "tensor '%s': data_offsets span %llu bytes but %s shape needs %llu", name,
                      (unsigned long long)(en - b), dtype_names[t->dtype], (unsigned long long)nbytes);
    t->offset = (size_t)b;
    return 0;
}

static int parse_metadata(StFile *f, json_t *m, VStatus *st) {
    if (!json_is_object(m)) return vs_set(st, VS_EINVAL, "__metadata__ is not a JSON object");
    size_t n = json_object_size(m);
    f->meta_kv = calloc(2 * n + 1, sizeof *f->meta_kv);
    if (!f->meta_kv) return vs_set(st, VS_ENOMEM, "out of memory for metadata");
    const char *key;
    json_t *val;
    json_object_foreach(m, key, val) {
        if (!json_is_string(val)) return vs_set(st, VS_EINVAL, "__metadata__ '%s' is not a string", key);
        char *k = strdup(key), *v = strdup(json_string_value(val));
        f->meta_kv[2 * f->nmeta] = k;
        f->meta_kv[2 * f->nmeta + 1] = v;
        f->nmeta++;
        if (!k || !v) return vs_set(st, VS_ENOMEM, "out of memory for metadata");
    }
    /* insertion sort by key: metadata maps are small */
    for (size_t i = 1; i < f->nmeta; i++)
        for (size_t j = i; j > 0 && strcmp(f->meta_kv[2 * j - 2], f->meta_kv[2 * j]) > 0; j--) {
            char *tk = f->meta_kv[2 * j - 2], *tv = f->meta_kv[2 * j - 1];
            f->meta_kv[2 * j - 2] = f->meta_kv[2 * j];
            f->meta_kv[2 * j - 1] = f->meta_kv[2 * j + 1];
            f->meta_kv[2 * j] = tk;
            f->meta_kv[2 * j + 1] = tv;
        }
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const StTensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    /* zero-size tensors sit before a non-empty one at the same offset */
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const StTensor *const *)a)->name, (*(const StTensor *const *)b)->name);
}

static int parse_header(StFile *f, const char *text, size_t len, VStatus *st) {
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return vs_set(st, VS_EINVAL, "header is not valid JSON (at byte %d: %s)", err.position, err.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = vs_set(st, VS_EINVAL, "header is not a JSON object");
        goto out;
    }
    size_t n = json_object_size(root), names_len = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            n--;
            if ((rc = parse_metadata(f, val, st))) goto out;
        } else {
            names_len += strlen(key) + 1;
        }
    }
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    f->by_name = calloc(n ? n : 1, sizeof *f->by_name);
    f->names = malloc(names_len ? names_len : 1);
    if (!f->tensors || !f->by_name || !f->names) {
        rc = vs_set(st, VS_ENOMEM, "out of memory for %zu tensor entries", n);
        goto out;
    }
    char *np = f->names;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        StTensor *t = &f->tensors[f->ntensors];
        size_t kl = strlen(key) + 1;
        memcpy(np, key, kl);
        t->name = np;
        np += kl;
        if ((rc = parse_entry(key, val, t, st))) goto out;
        f->ntensors++;
    }
out:
    json_decref(root);
    return rc;
}

/* The byte ranges, sorted by offset, must tile [0, data_bytes). */
static int check_coverage(StFile *f, VStatus *st) {
    qsort(f->tensors, f->ntensors, sizeof *f->tensors, cmp_offset);
    size_t pos = 0;
    for (size_t i = 0; i < f->ntensors; i++) {
        const StTensor *t = &f->tensors[i];
        if (t->offset > f->data_bytes || t->nbytes > f->data_bytes - t->offset)
            return vs_set(st, VS_EINVAL, "tensor '%s': data_offsets [%zu, %zu) out of range (data section is %zu bytes)",
                          t->name, t->offset, t->offset + t->nbytes, f->data_bytes);
        if (t->offset < pos)
            return vs_set(st, VS_EINVAL, "tensor '%s': data_offsets [%zu, %zu) overlap the previous tensor (ends at %zu)",
                          t->name, t->offset, t->offset + t->nbytes, pos);
        if (t->offset > pos)
            return vs_set(st, VS_EINVAL, "hole in the data section: bytes [%zu, %zu) belong to no tensor (before '%s')",
                          pos, t->offset, t->name);
        pos = t->offset + t->nbytes;
    }
    if (pos != f->data_bytes)
        return vs_set(st, VS_EINVAL, "hole in the data section: bytes [%zu, %zu) at the end belong to no tensor", pos,
                      f->data_bytes);
    return 0;
}

StFile *st_open(const char *path, VStatus *st) {
    StFile *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        vs_set(st, VS_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vs_set(st, VS_EIO, "cannot open: %s", strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        vs_set(st, VS_EIO, "not a regular file");
        close(fd);
        goto fail;
    }
    f->map_size = (size_t)sb.st_size;
    if (f->map_size < 8) {
        vs_set(st, VS_EINVAL, "file is %zu bytes, too small for the 8-byte header length", f->map_size);
        close(fd);
        goto fail;
    }
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        vs_set(st, VS_EIO, "mmap failed: %s", strerror(errno));
        goto fail;
    }
    const unsigned char *p = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | p[i];   /* little-endian on any host */
    if (n > ST_MAX_HEADER) {
        vs_set(st, VS_EINVAL, "header length %llu exceeds the %u-byte limit", (unsigned long long)n,
                    ST_MAX_HEADER);
        goto fail;
    }
    if (n > f->map_size - 8) {
        vs_set(st, VS_EINVAL, "truncated header: header length %llu but only %zu bytes follow it",
                    (unsigned long long)n, f->map_size - 8);
        goto fail;
    }
    f->header_bytes = (size_t)n;
    f->data_bytes = f->map_size - 8 - f->header_bytes;
    if (parse_header(f, (const char *)p + 8, f->header_bytes, st)) goto fail;
    if (check_coverage(f, st)) goto fail;
    const char *data = (const char *)p + 8 + f->header_bytes;
    for (size_t i = 0; i < f->ntensors; i++) {
        f->tensors[i].data = data + f->tensors[i].offset;
        f->by_name[i] = &f->tensors[i];
    }
    qsort(f->by_name, f->ntensors, sizeof *f->by_name, cmp_name);
    return f;
fail:
    vs_prefix(st, "%s", path);
    st_close(f);
    return NULL;
}

const char *st_path(const StFile *f) { return f->path; }
size_t st_count(const StFile *f) { return f->ntensors; }
size_t st_header_bytes(const StFile *f) { return f->header_bytes; }
size_t st_data_bytes(const StFile *f) { return f->data_bytes; }

const StTensor *st_tensor(const StFile *f, size_t i) {
    VLMC_ASSERT(i < f->ntensors, "tensor %zu of %zu", i, f->ntensors);
    return &f->tensors[i];
}

const StTensor *st_find(const StFile *f, const char *name) {
    size_t lo = 0, hi = f->ntensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

size_t st_meta_count(const StFile *f) { return f->nmeta; }
const char *st_meta_key(const StFile *f, size_t i) {
    VLMC_ASSERT(i < f->nmeta, "metadata %zu of %zu", i, f->nmeta);
    return f->meta_kv[2 * i];
}
const char *st_meta_value(const StFile *f, size_t i) {
    VLMC_ASSERT(i < f->nmeta, "metadata %zu of %zu", i, f->nmeta);
    return f->meta_kv[2 * i + 1];
}
const char *st_meta_get(const StFile *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_kv[2 * i], key) == 0) return f->meta_kv[2 * i + 1];
    return NULL;
}

/* --- conversions ---------------------------------------------------------- */

static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float st_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t st_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);   /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);   /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) return bits_f32(sign | 0x7f800000u | (m << 13));   /* inf / NaN */
    if (e == 0) {   /* zero or subnormal: m * 2^-24, exact in f32 */
        float v = (float)m * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t st_f32_to_f16(float f) {
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);   /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);   /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {   /* below 2^-14: subnormal f16, step 2^-24 */
        /* adding 0.5 makes the FPU round the mantissa at bit 2^-24 (ties to even) */
        float v = bits_f32(a) + 0.5f;
        return (uint16_t)(sign | (f32_bits(v) - 0x3f000000u));
    }
    uint32_t r = a + 0x0fffu + ((a >> 13) & 1) - (112u << 23);   /* rebias, round to nearest even */
    return (uint16_t)(sign | (r >> 13));
}

int st_tensor_to_f32(const StTensor *t, float *out, VStatus *st) {
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case DT_F32: memcpy(out, p, t->nbytes); return 0;
    case DT_BF16:
    case DT_F16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = t->dtype == DT_BF16 ? st_bf16_to_f32(h) : st_f16_to_f32(h);
        }
        return 0;
    default:
        return vs_set(st, VS_EINVAL, "tensor '%s' is %s, expected a float dtype (F32, BF16, F16)", t->name,
                      dtype_names[t->dtype]);
    }
}

int st_tensor_to_i32(const StTensor *t, int32_t *out, VStatus *st) {
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case DT_I32: memcpy(out, p, t->nbytes); return 0;
    case DT_U8:
        for (int64_t i = 0; i < t->numel; i++) out[i] = p[i];
        return 0;
    case DT_I64:
        for (int64_t i = 0; i < t->numel; i++) {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            if (v < INT32_MIN || v > INT32_MAX)
                return vs_set(st, VS_EINVAL, "tensor '%s': element %lld = %lld does not fit in int32", t->name,
                              (long long)i, (long long)v);
            out[i] = (int32_t)v;
        }
        return 0;
    default:
        return vs_set(st, VS_EINVAL, "tensor '%s' is %s, expected an integer dtype (I32, I64, U8)", t->name,
                      dtype_names[t->dtype]);
    }
}
