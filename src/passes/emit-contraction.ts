import { numel, shapeOf } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import {
  type KExpr,
  type Kernel,
  kadd,
  kand,
  kbuiltin,
  kcast,
  kconst,
  kdiv,
  kload,
  klt,
  kmod,
  kmul,
  kref,
  ksub,
  kt,
} from '../ir/kernel.js';
import { type Axis, type Expr, type Stmt, visitExpr } from '../ir/tensor.js';
import type { Contraction } from './contraction.js';
import { type EmitScope, axisRanges, finish, readsOf } from './emit.js';
import { type ExprContext, accumulatorType, exprToK, ktype } from './kernel-expr.js';
import { KernelBuilder, decode, linearGrid } from './kernel-builder.js';
import { type ContractionKnobs, InvalidScheduleError, requireDivides, requirePow2 } from './schedule.js';

export interface ContractionGroup {
  readonly stmt: Stmt;
  readonly shape: Contraction;
  /** Elementwise statements reading the contraction's result pointwise: fused into its store. */
  readonly epilogue: readonly Stmt[];
}

export interface ContractionLimits {
  readonly maxWorkgroupsPerDimension: number;
  readonly maxWorkgroupInvocations: number;
  readonly maxWorkgroupStorageBytes: number;
}

const sizeOf = (a: Axis) => (a.size.op === 'int' ? a.size.value : 0);
const extent = (axes: readonly Axis[]) => numel(axes.map(sizeOf));

/** Checks a contraction's knobs against each other and the device; throws InvalidScheduleError. */
export function validateContraction(id: string, c: ContractionKnobs, limits: ContractionLimits): void {
  for (const knob of ['blockM', 'blockN', 'blockK', 'threadM', 'threadN', 'splitK'] as const) requirePow2(id, knob, c[knob]);
  requireDivides(id, 'threadM', c.threadM, 'threadM', c.blockM, 'blockM');
  requireDivides(id, 'threadN', c.threadN, 'threadN', c.blockN, 'blockN');
  const threads = (c.blockM / c.threadM) * (c.blockN / c.threadN);
  if (threads > limits.maxWorkgroupInvocations) {
    throw new InvalidScheduleError(`group ${id}: ${threads} invocations per workgroup exceed the device's ${limits.maxWorkgroupInvocations}`, id, 'threadM');
  }
  if (c.threadM * c.threadN > 64) {
    throw new InvalidScheduleError(`group ${id}: a ${c.threadM}x${c.threadN} register tile is more than 64 accumulators`, id, 'threadN');
  }
  if (c.staging === 'shared') {
    const bytes = (c.blockM + c.blockN) * c.blockK * 4 * (c.doubleBuffer ? 2 : 1);
    if (bytes > limits.maxWorkgroupStorageBytes) {
      throw new InvalidScheduleError(
        `group ${id}: tiles need ${bytes} bytes of workgroup memory; the device has ${limits.maxWorkgroupStorageBytes}`,
        id,
        'blockK',
      );
    }
  } else if (c.doubleBuffer) {
    throw new InvalidScheduleError(`group ${id}: doubleBuffer needs staging 'shared'`, id, 'doubleBuffer');
  }
}

/**
 * Which index runs fastest in memory for one side: the innermost index of the side's largest
 * load. Staging walks that index with consecutive invocations, so global reads coalesce.
 */
function reductionFastest(side: Expr, k: readonly Axis[], scope: EmitScope): boolean {
  let best: { size: number; kFast: boolean } | undefined;
  visitExpr(side, (e) => {
    if (e.op !== 'load') return;
    const t = scope.tensors.get(e.tensor);
    if (!t) return;
    const size = numel(shapeOf(t));
    const last = e.index[e.index.length - 1];
    const kFast = last !== undefined && k.some((a) => JSON.stringify(last).includes(`"name":${JSON.stringify(a.name)}`));
    if (!best || size > best.size) best = { size, kFast };
  });
  return best?.kFast ?? true;
}

/**
 * Emits a register-tiled contraction: a `blockM x blockN` output tile per workgroup, a
 * `threadM x threadN` accumulator tile per invocation (named variables, not an array — a private
 * array indexed in loops crashed the software Vulkan driver at large sizes), operand tiles staged
 * in workgroup memory (optionally double-buffered) or read directly. Prologues are evaluated
 * while staging; the epilogue is applied to the accumulators before the store. With split-K,
 * the partial tiles go to a temporary and a second kernel adds them and applies the epilogue.
 */
export function emitContraction(
  name: string,
  id: string,
  g: ContractionGroup,
  scope: EmitScope,
  c: ContractionKnobs,
  limits: ContractionLimits,
): { kernels: Kernel[]; temps: { name: string; dtype: DType; shape: number[] }[] } {
  validateContraction(id, c, limits);
  const { batch, m, n, k: kAxes, a: aSide, b: bSide } = g.shape;
  const M = extent(m);
  const N = extent(n);
  const K = extent(kAxes);
  const Bt = extent(batch);
  const target = g.stmt.target;
  const accType = accumulatorType(target.dtype);
  const accT = kt(accType);
  const S = Math.max(1, Math.min(c.splitK, Math.ceil(K / c.blockK)));
  const kChunk = Math.ceil(Math.ceil(K / S) / c.blockK) * c.blockK;
  const TM = c.blockM / c.threadM;
  const TN = c.blockN / c.threadN;
  const T = TM * TN;
  const tilesM = Math.ceil(M / c.blockM);
  const tilesN = Math.ceil(N / c.blockN);

  const kb = new KernelBuilder();
  const reads = new Set<string>();
  const { grid, index } = linearGrid(tilesM * tilesN * Bt * S, limits.maxWorkgroupsPerDimension);
  const wg = kb.let('wg', index);
  const [split, bIdx, tmIdx, tnIdx] = decode(wg, [S, Bt, tilesM, tilesN]).map((e) => kb.let('t', e));
  const tileM = kb.let('m0', kmul(tmIdx!, kconst(c.blockM)));
  const tileN = kb.let('n0', kmul(tnIdx!, kconst(c.blockN)));
  const tid = kbuiltin('local_index');
  const ty = kb.let('ty', kdiv(tid, kconst(TN)));
  const tx = kb.let('tx', kmod(tid, kconst(TN)));
  const batchVars = decode(bIdx!, batch.map(sizeOf)).map((e) => kb.let('b', e));
  const kStart = S === 1 ? kconst(0) : kb.let('k0', kmul(split!, kconst(kChunk)));
  const kEnd = Math.min(K, kChunk * S);

  const varsFor = (mFlat: KExpr | undefined, nFlat: KExpr | undefined, kFlat: KExpr): Map<string, KExpr> => {
    const vars = new Map<string, KExpr>();
    batch.forEach((ax, i) => vars.set(ax.name, batchVars[i]!));
    if (mFlat) decode(mFlat, m.map(sizeOf)).forEach((e, i) => vars.set(m[i]!.name, e));
    if (nFlat) decode(nFlat, n.map(sizeOf)).forEach((e, i) => vars.set(n[i]!.name, e));
    decode(kFlat, kAxes.map(sizeOf)).forEach((e, i) => vars.set(kAxes[i]!.name, e));
    return vars;
  };
  const ranges = axisRanges([...target.axes, ...kAxes]);
  const sideValue = (side: Expr, vars: Map<string, KExpr>): KExpr =>
    kcast(exprToK(side, { vars, ranges, tensors: scope.tensors, reads } satisfies ExprContext), accT);

  const acc: string[][] = [];
  for (let i = 0; i < c.threadM; i++) {
    acc.push([]);
    for (let j = 0; j < c.threadN; j++) acc[i]!.push(kb.var(`c${i}_${j}_`, accT, kconst(0, accT)));
  }
  const guardM = M % c.blockM !== 0;
  const guardN = N % c.blockN !== 0;
  const guardK = K % c.blockK !== 0 || kChunk * S !== K;
  const zero = kconst(0, accT);
  const inRange = (conds: KExpr[]): KExpr | undefined => conds.reduce<KExpr | undefined>((a, b) => (a ? kand(a, b) : b), undefined);
  const guarded = (cond: KExpr | undefined, value: () => KExpr): KExpr => {
    if (!cond) return value();
    // a select would evaluate the loads out of range; a guarded let keeps them in bounds
    const v = kb.var('g', accT, zero);
    kb.if(cond, () => kb.emit({ op: 'assign', name: v, value: value() }));
    return kref(v, accT);
  };

  // The N side in vectors of 4 where the layout allows: one aligned load feeds four columns.
  const vecN = c.vectorWidth === 4 && c.threadN % 4 === 0 && n.length === 1 && N % 4 === 0;
  const vecM = c.vectorWidth === 4 && c.threadM % 4 === 0;
  /** The B side at columns gn0 .. gn0+3 (gn0 a multiple of 4) and reduction index gk. */
  const sideQuad = (side: Expr, gn0: KExpr, gk: KExpr): KExpr[] => {
    const vars = varsFor(undefined, gn0, gk);
    const loads = new Map<string, KExpr>();
    return [0, 1, 2, 3].map((lane) => {
      const laneVars = new Map(vars);
      laneVars.set(n[0]!.name, lane === 0 ? gn0 : kadd(gn0, kconst(lane)));
      const ctx: ExprContext = {
        vars: laneVars,
        ranges,
        tensors: scope.tensors,
        reads,
        vector: { axis: n[0]!.name, base: gn0, lane, width: 4, loads, bind: (e) => kb.let('v', e) },
      };
      return kcast(exprToK(side, ctx), accT);
    });
  };
  /** Like `guarded`, for several values computed together. */
  const guardedAll = (cond: KExpr | undefined, count: number, values: () => KExpr[]): KExpr[] => {
    if (!cond) return values().map((v) => kb.let('q', v));
    const vs = Array.from({ length: count }, () => kb.var('g', accT, zero));
    kb.if(cond, () => values().forEach((v, i) => kb.emit({ op: 'assign', name: vs[i]!, value: v })));
    return vs.map((v) => kref(v, accT));
  };
  /** `count` consecutive elements of a workgroup array from `at`, as vectors of 4 when `vec`. */
  const sharedRun = (buf: string, at: KExpr, count: number, vec: boolean, base: string): KExpr[] => {
    if (!vec) return Array.from({ length: count }, (_, i) => kb.let(base, kload(buf, kadd(at, kconst(i)), accT)));
    const out: KExpr[] = [];
    for (let q = 0; q < count; q += 4) {
      const v = kb.let(`${base}v`, kload(buf, kadd(at, kconst(q)), kt(accType, 4)));
      for (let l = 0; l < 4; l++) out.push({ op: 'extract', type: accT, x: v, lane: l });
    }
    return out;
  };

  const fma = (i: number, j: number, av: KExpr, bv: KExpr) =>
    kb.emit({ op: 'assign', name: acc[i]![j]!, value: kadd(kref(acc[i]![j]!, accT), kmul(av, bv)) });

  if (c.staging === 'shared') {
    const stages = c.doubleBuffer ? 2 : 1;
    const aTile = c.blockK * c.blockM;
    const bTile = c.blockK * c.blockN;
    const As = kb.shared('As', accType as DType, aTile * stages);
    const Bs = kb.shared('Bs', accType as DType, bTile * stages);
    const aKFast = reductionFastest(aSide, kAxes, scope);
    const bKFast = reductionFastest(bSide, kAxes, scope);
    const stage = (k0: KExpr, aSlot: KExpr, bSlot: KExpr) => {
      const load = (buf: string, slot: KExpr, tile: number, rows: number, side: Expr, kFast: boolean, isA: boolean) => {
        const per = Math.ceil(tile / T);
        for (let p = 0; p < per; p++) {
          const e = p === 0 ? tid : kadd(tid, kconst(p * T));
          const body = () => {
            const kk = kFast ? kmod(e, kconst(c.blockK)) : kdiv(e, kconst(rows));
            const oo = kFast ? kdiv(e, kconst(c.blockK)) : kmod(e, kconst(rows));
            const gk = kb.let('gk', kadd(k0, kk));
            const go = kb.let(isA ? 'gm' : 'gn', kadd(isA ? tileM : tileN, oo));
            const conds: KExpr[] = [];
            if (isA ? guardM : guardN) conds.push(klt(go, kconst(isA ? M : N)));
            if (guardK) conds.push(klt(gk, kconst(kEnd)));
            const value = guarded(inRange(conds), () => sideValue(side, varsFor(isA ? go : undefined, isA ? undefined : go, gk)));
            kb.emit({ op: 'store', buffer: buf, index: kadd(slot, kadd(kmul(kk, kconst(rows)), oo)), value });
          };
          if ((p + 1) * T > tile) kb.if(klt(e, kconst(tile)), body);
          else body();
        }
      };
      load(As, aSlot, aTile, c.blockM, aSide, aKFast, true);
      load(Bs, bSlot, bTile, c.blockN, bSide, bKFast, false);
    };
    const compute = (aSlot: KExpr, bSlot: KExpr) => {
      kb.for(
        'kk',
        kconst(0),
        kconst(c.blockK),
        kconst(1),
        (kk) => {
          const av = sharedRun(As, kadd(aSlot, kadd(kmul(kk, kconst(c.blockM)), kmul(ty, kconst(c.threadM)))), c.threadM, vecM, 'a');
          const bv = sharedRun(Bs, kadd(bSlot, kadd(kmul(kk, kconst(c.blockN)), kmul(tx, kconst(c.threadN)))), c.threadN, vecN, 'b');
          for (let i = 0; i < c.threadM; i++) for (let j = 0; j < c.threadN; j++) fma(i, j, av[i]!, bv[j]!);
        },
        c.unrollK,
      );
    };
    const steps = Math.ceil((kEnd - 0) / c.blockK);
    const stepsPerSplit = Math.ceil(kChunk / c.blockK);
    const count = S === 1 ? steps : stepsPerSplit;
    if (!c.doubleBuffer) {
      kb.for('kt', kconst(0), kconst(count), kconst(1), (t) => {
        const k0 = kb.let('kb', kadd(kStart, kmul(t, kconst(c.blockK))));
        stage(k0, kconst(0), kconst(0));
        kb.emit({ op: 'barrier' });
        compute(kconst(0), kconst(0));
        kb.emit({ op: 'barrier' });
      });
    } else {
      // load tile t+1 into the other slot while computing on tile t: one barrier per step
      stage(kStart, kconst(0), kconst(0));
      kb.emit({ op: 'barrier' });
      kb.for('kt', kconst(0), kconst(count), kconst(1), (t) => {
        const cur = kb.let('cur', kmod(t, kconst(2)));
        const next = kb.let('nxt', ksub(kconst(1), cur));
        kb.if(klt(kadd(t, kconst(1)), kconst(count)), () =>
          stage(kadd(kStart, kmul(kadd(t, kconst(1)), kconst(c.blockK))), kmul(next, kconst(aTile)), kmul(next, kconst(bTile))),
        );
        compute(kmul(cur, kconst(aTile)), kmul(cur, kconst(bTile)));
        kb.emit({ op: 'barrier' });
      });
    }
  } else {
    // direct: each invocation reads its operands from global memory (caches do the staging)
    kb.for('kt', kconst(0), kconst(Math.ceil((S === 1 ? kEnd : kChunk) / c.blockK)), kconst(1), (t) => {
      const k0 = kb.let('kb', kadd(kStart, kmul(t, kconst(c.blockK))));
      kb.for(
        'kk',
        kconst(0),
        kconst(c.blockK),
        kconst(1),
        (kk) => {
          const gk = kb.let('gk', kadd(k0, kk));
          const kOk = guardK ? klt(gk, kconst(kEnd)) : undefined;
          const av = Array.from({ length: c.threadM }, (_, i) => {
            const gm = kb.let('gm', kadd(tileM, kadd(kmul(ty, kconst(c.threadM)), kconst(i))));
            const cond = inRange([...(guardM ? [klt(gm, kconst(M))] : []), ...(kOk ? [kOk] : [])]);
            return kb.let('a', guarded(cond, () => sideValue(aSide, varsFor(gm, undefined, gk))));
          });
          const bv: KExpr[] = [];
          if (vecN) {
            for (let q = 0; q < c.threadN; q += 4) {
              const gn0 = kb.let('gn', kadd(tileN, kadd(kmul(tx, kconst(c.threadN)), kconst(q))));
              const cond = inRange([...(guardN ? [klt(gn0, kconst(N))] : []), ...(kOk ? [kOk] : [])]);
              bv.push(...guardedAll(cond, 4, () => sideQuad(bSide, gn0, gk)));
            }
          } else {
            for (let j = 0; j < c.threadN; j++) {
              const gn = kb.let('gn', kadd(tileN, kadd(kmul(tx, kconst(c.threadN)), kconst(j))));
              const cond = inRange([...(guardN ? [klt(gn, kconst(N))] : []), ...(kOk ? [kOk] : [])]);
              bv.push(kb.let('b', guarded(cond, () => sideValue(bSide, varsFor(undefined, gn, gk)))));
            }
          }
          for (let i = 0; i < c.threadM; i++) for (let j = 0; j < c.threadN; j++) fma(i, j, av[i]!, bv[j]!);
        },
        c.unrollK,
      );
    });
  }

  // ---- store: the accumulators (through the epilogue), or partial tiles for split-K
  const temps: { name: string; dtype: DType; shape: number[] }[] = [];
  const partial = S > 1 ? `${target.name}_splitk` : undefined;
  if (partial) temps.push({ name: partial, dtype: accType as DType, shape: [S, Bt, M, N] });
  for (let i = 0; i < c.threadM; i++) {
    for (let j = 0; j < c.threadN; j++) {
      const gm = kb.let('om', kadd(tileM, kadd(kmul(ty, kconst(c.threadM)), kconst(i))));
      const gn = kb.let('on', kadd(tileN, kadd(kmul(tx, kconst(c.threadN)), kconst(j))));
      const cond = inRange([...(guardM ? [klt(gm, kconst(M))] : []), ...(guardN ? [klt(gn, kconst(N))] : [])]);
      const store = () => {
        const value = kref(acc[i]![j]!, accT);
        if (partial) {
          const at = kadd(kmul(kadd(kmul(split!, kconst(Bt)), bIdx!), kconst(M * N)), kadd(kmul(gm, kconst(N)), gn));
          kb.emit({ op: 'store', buffer: partial, index: at, value });
        } else {
          storeWithEpilogue(kb, g, scope, value, varsFor(gm, gn, kconst(0)), reads);
        }
      };
      if (cond) kb.if(cond, store);
      else store();
    }
  }
  readsOf(kb, scope, reads);
  if (partial) kb.global(partial, accType as DType, [S * Bt * M * N], 'read_write');
  const kernels = [finish(name, kb, T, grid)];
  if (partial) kernels.push(emitSplitKCombine(`${name}_combine`, g, scope, partial, S, { M, N, Bt }, limits));
  return { kernels, temps };
}

/** Stores the contraction result and every fused epilogue statement for one output element. */
function storeWithEpilogue(kb: KernelBuilder, g: ContractionGroup, scope: EmitScope, acc: KExpr, vars: Map<string, KExpr>, reads: Set<string>) {
  const target = g.stmt.target;
  const coords = target.axes.map((a) => vars.get(a.name)!);
  const flat = (axes: readonly Axis[]) => coords.reduce<KExpr>((f, cc, p) => kadd(kmul(f, kconst(sizeOf(axes[p]!))), cc), kconst(0));
  const value = kb.let('r', kcast(acc, ktype(target.dtype)));
  if (scope.stored.has(target.name)) {
    kb.global(target.name, target.dtype, shapeOf(target), 'read_write');
    kb.emit({ op: 'store', buffer: target.name, index: flat(target.axes), value });
  }
  const registers = new Map<string, KExpr>([[target.name, value]]);
  for (const e of g.epilogue) {
    const evars = new Map(e.target.axes.map((a, p) => [a.name, coords[p]!]));
    const v = kb.let('y', exprToK(e.expr, { vars: evars, ranges: axisRanges(e.target.axes), tensors: scope.tensors, registers, reads }));
    registers.set(e.target.name, v);
    if (scope.stored.has(e.target.name)) {
      kb.global(e.target.name, e.target.dtype, shapeOf(e.target), 'read_write');
      kb.emit({ op: 'store', buffer: e.target.name, index: flat(e.target.axes), value: v });
    }
  }
}

/** Adds the split-K partial tiles of each output element and applies the epilogue. */
function emitSplitKCombine(
  name: string,
  g: ContractionGroup,
  scope: EmitScope,
  partial: string,
  S: number,
  dims: { M: number; N: number; Bt: number },
  limits: ContractionLimits,
): Kernel {
  const kb = new KernelBuilder();
  const reads = new Set<string>();
  const total = dims.Bt * dims.M * dims.N;
  const W = 256;
  const { grid, index } = linearGrid(Math.ceil(total / W), limits.maxWorkgroupsPerDimension);
  const gid = kb.let('gid', kadd(kmul(index, kconst(W)), kbuiltin('local_index')));
  const accT = kt(accumulatorType(g.stmt.target.dtype));
  kb.global(partial, accT.scalar as DType, [S * total], 'read');
  kb.if(klt(gid, kconst(total)), () => {
    const [bIdx, gm, gn] = decode(gid, [dims.Bt, dims.M, dims.N]).map((e) => kb.let('i', e));
    const sum = kb.var('s', accT, kconst(0, accT));
    kb.for('p', kconst(0), kconst(S), kconst(1), (p) =>
      kb.emit({ op: 'assign', name: sum, value: kadd(kref(sum, accT), kload(partial, kadd(kmul(p, kconst(total)), gid), accT)) }),
    );
    const { batch, m, n } = g.shape;
    const vars = new Map<string, KExpr>();
    decode(bIdx!, batch.map(sizeOf)).forEach((e, i) => vars.set(batch[i]!.name, e));
    decode(gm!, m.map(sizeOf)).forEach((e, i) => vars.set(m[i]!.name, e));
    decode(gn!, n.map(sizeOf)).forEach((e, i) => vars.set(n[i]!.name, e));
    storeWithEpilogue(kb, g, scope, kref(sum, accT), vars, reads);
  });
  readsOf(kb, scope, reads);
  return finish(name, kb, W, grid);
}
