/* model/safetensors.h — reading and writing safetensors files.
 *
 * Format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON, then the data section. The JSON maps each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data section) and may hold "__metadata__", a map of string
 * to string.
 *
 * Reader contract (st_open): the file is mmapped read-only and validated in
 * full before st_open returns; a file that passes has
 *   - N <= ST_MAX_HEADER (100 MB) and 8 + N <= file size;
 *   - a JSON object header without duplicate keys, each tensor entry having
 *     exactly the three fields above, a known dtype (F32 BF16 F16 I32 I64 U8),
 *     at most ST_MAX_DIMS non-negative dims whose product times the dtype size
 *     does not overflow and equals end - begin;
 *   - tensor byte ranges that cover the data section exactly: no overlap, no
 *     hole, nothing past the end;
 *   - metadata values that are strings.
 * Anything else is an error naming the file and the reason; hostile input
 * never crashes. Tensors are listed in data (offset) order. Tensor data
 * pointers point into the mapping and stay valid until st_close. They are
 * 8-byte aligned when the writer padded its header (both this writer and the
 * Python library do); otherwise read them with memcpy (the st_*_f32 helpers do).
 *
 * Writer contract (st_write): writes "PATH.tmp.PID", fsyncs it, renames it to
 * PATH (atomic: readers see the old file or the new one, never a torn one)
 * and fsyncs the directory. Tensors are laid out by element size, largest
 * first, in the order given among equal sizes (as the Python library does, so
 * every tensor's data is naturally aligned in the mapping); the header is
 * compact JSON ("__metadata__" first) padded with spaces so the data
 * section starts at a multiple of 8, the layout the Python library writes.
 */
#ifndef VLMC_MODEL_SAFETENSORS_H
#define VLMC_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "kernels/ops.h"   /* DType, dt_size, dt_name */

#define ST_MAX_HEADER (100u * 1000u * 1000u)
#define ST_MAX_DIMS 8

typedef struct StTensor {
    const char *name;
    DType dtype;
    int ndim;                       /* 0 = scalar */
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;                  /* numel * dt_size(dtype) */
    size_t offset;                  /* from the start of the data section */
    const void *data;               /* into the mapping (reader) */
} StTensor;

typedef struct StFile StFile;

/* Opens and validates a file (see the contract above). NULL + st on error;
 * st->msg reads "PATH: reason". */
StFile *st_open(const char *path, VStatus *st);
void st_close(StFile *f);

const char *st_path(const StFile *f);
size_t st_count(const StFile *f);
const StTensor *st_tensor(const StFile *f, size_t i);   /* in offset order */
const StTensor *st_find(const StFile *f, const char *name);   /* NULL if absent */
size_t st_header_bytes(const StFile *f);   /* N */
size_t st_data_bytes(const StFile *f);

size_t st_meta_count(const StFile *f);
const char *st_meta_key(const StFile *f, size_t i);
const char *st_meta_value(const StFile *f, size_t i);
const char *st_meta_get(const StFile *f, const char *key);   /* NULL if absent */

/* ---- conversions ---------------------------------------------------------- */

float st_bf16_to_f32(uint16_t h);
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float f);   /* round to nearest even; NaN stays NaN */
uint16_t st_f32_to_f16(float f);    /* round to nearest even; overflow -> inf */

/* Copies a float tensor (F32, BF16, F16) into out[numel] as f32. Errors (EINVAL)
 * on integer dtypes, naming the tensor. */
int st_tensor_to_f32(const StTensor *t, float *out, VStatus *st);
/* Copies an integer tensor (I32, I64, U8) into out[numel] as i32; errors on
 * float dtypes and on I64 values outside the i32 range. */
int st_tensor_to_i32(const StTensor *t, int32_t *out, VStatus *st);

/* ---- writing -------------------------------------------------------------- */

/* Fill with designated initializers ({.name = ..., .data = ...}): unused
 * members must be zero. */
typedef struct StWriteTensor {
    const char *name;
    DType dtype;
    int ndim;
    const int64_t *shape;
    const void *data;   /* numel * dt_size(dtype) bytes, host memory */
    /* Alternative to data (used when data is NULL): called once, while the
     * file is written, to fill dst with the tensor's nbytes bytes — e.g. a
     * download from a device — so a checkpoint never holds a host copy of
     * every tensor at once. A nonzero return aborts the write. */
    int (*fill)(void *ctx, void *dst, size_t nbytes, VStatus *st);
    void *fill_ctx;
} StWriteTensor;

typedef struct StMeta {
    const char *key;
    const char *value;
} StMeta;

/* Writes tensors[0..n) and metadata (may be NULL when nmeta == 0) to path,
 * atomically. Errors (names empty or duplicated or "__metadata__", bad dims,
 * I/O) leave no file behind and name the path and the reason. */
int st_write(const char *path, const StWriteTensor *tensors, size_t n, const StMeta *meta, size_t nmeta,
             VStatus *st);

#endif
