import { type ValueType } from '../ir/dtype.js';
import { foldOutput, stateRead, localRead } from '../ir/fold.js';
import { type IntExpr, intVars, ivar } from '../ir/intexpr.js';
import {
  type Axis,
  type Expr,
  type FoldDef,
  type Program,
  type StateField,
  type Stmt,
  binary,
  cast,
  children,
  compare,
  countNodes,
  constant,
  freeVars,
  loadedTensors,
  select,
  substIndex,
  unary,
  visitExpr,
  withChildren,
} from '../ir/tensor.js';
import { alphaKey } from './hoist-reductions.js';

/**
 * The online-softmax rewrite: a sum over an axis `j` of a softmax over `j` times a value turns
 * into one stateful reduction over `j` that never forms the softmax (flash attention, derived):
 *
 *     O[i, e] = sum[j](exp(S(j) - max[j'] S(j')) / sum[j''] exp(S(j'') - max[j'] S(j')) * V(j, e))
 *  -> O[i, e] = fold over j outer i { state m = -inf, l = 0, acc[e] = 0
 *                 x = S(j); mNew = max(m, x); alpha = exp(m - mNew); w = exp(x - mNew)
 *                 m <- mNew; l <- l * alpha + w; acc <- acc * alpha + w * V(j, e)
 *                 merge: rescale both sides to the larger max and add }
 *               output acc / l
 *
 * `S(j)` is any expression of the step (scaled scores, an additive bias, a mask that sets
 * positions to -inf from index comparisons or per-sequence lengths); it must be the same, up to
 * the names of bound variables, in the numerator, the max and the normalizer. The value `V` is
 * what multiplies the softmax: any product of factors (divided by any factors) other than the
 * normalizer. Steps whose score is -inf add nothing; a row whose every score is -inf (a fully
 * masked row) gives 0, where the softmax written out gives NaN.
 *
 * The rewrite is exact up to rounding, so it declines anything that is not this pattern: a
 * softmax over another axis than the one summed, a different max or normalizer, a reduction over
 * several axes, the probabilities or the row max read from a tensor of their own (an output the
 * caller asked for), a log-softmax. Accumulation is in f32, whatever the inputs' dtype.
 */
export interface OnlineSoftmaxReport {
  readonly program: Program;
  /** Statements rewritten into a fold. */
  readonly rewritten: readonly string[];
  /** Statements that looked like a softmax contraction but were left alone, and why. */
  readonly declined: readonly { readonly stmt: string; readonly reason: string }[];
}

export function onlineSoftmax(p: Program): OnlineSoftmaxReport {
  const rewritten: string[] = [];
  const declined: { stmt: string; reason: string }[] = [];
  const byName = new Map(p.stmts.map((s) => [s.target.name, s]));
  const readers = new Map<string, Set<string>>();
  for (const s of p.stmts) for (const t of loadedTensors(s.expr)) readers.set(t, (readers.get(t) ?? new Set()).add(s.target.name));
  // an intermediate only this statement's own intermediates and itself read is part of its
  // expression: substituted, so `let P = softmax[j](S); output O = dot[j](P, V)` streams as the
  // one-line form does, and so do the statements hoisting gave the pieces of a softmax
  const followable = (t: string, reader: string, seen: ReadonlySet<string> = new Set()): boolean => {
    const producer = byName.get(t);
    // a fold is a statement's root, never part of an expression
    if (!producer || p.outputs.includes(t) || producer.expr.op === 'fold' || seen.has(t)) return false;
    const by = [...(readers.get(t) ?? [])];
    return by.length > 0 && by.every((r) => r === reader || followable(r, reader, new Set([...seen, t])));
  };
  // substituted as written, so where no variable it binds is one in scope at the load; at most
  // EXPAND_NODES nodes per statement (a chain of lets each reading the last twice doubles)
  let budget = 0;
  const expand = (e: Expr, reader: string, scope: ReadonlySet<string>): Expr => {
    if (e.op === 'reduce') return { ...e, body: expand(e.body, reader, new Set([...scope, ...e.axes.map((a) => a.name)])) };
    if (e.op === 'load' && followable(e.tensor, reader)) {
      const producer = byName.get(e.tensor)!;
      const used = new Set([...scope, ...e.index.flatMap((ix) => [...intVars(ix)])]);
      if (![...boundNames(producer.expr)].some((v) => used.has(v)) && (budget -= countNodes(producer.expr)) >= 0) {
        const map: Record<string, IntExpr> = {};
        producer.target.axes.forEach((a, k) => (map[a.name] = e.index[k]!));
        return expand(substIndex(producer.expr, map), reader, scope);
      }
    }
    return withChildren(e, children(e).map((c) => expand(c, reader, scope)));
  };
  const expanded = (s: Stmt): Stmt => {
    budget = EXPAND_NODES;
    return { target: s.target, expr: expand(s.expr, s.target.name, new Set(s.target.axes.map((a) => a.name))) };
  };
  const materialized = (t: string) => (p.outputs.includes(t) ? 'an output' : `also read by ${[...(readers.get(t) ?? [])].join(', ')}`);
  let stmts = p.stmts.map((s): Stmt => {
    if (s.expr.op !== 'reduce') return s;
    const m = matchSoftmaxContraction(expanded(s), (t) => {
      const producer = byName.get(t);
      return producer !== undefined && isSoftmax(expanded(producer));
    }, materialized);
    if (m === undefined) return s;
    if (typeof m === 'string') {
      // a piece of a softmax that its reader follows (the normalizer) is no candidate of its own
      const pieceOf = [...(readers.get(s.target.name) ?? [])].some((r) => followable(s.target.name, r));
      if (!pieceOf) declined.push({ stmt: s.target.name, reason: m });
      return s;
    }
    rewritten.push(s.target.name);
    return { target: s.target, expr: foldOutput(m, 0) };
  });
  if (!rewritten.length) return { program: p, rewritten, declined };
  // intermediates the rewritten statements no longer read
  for (let changed = true; changed; ) {
    const read = new Set(stmts.flatMap((s) => [...loadedTensors(s.expr)]));
    const kept = stmts.filter((s) => p.outputs.includes(s.target.name) || read.has(s.target.name));
    changed = kept.length !== stmts.length;
    stmts = kept;
  }
  return { program: { ...p, stmts }, rewritten, declined };
}

/** Most nodes the intermediates substituted into one statement may add (a bound on the work). */
const EXPAND_NODES = 20_000;

/** Names of the axes the reductions in `e` bind. */
function boundNames(e: Expr): Set<string> {
  const out = new Set<string>();
  visitExpr(e, (n) => {
    if (n.op === 'reduce') for (const a of n.axes) out.add(a.name);
  });
  return out;
}

interface Factors {
  readonly num: Expr[];
  readonly den: Expr[];
}

/** The factors of a product of quotients: `a * b / c` → num [a, b], den [c]. */
function factorsOf(e: Expr, into: Factors = { num: [], den: [] }, inverted = false): Factors {
  if (e.op === 'binary' && e.fn === 'mul') {
    factorsOf(e.a, into, inverted);
    factorsOf(e.b, into, inverted);
  } else if (e.op === 'binary' && e.fn === 'div') {
    factorsOf(e.a, into, inverted);
    factorsOf(e.b, into, !inverted);
  } else if (e.op === 'unary' && e.fn === 'recip') factorsOf(e.x, into, !inverted);
  else (inverted ? into.den : into.num).push(e);
  return into;
}

/** `exp(S - M)` as [S, M], else undefined. */
function expOfDifference(e: Expr): [Expr, Expr] | undefined {
  if (e.op !== 'unary' || e.fn !== 'exp' || e.x.op !== 'binary' || e.x.fn !== 'sub') return undefined;
  return [e.x.a, e.x.b];
}

/**
 * The fold a softmax contraction becomes; a reason where the statement has the softmax's
 * exponential in it but is not a softmax contraction the rewrite may change; undefined where it
 * is no candidate at all.
 */
function matchSoftmaxContraction(s: Stmt, softmaxTensor: (t: string) => boolean, materialized: (t: string) => string): FoldDef | string | undefined {
  const r = s.expr;
  if (r.op !== 'reduce' || r.fn !== 'sum') return undefined;
  const { num, den } = factorsOf(r.body);
  const exps = num.map(expOfDifference);
  const at = exps.findIndex((x) => x !== undefined);
  if (at < 0) {
    const read = num.find((f) => f.op === 'load' && softmaxTensor(f.tensor));
    if (read?.op === 'load') {
      return `the probabilities ${read.tensor} are ${materialized(read.tensor)}, so they are stored anyway`;
    }
    return undefined;
  }
  if (r.axes.length !== 1) return `the sum runs over ${r.axes.length} axes (${r.axes.map((a) => a.name).join(', ')}); the rewrite folds over one`;
  const j = r.axes[0]!;
  const [score, rowMax] = exps[at]!;
  if (!freeVars(score).has(j.name)) return `the exponential does not depend on the summed axis ${j.name}`;
  const scope = [...s.target.axes];
  const same = (other: Expr, otherAxis: Axis) => alphaKey(other, [...scope, otherAxis]) === alphaKey(score, [...scope, j]);
  // the row max: max over one axis of the same scores
  if (rowMax.op === 'load') return `the row max ${rowMax.tensor} is ${materialized(rowMax.tensor)}, so it is computed by a pass of its own`;
  if (rowMax.op !== 'reduce' || rowMax.fn !== 'max' || rowMax.axes.length !== 1 || !same(rowMax.body, rowMax.axes[0]!)) {
    return `the exponential subtracts something other than the max over ${j.name} of its own argument`;
  }
  // the normalizer: the sum over one axis of the same exponential
  const normalizer = den.findIndex((d) => {
    if (d.op !== 'reduce' || d.fn !== 'sum' || d.axes.length !== 1) return false;
    const e = expOfDifference(d.body);
    return e !== undefined && same(e[0], d.axes[0]!) && alphaKey(e[1], scope) === alphaKey(rowMax, scope);
  });
  if (normalizer < 0) return `no divisor is the sum over ${j.name} of the same exponential (not a softmax over the summed axis)`;
  const others = { num: num.filter((_, k) => k !== at), den: den.filter((_, k) => k !== normalizer) };
  for (const f of [...others.num, ...others.den]) {
    if (expOfDifference(f)) return `more than one exponential of a difference multiplies the softmax`;
  }
  // the output's own axes: the trailing axes the scores do not depend on (an accumulator row)
  const scoreVars = freeVars(score);
  let split = scope.length;
  while (split > 0 && !scoreVars.has(scope[split - 1]!.name)) split--;
  return onlineSoftmaxFold(scope.slice(0, split), scope.slice(split), j, score, others, s.target.dtype as ValueType);
}

/** Whether a statement computes exp(x - max x) / sum(...): a softmax of its own (for a decline's reason). */
function isSoftmax(s: Stmt): boolean {
  const { num, den } = factorsOf(s.expr);
  return num.some((f) => expOfDifference(f)?.[1].op === 'reduce') && den.some((d) => d.op === 'reduce' && d.fn === 'sum');
}

const F32: ValueType = 'f32';

/**
 * The fold: per point of `outer`, a running max m, a running sum l of exp(x - m) and a row acc
 * over `own` of exp(x - m) * value, rescaled by exp(m_old - m_new) whenever the max grows.
 */
function onlineSoftmaxFold(outer: readonly Axis[], own: readonly Axis[], j: Axis, score: Expr, value: Factors, dtype: ValueType): FoldDef {
  const m: StateField = { name: 'm', dtype: F32, axes: [] };
  const l: StateField = { name: 'l', dtype: F32, axes: [] };
  const acc: StateField = { name: 'acc', dtype: F32, axes: own };
  const ownIdx = own.map((a) => ivar(a.name));
  const [sm, sl, sacc] = [stateRead(m, []), stateRead(l, []), stateRead(acc, ownIdx)];
  const [om, ol, oacc] = [stateRead(m, [], 'other'), stateRead(l, [], 'other'), stateRead(acc, ownIdx, 'other')];
  const f32 = (e: Expr) => cast(e, F32);
  const c = (v: number) => constant(v, F32);
  const exp = (e: Expr) => unary('exp', e);
  const isNegInf = (e: Expr) => compare('eq', e, c(-Infinity));
  // exp(a - b) where a may be -inf (then 0, also when b is -inf, where exp would give NaN)
  const rescale = (a: Expr, b: Expr) => select(isNegInf(a), c(0), exp(binary('sub', a, b)));
  const x = localRead('x', F32);
  const mNew = localRead('mNew', F32);
  const alpha = localRead('alpha', F32);
  const w = localRead('w', F32);
  let v: Expr | undefined;
  for (const n of value.num) v = v ? binary('mul', v, f32(n)) : f32(n);
  for (const d of value.den) v = binary('div', v ?? c(1), f32(d));
  const mx = binary('max', sm, om);
  const ea = rescale(sm, mx);
  const eb = rescale(om, mx);
  return {
    kind: 'fold',
    outer,
    over: [j],
    state: [m, l, acc],
    init: [c(-Infinity), c(0), c(0)],
    locals: [
      { name: 'x', expr: f32(score) },
      { name: 'mNew', expr: binary('max', sm, x) },
      { name: 'alpha', expr: rescale(sm, mNew) },
      { name: 'w', expr: rescale(x, mNew) },
    ],
    update: [mNew, binary('add', binary('mul', sl, alpha), w), binary('add', binary('mul', sacc, alpha), v ? binary('mul', w, v) : w)],
    merge: [mx, binary('add', binary('mul', sl, ea), binary('mul', ol, eb)), binary('add', binary('mul', sacc, ea), binary('mul', oacc, eb))],
    outputs: [{ axes: own, expr: cast(select(compare('eq', sl, c(0)), c(0), binary('div', sacc, sl)), dtype) }],
    // a key the mask sets to -inf changes nothing (the max stays, its weight is 0): skippable
    ...activeWhere(score),
  };
}

/**
 * The mask of a score `where(c1, where(c2, s, -inf), -inf)`, as the condition under which a step
 * counts: `c1 && c2` on indices and loads (a causal or windowed mask, per-sequence lengths
 * `j < L[b]`: testing it costs a load of L where a masked step would have cost the whole score).
 */
function activeWhere(score: Expr): { activeWhen?: Expr } {
  const conds: Expr[] = [];
  let e = score;
  while (e.op === 'cast') e = e.x;
  while (e.op === 'select' && e.b.op === 'const' && e.b.value === -Infinity && readsNoState(e.cond)) {
    conds.push(e.cond);
    e = e.a;
  }
  return conds.length ? { activeWhen: conds.reduce((a, b) => select(a, b, constant(0, 'bool'))) } : {};
}

/** Whether an expression reads only indices, constants and tensors (no state, local or reduction). */
function readsNoState(e: Expr): boolean {
  let ok = true;
  visitExpr(e, (n) => {
    if (n.op === 'state' || n.op === 'local' || n.op === 'fold' || n.op === 'reduce') ok = false;
  });
  return ok;
}
