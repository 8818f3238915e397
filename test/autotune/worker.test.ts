import { afterAll, describe, expect, it } from 'vitest';
import { MeasuringWorker } from '../../src/autotune/pool.js';
import { program } from '../../src/dsl/program.js';
import { serializeProgram } from '../../src/ir/serialize.js';
import { planFor } from '../../src/runtime/target.js';

/** The real measuring worker on the (software) WebGPU device: it runs the kernels it is sent. */
const square = (plus: number) =>
  program('square', (b) => {
    const x = b.input('X', 'f32', { i: b.size('N') });
    b.output('Y', x.mul(x).add(plus));
  });
const sizes = { N: 1000 };
const worker = new MeasuringWorker({ backend: 'webgpu', program: serializeProgram(square(1)), sizes, seed: 3, candidateTimeoutMs: 60_000, startTimeoutMs: 60_000 });
afterAll(() => worker.close());

describe('the measuring worker', () => {
  it('compiles, checks and times a plan lowered in the tuning run', async () => {
    const info = await worker.start();
    const plan = planFor(info, square(1), sizes, { schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 64 } } });
    const r = await worker.measure(plan, { warmup: 0, repeat: 2 });
    expect(r.status, r.detail).toBe('ok');
    expect(r.measurement?.samples).toHaveLength(2);
  }, 120_000);

  it('runs exactly the kernels it is sent: those of another program fail the reference check', async () => {
    const info = await worker.start();
    // same tensors and schedule, but the kernel computes x * x + 2 where the program says + 1
    const wrong = planFor(info, square(2), sizes, { schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 64 } } });
    const r = await worker.measure(wrong, { warmup: 0, repeat: 2 });
    expect(r.status).toBe('mismatch');
    expect(r.detail).toMatch(/^Y\[\d+\] = .*, reference /);
    expect(r.measurement).toBeUndefined();
    // the worker is still up for the next candidate
    const right = planFor(info, square(1), sizes, { schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 128 } } });
    expect((await worker.measure(right, { warmup: 0, repeat: 1 })).status).toBe('ok');
    expect(worker.starts).toBe(1);
  }, 120_000);

  it('receives kernels with infinities intact (a row maximum starts at -inf)', async () => {
    const rowMax = program('row_max', (b) => {
      const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
      b.output('M', x.neg().max('j'));
    });
    const w = new MeasuringWorker({ backend: 'webgpu', program: serializeProgram(rowMax), sizes: { N: 64, D: 300 }, seed: 5, candidateTimeoutMs: 60_000, startTimeoutMs: 60_000 });
    try {
      const plan = planFor(await w.start(), rowMax, { N: 64, D: 300 });
      // plain JSON would turn these into null; the IPC channel's structured clone keeps them
      let nonFinite = 0;
      JSON.stringify(plan.kernels, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) && nonFinite++, v));
      expect(nonFinite).toBeGreaterThan(0);
      const r = await w.measure(plan, { warmup: 0, repeat: 1 });
      expect(r.status, r.detail).toBe('ok');
    } finally {
      w.close();
    }
  }, 120_000);
});

describe('the measuring worker on a program with a dynamic size', () => {
  // a row sum over a dynamic length: compiled at the bound, checked and timed at the value given
  const rowSum = program('rowsum', (b) => {
    const M = b.dynamicSize('M', { max: 512 });
    b.output('Y', b.input('X', 'f32', { i: b.size('N'), j: M }).sum('j'));
  });
  const at = { N: 8, M: 100 };
  const dynWorker = new MeasuringWorker({ backend: 'webgpu', program: serializeProgram(rowSum), sizes: at, seed: 5, candidateTimeoutMs: 60_000, startTimeoutMs: 60_000 });
  afterAll(() => dynWorker.close());

  it('builds inputs and the reference at the value and runs the kernels at it', async () => {
    const info = await dynWorker.start();
    const r = await dynWorker.measure(planFor(info, rowSum, at), { warmup: 0, repeat: 1 });
    expect(r.status, r.detail).toBe('ok');
  }, 120_000);
});
