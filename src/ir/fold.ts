import type { ValueType } from './dtype.js';
import { DTypeError, ProgramError } from './errors.js';
import { type IntExpr, ivar } from './intexpr.js';
import { type Axis, type Expr, type FoldDef, type ReduceFn, type StateField, binary, constant } from './tensor.js';

/**
 * Constructors for the nodes of stateful reductions and scans (see `FoldDef`), and the one-field
 * fold a plain reduction is: the bridge that lets a schedule treat `sum`/`max`/`min` and a custom
 * fold the same way.
 */

/** A read of a state field: the running state (`self`) or, in `merge`, the right operand (`other`). */
export function stateRead(field: StateField, index: readonly IntExpr[], of: 'self' | 'other' = 'self'): Expr {
  if (index.length !== field.axes.length) {
    throw new ProgramError(
      `state field ${field.name} has ${field.axes.length} axes (${field.axes.map((a) => a.name).join(', ')}) but is indexed with ${index.length}`,
    );
  }
  return { op: 'state', dtype: field.dtype, field: field.name, of, index };
}

/** A read of the local `name` (of dtype `dtype`) of the current step. */
export const localRead = (name: string, dtype: ValueType): Expr => ({ op: 'local', dtype, name });

/** Output `k` of a fold definition, as the root of its statement. */
export function foldOutput(def: FoldDef, k: number): Expr {
  const o = def.outputs[k];
  if (!o) throw new ProgramError(`the fold has ${def.outputs.length} outputs; there is no output ${k}`);
  return { op: 'fold', dtype: o.expr.dtype, def, output: k };
}

/** The identity of a reduction: what an empty reduction gives. */
export function reduceIdentity(fn: ReduceFn, dtype: ValueType): Expr {
  if (fn === 'sum') return constant(0, dtype);
  // integer max/min start at the ends of their range; infinities are floats only
  const ends: Partial<Record<ValueType, readonly [number, number]>> = {
    i32: [-2147483648, 2147483647],
    u32: [0, 4294967295],
    i8: [-128, 127],
  };
  const r = ends[dtype];
  if (dtype === 'bool') throw new DTypeError(`${fn} over booleans has no identity`);
  const lo = r ? r[0] : -Infinity;
  const hi = r ? r[1] : Infinity;
  return constant(fn === 'max' ? lo : hi, dtype);
}

/**
 * The fold equivalent to `reduce` at the outer axes `outer` (its free variables): one field
 * `acc` starting at the identity, updated `acc ⊕ body` per step of the reduction's axes, merged
 * `self ⊕ other`, and output as is.
 */
export function foldOfReduce(e: Expr, outer: readonly Axis[]): FoldDef {
  if (e.op !== 'reduce') throw new ProgramError(`foldOfReduce needs a reduction, got ${e.op}`);
  const acc: StateField = { name: 'acc', dtype: e.dtype, axes: [] };
  const self = stateRead(acc, []);
  const fn = e.fn === 'sum' ? 'add' : e.fn;
  return {
    kind: 'fold',
    outer,
    over: e.axes,
    state: [acc],
    init: [reduceIdentity(e.fn, e.dtype)],
    locals: [],
    update: [binary(fn, self, e.body)],
    merge: [binary(fn, self, stateRead(acc, [], 'other'))],
    outputs: [{ axes: [], expr: self }],
  };
}

/** Index variables over a list of axes, in order (how a field or output reads its own element). */
export const axisVars = (axes: readonly Axis[]): IntExpr[] => axes.map((a) => ivar(a.name));
