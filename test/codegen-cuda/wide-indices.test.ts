import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { printCuda, toCuda } from '../../src/codegen-cuda/index.js';
import { NvccNotFoundError, findNvcc, nvccCompile } from '../../src/codegen-cuda/nvcc.js';
import { printWgsl, toWgsl } from '../../src/codegen-wgsl/index.js';
import { DeviceLimitError } from '../../src/ir/errors.js';
import {
  F32,
  I32,
  type KStmt,
  type Kernel,
  kadd,
  kbinary,
  kbuiltin,
  kconst,
  kload,
  kmul,
  kref,
  kt,
  kunary,
  wideIndexNeed,
} from '../../src/ir/kernel.js';
import { WEBGPU_BASELINE_LIMITS, lower } from '../../src/passes/pipeline.js';

/**
 * Kernels whose indices can pass 2³¹−1 print their CUDA index arithmetic in 64 bits; WGSL, which
 * has no 64-bit integers, refuses them. Lowering and printing only: nothing is allocated.
 */

const BIG = 2 ** 32;

/** A copy over `length` elements: four per thread, plus a gather through loaded i32 rows. */
function copyKernel(length: number): Kernel {
  const gid = kref('gid', I32);
  const i = kref('i', I32);
  const row = kref('row', I32);
  const body: KStmt[] = [
    { op: 'let', name: 'gid', value: kadd(kmul(kbuiltin('group_id_x'), kconst(256)), kbuiltin('local_index')) },
    {
      op: 'for',
      var: 'i',
      start: kconst(0),
      end: kconst(4),
      step: kconst(1),
      unroll: true,
      body: [{ op: 'store', buffer: 'C', index: kadd(kmul(gid, kconst(4)), i), value: kload('A', kadd(kmul(gid, kconst(4)), i), F32) }],
    },
    // a loaded row times the row length: a product of two 32-bit values
    { op: 'let', name: 'row', value: kbinary('max', kload('R', kbuiltin('local_index'), I32), kconst(0)) },
    { op: 'store', buffer: 'C', index: kadd(kmul(kload('R', kconst(0), I32), kconst(65536)), kbuiltin('local_index')), value: kconst(1, F32) },
    { op: 'store', buffer: 'C', index: kadd(kmul(row, kconst(65536)), kunary('abs', kadd(row, kload('R', kconst(1), I32)))), value: kconst(2, F32) },
    { op: 'store', buffer: 'R', index: kconst(2), value: kbinary('min', row, kload('R', kconst(3), I32)) },
    // an i32 vector built from 64-bit lanes
    { op: 'let', name: 'iv', value: { op: 'vector', type: kt('i32', 2), parts: [gid, row] } },
    { op: 'store', buffer: 'R', index: kconst(4), value: { op: 'extract', type: I32, x: kref('iv', kt('i32', 2)), lane: 1 } },
  ];
  return {
    name: 'wide_copy',
    workgroup: [256, 1, 1],
    grid: [Math.min(65535, length / 1024), 1, 1],
    buffers: [
      { name: 'A', scope: 'global', dtype: 'f32', length, access: 'read' },
      { name: 'C', scope: 'global', dtype: 'f32', length, access: 'read_write' },
      { name: 'R', scope: 'global', dtype: 'i32', length: 1024, access: 'read_write' },
    ],
    body,
  };
}

/** A matmul whose 65536 x 65536 output has 2³² elements. */
function bigMatmul(): Kernel {
  const ex = EXAMPLES.find((e) => e.name === 'matmul')!;
  const plan = lower(ex.build('f32'), { M: 65536, N: 65536, K: 64 }, {}, WEBGPU_BASELINE_LIMITS);
  return plan.kernels[0]!;
}

describe('index width', () => {
  it('is 64-bit only when a global buffer or the launch passes 2^31 - 1', () => {
    expect(wideIndexNeed(copyKernel(1 << 20))).toBeUndefined();
    expect(wideIndexNeed(copyKernel(BIG))).toMatchObject({ buffer: 'A', length: BIG });
    const grid: Kernel = { ...copyKernel(1 << 20), grid: [2 ** 31 - 1, 1, 1] };
    expect(wideIndexNeed(grid)).toMatchObject({ length: (2 ** 31 - 1) * 256 });
    expect(wideIndexNeed(grid)!.buffer).toBeUndefined();
  });

  it('prints a kernel that fits in 32 bits with int indices', () => {
    const src = printCuda(copyKernel(1 << 20));
    expect(src).not.toContain('long long');
    expect(src).toContain('const int gid = (((int)blockIdx.x) * 256) + ((int)threadIdx.x);');
    expect(src).toContain('t_C[(t_R[0] * 65536) + ((int)threadIdx.x)] = 1.0f;');
    expect(src).toContain('for (int i = 0;');
  });

  it('prints a huge kernel with 64-bit locals, loop counters and built-in indices, widened before products', () => {
    const src = toCuda(copyKernel(BIG), { sm: 80 }).source;
    expect(src).toContain('const long long gid = (((long long)blockIdx.x) * 256) + ((long long)threadIdx.x);');
    expect(src).toContain('for (long long i = 0;');
    expect(src).toContain('t_C[(((long long)t_R[0]) * 65536) + ((long long)threadIdx.x)] = 1.0f;');
    expect(src).toContain('const long long row = max(((long long)t_R[(long long)threadIdx.x]), ((long long)0));');
    expect(src).toContain('llabs((row + t_R[1]))');
    expect(src).toContain('t_R[2] = min(row, ((long long)t_R[3]));');
    expect(src).toContain('tc_vec<int, 2>{{((int)gid), ((int)row)}}');
    expect(src).not.toMatch(/\bint (gid|i|row)\b/);
  });

  it('prints a lowered matmul with a 2^32-element output in 64 bits', () => {
    const src = toCuda(bigMatmul(), { sm: 80 }).source;
    expect(src).toMatch(/const long long wg0 = \(\(long long\)blockIdx\.x\) \+ \(\(\(long long\)blockIdx\.y\) \* 65535\);/);
    expect(src).toMatch(/t_C\[\(\(\(d1 \* 32\) \+ \(d3 \* 4\)\) \* 65536\) \+/);
    expect(src).not.toMatch(/\(int\)|\bint [a-z_]/);
  });

  it('refuses a huge kernel in WGSL, naming the buffer and its length', () => {
    for (const f of [() => toWgsl(copyKernel(BIG), { shaderF16: false }), () => printWgsl(copyKernel(BIG)), () => toWgsl(bigMatmul(), { shaderF16: false })]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DeviceLimitError);
      expect((err as DeviceLimitError).available).toBe(2 ** 31 - 1);
      expect((err as DeviceLimitError).message).toMatch(/buffer (A|C) has 4294967296 elements/);
    }
    expect(() => toWgsl(copyKernel(1 << 20), { shaderF16: false })).not.toThrow();
  });
});

const nvcc = (() => {
  try {
    return findNvcc(process.env);
  } catch (e) {
    if (e instanceof NvccNotFoundError) return e;
    throw e;
  }
})();

describe('64-bit index kernels compile', () => {
  it('with nvcc for sm_80, warnings as errors', { timeout: 120_000 }, async () => {
    if (nvcc instanceof NvccNotFoundError) throw nvcc;
    const source = [toCuda(copyKernel(BIG), { sm: 80 }).source, toCuda({ ...bigMatmul(), name: 'wide_matmul' }, { sm: 80 }).source].join('\n');
    const out = await nvccCompile(nvcc, source, { archs: [80], label: 'wide indices' });
    expect(out.resources.map((r) => r.entry).sort()).toEqual(['wide_copy', 'wide_matmul']);
  });
});
