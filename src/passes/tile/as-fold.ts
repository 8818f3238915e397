import { type ValueType } from '../../ir/dtype.js';
import { type Axis, type Expr, type FoldDef, type ReduceFn, binary, cast, constant } from '../../ir/tensor.js';
import { accumulatorType, identityOf } from '../kernel-expr.js';

const field = (dtype: ValueType, of: 'self' | 'other'): Expr => ({ op: 'state', dtype, field: 'acc', of, index: [] });
const combine = (fn: ReduceFn, a: Expr, b: Expr): Expr => binary(fn === 'sum' ? 'add' : fn, a, b);

/**
 * A `reduce` as the one-field fold it is: `acc = identity; acc = acc ⊕ body; merge: self ⊕ other;
 * output: acc`, accumulating f16 and bf16 in f32 and rounding once at the end.
 */
export function foldOfReduce(fn: ReduceFn, outer: readonly Axis[], over: readonly Axis[], body: Expr): FoldDef {
  const acc = accumulatorType(body.dtype);
  return {
    kind: 'fold',
    outer,
    over,
    state: [{ name: 'acc', dtype: acc, axes: [] }],
    init: [constant(identityOf(fn, acc), acc)],
    locals: [],
    update: [combine(fn, field(acc, 'self'), cast(body, acc))],
    merge: [combine(fn, field(acc, 'self'), field(acc, 'other'))],
    outputs: [{ axes: [], expr: cast(field(acc, 'self'), body.dtype) }],
  };
}

/** The reduction function of a fold that is one, for lowerings with a faster path for them. */
export function reduceFnOf(d: FoldDef): ReduceFn | undefined {
  if (d.state.length !== 1 || d.locals.length !== 0 || d.state[0]!.axes.length !== 0) return undefined;
  const m = d.merge[0]!;
  if (m.op !== 'binary' || m.a.op !== 'state' || m.b.op !== 'state' || m.a.of !== 'self' || m.b.of !== 'other') return undefined;
  return m.fn === 'add' ? 'sum' : m.fn === 'max' || m.fn === 'min' ? m.fn : undefined;
}
