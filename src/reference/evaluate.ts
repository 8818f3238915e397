import { type BoundProgram, type Sizes, bindProgram, numel, shapeOf } from '../ir/bind.js';
import { BindingError } from '../ir/errors.js';
import { structuralHash } from '../ir/hash.js';
import { type HostTensor, checkHost, fromValues, toValues } from '../ir/host.js';
import { type Expr, type FoldDef, type Program, type Stmt, type TensorDecl, foldExprs, loadedTensors } from '../ir/tensor.js';
import { compileFold } from './fold.js';
import { HELPERS, HELPERS_PROLOGUE, type Helpers, jsExpr, jsLoops, jsScope, roundTo } from './js-expr.js';

/**
 * The CPU reference: evaluates any tensor-IR program on host arrays. It is the oracle for every
 * test and every tuning candidate, so it favours being obviously right: values are float64,
 * reductions accumulate in float64, 4-bit and 8-bit inputs are dequantized exactly, and results
 * are rounded once, when stored to their dtype (and at explicit casts).
 *
 * Each statement is compiled to a JavaScript loop nest (fast enough for tensors of tens of
 * millions of elements). It shares no code with the compiler's passes: a statement is evaluated
 * as written, each reduction where it stands; one that does not depend on every index in scope
 * is tabulated first, over the indices it does depend on, so nothing is recomputed per
 * element (see `jsExpr`).
 */
export interface ReferenceResult {
  /** The program's outputs. */
  readonly outputs: Record<string, HostTensor>;
  /** Every computed tensor (outputs and intermediates) as float64 logical values. */
  readonly values: Record<string, Float64Array>;
}

/**
 * Evaluates `p` at `sizes`. A dynamic size is evaluated at the value given (its bound when none
 * is): the program at that size, host tensors at that shape — the reference needs no padded layout.
 */
export function evaluate(p: Program, sizes: Sizes, inputs: Readonly<Record<string, HostTensor>>): ReferenceResult {
  const bound = bindProgram(p, sizes, { dynamic: 'value' });
  return evaluateBound(bound, inputs);
}

export function evaluateBound(bound: BoundProgram, inputs: Readonly<Record<string, HostTensor>>): ReferenceResult {
  const values: Record<string, Float64Array> = {};
  const decls = new Map<string, TensorDecl>();
  for (const t of bound.inputs) {
    const h = inputs[t.name];
    if (!h) throw new BindingError(`input ${t.name} of program ${bound.name} was not given`, t.name);
    checkHost(t.name, h, t.dtype, shapeOf(t));
    values[t.name] = toValues(h);
    decls.set(t.name, t);
  }
  for (const name of Object.keys(inputs)) {
    if (!decls.has(name)) throw new BindingError(`program ${bound.name} has no input ${name}`, name);
  }
  for (const s of bound.stmts) {
    if (s.expr.op === 'fold') {
      // one run of a definition computes every statement that reads one of its outputs
      if (!Object.hasOwn(values, s.target.name)) evaluateFold(s.expr.def, bound.stmts, values, decls);
      decls.set(s.target.name, s.target);
      continue;
    }
    const out = new Float64Array(numel(shapeOf(s.target)));
    const tensors = collectLoads(s.expr);
    const fn = compileStmt(s, tensors, decls);
    fn(
      tensors.map((t) => values[t]!),
      out,
      HELPERS,
    );
    values[s.target.name] = out;
    decls.set(s.target.name, s.target);
  }
  const outputs: Record<string, HostTensor> = {};
  for (const o of bound.outputs) {
    const t = decls.get(o)!;
    outputs[o] = fromValues(t.dtype, shapeOf(t), values[o]!);
  }
  return { outputs, values };
}

/** Runs the fold `def` once and stores every statement of `stmts` that reads one of its outputs. */
function evaluateFold(def: FoldDef, stmts: readonly Stmt[], values: Record<string, Float64Array>, decls: ReadonlyMap<string, TensorDecl>): void {
  const key = structuralHash(def);
  const targets = stmts.filter((t) => t.expr.op === 'fold' && structuralHash(t.expr.def) === key);
  const byOutput = def.outputs.map((_, k) => targets.filter((t) => t.expr.op === 'fold' && t.expr.output === k).map((t) => t.target));
  const outs = byOutput.map((ts) => (ts[0] ? new Float64Array(numel(shapeOf(ts[0]))) : undefined));
  const tensors = [...new Set(foldExprs(def).flatMap(collectLoads))];
  const fn = compileFold(def, byOutput.map((ts) => ts[0]?.dtype), tensors, decls);
  fn(
    tensors.map((t) => values[t]!),
    outs,
    HELPERS,
  );
  // two statements of one output hold equal values (both are stored to the same dtype)
  byOutput.forEach((ts, k) => ts.forEach((t) => (values[t.name] = outs[k]!)));
}

function collectLoads(e: Expr): string[] {
  return [...loadedTensors(e)];
}

type StmtFn = (tensors: Float64Array[], out: Float64Array, h: Helpers) => void;

/** Emits `function(T, out, h)` evaluating one statement (without a fold) of a bound program. */
function compileStmt(s: Stmt, tensors: readonly string[], decls: ReadonlyMap<string, TensorDecl>): StmtFn {
  const tables = new Map<string, string>();
  const fills: string[] = [];
  const table = (key: string, size: number) => {
    const hit = tables.get(key);
    if (hit) return { id: hit, fresh: false };
    const id = `m${tables.size}`;
    tables.set(key, id);
    fills.push(`const ${id} = new Float64Array(${size});`);
    return { id, fresh: true };
  };
  const scope = { ...jsScope(tensors, decls), memo: { table, fill: (code: string) => fills.push(code) } };
  const sink: string[] = [];
  const value = jsExpr(s.expr, scope, sink, s.target.axes);
  const store = `out[o++] = ${roundTo(value, s.target.dtype)};`;
  const lines = tensors.map((_, k) => `const t${k} = T[${k}];`);
  lines.push(...fills);
  lines.push('let o = 0;');
  lines.push(jsLoops(s.target.axes.map((a) => scope.id(a.name)), shapeOf(s.target), [...sink, store].join('\n')));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('T', 'out', 'h', `"use strict";\n${HELPERS_PROLOGUE}\n${lines.join('\n')}`) as StmtFn;
}
