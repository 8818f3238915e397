import { TilecraftError } from '../ir/errors.js';
import { DEFAULT_CHUNK } from './chunk-scan.js';

/**
 * Schedule knobs: how each kernel group of a plan is laid out on the device. Plain serializable
 * values with defaults; the heuristics, the autotuner and a user's override all speak this
 * vocabulary, and a recorded schedule replays the exact kernels it was measured with.
 *
 * A plan's schedule maps each group's id to that group's knobs. An id says what the group
 * computes, its kind and its tensors (`contraction:C`, `rows:Y_max,Y_sum,Y`; see `groupIds` in
 * pipeline.ts), never where it sits in the plan, so a recorded schedule cannot slide onto another
 * group when the grouping changes. A knob left out takes its default.
 */
export interface ElementwiseKnobs {
  readonly kind: 'elementwise';
  readonly workgroupSize: number;
  /** Consecutive elements per invocation, with vector loads where contiguous (1, 2 or 4). */
  readonly vectorWidth: 1 | 2 | 4;
}

export interface SerialKnobs {
  readonly kind: 'serial';
  readonly workgroupSize: number;
}

export interface RowsKnobs {
  readonly kind: 'rows';
  /** Invocations sharing a row (a power of two); 0 chooses from the row length. */
  readonly threadsPerRow: number;
  /** Invocations per workgroup: rows per workgroup = workgroupSize / threadsPerRow. */
  readonly workgroupSize: number;
  /** Reduce across a row team with subgroup operations (used when a team is a whole workgroup). */
  readonly subgroups: boolean;
  /**
   * Split each fold's steps across this many workgroups, each saving its partial state, and merge
   * the parts in a second kernel: for few, long rows (decoding attention, a GEMV).
   */
  readonly splitSteps: number;
  /**
   * 0, or stage the fold's operands in workgroup memory this many steps at a time: each lane runs
   * one row (threadsPerRow 1), the workgroup's rows share one tile of the operands that do not
   * depend on the row (attention: a query tile per workgroup, key/value tiles staged).
   */
  readonly stageSteps: number;
  /**
   * Rows each lane owns (one lane per row: a register tile of rows, their steps side by side),
   * sharing each operand they read in common: a staged tile with stageSteps, else the loads
   * themselves (a GEMV's activation, once for all of a lane's weight rows).
   */
  readonly rowsPerLane: number;
  /**
   * Consecutive steps of a fold each lane runs per iteration, unrolled side by side, so that what
   * they share is read once: the eight weights of a packed 4-bit word, the scale of their group.
   * 0 picks the packing of the narrowest tensor the folds read (8 for 4-bit, 4 for 8-bit, else 1).
   */
  readonly unrollSteps: number;
}

/**
 * A tiled contraction: each workgroup computes a `blockM x blockN` tile of the output, looping
 * over the reduction in steps of `blockK`; each invocation accumulates a `threadM x threadN`
 * register tile (unrolled into named variables).
 */
export interface ContractionKnobs {
  readonly kind: 'contraction';
  readonly blockM: number;
  readonly blockN: number;
  readonly blockK: number;
  readonly threadM: number;
  readonly threadN: number;
  /** Stage operand tiles in workgroup memory, or read them straight from global memory. */
  readonly staging: 'shared' | 'direct';
  /** With shared staging: two buffers, loading the next tile while computing on this one. */
  readonly doubleBuffer: boolean;
  /** Unroll the loop over blockK. */
  readonly unrollK: boolean;
  /** Split the reduction over this many workgroups, adding partial tiles in a second kernel. */
  readonly splitK: number;
  /** Load and store the N side in vectors of this width where contiguous (1 or 4). */
  readonly vectorWidth: 1 | 4;
  /** With direct staging, read the A side four reduction steps at a time where contiguous (1 or 4). */
  readonly vectorK: 1 | 4;
  /**
   * With direct staging, each lane of a subgroup reads the A side for one of `subgroupSize`
   * consecutive reduction steps and the lanes pass the values around by subgroup shuffles: one
   * A read per row every `subgroupSize` steps instead of every step. Every lane must compute the
   * same rows (`blockM == threadM`), and workgroups are whole subgroups of the device's one size.
   */
  readonly shuffleA: boolean;
  /**
   * Multiply 16x16x16 tiles on tensor cores (CUDA, f16 / bf16 operands, f32 accumulation). Each
   * subgroup (warp) then owns a `16*threadM x 16*threadN` part of the block tile.
   */
  readonly tensorCores: boolean;
}

/**
 * A linear recurrence computed in chunks (the chunk-scan rewrite, keyed `chunk:<statement>`):
 * steps per chunk. Not a kernel of its own; it decides which statements the kernels compute.
 */
export interface ChunkKnobs {
  readonly kind: 'chunk';
  readonly chunk: number;
}

export type GroupKnobs = ElementwiseKnobs | SerialKnobs | RowsKnobs | ContractionKnobs | ChunkKnobs;
export type GroupKind = GroupKnobs['kind'];
export type KnobsOf<K extends GroupKind> = Extract<GroupKnobs, { kind: K }>;

/**
 * Knobs for every group of a kind (`{ rows: { threadsPerRow: 16 }, elementwise: { vectorWidth: 1 } }`),
 * over `DEFAULT_KNOBS`; a schedule's entry for one group wins over them.
 */
export type KnobDefaults = { readonly [K in GroupKind]?: Partial<KnobsOf<K>> };

/** Per-group knobs by group id; partial knobs are completed with defaults. */
export type Schedule = Readonly<Record<string, Partial<GroupKnobs>>>;
/** A schedule with every knob of every group filled in: what a plan records. */
export type ResolvedSchedule = Readonly<Record<string, GroupKnobs>>;

export const DEFAULT_KNOBS: { readonly [K in GroupKind]: KnobsOf<K> } = {
  elementwise: { kind: 'elementwise', workgroupSize: 256, vectorWidth: 4 },
  serial: { kind: 'serial', workgroupSize: 256 },
  rows: { kind: 'rows', threadsPerRow: 0, workgroupSize: 256, subgroups: false, splitSteps: 1, stageSteps: 0, rowsPerLane: 1, unrollSteps: 0 },
  contraction: {
    kind: 'contraction',
    blockM: 32,
    blockN: 32,
    blockK: 16,
    threadM: 4,
    threadN: 4,
    staging: 'shared',
    doubleBuffer: false,
    unrollK: true,
    splitK: 1,
    vectorWidth: 4,
    vectorK: 1,
    shuffleA: false,
    tensorCores: false,
  },
  chunk: { kind: 'chunk', chunk: DEFAULT_CHUNK },
};

/** A combination of knobs that cannot work; the search skips it. */
export class InvalidScheduleError extends TilecraftError {
  override name = 'InvalidScheduleError';
  constructor(
    message: string,
    readonly group: string,
    readonly knob: string,
  ) {
    super(message);
  }
}

/**
 * Completes a group's knobs: `given` (a schedule's entry, checked here: knobs of another kind or
 * unknown names are rejected) over `base` (the defaults for this group).
 */
export function resolveKnobs<K extends GroupKind>(
  kind: K,
  id: string,
  given: Partial<GroupKnobs> | undefined,
  base: KnobsOf<K> = DEFAULT_KNOBS[kind] as KnobsOf<K>,
): KnobsOf<K> {
  if (!given) return base;
  if (given.kind !== undefined && given.kind !== kind) {
    throw new InvalidScheduleError(`group ${id} is a ${kind} group; the schedule gives it ${given.kind} knobs`, id, 'kind');
  }
  for (const k of Object.keys(given)) {
    if (!(k in base)) {
      throw new InvalidScheduleError(`group ${id} (${kind}) has no knob ${k}; its knobs are ${Object.keys(base).join(', ')}`, id, k);
    }
  }
  return { ...base, ...given, kind } as KnobsOf<K>;
}

const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

export function requirePow2(id: string, knob: string, n: number): void {
  if (!isPow2(n)) throw new InvalidScheduleError(`group ${id}: ${knob} must be a power of two, got ${n}`, id, knob);
}

export function requireDivides(id: string, knob: string, a: number, aName: string, b: number, bName: string): void {
  if (b % a !== 0) throw new InvalidScheduleError(`group ${id}: ${aName} (${a}) must divide ${bName} (${b})`, id, knob);
}

/** A short human-readable form of one group's knobs, for tables. */
export function describeKnobs(k: GroupKnobs): string {
  switch (k.kind) {
    case 'elementwise':
      return `wg${k.workgroupSize} v${k.vectorWidth}`;
    case 'serial':
      return `wg${k.workgroupSize}`;
    case 'rows':
      return `wg${k.workgroupSize} t/row ${k.threadsPerRow || 'auto'}${k.subgroups ? ' subgroups' : ''}${k.splitSteps > 1 ? ` split${k.splitSteps}` : ''}${k.stageSteps > 0 ? ` stage${k.stageSteps}` : ''}${k.rowsPerLane > 1 ? ` x${k.rowsPerLane} rows` : ''}${k.unrollSteps > 0 ? ` unroll${k.unrollSteps}` : ''}`;
    case 'chunk':
      return `chunks of ${k.chunk}`;
    case 'contraction':
      return [
        `${k.blockM}x${k.blockN}x${k.blockK}`,
        `t${k.threadM}x${k.threadN}`,
        k.staging === 'shared' ? (k.doubleBuffer ? 'shared2' : 'shared') : 'direct',
        k.unrollK ? 'unroll' : 'loop',
        `v${k.vectorWidth}${k.vectorK > 1 ? `k${k.vectorK}` : ''}`,
        ...(k.shuffleA ? ['shuffleA'] : []),
        ...(k.splitK > 1 ? [`splitK${k.splitK}`] : []),
        ...(k.tensorCores ? ['tensor-cores'] : []),
      ].join(' ');
  }
}

/** `describeKnobs` for every group of a schedule: `contraction:C: 64x64x16 t8x8 direct unroll v4; elementwise:Y: wg256 v4`. */
export function describeSchedule(s: ResolvedSchedule): string {
  const ids = Object.keys(s);
  return ids.map((id) => (ids.length > 1 ? `${id}: ` : '') + describeKnobs(s[id]!)).join('; ');
}
