import { numel, shapeOf } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import {
  type KExpr,
  type Kernel,
  I32,
  kbinary,
  kbuiltin,
  kcast,
  kconst,
  kdiv,
  kload,
  klt,
  kmod,
  kmul,
  kadd,
  kref,
  kt,
  kand,
  kselect,
} from '../ir/kernel.js';
import { type Axis, type ReduceFn, type Stmt, type TensorDecl } from '../ir/tensor.js';
import { type ExprContext, accumulatorType, combine, exprToK, identityOf, ktype } from './kernel-expr.js';
import { KernelBuilder, decode, linearGrid } from './kernel-builder.js';

export interface EmitOptions {
  /** Invocations per workgroup for elementwise and serial kernels. */
  readonly workgroupSize: number;
  /** Consecutive elements per invocation in elementwise kernels (1, 2 or 4), with vector loads where contiguous. */
  readonly vectorWidth: 1 | 2 | 4;
  /** Largest grid dimension the device allows. */
  readonly maxWorkgroupsPerDimension: number;
  /** Invocations sharing one row of a row group (a power of two), or undefined to choose from the row length. */
  readonly threadsPerRow?: number;
  /** Total invocations per row-group workgroup (rows per workgroup = this / threadsPerRow). */
  readonly rowWorkgroupSize: number;
  /** Reduce across a row team with subgroup operations (when every team is one whole workgroup). */
  readonly subgroups: boolean;
}

/** What the emitters need to know about the program's tensors. */
export interface EmitScope {
  readonly tensors: ReadonlyMap<string, TensorDecl>;
  /** Tensors that live in global memory (inputs, outputs, and intermediates read by other kernels). */
  readonly stored: ReadonlySet<string>;
}

export const axisRanges = (axes: readonly Axis[]) =>
  Object.fromEntries(axes.map((a) => [a.name, [0, (a.size.op === 'int' ? a.size.value : 1) - 1] as const]));

export function readsOf(k: KernelBuilder, scope: EmitScope, reads: ReadonlySet<string>): void {
  for (const t of reads) {
    const d = scope.tensors.get(t)!;
    k.global(t, d.dtype, shapeOf(d), 'read');
  }
}

export function finish(name: string, k: KernelBuilder, workgroup: number, grid: readonly [number, number, number]): Kernel {
  // outputs bind after inputs, both in first-use order
  const buffers = [...k.buffers.values()];
  const order = (b: (typeof buffers)[number]) => (b.scope !== 'global' ? 2 : b.access === 'read' ? 0 : 1);
  buffers.sort((a, b) => order(a) - order(b));
  return { name, workgroup: [workgroup, 1, 1], grid: [grid[0], grid[1], grid[2]], buffers, body: k.body };
}

/**
 * One invocation per `vectorWidth` consecutive elements of the target. When the innermost axis
 * allows it, loads contiguous along that axis become aligned vector loads and the result one
 * vector store; the arithmetic stays per element.
 */
export function emitElementwise(name: string, s: Stmt, scope: EmitScope, opts: EmitOptions): Kernel {
  const k = new KernelBuilder();
  const shape = shapeOf(s.target);
  const total = numel(shape);
  const inner = shape[shape.length - 1] ?? 1;
  const innerAxis = s.target.axes[s.target.axes.length - 1];
  const V = innerAxis && opts.vectorWidth > 1 && inner % opts.vectorWidth === 0 && VECTOR_STORE.has(s.target.dtype) ? opts.vectorWidth : 1;
  const W = opts.workgroupSize;
  const items = total / V;
  const { grid, index } = linearGrid(Math.ceil(items / W), opts.maxWorkgroupsPerDimension);
  const gid = k.let('gid', kadd(kmul(index, kconst(W)), kbuiltin('local_index')));
  const reads = new Set<string>();
  k.if(klt(gid, kconst(items)), () => {
    const first = V === 1 ? gid : k.let('e', kmul(gid, kconst(V)));
    const coords = decode(first, shape).map((c) => k.let('i', c));
    const vars = new Map(s.target.axes.map((a, i) => [a.name, coords[i]!]));
    const ranges = axisRanges(s.target.axes);
    if (V === 1) {
      k.emit({ op: 'store', buffer: s.target.name, index: gid, value: exprToK(s.expr, { vars, ranges, tensors: scope.tensors, reads }) });
      return;
    }
    const base = coords[coords.length - 1]!;
    const loads = new Map<string, KExpr>();
    const lanes = Array.from({ length: V }, (_, lane) => {
      const laneVars = new Map(vars);
      laneVars.set(innerAxis!.name, lane === 0 ? base : kadd(base, kconst(lane)));
      return exprToK(s.expr, {
        vars: laneVars,
        ranges,
        tensors: scope.tensors,
        reads,
        vector: { axis: innerAxis!.name, base, lane, width: V as 2 | 4, loads, bind: (e) => k.let('v', e) },
      });
    });
    k.emit({ op: 'store', buffer: s.target.name, index: first, value: { op: 'vector', type: kt(s.target.dtype, V as 2 | 4), parts: lanes } });
  });
  readsOf(k, scope, reads);
  k.global(s.target.name, s.target.dtype, shape, 'read_write');
  return finish(name, k, W, grid);
}

const VECTOR_STORE: ReadonlySet<string> = new Set(['f32', 'i32', 'u32']);

/** One invocation per output element, each looping over the whole reduction. */
export function emitSerial(name: string, s: Stmt, scope: EmitScope, opts: EmitOptions): Kernel {
  const r = s.expr;
  if (r.op !== 'reduce') throw new Error('internal: serial kernel for a non-reduction');
  const k = new KernelBuilder();
  const shape = shapeOf(s.target);
  const total = numel(shape);
  const W = opts.workgroupSize;
  const { grid, index } = linearGrid(Math.ceil(total / W), opts.maxWorkgroupsPerDimension);
  const gid = k.let('gid', kadd(kmul(index, kconst(W)), kbuiltin('local_index')));
  const reads = new Set<string>();
  k.if(klt(gid, kconst(total)), () => {
    const coords = decode(gid, shape).map((c) => k.let('i', c));
    const vars = new Map(s.target.axes.map((a, i) => [a.name, coords[i]!]));
    const accT = kt(accumulatorType(r.dtype));
    const acc = k.var('acc', accT, kconst(identityOf(r.fn, accT.scalar), accT));
    const loop = (d: number): void => {
      if (d === r.axes.length) {
        const ctx: ExprContext = { vars, ranges: axisRanges([...s.target.axes, ...r.axes]), tensors: scope.tensors, reads };
        k.emit({ op: 'assign', name: acc, value: combine(r.fn, kref(acc, accT), kcast(exprToK(r.body, ctx), accT)) });
        return;
      }
      const a = r.axes[d]!;
      k.for('r', kconst(0), kconst(a.size.op === 'int' ? a.size.value : 0), kconst(1), (v) => {
        vars.set(a.name, v);
        loop(d + 1);
      });
    };
    loop(0);
    k.emit({ op: 'store', buffer: s.target.name, index: gid, value: kcast(kref(acc, accT), ktype(s.target.dtype)) });
  });
  readsOf(k, scope, reads);
  k.global(s.target.name, s.target.dtype, shape, 'read_write');
  return finish(name, k, W, grid);
}

/** Threads per row for a row group whose longest row has `length` elements. */
export function defaultThreadsPerRow(length: number, workgroup: number): number {
  // about 16 elements per invocation, at most 64 invocations per row: long enough loops to hide
  // the cost of the reduction's barriers, short enough teams to fill the machine with rows
  let t = 1;
  while (t < Math.min(64, workgroup) && t * 16 < length) t *= 2;
  return t;
}

/**
 * A row group: `rowsPerWorkgroup` rows per workgroup, `threadsPerRow` invocations per row. Each
 * reduction is a strided loop per invocation, then a tree (or subgroup) reduction across the row's
 * team; its result stays in a register for the statements after it.
 */
export function emitRows(
  name: string,
  rowShape: readonly number[],
  stmts: readonly Stmt[],
  scope: EmitScope,
  opts: EmitOptions,
): Kernel {
  const k = new KernelBuilder();
  const rows = numel(rowShape);
  const longest = Math.max(...stmts.map((s) => (s.expr.op === 'reduce' ? numel(s.expr.axes.map(sizeOf)) : numel(shapeOf(s.target).slice(rowShape.length)))));
  const T = opts.threadsPerRow ?? defaultThreadsPerRow(longest, opts.rowWorkgroupSize);
  // Subgroups need not follow local indices, so one may straddle two row teams: a team that
  // reduces with subgroup operations is a whole workgroup (one row per workgroup).
  const useSubgroups = opts.subgroups && T > 1;
  const R = useSubgroups ? 1 : Math.max(1, Math.floor(opts.rowWorkgroupSize / T));
  const W = T * R;
  const { grid, index } = linearGrid(Math.ceil(rows / R), opts.maxWorkgroupsPerDimension);
  const li = kbuiltin('local_index');
  const lane = R === 1 ? li : k.let('lane', kmod(li, kconst(T)));
  const slot = R === 1 ? kconst(0) : k.let('slot', kdiv(li, kconst(T)));
  const row = k.let('row', kadd(kmul(index, kconst(R)), slot));
  const valid = k.let('valid', klt(row, kconst(rows)));
  // invalid rows still take part in barriers; clamping keeps their (unused) addresses in range
  const safeRow = rows % R === 0 ? row : k.let('srow', kselect(valid, row, kconst(0)));
  const rowCoords = decode(safeRow, rowShape).map((c) => k.let('p', c));
  const registers = new Map<string, KExpr>();
  const reads = new Set<string>();
  const sharedFor = new Map<string, string>();
  const team = { k, T, R, W, lane, li, useSubgroups, sharedFor };

  for (const s of stmts) {
    const baseVars = new Map(s.target.axes.slice(0, rowShape.length).map((a, i) => [a.name, rowCoords[i]!]));
    if (s.expr.op === 'reduce') {
      const r = s.expr;
      const accT = kt(accumulatorType(r.dtype));
      const acc = k.var('acc', accT, kconst(identityOf(r.fn, accT.scalar), accT));
      const inner = r.axes.map(sizeOf);
      const ctxFor = (coords: KExpr[]): ExprContext => ({
        vars: new Map([...baseVars, ...r.axes.map((a, i) => [a.name, coords[i]!] as const)]),
        ranges: axisRanges([...s.target.axes, ...r.axes]),
        tensors: scope.tensors,
        registers,
        reads,
      });
      k.if(valid, () =>
        k.for('r', lane, kconst(numel(inner)), kconst(T), (v) => {
          const coords = decode(v, inner).map((c) => k.let('q', c));
          k.emit({ op: 'assign', name: acc, value: combine(r.fn, kref(acc, accT), kcast(exprToK(r.body, ctxFor(coords)), accT)) });
        }),
      );
      const total = teamReduce(team, r.fn, kref(acc, accT));
      const value = k.let(s.target.name.toLowerCase().replace(/[^a-z0-9]/g, '') || 'v', kcast(total, ktype(s.target.dtype)));
      registers.set(s.target.name, value);
      if (scope.stored.has(s.target.name)) {
        k.global(s.target.name, s.target.dtype, rowShape, 'read_write');
        k.if(kand(valid, kbinary('eq', lane, kconst(0))), () => k.emit({ op: 'store', buffer: s.target.name, index: row, value }));
      }
    } else {
      const shape = shapeOf(s.target);
      const inner = shape.slice(rowShape.length);
      const innerAxes = s.target.axes.slice(rowShape.length);
      const n = numel(inner);
      k.global(s.target.name, s.target.dtype, shape, 'read_write');
      k.if(valid, () =>
        k.for('c', lane, kconst(n), kconst(T), (v) => {
          const coords = decode(v, inner).map((c) => k.let('q', c));
          const ctx: ExprContext = {
            vars: new Map([...baseVars, ...innerAxes.map((a, i) => [a.name, coords[i]!] as const)]),
            ranges: axisRanges(s.target.axes),
            tensors: scope.tensors,
            registers,
            reads,
          };
          k.emit({ op: 'store', buffer: s.target.name, index: kadd(kmul(row, kconst(n)), v), value: exprToK(s.expr, ctx) });
        }),
      );
    }
  }
  readsOf(k, scope, reads);
  return finish(name, k, W, grid);
}

const sizeOf = (a: Axis) => (a.size.op === 'int' ? a.size.value : 0);

interface Team {
  readonly k: KernelBuilder;
  readonly T: number;
  readonly R: number;
  readonly W: number;
  readonly lane: KExpr;
  readonly li: KExpr;
  readonly useSubgroups: boolean;
  readonly sharedFor: Map<string, string>;
}

/** Combines each invocation's partial value across its row team; every member gets the result. */
function teamReduce(t: Team, fn: ReduceFn, value: KExpr): KExpr {
  const { k, T, li } = t;
  if (T === 1) return value;
  const dtype = value.type.scalar as DType;
  const sharedOf = (length: number) => {
    const key = `${dtype}:${length}`;
    let s = t.sharedFor.get(key);
    if (!s) t.sharedFor.set(key, (s = k.shared('red', dtype, length)));
    return s;
  };
  const type = value.type;
  if (t.useSubgroups) {
    // Subgroups need not be laid out by local index, so each subgroup claims a slot in workgroup
    // memory through an atomic counter; then every invocation folds the filled slots.
    const partial = k.let('part', { op: 'subgroup', type, fn, x: value });
    const slots = sharedOf(t.W);
    let counter = t.sharedFor.get('counter');
    if (!counter) t.sharedFor.set('counter', (counter = k.shared('count', 'u32', 1, true)));
    const U = kt('u32');
    k.if(kbinary('eq', li, kconst(0)), () => k.emit({ op: 'store', buffer: counter, index: kconst(0), value: kconst(0, U) }));
    k.emit({ op: 'barrier' });
    k.if(kbinary('eq', kbuiltin('subgroup_lane'), kconst(0)), () => {
      const old = k.fresh('claim');
      k.emit({ op: 'atomic', fn: 'add', buffer: counter, index: kconst(0), value: kconst(1, U), result: old });
      k.emit({ op: 'store', buffer: slots, index: kcast(kref(old, U), I32), value: partial });
    });
    k.emit({ op: 'barrier' });
    const filled = k.let('filled', kcast(kload(counter, kconst(0), U), I32));
    const acc = k.var('fold', type, kload(slots, kconst(0), type));
    k.for('s', kconst(1), filled, kconst(1), (v) =>
      k.emit({ op: 'assign', name: acc, value: combine(fn, kref(acc, type), kload(slots, v, type)) }),
    );
    k.emit({ op: 'barrier' }); // the slots are reused by the next reduction
    return kref(acc, type);
  }
  const red = sharedOf(t.W);
  k.emit({ op: 'store', buffer: red, index: li, value });
  k.emit({ op: 'barrier' });
  for (let s = T / 2; s >= 1; s /= 2) {
    k.if(klt(t.lane, kconst(s)), () =>
      k.emit({
        op: 'store',
        buffer: red,
        index: li,
        value: combine(fn, kload(red, li, type), kload(red, kadd(li, kconst(s)), type)),
      }),
    );
    k.emit({ op: 'barrier' });
  }
  const result = k.let('total', kload(red, kmul(kdiv(li, kconst(T)), kconst(T)), type));
  k.emit({ op: 'barrier' }); // the buffer is reused by the next reduction
  return result;
}
