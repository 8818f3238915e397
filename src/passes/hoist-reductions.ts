import { structuralHash } from '../ir/hash.js';
import { type IntExpr, ivar, substInt } from '../ir/intexpr.js';
import { NameAllocator } from '../ir/names.js';
import {
  type Axis,
  type Expr,
  type Program,
  type Stmt,
  type TensorDecl,
  children,
  freeVars,
  load,
  mapIndices,
  withChildren,
} from '../ir/tensor.js';

/**
 * Gives every reduction its own statement, indexed by the variables it depends on, and computes
 * each distinct reduction once:
 *
 *     Y[i, j] = exp(X[i, j] - max[j'](X[i, j'])) / sum[j''](exp(X[i, j''] - max[j'](X[i, j'])))
 *  ->  Y_max[i] = max[j'](X[i, j'])
 *      Y_sum[i] = sum[j''](exp(X[i, j''] - Y_max[i]))
 *      Y[i, j]  = exp(X[i, j] - Y_max[i]) / Y_sum[i]
 *
 * Afterwards each statement is either reduction-free (elementwise), one reduction at its root
 * whose free variables are exactly the target's axes, in order, or a fold, left whole (its
 * reductions are per-step values of its definition). This is the normal form the reference
 * evaluator and the lowering start from. Two reductions that differ only in the names
 * of their variables are the same reduction (the DSL builds expression trees, so a value used
 * twice appears twice).
 */
export function hoistReductions(p: Program, names: NameAllocator = NameAllocator.forProgram(p)): Program {
  const stmts: Stmt[] = [];
  const known = new Map<string, TensorDecl>();
  for (const s of p.stmts) {
    const name = (fn: string) => names.fresh(`${s.target.name}_${fn}`);
    const hoist = (e: Expr, scope: readonly Axis[], isRoot: boolean): Expr => {
      // a fold's reductions are per-step values of its definition (a score per step, read by
      // its locals and updates): they stay inside it, where the fold's own loop evaluates them
      if (e.op === 'fold') return e;
      const inner = e.op === 'reduce' ? [...scope, ...e.axes] : scope;
      const rebuilt = withChildren(e, children(e).map((c) => hoist(c, inner, false)));
      if (rebuilt.op !== 'reduce') return rebuilt;
      const free = freeVars(rebuilt);
      const axes = scope.filter((a) => free.has(a.name));
      if (isRoot && axes.length === s.target.axes.length) return rebuilt;
      const key = alphaKey(rebuilt, axes);
      let target = known.get(key);
      if (!target) {
        target = { name: name(rebuilt.fn), dtype: rebuilt.dtype as TensorDecl['dtype'], axes };
        known.set(key, target);
        stmts.push({ target, expr: rebuilt });
      }
      return load(target, axes.map((a) => ivar(a.name)));
    };
    stmts.push({ target: s.target, expr: hoist(s.expr, s.target.axes, true) });
  }
  return { ...p, stmts };
}

/**
 * A key equal for two reductions that differ only in variable names: free variables become
 * their position in `free` (with their sizes), bound ones their binding depth.
 */
export function alphaKey(e: Expr, free: readonly Axis[]): string {
  const map: Record<string, IntExpr> = {};
  free.forEach((a, k) => (map[a.name] = ivar(`%f${k}`)));
  let depth = 0;
  const rename = (n: Expr, env: Record<string, IntExpr>): Expr => {
    if (n.op === 'reduce') {
      const inner = { ...env };
      const axes = n.axes.map((a) => {
        const fresh = `%b${depth++}`;
        inner[a.name] = ivar(fresh);
        return { name: fresh, size: a.size };
      });
      return { ...n, axes, body: rename(n.body, inner) };
    }
    const renamed = withChildren(n, children(n).map((c) => rename(c, env)));
    return renamed.op === 'load' || renamed.op === 'iota' ? mapIndices(renamed, (i) => substInt(i, env)) : renamed;
  };
  return structuralHash({ e: rename(e, map), sizes: free.map((a) => a.size) });
}
