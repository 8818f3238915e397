import type { DType } from '../ir/dtype.js';
import { DTypeError, ProgramError, ShapeError } from '../ir/errors.js';
import { type IntLike } from '../ir/intexpr.js';
import { axisVars, foldOutput, localRead, stateRead } from '../ir/fold.js';
import { type Axis, type Expr, type FoldDef, type StateField, type TensorDecl, constant, foldAxes } from '../ir/tensor.js';
import { checkDType, sizeArg } from './args.js';
import { checkName } from './names.js';
import { type BuildScope, type Dt, Tensor } from './tensor.js';

/**
 * Custom stateful reductions and scans in the DSL (`p.fold`, `p.scan`). The state fields are
 * named tensors over their own axes (`acc` over `e`); inside the callbacks they are ordinary DSL
 * tensors, so the step is written with the usual named-axis arithmetic, and loads at the step
 * (`K` over `j`) and at the outer point (`Q` over `i`) mix in by axis name. The outer axes are
 * whatever axes the parts use beyond the steps' and the fields' own.
 */

/** One state field: its dtype, its own axes (none for a scalar), and its initial value. */
export interface FieldSpec<D extends Dt = Dt> {
  readonly dtype: D;
  readonly axes?: Readonly<Record<string, IntLike>>;
  readonly init: number | Tensor<D, string>;
}

type FieldDt<F> = F extends { readonly dtype: infer D extends Dt } ? D : Dt;
type FieldAxes<F> = F extends { readonly axes: Readonly<Record<infer A extends string, IntLike>> } ? A : never;

/** The state as DSL tensors: field `acc` over `e` is a `Tensor<'f32', 'e'>`. */
export type StateOf<S> = { readonly [K in keyof S]: Tensor<FieldDt<S[K]>, FieldAxes<S[K]>> };
/** A new value for every field (a number takes the field's dtype). */
export type FieldValues<S> = { readonly [K in keyof S]: Tensor<FieldDt<S[K]>, string> | number };
/** Names a per-step value (`s = Q·K_j`) so that the updates share it instead of recomputing it. */
export type LocalFn = <D extends Dt, A extends string>(name: string, t: Tensor<D, A>) => Tensor<D, A>;

export interface FoldSpec<S extends Record<string, FieldSpec>, O extends Record<string, Tensor<Dt, string>>> {
  /** The step axes: `{ j: M }`; a scan has exactly one. */
  readonly over: Readonly<Record<string, IntLike>>;
  readonly state: S;
  /** The state after one step, from the state before it (`local` names per-step values). */
  readonly step: (s: StateOf<S>, local: LocalFn) => FieldValues<S>;
  /** The state over a prefix (`a`) and the steps after it (`b`), combined. */
  readonly merge: (a: StateOf<S>, b: StateOf<S>) => FieldValues<S>;
  /** The results, named: each becomes a tensor of the program with that name. */
  readonly outputs: (s: StateOf<S>) => O;
}

/** The fold's results, one tensor each, named by the keys of `outputs`. */
export type FoldResult<O> = { readonly [K in keyof O]: O[K] extends Tensor<infer D, string> ? Tensor<D, string> : never };

/** A built fold: its definition and the statement target of each named output. */
export interface BuiltFold {
  readonly def: FoldDef;
  readonly targets: readonly { readonly decl: TensorDecl; readonly expr: Expr }[];
}

export function buildFold<S extends Record<string, FieldSpec>, O extends Record<string, Tensor<Dt, string>>>(
  scope: BuildScope,
  kind: 'fold' | 'scan',
  spec: FoldSpec<S, O>,
): BuiltFold {
  const over = stepAxes(kind, spec.over);
  const fields = stateFields(spec.state);
  const fieldNames = fields.map((f) => f.name);
  const self = stateHandles<S>(fields, 'self', scope);
  const { locals, local } = localCollector(kind, fieldNames, scope);
  // the parts are called in this order (init, step, merge, outputs) so that the first error a
  // user sees does not depend on how the build is split up
  const init = fields.map((f) => field(spec.state[f.name]!.init, f, 'init', scope));
  const update = partValues(kind, 'step', spec.step(self, local), fields, scope);
  const merge = partValues(kind, 'merge', spec.merge(self, stateHandles<S>(fields, 'other', scope)), fields, scope);
  const results = Object.entries(spec.outputs(self));
  if (results.length === 0) throw new ProgramError(`the ${kind} has no outputs`);
  const outer = outerAxes(scope, over, fields, { init, locals, update, merge });
  const outputs = results.map(([name, t]) => foldResult(scope, kind, name, t, [...outer, ...(kind === 'scan' ? over : [])], over));
  const def: FoldDef = {
    kind,
    outer,
    over,
    state: fields,
    init: init.map((t) => t.expr),
    locals: locals.map((l) => ({ name: l.name, expr: l.t.expr })),
    update: update.map((t) => t.expr),
    merge: merge.map((t) => t.expr),
    outputs: outputs.map((o) => ({ axes: o.axes, expr: o.expr })),
  };
  return { def, targets: foldTargets(def, outputs) };
}

/** The step axes, sized and checked: at least one, and exactly one for a scan. */
function stepAxes(kind: 'fold' | 'scan', spec: Readonly<Record<string, IntLike>>): Axis[] {
  const over = sizedAxes(spec, `the ${kind}'s step axes`);
  if (over.length === 0) throw new ShapeError(`a ${kind} needs at least one step axis in over`);
  if (kind === 'scan' && over.length !== 1) {
    throw new ShapeError(`a scan runs over exactly one axis, got ${over.map((a) => a.name).join(', ')}`, undefined, over[1]!.name);
  }
  return over;
}

/** The state fields in declaration order, each name checked before its axes. */
function stateFields(state: Readonly<Record<string, FieldSpec>>): StateField[] {
  return Object.keys(state).map((name) => {
    checkName(name, 'state field');
    const f = state[name]!;
    checkDType(f?.dtype, `state field ${name}`, name);
    return { name, dtype: f.dtype as StateField['dtype'], axes: sizedAxes(f.axes ?? {}, `state field ${name}`) };
  });
}

/** The state as DSL tensors: `self` reads this fold's state, `other` the merged-in state (`acc'`). */
function stateHandles<S>(fields: readonly StateField[], of: 'self' | 'other', scope: BuildScope): StateOf<S> {
  return Object.fromEntries(
    fields.map((f) => [f.name, new Tensor(stateRead(f, axisVars(f.axes), of), f.axes, of === 'self' ? f.name : `${f.name}'`, scope)]),
  ) as unknown as StateOf<S>;
}

interface FoldLocalTensor {
  readonly name: string;
  readonly t: Tensor<Dt, string>;
}

/** The `local` callback for the step, and the list it fills in call order (the IR keeps that order). */
function localCollector(
  kind: 'fold' | 'scan',
  fieldNames: readonly string[],
  scope: BuildScope,
): { readonly locals: readonly FoldLocalTensor[]; readonly local: LocalFn } {
  const locals: FoldLocalTensor[] = [];
  const local: LocalFn = (name, t) => {
    checkName(name, 'local');
    if (fieldNames.includes(name) || locals.some((l) => l.name === name)) {
      throw new ProgramError(`the ${kind} already has a state field or local named ${name}`);
    }
    own(t, scope, `local ${name}`);
    locals.push({ name, t });
    return new Tensor(localRead(name, t.dtype), t.axes, name, scope) as typeof t;
  };
  return { locals, local };
}

/** One part's new value for every field, in field order: no unknown fields, none missing. */
function partValues<S>(
  kind: 'fold' | 'scan',
  part: string,
  got: FieldValues<S>,
  fields: readonly StateField[],
  scope: BuildScope,
): Tensor<Dt, string>[] {
  const fieldNames = fields.map((f) => f.name);
  for (const k of Object.keys(got)) {
    if (!fieldNames.includes(k)) throw new ProgramError(`the ${part} of the ${kind} gives ${k}, which is not a state field (${fieldNames.join(', ')})`);
  }
  return fields.map((f) => {
    const v = got[f.name as keyof S] as Tensor<Dt, string> | number | undefined;
    if (v === undefined) throw new ProgramError(`the ${part} of the ${kind} gives no value for state field ${f.name}`);
    return field(v, f, part, scope);
  });
}

/** The per-field values of every part, and the named locals, whose axes decide the outer axes. */
interface FoldParts {
  readonly init: readonly Tensor<Dt, string>[];
  readonly locals: readonly FoldLocalTensor[];
  readonly update: readonly Tensor<Dt, string>[];
  readonly merge: readonly Tensor<Dt, string>[];
}

/**
 * The outer axes: every axis a part uses beyond the steps and the field's own, in first use.
 * The parts are met in a fixed order (init, locals, step, merge) because that order is both the
 * order of the outer loops and the order in which size mismatches are reported.
 */
function outerAxes(scope: BuildScope, over: readonly Axis[], fields: readonly StateField[], parts: FoldParts): Axis[] {
  const outer: Axis[] = [];
  const meet = (axes: readonly Axis[], skip: readonly Axis[], what: string) => {
    for (const a of axes) {
      const known = [...skip, ...outer].find((x) => x.name === a.name);
      if (known) scope.require(known.size, a.size, `axis ${a.name} of ${what}`);
      else outer.push(a);
    }
  };
  fields.forEach((f, i) => meet(parts.init[i]!.axes, f.axes, `the init of ${f.name}`));
  parts.locals.forEach((l) => meet(l.t.axes, over, `local ${l.name}`));
  fields.forEach((f, i) => meet(parts.update[i]!.axes, [...over, ...f.axes], `the step of ${f.name}`));
  fields.forEach((f, i) => meet(parts.merge[i]!.axes, f.axes, `the merge of ${f.name}`));
  return outer;
}

interface FoldResultPart {
  readonly name: string;
  readonly axes: readonly Axis[];
  readonly expr: Expr;
}

/**
 * One named output, checked: its own axes are those beyond the loops (`loops`: the outer axes,
 * plus the step axis for a scan, whose output has a value per step).
 */
function foldResult(
  scope: BuildScope,
  kind: 'fold' | 'scan',
  name: string,
  t: Tensor<Dt, string>,
  loops: readonly Axis[],
  over: readonly Axis[],
): FoldResultPart {
  checkName(name, 'tensor');
  own(t, scope, `output ${name}`);
  if (t.dtype === 'bool') throw new DTypeError(`output ${name} of the ${kind} is a boolean; use where(...) or cast it`, name);
  const stepAxis = kind === 'fold' ? t.axes.find((a) => over.some((o) => o.name === a.name)) : undefined;
  if (stepAxis) {
    throw new ShapeError(`output ${name} of the fold uses step axis ${stepAxis.name}; outputs see only the final state`, name, stepAxis.name);
  }
  for (const a of t.axes) {
    const known = loops.find((x) => x.name === a.name);
    if (known) scope.require(known.size, a.size, `axis ${a.name} of output ${name}`);
  }
  return { name, axes: t.axes.filter((a) => !loops.some((x) => x.name === a.name)), expr: t.expr };
}

/** The statement target of each output: a tensor over the loops and its own axes, read from the fold. */
function foldTargets(def: FoldDef, outputs: readonly FoldResultPart[]): BuiltFold['targets'] {
  return outputs.map((o, k) => {
    const expr = foldOutput(def, k);
    return { decl: { name: o.name, dtype: expr.dtype as DType, axes: foldAxes(def, k) }, expr };
  });
}

/** A field's value in one part: a number takes the field's dtype; a tensor must have it. */
function field(v: Tensor<Dt, string> | number, f: StateField, part: string, scope: BuildScope): Tensor<Dt, string> {
  if (typeof v === 'number') return new Tensor(constant(v, f.dtype), [], String(v), scope);
  own(v, scope, `the ${part} of state field ${f.name}`);
  if (v.dtype !== f.dtype) {
    throw new DTypeError(`the ${part} of state field ${f.name} has dtype ${v.dtype}; the field is ${f.dtype} (cast it)`, f.name);
  }
  return v;
}

function own(t: Tensor<Dt, string>, scope: BuildScope, what: string): void {
  if (!(t instanceof Tensor)) throw new ProgramError(`${what} must be a tensor of program ${scope.programName}`);
  if (t.scope !== scope) throw new ProgramError(`${what} (${t.label}) belongs to program ${t.scope.programName}, not ${scope.programName}`);
}

function sizedAxes(axes: Readonly<Record<string, IntLike>>, what: string): Axis[] {
  return Object.entries(axes).map(([name, size]) => {
    checkName(name, `axis of ${what}`);
    const s = sizeArg(size, `axis ${name} of ${what}`, undefined, name);
    if (s.op === 'int' && s.value < 1) throw new ShapeError(`axis ${name} of ${what} has size ${s.value}; sizes must be at least 1`, undefined, name);
    return { name, size: s };
  });
}
