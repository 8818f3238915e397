import { ProgramError, ShapeError } from './errors.js';
import { type IntExpr, evalInt, int, printInt, substInt } from './intexpr.js';
import { type Axis, type Program, type TensorDecl, mapIndices } from './tensor.js';
import { checkBounds, verifyProgram } from './verify.js';

export type Sizes = Readonly<Record<string, number>>;

/**
 * A program whose size symbols are replaced by numbers: every axis size is an `int` node. Kernels
 * are compiled for bound programs, so tile edges and guards are known constants.
 */
export interface BoundProgram extends Program {
  readonly bound: Sizes;
}

export function bindProgram(p: Program, sizes: Sizes): BoundProgram {
  verifyProgram(p);
  for (const s of p.sizes) {
    const v = Object.hasOwn(sizes, s) ? sizes[s] : undefined;
    if (v === undefined) throw new ProgramError(`program ${p.name} needs size ${s}; pass it, e.g. { ${s}: 128 }`);
    if (!Number.isSafeInteger(v) || v < 1) throw new ShapeError(`size ${s} must be a positive integer, got ${v}`, undefined, s);
  }
  for (const k of Object.keys(sizes)) {
    if (!p.sizes.includes(k)) throw new ProgramError(`program ${p.name} has no size ${k} (its sizes: ${p.sizes.join(', ') || 'none'})`);
  }
  const map: Record<string, IntExpr> = {};
  for (const s of p.sizes) map[s] = int(sizes[s]!);
  for (const c of p.constraints) {
    const a = evalInt(substInt(c.a, map), {});
    const b = evalInt(substInt(c.b, map), {});
    if (a !== b) {
      throw new ShapeError(`${c.what} need equal sizes, but ${printInt(c.a)} = ${a} and ${printInt(c.b)} = ${b}`);
    }
  }
  const bindAxes = (axes: readonly Axis[]): Axis[] => axes.map((a) => ({ name: a.name, size: int(evalInt(substInt(a.size, map), {})) }));
  const bindDecl = (t: TensorDecl): TensorDecl => ({ ...t, axes: bindAxes(t.axes) });
  const bound: BoundProgram = {
    ...p,
    bound: { ...sizes },
    constraints: [],
    inputs: p.inputs.map(bindDecl),
    stmts: p.stmts.map((s) => ({ target: bindDecl(s.target), expr: mapIndices(s.expr, (i) => substInt(i, map)) })),
  };
  checkBounds(bound);
  return bound;
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
