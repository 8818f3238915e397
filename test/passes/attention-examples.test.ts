import { describe, expect, it } from 'vitest';
import { attention } from '../../examples/attention.js';
import { causalAttention } from '../../examples/causal-attention.js';
import { decodeAttention } from '../../examples/decode-attention.js';
import { gqaAttention } from '../../examples/gqa-attention.js';
import { type Sizes, bindProgram, shapeOf } from '../../src/ir/bind.js';
import { type HostTensor, fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { type Program } from '../../src/ir/tensor.js';
import { onlineSoftmax } from '../../src/passes/online-softmax.js';
import { lower } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { Executable } from '../../src/runtime/executable.js';
import { checkOnDevice, currentDevice, mismatch, onEachDevice } from '../helpers/device.js';

/**
 * The attention examples, written as plain softmax·V, all go through the online-softmax rewrite:
 * one fold kernel, no stored scores, and the results of the program as written.
 */

const EXAMPLES = [attention, causalAttention, decodeAttention, gqaAttention];

/** Small sizes, no multiple of any tile or vector width (decode-attention's M is dynamic: its bound, 8192, is the layout). */
const SMALL: Readonly<Record<string, Sizes>> = {
  attention: { B: 2, H: 3, N: 13, M: 29, D: 7 },
  'causal-attention': { B: 2, H: 3, N: 29, D: 7 },
  'decode-attention': { B: 2, H: 3, M: 8192, D: 7 },
  'gqa-attention': { B: 2, H: 6, KVH: 2, N: 5, M: 29, D: 7 },
};

function inputsFor(p: Program, sizes: Sizes, seed = 1): Record<string, HostTensor> {
  const bound = bindProgram(p, sizes, { dynamic: 'value' });
  return Object.fromEntries(bound.inputs.map((t, k) => [t.name, randomHost(t.dtype, shapeOf(t), seed + 31 * k)]));
}

const STREAMED = { pass: 'online-softmax', note: 'streamed O' };

describe('the attention examples are streamed', () => {
  for (const ex of EXAMPLES) {
    it(`${ex.name}: rewritten in every dtype at its default sizes; one kernel and no temporaries at small sizes`, () => {
      for (const dtype of ex.dtypes) {
        const r = onlineSoftmax(ex.build(dtype));
        expect(r.rewritten, dtype).toEqual(['O']);
        expect(r.program.stmts.map((s) => s.expr.op)).toEqual(['fold']);
      }
      const plan = lower(ex.build('f32'), SMALL[ex.name]!);
      expect(plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
      expect(plan.kernels.length).toBe(1);
      expect(plan.tensors.filter((t) => t.role === 'temp')).toEqual([]);
    });
  }

  it('attention and causal-attention lower at their default sizes with the default schedule', () => {
    for (const ex of [attention, causalAttention]) expect(lower(ex.build('f32'), ex.sizes).trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
  });

  // The automatic row team (threadsPerRow 0) takes up to 256 lanes for a long row; with a
  // 128-float accumulator per lane (D = 128) one row's merge would need 256 * 520 bytes, so it
  // takes fewer lanes (one row per workgroup) rather than refuse the default schedule.
  for (const ex of [decodeAttention, gqaAttention]) {
    it(`${ex.name} lowers at its default sizes with the default schedule`, () => {
      lower(ex.build('f32'), ex.sizes);
    });
    it(`${ex.name} lowers at its default sizes with a team of 16 lanes per row`, () => {
      const plan = lower(ex.build('f32'), ex.sizes, { defaults: { rows: { threadsPerRow: 16, workgroupSize: 16 } } });
      expect(plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
      expect(plan.tensors.filter((t) => t.role === 'temp')).toEqual([]);
    });
  }
});

describe('the attention examples compute what they say (reference)', () => {
  it('decode-attention is attention with one query per head', () => {
    const sizes = { B: 2, H: 3, M: 11, D: 5 };
    const inputs = inputsFor(decodeAttention.build('f32'), sizes);
    const decoded = evaluate(decodeAttention.build('f32'), sizes, inputs).values.O!;
    // Q [B, H, D] is Q [B, H, 1, D] element for element
    const q = { ...inputs.Q!, shape: [2, 3, 1, 5] };
    const full = evaluate(attention.build('f32'), { ...sizes, N: 1 }, { ...inputs, Q: q }).values.O!;
    expect(Array.from(decoded)).toEqual(Array.from(full));
  });

  it('gqa-attention is attention with each key/value head repeated for the G query heads of its group', () => {
    const sizes = { B: 2, H: 6, KVH: 2, N: 3, M: 7, D: 4 };
    const { B, H, KVH, N, M, D } = sizes;
    const G = H / KVH;
    const inputs = inputsFor(gqaAttention.build('f32'), sizes);
    const grouped = evaluate(gqaAttention.build('f32'), sizes, inputs).values.O!;
    // K and V with their head axis expanded: head h reads key/value head floor(h / G)
    const repeat = (t: HostTensor) => {
      const v = toValues(t);
      const out = new Float64Array(B * H * M * D);
      for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) out.set(v.subarray(((b * KVH + Math.floor(h / G)) * M) * D, ((b * KVH + Math.floor(h / G)) * M + M) * D), (b * H + h) * M * D);
      return fromValues('f32', [B, H, M, D], out);
    };
    const full = evaluate(attention.build('f32'), { B, H, N, M, D }, { Q: inputs.Q!, K: repeat(inputs.K!), V: repeat(inputs.V!) }).values.O!;
    expect(Array.from(grouped)).toEqual(Array.from(full));
  });

  it('causal-attention: query i ignores keys after it (changing them leaves its output alone)', () => {
    const sizes = { B: 1, H: 2, N: 6, D: 3 };
    const p = causalAttention.build('f32');
    const inputs = inputsFor(p, sizes);
    const before = evaluate(p, sizes, inputs).values.O!;
    // new keys and values from position 3 on: rows 0..2 must not change, the others must
    const change = (t: HostTensor) => {
      const v = toValues(t).slice();
      for (let h = 0; h < 2; h++) for (let j = 3; j < 6; j++) for (let d = 0; d < 3; d++) v[(h * 6 + j) * 3 + d] = v[(h * 6 + j) * 3 + d]! + 1;
      return fromValues('f32', t.shape, v);
    };
    const after = evaluate(p, sizes, { ...inputs, K: change(inputs.K!), V: change(inputs.V!) }).values.O!;
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 6; i++) {
        const row = (x: Float64Array) => Array.from(x.subarray((h * 6 + i) * 3, (h * 6 + i + 1) * 3));
        if (i < 3) expect(row(after), `h ${h} i ${i}`).toEqual(row(before));
        else expect(row(after), `h ${h} i ${i}`).not.toEqual(row(before));
      }
    }
  });
});

/** Time for one device test: a start-up share (compiling on the software GPU) plus one for the work. */
const DEVICE_BASE_MS = 30_000;
const DEVICE_PER_MFLOP_MS = 2_000;
const deviceTimeout = (s: Sizes) => DEVICE_BASE_MS + (DEVICE_PER_MFLOP_MS * 4 * Object.values(s).reduce((a, b) => a * b, 1)) / 1e6;

onEachDevice(() => {
  describe('the attention examples on the device, against the reference', () => {
    for (const ex of [attention, causalAttention, gqaAttention]) {
      const sizes = SMALL[ex.name]!;
      it(ex.name, { timeout: deviceTimeout(sizes) }, async () => {
        const p = ex.build('f32');
        const r = await checkOnDevice(p, sizes, inputsFor(p, sizes, 3));
        expect(r.plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
        expect(r.failures).toEqual([]);
      });
    }

    // one kernel compiled for caches up to 8192 keys, run at several lengths
    it('decode-attention at cache lengths 1, 29 and 300', { timeout: deviceTimeout({ B: 2, H: 3, M: 300, D: 7 }) + 10_000 }, async () => {
      const p = decodeAttention.build('f32');
      const { M: _bound, ...fixed } = SMALL['decode-attention']!;
      const exe = await Executable.create(await currentDevice(), p, fixed);
      try {
        expect(exe.plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
        for (const M of [1, 29, 300]) {
          const sizes = { ...fixed, M };
          const inputs = inputsFor(p, sizes, M);
          const { outputs } = await exe.run(inputs, { sizes: { M } });
          const want = evaluate(p, sizes, inputs).outputs.O!;
          expect(mismatch(outputs.O!, want), `M = ${M}`).toBeUndefined();
        }
      } finally {
        exe.destroy();
      }
    });
  });
});
