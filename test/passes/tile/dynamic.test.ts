import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dot, softmax } from '../../../src/dsl/ops.js';
import { program } from '../../../src/dsl/program.js';
import { parseProgram } from '../../../src/dsl/text/parse.js';
import { type HostTensor, randomHost, toValues } from '../../../src/ir/host.js';
import { type Program } from '../../../src/ir/tensor.js';
import { printTile } from '../../../src/ir/tile.js';
import { lower } from '../../../src/passes/pipeline.js';
import { evaluate } from '../../../src/reference/evaluate.js';
import { type CompileOptions, Executable } from '../../../src/runtime/executable.js';
import { currentDevice, mismatch, onEachDevice } from '../../helpers/device.js';

// decoding attention against a cache of up to 64 keys: the example's text with M made dynamic
const decode = parseProgram(readFileSync(new URL('../../../examples/online-softmax.tc', import.meta.url), 'utf8').replace('(B, H, N, M, D)', '(B, H, N, M <= 64, D)'));

const rowSoftmax = program('softmax', (b) => {
  const N = b.size('N');
  const D = b.dynamicSize('D', { max: 48 });
  b.output('Y', softmax(b.input('X', 'f32', { i: N, j: D }), 'j'));
});

// a linear layer over a dynamic number of tokens and a dynamic reduction length
const tokens = program('tokens', (b) => {
  const T = b.dynamicSize('T', { max: 40 });
  const K = b.dynamicSize('K', { max: 24 });
  const N = b.size('N');
  b.output('Y', dot(b.input('X', 'f32', { t: T, k: K }), b.input('W', 'f32', { k: K, n: N }), 'k').add(b.input('Bias', 'f32', { n: N })));
});

describe('dynamic sizes in the lowering', () => {
  it('a fold over a dynamic axis loops up to its run-time value; the kernel reads it as a param', () => {
    const plan = lower(decode, { B: 1, H: 2, N: 1, M: 64, D: 8 }, { defaults: { rows: { threadsPerRow: 4 } } });
    expect(plan.kernels[0]!.params).toEqual(['M']);
    expect(printTile(plan.tiles[0]!)).toMatch(/for lane \* 16 <= r\d+ < min\(lane \* 16 \+ 16, M\)/);
  });

  it('a contraction guards rows and reduction steps past the run-time values', () => {
    const plan = lower(tokens, { T: 40, K: 24, N: 8 });
    expect(plan.kernels[0]!.params).toEqual(['K', 'T']);
    expect(printTile(plan.tiles[0]!)).toMatch(/< T:/);
  });
});

/** Compiles once at the bounds, then runs at each of `values` against the reference at that size. */
async function acrossValues(p: Program, fixed: Record<string, number>, values: Record<string, number>[], options: CompileOptions = {}) {
  const device = await currentDevice();
  const exe = await Executable.create(device, p, fixed, options);
  try {
    for (const v of values) {
      const sizes = { ...fixed, ...v };
      const inputs: Record<string, HostTensor> = {};
      p.inputs.forEach((t, i) => {
        inputs[t.name] = randomHost(t.dtype, exe.shapeAt(t.name, sizes), 17 + i);
      });
      const { outputs } = await exe.run(inputs, { sizes: v });
      const ref = evaluate(p, sizes, inputs).outputs;
      for (const [name, want] of Object.entries(ref)) {
        expect(outputs[name]!.shape, `${name} at ${JSON.stringify(v)}`).toEqual(want.shape);
        const bad = mismatch(outputs[name]!, want, { rtol: 1e-4, atol: 1e-5 });
        expect(bad, `${name} at ${JSON.stringify(v)}: ${JSON.stringify(bad)} of ${toValues(outputs[name]!).length}`).toBeUndefined();
      }
    }
  } finally {
    exe.destroy();
  }
}

onEachDevice(() => {
  describe('one compiled kernel for every value up to the bound', () => {
    const lengths = [1, 5, 37, 64].map((M) => ({ M }));
    it('decoding attention, lanes sharing the keys', () => acrossValues(decode, { B: 1, H: 3, N: 1, D: 8 }, lengths, { defaults: { rows: { threadsPerRow: 8 } } }));
    it('decoding attention split across workgroups', () => acrossValues(decode, { B: 1, H: 3, N: 1, D: 8 }, lengths, { defaults: { rows: { threadsPerRow: 4, splitSteps: 4 } } }));
    it('decoding attention, lanes owning query rows, key tiles staged', () =>
      acrossValues(decode, { B: 1, H: 2, N: 3, D: 8 }, lengths, { defaults: { rows: { threadsPerRow: 1, workgroupSize: 4, stageSteps: 16 } } }));
    it('a row softmax over a dynamic row length', () => acrossValues(rowSoftmax, { N: 5 }, [1, 13, 48].map((D) => ({ D })), { defaults: { rows: { threadsPerRow: 8 } } }));
    for (const staging of ['shared', 'direct'] as const) {
      it(`a linear layer over dynamic tokens and reduction length (${staging})`, () =>
        acrossValues(tokens, { N: 12 }, [{ T: 1, K: 24 }, { T: 17, K: 5 }, { T: 40, K: 13 }], {
          schedule: { 'contraction:Y_sum,Y': { staging, blockM: 8, blockN: 8, blockK: 8, threadM: 2, threadN: 2 } },
        }));
    }
  });
});
