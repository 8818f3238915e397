#include "libraries.h"

#include <dlfcn.h>

namespace tc {
namespace {

// Resolves `names` in order (a versioned name first, the old one after); records what is missing.
template <typename F>
bool bind(void* handle, F& slot, std::initializer_list<const char*> names, std::string& missing) {
  for (const char* n : names) {
    if (void* p = dlsym(handle, n)) {
      slot = reinterpret_cast<F>(p);
      return true;
    }
  }
  missing += missing.empty() ? "" : ", ";
  missing += *names.begin();
  return false;
}

template <typename Table, typename Binder>
Library open(const std::vector<std::string>& candidates, Table& table, Binder bindAll) {
  Library lib;
  std::string errors;
  for (const std::string& c : candidates) {
    void* h = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      errors += errors.empty() ? "" : "; ";
      errors += e ? e : (c + ": cannot be opened");
      continue;
    }
    Table t{};
    std::string missing;
    bindAll(h, t, missing);
    if (!missing.empty()) {
      errors += errors.empty() ? "" : "; ";
      errors += c + " lacks " + missing;
      dlclose(h);
      continue;
    }
    table = t;
    lib.handle = h;
    lib.path = c;
    return lib;
  }
  lib.error = candidates.empty() ? "no candidates to try" : errors;
  return lib;
}

}  // namespace

Library openDriver(const std::vector<std::string>& candidates, Driver& out) {
  return open(candidates, out, [](void* h, Driver& d, std::string& m) {
    bind(h, d.cuInit, {"cuInit"}, m);
    bind(h, d.cuDriverGetVersion, {"cuDriverGetVersion"}, m);
    bind(h, d.cuGetErrorName, {"cuGetErrorName"}, m);
    bind(h, d.cuGetErrorString, {"cuGetErrorString"}, m);
    bind(h, d.cuDeviceGetCount, {"cuDeviceGetCount"}, m);
    bind(h, d.cuDeviceGet, {"cuDeviceGet"}, m);
    bind(h, d.cuDeviceGetName, {"cuDeviceGetName"}, m);
    bind(h, d.cuDeviceGetAttribute, {"cuDeviceGetAttribute"}, m);
    bind(h, d.cuDeviceTotalMem, {"cuDeviceTotalMem_v2"}, m);
    bind(h, d.cuDevicePrimaryCtxRetain, {"cuDevicePrimaryCtxRetain"}, m);
    bind(h, d.cuDevicePrimaryCtxRelease, {"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"}, m);
    bind(h, d.cuCtxSetCurrent, {"cuCtxSetCurrent"}, m);
    bind(h, d.cuCtxSynchronize, {"cuCtxSynchronize"}, m);
    bind(h, d.cuModuleLoadDataEx, {"cuModuleLoadDataEx"}, m);
    bind(h, d.cuModuleUnload, {"cuModuleUnload"}, m);
    bind(h, d.cuModuleGetFunction, {"cuModuleGetFunction"}, m);
    bind(h, d.cuFuncGetAttribute, {"cuFuncGetAttribute"}, m);
    bind(h, d.cuMemAlloc, {"cuMemAlloc_v2"}, m);
    bind(h, d.cuMemFree, {"cuMemFree_v2"}, m);
    bind(h, d.cuMemcpyHtoD, {"cuMemcpyHtoD_v2"}, m);
    bind(h, d.cuMemcpyDtoH, {"cuMemcpyDtoH_v2"}, m);
    bind(h, d.cuMemsetD8, {"cuMemsetD8_v2"}, m);
    bind(h, d.cuLaunchKernel, {"cuLaunchKernel"}, m);
    bind(h, d.cuEventCreate, {"cuEventCreate"}, m);
    bind(h, d.cuEventRecord, {"cuEventRecord"}, m);
    bind(h, d.cuEventSynchronize, {"cuEventSynchronize"}, m);
    // cuda.h 12.8+ maps cuEventElapsedTime to _v2; older drivers have only the first
    bind(h, d.cuEventElapsedTime, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, m);
    bind(h, d.cuEventDestroy, {"cuEventDestroy_v2"}, m);
  });
}

Library openNvrtc(const std::vector<std::string>& candidates, Nvrtc& out) {
  return open(candidates, out, [](void* h, Nvrtc& n, std::string& m) {
    bind(h, n.nvrtcVersion, {"nvrtcVersion"}, m);
    bind(h, n.nvrtcGetErrorString, {"nvrtcGetErrorString"}, m);
    bind(h, n.nvrtcCreateProgram, {"nvrtcCreateProgram"}, m);
    bind(h, n.nvrtcDestroyProgram, {"nvrtcDestroyProgram"}, m);
    bind(h, n.nvrtcCompileProgram, {"nvrtcCompileProgram"}, m);
    bind(h, n.nvrtcGetProgramLogSize, {"nvrtcGetProgramLogSize"}, m);
    bind(h, n.nvrtcGetProgramLog, {"nvrtcGetProgramLog"}, m);
    bind(h, n.nvrtcGetPTXSize, {"nvrtcGetPTXSize"}, m);
    bind(h, n.nvrtcGetPTX, {"nvrtcGetPTX"}, m);
    std::string optional;
    bind(h, n.nvrtcGetCUBINSize, {"nvrtcGetCUBINSize"}, optional);
    bind(h, n.nvrtcGetCUBIN, {"nvrtcGetCUBIN"}, optional);
    if (!optional.empty()) {
      n.nvrtcGetCUBINSize = nullptr;
      n.nvrtcGetCUBIN = nullptr;
    }
  });
}

}  // namespace tc
