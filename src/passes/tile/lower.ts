import { shapeOf } from '../../ir/bind.js';
import { TilecraftError, assertNever } from '../../ir/errors.js';
import { type IntExpr } from '../../ir/intexpr.js';
import { type KExpr, type KType, type Kernel, kadd, kbuiltin, kcast, kconst, kload, klt, kmul, kref, kt } from '../../ir/kernel.js';
import { type DType } from '../../ir/dtype.js';
import { type TFold, type TNode, type TileKernel } from '../../ir/tile.js';
import { type Axis, type Expr, foldAxes } from '../../ir/tensor.js';
import { intRange } from '../../ir/verify.js';
import { type EmitScope, finish, readsOf } from '../emit.js';
import { type ExprContext, accumulatorType, combine, exprToK, flatIndex, identityOf, intToK, ktype } from '../kernel-expr.js';
import { KernelBuilder, decode, linearGrid } from '../kernel-builder.js';
import { sizeOf } from './from-group.js';
import { FoldState, forEachElement, mergeViaSubgroups, mergeViaWorkgroup, stateLayout } from './lower-fold.js';
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
export function lowerTile(t: TileKernel, scope: EmitScope, maxWorkgroupsPerDimension: number): Kernel {
  return new TileLowering(t, scope).run(maxWorkgroupsPerDimension);
}

class TileLowering {
  private readonly k = new KernelBuilder();
  private readonly reads = new Set<string>();
  private readonly vars = new Map<string, KExpr>();
  private readonly ranges: Ranges = {};
  private readonly states = new Map<string, FoldState>();
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
    for (const f of t.folds) {
      this.states.set(f.name, new FoldState(k, f));
      for (const r of f.results) this.results.set(r.tensor, { fold: f, output: r.output });
    }
    this.nodes(t.body);
    readsOf(k, this.scope, this.reads);
    return finish(t.name, k, this.invocations, grid);
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

  private nodes(body: readonly TNode[]): void {
    for (const n of body) this.node(n);
  }

  private node(n: TNode): void {
    const k = this.k;
    switch (n.op) {
      case 'loop': {
        const [lo] = intRange(n.from, this.ranges);
        const [, hi] = intRange(n.to, this.ranges);
        this.ranges[n.var] = [lo, hi - 1];
        k.for(n.var.replace(/[^a-z]/g, '') || 'i', this.int(n.from), this.int(n.to), kconst(n.step), (v) => {
          this.vars.set(n.var, v);
          this.nodes(n.body);
        }, n.kind === 'unroll');
        return;
      }
      case 'guard':
        k.if(klt(this.int(n.index), kconst(n.below)), () => this.nodes(n.body));
        return;
      case 'let':
        this.ranges[n.var] = intRange(n.value, this.ranges);
        this.vars.set(n.var, k.let(n.var.replace(/[^a-z]/g, '') || 'i', this.int(n.value)));
        return;
      case 'init': {
        const st = this.state(n.fold);
        const env = this.foldVars(st.fold, []);
        st.fold.def.state.forEach((f, fi) => {
          if (f.axes.length === 0) st.write(f.name, kconst(0), this.foldValue(st.fold.def.init[fi]!, env, { st, locals: new Map() }));
          else {
            k.for('s', kconst(0), kconst(f.axes.reduce((a, x) => a * sizeOf(x), 1)), kconst(1), (e) => {
              const at = decode(e, f.axes.map(sizeOf));
              const inner = new Map(env);
              f.axes.forEach((a, i) => inner.set(a.name, at[i]!));
              st.write(f.name, e, this.foldValue(st.fold.def.init[fi]!, inner, { st, locals: new Map() }));
            });
          }
        });
        return;
      }
      case 'step':
        this.step(this.state(n.fold), n.at);
        return;
      case 'merge':
        this.merge(this.state(n.fold), n.lanes, n.via);
        return;
      case 'save':
        this.save(this.state(n.fold), n.to, n.index);
        return;
      case 'absorb':
        this.absorb(this.state(n.fold), n.from, n.index);
        return;
      case 'store':
        this.store(n);
        return;
      default:
        assertNever(n, 'tile node');
    }
  }

  private state(name: string): FoldState {
    const st = this.states.get(name);
    if (!st) throw new TilecraftError(`internal: kernel ${this.t.name} has no fold ${name}`);
    return st;
  }

  /** The fold definition's outer variables (and, for a step, its `over` variables) in this kernel. */
  private foldVars(f: TFold, at: readonly KExpr[]): Map<string, KExpr> {
    const env = new Map<string, KExpr>();
    f.def.outer.forEach((a, i) => env.set(a.name, this.k.let('o', this.int(f.outer[i]!))));
    f.def.over.forEach((a, i) => {
      if (at[i]) env.set(a.name, at[i]!);
    });
    return env;
  }

  private step(st: FoldState, at: readonly IntExpr[]): void {
    const def = st.fold.def;
    const env = this.foldVars(st.fold, at.map((e) => this.k.let('j', this.int(e))));
    const locals = new Map<string, KExpr>();
    for (const l of def.locals) locals.set(l.name, this.k.let(l.name.replace(/[^A-Za-z0-9]/g, '') || 'l', this.foldValue(l.expr, env, { st, locals })));
    st.assignAll((fi, elem) => this.foldValue(def.update[fi]!, withAxes(env, def.state[fi]!.axes, elem), { st, locals }));
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
    st.assignAll((fi, elem) => this.foldValue(def.merge[fi]!, withAxes(env, def.state[fi]!.axes, elem), { st, locals: new Map(), other }));
  }

  private store(n: Extract<TNode, { op: 'store' }>): void {
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
        const r = this.results.get(e.tensor);
        if (!r) return undefined;
        const st = this.state(r.fold.name);
        const def = r.fold.def;
        const skip = foldAxes(def, r.output).length - def.outputs[r.output]!.axes.length;
        const own = e.index.slice(skip).map((i) => intToK(i, ctx));
        // a scan's output reads the step it follows (its position along the scanned axis)
        const step = def.kind === 'scan' ? [intToK(e.index[def.outer.length]!, ctx)] : [];
        const env = withAxes(this.foldVars(r.fold, step), def.outputs[r.output]!.axes, own);
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
        const v = fold?.locals.get(e.name);
        if (!v) throw new TilecraftError(`internal: local ${e.name} read before it is computed`);
        return v;
      }
      case 'reduce':
        return this.reduceLoop(e, ctx, fold);
      default:
        return undefined;
    }
  }

  /** A reduction nested in a fold's expression: a loop in the invocation, accumulating in registers. */
  private reduceLoop(e: Extract<Expr, { op: 'reduce' }>, ctx: ExprContext, fold: FoldScope | undefined): KExpr {
    const k = this.k;
    const accT = kt(accumulatorType(e.dtype));
    const acc = k.var('acc', accT, kconst(identityOf(e.fn, accT.scalar), accT));
    const vars = new Map(ctx.vars);
    const ranges = { ...ctx.ranges, ...axisRanges(e.axes) };
    const loop = (d: number): void => {
      if (d === e.axes.length) {
        const inner = this.ctx(vars, ranges, fold);
        k.emit({ op: 'assign', name: acc, value: combine(e.fn, kref(acc, accT), kcast(exprToK(e.body, inner), accT)) });
        return;
      }
      const a = e.axes[d]!;
      k.for('r', kconst(0), kconst(sizeOf(a)), kconst(1), (v) => {
        vars.set(a.name, v);
        loop(d + 1);
      });
    };
    loop(0);
    return kcast(kref(acc, accT), ktype(e.dtype));
  }

  /** A fold-definition expression, over the definition's own variables. */
  private foldValue(e: Expr, env: ReadonlyMap<string, KExpr>, fold: FoldScope): KExpr {
    return exprToK(e, this.ctx(env, foldRanges(fold.st.fold), fold));
  }
}

const withAxes = (env: ReadonlyMap<string, KExpr>, axes: readonly Axis[], at: readonly KExpr[]) => {
  const out = new Map(env);
  axes.forEach((a, i) => out.set(a.name, at[i]!));
  return out;
};

const axisRanges = (axes: readonly Axis[]): Ranges => Object.fromEntries(axes.map((a) => [a.name, [0, sizeOf(a) - 1] as const]));

/** Ranges of every variable a fold definition binds. */
function foldRanges(f: TFold): Ranges {
  const d = f.def;
  return axisRanges([...d.outer, ...d.over, ...d.state.flatMap((s) => s.axes), ...d.outputs.flatMap((o) => o.axes)]);
}
