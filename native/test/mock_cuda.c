/*
 * A stand-in for libcuda and libnvrtc, for tests on machines without a GPU: it exercises the
 * addon's loading, argument marshalling, handles and error reporting, and the CUDA runtime's
 * compile / allocate / copy / launch / time sequence. Device memory is host memory; kernels are
 * not run (a launch only checks its arguments). Every call is appended to the file named by
 * TILECRAFT_MOCK_CUDA_LOG, so a test can assert on what was called.
 *
 * Built by test/runtime/cuda.test.ts: cc -shared -fPIC -o libmockcuda.so mock_cuda.c
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
#define OK 0
#define INVALID_VALUE 1
#define INVALID_IMAGE 200
#define NOT_FOUND 500

static void trace(const char *fmt, ...) {
  const char *path = getenv("TILECRAFT_MOCK_CUDA_LOG");
  if (!path) return;
  FILE *f = fopen(path, "a");
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

CUresult cuInit(unsigned int flags) { trace("cuInit %u", flags); return OK; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return OK; }

CUresult cuGetErrorName(CUresult r, const char **s) {
  switch (r) {
    case OK: *s = "CUDA_SUCCESS"; return OK;
    case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; return OK;
    case INVALID_IMAGE: *s = "CUDA_ERROR_INVALID_IMAGE"; return OK;
    case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; return OK;
    default: *s = NULL; return INVALID_VALUE;
  }
}
CUresult cuGetErrorString(CUresult r, const char **s) {
  switch (r) {
    case INVALID_VALUE: *s = "invalid argument"; return OK;
    case INVALID_IMAGE: *s = "device kernel image is invalid"; return OK;
    case NOT_FOUND: *s = "named symbol not found"; return OK;
    default: *s = "no error"; return OK;
  }
}

CUresult cuDeviceGetCount(int *n) { *n = 1; return OK; }
CUresult cuDeviceGet(int *d, int ordinal) { if (ordinal != 0) return INVALID_VALUE; *d = 0; return OK; }
CUresult cuDeviceGetName(char *name, int len, int dev) {
  (void)dev;
  snprintf(name, (size_t)len, "tilecraft mock GPU");
  return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
  (void)dev;
  switch (attr) {
    case 1: *v = 1024; break;                 /* max threads per block */
    case 2: case 3: *v = 1024; break;         /* block dim x, y */
    case 4: *v = 64; break;                   /* block dim z */
    case 5: *v = 2147483647; break;           /* grid x */
    case 6: case 7: *v = 65535; break;        /* grid y, z */
    case 8: *v = 49152; break;                /* shared per block */
    case 10: *v = 32; break;                  /* warp size */
    case 12: *v = 65536; break;               /* registers per block */
    case 13: *v = 1980000; break;             /* clock kHz */
    case 16: *v = 132; break;                 /* SMs */
    case 36: *v = 2619000; break;
    case 37: *v = 5120; break;
    case 38: *v = 52428800; break;
    case 39: *v = 2048; break;
    case 75: *v = 9; break;                   /* compute capability */
    case 76: *v = 0; break;
    case 81: *v = 233472; break;
    case 82: *v = 65536; break;
    case 97: *v = 232448; break;              /* shared per block, opt-in */
    default: return INVALID_VALUE;
  }
  return OK;
}
CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev) { (void)dev; *bytes = (size_t)1 << 30; return OK; }

static int contextRefs = 0;
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) { (void)dev; contextRefs++; *ctx = (void *)0x1; trace("cuDevicePrimaryCtxRetain"); return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int dev) { (void)dev; contextRefs--; trace("cuDevicePrimaryCtxRelease refs=%d", contextRefs); return OK; }
CUresult cuCtxSetCurrent(void *ctx) { return ctx == (void *)0x1 ? OK : INVALID_VALUE; }
CUresult cuCtxSynchronize(void) { trace("cuCtxSynchronize"); return OK; }

typedef struct { char *image; size_t size; } Module;
typedef struct { char name[256]; } Function;

static const char CUBIN_MAGIC[] = "// mock cubin\n";

/* A 64-bit ELF (a cubin from nvcc) ends with its section header table. */
static size_t elfSize(const unsigned char *p) {
  uint64_t shoff;
  uint16_t shentsize, shnum;
  memcpy(&shoff, p + 0x28, 8);
  memcpy(&shentsize, p + 0x3A, 2);
  memcpy(&shnum, p + 0x3C, 2);
  return (size_t)shoff + (size_t)shentsize * shnum;
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned int n, int *options, void **values) {
  const unsigned char *p = image;
  int mock = strncmp((const char *)image, CUBIN_MAGIC, strlen(CUBIN_MAGIC)) == 0;
  int elf = p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F' && p[4] == 2;
  if (!mock && !elf) {
    for (unsigned int i = 0; i < n; i++) {
      if (options[i] == 5) snprintf((char *)values[i], 64, "mock: neither a mock cubin nor an ELF cubin");
    }
    return INVALID_IMAGE;
  }
  Module *m = malloc(sizeof(Module));
  m->size = mock ? strlen((const char *)image) + 1 : elfSize(p);
  m->image = malloc(m->size);
  memcpy(m->image, image, m->size);
  *module = m;
  trace("cuModuleLoadDataEx %s", mock ? "mock" : "elf");
  return OK;
}
CUresult cuModuleUnload(void *module) {
  Module *m = module;
  free(m->image);
  free(m);
  trace("cuModuleUnload");
  return OK;
}
CUresult cuModuleGetFunction(void **fn, void *module, const char *name) {
  Module *m = module;
  char pattern[300];
  /* the source's signature in a mock cubin; the symbol's name, NUL-terminated, in an ELF */
  int elf = m->image[0] == 0x7f;
  if (elf) snprintf(pattern, sizeof pattern, "%s", name);
  else snprintf(pattern, sizeof pattern, " %s(", name);
  size_t len = strlen(pattern) + (elf ? 1 : 0);
  if (!memmem(m->image, m->size, pattern, len)) return NOT_FOUND;
  Function *f = malloc(sizeof(Function)); /* freed with the process: the mock keeps no module list */
  snprintf(f->name, sizeof f->name, "%s", name);
  *fn = f;
  return OK;
}
CUresult cuFuncGetAttribute(int *v, int attr, void *fn) {
  (void)fn;
  switch (attr) {
    case 0: *v = 1024; break;
    case 1: *v = 0; break;
    case 3: *v = 0; break;
    case 4: *v = 32; break;
    case 5: case 6: *v = 90; break;
    default: return INVALID_VALUE;
  }
  return OK;
}

static long liveAllocations = 0;
CUresult cuMemAlloc_v2(unsigned long long *ptr, size_t bytes) {
  if (bytes == 0) return INVALID_VALUE;
  void *p = malloc(bytes);
  memset(p, 0xAB, bytes); /* CUDA does not clear memory: neither does the mock */
  *ptr = (unsigned long long)(uintptr_t)p;
  liveAllocations++;
  trace("cuMemAlloc %zu live=%ld", bytes, liveAllocations);
  return OK;
}
CUresult cuMemFree_v2(unsigned long long ptr) {
  free((void *)(uintptr_t)ptr);
  liveAllocations--;
  trace("cuMemFree live=%ld", liveAllocations);
  return OK;
}
CUresult cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t n) { memcpy((void *)(uintptr_t)dst, src, n); trace("cuMemcpyHtoD %zu", n); return OK; }
CUresult cuMemcpyDtoH_v2(void *dst, unsigned long long src, size_t n) { memcpy(dst, (const void *)(uintptr_t)src, n); trace("cuMemcpyDtoH %zu", n); return OK; }
CUresult cuMemsetD8_v2(unsigned long long dst, unsigned char v, size_t n) { memset((void *)(uintptr_t)dst, v, n); return OK; }

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void *stream, void **params, void **extra) {
  (void)stream; (void)extra;
  Function *f = fn;
  if ((unsigned long long)bx * by * bz > 1024 || gy > 65535 || gz > 65535) return INVALID_VALUE;
  (void)params; /* their count is the kernel's business: the mock runs nothing */
  trace("cuLaunchKernel %s grid=%u,%u,%u block=%u,%u,%u shared=%u", f->name, gx, gy, gz, bx, by, bz, shared);
  return OK;
}

CUresult cuEventCreate(void **ev, unsigned int flags) { (void)flags; *ev = malloc(1); return OK; }
CUresult cuEventRecord(void *ev, void *stream) { (void)ev; (void)stream; return OK; }
CUresult cuEventSynchronize(void *ev) { (void)ev; return OK; }
CUresult cuEventElapsedTime_v2(float *ms, void *a, void *b) { (void)a; (void)b; *ms = 0.25f; return OK; }
CUresult cuEventDestroy_v2(void *ev) { free(ev); return OK; }

/* NVRTC */
typedef struct { char *source; char *log; char *cubin; size_t cubinSize; } Program;
#define NVRTC_ERROR_COMPILATION 6

int nvrtcVersion(int *major, int *minor) { *major = 13; *minor = 0; return 0; }
const char *nvrtcGetErrorString(int r) { return r == NVRTC_ERROR_COMPILATION ? "NVRTC_ERROR_COMPILATION" : r ? "NVRTC_ERROR_INVALID_INPUT" : "NVRTC_SUCCESS"; }
int nvrtcCreateProgram(void **prog, const char *src, const char *name, int nh, const char *const *h, const char *const *hn) {
  (void)name; (void)nh; (void)h; (void)hn;
  Program *p = calloc(1, sizeof(Program));
  p->source = strdup(src);
  *prog = p;
  return 0;
}
int nvrtcDestroyProgram(void **prog) {
  Program *p = *prog;
  free(p->source); free(p->log); free(p->cubin); free(p);
  *prog = NULL;
  return 0;
}
int nvrtcCompileProgram(void *prog, int n, const char *const *options) {
  Program *p = prog;
  char opts[1024] = "";
  for (int i = 0; i < n; i++) { strncat(opts, " ", sizeof opts - strlen(opts) - 1); strncat(opts, options[i], sizeof opts - strlen(opts) - 1); }
  trace("nvrtcCompileProgram%s", opts);
  const char *bad = strstr(p->source, "#error");
  if (bad) {
    int line = 1;
    for (const char *c = p->source; c < bad; c++) line += *c == '\n';
    p->log = malloc(128);
    snprintf(p->log, 128, "kernel.cu(%d): error: mock compile error\n", line);
    return NVRTC_ERROR_COMPILATION;
  }
  p->log = strdup("");
  p->cubinSize = strlen(CUBIN_MAGIC) + strlen(p->source) + 1;
  p->cubin = malloc(p->cubinSize);
  strcpy(p->cubin, CUBIN_MAGIC);
  strcat(p->cubin, p->source);
  return 0;
}
int nvrtcGetProgramLogSize(void *prog, size_t *n) { *n = strlen(((Program *)prog)->log) + 1; return 0; }
int nvrtcGetProgramLog(void *prog, char *out) { strcpy(out, ((Program *)prog)->log); return 0; }
int nvrtcGetPTXSize(void *prog, size_t *n) { (void)prog; *n = 1; return 0; }
int nvrtcGetPTX(void *prog, char *out) { (void)prog; out[0] = 0; return 0; }
int nvrtcGetCUBINSize(void *prog, size_t *n) { *n = ((Program *)prog)->cubinSize; return 0; }
int nvrtcGetCUBIN(void *prog, char *out) { memcpy(out, ((Program *)prog)->cubin, ((Program *)prog)->cubinSize); return 0; }
