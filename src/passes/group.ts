import { type BoundProgram, boundShape, boundSize, numel, shapeOf } from '../ir/bind.js';
import { ivar } from '../ir/intexpr.js';
import { printExpr } from '../ir/print.js';
import { type Axis, type Expr, type Stmt, freeVars, loadedTensors, substIndex, visitExpr } from '../ir/tensor.js';
import { type Contraction, analyzeContraction } from './contraction.js';

/**
 * How statements are packed into kernels.
 *
 * - `elementwise`: one invocation per output element.
 * - `serial`: one invocation per output element, each running its reduction loop alone. Used for
 *   short reductions and for contractions over many outputs (matmul-like: operands are reused
 *   across outputs, which the tiling schedule exploits; this is the untiled fallback).
 * - `contraction`: a sum of products with operand reuse (matmul, batched, with prologues on the
 *   operands), tiled by the contraction schedule, with the elementwise statements that read its
 *   result pointwise fused into its store (epilogue: bias, activation, residual, cast).
 * - `rows`: a row group. Statements that share leading "row" axes — reductions and folds over the
 *   rest of their axes and elementwise statements reading those results per row — run in one
 *   kernel, a team of invocations per row. Every fold (a stateful reduction or scan) is a row group
 *   over its outer axes; the outputs of one fold definition join one group. Softmax, layernorm and rmsnorm each become one kernel: the row
 *   reductions meet in workgroup memory (or subgroups) and their results stay in registers.
 */
export type KernelGroup =
  | { readonly kind: 'elementwise'; readonly stmt: Stmt }
  | { readonly kind: 'serial'; readonly stmt: Stmt }
  | { readonly kind: 'rows'; readonly rowShape: readonly number[]; readonly stmts: readonly Stmt[]; readonly steps?: readonly StepStore[] }
  | { readonly kind: 'contraction'; readonly stmt: Stmt; readonly shape: Contraction; readonly epilogue: readonly Stmt[] };

/**
 * An elementwise statement a row reduction reads whole, one element per row and step: stored by
 * the reduction's kernel as it steps (the state update of a decoding step, S_new = a·S + k·v,
 * stored while o = q·S_new sums over it), instead of by a kernel of its own whose result the
 * reduction reads again.
 */
/** The fewest rows a reduction needs to store an elementwise statement at its steps. */
export const STEP_STORE_MIN_ROWS = 256;

export interface StepStore {
  readonly stmt: Stmt;
  /** The reduction at whose steps it is stored. */
  readonly by: string;
  /** Per axis of the statement: the row coordinate it is (its index among the row axes), or 'step'. */
  readonly axes: readonly (number | 'step')[];
}

export interface GroupOptions {
  /** Shortest reduction a team of invocations shares (shorter ones run serially). */
  readonly cooperativeMinLength: number;
  /** A contraction with at least this many outputs runs one invocation per output (when not tiled). */
  readonly contractionSerialOutputs: number;
  /** Tile contractions (the `contraction` group); off gives the untiled fallbacks. */
  readonly tileContractions: boolean;
}

export const DEFAULT_GROUP_OPTIONS: GroupOptions = { cooperativeMinLength: 32, contractionSerialOutputs: 16384, tileContractions: true };

export function reductionLength(s: Stmt): number {
  if (s.expr.op !== 'reduce') return 1;
  return numel(boundShape(s.expr.axes));
}

/** A load in the body that ignores one of the output axes: the operand is reused across outputs. */
export function isContraction(s: Stmt): boolean {
  if (s.expr.op !== 'reduce') return false;
  let reused = false;
  visitExpr(s.expr.body, (e) => {
    if (e.op !== 'load') return;
    const used = freeVars({ ...e });
    if (s.target.axes.some((a) => !used.has(a.name))) reused = true;
  });
  return reused;
}

/**
 * A contraction one of whose sides has a single row or column (a matrix-vector product, a GEMV at
 * M = 1): nothing is reused across a tile, so it runs as rows, one fold per output, whose steps
 * stream the matrix (a team of lanes per row, or a lane per row, split across workgroups).
 */
export function isMatrixVector(s: Stmt): boolean {
  const c = isContraction(s) ? analyzeContraction(s) : undefined;
  if (!c) return false;
  const extent = (axes: readonly Axis[]) => numel(axes.map((a) => boundSize(a)));
  return extent(c.m) === 1 || extent(c.n) === 1;
}

function isCooperative(s: Stmt, opts: GroupOptions): boolean {
  if (s.expr.op !== 'reduce' || reductionLength(s) < opts.cooperativeMinLength) return false;
  return !(isContraction(s) && !isMatrixVector(s) && numel(shapeOf(s.target)) >= opts.contractionSerialOutputs);
}

export function groupStatements(p: BoundProgram, opts: GroupOptions = DEFAULT_GROUP_OPTIONS): KernelGroup[] {
  const groups: KernelGroup[] = [];
  const producer = new Map<string, number>(); // tensor -> index of the group computing it
  for (const s of p.stmts) {
    const last = groups.length - 1;
    const open = groups[last];
    if (open?.kind === 'rows' && canJoin(open, last, s, producer, opts)) {
      groups[last] = { ...open, stmts: [...open.stmts, s] };
      producer.set(s.target.name, last);
      continue;
    }
    if (open?.kind === 'contraction' && isEpilogue(open, last, s, producer)) {
      groups[last] = { ...open, epilogue: [...open.epilogue, s] };
      producer.set(s.target.name, last);
      continue;
    }
    const shape = opts.tileContractions && isContraction(s) && !isMatrixVector(s) ? analyzeContraction(s) : undefined;
    // the elementwise statement just before, read whole by this row reduction: stored as it steps
    // (with rows enough to spread the statement's elements over the device: a full reduction is one row)
    const steps = open?.kind === 'elementwise' && !shape && isCooperative(s, opts) && numel(shapeOf(s.target)) >= STEP_STORE_MIN_ROWS ? stepStore(open.stmt, s) : undefined;
    if (steps) {
      groups[last] = { kind: 'rows', rowShape: shapeOf(s.target), stmts: [s], steps: [steps] };
      producer.set(s.target.name, last);
      continue;
    }
    let g: KernelGroup;
    if (s.expr.op === 'fold') g = { kind: 'rows', rowShape: shapeOf(s.target).slice(0, s.expr.def.outer.length), stmts: [s] };
    else if (shape) g = { kind: 'contraction', stmt: s, shape, epilogue: [] };
    else if (isCooperative(s, opts)) g = { kind: 'rows', rowShape: shapeOf(s.target), stmts: [s] };
    else if (s.expr.op === 'reduce') g = { kind: 'serial', stmt: s };
    else g = { kind: 'elementwise', stmt: s };
    groups.push(g);
    producer.set(s.target.name, groups.length - 1);
  }
  return groups;
}

function canJoin(
  g: Extract<KernelGroup, { kind: 'rows' }>,
  index: number,
  s: Stmt,
  producer: ReadonlyMap<string, number>,
  opts: GroupOptions,
): boolean {
  const k = g.rowShape.length;
  const shape = shapeOf(s.target);
  if (shape.length < k || g.rowShape.some((n, i) => shape[i] !== n)) return false;
  if (s.expr.op === 'reduce' && (shape.length !== k || !isCooperative(s, opts))) return false;
  if (s.expr.op === 'fold' && s.expr.def.outer.length !== k) return false;
  const rowVars = s.target.axes.slice(0, k).map((a) => a.name);
  const members = new Set(g.stmts.map((m) => m.target.name));
  let readsMember = false;
  let ok = true;
  const check = (e: Expr) => {
    if (e.op !== 'load') return;
    if (members.has(e.tensor)) {
      readsMember = true;
      // at the row (a fold's output with axes of its own may be read at any element of them)
      const member = g.stmts.find((m) => m.target.name === e.tensor)!;
      const own = member.expr.op === 'fold' ? e.index.length - k : 0;
      const exact = e.index.length === k + own && e.index.slice(0, k).every((ix, i) => ix.op === 'var' && ix.name === rowVars[i]);
      if (!exact) ok = false;
    } else if ((producer.get(e.tensor) ?? -1) >= index) {
      ok = false; // computed by a later kernel that may itself depend on this group
    }
  };
  visitExpr(s.expr, check);
  return ok && (readsMember || s.expr.op === 'reduce' || s.expr.op === 'fold');
}

/**
 * `x` as the reduction `s` reads it at (row, step), where its expression appears inlined in the
 * reduction's body: each of its axes a row axis of `s` or the reduced one, with equal sizes.
 */
function stepStore(x: Stmt, s: Stmt): StepStore | undefined {
  if (s.expr.op !== 'reduce' || s.expr.axes.length !== 1 || x.expr.op === 'reduce' || x.expr.op === 'fold') return undefined;
  const rowAxes = s.target.axes;
  const step = s.expr.axes[0]!;
  if (x.target.axes.length !== rowAxes.length + 1) return undefined;
  const body = new Set<string>();
  visitExpr(s.expr.body, (e) => {
    body.add(printExpr(e));
  });
  // every assignment of the statement's axes to the row axes and the step, sizes agreeing
  const choices: (number | 'step')[] = [...rowAxes.map((_, k) => k), 'step'];
  const assign = (i: number, used: ReadonlySet<number | 'step'>, acc: (number | 'step')[]): StepStore | undefined => {
    if (i === x.target.axes.length) {
      const map = Object.fromEntries(x.target.axes.map((a, k) => [a.name, ivar(acc[k] === 'step' ? step.name : rowAxes[acc[k] as number]!.name)]));
      return body.has(printExpr(substIndex(x.expr, map))) ? { stmt: x, by: s.target.name, axes: acc } : undefined;
    }
    for (const c of choices) {
      if (used.has(c) || boundSize(c === 'step' ? step : rowAxes[c]!) !== boundSize(x.target.axes[i]!)) continue;
      const found = assign(i + 1, new Set([...used, c]), [...acc, c]);
      if (found) return found;
    }
    return undefined;
  };
  return assign(0, new Set(), []);
}

/** An elementwise statement over the contraction's output axes reading group results pointwise. */
function isEpilogue(
  g: Extract<KernelGroup, { kind: 'contraction' }>,
  index: number,
  s: Stmt,
  producer: ReadonlyMap<string, number>,
): boolean {
  if (s.expr.op === 'reduce') return false;
  const shape = shapeOf(s.target);
  const own = shapeOf(g.stmt.target);
  if (shape.length !== own.length || shape.some((n, i) => n !== own[i])) return false;
  const members = new Set([g.stmt.target.name, ...g.epilogue.map((e) => e.target.name)]);
  const axes = s.target.axes.map((a) => a.name);
  let readsMember = false;
  let ok = true;
  visitExpr(s.expr, (e) => {
    if (e.op !== 'load') return;
    if (members.has(e.tensor)) {
      readsMember = true;
      if (!e.index.every((ix, i) => ix.op === 'var' && ix.name === axes[i])) ok = false;
    } else if ((producer.get(e.tensor) ?? -1) >= index) ok = false;
  });
  return ok && readsMember;
}

/** Tensors a group computes that something outside it reads (or that are outputs). */
export function escapingTensors(groups: readonly KernelGroup[], outputs: readonly string[]): Set<string> {
  const out = new Set(outputs);
  groups.forEach((g, gi) => {
    const own = new Set(stmtsOf(g).map((s) => s.target.name));
    groups.forEach((h, hi) => {
      if (hi === gi) return;
      for (const s of stmtsOf(h)) for (const t of loadedTensors(s.expr)) if (own.has(t)) out.add(t);
    });
  });
  return out;
}

export const stmtsOf = (g: KernelGroup): readonly Stmt[] =>
  g.kind === 'rows' ? [...(g.steps ?? []).map((x) => x.stmt), ...g.stmts] : g.kind === 'contraction' ? [g.stmt, ...g.epilogue] : [g.stmt];
