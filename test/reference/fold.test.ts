import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/index.js';
import { attention } from '../../examples/attention.js';
import { linearRecurrence } from '../../examples/linear-recurrence.js';
import { onlineSoftmax } from '../../examples/online-softmax.js';
import { program } from '../../src/dsl/program.js';
import { type DType } from '../../src/ir/dtype.js';
import { foldOfReduce, foldOutput } from '../../src/ir/fold.js';
import { type HostTensor, randomHost, toValues } from '../../src/ir/host.js';
import { evalInt } from '../../src/ir/intexpr.js';
import { type Program, type ReduceFn, type Stmt } from '../../src/ir/tensor.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import { checkFoldMerges } from '../helpers/fold-split.js';
import { firstMismatch, naiveEvaluate } from '../helpers/naive.js';

function inputsFor(p: Program, sizes: Readonly<Record<string, number>>, seed = 1): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  p.inputs.forEach((t, k) => {
    const shape = t.axes.map((a) => evalInt(a.size, sizes));
    out[t.name] = randomHost(t.dtype, shape, seed + 17 * k);
  });
  return out;
}
const logical = (h: Readonly<Record<string, HostTensor>>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, toValues(v)]));

describe('online softmax as one fold', () => {
  const sizes = { B: 2, H: 2, N: 5, M: 7, D: 4 };
  const p = onlineSoftmax.build('f32');
  const inputs = inputsFor(p, sizes);

  it('matches the unfused softmax·V of the attention example', () => {
    const fused = evaluate(p, sizes, inputs).values.O!;
    const plain = evaluate(attention.build('f32'), sizes, inputs).values.O!;
    expect(firstMismatch(fused, plain, 1e-5, 1e-6)).toBe(-1);
  });

  it('gives the log-sum-exp of the scaled scores, and agrees with the naive interpreter', () => {
    const ref = evaluate(p, sizes, inputs).values;
    const naive = naiveEvaluate(p, sizes, logical(inputs));
    expect(firstMismatch(ref.O!, naive.O!, 1e-12, 1e-12)).toBe(-1);
    expect(firstMismatch(ref.lse!, naive.lse!, 1e-12, 1e-12)).toBe(-1);
    const [q, k] = [toValues(inputs.Q!), toValues(inputs.K!)];
    const { B, H, N, M, D } = sizes;
    let at = 0;
    for (let bh = 0; bh < B * H; bh++) {
      for (let i = 0; i < N; i++) {
        let s = 0;
        for (let j = 0; j < M; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(bh * N + i) * D + d]! * k[(bh * M + j) * D + d]!;
          s += Math.exp(dot / Math.sqrt(D));
        }
        expect(ref.lse![at++]).toBeCloseTo(Math.log(s), 5);
      }
    }
  });

  it('runs at B=1, H=8, N=M=512, D=64 in seconds, matching the unfused reference', () => {
    const big = { B: 1, H: 8, N: 512, M: 512, D: 64 };
    const data = inputsFor(p, big, 5);
    const t0 = performance.now();
    const fused = evaluate(p, big, data).values.O!;
    const took = performance.now() - t0;
    expect(took).toBeLessThan(15_000);
    const plain = evaluate(attention.build('f32'), big, data).values.O!;
    expect(firstMismatch(fused, plain, 1e-4, 1e-6)).toBe(-1);
  }, 60_000);
});

describe('the linear recurrence scan', () => {
  const sizes = { H: 2, T: 9, D: 3, E: 4 };
  const p = linearRecurrence.build('f32');
  const inputs = inputsFor(p, sizes, 3);

  it('matches a step-by-step float64 loop', () => {
    const got = evaluate(p, sizes, inputs).values.o!;
    const [q, k, v, a] = ['q', 'k', 'v', 'a'].map((n) => toValues(inputs[n]!));
    const { H, T, D, E } = sizes;
    const want: number[] = [];
    for (let h = 0; h < H; h++) {
      const S = new Float64Array(D * E);
      for (let t = 0; t < T; t++) {
        const row = (x: Float64Array, d: number) => x[(h * T + t) * D + d]!;
        for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) S[d * E + e] = row(a!, d) * S[d * E + e]! + row(k!, d) * v![(h * T + t) * E + e]!;
        for (let e = 0; e < E; e++) {
          let o = 0;
          for (let d = 0; d < D; d++) o += row(q!, d) * S[d * E + e]!;
          want.push(Math.fround(o));
        }
      }
    }
    expect(got.length).toBe(want.length);
    expect(firstMismatch(got, want, 1e-6, 1e-7)).toBe(-1);
    expect(firstMismatch(got, naiveEvaluate(p, sizes, logical(inputs)).o!, 1e-12, 1e-12)).toBe(-1);
  });
});

describe('a reduction and its fold', () => {
  const cases: [ReduceFn, DType][] = [
    ['sum', 'f32'],
    ['max', 'f32'],
    ['min', 'f32'],
    ['sum', 'i32'],
    ['max', 'i32'],
  ];
  for (const [fn, dtype] of cases) {
    it(`${fn} over ${dtype} gives the same values both ways, and its merge passes the split check`, () => {
      const plain = program('r', (p) => {
        const [N, D] = p.sizes('N', 'D');
        const x = p.input('X', dtype as 'f32', { i: N, j: D });
        p.output('Y', fn === 'sum' ? x.mul(x).sum('j') : x[fn]('j'));
      });
      const s = plain.stmts[0]!;
      const folded: Stmt = { target: s.target, expr: foldOutput(foldOfReduce(s.expr, s.target.axes), 0) };
      const asFold: Program = { ...plain, stmts: [folded] };
      const sizes = { N: 4, D: 11 };
      const inputs = inputsFor(plain, sizes, 7);
      const a = evaluate(plain, sizes, inputs).values.Y!;
      const b = evaluate(asFold, sizes, inputs).values.Y!;
      expect(Array.from(b)).toEqual(Array.from(a));
      const { failures, checks } = checkFoldMerges(asFold, sizes, logical(inputs));
      expect(failures).toEqual([]);
      expect(checks).toBeGreaterThan(8);
    });
  }
});

describe('merges pass the split-merge check', () => {
  const sizes: Record<string, Readonly<Record<string, number>>> = {
    'online-softmax': { B: 1, H: 2, N: 3, M: 6, D: 3 },
    'linear-recurrence': { H: 2, T: 6, D: 2, E: 3 },
  };
  for (const ex of EXAMPLES.filter((e) => e.name in sizes)) {
    it(`${ex.name}`, () => {
      const p = ex.build('f32');
      const { failures, checks } = checkFoldMerges(p, sizes[ex.name]!, logical(inputsFor(p, sizes[ex.name]!, 11)), { splits: 4 });
      expect(failures).toEqual([]);
      expect(checks).toBeGreaterThan(20);
    });
  }

  it('catches a wrong merge: the recurrence composed without scaling the earlier run by the later decays', () => {
    const good = linearRecurrence.build('f32');
    const wrong = program('linear_recurrence', (p) => {
      const [H, T, D, E] = p.sizes('H', 'T', 'D', 'E');
      const q = p.input('q', 'f32', { h: H, t: T, d: D });
      const k = p.input('k', 'f32', { h: H, t: T, d: D });
      const v = p.input('v', 'f32', { h: H, t: T, e: E });
      const a = p.input('a', 'f32', { h: H, t: T, d: D });
      const { o } = p.scan({
        over: { t: T },
        state: { P: { dtype: 'f32', axes: { d: D }, init: 1 }, S: { dtype: 'f32', axes: { d: D, e: E }, init: 0 } },
        step: (s) => ({ P: a.mul(s.P), S: a.mul(s.S).add(k.mul(v)) }),
        merge: (x, y) => ({ P: x.P.mul(y.P), S: x.P.mul(y.S).add(x.S) }), // should be y.P * x.S + y.S
        outputs: (s) => ({ o: q.mul(s.S).sum('d') }),
      });
      p.output('o', o);
    });
    const sz = { H: 1, T: 5, D: 2, E: 2 };
    const inputs = logical(inputsFor(good, sz, 2));
    // the straight scan is the same: only the merge differs
    expect(firstMismatch(naiveEvaluate(wrong, sz, inputs).o!, naiveEvaluate(good, sz, inputs).o!, 1e-12)).toBe(-1);
    const { failures } = checkFoldMerges(wrong, sz, inputs);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatch(/^o at outer \(0\), steps \[0, \d+\) \+ \[\d+, \d+\)/);
  });
});

describe('reductions inside a fold', () => {
  it('stay in the fold when reductions are hoisted, and are evaluated per step', () => {
    const p = program('rowsum', (b) => {
      const [N, M, D] = b.sizes('N', 'M', 'D');
      const x = b.input('X', 'f32', { i: N, j: M, d: D });
      const { s } = b.fold({
        over: { j: M },
        state: { acc: { dtype: 'f32', init: 0 } },
        step: (st, local) => ({ acc: st.acc.add(local('r', x.mul(x).sum('d').sqrt())) }),
        merge: (u, v) => ({ acc: u.acc.add(v.acc) }),
        outputs: (st) => ({ s: st.acc }),
      });
      b.output('s', s);
      b.output('Z', s.sub(s.max('i')));
    });
    const hoisted = hoistReductions(p);
    // the fold is untouched; the reduction of the elementwise statement gets its own statement
    expect(hoisted.stmts[0]!.expr).toBe(p.stmts[0]!.expr);
    expect(hoisted.stmts.map((s) => s.target.name)).toEqual(['s', 'Z_max', 'Z']);
    const sizes = { N: 3, M: 4, D: 5 };
    const inputs = inputsFor(p, sizes, 4);
    const got = evaluate(p, sizes, inputs).values.s!;
    const x = toValues(inputs.X!);
    for (let i = 0; i < 3; i++) {
      let want = 0;
      for (let j = 0; j < 4; j++) {
        let r = 0;
        for (let d = 0; d < 5; d++) r += x[(i * 4 + j) * 5 + d]! ** 2;
        want += Math.sqrt(Math.fround(r));
      }
      expect(got[i]).toBe(Math.fround(want));
    }
  });
});
