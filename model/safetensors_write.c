/* model/safetensors_write.c — st_write: validates the tensor list, builds the
 * compact JSON header ("__metadata__" first, then tensors by element size,
 * largest first, in the order given among equals; each entry
 * {"dtype","shape","data_offsets"} as the Python library writes them),
 * pads it with spaces to a multiple of 8, and writes header + data to a
 * temporary file that is fsynced and renamed over PATH. */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* order[]: tensor indices by element size, largest first, stable otherwise —
 * the rule the Python library follows, which aligns every tensor naturally */
static void layout_order(const StWriteTensor *ts, size_t n, size_t *order) {
    size_t k = 0;
    for (size_t esz = 8; esz >= 1; esz /= 2)
        for (size_t i = 0; i < n; i++) {
            size_t s = (int)ts[i].dtype >= 0 && ts[i].dtype < DT__COUNT ? dt_size(ts[i].dtype) : 1;
            if (s == esz) order[k++] = i;
        }
}

/* Builds the header object; returns NULL with st set on invalid input. */
static json_t *build_header(const StWriteTensor *ts, const size_t *order, size_t n, const StMeta *meta,
                            size_t nmeta, VStatus *st) {
    json_t *root = json_object();
    if (!root) { vs_set(st, VS_ENOMEM, "out of memory"); return NULL; }
    if (nmeta) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m)) goto nomem;
        for (size_t i = 0; i < nmeta; i++) {
            if (!meta[i].key || !meta[i].value) {
                vs_set(st, VS_EINVAL, "metadata %zu has a NULL key or value", i);
                goto fail;
            }
            if (json_object_get(m, meta[i].key)) {
                vs_set(st, VS_EINVAL, "metadata key '%s' given twice", meta[i].key);
                goto fail;
            }
            json_t *v = json_string(meta[i].value);
            if (!v) {
                vs_set(st, VS_EINVAL, "metadata '%s': value is not valid UTF-8", meta[i].key);
                goto fail;
            }
            if (json_object_set_new(m, meta[i].key, v)) {
                vs_set(st, VS_EINVAL, "metadata key '%s' is not valid UTF-8", meta[i].key);
                goto fail;
            }
        }
    }
    uint64_t pos = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        const StWriteTensor *t = &ts[i];
        const char *name = t->name ? t->name : "";
        if (!*name || strcmp(name, "__metadata__") == 0) {
            vs_set(st, VS_EINVAL, "tensor %zu: invalid name '%s'", i, name);
            goto fail;
        }
        if (json_object_get(root, name)) {
            vs_set(st, VS_EINVAL, "tensor '%s' given twice", name);
            goto fail;
        }
        if ((int)t->dtype < 0 || t->dtype >= DT__COUNT || t->ndim < 0 || t->ndim > ST_MAX_DIMS ||
            (t->ndim && !t->shape)) {
            vs_set(st, VS_EINVAL, "tensor '%s': bad dtype %d or ndim %d", name, (int)t->dtype, t->ndim);
            goto fail;
        }
        uint64_t numel = 1, nbytes;
        json_t *shape = json_array(), *e = json_object(), *offs = json_array();
        if (!shape || !e || !offs || json_object_set_new(root, name, e)) {
            json_decref(shape);
            json_decref(offs);
            goto nomem;
        }
        /* each call fails only when out of memory */
        int bad = json_object_set_new(e, "dtype", json_string(dt_name(t->dtype)));
        bad |= json_object_set_new(e, "shape", shape);
        bad |= json_object_set_new(e, "data_offsets", offs);
        if (bad) goto nomem;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel)) {
                vs_set(st, VS_EINVAL, "tensor '%s': dim %d = %lld negative or overflowing", name, d,
                       (long long)t->shape[d]);
                goto fail;
            }
            if (json_array_append_new(shape, json_integer(t->shape[d]))) goto nomem;
        }
        if (__builtin_mul_overflow(numel, (uint64_t)dt_size(t->dtype), &nbytes) || nbytes > (uint64_t)INT64_MAX - pos) {
            vs_set(st, VS_EINVAL, "tensor '%s': byte size overflows", name);
            goto fail;
        }
        if (nbytes && !t->data && !t->fill) {
            vs_set(st, VS_EINVAL, "tensor '%s': data is NULL and no fill callback", name);
            goto fail;
        }
        if (json_array_append_new(offs, json_integer((json_int_t)pos)) ||
            json_array_append_new(offs, json_integer((json_int_t)(pos + nbytes))))
            goto nomem;
        pos += nbytes;
    }
    return root;
nomem:
    vs_set(st, VS_ENOMEM, "out of memory building the header");
fail:
    json_decref(root);
    return NULL;
}

static int write_all(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }

/* fsync of the directory makes the rename itself durable */
static void sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);   /* best effort: some file systems refuse fsync on directories */
        close(fd);
    }
    free(copy);
}

int st_write(const char *path, const StWriteTensor *tensors, size_t n, const StMeta *meta, size_t nmeta,
             VStatus *st) {
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return vs_set(st, VS_ENOMEM, "%s: out of memory", path);
    layout_order(tensors, n, order);
    json_t *root = build_header(tensors, order, n, meta, nmeta, st);
    if (!root) {
        free(order);
        return vs_prefix(st, "%s", path);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) {
        free(order);
        return vs_set(st, VS_ENOMEM, "%s: out of memory serialising the header", path);
    }
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    char *tmp = malloc(strlen(path) + 32);
    if (!tmp) {
        free(text);
        free(order);
        return vs_set(st, VS_ENOMEM, "%s: out of memory", path);
    }
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        rc = vs_set(st, VS_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = write_all(fp, lenb, 8) && write_all(fp, text, len);
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    void *buf = NULL;   /* fill callbacks' staging buffer, grown to the largest such tensor */
    size_t buf_cap = 0;
    int fill_failed = 0;
    for (size_t k = 0; ok && k < n; k++) {
        const StWriteTensor *t = &tensors[order[k]];
        size_t nb = dt_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) nb *= (size_t)t->shape[d];   /* checked in build_header */
        const void *src = t->data;
        if (!src && nb) {
            if (nb > buf_cap) {
                free(buf);
                buf_cap = 0;
                if (!(buf = malloc(nb))) {
                    rc = vs_set(st, VS_ENOMEM, "%s: out of memory staging tensor '%s' (%zu bytes)", path, t->name, nb);
                    fill_failed = 1;
                    break;
                }
                buf_cap = nb;
            }
            if ((rc = t->fill(t->fill_ctx, buf, nb, st))) {
                vs_prefix(st, "%s: tensor '%s'", path, t->name);
                fill_failed = 1;
                break;
            }
            src = buf;
        }
        ok = write_all(fp, src, nb);
    }
    free(buf);
    ok = ok && !fill_failed && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int err = errno;
    if (fclose(fp) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        if (!fill_failed) rc = vs_set(st, VS_EIO, "%s: writing %s failed: %s", path, tmp, strerror(err));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = vs_set(st, VS_EIO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    sync_dir(path);
out:
    free(order);
    free(tmp);
    free(text);
    return rc;
}
