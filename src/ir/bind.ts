import { ProgramError, ShapeError } from './errors.js';
import { type IntExpr, equalInt, evalInt, int, intSyms, printInt, substInt } from './intexpr.js';
import { type Axis, type Program, type TensorDecl, mapIndices, visitExpr } from './tensor.js';
import { checkBounds, verifyProgram } from './verify.js';

export type Sizes = Readonly<Record<string, number>>;

/**
 * A program whose size symbols are replaced by numbers: every axis size is an `int` node. Kernels
 * are compiled for bound programs, so tile edges and guards are known constants.
 *
 * A dynamic size (`Program.dynamic`) is bound to its upper bound: shapes, strides and buffer
 * lengths are those of the bound, so `shapeOf` and `numel` give the padded layout. Which extents
 * are really dynamic is kept beside the numbers, so a pass can ask cheaply:
 *
 *     dynamicExtent(p, 'K', 2)      // axis 2 of tensor K: `M` (an IntExpr over dynamic sizes) or undefined
 *     dynamicLoopExtent(p, "j'")    // a reduction's or fold's axis, by name
 *
 * The expression is the axis's size with every static size replaced by its value and the dynamic
 * ones left as symbols (`M`, `M * 2`, `M - 1`), ready to be turned into kernel-IR `param` reads.
 */
export interface BoundProgram extends Program {
  /** Every size as a number; a dynamic size at its bound. */
  readonly bound: Sizes;
  /** Dynamic sizes and their bounds (`{}` when every size is static). */
  readonly dynamic: Readonly<Record<string, number>>;
  /**
   * Tensors (inputs and statement targets) with at least one axis of dynamic extent: per axis, in
   * storage order, its extent over the dynamic sizes, or undefined for a static axis.
   */
  readonly dynamicAxes: Readonly<Record<string, readonly (IntExpr | undefined)[]>>;
  /**
   * Axes bound inside expressions (reduction axes; a fold's outer, over, state-field and output
   * axes) whose extent is dynamic, by axis name. Binders with one name share one extent (checked).
   */
  readonly dynamicLoops: Readonly<Record<string, IntExpr>>;
}

export interface BindOptions {
  /**
   * What a dynamic size is bound to: `'bound'` (the default), its upper bound — compiling, where
   * layouts are those of the bound; `'value'`, the value given (its bound when none is) — one
   * instance of the program at that size, as the reference evaluates it, with nothing dynamic left.
   */
  readonly dynamic?: 'bound' | 'value';
}

/**
 * The program with some of its sizes made dynamic up to a bound (`{ N: 8192 }`): what
 * `p.dynamicSize` declares, applied from outside (`autotune export --dynamic N<=8192`). A size the
 * program lacks, or a bound that is not a positive integer, is a ShapeError naming it.
 */
export function withDynamicSizes(p: Program, bounds: Readonly<Record<string, number>>): Program {
  for (const [name, bound] of Object.entries(bounds)) {
    if (!p.sizes.includes(name)) throw new ShapeError(`program ${p.name} has no size ${name} to make dynamic; its sizes are ${p.sizes.join(', ') || 'none'}`, undefined, name);
    if (!Number.isSafeInteger(bound) || bound < 1) throw new ShapeError(`dynamic size ${name} needs a positive integer bound, got ${bound}`, undefined, name);
  }
  return { ...p, dynamic: { ...p.dynamic, ...bounds } };
}

/** Checks that sizes were given as an object of numbers by name (a ProgramError naming the program otherwise). */
export function checkSizesObject(p: Pick<Program, 'name'>, sizes: unknown, what = 'sizes'): asserts sizes is Sizes {
  if (sizes === null || typeof sizes !== 'object' || Array.isArray(sizes)) {
    throw new ProgramError(`${what} of program ${p.name} must be an object of numbers by size name, e.g. { N: 128 }, got ${JSON.stringify(sizes) ?? String(sizes)}`);
  }
}

export function bindProgram(p: Program, sizes: Sizes, options: BindOptions = {}): BoundProgram {
  verifyProgram(p);
  checkSizesObject(p, sizes);
  const dyn = p.dynamic ?? {};
  const isDyn = (s: string) => Object.hasOwn(dyn, s);
  for (const s of p.sizes) {
    const v = Object.hasOwn(sizes, s) ? sizes[s] : undefined;
    if (v === undefined) {
      if (isDyn(s)) continue;
      throw new ProgramError(`program ${p.name} needs size ${s}; pass it, e.g. { ${s}: 128 }`);
    }
    if (!Number.isSafeInteger(v) || v < 1) throw new ShapeError(`size ${s} must be a positive integer, got ${typeof v === 'string' ? JSON.stringify(v) : v}`, undefined, s);
    if (isDyn(s) && v > dyn[s]!) {
      throw new ShapeError(`dynamic size ${s} is at most ${dyn[s]} (its bound), got ${v}`, undefined, s);
    }
  }
  for (const k of Object.keys(sizes)) {
    if (!p.sizes.includes(k)) throw new ProgramError(`program ${p.name} has no size ${k} (its sizes: ${p.sizes.join(', ') || 'none'})`);
  }
  const atValue = options.dynamic === 'value';
  const values: Record<string, number> = {};
  for (const s of p.sizes) values[s] = isDyn(s) && !(atValue && Object.hasOwn(sizes, s)) ? dyn[s]! : sizes[s]!;
  const map: Record<string, IntExpr> = {};
  for (const s of p.sizes) map[s] = int(values[s]!);
  for (const c of p.constraints) {
    const a = evalInt(substInt(c.a, map), {});
    const b = evalInt(substInt(c.b, map), {});
    if (a !== b) {
      throw new ShapeError(`${c.what} need equal sizes, but ${printInt(c.a)} = ${a} and ${printInt(c.b)} = ${b}`);
    }
  }
  const bindAxes = (axes: readonly Axis[]): Axis[] => axes.map((a) => ({ name: a.name, size: int(evalInt(substInt(a.size, map), {})) }));
  const bindDecl = (t: TensorDecl): TensorDecl => ({ ...t, axes: bindAxes(t.axes) });
  const stillDynamic = atValue ? {} : { ...dyn };
  const bound: BoundProgram = {
    ...p,
    bound: values,
    dynamic: stillDynamic,
    ...dynamicExtents(p, stillDynamic, map),
    constraints: [],
    inputs: p.inputs.map(bindDecl),
    stmts: p.stmts.map((s) => ({ target: bindDecl(s.target), expr: mapIndices(s.expr, (i) => substInt(i, map)) })),
  };
  checkBounds(bound);
  return bound;
}

/** The extents of `p`'s axes that depend on a size of `dyn`, over those sizes. */
function dynamicExtents(
  p: Program,
  dyn: Readonly<Record<string, number>>,
  values: Readonly<Record<string, IntExpr>>,
): Pick<BoundProgram, 'dynamicAxes' | 'dynamicLoops'> {
  const dynamicAxes: Record<string, (IntExpr | undefined)[]> = {};
  const dynamicLoops: Record<string, IntExpr> = {};
  if (Object.keys(dyn).length === 0) return { dynamicAxes, dynamicLoops };
  const statics: Record<string, IntExpr> = {};
  for (const [s, v] of Object.entries(values)) if (!Object.hasOwn(dyn, s)) statics[s] = v;
  const extent = (size: IntExpr): IntExpr | undefined => {
    const e = substInt(size, statics);
    return intSyms(e).size > 0 ? e : undefined;
  };
  for (const t of [...p.inputs, ...p.stmts.map((s) => s.target)]) {
    const axes = t.axes.map((a) => extent(a.size));
    if (axes.some((a) => a !== undefined)) dynamicAxes[t.name] = axes;
  }
  const seen = new Map<string, IntExpr | undefined>();
  const loop = (a: Axis) => {
    const e = extent(a.size);
    if (seen.has(a.name)) {
      const prev = seen.get(a.name);
      const same = prev === undefined || e === undefined ? prev === e : equalInt(prev, e);
      if (!same) {
        throw new ProgramError(
          `program ${p.name} binds axis ${a.name} twice, once with a dynamic extent and once with another extent; rename one of them`,
        );
      }
      return;
    }
    seen.set(a.name, e);
    if (e) dynamicLoops[a.name] = e;
  };
  for (const s of p.stmts) {
    visitExpr(s.expr, (n) => {
      if (n.op === 'reduce') n.axes.forEach(loop);
      if (n.op === 'fold') {
        const d = n.def;
        [...d.outer, ...d.over, ...d.state.flatMap((f) => f.axes), ...d.outputs.flatMap((o) => o.axes)].forEach(loop);
      }
    });
  }
  return { dynamicAxes, dynamicLoops };
}

/** The extent of axis `axis` of tensor `tensor` over the dynamic sizes, or undefined when it is static. */
export function dynamicExtent(p: BoundProgram, tensor: string, axis: number): IntExpr | undefined {
  return Object.hasOwn(p.dynamicAxes, tensor) ? p.dynamicAxes[tensor]![axis] : undefined;
}

/** The extent of a reduction's or fold's axis, by name, over the dynamic sizes, or undefined when it is static. */
export function dynamicLoopExtent(p: BoundProgram, axis: string): IntExpr | undefined {
  return Object.hasOwn(p.dynamicLoops, axis) ? p.dynamicLoops[axis] : undefined;
}

/**
 * Checks the run-time values of a bound program's dynamic sizes and returns them, one per dynamic
 * size. Each needs a value (`ProgramError` when missing) that is an integer from 1 to its bound
 * (`ShapeError` naming the size). A static size may be given too, at the value it was compiled for.
 */
export function dynamicValues(p: BoundProgram, given: Sizes = {}): Sizes {
  checkSizesObject(p, given, 'dynamic sizes');
  const out: Record<string, number> = {};
  for (const [s, max] of Object.entries(p.dynamic)) {
    const v = Object.hasOwn(given, s) ? given[s] : undefined;
    if (v === undefined) throw new ProgramError(`program ${p.name} has dynamic size ${s}; pass its value when running, e.g. { sizes: { ${s}: ${max} } }`);
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new ShapeError(`dynamic size ${s} must be an integer, got ${v}`, undefined, s);
    if (v < 1) throw new ShapeError(`dynamic size ${s} must be at least 1, got ${v}`, undefined, s);
    if (v > max) throw new ShapeError(`dynamic size ${s} is at most ${max} (its bound), got ${v}`, undefined, s);
    out[s] = v;
  }
  for (const [s, v] of Object.entries(given)) {
    if (Object.hasOwn(p.dynamic, s)) continue;
    if (!p.sizes.includes(s)) throw new ProgramError(`program ${p.name} has no size ${s} (its sizes: ${p.sizes.join(', ') || 'none'})`);
    if (v !== p.bound[s]) throw new ShapeError(`size ${s} is static, compiled as ${p.bound[s]}; it cannot be ${v} at run time`, undefined, s);
  }
  return out;
}

/** The shape of a tensor of a bound program at run-time values of its dynamic sizes (`dynamicValues`). */
export function actualShape(p: BoundProgram, t: TensorDecl, values: Sizes): number[] {
  return shapeOf(t).map((n, i) => {
    const e = dynamicExtent(p, t.name, i);
    return e === undefined ? n : evalInt(e, values);
  });
}

/**
 * The size of an axis of a bound program, as a number. Throws a `ProgramError` naming the axis
 * (and `what` it belongs to, when given) if its size is still symbolic: bind the program first.
 */
export function boundSize(a: Axis, what?: string): number {
  if (a.size.op !== 'int') {
    throw new ProgramError(`${what ? `${what} ` : ''}axis ${a.name} has unbound size ${printInt(a.size)}; bind the program's sizes first (bindProgram)`);
  }
  return a.size.value;
}

/** The sizes of bound axes, in order (see `boundSize`). */
export const boundShape = (axes: readonly Axis[], what?: string): number[] => axes.map((a) => boundSize(a, what));

/** Concrete shape of a tensor in a bound program. */
export const shapeOf = (t: TensorDecl): number[] => boundShape(t.axes, `tensor ${t.name}`);

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
