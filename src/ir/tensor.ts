import { type DType, type ValueType, isFloat, isInt, requireComputeType } from './dtype.js';
import { DTypeError, ProgramError, assertNever } from './errors.js';
import { type IntExpr, intVars, substInt } from './intexpr.js';

/**
 * Tensor IR: what is computed. A program is a list of index-notation statements
 *
 *     S[b, h, i, j] = sum[d](Q[b, h, i, d] * K[b, h, j, d])
 *
 * Each statement defines one tensor over its own axes (whose names are the index variables of the
 * right-hand side); reductions bind fresh axes. Nodes are immutable plain objects: build them with
 * the constructors below, never mutate them, and rebuild with `mapExpr` / `rewrite`.
 */

/** A named axis with a symbolic size: `i: N`. */
export interface Axis {
  readonly name: string;
  readonly size: IntExpr;
}

export interface TensorDecl {
  readonly name: string;
  readonly dtype: DType;
  readonly axes: readonly Axis[];
}

export type UnaryFn =
  | 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'erf' | 'sigmoid' | 'floor' | 'ceil' | 'sin' | 'cos' | 'recip';
export type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'mod';
export type CompareFn = 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne';
export type ReduceFn = 'sum' | 'max' | 'min';

export const UNARY_FNS: readonly UnaryFn[] = [
  'neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'sigmoid', 'floor', 'ceil', 'sin', 'cos', 'recip',
];
export const BINARY_FNS: readonly BinaryFn[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'mod'];
export const COMPARE_FNS: readonly CompareFn[] = ['lt', 'le', 'gt', 'ge', 'eq', 'ne'];
export const REDUCE_FNS: readonly ReduceFn[] = ['sum', 'max', 'min'];

/** Functions that only make sense on floats. */
const FLOAT_ONLY: ReadonlySet<UnaryFn | BinaryFn> = new Set<UnaryFn | BinaryFn>([
  'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'sigmoid', 'floor', 'ceil', 'sin', 'cos', 'recip', 'pow',
]);

export type Expr =
  | { readonly op: 'const'; readonly dtype: ValueType; readonly value: number }
  | { readonly op: 'load'; readonly dtype: DType; readonly tensor: string; readonly index: readonly IntExpr[] }
  /** The value of an integer index expression (an iota, a position for a mask, a size such as D). */
  | { readonly op: 'iota'; readonly dtype: DType; readonly index: IntExpr }
  | { readonly op: 'unary'; readonly dtype: ValueType; readonly fn: UnaryFn; readonly x: Expr }
  | { readonly op: 'binary'; readonly dtype: ValueType; readonly fn: BinaryFn; readonly a: Expr; readonly b: Expr }
  | { readonly op: 'compare'; readonly dtype: 'bool'; readonly fn: CompareFn; readonly a: Expr; readonly b: Expr }
  | { readonly op: 'select'; readonly dtype: ValueType; readonly cond: Expr; readonly a: Expr; readonly b: Expr }
  | { readonly op: 'cast'; readonly dtype: ValueType; readonly x: Expr }
  | { readonly op: 'reduce'; readonly dtype: ValueType; readonly fn: ReduceFn; readonly axes: readonly Axis[]; readonly body: Expr }
  /** Output `output` of a stateful reduction or scan (see `FoldDef`); only at a statement's root. */
  | { readonly op: 'fold'; readonly dtype: ValueType; readonly def: FoldDef; readonly output: number }
  /**
   * An element of a state field of the enclosing fold: `self` is the running state (in `init`,
   * `locals`, `update` and `outputs`, and the left operand of `merge`), `other` the right operand
   * of `merge`. `index` runs over the field's own axes.
   */
  | { readonly op: 'state'; readonly dtype: ValueType; readonly field: string; readonly of: 'self' | 'other'; readonly index: readonly IntExpr[] }
  /** A per-step value of the enclosing fold (one of its `locals`, computed before `update`). */
  | { readonly op: 'local'; readonly dtype: ValueType; readonly name: string };

/**
 * A stateful reduction (`fold`) or prefix scan (`scan`) over the axes `over`, for every point of
 * the axes `outer`. Its state is a list of fields, each a small tensor over its own axes (online
 * softmax: a running max `m`, a running sum `l` and an accumulator `acc[e]`). Per outer point:
 *
 *     state = init
 *     for each point of `over`, in row-major order:
 *       locals, in order           (may read state, earlier locals and loads at the step)
 *       state = update             (every field at once, from the state before the step)
 *     outputs = finalize(state)    (a scan: after every step, indexed by the step too)
 *
 * `merge` combines two partial states — `self` the state over a prefix of the steps, `other` the
 * state over the steps after it, each started from `init` — into the state over both. It must be
 * associative with `init` as identity (up to rounding): it is what lets a schedule split the
 * steps across lanes or workgroups. A sum is the one-field case: init 0, update `acc + x`, merge
 * `self + other`, output `acc`.
 *
 * Several statements share one definition (structurally equal), each computing one output:
 * a statement `T[outer..., (over for a scan), axes of output k...] = fold(def).output k`, so one
 * stateful reduction owns several targets.
 */
export interface FoldDef {
  readonly kind: 'fold' | 'scan';
  readonly outer: readonly Axis[];
  /** A scan runs over exactly one axis. */
  readonly over: readonly Axis[];
  readonly state: readonly StateField[];
  /** One per field, over the field's axes (and `outer`). */
  readonly init: readonly Expr[];
  readonly locals: readonly FoldLocal[];
  /** One per field: its value after a step. */
  readonly update: readonly Expr[];
  /** One per field: the combined value of two partial states. */
  readonly merge: readonly Expr[];
  readonly outputs: readonly FoldOutput[];
  /**
   * Where this boolean (over the fold's axes) is false, a step leaves every state field as it
   * was: a lowering may skip the step (a causal or windowed mask's keys). Absent: every step counts.
   */
  readonly activeWhen?: Expr;
}

export interface StateField {
  readonly name: string;
  readonly dtype: ValueType;
  /** The field's own axes: an accumulator row `acc[e]` has one, a running max none. */
  readonly axes: readonly Axis[];
}

/** A scalar per step, shared by the field updates (a score, a rescaling factor). */
export interface FoldLocal {
  readonly name: string;
  readonly expr: Expr;
}

export interface FoldOutput {
  /** Axes after the outer ones (and the scanned one): `e` for an output row `O[i, e]`. */
  readonly axes: readonly Axis[];
  readonly expr: Expr;
}

export type ExprOp = Expr['op'];

export interface Stmt {
  /** The tensor defined; its axis names are the free index variables of `expr`. */
  readonly target: TensorDecl;
  readonly expr: Expr;
}

export interface Program {
  readonly name: string;
  /** Size symbols, bound to numbers when the program is compiled. */
  readonly sizes: readonly string[];
  readonly inputs: readonly TensorDecl[];
  readonly stmts: readonly Stmt[];
  /** Names of the statement targets the caller gets back; the others are intermediates. */
  readonly outputs: readonly string[];
  /** Size equalities that views and broadcasts rely on, checked when sizes are bound. */
  readonly constraints: readonly SizeConstraint[];
  /**
   * Dynamic sizes and their upper bounds: `{ M: 8192 }`. A dynamic size is one of `sizes` whose
   * value is not known when the program is compiled: it is compiled once for the bound and run
   * with any value from 1 to the bound. A tensor with an axis of dynamic extent is laid out at the
   * bound (strides from the bound, the buffer holds the bound's worth of elements); only the first
   * `value` entries along the axis are meaningful, kernels read only those and write only those
   * of outputs. Absent or empty: every size is static (the default).
   */
  readonly dynamic?: Readonly<Record<string, number>>;
}

export interface SizeConstraint {
  readonly a: IntExpr;
  readonly b: IntExpr;
  /** What needs the equality, for the error message. */
  readonly what: string;
}

// ---------------------------------------------------------------------------------------------
// Constructors: each checks dtypes, so an ill-typed node cannot be built.

export const constant = (value: number, dtype: ValueType): Expr => {
  if (isInt(dtype) && !Number.isInteger(value)) {
    throw new DTypeError(`constant ${value} is not an integer but its dtype is ${dtype}`);
  }
  return { op: 'const', dtype, value };
};

export const load = (tensor: TensorDecl, index: readonly IntExpr[]): Expr => {
  if (index.length !== tensor.axes.length) {
    throw new ProgramError(
      `${tensor.name} has ${tensor.axes.length} axes (${tensor.axes.map((a) => a.name).join(', ')}) but is indexed with ${index.length}`,
    );
  }
  return { op: 'load', dtype: tensor.dtype, tensor: tensor.name, index };
};

export const iota = (index: IntExpr, dtype: DType = 'i32'): Expr => ({ op: 'iota', dtype, index });

export function unary(fn: UnaryFn, x: Expr): Expr {
  requireComputeType(x.dtype, `the operand of ${fn}`);
  if (x.dtype === 'bool') throw new DTypeError(`${fn} of a boolean; use select(cond, a, b) or cast it first`);
  if (FLOAT_ONLY.has(fn) && !isFloat(x.dtype)) {
    throw new DTypeError(`${fn} needs a float operand, got ${x.dtype}; cast it first, e.g. cast(x, 'f32')`);
  }
  return { op: 'unary', dtype: x.dtype, fn, x };
}

export function binary(fn: BinaryFn, a: Expr, b: Expr): Expr {
  requireComputeType(a.dtype, `the left operand of ${fn}`);
  requireComputeType(b.dtype, `the right operand of ${fn}`);
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`${fn} of ${a.dtype} and ${b.dtype}: cast one operand so both have the same dtype`);
  }
  if (a.dtype === 'bool') throw new DTypeError(`${fn} of booleans; use select(cond, a, b)`);
  if (FLOAT_ONLY.has(fn) && !isFloat(a.dtype)) throw new DTypeError(`${fn} needs float operands, got ${a.dtype}`);
  return { op: 'binary', dtype: a.dtype, fn, a, b };
}

export function compare(fn: CompareFn, a: Expr, b: Expr): Expr {
  requireComputeType(a.dtype, `the left operand of ${fn}`);
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`comparison ${fn} of ${a.dtype} and ${b.dtype}: cast one operand so both have the same dtype`);
  }
  return { op: 'compare', dtype: 'bool', fn, a, b };
}

export function select(cond: Expr, a: Expr, b: Expr): Expr {
  if (cond.dtype !== 'bool') throw new DTypeError(`select needs a boolean condition (a comparison), got ${cond.dtype}`);
  if (a.dtype !== b.dtype) throw new DTypeError(`select between ${a.dtype} and ${b.dtype}: both branches need one dtype`);
  return { op: 'select', dtype: a.dtype, cond, a, b };
}

export function cast(x: Expr, dtype: ValueType): Expr {
  if (x.dtype === dtype) return x;
  if (dtype === 'bool') throw new DTypeError(`cast to bool is not supported; compare with zero instead`);
  return { op: 'cast', dtype, x };
}

export function reduce(fn: ReduceFn, axes: readonly Axis[], body: Expr): Expr {
  requireComputeType(body.dtype, `the body of ${fn}`);
  if (body.dtype === 'bool') throw new DTypeError(`${fn} over booleans; cast to i32 first`);
  if (axes.length === 0) return body;
  return { op: 'reduce', dtype: body.dtype, fn, axes, body };
}

// ---------------------------------------------------------------------------------------------
// Traversal

/** Immediate children, in a fixed order. */
export function children(e: Expr): readonly Expr[] {
  switch (e.op) {
    case 'const':
    case 'load':
    case 'iota':
    case 'state':
    case 'local':
      return [];
    case 'fold':
      return foldExprs(e.def);
    case 'unary':
    case 'cast':
      return [e.x];
    case 'binary':
    case 'compare':
      return [e.a, e.b];
    case 'select':
      return [e.cond, e.a, e.b];
    case 'reduce':
      return [e.body];
    default:
      return assertNever(e, 'expr op');
  }
}

/** Rebuilds `e` with new children (same order as `children`); returns `e` itself if nothing changed. */
export function withChildren(e: Expr, kids: readonly Expr[]): Expr {
  const old = children(e);
  if (old.length === kids.length && old.every((c, i) => c === kids[i])) return e;
  const k = (i: number): Expr => kids[i]!;
  switch (e.op) {
    case 'const':
    case 'load':
    case 'iota':
    case 'state':
    case 'local':
      return e;
    case 'fold':
      return { ...e, def: withFoldExprs(e.def, kids) };
    case 'unary':
      return { ...e, x: k(0) };
    case 'cast':
      return { ...e, x: k(0) };
    case 'binary':
      return { ...e, a: k(0), b: k(1) };
    case 'compare':
      return { ...e, a: k(0), b: k(1) };
    case 'select':
      return { ...e, cond: k(0), a: k(1), b: k(2) };
    case 'reduce':
      return { ...e, body: k(0) };
    default:
      return assertNever(e, 'expr op');
  }
}

/** Every expression of a fold definition, in a fixed order: init, locals, update, merge, outputs, activeWhen. */
export function foldExprs(d: FoldDef): readonly Expr[] {
  return [...d.init, ...d.locals.map((l) => l.expr), ...d.update, ...d.merge, ...d.outputs.map((o) => o.expr), ...(d.activeWhen ? [d.activeWhen] : [])];
}

/** A fold definition with its expressions replaced (same order as `foldExprs`). */
export function withFoldExprs(d: FoldDef, kids: readonly Expr[]): FoldDef {
  let at = 0;
  const take = (n: number) => kids.slice(at, (at += n));
  const init = take(d.init.length);
  const locals = take(d.locals.length).map((expr, i) => ({ name: d.locals[i]!.name, expr }));
  const update = take(d.update.length);
  const merge = take(d.merge.length);
  const outputs = take(d.outputs.length).map((expr, i) => ({ axes: d.outputs[i]!.axes, expr }));
  return { ...d, init, locals, update, merge, outputs, ...(d.activeWhen ? { activeWhen: take(1)[0]! } : {}) };
}

/** Bottom-up map: children first, then `f` on the rebuilt node. */
export function mapExpr(e: Expr, f: (e: Expr) => Expr): Expr {
  return f(withChildren(e, children(e).map((c) => mapExpr(c, f))));
}

/** Calls `f` on every node, parents before children. */
export function visitExpr(e: Expr, f: (e: Expr) => void): void {
  f(e);
  for (const c of children(e)) visitExpr(c, f);
}

/** Maps the integer index expressions inside loads and iotas (and reduce axis sizes). */
export function mapIndices(e: Expr, f: (i: IntExpr) => IntExpr): Expr {
  return mapExpr(e, (n) => {
    switch (n.op) {
      case 'load':
        return { ...n, index: n.index.map(f) };
      case 'iota':
        return { ...n, index: f(n.index) };
      case 'reduce':
        return { ...n, axes: n.axes.map((a) => ({ name: a.name, size: f(a.size) })) };
      case 'state':
        return { ...n, index: n.index.map(f) };
      case 'fold': {
        const axes = (xs: readonly Axis[]) => xs.map((a) => ({ name: a.name, size: f(a.size) }));
        const d = n.def;
        return {
          ...n,
          def: {
            ...d,
            outer: axes(d.outer),
            over: axes(d.over),
            state: d.state.map((s) => ({ ...s, axes: axes(s.axes) })),
            outputs: d.outputs.map((o) => ({ ...o, axes: axes(o.axes) })),
          },
        };
      }
      default:
        return n;
    }
  });
}

/** Substitutes index variables (and size symbols) everywhere, e.g. to inline a producer. */
export function substIndex(e: Expr, map: Readonly<Record<string, IntExpr>>): Expr {
  return mapIndices(e, (i) => substInt(i, map));
}

/** Index variables read by `e` and not bound by a reduction inside it. */
export function freeVars(e: Expr): Set<string> {
  const out = new Set<string>();
  const walk = (n: Expr, bound: ReadonlySet<string>): void => {
    switch (n.op) {
      case 'load':
        for (const i of n.index) for (const v of intVars(i)) if (!bound.has(v)) out.add(v);
        return;
      case 'iota':
        for (const v of intVars(n.index)) if (!bound.has(v)) out.add(v);
        return;
      case 'reduce': {
        const inner = new Set(bound);
        for (const a of n.axes) inner.add(a.name);
        walk(n.body, inner);
        return;
      }
      case 'state':
        for (const i of n.index) for (const v of intVars(i)) if (!bound.has(v)) out.add(v);
        return;
      case 'fold':
        // the definition's variables are its own (checked by the verifier); the node is indexed
        // by the outer axes, the scanned axis of a scan, and its output's axes
        for (const a of foldAxes(n.def, n.output)) if (!bound.has(a.name)) out.add(a.name);
        return;
      default:
        for (const c of children(n)) walk(c, bound);
    }
  };
  walk(e, new Set());
  return out;
}

/** The axes of a fold's output `k`, in order: outer, the scanned axis (a scan), the output's own. */
export function foldAxes(d: FoldDef, k: number): readonly Axis[] {
  return [...d.outer, ...(d.kind === 'scan' ? d.over : []), ...(d.outputs[k]?.axes ?? [])];
}

/** Names of the tensors `e` loads. */
export function loadedTensors(e: Expr): Set<string> {
  const out = new Set<string>();
  visitExpr(e, (n) => {
    if (n.op === 'load') out.add(n.tensor);
  });
  return out;
}

export function countNodes(e: Expr): number {
  let n = 0;
  visitExpr(e, () => n++);
  return n;
}

/** Looks up a tensor declaration (input or statement target) by name. */
export function tensorOf(p: Program, name: string): TensorDecl {
  const t = p.inputs.find((x) => x.name === name) ?? p.stmts.find((s) => s.target.name === name)?.target;
  if (!t) throw new ProgramError(`program ${p.name} has no tensor named ${name}`);
  return t;
}
