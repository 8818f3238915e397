/**
 * Independent, deliberately slow interpreters used as cross-checks in unit tests:
 *
 * - `naiveEvaluate`: a tree-walking interpreter of tensor-IR programs. No hoisting, no code
 *   generation: every element of every statement is computed by recursively evaluating the
 *   expression with an environment of index variables; a reduction loops over its axes right where
 *   it stands. Loads are bounds-checked. It shares no code with src/ beyond the IR types.
 * - `runKernel` / `runPlan`: an interpreter of kernel IR that runs every invocation of every
 *   workgroup, synchronizing at barriers and subgroup operations, and reports out-of-bounds
 *   accesses, reads of uninitialized workgroup memory, divergent barriers and data races. Vector
 *   values are arrays of lanes; f32 / f16 arithmetic rounds after every operation, like a device.
 * - `randomProgram`: seeded random DSL programs (elementwise ops, nested reductions, every view)
 *   over tiny shapes, the inputs for the cross-checks.
 *
 * Numeric conventions (the ones the project documents): values are float64; a value of a float
 * dtype is rounded to it where it is stored, cast, or produced by a reduction (a reduction's
 * result is a value of its dtype); i32 / u32 arithmetic wraps; integer division truncates; `mod`
 * is the truncated remainder; float-to-int casts truncate toward zero and saturate (NaN -> 0);
 * int-to-int casts wrap.
 */
import type { ValueType } from '../../src/ir/dtype.js';
import type { IntExpr } from '../../src/ir/intexpr.js';
import type { Builtin, KExpr, KStmt, KType, Kernel, MatrixStmt } from '../../src/ir/kernel.js';
import type { Expr, FoldDef, Program, TensorDecl } from '../../src/ir/tensor.js';
// only the random-program generator at the end uses these; the interpreters do not
import { type ProgramBuilder, program as buildProgram } from '../../src/dsl/program.js';
import type { Tensor } from '../../src/dsl/tensor.js';
import { rng } from '../../src/ir/host.js';
import { type IntLike, int } from '../../src/ir/intexpr.js';

// ---------------------------------------------------------------------------------------------
// Scalars

const FLOATS: readonly ValueType[] = ['f32', 'f16', 'bf16'];
export const isFloatType = (t: ValueType): boolean => FLOATS.includes(t);

export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Exponent e with 2^e <= a < 2^(e+1), for finite a > 0. */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

/** Rounds to a binary float with `mantissa` stored bits, exponents >= minExp (subnormals below), max finite `max`. */
function roundToFormat(x: number, mantissa: number, minExp: number, max: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const spacing = 2 ** (Math.max(exponentOf(a), minExp) - mantissa);
  const r = roundHalfEven(a / spacing) * spacing;
  const out = r > max ? Infinity : r;
  return x < 0 ? -out : out;
}

export const naiveRoundF16 = (x: number): number => roundToFormat(x, 10, -14, 65504);
/** bf16 is documented as "f32 rounded to nearest even in its top 16 bits": round to f32 first. */
export const naiveRoundBf16 = (x: number): number => roundToFormat(Math.fround(x), 7, -126, (2 - 2 ** -7) * 2 ** 127);

/** IEEE half bits of a value (rounded to nearest even first). */
export function naiveF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const r = naiveRoundF16(x);
  const sign = r < 0 || Object.is(r, -0) ? 0x8000 : 0;
  const a = Math.abs(r);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a * 2 ** 24);
  const e = exponentOf(a);
  return sign | ((e + 15) << 10) | ((a / 2 ** e - 1) * 1024);
}

export function naiveF16FromBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1024 + m) * 2 ** (e - 25);
}

/** Wraps an integer to `bits` bits, two's complement when `signed`. */
export function wrapBits(x: number, bits: number, signed: boolean): number {
  const m = 2 ** bits;
  const r = ((x % m) + m) % m;
  return signed && r >= m / 2 ? r - m : r;
}

const INT_RANGE: Partial<Record<ValueType, readonly [number, number, number, boolean]>> = {
  // [lo, hi, bits, signed]
  i32: [-(2 ** 31), 2 ** 31 - 1, 32, true],
  u32: [0, 2 ** 32 - 1, 32, false],
  i8: [-128, 127, 8, true],
  u4: [0, 15, 4, false],
  i4: [-8, 7, 4, true],
};

/** A value of dtype `t` (rounding floats, wrapping ints). */
export function normalize(t: ValueType, x: number): number {
  switch (t) {
    case 'f32':
      return Math.fround(x);
    case 'f16':
      return naiveRoundF16(x);
    case 'bf16':
      return naiveRoundBf16(x);
    case 'bool':
      return x !== 0 ? 1 : 0;
    default: {
      const [, , bits, signed] = INT_RANGE[t]!;
      return wrapBits(x, bits, signed);
    }
  }
}

export function castValue(x: number, from: ValueType, to: ValueType): number {
  if (from === to) return x;
  if (to === 'bool') return x !== 0 ? 1 : 0;
  if (isFloatType(to)) return normalize(to, x);
  const [lo, hi] = INT_RANGE[to]!;
  if (isFloatType(from)) {
    if (Number.isNaN(x)) return 0;
    return Math.min(hi, Math.max(lo, Math.trunc(x)));
  }
  return normalize(to, x);
}

/** erf by Simpson's rule on 2/sqrt(pi) * integral_0^x exp(-t^2) dt (absolute error ~1e-13). */
export function naiveErf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === 0) return x;
  const a = Math.min(Math.abs(x), 6);
  const n = 4000;
  const h = a / n;
  let s = 1 + Math.exp(-a * a);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * Math.exp(-(i * h) * (i * h));
  const r = ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
  return x < 0 ? -r : r;
}

function intMul(t: ValueType, a: number, b: number): number {
  const p = BigInt(a) * BigInt(b);
  return Number(t === 'u32' ? BigInt.asUintN(32, p) : BigInt.asIntN(32, p));
}

export function unaryValue(fn: string, x: number, t: ValueType): number {
  const int = !isFloatType(t);
  switch (fn) {
    case 'neg':
      return int ? normalize(t, -x) : -x;
    case 'abs':
      return int ? normalize(t, Math.abs(x)) : Math.abs(x);
    case 'exp':
      return Math.exp(x);
    case 'log':
      return Math.log(x);
    case 'sqrt':
      return Math.sqrt(x);
    case 'rsqrt':
      return 1 / Math.sqrt(x);
    case 'tanh':
      return Math.tanh(x);
    case 'erf':
      return naiveErf(x);
    case 'sigmoid':
      return 1 / (1 + Math.exp(-x));
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'sin':
      return Math.sin(x);
    case 'cos':
      return Math.cos(x);
    case 'recip':
      return 1 / x;
    default:
      throw new Error(`naive: unary ${fn}`);
  }
}

export function binaryValue(fn: string, a: number, b: number, t: ValueType): number {
  const int = !isFloatType(t);
  switch (fn) {
    case 'add':
      return int ? normalize(t, a + b) : a + b;
    case 'sub':
      return int ? normalize(t, a - b) : a - b;
    case 'mul':
      return int ? intMul(t, a, b) : a * b;
    case 'div':
      if (!int) return a / b;
      if (b === 0) throw new Error('naive: integer division by zero');
      return normalize(t, Math.trunc(a / b));
    case 'mod':
      if (!int) return a % b;
      if (b === 0) throw new Error('naive: integer remainder by zero');
      return normalize(t, a - b * Math.trunc(a / b));
    case 'max':
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b;
    case 'min':
      return Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b;
    case 'pow':
      return Math.pow(a, b);
    default:
      throw new Error(`naive: binary ${fn}`);
  }
}

export function compareValue(fn: string, a: number, b: number): number {
  switch (fn) {
    case 'lt':
      return a < b ? 1 : 0;
    case 'le':
      return a <= b ? 1 : 0;
    case 'gt':
      return a > b ? 1 : 0;
    case 'ge':
      return a >= b ? 1 : 0;
    case 'eq':
      return a === b ? 1 : 0;
    case 'ne':
      return a !== b ? 1 : 0;
    default:
      throw new Error(`naive: compare ${fn}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor IR

export function naiveInt(e: IntExpr, sizes: Readonly<Record<string, number>>, vars: Readonly<Record<string, number>>): number {
  switch (e.op) {
    case 'int':
      return e.value;
    case 'sym': {
      const v = sizes[e.name];
      if (v === undefined) throw new Error(`naive: size ${e.name} unbound`);
      return v;
    }
    case 'var': {
      const v = vars[e.name];
      if (v === undefined) throw new Error(`naive: index ${e.name} unbound`);
      return v;
    }
    default: {
      const a = naiveInt(e.a, sizes, vars);
      const b = naiveInt(e.b, sizes, vars);
      switch (e.op) {
        case 'add':
          return a + b;
        case 'sub':
          return a - b;
        case 'mul':
          return a * b;
        case 'floordiv':
          if (b === 0) throw new Error('naive: floordiv by zero');
          return Math.floor(a / b);
        case 'mod':
          if (b === 0) throw new Error('naive: mod by zero');
          return a - b * Math.floor(a / b);
        case 'min':
          return Math.min(a, b);
        case 'max':
          return Math.max(a, b);
      }
    }
  }
}

/** Calls `f` with every multi-index of `shape`, row-major (the first axis outermost). */
export function forEachIndex(shape: readonly number[], f: (idx: readonly number[]) => void): void {
  const idx = shape.map(() => 0);
  const go = (k: number): void => {
    if (k === shape.length) {
      f(idx);
      return;
    }
    for (let v = 0; v < shape[k]!; v++) {
      idx[k] = v;
      go(k + 1);
    }
  };
  go(0);
}

/** A fold's state: each field's elements, row-major over the field's axes. */
export type NaiveState = ReadonlyMap<string, Float64Array>;

/** Where a fold part is evaluated: the fold, its running (and in a merge, other) state and the step's locals. */
export interface NaiveFoldEnv {
  readonly def: FoldDef;
  readonly self?: NaiveState;
  readonly other?: NaiveState;
  readonly locals?: ReadonlyMap<string, number>;
}

export type NaiveExprFn = (e: Expr, vars: Readonly<Record<string, number>>, fold?: NaiveFoldEnv) => number;

/** A tree-walking evaluator of expressions over the given tensors' values. */
export function naiveExprEvaluator(
  decls: readonly TensorDecl[],
  data: Readonly<Record<string, ArrayLike<number>>>,
  sizes: Readonly<Record<string, number>>,
): NaiveExprFn {
  const tensors = new Map<string, { decl: TensorDecl; shape: number[]; data: ArrayLike<number> }>();
  for (const t of decls) {
    const d = data[t.name];
    if (d) tensors.set(t.name, { decl: t, shape: t.axes.map((a) => naiveInt(a.size, sizes, {})), data: d });
  }
  const flatIndex = (index: readonly IntExpr[], shape: readonly number[], vars: Readonly<Record<string, number>>, what: string) => {
    let flat = 0;
    index.forEach((ix, k) => {
      const i = naiveInt(ix, sizes, vars);
      const n = shape[k]!;
      if (!(i >= 0 && i < n)) throw new Error(`naive: ${what} index ${i} out of range on axis ${k} (size ${n})`);
      flat = flat * n + i;
    });
    return flat;
  };
  const evalExpr: NaiveExprFn = (e, vars, fold) => {
    const ev = (x: Expr, v = vars) => evalExpr(x, v, fold);
    switch (e.op) {
      case 'const':
        return normalize(e.dtype, e.value);
      case 'load': {
        const t = tensors.get(e.tensor);
        if (!t) throw new Error(`naive: ${e.tensor} read before it is computed`);
        return t.data[flatIndex(e.index, t.shape, vars, e.tensor)]!;
      }
      case 'iota':
        return castValue(naiveInt(e.index, sizes, vars), 'i32', e.dtype);
      case 'unary':
        return unaryValue(e.fn, ev(e.x), e.dtype);
      case 'binary':
        return binaryValue(e.fn, ev(e.a), ev(e.b), e.dtype);
      case 'compare':
        return compareValue(e.fn, ev(e.a), ev(e.b));
      case 'select':
        return ev(e.cond) !== 0 ? ev(e.a) : ev(e.b);
      case 'cast':
        return castValue(ev(e.x), e.x.dtype, e.dtype);
      case 'reduce': {
        const shape = e.axes.map((a) => naiveInt(a.size, sizes, vars));
        let acc = e.fn === 'sum' ? 0 : e.fn === 'max' ? -Infinity : Infinity;
        let nan = false;
        forEachIndex(shape, (idx) => {
          const inner: Record<string, number> = { ...vars };
          e.axes.forEach((a, k) => (inner[a.name] = idx[k]!));
          const x = ev(e.body, inner);
          if (Number.isNaN(x)) nan = true;
          if (e.fn === 'sum') acc += x;
          else if (e.fn === 'max') acc = Math.max(acc, x);
          else acc = Math.min(acc, x);
        });
        if (nan) return NaN;
        return normalize(e.dtype, acc);
      }
      case 'state': {
        const st = e.of === 'self' ? fold?.self : fold?.other;
        const f = fold?.def.state.find((x) => x.name === e.field);
        const buf = st?.get(e.field);
        if (!f || !buf) throw new Error(`naive: state ${e.field} (${e.of}) is not available here`);
        return buf[flatIndex(e.index, f.axes.map((a) => naiveInt(a.size, sizes, {})), vars, `state ${e.field}`)]!;
      }
      case 'local': {
        const v = fold?.locals?.get(e.name);
        if (v === undefined) throw new Error(`naive: local ${e.name} is not available here`);
        return v;
      }
      case 'fold':
        throw new Error('naive: a fold inside an expression');
    }
  };
  return evalExpr;
}

/** The pieces of a fold's semantics, one outer point at a time (`vars` binds the outer axes). */
export interface NaiveFold {
  init(vars: Readonly<Record<string, number>>): NaiveState;
  /** The state after the step at `vars` (outer and step axes bound). */
  step(s: NaiveState, vars: Readonly<Record<string, number>>): NaiveState;
  merge(a: NaiveState, b: NaiveState, vars: Readonly<Record<string, number>>): NaiveState;
  /** Output k's elements, row-major over its own axes (`vars` binds outer axes and a scan's step). */
  output(s: NaiveState, k: number, vars: Readonly<Record<string, number>>): number[];
  /** The step indices, row-major over `over`. */
  readonly steps: readonly (readonly number[])[];
}

export function naiveFold(def: FoldDef, sizes: Readonly<Record<string, number>>, evalExpr: NaiveExprFn): NaiveFold {
  const shape = (axes: readonly { size: IntExpr }[]) => axes.map((a) => naiveInt(a.size, sizes, {}));
  const perField = (exprs: readonly Expr[], vars: Readonly<Record<string, number>>, env: Omit<NaiveFoldEnv, 'def'>): NaiveState =>
    new Map(
      def.state.map((f, i) => {
        const out: number[] = [];
        forEachIndex(shape(f.axes), (idx) => {
          const v: Record<string, number> = { ...vars };
          f.axes.forEach((a, k) => (v[a.name] = idx[k]!));
          out.push(evalExpr(exprs[i]!, v, { def, ...env }));
        });
        return [f.name, Float64Array.from(out)];
      }),
    );
  const steps: number[][] = [];
  forEachIndex(shape(def.over), (idx) => steps.push([...idx]));
  return {
    steps,
    init: (vars) => perField(def.init, vars, {}),
    step: (s, vars) => {
      const locals = new Map<string, number>();
      for (const l of def.locals) locals.set(l.name, evalExpr(l.expr, vars, { def, self: s, locals }));
      return perField(def.update, vars, { self: s, locals });
    },
    merge: (a, b, vars) => perField(def.merge, vars, { self: a, other: b }),
    output: (s, k, vars) => {
      const o = def.outputs[k]!;
      const out: number[] = [];
      forEachIndex(shape(o.axes), (idx) => {
        const v: Record<string, number> = { ...vars };
        o.axes.forEach((a, j) => (v[a.name] = idx[j]!));
        out.push(evalExpr(o.expr, v, { def, self: s }));
      });
      return out;
    },
  };
}

/**
 * Evaluates a tensor-IR program on logical input values (each already a value of its dtype), and
 * returns the values of every statement target, row-major over the target's axes. A fold
 * statement runs its definition step by step for each outer point (state in float64).
 */
export function naiveEvaluate(
  p: Program,
  sizes: Readonly<Record<string, number>>,
  inputs: Readonly<Record<string, ArrayLike<number>>>,
): Record<string, Float64Array> {
  const data: Record<string, ArrayLike<number>> = {};
  const decls: TensorDecl[] = [];
  const shapeOf = (t: TensorDecl) => t.axes.map((a) => naiveInt(a.size, sizes, {}));
  for (const t of p.inputs) {
    const v = inputs[t.name];
    if (!v) throw new Error(`naive: missing input ${t.name}`);
    const n = shapeOf(t).reduce((a, b) => a * b, 1);
    if (v.length !== n) throw new Error(`naive: input ${t.name} has ${v.length} values, wants ${n}`);
    data[t.name] = Float64Array.from(v);
    decls.push(t);
  }

  const out: Record<string, Float64Array> = {};
  for (const s of p.stmts) {
    const shape = shapeOf(s.target);
    const values = new Float64Array(shape.reduce((a, b) => a * b, 1));
    const evalExpr = naiveExprEvaluator(decls, data, sizes);
    const store = (o: number, v: number) => {
      const stored = normalize(s.target.dtype, v);
      if (!isFloatType(s.target.dtype) && stored !== v) {
        throw new Error(`naive: ${s.target.name} = ${v} does not fit ${s.target.dtype}`);
      }
      values[o] = stored;
    };
    let o = 0;
    const e = s.expr;
    if (e.op === 'fold') {
      const d = e.def;
      const f = naiveFold(d, sizes, evalExpr);
      forEachIndex(shapeOf({ ...s.target, axes: d.outer }), (idx) => {
        const vars: Record<string, number> = {};
        d.outer.forEach((a, k) => (vars[a.name] = idx[k]!));
        let st = f.init(vars);
        for (const step of f.steps) {
          const v: Record<string, number> = { ...vars };
          d.over.forEach((a, k) => (v[a.name] = step[k]!));
          st = f.step(st, v);
          if (d.kind === 'scan') for (const x of f.output(st, e.output, v)) store(o++, x);
        }
        if (d.kind === 'fold') for (const x of f.output(st, e.output, vars)) store(o++, x);
      });
    } else {
      forEachIndex(shape, (idx) => {
        const vars: Record<string, number> = {};
        s.target.axes.forEach((a, k) => (vars[a.name] = idx[k]!));
        store(o++, evalExpr(e, vars));
      });
    }
    data[s.target.name] = values;
    decls.push(s.target);
    out[s.target.name] = values;
  }
  return out;
}

/** Equal as values: NaN equals NaN, and -0 equals 0. */
export const sameValue = (a: number, b: number): boolean => a === b || (Number.isNaN(a) && Number.isNaN(b));

/** Index of the first element where `a` and `b` differ by more than `rtol * |b| + atol`, or -1. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>, rtol = 0, atol = 0): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (sameValue(x, y)) continue;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Kernel IR

export interface RunKernelOptions {
  /** Lanes per subgroup (invocations are grouped by local index). */
  readonly subgroupSize?: number;
  /** Report two invocations touching one element without a barrier between them (default true). */
  readonly detectRaces?: boolean;
  /** Run-time values of the dynamic sizes the kernel reads (`param`), by name. */
  readonly params?: Readonly<Record<string, number>>;
}

type Yield =
  | { readonly kind: 'barrier' }
  | { readonly kind: 'subgroup'; readonly fn: 'sum' | 'max' | 'min'; readonly value: number; readonly type: KType }
  | { readonly kind: 'shuffle'; readonly value: number; readonly lane: number }
  /** A cooperative matrix statement, with its offset as this lane computed it. */
  | { readonly kind: 'matrix'; readonly stmt: MatrixStmt; readonly offset: number };

interface Access {
  writer?: number;
  writeEpoch?: number;
  readers?: Set<number>;
  readEpoch?: number;
}

/**
 * Runs a kernel on `memory` (global buffer name -> element values; for a u32-word buffer the words).
 * Global buffers are updated in place. Throws on out-of-bounds or uninitialized accesses, barrier
 * divergence, non-uniform subgroup operations and (by default) data races.
 */
export function runKernel(k: Kernel, memory: Readonly<Record<string, Float64Array>>, options: RunKernelOptions = {}): void {
  const sgSize = options.subgroupSize ?? 32;
  const detect = options.detectRaces ?? true;
  const [wx, wy, wz] = k.workgroup;
  const W = wx * wy * wz;
  const [gx, gy, gz] = k.grid;
  const buffers = new Map(k.buffers.map((b) => [b.name, b]));
  for (const b of k.buffers) {
    if (b.scope !== 'global') continue;
    const m = memory[b.name];
    if (!m) throw new Error(`kernel ${k.name}: no memory for global ${b.name}`);
    if (m.length !== b.length) throw new Error(`kernel ${k.name}: memory for ${b.name} has ${m.length} elements, buffer wants ${b.length}`);
  }
  // global race tracking: element -> the (workgroup, invocation) that wrote it
  const globalWriters = new Map<string, Map<number, number>>();
  const fail = (msg: string): never => {
    throw new Error(`kernel ${k.name}: ${msg}`);
  };

  for (let z = 0; z < gz; z++)
    for (let y = 0; y < gy; y++)
      for (let x = 0; x < gx; x++) {
        const wgId = x + gx * (y + gy * z);
        const shared = new Map<string, (number | undefined)[]>();
        for (const b of k.buffers) if (b.scope === 'workgroup') shared.set(b.name, new Array<number | undefined>(b.length).fill(undefined));
        const sharedAccess = new Map<string, Map<number, Access>>();
        let epoch = 0;

        const accessShared = (buffer: string, index: number, inv: number, write: boolean, atomic: boolean) => {
          if (!detect || atomic) return;
          let m = sharedAccess.get(buffer);
          if (!m) sharedAccess.set(buffer, (m = new Map()));
          let a = m.get(index);
          if (!a) m.set(index, (a = {}));
          if (a.writeEpoch === epoch && a.writer !== inv) fail(`race on ${buffer}[${index}]: invocations ${a.writer} and ${inv} without a barrier`);
          if (write) {
            if (a.readEpoch === epoch && a.readers && [...a.readers].some((r) => r !== inv)) {
              fail(`race on ${buffer}[${index}]: invocation ${inv} writes what another read without a barrier`);
            }
            a.writer = inv;
            a.writeEpoch = epoch;
          } else {
            if (a.readEpoch !== epoch) {
              a.readEpoch = epoch;
              a.readers = new Set();
            }
            a.readers!.add(inv);
          }
        };
        const accessGlobal = (buffer: string, index: number, inv: number, write: boolean, atomic: boolean) => {
          if (!detect || atomic) return;
          const who = wgId * W + inv;
          let m = globalWriters.get(buffer);
          if (!m) globalWriters.set(buffer, (m = new Map()));
          const w = m.get(index);
          if (w !== undefined && w !== who) fail(`race on global ${buffer}[${index}]: written by invocation ${w}, then accessed by ${who}`);
          if (write) m.set(index, who);
        };

        const invocation = function* (li: number): Generator<Yield, void, number> {
          // every value is an array with one entry per lane (a scalar has one)
          const env = new Map<string, number[]>();
          // private arrays: each invocation its own, uninitialized
          const own = new Map<string, (number | undefined)[]>();
          for (const b of k.buffers) if (b.scope === 'private') own.set(b.name, new Array<number | undefined>(b.length).fill(undefined));
          const builtin = (name: Builtin): number => {
            switch (name) {
              case 'local_index':
                return li;
              case 'local_id_x':
                return li % wx;
              case 'local_id_y':
                return Math.floor(li / wx) % wy;
              case 'local_id_z':
                return Math.floor(li / (wx * wy));
              case 'group_id_x':
                return x;
              case 'group_id_y':
                return y;
              case 'group_id_z':
                return z;
              case 'num_groups_x':
                return gx;
              case 'num_groups_y':
                return gy;
              case 'num_groups_z':
                return gz;
              case 'subgroup_size':
                return sgSize;
              case 'subgroup_lane':
                return li % sgSize;
            }
          };
          const memOf = (buffer: string, index: number, write: boolean, atomic = false): (number | undefined)[] | Float64Array => {
            const b = buffers.get(buffer) ?? fail(`undeclared buffer ${buffer}`);
            if (!Number.isInteger(index) || index < 0 || index >= b.length) fail(`${buffer}[${index}] is out of bounds (length ${b.length})`);
            if (b.scope === 'global') {
              if (write && b.access === 'read') fail(`store into read-only ${buffer}`);
              accessGlobal(buffer, index, li, write, atomic || b.atomic === true);
              return memory[buffer]!;
            }
            if (b.scope === 'private') return own.get(buffer)!;
            accessShared(buffer, index, li, write, atomic || b.atomic === true);
            return shared.get(buffer)!;
          };
          const read = (buffer: string, index: number): number => {
            const v = memOf(buffer, index, false)[index];
            if (v === undefined) fail(`${buffer}[${index}] is read before it is written`);
            return v!;
          };
          const scalar = (v: number[], what: string): number => {
            if (v.length !== 1) fail(`${what} must be a scalar`);
            return v[0]!;
          };
          /** Lane-wise over operands; a one-lane operand is broadcast (shift amounts, conditions). */
          const lanewise = (lanes: number, args: number[][], f: (...xs: number[]) => number): number[] =>
            Array.from({ length: lanes }, (_, l) => f(...args.map((a) => (a.length === 1 ? a[0]! : a[l]!))));
          const expr = (e: KExpr): number[] => {
            const t = e.type.scalar;
            const lanes = e.type.lanes;
            switch (e.op) {
              case 'const':
                return new Array<number>(lanes).fill(normalize(t, e.value));
              case 'ref': {
                const v = env.get(e.name);
                if (v === undefined) fail(`${e.name} is not defined`);
                if (v!.length !== lanes) fail(`${e.name} has ${v!.length} lanes, used with ${lanes}`);
                return v!;
              }
              case 'builtin':
                return [builtin(e.name)];
              case 'param': {
                if (!(k.params ?? []).includes(e.name)) fail(`param ${e.name} is not listed in the kernel's params`);
                const v = options.params?.[e.name];
                if (v === undefined) return fail(`no value for param ${e.name}; pass it in options.params`);
                return [v];
              }
              case 'load': {
                const i = scalar(expr(e.index), `the index into ${e.buffer}`);
                if (i % lanes !== 0) fail(`vector load of ${e.buffer} at ${i} is not aligned to ${lanes}`);
                return Array.from({ length: lanes }, (_, l) => read(e.buffer, i + l));
              }
              case 'unary':
                return lanewise(lanes, [expr(e.x)], (v) => kernelUnary(e.fn, v, e.x.type.scalar, t));
              case 'binary':
                return lanewise(lanes, [expr(e.a), expr(e.b)], (a, b) => kernelBinary(e.fn, a, b, e.a.type.scalar, t));
              case 'select':
                return lanewise(lanes, [expr(e.cond), expr(e.a), expr(e.b)], (c, a, b) => (c !== 0 ? a : b));
              case 'cast':
                return lanewise(lanes, [expr(e.x)], (v) => castValue(v, e.x.type.scalar, t));
              case 'bitcast':
                return lanewise(lanes, [expr(e.x)], (v) => bitcast(v, e.x.type.scalar, t));
              case 'extract': {
                const v = expr(e.x);
                if (e.lane >= v.length) fail(`lane ${e.lane} of a ${v.length}-lane vector`);
                return [v[e.lane]!];
              }
              case 'vector': {
                const parts = e.parts.map((p) => scalar(expr(p), 'a vector part'));
                if (parts.length === 1) return new Array<number>(lanes).fill(parts[0]!);
                if (parts.length !== lanes) fail(`a ${lanes}-lane vector built from ${parts.length} parts`);
                return parts;
              }
              case 'subgroup':
              case 'shuffle':
                return fail('a subgroup operation is supported only as the whole value of a let');
            }
          };
          const stmts = function* (body: readonly KStmt[]): Generator<Yield, void, number> {
            for (const s of body) {
              switch (s.op) {
                case 'let':
                  if (s.value.op === 'subgroup') {
                    const v = scalar(expr(s.value.x), 'a subgroup operand');
                    env.set(s.name, [yield { kind: 'subgroup', fn: s.value.fn, value: v, type: s.value.type }]);
                  } else if (s.value.op === 'shuffle') {
                    const v = scalar(expr(s.value.x), 'a shuffle operand');
                    const lane = scalar(expr(s.value.lane), 'a shuffle lane');
                    env.set(s.name, [yield { kind: 'shuffle', value: v, lane }]);
                  } else env.set(s.name, expr(s.value));
                  break;
                case 'var':
                  env.set(s.name, s.init ? expr(s.init) : new Array<number>(s.type.lanes).fill(0));
                  break;
                case 'assign':
                  if (!env.has(s.name)) fail(`assignment to undefined ${s.name}`);
                  env.set(s.name, expr(s.value));
                  break;
                case 'store': {
                  const i = scalar(expr(s.index), `the index into ${s.buffer}`);
                  const v = expr(s.value);
                  const b = buffers.get(s.buffer) ?? fail(`undeclared buffer ${s.buffer}`);
                  if (i % v.length !== 0) fail(`vector store to ${s.buffer} at ${i} is not aligned to ${v.length}`);
                  v.forEach((x, l) => (memOf(s.buffer, i + l, true)[i + l] = normalize(b.dtype, x)));
                  break;
                }
                case 'atomic': {
                  const i = scalar(expr(s.index), `the index into ${s.buffer}`);
                  const v = scalar(expr(s.value), 'an atomic operand');
                  const b = buffers.get(s.buffer) ?? fail(`undeclared buffer ${s.buffer}`);
                  if (!b.atomic) fail(`atomic on non-atomic ${s.buffer}`);
                  const arr = memOf(s.buffer, i, true, true);
                  const old = arr[i] ?? fail(`${s.buffer}[${i}] is read before it is written`);
                  const nv =
                    s.fn === 'add' ? old + v : s.fn === 'max' ? Math.max(old, v) : s.fn === 'min' ? Math.min(old, v) : s.fn === 'and' ? old & v : old | v;
                  arr[i] = normalize(b.dtype, nv);
                  if (s.result) env.set(s.result, [old]);
                  break;
                }
                case 'for': {
                  const step = scalar(expr(s.step), 'a loop step');
                  if (step <= 0) fail(`loop ${s.var} has step ${step}`);
                  for (let v = scalar(expr(s.start), 'a loop start'); v < scalar(expr(s.end), 'a loop end'); v += step) {
                    env.set(s.var, [v]);
                    yield* stmts(s.body);
                  }
                  break;
                }
                case 'if':
                  if (scalar(expr(s.cond), 'a condition') !== 0) yield* stmts(s.then);
                  else yield* stmts(s.else);
                  break;
                case 'barrier':
                  yield { kind: 'barrier' };
                  break;
                case 'comment':
                  break;
                case 'matrixLoad':
                case 'matrixStore':
                  yield { kind: 'matrix', stmt: s, offset: scalar(expr(s.offset), `the offset into ${s.buffer}`) };
                  break;
                case 'matrixDecl':
                case 'matrixFill':
                case 'matrixMma':
                  yield { kind: 'matrix', stmt: s, offset: 0 };
                  break;
              }
            }
          };
          yield* stmts(k.body);
        };

        // cooperative matrices: one set of 16x16 tiles per subgroup, executed once for all lanes
        const fragments = new Map<string, { role: string; dtype: ValueType; v: Float64Array }>();
        const T16 = 16;
        const runMatrix = (base: number, s: MatrixStmt, offset: number) => {
          const key = (name: string) => `${base}:${name}`;
          const frag = (name: string) => fragments.get(key(name)) ?? fail(`matrix ${name} used before it is declared`);
          const sharedArr = (buffer: string) => {
            const b = buffers.get(buffer) ?? fail(`undeclared buffer ${buffer}`);
            if (b.scope !== 'workgroup') fail(`matrix access to non-workgroup buffer ${buffer}`);
            return { b, arr: shared.get(buffer)! };
          };
          switch (s.op) {
            case 'matrixDecl':
              fragments.set(key(s.name), { role: s.role, dtype: s.dtype, v: new Float64Array(T16 * T16) });
              return;
            case 'matrixFill':
              frag(s.name).v.fill(s.value);
              return;
            case 'matrixLoad': {
              const f = frag(s.name);
              const { b, arr } = sharedArr(s.buffer);
              for (let r = 0; r < T16; r++)
                for (let c = 0; c < T16; c++) {
                  const i = s.layout === 'row' ? offset + r * s.stride + c : offset + r + c * s.stride;
                  if (i < 0 || i >= b.length) fail(`matrix load ${s.buffer}[${i}] is out of bounds`);
                  const x = arr[i];
                  if (x === undefined) fail(`matrix load reads ${s.buffer}[${i}] before it is written`);
                  accessShared(s.buffer, i, base, false, false);
                  f.v[r * T16 + c] = normalize(f.dtype, x!);
                }
              return;
            }
            case 'matrixMma': {
              const acc = frag(s.acc);
              const a = frag(s.a);
              const bb = frag(s.b);
              for (let r = 0; r < T16; r++)
                for (let c = 0; c < T16; c++) {
                  let sum = acc.v[r * T16 + c]!;
                  for (let q = 0; q < T16; q++) sum += a.v[r * T16 + q]! * bb.v[q * T16 + c]!;
                  acc.v[r * T16 + c] = normalize('f32', sum);
                }
              return;
            }
            case 'matrixStore': {
              const f = frag(s.name);
              const { b, arr } = sharedArr(s.buffer);
              for (let r = 0; r < T16; r++)
                for (let c = 0; c < T16; c++) {
                  const i = offset + r * s.stride + c;
                  if (i < 0 || i >= b.length) fail(`matrix store ${s.buffer}[${i}] is out of bounds`);
                  accessShared(s.buffer, i, base, true, false);
                  arr[i] = f.v[r * T16 + c]!;
                }
              return;
            }
          }
        };

        // the scheduler: run every invocation to its next barrier / subgroup op, then release
        const gens = Array.from({ length: W }, (_, li) => invocation(li));
        type State = { kind: 'ready'; resume: number } | { kind: 'done' } | Yield;
        const state: State[] = gens.map(() => ({ kind: 'ready', resume: 0 }));
        for (;;) {
          for (let li = 0; li < W; li++) {
            const st = state[li]!;
            if (st.kind !== 'ready') continue;
            const r = gens[li]!.next(st.resume);
            state[li] = r.done ? { kind: 'done' } : r.value;
          }
          // subgroup operations: every member of a subgroup must be at one
          let progressed = false;
          for (let base = 0; base < W; base += sgSize) {
            const members = state.slice(base, base + sgSize);
            const atMatrix = members.filter((s) => s.kind === 'matrix') as Extract<Yield, { kind: 'matrix' }>[];
            if (atMatrix.length > 0) {
              if (atMatrix.length !== members.length || atMatrix.some((s) => s.stmt !== atMatrix[0]!.stmt)) {
                fail(`non-uniform matrix operation in subgroup at ${base}`);
              }
              if (atMatrix.some((s) => s.offset !== atMatrix[0]!.offset)) fail(`matrix offsets differ across subgroup at ${base}`);
              runMatrix(base, atMatrix[0]!.stmt, atMatrix[0]!.offset);
              for (let j = 0; j < members.length; j++) state[base + j] = { kind: 'ready', resume: 0 };
              progressed = true;
              continue;
            }
            const shuffles = members.filter((s) => s.kind === 'shuffle') as Extract<Yield, { kind: 'shuffle' }>[];
            if (shuffles.length > 0) {
              if (shuffles.length !== members.length) fail(`non-uniform subgroup shuffle in subgroup at ${base}`);
              const vals = shuffles.map((s) => s.value);
              for (let j = 0; j < members.length; j++) {
                const from = shuffles[j]!.lane;
                if (!Number.isInteger(from) || from < 0 || from >= members.length) fail(`shuffle from lane ${from} in a subgroup of ${members.length}`);
                state[base + j] = { kind: 'ready', resume: vals[from]! };
              }
              progressed = true;
              continue;
            }
            const at = members.filter((s) => s.kind === 'subgroup');
            if (at.length === 0) continue;
            if (at.length !== members.length) fail(`non-uniform subgroup operation in subgroup at ${base}`);
            const first = at[0] as Extract<Yield, { kind: 'subgroup' }>;
            const vals = (at as Extract<Yield, { kind: 'subgroup' }>[]).map((s) => s.value);
            const total =
              first.fn === 'sum'
                ? vals.reduce((a, b) => normalize(first.type.scalar, a + b))
                : vals.reduce((a, b) => (first.fn === 'max' ? Math.max(a, b) : Math.min(a, b)));
            for (let j = 0; j < members.length; j++) state[base + j] = { kind: 'ready', resume: total };
            progressed = true;
          }
          if (progressed) continue;
          const kinds = new Set(state.map((s) => s.kind));
          if (kinds.size === 1 && kinds.has('done')) break;
          if (kinds.size === 1 && kinds.has('barrier')) {
            epoch++;
            for (let li = 0; li < W; li++) state[li] = { kind: 'ready', resume: 0 };
            continue;
          }
          fail(`barrier divergence in workgroup ${wgId}: ${[...kinds].join(', ')}`);
        }
      }
}

function kernelUnary(fn: string, x: number, from: ValueType, t: ValueType): number {
  switch (fn) {
    case 'not':
      return x !== 0 ? 0 : 1;
    case 'bitnot':
      return normalize(t, ~x);
    case 'f16_from_bits':
      return naiveF16FromBits(x & 0xffff);
    case 'f16_to_bits':
      return naiveF16Bits(x);
    default:
      return normalize(t, unaryValue(fn, x, from));
  }
}

function kernelBinary(fn: string, a: number, b: number, from: ValueType, t: ValueType): number {
  switch (fn) {
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
    case 'eq':
    case 'ne':
      return compareValue(fn, a, b);
    case 'land':
      return a !== 0 && b !== 0 ? 1 : 0;
    case 'lor':
      return a !== 0 || b !== 0 ? 1 : 0;
    case 'and':
      return normalize(t, a & b);
    case 'or':
      return normalize(t, a | b);
    case 'xor':
      return normalize(t, a ^ b);
    case 'shl':
    case 'shr': {
      if (!(b >= 0 && b < 32)) throw new Error(`shift by ${b}`);
      if (fn === 'shl') return normalize(t, a << b);
      return from === 'u32' ? (a >>> b) >>> 0 : a >> b;
    }
    default:
      return normalize(t, binaryValue(fn, a, b, from));
  }
}

function bitcast(x: number, from: ValueType, to: ValueType): number {
  const dv = new DataView(new ArrayBuffer(4));
  if (from === 'f32') dv.setFloat32(0, x, true);
  else if (from === 'i32') dv.setInt32(0, x, true);
  else if (from === 'u32') dv.setUint32(0, x, true);
  else throw new Error(`bitcast from ${from}`);
  if (to === 'f32') return dv.getFloat32(0, true);
  if (to === 'i32') return dv.getInt32(0, true);
  if (to === 'u32') return dv.getUint32(0, true);
  throw new Error(`bitcast to ${to}`);
}

/**
 * Runs a plan's kernels in order on logical values (un-legalized kernels): inputs from `inputs`,
 * every other tensor starting as NaN so a read of an element no kernel wrote shows up.
 */
export function runPlan(
  plan: { readonly tensors: readonly { readonly name: string; readonly shape: readonly number[] }[]; readonly kernels: readonly Kernel[] },
  inputs: Readonly<Record<string, ArrayLike<number>>>,
  options: RunKernelOptions = {},
): Record<string, Float64Array> {
  const memory: Record<string, Float64Array> = {};
  for (const t of plan.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const v = inputs[t.name];
    memory[t.name] = v ? Float64Array.from(v) : new Float64Array(n).fill(NaN);
  }
  for (const k of plan.kernels) {
    const mine: Record<string, Float64Array> = {};
    for (const b of k.buffers) if (b.scope === 'global') mine[b.name] = memory[b.name] ?? new Float64Array(b.length).fill(NaN);
    runKernel(k, mine, options);
  }
  return memory;
}

/** Memory for an un-legalized kernel: each global buffer as its elements' logical values. */
export function logicalMemory(k: Kernel, values: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const b of k.buffers) {
    if (b.scope !== 'global') continue;
    const v = values[b.name];
    out[b.name] = v ? Float64Array.from(v) : new Float64Array(b.length).fill(NaN);
  }
  return out;
}


// ---------------------------------------------------------------------------------------------
// Random programs (built with the DSL) for the cross-checks

export interface RandomProgram {
  readonly program: Program;
  readonly sizes: Readonly<Record<string, number>>;
  /** Logical input values, each representable in its dtype. */
  readonly inputs: Readonly<Record<string, readonly number[]>>;
  readonly dtype: 'f32' | 'i32';
  /** The ops used, for failure messages. */
  readonly ops: readonly string[];
  /** Uses erf, whose two implementations agree to ~1e-13 rather than exactly. */
  readonly approximate: boolean;
}

export interface RandomProgramOptions {
  /** Leave out ops whose result jumps under a tiny change of an operand (floor, comparisons, float->int casts, f16 round trips). */
  readonly continuous?: boolean;
  readonly maxSize?: number;
}

type T = Tensor<'f32' | 'i32', string>;

/**
 * A random program over inputs A[i: N, j: M], B[j: M, k: K], C[k: K] mixing elementwise ops,
 * reductions (nested too) and every view, with tiny sizes. Deterministic in `seed`.
 */
export function randomProgram(seed: number, options: RandomProgramOptions = {}): RandomProgram {
  const r = rng(seed);
  const pick = <X>(xs: readonly X[]): X => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number) => r() < p;
  const maxSize = options.maxSize ?? 4;
  const dtype: 'f32' | 'i32' = chance(0.7) ? 'f32' : 'i32';
  const symbolic = chance(0.5);
  const sizes = { N: 1 + Math.floor(r() * maxSize), M: 1 + Math.floor(r() * maxSize), K: 1 + Math.floor(r() * maxSize) };
  const ops: string[] = [];
  let approximate = false;
  let fresh = 0;
  const freshAxis = () => `a${fresh++}`;
  const inputs: Record<string, number[]> = {};
  const value = () => (dtype === 'f32' ? Math.fround(-2 + 4 * r()) : Math.floor(r() * 2001) - 1000);

  const program = buildProgram(`random${seed}`, (b: ProgramBuilder) => {
    const sz = (name: 'N' | 'M' | 'K'): IntLike => (symbolic ? b.size(name) : sizes[name]);
    const A = b.input('A', dtype, { i: sz('N'), j: sz('M') });
    const B = b.input('B', dtype, { j: sz('M'), k: sz('K') });
    const C = b.input('C', dtype, { k: sz('K') });
    inputs.A = Array.from({ length: sizes.N * sizes.M }, value);
    inputs.B = Array.from({ length: sizes.M * sizes.K }, value);
    inputs.C = Array.from({ length: sizes.K }, value);
    const pool: T[] = [A as T, B as T, C as T];
    const intSize = (t: T, axis: string): number | undefined => {
      const s = t.size(axis);
      return s.op === 'int' ? s.value : undefined;
    };
    const positive = (t: T): T => t.abs().add(1) as T; // never zero, even after i32 wrapping

    const unary = (t: T): T => {
      if (dtype === 'i32') {
        const fn = pick(['neg', 'abs', 'wrap8', 'half'] as const);
        ops.push(fn);
        if (fn === 'neg') return t.neg() as T;
        if (fn === 'abs') return t.abs() as T;
        if (fn === 'wrap8') return t.cast('i8').cast('i32') as T;
        return (options.continuous ? t : t.cast('f32').mul(0.5).cast('i32')) as T;
      }
      const fns = ['neg', 'abs', 'tanh', 'sigmoid', 'sin', 'cos', 'exptanh', 'sqrtabs', 'recip', 'rsqrt', 'erf', 'log'] as const;
      const disc = ['floor', 'ceil', 'f16', 'bf16', 'trunc'] as const;
      const fn = pick(options.continuous ? fns : [...fns, ...disc]);
      ops.push(fn);
      switch (fn) {
        case 'neg':
          return t.neg() as T;
        case 'abs':
          return t.abs() as T;
        case 'tanh':
          return t.tanh() as T;
        case 'sigmoid':
          return t.sigmoid() as T;
        case 'sin':
          return t.sin() as T;
        case 'cos':
          return t.cos() as T;
        case 'exptanh':
          return t.tanh().exp() as T;
        case 'sqrtabs':
          return t.abs().sqrt() as T;
        case 'recip':
          return positive(t).recip() as T;
        case 'rsqrt':
          return positive(t).rsqrt() as T;
        case 'log':
          return positive(t).log() as T;
        case 'erf':
          approximate = true;
          return t.erf() as T;
        case 'floor':
          return t.floor() as T;
        case 'ceil':
          return t.ceil() as T;
        case 'f16':
          return t.cast('f16').cast('f32') as T;
        case 'bf16':
          return t.cast('bf16').cast('f32') as T;
        case 'trunc':
          return t.mul(3).cast('i32').cast('f32') as T;
      }
    };

    const binary = (x: T, y: T | number): T => {
      const fns = dtype === 'f32' ? (['add', 'sub', 'mul', 'max', 'min', 'div', 'mod', 'pow'] as const) : (['add', 'sub', 'mul', 'max', 'min', 'div', 'mod'] as const);
      const fn = pick(fns);
      ops.push(fn);
      const yy = typeof y === 'number' ? y : y;
      switch (fn) {
        case 'add':
          return x.add(yy as T) as T;
        case 'sub':
          return x.sub(yy as T) as T;
        case 'mul':
          return x.mul(yy as T) as T;
        case 'max':
          return x.max(yy as T) as T;
        case 'min':
          return x.min(yy as T) as T;
        case 'div':
          return x.div(typeof yy === 'number' ? Math.fround(Math.abs(yy) + 1) : positive(yy)) as T;
        case 'mod':
          return x.mod(typeof yy === 'number' ? Math.fround(Math.abs(yy) + 1) : positive(yy)) as T;
        case 'pow':
          return positive(x).pow(typeof yy === 'number' ? yy : (yy.tanh() as T)) as T;
      }
    };

    const reduce = (t: T): T => {
      const names = t.axisNames.filter(() => chance(0.6));
      const over = names.length ? names : [pick(t.axisNames)];
      const fn = pick(dtype === 'f32' ? (['sum', 'max', 'min', 'mean'] as const) : (['sum', 'max', 'min'] as const));
      ops.push(`${fn}[${over.join(',')}]`);
      const [first, ...more] = over as [string, ...string[]];
      if (fn === 'sum') return t.sum(first, ...more) as T;
      if (fn === 'max') return t.max(first, ...more) as T;
      if (fn === 'min') return t.min(first, ...more) as T;
      return t.mean(first, ...more) as T;
    };

    const view = (t: T): T => {
      const axes = t.axisNames;
      const kinds = ['broadcast', ...(axes.length ? ['rename', 'at', 'slice', 'split'] : []), ...(axes.length > 1 ? ['permute', 'merge'] : [])];
      const kind = pick(kinds);
      switch (kind) {
        case 'broadcast': {
          const a = freshAxis();
          ops.push(`broadcast(${a})`);
          return t.broadcast({ [a]: 1 + Math.floor(r() * 3) }) as T;
        }
        case 'rename': {
          const from = pick(axes);
          const to = freshAxis();
          ops.push(`rename(${from}->${to})`);
          return t.rename({ [from]: to }) as T;
        }
        case 'permute': {
          const order = [...axes].sort(() => r() - 0.5);
          ops.push(`permute(${order.join(',')})`);
          return t.permute(...order) as T;
        }
        case 'at': {
          const a = pick(axes);
          const n = intSize(t, a);
          const at = n === undefined ? 0 : Math.floor(r() * n);
          ops.push(`at(${a}=${at})`);
          return t.at(a, at) as T;
        }
        case 'slice': {
          const a = pick(axes);
          const n = intSize(t, a);
          const to = freshAxis();
          if (n === undefined) {
            // symbolic sizes: slice the whole axis, start 0 to its size
            ops.push(`slice(${a}=0:size)->${to}`);
            return t.slice(a, int(0), t.size(a)).rename({ [a]: to }) as T;
          }
          const start = Math.floor(r() * n);
          const end = start + 1 + Math.floor(r() * (n - start));
          ops.push(`slice(${a}=${start}:${end})->${to}`);
          return t.slice(a, start, end).rename({ [a]: to }) as T;
        }
        case 'split': {
          const a = pick(axes);
          const n = intSize(t, a);
          const o = freshAxis();
          const i = freshAxis();
          if (n === undefined || n % 2 !== 0) {
            ops.push(`split(${a}->${o}:1,${i}:-1)`);
            return t.split(a, { [o]: 1, [i]: -1 }) as T;
          }
          ops.push(`split(${a}->${o}:2,${i}:-1)`);
          return t.split(a, { [o]: 2, [i]: -1 }) as T;
        }
        default: {
          const [x, y] = [...axes].sort(() => r() - 0.5) as [string, string];
          const into = freshAxis();
          ops.push(`merge(${x},${y}->${into})`);
          return t.merge([x, y], into) as T;
        }
      }
    };

    const steps = 3 + Math.floor(r() * 6);
    let lets = 0;
    for (let s = 0; s < steps; s++) {
      const t = pick(pool);
      const kind = pick(['unary', 'binary', 'binary', 'reduce', 'reduce', 'view', 'view', 'where', 'iota', 'let']);
      let out: T;
      if (kind === 'unary') out = unary(t);
      else if (kind === 'binary') {
        const other = chance(0.2) ? (dtype === 'f32' ? Math.fround(r() * 4 - 2) : Math.floor(r() * 20) - 10) : pick(pool);
        const rank = new Set([...t.axisNames, ...(typeof other === 'number' ? [] : other.axisNames)]).size;
        out = binary(t, rank > 4 ? 2 : other);
      } else if (kind === 'reduce') out = t.axisNames.length ? reduce(t) : unary(t);
      else if (kind === 'view') out = t.axisNames.length < 4 || !chance(0.5) ? view(t) : reduce(t);
      else if (kind === 'where') {
        if (options.continuous) out = binary(t, pick(pool));
        else {
          const other = pick(pool);
          const rank = new Set([...t.axisNames, ...other.axisNames]).size;
          ops.push('where');
          out = (rank > 4 ? t.gt(0).where(t, t.neg()) : t.gt(other).where(other, t)) as T;
        }
      } else if (kind === 'iota') {
        if (!t.axisNames.length) out = unary(t);
        else {
          const a = pick(t.axisNames);
          ops.push(`index(${a})`);
          out = t.add(b.index(a, t.size(a), dtype)) as T;
        }
      } else {
        ops.push(`let T${lets}`);
        out = b.let(`T${lets++}`, t) as T;
      }
      pool.push(out);
    }
    const last = pool[pool.length - 1]!;
    const order = [...last.axisNames].sort(() => r() - 0.5);
    b.output('O0', last, order);
    const other = pool[3 + Math.floor(r() * (pool.length - 3))]!;
    if (other !== last) b.output('O1', other);
  });
  return { program, sizes: symbolic ? sizes : {}, inputs, dtype, ops, approximate };
}
