import type { DType } from '../ir/dtype.js';
import type { FoldDef, TensorDecl } from '../ir/tensor.js';
import { HELPERS_PROLOGUE, type Helpers, jsExpr, jsLoops, jsOffset, jsScope, roundTo, sizesOf } from './js-expr.js';

/** Evaluates a fold: `outs[k]` receives output k (row-major over its statement's axes), when given. */
export type FoldFn = (tensors: Float64Array[], outs: readonly (Float64Array | undefined)[], h: Helpers) => void;

/**
 * Compiles a fold or scan of a bound program to one JavaScript function, following the semantics
 * on `FoldDef` literally: per outer point the fields start at their init; each step computes the
 * locals, then every field's next value from the current state into a second buffer, and swaps;
 * the outputs are written after the last step (a scan: after every step). State and locals are
 * float64; a value is rounded to its dtype only when stored to an output (`dtypes[k]`).
 * `merge` is not needed to evaluate a fold sequentially; tests check it separately.
 */
export function compileFold(
  def: FoldDef,
  dtypes: readonly (DType | undefined)[],
  tensors: readonly string[],
  decls: ReadonlyMap<string, TensorDecl>,
): FoldFn {
  const field = new Map(def.state.map((f, i) => [f.name, { f, i, shape: sizesOf(f.axes) }]));
  const locals = new Map(def.locals.map((l, i) => [l.name, `L${i}`]));
  const scope = jsScope(tensors, decls, {
    state: (e, index) => {
      const x = field.get(e.field)!;
      return `S${x.i}[${jsOffset(x.shape, index)}]`;
    },
    local: (name) => locals.get(name)!,
  });
  const ids = (axes: FoldDef['over']) => axes.map((a) => scope.id(a.name));
  const lines = tensors.map((_, k) => `const t${k} = T[${k}];`);
  def.state.forEach((f, i) => {
    const n = sizesOf(f.axes).reduce((a, b) => a * b, 1);
    lines.push(`let S${i} = new Float64Array(${n}), N${i} = new Float64Array(${n});`);
  });
  def.outputs.forEach((_, k) => lines.push(`const O${k} = outs[${k}];`, `let o${k} = 0;`));

  /** Fills field buffer `buf` of every field from `exprs`, element by element. */
  const fill = (buf: string, exprs: FoldDef['init']): string =>
    def.state
      .map((f, i) => {
        const sink: string[] = [];
        const v = jsExpr(exprs[i]!, scope, sink);
        return jsLoops(ids(f.axes), sizesOf(f.axes), [...sink, `${buf}${i}[${jsOffset(sizesOf(f.axes), ids(f.axes))}] = ${v};`].join('\n'));
      })
      .join('\n');
  const outputs = def.outputs
    .map((o, k) => {
      const dtype = dtypes[k];
      if (dtype === undefined) return ''; // no statement reads this output
      const sink: string[] = [];
      const v = jsExpr(o.expr, scope, sink);
      return `if (O${k}) {\n${jsLoops(ids(o.axes), sizesOf(o.axes), [...sink, `O${k}[o${k}++] = ${roundTo(v, dtype)};`].join('\n'))}\n}`;
    })
    .join('\n');
  const localLines = def.locals.map((l, i) => {
    const sink: string[] = [];
    const v = jsExpr(l.expr, scope, sink);
    return [...sink, `const L${i} = ${v};`].join('\n');
  });
  // the update reads the state before the step (S) and writes the next state (N), then they swap
  const swap = def.state.map((_, i) => `{ const x = S${i}; S${i} = N${i}; N${i} = x; }`).join('\n');
  const step = [...localLines, fill('N', def.update), swap, def.kind === 'scan' ? outputs : ''].join('\n');
  const perOuter = [fill('S', def.init), jsLoops(ids(def.over), sizesOf(def.over), step), def.kind === 'fold' ? outputs : ''].join('\n');
  lines.push(jsLoops(ids(def.outer), sizesOf(def.outer), perOuter));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('T', 'outs', 'h', `"use strict";\n${HELPERS_PROLOGUE}\n${lines.join('\n')}`) as FoldFn;
}
