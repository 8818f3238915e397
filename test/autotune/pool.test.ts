import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { matmul } from '../../examples/matmul.js';
import { MeasuringWorker } from '../../src/autotune/pool.js';
import { searchSpace } from '../../src/autotune/space.js';
import { tune } from '../../src/autotune/tuner.js';
import { syntheticDeviceInfo } from './fixtures.js';
import type { SentPlan } from '../../src/autotune/protocol.js';
import type { ResolvedSchedule } from '../../src/passes/schedule.js';

const fake = fileURLToPath(new URL('./fake-worker.ts', import.meta.url));
const workers: MeasuringWorker[] = [];
const worker = (candidateTimeoutMs = 2000, program = '{}') => {
  const w = new MeasuringWorker({ backend: 'webgpu', program, sizes: {}, seed: 1, candidateTimeoutMs, startTimeoutMs: 20_000, workerScript: fake });
  workers.push(w);
  return w;
};
afterEach(() => workers.splice(0).forEach((w) => w.close()));
/** A plan whose group "elementwise:Y" knob `workgroupSize` tells the fake worker how to behave (no kernels: it runs none). */
const knobs = (workgroupSize: number): SentPlan => ({ schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize } } as unknown as ResolvedSchedule, kernels: [], kernelGroups: [], tensors: [], groups: [] });

describe('the measuring worker isolates candidates', () => {
  it('a candidate that kills its process costs that candidate; the next one gets a fresh worker', async () => {
    const w = worker();
    expect((await w.measure(knobs(150), { warmup: 1, repeat: 1 })).measurement?.medianMs).toBe(1.5);
    const crash = await w.measure(knobs(1), { warmup: 1, repeat: 1 });
    expect(crash.status).toBe('crash');
    expect(crash.detail).toMatch(/worker exited \(code 7\)/);
    const after = await w.measure(knobs(250), { warmup: 1, repeat: 1 });
    expect(after.status).toBe('ok');
    expect(after.measurement?.medianMs).toBe(2.5);
    expect(w.starts).toBe(2);
  });

  it('a candidate that hangs is killed at its time-out and the run goes on', async () => {
    const w = worker(1500);
    const hang = await w.measure(knobs(2), { warmup: 1, repeat: 1 });
    expect(hang.status).toBe('timeout');
    expect(hang.detail).toMatch(/within 1500 ms/);
    expect((await w.measure(knobs(120), { warmup: 1, repeat: 1 })).status).toBe('ok');
    expect(w.starts).toBe(2);
  });

  it('a per-call time-out overrides the default', async () => {
    const w = worker(60_000);
    const hang = await w.measure(knobs(2), { warmup: 1, repeat: 1, timeoutMs: 500 });
    expect(hang.status).toBe('timeout');
    expect(hang.detail).toMatch(/within 500 ms/);
  });

  it('the time-out covers starting the worker: a slow start cannot hold a candidate past it', async () => {
    const w = worker(60_000, JSON.stringify({ startDelayMs: 20_000 }));
    const t0 = performance.now();
    const r = await w.measure(knobs(150), { warmup: 1, repeat: 1, timeoutMs: 500 });
    expect(r.status).toBe('timeout');
    expect(r.detail).toMatch(/still starting/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('reports a result that disagrees with the reference', async () => {
    const r = await worker().measure(knobs(3), { warmup: 1, repeat: 1 });
    expect(r).toEqual({ status: 'mismatch', detail: 'Y[0] = 1, reference 2' });
  });
});

describe('a tuning run on a worker that cannot restart', () => {
  it('keeps the candidates measured before the worker was lost', async () => {
    const marker = join(mkdtempSync(join(tmpdir(), 'tilecraft-pool-')), 'lost');
    const w = worker(5000, JSON.stringify({ crashAfter: 3, marker }));
    await w.start();
    const sizes = { M: 64, N: 64, K: 64 };
    const program = matmul.build('f32');
    const space = searchSpace(syntheticDeviceInfo, program, sizes);
    const r = await tune(syntheticDeviceInfo, program, sizes, space, (plan, req) => w.measure(plan, req), { strategy: 'guided', budget: { trials: 10 } });
    expect(r.stoppedBy).toBe('error');
    expect(r.error).toMatch(/could not start: device lost/);
    expect(r.candidates.map((c) => c.status)).toEqual(['ok', 'ok', 'ok', 'crash']);
    expect(r.best?.status).toBe('ok');
  });
});
