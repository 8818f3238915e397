import { describe, expect, it } from 'vitest';
import { dot, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { type Sizes } from '../../src/ir/bind.js';
import { packedWords } from '../../src/ir/dtype.js';
import { ProgramError } from '../../src/ir/errors.js';
import { type HostTensor, fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { type Program } from '../../src/ir/tensor.js';
import { Executable } from '../../src/runtime/executable.js';
import { type WebGpuDevice } from '../../src/runtime/webgpu.js';
import { type Tolerance, checkOnDevice, currentDevice, gpu, onEachDevice } from '../helpers/device.js';

/**
 * Narrow and packed dtypes on the device: f16 with and without shader-f16 (emulated as packed
 * halves computed in f32), bf16 as storage, i8 / u4 / i4 inputs (dequantization) and narrow
 * outputs, whose sub-word stores become atomics after legalization. Element counts are odd so
 * the last word of a buffer is shared by elements of different invocations.
 */

async function expectMatch(
  p: Program,
  sizes: Sizes,
  inputs: Readonly<Record<string, HostTensor>>,
  opts: { tol?: Partial<Tolerance>; device?: WebGpuDevice } = {},
) {
  const r = await checkOnDevice(p, sizes, inputs, opts);
  expect(r.failures).toEqual([]);
  for (const [name, t] of Object.entries(r.reference)) expect(r.outputs[name]?.shape).toEqual(t.shape);
  return r;
}

const nativeF16 = () => gpu();
const emulatedF16 = () => gpu({ withoutFeatures: ['shader-f16'] });

// -----------------------------------------------------------------------------------------------
// f16

const f16Programs = {
  elementwise: program('f16_elementwise', (b) => {
    const N = b.size('N');
    const x = b.input('X', 'f16', { i: N });
    const y = b.input('Y', 'f16', { i: N });
    b.output('A', x.mul(y).add(1));
    b.output('E', x.exp().sub(y.abs().sqrt()));
    b.output('W', x.gt(y).where(x, y.mul(0.5)));
    b.output('F32', x.cast('f32').mul(y.cast('f32')));
    b.output('Back', x.cast('f32').mul(3).cast('f16'));
  }),
  rows: program('f16_rows', (b) => {
    const [N, D] = b.sizes('N', 'D');
    const x = b.input('X', 'f16', { i: N, j: D });
    b.output('S', softmax(x, 'j'));
    b.output('Sum', x.sum('j'));
    b.output('Mx', x.max('j'));
  }),
  matmul: program('f16_matmul', (b) => {
    const [M, K, N] = b.sizes('M', 'K', 'N');
    const a = b.input('A', 'f16', { i: M, k: K });
    const w = b.input('W', 'f16', { k: K, j: N });
    b.output('C', dot(a, w, 'k'));
    b.output('Ct', dot(a, w, 'k'), ['j', 'i']);
  }),
};

for (const [label, device] of [
  ['native f16 (shader-f16)', nativeF16],
  ['emulated f16 (no shader-f16: packed halves, f32 math)', emulatedF16],
] as const) {
  describe(label, () => {
    it('the device has (or lacks) shader-f16 as asked', async () => {
      const d = await device();
      const native = device === nativeF16;
      if (native && !d.hasFeature('shader-f16')) {
        // nothing to check natively on this adapter: the emulated suite still runs
        expect(d.info.features).not.toContain('shader-f16');
        return;
      }
      expect(d.info.features.includes('shader-f16')).toBe(native);
    });

    // 1000: the f32 output takes vector stores while the f16 operands stay scalar
    for (const n of [1, 37, 1000, 1001]) {
      it(`elementwise f16 arithmetic, compare/select and casts over [${n}]`, async () => {
        const d = await device();
        const r = await expectMatch(
          f16Programs.elementwise,
          { N: n },
          { X: randomHost('f16', [n], n, [-2, 2]), Y: randomHost('f16', [n], n + 1, [-2, 2]) },
          { device: d, tol: { rtol: 1e-2, atol: 2e-3 } },
        );
        expectF16Lowering(d, r.sources);
      });
    }

    for (const [N, D] of [[3, 1], [7, 37], [3, 1001]] as const) {
      it(`softmax, sum and max over f16 rows of [${N}, ${D}] (accumulating in f32)`, async () => {
        const d = await device();
        const r = await expectMatch(f16Programs.rows, { N, D }, { X: randomHost('f16', [N, D], N * D, [-4, 4]) }, { device: d, tol: { rtol: 1e-2, atol: 1e-2 } });
        expectF16Lowering(d, r.sources);
      });
    }

    it('an f16 matmul [5, 37] x [37, 3], stored both ways round', async () => {
      const d = await device();
      const r = await expectMatch(
        f16Programs.matmul,
        { M: 5, K: 37, N: 3 },
        { A: randomHost('f16', [5, 37], 1), W: randomHost('f16', [37, 3], 2) },
        { device: d, tol: { rtol: 2e-2, atol: 2e-2 } },
      );
      expectF16Lowering(d, r.sources);
    });

    it('f16 rounding of a cast matches the reference bit for bit', async () => {
      const d = await device();
      const p = program('f16_round', (b) => {
        const x = b.input('X', 'f32', { i: b.size('N') });
        b.output('H', x.cast('f16'));
      });
      // halfway cases, subnormals, the largest half and overflow
      const v = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -25 * 3, 6e-8, 65504, 65519, 65520, -1e6, 1e-10, -0.333333, 0.1];
      const r = await expectMatch(p, { N: v.length }, { X: fromValues('f32', [v.length], v) }, { device: d, tol: { rtol: 0, atol: 0 } });
      expect(Array.from(toValues(r.outputs.H!))).toEqual(Array.from(toValues(r.reference.H!)));
    });
  });
}

/** Native devices print f16; emulating ones keep f16 out of the shader entirely. */
function expectF16Lowering(d: WebGpuDevice, sources: readonly string[]): void {
  const all = sources.join('\n');
  if (d.hasFeature('shader-f16')) expect(all).toContain('enable f16;');
  else {
    expect(all).not.toContain('f16');
    expect(all).toMatch(/unpack2x16float|pack2x16float/);
  }
}

// -----------------------------------------------------------------------------------------------
// bf16 (storage only)

// bf16, i8, 4-bit and narrow outputs run on every device; the f16 cases above are WebGPU's
onEachDevice(() => {
  describe('bf16 inputs and outputs', () => {
    for (const shape of [[1], [37], [1001], [3, 37], [3, 36]] as const) {
      it(`elementwise through f32 and back to bf16, shape [${shape.join(', ')}]`, async () => {
        const p = program('bf16_ew', (b) => {
          const x = shape.length === 1 ? b.input('X', 'bf16', { j: b.size('D') }) : b.input('X', 'bf16', { i: b.size('N'), j: b.size('D') });
          const xf = x.cast('f32');
          b.output('Y', xf.mul(xf).sub(xf.mul(0.5)).add(1).cast('bf16'));
          b.output('F', xf.exp());
        });
        const sizes = shape.length === 1 ? { D: shape[0] } : { N: shape[0], D: shape[1] };
        await expectMatch(p, sizes, { X: randomHost('bf16', shape, 301, [-3, 3]) });
      });
    }

    it('a softmax over bf16 rows [5, 1001] written back as bf16', async () => {
      const p = program('bf16_softmax', (b) => {
        const x = b.input('X', 'bf16', { i: b.size('N'), j: b.size('D') });
        b.output('Y', softmax(x.cast('f32'), 'j').cast('bf16'));
        b.output('Mx', x.cast('f32').max('j').cast('bf16'));
      });
      await expectMatch(p, { N: 5, D: 1001 }, { X: randomHost('bf16', [5, 1001], 302, [-6, 6]) });
    });

    it('bf16 rounding of a cast (round to nearest even) matches the reference bit for bit', async () => {
      const p = program('bf16_round', (b) => {
        const x = b.input('X', 'f32', { i: b.size('N') });
        b.output('B', x.cast('bf16'));
        b.output('R', x.cast('bf16').cast('f32')); // a cast inside the computation rounds too
      });
      const v = [1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -3.14159, 1e-30, 3.3e38, 65504, 0.1, -0, 7];
      const r = await expectMatch(p, { N: v.length }, { X: fromValues('f32', [v.length], v) }, { tol: { rtol: 0, atol: 0 } });
      expect(Array.from(r.outputs.B!.data)).toEqual(Array.from(r.reference.B!.data));
    });
  });

  // -----------------------------------------------------------------------------------------------
  // i8 and packed 4-bit inputs (dequantization)

  describe('i8 inputs', () => {
    for (const [N, K] of [[1, 1], [3, 37], [8, 64], [129, 101], [5, 1001]] as const) {
      it(`int8 weight dequantization and a GEMV, W: i8[${N}, ${K}]`, async () => {
        const p = program('i8_gemv', (b) => {
          const [n, k] = b.sizes('N', 'K');
          const w = b.input('W', 'i8', { n, k });
          const scale = b.input('S', 'f32', { n });
          const x = b.input('X', 'f32', { k });
          const deq = w.cast('f32').mul(scale);
          b.output('D', deq);
          b.output('Y', dot(deq, x, 'k'));
          b.output('I', w.cast('i32').add(1)); // sign extension is visible here
        });
        await expectMatch(
          p,
          { N, K },
          { W: randomHost('i8', [N, K], 401), S: randomHost('f32', [N], 402, [0.001, 0.02]), X: randomHost('f32', [K], 403) },
          { tol: { atol: 1e-4 } },
        );
      });
    }
  });

  describe('u4 and i4 packed inputs (rows padded to whole words)', () => {
    for (const [N, K] of [[1, 1], [3, 5], [33, 37], [7, 8], [3, 16], [2, 1001]] as const) {
      it(`a dequantized int4 GEMV, W: u4 and i4 [${N}, ${K}]`, async () => {
        const p = program('int4_gemv', (b) => {
          const [n, k] = b.sizes('N', 'K');
          const wu = b.input('WU', 'u4', { n, k });
          const wi = b.input('WI', 'i4', { n, k });
          const scale = b.input('S', 'f32', { n });
          const x = b.input('X', 'f32', { k });
          // u4 with a zero point of 8; i4 symmetric
          const du = wu.cast('f32').sub(8).mul(scale);
          const di = wi.cast('f32').mul(scale);
          b.output('Yu', dot(du, x, 'k'));
          b.output('Yi', dot(di, x, 'k'));
          b.output('Du', du);
          b.output('Ii', wi.cast('i32'));
          // the transpose reads the packed rows column by column
          b.output('Ut', wu.cast('i32'), ['k', 'n']);
        });
        const wu = randomHost('u4', [N, K], 501);
        const wi = randomHost('i4', [N, K], 502);
        // the host layout pads each row to whole words
        expect(wu.data.length).toBe(packedWords([N, K]));
        expect(wu.data.length).toBe(N * Math.ceil(K / 8));
        await expectMatch(
          p,
          { N, K },
          { WU: wu, WI: wi, S: randomHost('f32', [N], 503, [0.01, 0.1]), X: randomHost('f32', [K], 504) },
          { tol: { atol: 1e-4 } },
        );
      });
    }
  });

  // -----------------------------------------------------------------------------------------------
  // Narrow outputs: sub-word stores

  describe('narrow outputs with odd element counts', () => {
    for (const n of [1, 3, 37, 1001]) {
      it(`i8 and bf16 outputs of [${n}] elements (float saturation, integer wrap)`, async () => {
        const p = program('narrow_out', (b) => {
          const N = b.size('N');
          const x = b.input('X', 'f32', { i: N });
          const xi = b.input('XI', 'i32', { i: N });
          b.output('Q', x.mul(64).cast('i8')); // saturates to [-128, 127]
          b.output('W', xi.cast('i8')); // wraps
          b.output('B', x.mul(x).cast('bf16'));
          b.output('H', x.mul(0.5).cast('f16'));
        });
        await expectMatch(p, { N: n }, { X: randomHost('f32', [n], 600 + n, [-4, 4]), XI: randomHost('i32', [n], 601 + n) });
      });
    }

    it('i8 and bf16 outputs of row reductions and of a transposed store, [37, 45] and [3, 1001]', async () => {
      const p = program('narrow_rows', (b) => {
        const [N, D] = b.sizes('N', 'D');
        const x = b.input('X', 'f32', { i: N, j: D });
        b.output('Mx', x.mul(32).max('j').cast('i8'));
        b.output('S', x.sum('j').cast('bf16'));
        b.output('T', x.mul(16).cast('i8'), ['j', 'i']);
        b.output('Sm', softmax(x, 'j').cast('bf16'));
      });
      for (const [N, D] of [[37, 45], [3, 1001]] as const) {
        await expectMatch(p, { N, D }, { X: randomHost('f32', [N, D], N + D, [-3, 3]) });
      }
    });

    it('u4 and i4 outputs are refused when the program is built (pack 4-bit data on the host)', () => {
      for (const dtype of ['u4', 'i4'] as const) {
        expect(() =>
          program('int4_out', (b) => {
            const x = b.input('X', 'f32', { n: b.size('N'), k: b.size('K') });
            b.output('Q', x.mul(8).cast(dtype));
          }),
        ).toThrow(ProgramError);
      }
    });

    it('the words of an i8 output hold exactly the stored bytes (no stray bits from neighbours)', async () => {
      const d = await currentDevice();
      const p = program('i8_words', (b) => {
        const x = b.input('X', 'i32', { i: b.size('N') });
        b.output('Y', x.cast('i8'));
      });
      const n = 37;
      const exe = await Executable.create(d, p, { N: n });
      // pre-fill the output with ones: every byte of every element must be overwritten
      d.write(exe.buffer('Y'), new Uint8Array(n).fill(0xff));
      const values = Array.from({ length: n }, (_, i) => (i * 37) % 256);
      const { outputs } = await exe.run({ X: fromValues('i32', [n], values) });
      expect(Array.from(outputs.Y!.data)).toEqual(values.map((v) => (v << 24) >> 24));
      exe.destroy();
    });
  });
});
