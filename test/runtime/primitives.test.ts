import { describe, expect, it } from 'vitest';
import { dot, gelu } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { type Tensor } from '../../src/dsl/tensor.js';
import { type Sizes } from '../../src/ir/bind.js';
import { type DType } from '../../src/ir/dtype.js';
import { type HostTensor, fromValues, numelOf, randomHost, rng } from '../../src/ir/host.js';
import { type BinaryFn, type CompareFn, type Program, type UnaryFn, BINARY_FNS, COMPARE_FNS, UNARY_FNS } from '../../src/ir/tensor.js';
import { type ContractionKnobs, InvalidScheduleError } from '../../src/passes/schedule.js';
import { type CompileOptions, Executable } from '../../src/runtime/executable.js';
import { fixedSubgroupSize } from '../../src/runtime/target.js';
import { type Tolerance, checkOnDevice, currentDevice, onEachDevice } from '../helpers/device.js';

/**
 * Every tensor-IR primitive, run for real on each device (WebGPU; CUDA where present) and compared with the reference.
 * Sizes are deliberately awkward (1, 3, 37, 129, 1001: not multiples of 8, 32 or 256) so guards,
 * partial workgroups and partial row teams are exercised; integer results must match exactly.
 */

async function expectMatch(
  p: Program,
  sizes: Sizes,
  inputs: Readonly<Record<string, HostTensor>>,
  opts: { tol?: Partial<Tolerance>; compile?: CompileOptions } = {},
) {
  const r = await checkOnDevice(p, sizes, inputs, opts);
  expect(r.failures).toEqual([]);
  // the reference must have produced something: guards against comparing two empty tensors
  for (const [name, t] of Object.entries(r.reference)) expect(r.outputs[name]?.shape).toEqual(t.shape);
  return r;
}

/** Integers uniform in [lo, hi] as a host tensor. */
function ints(dtype: DType, shape: readonly number[], seed: number, lo: number, hi: number, nonzero = false): HostTensor {
  const r = rng(seed);
  const v = Array.from({ length: numelOf(shape) }, () => {
    let x = lo + Math.floor(r() * (hi - lo + 1));
    if (nonzero && x === 0) x = hi;
    return x;
  });
  return fromValues(dtype, shape, v);
}

const SIZES_1D = [1, 3, 37, 129, 1001];

// -----------------------------------------------------------------------------------------------
// Elementwise unary functions

/** Input ranges where each function is defined and well conditioned. */
const UNARY_RANGE: Record<UnaryFn, readonly [number, number]> = {
  neg: [-5, 5],
  abs: [-5, 5],
  exp: [-10, 10],
  log: [0.01, 100],
  sqrt: [0, 100],
  rsqrt: [0.01, 100],
  tanh: [-20, 20],
  erf: [-4, 4],
  sigmoid: [-20, 20],
  floor: [-10, 10],
  ceil: [-10, 10],
  sin: [-6, 6],
  cos: [-6, 6],
  recip: [0.1, 10],
};

onEachDevice(() => {
  describe('unary functions on f32', () => {
    it('covers every unary function of the IR', () => {
      expect([...UNARY_FNS].sort()).toEqual(Object.keys(UNARY_RANGE).sort());
    });

    for (const fn of UNARY_FNS) {
      for (const n of [1, 1001]) {
        it(`${fn} over [${n}] in [${UNARY_RANGE[fn].join(', ')}]`, async () => {
          const p = program(`u_${fn}`, (b) => {
            const x = b.input('X', 'f32', { i: b.size('N') });
            b.output('Y', unaryOf(x, fn));
          });
          // tolerance in ulps of f32 relative to the result, plus a small absolute floor for
          // functions whose result crosses zero (tanh, erf, sin: library errors are absolute there)
          await expectMatch(p, { N: n }, { X: randomHost('f32', [n], 11 + n, UNARY_RANGE[fn]) }, { tol: { rtol: 2e-5, atol: 2e-6 } });
        });
      }
    }

    it('recip and rsqrt of negative and tiny values, exp of large negatives (denormal range)', async () => {
      const p = program('u_edges', (b) => {
        const x = b.input('X', 'f32', { i: b.size('N') });
        b.output('R', x.recip());
        b.output('E', x.mul(-20).exp());
      });
      await expectMatch(p, { N: 37 }, { X: randomHost('f32', [37], 3, [-3, -0.01]) });
    });

    it('neg and abs on i32 are exact', async () => {
      const p = program('u_int', (b) => {
        const x = b.input('X', 'i32', { i: b.size('N') });
        b.output('N_', x.neg());
        b.output('A', x.abs());
      });
      await expectMatch(p, { N: 129 }, { X: ints('i32', [129], 5, -2147483647, 2147483647) });
    });
  });

  function unaryOf(x: Tensor<'f32', 'i'>, fn: UnaryFn): Tensor<'f32', 'i'> {
    switch (fn) {
      case 'neg': return x.neg();
      case 'abs': return x.abs();
      case 'exp': return x.exp();
      case 'log': return x.log();
      case 'sqrt': return x.sqrt();
      case 'rsqrt': return x.rsqrt();
      case 'tanh': return x.tanh();
      case 'erf': return x.erf();
      case 'sigmoid': return x.sigmoid();
      case 'floor': return x.floor();
      case 'ceil': return x.ceil();
      case 'sin': return x.sin();
      case 'cos': return x.cos();
      case 'recip': return x.recip();
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Elementwise binary functions

  function binaryOf<D extends 'f32' | 'i32' | 'u32', B extends 'i' | 'j'>(a: Tensor<D, 'i' | 'j'>, b: Tensor<D, B>, fn: BinaryFn): Tensor<D, 'i' | 'j'> {
    switch (fn) {
      case 'add': return a.add(b);
      case 'sub': return a.sub(b);
      case 'mul': return a.mul(b);
      case 'div': return a.div(b);
      case 'max': return a.max(b);
      case 'min': return a.min(b);
      case 'pow': return a.pow(b);
      case 'mod': return a.mod(b);
    }
  }

  /** Operand ranges per function: pow needs a positive base, div and mod a divisor away from zero. */
  const FLOAT_BINARY_RANGE: Record<BinaryFn, readonly [readonly [number, number], readonly [number, number]]> = {
    add: [[-10, 10], [-10, 10]],
    sub: [[-10, 10], [-10, 10]],
    mul: [[-10, 10], [-10, 10]],
    div: [[-10, 10], [0.5, 4]],
    max: [[-10, 10], [-10, 10]],
    min: [[-10, 10], [-10, 10]],
    pow: [[0.1, 4], [-3, 3]],
    mod: [[0, 10], [0.7, 3]],
  };

  describe('binary functions', () => {
    it('covers every binary function of the IR', () => {
      expect([...BINARY_FNS].sort()).toEqual(Object.keys(FLOAT_BINARY_RANGE).sort());
    });

    for (const fn of BINARY_FNS) {
      it(`${fn} on f32, [37, 128] with a broadcast [128] operand and a full one`, async () => {
        const p = program(`b_${fn}`, (b) => {
          const [N, M] = b.sizes('N', 'M');
          const x = b.input('A', 'f32', { i: N, j: M });
          const y = b.input('B', 'f32', { j: M });
          b.output('Y', binaryOf(x, y, fn));
          // a second operand of the full shape: both sides contiguous (vector loads)
          b.output('Z', binaryOf(x, b.input('C', 'f32', { i: N, j: M }), fn));
        });
        const [ra, rb] = FLOAT_BINARY_RANGE[fn];
        await expectMatch(
          p,
          { N: 37, M: 128 },
          { A: randomHost('f32', [37, 128], 21, ra), B: randomHost('f32', [128], 22, rb), C: randomHost('f32', [37, 128], 23, rb) },
          // pow is exp2(y * log2(x)) on most GPUs: a few ulps of the exponent's range
          { tol: fn === 'pow' ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 2e-5, atol: 2e-6 } },
        );
      });
    }

    it('f32 mod with negative operands follows the truncated remainder', async () => {
      const p = program('b_fmod', (b) => {
        const N = b.size('N');
        b.output('Y', b.input('A', 'f32', { i: N }).mod(b.input('B', 'f32', { i: N })));
      });
      const a = fromValues('f32', [8], [7.5, -7.5, 7.5, -7.5, 0.25, -0.25, 3, -3]);
      const d = fromValues('f32', [8], [2, 2, -2, -2, 1, 1, 2, 2]);
      const r = await expectMatch(p, { N: 8 }, { A: a, B: d }, { tol: { rtol: 1e-6, atol: 1e-6 } });
      expect(Array.from(r.reference.Y!.data)).toEqual([1.5, -1.5, 1.5, -1.5, 0.25, -0.25, 1, -1]);
    });

    for (const dtype of ['i32', 'u32'] as const) {
      for (const fn of BINARY_FNS.filter((f) => f !== 'pow')) {
        it(`${fn} on ${dtype} is exact (incl. wrap-around)`, async () => {
          const p = program(`b_${dtype}_${fn}`, (b) => {
            const [N, M] = b.sizes('N', 'M');
            b.output('Y', binaryOf(b.input('A', dtype, { i: N, j: M }), b.input('B', dtype, { j: M }), fn));
          });
          const big = fn === 'add' || fn === 'sub' || fn === 'mul';
          const a =
            dtype === 'i32'
              ? ints('i32', [3, 1001], 31, big ? -2147483647 : -100000, big ? 2147483647 : 100000)
              : ints('u32', [3, 1001], 31, 0, big ? 4294967295 : 100000);
          const d =
            dtype === 'i32'
              ? ints('i32', [1001], 32, big ? -70000 : -300, big ? 70000 : 300, true)
              : ints('u32', [1001], 32, 1, big ? 4294967295 : 300, true);
          await expectMatch(p, { N: 3, M: 1001 }, { A: a, B: d });
        });
      }
    }
  });

  // -----------------------------------------------------------------------------------------------
  // Comparisons and select

  function compareOf<D extends 'f32' | 'i32'>(a: Tensor<D, 'i'>, b: Tensor<D, 'i'>, fn: CompareFn): Tensor<'bool', 'i'> {
    switch (fn) {
      case 'lt': return a.lt(b);
      case 'le': return a.le(b);
      case 'gt': return a.gt(b);
      case 'ge': return a.ge(b);
      case 'eq': return a.eq(b);
      case 'ne': return a.ne(b);
    }
  }

  describe('comparisons', () => {
    for (const dtype of ['f32', 'i32'] as const) {
      for (const fn of COMPARE_FNS) {
        it(`${fn} on ${dtype}, as a mask (cast to i32) and in where()`, async () => {
          const p = program(`c_${dtype}_${fn}`, (b) => {
            const N = b.size('N');
            const x = b.input('A', dtype, { i: N });
            const y = b.input('B', dtype, { i: N });
            const c = compareOf(x, y, fn);
            b.output('M', c.cast('i32'));
            b.output('W', c.where(x, y.mul(3)));
            b.output('K', c.where(1, -1).cast('i32'));
          });
          // few distinct values, so equality is frequent
          const n = 1001;
          const a = dtype === 'f32' ? fromValues('f32', [n], Array.from(ints('i32', [n], 41, -3, 3).data, (v) => v / 2)) : ints('i32', [n], 41, -3, 3);
          const d = dtype === 'f32' ? fromValues('f32', [n], Array.from(ints('i32', [n], 42, -3, 3).data, (v) => v / 2)) : ints('i32', [n], 42, -3, 3);
          const r = await expectMatch(p, { N: n }, { A: a, B: d });
          const mask = Array.from(r.reference.M!.data);
          expect(mask.some((v) => v === 1) && mask.some((v) => v === 0)).toBe(true);
        });
      }
    }
  });

  describe('select (where)', () => {
    it('between tensors of two shapes, a broadcast condition and constants', async () => {
      const p = program('c_select', (b) => {
        const [N, M] = b.sizes('N', 'M');
        const x = b.input('X', 'i32', { i: N, j: M });
        const t = b.input('T', 'f32', { j: M });
        b.output('Y', t.gt(0).where(x, x.mul(-2)));
        b.output('Z', x.ge(0).where(x, 7));
        b.output('U', t.lt(0.5).where(t.mul(2), 0.25).add(x.cast('f32')));
        // nested selects: a three-way sign
        b.output('S', x.gt(0).where(1, x.lt(0).where(-1, 0)).cast('i32'));
      });
      await expectMatch(p, { N: 3, M: 129 }, { X: ints('i32', [3, 129], 51, -5, 5), T: randomHost('f32', [129], 52) });
    });
  });

  // -----------------------------------------------------------------------------------------------
  // Casts

  describe('casts between f32, i32 and u32', () => {
    it('f32 -> i32 and f32 -> u32 truncate toward zero and saturate (NaN -> 0)', async () => {
      const p = program('cast_f2i', (b) => {
        const x = b.input('X', 'f32', { i: b.size('N') });
        b.output('I', x.cast('i32'));
        b.output('U', x.cast('u32'));
      });
      const values = [
        -2.7, 2.7, -0.5, 0.5, -0, 0.99999994, -1.0000001, 123456.78, -123456.78, 16777216, -16777216,
        2147483520, 2147483648, -2147483648, -2147483904, 1e10, -1e10, 3e9, -3e9, 4294967040, 4294967296, 1e30,
        Infinity, -Infinity, NaN, -NaN,
      ];
      await expectMatch(p, { N: values.length }, { X: fromValues('f32', [values.length], values) });
    });

    it('i32 <-> u32 wrap, and integers round to the nearest f32', async () => {
      const p = program('cast_ints', (b) => {
        const N = b.size('N');
        const i = b.input('I', 'i32', { i: N });
        const u = b.input('U', 'u32', { i: N });
        b.output('IU', i.cast('u32'));
        b.output('IF', i.cast('f32'));
        b.output('UI', u.cast('i32'));
        b.output('UF', u.cast('f32'));
        // a round trip through f32 loses low bits of large integers
        b.output('IFI', i.cast('f32').cast('i32'));
      });
      const iv = [0, 1, -1, 7, -7, 16777217, -16777217, 2147483647, -2147483648, 123456789, -987654321];
      const uv = [0, 1, 4294967295, 2147483647, 2147483648, 16777217, 3000000001, 8, 42, 99999999, 4294967040];
      await expectMatch(p, { N: iv.length }, { I: fromValues('i32', [iv.length], iv), U: fromValues('u32', [uv.length], uv) });
    });

    it('casts inside arithmetic: integer averages through f32, float floors to an index', async () => {
      const p = program('cast_mixed', (b) => {
        const [N, M] = b.sizes('N', 'M');
        const x = b.input('X', 'i32', { i: N, j: M });
        const f = b.input('F', 'f32', { i: N });
        b.output('Mean', x.cast('f32').mean('j'));
        b.output('Q', f.mul(16).floor().cast('i32').mod(7));
      });
      await expectMatch(p, { N: 37, M: 129 }, { X: ints('i32', [37, 129], 61, -1000, 1000), F: randomHost('f32', [37], 62, [0, 50]) }, { tol: { atol: 1e-4 } });
    });
  });

  // -----------------------------------------------------------------------------------------------
  // iota (p.index, p.value)

  describe('iota', () => {
    it('p.index as i32, u32 and f32, across two axes, and p.value of a size', async () => {
      const p = program('iota', (b) => {
        const [N, M] = b.sizes('N', 'M');
        b.output('I', b.index('i', N).mul(1000).add(b.index('j', M)));
        b.output('U', b.index('i', N, 'u32'));
        b.output('F', b.index('j', M, 'f32').mul(0.5).add(b.value(N, 'f32')));
      });
      const r = await expectMatch(p, { N: 37, M: 129 }, {});
      expect(Array.from(r.outputs.I!.data.slice(127, 131))).toEqual([127, 128, 1000, 1001]);
    });

    it('index-dependent masks and weights inside a reduction (a causal, position-weighted sum)', async () => {
      const p = program('iota_mask', (b) => {
        const [N, M] = b.sizes('N', 'M');
        const x = b.input('X', 'f32', { i: N, j: M });
        const w = b.index('j', M, 'f32').add(1).recip();
        const causal = b.index('j', M).le(b.index('i', N)).where(x.mul(w), 0);
        b.output('Y', causal.sum('j'));
      });
      await expectMatch(p, { N: 129, M: 129 }, { X: randomHost('f32', [129, 129], 71) }, { tol: { atol: 1e-5 } });
    });
  });

  // -----------------------------------------------------------------------------------------------
  // Reductions

  /** Rows of every length class: single, short (serial, < 32), exactly 32, long (a team per row). */
  const ROW_SHAPES = [
    [1, 1],
    [3, 1],
    [1, 3],
    [37, 3],
    [129, 31],
    [5, 32],
    [7, 37],
    [3, 1001],
    [1, 129],
    [2, 4099],
  ] as const;

  describe('reductions', () => {
    // (a row kernel holding many tree reductions takes the software GPU's compiler seconds, so each
    // program keeps to three)
    for (const [N, D] of ROW_SHAPES) {
      it(`sum, max, min and mean over the inner axis of [${N}, ${D}] in f32`, async () => {
        const p = program('r_inner', (b) => {
          const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('D') });
          b.output('S', x.sum('j'));
          // all-negative rows for max and all-positive ones for min: a zero identity would show
          b.output('Mx', x.sub(10).max('j'));
          b.output('Mn', x.add(10).min('j'));
          b.output('Mean', x.mean('j'));
        });
        await expectMatch(p, { N, D }, { X: randomHost('f32', [N, D], N + D, [-1, 1]) }, { tol: { atol: 1e-4 } });
      });
    }

    for (const dtype of ['i32', 'u32'] as const) {
      for (const [N, D] of [[37, 3], [5, 32], [2, 1001]] as const) {
        it(`sum, max and min over the inner axis of [${N}, ${D}] in ${dtype} are exact`, async () => {
          const p = program('r_int', (b) => {
            const x = b.input('X', dtype, { i: b.size('N'), j: b.size('D') });
            b.output('S', x.sum('j'));
            b.output('Mx', x.max('j'));
            b.output('Mn', x.min('j'));
          });
          // i32: sums that wrap around; u32: values above 2^31 (signed comparison would be wrong)
          const x = dtype === 'i32' ? ints('i32', [N, D], N + D, -2000000000, 2000000000) : ints('u32', [N, D], N + D, 1, 4294967294);
          await expectMatch(p, { N, D }, { X: x });
        });
      }
    }

    for (const [N, D] of [[1001, 3], [37, 129], [3, 37], [129, 1]] as const) {
      it(`sum, max, min over the outer axis of [${N}, ${D}]`, async () => {
        const p = program('r_outer', (b) => {
          const [n, d] = b.sizes('N', 'D');
          const x = b.input('X', 'f32', { i: n, j: d });
          b.output('S', x.sum('i'));
          b.output('Mx', x.max('i'));
          b.output('Mn', x.min('i'));
          b.output('Si', x.mul(128).floor().cast('i32').sum('i'));
        });
        await expectMatch(p, { N, D }, { X: randomHost('f32', [N, D], N * D, [-2, 3]) }, { tol: { atol: 1e-4 } });
      });
    }

    it('over several axes: inner pair, outer pair and a non-adjacent pair of [3, 37, 5]', async () => {
      const p = program('r_axes', (b) => {
        const [A, B, C] = b.sizes('A', 'B', 'C');
        const x = b.input('X', 'f32', { a: A, b: B, c: C });
        b.output('Sbc', x.sum('b', 'c'));
        b.output('Mab', x.max('a', 'b'));
        b.output('Nac', x.min('a', 'c'));
        b.output('Sca', x.sum('c', 'a')); // the order of the named axes does not matter
      });
      await expectMatch(p, { A: 3, B: 37, C: 5 }, { X: randomHost('f32', [3, 37, 5], 81, [-4, 4]) }, { tol: { atol: 1e-4 } });
    });

    for (const [N, D] of [[1, 1], [37, 129], [3, 1001], [129, 257]] as const) {
      it(`over all axes of [${N}, ${D}] into a scalar`, async () => {
        const p = program('r_all', (b) => {
          const [n, d] = b.sizes('N', 'D');
          const x = b.input('X', 'f32', { i: n, j: d });
          b.output('S', x.sum('i', 'j'));
          b.output('Mx', x.max('i', 'j'));
          b.output('Mn', x.min('j', 'i'));
          b.output('Si', x.mul(1024).cast('i32').sum('i', 'j')); // x * 2^10 is exact in f32
        });
        const r = await expectMatch(p, { N, D }, { X: randomHost('f32', [N, D], 91 + N, [-1, 1]) }, { tol: { atol: 1e-3 } });
        expect(r.outputs.S!.shape).toEqual([]);
      });
    }

    it('a reduction read back per row (x - mean) and a reduction of a reduction', async () => {
      const p = program('r_chain', (b) => {
        const [N, D] = b.sizes('N', 'D');
        const x = b.input('X', 'f32', { i: N, j: D });
        const centered = x.sub(x.mean('j'));
        b.output('C', centered);
        b.output('V', centered.mul(centered).sum('j').max('i'));
      });
      await expectMatch(p, { N: 37, D: 1001 }, { X: randomHost('f32', [37, 1001], 92, [-3, 5]) }, { tol: { atol: 1e-4 } });
    });
  });

  // -----------------------------------------------------------------------------------------------
  // Contractions

  describe('contractions (dot)', () => {
    // [M, K, N]: tiny, short K, long K, a row vector, many outputs. (Each contraction kernel takes
    // the software GPU's compiler seconds, so the transposed-operand variant runs on two shapes.)
    const MKN = [
      [1, 1, 1, false],
      [3, 37, 5, true],
      [37, 129, 3, false],
      [1, 1001, 3, false],
      [130, 33, 130, true],
    ] as const;
    for (const [M, K, N, transposed] of MKN) {
      it(`[${M}, ${K}] x [${K}, ${N}] in f32 and i32${transposed ? ', and with B stored transposed' : ''}`, async () => {
        const p = program('mm', (b) => {
          const [m, k, n] = b.sizes('M', 'K', 'N');
          const a = b.input('A', 'f32', { i: m, k });
          const w = b.input('B', 'f32', { k, j: n });
          const ai = b.input('Ai', 'i32', { i: m, k });
          const wi = b.input('Bi', 'i32', { k, j: n });
          b.output('C', dot(a, w, 'k'));
          b.output('Ci', dot(ai, wi, 'k'));
          if (transposed) b.output('Ct', dot(a, b.input('Bt', 'f32', { j: n, k }), 'k'), ['i', 'j']);
        });
        await expectMatch(
          p,
          { M, K, N },
          {
            A: randomHost('f32', [M, K], 101),
            B: randomHost('f32', [K, N], 102),
            Ai: ints('i32', [M, K], 104, -1000, 1000),
            Bi: ints('i32', [K, N], 105, -1000, 1000),
            ...(transposed ? { Bt: randomHost('f32', [N, K], 103) } : {}),
          },
          { tol: { atol: 1e-4 } },
        );
      });
    }

    // The tuner's schedules, each compiled and checked on the device: a linear layer with a bias
    // and GELU epilogue, M, N and K ragged against every tile. Where the device has one fixed
    // subgroup size S (lavapipe 8, a CUDA warp 32), A is also shared by subgroup shuffles, with
    // one and with two subgroups per workgroup; elsewhere that schedule must be refused.
    describe('tiled GEMM schedules, [37, 45] x [45, 70] + bias, GELU', () => {
      const p = program('linear', (b) => {
        const [m, k, n] = b.sizes('M', 'K', 'N');
        const w = b.input('W', 'f32', { k, j: n });
        b.output('Y', gelu(dot(b.input('X', 'f32', { i: m, k }), w, 'k').add(b.input('Bias', 'f32', { j: n }))));
      });
      const sizes = { M: 37, K: 45, N: 70 };
      const inputs = { X: randomHost('f32', [37, 45], 131), W: randomHost('f32', [45, 70], 132), Bias: randomHost('f32', [70], 133) };
      const schedules: [string, (S: number) => Partial<ContractionKnobs>][] = [
        ['shared, double-buffered 4x4 tiles', () => ({ blockM: 16, blockN: 32, blockK: 8, threadM: 4, threadN: 4, doubleBuffer: true })],
        ['direct 8x8 tiles in vectors of 4, split-K 2', () => ({ blockM: 16, blockN: 64, blockK: 16, threadM: 8, threadN: 8, staging: 'direct', splitK: 2 })],
        ['direct, A shared by shuffles, one subgroup', (S) => ({ blockM: 8, threadM: 8, blockN: 2 * S, threadN: 2, blockK: S, staging: 'direct', shuffleA: true })],
        ['direct, A shared by shuffles, two subgroups', (S) => ({ blockM: 4, threadM: 4, blockN: 8 * S, threadN: 4, blockK: 2 * S, staging: 'direct', shuffleA: true, vectorWidth: 1 })],
      ];
      for (const [label, knobs] of schedules) {
        it(label, async () => {
          const device = await currentDevice();
          const S = fixedSubgroupSize(device.info);
          const schedule = { 'contraction:Y_sum,Y': knobs(S ?? 8) };
          if (schedule['contraction:Y_sum,Y'].shuffleA && S === undefined) {
            await expect(Executable.create(device, p, sizes, { schedule })).rejects.toBeInstanceOf(InvalidScheduleError);
            return;
          }
          const r = await expectMatch(p, sizes, inputs, { compile: { schedule }, tol: { atol: 1e-4 } });
          expect(r.plan.schedule['contraction:Y_sum,Y']).toMatchObject(schedule['contraction:Y_sum,Y']);
        });
      }
    });

    it('batched [B, M, K] x [B, K, N] and a batch against shared weights', async () => {
      const p = program('bmm', (b) => {
        const [B, M, K, N] = b.sizes('B', 'M', 'K', 'N');
        const a = b.input('A', 'f32', { b: B, i: M, k: K });
        const w = b.input('W', 'f32', { b: B, k: K, j: N });
        const shared = b.input('S', 'f32', { k: K, j: N });
        b.output('C', dot(a, w, 'k'), ['b', 'i', 'j']);
        b.output('D', dot(a, shared, 'k'), ['b', 'i', 'j']);
        // batch as the inner axis of the output
        b.output('E', dot(a, w, 'k'), ['i', 'j', 'b']);
      });
      await expectMatch(
        p,
        { B: 3, M: 37, K: 45, N: 5 },
        { A: randomHost('f32', [3, 37, 45], 111), W: randomHost('f32', [3, 45, 5], 112), S: randomHost('f32', [45, 5], 113) },
        { tol: { atol: 1e-4 } },
      );
    });

    it('over two axes at once, and a dot of a dot with an epilogue', async () => {
      const p = program('mm2', (b) => {
        const [M, K, L, N] = b.sizes('M', 'K', 'L', 'N');
        const a = b.input('A', 'f32', { i: M, k: K, l: L });
        const w = b.input('W', 'f32', { k: K, l: L, j: N });
        const v = b.input('V', 'f32', { j: N, e: M });
        const c = dot(a, w, 'k', 'l');
        b.output('C', c);
        b.output('D', dot(c, v, 'j').add(1).max(0), ['i', 'e']);
      });
      await expectMatch(
        p,
        { M: 7, K: 3, L: 37, N: 9 },
        { A: randomHost('f32', [7, 3, 37], 121), W: randomHost('f32', [3, 37, 9], 122), V: randomHost('f32', [9, 7], 123) },
        { tol: { atol: 1e-4 } },
      );
    });
  });

  // -----------------------------------------------------------------------------------------------
  // Views

  describe('views', () => {
    // odd shapes take one element per invocation; shapes whose inner axis is a multiple of 4 take
    // vector loads and stores where an access is contiguous, and scalar ones where it is not
    const SHAPES = [
      [37, 129],
      [36, 128],
    ] as const;

    for (const [N, M] of SHAPES) {
      it(`broadcast to a new axis, stored in both orders, [${N}, ${M}]`, async () => {
        const p = program('v_bcast', (b) => {
          const [n, m] = b.sizes('N', 'M');
          const x = b.input('X', 'f32', { i: n });
          const y = b.input('Y', 'f32', { j: m });
          b.output('B', x.broadcast({ j: m }));
          b.output('T', x.mul(2).broadcast({ j: m }), ['j', 'i']);
          b.output('Outer', x.mul(y)); // an outer product: one operand broadcast along each axis
        });
        await expectMatch(p, { N, M }, { X: randomHost('f32', [N], 131), Y: randomHost('f32', [M], 132) });
      });
    }

    for (const [N, M] of [...SHAPES, [1, 1001], [1001, 1], [3, 3], [4, 8]] as const) {
      it(`permute: a [${N}, ${M}] tensor stored transposed`, async () => {
        const p = program('v_transpose', (b) => {
          const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('M') });
          b.output('T', x.add(1), ['j', 'i']);
          b.output('P', x.permute('j', 'i').neg());
          // a transposed read into a row-major store: R[a, b] = X[b, a]
          b.output('R', x.rename({ i: 'b', j: 'a' }).mul(3), ['a', 'b']);
        });
        await expectMatch(p, { N, M }, { X: randomHost('f32', [N, M], 133 + N) });
      });
    }

    it('permute of three axes, and an i32 transpose', async () => {
      const p = program('v_permute3', (b) => {
        const [A, B, C] = b.sizes('A', 'B', 'C');
        const x = b.input('X', 'f32', { a: A, b: B, c: C });
        const xi = b.input('XI', 'i32', { a: A, b: B, c: C });
        b.output('Y', x, ['c', 'a', 'b']);
        b.output('Z', x.exp(), ['b', 'c', 'a']);
        b.output('W', xi.add(1), ['c', 'b', 'a']);
      });
      await expectMatch(p, { A: 3, B: 37, C: 5 }, { X: randomHost('f32', [3, 37, 5], 141), XI: ints('i32', [3, 37, 5], 142, -9, 9) });
    });

    for (const N of [37, 36]) {
      it(`rename: swapping two axis names reads the transpose, [${N}, ${N}]`, async () => {
        const p = program('v_rename', (b) => {
          const n = b.size('N');
          const x = b.input('X', 'f32', { i: n, j: n });
          const y = b.input('Y', 'f32', { i: n, k: b.size('K') });
          b.output('S', x.add(x.rename({ i: 'j', j: 'i' }))); // x + xᵀ: symmetric
          b.output('R', y.rename({ k: 'j' }).mul(2));
        });
        const r = await expectMatch(p, { N, K: 8 }, { X: randomHost('f32', [N, N], 151), Y: randomHost('f32', [N, 8], 152) });
        const s = r.outputs.S!.data;
        expect(s[1 * N + 5]).toBe(s[5 * N + 1]);
      });
    }

    for (const [N, M] of SHAPES) {
      it(`slice and at, on inner and outer axes, also feeding a reduction, [${N}, ${M}]`, async () => {
        const p = program('v_slice', (b) => {
          const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('M') });
          b.output('Inner', x.slice('j', 3, 40));
          b.output('Aligned', x.slice('j', 4, 12)); // a vector-aligned window
          b.output('Outer', x.slice('i', 1, N - 1).slice('j', M - 1, M));
          b.output('Row', x.at('i', 2));
          b.output('Col', x.at('j', M - 1));
          b.output('Elem', x.at('i', N - 1).at('j', 0).add(x.at('i', 0).at('j', 0)));
          b.output('Window', x.slice('j', M - 29, M).sum('j'));
          // shifted difference: x[i, j+1] - x[i, j]
          b.output('Diff', x.slice('j', 1, M).sub(x.slice('j', 0, M - 1)));
        });
        await expectMatch(p, { N, M }, { X: randomHost('f32', [N, M], 161) }, { tol: { atol: 1e-5 } });
      });
    }

    for (const [N, M] of SHAPES) {
      it(`split and merge (reshape views), incl. a split merged back in the other order, [${N}, ${M}]`, async () => {
        const p = program('v_reshape', (b) => {
          const x = b.input('X', 'f32', { i: b.size('N'), j: b.size('M') });
          const s = x.split('j', { jo: M % 3 === 0 ? 3 : 4, ji: -1 });
          b.output('Split', s);
          b.output('SplitT', s, ['ji', 'i', 'jo']);
          b.output('Merged', x.merge(['i', 'j'], 'ij'));
          b.output('MergedT', x.merge(['j', 'i'], 'ji'));
          b.output('Shuffle', s.merge(['ji', 'jo'], 'j2'));
          b.output('BlockSum', s.sum('ji'));
        });
        await expectMatch(p, { N, M }, { X: randomHost('f32', [N, M], 171) }, { tol: { atol: 1e-5 } });
      });
    }

    it('a three-way split with a reduction over the middle part, then a merge of the rest', async () => {
      const p = program('v_split3', (b) => {
        const D = b.size('D');
        const x = b.input('X', 'f32', { d: D });
        const s = x.split('d', { a: 7, b: 11, c: -1 });
        b.output('Y', s.max('b').merge(['a', 'c'], 'ac'));
      });
      await expectMatch(p, { D: 7 * 11 * 13 }, { X: randomHost('f32', [1001], 181) });
    });
  });

  // -----------------------------------------------------------------------------------------------
  // Size-1 axes and awkward sizes

  describe('size-1 axes and sizes that are not multiples of 8, 32 or 256', () => {
    it('size-1 axes everywhere: broadcasting, reducing and contracting over them', async () => {
      const p = program('ones', (b) => {
        const [A, N, C] = b.sizes('A', 'N', 'C');
        const x = b.input('X', 'f32', { a: A, n: N, c: C });
        const y = b.input('Y', 'f32', { n: N });
        b.output('Sum1', x.sum('a', 'c'));
        b.output('Bc', x.add(y));
        b.output('Dot', dot(x, x.rename({ n: 'm' }), 'a', 'c'));
        b.output('T', x, ['c', 'n', 'a']);
      });
      await expectMatch(p, { A: 1, N: 37, C: 1 }, { X: randomHost('f32', [1, 37, 1], 191), Y: randomHost('f32', [37], 192) });
    });

    for (const n of SIZES_1D) {
      it(`an elementwise chain and a full reduction over [${n}]`, async () => {
        const p = program('sizes', (b) => {
          const x = b.input('X', 'f32', { i: b.size('N') });
          const y = x.mul(x).add(x.abs().sqrt()).sub(x.exp().recip());
          b.output('Y', y);
          b.output('S', y.sum('i'));
          b.output('M', y.max('i'));
        });
        await expectMatch(p, { N: n }, { X: randomHost('f32', [n], 200 + n, [-2, 2]) }, { tol: { atol: 1e-4 } });
      });
    }
  });
});
