import { describe, expect, it } from 'vitest';
import { attention } from '../../examples/attention.js';
import { dot, logSoftmax, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { parseProgram } from '../../src/dsl/text/parse.js';
import { type Sizes, bindProgram, shapeOf } from '../../src/ir/bind.js';
import { type HostTensor, fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { printExpr, printProgram } from '../../src/ir/print.js';
import { deserializeProgram, serializeProgram } from '../../src/ir/serialize.js';
import { type Program } from '../../src/ir/tensor.js';
import { hoistReductions } from '../../src/passes/hoist-reductions.js';
import { onlineSoftmax } from '../../src/passes/online-softmax.js';
import { type Plan, lower } from '../../src/passes/pipeline.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { checkOnDevice, mismatch, onEachDevice } from '../helpers/device.js';
import { checkFoldMerges } from '../helpers/fold-split.js';
import { firstMismatch } from '../helpers/naive.js';

/**
 * The online-softmax rewrite (src/passes/online-softmax.ts): which programs it streams as one fold
 * and which it leaves alone (with the reason it gives), checked on the IR, against the reference
 * evaluation of the program as written, and on the device.
 */

/**
 * Sizes that are no multiple of any tile or vector width, N and M distinct primes (a tensor over
 * both is N·M). D is kept small: compiling the fold on the software GPU takes time in proportion
 * to the accumulator row it keeps per lane.
 */
const SIZES = { B: 2, H: 3, N: 37, M: 53, D: 11 } as const;
/** Small sizes for the CPU checks (the reference and the naive fold interpreter). */
const SMALL = { B: 2, H: 2, N: 5, M: 7, D: 3 } as const;
/** The window of the sliding-window mask: keys i - W < j <= i. */
const W = 9;

type Dt = 'f32' | 'f16';

/** Q, K, V over b, h, i / j, d / e in the builder of a program. */
function qkv(p: Parameters<Parameters<typeof program>[1]>[0], dt: Dt = 'f32') {
  const [B, H, N, M, D] = p.sizes('B', 'H', 'N', 'M', 'D');
  const q = p.input('Q', dt, { b: B, h: H, i: N, d: D });
  const k = p.input('K', dt, { b: B, h: H, j: M, d: D });
  const v = p.input('V', dt, { b: B, h: H, j: M, e: D });
  return { B, H, N, M, D, q, k, v };
}

const scaled = program('scaled', (p) => {
  const { q, k, v } = qkv(p);
  p.output('O', dot(softmax(dot(q, k, 'd').mul(0.125), 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
});

/** An additive bias over heads, queries and keys (ALiBi, relative positions) on the scaled scores. */
const biased = program('biased', (p) => {
  const { H, N, M, q, k, v } = qkv(p);
  const bias = p.input('A', 'f32', { h: H, i: N, j: M });
  p.output('O', dot(softmax(dot(q, k, 'd').mul(0.125).add(bias), 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
});

/** Causal: query i sees keys j <= i, the mask from index comparisons (p.index). */
const causal = program('causal', (p) => {
  const { N, M, D, q, k, v } = qkv(p);
  const s = dot(q, k, 'd').mul(p.value(D, 'f32').rsqrt());
  const masked = p.index('j', M).le(p.index('i', N)).where(s, -Infinity);
  p.output('O', dot(softmax(masked, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
});

/** Sliding window: query i sees keys i - W < j <= i. */
const window = program('window', (p) => {
  const { N, M, q, k, v } = qkv(p);
  const back = p.index('i', N).sub(p.index('j', M)); // how far key j lies behind query i
  const masked = back.ge(0).where(back.lt(W).where(dot(q, k, 'd'), -Infinity), -Infinity);
  p.output('O', dot(softmax(masked, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
});

/** Ragged batch: sequence b has L[b] valid keys (a padded KV cache). */
const ragged = program('ragged', (p) => {
  const { B, M, D, q, k, v } = qkv(p);
  const len = p.input('L', 'i32', { b: B });
  const masked = p.index('j', M).lt(len).where(dot(q, k, 'd').mul(p.value(D, 'f32').rsqrt()), -Infinity);
  p.output('O', dot(softmax(masked, 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
});

const HEADER = `
  input Q: f32[b: B, h: H, i: N, d: D]
  input K: f32[b: B, h: H, j: M, d: D]
  input V: f32[b: B, h: H, j: M, e: D]`;

const text = (name: string, body: string, sizes = 'B, H, N, M, D') => parseProgram(`program ${name}(${sizes}) {${HEADER}\n${body}\n}`);

/** The text language: the probabilities named with `let`, read by the contraction alone. */
const textLet = text(
  'text_let',
  `  s = dot[d](Q, K) * rsqrt(f32(D))
  let P = softmax[j](s)
  output O[b, h, i, e] = dot[j](P, V)`,
);
const textCausal = text(
  'text_causal',
  `  s = where(index(j, M) <= index(i, N), dot[d](Q, K) * rsqrt(f32(D)), -inf)
  let P = softmax[j](s)
  output O[b, h, i, e] = dot[j](P, V)`,
);
const textWindow = text(
  'text_window',
  `  back = index(i, N) - index(j, M)
  s = where(back >= 0, where(back < ${W}, dot[d](Q, K), -inf), -inf)
  output O[b, h, i, e] = dot[j](softmax[j](s), V)`,
);
const textRagged = text(
  'text_ragged',
  `  input L: i32[b: B]
  s = where(index(j, M) < L, dot[d](Q, K) * rsqrt(f32(D)), -inf)
  output O[b, h, i, e] = dot[j](softmax[j](s), V)`,
);
/** A scale given at run time: a scalar input. */
const textScale = text(
  'text_scale',
  `  input c: f32
  let S = dot[d](Q, K) * c
  output O[b, h, i, e] = dot[j](softmax[j](S), V)`,
);

interface Accepted {
  readonly name: string;
  readonly program: Program;
  /** Inputs other than the random ones (lengths, a scale). */
  readonly inputs?: (sizes: Sizes) => Record<string, HostTensor>;
  /** Whether the device tests run it too (each distinct kernel costs seconds to compile on the software GPU). */
  readonly device?: false;
}

/** Lengths 0 < L[b] <= M: the last sequence fills the cache, the others stop short of it. */
const lengths = (sizes: Sizes) =>
  fromValues('i32', [sizes.B!], Array.from({ length: sizes.B! }, (_, b) => (b === sizes.B! - 1 ? sizes.M! : Math.ceil((sizes.M! * (b + 1)) / (sizes.B! + 1)))));

const ACCEPTED: readonly Accepted[] = [
  { name: 'the attention example (DSL)', program: attention.build('f32') },
  { name: 'the attention example in f16', program: attention.build('f16') },
  // on the device, the example's rsqrt(D) and the scalar input below cover the scale
  { name: 'a constant scale', program: scaled, device: false },
  { name: 'an additive bias input', program: biased },
  { name: 'a causal mask from p.index comparisons', program: causal },
  { name: 'a sliding-window mask', program: window },
  { name: 'per-sequence valid lengths L[b]', program: ragged, inputs: (s) => ({ L: lengths(s) }) },
  { name: 'text: let P = softmax[j](s), dot[j](P, V)', program: textLet },
  { name: 'text: a causal mask where(index(j, M) <= index(i, N), s, -inf)', program: textCausal },
  { name: 'text: a sliding-window mask', program: textWindow },
  { name: 'text: valid lengths L[b]', program: textRagged, inputs: (s) => ({ L: lengths(s) }) },
  { name: 'text: let S = scores scaled by a scalar input', program: textScale, inputs: () => ({ c: fromValues('f32', [], [0.3]) }) },
];

/** Random inputs for `p` at `sizes` (seeded), with `given` replacing some. */
function inputsFor(p: Program, sizes: Sizes, given: Record<string, HostTensor> = {}, seed = 1): Record<string, HostTensor> {
  const bound = bindProgram(p, sizes);
  return Object.fromEntries(bound.inputs.map((t, k) => [t.name, given[t.name] ?? randomHost(t.dtype, shapeOf(t), seed + 31 * k)]));
}

const logical = (h: Readonly<Record<string, HostTensor>>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, toValues(v)]));

/** The plan's temporaries over both queries and keys: what the rewrite exists to avoid. */
const scoreSized = (plan: Plan, sizes: Sizes = SIZES) =>
  plan.tensors.filter((t) => t.role === 'temp' && t.shape.includes(sizes.N!) && t.shape.includes(sizes.M!)).map((t) => `${t.name}[${t.shape.join(', ')}]`);

const sizesOf = (p: Program): Sizes => Object.fromEntries(p.sizes.map((s) => [s, (SIZES as Sizes)[s]!]));

describe('online softmax: the patterns it streams', () => {
  for (const c of ACCEPTED) {
    it(`${c.name}: one fold, no N×M tensor in the plan`, () => {
      const r = onlineSoftmax(c.program);
      expect(r.declined).toEqual([]);
      expect(r.rewritten).toEqual(['O']);
      // the program is now the fold alone: the probabilities, maxes and normalizers are gone
      expect(r.program.stmts.map((s) => [s.target.name, s.expr.op])).toEqual([['O', 'fold']]);
      const fold = r.program.stmts[0]!.expr;
      if (fold.op !== 'fold') throw new Error('unreachable');
      expect(fold.def.over.length).toBe(1);
      expect(fold.def.state.map((f) => `${f.name}[${f.axes.map((a) => a.name).join(',')}]`)).toEqual(['m[]', 'l[]', 'acc[e]']);
      expect(fold.def.outer.map((a) => a.name)).toEqual(['b', 'h', 'i']);

      const plan = lower(c.program, sizesOf(c.program));
      expect(plan.trace.find((t) => t.pass === 'online-softmax')).toEqual({ pass: 'online-softmax', note: 'streamed O' });
      expect(scoreSized(plan)).toEqual([]);
      expect(plan.kernels.length).toBe(1);
      // without the rewrite the scores are stored: the check above would have seen them
      const off = lower(c.program, sizesOf(c.program), { rewrites: { onlineSoftmax: false } });
      expect(off.trace.map((t) => t.pass)).not.toContain('online-softmax');
      expect(scoreSized(off)).not.toEqual([]);
    });
  }

  it('a mask on indices or lengths marks the keys it rules out as steps to skip; no mask, no mark', () => {
    const activeWhen = (p: Program) => {
      const e = onlineSoftmax(p).program.stmts[0]!.expr;
      if (e.op !== 'fold') throw new Error('unreachable');
      return e.def.activeWhen ? printExpr(e.def.activeWhen) : undefined;
    };
    expect(activeWhen(causal)).toMatch(/<=/);
    // the window's two comparisons, both
    expect(activeWhen(window)?.match(/<|>/g)?.length).toBeGreaterThanOrEqual(2);
    expect(activeWhen(textCausal)).toMatch(/<=/);
    // per-sequence lengths: no work on a padded cache's keys
    expect(activeWhen(ragged)).toMatch(/L\[b\]/);
    expect(activeWhen(attention.build('f32'))).toBeUndefined();
  });

  for (const c of ACCEPTED) {
    it(`${c.name}: the fold gives the reference's softmax·V, and its merge passes the split check`, () => {
      const inputs = inputsFor(c.program, SMALL, c.inputs?.(SMALL));
      const r = onlineSoftmax(c.program);
      const want = evaluate(c.program, SMALL, inputs).outputs.O!;
      const got = evaluate(r.program, SMALL, inputs).outputs.O!;
      const tol = want.dtype === 'f16' ? 2e-3 : 1e-6;
      expect(mismatch(got, want, { rtol: tol, atol: tol })).toBeUndefined();
      const { failures, checks } = checkFoldMerges(r.program, SMALL, logical(inputs), { splits: 4, maxOuter: 6 });
      expect(failures).toEqual([]);
      expect(checks).toBeGreaterThan(20);
    });
  }

  it('the option rewrites.onlineSoftmax: false leaves the program as written', () => {
    const off = lower(attention.build('f32'), SIZES, { rewrites: { onlineSoftmax: false } });
    expect(off.groups.map((g) => g.kind)).toEqual(['contraction', 'rows', 'contraction']);
  });
});

/** A statement the pass declines: the program, the statement and what its reason must say. */
interface Declined {
  readonly name: string;
  readonly program: Program;
  readonly declined: readonly { readonly stmt: string; readonly reason: RegExp }[];
}

const DECLINED: readonly Declined[] = [
  {
    name: 'a softmax over i summed over j',
    program: program('over_i', (p) => {
      const { q, k, v } = qkv(p);
      p.output('O', dot(softmax(dot(q, k, 'd'), 'i'), v, 'j'), ['b', 'h', 'i', 'e']);
    }),
    declined: [{ stmt: 'O', reason: /other than the max over/ }],
  },
  {
    name: 'the probabilities an output',
    program: program('probs_out', (p) => {
      const { q, k, v } = qkv(p);
      const probs = p.output('P', softmax(dot(q, k, 'd'), 'j'));
      p.output('O', dot(probs, v, 'j'), ['b', 'h', 'i', 'e']);
    }),
    declined: [{ stmt: 'O', reason: /probabilities P are an output/ }],
  },
  {
    name: 'the probabilities a let read by two statements',
    program: program('probs_shared', (p) => {
      const { q, k, v } = qkv(p);
      const probs = p.let('P', softmax(dot(q, k, 'd'), 'j'));
      p.output('O', dot(probs, v, 'j'), ['b', 'h', 'i', 'e']);
      p.output('O2', dot(probs, v.mul(v), 'j'), ['b', 'h', 'i', 'e']);
    }),
    declined: [
      { stmt: 'O', reason: /probabilities P are also read by O, O2/ },
      { stmt: 'O2', reason: /probabilities P are also read by O, O2/ },
    ],
  },
  {
    name: 'the row max an output that O reads',
    program: program('max_out', (p) => {
      const { q, k, v } = qkv(p);
      const s = dot(q, k, 'd');
      const mx = p.output('Mx', s.max('j'));
      const e = s.sub(mx).exp();
      p.output('O', dot(e.div(e.sum('j')), v, 'j'), ['b', 'h', 'i', 'e']);
    }),
    declined: [{ stmt: 'O', reason: /row max Mx is an output/ }],
  },
  {
    name: 'a normalizer over another expression',
    program: program('other_normalizer', (p) => {
      const { q, k, v } = qkv(p);
      const s = dot(q, k, 'd');
      const mx = s.max('j');
      p.output('O', dot(s.sub(mx).exp().div(s.mul(2).sub(mx).exp().sum('j')), v, 'j'), ['b', 'h', 'i', 'e']);
    }),
    declined: [{ stmt: 'O', reason: /no divisor is the sum over .* of the same exponential/ }],
  },
  {
    name: 'a sum over two axes',
    program: program('two_axes', (p) => {
      const { q, k, v } = qkv(p);
      p.output('O', softmax(dot(q, k, 'd'), 'j').mul(v).sum('j', 'e'));
    }),
    declined: [{ stmt: 'O', reason: /the sum runs over 2 axes/ }],
  },
  {
    name: 'a log-softmax (no candidate: nothing to decline)',
    program: program('log_softmax', (p) => {
      const { q, k, v } = qkv(p);
      p.output('O', dot(logSoftmax(dot(q, k, 'd'), 'j'), v, 'j'), ['b', 'h', 'i', 'e']);
    }),
    declined: [],
  },
];

describe('online softmax: the patterns it leaves alone', () => {
  for (const c of DECLINED) {
    it(`${c.name}`, () => {
      const r = onlineSoftmax(c.program);
      expect(r.rewritten).toEqual([]);
      expect(r.program).toBe(c.program);
      expect(r.declined.map((d) => d.stmt)).toEqual(c.declined.map((d) => d.stmt));
      r.declined.forEach((d, k) => expect(d.reason).toMatch(c.declined[k]!.reason));
      const plan = lower(c.program, sizesOf(c.program));
      const note = c.declined.length ? `nothing to stream; ${r.declined.map((d) => `declined ${d.stmt}: ${d.reason}`).join('; ')}` : 'nothing to stream';
      expect(plan.trace.find((t) => t.pass === 'online-softmax')).toEqual({ pass: 'online-softmax', note });
      // as written, so the scores are stored
      expect(scoreSized(plan)).not.toEqual([]);
    });
  }
});

describe('online softmax: the shape of the fold', () => {
  it('an output stored with its value axis first still streams, that axis among the outer ones', () => {
    const p = text('e_first', '  output O[e, b, h, i] = dot[j](softmax[j](dot[d](Q, K)), V)');
    const r = onlineSoftmax(p);
    expect(r.rewritten).toEqual(['O']);
    const fold = r.program.stmts[0]!.expr;
    if (fold.op !== 'fold') throw new Error('expected a fold');
    // the scores do not depend on e, but e comes first in O: each e runs its own fold over the keys
    expect(fold.def.outer.map((a) => a.name)).toEqual(['e', 'b', 'h', 'i']);
    expect(fold.def.state.map((f) => f.axes.length)).toEqual([0, 0, 0]);
    const inputs = inputsFor(p, SMALL);
    expect(firstMismatch(evaluate(r.program, SMALL, inputs).values.O!, evaluate(p, SMALL, inputs).values.O!, 1e-6, 1e-7)).toBe(-1);
  });

  it('a fully masked row gives 0 where the softmax as written gives NaN', () => {
    const sizes = { ...SMALL, B: 2 };
    const inputs = inputsFor(ragged, sizes, { L: fromValues('i32', [2], [0, 4]) });
    const want = toValues(evaluate(ragged, sizes, inputs).outputs.O!);
    const got = toValues(evaluate(onlineSoftmax(ragged).program, sizes, inputs).outputs.O!);
    const half = want.length / 2; // batch 0: no valid key
    expect(want.slice(0, half).every(Number.isNaN)).toBe(true);
    expect(Array.from(got.slice(0, half))).toEqual(new Array(half).fill(0));
    expect(firstMismatch(got.slice(half), want.slice(half), 1e-6, 1e-7)).toBe(-1);
  });
});

/** Lets, epilogues and folds around the contraction: what the rewrite follows and what it reads as a tensor. */
describe('online softmax: around the contraction', () => {
  // a let read only by lets the contraction follows (S read by P read by O) is followed too
  it('a chain of lets (scores S, probabilities P) streams without storing the scores', () => {
    const p = text(
      'let_chain',
      `  let S = dot[d](Q, K) * rsqrt(f32(D))
  let P = softmax[j](S)
  output O[b, h, i, e] = dot[j](P, V)`,
    );
    expect(onlineSoftmax(p).rewritten).toEqual(['O']);
    expect(scoreSized(lower(p, SIZES))).toEqual([]);
  });

  it('a softmax written out over two lets (E = exp(s - max s), P = E / sum E) streams', () => {
    const p = text(
      'exp_let',
      `  s = dot[d](Q, K)
  let E = exp(s - max[j](s))
  let P = E / sum[j](E)
  output O[b, h, i, e] = dot[j](P, V)`,
    );
    expect(onlineSoftmax(p).rewritten).toEqual(['O']);
    expect(scoreSized(lower(p, SIZES))).toEqual([]);
  });

  // lower() rewrites after hoisting, where the sum under an epilogue (a residual add, a cast) is a
  // statement of its own; onlineSoftmax on the program as written sees only whole statements
  for (const [what, out] of [
    ['a residual add', 'dot[j](softmax[j](s), V) + X'],
    ['a cast of the result', 'f16(dot[j](softmax[j](s), V))'],
  ] as const) {
    it(`a softmax contraction under ${what} (an epilogue) streams`, () => {
      const p = text('epilogue', `  input X: f32[b: B, h: H, i: N, e: D]\n  s = dot[d](Q, K)\n  output O[b, h, i, e] = ${out}`);
      expect(onlineSoftmax(p).rewritten).toEqual([]);
      const plan = lower(p, SIZES);
      expect(plan.trace.find((t) => t.pass === 'online-softmax')?.note).toMatch(/^streamed O_sum\d*$/);
      expect(scoreSized(plan)).toEqual([]);
    });
  }
  it('a chain of lets each reading the last twice is followed within a bound on the work', () => {
    let body = '  let L0 = dot[d](Q, K)\n';
    for (let k = 1; k < 40; k++) body += `  let L${k} = L${k - 1} * L${k - 1} + L${k - 1}\n`;
    const p = text('doubling', `${body}  output O[b, h, i, e] = dot[j](softmax[j](L39), V)`);
    const started = Date.now();
    const r = onlineSoftmax(hoistReductions(p));
    // 2^40 nodes written out; the substitution stops at its budget and the statement is declined
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.rewritten).toEqual([]);
  });

  it('(the same contraction named by a let, the epilogue after it, streams)', () => {
    const p = text('epilogue_let', `  input X: f32[b: B, h: H, i: N, e: D]\n  let A[b, h, i, e] = dot[j](softmax[j](dot[d](Q, K)), V)\n  output O = A + X`);
    expect(onlineSoftmax(p).rewritten).toEqual(['A']);
    expect(scoreSized(lower(p, SIZES))).toEqual([]);
  });

  // a let computed by a fold is substituted into the new fold's step like any other let, but a
  // fold may only be the whole right-hand side of a statement
  const foldValue = parseProgram(`program fold_value(N, M, D, T) {
  input Q: f32[i: N, d: D]
  input K: f32[j: M, d: D]
  input X: f32[j: M, e: D, t: T]
  fold over t: T {
    state acc: f32 = 0
    step { acc <- acc + X }
    merge { acc <- acc + acc' }
    let Vs = acc
  }
  output O[i, e] = dot[j](softmax[j](dot[d](Q, K)), Vs)
}`);
  it('(a value computed by a fold lowers with the rewrite off)', () => {
    expect(lower(foldValue, { N: 3, M: 5, D: 4, T: 2 }, { rewrites: { onlineSoftmax: false } }).kernels.length).toBeGreaterThan(0);
  });
  it('a value computed by a fold (a let only the contraction reads) still lowers with the rewrite on', () => {
    // a fold is never substituted into an expression: the contraction reads it as a tensor
    expect(() => lower(foldValue, { N: 3, M: 5, D: 4, T: 2 })).not.toThrow();
  });

  // a followed let is substituted without renaming its bound variables, so it is followed only
  // where they differ from the contraction's (a .json program may name its summed axis alike)
  it('a let substituted into the contraction does not capture its summed axis', () => {
    const written = parseProgram(`program capture(N, M, D) {
  input Q: f32[i: N, d: D]
  input K: f32[j: M, d: D]
  input X: f32[j: M, e: D, t: M]
  let Vs = sum[t](X)
  output O[i, e] = dot[j](softmax[j](dot[d](Q, K)), Vs)
}`);
    // the contraction sums over j'3; Vs sums over t'. Name the contraction's axis t' as well
    expect(printProgram(written)).toMatch(/Vs\[j: M, e: D\]: f32 = sum\[t': M\]\(X\[j, e, t'\]\)/);
    const p = deserializeProgram(serializeProgram(written).replaceAll(`"j'3"`, `"t'"`));
    const sizes = { N: 3, M: 5, D: 4 };
    expect(lower(p, sizes, { rewrites: { onlineSoftmax: false } }).kernels.length).toBeGreaterThan(0);
    // Vs stays a tensor of its own, read by the fold's steps (substituted, it would capture t')
    expect(lower(p, sizes).trace.find((t) => t.pass === 'online-softmax')).toEqual({ pass: 'online-softmax', note: 'streamed O' });
  });

  it('scores computed by a fold are not declined as "not depending on the summed axis"', () => {
    const p = text(
      'fold_scores',
      `  fold over d: D {
    state acc: f32 = 0
    step { acc <- acc + Q * K }
    merge { acc <- acc + acc' }
    let S = acc
  }
  output O[b, h, i, e] = dot[j](softmax[j](S), V)`,
    );
    // S, computed by a fold, is read as a tensor: the scores depend on the summed axis
    const r = onlineSoftmax(p);
    for (const d of r.declined) expect(d.reason).not.toMatch(/does not depend on the summed axis/);
  });
});

/** Time for one device test: a start-up share (compiling on the software GPU) plus one for the work. */
const DEVICE_BASE_MS = 30_000;
const DEVICE_PER_MFLOP_MS = 2_000;
const deviceTimeout = (s: Sizes) => DEVICE_BASE_MS + (DEVICE_PER_MFLOP_MS * 4 * (s.B ?? 1) * (s.H ?? 1) * (s.N ?? 1) * (s.M ?? 1) * (s.D ?? 1)) / 1e6;

const STREAMED = { pass: 'online-softmax', note: 'streamed O' };

/** Every element finite: no overflow, no NaN. */
const finite = (t: HostTensor) => toValues(t).every(Number.isFinite);

onEachDevice(() => {
  describe('online softmax on the device, against the reference of the program as written', () => {
    for (const c of ACCEPTED.filter((x) => x.device !== false)) {
      const sizes = sizesOf(c.program);
      it(c.name, { timeout: deviceTimeout(sizes) }, async () => {
        const inputs = inputsFor(c.program, sizes, c.inputs?.(sizes), 5);
        const r = await checkOnDevice(c.program, sizes, inputs);
        expect(r.plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
        expect(r.failures).toEqual([]);
        expect(finite(r.outputs.O!)).toBe(true);
      });
    }

    // each lane's block of keys, and each workgroup's part, may be wholly masked: merges of -inf maxes
    it('keys dealt to a team of lanes and split across workgroups (merges of partly masked states)', { timeout: deviceTimeout(SIZES) }, async () => {
      const rows = { threadsPerRow: 4, workgroupSize: 64, splitSteps: 3 };
      const r = await checkOnDevice(causal, SIZES, inputsFor(causal, SIZES, {}, 9), { compile: { defaults: { rows } } });
      expect(r.plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
      expect(r.plan.kernels.length).toBe(2); // the parts, and the kernel merging them
      expect(r.failures).toEqual([]);
    });

    it('an epilogue after the streamed sum (a residual add), staged: one kernel, the reference', { timeout: deviceTimeout(SIZES) }, async () => {
      const p = text('epilogue', `  input X: f32[b: B, h: H, i: N, e: D]\n  s = dot[d](Q, K) * rsqrt(f32(D))\n  output O[b, h, i, e] = dot[j](softmax[j](s), V) + X`);
      const rows = { threadsPerRow: 1, workgroupSize: 16, stageSteps: 8 };
      const r = await checkOnDevice(p, SIZES, inputsFor(p, SIZES, {}, 5), { compile: { defaults: { rows } } });
      expect(r.plan.kernels.length).toBe(1);
      expect(r.failures).toEqual([]);
    });

    // scores near +-1e4: exp of an unshifted score overflows (or underflows to 0/0) in f32; the
    // scores are exact in f32 (integers times 1/8 plus integers), so the reference sees the same
    it('large logits: scores around 1e4 and -1e4 give finite, correct results', { timeout: deviceTimeout(SIZES) }, async () => {
      const { B, H, N, M, D } = SIZES;
      const ints = (shape: number[], lo: number, hi: number, seed: number) => {
        const r = randomHost('f32', shape, seed, [lo, hi + 1]);
        return fromValues('f32', shape, Array.from(toValues(r), Math.floor));
      };
      for (const offset of [1e4, -1e4]) {
        const bias = ints([H, N, M], offset - 50, offset + 50, 3);
        const inputs = { Q: ints([B, H, N, D], -20, 20, 1), K: ints([B, H, M, D], -20, 20, 2), V: randomHost('f32', [B, H, M, D], 4), A: bias };
        const r = await checkOnDevice(biased, SIZES, inputs);
        expect(r.plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
        expect(finite(r.outputs.O!)).toBe(true);
        expect(r.failures, `offset ${offset}`).toEqual([]);
      }
    });

    it('a fully masked row (a sequence of length 0) gives exactly 0, the rest matches the reference', { timeout: deviceTimeout(SIZES) }, async () => {
      const L = fromValues('i32', [SIZES.B], [0, 29]);
      for (const p of [ragged, textRagged]) {
        const inputs = inputsFor(p, SIZES, { L }, 13);
        const r = await checkOnDevice(p, SIZES, inputs);
        expect(r.plan.trace.find((t) => t.pass === 'online-softmax')).toEqual(STREAMED);
        const got = toValues(r.outputs.O!);
        const want = toValues(r.reference.O!);
        const half = got.length / 2; // batch 0, every head, query and value column
        // the reference evaluates the softmax as written: 0/0 there
        expect(want.slice(0, half).every(Number.isNaN)).toBe(true);
        expect(Array.from(got.slice(0, half)).every((x) => x === 0)).toBe(true);
        const shape = [1, SIZES.H, SIZES.N, SIZES.D];
        const bad = mismatch(fromValues('f32', shape, got.slice(half)), fromValues('f32', shape, want.slice(half)));
        expect(bad).toBeUndefined();
      }
    });
  });
});
