import { describe, expect, it } from 'vitest';
import { matmul } from '../../examples/matmul.js';
import { addCounts, countKernel } from '../../src/autotune/kernel-counts.js';
import { program } from '../../src/dsl/program.js';
import { F32, I32, type Kernel, kadd, kbuiltin, kconst, kload, kmul, kparam, kref } from '../../src/ir/kernel.js';
import { planFor } from '../../src/runtime/target.js';
import { syntheticDeviceInfo } from './fixtures.js';

const info = syntheticDeviceInfo;

describe('kernel counts', () => {
  it('a tiled GEMM does 2·M·N·K flops and stores M·N floats, whatever its tiling', () => {
    const p = matmul.build('f32');
    const sizes = { M: 64, N: 64, K: 32 };
    for (const schedule of [{}, { 'contraction:C': { blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 2, staging: 'direct' as const } }]) {
      const plan = planFor(info, p, sizes, { schedule });
      const c = addCounts(plan.kernels.map((k) => countKernel(k)));
      expect(c.flops).toBe(2 * 64 * 64 * 32);
      expect(c.globalStoreBytes).toBe(4 * 64 * 64);
      // memory traffic is each operand once, however often the tiles read it again
      expect(c.globalLoadBytes).toBe(4 * (64 * 32 + 32 * 64));
      expect(c.launches).toBe(1);
    }
  });

  it('counts the state an invocation holds across barriers: its accumulators, where tiles are staged', () => {
    const at = (staging: 'shared' | 'direct') =>
      countKernel(planFor(info, matmul.build('f32'), { M: 64, N: 64, K: 64 }, { schedule: { 'contraction:C': { blockM: 16, blockN: 16, blockK: 8, threadM: 2, threadN: 2, staging } } }).kernels[0]!);
    const shared = at('shared');
    expect(shared.barriers).toBeGreaterThan(0);
    // at least the 2 x 2 accumulators at every barrier
    expect(shared.barrierState).toBeGreaterThanOrEqual(4 * shared.barriers);
    expect(at('direct').barrierState).toBe(0);
  });

  it('larger register tiles load fewer operand elements per flop', () => {
    const p = matmul.build('f32');
    const sizes = { M: 128, N: 128, K: 64 };
    const loads = (threadM: number, threadN: number) => {
      const plan = planFor(info, p, sizes, { schedule: { 'contraction:C': { blockM: 16, blockN: 16, blockK: 8, threadM, threadN, staging: 'direct', vectorWidth: 1 } } });
      return countKernel(plan.kernels[0]!).globalLoads;
    };
    // per output element, threadM x threadN tiles read K·(1/threadN + 1/threadM) operand elements
    expect(loads(1, 1)).toBe(128 * 128 * 64 * 2);
    expect(loads(4, 4)).toBe((128 * 128 * 64 * 2) / 4);
  });

  it('a vectorized elementwise kernel counts one load instruction per vector, and every byte', () => {
    const p = program('copy', (b) => {
      const [n] = b.sizes('n');
      b.output('Y', b.input('X', 'f32', { i: n }).mul(2));
    });
    const at = (vectorWidth: 1 | 4) => countKernel(planFor(info, p, { n: 4096 }, { defaults: { elementwise: { vectorWidth } } }).kernels[0]!);
    expect(at(1).globalLoads).toBe(4096);
    expect(at(4).globalLoads).toBe(1024);
    expect(at(4).globalLoadBytes).toBe(4 * 4096);
    expect(at(4).flops).toBe(4096);
  });

  it('counts f16 arithmetic apart from f32 (a GEMM of f16 accumulates in f32)', () => {
    const p = program('scale16', (b) => {
      const [n] = b.sizes('n');
      b.output('Y', b.input('X', 'f16', { i: n }).mul(2).add(1));
    });
    const c = countKernel(planFor(info, p, { n: 1024 }, { defaults: { elementwise: { vectorWidth: 1 } } }).kernels[0]!);
    expect(c.halfFlops).toBe(2 * 1024);
    expect(c.flops).toBe(0);
    const mm = addCounts(planFor(info, matmul.build('f16'), { M: 32, N: 32, K: 32 }).kernels.map((k) => countKernel(k)));
    expect(mm.flops).toBe(2 * 32 ** 3);
    expect(mm.halfFlops).toBe(0);
  });

  it('counts a loop whose bound follows an outer loop at the middle of that loop (a triangle is half a square)', () => {
    const body = { op: 'assign', name: 'acc', value: kadd(kref('acc', F32), kload('X', kref('j', I32), F32)) } as const;
    const inner = { op: 'for', var: 'j', start: kconst(0), end: kadd(kref('i', I32), kconst(1)), step: kconst(1), unroll: false, body: [body] } as const;
    const k: Kernel = {
      name: 'tri',
      workgroup: [1, 1, 1],
      grid: [1, 1, 1],
      buffers: [{ name: 'X', scope: 'global', dtype: 'f32', length: 100, access: 'read' }],
      body: [{ op: 'var', name: 'acc', type: F32 }, { op: 'for', var: 'i', start: kconst(0), end: kconst(100), step: kconst(1), unroll: false, body: [inner] }],
    };
    const c = countKernel(k);
    // exactly: sum over i of (i + 1) = 5050; the model takes 100 x (49.5 + 1) = 5050
    expect(c.globalLoads).toBe(5050);
    expect(c.loopIterations).toBe(100 + 5050);
  });

  it('counts a loop to a dynamic size at the value given (a plan passes the bounds), and workgroups in whole subgroups', () => {
    const k: Kernel = {
      name: 'dyn',
      workgroup: [2, 1, 1],
      grid: [4, 1, 1],
      params: ['M'],
      buffers: [{ name: 'X', scope: 'global', dtype: 'f32', length: 1000, access: 'read' }],
      body: [
        { op: 'var', name: 'acc', type: F32 },
        { op: 'for', var: 'j', start: kconst(0), end: kparam('M'), step: kconst(1), unroll: false, body: [{ op: 'assign', name: 'acc', value: kadd(kref('acc', F32), kload('X', kref('j', I32), F32)) }] },
      ],
    };
    expect(countKernel(k, { sizes: { M: 100 } }).globalLoads).toBe(8 * 100);
    // two invocations per workgroup occupy a whole subgroup of 8 lanes
    expect(countKernel(k, { sizes: { M: 100 }, subgroupSize: 8 }).globalLoads).toBe(4 * 8 * 100);
    expect(countKernel(k, { sizes: { M: 100 }, subgroupSize: 8 }).invocations).toBe(8);
  });

  it('counts a loop over a workgroup of invocations at every invocation', () => {
    const k: Kernel = {
      name: 'per_lane',
      workgroup: [64, 1, 1],
      grid: [3, 1, 1],
      buffers: [{ name: 'Y', scope: 'global', dtype: 'f32', length: 192, access: 'read_write' }],
      body: [{ op: 'store', buffer: 'Y', index: kbuiltin('local_index'), value: kmul(kconst(1, F32), kconst(2, F32)) }, { op: 'barrier' }],
    };
    const c = countKernel(k);
    expect(c.invocations).toBe(192);
    expect(c.workgroups).toBe(3);
    expect(c.globalStores).toBe(192);
    expect(c.barriers).toBe(192);
    expect(c.flops).toBe(192);
  });
});

describe('scattered loads', () => {
  const softmax = program('softmax', (p) => {
    const [n, d] = p.sizes('N', 'D');
    const x = p.input('X', 'f32', { i: n, j: d });
    const e = x.sub(x.max('j')).exp();
    p.output('Y', e.div(e.sum('j')));
  });
  const scattered = (threadsPerRow: number) => {
    const plan = planFor(info, softmax, { N: 256, D: 512 }, { schedule: { 'rows:Y_max,Y_sum,Y': { threadsPerRow, workgroupSize: 64 } } });
    return addCounts(plan.kernels.map((k) => countKernel(k)));
  };

  it('are the loads of a lane walking a row of its own, not those of a team sharing the row', () => {
    const alone = scattered(1);
    expect(alone.scatteredLoads).toBe(alone.globalLoads);
    expect(scattered(4).scatteredLoads).toBe(0);
    expect(scattered(64).scatteredLoads).toBe(0);
  });
});
