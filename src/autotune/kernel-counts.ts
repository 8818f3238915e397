import { bitsOf, isFloat } from '../ir/dtype.js';
import type { Builtin, KBuffer, KExpr, KStmt, Kernel } from '../ir/kernel.js';
import { kchildren } from '../ir/kernel.js';

/**
 * What a kernel does, counted from its kernel IR without running it: the work of one launch,
 * summed over every invocation. The cost model weighs these; they are the features it is fitted
 * on. Counts are per scalar lane (a vec4 add is 4 arithmetic operations) except memory
 * instructions, which count once per access whatever its width, beside the bytes they move.
 */
export const COST_FEATURES = [
  /** Kernels launched (each costs the device's launch overhead). */
  'launches',
  /** Workgroups launched. */
  'workgroups',
  /** Invocations launched. */
  'invocations',
  /** f32 arithmetic operations (add, mul, max, select, ...), per lane. */
  'flops',
  /** The same in f16 (bf16 is computed in f32): devices without native f16 arithmetic emulate them. */
  'halfFlops',
  /** Transcendental and other costly functions: exp, log, sqrt, tanh, erf, pow, division, per lane. */
  'special',
  /** Integer and boolean operations and conversions (index arithmetic, unpacking), per lane. */
  'intOps',
  /** Global-memory load instructions. */
  'globalLoads',
  /**
   * Bytes those loads must bring from memory: per buffer, what they read, but never more than
   * the buffer holds (what is read again comes from a cache: its cost is the load instruction's).
   */
  'globalLoadBytes',
  /**
   * Of those loads, the ones whose neighbouring lanes read addresses a memory sector (32 bytes)
   * or more apart (a lane walking a row of its own, a column of a row-major matrix): on a GPU
   * each such lane pulls a sector of its own. Loads whose address does not follow from the
   * lane's position in a way the counter can evaluate count as contiguous.
   */
  'scatteredLoads',
  /** Global-memory store and atomic instructions. */
  'globalStores',
  /** Bytes those stores write, per buffer never more than it holds. */
  'globalStoreBytes',
  /** Workgroup-memory loads. */
  'sharedLoads',
  /** Workgroup-memory stores. */
  'sharedStores',
  /** Reads and writes of per-invocation arrays indexed at run time. */
  'privateAccesses',
  /** Workgroup barriers, per invocation. */
  'barriers',
  /**
   * Barriers weighted by the per-invocation variables declared before them (their scalar lanes):
   * the state an invocation holds across a barrier. A device that runs a workgroup's invocations
   * one after another on a CPU (a software GPU) saves and restores it at every barrier.
   */
  'barrierState',
  /** Subgroup reductions and shuffles. */
  'subgroupOps',
  /** Iterations of loops left as loops (not unrolled): a compare, an increment and a branch each. */
  'loopIterations',
] as const;

export type CostFeature = (typeof COST_FEATURES)[number];

/**
 * What the counts mean: raise it with any change to what a feature counts, so that samples
 * recorded under other definitions are set aside rather than fitted as if they meant the same.
 */
export const COUNTS_VERSION = 1;
export type KernelCounts = Readonly<Record<CostFeature, number>>;

/** The unit a GPU's memory system moves: a load whose neighbouring lanes are this far apart wastes the rest of it. */
const SECTOR_BYTES = 32;

const SPECIAL = new Set(['exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'erf', 'sigmoid', 'sin', 'cos', 'recip', 'pow', 'div', 'mod']);

/** Values of integer expressions where they can be known: loop bounds, trip counts. */
type Env = Map<string, number>;
type Builtins = Partial<Record<Builtin, number>>;

/** How a kernel is launched, for counting: its sizes and how many lanes run together. */
export interface CountOptions {
  /** Values of the dynamic sizes the kernel reads (`param`s): their bounds, unless told otherwise. */
  readonly sizes?: Readonly<Record<string, number>>;
  /**
   * Invocations that execute together (a subgroup): a workgroup runs in whole subgroups, so one
   * of 8 invocations on a device with subgroups of 8 costs as much as 8. Default 1.
   */
  readonly subgroupSize?: number;
}

/**
 * One kernel's counts for a launch at the given values of its dynamic sizes. Loop trip counts
 * are exact where the bounds are known; a bound that depends on an outer loop variable or an
 * invocation's position is taken at the middle of that variable's range (a triangular loop counts
 * half its square), one that cannot be evaluated as one trip. A guarded block counts fully
 * (guards mostly pass), the two arms of an if-else half each. Per-invocation work counts for
 * every lane of the subgroups a workgroup occupies.
 */
export function countKernel(k: Kernel, o: CountOptions = {}): KernelCounts {
  const counts = zeroCounts();
  const buffers = new Map(k.buffers.map((b) => [b.name, b]));
  const [wx, wy, wz] = k.workgroup;
  const [gx, gy, gz] = k.grid;
  const invocationsPerGroup = wx * wy * wz;
  const env: Env = new Map();
  const mid = (n: number) => Math.floor((n - 1) / 2);
  const builtins: Builtins = {
    local_index: mid(invocationsPerGroup),
    local_id_x: mid(wx),
    local_id_y: mid(wy),
    local_id_z: mid(wz),
    group_id_x: mid(gx),
    group_id_y: mid(gy),
    group_id_z: mid(gz),
    num_groups_x: gx,
    num_groups_y: gy,
    num_groups_z: gz,
  };
  const sizes = o.sizes ?? {};
  const value = (e: KExpr): number | undefined => evalIndex(e, (n) => env.get(n), builtins, sizes);
  // the first two lanes of a workgroup (along x, in local_index and in the subgroup): lanes
  // that share a row team are neighbours there whatever the team's size
  const here: Builtins = { ...builtins, local_index: 0, local_id_x: 0, subgroup_lane: 0 };
  const next: Builtins = { ...builtins, local_index: 1, local_id_x: 1, subgroup_lane: 1 };
  const lets = new Map<string, KExpr>();
  const laneStride = (index: KExpr): number | undefined => {
    const at = (b: Builtins) => {
      const memo = new Map<string, number | undefined>();
      const ref = (n: string): number | undefined => {
        if (!lets.has(n)) return env.get(n);
        if (!memo.has(n)) memo.set(n, evalIndex(lets.get(n)!, ref, b, sizes));
        return memo.get(n);
      };
      return evalIndex(index, ref, b, sizes);
    };
    const a = at(here);
    const c = at(next);
    return a === undefined || c === undefined ? undefined : c - a;
  };
  const bytes = new Map<string, { load: number; store: number }>();
  const walker: Walker = { counts, buffers, value, env, lets, laneStride, state: { lanes: 0 }, bytes };
  walkStmts(walker, k.body, 1);
  const groups = gx * gy * gz;
  const invocations = groups * invocationsPerGroup;
  const S = Math.max(1, o.subgroupSize ?? 1);
  const lanes = groups * Math.ceil(invocationsPerGroup / S) * S;
  const total = zeroCounts();
  for (const f of COST_FEATURES) total[f] = counts[f] * lanes;
  // memory traffic: what the launch reads and writes, each buffer at most once
  for (const [name, b] of bytes) {
    const size = (bitsOf(buffers.get(name)!.dtype) * buffers.get(name)!.length) / 8;
    total.globalLoadBytes += Math.min(b.load * invocations, size);
    total.globalStoreBytes += Math.min(b.store * invocations, size);
  }
  total.launches = 1;
  total.workgroups = groups;
  total.invocations = invocations;
  return total;
}

/** The counts of several kernels (a plan's), added up. */
export function addCounts(all: readonly KernelCounts[]): KernelCounts {
  const total = zeroCounts();
  for (const c of all) for (const f of COST_FEATURES) total[f] += c[f];
  return total;
}

export function zeroCounts(): Record<CostFeature, number> {
  return Object.fromEntries(COST_FEATURES.map((f) => [f, 0])) as Record<CostFeature, number>;
}

interface Walker {
  readonly counts: Record<CostFeature, number>;
  readonly buffers: ReadonlyMap<string, KBuffer>;
  readonly value: (e: KExpr) => number | undefined;
  readonly env: Env;
  /** The integer lets seen so far, by name: an index is evaluated again through them for the next lane. */
  readonly lets: Map<string, KExpr>;
  /** How far apart (in elements) neighbouring lanes' indices are, where that can be evaluated. */
  readonly laneStride: (index: KExpr) => number | undefined;
  /** Scalar lanes of the variables declared so far. */
  readonly state: { lanes: number };
  /** Bytes each global buffer is read and written per invocation. */
  readonly bytes: Map<string, { load: number; store: number }>;
}

function walkStmts(w: Walker, body: readonly KStmt[], times: number): void {
  for (const s of body) walkStmt(w, s, times);
}

function walkStmt(w: Walker, s: KStmt, times: number): void {
  const expr = (e: KExpr) => countExpr(w, e, times);
  switch (s.op) {
    case 'let': {
      expr(s.value);
      const v = w.value(s.value);
      if (v !== undefined) w.env.set(s.name, v);
      if (s.value.type.scalar === 'i32' || s.value.type.scalar === 'u32') w.lets.set(s.name, s.value);
      return;
    }
    case 'var':
      if (s.init) expr(s.init);
      w.state.lanes += s.type.lanes;
      return;
    case 'assign':
      return expr(s.value);
    case 'store':
      expr(s.index);
      expr(s.value);
      return access(w, s.buffer, s.value.type.lanes, 'store', times);
    case 'atomic':
      expr(s.index);
      expr(s.value);
      return access(w, s.buffer, 1, 'store', times);
    case 'barrier':
      w.counts.barriers += times;
      w.counts.barrierState += times * w.state.lanes;
      return;
    case 'if': {
      expr(s.cond);
      const share = s.else.length ? 0.5 : 1;
      walkStmts(w, s.then, times * share);
      walkStmts(w, s.else, times * share);
      return;
    }
    case 'for':
      return walkLoop(w, s, times);
    case 'comment':
      return;
    default:
      // cooperative matrix statements: a subgroup's joint tile operation, counted as one subgroup op
      w.counts.subgroupOps += times;
  }
}

function walkLoop(w: Walker, s: Extract<KStmt, { op: 'for' }>, times: number): void {
  countExpr(w, s.start, times);
  countExpr(w, s.end, times);
  const start = w.value(s.start);
  const end = w.value(s.end);
  const step = w.value(s.step) ?? 1;
  // a bound taken at the middle of an outer loop may be fractional: its trips are an average
  const span = start !== undefined && end !== undefined && step > 0 ? Math.max(0, end - start) : undefined;
  const trips = span === undefined ? 1 : Number.isInteger(span) ? Math.ceil(span / step) : span / step;
  const unrolled = s.unroll && s.start.op === 'const' && s.end.op === 'const';
  if (!unrolled) w.counts.loopIterations += times * trips;
  if (start !== undefined && end !== undefined) w.env.set(s.var, (start + Math.max(start, end - step)) / 2);
  walkStmts(w, s.body, times * trips);
  w.env.delete(s.var);
}

function access(w: Walker, name: string, lanes: number, kind: 'load' | 'store', times: number): void {
  const b = w.buffers.get(name);
  const c = w.counts;
  if (!b) return;
  if (b.scope === 'global') {
    const moved = w.bytes.get(name) ?? { load: 0, store: 0 };
    w.bytes.set(name, moved);
    moved[kind] += (bitsOf(b.dtype) * lanes * times) / 8;
    if (kind === 'load') c.globalLoads += times;
    else c.globalStores += times;
  } else if (b.scope === 'workgroup') {
    if (kind === 'load') c.sharedLoads += times;
    else c.sharedStores += times;
  } else {
    c.privateAccesses += times;
  }
}

function countExpr(w: Walker, e: KExpr, times: number): void {
  for (const c of kchildren(e)) countExpr(w, c, times);
  const lanes = e.type.lanes * times;
  const c = w.counts;
  switch (e.op) {
    case 'load': {
      access(w, e.buffer, e.type.lanes, 'load', times);
      if (w.buffers.get(e.buffer)?.scope !== 'global') return;
      // a sector (32 bytes) or more between neighbouring lanes: each lane's access is a sector of its own
      const stride = w.laneStride(e.index);
      const bytes = bitsOf(w.buffers.get(e.buffer)!.dtype) / 8;
      if (stride !== undefined && Math.abs(stride) * bytes >= SECTOR_BYTES) c.scatteredLoads += times;
      return;
    }
    case 'unary':
    case 'binary': {
      const fn = e.fn;
      const operand = e.op === 'unary' ? e.x.type : e.a.type;
      if (SPECIAL.has(fn) && isFloat(operand.scalar)) c.special += lanes;
      else if (operand.scalar === 'f16') c.halfFlops += lanes;
      else if (isFloat(operand.scalar)) c.flops += lanes;
      else c.intOps += lanes;
      return;
    }
    case 'select':
      if (e.type.scalar === 'f16') c.halfFlops += lanes;
      else if (isFloat(e.type.scalar)) c.flops += lanes;
      else c.intOps += lanes;
      return;
    case 'cast':
    case 'bitcast':
      c.intOps += lanes;
      return;
    case 'subgroup':
    case 'shuffle':
      c.subgroupOps += times;
      return;
    default:
      return;
  }
}

/** An integer index expression's value where it follows from known names, builtins and sizes. */
function evalIndex(e: KExpr, ref: (name: string) => number | undefined, builtins: Builtins, sizes: Readonly<Record<string, number>>): number | undefined {
  const ev = (x: KExpr) => evalIndex(x, ref, builtins, sizes);
  switch (e.op) {
    case 'const':
      return e.value;
    case 'ref':
      return ref(e.name);
    case 'builtin':
      return builtins[e.name];
    case 'param':
      return sizes[e.name];
    case 'cast':
      return e.type.scalar === 'i32' || e.type.scalar === 'u32' ? ev(e.x) : undefined;
    case 'select': {
      const a = ev(e.a);
      const b = ev(e.b);
      return a === undefined || b === undefined ? undefined : (a + b) / 2;
    }
    case 'binary': {
      const a = ev(e.a);
      const b = ev(e.b);
      if (a === undefined || b === undefined) return undefined;
      return binaryValue(e.fn, a, b);
    }
    default:
      return undefined;
  }
}

/**
 * Integer arithmetic on real numbers, not i32 (`foldI32` in kernel.ts wraps and truncates): a loop
 * variable taken at the middle of its range may be fractional, and a bound computed from it must
 * keep the fraction for trip counts to average right.
 */
function binaryValue(fn: string, a: number, b: number): number | undefined {
  switch (fn) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return b === 0 ? undefined : Math.floor(a / b);
    case 'mod':
      return b === 0 ? undefined : a % b;
    case 'min':
      return Math.min(a, b);
    case 'max':
      return Math.max(a, b);
    case 'shl':
      return a * 2 ** b;
    case 'shr':
      return Math.floor(a / 2 ** b);
    default:
      return undefined;
  }
}
