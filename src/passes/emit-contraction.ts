import { numel, shapeOf } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import {
  type KExpr,
  type KType,
  type Kernel,
  MATRIX_TILE,
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
import { type Axis, type Expr, type Stmt } from '../ir/tensor.js';
import type { Contraction } from './contraction.js';
import { type EmitScope, axisRanges, finish, readsOf } from './emit.js';
import { type ExprContext, accumulatorType, exprToK, ktype } from './kernel-expr.js';
import { KernelBuilder, decode, linearGrid } from './kernel-builder.js';
import { reductionFastest } from './tile/operand-layout.js';
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
  /** The target multiplies matrix tiles in hardware (CUDA tensor cores). */
  readonly tensorCores: boolean;
  /** 32-bit registers an invocation may use, where the target says (CUDA). */
  readonly maxRegistersPerThread?: number | undefined;
  /** Lanes per subgroup, where the target has subgroup shuffles and all its subgroups have this one size. */
  readonly subgroupSize?: number | undefined;
}

const sizeOf = (a: Axis) => (a.size.op === 'int' ? a.size.value : 0);
const extent = (axes: readonly Axis[]) => numel(axes.map(sizeOf));
const WARP = 32;

/** The operand type tensor-core tiles take: both sides f16, or both bf16. */
function matrixType(g: ContractionGroup): 'f16' | 'bf16' | undefined {
  const a = g.shape.a.dtype;
  return a === g.shape.b.dtype && (a === 'f16' || a === 'bf16') ? a : undefined;
}

/** Checks a contraction's knobs against each other and the device; throws InvalidScheduleError. */
export function validateContraction(id: string, c: ContractionKnobs, limits: ContractionLimits, g?: ContractionGroup): void {
  for (const knob of ['blockM', 'blockN', 'blockK', 'threadM', 'threadN', 'splitK'] as const) requirePow2(id, knob, c[knob]);
  const fail = (knob: string, why: string): never => {
    throw new InvalidScheduleError(`group ${id}: ${why}`, id, knob);
  };
  let threads: number;
  let sharedBytes: number;
  if (c.tensorCores) {
    if (!limits.tensorCores) fail('tensorCores', 'tensorCores needs a device with tensor cores (CUDA, sm_70 or newer)');
    if (g && !matrixType(g)) fail('tensorCores', `tensorCores needs f16 or bf16 operands on both sides, not ${g.shape.a.dtype} and ${g.shape.b.dtype}`);
    if (c.staging !== 'shared') fail('staging', "tensorCores needs staging 'shared'");
    requireDivides(id, 'blockM', MATRIX_TILE * c.threadM, '16 * threadM', c.blockM, 'blockM');
    requireDivides(id, 'blockN', MATRIX_TILE * c.threadN, '16 * threadN', c.blockN, 'blockN');
    requireDivides(id, 'blockK', MATRIX_TILE, '16', c.blockK, 'blockK');
    if (c.threadM * c.threadN > 8) fail('threadN', `${c.threadM}x${c.threadN} accumulator tiles per warp is more than 8`);
    threads = (c.blockM / (MATRIX_TILE * c.threadM)) * (c.blockN / (MATRIX_TILE * c.threadN)) * WARP;
    sharedBytes = (c.blockM + c.blockN) * c.blockK * 2 * (c.doubleBuffer ? 2 : 1) + c.blockM * c.blockN * 4;
  } else {
    requireDivides(id, 'threadM', c.threadM, 'threadM', c.blockM, 'blockM');
    requireDivides(id, 'threadN', c.threadN, 'threadN', c.blockN, 'blockN');
    if (c.threadM * c.threadN > 128) fail('threadN', `a ${c.threadM}x${c.threadN} register tile is more than 64 accumulators`);
    threads = (c.blockM / c.threadM) * (c.blockN / c.threadN);
    // accumulators plus one row of each operand live in registers at once
    const live = c.threadM * c.threadN + c.threadM + c.threadN;
    if (limits.maxRegistersPerThread !== undefined && live > limits.maxRegistersPerThread - 16) {
      fail('threadN', `a ${c.threadM}x${c.threadN} register tile needs about ${live + 16} registers; the device allows ${limits.maxRegistersPerThread}`);
    }
    sharedBytes = c.staging === 'shared' ? (c.blockM + c.blockN) * c.blockK * 4 * (c.doubleBuffer ? 2 : 1) : 0;
    if (c.staging === 'direct' && c.doubleBuffer) fail('doubleBuffer', "doubleBuffer needs staging 'shared'");
    if (c.staging === 'shared' && c.vectorK !== 1) fail('vectorK', "vectorK reads operands from global memory: it needs staging 'direct'");
    if (c.shuffleA) {
      const lanes = limits.subgroupSize;
      if (lanes === undefined) fail('shuffleA', 'shuffleA needs subgroup shuffles and subgroups of one fixed size, which this device does not report');
      if (c.staging !== 'direct') fail('shuffleA', "shuffleA reads A from global memory: it needs staging 'direct'");
      if (c.vectorK !== 1) fail('vectorK', 'vectorK and shuffleA are two ways of reading A; choose one');
      if (c.blockM !== c.threadM) fail('blockM', `shuffleA needs blockM == threadM (every lane computes the same rows), not ${c.blockM} and ${c.threadM}`);
      if (threads % lanes! !== 0) fail('blockN', `shuffleA needs whole subgroups: blockN / threadN (${threads}) must be a multiple of the subgroup size ${lanes}`);
      requireDivides(id, 'blockK', lanes!, 'the subgroup size', c.blockK, 'blockK');
    }
  }
  if (threads > limits.maxWorkgroupInvocations) {
    fail('threadM', `${threads} invocations per workgroup exceed the device's ${limits.maxWorkgroupInvocations}`);
  }
  if (sharedBytes > limits.maxWorkgroupStorageBytes) {
    fail('blockK', `tiles need ${sharedBytes} bytes of workgroup memory; the device has ${limits.maxWorkgroupStorageBytes}`);
  }
}

/**
 * Emits a tiled contraction: a `blockM x blockN` output tile per workgroup, looping over the
 * reduction in steps of `blockK`. Prologues are evaluated while operand tiles are staged; the
 * epilogue is applied before the store. The multiply is done either by invocations, each
 * accumulating a `threadM x threadN` register tile (named variables, not an array — a private
 * array indexed in loops crashed the software Vulkan driver at large sizes), or by tensor cores,
 * each subgroup accumulating `threadM x threadN` 16x16 tiles. With split-K the partial tiles go
 * to a temporary and a second kernel adds them and applies the epilogue.
 */
export function emitContraction(
  name: string,
  id: string,
  g: ContractionGroup,
  scope: EmitScope,
  c: ContractionKnobs,
  limits: ContractionLimits,
): { kernels: Kernel[]; temps: { name: string; dtype: DType; shape: number[] }[] } {
  validateContraction(id, c, limits, g);
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
  const kEnd = Math.min(K, kChunk * S);
  const steps = Math.ceil((S === 1 ? kEnd : kChunk) / c.blockK);
  const tc = c.tensorCores;
  const T = tc
    ? (c.blockM / (MATRIX_TILE * c.threadM)) * (c.blockN / (MATRIX_TILE * c.threadN)) * WARP
    : (c.blockM / c.threadM) * (c.blockN / c.threadN);
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
  const batchVars = decode(bIdx!, batch.map(sizeOf)).map((e) => kb.let('b', e));
  const kStart = S === 1 ? kconst(0) : kb.let('k0', kmul(split!, kconst(kChunk)));

  const varsFor = (mFlat: KExpr | undefined, nFlat: KExpr | undefined, kFlat: KExpr | undefined): Map<string, KExpr> => {
    const vars = new Map<string, KExpr>();
    batch.forEach((ax, i) => vars.set(ax.name, batchVars[i]!));
    if (mFlat) decode(mFlat, m.map(sizeOf)).forEach((e, i) => vars.set(m[i]!.name, e));
    if (nFlat) decode(nFlat, n.map(sizeOf)).forEach((e, i) => vars.set(n[i]!.name, e));
    if (kFlat) decode(kFlat, kAxes.map(sizeOf)).forEach((e, i) => vars.set(kAxes[i]!.name, e));
    return vars;
  };
  const ranges = axisRanges([...target.axes, ...kAxes]);
  const sideValue = (side: Expr, vars: Map<string, KExpr>, type: KType): KExpr =>
    kcast(exprToK(side, { vars, ranges, tensors: scope.tensors, reads } satisfies ExprContext), type);

  const guardM = M % c.blockM !== 0;
  const guardN = N % c.blockN !== 0;
  const guardK = K % c.blockK !== 0 || kChunk * S !== K;
  const inRange = (conds: KExpr[]): KExpr | undefined => conds.reduce<KExpr | undefined>((a, b) => (a ? kand(a, b) : b), undefined);
  /** A value computed only where `cond` holds (loads outside stay unexecuted), zero elsewhere. */
  const guarded = (cond: KExpr | undefined, type: KType, value: () => KExpr): KExpr => {
    if (!cond) return value();
    const v = kb.var('g', type, kconst(0, type));
    kb.if(cond, () => kb.emit({ op: 'assign', name: v, value: value() }));
    return kref(v, type);
  };

  // ---- operand staging: global memory (through the prologue) -> workgroup tiles, k-major
  const stageT = tc ? kt(matrixType(g)!) : accT;
  const stages = c.doubleBuffer ? 2 : 1;
  const aTile = c.blockK * c.blockM;
  const bTile = c.blockK * c.blockN;
  const shared = c.staging === 'shared';
  const As = shared ? kb.shared('As', stageT.scalar as DType, aTile * stages) : '';
  const Bs = shared ? kb.shared('Bs', stageT.scalar as DType, bTile * stages) : '';
  const stageSide = (buf: string, slot: KExpr, k0: KExpr, isA: boolean) => {
    const tile = isA ? aTile : bTile;
    const rows = isA ? c.blockM : c.blockN;
    const side = isA ? aSide : bSide;
    const kFast = reductionFastest(side, kAxes, scope.tensors);
    const per = Math.ceil(tile / T);
    const one = (e: KExpr) => {
      const kk = kFast ? kmod(e, kconst(c.blockK)) : kdiv(e, kconst(rows));
      const oo = kFast ? kdiv(e, kconst(c.blockK)) : kmod(e, kconst(rows));
      const gk = kb.let('gk', kadd(k0, kk));
      const go = kb.let(isA ? 'gm' : 'gn', kadd(isA ? tileM : tileN, oo));
      const conds: KExpr[] = [];
      if (isA ? guardM : guardN) conds.push(klt(go, kconst(isA ? M : N)));
      if (guardK) conds.push(klt(gk, kconst(kEnd)));
      const value = guarded(inRange(conds), stageT, () => sideValue(side, varsFor(isA ? go : undefined, isA ? undefined : go, gk), stageT));
      kb.emit({ op: 'store', buffer: buf, index: kadd(slot, kadd(kmul(kk, kconst(rows)), oo)), value });
    };
    const ragged = per * T > tile;
    if (per <= 4) {
      // few elements per invocation: unrolled
      for (let p = 0; p < per; p++) {
        const e = p === 0 ? tid : kb.let('e', kadd(tid, kconst(p * T)));
        if (ragged && (p + 1) * T > tile) kb.if(klt(e, kconst(tile)), () => one(e));
        else one(e);
      }
    } else {
      // many: a loop, so the prologue is not copied per element (register pressure)
      kb.for('p', tid, kconst(tile), kconst(T), (e) => one(e));
    }
  };
  const stage = (k0: KExpr, aSlot: KExpr, bSlot: KExpr) => {
    stageSide(As, aSlot, k0, true);
    stageSide(Bs, bSlot, k0, false);
  };
  /** The k loop over blockK steps, single- or double-buffered; `compute` consumes one staged step. */
  const kLoop = (compute: (k0: KExpr, aSlot: KExpr, bSlot: KExpr) => void) => {
    if (!shared) {
      kb.for('kt', kconst(0), kconst(steps), kconst(1), (t) => compute(kb.let('kb', kadd(kStart, kmul(t, kconst(c.blockK)))), kconst(0), kconst(0)));
    } else if (!c.doubleBuffer) {
      kb.for('kt', kconst(0), kconst(steps), kconst(1), (t) => {
        const k0 = kb.let('kb', kadd(kStart, kmul(t, kconst(c.blockK))));
        stage(k0, kconst(0), kconst(0));
        kb.emit({ op: 'barrier' });
        compute(k0, kconst(0), kconst(0));
        kb.emit({ op: 'barrier' });
      });
    } else {
      // load step t+1 into the other slot while computing on step t: one barrier per step
      stage(kStart, kconst(0), kconst(0));
      kb.emit({ op: 'barrier' });
      kb.for('kt', kconst(0), kconst(steps), kconst(1), (t) => {
        const cur = kb.let('cur', kmod(t, kconst(2)));
        const next = kb.let('nxt', ksub(kconst(1), cur));
        kb.if(klt(kadd(t, kconst(1)), kconst(steps)), () =>
          stage(kadd(kStart, kmul(kadd(t, kconst(1)), kconst(c.blockK))), kmul(next, kconst(aTile)), kmul(next, kconst(bTile))),
        );
        compute(kadd(kStart, kmul(t, kconst(c.blockK))), kmul(cur, kconst(aTile)), kmul(cur, kconst(bTile)));
        kb.emit({ op: 'barrier' });
      });
    }
  };

  const partial = S > 1 ? `${target.name}_splitk` : undefined;
  /** Writes one output element: a split-K partial, or the result through the epilogue. */
  const emitOutput = (gm: KExpr, gn: KExpr, value: KExpr) => {
    const cond = inRange([...(guardM ? [klt(gm, kconst(M))] : []), ...(guardN ? [klt(gn, kconst(N))] : [])]);
    const write = () => {
      if (partial) {
        const at = kadd(kmul(kadd(kmul(split!, kconst(Bt)), bIdx!), kconst(M * N)), kadd(kmul(gm, kconst(N)), gn));
        kb.emit({ op: 'store', buffer: partial, index: at, value });
      } else {
        storeWithEpilogue(kb, g, scope, value, varsFor(gm, gn, undefined), reads);
      }
    };
    if (cond) kb.if(cond, write);
    else write();
  };

  if (tc) emitTensorCoreBody();
  else emitRegisterBody();

  function emitRegisterBody() {
    const TN = c.blockN / c.threadN;
    const ty = kb.let('ty', kdiv(tid, kconst(TN)));
    const tx = kb.let('tx', kmod(tid, kconst(TN)));
    const acc: string[][] = [];
    for (let i = 0; i < c.threadM; i++) {
      acc.push([]);
      for (let j = 0; j < c.threadN; j++) acc[i]!.push(kb.var(`c${i}_${j}_`, accT, kconst(0, accT)));
    }
    const fma = (i: number, j: number, av: KExpr, bv: KExpr) =>
      kb.emit({ op: 'assign', name: acc[i]![j]!, value: kadd(kref(acc[i]![j]!, accT), kmul(av, bv)) });
    // the N side in vectors of 4 where the layout allows: one aligned load feeds four columns
    const vecN = c.vectorWidth === 4 && c.threadN % 4 === 0 && n.length === 1 && N % 4 === 0;
    const vecM = c.vectorWidth === 4 && c.threadM % 4 === 0;
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
    /**
     * A side's values at four consecutive positions base .. base+3 (base a multiple of 4) of one
     * axis: operands contiguous along it are read with one vector load each.
     */
    const sideQuad = (side: Expr, axis: string, base: KExpr, vars: Map<string, KExpr>): KExpr[] => {
      const loads = new Map<string, KExpr>();
      return [0, 1, 2, 3].map((lane) => {
        const laneVars = new Map(vars);
        laneVars.set(axis, lane === 0 ? base : kadd(base, kconst(lane)));
        const ctx: ExprContext = {
          vars: laneVars,
          ranges,
          tensors: scope.tensors,
          reads,
          vector: { axis, base, lane, width: 4, loads, bind: (e) => kb.let('v', e) },
        };
        return kcast(exprToK(side, ctx), accT);
      });
    };
    const guardedQuad = (cond: KExpr | undefined, values: () => KExpr[]): KExpr[] => {
      if (!cond) return values().map((v) => kb.let('q', v));
      const vs = [0, 1, 2, 3].map(() => kb.var('g', accT, kconst(0, accT)));
      kb.if(cond, () => values().forEach((v, i) => kb.emit({ op: 'assign', name: vs[i]!, value: v })));
      return vs.map((v) => kref(v, accT));
    };

    // direct staging reads A four reduction steps at a time where A is contiguous along k
    const vecK =
      !shared && c.vectorK === 4 && kAxes.length === 1 && K % 4 === 0 && c.blockK % 4 === 0 && reductionFastest(aSide, kAxes, scope.tensors);
    /** The B side at one reduction index: threadN values, in quads along n where possible. */
    const bRow = (gk: KExpr, kOk: KExpr | undefined): KExpr[] => {
      const bv: KExpr[] = [];
      for (let q = 0; q < c.threadN; q += vecN ? 4 : 1) {
        const gn = kb.let('gn', kadd(tileN, kadd(kmul(tx, kconst(c.threadN)), kconst(q))));
        const cond = inRange([...(guardN ? [klt(gn, kconst(N))] : []), ...(kOk ? [kOk] : [])]);
        if (vecN) bv.push(...guardedQuad(cond, () => sideQuad(bSide, n[0]!.name, gn, varsFor(undefined, gn, gk))));
        else bv.push(kb.let('b', guarded(cond, accT, () => sideValue(bSide, varsFor(undefined, gn, gk), accT))));
      }
      return bv;
    };
    /** Where row `gm` of A is in range at a reduction step that `kOk` (if any) guards. */
    const rowOk = (gm: KExpr, kOk: KExpr | undefined) => inRange([...(guardM ? [klt(gm, kconst(M))] : []), ...(kOk ? [kOk] : [])]);
    const shuffleA = !shared && c.shuffleA;
    const lane = shuffleA ? kb.let('lane', kbuiltin('subgroup_lane')) : undefined;
    kLoop((k0, aSlot, bSlot) => {
      kb.for(
        'kk',
        kconst(0),
        kconst(c.blockK),
        kconst(vecK ? 4 : shuffleA ? limits.subgroupSize! : 1),
        (kk) => {
          if (shared) {
            const av = sharedRun(As, kadd(aSlot, kadd(kmul(kk, kconst(c.blockM)), kmul(ty, kconst(c.threadM)))), c.threadM, vecM, 'a');
            const bv = sharedRun(Bs, kadd(bSlot, kadd(kmul(kk, kconst(c.blockN)), kmul(tx, kconst(c.threadN)))), c.threadN, vecN, 'b');
            for (let i = 0; i < c.threadM; i++) for (let j = 0; j < c.threadN; j++) fma(i, j, av[i]!, bv[j]!);
            return;
          }
          // direct: every invocation reads its operands from global memory (caches stage them)
          if (shuffleA) {
            // lane l reads A at step kk + l; step kk + s reaches every lane from lane s
            const lanes = limits.subgroupSize!;
            const gkl = kb.let('gk', kadd(kadd(k0, kk), lane!));
            const lOk = guardK ? klt(gkl, kconst(kEnd)) : undefined;
            const rows = Array.from({ length: c.threadM }, (_, i) => kb.let('gm', kadd(tileM, kconst(i))));
            const mine = rows.map((gm) =>
              kb.let('al', guarded(rowOk(gm, lOk), accT, () => sideValue(aSide, varsFor(gm, undefined, gkl), accT))),
            );
            kb.for(
              'ks',
              kconst(0),
              kconst(lanes),
              kconst(1),
              (ks) => {
                const gk = kb.let('gk', kadd(kadd(k0, kk), ks));
                const av = mine.map((a) => kb.let('a', { op: 'shuffle', type: accT, x: a, lane: ks }));
                const bv = bRow(gk, guardK ? klt(gk, kconst(kEnd)) : undefined);
                for (let i = 0; i < c.threadM; i++) for (let j = 0; j < c.threadN; j++) fma(i, j, av[i]!, bv[j]!);
              },
              c.unrollK,
            );
            return;
          }
          const gk = kb.let('gk', kadd(k0, kk));
          const kOk = guardK ? klt(gk, kconst(kEnd)) : undefined;
          const rows = Array.from({ length: c.threadM }, (_, i) => kb.let('gm', kadd(tileM, kadd(kmul(ty, kconst(c.threadM)), kconst(i)))));
          if (vecK) {
            // K % 4 == 0 and blockK % 4 == 0: the four steps are all in range or all out
            const aq = rows.map((gm) => guardedQuad(rowOk(gm, kOk), () => sideQuad(aSide, kAxes[0]!.name, gk, varsFor(gm, undefined, gk))));
            for (let s4 = 0; s4 < 4; s4++) {
              const gks = s4 === 0 ? gk : kb.let('gk', kadd(gk, kconst(s4)));
              const bv = bRow(gks, kOk);
              for (let i = 0; i < c.threadM; i++) for (let j = 0; j < c.threadN; j++) fma(i, j, aq[i]![s4]!, bv[j]!);
            }
            return;
          }
          const av = rows.map((gm) => kb.let('a', guarded(rowOk(gm, kOk), accT, () => sideValue(aSide, varsFor(gm, undefined, gk), accT))));
          const bv = bRow(gk, kOk);
          for (let i = 0; i < c.threadM; i++) for (let j = 0; j < c.threadN; j++) fma(i, j, av[i]!, bv[j]!);
        },
        c.unrollK && !shuffleA,
      );
    });
    for (let i = 0; i < c.threadM; i++) {
      for (let j = 0; j < c.threadN; j++) {
        const gm = kb.let('om', kadd(tileM, kadd(kmul(ty, kconst(c.threadM)), kconst(i))));
        const gn = kb.let('on', kadd(tileN, kadd(kmul(tx, kconst(c.threadN)), kconst(j))));
        emitOutput(gm, gn, kref(acc[i]![j]!, accT));
      }
    }
  }

  function emitTensorCoreBody() {
    const halfType = matrixType(g)!;
    const warpsN = c.blockN / (MATRIX_TILE * c.threadN);
    const warp = kb.let('warp', kdiv(tid, kconst(WARP)));
    const wr = kb.let('wr', kdiv(warp, kconst(warpsN)));
    const wc = kb.let('wc', kmod(warp, kconst(warpsN)));
    const rowBase = kb.let('wm', kmul(wr, kconst(MATRIX_TILE * c.threadM)));
    const colBase = kb.let('wn', kmul(wc, kconst(MATRIX_TILE * c.threadN)));
    const aFrag = Array.from({ length: c.threadM }, (_, i) => `fa${i}`);
    const bFrag = Array.from({ length: c.threadN }, (_, j) => `fb${j}`);
    const accFrag = aFrag.map((_, i) => bFrag.map((__, j) => `facc${i}_${j}`));
    aFrag.forEach((f) => kb.emit({ op: 'matrixDecl', name: f, role: 'a', dtype: halfType, layout: 'col' }));
    bFrag.forEach((f) => kb.emit({ op: 'matrixDecl', name: f, role: 'b', dtype: halfType, layout: 'row' }));
    for (const row of accFrag) {
      for (const f of row) {
        kb.emit({ op: 'matrixDecl', name: f, role: 'acc', dtype: 'f32', layout: 'row' });
        kb.emit({ op: 'matrixFill', name: f, value: 0 });
      }
    }
    kLoop((_k0, aSlot, bSlot) => {
      for (let kk = 0; kk < c.blockK; kk += MATRIX_TILE) {
        // staged tiles are k-major: A[kk][m] is a column-major 16x16 A tile, B[kk][n] row-major
        aFrag.forEach((f, i) =>
          kb.emit({
            op: 'matrixLoad',
            name: f,
            buffer: As,
            offset: kadd(aSlot, kadd(kconst(kk * c.blockM), kadd(rowBase, kconst(i * MATRIX_TILE)))),
            stride: c.blockM,
            layout: 'col',
          }),
        );
        bFrag.forEach((f, j) =>
          kb.emit({
            op: 'matrixLoad',
            name: f,
            buffer: Bs,
            offset: kadd(bSlot, kadd(kconst(kk * c.blockN), kadd(colBase, kconst(j * MATRIX_TILE)))),
            stride: c.blockN,
            layout: 'row',
          }),
        );
        accFrag.forEach((row, i) => row.forEach((f, j) => kb.emit({ op: 'matrixMma', acc: f, a: aFrag[i]!, b: bFrag[j]! })));
      }
    });
    // accumulators -> a workgroup tile -> every invocation applies the epilogue to its elements
    const Cs = kb.shared('Cs', 'f32', c.blockM * c.blockN);
    accFrag.forEach((row, i) =>
      row.forEach((f, j) =>
        kb.emit({
          op: 'matrixStore',
          name: f,
          buffer: Cs,
          offset: kadd(kmul(kadd(rowBase, kconst(i * MATRIX_TILE)), kconst(c.blockN)), kadd(colBase, kconst(j * MATRIX_TILE))),
          stride: c.blockN,
        }),
      ),
    );
    kb.emit({ op: 'barrier' });
    kb.for('o', tid, kconst(c.blockM * c.blockN), kconst(T), (e) => {
      const gm = kb.let('om', kadd(tileM, kdiv(e, kconst(c.blockN))));
      const gn = kb.let('on', kadd(tileN, kmod(e, kconst(c.blockN))));
      emitOutput(gm, gn, kload(Cs, e, kt('f32')));
    });
  }

  readsOf(kb, scope, reads);
  const temps: { name: string; dtype: DType; shape: number[] }[] = [];
  if (partial) {
    temps.push({ name: partial, dtype: accType as DType, shape: [S, Bt, M, N] });
    kb.global(partial, accType as DType, [S * Bt * M * N], 'read_write');
  }
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
