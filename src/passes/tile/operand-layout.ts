import { numel, shapeOf } from '../../ir/bind.js';
import { type IntExpr } from '../../ir/intexpr.js';
import { type Axis, type Expr, type TensorDecl, visitExpr } from '../../ir/tensor.js';

/**
 * Whether the reduction index runs fastest in memory for one side of a contraction: the innermost
 * index of the side's largest load. Staging walks that index with consecutive invocations, so
 * reads coalesce.
 */
export function reductionFastest(side: Expr, k: readonly Axis[], tensors: ReadonlyMap<string, TensorDecl>): boolean {
  let best: { size: number; kFast: boolean } | undefined;
  const kNames = new Set(k.map((a) => a.name));
  visitExpr(side, (e) => {
    if (e.op !== 'load') return;
    const t = tensors.get(e.tensor);
    if (!t) return;
    const size = numel(shapeOf(t));
    const last = e.index[e.index.length - 1];
    let kFast = false;
    if (last) visitIndexVars(last, (v) => (kFast ||= kNames.has(v)));
    if (!best || size > best.size) best = { size, kFast };
  });
  return best?.kFast ?? true;
}

function visitIndexVars(e: IntExpr, f: (v: string) => void): void {
  if (e.op === 'var') f(e.name);
  else if (e.op !== 'int' && e.op !== 'sym') {
    visitIndexVars(e.a, f);
    visitIndexVars(e.b, f);
  }
}
