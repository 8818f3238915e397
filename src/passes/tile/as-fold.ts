import { foldOfReduce } from '../../ir/fold.js';
import { type Axis, type Expr, type FoldDef, type ReduceFn, cast, reduce } from '../../ir/tensor.js';
import { accumulatorType } from '../kernel-expr.js';

/**
 * The fold a kernel computes for a `reduce`: the reduction's own fold, accumulating f16 and bf16
 * in f32 and rounding once at the end (what every tilecraft kernel has always done).
 */
export function accumulatingFold(fn: ReduceFn, outer: readonly Axis[], over: readonly Axis[], body: Expr): FoldDef {
  const def = foldOfReduce(reduce(fn, over, cast(body, accumulatorType(body.dtype))), outer);
  return { ...def, outputs: def.outputs.map((o) => ({ ...o, expr: cast(o.expr, body.dtype) })) };
}

/** The reduction function of a fold that is one, for lowerings with a faster path for them. */
export function reduceFnOf(d: FoldDef): ReduceFn | undefined {
  if (d.state.length !== 1 || d.locals.length !== 0 || d.state[0]!.axes.length !== 0) return undefined;
  const m = d.merge[0]!;
  if (m.op !== 'binary' || m.a.op !== 'state' || m.b.op !== 'state' || m.a.of !== 'self' || m.b.of !== 'other') return undefined;
  return m.fn === 'add' ? 'sum' : m.fn === 'max' || m.fn === 'min' ? m.fn : undefined;
}
