import { describe, expect, it } from 'vitest';
import { int4Gemm } from '../../examples/lowbit-gemm.js';
import { toWgsl } from '../../src/codegen-wgsl/index.js';
import { F32, I32, type KStmt, type Kernel, kadd, kbinary, kconst, kload, kmul, kref } from '../../src/ir/kernel.js';
import { printKernel } from '../../src/ir/print-kernel.js';
import { mergeLoads } from '../../src/passes/merge-loads.js';
import { lower } from '../../src/passes/pipeline.js';
import { verifyKernel } from '../../src/passes/verify-kernel.js';

const i = kref('i', I32);
/** A loop over i whose body adds X[8i + 0..7] (or what `read` gives) into Y[0]. */
function sumKernel(read: (u: number) => ReturnType<typeof kload>, extra: KStmt[] = [], length = 64): Kernel {
  const body: KStmt[] = [{ op: 'var', name: 'acc', type: F32, init: kconst(0, F32) }, ...extra];
  const adds: KStmt[] = Array.from({ length: 8 }, (_, u) => ({ op: 'assign', name: 'acc', value: kbinary('add', kref('acc', F32), read(u)) }));
  body.push({ op: 'for', var: 'i', start: kconst(0), end: kconst(Math.floor(length / 8)), step: kconst(1), unroll: false, body: adds });
  body.push({ op: 'store', buffer: 'Y', index: kconst(0), value: kref('acc', F32) });
  return {
    name: 'sum',
    workgroup: [1, 1, 1],
    grid: [1, 1, 1],
    buffers: [
      { name: 'X', scope: 'global', dtype: 'f32', length, access: 'read' },
      { name: 'Y', scope: 'global', dtype: 'f32', length: 1, access: 'read_write' },
    ],
    body,
  };
}
const at = (u: number) => kadd(kmul(i, kconst(8)), kconst(u));

describe('mergeLoads', () => {
  it('reads eight consecutive elements at an aligned base as two vector loads', () => {
    const k = mergeLoads(sumKernel((u) => kload('X', at(u), F32)));
    verifyKernel(k);
    const text = printKernel(k);
    expect(text.match(/[+=] X\[/g)).toHaveLength(2);
    expect(text).toContain('let ld0 = X[(i * 8)]x4');
    expect(text).toContain('let ld1 = X[((i * 8) + 4)]x4');
    expect(text).toContain('acc = (acc + ld1.3)');
  });

  it('binds an element read several times once, and leaves unaligned or unsafe reads alone', () => {
    const same = printKernel(mergeLoads(sumKernel(() => kload('X', at(3), F32))));
    expect(same.match(/[+=] X\[/g)).toHaveLength(1);
    // a base of i * 2 is not a multiple of 4: no vectors (each element is read once, nothing merges)
    const odd = printKernel(mergeLoads(sumKernel((u) => kload('X', kadd(kmul(i, kconst(2)), kconst(u)), F32))));
    expect(odd.match(/[+=] X\[/g)).toHaveLength(8);
    // a buffer the kernel writes
    const stores = sumKernel((u) => kload('X', at(u), F32), [{ op: 'store', buffer: 'X', index: kconst(0), value: kconst(1, F32) }]);
    const written = { ...stores, buffers: stores.buffers.map((b) => (b.name === 'X' ? { ...b, access: 'read_write' as const } : b)) };
    expect(printKernel(mergeLoads(written)).match(/[+=] X\[/g)).toHaveLength(8);
    // an index built from a variable the kernel assigns
    const j = kref('j', I32);
    const mutable = sumKernel((u) => kload('X', kadd(kmul(j, kconst(8)), kconst(u)), F32), [{ op: 'var', name: 'j', type: I32, init: kconst(0) }]);
    expect(printKernel(mergeLoads(mutable)).match(/[+=] X\[/g)).toHaveLength(8);
    // a buffer whose length is not a multiple of four: one load per element (no vector past the end)
    expect(printKernel(mergeLoads(sumKernel((u) => kload('X', at(u), F32), [], 62))).match(/[+=] X\[/g)).toHaveLength(8);
  });

  it('gives the int4 GEMV one word load, one scale load and two vec4 activation loads per block', () => {
    const plan = lower(int4Gemm.build('f32'), { M: 1, N: 64, K: 256, G: 128 }, { defaults: { rows: { threadsPerRow: 1, workgroupSize: 16 } } });
    const wgsl = toWgsl(plan.kernels[0]!, { shaderF16: false }).source;
    const loop = wgsl.slice(wgsl.indexOf('for ('));
    expect(loop.match(/t_W\[/g)).toHaveLength(1);
    expect(loop.match(/t_S\[/g)).toHaveLength(1);
    expect(loop.match(/t_X\[/g)).toHaveLength(2);
    expect(wgsl).toContain('var<storage, read> t_X: array<vec4<f32>>');
  });
});
