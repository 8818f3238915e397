import { shapeOf } from '../../ir/bind.js';
import { TilecraftError, assertNever } from '../../ir/errors.js';
import { type IntExpr, intSyms } from '../../ir/intexpr.js';
import { liveGroups } from '../live-groups.js';
import { type KExpr, type KType, type Kernel, kadd, kand, kbuiltin, kcast, kconst, kload, klt, kmul, kparam, kref, kt, kvisit } from '../../ir/kernel.js';
import { type DType } from '../../ir/dtype.js';
import { type Limit, type MatrixOperand, type StepInput, type TFold, type TNode, type TileKernel } from '../../ir/tile.js';
import { type Axis, type Expr, foldAxes } from '../../ir/tensor.js';
import { intRange } from '../../ir/verify.js';
import { type EmitScope, finish, readsOf } from '../emit.js';
import { type ExprContext, accumulatorType, combine, exprToK, flatIndex, identityOf, intToK, ktype } from '../kernel-expr.js';
import { KernelBuilder, decode, linearGrid } from '../kernel-builder.js';
import { sizeOf } from './from-group.js';
import { MatrixTile } from './lower-matrix.js';
import { FoldState, UNROLL_FIELD_ELEMENTS, eachElement, forEachElement, mergeViaSubgroups, mergeViaWorkgroup, stateLayout } from './lower-fold.js';
import { reduceFnOf } from './as-fold.js';

type Ranges = Record<string, readonly [number, number]>;

/** What a fold-definition expression may see besides its variables: whose state, and a merge's other side. */
interface FoldScope {
  readonly st: FoldState;
  readonly locals: Map<string, KExpr>;
  readonly other?: (field: string, at: KExpr) => KExpr;
}

/**
 * The generic lowering: any tile kernel becomes one kernel-IR kernel. Grid dimensions are decoded
 * from the workgroup index, lane dimensions from the local index; loops, guards and stores map one
 * to one; fold regions keep their state in registers (private arrays for fields with axes), run
 * their locals and updates at each step, and merge across lanes through workgroup memory or
 * subgroups. Reductions nested in a fold's expressions become loops where they are used.
 */
/** The largest subgroup size (WGSL's bound; a CUDA warp is 32). */
const MAX_SUBGROUP_SIZE = 128;

export function lowerTile(t: TileKernel, scope: EmitScope, maxWorkgroupsPerDimension: number): Kernel {
  return new TileLowering(t, scope).run(maxWorkgroupsPerDimension);
}

class TileLowering {
  private readonly k = new KernelBuilder();
  private readonly reads = new Set<string>();
  private readonly vars = new Map<string, KExpr>();
  private readonly ranges: Ranges = {};
  /** Each fold's state: one per point of its register tile (key: the tile point), or one (key ''). */
  private readonly states = new Map<string, Map<string, FoldState>>();
  /** Workgroup and private arrays by their tile-IR name: the kernel's buffer and element type. */
  private readonly shared = new Map<string, { buffer: string; type: KType; private?: boolean }>();
  /** Private arrays held per point of a fold's register tile: the fold (see `array`). */
  private readonly perPoint = new Map<string, string>();
  /** Step inputs computed so far, by value, per block of the kernel being written (innermost last). */
  private readonly inputCache: Map<string, KExpr>[] = [new Map()];
  /** The kernel-builder depth each level of `inputCache` was opened at. */
  private readonly cacheDepth: number[] = [0];
  /** Values fetched for later steps, by name and the point of the unrolled loops they are per. */
  private readonly fetched = new Map<string, KExpr>();
  private readonly fetchPer = new Map<string, readonly string[]>();
  /** Folds held in matrix units, by name. */
  private readonly matrices = new Map<string, MatrixTile>();
  /** Inside a register tile's first pass: steps compute their inputs and nothing else. */
  private operandsOnly = false;
  /** How many unrolled loops the node being lowered is copied in. */
  private unrolledDepth = 0;
  private readonly results = new Map<string, { fold: TFold; output: number }>();
  private readonly lanes: { var: string; stride: number; extent: number }[] = [];
  private invocations = 1;
  private readonly slots: { counter?: string; values?: string } = {};
  private readonly mergeBuffers = new Map<string, string>();

  constructor(
    private readonly t: TileKernel,
    private readonly scope: EmitScope,
  ) {}

  run(maxPerDim: number): Kernel {
    const { k, t } = this;
    const groups = t.grid.reduce((a, d) => a * d.extent, 1);
    const { grid, index } = linearGrid(groups, maxPerDim);
    this.bindDims(t.grid, t.grid.length === 1 ? index : k.let('wg', index));
    this.invocations = t.lanes.reduce((a, d) => a * d.extent, 1);
    this.bindDims(t.lanes, kbuiltin('local_index'), true);
    // each lane's index in its subgroup, for operands shared by shuffles
    this.vars.set('subgroup_lane', kbuiltin('subgroup_lane'));
    // below the largest subgroup size WGSL allows (an index divided by it, GLA's scores read per
    // sub-chunk of the step a lane fetches, needs its range)
    this.ranges['subgroup_lane'] = [0, MAX_SUBGROUP_SIZE - 1];
    // a dynamic size is read at run time, between 1 and its bound: the variable `%name`, which
    // index conversion and range analysis look up for the size symbol `name`
    for (const [size, bound] of Object.entries(this.scope.dynamic?.bounds ?? {})) {
      this.vars.set(`%${size}`, kparam(size));
      this.ranges[`%${size}`] = [1, bound];
    }
    for (const b of t.shared ?? []) this.shared.set(b.name, { buffer: k.shared(b.name.replace(/[^A-Za-z0-9]/g, ''), b.dtype as DType, b.length), type: kt(b.dtype) });
    for (const b of t.private ?? []) {
      const points = b.point ? tilePoints(this.region(b.point).tile ?? []) : [[]];
      for (const point of points) {
        const name = b.point ? `${b.name}|${point.join(',')}` : b.name;
        this.shared.set(name, { buffer: k.private_(b.name.replace(/[^A-Za-z0-9]/g, ''), b.dtype as DType, b.length), type: kt(b.dtype), private: true });
      }
      if (b.point) this.perPoint.set(b.name, b.point);
    }
    for (const f of t.folds) {
      if (f.matrix) {
        this.matrices.set(f.name, new MatrixTile(k, f, t.body));
        continue;
      }
      const instances = new Map<string, FoldState>();
      for (const point of tilePoints(f.tile ?? [])) instances.set(point.join(','), new FoldState(k, f));
      this.states.set(f.name, instances);
      for (const r of f.results) this.results.set(r.tensor, { fold: f, output: r.output });
    }
    this.nodes(t.body);
    readsOf(k, this.scope, this.reads);
    const kernel = finish(t.name, k, this.invocations, grid);
    const params = new Set<string>();
    kvisit(kernel.body, (e) => {
      if (e.op === 'param') params.add(e.name);
    });
    // evaluated at launch from the values the kernel is given: only sizes it reads
    const live = liveGroups(t);
    const usable = live && [...intSyms(live)].every((n) => params.has(n)) ? live : undefined;
    return { ...kernel, ...(params.size ? { params: [...params].sort() } : {}), ...(usable ? { liveGroups: usable } : {}) };
  }

  /** Row-major coordinates of `flat` over the dimensions, each bound to its variable. */
  private bindDims(dims: TileKernel['grid'], flat: KExpr, lanes = false): void {
    const coords = dims.length === 1 ? [flat] : decode(flat, dims.map((d) => d.extent)).map((c) => this.k.let('d', c));
    let stride = dims.reduce((a, d) => a * d.extent, 1);
    dims.forEach((d, i) => {
      stride /= d.extent;
      this.vars.set(d.var, coords[i]!);
      this.ranges[d.var] = [0, d.extent - 1];
      if (lanes) this.lanes.push({ var: d.var, stride, extent: d.extent });
    });
  }

  private int(e: IntExpr): KExpr {
    return intToK(e, { vars: this.vars, ranges: this.ranges, tensors: this.scope.tensors });
  }

  private limit(l: Limit): KExpr {
    return typeof l === 'number' ? kconst(l) : this.int(l);
  }

  private nodes(body: readonly TNode[]): void {
    for (const n of body) this.node(n);
  }

  private node(n: TNode): void {
    const k = this.k;
    switch (n.op) {
      case 'loop': {
        const [lo] = intRange(n.from, this.ranges);
        const [, hi] = intRange(n.to, this.ranges);
        if (n.kind === 'unroll') {
          this.unrolled(n, lo, hi);
          return;
        }
        this.ranges[n.var] = [lo, hi - 1];
        k.for(n.var.replace(/[^a-z]/g, '') || 'i', this.int(n.from), this.int(n.to), kconst(n.step), (v) => {
          this.vars.set(n.var, v);
          this.block(() => this.nodes(n.body));
        }, n.unrollHint ?? false);
        return;
      }
      case 'guard':
        k.if(klt(this.int(n.index), this.limit(n.below)), () => this.block(() => this.nodes(n.body)));
        return;
      case 'barrier':
        k.emit({ op: 'barrier' });
        this.forgetLoads();
        return;
      case 'fetch': {
        const guard = (n.guard ?? []).map((g) => klt(this.int(g.index), this.limit(g.below)));
        this.fetchPer.set(n.name, n.per);
        this.fetched.set(this.fetchKey(n.name, n.per), this.guarded(guard, () => [exprToK(n.value, this.ctx(this.vars, this.ranges))])[0]!);
        return;
      }
      case 'let':
        this.ranges[n.var] = intRange(n.value, this.ranges);
        this.vars.set(n.var, k.let(n.var.replace(/[^a-z]/g, '') || 'i', this.int(n.value)));
        return;
      case 'init': {
        const mt = this.matrices.get(n.fold);
        if (mt) mt.init();
        else this.each(n.fold, (st) => this.init(st));
        return;
      }
      case 'mma': {
        const mt = this.matrix(n.fold);
        const at = (op: MatrixOperand) => {
          const v = this.vars.get(op.per);
          if (v?.op !== 'const') throw new TilecraftError(`internal: mma operand of ${this.t.name} varies with ${op.per}, which is not unrolled here`);
          const buffer = this.shared.get(op.from)!.buffer;
          const offset = this.int(op.offset);
          return mt.operand(op === n.a ? 'a' : 'b', v.value, buffer, offset, op.stride, (key) => {
            if (this.cached(key)) return true;
            this.remember(key, offset);
            return false;
          });
        };
        const [a, b] = [at(n.a), at(n.b)];
        k.emit({ op: 'matrixMma', acc: mt.accumulator(this.point(mt.fold)), a, b });
        return;
      }
      case 'spill': {
        const mt = this.matrix(n.fold);
        k.emit({ op: 'matrixStore', name: mt.accumulator(this.point(mt.fold)), buffer: this.shared.get(n.to)!.buffer, offset: this.int(n.offset), stride: n.stride });
        this.forgetLoads();
        return;
      }
      case 'step':
        this.each(n.fold, (st) => this.step(st, n.at, n.inputs ?? []));
        return;
      case 'merge':
        this.each(n.fold, (st) => this.merge(st, n.lanes, n.via));
        return;
      case 'save':
        this.each(n.fold, (st) => this.save(st, n.to, n.index));
        return;
      case 'absorb':
        this.each(n.fold, (st) => this.absorb(st, n.from, n.index));
        return;
      case 'store':
        this.store(n);
        return;
      default:
        assertNever(n, 'tile node');
    }
  }

  /** A loop copied out at compile time: its variable is a constant in each copy. */
  private unrolled(n: Extract<TNode, { op: 'loop' }>, lo: number, hi: number): void {
    if (lo !== intRange(n.from, this.ranges)[1] || n.to.op !== 'int') {
      throw new TilecraftError(`internal: unrolled loop ${n.var} of ${this.t.name} has bounds that are not constants`);
    }
    const copies = (f: () => void) => {
      this.unrolledDepth++;
      for (let v = lo; v < hi; v += n.step) {
        this.vars.set(n.var, kconst(v));
        this.ranges[n.var] = [v, v];
        f();
      }
      this.unrolledDepth--;
      this.vars.delete(n.var);
    };
    // a register tile's steps load every operand first, then do the arithmetic: the loads of a
    // step are all in flight before the first multiply needs one
    if (!this.operandsOnly && tileNest(n.body)) {
      this.operandsOnly = true;
      copies(() => this.nodes(n.body));
      this.operandsOnly = false;
    }
    copies(() => this.nodes(n.body));
  }

  /** Runs `f` in a block of its own, where step inputs computed inside stay. */
  private block(f: () => void): void {
    this.inputCache.push(new Map());
    this.cacheDepth.push(this.k.depth);
    try {
      f();
    } finally {
      this.inputCache.pop();
      this.cacheDepth.pop();
    }
  }

  /**
   * Runs `f` on the fold's state: inside its register tile's loops, the state of the current
   * point; outside them, each point's in turn (with the tile's variables set to that point).
   */
  private each(fold: string, f: (st: FoldState) => void): void {
    const region = this.region(fold);
    const tile = region.tile ?? [];
    if (tile.every((d) => this.vars.get(d.var)?.op === 'const')) {
      f(this.current(fold));
      return;
    }
    for (const point of tilePoints(tile)) {
      tile.forEach((d, i) => {
        this.vars.set(d.var, kconst(point[i]!));
        this.ranges[d.var] = [point[i]!, point[i]!];
      });
      f(this.current(fold));
    }
    for (const d of tile) this.vars.delete(d.var);
  }

  private region(fold: string): TFold {
    const region = this.t.folds.find((x) => x.name === fold);
    if (!region) throw new TilecraftError(`internal: kernel ${this.t.name} has no fold ${fold}`);
    return region;
  }

  private init(st: FoldState): void {
    const env = this.foldVars(st.fold, []);
    st.fold.def.state.forEach((f, fi) => {
      const init = st.fold.def.init[fi]!;
      if (f.axes.length === 0) {
        st.write(f.name, kconst(0), this.foldValue(init, env, { st, locals: new Map() }));
        return;
      }
      eachElement(this.k, 's', f.axes.reduce((a, x) => a * sizeOf(x), 1), true, (e) => {
        const at = decode(e, f.axes.map(sizeOf));
        st.write(f.name, e, this.foldValue(init, withAxes(env, f.axes, at), { st, locals: new Map() }));
      });
    });
  }

  private matrix(fold: string): MatrixTile {
    const mt = this.matrices.get(fold);
    if (!mt) throw new TilecraftError(`internal: fold ${fold} of ${this.t.name} is not held in matrix units`);
    return mt;
  }

  /** The current point of a fold's register tile (its loops' variables are constants here). */
  private point(fold: TFold): number[] {
    return (fold.tile ?? []).map((d) => {
      const v = this.vars.get(d.var);
      if (v?.op !== 'const') throw new TilecraftError(`internal: fold ${fold.name} of ${this.t.name} is used outside its register tile's loops`);
      return v.value;
    });
  }

  /** The state of the current point of a fold's register tile (its loops' variables are constants here). */
  private current(fold: string): FoldState {
    return this.states.get(fold)!.get(this.point(this.region(fold)).join(','))!;
  }

  /**
   * The fold definition's outer variables (and, for a step, its `over` variables) in this kernel,
   * converted when an expression first reads them (a register tile's steps read few of them).
   */
  private foldVars(f: TFold, at: readonly IntExpr[]): Map<string, KExpr> {
    const values = new Map<string, () => KExpr>();
    f.def.outer.forEach((a, i) => values.set(a.name, () => this.int(f.outer[i]!)));
    f.def.over.forEach((a, i) => {
      if (at[i]) values.set(a.name, () => this.int(at[i]!));
    });
    return new LazyVars(values);
  }

  private step(st: FoldState, at: readonly IntExpr[], inputs: readonly StepInput[]): void {
    const def = st.fold.def;
    const env = this.foldVars(st.fold, at);
    const locals = new Map<string, KExpr>();
    for (const x of inputs) locals.set(x.name, this.input(x));
    if (this.operandsOnly) return;
    const update = () => {
      for (const l of def.locals) locals.set(l.name, this.k.let(l.name.replace(/[^A-Za-z0-9]/g, '') || 'l', this.foldValue(l.expr, env, { st, locals })));
      st.assignAll((fi, elem) => this.foldValue(def.update[fi]!, withAxes(env, def.state[fi]!.axes, elem), { st, locals }));
    };
    // a step its mask rules out leaves the state as it was: not computed at all, where steps run
    // one at a time (a branch in every copy of unrolled steps or register-tile points costs the
    // shader compiler far more than the arithmetic it saves)
    if (def.activeWhen && this.unrolledDepth === 0 && !st.fold.tile?.length) this.k.if(this.foldValue(def.activeWhen, env, { st, locals }), () => this.block(update));
    else update();
  }

  /**
   * A step input's value at the current point, computed once per block: the points of a register
   * tile that read the same operand element share one load. A vector input computes the four
   * lanes of its aligned group together, from one vector load where the operand is contiguous.
   */
  private input(x: StepInput): KExpr {
    const keyAt = (vars: ReadonlyMap<string, KExpr>, ranges: Ranges) => {
      const ctx = { vars, ranges, tensors: this.scope.tensors };
      const guard = (x.guard ?? []).map((g) => klt(intToK(g.index, ctx), this.limit(g.below)));
      // a shuffled input is a different value from each lane it is taken from
      const lane = x.fromLane ? intToK(x.fromLane, ctx) : undefined;
      return { key: JSON.stringify([x.name, exprToK(x.value, { ...this.ctx(vars, ranges), reads: new Set() }), guard, lane]), guard };
    };
    const here = keyAt(this.vars, this.ranges);
    const hit = this.cached(here.key);
    if (hit) return hit;
    if (x.fromLane) {
      const held = exprToK(x.value, this.ctx(this.vars, this.ranges));
      return this.remember(here.key, this.k.let('sh', { op: 'shuffle', type: held.type, x: held, lane: this.int(x.fromLane) }));
    }
    if (!x.vector) return this.remember(here.key, this.guarded(here.guard, () => [exprToK(x.value, this.ctx(this.vars, this.ranges))])[0]!);
    const { var: v, base } = this.vectorLane(x.vector);
    const lanes = [0, 1, 2, 3].map((l) => {
      const vars = new Map(this.vars).set(v, kconst(base + l));
      const ranges = { ...this.ranges, [v]: [base + l, base + l] as const };
      return { vars, ranges, ...keyAt(vars, ranges) };
    });
    const loads = new Map<string, KExpr>();
    const values = this.guarded(lanes[0]!.guard, () =>
      lanes.map((l, lane) => {
        const vector = { axis: v, base: kconst(base), lane, width: 4 as const, loads, bind: (e: KExpr) => this.k.let('v', e) };
        return this.sharedVector(x.value, lanes[0]!.vars, lanes[0]!.ranges, lane) ?? exprToK(x.value, { ...this.ctx(l.vars, l.ranges), vector });
      }),
    );
    lanes.forEach((l, i) => this.remember(l.key, values[i]!));
    return this.cached(here.key)!;
  }

  /** A fetched value at the current point of the unrolled loops it is per. */
  private fetchedAt(name: string): KExpr | undefined {
    return this.fetched.get(this.fetchKey(name, this.fetchPer.get(name) ?? []));
  }

  /** The key of a fetched value at the current point of the unrolled loops it is per. */
  private fetchKey(name: string, per: readonly string[]): string {
    return `${name}|${per.map((v) => JSON.stringify(this.vars.get(v))).join(',')}`;
  }

  /** A lane of a vector load from a workgroup array, at the aligned base of its group. */
  private sharedVector(value: Expr, base: ReadonlyMap<string, KExpr>, ranges: Ranges, lane: number): KExpr | undefined {
    const sh = value.op === 'load' ? this.shared.get(value.tensor) : undefined;
    if (!sh || value.op !== 'load') return undefined;
    const at = intToK(value.index[0]!, { vars: base, ranges, tensors: this.scope.tensors });
    const key = `vec:${sh.buffer}:${JSON.stringify(at)}`;
    const vec = this.cached(key) ?? this.remember(key, this.k.let('sv', kload(sh.buffer, at, kt(sh.type.scalar, 4))));
    return { op: 'extract', type: sh.type, x: vec, lane };
  }

  /** A workgroup or private array by its tile-IR name (a per-point array: the current point's). */
  private array(name: string): { buffer: string; type: KType; private?: boolean } | undefined {
    const fold = this.perPoint.get(name);
    return this.shared.get(fold ? `${name}|${this.point(this.region(fold)).join(',')}` : name);
  }

  /** Drops the workgroup-array reads remembered so far: the arrays were written (or a barrier passed). */
  private forgetLoads(): void {
    for (const level of this.inputCache) for (const key of [...level.keys()]) if (key.startsWith('load:')) level.delete(key);
  }

  private remember(key: string, value: KExpr): KExpr {
    this.inputCache[this.inputCache.length - 1]!.set(key, value);
    return value;
  }

  private cached(key: string): KExpr | undefined {
    for (let i = this.inputCache.length - 1; i >= 0; i--) {
      const v = this.inputCache[i]!.get(key);
      if (v) return v;
    }
    return undefined;
  }

  /** `values` bound once each; where a guard fails, 0 and the values are not computed. */
  private guarded(guard: readonly KExpr[], values: () => KExpr[]): KExpr[] {
    const k = this.k;
    if (guard.length === 0) return values().map((v) => k.let('in', v));
    let computed: KExpr[] = [];
    const names: string[] = [];
    const then = k.block(() => {
      // names bound in here are not in scope after it
      this.block(() => (computed = values()));
      for (const v of computed) {
        names.push(k.fresh('in'));
        k.emit({ op: 'assign', name: names[names.length - 1]!, value: v });
      }
    });
    computed.forEach((v, i) => k.emit({ op: 'var', name: names[i]!, type: v.type, init: kconst(0, v.type) }));
    k.emit({ op: 'if', cond: guard.reduce((a, b) => kand(a, b)), then, else: [] });
    return computed.map((v, i) => kref(names[i]!, v.type));
  }

  /** The aligned group of four a vector input's unrolled variable is in, and its lane there. */
  private vectorLane(v: { var: string; width: 4 }): { var: string; base: number; lane: number } {
    const at = this.vars.get(v.var);
    if (at?.op !== 'const') throw new TilecraftError(`internal: vector input along ${v.var}, which is not an unrolled loop here`);
    return { var: v.var, base: at.value - (at.value % v.width), lane: at.value % v.width };
  }

  private merge(st: FoldState, laneVar: string, via: 'workgroup' | 'subgroup'): void {
    const lane = this.lanes.find((l) => l.var === laneVar);
    if (!lane) throw new TilecraftError(`internal: ${laneVar} is not a lane dimension of ${this.t.name}`);
    const li = kbuiltin('local_index');
    if (via === 'subgroup') {
      mergeViaSubgroups(st, li, this.invocations, this.slots);
      return;
    }
    const def = st.fold.def;
    const env = this.foldVars(st.fold, []);
    const commutative = reduceFnOf(def) !== undefined;
    const team = { lane: this.vars.get(laneVar)!, lanes: lane.extent, stride: lane.stride, li, invocations: this.invocations, commutative };
    mergeViaWorkgroup(st, team, (fi, elem, other) =>
      this.foldValue(def.merge[fi]!, withAxes(env, def.state[fi]!.axes, elem), { st, locals: new Map(), other }),
      this.mergeBuffers,
    );
  }

  /** A scratch tensor of partial states, declared as a global buffer of the kernel. */
  private scratch(name: string, access: 'read' | 'read_write'): { type: KType; size: number } {
    const s = this.t.scratch?.find((x) => x.name === name);
    if (!s) throw new TilecraftError(`internal: kernel ${this.t.name} has no scratch tensor ${name}`);
    this.k.global(name, s.dtype as DType, [s.slots * s.size], access);
    return { type: kt(s.dtype), size: s.size };
  }

  /** Element `e` of field `field` of the state in slot `slot` of a scratch tensor. */
  private slotIndex(st: FoldState, size: number, slot: KExpr, field: string, e: KExpr): KExpr {
    return kadd(kadd(kmul(slot, kconst(size)), kconst(stateLayout(st.fold.def.state).offsets.get(field)!)), e);
  }

  private save(st: FoldState, to: string, slot: IntExpr): void {
    const s = this.scratch(to, 'read_write');
    const at = this.k.let('slot', this.int(slot));
    forEachElement(st, (f, e) => this.k.emit({ op: 'store', buffer: to, index: this.slotIndex(st, s.size, at, f.name, e), value: kcast(st.read(f.name, e), s.type) }));
  }

  private absorb(st: FoldState, from: string, slot: IntExpr): void {
    const s = this.scratch(from, 'read');
    const at = this.k.let('slot', this.int(slot));
    const def = st.fold.def;
    const env = this.foldVars(st.fold, []);
    const other = (field: string, e: KExpr) => kcast(kload(from, this.slotIndex(st, s.size, at, field, e), s.type), kt(st.field(field).dtype));
    st.assignAll((fi, elem) => this.foldValue(def.merge[fi]!, withAxes(env, def.state[fi]!.axes, elem), { st, locals: new Map(), other }), false);
  }

  private store(n: Extract<TNode, { op: 'store' }>): void {
    if (this.t.scratch?.some((x) => x.name === n.tensor)) {
      const s = this.scratch(n.tensor, 'read_write');
      this.k.emit({ op: 'store', buffer: n.tensor, index: this.int(n.index[0]!), value: kcast(exprToK(n.value, this.ctx(this.vars, this.ranges)), s.type) });
      return;
    }
    const sh = this.array(n.tensor);
    if (sh) {
      const value = kcast(exprToK(n.value, this.ctx(this.vars, this.ranges)), sh.type);
      this.k.emit({ op: 'store', buffer: sh.buffer, index: this.int(n.index[0]!), value });
      if (!sh.private) this.forgetLoads();
      return;
    }
    const decl = this.scope.tensors.get(n.tensor);
    if (!decl) throw new TilecraftError(`internal: store to unknown tensor ${n.tensor}`);
    this.k.global(n.tensor, decl.dtype, shapeOf(decl), 'read_write');
    if (!n.vector) {
      const value = exprToK(n.value, this.ctx(this.vars, this.ranges));
      this.k.emit({ op: 'store', buffer: n.tensor, index: flatIndex(decl, n.index.map((e) => this.int(e))), value });
      return;
    }
    const { var: lane, width } = n.vector;
    const base = new Map(this.vars).set(lane, kconst(0));
    const ranges = { ...this.ranges, [lane]: [0, width - 1] as const };
    const loads = new Map<string, KExpr>();
    const parts = Array.from({ length: width }, (_, l) => {
      const vars = new Map(this.vars).set(lane, kconst(l));
      const vector = { axis: lane, base: kconst(0), lane: l, width, loads, bind: (e: KExpr) => this.k.let('v', e) };
      return exprToK(n.value, { ...this.ctx(vars, ranges), vector });
    });
    const index = flatIndex(decl, n.index.map((e) => intToK(e, { vars: base, ranges, tensors: this.scope.tensors })));
    this.k.emit({ op: 'store', buffer: n.tensor, index, value: { op: 'vector', type: kt(decl.dtype as 'f32', width), parts } });
  }

  /** The context for a kernel-level expression: loop variables, and fold results held in registers. */
  private ctx(vars: ReadonlyMap<string, KExpr>, ranges: Ranges, fold?: FoldScope): ExprContext {
    const ctx: ExprContext = {
      vars,
      ranges,
      tensors: this.scope.tensors,
      reads: this.reads,
      resolve: (e) => this.resolve(e, ctx, fold),
    };
    return ctx;
  }

  private resolve(e: Expr, ctx: ExprContext, fold: FoldScope | undefined): KExpr | undefined {
    switch (e.op) {
      case 'load': {
        const sh = this.array(e.tensor);
        if (sh) {
          const index = this.offsetIndex(intToK(e.index[0]!, ctx));
          // (a step input is bound once already; a fold definition's reads are bound here)
          if (sh.private || !fold) return kload(sh.buffer, index, sh.type);
          // a workgroup array's element, read once per block until the array is next written
          // (the points of a register tile read the same staged keys)
          return this.bindOnce(`load:${sh.buffer}:${JSON.stringify(index)}`, 'sl', kload(sh.buffer, index, sh.type));
        }
        const r = this.results.get(e.tensor);
        if (!r) return undefined;
        const st = this.current(r.fold.name);
        const def = r.fold.def;
        const skip = foldAxes(def, r.output).length - def.outputs[r.output]!.axes.length;
        const own = e.index.slice(skip).map((i) => intToK(i, ctx));
        // a scan's output reads the step it follows (its position along the scanned axis)
        const step = def.kind === 'scan' ? [intToK(e.index[def.outer.length]!, ctx)] : [];
        const env = withAxes(this.foldVars(r.fold, []), def.outputs[r.output]!.axes, own);
        if (def.kind === 'scan') env.set(def.over[0]!.name, step[0]!);
        const decl = this.scope.tensors.get(e.tensor)!;
        return kcast(this.foldValue(def.outputs[r.output]!.expr, env, { st, locals: new Map() }), ktype(decl.dtype as 'f32'));
      }
      case 'state': {
        if (!fold) throw new TilecraftError(`internal: state ${e.field} read outside a fold`);
        const f = fold.st.field(e.field);
        const at = f.axes.length === 0 ? kconst(0) : flatIndex({ name: f.name, dtype: f.dtype as 'f32', axes: f.axes }, e.index.map((i) => intToK(i, ctx)));
        if (e.of === 'other') {
          if (!fold.other) throw new TilecraftError(`internal: the other state of ${e.field} read outside a merge`);
          return fold.other(e.field, at);
        }
        return fold.st.read(e.field, at);
      }
      case 'local': {
        const v = fold?.locals.get(e.name) ?? this.fetchedAt(e.name);
        if (!v) throw new TilecraftError(`internal: local ${e.name} read before it is computed`);
        return v;
      }
      case 'reduce':
        return this.reduceLoop(e, ctx, fold);
      default:
        return undefined;
    }
  }

  /**
   * An index into a workgroup or private array as `base + constant`, the base bound once per
   * block: the unrolled reads of a staged row (`base + 0`, `base + 1`, ...) share its arithmetic,
   * which the target compiler may not find common itself.
   */
  private offsetIndex(index: KExpr): KExpr {
    // the first of a run (`base`, offset 0) binds it too, where the base is a product
    const offset = index.op === 'binary' && index.fn === 'add' && index.b.op === 'const';
    const split = offset ? { base: index.a, offset: index.b } : { base: index, offset: kconst(0) };
    if (split.base.op === 'const' || split.base.op === 'ref' || (!offset && !(index.op === 'binary' && index.fn === 'mul'))) return index;
    return kadd(this.bindOnce(`index:${JSON.stringify(split.base)}`, 'ix', split.base), split.offset);
  }

  /**
   * `value` bound to a name once per block and reused under `key`; bound afresh (not
   * remembered) where the kernel being written is nested deeper than the block, so a name is
   * never used outside the statements that define it.
   */
  private bindOnce(key: string, name: string, value: KExpr): KExpr {
    const hit = this.cached(key);
    if (hit) return hit;
    return this.k.depth === this.cacheDepth.at(-1) ? this.remember(key, this.k.let(name, value)) : value;
  }

  /** A reduction nested in a fold's expression: a loop in the invocation, accumulating in registers. */
  private reduceLoop(e: Extract<Expr, { op: 'reduce' }>, ctx: ExprContext, fold: FoldScope | undefined): KExpr {
    const k = this.k;
    const accT = kt(accumulatorType(e.dtype));
    const acc = k.var('acc', accT, kconst(identityOf(e.fn, accT.scalar), accT));
    const vars = new LazyVars(new Map(), ctx.vars);
    const ranges = { ...ctx.ranges, ...axisRanges(e.axes) };
    const loop = (d: number): void => {
      if (d === e.axes.length) {
        const inner = this.ctx(vars, ranges, fold);
        k.emit({ op: 'assign', name: acc, value: combine(e.fn, kref(acc, accT), kcast(exprToK(e.body, inner), accT)) });
        return;
      }
      const a = e.axes[d]!;
      const each = (v: KExpr) => {
        vars.set(a.name, v);
        loop(d + 1);
      };
      if (unrolled) for (let v = 0; v < sizeOf(a); v++) each(kconst(v));
      else k.for('r', kconst(0), kconst(sizeOf(a)), kconst(1), each);
    };
    // a short one unrolled: its operands in private arrays are read at constant indices
    const unrolled = e.axes.reduce((n, a) => n * sizeOf(a), 1) <= UNROLL_FIELD_ELEMENTS;
    loop(0);
    return kcast(kref(acc, accT), ktype(e.dtype));
  }

  /** A fold-definition expression, over the definition's own variables. */
  private foldValue(e: Expr, env: ReadonlyMap<string, KExpr>, fold: FoldScope): KExpr {
    return exprToK(e, this.ctx(env, foldRanges(fold.st.fold), fold));
  }
}

const withAxes = (env: ReadonlyMap<string, KExpr>, axes: readonly Axis[], at: readonly KExpr[]): Map<string, KExpr> =>
  new LazyVars(new Map(axes.map((a, i) => [a.name, () => at[i]!])), env);

const axisRanges = (axes: readonly Axis[]): Ranges => Object.fromEntries(axes.map((a) => [a.name, [0, sizeOf(a) - 1] as const]));

/** Ranges of every variable a fold definition binds. */
function foldRanges(f: TFold): Ranges {
  const d = f.def;
  return axisRanges([...d.outer, ...d.over, ...d.state.flatMap((s) => s.axes), ...d.outputs.flatMap((o) => o.axes)]);
}

/** Every point of a register tile, in row-major order (one empty point for no tile). */
function tilePoints(tile: readonly { extent: number }[]): number[][] {
  let points: number[][] = [[]];
  for (const d of tile) points = points.flatMap((p) => Array.from({ length: d.extent }, (_, v) => [...p, v]));
  return points;
}

/**
 * Variables converted on first read (`get` runs the variable's thunk once and keeps its value),
 * falling back to an enclosing scope's variables.
 */
class LazyVars extends Map<string, KExpr> {
  constructor(
    private readonly thunks: ReadonlyMap<string, () => KExpr>,
    private readonly outer?: ReadonlyMap<string, KExpr>,
  ) {
    super();
  }

  override get(name: string): KExpr | undefined {
    const known = super.get(name);
    if (known) return known;
    const thunk = this.thunks.get(name);
    if (!thunk) return this.outer?.get(name);
    const value = thunk();
    super.set(name, value);
    return value;
  }

  override has(name: string): boolean {
    return super.has(name) || this.thunks.has(name) || (this.outer?.has(name) ?? false);
  }
}

/**
 * Whether a loop body is a register tile's update: steps, or unrolled loops of steps (the rows
 * of a tile whose columns are the inner loop). Steps further out (a vector's reduction steps)
 * each load their own operands before their own arithmetic.
 */
function tileNest(body: readonly TNode[]): boolean {
  return body.every((n) => n.op === 'step' || (n.op === 'loop' && n.kind === 'unroll' && n.body.every((m) => m.op === 'step')));
}
