// tilecraft's CUDA addon: the CUDA driver API and NVRTC, opened with dlopen() at run time, behind
// a small Node-API surface that src/runtime/cuda-native.ts types. It builds without CUDA headers
// or libraries and loads anywhere; without a driver, `load` reports why and every device call
// throws a JavaScript error instead of crashing.
//
// Compiled and exercised here only without a driver: the device paths have been compiled, never
// run on a GPU.
//
// Handles (contexts, modules, functions, allocations, events) are type-tagged Externals, checked
// on every call, and allocations carry their size, so a wrong argument from JavaScript is an
// exception rather than a wild pointer. CUDA objects are released explicitly (the runtime's
// destroy methods), never from a garbage-collector finalizer, which may run while the driver is
// shutting down.

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda_api.h"
#include "libraries.h"

namespace tc {
namespace {

const napi_type_tag kContextTag = {0x74696c6563726166ULL, 0x0000000000000001ULL};
const napi_type_tag kModuleTag = {0x74696c6563726166ULL, 0x0000000000000002ULL};
const napi_type_tag kFunctionTag = {0x74696c6563726166ULL, 0x0000000000000003ULL};
const napi_type_tag kAllocationTag = {0x74696c6563726166ULL, 0x0000000000000004ULL};
const napi_type_tag kEventTag = {0x74696c6563726166ULL, 0x0000000000000005ULL};

constexpr nvrtcResult NVRTC_ERROR_COMPILATION = 6;

struct ContextState {
  CUdevice device = 0;
  CUcontext context = nullptr;
  bool open = false;
};

struct ModuleState {
  std::shared_ptr<ContextState> context;
  CUmodule module = nullptr;
  bool loaded = false;
};

struct FunctionState {
  std::shared_ptr<ModuleState> module;
  CUfunction function = nullptr;
  std::string name;
};

struct AllocationState {
  std::shared_ptr<ContextState> context;
  CUdeviceptr pointer = 0;
  size_t bytes = 0;
  bool live = false;
};

struct EventState {
  std::shared_ptr<ContextState> context;
  CUevent event = nullptr;
  bool live = false;
};

template <typename T>
Napi::Value wrap(Napi::Env env, std::shared_ptr<T> state, const napi_type_tag& tag) {
  auto ext = Napi::External<std::shared_ptr<T>>::New(env, new std::shared_ptr<T>(std::move(state)),
                                                     [](Napi::Env, std::shared_ptr<T>* p) { delete p; });
  ext.TypeTag(&tag);
  return ext;
}

template <typename T>
std::shared_ptr<T> unwrap(const Napi::Value& v, const napi_type_tag& tag, const char* what) {
  if (!v.IsExternal() || !v.As<Napi::External<std::shared_ptr<T>>>().CheckTypeTag(&tag)) {
    throw Napi::TypeError::New(v.Env(), std::string("expected a CUDA ") + what + " handle");
  }
  return *v.As<Napi::External<std::shared_ptr<T>>>().Data();
}

std::vector<std::string> stringArray(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an array of strings");
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

uint32_t u32Arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be an integer in 0 .. 2^32-1");
  }
  return static_cast<uint32_t>(d);
}

size_t sizeArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 9007199254740991.0 || d != static_cast<double>(static_cast<size_t>(d))) {
    throw Napi::RangeError::New(info.Env(), std::string(what) + " must be a non-negative integer");
  }
  return static_cast<size_t>(d);
}

void dims(const Napi::CallbackInfo& info, size_t i, const char* what, unsigned int out[3]) {
  if (!info[i].IsArray() || info[i].As<Napi::Array>().Length() != 3) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be [x, y, z]");
  }
  Napi::Array a = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < 3; k++) {
    Napi::Value e = a.Get(k);
    if (!e.IsNumber() || e.As<Napi::Number>().DoubleValue() < 1) {
      throw Napi::RangeError::New(info.Env(), std::string(what) + " entries must be positive integers");
    }
    out[k] = e.As<Napi::Number>().Uint32Value();
  }
}

struct Bytes {
  uint8_t* data;
  size_t length;
};

Bytes bytesOf(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a typed array");
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  return {static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ByteLength()};
}

class CudaAddon : public Napi::Addon<CudaAddon> {
 public:
  CudaAddon(Napi::Env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("load", &CudaAddon::Load),
                             InstanceMethod("status", &CudaAddon::Status),
                             InstanceMethod("init", &CudaAddon::InitDriver),
                             InstanceMethod("deviceCount", &CudaAddon::DeviceCount),
                             InstanceMethod("deviceInfo", &CudaAddon::DeviceInfo),
                             InstanceMethod("openContext", &CudaAddon::OpenContext),
                             InstanceMethod("closeContext", &CudaAddon::CloseContext),
                             InstanceMethod("nvrtcCompile", &CudaAddon::NvrtcCompile),
                             InstanceMethod("moduleLoad", &CudaAddon::ModuleLoad),
                             InstanceMethod("moduleUnload", &CudaAddon::ModuleUnload),
                             InstanceMethod("getFunction", &CudaAddon::GetFunction),
                             InstanceMethod("functionAttributes", &CudaAddon::FunctionAttributes),
                             InstanceMethod("memAlloc", &CudaAddon::MemAlloc),
                             InstanceMethod("memFree", &CudaAddon::MemFree),
                             InstanceMethod("memcpyHtoD", &CudaAddon::MemcpyHtoD),
                             InstanceMethod("memcpyDtoH", &CudaAddon::MemcpyDtoH),
                             InstanceMethod("memsetD8", &CudaAddon::MemsetD8),
                             InstanceMethod("launch", &CudaAddon::Launch),
                             InstanceMethod("synchronize", &CudaAddon::Synchronize),
                             InstanceMethod("eventCreate", &CudaAddon::EventCreate),
                             InstanceMethod("eventRecord", &CudaAddon::EventRecord),
                             InstanceMethod("eventSynchronize", &CudaAddon::EventSynchronize),
                             InstanceMethod("eventElapsed", &CudaAddon::EventElapsed),
                             InstanceMethod("eventDestroy", &CudaAddon::EventDestroy),
                         });
  }

 private:
  Driver cu_{};
  Nvrtc rtc_{};
  Library cudaLib_;
  Library nvrtcLib_;
  bool initialized_ = false;

  // Throws `call failed: CUDA_ERROR_NAME (description)` with `code` and `call` properties.
  void check(Napi::Env env, const char* call, CUresult r) {
    if (r == CUDA_SUCCESS) return;
    const char* name = nullptr;
    const char* text = nullptr;
    if (cu_.cuGetErrorName) cu_.cuGetErrorName(r, &name);
    if (cu_.cuGetErrorString) cu_.cuGetErrorString(r, &text);
    std::string code = name ? name : "CUDA_ERROR_" + std::to_string(r);
    Napi::Error e = Napi::Error::New(env, std::string(call) + " failed: " + code + (text ? std::string(" (") + text + ")" : ""));
    e.Set("code", Napi::String::New(env, code));
    e.Set("call", Napi::String::New(env, call));
    e.Set("result", Napi::Number::New(env, r));
    throw e;
  }

  void checkRtc(Napi::Env env, const char* call, nvrtcResult r) {
    if (r == NVRTC_SUCCESS) return;
    const char* text = rtc_.nvrtcGetErrorString ? rtc_.nvrtcGetErrorString(r) : nullptr;
    std::string code = text ? text : "NVRTC_ERROR_" + std::to_string(r);
    Napi::Error e = Napi::Error::New(env, std::string(call) + " failed: " + code);
    e.Set("code", Napi::String::New(env, code));
    e.Set("call", Napi::String::New(env, call));
    e.Set("result", Napi::Number::New(env, r));
    throw e;
  }

  void requireDriver(Napi::Env env) {
    if (!cudaLib_.handle) {
      throw Napi::Error::New(env, "libcuda is not loaded: " + (cudaLib_.error.empty() ? std::string("call load() first") : cudaLib_.error));
    }
    if (!initialized_) throw Napi::Error::New(env, "the CUDA driver is not initialized: call init() first");
  }

  void use(Napi::Env env, const ContextState& c) {
    requireDriver(env);
    if (!c.open) throw Napi::Error::New(env, "this CUDA context was closed");
    check(env, "cuCtxSetCurrent", cu_.cuCtxSetCurrent(c.context));
  }

  Napi::Object libraryStatus(Napi::Env env, const Library& lib) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loaded", Napi::Boolean::New(env, lib.handle != nullptr));
    if (lib.handle) o.Set("path", Napi::String::New(env, lib.path));
    if (!lib.error.empty()) o.Set("error", Napi::String::New(env, lib.error));
    return o;
  }

  // load(libcudaCandidates, libnvrtcCandidates): opens what is not open yet; returns status().
  Napi::Value Load(const Napi::CallbackInfo& info) {
    if (!cudaLib_.handle) cudaLib_ = openDriver(stringArray(info[0], "libcuda candidates"), cu_);
    if (!nvrtcLib_.handle) nvrtcLib_ = openNvrtc(stringArray(info[1], "libnvrtc candidates"), rtc_);
    return Status(info);
  }

  Napi::Value Status(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("libcuda", libraryStatus(env, cudaLib_));
    Napi::Object n = libraryStatus(env, nvrtcLib_);
    if (nvrtcLib_.handle) {
      int major = 0, minor = 0;
      if (rtc_.nvrtcVersion(&major, &minor) == NVRTC_SUCCESS) n.Set("version", Napi::String::New(env, std::to_string(major) + "." + std::to_string(minor)));
      n.Set("cubin", Napi::Boolean::New(env, rtc_.nvrtcGetCUBIN != nullptr));
    }
    o.Set("libnvrtc", n);
    o.Set("initialized", Napi::Boolean::New(env, initialized_));
    return o;
  }

  // init(): cuInit(0); returns the driver's CUDA version (e.g. 12040 for 12.4).
  Napi::Value InitDriver(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!cudaLib_.handle) {
      throw Napi::Error::New(env, "libcuda is not loaded: " + (cudaLib_.error.empty() ? std::string("call load() first") : cudaLib_.error));
    }
    if (!initialized_) {
      check(env, "cuInit", cu_.cuInit(0));
      initialized_ = true;
    }
    int version = 0;
    check(env, "cuDriverGetVersion", cu_.cuDriverGetVersion(&version));
    return Napi::Number::New(env, version);
  }

  Napi::Value DeviceCount(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireDriver(env);
    int n = 0;
    check(env, "cuDeviceGetCount", cu_.cuDeviceGetCount(&n));
    return Napi::Number::New(env, n);
  }

  Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireDriver(env);
    CUdevice dev = 0;
    check(env, "cuDeviceGet", cu_.cuDeviceGet(&dev, static_cast<int>(u32Arg(info, 0, "device ordinal"))));
    char name[256] = {0};
    check(env, "cuDeviceGetName", cu_.cuDeviceGetName(name, sizeof(name) - 1, dev));
    size_t total = 0;
    check(env, "cuDeviceTotalMem_v2", cu_.cuDeviceTotalMem(&total, dev));
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", Napi::String::New(env, name));
    o.Set("totalMemory", Napi::Number::New(env, static_cast<double>(total)));
    const struct {
      const char* key;
      int attribute;
    } attrs[] = {
        {"major", ATTR_COMPUTE_CAPABILITY_MAJOR},
        {"minor", ATTR_COMPUTE_CAPABILITY_MINOR},
        {"multiprocessors", ATTR_MULTIPROCESSOR_COUNT},
        {"maxThreadsPerBlock", ATTR_MAX_THREADS_PER_BLOCK},
        {"maxBlockDimX", ATTR_MAX_BLOCK_DIM_X},
        {"maxBlockDimY", ATTR_MAX_BLOCK_DIM_Y},
        {"maxBlockDimZ", ATTR_MAX_BLOCK_DIM_Z},
        {"maxGridDimX", ATTR_MAX_GRID_DIM_X},
        {"maxGridDimY", ATTR_MAX_GRID_DIM_Y},
        {"maxGridDimZ", ATTR_MAX_GRID_DIM_Z},
        {"sharedMemoryPerBlock", ATTR_MAX_SHARED_MEMORY_PER_BLOCK},
        {"sharedMemoryPerBlockOptin", ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN},
        {"sharedMemoryPerMultiprocessor", ATTR_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR},
        {"registersPerBlock", ATTR_MAX_REGISTERS_PER_BLOCK},
        {"registersPerMultiprocessor", ATTR_MAX_REGISTERS_PER_MULTIPROCESSOR},
        {"warpSize", ATTR_WARP_SIZE},
        {"maxThreadsPerMultiprocessor", ATTR_MAX_THREADS_PER_MULTIPROCESSOR},
        {"clockRateKHz", ATTR_CLOCK_RATE},
        {"memoryClockRateKHz", ATTR_MEMORY_CLOCK_RATE},
        {"memoryBusWidth", ATTR_GLOBAL_MEMORY_BUS_WIDTH},
        {"l2CacheBytes", ATTR_L2_CACHE_SIZE},
    };
    for (const auto& a : attrs) {
      int v = 0;
      check(env, "cuDeviceGetAttribute", cu_.cuDeviceGetAttribute(&v, a.attribute, dev));
      o.Set(a.key, Napi::Number::New(env, v));
    }
    return o;
  }

  // openContext(ordinal): the device's primary context, made current.
  Napi::Value OpenContext(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    requireDriver(env);
    auto c = std::make_shared<ContextState>();
    check(env, "cuDeviceGet", cu_.cuDeviceGet(&c->device, static_cast<int>(u32Arg(info, 0, "device ordinal"))));
    check(env, "cuDevicePrimaryCtxRetain", cu_.cuDevicePrimaryCtxRetain(&c->context, c->device));
    c->open = true;
    check(env, "cuCtxSetCurrent", cu_.cuCtxSetCurrent(c->context));
    return wrap(env, c, kContextTag);
  }

  Napi::Value CloseContext(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto c = unwrap<ContextState>(info[0], kContextTag, "context");
    if (c->open) {
      requireDriver(env);
      c->open = false;
      check(env, "cuDevicePrimaryCtxRelease_v2", cu_.cuDevicePrimaryCtxRelease(c->device));
    }
    return env.Undefined();
  }

  // nvrtcCompile(source, name, options): { ok, log, ptx?, cubin? }. A program that does not
  // compile is { ok: false, log }, not an exception; NVRTC failing to run is an exception.
  Napi::Value NvrtcCompile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!nvrtcLib_.handle) {
      throw Napi::Error::New(env, "libnvrtc is not loaded: " + (nvrtcLib_.error.empty() ? std::string("call load() first") : nvrtcLib_.error));
    }
    if (!info[0].IsString() || !info[1].IsString()) throw Napi::TypeError::New(env, "nvrtcCompile(source, name, options)");
    std::string source = info[0].As<Napi::String>().Utf8Value();
    std::string name = info[1].As<Napi::String>().Utf8Value();
    std::vector<std::string> options = stringArray(info[2], "NVRTC options");
    std::vector<const char*> argv;
    for (const auto& s : options) argv.push_back(s.c_str());

    nvrtcProgram prog = nullptr;
    checkRtc(env, "nvrtcCreateProgram", rtc_.nvrtcCreateProgram(&prog, source.c_str(), name.c_str(), 0, nullptr, nullptr));
    // the program is destroyed on every path out, exceptions included
    struct Destroy {
      Nvrtc& rtc;
      nvrtcProgram& p;
      ~Destroy() {
        if (p) rtc.nvrtcDestroyProgram(&p);
      }
    } destroy{rtc_, prog};

    nvrtcResult compiled = rtc_.nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());
    size_t logSize = 0;
    checkRtc(env, "nvrtcGetProgramLogSize", rtc_.nvrtcGetProgramLogSize(prog, &logSize));
    std::string log(logSize, '\0');
    if (logSize > 0) checkRtc(env, "nvrtcGetProgramLog", rtc_.nvrtcGetProgramLog(prog, &log[0]));
    while (!log.empty() && log.back() == '\0') log.pop_back();

    Napi::Object o = Napi::Object::New(env);
    o.Set("log", Napi::String::New(env, log));
    if (compiled == NVRTC_ERROR_COMPILATION) {
      o.Set("ok", Napi::Boolean::New(env, false));
      return o;
    }
    checkRtc(env, "nvrtcCompileProgram", compiled);
    o.Set("ok", Napi::Boolean::New(env, true));
    size_t ptxSize = 0;
    if (rtc_.nvrtcGetPTXSize(prog, &ptxSize) == NVRTC_SUCCESS && ptxSize > 1) {
      std::string ptx(ptxSize, '\0');
      if (rtc_.nvrtcGetPTX(prog, &ptx[0]) == NVRTC_SUCCESS) {
        while (!ptx.empty() && ptx.back() == '\0') ptx.pop_back();
        o.Set("ptx", Napi::String::New(env, ptx));
      }
    }
    size_t cubinSize = 0;
    if (rtc_.nvrtcGetCUBINSize && rtc_.nvrtcGetCUBINSize(prog, &cubinSize) == NVRTC_SUCCESS && cubinSize > 0) {
      Napi::Buffer<uint8_t> cubin = Napi::Buffer<uint8_t>::New(env, cubinSize);
      checkRtc(env, "nvrtcGetCUBIN", rtc_.nvrtcGetCUBIN(prog, reinterpret_cast<char*>(cubin.Data())));
      o.Set("cubin", cubin);
    }
    return o;
  }

  // moduleLoad(context, image): a cubin (bytes) or PTX (string); the JIT's error log joins the error.
  Napi::Value ModuleLoad(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto c = unwrap<ContextState>(info[0], kContextTag, "context");
    use(env, *c);
    std::string text;
    const void* image = nullptr;
    if (info[1].IsString()) {
      text = info[1].As<Napi::String>().Utf8Value();
      image = text.c_str();
    } else {
      image = bytesOf(info[1], "module image").data;
    }
    char errorLog[8192] = {0};
    int options[] = {JIT_ERROR_LOG_BUFFER, JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void* values[] = {errorLog, reinterpret_cast<void*>(static_cast<uintptr_t>(sizeof(errorLog) - 1))};
    auto m = std::make_shared<ModuleState>();
    m->context = c;
    CUresult r = cu_.cuModuleLoadDataEx(&m->module, image, 2, options, values);
    if (r != CUDA_SUCCESS && errorLog[0]) {
      try {
        check(env, "cuModuleLoadDataEx", r);
      } catch (Napi::Error& e) {
        e.Set("message", Napi::String::New(env, e.Message() + ": " + errorLog));
        e.Set("log", Napi::String::New(env, errorLog));
        throw;
      }
    }
    check(env, "cuModuleLoadDataEx", r);
    m->loaded = true;
    return wrap(env, m, kModuleTag);
  }

  Napi::Value ModuleUnload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = unwrap<ModuleState>(info[0], kModuleTag, "module");
    if (m->loaded && m->context->open) {
      use(env, *m->context);
      m->loaded = false;
      check(env, "cuModuleUnload", cu_.cuModuleUnload(m->module));
    }
    m->loaded = false;
    return env.Undefined();
  }

  Napi::Value GetFunction(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto m = unwrap<ModuleState>(info[0], kModuleTag, "module");
    if (!m->loaded) throw Napi::Error::New(env, "this CUDA module was unloaded");
    if (!info[1].IsString()) throw Napi::TypeError::New(env, "getFunction(module, name): name must be a string");
    use(env, *m->context);
    auto f = std::make_shared<FunctionState>();
    f->module = m;
    f->name = info[1].As<Napi::String>().Utf8Value();
    check(env, "cuModuleGetFunction", cu_.cuModuleGetFunction(&f->function, m->module, f->name.c_str()));
    return wrap(env, f, kFunctionTag);
  }

  FunctionState& liveFunction(Napi::Env env, const std::shared_ptr<FunctionState>& f) {
    if (!f->module->loaded) throw Napi::Error::New(env, "the module of CUDA function " + f->name + " was unloaded");
    use(env, *f->module->context);
    return *f;
  }

  Napi::Value FunctionAttributes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto f = unwrap<FunctionState>(info[0], kFunctionTag, "function");
    liveFunction(env, f);
    const struct {
      const char* key;
      int attribute;
    } attrs[] = {
        {"registers", FUNC_NUM_REGS},
        {"sharedBytes", FUNC_SHARED_SIZE_BYTES},
        {"localBytes", FUNC_LOCAL_SIZE_BYTES},
        {"maxThreadsPerBlock", FUNC_MAX_THREADS_PER_BLOCK},
        {"ptxVersion", FUNC_PTX_VERSION},
        {"binaryVersion", FUNC_BINARY_VERSION},
    };
    Napi::Object o = Napi::Object::New(env);
    for (const auto& a : attrs) {
      int v = 0;
      check(env, "cuFuncGetAttribute", cu_.cuFuncGetAttribute(&v, a.attribute, f->function));
      o.Set(a.key, Napi::Number::New(env, v));
    }
    return o;
  }

  AllocationState& liveAllocation(Napi::Env env, const std::shared_ptr<AllocationState>& a) {
    if (!a->live) throw Napi::Error::New(env, "this CUDA allocation was freed");
    use(env, *a->context);
    return *a;
  }

  Napi::Value MemAlloc(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto c = unwrap<ContextState>(info[0], kContextTag, "context");
    size_t bytes = sizeArg(info, 1, "bytes");
    use(env, *c);
    auto a = std::make_shared<AllocationState>();
    a->context = c;
    a->bytes = bytes;
    // cuMemAlloc rejects 0 bytes; a 1-byte allocation keeps empty tensors uniform
    check(env, "cuMemAlloc_v2", cu_.cuMemAlloc(&a->pointer, bytes == 0 ? 1 : bytes));
    a->live = true;
    return wrap(env, a, kAllocationTag);
  }

  Napi::Value MemFree(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto a = unwrap<AllocationState>(info[0], kAllocationTag, "allocation");
    if (a->live && a->context->open) {
      use(env, *a->context);
      a->live = false;
      check(env, "cuMemFree_v2", cu_.cuMemFree(a->pointer));
    }
    a->live = false;
    return env.Undefined();
  }

  Napi::Value MemcpyHtoD(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto& a = liveAllocation(env, unwrap<AllocationState>(info[0], kAllocationTag, "allocation"));
    Bytes src = bytesOf(info[1], "source");
    if (src.length > a.bytes) {
      throw Napi::RangeError::New(env, "copying " + std::to_string(src.length) + " bytes into an allocation of " + std::to_string(a.bytes));
    }
    if (src.length) check(env, "cuMemcpyHtoD_v2", cu_.cuMemcpyHtoD(a.pointer, src.data, src.length));
    return env.Undefined();
  }

  Napi::Value MemcpyDtoH(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Bytes dst = bytesOf(info[0], "destination");
    auto& a = liveAllocation(env, unwrap<AllocationState>(info[1], kAllocationTag, "allocation"));
    if (dst.length > a.bytes) {
      throw Napi::RangeError::New(env, "reading " + std::to_string(dst.length) + " bytes from an allocation of " + std::to_string(a.bytes));
    }
    if (dst.length) check(env, "cuMemcpyDtoH_v2", cu_.cuMemcpyDtoH(dst.data, a.pointer, dst.length));
    return env.Undefined();
  }

  Napi::Value MemsetD8(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto& a = liveAllocation(env, unwrap<AllocationState>(info[0], kAllocationTag, "allocation"));
    uint32_t value = u32Arg(info, 1, "value");
    if (a.bytes) check(env, "cuMemsetD8_v2", cu_.cuMemsetD8(a.pointer, static_cast<unsigned char>(value), a.bytes));
    return env.Undefined();
  }

  // launch(function, grid, block, sharedBytes, params): asynchronous on the default stream. Each
  // parameter is an allocation (passed as its device pointer) or a number (passed as an int).
  Napi::Value Launch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto f = unwrap<FunctionState>(info[0], kFunctionTag, "function");
    liveFunction(env, f);
    unsigned int grid[3], block[3];
    dims(info, 1, "grid", grid);
    dims(info, 2, "block", block);
    uint32_t shared = u32Arg(info, 3, "shared bytes");
    if (!info[4].IsArray()) throw Napi::TypeError::New(env, "launch: parameters must be an array of allocations and ints");
    Napi::Array params = info[4].As<Napi::Array>();
    std::vector<CUdeviceptr> pointers(params.Length());
    std::vector<int32_t> ints(params.Length());
    std::vector<void*> args(params.Length());
    for (uint32_t i = 0; i < params.Length(); i++) {
      Napi::Value p = params.Get(i);
      if (p.IsNumber()) {
        double v = p.As<Napi::Number>().DoubleValue();
        if (v != static_cast<double>(static_cast<int32_t>(v))) {
          throw Napi::TypeError::New(env, "launch: parameter " + std::to_string(i) + " is not a 32-bit integer");
        }
        ints[i] = static_cast<int32_t>(v);
        args[i] = &ints[i];
        continue;
      }
      auto a = unwrap<AllocationState>(p, kAllocationTag, "allocation");
      if (!a->live) throw Napi::Error::New(env, "launch: parameter " + std::to_string(i) + " was freed");
      if (a->context.get() != f->module->context.get()) {
        throw Napi::Error::New(env, "launch: parameter " + std::to_string(i) + " belongs to another context");
      }
      pointers[i] = a->pointer;
      args[i] = &pointers[i];
    }
    check(env, "cuLaunchKernel",
          cu_.cuLaunchKernel(f->function, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, nullptr,
                             args.empty() ? nullptr : args.data(), nullptr));
    return env.Undefined();
  }

  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto c = unwrap<ContextState>(info[0], kContextTag, "context");
    use(env, *c);
    check(env, "cuCtxSynchronize", cu_.cuCtxSynchronize());
    return env.Undefined();
  }

  Napi::Value EventCreate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto c = unwrap<ContextState>(info[0], kContextTag, "context");
    use(env, *c);
    auto e = std::make_shared<EventState>();
    e->context = c;
    check(env, "cuEventCreate", cu_.cuEventCreate(&e->event, 0));
    e->live = true;
    return wrap(env, e, kEventTag);
  }

  EventState& liveEvent(Napi::Env env, const std::shared_ptr<EventState>& e) {
    if (!e->live) throw Napi::Error::New(env, "this CUDA event was destroyed");
    use(env, *e->context);
    return *e;
  }

  Napi::Value EventRecord(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto& e = liveEvent(env, unwrap<EventState>(info[0], kEventTag, "event"));
    check(env, "cuEventRecord", cu_.cuEventRecord(e.event, nullptr));
    return env.Undefined();
  }

  Napi::Value EventSynchronize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto& e = liveEvent(env, unwrap<EventState>(info[0], kEventTag, "event"));
    check(env, "cuEventSynchronize", cu_.cuEventSynchronize(e.event));
    return env.Undefined();
  }

  Napi::Value EventElapsed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto& a = liveEvent(env, unwrap<EventState>(info[0], kEventTag, "event"));
    auto& b = liveEvent(env, unwrap<EventState>(info[1], kEventTag, "event"));
    float ms = 0;
    check(env, "cuEventElapsedTime", cu_.cuEventElapsedTime(&ms, a.event, b.event));
    return Napi::Number::New(env, ms);
  }

  Napi::Value EventDestroy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto e = unwrap<EventState>(info[0], kEventTag, "event");
    if (e->live && e->context->open) {
      use(env, *e->context);
      e->live = false;
      check(env, "cuEventDestroy_v2", cu_.cuEventDestroy(e->event));
    }
    e->live = false;
    return env.Undefined();
  }
};

}  // namespace
}  // namespace tc

using tc::CudaAddon;
NODE_API_ADDON(CudaAddon)
