/* data/image_jpeg.c — JPEG decoding with libjpeg-turbo.
 *
 * Invariants:
 *  - libjpeg errors never exit(): error_exit formats the message and
 *    longjmps back here; everything allocated is reachable from JCtx (memory,
 *    not registers) so the error path frees it.
 *  - "Premature end of JPEG file" / "premature end of data segment" warnings
 *    mean a truncated file: the decode fails (libjpeg would otherwise pad the
 *    image with grey and carry on). Other warnings (extraneous bytes) are
 *    tolerated, as Pillow does.
 *  - The declared size is checked after jpeg_read_header and before any
 *    pixel allocation.
 *  - Colour: grayscale is replicated to RGB by libjpeg; CMYK/YCCK files are
 *    read as Adobe-inverted CMYK (Pillow's assumption, rawmode "CMYK;I") and
 *    converted to RGB with Pillow's CMYK->RGB formula
 *    R = (255-K) - round(C*(255-K)/255), likewise G (M) and B (Y).
 *  - DCT scaling (opt->min_w, min_h > 0): the largest 1/d, d in {8,4,2},
 *    with width >= d*min_w and height >= d*min_h — the same choice as
 *    Pillow's Image.draft(), so the pixels equal Pillow's drafted decode.
 *  - Two modes: decode into an Image, or stream chunks of rows to a sink
 *    (img_load_preprocessed), which never holds the full-size image. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "data/image_internal.h"

typedef struct JCtx {
    struct jpeg_error_mgr pub;  // first: libjpeg casts cinfo->err to this
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX + 32];
    uint8_t *cmyk_row;          // (w, 4) scratch row for CMYK files
    uint8_t *chunk;             // streaming: CHUNK rows of (w*3 + 16) bytes
} JCtx;

static void j_error_exit(j_common_ptr ci) {
    JCtx *c = (JCtx *)ci->err;
    ci->err->format_message(ci, c->msg);
    longjmp(c->jb, 1);
}

static void j_emit_message(j_common_ptr ci, int level) {
    if (level >= 0) return;  // trace messages
    JCtx *c = (JCtx *)ci->err;
    int code = ci->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
        char m[JMSG_LENGTH_MAX];
        ci->err->format_message(ci, m);
        snprintf(c->msg, sizeof c->msg, "truncated JPEG (%s)", m);
        longjmp(c->jb, 1);
    }
    ci->err->num_warnings++;
}

/* Pillow's MULDIV255: round(a * b / 255) for a, b in [0, 255]. */
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, int w) {
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        // Adobe files store inverted CMYK: C = 255 - in[0], K = 255 - in[3]
        int nk = in[3];  // 255 - K
        out[0] = (uint8_t)(nk - muldiv255(255 - in[0], nk));
        out[1] = (uint8_t)(nk - muldiv255(255 - in[1], nk));
        out[2] = (uint8_t)(nk - muldiv255(255 - in[2], nk));
    }
}

static void find_exif(struct jpeg_decompress_struct *ci, int *orient) {
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            *orient = img__exif_orientation(m->data + 6, m->data_length - 6);
            return;
        }
    }
}

/* Decodes into out (sink == NULL) or streams rows to sink. */
static int jpeg_run(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, const ImgRowSink *sink,
                    int *orient, VStatus *st) {
    struct jpeg_decompress_struct ci;
    JCtx c;
    memset(&c, 0, sizeof c);
    ci.err = jpeg_std_error(&c.pub);
    c.pub.error_exit = j_error_exit;
    c.pub.emit_message = j_emit_message;
    if (setjmp(c.jb)) {
        jpeg_destroy_decompress(&ci);
        free(c.cmyk_row);
        free(c.chunk);
        if (out) img_free(out);
        if (strncmp(c.msg, "truncated", 9) == 0) return vs_set(st, VS_EINVAL, "JPEG: %s", c.msg);
        return vs_set(st, VS_EINVAL, "corrupt JPEG: %s", c.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)n);
    if (opt->apply_exif) jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    int rc = 0;
    if ((rc = img__check_dims("JPEG", ci.image_width, ci.image_height, opt->max_pixels, st))) goto fail;
    if (opt->apply_exif && orient) find_exif(&ci, orient);
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if (opt->min_w > 0 && opt->min_h > 0) {
        for (unsigned d = 8; d >= 2; d /= 2) {
            if (ci.image_width >= d * (unsigned)opt->min_w && ci.image_height >= d * (unsigned)opt->min_h) {
                ci.scale_num = 1;
                ci.scale_denom = d;
                break;
            }
        }
    }
    jpeg_calc_output_dimensions(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height;
    if (sink && (rc = sink->begin(sink->ctx, w, h, st))) goto fail;  // before any pixel work
    jpeg_start_decompress(&ci);
    size_t rowb = (size_t)w * 3, stride = sink ? rowb + 16 : rowb;
    enum { CHUNK = 16 };
    if (sink) c.chunk = malloc(stride * CHUNK);
    else rc = img__alloc(out, w, h, st);
    if (cmyk && !rc) c.cmyk_row = malloc((size_t)w * 4);
    if (!rc && ((sink && !c.chunk) || (cmyk && !c.cmyk_row))) rc = vs_set(st, VS_ENOMEM, "JPEG: out of memory");
    if (rc) goto fail;
    while (ci.output_scanline < ci.output_height) {
        unsigned y = ci.output_scanline, k = 0;
        uint8_t *base = sink ? c.chunk : out->px + (size_t)y * rowb;
        while (k < CHUNK && y + k < ci.output_height) {
            JSAMPROW rows[CHUNK];
            unsigned want = cmyk ? 1 : CHUNK - k;
            if (y + k + want > ci.output_height) want = ci.output_height - y - k;
            for (unsigned r = 0; r < want; r++) rows[r] = cmyk ? c.cmyk_row : base + (size_t)(k + r) * stride;
            unsigned got = jpeg_read_scanlines(&ci, rows, want);
            if (got == 0) break;
            if (cmyk) cmyk_to_rgb(c.cmyk_row, base + (size_t)k * stride, w);
            k += got;
        }
        if (k == 0) {
            rc = vs_set(st, VS_EINVAL, "truncated JPEG (%u of %d rows)", y, h);
            goto fail;
        }
        if (sink && (rc = sink->rows(sink->ctx, c.chunk, stride, (int)y, (int)k, st))) goto fail;
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(c.cmyk_row);
    free(c.chunk);
    return 0;
fail:
    jpeg_destroy_decompress(&ci);
    free(c.cmyk_row);
    free(c.chunk);
    if (out) img_free(out);
    return rc;
}

int img__decode_jpeg(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st) {
    return jpeg_run(buf, n, opt, out, NULL, orient, st);
}

int img__jpeg_stream(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, const ImgRowSink *sink, VStatus *st) {
    return jpeg_run(buf, n, opt, NULL, sink, NULL, st);
}
