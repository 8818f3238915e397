import { boundSize, numel, shapeOf } from '../../ir/bind.js';
import { structuralHash } from '../../ir/hash.js';
import { type IntExpr, idiv, imod, imul, int, ivar, toInt } from '../../ir/intexpr.js';
import { type TFold, type TNode, type TileKernel } from '../../ir/tile.js';
import { type Axis, type Expr, type FoldDef, type Stmt, foldAxes, load, mapExpr, substIndex } from '../../ir/tensor.js';
import { type ValueType } from '../../ir/dtype.js';
import { accumulatingFold } from './as-fold.js';
import { type EmitScope } from '../emit.js';
import { type StepStore } from '../group.js';

/**
 * The first tile kernel of a group: the loop nest a person would write before any scheduling, in
 * one invocation. Schedule transforms (split-bind, vectorize, stride across lanes) rewrite it.
 */

/** A bound axis's size (a typed error where it is not bound). */
export const sizeOf = (a: Axis): number => boundSize(a);

/**
 * Row-major coordinates of a flat index: `c_k = (flat / stride_k) % n_k`; an axis of extent 1 is
 * the constant 0 (a GEMV's single row reads its vector at addresses every lane shares).
 */
export function decodeIndex(flat: IntExpr, shape: readonly (number | IntExpr)[]): IntExpr[] {
  const out: IntExpr[] = [];
  let stride: IntExpr = int(1);
  for (let k = shape.length - 1; k >= 0; k--) {
    const n = toInt(shape[k]!);
    const q = stride.op === 'int' && stride.value === 1 ? flat : idiv(flat, stride);
    out.unshift(n.op === 'int' && n.value === 1 ? int(0) : k === 0 ? q : imod(q, n));
    stride = imul(stride, n);
  }
  return out;
}

/**
 * A row group's shape with its dynamic axes at their run-time extents, where one of them lies
 * under a longer axis (attention's queries N under b and h): rows are then decoded at the sizes'
 * values, so the live ones run from row 0 and a launch needs only their workgroups. Undefined
 * where the leading axis is the dynamic one (rows past its value are already the last ones) or
 * none is dynamic.
 */
function runtimeRowShape(rowShape: readonly number[], extents: readonly (IntExpr | undefined)[] | undefined): IntExpr[] | undefined {
  const lead = rowShape.findIndex((n) => n > 1);
  if (!extents?.some((e, k) => e !== undefined && k > lead)) return undefined;
  return rowShape.map((n, k) => extents[k] ?? int(n));
}

const loop = (v: string, to: number, body: TNode[]): Extract<TNode, { op: 'loop' }> => ({ op: 'loop', var: v, kind: 'serial', from: int(0), to: int(to), step: 1, body });

/**
 * An elementwise statement as one loop per axis: `for i: for j: Y[i, j] = f(X[i, j], ...)`.
 * Loop variables are the statement's own axis names (each prefixed, so they cannot meet a size
 * or another kernel's variable).
 */
export function elementwiseTile(name: string, s: Stmt, dynamic?: Dynamic): TileKernel {
  const vars = s.target.axes.map((a) => `e_${a.name}`);
  const map = Object.fromEntries(s.target.axes.map((a, k) => [a.name, ivar(vars[k]!)]));
  const index = vars.map((v) => ivar(v));
  let body: TNode[] = within(index, dynamic?.axes[s.target.name], [{ op: 'store', tensor: s.target.name, index, value: substIndex(s.expr, map) }]);
  for (let k = s.target.axes.length - 1; k >= 0; k--) body = [loop(vars[k]!, sizeOf(s.target.axes[k]!), body)];
  return { name, grid: [], lanes: [], folds: [], body };
}

/** The fold a reduction or fold statement evaluates, and which of its outputs the statement stores. */
export function foldOf(s: Stmt): { def: FoldDef; output: number } | undefined {
  if (s.expr.op === 'reduce') return { def: accumulatingFold(s.expr.fn, s.target.axes, s.expr.axes, s.expr.body), output: 0 };
  if (s.expr.op === 'fold') return { def: s.expr.def, output: s.expr.output };
  return undefined;
}

/**
 * A row group: one serial loop over the rows (the leading axes every statement shares); per row,
 * each reduction or fold runs its steps and each elementwise statement its remaining axes. A
 * fold's results stay in registers for the statements after it and are stored where `stored`
 * says; the outputs of one fold definition share one region.
 */
export function rowsTile(
  name: string,
  rowShape: readonly number[],
  stmts: readonly Stmt[],
  stored: ReadonlySet<string>,
  dynamic?: Dynamic,
  padLast = 1,
  steps: readonly StepStore[] = [],
): TileKernel {
  const folds: TFold[] = [];
  const regionOf = new Map<string, TFold>();
  const body: TNode[] = [];
  // the row's coordinates, named once (a one-axis row is its own coordinate)
  // the last coordinate padded to a multiple of `padLast`: a block of that many consecutive rows
  // then shares its other coordinates (the rows past the end do nothing)
  const last = rowShape.at(-1) ?? 1;
  const padded = rowShape.length ? [...rowShape.slice(0, -1), Math.ceil(last / padLast) * padLast] : [];
  const rowExtents = dynamic?.axes[stmts[0]!.target.name]?.slice(0, rowShape.length);
  const runtime = padLast === 1 ? runtimeRowShape(rowShape, rowExtents) : undefined;
  const decoded = runtime ? decodeIndex(ivar('row'), runtime) : decodeIndex(ivar('row'), padded);
  const coords = rowShape.length === 1 ? decoded : decoded.map((_, k) => ivar(`p${k}`));
  if (rowShape.length !== 1) decoded.forEach((value, k) => body.push({ op: 'let', var: `p${k}`, value }));
  // a value per row (no axes of its own) is fetched into a register that later statements read:
  // one lane stores it, and another lane reading it back from memory could read it too early
  const perRow = new Map<string, Expr>();
  stmts.forEach((given, si) => {
    const s = readPerRow(given, perRow);
    const rowMap = Object.fromEntries(s.target.axes.slice(0, rowShape.length).map((a, k) => [a.name, coords[k]!]));
    const f = foldOf(s);
    if (!f) {
      const inner = shapeOf(s.target).slice(rowShape.length);
      const c = `c${si}`;
      const own = decodeIndex(ivar(c), inner);
      const map = { ...rowMap, ...Object.fromEntries(s.target.axes.slice(rowShape.length).map((a, k) => [a.name, own[k]!])) };
      const index = [...coords, ...own];
      let value = substIndex(s.expr, map);
      if (inner.length === 0) {
        const name = `row_${s.target.name}`;
        body.push({ op: 'fetch', name, value, per: [] });
        value = { op: 'local', dtype: s.target.dtype as ValueType, name };
        perRow.set(s.target.name, value);
        if (!stored.has(s.target.name)) return;
      }
      const store: TNode = { op: 'store', tensor: s.target.name, index, value };
      body.push(loop(c, numel(inner), within(index.slice(rowShape.length), dynamic?.axes[s.target.name]?.slice(rowShape.length), [store])));
      return;
    }
    const key = structuralHash(f.def);
    let region = regionOf.get(key);
    const result = { tensor: s.target.name, output: f.output };
    if (!region) {
      region = { name: `f${folds.length}`, def: f.def, outer: coords, results: [result] };
      regionOf.set(key, region);
      folds.push(region);
      body.push({ op: 'init', fold: region.name }, stepLoop(`r${si}`, region.name, f.def, dynamic));
    } else {
      const updated = { ...region, results: [...region.results, result] };
      folds[folds.indexOf(region)] = updated;
      regionOf.set(key, updated);
      region = updated;
    }
    if (!stored.has(s.target.name)) return;
    const store = resultStore(s, f.def, f.output, coords, si, dynamic);
    if (f.def.kind === 'scan') {
      // a scan's outputs are per step: stored inside the step loop, after the step
      afterStep(body, region.name, (step) => store(step));
    } else body.push(...store(undefined));
  });
  storeAtSteps(body, folds, steps, coords);
  // rows past a dynamic size do nothing (the lets in front name the row's coordinates)
  const lets = body.filter((n) => n.op === 'let');
  const extents: (IntExpr | undefined)[] = [...(rowExtents ?? [])];
  if (rowShape.length && padded.at(-1) !== last) extents[rowShape.length - 1] ??= int(last);
  const rest = body.filter((n) => n.op !== 'let');
  // rows decoded at the sizes' values are live below their product, in one run from row 0
  const work: TNode[] = runtime ? [{ op: 'guard', index: ivar('row'), below: runtime.reduce((a, b) => imul(a, b)), body: rest }] : within(coords, extents, rest);
  return { name, grid: [], lanes: [], folds, body: [loop('row', numel(padded), [...lets, ...work])] };
}

/**
 * Elementwise statements a reduction reads whole, each stored at every step of the reduction's
 * fold, inside its step loop (other reductions of the row may have joined the group).
 */
function storeAtSteps(body: TNode[], folds: readonly TFold[], steps: readonly StepStore[], coords: readonly IntExpr[]): void {
  for (const x of steps) {
    const fold = folds.find((f) => f.results.some((r) => r.tensor === x.by))!;
    afterStep(body, fold.name, (step) => {
      const index = x.axes.map((a) => (a === 'step' ? step : coords[a]!));
      const value = substIndex(x.stmt.expr, Object.fromEntries(x.stmt.target.axes.map((a, k) => [a.name, index[k]!])));
      return [{ op: 'store', tensor: x.stmt.target.name, index, value }];
    });
  }
}

/** Appends `nodes(step)` to the body of fold `fold`'s step loop in `body` (step: the loop's variable). */
function afterStep(body: TNode[], fold: string, nodes: (step: IntExpr) => TNode[]): void {
  const k = body.findLastIndex((n) => n.op === 'loop' && n.body.some((m) => m.op === 'step' && m.fold === fold));
  const loop = body[k];
  if (loop?.op !== 'loop') throw new Error(`internal: fold ${fold} has no step loop`);
  body[k] = { ...loop, body: [...loop.body, ...nodes(ivar(loop.var))] };
}

/** `s` with its reads of per-row values (always at the row's own index) replaced by their registers. */
function readPerRow(s: Stmt, perRow: ReadonlyMap<string, Expr>): Stmt {
  if (perRow.size === 0) return s;
  const expr = mapExpr(s.expr, (e) => (e.op === 'load' ? (perRow.get(e.tensor) ?? e) : e));
  return expr === s.expr ? s : { target: s.target, expr };
}

/** Dynamic extents of the program (see EmitScope.dynamic). */
export type Dynamic = NonNullable<EmitScope['dynamic']>;

/** `body` where every coordinate is below its tensor axis's dynamic extent (static ones need no guard). */
export function within(coords: readonly IntExpr[], extents: readonly (IntExpr | undefined)[] | undefined, body: TNode[]): TNode[] {
  let out = body;
  (extents ?? []).forEach((extent, k) => {
    if (extent) out = [{ op: 'guard', index: coords[k]!, below: extent, body: out }];
  });
  return out;
}

/**
 * The loop over a fold's steps: over its one axis up to its extent when that is dynamic (at most
 * its bound), or over all of its axes' points with the dynamic ones guarded.
 */
function stepLoop(r: string, fold: string, def: FoldDef, dynamic: Dynamic | undefined): TNode {
  const shape = def.over.map(sizeOf);
  const extents = def.over.map((a) => dynamic?.loops[a.name]);
  const at = decodeIndex(ivar(r), shape);
  const step: TNode = { op: 'step', fold, at };
  if (def.over.length === 1 && extents[0]) return { op: 'loop', var: r, kind: 'serial', from: int(0), to: extents[0], step: 1, count: shape[0]!, body: [step] };
  return loop(r, numel(shape), within(at, extents, [step]));
}

/** Stores a fold result for the current row (and, for a scan, the current step): a loop over its own axes. */
function resultStore(s: Stmt, def: FoldDef, output: number, coords: readonly IntExpr[], si: number, dynamic: Dynamic | undefined) {
  return (step: IntExpr | undefined): TNode[] => {
    const own = def.outputs[output]!.axes;
    const c = `o${si}`;
    const ownIdx = decodeIndex(ivar(c), own.map(sizeOf));
    const index = [...coords, ...(step ? [step] : []), ...ownIdx];
    const value = load(s.target, foldAxes(def, output).map((_, k) => index[k]!));
    const skip = index.length - ownIdx.length;
    const guarded = within(ownIdx, dynamic?.axes[s.target.name]?.slice(skip), [{ op: 'store', tensor: s.target.name, index, value }]);
    return [loop(c, numel(own.map(sizeOf)), guarded)];
  };
}
