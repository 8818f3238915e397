import { type BoundProgram } from '../ir/bind.js';
import { type IntExpr } from '../ir/intexpr.js';
import { intVars } from '../ir/intexpr.js';
import { type Axis, type Expr, type Stmt, type UnaryFn, children, countNodes, loadedTensors, substIndex, visitExpr, withChildren } from '../ir/tensor.js';

/** Largest expression (in nodes, times its number of uses) inlined into its consumers. */
export const INLINE_BUDGET = 400;

/** A consumer recomputing a transcendental producer this many times over per element stores it instead. */
export const RECOMPUTE_LIMIT = 4;

/**
 * Fuses elementwise producers into their consumers by substitution:
 *
 *     Z[i, j] = exp(X[i, j]);  s[i] = sum[j'](Z[i, j'])   ->   s[i] = sum[j'](exp(X[i, j']))
 *
 * then drops statements nothing reads that are not outputs. A producer with a transcendental
 * function (exp, log, ...) stays a statement of its own where a consumer would recompute each of
 * its elements more than RECOMPUTE_LIMIT times: read inside a reduction or by an output over an
 * axis its index does not use (`sum[d](q[p, d] * exp(G[p, d]) * S[d, e])` would take D·E
 * exponentials per position instead of D). Runs on the hoisted normal form, where
 * elementwise statements contain no reductions, so substitution cannot capture a variable. An
 * output that is also read is still stored, and recomputed where it is read.
 */
export function inlineElementwise(p: BoundProgram, budget = INLINE_BUDGET): BoundProgram {
  const uses = new Map<string, number>();
  for (const s of p.stmts) for (const t of loadedTensors(s.expr)) uses.set(t, (uses.get(t) ?? 0) + 1);
  const inlinable = new Map<string, Stmt>();
  const stmts: Stmt[] = [];
  for (const s of p.stmts) {
    // the variables in scope where a load is evaluated, with their extents (undefined inside a fold)
    const walk = (e: Expr, scope: ReadonlyMap<string, number> | undefined): Expr => {
      if (e.op === 'load') {
        const producer = inlinable.get(e.tensor);
        if (!producer) return e;
        if (scope && transcendental(producer.expr) && recomputed(e, scope) > RECOMPUTE_LIMIT) return e;
        const map: Record<string, IntExpr> = {};
        producer.target.axes.forEach((a, k) => (map[a.name] = e.index[k]!));
        return substIndex(producer.expr, map);
      }
      const inner = e.op === 'fold' ? undefined : e.op === 'reduce' && scope ? extend(scope, e.axes) : scope;
      const kids = children(e);
      const next = kids.map((k) => walk(k, inner));
      return next.every((k, i) => k === kids[i]) ? e : withChildren(e, next);
    };
    const expr = walk(s.expr, extend(new Map(), s.target.axes));
    const next: Stmt = expr === s.expr ? s : { target: s.target, expr };
    stmts.push(next);
    // a fold owns a loop over its steps, so it is not an elementwise producer to substitute
    if (expr.op !== 'reduce' && expr.op !== 'fold' && countNodes(expr) * (uses.get(s.target.name) ?? 0) <= budget) {
      inlinable.set(s.target.name, next);
    }
  }
  return { ...p, stmts: removeDead(stmts, p.outputs) };
}

const TRANSCENDENTAL: ReadonlySet<UnaryFn> = new Set<UnaryFn>(['exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'sigmoid', 'sin', 'cos', 'pow' as UnaryFn]);

function transcendental(e: Expr): boolean {
  let found = false;
  visitExpr(e, (n) => {
    if ((n.op === 'unary' && TRANSCENDENTAL.has(n.fn)) || (n.op === 'binary' && n.fn === 'pow')) found = true;
  });
  return found;
}

function extend(scope: ReadonlyMap<string, number>, axes: readonly Axis[]): Map<string, number> {
  const out = new Map(scope);
  for (const a of axes) out.set(a.name, a.size.op === 'int' ? a.size.value : 1);
  return out;
}

/** How many times over a load would be evaluated per element it reads: the extents of the variables it ignores. */
function recomputed(load: Extract<Expr, { op: 'load' }>, sizes: ReadonlyMap<string, number>): number {
  const reads = new Set(load.index.flatMap((ix) => [...intVars(ix)]));
  let n = 1;
  for (const [v, size] of sizes) if (!reads.has(v)) n *= size;
  return n;
}

/** Keeps outputs and whatever they (transitively) read. */
export function removeDead(stmts: readonly Stmt[], outputs: readonly string[]): Stmt[] {
  const live = new Set(outputs);
  const kept: Stmt[] = [];
  for (let k = stmts.length - 1; k >= 0; k--) {
    const s = stmts[k]!;
    if (!live.has(s.target.name)) continue;
    kept.push(s);
    for (const t of loadedTensors(s.expr)) live.add(t);
  }
  return kept.reverse();
}

