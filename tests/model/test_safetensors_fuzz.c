/* tests/model/test_safetensors_fuzz.c — fuzz-style robustness of st_open.
 *
 * Deterministic mutations (fixed LCG seed) of the golden dtypes.safetensors:
 * byte flips inside the JSON header, forged header lengths, truncations and
 * appended bytes. Each mutant must either be rejected with an EINVAL message
 * naming the file, or open with every tensor inside the data section and the
 * sections tiling it exactly. Run under ASan/UBSan in CI, so "no crash" means
 * no invalid read either. */
#include <stdint.h>

#include "model/safetensors.h"
#include "st_hostile.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    unsigned char *buf = malloc(1 << 16);
    *n = buf ? fread(buf, 1, 1 << 16, fp) : 0;
    fclose(fp);
    return buf;
}

static void check_invariants(const StFile *f, const char *what) {
    size_t sum = 0;
    for (size_t i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor(f, i);
        CHECK(t->offset == sum, "%s: tensor %zu at %zu, expected %zu", what, i, t->offset, sum);
        CHECK(t->nbytes == (size_t)t->numel * dt_size(t->dtype), "%s: size", what);
        CHECK(st_find(f, t->name) == t, "%s: find", what);
        sum += t->nbytes;
    }
    CHECK(sum == st_data_bytes(f), "%s: tensors cover %zu of %zu bytes", what, sum, st_data_bytes(f));
}

static void test_mutants(void) {
    const char *src = getenv("VLMC_SOURCE_DIR");
    char golden[2048], dir[512], path[700];
    snprintf(golden, sizeof golden, "%s/tests/golden/safetensors/dtypes.safetensors", src ? src : ".");
    size_t n = 0;
    unsigned char *orig = read_all(golden, &n), *buf = malloc(n + 64);
    CHECK(orig && buf && n > 16, "golden %s", golden);
    CHECK(hostile_mkdtemp(dir, sizeof dir) == 0, "tmp");
    if (!orig || !buf || n <= 16) return;
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | orig[i];
    static const char interesting[] = "{}[]\",:0123456789-.eE \\u";
    int opened = 0, rejected = 0;
    for (int iter = 0; iter < 1500; iter++) {
        size_t len = n;
        memcpy(buf, orig, n);
        int kind = (int)(next_u32() % 5);
        if (kind <= 1) {   /* 1-4 byte changes in the JSON, often to JSON punctuation */
            int k = 1 + (int)(next_u32() % 4);
            for (int j = 0; j < k; j++) {
                size_t at = 8 + next_u32() % hlen;
                buf[at] = kind ? (unsigned char)interesting[next_u32() % (sizeof interesting - 1)] : (unsigned char)next_u32();
            }
        } else if (kind == 2) {   /* forged header length */
            uint64_t v = next_u32() % 3 == 0 ? (uint64_t)next_u32() << (next_u32() % 32) : hlen + next_u32() % 17 - 8;
            for (int b = 0; b < 8; b++) buf[b] = (unsigned char)(v >> (8 * b));
        } else if (kind == 3) {   /* truncation */
            len = next_u32() % n;
        } else {   /* appended bytes */
            len = n + 1 + next_u32() % 63;
            memset(buf + n, 0, len - n);
        }
        unlink(path);   /* a fresh file: rewriting by truncation makes ext4 flush on close (slow) */
        FILE *fp = fopen(path, "wb");
        CHECK(fp && fwrite(buf, 1, len, fp) == len, "write mutant");
        if (fp) fclose(fp);
        VStatus st = {0};
        StFile *f = st_open(path, &st);
        char what[64];
        snprintf(what, sizeof what, "mutant %d (kind %d)", iter, kind);
        if (f) {
            opened++;
            check_invariants(f, what);
            st_close(f);
        } else {
            rejected++;
            CHECK(st.code == VS_EINVAL && strstr(st.msg, path), "%s: code %d msg %s", what, st.code, st.msg);
        }
    }
    printf("%d mutants opened (still valid), %d rejected\n", opened, rejected);
    CHECK(rejected > 1000, "most mutants must be rejected (%d)", rejected);
    free(orig);
    free(buf);
    hostile_rmdir(dir);
}

TEST_MAIN({"mutants", test_mutants})
