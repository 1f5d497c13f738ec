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
 *    Pillow's Image.draft(), so the pixels equal Pillow's drafted decode. */
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

int img__decode_jpeg(const uint8_t *buf, size_t n, const ImgDecodeOpts *opt, Image *out, int *orient, VStatus *st) {
    struct jpeg_decompress_struct ci;
    JCtx c;
    memset(&c, 0, sizeof c);
    ci.err = jpeg_std_error(&c.pub);
    c.pub.error_exit = j_error_exit;
    c.pub.emit_message = j_emit_message;
    if (setjmp(c.jb)) {
        jpeg_destroy_decompress(&ci);
        free(c.cmyk_row);
        img_free(out);
        if (strncmp(c.msg, "truncated", 9) == 0) return vs_set(st, VS_EINVAL, "JPEG: %s", c.msg);
        return vs_set(st, VS_EINVAL, "corrupt JPEG: %s", c.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, (unsigned long)n);
    if (opt->apply_exif) jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    if (img__check_dims("JPEG", ci.image_width, ci.image_height, opt->max_pixels, st)) {
        jpeg_destroy_decompress(&ci);
        return st ? st->code : VS_ENOMEM;
    }
    if (opt->apply_exif) find_exif(&ci, orient);
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
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height;
    if (img__alloc(out, w, h, st)) {
        jpeg_destroy_decompress(&ci);
        return st ? st->code : VS_ENOMEM;
    }
    if (cmyk) {
        if (!(c.cmyk_row = malloc((size_t)w * 4))) {
            jpeg_destroy_decompress(&ci);
            img_free(out);
            return vs_set(st, VS_ENOMEM, "JPEG: out of memory for a CMYK row");
        }
        while (ci.output_scanline < ci.output_height) {
            JSAMPROW r = c.cmyk_row;
            unsigned y = ci.output_scanline;
            if (jpeg_read_scanlines(&ci, &r, 1) != 1) break;
            cmyk_to_rgb(c.cmyk_row, out->px + (size_t)y * w * 3, w);
        }
    } else {
        while (ci.output_scanline < ci.output_height) {
            JSAMPROW rows[16];
            unsigned y = ci.output_scanline, k = 0;
            for (; k < 16 && y + k < ci.output_height; k++) rows[k] = out->px + (size_t)(y + k) * w * 3;
            if (jpeg_read_scanlines(&ci, rows, k) == 0) break;
        }
    }
    if (ci.output_scanline < ci.output_height) {
        int got = (int)ci.output_scanline;
        jpeg_destroy_decompress(&ci);
        free(c.cmyk_row);
        img_free(out);
        return vs_set(st, VS_EINVAL, "truncated JPEG (%d of %d rows)", got, h);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(c.cmyk_row);
    return 0;
}
