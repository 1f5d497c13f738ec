/* train/ckpt_dir.c — see ckpt_dir.h. */
#include "train/ckpt_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_PATH_MAX 4096

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int rm_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int ckpt_fsync_path(const char *path, VStatus *st) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vs_set(st, VS_EIO, "%s: cannot open for fsync: %s", path, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    /* some filesystems refuse fsync on directories (EINVAL); the rename is still atomic */
    if (rc != 0 && err != EINVAL) return vs_set(st, VS_EIO, "%s: fsync failed: %s", path, strerror(err));
    return 0;
}

static void parent_of(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (!slash) snprintf(out, cap, ".");
    else if (slash == out) out[1] = 0;
    else *slash = 0;
}

int ckpt_write_file_atomic(const char *path, const void *data, size_t n, VStatus *st) {
    char tmp[CKPT_PATH_MAX], dir[CKPT_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return vs_set(st, VS_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return vs_set(st, VS_EIO, "%s: write failed: %s", tmp, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return vs_set(st, VS_EIO, "%s: fsync/close failed: %s", tmp, strerror(errno));
    }
    if (rename(tmp, path) != 0) return vs_set(st, VS_EIO, "%s: rename failed: %s", path, strerror(errno));
    parent_of(path, dir, sizeof dir);
    return ckpt_fsync_path(dir, st);
}

int ckpt_dir_begin(const char *run_dir, int64_t step, char *tmp, size_t cap, VStatus *st) {
    if (mkdir(run_dir, 0755) != 0 && errno != EEXIST)
        return vs_set(st, VS_EIO, "%s: cannot create run directory: %s", run_dir, strerror(errno));
    snprintf(tmp, cap, "%s/.ckpt-%08" PRId64 ".tmp", run_dir, step);
    if (rm_tree(tmp) != 0) return vs_set(st, VS_EIO, "%s: cannot remove a stale temporary: %s", tmp, strerror(errno));
    if (mkdir(tmp, 0755) != 0) return vs_set(st, VS_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    return 0;
}

int ckpt_dir_commit(const char *run_dir, int64_t step, const char *tmp, VStatus *st) {
    DIR *d = opendir(tmp);
    if (!d) return vs_set(st, VS_EIO, "%s: cannot open: %s", tmp, strerror(errno));
    struct dirent *e;
    char p[CKPT_PATH_MAX];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
        rc = ckpt_fsync_path(p, st);
    }
    closedir(d);
    if (rc || (rc = ckpt_fsync_path(tmp, st))) return rc;
    char final[CKPT_PATH_MAX], name[64];
    snprintf(name, sizeof name, "ckpt-%08" PRId64, step);
    snprintf(final, sizeof final, "%s/%s", run_dir, name);
    if (rm_tree(final) != 0) return vs_set(st, VS_EIO, "%s: cannot replace: %s", final, strerror(errno));
    if (rename(tmp, final) != 0) return vs_set(st, VS_EIO, "%s: rename failed: %s", final, strerror(errno));
    if ((rc = ckpt_fsync_path(run_dir, st))) return rc;
    char latest[CKPT_PATH_MAX], line[80];
    snprintf(latest, sizeof latest, "%s/latest", run_dir);
    int n = snprintf(line, sizeof line, "%s\n", name);
    return ckpt_write_file_atomic(latest, line, (size_t)n, st);
}

int ckpt_dir_latest(const char *run_dir, char *path, size_t cap, VStatus *st) {
    char latest[CKPT_PATH_MAX], name[256] = {0};
    snprintf(latest, sizeof latest, "%s/latest", run_dir);
    FILE *f = fopen(latest, "r");
    if (!f) {
        if (errno == ENOENT) return 1;
        return -vs_set(st, VS_EIO, "%s: cannot read: %s", latest, strerror(errno));
    }
    int ok = fgets(name, sizeof name, f) != NULL;
    fclose(f);
    name[strcspn(name, "\r\n")] = 0;
    if (!ok || strncmp(name, "ckpt-", 5) != 0 || strchr(name, '/'))
        return -vs_set(st, VS_EINVAL, "%s: does not name a checkpoint (\"%s\")", latest, name);
    snprintf(path, cap, "%s/%s", run_dir, name);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return -vs_set(st, VS_EINVAL, "%s names %s, which is missing", latest, path);
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int ckpt_dir_prune(const char *run_dir, int keep_last, int64_t milestone_every, VStatus *st) {
    DIR *d = opendir(run_dir);
    if (!d) return vs_set(st, VS_EIO, "%s: cannot open: %s", run_dir, strerror(errno));
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t s;
        char tail;
        if (sscanf(e->d_name, "ckpt-%" SCNd64 "%c", &s, &tail) != 1) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            int64_t *g = realloc(steps, cap * sizeof *g);
            if (!g) { free(steps); closedir(d); return vs_set(st, VS_ENOMEM, "out of memory"); }
            steps = g;
        }
        steps[n++] = s;
    }
    closedir(d);
    qsort(steps, n, sizeof *steps, cmp_i64);
    char latest[CKPT_PATH_MAX] = {0}, p[CKPT_PATH_MAX];
    VStatus ignore;
    if (ckpt_dir_latest(run_dir, latest, sizeof latest, &ignore) != 0) latest[0] = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int keep = i + (size_t)(keep_last > 0 ? keep_last : 0) >= n ||
                   (milestone_every > 0 && steps[i] % milestone_every == 0);
        snprintf(p, sizeof p, "%s/ckpt-%08" PRId64, run_dir, steps[i]);
        if (keep || strcmp(p, latest) == 0) continue;
        if (rm_tree(p) != 0) rc = vs_set(st, VS_EIO, "%s: cannot remove: %s", p, strerror(errno));
    }
    free(steps);
    return rc;
}

int ckpt_dir_clean_stale(const char *run_dir, VStatus *st) {
    DIR *d = opendir(run_dir);
    if (!d) return errno == ENOENT ? 0 : vs_set(st, VS_EIO, "%s: cannot open: %s", run_dir, strerror(errno));
    struct dirent *e;
    char p[CKPT_PATH_MAX];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, ".ckpt-", 6) != 0 || len < 4 || strcmp(e->d_name + len - 4, ".tmp") != 0) continue;
        snprintf(p, sizeof p, "%s/%s", run_dir, e->d_name);
        if (rm_tree(p) != 0) rc = vs_set(st, VS_EIO, "%s: cannot remove: %s", p, strerror(errno));
    }
    closedir(d);
    return rc;
}
