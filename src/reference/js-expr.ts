import { ProgramError } from '../ir/errors.js';
import { boundShape, numel, shapeOf } from '../ir/bind.js';
import { type DType, type ValueType, isFloat } from '../ir/dtype.js';
import { assertNever } from '../ir/errors.js';
import { type IntExpr, ivar, substInt } from '../ir/intexpr.js';
import { structuralHash } from '../ir/hash.js';
import { roundBf16, roundF16 } from '../ir/numeric.js';
import { type Axis, type Expr, type TensorDecl, freeVars, mapIndices, visitExpr } from '../ir/tensor.js';
import { erf } from './math.js';

/**
 * JavaScript source for tensor-IR expressions, the building block of the reference's compiled
 * loop nests. An expression becomes a JS expression plus statements it needs first (a nested
 * reduction becomes a loop that runs before the value is used), pushed onto a `sink` in the
 * block where the value is used, so a reduction inside a fold step runs once per step.
 *
 * Every reduction is evaluated as written (there is no separate normalization to trust). So that a
 * reduction is not recomputed per element — a row's max inside a softmax, read once per element
 * of the row; the scores inside it, read by the max, the sum and the product with V — a scope
 * with `memo` tabulates every reduction that is inside another one or does not depend on every
 * index in scope: first, over the indices it does depend on, once per distinct reduction (see
 * `memoKey`), reading the table where the reduction stands.
 */

/** What an emitted expression refers to: index variables, tensors, and a fold's state and locals. */
export interface JsScope {
  /** The JS identifier of an index variable. */
  readonly id: (v: string) => string;
  /** The JS identifier of a tensor's values and its declaration (with bound sizes). */
  readonly tensor: (name: string) => { readonly js: string; readonly decl: TensorDecl };
  /** A fresh JS identifier. */
  readonly tmp: () => string;
  readonly state?: (e: Extract<Expr, { op: 'state' }>, index: readonly string[]) => string;
  readonly local?: (name: string) => string;
  /**
   * Tables of reductions (statements only, never in a fold, whose reductions may read the state):
   * `table` gives the JS identifier of the table for `key` with `size` entries, `fresh` when it
   * was just made; `fill` adds the code filling a fresh one, run before the statement's loops.
   */
  readonly memo?: {
    readonly table: (key: string, size: number) => { readonly id: string; readonly fresh: boolean };
    readonly fill: (code: string) => void;
  };
}

export const HELPERS = { erf, roundF16, roundBf16, satInt };
export type Helpers = typeof HELPERS;
/** The prologue that brings the helpers into scope of a compiled function taking `h`. */
export const HELPERS_PROLOGUE = 'const { erf, roundF16, roundBf16, satInt } = h;';

function satInt(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return 0;
  // + 0 turns the -0 of truncating (-1, 0) into the +0 a device produces
  return Math.min(hi, Math.max(lo, Math.trunc(x))) + 0;
}

export function jsInt(e: IntExpr, id: (v: string) => string): string {
  const int = (x: IntExpr) => jsInt(x, id);
  switch (e.op) {
    case 'int':
      return numberLiteral(e.value);
    case 'var':
      return id(e.name);
    case 'sym':
      throw new Error(`internal: unbound size ${e.name}`);
    case 'add':
      return `(${int(e.a)} + ${int(e.b)})`;
    case 'sub':
      return `(${int(e.a)} - ${int(e.b)})`;
    case 'mul':
      return `(${int(e.a)} * ${int(e.b)})`;
    case 'floordiv':
      return `Math.floor(${int(e.a)} / ${int(e.b)})`;
    case 'mod':
      return `(((${int(e.a)} % ${int(e.b)}) + ${int(e.b)}) % ${int(e.b)})`;
    case 'min':
      return `Math.min(${int(e.a)}, ${int(e.b)})`;
    case 'max':
      return `Math.max(${int(e.a)}, ${int(e.b)})`;
    default:
      return assertNever(e, 'int op');
  }
}

/** Concrete sizes of bound axes. */
export const sizesOf = (axes: readonly Axis[]): number[] => boundShape(axes);

/**
 * What a memoized reduction computes, as a key: the reduction with the variables it depends on
 * renamed to their position in `deps`, and their sizes. Two reductions with one key are the same
 * function over the same domain (the verifier refuses a reduction axis shadowing an index in
 * scope, so the renaming cannot capture; a reduction that does is given a key of its own).
 */
let unshared = 0;
function memoKey(e: Extract<Expr, { op: 'reduce' }>, deps: readonly Axis[]): string {
  const names = new Set(deps.map((a) => a.name));
  let shadows = false;
  visitExpr(e, (n) => {
    if (n.op === 'reduce' && n.axes.some((a) => names.has(a.name))) shadows = true;
  });
  if (shadows) return `unshared ${unshared++}`;
  const position = Object.fromEntries(deps.map((a, k) => [a.name, ivar(`%${k}`)]));
  const renamed = mapIndices(e, (i) => substInt(i, position));
  return structuralHash({ e: renamed, sizes: sizesOf(deps) });
}

/** Row-major flat offset of `index` (JS expressions) into a tensor of `shape`. */
export function jsOffset(shape: readonly number[], index: readonly string[]): string {
  let stride = 1;
  const terms: string[] = [];
  for (let k = shape.length - 1; k >= 0; k--) {
    terms.push(stride === 1 ? index[k]! : `${index[k]!} * ${stride}`);
    stride *= shape[k]!;
  }
  return terms.length ? terms.join(' + ') : '0';
}

/** A loop nest over `vars` (JS identifiers) with the given trip counts around `body`. */
export const jsLoops = (vars: readonly string[], sizes: readonly number[], body: string): string =>
  vars.reduceRight((inner, v, k) => `for (let ${v} = 0; ${v} < ${sizes[k]}; ${v}++) {\n${inner}\n}`, body);

/**
 * JS for `e`; statements it needs first are appended to `sink`. `enclosing` are the index variables
 * in scope, outermost first (a statement's axes, then the axes of the reductions around `e`), and
 * `inReduction` says whether `e` is inside the body of a reduction.
 */
export function jsExpr(e: Expr, scope: JsScope, sink: string[], enclosing: readonly Axis[] = [], inReduction = false): string {
  const expr = (x: Expr) => jsExpr(x, scope, sink, enclosing, inReduction);
  const int = (x: IntExpr) => jsInt(x, scope.id);
  switch (e.op) {
    case 'const':
      // a constant holds its dtype's value: 0.1 as f16 is 0.0999755859375
      return e.dtype === 'bool' ? String(e.value !== 0) : isFloat(e.dtype) ? roundTo(numberLiteral(e.value), e.dtype as DType) : numberLiteral(e.value);
    case 'load': {
      const t = scope.tensor(e.tensor);
      return `${t.js}[${jsOffset(shapeOf(t.decl), e.index.map(int))}]`;
    }
    case 'iota':
      return convert(int(e.index), 'i32', e.dtype);
    case 'unary':
      return unaryJs(e.fn, expr(e.x), e.dtype);
    case 'binary':
      return binaryJs(e.fn, expr(e.a), expr(e.b), e.dtype);
    case 'compare':
      return `(${expr(e.a)} ${COMPARE[e.fn]} ${expr(e.b)})`;
    case 'select':
      return `(${expr(e.cond)} ? ${expr(e.a)} : ${expr(e.b)})`;
    case 'cast':
      return convert(expr(e.x), e.x.dtype, e.dtype);
    case 'reduce': {
      const acc = scope.tmp();
      const x = scope.tmp();
      const init = e.fn === 'sum' ? '0' : e.fn === 'max' ? '-Infinity' : 'Infinity';
      const step =
        e.fn === 'sum' ? `${acc} += ${x};` : `${acc} = ${x} ${e.fn === 'max' ? '>' : '<'} ${acc} || ${x} !== ${x} ? ${x} : ${acc};`;
      const inner: string[] = [];
      const body = jsExpr(e.body, scope, inner, [...enclosing, ...e.axes], true);
      const vars = e.axes.map((a) => scope.id(a.name));
      const loop = jsLoops(vars, sizesOf(e.axes), [...inner, `const ${x} = ${body};`, step].join('\n'));
      // a reduction's result is a value of its dtype (an i32 sum wraps like the device's)
      const value = isFloat(e.dtype) ? roundTo(acc, e.dtype as DType) : wrapInt(acc, e.dtype);
      const free = freeVars(e);
      const deps = enclosing.filter((a) => free.has(a.name));
      if (!scope.memo || (!inReduction && deps.length === enclosing.length)) {
        // outside any reduction and depending on every index in scope, each of its values is
        // needed once
        sink.push(`let ${acc} = ${init};`, loop);
        return value;
      }
      const shape = sizesOf(deps);
      const at = (ids: readonly string[]) => jsOffset(shape, ids);
      const table = scope.memo.table(memoKey(e, deps), numel(shape));
      if (table.fresh) {
        // tabulated over its own indices, where it depends on every index in scope (the tables
        // of the reductions inside it are filled first, as they are met)
        const fill: string[] = [];
        const v = jsExpr(e, scope, fill, deps);
        const ids = deps.map((a) => scope.id(a.name));
        scope.memo.fill(jsLoops(ids, shape, [...fill, `${table.id}[${at(ids)}] = ${v};`].join('\n')));
      }
      return `${table.id}[${at(deps.map((a) => scope.id(a.name)))}]`;
    }
    case 'state': {
      if (!scope.state) throw new Error(`internal: state ${e.field} outside a fold`);
      return scope.state(e, e.index.map(int));
    }
    case 'local':
      if (!scope.local) throw new Error(`internal: local ${e.name} outside a fold`);
      return scope.local(e.name);
    case 'fold':
      throw new Error('internal: a fold inside an expression');
    default:
      return assertNever(e, 'expr op');
  }
}

const COMPARE = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '===', ne: '!==' } as const;

function numberLiteral(v: number): string {
  // the evaluator runs the code it builds: only a number may become a literal in it
  if (typeof v !== 'number') throw new ProgramError(`a constant must be a number, got ${JSON.stringify(v)}`);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return Object.is(v, -0) ? '-0' : String(v);
}

function unaryJs(fn: Extract<Expr, { op: 'unary' }>['fn'], x: string, t: ValueType): string {
  switch (fn) {
    case 'neg':
      return wrapInt(`(-(${x}))`, t);
    case 'abs':
      return wrapInt(`Math.abs(${x})`, t);
    case 'exp':
    case 'log':
    case 'sqrt':
    case 'tanh':
    case 'floor':
    case 'ceil':
    case 'sin':
    case 'cos':
      return `Math.${fn}(${x})`;
    case 'rsqrt':
      return `(1 / Math.sqrt(${x}))`;
    case 'recip':
      return `(1 / ${x})`;
    case 'erf':
      return `erf(${x})`;
    case 'sigmoid':
      return `(1 / (1 + Math.exp(-(${x}))))`;
    default:
      return assertNever(fn, 'unary fn');
  }
}

function binaryJs(fn: Extract<Expr, { op: 'binary' }>['fn'], a: string, b: string, t: ValueType): string {
  const int = !isFloat(t);
  switch (fn) {
    case 'add':
      return wrapInt(`(${a} + ${b})`, t);
    case 'sub':
      return wrapInt(`(${a} - ${b})`, t);
    case 'mul':
      return int ? wrapInt(`Math.imul(${a}, ${b})`, t) : `(${a} * ${b})`;
    case 'div':
      return int ? wrapInt(`Math.trunc(${a} / ${b})`, t) : `(${a} / ${b})`;
    case 'mod':
      return wrapInt(`(${a} % ${b})`, t);
    case 'max':
      return `Math.max(${a}, ${b})`;
    case 'min':
      return `Math.min(${a}, ${b})`;
    case 'pow':
      return `Math.pow(${a}, ${b})`;
    default:
      return assertNever(fn, 'binary fn');
  }
}

function wrapInt(x: string, t: ValueType): string {
  if (t === 'i32') return `(${x} | 0)`;
  if (t === 'u32') return `(${x} >>> 0)`;
  return x;
}

/**
 * Value conversion with the device semantics: float to int truncates toward zero and saturates
 * (NaN to 0); int to narrower int wraps; bool to number is 0 or 1.
 */
function convert(x: string, from: ValueType, to: ValueType): string {
  if (from === 'bool') x = `(${x} ? 1 : 0)`;
  if (isFloat(to)) return roundTo(x, to as DType);
  const fromFloat = isFloat(from);
  switch (to) {
    case 'i32':
      return fromFloat ? `satInt(${x}, -2147483648, 2147483647)` : `(${x} | 0)`;
    case 'u32':
      return fromFloat ? `satInt(${x}, 0, 4294967295)` : `(${x} >>> 0)`;
    case 'i8':
      return fromFloat ? `satInt(${x}, -128, 127)` : `((${x} << 24) >> 24)`;
    case 'u4':
      return fromFloat ? `satInt(${x}, 0, 15)` : `(${x} & 15)`;
    case 'i4':
      return fromFloat ? `satInt(${x}, -8, 7)` : `((${x} << 28) >> 28)`;
    case 'bool':
      return `(${x} !== 0)`;
    default:
      throw new Error(`internal: cast to ${to}`);
  }
}

export function roundTo(x: string, t: DType): string {
  switch (t) {
    case 'f32':
      return `Math.fround(${x})`;
    case 'f16':
      return `roundF16(${x})`;
    case 'bf16':
      return `roundBf16(${x})`;
    default:
      return x;
  }
}

/**
 * A scope over the tensors `tensors` (JS `t0`, `t1`, ... in that order), with index variables and
 * temporaries named fresh; `fold` adds a fold's state and locals.
 */
export function jsScope(
  tensors: readonly string[],
  decls: ReadonlyMap<string, TensorDecl>,
  fold: Pick<JsScope, 'state' | 'local'> = {},
): JsScope {
  const ids = new Map<string, string>();
  let n = 0;
  return {
    ...fold,
    id: (v) => {
      let x = ids.get(v);
      if (!x) ids.set(v, (x = `v${ids.size}`));
      return x;
    },
    tensor: (name) => {
      const k = tensors.indexOf(name);
      const decl = decls.get(name);
      if (k < 0 || !decl) throw new Error(`internal: tensor ${name} is not in scope`);
      return { js: `t${k}`, decl };
    },
    tmp: () => `a${n++}`,
  };
}
