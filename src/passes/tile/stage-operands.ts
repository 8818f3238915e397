import { numel } from '../../ir/bind.js';
import { type DType } from '../../ir/dtype.js';
import type { NameAllocator } from '../../ir/names.js';
import { type IntExpr, iadd, ibin, idiv, imod, imul, int, intVars, ivar, substInt } from '../../ir/intexpr.js';
import { type TDim, type TFold, type TNode, type TShared, type TileKernel, substKernel, tileNames, visitNodes } from '../../ir/tile.js';
import { TilecraftError } from '../../ir/errors.js';
import { type Expr, type FoldDef, type TensorDecl, mapExpr, visitExpr } from '../../ir/tensor.js';
import { InvalidScheduleError } from '../schedule.js';
import { decodeIndex, sizeOf } from './from-group.js';
import { UNROLL_FIELD_ELEMENTS } from './lower-fold.js';

/**
 * Stages a row fold's operands in workgroup memory, for a workgroup whose lanes each run one row
 * (or, with a register tile of rows, several: see bindRows) and whose rows differ only in their
 * last coordinate (a query tile of attention: lanes own query rows, the workgroup shares the keys):
 *
 * - an operand of the steps that does not depend on the lane's row (keys and values `K[b, h, j, d]`)
 *   is loaded by the whole workgroup a tile of `steps` steps at a time, cooperatively, into an
 *   array every lane's steps then read: the steps loop over tiles, each between barriers;
 * - an operand that depends on the row but not on the step (the query row `Q[b, h, i, d]`) is
 *   copied once into a private array of the lane (registers: the short reductions of a step are
 *   unrolled, so every read has a constant index), instead of being read at every step; where
 *   it and the state would not fit in registers together, into the lane's column of a
 *   workgroup array (lane-minor: neighbouring lanes read neighbouring elements).
 *
 * An operand qualifies where each index is either an expression of the row's coordinates, the
 * step's axis itself, or a variable the definition enumerates (a reduction's axis, a state
 * field's own axis) on its own. Barriers must be reached by every invocation, so the guards of
 * rows past the end (and of a dynamic size) move inward, around the stores (and the steps, where
 * they read a row-dependent tensor that is not staged). The fold definition of the region reads
 * the staged arrays instead of the tensors.
 */
export interface StageOptions {
  /** Steps per staged tile. */
  readonly steps: number;
  /** The lane dimension whose lanes own the rows, and its extent. */
  readonly lane: string;
  readonly lanes: number;
  /** Rows per workgroup (lanes times the rows of a lane's register tile). */
  readonly rowsPerGroup: number;
  /** Element sizes of the tensors and the workgroup memory available. */
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  readonly maxWorkgroupStorageBytes: number;
}

const BYTES: Partial<Record<DType, number>> = { f16: 2, bf16: 2 };

/**
 * Elements of a lane's state and register-staged rows together: past it a row is staged in
 * workgroup memory instead (a CUDA thread has 255 registers; the state and the row compete).
 */
const ROW_REGISTERS = 160;

/**
 * Most elements of state and register-staged rows a lane's rows may hold together: each is
 * unrolled code, and past this the software GPU's compiler takes minutes.
 */
const MAX_LANE_ELEMENTS = 1200;

interface Staged {
  readonly shared: TShared;
  /** A tile of steps shared by the workgroup; a row in the lane's registers; a row in workgroup memory, lane-minor. */
  readonly kind: 'tile' | 'row' | 'rowShared';
  /** The operand's load, as the definition writes it. */
  readonly load: Extract<Expr, { op: 'load' }>;
  /** The enumerated variables of its index, in index order, with their sizes. */
  readonly rest: readonly { readonly name: string; readonly size: number }[];
}

/**
 * Binds a row kernel's one loop over the rows (`rowsTile` padded to a multiple of lanes x
 * rowsPerLane) to workgroups of `lanes` invocations, each owning `rowsPerLane` rows: row
 * `g * lanes * rowsPerLane + r * lanes + l` for the lane `l` and the point `r` of the fold's
 * register tile (an unrolled loop: one state per row, the rows' steps side by side, so that they
 * share each staged operand they read). The row's coordinates are written out in place of names.
 */
export function bindRows(t: TileKernel, lanes: number, rowsPerLane: number): TileKernel {
  const top = t.body.length === 1 ? t.body[0] : undefined;
  if (top?.op !== 'loop' || top.to.op !== 'int' || top.to.value % (lanes * rowsPerLane) !== 0) {
    throw new TilecraftError(`internal: kernel ${t.name} has no padded loop over its rows to bind`);
  }
  const point = rowsPerLane > 1 ? imul(ivar(POINT), lanes) : int(0);
  const names = tileNames(t);
  const [g, l] = [names.fresh(`${top.var}_g`), names.fresh(`${top.var}_l`)];
  const map: Record<string, IntExpr> = { [top.var]: iadd(iadd(imul(ivar(g), lanes * rowsPerLane), point), ivar(l)) };
  const body: TNode[] = [];
  for (const n of top.body) {
    if (n.op === 'let') map[n.var] = substInt(n.value, map);
    else body.push(n);
  }
  const bound = substKernel({ ...t, body }, map);
  return {
    ...bound,
    grid: [...t.grid, { var: g, extent: top.to.value / (lanes * rowsPerLane) }],
    lanes: [...t.lanes, { var: l, extent: lanes }],
    folds: bound.folds.map((f) => (rowsPerLane > 1 ? { ...f, tile: [...(f.tile ?? []), { var: POINT, extent: rowsPerLane }] } : f)),
  };
}

/** The unrolled variable of a lane's rows (the point of the fold's register tile). */
const POINT = 'rr';

/**
 * A lane's register tile of rows without staging (after bindRows): every step runs once per row
 * of the tile, side by side in an unrolled loop (under the row's guards), so what the rows share
 * is read once per step for all of them (a GEMV's activation, loaded once for `rowsPerLane`
 * weight rows); the rest of the row's work (init, result stores) runs per point too.
 */
export function tileRows(t: TileKernel, maxLaneElements = MAX_LANE_ELEMENTS): TileKernel {
  const tile = t.folds[0]?.tile ?? [];
  if (tile.length === 0) return t;
  const points = tile.reduce((n, d) => n * d.extent, 1);
  const perRow = t.folds.reduce((a, f) => a + f.def.state.reduce((b, x) => b + numel(x.axes.map(sizeOf)), 0), 0);
  if (points * perRow > maxLaneElements) {
    throw new InvalidScheduleError(`${t.name}: ${points} rows per lane hold ${points * perRow} elements of state, more than ${maxLaneElements} (fewer rowsPerLane fit)`, t.name, 'rowsPerLane');
  }
  const eachStep = (nodes: readonly TNode[], guards: readonly Guard[]): TNode[] =>
    nodes.flatMap((n): TNode[] => {
      if (n.op === 'step') return perPoint(tile, wrap(guards, [n]));
      if (n.op === 'loop') return [{ ...n, body: eachStep(n.body, guards) }];
      if (n.op === 'guard') return [{ ...n, body: eachStep(n.body, guards) }];
      return [n];
    });
  return { ...t, body: place(t.body, [], tile, (loop, guards) => eachStep([loop], guards)) };
}

export function stageOperands(t: TileKernel, o: StageOptions): TileKernel {
  if (t.folds.length !== 1) throw invalid(t, `staging needs exactly one fold in the kernel, found ${t.folds.length}`);
  const fold = t.folds[0]!;
  const def = fold.def;
  if (def.kind !== 'fold' || def.over.length !== 1) throw invalid(t, 'staging needs a fold (not a scan) over one axis');
  // staged arrays are read by name like tensors, so theirs must be no tensor's (nor a variable's)
  const names = tileNames(t);
  for (const n of o.tensors.keys()) names.reserve(n);
  const staged = operandsOf(fold, o, names);
  if (!staged.some((s) => s.kind === 'tile')) throw invalid(t, `no operand of fold ${fold.name} is shared by the rows of a workgroup`);
  const bytes = staged.filter((s) => s.kind !== 'row').reduce((a, s) => a + s.shared.length * (BYTES[s.shared.dtype as DType] ?? 4), 0);
  if (bytes > o.maxWorkgroupStorageBytes) {
    throw invalid(t, `staging ${o.steps} steps of ${staged.map((s) => s.load.tensor).join(', ')} needs ${bytes} bytes of workgroup memory; the device has ${o.maxWorkgroupStorageBytes}`);
  }
  const points = (fold.tile ?? []).reduce((n, d) => n * d.extent, 1);
  const perRow = def.state.reduce((a, f) => a + numel(f.axes.map(sizeOf)), 0) + staged.filter((s) => s.kind === 'row').reduce((a, s) => a + s.shared.length, 0);
  if (points > 1 && points * perRow > MAX_LANE_ELEMENTS) {
    throw new InvalidScheduleError(
      `${t.name}: ${points} rows per lane hold ${points * perRow} elements of state and staged rows, more than ${MAX_LANE_ELEMENTS} (fewer rowsPerLane fit)`,
      t.name,
      'rowsPerLane',
    );
  }
  const region: TFold = { ...fold, def: readStaged(def, staged, o) };
  const body = place(t.body, [], fold.tile ?? [], (loop, guards) => stagedLoop(loop, guards, fold, staged, o, region.def));
  const tiled = (fold.tile ?? []).length > 0;
  const arrays = (kind: Staged['kind']) => staged.filter((s) => s.kind === kind).map((s) => (kind === 'row' && tiled ? { ...s.shared, point: fold.name } : s.shared));
  return { ...t, shared: [...(t.shared ?? []), ...arrays('tile'), ...arrays('rowShared')], private: [...(t.private ?? []), ...arrays('row')], folds: [region], body };
}

const invalid = (t: TileKernel, why: string) => new InvalidScheduleError(`${t.name}: ${why}`, t.name, 'stageSteps');

/** The operands worth staging: loads in the steps' locals and updates that qualify (see above). */
function operandsOf(fold: TFold, o: StageOptions, names: NameAllocator): Staged[] {
  const def = fold.def;
  const j = def.over[0]!.name;
  const row = def.outer.at(-1)?.name;
  const outer = new Set(def.outer.map((a) => a.name));
  // variables the definition enumerates, by name (a name bound twice with two sizes is left alone)
  const sizes = new Map<string, number | undefined>();
  const bind = (name: string, size: number) => sizes.set(name, sizes.has(name) && sizes.get(name) !== size ? undefined : size);
  for (const f of def.state) for (const a of f.axes) bind(a.name, sizeOf(a));
  for (const e of [...def.locals.map((l) => l.expr), ...def.update]) {
    visitExpr(e, (n) => {
      if (n.op === 'reduce') for (const a of n.axes) bind(a.name, sizeOf(a));
    });
  }
  const out: Staged[] = [];
  const seen = new Set<string>();
  // registers a lane's state takes (fields up to the unrolling limit live in registers)
  let registers = def.state.reduce((a, f) => a + numel(f.axes.map(sizeOf)), 0);
  for (const e of [...def.locals.map((l) => l.expr), ...def.update]) {
    visitExpr(e, (n) => {
      if (n.op !== 'load' || !o.tensors.has(n.tensor)) return;
      const key = JSON.stringify([n.tensor, n.index]);
      if (seen.has(key)) return;
      seen.add(key);
      const rest: { name: string; size: number }[] = [];
      let step = 0;
      let ok = true;
      for (const ix of n.index) {
        const vars = intVars(ix);
        if (ix.op === 'var' && ix.name === j) step++;
        else if (ix.op === 'var' && sizes.get(ix.name) !== undefined && !outer.has(ix.name)) {
          if (rest.some((r) => r.name === ix.name)) ok = false;
          rest.push({ name: ix.name, size: sizes.get(ix.name)! });
        } else if (![...vars].every((v) => outer.has(v))) ok = false;
      }
      const readsRow = row !== undefined && n.index.some((ix) => intVars(ix).has(row));
      if (!ok) return;
      const per = numel(rest.map((r) => r.size));
      const dtype = o.tensors.get(n.tensor)!.dtype;
      const name = names.fresh(`${n.tensor}_s${out.length}`);
      if (step === 1 && !readsRow) out.push({ kind: 'tile', load: n, rest, shared: { name, dtype, length: o.steps * per } });
      else if (step === 0 && readsRow) {
        // in registers where it fits beside the state (a wide state and a wide row would spill)
        const inRegisters = per <= UNROLL_FIELD_ELEMENTS && per + registers <= ROW_REGISTERS;
        if (inRegisters) registers += per;
        out.push(inRegisters ? { kind: 'row', load: n, rest, shared: { name, dtype, length: per } } : { kind: 'rowShared', load: n, rest, shared: { name, dtype, length: o.rowsPerGroup * per } });
      }
    });
  }
  return out;
}

/** Where a staged load sits in its array: a tile's step-major rows, or a row's lane-minor elements. */
function stagedIndex(s: Staged, def: FoldDef, o: StageOptions): IntExpr {
  let flat: IntExpr = int(0);
  for (const r of s.rest) flat = iadd(imul(flat, r.size), ivar(r.name));
  const per = numel(s.rest.map((r) => r.size));
  if (s.kind === 'tile') return iadd(imul(imod(ivar(def.over[0]!.name), o.steps), per), flat);
  if (s.kind === 'row') return flat;
  // the lane of a row: rows per workgroup divide the padded last coordinate
  return iadd(imul(flat, o.rowsPerGroup), imod(ivar(def.outer.at(-1)!.name), o.rowsPerGroup));
}

/** The definition with its staged loads (in the steps) reading the workgroup arrays. */
function readStaged(def: FoldDef, staged: readonly Staged[], o: StageOptions): FoldDef {
  const sub = (e: Expr) =>
    mapExpr(e, (n) => {
      if (n.op !== 'load') return n;
      const s = staged.find((x) => x.load.tensor === n.tensor && JSON.stringify(x.load.index) === JSON.stringify(n.index));
      return s ? { op: 'load', dtype: n.dtype, tensor: s.shared.name, index: [stagedIndex(s, def, o)] } : n;
    });
  return { ...def, locals: def.locals.map((l) => ({ ...l, expr: sub(l.expr) })), update: def.update.map(sub) };
}

/** Whether the steps read a tensor (not a staged array) at an index depending on the row's last coordinate. */
function readsRowFromMemory(def: FoldDef, staged: ReadonlySet<string>): boolean {
  const row = def.outer.at(-1)?.name;
  let reads = false;
  for (const e of [...def.locals.map((l) => l.expr), ...def.update]) {
    visitExpr(e, (n) => {
      if (n.op === 'load' && !staged.has(n.tensor) && row !== undefined && n.index.some((ix) => intVars(ix).has(row))) reads = true;
    });
  }
  return reads;
}

interface Guard {
  readonly index: IntExpr;
  readonly below: Extract<TNode, { op: 'guard' }>['below'];
}

const wrap = (guards: readonly Guard[], body: TNode[]): TNode[] =>
  guards.reduceRight<TNode[]>((inner, g) => [{ op: 'guard', index: g.index, below: g.below, body: inner }], body);

const hasStep = (n: TNode): boolean => {
  let found = false;
  visitNodes([n], (m) => {
    if (m.op === 'step') found = true;
  });
  return found;
};

/**
 * The body with the guards around the step loop moved inward: names (index arithmetic) go in
 * front, every other node keeps its guards, and the step loop is replaced by `staged`.
 */
function place(
  body: readonly TNode[],
  guards: readonly Guard[],
  tile: readonly TDim[],
  staged: (loop: Extract<TNode, { op: 'loop' }>, guards: readonly Guard[]) => TNode[],
): TNode[] {
  const out: TNode[] = [];
  for (const n of body) {
    if (n.op === 'let') out.push(n);
    else if (n.op === 'guard' && hasStep(n)) out.push(...place(n.body, [...guards, { index: n.index, below: n.below }], tile, staged));
    else if (n.op === 'loop' && hasStep(n)) out.push(...staged(n, guards));
    else if (n.op === 'fetch') out.push(...perPoint(tile, [{ ...n, per: [...n.per, ...tile.map((d) => d.var)], guard: [...(n.guard ?? []), ...guards] }]));
    else out.push(...perPoint(tile, wrap(guards, [unrollShort(n)])));
  }
  return out;
}

/** Nodes run once per row of a lane's register tile: inside unrolled loops over its points. */
const perPoint = (tile: readonly TDim[], nodes: TNode[]): TNode[] =>
  tile.reduceRight<TNode[]>((inner, d) => [{ op: 'loop', var: d.var, kind: 'unroll', from: int(0), to: int(d.extent), step: 1, body: inner }], nodes);

/**
 * A short loop with constant bounds (a fold result's row of stores) unrolled: the state fields
 * it reads are then read at constant indices, and stay in registers (see eachElement).
 */
function unrollShort(n: TNode): TNode {
  if (n.op !== 'loop' || n.from.op !== 'int' || n.to.op !== 'int' || n.to.value - n.from.value > UNROLL_FIELD_ELEMENTS) return n;
  return { ...n, kind: 'unroll' };
}

/** The definition's index of a staged load at one step (or none) and one point of its enumerated variables. */
function indexAt(fold: TFold, s: Staged, step: IntExpr | undefined, rest: readonly IntExpr[]): IntExpr[] {
  const map: Record<string, IntExpr> = Object.fromEntries(fold.def.outer.map((a, k) => [a.name, fold.outer[k]!]));
  s.rest.forEach((r, k) => (map[r.name] = rest[k]!));
  if (step) map[fold.def.over[0]!.name] = step;
  return s.load.index.map((ix) => substInt(ix, map));
}

/** A row operand: each lane copies its own row (each of its rows) once, before the steps. */
function rowCopies(s: Staged, fold: TFold, guards: readonly Guard[], o: StageOptions): TNode[] {
  const points = fold.tile ?? [];
  const c = `${s.shared.name}_c`;
  const per = numel(s.rest.map((r) => r.size));
  const rest = decodeIndex(ivar(c), s.rest.map((r) => r.size));
  // the row's place among the workgroup's rows (as bindRows numbers them)
  const slot = points.reduce<IntExpr>((a, d) => iadd(imul(ivar(d.var), o.lanes), a), ivar(o.lane));
  const at = s.kind === 'row' ? ivar(c) : iadd(imul(ivar(c), o.rowsPerGroup), slot);
  const store: TNode = { op: 'store', tensor: s.shared.name, index: [at], value: { ...s.load, index: indexAt(fold, s, undefined, rest) } };
  return perPoint(points, wrap(guards, [{ op: 'loop', var: c, kind: 'unroll', from: int(0), to: int(per), step: 1, body: [store] }]));
}

/** A tile operand: the workgroup loads the tile's steps from `first` together, element e by lane e % lanes. */
function tileLoad(s: Staged, fold: TFold, first: IntExpr, end: IntExpr, o: StageOptions): TNode {
  const e = `${s.shared.name}_e`;
  const per = numel(s.rest.map((r) => r.size));
  const at = iadd(first, idiv(ivar(e), per));
  const rest = decodeIndex(imod(ivar(e), per), s.rest.map((r) => r.size));
  // every row of the workgroup shares what the tile's index reads of them: the first point's
  const firstPoint = Object.fromEntries((fold.tile ?? []).map((d) => [d.var, int(0)]));
  const index = indexAt(fold, s, at, rest).map((ix) => substInt(ix, firstPoint));
  const store: TNode = { op: 'store', tensor: s.shared.name, index: [ivar(e)], value: { ...s.load, index } };
  return { op: 'loop', var: e, kind: 'serial', from: ivar(o.lane), to: int(o.steps * per), step: o.lanes, body: [{ op: 'guard', index: at, below: end, body: [store] }] };
}

/** The step loop as tiles: each tile's operands loaded by the workgroup, then the steps. */
function stagedLoop(
  loop: Extract<TNode, { op: 'loop' }>,
  guards: readonly Guard[],
  fold: TFold,
  staged: readonly Staged[],
  o: StageOptions,
  def: FoldDef,
): TNode[] {
  if (loop.body.length !== 1 || loop.body[0]!.op !== 'step' || loop.from.op !== 'int' || loop.from.value !== 0 || loop.step !== 1) {
    throw new InvalidScheduleError(`staging: the steps of ${fold.name} are not one plain loop`, fold.name, 'stageSteps');
  }
  const B = o.steps;
  const v = loop.var;
  const count = loop.count ?? (loop.to.op === 'int' ? loop.to.value : 0);
  const tileVar = `${v}t`;
  const first = imul(ivar(tileVar), B);
  const rows = staged.filter((s) => s.kind !== 'tile').flatMap((s) => rowCopies(s, fold, guards, o));
  const loads = staged.filter((s) => s.kind === 'tile').map((s) => tileLoad(s, fold, first, loop.to, o));
  const inner = `${v}s`;
  const steps: TNode = {
    op: 'loop',
    var: inner,
    kind: 'serial',
    from: int(0),
    to: ibin('min', int(B), ibin('sub', loop.to, first)),
    step: 1,
    count: B,
    // a row past the end steps harmlessly where every row-dependent operand is staged (its
    // arrays hold zeros), so the rows' steps stay side by side; else each is guarded
    body: perPoint(fold.tile ?? [], wrap(readsRowFromMemory(def, new Set(staged.map((x) => x.shared.name))) ? guards : [], [{ ...loop.body[0]!, at: [iadd(first, ivar(inner))] } as TNode])),
  };
  const tiles = loop.to.op === 'int' ? int(Math.ceil(loop.to.value / B)) : idiv(iadd(loop.to, B - 1), B);
  return [
    ...rows,
    {
      op: 'loop',
      var: tileVar,
      kind: 'serial',
      from: int(0),
      to: tiles,
      step: 1,
      count: Math.ceil(count / B),
      body: [...loads, { op: 'barrier' }, steps, { op: 'barrier' }],
    },
  ];
}
