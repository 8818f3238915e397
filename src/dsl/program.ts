import { type DType } from '../ir/dtype.js';
import { ProgramError, ShapeError } from '../ir/errors.js';
import { type IntExpr, type IntLike, equalInt, evalInt, ivar, printInt, sym } from '../ir/intexpr.js';
import { type Axis, type Program, type SizeConstraint, type Stmt, type TensorDecl, constant, iota, load } from '../ir/tensor.js';
import { verifyProgram } from '../ir/verify.js';
import { type FieldSpec, type FoldResult, type FoldSpec, buildFold } from './fold.js';
import { checkDType, sizeArg } from './args.js';
import { checkName } from './names.js';
import { type BuildScope, type Dt, Tensor } from './tensor.js';


/** The handle a program's build function receives. */
export class ProgramBuilder implements BuildScope {
  private readonly sizeNames: string[] = [];
  private readonly inputs: TensorDecl[] = [];
  private readonly stmts: Stmt[] = [];
  private readonly outputs: string[] = [];
  private readonly constraints: SizeConstraint[] = [];
  private readonly dynamicBounds = new Map<string, number>();
  private readonly names = new Set<string>();
  private readonly freshCount = new Map<string, number>();

  constructor(readonly programName: string) {
    checkName(programName, 'program');
  }

  /** Declares size symbols: `const [N, D] = p.sizes('N', 'D')`. */
  sizes<const Names extends readonly string[]>(...names: Names): { readonly [K in keyof Names]: IntExpr } {
    return names.map((n) => this.size(n)) as unknown as { readonly [K in keyof Names]: IntExpr };
  }

  size(name: string): IntExpr {
    checkName(name, 'size');
    if (!this.sizeNames.includes(name)) this.sizeNames.push(name);
    return sym(name);
  }

  /**
   * Declares a dynamic size with an upper bound: `const M = p.dynamicSize('M', { max: 8192 })`.
   * The program is compiled once for the bound and each run gives the value (1 to `max`); tensors
   * with an axis of extent M are laid out at the bound (a preallocated KV cache), and only their
   * first M entries along it are read, or written.
   */
  dynamicSize(name: string, bound: { readonly max: number }): IntExpr {
    const s = this.size(name);
    if (bound === null || typeof bound !== 'object') {
      throw new ShapeError(`dynamic size ${name} needs its upper bound as { max: 8192 }, got ${String(bound)}`, undefined, name);
    }
    this.dynamic(s, bound.max);
    return s;
  }

  /** Makes a declared size dynamic with an upper bound: `const [M] = p.sizes('M'); p.dynamic(M, 8192)`. */
  dynamic(size: IntExpr, max: number): void {
    if (size.op !== 'sym' || !this.sizeNames.includes(size.name)) {
      throw new ProgramError(`only a size declared with p.sizes or p.size can be dynamic, got ${printInt(size)}`);
    }
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new ShapeError(`dynamic size ${size.name} needs an upper bound that is a positive integer, got ${max}`, undefined, size.name);
    }
    const prev = this.dynamicBounds.get(size.name);
    if (prev !== undefined && prev !== max) {
      throw new ProgramError(`size ${size.name} is already dynamic with bound ${prev}; it cannot also have bound ${max}`);
    }
    this.dynamicBounds.set(size.name, max);
  }

  /** Declares an input tensor with named axes in storage order: `p.input('X', 'f32', { i: N, j: D })`. */
  input<D extends DType, A extends string>(name: string, dtype: D, axes: Record<A, IntLike>): Tensor<D, A> {
    checkDType(dtype, `input ${name}`, name);
    const decl: TensorDecl = { name, dtype, axes: axesOf(name, axes) };
    this.declare(decl);
    this.inputs.push(decl);
    return this.loadOf(decl);
  }

  /** A tensor whose value is the position along one axis: `p.index('i', N)` is 0, 1, ..., N-1. */
  index<A extends string, D extends DType = 'i32'>(axis: A, size: IntLike, dtype?: D): Tensor<D, A> {
    checkName(axis, 'axis');
    if (dtype !== undefined) checkDType(dtype, `index ${axis}`);
    return new Tensor<D, A>(iota(ivar(axis), dtype ?? 'i32'), [{ name: axis, size: sizeArg(size, `index ${axis}`, undefined, axis) }], axis, this);
  }

  /** A scalar constant of a dtype (numbers mixed into arithmetic take their partner's dtype). */
  scalar<D extends DType>(value: number, dtype: D): Tensor<D, never> {
    checkDType(dtype, `scalar ${value}`);
    return new Tensor<D, never>(constant(value, dtype), [], String(value), this);
  }

  /** The value of a size as a scalar of a dtype: `p.value(D, 'f32')`. */
  value<D extends DType>(size: IntLike, dtype: D): Tensor<D, never> {
    const s = sizeArg(size, 'value');
    checkDType(dtype, `value of ${printInt(s)}`);
    return new Tensor<D, never>(iota(s, dtype), [], printInt(s), this);
  }

  /**
   * Computes `t` once into a named intermediate tensor (axes in `t`'s order) and returns it. The
   * compiler may still fuse it into its consumers; naming it makes the program easier to read.
   */
  let<D extends Dt, A extends string>(name: string, t: Tensor<D, A>): Tensor<D, A> {
    if (t.dtype === 'bool') throw new ProgramError(`${name} would be a boolean tensor; use where(...) or cast first`);
    const decl: TensorDecl = { name, dtype: t.dtype as DType, axes: t.axes };
    this.declare(decl);
    this.stmts.push({ target: decl, expr: t.expr });
    return this.loadOf(decl) as unknown as Tensor<D, A>;
  }

  /**
   * Computes `t` into an output tensor. `order` gives the storage order of its axes. A tensor this
   * program already computed under the same name (a fold's result) becomes an output as it is.
   */
  output<D extends Dt, A extends string>(name: string, t: Tensor<D, A>, order?: readonly NoInfer<A>[]): Tensor<D, A> {
    if (this.isStored(name, t) && (!order || order.every((a, k) => a === t.axes[k]?.name))) {
      if (this.outputs.includes(name)) throw new ProgramError(`${name} is already an output of program ${this.programName}`);
      this.outputs.push(name);
      return t;
    }
    const stored = order ? t.permute(...order) : t;
    const out = this.let(name, stored);
    this.outputs.push(name);
    return out;
  }

  /**
   * A stateful reduction: per outer point, the state starts at each field's `init`, `step` gives
   * the next state for each point of `over`, and `outputs` finalizes it. `merge` combines the state
   * over a prefix of the steps with the state over the rest (both started at `init`); it must be
   * associative with `init` as identity, since it is what lets the steps run in parallel.
   *
   *     const { O, lse } = p.fold({
   *       over: { j: M },
   *       state: { m: { dtype: 'f32', init: -Infinity }, l: { dtype: 'f32', init: 0 }, acc: { dtype: 'f32', axes: { e: D }, init: 0 } },
   *       step: (s, local) => { const x = local('x', ...); ...; return { m: ..., l: ..., acc: ... }; },
   *       merge: (a, b) => ({ m: a.m.max(b.m), ... }),
   *       outputs: (s) => ({ O: s.acc.div(s.l), lse: s.m.add(s.l.log()) }),
   *     });
   *
   * Each output becomes a tensor of the program, named by its key, over the outer axes and then
   * its own; `p.output('O', O)` makes it a program output.
   */
  fold<S extends Record<string, FieldSpec>, O extends Record<string, Tensor<Dt, string>>>(spec: FoldSpec<S, O>): FoldResult<O> {
    return this.defineFold('fold', spec);
  }

  /** A prefix scan over one axis: like `fold`, but the outputs are taken after every step, indexed by it. */
  scan<S extends Record<string, FieldSpec>, O extends Record<string, Tensor<Dt, string>>>(spec: FoldSpec<S, O>): FoldResult<O> {
    return this.defineFold('scan', spec);
  }

  fresh(base: string): string {
    const n = (this.freshCount.get(base) ?? 0) + 1;
    this.freshCount.set(base, n);
    return n === 1 ? `${base}'` : `${base}'${n}`;
  }

  require(a: IntExpr, b: IntExpr, what: string): void {
    if (equalInt(a, b)) return;
    if (a.op === 'int' && b.op === 'int') {
      throw new ShapeError(`${what} need equal sizes, got ${a.value} and ${b.value}`);
    }
    // symbolic: decide when sizes are bound, unless both are closed already
    try {
      const x = evalInt(a, {});
      const y = evalInt(b, {});
      if (x !== y) throw new ShapeError(`${what} need equal sizes, got ${x} and ${y}`);
      return;
    } catch (e) {
      if (e instanceof ShapeError) throw e;
    }
    this.constraints.push({ a, b, what });
  }

  /** @internal */
  build(): Program {
    const p: Program = {
      name: this.programName,
      sizes: [...this.sizeNames],
      inputs: [...this.inputs],
      stmts: [...this.stmts],
      outputs: [...this.outputs],
      constraints: [...this.constraints],
      ...(this.dynamicBounds.size ? { dynamic: Object.fromEntries(this.dynamicBounds) } : {}),
    };
    verifyProgram(p);
    return p;
  }

  private defineFold<S extends Record<string, FieldSpec>, O extends Record<string, Tensor<Dt, string>>>(
    kind: 'fold' | 'scan',
    spec: FoldSpec<S, O>,
  ): FoldResult<O> {
    const { targets } = buildFold(this, kind, spec);
    const out: Record<string, Tensor<Dt, string>> = {};
    for (const { decl, expr } of targets) {
      this.declare(decl);
      this.stmts.push({ target: decl, expr });
      out[decl.name] = this.loadOf(decl);
    }
    return out as FoldResult<O>;
  }

  /** Whether `t` is this program's tensor `name` itself, read whole in its storage order. */
  private isStored(name: string, t: Tensor<Dt, string>): boolean {
    const decl = this.stmts.find((s) => s.target.name === name)?.target;
    const e = t.expr;
    return (
      decl !== undefined &&
      e.op === 'load' &&
      e.tensor === name &&
      t.axes.length === decl.axes.length &&
      decl.axes.every((a, k) => t.axes[k]!.name === a.name && e.index[k]!.op === 'var' && (e.index[k] as { name: string }).name === a.name)
    );
  }

  private declare(t: TensorDecl): void {
    checkName(t.name, 'tensor');
    if (this.names.has(t.name)) throw new ProgramError(`tensor ${t.name} is declared twice in program ${this.programName}`);
    this.names.add(t.name);
  }

  private loadOf<D extends Dt, A extends string>(decl: TensorDecl): Tensor<D, A> {
    return new Tensor<D, A>(load(decl, decl.axes.map((a) => ivar(a.name))), decl.axes, decl.name, this);
  }
}

function axesOf(tensor: string, axes: Record<string, IntLike>): Axis[] {
  return Object.entries(axes).map(([name, size]) => {
    checkName(name, `axis of ${tensor}`);
    const s = sizeArg(size, `axis ${name} of ${tensor}`, tensor, name);
    if (s.op === 'int' && s.value < 1) throw new ShapeError(`axis ${name} of ${tensor} has size ${s.value}; sizes must be at least 1`, tensor, name);
    return { name, size: s };
  });
}

/**
 * Builds a program: `program('softmax', (p) => { const [N, D] = p.sizes('N', 'D'); ... })`.
 * Shapes and dtypes are checked as the program is built; the result is an immutable tensor-IR
 * program.
 */
export function program(name: string, build: (p: ProgramBuilder) => void): Program {
  const b = new ProgramBuilder(name);
  build(b);
  return b.build();
}
