import type { DeviceInfo } from '../runtime/device.js';
import { fixedSubgroupSize } from '../runtime/target.js';
import type { Plan } from '../passes/pipeline.js';
import type { Ceilings } from './ceilings.js';
import { COST_FEATURES, type CostFeature, type KernelCounts, countKernel } from './kernel-counts.js';

/**
 * A kernel's time as a weighted sum of what it does (`KernelCounts`): milliseconds per unit of
 * each feature. A throughput model: the device is kept busy, so a launch takes as long as its
 * operations take one after another over its lanes. Its first weights come from the device's
 * measured ceilings (`priorModel`); measured kernels refine them (`fitCostModel`).
 */
export interface CostModel {
  readonly weights: Readonly<Record<CostFeature, number>>;
  /**
   * Where the weights come from: the device's measured ceilings, a software GPU's where none were
   * measured (`fallback`), or those refitted to kernels measured on the device.
   */
  readonly source: 'ceilings' | 'fallback' | 'fitted';
  /** Kernels measured that the weights were fitted to (0 for the ceilings alone). */
  readonly samples: number;
}

/** One measured kernel: what it does and how long it took. */
export interface CostSample {
  readonly counts: KernelCounts;
  readonly ms: number;
}

/**
 * Costs per operation where the device's ceilings were never measured: a software GPU on a few
 * CPU cores (ms per unit). The ceilings of any real device replace them.
 */
const FALLBACK: Ceilings = { measuredAt: '', device: '', fmaF32: 25, copyVec4: 3, copyScalar: 1.2, launchDeviceUs: 60, launchWallUs: 100 };

/**
 * The model the ceilings give. An arithmetic operation costs what the FMA probe measured per
 * flop; a global load, a workgroup load or store, a shuffle and a barrier what their loop probes
 * measured per invocation. Bytes beyond the caches cost what the copy probe moves per byte after
 * its instructions are paid; a load whose lanes read scattered addresses, what the streaming
 * probes measured it to cost beyond a coalesced one. Ceilings recorded before the loop probes existed price those
 * operations from the two copies instead (a scalar one and a vec4 one moving four times the
 * bytes per instruction give a cost per instruction and one per byte). An f16 operation costs
 * what the f16 FMA probe measured (a software GPU emulates them, ten times slower). A
 * transcendental costs 8 flops, an integer operation a flop, a loop iteration 3.
 */
export function priorModel(given?: Ceilings): CostModel {
  const ceilings = given ?? FALLBACK;
  const ns = 1e-6; // ms per ns
  const flop = ns / ceilings.fmaF32; // GFLOP/s -> ms per flop
  // per element of the scalar copy: 2 instructions + 8 bytes; per 4 elements of the vec4 copy:
  // 2 instructions + 32 bytes (ms per byte from GB/s: 1e-6 / rate)
  const scalarElement = (8 * ns) / ceilings.copyScalar;
  const vec4Group = (32 * ns) / ceilings.copyVec4;
  const copyInstruction = Math.max(flop, (scalarElement - (8 * Math.max(0, vec4Group - scalarElement)) / 24) / 2);
  const load = ceilings.globalLoadNs !== undefined ? ceilings.globalLoadNs * ns : copyInstruction;
  const byte = Math.max(0, (vec4Group - 2 * load) / 32);
  const shared = ceilings.sharedLoadNs !== undefined ? ceilings.sharedLoadNs * ns : load;
  const sharedStore = ceilings.workgroupStore !== undefined ? (4 * ns) / ceilings.workgroupStore : shared;
  const weights: Record<CostFeature, number> = {
    launches: ceilings.launchDeviceUs * 1e-3,
    workgroups: 20 * load,
    invocations: 2 * load,
    flops: flop,
    halfFlops: ceilings.fmaF16 !== undefined ? ns / ceilings.fmaF16 : flop,
    special: 8 * flop,
    intOps: flop,
    globalLoads: load,
    globalLoadBytes: byte,
    // what streaming a buffer lane by lane costs beyond streaming it in consecutive addresses,
    // where the roofline measured both; else a quarter of a load, for the fit to correct
    scatteredLoads: scatteredExtra(ceilings) ?? load / 4,
    globalStores: load,
    globalStoreBytes: byte,
    sharedLoads: shared,
    sharedStores: sharedStore,
    privateAccesses: shared,
    barriers: ceilings.barrierNs !== undefined ? ceilings.barrierNs * ns : 8 * load,
    // a value saved and restored across a barrier: a workgroup-memory store and load
    barrierState: shared + sharedStore,
    subgroupOps: Math.max(flop, (ceilings.shuffleNs ?? load / ns) * ns),
    loopIterations: 3 * flop,
  };
  return { weights, source: given ? 'ceilings' : 'fallback', samples: 0 };
}

/**
 * ms a scattered load costs beyond a coalesced one, where the ceilings measured both. Never below
 * a hundredth of a coalesced load: on a CPU a lane walking a strip of its own streams well (the
 * software GPU measures scattered loads cheaper), and a weight of zero could never be refitted.
 */
function scatteredExtra(c: Ceilings): number | undefined {
  const { globalScatteredLoadNs: scattered, globalStreamLoadNs: stream } = c;
  if (scattered === undefined || stream === undefined) return undefined;
  return Math.max(stream / 100, scattered - stream) * 1e-6;
}

/** What a model rests on, in words. */
export function describeModel(m: CostModel): string {
  if (m.source === 'fitted') return `the device's ceilings refitted to ${m.samples} kernels measured on it`;
  return m.source === 'ceilings' ? "the device's measured ceilings" : "a software GPU's ceilings (none measured here: npm run bench -- roofline)";
}

/** Predicted milliseconds of kernels with these counts. */
export function predictCounts(model: CostModel, counts: KernelCounts): number {
  let ms = 0;
  for (const f of COST_FEATURES) ms += model.weights[f] * counts[f];
  return ms;
}

/**
 * Each kernel of a plan counted as the device runs it: dynamic sizes at their bounds, workgroups
 * in whole subgroups of the device's (the smallest it reports; 32 where it reports none).
 */
export function planCounts(plan: Plan, info?: DeviceInfo): KernelCounts[] {
  const reported = info ? (fixedSubgroupSize(info) ?? info.extra.subgroupMinSize) : undefined;
  const subgroupSize = typeof reported === 'number' ? reported : info ? 32 : 1;
  return plan.kernels.map((k) => countKernel(k, { sizes: plan.program.dynamic, subgroupSize }));
}

/** Predicted milliseconds of a plan on a device: its kernels one after another. */
export function predictPlan(model: CostModel, plan: Plan, info?: DeviceInfo): number {
  return planCounts(plan, info).reduce((t, c) => t + predictCounts(model, c), 0);
}

/**
 * A measured plan's samples: each kernel with its own device time where the measurement has
 * per-kernel times (a plan's kernels run one after another), else a one-kernel plan with the
 * total; none otherwise (a total cannot be shared out among kernels).
 */
export function planSamples(plan: Plan, kernelMs: readonly number[] | undefined, totalMs: number, info?: DeviceInfo): CostSample[] {
  const counts = planCounts(plan, info);
  if (kernelMs && kernelMs.length === counts.length) return counts.map((c, i) => ({ counts: c, ms: kernelMs[i]! }));
  return counts.length === 1 ? [{ counts: counts[0]!, ms: totalMs }] : [];
}

/**
 * Weights fitted to measured kernels: non-negative least squares on relative error (a 1 ms and a
 * 100 ms kernel count alike), pulled toward `prior` (the ceilings' model) by `strength` so that a
 * handful of samples refine it rather than replace it, and features no sample exercises keep
 * their prior weight. Solved on the normal equations by Lawson and Hanson's active-set method,
 * each weight kept at zero or above.
 */
export function fitCostModel(samples: readonly CostSample[], prior: CostModel = priorModel(), strength = 0.05): CostModel {
  const usable = samples.filter((s) => s.ms > 0 && Number.isFinite(s.ms));
  if (usable.length === 0) return prior;
  const n = COST_FEATURES.length;
  // work in units of the prior's weights: w_f = prior_f * x_f, so x = 1 is the prior
  const scale = COST_FEATURES.map((f) => prior.weights[f] || 1e-12);
  const rows = usable.map((s) => COST_FEATURES.map((f, i) => (s.counts[f] * scale[i]!) / s.ms));
  // normal equations of sum over samples of (row . x - 1)^2 + strength * N * |x - 1|^2
  const A = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const b = new Array<number>(n).fill(0);
  for (const r of rows) {
    for (let i = 0; i < n; i++) {
      if (r[i] === 0) continue;
      b[i]! += r[i]!;
      for (let j = 0; j < n; j++) A[i]![j]! += r[i]! * r[j]!;
    }
  }
  const ridge = strength * usable.length;
  for (let i = 0; i < n; i++) {
    A[i]![i]! += ridge;
    b[i]! += ridge;
  }
  const x = nonNegativeSolve(A, b);
  const weights = Object.fromEntries(COST_FEATURES.map((f, i) => [f, x[i]! * scale[i]!])) as Record<CostFeature, number>;
  return { weights, source: 'fitted', samples: usable.length };
}

/**
 * The x >= 0 minimizing x'Ax/2 - b'x for a symmetric positive definite A (normal equations):
 * Lawson and Hanson's active set. Variables enter the free set while the gradient says they
 * would lower the objective; an unconstrained solve on the free set that leaves one negative is
 * cut back to the boundary and that variable leaves.
 */
export function nonNegativeSolve(A: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const x = new Array<number>(n).fill(0);
  const free = new Set<number>();
  const gradient = () => b.map((bi, i) => bi - A[i]!.reduce((t, aij, j) => t + aij * x[j]!, 0));
  const tol = 1e-12 * Math.max(1, ...b.map(Math.abs));
  for (let outer = 0; outer < 3 * n; outer++) {
    const w = gradient();
    let enter = -1;
    for (let i = 0; i < n; i++) if (!free.has(i) && w[i]! > tol && (enter < 0 || w[i]! > w[enter]!)) enter = i;
    if (enter < 0) break;
    free.add(enter);
    for (let inner = 0; inner < 3 * n; inner++) {
      const idx = [...free];
      const z = solveDense(idx.map((i) => idx.map((j) => A[i]![j]!)), idx.map((i) => b[i]!));
      if (z.every((v) => v > 0)) {
        idx.forEach((i, k) => (x[i] = z[k]!));
        break;
      }
      let alpha = 1;
      idx.forEach((i, k) => {
        if (z[k]! <= 0) alpha = Math.min(alpha, x[i]! / (x[i]! - z[k]!));
      });
      idx.forEach((i, k) => (x[i] = x[i]! + alpha * (z[k]! - x[i]!)));
      for (const i of idx) if (x[i]! <= 1e-15) {
        x[i] = 0;
        free.delete(i);
      }
    }
  }
  return x;
}

/** Solves a small dense system by Gaussian elimination with partial pivoting. */
function solveDense(M: number[][], v: number[]): number[] {
  const n = v.length;
  const a = M.map((row, i) => [...row, v[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    const pivot = a[c]![c]! || 1e-300;
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / pivot;
      for (let k = c; k <= n; k++) a[r]![k]! -= f * a[c]![k]!;
    }
  }
  const out = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let t = a[r]![n]!;
    for (let k = r + 1; k < n; k++) t -= a[r]![k]! * out[k]!;
    out[r] = t / (a[r]![r]! || 1e-300);
  }
  return out;
}

/**
 * How well a model orders measured candidates: Spearman's rank correlation between predicted
 * and measured times (1: the same order).
 */
export function rankCorrelation(predicted: readonly number[], measured: readonly number[]): number {
  const ranks = (xs: readonly number[]) => {
    const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
    const r = new Array<number>(xs.length);
    order.forEach(([, i], k) => (r[i] = k));
    return r;
  };
  const a = ranks(predicted);
  const b = ranks(measured);
  const n = a.length;
  if (n < 2) return 1;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a[i]! - b[i]!) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}
