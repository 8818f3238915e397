import { type DType, type ValueType, isFloat } from '../ir/dtype.js';
import { checkDType } from './args.js';
import { checkName } from './names.js';
import { DTypeError, ProgramError, ShapeError } from '../ir/errors.js';
import { type IntExpr, type IntLike, equalInt, iadd, idiv, imod, imul, int, isub, ivar, printInt, toInt } from '../ir/intexpr.js';
import {
  type Axis,
  type BinaryFn,
  type CompareFn,
  type Expr,
  type ReduceFn,
  type UnaryFn,
  binary,
  cast,
  compare,
  constant,
  iota,
  reduce,
  select,
  substIndex,
  unary,
} from '../ir/tensor.js';

/** What a DSL tensor needs from the program being built: fresh names and size constraints. */
export interface BuildScope {
  readonly programName: string;
  fresh(base: string): string;
  require(a: IntExpr, b: IntExpr, what: string): void;
}

export type Dt = ValueType;
/** A dtype arithmetic is allowed on. */
export type NumericDt = 'f32' | 'f16' | 'i32' | 'u32';
export type FloatDt = 'f32' | 'f16';

/**
 * A lazily built tensor value with named axes. Elementwise operations align operands by axis
 * name and broadcast missing axes; reductions name the axes they remove. The type parameters
 * track the dtype and the axis names, so `x.sum('k')` on a tensor without axis `k`, or adding an
 * f16 tensor to an f32 one, is a TypeScript error; the same checks run again when the program is
 * built, naming the tensor and axis.
 */
export class Tensor<D extends Dt = Dt, A extends string = string> {
  /** @internal */
  constructor(
    readonly expr: Expr,
    readonly axes: readonly Axis[],
    /** A short description used in error messages: the tensor's name or the op that made it. */
    readonly label: string,
    /** @internal */ readonly scope: BuildScope,
  ) {}

  get dtype(): D {
    return this.expr.dtype as D;
  }

  get axisNames(): A[] {
    return this.axes.map((a) => a.name as A);
  }

  size(axis: A): IntExpr {
    return this.axis(axis).size;
  }

  /** @internal */
  axis(name: string): Axis {
    const a = this.axes.find((x) => x.name === name);
    if (!a) {
      throw new ShapeError(
        `${this.label} has no axis ${name}; its axes are ${this.axes.map((x) => x.name).join(', ') || '(none: a scalar)'}`,
        this.label,
        name,
      );
    }
    return a;
  }

  private derive<D2 extends Dt, A2 extends string>(expr: Expr, axes: readonly Axis[], label: string): Tensor<D2, A2> {
    return new Tensor<D2, A2>(expr, axes, label, this.scope);
  }

  // -- elementwise ------------------------------------------------------------------------------

  add<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B> {
    return this.binary('add', o);
  }
  sub<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B> {
    return this.binary('sub', o);
  }
  mul<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B> {
    return this.binary('mul', o);
  }
  div<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B> {
    return this.binary('div', o);
  }
  pow<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B> {
    return this.binary('pow', o);
  }
  mod<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B> {
    return this.binary('mod', o);
  }
  /** Elementwise maximum with a tensor or number, or — given axis names — the maximum over them. */
  max<R extends A>(axis: R, ...more: R[]): Tensor<D, Exclude<A, R>>;
  max<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B>;
  max(o: Tensor<D, string> | number | string, ...more: string[]): Tensor<D, string> {
    return typeof o === 'string' ? this.reduce('max', [o, ...more]) : this.binary('max', o);
  }
  /** Elementwise minimum, or the minimum over the named axes. */
  min<R extends A>(axis: R, ...more: R[]): Tensor<D, Exclude<A, R>>;
  min<B extends string = never>(o: Tensor<D, B> | number): Tensor<D, A | B>;
  min(o: Tensor<D, string> | number | string, ...more: string[]): Tensor<D, string> {
    return typeof o === 'string' ? this.reduce('min', [o, ...more]) : this.binary('min', o);
  }

  neg(): Tensor<D, A> {
    return this.unary('neg');
  }
  abs(): Tensor<D, A> {
    return this.unary('abs');
  }
  exp(): Tensor<D, A> {
    return this.unary('exp');
  }
  log(): Tensor<D, A> {
    return this.unary('log');
  }
  sqrt(): Tensor<D, A> {
    return this.unary('sqrt');
  }
  rsqrt(): Tensor<D, A> {
    return this.unary('rsqrt');
  }
  tanh(): Tensor<D, A> {
    return this.unary('tanh');
  }
  erf(): Tensor<D, A> {
    return this.unary('erf');
  }
  sigmoid(): Tensor<D, A> {
    return this.unary('sigmoid');
  }
  floor(): Tensor<D, A> {
    return this.unary('floor');
  }
  ceil(): Tensor<D, A> {
    return this.unary('ceil');
  }
  sin(): Tensor<D, A> {
    return this.unary('sin');
  }
  cos(): Tensor<D, A> {
    return this.unary('cos');
  }
  recip(): Tensor<D, A> {
    return this.unary('recip');
  }

  cast<T extends DType>(dtype: T): Tensor<T, A> {
    checkDType(dtype, `cast of ${this.label}`, this.label);
    return this.derive(cast(this.expr, dtype), this.axes, `${dtype}(${this.label})`);
  }

  lt<B extends string = never>(o: Tensor<D, B> | number): Tensor<'bool', A | B> {
    return this.compare('lt', o);
  }
  le<B extends string = never>(o: Tensor<D, B> | number): Tensor<'bool', A | B> {
    return this.compare('le', o);
  }
  gt<B extends string = never>(o: Tensor<D, B> | number): Tensor<'bool', A | B> {
    return this.compare('gt', o);
  }
  ge<B extends string = never>(o: Tensor<D, B> | number): Tensor<'bool', A | B> {
    return this.compare('ge', o);
  }
  eq<B extends string = never>(o: Tensor<D, B> | number): Tensor<'bool', A | B> {
    return this.compare('eq', o);
  }
  ne<B extends string = never>(o: Tensor<D, B> | number): Tensor<'bool', A | B> {
    return this.compare('ne', o);
  }

  /** `cond ? a : b`, elementwise, on a boolean tensor. */
  where<T extends Dt, B extends string = never, C extends string = never>(
    this: Tensor<'bool', A>,
    a: Tensor<T, B> | number,
    b: Tensor<T, C> | number,
  ): Tensor<T, A | B | C> {
    const dtype = typeof a !== 'number' ? a.dtype : typeof b !== 'number' ? b.dtype : 'f32';
    const ta = this.lift(a, dtype);
    const tb = this.lift(b, dtype);
    const axes = this.alignAll([this, ta, tb]);
    return this.derive(select(this.expr, ta.expr, tb.expr), axes, `where(${this.label})`);
  }

  // -- reductions -------------------------------------------------------------------------------

  sum<R extends A>(axis: R, ...more: R[]): Tensor<D, Exclude<A, R>> {
    return this.reduce('sum', [axis, ...more]);
  }

  /** Mean over the named axes (float tensors). */
  mean<R extends A>(axis: R, ...more: R[]): Tensor<D, Exclude<A, R>> {
    const names = [axis, ...more];
    if (!isFloat(this.dtype)) throw new DTypeError(`mean of ${this.label} needs a float dtype, got ${this.dtype}`, this.label);
    const count = names.map((n) => this.axis(n).size).reduce((a, b) => imul(a, b), int(1));
    const s = this.reduce('sum', names);
    const n = new Tensor<D, never>(iota(count, this.dtype as DType), [], printInt(count), this.scope);
    return s.div(n) as Tensor<D, Exclude<A, R>>;
  }

  /** @internal */
  reduce(fn: ReduceFn, names: readonly string[]): Tensor<D, never> {
    if (names.length === 0) throw new ShapeError(`${fn} of ${this.label} needs at least one axis`, this.label);
    const bound: Axis[] = [];
    const map: Record<string, IntExpr> = {};
    for (const n of names) {
      const a = this.axis(n);
      if (Object.hasOwn(map, n)) continue; // an axis named twice is reduced once
      const fresh = this.scope.fresh(n);
      map[n] = ivar(fresh);
      bound.push({ name: fresh, size: a.size });
    }
    const body = substIndex(this.expr, map);
    return this.derive(
      reduce(fn, bound, body),
      this.axes.filter((a) => !names.includes(a.name)),
      `${fn}[${names.join(',')}](${this.label})`,
    );
  }

  // -- views --------------------------------------------------------------------------------------

  /** Renames axes: `x.rename({ j: 'k' })`. */
  rename<M extends Partial<Record<A, string>>>(map: M): Tensor<D, RenameAxes<A, M>> {
    const sub: Record<string, IntExpr> = {};
    const axes = this.axes.map((a) => {
      const to = Object.hasOwn(map, a.name) ? (map as Record<string, string | undefined>)[a.name] : undefined;
      if (to === undefined) return a;
      checkName(to, `axis of ${this.label}`);
      sub[a.name] = ivar(to);
      return { name: to, size: a.size };
    });
    for (const k of Object.keys(map)) this.axis(k);
    checkUnique(axes, this.label);
    return this.derive(substIndex(this.expr, sub), axes, this.label);
  }

  /** Reorders axes (the order an output is stored in). Named axes make every transpose a reorder. */
  permute(...order: A[]): Tensor<D, A> {
    if (order.length !== this.axes.length || new Set(order).size !== order.length) {
      throw new ShapeError(
        `permute of ${this.label} needs each of its axes once (${this.axes.map((a) => a.name).join(', ')}), got ${order.join(', ')}`,
        this.label,
      );
    }
    return this.derive(this.expr, order.map((n) => this.axis(n)), this.label);
  }

  /** Elements `start <= j < end` of axis `j` (the axis keeps its name). */
  slice(axis: A, start: IntLike, end: IntLike): Tensor<D, A> {
    const a = this.axis(axis);
    const s = toInt(start);
    const e = toInt(end);
    const size = isub(e, s);
    if (size.op === 'int' && size.value < 1) {
      throw new ShapeError(`slice ${printInt(s)}:${printInt(e)} of axis ${axis} of ${this.label} is empty`, this.label, axis);
    }
    if (a.size.op === 'int' && e.op === 'int' && (e.value > a.size.value || (s.op === 'int' && s.value < 0))) {
      throw new ShapeError(
        `slice ${printInt(s)}:${printInt(e)} is outside axis ${axis} of ${this.label} (size ${a.size.value})`,
        this.label,
        axis,
      );
    }
    const axes = this.axes.map((x) => (x.name === axis ? { name: axis, size } : x));
    return this.derive(substIndex(this.expr, { [axis]: iadd(ivar(axis), s) }), axes, `${this.label}[${axis}=${printInt(s)}:${printInt(e)}]`);
  }

  /** Fixes axis `j` at one position and drops it. */
  at<R extends A>(axis: R, index: IntLike): Tensor<D, Exclude<A, R>> {
    this.axis(axis);
    const axes = this.axes.filter((x) => x.name !== axis);
    return this.derive(substIndex(this.expr, { [axis]: toInt(index) }), axes, `${this.label}[${axis}=${printInt(toInt(index))}]`);
  }

  /** Adds axes the value does not depend on (explicit broadcast). */
  broadcast<B extends string>(axes: Record<B, IntLike>): Tensor<D, A | B> {
    const extra = Object.entries<IntLike>(axes).map(([name, size]) => {
      checkName(name, `axis of ${this.label}`);
      return { name, size: toInt(size) };
    });
    const all = [...this.axes, ...extra];
    checkUnique(all, this.label);
    return this.derive(this.expr, all, this.label);
  }

  /**
   * Splits one axis into several, row-major: `x.split('j', { jo: 4, ji: D / 4 })`. One size may be
   * `-1`, inferred from the others. The product must equal the axis size (checked when bound).
   */
  split<R extends A, B extends string>(axis: R, parts: Record<B, IntLike>): Tensor<D, Exclude<A, R> | B> {
    const a = this.axis(axis);
    const entries = Object.entries<IntLike>(parts).map(([n, s]) => {
      checkName(n, `axis of ${this.label}`);
      return [n, toInt(s)] as const;
    });
    const unknown = entries.filter(([, s]) => s.op === 'int' && s.value === -1);
    if (unknown.length > 1) throw new ShapeError(`split of axis ${axis} of ${this.label}: at most one size may be -1`, this.label, axis);
    const known = entries.filter(([, s]) => !(s.op === 'int' && s.value === -1)).reduce((p, [, s]) => imul(p, s), int(1));
    const sized = entries.map(([n, s]) => [n, s.op === 'int' && s.value === -1 ? idiv(a.size, known) : s] as const);
    const total = sized.reduce((p, [, s]) => imul(p, s), int(1));
    this.scope.require(total, a.size, `split of axis ${axis} of ${this.label} into ${sized.map(([n, s]) => `${n}: ${printInt(s)}`).join(', ')}`);
    // j = ((p0 * s1 + p1) * s2 + p2) ...
    let flat: IntExpr = int(0);
    for (const [n, s] of sized) flat = iadd(imul(flat, s), ivar(n));
    const axes: Axis[] = [];
    for (const x of this.axes) {
      if (x.name === axis) axes.push(...sized.map(([n, s]) => ({ name: n, size: s })));
      else axes.push(x);
    }
    checkUnique(axes, this.label);
    return this.derive(substIndex(this.expr, { [axis]: flat }), axes, this.label);
  }

  /** Merges axes (in the given order, row-major) into one: `x.merge(['h', 'd'], 'hd')`. */
  merge<R extends A, N extends string>(names: readonly R[], into: N): Tensor<D, Exclude<A, R> | N> {
    if (names.length === 0) throw new ShapeError(`merge of ${this.label} needs axes`, this.label);
    if (new Set(names).size !== names.length) throw new ShapeError(`merge of ${this.label} names an axis twice (${names.join(', ')})`, this.label);
    checkName(into, `axis of ${this.label}`);
    const parts = names.map((n) => this.axis(n));
    const size = parts.reduce<IntExpr>((p, a) => imul(p, a.size), int(1));
    const sub: Record<string, IntExpr> = {};
    let stride: IntExpr = int(1);
    for (let k = parts.length - 1; k >= 0; k--) {
      const a = parts[k]!;
      const q = idiv(ivar(into), stride);
      sub[a.name] = k === 0 ? q : imod(q, a.size);
      stride = imul(stride, a.size);
    }
    const first = this.axes.findIndex((a) => (names as readonly string[]).includes(a.name));
    const axes = this.axes.filter((a) => !(names as readonly string[]).includes(a.name));
    axes.splice(first, 0, { name: into, size });
    checkUnique(axes, this.label);
    return this.derive(substIndex(this.expr, sub), axes, this.label);
  }

  // -- helpers --------------------------------------------------------------------------------------

  private unary(fn: UnaryFn): Tensor<D, A> {
    return this.derive(wrap(() => unary(fn, this.expr), this.label), this.axes, `${fn}(${this.label})`);
  }

  private binary(fn: BinaryFn, o: Tensor<Dt, string> | number): Tensor<D, never> {
    const other = this.lift(o, this.dtype);
    const axes = this.alignAll([this, other]);
    return this.derive(
      wrap(() => binary(fn, this.expr, other.expr), `${fn}(${this.label}, ${other.label})`),
      axes,
      `${fn}(${this.label}, ${other.label})`,
    );
  }

  private compare(fn: CompareFn, o: Tensor<Dt, string> | number): Tensor<'bool', never> {
    const other = this.lift(o, this.dtype);
    const axes = this.alignAll([this, other]);
    return this.derive(
      wrap(() => compare(fn, this.expr, other.expr), `${fn}(${this.label}, ${other.label})`),
      axes,
      `${fn}(${this.label}, ${other.label})`,
    );
  }

  private lift(o: Tensor<Dt, string> | number, dtype: Dt): Tensor<Dt, string> {
    if (typeof o === 'number') return new Tensor(constant(o, dtype), [], String(o), this.scope);
    if (o.scope !== this.scope) {
      throw new ProgramError(`${o.label} belongs to program ${o.scope.programName}, not ${this.scope.programName}`);
    }
    return o;
  }

  /** Union of the operands' axes (first operand's order first); equal names must have equal sizes. */
  private alignAll(ts: readonly Tensor<Dt, string>[]): Axis[] {
    const out: Axis[] = [];
    const owner = new Map<string, string>();
    for (const t of ts) {
      for (const a of t.axes) {
        const prev = out.find((x) => x.name === a.name);
        if (!prev) {
          out.push(a);
          owner.set(a.name, t.label);
        } else if (!sameSize(prev.size, a.size)) {
          this.scope.require(prev.size, a.size, `axis ${a.name} of ${owner.get(a.name)} and of ${t.label}`);
        }
      }
    }
    return out;
  }
}

type RenameAxes<A extends string, M> = { [K in A]: K extends keyof M ? (M[K] extends string ? M[K] : K) : K }[A];

function sameSize(a: IntExpr, b: IntExpr): boolean {
  return equalInt(a, b);
}

function checkUnique(axes: readonly Axis[], label: string): void {
  const seen = new Set<string>();
  for (const a of axes) {
    if (seen.has(a.name)) throw new ShapeError(`${label} would have two axes named ${a.name}; rename one`, label, a.name);
    seen.add(a.name);
  }
}

/** Re-throws a dtype error from the IR constructors with the DSL operand that caused it. */
function wrap(f: () => Expr, label: string): Expr {
  try {
    return f();
  } catch (e) {
    if (e instanceof DTypeError) throw new DTypeError(`${label}: ${e.message}`, label);
    throw e;
  }
}
