import type { Ceilings } from '../src/autotune/ceilings.js';
import { recordCeilings } from '../src/autotune/device-model.js';
import { type Measurement, summarize } from '../src/autotune/measure.js';
import { program as buildProgram } from '../src/dsl/program.js';
import { type DType } from '../src/ir/dtype.js';
import { randomHost } from '../src/ir/host.js';
import { F32, I32, type KExpr, type KStmt, type Kernel, kadd, kbinary, kbuiltin, kcast, kconst, kload, kmul, kref, kt } from '../src/ir/kernel.js';
import type { CompiledKernel, DeviceBuffer } from '../src/runtime/device.js';
import { type CompileOptions, Executable } from '../src/runtime/executable.js';
import type { WebGpuDevice } from '../src/runtime/webgpu.js';
import { type Contender, fmtMs, interleaved, printTable } from './common.js';

export interface RooflineOptions {
  readonly n: number;
  readonly depth: number;
  readonly rounds: number;
  readonly db?: string | undefined;
  /** Workgroups of `LOOP_WORKGROUP` invocations in each loop probe's launch (default 256). */
  readonly groups?: number | undefined;
  /** Iterations of each loop probe's loop, `LOOP_UNROLL` operations each (default 128). */
  readonly iterations?: number | undefined;
  /**
   * f32 elements of the buffer the streaming probes read (default `STREAM_BYTES` of them); capped
   * at what the device binds and rounded down to a power of two. The probes' loops are as long as
   * it takes their launch to read it all.
   */
  readonly streamElements?: number | undefined;
}

/** Independent multiply-add chains per element, so latency does not hide the rate. */
export const CHAINS = 4;

/** Untimed runs of every contender before the timed rounds (the device compiles shaders lazily). */
const WARMUP = 1;

/**
 * `CHAINS` independent chains y = ((x_c·a + b)·a + b)... of `depth` multiply-adds each, summed:
 * (2·depth + 1)·CHAINS FLOPs per element (minus one add), one elementwise kernel.
 */
const fmaChain = (dtype: 'f32' | 'f16', depth: number) =>
  buildProgram(`fma_chain_${dtype}`, (p) => {
    const [n] = p.sizes('n');
    const x = p.input('X', dtype, { i: n });
    const chains = Array.from({ length: CHAINS }, (_, c) => {
      let y = x.add(c * 0.25);
      for (let d = 0; d < depth; d++) y = y.mul(0.999).add(0.001);
      return y;
    });
    p.output('Y', chains.slice(1).reduce((a, b) => a.add(b), chains[0]!));
  });
const fmaFlops = (depth: number) => CHAINS * (2 * depth + 1) + (CHAINS - 1);

const copy = buildProgram('copy', (p) => {
  const [n] = p.sizes('n');
  p.output('Y', p.input('X', 'f32', { i: n }));
});

/** A probe written as a tensor program: the work its rate counts, in FLOPs, bytes or none (a time). */
interface ProgramProbe {
  readonly name: string;
  readonly exe: Executable;
  readonly work: number;
  readonly unit: 'GFLOP/s' | 'GB/s' | 'us';
}

/** The FMA, copy and launch probes, compiled through the whole pipeline like any program. */
async function programProbes(device: WebGpuDevice, o: RooflineOptions): Promise<ProgramProbe[]> {
  const probes: ProgramProbe[] = [];
  const add = async (name: string, p: ReturnType<typeof buildProgram>, sizes: Record<string, number>, dtype: DType, work: number, unit: ProgramProbe['unit'], options: CompileOptions = {}) => {
    const exe = await Executable.create(device, p, sizes, { ...options, warmup: true });
    exe.upload('X', randomHost(dtype, [sizes.n!], 1));
    probes.push({ name, exe, work, unit });
  };
  const vec4 = { defaults: { elementwise: { vectorWidth: 4 as const } } };
  const scalar = { defaults: { elementwise: { vectorWidth: 1 as const } } };
  await add('FMA f32', fmaChain('f32', o.depth), { n: o.n }, 'f32', fmaFlops(o.depth) * o.n, 'GFLOP/s', vec4);
  if (device.hasFeature('shader-f16')) await add('FMA f16', fmaChain('f16', o.depth), { n: o.n }, 'f16', fmaFlops(o.depth) * o.n, 'GFLOP/s', vec4);
  const copyN = 4 * o.n;
  await add('copy vec4', copy, { n: copyN }, 'f32', 8 * copyN, 'GB/s', vec4);
  await add('copy scalar', copy, { n: copyN }, 'f32', 8 * copyN, 'GB/s', scalar);
  await add('launch (1 element)', copy, { n: 1 }, 'f32', 0, 'us', scalar);
  return probes;
}

/** GFLOP/s or GB/s of a probe's median time, or its median in microseconds. */
const rateOf = (p: ProgramProbe, x: Measurement) => (p.unit === 'us' ? x.medianMs * 1e3 : p.work / (Math.max(x.medianMs, TICK_MS) * 1e-3) / 1e9);

// ---------------------------------------------------------------------------------------------
// Loop probes: what one operation the tensor DSL cannot express alone costs (workgroup memory,
// subgroup shuffles, barriers), in kernels built by hand in the kernel IR.

/** Invocations per workgroup of the loop probes: the barrier's cost depends on it. */
export const LOOP_WORKGROUP = 64;
/** Independent operations per iteration, one accumulator each, so one chain's latency does not set the rate. */
export const LOOP_UNROLL = 4;
/** f32 elements of the workgroup array and of the global buffer the probes read: 16 KiB, what WebGPU guarantees a workgroup, and cache-resident. */
export const LOOP_ELEMENTS = 4096;
/**
 * Bytes of the buffer the streaming probes read: past the last-level cache of the CPUs a software
 * GPU runs on (32 MiB of L3 here) and the 50 MB L2 of an H100 or H200, so loads come from DRAM.
 */
export const STREAM_BYTES = 64 << 20;
/** One nanosecond, the unit of WebGPU timestamps: the least time any clock tells from zero. */
const TICK_MS = 1e-6;

/** What a loop probe repeats; `convert` (an i32-to-f32 conversion of the index) stands in for it in the reference loops. */
type LoopOp = 'convert' | 'sharedLoad' | 'sharedStore' | 'globalLoad' | 'shuffle' | 'barrier';

/**
 * A loop probe. The k-th operation of invocation l touches unit (l·`perLane` + k·`perOp`) mod
 * the units of `LOOP_ELEMENTS` (f32 elements, or vec4s with `lanes` 4); a shuffle reads the lane
 * that unit falls on in its subgroup. In a streaming probe l is the invocation's index in the
 * launch and the units are the `streamElements` f32 elements of its global buffer.
 */
export interface LoopSpec {
  readonly name: string;
  /** What one operation is, for the table. */
  readonly what: string;
  readonly op: LoopOp;
  readonly lanes: 1 | 4;
  readonly perLane: number;
  readonly perOp: number;
  /** Bytes one operation moves, where a GB/s figure is wanted. */
  readonly bytes?: number;
  /**
   * Where set, the global buffer holds this many f32 elements (a power of two) and is indexed by
   * the launch's invocation index, so the probe reads memory no cache holds rather than the 16 KiB
   * every workgroup shares.
   */
  readonly streamElements?: number;
}

/** The reference loop of a probe's width: every operation an index conversion. */
export const referenceSpec = (lanes: 1 | 4): LoopSpec => ({
  name: lanes === 1 ? 'loop (reference)' : 'loop vec4 (reference)',
  what: `conversions of the index to f32${lanes === 4 ? ', splat to vec4' : ''}, what the probes below subtract`,
  op: 'convert',
  lanes,
  perLane: 1,
  perOp: LOOP_WORKGROUP,
});

/**
 * Iterations of the streaming probes' loops: enough that the launch's `invocations` read all
 * `elements` at least once, and at least two, so an invocation's strip spans 32 bytes.
 */
export const streamIterations = (elements: number, invocations: number) => Math.max(2, Math.ceil(elements / (invocations * LOOP_UNROLL)));

/** The streaming probes' reference loop: index conversions with the coalesced probe's index arithmetic. */
export const streamReferenceSpec = (elements: number, invocations: number): LoopSpec => ({
  name: 'stream loop (reference)',
  what: 'conversions of the streaming index to f32, what the streaming probes subtract',
  op: 'convert',
  lanes: 1,
  perLane: 1,
  perOp: invocations,
  streamElements: elements,
});

/**
 * The streaming probes: the launch's `invocations` read a buffer of `elements` f32 (beyond any
 * cache) once, `loads` each, coalesced (at each step consecutive invocations read consecutive
 * elements) or scattered (each invocation walks its own contiguous strip, so at each step
 * neighbours are 4·`loads` bytes apart, never in one 32-byte sector: how a kernel with one lane
 * per row reads). Their difference is what a load whose lanes miss each other's sectors costs.
 */
export function streamSpecs(elements: number, invocations: number, loads: number): LoopSpec[] {
  const mib = `${(4 * elements) / (1 << 20)} MiB`;
  const stream = { op: 'globalLoad', lanes: 1, bytes: 4, streamElements: elements } as const;
  return [
    { name: 'global stream', what: `f32 loads streaming ${mib}, load k of invocation g at element k·${invocations} + g (coalesced)`, ...stream, perLane: 1, perOp: invocations },
    { name: 'global scattered', what: `f32 loads streaming ${mib}, load k of invocation g at element g·${loads} + k (a strip per invocation)`, ...stream, perLane: loads, perOp: 1 },
  ];
}

/** The loop probes a device runs: the subgroup ones only where it has subgroups. */
export function loopSpecs(subgroups: boolean): LoopSpec[] {
  const row = { perLane: 1, perOp: LOOP_WORKGROUP };
  return [
    { name: 'wg load scalar', what: 'f32 loads of workgroup memory, consecutive invocations at consecutive elements', op: 'sharedLoad', lanes: 1, ...row, bytes: 4 },
    { name: 'wg load vec4', what: 'vec4 loads of workgroup memory, consecutive invocations at consecutive vec4s', op: 'sharedLoad', lanes: 4, ...row, bytes: 16 },
    { name: 'wg load broadcast', what: 'f32 loads of workgroup memory, every invocation at the same element', op: 'sharedLoad', lanes: 1, perLane: 0, perOp: 1, bytes: 4 },
    { name: 'wg load divergent', what: 'f32 loads of workgroup memory, invocation l at element 33·l + 65·k (scattered)', op: 'sharedLoad', lanes: 1, perLane: 33, perOp: 65, bytes: 4 },
    { name: 'wg store', what: 'f32 stores to workgroup memory, consecutive invocations at consecutive elements', op: 'sharedStore', lanes: 1, ...row, bytes: 4 },
    { name: 'global load', what: 'f32 loads of a 16 KiB global buffer every workgroup reads (cache-resident)', op: 'globalLoad', lanes: 1, ...row, bytes: 4 },
    ...(subgroups
      ? [
          { name: 'subgroup shuffle', what: 'subgroupShuffle of an f32 from lane (l + k) mod subgroup size', op: 'shuffle', lanes: 1, perLane: 1, perOp: LOOP_WORKGROUP + 1 } as const,
          { name: 'subgroup broadcast', what: 'subgroupShuffle from one lane the whole subgroup reads', op: 'shuffle', lanes: 1, perLane: 0, perOp: 1 } as const,
        ]
      : []),
    { name: 'barrier', what: `workgroupBarrier, one per ${LOOP_UNROLL} conversions, ${LOOP_WORKGROUP} invocations per workgroup`, op: 'barrier', lanes: 1, ...row },
  ];
}

/** An f32 as a value of the probe's width (a splat for vec4). */
const widen = (s: LoopSpec, e: KExpr): KExpr => (s.lanes === 1 ? e : { op: 'vector', type: kt('f32', s.lanes), parts: [e] });

/** Operation `u` of iteration j touches unit (l·perLane + (j·LOOP_UNROLL + u)·perOp) mod units. */
function loopIndex(s: LoopSpec, u: number): KExpr {
  const k = kadd(kmul(kref('j', I32), kconst(LOOP_UNROLL)), kconst(u));
  const l = kref(s.streamElements ? 'gid' : 'lid', I32);
  return kbinary('and', kadd(kmul(l, kconst(s.perLane)), kmul(k, kconst(s.perOp))), kconst((s.streamElements ?? LOOP_ELEMENTS / s.lanes) - 1));
}

/** Operation `u` of an iteration: its index, then what it adds to accumulator `u` (a store stores the accumulator first). */
function loopStep(s: LoopSpec, u: number): KStmt[] {
  const type = kt('f32', s.lanes);
  const i = kref(`i${u}`, I32);
  const acc = kref(`acc${u}`, type);
  const lane = kbinary('and', i, kadd(kbuiltin('subgroup_size'), kconst(-1)));
  const value: KExpr =
    s.op === 'sharedLoad'
      ? kload('S', kmul(i, kconst(s.lanes)), type)
      : s.op === 'globalLoad'
        ? kload('G', i, F32)
        : s.op === 'shuffle'
          ? { op: 'shuffle', type: F32, x: kref('own', F32), lane }
          : widen(s, kcast(i, F32));
  const store: KStmt[] = s.op === 'sharedStore' ? [{ op: 'store', buffer: 'S', index: i, value: acc }] : [];
  return [{ op: 'let', name: `i${u}`, value: loopIndex(s, u) }, ...store, { op: 'assign', name: `acc${u}`, value: kadd(acc, value) }];
}

/** Every invocation fills its share of the workgroup array (each element its index), then waits for the others. */
function fillShared(s: LoopSpec): KStmt[] {
  const e = kref('e', I32);
  const store: KStmt = { op: 'store', buffer: 'S', index: kmul(e, kconst(s.lanes)), value: widen(s, kcast(e, F32)) };
  return [{ op: 'for', var: 'e', start: kref('lid', I32), end: kconst(LOOP_ELEMENTS / s.lanes), step: kconst(LOOP_WORKGROUP), unroll: false, body: [store] }, { op: 'barrier' }];
}

/** The sum of a vector's lanes (an f32 as it is). */
const lanesSum = (x: KExpr): KExpr =>
  x.type.lanes === 1 ? x : Array.from({ length: x.type.lanes }, (_, l): KExpr => ({ op: 'extract', type: F32, x, lane: l })).reduce((a, b) => kadd(a, b));

/**
 * A loop probe's kernel: fill the workgroup array, then `iterations` iterations of `LOOP_UNROLL`
 * operations on independent accumulators, then write each invocation's sum plus one element of
 * the array (which the store probe wrote) to Y, so no operation can be dropped. The probes and
 * their reference loop differ only in the operation.
 */
export function loopProbeKernel(s: LoopSpec, groups: number, iterations: number): Kernel {
  const type = kt('f32', s.lanes);
  const lid = kref('lid', I32);
  const accs = Array.from({ length: LOOP_UNROLL }, (_, u) => kref(`acc${u}`, type));
  const body: KStmt[] = [...accs.flatMap((_, u) => loopStep(s, u)), ...(s.op === 'barrier' ? [{ op: 'barrier' } as const] : [])];
  const own: KStmt[] = s.op === 'shuffle' ? [{ op: 'let', name: 'own', value: kcast(lid, F32) }] : [];
  const gid = kref('gid', I32);
  return {
    name: `probe_${s.name.replace(/\W+/g, '_')}`,
    workgroup: [LOOP_WORKGROUP, 1, 1],
    grid: [groups, 1, 1],
    buffers: [
      { name: 'G', scope: 'global', dtype: 'f32', length: s.streamElements ?? LOOP_ELEMENTS, access: 'read' },
      { name: 'Y', scope: 'global', dtype: 'f32', length: groups * LOOP_WORKGROUP, access: 'read_write' },
      { name: 'S', scope: 'workgroup', dtype: 'f32', length: LOOP_ELEMENTS },
    ],
    body: [
      { op: 'let', name: 'lid', value: kbuiltin('local_index') },
      { op: 'let', name: 'gid', value: kadd(kmul(kbuiltin('group_id_x'), kconst(LOOP_WORKGROUP)), lid) },
      ...fillShared(s),
      ...own,
      ...accs.map((_, u): KStmt => ({ op: 'var', name: `acc${u}`, type, init: widen(s, kcast(kadd(lid, kconst(u)), F32)) })),
      { op: 'for', var: 'j', start: kconst(0), end: kconst(iterations), step: kconst(1), unroll: false, body },
      { op: 'barrier' },
      { op: 'let', name: 'total', value: kadd(accs.reduce((a, b) => kadd(a, b)), kload('S', kmul(lid, kconst(s.lanes)), type)) },
      { op: 'store', buffer: 'Y', index: gid, value: lanesSum(kref('total', type)) },
    ],
  };
}

/** A compiled loop probe, its reference loop, the buffers both bind, and their times run by run (warm-up runs first). */
interface LoopProbe {
  readonly spec: LoopSpec;
  readonly kernel: CompiledKernel;
  readonly referenceSpec: LoopSpec;
  readonly reference: CompiledKernel;
  /** The global buffer the probe reads (16 KiB, or the streamed one), then Y to write. */
  readonly buffers: readonly DeviceBuffer[];
  /** Iterations of the probe's loop: the shared count, or as many as streaming its buffer takes. */
  readonly iterations: number;
  /** Operations per invocation: one barrier per iteration, `LOOP_UNROLL` of anything else. */
  readonly ops: number;
  readonly references: number[];
  /** The probe's time minus the reference's, run just before it. */
  readonly differences: number[];
}

/** The loop probes compiled, with every buffer they bind (to destroy after). */
interface LoopProbes {
  readonly probes: LoopProbe[];
  readonly buffers: readonly DeviceBuffer[];
  readonly invocations: number;
  /** Iterations of the loops that do not stream. */
  readonly iterations: number;
}

/** Compiles `specs` and the one reference loop they are measured against, all run with `buffers`. */
async function compileLoops(device: WebGpuDevice, referenceSpec: LoopSpec, specs: readonly LoopSpec[], groups: number, iterations: number, buffers: readonly DeviceBuffer[]): Promise<LoopProbe[]> {
  const reference = await device.compile(loopProbeKernel(referenceSpec, groups, iterations));
  const probes: LoopProbe[] = [];
  for (const spec of specs) {
    const kernel = await device.compile(loopProbeKernel(spec, groups, iterations));
    const ops = spec.op === 'barrier' ? iterations : iterations * LOOP_UNROLL;
    probes.push({ spec, kernel, referenceSpec, reference, buffers, iterations, ops, references: [], differences: [] });
  }
  return probes;
}

/**
 * f32 elements the streaming probes read: `requested` (default `STREAM_BYTES` of them), no more
 * than one binding or buffer of the device holds, rounded down to a power of two so that the index
 * wraps with a mask like the other probes'.
 */
function streamElementsOn(device: WebGpuDevice, requested: number | undefined): number {
  const l = device.info.limits;
  const bytes = Math.min(requested === undefined ? STREAM_BYTES : 4 * requested, l.maxStorageBufferBindingSize, l.maxBufferSize);
  return 2 ** Math.floor(Math.log2(bytes / 4));
}

/** A streamed buffer's contents: any values do, so cheap ones rather than `randomHost`'s 64-bit temporaries. */
function streamData(elements: number): Float32Array {
  const data = new Float32Array(elements);
  for (let i = 0; i < elements; i++) data[i] = (i & 1023) / 1024;
  return data;
}

/**
 * Compiles every loop probe with its reference loop and makes the buffers they read: the 16 KiB
 * one the cache-resident probes share, and the streamed one, whose probes loop as long as reading
 * it once takes (their own reference loop runs as long).
 */
async function loopProbes(device: WebGpuDevice, groups: number, iterations: number, requestedStream: number | undefined, log: (s: string) => void): Promise<LoopProbes> {
  const subgroups = device.hasFeature('subgroups');
  if (!subgroups) log("this device lacks the 'subgroups' feature: the subgroup shuffle and broadcast probes are skipped");
  const invocations = groups * LOOP_WORKGROUP;
  const G = device.createBuffer(4 * LOOP_ELEMENTS, 'G');
  device.write(G, randomHost('f32', [LOOP_ELEMENTS], 2).data);
  const Y = device.createBuffer(4 * invocations, 'Y');
  const specs = loopSpecs(subgroups);
  const probes: LoopProbe[] = [];
  for (const lanes of [1, 4] as const) {
    probes.push(...(await compileLoops(device, referenceSpec(lanes), specs.filter((s) => s.lanes === lanes), groups, iterations, [G, Y])));
  }
  const elements = streamElementsOn(device, requestedStream);
  const H = device.createBuffer(4 * elements, 'H');
  device.write(H, streamData(elements));
  const streamed = streamIterations(elements, invocations);
  const streams = streamSpecs(elements, invocations, streamed * LOOP_UNROLL);
  probes.push(...(await compileLoops(device, streamReferenceSpec(elements, invocations), streams, groups, streamed, [H, Y])));
  return { probes, buffers: [G, H, Y], invocations, iterations };
}

/** One launch of a compiled kernel: its device time where the device has timestamps, else the wall time. */
async function timeKernel(device: WebGpuDevice, kernel: CompiledKernel, buffers: readonly DeviceBuffer[]): Promise<number> {
  const r = await device.run([{ kernel, buffers }], { timing: true });
  return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
}

/**
 * A contender per loop probe that runs the reference loop and then the probe, keeping the
 * difference: the two share any slowdown the machine has at that moment, which a difference of
 * medians taken apart would not cancel on a shared machine.
 */
const loopContenders = (device: WebGpuDevice, l: LoopProbes): Contender[] =>
  l.probes.map((p) => ({
    name: p.spec.name,
    run: async () => {
      const reference = await timeKernel(device, p.reference, p.buffers);
      const ms = await timeKernel(device, p.kernel, p.buffers);
      p.references.push(reference);
      p.differences.push(ms - reference);
      return ms;
    },
  }));

/** A loop probe's net time per operation per invocation, whether it was told from zero, and its rate. */
interface LoopCost {
  readonly netMs: number;
  /** Half the interquartile range of the paired differences (at least one step of the clock), in ms. */
  readonly spreadMs: number;
  readonly ns: number;
  readonly resolved: boolean;
  readonly gbPerSecond?: number;
}

const quantile = (sorted: readonly number[], f: number) => {
  const i = (sorted.length - 1) * f;
  return sorted[Math.floor(i)]! + (sorted[Math.ceil(i)]! - sorted[Math.floor(i)]!) * (i - Math.floor(i));
};

/**
 * The finest step between two times the clock gave the loop probes (zero among them): a software
 * GPU's timestamps come in steps of tens of microseconds, so a difference of zero there means
 * "less than a step", not "free".
 */
function clockStep(l: LoopProbes): number {
  const times = [...new Set([0, ...l.probes.flatMap((p) => p.references.flatMap((r, i) => [r, r + p.differences[i]!]))])].sort((a, b) => a - b);
  // gaps under a nanosecond are rounding in the differences, not the clock
  const steps = times.slice(1).map((t, i) => t - times[i]!).filter((g) => g >= TICK_MS);
  return steps.length ? Math.min(...steps) : TICK_MS;
}

/**
 * The median of a probe's paired differences over its timed runs; where that is below their
 * spread (half the interquartile range, at least one step of the clock) the operation costs less
 * than the probe resolves, and the spread stands for it: an upper bound.
 */
function loopCost(p: LoopProbe, invocations: number, step: number): LoopCost {
  const d = p.differences.slice(WARMUP).sort((a, b) => a - b);
  const median = quantile(d, 0.5);
  const spread = Math.max((quantile(d, 0.75) - quantile(d, 0.25)) / 2, step);
  const netMs = Math.max(median, spread);
  const ns = (netMs * 1e6) / (invocations * p.ops);
  return { netMs, spreadMs: spread, ns, resolved: median > spread, ...(p.spec.bytes ? { gbPerSecond: p.spec.bytes / ns } : {}) };
}

/** Rows of the table for the loop probes: each reference loop first, then the probes measured against it. */
function loopRows(l: LoopProbes, m: ReadonlyMap<string, Measurement>, costs: ReadonlyMap<string, LoopCost>): string[][] {
  const rows: string[][] = [];
  for (const spec of new Set(l.probes.map((p) => p.referenceSpec))) {
    const mine = l.probes.filter((p) => p.referenceSpec === spec);
    const ref = summarize(mine.flatMap((p) => p.references.slice(WARMUP)), 'device');
    const steps = mine[0]!.iterations * LOOP_UNROLL;
    const ns = (ref.medianMs * 1e6) / (l.invocations * steps);
    rows.push([spec.name, `${steps} ${spec.what}; ${l.invocations} invocations`, fmtMs(ref), `${ns.toFixed(3)} ns per step`]);
    for (const p of mine) {
      const c = costs.get(p.spec.name)!;
      const bound = c.resolved ? '' : p.spec.bytes ? '≥ ' : '≤ ';
      const rate = c.gbPerSecond === undefined ? '' : `${bound}${c.gbPerSecond.toFixed(2)} GB/s, `;
      const ns = `${c.resolved ? '' : '≤ '}${c.ns.toFixed(3)} ns per op`;
      rows.push([p.spec.name, `${p.ops} ${p.spec.what}`, `${fmtMs(m.get(p.spec.name))}, net ${c.netMs.toFixed(2)} ±${c.spreadMs.toFixed(2)}`, rate + ns]);
    }
  }
  return rows;
}

/** The ceilings the loop probes measured (the subgroup ones only where they ran). */
function loopCeilings(costs: ReadonlyMap<string, LoopCost>): Partial<Ceilings> {
  const gb = (name: string) => costs.get(name)!.gbPerSecond!;
  const ns = (name: string) => costs.get(name)!.ns;
  const sub = costs.has('subgroup shuffle') ? { shuffleNs: ns('subgroup shuffle'), broadcastNs: ns('subgroup broadcast') } : {};
  return {
    workgroupLoadScalar: gb('wg load scalar'),
    workgroupLoadVec4: gb('wg load vec4'),
    workgroupLoadBroadcast: gb('wg load broadcast'),
    workgroupLoadDivergent: gb('wg load divergent'),
    workgroupStore: gb('wg store'),
    sharedLoadNs: ns('wg load scalar'),
    globalLoadNs: ns('global load'),
    globalStreamLoadNs: ns('global stream'),
    globalScatteredLoadNs: ns('global scattered'),
    ...sub,
    barrierNs: ns('barrier'),
  };
}

/** The ceilings the program probes measured. */
function programCeilings(device: WebGpuDevice, probes: readonly ProgramProbe[], m: ReadonlyMap<string, Measurement>): Ceilings {
  const value = (name: string) => {
    const p = probes.find((q) => q.name === name);
    const x = m.get(name);
    return p && x ? rateOf(p, x) : undefined;
  };
  const fma = probes.find((p) => p.name === 'FMA f32')!;
  return {
    measuredAt: new Date().toISOString(),
    device: device.info.name,
    fmaF32: value('FMA f32')!,
    ...(device.hasFeature('shader-f16') ? { fmaF16: value('FMA f16')! } : {}),
    copyVec4: value('copy vec4')!,
    copyScalar: value('copy scalar')!,
    launchDeviceUs: value('launch (1 element)')!,
    launchWallUs: m.get('launch wall')!.medianMs * 1e3,
    // the time per FLOP, not 1 / fmaF32, so that a time below one tick is not a division by zero
    flopNs: (Math.max(m.get('FMA f32')!.medianMs, TICK_MS) * 1e6) / fma.work,
  };
}

/** Rows of the table for the program probes. */
function programRows(o: RooflineOptions, c: Ceilings, m: ReadonlyMap<string, Measurement>): string[][] {
  return [
    ['FMA f32', `${CHAINS} chains of ${o.depth} dependent multiply-adds per element, ${o.n} elements, vec4`, fmtMs(m.get('FMA f32')), `${c.fmaF32.toFixed(1)} GFLOP/s, ${c.flopNs!.toFixed(4)} ns per FLOP`],
    ...(c.fmaF16 !== undefined ? [['FMA f16', 'the same in f16', fmtMs(m.get('FMA f16')), `${c.fmaF16.toFixed(1)} GFLOP/s`]] : []),
    ['copy vec4', `${4 * o.n} f32, read and written`, fmtMs(m.get('copy vec4')), `${c.copyVec4.toFixed(2)} GB/s`],
    ['copy scalar', 'the same, one element per lane', fmtMs(m.get('copy scalar')), `${c.copyScalar.toFixed(2)} GB/s`],
    ['launch', 'one element: device time / wall time of a run', `${fmtMs(m.get('launch (1 element)'))} / ${fmtMs(m.get('launch wall'))}`, `${c.launchDeviceUs.toFixed(0)} / ${c.launchWallUs.toFixed(0)} us`],
  ];
}

/**
 * Measures the device's ceilings with probe kernels tilecraft lowers itself (so they are what its
 * kernels could reach, not a vendor's number): tensor programs for arithmetic, copies and launches,
 * kernels built in its kernel IR for workgroup memory, subgroups, barriers and global loads
 * (cache-resident, and streamed coalesced or scattered). Every probe is timed in one interleaved
 * run; the ceilings are recorded beside the tuning database.
 */
export async function benchRoofline(device: WebGpuDevice, o: RooflineOptions, log: (s: string) => void): Promise<Ceilings> {
  const probes = await programProbes(device, o);
  const loops = await loopProbes(device, o.groups ?? 256, o.iterations ?? 128, o.streamElements, log);
  const contenders: Contender[] = probes.map((p) => ({
    name: p.name,
    run: async () => {
      const r = await p.exe.dispatch({}, { timing: true });
      return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
    },
  }));
  // the wall time of a tiny run: submit, wait, read the timestamps back
  const tiny = probes.at(-1)!.exe;
  contenders.push({ name: 'launch wall', run: async () => (await tiny.dispatch({}, { timing: false })).wallMs });
  contenders.push(...loopContenders(device, loops));
  log(`measuring ${contenders.map((c) => c.name).join(', ')} (${o.rounds} rounds)`);
  const m = await interleaved(contenders, o.rounds, WARMUP);
  for (const p of probes) p.exe.destroy();
  for (const b of loops.buffers) device.destroyBuffer(b);
  const step = clockStep(loops);
  const costs = new Map(loops.probes.map((p) => [p.spec.name, loopCost(p, loops.invocations, step)]));
  const ceilings: Ceilings = { ...programCeilings(device, probes, m), ...loopCeilings(costs) };
  printTable(['probe', 'what it runs (per invocation for the loops)', 'ms (median ±spread)', 'ceiling'], [...programRows(o, ceilings, m), ...loopRows(loops, m, costs)]);
  log(
    `loop probes: ${LOOP_WORKGROUP} invocations per workgroup, ${loops.iterations} iterations of ${LOOP_UNROLL} independent operations (the streaming ones: as many as reading their buffer once takes); ` +
      "net: the probe's time minus its reference loop's, run just before it (median ±half the interquartile range of the differences, in ms); ≤ / ≥: a median below that spread, recorded as a bound",
  );
  const path = recordCeilings(device.info, ceilings, o.db);
  log(`recorded in ${path} (the other benches report their share of these)`);
  return ceilings;
}

/** The FMA and copy probes as contenders a bench times beside its own kernels. */
export interface SameRunCeilings {
  readonly contenders: readonly Contender[];
  /** GFLOP/s of the FMA probe (f32) in a measured run. */
  fmaGflops(m: ReadonlyMap<string, Measurement>): number | undefined;
  /** GB/s of the vec4 copy (bytes read and written) in a measured run. */
  copyGbps(m: ReadonlyMap<string, Measurement>): number | undefined;
  destroy(): void;
}

export const FMA_PROBE = 'ceiling: FMA f32';
export const COPY_PROBE = 'ceiling: copy vec4';

/**
 * The device's FMA rate and copy bandwidth, measured in the same interleaved run as a bench's
 * kernels (so a share of the ceiling is not skewed by the machine's load changing between runs).
 */
export async function sameRunCeilings(device: WebGpuDevice, n = 1 << 18, depth = 32): Promise<SameRunCeilings> {
  const vec4 = { defaults: { elementwise: { vectorWidth: 4 as const } }, warmup: true };
  const fma = await Executable.create(device, fmaChain('f32', depth), { n }, vec4);
  const cp = await Executable.create(device, copy, { n: 4 * n }, vec4);
  fma.upload('X', randomHost('f32', [n], 1));
  cp.upload('X', randomHost('f32', [4 * n], 1));
  const timed = (exe: Executable) => async () => {
    const r = await exe.dispatch({}, { timing: true });
    return r.kernelMs ? r.kernelMs.reduce((a, b) => a + b, 0) : r.wallMs;
  };
  const rate = (work: number, x: Measurement | undefined) => (x ? work / (x.medianMs * 1e-3) / 1e9 : undefined);
  return {
    contenders: [
      { name: FMA_PROBE, run: timed(fma) },
      { name: COPY_PROBE, run: timed(cp) },
    ],
    fmaGflops: (m) => rate(fmaFlops(depth) * n, m.get(FMA_PROBE)),
    copyGbps: (m) => rate(8 * 4 * n, m.get(COPY_PROBE)),
    destroy: () => {
      fma.destroy();
      cp.destroy();
    },
  };
}
