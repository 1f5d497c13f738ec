/* core/cpu_features.c — cpuid / xgetbv probing (see cpu_features.h). Bit
 * positions are from the Intel SDM, vol. 2A, CPUID leaves 1 and 7. */
#include "core/cpu_features.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void cpu_features_get(CpuFeatures *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d, max;
    if (!__get_cpuid(0, &max, &b, &c, &d)) return;
    memcpy(f->vendor, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    unsigned ext;
    if (__get_cpuid(0x80000000u, &ext, &b, &c, &d) && ext >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(f->brand, r, 48);
        char *s = f->brand;
        while (*s == ' ') s++;
        memmove(f->brand, s, strlen(s) + 1);
        for (size_t n = strlen(f->brand); n && f->brand[n - 1] == ' '; n--) f->brand[n - 1] = 0;
    }
    __get_cpuid(1, &a, &b, &c, &d);
    f->sse3 = (c >> 0) & 1;
    int osxsave = (c >> 27) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6;                 /* XMM and YMM state */
    int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  /* opmask, ZMM_Hi256, Hi16_ZMM */
    int os_amx = (xcr0 & 0x60000) == 0x60000;         /* XTILECFG, XTILEDATA */
    f->avx = os_avx && ((c >> 28) & 1);
    f->fma = os_avx && ((c >> 12) & 1);
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        unsigned sub = a;
        f->avx2 = os_avx && ((b >> 5) & 1);
        f->avx512f = os_avx512 && ((b >> 16) & 1);
        f->avx512dq = os_avx512 && ((b >> 17) & 1);
        f->avx512bw = os_avx512 && ((b >> 30) & 1);
        f->avx512vl = os_avx512 && ((b >> 31) & 1);
        f->amx_bf16 = os_amx && ((d >> 22) & 1);
        f->amx_tile = os_amx && ((d >> 24) & 1);
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512_bf16 = os_avx512 && ((a >> 5) & 1);
        }
    }
}
#else
void cpu_features_get(CpuFeatures *f) { memset(f, 0, sizeof *f); }
#endif

void cpu_features_str(const CpuFeatures *f, char *buf, size_t n) {
    const struct { const char *name; int on; } t[] = {
        {"sse3", f->sse3},         {"avx", f->avx},           {"fma", f->fma},
        {"avx2", f->avx2},         {"avx512f", f->avx512f},   {"avx512bw", f->avx512bw},
        {"avx512dq", f->avx512dq}, {"avx512vl", f->avx512vl}, {"avx512_bf16", f->avx512_bf16},
        {"amx_tile", f->amx_tile}, {"amx_bf16", f->amx_bf16},
    };
    size_t o = 0;
    if (n) buf[0] = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].on && o < n) o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? " " : "", t[i].name);
}
