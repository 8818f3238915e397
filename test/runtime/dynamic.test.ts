import { describe, expect, it, vi } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { BindingError, DeviceError, ProgramError, ShapeError } from '../../src/ir/errors.js';
import { fromValues, toValues } from '../../src/ir/host.js';
import { Executable } from '../../src/runtime/executable.js';
import { gpu } from '../helpers/device.js';
import { doubleBelow } from '../helpers/param-kernel.js';

/** A thrown promise's error. */
async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('dynamic sizes on WebGPU', () => {
  it('one compiled pipeline serves every value of a param, each launch reading its own', async () => {
    const d = await gpu();
    const bound = 1000;
    const build = vi.spyOn(d as unknown as { build: (...a: unknown[]) => unknown }, 'build');
    const k = doubleBelow(bound);
    const compiled = await d.compile(k);
    expect(await d.compile(k)).toBe(compiled);
    const X = d.createBuffer(bound * 4, 'X');
    const Y = d.createBuffer(bound * 4, 'Y');
    d.write(X, Float32Array.from({ length: bound }, (_, i) => i + 1));
    try {
      for (const n of [1, 300, 999, 1000, 64]) {
        d.write(Y, new Float32Array(bound).fill(-1));
        await d.run([{ kernel: compiled, buffers: [X, Y], params: [n] }]);
        const y = new Float32Array((await d.read(Y)).buffer);
        const want = Array.from({ length: bound }, (_, i) => (i < n ? 2 * (i + 1) : -1));
        expect(Array.from(y)).toEqual(want);
      }
      // two launches in one run, each with its own value
      d.write(Y, new Float32Array(bound).fill(-1));
      await d.run([
        { kernel: compiled, buffers: [X, Y], params: [10] },
        { kernel: compiled, buffers: [X, Y], params: [5] },
      ]);
      expect(Array.from(new Float32Array((await d.read(Y)).buffer)).slice(0, 11)).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20, -1]);
      expect(build).toHaveBeenCalledTimes(1);
      expect(await rejected(d.run([{ kernel: compiled, buffers: [X, Y] }]))).toBeInstanceOf(DeviceError);
      expect(await rejected(d.run([{ kernel: compiled, buffers: [X, Y], params: [0] }]))).toBeInstanceOf(DeviceError);
      expect(await rejected(d.run([{ kernel: compiled, buffers: [X, Y], params: [1.5] }]))).toBeInstanceOf(DeviceError);
      expect(d.takeUncapturedErrors()).toEqual([]);
    } finally {
      build.mockRestore();
      d.destroyBuffer(X);
      d.destroyBuffer(Y);
    }
  });

  /** Y[i, j] = X[i, j] * 2 + 1 over j < M (dynamic, bound 40): the middle of a padded layout. */
  const rows = program('rows', (p) => {
    const N = p.size('N');
    const M = p.dynamicSize('M', { max: 40 });
    p.output('Y', p.input('X', 'f32', { i: N, j: M }).mul(2).add(1));
  });

  it('an executable compiles once for the bound and runs at actual shapes', async () => {
    const d = await gpu();
    const exe = await Executable.create(d, rows, { N: 3 });
    expect(exe.dynamic).toEqual({ M: 40 });
    expect(exe.inputs[0]!.shape).toEqual([3, 40]);
    for (const m of [5, 40, 1, 17]) {
      const values = Array.from({ length: 3 * m }, (_, i) => i - 7);
      const { outputs } = await exe.run({ X: fromValues('f32', [3, m], values) }, { sizes: { M: m } });
      expect(outputs.Y!.shape).toEqual([3, m]);
      expect(Array.from(toValues(outputs.Y!))).toEqual(values.map((v) => v * 2 + 1));
    }
    exe.destroy();
  });

  it('refuses missing and out-of-range values with typed errors', async () => {
    const d = await gpu();
    const exe = await Executable.create(d, rows, { N: 3, M: 12 });
    const X = fromValues('f32', [3, 5], new Array(15).fill(1));
    expect(await rejected(exe.run({ X }))).toBeInstanceOf(ProgramError);
    for (const M of [0, 41, 2.5]) {
      const e = await rejected(exe.run({ X }, { sizes: { M } }));
      expect(e).toBeInstanceOf(ShapeError);
      expect((e as ShapeError).axis).toBe('M');
    }
    expect(await rejected(exe.run({ X }, { sizes: { M: 6 } }))).toBeInstanceOf(BindingError);
    expect(await rejected(Executable.create(d, rows, { N: 3, M: 41 }))).toBeInstanceOf(ShapeError);
    exe.destroy();
  });
});
