import { numel, shapeOf } from '../../ir/bind.js';
import { NameAllocator } from '../../ir/names.js';
import { type ValueType } from '../../ir/dtype.js';
import { type IntExpr, iadd, ibin, imul, int, ivar } from '../../ir/intexpr.js';
import { type Limit, type MatrixOperand, type StepInput, type TFold, type TNode, type TShared, type TileKernel } from '../../ir/tile.js';
import { TilecraftError } from '../../ir/errors.js';
import { type Axis, type Expr, type FoldDef, type Stmt, type TensorDecl, binary, cast, freeVars, load, mapExpr, substIndex, visitExpr } from '../../ir/tensor.js';
import { type ContractionGroup, matrixType as operandType } from './contraction-knobs.js';

/** The operand type matrix units take (checked by the knobs' validation before lowering). */
const matrixType = (g: ContractionGroup): 'f16' | 'bf16' => operandType(g) ?? 'f16';
import { accumulatorType } from '../kernel-expr.js';
import { type ContractionKnobs } from '../schedule.js';
import { accumulatingFold } from './as-fold.js';
import { type Dynamic, decodeIndex, sizeOf } from './from-group.js';
import { reductionFastest } from './operand-layout.js';

/**
 * A contraction `C[b, m, n] = sum[k](A(b, m, k) * B(b, n, k))` as a tiled loop nest, the steps of
 * one tile transform each:
 *
 * - **tile and bind**: a `blockM x blockN` output tile per workgroup (grid: split, batch, tile of
 *   m, tile of n); lanes `ty x tx`, each owning a `threadM x threadN` register tile: the fold's
 *   state per point of two unrolled loops `i`, `j`;
 * - **operands as step inputs**: each step reads the A side at (m, k) and the B side at (n, k)
 *   once per row and column of the register tile (shared by its points), from global memory
 *   (`direct`) or from `blockK`-deep tiles staged in workgroup memory (`shared`, optionally
 *   double-buffered), in vectors of four where the layout allows;
 * - **split the reduction**: with `splitK`, each workgroup folds one part of k and saves its
 *   partial state; the parts are merged by the fold's merge in a second kernel (see splitSteps).
 *
 * Rows and columns past the edge read a clamped (in-bounds) element and are never stored.
 */
export interface ContractionTile {
  readonly tile: TileKernel;
  /** Parts the reduction is split into (1: no split). */
  readonly parts: number;
  /** The statements whose values the combine kernel stores after merging the parts. */
  readonly stores: readonly Stmt[];
}

const extent = (axes: readonly Axis[]) => numel(axes.map(sizeOf));
const localRead = (name: string, dtype: ValueType): Expr => ({ op: 'local', dtype, name });

export function contractionTile(
  name: string,
  g: ContractionGroup,
  c: ContractionKnobs,
  context: { tensors: ReadonlyMap<string, TensorDecl>; stored: ReadonlySet<string>; subgroupSize: number | undefined; dynamic?: Dynamic },
  scratch: string,
): ContractionTile {
  const { tensors, stored, subgroupSize } = context;
  const { batch, m, n, k: kAxes } = g.shape;
  const [M, N, K, Bt] = [extent(m), extent(n), extent(kAxes), extent(batch)];
  const target = g.stmt.target;
  const acc = accumulatorType(target.dtype);
  const split = splitOf(K, c);
  const { S, kChunk, steps } = split;
  // a dynamic extent is guarded at run time; the tiles cover its bound
  const dyn = dynamicExtents(g, context.dynamic);
  const [guardM, guardN, guardK] = [M % c.blockM !== 0 || !!dyn.M, N % c.blockN !== 0 || !!dyn.N, split.guardK || !!dyn.K];
  const mLimit: Limit = dyn.M ?? M;
  const nLimit: Limit = dyn.N ?? N;
  const kEnd: Limit = dyn.K ?? split.kEnd;

  // where a tile point is: m = tm * blockM + ty * threadM + i (and n likewise)
  const mAt = iadd(iadd(imul(ivar('tm'), c.blockM), imul(ivar('ty'), c.threadM)), ivar('i'));
  const nAt = iadd(iadd(imul(ivar('tn'), c.blockN), imul(ivar('tx'), c.threadN)), ivar('j'));
  const clamp = (at: IntExpr, size: Limit, ragged: boolean) => (ragged ? ibin('min', at, typeof size === 'number' ? size - 1 : ibin('sub', size, 1)) : at);
  const coordsAt = (mv: IntExpr, nv: IntExpr): Record<string, IntExpr> => ({
    ...named(batch, decodeIndex(Bt > 1 ? ivar('bt') : int(0), batch.map(sizeOf))),
    ...named(m, decodeIndex(mv, m.map(sizeOf))),
    ...named(n, decodeIndex(nv, n.map(sizeOf))),
  });
  const clamped = coordsAt(clamp(mAt, mLimit, guardM), clamp(nAt, nLimit, guardN));
  const exact = coordsAt(mAt, nAt);
  const kStart = S > 1 ? imul(ivar('split'), kChunk) : int(0);

  const tc = c.tensorCores;
  const fold = contractionFold(g, c, target.axes.map((a) => clamped[a.name]!));
  const { lanes, T, tid } = lanesOf(c);
  const arrays = stagingArrays(tensors);
  const operands =
    c.staging === 'shared'
      ? staged(g, c, {
          M: mLimit, N: nLimit, kEnd, guardM, guardN, guardK, kStart, steps, tensors, tid, lanes: T, arrays,
          stage: tc ? matrixType(g) : acc,
          compute: tc ? matrixReads(c, arrays) : registerReads(g, c, N, kStart, acc, arrays),
        })
      : direct(g, c, { N, nLimit, K, dynamicK: !!dyn.K, kEnd, guardN, guardK, kStart, steps, acc, clamped, exact, tensors, subgroupSize });
  const outShape = shapeOf(target);
  const stores = storedValues(g, stored);
  const slotOf = (coords: Record<string, IntExpr>) => iadd(imul(flat(target.axes.map((a) => coords[a.name]!), outShape), S), ivar('split'));
  /** The stored statements at an output point, the contraction's value given by `result`. */
  const storesAt = (coords: Record<string, IntExpr>, result?: Expr): TNode[] =>
    stores.map((st) => {
      const value = result ? mapExpr(st.expr, (x) => (x.op === 'load' && x.tensor === target.name ? result : x)) : st.expr;
      const at = Object.fromEntries(st.target.axes.map((a, p) => [a.name, coords[target.axes[p]!.name]!]));
      return { op: 'store', tensor: st.target.name, index: target.axes.map((a) => coords[a.name]!), value: substIndex(value, at) };
    });
  const finish = tc
    ? matrixFinish(c, { M: mLimit, N: nLimit, guardM, guardN, tid, T, S, coordsAt, slotOf, storesAt, scratch, result: target.dtype, spillTo: arrays.c })
    : registerFinish(c, { M: mLimit, N: nLimit, guardM, guardN, mAt, nAt, S, exact, slotOf, storesAt, scratch });
  const grid = [
    ...(S > 1 ? [{ var: 'split', extent: S }] : []),
    ...(Bt > 1 ? [{ var: 'bt', extent: Bt }] : []),
    { var: 'tm', extent: Math.ceil(M / c.blockM) },
    { var: 'tn', extent: Math.ceil(N / c.blockN) },
  ];
  const shared = [...operands.shared, ...(tc ? [{ name: arrays.c, dtype: 'f32' as const, length: c.blockM * c.blockN }] : [])];
  const tile: TileKernel = {
    name,
    grid,
    lanes,
    ...(shared.length ? { shared } : {}),
    ...(S > 1 ? { scratch: [{ name: scratch, dtype: acc, slots: numel(outShape) * S, size: 1 }] } : {}),
    folds: [fold],
    body: [{ op: 'init', fold: 'f0' }, ...operands.loop, ...finish],
  };
  return { tile, parts: S, stores };
}

/** Each point of the register tile, past the edges left out: its partial state saved (split-K), or its stores. */
function registerFinish(
  c: ContractionKnobs,
  d: {
    M: Limit; N: Limit; guardM: boolean; guardN: boolean; mAt: IntExpr; nAt: IntExpr; S: number;
    exact: Record<string, IntExpr>;
    slotOf: (coords: Record<string, IntExpr>) => IntExpr;
    storesAt: (coords: Record<string, IntExpr>) => TNode[];
    scratch: string;
  },
): TNode[] {
  let body: TNode[] = d.S > 1 ? [{ op: 'save', fold: 'f0', to: d.scratch, index: d.slotOf(d.exact) }] : d.storesAt(d.exact);
  if (d.guardN) body = [{ op: 'guard', index: d.nAt, below: d.N, body }];
  if (d.guardM) body = [{ op: 'guard', index: d.mAt, below: d.M, body }];
  return [unrolled('i', c.threadM, [unrolled('j', c.threadN, body)])];
}

/**
 * Matrix accumulators to a workgroup tile Cs, then every lane takes its share of the tile's
 * elements: each one's partial sum saved (split-K), or its stores with the value read from Cs.
 */
function matrixFinish(
  c: ContractionKnobs,
  d: {
    M: Limit; N: Limit; guardM: boolean; guardN: boolean; tid: IntExpr; T: number; S: number;
    coordsAt: (m: IntExpr, n: IntExpr) => Record<string, IntExpr>;
    slotOf: (coords: Record<string, IntExpr>) => IntExpr;
    storesAt: (coords: Record<string, IntExpr>, result: Expr) => TNode[];
    scratch: string;
    result: ValueType;
    spillTo: string;
  },
): TNode[] {
  const offset = iadd(imul(iadd(imul(ivar('wr'), 16 * c.threadM), imul(ivar('i'), 16)), c.blockN), iadd(imul(ivar('wc'), 16 * c.threadN), imul(ivar('j'), 16)));
  const spill: TNode = unrolled('i', c.threadM, [unrolled('j', c.threadN, [{ op: 'spill', fold: 'f0', to: d.spillTo, offset, stride: c.blockN }])]);
  const Cs: TensorDecl = { name: d.spillTo, dtype: 'f32', axes: [{ name: 'x', size: int(c.blockM * c.blockN) }] };
  const value = load(Cs, [ivar('o')]);
  const [gm, gn] = [iadd(imul(ivar('tm'), c.blockM), ibin('floordiv', ivar('o'), c.blockN)), iadd(imul(ivar('tn'), c.blockN), ibin('mod', ivar('o'), c.blockN))];
  const coords = d.coordsAt(ivar('gm'), ivar('gn'));
  let body: TNode[] = d.S > 1 ? [{ op: 'store', tensor: d.scratch, index: [d.slotOf(coords)], value }] : d.storesAt(coords, cast(value, d.result));
  if (d.guardN) body = [{ op: 'guard', index: ivar('gn'), below: d.N, body }];
  if (d.guardM) body = [{ op: 'guard', index: ivar('gm'), below: d.M, body }];
  const each: TNode = { op: 'loop', var: 'o', kind: 'serial', from: d.tid, to: int(c.blockM * c.blockN), step: d.T, body: [{ op: 'let', var: 'gm', value: gm }, { op: 'let', var: 'gn', value: gn }, ...body] };
  return [spill, { op: 'barrier' }, each];
}

/** How the reduction is cut: into `S` parts of `kChunk` steps (a multiple of blockK), `steps` staged steps each. */
function splitOf(K: number, c: ContractionKnobs) {
  const S = Math.max(1, Math.min(c.splitK, Math.ceil(K / c.blockK)));
  const kChunk = Math.ceil(Math.ceil(K / S) / c.blockK) * c.blockK;
  const kEnd = Math.min(K, kChunk * S);
  const steps = Math.ceil((S === 1 ? kEnd : kChunk) / c.blockK);
  return { S, kChunk, kEnd, steps, guardK: K % c.blockK !== 0 || kChunk * S !== K };
}

/**
 * The fold over k at each point of the register tile (its operands supplied by the steps as the
 * locals a and b), held in matrix units with tensor cores.
 */
function contractionFold(g: ContractionGroup, c: ContractionKnobs, outer: readonly IntExpr[]): TFold {
  const target = g.stmt.target;
  const acc = accumulatorType(target.dtype);
  const base = accumulatingFold('sum', target.axes, g.shape.k, reduceBody(g.stmt));
  const running: Expr = { op: 'state', dtype: acc, field: 'acc', of: 'self', index: [] };
  const def: FoldDef = { ...base, update: [binary('add', running, binary('mul', localRead('a', acc), localRead('b', acc)))] };
  return {
    name: 'f0',
    def,
    outer,
    tile: [{ var: 'i', extent: c.threadM }, { var: 'j', extent: c.threadN }],
    results: c.tensorCores ? [] : [{ tensor: target.name, output: 0 }],
    ...(c.tensorCores ? { matrix: { dtype: matrixType(g) } } : {}),
  };
}

/** The lanes: a ty x tx grid of register tiles, or warps of 32 each owning threadM x threadN matrix tiles; their flat index. */
function lanesOf(c: ContractionKnobs) {
  const lanes = c.tensorCores
    ? [{ var: 'wr', extent: c.blockM / (16 * c.threadM) }, { var: 'wc', extent: c.blockN / (16 * c.threadN) }, { var: 'wl', extent: 32 }]
    : [{ var: 'ty', extent: c.blockM / c.threadM }, { var: 'tx', extent: c.blockN / c.threadN }];
  const T = lanes.reduce((a, d) => a * d.extent, 1);
  const tid = lanes.slice(1).reduce<IntExpr>((f, d) => iadd(imul(f, d.extent), ivar(d.var)), ivar(lanes[0]!.var));
  return { lanes, T, tid };
}

/**
 * The dynamic extents of a contraction's m, n and k (one axis each where dynamic). A dynamic
 * batch axis, or a dynamic axis among several flattened into m, n or k, is refused for now.
 */
function dynamicExtents(g: ContractionGroup, dynamic: Dynamic | undefined): { M?: IntExpr; N?: IntExpr; K?: IntExpr } {
  if (!dynamic) return {};
  const target = g.stmt.target;
  const extentOf = (a: Axis) => {
    const p = target.axes.findIndex((x) => x.name === a.name);
    return p >= 0 ? dynamic.axes[target.name]?.[p] : dynamic.loops[a.name];
  };
  const one = (axes: readonly Axis[], role: string): IntExpr | undefined => {
    const found = axes.map(extentOf).filter((e): e is IntExpr => e !== undefined);
    if (found.length === 0) return undefined;
    if (axes.length > 1 || role === 'batch') {
      throw new TilecraftError(`contraction ${target.name}: a dynamic size on a ${role} axis ${axes.length > 1 ? 'among several ' : ''}is not supported yet; make ${axes.map((a) => a.name).join(', ')} static`);
    }
    return found[0];
  };
  one(g.shape.batch, 'batch');
  const [M, N, K] = [one(g.shape.m, 'm'), one(g.shape.n, 'n'), one(g.shape.k, 'reduction')];
  return { ...(M ? { M } : {}), ...(N ? { N } : {}), ...(K ? { K } : {}) };
}

function reduceBody(s: Stmt): Expr {
  if (s.expr.op !== 'reduce') throw new Error(`internal: contraction ${s.target.name} is not a reduction`);
  return s.expr.body;
}

const named = (axes: readonly Axis[], values: readonly IntExpr[]) => Object.fromEntries(axes.map((a, i) => [a.name, values[i]!]));
const unrolled = (v: string, to: number, body: TNode[]): TNode => ({ op: 'loop', var: v, kind: 'unroll', from: int(0), to: int(to), step: 1, body });
const serial = (v: string, to: number, body: TNode[], unrollHint = false): TNode => ({ op: 'loop', var: v, kind: 'serial', from: int(0), to: int(to), step: 1, body, ...(unrollHint ? { unrollHint } : {}) });

/** Row-major flat offset of coordinates in a shape. */
function flat(coords: readonly IntExpr[], shape: readonly number[]): IntExpr {
  return coords.reduce<IntExpr>((f, c, p) => iadd(imul(f, shape[p]!), c), int(0));
}

/**
 * The statements stored at each output point, each a self-contained expression of the
 * contraction's result and the inputs (an epilogue that is not stored is inlined where read).
 */
export function storedValues(g: ContractionGroup, stored: ReadonlySet<string>): Stmt[] {
  const inline = new Map<string, Stmt>();
  const out: Stmt[] = [];
  if (stored.has(g.stmt.target.name)) out.push({ target: g.stmt.target, expr: load(g.stmt.target, g.stmt.target.axes.map((a) => ivar(a.name))) });
  for (const e of g.epilogue) {
    const expr = mapExpr(e.expr, (x) => {
      if (x.op !== 'load') return x;
      const producer = inline.get(x.tensor);
      return producer ? substIndex(producer.expr, Object.fromEntries(producer.target.axes.map((a, p) => [a.name, x.index[p]!]))) : x;
    });
    const s = { target: e.target, expr };
    inline.set(e.target.name, s);
    if (stored.has(e.target.name)) out.push(s);
  }
  return out;
}

interface Loop {
  readonly loop: TNode[];
  readonly shared: TShared[];
}

interface DirectContext {
  readonly N: number;
  readonly nLimit: Limit;
  readonly K: number;
  readonly dynamicK: boolean;
  readonly kEnd: Limit;
  readonly guardN: boolean;
  readonly guardK: boolean;
  readonly kStart: IntExpr;
  readonly steps: number;
  readonly acc: ValueType;
  readonly clamped: Record<string, IntExpr>;
  readonly exact: Record<string, IntExpr>;
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  readonly subgroupSize: number | undefined;
}

/**
 * Operands straight from global memory at every step (caches stage them). The B side comes in
 * vectors of four along n where the layout allows; A either per step, four steps at a time
 * (`vectorK`), or shared across a subgroup by shuffles (`shuffleA`).
 */
function direct(g: ContractionGroup, c: ContractionKnobs, d: DirectContext): Loop {
  const { n, k: kAxes, a: aSide, b: bSide } = g.shape;
  const packed = kAxes.length === 1 ? packingAlong(kAxes[0]!.name, [aSide, bSide], d.tensors) : 1;
  const kGuard = (k: IntExpr) => (d.guardK ? [{ index: k, below: d.kEnd }] : []);
  const vecN = c.vectorWidth === 4 && c.threadN % 4 === 0 && n.length === 1 && d.N % 4 === 0;
  const bInput = (k: IntExpr): StepInput => {
    const guard = [...(vecN && d.guardN ? [{ index: d.exact[n[0]!.name]!, below: d.nLimit }] : []), ...kGuard(k)];
    return {
      name: 'b',
      value: cast(substIndex(bSide, { ...(vecN ? d.exact : d.clamped), ...named(kAxes, decodeIndex(k, kAxes.map(sizeOf))) }), d.acc),
      ...(vecN ? { vector: { var: 'j', width: 4 as const } } : {}),
      ...(guard.length ? { guard } : {}),
    };
  };
  const aInput = (k: IntExpr, vector?: string): StepInput => ({
    name: 'a',
    value: cast(substIndex(aSide, { ...d.clamped, ...named(kAxes, decodeIndex(k, kAxes.map(sizeOf))) }), d.acc),
    ...(vector ? { vector: { var: vector, width: 4 as const } } : {}),
    ...(d.guardK ? { guard: kGuard(k) } : {}),
  });
  const points = (k: IntExpr, a: StepInput): TNode =>
    unrolled('i', c.threadM, [unrolled('j', c.threadN, [{ op: 'step', fold: 'f0', at: decodeIndex(k, kAxes.map(sizeOf)), inputs: [a, bInput(k)] }])]);
  const k0 = iadd(d.kStart, imul(ivar('kt'), c.blockK));

  if (c.shuffleA && d.subgroupSize !== undefined) {
    // lane l loads A for step kl * L + l; step kl * L + s takes it from lane s
    const L = d.subgroupSize;
    const base = iadd(k0, imul(ivar('kl'), L));
    const mine = iadd(base, ivar('subgroup_lane'));
    const { value, guard } = aInput(mine);
    const fetch: TNode = { op: 'fetch', name: 'a_mine', per: ['i'], value, ...(guard ? { guard } : {}) };
    const shuffled: StepInput = { name: 'a', value: localRead('a_mine', d.acc), fromLane: ivar('ks') };
    // a packed operand: the subgroup's steps in unrolled blocks of a word, which they read once
    const steps =
      packed > 1 && L % packed === 0
        ? serial('kw', L / packed, [unrolled('ku', packed, [points(iadd(base, iadd(imul(ivar('kw'), packed), ivar('ku'))), { ...shuffled, fromLane: iadd(imul(ivar('kw'), packed), ivar('ku')) })])], c.unrollK)
        : serial('ks', L, [points(iadd(base, ivar('ks')), shuffled)], c.unrollK);
    const body = [unrolled('i', c.threadM, [fetch]), steps];
    return { loop: [serial('kt', d.steps, [serial('kl', c.blockK / L, body)])], shared: [] };
  }
  if (packed > 1 && c.blockK % packed === 0 && !d.dynamicK) {
    // a packed operand read along k: blocks of a word's steps unrolled side by side read its word
    // once (and A's consecutive steps merge into vector loads where aligned)
    const k = iadd(k0, iadd(imul(ivar('kw'), packed), ivar('ku')));
    return { loop: [serial('kt', d.steps, [serial('kw', c.blockK / packed, [unrolled('ku', packed, [points(k, aInput(k))])], c.unrollK)])], shared: [] };
  }
  // the four steps of a vector are all in range or all out: K and blockK are multiples of 4
  // (not past a dynamic K: a vector straddling it would add the padding's values)
  const vecK = c.vectorK === 4 && !d.dynamicK && kAxes.length === 1 && d.K % 4 === 0 && c.blockK % 4 === 0 && reductionFastest(aSide, kAxes, d.tensors);
  if (vecK) {
    // A read four reduction steps at a time: kk = 4 * k4 + q, one vector load per row feeds four steps
    const k = iadd(k0, iadd(imul(ivar('k4'), 4), ivar('q')));
    return { loop: [serial('kt', d.steps, [serial('k4', c.blockK / 4, [unrolled('q', 4, [points(k, aInput(k, 'q'))])], c.unrollK)])], shared: [] };
  }
  const k = iadd(k0, ivar('kk'));
  return { loop: [serial('kt', d.steps, [serial('kk', c.blockK, [points(k, aInput(k))], c.unrollK)])], shared: [] };
}

/**
 * Elements per 32-bit word of a 4-bit tensor the operands read with `k` in its last (packed)
 * index, else 1: steps in blocks of that many share each word.
 */
function packingAlong(k: string, sides: readonly Expr[], tensors: ReadonlyMap<string, TensorDecl>): number {
  let packed = 1;
  for (const side of sides) {
    visitExpr(side, (e) => {
      if (e.op !== 'load') return;
      const dtype = tensors.get(e.tensor)?.dtype;
      if ((dtype === 'u4' || dtype === 'i4') && freeVars({ ...e, index: e.index.slice(-1) }).has(k)) packed = 8;
    });
  }
  return packed;
}

/** Operand tiles staged in workgroup memory by all lanes, then read by every step from there. */
/** A staged step read by the register tile: each point's operands from As and Bs, in vectors of four where aligned. */
function registerReads(g: ContractionGroup, c: ContractionKnobs, N: number, kStart: IntExpr, acc: ValueType, arrays: StagingArrays) {
  const { n, k: kAxes } = g.shape;
  const vecM = c.vectorWidth === 4 && c.threadM % 4 === 0;
  const vecN = c.vectorWidth === 4 && c.threadN % 4 === 0 && n.length === 1 && N % 4 === 0;
  return (slot: IntExpr, aTile: number, bTile: number): TNode => {
    const buffer = (name: string, length: number): TensorDecl => ({ name, dtype: acc as TensorDecl['dtype'], axes: [{ name: 'x', size: int(length) }] });
    const aAt = iadd(imul(slot, aTile), iadd(iadd(imul(ivar('kk'), c.blockM), imul(ivar('ty'), c.threadM)), ivar('i')));
    const bAt = iadd(imul(slot, bTile), iadd(iadd(imul(ivar('kk'), c.blockN), imul(ivar('tx'), c.threadN)), ivar('j')));
    const inputs: StepInput[] = [
      { name: 'a', value: load(buffer(arrays.a, aTile), [aAt]), ...(vecM ? { vector: { var: 'i', width: 4 as const } } : {}) },
      { name: 'b', value: load(buffer(arrays.b, bTile), [bAt]), ...(vecN ? { vector: { var: 'j', width: 4 as const } } : {}) },
    ];
    const kAt = iadd(kStart, iadd(imul(ivar('kt'), c.blockK), ivar('kk')));
    const step: TNode = { op: 'step', fold: 'f0', at: decodeIndex(kAt, kAxes.map(sizeOf)), inputs };
    return serial('kk', c.blockK, [unrolled('i', c.threadM, [unrolled('j', c.threadN, [step])])], c.unrollK);
  };
}

/** A staged step on matrix units: per 16-deep slice, each warp's fragments of A and B, multiplied into its accumulators. */
function matrixReads(c: ContractionKnobs, arrays: StagingArrays) {
  return (slot: IntExpr, aTile: number, bTile: number): TNode => {
    // staged tiles are k-major: As[kk][m] is a column-major 16x16 A tile, Bs[kk][n] row-major
    const rowBase = imul(ivar('wr'), 16 * c.threadM);
    const colBase = imul(ivar('wc'), 16 * c.threadN);
    const a: MatrixOperand = { from: arrays.a, offset: iadd(imul(slot, aTile), iadd(imul(ivar('k16'), 16 * c.blockM), iadd(rowBase, imul(ivar('i'), 16)))), stride: c.blockM, layout: 'col', per: 'i' };
    const b: MatrixOperand = { from: arrays.b, offset: iadd(imul(slot, bTile), iadd(imul(ivar('k16'), 16 * c.blockN), iadd(colBase, imul(ivar('j'), 16)))), stride: c.blockN, layout: 'row', per: 'j' };
    return unrolled('k16', c.blockK / 16, [unrolled('i', c.threadM, [unrolled('j', c.threadN, [{ op: 'mma', fold: 'f0', a, b }])])]);
  };
}

interface StagedContext {
  readonly M: Limit;
  readonly N: Limit;
  readonly kEnd: Limit;
  readonly guardM: boolean;
  readonly guardN: boolean;
  readonly guardK: boolean;
  readonly kStart: IntExpr;
  readonly steps: number;
  /** The type operand tiles are staged in (the accumulator's, or the matrix units' operand type). */
  readonly stage: ValueType;
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  /** The lanes' flat index and count: who copies which element. */
  readonly tid: IntExpr;
  readonly lanes: number;
  /** The reads of one staged step from slot `slot` of As and Bs (of `aTile` and `bTile` elements). */
  readonly compute: (slot: IntExpr, aTile: number, bTile: number) => TNode;
  readonly arrays: StagingArrays;
}

/** The workgroup arrays operand tiles are staged in (As, Bs) and tensor cores spill to (Cs). */
interface StagingArrays {
  readonly a: string;
  readonly b: string;
  readonly c: string;
}

/** Array names no tensor has: a load names an array or a tensor alike, so `As` would shadow a tensor As. */
function stagingArrays(tensors: ReadonlyMap<string, TensorDecl>): StagingArrays {
  const names = new NameAllocator(tensors.keys());
  return { a: names.fresh('As'), b: names.fresh('Bs'), c: names.fresh('Cs') };
}

function staged(g: ContractionGroup, c: ContractionKnobs, d: StagedContext): Loop {
  const { batch, m, n, k: kAxes, a: aSide, b: bSide } = g.shape;
  const stages = c.doubleBuffer ? 2 : 1;
  const aTile = c.blockK * c.blockM;
  const bTile = c.blockK * c.blockN;
  const shared: TShared[] = [
    { name: d.arrays.a, dtype: d.stage, length: aTile * stages },
    { name: d.arrays.b, dtype: d.stage, length: bTile * stages },
  ];
  const [T, tid] = [d.lanes, d.tid];
  const batchAt = named(batch, decodeIndex(extent(batch) > 1 ? ivar('bt') : int(0), batch.map(sizeOf)));
  const bufferOf = (name: string, length: number): TensorDecl => ({ name, dtype: d.stage as TensorDecl['dtype'], axes: [{ name: 'x', size: int(length) }] });
  const As = bufferOf(d.arrays.a, aTile * stages);
  const Bs = bufferOf(d.arrays.b, bTile * stages);

  /** One side's tile at reduction offset k0 into slot `slot`: element e of the tile per lane and pass. */
  const copy = (isA: boolean, k0: IntExpr, slot: IntExpr): TNode[] => {
    const [side, axes, rows, size, ragged, tileAt, buf] = isA
      ? [aSide, m, c.blockM, d.M, d.guardM, imul(ivar('tm'), c.blockM), As]
      : [bSide, n, c.blockN, d.N, d.guardN, imul(ivar('tn'), c.blockN), Bs];
    const tile = c.blockK * rows;
    const kFast = reductionFastest(side, kAxes, d.tensors);
    const element = (e: IntExpr): TNode[] => {
      const kk = kFast ? ibin('mod', e, c.blockK) : ibin('floordiv', e, rows);
      const oo = kFast ? ibin('floordiv', e, c.blockK) : ibin('mod', e, rows);
      const [gk, go] = [iadd(k0, kk), iadd(tileAt, oo)];
      const vars = { ...batchAt, ...named(axes, decodeIndex(go, axes.map(sizeOf))), ...named(kAxes, decodeIndex(gk, kAxes.map(sizeOf))) };
      const at = [iadd(slot, iadd(imul(kk, rows), oo))];
      const value: TNode = { op: 'store', tensor: buf.name, index: at, value: cast(substIndex(side, vars), d.stage) };
      if (!ragged && !d.guardK) return [value];
      // out-of-range elements read nothing and stage zero
      let body: TNode[] = [value];
      if (d.guardK) body = [{ op: 'guard', index: gk, below: d.kEnd, body }];
      if (ragged) body = [{ op: 'guard', index: go, below: size, body }];
      return [{ op: 'store', tensor: buf.name, index: at, value: { op: 'const', dtype: d.stage, value: 0 } }, ...body];
    };
    const per = Math.ceil(tile / T);
    if (per > 4) return [{ op: 'loop', var: isA ? 'ea' : 'eb', kind: 'serial', from: tid, to: int(tile), step: T, body: element(ivar(isA ? 'ea' : 'eb')) }];
    // few elements per lane: unrolled
    const e = iadd(tid, imul(ivar(isA ? 'pa' : 'pb'), T));
    const one = per * T > tile ? [{ op: 'guard' as const, index: e, below: tile, body: element(e) }] : element(e);
    return [unrolled(isA ? 'pa' : 'pb', per, one)];
  };
  const stage = (k0: IntExpr, slot: IntExpr) => [...copy(true, k0, imul(slot, aTile)), ...copy(false, k0, imul(slot, bTile))];

  const compute = (slot: IntExpr) => d.compute(slot, aTile, bTile);
  const k0At = (t: IntExpr) => iadd(d.kStart, imul(t, c.blockK));
  if (!c.doubleBuffer) {
    return { shared, loop: [serial('kt', d.steps, [...stage(k0At(ivar('kt')), int(0)), { op: 'barrier' }, compute(int(0)), { op: 'barrier' }])] };
  }
  // load step t + 1 into the other slot while computing on step t: one barrier per step
  const cur = ibin('mod', ivar('kt'), 2);
  const next = iadd(ivar('kt'), 1);
  return {
    shared,
    loop: [
      ...stage(d.kStart, int(0)),
      { op: 'barrier' },
      serial('kt', d.steps, [
        { op: 'let', var: 'cur', value: cur },
        { op: 'guard', index: next, below: d.steps, body: stage(k0At(next), ibin('sub', int(1), ivar('cur'))) },
        compute(ivar('cur')),
        { op: 'barrier' },
      ]),
    ],
  };
}
