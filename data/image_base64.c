/* data/image_base64.c — base64 image payloads (VLMEvalKit TSV cells, data:
 * URLs in OpenAI-style messages) -> decoded image.
 *
 * Accepts the standard alphabet (and the URL-safe '-' '_'), optional '='
 * padding, ASCII whitespace anywhere, and an optional "data:...;base64,"
 * prefix. Any other byte is an error naming its offset. */
#include <stdlib.h>
#include <string.h>

#include "data/image_internal.h"

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

int img_decode_base64(const char *b64, size_t n, const ImgDecodeOpts *opt, Image *out, VStatus *st) {
    out->w = out->h = 0;
    out->px = NULL;
    size_t start = 0;
    if (n > 5 && memcmp(b64, "data:", 5) == 0) {
        const char *comma = memchr(b64, ',', n);
        if (!comma) return vs_set(st, VS_EINVAL, "base64: data URL without a comma");
        start = (size_t)(comma - b64) + 1;
    }
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    if (!buf) return vs_set(st, VS_ENOMEM, "base64: out of memory for %zu bytes", n);
    size_t m = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = start; i < n; i++) {
        unsigned char c = (unsigned char)b64[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(buf);
            return vs_set(st, VS_EINVAL, "base64: invalid character 0x%02x at offset %zu", c, i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[m++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 6) {  // one leftover sextet cannot encode a byte
        free(buf);
        return vs_set(st, VS_EINVAL, "base64: truncated input (dangling character)");
    }
    int rc = img_decode(buf, m, opt, out, st);
    free(buf);
    if (rc) vs_prefix(st, "base64 image");
    return rc;
}
