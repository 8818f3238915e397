// A CPU emulation of the CUDA built-ins tilecraft's printed kernels use, so that printed CUDA
// text runs on the host (g++ -std=c++20 -pthread) and its results can be checked against the
// reference without a GPU. Each CUDA thread of a block is an OS thread; blocks run one after
// another. __syncthreads is a barrier over the block, warp shuffles exchange through a per-warp
// buffer between two warp barriers, wmma fragments hold whole 16x16 tiles in every lane (loads
// read the tile, mma multiplies it, one lane stores it), and f16/bf16 round every result to
// nearest even as the hardware does. The runtime API calls are plain host memory.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <math.h>
#include <type_traits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
// blocks run one at a time, so a kernel's static arrays are its block's shared memory
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

struct tc_emu_block {
  std::unique_ptr<std::barrier<>> block;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<std::array<uint64_t, 32>> exchange;
  std::vector<unsigned> warp_size;
};
inline tc_emu_block* tc_emu_current = nullptr;
inline thread_local unsigned tc_emu_linear = 0;

inline void __syncthreads() { tc_emu_current->block->arrive_and_wait(); }
inline void tc_emu_warp_sync() { tc_emu_current->warps[tc_emu_linear / 32]->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { tc_emu_warp_sync(); }

/** Every lane of the warp calls this together: each publishes `v`, then reads lane `src`'s (its own where `src` is absent). */
template <typename T>
T tc_emu_exchange(T v, int src) {
  const unsigned warp = tc_emu_linear / 32, lane = tc_emu_linear % 32;
  auto& slots = tc_emu_current->exchange[warp];
  static_assert(sizeof(T) <= 8, "shuffled values are at most 8 bytes");
  std::memcpy(&slots[lane], &v, sizeof(T));
  tc_emu_warp_sync();
  T out = v;
  if (src >= 0 && static_cast<unsigned>(src) < tc_emu_current->warp_size[warp]) std::memcpy(&out, &slots[src], sizeof(T));
  tc_emu_warp_sync();
  return out;
}
template <typename T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const int lane = static_cast<int>(tc_emu_linear % 32);
  return tc_emu_exchange(v, (lane & ~(width - 1)) + (src % width));
}
template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const int lane = static_cast<int>(tc_emu_linear % 32);
  return tc_emu_exchange(v, ((lane ^ mask) & (width - 1)) | (lane & ~(width - 1)));
}
template <typename T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(tc_emu_linear % 32);
  const int src = lane + static_cast<int>(delta);
  return tc_emu_exchange(v, (src & ~(width - 1)) == (lane & ~(width - 1)) ? src : lane);
}

// atomics on host memory
template <typename T> T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
inline unsigned atomicAnd(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_and(v); }
inline unsigned atomicOr(unsigned* p, unsigned v) { return std::atomic_ref<unsigned>(*p).fetch_or(v); }
inline int atomicAnd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_and(v); }
inline int atomicOr(int* p, int v) { return std::atomic_ref<int>(*p).fetch_or(v); }
template <typename T> T atomicExch(T* p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <typename T> T atomicMax(T* p, T v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (old < v && !a.compare_exchange_weak(old, v)) {}
  return old;
}
template <typename T> T atomicMin(T* p, T v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (old > v && !a.compare_exchange_weak(old, v)) {}
  return old;
}

// bit casts and conversions
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline int __float2int_rz(float x) { return static_cast<int>(std::trunc(x)); }
inline unsigned __float2uint_rz(float x) { return static_cast<unsigned>(std::trunc(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
// CUDA's integer min and max, in device code without a namespace
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }

// f16 and bf16: stored bits, computed in f32, rounded to nearest even after every operation
inline uint16_t tc_emu_f32_to_f16(float f) {
  uint32_t x; std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return static_cast<uint16_t>(sign | h);
}
inline float tc_emu_f16_to_f32(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) x = sign;
    else { float f = std::ldexp(static_cast<float>(mant), -24); return sign ? -f : f; }
  } else if (exp == 31) x = sign | 0x7f800000u | (mant << 13);
  else x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  float f; std::memcpy(&f, &x, 4); return f;
}
struct __half {
  uint16_t bits;
  __half() = default;
  __half(float f) : bits(tc_emu_f32_to_f16(f)) {}
  operator float() const { return tc_emu_f16_to_f32(bits); }
};
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return static_cast<float>(h); }
inline __half __ushort_as_half(unsigned short b) { __half h; h.bits = b; return h; }
inline unsigned short __half_as_ushort(__half h) { return h.bits; }
inline __half operator+(__half a, __half b) { return __half(float(a) + float(b)); }
inline __half operator-(__half a, __half b) { return __half(float(a) - float(b)); }
inline __half operator*(__half a, __half b) { return __half(float(a) * float(b)); }
inline __half operator/(__half a, __half b) { return __half(float(a) / float(b)); }
inline __half operator-(__half a) { __half h = a; h.bits ^= 0x8000u; return h; }
inline __half __hneg(__half a) { return -a; }
inline __half __int2half_rn(int x) { return __half(static_cast<float>(x)); }
inline __half __uint2half_rn(unsigned x) { return __half(static_cast<float>(x)); }
inline int __half2int_rz(__half h) { return static_cast<int>(std::trunc(float(h))); }
inline unsigned __half2uint_rz(__half h) { return static_cast<unsigned>(std::trunc(float(h))); }
inline __half __habs(__half a) { __half h = a; h.bits &= 0x7fffu; return h; }
inline __half __hmax(__half a, __half b) { return float(a) >= float(b) ? a : b; }
inline __half __hmin(__half a, __half b) { return float(a) <= float(b) ? a : b; }

struct __nv_bfloat16 {
  uint16_t bits;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) {
    uint32_t x; std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) bits = static_cast<uint16_t>((x >> 16) | 0x40u);
    else bits = static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
  }
  operator float() const { uint32_t x = static_cast<uint32_t>(bits) << 16; float f; std::memcpy(&f, &x, 4); return f; }
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return static_cast<float>(h); }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short b) { __nv_bfloat16 h; h.bits = b; return h; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }
inline __nv_bfloat16 __int2bfloat16_rn(int x) { return __nv_bfloat16(static_cast<float>(x)); }
inline __nv_bfloat16 __uint2bfloat16_rn(unsigned x) { return __nv_bfloat16(static_cast<float>(x)); }
inline int __bfloat162int_rz(__nv_bfloat16 h) { return static_cast<int>(std::trunc(float(h))); }
inline __nv_bfloat16 operator+(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) + float(b)); }
inline __nv_bfloat16 operator-(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) - float(b)); }
inline __nv_bfloat16 operator*(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) * float(b)); }
inline __nv_bfloat16 operator/(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat16(float(a) / float(b)); }

// wmma: every lane holds the whole tile
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  float v[16 * 16];
};
template <typename Use, typename T, typename Layout, typename P>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const P* p, unsigned ldm) {
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) f.v[r * 16 + c] = static_cast<float>(std::is_same_v<Layout, col_major> ? p[c * ldm + r] : p[r * ldm + c]);
}
template <typename T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T>& f, const T* p, unsigned ldm, layout_t layout) {
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) f.v[r * 16 + c] = static_cast<float>(layout == mem_col_major ? p[c * ldm + r] : p[r * ldm + c]);
}
template <typename A, typename B, typename C, typename D>
void mma_sync(D& d, const A& a, const B& b, const C& c) {
  float out[16 * 16];
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      float s = c.v[i * 16 + j];
      for (int k = 0; k < 16; k++) s += a.v[i * 16 + k] * b.v[k * 16 + j];
      out[i * 16 + j] = s;
    }
  std::memcpy(d.v, out, sizeof out);
}
template <typename T, typename P>
void store_matrix_sync(P* p, const fragment<accumulator, 16, 16, 16, T>& f, unsigned ldm, layout_t layout) {
  // the lanes hold the same tile: one writes it, the warp waits for it
  if (tc_emu_linear % 32 == 0)
    for (int r = 0; r < 16; r++)
      for (int c = 0; c < 16; c++) (layout == mem_col_major ? p[c * ldm + r] : p[r * ldm + c]) = static_cast<P>(f.v[r * 16 + c]);
  tc_emu_warp_sync();
}
template <typename F, typename V>
void fill_fragment(F& f, V value) {
  for (float& x : f.v) x = static_cast<float>(value);
}
}  // namespace wmma
}  // namespace nvcuda

/** Runs `body` once per thread of every block of the grid, each block's threads together. */
inline void tc_emu_launch(dim3 grid, dim3 block, const std::function<void()>& body) {
  gridDim = grid;
  blockDim = block;
  const unsigned n = block.x * block.y * block.z;
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        tc_emu_block b;
        b.block = std::make_unique<std::barrier<>>(n);
        for (unsigned w = 0; w * 32 < n; w++) {
          const unsigned size = std::min(32u, n - w * 32);
          b.warps.push_back(std::make_unique<std::barrier<>>(size));
          b.warp_size.push_back(size);
        }
        b.exchange.resize(b.warps.size());
        tc_emu_current = &b;
        std::vector<std::thread> threads;
        threads.reserve(n);
        for (unsigned l = 0; l < n; l++) {
          threads.emplace_back([&, l] {
            tc_emu_linear = l;
            blockIdx = dim3(bx, by, bz);
            threadIdx = dim3(l % block.x, (l / block.x) % block.y, l / (block.x * block.y));
            body();
          });
        }
        for (auto& t : threads) t.join();
        tc_emu_current = nullptr;
      }
}
#define TC_LAUNCH(kernel, grid, block, stream, ...) (tc_emu_launch((grid), (block), [&] { kernel(__VA_ARGS__); }))

// the runtime API, on host memory
typedef int cudaError_t;
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorNoDevice = 100 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
typedef void* cudaStream_t;
struct tc_emu_event { std::chrono::steady_clock::time_point at; };
typedef tc_emu_event* cudaEvent_t;
struct cudaDeviceProp { char name[256]; int major; int minor; };
inline cudaError_t cudaMalloc(void** p, size_t n) { *p = std::aligned_alloc(256, (n + 255) / 256 * 256); return *p ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemset(void* d, int v, size_t n) { std::memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) { std::snprintf(p->name, sizeof p->name, "tilecraft CPU emulation"); p->major = 0; p->minor = 0; return cudaSuccess; }
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = new tc_emu_event(); return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) { e->at = std::chrono::steady_clock::now(); return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) { *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count(); return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
