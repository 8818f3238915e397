import { type BoundProgram, type Sizes, bindProgram, boundShape, numel, shapeOf } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import { TilecraftError } from '../ir/errors.js';
import { NameAllocator } from '../ir/names.js';
import { type Kernel } from '../ir/kernel.js';
import { checkExprDepth } from '../ir/verify.js';
import { type Axis, type Program, type TensorDecl } from '../ir/tensor.js';
import { DEFAULT_GROUP_OPTIONS, type GroupOptions, type KernelGroup, escapingTensors, groupStatements, stmtsOf } from './group.js';
import {
  type ContractionKnobs,
  DEFAULT_KNOBS,
  type GroupKind,
  type GroupKnobs,
  InvalidScheduleError,
  type KnobDefaults,
  type KnobsOf,
  type ResolvedSchedule,
  type Schedule,
  resolveKnobs,
} from './schedule.js';
import { hoistReductions } from './hoist-reductions.js';
import { type OnlineSoftmaxReport, onlineSoftmax } from './online-softmax.js';
import { type ChunkScanReport, chunkScan } from './chunk-scan.js';
import { inlineElementwise } from './inline-elementwise.js';
import { verifyKernel } from './verify-kernel.js';
import { type TargetLimits, WEBGPU_BASELINE_LIMITS } from './limits.js';
import { type TileKernel } from '../ir/tile.js';
import { type Scheduled, contractionKernel, elementwiseKernel, rowsKernel, serialKernel } from './tile/kernels.js';
import { foldOf } from './tile/from-group.js';

/** A tensor the plan's kernels read or write in global memory. */
export interface PlanTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly role: 'input' | 'output' | 'temp';
}

/** A compiled program: kernels in launch order and the global tensors they bind by name. */
export interface Plan {
  readonly program: BoundProgram;
  readonly tensors: readonly PlanTensor[];
  readonly kernels: readonly Kernel[];
  /** Every group's knobs, defaults filled in: replaying it rebuilds these exact kernels. */
  readonly schedule: ResolvedSchedule;
  /** The kernel groups, by id (the keys of `schedule`). */
  readonly groups: readonly PlanGroup[];
  /** The id of the group each kernel belongs to, in launch order (a split group launches several). */
  readonly kernelGroups: readonly string[];
  /** The loop/tile IR each group was lowered from, where the group went through it. */
  readonly tiles: readonly TileKernel[];
  /** The passes that ran, in order, with what each produced (for `--explain` and debugging). */
  readonly trace: readonly { readonly pass: string; readonly note: string }[];
}

export interface PlanGroup {
  /** What the group computes, not where it sits in the plan: see `groupIds`. */
  readonly id: string;
  /** A kernel group's kind, or `chunk`: the steps per chunk of a chunked scan (no kernel of its own). */
  readonly kind: KernelGroup['kind'] | 'chunk';
  /** The statements the group computes. */
  readonly computes: readonly string[];
  /** Output rows, or M, N, K (and batch) of a contraction: what the search sizes tiles by. */
  readonly extents: Readonly<Record<string, number>>;
}

export { type TargetLimits, WEBGPU_BASELINE_LIMITS } from './limits.js';

const LOWER_OPTIONS: readonly string[] = ['schedule', 'defaults', 'grouping', 'rewrites'] satisfies (keyof LowerOptions)[];

/** How a program is laid out: knobs per group, knobs per kind of group, and how statements group. */
export interface LowerOptions {
  /** Knobs per group id (see `groupIds`): a recorded schedule replays its exact kernels. A schedule entry wins over `defaults`. */
  readonly schedule?: Schedule | undefined;
  /**
   * Knobs for every group of a kind, over `DEFAULT_KNOBS` (for contractions, over the tiling
   * `defaultContractionKnobs` picks for the group's shape): `{ rows: { threadsPerRow: 16 } }`.
   */
  readonly defaults?: KnobDefaults | undefined;
  /** How statements are grouped into kernels, over `DEFAULT_GROUP_OPTIONS`. */
  readonly grouping?: Partial<GroupOptions> | undefined;
  /**
   * Rewrites of the tensor IR, each on by default: `onlineSoftmax` streams a softmax contraction
   * (attention) as one fold instead of materializing the probabilities (see online-softmax.ts);
   * `chunkScan` computes a linear recurrence written as a scan (linear attention, retention,
   * GLA, SSD) in chunks of steps with matrix products inside each chunk (see chunk-scan.ts);
   * `'required'` makes a recurrence that cannot be chunked an error (`ChunkScanError`) instead
   * of a note in the trace. The steps per chunk are a knob: `chunk:<statement>` in a schedule,
   * `{ chunk: { chunk: 32 } }` in defaults.
   */
  readonly rewrites?: { readonly onlineSoftmax?: boolean; readonly chunkScan?: boolean | 'required' } | undefined;
}

/** Unknown options refused: a schedule or a knob passed where the options go would otherwise be ignored. */
function checkOptions(options: LowerOptions): void {
  for (const key of Object.keys(options)) {
    if (!LOWER_OPTIONS.includes(key)) {
      throw new TilecraftError(`lower: no option ${key}; the options are schedule (knobs by group id), defaults (knobs by kind of group), grouping and rewrites, and device limits are a separate argument`);
    }
  }
}

/**
 * The tensor-IR rewrites before sizes are bound: hoisting reductions, online softmax, chunked
 * scans (with the steps per chunk of each scan it takes, a knob keyed by the statement).
 */
function rewriteTensors(p: Program, sizes: Sizes, options: LowerOptions, names: NameAllocator, trace: { pass: string; note: string }[]) {
  const given: Schedule = options.schedule ?? {};
  // before the first recursive pass, so that a program built by hand is refused as the builder would
  checkExprDepth(p);
  const hoisted = hoistReductions(p, names);
  trace.push({ pass: 'hoist-reductions', note: `${hoisted.stmts.length} statements` });
  // after hoisting: a softmax contraction under an epilogue (O = P·V + X) has its own statement
  const streamed = options.rewrites?.onlineSoftmax === false ? undefined : onlineSoftmax(hoisted);
  if (streamed) trace.push({ pass: 'online-softmax', note: describeRewrite(streamed) });
  const chunkKnobs = (stmt: string) => {
    const id = `chunk:${stmt}`;
    return resolveKnobs('chunk', id, given[id], resolveKnobs('chunk', id, options.defaults?.chunk, DEFAULT_KNOBS.chunk));
  };
  const mode = options.rewrites?.chunkScan;
  const chunked = mode === false ? undefined : chunkScan(streamed?.program ?? hoisted, sizes, { chunkFor: (stmt) => chunkKnobs(stmt).chunk, required: mode === 'required', names });
  if (chunked && (chunked.rewritten.length || chunked.declined.length)) trace.push({ pass: 'chunk-scan', note: describeChunks(chunked) });
  return { program: chunked?.program ?? streamed?.program ?? hoisted, chunked, chunkKnobs };
}

function describeChunks(r: ChunkScanReport): string {
  return [
    ...r.rewritten.map((x) => `${x.stmt}: chunks of ${x.used}`),
    ...r.declined.map((x) => `${x.stmt} left as written: ${x.reason}`),
  ].join('; ');
}

/**
 * A reasonable first tiling for a contraction of these extents (the tuner does better): 32 x 32
 * tiles of 4 x 4 per invocation, narrowed for thin shapes so that a workgroup still has at least
 * 32 invocations where the output has that many elements.
 */
export function defaultContractionKnobs(M: number, N: number): ContractionKnobs {
  const base = DEFAULT_KNOBS.contraction;
  const pow2Ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
  const blockM = Math.min(base.blockM, pow2Ceil(M));
  const blockN = Math.min(base.blockN * (blockM < 8 ? 4 : 1), pow2Ceil(N));
  let threadM = Math.min(base.threadM, blockM);
  let threadN = Math.min(base.threadN, blockN);
  const want = Math.min(32, blockM * blockN);
  while ((blockM / threadM) * (blockN / threadN) < want && (threadM > 1 || threadN > 1)) {
    if (threadN >= threadM && threadN > 1) threadN /= 2;
    else threadM /= 2;
  }
  return { ...base, blockM, blockN, threadM, threadN };
}

/**
 * The pipeline, one named step at a time:
 * hoist reductions → online softmax → chunk scans → bind sizes → inline elementwise producers → group into kernels → emit
 * kernel IR → verify.
 */
export function lower(p: Program, sizes: Sizes, options: LowerOptions = {}, limits: TargetLimits = WEBGPU_BASELINE_LIMITS): Plan {
  checkOptions(options);
  const given: Schedule = options.schedule ?? {};
  const defaults: KnobDefaults = options.defaults ?? {};
  const grouping: GroupOptions = { ...DEFAULT_GROUP_OPTIONS, ...options.grouping };
  const trace: { pass: string; note: string }[] = [];
  // every name a pass makes (tensors, kernels) comes from here, so none can take a user's
  const names = NameAllocator.forProgram(p);
  const rewritten = rewriteTensors(p, sizes, options, names, trace);
  const { chunked, chunkKnobs } = rewritten;
  const bound = bindProgram(rewritten.program, sizes);
  trace.push({ pass: 'bind-sizes', note: Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ') });
  const fused = inlineElementwise(bound);
  trace.push({ pass: 'inline-elementwise', note: `${fused.stmts.length} statements` });
  const groups = groupStatements(fused, grouping);
  trace.push({ pass: 'group', note: groups.map(describe).join('; ') });
  const stored = escapingTensors(groups, fused.outputs);
  const tensors = new Map<string, TensorDecl>();
  for (const t of fused.inputs) tensors.set(t.name, t);
  for (const s of fused.stmts) tensors.set(s.target.name, s.target);
  const dynamic = Object.keys(fused.dynamic).length ? { bounds: fused.dynamic, axes: fused.dynamicAxes, loops: fused.dynamicLoops } : undefined;
  const scope = { tensors, stored, ...(dynamic ? { dynamic } : {}) };
  const schedule: Record<string, GroupKnobs> = {};
  const temps: PlanTensor[] = [];
  const tiles: TileKernel[] = [];
  const target = { scope, maxWorkgroupsPerDimension: limits.maxWorkgroupsPerDimension, maxWorkgroupStorageBytes: limits.maxWorkgroupStorageBytes, names };
  const viaTile = (s: Scheduled): Kernel[] => {
    tiles.push(...s.tiles);
    for (const t of s.temps) temps.push({ ...t, role: 'temp' });
    return [...s.kernels];
  };
  const computes = groups.map((g) => stmtsOf(g).map((s) => s.target.name));
  const ids = groupIds(groups.map((g, i) => ({ kind: g.kind, computes: computes[i]! })));
  // a chunked scan is no kernel, but its steps per chunk are a knob like a group's
  const chunkGroups: PlanGroup[] = (chunked?.rewritten ?? []).map((r) => {
    schedule[`chunk:${r.stmt}`] = chunkKnobs(r.stmt);
    return { id: `chunk:${r.stmt}`, kind: 'chunk', computes: [r.stmt], extents: { length: r.length } };
  });
  const kernelGroups = groups.map((g, i): PlanGroup => ({ id: ids[i]!, kind: g.kind, computes: computes[i]!, extents: extentsOf(g) }));
  const planGroups: PlanGroup[] = [...chunkGroups, ...kernelGroups];
  for (const id of Object.keys(given)) {
    // knobs for a group this plan does not have would otherwise be dropped without a word
    if (!planGroups.some((g) => g.id === id)) throw new InvalidScheduleError(`the schedule has group ${id}, but this plan's groups are ${planGroups.map((g) => g.id).join(', ')}`, id, '');
  }
  const kernelGroupIds: string[] = [];
  const kernels: Kernel[] = groups.flatMap((g, i): Kernel[] => {
    const made = groupKernels(g, i);
    for (const _ of made) kernelGroupIds.push(ids[i]!);
    return made;
  });
  function groupKernels(g: KernelGroup, i: number): Kernel[] {
    const id = ids[i]!;
    const name = names.fresh(`${p.name}_${i}_${g.kind}`);
    // a schedule's entry over the defaults for the kind over DEFAULT_KNOBS
    const knobs = <K extends GroupKind>(kind: K, base: KnobsOf<K> = DEFAULT_KNOBS[kind] as KnobsOf<K>): KnobsOf<K> => {
      const k = resolveKnobs(kind, id, given[id], resolveKnobs(kind, id, defaults[kind] as Partial<GroupKnobs> | undefined, base));
      schedule[id] = k;
      return k;
    };
    switch (g.kind) {
      case 'elementwise':
        return viaTile(elementwiseKernel(name, g.stmt, knobs('elementwise'), target));
      case 'serial':
        return viaTile(serialKernel(name, g.stmt, knobs('serial'), target));
      case 'rows':
        return viaTile(rowsKernel(name, g.rowShape, g.stmts, knobs('rows'), target, g.steps));
      case 'contraction': {
        const { M, N } = kernelGroups[i]!.extents as { M: number; N: number };
        const k = knobs('contraction', defaultContractionKnobs(M, N));
        const group = { stmt: g.stmt, shape: g.shape, epilogue: g.epilogue };
        return viaTile(contractionKernel(name, id, group, k, target, limits));
      }
    }
  }
  kernels.forEach(verifyKernel);
  trace.push({ pass: 'emit', note: `${kernels.length} kernels` });
  return { program: fused, tensors: [...planTensors(fused, kernels), ...temps], kernels, kernelGroups: kernelGroupIds, schedule, groups: planGroups, tiles, trace };
}

/** The inputs, the outputs, and the intermediates some kernel reads or writes in global memory. */
function planTensors(p: BoundProgram, kernels: readonly Kernel[]): PlanTensor[] {
  const used = new Set(kernels.flatMap((k) => k.buffers.filter((b) => b.scope === 'global').map((b) => b.name)));
  const out: PlanTensor[] = p.inputs.map((t) => ({ name: t.name, dtype: t.dtype, shape: shapeOf(t), role: 'input' }));
  for (const s of p.stmts) {
    const role = p.outputs.includes(s.target.name) ? 'output' : 'temp';
    if (role === 'output' || used.has(s.target.name)) out.push({ name: s.target.name, dtype: s.target.dtype, shape: shapeOf(s.target), role });
  }
  return out;
}

/**
 * Each group's id: its kind and the tensors it computes, in statement order, e.g. `contraction:C`
 * or `rows:Y_max,Y_sum,Y`. Schedules (and the tuning database) key knobs by these ids, so an id
 * names what a group computes, never its position: regrouping other statements leaves it (and
 * the knobs recorded for it) alone. Every statement defines its own tensor, so two groups of one
 * plan never share an id; were they to, the later ones would be told apart by `#2`, `#3`, ...
 * in plan order (`#` is not part of any tensor name).
 */
export function groupIds(groups: readonly { readonly kind: string; readonly computes: readonly string[] }[]): string[] {
  const seen = new Map<string, number>();
  return groups.map((g) => {
    const base = `${g.kind}:${g.computes.join(',')}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}#${n}`;
  });
}

function extentsOf(g: KernelGroup): Record<string, number> {
  const ext = (axes: readonly Axis[]) => numel(boundShape(axes));
  switch (g.kind) {
    case 'contraction':
      return { M: ext(g.shape.m), N: ext(g.shape.n), K: ext(g.shape.k), batch: ext(g.shape.batch) };
    case 'rows': {
      const longest = Math.max(
        ...g.stmts.map((s) => {
          const f = foldOf(s);
          return f ? ext(f.def.over) : ext(s.target.axes.slice(g.rowShape.length));
        }),
      );
      return { rows: g.rowShape.reduce((a, b) => a * b, 1), length: longest };
    }
    case 'serial':
      return { outputs: ext(g.stmt.target.axes), length: g.stmt.expr.op === 'reduce' ? ext(g.stmt.expr.axes) : 1 };
    case 'elementwise':
      return { outputs: ext(g.stmt.target.axes) };
  }
}

function describeRewrite(r: OnlineSoftmaxReport): string {
  const done = r.rewritten.length ? `streamed ${r.rewritten.join(', ')}` : 'nothing to stream';
  return [done, ...r.declined.map((d) => `declined ${d.stmt}: ${d.reason}`)].join('; ');
}

function describe(g: KernelGroup): string {
  return `${g.kind}(${stmtsOf(g).map((s) => s.target.name).join(', ')})`;
}
