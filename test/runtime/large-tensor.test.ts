import { describe, expect, it } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { randomHost } from '../../src/ir/host.js';
import { checkOnDevice, gpu } from '../helpers/device.js';

/**
 * One tensor above 64 MiB: 17,000,003 f32 elements (68 MB). The element count is odd, so the
 * elementwise kernel takes one element per invocation and needs more workgroups than one grid
 * dimension allows (the grid spills into y); the row reduction reads it as 17,000 rows of 1,000
 * through a slice and a split.
 */
const N = 17_000_003;
const ROWS = 17_000;
const COLS = 1_000;

describe('a tensor above 64 MiB', () => {
  it(`an elementwise chain and row reductions over ${N} f32 elements`, async () => {
    const d = await gpu();
    const bytes = N * 4;
    expect(bytes).toBeGreaterThan(64 * 1024 * 1024);
    expect(bytes).toBeLessThanOrEqual(d.info.limits.maxStorageBufferBindingSize);

    const p = program('large', (b) => {
      const x = b.input('X', 'f32', { i: b.size('N') });
      b.output('Y', x.mul(x).add(x.sigmoid()).sub(x.mul(0.25).cos()));
      const rows = x.slice('i', 0, ROWS * COLS).split('i', { r: ROWS, c: COLS });
      b.output('S', rows.sum('c'));
      b.output('M', rows.abs().max('c'));
    });
    const t0 = performance.now();
    const r = await checkOnDevice(p, { N }, { X: randomHost('f32', [N], 17, [-4, 4]) }, { tol: { atol: 1e-4 } });
    const ms = performance.now() - t0;
    expect(r.failures).toEqual([]);
    expect(r.outputs.Y!.data.length).toBe(N);
    expect(r.outputs.S!.shape).toEqual([ROWS]);
    // the elementwise kernel needs more than 65535 workgroups of 256: a two-dimensional grid
    const elementwise = r.plan.kernels.find((k) => k.buffers.some((bf) => bf.name === 'Y'))!;
    expect(elementwise.grid[0] * elementwise.grid[1] * elementwise.workgroup[0]).toBeGreaterThanOrEqual(N);
    expect(elementwise.grid[1]).toBeGreaterThan(1);
    console.log(`large-tensor: ${N} f32 elements (${(bytes / 2 ** 20).toFixed(1)} MiB) compiled, run and checked in ${(ms / 1000).toFixed(1)} s`);
  });
});
