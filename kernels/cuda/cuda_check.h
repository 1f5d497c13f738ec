/* kernels/cuda/cuda_check.h — checked calls into the CUDA runtime, cuBLASLt,
 * cuDNN and NCCL.
 *
 * Every library call in kernels/cuda goes through one of these macros. A
 * failure is turned into one line naming the call as written, the file and
 * line, the library's own error string and, for common causes, a hint
 * ("is the GPU visible?"). Where a VStatus is at hand (backend creation,
 * reservations) the line goes there; inside ops it is recorded in the backend
 * (be_record_error) and returned by the next be_sync(), as ops.h promises.
 *
 * Each macro evaluates to 0 on success and VS_EDEVICE on failure, so callers
 * write `if (CU_CHECK(be, st, cudaMalloc(&p, n))) return NULL;`.
 * Usable from C (gcc/clang) and from CUDA C (nvcc).
 */
#ifndef VLMC_KERNELS_CUDA_CHECK_H
#define VLMC_KERNELS_CUDA_CHECK_H

#include <cuda_runtime.h>
#include <cublasLt.h>
#include <cudnn.h>
#include <nccl.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/backend_impl.h"

/* Records (be != NULL, st == NULL) or reports (st != NULL) a failure of `call`.
 * Returns VS_EDEVICE. */
int cuda_fail(Backend *be, VStatus *st, const char *lib, const char *call, const char *err,
              const char *hint, const char *file, int line);

int cuda_check_rt(cudaError_t e, Backend *be, VStatus *st, const char *call, const char *file, int line);
int cuda_check_blas(cublasStatus_t s, Backend *be, VStatus *st, const char *call, const char *file, int line);
int cuda_check_dnn(cudnnStatus_t s, Backend *be, VStatus *st, const char *call, const char *file, int line);
int cuda_check_nccl(ncclResult_t r, Backend *be, VStatus *st, const char *call, const char *file, int line);

/* Hint for a runtime error code ("" when there is nothing useful to add). */
const char *cuda_hint(cudaError_t e);

#ifdef __cplusplus
}
#endif

#define CU_CHECK(be, st, call) cuda_check_rt((call), (be), (st), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(be, st, call) cuda_check_blas((call), (be), (st), #call, __FILE__, __LINE__)
#define CUDNN_CHECK(be, st, call) cuda_check_dnn((call), (be), (st), #call, __FILE__, __LINE__)
#define NCCL_CHECK(be, st, call) cuda_check_nccl((call), (be), (st), #call, __FILE__, __LINE__)
/* After a kernel launch: launch-configuration errors surface here, faults in
 * the kernel itself at the next synchronising call (be_sync). */
#define CU_LAUNCHED(be, name) cuda_check_rt(cudaGetLastError(), (be), NULL, "launch of " name, __FILE__, __LINE__)

#endif
