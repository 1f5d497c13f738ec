/* kernels/cuda/cuda_check.c — error strings and hints for the check macros
 * of cuda_check.h. */
#include "kernels/cuda/cuda_check.h"

#include <stdio.h>
#include <string.h>

int cuda_fail(Backend *be, VStatus *st, const char *lib, const char *call, const char *err,
              const char *hint, const char *file, int line) {
    const char *base = strrchr(file, '/');
    /* keep "kernels/cuda/x.c" rather than the absolute build path */
    const char *k = strstr(file, "kernels/");
    base = k ? k : base ? base + 1 : file;
    if (st)
        return vs_set(st, VS_EDEVICE, "%s call %s failed at %s:%d: %s%s%s%s", lib, call, base, line, err,
                      hint && *hint ? " (hint: " : "", hint && *hint ? hint : "", hint && *hint ? ")" : "");
    if (be) {
        be_record_error(be, VS_EDEVICE, "%s call %s failed at %s:%d: %s%s%s%s", lib, call, base, line, err,
                        hint && *hint ? " (hint: " : "", hint && *hint ? hint : "", hint && *hint ? ")" : "");
        return VS_EDEVICE;
    }
    /* neither: a programming error in the caller, but never lose the message */
    fprintf(stderr, "vlmc: %s call %s failed at %s:%d: %s\n", lib, call, base, line, err);
    return VS_EDEVICE;
}

const char *cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorNoDevice:
        return "no GPU is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES";
    case cudaErrorInsufficientDriver:
        return "the NVIDIA driver is missing or older than this CUDA runtime; on a machine without a GPU use the cpu backend";
    case cudaErrorInvalidDevice:
        return "device index out of range: the local rank exceeds the visible GPUs (CUDA_VISIBLE_DEVICES?)";
    case cudaErrorMemoryAllocation:
        return "out of GPU memory: reduce the batch size or the buffer reservations, or check nvidia-smi for other processes";
    case cudaErrorIllegalAddress:
        return "a kernel read or wrote outside its buffers: rerun under compute-sanitizer --tool memcheck";
    case cudaErrorLaunchOutOfResources:
        return "too many registers or too much shared memory for this launch configuration";
    case cudaErrorInvalidConfiguration:
        return "bad grid/block size (an empty tensor or a dimension past the grid limit?)";
    case cudaErrorNoKernelImageForDevice:
        return "the binary was built for sm_90 only; this GPU needs another -arch";
    case cudaErrorDevicesUnavailable:
        return "the GPU is in exclusive-process mode and busy";
    default:
        return "";
    }
}

int cuda_check_rt(cudaError_t e, Backend *be, VStatus *st, const char *call, const char *file, int line) {
    if (e == cudaSuccess) return 0;
    char err[256];
    snprintf(err, sizeof err, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return cuda_fail(be, st, "CUDA", call, err, cuda_hint(e), file, line);
}

int cuda_check_blas(cublasStatus_t s, Backend *be, VStatus *st, const char *call, const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    const char *hint = "";
    if (s == CUBLAS_STATUS_NOT_INITIALIZED) hint = "cuBLAS could not initialise: is the GPU visible and the driver loaded?";
    else if (s == CUBLAS_STATUS_NOT_SUPPORTED) hint = "this dtype/layout/epilogue combination is not supported (check alignment of views)";
    else if (s == CUBLAS_STATUS_ALLOC_FAILED) hint = "out of GPU memory";
    else if (s == CUBLAS_STATUS_INVALID_VALUE) hint = "a dimension, leading dimension or stride is invalid";
    char err[256];
    snprintf(err, sizeof err, "%s (%s)", cublasLtGetStatusString(s), cublasLtGetStatusName(s));
    return cuda_fail(be, st, "cuBLASLt", call, err, hint, file, line);
}

int cuda_check_dnn(cudnnStatus_t s, Backend *be, VStatus *st, const char *call, const char *file, int line) {
    if (s == CUDNN_STATUS_SUCCESS) return 0;
    const char *hint = "";
    if (s == CUDNN_STATUS_NOT_INITIALIZED) hint = "cuDNN could not initialise: is the GPU visible? are libcudnn's sub-libraries on LD_LIBRARY_PATH?";
    else if (s == CUDNN_STATUS_NOT_SUPPORTED) hint = "no cuDNN engine supports this configuration";
    return cuda_fail(be, st, "cuDNN", call, cudnnGetErrorString(s), hint, file, line);
}

int cuda_check_nccl(ncclResult_t r, Backend *be, VStatus *st, const char *call, const char *file, int line) {
    if (r == ncclSuccess) return 0;
    const char *hint = "";
    if (r == ncclSystemError) hint = "a system call failed: check NCCL_DEBUG=INFO output, shared memory size (/dev/shm) and network interfaces";
    else if (r == ncclUnhandledCudaError) hint = "a CUDA call inside NCCL failed: is each rank on its own GPU?";
    else if (r == ncclInvalidUsage) hint = "ranks disagree on the collective's arguments or order";
    return cuda_fail(be, st, "NCCL", call, ncclGetErrorString(r), hint, file, line);
}
