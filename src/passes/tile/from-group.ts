import { numel, shapeOf } from '../../ir/bind.js';
import { structuralHash } from '../../ir/hash.js';
import { type IntExpr, idiv, imod, int, ivar } from '../../ir/intexpr.js';
import { type TFold, type TNode, type TileKernel } from '../../ir/tile.js';
import { type Axis, type FoldDef, type Stmt, foldAxes, load, substIndex } from '../../ir/tensor.js';
import { accumulatingFold } from './as-fold.js';

/**
 * The first tile kernel of a group: the loop nest a person would write before any scheduling, in
 * one invocation. Schedule transforms (split-bind, vectorize, stride across lanes) rewrite it.
 */

export const sizeOf = (a: Axis): number => (a.size.op === 'int' ? a.size.value : 0);

/** Row-major coordinates of a flat index: `c_k = (flat / stride_k) % n_k`. */
export function decodeIndex(flat: IntExpr, shape: readonly number[]): IntExpr[] {
  const out: IntExpr[] = [];
  let stride = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    const q = stride === 1 ? flat : idiv(flat, stride);
    out.unshift(k === 0 ? q : imod(q, shape[k]!));
    stride *= shape[k]!;
  }
  return out;
}

const loop = (v: string, to: number, body: TNode[]): TNode => ({ op: 'loop', var: v, kind: 'serial', from: int(0), to: int(to), step: 1, body });

/**
 * An elementwise statement as one loop per axis: `for i: for j: Y[i, j] = f(X[i, j], ...)`.
 * Loop variables are the statement's own axis names (each prefixed, so they cannot meet a size
 * or another kernel's variable).
 */
export function elementwiseTile(name: string, s: Stmt): TileKernel {
  const vars = s.target.axes.map((a) => `e_${a.name}`);
  const map = Object.fromEntries(s.target.axes.map((a, k) => [a.name, ivar(vars[k]!)]));
  let body: TNode[] = [{ op: 'store', tensor: s.target.name, index: vars.map((v) => ivar(v)), value: substIndex(s.expr, map) }];
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
export function rowsTile(name: string, rowShape: readonly number[], stmts: readonly Stmt[], stored: ReadonlySet<string>): TileKernel {
  const folds: TFold[] = [];
  const regionOf = new Map<string, TFold>();
  const body: TNode[] = [];
  // the row's coordinates, named once (a one-axis row is its own coordinate)
  const decoded = decodeIndex(ivar('row'), rowShape);
  const coords = rowShape.length === 1 ? decoded : decoded.map((_, k) => ivar(`p${k}`));
  if (rowShape.length !== 1) decoded.forEach((value, k) => body.push({ op: 'let', var: `p${k}`, value }));
  stmts.forEach((s, si) => {
    const rowMap = Object.fromEntries(s.target.axes.slice(0, rowShape.length).map((a, k) => [a.name, coords[k]!]));
    const f = foldOf(s);
    if (!f) {
      const inner = shapeOf(s.target).slice(rowShape.length);
      const c = `c${si}`;
      const own = decodeIndex(ivar(c), inner);
      const map = { ...rowMap, ...Object.fromEntries(s.target.axes.slice(rowShape.length).map((a, k) => [a.name, own[k]!])) };
      const store: TNode = { op: 'store', tensor: s.target.name, index: [...coords, ...own], value: substIndex(s.expr, map) };
      body.push(loop(c, numel(inner), [store]));
      return;
    }
    const key = structuralHash(f.def);
    let region = regionOf.get(key);
    const result = { tensor: s.target.name, output: f.output };
    if (!region) {
      region = { name: `f${folds.length}`, def: f.def, outer: coords, results: [result] };
      regionOf.set(key, region);
      folds.push(region);
      const r = `r${si}`;
      const at = decodeIndex(ivar(r), f.def.over.map(sizeOf));
      body.push({ op: 'init', fold: region.name }, loop(r, numel(f.def.over.map(sizeOf)), [{ op: 'step', fold: region.name, at }]));
    } else {
      const updated = { ...region, results: [...region.results, result] };
      folds[folds.indexOf(region)] = updated;
      regionOf.set(key, updated);
      region = updated;
    }
    if (!stored.has(s.target.name)) return;
    const store = resultStore(s, f.def, f.output, coords, si);
    if (f.def.kind === 'scan') {
      // a scan's outputs are per step: stored inside the step loop, after the step
      const stepLoop = body.findLast((n) => n.op === 'loop' && n.body.some((m) => m.op === 'step' && m.fold === region.name));
      if (stepLoop?.op !== 'loop') throw new Error(`internal: scan ${region.name} has no step loop`);
      body[body.indexOf(stepLoop)] = { ...stepLoop, body: [...stepLoop.body, ...store(ivar(stepLoop.var))] };
    } else body.push(...store(undefined));
  });
  return { name, grid: [], lanes: [], folds, body: [loop('row', numel(rowShape), body)] };
}

/** Stores a fold result for the current row (and, for a scan, the current step): a loop over its own axes. */
function resultStore(s: Stmt, def: FoldDef, output: number, coords: readonly IntExpr[], si: number) {
  return (step: IntExpr | undefined): TNode[] => {
    const own = def.outputs[output]!.axes;
    const c = `o${si}`;
    const ownIdx = decodeIndex(ivar(c), own.map(sizeOf));
    const index = [...coords, ...(step ? [step] : []), ...ownIdx];
    const value = load(s.target, foldAxes(def, output).map((_, k) => index[k]!));
    return [loop(c, numel(own.map(sizeOf)), [{ op: 'store', tensor: s.target.name, index, value }])];
  };
}
