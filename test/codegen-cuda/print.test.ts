import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { toCuda } from '../../src/codegen-cuda/index.js';
import { binaryScalar, bitcastScalar, castScalar, f32Literal, scalarLiteral, unaryScalar } from '../../src/codegen-cuda/scalars.js';
import { type Sizes } from '../../src/ir/bind.js';
import { type DType } from '../../src/ir/dtype.js';
import { TilecraftError } from '../../src/ir/errors.js';
import { type LowerOptions, lower } from '../../src/passes/pipeline.js';
import { featureKernel } from './feature-kernel.js';

/** The CUDA of an example's kernels at small sizes (compiled by nvcc in compile.test.ts, never run here). */
function cudaOf(name: string, dtype: DType, sizes: Sizes, options: LowerOptions = {}): string {
  const ex = EXAMPLES.find((e) => e.name === name)!;
  return lower(ex.build(dtype), sizes, options)
    .kernels.map((k) => toCuda(k, { sm: 80 }).source)
    .join('\n');
}

describe('CUDA printer: examples', () => {
  it('prints softmax: a row team reducing through shared memory', () => {
    expect(cudaOf('softmax', 'f32', { N: 4, D: 64 })).toMatchInlineSnapshot(`
      "extern "C" __global__ void __launch_bounds__(256) softmax_0_rows(const float* __restrict__ t_X, float* __restrict__ t_Y) {
        __shared__ __align__(32) float s_red6[256];
        const int d0 = ((int)threadIdx.x) / 4;
        const int d1 = ((int)threadIdx.x) % 4;
        float f0_acc2 = 0.0f;
        float f1_acc3 = 0.0f;
        const int row4 = (((int)blockIdx.x) * 64) + d0;
        if (row4 < 4) {
          f0_acc2 = __uint_as_float(0xff800000u);
          for (int r5 = d1; r5 < 64; r5 += 4) {
            f0_acc2 = fmaxf(f0_acc2, t_X[(row4 * 64) + r5]);
          }
        }
        s_red6[(int)threadIdx.x] = f0_acc2;
        __syncthreads();
        const int pl7 = ((int)threadIdx.x) + 2;
        if (d1 < 2) {
          f0_acc2 = fmaxf(f0_acc2, s_red6[pl7]);
          s_red6[(int)threadIdx.x] = f0_acc2;
        }
        __syncthreads();
        const int pl8 = ((int)threadIdx.x) + 1;
        if (d1 < 1) {
          f0_acc2 = fmaxf(f0_acc2, s_red6[pl8]);
          s_red6[(int)threadIdx.x] = f0_acc2;
        }
        __syncthreads();
        const int l09 = ((int)threadIdx.x) - d1;
        f0_acc2 = s_red6[l09];
        const float f0_acc_10 = f0_acc2;
        __syncthreads();
        if (row4 < 4) {
          f1_acc3 = 0.0f;
          for (int r11 = d1; r11 < 64; r11 += 4) {
            f1_acc3 = f1_acc3 + expf((t_X[(row4 * 64) + r11] - f0_acc_10));
          }
        }
        s_red6[(int)threadIdx.x] = f1_acc3;
        __syncthreads();
        const int pl12 = ((int)threadIdx.x) + 2;
        if (d1 < 2) {
          f1_acc3 = f1_acc3 + s_red6[pl12];
          s_red6[(int)threadIdx.x] = f1_acc3;
        }
        __syncthreads();
        const int pl13 = ((int)threadIdx.x) + 1;
        if (d1 < 1) {
          f1_acc3 = f1_acc3 + s_red6[pl13];
          s_red6[(int)threadIdx.x] = f1_acc3;
        }
        __syncthreads();
        const int l014 = ((int)threadIdx.x) - d1;
        f1_acc3 = s_red6[l014];
        const float f1_acc_15 = f1_acc3;
        __syncthreads();
        if (row4 < 4) {
          for (int c16 = d1; c16 < 64; c16 += 4) {
            t_Y[(row4 * 64) + c16] = expf((t_X[(row4 * 64) + c16] - f0_acc_10)) / f1_acc_15;
          }
        }
      }
      "
    `);
  });

  it('prints softmax with warp reductions (one warp per row)', () => {
    expect(cudaOf('softmax', 'f16', { N: 4, D: 64 }, { defaults: { rows: { subgroups: true, threadsPerRow: 32, workgroupSize: 32 } } })).toMatchInlineSnapshot(`
      "#include <cuda_fp16.h>

      #ifndef TC_WARP_MAX_F32
      #define TC_WARP_MAX_F32
      __device__ __forceinline__ float tc_warp_max_f32(float v) {
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        return v;
      }
      #endif

      #ifndef TC_WARP_SUM_F32
      #define TC_WARP_SUM_F32
      __device__ __forceinline__ float tc_warp_sum_f32(float v) {
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) v = (v + __shfl_xor_sync(0xffffffffu, v, o));
        return v;
      }
      #endif

      extern "C" __global__ void __launch_bounds__(32) softmax_0_rows(const __half* __restrict__ t_X, __half* __restrict__ t_Y) {
        __shared__ __align__(32) float s_red7[32];
        __shared__ __align__(32) unsigned int s_count8[1];
        const int d0 = ((int)threadIdx.x) / 32;
        const int d1 = ((int)threadIdx.x) % 32;
        float f0_acc2 = 0.0f;
        float f1_acc3 = 0.0f;
        const int row4 = ((int)blockIdx.x) + d0;
        f0_acc2 = __uint_as_float(0xff800000u);
        for (int r5 = d1; r5 < 64; r5 += 32) {
          f0_acc2 = fmaxf(f0_acc2, __half2float(t_X[(row4 * 64) + r5]));
        }
        const float part6 = tc_warp_max_f32(f0_acc2);
        if (((int)threadIdx.x) == 0) {
          atomicExch(&s_count8[0], 0u);
        }
        __syncthreads();
        if ((((int)threadIdx.x) & 31) == 0) {
          const unsigned int claim9 = atomicAdd(&s_count8[0], 1u);
          s_red7[(int)claim9] = part6;
        }
        __syncthreads();
        const int filled10 = (int)((volatile unsigned int*)s_count8)[0];
        f0_acc2 = s_red7[0];
        for (int s11 = 1; s11 < filled10; s11 += 1) {
          f0_acc2 = fmaxf(f0_acc2, s_red7[s11]);
        }
        const float f0_acc_12 = f0_acc2;
        __syncthreads();
        f1_acc3 = 0.0f;
        for (int r13 = d1; r13 < 64; r13 += 32) {
          f1_acc3 = f1_acc3 + __half2float(__float2half_rn(expf(__half2float((t_X[(row4 * 64) + r13] - __float2half_rn(f0_acc_12))))));
        }
        const float part14 = tc_warp_sum_f32(f1_acc3);
        if (((int)threadIdx.x) == 0) {
          atomicExch(&s_count8[0], 0u);
        }
        __syncthreads();
        if ((((int)threadIdx.x) & 31) == 0) {
          const unsigned int claim15 = atomicAdd(&s_count8[0], 1u);
          s_red7[(int)claim15] = part14;
        }
        __syncthreads();
        const int filled16 = (int)((volatile unsigned int*)s_count8)[0];
        f1_acc3 = s_red7[0];
        for (int s17 = 1; s17 < filled16; s17 += 1) {
          f1_acc3 = f1_acc3 + s_red7[s17];
        }
        const float f1_acc_18 = f1_acc3;
        __syncthreads();
        for (int c19 = d1; c19 < 64; c19 += 32) {
          t_Y[(row4 * 64) + c19] = __float2half_rn(expf(__half2float((t_X[(row4 * 64) + c19] - __float2half_rn(f0_acc_12))))) / __float2half_rn(f1_acc_18);
        }
      }
      "
    `);
  });

  it('prints a serial matmul', () => {
    expect(cudaOf('matmul', 'f32', { M: 128, N: 128, K: 64 }, { grouping: { tileContractions: false } })).toMatchInlineSnapshot(`
      "extern "C" __global__ void __launch_bounds__(256) matmul_0_serial(const float* __restrict__ t_A, const float* __restrict__ t_B, float* __restrict__ t_C) {
        float f0_acc0 = 0.0f;
        const int row1 = (((int)blockIdx.x) * 256) + ((int)threadIdx.x);
        const int p2 = row1 / 128;
        const int p3 = row1 % 128;
        f0_acc0 = 0.0f;
        for (int r4 = 0; r4 < 64; r4 += 1) {
          f0_acc0 = f0_acc0 + (t_A[(p2 * 64) + r4] * t_B[(r4 * 128) + p3]);
        }
        t_C[(p2 * 128) + p3] = f0_acc0;
      }
      "
    `);
  });

  it('prints an int4 GEMM, its nibbles unpacked from u32 words by legalization', () => {
    expect(cudaOf('int4-gemm', 'f32', { M: 4, N: 8, K: 64, G: 32 }, { grouping: { tileContractions: false } })).toMatchInlineSnapshot(`
      "#ifndef TC_VEC
      #define TC_VEC
      // kernel-IR vectors: operations on them are printed lane by lane
      template <typename T, int N> struct tc_vec { T v[N]; };
      #endif

      extern "C" __global__ void __launch_bounds__(256) int4_gemm_0_rows(const float* __restrict__ t_X, const unsigned int* __restrict__ t_W, const float* __restrict__ t_S, float* __restrict__ t_Y) {
        __shared__ __align__(32) float s_red7[256];
        const int d0 = ((int)threadIdx.x) / 4;
        const int d1 = ((int)threadIdx.x) % 4;
        float f0_acc2 = 0.0f;
        const int row3 = (((int)blockIdx.x) * 64) + d0;
        const int p4 = row3 / 8;
        const int p5 = row3 % 8;
        if (row3 < 32) {
          f0_acc2 = 0.0f;
          for (int rb6 = d1; rb6 < 8; rb6 += 4) {
            const tc_vec<float, 4> ld0 = tc_vec<float, 4>{{t_X[(p4 * 64) + (rb6 * 8)], t_X[((p4 * 64) + (rb6 * 8)) + 1], t_X[((p4 * 64) + (rb6 * 8)) + 2], t_X[((p4 * 64) + (rb6 * 8)) + 3]}};
            const unsigned int ld2 = t_W[(p5 * 8) + rb6];
            const float ld3 = t_S[(rb6 / 4) + (p5 * 2)];
            f0_acc2 = f0_acc2 + (ld0.v[0] * ((((float)((int)((ld2 >> 0) & 15u))) - 8.0f) * ld3));
            f0_acc2 = f0_acc2 + (ld0.v[1] * ((((float)((int)((ld2 >> 4) & 15u))) - 8.0f) * ld3));
            f0_acc2 = f0_acc2 + (ld0.v[2] * ((((float)((int)((ld2 >> 8) & 15u))) - 8.0f) * ld3));
            f0_acc2 = f0_acc2 + (ld0.v[3] * ((((float)((int)((ld2 >> 12) & 15u))) - 8.0f) * ld3));
            const tc_vec<float, 4> ld1 = tc_vec<float, 4>{{t_X[((p4 * 64) + (rb6 * 8)) + 4], t_X[(((p4 * 64) + (rb6 * 8)) + 4) + 1], t_X[(((p4 * 64) + (rb6 * 8)) + 4) + 2], t_X[(((p4 * 64) + (rb6 * 8)) + 4) + 3]}};
            f0_acc2 = f0_acc2 + (ld1.v[0] * ((((float)((int)((ld2 >> 16) & 15u))) - 8.0f) * ld3));
            f0_acc2 = f0_acc2 + (ld1.v[1] * ((((float)((int)((ld2 >> 20) & 15u))) - 8.0f) * ld3));
            f0_acc2 = f0_acc2 + (ld1.v[2] * ((((float)((int)((ld2 >> 24) & 15u))) - 8.0f) * ld3));
            f0_acc2 = f0_acc2 + (ld1.v[3] * ((((float)((int)((ld2 >> 28) & 15u))) - 8.0f) * ld3));
          }
        }
        s_red7[(int)threadIdx.x] = f0_acc2;
        __syncthreads();
        const int pl8 = ((int)threadIdx.x) + 2;
        if (d1 < 2) {
          f0_acc2 = f0_acc2 + s_red7[pl8];
          s_red7[(int)threadIdx.x] = f0_acc2;
        }
        __syncthreads();
        const int pl9 = ((int)threadIdx.x) + 1;
        if (d1 < 1) {
          f0_acc2 = f0_acc2 + s_red7[pl9];
          s_red7[(int)threadIdx.x] = f0_acc2;
        }
        __syncthreads();
        const int l010 = ((int)threadIdx.x) - d1;
        f0_acc2 = s_red7[l010];
        const float f0_acc_11 = f0_acc2;
        __syncthreads();
        if (row3 < 32) {
          for (int o12 = d1; o12 < 1; o12 += 4) {
            t_Y[(p4 * 8) + p5] = f0_acc_11;
          }
        }
      }
      "
    `);
  });

  it('prints every kernel-IR feature', () => {
    const { source, launch } = toCuda(featureKernel, { sm: 80 });
    expect(launch).toEqual({
      entry: 'features',
      grid: [2, 1, 1],
      block: [8, 2, 3],
      dynamicSharedBytes: 0,
      sharedBytes: 196,
      params: [
        { name: 'A', dtype: 'f32', access: 'read' },
        { name: 'H', dtype: 'f16', access: 'read' },
        { name: 'B', dtype: 'bf16', access: 'read_write' },
        { name: 'Q', dtype: 'i8', access: 'read_write' },
        { name: 'P', dtype: 'u32', access: 'read_write' },
        { name: 'C', dtype: 'u32', access: 'read_write' },
        { name: 'O', dtype: 'f32', access: 'read_write' },
      ],
      sizes: [],
    });
    expect(source).toMatchInlineSnapshot(`
      "#include <cuda_fp16.h>
      #include <cuda_bf16.h>

      #ifndef TC_VEC
      #define TC_VEC
      // kernel-IR vectors: operations on them are printed lane by lane
      template <typename T, int N> struct tc_vec { T v[N]; };
      #endif

      #ifndef TC_WARP_MAX_I32_PARTIAL
      #define TC_WARP_MAX_I32_PARTIAL
      __device__ __forceinline__ int tc_warp_max_i32_partial(int v, int lane, int n) {
        const unsigned int mask = n == 32 ? 0xffffffffu : (1u << n) - 1u;
        #pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const int u = __shfl_xor_sync(mask, v, o);
          if ((lane ^ o) < n) v = max(v, u);
        }
        return __shfl_sync(mask, v, 0);
      }
      #endif

      #ifndef TC_WARP_SUM_F32_PARTIAL
      #define TC_WARP_SUM_F32_PARTIAL
      __device__ __forceinline__ float tc_warp_sum_f32_partial(float v, int lane, int n) {
        const unsigned int mask = n == 32 ? 0xffffffffu : (1u << n) - 1u;
        #pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const float u = __shfl_xor_sync(mask, v, o);
          if ((lane ^ o) < n) v = (v + u);
        }
        return __shfl_sync(mask, v, 0);
      }
      #endif

      extern "C" __global__ void __launch_bounds__(48) features(const float* __restrict__ t_A, const __half* __restrict__ t_H, __nv_bfloat16* __restrict__ t_B, signed char* __restrict__ t_Q, unsigned int* __restrict__ t_P, unsigned int* __restrict__ t_C, float* __restrict__ t_O) {
        __shared__ __align__(32) float s_S[48];
        __shared__ __align__(32) int s_N[1];
        float p_R[4] = {};
        const int li = (int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z));
        const int lane = ((int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z))) & 31;
        const int g = ((int)blockIdx.x) + (((int)threadIdx.z) * 32);
        const tc_vec<float, 4> v = tc_vec<float, 4>{{t_A[li * 4], t_A[(li * 4) + 1], t_A[(li * 4) + 2], t_A[(li * 4) + 3]}};
        const tc_vec<float, 4> w = tc_vec<float, 4>{{v.v[0] * 2.0f, v.v[1] * 2.0f, v.v[2] * 2.0f, v.v[3] * 2.0f}};
        const float x = w.v[3];
        t_O[li * 4] = w.v[0];
        t_O[(li * 4) + 1] = w.v[1];
        t_O[(li * 4) + 2] = w.v[2];
        t_O[(li * 4) + 3] = w.v[3];
        float acc = 0.0f;
        #pragma unroll
        for (int k = 0; k < 4; k += 1) {
          p_R[k] = (float)k;
          acc = acc + p_R[k];
        }
        const __half h = t_H[li];
        const __half hm = __hmax(h, __float2half_rn(expf(__half2float(h))));
        t_B[li] = __float2bfloat16_rn((__half2float(hm) + (1.0f / (1.0f + expf((-x))))));
        t_Q[li] = (signed char)max(-128, min(127, __float2int_rz((x * 100.0f))));
        const int q = (int)t_Q[li];
        const int nt0 = (li % 64) / 8;
        const int nt1 = ((li % 64) % 8) * 4;
        const int nt2 = (q & 15) & 15;
        atomicAnd(&t_P[nt0], ~(15u << (nt1 & 31)));
        atomicOr(&t_P[nt0], (((unsigned int)nt2) & 15u) << (nt1 & 31));
        atomicAdd(&t_C[0], 1u);
        const unsigned int old = atomicMax(&t_C[1], (unsigned int)li);
        if (li == 0) {
          atomicExch(&s_N[0], 0);
        }
        __syncthreads();
        atomicAdd(&s_N[0], 1);
        __syncthreads();
        const float tot = tc_warp_sum_f32_partial(acc, ((int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z))) & 31, ((int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z))) < 32 ? 32 : 16);
        const int mx = tc_warp_max_i32_partial(q, ((int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z))) & 31, ((int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z))) < 32 ? 32 : 16);
        const float nb = __shfl_sync((((int)(threadIdx.x + 8u * (threadIdx.y + 2u * threadIdx.z))) < 32 ? 0xffffffffu : 65535u), tot, (lane + 1) & 31);
        if (lane == 0) {
          s_S[li / 32] = tot + nb;
        } else {
          // other lanes wait
        }
        __syncthreads();
        const float sel = (x > 0.0f) ? x : __uint_as_float(0xff800000u);
        const unsigned int bits = (((unsigned int)mx) << 3) | (old >> (g & 31));
        t_O[li] = (sel + s_S[0]) + ((((float)((volatile int*)s_N)[0]) + __uint_as_float(bits)) + fminf(erff(x), tanhf(__uint_as_float(0x7fc00000u))));
      }
      "
    `);
  });
});

describe('CUDA printer: literals', () => {
  it('prints the shortest f32 literal that reads back exactly', () => {
    const cases: [number, string][] = [
      [1, '1.0f'],
      [0.5, '0.5f'],
      [0.1, '0.1f'],
      [1 / 3, '0.33333334f'],
      [-2.5, '-2.5f'],
      [-0, '-0.0f'],
      [1e-7, '1e-7f'],
      [16777217, '16777216.0f'],
      [3.4028234663852886e38, '3.4028235e+38f'],
      [2 ** -149, '1e-45f'],
    ];
    for (const [v, text] of cases) {
      expect(f32Literal(v), String(v)).toBe(text);
      const back = Math.fround(Number(text.replace(/f$/, '')));
      expect(back, text).toBe(Math.fround(v));
    }
  });

  it('spells infinities and NaN through bit patterns, not host macros', () => {
    expect(f32Literal(Infinity)).toBe('__uint_as_float(0x7f800000u)');
    expect(f32Literal(-Infinity)).toBe('__uint_as_float(0xff800000u)');
    expect(f32Literal(Number.NaN)).toBe('__uint_as_float(0x7fc00000u)');
    expect(scalarLiteral(-Infinity, 'f16')).toBe('__ushort_as_half((unsigned short)0xfc00u)');
    expect(scalarLiteral(Number.NaN, 'bf16')).toBe('__ushort_as_bfloat16((unsigned short)0x7fc0u)');
  });

  it('rounds half and bfloat16 literals once, in the printer', () => {
    expect(scalarLiteral(0.1, 'f16')).toBe('__float2half_rn(0.099975586f)');
    expect(scalarLiteral(1 / 3, 'bf16')).toBe('__float2bfloat16_rn(0.33398438f)');
  });

  it('prints integer and boolean literals', () => {
    expect(scalarLiteral(-2147483648, 'i32')).toBe('(-2147483647 - 1)');
    expect(scalarLiteral(-5, 'i32')).toBe('-5');
    expect(scalarLiteral(4294967295, 'u32')).toBe('4294967295u');
    expect(scalarLiteral(-1, 'u32')).toBe('4294967295u');
    expect(scalarLiteral(-3, 'i8')).toBe('((signed char)-3)');
    expect(scalarLiteral(1, 'bool')).toBe('true');
  });
});

describe('CUDA printer: conversions and operators', () => {
  it('truncates and saturates float to int like the reference (NaN to 0)', () => {
    expect(castScalar('x', 'f32', 'i32')).toBe('__float2int_rz(x)');
    expect(castScalar('x', 'f32', 'u32')).toBe('__float2uint_rz(x)');
    expect(castScalar('x', 'f16', 'i32')).toBe('__float2int_rz(__half2float(x))');
    expect(castScalar('x', 'bf16', 'u32')).toBe('__float2uint_rz(__bfloat162float(x))');
    expect(castScalar('x', 'f32', 'i8')).toBe('((signed char)max(-128, min(127, __float2int_rz(x))))');
  });

  it('wraps int to narrower int and rounds to half and bfloat16 once', () => {
    expect(castScalar('x', 'i32', 'i8')).toBe('((signed char)x)');
    expect(castScalar('x', 'i8', 'i32')).toBe('((int)x)');
    expect(castScalar('x', 'u32', 'i32')).toBe('((int)x)');
    expect(castScalar('x', 'i32', 'f32')).toBe('((float)x)');
    expect(castScalar('x', 'i32', 'f16')).toBe('__int2half_rn(x)');
    expect(castScalar('x', 'u32', 'bf16')).toBe('__uint2bfloat16_rn(x)');
    expect(castScalar('x', 'f32', 'f16')).toBe('__float2half_rn(x)');
    expect(castScalar('x', 'f16', 'bf16')).toBe('__float2bfloat16_rn(__half2float(x))');
    expect(castScalar('x', 'bool', 'f32')).toBe('(x ? 1.0f : 0.0f)');
    expect(castScalar('x', 'f16', 'bool')).toBe('(__half2float(x) != 0.0f)');
  });

  it('reinterprets 32-bit values with the CUDA intrinsics', () => {
    expect(bitcastScalar('x', 'f32', 'u32')).toBe('__float_as_uint(x)');
    expect(bitcastScalar('x', 'i32', 'f32')).toBe('__int_as_float(x)');
    expect(bitcastScalar('x', 'u32', 'i32')).toBe('((int)x)');
    expect(() => bitcastScalar('x', 'f16', 'u32')).toThrow(TilecraftError);
  });

  it('masks variable shift amounts to 0..31 and leaves constant ones alone', () => {
    expect(binaryScalar('shl', 'a', '3', 'u32', 3)).toBe('(a << 3)');
    expect(binaryScalar('shr', 'a', 'b', 'i32')).toBe('(a >> (b & 31))');
    expect(binaryScalar('shl', 'a', '32', 'u32', 32)).toBe('(a << (32 & 31))');
  });

  it('computes half math in float where cuda_fp16 has no exact intrinsic', () => {
    expect(unaryScalar('exp', 'h', 'f16')).toBe('__float2half_rn(expf(__half2float(h)))');
    expect(unaryScalar('neg', 'h', 'f16')).toBe('__hneg(h)');
    expect(binaryScalar('max', 'a', 'b', 'f16')).toBe('__hmax(a, b)');
    expect(binaryScalar('add', 'a', 'b', 'f16')).toBe('(a + b)');
    expect(binaryScalar('add', 'a', 'b', 'bf16')).toBe('__float2bfloat16_rn((__bfloat162float(a) + __bfloat162float(b)))');
    expect(binaryScalar('lt', 'a', 'b', 'bf16')).toBe('(__bfloat162float(a) < __bfloat162float(b))');
  });

  it('uses the float library for f32 and says what to do for integer math it lacks', () => {
    expect(binaryScalar('max', 'a', 'b', 'f32')).toBe('fmaxf(a, b)');
    expect(binaryScalar('mod', 'a', 'b', 'f32')).toBe('fmodf(a, b)');
    expect(unaryScalar('rsqrt', 'x', 'f32')).toBe('rsqrtf(x)');
    expect(unaryScalar('neg', '-1.0f', 'f32')).toBe('(- -1.0f)');
    expect(() => binaryScalar('pow', 'a', 'b', 'i32')).toThrow(/cast the operands to f32 first/);
    expect(() => unaryScalar('exp', 'a', 'i32')).toThrow(/cast the operand to f32 first/);
  });
});
