import { describe, expect, it } from 'vitest';
import { DeviceMeasurer, tuneOnDevice } from '../../src/autotune/on-device.js';
import { dot } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { WEBGPU_BASELINE_LIMITS, lower } from '../../src/passes/pipeline.js';
import { planFor } from '../../src/runtime/target.js';
import { Executable } from '../../src/runtime/executable.js';
import { randomHost } from '../../src/ir/host.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { gpu, mismatch } from '../helpers/device.js';

/** Tuning in this process on a device the caller owns: how a web page tunes on navigator.gpu. */
const matmul = program('mm', (b) => {
  const [M, N, K] = b.sizes('M', 'N', 'K');
  b.output('C', dot(b.input('A', 'f32', { m: M, k: K }), b.input('B', 'f32', { k: K, n: N }), 'k'));
});
const sizes = { M: 45, N: 37, K: 70 };
const square = (plus: number) =>
  program('square', (b) => {
    const x = b.input('X', 'f32', { i: b.size('N') });
    b.output('Y', x.mul(x).add(plus));
  });


describe('tuning on a device in this process', () => {
  it('measures candidates, checks each against the reference, and finds a schedule no slower than the default', async () => {
    const device = await gpu();
    const seen: number[] = [];
    const r = await tuneOnDevice(device, matmul, sizes, {
      budget: { trials: 6 },
      finalists: 2,
      finalRepeat: 3,
      restrict: { blockM: [16, 32], blockN: [16, 32], threadM: [2, 4], threadN: [2, 4] },
      onProgress: (p) => seen.push(p.measured),
    });
    expect(r.default?.status).toBe('ok');
    expect(r.best?.status).toBe('ok');
    expect(r.candidates.filter((c) => c.status === 'ok').length).toBeGreaterThan(1);
    expect(seen.length).toBeGreaterThan(0);
    const ms = (c: NonNullable<typeof r.best>) => (c.final ?? c.screen)!.medianMs;
    expect(ms(r.best!)).toBeLessThanOrEqual(ms(r.default!) * (1 + r.band) + 1e-9);
    // the winner's schedule compiles and computes the program
    const exe = await Executable.create(device, matmul, sizes, { schedule: r.best!.schedule });
    const inputs = { A: randomHost('f32', [45, 70], 1), B: randomHost('f32', [70, 37], 2) };
    const got = await exe.run(inputs);
    expect(mismatch(got.outputs.C!, evaluate(matmul, sizes, inputs).outputs.C!)).toBeUndefined();
    exe.destroy();
  }, 240_000);

  it('reports a plan computing something else as a mismatch, and a schedule past the device as invalid', async () => {
    const device = await gpu();
    const m = DeviceMeasurer.create(device, square(1), { N: 1000 });
    const schedule = { 'elementwise:Y': { kind: 'elementwise' as const, workgroupSize: 64 } };
    expect((await m.measure(planFor(device.info, square(1), { N: 1000 }, { schedule }), { warmup: 0, repeat: 2 })).status).toBe('ok');
    const wrong = await m.measure(planFor(device.info, square(2), { N: 1000 }, { schedule }), { warmup: 0, repeat: 2 });
    expect(wrong.status).toBe('mismatch');
    expect(wrong.detail).toMatch(/^Y\[\d+\] = .*, reference /);
    // lowered for a device with larger workgroups than this one has
    const limits = { ...WEBGPU_BASELINE_LIMITS, maxWorkgroupInvocations: 4096, maxWorkgroupSizeX: 4096 };
    const big = lower(square(1), { N: 1000 }, { schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 2048 } } }, limits);
    const invalid = await m.measure(big, { warmup: 0, repeat: 1 });
    expect(invalid.status, invalid.detail).toBe('invalid');
  }, 120_000);
});
