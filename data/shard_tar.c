/* data/shard_tar.c — WebDataset tar shards through libarchive.
 *
 * Open: one pass over the headers (data is seeked over, not read) records
 * each sample as (offset of its first header, number of members), 16 bytes
 * a sample; the file is closed again (a fetch opens it, so thousands of
 * shards hold no descriptors);
 * members of a sample are consecutive, as WebDataset writes them. A scan that
 * hits a cut-off file stops there: the sample being read is kept in the
 * index and its fetch finds the truncation (so exactly the damaged sample is
 * skipped). Fetch: a fresh libarchive reader starting at the sample's offset
 * reads its members. Member names are only split into key and extension,
 * never opened as paths; names with '..' or absolute ones mark the sample
 * unsafe. A member larger than LD_TAR_MAX_MEMBER is refused before allocation. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/shards.h"

#define LD_TAR_MAX_MEMBER ((int64_t)1 << 28)
#define KEY_MAX 192

typedef struct TarSample {
    int64_t offset;     /* of the first member's header (pax headers included) */
    int32_t n_members;
    int32_t unsafe;     /* a member is named with '..' or an absolute path */
} TarSample;

typedef struct TarIndex {
    TarSample *s;
    int64_t n, cap;
} TarIndex;

/* libarchive client reading the file from a start offset */
typedef struct Reader {
    int fd;
    int64_t pos;
    uint8_t buf[1 << 16];
} Reader;

static la_ssize_t rd_read(struct archive *a, void *ud, const void **out) {
    Reader *r = ud;
    ssize_t n = pread(r->fd, r->buf, sizeof r->buf, (off_t)r->pos);
    if (n < 0) {
        archive_set_error(a, errno, "read: %s", strerror(errno));
        return -1;
    }
    r->pos += n;
    *out = r->buf;
    return n;
}

static la_int64_t rd_skip(struct archive *a, void *ud, la_int64_t req) {
    (void)a;
    ((Reader *)ud)->pos += req;
    return req;
}

static struct archive *open_at(Reader *r, int fd, int64_t off) {
    r->fd = fd;
    r->pos = off;
    struct archive *a = archive_read_new();
    VLMC_ASSERT(a != NULL, "archive_read_new failed");
    archive_read_support_format_tar(a);
    archive_read_set_read_callback(a, rd_read);
    archive_read_set_skip_callback(a, rd_skip);
    archive_read_set_callback_data(a, r);
    if (archive_read_open1(a) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

int ld_name_is_safe(const char *name) {
    if (name[0] == '/' || name[0] == '\\') return 0;
    for (const char *p = name; *p;) {
        const char *e = p + strcspn(p, "/\\");
        if (e - p == 2 && p[0] == '.' && p[1] == '.') return 0;
        p = *e ? e + 1 : e;
    }
    return 1;
}

/* "dir/KEY.0.jpg" -> key "dir/KEY", ext "0.jpg" (ext may be empty) */
static void split_name(const char *name, char *key, const char **ext) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);
    if (n >= KEY_MAX) n = KEY_MAX - 1;
    memcpy(key, name, n);
    key[n] = 0;
    *ext = dot ? dot + 1 : "";
}

int ld_tar_open(const char *path, LdShard *s, VStatus *st) {
    TarIndex *ix = calloc(1, sizeof *ix);
    VLMC_ASSERT(ix != NULL, "out of memory");
    s->impl = ix;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vs_set(st, VS_EIO, "%s: %s", path, strerror(errno));
    Reader *r = malloc(sizeof *r);
    VLMC_ASSERT(r != NULL, "out of memory");
    struct archive *a = open_at(r, fd, 0);
    if (!a) {
        free(r);
        close(fd);
        return vs_set(st, VS_EINVAL, "%s: not a readable tar file", path);
    }
    struct archive_entry *e;
    char cur[KEY_MAX] = "";
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = archive_entry_pathname(e);
        if (!name) name = "";
        char key[KEY_MAX];
        const char *ext;
        split_name(name, key, &ext);
        if (ix->n == 0 || strcmp(cur, key) != 0) {
            if (ix->n == ix->cap) {
                ix->cap = ix->cap ? ix->cap * 2 : 256;
                ix->s = realloc(ix->s, (size_t)ix->cap * sizeof *ix->s);
                VLMC_ASSERT(ix->s != NULL, "out of memory");
            }
            ix->s[ix->n++] = (TarSample){archive_read_header_position(a), 0, 0};
            strcpy(cur, key);
        }
        TarSample *t = &ix->s[ix->n - 1];
        t->n_members++;
        if (!ld_name_is_safe(name)) t->unsafe = 1;
        if (archive_read_data_skip(a) != ARCHIVE_OK) break;
    }
    /* rc != EOF: the file is cut off; the sample in progress stays indexed and
     * its fetch reports the truncation. */
    archive_read_free(a);
    free(r);
    close(fd);
    s->count = ix->n;
    return 0;
}

static int is_image_ext(const char *e) {
    return !strcmp(e, "jpg") || !strcmp(e, "jpeg") || !strcmp(e, "png") || !strcmp(e, "webp");
}

static int blob_cmp(const void *a, const void *b) {
    return ((const LdBlob *)a)->index - ((const LdBlob *)b)->index;
}

static int mark(LdRaw *raw, int reason, const char *fmt, const char *arg) {
    raw->skip = reason;
    snprintf(raw->skip_msg, sizeof raw->skip_msg, fmt, arg);
    return 0;
}

int ld_tar_fetch(LdShard *s, int64_t j, LdRaw *raw, VStatus *st) {
    TarIndex *ix = s->impl;
    TarSample *t = &ix->s[j];
    snprintf(raw->key, sizeof raw->key, "#%lld", (long long)j);   /* until the first header names it */
    raw->shard = s->path;
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vs_set(st, VS_EIO, "%s: %s", s->path, strerror(errno));
    Reader *r = malloc(sizeof *r);
    VLMC_ASSERT(r != NULL, "out of memory");
    struct archive *a = open_at(r, fd, t->offset);
    if (!a) {
        free(r);
        close(fd);
        return mark(raw, LD_SKIP_TRUNCATED, "%s: cannot read the member header", raw->key);
    }
    raw->json = json_object();
    struct archive_entry *e;
    int got = 0;
    while (got < t->n_members) {
        int rc = archive_read_next_header(a, &e);
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
            mark(raw, LD_SKIP_TRUNCATED, "truncated tar: member header of %s", raw->key);
            break;
        }
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = archive_entry_pathname(e), *ext;
        char key[KEY_MAX];
        split_name(name ? name : "", key, &ext);
        if (got++ == 0) snprintf(raw->key, sizeof raw->key, "%s", key);
        if (t->unsafe) {   /* the name is only printed, never opened */
            mark(raw, LD_SKIP_UNSAFE_NAME, "member of %s named with '..' or an absolute path", raw->key);
            break;
        }
        int64_t size = archive_entry_size(e);
        if (size < 0 || size > LD_TAR_MAX_MEMBER) {
            mark(raw, LD_SKIP_BAD_SAMPLE, "member %s larger than the 256 MiB limit", name);
            break;
        }
        uint8_t *buf = malloc((size_t)size + 1);
        VLMC_ASSERT(buf != NULL, "out of memory");
        int64_t have = 0;
        while (have < size) {
            la_ssize_t n = archive_read_data(a, buf + have, (size_t)(size - have));
            if (n <= 0) break;
            have += n;
        }
        if (have < size) {
            free(buf);
            mark(raw, LD_SKIP_TRUNCATED, "truncated tar member %s", name);
            break;
        }
        buf[size] = 0;
        const char *last = strrchr(ext, '.');
        last = last ? last + 1 : ext;
        if (!strcmp(ext, "txt")) {
            json_object_set_new(raw->json, "txt", json_stringn((const char *)buf, (size_t)size));
            free(buf);
        } else if (!strcmp(ext, "json")) {
            json_error_t je;
            json_t *v = json_loadb((const char *)buf, (size_t)size, 0, &je);
            free(buf);
            if (!v || !json_is_object(v)) {
                if (v) json_decref(v);
                mark(raw, LD_SKIP_BAD_JSON, "malformed JSON in %s", name);
                break;
            }
            json_object_update(v, raw->json);   /* KEY.txt wins over a "txt" field */
            json_decref(raw->json);
            raw->json = v;
        } else if (is_image_ext(last) && raw->n_imgs < LD_MAX_IMAGES) {
            raw->imgs = realloc(raw->imgs, (size_t)(raw->n_imgs + 1) * sizeof *raw->imgs);
            VLMC_ASSERT(raw->imgs != NULL, "out of memory");
            LdBlob *b = &raw->imgs[raw->n_imgs++];
            b->index = last == ext ? -1 : atoi(ext);
            snprintf(b->ext, sizeof b->ext, "%s", last);
            b->data = buf;
            b->n = (size_t)size;
        } else {
            free(buf);   /* other members (.cls, .npy ...) are not used */
        }
    }
    archive_read_free(a);
    free(r);
    close(fd);
    if (raw->n_imgs > 1) qsort(raw->imgs, (size_t)raw->n_imgs, sizeof *raw->imgs, blob_cmp);
    return 0;
}

void ld_tar_close(LdShard *s) {
    TarIndex *ix = s->impl;
    if (!ix) return;
    free(ix->s);
    free(ix);
}
